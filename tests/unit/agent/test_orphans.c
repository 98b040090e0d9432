#include "config.h"

#include "orphans.h"
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
#include <time.h>
#include <unistd.h>

/* --- fixture -------------------------------------------------------------- */

#define T0 ((time_t)1700000000)  /* the policy clock in age tests */
#define OLD (T0 - 7200)
#define YOUNG (T0 - 60)
#define AGE 3600

static char base[64];
static char root[128];
static char outside[128];
static struct apply_root *R;
static struct orphans_set *K;

struct rep {
	char *rel;
	bool is_dir;
	uint64_t bytes;
	enum orphans_action done;
	int err;
};
static struct rep reps[256];
static size_t nreps;

static void on_report(void *ctx, const char *rel, size_t len, bool is_dir,
		      uint64_t bytes, enum orphans_action done, int err)
{
	(void)ctx;
	cr_assert_lt(nreps, UTIL_ARRAY_SIZE(reps));
	reps[nreps].rel = util_xstrndup(rel, len);
	reps[nreps].is_dir = is_dir;
	reps[nreps].bytes = bytes;
	reps[nreps].done = done;
	reps[nreps].err = err;
	nreps++;
}

static void reps_clear(void)
{
	while (nreps)
		free(reps[--nreps].rel);
}

static const struct rep *rep_of(const char *rel)
{
	size_t i;

	for (i = 0; i < nreps; i++)
		if (!strcmp(reps[i].rel, rel))
			return &reps[i];
	return NULL;
}

static void check_rep(const char *rel, bool is_dir, uint64_t bytes,
		      enum orphans_action done, int err)
{
	const struct rep *p = rep_of(rel);

	cr_assert_not_null(p, "no report for %s", rel);
	cr_expect_eq(p->is_dir, is_dir, "%s: is_dir", rel);
	cr_expect_eq(p->bytes, bytes, "%s: bytes %llu", rel,
		     (unsigned long long)p->bytes);
	cr_expect_eq(p->done, done, "%s: action", rel);
	cr_expect_eq(p->err, err, "%s: err %d", rel, p->err);
}

static char *P(const char *rel)
{
	static char buf[4][4400];
	static int n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", root, rel);
	return buf[n];
}

static void write_path(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(util_write_full(fd, s, strlen(s)), 0);
	close(fd);
}

static void mkf(const char *rel, const char *s)
{
	write_path(P(rel), s);
}

static void mkd(const char *rel)
{
	cr_assert_eq(mkdir(P(rel), 0755), 0, "mkdir %s: %s", rel,
		     strerror(errno));
}

static void mkl(const char *rel, const char *target)
{
	cr_assert_eq(symlink(target, P(rel)), 0, "symlink %s: %s", rel,
		     strerror(errno));
}

static void set_mtime(const char *rel, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };

	cr_assert_eq(utimensat(AT_FDCWD, P(rel), ts, AT_SYMLINK_NOFOLLOW), 0,
		     "utimensat %s: %s", rel, strerror(errno));
}

static bool exists(const char *rel)
{
	struct stat st;

	return lstat(P(rel), &st) == 0;
}

static mode_t type_of(const char *rel)
{
	struct stat st;

	cr_assert_eq(lstat(P(rel), &st), 0, "lstat %s: %s", rel,
		     strerror(errno));
	return st.st_mode & S_IFMT;
}

static void check_content(const char *path, const char *want)
{
	char buf[256];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	cr_expect_str_eq(buf, want, "%s", path);
}

static int count_entries(const char *path)
{
	struct dirent *e;
	DIR *d = opendir(path);
	int n = 0;

	cr_assert_not_null(d, "opendir %s: %s", path, strerror(errno));
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The canary outside the root, and nothing else, is still there. */
static void check_outside(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/canary", outside);
	check_content(path, "orig");
	cr_expect_eq(count_entries(outside), 1);
	cr_expect_eq(count_entries(base), 2); /* root and outside-dir */
}

static void keep(const char *name)
{
	cr_assert_eq(orphans_set_add(K, name, strlen(name)), 0);
}

static void setup(void)
{
	char path[256], err[256];

	umask(022);
	util_strlcpy(base, "/tmp/ditto-orphans-XXXXXX", sizeof(base));
	cr_assert_not_null(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(outside, sizeof(outside), "%s/outside-dir", base);
	cr_assert_eq(mkdir(outside, 0755), 0);
	snprintf(path, sizeof(path), "%s/canary", outside);
	write_path(path, "orig");
	R = apply_root_open(root, err, sizeof(err));
	cr_assert_not_null(R, "%s", err);
	K = orphans_set_new();
	nreps = 0;
}

static void teardown(void)
{
	char cmd[160];

	reps_clear();
	orphans_set_free(K);
	K = NULL;
	apply_root_close(R);
	R = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", base);
}

TestSuite(orphans, .init = setup, .fini = teardown);

static struct orphans_policy pol(enum orphans_action a, const char *mv,
				 uint64_t min_age)
{
	struct orphans_policy p = {
		.action = a,
		.move_dir = mv,
		.move_dir_len = mv ? strlen(mv) : 0,
		.min_age_s = min_age,
		.now = T0,
	};
	return p;
}

static int run(const char *dir, const struct orphans_policy *p,
	       struct orphans_stats *st)
{
	return orphans_process(R, dir, strlen(dir), K, p, st, on_report, NULL);
}

#define CHECK_STATS(st, fo, fi, di, by, de, mo, yo, er)                     \
	do {                                                                \
		cr_expect_eq((st).found, (uint64_t)(fo), "found %llu",       \
			     (unsigned long long)(st).found);               \
		cr_expect_eq((st).files, (uint64_t)(fi), "files %llu",       \
			     (unsigned long long)(st).files);               \
		cr_expect_eq((st).dirs, (uint64_t)(di), "dirs %llu",         \
			     (unsigned long long)(st).dirs);                \
		cr_expect_eq((st).bytes, (uint64_t)(by), "bytes %llu",       \
			     (unsigned long long)(st).bytes);               \
		cr_expect_eq((st).deleted, (uint64_t)(de), "deleted %llu",   \
			     (unsigned long long)(st).deleted);             \
		cr_expect_eq((st).moved, (uint64_t)(mo), "moved %llu",       \
			     (unsigned long long)(st).moved);               \
		cr_expect_eq((st).young, (uint64_t)(yo), "young %llu",       \
			     (unsigned long long)(st).young);               \
		cr_expect_eq((st).errors, (uint64_t)(er), "errors %llu",     \
			     (unsigned long long)(st).errors);              \
		cr_expect_eq((st).found, (st).files + (st).dirs);           \
	} while (0)

/* --- the set --------------------------------------------------------------- */

Test(orphans, set_basics_and_bad_names)
{
	char big[300], odd[256];
	size_t i, n = 0;

	cr_expect_eq(orphans_set_count(K), 0);
	cr_expect_not(orphans_set_has(K, "a", 1));
	cr_expect_eq(orphans_set_add(K, "a", 1), 0);
	cr_expect_eq(orphans_set_add(K, "a", 1), 0); /* duplicate */
	cr_expect_eq(orphans_set_add(K, "ab", 2), 0);
	cr_expect_eq(orphans_set_count(K), 2);
	cr_expect(orphans_set_has(K, "a", 1));
	cr_expect(orphans_set_has(K, "ab", 2));
	cr_expect(orphans_set_has(K, "abc", 2)); /* len counts, not NUL */
	cr_expect_not(orphans_set_has(K, "b", 1));
	cr_expect_not(orphans_set_has(K, "abc", 3));

	/* Bad names: empty, too long, '/', NUL. */
	errno = 0;
	cr_expect_eq(orphans_set_add(K, "", 0), -1);
	cr_expect_eq(errno, EINVAL);
	memset(big, 'x', sizeof(big));
	errno = 0;
	cr_expect_eq(orphans_set_add(K, big, 256), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(orphans_set_add(K, big, 255), 0);
	cr_expect(orphans_set_has(K, big, 255));
	cr_expect_not(orphans_set_has(K, big, 256));
	errno = 0;
	cr_expect_eq(orphans_set_add(K, "a/b", 3), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(orphans_set_add(K, "a\0b", 3), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(orphans_set_add(K, NULL, 1), -1);
	cr_expect_not(orphans_set_has(K, "a/b", 3));
	cr_expect_eq(orphans_set_count(K), 3);

	/* Every byte but NUL and '/' in one name; names differing in one
	 * high byte are distinct. */
	for (i = 1; i < 256; i++)
		if (i != '/')
			odd[n++] = (char)i;
	cr_assert_eq(n, 254);
	cr_expect_eq(orphans_set_add(K, odd, n), 0);
	cr_expect(orphans_set_has(K, odd, n));
	odd[n - 1] = (char)0xfe;
	cr_expect_not(orphans_set_has(K, odd, n));
	cr_expect_eq(orphans_set_add(K, "\xff\n \x01", 4), 0);
	cr_expect(orphans_set_has(K, "\xff\n \x01", 4));
	cr_expect_not(orphans_set_has(K, "\xff\n \x02", 4));
	cr_expect_eq(orphans_set_count(K), 5);

	orphans_set_clear(K);
	cr_expect_eq(orphans_set_count(K), 0);
	cr_expect_not(orphans_set_has(K, "a", 1));
	cr_expect_not(orphans_set_has(K, big, 255));
	cr_expect_eq(orphans_set_add(K, "a", 1), 0);
	cr_expect(orphans_set_has(K, "a", 1));
	cr_expect_eq(orphans_set_count(K), 1);

	orphans_set_free(NULL);
}

Test(orphans, set_holds_a_hundred_thousand_names_quickly)
{
	enum { N = 150000 };
	char name[64];
	uint64_t t0, ms;
	size_t i, round;
	int n;

	t0 = util_now_mono_ns();
	for (round = 0; round < 2; round++) {
		/* The second round reuses a cleared set. */
		orphans_set_clear(K);
		for (i = 0; i < N; i++) {
			n = snprintf(name, sizeof(name), "f%zu\xff\x01", i);
			cr_assert_eq(orphans_set_add(K, name, (size_t)n), 0);
		}
		for (i = 0; i < N; i += 2) { /* duplicates */
			n = snprintf(name, sizeof(name), "f%zu\xff\x01", i);
			cr_assert_eq(orphans_set_add(K, name, (size_t)n), 0);
		}
		cr_assert_eq(orphans_set_count(K), N);
		for (i = 0; i < N; i++) {
			n = snprintf(name, sizeof(name), "f%zu\xff\x01", i);
			cr_assert(orphans_set_has(K, name, (size_t)n), "%zu", i);
			n = snprintf(name, sizeof(name), "f%zu\xff\x02", i);
			cr_assert_not(orphans_set_has(K, name, (size_t)n));
			n = snprintf(name, sizeof(name), "g%zu\xff\x01", i);
			cr_assert_not(orphans_set_has(K, name, (size_t)n));
		}
	}
	ms = (util_now_mono_ns() - t0) / 1000000;
	/* ~1.2M operations: well under a second; quadratic would be hours.
	 * Generous for sanitizer builds and loaded machines. */
	cr_expect_lt(ms, 10000, "took %llu ms", (unsigned long long)ms);
}

/* Counts reports, for runs with more than the reps array holds. */
static void count_report(void *ctx, const char *rel, size_t len, bool is_dir,
			 uint64_t bytes, enum orphans_action done, int err)
{
	(void)rel; (void)len; (void)is_dir; (void)bytes; (void)done; (void)err;
	(*(size_t *)ctx)++;
}

Test(orphans, big_directory_against_a_big_set)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_DELETE, NULL, 0);
	struct orphans_stats st = { 0 };
	char name[64];
	size_t i, count = 0;
	int n;

	mkd("big");
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "big/e%zu", i);
		mkf(name, i % 3 ? "" : "xy"); /* orphans below have "xy" */
	}
	/* The source has 100,000 names, two thirds of those here among them. */
	for (i = 0; i < 100000; i++) {
		if (i < 3000 && i % 3 == 0)
			continue;
		n = snprintf(name, sizeof(name), "e%zu", i);
		cr_assert_eq(orphans_set_add(K, name, (size_t)n), 0);
	}
	cr_assert_eq(orphans_process(R, "big", 3, K, &p, &st, count_report,
				     &count), 0);
	CHECK_STATS(st, 1000, 1000, 0, 2000, 1000, 0, 0, 0);
	cr_expect_eq(count, 1000);
	cr_expect_eq(count_entries(P("big")), 2000);
	cr_expect(exists("big/e1"));
	cr_expect_not(exists("big/e0"));
	cr_expect_not(exists("big/e2997"));
	cr_expect(exists("big/e2999"));
}

Test(orphans, every_orphan_reported_once)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_LOG, NULL, 0);
	struct orphans_stats st = { 0 };
	char name[64];
	size_t i, count = 0;

	mkd("many");
	for (i = 0; i < 1500; i++) {
		snprintf(name, sizeof(name), "many/e%zu", i);
		mkf(name, "z");
		if (i >= 500)
			keep(name + 5);
	}
	cr_assert_eq(orphans_process(R, "many", 4, K, &p, &st, count_report,
				     &count), 0);
	cr_expect_eq(count, 500);
	CHECK_STATS(st, 500, 500, 0, 500, 0, 0, 0, 0);
	cr_expect_eq(count_entries(P("many")), 1500);
}

/* --- LOG and DELETE ---------------------------------------------------------- */

/* d: kept k and "k\xff\n"; orphans f1 (5 B), "o\x01\xfe" (3 B), symlinks sl
 * (to the canary outside) and sld (to the outside dir), a fifo, and sub/
 * {a (2 B), b/{c (1 B)}, lnk (to the canary, relative)}. */
static void build_mixed(void)
{
	char t[256];

	mkd("d");
	mkf("d/k", "keep");
	mkf("d/k\xff\n", "keep2");
	mkf("d/f1", "hello");
	mkf("d/o\x01\xfe", "abc");
	snprintf(t, sizeof(t), "%s/canary", outside);
	mkl("d/sl", t);
	mkl("d/sld", outside);
	cr_assert_eq(mkfifo(P("d/fifo"), 0644), 0);
	mkd("d/sub");
	mkf("d/sub/a", "xy");
	mkd("d/sub/b");
	mkf("d/sub/b/c", "z");
	mkl("d/sub/lnk", "../../../outside-dir/canary");
	keep("k");
	keep("k\xff\n");
	keep("gone-on-target"); /* on the source only: nothing to do */
}

Test(orphans, log_reports_and_changes_nothing)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_LOG, NULL, 0);
	struct orphans_stats st = { 0 };

	build_mixed();
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 10, 8, 2, 11, 0, 0, 0, 0);
	cr_expect_eq(nreps, 6);
	check_rep("d/f1", false, 5, ORPHANS_ACTION_LOG, 0);
	check_rep("d/o\x01\xfe", false, 3, ORPHANS_ACTION_LOG, 0);
	check_rep("d/sl", false, 0, ORPHANS_ACTION_LOG, 0);
	check_rep("d/sld", false, 0, ORPHANS_ACTION_LOG, 0);
	check_rep("d/fifo", false, 0, ORPHANS_ACTION_LOG, 0);
	check_rep("d/sub", true, 3, ORPHANS_ACTION_LOG, 0);
	cr_expect_null(rep_of("d/k"));
	cr_expect_eq(count_entries(P("d")), 8);
	cr_expect_eq(count_entries(P("d/sub")), 3);
	cr_expect(exists("d/sub/b/c"));
	check_content(P("d/f1"), "hello");
	check_outside();
}

Test(orphans, delete_removes_every_type_but_no_link_target)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_DELETE, NULL, 0);
	struct orphans_stats st = { 0 };

	build_mixed();
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 10, 8, 2, 11, 10, 0, 0, 0);
	cr_expect_eq(nreps, 6);
	check_rep("d/sub", true, 3, ORPHANS_ACTION_DELETE, 0);
	check_rep("d/fifo", false, 0, ORPHANS_ACTION_DELETE, 0);
	check_rep("d/sl", false, 0, ORPHANS_ACTION_DELETE, 0);
	cr_expect_eq(count_entries(P("d")), 2);
	check_content(P("d/k"), "keep");
	check_content(P("d/k\xff\n"), "keep2");
	check_outside();

	/* Again: nothing left to do. */
	memset(&st, 0, sizeof(st));
	reps_clear();
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);
	cr_expect_eq(nreps, 0);
}

Test(orphans, delete_in_the_root_itself)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_DELETE, NULL, 0);
	struct orphans_stats st = { 0 };

	mkf("a", "1");
	mkf("b", "22");
	mkd("c");
	mkf("c/x", "333");
	keep("b");
	cr_assert_eq(orphans_process(R, NULL, 0, K, &p, &st, on_report, NULL),
		     0);
	CHECK_STATS(st, 3, 2, 1, 4, 3, 0, 0, 0);
	check_rep("a", false, 1, ORPHANS_ACTION_DELETE, 0);
	check_rep("c", true, 3, ORPHANS_ACTION_DELETE, 0);
	cr_expect_eq(count_entries(root), 1);
	cr_expect(exists("b"));
	check_outside();
}

Test(orphans, stats_add_up_and_null_report_is_fine)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_DELETE, NULL, 0);
	struct orphans_stats st = { .found = 100, .files = 60, .dirs = 40,
				    .bytes = 1000, .deleted = 7, .errors = 2 };

	mkd("d");
	mkf("d/a", "1234");
	cr_assert_eq(orphans_process(R, "d", 1, K, &p, &st, NULL, NULL), 0);
	CHECK_STATS(st, 101, 61, 40, 1004, 8, 0, 0, 2);
	cr_expect_not(exists("d/a"));
}

/* --- MOVE ------------------------------------------------------------------- */

Test(orphans, move_keeps_structure_and_never_overwrites)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_MOVE, "trash", 0);
	struct orphans_stats st = { 0 };
	char t[256], buf[256];
	ssize_t n;

	build_mixed();
	/* Earlier runs left d/f1 and d/f1.1 in the move dir. */
	mkd("trash");
	mkd("trash/d");
	mkf("trash/d/f1", "older");
	mkf("trash/d/f1.1", "old");
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 10, 8, 2, 11, 0, 10, 0, 0);
	cr_expect_eq(nreps, 6);
	check_rep("d/sub", true, 3, ORPHANS_ACTION_MOVE, 0);
	check_rep("d/f1", false, 5, ORPHANS_ACTION_MOVE, 0);
	cr_expect_eq(count_entries(P("d")), 2);
	check_content(P("trash/d/f1"), "older");
	check_content(P("trash/d/f1.1"), "old");
	check_content(P("trash/d/f1.2"), "hello");
	check_content(P("trash/d/o\x01\xfe"), "abc");
	check_content(P("trash/d/sub/a"), "xy");
	check_content(P("trash/d/sub/b/c"), "z");
	cr_expect_eq(type_of("trash/d/sub/lnk"), S_IFLNK);
	cr_expect_eq(type_of("trash/d/sl"), S_IFLNK);
	cr_expect_eq(type_of("trash/d/sld"), S_IFLNK);
	cr_expect_eq(type_of("trash/d/fifo"), S_IFIFO);
	snprintf(t, sizeof(t), "%s/canary", outside);
	n = readlink(P("trash/d/sl"), buf, sizeof(buf) - 1);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_expect_str_eq(buf, t);
	check_outside();

	/* A new orphan directory of the same name: sub.1, not a merge. */
	memset(&st, 0, sizeof(st));
	reps_clear();
	mkd("d/sub");
	mkf("d/sub/new", "n");
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 2, 1, 1, 1, 0, 2, 0, 0);
	check_content(P("trash/d/sub.1/new"), "n");
	cr_expect_not(exists("trash/d/sub/new"));
	cr_expect_eq(count_entries(P("trash/d/sub")), 3);
}

Test(orphans, move_creates_the_move_dir_deep_in_the_root)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_MOVE, "t1/t2/t3", 0);
	struct orphans_stats st = { 0 };
	struct stat sb;

	mkd("a");
	mkd("a/b");
	mkf("a/b/x", "1");
	cr_assert_eq(run("a/b", &p, &st), 0);
	CHECK_STATS(st, 1, 1, 0, 1, 0, 1, 0, 0);
	check_content(P("t1/t2/t3/a/b/x"), "1");
	cr_assert_eq(lstat(P("t1/t2/t3/a"), &sb), 0);
	cr_expect_eq(sb.st_mode & 07777, 0755);
	cr_expect_not(exists("a/b/x"));
	check_outside();
}

Test(orphans, move_dir_through_a_symlink_is_refused)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_MOVE, "t/in", 0);
	struct orphans_stats st = { 0 };

	mkl("t", outside); /* t -> outside the root */
	mkd("d");
	mkf("d/x", "1");
	mkf("d/y", "22");
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 2, 2, 0, 3, 0, 0, 0, 2);
	cr_expect_eq(nreps, 2);
	cr_expect(rep_of("d/x") && (rep_of("d/x")->err == ELOOP ||
				    rep_of("d/x")->err == EXDEV));
	cr_expect(exists("d/x"));
	cr_expect(exists("d/y"));
	check_outside();

	/* A symlink to a directory inside the root is refused as well. */
	memset(&st, 0, sizeof(st));
	reps_clear();
	mkd("real");
	cr_assert_eq(unlink(P("t")), 0);
	mkl("t", "real");
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 2, 2, 0, 3, 0, 0, 0, 2);
	cr_expect_eq(count_entries(P("real")), 0);
	cr_expect(exists("d/x"));

	/* And so is a symlink as the move dir's last component. */
	memset(&st, 0, sizeof(st));
	p = pol(ORPHANS_ACTION_MOVE, "t", 0);
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 2, 2, 0, 3, 0, 0, 0, 2);
	cr_expect_eq(count_entries(P("real")), 0);
	check_outside();

	/* Or a symlink inside the move dir where a parent is to be made, be it
	 * one to the outside or a dangling one. */
	memset(&st, 0, sizeof(st));
	reps_clear();
	p = pol(ORPHANS_ACTION_MOVE, "trash", 0);
	mkd("trash");
	mkl("trash/d", outside);
	mkd("e");
	mkf("e/y", "1");
	mkd("trash/e");
	mkl("trash/e/z", "/nonexistent-ditto-dir");
	mkd("e/z");
	mkf("e/z/w", "22");
	cr_assert_eq(run("d", &p, &st), 0);
	cr_assert_eq(run("e", &p, &st), 0);
	/* e/z goes to trash/e/z.1: a name taken by a dangling link counts. */
	CHECK_STATS(st, 5, 4, 1, 6, 0, 3, 0, 2);
	/* O_DIRECTORY|O_NOFOLLOW on a link: ENOTDIR; ELOOP is as good. */
	cr_expect(rep_of("d/x") && (rep_of("d/x")->err == ENOTDIR ||
				    rep_of("d/x")->err == ELOOP));
	cr_expect(exists("d/x"));
	cr_expect(exists("d/y"));
	check_content(P("trash/e/y"), "1");
	check_content(P("trash/e/z.1/w"), "22");
	check_outside();
}

Test(orphans, age_limit_move_refuses_a_symlinked_parent_in_the_move_dir)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_MOVE, "trash", AGE);
	struct orphans_stats st = { 0 };

	mkd("d");
	mkd("d/s");
	mkf("d/s/f", "abc");
	set_mtime("d/s/f", OLD);
	set_mtime("d/s", OLD);
	mkd("trash");
	mkd("trash/d");
	mkl("trash/d/s", "/nonexistent-ditto-dir"); /* dangling */
	cr_assert_eq(run("d", &p, &st), 0);
	/* s/f cannot go (its parent in the move dir is a link): s stays. */
	CHECK_STATS(st, 2, 1, 1, 3, 0, 0, 0, 1);
	cr_expect_eq(nreps, 1);
	cr_expect(rep_of("d/s/f") && (rep_of("d/s/f")->err == ENOTDIR ||
				      rep_of("d/s/f")->err == ELOOP));
	cr_expect(exists("d/s/f"));
	cr_expect_eq(type_of("trash/d/s"), S_IFLNK);
	check_outside();
}

Test(orphans, move_dir_is_never_an_orphan)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_MOVE, "m/trash", 0);
	struct orphans_stats st = { 0 };

	mkf("a", "1");
	mkd("m");
	mkd("m/trash");
	mkf("m/trash/old", "o");
	mkf("m/trashy", "22"); /* a prefix is not the move dir */
	mkf("m/other", "333");
	mkd("m/trash/m");
	mkf("m/trash/m/x", "4444");

	/* The root: "m" leads to the move dir, only "a" is an orphan. */
	cr_assert_eq(orphans_process(R, "", 0, K, &p, &st, on_report, NULL), 0);
	CHECK_STATS(st, 1, 1, 0, 1, 0, 1, 0, 0);
	check_content(P("m/trash/a"), "1");
	cr_expect(exists("m/other"));

	/* In m, "trash" is skipped, trashy and other go. */
	memset(&st, 0, sizeof(st));
	cr_assert_eq(run("m", &p, &st), 0);
	CHECK_STATS(st, 2, 2, 0, 5, 0, 2, 0, 0);
	check_content(P("m/trash/m/trashy"), "22");
	check_content(P("m/trash/m/other"), "333");
	cr_expect_eq(count_entries(P("m")), 1);

	/* The move dir and what is in it: left alone whatever the set. */
	memset(&st, 0, sizeof(st));
	cr_assert_eq(run("m/trash", &p, &st), 0);
	cr_assert_eq(run("m/trash/m", &p, &st), 0);
	CHECK_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);
	cr_expect_eq(count_entries(P("m/trash")), 3);
	cr_expect_eq(count_entries(P("m/trash/m")), 3);

	/* Set under DELETE too: still protected. */
	p = pol(ORPHANS_ACTION_DELETE, "m/trash", 0);
	cr_assert_eq(run("m/trash", &p, &st), 0);
	cr_assert_eq(orphans_process(R, "", 0, K, &p, &st, on_report, NULL), 0);
	CHECK_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);
	cr_expect(exists("m/trash/old"));
	cr_expect(exists("m/trash/m/x"));
}

/* --- age limit ------------------------------------------------------------------- */

/* d: old.txt (old, 4 B), new.txt (young, 3 B), lnk (old symlink), ylnk
 * (young symlink),
 *   mix/ (old): o1 (old, 1 B), y1 (young, 2 B), osub/ (old) {o2 (old, 5 B)},
 *               ysub/ (young) {o3 (old, 6 B)}
 *   allold/ (old): a (old, 7 B), e/ (old, empty)
 *   youngdir/ (young): z (old, 8 B)
 * Directory mtimes are set last: filling a directory changes its mtime. */
static void build_aged(void)
{
	mkd("d");
	mkf("d/old.txt", "oldf");
	mkf("d/new.txt", "new");
	mkl("d/lnk", "old.txt");
	mkl("d/ylnk", "/nonexistent");
	mkd("d/mix");
	mkf("d/mix/o1", "1");
	mkf("d/mix/y1", "22");
	mkd("d/mix/osub");
	mkf("d/mix/osub/o2", "55555");
	mkd("d/mix/ysub");
	mkf("d/mix/ysub/o3", "666666");
	mkd("d/allold");
	mkf("d/allold/a", "7777777");
	mkd("d/allold/e");
	mkd("d/youngdir");
	mkf("d/youngdir/z", "88888888");
	set_mtime("d/old.txt", OLD);
	set_mtime("d/new.txt", YOUNG);
	set_mtime("d/lnk", OLD);
	set_mtime("d/ylnk", YOUNG);
	set_mtime("d/mix/o1", OLD);
	set_mtime("d/mix/y1", YOUNG);
	set_mtime("d/mix/osub/o2", OLD);
	set_mtime("d/mix/osub", OLD);
	set_mtime("d/mix/ysub/o3", OLD);
	set_mtime("d/mix/ysub", YOUNG);
	set_mtime("d/mix", OLD);
	set_mtime("d/allold/a", OLD);
	set_mtime("d/allold/e", OLD);
	set_mtime("d/allold", OLD);
	set_mtime("d/youngdir/z", OLD);
	set_mtime("d/youngdir", YOUNG);
}

/* The ten entries the age rule lets go (see build_aged). */
static void check_aged_reports(enum orphans_action a)
{
	cr_expect_eq(nreps, 10);
	check_rep("d/old.txt", false, 4, a, 0);
	check_rep("d/lnk", false, 0, a, 0);
	check_rep("d/mix/o1", false, 1, a, 0);
	check_rep("d/mix/osub/o2", false, 5, a, 0);
	check_rep("d/mix/osub", true, 0, a, 0);
	check_rep("d/mix/ysub/o3", false, 6, a, 0);
	check_rep("d/allold/a", false, 7, a, 0);
	check_rep("d/allold/e", true, 0, a, 0);
	check_rep("d/allold", true, 0, a, 0);
	check_rep("d/youngdir/z", false, 8, a, 0);
	cr_expect_null(rep_of("d/new.txt"));
	cr_expect_null(rep_of("d/mix"));
	cr_expect_null(rep_of("d/youngdir"));
}

/* What stays under d after DELETE or MOVE with the age limit. */
static void check_aged_left(void)
{
	cr_expect_eq(count_entries(P("d")), 4);
	cr_expect(exists("d/new.txt"));
	cr_expect(exists("d/ylnk"));
	cr_expect_eq(count_entries(P("d/mix")), 2);
	cr_expect(exists("d/mix/y1"));
	cr_expect_eq(count_entries(P("d/mix/ysub")), 0);
	cr_expect_eq(count_entries(P("d/youngdir")), 0);
}

Test(orphans, age_limit_delete_with_mixed_directories)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_DELETE, NULL, AGE);
	struct orphans_stats st = { 0 };

	build_aged();
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 16, 10, 6, 36, 10, 0, 5, 0);
	check_aged_reports(ORPHANS_ACTION_DELETE);
	check_aged_left();
}

Test(orphans, age_limit_log_changes_nothing)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_LOG, NULL, AGE);
	struct orphans_stats st = { 0 };

	build_aged();
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 16, 10, 6, 36, 0, 0, 5, 0);
	check_aged_reports(ORPHANS_ACTION_LOG);
	cr_expect_eq(count_entries(P("d")), 7);
	cr_expect_eq(count_entries(P("d/mix")), 4);
	cr_expect(exists("d/allold/e"));
	cr_expect(exists("d/mix/osub/o2"));
}

Test(orphans, age_limit_move_merges_emptied_directories)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_MOVE, "trash", AGE);
	struct orphans_stats st = { 0 };

	build_aged();
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 16, 10, 6, 36, 0, 10, 5, 0);
	check_aged_reports(ORPHANS_ACTION_MOVE);
	check_aged_left();
	check_content(P("trash/d/old.txt"), "oldf");
	cr_expect_eq(type_of("trash/d/lnk"), S_IFLNK);
	check_content(P("trash/d/mix/o1"), "1");
	check_content(P("trash/d/mix/osub/o2"), "55555");
	check_content(P("trash/d/mix/ysub/o3"), "666666");
	check_content(P("trash/d/allold/a"), "7777777");
	cr_expect_eq(type_of("trash/d/allold/e"), S_IFDIR);
	check_content(P("trash/d/youngdir/z"), "88888888");
	cr_expect_not(exists("trash/d/allold.1"));
	cr_expect_not(exists("trash/d/mix/osub.1"));
	/* old.txt lnk mix allold youngdir */
	cr_expect_eq(count_entries(P("trash/d")), 5);
	check_outside();
}

Test(orphans, age_boundary_is_strictly_older)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_DELETE, NULL, AGE);
	struct orphans_stats st = { 0 };

	mkd("d");
	mkf("d/exact", "1");     /* age == limit: stays */
	mkf("d/over", "22");     /* age == limit + 1: goes */
	mkf("d/future", "333");  /* mtime after now: stays */
	set_mtime("d/exact", T0 - AGE);
	set_mtime("d/over", T0 - AGE - 1);
	set_mtime("d/future", T0 + 100);
	cr_assert_eq(run("d", &p, &st), 0);
	CHECK_STATS(st, 3, 3, 0, 6, 1, 0, 2, 0);
	cr_expect(exists("d/exact"));
	cr_expect_not(exists("d/over"));
	cr_expect(exists("d/future"));
}

Test(orphans, all_old_tree_gives_the_same_figures_with_and_without_age)
{
	struct orphans_policy p0 = pol(ORPHANS_ACTION_DELETE, NULL, 0);
	struct orphans_policy pa = pol(ORPHANS_ACTION_DELETE, NULL, AGE);
	struct orphans_stats s0 = { 0 }, sa = { 0 };
	const char *tops[] = { "d1", "d2" };
	char rel[64];
	size_t i;

	for (i = 0; i < 2; i++) {
		mkd(tops[i]);
		snprintf(rel, sizeof(rel), "%s/t", tops[i]);
		mkd(rel);
		snprintf(rel, sizeof(rel), "%s/t/f", tops[i]);
		mkf(rel, "abcd");
		set_mtime(rel, OLD);
		snprintf(rel, sizeof(rel), "%s/t/u", tops[i]);
		mkd(rel);
		snprintf(rel, sizeof(rel), "%s/t/u/g", tops[i]);
		mkf(rel, "ef");
		set_mtime(rel, OLD);
		snprintf(rel, sizeof(rel), "%s/t/u", tops[i]);
		set_mtime(rel, OLD);
		snprintf(rel, sizeof(rel), "%s/t", tops[i]);
		set_mtime(rel, OLD);
	}
	cr_assert_eq(run("d1", &p0, &s0), 0);
	cr_expect_eq(nreps, 1); /* t, as a whole */
	cr_assert_eq(run("d2", &pa, &sa), 0);
	cr_expect_eq(nreps, 1 + 4); /* f, g, u, t one by one */
	CHECK_STATS(s0, 4, 2, 2, 6, 4, 0, 0, 0);
	cr_expect_eq(memcmp(&s0, &sa, sizeof(s0)), 0);
	cr_expect_eq(count_entries(P("d1")), 0);
	cr_expect_eq(count_entries(P("d2")), 0);
}

static int open_fds(void)
{
	return count_entries("/proc/self/fd");
}

/* d/t/a/a/.../a (depth levels of a, each holding a file f of 1 byte). */
static void build_deep(const char *top, int depth, time_t mtime)
{
	char rel[2048];
	size_t len;
	int i;

	snprintf(rel, sizeof(rel), "%s", top);
	mkd(rel);
	for (i = 0; i < depth; i++) {
		len = strlen(rel);
		snprintf(rel + len, sizeof(rel) - len, "/a");
		mkd(rel);
		snprintf(rel + len, sizeof(rel) - len, "/f");
		mkf(rel, "x");
		if (mtime)
			set_mtime(rel, mtime);
		snprintf(rel + len, sizeof(rel) - len, "/a");
	}
	/* Directory mtimes bottom-up, after their contents. */
	for (i = depth; mtime && i >= 0; i--) {
		set_mtime(rel, mtime);
		*strrchr(rel, '/') = '\0';
	}
}

Test(orphans, deep_trees_take_a_bounded_number_of_fds)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_LOG, NULL, 0);
	struct orphans_stats st = { 0 };
	struct rlimit rl;
	size_t count = 0;
	int before;

	mkd("d");
	build_deep("d/t", 300, OLD);
	build_deep("d/u", 300, OLD);
	before = open_fds();
	/* 300 levels would need 300 fds if each level held one. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = (rlim_t)before + 12;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

	cr_assert_eq(orphans_process(R, "d", 1, K, &p, &st, count_report,
				     &count), 0);
	CHECK_STATS(st, 1202, 600, 602, 600, 0, 0, 0, 0);
	cr_expect_eq(count, 2);

	memset(&st, 0, sizeof(st));
	count = 0;
	p = pol(ORPHANS_ACTION_MOVE, "trash", AGE);
	keep("u");
	cr_assert_eq(orphans_process(R, "d", 1, K, &p, &st, count_report,
				     &count), 0);
	CHECK_STATS(st, 601, 300, 301, 300, 0, 601, 0, 0);
	cr_expect_eq(count, 601);
	cr_expect_not(exists("d/t"));
	check_content(P("trash/d/t/a/a/a/f"), "x");

	memset(&st, 0, sizeof(st));
	count = 0;
	p = pol(ORPHANS_ACTION_DELETE, NULL, 0);
	orphans_set_clear(K);
	cr_assert_eq(orphans_process(R, "d", 1, K, &p, &st, count_report,
				     &count), 0);
	CHECK_STATS(st, 601, 300, 301, 300, 601, 0, 0, 0);
	cr_expect_eq(count_entries(P("d")), 0);
	cr_expect_eq(open_fds(), before, "fd leak");
	check_outside();
}

/* --- confinement and arguments ------------------------------------------------------ */

Test(orphans, missing_directory_is_nothing_to_do)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_DELETE, NULL, 0);
	struct orphans_stats st = { 0 };

	cr_expect_eq(run("nope", &p, &st), 0);
	cr_expect_eq(run("nope/deeper", &p, &st), 0);
	CHECK_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);
	cr_expect_eq(nreps, 0);
}

Test(orphans, directory_through_a_symlink_is_refused)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_DELETE, NULL, 0);
	struct orphans_stats st = { 0 };
	char path[256];
	int rc;

	snprintf(path, sizeof(path), "%s/sub", outside);
	cr_assert_eq(mkdir(path, 0755), 0);
	mkl("ln", outside);
	mkd("in");
	mkf("in/x", "1");
	mkl("inl", "in");

	/* As the last component the kernel says ENOTDIR (O_DIRECTORY with
	 * O_NOFOLLOW), in the middle ELOOP (or EXDEV): refused either way. */
	rc = run("ln", &p, &st);
	cr_expect(rc == -ENOTDIR || rc == -ELOOP, "rc %d", rc);
	rc = run("ln/sub", &p, &st);
	cr_expect(rc == -ELOOP || rc == -EXDEV, "rc %d", rc);
	rc = run("inl", &p, &st); /* a link staying inside: refused too */
	cr_expect(rc == -ENOTDIR || rc == -ELOOP, "rc %d", rc);
	rc = run("inl/x", &p, &st);
	cr_expect(rc == -ELOOP || rc == -EXDEV, "rc %d", rc);
	CHECK_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);
	cr_expect_eq(nreps, 0);
	cr_expect(exists("in/x"));
	cr_expect_eq(rmdir(path), 0);
	check_outside();

	mkf("file", "f");
	cr_expect_eq(run("file", &p, &st), -ENOTDIR);
	cr_expect(exists("file"));
}

Test(orphans, bad_arguments)
{
	struct orphans_policy p = pol(ORPHANS_ACTION_DELETE, NULL, 0);
	struct orphans_stats st = { 0 };

	mkd("d");
	mkf("d/x", "1");
	cr_expect_eq(run("../root/d", &p, &st), -EINVAL);
	cr_expect_eq(run("d/", &p, &st), -EINVAL);
	cr_expect_eq(run("./d", &p, &st), -EINVAL);
	cr_expect_eq(run("/d", &p, &st), -EINVAL);
	cr_expect_eq(orphans_process(R, "d", 1, NULL, &p, &st, NULL, NULL),
		     -EINVAL);
	cr_expect_eq(orphans_process(R, "d", 1, K, NULL, &st, NULL, NULL),
		     -EINVAL);
	cr_expect_eq(orphans_process(R, "d", 1, K, &p, NULL, NULL, NULL),
		     -EINVAL);
	p = pol(ORPHANS_ACTION_MOVE, NULL, 0);
	cr_expect_eq(run("d", &p, &st), -EINVAL);
	p = pol(ORPHANS_ACTION_MOVE, "../out", 0);
	cr_expect_eq(run("d", &p, &st), -EINVAL);
	p = pol(ORPHANS_ACTION_MOVE, "/tmp", 0);
	cr_expect_eq(run("d", &p, &st), -EINVAL);
	p = pol(ORPHANS_ACTION_MOVE, "a//b", 0);
	cr_expect_eq(run("d", &p, &st), -EINVAL);
	p = pol(ORPHANS_ACTION_MOVE, "t/", 0);
	cr_expect_eq(run("d", &p, &st), -EINVAL);
	p = pol((enum orphans_action)7, NULL, 0);
	cr_expect_eq(run("d", &p, &st), -EINVAL);
	CHECK_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);
	cr_expect(exists("d/x"));
	check_outside();
}
