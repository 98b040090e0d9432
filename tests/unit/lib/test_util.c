#include "config.h"

#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- bounded string helpers ------------------------------------------- */

Test(strlcpy, fits)
{
	char buf[8];

	cr_assert_eq(util_strlcpy(buf, "abc", sizeof(buf)), 3);
	cr_assert_str_eq(buf, "abc");
	/* Exactly size-1 characters still fits. */
	cr_assert_eq(util_strlcpy(buf, "1234567", sizeof(buf)), 7);
	cr_assert_str_eq(buf, "1234567");
}

Test(strlcpy, truncates)
{
	char buf[4];

	cr_assert_eq(util_strlcpy(buf, "abcdef", sizeof(buf)), 6);
	cr_assert_str_eq(buf, "abc");
}

Test(strlcpy, size_zero_writes_nothing)
{
	char buf[2] = { 'x', 'y' };

	cr_assert_eq(util_strlcpy(buf, "abc", 0), 3);
	cr_assert_eq(buf[0], 'x');
	cr_assert_eq(buf[1], 'y');
}

Test(strlcat, appends_and_truncates)
{
	char buf[8] = "ab";

	cr_assert_eq(util_strlcat(buf, "cd", sizeof(buf)), 4);
	cr_assert_str_eq(buf, "abcd");
	cr_assert_eq(util_strlcat(buf, "efghij", sizeof(buf)), 10);
	cr_assert_str_eq(buf, "abcdefg");
	/* Already full: nothing more fits, still terminated. */
	cr_assert_eq(util_strlcat(buf, "z", sizeof(buf)), 8);
	cr_assert_str_eq(buf, "abcdefg");
}

Test(strlcat, unterminated_dst)
{
	char buf[4] = { 'a', 'b', 'c', 'd' };

	/* dst has no NUL within size: report size + strlen(src), touch nothing. */
	cr_assert_eq(util_strlcat(buf, "xy", sizeof(buf)), 6);
	cr_assert_eq(memcmp(buf, "abcd", 4), 0);
}

Test(snprintf, fits_and_truncates)
{
	char buf[6];

	cr_assert_eq(util_snprintf(buf, sizeof(buf), "%s-%d", "ab", 12), 0);
	cr_assert_str_eq(buf, "ab-12");
	cr_assert_eq(util_snprintf(buf, sizeof(buf), "%s-%d", "ab", 123), -1);
	cr_assert_str_eq(buf, "ab-12");
	cr_assert_eq(util_snprintf(buf, sizeof(buf), "%s", ""), 0);
	cr_assert_str_eq(buf, "");
}

Test(streq_ci, basic)
{
	cr_assert(util_streq_ci("Hello", "hELLO"));
	cr_assert_not(util_streq_ci("Hello", "Hell"));
}

Test(xstrndup, stops_at_nul_and_n)
{
	char *p = util_xstrndup("abcdef", 3);

	cr_assert_str_eq(p, "abc");
	free(p);
	p = util_xstrndup("ab", 10);
	cr_assert_str_eq(p, "ab");
	free(p);
	p = util_xasprintf("%d/%s", 42, "x");
	cr_assert_str_eq(p, "42/x");
	free(p);
}

/* --- util_buf ----------------------------------------------------------- */

Test(buf, empty_steal_is_empty_string)
{
	struct util_buf b;
	char *s;

	util_buf_init(&b);
	s = util_buf_steal(&b);
	cr_assert_str_eq(s, "");
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	free(s);
}

Test(buf, growth_keeps_content_and_terminator)
{
	struct util_buf b;
	size_t i;

	util_buf_init(&b);
	/* Far past the initial capacity to force several reallocations. */
	for (i = 0; i < 10000; i++) {
		char c = (char)('a' + i % 26);

		util_buf_append(&b, &c, 1);
		cr_assert_eq(b.len, i + 1);
		cr_assert(b.cap > b.len);
		cr_assert_eq(b.data[b.len], '\0');
	}
	for (i = 0; i < 10000; i++)
		cr_assert_eq(b.data[i], (char)('a' + i % 26));
	util_buf_free(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
}

Test(buf, printf_appends)
{
	struct util_buf b;
	char big[500];
	char *s;

	util_buf_init(&b);
	util_buf_puts(&b, "x=");
	util_buf_printf(&b, "%d,%s", 7, "y");
	cr_assert_str_eq(b.data, "x=7,y");
	cr_assert_eq(b.len, 5);
	/* Larger than the current capacity: vprintf must reserve first. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	util_buf_printf(&b, "[%s]", big);
	cr_assert_eq(b.len, 5 + 2 + sizeof(big) - 1);
	cr_assert_eq(b.data[5], '[');
	cr_assert_eq(b.data[b.len - 1], ']');
	cr_assert_eq(b.data[b.len], '\0');
	util_buf_printf(&b, "%s", "");
	cr_assert_eq(b.len, 5 + 2 + sizeof(big) - 1);
	s = util_buf_steal(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	cr_assert_eq(strncmp(s, "x=7,y[qq", 8), 0);
	free(s);
}

Test(buf, binary_append_and_reset)
{
	struct util_buf b;
	const unsigned char bin[] = { 0, 1, 0, 0xff, 0 };

	util_buf_init(&b);
	util_buf_append(&b, bin, sizeof(bin));
	cr_assert_eq(b.len, sizeof(bin));
	cr_assert_eq(memcmp(b.data, bin, sizeof(bin)), 0);
	cr_assert_eq(b.data[b.len], '\0');
	util_buf_append(&b, NULL, 0);
	cr_assert_eq(b.len, sizeof(bin));
	util_buf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(b.data, "");
	util_buf_puts(&b, "again");
	cr_assert_str_eq(b.data, "again");
	util_buf_free(&b);
	/* Reset of a never-used buffer must not touch a NULL pointer. */
	util_buf_reset(&b);
	cr_assert_null(b.data);
}

Test(buf, reserve_leaves_length)
{
	struct util_buf b;

	util_buf_init(&b);
	util_buf_reserve(&b, 1000);
	cr_assert_geq(b.cap, 1001);
	cr_assert_eq(b.len, 0);
	util_buf_free(&b);
}

/* --- number parsing ----------------------------------------------------- */

Test(parse_i64, valid)
{
	int64_t v;

	cr_assert_eq(util_parse_i64("0", &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(util_parse_i64("-42", &v), 0);
	cr_assert_eq(v, -42);
	cr_assert_eq(util_parse_i64("+17", &v), 0);
	cr_assert_eq(v, 17);
	cr_assert_eq(util_parse_i64("9223372036854775807", &v), 0);
	cr_assert_eq(v, INT64_MAX);
	cr_assert_eq(util_parse_i64("-9223372036854775808", &v), 0);
	cr_assert_eq(v, INT64_MIN);
}

Test(parse_i64, invalid)
{
	static const char *const bad[] = {
		"", " 1", "1 ", "1x", "x", "-", "+", "--1", "0x10", "1.5",
	};
	int64_t v = 99;
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
		errno = 0;
		cr_assert_eq(util_parse_i64(bad[i], &v), -1, "'%s'", bad[i]);
		cr_assert_eq(errno, EINVAL, "'%s'", bad[i]);
	}
	errno = 0;
	cr_assert_eq(util_parse_i64(NULL, &v), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(v, 99);
}

Test(parse_i64, overflow)
{
	int64_t v = 99;

	errno = 0;
	cr_assert_eq(util_parse_i64("9223372036854775808", &v), -1);
	cr_assert_eq(errno, ERANGE);
	errno = 0;
	cr_assert_eq(util_parse_i64("-9223372036854775809", &v), -1);
	cr_assert_eq(errno, ERANGE);
	cr_assert_eq(v, 99);
}

Test(parse_u64, valid)
{
	uint64_t v;

	cr_assert_eq(util_parse_u64("0", &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(util_parse_u64("007", &v), 0);
	cr_assert_eq(v, 7);
	cr_assert_eq(util_parse_u64("18446744073709551615", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
}

Test(parse_u64, signs_and_junk)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1x", "x", "-0", "0x1",
	};
	uint64_t v = 99;
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
		errno = 0;
		cr_assert_eq(util_parse_u64(bad[i], &v), -1, "'%s'", bad[i]);
		cr_assert_eq(errno, EINVAL, "'%s'", bad[i]);
	}
	cr_assert_eq(util_parse_u64(NULL, &v), -1);
	cr_assert_eq(v, 99);
}

Test(parse_u64, overflow)
{
	uint64_t v = 99;

	errno = 0;
	cr_assert_eq(util_parse_u64("18446744073709551616", &v), -1);
	cr_assert_eq(errno, ERANGE);
	cr_assert_eq(v, 99);
}

Test(parse_size, suffixes)
{
	uint64_t v;

	cr_assert_eq(util_parse_size("0", &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(util_parse_size("0K", &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(util_parse_size("123", &v), 0);
	cr_assert_eq(v, 123);
	cr_assert_eq(util_parse_size("4K", &v), 0);
	cr_assert_eq(v, 4096);
	cr_assert_eq(util_parse_size("4k", &v), 0);
	cr_assert_eq(v, 4096);
	cr_assert_eq(util_parse_size("128M", &v), 0);
	cr_assert_eq(v, 128ull << 20);
	cr_assert_eq(util_parse_size("3G", &v), 0);
	cr_assert_eq(v, 3ull << 30);
	cr_assert_eq(util_parse_size("2t", &v), 0);
	cr_assert_eq(v, 2ull << 40);
	cr_assert_eq(util_parse_size("16777215T", &v), 0);
	cr_assert_eq(v, 16777215ull << 40);
	cr_assert_eq(util_parse_size("18446744073709551615", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
}

Test(parse_size, overflow)
{
	uint64_t v = 99;

	errno = 0;
	cr_assert_eq(util_parse_size("16777216T", &v), -1);
	cr_assert_eq(errno, ERANGE);
	errno = 0;
	cr_assert_eq(util_parse_size("17179869184G", &v), -1);
	cr_assert_eq(errno, ERANGE);
	errno = 0;
	cr_assert_eq(util_parse_size("18446744073709551616", &v), -1);
	cr_assert_eq(errno, ERANGE);
	cr_assert_eq(v, 99);
}

Test(parse_size, bad)
{
	static const char *const bad[] = {
		"", "K", "M", "1KB", "1X", "1B", "-1K", "+1", " 1K", "1 K",
		"1.5M", "KK", "1KK",
		/* Longer than any 64-bit number: refused before parsing. */
		"000000000000000000000000000000000001",
	};
	uint64_t v = 99;
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
		errno = 0;
		cr_assert_eq(util_parse_size(bad[i], &v), -1, "'%s'", bad[i]);
		cr_assert_eq(errno, EINVAL, "'%s'", bad[i]);
	}
	cr_assert_eq(util_parse_size(NULL, &v), -1);
	cr_assert_eq(v, 99);
}

/* --- host:port ---------------------------------------------------------- */

struct hp_case {
	const char *in;
	const char *host;
	uint16_t port;
};

Test(parse_hostport, valid)
{
	static const struct hp_case ok[] = {
		{ "example.org:80", "example.org", 80 },
		{ "10.0.0.1:65535", "10.0.0.1", 65535 },
		{ "[::1]:1600", "::1", 1600 },
		{ "[fe80::1%eth0]:1", "fe80::1%eth0", 1 },
		{ "[::1]", "::1", 9999 },
		{ "::1", "::1", 9999 },
		{ "2001:db8::5", "2001:db8::5", 9999 },
		{ "hostonly", "hostonly", 9999 },
		{ ":1234", "default", 1234 },
		{ "", "default", 9999 },
	};
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(ok); i++) {
		char host[64] = "default";
		uint16_t port = 9999;

		cr_assert_eq(util_parse_hostport(ok[i].in, host, sizeof(host),
						 &port), 0, "'%s'", ok[i].in);
		cr_assert_str_eq(host, ok[i].host, "'%s'", ok[i].in);
		cr_assert_eq(port, ok[i].port, "'%s'", ok[i].in);
	}
}

Test(parse_hostport, bad_ports)
{
	static const char *const bad[] = {
		"h:0", "h:65536", "h:abc", "h:", "h:-1", "h:+80", "h:80x",
		"h: 80", "[::1]:0", "[::1]:", "[::1]x", "[::1]:70000", ":0",
		"[::1", "h:99999999999999999999",
	};
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
		char host[64] = "default";
		uint16_t port = 9999;

		errno = 0;
		cr_assert_eq(util_parse_hostport(bad[i], host, sizeof(host),
						 &port), -1, "'%s'", bad[i]);
		cr_assert_eq(errno, EINVAL, "'%s'", bad[i]);
		cr_assert_str_eq(host, "default", "'%s'", bad[i]);
	}
}

Test(parse_hostport, host_too_long)
{
	char host[8] = "default";
	uint16_t port = 9999;

	errno = 0;
	cr_assert_eq(util_parse_hostport("12345678:80", host, sizeof(host),
					 &port), -1);
	cr_assert_eq(errno, ENAMETOOLONG);
	cr_assert_str_eq(host, "default");
	/* size-1 characters is the longest accepted host. */
	cr_assert_eq(util_parse_hostport("1234567:80", host, sizeof(host),
					 &port), 0);
	cr_assert_str_eq(host, "1234567");
	cr_assert_eq(port, 80);
	errno = 0;
	cr_assert_eq(util_parse_hostport("[1:2:3:4:5]:80", host, sizeof(host),
					 &port), -1);
	cr_assert_eq(errno, ENAMETOOLONG);
}

/* --- full I/O ----------------------------------------------------------- */

Test(io, write_read_full_pipe)
{
	int fds[2];
	char out[300], in[400];
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (char)i;
	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(util_write_full(fds[1], out, sizeof(out)), 0);
	cr_assert_eq(util_write_full(fds[1], out, 0), 0);
	close(fds[1]);
	/* Asking for more than was written: short count at EOF, not an error. */
	cr_assert_eq(util_read_full(fds[0], in, sizeof(in)), (ssize_t)sizeof(out));
	cr_assert_eq(memcmp(in, out, sizeof(out)), 0);
	cr_assert_eq(util_read_full(fds[0], in, sizeof(in)), 0);
	close(fds[0]);
}

Test(io, read_full_exact_then_rest)
{
	int fds[2];
	char in[4];

	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(util_write_full(fds[1], "abcdef", 6), 0);
	close(fds[1]);
	cr_assert_eq(util_read_full(fds[0], in, 4), 4);
	cr_assert_eq(memcmp(in, "abcd", 4), 0);
	cr_assert_eq(util_read_full(fds[0], in, 4), 2);
	cr_assert_eq(memcmp(in, "ef", 2), 0);
	close(fds[0]);
}

/* A pipe's buffer is 64 KiB: a bigger write only completes while a reader
 * drains it, which exercises the short-write loop. */
Test(io, large_transfer_through_child)
{
	enum { SZ = 1 << 20 };
	int fds[2];
	char *out = util_xmalloc(SZ), *in = util_xmalloc(SZ);
	pid_t pid;
	size_t i;
	int status;

	for (i = 0; i < SZ; i++)
		out[i] = (char)(i * 7);
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(util_write_full(fds[1], out, SZ) == 0 ? 0 : 1);
	}
	close(fds[1]);
	cr_assert_eq(util_read_full(fds[0], in, SZ), SZ);
	cr_assert_eq(memcmp(in, out, SZ), 0);
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(out);
	free(in);
}

Test(io, errors)
{
	char c;

	errno = 0;
	cr_assert_eq(util_read_full(-1, &c, 1), -1);
	cr_assert_eq(errno, EBADF);
	errno = 0;
	cr_assert_eq(util_write_full(-1, "x", 1), -1);
	cr_assert_eq(errno, EBADF);
}

/* --- mkdir -p ----------------------------------------------------------- */

static char tmpdir[] = "/tmp/test_util.XXXXXX";

static void mk_setup(void)
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

static void mk_teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

Test(mkdir_p, nested, .init = mk_setup, .fini = mk_teardown)
{
	char path[256];
	struct stat st;

	cr_assert_eq(util_snprintf(path, sizeof(path), "%s/a/b/c", tmpdir), 0);
	cr_assert_eq(util_mkdir_p(path, 0750), 0);
	cr_assert(is_dir(path));
	cr_assert_eq(stat(path, &st), 0);
	/* The umask may only remove bits. */
	cr_assert_eq(st.st_mode & 07027, 0);
	/* Existing directories are fine, and so are trailing/double slashes. */
	cr_assert_eq(util_mkdir_p(path, 0750), 0);
	cr_assert_eq(util_snprintf(path, sizeof(path), "%s/a//d/e/", tmpdir), 0);
	cr_assert_eq(util_mkdir_p(path, 0755), 0);
	cr_assert_eq(util_snprintf(path, sizeof(path), "%s/a/d/e", tmpdir), 0);
	cr_assert(is_dir(path));
}

Test(mkdir_p, relative, .init = mk_setup, .fini = mk_teardown)
{
	char cwd[4096];

	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(tmpdir), 0);
	cr_assert_eq(util_mkdir_p("x/y", 0700), 0);
	cr_assert(is_dir("x/y"));
	cr_assert_eq(chdir(cwd), 0);
}

Test(mkdir_p, file_in_the_way, .init = mk_setup, .fini = mk_teardown)
{
	char file[256], path[256];
	FILE *f;

	cr_assert_eq(util_snprintf(file, sizeof(file), "%s/f", tmpdir), 0);
	f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(util_snprintf(path, sizeof(path), "%s/sub", file), 0);
	errno = 0;
	cr_assert_eq(util_mkdir_p(path, 0700), -1);
	cr_assert_eq(errno, ENOTDIR);
	/* The last component existing as a file is not a directory either. */
	errno = 0;
	cr_assert_eq(util_mkdir_p(file, 0700), -1);
	cr_assert_eq(errno, ENOTDIR);
}

Test(mkdir_p, empty_path)
{
	errno = 0;
	cr_assert_eq(util_mkdir_p("", 0700), -1);
	cr_assert_eq(errno, ENOENT);
}

/* --- clocks ------------------------------------------------------------- */

Test(clock, monotonic_advances)
{
	uint64_t a = util_now_mono_ns(), b;

	b = util_now_mono_ns();
	cr_assert_geq(b, a);
	/* Any plausible wall clock is after 2020. */
	cr_assert_gt(util_now_real_ns(), 1577836800ull * 1000000000ull);
}
