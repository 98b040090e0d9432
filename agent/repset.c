#include "config.h"

/* repset — replication sets, their rules, the registry and its file.
 * Semantics and precedence are described in repset.h. */

#include "repset.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every component costs at least two bytes ("/x"). */
#define MAX_COMPS ((REPSET_PATH_MAX + 1) / 2)
/* A registry file is a few KiB; this only bounds a corrupt one. */
#define FILE_MAX (16u << 20)
#define FORMAT_VERSION "1"

struct comp {
	uint16_t off;
	uint16_t len;
};

/* A normalised path and where its components are ("" for the root). Kept on
 * the stack (about 12 KiB) so matching never allocates. */
struct npath {
	char s[REPSET_PATH_MAX + 1];
	size_t len;
	unsigned n;
	struct comp c[MAX_COMPS];
};

struct rule {
	struct repset_rule pub;
	char *path;		/* owned; pub.path */
	size_t base_len;	/* bytes of the literal base, 0 for the root */
	unsigned base_depth;	/* components in the literal base */
	unsigned ncomps;
	struct comp *comps;	/* all components of path */
	bool wild;		/* has a pattern tail */
};

struct repset {
	char name[REPSET_NAME_MAX + 1];
	uint64_t generation;
	uint64_t seq;
	struct rule *rules;
	size_t nrules;
	char **devs;
	size_t ndevs;
};

struct repset_db {
	struct repset **sets;	/* ascending seq: oldest first */
	size_t n;
	uint64_t next_seq;
};

/* The rule deciding a path and the depth of the entry it names. */
struct verdict {
	const struct rule *r;
	unsigned anchor;
};

/* ---- paths ----------------------------------------------------------- */

/* Lexical normalisation. ".." pops a component when dotdot is set (matching:
 * capture already resolved the path) and is refused otherwise (rules: through
 * a symlink ".." is not the lexical parent). */
static int npath_set(struct npath *np, const char *in, size_t len, bool dotdot,
		     const char **why)
{
	size_t i = 0;

	np->len = 0;
	np->n = 0;
	np->s[0] = '\0';
	*why = NULL;
	if (len == 0) {
		*why = "path is empty";
		errno = EINVAL;
		return -1;
	}
	if (in[0] != '/') {
		*why = "path must be absolute";
		errno = EINVAL;
		return -1;
	}
	while (i < len) {
		size_t start, clen;

		while (i < len && in[i] == '/')
			i++;
		start = i;
		while (i < len && in[i] != '/') {
			if (in[i] == '\0') {
				*why = "path holds a NUL byte";
				errno = EINVAL;
				return -1;
			}
			i++;
		}
		clen = i - start;
		if (clen == 0)
			break;
		if (clen == 1 && in[start] == '.')
			continue;
		if (clen == 2 && in[start] == '.' && in[start + 1] == '.') {
			if (!dotdot) {
				*why = "path must not contain \"..\"";
				errno = EINVAL;
				return -1;
			}
			if (np->n > 0) {
				np->n--;
				np->len = np->c[np->n].off - 1u;
			}
			continue;
		}
		if (np->len + 1 + clen > REPSET_PATH_MAX) {
			*why = "path is longer than 4095 bytes";
			errno = ENAMETOOLONG;
			return -1;
		}
		np->s[np->len++] = '/';
		np->c[np->n].off = (uint16_t)np->len;
		np->c[np->n].len = (uint16_t)clen;
		np->n++;
		memcpy(np->s + np->len, in + start, clen);
		np->len += clen;
	}
	np->s[np->len] = '\0';
	return 0;
}

/* Component order: '/' sorts before every other byte, so a directory is
 * followed directly by everything beneath it ("/a", "/a/b", "/a-b"). */
static int path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned ca = *a == '/' ? 1u : *a ? (unsigned char)*a + 2u : 0u;
		unsigned cb = *b == '/' ? 1u : *b ? (unsigned char)*b + 2u : 0u;

		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (!ca)
			return 0;
	}
}

/* Is p anc itself or beneath it? Both normalised. */
static bool path_under(const char *anc, const char *p)
{
	size_t al = strlen(anc);

	if (strcmp(anc, "/") == 0)
		return true;
	return strncmp(p, anc, al) == 0 && (p[al] == '\0' || p[al] == '/');
}

static void quote(struct util_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	util_buf_append(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			util_buf_append(b, e, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

			util_buf_append(b, e, 4);
		} else {
			util_buf_append(b, s, 1);
		}
	}
	util_buf_append(b, "\"", 1);
}

/* For messages: a path of thousands of bytes would hide the reason. */
static void quote_short(struct util_buf *b, const char *s)
{
	char head[101];

	if (strlen(s) < sizeof(head)) {
		quote(b, s);
		return;
	}
	memcpy(head, s, sizeof(head) - 1);
	head[sizeof(head) - 1] = '\0';
	quote(b, head);
	util_buf_puts(b, "...");
}

static void msg_out(char *msg, size_t msglen, const struct util_buf *b)
{
	if (msg && msglen)
		util_strlcpy(msg, b->data ? b->data : "", msglen);
}

/* ---- wildcards ------------------------------------------------------- */

static bool has_wild(const char *s, size_t n)
{
	return memchr(s, '*', n) || memchr(s, '?', n);
}

/* One component against one pattern: '*' any run, '?' one byte. Greedy
 * with a single backtrack point, so linear for the usual patterns. */
static bool glob_match(const char *p, size_t pl, const char *s, size_t sl)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < sl) {
		if (pi < pl && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pl && (p[pi] == '?' || p[pi] == s[si])) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pl && p[pi] == '*')
		pi++;
	return pi == pl;
}

/* Can one name match both patterns? Product of the two patterns' automata,
 * walked row by row: all moves advance in p, in q or both. */
static bool glob_meet(const char *p, size_t pl, const char *q, size_t ql)
{
	static const size_t cols = REPSET_PATH_MAX + 2;
	bool rows[2][REPSET_PATH_MAX + 2];
	bool *prev = rows[0], *cur = rows[1], *t;
	size_t i, j;

	if (ql + 1 > cols || pl > REPSET_PATH_MAX)
		return true;	/* cannot happen for stored rules; stay safe */
	for (i = 0; i <= pl; i++) {
		for (j = 0; j <= ql; j++) {
			bool v = i == 0 && j == 0;

			if (!v && i > 0 && prev[j] && p[i - 1] == '*')
				v = true;
			if (!v && j > 0 && cur[j - 1] && q[j - 1] == '*')
				v = true;
			if (!v && i > 0 && prev[j] && p[i - 1] != '*' &&
			    j < ql && q[j] == '*')
				v = true;
			if (!v && j > 0 && cur[j - 1] && q[j - 1] != '*' &&
			    i < pl && p[i] == '*')
				v = true;
			if (!v && i > 0 && j > 0 && prev[j - 1] &&
			    p[i - 1] != '*' && q[j - 1] != '*' &&
			    (p[i - 1] == '?' || q[j - 1] == '?' ||
			     p[i - 1] == q[j - 1]))
				v = true;
			cur[j] = v;
		}
		t = prev;
		prev = cur;
		cur = t;
	}
	return prev[ql];
}

/* ---- rules ----------------------------------------------------------- */

static const char *type_word(enum repset_rule_type t)
{
	return t == REPSET_EXCLUDE ? "Exclude" : "Include";
}

static const char *rec_word(bool rec)
{
	return rec ? "Recursive" : "Non-recursive";
}

static int rule_init(struct rule *r, const char *path, size_t len,
		     enum repset_rule_type type, bool recursive,
		     const char **why)
{
	struct npath np;
	unsigned w;

	memset(r, 0, sizeof(*r));
	if (type != REPSET_INCLUDE && type != REPSET_EXCLUDE) {
		*why = "rule type must be INCLUDE or EXCLUDE";
		errno = EINVAL;
		return -1;
	}
	if (npath_set(&np, path, len, false, why) < 0)
		return -1;
	for (w = 0; w < np.n; w++)
		if (has_wild(np.s + np.c[w].off, np.c[w].len))
			break;
	r->path = np.len ? util_xstrndup(np.s, np.len) : util_xstrdup("/");
	r->ncomps = np.n;
	if (np.n) {
		r->comps = util_xreallocarray(NULL, np.n, sizeof(*r->comps));
		memcpy(r->comps, np.c, np.n * sizeof(*r->comps));
	}
	r->base_depth = w;
	r->base_len = w ? (size_t)np.c[w - 1].off + np.c[w - 1].len : 0;
	r->wild = w < np.n;
	r->pub.path = r->path;
	r->pub.type = type;
	r->pub.recursive = recursive;
	return 0;
}

static void rule_fini(struct rule *r)
{
	free(r->path);
	free(r->comps);
}

static void rule_copy(struct rule *dst, const struct rule *src)
{
	*dst = *src;
	dst->path = util_xstrdup(src->path);
	dst->pub.path = dst->path;
	dst->pub.discarded_by = NULL;
	dst->comps = NULL;
	if (src->ncomps) {
		dst->comps = util_xreallocarray(NULL, src->ncomps,
						sizeof(*dst->comps));
		memcpy(dst->comps, src->comps,
		       src->ncomps * sizeof(*dst->comps));
	}
}

/* Do the rule's tail patterns match x's components at..at+k-1? */
static bool tail_at(const struct rule *r, const struct npath *x, unsigned at)
{
	unsigned i, k = r->ncomps - r->base_depth;

	for (i = 0; i < k; i++) {
		const struct comp *pc = &r->comps[r->base_depth + i];
		const struct comp *xc = &x->c[at + i];

		if (!glob_match(r->path + pc->off, pc->len, x->s + xc->off,
				xc->len))
			return false;
	}
	return true;
}

/* Is x's start the rule's literal base? */
static bool base_prefix(const struct rule *r, const struct npath *x)
{
	return r->base_len <= x->len &&
	       memcmp(x->s, r->path, r->base_len) == 0 &&
	       (x->len == r->base_len || x->s[r->base_len] == '/');
}

/* Does r cover x, and at which anchor depth (see repset.h)? */
static bool rule_covers(const struct rule *r, const struct npath *x,
			unsigned *anchor)
{
	unsigned m = r->base_depth, n = x->n, k, j;

	if (!base_prefix(r, x))
		return false;
	if (!r->wild) {
		if (n > m + 1 && !r->pub.recursive)
			return false;
		*anchor = m;
		return true;
	}
	k = r->ncomps - m;
	if (!r->pub.recursive) {
		if (n != m + k || !tail_at(r, x, m))
			return false;
		*anchor = n;
		return true;
	}
	/* The shallowest run names the entry; the rest lies beneath it. */
	for (j = m; j + k <= n; j++)
		if (tail_at(r, x, j)) {
			*anchor = j + k;
			return true;
		}
	return false;
}

/* Deeper anchor first (most specific rule); then a named entry over a
 * pattern; then EXCLUDE over INCLUDE, so an exclusion written next to an
 * equally broad inclusion still means something (repset.h). */
static bool beats(const struct rule *r, unsigned anchor,
		  const struct verdict *v)
{
	if (!v->r)
		return true;
	if (anchor != v->anchor)
		return anchor > v->anchor;
	if (r->wild != v->r->wild)
		return !r->wild;
	return r->pub.type == REPSET_EXCLUDE &&
	       v->r->pub.type == REPSET_INCLUDE;
}

static void decide(const struct repset *rs, const struct npath *x,
		   const struct rule *skip, struct verdict *v)
{
	size_t i;
	unsigned a;

	v->r = NULL;
	v->anchor = 0;
	for (i = 0; i < rs->nrules; i++) {
		const struct rule *r = &rs->rules[i];

		if (r == skip || r->pub.discarded_by)
			continue;
		if (rule_covers(r, x, &a) && beats(r, a, v)) {
			v->r = r;
			v->anchor = a;
		}
	}
}

/* ---- sets ------------------------------------------------------------ */

static bool valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > REPSET_NAME_MAX || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

static struct repset *set_new(const char *name, uint64_t seq, uint64_t gen)
{
	struct repset *rs = util_xcalloc(1, sizeof(*rs));

	util_strlcpy(rs->name, name, sizeof(rs->name));
	rs->seq = seq;
	rs->generation = gen;
	return rs;
}

static void set_clear(struct repset *rs)
{
	size_t i;

	for (i = 0; i < rs->nrules; i++)
		rule_fini(&rs->rules[i]);
	free(rs->rules);
	for (i = 0; i < rs->ndevs; i++)
		free(rs->devs[i]);
	free(rs->devs);
	rs->rules = NULL;
	rs->devs = NULL;
	rs->nrules = rs->ndevs = 0;
}

static void set_free(struct repset *rs)
{
	if (!rs)
		return;
	set_clear(rs);
	free(rs);
}

/* Binary search by component order: index found, or where to insert. */
static bool rule_find(const struct repset *rs, const char *path, size_t *at)
{
	size_t lo = 0, hi = rs->nrules;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = path_cmp(rs->rules[mid].path, path);

		if (c == 0) {
			*at = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return false;
}

static bool dev_find(const struct repset *rs, const char *dev, size_t *at)
{
	size_t lo = 0, hi = rs->ndevs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = path_cmp(rs->devs[mid], dev);

		if (c == 0) {
			*at = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return false;
}

/* Adds without recompiling (the caller compiles once after a batch). */
static int set_add_rule(struct repset *rs, const char *path, size_t len,
			enum repset_rule_type type, bool recursive,
			const char **why)
{
	struct rule r;
	size_t at;

	if (rule_init(&r, path, len, type, recursive, why) < 0)
		return -1;
	if (rule_find(rs, r.path, &at)) {
		rule_fini(&r);
		*why = "the set already has a rule for this path "
		       "(remove it first to change it)";
		errno = EEXIST;
		return -1;
	}
	if (rs->nrules >= REPSET_MAX_RULES) {
		rule_fini(&r);
		*why = "too many rules in one set";
		errno = E2BIG;
		return -1;
	}
	rs->rules = util_xreallocarray(rs->rules, rs->nrules + 1,
				       sizeof(*rs->rules));
	memmove(&rs->rules[at + 1], &rs->rules[at],
		(rs->nrules - at) * sizeof(*rs->rules));
	rs->rules[at] = r;
	rs->nrules++;
	return 0;
}

static int set_remove_rule(struct repset *rs, const char *path,
			   const char **why)
{
	struct npath np;
	size_t at;

	if (npath_set(&np, path, strlen(path), false, why) < 0)
		return -1;
	if (!rule_find(rs, np.len ? np.s : "/", &at)) {
		*why = "no such rule in the set";
		errno = ENOENT;
		return -1;
	}
	rule_fini(&rs->rules[at]);
	memmove(&rs->rules[at], &rs->rules[at + 1],
		(rs->nrules - at - 1) * sizeof(*rs->rules));
	rs->nrules--;
	return 0;
}

static int dev_norm(struct npath *np, const char *dev, size_t len,
		    const char **why)
{
	if (npath_set(np, dev, len, false, why) < 0)
		return -1;
	if (np->n < 2 || np->c[0].len != 3 || memcmp(np->s + 1, "dev", 3)) {
		*why = "a block device must be a path under /dev";
		errno = EINVAL;
		return -1;
	}
	if (has_wild(np->s, np->len)) {
		*why = "a device path must not hold wildcards";
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int set_add_dev(struct repset *rs, const char *dev, size_t len,
		       const char **why)
{
	struct npath np;
	size_t at;

	if (dev_norm(&np, dev, len, why) < 0)
		return -1;
	if (dev_find(rs, np.s, &at)) {
		*why = "the device is already in the set";
		errno = EEXIST;
		return -1;
	}
	if (rs->ndevs >= REPSET_MAX_DEVICES) {
		*why = "too many devices in one set";
		errno = E2BIG;
		return -1;
	}
	rs->devs = util_xreallocarray(rs->devs, rs->ndevs + 1,
				      sizeof(*rs->devs));
	memmove(&rs->devs[at + 1], &rs->devs[at],
		(rs->ndevs - at) * sizeof(*rs->devs));
	rs->devs[at] = util_xstrdup(np.s);
	rs->ndevs++;
	return 0;
}

static int set_remove_dev(struct repset *rs, const char *dev,
			  const char **why)
{
	struct npath np;
	size_t at;

	if (dev_norm(&np, dev, strlen(dev), why) < 0)
		return -1;
	if (!dev_find(rs, np.s, &at)) {
		*why = "no such device in the set";
		errno = ENOENT;
		return -1;
	}
	free(rs->devs[at]);
	memmove(&rs->devs[at], &rs->devs[at + 1],
		(rs->ndevs - at - 1) * sizeof(*rs->devs));
	rs->ndevs--;
	return 0;
}

struct by_depth {
	unsigned depth;
	size_t idx;
};

static int by_depth_cmp(const void *a, const void *b)
{
	const struct by_depth *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Marks the discarded rules (repset.h). Shallow rules first: a
 * non-recursive rule can only be governed by rules no deeper than itself,
 * so each decision sees the final state of the rules that matter to it. */
static void set_compile(struct repset *rs)
{
	struct by_depth *order;
	struct npath *np;
	const char *why;
	size_t i, n = 0;

	for (i = 0; i < rs->nrules; i++)
		rs->rules[i].pub.discarded_by = NULL;
	if (!rs->nrules)
		return;
	order = util_xreallocarray(NULL, rs->nrules, sizeof(*order));
	np = util_xmalloc(sizeof(*np));
	for (i = 0; i < rs->nrules; i++) {
		const struct rule *r = &rs->rules[i];

		if (!r->wild && !r->pub.recursive) {
			order[n].depth = r->ncomps;
			order[n++].idx = i;
		}
	}
	qsort(order, n, sizeof(*order), by_depth_cmp);
	for (i = 0; i < n; i++) {
		struct rule *r = &rs->rules[order[i].idx];
		struct verdict v;

		if (npath_set(np, r->path, strlen(r->path), false, &why) < 0)
			continue;	/* stored paths are valid */
		decide(rs, np, r, &v);
		if (v.r && v.r->pub.recursive && v.r->pub.type == r->pub.type)
			r->pub.discarded_by = v.r->path;
	}
	free(np);
	free(order);
}

static struct repset *set_clone(const struct repset *rs)
{
	struct repset *c = set_new(rs->name, rs->seq, rs->generation);
	size_t i;

	if (rs->nrules) {
		c->rules = util_xreallocarray(NULL, rs->nrules,
					      sizeof(*c->rules));
		for (i = 0; i < rs->nrules; i++)
			rule_copy(&c->rules[i], &rs->rules[i]);
		c->nrules = rs->nrules;
	}
	if (rs->ndevs) {
		c->devs = util_xreallocarray(NULL, rs->ndevs, sizeof(*c->devs));
		for (i = 0; i < rs->ndevs; i++)
			c->devs[i] = util_xstrdup(rs->devs[i]);
		c->ndevs = rs->ndevs;
	}
	set_compile(c);
	return c;
}

const char *repset_name(const struct repset *rs)
{
	return rs->name;
}

uint64_t repset_generation(const struct repset *rs)
{
	return rs->generation;
}

uint64_t repset_seq(const struct repset *rs)
{
	return rs->seq;
}

size_t repset_rule_count(const struct repset *rs)
{
	return rs->nrules;
}

const struct repset_rule *repset_rule_at(const struct repset *rs, size_t i)
{
	return i < rs->nrules ? &rs->rules[i].pub : NULL;
}

size_t repset_device_count(const struct repset *rs)
{
	return rs->ndevs;
}

const char *repset_device_at(const struct repset *rs, size_t i)
{
	return i < rs->ndevs ? rs->devs[i] : NULL;
}

bool repset_has_device(const struct repset *rs, const char *dev)
{
	struct npath np;
	const char *why;
	size_t at;

	if (!dev || dev_norm(&np, dev, strlen(dev), &why) < 0)
		return false;
	return dev_find(rs, np.s, &at);
}

/* ---- matching -------------------------------------------------------- */

bool repset_match(const struct repset *rs, const char *abs_path, size_t len)
{
	struct npath x;
	struct verdict v;
	const char *why;

	if (!rs || !abs_path || npath_set(&x, abs_path, len, true, &why) < 0)
		return false;
	decide(rs, &x, NULL, &v);
	return v.r && v.r->pub.type == REPSET_INCLUDE;
}

/* Could an inclusion win over exclusion e for a path strictly beneath x?
 * e is the strongest recursive exclusion covering x; it covers everything
 * beneath x with the same anchor, which is at most x's depth. */
static bool include_wins_below(const struct rule *r, const struct npath *x,
			       const struct verdict *e)
{
	unsigned m = r->base_depth, n = x->n, k = r->ncomps - m, j, i, a;

	if (m > n)	/* base beneath x: its anchors are deeper than e's */
		return x->len < r->base_len &&
		       memcmp(r->path, x->s, x->len) == 0 &&
		       r->path[x->len] == '/';
	if (!base_prefix(r, x))
		return false;
	if (!r->wild) {
		if (!r->pub.recursive && n != m)
			return false;
		a = m;
		return !e->r || a > e->anchor ||
		       (a == e->anchor && e->r->wild);
	}
	if (!r->pub.recursive) {
		if (m + k <= n)
			return false;
		for (i = m; i < n; i++) {
			const struct comp *pc = &r->comps[i];

			if (!glob_match(r->path + pc->off, pc->len,
					x->s + x->c[i].off, x->c[i].len))
				return false;
		}
		return !e->r || m + k > e->anchor;
	}
	for (j = m; j + k <= n; j++)
		if (tail_at(r, x, j))
			return !e->r || j + k > e->anchor;
	/* No run within x yet: one can end deeper than x, beyond e. */
	return true;
}

bool repset_descend(const struct repset *rs, const char *dir, size_t len)
{
	struct npath x;
	struct verdict e = { NULL, 0 };
	const char *why;
	size_t i;
	unsigned a;

	if (!rs || !dir || npath_set(&x, dir, len, true, &why) < 0)
		return false;
	for (i = 0; i < rs->nrules; i++) {
		const struct rule *r = &rs->rules[i];

		if (!r->pub.discarded_by && r->pub.type == REPSET_EXCLUDE &&
		    r->pub.recursive && rule_covers(r, &x, &a) &&
		    beats(r, a, &e)) {
			e.r = r;
			e.anchor = a;
		}
	}
	for (i = 0; i < rs->nrules; i++) {
		const struct rule *r = &rs->rules[i];

		if (!r->pub.discarded_by && r->pub.type == REPSET_INCLUDE &&
		    include_wins_below(r, &x, &e))
			return true;
	}
	return false;
}

/* ---- roots ----------------------------------------------------------- */

struct rootlist {
	struct repset_root *v;
	size_t n;
};

static void roots_push(struct rootlist *l, char *path, bool recursive)
{
	l->v = util_xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n].path = path;
	l->v[l->n].recursive = recursive;
	l->n++;
}

static void roots_collect(const struct repset *rs, struct rootlist *l)
{
	size_t i;

	for (i = 0; i < rs->nrules; i++) {
		const struct rule *r = &rs->rules[i];
		unsigned k = r->ncomps - r->base_depth;

		if (r->pub.discarded_by || r->pub.type != REPSET_INCLUDE)
			continue;
		if (!r->wild)
			roots_push(l, util_xstrdup(r->path),
				   r->pub.recursive);
		else
			/* A pattern is matched in its base directory; one
			 * spanning several levels needs the levels below. */
			roots_push(l, r->base_len ?
				   util_xstrndup(r->path, r->base_len) :
				   util_xstrdup("/"),
				   r->pub.recursive || k > 1);
	}
}

static int root_cmp(const void *a, const void *b)
{
	const struct repset_root *x = a, *y = b;

	return path_cmp(x->path, y->path);
}

/* In component order a recursive root's subtree follows it directly, so
 * one pass against the last kept recursive root drops everything it
 * covers. */
static void roots_minimise(struct rootlist *l, struct repset_root **out,
			   size_t *n)
{
	size_t i, kept = 0, rec = SIZE_MAX;

	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), root_cmp);
	for (i = 0; i < l->n; i++) {
		struct repset_root cur = l->v[i];

		if (kept && strcmp(l->v[kept - 1].path, cur.path) == 0) {
			l->v[kept - 1].recursive |= cur.recursive;
			if (l->v[kept - 1].recursive)
				rec = kept - 1;
			free(cur.path);
			continue;
		}
		if (rec != SIZE_MAX && path_under(l->v[rec].path, cur.path)) {
			free(cur.path);
			continue;
		}
		l->v[kept++] = cur;
		if (cur.recursive)
			rec = kept - 1;
	}
	*out = l->v;
	*n = kept;
}

void repset_roots(const struct repset *rs, struct repset_root **roots,
		  size_t *n)
{
	struct rootlist l = { NULL, 0 };

	roots_collect(rs, &l);
	roots_minimise(&l, roots, n);
}

void repset_db_roots(const struct repset_db *db, struct repset_root **roots,
		     size_t *n)
{
	struct rootlist l = { NULL, 0 };
	size_t i;

	for (i = 0; i < db->n; i++)
		roots_collect(db->sets[i], &l);
	roots_minimise(&l, roots, n);
}

void repset_roots_free(struct repset_root *roots, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(roots[i].path);
	free(roots);
}

/* ---- overlaps -------------------------------------------------------- */

/* What a rule covers, as component constraints: the literal base, then
 * nany "*" components, then (if tail) the pattern tail; open when anything
 * may follow. A recursive pattern is the family nany = 0, 1, 2, ... */
struct shape {
	const struct rule *r;
	unsigned nany;
	bool tail;
	bool open;
};

static unsigned shape_len(const struct shape *s)
{
	return s->r->base_depth + s->nany +
	       (s->tail ? s->r->ncomps - s->r->base_depth : 0);
}

static void shape_comp(const struct shape *s, unsigned i, const char **p,
		       size_t *len)
{
	const struct rule *r = s->r;
	const struct comp *c;

	if (i >= r->base_depth && i < r->base_depth + s->nany) {
		*p = "*";
		*len = 1;
		return;
	}
	c = &r->comps[i < r->base_depth ? i : i - s->nany];
	*p = r->path + c->off;
	*len = c->len;
}

static bool shapes_meet(const struct shape *a, const struct shape *b)
{
	unsigned la = shape_len(a), lb = shape_len(b), i;

	for (i = 0; i < la && i < lb; i++) {
		const char *pa, *pb;
		size_t na, nb;

		shape_comp(a, i, &pa, &na);
		shape_comp(b, i, &pb, &nb);
		if (!glob_meet(pa, na, pb, nb))
			return false;
	}
	return la == lb || (la < lb ? a->open : b->open);
}

static size_t rule_shapes(const struct rule *r, struct shape s[2])
{
	s[0].r = s[1].r = r;
	s[0].nany = 0;
	s[0].tail = r->wild;
	s[0].open = r->pub.recursive;
	if (!r->wild && !r->pub.recursive) {
		s[1].nany = 1;
		s[1].tail = false;
		s[1].open = false;
		return 2;
	}
	return 1;
}

static bool is_family(const struct rule *r)
{
	return r->wild && r->pub.recursive;
}

/* May some path be covered by both rules? Exact for the shapes above;
 * exclusions are ignored, so "may". */
static bool rules_overlap(const struct rule *a, const struct rule *b)
{
	struct shape sa[2], sb[2];
	size_t na, nb, i, j;

	if (is_family(a) && is_family(b)) {
		/* Runs can be pushed below the other's whole shape, so only
		 * the literal bases have to agree. */
		unsigned m = a->base_depth < b->base_depth ?
			     a->base_depth : b->base_depth, c;

		for (c = 0; c < m; c++)
			if (a->comps[c].len != b->comps[c].len ||
			    memcmp(a->path + a->comps[c].off,
				   b->path + b->comps[c].off,
				   a->comps[c].len))
				return false;
		return true;
	}
	if (is_family(b)) {
		const struct rule *t = a;

		a = b;
		b = t;
	}
	na = rule_shapes(a, sa);
	nb = rule_shapes(b, sb);
	for (j = 0; j < nb; j++) {
		if (is_family(a)) {
			/* Past this many "*" the shapes no longer change
			 * where b has constraints. */
			unsigned lb = shape_len(&sb[j]), top, nany;

			top = lb > a->base_depth ? lb - a->base_depth : 0;
			for (nany = 0; nany <= top; nany++) {
				sa[0].nany = nany;
				if (shapes_meet(&sa[0], &sb[j]))
					return true;
			}
			continue;
		}
		for (i = 0; i < na; i++)
			if (shapes_meet(&sa[i], &sb[j]))
				return true;
	}
	return false;
}

static void rule_words(struct util_buf *b, const struct rule *r)
{
	quote(b, r->path);
	util_buf_printf(b, " %s %s", type_word(r->pub.type),
			rec_word(r->pub.recursive));
}

static size_t overlaps_between(const struct repset *a, const struct repset *b,
			       struct util_buf *out, const char *prefix)
{
	size_t i, j, at, count = 0;

	for (i = 0; i < a->nrules; i++) {
		const struct rule *ra = &a->rules[i];

		if (ra->pub.discarded_by || ra->pub.type != REPSET_INCLUDE)
			continue;
		for (j = 0; j < b->nrules; j++) {
			const struct rule *rb = &b->rules[j];

			if (rb->pub.discarded_by ||
			    rb->pub.type != REPSET_INCLUDE ||
			    !rules_overlap(ra, rb))
				continue;
			count++;
			if (!out)
				continue;
			util_buf_printf(out, "%s%s rule ", prefix, a->name);
			rule_words(out, ra);
			util_buf_printf(out, " overlaps %s rule ", b->name);
			rule_words(out, rb);
			util_buf_puts(out, "; shared data is replicated from "
				      "one set only\n");
		}
	}
	for (i = 0; i < a->ndevs; i++) {
		if (!dev_find(b, a->devs[i], &at))
			continue;
		count++;
		if (!out)
			continue;
		util_buf_printf(out, "%sdevice ", prefix);
		quote(out, a->devs[i]);
		util_buf_printf(out, " is in %s and %s; it is replicated from "
				"%s only\n", a->name, b->name,
				a->seq < b->seq ? a->name : b->name);
	}
	return count;
}

size_t repset_db_overlaps(const struct repset_db *db, struct util_buf *out)
{
	size_t i, j, count = 0;

	for (i = 0; i < db->n; i++)
		for (j = i + 1; j < db->n; j++)
			count += overlaps_between(db->sets[i], db->sets[j],
						  out, "");
	return count;
}

/* ---- display --------------------------------------------------------- */

void repset_display(const struct repset *rs, struct util_buf *out)
{
	size_t i;

	util_buf_printf(out, "Replication set %s (generation %" PRIu64 ")\n",
			rs->name, rs->generation);
	util_buf_puts(out, rs->nrules ? "  Rules:\n" : "  Rules: none\n");
	for (i = 0; i < rs->nrules; i++) {
		const struct rule *r = &rs->rules[i];

		util_buf_puts(out, "    ");
		rule_words(out, r);
		if (r->pub.discarded_by) {
			util_buf_puts(out, "  (discarded: ");
			quote(out, r->pub.discarded_by);
			util_buf_printf(out, " %s Recursive takes precedence)",
					type_word(r->pub.type));
		}
		util_buf_puts(out, "\n");
	}
	util_buf_puts(out, rs->ndevs ? "  Devices:\n" : "  Devices: none\n");
	for (i = 0; i < rs->ndevs; i++) {
		util_buf_puts(out, "    ");
		quote(out, rs->devs[i]);
		util_buf_puts(out, "\n");
	}
}

void repset_db_list(const struct repset_db *db, struct util_buf *out)
{
	int w = 4;
	size_t i;

	if (!db->n) {
		util_buf_puts(out, "No replication sets\n");
		return;
	}
	for (i = 0; i < db->n; i++)
		if ((int)strlen(db->sets[i]->name) > w)
			w = (int)strlen(db->sets[i]->name);
	util_buf_printf(out, "%-*s  %10s  %5s  %7s\n", w, "Name", "Generation",
			"Rules", "Devices");
	for (i = 0; i < db->n; i++) {
		const struct repset *rs = db->sets[i];

		util_buf_printf(out, "%-*s  %10" PRIu64 "  %5zu  %7zu\n", w,
				rs->name, rs->generation, rs->nrules,
				rs->ndevs);
	}
}

/* ---- registry -------------------------------------------------------- */

struct repset_db *repset_db_new(void)
{
	struct repset_db *db = util_xcalloc(1, sizeof(*db));

	db->next_seq = 1;
	return db;
}

static void db_clear(struct repset_db *db)
{
	size_t i;

	for (i = 0; i < db->n; i++)
		set_free(db->sets[i]);
	free(db->sets);
	db->sets = NULL;
	db->n = 0;
	db->next_seq = 1;
}

void repset_db_free(struct repset_db *db)
{
	if (!db)
		return;
	db_clear(db);
	free(db);
}

size_t repset_db_count(const struct repset_db *db)
{
	return db->n;
}

const struct repset *repset_db_at(const struct repset_db *db, size_t i)
{
	return i < db->n ? db->sets[i] : NULL;
}

static size_t db_index(const struct repset_db *db, const char *name)
{
	size_t i;

	for (i = 0; name && i < db->n; i++)
		if (strcasecmp(db->sets[i]->name, name) == 0)
			return i;
	return SIZE_MAX;
}

const struct repset *repset_db_find(const struct repset_db *db,
				    const char *name)
{
	size_t i = db_index(db, name);

	return i == SIZE_MAX ? NULL : db->sets[i];
}

static void bad_name(struct util_buf *m, const char *name)
{
	util_buf_puts(m, "invalid replication set name ");
	quote_short(m, name ? name : "");
	util_buf_printf(m, ": use 1 to %d of A-Z a-z 0-9 _ . -",
			REPSET_NAME_MAX);
}

int repset_db_create(struct repset_db *db, const char *name, char *msg,
		     size_t msglen)
{
	struct util_buf m;
	int ret = -1, err = 0;

	util_buf_init(&m);
	if (!name || !valid_name(name)) {
		bad_name(&m, name);
		err = EINVAL;
		goto done;
	}
	if (db_index(db, name) != SIZE_MAX) {
		util_buf_printf(&m, "replication set %s already exists",
				repset_db_find(db, name)->name);
		err = EEXIST;
		goto done;
	}
	if (db->n >= REPSET_MAX_SETS) {
		util_buf_printf(&m, "too many replication sets (at most %d)",
				REPSET_MAX_SETS);
		err = E2BIG;
		goto done;
	}
	db->sets = util_xreallocarray(db->sets, db->n + 1, sizeof(*db->sets));
	db->sets[db->n++] = set_new(name, db->next_seq++, 1);
	ret = 0;
done:
	msg_out(msg, msglen, &m);
	util_buf_free(&m);
	if (ret < 0)
		errno = err;
	return ret;
}

/* Shared by delete and modify: the set, or -1 with the reason in m. */
static struct repset *db_lookup(struct repset_db *db, const char *name,
				uint64_t expected, struct util_buf *m,
				size_t *index)
{
	size_t i = db_index(db, name);
	struct repset *rs;

	if (i == SIZE_MAX) {
		util_buf_puts(m, "no replication set named ");
		quote_short(m, name ? name : "");
		errno = ENOENT;
		return NULL;
	}
	rs = db->sets[i];
	if (expected != REPSET_GEN_ANY && expected != rs->generation) {
		util_buf_printf(m, "replication set %s was changed elsewhere "
				"(generation %" PRIu64 ", you had %" PRIu64
				"); display it again and redo the change",
				rs->name, rs->generation, expected);
		errno = ESTALE;
		return NULL;
	}
	if (index)
		*index = i;
	return rs;
}

int repset_db_delete(struct repset_db *db, const char *name,
		     uint64_t expected_generation, char *msg, size_t msglen)
{
	struct util_buf m;
	struct repset *rs;
	size_t i;
	int ret = -1, err = 0;

	util_buf_init(&m);
	rs = db_lookup(db, name, expected_generation, &m, &i);
	if (!rs) {
		err = errno;
		goto done;
	}
	set_free(rs);
	memmove(&db->sets[i], &db->sets[i + 1],
		(db->n - i - 1) * sizeof(*db->sets));
	db->n--;
	ret = 0;
done:
	msg_out(msg, msglen, &m);
	util_buf_free(&m);
	if (ret < 0)
		errno = err;
	return ret;
}

static const struct rule *rule_by_path(const struct repset *rs,
				       const char *path)
{
	size_t at;

	return rule_find(rs, path, &at) ? &rs->rules[at] : NULL;
}

/* Warnings for a change: rules it leaves discarded, inclusions and devices
 * it shares with other sets. */
static void modify_warnings(const struct repset_db *db,
			    const struct repset *old, const struct repset *now,
			    struct util_buf *m)
{
	size_t i, j, k, at;

	for (i = 0; i < now->nrules; i++) {
		const struct rule *r = &now->rules[i];
		const struct rule *o = rule_by_path(old, r->path);
		bool was_active = o && !o->pub.discarded_by;

		if (r->pub.discarded_by) {
			if (!was_active && o)
				continue;
			util_buf_puts(m, "warning: rule ");
			quote_short(m, r->path);
			util_buf_puts(m, " is discarded: ");
			quote_short(m, r->pub.discarded_by);
			util_buf_printf(m, " %s Recursive takes precedence\n",
					type_word(r->pub.type));
			continue;
		}
		if (was_active || r->pub.type != REPSET_INCLUDE)
			continue;
		for (j = 0; j < db->n; j++) {
			const struct repset *s = db->sets[j];

			if (s == old)
				continue;
			for (k = 0; k < s->nrules; k++) {
				const struct rule *q = &s->rules[k];

				if (q->pub.discarded_by ||
				    q->pub.type != REPSET_INCLUDE ||
				    !rules_overlap(r, q))
					continue;
				util_buf_puts(m, "warning: rule ");
				quote_short(m, r->path);
				util_buf_printf(m, " overlaps %s rule ",
						s->name);
				quote_short(m, q->path);
				util_buf_puts(m, "; shared data is replicated "
					      "from one set only\n");
			}
		}
	}
	for (i = 0; i < now->ndevs; i++) {
		if (dev_find(old, now->devs[i], &at))
			continue;
		for (j = 0; j < db->n; j++) {
			const struct repset *s = db->sets[j];

			if (s == old || !dev_find(s, now->devs[i], &at))
				continue;
			util_buf_puts(m, "warning: device ");
			quote_short(m, now->devs[i]);
			util_buf_printf(m, " is also in %s; it is replicated "
					"from %s only\n", s->name,
					s->seq < old->seq ? s->name :
					old->name);
		}
	}
	/* Drop the last newline: callers print msg as one block. */
	if (m->len && m->data[m->len - 1] == '\n')
		m->data[--m->len] = '\0';
}

static int apply_op(struct repset *rs, const struct repset_op *op,
		    struct util_buf *m)
{
	const char *why = NULL;
	int rc;

	if (!op->path) {
		util_buf_puts(m, "missing path");
		errno = EINVAL;
		return -1;
	}
	switch (op->kind) {
	case REPSET_OP_RULE_ADD:
		rc = set_add_rule(rs, op->path, strlen(op->path), op->type,
				  op->recursive, &why);
		break;
	case REPSET_OP_RULE_REMOVE:
		rc = set_remove_rule(rs, op->path, &why);
		break;
	case REPSET_OP_DEVICE_ADD:
		rc = set_add_dev(rs, op->path, strlen(op->path), &why);
		break;
	case REPSET_OP_DEVICE_REMOVE:
		rc = set_remove_dev(rs, op->path, &why);
		break;
	default:
		why = "unknown change";
		errno = EINVAL;
		rc = -1;
		break;
	}
	if (rc < 0) {
		int saved = errno;

		util_buf_printf(m, "replication set %s: %s ", rs->name,
				op->kind == REPSET_OP_DEVICE_ADD ||
				op->kind == REPSET_OP_DEVICE_REMOVE ?
				"device" : "rule");
		quote_short(m, op->path);
		util_buf_printf(m, ": %s", why);
		errno = saved;
	}
	return rc;
}

int repset_modify(struct repset_db *db, const char *name,
		  uint64_t expected_generation, const struct repset_op *ops,
		  size_t nops, char *msg, size_t msglen)
{
	struct util_buf m;
	struct repset *rs, *work = NULL, tmp;
	size_t i;
	int ret = -1, err = 0;

	util_buf_init(&m);
	rs = db_lookup(db, name, expected_generation, &m, NULL);
	if (!rs) {
		err = errno;
		goto done;
	}
	if (!ops || nops == 0) {
		util_buf_puts(&m, "nothing to change");
		err = EINVAL;
		goto done;
	}
	/* Work on a copy so a failing op leaves the set as it was. */
	work = set_clone(rs);
	for (i = 0; i < nops; i++)
		if (apply_op(work, &ops[i], &m) < 0) {
			err = errno;
			goto done;
		}
	set_compile(work);
	modify_warnings(db, rs, work, &m);
	tmp = *rs;
	rs->rules = work->rules;
	rs->nrules = work->nrules;
	rs->devs = work->devs;
	rs->ndevs = work->ndevs;
	work->rules = tmp.rules;
	work->nrules = tmp.nrules;
	work->devs = tmp.devs;
	work->ndevs = tmp.ndevs;
	rs->generation++;
	ret = 0;
done:
	set_free(work);
	msg_out(msg, msglen, &m);
	util_buf_free(&m);
	if (ret < 0)
		errno = err;
	return ret;
}

int repset_db_rule_add(struct repset_db *db, const char *name,
		       uint64_t expected_generation, const char *path,
		       enum repset_rule_type type, bool recursive, char *msg,
		       size_t msglen)
{
	struct repset_op op = { REPSET_OP_RULE_ADD, path, type, recursive };

	return repset_modify(db, name, expected_generation, &op, 1, msg,
			     msglen);
}

int repset_db_rule_remove(struct repset_db *db, const char *name,
			  uint64_t expected_generation, const char *path,
			  char *msg, size_t msglen)
{
	struct repset_op op = { REPSET_OP_RULE_REMOVE, path, REPSET_INCLUDE,
				false };

	return repset_modify(db, name, expected_generation, &op, 1, msg,
			     msglen);
}

int repset_db_device_add(struct repset_db *db, const char *name,
			 uint64_t expected_generation, const char *dev,
			 char *msg, size_t msglen)
{
	struct repset_op op = { REPSET_OP_DEVICE_ADD, dev, REPSET_INCLUDE,
				false };

	return repset_modify(db, name, expected_generation, &op, 1, msg,
			     msglen);
}

int repset_db_device_remove(struct repset_db *db, const char *name,
			    uint64_t expected_generation, const char *dev,
			    char *msg, size_t msglen)
{
	struct repset_op op = { REPSET_OP_DEVICE_REMOVE, dev, REPSET_INCLUDE,
				false };

	return repset_modify(db, name, expected_generation, &op, 1, msg,
			     msglen);
}

const struct repset *repset_db_owner(const struct repset_db *db,
				     const char *path, size_t len)
{
	struct npath x;
	struct verdict best = { NULL, 0 }, v;
	const struct repset *owner = NULL;
	const char *why;
	size_t i;

	if (!db || !path || npath_set(&x, path, len, true, &why) < 0)
		return NULL;
	/* Oldest first, replaced only by a strictly more specific rule, so
	 * ties stay with the oldest set. */
	for (i = 0; i < db->n; i++) {
		decide(db->sets[i], &x, NULL, &v);
		if (!v.r || v.r->pub.type != REPSET_INCLUDE)
			continue;
		if (!owner || v.anchor > best.anchor ||
		    (v.anchor == best.anchor && !v.r->wild && best.r->wild)) {
			owner = db->sets[i];
			best = v;
		}
	}
	return owner;
}

const struct repset *repset_db_device_owner(const struct repset_db *db,
					    const char *dev)
{
	size_t i;

	for (i = 0; i < db->n; i++)
		if (repset_has_device(db->sets[i], dev))
			return db->sets[i];
	return NULL;
}

/* ---- persistence ----------------------------------------------------- */

void repset_format_one(const struct repset *rs, struct util_buf *out)
{
	size_t j;

	util_buf_printf(out, "\nrepset %s seq %" PRIu64 " generation %" PRIu64 "\n",
			rs->name, rs->seq, rs->generation);
	for (j = 0; j < rs->nrules; j++) {
		const struct rule *r = &rs->rules[j];

		util_buf_printf(out, "rule %s %s ",
				r->pub.type == REPSET_EXCLUDE ? "exclude" : "include",
				r->pub.recursive ? "recursive" : "nonrecursive");
		quote(out, r->path);
		util_buf_puts(out, "\n");
	}
	for (j = 0; j < rs->ndevs; j++) {
		util_buf_puts(out, "device ");
		quote(out, rs->devs[j]);
		util_buf_puts(out, "\n");
	}
	util_buf_puts(out, "end\n");
}

void repset_db_format(const struct repset_db *db, struct util_buf *out)
{
	size_t i;

	util_buf_puts(out, "# Ditto replication sets, written by dittod. "
		      "Edit only while it is stopped.\n");
	util_buf_puts(out, "ditto-repsets " FORMAT_VERSION "\n");
	for (i = 0; i < db->n; i++)
		repset_format_one(db->sets[i], out);
}

int repset_db_import(struct repset_db *db, const char *text, size_t len,
		     const char *name, char *err, size_t errlen)
{
	struct repset_db *tmp = repset_db_new();
	const struct repset *rs;
	char msg[512];
	size_t i;
	int ret = -1;

	if (repset_db_parse(tmp, text, len, "backup definition", err, errlen) < 0)
		goto done;
	rs = repset_db_find(tmp, name);
	if (!rs) {
		snprintf(err, errlen, "the backup definition has no set %s", name);
		goto done;
	}
	if (repset_db_find(db, name)) {
		snprintf(err, errlen, "replication set %s exists already", name);
		goto done;
	}
	if (repset_db_create(db, name, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s", msg);
		goto done;
	}
	for (i = 0; i < rs->nrules; i++)
		repset_db_rule_add(db, name, REPSET_GEN_ANY, rs->rules[i].path,
				   rs->rules[i].pub.type, rs->rules[i].pub.recursive, msg, sizeof(msg));
	for (i = 0; i < rs->ndevs; i++)
		repset_db_device_add(db, name, REPSET_GEN_ANY, rs->devs[i], msg, sizeof(msg));
	ret = 0;
done:
	repset_db_free(tmp);
	return ret;
}

int repset_db_save(const struct repset_db *db, const char *path)
{
	struct util_buf text;
	int ret, saved;

	util_buf_init(&text);
	repset_db_format(db, &text);
	ret = util_write_atomic(path, text.data, text.len, 0600);
	saved = errno;
	util_buf_free(&text);
	errno = saved;
	return ret;
}

struct parser {
	const char *src;
	unsigned line;
	const char *p, *end;	/* rest of the current line */
	struct util_buf msg;
};

static void perr(struct parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void perr(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	util_buf_reset(&ps->msg);
	util_buf_printf(&ps->msg, "%s:%u: ", ps->src, ps->line);
	va_start(ap, fmt);
	util_buf_vprintf(&ps->msg, fmt, ap);
	va_end(ap);
}

static bool word(struct parser *ps, const char **w, size_t *wl)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
	if (ps->p == ps->end)
		return false;
	*w = ps->p;
	while (ps->p < ps->end && *ps->p != ' ' && *ps->p != '\t')
		ps->p++;
	*wl = (size_t)(ps->p - *w);
	return true;
}

static bool word_is(const char *w, size_t wl, const char *kw)
{
	return wl == strlen(kw) && memcmp(w, kw, wl) == 0;
}

static bool at_eol(struct parser *ps)
{
	const char *w;
	size_t wl;

	if (!word(ps, &w, &wl))
		return true;
	perr(ps, "unexpected text after the directive");
	return false;
}

/* A required keyword; on mismatch the error names what was expected. */
static bool expect(struct parser *ps, const char *kw)
{
	const char *w;
	size_t wl;

	if (word(ps, &w, &wl) && word_is(w, wl, kw))
		return true;
	perr(ps, "expected \"%s\"", kw);
	return false;
}

static bool number(struct parser *ps, const char *what, uint64_t *out)
{
	const char *w;
	size_t wl;
	char buf[24];

	if (!word(ps, &w, &wl)) {
		perr(ps, "missing %s", what);
		return false;
	}
	if (wl >= sizeof(buf))
		goto bad;
	memcpy(buf, w, wl);
	buf[wl] = '\0';
	/* Bounded so "+1" can never wrap to REPSET_GEN_ANY. */
	if (util_parse_u64(buf, out) < 0 || *out == 0 || *out > INT64_MAX)
		goto bad;
	return true;
bad:
	perr(ps, "%s must be a number from 1 to %" PRId64, what, INT64_MAX);
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool qstring(struct parser *ps, struct util_buf *out)
{
	util_buf_reset(out);
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
	if (ps->p == ps->end || *ps->p != '"') {
		perr(ps, "expected a quoted path");
		return false;
	}
	ps->p++;
	for (;;) {
		unsigned char c;

		if (ps->p == ps->end) {
			perr(ps, "unterminated string");
			return false;
		}
		c = (unsigned char)*ps->p++;
		if (c == '"')
			break;
		if (c < 0x20 || c == 0x7f) {
			perr(ps, "control character in a string "
			     "(write it as \\xHH)");
			return false;
		}
		if (c != '\\') {
			util_buf_append(out, &c, 1);
			continue;
		}
		if (ps->p == ps->end) {
			perr(ps, "unterminated string");
			return false;
		}
		c = (unsigned char)*ps->p++;
		if (c == '\\' || c == '"') {
			util_buf_append(out, &c, 1);
		} else if (c == 'x' && ps->end - ps->p >= 2 &&
			   hexval(ps->p[0]) >= 0 && hexval(ps->p[1]) >= 0) {
			c = (unsigned char)(hexval(ps->p[0]) * 16 +
					    hexval(ps->p[1]));
			ps->p += 2;
			if (c == 0) {
				perr(ps, "\\x00 is not allowed in a path");
				return false;
			}
			util_buf_append(out, &c, 1);
		} else {
			perr(ps, "invalid escape (use \\\\, \\\" or \\xHH)");
			return false;
		}
	}
	return true;
}

/* Parses into a fresh registry; db only changes once everything is valid. */
int repset_db_parse(struct repset_db *db, const char *data, size_t len,
		    const char *srcname, char *err, size_t errlen)
{
	struct parser ps;
	struct repset_db *nd = repset_db_new();
	struct repset *cur = NULL;
	struct util_buf str;
	unsigned cur_line = 0;
	bool header = false;
	size_t pos = 0, i;
	int ret = -1;

	memset(&ps, 0, sizeof(ps));
	ps.src = srcname ? srcname : "repsets";
	util_buf_init(&ps.msg);
	util_buf_init(&str);
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t eol = nl ? (size_t)(nl - data) : len;
		const char *w, *why = NULL;
		size_t wl;

		ps.line++;
		ps.p = data + pos;
		ps.end = data + eol;
		pos = nl ? eol + 1 : len;
		if (memchr(ps.p, '\0', eol - (size_t)(ps.p - data))) {
			perr(&ps, "NUL byte in line");
			goto done;
		}
		if (memchr(ps.p, '\r', eol - (size_t)(ps.p - data))) {
			perr(&ps, "carriage return in line");
			goto done;
		}
		if (!word(&ps, &w, &wl) || w[0] == '#')
			continue;
		if (!header) {
			if (!word_is(w, wl, "ditto-repsets")) {
				perr(&ps, "expected \"ditto-repsets "
				     FORMAT_VERSION "\" first");
				goto done;
			}
			if (!word(&ps, &w, &wl) ||
			    !word_is(w, wl, FORMAT_VERSION)) {
				perr(&ps, "unsupported format version "
				     "(this agent reads " FORMAT_VERSION ")");
				goto done;
			}
			if (!at_eol(&ps))
				goto done;
			header = true;
			continue;
		}
		if (word_is(w, wl, "repset")) {
			char name[REPSET_NAME_MAX + 1];
			uint64_t seq, gen;

			if (cur) {
				perr(&ps, "repset %s (line %u) is not closed "
				     "by \"end\"", cur->name, cur_line);
				goto done;
			}
			if (!word(&ps, &w, &wl)) {
				perr(&ps, "missing replication set name");
				goto done;
			}
			name[0] = '\0';
			if (wl < sizeof(name)) {
				memcpy(name, w, wl);
				name[wl] = '\0';
			}
			if (!valid_name(name)) {
				perr(&ps, "invalid replication set name "
				     "(use 1 to %d of A-Z a-z 0-9 _ . -)",
				     REPSET_NAME_MAX);
				goto done;
			}
			if (!expect(&ps, "seq") || !number(&ps, "seq", &seq) ||
			    !expect(&ps, "generation") ||
			    !number(&ps, "generation", &gen) || !at_eol(&ps))
				goto done;
			if (db_index(nd, name) != SIZE_MAX) {
				perr(&ps, "duplicate replication set %s",
				     name);
				goto done;
			}
			for (i = 0; i < nd->n; i++)
				if (nd->sets[i]->seq == seq) {
					perr(&ps, "seq %" PRIu64 " is also "
					     "used by %s", seq,
					     nd->sets[i]->name);
					goto done;
				}
			if (nd->n >= REPSET_MAX_SETS) {
				perr(&ps, "too many replication sets "
				     "(at most %d)", REPSET_MAX_SETS);
				goto done;
			}
			cur = set_new(name, seq, gen);
			cur_line = ps.line;
		} else if (word_is(w, wl, "rule")) {
			enum repset_rule_type type;
			bool rec;

			if (!cur) {
				perr(&ps, "\"rule\" outside a repset");
				goto done;
			}
			if (!word(&ps, &w, &wl) ||
			    !(word_is(w, wl, "include") ||
			      word_is(w, wl, "exclude"))) {
				perr(&ps, "expected \"include\" or "
				     "\"exclude\"");
				goto done;
			}
			type = word_is(w, wl, "include") ? REPSET_INCLUDE :
			       REPSET_EXCLUDE;
			if (!word(&ps, &w, &wl) ||
			    !(word_is(w, wl, "recursive") ||
			      word_is(w, wl, "nonrecursive"))) {
				perr(&ps, "expected \"recursive\" or "
				     "\"nonrecursive\"");
				goto done;
			}
			rec = word_is(w, wl, "recursive");
			if (!qstring(&ps, &str) || !at_eol(&ps))
				goto done;
			if (set_add_rule(cur, str.data ? str.data : "",
					 str.len, type, rec, &why) < 0) {
				perr(&ps, "rule: %s", why);
				goto done;
			}
		} else if (word_is(w, wl, "device")) {
			if (!cur) {
				perr(&ps, "\"device\" outside a repset");
				goto done;
			}
			if (!qstring(&ps, &str) || !at_eol(&ps))
				goto done;
			if (set_add_dev(cur, str.data ? str.data : "",
					str.len, &why) < 0) {
				perr(&ps, "device: %s", why);
				goto done;
			}
		} else if (word_is(w, wl, "end")) {
			if (!cur) {
				perr(&ps, "\"end\" outside a repset");
				goto done;
			}
			if (!at_eol(&ps))
				goto done;
			set_compile(cur);
			nd->sets = util_xreallocarray(nd->sets, nd->n + 1,
						      sizeof(*nd->sets));
			nd->sets[nd->n++] = cur;
			cur = NULL;
		} else {
			perr(&ps, "unknown directive (expected repset, rule, "
			     "device or end)");
			goto done;
		}
	}
	if (!header) {
		ps.line = ps.line ? ps.line : 1;
		perr(&ps, "missing \"ditto-repsets " FORMAT_VERSION
		     "\" header (empty or truncated file)");
		goto done;
	}
	if (cur) {
		ps.line = cur_line;
		perr(&ps, "repset %s is not closed by \"end\" "
		     "(truncated file?)", cur->name);
		goto done;
	}
	/* Creation order is seq order, whatever order the file used. */
	for (i = 1; i < nd->n; i++) {
		struct repset *t = nd->sets[i];
		size_t j = i;

		for (; j > 0 && nd->sets[j - 1]->seq > t->seq; j--)
			nd->sets[j] = nd->sets[j - 1];
		nd->sets[j] = t;
	}
	nd->next_seq = nd->n ? nd->sets[nd->n - 1]->seq + 1 : 1;
	db_clear(db);
	*db = *nd;
	nd->sets = NULL;
	nd->n = 0;
	ret = 0;
done:
	if (ret < 0 && err && errlen)
		util_strlcpy(err, ps.msg.data ? ps.msg.data : "parse error",
			     errlen);
	else if (err && errlen)
		err[0] = '\0';
	set_free(cur);
	repset_db_free(nd);
	util_buf_free(&str);
	util_buf_free(&ps.msg);
	if (ret < 0)
		errno = EINVAL;
	return ret;
}

int repset_db_load(struct repset_db *db, const char *path, char *err,
		   size_t errlen)
{
	char *data = NULL;
	size_t len;
	int ret = -1, saved;

	if (util_read_file(path, FILE_MAX, &data, &len) < 0) {
		saved = errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path,
				 saved == EFBIG ? "file is too large" :
				 saved == EINVAL ? "not a regular file" : strerror(saved));
		errno = saved;
		return -1;
	}
	ret = repset_db_parse(db, data, len, path, err, errlen);
	saved = errno;
	free(data);
	errno = saved;
	return ret;
}

const struct repset *repset_db_reaches(const struct repset_db *db,
				       const char *dir, size_t len)
{
	const struct repset *rs = repset_db_owner(db, dir, len);
	size_t i;

	for (i = 0; !rs && i < repset_db_count(db); i++)
		if (repset_descend(repset_db_at(db, i), dir, len))
			rs = repset_db_at(db, i);
	return rs;
}
