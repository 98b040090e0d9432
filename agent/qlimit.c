#include "config.h"

#include "qlimit.h"

#include <inttypes.h>
#include <stdio.h>

#include "conf.h"

bool qlimit_exhausted(const struct qlimit *l, uint64_t disk_used, uint64_t add, bool spill,
		      uint64_t free_bytes, char *why, size_t whylen)
{
	if (spill && l->disk_max == 0) {
		snprintf(why, whylen, "the memory queue is full and disk queuing is off (queue.disk_max 0)");
		return true;
	}
	if (spill && l->disk_max != CONF_UNLIMITED && disk_used + add > l->disk_max) {
		snprintf(why, whylen, "the disk queue is full (%" PRIu64 " of %" PRIu64 " bytes, queue.disk_max)",
			 disk_used, l->disk_max);
		return true;
	}
	if (free_bytes < add || free_bytes - add < l->min_free) {
		snprintf(why, whylen, "the queue file system is down to %" PRIu64 " bytes free (queue.min_free %" PRIu64 ")",
			 free_bytes, l->min_free);
		return true;
	}
	return false;
}

unsigned qlimit_percent(const struct qlimit *l, uint64_t disk_used, uint64_t free_bytes)
{
	uint64_t cap;

	if (l->disk_max == 0)
		return 0;
	if (l->disk_max != CONF_UNLIMITED)
		cap = l->disk_max;
	else
		cap = disk_used + (free_bytes > l->min_free ? free_bytes - l->min_free : 0);
	if (!cap)
		return disk_used ? 100 : 0;
	return disk_used >= cap ? 100 : (unsigned)(disk_used * 100 / cap);
}

int qlimit_alert(const struct qlimit *l, unsigned pct, bool *alerted)
{
	bool over = l->alert_percent > 0 && pct >= (unsigned)l->alert_percent;

	if (over == *alerted)
		return 0;
	*alerted = over;
	return over ? 1 : -1;
}
