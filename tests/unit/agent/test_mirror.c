#include "config.h"

#include "mirror.h"
#include "op.h"
#include "util.h"

/* The real applier (agent/apply.c) is used when the build links it in;
 * weak references let this file link without it, and that test then skips. */
#pragma weak apply_root_open
#pragma weak apply_root_close
#pragma weak apply_op
#include "apply.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

/* --- op collection ------------------------------------------------------ */

struct tctx {
	const char *root;         /* source root: map strips it */
	size_t root_len;
	struct ditto_op *ops;
	size_t nops, cap;
	size_t abort_at;          /* emit fails when op #abort_at arrives */
	/* vanish test: the name to remove once a CREATE under vdir is seen */
	const char *vdir;
	bool vanished;
	/* per-step accounting */
	unsigned step_starts, step_writes, max_starts, max_writes;
	/* match test */
	const char *ex_dir, *ex_keep;
	unsigned warns;
	int last_warn;
	unsigned move_at;         /* rename the level-move_at directory away */
	bool moved;
	int fd_limit;             /* max fds allowed while walking (0: off) */
	int max_fds;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the opendir's own */
}

static int t_emit(void *ctx, const struct ditto_op *op)
{
	struct tctx *t = ctx;
	const char *why = NULL;
	struct ditto_op *c;

	cr_assert_eq(op_validate(op, &why), 0, "invalid %s op: %s",
		     op_kind_name(op->kind), why);
	if (t->abort_at && t->nops + 1 == t->abort_at)
		return -1;
	if (t->nops == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->ops = util_xreallocarray(t->ops, t->cap, sizeof(*t->ops));
	}
	c = &t->ops[t->nops++];
	cr_assert_eq(op_copy(c, op), 0);
	switch (op->kind) {
	case DITTO_OP_MKDIR:
	case DITTO_OP_CREATE:
	case DITTO_OP_SYMLINK:
	case DITTO_OP_MKNOD:
	case DITTO_OP_LINK:
		t->step_starts++;
		break;
	case DITTO_OP_WRITE:
		t->step_writes++;
		break;
	}
	if (t->vdir && !t->vanished && op->kind == DITTO_OP_CREATE &&
	    strncmp(op->path, "v/", 2) == 0) {
		/* Remove the sibling after readdir listed it, before the
		 * walker gets to open it. */
		char p[4096];

		snprintf(p, sizeof(p), "%s/%s", t->vdir,
			 strcmp(op->path, "v/a") == 0 ? "b" : "a");
		cr_assert_eq(unlink(p), 0);
		t->vanished = true;
	}
	if (t->move_at && !t->moved && op->kind == DITTO_OP_MKDIR &&
	    op->path_len == 2 * (t->move_at + 10) - 1) {
		/* Ten levels below it: move the level-move_at directory to
		 * the root, so ".." no longer leads back to its old parent. */
		char from[4096], to[4096];

		snprintf(from, sizeof(from), "%s/%.*s", t->root,
			 (int)(2 * t->move_at - 1), op->path);
		snprintf(to, sizeof(to), "%s/moved", t->root);
		cr_assert_eq(rename(from, to), 0, "%s", strerror(errno));
		t->moved = true;
	}
	if (t->fd_limit && op->kind == DITTO_OP_MKDIR) {
		int n = count_fds();

		if (n > t->max_fds)
			t->max_fds = n;
	}
	return 0;
}

static int t_map(void *ctx, const char *abs, size_t len, char *out,
		 size_t outlen)
{
	struct tctx *t = ctx;
	size_t n;

	if (len < t->root_len || memcmp(abs, t->root, t->root_len) != 0)
		return -1;
	if (len == t->root_len)
		return 0;
	if (abs[t->root_len] != '/')
		return -1;
	n = len - t->root_len - 1;
	if (n >= outlen)
		return -1;
	memcpy(out, abs + t->root_len + 1, n);
	return (int)n;
}

static void t_warn(void *ctx, const char *abs, size_t len, int err,
		   const char *what)
{
	struct tctx *t = ctx;

	(void)abs;
	(void)len;
	(void)what;
	t->warns++;
	t->last_warn = err;
}

static enum mirror_verdict t_match(void *ctx, const char *abs, size_t len,
				   bool is_dir)
{
	struct tctx *t = ctx;
	size_t el = strlen(t->ex_dir);

	(void)len;
	if (strcmp(abs, t->ex_dir) == 0)
		return is_dir ? MIRROR_DESCEND : MIRROR_SKIP;
	if (strncmp(abs, t->ex_dir, el) == 0 && abs[el] == '/')
		return strcmp(abs, t->ex_keep) == 0 ? MIRROR_INCLUDE
						    : MIRROR_SKIP;
	return MIRROR_INCLUDE;
}

static void tctx_free(struct tctx *t)
{
	size_t i;

	for (i = 0; i < t->nops; i++)
		op_free(&t->ops[i]);
	free(t->ops);
}

/* Runs a whole walk; returns the last step result and the step count. */
static int run_walk(struct tctx *t, const struct mirror_opts *o,
		    uint64_t bb, unsigned be, struct mirror_stats *st,
		    unsigned *nsteps)
{
	const char *roots[] = { t->root };
	char err[256];
	struct mirror_walk *w;
	unsigned n = 0;
	int r;

	w = mirror_walk_new(roots, 1, o, err, sizeof(err));
	cr_assert(w, "%s", err);
	do {
		t->step_starts = t->step_writes = 0;
		r = mirror_walk_step(w, bb, be);
		n++;
		if (t->step_starts > t->max_starts)
			t->max_starts = t->step_starts;
		if (t->step_writes > t->max_writes)
			t->max_writes = t->step_writes;
	} while (r == 1);
	if (r < 0)
		cr_assert_neq(mirror_walk_error(w)[0], '\0');
	cr_assert_eq(mirror_walk_step(w, bb, be), r, "result must stick");
	mirror_walk_stats(w, st);
	mirror_walk_free(w);
	if (nsteps)
		*nsteps = n;
	return r;
}

/* --- a test-only applier ------------------------------------------------ */

static void mkparents(int rfd, const char *p)
{
	char buf[DITTO_PATH_MAX + 1];
	char *s;

	util_strlcpy(buf, p, sizeof(buf));
	for (s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		cr_assert(mkdirat(rfd, buf, 0755) == 0 || errno == EEXIST);
		*s = '/';
	}
}

static void owner_mode(int rfd, const struct ditto_op *op, bool mode)
{
	cr_assert_eq(fchownat(rfd, op->path, op->uid, op->gid,
			      AT_SYMLINK_NOFOLLOW), 0, "chown %s", op->path);
	if (mode)
		cr_assert_eq(fchmodat(rfd, op->path, op->mode & 07777, 0), 0);
}

static int apply_open(int rfd, const char *p, int fl)
{
	int fd = openat(rfd, p, fl | O_NOFOLLOW | O_CLOEXEC, 0600);

	cr_assert(fd >= 0, "open %s: %s", p, strerror(errno));
	return fd;
}

static void t_apply(int rfd, const struct ditto_op *op, bool parents)
{
	struct timespec ts[2];
	struct stat st;
	int fd;

	if (parents && op->path && strchr(op->path, '/'))
		mkparents(rfd, op->path);
	switch (op->kind) {
	case DITTO_OP_MKDIR:
		cr_assert(mkdirat(rfd, op->path, 0700) == 0 || errno == EEXIST);
		owner_mode(rfd, op, true);
		break;
	case DITTO_OP_CREATE:
		close(apply_open(rfd, op->path, O_WRONLY | O_CREAT));
		owner_mode(rfd, op, true);
		break;
	case DITTO_OP_TRUNCATE:
		fd = apply_open(rfd, op->path, O_WRONLY);
		cr_assert_eq(ftruncate(fd, (off_t)op->off), 0);
		close(fd);
		break;
	case DITTO_OP_WRITE:
		fd = apply_open(rfd, op->path, O_WRONLY);
		cr_assert_eq(pwrite(fd, op->data, op->data_len, (off_t)op->off),
			     (ssize_t)op->data_len);
		close(fd);
		break;
	case DITTO_OP_MKNOD:
		cr_assert_eq(mknodat(rfd, op->path, op->mode, op->rdev), 0,
			     "mknod %s: %s", op->path, strerror(errno));
		owner_mode(rfd, op, true);
		break;
	case DITTO_OP_SYMLINK:
		cr_assert_eq(symlinkat(op->path2, rfd, op->path), 0);
		owner_mode(rfd, op, false);
		break;
	case DITTO_OP_LINK:
		cr_assert_eq(linkat(rfd, op->path2, rfd, op->path, 0), 0,
			     "link %s", op->path);
		break;
	case DITTO_OP_SETATTR:
		cr_assert_eq(fstatat(rfd, op->path, &st, AT_SYMLINK_NOFOLLOW),
			     0, "setattr on missing %s", op->path);
		cr_assert_eq(fchownat(rfd, op->path,
				      op->attr_mask & DITTO_ATTR_UID ? op->uid
								     : (uid_t)-1,
				      op->attr_mask & DITTO_ATTR_GID ? op->gid
								     : (gid_t)-1,
				      AT_SYMLINK_NOFOLLOW), 0);
		if ((op->attr_mask & DITTO_ATTR_MODE) && !S_ISLNK(st.st_mode))
			cr_assert_eq(fchmodat(rfd, op->path, op->mode, 0), 0);
		ts[0].tv_sec = op->atime_ns / 1000000000;
		ts[0].tv_nsec = op->atime_ns % 1000000000;
		ts[1].tv_sec = op->mtime_ns / 1000000000;
		ts[1].tv_nsec = op->mtime_ns % 1000000000;
		if (!(op->attr_mask & DITTO_ATTR_ATIME))
			ts[0].tv_nsec = UTIME_OMIT;
		if (!(op->attr_mask & DITTO_ATTR_MTIME))
			ts[1].tv_nsec = UTIME_OMIT;
		cr_assert_eq(utimensat(rfd, op->path, ts, AT_SYMLINK_NOFOLLOW),
			     0);
		break;
	case DITTO_OP_REMOVEXATTR: {
		char names[4096];
		ssize_t n, i;

		cr_assert(op->flags & DITTO_XATTR_ALL_EXCEPT);
		fd = apply_open(rfd, op->path, O_RDONLY | O_NONBLOCK);
		n = flistxattr(fd, names, sizeof(names));
		for (i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
			const char *k = (const char *)op->data;
			bool keep = false;

			for (; k < (const char *)op->data + op->data_len;
			     k += strlen(k) + 1)
				keep |= !strcmp(k, names + i);
			if (!keep && !strncmp(names + i, "user.", 5))
				cr_assert_eq(fremovexattr(fd, names + i), 0);
		}
		close(fd);
		break;
	}
	case DITTO_OP_SETXATTR:
		fd = apply_open(rfd, op->path, O_RDONLY | O_NONBLOCK);
		cr_assert_eq(fsetxattr(fd, op->name, op->data, op->data_len, 0),
			     0);
		close(fd);
		break;
	default:
		cr_assert_fail("unexpected op %s", op_kind_name(op->kind));
	}
}

static void apply_all(const struct tctx *t, const char *dst, bool parents)
{
	int rfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t i;

	cr_assert(rfd >= 0);
	for (i = 0; i < t->nops; i++)
		t_apply(rfd, &t->ops[i], parents);
	close(rfd);
}

/* --- tree comparison ---------------------------------------------------- */

struct inomap {
	ino_t s[64], d[64];
	size_t n;
};

static int64_t ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int open_ro(int dirfd, const char *name, int extra)
{
	int fd = openat(dirfd, name,
			O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME | extra);

	cr_assert(fd >= 0, "open %s: %s", name, strerror(errno));
	return fd;
}

static void cmp_content(int sdir, int ddir, const char *name)
{
	static char a[1 << 20], b[1 << 20];
	int sf = open_ro(sdir, name, 0), df = open_ro(ddir, name, 0);
	ssize_t n, m;

	do {
		n = util_read_full(sf, a, sizeof(a));
		m = util_read_full(df, b, sizeof(b));
		cr_assert_eq(n, m, "%s: length", name);
		cr_assert(n <= 0 || memcmp(a, b, (size_t)n) == 0,
			  "%s: content", name);
	} while (n > 0);
	/* xattrs */
	n = flistxattr(sf, a, sizeof(a));
	m = flistxattr(df, b, sizeof(b));
	cr_assert_eq(n, m, "%s: xattr list", name);
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(a + i) + 1) {
		char v1[256], v2[256];
		ssize_t l1 = fgetxattr(sf, a + i, v1, sizeof(v1));
		ssize_t l2 = fgetxattr(df, a + i, v2, sizeof(v2));

		cr_assert(l1 >= 0 && l1 == l2 && memcmp(v1, v2, (size_t)l1) == 0,
			  "%s: xattr %s", name, a + i);
	}
	close(sf);
	close(df);
}

static size_t count_entries(int fd)
{
	DIR *d = fdopendir(dup(fd));
	struct dirent *de;
	size_t n = 0;

	cr_assert(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void cmp_dir(int sfd, int dfd, struct inomap *im, bool skip_dir_times)
{
	DIR *d = fdopendir(dup(sfd));
	struct dirent *de;

	cr_assert(d);
	cr_assert_eq(count_entries(sfd), count_entries(dfd), "entry count");
	while ((de = readdir(d))) {
		const char *nm = de->d_name;
		struct stat s, t;

		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		cr_assert_eq(fstatat(sfd, nm, &s, AT_SYMLINK_NOFOLLOW), 0);
		cr_assert_eq(fstatat(dfd, nm, &t, AT_SYMLINK_NOFOLLOW), 0,
			     "missing in copy: %s", nm);
		cr_assert_eq(s.st_mode, t.st_mode, "%s: mode %o vs %o", nm,
			     s.st_mode, t.st_mode);
		cr_assert_eq(s.st_uid, t.st_uid, "%s: uid", nm);
		cr_assert_eq(s.st_gid, t.st_gid, "%s: gid", nm);
		if (!(S_ISDIR(s.st_mode) && skip_dir_times))
			cr_assert_eq(ns(&s.st_mtim), ns(&t.st_mtim),
				     "%s: mtime", nm);
		if (S_ISREG(s.st_mode) ||
		    (S_ISDIR(s.st_mode) && !skip_dir_times))
			cr_assert_eq(ns(&s.st_atim), ns(&t.st_atim),
				     "%s: atime", nm);
		if (!S_ISDIR(s.st_mode)) {
			cr_assert_eq(s.st_nlink, t.st_nlink, "%s: nlink", nm);
			if (s.st_nlink > 1) {
				size_t i;

				for (i = 0; i < im->n && im->s[i] != s.st_ino;
				     i++)
					;
				if (i == im->n) {
					cr_assert(im->n < 64);
					im->s[i] = s.st_ino;
					im->d[i] = t.st_ino;
					im->n++;
				}
				cr_assert_eq(im->d[i], t.st_ino,
					     "%s: hard-link group", nm);
			}
		}
		if (S_ISREG(s.st_mode)) {
			cr_assert_eq(s.st_size, t.st_size, "%s: size", nm);
			/* Sparse stays sparse (a little slack for metadata). */
			cr_assert(t.st_blocks <= s.st_blocks + 64,
				  "%s: blocks %ld vs %ld", nm,
				  (long)t.st_blocks, (long)s.st_blocks);
			cmp_content(sfd, dfd, nm);
		} else if (S_ISLNK(s.st_mode)) {
			char a[4096], b[4096];
			ssize_t n = readlinkat(sfd, nm, a, sizeof(a));
			ssize_t m = readlinkat(dfd, nm, b, sizeof(b));

			cr_assert(n > 0 && n == m && !memcmp(a, b, (size_t)n),
				  "%s: link target", nm);
		} else if (S_ISCHR(s.st_mode) || S_ISBLK(s.st_mode)) {
			cr_assert_eq(s.st_rdev, t.st_rdev);
		} else if (S_ISDIR(s.st_mode)) {
			int a = open_ro(sfd, nm, O_DIRECTORY);
			int b = open_ro(dfd, nm, O_DIRECTORY);

			cmp_dir(a, b, im, skip_dir_times);
			close(a);
			close(b);
		}
	}
	closedir(d);
}

static void cmp_trees(const char *src, const char *dst)
{
	struct inomap im = { .n = 0 };
	int a = open(src, O_RDONLY | O_DIRECTORY | O_NOATIME);
	int b = open(dst, O_RDONLY | O_DIRECTORY | O_NOATIME);

	cr_assert(a >= 0 && b >= 0);
	cmp_dir(a, b, &im, false);
	close(a);
	close(b);
}

/* --- tree building ------------------------------------------------------ */

struct tdir {
	char base[64];
	char src[96];
	char dst[96];
};

static void tdir_make(struct tdir *d)
{
	util_strlcpy(d->base, "/tmp/test_mirror.XXXXXX", sizeof(d->base));
	cr_assert(mkdtemp(d->base));
	snprintf(d->src, sizeof(d->src), "%s/src", d->base);
	snprintf(d->dst, sizeof(d->dst), "%s/dst", d->base);
	cr_assert_eq(mkdir(d->src, 0755), 0);
	cr_assert_eq(mkdir(d->dst, 0755), 0);
}

static void tdir_remove(const struct tdir *d)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->base);
	cr_assert_eq(system(cmd), 0);
}

static void put(int dfd, const char *name, const void *data, size_t len,
		off_t off)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	cr_assert(fd >= 0, "create %s: %s", name, strerror(errno));
	if (len)
		cr_assert_eq(pwrite(fd, data, len, off), (ssize_t)len);
	close(fd);
}

static int subdir(int dfd, const char *name)
{
	int fd;

	cr_assert(mkdirat(dfd, name, 0755) == 0 || errno == EEXIST,
		  "mkdir %s", name);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert(fd >= 0);
	return fd;
}

static void set_times(int dfd, const char *name, time_t s, long n)
{
	struct timespec ts[2] = { { s - 1000, n / 2 }, { s, n } };

	cr_assert_eq(utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

#define BIG_SIZE (3u * 1024 * 1024 + 123)
#define SPARSE_OFF (100ull * 1024 * 1024)
#define LONG_COMP 255

/* The full tree of the brief; returns the relative path of the deepest
 * file (about 4,085 bytes). */
static void build_tree(const char *src, char *longrel, size_t longcap)
{
	int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int n, dd, fd, i;
	char *big = util_xmalloc(BIG_SIZE), comp[LONG_COMP + 1];
	bool root = geteuid() == 0;

	cr_assert(s >= 0);
	close(subdir(s, "empty_dir"));
	put(s, "empty_file", NULL, 0, 0);
	for (i = 0; i < (int)BIG_SIZE; i++)
		big[i] = (char)(i * 7 + i / 4096);
	put(s, "big3m", big, BIG_SIZE, 0);
	free(big);
	put(s, "sparse", "A", 1, 0);
	put(s, "sparse", "Z", 1, (off_t)SPARSE_OFF);
	put(s, "tailhole", "T", 1, 0);
	fd = openat(s, "tailhole", O_WRONLY);
	cr_assert_eq(ftruncate(fd, 10 << 20), 0);
	close(fd);
	put(s, "small", "small", 5, 0);
	cr_assert_eq(symlinkat("/etc/passwd", s, "abs_link"), 0);
	cr_assert_eq(symlinkat("nested/file", s, "rel_link"), 0);
	cr_assert_eq(symlinkat("does/not/exist", s, "dangling"), 0);
	n = subdir(s, "nested");
	put(n, "file", "nested file\n", 12, 0);
	dd = subdir(n, "deeper");
	put(dd, "file", "deeper\n", 7, 0);
	put(s, "hl1", "linked", 6, 0);
	cr_assert_eq(linkat(s, "hl1", n, "hl2", 0), 0);
	cr_assert_eq(linkat(s, "hl1", dd, "hl3", 0), 0);
	cr_assert_eq(mkfifoat(s, "fifo", 0640), 0);
	cr_assert_eq(mknodat(s, "sock", S_IFSOCK | 0600, 0), 0);
	if (root)
		cr_assert_eq(mknodat(s, "null", S_IFCHR | 0666, makedev(1, 3)),
			     0);
	put(s, "withx", "x", 1, 0);
	fd = openat(s, "withx", O_RDONLY);
	cr_assert_eq(fsetxattr(fd, "user.x", "val\0ue", 6, 0), 0);
	close(fd);
	cr_assert_eq(fsetxattr(dd, "user.d", "dir", 3, 0), 0);
	put(s, "\x01\xff name", "odd", 3, 0);
	put(s, "with\nnewline", "nl", 2, 0);
	put(s, "owned", "mine", 4, 0);
	if (root) {
		cr_assert_eq(fchownat(s, "owned", 1234, 5678, 0), 0);
		cr_assert_eq(fchmodat(s, "owned", 04750, 0), 0);
		cr_assert_eq(fchownat(s, "abs_link", 1234, 5678,
				      AT_SYMLINK_NOFOLLOW), 0);
		cr_assert_eq(fchownat(n, "deeper", 4321, 8765, 0), 0);
	}
	set_times(s, "owned", 1500000000, 123456789);
	set_times(s, "rel_link", 1400000000, 987654321);

	/* "long/" + 15 components of 255 bytes + a 240-byte file name. */
	fd = subdir(s, "long");
	util_strlcpy(longrel, "long", longcap);
	memset(comp, 'L', LONG_COMP);
	comp[LONG_COMP] = '\0';
	for (i = 0; i < 15; i++) {
		int nfd;

		comp[0] = (char)('a' + i);
		nfd = subdir(fd, comp);
		close(fd);
		fd = nfd;
		util_strlcat(longrel, "/", longcap);
		util_strlcat(longrel, comp, longcap);
	}
	comp[240] = '\0';
	put(fd, comp, "deep", 4, 0);
	util_strlcat(longrel, "/", longcap);
	util_strlcat(longrel, comp, longcap);
	close(fd);

	/* Directory times last, as nothing changes inside them after. */
	set_times(n, "deeper", 1300000000, 5);
	close(dd);
	close(n);
	close(s);
}

static bool has_op(const struct tctx *t, uint16_t kind, const char *path)
{
	size_t i;

	for (i = 0; i < t->nops; i++)
		if (t->ops[i].kind == kind && !strcmp(t->ops[i].path, path))
			return true;
	return false;
}

static uint64_t write_bytes(const struct tctx *t, const char *path,
			    unsigned *nwrites)
{
	uint64_t b = 0;
	size_t i;

	*nwrites = 0;
	for (i = 0; i < t->nops; i++)
		if (t->ops[i].kind == DITTO_OP_WRITE &&
		    !strcmp(t->ops[i].path, path)) {
			b += t->ops[i].data_len;
			(*nwrites)++;
		}
	return b;
}

/* Parents are made before, and their SETATTR comes after, every op on a
 * path beneath them. */
static void check_order(const struct tctx *t)
{
	size_t i, j;

	for (i = 0; i < t->nops; i++) {
		const struct ditto_op *d = &t->ops[i];
		size_t l;

		if (d->kind != DITTO_OP_MKDIR)
			continue;
		l = d->path_len;
		for (j = 0; j < t->nops; j++) {
			const struct ditto_op *c = &t->ops[j];

			if (c->path_len <= l || c->path[l] != '/' ||
			    memcmp(c->path, d->path, l) != 0)
				continue;
			cr_assert(j > i, "%s before its parent", c->path);
		}
		/* the directory's SETATTR: after every op beneath it */
		for (j = t->nops; j-- > i;) {
			const struct ditto_op *c = &t->ops[j];

			if (c->path_len > l && c->path[l] == '/' &&
			    !memcmp(c->path, d->path, l))
				break;
		}
		{
			size_t k;
			bool found = false;

			for (k = i + 1; k < t->nops; k++)
				if (t->ops[k].kind == DITTO_OP_SETATTR &&
				    t->ops[k].path_len == l &&
				    !memcmp(t->ops[k].path, d->path, l)) {
					cr_assert(k > j, "SETATTR %s too early",
						  d->path);
					found = true;
				}
			cr_assert(found, "no SETATTR for %s", d->path);
		}
	}
}

/* --- tests -------------------------------------------------------------- */

Test(mirror, full_tree_tiny_budgets)
{
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .warn = t_warn, .ctx = &t,
		.chunk = 1u << 20, .xattrs = true,
	};
	struct mirror_stats st;
	char longrel[DITTO_PATH_MAX + 1];
	unsigned steps, nw;
	uint64_t b;
	bool root = geteuid() == 0;
	size_t i;

	tdir_make(&td);
	build_tree(td.src, longrel, sizeof(longrel));
	cr_assert_gt(strlen(longrel), 4000);
	t.root = td.src;
	t.root_len = strlen(td.src);
	/* A stale, longer file at the target must be cut to size. */
	{
		int d = open(td.dst, O_RDONLY | O_DIRECTORY);
		char junk[10000];

		memset(junk, 'J', sizeof(junk));
		put(d, "small", junk, sizeof(junk), 0);
		close(d);
	}

	cr_assert_eq(run_walk(&t, &o, 1, 1, &st, &steps), 0);
	cr_assert_eq(st.skipped_errors, 0, "warns %u (last %s)", t.warns,
		     strerror(t.last_warn));
	/* one entry per step at most, one WRITE per step at most */
	cr_assert_leq(t.max_starts, 1);
	cr_assert_leq(t.max_writes, 1);
	cr_assert_gt(steps, 40);

	/* dirs: empty_dir nested deeper long + 15 */
	cr_assert_eq(st.dirs, 4 + 15);
	cr_assert_eq(st.symlinks, 3);
	cr_assert_eq(st.hardlinks, 2);
	cr_assert_eq(st.specials, root ? 3 : 2);
	/* empty_file big3m sparse tailhole small nested/file deeper/file
	 * hl1 withx odd newline owned longfile */
	cr_assert_eq(st.files, 13);

	b = write_bytes(&t, "big3m", &nw);
	cr_assert_eq(b, BIG_SIZE);
	cr_assert_eq(nw, 4);
	b = write_bytes(&t, "sparse", &nw);
	cr_assert_lt(b, 1u << 20, "sparse sent %llu bytes",
		     (unsigned long long)b);
	cr_assert(has_op(&t, DITTO_OP_TRUNCATE, "tailhole"));
	cr_assert_lt(st.bytes, BIG_SIZE + (1u << 20));
	for (i = 0; i < t.nops; i++) {
		cr_assert_leq(t.ops[i].data_len, 1u << 20);
		cr_assert_neq(t.ops[i].path_len, 0);
	}
	cr_assert(has_op(&t, DITTO_OP_SETXATTR, "withx"));
	cr_assert(has_op(&t, DITTO_OP_SETXATTR, "nested/deeper"));
	cr_assert(has_op(&t, DITTO_OP_CREATE, longrel));
	cr_assert(has_op(&t, DITTO_OP_CREATE, "\x01\xff name"));
	cr_assert(has_op(&t, DITTO_OP_CREATE, "with\nnewline"));
	check_order(&t);

	apply_all(&t, td.dst, false);
	cmp_trees(td.src, td.dst);

	/* The size calculation agrees with what was sent (it counts the
	 * root itself, which the map sends as the target root). */
	{
		const char *roots[] = { td.src };
		uint64_t cb, ce;

		cr_assert_eq(mirror_calculate(roots, 1, NULL, NULL, &cb, &ce),
			     0);
		cr_assert_eq(cb, st.bytes);
		cr_assert_eq(ce, st.dirs + st.files + st.symlinks +
				 st.specials + st.hardlinks + 1);
	}
	tctx_free(&t);
	tdir_remove(&td);
}

Test(mirror, one_step_default_budget_no_xattrs)
{
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = { .emit = t_emit, .map = t_map, .ctx = &t };
	struct mirror_stats st;
	char longrel[DITTO_PATH_MAX + 1];
	unsigned steps, nw;
	size_t i;

	tdir_make(&td);
	build_tree(td.src, longrel, sizeof(longrel));
	t.root = td.src;
	t.root_len = strlen(td.src);
	cr_assert_eq(run_walk(&t, &o, 0, 0, &st, &steps), 0);
	cr_assert_eq(steps, 1);
	cr_assert_eq(st.skipped_errors, 0);
	for (i = 0; i < t.nops; i++)
		cr_assert_neq(t.ops[i].kind, DITTO_OP_SETXATTR);
	/* default chunk is 1 MiB */
	cr_assert_eq(write_bytes(&t, "big3m", &nw), BIG_SIZE);
	cr_assert_eq(nw, 4);
	tctx_free(&t);
	tdir_remove(&td);
}

Test(mirror, deep_chain_parks_directories)
{
	enum { LEVELS = 200 };
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .ctx = &t, .max_open_dirs = 3,
		.xattrs = true,
	};
	struct mirror_stats st;
	int fd, i, base;

	tdir_make(&td);
	fd = open(td.src, O_RDONLY | O_DIRECTORY);
	/* d/d/d/... with two files beside every d, so walks resume inside
	 * parked directories after their subtree. */
	for (i = 0; i < LEVELS; i++) {
		int nfd;

		put(fd, "f1", "1", 1, 0);
		nfd = subdir(fd, "d");
		put(fd, "f2", "22", 2, 0);
		close(fd);
		fd = nfd;
	}
	put(fd, "bottom", "b", 1, 0);
	close(fd);
	t.root = td.src;
	t.root_len = strlen(td.src);
	t.fd_limit = 1;
	base = count_fds();
	cr_assert_eq(run_walk(&t, &o, 1, 1, &st, NULL), 0);
	cr_assert_eq(st.skipped_errors, 0);
	cr_assert_eq(st.dirs, LEVELS);
	cr_assert_eq(st.files, 2 * LEVELS + 1);
	/* the walk's directory streams stay within max_open_dirs (+1 while
	 * a parked parent is reopened) */
	cr_assert_leq(t.max_fds - base, 4, "fds %d", t.max_fds - base);
	apply_all(&t, td.dst, false);
	cmp_trees(td.src, td.dst);
	tctx_free(&t);
	tdir_remove(&td);
}

Test(mirror, match_descend_into_excluded_dir)
{
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .match = t_match, .ctx = &t,
	};
	struct mirror_stats st;
	char ex[160], keep[200];
	int s, e, sub;
	size_t i;

	tdir_make(&td);
	s = open(td.src, O_RDONLY | O_DIRECTORY);
	put(s, "a", "a", 1, 0);
	e = subdir(s, "ex");
	put(e, "keep", "keep", 4, 0);
	put(e, "drop", "drop", 4, 0);
	sub = subdir(e, "sub");
	put(sub, "x", "x", 1, 0);
	close(sub);
	close(e);
	close(s);
	snprintf(ex, sizeof(ex), "%s/ex", td.src);
	snprintf(keep, sizeof(keep), "%s/ex/keep", td.src);
	t.root = td.src;
	t.root_len = strlen(td.src);
	t.ex_dir = ex;
	t.ex_keep = keep;
	cr_assert_eq(run_walk(&t, &o, 0, 1, &st, NULL), 0);
	for (i = 0; i < t.nops; i++) {
		const char *p = t.ops[i].path;

		cr_assert(strcmp(p, "ex") && strcmp(p, "ex/drop") &&
			  strncmp(p, "ex/sub", 6), "%s %s sent",
			  op_kind_name(t.ops[i].kind), p);
	}
	cr_assert(has_op(&t, DITTO_OP_CREATE, "ex/keep"));
	cr_assert(has_op(&t, DITTO_OP_CREATE, "a"));
	cr_assert_eq(st.dirs, 0);
	cr_assert_eq(st.files, 2);
	apply_all(&t, td.dst, true);
	{
		char p[200], buf[8];
		int fd;

		snprintf(p, sizeof(p), "%s/ex/keep", td.dst);
		fd = open(p, O_RDONLY);
		cr_assert(fd >= 0);
		cr_assert_eq(read(fd, buf, sizeof(buf)), 4);
		close(fd);
		snprintf(p, sizeof(p), "%s/ex/drop", td.dst);
		cr_assert_neq(access(p, F_OK), 0);
	}
	{
		const char *roots[] = { td.src };
		uint64_t cb, ce;

		cr_assert_eq(mirror_calculate(roots, 1, t_match, &t, &cb, &ce),
			     0);
		cr_assert_eq(ce, 1 + 2); /* root, a, ex/keep */
		cr_assert_eq(cb, 5);
	}
	tctx_free(&t);
	tdir_remove(&td);
}

Test(mirror, vanished_file_is_skipped_not_fatal)
{
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .warn = t_warn, .ctx = &t,
	};
	struct mirror_stats st;
	char vdir[160];
	int s, v;

	tdir_make(&td);
	s = open(td.src, O_RDONLY | O_DIRECTORY);
	v = subdir(s, "v");
	put(v, "a", "a", 1, 0);
	put(v, "b", "b", 1, 0);
	close(v);
	put(s, "after", "after", 5, 0);
	close(s);
	snprintf(vdir, sizeof(vdir), "%s/v", td.src);
	t.root = td.src;
	t.root_len = strlen(td.src);
	t.vdir = vdir;
	cr_assert_eq(run_walk(&t, &o, 0, 1, &st, NULL), 0);
	cr_assert(t.vanished);
	cr_assert_eq(st.skipped_errors, 1);
	cr_assert_eq(t.warns, 1);
	cr_assert_eq(t.last_warn, ENOENT);
	cr_assert_eq(st.files, 2);
	apply_all(&t, td.dst, false);
	cmp_trees(td.src, td.dst);
	tctx_free(&t);
	tdir_remove(&td);
}

Test(mirror, emit_failure_aborts)
{
	struct tdir td;
	struct tctx t = { .abort_at = 5 };
	struct mirror_opts o = { .emit = t_emit, .map = t_map, .ctx = &t };
	struct mirror_stats st;
	char longrel[DITTO_PATH_MAX + 1];

	tdir_make(&td);
	build_tree(td.src, longrel, sizeof(longrel));
	t.root = td.src;
	t.root_len = strlen(td.src);
	cr_assert_eq(run_walk(&t, &o, 1, 1, &st, NULL), -1);
	cr_assert_eq(t.nops, 4);
	/* abort in the middle of a big file, with its fd open */
	tctx_free(&t);
	memset(&t, 0, sizeof(t));
	t.root = td.src;
	t.root_len = strlen(td.src);
	t.abort_at = 0;
	{
		const char *roots[] = { td.src };
		char err[128];
		struct mirror_walk *w = mirror_walk_new(roots, 1, &o, err,
							sizeof(err));
		int r;

		cr_assert(w);
		while ((r = mirror_walk_step(w, 1, 1)) == 1 &&
		       !has_op(&t, DITTO_OP_WRITE, "big3m"))
			;
		cr_assert_eq(r, 1);
		mirror_walk_free(w); /* mid-walk free: no leak, no fd left */
	}
	tctx_free(&t);
	tdir_remove(&td);
}

Test(mirror, roots_file_missing_and_bad_args)
{
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = {
		.emit = t_emit, .warn = t_warn, .ctx = &t,
	};
	struct mirror_stats st;
	char file[160], missing[160], err[128];
	const char *roots[2];
	const char *rel[] = { "relative/path" };
	struct mirror_walk *w;
	int s;

	tdir_make(&td);
	s = open(td.src, O_RDONLY | O_DIRECTORY);
	put(s, "single", "one", 3, 0);
	close(s);
	snprintf(file, sizeof(file), "%s/single", td.src);
	snprintf(missing, sizeof(missing), "%s/missing/", td.src);
	roots[0] = file;
	roots[1] = missing;
	/* default map: the absolute path without its '/' */
	w = mirror_walk_new(roots, 2, &o, err, sizeof(err));
	cr_assert(w, "%s", err);
	while (mirror_walk_step(w, 0, 1) == 1)
		;
	mirror_walk_stats(w, &st);
	mirror_walk_free(w);
	cr_assert_eq(st.files, 1);
	cr_assert_eq(st.skipped_errors, 1);
	cr_assert(has_op(&t, DITTO_OP_CREATE, file + 1));
	cr_assert_eq(t.last_warn, ENOENT);

	cr_assert_null(mirror_walk_new(rel, 1, &o, err, sizeof(err)));
	o.emit = NULL;
	cr_assert_null(mirror_walk_new(roots, 1, &o, err, sizeof(err)));
	o.emit = t_emit;
	o.chunk = DITTO_OP_DATA_MAX + 1;
	cr_assert_null(mirror_walk_new(roots, 1, &o, err, sizeof(err)));
	tctx_free(&t);
	tdir_remove(&td);
}

Test(mirror, parked_parent_reopened_after_subtree_moved)
{
	enum { LEVELS = 80, MOVE = 30 };
	struct tdir td;
	struct tctx t = { .move_at = MOVE };
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .warn = t_warn, .ctx = &t,
		.max_open_dirs = 2,
	};
	struct mirror_stats st;
	char p[400];
	int fd, i;

	tdir_make(&td);
	fd = open(td.src, O_RDONLY | O_DIRECTORY);
	for (i = 0; i < LEVELS; i++) {
		int nfd;

		put(fd, "f1", "1", 1, 0);
		nfd = subdir(fd, "d");
		put(fd, "f2", "22", 2, 0);
		close(fd);
		fd = nfd;
	}
	close(fd);
	t.root = td.src;
	t.root_len = strlen(td.src);
	cr_assert_eq(run_walk(&t, &o, 0, 1, &st, NULL), 0);
	cr_assert(t.moved);
	cr_assert_eq(st.skipped_errors, 0, "last warn %s",
		     strerror(t.last_warn));
	/* every file above the moved directory was still sent: the parked
	 * parents were found again by name */
	p[0] = '\0';
	for (i = 0; i < MOVE; i++) {
		char f[420];

		snprintf(f, sizeof(f), "%sf1", p);
		cr_assert(has_op(&t, DITTO_OP_CREATE, f), "%s", f);
		snprintf(f, sizeof(f), "%sf2", p);
		cr_assert(has_op(&t, DITTO_OP_CREATE, f), "%s", f);
		util_strlcat(p, "d/", sizeof(p));
	}
	tctx_free(&t);
	tdir_remove(&td);
}

Test(mirror, applied_by_the_real_applier)
{
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .warn = t_warn, .ctx = &t,
		.xattrs = true,
	};
	struct mirror_stats st;
	char longrel[DITTO_PATH_MAX + 1], err[512];
	struct apply_root *ar;
	size_t i;

	if (!apply_root_open || !apply_op || !apply_root_close)
		cr_skip_test("agent/apply.c not linked into this test");
	tdir_make(&td);
	build_tree(td.src, longrel, sizeof(longrel));
	t.root = td.src;
	t.root_len = strlen(td.src);
	{
		int d = open(td.dst, O_RDONLY | O_DIRECTORY);
		char junk[10000];

		memset(junk, 'J', sizeof(junk));
		put(d, "small", junk, sizeof(junk), 0);
		close(d);
	}
	cr_assert_eq(run_walk(&t, &o, 1u << 20, 8, &st, NULL), 0);
	cr_assert_eq(st.skipped_errors, 0);
	ar = apply_root_open(td.dst, err, sizeof(err));
	cr_assert(ar, "%s", err);
	for (i = 0; i < t.nops; i++)
		cr_assert_eq(apply_op(ar, &t.ops[i], err, sizeof(err)), 0,
			     "%s %s: %s", op_kind_name(t.ops[i].kind),
			     t.ops[i].path, err);
	/* and again: a resent mirror changes nothing */
	for (i = 0; i < t.nops; i++)
		cr_assert_eq(apply_op(ar, &t.ops[i], err, sizeof(err)), 0,
			     "again %s %s: %s", op_kind_name(t.ops[i].kind),
			     t.ops[i].path, err);
	apply_root_close(ar);
	cmp_trees(td.src, td.dst);
	tctx_free(&t);
	tdir_remove(&td);
}

/* --- xattr removal, shallow walks, links known from earlier walks ------- */

/* Walks one root (an absolute path beneath t->root) to the end. */
static void walk_one(struct tctx *t, const struct mirror_opts *o,
		     const char *root)
{
	const char *roots[] = { root };
	char err[256];
	struct mirror_walk *w = mirror_walk_new(roots, 1, o, err, sizeof(err));

	cr_assert(w, "%s", err);
	while (mirror_walk_step(w, 0, 0) == 1)
		;
	cr_assert_eq(mirror_walk_step(w, 0, 0), 0, "%s", mirror_walk_error(w));
	mirror_walk_free(w);
}

static void apply_ops_real(struct tctx *t, const char *dst)
{
	struct apply_root *ar;
	char err[512];
	size_t i;

	ar = apply_root_open(dst, err, sizeof(err));
	cr_assert(ar, "%s", err);
	for (i = 0; i < t->nops; i++)
		cr_assert_eq(apply_op(ar, &t->ops[i], err, sizeof(err)), 0,
			     "%s %s: %s", op_kind_name(t->ops[i].kind),
			     t->ops[i].path, err);
	apply_root_close(ar);
}

/* Index of the first op of kind on path at or after from, or t->nops. */
static size_t find_op(const struct tctx *t, size_t from, uint16_t kind,
		      const char *path)
{
	size_t i;

	for (i = from; i < t->nops; i++)
		if (t->ops[i].kind == kind && !strcmp(t->ops[i].path, path))
			return i;
	return t->nops;
}

Test(mirror, xattr_removal_reaches_the_target)
{
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .warn = t_warn, .ctx = &t,
		.xattrs = true,
	};
	char p[512], v[16];
	size_t i, rx;
	int s, d;

	if (!apply_root_open || !apply_op || !apply_root_close)
		cr_skip_test("agent/apply.c not linked into this test");
	tdir_make(&td);
	s = open(td.src, O_RDONLY | O_DIRECTORY);
	put(s, "f", "x", 1, 0);
	put(s, "plain", "y", 1, 0);
	d = subdir(s, "d");
	snprintf(p, sizeof(p), "%s/f", td.src);
	cr_assert_eq(setxattr(p, "user.a", "1", 1, 0), 0);
	cr_assert_eq(setxattr(p, "user.b", "2", 1, 0), 0);
	cr_assert_eq(fsetxattr(d, "user.d", "3", 1, 0), 0);
	t.root = td.src;
	t.root_len = strlen(td.src);
	walk_one(&t, &o, td.src);
	/* f: REMOVEXATTR keeping exactly its two names, before its SETXATTRs. */
	rx = find_op(&t, 0, DITTO_OP_REMOVEXATTR, "f");
	cr_assert_lt(rx, t.nops);
	cr_assert_eq(t.ops[rx].flags, DITTO_XATTR_ALL_EXCEPT);
	cr_assert_eq(t.ops[rx].name_len, 0);
	cr_assert_eq(t.ops[rx].data_len, 14);
	cr_assert(memmem(t.ops[rx].data, 14, "user.a\0", 7));
	cr_assert(memmem(t.ops[rx].data, 14, "user.b\0", 7));
	cr_assert_lt(find_op(&t, 0, DITTO_OP_SETATTR, "f"), rx);
	cr_assert_eq(find_op(&t, 0, DITTO_OP_SETXATTR, "f"),
		     find_op(&t, rx, DITTO_OP_SETXATTR, "f"));
	/* An entry without xattrs still gets the (empty) removal. */
	rx = find_op(&t, 0, DITTO_OP_REMOVEXATTR, "plain");
	cr_assert_lt(rx, t.nops);
	cr_assert_eq(t.ops[rx].data_len, 0);
	cr_assert_lt(find_op(&t, 0, DITTO_OP_REMOVEXATTR, "d"), t.nops);
	apply_ops_real(&t, td.dst);
	cmp_trees(td.src, td.dst);

	/* Removed on the source: a later walk removes them on the target. */
	cr_assert_eq(removexattr(p, "user.a"), 0);
	cr_assert_eq(fremovexattr(d, "user.d"), 0);
	for (i = 0; i < t.nops; i++)
		op_free(&t.ops[i]);
	t.nops = 0;
	walk_one(&t, &o, td.src);
	apply_ops_real(&t, td.dst);
	snprintf(p, sizeof(p), "%s/f", td.dst);
	cr_assert_eq(getxattr(p, "user.a", v, sizeof(v)), -1, "user.a kept");
	cr_assert_eq(getxattr(p, "user.b", v, sizeof(v)), 1);
	snprintf(p, sizeof(p), "%s/d", td.dst);
	cr_assert_eq(getxattr(p, "user.d", v, sizeof(v)), -1, "user.d kept");
	cmp_trees(td.src, td.dst);

	/* Without xattrs on, no REMOVEXATTR either. */
	for (i = 0; i < t.nops; i++)
		op_free(&t.ops[i]);
	t.nops = 0;
	o.xattrs = false;
	walk_one(&t, &o, td.src);
	for (i = 0; i < t.nops; i++)
		cr_assert_neq(t.ops[i].kind, DITTO_OP_REMOVEXATTR);
	close(d);
	close(s);
	tctx_free(&t);
	tdir_remove(&td);
}

Test(mirror, shallow_walk_sends_only_the_directory)
{
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .warn = t_warn, .ctx = &t,
		.xattrs = true, .shallow = true,
	};
	char root[256];
	int s, d, e;

	tdir_make(&td);
	s = open(td.src, O_RDONLY | O_DIRECTORY);
	d = subdir(s, "d");
	put(d, "child", "c", 1, 0);
	e = subdir(d, "sub");
	cr_assert_eq(fsetxattr(d, "user.d", "3", 1, 0), 0);
	t.root = td.src;
	t.root_len = strlen(td.src);
	snprintf(root, sizeof(root), "%s/d", td.src);
	walk_one(&t, &o, root);
	cr_assert_eq(t.nops, 4, "%zu ops", t.nops);
	cr_assert_eq(t.ops[0].kind, DITTO_OP_MKDIR);
	cr_assert_eq(t.ops[1].kind, DITTO_OP_SETATTR);
	cr_assert_eq(t.ops[2].kind, DITTO_OP_REMOVEXATTR);
	cr_assert_eq(t.ops[3].kind, DITTO_OP_SETXATTR);
	for (size_t i = 0; i < t.nops; i++)
		cr_assert_str_eq(t.ops[i].path, "d");
	close(e);
	close(d);
	close(s);
	tctx_free(&t);
	tdir_remove(&td);
}

struct link_probe {
	struct tctx t;        /* first: t_emit and t_map take the probe */
	unsigned calls;
	size_t ops_before;    /* ops emitted when the hook was called */
	char asked[256];
	nlink_t nlink;
	bool fail;
};

static int t_linked(void *ctx, const char *abs, size_t len,
		    const struct stat *st, const char *mpath, size_t mlen)
{
	struct link_probe *lp = ctx;
	struct ditto_op op;

	cr_assert_eq(strlen(abs), len);
	cr_assert_eq(strlen(mpath), mlen);
	lp->calls++;
	lp->nlink = st->st_nlink;
	lp->ops_before = lp->t.nops;
	util_strlcpy(lp->asked, mpath, sizeof(lp->asked));
	if (lp->fail)
		return -1;
	/* What the callee queues follows the entry's ops. */
	op_init(&op, DITTO_OP_LINK);
	op.path = (char *)"elsewhere";
	op.path_len = 9;
	op.path2 = (char *)mpath;
	op.path2_len = (uint32_t)mlen;
	return t_emit(&lp->t, &op);
}

static int probe_walk(struct link_probe *lp, const char *root)
{
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .warn = t_warn, .ctx = lp,
		.linked = t_linked, .xattrs = true,
	};
	const char *roots[] = { root };
	struct mirror_walk *w;
	char err[256];
	size_t i;
	int r;

	for (i = 0; i < lp->t.nops; i++)
		op_free(&lp->t.ops[i]);
	lp->t.nops = 0;
	lp->calls = 0;
	w = mirror_walk_new(roots, 1, &o, err, sizeof(err));
	cr_assert(w, "%s", err);
	while ((r = mirror_walk_step(w, 0, 0)) == 1)
		;
	mirror_walk_free(w);
	return r;
}

Test(mirror, linked_hook_follows_the_first_name)
{
	struct tdir td;
	struct link_probe lp = { .t = { .abort_at = 0 } };
	char root[256];
	size_t i;
	int s, d;

	tdir_make(&td);
	s = open(td.src, O_RDONLY | O_DIRECTORY);
	d = subdir(s, "d");
	put(s, "a", "shared", 6, 0);
	put(s, "single", "one", 3, 0);
	cr_assert_eq(linkat(s, "a", d, "b", 0), 0);
	cr_assert_eq(symlinkat("t", s, "sl"), 0);
	cr_assert_eq(linkat(s, "sl", s, "sl2", 0), 0);
	lp.t.root = td.src;
	lp.t.root_len = strlen(td.src);

	/* One name walked: its full copy, then the hook, then its ops. */
	snprintf(root, sizeof(root), "%s/d/b", td.src);
	cr_assert_eq(probe_walk(&lp, root), 0);
	cr_assert_eq(lp.calls, 1);
	cr_assert_str_eq(lp.asked, "d/b");
	cr_assert_eq(lp.nlink, 2);
	cr_assert_eq(lp.t.ops[0].kind, DITTO_OP_CREATE);
	cr_assert_lt(find_op(&lp.t, 0, DITTO_OP_WRITE, "d/b"), lp.ops_before);
	cr_assert_lt(find_op(&lp.t, 0, DITTO_OP_SETATTR, "d/b"), lp.ops_before);
	cr_assert_lt(find_op(&lp.t, 0, DITTO_OP_REMOVEXATTR, "d/b"), lp.ops_before);
	cr_assert_eq(lp.t.nops, lp.ops_before + 1);
	cr_assert_eq(lp.t.ops[lp.ops_before].kind, DITTO_OP_LINK);
	cr_assert_str_eq(lp.t.ops[lp.ops_before].path2, "d/b");

	/* A symlink with two names too. */
	snprintf(root, sizeof(root), "%s/sl2", td.src);
	cr_assert_eq(probe_walk(&lp, root), 0);
	cr_assert_eq(lp.calls, 1);
	cr_assert_eq(lp.t.ops[0].kind, DITTO_OP_SYMLINK);

	/* Files with one name are not reported. */
	snprintf(root, sizeof(root), "%s/single", td.src);
	cr_assert_eq(probe_walk(&lp, root), 0);
	cr_assert_eq(lp.calls, 0);

	/* A whole tree: the hook hears of each inode's first name only; the
	 * walk links the second itself. */
	cr_assert_eq(probe_walk(&lp, td.src), 0);
	cr_assert_eq(lp.calls, 2);
	{
		unsigned links = 0;

		for (i = 0; i < lp.t.nops; i++)
			if (lp.t.ops[i].kind == DITTO_OP_LINK &&
			    strcmp(lp.t.ops[i].path, "elsewhere"))
				links++;
		cr_assert_eq(links, 2);
	}

	/* The hook can abort the walk. */
	lp.fail = true;
	snprintf(root, sizeof(root), "%s/d/b", td.src);
	cr_assert_eq(probe_walk(&lp, root), -1);
	close(d);
	close(s);
	tctx_free(&lp.t);
	tdir_remove(&td);
}

Test(mirror, fresh_root_creates_a_new_file)
{
	struct tdir td;
	struct tctx t = { .abort_at = 0 };
	struct mirror_opts o = {
		.emit = t_emit, .map = t_map, .warn = t_warn, .ctx = &t,
		.fresh_root = true,
	};
	char root[256];
	size_t i;
	int s, d;

	tdir_make(&td);
	s = open(td.src, O_RDONLY | O_DIRECTORY);
	put(s, "f", "data", 4, 0);
	d = subdir(s, "d");
	put(d, "g", "in", 2, 0);
	t.root = td.src;
	t.root_len = strlen(td.src);
	snprintf(root, sizeof(root), "%s/f", td.src);
	walk_one(&t, &o, root);
	cr_assert_eq(t.ops[0].kind, DITTO_OP_CREATE);
	cr_assert_eq(t.ops[0].flags, DITTO_CREATE_NEW);
	/* Only a root file: files inside a walked directory are kept. */
	for (i = 0; i < t.nops; i++)
		op_free(&t.ops[i]);
	t.nops = 0;
	snprintf(root, sizeof(root), "%s/d", td.src);
	walk_one(&t, &o, root);
	i = find_op(&t, 0, DITTO_OP_CREATE, "d/g");
	cr_assert_lt(i, t.nops);
	cr_assert_eq(t.ops[i].flags, 0);
	/* Without the option, a root file is kept too. */
	for (i = 0; i < t.nops; i++)
		op_free(&t.ops[i]);
	t.nops = 0;
	o.fresh_root = false;
	snprintf(root, sizeof(root), "%s/f", td.src);
	walk_one(&t, &o, root);
	cr_assert_eq(t.ops[0].flags, 0);
	close(d);
	close(s);
	tctx_free(&t);
	tdir_remove(&td);
}
