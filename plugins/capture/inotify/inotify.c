#include "config.h"

/* inotify capture, the fallback without CAP_SYS_ADMIN.
 *
 * Each root that exists as a directory gets a tree of per-directory watches
 * (nodes keep parent + entry name, so a directory rename moves one node and
 * the paths beneath follow). A directory that appears is watched first and
 * listed second, and what the listing finds is reported, so nothing created
 * in it before the watch existed is missed (it may be reported twice).
 *
 * Every root also has "anchor" watches on its existing ancestors: they see
 * the root (or an ancestor) being deleted, renamed away or created, which
 * yields ROOT_GONE, and a root that is a file or does not exist yet is
 * watched through them. A nested root lives inside the outer root's tree.
 *
 * IN_MOVED_FROM/IN_MOVED_TO pairs (same cookie, adjacent in the queue)
 * become RENAME; a half whose partner is not next becomes MOVED_FROM or
 * MOVED_TO, which is always safe. IN_Q_OVERFLOW rebuilds the trees and
 * reports OVERFLOW for every root. */

#include "ditto/capture.h"
#include "../common/plugin_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define IN_FULL (IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | \
		 IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | \
		 IN_MOVE_SELF | IN_EXCL_UNLINK | IN_ONLYDIR | IN_MASK_ADD)
/* Higher ancestors only need to see names come and go. */
#define IN_ANCHOR (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
		   IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK | \
		   IN_ONLYDIR | IN_MASK_ADD)
#define IN_BUF_SIZE (64u * 1024)
#define IN_BUFS_PER_READ 16	/* bound the work of one read() call */

struct in_node {
	int wd;
	bool tree;		/* member of a recursive tree */
	unsigned anchors;	/* roots watching it as an ancestor */
	/* Tree member with a parent: name is the entry name. Otherwise (tree
	 * top, anchor only): name is the absolute path. */
	char *name;
	struct in_node *parent, *child, *prev, *next;
	dev_t dev;
	ino_t ino;
	struct in_node *hnext;	/* wd hash chain */
};

struct in_root {
	struct plugin_root loc;	/* first, for plugin_roots_*() */
	bool present_dir;
	dev_t dev;		/* of the directory while present_dir */
	ino_t ino;
	struct in_node *top;	/* own tree; NULL when absent or nested */
	int *anch;		/* wds of its ancestor watches */
	size_t nanch;
	bool parent_anchored;	/* its parent directory is watched */
	bool dirty;		/* refresh at the next chance */
	bool ovf;
};

struct in_pending {		/* an IN_MOVED_FROM waiting for its pair */
	bool active;
	bool isdir;
	uint32_t cookie;
	int wd;
	char *name;
	char *path;
	size_t plen;
};

enum scan_mode {
	SCAN_SILENT,		/* add_root, rebuilds: watch only */
	SCAN_CREATED,		/* new directory: report what is inside */
};

enum refresh_why {
	WHY_CREATED_SELF,	/* caller reported CREATE of the root */
	WHY_MOVED_SELF,		/* caller reported MOVED_TO/RENAME to it */
	WHY_OTHER,		/* anything else: report a return as MOVED_TO */
};

struct in {
	int fd;
	const struct ditto_capture_host *host;
	struct in_root *roots;
	size_t nroots;
	struct in_node **hash;
	size_t hcap, hn;
	struct in_pending pend;
	bool any_dirty;
	bool enospc_logged;
	struct plugin_emitter em;	/* during read() */
	union {
		struct inotify_event ev;
		char b[IN_BUF_SIZE];
	} buf;
};

/* ---- small helpers ------------------------------------------------------ */

static char *join(const char *dir, const char *name)
{
	char *out;

	if (asprintf(&out, "%s/%s", strcmp(dir, "/") ? dir : "", name) < 0)
		return NULL;
	return out;
}

static long max_watches(void)
{
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* ---- emitting ----------------------------------------------------------- */

/* One path, NUL-terminated (the paths here are built with malloc). */
static void emit1(struct in *in, uint32_t type, uint32_t flags, const char *p)
{
	plugin_emit(&in->em, type, flags, p, strlen(p));
}

static bool in_roots(struct in *in, const char *p, size_t plen)
{
	size_t i;

	for (i = 0; i < in->nroots; i++)
		if (plugin_path_under(p, plen, in->roots[i].loc.path,
				      in->roots[i].loc.len))
			return true;
	return false;
}

static void overflow_under(struct in *in, const char *p, size_t plen)
{
	size_t i;

	for (i = 0; i < in->nroots; i++) {
		struct in_root *r = &in->roots[i];

		if (r->ovf ||
		    !(plugin_path_under(p, plen, r->loc.path, r->loc.len) ||
		      plugin_path_under(r->loc.path, r->loc.len, p, plen)))
			continue;
		r->ovf = true;
		emit1(in, DITTO_CAPTURE_OVERFLOW, 0, r->loc.path);
	}
}

/* ---- nodes ---------------------------------------------------------------- */

static struct in_node *node_find(struct in *in, int wd)
{
	struct in_node *n;

	if (!in->hcap)
		return NULL;
	for (n = in->hash[(unsigned)wd & (in->hcap - 1)]; n; n = n->hnext)
		if (n->wd == wd)
			return n;
	return NULL;
}

static int node_hash_add(struct in *in, struct in_node *n)
{
	size_t i;

	if (in->hn >= in->hcap) {
		size_t ncap = in->hcap ? in->hcap * 2 : 256;
		struct in_node **nh = calloc(ncap, sizeof(*nh));

		if (!nh)
			return -1;
		for (i = 0; i < in->hcap; i++) {
			struct in_node *c = in->hash[i], *nx;

			for (; c; c = nx) {
				nx = c->hnext;
				c->hnext = nh[(unsigned)c->wd & (ncap - 1)];
				nh[(unsigned)c->wd & (ncap - 1)] = c;
			}
		}
		free(in->hash);
		in->hash = nh;
		in->hcap = ncap;
	}
	i = (unsigned)n->wd & (in->hcap - 1);
	n->hnext = in->hash[i];
	in->hash[i] = n;
	in->hn++;
	return 0;
}

static void node_unlink(struct in_node *n)
{
	if (!n->parent)
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		n->parent->child = n->next;
	if (n->next)
		n->next->prev = n->prev;
	n->parent = n->prev = n->next = NULL;
}

static void node_link(struct in_node *parent, struct in_node *n)
{
	n->parent = parent;
	n->prev = NULL;
	n->next = parent->child;
	if (parent->child)
		parent->child->prev = n;
	parent->child = n;
}

static struct in_node *node_child(struct in_node *parent, const char *name)
{
	struct in_node *c;

	for (c = parent->child; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

/* Forgets a node whose watch is gone (or is being removed). Children it
 * still has become inert until their own IN_IGNORED. */
static void teardown(struct in *in, struct in_node *n);

static void node_free(struct in *in, struct in_node *n, bool rm_watch)
{
	struct in_node **pp;
	size_t i;

	if (rm_watch)
		inotify_rm_watch(in->fd, n->wd);
	for (pp = &in->hash[(unsigned)n->wd & (in->hcap - 1)]; *pp;
	     pp = &(*pp)->hnext)
		if (*pp == n) {
			*pp = n->hnext;
			in->hn--;
			break;
		}
	/* Children normally went first (rmdir needs an empty directory);
	 * any left lose their watches too. */
	while (n->child)
		teardown(in, n->child);
	node_unlink(n);
	for (i = 0; i < in->nroots; i++)
		if (in->roots[i].top == n) {
			in->roots[i].top = NULL;
			in->roots[i].dirty = in->any_dirty = true;
		}
	free(n->name);
	free(n);
}

/* Absolute path of a node (malloc'd), or NULL. */
static char *node_path(const struct in_node *n)
{
	const struct in_node *t;
	size_t len = 0, pos;
	char *out;

	for (t = n; t->parent; t = t->parent)
		len += 1 + strlen(t->name);
	if (strcmp(t->name, "/") || !len)
		len += strlen(t->name);
	out = malloc(len + 1);
	if (!out)
		return NULL;
	out[len] = '\0';
	pos = len;
	for (t = n; t->parent; t = t->parent) {
		size_t l = strlen(t->name);

		pos -= l;
		memcpy(out + pos, t->name, l);
		out[--pos] = '/';
	}
	if (pos)
		memcpy(out, t->name, pos);
	return out;
}

/* Watches the directory open as dfd; returns its node (new, or the one
 * that already has this wd) or NULL with errno. */
static struct in_node *watch_fd(struct in *in, int dfd, uint32_t mask,
				bool *existed)
{
	struct in_node *n;
	struct stat sb;
	char proc[64];
	int wd;

	/* Through /proc/self/fd the watch lands on the very directory we
	 * opened with O_NOFOLLOW: no symlink is ever followed. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dfd);
	if (fstat(dfd, &sb) < 0)
		return NULL;
	wd = inotify_add_watch(in->fd, proc, mask);
	if (wd < 0)
		return NULL;
	n = node_find(in, wd);
	*existed = n != NULL;
	if (n)
		return n;
	n = calloc(1, sizeof(*n));
	if (n)
		n->wd = wd;
	if (!n || node_hash_add(in, n) < 0) {
		free(n);
		inotify_rm_watch(in->fd, wd);
		errno = ENOMEM;
		return NULL;
	}
	n->dev = sb.st_dev;
	n->ino = sb.st_ino;
	return n;
}

static void log_enospc(struct in *in, const char *path)
{
	if (in->enospc_logged)
		return;
	in->enospc_logged = true;
	plugin_log(in->host, DITTO_CAPTURE_LOG_ERROR,
		   "inotify: watch limit reached (fs.inotify.max_user_watches "
		   "= %ld) at %s: changes beneath it are not captured; raise "
		   "the limit or use the fanotify plugin", max_watches(), path);
}

/* Removes a subtree's watches. A node still used as an anchor stays, as an
 * anchor only (named by its absolute path). */
static void teardown(struct in *in, struct in_node *n)
{
	char *path = n->anchors ? node_path(n) : NULL;

	while (n->child)
		teardown(in, n->child);
	if (n->anchors && path) {
		node_unlink(n);
		free(n->name);
		n->name = path;
		n->tree = false;
		for (size_t i = 0; i < in->nroots; i++)
			if (in->roots[i].top == n)
				in->roots[i].top = NULL;
		return;
	}
	free(path);
	node_free(in, n, true);
}

static struct in_root *root_of_top(struct in *in, const struct in_node *n)
{
	size_t i;

	for (i = 0; i < in->nroots; i++)
		if (in->roots[i].top == n)
			return &in->roots[i];
	return NULL;
}

/* Watches directory path (entry of parent, or a tree top when parent is
 * NULL) and everything beneath it on the same filesystem. self_type, if
 * not 0, is reported for path once its watch exists; with SCAN_CREATED
 * the entries found are reported too. 0, or -1 when the watch limit was
 * hit (logged; the caller reports OVERFLOW or fails). *top gets the new
 * top node when parent is NULL. */
static int scan(struct in *in, struct in_node *parent, const char *path,
		enum scan_mode mode, uint32_t self_type, dev_t dev,
		bool check_dev, struct in_node **top)
{
	struct in_node *n = NULL;
	struct dirent *de;
	DIR *d = NULL;
	char **subs = NULL;
	size_t nsubs = 0, cap = 0, i;
	bool existed = false;
	int dfd, ret = 0;

	dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0 && check_dev) {
		struct stat sb;

		/* Another filesystem mounted here: not ours (capture.h). */
		if (fstat(dfd, &sb) < 0 || sb.st_dev != dev) {
			close(dfd);
			dfd = -1;
			errno = EXDEV;
		}
	}
	if (dfd >= 0) {
		n = watch_fd(in, dfd, IN_FULL, &existed);
		if (!n) {
			if (errno == ENOSPC) {
				log_enospc(in, path);
				ret = -1;
			} else {
				plugin_log(in->host, DITTO_CAPTURE_LOG_WARNING,
					   "inotify: cannot watch %s: %s", path,
					   strerror(errno));
			}
		}
	} else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP &&
		   errno != EXDEV) {
		/* Gone, replaced or another filesystem is expected; anything
		 * else leaves a directory unwatched, so say it. */
		plugin_log(in->host, DITTO_CAPTURE_LOG_WARNING,
			   "inotify: cannot open %s: %s", path,
			   strerror(errno));
	}
	if (self_type)
		emit1(in, self_type, DITTO_CAPTURE_IS_DIR, path);
	if (!n)
		goto done;
	if (existed && n->tree) {
		struct in_root *r = n->parent ? NULL : root_of_top(in, n);

		/* Already watched: a duplicate, or another root's tree that
		 * the new tree now contains (it becomes a plain member). */
		if (r && parent) {
			r->top = NULL;
			free(n->name);
			n->name = strdup(strrchr(path, '/') + 1);
			if (!n->name)
				n->name = strdup("?");
			node_link(parent, n);
		}
		goto done;
	}
	/* New, or an anchor joining the tree. */
	free(n->name);
	n->name = strdup(parent ? strrchr(path, '/') + 1 : path);
	if (!n->name) {
		node_free(in, n, true);
		n = NULL;
		goto done;
	}
	n->tree = true;
	if (parent)
		node_link(parent, n);
	else if (top)
		*top = n;
	d = fdopendir(dfd);
	if (!d)
		goto done;
	dfd = -1;
	while ((de = readdir(d))) {
		struct stat sb;
		unsigned char t = de->d_type;
		char *cp;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (t == DT_UNKNOWN || (mode == SCAN_CREATED && t == DT_REG)) {
			if (fstatat(dirfd(d), de->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			t = S_ISDIR(sb.st_mode) ? DT_DIR :
			    S_ISREG(sb.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (t == DT_DIR) {
			if (nsubs == cap) {
				char **ns = realloc(subs, (cap ? cap * 2 : 16) *
							  sizeof(*ns));

				if (!ns)
					continue;
				subs = ns;
				cap = cap ? cap * 2 : 16;
			}
			if ((subs[nsubs] = strdup(de->d_name)))
				nsubs++;
			continue;
		}
		if (mode != SCAN_CREATED)
			continue;
		cp = join(path, de->d_name);
		if (!cp)
			continue;
		emit1(in, DITTO_CAPTURE_CREATE, 0, cp);
		/* Its data may predate our watch: report it as written. */
		if (t == DT_REG && sb.st_size > 0)
			emit1(in, DITTO_CAPTURE_CLOSE_WRITE, 0, cp);
		free(cp);
	}
	closedir(d);
	/* Subdirectories after the listing is closed: one open directory at
	 * a time, however deep the tree. */
	for (i = 0; i < nsubs; i++) {
		char *cp = join(path, subs[i]);

		if (cp && scan(in, n, cp, mode,
			       mode == SCAN_CREATED ? DITTO_CAPTURE_CREATE : 0,
			       n->dev, true, NULL) < 0)
			ret = -1;
		free(cp);
	}
done:
	if (dfd >= 0)
		close(dfd);
	for (i = 0; i < nsubs; i++)
		free(subs[i]);
	free(subs);
	return ret;
}

/* The node for path inside some root's tree, if watched. */
static struct in_node *tree_find(struct in *in, const char *path)
{
	size_t i, plen = strlen(path);

	for (i = 0; i < in->nroots; i++) {
		struct in_root *r = &in->roots[i];
		struct in_node *n = r->top;
		const char *s;

		if (!n || !plugin_path_under(path, plen, r->loc.path,
					     r->loc.len))
			continue;
		s = path + (r->loc.len == 1 ? 0 : r->loc.len);
		while (n && *s) {
			const char *e;
			char comp[NAME_MAX + 1];

			s++;
			e = strchrnul(s, '/');
			if ((size_t)(e - s) > NAME_MAX)
				return NULL;
			memcpy(comp, s, (size_t)(e - s));
			comp[e - s] = '\0';
			n = node_child(n, comp);
			s = e;
		}
		if (n)
			return n;
	}
	return NULL;
}

/* ---- roots ---------------------------------------------------------------- */

/* Watches the existing ancestors of r (new set first, old set released
 * after, so a shared watch is never dropped and re-created). */
static void anchor(struct in *in, struct in_root *r)
{
	int *old = r->anch, *nw;
	size_t nold = r->nanch, i, cut = 0;
	char *pref;

	r->anch = NULL;
	r->nanch = 0;
	r->parent_anchored = false;
	nw = calloc(r->loc.len + 1, sizeof(*nw));
	pref = strdup(r->loc.path);
	if (nw && pref && r->loc.len > 1) {
		/* Every proper prefix ending before a '/': "/", "/a", ... */
		for (cut = 0; cut < r->loc.len; cut++) {
			struct in_node *n;
			bool existed, parent;
			char save;
			int dfd;

			if (r->loc.path[cut] != '/')
				continue;
			save = pref[cut ? cut : 1];
			pref[cut ? cut : 1] = '\0';
			parent = !strchr(r->loc.path + cut + 1, '/');
			dfd = open(pref, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
			pref[cut ? cut : 1] = save;
			if (dfd < 0) {
				if (errno == EACCES)
					continue;
				break;	/* missing: nothing deeper exists */
			}
			n = watch_fd(in, dfd, parent ? IN_FULL : IN_ANCHOR,
				     &existed);
			close(dfd);
			if (!n) {
				if (errno == ENOSPC) {
					save = pref[cut ? cut : 1];
					pref[cut ? cut : 1] = '\0';
					log_enospc(in, pref);
					pref[cut ? cut : 1] = save;
				}
				continue;
			}
			if (!n->tree) {
				/* An anchor is named by its path, which may
				 * have changed since it was last seen. */
				char *nm = strndup(pref, cut ? cut : 1);

				if (nm) {
					free(n->name);
					n->name = nm;
				} else if (!n->name) {
					node_free(in, n, true);
					continue;
				}
			}
			n->anchors++;
			nw[r->nanch++] = n->wd;
			if (parent)
				r->parent_anchored = true;
		}
	}
	r->anch = nw;
	if (!nw)
		r->nanch = 0;
	free(pref);
	for (i = 0; i < nold; i++) {
		struct in_node *n = node_find(in, old[i]);

		if (n && n->anchors && !--n->anchors && !n->tree)
			node_free(in, n, true);
	}
	free(old);
}

static void unanchor(struct in *in, struct in_root *r)
{
	size_t i;

	for (i = 0; i < r->nanch; i++) {
		struct in_node *n = node_find(in, r->anch[i]);

		if (n && n->anchors && !--n->anchors && !n->tree)
			node_free(in, n, true);
	}
	free(r->anch);
	r->anch = NULL;
	r->nanch = 0;
}

/* Brings r in line with the filesystem: ancestor watches, ROOT_GONE when
 * its directory went away (or was replaced), a tree when it is back. */
static void refresh(struct in *in, struct in_root *r, enum refresh_why why)
{
	struct stat sb;
	bool isdir;

	r->dirty = false;
	anchor(in, r);
	/* After the anchors: a root created meanwhile is seen now or by an
	 * anchor event. */
	isdir = lstat(r->loc.path, &sb) == 0 && S_ISDIR(sb.st_mode);
	if (r->present_dir && (!isdir || sb.st_dev != r->dev ||
			       sb.st_ino != r->ino)) {
		if (r->top)
			teardown(in, r->top);
		r->top = NULL;
		r->present_dir = false;
		emit1(in, DITTO_CAPTURE_ROOT_GONE, DITTO_CAPTURE_IS_DIR,
		      r->loc.path);
	}
	if (!isdir)
		return;
	if (!r->top && !tree_find(in, r->loc.path)) {
		struct in_node *top = NULL;

		if (scan(in, NULL, r->loc.path,
			 why == WHY_CREATED_SELF ? SCAN_CREATED : SCAN_SILENT,
			 0, 0, false, &top) < 0)
			overflow_under(in, r->loc.path, r->loc.len);
		r->top = top;
		/* It was watched all along by an outer root that is gone:
		 * the handover may have missed something. */
		if (r->present_dir)
			overflow_under(in, r->loc.path, r->loc.len);
	}
	if (!r->present_dir) {
		r->present_dir = true;
		r->dev = sb.st_dev;
		r->ino = sb.st_ino;
		if (why == WHY_OTHER)
			emit1(in, DITTO_CAPTURE_MOVED_TO, DITTO_CAPTURE_IS_DIR,
			      r->loc.path);
	}
}

/* A directory event at path: roots at or beneath it may have come or
 * gone. */
static void affect_roots(struct in *in, const char *path, size_t plen,
			 enum refresh_why why_self)
{
	size_t i;

	for (i = 0; i < in->nroots; i++) {
		struct in_root *r = &in->roots[i];

		if (plugin_path_under(r->loc.path, r->loc.len, path, plen))
			refresh(in, r,
				r->loc.len == plen ? why_self : WHY_OTHER);
	}
}

static void refresh_dirty(struct in *in)
{
	size_t i;

	if (!in->any_dirty)
		return;
	in->any_dirty = false;
	for (i = 0; i < in->nroots; i++)
		if (in->roots[i].dirty)
			refresh(in, &in->roots[i], WHY_OTHER);
}

/* ---- events --------------------------------------------------------------- */

static void pending_clear(struct in *in)
{
	free(in->pend.name);
	free(in->pend.path);
	memset(&in->pend, 0, sizeof(in->pend));
}

/* An IN_MOVED_FROM without its pair: the entry left for somewhere we do
 * not watch. */
static void pending_flush(struct in *in)
{
	struct in_pending *p = &in->pend;
	struct in_node *n, *m;

	if (!p->active)
		return;
	n = node_find(in, p->wd);
	if (p->isdir && n && n->tree && (m = node_child(n, p->name)))
		teardown(in, m);
	if (in_roots(in, p->path, p->plen))
		emit1(in, DITTO_CAPTURE_MOVED_FROM,
		      p->isdir ? DITTO_CAPTURE_IS_DIR : 0, p->path);
	if (p->isdir)
		affect_roots(in, p->path, p->plen, WHY_OTHER);
	pending_clear(in);
}

static void do_moved_to(struct in *in, struct in_node *node, const char *name,
			const char *path, size_t plen, bool isdir)
{
	struct in_pending *p = &in->pend;
	uint32_t fl = isdir ? DITTO_CAPTURE_IS_DIR : 0;
	struct in_node *n1 = NULL, *m = NULL, *old;
	bool paired = p->active, in1 = false, in2 = in_roots(in, path, plen);

	if (paired) {
		n1 = node_find(in, p->wd);
		in1 = in_roots(in, p->path, p->plen);
		if (isdir && n1 && n1->tree)
			m = node_child(n1, p->name);
	}
	if (isdir && node->tree) {
		/* A directory replaced by the rename goes now; its own
		 * IN_IGNORED finds nothing. */
		old = node_child(node, name);
		if (old && old != m)
			teardown(in, old);
		if (m) {
			char *nm = strdup(name);

			if (nm) {
				node_unlink(m);
				free(m->name);
				m->name = nm;
				node_link(node, m);
			} else {
				teardown(in, m);
				m = NULL;
			}
		}
		if (!m) {
			/* Watch it before reporting it: the agent resyncs a
			 * MOVED_TO subtree and must not miss what follows. */
			if (scan(in, node, path, SCAN_SILENT, 0, node->dev,
				 true, NULL) < 0)
				overflow_under(in, path, plen);
		}
	} else if (m) {
		teardown(in, m);
	}
	if (in1 && in2)
		plugin_emit2(&in->em, DITTO_CAPTURE_RENAME, fl, p->path,
			     p->plen, path, plen);
	else if (in1)
		emit1(in, DITTO_CAPTURE_MOVED_FROM, fl, p->path);
	else if (in2)
		emit1(in, DITTO_CAPTURE_MOVED_TO, fl, path);
	if (isdir && paired)
		affect_roots(in, p->path, p->plen, WHY_OTHER);
	if (isdir)
		affect_roots(in, path, plen,
			     in2 ? WHY_MOVED_SELF : WHY_OTHER);
	pending_clear(in);
}

static void do_named(struct in *in, struct in_node *node, uint32_t mask,
		     uint32_t cookie, const char *name)
{
	bool isdir = (mask & IN_ISDIR) != 0;
	uint32_t fl = isdir ? DITTO_CAPTURE_IS_DIR : 0;
	char *dir, *path;
	size_t plen;
	bool in_r;

	if (in->pend.active &&
	    !((mask & IN_MOVED_TO) && cookie == in->pend.cookie))
		pending_flush(in);
	dir = node_path(node);
	path = dir ? join(dir, name) : NULL;
	free(dir);
	if (!path) {
		plugin_log(in->host, DITTO_CAPTURE_LOG_ERROR,
			   "inotify: out of memory");
		overflow_under(in, "/", 1);
		return;
	}
	plen = strlen(path);
	in_r = in_roots(in, path, plen);
	if (mask & IN_MOVED_FROM) {
		in->pend.name = strdup(name);
		if (!in->pend.name) {
			overflow_under(in, path, plen);
			free(path);
			return;
		}
		in->pend.active = true;
		in->pend.isdir = isdir;
		in->pend.cookie = cookie;
		in->pend.wd = node->wd;
		in->pend.path = path;
		in->pend.plen = plen;
		return;
	}
	if (mask & IN_MOVED_TO) {
		if (in->pend.active && in->pend.isdir != isdir)
			pending_flush(in);
		do_moved_to(in, node, name, path, plen, isdir);
	} else if (mask & IN_CREATE) {
		if (isdir && node->tree) {
			/* Watch first, then report, then list. */
			if (scan(in, node, path, SCAN_CREATED,
				 DITTO_CAPTURE_CREATE, node->dev, true,
				 NULL) < 0)
				overflow_under(in, path, plen);
		} else if (in_r) {
			emit1(in, DITTO_CAPTURE_CREATE, fl, path);
		}
		if (isdir)
			affect_roots(in, path, plen, WHY_CREATED_SELF);
	} else if (mask & IN_DELETE) {
		struct in_node *c;

		if (isdir && node->tree && (c = node_child(node, name)))
			teardown(in, c);
		if (in_r)
			emit1(in, DITTO_CAPTURE_DELETE, fl, path);
		if (isdir)
			affect_roots(in, path, plen, WHY_OTHER);
	} else if (in_r) {
		if (mask & IN_MODIFY)
			emit1(in, DITTO_CAPTURE_MODIFY, fl, path);
		if (mask & IN_ATTRIB)
			emit1(in, DITTO_CAPTURE_ATTRIB, fl, path);
		if (mask & IN_CLOSE_WRITE)
			emit1(in, DITTO_CAPTURE_CLOSE_WRITE, fl, path);
	}
	free(path);
}

static void mark_all_dirty(struct in *in)
{
	size_t i;

	for (i = 0; i < in->nroots; i++)
		in->roots[i].dirty = true;
	in->any_dirty = true;
}

/* Events were lost: the trees may lack directories made meanwhile, so
 * they are rebuilt before every root is reported for resync. */
static void overflowed(struct in *in)
{
	size_t i;

	plugin_log(in->host, DITTO_CAPTURE_LOG_WARNING,
		   "inotify: event queue overflowed; resyncing every root");
	pending_clear(in);
	for (i = 0; i < in->nroots; i++)
		if (in->roots[i].top)
			teardown(in, in->roots[i].top);
	for (i = 0; i < in->nroots; i++)
		refresh(in, &in->roots[i], WHY_MOVED_SELF);
	for (i = 0; i < in->nroots; i++)
		if (!in->roots[i].ovf) {
			in->roots[i].ovf = true;
			emit1(in, DITTO_CAPTURE_OVERFLOW, 0,
			      in->roots[i].loc.path);
		}
}

static void do_self(struct in *in, struct in_node *n, uint32_t mask)
{
	struct in_root *r;

	if (mask & IN_UNMOUNT) {
		mark_all_dirty(in);
		return;
	}
	r = n->tree && !n->parent ? root_of_top(in, n) : NULL;
	if (mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		/* The parent's event normally says it; this covers a root
		 * whose parent cannot be watched, and moved anchors. */
		if (r || !n->tree) {
			if (r)
				r->dirty = true;
			else
				mark_all_dirty(in);
			in->any_dirty = true;
		}
		return;
	}
	/* A root's own attributes: its watched parent reports them with a
	 * name, so only speak when nobody else does. */
	if (r && !r->parent_anchored && (mask & IN_ATTRIB))
		emit1(in, DITTO_CAPTURE_ATTRIB, DITTO_CAPTURE_IS_DIR,
		      r->loc.path);
}

/* Handles the events in buf[0..len). */
static void process(struct in *in, size_t len)
{
	size_t off = 0;

	while (len - off >= sizeof(struct inotify_event)) {
		struct inotify_event ev;
		const char *name;
		struct in_node *n;

		memcpy(&ev, in->buf.b + off, sizeof(ev));
		if (ev.len > len - off - sizeof(ev))
			break;
		name = in->buf.b + off + sizeof(ev);
		off += sizeof(ev) + ev.len;
		if (ev.mask & IN_Q_OVERFLOW) {
			overflowed(in);
			continue;
		}
		n = node_find(in, ev.wd);
		if (ev.mask & IN_IGNORED) {
			if (n) {
				if (n->anchors)
					mark_all_dirty(in);
				node_free(in, n, false);
			}
			continue;
		}
		if (!n || (!n->tree && !n->anchors))
			continue;	/* inert: watch on its way out */
		if (!ev.len || !name[0] || !memchr(name, '\0', ev.len)) {
			do_self(in, n, ev.mask);
			continue;
		}
		do_named(in, n, ev.mask, ev.cookie, name);
	}
}

static int in_read(void *st, ditto_capture_emit_fn emit, void *ctx)
{
	struct in *in = st;
	int rounds, ret = -1;
	size_t i;

	plugin_emit_begin(&in->em, emit, ctx);
	for (i = 0; i < in->nroots; i++)
		in->roots[i].ovf = false;
	refresh_dirty(in);
	for (rounds = 0; rounds < IN_BUFS_PER_READ; rounds++) {
		ssize_t n = read(in->fd, in->buf.b, sizeof(in->buf.b));

		if (n < 0 && errno == EINTR) {
			rounds--;
			continue;
		}
		if (n < 0 && errno != EAGAIN) {
			plugin_log(in->host, DITTO_CAPTURE_LOG_ERROR,
				   "inotify: read: %s", strerror(errno));
			goto done;
		}
		if (n <= 0)
			break;
		process(in, (size_t)n);
	}
	/* A MOVED_FROM at the very end: its pair may be queued by now. */
	if (in->pend.active) {
		ssize_t n = read(in->fd, in->buf.b, sizeof(in->buf.b));

		if (n > 0)
			process(in, (size_t)n);
		pending_flush(in);
	}
	refresh_dirty(in);
	ret = in->em.n;
done:
	plugin_emit_end(&in->em);
	return ret;
}

/* ---- setup ---------------------------------------------------------------- */

static void in_close(void *st)
{
	struct in *in = st;
	size_t i;

	if (!in)
		return;
	if (in->fd >= 0)
		close(in->fd);	/* drops every watch at once */
	in->fd = -1;
	for (i = 0; i < in->hcap; i++) {
		struct in_node *n = in->hash[i], *nx;

		for (; n; n = nx) {
			nx = n->hnext;
			free(n->name);
			free(n);
		}
	}
	for (i = 0; i < in->nroots; i++) {
		plugin_root_free(&in->roots[i].loc);
		free(in->roots[i].anch);
	}
	pending_clear(in);
	free(in->hash);
	free(in->roots);
	free(in);
}

static int in_open(void **state, const struct ditto_capture_host *host,
		   char *err, size_t errlen)
{
	struct in *in = NULL;
	int ret = -1;

	*state = NULL;
	if (plugin_check_host(host, "inotify", err, errlen) < 0)
		goto done;
	in = calloc(1, sizeof(*in));
	if (!in) {
		plugin_seterr(err, errlen, "inotify: out of memory");
		goto done;
	}
	in->host = host;
	in->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in->fd < 0) {
		plugin_seterr(err, errlen, "inotify_init1: %s%s",
			      strerror(errno), errno == EMFILE ?
			      " (fs.inotify.max_user_instances reached)" : "");
		goto done;
	}
	*state = in;
	in = NULL;
	ret = 0;
done:
	in_close(in);
	return ret;
}

static int in_add_root(void *st, const char *path, char *err, size_t errlen)
{
	struct in *in = st;
	struct in_root *r, *nr;
	struct stat sb;
	struct plugin_root loc;
	int init;

	init = plugin_root_init(&loc, in->roots, in->nroots,
				sizeof(*in->roots), path, "inotify", err,
				errlen);
	if (init)
		return init < 0 ? -1 : 0;	/* failed, or already a root */
	nr = realloc(in->roots, (in->nroots + 1) * sizeof(*nr));
	if (!nr) {
		plugin_seterr(err, errlen, "inotify: out of memory");
		plugin_root_free(&loc);
		return -1;
	}
	in->roots = nr;
	r = &in->roots[in->nroots++];
	memset(r, 0, sizeof(*r));
	r->loc = loc;
	anchor(in, r);
	if (lstat(r->loc.path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		r->present_dir = true;
		r->dev = sb.st_dev;
		r->ino = sb.st_ino;
		in->enospc_logged = false;
		/* Nested in another root's tree: nothing more to watch. */
		if (!tree_find(in, r->loc.path) &&
		    scan(in, NULL, r->loc.path, SCAN_SILENT, 0, 0, false,
			 &r->top) < 0) {
			plugin_seterr(err, errlen, "inotify: watch limit "
				      "reached (fs.inotify.max_user_watches = "
				      "%ld) while watching %s: raise it or use "
				      "the fanotify plugin", max_watches(),
				      r->loc.path);
			if (r->top)
				teardown(in, r->top);
			unanchor(in, r);
			plugin_root_free(&r->loc);
			in->nroots--;
			return -1;
		}
	}
	return 0;
}

static int cmp_len(const void *a, const void *b)
{
	const struct in_root *x = *(struct in_root *const *)a;
	const struct in_root *y = *(struct in_root *const *)b;

	return (x->loc.len > y->loc.len) - (x->loc.len < y->loc.len);
}

/* Is n in the tree whose top is top? */
static bool hangs_from(const struct in_node *n, const struct in_node *top)
{
	while (n->parent)
		n = n->parent;
	return n == top;
}

static int in_remove_root(void *st, const char *path)
{
	struct in *in = st;
	struct in_root *r, **inner = NULL;
	size_t i, ninner = 0;

	/* loc is first: the plugin_root found is an in_root's */
	r = (struct in_root *)plugin_roots_lookup(in->roots, in->nroots,
						  sizeof(*in->roots), path);
	if (!r)
		return -1;	/* errno ENOENT */
	if (r->top) {
		/* Roots nested in it keep their part of the tree: outermost
		 * first, each detached as a top of its own. */
		inner = calloc(in->nroots, sizeof(*inner));
		for (i = 0; inner && i < in->nroots; i++)
			if (&in->roots[i] != r && !in->roots[i].top &&
			    plugin_path_under(in->roots[i].loc.path,
					      in->roots[i].loc.len, r->loc.path,
					      r->loc.len))
				inner[ninner++] = &in->roots[i];
		if (inner)
			qsort(inner, ninner, sizeof(*inner), cmp_len);
		for (i = 0; i < ninner; i++) {
			struct in_node *n = tree_find(in, inner[i]->loc.path);
			char *nm;

			if (!n || !n->parent || !hangs_from(n, r->top) ||
			    !(nm = strdup(inner[i]->loc.path)))
				continue;
			node_unlink(n);
			free(n->name);
			n->name = nm;
			inner[i]->top = n;
		}
		free(inner);
		teardown(in, r->top);
		r->top = NULL;
	}
	unanchor(in, r);
	plugin_root_free(&r->loc);
	*r = in->roots[--in->nroots];
	/* Anything nested that lost its watcher is rebuilt at next read. */
	for (i = 0; i < in->nroots; i++)
		if (in->roots[i].present_dir && !in->roots[i].top &&
		    !tree_find(in, in->roots[i].loc.path)) {
			in->roots[i].dirty = true;
			in->any_dirty = true;
		}
	return 0;
}

static int in_get_fd(void *st)
{
	return ((struct in *)st)->fd;
}

static const struct ditto_capture_ops inotify_ops = {
	.abi_version = DITTO_CAPTURE_ABI_VERSION,
	.struct_size = sizeof(struct ditto_capture_ops),
	.name = "inotify",
	.description = "inotify watches on every directory (no privileges "
		       "needed; fallback)",
	.open = in_open,
	.add_root = in_add_root,
	.remove_root = in_remove_root,
	.get_fd = in_get_fd,
	.read = in_read,
	.close = in_close,
};

PLUGIN_EXPORT const struct ditto_capture_ops *ditto_capture_plugin(void)
{
	return &inotify_ops;
}
