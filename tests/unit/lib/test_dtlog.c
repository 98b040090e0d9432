#include "config.h"

#include "dtlog.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_RE "^[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{4} " \
		"[0-9]+ [0-9]+ [0-9]+ [12] [0-9]+ .*$"

static char tmpdir[] = "/tmp/test_dtlog.XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(tmpdir));
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	dtlog_close();
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(dtlog, .init = setup, .fini = teardown);

static char *path_of(const char *base, unsigned n)
{
	return util_xasprintf("%s/%s%u.dtl", tmpdir, base, n);
}

static bool exists(const char *base, unsigned n)
{
	char *p = path_of(base, n);
	struct stat st;
	bool ok = lstat(p, &st) == 0;

	free(p);
	return ok;
}

static char *slurp(const char *path)
{
	struct util_buf b;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	util_buf_init(&b);
	util_buf_reserve(&b, 1);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		util_buf_append(&b, chunk, (size_t)n);
	close(fd);
	return util_buf_steal(&b);
}

static off_t size_of(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0);
	return st.st_size;
}

static void open_log(const char *base, uint64_t max_length, unsigned max_files)
{
	struct dtlog_opts o = {
		.dir = tmpdir, .base = base,
		.max_length = max_length, .max_files = max_files,
	};

	cr_assert_eq(dtlog_open(&o), 0);
}

/* Logs until the logger moves on to another file; returns its number. */
static unsigned log_until_rotation(void)
{
	char *before = util_xstrdup(dtlog_current_path());
	const char *now;
	unsigned n;

	for (int i = 0; i < 1000; i++) {
		dtlog(DTLOG_INFO, 0, "filler line %d", i);
		now = dtlog_current_path();
		if (strcmp(now, before) != 0) {
			const char *slash = strrchr(now, '/');

			free(before);
			cr_assert_eq(sscanf(slash, "/%*[a-z]%u.dtl", &n), 1);
			return n;
		}
	}
	cr_assert_fail("no rotation after 1000 lines");
	return 0;
}

static unsigned count_files(const char *base)
{
	unsigned c = 0;

	for (unsigned n = 1; n <= DTLOG_SERIES_MAX; n++)
		c += exists(base, n);
	return c;
}

static void set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t } };

	cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
}

Test(dtlog, line_format_and_sequence)
{
	regex_t re;
	char *text, *line, *save = NULL;
	uint64_t expect = 1;

	open_log(NULL, 0, 0);
	cr_assert_str_eq(strrchr(dtlog_current_path(), '/'), "/dtlog1.dtl");
	dtlog(DTLOG_INFO, 0, "hello %s", "world");
	dtlog(DTLOG_ERROR, 77, "Connection lost with IP address %s", "10.0.0.1");
	dtlog(DTLOG_WARNING, 78, "Auto-disconnect threshold has been reached.");
	dtlog_event(DTLOG_INFO, 4000, "Kernel was successfully started.");

	cr_assert_eq(regcomp(&re, LINE_RE, REG_EXTENDED | REG_NOSUB), 0);
	text = slurp(dtlog_current_path());
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), expect++) {
		long pid, tid;
		uint64_t seq;
		int level;
		unsigned id;
		int off = 0;

		cr_assert_eq(regexec(&re, line, 0, NULL, 0), 0, "bad line: %s", line);
		cr_assert_eq(sscanf(line, "%*s %*s %ld %ld %" SCNu64 " %d %u %n",
				    &pid, &tid, &seq, &level, &id, &off), 5);
		cr_assert_eq(pid, (long)getpid());
		cr_assert_eq(tid, (long)gettid());
		cr_assert_eq(seq, expect);
		switch (expect) {
		case 1:
			cr_assert(level == 2 && id == 0);
			cr_assert_str_eq(line + off, "hello world");
			break;
		case 2:
			cr_assert(level == 1 && id == 77);
			cr_assert_str_eq(line + off,
					 "Connection lost with IP address 10.0.0.1");
			break;
		case 3:
			cr_assert(level == 1 && id == 78);
			break;
		case 4:
			cr_assert(level == 2 && id == 4000);
			break;
		}
	}
	cr_assert_eq(expect, 5);
	regfree(&re);
	free(text);
}

Test(dtlog, escapes_control_characters)
{
	char *text;

	open_log(NULL, 0, 0);
	dtlog(DTLOG_INFO, 0, "a\nb\r\tc\\d\x01" "e\x7f" "f");
	text = slurp(dtlog_current_path());
	cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1,
		     "one message must be one line: %s", text);
	cr_assert_not_null(strstr(text, " 2 0 a\\nb\\r\\tc\\\\d\\x01e\\x7ff\n"),
			   "got %s", text);
	free(text);
}

Test(dtlog, keeps_errno_and_formats_percent_m)
{
	char *text;

	open_log(NULL, 0, 0);
	errno = ENOENT;
	dtlog(DTLOG_ERROR, 0, "open failed: %m");
	cr_assert_eq(errno, ENOENT);
	text = slurp(dtlog_current_path());
	cr_assert_not_null(strstr(text, "open failed: No such file or directory"));
	free(text);
}

Test(dtlog, long_message_is_not_truncated)
{
	char *big = util_xmalloc(5001), *text;

	memset(big, 'x', 5000);
	big[5000] = '\0';
	open_log(NULL, 0, 0);
	dtlog(DTLOG_INFO, 0, "<%s>", big);
	text = slurp(dtlog_current_path());
	cr_assert_not_null(strstr(text, " 2 0 <"));
	cr_assert_eq(strlen(strchr(text, '<')), 5003);
	free(text);
	free(big);
}

Test(dtlog, rotates_by_max_length)
{
	unsigned last = 0;

	open_log(NULL, 200, 999);
	for (int i = 0; i < 40; i++)
		dtlog(DTLOG_INFO, 0, "message number %d of the rotation test", i);
	cr_assert_eq(sscanf(strrchr(dtlog_current_path(), '/'), "/dtlog%u.dtl",
			    &last), 1);
	cr_assert_gt(last, 3);
	for (unsigned n = 1; n <= last; n++) {
		char *p = path_of("dtlog", n);

		cr_assert_leq(size_of(p), 200, "%s too big", p);
		cr_assert_gt(size_of(p), 0);
		free(p);
	}
	cr_assert_not(exists("dtlog", last + 1));
}

Test(dtlog, line_longer_than_max_length_still_written)
{
	open_log(NULL, 20, 0);
	dtlog(DTLOG_INFO, 0, "this line alone is longer than twenty bytes");
	dtlog(DTLOG_INFO, 0, "and so is this one, which goes to file two");
	cr_assert_str_eq(strrchr(dtlog_current_path(), '/'), "/dtlog2.dtl");
	cr_assert_gt(size_of(dtlog_current_path()), 20);
}

Test(dtlog, prunes_to_max_files)
{
	unsigned last = 0;

	open_log(NULL, 200, 3);
	for (int i = 0; i < 60; i++)
		dtlog(DTLOG_INFO, 0, "message number %d of the pruning test", i);
	cr_assert_eq(sscanf(strrchr(dtlog_current_path(), '/'), "/dtlog%u.dtl",
			    &last), 1);
	cr_assert_gt(last, 5);
	cr_assert_eq(count_files("dtlog"), 3);
	for (unsigned n = last - 2; n <= last; n++)
		cr_assert(exists("dtlog", n), "dtlog%u.dtl missing", n);
}

Test(dtlog, wraps_from_999_to_1)
{
	char *p998 = path_of("dtlog", 998), *p999 = path_of("dtlog", 999);
	char *text;
	time_t now = time(NULL);

	write_file(p998, "old 998\n");
	write_file(p999, "old 999\n");
	set_mtime(p998, now - 20);
	set_mtime(p999, now - 10);

	open_log(NULL, 200, 3);
	/* 999 is the newest and has room, so it is continued. */
	cr_assert_str_eq(dtlog_current_path(), p999);
	cr_assert_eq(log_until_rotation(), 1);
	cr_assert(exists("dtlog", 998) && exists("dtlog", 999));
	cr_assert_eq(log_until_rotation(), 2);
	cr_assert_not(exists("dtlog", 998));
	cr_assert(exists("dtlog", 999) && exists("dtlog", 1));
	text = slurp(p999);
	cr_assert_eq(strncmp(text, "old 999\n", 8), 0);
	free(text);
	free(p998);
	free(p999);
}

Test(dtlog, wrap_order_survives_equal_mtimes)
{
	char *p;
	time_t now = time(NULL);
	unsigned nums[] = { 998, 999, 1 };

	/* Rotated within one clock tick: only the numbers tell the order. */
	for (size_t i = 0; i < 3; i++) {
		p = path_of("dtlog", nums[i]);
		write_file(p, "x\n");
		set_mtime(p, now - 5);
		free(p);
	}
	open_log(NULL, 200, 3);
	p = path_of("dtlog", 1);
	cr_assert_str_eq(dtlog_current_path(), p);
	free(p);
	cr_assert_eq(log_until_rotation(), 2);
	cr_assert_not(exists("dtlog", 998));
	cr_assert(exists("dtlog", 999));
}

Test(dtlog, full_wrap_with_999_files_reuses_oldest)
{
	open_log(NULL, 1, 999);
	for (unsigned i = 0; i < 1001; i++)
		dtlog(DTLOG_INFO, 0, "%u", i);
	/* 1001 one-line files: 1..999, then 1 and 2 again. */
	cr_assert_str_eq(strrchr(dtlog_current_path(), '/'), "/dtlog2.dtl");
	cr_assert_eq(count_files("dtlog"), 999);
}

Test(dtlog, continues_after_reopen)
{
	char *first, *text;

	open_log(NULL, 4096, 5);
	dtlog(DTLOG_INFO, 0, "before restart");
	first = util_xstrdup(dtlog_current_path());
	dtlog_close();
	cr_assert_null(dtlog_current_path());

	open_log(NULL, 4096, 5);
	cr_assert_str_eq(dtlog_current_path(), first);
	dtlog(DTLOG_INFO, 0, "after restart");
	text = slurp(first);
	cr_assert_not_null(strstr(text, "before restart\n"));
	cr_assert_not_null(strstr(text, "after restart\n"));
	/* The sequence is per process, so it keeps counting. */
	cr_assert_not_null(strstr(text, " 2 2 0 after restart\n"));
	free(text);
	free(first);
}

Test(dtlog, reopen_of_full_file_starts_next_and_prunes)
{
	char *p;
	time_t now = time(NULL);

	for (unsigned n = 1; n <= 6; n++) {
		p = path_of("dtlog", n);
		write_file(p, "0123456789012345678901234567890123456789\n");
		set_mtime(p, now - 100 + n);
		free(p);
	}
	open_log(NULL, 40, 4);
	cr_assert_str_eq(strrchr(dtlog_current_path(), '/'), "/dtlog7.dtl");
	cr_assert_eq(count_files("dtlog"), 4);
	for (unsigned n = 4; n <= 7; n++)
		cr_assert(exists("dtlog", n));
}

Test(dtlog, unremovable_file_is_retried)
{
	char *p1 = path_of("dtlog", 1);
	char *inner = util_xasprintf("%s/keep", p1);

	open_log(NULL, 200, 2);
	cr_assert_eq(log_until_rotation(), 2);
	/* A non-empty directory defeats unlink even for root. */
	cr_assert_eq(unlink(p1), 0);
	cr_assert_eq(mkdir(p1, 0755), 0);
	write_file(inner, "x");

	cr_assert_eq(log_until_rotation(), 3);
	cr_assert(exists("dtlog", 1));
	cr_assert_not(exists("dtlog", 2));
	cr_assert_eq(log_until_rotation(), 4);
	cr_assert(exists("dtlog", 1));
	cr_assert_not(exists("dtlog", 3));
	cr_assert(exists("dtlog", 4));

	/* Once removable, the next rotation takes it out. */
	cr_assert_eq(unlink(inner), 0);
	cr_assert_eq(rmdir(p1), 0);
	write_file(p1, "now a plain file\n");
	cr_assert_eq(log_until_rotation(), 5);
	cr_assert_not(exists("dtlog", 1));
	cr_assert(exists("dtlog", 4) && exists("dtlog", 5));
	cr_assert_eq(count_files("dtlog"), 2);
	free(inner);
	free(p1);
}

Test(dtlog, unremovable_file_found_at_open_is_retried)
{
	char *p1 = path_of("dtlog", 1);
	char *inner = util_xasprintf("%s/keep", p1);
	char *text;

	cr_assert_eq(mkdir(p1, 0755), 0);
	write_file(inner, "x");
	set_mtime(p1, time(NULL) - 60);
	open_log(NULL, 200, 1);
	cr_assert_str_eq(strrchr(dtlog_current_path(), '/'), "/dtlog2.dtl");
	cr_assert(exists("dtlog", 1));
	text = slurp(dtlog_current_path());
	cr_assert_not_null(strstr(text, "Cannot remove old log file"));
	free(text);
	cr_assert_eq(log_until_rotation(), 3);
	cr_assert_not(exists("dtlog", 2));
	free(inner);
	free(p1);
}

Test(dtlog, reconfigure_applies_at_next_rotation)
{
	open_log(NULL, 200, 5);
	cr_assert_eq(dtlog_reconfigure(600, 2), 0);
	cr_assert_eq(log_until_rotation(), 2);
	cr_assert_eq(log_until_rotation(), 3);
	{
		char *p2 = path_of("dtlog", 2);

		cr_assert_gt(size_of(p2), 200);
		cr_assert_leq(size_of(p2), 600);
		free(p2);
	}
	cr_assert_eq(count_files("dtlog"), 2);
	cr_assert_not(exists("dtlog", 1));
	cr_assert_eq(dtlog_reconfigure(0, 1000), -1);
	cr_assert_eq(errno, EINVAL);
}

Test(dtlog, dtcl_base_leaves_other_series_alone)
{
	char *other = path_of("dtlog", 1);

	write_file(other, "agent log\n");
	open_log("dtcl", 200, 1);
	cr_assert_str_eq(strrchr(dtlog_current_path(), '/'), "/dtcl1.dtl");
	for (int i = 0; i < 20; i++)
		dtlog(DTLOG_INFO, 0, "client message %d", i);
	cr_assert_eq(count_files("dtcl"), 1);
	cr_assert(exists("dtlog", 1));
	free(other);
}

Test(dtlog, creates_missing_directory)
{
	char *sub = util_xasprintf("%s/a/b", tmpdir);
	struct dtlog_opts o = { .dir = sub };
	struct stat st;

	umask(022);
	cr_assert_eq(dtlog_open(&o), 0);
	cr_assert_eq(stat(sub, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	dtlog(DTLOG_INFO, 0, "x");
	cr_assert_eq(stat(dtlog_current_path(), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0640);
	free(sub);
}

/* Runs fn with fd 2 pointing at a file and returns what it wrote there. */
static char *capture_stderr(void (*fn)(void))
{
	char *path = util_xasprintf("%s/stderr.txt", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int saved = dup(2);
	char *text;

	cr_assert(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	text = slurp(path);
	unlink(path);
	free(path);
	return text;
}

static void log_before_open(void)
{
	dtlog(DTLOG_ERROR, 5, "early message");
}

static void open_bad_dir(void)
{
	char *file = util_xasprintf("%s/plainfile", tmpdir);
	struct dtlog_opts o = { .dir = file };

	write_file(file, "");
	cr_assert_eq(dtlog_open(&o), -1);
	cr_assert_null(dtlog_current_path());
	dtlog(DTLOG_INFO, 0, "still visible");
	free(file);
}

Test(dtlog, messages_before_open_go_to_stderr)
{
	char *text = capture_stderr(log_before_open);
	regex_t re;

	cr_assert_eq(regcomp(&re, LINE_RE, REG_EXTENDED | REG_NOSUB | REG_NEWLINE), 0);
	cr_assert_eq(regexec(&re, text, 0, NULL, 0), 0, "got %s", text);
	cr_assert_not_null(strstr(text, " 1 1 5 early message\n"));
	regfree(&re);
	free(text);
}

Test(dtlog, open_failure_is_reported_and_stderr_used)
{
	char *text = capture_stderr(open_bad_dir);

	cr_assert_not_null(strstr(text, "dtlog: cannot open the log in"), "got %s", text);
	cr_assert_not_null(strstr(text, " 2 0 still visible\n"));
	free(text);
}

static void open_bad_options(void)
{
	struct dtlog_opts o = { .dir = tmpdir, .max_files = 1000 };

	cr_assert_eq(dtlog_open(&o), -1);
	cr_assert_eq(errno, EINVAL);
	o.max_files = 0;
	o.base = "a/b";
	cr_assert_eq(dtlog_open(&o), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(dtlog_open(NULL), -1);
	cr_assert_eq(dtlog_reconfigure(100, 1), -1);
	cr_assert_eq(errno, EBADF);
}

Test(dtlog, rejects_bad_options)
{
	char *text = capture_stderr(open_bad_options);

	cr_assert_not_null(strstr(text, "invalid options"), "got %s", text);
	free(text);
}

#define THREADS 4
#define PER_THREAD 250

static void *logger_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++)
		dtlog(DTLOG_INFO, 0, "thread line %d", i);
	return NULL;
}

Test(dtlog, threads_get_unique_ordered_sequence_numbers)
{
	pthread_t th[THREADS];
	char *text, *line, *save = NULL;
	uint64_t expect = 1;

	open_log(NULL, 0, 0);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, logger_thread, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	text = slurp(dtlog_current_path());
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), expect++) {
		uint64_t seq;

		cr_assert_eq(sscanf(line, "%*s %*s %*d %*d %" SCNu64, &seq), 1);
		cr_assert_eq(seq, expect);
	}
	cr_assert_eq(expect, THREADS * PER_THREAD + 1);
	free(text);
}

Test(dtlog, event_with_syslog_still_logs_to_file)
{
	struct dtlog_opts o = {
		.dir = tmpdir, .use_syslog = true, .ident = "ditto-test",
	};
	char *text;

	cr_assert_eq(dtlog_open(&o), 0);
	dtlog_event(DTLOG_ERROR, 4006,
		    "Service has aborted due to the following unrecoverable error: %s",
		    "test");
	text = slurp(dtlog_current_path());
	cr_assert_not_null(strstr(text, " 1 4006 Service has aborted"));
	free(text);
}
