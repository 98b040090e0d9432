/* evloop — the single-threaded event loop every Ditto program runs on: one
 * epoll instance, one timerfd shared by all timers, one signalfd for all
 * handled signals, and a pidfd per watched child.
 *
 * Rules for callers:
 *  - Any registration may be added, changed or removed from inside any
 *    callback. Something removed is never called again, not even later in
 *    the round that is being dispatched.
 *  - Call evloop_del_fd before closing an fd; the loop never closes user fds.
 *  - evloop_run, evloop_run_once and evloop_free must not be called from a
 *    callback (run/run_once then fail with EBUSY).
 *  - The loop is not thread-safe; use it from one thread.
 */
#ifndef DITTO_EVLOOP_H
#define DITTO_EVLOOP_H

#include <stdint.h>
#include <sys/types.h>

struct evloop;
struct evloop_timer;

#define EVLOOP_READ  0x1
#define EVLOOP_WRITE 0x2
/* Events passed to fd callbacks may also carry EVLOOP_ERROR (EPOLLERR or
 * EPOLLHUP, e.g. a pipe whose other end closed); read or write the fd to learn
 * what happened. It is always reported, whatever the interest set. */
#define EVLOOP_ERROR 0x4

typedef void (*evloop_fd_cb)(struct evloop *loop, int fd, unsigned events,
			     void *arg);
typedef void (*evloop_timer_cb)(struct evloop *loop, struct evloop_timer *t,
				void *arg);
typedef void (*evloop_signal_cb)(struct evloop *loop, int signo, void *arg);
/* wstatus works with WIFEXITED/WEXITSTATUS/WIFSIGNALED/WTERMSIG/WCOREDUMP;
 * it is -1 when the status could not be collected (the child was reaped by
 * someone else, e.g. SIGCHLD set to SIG_IGN). */
typedef void (*evloop_child_cb)(struct evloop *loop, pid_t pid, int wstatus,
				void *arg);

/* NULL on failure, errno set. */
struct evloop *evloop_new(void);
/* Closes the loop's own fds (not the user's), frees all timers and watches,
 * and unblocks the signals it blocked (discarding any still pending, so a
 * late SIGTERM cannot kill the process with its default action). */
void evloop_free(struct evloop *loop);

/* Level-triggered interest in EVLOOP_READ and/or EVLOOP_WRITE (0 = only
 * errors). Fails with EEXIST if fd is already registered, ENOENT on mod/del
 * of an unknown fd. */
int evloop_add_fd(struct evloop *loop, int fd, unsigned events,
		  evloop_fd_cb cb, void *arg);
int evloop_mod_fd(struct evloop *loop, int fd, unsigned events);
int evloop_del_fd(struct evloop *loop, int fd);

/* Timers run on CLOCK_MONOTONIC with millisecond delays counted from the
 * moment of the call. interval_ms 0 = one-shot. Periodic timers do not drift:
 * the next deadline is the previous one plus the interval, and periods missed
 * while the loop was busy are skipped, not replayed. Timers with equal
 * deadlines fire in the order they were (re)armed.
 *
 * Lifetime: a one-shot timer is freed by the loop after its callback returns
 * unless the callback re-armed it with evloop_timer_rearm; the handle is then
 * invalid. A periodic timer lives until cancelled. evloop_timer_cancel frees
 * the timer (deferred if it is running or about to run this round, so
 * cancelling from any callback, including its own, is safe) and the handle is
 * invalid after it returns. NULL with errno set on failure. */
struct evloop_timer *evloop_timer_add(struct evloop *loop, uint64_t delay_ms,
				      uint64_t interval_ms,
				      evloop_timer_cb cb, void *arg);
/* Like evloop_timer_add with an absolute first deadline on the
 * evloop_now_ms() clock, for ticks aligned to a boundary. */
struct evloop_timer *evloop_timer_add_at(struct evloop *loop, uint64_t when_ms,
					 uint64_t interval_ms,
					 evloop_timer_cb cb, void *arg);
void evloop_timer_cancel(struct evloop *loop, struct evloop_timer *t);
/* Moves the next firing to now + delay_ms (a periodic timer continues with
 * its interval from there). Fails with EINVAL on a cancelled timer. */
int evloop_timer_rearm(struct evloop *loop, struct evloop_timer *t,
		       uint64_t delay_ms);
/* Deadline (evloop_now_ms() clock) of the pending firing or, inside the
 * timer's callback, of the firing in progress. */
uint64_t evloop_timer_deadline_ms(const struct evloop_timer *t);

/* Blocks signo with sigprocmask and delivers it through the loop's signalfd.
 * Other threads must keep it blocked too, and forked children inherit the
 * blocked mask, so reset the mask before exec. EEXIST if already handled,
 * EINVAL for SIGKILL/SIGSTOP or an invalid number. */
int evloop_signal_add(struct evloop *loop, int signo, evloop_signal_cb cb,
		      void *arg);
/* Stops handling signo and unblocks it if the loop blocked it (a pending
 * instance is discarded first). ENOENT if not handled. */
int evloop_signal_del(struct evloop *loop, int signo);

/* Watches a child of this process through a pidfd and reaps it when it exits;
 * the callback runs once and the watch is then gone. -1/ESRCH if the process
 * is already gone (reaped), ECHILD if it is not our child, EEXIST if watched. */
int evloop_child_add(struct evloop *loop, pid_t pid, evloop_child_cb cb,
		     void *arg);
/* Stops watching pid without reaping it. ENOENT if not watched. */
int evloop_child_del(struct evloop *loop, pid_t pid);

/* Runs rounds until evloop_stop; 0 then, -1 with errno on epoll failure. */
int evloop_run(struct evloop *loop);
/* Waits up to timeout_ms (-1 = forever, 0 = poll) and dispatches one round:
 * ready fds, signals and children in kernel order, then expired timers in
 * deadline order. 0 on success (also on EINTR), -1 with errno on failure. */
int evloop_run_once(struct evloop *loop, int timeout_ms);
/* Makes evloop_run return after the current round. */
void evloop_stop(struct evloop *loop);
/* Monotonic milliseconds, cached once per round (after the wait). */
uint64_t evloop_now_ms(const struct evloop *loop);

#endif
