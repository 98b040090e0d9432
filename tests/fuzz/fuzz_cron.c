#include "config.h"

/* Fuzz target for cron expressions: the parser takes arbitrary bytes, and
 * whatever it accepts is run through cron_next from a few start times, each
 * answer checked against a plain field-by-field match of its local time.
 * Any violated property aborts, so the fuzzer reports it as a crash. */

#include "cron.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How far (in minutes) answers are checked minute by minute: enough to cross
 * a DST change from the start times below, cheap enough to fuzz fast. */
#define SCAN_MINUTES (26 * 60)

static void fail(const char *what, const char *expr, time_t after)
{
	fprintf(stderr, "fuzz_cron: %s (expression \"%s\", after %lld)\n",
		what, expr, (long long)after);
	abort();
}

static bool matches(const struct cron_expr *e, time_t t)
{
	struct tm tm;
	bool dom, dow;

	if (!localtime_r(&t, &tm))
		abort();
	if (tm.tm_sec != 0 || !(e->minute & (UINT64_C(1) << tm.tm_min)) ||
	    !(e->hour & (UINT32_C(1) << tm.tm_hour)) ||
	    !(e->month & (1u << (tm.tm_mon + 1))))
		return false;
	dom = e->dom & (UINT32_C(1) << tm.tm_mday);
	dow = e->dow & (1u << tm.tm_wday);
	return (e->dom_star || e->dow_star) ? (dom && dow) : (dom || dow);
}

/* No matching minute in (after, end): the answer really is the first. */
static bool none_before(const struct cron_expr *e, time_t after, time_t end)
{
	time_t t;
	int n = 0;

	/* The POSIX rule below has whole-hour offsets: minutes are UTC minutes. */
	for (t = after - (after % 60 + 60) % 60 + 60; t < end && n < SCAN_MINUTES;
	     t += 60, n++)
		if (matches(e, t))
			return false;
	return true;
}

static void check_next(const struct cron_expr *e, const char *expr,
		       time_t after)
{
	int i;

	for (i = 0; i < 3; i++) {
		time_t next = 0;

		errno = 0;
		if (cron_next(e, after, &next) < 0) {
			if (errno != ERANGE)
				fail("cron_next failed without ERANGE", expr, after);
			if (!none_before(e, after, after + SCAN_MINUTES * 60))
				fail("ERANGE but a match exists", expr, after);
			return;
		}
		if (next <= after)
			fail("next is not after the start", expr, after);
		if (!matches(e, next))
			fail("next does not match", expr, after);
		if (!none_before(e, after, next))
			fail("an earlier match was skipped", expr, after);
		after = next;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const time_t starts[] = {
		0,		/* 1970-01-01 00:00:00 UTC, a Thursday */
		951868799,	/* 2000-02-29 23:59:59 UTC, leap day */
		1711846770,	/* 2024-03-31 00:59:30 UTC, just before CEST */
		1729990799,	/* 2024-10-27 00:59:59 UTC, just before CET */
		1735689599,	/* 2024-12-31 23:59:59 UTC, year end */
	};
	static bool tz_set;
	struct cron_expr e, orig;
	char *s, err[256];
	size_t i;

	/* A POSIX rule (Central European) needs no tzdata and has DST. */
	if (!tz_set) {
		setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
		tzset();
		tz_set = true;
	}
	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&e, 0xa5, sizeof(e));
	orig = e;
	err[0] = '\0';
	if (cron_parse(s, &e, err, sizeof(err)) < 0) {
		/* A refused expression must say why and leave *out alone. */
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			fail("error without a message", s, 0);
		if (memcmp(&e, &orig, sizeof(e)) != 0)
			fail("output changed on error", s, 0);
		goto done;
	}
	if (e.minute >> 60 || e.hour >> 24 || e.dom & 1 || e.month & ~0x1ffe ||
	    e.dow & 0x80 || !e.minute || !e.hour || !e.dom || !e.month || !e.dow)
		fail("bit set out of range or empty", s, 0);
	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		check_next(&e, s, starts[i]);
done:
	free(s);
	return 0;
}
