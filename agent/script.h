/* script — runs administrator-configured programs (mirror start/stop/complete
 * scripts, pre/post failover and failback scripts) from the event loop.
 *
 * Execution: the program is started with execve(2) by absolute path; argv[0]
 * is the path and the caller's args follow exactly as given (never seen by a
 * shell, so peer-supplied text cannot inject commands). The environment is
 * only PATH=/usr/sbin:/usr/bin:/sbin:/bin and LANG=C plus the caller's
 * "NAME=value" entries; NAME must match [A-Z_][A-Z0-9_]*, must not start with
 * LD_ (loader variables would let a value inject code) and may appear only
 * once; a caller entry replaces a base entry of the same name. The child:
 *  - runs in a new session (setsid), so its process group holds everything it
 *    spawns and a timeout can kill them all;
 *  - has every signal disposition reset to SIG_DFL and an empty signal mask
 *    (the agent blocks signals for its signalfd and ignores SIGPIPE; a child
 *    inheriting that could not be stopped with SIGTERM);
 *  - gets stdin from /dev/null, stdout and stderr on two pipes, and no other
 *    fd (close_range(3, ~0U), else a /proc/self/fd walk); cwd is "/".
 *
 * Refusals (script_check, also applied by script_start/script_run_sync; an
 * error text and nothing run): the path must be absolute and name an existing
 * regular file (symlinks followed) that is executable by the agent's
 * effective ids, owned by root or the agent's euid, and not writable by group
 * or others. Every directory from the file up to "/" (of the resolved file,
 * and of the directory holding the name as given, when that differs) must be
 * owned by root or the euid and not writable by group or others unless it has
 * the sticky bit (in a sticky directory only the owner of an entry can
 * replace it). So nobody but root or the agent's own user can change what
 * runs. Symlinks in intermediate components of the given path are trusted as
 * far as their resolved targets pass these checks. A group-writable
 * directory such as Debian's 2775 root:staff /usr/local is refused on purpose.
 *
 * Output: each stream is split into lines, delivered to on_line in the order
 * written (the two streams are independent pipes, so no order between them is
 * implied). A trailing '\r' is dropped, a tab becomes a space, other control
 * bytes (including NUL and DEL) become '?'; bytes >= 0x80 are kept. A line
 * longer than SCRIPT_LINE_MAX bytes is cut to its first SCRIPT_LINE_MAX bytes
 * followed by " [line cut: N bytes dropped]". A last line without a newline is
 * delivered at end of stream.
 *
 * Completion: on_done runs once, after the program has exited and both pipes
 * reached end of file, so all output comes first. If the program exits while
 * something it left behind still holds stdout/stderr open (a background job),
 * the agent reads on for SCRIPT_LINGER_MS, then delivers what is buffered,
 * closes its ends and completes; those processes are left running (a script
 * may legitimately start a daemon) but may get SIGPIPE if they write later.
 *
 * Timeout (timeout_ms > 0, counted from the start): SIGTERM to the process
 * group, SIGKILL to the group SCRIPT_KILL_GRACE_MS later if anything of it is
 * still around; when such a run completes, the group is sent SIGKILL once more
 * so nothing of a timed-out script survives. If the process group was not
 * formed yet (signal right after fork) the child itself is signalled; its
 * mask still blocks the signal until it resets it, then the default action
 * applies.
 *
 * Lifetime: the handle returned by script_start stays valid until on_done has
 * returned (it is then freed) or until script_cancel. Callbacks run from the
 * event loop only, never from inside script_start. script_cancel may be called
 * from on_line (no further callbacks follow); calling it from on_done or after
 * on_done is a no-op / invalid respectively.
 *
 * Single-threaded, like the event loop it runs on. */
#ifndef DITTO_SCRIPT_H
#define DITTO_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct evloop;
struct script_run;

#define SCRIPT_LINE_MAX 1024u		/* bytes of a line kept, before the note */
#define SCRIPT_KILL_GRACE_MS 2000u	/* SIGTERM -> SIGKILL after a timeout */
#define SCRIPT_LINGER_MS 500u		/* reading on after exit, see above */

enum script_how {
	SCRIPT_EXITED,		/* status = exit code (-1: could not be collected) */
	SCRIPT_SIGNALED,	/* status = signal number */
	SCRIPT_TIMED_OUT,	/* status = signal that ended it (SIGTERM,
				 * SIGKILL, ...), or 0 if it exited by itself
				 * after SIGTERM (its exit code is dropped) */
	SCRIPT_START_FAILED,	/* err = errno of execve or of the child's setup
				 * (ENOEXEC: no #! line, ENOENT: missing
				 * interpreter, E2BIG ...); status = 0 */
};

struct script_result {
	enum script_how how;
	int status;
	int err;
	pid_t pid;
	uint64_t elapsed_ms;	/* from script_start to completion */
};

/* is_stderr: the line came from stderr. line is only valid during the call. */
typedef void (*script_line_fn)(void *ctx, bool is_stderr, const char *line);
typedef void (*script_done_fn)(void *ctx, const struct script_result *r);

/* The refusal rules above, for checking configuration early. 0 if path may
 * run; else -1 with errno set (EINVAL, ENOENT, EISDIR, EACCES, EPERM, ...)
 * and a message naming the path and the reason in err. */
int script_check(const char *path, char *err, size_t errlen);

/* Checks path (script_check) and the env entries, then starts the program on
 * loop. args[0..nargs-1] become argv[1..]; env[0..nenv-1] are "NAME=value".
 * timeout_ms 0 = none. on_line and on_done may be NULL (output is then read
 * and dropped / nobody is told). NULL with a message in err (errno set) if
 * anything was refused or could not be set up; nothing runs then. A program
 * that cannot be executed after the fork (e.g. no #! line) is reported through
 * on_done as SCRIPT_START_FAILED. */
struct script_run *script_start(struct evloop *loop, const char *path,
				const char *const *args, size_t nargs,
				const char *const *env, size_t nenv,
				unsigned timeout_ms, script_line_fn on_line,
				script_done_fn on_done, void *ctx, char *err,
				size_t errlen);

/* The program's pid (also its process group and session id). */
pid_t script_pid(const struct script_run *r);

/* Sends SIGKILL to the process group (the process itself if the group is not
 * formed yet), stops reading, frees the run; no callback follows. The child is
 * still reaped by the loop, without a callback, once it is gone (if the loop
 * is freed first it stays a zombie until the agent exits). NULL is a no-op. */
void script_cancel(struct script_run *r);

/* Blocking form for callers that must wait (tests, failover scripts run with
 * the "delay" option): runs the program on a private event loop until it
 * completes, so the caller's own loop is NOT serviced meanwhile. 0 with *res
 * filled (whatever the outcome, START_FAILED included); -1 with a message in
 * err if it was refused or could not be started. */
int script_run_sync(const char *path, const char *const *args, size_t nargs,
		    const char *const *env, size_t nenv, unsigned timeout_ms,
		    script_line_fn on_line, void *ctx,
		    struct script_result *res, char *err, size_t errlen);

/* "exited with status 3", "killed by signal 9 (Killed)", "timed out after
 * 500 ms (killed by signal 15 (Terminated))", "failed to start: Exec format
 * error" — for log messages. */
void script_result_describe(const struct script_result *r, char *buf,
			    size_t len);

#endif
