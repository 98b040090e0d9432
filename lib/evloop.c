#include "config.h"

#include "evloop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "util.h"

#define NS_PER_MS 1000000ULL
#define NS_PER_SEC 1000000000ULL
#define HEAP_NONE SIZE_MAX
#define EVENT_BATCH 64
#define SIGINFO_BATCH 16
/* Core-dump bit of a wait status, as WCOREDUMP reads it. */
#define WSTATUS_CORE 0x80

enum watch_kind {
	WATCH_FD,
	WATCH_TIMERFD,
	WATCH_SIGNALFD,
	WATCH_CHILD,
};

/* What epoll_event.data.ptr points at. A removed watch stays allocated (on
 * the graveyard list) until the round ends, because events for it may still
 * sit in the batch being dispatched; `dead` makes them be skipped. */
struct watch {
	enum watch_kind kind;
	int fd;
	unsigned events;
	bool dead;
	evloop_fd_cb fd_cb;
	evloop_child_cb child_cb;
	pid_t pid;
	void *arg;
	struct watch *next; /* children list, then graveyard */
};

struct evloop_timer {
	uint64_t deadline; /* CLOCK_MONOTONIC ns */
	uint64_t interval; /* ns, 0 = one-shot */
	uint64_t seq;      /* breaks deadline ties: insertion order */
	size_t heap_idx;   /* HEAP_NONE when not scheduled */
	bool due;          /* collected for this round, not yet run */
	bool running;
	bool cancelled;    /* free once the dispatcher lets go of it */
	evloop_timer_cb cb;
	void *arg;
};

struct sig_handler {
	evloop_signal_cb cb;
	void *arg;
};

struct evloop {
	int epfd;
	int tfd;
	int sfd;
	struct watch tfd_watch;
	struct watch sfd_watch;
	struct watch **fds; /* user fds, indexed by fd number */
	size_t nfds;
	struct watch *children;
	struct watch *graveyard;
	struct evloop_timer **heap; /* min-heap on (deadline, seq) */
	size_t heap_len;
	size_t heap_cap;
	struct evloop_timer **due;
	size_t due_cap;
	uint64_t next_seq;
	uint64_t armed; /* deadline the timerfd is set for, if is_armed */
	bool is_armed;
	struct sig_handler sig[NSIG];
	sigset_t sigs;    /* handled through the signalfd */
	sigset_t blocked; /* blocked by us, so ours to unblock */
	uint64_t now_ns;
	bool stop;
	bool dispatching;
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return (b != 0 && a > UINT64_MAX / b) ? UINT64_MAX : a * b;
}

static uint64_t ms_to_ns(uint64_t ms)
{
	return sat_mul(ms, NS_PER_MS);
}

/* ---- timer heap ---- */

static bool timer_before(const struct evloop_timer *a,
			 const struct evloop_timer *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void heap_place(struct evloop *loop, size_t i, struct evloop_timer *t)
{
	loop->heap[i] = t;
	t->heap_idx = i;
}

static void heap_sift_up(struct evloop *loop, size_t i)
{
	struct evloop_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_place(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_place(loop, i, t);
}

static void heap_sift_down(struct evloop *loop, size_t i)
{
	struct evloop_timer *t = loop->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len &&
		    timer_before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_before(loop->heap[child], t))
			break;
		heap_place(loop, i, loop->heap[child]);
		i = child;
	}
	heap_place(loop, i, t);
}

static void heap_insert(struct evloop *loop, struct evloop_timer *t)
{
	if (loop->heap_len == loop->heap_cap) {
		loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		loop->heap = util_xreallocarray(loop->heap, loop->heap_cap,
						sizeof(*loop->heap));
	}
	t->seq = loop->next_seq++;
	heap_place(loop, loop->heap_len++, t);
	heap_sift_up(loop, t->heap_idx);
}

static void heap_remove(struct evloop *loop, struct evloop_timer *t)
{
	size_t i = t->heap_idx;
	struct evloop_timer *last = loop->heap[--loop->heap_len];

	t->heap_idx = HEAP_NONE;
	if (last == t)
		return;
	heap_place(loop, i, last);
	heap_sift_down(loop, i);
	heap_sift_up(loop, last->heap_idx);
}

/* Point the single timerfd at the earliest deadline; skipped when nothing
 * changed so a quiet round costs no syscall. */
static int timers_arm(struct evloop *loop)
{
	struct itimerspec its;
	uint64_t d;
	int ret = -1;

	memset(&its, 0, sizeof(its));
	if (loop->heap_len == 0) {
		if (!loop->is_armed) {
			ret = 0;
			goto done;
		}
		d = 0; /* all-zero it_value disarms */
	} else {
		d = loop->heap[0]->deadline;
		if (loop->is_armed && loop->armed == d) {
			ret = 0;
			goto done;
		}
		/* 0 would disarm, and the kernel caps times at INT64_MAX ns */
		if (d == 0)
			d = 1;
		if (d > INT64_MAX)
			d = INT64_MAX;
		its.it_value.tv_sec = (time_t)(d / NS_PER_SEC);
		its.it_value.tv_nsec = (long)(d % NS_PER_SEC);
	}
	if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		goto done;
	loop->is_armed = loop->heap_len > 0;
	loop->armed = loop->heap_len > 0 ? loop->heap[0]->deadline : 0;
	ret = 0;
done:
	return ret;
}

static void timer_reschedule(struct evloop_timer *t)
{
	uint64_t now = util_now_mono_ns();
	uint64_t next = sat_add(t->deadline, t->interval);

	/* Keep the phase of the original schedule but skip periods we slept
	 * through: replaying them would fire a burst after a stall. */
	if (next <= now) {
		uint64_t missed = (now - t->deadline) / t->interval;

		next = sat_add(t->deadline, sat_mul(missed + 1, t->interval));
	}
	t->deadline = next;
}

/* Collect every expired timer first, then run them: timers created or
 * re-armed by these callbacks wait for the next round, so a callback that
 * keeps adding zero-delay timers cannot starve the fds. */
static void timers_run(struct evloop *loop)
{
	size_t n = 0;

	while (loop->heap_len > 0 && loop->heap[0]->deadline <= loop->now_ns) {
		struct evloop_timer *t = loop->heap[0];

		heap_remove(loop, t);
		if (n == loop->due_cap) {
			loop->due_cap = loop->due_cap ? loop->due_cap * 2 : 16;
			loop->due = util_xreallocarray(loop->due, loop->due_cap,
						       sizeof(*loop->due));
		}
		t->due = true;
		loop->due[n++] = t;
	}
	for (size_t i = 0; i < n; i++) {
		struct evloop_timer *t = loop->due[i];

		t->due = false;
		if (t->cancelled) {
			free(t);
			continue;
		}
		/* re-armed by an earlier callback: it fires at its new time */
		if (t->heap_idx != HEAP_NONE)
			continue;
		t->running = true;
		t->cb(loop, t, t->arg);
		t->running = false;
		if (t->cancelled) {
			free(t);
			continue;
		}
		if (t->heap_idx != HEAP_NONE)
			continue;
		if (t->interval == 0) {
			free(t);
			continue;
		}
		timer_reschedule(t);
		heap_insert(loop, t);
	}
}

static struct evloop_timer *timer_new(struct evloop *loop, uint64_t deadline,
				      uint64_t interval_ms, evloop_timer_cb cb,
				      void *arg)
{
	struct evloop_timer *t = NULL;

	if (loop == NULL || cb == NULL) {
		errno = EINVAL;
		goto done;
	}
	t = util_xcalloc(1, sizeof(*t));
	t->deadline = deadline;
	t->interval = ms_to_ns(interval_ms);
	t->heap_idx = HEAP_NONE;
	t->cb = cb;
	t->arg = arg;
	heap_insert(loop, t);
done:
	return t;
}

struct evloop_timer *evloop_timer_add(struct evloop *loop, uint64_t delay_ms,
				      uint64_t interval_ms,
				      evloop_timer_cb cb, void *arg)
{
	return timer_new(loop, sat_add(util_now_mono_ns(), ms_to_ns(delay_ms)),
			 interval_ms, cb, arg);
}

struct evloop_timer *evloop_timer_add_at(struct evloop *loop, uint64_t when_ms,
					 uint64_t interval_ms,
					 evloop_timer_cb cb, void *arg)
{
	return timer_new(loop, ms_to_ns(when_ms), interval_ms, cb, arg);
}

void evloop_timer_cancel(struct evloop *loop, struct evloop_timer *t)
{
	if (loop == NULL || t == NULL || t->cancelled)
		return;
	if (t->heap_idx != HEAP_NONE)
		heap_remove(loop, t);
	/* The dispatcher still holds it; it frees it when done. */
	if (t->due || t->running) {
		t->cancelled = true;
		return;
	}
	free(t);
}

int evloop_timer_rearm(struct evloop *loop, struct evloop_timer *t,
		       uint64_t delay_ms)
{
	int ret = -1;

	if (loop == NULL || t == NULL || t->cancelled) {
		errno = EINVAL;
		goto done;
	}
	if (t->heap_idx != HEAP_NONE)
		heap_remove(loop, t);
	t->deadline = sat_add(util_now_mono_ns(), ms_to_ns(delay_ms));
	heap_insert(loop, t);
	ret = 0;
done:
	return ret;
}

uint64_t evloop_timer_deadline_ms(const struct evloop_timer *t)
{
	return t->deadline / NS_PER_MS;
}

/* ---- watches ---- */

/* Free now, or at the end of the round if its events may still be queued. */
static void watch_retire(struct evloop *loop, struct watch *w)
{
	w->dead = true;
	if (loop->dispatching) {
		w->next = loop->graveyard;
		loop->graveyard = w;
		return;
	}
	free(w);
}

static void graveyard_flush(struct evloop *loop)
{
	while (loop->graveyard != NULL) {
		struct watch *w = loop->graveyard;

		loop->graveyard = w->next;
		free(w);
	}
}

static uint32_t events_to_epoll(unsigned events)
{
	uint32_t e = 0;

	if (events & EVLOOP_READ)
		e |= EPOLLIN;
	if (events & EVLOOP_WRITE)
		e |= EPOLLOUT;
	return e;
}

static unsigned events_from_epoll(uint32_t e)
{
	unsigned events = 0;

	if (e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP))
		events |= EVLOOP_READ;
	if (e & EPOLLOUT)
		events |= EVLOOP_WRITE;
	if (e & (EPOLLERR | EPOLLHUP))
		events |= EVLOOP_ERROR;
	return events;
}

static int epoll_watch(struct evloop *loop, int op, struct watch *w,
		       uint32_t events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = w;
	return epoll_ctl(loop->epfd, op, w->fd, &ev);
}

static struct watch *fd_lookup(const struct evloop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nfds)
		return NULL;
	return loop->fds[fd];
}

int evloop_add_fd(struct evloop *loop, int fd, unsigned events,
		  evloop_fd_cb cb, void *arg)
{
	struct watch *w = NULL;
	int ret = -1;

	if (loop == NULL || cb == NULL ||
	    (events & ~(unsigned)(EVLOOP_READ | EVLOOP_WRITE | EVLOOP_ERROR))) {
		errno = EINVAL;
		goto done;
	}
	if (fd < 0) {
		errno = EBADF;
		goto done;
	}
	if (fd_lookup(loop, fd) != NULL) {
		errno = EEXIST;
		goto done;
	}
	if ((size_t)fd >= loop->nfds) {
		size_t n = loop->nfds ? loop->nfds : 64;

		while (n <= (size_t)fd)
			n *= 2;
		loop->fds = util_xreallocarray(loop->fds, n, sizeof(*loop->fds));
		memset(loop->fds + loop->nfds, 0,
		       (n - loop->nfds) * sizeof(*loop->fds));
		loop->nfds = n;
	}
	w = util_xcalloc(1, sizeof(*w));
	w->kind = WATCH_FD;
	w->fd = fd;
	w->events = events & (EVLOOP_READ | EVLOOP_WRITE);
	w->fd_cb = cb;
	w->arg = arg;
	if (epoll_watch(loop, EPOLL_CTL_ADD, w, events_to_epoll(w->events)) < 0)
		goto done;
	loop->fds[fd] = w;
	w = NULL;
	ret = 0;
done:
	free(w);
	return ret;
}

int evloop_mod_fd(struct evloop *loop, int fd, unsigned events)
{
	struct watch *w;
	int ret = -1;

	if (loop == NULL ||
	    (events & ~(unsigned)(EVLOOP_READ | EVLOOP_WRITE | EVLOOP_ERROR))) {
		errno = EINVAL;
		goto done;
	}
	w = fd_lookup(loop, fd);
	if (w == NULL) {
		errno = ENOENT;
		goto done;
	}
	events &= EVLOOP_READ | EVLOOP_WRITE;
	if (epoll_watch(loop, EPOLL_CTL_MOD, w, events_to_epoll(events)) < 0)
		goto done;
	w->events = events;
	ret = 0;
done:
	return ret;
}

int evloop_del_fd(struct evloop *loop, int fd)
{
	struct watch *w;
	int ret = -1;

	if (loop == NULL) {
		errno = EINVAL;
		goto done;
	}
	w = fd_lookup(loop, fd);
	if (w == NULL) {
		errno = ENOENT;
		goto done;
	}
	/* EBADF/ENOENT: the fd was closed first and the kernel already
	 * dropped it; our bookkeeping must still go. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 &&
	    errno != EBADF && errno != ENOENT)
		goto done;
	loop->fds[fd] = NULL;
	watch_retire(loop, w);
	ret = 0;
done:
	return ret;
}

/* ---- signals ---- */

/* Discard pending instances before unblocking: otherwise one that arrived
 * after we stopped reading would hit its default action (often death). */
static void signal_release(int signo)
{
	struct timespec zero = { 0, 0 };
	sigset_t one;
	int rc;

	sigemptyset(&one);
	sigaddset(&one, signo);
	do
		rc = sigtimedwait(&one, NULL, &zero);
	while (rc > 0 || (rc < 0 && errno == EINTR));
	sigprocmask(SIG_UNBLOCK, &one, NULL);
}

int evloop_signal_add(struct evloop *loop, int signo, evloop_signal_cb cb,
		      void *arg)
{
	sigset_t one, old, mask;
	bool blocked_now = false;
	int fd = -1;
	int ret = -1;

	sigemptyset(&old);
	sigemptyset(&one);
	if (loop == NULL || cb == NULL || signo <= 0 || signo >= NSIG ||
	    signo == SIGKILL || signo == SIGSTOP) {
		errno = EINVAL;
		goto done;
	}
	if (sigismember(&loop->sigs, signo) == 1) {
		errno = EEXIST;
		goto done;
	}
	mask = loop->sigs;
	/* fails for the signals libc keeps for itself */
	if (sigaddset(&mask, signo) < 0 || sigaddset(&one, signo) < 0)
		goto done;
	/* Block first so no instance slips through to the default action
	 * before the signalfd watches it. */
	if (sigprocmask(SIG_BLOCK, &one, &old) < 0)
		goto done;
	blocked_now = true;
	if (loop->sfd < 0) {
		fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
		if (fd < 0)
			goto done;
		loop->sfd_watch.fd = fd;
		if (epoll_watch(loop, EPOLL_CTL_ADD, &loop->sfd_watch,
				EPOLLIN) < 0)
			goto done;
		loop->sfd = fd;
		fd = -1;
	} else if (signalfd(loop->sfd, &mask, SFD_NONBLOCK | SFD_CLOEXEC) < 0) {
		goto done;
	}
	loop->sigs = mask;
	if (sigismember(&old, signo) != 1)
		sigaddset(&loop->blocked, signo);
	loop->sig[signo].cb = cb;
	loop->sig[signo].arg = arg;
	ret = 0;
done:
	if (ret < 0) {
		int saved = errno;

		if (fd >= 0) {
			close(fd);
			loop->sfd_watch.fd = -1;
		}
		if (blocked_now && sigismember(&old, signo) != 1)
			sigprocmask(SIG_UNBLOCK, &one, NULL);
		errno = saved;
	}
	return ret;
}

int evloop_signal_del(struct evloop *loop, int signo)
{
	sigset_t mask;
	int ret = -1;

	if (loop == NULL || signo <= 0 || signo >= NSIG) {
		errno = EINVAL;
		goto done;
	}
	if (sigismember(&loop->sigs, signo) != 1) {
		errno = ENOENT;
		goto done;
	}
	mask = loop->sigs;
	sigdelset(&mask, signo);
	if (signalfd(loop->sfd, &mask, SFD_NONBLOCK | SFD_CLOEXEC) < 0)
		goto done;
	loop->sigs = mask;
	loop->sig[signo].cb = NULL;
	loop->sig[signo].arg = NULL;
	if (sigismember(&loop->blocked, signo) == 1) {
		sigdelset(&loop->blocked, signo);
		signal_release(signo);
	}
	ret = 0;
done:
	return ret;
}

/* One read per round: a handler that re-raises its own signal must not
 * keep the round going forever; the rest stays readable for next time. */
static void signals_dispatch(struct evloop *loop)
{
	struct signalfd_siginfo si[SIGINFO_BATCH];
	ssize_t n;

	do
		n = read(loop->sfd, si, sizeof(si));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return;
	for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
		uint32_t signo = si[i].ssi_signo;

		/* looked up per entry: an earlier handler may have removed it */
		if (signo < NSIG && loop->sig[signo].cb != NULL)
			loop->sig[signo].cb(loop, (int)signo,
					    loop->sig[signo].arg);
	}
}

/* ---- children ---- */

static void child_unlink(struct evloop *loop, struct watch *w)
{
	for (struct watch **pp = &loop->children; *pp != NULL;
	     pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
	watch_retire(loop, w);
}

static struct watch *child_lookup(const struct evloop *loop, pid_t pid)
{
	for (struct watch *w = loop->children; w != NULL; w = w->next)
		if (w->pid == pid)
			return w;
	return NULL;
}

static int pidfd_open_nb(pid_t pid)
{
	/* PIDFD_NONBLOCK is O_NONBLOCK; kernels before 5.10 reject it. */
	int fd = (int)syscall(SYS_pidfd_open, pid, O_NONBLOCK);

	if (fd < 0 && errno == EINVAL) {
		fd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (fd >= 0 && fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
			int saved = errno;

			close(fd);
			fd = -1;
			errno = saved;
		}
	}
	return fd;
}

int evloop_child_add(struct evloop *loop, pid_t pid, evloop_child_cb cb,
		     void *arg)
{
	struct watch *w = NULL;
	siginfo_t si;
	int fd = -1;
	int ret = -1;

	if (loop == NULL || cb == NULL || pid <= 0) {
		errno = EINVAL;
		goto done;
	}
	if (child_lookup(loop, pid) != NULL) {
		errno = EEXIST;
		goto done;
	}
	fd = pidfd_open_nb(pid);
	if (fd < 0)
		goto done;
	/* Peek without reaping: refuses (ECHILD) a process that is not our
	 * child, which we could never reap. */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
	    errno != EAGAIN)
		goto done;
	w = util_xcalloc(1, sizeof(*w));
	w->kind = WATCH_CHILD;
	w->fd = fd;
	w->pid = pid;
	w->child_cb = cb;
	w->arg = arg;
	if (epoll_watch(loop, EPOLL_CTL_ADD, w, EPOLLIN) < 0)
		goto done;
	w->next = loop->children;
	loop->children = w;
	w = NULL;
	fd = -1;
	ret = 0;
done:
	if (ret < 0) {
		int saved = errno;

		if (fd >= 0)
			close(fd);
		free(w);
		errno = saved;
	}
	return ret;
}

int evloop_child_del(struct evloop *loop, pid_t pid)
{
	struct watch *w;
	int ret = -1;

	if (loop == NULL) {
		errno = EINVAL;
		goto done;
	}
	w = child_lookup(loop, pid);
	if (w == NULL) {
		errno = ENOENT;
		goto done;
	}
	child_unlink(loop, w);
	ret = 0;
done:
	return ret;
}

/* waitid reports through siginfo; rebuild the classic status word so
 * callers can use the W* macros they know. */
static int wstatus_from_siginfo(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_KILLED:
		return si->si_status & 0x7f;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | WSTATUS_CORE;
	default:
		return -1;
	}
}

static void child_dispatch(struct evloop *loop, struct watch *w)
{
	evloop_child_cb cb = w->child_cb;
	void *arg = w->arg;
	pid_t pid = w->pid;
	siginfo_t si;
	int wstatus;
	int rc;

	memset(&si, 0, sizeof(si));
	do
		rc = waitid(P_PIDFD, (id_t)w->fd, &si, WEXITED | WNOHANG);
	while (rc < 0 && errno == EINTR);
	/* not exited yet (spurious wakeup): keep watching */
	if ((rc == 0 && si.si_pid == 0) || (rc < 0 && errno == EAGAIN))
		return;
	wstatus = rc < 0 ? -1 : wstatus_from_siginfo(&si);
	/* Gone before the callback, so it may watch or cancel freely. */
	child_unlink(loop, w);
	cb(loop, pid, wstatus, arg);
}

/* ---- loop ---- */

struct evloop *evloop_new(void)
{
	struct evloop *loop = util_xcalloc(1, sizeof(*loop));
	struct evloop *ret = NULL;

	loop->epfd = -1;
	loop->tfd = -1;
	loop->sfd = -1;
	loop->tfd_watch.kind = WATCH_TIMERFD;
	loop->tfd_watch.fd = -1;
	loop->sfd_watch.kind = WATCH_SIGNALFD;
	loop->sfd_watch.fd = -1;
	sigemptyset(&loop->sigs);
	sigemptyset(&loop->blocked);
	loop->now_ns = util_now_mono_ns();

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto done;
	loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (loop->tfd < 0)
		goto done;
	loop->tfd_watch.fd = loop->tfd;
	if (epoll_watch(loop, EPOLL_CTL_ADD, &loop->tfd_watch, EPOLLIN) < 0)
		goto done;
	ret = loop;
	loop = NULL;
done:
	if (loop != NULL) {
		int saved = errno;

		evloop_free(loop);
		errno = saved;
	}
	return ret;
}

void evloop_free(struct evloop *loop)
{
	int saved = errno;

	if (loop == NULL)
		return;
	while (loop->children != NULL) {
		struct watch *w = loop->children;

		loop->children = w->next;
		close(w->fd);
		free(w);
	}
	for (size_t i = 0; i < loop->nfds; i++)
		free(loop->fds[i]);
	free(loop->fds);
	graveyard_flush(loop);
	for (size_t i = 0; i < loop->heap_len; i++)
		free(loop->heap[i]);
	free(loop->heap);
	free(loop->due);
	for (int signo = 1; signo < NSIG; signo++)
		if (sigismember(&loop->blocked, signo) == 1)
			signal_release(signo);
	if (loop->sfd >= 0)
		close(loop->sfd);
	if (loop->tfd >= 0)
		close(loop->tfd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop);
	errno = saved;
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event ev[EVENT_BATCH];
	uint64_t ticks;
	int n;
	int ret = -1;

	if (loop == NULL) {
		errno = EINVAL;
		goto done;
	}
	if (loop->dispatching) {
		errno = EBUSY;
		goto done;
	}
	if (timers_arm(loop) < 0)
		goto done;
	n = epoll_wait(loop->epfd, ev, EVENT_BATCH, timeout_ms < 0 ? -1 : timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			goto done;
		n = 0;
	}
	loop->now_ns = util_now_mono_ns();
	loop->dispatching = true;
	for (int i = 0; i < n; i++) {
		struct watch *w = ev[i].data.ptr;
		unsigned events;

		if (w->dead)
			continue;
		switch (w->kind) {
		case WATCH_FD:
			/* the batch may predate an evloop_mod_fd in this round */
			events = events_from_epoll(ev[i].events) &
				 (w->events | EVLOOP_ERROR);
			if (events != 0)
				w->fd_cb(loop, w->fd, events, w->arg);
			break;
		case WATCH_TIMERFD:
			/* expired means disarmed: force the next arm */
			if (read(loop->tfd, &ticks, sizeof(ticks)) > 0)
				loop->is_armed = false;
			break;
		case WATCH_SIGNALFD:
			signals_dispatch(loop);
			break;
		case WATCH_CHILD:
			child_dispatch(loop, w);
			break;
		}
	}
	timers_run(loop);
	loop->dispatching = false;
	graveyard_flush(loop);
	ret = 0;
done:
	return ret;
}

int evloop_run(struct evloop *loop)
{
	int ret = -1;

	if (loop == NULL) {
		errno = EINVAL;
		goto done;
	}
	loop->stop = false;
	while (!loop->stop) {
		if (evloop_run_once(loop, -1) < 0)
			goto done;
	}
	ret = 0;
done:
	if (loop != NULL)
		loop->stop = false;
	return ret;
}

void evloop_stop(struct evloop *loop)
{
	if (loop != NULL)
		loop->stop = true;
}

uint64_t evloop_now_ms(const struct evloop *loop)
{
	return loop->now_ns / NS_PER_MS;
}
