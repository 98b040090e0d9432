#include "config.h"

#include "apply.h"
#include "util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* --- fixture -------------------------------------------------------------- */

static char base[64];
static char root[128];
static char outside[128];
static struct apply_root *R;
static char last_err[1024];

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(util_write_full(fd, s, strlen(s)), 0);
	close(fd);
}

static void setup(void)
{
	char path[256], err[256];

	umask(022);
	util_strlcpy(base, "/tmp/ditto-apply-XXXXXX", sizeof(base));
	cr_assert_not_null(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(outside, sizeof(outside), "%s/outside-dir", base);
	cr_assert_eq(mkdir(outside, 0755), 0);
	snprintf(path, sizeof(path), "%s/canary", outside);
	write_file(path, "orig");
	R = apply_root_open(root, err, sizeof(err));
	cr_assert_not_null(R, "%s", err);
}

static void teardown(void)
{
	char cmd[160];

	apply_root_close(R);
	R = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", base);
}

TestSuite(apply, .init = setup, .fini = teardown);

/* --- op builders ------------------------------------------------------------ */

static struct ditto_op O(uint16_t kind, const char *path)
{
	struct ditto_op op;

	memset(&op, 0, sizeof(op));
	op.kind = kind;
	if (path) {
		op.path = (char *)path;
		op.path_len = (uint32_t)strlen(path);
	}
	op.uid = getuid();
	op.gid = getgid();
	return op;
}

static struct ditto_op wbuf(const char *p, uint64_t off, const void *d,
			    uint32_t n)
{
	struct ditto_op op = O(DITTO_OP_WRITE, p);

	op.off = off;
	op.data = (uint8_t *)d;
	op.data_len = n;
	return op;
}

static struct ditto_op w(const char *p, uint64_t off, const char *s)
{
	return wbuf(p, off, s, (uint32_t)strlen(s));
}

static struct ditto_op tr(const char *p, uint64_t size)
{
	struct ditto_op op = O(DITTO_OP_TRUNCATE, p);

	op.off = size;
	return op;
}

static struct ditto_op fa(const char *p, uint64_t off, uint64_t len,
			  uint16_t flags)
{
	struct ditto_op op = O(DITTO_OP_FALLOCATE, p);

	op.off = off;
	op.len = len;
	op.flags = flags;
	return op;
}

static struct ditto_op withmode(uint16_t kind, const char *p, uint32_t mode)
{
	struct ditto_op op = O(kind, p);

	op.mode = mode;
	return op;
}

static struct ditto_op cr(const char *p, uint32_t mode)
{
	return withmode(DITTO_OP_CREATE, p, mode);
}

static struct ditto_op md(const char *p, uint32_t mode)
{
	return withmode(DITTO_OP_MKDIR, p, mode);
}

static struct ditto_op mn(const char *p, uint32_t mode, uint64_t rdev)
{
	struct ditto_op op = withmode(DITTO_OP_MKNOD, p, mode);

	op.rdev = rdev;
	return op;
}

static struct ditto_op two(uint16_t kind, const char *p, const char *p2,
			   uint16_t flags)
{
	struct ditto_op op = O(kind, p);

	op.path2 = (char *)p2;
	op.path2_len = (uint32_t)strlen(p2);
	op.flags = flags;
	return op;
}

static struct ditto_op sl(const char *p, const char *target)
{
	return two(DITTO_OP_SYMLINK, p, target, 0);
}

/* LINK: p is the new name, existing the name that already exists. */
static struct ditto_op ln(const char *p, const char *existing)
{
	return two(DITTO_OP_LINK, p, existing, 0);
}

static struct ditto_op rn(const char *from, const char *to, uint16_t flags)
{
	return two(DITTO_OP_RENAME, from, to, flags);
}

static struct ditto_op ul(const char *p)
{
	return O(DITTO_OP_UNLINK, p);
}

static struct ditto_op rd(const char *p, uint16_t flags)
{
	struct ditto_op op = O(DITTO_OP_RMDIR, p);

	op.flags = flags;
	return op;
}

static struct ditto_op sa(const char *p, uint32_t mask, uint32_t mode,
			  int64_t at, int64_t mt)
{
	struct ditto_op op = O(DITTO_OP_SETATTR, p);

	op.attr_mask = mask;
	op.mode = mode;
	op.atime_ns = at;
	op.mtime_ns = mt;
	return op;
}

static struct ditto_op sx(const char *p, const char *name, const char *val)
{
	struct ditto_op op = O(DITTO_OP_SETXATTR, p);

	op.name = (char *)name;
	op.name_len = (uint32_t)strlen(name);
	op.data = (uint8_t *)val;
	op.data_len = (uint32_t)strlen(val);
	return op;
}

static struct ditto_op rx(const char *p, const char *name)
{
	struct ditto_op op = O(DITTO_OP_REMOVEXATTR, p);

	op.name = (char *)name;
	op.name_len = (uint32_t)strlen(name);
	return op;
}

/* --- apply helpers ---------------------------------------------------------- */

static int ap(struct ditto_op op)
{
	return apply_op(R, &op, last_err, sizeof(last_err));
}

#define OK(op_)                                                          \
	do {                                                             \
		int rc_ = ap(op_);                                       \
		cr_assert_eq(rc_, 0, "%s: %d %s", #op_, rc_, last_err); \
	} while (0)

static void run(const struct ditto_op *ops, size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = apply_op(R, &ops[i], last_err, sizeof(last_err));
		cr_assert_eq(rc, 0, "op %zu: %d %s", i, rc, last_err);
	}
}

static void rpath(char *dst, size_t n, const char *rel)
{
	snprintf(dst, n, "%s/%s", root, rel);
}

static int lst(const char *rel, struct stat *st)
{
	char p[PATH_MAX];

	rpath(p, sizeof(p), rel);
	return lstat(p, st);
}

static char *slurp(const char *abs, size_t *len)
{
	struct util_buf b;
	char chunk[4096];
	ssize_t n;
	int fd = open(abs, O_RDONLY | O_NOFOLLOW);

	cr_assert_geq(fd, 0, "open %s: %s", abs, strerror(errno));
	util_buf_init(&b);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		util_buf_append(&b, chunk, (size_t)n);
	close(fd);
	*len = b.len;
	return util_buf_steal(&b);
}

static void assert_content(const char *rel, const void *want, size_t n)
{
	char p[PATH_MAX];
	size_t len;
	char *got;

	rpath(p, sizeof(p), rel);
	got = slurp(p, &len);
	cr_assert_eq(len, n, "%s: size %zu, want %zu", rel, len, n);
	cr_assert_eq(memcmp(got, want, n), 0, "%s: content differs", rel);
	free(got);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* --- tree snapshot (lstat based) -------------------------------------------- */

static void put_escaped(struct util_buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c > 0x20 && c < 0x7f && c != '\\')
			util_buf_append(b, &s[i], 1);
		else
			util_buf_printf(b, "\\x%02x", c);
	}
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void snap_xattrs(struct util_buf *b, const char *abs)
{
	char list[4096], val[4096], *names[64];
	ssize_t n, v;
	size_t cnt = 0, i;
	char *p;

	n = llistxattr(abs, list, sizeof(list));
	if (n <= 0)
		return;
	for (p = list; p < list + n && cnt < UTIL_ARRAY_SIZE(names);
	     p += strlen(p) + 1)
		names[cnt++] = p;
	qsort(names, cnt, sizeof(names[0]), cmpstr);
	for (i = 0; i < cnt; i++) {
		if (!strncmp(names[i], "security.", 9))
			continue; /* labels the host adds, not ours */
		v = lgetxattr(abs, names[i], val, sizeof(val));
		util_buf_printf(b, " x:%s=", names[i]);
		if (v > 0)
			put_escaped(b, val, (size_t)v);
	}
}

/* FNV-1a over the data segments and their offsets: holes are skipped, so a
 * sparse gigabyte hashes in no time. */
static uint64_t hash_file(const char *abs)
{
	uint64_t h = 1469598103934665603ull;
	static char chunk[65536];
	off_t data, hole;
	ssize_t n, k;
	int fd = open(abs, O_RDONLY | O_NOFOLLOW);

	cr_assert_geq(fd, 0, "open %s", abs);
	for (data = 0; (data = lseek(fd, data, SEEK_DATA)) >= 0; data = hole) {
		hole = lseek(fd, data, SEEK_HOLE);
		h = (h ^ (uint64_t)data) * 1099511628211ull;
		while (data < hole) {
			n = pread(fd, chunk, sizeof(chunk), data);
			cr_assert_gt(n, 0);
			for (k = 0; k < n; k++)
				h = (h ^ (unsigned char)chunk[k]) *
				    1099511628211ull;
			data += n;
		}
	}
	close(fd);
	return h;
}

/* Type, permissions, owner, links, size, device, content hash, link target and
 * xattrs of every entry, sorted. Timestamps are left out: replaying a WRITE
 * bumps mtime by nature; the SETATTR tests check times themselves. */
static void snap_dir(struct util_buf *b, const char *abs, const char *rel)
{
	struct dirent **list;
	int n, i;

	n = scandir(abs, &list, NULL, alphasort);
	cr_assert_geq(n, 0, "scandir %s", abs);
	for (i = 0; i < n; i++) {
		const char *nm = list[i]->d_name;
		char cabs[PATH_MAX], crel[PATH_MAX];
		struct stat st;

		if (!strcmp(nm, ".") || !strcmp(nm, "..")) {
			free(list[i]);
			continue;
		}
		snprintf(cabs, sizeof(cabs), "%s/%s", abs, nm);
		snprintf(crel, sizeof(crel), "%s%s%s", rel, *rel ? "/" : "", nm);
		cr_assert_eq(lstat(cabs, &st), 0);
		put_escaped(b, crel, strlen(crel));
		util_buf_printf(b, " t=%o m=%o u=%u g=%u",
				(unsigned)(st.st_mode & S_IFMT),
				(unsigned)(st.st_mode & 07777), st.st_uid,
				st.st_gid);
		if (!S_ISDIR(st.st_mode))
			util_buf_printf(b, " n=%lu s=%lld",
					(unsigned long)st.st_nlink,
					(long long)st.st_size);
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			util_buf_printf(b, " dev=%u:%u", major(st.st_rdev),
					minor(st.st_rdev));
		if (S_ISREG(st.st_mode))
			util_buf_printf(b, " h=%016llx",
					(unsigned long long)hash_file(cabs));
		if (S_ISLNK(st.st_mode)) {
			char tgt[PATH_MAX];
			ssize_t l = readlink(cabs, tgt, sizeof(tgt));

			cr_assert_gt(l, 0);
			util_buf_puts(b, " ->");
			put_escaped(b, tgt, (size_t)l);
		}
		snap_xattrs(b, cabs);
		util_buf_puts(b, "\n");
		if (S_ISDIR(st.st_mode))
			snap_dir(b, cabs, crel);
		free(list[i]);
	}
	free(list);
}

static char *snapshot(const char *abs)
{
	struct util_buf b;

	util_buf_init(&b);
	util_buf_puts(&b, "");
	snap_dir(&b, abs, "");
	return util_buf_steal(&b);
}

/* Applies ops twice (three times, in fact) and asserts the tree is the same
 * after each pass. Returns the snapshot after the first pass. */
static char *run_twice(const struct ditto_op *ops, size_t n)
{
	char *s1, *s2, *s3;

	run(ops, n);
	s1 = snapshot(root);
	run(ops, n);
	s2 = snapshot(root);
	cr_assert_str_eq(s2, s1, "second pass differs");
	run(ops, n);
	s3 = snapshot(root);
	cr_assert_str_eq(s3, s1, "third pass differs");
	free(s2);
	free(s3);
	return s1;
}

static bool is_escape_err(int rc)
{
	return rc == -EXDEV || rc == -ELOOP || rc == -EINVAL;
}

/* --- root ------------------------------------------------------------------------ */

Test(apply, root_open_creates_and_refuses_a_file)
{
	char p[256], err[256];
	struct apply_root *r2;
	struct stat st;

	cr_assert_eq(stat(root, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0755);
	cr_assert_geq(apply_root_fd(R), 0);

	snprintf(p, sizeof(p), "%s/deeper/still/root", base);
	r2 = apply_root_open(p, err, sizeof(err));
	cr_assert_not_null(r2, "%s", err);
	cr_assert_eq(stat(p, &st), 0);
	apply_root_close(r2);

	snprintf(p, sizeof(p), "%s/canary", outside);
	r2 = apply_root_open(p, err, sizeof(err));
	cr_assert_null(r2);
	cr_assert_neq(err[0], '\0');
	apply_root_close(NULL);
}

/* --- every kind, idempotent -------------------------------------------------------- */

Test(apply, every_kind_applied_twice_gives_the_same_tree)
{
	struct ditto_op ops[] = {
		md("d", 0750),
		cr("d/f", 0640),
		w("d/f", 0, "hello world"),
		w("d/f", 100, "tail"),
		tr("d/f", 50),
		fa("d/f", 0, 4096, DITTO_FALLOC_KEEP_SIZE),
		fa("d/f", 4, 2, DITTO_FALLOC_PUNCH_HOLE),
		fa("d/big", 0, 8192, 0),
		cr("d/g", 0600),
		w("d/g", 0, "g"),
		mn("d/fifo", S_IFIFO | 0620, 0),
		mn("d/sock", S_IFSOCK | 0600, 0),
		sl("d/ln", "f"),
		sl("d/abs", "/nonexistent/abs"),
		ln("d/f2", "d/f"),
		rn("d/g", "d/g2", 0),
		sa("d/f", DITTO_ATTR_MODE | DITTO_ATTR_ATIME | DITTO_ATTR_MTIME,
		   0604, 1000000001, 2000000002),
		sx("d/f", "user.k", "v1"),
		sx("d/f", "user.k", "v2"),
		sx("d/f", "user.gone", "x"),
		rx("d/f", "user.gone"),
		rx("d/f", "user.never"),
		sx("d", "user.dir", "dv"),
		md("e", 0755),
		cr("e/x", 0644),
		ul("e/x"),
		rd("e", 0),
		md("t", 0755),
		md("t/u", 0755),
		cr("t/u/x", 0644),
		sl("t/u/l", "/"),
		rd("t", DITTO_RMDIR_RECURSIVE),
		ul("d/missing"),
		ul("nodir/missing"),
		rd("nothere", 0),
		rd("nothere", DITTO_RMDIR_RECURSIVE),
		O(DITTO_OP_MARKER, NULL),
		O(DITTO_OP_MIRROR_BEGIN, NULL),
		O(DITTO_OP_MIRROR_END, NULL),
		O(DITTO_OP_VERIFY, "d/f"),
		sa("d", DITTO_ATTR_MODE | DITTO_ATTR_MTIME, 0751, 0, 3000000003),
	};
	char want[50] = "hell\0\0world";
	struct stat st;
	char *s;
	int fds = count_fds();

	s = run_twice(ops, UTIL_ARRAY_SIZE(ops));
	assert_content("d/f", want, sizeof(want));
	assert_content("d/g2", "g", 1);
	cr_assert_eq(lst("d/g", &st), -1);
	cr_assert_eq(lst("e", &st), -1);
	cr_assert_eq(lst("t", &st), -1);
	cr_assert_eq(lst("d/f", &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0604);
	cr_assert_eq(st.st_nlink, 2);
	cr_assert_eq(st.st_mtim.tv_sec, 2);
	cr_assert_eq(st.st_mtim.tv_nsec, 2);
	cr_assert_eq(lst("d/big", &st), 0);
	cr_assert_eq(st.st_size, 8192);
	cr_assert_eq(lst("d/fifo", &st), 0);
	cr_assert(S_ISFIFO(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0620);
	cr_assert_eq(lst("d/sock", &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(lst("d", &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0751);
	cr_assert_eq(st.st_mtim.tv_sec, 3);
	cr_assert(strstr(s, "x:user.k=v2"));
	cr_assert_null(strstr(s, "user.gone"));
	cr_assert(strstr(s, "x:user.dir=dv"));
	cr_assert_eq(count_fds(), fds, "fd leak");
	free(s);
}

Test(apply, create_keeps_data_and_replaces_other_types)
{
	char p[PATH_MAX];
	struct stat st, st2;

	OK(w("f", 0, "abc"));
	cr_assert_eq(lst("f", &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "implicit create is 0600");
	OK(cr("f", 0644));
	OK(cr("f", 0644));
	assert_content("f", "abc", 3);
	cr_assert_eq(lst("f", &st2), 0);
	cr_assert_eq(st2.st_ino, st.st_ino);
	cr_assert_eq(st2.st_mode & 07777, 0644);

	/* A non-empty directory, a FIFO and a symlink are all in the way. */
	OK(md("x", 0755));
	OK(w("x/y/z", 0, "deep"));
	OK(cr("x", 0640));
	cr_assert_eq(lst("x", &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_size, 0);
	OK(mn("fifo", S_IFIFO | 0600, 0));
	OK(cr("fifo", 0600));
	cr_assert_eq(lst("fifo", &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	snprintf(p, sizeof(p), "%s/canary", outside);
	OK(sl("link", p));
	OK(cr("link", 0600));
	cr_assert_eq(lst("link", &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_size, 4, "the symlink's target is untouched");
	cr_assert_eq(ap(withmode(DITTO_OP_CREATE, "bad", S_IFDIR | 0755)),
		     -EINVAL);
}

Test(apply, mkdir_mknod_symlink_keep_or_replace)
{
	struct stat st, st2;

	OK(md("d", 0700));
	cr_assert_eq(lst("d", &st), 0);
	OK(w("d/keep", 0, "k"));
	OK(md("d", 0755));
	cr_assert_eq(lst("d", &st2), 0);
	cr_assert_eq(st2.st_ino, st.st_ino, "existing dir kept");
	cr_assert_eq(st2.st_mode & 07777, 0755, "mode applied");
	assert_content("d/keep", "k", 1);
	OK(w("file", 0, "x"));
	OK(md("file", 0711));
	cr_assert_eq(lst("file", &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0711);

	OK(mn("p", S_IFIFO | 0644, 0));
	cr_assert_eq(lst("p", &st), 0);
	OK(mn("p", S_IFIFO | 0600, 0));
	cr_assert_eq(lst("p", &st2), 0);
	cr_assert_eq(st2.st_ino, st.st_ino);
	cr_assert_eq(st2.st_mode & 07777, 0600);
	OK(mn("p", S_IFSOCK | 0600, 0));
	cr_assert_eq(lst("p", &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(ap(mn("q", S_IFREG | 0600, 0)), -EINVAL);

	OK(sl("s", "target-a"));
	cr_assert_eq(lst("s", &st), 0);
	OK(sl("s", "target-a"));
	cr_assert_eq(lst("s", &st2), 0);
	cr_assert_eq(st2.st_ino, st.st_ino, "identical symlink kept");
	OK(sl("s", "target-b"));
	cr_assert_eq(lst("s", &st2), 0);
	cr_assert_eq(st2.st_size, 8);
	OK(w("reg", 0, "r"));
	OK(sl("reg", "t"));
	cr_assert_eq(lst("reg", &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
}

Test(apply, link_rules)
{
	struct stat a, b;
	char p[PATH_MAX];

	OK(w("a", 0, "A"));
	OK(ln("b", "a"));
	OK(ln("b", "a"));
	cr_assert_eq(lst("a", &a), 0);
	cr_assert_eq(lst("b", &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino);
	cr_assert_eq(a.st_nlink, 2);

	OK(w("c", 0, "C"));
	OK(ln("c", "a"));
	cr_assert_eq(lst("c", &b), 0);
	cr_assert_eq(b.st_ino, a.st_ino, "different file replaced");
	OK(ln("sub/dir/h", "a"));
	assert_content("sub/dir/h", "A", 1);

	OK(ul("a"));
	cr_assert_eq(ap(ln("b", "a")), 0, "%s", last_err);
	cr_assert_neq(last_err[0], '\0', "a note is expected");
	cr_assert_eq(ap(ln("zz", "gone")), 0);
	cr_assert_eq(lst("zz", &b), -1);

	/* A symlink is linked itself, never what it points to. */
	snprintf(p, sizeof(p), "%s/canary", outside);
	OK(sl("s", p));
	OK(ln("h", "s"));
	cr_assert_eq(lst("h", &b), 0);
	cr_assert(S_ISLNK(b.st_mode));
	OK(md("dir", 0755));
	cr_assert_eq(ap(ln("dl", "dir")), -EPERM);
	OK(md("holder", 0755));
	OK(w("holder/in", 0, "i"));
	cr_assert_eq(ap(ln("holder", "holder/in")), -EINVAL);
	assert_content("holder/in", "i", 1);
}

Test(apply, unlink_and_rmdir_rules)
{
	struct stat st;

	OK(ul("missing"));
	OK(ul("no/such/parent"));
	OK(md("d", 0755));
	cr_assert_eq(ap(ul("d")), -EISDIR);
	cr_assert_eq(lst("d", &st), 0);
	OK(w("d/f", 0, "x"));
	cr_assert_eq(ap(rd("d", 0)), -ENOTEMPTY);
	cr_assert_eq(ap(rd("d/f", 0)), -ENOTDIR);
	cr_assert_eq(ap(rd("d/f", DITTO_RMDIR_RECURSIVE)), -ENOTDIR);
	OK(ul("d/f"));
	OK(ul("d/f"));
	OK(rd("d", 0));
	OK(rd("d", 0));
	cr_assert_eq(lst("d", &st), -1);
	cr_assert_eq(ap(rd("x", 0x80)), -EINVAL);
}

Test(apply, rmdir_recursive_never_follows_symlinks)
{
	char p[PATH_MAX];
	struct stat st;
	int i;

	snprintf(p, sizeof(p), "%s", outside);
	OK(md("t", 0755));
	OK(sl("t/out", p));
	OK(md("t/a/b/c", 0755));
	OK(sl("t/a/b/c/out2", p));
	for (i = 0; i < 300; i++) {
		char name[32];

		snprintf(name, sizeof(name), "t/a/f%d", i);
		OK(w(name, 0, "x"));
	}
	OK(md("t/.ditto-rm.0", 0755)); /* a name the remover itself uses */
	OK(w("t/a/b/.ditto-rm.0", 0, "y"));
	OK(rd("t", DITTO_RMDIR_RECURSIVE));
	cr_assert_eq(lst("t", &st), -1);
	snprintf(p, sizeof(p), "%s/canary", outside);
	cr_assert_eq(stat(p, &st), 0, "outside untouched");
	cr_assert_eq(st.st_size, 4);
}

Test(apply, setattr_times_mode_and_symlinks)
{
	struct stat st;
	const uint32_t T = DITTO_ATTR_ATIME | DITTO_ATTR_MTIME;

	OK(w("f", 0, "x"));
	OK(sa("f", T, 0, 1234567890123456789ll, 987654321987654321ll));
	OK(sa("f", T, 0, 1234567890123456789ll, 987654321987654321ll));
	cr_assert_eq(lst("f", &st), 0);
	cr_assert_eq(st.st_atim.tv_sec, 1234567890);
	cr_assert_eq(st.st_atim.tv_nsec, 123456789);
	cr_assert_eq(st.st_mtim.tv_sec, 987654321);
	cr_assert_eq(st.st_mtim.tv_nsec, 987654321);
	/* Only mtime: atime stays. */
	OK(sa("f", DITTO_ATTR_MTIME, 0, 0, -1500000000ll));
	cr_assert_eq(lst("f", &st), 0);
	cr_assert_eq(st.st_atim.tv_sec, 1234567890);
	cr_assert_eq(st.st_mtim.tv_sec, -2);
	cr_assert_eq(st.st_mtim.tv_nsec, 500000000);
	OK(sa("f", DITTO_ATTR_MODE, 04711, 0, 0));
	cr_assert_eq(lst("f", &st), 0);
	cr_assert_eq(st.st_mode & 07777, 04711);

	OK(md("d", 0755));
	OK(sa("d", DITTO_ATTR_MODE | T, 01777, 5000000005ll, 6000000006ll));
	cr_assert_eq(lst("d", &st), 0);
	cr_assert_eq(st.st_mode & 07777, 01777);
	cr_assert_eq(st.st_mtim.tv_sec, 6);
	cr_assert_eq(st.st_mtim.tv_nsec, 6);

	OK(sl("s", "f"));
	OK(sa("s", DITTO_ATTR_MODE | T, 0600, 7000000007ll, 8000000008ll));
	cr_assert_neq(last_err[0], '\0', "mode skip is noted");
	cr_assert_eq(lst("s", &st), 0);
	cr_assert_eq(st.st_mtim.tv_sec, 8);
	cr_assert_eq(st.st_mtim.tv_nsec, 8);
	cr_assert_eq(lst("f", &st), 0);
	cr_assert_eq(st.st_mode & 07777, 04711, "link target untouched");
	cr_assert_eq(st.st_mtim.tv_sec, -2);

	cr_assert_eq(ap(sa("gone", DITTO_ATTR_MODE, 0600, 0, 0)), 0);
	cr_assert_neq(last_err[0], '\0');
	cr_assert_eq(ap(sa("f", 0x100, 0, 0, 0)), -EINVAL);
}

Test(apply, xattrs)
{
	char v[16];
	char p[PATH_MAX];

	OK(w("f", 0, "x"));
	OK(sx("f", "user.a", "1"));
	OK(sx("f", "user.a", "22"));
	rpath(p, sizeof(p), "f");
	cr_assert_eq(lgetxattr(p, "user.a", v, sizeof(v)), 2);
	cr_assert_eq(memcmp(v, "22", 2), 0);
	OK(rx("f", "user.a"));
	OK(rx("f", "user.a"));
	cr_assert_eq(lgetxattr(p, "user.a", v, sizeof(v)), -1);
	OK(md("d", 0755));
	OK(sx("d", "user.b", "dir"));
	OK(sx("missing", "user.b", "x"));
	cr_assert_neq(last_err[0], '\0');
	OK(mn("fifo", S_IFIFO | 0600, 0));
	/* The kernel allows user.* only on files and directories; the point
	 * is that the FIFO is never opened (that would block). */
	cr_assert_neq(ap(sx("fifo", "user.c", "x")), 0);
	cr_assert_eq(ap(rx("f", "")), -EINVAL);
}

static struct ditto_op rx_all_except(const char *p, const char *keep,
				      size_t keep_len)
{
	struct ditto_op op = O(DITTO_OP_REMOVEXATTR, p);

	op.flags = DITTO_XATTR_ALL_EXCEPT;
	op.data = (uint8_t *)keep;
	op.data_len = (uint32_t)keep_len;
	return op;
}

Test(apply, xattrs_all_except)
{
	/* A minimal access ACL: user::rw- user:1234:r-- group::r-- mask::r--
	 * other::r-- (version 2, then tag/perm/id per entry). */
	static const uint8_t acl[] = {
		2, 0, 0, 0,
		0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
		0x02, 0, 4, 0, 0xd2, 0x04, 0, 0,
		0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
		0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
		0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
	};
	const char *ents[] = { "f", "d" };
	char v[16], p[PATH_MAX];
	size_t i;

	OK(w("f", 0, "x"));
	OK(md("d", 0755));
	for (i = 0; i < 2; i++) {
		rpath(p, sizeof(p), ents[i]);
		OK(sx(ents[i], "user.a", "1"));
		OK(sx(ents[i], "user.b", "2"));
		OK(sx(ents[i], "user.c", "3"));
		cr_assert_eq(setxattr(p, "system.posix_acl_access", acl,
				      sizeof(acl), 0), 0, "%s", strerror(errno));
		/* Keep user.b and a name the entry lacks. */
		OK(rx_all_except(ents[i], "user.b\0user.zz\0", 15));
		cr_assert_eq(lgetxattr(p, "user.a", v, sizeof(v)), -1);
		cr_assert_eq(errno, ENODATA);
		cr_assert_eq(lgetxattr(p, "user.b", v, sizeof(v)), 1);
		cr_assert_eq(lgetxattr(p, "user.c", v, sizeof(v)), -1);
		cr_assert_eq(lgetxattr(p, "user.zz", v, sizeof(v)), -1);
		cr_assert_eq(lgetxattr(p, "system.posix_acl_access", NULL, 0),
			     -1, "ACL not removed from %s", ents[i]);
		/* Applied again: nothing left to do. */
		OK(rx_all_except(ents[i], "user.b\0user.zz\0", 15));
		cr_assert_eq(lgetxattr(p, "user.b", v, sizeof(v)), 1);
		/* The empty list removes them all. */
		OK(rx_all_except(ents[i], "", 0));
		cr_assert_eq(listxattr(p, v, sizeof(v)), 0);
	}
	OK(rx_all_except("missing", "", 0));
	cr_assert_neq(last_err[0], '\0');
	OK(mn("fifo", S_IFIFO | 0600, 0));
	OK(rx_all_except("fifo", "", 0));
	cr_assert_neq(last_err[0], '\0', "skip on a FIFO not noted");
	cr_assert_eq(ap(rx_all_except("f", "user.b", 6)), -EINVAL);
	cr_assert_eq(ap(rx_all_except("f", "\0", 1)), -EINVAL);
}

Test(apply, rename_onto_a_hard_link_of_itself)
{
	struct stat st;

	OK(w("a", 0, "x"));
	OK(ln("b", "a"));
	/* rename(2) would leave both names; the source had distinct files,
	 * so only the new name remains. */
	OK(rn("a", "b", 0));
	cr_assert_eq(lst("a", &st), -1, "old name kept");
	cr_assert_eq(lst("b", &st), 0);
	cr_assert_eq(st.st_nlink, 1);
	assert_content("b", "x", 1);
	OK(rn("a", "b", 0));
	cr_assert_eq(lst("b", &st), 0);
}

Test(apply, create_new_replaces_a_linked_file)
{
	struct stat st, st2;
	struct ditto_op op = cr("f", 0644);

	OK(w("f", 0, "old"));
	OK(ln("g", "f"));
	cr_assert_eq(lst("f", &st), 0);
	OK(cr("f", 0644)); /* without the flag the file is kept */
	cr_assert_eq(lst("f", &st2), 0);
	cr_assert_eq(st2.st_ino, st.st_ino);
	op.flags = DITTO_CREATE_NEW;
	OK(op);
	cr_assert_eq(lst("f", &st2), 0);
	cr_assert_neq(st2.st_ino, st.st_ino, "not a new inode");
	cr_assert_eq(st2.st_size, 0);
	cr_assert_eq(st2.st_nlink, 1);
	assert_content("g", "old", 3);
	/* Now f has one name: kept with its data, so a delta can follow. */
	OK(w("f", 0, "new"));
	cr_assert_eq(lst("f", &st), 0);
	OK(op);
	cr_assert_eq(lst("f", &st2), 0);
	cr_assert_eq(st2.st_ino, st.st_ino, "a file with one name replaced");
	assert_content("f", "new", 3);
	OK(md("d", 0755));
	op = cr("d", 0600);
	op.flags = DITTO_CREATE_NEW;
	OK(op);
	cr_assert_eq(lst("d", &st2), 0);
	cr_assert(S_ISREG(st2.st_mode));
}

Test(apply, fallocate_modes)
{
	struct stat st;

	OK(fa("f", 0, 4096, 0));
	cr_assert_eq(lst("f", &st), 0);
	cr_assert_eq(st.st_size, 4096);
	OK(fa("f", 0, 65536, DITTO_FALLOC_KEEP_SIZE));
	OK(fa("f", 0, 65536, DITTO_FALLOC_KEEP_SIZE));
	cr_assert_eq(lst("f", &st), 0);
	cr_assert_eq(st.st_size, 4096);
	cr_assert_geq(st.st_blocks * 512, 65536);
	OK(fa("f", 0, 0, 0));
	cr_assert_eq(ap(fa("f", 0, 1, 0x40)), -EINVAL);
	cr_assert_eq(ap(fa("f", INT64_MAX, 2, 0)), -EINVAL);
	cr_assert_eq(ap(tr("f", (uint64_t)INT64_MAX + 1)), -EINVAL);
	OK(tr("newfile", 10));
	cr_assert_eq(lst("newfile", &st), 0);
	cr_assert_eq(st.st_size, 10);
}

/* --- names and paths ----------------------------------------------------------------- */

Test(apply, arbitrary_byte_names)
{
	static const char *const names[] = {
		"\x01\xff name", "new\nline", "quote\"back\\slash", "\xc3\xbc",
		"-dash", " space ", ".hidden", "...", "\x7f\x80\xfe",
	};
	char a[64], b[64], c[64], e[64];
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(names); i++) {
		struct stat st;

		snprintf(a, sizeof(a), "%s", names[i]);
		snprintf(b, sizeof(b), "%s/%s", names[i], names[i]);
		snprintf(c, sizeof(c), "%s/%s.moved", names[i], names[i]);
		snprintf(e, sizeof(e), "%s/l", names[i]);
		{
			struct ditto_op ops[] = {
				md(a, 0755), w(b, 0, names[i]), rn(b, c, 0),
				sl(e, names[i]), sx(c, "user.n", names[i]),
			};

			free(run_twice(ops, UTIL_ARRAY_SIZE(ops)));
		}
		assert_content(c, names[i], strlen(names[i]));
		cr_assert_eq(lst(b, &st), -1);
	}
	/* Messages never carry raw control bytes. */
	cr_assert_eq(ap(ul("\x01\xff name")), -EISDIR);
	cr_assert(strstr(last_err, "\\x01\\xff name"), "%s", last_err);
	cr_assert_null(strchr(last_err, '\x01'));
}

static char *deep_path(size_t dirs, const char *leaf)
{
	struct util_buf b;
	size_t i;

	util_buf_init(&b);
	for (i = 0; i < dirs; i++)
		util_buf_puts(&b, "a/");
	util_buf_puts(&b, leaf);
	return util_buf_steal(&b);
}

/* Walks the chain of "a" directories with *at calls (the absolute path would
 * exceed PATH_MAX) and returns an fd on the deepest. */
static int walk_a(size_t dirs)
{
	int fd = open(root, O_PATH | O_DIRECTORY), nfd;
	size_t i;

	for (i = 0; i < dirs && fd >= 0; i++) {
		nfd = openat(fd, "a", O_PATH | O_DIRECTORY | O_NOFOLLOW);
		close(fd);
		fd = nfd;
	}
	return fd;
}

Test(apply, longest_path_and_deep_tree_removal)
{
	char *p = deep_path(2047, "f"), *p2, *p3, *q;
	struct rlimit rl = { 32, 32 };
	struct ditto_op big;
	char buf[8];
	struct stat st;
	int fd, ffd;

	cr_assert_eq(strlen(p), DITTO_PATH_MAX);
	OK(w(p, 0, "deep"));
	OK(w(p, 0, "deep"));
	OK(sa(p, DITTO_ATTR_MODE, 0640, 0, 0));
	fd = walk_a(2047);
	cr_assert_geq(fd, 0);
	ffd = openat(fd, "f", O_RDONLY | O_NOFOLLOW);
	cr_assert_geq(ffd, 0);
	cr_assert_eq(read(ffd, buf, sizeof(buf)), 4);
	cr_assert_eq(memcmp(buf, "deep", 4), 0);
	cr_assert_eq(fstat(ffd, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	close(ffd);
	close(fd);

	p2 = deep_path(2047, "fg");
	cr_assert_eq(ap(w(p2, 0, "x")), -EINVAL, "4096 bytes is too long");
	big = w(p2, 0, "x");
	big.path_len = 10; /* a NUL inside the declared length */
	p3 = util_xstrdup("abc");
	big.path = p3;
	cr_assert_eq(ap(big), -EINVAL);
	q = util_xcalloc(1, 300);
	memset(q, 'n', 256);
	cr_assert_eq(ap(w(q, 0, "x")), -ENAMETOOLONG);

	/* Make the tree deeper than any path can say: move it under 1000
	 * more levels. Then remove it with few fds allowed. */
	free(p2);
	p2 = util_xasprintf("%s", "b");
	{
		struct util_buf b;
		size_t i;

		util_buf_init(&b);
		for (i = 0; i < 1000; i++)
			util_buf_puts(&b, "b/");
		util_buf_puts(&b, "a");
		free(p2);
		p2 = util_buf_steal(&b);
	}
	OK(rn("a", p2, 0));
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	OK(rd("b", DITTO_RMDIR_RECURSIVE));
	OK(rd("b", DITTO_RMDIR_RECURSIVE));
	cr_assert_eq(lst("b", &st), -1);
	cr_assert_eq(lst("a", &st), -1);
	free(p);
	free(p2);
	free(p3);
	free(q);
}

Test(apply, sparse_files_stay_sparse)
{
	const uint64_t far = 1ull << 30;
	static uint8_t mib[1 << 20];
	struct ditto_op ops[] = {
		w("s", far, "x"),
	};
	struct stat st;
	char *s;

	s = run_twice(ops, UTIL_ARRAY_SIZE(ops));
	free(s);
	cr_assert_eq(lst("s", &st), 0);
	cr_assert_eq(st.st_size, (off_t)far + 1);
	cr_assert_lt(st.st_blocks * 512, 1 << 20, "blocks %lld",
		     (long long)st.st_blocks);

	memset(mib, 0xab, sizeof(mib));
	OK(wbuf("s", 0, mib, sizeof(mib)));
	cr_assert_eq(lst("s", &st), 0);
	cr_assert_geq(st.st_blocks * 512, 1 << 20);
	OK(fa("s", 0, 1 << 20, DITTO_FALLOC_PUNCH_HOLE));
	OK(fa("s", 0, 1 << 20, DITTO_FALLOC_PUNCH_HOLE));
	cr_assert_eq(lst("s", &st), 0);
	cr_assert_eq(st.st_size, (off_t)far + 1, "punch keeps the size");
	cr_assert_lt(st.st_blocks * 512, 1 << 20, "blocks %lld",
		     (long long)st.st_blocks);
	{
		char p[PATH_MAX], b[16];
		int fd;

		rpath(p, sizeof(p), "s");
		fd = open(p, O_RDONLY);
		cr_assert_eq(pread(fd, b, sizeof(b), 4096), (ssize_t)sizeof(b));
		close(fd);
		cr_assert_eq(memcmp(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16), 0);
	}
}

/* --- escapes ---------------------------------------------------------------------------- */

static char *outside_state(void)
{
	struct util_buf b;
	char *s;
	struct stat st;

	util_buf_init(&b);
	cr_assert_eq(lstat(outside, &st), 0);
	util_buf_printf(&b, "m=%o mt=%lld.%ld\n", (unsigned)st.st_mode,
			(long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	s = snapshot(outside);
	util_buf_puts(&b, s);
	free(s);
	return util_buf_steal(&b);
}

Test(apply, escapes_fail_and_touch_nothing_outside)
{
	const uint32_t ALL = DITTO_ATTR_MODE | DITTO_ATTR_ATIME |
			     DITTO_ATTR_MTIME;
	char rel[PATH_MAX], *before, *after;
	struct ditto_op bad[] = {
		w("evil/x", 0, "pwned"),
		w("rel/x", 0, "pwned"),
		tr("evil/canary", 0),
		fa("evil/canary", 0, 1, DITTO_FALLOC_PUNCH_HOLE),
		md("evil/y", 0755),
		md("evil/y/z", 0755),
		cr("evil/z", 0644),
		mn("evil/n", S_IFIFO | 0644, 0),
		sl("evil/s", "x"),
		rn("a", "evil/b", 0),
		rn("evil/canary", "stolen", 0),
		ln("evil/l", "a"),
		ln("stolen", "evil/canary"),
		ul("evil/canary"),
		rd("evil", DITTO_RMDIR_RECURSIVE),
		rd("evil/", 0),
		sa("evil/canary", ALL, 0777, 0, 0),
		sx("evil/canary", "user.x", "x"),
		rx("evil/canary", "user.x"),
		w("evil", 0, "pwned"),
		tr("evil", 0),
		w("../x", 0, "x"),
		w("/etc/passwd", 0, "x"),
		sa("/etc/passwd", DITTO_ATTR_MODE, 0777, 0, 0),
		w("a/../../x", 0, "x"),
		w("./a", 0, "x"),
		w("a/.", 0, "x"),
		w("a//b", 0, "x"),
		w("", 0, "x"),
		ul(".."),
		rn("a", "../a", 0),
		ln("a2", "../outside-dir/canary"),
	};
	struct stat st;
	size_t i;
	int rc;

	cr_assert_eq(symlinkat(outside, apply_root_fd(R), "evil"), 0);
	cr_assert_eq(symlinkat("../outside-dir", apply_root_fd(R), "rel"), 0);
	OK(w("a", 0, "A"));
	before = outside_state();
	for (i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
		rc = ap(bad[i]);
		cr_assert(is_escape_err(rc) || (i == 14 && rc == -ENOTDIR),
			  "op %zu (%s): rc %d %s", i, bad[i].path, rc, last_err);
		cr_assert_neq(last_err[0], '\0', "op %zu has a message", i);
	}
	/* SETATTR acts on the link itself, never through it. */
	OK(sa("evil", ALL, 0777, 1000000000, 1000000000));
	OK(sa("evil", DITTO_ATTR_UID | DITTO_ATTR_GID, 0, 0, 0));
	after = outside_state();
	cr_assert_str_eq(after, before, "outside changed");
	assert_content("a", "A", 1);
	cr_assert_eq(lst("stolen", &st), -1);
	/* Removing the planted link itself is fine and harmless. */
	OK(ul("evil"));
	cr_assert_eq(lst("evil", &st), -1);
	snprintf(rel, sizeof(rel), "%s/canary", outside);
	cr_assert_eq(stat(rel, &st), 0);
	free(before);
	free(after);
}

Test(apply, symlink_to_a_sensitive_file_is_only_content)
{
	char scratch[PATH_MAX], *before, *after;
	struct stat st, st0;
	size_t len;

	snprintf(scratch, sizeof(scratch), "%s/scratch-passwd", base);
	write_file(scratch, "root:x:0:0\n");
	cr_assert_eq(stat(scratch, &st0), 0);
	before = slurp(scratch, &len);
	OK(sl("pw", scratch));
	OK(sl("pw", scratch));
	cr_assert_eq(ap(w("pw", 0, "owned")), -ELOOP);
	cr_assert_eq(ap(w("pw", 1 << 20, "owned")), -ELOOP);
	cr_assert_eq(ap(tr("pw", 0)), -ELOOP);
	cr_assert_eq(ap(fa("pw", 0, 1, DITTO_FALLOC_PUNCH_HOLE)), -ELOOP);
	cr_assert(is_escape_err(ap(w("pw/x", 0, "owned"))));
	OK(sa("pw", DITTO_ATTR_MODE, 0777, 0, 0));
	cr_assert_neq(ap(sx("pw", "user.x", "x")), 0);
	after = slurp(scratch, &len);
	cr_assert_str_eq(after, before);
	cr_assert_eq(stat(scratch, &st), 0);
	cr_assert_eq(st.st_mode, st0.st_mode);
	cr_assert_eq(st.st_mtim.tv_sec, st0.st_mtim.tv_sec);
	cr_assert_eq(st.st_mtim.tv_nsec, st0.st_mtim.tv_nsec);
	cr_assert_eq(lgetxattr(scratch, "user.x", NULL, 0), -1);
	free(before);
	free(after);
}

Test(apply, intermediate_symlink_inside_root_is_refused)
{
	struct stat st;

	OK(md("real", 0755));
	OK(sl("alias", "real"));
	cr_assert_eq(ap(w("alias/f", 0, "x")), -ELOOP);
	cr_assert_eq(lst("real/f", &st), -1);
	OK(w("file", 0, "x"));
	cr_assert_eq(ap(w("file/sub", 0, "x")), -ENOTDIR);
}

/* --- renames and swaps ----------------------------------------------------------------------- */

Test(apply, rename_chains_and_directories)
{
	struct ditto_op ops[] = {
		cr("a", 0644), w("a", 0, "1"),
		rn("a", "b", 0), rn("b", "c", 0),
		cr("a", 0644), w("a", 0, "2"), rn("a", "b", 0),
		cr("x", 0644), w("x", 0, "X"), cr("y", 0644), w("y", 0, "Y"),
		rn("x", "tmp", 0), rn("y", "x", 0), rn("tmp", "y", 0),
		md("p", 0755), cr("p/f", 0644), w("p/f", 0, "pf"),
		rn("p", "q", 0),
		md("q2", 0755), w("q2/old", 0, "o"),
		md("p2", 0755), w("p2/new", 0, "n"), rn("p2", "q2", 0),
		cr("n1", 0644), rn("n1", "n2", DITTO_RENAME_NOREPLACE),
		w("m", 0, "m"), rn("m", "into/new/dir/m", 0),
		w("fl", 0, "f"), md("dd", 0755), rn("fl", "dd", 0),
	};
	struct stat st;
	char *s;

	s = run_twice(ops, UTIL_ARRAY_SIZE(ops));
	free(s);
	assert_content("c", "1", 1);
	assert_content("b", "2", 1);
	assert_content("x", "Y", 1);
	assert_content("y", "X", 1);
	assert_content("q/f", "pf", 2);
	assert_content("q2/new", "n", 1);
	cr_assert_eq(lst("q2/old", &st), -1);
	cr_assert_eq(lst("n2", &st), 0);
	assert_content("into/new/dir/m", "m", 1);
	cr_assert_eq(lst("dd", &st), 0);
	cr_assert(S_ISREG(st.st_mode));

	/* A missing source with the destination present: already applied. */
	OK(rn("a", "b", 0));
	cr_assert_neq(last_err[0], '\0');
	/* The destination holding the source is never cleared. */
	OK(md("h", 0755));
	OK(w("h/x", 0, "hx"));
	cr_assert_eq(ap(rn("h/x", "h", 0)), -EINVAL);
	assert_content("h/x", "hx", 2);
	cr_assert_eq(ap(rn("a", "b", 3)), -EINVAL);
}

Test(apply, rename_exchange_swaps)
{
	OK(w("l", 0, "L"));
	OK(w("r", 0, "R"));
	OK(rn("l", "r", DITTO_RENAME_EXCHANGE));
	assert_content("l", "R", 1);
	assert_content("r", "L", 1);
	cr_assert_eq(ap(rn("l", "nobody", DITTO_RENAME_EXCHANGE)), -ENOENT);
}

Test(apply, directory_symlink_swaps)
{
	struct ditto_op to_link[] = {
		md("d", 0755), cr("d/f", 0644), w("d/f", 0, "data"),
		md("d/sub", 0755), w("d/sub/g", 0, "g"),
		rd("d", DITTO_RMDIR_RECURSIVE), sl("d", "somewhere"),
	};
	struct ditto_op to_dir[] = {
		sl("s", "x"), ul("s"), md("s", 0755), cr("s/f", 0644),
	};
	struct ditto_op file_dir_file[] = {
		cr("n", 0644), ul("n"), md("n", 0755), cr("n/f", 0644),
		rd("n", DITTO_RMDIR_RECURSIVE), cr("n", 0600), w("n", 0, "end"),
	};
	struct stat st;

	free(run_twice(to_link, UTIL_ARRAY_SIZE(to_link)));
	cr_assert_eq(lst("d", &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	free(run_twice(to_dir, UTIL_ARRAY_SIZE(to_dir)));
	cr_assert_eq(lst("s/f", &st), 0);
	free(run_twice(file_dir_file, UTIL_ARRAY_SIZE(file_dir_file)));
	assert_content("n", "end", 3);

	/* UNLINK is not rmdir: a directory at the name is refused. */
	OK(md("u", 0755));
	cr_assert_eq(ap(ul("u")), -EISDIR);
	OK(rd("u", DITTO_RMDIR_RECURSIVE));
	OK(sl("u", "t"));
	cr_assert_eq(lst("u", &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
}

/* --- misc ---------------------------------------------------------------------------------- */

Test(apply, control_block_and_unknown_ops)
{
	struct ditto_op op = O(DITTO_OP_BLOCK_WRITE, "sda");

	cr_assert_eq(ap(op), -EOPNOTSUPP);
	cr_assert(strstr(last_err, "BLOCK_WRITE"), "%s", last_err);
	OK(O(DITTO_OP_MARKER, NULL));
	cr_assert_eq(last_err[0], '\0');
	OK(O(DITTO_OP_VERIFY, "../not/checked/here"));
	op = O(99, "x");
	cr_assert_eq(ap(op), -EINVAL);
	cr_assert_eq(apply_op(R, NULL, last_err, sizeof(last_err)), -EINVAL);
	cr_assert_eq(apply_op(NULL, &op, NULL, 0), -EINVAL);
	op = w("x", 0, "y");
	op.data_len = DITTO_OP_DATA_MAX + 1;
	cr_assert_eq(ap(op), -EINVAL);
	/* A tiny error buffer is never overrun. */
	{
		char small[8];
		struct ditto_op u = ul("dir");

		OK(md("dir", 0755));
		cr_assert_eq(apply_op(R, &u, small, sizeof(small)), -EISDIR);
		cr_assert_eq(strlen(small), 7);
	}
}

Test(apply, retryable_errors)
{
	static const int yes[] = { ENOSPC, EDQUOT, EBUSY, ETXTBSY, EACCES,
				   EAGAIN, EIO };
	static const int no[] = { ENOENT, EINVAL, ELOOP, EXDEV, EPERM, EISDIR,
				  ENOTDIR, ENOTEMPTY, EOPNOTSUPP, 0 };
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(yes); i++) {
		cr_assert(apply_error_retryable(yes[i]), "%d", yes[i]);
		cr_assert(apply_error_retryable(-yes[i]), "%d", yes[i]);
	}
	for (i = 0; i < UTIL_ARRAY_SIZE(no); i++)
		cr_assert_not(apply_error_retryable(-no[i]), "%d", no[i]);
}

/* --- root only ------------------------------------------------------------------------------ */

Test(apply, owners_and_device_nodes_as_root)
{
	struct ditto_op op;
	struct stat st, st2;
	char p[PATH_MAX], v[8];

	if (geteuid() != 0) {
		teardown(); /* a skipped test does not reach .fini */
		cr_skip_test("needs root: chown to other ids, mknod of devices, "
			     "trusted.* xattrs");
	}
	op = cr("f", 0644);
	op.uid = 1234;
	op.gid = 5678;
	OK(op);
	OK(op);
	cr_assert_eq(lst("f", &st), 0);
	cr_assert_eq(st.st_uid, 1234);
	cr_assert_eq(st.st_gid, 5678);
	op = md("d", 02775);
	op.uid = 42;
	op.gid = 43;
	OK(op);
	cr_assert_eq(lst("d", &st), 0);
	cr_assert_eq(st.st_uid, 42);
	cr_assert_eq(st.st_mode & 07777, 02775, "set-id bit kept after chown");
	op = sa("f", DITTO_ATTR_UID | DITTO_ATTR_GID, 0, 0, 0);
	op.uid = 7;
	op.gid = 8;
	OK(op);
	cr_assert_eq(lst("f", &st), 0);
	cr_assert_eq(st.st_uid, 7);
	cr_assert_eq(st.st_gid, 8);

	snprintf(p, sizeof(p), "%s/canary", outside);
	op = sl("s", p);
	op.uid = 99;
	op.gid = 98;
	OK(op);
	cr_assert_eq(lst("s", &st), 0);
	cr_assert_eq(st.st_uid, 99);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_uid, 0, "target not chowned");

	OK(mn("null", S_IFCHR | 0666, makedev(1, 3)));
	cr_assert_eq(lst("null", &st), 0);
	OK(mn("null", S_IFCHR | 0666, makedev(1, 3)));
	cr_assert_eq(lst("null", &st2), 0);
	cr_assert_eq(st2.st_ino, st.st_ino, "same device kept");
	cr_assert_eq(st2.st_rdev, makedev(1, 3));
	OK(mn("null", S_IFCHR | 0666, makedev(1, 5)));
	cr_assert_eq(lst("null", &st2), 0);
	cr_assert_eq(st2.st_rdev, makedev(1, 5), "other device replaced");
	OK(mn("blk", S_IFBLK | 0600, makedev(7, 200)));
	cr_assert_eq(lst("blk", &st), 0);
	cr_assert(S_ISBLK(st.st_mode));
	/* Data ops never open a device node a peer created. */
	cr_assert_eq(ap(w("null", 0, "x")), -EINVAL);
	cr_assert_eq(ap(tr("blk", 0)), -EINVAL);

	/* trusted.* on a symlink goes through setxattrat, never the target. */
	{
		int rc = ap(sx("s", "trusted.t", "v"));

		if (rc == 0 && last_err[0] == '\0') {
			rpath(p, sizeof(p), "s");
			cr_assert_eq(lgetxattr(p, "trusted.t", v, sizeof(v)), 1);
			OK(rx("s", "trusted.t"));
			OK(rx("s", "trusted.t"));
			cr_assert_eq(lgetxattr(p, "trusted.t", v, sizeof(v)), -1);
		} else {
			cr_assert_eq(rc, 0, "%s", last_err);
		}
	}
	snprintf(p, sizeof(p), "%s/canary", outside);
	cr_assert_eq(lgetxattr(p, "trusted.t", v, sizeof(v)), -1);
}
