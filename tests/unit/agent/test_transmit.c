#include "config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "transmit.h"

/* 2026-12-04 00:00:00 UTC */
#define DAY0 ((time_t)1796342400)
#define AT(h, m) (DAY0 + (h) * 3600 + (m) * 60)

static void utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

TestSuite(transmit, .init = utc);

static struct transmit_queue q_of(uint64_t queued, uint64_t cap, uint64_t sent)
{
	struct transmit_queue q = { queued, cap, sent };

	return q;
}

Test(transmit, empty_schedule_is_not_active)
{
	struct transmit_sched s;
	struct transmit_session ss;
	struct transmit_queue q = q_of(100, 1000, 0);
	const char *why;

	transmit_sched_init(&s);
	cr_assert_not(transmit_sched_active(&s));
	transmit_session_reset(&ss, &s, AT(1, 0));
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 0), &q, &why), TRANSMIT_SAME);
	/* Stop criteria alone start nothing, so they are no schedule. */
	s.stop_bytes = 10;
	cr_assert_not(transmit_sched_active(&s));
	s.threshold_bytes = 10;
	cr_assert(transmit_sched_active(&s));
	s.enabled = false;
	cr_assert_not(transmit_sched_active(&s));
}

Test(transmit, start_time_repeats_and_ends_when_queue_empty)
{
	struct transmit_sched s;
	struct transmit_session ss;
	struct transmit_queue q = q_of(500, 1000, 0);
	const char *why;

	transmit_sched_init(&s);
	s.start = AT(22, 0);
	s.every = 30 * 60;
	transmit_session_reset(&ss, &s, AT(21, 0));
	cr_assert_eq(ss.next_start, AT(22, 0));
	cr_assert_eq(transmit_tick(&s, &ss, AT(21, 59), &q, &why), TRANSMIT_SAME);
	cr_assert_eq(transmit_tick(&s, &ss, AT(22, 0), &q, &why), TRANSMIT_BEGIN);
	cr_assert_str_eq(why, "start time");
	cr_assert_eq(ss.next_start, AT(22, 30));
	q.sent = 500;
	q.queued = 0;
	cr_assert_eq(transmit_tick(&s, &ss, AT(22, 20), &q, &why), TRANSMIT_END);
	cr_assert_str_eq(why, "queue empty");
	q.queued = 10;
	cr_assert_eq(transmit_tick(&s, &ss, AT(22, 25), &q, &why), TRANSMIT_SAME);
	cr_assert_eq(transmit_tick(&s, &ss, AT(22, 30), &q, &why), TRANSMIT_BEGIN);
	cr_assert_eq(ss.next_start, AT(23, 0));
}

Test(transmit, single_start_is_consumed_even_when_nothing_is_queued)
{
	struct transmit_sched s;
	struct transmit_session ss;
	struct transmit_queue q = q_of(0, 1000, 0);
	const char *why;

	transmit_sched_init(&s);
	s.start = AT(22, 0);
	transmit_session_reset(&ss, &s, AT(21, 0));
	cr_assert_eq(transmit_tick(&s, &ss, AT(22, 0), &q, &why), TRANSMIT_SAME);
	cr_assert_eq(ss.next_start, 0);
	q.queued = 10;
	cr_assert_eq(transmit_tick(&s, &ss, AT(22, 1), &q, &why), TRANSMIT_SAME);
}

Test(transmit, repeated_start_in_the_past_goes_on_from_the_next_one)
{
	struct transmit_sched s;
	struct transmit_session ss;

	transmit_sched_init(&s);
	s.start = AT(1, 0);
	s.every = 3600;
	transmit_session_reset(&ss, &s, AT(5, 10));
	cr_assert_eq(ss.next_start, AT(6, 0));
	s.every = 0;
	transmit_session_reset(&ss, &s, AT(5, 10));
	cr_assert_eq(ss.next_start, AT(1, 0)); /* due at once */
}

Test(transmit, threshold_percent_and_bytes)
{
	struct transmit_sched s;
	struct transmit_session ss;
	struct transmit_queue q = q_of(399, 1000, 0);
	const char *why;

	transmit_sched_init(&s);
	s.threshold_pct = 40;
	transmit_session_reset(&ss, &s, AT(1, 0));
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 0), &q, &why), TRANSMIT_SAME);
	q.queued = 400;
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 0), &q, &why), TRANSMIT_BEGIN);
	cr_assert_str_eq(why, "queue threshold");
	/* It goes on below the threshold until the queue is empty. */
	q.queued = 1;
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 1), &q, &why), TRANSMIT_SAME);
	q.queued = 0;
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 1), &q, &why), TRANSMIT_END);

	transmit_sched_init(&s);
	s.threshold_bytes = 500;
	transmit_session_reset(&ss, &s, AT(1, 0));
	q.queued = 499;
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 0), &q, &why), TRANSMIT_SAME);
	q.queued = 500;
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 0), &q, &why), TRANSMIT_BEGIN);
}

Test(transmit, start_time_overrides_threshold_until_it_comes)
{
	struct transmit_sched s;
	struct transmit_session ss;
	struct transmit_queue q = q_of(900, 1000, 0);
	const char *why;

	transmit_sched_init(&s);
	s.start = AT(22, 0);
	s.threshold_pct = 50;
	transmit_session_reset(&ss, &s, AT(21, 0));
	cr_assert_eq(transmit_tick(&s, &ss, AT(21, 0), &q, &why), TRANSMIT_SAME);
	cr_assert_eq(transmit_tick(&s, &ss, AT(22, 0), &q, &why), TRANSMIT_BEGIN);
	q.queued = 0;
	cr_assert_eq(transmit_tick(&s, &ss, AT(22, 5), &q, &why), TRANSMIT_END);
	/* After the start time, the threshold starts sessions too. */
	q.queued = 600;
	cr_assert_eq(transmit_tick(&s, &ss, AT(22, 6), &q, &why), TRANSMIT_BEGIN);
	cr_assert_str_eq(why, "queue threshold");
}

Test(transmit, stop_after_time_and_bytes)
{
	struct transmit_sched s;
	struct transmit_session ss;
	struct transmit_queue q = q_of(10, 1000, 1000);
	const char *why;

	transmit_sched_init(&s);
	s.threshold_bytes = 1;
	s.stop_secs = 600;
	transmit_session_reset(&ss, &s, AT(1, 0));
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 0), &q, &why), TRANSMIT_BEGIN);
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 9), &q, &why), TRANSMIT_SAME);
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 10), &q, &why), TRANSMIT_END);
	cr_assert_str_eq(why, "time limit reached");

	s.stop_secs = 0;
	s.stop_bytes = 100;
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 11), &q, &why), TRANSMIT_BEGIN);
	q.sent = 1099;
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 11), &q, &why), TRANSMIT_SAME);
	q.sent = 1100;
	cr_assert_eq(transmit_tick(&s, &ss, AT(1, 12), &q, &why), TRANSMIT_END);
	cr_assert_str_eq(why, "byte limit reached");
}

Test(transmit, window_bounds_everything)
{
	struct transmit_sched s;
	struct transmit_session ss;
	struct transmit_queue q = q_of(900, 1000, 0);
	const char *why;

	transmit_sched_init(&s);
	s.win_open = 21 * 60;
	s.win_close = 4 * 60; /* across midnight */
	s.start = AT(5, 0);
	transmit_session_reset(&ss, &s, AT(1, 0));
	cr_assert(transmit_in_window(&s, AT(23, 0)));
	cr_assert(transmit_in_window(&s, AT(3, 59)));
	cr_assert_not(transmit_in_window(&s, AT(4, 0)));
	cr_assert_not(transmit_in_window(&s, AT(20, 59)));
	/* The start at 5:00 lies outside the window: skipped. */
	cr_assert_eq(transmit_tick(&s, &ss, AT(5, 0), &q, &why), TRANSMIT_SAME);
	cr_assert_eq(ss.next_start, 0);

	/* A threshold session ends when the window closes. */
	transmit_sched_init(&s);
	s.win_open = 9 * 60;
	s.win_close = 17 * 60;
	s.threshold_pct = 10;
	transmit_session_reset(&ss, &s, AT(8, 0));
	cr_assert_eq(transmit_tick(&s, &ss, AT(8, 59), &q, &why), TRANSMIT_SAME);
	cr_assert_eq(transmit_tick(&s, &ss, AT(9, 0), &q, &why), TRANSMIT_BEGIN);
	cr_assert_eq(transmit_tick(&s, &ss, AT(17, 0), &q, &why), TRANSMIT_END);
	cr_assert_str_eq(why, "the window closed");
}

Test(transmit, window_alone_lets_data_go_while_open)
{
	struct transmit_sched s;
	struct transmit_session ss;
	struct transmit_queue q = q_of(5, 1000, 0);
	const char *why;

	transmit_sched_init(&s);
	s.win_open = 9 * 60;
	s.win_close = 17 * 60;
	cr_assert(transmit_sched_active(&s));
	transmit_session_reset(&ss, &s, AT(8, 0));
	cr_assert_eq(transmit_tick(&s, &ss, AT(8, 0), &q, &why), TRANSMIT_SAME);
	cr_assert_eq(transmit_tick(&s, &ss, AT(10, 0), &q, &why), TRANSMIT_BEGIN);
	cr_assert_str_eq(why, "window open");
}

Test(transmit, manual_session_ignores_the_window_and_ends_like_others)
{
	struct transmit_sched s;
	struct transmit_session ss;
	struct transmit_queue q = q_of(5, 1000, 0);
	const char *why;

	transmit_sched_init(&s);
	s.win_open = 9 * 60;
	s.win_close = 17 * 60;
	s.threshold_bytes = 1000;
	transmit_session_reset(&ss, &s, AT(20, 0));
	transmit_begin_manual(&ss, AT(20, 0), 0);
	cr_assert_eq(transmit_tick(&s, &ss, AT(20, 1), &q, &why), TRANSMIT_SAME);
	q.queued = 0;
	cr_assert_eq(transmit_tick(&s, &ss, AT(20, 2), &q, &why), TRANSMIT_END);
	cr_assert_not(ss.manual);
}

Test(transmit, parsers)
{
	char err[256];
	time_t t;
	int m;
	uint64_t secs;

	cr_assert_eq(transmit_parse_datetime("2026-12-04 22:30", &t, err, sizeof(err)), 0);
	cr_assert_eq(t, AT(22, 30));
	cr_assert_eq(transmit_parse_datetime("2026-12-04 22:30:15", &t, err, sizeof(err)), 0);
	cr_assert_eq(t, AT(22, 30) + 15);
	cr_assert_eq(transmit_parse_datetime("tomorrow", &t, err, sizeof(err)), -1);
	cr_assert(strstr(err, "tomorrow"));
	cr_assert_eq(transmit_parse_datetime("2026-12-04 22:30 x", &t, err, sizeof(err)), -1);
	cr_assert_eq(transmit_parse_hhmm("07:05", &m, err, sizeof(err)), 0);
	cr_assert_eq(m, 425);
	cr_assert_eq(transmit_parse_hhmm("24:00", &m, err, sizeof(err)), -1);
	cr_assert_eq(transmit_parse_hhmm("7:5", &m, err, sizeof(err)), -1);
	cr_assert_eq(transmit_parse_hhmm("10:00pm", &m, err, sizeof(err)), -1);
	cr_assert_eq(transmit_parse_span(30, "minutes", &secs, err, sizeof(err)), 0);
	cr_assert_eq(secs, 1800);
	cr_assert_eq(transmit_parse_span(1, "DAY", &secs, err, sizeof(err)), 0);
	cr_assert_eq(secs, 86400);
	cr_assert_eq(transmit_parse_span(0, "HOURS", &secs, err, sizeof(err)), -1);
	cr_assert_eq(transmit_parse_span(3, "weeks", &secs, err, sizeof(err)), -1);
}

Test(transmit, save_and_load)
{
	struct transmit_sched s, l;
	struct transmit_session ss, ls;
	config_t cfg;
	config_setting_t *g;

	transmit_sched_init(&s);
	s.start = AT(22, 0);
	s.every = 1800;
	s.threshold_pct = 40;
	s.threshold_bytes = 12345;
	s.stop_secs = 600;
	s.stop_bytes = 999;
	s.win_open = 1260;
	s.win_close = 240;
	s.enabled = false;
	transmit_session_reset(&ss, &s, AT(23, 10));
	cr_assert_eq(ss.next_start, AT(23, 30));
	config_init(&cfg);
	g = config_setting_add(config_root_setting(&cfg), "c", CONFIG_TYPE_GROUP);
	transmit_save(&s, &ss, g);
	transmit_load(&l, &ls, g, AT(23, 50));
	cr_assert_eq(memcmp(&s, &l, sizeof(s)), 0);
	/* The occurrence missed while down is due. */
	cr_assert_eq(ls.next_start, AT(23, 30));
	cr_assert_not(ls.active);
	config_destroy(&cfg);

	/* Nothing saved: the defaults. */
	config_init(&cfg);
	g = config_setting_add(config_root_setting(&cfg), "c", CONFIG_TYPE_GROUP);
	transmit_load(&l, &ls, g, AT(1, 0));
	transmit_sched_init(&s);
	cr_assert_eq(memcmp(&s, &l, sizeof(s)), 0);
	config_destroy(&cfg);
}
