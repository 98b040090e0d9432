#include "config.h"

/* mirror — the incremental full-mirror walker. What it sends and why is in
 * mirror.h; this file keeps the walk resumable: all state lives in struct
 * mirror_walk (the directory stack and the file being streamed), so a step
 * can stop after any entry or any chunk. */

#include "mirror.h"
#include "blockmap.h"
#include "bhash.h"
#include "op.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define ATTR_ALL (DITTO_ATTR_MODE | DITTO_ATTR_UID | DITTO_ATTR_GID | \
		  DITTO_ATTR_ATIME | DITTO_ATTR_MTIME)
#define XATTR_VALUE_MAX (64u * 1024) /* first guess; grown on ERANGE */

/* One open (or parked) directory of the current path. */
struct frame {
	DIR *d;           /* NULL while parked (or broken) */
	long pos;         /* telldir() while parked */
	dev_t dev;
	ino_t ino;
	size_t path_len;  /* length of this directory's path in w->abs */
	struct stat st;   /* as opened: atime for the closing SETATTR */
	bool emit_own;    /* MKDIR sent: SETATTR and xattrs when done */
	bool broken;      /* could not be reopened: rest of it skipped */
};

/* A hard-linked inode already sent; dropped once all its names were seen. */
struct link_ent {
	struct link_ent *next;
	dev_t dev;
	ino_t ino;
	nlink_t left;     /* names still to come */
	uint32_t path_len;
	char path[];      /* mapped path of the first name */
};

/* The regular file being streamed. */
struct file_state {
	int fd;           /* -1: none */
	uint64_t off;     /* next byte to look at */
	uint64_t data_end;/* end of the data extent off is in */
	uint64_t size0;   /* size at open: nothing past it is read */
	uint64_t written_end;
	bool no_seek;     /* SEEK_DATA unsupported: all data */
	bool probe;       /* hashing for a VERIFY, not sending data */
	uint32_t block;   /* hash block size */
	uint64_t nblocks, hashed;
	uint8_t *hashes;  /* nblocks x 8 bytes */
	struct stat st;   /* at open */
	uint32_t path_len;
	char path[DITTO_PATH_MAX + 1];
};

struct mirror_walk {
	struct mirror_opts o;
	char **roots;
	size_t nroots, next_root;

	struct frame *stack;
	size_t depth, cap;
	unsigned open_dirs;

	char abs[MIRROR_ABS_MAX + 1]; /* path of the current entry */
	size_t abs_len;
	char mpath[DITTO_PATH_MAX + 1]; /* its mapped path */
	uint32_t mpath_len;
	char target[DITTO_PATH_MAX + 2]; /* readlink scratch */

	uint8_t *buf;     /* chunk + 1 */
	uint8_t *hbuf;    /* one hash block */
	uint64_t *htmp;
	struct util_buf names; /* a DIRLIST being built */
	char *xnames;
	size_t xnames_cap;
	uint8_t *xval;
	size_t xval_cap;

	struct file_state f;

	struct link_ent **ltab;
	size_t lcap, lcount;

	struct mirror_stats st;
	uint64_t step_bytes;
	unsigned step_entries;
	int state;        /* 1 running, 0 done, -1 aborted */
	char err[256];
};

/* --- small helpers ------------------------------------------------------ */

static int64_t ts_ns(const struct timespec *ts)
{
	/* Clamp instead of overflowing for times beyond int64 ns (year 2262). */
	const int64_t lim = INT64_MAX / 1000000000 - 1;

	if (ts->tv_sec > lim)
		return lim * 1000000000;
	if (ts->tv_sec < -lim)
		return -lim * 1000000000;
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void skip_err(struct mirror_walk *w, int err, const char *what)
{
	w->st.skipped_errors++;
	if (w->o.warn)
		w->o.warn(w->o.ctx, w->abs, w->abs_len, err, what);
}

static int emit(struct mirror_walk *w, const struct ditto_op *op)
{
	if (w->o.count_only)
		return 0;
	if (w->o.emit(w->o.ctx, op) != 0) {
		snprintf(w->err, sizeof(w->err),
			 "mirror aborted by the consumer at a %s op",
			 op_kind_name(op->kind));
		return -1;
	}
	return 0;
}

static void op_with_path(struct ditto_op *op, uint16_t kind, char *path,
			 uint32_t len)
{
	op_init(op, kind);
	op->path = path;
	op->path_len = len;
}

static int emit_setattr(struct mirror_walk *w, char *path, uint32_t len,
			const struct stat *st, uint32_t mask)
{
	struct ditto_op op;

	op_with_path(&op, DITTO_OP_SETATTR, path, len);
	op.attr_mask = mask;
	op.mode = st->st_mode & 07777;
	op.uid = st->st_uid;
	op.gid = st->st_gid;
	op.atime_ns = ts_ns(&st->st_atim);
	op.mtime_ns = ts_ns(&st->st_mtim);
	return emit(w, &op);
}

/* One VERIFY: the source's view of the entry at path. */
static int emit_verify(struct mirror_walk *w, char *path, uint32_t len,
		       const struct stat *st, uint16_t flags, const void *data,
		       size_t dlen, uint64_t block)
{
	struct ditto_op op;

	op_with_path(&op, DITTO_OP_VERIFY, path, len);
	op.flags = flags;
	op.attr_mask = DITTO_ATTR_MTIME;
	op.mtime_ns = ts_ns(&st->st_mtim);
	op.mode = st->st_mode;
	op.uid = st->st_uid;
	op.gid = st->st_gid;
	op.rdev = S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? st->st_rdev : 0;
	op.len = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	op.off = block;
	op.data = (uint8_t *)data;
	op.data_len = (uint32_t)dlen;
	w->st.probes++;
	/* A probe may bring its file back as a resend: a step probes about
	 * its byte budget's worth, so the caller's memory bound holds. */
	w->step_bytes += op.len;
	return emit(w, &op);
}

/* Where a child's name starts in abs after its parent's path. */
static size_t name_off(const struct mirror_walk *w, size_t parent_len)
{
	return parent_len == 1 && w->abs[0] == '/' ? 1 : parent_len + 1;
}

/* Fills w->mpath from w->abs. 0, or -1 (the entry is to be skipped). */
static int map_path(struct mirror_walk *w)
{
	int n;

	if (w->o.count_only && !w->o.map) {
		/* Counting: any non-empty stand-in will do, so paths too
		 * long for the default map are still counted. */
		n = w->abs_len > 1;
		w->mpath[0] = '-';
	} else if (w->o.map) {
		n = w->o.map(w->o.ctx, w->abs, w->abs_len, w->mpath,
			     sizeof(w->mpath));
	} else if (w->abs_len - 1 > DITTO_PATH_MAX) {
		n = -1;
	} else {
		memcpy(w->mpath, w->abs + 1, w->abs_len - 1);
		n = (int)w->abs_len - 1;
	}
	if (n < 0 || n > DITTO_PATH_MAX)
		return -1;
	w->mpath[n] = '\0';
	w->mpath_len = (uint32_t)n;
	if (n > 0 && !op_path_valid(w->mpath, (size_t)n))
		return -1;
	return 0;
}

/* --- hard links --------------------------------------------------------- */

static size_t link_hash(dev_t dev, ino_t ino, size_t cap)
{
	uint64_t h = ((uint64_t)dev * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ino;

	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	return (size_t)(h & (cap - 1));
}

static struct link_ent **link_slot(struct mirror_walk *w, dev_t dev,
				   ino_t ino)
{
	struct link_ent **pp;

	if (!w->lcap)
		return NULL;
	pp = &w->ltab[link_hash(dev, ino, w->lcap)];
	while (*pp && ((*pp)->dev != dev || (*pp)->ino != ino))
		pp = &(*pp)->next;
	return *pp ? pp : NULL;
}

static void link_insert(struct mirror_walk *w, const struct stat *st,
			const char *path, uint32_t len)
{
	struct link_ent *e;
	size_t i;

	if (w->lcount >= w->lcap) {
		/* Rehash at load 1 to keep chains short. */
		size_t ncap = w->lcap ? w->lcap * 2 : 64;
		struct link_ent **nt = util_xcalloc(ncap, sizeof(*nt));

		for (i = 0; i < w->lcap; i++) {
			while (w->ltab[i]) {
				struct link_ent *x = w->ltab[i];
				size_t h = link_hash(x->dev, x->ino, ncap);

				w->ltab[i] = x->next;
				x->next = nt[h];
				nt[h] = x;
			}
		}
		free(w->ltab);
		w->ltab = nt;
		w->lcap = ncap;
	}
	e = util_xmalloc(sizeof(*e) + len + 1);
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->left = st->st_nlink - 1;
	e->path_len = len;
	memcpy(e->path, path, len);
	e->path[len] = '\0';
	i = link_hash(e->dev, e->ino, w->lcap);
	e->next = w->ltab[i];
	w->ltab[i] = e;
	w->lcount++;
}

/* 1 if st is a further name of an inode already sent (LINK emitted), 0 if
 * not, -1 if emit aborted. */
static int link_try(struct mirror_walk *w, const struct stat *st)
{
	struct link_ent **pp = link_slot(w, st->st_dev, st->st_ino);
	struct link_ent *e;
	struct ditto_op op;

	if (!pp)
		return 0;
	e = *pp;
	if (w->o.probe == MIRROR_PROBE_ALL) {
		if (emit_verify(w, w->mpath, w->mpath_len, st, DITTO_VERIFY_LINK,
				e->path, e->path_len, 0) < 0)
			return -1;
	} else {
		op_with_path(&op, DITTO_OP_LINK, w->mpath, w->mpath_len);
		op.path2 = e->path;
		op.path2_len = e->path_len;
		if (emit(w, &op) < 0)
			return -1;
	}
	w->st.hardlinks++;
	if (--e->left == 0) {
		*pp = e->next;
		free(e);
		w->lcount--;
	}
	return 1;
}

/* An entry with more names was sent in full: tell opts.linked, which may
 * queue more ops (LINKs of its other names) to follow it. */
static int linked_done(struct mirror_walk *w, const struct stat *st,
		       const char *mpath, uint32_t mlen)
{
	/* A verification changes nothing on the target. */
	if (!w->o.linked || w->o.count_only || st->st_nlink < 2 ||
	    w->o.probe == MIRROR_PROBE_ALL)
		return 0;
	if (w->o.linked(w->o.ctx, w->abs, w->abs_len, st, mpath, mlen) != 0) {
		snprintf(w->err, sizeof(w->err),
			 "mirror aborted by the consumer after a hard link");
		return -1;
	}
	return 0;
}

/* --- xattrs ------------------------------------------------------------- */

/* Reads name's value into w->xval. Its length, or -1 with errno. */
static ssize_t xattr_get(struct mirror_walk *w, int fd, const char *name)
{
	ssize_t n;
	int tries;

	for (tries = 0; tries < 4; tries++) {
		n = fgetxattr(fd, name, w->xval, w->xval_cap);
		if (n >= 0 || errno != ERANGE)
			return n;
		n = fgetxattr(fd, name, NULL, 0);
		if (n < 0)
			return n;
		if ((size_t)n > DITTO_OP_DATA_MAX) {
			errno = E2BIG;
			return -1;
		}
		w->xval_cap = (size_t)n + 1;
		w->xval = util_xrealloc(w->xval, w->xval_cap + 1);
	}
	errno = EAGAIN;
	return -1;
}

static bool xattr_name_ok(const char *name, size_t nlen)
{
	return nlen > 0 && nlen <= DITTO_XATTR_NAME_MAX && name[nlen] == '\0';
}

/* REMOVEXATTR(ALL_EXCEPT) listing the n bytes of names in w->xnames that
 * will be sent: the target drops any other, so removals on the source
 * reach it. */
static int send_xattr_keep(struct mirror_walk *w, size_t n, char *path,
			   uint32_t len)
{
	struct ditto_op op;
	struct util_buf keep;
	size_t i, nlen;
	int rc;

	util_buf_init(&keep);
	for (i = 0; i < n; i += nlen + 1) {
		nlen = strnlen(w->xnames + i, n - i);
		if (xattr_name_ok(w->xnames + i, nlen))
			util_buf_append(&keep, w->xnames + i, nlen + 1);
	}
	op_with_path(&op, DITTO_OP_REMOVEXATTR, path, len);
	op.flags = DITTO_XATTR_ALL_EXCEPT;
	op.name = (char *)"";
	op.data = (uint8_t *)(keep.len ? keep.data : "");
	op.data_len = (uint32_t)keep.len;
	rc = emit(w, &op);
	util_buf_free(&keep);
	return rc;
}

/* REMOVEXATTR(ALL_EXCEPT) and a SETXATTR for every xattr of fd. A failure to read them skips them with a
 * counted error; only an emit abort returns -1. */
static int send_xattrs(struct mirror_walk *w, int fd, char *path,
		       uint32_t len)
{
	ssize_t n;
	size_t i;
	int tries;

	if (!w->o.xattrs || w->o.count_only)
		return 0;
	for (tries = 0;; tries++) {
		n = flistxattr(fd, w->xnames, w->xnames_cap);
		if (n >= 0)
			break;
		if (errno == ENOTSUP)
			return 0;
		if (errno == ERANGE && tries < 4) {
			n = flistxattr(fd, NULL, 0);
			if (n >= 0) {
				w->xnames_cap = (size_t)n + 256;
				w->xnames = util_xrealloc(w->xnames,
							  w->xnames_cap);
				continue;
			}
		}
		skip_err(w, errno, "listxattr");
		return 0;
	}
	if (send_xattr_keep(w, (size_t)n, path, len) < 0)
		return -1;
	for (i = 0; i < (size_t)n;) {
		char *name = w->xnames + i;
		size_t nlen = strnlen(name, (size_t)n - i);
		struct ditto_op op;
		ssize_t v;

		i += nlen + 1;
		if (!xattr_name_ok(name, nlen))
			continue;
		v = xattr_get(w, fd, name);
		if (v < 0) {
			if (errno != ENODATA) /* removed meanwhile: fine */
				skip_err(w, errno, "getxattr");
			continue;
		}
		w->xval[v] = 0;
		op_with_path(&op, DITTO_OP_SETXATTR, path, len);
		op.name = name;
		op.name_len = (uint32_t)nlen;
		op.data = w->xval;
		op.data_len = (uint32_t)v;
		if (emit(w, &op) < 0)
			return -1;
	}
	return 0;
}

/* --- directory streams -------------------------------------------------- */

/* Parks the shallowest open directory below the top, keeping its position,
 * so a deep walk needs only max_open_dirs descriptors. -1 if none left. */
static int park_one(struct mirror_walk *w)
{
	size_t i;

	for (i = 0; i + 1 < w->depth; i++) {
		struct frame *fr = &w->stack[i];
		long pos;

		if (!fr->d)
			continue;
		pos = telldir(fr->d);
		if (pos < 0)
			continue;
		fr->pos = pos;
		closedir(fr->d);
		fr->d = NULL;
		w->open_dirs--;
		return 0;
	}
	return -1;
}

static int open_nofollow(struct mirror_walk *w, int dirfd, const char *name,
			 int extra)
{
	int base = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | extra;
	int fd;

	for (;;) {
		/* O_NOATIME so the mirror leaves access times alone; it is
		 * refused (EPERM) on files we do not own without CAP_FOWNER. */
		fd = openat(dirfd, name, base | O_NOATIME);
		if (fd < 0 && errno == EPERM)
			fd = openat(dirfd, name, base);
		if (fd >= 0 || (errno != EMFILE && errno != ENFILE) ||
		    park_one(w) < 0)
			return fd;
	}
}

/* Makes a DIR for fd positioned at pos, and checks it is the directory of
 * frame fr. 0, or -1 (fd closed either way on failure). */
static int frame_attach(struct mirror_walk *w, struct frame *fr, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_dev != fr->dev ||
	    st.st_ino != fr->ino) {
		close(fd);
		errno = ESTALE; /* moved away during the walk */
		return -1;
	}
	fr->d = fdopendir(fd);
	if (!fr->d) {
		close(fd);
		return -1;
	}
	seekdir(fr->d, fr->pos);
	w->open_dirs++;
	return 0;
}

/* Reopens parked frame idx by walking down from its nearest open ancestor
 * (or from its root's absolute path) by the names kept in w->abs. */
static int frame_reopen_chain(struct mirror_walk *w, size_t idx)
{
	size_t a = idx, j;
	int fd = -1, base;
	char name[NAME_MAX + 1];

	while (a > 0 && !w->stack[a - 1].d)
		a--;
	if (a == 0) {
		char c = w->abs[w->stack[0].path_len];

		w->abs[w->stack[0].path_len] = '\0';
		fd = open_nofollow(w, AT_FDCWD, w->abs, O_DIRECTORY);
		w->abs[w->stack[0].path_len] = c;
		if (fd < 0)
			return -1;
		a = 1;
	} else {
		fd = dup(dirfd(w->stack[a - 1].d));
		if (fd < 0)
			return -1;
	}
	for (j = a; j <= idx; j++) {
		size_t s = name_off(w, w->stack[j - 1].path_len);
		size_t n = w->stack[j].path_len - s;

		memcpy(name, w->abs + s, n);
		name[n] = '\0';
		base = fd;
		fd = open_nofollow(w, base, name, O_DIRECTORY);
		close(base);
		if (fd < 0)
			return -1;
	}
	return frame_attach(w, &w->stack[idx], fd);
}

/* The top frame is done with: closing SETATTR and xattrs, then pop, making
 * sure the new top is open again. */
static int pop_dir(struct mirror_walk *w)
{
	struct frame *top = &w->stack[w->depth - 1];
	int rc = -1;

	w->abs_len = top->path_len;
	w->abs[w->abs_len] = '\0';
	if (top->emit_own && w->o.probe != MIRROR_PROBE_ALL &&
	    w->o.probe != MIRROR_DIRS_ONLY && map_path(w) == 0 &&
	    w->mpath_len > 0) {
		struct stat st = top->st;

		/* Current mode/owner/mtime, but the atime from before the
		 * walk read the directory. */
		if (top->d && fstat(dirfd(top->d), &st) == 0)
			st.st_atim = top->st.st_atim;
		if (emit_setattr(w, w->mpath, w->mpath_len, &st, ATTR_ALL) < 0)
			goto out;
		if (top->d && send_xattrs(w, dirfd(top->d), w->mpath,
					  w->mpath_len) < 0)
			goto out;
	}
	if (w->depth >= 2) {
		struct frame *par = &w->stack[w->depth - 2];

		if (!par->d && !par->broken) {
			int fd = -1;

			/* ".." of the child is the parent unless something
			 * moved; frame_attach checks, the chain is the
			 * fallback. */
			if (top->d)
				fd = open_nofollow(w, dirfd(top->d), "..",
						   O_DIRECTORY);
			if ((fd < 0 || frame_attach(w, par, fd) < 0) &&
			    frame_reopen_chain(w, w->depth - 2) < 0) {
				w->abs_len = par->path_len;
				w->abs[w->abs_len] = '\0';
				skip_err(w, errno, "reopen directory");
				par->broken = true;
			}
		}
	}
	rc = 0;
out:
	if (top->d) {
		closedir(top->d);
		w->open_dirs--;
	}
	w->depth--;
	if (w->depth) {
		w->abs_len = w->stack[w->depth - 1].path_len;
		w->abs[w->abs_len] = '\0';
	}
	return rc;
}

static int flush_names(struct mirror_walk *w, uint16_t flags)
{
	struct ditto_op op;
	int rc;

	op_init(&op, DITTO_OP_DIRLIST);
	op.flags = flags;
	if (w->mpath_len) {
		op.path = w->mpath;
		op.path_len = w->mpath_len;
	} else {
		op.flags |= DITTO_DIRLIST_ROOT;
	}
	op.data = (uint8_t *)w->names.data;
	op.data_len = (uint32_t)w->names.len;
	rc = emit(w, &op);
	util_buf_reset(&w->names);
	return rc;
}

/* DIRLIST ops for the directory just opened as fd (path in w->abs, mapped
 * in w->mpath): the names of the entries the walk would include. It reads
 * the directory through its own open file description, so the walk's
 * position is not disturbed. -1 only when emit aborted. */
static int list_dir(struct mirror_walk *w, int fd)
{
	size_t plen = w->abs_len, off = name_off(w, plen);
	uint16_t first = DITTO_DIRLIST_FIRST;
	struct dirent *de;
	int lfd, rc = 0;
	DIR *d;

	lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = lfd < 0 ? NULL : fdopendir(lfd);
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		/* Without a listing the target cannot tell orphans: send
		 * none rather than a wrong one. */
		skip_err(w, errno, "list directory");
		return 0;
	}
	util_buf_reset(&w->names);
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		bool is_dir = de->d_type == DT_DIR;
		enum mirror_verdict v = MIRROR_INCLUDE;

		if (de->d_name[0] == '.' && (nl == 1 || (nl == 2 && de->d_name[1] == '.')))
			continue;
		/* When in doubt, list the name: a name left out is an orphan to
		 * the target, which may delete it. */
		if (off + nl > MIRROR_ABS_MAX) {
			util_buf_append(&w->names, de->d_name, nl + 1);
			continue;
		}
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno != ENOENT)
					util_buf_append(&w->names, de->d_name, nl + 1);
				continue;
			}
			is_dir = S_ISDIR(st.st_mode);
		}
		if (w->o.match) {
			w->abs[plen] = '/';
			memcpy(w->abs + off, de->d_name, nl + 1);
			v = w->o.match(w->o.ctx, w->abs, off + nl, is_dir);
			w->abs[plen] = '\0';
		}
		if (v == MIRROR_SKIP || (v == MIRROR_DESCEND && !is_dir))
			continue;
		util_buf_append(&w->names, de->d_name, nl + 1);
		if (w->names.len >= DITTO_OP_DATA_MAX - 512) {
			if (flush_names(w, first) < 0) {
				rc = -1;
				break;
			}
			first = 0;
		}
	}
	closedir(d);
	if (rc == 0)
		rc = flush_names(w, first | DITTO_DIRLIST_LAST);
	return rc;
}

/* included: the directory itself is part of the set (not only looked
 * into); then it has ops of its own unless it is the target root. */
static int push_dir(struct mirror_walk *w, int dirfd, const char *name,
		    bool included)
{
	bool emit_own = included && w->mpath_len > 0;
	struct frame *fr;
	struct stat st;
	DIR *d;
	size_t i;
	int fd;

	if (w->open_dirs >= w->o.max_open_dirs)
		park_one(w);
	fd = open_nofollow(w, dirfd, name, O_DIRECTORY);
	if (fd < 0) {
		skip_err(w, errno, "open directory");
		return 0;
	}
	if (fstat(fd, &st) < 0) {
		skip_err(w, errno, "stat directory");
		close(fd);
		return 0;
	}
	/* A bind mount can make a directory its own descendant. */
	for (i = 0; i < w->depth; i++) {
		if (w->stack[i].dev == st.st_dev &&
		    w->stack[i].ino == st.st_ino) {
			skip_err(w, ELOOP, "directory loop");
			close(fd);
			return 0;
		}
	}
	d = fdopendir(fd);
	if (!d) {
		skip_err(w, errno, "opendir");
		close(fd);
		return 0;
	}
	if (emit_own && (w->o.probe == MIRROR_PROBE_ALL ||
			 w->o.probe == MIRROR_DIRS_ONLY)) {
		if (w->o.probe == MIRROR_PROBE_ALL &&
		    emit_verify(w, w->mpath, w->mpath_len, &st, 0, NULL, 0, 0) < 0) {
			closedir(d);
			return -1;
		}
		w->st.dirs++;
	} else if (emit_own) {
		struct ditto_op op;

		op_with_path(&op, DITTO_OP_MKDIR, w->mpath, w->mpath_len);
		op.mode = st.st_mode & 07777;
		op.uid = st.st_uid;
		op.gid = st.st_gid;
		if (emit(w, &op) < 0) {
			closedir(d);
			return -1;
		}
		w->st.dirs++;
	}
	if (w->depth == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->stack = util_xreallocarray(w->stack, w->cap,
					      sizeof(*w->stack));
	}
	fr = &w->stack[w->depth++];
	memset(fr, 0, sizeof(*fr));
	fr->d = d;
	fr->dev = st.st_dev;
	fr->ino = st.st_ino;
	fr->path_len = w->abs_len;
	fr->st = st;
	fr->emit_own = emit_own;
	w->open_dirs++;
	/* A directory mapped to the target root is listed too: it has no
	 * ops of its own, but its orphans are as real as anyone's. */
	if (w->o.dirlists && !w->o.count_only && included && list_dir(w, fd) < 0)
		return -1;
	return 0;
}

/* --- regular files ------------------------------------------------------ */

/* A file sent whole outside the maps leaves its map describing another
 * copy: drop it, before (so a delta between our chunks starts from
 * nothing) and after (a map made meanwhile is not of what we sent). */
static void map_forget(struct mirror_walk *w, const struct stat *st)
{
	if (w->o.maps)
		blockmap_forget(w->o.maps, st->st_dev, st->st_ino);
}

static void file_close(struct mirror_walk *w)
{
	if (!w->f.probe && w->o.maps_mode == MIRROR_MAPS_FORGET)
		map_forget(w, &w->f.st);
	close(w->f.fd);
	w->f.fd = -1;
}

/* A root regular file whose name just appeared (opts.fresh_root). */
static bool fresh_file(const struct mirror_walk *w)
{
	return w->o.fresh_root && w->depth == 0;
}

/* CREATE of the file being sent (an existing copy keeps its data, unless
 * fresh_file and shared with other names there: DITTO_CREATE_NEW). */
static int emit_create(struct mirror_walk *w)
{
	struct file_state *f = &w->f;
	struct ditto_op op;

	op_with_path(&op, DITTO_OP_CREATE, f->path, f->path_len);
	if (fresh_file(w))
		op.flags = DITTO_CREATE_NEW;
	op.mode = f->st.st_mode & 07777;
	op.uid = f->st.st_uid;
	op.gid = f->st.st_gid;
	return emit(w, &op);
}

static int map_emit(void *ctx, const struct ditto_op *op)
{
	return emit(ctx, op);
}

/* A file sent through the block maps, in one step. */
static int send_by_map(struct mirror_walk *w)
{
	struct file_state *f = &w->f;
	struct blockmap_result res;
	int rc = -1;

	/* A new name of a multiply-linked file gets a new inode on the
	 * target (CREATE_NEW), which no delta can be for: whole, with a new
	 * map, and then the other names are linked to it. */
	if ((w->o.maps_mode == MIRROR_MAPS_REBUILD ||
	     (fresh_file(w) && f->st.st_nlink > 1)) &&
	    blockmap_forget(w->o.maps, f->st.st_dev, f->st.st_ino) < 0) {
		/* A stale map left in place could be used: send nothing. */
		skip_err(w, errno, "drop the block map of");
		rc = 0;
		goto out;
	}
	if (emit_create(w) < 0)
		goto out;
	if (blockmap_sync_file(w->o.maps, f->fd, &f->st, f->path, f->path_len,
			       map_emit, w, &res) < 0) {
		if (errno == ECANCELED)
			goto out;
		skip_err(w, errno, "read");
		rc = 0;
		goto out;
	}
	w->st.bytes += res.bytes_sent;
	w->step_bytes += res.bytes_read;
	/* The times of the fstat the map was made with: the guard of the
	 * next delta expects them on the target. */
	if (emit_setattr(w, f->path, f->path_len, &f->st, ATTR_ALL) < 0 ||
	    send_xattrs(w, f->fd, f->path, f->path_len) < 0 ||
	    linked_done(w, &f->st, f->path, f->path_len) < 0)
		goto out;
	rc = 0;
out:
	file_close(w);
	return rc;
}

static int start_file(struct mirror_walk *w, int dirfd, const char *name)
{
	struct file_state *f = &w->f;
	struct ditto_op op;
	int fd;

	/* O_NONBLOCK: if the name became a FIFO since the stat, opening
	 * it must not hang the agent. */
	fd = open_nofollow(w, dirfd, name, O_NONBLOCK);
	if (fd < 0) {
		skip_err(w, errno, "open");
		return 0;
	}
	if (fstat(fd, &f->st) < 0) {
		skip_err(w, errno, "stat");
		close(fd);
		return 0;
	}
	if (!S_ISREG(f->st.st_mode)) { /* replaced since the stat */
		skip_err(w, ESTALE, "open");
		close(fd);
		return 0;
	}
	f->fd = fd;
	f->off = 0;
	f->data_end = 0;
	f->size0 = (uint64_t)f->st.st_size;
	f->written_end = 0;
	f->no_seek = false;
	f->path_len = w->mpath_len;
	memcpy(f->path, w->mpath, w->mpath_len + 1);
	w->st.files++;
	if (f->st.st_nlink > 1)
		link_insert(w, &f->st, f->path, f->path_len);
	/* A hard-linked file is sent whole even by a difference mirror: the
	 * LINKs of its other names follow at once and must find it there, not
	 * wait for the answer to a probe. */
	f->probe = w->o.probe == MIRROR_PROBE_ALL ||
		   (w->o.probe == MIRROR_PROBE_FILES && f->st.st_nlink == 1);
	if (f->probe) {
		w->st.bytes += f->size0;
		if (!w->o.checksum) {
			int rc = emit_verify(w, f->path, f->path_len, &f->st, 0, NULL, 0, 0);

			file_close(w);
			return rc;
		}
		f->block = bhash_block_size(f->size0, w->o.block ? w->o.block : BHASH_BLOCK_DEFAULT);
		f->nblocks = bhash_blocks(f->size0, f->block);
		f->hashed = 0;
		f->hashes = util_xrealloc(f->hashes, f->nblocks * 8 + 1);
		w->hbuf = util_xrealloc(w->hbuf, f->block);
		return 0;
	}
	if (w->o.maps && w->o.maps_mode != MIRROR_MAPS_FORGET && !w->o.count_only)
		return send_by_map(w);
	map_forget(w, &f->st);

	if (emit_create(w) < 0)
		goto fail;
	/* Cut whatever a stale target file holds: after this only the data
	 * extents are written, so holes stay holes. */
	op_with_path(&op, DITTO_OP_TRUNCATE, f->path, f->path_len);
	op.off = 0;
	if (emit(w, &op) < 0)
		goto fail;
	return 0;
fail:
	file_close(w);
	return -1;
}

static int file_finish(struct mirror_walk *w)
{
	struct file_state *f = &w->f;
	struct ditto_op op;
	struct stat st = f->st;
	int rc = -1;

	/* The size and times now, so an append during the read is not cut
	 * off by a stale size; the atime from before we read. */
	if (fstat(f->fd, &st) == 0)
		st.st_atim = f->st.st_atim;
	if ((uint64_t)st.st_size != f->written_end) {
		op_with_path(&op, DITTO_OP_TRUNCATE, f->path, f->path_len);
		op.off = (uint64_t)st.st_size;
		if (emit(w, &op) < 0)
			goto out;
	}
	if (emit_setattr(w, f->path, f->path_len, &st, ATTR_ALL) < 0)
		goto out;
	if (send_xattrs(w, f->fd, f->path, f->path_len) < 0)
		goto out;
	if (linked_done(w, &st, f->path, f->path_len) < 0)
		goto out;
	rc = 0;
out:
	file_close(w);
	return rc;
}

/* One unit of the file being streamed: locate the next data extent and
 * send one chunk of it, or finish the file. */
/* One unit of hashing for a checksum VERIFY: about a chunk of blocks, then
 * the op once all are done. */
static int probe_step(struct mirror_walk *w)
{
	struct file_state *f = &w->f;
	uint64_t k = w->o.chunk / f->block, i;
	int rc;

	if (f->hashed >= f->nblocks) {
		rc = emit_verify(w, f->path, f->path_len, &f->st,
				 DITTO_VERIFY_CHECKSUM | (w->o.flagged ? DITTO_VERIFY_FLAGGED : 0),
				 f->hashes, f->nblocks * 8, f->block);
		file_close(w);
		return rc;
	}
	if (k == 0)
		k = 1;
	if (k > f->nblocks - f->hashed)
		k = f->nblocks - f->hashed;
	w->htmp = util_xrealloc(w->htmp, k * sizeof(*w->htmp));
	rc = bhash_file(f->fd, f->size0, f->block, f->hashed, k, w->htmp, w->hbuf);
	if (rc < 0) {
		skip_err(w, -rc, "read");
		file_close(w);
		return 0;
	}
	for (i = 0; i < k; i++)
		bhash_put(f->hashes + (f->hashed + i) * 8, w->htmp[i]);
	f->hashed += k;
	w->step_bytes += k * f->block;
	return 0;
}

static int file_step(struct mirror_walk *w)
{
	struct file_state *f = &w->f;
	struct ditto_op op;
	size_t n;
	ssize_t r;

	if (f->probe)
		return probe_step(w);
	if (f->off >= f->data_end) {
		if (f->off >= f->size0)
			return file_finish(w);
		if (!f->no_seek) {
			off_t d = lseek(f->fd, (off_t)f->off, SEEK_DATA), h;

			if (d < 0 && errno == ENXIO)
				return file_finish(w); /* only holes left */
			if (d < 0 && errno != EINVAL && errno != EOPNOTSUPP)
				goto fail;
			if (d < 0) {
				f->no_seek = true;
			} else {
				f->off = (uint64_t)d;
				if (f->off >= f->size0)
					return file_finish(w);
				h = lseek(f->fd, d, SEEK_HOLE);
				f->data_end = h < 0 ? f->size0 : (uint64_t)h;
				if (f->data_end > f->size0)
					f->data_end = f->size0;
			}
		}
		if (f->no_seek)
			f->data_end = f->size0;
	}
	if (w->o.count_only) {
		w->st.bytes += f->data_end - f->off;
		f->off = f->data_end;
		return 0;
	}
	n = w->o.chunk;
	if (f->data_end - f->off < n)
		n = (size_t)(f->data_end - f->off);
	do
		r = pread(f->fd, w->buf, n, (off_t)f->off);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		goto fail;
	if (r == 0) /* shrunk while we read: the closing TRUNCATE says so */
		return file_finish(w);
	w->buf[r] = 0;
	op_with_path(&op, DITTO_OP_WRITE, f->path, f->path_len);
	op.off = f->off;
	op.data = w->buf;
	op.data_len = (uint32_t)r;
	if (emit(w, &op) < 0) {
		file_close(w);
		return -1;
	}
	f->off += (uint64_t)r;
	f->written_end = f->off;
	w->st.bytes += (uint64_t)r;
	w->step_bytes += (uint64_t)r;
	return 0;
fail:
	/* What was sent stays sent; the error is counted for the operator
	 * (verification will show the file differs). */
	skip_err(w, errno, "read");
	file_close(w);
	return 0;
}

/* --- other entries ------------------------------------------------------ */

static int do_symlink(struct mirror_walk *w, int dirfd, const char *name,
		      const struct stat *st)
{
	struct ditto_op op;
	ssize_t n;

	n = readlinkat(dirfd, name, w->target, sizeof(w->target) - 1);
	if (n <= 0 || n > DITTO_PATH_MAX) {
		skip_err(w, n < 0 ? errno : ENAMETOOLONG, "readlink");
		return 0;
	}
	w->target[n] = '\0';
	op_with_path(&op, DITTO_OP_SYMLINK, w->mpath, w->mpath_len);
	op.path2 = w->target;
	op.path2_len = (uint32_t)n;
	op.uid = st->st_uid;
	op.gid = st->st_gid;
	if (emit(w, &op) < 0)
		return -1;
	if (emit_setattr(w, w->mpath, w->mpath_len, st,
			 DITTO_ATTR_UID | DITTO_ATTR_GID | DITTO_ATTR_ATIME |
			 DITTO_ATTR_MTIME) < 0)
		return -1;
	w->st.symlinks++;
	return 0;
}

static int do_special(struct mirror_walk *w, const struct stat *st)
{
	struct ditto_op op;

	op_with_path(&op, DITTO_OP_MKNOD, w->mpath, w->mpath_len);
	op.mode = st->st_mode & (S_IFMT | 07777);
	op.rdev = st->st_rdev;
	op.uid = st->st_uid;
	op.gid = st->st_gid;
	if (emit(w, &op) < 0 ||
	    emit_setattr(w, w->mpath, w->mpath_len, st, ATTR_ALL) < 0)
		return -1;
	w->st.specials++;
	return 0;
}

/* Handles the entry whose path is in w->abs and which dirfd/name reach.
 * dtype is a readdir hint (DT_UNKNOWN if none). */
static int process_entry(struct mirror_walk *w, int dirfd, const char *name,
			 unsigned char dtype)
{
	enum mirror_verdict v = MIRROR_INCLUDE;
	struct stat st;
	bool have_st = false, is_dir;
	int r;

	if (dtype == DT_UNKNOWN) {
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			skip_err(w, errno, "stat");
			return 0;
		}
		have_st = true;
		is_dir = S_ISDIR(st.st_mode);
	} else {
		is_dir = dtype == DT_DIR;
	}
	/* The d_type hint lets excluded entries cost no stat at all. */
	if (w->o.match)
		v = w->o.match(w->o.ctx, w->abs, w->abs_len, is_dir);
	if (v == MIRROR_SKIP || (v == MIRROR_DESCEND && !is_dir))
		return 0;
	if (!have_st) {
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			skip_err(w, errno, "stat");
			return 0;
		}
		if (S_ISDIR(st.st_mode) != is_dir) {
			/* Replaced by another type since readdir: ask again. */
			is_dir = S_ISDIR(st.st_mode);
			if (w->o.match)
				v = w->o.match(w->o.ctx, w->abs, w->abs_len,
					       is_dir);
			if (v == MIRROR_SKIP ||
			    (v == MIRROR_DESCEND && !is_dir))
				return 0;
		}
	}
	if (v == MIRROR_INCLUDE &&
	    (map_path(w) < 0 || (w->mpath_len == 0 && !is_dir))) {
		skip_err(w, EINVAL, "map path");
		return 0;
	}
	if (is_dir)
		return push_dir(w, dirfd, name, v == MIRROR_INCLUDE);
	if (w->o.probe == MIRROR_DIRS_ONLY)
		return 0;
	if (st.st_nlink > 1) {
		r = link_try(w, &st);
		if (r != 0)
			return r < 0 ? -1 : 0;
	}
	if (S_ISREG(st.st_mode))
		return start_file(w, dirfd, name);
	if (w->o.probe == MIRROR_PROBE_ALL) {
		ssize_t n = 0;

		if (S_ISLNK(st.st_mode)) {
			n = readlinkat(dirfd, name, w->target, sizeof(w->target) - 1);
			if (n <= 0 || n > DITTO_PATH_MAX) {
				skip_err(w, n < 0 ? errno : ENAMETOOLONG, "readlink");
				return 0;
			}
			w->st.symlinks++;
		} else {
			w->st.specials++;
		}
		r = emit_verify(w, w->mpath, w->mpath_len, &st, 0, w->target, (size_t)n, 0);
	} else if (S_ISLNK(st.st_mode))
		r = do_symlink(w, dirfd, name, &st);
	else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) ||
		 S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode))
		r = do_special(w, &st);
	else {
		skip_err(w, EINVAL, "unknown file type");
		return 0;
	}
	if (r == 0 && st.st_nlink > 1) {
		link_insert(w, &st, w->mpath, w->mpath_len);
		r = linked_done(w, &st, w->mpath, w->mpath_len);
	}
	return r;
}

/* One entry of the top directory, or the directory's end. */
static int dir_step(struct mirror_walk *w)
{
	struct frame *top = &w->stack[w->depth - 1];
	struct dirent *de;
	size_t nl, off;

	if (top->broken || !top->d || w->o.shallow)
		return pop_dir(w);
	w->abs_len = top->path_len;
	w->abs[w->abs_len] = '\0';
	errno = 0;
	de = readdir(top->d);
	if (!de) {
		if (errno)
			skip_err(w, errno, "readdir");
		return pop_dir(w);
	}
	if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
	    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
		return 0;
	w->step_entries++;
	nl = strlen(de->d_name);
	off = name_off(w, top->path_len);
	if (off + nl > MIRROR_ABS_MAX) {
		skip_err(w, ENAMETOOLONG, "path too long");
		return 0;
	}
	w->abs[top->path_len] = '/';
	memcpy(w->abs + off, de->d_name, nl + 1);
	w->abs_len = off + nl;
	return process_entry(w, dirfd(top->d), w->abs + off, de->d_type);
}

static int start_root(struct mirror_walk *w)
{
	const char *root = w->roots[w->next_root++];

	w->step_entries++;
	w->abs_len = strlen(root);
	memcpy(w->abs, root, w->abs_len + 1);
	return process_entry(w, AT_FDCWD, w->abs, DT_UNKNOWN);
}

/* --- public ------------------------------------------------------------- */

struct mirror_walk *mirror_walk_new(const char *const *roots, size_t nroots,
				    const struct mirror_opts *o, char *err,
				    size_t errlen)
{
	struct mirror_walk *w = NULL;
	size_t i;

	if (!o || (!o->emit && !o->count_only)) {
		snprintf(err, errlen, "mirror: no emit callback");
		return NULL;
	}
	if (nroots && !roots) {
		snprintf(err, errlen, "mirror: no roots");
		return NULL;
	}
	if (o->chunk > DITTO_OP_DATA_MAX) {
		snprintf(err, errlen, "mirror: chunk %zu above %u", o->chunk,
			 DITTO_OP_DATA_MAX);
		return NULL;
	}
	for (i = 0; i < nroots; i++) {
		size_t n = roots[i] ? strlen(roots[i]) : 0;

		if (n == 0 || roots[i][0] != '/' || n >= PATH_MAX) {
			snprintf(err, errlen,
				 "mirror: root %zu is not an absolute path "
				 "shorter than %d bytes", i, PATH_MAX);
			return NULL;
		}
	}
	w = util_xcalloc(1, sizeof(*w));
	w->o = *o;
	if (!w->o.chunk)
		w->o.chunk = MIRROR_CHUNK_DEFAULT;
	if (!w->o.max_open_dirs)
		w->o.max_open_dirs = MIRROR_MAX_OPEN_DIRS_DEFAULT;
	if (w->o.max_open_dirs < 2)
		w->o.max_open_dirs = 2; /* the top and one to park */
	w->roots = util_xcalloc(nroots ? nroots : 1, sizeof(*w->roots));
	for (i = 0; i < nroots; i++) {
		size_t n = strlen(roots[i]);

		while (n > 1 && roots[i][n - 1] == '/')
			n--;
		w->roots[i] = util_xstrndup(roots[i], n);
	}
	w->nroots = nroots;
	w->buf = w->o.count_only ? NULL : util_xmalloc(w->o.chunk + 1);
	w->xnames_cap = 4096;
	w->xnames = util_xmalloc(w->xnames_cap);
	w->xval_cap = XATTR_VALUE_MAX;
	w->xval = util_xmalloc(w->xval_cap + 1);
	w->f.fd = -1;
	util_buf_init(&w->names);
	w->state = 1;
	if (errlen)
		err[0] = '\0';
	return w;
}

int mirror_walk_step(struct mirror_walk *w, uint64_t budget_bytes,
		     unsigned budget_entries)
{
	bool did = false;
	int r;

	if (w->state != 1)
		return w->state;
	w->step_bytes = 0;
	w->step_entries = 0;
	for (;;) {
		if (did && ((budget_bytes && w->step_bytes >= budget_bytes) ||
			    (budget_entries &&
			     w->step_entries >= budget_entries)))
			return 1;
		did = true;
		if (w->f.fd >= 0) {
			r = file_step(w);
		} else if (w->depth) {
			r = dir_step(w);
		} else if (w->next_root < w->nroots) {
			r = start_root(w);
		} else {
			w->state = 0;
			return 0;
		}
		if (r < 0) {
			w->state = -1;
			return -1;
		}
	}
}

void mirror_walk_stats(const struct mirror_walk *w, struct mirror_stats *out)
{
	*out = w->st;
}

const char *mirror_walk_abs(const struct mirror_walk *w, size_t *len)
{
	*len = w->abs_len;
	return w->abs;
}

const char *mirror_walk_error(const struct mirror_walk *w)
{
	return w->err;
}

void mirror_walk_free(struct mirror_walk *w)
{
	size_t i;

	if (!w)
		return;
	if (w->f.fd >= 0)
		close(w->f.fd);
	for (i = 0; i < w->depth; i++)
		if (w->stack[i].d)
			closedir(w->stack[i].d);
	for (i = 0; i < w->lcap; i++) {
		while (w->ltab[i]) {
			struct link_ent *e = w->ltab[i];

			w->ltab[i] = e->next;
			free(e);
		}
	}
	for (i = 0; i < w->nroots; i++)
		free(w->roots[i]);
	free(w->roots);
	free(w->ltab);
	free(w->stack);
	free(w->buf);
	free(w->xnames);
	free(w->xval);
	free(w->f.hashes);
	free(w->hbuf);
	free(w->htmp);
	util_buf_free(&w->names);
	free(w);
}

static int emit_piece(struct mirror_walk *w, int fd, char *path, uint32_t plen,
		      uint64_t off, uint64_t end, bool hole)
{
	struct ditto_op op;
	ssize_t r;

	if (hole) {
		op_with_path(&op, DITTO_OP_FALLOCATE, path, plen);
		op.flags = DITTO_FALLOC_PUNCH_HOLE | DITTO_FALLOC_KEEP_SIZE;
		op.off = off;
		op.len = end - off;
		return emit(w, &op) < 0 ? -1 : 0;
	}
	do
		r = pread(fd, w->buf, (size_t)(end - off), (off_t)off);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 1; /* shrunk or unreadable: the TRUNCATE/caller handle it */
	op_with_path(&op, DITTO_OP_WRITE, path, plen);
	op.off = off;
	op.data = w->buf;
	op.data_len = (uint32_t)r;
	w->st.bytes += (uint64_t)r;
	return emit(w, &op) < 0 ? -1 : 0;
}

int mirror_send_ranges(struct mirror_walk *w, const char *abs, const char *path,
		       size_t plen, const struct mirror_range *r, size_t n)
{
	char p[DITTO_PATH_MAX + 1];
	struct stat st;
	uint64_t size;
	size_t i;
	int fd, rc = 0;

	if (plen > DITTO_PATH_MAX || !w->buf)
		return -1;
	memcpy(p, path, plen);
	p[plen] = '\0';
	/* Warnings name the file being repaired. */
	w->abs_len = strnlen(abs, MIRROR_ABS_MAX);
	memcpy(w->abs, abs, w->abs_len);
	w->abs[w->abs_len] = '\0';
	fd = open_nofollow(w, AT_FDCWD, abs, O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return 1;
	}
	size = (uint64_t)st.st_size;
	map_forget(w, &st);
	for (i = 0; i < n && rc == 0; i++) {
		uint64_t off = r[i].off, end = r[i].off + r[i].len;

		if (end > size || end < off)
			end = size;
		while (off < end && rc == 0) {
			off_t d = lseek(fd, (off_t)off, SEEK_DATA), h;
			uint64_t pe;

			if (d < 0 && errno == ENXIO) {
				rc = emit_piece(w, fd, p, (uint32_t)plen, off, end, true);
				break;
			}
			if (d >= 0 && (uint64_t)d > off) {
				pe = (uint64_t)d < end ? (uint64_t)d : end;
				rc = emit_piece(w, fd, p, (uint32_t)plen, off, pe, true);
				off = pe;
				continue;
			}
			h = d < 0 ? -1 : lseek(fd, (off_t)off, SEEK_HOLE);
			pe = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
			if (pe - off > w->o.chunk)
				pe = off + w->o.chunk;
			rc = emit_piece(w, fd, p, (uint32_t)plen, off, pe, false);
			if (rc > 0) {
				skip_err(w, errno, "read");
				rc = 0;
				break;
			}
			off = pe;
		}
	}
	if (rc == 0 && fstat(fd, &st) == 0) {
		struct ditto_op op;

		op_with_path(&op, DITTO_OP_TRUNCATE, p, (uint32_t)plen);
		op.off = (uint64_t)st.st_size;
		if (emit(w, &op) < 0 ||
		    emit_setattr(w, p, (uint32_t)plen, &st, ATTR_ALL) < 0 ||
		    send_xattrs(w, fd, p, (uint32_t)plen) < 0)
			rc = -1;
	}
	map_forget(w, &st);
	close(fd);
	return rc < 0 ? -1 : 0;
}

int mirror_calculate(const char *const *roots, size_t nroots,
		     mirror_match_fn match, void *ctx, uint64_t *bytes,
		     uint64_t *entries)
{
	struct mirror_opts o = {
		.match = match, .ctx = ctx, .count_only = true,
	};
	struct mirror_stats s;
	struct mirror_walk *w;
	char err[128];
	int r;

	w = mirror_walk_new(roots, nroots, &o, err, sizeof(err));
	if (!w) {
		errno = EINVAL;
		return -1;
	}
	while ((r = mirror_walk_step(w, 0, 4096)) == 1)
		;
	mirror_walk_stats(w, &s);
	mirror_walk_free(w);
	if (bytes)
		*bytes = s.bytes;
	if (entries)
		*entries = s.dirs + s.files + s.symlinks + s.specials +
			   s.hardlinks;
	return r < 0 ? -1 : 0;
}
