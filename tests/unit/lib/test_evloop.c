#include "config.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "evloop.h"
#include "util.h"

/* Generous ceiling for anything that should happen "soon"; tests only check
 * lower bounds and ordering tightly, never upper bounds of a few ms. */
#define SOON_MS 5000

static uint64_t now_ms(void)
{
	return util_now_mono_ns() / 1000000u;
}

/* Runs rounds until *flag becomes non-zero or SOON_MS passes. */
static void run_until(struct evloop *loop, const int *flag)
{
	uint64_t end = now_ms() + SOON_MS;

	while (*flag == 0 && now_ms() < end)
		cr_assert_eq(evloop_run_once(loop, 50), 0);
	cr_assert_neq(*flag, 0, "event did not arrive within %d ms", SOON_MS);
}

static void make_pipe(int p[2])
{
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
}

/* ---- fds ---- */

struct fd_rec {
	int calls;
	int fd;
	unsigned events;
	int other;              /* fd to delete from the callback, -1 = none */
	struct evloop_timer *cancel; /* timer to cancel from the callback */
};

static void fd_record_cb(struct evloop *loop, int fd, unsigned events,
			 void *arg)
{
	struct fd_rec *r = arg;
	char buf[16];

	r->calls++;
	r->fd = fd;
	r->events = events;
	if (events & EVLOOP_READ)
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	if (r->other >= 0)
		cr_assert_eq(evloop_del_fd(loop, r->other), 0);
	if (r->cancel != NULL) {
		evloop_timer_cancel(loop, r->cancel);
		r->cancel = NULL;
	}
}

Test(evloop, fd_pipe_readiness)
{
	struct evloop *loop = evloop_new();
	struct fd_rec rd = { .other = -1 }, wr = { .other = -1 };
	int p[2];

	cr_assert_not_null(loop);
	make_pipe(p);
	cr_assert_eq(evloop_add_fd(loop, p[0], EVLOOP_READ, fd_record_cb, &rd), 0);
	cr_assert_eq(evloop_add_fd(loop, p[0], EVLOOP_READ, fd_record_cb, &rd), -1);
	cr_assert_eq(errno, EEXIST);

	cr_assert_eq(evloop_run_once(loop, 0), 0);
	cr_assert_eq(rd.calls, 0, "empty pipe reported readable");

	cr_assert_eq(write(p[1], "x", 1), 1);
	run_until(loop, &rd.calls);
	cr_assert_eq(rd.calls, 1);
	cr_assert_eq(rd.fd, p[0]);
	cr_assert_eq(rd.events, EVLOOP_READ);

	/* drained: level-triggered, so no further callback */
	cr_assert_eq(evloop_run_once(loop, 0), 0);
	cr_assert_eq(rd.calls, 1);

	/* write side: writable at once, silent after mod to no interest */
	cr_assert_eq(evloop_add_fd(loop, p[1], EVLOOP_WRITE, fd_record_cb, &wr), 0);
	run_until(loop, &wr.calls);
	cr_assert_eq(wr.events, EVLOOP_WRITE);
	cr_assert_eq(evloop_mod_fd(loop, p[1], 0), 0);
	wr.calls = 0;
	cr_assert_eq(evloop_run_once(loop, 0), 0);
	cr_assert_eq(wr.calls, 0);
	cr_assert_eq(evloop_del_fd(loop, p[1]), 0);
	cr_assert_eq(evloop_del_fd(loop, p[1]), -1);
	cr_assert_eq(errno, ENOENT);

	/* closing the writer is a hangup: reported as EVLOOP_ERROR */
	close(p[1]);
	rd.calls = 0;
	run_until(loop, &rd.calls);
	cr_assert(rd.events & EVLOOP_ERROR, "HUP not reported, events %#x",
		  rd.events);

	cr_assert_eq(evloop_del_fd(loop, p[0]), 0);
	close(p[0]);
	evloop_free(loop);
}

Test(evloop, fd_delete_other_in_same_round)
{
	struct evloop *loop = evloop_new();
	struct fd_rec a = { .other = -1 }, b = { .other = -1 };
	int pa[2], pb[2];

	cr_assert_not_null(loop);
	make_pipe(pa);
	make_pipe(pb);
	/* whichever runs first removes the other, which must then stay quiet
	 * even though its event is already in this round's batch */
	a.other = pb[0];
	b.other = pa[0];
	cr_assert_eq(evloop_add_fd(loop, pa[0], EVLOOP_READ, fd_record_cb, &a), 0);
	cr_assert_eq(evloop_add_fd(loop, pb[0], EVLOOP_READ, fd_record_cb, &b), 0);
	cr_assert_eq(write(pa[1], "a", 1), 1);
	cr_assert_eq(write(pb[1], "b", 1), 1);

	cr_assert_eq(evloop_run_once(loop, 1000), 0);
	cr_assert_eq(a.calls + b.calls, 1, "a=%d b=%d", a.calls, b.calls);

	/* survivor keeps working; the removed one never fires again */
	int survivor = a.calls ? pa[0] : pb[0];
	struct fd_rec *s = a.calls ? &a : &b;

	s->other = -1;
	cr_assert_eq(write(pa[1], "a", 1), 1);
	cr_assert_eq(write(pb[1], "b", 1), 1);
	cr_assert_eq(evloop_run_once(loop, 1000), 0);
	cr_assert_eq(a.calls + b.calls, 2);
	cr_assert_eq(s->calls, 2);

	cr_assert_eq(evloop_del_fd(loop, survivor), 0);
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
	evloop_free(loop);
}

struct reopen_ctx {
	int p[2];
	int calls;
	int new_calls;
};

static void reopened_cb(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct reopen_ctx *c = arg;
	char buf[8];

	(void)loop;
	(void)events;
	c->new_calls++;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Deletes and closes its own fd, then registers a fresh pipe that likely
 * reuses the same fd number. */
static void self_delete_cb(struct evloop *loop, int fd, unsigned events,
			   void *arg)
{
	struct reopen_ctx *c = arg;

	(void)events;
	c->calls++;
	cr_assert_eq(evloop_del_fd(loop, fd), 0);
	close(c->p[0]);
	close(c->p[1]);
	make_pipe(c->p);
	cr_assert_eq(evloop_add_fd(loop, c->p[0], EVLOOP_READ, reopened_cb, c), 0);
}

Test(evloop, fd_delete_self_and_readd)
{
	struct evloop *loop = evloop_new();
	struct reopen_ctx c = { .calls = 0 };

	cr_assert_not_null(loop);
	make_pipe(c.p);
	cr_assert_eq(evloop_add_fd(loop, c.p[0], EVLOOP_READ, self_delete_cb, &c), 0);
	cr_assert_eq(write(c.p[1], "x", 1), 1);
	run_until(loop, &c.calls);
	cr_assert_eq(c.new_calls, 0);
	cr_assert_eq(evloop_run_once(loop, 0), 0);
	cr_assert_eq(c.calls, 1);
	cr_assert_eq(c.new_calls, 0);

	cr_assert_eq(write(c.p[1], "y", 1), 1);
	run_until(loop, &c.new_calls);
	cr_assert_eq(c.calls, 1);

	cr_assert_eq(evloop_del_fd(loop, c.p[0]), 0);
	close(c.p[0]);
	close(c.p[1]);
	evloop_free(loop);
}

/* ---- timers ---- */

struct tlog {
	int n;
	int order[2048];
	uint64_t deadline[2048];
	uint64_t at[2048];
	int stop_after;          /* evloop_stop after this many, 0 = never */
	int cancel_after;        /* cancel self after this many, 0 = never */
	int rearm_times;         /* rearm self this many more times */
	unsigned sleep_first_ms; /* block inside the first callback */
	unsigned sleep_each_ms;  /* block inside every callback */
	struct evloop_timer *victim; /* cancel this one from the callback */
};

struct tagged {
	struct tlog *log;
	int id;
};

static void tlog_note(struct tlog *l, int id, struct evloop_timer *t)
{
	cr_assert_lt(l->n, 2048);
	l->order[l->n] = id;
	l->deadline[l->n] = evloop_timer_deadline_ms(t);
	l->at[l->n] = now_ms();
	l->n++;
}

static void tagged_cb(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct tagged *tg = arg;
	struct tlog *l = tg->log;

	tlog_note(l, tg->id, t);
	if (l->sleep_first_ms && l->n == 1)
		usleep(l->sleep_first_ms * 1000);
	if (l->sleep_each_ms)
		usleep(l->sleep_each_ms * 1000);
	if (l->victim != NULL) {
		evloop_timer_cancel(loop, l->victim);
		l->victim = NULL;
	}
	if (l->cancel_after && l->n == l->cancel_after)
		evloop_timer_cancel(loop, t);
	if (l->rearm_times > 0) {
		l->rearm_times--;
		cr_assert_eq(evloop_timer_rearm(loop, t, 5), 0);
	}
	if (l->stop_after && l->n == l->stop_after)
		evloop_stop(loop);
}

static void run_for(struct evloop *loop, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end)
		cr_assert_eq(evloop_run_once(loop, 10), 0);
}

Test(evloop, timer_oneshot_order_and_timing)
{
	struct evloop *loop = evloop_new();
	struct tlog l = { 0 };
	struct tagged t60 = { &l, 60 }, t20 = { &l, 20 }, t40 = { &l, 40 };
	uint64_t start = now_ms();

	cr_assert_not_null(loop);
	cr_assert_not_null(evloop_timer_add(loop, 60, 0, tagged_cb, &t60));
	cr_assert_not_null(evloop_timer_add(loop, 20, 0, tagged_cb, &t20));
	cr_assert_not_null(evloop_timer_add(loop, 40, 0, tagged_cb, &t40));
	while (l.n < 3 && now_ms() < start + SOON_MS)
		cr_assert_eq(evloop_run_once(loop, -1), 0);
	cr_assert_eq(l.n, 3);
	cr_assert_eq(l.order[0], 20);
	cr_assert_eq(l.order[1], 40);
	cr_assert_eq(l.order[2], 60);
	for (int i = 0; i < 3; i++)
		cr_assert_geq(l.at[i] - start, (uint64_t)l.order[i] - 1,
			      "timer %d fired early after %llu ms", l.order[i],
			      (unsigned long long)(l.at[i] - start));
	/* one-shots are gone: nothing more fires */
	run_for(loop, 50);
	cr_assert_eq(l.n, 3);
	evloop_free(loop);
}

Test(evloop, timer_periodic_and_stop)
{
	struct evloop *loop = evloop_new();
	struct tlog l = { .stop_after = 5 };
	struct tagged tg = { &l, 1 };
	uint64_t start = now_ms();

	cr_assert_not_null(loop);
	cr_assert_not_null(evloop_timer_add(loop, 10, 10, tagged_cb, &tg));
	cr_assert_eq(evloop_run(loop), 0);
	cr_assert_eq(l.n, 5);
	cr_assert_geq(now_ms() - start, 49 - 1);
	cr_assert_lt(now_ms() - start, SOON_MS);
	for (int i = 1; i < 5; i++)
		cr_assert_geq(l.at[i], l.at[i - 1]);
	evloop_free(loop); /* frees the still-armed periodic timer */
}

Test(evloop, timer_periodic_no_drift)
{
	struct evloop *loop = evloop_new();
	struct tlog l = { .stop_after = 10, .sleep_each_ms = 3 };
	struct tagged tg = { &l, 1 };

	cr_assert_not_null(loop);
	cr_assert_not_null(evloop_timer_add(loop, 10, 10, tagged_cb, &tg));
	cr_assert_eq(evloop_run(loop), 0);
	/* late callbacks must not push the schedule: deadlines stay on the
	 * original grid */
	for (int i = 1; i < 10; i++) {
		uint64_t d = l.deadline[i] - l.deadline[0];

		cr_assert_gt(l.deadline[i], l.deadline[i - 1]);
		cr_assert_eq(d % 10, 0, "firing %d deadline off grid by %llu ms",
			     i, (unsigned long long)(d % 10));
	}
	evloop_free(loop);
}

Test(evloop, timer_periodic_skips_missed_periods)
{
	struct evloop *loop = evloop_new();
	struct tlog l = { .stop_after = 3, .sleep_first_ms = 75 };
	struct tagged tg = { &l, 1 };

	cr_assert_not_null(loop);
	cr_assert_not_null(evloop_timer_add(loop, 20, 20, tagged_cb, &tg));
	cr_assert_eq(evloop_run(loop), 0);
	uint64_t gap = l.deadline[1] - l.deadline[0];

	/* 3 periods slept through are skipped, not replayed in a burst */
	cr_assert_geq(gap, 80);
	cr_assert_eq(gap % 20, 0);
	cr_assert_geq(l.at[1] - l.at[0], 75);
	cr_assert_gt(l.deadline[2], l.deadline[1]);
	cr_assert_eq((l.deadline[2] - l.deadline[1]) % 20, 0);
	evloop_free(loop);
}

Test(evloop, timer_cancel_inside_own_callback)
{
	struct evloop *loop = evloop_new();
	struct tlog once = { .cancel_after = 1 };
	struct tlog per = { .cancel_after = 2 };
	struct tagged t1 = { &once, 1 }, t2 = { &per, 2 };

	cr_assert_not_null(loop);
	/* one-shot cancelled in its callback: no double free afterwards */
	cr_assert_not_null(evloop_timer_add(loop, 5, 0, tagged_cb, &t1));
	/* periodic cancelled on its second firing */
	cr_assert_not_null(evloop_timer_add(loop, 5, 5, tagged_cb, &t2));
	run_for(loop, 100);
	cr_assert_eq(once.n, 1);
	cr_assert_eq(per.n, 2);
	evloop_free(loop);
}

Test(evloop, timer_cancel_other_due_in_same_round)
{
	struct evloop *loop = evloop_new();
	struct tlog l = { 0 };
	struct tagged a = { &l, 1 }, b = { &l, 2 };
	uint64_t when = evloop_now_ms(loop);

	cr_assert_not_null(loop);
	/* same (already past) deadline: a runs first and cancels b, which is
	 * already collected for this round */
	cr_assert_not_null(evloop_timer_add_at(loop, when, 0, tagged_cb, &a));
	l.victim = evloop_timer_add_at(loop, when, 0, tagged_cb, &b);
	cr_assert_not_null(l.victim);
	cr_assert_eq(evloop_run_once(loop, 1000), 0);
	run_for(loop, 30);
	cr_assert_eq(l.n, 1);
	cr_assert_eq(l.order[0], 1);
	evloop_free(loop);
}

Test(evloop, timer_cancel_from_fd_callback_same_round)
{
	struct evloop *loop = evloop_new();
	struct tlog l = { 0 };
	struct tagged tg = { &l, 1 };
	struct fd_rec r = { .other = -1 };
	int p[2];

	cr_assert_not_null(loop);
	make_pipe(p);
	usleep(2000);
	/* expired already, so due in the same round as the fd */
	r.cancel = evloop_timer_add(loop, 0, 0, tagged_cb, &tg);
	cr_assert_not_null(r.cancel);
	cr_assert_eq(evloop_add_fd(loop, p[0], EVLOOP_READ, fd_record_cb, &r), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(evloop_run_once(loop, 1000), 0);
	cr_assert_eq(r.calls, 1);
	run_for(loop, 30);
	cr_assert_eq(l.n, 0, "cancelled timer fired");
	cr_assert_eq(evloop_del_fd(loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	evloop_free(loop);
}

Test(evloop, timer_rearm)
{
	struct evloop *loop = evloop_new();
	struct tlog self = { .rearm_times = 2 };
	struct tlog later = { 0 };
	struct tagged ts = { &self, 1 }, tl = { &later, 2 };
	struct evloop_timer *t;
	uint64_t start = now_ms();

	cr_assert_not_null(loop);
	/* one-shot re-armed inside its callback survives and fires again */
	cr_assert_not_null(evloop_timer_add(loop, 5, 0, tagged_cb, &ts));
	/* a pending timer pushed back before it fires */
	t = evloop_timer_add(loop, 10, 0, tagged_cb, &tl);
	cr_assert_not_null(t);
	cr_assert_eq(evloop_timer_rearm(loop, t, 150), 0);
	run_for(loop, 80);
	cr_assert_eq(self.n, 3, "re-armed one-shot fired %d times", self.n);
	cr_assert_eq(later.n, 0, "re-armed timer fired at its old deadline");
	run_until(loop, &later.n);
	cr_assert_geq(later.at[0] - start, 149);
	run_for(loop, 30);
	cr_assert_eq(self.n, 3);
	cr_assert_eq(later.n, 1);
	evloop_free(loop);
}

struct adder {
	int round_added;
	int round_fired;
	int round;
	struct tlog log;
};

static void added_cb(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct adder *a = arg;

	(void)loop;
	(void)t;
	a->round_fired = a->round;
}

static void adding_cb(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct adder *a = arg;

	(void)t;
	a->round_added = a->round;
	cr_assert_not_null(evloop_timer_add(loop, 0, 0, added_cb, a));
}

Test(evloop, timer_added_inside_callback_runs_next_round)
{
	struct evloop *loop = evloop_new();
	struct adder a = { .round_added = -1, .round_fired = -1 };

	cr_assert_not_null(loop);
	cr_assert_not_null(evloop_timer_add(loop, 0, 0, adding_cb, &a));
	for (a.round = 1; a.round < 100 && a.round_fired < 0; a.round++)
		cr_assert_eq(evloop_run_once(loop, 1000), 0);
	cr_assert_gt(a.round_added, 0);
	cr_assert_gt(a.round_fired, a.round_added);
	evloop_free(loop);
}

Test(evloop, many_timers_fire_in_deadline_order)
{
	enum { N = 1000 };
	struct evloop *loop = evloop_new();
	static struct tlog l;
	static struct tagged tg[N];
	uint64_t base;

	cr_assert_not_null(loop);
	memset(&l, 0, sizeof(l));
	base = evloop_now_ms(loop) + 5;
	/* many share a deadline: those must keep insertion order */
	for (int i = 0; i < N; i++) {
		tg[i].log = &l;
		tg[i].id = i;
		cr_assert_not_null(evloop_timer_add_at(loop, base + (uint64_t)(i * 37) % 50,
						       0, tagged_cb, &tg[i]));
	}
	uint64_t end = now_ms() + SOON_MS;

	while (l.n < N && now_ms() < end)
		cr_assert_eq(evloop_run_once(loop, -1), 0);
	cr_assert_eq(l.n, N);
	for (int k = 1; k < N; k++) {
		int a = l.order[k - 1], b = l.order[k];
		uint64_t da = base + (uint64_t)(a * 37) % 50;
		uint64_t db = base + (uint64_t)(b * 37) % 50;

		cr_assert(da < db || (da == db && a < b),
			  "timer %d (deadline +%llu) fired before %d (+%llu)",
			  a, (unsigned long long)(da - base), b,
			  (unsigned long long)(db - base));
		cr_assert_eq(l.deadline[k], db);
	}

	/* relative delays too: deadlines come out non-decreasing */
	memset(&l, 0, sizeof(l));
	for (int i = 0; i < N; i++)
		cr_assert_not_null(evloop_timer_add(loop, (uint64_t)(i * 7919) % 60,
						    0, tagged_cb, &tg[i]));
	end = now_ms() + SOON_MS;
	while (l.n < N && now_ms() < end)
		cr_assert_eq(evloop_run_once(loop, -1), 0);
	cr_assert_eq(l.n, N);
	for (int k = 1; k < N; k++)
		cr_assert_geq(l.deadline[k], l.deadline[k - 1]);
	evloop_free(loop);
}

struct round_count {
	int fired;
};

static void count_cb(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	((struct round_count *)arg)->fired++;
}

Test(evloop, no_busy_spin_while_waiting)
{
	struct evloop *loop = evloop_new();
	struct round_count c = { 0 };
	int rounds = 0;

	cr_assert_not_null(loop);
	cr_assert_not_null(evloop_timer_add(loop, 80, 0, count_cb, &c));
	while (c.fired == 0 && rounds < 1000) {
		cr_assert_eq(evloop_run_once(loop, -1), 0);
		rounds++;
	}
	cr_assert_eq(c.fired, 1);
	cr_assert_leq(rounds, 2, "%d wakeups for one timer", rounds);
	/* nothing armed: a bounded wait returns empty, not early */
	uint64_t t0 = now_ms();

	cr_assert_eq(evloop_run_once(loop, 30), 0);
	cr_assert_geq(now_ms() - t0, 29);
	evloop_free(loop);
}

/* ---- signals ---- */

struct sig_rec {
	int calls;
	int signo;
};

static void sig_cb(struct evloop *loop, int signo, void *arg)
{
	struct sig_rec *r = arg;

	(void)loop;
	r->calls++;
	r->signo = signo;
}

static bool sig_blocked(int signo)
{
	sigset_t cur;

	sigprocmask(SIG_SETMASK, NULL, &cur);
	return sigismember(&cur, signo) == 1;
}

Test(evloop, signal_delivered_to_callback)
{
	struct evloop *loop = evloop_new();
	struct sig_rec u1 = { 0 }, u2 = { 0 };

	cr_assert_not_null(loop);
	cr_assert_not(sig_blocked(SIGUSR1));
	cr_assert_eq(evloop_signal_add(loop, SIGUSR1, sig_cb, &u1), 0);
	cr_assert_eq(evloop_signal_add(loop, SIGUSR2, sig_cb, &u2), 0);
	cr_assert(sig_blocked(SIGUSR1));
	cr_assert_eq(evloop_signal_add(loop, SIGUSR1, sig_cb, &u1), -1);
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(evloop_signal_add(loop, SIGKILL, sig_cb, &u1), -1);
	cr_assert_eq(errno, EINVAL);

	cr_assert_eq(raise(SIGUSR1), 0);
	run_until(loop, &u1.calls);
	cr_assert_eq(u1.signo, SIGUSR1);
	cr_assert_eq(u2.calls, 0);

	cr_assert_eq(kill(getpid(), SIGUSR2), 0);
	run_until(loop, &u2.calls);
	cr_assert_eq(u2.signo, SIGUSR2);
	cr_assert_eq(u1.calls, 1);

	/* removal unblocks, and a pending instance is discarded, not fatal */
	cr_assert_eq(raise(SIGUSR2), 0);
	cr_assert_eq(evloop_signal_del(loop, SIGUSR2), 0);
	cr_assert_not(sig_blocked(SIGUSR2));
	cr_assert_eq(evloop_signal_del(loop, SIGUSR2), -1);
	cr_assert_eq(errno, ENOENT);

	/* free restores the mask, again without dying of a pending one */
	cr_assert_eq(raise(SIGUSR1), 0);
	evloop_free(loop);
	cr_assert_not(sig_blocked(SIGUSR1));
}

Test(evloop, signal_already_blocked_stays_blocked)
{
	struct evloop *loop = evloop_new();
	struct sig_rec r = { 0 };
	sigset_t set;

	cr_assert_not_null(loop);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	cr_assert_eq(evloop_signal_add(loop, SIGHUP, sig_cb, &r), 0);
	cr_assert_eq(raise(SIGHUP), 0);
	run_until(loop, &r.calls);
	evloop_free(loop);
	/* we did not block it, so we do not unblock it */
	cr_assert(sig_blocked(SIGHUP));
}

/* ---- children ---- */

struct child_rec {
	int calls;
	pid_t pid;
	int wstatus;
};

static void child_cb(struct evloop *loop, pid_t pid, int wstatus, void *arg)
{
	struct child_rec *r = arg;

	(void)loop;
	r->calls++;
	r->pid = pid;
	r->wstatus = wstatus;
}

Test(evloop, child_exit_status)
{
	struct evloop *loop = evloop_new();
	struct child_rec r = { 0 };
	pid_t pid;

	cr_assert_not_null(loop);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(7);
	cr_assert_eq(evloop_child_add(loop, pid, child_cb, &r), 0);
	cr_assert_eq(evloop_child_add(loop, pid, child_cb, &r), -1);
	cr_assert_eq(errno, EEXIST);
	run_until(loop, &r.calls);
	cr_assert_eq(r.pid, pid);
	cr_assert(WIFEXITED(r.wstatus), "wstatus %#x", r.wstatus);
	cr_assert_eq(WEXITSTATUS(r.wstatus), 7);
	/* reaped by the loop, and the watch is gone */
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
	cr_assert_eq(errno, ECHILD);
	cr_assert_eq(evloop_child_del(loop, pid), -1);
	run_for(loop, 20);
	cr_assert_eq(r.calls, 1);
	evloop_free(loop);
}

Test(evloop, child_killed_by_signal)
{
	struct evloop *loop = evloop_new();
	struct child_rec r = { 0 };
	pid_t pid;

	cr_assert_not_null(loop);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	cr_assert_eq(evloop_child_add(loop, pid, child_cb, &r), 0);
	cr_assert_eq(evloop_run_once(loop, 20), 0);
	cr_assert_eq(r.calls, 0, "running child reported as exited");
	cr_assert_eq(kill(pid, SIGKILL), 0);
	run_until(loop, &r.calls);
	cr_assert_eq(r.pid, pid);
	cr_assert(WIFSIGNALED(r.wstatus), "wstatus %#x", r.wstatus);
	cr_assert_eq(WTERMSIG(r.wstatus), SIGKILL);
	cr_assert_not(WIFEXITED(r.wstatus));
	evloop_free(loop);
}

Test(evloop, child_already_gone)
{
	struct evloop *loop = evloop_new();
	struct child_rec r = { 0 };
	pid_t pid;

	cr_assert_not_null(loop);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(evloop_child_add(loop, pid, child_cb, &r), -1);
	cr_assert_eq(errno, ESRCH);
	/* not our child: we could never reap it */
	cr_assert_eq(evloop_child_add(loop, getppid(), child_cb, &r), -1);
	cr_assert_eq(errno, ECHILD);
	evloop_free(loop);
}

/* ---- stop, reentrancy ---- */

struct stop_ctx {
	int calls;
	int nested_rc;
	int nested_errno;
};

static void stop_fd_cb(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct stop_ctx *c = arg;

	(void)fd;
	(void)events;
	c->calls++;
	c->nested_rc = evloop_run_once(loop, 0);
	c->nested_errno = errno;
	evloop_stop(loop);
}

Test(evloop, stop_from_callback)
{
	struct evloop *loop = evloop_new();
	struct stop_ctx c = { 0 };
	int p[2];

	cr_assert_not_null(loop);
	make_pipe(p);
	/* the write end is always writable: only evloop_stop ends evloop_run */
	cr_assert_eq(evloop_add_fd(loop, p[1], EVLOOP_WRITE, stop_fd_cb, &c), 0);
	cr_assert_eq(evloop_run(loop), 0);
	cr_assert_eq(c.calls, 1);
	cr_assert_eq(c.nested_rc, -1, "run_once inside a callback allowed");
	cr_assert_eq(c.nested_errno, EBUSY);
	/* a later run works again */
	cr_assert_eq(evloop_run(loop), 0);
	cr_assert_eq(c.calls, 2);
	cr_assert_eq(evloop_del_fd(loop, p[1]), 0);
	close(p[0]);
	close(p[1]);
	evloop_free(loop);
}

static void fd_snapshot(bool open_fds[1024])
{
	for (int fd = 0; fd < 1024; fd++)
		open_fds[fd] = fcntl(fd, F_GETFD) >= 0;
}

Test(evloop, loop_fds_are_cloexec_nonblocking)
{
	static bool before[1024], after[1024];
	struct evloop *loop;
	struct sig_rec r = { 0 };
	struct child_rec cr = { 0 };
	int checked = 0;
	pid_t pid;

	fd_snapshot(before);
	loop = evloop_new();
	cr_assert_not_null(loop);
	cr_assert_eq(evloop_signal_add(loop, SIGUSR1, sig_cb, &r), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	cr_assert_eq(evloop_child_add(loop, pid, child_cb, &cr), 0);
	fd_snapshot(after);
	/* what appeared is the loop's: epoll, timerfd, signalfd, pidfd */
	for (int fd = 0; fd < 1024; fd++) {
		if (!after[fd] || before[fd])
			continue;
		checked++;
		cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d not cloexec", fd);
		if (checked > 1) /* the epoll fd itself is never read */
			cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK,
				  "fd %d blocking", fd);
	}
	cr_assert_eq(checked, 4);
	kill(pid, SIGKILL);
	run_until(loop, &cr.calls);
	evloop_free(loop);
	fd_snapshot(after);
	cr_assert(memcmp(before, after, sizeof(before)) == 0,
		  "evloop_free left fds open");
}
