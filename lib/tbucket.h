/* tbucket — a token bucket for bandwidth limits, with the clock passed in so
 * it is a pure computation (testable without sleeping).
 *
 * A token is one byte. Tokens accrue at `rate` per second up to `burst`.
 * tbucket_consume takes what was sent even when that is more than the bucket
 * holds: the level goes negative (a debt the next tokens pay first), so a
 * frame larger than the burst still goes, and the average over any longer
 * span stays at the rate. Callers send while tbucket_wait_us(b, 1, now) is 0,
 * and otherwise wait that long.
 *
 * Accrual is exact: the level is kept in byte-microseconds, so many short
 * refills add up to the same as one long one (no rounding loss).
 *
 * Times are microseconds on any monotonic clock. A time earlier than the last
 * one seen counts as no time passing.
 *
 * Limits: 1 <= rate <= TBUCKET_RATE_MAX, 1 <= burst <= TBUCKET_RATE_MAX
 * (tbucket_init fails with EINVAL otherwise).
 */
#ifndef DITTO_TBUCKET_H
#define DITTO_TBUCKET_H

#include <stdint.h>

#define TBUCKET_RATE_MAX UINT64_C(1000000000000) /* 1 TB/s */

struct tbucket {
	uint64_t rate;    /* tokens (bytes) per second */
	uint64_t burst;   /* most tokens held */
	int64_t level;    /* tokens x 1e6; negative = debt */
	uint64_t last_us; /* time of the last refill */
};

/* Starts full (burst tokens) at now_us. 0, or -1 with errno EINVAL. */
int tbucket_init(struct tbucket *b, uint64_t rate, uint64_t burst, uint64_t now_us);
/* Whole tokens held at now_us (negative while in debt). */
int64_t tbucket_tokens(struct tbucket *b, uint64_t now_us);
/* Takes n tokens at now_us; the level may go negative. */
void tbucket_consume(struct tbucket *b, uint64_t n, uint64_t now_us);
/* Microseconds from now_us until n tokens are held (0 = now); n above the
 * burst counts as the burst, since the bucket never holds more. */
uint64_t tbucket_wait_us(struct tbucket *b, uint64_t n, uint64_t now_us);

#endif
