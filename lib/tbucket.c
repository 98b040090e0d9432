#include "config.h"

#include "tbucket.h"

#include <errno.h>

#define US_PER_S 1000000
/* The debt is bounded by what callers send in one go (a frame); the floor
 * only keeps absurd callers from overflowing the level. */
#define LEVEL_MIN (-(INT64_MAX / 4))

static void refill(struct tbucket *b, uint64_t now_us)
{
	int64_t cap = (int64_t)(b->burst * US_PER_S);
	uint64_t dt, room;

	if (now_us <= b->last_us)
		return;
	dt = now_us - b->last_us;
	b->last_us = now_us;
	if (b->level >= cap)
		return;
	/* room <= cap - LEVEL_MIN, which fits: cap <= 1e18. */
	room = (uint64_t)(cap - b->level);
	if (dt >= room / b->rate + 1)
		b->level = cap;
	else
		b->level += (int64_t)(b->rate * dt); /* < room + rate: no overflow */
	if (b->level > cap)
		b->level = cap;
}

int tbucket_init(struct tbucket *b, uint64_t rate, uint64_t burst, uint64_t now_us)
{
	if (rate < 1 || rate > TBUCKET_RATE_MAX || burst < 1 || burst > TBUCKET_RATE_MAX) {
		errno = EINVAL;
		return -1;
	}
	b->rate = rate;
	b->burst = burst;
	b->level = (int64_t)(burst * US_PER_S);
	b->last_us = now_us;
	return 0;
}

int64_t tbucket_tokens(struct tbucket *b, uint64_t now_us)
{
	refill(b, now_us);
	/* Toward minus infinity, so a debt of a fraction is -1, not 0. */
	return b->level >= 0 ? b->level / US_PER_S : -((-b->level + US_PER_S - 1) / US_PER_S);
}

void tbucket_consume(struct tbucket *b, uint64_t n, uint64_t now_us)
{
	refill(b, now_us);
	if (n > (uint64_t)(b->level - LEVEL_MIN) / US_PER_S)
		b->level = LEVEL_MIN;
	else
		b->level -= (int64_t)(n * US_PER_S);
}

uint64_t tbucket_wait_us(struct tbucket *b, uint64_t n, uint64_t now_us)
{
	int64_t need;

	refill(b, now_us);
	if (n > b->burst)
		n = b->burst;
	need = (int64_t)(n * US_PER_S) - b->level;
	if (need <= 0)
		return 0;
	return ((uint64_t)need + b->rate - 1) / b->rate;
}
