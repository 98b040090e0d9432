#include "config.h"

#include "capture_host.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct capture_host_plugin {
	void *dl;
	const struct ditto_capture_ops *ops;
	char *path;
	void *state;		/* the plugin's instance, NULL when closed */
	bool open;
	/* The plugin may keep a pointer to this until close(), so it lives
	 * here rather than on the caller's stack. */
	struct ditto_capture_host host;
};

/* Checks the table before the agent relies on any of it: a plugin built
 * against another ABI may have a different layout, so only the two leading
 * words are read until they match. */
static int check_ops(const struct ditto_capture_ops *ops, const char *path,
		     char *err, size_t errlen)
{
	if (!ops) {
		util_seterr(err, errlen, "capture plugin %s: %s() returned NULL",
		       path, DITTO_CAPTURE_ENTRY);
		return -1;
	}
	if (ops->abi_version != DITTO_CAPTURE_ABI_VERSION) {
		util_seterr(err, errlen,
		       "capture plugin %s has capture ABI version %u, this "
		       "agent speaks version %u: rebuild the plugin against "
		       "this agent's ditto/capture.h",
		       path, ops->abi_version, DITTO_CAPTURE_ABI_VERSION);
		return -1;
	}
	if (ops->struct_size < sizeof(*ops)) {
		util_seterr(err, errlen,
		       "capture plugin %s (capture ABI version %u) has an ops "
		       "table of %u bytes, this agent (ABI version %u) needs "
		       "at least %zu: rebuild the plugin",
		       path, ops->abi_version, ops->struct_size,
		       DITTO_CAPTURE_ABI_VERSION, sizeof(*ops));
		return -1;
	}
	if (!ops->name || !ops->open || !ops->add_root || !ops->remove_root ||
	    !ops->get_fd || !ops->read || !ops->close) {
		util_seterr(err, errlen,
		       "capture plugin %s: its ops table lacks a name or a "
		       "mandatory callback", path);
		return -1;
	}
	return 0;
}

int capture_host_load_path(struct capture_host_plugin **out,
			   const char *path, char *err, size_t errlen)
{
	struct capture_host_plugin *p = NULL;
	ditto_capture_entry_fn entry;
	void *sym;
	int ret = -1;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->path = strdup(path))) {
		util_seterr(err, errlen, "capture plugin %s: out of memory", path);
		goto done;
	}
	/* RTLD_NOW: a missing dependency fails here, not mid-capture.
	 * RTLD_LOCAL: plugins cannot see (or clash with) each other. */
	p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		util_seterr(err, errlen, "capture plugin %s: %s", path, dlerror());
		goto done;
	}
	dlerror();
	sym = dlsym(p->dl, DITTO_CAPTURE_ENTRY);
	if (!sym) {
		util_seterr(err, errlen,
		       "capture plugin %s: no %s symbol (not a Ditto capture "
		       "plugin?)", path, DITTO_CAPTURE_ENTRY);
		goto done;
	}
	/* POSIX guarantees this conversion for dlsym results. */
	*(void **)&entry = sym;
	p->ops = entry();
	if (check_ops(p->ops, path, err, errlen) < 0)
		goto done;
	*out = p;
	p = NULL;
	ret = 0;
done:
	capture_host_unload(p);
	return ret;
}

static bool valid_name(const char *name)
{
	size_t i;

	if (!name || !name[0] || strlen(name) > 64)
		return false;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int capture_host_load(struct capture_host_plugin **out, const char *dir,
		      const char *name, char *err, size_t errlen)
{
	char *path = NULL;
	int ret = -1;

	*out = NULL;
	/* A name from the config must not walk out of plugin_dir. */
	if (!valid_name(name)) {
		util_seterr(err, errlen, "capture plugin name \"%s\" is not a plain "
		       "word", name ? name : "");
		errno = EINVAL;
		goto done;
	}
	if (!dir || !dir[0]) {
		util_seterr(err, errlen, "capture plugin %s: no plugin directory",
		       name);
		errno = EINVAL;
		goto done;
	}
	if (asprintf(&path, "%s/%s.so", dir, name) < 0) {
		path = NULL;
		util_seterr(err, errlen, "capture plugin %s: out of memory", name);
		goto done;
	}
	ret = capture_host_load_path(out, path, err, errlen);
done:
	free(path);
	return ret;
}

void capture_host_unload(struct capture_host_plugin *p)
{
	if (!p)
		return;
	capture_host_close(p);
	if (p->dl)
		dlclose(p->dl);
	free(p->path);
	free(p);
}

const char *capture_host_name(const struct capture_host_plugin *p)
{
	return p->ops->name;
}

const char *capture_host_description(const struct capture_host_plugin *p)
{
	return p->ops->description ? p->ops->description : "";
}

const char *capture_host_path(const struct capture_host_plugin *p)
{
	return p->path;
}

const struct ditto_capture_ops *
capture_host_ops(const struct capture_host_plugin *p)
{
	return p->ops;
}

int capture_host_open(struct capture_host_plugin *p,
		      void (*log)(void *ctx, int level, const char *msg),
		      void *ctx, char *err, size_t errlen)
{
	void *state = NULL;

	if (p->open) {
		util_seterr(err, errlen, "capture plugin %s is already open",
		       p->ops->name);
		errno = EBUSY;
		return -1;
	}
	p->host.abi_version = DITTO_CAPTURE_ABI_VERSION;
	p->host.struct_size = sizeof(p->host);
	p->host.log = log;
	p->host.ctx = ctx;
	if (err && errlen)
		err[0] = '\0';
	if (p->ops->open(&state, &p->host, err, errlen) < 0) {
		if (err && errlen && !err[0])
			util_seterr(err, errlen, "capture plugin %s: open failed",
			       p->ops->name);
		return -1;
	}
	p->state = state;
	p->open = true;
	return 0;
}

void capture_host_close(struct capture_host_plugin *p)
{
	if (!p || !p->open)
		return;
	p->ops->close(p->state);
	p->state = NULL;
	p->open = false;
}

int capture_host_add_root(struct capture_host_plugin *p, const char *path,
			  char *err, size_t errlen)
{
	if (!p->open) {
		util_seterr(err, errlen, "capture plugin %s is not open",
		       p->ops->name);
		errno = EBADF;
		return -1;
	}
	if (err && errlen)
		err[0] = '\0';
	if (p->ops->add_root(p->state, path, err, errlen) < 0) {
		if (err && errlen && !err[0])
			util_seterr(err, errlen, "capture plugin %s: cannot watch "
			       "%s", p->ops->name, path);
		return -1;
	}
	return 0;
}

int capture_host_remove_root(struct capture_host_plugin *p,
			     const char *path)
{
	if (!p->open) {
		errno = EBADF;
		return -1;
	}
	return p->ops->remove_root(p->state, path);
}

int capture_host_fd(struct capture_host_plugin *p)
{
	if (!p->open) {
		errno = EBADF;
		return -1;
	}
	return p->ops->get_fd(p->state);
}

int capture_host_read(struct capture_host_plugin *p,
		      ditto_capture_emit_fn emit, void *ctx)
{
	if (!p->open) {
		errno = EBADF;
		return -1;
	}
	return p->ops->read(p->state, emit, ctx);
}

const char *capture_host_event_name(uint32_t type)
{
	static const char *const names[] = {
		[DITTO_CAPTURE_CREATE] = "CREATE",
		[DITTO_CAPTURE_DELETE] = "DELETE",
		[DITTO_CAPTURE_MODIFY] = "MODIFY",
		[DITTO_CAPTURE_CLOSE_WRITE] = "CLOSE_WRITE",
		[DITTO_CAPTURE_ATTRIB] = "ATTRIB",
		[DITTO_CAPTURE_RENAME] = "RENAME",
		[DITTO_CAPTURE_MOVED_FROM] = "MOVED_FROM",
		[DITTO_CAPTURE_MOVED_TO] = "MOVED_TO",
		[DITTO_CAPTURE_OVERFLOW] = "OVERFLOW",
		[DITTO_CAPTURE_ROOT_GONE] = "ROOT_GONE",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "?";
}
