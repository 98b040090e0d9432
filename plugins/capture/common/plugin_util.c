#include "config.h"

/* Shared by the capture plugins; see plugin_util.h. */

#include "plugin_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ----------------------------------------------------------- */

void plugin_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void plugin_log(const struct ditto_capture_host *host, int level,
		const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!host->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	host->log(host->ctx, level, msg);
}

int plugin_check_host(const struct ditto_capture_host *host, const char *who,
		      char *err, size_t errlen)
{
	if (!host || host->abi_version != DITTO_CAPTURE_ABI_VERSION ||
	    host->struct_size < sizeof(*host)) {
		plugin_seterr(err, errlen, "%s: host speaks another capture ABI",
			      who);
		return -1;
	}
	return 0;
}

/* ---- paths -------------------------------------------------------------- */

bool plugin_path_under(const char *p, size_t plen, const char *r, size_t rlen)
{
	if (rlen == 1)
		return plen >= 1 && p[0] == '/';
	return plen >= rlen && memcmp(p, r, rlen) == 0 &&
	       (plen == rlen || p[rlen] == '/');
}

char *plugin_canonicalize(const char *path, char *err, size_t errlen)
{
	char *lex = NULL, *real = NULL, *out = NULL;
	size_t n = 0, cut;
	const char *s = path;

	if (!path || path[0] != '/') {
		plugin_seterr(err, errlen, "root \"%s\" is not an absolute path",
			      path ? path : "");
		errno = EINVAL;
		goto done;
	}
	lex = malloc(strlen(path) + 2);
	if (!lex)
		goto nomem;
	while (*s) {
		const char *e;
		size_t cl;

		while (*s == '/')
			s++;
		e = strchrnul(s, '/');
		cl = (size_t)(e - s);
		if (cl == 0 || (cl == 1 && s[0] == '.')) {
			/* nothing */
		} else if (cl == 2 && s[0] == '.' && s[1] == '.') {
			while (n > 0 && lex[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			lex[n++] = '/';
			memcpy(lex + n, s, cl);
			n += cl;
		}
		s = e;
	}
	if (n == 0)
		lex[n++] = '/';
	lex[n] = '\0';
	/* Longest existing prefix through realpath(), the rest appended. */
	cut = n;
	for (;;) {
		char save = lex[cut];

		lex[cut] = '\0';
		real = realpath(cut ? lex : "/", NULL);
		lex[cut] = save;
		if (real)
			break;
		if (errno != ENOENT && errno != ENOTDIR) {
			plugin_seterr(err, errlen, "cannot resolve root %s: %s",
				      path, strerror(errno));
			goto done;
		}
		while (cut > 0 && lex[cut - 1] != '/')
			cut--;
		if (cut > 0)
			cut--;
	}
	if (asprintf(&out, "%s%s", strcmp(real, "/") ? real : "",
		     lex + cut) < 0) {
		out = NULL;
		goto nomem;
	}
	if (!out[0]) {
		free(out);
		out = strdup("/");
		if (!out)
			goto nomem;
	}
	goto done;
nomem:
	plugin_seterr(err, errlen, "out of memory");
	errno = ENOMEM;
done:
	free(lex);
	free(real);
	return out;
}

/* ---- roots -------------------------------------------------------------- */

struct plugin_root *plugin_roots_find(void *roots, size_t n, size_t size,
				      const char *path)
{
	size_t i;

	for (i = 0; i < n; i++) {
		/* The plugin's struct starts with its plugin_root. */
		struct plugin_root *r = (struct plugin_root *)
			((unsigned char *)roots + i * size);

		if (!strcmp(r->path, path) || !strcmp(r->given, path))
			return r;
	}
	return NULL;
}

struct plugin_root *plugin_roots_lookup(void *roots, size_t n, size_t size,
					const char *path)
{
	struct plugin_root *r = plugin_roots_find(roots, n, size, path);

	if (!r) {
		char *canon = plugin_canonicalize(path, NULL, 0);

		r = canon ? plugin_roots_find(roots, n, size, canon) : NULL;
		free(canon);
	}
	if (!r)
		errno = ENOENT;
	return r;
}

int plugin_root_init(struct plugin_root *loc, void *roots, size_t n,
		     size_t size, const char *path, const char *who,
		     char *err, size_t errlen)
{
	memset(loc, 0, sizeof(*loc));
	loc->path = plugin_canonicalize(path, err, errlen);
	if (!loc->path)
		return -1;
	if (plugin_roots_find(roots, n, size, loc->path) ||
	    plugin_roots_find(roots, n, size, path)) {
		plugin_root_free(loc);
		return 1;
	}
	loc->len = strlen(loc->path);
	loc->given = strdup(path);
	if (!loc->given) {
		plugin_seterr(err, errlen, "%s: out of memory", who);
		plugin_root_free(loc);
		return -1;
	}
	return 0;
}

void plugin_root_free(struct plugin_root *loc)
{
	free(loc->path);
	free(loc->given);
	loc->path = loc->given = NULL;
}

/* ---- emitting ----------------------------------------------------------- */

void plugin_emit_begin(struct plugin_emitter *em, ditto_capture_emit_fn fn,
		       void *ctx)
{
	em->fn = fn;
	em->ctx = ctx;
	em->n = 0;
}

void plugin_emit_end(struct plugin_emitter *em)
{
	em->fn = NULL;
}

void plugin_emit2(struct plugin_emitter *em, uint32_t type, uint32_t flags,
		  const char *p, size_t plen, const char *p2, size_t p2len)
{
	struct ditto_capture_event ev = {
		.type = type, .flags = flags, .path = p, .path_len = plen,
		.path2 = p2, .path2_len = p2 ? p2len : 0,
	};

	if (!em->fn)
		return;
	em->fn(em->ctx, &ev);
	em->n++;
}

void plugin_emit(struct plugin_emitter *em, uint32_t type, uint32_t flags,
		 const char *p, size_t plen)
{
	plugin_emit2(em, type, flags, p, plen, NULL, 0);
}
