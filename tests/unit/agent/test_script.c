#include "config.h"

#include "script.h"
#include "evloop.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- fixture -------------------------------------------------------------- */

#define MAX_LINES 8192

struct coll {
	char *line[MAX_LINES];
	bool is_err[MAX_LINES];
	size_t n;
	int done_calls;
	size_t n_at_done;
	struct script_result res;
	struct script_run *cancel_me;	/* cancelled from the first line */
	bool cancel_done;
};

static char base[64];
static struct evloop *L;
static struct coll C;

static void setup(void)
{
	umask(022);
	util_strlcpy(base, "/tmp/ditto-script-XXXXXX", sizeof(base));
	cr_assert_not_null(mkdtemp(base));
	L = evloop_new();
	cr_assert_not_null(L);
	memset(&C, 0, sizeof(C));
}

/* Idempotent: a skipped test calls it itself, as Criterion then skips it. */
static void teardown(void)
{
	char cmd[160];

	for (size_t i = 0; i < C.n; i++)
		free(C.line[i]);
	C.n = 0;
	evloop_free(L);
	L = NULL;
	if (base[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", base);
	base[0] = '\0';
}

TestSuite(script, .init = setup, .fini = teardown, .timeout = 30);

static void on_line(void *ctx, bool is_stderr, const char *line)
{
	struct coll *c = ctx;

	cr_assert_lt(c->n, MAX_LINES);
	cr_assert_eq(c->done_calls, 0, "line after completion: %s", line);
	c->line[c->n] = util_xstrdup(line);
	c->is_err[c->n] = is_stderr;
	c->n++;
	if (c->cancel_me != NULL) {
		script_cancel(c->cancel_me);
		c->cancel_me = NULL;
		c->cancel_done = true;
	}
}

static void on_done(void *ctx, const struct script_result *r)
{
	struct coll *c = ctx;

	c->done_calls++;
	c->n_at_done = c->n;
	c->res = *r;
}

/* Path of name in the fixture directory (static buffer per call slot). */
static const char *P(const char *name)
{
	static char buf[4][256];
	static int slot;
	char *p = buf[slot++ % 4];

	snprintf(p, 256, "%s/%s", base, name);
	return p;
}

static void write_file(const char *path, const void *data, size_t len,
		       mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(util_write_full(fd, data, len), 0);
	close(fd);
	/* explicit chmod: the umask must not decide the mode under test */
	cr_assert_eq(chmod(path, mode), 0);
}

/* A /bin/sh script; returns its path (copied to a static slot). */
static const char *script(const char *name, const char *body, mode_t mode)
{
	const char *path = P(name);
	char *text = util_xasprintf("#!/bin/sh\n%s\n", body);

	write_file(path, text, strlen(text), mode);
	free(text);
	return path;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct util_buf b;
	char tmp[4096];
	size_t n;

	cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
	util_buf_init(&b);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		util_buf_append(&b, tmp, n);
	fclose(f);
	if (len != NULL)
		*len = b.len;
	return util_buf_steal(&b);
}

static void run_until_done(uint64_t max_ms)
{
	uint64_t end = util_now_mono_ns() / 1000000 + max_ms;

	while (C.done_calls == 0) {
		cr_assert_lt(util_now_mono_ns() / 1000000, end,
			     "script did not complete within %llu ms",
			     (unsigned long long)max_ms);
		cr_assert_eq(evloop_run_once(L, 50), 0);
	}
}

static void run_for(uint64_t ms)
{
	uint64_t end = util_now_mono_ns() / 1000000 + ms;

	while (util_now_mono_ns() / 1000000 < end)
		cr_assert_eq(evloop_run_once(L, 20), 0);
}

/* Starts path and waits for completion; asserts it was accepted. */
static void run(const char *path, const char *const *args, size_t nargs,
		const char *const *env, size_t nenv, unsigned timeout_ms)
{
	char err[512] = "";
	struct script_run *r;

	r = script_start(L, path, args, nargs, env, nenv, timeout_ms, on_line,
			 on_done, &C, err, sizeof(err));
	cr_assert_not_null(r, "script_start: %s", err);
	run_until_done(15000);
	cr_assert_eq(C.done_calls, 1);
	cr_assert_eq(C.n_at_done, C.n);
}

static bool pid_alive(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	bool alive;

	if (kill(pid, 0) < 0)
		return false;
	/* An orphan the namespace's init has not reaped yet is dead too. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	alive = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (alive) {
		char *rp = strrchr(buf, ')');

		alive = rp == NULL || (rp[1] == ' ' && rp[2] != 'Z' &&
				       rp[2] != 'X');
	}
	return alive;
}

/* Waits up to ms for pid to be gone. */
static bool pid_gone_within(pid_t pid, unsigned ms)
{
	for (unsigned i = 0; i < ms / 20; i++) {
		if (!pid_alive(pid))
			return true;
		usleep(20000);
	}
	return !pid_alive(pid);
}

static pid_t read_pid(const char *path)
{
	char *s;
	int64_t v;
	char *nl;

	for (int i = 0; i < 200 && access(path, F_OK) != 0; i++)
		usleep(10000);
	s = slurp(path, NULL);
	nl = strchr(s, '\n');
	if (nl != NULL)
		*nl = '\0';
	cr_assert_eq(util_parse_i64(s, &v), 0, "pid file holds \"%s\"", s);
	free(s);
	return (pid_t)v;
}

/* --- exit status, signals ------------------------------------------------- */

Test(script, exit_codes)
{
	run(script("seven", "exit 7", 0755), NULL, 0, NULL, 0, 0);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 7);
	cr_assert_eq(C.res.err, 0);
	cr_assert_gt(C.res.pid, 0);

	memset(&C, 0, sizeof(C));
	run(script("zero", "true", 0755), NULL, 0, NULL, 0, 0);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 0);
}

Test(script, signal_ignored_by_agent_is_default_in_child)
{
	/* The agent ignores SIGPIPE; whatever it ignores must not carry over. */
	cr_assert_neq(signal(SIGUSR1, SIG_IGN), SIG_ERR);
	run(script("usr1", "kill -USR1 $$\nsleep 5\nexit 3", 0755), NULL, 0,
	    NULL, 0, 0);
	signal(SIGUSR1, SIG_DFL);
	cr_assert_eq(C.res.how, SCRIPT_SIGNALED, "how %d status %d",
		     C.res.how, C.res.status);
	cr_assert_eq(C.res.status, SIGUSR1);
}

static void ignore_sig(struct evloop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	(void)arg;
}

static bool comm_is(pid_t pid, const char *want)
{
	char path[64], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return strcmp(buf, want) == 0;
}

Test(script, signal_blocked_by_agent_is_unblocked_in_child)
{
	char err[512] = "";
	struct script_run *r;
	pid_t pid;
	int i;

	/* The loop blocks SIGTERM for its signalfd, as the agent's does; sleep
	 * (unlike a shell) leaves its inherited mask alone. */
	cr_assert_eq(evloop_signal_add(L, SIGTERM, ignore_sig, NULL), 0);
	r = script_start(L, script("term", "exec sleep 5", 0755), NULL, 0, NULL,
			 0, 0, on_line, on_done, &C, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	pid = script_pid(r);
	for (i = 0; i < 200 && !comm_is(pid, "sleep"); i++)
		usleep(10000);
	cr_assert_lt(i, 200, "never became sleep");
	cr_assert_eq(kill(pid, SIGTERM), 0);
	run_until_done(10000);
	cr_assert_eq(C.res.how, SCRIPT_SIGNALED, "how %d status %d",
		     C.res.how, C.res.status);
	cr_assert_eq(C.res.status, SIGTERM);
	cr_assert_lt(C.res.elapsed_ms, 4000);
}

/* Straight from the kernel, in a program that does not touch its signals
 * (a shell may reset some itself and hide the inherited state). */
Test(script, signal_mask_and_ignored_set_empty_in_child)
{
	cr_assert_eq(evloop_signal_add(L, SIGTERM, ignore_sig, NULL), 0);
	cr_assert_eq(evloop_signal_add(L, SIGHUP, ignore_sig, NULL), 0);
	cr_assert_neq(signal(SIGPIPE, SIG_IGN), SIG_ERR);
	run(script("mask", "exec grep -E '^Sig(Blk|Ign):' /proc/self/status",
		   0755),
	    NULL, 0, NULL, 0, 0);
	signal(SIGPIPE, SIG_DFL);
	cr_assert_eq(C.n, 2);
	cr_assert_str_eq(C.line[0], "SigBlk: 0000000000000000");
	/* Signals 32 and 33 belong to the C library (its thread
	 * cancellation): sigaction refuses them, so a disposition the test
	 * runner left there is inherited whatever the runner does. */
	cr_assert_eq(strncmp(C.line[1], "SigIgn: ", 8), 0);
	cr_assert_eq(strtoull(C.line[1] + 8, NULL, 16) & ~0x180000000ull, 0,
		     "%s", C.line[1]);
}

Test(script, start_failure_reported_through_done)
{
	const char *noshebang = P("noshebang");
	const char *text = "echo hi\n";

	write_file(noshebang, text, strlen(text), 0755);
	run(noshebang, NULL, 0, NULL, 0, 0);
	cr_assert_eq(C.res.how, SCRIPT_START_FAILED);
	cr_assert_eq(C.res.err, ENOEXEC, "err %d", C.res.err);
	cr_assert_eq(C.n, 0);

	memset(&C, 0, sizeof(C));
	text = "#!/nonexistent/interpreter\n";
	write_file(P("badinterp"), text, strlen(text), 0755);
	run(P("badinterp"), NULL, 0, NULL, 0, 0);
	cr_assert_eq(C.res.how, SCRIPT_START_FAILED);
	cr_assert_eq(C.res.err, ENOENT, "err %d", C.res.err);
}

/* --- arguments and environment --------------------------------------------- */

Test(script, arguments_arrive_verbatim)
{
	char marker[256];
	char envout[300];
	const char *env[1];
	const char *args[] = {
		"with space",
		"$(touch MARKER)",
		"`touch MARKER`",
		"; touch MARKER",
		"| touch MARKER",
		"*",
		"'\"\\",
		"",
		"new\nline",
		"$HOME ${PATH} $$",
		"-x",
		"--opt=a b",
	};
	size_t nargs = UTIL_ARRAY_SIZE(args);
	const char *path;
	char *data;
	size_t len, off = 0;

	snprintf(marker, sizeof(marker), "%s/MARKER", base);
	snprintf(envout, sizeof(envout), "DITTO_OUT=%s", P("args.out"));
	env[0] = envout;
	path = script("args", "cd \"$(dirname \"$DITTO_OUT\")\"\n"
			      "printf '%s\\0' \"$0\" \"$#\" \"$@\" > \"$DITTO_OUT\"",
		      0755);
	run(path, args, nargs, env, 1, 0);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 0);

	data = slurp(P("args.out"), &len);
	/* $0, $#, then each argument, NUL-terminated */
	cr_assert_str_eq(data + off, path);
	off += strlen(data + off) + 1;
	cr_assert_eq(atoi(data + off), (int)nargs);
	off += strlen(data + off) + 1;
	for (size_t i = 0; i < nargs; i++) {
		cr_assert_lt(off, len, "argument %zu missing", i);
		cr_assert_str_eq(data + off, args[i], "argument %zu", i);
		off += strlen(data + off) + 1;
	}
	cr_assert_eq(off, len);
	free(data);
	cr_assert_neq(access(marker, F_OK), 0, "an argument was run by a shell");
}

static bool has_line(const char *data, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = data; *p; p = strchr(p, '\n') + 1) {
		if (strncmp(p, line, n) == 0 && p[n] == '\n')
			return true;
		if (strchr(p, '\n') == NULL)
			break;
	}
	return false;
}

Test(script, environment_is_clean_and_given)
{
	char envout[300];
	const char *env[3];
	char *data;
	size_t lines = 0;

	cr_assert_eq(setenv("DITTO_TEST_LEAK", "must-not-appear", 1), 0);
	snprintf(envout, sizeof(envout), "DITTO_OUT=%s", P("env.out"));
	env[0] = envout;
	env[1] = "DITTO_VALUE=a b;$(x) 'q'";
	env[2] = "_X1=";
	run(script("env", "exec env > \"$DITTO_OUT\"", 0755), NULL, 0, env, 3,
	    0);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 0);
	data = slurp(P("env.out"), NULL);
	cr_assert(has_line(data, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"), "%s", data);
	cr_assert(has_line(data, "LANG=C"), "%s", data);
	cr_assert(has_line(data, envout), "%s", data);
	cr_assert(has_line(data, "DITTO_VALUE=a b;$(x) 'q'"), "%s", data);
	cr_assert(has_line(data, "_X1="), "%s", data);
	for (const char *p = data; *p; p++)
		if (*p == '\n')
			lines++;
	/* dash adds PWD for its children; nothing else may be there */
	cr_assert(lines == 5 || (lines == 6 && has_line(data, "PWD=/")),
		  "unexpected environment:\n%s", data);
	cr_assert_null(strstr(data, "DITTO_TEST_LEAK"));
	free(data);
}

Test(script, environment_caller_overrides_base)
{
	char envout[300];
	const char *env[2];
	char *data;

	snprintf(envout, sizeof(envout), "DITTO_OUT=%s", P("env.out"));
	env[0] = envout;
	env[1] = "LANG=en_US.UTF-8";
	run(script("env", "exec env > \"$DITTO_OUT\"", 0755), NULL, 0, env, 2,
	    0);
	data = slurp(P("env.out"), NULL);
	cr_assert(has_line(data, "LANG=en_US.UTF-8"), "%s", data);
	cr_assert(!has_line(data, "LANG=C"), "%s", data);
	free(data);
}

Test(script, environment_entries_validated)
{
	const char *bad[] = {
		"lower=x", "1ABC=x", "A-B=x", "NOEQUALS", "=x", "A B=x",
		"Ab=x", "LD_PRELOAD=/tmp/x.so", "LD_LIBRARY_PATH=/tmp",
	};
	char marker[256];
	char body[400];
	const char *path;

	snprintf(marker, sizeof(marker), "%s/ran", base);
	snprintf(body, sizeof(body), "touch '%s'", marker);
	path = script("marker", body, 0755);
	for (size_t i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
		const char *env[2] = { "GOOD=1", bad[i] };
		char err[512] = "";

		cr_assert_null(script_start(L, path, NULL, 0, env, 2, 0, on_line,
					    on_done, &C, err, sizeof(err)),
			       "accepted %s", bad[i]);
		cr_assert_eq(errno, EINVAL);
		cr_assert_neq(err[0], '\0');
	}
	{
		const char *dup[2] = { "A=1", "A=2" };
		const char *nul[2] = { "A=1", NULL };
		char err[512] = "";

		cr_assert_null(script_start(L, path, NULL, 0, dup, 2, 0, on_line,
					    on_done, &C, err, sizeof(err)));
		cr_assert_not_null(strstr(err, "twice"), "%s", err);
		cr_assert_null(script_start(L, path, NULL, 0, nul, 2, 0, on_line,
					    on_done, &C, err, sizeof(err)));
		cr_assert_null(script_start(L, path, nul + 1, 1, NULL, 0, 0,
					    on_line, on_done, &C, err,
					    sizeof(err)));
	}
	run_for(200);
	cr_assert_eq(C.done_calls, 0);
	cr_assert_neq(access(marker, F_OK), 0, "a refused script ran");
}

/* --- output ------------------------------------------------------------------ */

Test(script, lines_in_order_and_before_completion)
{
	const char *out[] = { "o1", "o2", "o3 with  spaces", "tail" };
	const char *err[] = { "e1", "e2" };
	size_t no = 0, ne = 0;

	run(script("lines", "echo o1\necho e1 >&2\necho o2\necho e2 >&2\n"
			    "echo 'o3 with  spaces'\nprintf tail\nexit 2",
		   0755),
	    NULL, 0, NULL, 0, 0);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 2);
	for (size_t i = 0; i < C.n; i++) {
		if (C.is_err[i]) {
			cr_assert_lt(ne, UTIL_ARRAY_SIZE(err));
			cr_assert_str_eq(C.line[i], err[ne]);
			ne++;
		} else {
			cr_assert_lt(no, UTIL_ARRAY_SIZE(out));
			cr_assert_str_eq(C.line[i], out[no]);
			no++;
		}
	}
	cr_assert_eq(no, UTIL_ARRAY_SIZE(out));
	cr_assert_eq(ne, UTIL_ARRAY_SIZE(err));
}

Test(script, many_lines_all_delivered_in_order)
{
	run(script("many", "i=0\nwhile [ $i -lt 3000 ]; do\n"
			   "  echo \"line $i\"\n  echo \"err $i\" >&2\n"
			   "  i=$((i+1))\ndone",
		   0755),
	    NULL, 0, NULL, 0, 0);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 0);
	cr_assert_eq(C.n, 6000);
	{
		int no = 0, ne = 0;

		for (size_t i = 0; i < C.n; i++) {
			char want[32];

			if (C.is_err[i])
				snprintf(want, sizeof(want), "err %d", ne++);
			else
				snprintf(want, sizeof(want), "line %d", no++);
			cr_assert_str_eq(C.line[i], want);
		}
	}
}

Test(script, control_characters_replaced)
{
	const char data[] = "a\tb\033[0mc\001d\r\n"
			    "x\ry\n"
			    "n\0u\n"
			    "del\x7f" "end\n"
			    "utf8 \xc3\xa9\n"
			    "crlf\r\n";
	char envin[300];
	const char *env[1];

	write_file(P("in"), data, sizeof(data) - 1, 0644);
	snprintf(envin, sizeof(envin), "DITTO_IN=%s", P("in"));
	env[0] = envin;
	run(script("ctl", "exec cat \"$DITTO_IN\"", 0755), NULL, 0, env, 1, 0);
	cr_assert_eq(C.n, 6);
	cr_assert_str_eq(C.line[0], "a b?[0mc?d");
	cr_assert_str_eq(C.line[1], "x?y");
	cr_assert_str_eq(C.line[2], "n?u");
	cr_assert_str_eq(C.line[3], "del?end");
	cr_assert_str_eq(C.line[4], "utf8 \xc3\xa9");
	cr_assert_str_eq(C.line[5], "crlf");
}

Test(script, long_lines_cut_with_note)
{
	struct util_buf b;
	char envin[300];
	const char *env[1];
	char *expect;

	util_buf_init(&b);
	for (int i = 0; i < 3000; i++)
		util_buf_append(&b, "x", 1);
	util_buf_puts(&b, "\nafter\n");
	for (unsigned i = 0; i < SCRIPT_LINE_MAX; i++)
		util_buf_append(&b, "y", 1);
	util_buf_puts(&b, "\n"); /* exactly the limit: kept whole */
	for (unsigned i = 0; i < SCRIPT_LINE_MAX; i++)
		util_buf_append(&b, "z", 1);
	util_buf_puts(&b, "\r\n"); /* the limit plus CRLF: kept whole */
	for (unsigned i = 0; i <= SCRIPT_LINE_MAX; i++)
		util_buf_append(&b, "w", 1);
	util_buf_puts(&b, "\r\n"); /* one over, CRLF: one byte cut */
	for (int i = 0; i < 200000; i++)
		util_buf_append(&b, "v", 1); /* unterminated, spans reads */
	write_file(P("in"), b.data, b.len, 0644);
	util_buf_free(&b);
	snprintf(envin, sizeof(envin), "DITTO_IN=%s", P("in"));
	env[0] = envin;
	run(script("long", "cat \"$DITTO_IN\"\ncat \"$DITTO_IN\" >&2", 0755),
	    NULL, 0, env, 1, 0);
	cr_assert_eq(C.n, 12);
	for (size_t k = 0; k < 2; k++) {
		const char *l[6];
		size_t j = 0;

		for (size_t i = 0; i < C.n; i++)
			if (C.is_err[i] == (k == 1))
				l[j++] = C.line[i];
		cr_assert_eq(j, 6);
		expect = util_xmalloc(SCRIPT_LINE_MAX + 64);
		memset(expect, 'x', SCRIPT_LINE_MAX);
		snprintf(expect + SCRIPT_LINE_MAX, 64,
			 " [line cut: %u bytes dropped]",
			 3000 - SCRIPT_LINE_MAX);
		cr_assert_str_eq(l[0], expect);
		free(expect);
		cr_assert_str_eq(l[1], "after");
		cr_assert_eq(strlen(l[2]), SCRIPT_LINE_MAX);
		cr_assert_eq(strspn(l[2], "y"), SCRIPT_LINE_MAX);
		cr_assert_eq(strlen(l[3]), SCRIPT_LINE_MAX);
		cr_assert_eq(strspn(l[3], "z"), SCRIPT_LINE_MAX);
		cr_assert_eq(strspn(l[4], "w"), SCRIPT_LINE_MAX);
		cr_assert_str_eq(l[4] + SCRIPT_LINE_MAX,
				 " [line cut: 1 bytes dropped]");
		cr_assert_eq(strspn(l[5], "v"), SCRIPT_LINE_MAX);
		cr_assert_str_eq(l[5] + SCRIPT_LINE_MAX,
				 " [line cut: 198976 bytes dropped]");
	}
}

Test(script, stdin_is_dev_null_and_cwd_is_root)
{
	run(script("stdin", "if read x; then echo \"read:$x\"; else echo eof; fi\n"
			    "pwd",
		   0755),
	    NULL, 0, NULL, 0, 0);
	cr_assert_eq(C.n, 2);
	cr_assert_str_eq(C.line[0], "eof");
	cr_assert_str_eq(C.line[1], "/");
}

/* --- file descriptors ------------------------------------------------------ */

Test(script, no_fd_leaks_into_child)
{
	int p[2];
	int leak;
	int hi;
	size_t fds = 0;

	/* Descriptors the agent might hold without close-on-exec. */
	write_file(P("leakmarker"), "x", 1, 0644);
	leak = open(P("leakmarker"), O_RDONLY);
	cr_assert_geq(leak, 0);
	cr_assert_eq(pipe(p), 0);
	hi = dup2(leak, 200);
	cr_assert_eq(hi, 200);
	cr_assert_eq(fcntl(leak, F_GETFD) & FD_CLOEXEC, 0);

	run(script("fds", "exec ls -l /proc/self/fd", 0755), NULL, 0, NULL, 0,
	    0);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 0);
	for (size_t i = 0; i < C.n; i++) {
		const char *arrow = strstr(C.line[i], " -> ");
		const char *num;
		int fd;

		if (arrow == NULL)
			continue; /* "total 0" */
		num = arrow;
		while (num > C.line[i] && num[-1] != ' ')
			num--;
		fd = atoi(num);
		fds++;
		cr_assert_null(strstr(arrow, "leakmarker"), "%s", C.line[i]);
		if (fd == 0) {
			cr_assert_str_eq(arrow + 4, "/dev/null");
		} else if (fd == 1 || fd == 2) {
			cr_assert_eq(strncmp(arrow + 4, "pipe:", 5), 0, "%s",
				     C.line[i]);
		} else {
			/* only ls's own handle on the directory it lists */
			const char *t = arrow + 4;
			size_t tl = strlen(t);

			cr_assert(strncmp(t, "/proc/", 6) == 0 && tl > 3 &&
					  strcmp(t + tl - 3, "/fd") == 0,
				  "leaked fd: %s", C.line[i]);
		}
	}
	cr_assert_geq(fds, 3);
	cr_assert_leq(fds, 4);
	close(leak);
	close(hi);
	close(p[0]);
	close(p[1]);
}

/* An agent may run with 0-2 closed: its pipe ends then land there, and the
 * child must still get them on the right numbers. */
Test(script, parent_with_closed_stdio)
{
	int saved[3];

	for (int i = 0; i < 3; i++) {
		saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
		cr_assert_geq(saved[i], 0);
	}
	for (int i = 0; i < 3; i++)
		close(i);
	run(script("stdio", "if read x; then echo \"in:$x\"; else echo noin; fi\n"
			    "echo out\necho err >&2\n"
			    "ls -l /proc/$$/fd/0 | sed 's/.* -> //'",
		   0755),
	    NULL, 0, NULL, 0, 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(dup2(saved[i], i), i);
		close(saved[i]);
	}
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 0);
	cr_assert_eq(C.n, 4);
	/* stdout's lines in order; stderr's one anywhere among them (two
	 * pipes: no order between them). */
	{
		const char *want[] = { "noin", "out", "/dev/null" };
		int k = 0, errs = 0;

		for (size_t i = 0; i < C.n; i++) {
			if (C.is_err[i]) {
				cr_assert_str_eq(C.line[i], "err");
				errs++;
			} else {
				cr_assert_lt(k, 3);
				cr_assert_str_eq(C.line[i], want[k]);
				k++;
			}
		}
		cr_assert_eq(errs, 1);
		cr_assert_eq(k, 3);
	}
}

/* --- timeouts ------------------------------------------------------------------ */

Test(script, timeout_kills_script_and_grandchild)
{
	char envout[300];
	const char *env[1];
	pid_t gc;

	snprintf(envout, sizeof(envout), "DITTO_OUT=%s", P("gc.pid"));
	env[0] = envout;
	run(script("slow", "sleep 100 &\necho $! > \"$DITTO_OUT\"\n"
			   "echo started\nsleep 100\necho never",
		   0755),
	    NULL, 0, env, 1, 300);
	cr_assert_eq(C.res.how, SCRIPT_TIMED_OUT);
	cr_assert_eq(C.res.status, SIGTERM, "status %d", C.res.status);
	cr_assert_geq(C.res.elapsed_ms, 300);
	cr_assert_lt(C.res.elapsed_ms, SCRIPT_KILL_GRACE_MS);
	cr_assert_eq(C.n, 1);
	cr_assert_str_eq(C.line[0], "started");
	gc = read_pid(P("gc.pid"));
	cr_assert(pid_gone_within(gc, 2000), "grandchild %d survived", (int)gc);
	cr_assert(!pid_alive(C.res.pid));
}

Test(script, term_ignored_gets_kill_after_grace)
{
	char envout[300];
	const char *env[1];
	pid_t gc;

	snprintf(envout, sizeof(envout), "DITTO_OUT=%s", P("gc.pid"));
	env[0] = envout;
	/* trap '' makes TERM ignored, and the children inherit that */
	run(script("stubborn", "trap '' TERM\nsleep 100 &\n"
			       "echo $! > \"$DITTO_OUT\"\necho ready\n"
			       "while :; do sleep 1; done",
		   0755),
	    NULL, 0, env, 1, 200);
	cr_assert_eq(C.res.how, SCRIPT_TIMED_OUT);
	cr_assert_eq(C.res.status, SIGKILL, "status %d", C.res.status);
	cr_assert_geq(C.res.elapsed_ms, 200 + SCRIPT_KILL_GRACE_MS);
	cr_assert_lt(C.res.elapsed_ms, 200 + SCRIPT_KILL_GRACE_MS + 2000);
	cr_assert_eq(C.n, 1);
	cr_assert_str_eq(C.line[0], "ready");
	gc = read_pid(P("gc.pid"));
	cr_assert(pid_gone_within(gc, 2000), "grandchild %d survived", (int)gc);
}

/* The script dies of SIGTERM and its pipes close at once, but a helper that
 * ignores SIGTERM and does not hold them must still not outlive it. */
Test(script, timeout_kills_term_ignoring_helper_without_pipes)
{
	char envout[300];
	const char *env[1];
	pid_t gc;

	snprintf(envout, sizeof(envout), "DITTO_OUT=%s", P("gc.pid"));
	env[0] = envout;
	run(script("helper", "(trap '' TERM; exec sleep 100) >/dev/null 2>&1 &\n"
			     "echo $! > \"$DITTO_OUT\"\nsleep 100",
		   0755),
	    NULL, 0, env, 1, 200);
	cr_assert_eq(C.res.how, SCRIPT_TIMED_OUT);
	cr_assert_eq(C.res.status, SIGTERM, "status %d", C.res.status);
	cr_assert_lt(C.res.elapsed_ms, SCRIPT_KILL_GRACE_MS);
	gc = read_pid(P("gc.pid"));
	cr_assert(pid_gone_within(gc, 1000), "helper %d survived", (int)gc);
}

Test(script, no_timeout_when_fast)
{
	run(script("fast", "echo hi", 0755), NULL, 0, NULL, 0, 5000);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 0);
	cr_assert_lt(C.res.elapsed_ms, 5000);
	/* nothing left armed: the loop stays quiet and nothing fires */
	run_for(100);
	cr_assert_eq(C.done_calls, 1);
}

Test(script, background_holder_of_stdout_does_not_block_completion)
{
	char envout[300];
	const char *env[1];
	pid_t gc;

	snprintf(envout, sizeof(envout), "DITTO_OUT=%s", P("gc.pid"));
	env[0] = envout;
	run(script("daemonish", "sleep 30 &\necho $! > \"$DITTO_OUT\"\n"
				"echo bye\nexit 4",
		   0755),
	    NULL, 0, env, 1, 0);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
	cr_assert_eq(C.res.status, 4);
	cr_assert_eq(C.n, 1);
	cr_assert_str_eq(C.line[0], "bye");
	cr_assert_geq(C.res.elapsed_ms, SCRIPT_LINGER_MS);
	cr_assert_lt(C.res.elapsed_ms, SCRIPT_LINGER_MS + 2000);
	gc = read_pid(P("gc.pid"));
	/* documented: not killed when the script itself ended in time */
	cr_assert(pid_alive(gc));
	kill(gc, SIGKILL);
}

/* --- cancel ------------------------------------------------------------------ */

Test(script, cancel_mid_run_no_callbacks_no_zombie)
{
	char envout[300];
	const char *env[1];
	char err[512] = "";
	struct script_run *r;
	pid_t pid, gc;
	int st;
	size_t n;

	snprintf(envout, sizeof(envout), "DITTO_OUT=%s", P("gc.pid"));
	env[0] = envout;
	r = script_start(L, script("long", "sleep 100 &\n"
					   "echo $! > \"$DITTO_OUT\"\n"
					   "echo started\nsleep 100",
				   0755),
			 NULL, 0, env, 1, 0, on_line, on_done, &C, err,
			 sizeof(err));
	cr_assert_not_null(r, "%s", err);
	pid = script_pid(r);
	for (int i = 0; i < 200 && C.n == 0; i++)
		cr_assert_eq(evloop_run_once(L, 50), 0);
	cr_assert_eq(C.n, 1);
	gc = read_pid(P("gc.pid"));
	script_cancel(r);
	n = C.n;
	run_for(500);
	cr_assert_eq(C.done_calls, 0);
	cr_assert_eq(C.n, n);
	/* reaped by the loop: not our child any more, not a zombie */
	cr_assert_eq(waitpid(pid, &st, WNOHANG), -1);
	cr_assert_eq(errno, ECHILD);
	cr_assert(!pid_alive(pid));
	cr_assert(pid_gone_within(gc, 2000), "grandchild %d survived", (int)gc);
}

Test(script, cancel_right_after_start)
{
	char err[512] = "";
	struct script_run *r;
	pid_t pid;

	r = script_start(L, script("s", "echo hi\nsleep 100", 0755), NULL, 0,
			 NULL, 0, 0, on_line, on_done, &C, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	pid = script_pid(r);
	script_cancel(r);
	run_for(300);
	cr_assert_eq(C.done_calls, 0);
	cr_assert_eq(C.n, 0);
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
	cr_assert_eq(errno, ECHILD);
}

Test(script, cancel_from_line_callback)
{
	char err[512] = "";
	pid_t pid;

	C.cancel_me = script_start(L, script("chatty", "echo 1\necho 2\necho 3\n"
						       "echo 4 >&2\nsleep 100",
					     0755),
				   NULL, 0, NULL, 0, 0, on_line, on_done, &C, err,
				   sizeof(err));
	cr_assert_not_null(C.cancel_me, "%s", err);
	pid = script_pid(C.cancel_me);
	for (int i = 0; i < 200 && !C.cancel_done; i++)
		cr_assert_eq(evloop_run_once(L, 50), 0);
	cr_assert(C.cancel_done);
	run_for(300);
	cr_assert_eq(C.n, 1);
	cr_assert_eq(C.done_calls, 0);
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
	cr_assert_eq(errno, ECHILD);
}

static struct script_run *cancel_in_done_target;

static void on_done_cancel(void *ctx, const struct script_result *r)
{
	on_done(ctx, r);
	script_cancel(cancel_in_done_target); /* documented no-op */
}

Test(script, cancel_inside_done_is_noop)
{
	char err[512] = "";

	cancel_in_done_target = script_start(L, script("q", "echo x", 0755),
					     NULL, 0, NULL, 0, 0, on_line,
					     on_done_cancel, &C, err,
					     sizeof(err));
	cr_assert_not_null(cancel_in_done_target, "%s", err);
	run_until_done(5000);
	cr_assert_eq(C.done_calls, 1);
	cr_assert_eq(C.res.how, SCRIPT_EXITED);
}

Test(script, several_runs_at_once)
{
	struct coll c[3];
	char err[512] = "";
	const char *path = script("par", "echo \"$1\"\nsleep 1\nexit \"$1\"",
				  0755);
	uint64_t t0 = util_now_mono_ns();

	memset(c, 0, sizeof(c));
	for (int i = 0; i < 3; i++) {
		char *arg = util_xasprintf("%d", i + 1);
		const char *args[1] = { arg };

		cr_assert_not_null(script_start(L, path, args, 1, NULL, 0, 0,
						on_line, on_done, &c[i], err,
						sizeof(err)),
				   "%s", err);
		free(arg);
	}
	for (int k = 0; k < 200; k++) {
		if (c[0].done_calls && c[1].done_calls && c[2].done_calls)
			break;
		cr_assert_eq(evloop_run_once(L, 50), 0);
	}
	for (int i = 0; i < 3; i++) {
		char want[8];

		cr_assert_eq(c[i].done_calls, 1);
		cr_assert_eq(c[i].res.status, i + 1);
		cr_assert_eq(c[i].n, 1);
		snprintf(want, sizeof(want), "%d", i + 1);
		cr_assert_str_eq(c[i].line[0], want);
		free(c[i].line[0]);
	}
	/* they ran side by side, not one after the other */
	cr_assert_lt((util_now_mono_ns() - t0) / 1000000, 2500);
}

/* --- refusals ------------------------------------------------------------------ */

static void expect_refused(const char *path, int want_errno, const char *what)
{
	char err[512] = "";

	cr_assert_eq(script_check(path, err, sizeof(err)), -1, "%s accepted",
		     what);
	cr_assert_eq(errno, want_errno, "%s: errno %d (%s)", what, errno, err);
	cr_assert_neq(err[0], '\0');
	err[0] = '\0';
	cr_assert_null(script_start(L, path, NULL, 0, NULL, 0, 0, on_line,
				    on_done, &C, err, sizeof(err)),
		       "%s started", what);
	cr_assert_neq(err[0], '\0');
}

static void expect_ok(const char *path, const char *what)
{
	char err[512] = "";

	cr_assert_eq(script_check(path, err, sizeof(err)), 0, "%s: %s", what,
		     err);
}

Test(script, refusals_by_path_and_mode)
{
	char body[400];
	char marker[256];
	char err[512] = "";

	snprintf(marker, sizeof(marker), "%s/ran", base);
	snprintf(body, sizeof(body), "touch '%s'", marker);

	expect_ok(script("good", body, 0755), "0755 script");
	expect_ok(script("good700", body, 0700), "0700 script");
	expect_refused("relative.sh", EINVAL, "relative path");
	expect_refused("./good", EINVAL, "dot-relative path");
	expect_refused("", EINVAL, "empty path");
	expect_refused(P("missing"), ENOENT, "missing file");
	expect_refused(base, EISDIR, "directory");
	expect_refused("/dev/null", EINVAL, "device");
	expect_refused(script("noexec", body, 0644), EACCES, "not executable");
	expect_refused(script("gw", body, 0775), EPERM, "group-writable");
	expect_refused(script("ww", body, 0757), EPERM, "world-writable");
	expect_refused(script("gw2", body, 0765), EPERM, "group-writable 0765");
	cr_assert_null(script_start(L, NULL, NULL, 0, NULL, 0, 0, NULL, NULL,
				    NULL, err, sizeof(err)));

	/* messages say what is wrong */
	script_check(P("gw"), err, sizeof(err));
	cr_assert_not_null(strstr(err, "writable"), "%s", err);
	script_check("rel", err, sizeof(err));
	cr_assert_not_null(strstr(err, "absolute"), "%s", err);

	run_for(200);
	cr_assert_eq(C.done_calls, 0);
	cr_assert_neq(access(marker, F_OK), 0, "a refused script ran");
}

Test(script, refusals_by_directory)
{
	char sub[128], stick[128], gsub[128], link[256], wlinkdir[256];
	char path[300];

	snprintf(sub, sizeof(sub), "%s/ww", base);
	cr_assert_eq(mkdir(sub, 0755), 0);
	cr_assert_eq(chmod(sub, 0777), 0);
	snprintf(path, sizeof(path), "%s/s", sub);
	write_file(path, "#!/bin/sh\n", 10, 0755);
	expect_refused(path, EPERM, "world-writable directory");

	snprintf(gsub, sizeof(gsub), "%s/gw", base);
	cr_assert_eq(mkdir(gsub, 0755), 0);
	cr_assert_eq(chmod(gsub, 0775), 0);
	snprintf(path, sizeof(path), "%s/s", gsub);
	write_file(path, "#!/bin/sh\n", 10, 0755);
	expect_refused(path, EPERM, "group-writable directory");

	snprintf(stick, sizeof(stick), "%s/sticky", base);
	cr_assert_eq(mkdir(stick, 0755), 0);
	cr_assert_eq(chmod(stick, 01777), 0);
	snprintf(path, sizeof(path), "%s/s", stick);
	write_file(path, "#!/bin/sh\n", 10, 0755);
	expect_ok(path, "script in a sticky world-writable directory");

	/* an ancestor, not just the parent */
	snprintf(path, sizeof(path), "%s/deeper", sub);
	cr_assert_eq(mkdir(path, 0755), 0);
	util_strlcat(path, "/s", sizeof(path));
	write_file(path, "#!/bin/sh\n", 10, 0755);
	expect_refused(path, EPERM, "world-writable grandparent");

	/* a symlink in a safe directory to a safe script is fine */
	script("target", "true", 0755);
	snprintf(link, sizeof(link), "%s/link", base);
	cr_assert_eq(symlink(P("target"), link), 0);
	expect_ok(link, "symlink to a good script");
	/* the same link placed where anyone could re-point it is not */
	snprintf(wlinkdir, sizeof(wlinkdir), "%s/link", stick);
	cr_assert_eq(symlink(P("target"), wlinkdir), 0);
	expect_ok(wlinkdir, "symlink in sticky dir (only its owner may "
			    "replace it)");
	snprintf(wlinkdir, sizeof(wlinkdir), "%s/link", sub);
	cr_assert_eq(symlink(P("target"), wlinkdir), 0);
	expect_refused(wlinkdir, EPERM, "symlink in world-writable directory");
	/* and a symlink to a bad script is judged by its target */
	snprintf(link, sizeof(link), "%s/link2", base);
	cr_assert_eq(symlink(P("bad"), link), 0);
	script("bad", "true", 0777);
	expect_refused(link, EPERM, "symlink to world-writable script");
}

Test(script, refusals_by_owner)
{
	char sub[128], path[300];
	const uid_t nobody = 65534;

	if (geteuid() != 0) {
		teardown();
		cr_skip_test("ownership tests need root (chown)");
		return;
	}
	script("theirs", "true", 0755);
	cr_assert_eq(chown(P("theirs"), nobody, nobody), 0);
	/* chown may clear mode bits: restate them */
	cr_assert_eq(chmod(P("theirs"), 0755), 0);
	expect_refused(P("theirs"), EPERM, "script owned by another user");

	snprintf(sub, sizeof(sub), "%s/theirdir", base);
	cr_assert_eq(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/s", sub);
	write_file(path, "#!/bin/sh\n", 10, 0755);
	expect_ok(path, "own script in own directory");
	cr_assert_eq(chown(sub, nobody, nobody), 0);
	expect_refused(path, EPERM, "directory owned by another user");
}

/* --- blocking form, descriptions ---------------------------------------------- */

Test(script, run_sync)
{
	struct script_result res;
	char err[512] = "";
	const char *args[] = { "a b" };

	cr_assert_eq(script_run_sync(script("sync", "echo \"got $1\"\n"
						    "echo warn >&2\nexit 3",
					    0755),
				     args, 1, NULL, 0, 5000, on_line, &C, &res,
				     err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(res.how, SCRIPT_EXITED);
	cr_assert_eq(res.status, 3);
	cr_assert_eq(C.n, 2);
	for (size_t i = 0; i < 2; i++)
		cr_assert_str_eq(C.line[i], C.is_err[i] ? "warn" : "got a b");

	cr_assert_eq(script_run_sync(script("syncslow", "sleep 100", 0755),
				     NULL, 0, NULL, 0, 200, NULL, NULL, &res,
				     err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(res.how, SCRIPT_TIMED_OUT);

	err[0] = '\0';
	cr_assert_eq(script_run_sync("rel", NULL, 0, NULL, 0, 0, NULL, NULL,
				     &res, err, sizeof(err)),
		     -1);
	cr_assert_neq(err[0], '\0');
}

Test(script, describe)
{
	struct script_result r;
	char buf[128];

	memset(&r, 0, sizeof(r));
	r.how = SCRIPT_EXITED;
	r.status = 3;
	script_result_describe(&r, buf, sizeof(buf));
	cr_assert_str_eq(buf, "exited with status 3");
	r.how = SCRIPT_SIGNALED;
	r.status = SIGKILL;
	script_result_describe(&r, buf, sizeof(buf));
	cr_assert_str_eq(buf, "killed by signal 9 (Killed)");
	r.how = SCRIPT_TIMED_OUT;
	r.status = SIGTERM;
	r.elapsed_ms = 512;
	script_result_describe(&r, buf, sizeof(buf));
	cr_assert_str_eq(buf, "timed out, ended by signal 15 (Terminated) "
			      "after 512 ms");
	r.how = SCRIPT_START_FAILED;
	r.err = ENOEXEC;
	script_result_describe(&r, buf, sizeof(buf));
	cr_assert_str_eq(buf, "failed to start: Exec format error");
}
