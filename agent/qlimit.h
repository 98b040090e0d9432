/* qlimit — the limits of a source's disk queue (queue.disk_max,
 * queue.min_free, queue.alert_percent), as pure decisions.
 *
 * The disk queue is what exists only in xlog files: ops queued while the
 * memory queue was full (every queued op is also journaled for restarts;
 * those copies are bounded by queue.memory and not counted here). Adding
 * an op exhausts the queue when it would go to disk only and disk queuing
 * is off (disk_max 0) or the disk queue would pass disk_max, or when any
 * journal write would leave less than min_free on the queue's file system.
 * An exhausted queue is answered by the caller with an auto-disconnect.
 *
 * Usage in percent is of disk_max, or with an unlimited disk queue of what
 * it may still grow to (used + free - min_free); the alert is raised once
 * when usage reaches alert_percent and cleared when it falls below.
 */
#ifndef DITTO_QLIMIT_H
#define DITTO_QLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qlimit {
	uint64_t disk_max;   /* CONF_UNLIMITED: no limit; 0: no disk queue */
	uint64_t min_free;
	int alert_percent;   /* 0: no alert */
};

/* Whether writing add more bytes (to disk only when spill) exhausts the
 * queue; the reason into why. */
bool qlimit_exhausted(const struct qlimit *l, uint64_t disk_used, uint64_t add, bool spill,
		      uint64_t free_bytes, char *why, size_t whylen);

unsigned qlimit_percent(const struct qlimit *l, uint64_t disk_used, uint64_t free_bytes);

/* 1: raise the alert now, -1: it cleared now, 0: no change. */
int qlimit_alert(const struct qlimit *l, unsigned pct, bool *alerted);

#endif
