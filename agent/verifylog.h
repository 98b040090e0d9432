/* verifylog — the verification log, written on the source, one file per
 * replication set: "<dir>/<repset> <base name>", base name "DTVerify.log" by
 * default (reference: "UserData DTVerify.log").
 *
 * Each verification run is one block of lines:
 *
 *   === BEGIN VERIFICATION 12/04/2026 03:15:02 connection 1 repset data target host:1500 options CHECKSUM REMIRROR
 *   DIFF a/b.txt : size 10 != 12; mtime 2026-12-04 03:01:00.123456789 != 2026-12-04 02:00:00.000000000; data 3 blocks (remirrored)
 *   MISSING a/new.txt : not on the target; source file size 5 mtime ... mode 0644 owner 0:0 (remirrored)
 *   ORPHAN old.txt : on the target only; target file size 7 mtime ... mode 0644 owner 0:0
 *   ERROR c/d : could not be compared
 *   === END VERIFICATION 12/04/2026 03:15:09 result: 3 entries differ; entries 120 files 100 dirs 20 bytes 1048576 different 3 missing 1 orphans 1 errors 1 blocks 3 (196608 bytes) remirrored 2 (196613 bytes); 0 lines not logged (limit)
 *
 * Lines are ASCII and one line each: in paths, repset, target, options and
 * result every byte < 0x20, 0x7f, >= 0x80 and the backslash is written as
 * \xNN (lower-case hex); in paths, repset and target a space is \x20 too, so a
 * path is exactly the second space-separated field of its line. An empty path
 * is written as ".". Dates in the markers are local time, MM/DD/YYYY
 * HH:MM:SS (as the Ditto log); mtimes are local "YYYY-MM-DD HH:MM:SS.nnnnnnnnn".
 * Entry lines (per the `what` bits; several differences joined by "; "):
 *   ERROR    VERIFYLOG_ERROR set: "could not be compared", and any other
 *            differences known.
 *   ORPHAN   VERIFYLOG_ORPHAN set, or only tgt given: "on the target only" and
 *            the target's type, size, mtime, mode, owner when tgt is given.
 *   MISSING  VERIFYLOG_MISSING set, or only src given: "not on the target" and
 *            the source's attributes likewise.
 *   DIFF     otherwise: "type file != dir", "size A != B", "mtime A != B",
 *            "mode 0644 != 0600", "owner uid:gid != uid:gid", "data N blocks"
 *            ("data differs" without a count), "link differs", "xattrs
 *            differ". Values are shown source first; a difference whose side
 *            is not given is worded "<what> differs".
 *   " (remirrored)" ends the line of an entry being sent again.
 * As the reference says, an entry states what differed when it was verified,
 * not after a remirror.
 *
 * Crash safety: the file is opened O_APPEND|O_CLOEXEC (created 0640 less the
 * umask) and every line goes out with one write(2), so a crash leaves whole
 * lines only; a short write (disk full) is cut back off with ftruncate.
 *
 * Maximum length (0: none; else at least VERIFYLOG_MIN_LENGTH): the file never
 * grows past it. VERIFYLOG_END_RESERVE bytes stay free for the end marker,
 * which is never longer, so the totals are always written: once an entry line
 * would reach into that room, it and every later entry of the run are not
 * logged, only counted, and the end marker says how many. With append on, a
 * file whose earlier runs leave no room for this run's begin marker and the
 * reserve is started over (truncated) and the begin marker says so — the
 * alternative, never logging a verification again, helps nobody.
 * Append off: the file is truncated when the run begins.
 *
 * Runs of two connections of the same repset may share the file: each line is
 * written under flock(LOCK_EX) with the size checked there, so the limit and
 * whole lines hold, but their lines interleave (the markers carry the
 * connection id), and only the run's own end marker is guaranteed room: with
 * concurrent runs the end marker is written even past the limit.
 *
 * One struct verifylog is used by one thread at a time. */
#ifndef DITTO_VERIFYLOG_H
#define DITTO_VERIFYLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define VERIFYLOG_DEFAULT_BASE "DTVerify.log"
#define VERIFYLOG_DEFAULT_MAX_LENGTH 1048576u
/* Bytes kept free for the end marker; no marker line is longer. */
#define VERIFYLOG_END_RESERVE 1024u
/* Smallest max_length accepted: room for a begin marker, the reserve and some
 * entries. */
#define VERIFYLOG_MIN_LENGTH 4096u

struct verifylog_opts {
	const char *dir;		/* log directory (must exist) */
	const char *base_name;		/* NULL: "DTVerify.log"; no '/' */
	const char *repset;		/* non-empty, no '/' */
	uint64_t max_length;		/* 0: no limit */
	bool append;
};

/* What differs (bits, any combination). */
#define VERIFYLOG_MISSING 0x001	/* not on the target */
#define VERIFYLOG_TYPE    0x002	/* file vs directory vs symlink ... */
#define VERIFYLOG_SIZE    0x004
#define VERIFYLOG_MTIME   0x008
#define VERIFYLOG_MODE    0x010
#define VERIFYLOG_OWNER   0x020	/* uid or gid */
#define VERIFYLOG_DATA    0x040	/* block checksums differ */
#define VERIFYLOG_LINK    0x080	/* symlink target or hard-link group */
#define VERIFYLOG_XATTR   0x100
#define VERIFYLOG_ORPHAN  0x200	/* on the target only */
#define VERIFYLOG_ERROR   0x400	/* could not be compared */

/* mode is st_mode: type bits and permissions. */
struct verifylog_side {
	uint64_t size;
	int64_t mtime_ns;
	uint32_t mode, uid, gid;
};

/* What the begin marker states. target/options may be NULL ("-"/"none"). */
struct verifylog_run {
	uint32_t con_id;
	const char *target;
	const char *options;		/* e.g. "CHECKSUM REMIRROR NEWER" */
	time_t started;			/* 0: now */
};

struct verifylog_totals {
	uint64_t entries, files, dirs, bytes_compared;
	uint64_t different, missing, orphans, errors;
	uint64_t blocks_different, bytes_different;
	uint64_t remirrored, remirrored_bytes;
};

struct verifylog;

/* Opens (creating) the repset's log, truncates it when !o->append, writes the
 * begin marker (run NULL: connection 0, target "-", options "none", now).
 * NULL with err on bad options or if the file cannot be opened; a failed
 * write of the begin marker is not fatal, it is reported by verifylog_end
 * like any other. */
struct verifylog *verifylog_begin(const struct verifylog_opts *o,
				  const struct verifylog_run *run,
				  char *err, size_t errlen);

/* One differing entry; src/tgt may be NULL (missing on that side); blocks =
 * differing blocks (checksum runs), remirrored = it is being sent again.
 * Never fails the run: a write error is remembered and reported by
 * verifylog_end. v NULL: nothing. */
void verifylog_entry(struct verifylog *v, const char *path, size_t len,
		     unsigned what, const struct verifylog_side *src,
		     const struct verifylog_side *tgt, uint64_t blocks,
		     bool remirrored);

/* result: e.g. "in sync", "3 entries differ", "stopped: connection lost"
 * (NULL: "unknown"); t NULL: all zeros; ended 0: now. Writes the end marker
 * with the totals, closes and frees v. 0, or -1 with err if any write of this
 * run (or the close) failed. v NULL: 0, nothing done. */
int verifylog_end(struct verifylog *v, const struct verifylog_totals *t,
		  const char *result, time_t ended, char *err, size_t errlen);

/* The path the log is written to (valid until end). */
const char *verifylog_path(const struct verifylog *v);

#endif
