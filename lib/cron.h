/* cron — standard 5-field cron expressions and the next time they match, for
 * scheduled verification (a cron expression in ditto.conf).
 *
 * SYNTAX (cron_parse)
 *   minute hour day-of-month month day-of-week
 *   Fields are separated by spaces or tabs; leading and trailing blanks are
 *   fine, nothing else is (no newline, no comment, no command after field 5).
 *   Field ranges: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12,
 *   day-of-week 0-7 where both 0 and 7 are Sunday.
 *   Each field is a ','-separated list of items; an item is
 *     *        every value of the field
 *     N        one value
 *     A-B      A to B inclusive (A <= B; "fri-sun" is refused, use "fri-7")
 *     * /S     every S-th value from the field's minimum (written without
 *              the blank, which only keeps this comment open; same below)
 *     A-B/S    every S-th value from A up to B
 *     A/S      A-max/S, e.g. minute "5/20" = 5,25,45
 *   S is 1 up to the field's maximum (59, 23, 31, 12, 7). Values are decimal
 *   or, in the month field, jan..dec and in the day-of-week field sun..sat
 *   (three letters, any case). Macros, alone on the line, any case:
 *     @yearly @annually  0 0 1 1 *        @daily @midnight  0 0 * * *
 *     @monthly           0 0 1 * *        @hourly           0 * * * *
 *     @weekly            0 0 * * 0
 *   On error cron_parse returns -1 with errno EINVAL, leaves *out unchanged
 *   and writes one line to err, e.g.
 *     field 2 (hour): 25 is out of range 0-23
 *     expected 5 fields (minute hour day-of-month month day-of-week), got 6
 *   err may be NULL or errlen 0; a long message is truncated.
 *
 * DAY RULE (as Vixie cron, also its quirk)
 *   dom_star / dow_star are set when that field *begins with* '*' ("*",
 *   "* /2", "*,5"). If either is set a day must match both fields; if neither
 *   is, a day matching either field matches: "0 0 13 * fri" runs on every
 *   13th and on every Friday, "0 0 * /2 * fri" only on odd-numbered Fridays.
 *
 * NEXT TIME (cron_next)
 *   The earliest instant strictly after `after` whose local time (per TZ; the
 *   function calls tzset()) has seconds 0 and matches. Local times that do
 *   not exist (spring-forward gap) never match, so "30 2 * * *" skips that
 *   day. Local times that occur twice (fall-back) match on both passes: the
 *   answer is always the next instant, never one already passed.
 *   The search skips months, days and hours that cannot match and looks at
 *   most 8 years ahead (the longest gap between two February 29ths); an
 *   expression with no match in that window ("0 0 31 2 *") gives -1 with
 *   errno ERANGE. Other errors: EINVAL (NULL argument), EOVERFLOW (time out
 *   of the calendar's range). Offset changes are assumed to be at least a day
 *   apart, which holds for every real zone in use.
 *
 * Both functions are thread-safe as far as localtime_r/tzset are.
 */
#ifndef DITTO_CRON_H
#define DITTO_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CRON_HORIZON_YEARS 8

/* Bit N set = value N matches: minute bits 0-59, hour 0-23, dom 1-31,
 * month 1-12, dow 0-6 (7 is folded into 0 when parsing). */
struct cron_expr {
	uint64_t minute;
	uint32_t hour;
	uint32_t dom;
	uint16_t month;
	uint8_t dow;
	bool dom_star, dow_star;
};

int cron_parse(const char *s, struct cron_expr *out, char *err, size_t errlen);
int cron_next(const struct cron_expr *e, time_t after, time_t *next);

#endif
