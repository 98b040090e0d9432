#include "config.h"

#include "apply.h"
#include "op.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Newer syscalls than this libc knows. The numbers are the unified ones every
 * architecture listed here shares (asm-generic and x86 tables). */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || \
	defined(__arm__) || defined(__riscv) || defined(__loongarch__) || \
	defined(__s390__) || defined(__powerpc__)
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#endif
#ifndef SYS_removexattrat
#define SYS_removexattrat 466
#endif
#endif

/* No symlinks at all, not only none leading out: see apply.h. */
#define RESOLVE_FLAGS (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | \
		       RESOLVE_NO_SYMLINKS)
#define XATTR_VALUE_MAX 65536 /* the kernel's XATTR_SIZE_MAX */
#define SHOW_MAX 160          /* bytes of an escaped path in a message */

struct apply_root {
	int fd;
};

/* One op being applied: what messages need. */
struct ctx {
	const struct ditto_op *op;
	char *err;
	size_t errlen;
};

/* --- messages ------------------------------------------------------------- */

static const char *kind_name(uint16_t kind)
{
	switch (kind) {
	case DITTO_OP_WRITE: return "WRITE";
	case DITTO_OP_TRUNCATE: return "TRUNCATE";
	case DITTO_OP_FALLOCATE: return "FALLOCATE";
	case DITTO_OP_CREATE: return "CREATE";
	case DITTO_OP_MKDIR: return "MKDIR";
	case DITTO_OP_MKNOD: return "MKNOD";
	case DITTO_OP_SYMLINK: return "SYMLINK";
	case DITTO_OP_LINK: return "LINK";
	case DITTO_OP_UNLINK: return "UNLINK";
	case DITTO_OP_RMDIR: return "RMDIR";
	case DITTO_OP_RENAME: return "RENAME";
	case DITTO_OP_SETATTR: return "SETATTR";
	case DITTO_OP_SETXATTR: return "SETXATTR";
	case DITTO_OP_REMOVEXATTR: return "REMOVEXATTR";
	case DITTO_OP_BLOCK_WRITE: return "BLOCK_WRITE";
	default: return "op";
	}
}

/* Peer bytes go into log lines: escape everything but printable ASCII and cut
 * long paths, so a name cannot forge or flood a log line. */
static void show(char *dst, size_t n, const char *s)
{
	size_t o = 0;

	for (; s && *s && o + 8 < n; s++) {
		unsigned char ch = (unsigned char)*s;

		if (o >= SHOW_MAX) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			dst[o++] = (char)ch;
		else
			o += (size_t)snprintf(dst + o, n - o, "\\x%02x", ch);
	}
	dst[o] = '\0';
}

static void vmsg(struct ctx *c, int rc, const char *fmt, va_list ap)
{
	char what[256], p1[SHOW_MAX + 8], p2[SHOW_MAX + 8];
	const char *sep = "";

	if (!c->err || !c->errlen)
		return;
	vsnprintf(what, sizeof(what), fmt, ap);
	show(p1, sizeof(p1), c->op->path);
	p2[0] = '\0';
	switch (c->op->kind) {
	case DITTO_OP_RENAME: sep = " -> "; break;
	case DITTO_OP_SYMLINK: sep = " -> "; break;
	case DITTO_OP_LINK: sep = " = "; break;
	default: break;
	}
	if (*sep)
		show(p2, sizeof(p2), c->op->path2);
	snprintf(c->err, c->errlen, "%s \"%s\"%s%s%s%s: %s%s%s",
		 kind_name(c->op->kind), p1, sep, *sep ? "\"" : "", p2,
		 *sep ? "\"" : "", what, rc ? ": " : "",
		 rc ? strerror(-rc) : "");
}

/* Formats "KIND "path": what: strerror" into err and returns rc. */
__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, rc, fmt, ap);
	va_end(ap);
	return rc;
}

/* A success that skipped something: the caller may log it. */
__attribute__((format(printf, 2, 3)))
static int note(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, 0, fmt, ap);
	va_end(ap);
	return 0;
}

/* --- validation ------------------------------------------------------------ */

static int check_path(const char *p, uint32_t len)
{
	const char *c, *end, *s;
	size_t n;

	if (!p || len == 0 || len > DITTO_PATH_MAX || strnlen(p, len + 1) != len ||
	    p[0] == '/')
		return -EINVAL;
	end = p + len;
	for (c = p;; c = s + 1) {
		s = memchr(c, '/', (size_t)(end - c));
		n = s ? (size_t)(s - c) : (size_t)(end - c);
		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		if (!s)
			return 0;
	}
}

/* --- resolution beneath the root ------------------------------------------ */

static int beneath_open(int dfd, const char *path, uint64_t flags,
			uint64_t mode)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.mode = mode,
		.resolve = RESOLVE_FLAGS,
	};
	int tries = 0;
	long fd;

	/* EAGAIN means a concurrent rename raced the lookup: try again. */
	do
		fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || errno == EAGAIN) && ++tries < 8);
	return fd < 0 ? -errno : (int)fd;
}

/* Walks parent (a mutable copy) one component at a time from the root,
 * creating what is missing; each step is its own openat2 beneath. */
static int make_parents(int root_fd, char *parent)
{
	char *comp = parent, *slash;
	int cur, fd;

	cur = beneath_open(root_fd, ".", O_PATH | O_DIRECTORY, 0);
	while (cur >= 0 && comp) {
		slash = strchr(comp, '/');
		if (slash)
			*slash = '\0';
		fd = beneath_open(cur, comp, O_PATH | O_DIRECTORY, 0);
		if (fd == -ENOENT) {
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
				fd = -errno;
			else
				fd = beneath_open(cur, comp,
						  O_PATH | O_DIRECTORY, 0);
		}
		close(cur);
		cur = fd;
		comp = slash ? slash + 1 : NULL;
	}
	return cur;
}

/* Opens the parent directory of path (already checked) beneath the root and
 * points *name at the final component inside path. */
static int open_parent(struct apply_root *r, const char *path, bool create,
		       const char **name)
{
	char parent[DITTO_PATH_MAX + 1];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd;

	if (!slash) {
		*name = path;
		return beneath_open(r->fd, ".", O_PATH | O_DIRECTORY, 0);
	}
	*name = slash + 1;
	n = (size_t)(slash - path);
	memcpy(parent, path, n);
	parent[n] = '\0';
	fd = beneath_open(r->fd, parent, O_PATH | O_DIRECTORY, 0);
	if (fd == -ENOENT && create)
		fd = make_parents(r->fd, parent);
	return fd;
}

static int lstat_at(int dfd, const char *name, struct stat *st)
{
	return fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static bool is_prefix_dir(const char *anc, const char *p)
{
	size_t n = strlen(anc);

	return strncmp(anc, p, n) == 0 && p[n] == '/';
}

/* --- removal ---------------------------------------------------------------- */

/* Moves every entry of dir `name` (in top) up into top under a fresh name, so
 * a tree of any depth is removed holding two fds, never one per level. */
static int hoist(int top, const char *name, unsigned long *seq)
{
	struct dirent *e;
	char tmp[48];
	DIR *d = NULL;
	int fd, rc = 0;

	fd = beneath_open(top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		goto done;
	}
	for (errno = 0; (e = readdir(d)); errno = 0) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		for (;;) {
			snprintf(tmp, sizeof(tmp), ".ditto-rm.%lu", (*seq)++);
			if (renameat2(dirfd(d), e->d_name, top, tmp,
				      RENAME_NOREPLACE) == 0 || errno == ENOENT)
				break;
			if (errno != EEXIST) {
				rc = -errno;
				goto done;
			}
		}
	}
	if (errno)
		rc = -errno;
done:
	if (d)
		closedir(d);
	return rc;
}

/* rm -r of directory `name` in pfd: only *at calls on single names beneath
 * the root, symlinks are unlinked and never followed. */
static int rm_tree(int pfd, const char *name)
{
	unsigned long seq = 0;
	struct dirent *e;
	struct stat st;
	bool again = true;
	DIR *d = NULL;
	int fd, rc = 0;

	fd = beneath_open(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (fd < 0) {
		rc = fd == -ENOENT ? 0 : fd;
		goto done;
	}
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		goto done;
	}
	/* Hoisted entries may or may not show up in the pass that moved them,
	 * so pass again until a pass moves nothing. */
	while (again) {
		again = false;
		rewinddir(d);
		for (errno = 0; (e = readdir(d)); errno = 0) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			rc = lstat_at(dirfd(d), e->d_name, &st);
			if (rc == -ENOENT)
				continue;
			if (rc < 0)
				goto done;
			if (!S_ISDIR(st.st_mode)) {
				if (unlinkat(dirfd(d), e->d_name, 0) < 0 &&
				    errno != ENOENT) {
					rc = -errno;
					goto done;
				}
				continue;
			}
			if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) == 0 ||
			    errno == ENOENT)
				continue;
			if (errno != ENOTEMPTY && errno != EEXIST) {
				rc = -errno;
				goto done;
			}
			rc = hoist(dirfd(d), e->d_name, &seq);
			if (rc < 0)
				goto done;
			/* Empty now unless something raced in; then the
			 * next pass deals with it. */
			unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
			again = true;
		}
		if (errno) {
			rc = -errno;
			goto done;
		}
	}
	rc = 0;
	if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
done:
	if (d)
		closedir(d);
	return rc;
}

/* Clears the name for a replacement: a directory goes with its tree. */
static int remove_entry(int dfd, const char *name, const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return rm_tree(dfd, name);
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int apply_remove_at(int dfd, const char *name)
{
	struct stat st;
	int rc = lstat_at(dfd, name, &st);

	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? rc : remove_entry(dfd, name, &st);
}

/* --- attributes --------------------------------------------------------------- */

static int chmod_nofollow(int dfd, const char *name, mode_t mode)
{
#ifdef SYS_fchmodat2
	/* fchmodat2 refuses symlinks itself, no race with our type check. */
	if (syscall(SYS_fchmodat2, dfd, name, mode, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
#endif
	return fchmodat(dfd, name, mode, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* Owner, then mode (chown clears set-id bits), skipping what matches so an
 * unprivileged target still applies ops whose ids are already right. */
static int set_owner_mode(struct ctx *c, int dfd, const char *name,
			  bool with_mode)
{
	const struct ditto_op *op = c->op;
	mode_t mode = op->mode & 07777;
	bool chowned = false;
	struct stat st;
	int rc;

	rc = lstat_at(dfd, name, &st);
	if (rc < 0)
		return fail(c, rc, "stat after create");
	if (st.st_uid != op->uid || st.st_gid != op->gid) {
		if (fchownat(dfd, name, st.st_uid != op->uid ? op->uid : (uid_t)-1,
			     st.st_gid != op->gid ? op->gid : (gid_t)-1,
			     AT_SYMLINK_NOFOLLOW) < 0)
			return fail(c, -errno, "chown to %u:%u", op->uid,
				    op->gid);
		chowned = true;
	}
	if (with_mode && !S_ISLNK(st.st_mode) &&
	    (chowned || (st.st_mode & 07777) != mode)) {
		rc = chmod_nofollow(dfd, name, mode);
		if (rc < 0)
			return fail(c, rc, "chmod %04o", (unsigned)mode);
	}
	return 0;
}

static struct timespec ns_to_ts(int64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000),
		.tv_nsec = (long)(ns % 1000000000),
	};

	if (ts.tv_nsec < 0) {
		ts.tv_nsec += 1000000000;
		ts.tv_sec--;
	}
	return ts;
}

/* --- data ops ----------------------------------------------------------------- */

/* Opens the regular file at op->path for writing, creating it (and its
 * parents) if missing; refuses anything that is not a regular file, so a
 * peer-made device node, FIFO or symlink is never opened. */
static int open_regular(struct ctx *c, struct apply_root *r, int *out)
{
	const char *name;
	struct stat st;
	int dfd, fd = -1, rc;

	dfd = open_parent(r, c->op->path, true, &name);
	if (dfd < 0) {
		rc = fail(c, dfd, "parent directory");
		goto done;
	}
	rc = lstat_at(dfd, name, &st);
	if (rc == 0 && S_ISLNK(st.st_mode)) {
		rc = fail(c, -ELOOP, "a symlink is at the name");
		goto done;
	}
	if (rc == 0 && S_ISDIR(st.st_mode)) {
		rc = fail(c, -EISDIR, "a directory is at the name");
		goto done;
	}
	if (rc == 0 && !S_ISREG(st.st_mode)) {
		rc = fail(c, -EINVAL, "not a regular file");
		goto done;
	}
	if (rc < 0 && rc != -ENOENT) {
		rc = fail(c, rc, "stat");
		goto done;
	}
	/* O_NONBLOCK: should a FIFO be swapped in after the check, opening it
	 * fails instead of hanging the applier. */
	fd = beneath_open(dfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW |
			  O_NONBLOCK | O_NOCTTY, 0600);
	if (fd < 0) {
		rc = fail(c, fd, "open");
		goto done;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = fail(c, -EINVAL, "not a regular file");
		goto done;
	}
	*out = fd;
	fd = -1;
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static int pwrite_full(int fd, const uint8_t *p, size_t n, off_t off)
{
	ssize_t w;

	while (n) {
		w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static int do_write(struct ctx *c, struct apply_root *r)
{
	const struct ditto_op *op = c->op;
	int fd = -1, rc;

	if (op->data_len > DITTO_OP_DATA_MAX || (op->data_len && !op->data) ||
	    op->off > (uint64_t)INT64_MAX - op->data_len)
		return fail(c, -EINVAL, "bad offset or data length");
	rc = open_regular(c, r, &fd);
	if (rc < 0)
		goto done;
	rc = pwrite_full(fd, op->data, op->data_len, (off_t)op->off);
	if (rc < 0)
		fail(c, rc, "write %u bytes at %llu", op->data_len,
		     (unsigned long long)op->off);
done:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int do_truncate(struct ctx *c, struct apply_root *r)
{
	int fd = -1, rc;

	if (c->op->off > (uint64_t)INT64_MAX)
		return fail(c, -EINVAL, "bad size");
	rc = open_regular(c, r, &fd);
	if (rc < 0)
		goto done;
	if (ftruncate(fd, (off_t)c->op->off) < 0)
		rc = fail(c, -errno, "truncate to %llu",
			  (unsigned long long)c->op->off);
done:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A file system without fallocate still gets the visible effect: the size
 * for a plain allocation, zeroes for a punched range. */
static int falloc_emulate(int fd, uint16_t flags, off_t off, off_t len)
{
	static const uint8_t zero[65536];
	struct stat st;
	off_t end = off + len;
	size_t n;
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (flags & DITTO_FALLOC_PUNCH_HOLE) {
		if (end > st.st_size)
			end = st.st_size;
		for (; off < end; off += (off_t)n) {
			n = end - off < (off_t)sizeof(zero) ? (size_t)(end - off)
							     : sizeof(zero);
			rc = pwrite_full(fd, zero, n, off);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (!(flags & DITTO_FALLOC_KEEP_SIZE) && end > st.st_size &&
	    ftruncate(fd, end) < 0)
		return -errno;
	return 0;
}

static int do_fallocate(struct ctx *c, struct apply_root *r)
{
	const struct ditto_op *op = c->op;
	int fd = -1, mode = 0, rc;

	if (op->flags & ~(DITTO_FALLOC_KEEP_SIZE | DITTO_FALLOC_PUNCH_HOLE))
		return fail(c, -EINVAL, "unknown flags 0x%x", op->flags);
	if (op->off > (uint64_t)INT64_MAX || op->len > (uint64_t)INT64_MAX - op->off)
		return fail(c, -EINVAL, "bad offset or length");
	if (op->flags & DITTO_FALLOC_KEEP_SIZE)
		mode |= FALLOC_FL_KEEP_SIZE;
	/* The kernel only punches with KEEP_SIZE; a punch never changes size. */
	if (op->flags & DITTO_FALLOC_PUNCH_HOLE)
		mode |= FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	rc = open_regular(c, r, &fd);
	if (rc < 0 || op->len == 0)
		goto done;
	if (fallocate(fd, mode, (off_t)op->off, (off_t)op->len) == 0)
		goto done;
	rc = -errno;
	if (rc == -EOPNOTSUPP)
		rc = falloc_emulate(fd, op->flags, (off_t)op->off,
				    (off_t)op->len);
	if (rc < 0)
		fail(c, rc, "fallocate %llu+%llu",
		     (unsigned long long)op->off, (unsigned long long)op->len);
done:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* --- entry ops ------------------------------------------------------------------ */

static int create_file(int dfd, const char *name, mode_t mode)
{
	int fd = beneath_open(dfd, name, O_WRONLY | O_CREAT | O_EXCL |
			      O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* CREATE, MKDIR, MKNOD and SYMLINK share one shape: keep a matching entry,
 * replace anything else, then fix owner and mode. */
static bool entry_matches(const struct ditto_op *op, int dfd, const char *name,
			  const struct stat *st)
{
	char buf[DITTO_PATH_MAX + 1];
	ssize_t n;

	switch (op->kind) {
	case DITTO_OP_CREATE:
		return S_ISREG(st->st_mode);
	case DITTO_OP_MKDIR:
		return S_ISDIR(st->st_mode);
	case DITTO_OP_MKNOD:
		if ((st->st_mode & S_IFMT) != (op->mode & S_IFMT))
			return false;
		return !(S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) ||
		       st->st_rdev == (dev_t)op->rdev;
	case DITTO_OP_SYMLINK:
		if (!S_ISLNK(st->st_mode))
			return false;
		n = readlinkat(dfd, name, buf, sizeof(buf));
		return n == (ssize_t)op->path2_len &&
		       memcmp(buf, op->path2, op->path2_len) == 0;
	default:
		return false;
	}
}

static int make_entry(const struct ditto_op *op, int dfd, const char *name)
{
	mode_t perm = op->mode & 07777;

	switch (op->kind) {
	case DITTO_OP_CREATE:
		return create_file(dfd, name, perm);
	case DITTO_OP_MKDIR:
		return mkdirat(dfd, name, perm) < 0 ? -errno : 0;
	case DITTO_OP_MKNOD:
		return mknodat(dfd, name, (op->mode & S_IFMT) | perm,
			       (dev_t)op->rdev) < 0 ? -errno : 0;
	case DITTO_OP_SYMLINK:
		return symlinkat(op->path2, dfd, name) < 0 ? -errno : 0;
	default:
		return -EINVAL;
	}
}

static int do_entry(struct ctx *c, struct apply_root *r)
{
	const struct ditto_op *op = c->op;
	mode_t type = op->mode & S_IFMT;
	const char *name;
	struct stat st;
	int dfd = -1, rc;

	switch (op->kind) {
	case DITTO_OP_CREATE:
		if (type && type != S_IFREG)
			return fail(c, -EINVAL, "mode 0%o is not a file", op->mode);
		break;
	case DITTO_OP_MKDIR:
		if (type && type != S_IFDIR)
			return fail(c, -EINVAL, "mode 0%o is not a directory",
				    op->mode);
		break;
	case DITTO_OP_MKNOD:
		if (type != S_IFIFO && type != S_IFCHR && type != S_IFBLK &&
		    type != S_IFSOCK)
			return fail(c, -EINVAL, "mode 0%o is not a node type",
				    op->mode);
		break;
	case DITTO_OP_SYMLINK:
		if (!op->path2 || op->path2_len == 0 ||
		    op->path2_len > DITTO_PATH_MAX ||
		    strnlen(op->path2, op->path2_len + 1) != op->path2_len)
			return fail(c, -EINVAL, "bad link target");
		break;
	default:
		return fail(c, -EINVAL, "not an entry op");
	}
	dfd = open_parent(r, op->path, true, &name);
	if (dfd < 0) {
		rc = fail(c, dfd, "parent directory");
		goto done;
	}
	rc = lstat_at(dfd, name, &st);
	/* CREATE_NEW: a file shared with other names must not be written
	 * through; one with a single name is as good as a new one. */
	if (rc == 0 && (!entry_matches(op, dfd, name, &st) ||
			(op->kind == DITTO_OP_CREATE &&
			 (op->flags & DITTO_CREATE_NEW) && st.st_nlink > 1))) {
		rc = remove_entry(dfd, name, &st);
		if (rc < 0) {
			fail(c, rc, "remove what is in the way");
			goto done;
		}
		rc = -ENOENT;
	}
	if (rc == -ENOENT) {
		rc = make_entry(op, dfd, name);
		if (rc < 0) {
			fail(c, rc, "create");
			goto done;
		}
	} else if (rc < 0) {
		fail(c, rc, "stat");
		goto done;
	}
	rc = set_owner_mode(c, dfd, name, op->kind != DITTO_OP_SYMLINK);
done:
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static int do_link(struct ctx *c, struct apply_root *r)
{
	const struct ditto_op *op = c->op;
	const char *oname, *nname;
	struct stat ost, nst;
	int odfd = -1, ndfd = -1, rc;

	rc = check_path(op->path2, op->path2_len);
	if (rc < 0)
		return fail(c, rc, "bad existing path");
	odfd = open_parent(r, op->path2, false, &oname);
	rc = odfd < 0 ? odfd : lstat_at(odfd, oname, &ost);
	if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR) {
		fail(c, rc, "existing name");
		goto done;
	}
	ndfd = open_parent(r, op->path, rc == 0, &nname);
	if (ndfd < 0 && rc == 0) {
		rc = fail(c, ndfd, "parent directory");
		goto done;
	}
	if (rc < 0) {
		/* The existing name is gone: a later op moved or removed it. */
		rc = ndfd >= 0 && lstat_at(ndfd, nname, &nst) == 0 ?
			note(c, "existing name missing, new name present: "
			     "already applied") :
			note(c, "existing name missing: skipped");
		goto done;
	}
	if (S_ISDIR(ost.st_mode)) {
		rc = fail(c, -EPERM, "cannot hard link a directory");
		goto done;
	}
	rc = lstat_at(ndfd, nname, &nst);
	if (rc == 0 && nst.st_dev == ost.st_dev && nst.st_ino == ost.st_ino)
		goto done;
	if (rc == 0) {
		if (is_prefix_dir(op->path, op->path2)) {
			rc = fail(c, -EINVAL, "the new name holds the existing one");
			goto done;
		}
		rc = remove_entry(ndfd, nname, &nst);
		if (rc < 0) {
			fail(c, rc, "remove what is in the way");
			goto done;
		}
	} else if (rc != -ENOENT) {
		fail(c, rc, "stat");
		goto done;
	}
	rc = 0;
	/* No AT_SYMLINK_FOLLOW: a symlink is linked itself, never its target. */
	if (linkat(odfd, oname, ndfd, nname, 0) < 0)
		rc = fail(c, -errno, "link");
done:
	if (odfd >= 0)
		close(odfd);
	if (ndfd >= 0)
		close(ndfd);
	return rc;
}

static int do_unlink(struct ctx *c, struct apply_root *r)
{
	const char *name;
	struct stat st;
	int dfd, rc;

	dfd = open_parent(r, c->op->path, false, &name);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0;
	if (dfd < 0)
		return fail(c, dfd, "parent directory");
	rc = lstat_at(dfd, name, &st);
	if (rc == -ENOENT) {
		rc = 0;
	} else if (rc < 0) {
		fail(c, rc, "stat");
	} else if (S_ISDIR(st.st_mode)) {
		rc = fail(c, -EISDIR, "a directory is at the name");
	} else if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
		rc = fail(c, -errno, "unlink");
	}
	close(dfd);
	return rc;
}

static int do_rmdir(struct ctx *c, struct apply_root *r)
{
	const char *name;
	struct stat st;
	int dfd, rc;

	if (c->op->flags & ~DITTO_RMDIR_RECURSIVE)
		return fail(c, -EINVAL, "unknown flags 0x%x", c->op->flags);
	dfd = open_parent(r, c->op->path, false, &name);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0;
	if (dfd < 0)
		return fail(c, dfd, "parent directory");
	rc = lstat_at(dfd, name, &st);
	if (rc == -ENOENT) {
		rc = 0;
	} else if (rc < 0) {
		fail(c, rc, "stat");
	} else if (!S_ISDIR(st.st_mode)) {
		rc = fail(c, -ENOTDIR, "not a directory");
	} else if (c->op->flags & DITTO_RMDIR_RECURSIVE) {
		rc = rm_tree(dfd, name);
		if (rc < 0)
			fail(c, rc, "remove tree");
	} else if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
		rc = fail(c, -errno, "rmdir");
	}
	close(dfd);
	return rc;
}

static int do_rename(struct ctx *c, struct apply_root *r)
{
	const struct ditto_op *op = c->op;
	const char *oname, *nname;
	struct stat ost, nst;
	unsigned flags = 0;
	int odfd = -1, ndfd = -1, rc;

	if (op->flags & ~(DITTO_RENAME_NOREPLACE | DITTO_RENAME_EXCHANGE) ||
	    op->flags == (DITTO_RENAME_NOREPLACE | DITTO_RENAME_EXCHANGE))
		return fail(c, -EINVAL, "bad flags 0x%x", op->flags);
	rc = check_path(op->path2, op->path2_len);
	if (rc < 0)
		return fail(c, rc, "bad new path");
	if (op->flags & DITTO_RENAME_NOREPLACE)
		flags = RENAME_NOREPLACE;
	if (op->flags & DITTO_RENAME_EXCHANGE)
		flags = RENAME_EXCHANGE;
	odfd = open_parent(r, op->path, false, &oname);
	rc = odfd < 0 ? odfd : lstat_at(odfd, oname, &ost);
	if ((rc == -ENOENT || rc == -ENOTDIR) && !(flags & RENAME_EXCHANGE)) {
		rc = note(c, "source missing: already applied or moved on");
		goto done;
	}
	if (rc < 0) {
		fail(c, rc, "source");
		goto done;
	}
	ndfd = open_parent(r, op->path2, true, &nname);
	if (ndfd < 0) {
		rc = fail(c, ndfd, "destination parent");
		goto done;
	}
	if (renameat2(odfd, oname, ndfd, nname, flags) == 0) {
		/* rename(2) of two names of one inode does nothing; the
		 * source renamed distinct files, so its old name is gone. */
		if (!(flags & RENAME_EXCHANGE) && !S_ISDIR(ost.st_mode) &&
		    lstat_at(ndfd, nname, &nst) == 0 &&
		    nst.st_dev == ost.st_dev && nst.st_ino == ost.st_ino &&
		    lstat_at(odfd, oname, &nst) == 0 &&
		    nst.st_dev == ost.st_dev && nst.st_ino == ost.st_ino &&
		    unlinkat(odfd, oname, 0) < 0 && errno != ENOENT)
			rc = fail(c, -errno, "unlink the old name of a hard link");
		goto done;
	}
	rc = -errno;
	if ((flags & RENAME_EXCHANGE) ||
	    (rc != -EEXIST && rc != -ENOTEMPTY && rc != -EISDIR &&
	     rc != -ENOTDIR)) {
		fail(c, rc, "rename");
		goto done;
	}
	/* Something rename(2) will not replace is at the destination: the
	 * source had nothing there (or checked NOREPLACE itself), so clear it,
	 * unless it holds the source. */
	if (is_prefix_dir(op->path2, op->path)) {
		rc = fail(c, -EINVAL, "the destination holds the source");
		goto done;
	}
	rc = lstat_at(ndfd, nname, &nst);
	if (rc == 0 && !(nst.st_dev == ost.st_dev && nst.st_ino == ost.st_ino))
		rc = remove_entry(ndfd, nname, &nst);
	if (rc < 0 && rc != -ENOENT) {
		fail(c, rc, "remove what is in the way");
		goto done;
	}
	rc = 0;
	if (renameat2(odfd, oname, ndfd, nname, 0) < 0)
		rc = fail(c, -errno, "rename");
done:
	if (odfd >= 0)
		close(odfd);
	if (ndfd >= 0)
		close(ndfd);
	return rc;
}

/* --- attribute ops -------------------------------------------------------------- */

/* Opens the parent of an existing entry for SETATTR/SETXATTR/REMOVEXATTR;
 * 1 when the entry is missing (the caller notes and succeeds). */
static int open_existing(struct ctx *c, struct apply_root *r, int *dfd,
			 const char **name, struct stat *st)
{
	int rc;

	*dfd = open_parent(r, c->op->path, false, name);
	rc = *dfd < 0 ? *dfd : lstat_at(*dfd, *name, st);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		note(c, "no such entry: skipped (a later op removed or moved it)");
		return 1;
	}
	if (rc < 0)
		return fail(c, rc, "lookup");
	return 0;
}

static int do_setattr(struct ctx *c, struct apply_root *r)
{
	const struct ditto_op *op = c->op;
	const uint32_t known = DITTO_ATTR_MODE | DITTO_ATTR_UID | DITTO_ATTR_GID |
			       DITTO_ATTR_ATIME | DITTO_ATTR_MTIME;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
				  { .tv_nsec = UTIME_OMIT } };
	uint32_t m = op->attr_mask;
	const char *name;
	struct stat st;
	int dfd = -1, rc;
	uid_t uid;
	gid_t gid;

	if (m & ~known)
		return fail(c, -EINVAL, "unknown attribute bits 0x%x", m);
	rc = open_existing(c, r, &dfd, &name, &st);
	if (rc != 0) {
		rc = rc > 0 ? 0 : rc;
		goto done;
	}
	uid = (m & DITTO_ATTR_UID) && st.st_uid != op->uid ? op->uid : (uid_t)-1;
	gid = (m & DITTO_ATTR_GID) && st.st_gid != op->gid ? op->gid : (gid_t)-1;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = fail(c, -errno, "chown");
		goto done;
	}
	if ((m & DITTO_ATTR_MODE) && S_ISLNK(st.st_mode)) {
		note(c, "mode not applied: Linux symlinks have none");
	} else if (m & DITTO_ATTR_MODE) {
		rc = chmod_nofollow(dfd, name, op->mode & 07777);
		if (rc < 0) {
			fail(c, rc, "chmod %04o", op->mode & 07777);
			goto done;
		}
	}
	if (m & DITTO_ATTR_ATIME)
		ts[0] = ns_to_ts(op->atime_ns);
	if (m & DITTO_ATTR_MTIME)
		ts[1] = ns_to_ts(op->mtime_ns);
	if ((m & (DITTO_ATTR_ATIME | DITTO_ATTR_MTIME)) &&
	    utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		rc = fail(c, -errno, "set times");
done:
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* xattrs on an entry that cannot be opened for I/O (symlink, device, FIFO,
 * socket): setxattrat(2)/removexattrat(2) on the single final name, which
 * never follows it. -ENOSYS on kernels before 6.13. */
static int xattr_at(int dfd, const char *name, const char *xname,
		    const void *val, size_t len, bool remove)
{
#if defined(SYS_setxattrat) && defined(SYS_removexattrat)
	struct {
		uint64_t value;
		uint32_t size;
		uint32_t flags;
	} args = { (uint64_t)(uintptr_t)val, (uint32_t)len, 0 };
	long rc;

	if (remove)
		rc = syscall(SYS_removexattrat, dfd, name, AT_SYMLINK_NOFOLLOW,
			     xname);
	else
		rc = syscall(SYS_setxattrat, dfd, name, AT_SYMLINK_NOFOLLOW,
			     xname, &args, sizeof(args));
	return rc < 0 ? -errno : 0;
#else
	(void)dfd, (void)name, (void)xname, (void)val, (void)len, (void)remove;
	return -ENOSYS;
#endif
}

/* Is name in a namespace the source replicates (and so may take away)?
 * LSM labels are the target's own: its policy set them, and a source
 * without that LSM would otherwise strip them. */
static bool xattr_replicated(const char *name)
{
	static const char *const own[] = { "security.selinux",
					   "security.SMACK64",
					   "security.apparmor", "security.ima",
					   "security.evm" };
	size_t i;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (!strncmp(name, own[i], strlen(own[i])))
			return false;
	return !strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8) ||
	       !strncmp(name, "security.", 9) ||
	       !strcmp(name, "system.posix_acl_access") ||
	       !strcmp(name, "system.posix_acl_default");
}

static bool xattr_listed(const struct ditto_op *op, const char *name)
{
	const char *p = (const char *)op->data, *end = p + op->data_len;

	while (p && p < end) {
		if (!strcmp(p, name))
			return true;
		p += strlen(p) + 1;
	}
	return false;
}

/* REMOVEXATTR with DITTO_XATTR_ALL_EXCEPT on an open file or directory. */
static int xattr_remove_others(struct ctx *c, int fd)
{
	char *names = NULL;
	ssize_t n = 0;
	size_t i;
	int tries, rc = 0;

	for (tries = 0;; tries++) {
		n = flistxattr(fd, NULL, 0);
		if (n <= 0)
			break;
		free(names);
		names = util_xmalloc((size_t)n + 1);
		n = flistxattr(fd, names, (size_t)n);
		if (n >= 0 || errno != ERANGE || tries == 4)
			break;
	}
	if (n < 0) {
		rc = errno == ENOTSUP ? 0 : fail(c, -errno, "listxattr");
		goto done;
	}
	if (names)
		names[n] = '\0';
	for (i = 0; i < (size_t)n; i += strlen(names + i) + 1) {
		if (!names[i] || !xattr_replicated(names + i) ||
		    xattr_listed(c->op, names + i))
			continue;
		if (fremovexattr(fd, names + i) < 0 && errno != ENODATA) {
			rc = fail(c, -errno, "removexattr %.64s", names + i);
			goto done;
		}
	}
done:
	free(names);
	return rc;
}

static int do_xattr(struct ctx *c, struct apply_root *r)
{
	const struct ditto_op *op = c->op;
	bool remove = op->kind == DITTO_OP_REMOVEXATTR;
	bool all_except = remove && (op->flags & DITTO_XATTR_ALL_EXCEPT);
	const char *name;
	struct stat st, fst;
	int dfd = -1, fd = -1, rc;

	if (all_except) {
		if ((op->flags & ~DITTO_XATTR_ALL_EXCEPT) ||
		    !op_xattr_list_valid(op->data, op->data_len))
			return fail(c, -EINVAL, "bad list of attribute names");
	} else if (!op->name || op->name_len == 0 ||
		   op->name_len > DITTO_XATTR_NAME_MAX ||
		   strnlen(op->name, op->name_len + 1) != op->name_len) {
		return fail(c, -EINVAL, "bad attribute name");
	}
	if (!remove && (op->data_len > XATTR_VALUE_MAX ||
			(op->data_len && !op->data)))
		return fail(c, -E2BIG, "bad value length %u", op->data_len);
	rc = open_existing(c, r, &dfd, &name, &st);
	if (rc != 0) {
		rc = rc > 0 ? 0 : rc;
		goto done;
	}
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		fd = beneath_open(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
				  O_NOCTTY |
				  (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0), 0);
		if (fd < 0) {
			rc = fail(c, fd, "open");
			goto done;
		}
		if (fstat(fd, &fst) < 0 ||
		    (fst.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
			rc = fail(c, -EAGAIN, "entry changed while opening");
			goto done;
		}
		if (all_except) {
			rc = xattr_remove_others(c, fd);
			goto done;
		}
		if (remove)
			rc = fremovexattr(fd, op->name) < 0 ? -errno : 0;
		else
			rc = fsetxattr(fd, op->name, op->data, op->data_len, 0) < 0
				     ? -errno : 0;
	} else if (all_except) {
		/* The source sends xattrs of files and directories only. */
		rc = note(c, "xattr removal on a non-regular entry skipped");
		goto done;
	} else {
		rc = xattr_at(dfd, name, op->name, op->data, op->data_len,
			      remove);
		if (rc == -ENOSYS) {
			rc = note(c, "xattr \"%.64s\" on a non-regular entry "
				  "skipped: kernel lacks setxattrat",
				  op->name);
			goto done;
		}
	}
	if (remove && rc == -ENODATA)
		rc = 0;
	if (rc < 0)
		fail(c, rc, "%s", remove ? "removexattr" : "setxattr");
done:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* --- entry points ---------------------------------------------------------------- */

struct apply_root *apply_root_open(const char *root_path, char *err,
				   size_t errlen)
{
	struct apply_root *r = NULL;
	int fd;

	if (err && errlen)
		err[0] = '\0';
	if (!root_path || !*root_path) {
		if (err && errlen)
			snprintf(err, errlen, "target root: empty path");
		return NULL;
	}
	if (util_mkdir_p(root_path, 0755) < 0 && errno != EEXIST) {
		if (err && errlen)
			snprintf(err, errlen, "target root %s: mkdir: %s",
				 root_path, strerror(errno));
		return NULL;
	}
	/* The root itself is local configuration: following links is fine. */
	fd = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (err && errlen)
			snprintf(err, errlen, "target root %s: %s", root_path,
				 strerror(errno));
		return NULL;
	}
	r = util_xcalloc(1, sizeof(*r));
	r->fd = fd;
	return r;
}

void apply_root_close(struct apply_root *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

int apply_open_beneath(struct apply_root *r, const char *rel, size_t len,
		       int flags)
{
	char path[DITTO_PATH_MAX + 1];
	int rc;

	if (len == 0)
		return beneath_open(r->fd, ".", (uint64_t)flags | O_NOFOLLOW, 0);
	if (len > DITTO_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(path, rel, len);
	path[len] = '\0';
	rc = check_path(path, (uint32_t)len);
	return rc < 0 ? rc : beneath_open(r->fd, path, (uint64_t)flags | O_NOFOLLOW, 0);
}

int apply_root_fd(const struct apply_root *r)
{
	return r ? r->fd : -1;
}

int apply_op(struct apply_root *r, const struct ditto_op *op, char *err,
	     size_t errlen)
{
	struct ctx c = { .op = op, .err = err, .errlen = errlen };
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!r || !op) {
		if (err && errlen)
			snprintf(err, errlen, "apply: no root or op");
		return -EINVAL;
	}
	switch (op->kind) {
	case DITTO_OP_MIRROR_BEGIN:
	case DITTO_OP_MIRROR_END:
	case DITTO_OP_MARKER:
	case DITTO_OP_VERIFY:
	case DITTO_OP_DIRLIST:
	case DITTO_OP_ORPHANS:
	case DITTO_OP_REPSET_BACKUP:
		return 0; /* the caller acts on control ops */
	case DITTO_OP_BLOCK_WRITE:
		return fail(&c, -EOPNOTSUPP,
			    "block devices are applied by the block applier");
	default:
		break;
	}
	rc = check_path(op->path, op->path_len);
	if (rc < 0)
		return fail(&c, rc, "path must be relative, without \".\" or "
			    "\"..\" components, at most %d bytes",
			    DITTO_PATH_MAX);
	switch (op->kind) {
	case DITTO_OP_WRITE: return do_write(&c, r);
	case DITTO_OP_TRUNCATE: return do_truncate(&c, r);
	case DITTO_OP_FALLOCATE: return do_fallocate(&c, r);
	case DITTO_OP_CREATE:
	case DITTO_OP_MKDIR:
	case DITTO_OP_MKNOD:
	case DITTO_OP_SYMLINK: return do_entry(&c, r);
	case DITTO_OP_LINK: return do_link(&c, r);
	case DITTO_OP_UNLINK: return do_unlink(&c, r);
	case DITTO_OP_RMDIR: return do_rmdir(&c, r);
	case DITTO_OP_RENAME: return do_rename(&c, r);
	case DITTO_OP_SETATTR: return do_setattr(&c, r);
	case DITTO_OP_SETXATTR:
	case DITTO_OP_REMOVEXATTR: return do_xattr(&c, r);
	default: return fail(&c, -EINVAL, "unknown op kind %u", op->kind);
	}
}

bool apply_error_retryable(int err)
{
	switch (err < 0 ? -err : err) {
	case ENOSPC:
	case EDQUOT:
	case EBUSY:
	case ETXTBSY:
	case EACCES:
	case EAGAIN:
	case EIO:
	case EINTR:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		return true;
	default:
		return false;
	}
}
