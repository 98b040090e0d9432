#include "config.h"

#include "verifylog.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* --- fixture -------------------------------------------------------------- */

static char dir[64];
static char err[1024];

/* 09/09/2001 01:46:40 UTC: markers are in local time, so TZ is pinned. */
#define T0 ((time_t)1000000000)
#define NS(s, ns) ((int64_t)(s) * 1000000000 + (ns))

static void setup(void)
{
	umask(022);
	setenv("TZ", "UTC", 1);
	tzset();
	util_strlcpy(dir, "/tmp/ditto-vlog-XXXXXX", sizeof(dir));
	cr_assert_not_null(mkdtemp(dir));
	err[0] = '\0';
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

TestSuite(verifylog, .init = setup, .fini = teardown);

/* --- helpers ---------------------------------------------------------------- */

static struct verifylog_opts opts(const char *repset)
{
	struct verifylog_opts o = {
		.dir = dir, .base_name = NULL, .repset = repset,
		.max_length = VERIFYLOG_DEFAULT_MAX_LENGTH, .append = true,
	};
	return o;
}

static const struct verifylog_run RUN = {
	.con_id = 7, .target = "host:1500", .options = "CHECKSUM REMIRROR",
	.started = T0,
};

static struct verifylog *begin(const struct verifylog_opts *o)
{
	struct verifylog *v = verifylog_begin(o, &RUN, err, sizeof(err));

	cr_assert_not_null(v, "begin: %s", err);
	return v;
}

static void end_ok(struct verifylog *v, const char *result)
{
	int rc = verifylog_end(v, NULL, result, T0 + 7, err, sizeof(err));

	cr_assert_eq(rc, 0, "end: %s", err);
}

/* Whole file, NUL-terminated; *len without the NUL. */
static char *slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	buf = util_xmalloc((size_t)st.st_size + 1);
	n = util_read_full(fd, buf, (size_t)st.st_size);
	cr_assert_eq(n, st.st_size);
	buf[n] = '\0';
	close(fd);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* Freshly allocated: the caller frees it. */
static char *log_path(const char *name)
{
	return util_xasprintf("%s/%s", dir, name);
}

/* Contents of <dir>/<name>. */
static char *slurp_log(const char *name, size_t *len)
{
	char *p = log_path(name), *buf = slurp(p, len);

	free(p);
	return buf;
}

/* Splits into lines (the file must end with '\n'); returns the count and
 * checks every line is printable ASCII. */
static size_t lines_of(char *buf, size_t len, char ***out)
{
	size_t n = 0, cap = 16;
	char **v = util_xmalloc(cap * sizeof(*v));
	char *p = buf;

	cr_assert(len == 0 || buf[len - 1] == '\n', "file ends mid-line");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\n')
			continue;
		cr_assert(c >= 0x20 && c < 0x7f,
			  "byte 0x%02x at %zu is not printable ASCII", c, i);
	}
	while (p < buf + len) {
		char *nl = strchr(p, '\n');

		*nl = '\0';
		if (n == cap) {
			cap *= 2;
			v = util_xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = p;
		p = nl + 1;
	}
	*out = v;
	return n;
}

static size_t count_prefix(char **lines, size_t n, const char *prefix)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (strncmp(lines[i], prefix, strlen(prefix)) == 0)
			c++;
	return c;
}

/* The one line of a run with one entry (begin, entry, end). */
static char *single_entry(const char *path, size_t plen, unsigned what,
			  const struct verifylog_side *src,
			  const struct verifylog_side *tgt, uint64_t blocks,
			  bool remirrored)
{
	struct verifylog_opts o = opts("one");
	struct verifylog *v;
	char *buf, **lines, *ret;
	size_t len, n;

	o.append = false;
	v = begin(&o);
	verifylog_entry(v, path, plen, what, src, tgt, blocks, remirrored);
	end_ok(v, "1 entries differ");
	buf = slurp_log("one DTVerify.log", &len);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 3, "expected 3 lines, got %zu", n);
	ret = util_xstrdup(lines[1]);
	free(lines);
	free(buf);
	return ret;
}

#define ENTRY_IS(expected, ...)                                          \
	do {                                                             \
		char *l_ = single_entry(__VA_ARGS__);                    \
		cr_assert_str_eq(l_, expected);                          \
		free(l_);                                                \
	} while (0)

static const struct verifylog_side SRC = {
	.size = 10, .mtime_ns = NS(1000000000, 123456789),
	.mode = S_IFREG | 0644, .uid = 0, .gid = 0,
};
static const struct verifylog_side TGT = {
	.size = 12, .mtime_ns = NS(999999000, 5),
	.mode = S_IFREG | 0600, .uid = 1000, .gid = 100,
};

/* --- file name ------------------------------------------------------------- */

Test(verifylog, default_name_and_mode)
{
	struct verifylog_opts o = opts("data");
	struct verifylog *v = begin(&o);
	char *want = log_path("data DTVerify.log");
	struct stat st;

	cr_assert_str_eq(verifylog_path(v), want);
	cr_assert_eq(stat(want, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);
	end_ok(v, "in sync");
	free(want);
}

Test(verifylog, custom_base_name_and_trailing_slash)
{
	char d2[80];
	struct verifylog_opts o = opts("User Data");
	struct verifylog *v;
	char *want = log_path("User Data verify.txt");

	snprintf(d2, sizeof(d2), "%s//", dir);
	o.dir = d2;
	o.base_name = "verify.txt";
	v = begin(&o);
	cr_assert_str_eq(verifylog_path(v), want);
	end_ok(v, "in sync");
	cr_assert_eq(access(want, F_OK), 0);
	free(want);
}

Test(verifylog, rejects_bad_options)
{
	struct verifylog_opts o = opts("a/b");
	char name[300];

	cr_assert_null(verifylog_begin(&o, &RUN, err, sizeof(err)));
	cr_assert(strstr(err, "replication set name"), "%s", err);

	o = opts("");
	cr_assert_null(verifylog_begin(&o, &RUN, err, sizeof(err)));

	o = opts("data");
	o.base_name = "x/y.log";
	cr_assert_null(verifylog_begin(&o, &RUN, err, sizeof(err)));
	cr_assert(strstr(err, "base name"), "%s", err);

	o = opts("data");
	o.max_length = VERIFYLOG_MIN_LENGTH - 1;
	cr_assert_null(verifylog_begin(&o, &RUN, err, sizeof(err)));
	cr_assert(strstr(err, "minimum"), "%s", err);

	memset(name, 'n', 250);
	name[250] = '\0';
	o = opts(name);
	cr_assert_null(verifylog_begin(&o, &RUN, err, sizeof(err)));
	cr_assert(strstr(err, "too long"), "%s", err);

	o = opts("data");
	o.dir = "/nonexistent-ditto-dir";
	cr_assert_null(verifylog_begin(&o, &RUN, err, sizeof(err)));
	cr_assert(strstr(err, "cannot open"), "%s", err);
}

Test(verifylog, open_fails_on_directory_or_fifo, .timeout = 10)
{
	struct verifylog_opts o = opts("data");
	char *p = log_path("data DTVerify.log");

	cr_assert_eq(mkdir(p, 0755), 0);
	cr_assert_null(verifylog_begin(&o, &RUN, err, sizeof(err)));
	cr_assert(strstr(err, "cannot open") && strstr(err, p), "%s", err);
	cr_assert_eq(rmdir(p), 0);

	/* A FIFO with no reader must fail, not hang the verification. */
	cr_assert_eq(mkfifo(p, 0644), 0);
	cr_assert_null(verifylog_begin(&o, &RUN, err, sizeof(err)));
	cr_assert(strstr(err, "cannot open"), "%s", err);
	free(p);
}

/* --- markers --------------------------------------------------------------- */

Test(verifylog, begin_and_end_markers)
{
	struct verifylog_opts o = opts("data");
	struct verifylog_totals t = {
		.entries = 120, .files = 100, .dirs = 20,
		.bytes_compared = 1048576, .different = 3, .missing = 1,
		.orphans = 2, .errors = 4, .blocks_different = 5,
		.bytes_different = 327680, .remirrored = 6,
		.remirrored_bytes = 400000,
	};
	struct verifylog *v = begin(&o);
	char *buf, **lines;
	size_t len, n;

	cr_assert_eq(verifylog_end(v, &t, "3 entries differ", T0 + 7, err,
				   sizeof(err)), 0, "%s", err);
	buf = slurp_log("data DTVerify.log", &len);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(lines[0],
		"=== BEGIN VERIFICATION 09/09/2001 01:46:40 connection 7 "
		"repset data target host:1500 options CHECKSUM REMIRROR");
	cr_assert_str_eq(lines[1],
		"=== END VERIFICATION 09/09/2001 01:46:47 result: 3 entries differ; "
		"entries 120 files 100 dirs 20 bytes 1048576 different 3 "
		"missing 1 orphans 2 errors 4 blocks 5 (327680 bytes) "
		"remirrored 6 (400000 bytes); 0 lines not logged (limit)");
	free(lines);
	free(buf);
}

Test(verifylog, marker_defaults)
{
	struct verifylog_opts o = opts("data");
	struct verifylog_run run = { .con_id = 1, .started = T0 };
	struct verifylog *v = verifylog_begin(&o, &run, err, sizeof(err));
	char *buf, **lines;
	size_t len;

	cr_assert_not_null(v, "%s", err);
	cr_assert_eq(verifylog_end(v, NULL, NULL, T0, err, sizeof(err)), 0);
	buf = slurp_log("data DTVerify.log", &len);
	cr_assert_eq(lines_of(buf, len, &lines), 2);
	cr_assert_str_eq(lines[0],
		"=== BEGIN VERIFICATION 09/09/2001 01:46:40 connection 1 "
		"repset data target - options none");
	cr_assert(strncmp(lines[1], "=== END VERIFICATION 09/09/2001 01:46:40 "
			  "result: unknown; entries 0 ", 63) == 0, "%s", lines[1]);
	free(lines);
	free(buf);
}

Test(verifylog, null_log_is_a_no_op)
{
	verifylog_entry(NULL, "a", 1, VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
	cr_assert_eq(verifylog_end(NULL, NULL, "x", 0, err, sizeof(err)), 0);
	cr_assert_null(verifylog_path(NULL));
}

/* --- entry wording ----------------------------------------------------------- */

Test(verifylog, each_difference_worded)
{
	ENTRY_IS("DIFF a/b.txt : size 10 != 12", "a/b.txt", 7, VERIFYLOG_SIZE,
		 &SRC, &TGT, 0, false);
	ENTRY_IS("DIFF f : mtime 2001-09-09 01:46:40.123456789 != "
		 "2001-09-09 01:30:00.000000005", "f", 1, VERIFYLOG_MTIME,
		 &SRC, &TGT, 0, false);
	ENTRY_IS("DIFF f : mode 0644 != 0600", "f", 1, VERIFYLOG_MODE, &SRC,
		 &TGT, 0, false);
	ENTRY_IS("DIFF f : owner 0:0 != 1000:100", "f", 1, VERIFYLOG_OWNER,
		 &SRC, &TGT, 0, false);
	ENTRY_IS("DIFF f : data 3 blocks (remirrored)", "f", 1, VERIFYLOG_DATA,
		 &SRC, &TGT, 3, true);
	ENTRY_IS("DIFF f : data 1 block", "f", 1, VERIFYLOG_DATA, &SRC, &TGT,
		 1, false);
	ENTRY_IS("DIFF f : data differs", "f", 1, VERIFYLOG_DATA, &SRC, &TGT,
		 0, false);
	ENTRY_IS("DIFF l : link differs", "l", 1, VERIFYLOG_LINK, &SRC, &TGT,
		 0, false);
	ENTRY_IS("DIFF f : xattrs differ", "f", 1, VERIFYLOG_XATTR, &SRC, &TGT,
		 0, false);
	ENTRY_IS("DIFF f : differs", "f", 1, 0, &SRC, &TGT, 0, false);
}

Test(verifylog, type_and_combined)
{
	struct verifylog_side d = TGT;

	d.mode = S_IFDIR | 0755;
	ENTRY_IS("DIFF x : type file != dir", "x", 1, VERIFYLOG_TYPE, &SRC, &d,
		 0, false);
	d.mode = S_IFLNK | 0777;
	ENTRY_IS("DIFF x : type file != symlink; size 10 != 12", "x", 1,
		 VERIFYLOG_TYPE | VERIFYLOG_SIZE, &SRC, &d, 0, false);
	ENTRY_IS("DIFF x : size 10 != 12; mode 0644 != 0600; "
		 "owner 0:0 != 1000:100; data 2 blocks; xattrs differ "
		 "(remirrored)", "x", 1,
		 VERIFYLOG_SIZE | VERIFYLOG_MODE | VERIFYLOG_OWNER |
		 VERIFYLOG_DATA | VERIFYLOG_XATTR, &SRC, &TGT, 2, true);
	/* A side not given: the difference is still named. */
	ENTRY_IS("ERROR x : could not be compared; size differs", "x", 1,
		 VERIFYLOG_ERROR | VERIFYLOG_SIZE, &SRC, NULL, 0, false);
}

Test(verifylog, missing_orphan_error)
{
	ENTRY_IS("MISSING new.txt : not on the target; source file size 10 "
		 "mtime 2001-09-09 01:46:40.123456789 mode 0644 owner 0:0 "
		 "(remirrored)", "new.txt", 7, VERIFYLOG_MISSING, &SRC, NULL,
		 0, true);
	/* Inferred from which side is given. */
	ENTRY_IS("MISSING n : not on the target; source file size 10 "
		 "mtime 2001-09-09 01:46:40.123456789 mode 0644 owner 0:0",
		 "n", 1, 0, &SRC, NULL, 0, false);
	ENTRY_IS("ORPHAN old : on the target only; target file size 12 "
		 "mtime 2001-09-09 01:30:00.000000005 mode 0600 owner 1000:100",
		 "old", 3, VERIFYLOG_ORPHAN, NULL, &TGT, 0, false);
	ENTRY_IS("ORPHAN o : on the target only; target file size 12 "
		 "mtime 2001-09-09 01:30:00.000000005 mode 0600 owner 1000:100",
		 "o", 1, 0, NULL, &TGT, 0, false);
	ENTRY_IS("ORPHAN o : on the target only", "o", 1, VERIFYLOG_ORPHAN,
		 NULL, NULL, 0, false);
	ENTRY_IS("MISSING m : not on the target", "m", 1, VERIFYLOG_MISSING,
		 NULL, NULL, 0, false);
	ENTRY_IS("ERROR c/d : could not be compared", "c/d", 3,
		 VERIFYLOG_ERROR, NULL, NULL, 0, false);
	/* An empty path (the root itself). */
	ENTRY_IS("DIFF . : size 10 != 12",
		 "", 0, VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
}

Test(verifylog, mtime_before_1970)
{
	struct verifylog_side a = SRC, b = SRC;

	a.mtime_ns = -1;
	b.mtime_ns = 0;
	ENTRY_IS("DIFF f : mtime 1969-12-31 23:59:59.999999999 != "
		 "1970-01-01 00:00:00.000000000", "f", 1, VERIFYLOG_MTIME, &a,
		 &b, 0, false);
}

/* --- escaping ------------------------------------------------------------------ */

Test(verifylog, odd_bytes_escaped)
{
	static const char p[] = "dir one/new\nline\\back\ttab\x7f\xff\xc3\xa9"
				"\0nul";

	ENTRY_IS("DIFF dir\\x20one/new\\x0aline\\x5cback\\x09tab\\x7f\\xff"
		 "\\xc3\\xa9\\x00nul : size 10 != 12", p, sizeof(p) - 1,
		 VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
}

Test(verifylog, markers_escaped)
{
	struct verifylog_opts o = opts("set\x01x");
	struct verifylog_run run = {
		.con_id = 2, .target = "evil\nhost", .options = "A B\r",
		.started = T0,
	};
	struct verifylog *v = verifylog_begin(&o, &run, err, sizeof(err));
	char *buf, **lines;
	size_t len;

	cr_assert_not_null(v, "%s", err);
	cr_assert_eq(verifylog_end(v, NULL, "stopped:\nbad\\", T0, err,
				   sizeof(err)), 0);
	buf = slurp_log("set\x01x DTVerify.log", &len);
	cr_assert_eq(lines_of(buf, len, &lines), 2);
	cr_assert_str_eq(lines[0],
		"=== BEGIN VERIFICATION 09/09/2001 01:46:40 connection 2 "
		"repset set\\x01x target evil\\x0ahost options A B\\x0d");
	cr_assert(strstr(lines[1], "result: stopped:\\x0abad\\x5c; entries"),
		  "%s", lines[1]);
	free(lines);
	free(buf);
}

/* --- append ---------------------------------------------------------------------- */

static void one_run(struct verifylog_opts *o, const char *path, const char *result)
{
	struct verifylog *v = begin(o);

	verifylog_entry(v, path, strlen(path), VERIFYLOG_SIZE, &SRC, &TGT, 0,
			false);
	end_ok(v, result);
}

Test(verifylog, append_on_keeps_runs)
{
	struct verifylog_opts o = opts("data");
	char *buf, **lines;
	size_t len, n;

	one_run(&o, "first", "run one");
	one_run(&o, "second", "run two");
	buf = slurp_log("data DTVerify.log", &len);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 6);
	cr_assert_eq(count_prefix(lines, n, "=== BEGIN VERIFICATION "), 2);
	cr_assert_eq(count_prefix(lines, n, "=== END VERIFICATION "), 2);
	cr_assert_str_eq(lines[1], "DIFF first : size 10 != 12");
	cr_assert_str_eq(lines[4], "DIFF second : size 10 != 12");
	cr_assert(strstr(lines[2], "result: run one;"));
	cr_assert(strstr(lines[5], "result: run two;"));
	free(lines);
	free(buf);
}

Test(verifylog, append_off_truncates)
{
	struct verifylog_opts o = opts("data");
	char *buf, **lines;
	size_t len, n;

	o.append = false;
	one_run(&o, "first", "run one");
	one_run(&o, "second", "run two");
	buf = slurp_log("data DTVerify.log", &len);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 3);
	cr_assert_eq(count_prefix(lines, n, "=== BEGIN VERIFICATION "), 1);
	cr_assert_str_eq(lines[1], "DIFF second : size 10 != 12");
	cr_assert(strstr(lines[2], "result: run two;"));
	cr_assert_null(strstr(buf, "first"));
	free(lines);
	free(buf);
}

/* --- maximum length ------------------------------------------------------------ */

static uint64_t fill(struct verifylog *v, unsigned count)
{
	char p[64];

	for (unsigned i = 0; i < count; i++) {
		int n = snprintf(p, sizeof(p), "dir/file-%05u.dat", i);

		verifylog_entry(v, p, (size_t)n, VERIFYLOG_SIZE | VERIFYLOG_MTIME,
				&SRC, &TGT, 0, i % 2);
	}
	return count;
}

static unsigned long long not_logged_of(const char *end_line)
{
	const char *s = strrchr(end_line, ';');
	unsigned long long n;

	cr_assert_not_null(s);
	cr_assert_eq(sscanf(s, "; %llu lines not logged (limit)", &n), 1,
		     "%s", end_line);
	return n;
}

Test(verifylog, max_length_keeps_end_marker)
{
	struct verifylog_opts o = opts("data");
	struct verifylog_totals t = {
		.entries = UINT64_MAX, .files = UINT64_MAX, .dirs = UINT64_MAX,
		.bytes_compared = UINT64_MAX, .different = UINT64_MAX,
		.missing = UINT64_MAX, .orphans = UINT64_MAX,
		.errors = UINT64_MAX, .blocks_different = UINT64_MAX,
		.bytes_different = UINT64_MAX, .remirrored = UINT64_MAX,
		.remirrored_bytes = UINT64_MAX,
	};
	char result[5000], *buf, **lines, *path;
	struct verifylog *v;
	size_t len, n, diffs;
	struct stat st;

	o.max_length = 8192;
	v = begin(&o);
	fill(v, 1000);
	/* The longest end marker possible: every total huge, a huge result. */
	memset(result, '\x01', sizeof(result) - 1);
	result[sizeof(result) - 1] = '\0';
	cr_assert_eq(verifylog_end(v, &t, result, T0, err, sizeof(err)), 0,
		     "%s", err);
	path = log_path("data DTVerify.log");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_leq(st.st_size, 8192, "size %lld", (long long)st.st_size);
	buf = slurp(path, &len);
	n = lines_of(buf, len, &lines);
	diffs = count_prefix(lines, n, "DIFF ");
	cr_assert_gt(diffs, 10);
	cr_assert_eq(n, diffs + 2);
	cr_assert(strncmp(lines[n - 1], "=== END VERIFICATION ", 21) == 0);
	cr_assert_leq(strlen(lines[n - 1]) + 1, VERIFYLOG_END_RESERVE);
	cr_assert_eq(not_logged_of(lines[n - 1]), 1000 - diffs);
	/* Entries stop at the limit; the logged ones are the first ones. */
	cr_assert(strncmp(lines[diffs], "DIFF dir/file-", 14) == 0);
	{
		char want[64];

		snprintf(want, sizeof(want), "DIFF dir/file-%05zu.dat ", diffs - 1);
		cr_assert(strncmp(lines[diffs], want, strlen(want)) == 0,
			  "%s", lines[diffs]);
	}
	free(lines);
	free(buf);
	free(path);
}

Test(verifylog, max_length_exact_minimum)
{
	struct verifylog_opts o = opts("data");
	struct verifylog *v;
	char *buf, **lines, *path = log_path("data DTVerify.log");
	size_t len, n;

	o.max_length = VERIFYLOG_MIN_LENGTH;
	v = begin(&o);
	fill(v, 500);
	end_ok(v, "500 entries differ");
	buf = slurp(path, &len);
	cr_assert_leq(len, VERIFYLOG_MIN_LENGTH);
	n = lines_of(buf, len, &lines);
	cr_assert(strncmp(lines[n - 1], "=== END VERIFICATION ", 21) == 0);
	cr_assert_eq(not_logged_of(lines[n - 1]), 500 - (n - 2));
	free(lines);
	free(buf);
	free(path);
}

/* Once an entry did not fit, later ones are not logged even if they would
 * fit: a run's log never has gaps in the middle. */
Test(verifylog, limit_stops_entries_for_the_rest_of_the_run)
{
	struct verifylog_opts o = opts("data");
	struct verifylog *v;
	char big[1500], *buf, **lines;
	size_t len, n;

	o.max_length = VERIFYLOG_MIN_LENGTH;
	memset(big, 'b', sizeof(big));
	v = begin(&o);
	/* begin ~100 + 1 line of ~1550 fits before the 1024 reserve; a second
	 * one does not, a short third one would. */
	verifylog_entry(v, big, sizeof(big), VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
	verifylog_entry(v, big, sizeof(big), VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
	verifylog_entry(v, "short", 5, VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
	end_ok(v, "3 entries differ");
	buf = slurp_log("data DTVerify.log", &len);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 3);
	cr_assert_null(strstr(buf, "short"));
	cr_assert_eq(not_logged_of(lines[2]), 2);
	free(lines);
	free(buf);
}

Test(verifylog, full_log_with_append_starts_over)
{
	struct verifylog_opts o = opts("data");
	struct verifylog *v;
	char *buf, **lines, *path = log_path("data DTVerify.log");
	size_t len, n;

	o.max_length = 8192;
	v = begin(&o);
	fill(v, 1000);
	end_ok(v, "first");
	v = begin(&o);
	verifylog_entry(v, "again", 5, VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
	end_ok(v, "second");
	buf = slurp(path, &len);
	cr_assert_leq(len, 8192);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 3);
	cr_assert(strstr(lines[0], "; log restarted: earlier runs reached the "
			 "maximum length of 8192 bytes"), "%s", lines[0]);
	cr_assert_str_eq(lines[1], "DIFF again : size 10 != 12");
	cr_assert(strstr(lines[2], "result: second;"));
	cr_assert_eq(not_logged_of(lines[2]), 0);
	free(lines);
	free(buf);
	free(path);
}

Test(verifylog, append_with_room_keeps_earlier_runs)
{
	struct verifylog_opts o = opts("data");
	char *buf, **lines;
	size_t len, n;

	o.max_length = 8192;
	one_run(&o, "first", "one");
	one_run(&o, "second", "two");
	buf = slurp_log("data DTVerify.log", &len);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 6);
	cr_assert_null(strstr(buf, "restarted"));
	free(lines);
	free(buf);
}

Test(verifylog, no_limit)
{
	struct verifylog_opts o = opts("data");
	struct verifylog *v;
	char *buf, **lines;
	size_t len, n;

	o.max_length = 0;
	v = begin(&o);
	fill(v, 3000);
	end_ok(v, "many");
	buf = slurp_log("data DTVerify.log", &len);
	cr_assert_gt(len, VERIFYLOG_DEFAULT_MAX_LENGTH / 8);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 3002);
	cr_assert_eq(not_logged_of(lines[n - 1]), 0);
	free(lines);
	free(buf);
}

/* --- write errors ------------------------------------------------------------- */

Test(verifylog, write_error_dev_full)
{
	struct verifylog_opts o = opts("data");
	struct verifylog *v;
	char *p = log_path("data DTVerify.log");

	cr_assert_eq(symlink("/dev/full", p), 0);
	v = begin(&o);
	verifylog_entry(v, "f", 1, VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
	cr_assert_eq(verifylog_end(v, NULL, "in sync", T0, err, sizeof(err)),
		     -1);
	cr_assert(strstr(err, p), "%s", err);
	cr_assert(strstr(err, strerror(ENOSPC)), "%s", err);
	cr_assert(strstr(err, "3 lines lost"), "%s", err);
	free(p);
}

Test(verifylog, write_error_append_off_dev_full)
{
	struct verifylog_opts o = opts("data");
	struct verifylog *v;
	char *p = log_path("data DTVerify.log");

	o.append = false;
	cr_assert_eq(symlink("/dev/full", p), 0);
	v = begin(&o);
	cr_assert_eq(verifylog_end(v, NULL, "in sync", T0, err, sizeof(err)),
		     -1);
	cr_assert(strstr(err, strerror(ENOSPC)), "%s", err);
	free(p);
}

/* A write that lands only partly (file size limit) is cut back off: the file
 * keeps whole lines only, and the error is reported at the end. */
Test(verifylog, partial_write_cut_back)
{
	struct verifylog_opts o = opts("data");
	struct verifylog *v;
	struct rlimit rl;
	struct stat st;
	char *p = log_path("data DTVerify.log"), *buf, **lines;
	char big[600];
	size_t len, n;

	signal(SIGXFSZ, SIG_IGN);
	v = begin(&o);
	verifylog_entry(v, "small", 5, VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
	cr_assert_eq(stat(p, &st), 0);
	rl.rlim_cur = rl.rlim_max = (rlim_t)st.st_size + 100;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	memset(big, 'b', sizeof(big));
	verifylog_entry(v, big, sizeof(big), VERIFYLOG_SIZE, &SRC, &TGT, 0,
			false);
	cr_assert_eq(verifylog_end(v, NULL, "in sync", T0, err, sizeof(err)),
		     -1);
	cr_assert(strstr(err, strerror(EFBIG)), "%s", err);
	buf = slurp(p, &len);
	cr_assert_eq((off_t)len, st.st_size, "partial line left: %zu", len);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(lines[1], "DIFF small : size 10 != 12");
	free(lines);
	free(buf);
	free(p);
}

/* --- two runs sharing one repset's file ------------------------------------- */

Test(verifylog, two_runs_share_the_file)
{
	struct verifylog_opts o = opts("data");
	struct verifylog *a, *b;
	char *buf, **lines;
	size_t len, n;

	a = begin(&o);
	b = begin(&o);
	verifylog_entry(a, "from-a", 6, VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
	verifylog_entry(b, "from-b", 6, VERIFYLOG_SIZE, &SRC, &TGT, 0, false);
	end_ok(a, "a");
	end_ok(b, "b");
	buf = slurp_log("data DTVerify.log", &len);
	n = lines_of(buf, len, &lines);
	cr_assert_eq(n, 6);
	cr_assert_str_eq(lines[2], "DIFF from-a : size 10 != 12");
	cr_assert_str_eq(lines[3], "DIFF from-b : size 10 != 12");
	free(lines);
	free(buf);
}
