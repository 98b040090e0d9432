#include "config.h"

/* Tests of mirroring by comparison and of verification: the target's
 * verify_entry against real trees, the walker's probe / dirs-only / dirlist
 * modes, and the range repair (mirror_send_ranges). Source and target are
 * real directories side by side under one mkdtemp directory; the target is
 * built with the real applier from the walker's own ops. */

#include "apply.h"
#include "bhash.h"
#include "mirror.h"
#include "op.h"
#include "util.h"
#include "verify.h"
#include "wire.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>
#include <xxhash.h>

/* --- fixture -------------------------------------------------------------- */

static char base[64];
static char src[128];
static char tgt[128];
static char outside[128];
static struct apply_root *R;

static void setup(void)
{
	char err[256];

	umask(022);
	util_strlcpy(base, "/tmp/ditto-verify-XXXXXX", sizeof(base));
	cr_assert_not_null(mkdtemp(base));
	snprintf(src, sizeof(src), "%s/src", base);
	snprintf(tgt, sizeof(tgt), "%s/tgt", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	cr_assert_eq(mkdir(src, 0755), 0);
	cr_assert_eq(mkdir(outside, 0755), 0);
	R = apply_root_open(tgt, err, sizeof(err));
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

TestSuite(verify, .init = setup, .fini = teardown, .timeout = 120);

/* --- file helpers --------------------------------------------------------- */

static char *P(const char *dir, const char *rel)
{
	static char bufs[8][PATH_MAX];
	static unsigned n;
	char *b = bufs[n++ % 8];
	size_t dl = strlen(dir), rl = strlen(rel);

	/* dir may be an earlier result of P, i.e. one of bufs: memmove. */
	cr_assert_lt(dl + 1 + rl, (size_t)PATH_MAX, "path too long");
	memmove(b, dir, dl);
	b[dl] = '/';
	memcpy(b + dl + 1, rel, rl + 1);
	return b;
}

/* Deterministic bytes: a different stream per seed, position-dependent. */
static void pattern(uint8_t *p, size_t n, uint64_t seed, uint64_t off)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t x = (off + i) * 0x9E3779B97F4A7C15ull ^ seed * 0xD6E8FEB86659FD93ull;

		x ^= x >> 31;
		x *= 0xBF58476D1CE4E5B9ull;
		x ^= x >> 29;
		p[i] = (uint8_t)x;
	}
}

/* Writes n pattern bytes at off into path (created 0644 if missing, never
 * truncated). */
static void put(const char *path, uint64_t off, size_t n, uint64_t seed)
{
	uint8_t *b = util_xmalloc(n ? n : 1);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	pattern(b, n, seed, off);
	cr_assert_eq(pwrite(fd, b, n, (off_t)off), (ssize_t)n, "write %s", path);
	close(fd);
	free(b);
}

static void mkfile(const char *path, size_t n, uint64_t seed)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	close(fd);
	if (n)
		put(path, 0, n, seed);
}

static void rmrf(const char *path)
{
	char *cmd = util_xasprintf("rm -rf '%s'", path);

	cr_assert_eq(system(cmd), 0, "%s", cmd);
	free(cmd);
}

static void xtruncate(const char *path, off_t n)
{
	cr_assert_eq(truncate(path, n), 0, "truncate %s: %s", path, strerror(errno));
}

static struct stat lst(const char *path)
{
	struct stat st;

	cr_assert_eq(lstat(path, &st), 0, "lstat %s: %s", path, strerror(errno));
	return st;
}

/* Gives path (not following a symlink) the times of ref. */
static void copy_times(const char *path, const struct stat *ref)
{
	struct timespec ts[2] = { ref->st_atim, ref->st_mtim };

	cr_assert_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0,
		     "utimensat %s: %s", path, strerror(errno));
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st = lst(path);
	uint8_t *b = util_xmalloc((size_t)st.st_size + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(util_read_full(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static bool same_content(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *x = slurp(a, &la), *y = slurp(b, &lb);
	bool same = la == lb && memcmp(x, y, la) == 0;

	free(x);
	free(y);
	return same;
}

/* --- op collection -------------------------------------------------------- */

struct tctx {
	const char *root;           /* source root: t_map strips it */
	size_t root_len;
	struct mirror_walk *w;      /* set during a walk: abs is checked */
	struct ditto_op *ops;
	size_t nops, cap;
	/* match: names ending in ".skip" and the dir "ex" are skipped, "desc"
	 * is only descended into */
	bool use_match;
};

static int t_emit(void *ctx, const struct ditto_op *op)
{
	struct tctx *t = ctx;
	const char *why = NULL;

	cr_assert_eq(op_validate(op, &why), 0, "invalid %s op: %s",
		     op_kind_name(op->kind), why);
	if (t->w) {
		/* mirror_walk_abs names the entry whose op this is (the
		 * source pairs VERIFY answers with it). */
		char want[PATH_MAX];
		size_t alen;
		const char *abs = mirror_walk_abs(t->w, &alen);

		if (op->path_len)
			snprintf(want, sizeof(want), "%s/%.*s", t->root,
				 (int)op->path_len, op->path);
		else
			util_strlcpy(want, t->root, sizeof(want));
		cr_assert(alen == strlen(want) && memcmp(abs, want, alen) == 0,
			  "%s op for '%s': mirror_walk_abs gives '%.*s'",
			  op_kind_name(op->kind), op->path ? op->path : "",
			  (int)alen, abs);
	}
	if (t->nops == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->ops = util_xreallocarray(t->ops, t->cap, sizeof(*t->ops));
	}
	cr_assert_eq(op_copy(&t->ops[t->nops], op), 0);
	t->nops++;
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

static enum mirror_verdict t_match(void *ctx, const char *abs, size_t len,
				   bool is_dir)
{
	struct tctx *t = ctx;
	const char *rel = abs + t->root_len;

	cr_assert_eq(strlen(abs), len, "match path length");
	if (len > 5 && strcmp(abs + len - 5, ".skip") == 0)
		return MIRROR_SKIP;
	if (strcmp(rel, "/ex") == 0)
		return MIRROR_SKIP;
	if (strcmp(rel, "/desc") == 0)
		return is_dir ? MIRROR_DESCEND : MIRROR_SKIP;
	return MIRROR_INCLUDE;
}

static void tctx_init(struct tctx *t, const char *root)
{
	memset(t, 0, sizeof(*t));
	t->root = root;
	t->root_len = strlen(root);
}

static void tctx_free(struct tctx *t)
{
	size_t i;

	for (i = 0; i < t->nops; i++)
		op_free(&t->ops[i]);
	free(t->ops);
	t->ops = NULL;
	t->nops = t->cap = 0;
}

/* Walks t->root with o (small budgets, so the walk resumes often). */
static struct mirror_stats run_walk(struct tctx *t, struct mirror_opts o)
{
	const char *roots[] = { t->root };
	struct mirror_stats st;
	char err[256];
	int r;

	o.emit = t_emit;
	o.ctx = t;
	o.map = t_map;
	if (t->use_match)
		o.match = t_match;
	t->w = mirror_walk_new(roots, 1, &o, err, sizeof(err));
	cr_assert_not_null(t->w, "%s", err);
	while ((r = mirror_walk_step(t->w, 100000, 5)) == 1)
		;
	cr_assert_eq(r, 0, "walk: %s", mirror_walk_error(t->w));
	mirror_walk_stats(t->w, &st);
	cr_assert_eq(st.skipped_errors, 0);
	mirror_walk_free(t->w);
	t->w = NULL;
	return st;
}

static void apply_ops(const struct tctx *t)
{
	char err[512];
	size_t i;

	for (i = 0; i < t->nops; i++) {
		const struct ditto_op *op = &t->ops[i];

		if (op->kind == DITTO_OP_VERIFY || op->kind == DITTO_OP_DIRLIST)
			continue;
		cr_assert_eq(apply_op(R, op, err, sizeof(err)), 0, "apply %s %s: %s",
			     op_kind_name(op->kind), op->path, err);
	}
}

/* A full mirror of src into the target root. */
static void mirror_into_target(void)
{
	struct mirror_opts o = { .probe = MIRROR_SEND };
	struct tctx t;

	tctx_init(&t, src);
	run_walk(&t, o);
	apply_ops(&t);
	tctx_free(&t);
}

static size_t count_kind(const struct tctx *t, uint16_t kind)
{
	size_t i, n = 0;

	for (i = 0; i < t->nops; i++)
		n += t->ops[i].kind == kind;
	return n;
}

/* Index of the only op of kind for path; fails if none or several. */
static size_t find_op(const struct tctx *t, uint16_t kind, const char *path)
{
	size_t i, at = SIZE_MAX;

	for (i = 0; i < t->nops; i++) {
		const struct ditto_op *op = &t->ops[i];

		if (op->kind != kind || op->path_len != strlen(path) ||
		    memcmp(op->path, path, op->path_len) != 0)
			continue;
		cr_assert_eq(at, SIZE_MAX, "two %s ops for %s", op_kind_name(kind), path);
		at = i;
	}
	cr_assert_neq(at, SIZE_MAX, "no %s op for %s", op_kind_name(kind), path);
	return at;
}

/* The report for one VERIFY op. The report starts out full of garbage so
 * fields verify_entry forgets to set show up. */
static struct wire_report *verify(const struct ditto_op *op)
{
	struct wire_report *rep = util_xmalloc(sizeof(*rep));

	memset(rep, 0x5a, sizeof(*rep));
	cr_assert_eq(verify_entry(R, op, rep), 0);
	cr_assert_leq(rep->nranges, WIRE_REPORT_RANGES);
	return rep;
}

/* --- the test tree -------------------------------------------------------- */

#define BLK 4096u
#define MIB (1u << 20)

/* Every entry build_tree makes (source-relative), so tests can check that
 * each gets exactly one VERIFY. */
static const char *const tree_paths[] = {
	"reg", "empty", "sparse", "lnk", "fifo", "dir", "dir/inner", "dir/zero",
	"hl1", "dir/hl2", "nblk", "nblk1", "big", "suid", "d", "d/f", "pf",
	"pf/x", "missing", "totype", "tomode", "toown", "tomtime", "longer",
	"shorter", "holefill",
};
static bool have_cdev;

static void build_tree(void)
{
	struct stat st;

	mkfile(P(src, "reg"), 10000, 1);
	mkfile(P(src, "empty"), 0, 0);
	/* 5 MiB, data at both ends, a hole in the middle. */
	mkfile(P(src, "sparse"), 0, 0);
	put(P(src, "sparse"), 0, 100000, 2);
	put(P(src, "sparse"), 5 * MIB - 100000, 100000, 3);
	st = lst(P(src, "sparse"));
	cr_assert_eq(st.st_size, 5 * MIB);
	cr_assert_lt(st.st_blocks * 512, 1 * MIB, "the file system made no hole");
	cr_assert_eq(symlink("reg", P(src, "lnk")), 0);
	cr_assert_eq(mkfifo(P(src, "fifo"), 0640), 0);
	cr_assert_eq(mkdir(P(src, "dir"), 0750), 0);
	mkfile(P(src, "dir/inner"), 3, 4);
	mkfile(P(src, "dir/zero"), 0, 0);
	cr_assert_eq(chmod(P(src, "dir/zero"), 0640), 0);
	cr_assert_eq(chown(P(src, "dir/zero"), 1234, 5678), 0);
	mkfile(P(src, "hl1"), 70000, 5);
	cr_assert_eq(link(P(src, "hl1"), P(src, "dir/hl2")), 0);
	mkfile(P(src, "nblk"), 8 * BLK, 6);
	mkfile(P(src, "nblk1"), 8 * BLK + 1, 7);
	mkfile(P(src, "big"), MIB, 8);
	mkfile(P(src, "suid"), 10, 9);
	cr_assert_eq(chmod(P(src, "suid"), 04755), 0);
	cr_assert_eq(mkdir(P(src, "d"), 0755), 0);
	mkfile(P(src, "d/f"), 5000, 10);
	cr_assert_eq(mkdir(P(src, "pf"), 0755), 0);
	mkfile(P(src, "pf/x"), 100, 11);
	mkfile(P(src, "missing"), 20000, 12);
	mkfile(P(src, "totype"), 20000, 13);
	mkfile(P(src, "tomode"), 20000, 14);
	mkfile(P(src, "toown"), 20000, 15);
	mkfile(P(src, "tomtime"), 20000, 16);
	mkfile(P(src, "longer"), 20000, 17);
	mkfile(P(src, "shorter"), 20000, 18);
	/* Zeros in the middle, written (not a hole). */
	mkfile(P(src, "holefill"), 300000, 19);
	{
		uint8_t *zero = util_xcalloc(1, 200000);
		int fd = open(P(src, "holefill"), O_WRONLY);

		cr_assert_eq(pwrite(fd, zero, 200000, 50000), 200000);
		close(fd);
		free(zero);
	}
	/* A character device, where the container allows it. */
	have_cdev = mknod(P(src, "cdev"), S_IFCHR | 0644, makedev(1, 3)) == 0;
	/* Old times everywhere, so "now" on the target would show. */
	{
		size_t i;
		struct timespec ts[2] = { { 1500000000, 123456789 },
					  { 1600000000, 987654321 } };

		for (i = 0; i < UTIL_ARRAY_SIZE(tree_paths); i++) {
			const char *p = tree_paths[i];

			if (strchr(p, '/')) /* after the children: below */
				continue;
			if (strcmp(p, "dir") && strcmp(p, "d") && strcmp(p, "pf"))
				cr_assert_eq(utimensat(AT_FDCWD, P(src, p), ts,
						       AT_SYMLINK_NOFOLLOW), 0);
		}
		cr_assert_eq(utimensat(AT_FDCWD, P(src, "dir/inner"), ts, 0), 0);
		ts[1].tv_sec += 1000;
		cr_assert_eq(utimensat(AT_FDCWD, P(src, "dir"), ts, 0), 0);
		cr_assert_eq(utimensat(AT_FDCWD, P(src, "d"), ts, 0), 0);
		cr_assert_eq(utimensat(AT_FDCWD, P(src, "pf"), ts, 0), 0);
	}
}

static bool is_tree_path(const char *p, size_t len)
{
	size_t i;

	if (have_cdev && len == 4 && memcmp(p, "cdev", 4) == 0)
		return true;
	for (i = 0; i < UTIL_ARRAY_SIZE(tree_paths); i++)
		if (strlen(tree_paths[i]) == len && memcmp(tree_paths[i], p, len) == 0)
			return true;
	return false;
}

static size_t tree_count(void)
{
	return UTIL_ARRAY_SIZE(tree_paths) + (have_cdev ? 1 : 0);
}

/* Gives the target's directories the source's times again: the damage
 * below adds and removes names, which the comparison would rightly see. */
static void restore_dir_times(void)
{
	static const char *const dirs[] = { "dir", "d", "pf" };
	struct stat st;
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(dirs); i++) {
		if (lstat(P(tgt, dirs[i]), &st) == 0 && S_ISDIR(st.st_mode)) {
			struct stat s = lst(P(src, dirs[i]));

			copy_times(P(tgt, dirs[i]), &s);
		}
	}
}

/* --- 1. an identical copy --------------------------------------------------- */

static void check_identical(bool checksum)
{
	struct mirror_opts o = { .probe = MIRROR_PROBE_ALL, .checksum = checksum,
				 .block = BLK };
	struct mirror_stats ms;
	bool seen[64] = { false };
	size_t i, j, nlinkflag = 0;
	struct tctx t;

	tctx_init(&t, src);
	ms = run_walk(&t, o);
	cr_assert_eq(t.nops, tree_count(), "one op per entry: %zu ops for %zu entries",
		     t.nops, tree_count());
	cr_assert_eq(ms.probes, tree_count());
	/* Probed entries counted by type; bytes: the probed files' sizes. */
	cr_assert_eq(ms.dirs, 3);
	cr_assert_eq(ms.symlinks, 1);
	cr_assert_eq(ms.specials, have_cdev ? 2 : 1);
	cr_assert_eq(ms.hardlinks, 1);
	cr_assert_eq(ms.files, tree_count() - 3 - 1 - (have_cdev ? 2 : 1) - 1);
	{
		uint64_t bytes = 0;

		for (j = 0; j < UTIL_ARRAY_SIZE(tree_paths); j++) {
			struct stat s = lst(P(src, tree_paths[j]));

			if (S_ISREG(s.st_mode) && strcmp(tree_paths[j], "dir/hl2"))
				bytes += (uint64_t)s.st_size;
		}
		cr_assert_eq(ms.bytes, bytes, "bytes %" PRIu64 ", files hold %" PRIu64,
			     ms.bytes, bytes);
	}
	for (i = 0; i < t.nops; i++) {
		const struct ditto_op *op = &t.ops[i];
		struct wire_report *rep;
		struct stat st;

		cr_assert_eq(op->kind, DITTO_OP_VERIFY, "a verification changes "
			     "nothing, got %s", op_kind_name(op->kind));
		cr_assert(is_tree_path(op->path, op->path_len), "unexpected %s",
			  op->path);
		for (j = 0; j < UTIL_ARRAY_SIZE(tree_paths); j++)
			if (strcmp(tree_paths[j], op->path) == 0) {
				cr_assert_not(seen[j], "%s twice", op->path);
				seen[j] = true;
			}
		st = lst(P(src, op->path));
		/* The op describes the source entry. */
		cr_assert_eq(op->mode, st.st_mode, "%s mode", op->path);
		cr_assert_eq(op->uid, st.st_uid);
		cr_assert_eq(op->gid, st.st_gid);
		cr_assert(op->attr_mask & DITTO_ATTR_MTIME);
		cr_assert_eq(op->mtime_ns, (int64_t)st.st_mtim.tv_sec * 1000000000 +
			     st.st_mtim.tv_nsec, "%s mtime", op->path);
		if (S_ISREG(st.st_mode))
			cr_assert_eq(op->len, (uint64_t)st.st_size, "%s len", op->path);
		if (S_ISCHR(st.st_mode))
			cr_assert_eq(op->rdev, st.st_rdev);
		if (S_ISLNK(st.st_mode))
			cr_assert(op->data_len == 3 && memcmp(op->data, "reg", 3) == 0);
		if (op->flags & DITTO_VERIFY_LINK) {
			nlinkflag++;
			cr_assert(strcmp(op->path, "hl1") == 0 ||
				  strcmp(op->path, "dir/hl2") == 0);
			cr_assert_str_eq((const char *)op->data,
					 strcmp(op->path, "hl1") ? "hl1" : "dir/hl2");
			cr_assert_not(op->flags & DITTO_VERIFY_CHECKSUM);
		} else if (S_ISREG(st.st_mode)) {
			cr_assert_eq(!!(op->flags & DITTO_VERIFY_CHECKSUM), checksum,
				     "%s flags %#x", op->path, op->flags);
			if (checksum) {
				cr_assert_eq(op->off, BLK, "%s block", op->path);
				cr_assert_eq(op->data_len,
					     8 * ((st.st_size + BLK - 1) / BLK),
					     "%s hashes", op->path);
			} else {
				cr_assert_eq(op->data_len, 0);
			}
		} else {
			cr_assert_eq(op->flags, 0, "%s flags", op->path);
		}

		rep = verify(op);
		cr_assert_eq(rep->what, 0, "%s differs: what %#x result %u",
			     op->path, rep->what, rep->result);
		cr_assert_eq(rep->result, 0);
		cr_assert_eq(rep->nranges, 0);
		/* The target's side, as the report carries it. */
		cr_assert_eq(rep->mode, op->mode, "%s target mode %o", op->path,
			     rep->mode);
		cr_assert_eq(rep->uid, op->uid);
		cr_assert_eq(rep->gid, op->gid);
		cr_assert_eq(rep->mtime_ns, op->mtime_ns, "%s target mtime", op->path);
		if (S_ISREG(st.st_mode))
			cr_assert_eq(rep->size, op->len);
		free(rep);
	}
	cr_assert_eq(nlinkflag, 1, "the second name of the pair carries LINK");
	for (j = 0; j < UTIL_ARRAY_SIZE(tree_paths); j++)
		cr_assert(seen[j], "no VERIFY for %s", tree_paths[j]);
	tctx_free(&t);
}

Test(verify, identical_copy_all_same)
{
	build_tree();
	mirror_into_target();
	check_identical(true);
	check_identical(false);
}

/* The hashes are XXH3-64 of each block, little-endian, last block short. */
Test(verify, hashes_are_xxh3_per_block)
{
	struct mirror_opts o = { .probe = MIRROR_PROBE_ALL, .checksum = true,
				 .block = BLK };
	struct tctx t;
	uint8_t *data;
	size_t len, i, k;

	mkfile(P(src, "f"), 8 * BLK + 1, 42);
	tctx_init(&t, src);
	run_walk(&t, o);
	k = find_op(&t, DITTO_OP_VERIFY, "f");
	cr_assert_eq(t.ops[k].data_len, 9 * 8);
	data = slurp(P(src, "f"), &len);
	for (i = 0; i < 9; i++) {
		size_t n = i < 8 ? BLK : 1;

		cr_assert_eq(bhash_get(t.ops[k].data + 8 * i),
			     XXH3_64bits_withSeed(data + i * BLK, n, 0), "block %zu", i);
		cr_assert_eq(t.ops[k].data[8 * i],
			     (uint8_t)XXH3_64bits_withSeed(data + i * BLK, n, 0));
	}
	free(data);
	tctx_free(&t);
}

static bool covered(const struct wire_report *rep, uint64_t off, uint64_t end);

/* --- 2. a damaged copy ------------------------------------------------------ */

struct expect {
	const char *path;
	uint32_t what;       /* with checksum */
	uint32_t what_plain; /* without */
};

static uint32_t expected(const struct expect *e, size_t n, const char *path,
			 bool checksum)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(e[i].path, path) == 0)
			return checksum ? e[i].what : e[i].what_plain;
	return 0;
}

/* Watches the outside copy: anything opened or read there shows. */
static int watch_outside(void)
{
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	cr_assert_geq(in, 0);
	cr_assert_geq(inotify_add_watch(in, outside, IN_OPEN | IN_ACCESS), 0);
	cr_assert_geq(inotify_add_watch(in, P(outside, "f"), IN_OPEN | IN_ACCESS), 0);
	return in;
}

static ssize_t outside_events(int in)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n = read(in, buf, sizeof(buf));

	return n < 0 && errno == EAGAIN ? 0 : n;
}

Test(verify, damaged_copy_exact_bits)
{
	const uint64_t chg = 516 * 1024; /* 4 KiB changed in "big" */
	struct stat s, ts;
	uint8_t b[BLK];
	char first[64], second[64];
	int in, pass;
	size_t i;

	build_tree();
	mirror_into_target();

	/* MISSING */
	cr_assert_eq(unlink(P(tgt, "missing")), 0);
	/* TYPE: a directory where the file was */
	cr_assert_eq(unlink(P(tgt, "totype")), 0);
	cr_assert_eq(mkdir(P(tgt, "totype"), 0644), 0);
	/* MODE */
	cr_assert_eq(chmod(P(tgt, "tomode"), 0600), 0);
	cr_assert_eq(chmod(P(tgt, "dir"), 0700), 0);
	/* OWNER */
	cr_assert_eq(lchown(P(tgt, "toown"), 4321, 4321), 0);
	cr_assert_eq(lchown(P(tgt, "fifo"), 0, 99), 0);
	/* MTIME */
	{
		struct timespec t2[2] = { { 0, UTIME_OMIT }, { 1700000000, 5 } };

		cr_assert_eq(utimensat(AT_FDCWD, P(tgt, "tomtime"), t2, 0), 0);
	}
	/* SIZE: longer keeps the source's bytes; shorter loses the tail */
	s = lst(P(tgt, "longer"));
	xtruncate(P(tgt, "longer"), 21000);
	copy_times(P(tgt, "longer"), &s);
	s = lst(P(tgt, "shorter"));
	xtruncate(P(tgt, "shorter"), 11000);
	copy_times(P(tgt, "shorter"), &s);
	/* DATA: 4 KiB in the middle of 1 MiB, size and mtime kept */
	s = lst(P(tgt, "big"));
	{
		int fd = open(P(tgt, "big"), O_WRONLY);

		pattern(b, sizeof(b), 999, chg);
		cr_assert_eq(pwrite(fd, b, sizeof(b), (off_t)chg), (ssize_t)sizeof(b));
		close(fd);
	}
	copy_times(P(tgt, "big"), &s);
	/* Same bytes, other layout: the written zeros become a hole. */
	s = lst(P(tgt, "holefill"));
	{
		int fd = open(P(tgt, "holefill"), O_WRONLY);

		cr_assert_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       65536, 131072), 0);
		close(fd);
	}
	copy_times(P(tgt, "holefill"), &s);
	/* DATA: bytes written into the sparse file's hole */
	s = lst(P(tgt, "sparse"));
	put(P(tgt, "sparse"), 5 * MIB / 2, 10, 4242);
	copy_times(P(tgt, "sparse"), &s);
	/* LINK: the symlink points elsewhere */
	s = lst(P(tgt, "lnk"));
	cr_assert_eq(unlink(P(tgt, "lnk")), 0);
	cr_assert_eq(symlink("reh", P(tgt, "lnk")), 0);
	copy_times(P(tgt, "lnk"), &s);
	/* TYPE for a device of another number */
	if (have_cdev) {
		s = lst(P(tgt, "cdev"));
		cr_assert_eq(unlink(P(tgt, "cdev")), 0);
		cr_assert_eq(mknod(P(tgt, "cdev"), S_IFCHR | 0644, makedev(1, 5)), 0);
		copy_times(P(tgt, "cdev"), &s);
	}
	/* The parent of d/f is a symlink to an identical copy outside the
	 * root; pf is a regular file. */
	mkfile(P(outside, "f"), 0, 0);
	{
		uint8_t *data;
		size_t len;
		int fd;

		data = slurp(P(tgt, "d/f"), &len);
		fd = open(P(outside, "f"), O_WRONLY);
		cr_assert_eq(util_write_full(fd, data, len), 0);
		close(fd);
		free(data);
		s = lst(P(tgt, "d/f"));
		cr_assert_eq(chown(P(outside, "f"), s.st_uid, s.st_gid), 0);
		cr_assert_eq(chmod(P(outside, "f"), s.st_mode & 07777), 0);
		copy_times(P(outside, "f"), &s);
	}
	rmrf(P(tgt, "d"));
	cr_assert_eq(symlink(outside, P(tgt, "d")), 0);
	rmrf(P(tgt, "pf"));
	mkfile(P(tgt, "pf"), 1, 1);
	/* The hard-link pair broken: the second name becomes a copy with
	 * everything else equal. The walk decides which name is second. */
	{
		struct tctx t;
		struct mirror_opts o = { .probe = MIRROR_PROBE_ALL };
		size_t k;

		tctx_init(&t, src);
		run_walk(&t, o);
		first[0] = second[0] = '\0';
		for (k = 0; k < t.nops; k++)
			if (t.ops[k].flags & DITTO_VERIFY_LINK) {
				util_strlcpy(second, t.ops[k].path, sizeof(second));
				util_strlcpy(first, (const char *)t.ops[k].data,
					     sizeof(first));
			}
		tctx_free(&t);
		cr_assert(second[0] && first[0]);
	}
	s = lst(P(tgt, second));
	cr_assert_eq(s.st_nlink, 2);
	cr_assert_eq(unlink(P(tgt, second)), 0);
	mkfile(P(tgt, second), 0, 0);
	{
		uint8_t *data;
		size_t len;
		int fd;

		data = slurp(P(src, second), &len);
		fd = open(P(tgt, second), O_WRONLY);
		cr_assert_eq(util_write_full(fd, data, len), 0);
		close(fd);
		free(data);
	}
	cr_assert_eq(chown(P(tgt, second), s.st_uid, s.st_gid), 0);
	cr_assert_eq(chmod(P(tgt, second), s.st_mode & 07777), 0);
	copy_times(P(tgt, second), &s);
	ts = lst(P(tgt, first));
	cr_assert_eq(ts.st_nlink, 1);
	restore_dir_times();

	in = watch_outside();
	for (pass = 0; pass < 2; pass++) {
		bool checksum = pass == 0;
		struct mirror_opts o = { .probe = MIRROR_PROBE_ALL,
					 .checksum = checksum };
		const struct expect ex[] = {
			{ "missing", WIRE_DIFF_MISSING, WIRE_DIFF_MISSING },
			{ "totype", WIRE_DIFF_TYPE, WIRE_DIFF_TYPE },
			{ "tomode", WIRE_DIFF_MODE, WIRE_DIFF_MODE },
			{ "dir", WIRE_DIFF_MODE, WIRE_DIFF_MODE },
			{ "toown", WIRE_DIFF_OWNER, WIRE_DIFF_OWNER },
			{ "fifo", WIRE_DIFF_OWNER, WIRE_DIFF_OWNER },
			{ "tomtime", WIRE_DIFF_MTIME, WIRE_DIFF_MTIME },
			{ "longer", WIRE_DIFF_SIZE, WIRE_DIFF_SIZE },
			{ "shorter", WIRE_DIFF_SIZE | WIRE_DIFF_DATA, WIRE_DIFF_SIZE },
			{ "big", WIRE_DIFF_DATA, 0 },
			{ "sparse", WIRE_DIFF_DATA, 0 },
			{ "lnk", WIRE_DIFF_LINK, WIRE_DIFF_LINK },
			{ "cdev", WIRE_DIFF_TYPE, WIRE_DIFF_TYPE },
			{ "d", WIRE_DIFF_TYPE, WIRE_DIFF_TYPE },
			{ "d/f", WIRE_DIFF_MISSING, WIRE_DIFF_MISSING },
			{ "pf", WIRE_DIFF_TYPE, WIRE_DIFF_TYPE },
			{ "pf/x", WIRE_DIFF_MISSING, WIRE_DIFF_MISSING },
			{ second, WIRE_DIFF_LINK, WIRE_DIFF_LINK },
		};
		struct tctx t;

		tctx_init(&t, src);
		run_walk(&t, o);
		cr_assert_eq(t.nops, tree_count());
		for (i = 0; i < t.nops; i++) {
			const struct ditto_op *op = &t.ops[i];
			struct wire_report *rep = verify(op);
			uint32_t want = expected(ex, UTIL_ARRAY_SIZE(ex), op->path, checksum);
			uint32_t k;

			cr_assert_eq(rep->what, want, "%s (checksum %d): what %#x, "
				     "expected %#x (result %u)", op->path, checksum,
				     rep->what, want, rep->result);
			if (!(rep->what & WIRE_DIFF_DATA))
				cr_assert_eq(rep->nranges, 0, "%s: ranges without DATA",
					     op->path);
			for (k = 0; k < rep->nranges; k++) {
				/* Block-aligned, inside the source's size. */
				cr_assert_eq(rep->ranges[k].off % op->off, 0);
				cr_assert_gt(rep->ranges[k].len, 0);
				cr_assert_leq(rep->ranges[k].off + rep->ranges[k].len, op->len);
			}
			if (strcmp(op->path, "tomode") == 0)
				cr_assert_eq(rep->mode, S_IFREG | 0600);
			if (strcmp(op->path, "dir") == 0)
				cr_assert_eq(rep->mode, S_IFDIR | 0700);
			if (strcmp(op->path, "totype") == 0)
				cr_assert(S_ISDIR(rep->mode));
			if (strcmp(op->path, "toown") == 0)
				cr_assert(rep->uid == 4321 && rep->gid == 4321);
			if (strcmp(op->path, "fifo") == 0)
				cr_assert(rep->uid == 0 && rep->gid == 99);
			if (strcmp(op->path, "tomtime") == 0)
				cr_assert_eq(rep->mtime_ns, 1700000000000000005ll);
			if (strcmp(op->path, "longer") == 0)
				cr_assert_eq(rep->size, 21000);
			if (strcmp(op->path, "shorter") == 0) {
				cr_assert_eq(rep->size, 11000);
				if (checksum) {
					/* The lost tail [11000, 20000), in
					 * whole blocks (one 64 KiB block
					 * here): one range. */
					cr_assert_eq(op->off, BHASH_BLOCK_DEFAULT);
					cr_assert_eq(rep->nranges, 1);
					cr_assert_leq(rep->ranges[0].off, 11000);
					cr_assert_eq(rep->ranges[0].off +
						     rep->ranges[0].len, 20000);
				}
			}
			if (strcmp(op->path, "sparse") == 0 && checksum) {
				cr_assert_eq(rep->nranges, 1);
				cr_assert(covered(rep, 5 * MIB / 2, 5 * MIB / 2 + 10));
				cr_assert_eq(rep->ranges[0].len, op->off);
			}
			if (strcmp(op->path, "big") == 0 && checksum) {
				uint64_t B = op->off;

				cr_assert_eq(rep->nranges, 1, "big: %u ranges",
					     rep->nranges);
				cr_assert_eq(rep->ranges[0].off, chg / B * B);
				cr_assert_eq(rep->ranges[0].len, B);
				cr_assert_leq(rep->ranges[0].off, chg);
				cr_assert_geq(rep->ranges[0].off + rep->ranges[0].len,
					      chg + BLK);
				cr_assert_eq(rep->size, MIB);
			}
			free(rep);
		}
		tctx_free(&t);
	}
	/* Nothing outside the root was opened or read... */
	cr_assert_eq(outside_events(in), 0, "verify touched the outside copy");
	/* ...and the watch does see a read (the check can fail). */
	{
		size_t len;
		uint8_t *data = slurp(P(outside, "f"), &len);

		free(data);
	}
	cr_assert_gt(outside_events(in), 0);
	close(in);
}

/* verify_entry fills the target's entry into the report from its own
 * lstat, not the source's. */
Test(verify, report_carries_target_side)
{
	struct mirror_opts o = { .probe = MIRROR_PROBE_ALL };
	struct wire_report *rep;
	struct tctx t;
	struct stat s;
	size_t k;

	mkfile(P(src, "f"), 1234, 1);
	mirror_into_target();
	xtruncate(P(tgt, "f"), 77);
	cr_assert_eq(chown(P(tgt, "f"), 11, 22), 0);
	cr_assert_eq(chmod(P(tgt, "f"), 0604), 0);
	s = lst(P(tgt, "f"));
	tctx_init(&t, src);
	run_walk(&t, o);
	k = find_op(&t, DITTO_OP_VERIFY, "f");
	rep = verify(&t.ops[k]);
	cr_assert_eq(rep->what, WIRE_DIFF_SIZE | WIRE_DIFF_MODE | WIRE_DIFF_OWNER |
		     WIRE_DIFF_MTIME, "what %#x", rep->what);
	cr_assert_eq(rep->size, 77);
	cr_assert_eq(rep->mode, S_IFREG | 0604);
	cr_assert_eq(rep->uid, 11);
	cr_assert_eq(rep->gid, 22);
	cr_assert_eq(rep->mtime_ns, (int64_t)s.st_mtim.tv_sec * 1000000000 +
		     s.st_mtim.tv_nsec);
	cr_assert_eq(rep->result, 0);
	free(rep);
	tctx_free(&t);
}

/* --- 3. many differing blocks ------------------------------------------------ */

static struct wire_report *probe_one(const char *rel, uint32_t block)
{
	struct mirror_opts o = { .probe = MIRROR_PROBE_ALL, .checksum = true,
				 .block = block };
	struct wire_report *rep;
	struct tctx t;
	size_t k;

	tctx_init(&t, src);
	run_walk(&t, o);
	k = find_op(&t, DITTO_OP_VERIFY, rel);
	cr_assert(t.ops[k].flags & DITTO_VERIFY_CHECKSUM);
	cr_assert_eq(t.ops[k].off, block);
	rep = verify(&t.ops[k]);
	tctx_free(&t);
	return rep;
}

/* Flips one byte of each listed block of the target copy, keeping times. */
static void flip_blocks(const char *rel, const uint64_t *blocks, size_t n)
{
	struct stat s = lst(P(tgt, rel));
	int fd = open(P(tgt, rel), O_RDWR);
	size_t i;

	cr_assert_geq(fd, 0);
	for (i = 0; i < n; i++) {
		uint8_t c;
		off_t at = (off_t)(blocks[i] * BLK + (blocks[i] * 37) % BLK);

		if (at >= s.st_size)
			at = s.st_size - 1;
		cr_assert_eq(pread(fd, &c, 1, at), 1);
		c ^= 0xff;
		cr_assert_eq(pwrite(fd, &c, 1, at), 1);
	}
	close(fd);
	copy_times(P(tgt, rel), &s);
}

static bool covered(const struct wire_report *rep, uint64_t off, uint64_t end)
{
	uint32_t k;

	for (k = 0; k < rep->nranges; k++)
		if (rep->ranges[k].off <= off &&
		    rep->ranges[k].off + rep->ranges[k].len >= end)
			return true;
	return false;
}

Test(verify, every_other_block_caps_ranges)
{
	const uint64_t nb = 1000;
	uint64_t blocks[500];
	struct wire_report *rep;
	uint32_t k;
	size_t i;

	mkfile(P(src, "many"), nb * BLK, 77);
	mirror_into_target();
	for (i = 0; i < 500; i++)
		blocks[i] = 2 * i + 1;
	flip_blocks("many", blocks, 500);
	rep = probe_one("many", BLK);
	cr_assert_eq(rep->what, WIRE_DIFF_DATA, "what %#x", rep->what);
	cr_assert_eq(rep->nranges, WIRE_REPORT_RANGES);
	for (k = 0; k < rep->nranges; k++) {
		cr_assert_eq(rep->ranges[k].off % BLK, 0);
		if (k)
			cr_assert_geq(rep->ranges[k].off,
				      rep->ranges[k - 1].off + rep->ranges[k - 1].len,
				      "ranges overlap or go backwards at %u", k);
		cr_assert_leq(rep->ranges[k].off + rep->ranges[k].len, nb * BLK);
	}
	/* The first ones are exact; the last one stretches to the end. */
	for (k = 0; k + 1 < WIRE_REPORT_RANGES; k++) {
		cr_assert_eq(rep->ranges[k].off, (2 * k + 1) * BLK, "range %u", k);
		cr_assert_eq(rep->ranges[k].len, BLK, "range %u", k);
	}
	cr_assert_eq(rep->ranges[k].off + rep->ranges[k].len, nb * BLK);
	for (i = 0; i < 500; i++)
		cr_assert(covered(rep, blocks[i] * BLK, (blocks[i] + 1) * BLK),
			  "block %" PRIu64 " not covered", blocks[i]);
	free(rep);
}

Test(verify, adjacent_blocks_merge_short_last_block)
{
	uint64_t blocks[12];
	struct wire_report *rep;
	size_t i;

	mkfile(P(src, "adj"), 64 * BLK + 100, 78);
	mirror_into_target();
	for (i = 0; i < 10; i++)
		blocks[i] = 10 + i;
	blocks[10] = 30;
	blocks[11] = 64; /* the short last block (100 bytes) */
	flip_blocks("adj", blocks, 12);
	rep = probe_one("adj", BLK);
	cr_assert_eq(rep->what, WIRE_DIFF_DATA, "what %#x", rep->what);
	cr_assert_eq(rep->nranges, 3);
	cr_assert_eq(rep->ranges[0].off, 10 * BLK);
	cr_assert_eq(rep->ranges[0].len, 10 * BLK);
	cr_assert_eq(rep->ranges[1].off, 30 * BLK);
	cr_assert_eq(rep->ranges[1].len, BLK);
	cr_assert_eq(rep->ranges[2].off, 64 * BLK);
	cr_assert_eq(rep->ranges[2].len, 100);
	free(rep);
}

/* --- 4. probe modes and directory listings ------------------------------------ */

/* Op kinds seen for one path. */
static uint64_t kinds_for(const struct tctx *t, const char *path, size_t *nverify)
{
	uint64_t mask = 0;
	size_t i;

	*nverify = 0;
	for (i = 0; i < t->nops; i++) {
		const struct ditto_op *op = &t->ops[i];

		if (op->path_len != strlen(path) || memcmp(op->path, path, op->path_len))
			continue;
		cr_assert_lt(op->kind, 64);
		mask |= 1ull << op->kind;
		if (op->kind == DITTO_OP_VERIFY)
			(*nverify)++;
	}
	return mask;
}

#define K(x) (1ull << DITTO_OP_##x)

static void check_probe_files(bool checksum)
{
	struct mirror_opts o = { .probe = MIRROR_PROBE_FILES, .checksum = checksum,
				 .block = BLK };
	struct mirror_stats ms;
	size_t i, nv, files = 0;
	struct tctx t;

	tctx_init(&t, src);
	ms = run_walk(&t, o);
	for (i = 0; i < tree_count(); i++) {
		const char *p = i < UTIL_ARRAY_SIZE(tree_paths) ? tree_paths[i] : "cdev";
		struct stat st = lst(P(src, p));
		uint64_t m = kinds_for(&t, p, &nv);

		if (S_ISREG(st.st_mode) && st.st_nlink == 1) {
			size_t k = find_op(&t, DITTO_OP_VERIFY, p);

			files++;
			cr_assert_eq(m, K(VERIFY), "%s: only a VERIFY, got kinds %#" PRIx64, p, m);
			cr_assert_eq(t.ops[k].len, (uint64_t)st.st_size);
			cr_assert_eq(!!(t.ops[k].flags & DITTO_VERIFY_CHECKSUM), checksum);
			cr_assert_not(t.ops[k].flags & DITTO_VERIFY_LINK);
			if (checksum)
				cr_assert_eq(t.ops[k].data_len,
					     8 * ((st.st_size + BLK - 1) / BLK));
			continue;
		}
		cr_assert_eq(nv, 0, "%s: no VERIFY for a non-plain file", p);
		if (S_ISDIR(st.st_mode))
			cr_assert_eq(m, K(MKDIR) | K(SETATTR), "%s kinds %#" PRIx64, p, m);
		else if (S_ISLNK(st.st_mode))
			cr_assert_eq(m, K(SYMLINK) | K(SETATTR), "%s kinds %#" PRIx64, p, m);
		else if (!S_ISREG(st.st_mode))
			cr_assert_eq(m, K(MKNOD) | K(SETATTR), "%s kinds %#" PRIx64, p, m);
		else /* hard-linked: sent whole under one name, LINK under the other */
			cr_assert(m == (K(CREATE) | K(TRUNCATE) | K(WRITE) | K(SETATTR)) ||
				  m == K(LINK), "%s kinds %#" PRIx64, p, m);
	}
	cr_assert_eq(ms.probes, files);
	cr_assert_eq(count_kind(&t, DITTO_OP_VERIFY), files);
	cr_assert_eq(count_kind(&t, DITTO_OP_LINK), 1);
	cr_assert_eq(count_kind(&t, DITTO_OP_CREATE), 1);
	cr_assert_eq(count_kind(&t, DITTO_OP_DIRLIST), 0);

	/* On an empty target the rest applies, and every probed file is
	 * MISSING there; once mirrored, nothing differs. */
	apply_ops(&t);
	for (i = 0; i < t.nops; i++) {
		struct wire_report *rep;

		if (t.ops[i].kind != DITTO_OP_VERIFY)
			continue;
		rep = verify(&t.ops[i]);
		cr_assert_eq(rep->what, WIRE_DIFF_MISSING, "%s: %#x", t.ops[i].path,
			     rep->what);
		free(rep);
	}
	mirror_into_target();
	for (i = 0; i < t.nops; i++) {
		struct wire_report *rep;

		if (t.ops[i].kind != DITTO_OP_VERIFY)
			continue;
		rep = verify(&t.ops[i]);
		cr_assert_eq(rep->what, 0, "%s: %#x", t.ops[i].path, rep->what);
		free(rep);
	}
	tctx_free(&t);
}

Test(verify, probe_files_checksum)
{
	build_tree();
	check_probe_files(true);
}

Test(verify, probe_files_plain)
{
	build_tree();
	check_probe_files(false);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of one listing, sorted ("\n"-joined) for comparison. */
static char *names_of_op(const struct ditto_op *op)
{
	char *v[256];
	struct util_buf b;
	size_t i = 0, n = 0, k;

	cr_assert(op->data_len == 0 || op->data[op->data_len - 1] == '\0');
	while (i < op->data_len) {
		cr_assert_lt(n, UTIL_ARRAY_SIZE(v));
		v[n++] = (char *)op->data + i;
		i += strlen((const char *)op->data + i) + 1;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	util_buf_init(&b);
	for (k = 0; k < n; k++) {
		util_buf_puts(&b, v[k]);
		util_buf_puts(&b, "\n");
	}
	util_buf_append(&b, "", 1);
	return util_buf_steal(&b);
}

/* The entries of a source directory, less those exclude says no to. */
static char *names_of_dir(const char *dir, bool (*exclude)(const char *))
{
	char *v[256];
	struct util_buf b;
	struct dirent *de;
	size_t n = 0, k;
	DIR *d = opendir(dir);

	cr_assert_not_null(d, "%s", dir);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (exclude && exclude(de->d_name))
			continue;
		cr_assert_lt(n, UTIL_ARRAY_SIZE(v));
		v[n++] = util_xstrdup(de->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), cmp_str);
	util_buf_init(&b);
	for (k = 0; k < n; k++) {
		util_buf_puts(&b, v[k]);
		util_buf_puts(&b, "\n");
		free(v[k]);
	}
	util_buf_append(&b, "", 1);
	return util_buf_steal(&b);
}

/* The DIRLIST for a path ("" = the root): exactly one op, FIRST|LAST. */
static const struct ditto_op *the_listing(const struct tctx *t, const char *path)
{
	const struct ditto_op *found = NULL;
	size_t i;

	for (i = 0; i < t->nops; i++) {
		const struct ditto_op *op = &t->ops[i];

		if (op->kind != DITTO_OP_DIRLIST)
			continue;
		if (*path ? (op->path_len == strlen(path) &&
			     memcmp(op->path, path, op->path_len) == 0)
			  : (op->flags & DITTO_DIRLIST_ROOT) != 0) {
			cr_assert_null(found, "two listings of '%s'", path);
			found = op;
		}
	}
	cr_assert_not_null(found, "no listing of '%s'", path);
	if (*path)
		cr_assert_not(found->flags & DITTO_DIRLIST_ROOT);
	else
		cr_assert_eq(found->path_len, 0);
	cr_assert_eq(found->flags & (DITTO_DIRLIST_FIRST | DITTO_DIRLIST_LAST),
		     DITTO_DIRLIST_FIRST | DITTO_DIRLIST_LAST, "'%s' flags %#x", path,
		     found->flags);
	return found;
}

static void check_listing(const struct tctx *t, const char *path,
			  bool (*exclude)(const char *))
{
	char *want = names_of_dir(*path ? P(src, path) : src, exclude);
	char *got = names_of_op(the_listing(t, path));

	cr_assert_str_eq(got, want, "listing of '%s'", path);
	free(want);
	free(got);
}

Test(verify, dirs_only_lists_each_directory)
{
	struct mirror_opts o = { .probe = MIRROR_DIRS_ONLY, .dirlists = true };
	struct mirror_stats ms;
	struct tctx t;

	build_tree();
	cr_assert_eq(mkdir(P(src, "dir/sub"), 0755), 0);
	cr_assert_eq(mkdir(P(src, "emptydir"), 0755), 0);
	mkfile(P(src, "dir/sub/deep"), 10, 1);
	tctx_init(&t, src);
	ms = run_walk(&t, o);
	cr_assert_eq(count_kind(&t, DITTO_OP_DIRLIST), t.nops, "only DIRLIST ops");
	cr_assert_eq(t.nops, 6, "root, dir, dir/sub, d, pf, emptydir: %zu", t.nops);
	check_listing(&t, "", NULL);
	check_listing(&t, "dir", NULL);
	check_listing(&t, "dir/sub", NULL);
	check_listing(&t, "d", NULL);
	check_listing(&t, "pf", NULL);
	cr_assert_eq(the_listing(&t, "emptydir")->data_len, 0);
	cr_assert_eq(ms.bytes, 0);
	cr_assert_eq(ms.probes, 0);
	tctx_free(&t);

	/* Without dirlists a dirs-only walk sends nothing at all. */
	o.dirlists = false;
	tctx_init(&t, src);
	run_walk(&t, o);
	cr_assert_eq(t.nops, 0);
	tctx_free(&t);
}

/* With PROBE_ALL, a directory's listing comes right after its VERIFY. */
Test(verify, probe_all_with_dirlists)
{
	struct mirror_opts o = { .probe = MIRROR_PROBE_ALL, .dirlists = true };
	struct tctx t;
	size_t i;

	build_tree();
	tctx_init(&t, src);
	run_walk(&t, o);
	cr_assert_eq(count_kind(&t, DITTO_OP_VERIFY), tree_count());
	cr_assert_eq(count_kind(&t, DITTO_OP_DIRLIST), 4);
	cr_assert_eq(t.ops[0].kind, DITTO_OP_DIRLIST, "the root is listed first");
	check_listing(&t, "", NULL);
	check_listing(&t, "dir", NULL);
	for (i = 1; i < t.nops; i++)
		if (t.ops[i].kind == DITTO_OP_DIRLIST) {
			cr_assert_eq(t.ops[i - 1].kind, DITTO_OP_VERIFY);
			cr_assert_str_eq(t.ops[i - 1].path, t.ops[i].path);
		}
	tctx_free(&t);
}

static bool excluded_name(const char *n)
{
	size_t l = strlen(n);

	return (l > 5 && strcmp(n + l - 5, ".skip") == 0) || strcmp(n, "ex") == 0;
}

Test(verify, listing_leaves_out_unmatched_names)
{
	struct mirror_opts o = { .probe = MIRROR_DIRS_ONLY, .dirlists = true };
	struct tctx t;
	size_t i;

	mkfile(P(src, "a"), 1, 1);
	mkfile(P(src, "b.skip"), 1, 1);
	cr_assert_eq(mkdir(P(src, "ex"), 0755), 0);
	mkfile(P(src, "ex/in"), 1, 1);
	cr_assert_eq(mkdir(P(src, "desc"), 0755), 0);
	mkfile(P(src, "desc/keep"), 1, 1);
	mkfile(P(src, "desc/drop.skip"), 1, 1);
	cr_assert_eq(mkdir(P(src, "desc/sub"), 0755), 0);
	mkfile(P(src, "desc/sub/c"), 1, 1);
	mkfile(P(src, "desc/sub/c.skip"), 1, 1);
	tctx_init(&t, src);
	t.use_match = true;
	run_walk(&t, o);
	/* root (a, desc: a directory looked into is listed by its parent),
	 * desc/sub; "desc" itself has no ops of its own, so no listing
	 * (mirror.h: "each directory sent or probed"); "ex" is not walked. */
	check_listing(&t, "", excluded_name);
	{
		char *root = names_of_op(the_listing(&t, ""));

		cr_assert_str_eq(root, "a\ndesc\n");
		free(root);
	}
	check_listing(&t, "desc/sub", excluded_name);
	for (i = 0; i < t.nops; i++) {
		cr_assert_eq(t.ops[i].kind, DITTO_OP_DIRLIST);
		cr_assert(strcmp(t.ops[i].path ? t.ops[i].path : "", "desc") != 0);
		cr_assert(strcmp(t.ops[i].path ? t.ops[i].path : "", "ex") != 0);
	}
	cr_assert_eq(t.nops, 2);
	tctx_free(&t);
}

Test(verify, huge_directory_in_chunks)
{
	enum { N = 20000, NL = 200 };
	struct mirror_opts o = { .probe = MIRROR_DIRS_ONLY, .dirlists = true };
	bool *seen = util_xcalloc(N, sizeof(*seen));
	size_t i, first = SIZE_MAX, last = SIZE_MAX, chunks = 0, total = 0;
	char name[NL + 1];
	struct tctx t;

	cr_assert_eq(mkdir(P(src, "huge"), 0755), 0);
	for (i = 0; i < N; i++) {
		int fd;

		snprintf(name, sizeof(name), "%05zu", i);
		memset(name + 5, 'n', NL - 5);
		name[NL] = '\0';
		fd = open(P(P(src, "huge"), name), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		cr_assert_geq(fd, 0, "create %zu: %s", i, strerror(errno));
		close(fd);
	}
	tctx_init(&t, src);
	run_walk(&t, o);
	cr_assert_eq(count_kind(&t, DITTO_OP_DIRLIST), t.nops);
	check_listing(&t, "", NULL);
	for (i = 0; i < t.nops; i++) {
		const struct ditto_op *op = &t.ops[i];
		size_t j = 0;

		if (op->path_len != 4 || memcmp(op->path, "huge", 4) != 0)
			continue;
		if (first == SIZE_MAX)
			first = i;
		else
			cr_assert_eq(i, last + 1, "the chunks come together");
		last = i;
		chunks++;
		cr_assert_eq(op_validate(op, NULL), 0);
		cr_assert_leq(op->data_len, DITTO_OP_DATA_MAX);
		cr_assert_eq(!!(op->flags & DITTO_DIRLIST_FIRST), i == first,
			     "chunk %zu flags %#x", chunks, op->flags);
		cr_assert_not(op->flags & DITTO_DIRLIST_ROOT);
		while (j < op->data_len) {
			const char *nm = (const char *)op->data + j;
			size_t l = strlen(nm);
			unsigned long idx;

			cr_assert_eq(l, NL, "a name of %zu bytes", l);
			idx = strtoul(nm, NULL, 10);
			cr_assert_lt(idx, N);
			cr_assert_not(seen[idx], "name %lu listed twice", idx);
			seen[idx] = true;
			total++;
			j += l + 1;
		}
	}
	cr_assert_geq(chunks, 4, "%zu chunks for ~4 MB of names", chunks);
	for (i = first; i <= last; i++)
		cr_assert_eq(!!(t.ops[i].flags & DITTO_DIRLIST_LAST), i == last,
			     "op %zu flags %#x", i, t.ops[i].flags);
	cr_assert_eq(total, N);
	for (i = 0; i < N; i++)
		cr_assert(seen[i], "name %zu missing", i);
	free(seen);
	tctx_free(&t);
}

/* --- 5. range repair ------------------------------------------------------------ */

static struct mirror_walk *repair_walker(struct tctx *t, size_t chunk)
{
	struct mirror_opts o = { .emit = t_emit, .ctx = t, .chunk = chunk };
	struct mirror_walk *w;
	char err[256];

	w = mirror_walk_new(NULL, 0, &o, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	return w;
}

static void assert_same_file(const char *rel)
{
	struct stat s = lst(P(src, rel)), d = lst(P(tgt, rel));

	cr_assert_eq(d.st_size, s.st_size, "%s size", rel);
	cr_assert(same_content(P(src, rel), P(tgt, rel)), "%s content", rel);
	cr_assert(d.st_mtim.tv_sec == s.st_mtim.tv_sec &&
		  d.st_mtim.tv_nsec == s.st_mtim.tv_nsec, "%s mtime", rel);
	cr_assert_eq(d.st_mode, s.st_mode);
	cr_assert(d.st_uid == s.st_uid && d.st_gid == s.st_gid);
}

Test(verify, send_ranges_repairs_data_and_holes)
{
	const uint64_t A = 100000, HOLE = MIB, HLEN = 256 * 1024, B = 2 * MIB + 123;
	struct mirror_range rg[WIRE_REPORT_RANGES];
	struct wire_report *rep;
	struct mirror_walk *w;
	struct stat s, d;
	struct tctx t;
	size_t i, writes = 0, punches = 0;
	uint32_t k;
	int fd;
	off_t at;

	mkfile(P(src, "rf"), 3 * MIB, 5);
	mirror_into_target();
	/* Two changes and a hole punched on the source. */
	put(P(src, "rf"), A, 5000, 600);
	put(P(src, "rf"), B, 777, 601);
	fd = open(P(src, "rf"), O_WRONLY);
	cr_assert_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       (off_t)HOLE, (off_t)HLEN), 0);
	close(fd);
	fd = open(P(src, "rf"), O_RDONLY);
	cr_assert_eq(lseek(fd, (off_t)HOLE, SEEK_HOLE), (off_t)HOLE);
	close(fd);

	/* What a checksum comparison finds, as the source would get it. */
	rep = probe_one("rf", 65536);
	cr_assert_eq(rep->what, WIRE_DIFF_DATA | WIRE_DIFF_MTIME, "what %#x", rep->what);
	cr_assert(covered(rep, A, A + 5000));
	cr_assert(covered(rep, B, B + 777));
	cr_assert(covered(rep, HOLE, HOLE + HLEN));
	for (k = 0; k < rep->nranges; k++) {
		rg[k].off = rep->ranges[k].off;
		rg[k].len = rep->ranges[k].len;
	}

	tctx_init(&t, src);
	w = repair_walker(&t, 65536);
	cr_assert_eq(mirror_send_ranges(w, P(src, "rf"), "rf", 2, rg, rep->nranges), 0);
	for (i = 0; i < t.nops; i++) {
		const struct ditto_op *op = &t.ops[i];

		cr_assert_str_eq(op->path, "rf");
		if (op->kind == DITTO_OP_WRITE) {
			writes++;
			cr_assert_leq(op->data_len, 65536, "WRITE above the chunk");
			cr_assert(op->off + op->data_len <= HOLE ||
				  op->off >= HOLE + HLEN, "data written into the hole");
			cr_assert(covered(rep, op->off, op->off + op->data_len),
				  "WRITE outside the ranges at %" PRIu64, op->off);
		} else if (op->kind == DITTO_OP_FALLOCATE) {
			punches++;
			cr_assert_eq(op->flags, DITTO_FALLOC_PUNCH_HOLE |
				     DITTO_FALLOC_KEEP_SIZE);
			cr_assert_eq(op->off, HOLE);
			cr_assert_eq(op->len, HLEN);
		}
	}
	cr_assert_geq(writes, 2);
	cr_assert_eq(punches, 1);
	cr_assert_eq(t.ops[t.nops - 2].kind, DITTO_OP_TRUNCATE);
	cr_assert_eq(t.ops[t.nops - 2].off, 3 * MIB);
	cr_assert_eq(t.ops[t.nops - 1].kind, DITTO_OP_SETATTR);
	apply_ops(&t);
	assert_same_file("rf");
	/* The hole is a hole on the target too. */
	fd = open(P(tgt, "rf"), O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(lseek(fd, (off_t)HOLE, SEEK_HOLE), (off_t)HOLE);
	at = lseek(fd, (off_t)HOLE, SEEK_DATA);
	cr_assert_geq(at, (off_t)(HOLE + HLEN));
	close(fd);
	s = lst(P(src, "rf"));
	d = lst(P(tgt, "rf"));
	cr_assert_eq(d.st_blocks, s.st_blocks);
	free(rep);
	rep = probe_one("rf", 65536);
	cr_assert_eq(rep->what, 0, "still %#x after the repair", rep->what);
	free(rep);
	mirror_walk_free(w);
	tctx_free(&t);
}

Test(verify, send_ranges_size_changes_and_odd_ranges)
{
	struct mirror_range rg[2];
	struct mirror_walk *w;
	struct tctx t;

	mkfile(P(src, "grow"), 100000, 1);
	mkfile(P(src, "shrink"), 100000, 2);
	mkfile(P(src, "wrap"), 100000, 3);
	mirror_into_target();
	tctx_init(&t, src);
	w = repair_walker(&t, 0);

	/* Grown: the tail the target lacks. */
	put(P(src, "grow"), 100000, 50000, 9);
	rg[0].off = 100000;
	rg[0].len = 50000;
	cr_assert_eq(mirror_send_ranges(w, P(src, "grow"), "grow", 4, rg, 1), 0);
	/* Shrunk: a range past the end is cut; TRUNCATE cuts the target. */
	xtruncate(P(src, "shrink"), 30000);
	put(P(src, "shrink"), 20000, 10000, 10);
	rg[0].off = 16384;
	rg[0].len = 100000;
	cr_assert_eq(mirror_send_ranges(w, P(src, "shrink"), "shrink", 6, rg, 1), 0);
	/* A length that wraps around: up to the end. */
	put(P(src, "wrap"), 500, 99500, 11);
	rg[0].off = 400;
	rg[0].len = UINT64_MAX;
	rg[1].off = 200000; /* wholly past the end */
	rg[1].len = 5;
	cr_assert_eq(mirror_send_ranges(w, P(src, "wrap"), "wrap", 4, rg, 2), 0);
	apply_ops(&t);
	assert_same_file("grow");
	assert_same_file("shrink");
	assert_same_file("wrap");
	tctx_free(&t);

	/* No ranges at all: size and attributes only. */
	xtruncate(P(src, "grow"), 10);
	tctx_init(&t, src);
	cr_assert_eq(mirror_send_ranges(w, P(src, "grow"), "grow", 4, NULL, 0), 0);
	cr_assert_eq(t.nops, 2);
	cr_assert_eq(t.ops[0].kind, DITTO_OP_TRUNCATE);
	cr_assert_eq(t.ops[1].kind, DITTO_OP_SETATTR);
	apply_ops(&t);
	assert_same_file("grow");
	tctx_free(&t);

	/* Not a regular file any more: 1, nothing sent. */
	tctx_init(&t, src);
	cr_assert_eq(unlink(P(src, "wrap")), 0);
	cr_assert_eq(mkdir(P(src, "wrap"), 0755), 0);
	rg[0].off = 0;
	rg[0].len = 10;
	cr_assert_eq(mirror_send_ranges(w, P(src, "wrap"), "wrap", 4, rg, 1), 1);
	cr_assert_eq(mkfifo(P(src, "fifo"), 0644), 0);
	cr_assert_eq(mirror_send_ranges(w, P(src, "fifo"), "fifo", 4, rg, 1), 1);
	cr_assert_eq(symlink("grow", P(src, "sl")), 0);
	cr_assert_eq(mirror_send_ranges(w, P(src, "sl"), "sl", 2, rg, 1), 1);
	cr_assert_eq(mirror_send_ranges(w, P(src, "gone"), "gone", 4, rg, 1), 1);
	cr_assert_eq(t.nops, 0);
	tctx_free(&t);
	mirror_walk_free(w);
}

/* A sparse tail on the source (grown by truncate): the repair punches or
 * extends, never writes zeros, and the copy ends up equal. */
Test(verify, send_ranges_sparse_tail)
{
	struct mirror_range rg[1];
	struct mirror_walk *w;
	struct tctx t;
	struct stat d;
	size_t i;

	mkfile(P(src, "tail"), 100000, 1);
	mirror_into_target();
	xtruncate(P(src, "tail"), 3 * MIB);
	tctx_init(&t, src);
	w = repair_walker(&t, 0);
	rg[0].off = 100000; /* what the source asks for: the tail it grew */
	rg[0].len = 3 * MIB - 100000;
	cr_assert_eq(mirror_send_ranges(w, P(src, "tail"), "tail", 4, rg, 1), 0);
	/* At most the rest of the last allocated block is data. */
	for (i = 0; i < t.nops; i++)
		if (t.ops[i].kind == DITTO_OP_WRITE)
			cr_assert_leq(t.ops[i].off + t.ops[i].data_len, 102400,
				      "zeros written at %" PRIu64, t.ops[i].off);
	apply_ops(&t);
	assert_same_file("tail");
	d = lst(P(tgt, "tail"));
	cr_assert_lt(d.st_blocks * 512, MIB, "the tail is a hole on the target");
	tctx_free(&t);
	mirror_walk_free(w);
}

/* Block sizes: at least the minimum (a power of two >= 4 KiB), doubled
 * until one VERIFY holds all the hashes. */
Test(verify, block_size_choice)
{
	const uint64_t max = DITTO_VERIFY_HASH_MAX;

	cr_assert_eq(bhash_block_size(0, 0), 4096);
	cr_assert_eq(bhash_block_size(100, 1), 4096);
	cr_assert_eq(bhash_block_size(100, 5000), 8192);
	cr_assert_eq(bhash_block_size(100, BHASH_BLOCK_DEFAULT), BHASH_BLOCK_DEFAULT);
	cr_assert_eq(bhash_block_size(max * 4096, 4096), 4096);
	cr_assert_eq(bhash_block_size(max * 4096 + 1, 4096), 8192);
	cr_assert_eq(bhash_block_size(10ull << 30, 4096), 128u << 10);
	cr_assert_eq(bhash_block_size(1ull << 46, 0), 512u << 20);
	cr_assert_leq(bhash_blocks(1ull << 46, bhash_block_size(1ull << 46, 0)), max);
	cr_assert_eq(bhash_blocks(0, 4096), 0);
	cr_assert_eq(bhash_blocks(4096, 4096), 1);
	cr_assert_eq(bhash_blocks(4097, 4096), 2);
}

/* A root that maps to a directory below the target root is listed under
 * that path, without the ROOT flag. */
static int t_map_pre(void *ctx, const char *abs, size_t len, char *out,
		     size_t outlen)
{
	char tmp[DITTO_PATH_MAX + 1];
	int n = t_map(ctx, abs, len, tmp, sizeof(tmp));

	if (n < 0)
		return -1;
	return snprintf(out, outlen, "pre%s%.*s", n ? "/" : "", n, tmp);
}

Test(verify, listing_of_a_root_mapped_below)
{
	const char *roots[] = { src };
	struct mirror_opts o = { .probe = MIRROR_DIRS_ONLY, .dirlists = true,
				 .map = t_map_pre };
	struct mirror_walk *w;
	struct tctx t;
	char err[256], *names;
	int r;

	mkfile(P(src, "a"), 1, 1);
	cr_assert_eq(mkdir(P(src, "sub"), 0755), 0);
	mkfile(P(src, "sub/b"), 1, 1);
	tctx_init(&t, src);
	o.emit = t_emit;
	o.ctx = &t;
	w = mirror_walk_new(roots, 1, &o, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	while ((r = mirror_walk_step(w, 0, 1)) == 1)
		;
	cr_assert_eq(r, 0);
	mirror_walk_free(w);
	cr_assert_eq(t.nops, 2);
	cr_assert_eq(t.ops[0].kind, DITTO_OP_DIRLIST);
	cr_assert_str_eq(t.ops[0].path, "pre");
	cr_assert_eq(t.ops[0].flags, DITTO_DIRLIST_FIRST | DITTO_DIRLIST_LAST);
	names = names_of_op(&t.ops[0]);
	cr_assert_str_eq(names, "a\nsub\n");
	free(names);
	cr_assert_str_eq(t.ops[1].path, "pre/sub");
	names = names_of_op(&t.ops[1]);
	cr_assert_str_eq(names, "b\n");
	free(names);
	tctx_free(&t);
}

/* A mirror with listings (orphans handled): each directory's listing
 * follows its MKDIR; the other ops are those of a plain mirror. */
Test(verify, send_with_dirlists)
{
	struct mirror_opts o = { .probe = MIRROR_SEND, .dirlists = true };
	struct tctx t, plain;
	size_t i, j;

	build_tree();
	tctx_init(&t, src);
	run_walk(&t, o);
	tctx_init(&plain, src);
	o.dirlists = false;
	run_walk(&plain, o);
	cr_assert_eq(count_kind(&t, DITTO_OP_DIRLIST), 4);
	cr_assert_eq(t.nops, plain.nops + 4);
	cr_assert_eq(t.ops[0].kind, DITTO_OP_DIRLIST);
	check_listing(&t, "", NULL);
	check_listing(&t, "dir", NULL);
	check_listing(&t, "d", NULL);
	check_listing(&t, "pf", NULL);
	for (i = 0, j = 0; i < t.nops; i++) {
		if (t.ops[i].kind == DITTO_OP_DIRLIST) {
			if (i) {
				cr_assert_eq(t.ops[i - 1].kind, DITTO_OP_MKDIR);
				cr_assert_str_eq(t.ops[i - 1].path, t.ops[i].path);
			}
			continue;
		}
		cr_assert_eq(t.ops[i].kind, plain.ops[j].kind, "op %zu", i);
		cr_assert_str_eq(t.ops[i].path, plain.ops[j].path);
		j++;
	}
	apply_ops(&t);
	tctx_free(&t);
	tctx_free(&plain);
	check_identical(true);
}

/* A delta's guard looks at existence, type, size and mtime only: the
 * source's mode and owner may have moved on since the copy was made. */
Test(verify, guard_compares_only_size_and_mtime)
{
	struct ditto_op op;
	struct wire_report *rep;
	struct stat st;

	mkfile(P(tgt, "g"), 10000, 7);
	cr_assert(chmod(P(tgt, "g"), 0600) == 0);
	st = lst(P(tgt, "g"));
	op_init(&op, DITTO_OP_VERIFY);
	op.flags = DITTO_VERIFY_GUARD;
	op.path = (char *)"g";
	op.path_len = 1;
	op.mode = S_IFREG | 0755;
	op.uid = 4242;
	op.gid = 4242;
	op.len = 10000;
	op.attr_mask = DITTO_ATTR_MTIME;
	op.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	rep = verify(&op);
	cr_assert_eq(rep->what, 0u);
	free(rep);

	op.len = 9999;
	rep = verify(&op);
	cr_assert_eq(rep->what, (uint32_t)WIRE_DIFF_SIZE);
	free(rep);

	op.len = 10000;
	op.mtime_ns++;
	rep = verify(&op);
	cr_assert_eq(rep->what, (uint32_t)WIRE_DIFF_MTIME);
	free(rep);

	op.path = (char *)"nothere";
	op.path_len = 7;
	rep = verify(&op);
	cr_assert_eq(rep->what, (uint32_t)WIRE_DIFF_MISSING);
	free(rep);

	cr_assert(mkdir(P(tgt, "gd"), 0755) == 0);
	op.path = (char *)"gd";
	op.path_len = 2;
	rep = verify(&op);
	cr_assert_eq(rep->what, (uint32_t)WIRE_DIFF_TYPE);
	free(rep);
}

/* FLAGGED: block hashes are compared only for a file whose size or mtime
 * differ; a change that keeps both goes unseen. */
Test(verify, flagged_compares_only_files_flagged_different)
{
	struct mirror_opts o = { .probe = MIRROR_PROBE_ALL, .checksum = true, .flagged = true };
	struct timespec t2[2] = { { 0, UTIME_OMIT }, { 1700000000, 5 } };
	struct wire_report *rep;
	struct tctx t;
	struct stat s;
	uint8_t b[BLK];
	size_t k;
	int fd;

	build_tree();
	mirror_into_target();
	s = lst(P(tgt, "big"));
	fd = open(P(tgt, "big"), O_WRONLY);
	pattern(b, sizeof(b), 4711, 8192);
	cr_assert_eq(pwrite(fd, b, sizeof(b), 8192), (ssize_t)sizeof(b));
	close(fd);
	copy_times(P(tgt, "big"), &s);

	tctx_init(&t, src);
	run_walk(&t, o);
	k = find_op(&t, DITTO_OP_VERIFY, "big");
	cr_assert_eq(t.ops[k].flags, DITTO_VERIFY_CHECKSUM | DITTO_VERIFY_FLAGGED);
	rep = verify(&t.ops[k]);
	cr_assert_eq(rep->what, 0u, "same size and mtime: not compared");
	free(rep);

	cr_assert_eq(utimensat(AT_FDCWD, P(tgt, "big"), t2, 0), 0);
	rep = verify(&t.ops[k]);
	cr_assert_eq(rep->what, (uint32_t)(WIRE_DIFF_MTIME | WIRE_DIFF_DATA));
	cr_assert_eq(rep->nranges, 1u);
	cr_assert_leq(rep->ranges[0].off, 8192u);
	cr_assert_geq(rep->ranges[0].off + rep->ranges[0].len, 8192u + BLK);
	free(rep);
	tctx_free(&t);
}
