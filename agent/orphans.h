/* orphans — the target side of orphan handling: entries of the target's copy
 * that the source does not have (files deleted on the source while no
 * connection ran, or copied onto the target by hand).
 *
 * During a mirror or verify the source sends, per mirrored directory, the
 * names it has there; the target puts them in an orphans_set and calls
 * orphans_process, which handles every other entry of that directory.
 *
 * Set. A hash set of names (1..255 bytes, any byte but '/' and NUL), meant
 * for directories of 100,000 names and more. Duplicates are stored once;
 * orphans_set_count gives the distinct names.
 *
 * Confinement. Everything goes through the applier's root (agent/apply.h):
 * directories are opened with apply_open_beneath (no symlink anywhere in the
 * path: -ELOOP/-EXDEV), entries are handled with *at() calls on one name that
 * never follow a symlink; an orphan symlink is itself removed or moved, its
 * target is never touched. Directories created for MOVE are made one
 * component at a time (mkdirat on a confined parent fd, then a confined open
 * refusing symlinks).
 *
 * Actions (the policy):
 *   LOG     report the orphans, change nothing.
 *   DELETE  unlink / remove; a directory orphan without an age limit goes with
 *           its whole tree (apply_remove_at).
 *   MOVE    rename to <move_dir>/<path relative to the root>, parents created
 *           (0755 less the umask) beneath the root; a destination that exists
 *           is never replaced: ".1", ".2", ... is appended to the name. A
 *           directory without an age limit is moved as a whole.
 *   The move dir (when one is set, whatever the action) and everything in it
 *   is never an orphan: dir inside it (or equal) is left alone, and when dir
 *   is an ancestor the entry leading to it is skipped.
 *
 * Age limit (min_age_s > 0). A non-directory is handled only when
 * now - mtime > min_age_s (an mtime after now is never old), else it is left
 * alone and counted in young. A
 * directory orphan is then walked: its entries are handled by the same rule
 * (each reported on its own), and the directory itself goes (rmdir, or a
 * rename; with MOVE onto an existing directory of that name in the move dir it
 * is merged, i.e. removed once empty) only when all its entries went and its
 * own mtime, taken before its entries were touched, is old enough. With LOG
 * the walk reports what DELETE would handle.
 *
 * Statistics. Every entry of an orphan tree is an orphan, so found, files,
 * dirs and bytes count the entries inside orphan directories too (whatever the
 * age limit; young entries included): found = files + dirs, files counting
 * every non-directory (regular, symlink, device, fifo, socket), bytes the
 * st_size of regular files. deleted/moved count entries gone, a whole tree
 * counting all of its entries; young counts entries left alone for their age
 * (a directory kept only because something in it stayed is in none of these).
 * errors counts failures, each also reported with err != 0. A failed whole-tree
 * removal counts nothing as deleted though part of the tree may be gone.
 * Entries that vanish while being handled are silently skipped.
 *
 * Reports. report (may be NULL) is called once per orphan handled: with an
 * age limit, once per entry (a directory's report carries bytes 0, its files
 * having been reported themselves); without, once per top-level orphan (a
 * directory's report carries the bytes of its whole tree). Young entries are
 * not reported. done is the action taken or attempted; err is 0 or a positive
 * errno. rel is not NUL-terminated in general: use len.
 *
 * Not thread-safe per set; a set is only read by orphans_process. */
#ifndef DITTO_ORPHANS_H
#define DITTO_ORPHANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "apply.h"

/* Names the source has in one directory. */
struct orphans_set;

struct orphans_set *orphans_set_new(void);
void orphans_set_free(struct orphans_set *s);
/* Empties the set, keeping its memory for the next directory. */
void orphans_set_clear(struct orphans_set *s);
/* name: 1..255 bytes, no '/' or NUL; duplicates are fine. 0, or -1 with
 * errno EINVAL for a bad name. */
int orphans_set_add(struct orphans_set *s, const char *name, size_t len);
/* False for a name that could not be in the set (bad name). */
bool orphans_set_has(const struct orphans_set *s, const char *name, size_t len);
size_t orphans_set_count(const struct orphans_set *s);

enum orphans_action {
	ORPHANS_ACTION_LOG,
	ORPHANS_ACTION_DELETE,
	ORPHANS_ACTION_MOVE,
};

struct orphans_policy {
	enum orphans_action action; /* LOG: only report them */
	const char *move_dir;       /* MOVE: a valid relative op path beneath
				       the root; protected whenever set */
	size_t move_dir_len;
	uint64_t min_age_s;         /* only entries last modified more than
				       this long ago; 0 = all */
	time_t now;                 /* the clock for the age test */
};

struct orphans_stats {
	uint64_t found;       /* orphan entries seen (files, symlinks,
				 specials, dirs), inside orphan dirs too */
	uint64_t files, dirs; /* found = files + dirs */
	uint64_t bytes;       /* st_size of orphan regular files */
	uint64_t deleted, moved;
	uint64_t young;       /* left alone: newer than min_age */
	uint64_t errors;
};

/* Called once per orphan handled (rel = its path relative to the root). */
typedef void (*orphans_report_fn)(void *ctx, const char *rel, size_t len,
				  bool is_dir, uint64_t bytes,
				  enum orphans_action done, int err);

/* Handles the orphans of directory dir (a checked op path of dirlen bytes,
 * dirlen 0 = the root): every entry of dir not in keep. Statistics are added
 * to *st. 0, also when some entries failed (counted in st->errors and
 * reported with err) and when dir does not exist; -EINVAL for a bad argument
 * or policy; -errno when dir cannot be opened: -ELOOP/-EXDEV for a path
 * through a symlink, -ENOTDIR for a symlink (or file) as its last component. */
int orphans_process(struct apply_root *r, const char *dir, size_t dirlen,
		    const struct orphans_set *keep,
		    const struct orphans_policy *p, struct orphans_stats *st,
		    orphans_report_fn report, void *ctx);

#endif
