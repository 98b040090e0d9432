#include "config.h"

#include "transmit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void transmit_sched_init(struct transmit_sched *s)
{
	memset(s, 0, sizeof(*s));
	s->enabled = true;
	s->win_open = s->win_close = -1;
}

/* Stop criteria alone start nothing, so they do not make a schedule. */
bool transmit_sched_active(const struct transmit_sched *s)
{
	return s->enabled && (s->start || s->threshold_pct || s->threshold_bytes || s->win_open >= 0);
}

/* The first start at or after now: a repeated start already past goes on
 * from its next repetition; a single one already past is due at once. */
static time_t first_start(const struct transmit_sched *s, time_t now)
{
	uint64_t k;

	if (!s->start || s->start >= now || !s->every)
		return s->start;
	k = ((uint64_t)(now - s->start) + s->every - 1) / s->every;
	return s->start + (time_t)(k * s->every);
}

void transmit_session_reset(struct transmit_session *ss, const struct transmit_sched *s, time_t now)
{
	memset(ss, 0, sizeof(*ss));
	ss->next_start = first_start(s, now);
}

bool transmit_in_window(const struct transmit_sched *s, time_t now)
{
	struct tm tm;
	int m;

	if (s->win_open < 0 || s->win_close < 0)
		return true;
	if (!localtime_r(&now, &tm))
		return true;
	m = tm.tm_hour * 60 + tm.tm_min;
	if (s->win_open < s->win_close)
		return m >= s->win_open && m < s->win_close;
	return m >= s->win_open || m < s->win_close; /* across midnight */
}

/* Consumes a due start time: the next repetition, or none. */
static bool start_due(const struct transmit_sched *s, struct transmit_session *ss, time_t now)
{
	uint64_t k;

	if (!s->start || !ss->next_start || now < ss->next_start)
		return false;
	if (s->every) {
		k = (uint64_t)(now - ss->next_start) / s->every + 1;
		ss->next_start += (time_t)(k * s->every);
	} else {
		ss->next_start = 0;
	}
	return true;
}

static bool threshold_met(const struct transmit_sched *s, time_t now, const struct transmit_queue *q)
{
	/* A start time overrides the other start criteria until it comes. */
	if (s->start && now < s->start)
		return false;
	if (s->threshold_bytes && q->queued >= s->threshold_bytes)
		return true;
	return s->threshold_pct && q->capacity &&
	       q->queued * 100 >= (uint64_t)s->threshold_pct * q->capacity;
}

enum transmit_change transmit_tick(const struct transmit_sched *s, struct transmit_session *ss,
				   time_t now, const struct transmit_queue *q, const char **why)
{
	bool in_window = transmit_in_window(s, now), due;

	*why = "";
	if (!transmit_sched_active(s) && !ss->active)
		return TRANSMIT_SAME;
	if (ss->active) {
		if (!ss->manual && !in_window)
			*why = "the window closed";
		else if (s->stop_secs && (uint64_t)(now - ss->began) >= s->stop_secs)
			*why = "time limit reached";
		else if (s->stop_bytes && q->sent - ss->sent_at_start >= s->stop_bytes)
			*why = "byte limit reached";
		else if (!q->queued)
			*why = "queue empty";
		else
			return TRANSMIT_SAME;
		ss->active = ss->manual = false;
		/* A start time that passed during the session is not owed. */
		start_due(s, ss, now);
		return TRANSMIT_END;
	}
	due = start_due(s, ss, now);
	if (!in_window)
		return TRANSMIT_SAME; /* a start outside the window is skipped */
	if (due)
		*why = "start time";
	else if (threshold_met(s, now, q))
		*why = "queue threshold";
	else if (!s->start && !s->threshold_pct && !s->threshold_bytes)
		*why = "window open"; /* a window alone: data goes while it is open */
	else
		return TRANSMIT_SAME;
	if (!q->queued)
		return TRANSMIT_SAME;
	ss->active = true;
	ss->began = now;
	ss->sent_at_start = q->sent;
	return TRANSMIT_BEGIN;
}

void transmit_begin_manual(struct transmit_session *ss, time_t now, uint64_t sent)
{
	ss->active = ss->manual = true;
	ss->began = now;
	ss->sent_at_start = sent;
}

int transmit_parse_datetime(const char *text, time_t *out, char *err, size_t errlen)
{
	static const char *const fmts[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M" };
	struct tm tm;
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(fmts); i++) {
		const char *end;

		memset(&tm, 0, sizeof(tm));
		end = strptime(text, fmts[i], &tm);
		if (end && !*end) {
			tm.tm_isdst = -1;
			*out = mktime(&tm);
			if (*out <= 0)
				break;
			return 0;
		}
	}
	snprintf(err, errlen, "\"%s\" is not a date and time like \"2026-12-24 22:30\"", text);
	return -1;
}

int transmit_parse_hhmm(const char *text, int *minutes, char *err, size_t errlen)
{
	unsigned h, m;
	int n = 0;

	if (sscanf(text, "%2u:%2u%n", &h, &m, &n) != 2 || text[n] || h > 23 || m > 59 ||
	    strlen(text) < 4) {
		snprintf(err, errlen, "\"%s\" is not a time of day like \"22:00\"", text);
		return -1;
	}
	*minutes = (int)(h * 60 + m);
	return 0;
}

static const struct unit { const char *one, *many; uint64_t secs; } units[] = {
	{ "DAY", "DAYS", 86400 },
	{ "HOUR", "HOURS", 3600 },
	{ "MINUTE", "MINUTES", 60 },
};

int transmit_parse_span(uint64_t n, const char *unit, uint64_t *secs, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(units); i++) {
		if (!util_streq_ci(unit, units[i].one) && !util_streq_ci(unit, units[i].many))
			continue;
		if (n == 0 || n > UINT32_MAX) {
			snprintf(err, errlen, "%" PRIu64 " %s is not a span from 1 to %u", n, unit, UINT32_MAX);
			return -1;
		}
		*secs = n * units[i].secs;
		return 0;
	}
	snprintf(err, errlen, "%s is not MINUTES, HOURS or DAYS", unit);
	return -1;
}

/* "30 minutes", "2 days": the largest unit that divides it. */
static void fmt_span(struct util_buf *out, uint64_t secs)
{
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(units); i++)
		if (secs % units[i].secs == 0) {
			uint64_t n = secs / units[i].secs;

			util_buf_printf(out, "%" PRIu64 " %s", n, n == 1 ? units[i].one : units[i].many);
			return;
		}
	util_buf_printf(out, "%" PRIu64 " seconds", secs);
}

void transmit_fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%lld", (long long)t);
}

void transmit_describe(const struct transmit_sched *s, const struct transmit_session *ss,
		       struct util_buf *out)
{
	char t[64];

	if (!transmit_sched_active(s) && !s->stop_secs && !s->stop_bytes) {
		util_buf_printf(out, "Schedule:             %s\n", s->enabled ? "none (data goes as soon as it can)" :
				"disabled (data goes as soon as it can)");
		if (s->enabled)
			return;
	} else {
		util_buf_printf(out, "Schedule:             %s\n", !s->enabled ? "disabled (settings kept; data goes as soon as it can)" :
				!transmit_sched_active(s) ? "stop criteria only (no start criterion or window: no effect)" :
				ss->active ? "transmitting" : "waiting for a start criterion");
	}
	if (s->start) {
		transmit_fmt_time(s->start, t, sizeof(t));
		util_buf_printf(out, "  Start:              %s", t);
		if (s->every) {
			util_buf_puts(out, ", every ");
			fmt_span(out, s->every);
		}
		if (ss->next_start) {
			transmit_fmt_time(ss->next_start, t, sizeof(t));
			util_buf_printf(out, " (next %s)", t);
		}
		util_buf_puts(out, "\n");
	}
	if (s->threshold_pct)
		util_buf_printf(out, "  Threshold:          %u%% of the queue\n", s->threshold_pct);
	if (s->threshold_bytes)
		util_buf_printf(out, "  Threshold:          %" PRIu64 " bytes queued\n", s->threshold_bytes);
	if (s->stop_secs) {
		util_buf_puts(out, "  Stop after:         ");
		fmt_span(out, s->stop_secs);
		util_buf_puts(out, "\n");
	}
	if (s->stop_bytes)
		util_buf_printf(out, "  Stop after:         %" PRIu64 " bytes\n", s->stop_bytes);
	if (s->win_open >= 0)
		util_buf_printf(out, "  Window:             %02d:%02d-%02d:%02d (%s now)\n",
				s->win_open / 60, s->win_open % 60, s->win_close / 60, s->win_close % 60,
				transmit_in_window(s, time(NULL)) ? "open" : "closed");
	if (ss->active) {
		transmit_fmt_time(ss->began, t, sizeof(t));
		util_buf_printf(out, "  Session:            since %s%s\n", t, ss->manual ? " (TRANSMIT START)" : "");
	}
}

static void put_i64(config_setting_t *g, const char *name, long long v)
{
	config_setting_set_int64(config_setting_add(g, name, CONFIG_TYPE_INT64), v);
}

void transmit_save(const struct transmit_sched *s, const struct transmit_session *ss,
		   config_setting_t *g)
{
	config_setting_set_bool(config_setting_add(g, "tx_enabled", CONFIG_TYPE_BOOL), s->enabled);
	put_i64(g, "tx_start", (long long)s->start);
	put_i64(g, "tx_every", (long long)s->every);
	put_i64(g, "tx_next_start", (long long)ss->next_start);
	put_i64(g, "tx_threshold_pct", s->threshold_pct);
	put_i64(g, "tx_threshold_bytes", (long long)s->threshold_bytes);
	put_i64(g, "tx_stop_secs", (long long)s->stop_secs);
	put_i64(g, "tx_stop_bytes", (long long)s->stop_bytes);
	put_i64(g, "tx_window_open", s->win_open);
	put_i64(g, "tx_window_close", s->win_close);
}

static uint64_t get_u64(const config_setting_t *g, const char *name, uint64_t max)
{
	long long v = 0;

	if (!config_setting_lookup_int64(g, name, &v) || v < 0 || (uint64_t)v > max)
		return 0;
	return (uint64_t)v;
}

void transmit_load(struct transmit_sched *s, struct transmit_session *ss,
		   const config_setting_t *g, time_t now)
{
	long long o = -1, c = -1;
	int b;

	transmit_sched_init(s);
	if (config_setting_lookup_bool(g, "tx_enabled", &b))
		s->enabled = b;
	s->start = (time_t)get_u64(g, "tx_start", INT64_MAX);
	s->every = get_u64(g, "tx_every", (uint64_t)UINT32_MAX * 86400);
	s->threshold_pct = (unsigned)get_u64(g, "tx_threshold_pct", 100);
	s->threshold_bytes = get_u64(g, "tx_threshold_bytes", UINT64_MAX >> 1);
	s->stop_secs = get_u64(g, "tx_stop_secs", (uint64_t)UINT32_MAX * 86400);
	s->stop_bytes = get_u64(g, "tx_stop_bytes", UINT64_MAX >> 1);
	if (config_setting_lookup_int64(g, "tx_window_open", &o) &&
	    config_setting_lookup_int64(g, "tx_window_close", &c) &&
	    o >= 0 && o < 1440 && c >= 0 && c < 1440 && o != c) {
		s->win_open = (int)o;
		s->win_close = (int)c;
	}
	transmit_session_reset(ss, s, now);
	/* A start time missed while the agent was down is due now; 0 is one
	 * already used. */
	if (s->start && config_setting_lookup_int64(g, "tx_next_start", &o) && o >= 0)
		ss->next_start = (time_t)o;
}
