#include "config.h"

#include "orphans.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xxhash.h>

#define SET_MIN_CAP 64       /* slots; always a power of two */
#define SUFFIX_MAX 100000u   /* ".N" names tried before a move gives up */

/* --- the name set ------------------------------------------------------------ */

/* Open addressing with linear probing, at most half full. Names live back to
 * back in one arena, so 100,000 names cost two allocations, not 100,000. */
struct slot {
	uint64_t hash;
	size_t off;   /* of the name in the arena */
	uint32_t len; /* 0: empty slot (names are never empty) */
};

struct orphans_set {
	struct slot *slots;
	size_t cap, count;
	struct util_buf names;
	uint64_t seed;
};

static bool valid_name(const char *name, size_t len)
{
	return name && len >= 1 && len <= NAME_MAX && !memchr(name, '/', len) &&
	       !memchr(name, '\0', len);
}

static uint64_t name_hash(const struct orphans_set *s, const char *name,
			  size_t len)
{
	return XXH3_64bits_withSeed(name, len, s->seed);
}

/* The slot holding name, or the empty slot where it would go. */
static size_t find_slot(const struct orphans_set *s, const char *name,
			size_t len, uint64_t h)
{
	size_t mask = s->cap - 1, i = (size_t)h & mask;
	const struct slot *e;

	for (;; i = (i + 1) & mask) {
		e = &s->slots[i];
		if (e->len == 0)
			return i;
		if (e->hash == h && e->len == len &&
		    memcmp(s->names.data + e->off, name, len) == 0)
			return i;
	}
}

static void grow(struct orphans_set *s)
{
	struct slot *old = s->slots;
	size_t oldcap = s->cap, i, j, mask;

	s->cap = oldcap * 2;
	s->slots = util_xcalloc(s->cap, sizeof(*s->slots));
	mask = s->cap - 1;
	for (i = 0; i < oldcap; i++) {
		if (old[i].len == 0)
			continue;
		for (j = (size_t)old[i].hash & mask; s->slots[j].len;
		     j = (j + 1) & mask)
			;
		s->slots[j] = old[i];
	}
	free(old);
}

struct orphans_set *orphans_set_new(void)
{
	struct orphans_set *s = util_xcalloc(1, sizeof(*s));

	s->cap = SET_MIN_CAP;
	s->slots = util_xcalloc(s->cap, sizeof(*s->slots));
	util_buf_init(&s->names);
	/* Names come from a peer: a per-set seed keeps a crafted list of
	 * colliding names from turning lookups linear. */
	s->seed = util_now_mono_ns() ^ ((uint64_t)(uintptr_t)s *
					0x9e3779b97f4a7c15ULL);
	return s;
}

void orphans_set_free(struct orphans_set *s)
{
	if (!s)
		return;
	free(s->slots);
	util_buf_free(&s->names);
	free(s);
}

void orphans_set_clear(struct orphans_set *s)
{
	if (!s)
		return;
	memset(s->slots, 0, s->cap * sizeof(*s->slots));
	s->count = 0;
	util_buf_reset(&s->names);
}

int orphans_set_add(struct orphans_set *s, const char *name, size_t len)
{
	uint64_t h;
	size_t i;

	if (!s || !valid_name(name, len)) {
		errno = EINVAL;
		return -1;
	}
	if ((s->count + 1) * 2 > s->cap)
		grow(s);
	h = name_hash(s, name, len);
	i = find_slot(s, name, len, h);
	if (s->slots[i].len)
		return 0; /* already there */
	s->slots[i].hash = h;
	s->slots[i].off = s->names.len;
	s->slots[i].len = (uint32_t)len;
	util_buf_append(&s->names, name, len);
	s->count++;
	return 0;
}

bool orphans_set_has(const struct orphans_set *s, const char *name, size_t len)
{
	if (!s || !valid_name(name, len))
		return false;
	return s->slots[find_slot(s, name, len, name_hash(s, name, len))].len != 0;
}

size_t orphans_set_count(const struct orphans_set *s)
{
	return s ? s->count : 0;
}

/* --- helpers ------------------------------------------------------------------ */

struct names {
	char **v;
	size_t n, cap;
};

static void names_add(struct names *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = util_xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

static void names_free(struct names *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Reads every entry of directory fd (but "." and "..", the names in keep and
 * the one equal to skip) into out. The listing is taken whole before anything
 * is changed, so removals and renames never disturb the readdir. */
static int list_dir(int fd, struct names *out, const struct orphans_set *keep,
		    const char *skip, size_t skiplen)
{
	struct dirent *e;
	DIR *d;
	size_t n;
	int dup_fd, rc = 0;

	/* A duplicate for the DIR, so the caller's fd stays usable. */
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return -errno;
	d = fdopendir(dup_fd);
	if (!d) {
		rc = -errno;
		close(dup_fd);
		return rc;
	}
	rewinddir(d);
	for (errno = 0; (e = readdir(d)); errno = 0) {
		n = strlen(e->d_name);
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (keep && orphans_set_has(keep, e->d_name, n))
			continue;
		if (skip && n == skiplen && memcmp(e->d_name, skip, n) == 0)
			continue;
		names_add(out, util_xstrndup(e->d_name, n));
	}
	if (errno)
		rc = -errno;
	closedir(d);
	return rc;
}

/* Opens one name in dfd as a directory, never following a symlink and never
 * leaving dfd (name is a single component, but be strict anyway). */
static int open_in(int dfd, const char *name)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	int tries = 0;
	long fd;

	do
		fd = syscall(SYS_openat2, dfd, name, &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || errno == EAGAIN) && ++tries < 8);
	return fd < 0 ? -errno : (int)fd;
}

/* Opens path (len bytes, 0 = base itself) beneath base, creating missing
 * components 0755 one at a time, each on a confined parent fd. A symlink or
 * non-directory in the way fails (-ELOOP, -ENOTDIR). */
static int walk_create(int base, const char *path, size_t len)
{
	char comp[NAME_MAX + 1];
	const char *c = path, *end = path + len, *s;
	size_t n;
	int cur, fd;

	cur = open_in(base, ".");
	while (cur >= 0 && c < end) {
		s = memchr(c, '/', (size_t)(end - c));
		n = s ? (size_t)(s - c) : (size_t)(end - c);
		if (n == 0 || n > NAME_MAX) {
			close(cur);
			return n ? -ENAMETOOLONG : -EINVAL;
		}
		memcpy(comp, c, n);
		comp[n] = '\0';
		fd = open_in(cur, comp);
		if (fd == -ENOENT) {
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
				fd = -errno;
			else
				fd = open_in(cur, comp);
		}
		close(cur);
		cur = fd;
		c = s ? s + 1 : end;
	}
	return cur;
}

/* The same rules as an op path (apply.h): relative, no empty, "." or ".."
 * component, no NUL, at most DITTO_PATH_MAX bytes. */
static bool valid_rel(const char *p, size_t len)
{
	const char *c, *end, *s;
	size_t n;

	if (!p || len == 0 || len > DITTO_PATH_MAX || memchr(p, '\0', len) ||
	    p[0] == '/')
		return false;
	end = p + len;
	for (c = p;; c = s + 1) {
		s = memchr(c, '/', (size_t)(end - c));
		n = s ? (size_t)(s - c) : (size_t)(end - c);
		if (n == 0 || n > NAME_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!s)
			return true;
	}
}

/* --- one run of orphans_process ------------------------------------------------- */

struct run {
	struct apply_root *r;
	const struct orphans_policy *p;
	struct orphans_stats *st;
	orphans_report_fn report;
	void *ctx;
	struct util_buf rel;     /* the entry at hand, relative to the root */
	int mv_fd;               /* the move dir, opened on first use */
	int mv_err;              /* why it could not be, not retried */
	int dst_fd;              /* <move dir>/<dst_rel>, for the last parent */
	struct util_buf dst_rel;
	bool dst_valid;
};

static void say(struct run *w, const char *rel, size_t len, bool is_dir,
		uint64_t bytes, int err)
{
	if (w->report)
		w->report(w->ctx, rel, len, is_dir, bytes, w->p->action, err);
}

static void fail(struct run *w, const char *rel, size_t len, bool is_dir,
		 int err)
{
	w->st->errors++;
	say(w, rel, len, is_dir, 0, err);
}

static size_t rel_push(struct run *w, const char *name)
{
	size_t old = w->rel.len;

	if (old)
		util_buf_append(&w->rel, "/", 1);
	util_buf_puts(&w->rel, name);
	return old;
}

static void rel_pop(struct run *w, size_t len)
{
	w->rel.len = len;
	w->rel.data[len] = '\0';
}

static bool is_young(const struct run *w, const struct stat *st)
{
	int64_t age;

	if (w->p->min_age_s == 0)
		return false;
	age = (int64_t)w->p->now - (int64_t)st->st_mtim.tv_sec;
	return age < 0 || (uint64_t)age <= w->p->min_age_s;
}

static int open_move_dir(struct run *w)
{
	int fd, root;

	if (w->mv_fd >= 0)
		return w->mv_fd;
	if (w->mv_err)
		return -w->mv_err;
	fd = apply_open_beneath(w->r, w->p->move_dir, w->p->move_dir_len,
				O_RDONLY | O_DIRECTORY);
	if (fd == -ENOENT) {
		root = apply_open_beneath(w->r, "", 0, O_RDONLY | O_DIRECTORY);
		if (root < 0) {
			fd = root;
		} else {
			fd = walk_create(root, w->p->move_dir,
					 w->p->move_dir_len);
			close(root);
		}
	}
	if (fd < 0)
		w->mv_err = -fd;
	else
		w->mv_fd = fd;
	return fd;
}

/* The directory <move dir>/<parent> (created if missing), kept open while
 * entries of the same parent are moved. Borrowed: do not close. */
static int dst_open(struct run *w, const char *parent, size_t plen)
{
	int mv, fd;

	if (w->dst_valid && w->dst_rel.len == plen &&
	    memcmp(w->dst_rel.data, parent, plen) == 0)
		return w->dst_fd;
	if (w->dst_valid) {
		close(w->dst_fd);
		w->dst_valid = false;
	}
	mv = open_move_dir(w);
	if (mv < 0)
		return mv;
	fd = walk_create(mv, parent, plen);
	if (fd < 0)
		return fd;
	util_buf_reset(&w->dst_rel);
	util_buf_append(&w->dst_rel, parent, plen);
	w->dst_fd = fd;
	w->dst_valid = true;
	return fd;
}

/* rename without replacing: 0, -EEXIST when dname is taken, or -errno. */
static int rename_new(int sfd, const char *name, int dfd, const char *dname,
		      bool *noreplace)
{
	struct stat st;

	if (*noreplace) {
		if (renameat2(sfd, name, dfd, dname, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL)
			return -errno;
		/* This file system lacks RENAME_NOREPLACE: look, then rename;
		 * the window is only against local writers of the move dir. */
		*noreplace = false;
	}
	if (fstatat(dfd, dname, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	if (errno != ENOENT)
		return -errno;
	return renameat(sfd, name, dfd, dname) < 0 ? -errno : 0;
}

/* Moves entry name of sfd (w->rel is its path, its parent the first plen
 * bytes) to <move dir>/<w->rel>, or to the first free "<name>.N". merge: the
 * entry is an emptied directory; a directory already at the destination (its
 * entries were moved there) takes its place, so it is removed instead. */
static int move_entry(struct run *w, int sfd, const char *name, size_t plen,
		      bool merge)
{
	char dname[NAME_MAX + 1];
	bool noreplace = true;
	struct stat st;
	unsigned i;
	int dfd, n, rc;

	dfd = dst_open(w, w->rel.data, plen);
	if (dfd < 0)
		return dfd;
	for (i = 0; i < SUFFIX_MAX; i++) {
		n = i ? snprintf(dname, sizeof(dname), "%s.%u", name, i)
		      : snprintf(dname, sizeof(dname), "%s", name);
		if (n < 0 || (size_t)n >= sizeof(dname))
			return -ENAMETOOLONG;
		rc = rename_new(sfd, name, dfd, dname, &noreplace);
		if (rc != -EEXIST)
			return rc;
		if (i == 0 && merge &&
		    fstatat(dfd, dname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			return unlinkat(sfd, name, AT_REMOVEDIR) < 0 ? -errno
								     : 0;
	}
	return -EEXIST;
}

/* Applies the action to entry name of dfd (w->rel its path, parent plen
 * bytes). whole: a directory handled with its tree of n entries. True when
 * the entry is gone (or, for LOG, would be). */
static bool act(struct run *w, int dfd, const char *name, size_t plen,
		bool is_dir, bool whole, uint64_t bytes, uint64_t n)
{
	struct stat st;
	int rc = 0;

	switch (w->p->action) {
	case ORPHANS_ACTION_LOG:
		say(w, w->rel.data, w->rel.len, is_dir, bytes, 0);
		return true;
	case ORPHANS_ACTION_DELETE:
		if (whole)
			rc = apply_remove_at(dfd, name);
		else if (unlinkat(dfd, name, is_dir ? AT_REMOVEDIR : 0) < 0)
			rc = -errno;
		break;
	case ORPHANS_ACTION_MOVE:
		rc = move_entry(w, dfd, name, plen, is_dir && !whole);
		break;
	}
	/* Gone meanwhile (and not a missing destination): nothing to do. */
	if (rc == -ENOENT && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT)
		return true;
	/* An emptied directory that got a new entry meanwhile: it stays. */
	if (is_dir && !whole && (rc == -ENOTEMPTY || rc == -EEXIST))
		return false;
	if (rc < 0) {
		fail(w, w->rel.data, w->rel.len, is_dir, -rc);
		return false;
	}
	if (w->p->action == ORPHANS_ACTION_DELETE)
		w->st->deleted += n;
	else
		w->st->moved += n;
	say(w, w->rel.data, w->rel.len, is_dir, bytes, 0);
	return true;
}

/* Counts the tree of directory w->rel, itself included, for statistics. Reads
 * one directory at a time by its path, so depth costs no file descriptors. A
 * subdirectory that cannot be read is reported and missing from the counts. */
static void count_tree(struct run *w, uint64_t *files, uint64_t *dirs,
		       uint64_t *bytes)
{
	struct names todo = { 0 };
	struct dirent *e;
	struct stat st;
	char *path, *sub;
	DIR *d;
	int fd;

	*files = *bytes = 0;
	*dirs = 1;
	names_add(&todo, util_xstrdup(w->rel.data));
	while (todo.n) {
		path = todo.v[--todo.n];
		fd = apply_open_beneath(w->r, path, strlen(path),
					O_RDONLY | O_DIRECTORY);
		d = fd < 0 ? NULL : fdopendir(fd);
		if (!d) {
			if (fd >= 0) {
				int saved = errno;

				close(fd);
				fd = -saved;
			}
			if (fd != -ENOENT)
				fail(w, path, strlen(path), true, -fd);
			free(path);
			continue;
		}
		for (errno = 0; (e = readdir(d)); errno = 0) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			sub = util_xasprintf("%s/%s", path, e->d_name);
			if (fstatat(dirfd(d), e->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno != ENOENT)
					fail(w, sub, strlen(sub), false, errno);
				free(sub);
			} else if (S_ISDIR(st.st_mode)) {
				(*dirs)++;
				names_add(&todo, sub);
			} else {
				(*files)++;
				if (S_ISREG(st.st_mode))
					*bytes += (uint64_t)st.st_size;
				free(sub);
			}
		}
		if (errno)
			fail(w, path, strlen(path), true, errno);
		closedir(d);
		free(path);
	}
	names_free(&todo);
}

static bool handle_one(struct run *w, int *dfd, const char *name);

/* Walks orphan directory w->rel under an age limit. True when every entry in
 * it went (would go, for LOG), so the directory itself may follow. */
static bool aged_dir(struct run *w)
{
	struct names l = { 0 };
	bool all = true;
	size_t i;
	int fd, rc;

	fd = apply_open_beneath(w->r, w->rel.data, w->rel.len,
				O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		if (fd != -ENOENT)
			fail(w, w->rel.data, w->rel.len, true, -fd);
		return false;
	}
	rc = list_dir(fd, &l, NULL, NULL, 0);
	if (rc < 0) {
		fail(w, w->rel.data, w->rel.len, true, -rc);
		all = false;
	}
	for (i = 0; i < l.n && fd >= 0; i++)
		if (!handle_one(w, &fd, l.v[i]))
			all = false;
	if (i < l.n)
		all = false;
	if (fd >= 0)
		close(fd);
	names_free(&l);
	return all;
}

/* Handles orphan name in directory *dfd, whose path is w->rel. *dfd is closed
 * while a subdirectory is walked (one fd whatever the depth) and reopened by
 * path; -1 if that fails. True when the entry is gone (would be, for LOG). */
static bool handle_one(struct run *w, int *dfd, const char *name)
{
	struct orphans_stats *st = w->st;
	uint64_t f, d, b, size;
	bool gone = false, all;
	size_t plen;
	struct stat sb;

	plen = rel_push(w, name);
	if (fstatat(*dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			gone = true;
		else
			fail(w, w->rel.data, w->rel.len, false, errno);
		goto done;
	}
	if (!S_ISDIR(sb.st_mode)) {
		size = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
		st->found++;
		st->files++;
		st->bytes += size;
		if (is_young(w, &sb))
			st->young++;
		else
			gone = act(w, *dfd, name, plen, false, false, size, 1);
		goto done;
	}
	if (w->p->min_age_s == 0) {
		count_tree(w, &f, &d, &b);
		st->found += f + d;
		st->files += f;
		st->dirs += d;
		st->bytes += b;
		gone = act(w, *dfd, name, plen, true, true, b, f + d);
		goto done;
	}
	st->found++;
	st->dirs++;
	close(*dfd);
	all = aged_dir(w);
	*dfd = apply_open_beneath(w->r, w->rel.data, plen,
				  O_RDONLY | O_DIRECTORY);
	if (*dfd < 0) {
		fail(w, w->rel.data, plen, true, -*dfd);
		*dfd = -1;
		goto done;
	}
	if (!all)
		goto done;
	/* sb was taken before the walk changed the directory's mtime. */
	if (is_young(w, &sb))
		st->young++;
	else
		gone = act(w, *dfd, name, plen, true, false, 0, 1);
done:
	rel_pop(w, plen);
	return gone;
}

/* Is dir the move dir or inside it? */
static bool in_move_dir(const char *dir, size_t dirlen, const char *mv,
			size_t mvlen)
{
	return dirlen >= mvlen && memcmp(dir, mv, mvlen) == 0 &&
	       (dirlen == mvlen || dir[mvlen] == '/');
}

/* When dir is an ancestor of the move dir: the name of dir's entry that leads
 * to it (into *len); else NULL. */
static const char *move_dir_step(const char *dir, size_t dirlen,
				 const char *mv, size_t mvlen, size_t *len)
{
	const char *c, *s;

	if (dirlen) {
		if (mvlen <= dirlen + 1 || memcmp(dir, mv, dirlen) != 0 ||
		    mv[dirlen] != '/')
			return NULL;
		c = mv + dirlen + 1;
	} else {
		c = mv;
	}
	s = memchr(c, '/', (size_t)(mv + mvlen - c));
	*len = s ? (size_t)(s - c) : (size_t)(mv + mvlen - c);
	return c;
}

int orphans_process(struct apply_root *r, const char *dir, size_t dirlen,
		    const struct orphans_set *keep,
		    const struct orphans_policy *p, struct orphans_stats *st,
		    orphans_report_fn report, void *ctx)
{
	struct run w = {
		.r = r, .p = p, .st = st, .report = report, .ctx = ctx,
		.mv_fd = -1, .dst_fd = -1,
	};
	struct names l = { 0 };
	const char *skip = NULL;
	size_t mvlen, skiplen = 0, i;
	int dfd = -1, rc;

	util_buf_init(&w.rel);
	util_buf_init(&w.dst_rel);
	if (!r || !keep || !p || !st || (dirlen && !dir))
		return -EINVAL;
	if (p->action != ORPHANS_ACTION_LOG &&
	    p->action != ORPHANS_ACTION_DELETE &&
	    p->action != ORPHANS_ACTION_MOVE)
		return -EINVAL;
	mvlen = p->move_dir ? p->move_dir_len : 0;
	if ((p->action == ORPHANS_ACTION_MOVE && mvlen == 0) ||
	    (mvlen && !valid_rel(p->move_dir, mvlen)))
		return -EINVAL;

	/* Opening first also checks dir. */
	dfd = apply_open_beneath(r, dir, dirlen, O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		rc = dfd == -ENOENT ? 0 : dfd;
		goto done;
	}
	if (mvlen) {
		rc = 0;
		if (in_move_dir(dir, dirlen, p->move_dir, mvlen))
			goto done;
		skip = move_dir_step(dir, dirlen, p->move_dir, mvlen, &skiplen);
	}
	rc = list_dir(dfd, &l, keep, skip, skiplen);
	if (rc < 0)
		goto done;
	util_buf_append(&w.rel, dir, dirlen);
	for (i = 0; i < l.n && dfd >= 0; i++)
		handle_one(&w, &dfd, l.v[i]);
	rc = 0;
done:
	if (dfd >= 0)
		close(dfd);
	if (w.mv_fd >= 0)
		close(w.mv_fd);
	if (w.dst_valid)
		close(w.dst_fd);
	names_free(&l);
	util_buf_free(&w.rel);
	util_buf_free(&w.dst_rel);
	return rc;
}
