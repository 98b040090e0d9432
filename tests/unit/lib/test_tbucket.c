#include "config.h"

#include "tbucket.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>

#define S 1000000ull /* one second in microseconds */

Test(tbucket, init_refuses_bad_limits)
{
	struct tbucket b;

	errno = 0;
	cr_expect_eq(tbucket_init(&b, 0, 1, 0), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(tbucket_init(&b, 1, 0, 0), -1);
	cr_expect_eq(tbucket_init(&b, TBUCKET_RATE_MAX + 1, 1, 0), -1);
	cr_expect_eq(tbucket_init(&b, 1, TBUCKET_RATE_MAX + 1, 0), -1);
	cr_expect_eq(tbucket_init(&b, TBUCKET_RATE_MAX, TBUCKET_RATE_MAX, 0), 0);
	cr_expect_eq(tbucket_tokens(&b, 0), (int64_t)TBUCKET_RATE_MAX);
}

Test(tbucket, starts_full_and_caps_at_burst)
{
	struct tbucket b;

	cr_assert_eq(tbucket_init(&b, 1000, 100, 5 * S), 0);
	cr_expect_eq(tbucket_tokens(&b, 5 * S), 100);
	/* An hour later it holds no more than the burst. */
	cr_expect_eq(tbucket_tokens(&b, 3605 * S), 100);
	cr_expect_eq(tbucket_wait_us(&b, 100, 3605 * S), 0);
}

Test(tbucket, consume_and_refill_at_rate)
{
	struct tbucket b;

	cr_assert_eq(tbucket_init(&b, 1000, 100, 0), 0);
	tbucket_consume(&b, 100, 0);
	cr_expect_eq(tbucket_tokens(&b, 0), 0);
	cr_expect_eq(tbucket_tokens(&b, 50000), 50);     /* 50 ms at 1000/s */
	cr_expect_eq(tbucket_tokens(&b, 100000), 100);
	cr_expect_eq(tbucket_tokens(&b, 200000), 100);   /* capped */
}

Test(tbucket, debt_is_paid_first)
{
	struct tbucket b;

	cr_assert_eq(tbucket_init(&b, 1000, 100, 0), 0);
	/* A 600-byte frame goes although the bucket holds 100: 500 owed. */
	tbucket_consume(&b, 600, 0);
	cr_expect_eq(tbucket_tokens(&b, 0), -500);
	cr_expect_eq(tbucket_wait_us(&b, 1, 0), 501000);
	cr_expect_eq(tbucket_tokens(&b, 500000), 0);
	cr_expect_eq(tbucket_wait_us(&b, 1, 500000), 1000);
	/* A fraction of a token owed still counts as owing one. */
	cr_expect_eq(tbucket_tokens(&b, 499999), 0); /* time going back: no change */
	cr_expect_eq(tbucket_tokens(&b, 500500), 0);
}

Test(tbucket, wait_for_n_tokens)
{
	struct tbucket b;

	cr_assert_eq(tbucket_init(&b, 2000000, 50000, 0), 0);
	cr_expect_eq(tbucket_wait_us(&b, 50000, 0), 0);
	tbucket_consume(&b, 50000, 0);
	cr_expect_eq(tbucket_wait_us(&b, 1, 0), 1);           /* 0.5 us, rounded up */
	cr_expect_eq(tbucket_wait_us(&b, 2000, 0), 1000);
	cr_expect_eq(tbucket_wait_us(&b, 50000, 0), 25000);
	/* More than the burst can never be held: waits for the burst. */
	cr_expect_eq(tbucket_wait_us(&b, 10000000, 0), 25000);
	cr_expect_eq(tbucket_wait_us(&b, 2000, 999), 1);
	cr_expect_eq(tbucket_wait_us(&b, 2000, 1000), 0);
}

Test(tbucket, many_small_refills_lose_nothing)
{
	struct tbucket b;
	uint64_t t;

	/* 3 bytes/s refilled every microsecond: each step adds 3e-6 tokens,
	 * which integer accrual per step would lose entirely. */
	cr_assert_eq(tbucket_init(&b, 3, 10, 0), 0);
	tbucket_consume(&b, 10, 0);
	for (t = 1; t <= 2 * S; t++)
		(void)tbucket_tokens(&b, t);
	cr_expect_eq(tbucket_tokens(&b, 2 * S), 6);
}

/* A sender that sends a frame whenever a token is there and otherwise waits
 * exactly as told: in every second of a long run it stays within one frame
 * plus the burst of the rate, and over the whole run it is exact. */
Test(tbucket, simulated_sender_holds_rate_per_second)
{
	struct tbucket b;
	const uint64_t rate = 2000000, burst = rate / 40, frame = 50000;
	uint64_t t = 0, sent_in_sec[21] = { 0 }, total = 0;
	int i;

	cr_assert_eq(tbucket_init(&b, rate, burst, 0), 0);
	while (t < 20 * S) {
		uint64_t w = tbucket_wait_us(&b, 1, t);

		if (w) {
			t += w + 37; /* timers fire a little late */
			continue;
		}
		tbucket_consume(&b, frame, t);
		sent_in_sec[t / S] += frame;
		total += frame;
	}
	for (i = 0; i < 20; i++) {
		cr_expect_leq(sent_in_sec[i], rate + burst + frame, "second %d: %lu", i,
			      (unsigned long)sent_in_sec[i]);
		if (i > 0)
			cr_expect_geq(sent_in_sec[i], rate - frame, "second %d: %lu", i,
				      (unsigned long)sent_in_sec[i]);
	}
	cr_expect_leq(total, 20 * rate + burst + frame);
	cr_expect_geq(total, 20 * rate - frame);
}
