#include "config.h"

#include "cron.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* --- parsing ---------------------------------------------------------------- */

struct field_def {
	const char *name;
	int lo, hi;
	const char *const *names;	/* names[i] stands for names_base + i */
	int names_base;
	const char *names_what;		/* for "is not a number or ..." */
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const struct field_def fields[5] = {
	{ "minute", 0, 59, NULL, 0, NULL },
	{ "hour", 0, 23, NULL, 0, NULL },
	{ "day-of-month", 1, 31, NULL, 0, NULL },
	{ "month", 1, 12, month_names, 1, "month name" },
	{ "day-of-week", 0, 7, day_names, 0, "day name" },
};

static const struct {
	const char *name;
	const char *expansion;
} macros[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* Longest piece of input quoted in a message; the rest becomes "...". */
#define QUOTE_MAX 40

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alnum(char c)
{
	/* Not isalnum(): a locale must not make other bytes part of a value. */
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Input is arbitrary bytes: messages show it printable and bounded, with
 * '"' and '\' escaped so the quoting stays unambiguous. */
static void quote(char *dst, size_t size, const char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[5];

		if (c == '"' || c == '\\')
			snprintf(tmp, sizeof(tmp), "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		else
			snprintf(tmp, sizeof(tmp), "%c", c);
		if (o + strlen(tmp) >= size)
			break;
		memcpy(dst + o, tmp, strlen(tmp));
		o += strlen(tmp);
	}
	if (i < len && o + 3 < size) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

static void quote_char(char *dst, size_t size, char c)
{
	unsigned char u = (unsigned char)c;

	if (u >= 0x21 && u <= 0x7e && u != '\'' && u != '\\')
		snprintf(dst, size, "'%c'", u);
	else
		snprintf(dst, size, "'\\x%02x'", u);
}

/* Parsing state of one field, so messages can name the field and quote it. */
struct fctx {
	int idx;			/* 0..4 */
	const struct field_def *def;
	const char *s;
	size_t len, pos;
	char *err;
	size_t errlen;
};

static void field_err(struct fctx *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void field_err(struct fctx *f, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	util_seterr(f->err, f->errlen, "field %d (%s): %s", f->idx + 1,
		f->def->name, msg);
}

/* "<what> in "<field>"", for a problem at f->pos that the field shows. */
static void field_err_in(struct fctx *f, const char *what)
{
	char q[QUOTE_MAX * 4 + 8];

	quote(q, sizeof(q), f->s, f->len);
	field_err(f, "%s in \"%s\"", what, q);
}

static void field_err_char(struct fctx *f)
{
	char q[QUOTE_MAX * 4 + 8], c[16];

	quote(q, sizeof(q), f->s, f->len);
	quote_char(c, sizeof(c), f->s[f->pos]);
	field_err(f, "unexpected character %s in \"%s\"", c, q);
}

/* Reads the alphanumeric run at f->pos as a value of the field: a decimal
 * number within lo..hi or, where the field has them, a name. tok/toklen get
 * the text for later messages. Returns 0, or -1 with the message set. */
static int read_value(struct fctx *f, int *out, const char **tok,
		      size_t *toklen)
{
	const char *t = f->s + f->pos;
	char q[QUOTE_MAX * 4 + 8];
	size_t n = 0, i;
	bool digits = true;
	long v = 0;

	while (f->pos + n < f->len && is_alnum(t[n])) {
		if (!is_digit(t[n]))
			digits = false;
		n++;
	}
	*tok = t;
	*toklen = n;
	quote(q, sizeof(q), t, n);
	if (digits) {
		/* Saturate: the exact size of an absurd number does not matter. */
		for (i = 0; i < n; i++)
			if (v < 1000000)
				v = v * 10 + (t[i] - '0');
		if (v < f->def->lo || v > f->def->hi) {
			field_err(f, "%s is out of range %d-%d", q,
				  f->def->lo, f->def->hi);
			return -1;
		}
		*out = (int)v;
		f->pos += n;
		return 0;
	}
	if (f->def->names && n == 3) {
		for (i = 0; f->def->names[i]; i++) {
			if (strncasecmp(t, f->def->names[i], 3) == 0) {
				*out = f->def->names_base + (int)i;
				f->pos += n;
				return 0;
			}
		}
	}
	if (f->def->names)
		field_err(f, "\"%s\" is not a number or %s", q,
			  f->def->names_what);
	else
		field_err(f, "\"%s\" is not a number", q);
	return -1;
}

/* A value is required at f->pos (after `after`, for the message). */
static int expect_value(struct fctx *f, const char *missing, int *out,
			const char **tok, size_t *toklen)
{
	if (f->pos < f->len && is_alnum(f->s[f->pos]))
		return read_value(f, out, tok, toklen);
	if (f->pos >= f->len || f->s[f->pos] == ',')
		field_err_in(f, missing);
	else
		field_err_char(f);
	return -1;
}

static int parse_step(struct fctx *f, int *step)
{
	const char *t = f->s + f->pos;
	char q[QUOTE_MAX * 4 + 8];
	size_t n = 0, i;
	bool digits = true;
	long v = 0;

	while (f->pos + n < f->len && is_alnum(t[n])) {
		if (!is_digit(t[n]))
			digits = false;
		n++;
	}
	if (n == 0) {
		if (f->pos >= f->len || f->s[f->pos] == ',')
			field_err_in(f, "missing step after '/'");
		else
			field_err_char(f);
		return -1;
	}
	quote(q, sizeof(q), t, n);
	if (!digits) {
		field_err(f, "step \"%s\" is not a number", q);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (v < 1000000)
			v = v * 10 + (t[i] - '0');
	if (v < 1 || v > f->def->hi) {
		field_err(f, "step %s is out of range 1-%d", q, f->def->hi);
		return -1;
	}
	*step = (int)v;
	f->pos += n;
	return 0;
}

/* One item: '*' | value ['-' value] , then optional '/' step. */
static int parse_item(struct fctx *f, uint64_t *bits)
{
	const char *atok = NULL, *btok = NULL;
	size_t alen = 0, blen = 0;
	int a, b, step = 1, v;
	bool single = false;

	if (f->pos >= f->len || f->s[f->pos] == ',') {
		field_err_in(f, "empty list item");
		return -1;
	}
	if (f->s[f->pos] == '*') {
		f->pos++;
		a = f->def->lo;
		b = f->def->hi;
	} else {
		if (expect_value(f, "empty list item", &a, &atok, &alen) < 0)
			return -1;
		b = a;
		single = true;
		if (f->pos < f->len && f->s[f->pos] == '-') {
			f->pos++;
			if (expect_value(f, "missing end of range", &b, &btok,
					 &blen) < 0)
				return -1;
			single = false;
			if (a > b) {
				char qa[QUOTE_MAX * 4 + 8], qb[QUOTE_MAX * 4 + 8];

				quote(qa, sizeof(qa), atok, alen);
				quote(qb, sizeof(qb), btok, blen);
				field_err(f, "range %s-%s is reversed (start after end)",
					  qa, qb);
				return -1;
			}
		}
	}
	if (f->pos < f->len && f->s[f->pos] == '/') {
		f->pos++;
		if (parse_step(f, &step) < 0)
			return -1;
		/* "a/n" means a-max/n, as in cronie. */
		if (single)
			b = f->def->hi;
	}
	if (f->pos < f->len && f->s[f->pos] != ',') {
		field_err_char(f);
		return -1;
	}
	for (v = a; v <= b; v += step)
		*bits |= UINT64_C(1) << v;
	return 0;
}

static int parse_field(int idx, const char *s, size_t len, uint64_t *bits,
		       bool *star, char *err, size_t errlen)
{
	struct fctx f = { idx, &fields[idx], s, len, 0, err, errlen };

	*bits = 0;
	/* Vixie's rule: the flag looks at the first character only. */
	*star = len > 0 && s[0] == '*';
	for (;;) {
		if (parse_item(&f, bits) < 0)
			return -1;
		if (f.pos >= f.len)
			return 0;
		f.pos++;	/* the ',' parse_item stopped at */
	}
}

static int parse_fields(const char *s, struct cron_expr *out, char *err,
			size_t errlen)
{
	const char *start[5];
	size_t len[5], n = 0;
	uint64_t bits[5];
	bool star[5];
	const char *p = s;
	int i;

	while (*p) {
		const char *q;

		while (is_blank(*p))
			p++;
		if (!*p)
			break;
		q = p;
		while (*q && !is_blank(*q))
			q++;
		if (n < 5) {
			start[n] = p;
			len[n] = (size_t)(q - p);
		}
		n++;
		p = q;
	}
	if (n == 0) {
		util_seterr(err, errlen, "empty expression");
		return -1;
	}
	if (n != 5) {
		util_seterr(err, errlen, "expected 5 fields (minute hour "
			"day-of-month month day-of-week), got %zu", n);
		return -1;
	}
	for (i = 0; i < 5; i++)
		if (parse_field(i, start[i], len[i], &bits[i], &star[i], err,
				errlen) < 0)
			return -1;
	out->minute = bits[0];
	out->hour = (uint32_t)bits[1];
	out->dom = (uint32_t)bits[2];
	out->month = (uint16_t)bits[3];
	/* 7 is Sunday too. */
	out->dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	out->dom_star = star[2];
	out->dow_star = star[4];
	return 0;
}

int cron_parse(const char *s, struct cron_expr *out, char *err, size_t errlen)
{
	struct cron_expr e;
	const char *p, *q;
	size_t i;
	int ret = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!s || !out) {
		util_seterr(err, errlen, "no expression");
		goto done;
	}
	memset(&e, 0, sizeof(e));
	p = s;
	while (is_blank(*p))
		p++;
	if (*p != '@') {
		if (parse_fields(p, &e, err, errlen) < 0)
			goto done;
		goto ok;
	}
	q = p;
	while (*q && !is_blank(*q))
		q++;
	for (i = 0; i < UTIL_ARRAY_SIZE(macros); i++) {
		if (strlen(macros[i].name) == (size_t)(q - p) &&
		    strncasecmp(p, macros[i].name, (size_t)(q - p)) == 0)
			break;
	}
	if (i == UTIL_ARRAY_SIZE(macros)) {
		char qm[QUOTE_MAX * 4 + 8];

		quote(qm, sizeof(qm), p, (size_t)(q - p));
		if (strncasecmp(p, "@reboot", 7) == 0 && q - p == 7)
			util_seterr(err, errlen, "@reboot is not supported");
		else
			util_seterr(err, errlen, "unknown macro \"%s\" (use @yearly, "
				"@annually, @monthly, @weekly, @daily, "
				"@midnight or @hourly)", qm);
		goto done;
	}
	while (is_blank(*q))
		q++;
	if (*q) {
		util_seterr(err, errlen, "unexpected text after %s",
			macros[i].name);
		goto done;
	}
	if (parse_fields(macros[i].expansion, &e, err, errlen) < 0)
		goto done;	/* cannot happen: the table is valid */
ok:
	*out = e;
	ret = 0;
done:
	if (ret < 0)
		errno = EINVAL;
	return ret;
}

/* --- next time ---------------------------------------------------------------- */

/* Far enough to be no date anyone schedules, small enough that wall-clock
 * arithmetic in int64_t and struct tm's int year cannot overflow. */
#define TIME_LIMIT (INT64_C(1) << 55)
#define DAY 86400

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Day 0 (1970-01-01) was a Thursday. */
static int weekday(int64_t days)
{
	int64_t m = days % 7;

	if (m < 0)
		m += 7;
	return (int)((m + 4) % 7);
}

/* Lowest set bit >= from, or -1. */
static int next_bit(uint64_t bits, int from)
{
	if (from >= 64)
		return -1;
	bits &= ~UINT64_C(0) << from;
	return bits ? __builtin_ctzll(bits) : -1;
}

static bool day_matches(const struct cron_expr *e, int mday, int wday)
{
	bool dom = e->dom & (UINT32_C(1) << mday);
	bool dow = e->dow & (1u << wday);

	if (e->dom_star || e->dow_star)
		return dom && dow;
	return dom || dow;
}

/* Calendar position while walking wall-clock time; days counts from
 * 1970-01-01 and moves with (y, mon, mday). */
struct walk {
	int64_t y, days;
	int mon, mday, hour, min;
};

static void next_day(struct walk *w)
{
	w->days++;
	w->hour = 0;
	w->min = 0;
	if (++w->mday > days_in_month(w->y, w->mon)) {
		w->mday = 1;
		if (++w->mon > 12) {
			w->mon = 1;
			w->y++;
		}
	}
}

static void next_month(struct walk *w)
{
	w->days += days_in_month(w->y, w->mon) - w->mday + 1;
	w->mday = 1;
	w->hour = 0;
	w->min = 0;
	if (++w->mon > 12) {
		w->mon = 1;
		w->y++;
	}
}

/* First wall-clock minute >= wall (seconds since 1970 as if local time were
 * UTC) that matches e, in a year <= max_year. Whole months, days and hours
 * that cannot match are skipped, so this is at most a few thousand steps.
 * Returns 1 with *out set, 0 if there is none, -1 on calendar overflow. */
static int next_wall(const struct cron_expr *e, int64_t wall, int64_t max_year,
		     int64_t *out)
{
	struct walk w;
	struct tm tm;
	int64_t secs;
	time_t t;
	int h, m;

	w.days = floor_div(wall, DAY);
	secs = wall - w.days * DAY;
	secs = (secs + 59) / 60 * 60;
	if (secs == DAY) {
		w.days++;
		secs = 0;
	}
	t = (time_t)(w.days * DAY);
	if (!gmtime_r(&t, &tm))
		return -1;
	w.y = (int64_t)tm.tm_year + 1900;
	w.mon = tm.tm_mon + 1;
	w.mday = tm.tm_mday;
	w.hour = (int)(secs / 3600);
	w.min = (int)(secs % 3600 / 60);
	while (w.y <= max_year) {
		if (!(e->month & (1u << w.mon))) {
			next_month(&w);
			continue;
		}
		if (!day_matches(e, w.mday, weekday(w.days))) {
			next_day(&w);
			continue;
		}
		h = next_bit(e->hour, w.hour);
		if (h < 0) {
			next_day(&w);
			continue;
		}
		if (h != w.hour) {
			w.hour = h;
			w.min = 0;
		}
		m = next_bit(e->minute, w.min);
		if (m < 0) {
			if (++w.hour > 23)
				next_day(&w);
			else
				w.min = 0;
			continue;
		}
		*out = w.days * DAY + (int64_t)h * 3600 + (int64_t)m * 60;
		return 1;
	}
	return 0;
}

/* Only matters where time_t is 32 bits. */
static bool fits_time_t(int64_t v)
{
	time_t t = (time_t)v;

	return (int64_t)t == v;
}

static int utc_offset(int64_t t, long *off)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!fits_time_t(t) || !localtime_r(&tt, &tm))
		return -1;
	*off = tm.tm_gmtoff;
	return 0;
}

/* The first instant in (from, to] whose UTC offset differs from off (which
 * is the offset at from), or 0 if there is none. Sampled a day apart and
 * bisected to the second, hence the one-change-per-day assumption. Returns
 * 1 with *change set, 0, or -1 on overflow. */
static int offset_change(int64_t from, int64_t to, long off, int64_t *change)
{
	int64_t lo = from, hi;
	long o;

	while (lo < to) {
		hi = to - lo > DAY ? lo + DAY : to;
		if (utc_offset(hi, &o) < 0)
			return -1;
		if (o == off) {
			lo = hi;
			continue;
		}
		while (hi - lo > 1) {
			int64_t mid = lo + (hi - lo) / 2;

			if (utc_offset(mid, &o) < 0)
				return -1;
			if (o == off)
				lo = mid;
			else
				hi = mid;
		}
		*change = hi;
		return 1;
	}
	return 0;
}

/* Within a stretch of constant UTC offset wall time is just instant + offset,
 * so the wall-clock walk gives the answer directly; each offset change met on
 * the way restarts the walk from the change with the new offset. That makes
 * a skipped (spring) hour unreachable and a repeated (fall) hour reachable
 * again, and needs no mktime() with its guesses about ambiguous times. */
int cron_next(const struct cron_expr *e, time_t after, time_t *next)
{
	struct cron_expr x;
	int64_t t, wall, cand, change, max_year;
	long off;
	time_t start;
	struct tm tm;
	int r, ret = -1;

	if (!e || !next) {
		errno = EINVAL;
		goto done;
	}
	/* Bits outside the fields' ranges (a hand-built struct) never match. */
	x = *e;
	x.minute &= (UINT64_C(1) << 60) - 1;
	x.hour &= (UINT32_C(1) << 24) - 1;
	x.dom &= ~UINT32_C(1);
	x.month &= 0x1ffe;
	x.dow = (uint8_t)((x.dow | (x.dow >> 7)) & 0x7f);
	if ((int64_t)after >= TIME_LIMIT || (int64_t)after <= -TIME_LIMIT ||
	    !fits_time_t((int64_t)after + 1)) {
		errno = EOVERFLOW;
		goto done;
	}
	tzset();
	t = (int64_t)after + 1;
	start = (time_t)t;
	if (!localtime_r(&start, &tm)) {
		errno = EOVERFLOW;
		goto done;
	}
	off = tm.tm_gmtoff;
	max_year = (int64_t)tm.tm_year + 1900 + CRON_HORIZON_YEARS;
	for (;;) {
		wall = t + off;
		r = next_wall(&x, wall, max_year, &cand);
		if (r < 0) {
			errno = EOVERFLOW;
			goto done;
		}
		if (r == 0) {
			errno = ERANGE;
			goto done;
		}
		cand -= off;
		r = offset_change(t, cand, off, &change);
		if (r < 0) {
			errno = EOVERFLOW;
			goto done;
		}
		if (r == 0)
			break;
		t = change;
		if (utc_offset(t, &off) < 0) {
			errno = EOVERFLOW;
			goto done;
		}
	}
	if (!fits_time_t(cand)) {
		errno = EOVERFLOW;
		goto done;
	}
	*next = (time_t)cand;
	ret = 0;
done:
	return ret;
}
