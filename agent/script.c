#include "config.h"

#include "script.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "evloop.h"
#include "util.h"

#define READ_CHUNK 8192
/* What the linger end still reads per stream before giving up on it: more
 * than any pipe holds, so only a writer that keeps going loses output. */
#define DRAIN_MAX (2u * 1024 * 1024)
#define NOTE_MAX 64
/* Brute-force close bound when neither close_range nor /proc is there. */
#define CLOSE_BRUTE_MAX 65536

static const char *const base_env[] = {
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C",
};

struct script_stream {
	struct script_run *run;
	int fd;			/* read end; -1 once closed */
	bool is_stderr;
	size_t len;		/* bytes in buf (at most SCRIPT_LINE_MAX + 1) */
	uint64_t dropped;	/* bytes of the current line beyond buf */
	bool dropped_cr;	/* the last dropped byte was '\r' */
	char buf[SCRIPT_LINE_MAX + 1 + NOTE_MAX];
};

struct script_run {
	struct evloop *loop;
	pid_t pid;
	int xfd;		/* exec error pipe, read end; -1 once read */
	struct script_stream out;
	struct script_stream err;
	struct evloop_timer *timeout_t;
	struct evloop_timer *grace_t;
	struct evloop_timer *linger_t;
	script_line_fn on_line;
	script_done_fn on_done;
	void *ctx;
	uint64_t start_ns;
	int wstatus;
	int exec_err;
	bool exited;		/* reaped by the loop */
	bool timed_out;
	bool in_cb;		/* a user callback is running: defer the free */
	bool cancelled;
	bool done;		/* on_done is running or ran */
};

/* Everything the child needs, prepared before fork so the child only makes
 * async-signal-safe calls. */
struct child_setup {
	const char *path;
	char *const *argv;
	char *const *envp;
	int null_fd;
	int out_fd;
	int err_fd;
	int x_fd;
	struct sigaction dfl;
	sigset_t empty;
};

/* ---- checks ---- */

static bool owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* dir and each of its ancestors up to "/" (dir is a resolved path): owned by
 * root or us, and not writable by others unless sticky. */
static int check_dirs(const char *script, const char *dir, char *err,
		      size_t errlen)
{
	char *d = util_xstrdup(dir);
	struct stat st;
	int e = 0;
	int ret = -1;

	for (;;) {
		char *slash;

		if (stat(d, &st) < 0) {
			e = errno;
			util_seterr(err, errlen, "script %s: directory %s: %s",
				    script, d, strerror(e));
			goto done;
		}
		if (!owner_ok(st.st_uid)) {
			e = EPERM;
			util_seterr(err, errlen,
				    "script %s: directory %s is owned by uid %u, "
				    "not by root or uid %u",
				    script, d, (unsigned)st.st_uid,
				    (unsigned)geteuid());
			goto done;
		}
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
		    !(st.st_mode & S_ISVTX)) {
			e = EPERM;
			util_seterr(err, errlen,
				    "script %s: directory %s is writable by group "
				    "or others without the sticky bit (mode %04o)",
				    script, d, (unsigned)(st.st_mode & 07777));
			goto done;
		}
		if (strcmp(d, "/") == 0)
			break;
		slash = strrchr(d, '/');
		if (slash == NULL)
			break;
		if (slash == d)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	ret = 0;
done:
	free(d);
	if (ret < 0)
		errno = e;
	return ret;
}

/* The directory part of an absolute path ("/" for "/x"), malloc'd. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL || slash == path)
		return util_xstrdup("/");
	return util_xstrndup(path, (size_t)(slash - path));
}

int script_check(const char *path, char *err, size_t errlen)
{
	char *resolved = NULL;
	char *rdir = NULL;
	char *gdir = NULL;
	char *gdir_real = NULL;
	struct stat st;
	int e = 0;
	int ret = -1;

	if (path == NULL || path[0] != '/') {
		e = EINVAL;
		util_seterr(err, errlen, "script %s: not an absolute path",
			    path ? path : "(null)");
		goto done;
	}
	if (strlen(path) >= PATH_MAX) {
		e = ENAMETOOLONG;
		util_seterr(err, errlen, "script path too long");
		goto done;
	}
	resolved = realpath(path, NULL);
	if (resolved == NULL || stat(resolved, &st) < 0) {
		e = errno;
		util_seterr(err, errlen, "script %s: %s", path, strerror(e));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		util_seterr(err, errlen, "script %s: %s", path,
			    S_ISDIR(st.st_mode) ? "is a directory"
						: "not a regular file");
		goto done;
	}
	if (faccessat(AT_FDCWD, resolved, X_OK, AT_EACCESS) < 0) {
		e = errno;
		util_seterr(err, errlen, "script %s: not executable (%s)", path,
			    strerror(e));
		goto done;
	}
	if (!owner_ok(st.st_uid)) {
		e = EPERM;
		util_seterr(err, errlen,
			    "script %s: owned by uid %u, not by root or uid %u",
			    path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto done;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		e = EPERM;
		util_seterr(err, errlen,
			    "script %s: writable by group or others (mode %04o)",
			    path, (unsigned)(st.st_mode & 07777));
		goto done;
	}
	rdir = dir_of(resolved);
	if (check_dirs(path, rdir, err, errlen) < 0) {
		e = errno;
		goto done;
	}
	/* The name as given may be a symlink in another directory: whoever
	 * can write there can point it elsewhere. */
	gdir = dir_of(path);
	gdir_real = realpath(gdir, NULL);
	if (gdir_real == NULL) {
		e = errno;
		util_seterr(err, errlen, "script %s: %s: %s", path, gdir,
			    strerror(e));
		goto done;
	}
	if (strcmp(gdir_real, rdir) != 0 &&
	    check_dirs(path, gdir_real, err, errlen) < 0) {
		e = errno;
		goto done;
	}
	ret = 0;
done:
	free(resolved);
	free(rdir);
	free(gdir);
	free(gdir_real);
	if (ret < 0)
		errno = e;
	return ret;
}

/* Length of the name of a valid "NAME=value" entry, 0 if invalid. */
static size_t env_name_len(const char *e)
{
	const char *eq = strchr(e, '=');

	if (eq == NULL || eq == e)
		return 0;
	for (const char *p = e; p < eq; p++) {
		char c = *p;

		if (c == '_' || (c >= 'A' && c <= 'Z') ||
		    (p > e && c >= '0' && c <= '9'))
			continue;
		return 0;
	}
	if (strncmp(e, "LD_", 3) == 0)
		return 0;
	return (size_t)(eq - e);
}

static bool same_name(const char *a, size_t alen, const char *b)
{
	return strncmp(a, b, alen) == 0 && b[alen] == '=';
}

/* NULL-terminated envp: base entries not overridden, then the caller's. */
static char **build_env(const char *const *env, size_t nenv, char *err,
			size_t errlen)
{
	char **envp = NULL;
	size_t n = 0;

	for (size_t i = 0; i < nenv; i++) {
		size_t len;

		if (env[i] == NULL || (len = env_name_len(env[i])) == 0) {
			util_seterr(err, errlen,
				    "invalid environment entry \"%s\" (want "
				    "NAME=value, NAME of [A-Z_][A-Z0-9_]*, "
				    "not LD_*)", env[i] ? env[i] : "(null)");
			goto fail;
		}
		for (size_t j = 0; j < i; j++) {
			if (same_name(env[i], len, env[j])) {
				util_seterr(err, errlen,
					    "environment variable %.*s given "
					    "twice", (int)len, env[i]);
				goto fail;
			}
		}
	}
	envp = util_xcalloc(UTIL_ARRAY_SIZE(base_env) + nenv + 1,
			    sizeof(*envp));
	for (size_t i = 0; i < UTIL_ARRAY_SIZE(base_env); i++) {
		size_t blen = (size_t)(strchr(base_env[i], '=') - base_env[i]);
		bool overridden = false;

		for (size_t j = 0; j < nenv; j++)
			if (same_name(base_env[i], blen, env[j]))
				overridden = true;
		if (!overridden)
			envp[n++] = (char *)base_env[i];
	}
	for (size_t j = 0; j < nenv; j++)
		envp[n++] = (char *)env[j];
	return envp;
fail:
	errno = EINVAL;
	return NULL;
}

/* ---- child side ---- */

/* Layout of the records getdents64 returns. */
struct dirent64_raw {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Fallback for kernels without close_range (< 5.9): walk /proc/self/fd with
 * the raw syscall (opendir would malloc, not safe after fork). */
static int close_from_proc(int lowfd)
{
	char buf[4096] __attribute__((aligned(8)));
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (dfd < 0)
		return -1;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
			int fd = 0;
			bool num = d->d_name[0] != '\0';

			for (const char *p = d->d_name; *p; p++) {
				if (*p < '0' || *p > '9' || fd > INT_MAX / 10 - 1) {
					num = false;
					break;
				}
				fd = fd * 10 + (*p - '0');
			}
			if (num && fd >= lowfd && fd != dfd)
				close(fd);
			off += d->d_reclen;
		}
	}
	close(dfd);
	return n < 0 ? -1 : 0;
}

static void close_from(int lowfd)
{
	struct rlimit rl;
	int max = CLOSE_BRUTE_MAX;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
	if (close_from_proc(lowfd) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)max)
		max = (int)rl.rlim_cur;
	for (int fd = lowfd; fd < max; fd++)
		close(fd);
}

/* Runs in the forked child: async-signal-safe calls only. On failure the
 * errno goes to the exec error pipe (close-on-exec, so a successful exec
 * leaves it empty) and the child exits 127. */
static void __attribute__((noreturn)) child_exec(const struct child_setup *cs)
{
	int xfd = cs->x_fd;
	int e;

	/* Dispositions first, then the mask: a signal the parent sent before
	 * the exec (cancel, timeout) must meet the default action. */
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &cs->dfl, NULL);
	if (sigprocmask(SIG_SETMASK, &cs->empty, NULL) < 0)
		goto fail;
	if (setsid() < 0)
		goto fail;
	/* All four fds are >= 3 (see fd_above_stdio), so none is clobbered
	 * by these dup2 calls, which also clear close-on-exec. */
	if (dup2(cs->null_fd, STDIN_FILENO) < 0 ||
	    dup2(cs->out_fd, STDOUT_FILENO) < 0 ||
	    dup2(cs->err_fd, STDERR_FILENO) < 0)
		goto fail;
	if (xfd != 3) {
		if (dup3(xfd, 3, O_CLOEXEC) < 0)
			goto fail;
		xfd = 3;
	}
	close_from(4);
	if (chdir("/") < 0)
		goto fail;
	execve(cs->path, cs->argv, cs->envp);
fail:
	e = errno;
	if (write(xfd, &e, sizeof(e)) < 0) {
		/* nothing left to tell it with */
	}
	_exit(127);
}

/* ---- parent side ---- */

/* Keeps our fds off 0-2, which the child's dup2 calls overwrite (an agent
 * started with a closed stdio could get a pipe end there). */
static int fd_above_stdio(int fd)
{
	int nfd;

	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	if (nfd < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return nfd;
}

static int make_pipe(int p[2], bool nonblock_read)
{
	int ret = -1;

	p[0] = p[1] = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		goto done;
	p[0] = fd_above_stdio(p[0]);
	p[1] = fd_above_stdio(p[1]);
	if (p[0] < 0 || p[1] < 0)
		goto done;
	/* Only our end: the child's must stay blocking (O_NONBLOCK lives in
	 * the open file description, which the two ends do not share). */
	if (nonblock_read && fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
		goto done;
	ret = 0;
done:
	return ret;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Signals the process group; before the child's setsid there is none yet,
 * so the child itself (only while it is unreaped: its pid is ours). */
static void group_signal(struct script_run *r, int sig)
{
	if (kill(-r->pid, sig) < 0 && errno == ESRCH && !r->exited)
		kill(r->pid, sig);
}

static void stream_close(struct script_run *r, struct script_stream *s)
{
	if (s->fd >= 0) {
		evloop_del_fd(r->loop, s->fd);
		close_fd(&s->fd);
	}
}

static void timer_drop(struct script_run *r, struct evloop_timer **t)
{
	if (*t != NULL) {
		evloop_timer_cancel(r->loop, *t);
		*t = NULL;
	}
}

static void reap_quiet(struct evloop *loop, pid_t pid, int wstatus, void *arg)
{
	(void)loop;
	(void)pid;
	(void)wstatus;
	(void)arg;
}

/* Stops everything the run holds on the loop (except the child watch). */
static void run_release(struct script_run *r)
{
	stream_close(r, &r->out);
	stream_close(r, &r->err);
	close_fd(&r->xfd);
	timer_drop(r, &r->timeout_t);
	timer_drop(r, &r->grace_t);
	timer_drop(r, &r->linger_t);
}

/* Delivers the current line of s; false if the callback cancelled the run. */
static bool stream_emit(struct script_run *r, struct script_stream *s)
{
	size_t len = s->len;
	uint64_t dropped = s->dropped;

	/* A CRLF line end is an end, not content. */
	if (dropped == 0) {
		if (len > 0 && s->buf[len - 1] == '\r')
			len--;
	} else if (s->dropped_cr) {
		dropped--;
	}
	if (len > SCRIPT_LINE_MAX) {
		dropped += len - SCRIPT_LINE_MAX;
		len = SCRIPT_LINE_MAX;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s->buf[i];

		if (c == '\t')
			s->buf[i] = ' ';
		else if (c < 0x20 || c == 0x7f)
			s->buf[i] = '?';
	}
	s->buf[len] = '\0';
	if (dropped > 0)
		snprintf(s->buf + len, NOTE_MAX, " [line cut: %llu bytes dropped]",
			 (unsigned long long)dropped);
	s->len = 0;
	s->dropped = 0;
	s->dropped_cr = false;
	if (r->on_line != NULL) {
		r->in_cb = true;
		r->on_line(r->ctx, s->is_stderr, s->buf);
		r->in_cb = false;
	}
	return !r->cancelled;
}

/* Splits data into lines; false if a callback cancelled the run. */
static bool stream_feed(struct script_run *r, struct script_stream *s,
			const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl != NULL ? (size_t)(nl - p) : n;
		size_t room = SCRIPT_LINE_MAX + 1 - s->len;
		size_t copy = take < room ? take : room;

		memcpy(s->buf + s->len, p, copy);
		s->len += copy;
		if (take > copy) {
			s->dropped += take - copy;
			s->dropped_cr = p[take - 1] == '\r';
		}
		p += take;
		n -= take;
		if (nl != NULL) {
			p++;
			n--;
			if (!stream_emit(r, s))
				return false;
		}
	}
	return true;
}

/* End of a stream: its unterminated last line, then close. */
static bool stream_eof(struct script_run *r, struct script_stream *s)
{
	if ((s->len > 0 || s->dropped > 0) && !stream_emit(r, s))
		return false;
	stream_close(r, s);
	return true;
}

/* One read. 1 = data, 0 = EOF (or error: nothing more will come), -1 =
 * nothing now; -2 if a callback cancelled the run. */
static int stream_read(struct script_run *r, struct script_stream *s)
{
	char chunk[READ_CHUNK];
	ssize_t n;

	do
		n = read(s->fd, chunk, sizeof(chunk));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return -1;
	if (n <= 0)
		return stream_eof(r, s) ? 0 : -2;
	return stream_feed(r, s, chunk, (size_t)n) ? 1 : -2;
}

static void run_finish(struct script_run *r)
{
	struct script_result res;

	run_release(r);
	/* Nothing of a timed-out script may survive it; the pgid cannot have
	 * been reused yet: the leader was reaped an instant ago at most. */
	if (r->timed_out)
		kill(-r->pid, SIGKILL);
	memset(&res, 0, sizeof(res));
	res.pid = r->pid;
	res.elapsed_ms = (util_now_mono_ns() - r->start_ns) / 1000000u;
	if (r->exec_err != 0) {
		res.how = SCRIPT_START_FAILED;
		res.err = r->exec_err;
	} else if (r->timed_out) {
		res.how = SCRIPT_TIMED_OUT;
		res.status = r->wstatus != -1 && WIFSIGNALED(r->wstatus)
				     ? WTERMSIG(r->wstatus)
				     : 0;
	} else if (r->wstatus == -1) {
		res.how = SCRIPT_EXITED;
		res.status = -1;
	} else if (WIFSIGNALED(r->wstatus)) {
		res.how = SCRIPT_SIGNALED;
		res.status = WTERMSIG(r->wstatus);
	} else {
		res.how = SCRIPT_EXITED;
		res.status = WEXITSTATUS(r->wstatus);
	}
	r->done = true;
	if (r->on_done != NULL)
		r->on_done(r->ctx, &res);
	free(r);
}

static void maybe_finish(struct script_run *r)
{
	if (r->exited && r->out.fd < 0 && r->err.fd < 0)
		run_finish(r);
}

static void on_stream(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct script_stream *s = arg;
	struct script_run *r = s->run;
	int rc;

	(void)loop;
	(void)fd;
	(void)events;
	rc = stream_read(r, s);
	if (rc == -2) {
		free(r);
		return;
	}
	if (rc == 0)
		maybe_finish(r);
}

/* The program is gone but something still holds a pipe: take what is
 * there and complete. */
static void on_linger(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct script_run *r = arg;
	struct script_stream *streams[2] = { &r->out, &r->err };

	(void)loop;
	(void)t;
	r->linger_t = NULL;
	for (size_t i = 0; i < 2; i++) {
		struct script_stream *s = streams[i];
		size_t total = 0;
		int rc = 1;

		while (s->fd >= 0 && rc == 1 && total < DRAIN_MAX) {
			rc = stream_read(r, s);
			total += READ_CHUNK;
		}
		if (rc == -2 || (s->fd >= 0 && !stream_eof(r, s))) {
			free(r);
			return;
		}
	}
	run_finish(r);
}

static void on_child(struct evloop *loop, pid_t pid, int wstatus, void *arg)
{
	struct script_run *r = arg;
	ssize_t n;
	int e = 0;

	(void)pid;
	r->exited = true;
	r->wstatus = wstatus;
	/* The child wrote before exiting, so this read cannot wait. */
	do
		n = read(r->xfd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(e))
		r->exec_err = e != 0 ? e : EIO;
	close_fd(&r->xfd);
	/* It ended in time; lingering helpers are not the script. */
	timer_drop(r, &r->timeout_t);
	if (r->out.fd < 0 && r->err.fd < 0) {
		run_finish(r);
		return;
	}
	r->linger_t = evloop_timer_add(loop, SCRIPT_LINGER_MS, 0, on_linger, r);
	if (r->linger_t == NULL)
		on_linger(loop, NULL, r);
}

static void on_grace(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct script_run *r = arg;

	(void)loop;
	(void)t;
	r->grace_t = NULL;
	group_signal(r, SIGKILL);
}

static void on_timeout(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct script_run *r = arg;

	(void)t;
	r->timeout_t = NULL;
	r->timed_out = true;
	group_signal(r, SIGTERM);
	r->grace_t = evloop_timer_add(loop, SCRIPT_KILL_GRACE_MS, 0, on_grace,
				      r);
	if (r->grace_t == NULL)
		group_signal(r, SIGKILL);
}

static char **build_argv(const char *path, const char *const *args,
			 size_t nargs, char *err, size_t errlen)
{
	char **argv;

	for (size_t i = 0; i < nargs; i++) {
		if (args[i] == NULL) {
			util_seterr(err, errlen, "script %s: argument %zu is NULL",
				    path, i + 1);
			errno = EINVAL;
			return NULL;
		}
	}
	argv = util_xcalloc(nargs + 2, sizeof(*argv));
	argv[0] = (char *)path;
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = (char *)args[i];
	return argv;
}

struct script_run *script_start(struct evloop *loop, const char *path,
				const char *const *args, size_t nargs,
				const char *const *env, size_t nenv,
				unsigned timeout_ms, script_line_fn on_line,
				script_done_fn on_done, void *ctx, char *err,
				size_t errlen)
{
	struct script_run *r = NULL;
	struct script_run *ret = NULL;
	struct child_setup cs;
	char **argv = NULL;
	char **envp = NULL;
	int outp[2] = { -1, -1 };
	int errp[2] = { -1, -1 };
	int xp[2] = { -1, -1 };
	int null_fd = -1;
	bool out_added = false;
	bool err_added = false;
	pid_t pid = -1;
	int e = 0;

	if (loop == NULL || (nargs > 0 && args == NULL) ||
	    (nenv > 0 && env == NULL)) {
		e = EINVAL;
		util_seterr(err, errlen, "script_start: invalid arguments");
		goto done;
	}
	if (script_check(path, err, errlen) < 0) {
		e = errno;
		goto done;
	}
	argv = build_argv(path, args, nargs, err, errlen);
	if (argv == NULL) {
		e = errno;
		goto done;
	}
	envp = build_env(env, nenv, err, errlen);
	if (envp == NULL) {
		e = errno;
		goto done;
	}
	if (make_pipe(outp, true) < 0 || make_pipe(errp, true) < 0 ||
	    make_pipe(xp, true) < 0 ||
	    (null_fd = fd_above_stdio(open("/dev/null",
					   O_RDONLY | O_CLOEXEC))) < 0) {
		e = errno;
		util_seterr(err, errlen, "script %s: cannot set up pipes: %s",
			    path, strerror(e));
		goto done;
	}

	r = util_xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->pid = -1;
	r->xfd = -1;
	r->out.run = r;
	r->out.fd = outp[0];
	r->err.run = r;
	r->err.fd = errp[0];
	r->err.is_stderr = true;
	r->on_line = on_line;
	r->on_done = on_done;
	r->ctx = ctx;
	r->wstatus = -1;
	if (evloop_add_fd(loop, outp[0], EVLOOP_READ, on_stream, &r->out) < 0) {
		e = errno;
		goto loop_fail;
	}
	out_added = true;
	if (evloop_add_fd(loop, errp[0], EVLOOP_READ, on_stream, &r->err) < 0) {
		e = errno;
		goto loop_fail;
	}
	err_added = true;

	memset(&cs, 0, sizeof(cs));
	cs.path = path;
	cs.argv = argv;
	cs.envp = envp;
	cs.null_fd = null_fd;
	cs.out_fd = outp[1];
	cs.err_fd = errp[1];
	cs.x_fd = xp[1];
	cs.dfl.sa_handler = SIG_DFL;
	sigemptyset(&cs.dfl.sa_mask);
	sigemptyset(&cs.empty);

	r->start_ns = util_now_mono_ns();
	pid = fork();
	if (pid < 0) {
		e = errno;
		util_seterr(err, errlen, "script %s: fork: %s", path,
			    strerror(e));
		goto done;
	}
	if (pid == 0)
		child_exec(&cs);
	r->pid = pid;
	if (evloop_child_add(loop, pid, on_child, r) < 0) {
		e = errno;
		/* Nothing can watch it; it has not run anything of the script
		 * worth keeping, and SIGKILL ends it at once. */
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto loop_fail;
	}
	if (timeout_ms > 0) {
		r->timeout_t = evloop_timer_add(loop, timeout_ms, 0, on_timeout,
						r);
		if (r->timeout_t == NULL) {
			e = errno;
			group_signal(r, SIGKILL);
			evloop_child_del(loop, pid);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			goto loop_fail;
		}
	}
	r->xfd = xp[0];
	xp[0] = -1;
	outp[0] = errp[0] = -1; /* owned by r now */
	ret = r;
	r = NULL;
	goto done;
loop_fail:
	util_seterr(err, errlen, "script %s: cannot watch it: %s", path,
		    strerror(e));
done:
	if (r != NULL) {
		if (out_added)
			evloop_del_fd(loop, outp[0]);
		if (err_added)
			evloop_del_fd(loop, errp[0]);
		free(r);
	}
	for (int i = 0; i < 2; i++) {
		close_fd(&outp[i]);
		close_fd(&errp[i]);
		close_fd(&xp[i]);
	}
	close_fd(&null_fd);
	free(argv);
	free(envp);
	if (ret == NULL)
		errno = e;
	return ret;
}

pid_t script_pid(const struct script_run *r)
{
	return r->pid;
}

void script_cancel(struct script_run *r)
{
	if (r == NULL || r->done || r->cancelled)
		return;
	r->cancelled = true;
	group_signal(r, SIGKILL);
	if (!r->exited) {
		/* Hand the child to a silent watch so the loop still reaps it
		 * without a zombie and without calling us. */
		evloop_child_del(r->loop, r->pid);
		if (evloop_child_add(r->loop, r->pid, reap_quiet, NULL) < 0) {
			/* Only if the loop cannot watch it: SIGKILL was sent,
			 * so this wait is short. */
			while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	run_release(r);
	/* Inside on_line the reading code still holds r; it frees it. */
	if (!r->in_cb)
		free(r);
}

/* ---- blocking form ---- */

struct sync_state {
	script_line_fn on_line;
	void *ctx;
	struct script_result *res;
	bool done;
};

static void sync_line(void *ctx, bool is_stderr, const char *line)
{
	struct sync_state *st = ctx;

	if (st->on_line != NULL)
		st->on_line(st->ctx, is_stderr, line);
}

static void sync_done(void *ctx, const struct script_result *res)
{
	struct sync_state *st = ctx;

	*st->res = *res;
	st->done = true;
}

int script_run_sync(const char *path, const char *const *args, size_t nargs,
		    const char *const *env, size_t nenv, unsigned timeout_ms,
		    script_line_fn on_line, void *ctx,
		    struct script_result *res, char *err, size_t errlen)
{
	struct sync_state st;
	struct evloop *loop;
	struct script_run *r;
	int e = 0;
	int ret = -1;

	memset(&st, 0, sizeof(st));
	st.on_line = on_line;
	st.ctx = ctx;
	st.res = res;
	loop = evloop_new();
	if (loop == NULL) {
		e = errno;
		util_seterr(err, errlen, "script %s: event loop: %s", path,
			    strerror(e));
		goto done;
	}
	r = script_start(loop, path, args, nargs, env, nenv, timeout_ms,
			 sync_line, sync_done, &st, err, errlen);
	if (r == NULL) {
		e = errno;
		goto done;
	}
	while (!st.done) {
		if (evloop_run_once(loop, -1) < 0) {
			pid_t pid = script_pid(r);

			e = errno;
			util_seterr(err, errlen, "script %s: event loop: %s",
				    path, strerror(e));
			script_cancel(r);
			/* the private loop goes away: reap here, it has
			 * SIGKILL */
			evloop_child_del(loop, pid);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			goto done;
		}
	}
	ret = 0;
done:
	evloop_free(loop);
	if (ret < 0)
		errno = e;
	return ret;
}

void script_result_describe(const struct script_result *r, char *buf,
			    size_t len)
{
	switch (r->how) {
	case SCRIPT_EXITED:
		if (r->status < 0)
			snprintf(buf, len, "exited (status unknown)");
		else
			snprintf(buf, len, "exited with status %d", r->status);
		break;
	case SCRIPT_SIGNALED:
		snprintf(buf, len, "killed by signal %d (%s)", r->status,
			 strsignal(r->status));
		break;
	case SCRIPT_TIMED_OUT:
		if (r->status > 0)
			snprintf(buf, len,
				 "timed out, ended by signal %d (%s) after "
				 "%llu ms", r->status, strsignal(r->status),
				 (unsigned long long)r->elapsed_ms);
		else
			snprintf(buf, len,
				 "timed out, exited after SIGTERM (%llu ms)",
				 (unsigned long long)r->elapsed_ms);
		break;
	case SCRIPT_START_FAILED:
		snprintf(buf, len, "failed to start: %s", strerror(r->err));
		break;
	default:
		snprintf(buf, len, "unknown outcome");
		break;
	}
}
