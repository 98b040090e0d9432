#include "config.h"

#include "cron.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- helpers ---------------------------------------------------------------- */

#define BITS(lo, hi) ((((UINT64_C(1) << ((hi) - (lo) + 1)) - 1)) << (lo))
#define B(n) (UINT64_C(1) << (n))

static void use_tz(const char *tz)
{
	cr_assert_eq(setenv("TZ", tz, 1), 0);
	tzset();
}

static struct cron_expr P(const char *s)
{
	struct cron_expr e;
	char err[256] = "";

	memset(&e, 0xa5, sizeof(e));
	cr_assert_eq(cron_parse(s, &e, err, sizeof(err)), 0,
		     "cron_parse(\"%s\") failed: %s", s, err);
	cr_assert_str_eq(err, "", "error text left after success: %s", err);
	return e;
}

static void expect_err(const char *s, const char *msg)
{
	struct cron_expr e, orig;
	char err[256];

	memset(&e, 0x5a, sizeof(e));
	orig = e;
	memset(err, 'x', sizeof(err));
	errno = 0;
	cr_assert_eq(cron_parse(s, &e, err, sizeof(err)), -1,
		     "cron_parse(\"%s\") accepted", s);
	cr_assert_eq(errno, EINVAL);
	cr_assert_str_eq(err, msg, "for \"%s\"", s);
	cr_assert_eq(memcmp(&e, &orig, sizeof(e)), 0,
		     "output changed on error for \"%s\"", s);
}

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return timegm(&tm);
}

static const char *show(time_t t, char *buf, size_t len)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm);
	return buf;
}

static void expect_next(const char *expr, time_t after, time_t want)
{
	struct cron_expr e = P(expr);
	char a[64], b[64], c[64];
	time_t got = 0;

	cr_assert_eq(cron_next(&e, after, &got), 0, "\"%s\" after %s: %s",
		     expr, show(after, a, sizeof(a)), strerror(errno));
	cr_assert_eq(got, want, "\"%s\" after %s: got %s, want %s", expr,
		     show(after, a, sizeof(a)), show(got, b, sizeof(b)),
		     show(want, c, sizeof(c)));
}

/* Each time in want[] follows the one before it, starting after `after`. */
static void expect_chain(const char *expr, time_t after, const time_t *want,
			 size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		expect_next(expr, after, want[i]);
		after = want[i];
	}
}

/* The reference: does local time t match e, by plain field tests? */
static bool matches(const struct cron_expr *e, time_t t)
{
	struct tm tm;
	bool dom, dow;

	cr_assert_not_null(localtime_r(&t, &tm));
	if (tm.tm_sec != 0 || !(e->minute & B(tm.tm_min)) ||
	    !(e->hour & B(tm.tm_hour)) || !(e->month & B(tm.tm_mon + 1)))
		return false;
	dom = e->dom & B(tm.tm_mday);
	dow = e->dow & B(tm.tm_wday);
	return (e->dom_star || e->dow_star) ? (dom && dow) : (dom || dow);
}

/* --- parsing: syntax elements ------------------------------------------------- */

Test(cron_parse, all_stars)
{
	struct cron_expr e = P("* * * * *");

	cr_assert_eq(e.minute, BITS(0, 59));
	cr_assert_eq(e.hour, BITS(0, 23));
	cr_assert_eq(e.dom, BITS(1, 31));
	cr_assert_eq(e.month, BITS(1, 12));
	cr_assert_eq(e.dow, BITS(0, 6));
	cr_assert(e.dom_star);
	cr_assert(e.dow_star);
}

Test(cron_parse, numbers_ranges_lists)
{
	struct cron_expr e = P("0,5,59 1-3,23 1,15-16,31 2-4 1-5");

	cr_assert_eq(e.minute, B(0) | B(5) | B(59));
	cr_assert_eq(e.hour, B(1) | B(2) | B(3) | B(23));
	cr_assert_eq(e.dom, B(1) | B(15) | B(16) | B(31));
	cr_assert_eq(e.month, B(2) | B(3) | B(4));
	cr_assert_eq(e.dow, BITS(1, 5));
	cr_assert_not(e.dom_star);
	cr_assert_not(e.dow_star);
	/* Leading zeros are just decimal; a one-value range is fine. */
	e = P("007 08-08 09 010 00");
	cr_assert_eq(e.minute, B(7));
	cr_assert_eq(e.hour, B(8));
	cr_assert_eq(e.dom, B(9));
	cr_assert_eq(e.month, B(10));
	cr_assert_eq(e.dow, B(0));
}

Test(cron_parse, steps)
{
	struct cron_expr e = P("*/15 */6 */10 */3 */2");

	cr_assert_eq(e.minute, B(0) | B(15) | B(30) | B(45));
	cr_assert_eq(e.hour, B(0) | B(6) | B(12) | B(18));
	cr_assert_eq(e.dom, B(1) | B(11) | B(21) | B(31));
	cr_assert_eq(e.month, B(1) | B(4) | B(7) | B(10));
	cr_assert_eq(e.dow, B(0) | B(2) | B(4) | B(6));
	/* a-b/n */
	e = P("10-30/7 1-23/11 5-20/5 jan-dec/4 mon-sat/2");
	cr_assert_eq(e.minute, B(10) | B(17) | B(24));
	cr_assert_eq(e.hour, B(1) | B(12) | B(23));
	cr_assert_eq(e.dom, B(5) | B(10) | B(15) | B(20));
	cr_assert_eq(e.month, B(1) | B(5) | B(9));
	cr_assert_eq(e.dow, B(1) | B(3) | B(5));
	/* a/n means a-max/n; for day-of-week max is 7 = Sunday. */
	e = P("5/20 3/8 30/1 11/1 1/2");
	cr_assert_eq(e.minute, B(5) | B(25) | B(45));
	cr_assert_eq(e.hour, B(3) | B(11) | B(19));
	cr_assert_eq(e.dom, B(30) | B(31));
	cr_assert_eq(e.month, B(11) | B(12));
	cr_assert_eq(e.dow, B(1) | B(3) | B(5) | B(0));
	/* Largest steps: only the first value. */
	e = P("*/59 */23 */31 */12 */7");
	cr_assert_eq(e.minute, B(0) | B(59));
	cr_assert_eq(e.hour, B(0) | B(23));
	cr_assert_eq(e.dom, B(1));
	cr_assert_eq(e.month, B(1));
	cr_assert_eq(e.dow, B(0));
	/* Steps mixed into lists. */
	e = P("1,*/30,58-59 * * * *");
	cr_assert_eq(e.minute, B(0) | B(1) | B(30) | B(58) | B(59));
}

Test(cron_parse, month_names)
{
	static const char *const names[] = {
		"jan", "feb", "mar", "apr", "may", "jun",
		"jul", "aug", "sep", "oct", "nov", "dec"
	};
	char buf[64];
	int i;

	for (i = 0; i < 12; i++) {
		struct cron_expr e;

		snprintf(buf, sizeof(buf), "0 0 1 %s *", names[i]);
		e = P(buf);
		cr_assert_eq(e.month, B(i + 1), "%s", names[i]);
	}
	cr_assert_eq(P("0 0 1 JAN,Mar-mAY,nov *").month,
		     B(1) | B(3) | B(4) | B(5) | B(11));
	cr_assert_eq(P("0 0 1 feb-8 *").month, BITS(2, 8));
}

Test(cron_parse, day_names_and_sunday_7)
{
	static const char *const names[] = {
		"sun", "mon", "tue", "wed", "thu", "fri", "sat"
	};
	char buf[64];
	int i;

	for (i = 0; i < 7; i++) {
		snprintf(buf, sizeof(buf), "0 0 * * %s", names[i]);
		cr_assert_eq(P(buf).dow, B(i), "%s", names[i]);
	}
	cr_assert_eq(P("0 0 * * MON-Fri").dow, BITS(1, 5));
	cr_assert_eq(P("0 0 * * 7").dow, B(0));
	cr_assert_eq(P("0 0 * * 0,7").dow, B(0));
	cr_assert_eq(P("0 0 * * 5-7").dow, B(0) | B(5) | B(6));
	cr_assert_eq(P("0 0 * * fri-7").dow, B(0) | B(5) | B(6));
	cr_assert_eq(P("0 0 * * 0-7").dow, BITS(0, 6));
	cr_assert_eq(P("0 0 * * sat,sun").dow, B(0) | B(6));
}

Test(cron_parse, macros)
{
	static const struct {
		const char *macro, *same;
	} m[] = {
		{ "@yearly", "0 0 1 1 *" },
		{ "@annually", "0 0 1 1 *" },
		{ "@monthly", "0 0 1 * *" },
		{ "@weekly", "0 0 * * 0" },
		{ "@daily", "0 0 * * *" },
		{ "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" },
		{ " \t@DAILY \t", "0 0 * * *" },
		{ "@Hourly", "0 * * * *" },
	};
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		struct cron_expr a = P(m[i].macro), b = P(m[i].same);

		cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "%s", m[i].macro);
	}
	cr_assert_eq(P("@weekly").dow, B(0));
	cr_assert(P("@weekly").dom_star);
	cr_assert_not(P("@weekly").dow_star);
}

Test(cron_parse, blanks)
{
	struct cron_expr a = P("5 4 3 2 1");
	struct cron_expr b = P(" \t 5\t4  3 \t 2\t\t1 \t ");

	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
}

Test(cron_parse, star_flags_follow_vixie)
{
	/* The flag is the field's first character, so "*" + anything counts. */
	cr_assert(P("0 0 */2 * 1").dom_star);
	cr_assert(P("0 0 *,5 * 1").dom_star);
	cr_assert(P("0 0 1 * */2").dow_star);
	cr_assert_not(P("0 0 1-31 * 1").dom_star);
	cr_assert_not(P("0 0 1 * 0-7").dow_star);
	cr_assert_eq(P("0 0 1-31 * 1").dom, BITS(1, 31));
}

Test(cron_parse, err_may_be_null_or_short)
{
	struct cron_expr e;
	char small[12];

	cr_assert_eq(cron_parse("61 * * * *", &e, NULL, 0), -1);
	cr_assert_eq(cron_parse("* * * * *", &e, NULL, 0), 0);
	memset(small, 'x', sizeof(small));
	cr_assert_eq(cron_parse("61 * * * *", &e, small, sizeof(small)), -1);
	cr_assert_str_eq(small, "field 1 (mi");
	small[0] = 'q';
	cr_assert_eq(cron_parse("61 * * * *", &e, small, 0), -1);
	cr_assert_eq(small[0], 'q');
	cr_assert_eq(cron_parse(NULL, &e, small, sizeof(small)), -1);
	cr_assert_eq(cron_parse("* * * * *", NULL, small, sizeof(small)), -1);
}

/* --- parsing: errors ------------------------------------------------------------ */

Test(cron_parse, errors)
{
	static const struct {
		const char *in, *msg;
	} t[] = {
		{ "", "empty expression" },
		{ " \t  ", "empty expression" },
		{ "* * * *", "expected 5 fields (minute hour day-of-month month "
			     "day-of-week), got 4" },
		{ "* * * * * /bin/true", "expected 5 fields (minute hour "
			"day-of-month month day-of-week), got 6" },
		{ "0 25 * * *", "field 2 (hour): 25 is out of range 0-23" },
		{ "60 * * * *", "field 1 (minute): 60 is out of range 0-59" },
		{ "* * 0 * *", "field 3 (day-of-month): 0 is out of range 1-31" },
		{ "* * 32 * *", "field 3 (day-of-month): 32 is out of range 1-31" },
		{ "* * * 0 *", "field 4 (month): 0 is out of range 1-12" },
		{ "* * * 13 *", "field 4 (month): 13 is out of range 1-12" },
		{ "* * * * 8", "field 5 (day-of-week): 8 is out of range 0-7" },
		{ "1-99 * * * *", "field 1 (minute): 99 is out of range 0-59" },
		{ "99999999999999999999 * * * *",
		  "field 1 (minute): 99999999999999999999 is out of range 0-59" },
		{ "* jan * * *", "field 2 (hour): \"jan\" is not a number" },
		{ "1a * * * *", "field 1 (minute): \"1a\" is not a number" },
		{ "* * sun * *", "field 3 (day-of-month): \"sun\" is not a number" },
		{ "* * * foo *",
		  "field 4 (month): \"foo\" is not a number or month name" },
		{ "* * * mon *",
		  "field 4 (month): \"mon\" is not a number or month name" },
		{ "* * * january *",
		  "field 4 (month): \"january\" is not a number or month name" },
		{ "* * * * jan",
		  "field 5 (day-of-week): \"jan\" is not a number or day name" },
		{ "* * * * mon-funday",
		  "field 5 (day-of-week): \"funday\" is not a number or day name" },
		{ "30-10 * * * *",
		  "field 1 (minute): range 30-10 is reversed (start after end)" },
		{ "* * * * fri-sun",
		  "field 5 (day-of-week): range fri-sun is reversed (start after end)" },
		{ "*/0 * * * *", "field 1 (minute): step 0 is out of range 1-59" },
		{ "*/60 * * * *", "field 1 (minute): step 60 is out of range 1-59" },
		{ "* */24 * * *", "field 2 (hour): step 24 is out of range 1-23" },
		{ "* * * */13 *", "field 4 (month): step 13 is out of range 1-12" },
		{ "* * * * */8", "field 5 (day-of-week): step 8 is out of range 1-7" },
		{ "*/x * * * *", "field 1 (minute): step \"x\" is not a number" },
		{ "*/ * * * *", "field 1 (minute): missing step after '/' in \"*/\"" },
		{ "*/,5 * * * *",
		  "field 1 (minute): missing step after '/' in \"*/,5\"" },
		{ "*/-1 * * * *",
		  "field 1 (minute): unexpected character '-' in \"*/-1\"" },
		{ "1- * * * *", "field 1 (minute): missing end of range in \"1-\"" },
		{ "1-,3 * * * *",
		  "field 1 (minute): missing end of range in \"1-,3\"" },
		{ "1-* * * * *",
		  "field 1 (minute): unexpected character '*' in \"1-*\"" },
		{ "1,,2 * * * *", "field 1 (minute): empty list item in \"1,,2\"" },
		{ "1, * * * *", "field 1 (minute): empty list item in \"1,\"" },
		{ ",1 * * * *", "field 1 (minute): empty list item in \",1\"" },
		{ "-1 * * * *",
		  "field 1 (minute): unexpected character '-' in \"-1\"" },
		{ "*5 * * * *",
		  "field 1 (minute): unexpected character '5' in \"*5\"" },
		{ "** * * * *",
		  "field 1 (minute): unexpected character '*' in \"**\"" },
		{ "1-2-3 * * * *",
		  "field 1 (minute): unexpected character '-' in \"1-2-3\"" },
		{ "*/2/3 * * * *",
		  "field 1 (minute): unexpected character '/' in \"*/2/3\"" },
		{ "* * * * *\n",
		  "field 5 (day-of-week): unexpected character '\\x0a' in \"*\\x0a\"" },
		{ "* * * * \"1\"",
		  "field 5 (day-of-week): unexpected character '\"' in \"\\\"1\\\"\"" },
		{ "* * * * 1\xc3\xa9",
		  "field 5 (day-of-week): unexpected character '\\xc3' in "
		  "\"1\\xc3\\xa9\"" },
		{ "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,# * * * *",
		  "field 1 (minute): unexpected character '#' in "
		  "\"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,1...\"" },
		{ "@foo", "unknown macro \"@foo\" (use @yearly, @annually, "
			  "@monthly, @weekly, @daily, @midnight or @hourly)" },
		{ "@", "unknown macro \"@\" (use @yearly, @annually, "
		       "@monthly, @weekly, @daily, @midnight or @hourly)" },
		{ "@reboot", "@reboot is not supported" },
		{ "@daily 5", "unexpected text after @daily" },
		{ "@HOURLY x", "unexpected text after @hourly" },
		{ "0 @daily", "expected 5 fields (minute hour day-of-month month "
			      "day-of-week), got 2" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		expect_err(t[i].in, t[i].msg);
}

/* --- next time (UTC) ------------------------------------------------------------ */

Test(cron_next, every_15_minutes)
{
	time_t want[] = {
		utc(2024, 5, 5, 10, 15, 0), utc(2024, 5, 5, 10, 30, 0),
		utc(2024, 5, 5, 10, 45, 0), utc(2024, 5, 5, 11, 0, 0),
	};

	use_tz("UTC");
	expect_chain("*/15 * * * *", utc(2024, 5, 5, 10, 7, 30), want, 4);
	/* Strictly after, seconds ignored. */
	expect_next("*/15 * * * *", utc(2024, 5, 5, 10, 14, 59),
		    utc(2024, 5, 5, 10, 15, 0));
	expect_next("*/15 * * * *", utc(2024, 5, 5, 10, 15, 0),
		    utc(2024, 5, 5, 10, 30, 0));
	expect_next("*/15 * * * *", utc(2024, 5, 5, 10, 15, 1),
		    utc(2024, 5, 5, 10, 30, 0));
	expect_next("* * * * *", utc(2024, 5, 5, 10, 15, 0),
		    utc(2024, 5, 5, 10, 16, 0));
	expect_next("5,10 3-4 * * *", utc(2024, 5, 5, 3, 10, 0),
		    utc(2024, 5, 5, 4, 5, 0));
	expect_next("5,10 3-4 * * *", utc(2024, 5, 5, 4, 10, 0),
		    utc(2024, 5, 6, 3, 5, 0));
}

Test(cron_next, year_boundary)
{
	use_tz("UTC");
	expect_next("0 0 1 1 *", utc(2023, 12, 31, 23, 59, 59),
		    utc(2024, 1, 1, 0, 0, 0));
	expect_next("@yearly", utc(2024, 1, 1, 0, 0, 0),
		    utc(2025, 1, 1, 0, 0, 0));
	expect_next("59 23 31 12 *", utc(2023, 12, 31, 23, 59, 0),
		    utc(2024, 12, 31, 23, 59, 0));
	expect_next("* * * * *", utc(2023, 12, 31, 23, 59, 0),
		    utc(2024, 1, 1, 0, 0, 0));
	expect_next("0 12 * jan mon", utc(2023, 12, 1, 0, 0, 0),
		    utc(2024, 1, 1, 12, 0, 0));
	/* Before 1970 too. */
	expect_next("0 0 1 1 *", utc(1969, 6, 1, 0, 0, 0), 0);
	expect_next("30 6 * * *", utc(1969, 12, 31, 7, 0, 0),
		    utc(1970, 1, 1, 6, 30, 0));
}

Test(cron_next, leap_day)
{
	use_tz("UTC");
	expect_next("0 0 29 2 *", utc(2025, 3, 1, 0, 0, 0),
		    utc(2028, 2, 29, 0, 0, 0));
	expect_next("0 0 29 feb *", utc(2023, 6, 1, 0, 0, 0),
		    utc(2024, 2, 29, 0, 0, 0));
	expect_next("0 0 29 2 *", utc(2024, 2, 29, 0, 0, 0),
		    utc(2028, 2, 29, 0, 0, 0));
	/* 2100 is not a leap year: the longest gap, still within reach. */
	expect_next("0 0 29 2 *", utc(2096, 3, 1, 0, 0, 0),
		    utc(2104, 2, 29, 0, 0, 0));
	/* 2000 is. */
	expect_next("0 0 29 2 *", utc(1997, 1, 1, 0, 0, 0),
		    utc(2000, 2, 29, 0, 0, 0));
	expect_next("0 0 * 3 *", utc(2025, 2, 28, 0, 0, 0),
		    utc(2025, 3, 1, 0, 0, 0));
}

Test(cron_next, dom_dow_or_rule)
{
	/* 2024-09-01 is a Sunday. Both restricted: the 13th or any Friday. */
	time_t or_rule[] = {
		utc(2024, 9, 6, 0, 0, 0), utc(2024, 9, 13, 0, 0, 0),
		utc(2024, 9, 20, 0, 0, 0), utc(2024, 9, 27, 0, 0, 0),
		utc(2024, 10, 4, 0, 0, 0), utc(2024, 10, 11, 0, 0, 0),
		utc(2024, 10, 13, 0, 0, 0), utc(2024, 10, 18, 0, 0, 0),
	};
	/* Vixie: "*" first in a field means AND: Fridays on odd days. */
	time_t and_rule[] = {
		utc(2024, 9, 13, 0, 0, 0), utc(2024, 9, 27, 0, 0, 0),
		utc(2024, 10, 11, 0, 0, 0), utc(2024, 10, 25, 0, 0, 0),
	};
	time_t after = utc(2024, 9, 1, 0, 0, 0);

	use_tz("UTC");
	expect_chain("0 0 13 * fri", after, or_rule, 8);
	expect_chain("0 0 */2 * fri", after, and_rule, 4);
	/* Only one restricted: that one decides. */
	expect_next("0 0 13 * *", after, utc(2024, 9, 13, 0, 0, 0));
	expect_next("0 0 * * 5", after, utc(2024, 9, 6, 0, 0, 0));
	/* "1-31" is a restriction, so it ORs with Friday: every day. */
	expect_next("0 0 1-31 * fri", after, utc(2024, 9, 2, 0, 0, 0));
	/* OR also within restricted months only. */
	expect_next("0 0 1 jun sun", utc(2024, 6, 1, 0, 0, 0),
		    utc(2024, 6, 2, 0, 0, 0));
	expect_next("0 0 1 jun sun", utc(2024, 6, 30, 0, 0, 0),
		    utc(2025, 6, 1, 0, 0, 0));
}

Test(cron_next, names_and_sunday)
{
	use_tz("UTC");
	/* 2024-05-31 is a Friday, 2024-06-03 a Monday. */
	expect_next("30 8 * jun-aug mon-fri", utc(2024, 5, 31, 12, 0, 0),
		    utc(2024, 6, 3, 8, 30, 0));
	expect_next("30 8 * JUN-AUG MON-FRI", utc(2024, 8, 30, 8, 30, 0),
		    utc(2025, 6, 2, 8, 30, 0));
	expect_next("0 9 * * 7", utc(2024, 6, 3, 0, 0, 0),
		    utc(2024, 6, 9, 9, 0, 0));
	expect_next("0 9 * * sun", utc(2024, 6, 3, 0, 0, 0),
		    utc(2024, 6, 9, 9, 0, 0));
	expect_next("0 9 * * 0", utc(2024, 6, 3, 0, 0, 0),
		    utc(2024, 6, 9, 9, 0, 0));
	expect_next("@weekly", utc(2024, 6, 3, 0, 0, 0),
		    utc(2024, 6, 9, 0, 0, 0));
	expect_next("@monthly", utc(2024, 6, 3, 0, 0, 0),
		    utc(2024, 7, 1, 0, 0, 0));
	expect_next("@hourly", utc(2024, 6, 3, 23, 0, 0),
		    utc(2024, 6, 4, 0, 0, 0));
}

Test(cron_next, day_31_skips_short_months)
{
	time_t want[] = {
		utc(2024, 3, 31, 0, 0, 0), utc(2024, 5, 31, 0, 0, 0),
		utc(2024, 7, 31, 0, 0, 0), utc(2024, 8, 31, 0, 0, 0),
		utc(2024, 10, 31, 0, 0, 0), utc(2024, 12, 31, 0, 0, 0),
		utc(2025, 1, 31, 0, 0, 0), utc(2025, 3, 31, 0, 0, 0),
	};

	use_tz("UTC");
	expect_chain("0 0 31 * *", utc(2024, 1, 31, 0, 0, 0), want, 8);
	expect_next("0 0 30 * *", utc(2024, 1, 30, 0, 0, 0),
		    utc(2024, 3, 30, 0, 0, 0));
}

Test(cron_next, impossible)
{
	static const char *const impossible[] = {
		"0 0 31 2 *", "0 0 30 feb *", "0 0 31 4,6,9,11 *",
		"* * 30-31 2 *",
	};
	struct cron_expr e;
	time_t got = 12345;
	size_t i;

	use_tz("UTC");
	for (i = 0; i < sizeof(impossible) / sizeof(impossible[0]); i++) {
		e = P(impossible[i]);
		errno = 0;
		cr_assert_eq(cron_next(&e, utc(2024, 1, 1, 0, 0, 0), &got), -1,
			     "%s", impossible[i]);
		cr_assert_eq(errno, ERANGE, "%s", impossible[i]);
		cr_assert_eq(got, 12345);
	}
	/* An empty set (hand-built struct) never matches either. */
	e = P("* * * * *");
	e.minute = 0;
	errno = 0;
	cr_assert_eq(cron_next(&e, 0, &got), -1);
	cr_assert_eq(errno, ERANGE);
	e = P("* * * * *");
	e.minute = ~UINT64_C(0) << 60;	/* only bits past 59 */
	cr_assert_eq(cron_next(&e, 0, &got), -1);
	cr_assert_eq(errno, ERANGE);
}

Test(cron_next, bad_arguments)
{
	struct cron_expr e = P("* * * * *");
	time_t got;

	errno = 0;
	cr_assert_eq(cron_next(NULL, 0, &got), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(cron_next(&e, 0, NULL), -1);
	cr_assert_eq(errno, EINVAL);
	if (sizeof(time_t) >= 8) {
		errno = 0;
		cr_assert_eq(cron_next(&e, (time_t)INT64_MAX, &got), -1);
		cr_assert_eq(errno, EOVERFLOW);
		errno = 0;
		cr_assert_eq(cron_next(&e, (time_t)INT64_MIN, &got), -1);
		cr_assert_eq(errno, EOVERFLOW);
	}
}

/* The skipping must make even the worst searches cheap: an impossible
 * expression walks 8 years, Feb 29 from 2096 crosses 8 years of days. The
 * bound is loose (sanitizers, a busy machine) but far below what testing
 * every minute would take (4 million steps per call). */
Test(cron_next, efficient)
{
	struct cron_expr never = P("0 0 31 2 *"), leap = P("0 0 29 2 *");
	struct timespec t0, t1;
	time_t got;
	double secs;
	int i;

	use_tz("Europe/Berlin");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 200; i++) {
		cr_assert_eq(cron_next(&never, utc(2024, 1, 1, 0, 0, 0), &got), -1);
		cr_assert_eq(cron_next(&leap, utc(2096, 3, 1, 0, 0, 0), &got), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(secs, 10.0, "400 searches took %.2f s", secs);
}

/* --- next time across DST (Europe/Berlin) ------------------------------------- */

static bool have_berlin(void)
{
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) == 0)
		return true;
	cr_skip_test("/usr/share/zoneinfo/Europe/Berlin missing (tzdata "
		     "not installed)");
	return false;
}

/* 2024-03-31: 02:00 CET (01:00 UTC) becomes 03:00 CEST.
 * 2024-10-27: 03:00 CEST (01:00 UTC) becomes 02:00 CET. */
Test(cron_next, dst_spring_gap)
{
	if (!have_berlin())
		return;
	use_tz("Europe/Berlin");
	/* The day before, 02:30 CET exists. */
	expect_next("30 2 * * *", utc(2024, 3, 30, 0, 0, 0),
		    utc(2024, 3, 30, 1, 30, 0));
	/* 02:30 on 2024-03-31 does not exist: the next is 02:30 CEST on
	 * 2024-04-01, i.e. 00:30 UTC. */
	expect_next("30 2 * * *", utc(2024, 3, 30, 2, 0, 0),
		    utc(2024, 4, 1, 0, 30, 0));
	expect_next("30 2 31 3 *", utc(2024, 3, 1, 0, 0, 0),
		    utc(2025, 3, 31, 0, 30, 0));
	/* Every minute: 01:59 CET is followed by 03:00 CEST, one minute later. */
	expect_next("* * * * *", utc(2024, 3, 31, 0, 59, 0),
		    utc(2024, 3, 31, 1, 0, 0));
	expect_next("0 * * * *", utc(2024, 3, 31, 0, 30, 0),
		    utc(2024, 3, 31, 1, 0, 0));
	expect_next("0 3 * * *", utc(2024, 3, 30, 12, 0, 0),
		    utc(2024, 3, 31, 1, 0, 0));
	/* Local 02:xx on the gap day is skipped even when asked for minutes. */
	expect_next("*/10 2 * * *", utc(2024, 3, 30, 1, 55, 0),
		    utc(2024, 4, 1, 0, 0, 0));
}

Test(cron_next, dst_fall_back_repeats)
{
	time_t twice[] = {
		utc(2024, 10, 27, 0, 30, 0),	/* 02:30 CEST */
		utc(2024, 10, 27, 1, 30, 0),	/* 02:30 CET */
		utc(2024, 10, 28, 1, 30, 0),
	};

	if (!have_berlin())
		return;
	use_tz("Europe/Berlin");
	expect_chain("30 2 * * *", utc(2024, 10, 26, 12, 0, 0), twice, 3);
	/* 02:59 CEST is followed by 02:00 CET, a minute later. */
	expect_next("* * * * *", utc(2024, 10, 27, 0, 59, 0),
		    utc(2024, 10, 27, 1, 0, 0));
	/* 02:45 CEST: the 02:50 of that pass comes before 02:10 CET. */
	expect_next("10,50 2 * * *", utc(2024, 10, 27, 0, 45, 0),
		    utc(2024, 10, 27, 0, 50, 0));
	expect_next("10,50 2 * * *", utc(2024, 10, 27, 0, 50, 0),
		    utc(2024, 10, 27, 1, 10, 0));
	/* 03:00 happens once (CET). */
	expect_next("0 3 * * *", utc(2024, 10, 26, 12, 0, 0),
		    utc(2024, 10, 27, 2, 0, 0));
	/* Midnight in local time, not UTC. */
	expect_next("@daily", utc(2024, 10, 27, 12, 0, 0),
		    utc(2024, 10, 27, 23, 0, 0));
}

/* --- against a minute-by-minute reference ------------------------------------ */

static void cross_check(const char *tz)
{
	static const char *const exprs[] = {
		"* * * * *", "*/7 * * * *", "30 2 * * *", "0 3 * * *",
		"15 1-3 * * *", "@weekly", "59 23 * * *", "0 2 31 3 *",
		"0 0 13 * fri", "0 0 */2 * fri", "45 */5 * 3,10 sun",
		"0,30 2 27,31 * sat", "@hourly", "0 0 1 * *", "*/20 2-3 * * *",
	};
	time_t starts[] = {
		utc(2024, 3, 30, 22, 17, 5), utc(2024, 3, 31, 0, 0, 0),
		utc(2024, 3, 31, 0, 59, 59), utc(2024, 10, 26, 23, 1, 0),
		utc(2024, 10, 27, 0, 30, 0), utc(2024, 10, 27, 1, 0, 0),
		utc(2024, 12, 30, 12, 0, 0), utc(2024, 2, 27, 6, 6, 6),
	};
	const time_t window = 3 * 86400;
	size_t i, j;

	use_tz(tz);
	for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		struct cron_expr e = P(exprs[i]);

		for (j = 0; j < sizeof(starts) / sizeof(starts[0]); j++) {
			time_t after = starts[j], t, got, want = -1;
			char a[64], b[64], c[64];
			int r;

			/* Both zones have whole-minute offsets, so local
			 * minutes start on UTC minutes. */
			for (t = after - after % 60 + 60;
			     t <= after + window; t += 60) {
				if (matches(&e, t)) {
					want = t;
					break;
				}
			}
			r = cron_next(&e, after, &got);
			cr_assert_eq(r, 0, "%s \"%s\" after %s: %s", tz, exprs[i],
				     show(after, a, sizeof(a)), strerror(errno));
			cr_assert(matches(&e, got));
			if (want < 0)
				cr_assert_gt(got, after + window,
					     "%s \"%s\" after %s: got %s, "
					     "reference found nothing", tz,
					     exprs[i], show(after, a, sizeof(a)),
					     show(got, b, sizeof(b)));
			else
				cr_assert_eq(got, want,
					     "%s \"%s\" after %s: got %s, want %s",
					     tz, exprs[i],
					     show(after, a, sizeof(a)),
					     show(got, b, sizeof(b)),
					     show(want, c, sizeof(c)));
		}
	}
}

Test(cron_next, reference_utc)
{
	cross_check("UTC");
}

Test(cron_next, reference_berlin)
{
	if (!have_berlin())
		return;
	cross_check("Europe/Berlin");
}

/* A POSIX TZ rule needs no tzdata, so DST is covered even without it. */
Test(cron_next, reference_posix_rule)
{
	cross_check("CET-1CEST,M3.5.0,M10.5.0/3");
}
