/* Scheduled transmission (SCHEDULE): when a connection's queued data may go.
 *
 * A schedule holds start criteria (a date and time, optionally repeated
 * every so many seconds; a queue threshold in percent of the queue's
 * capacity or in bytes), stop criteria (a time limit and a byte limit per
 * session) and a window of the day that bounds all of them. It can be
 * switched off (DISABLE) without losing the settings.
 *
 * With an enabled schedule that has criteria, data goes only during a
 * session. transmit_tick, called once a second, starts a session when a
 * start criterion is met inside the window and there is something to send,
 * and ends it when the queue is empty, a stop criterion is met or the
 * window closes. A start time overrides the other start criteria: before
 * it, a threshold starts nothing. A window alone starts nothing.
 *
 * Pure logic: the caller passes the clock and the queue's figures, so it
 * is tested without waiting for real dates.
 */
#ifndef DITTO_TRANSMIT_H
#define DITTO_TRANSMIT_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

struct transmit_sched {
	bool enabled;             /* DISABLE keeps the settings, off */
	time_t start;             /* 0: no start time */
	uint64_t every;           /* seconds between starts; 0: once */
	unsigned threshold_pct;   /* 0: none */
	uint64_t threshold_bytes; /* 0: none */
	uint64_t stop_secs;       /* per session; 0: none */
	uint64_t stop_bytes;      /* per session; 0: none */
	int win_open, win_close;  /* minutes after local midnight; -1: no window */
};

struct transmit_session {
	bool active;
	bool manual;              /* TRANSMIT START began it */
	time_t began;
	uint64_t sent_at_start;   /* the caller's sent counter then */
	time_t next_start;        /* the start time still to come; 0: none */
};

/* What the queue looks like now. */
struct transmit_queue {
	uint64_t queued;          /* bytes not yet sent */
	uint64_t capacity;        /* bytes the queue may hold (for percent) */
	uint64_t sent;            /* bytes sent so far (a running counter) */
};

enum transmit_change { TRANSMIT_SAME, TRANSMIT_BEGIN, TRANSMIT_END };

/* An empty schedule: enabled, no criteria, no window. */
void transmit_sched_init(struct transmit_sched *s);

/* True when the schedule decides when data goes (enabled with a start
 * criterion, a stop criterion or a window). */
bool transmit_sched_active(const struct transmit_sched *s);

/* Resets the session for a schedule that was just set or loaded. */
void transmit_session_reset(struct transmit_session *ss, const struct transmit_sched *s, time_t now);

/* Whether the local time of now lies inside the window (true without one). */
bool transmit_in_window(const struct transmit_sched *s, time_t now);

/* Once a second. *why says, for a BEGIN or END, what made it. */
enum transmit_change transmit_tick(const struct transmit_sched *s, struct transmit_session *ss,
				   time_t now, const struct transmit_queue *q, const char **why);

/* Starts a session now (TRANSMIT START on a scheduled connection): it ends
 * like any other, except that it may begin outside the window. */
void transmit_begin_manual(struct transmit_session *ss, time_t now, uint64_t sent);

/* Parsers for the DTCL words; -1 with a reason in err. */
int transmit_parse_datetime(const char *text, time_t *out, char *err, size_t errlen);
int transmit_parse_hhmm(const char *text, int *minutes, char *err, size_t errlen);
/* n UNIT with UNIT MINUTES|HOURS|DAYS (singular too): seconds. */
int transmit_parse_span(uint64_t n, const char *unit, uint64_t *secs, char *err, size_t errlen);

/* One line per setting, for STATUS and SCHEDULE's answer. */
void transmit_describe(const struct transmit_sched *s, const struct transmit_session *ss,
		       struct util_buf *out);

/* In a connection's saved group (connections.conf); load keeps what is
 * missing or out of range at the defaults. */
void transmit_save(const struct transmit_sched *s, const struct transmit_session *ss,
		   config_setting_t *group);
void transmit_load(struct transmit_sched *s, struct transmit_session *ss,
		   const config_setting_t *group, time_t now);

/* "YYYY-MM-DD HH:MM:SS" in local time. */
void transmit_fmt_time(time_t t, char *buf, size_t len);

#endif
