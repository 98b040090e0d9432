/* dtlog — the process-wide log writer. Lines go to numbered, size-rotated
 * <base>N.dtl files (N = 1..999, wrapping) in the reference column format
 *   MM/DD/YYYY HH:MM:SS.ffff pid tid seq level msgid text
 * and service events (the 4000 series) are also sent to syslog(3).
 * All functions are thread-safe; none is async-signal-safe. */
#ifndef DITTO_DTLOG_H
#define DITTO_DTLOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* Column 6 knows only 1 (warning/error) and 2 (information); DTLOG_WARNING
 * is written as 1 but keeps syslog's LOG_WARNING apart from LOG_ERR. */
enum {
	DTLOG_ERROR = 1,	/* column 6 = 1, syslog LOG_ERR */
	DTLOG_INFO = 2,		/* column 6 = 2, syslog LOG_INFO */
	DTLOG_WARNING = 3,	/* column 6 = 1, syslog LOG_WARNING */
};

#define DTLOG_DEFAULT_BASE "dtlog"
#define DTLOG_DEFAULT_MAX_LENGTH 1048576u
#define DTLOG_DEFAULT_MAX_FILES 5u
#define DTLOG_SERIES_MAX 999u	/* highest series number and max_files limit */

struct dtlog_opts {
	const char *dir;	/* created (0755) if missing; required */
	const char *base;	/* NULL: "dtlog"; no '/' */
	uint64_t max_length;	/* bytes per file; 0: default */
	unsigned max_files;	/* 1..999; 0: default */
	bool use_syslog;	/* dtlog_event() also goes to syslog */
	const char *ident;	/* syslog ident; NULL: base */
	bool to_stderr;		/* echo every line to stderr (foreground) */
};

/* Opens (or reopens) the log: continues the newest existing <base>N.dtl if it
 * has room, else starts the next number, and prunes files beyond max_files.
 * On failure prints why to stderr, keeps logging to stderr and returns -1. */
int dtlog_open(const struct dtlog_opts *o);
/* Closes the file; later messages go to stderr. */
void dtlog_close(void);
/* New limits, taking effect when the next file is started (0: default).
 * -1 with errno EINVAL for max_files > 999, EBADF if the log is not open. */
int dtlog_reconfigure(uint64_t max_length, unsigned max_files);
/* Path of the file being written, NULL when not open (tests, diagnostics). */
const char *dtlog_current_path(void);

/* msgid 0 is the generic id. Control characters in the text are escaped
 * (\n, \r, \t, \\, \xHH) so one message is always one line; errno is kept. */
void dtlog(int level, unsigned msgid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As dtlog, and also to syslog as "<msgid>: <text>" when use_syslog is set. */
void dtlog_event(int level, unsigned msgid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dtlog_vlog(int level, unsigned msgid, bool event, const char *fmt,
		va_list ap) __attribute__((format(printf, 4, 0)));

#endif
