#include "config.h"

#include "statrec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void statrec_num(struct util_buf *b, const char *name, int64_t v)
{
	util_buf_printf(b, "%s\t%" PRId64 "\n", name, v);
}

size_t statrec_utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong, surrogate or past the last code point. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void statrec_str(struct util_buf *b, const char *name, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	util_buf_printf(b, "%s\t\"", name);
	while (i < len) {
		n = statrec_utf8_len(p + i, len - i);
		if (n == 0 || p[i] < 0x20 || p[i] == 0x7f || p[i] == '"' || p[i] == '\\') {
			util_buf_printf(b, "\\x%02x", p[i]);
			i++;
			continue;
		}
		util_buf_append(b, p + i, n);
		i += n;
	}
	util_buf_puts(b, "\"\n");
}

void statrec_none(struct util_buf *b, const char *name)
{
	util_buf_printf(b, "%s\t-\n", name);
}

void statrec_end(struct util_buf *b)
{
	util_buf_puts(b, "\n");
}

void statrec_list_free(struct statrec_list *l)
{
	size_t i, j;

	for (i = 0; i < l->n; i++) {
		for (j = 0; j < l->v[i].n; j++) {
			free(l->v[i].f[j].name);
			free(l->v[i].f[j].text);
		}
		free(l->v[i].f);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool hex_lower(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A string's content: what statrec_str writes and nothing else. */
static bool str_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] == '\\') {
			if (len - i < 4 || p[i + 1] != 'x' || !hex_lower(p[i + 2]) ||
			    !hex_lower(p[i + 3]))
				return false;
			i += 4;
			continue;
		}
		n = statrec_utf8_len(p + i, len - i);
		if (n == 0 || p[i] < 0x20 || p[i] == 0x7f || p[i] == '"')
			return false;
		i += n;
	}
	return true;
}

static int parse_field(const char *line, size_t len, struct statrec_field *f,
		       const char **why)
{
	const char *tab = memchr(line, '\t', len);
	const char *v;
	size_t vlen;

	memset(f, 0, sizeof(*f));
	if (!tab || tab == line) {
		*why = "not a name, a TAB and a value";
		return -1;
	}
	v = tab + 1;
	vlen = len - (size_t)(v - line);
	if (vlen == 1 && v[0] == '-') {
		f->type = STATREC_NONE;
		f->text = util_xstrdup("");
	} else if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
		if (!str_ok(v + 1, vlen - 2)) {
			*why = "bad string value";
			return -1;
		}
		f->type = STATREC_STR;
		f->text = util_xstrndup(v + 1, vlen - 2);
	} else {
		size_t sign = vlen && v[0] == '-';

		f->type = STATREC_NUM;
		f->text = util_xstrndup(v, vlen);
		/* Digits only: util_parse_i64 would also take "+1" or " 1". */
		if (vlen == sign || strspn(f->text + sign, "0123456789") != vlen - sign ||
		    util_parse_i64(f->text, &f->num) < 0) {
			free(f->text);
			f->text = NULL;
			*why = "bad value (not a number, a quoted string or -)";
			return -1;
		}
	}
	f->name = util_xstrndup(line, (size_t)(tab - line));
	return 0;
}

int statrec_parse(const char *text, struct statrec_list *out, char *err, size_t errlen)
{
	struct statrec cur = { NULL, 0 };
	const char *p = text, *nl, *why = NULL;
	size_t lineno = 0, len;
	int ret = -1;

	out->v = NULL;
	out->n = 0;
	while (*p) {
		nl = strchr(p, '\n');
		if (!nl) {
			why = "the last line does not end";
			lineno++;
			goto done;
		}
		len = (size_t)(nl - p);
		lineno++;
		if (len == 0) {
			if (cur.n) {
				out->v = util_xreallocarray(out->v, out->n + 1, sizeof(*out->v));
				out->v[out->n++] = cur;
				cur.f = NULL;
				cur.n = 0;
			}
		} else {
			cur.f = util_xreallocarray(cur.f, cur.n + 1, sizeof(*cur.f));
			if (parse_field(p, len, &cur.f[cur.n], &why) < 0)
				goto done;
			cur.n++;
		}
		p = nl + 1;
	}
	if (cur.n) {
		lineno++;
		why = "the last record does not end with a blank line";
		goto done;
	}
	ret = 0;
done:
	if (ret < 0) {
		util_seterr(err, errlen, "statistics line %zu: %s", lineno, why);
		out->v = util_xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		out->v[out->n++] = cur;
		statrec_list_free(out);
	}
	return ret;
}

const struct statrec_field *statrec_get(const struct statrec *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->f[i].name, name))
			return &r->f[i];
	return NULL;
}

void statrec_json_string(struct util_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	util_buf_puts(b, "\"");
	while (i < len) {
		n = statrec_utf8_len(p + i, len - i);
		if (n == 0) {
			util_buf_puts(b, "\\ufffd");
			i++;
			continue;
		}
		switch (p[i]) {
		case '"': util_buf_puts(b, "\\\""); break;
		case '\\': util_buf_puts(b, "\\\\"); break;
		case '\n': util_buf_puts(b, "\\n"); break;
		case '\t': util_buf_puts(b, "\\t"); break;
		case '\r': util_buf_puts(b, "\\r"); break;
		default:
			if (p[i] < 0x20)
				util_buf_printf(b, "\\u%04x", p[i]);
			else
				util_buf_append(b, p + i, n);
		}
		i += n;
	}
	util_buf_puts(b, "\"");
}

void statrec_json(struct util_buf *b, const struct statrec_list *l)
{
	size_t i, j;

	util_buf_puts(b, "[");
	for (i = 0; i < l->n; i++) {
		util_buf_puts(b, i ? ",{" : "{");
		for (j = 0; j < l->v[i].n; j++) {
			const struct statrec_field *f = &l->v[i].f[j];

			if (j)
				util_buf_puts(b, ",");
			statrec_json_string(b, f->name, strlen(f->name));
			util_buf_puts(b, ":");
			if (f->type == STATREC_NUM)
				util_buf_printf(b, "%" PRId64, f->num);
			else if (f->type == STATREC_STR)
				statrec_json_string(b, f->text, strlen(f->text));
			else
				util_buf_puts(b, "null");
		}
		util_buf_puts(b, "}");
	}
	util_buf_puts(b, "]");
}
