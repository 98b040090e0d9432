/* mirror — the full-mirror walker: turns directory trees into ops, a little
 * at a time, so the agent's event loop drives it in steps and is never
 * blocked for long. Memory stays small whatever the tree: one open
 * directory stream per depth level (at most max_open_dirs of them open, the
 * shallowest ones closed and reopened through ".." when the walk climbs back),
 * one data buffer, and a hash of hard-linked inodes (nlink > 1 only, each
 * dropped once all its names were seen). No whole-tree list is ever built.
 *
 * Ops, per entry (paths mapped through opts.map; mode below is st_mode &
 * 07777 unless said otherwise; times are ns):
 *   directory   MKDIR(mode, uid, gid) before anything inside it; once all its
 *               children are done SETATTR(mode, uid, gid, atime, mtime) — so
 *               creating the children cannot disturb the mtime — then its
 *               xattrs (sent last so a default ACL cannot leak into the
 *               children the target creates; see "xattrs" below).
 *   regular     CREATE(mode, uid, gid; flags DITTO_CREATE_NEW for a root
 *               with opts.fresh_root), TRUNCATE(0) (cuts a stale target
 *               file), WRITE chunks (<= opts.chunk bytes) of the data extents
 *               only (SEEK_DATA/SEEK_HOLE), TRUNCATE(size) when the data does
 *               not reach the end (trailing hole, empty file: holes stay
 *               holes), SETATTR(mode, uid, gid, atime, mtime), then its
 *               xattrs. Xattrs come after SETATTR because the chown in
 *               SETATTR drops security.capability; setxattr leaves mtime be.
 *   xattrs      (opts.xattrs; regular files and directories) one
 *               REMOVEXATTR(flags DITTO_XATTR_ALL_EXCEPT, name empty, data =
 *               the names about to be sent, each NUL-terminated) so the
 *               target drops what the source no longer has, then one
 *               SETXATTR(name, data = value) per xattr.
 *   hard link   a non-directory with st_nlink > 1 already sent under another
 *               name in this walk: LINK(path = this name, path2 = the first
 *               name) only. The first name is sent in full, and then
 *               opts.linked is told (it may queue LINKs of names outside the
 *               walk, which then follow the entry's ops).
 *   symlink     SYMLINK(path2 = the target's exact bytes, uid, gid),
 *               SETATTR(uid, gid, atime, mtime) — no mode.
 *   fifo, char/block device, socket
 *               MKNOD(st_mode with the type bits, rdev, uid, gid),
 *               SETATTR(mode, uid, gid, atime, mtime).
 * A root or directory whose mapped path is empty (it is the target root) gets
 * no ops of its own; its children do. With opts.shallow a root directory gets
 * its own ops (MKDIR, SETATTR, xattrs) and its children are not looked at.
 * Xattrs (opts.xattrs) are read from regular files and directories only, and
 * include system.posix_acl_* so ACLs ride along. MIRROR_BEGIN/END are the
 * caller's business.
 *
 * Selection: opts.match is asked about every entry (roots too). A directory
 * answered MIRROR_DESCEND gets no ops itself but is looked into (the target
 * applier creates missing parents); for anything else DESCEND means SKIP.
 * Without match everything is included; without map the op path is the
 * absolute path without its leading '/'.
 *
 * Errors: an entry that cannot be read (vanished, permission, I/O error,
 * unmappable or invalid path, directory loop) is counted in skipped_errors,
 * reported through opts.warn and skipped — for a file that fails half-way the
 * ops already sent stay sent. Only emit returning -1 ends the walk (-1).
 * Files that change while read are sent as read; replication catches up.
 *
 * Ordering within a directory is readdir order. Names may hold any byte but
 * '/' and NUL. The tree is read with *at() calls relative to open directory
 * fds, so source paths longer than PATH_MAX work; an absolute path is handed
 * to match/map/warn (at most MIRROR_ABS_MAX bytes; deeper entries are skipped
 * as errors). Mount points are crossed. Not thread-safe; one walk per object. */
#ifndef DITTO_MIRROR_H
#define DITTO_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ditto/op.h"

#define MIRROR_CHUNK_DEFAULT (1u << 20)
#define MIRROR_MAX_OPEN_DIRS_DEFAULT 64u
/* Longest absolute source path handed to the callbacks: room for a full
 * DITTO_PATH_MAX target path under a source prefix of the same length. */
#define MIRROR_ABS_MAX (2 * DITTO_PATH_MAX + 2)

/* Called for every op produced, in order; the op and its buffers are only
 * valid during the call (the callee copies or encodes it). Return 0 to go on,
 * -1 to abort the walk. */
typedef int (*mirror_emit_fn)(void *ctx, const struct ditto_op *op);

enum mirror_verdict {
	MIRROR_SKIP,
	MIRROR_INCLUDE,
	MIRROR_DESCEND, /* not included itself, but look inside (dirs only) */
};
/* Whether an absolute source path is part of the replication set. */
typedef enum mirror_verdict (*mirror_match_fn)(void *ctx, const char *abs_path,
					       size_t len, bool is_dir);
/* Maps an absolute source path to the op path (relative to the target root)
 * into out (outlen >= DITTO_PATH_MAX + 1); returns the length written (0 =
 * the target root itself) or -1 if the path cannot be mapped. */
typedef int (*mirror_map_fn)(void *ctx, const char *abs_path, size_t len,
			     char *out, size_t outlen);
/* An entry skipped because of an error; err is an errno value, what says
 * which step failed ("open", "read", ...). Informational only. */
typedef void (*mirror_warn_fn)(void *ctx, const char *abs_path, size_t len,
			       int err, const char *what);

/* What the walk sends (see the top of this file for MIRROR_SEND). */
enum mirror_probe {
	MIRROR_SEND = 0,     /* everything, as described above */
	MIRROR_PROBE_FILES,  /* regular files with one link become one
				VERIFY each, nothing else of theirs; all
				other entries (hard-linked files included)
				as MIRROR_SEND (a difference or checksum
				mirror) */
	MIRROR_PROBE_ALL,    /* every entry becomes one VERIFY (directories
				when entered, further names of a link group
				with DITTO_VERIFY_LINK): nothing that changes
				the target (a verification) */
	MIRROR_DIRS_ONLY,    /* directories are walked, nothing is sent but
				DIRLISTs (an orphans run) */
};

struct blockmap_store;

/* What a walk does with the connection's block maps (opts.maps) for the
 * regular files it sends (not those it probes). */
enum mirror_maps {
	MIRROR_MAPS_FORGET,  /* send as described above and drop the file's
				map: the target's copy changed by other
				means than a delta */
	MIRROR_MAPS_DELTA,   /* CREATE, then blockmap_sync_file (only what
				differs from the map, after its guard; the
				whole file without a map), then SETATTR with
				the size and times of the fstat before the
				read, and its xattrs — one step per file */
	MIRROR_MAPS_REBUILD, /* as DELTA, but the map is dropped first: the
				file goes whole and gets a new map */
};

/* Called once the ops of a non-directory with st_nlink > 1 were emitted in
 * full (its first name in this walk; later names are LINKs to it): abs/len
 * its source path, st its stat, mpath/mlen its mapped path. A walk of one
 * path (real-time sync) uses it to link the inode's other names, which the
 * walk does not see, to this one; whatever the callee emits itself follows
 * the entry's ops. 0, or -1 to abort the walk. */
typedef int (*mirror_linked_fn)(void *ctx, const char *abs_path, size_t len,
				const struct stat *st, const char *mpath,
				size_t mlen);

struct mirror_opts {
	mirror_emit_fn emit;       /* required unless count_only */
	mirror_match_fn match;     /* NULL: everything */
	mirror_map_fn map;         /* NULL: absolute path less its '/' */
	mirror_warn_fn warn;       /* NULL: errors only counted */
	mirror_linked_fn linked;   /* NULL: only links within the walk */
	void *ctx;                 /* passed to all callbacks */
	size_t chunk;              /* data per WRITE; 0: 1 MiB; max DITTO_OP_DATA_MAX */
	unsigned max_open_dirs;    /* directory streams kept open; 0: default; min 2 */
	bool xattrs;               /* send REMOVEXATTR/SETXATTR ops */
	bool shallow;              /* a root directory without its children */
	bool fresh_root;           /* a root regular file: CREATE with
				      DITTO_CREATE_NEW (a new inode if the
				      target's is shared); with maps, one
				      with other names goes whole, as
				      MIRROR_MAPS_REBUILD */
	bool count_only;           /* emit nothing, only count (a CALCULATE run
				      driven step by step); data is not read */
	enum mirror_probe probe;
	bool checksum;             /* VERIFY of a regular file carries block
				      hashes (the file is read for them) */
	bool flagged;              /* with checksum: the target compares
				      them only for files whose size or
				      mtime differ (DITTO_VERIFY_FLAGGED) */
	uint32_t block;            /* smallest hash block; 0: 64 KiB */
	bool dirlists;             /* each directory sent or probed is first
				      listed: DIRLIST ops with the names of its
				      entries that match (INCLUDE, or DESCEND
				      for directories), so the target can find
				      orphans; DITTO_DIRLIST_ROOT for a
				      directory mapped to the target root */
	struct blockmap_store *maps; /* NULL: no block maps */
	enum mirror_maps maps_mode;
};

struct mirror_stats {
	uint64_t dirs, files, symlinks, specials, hardlinks; /* entries sent */
	uint64_t bytes;          /* WRITE payload bytes (data extents only);
				    when probing: bytes of the files probed */
	uint64_t probes;         /* VERIFY ops sent */
	uint64_t skipped_errors;
};

struct mirror_walk;

/* roots are absolute paths (copied; trailing '/' ignored); they should not
 * nest, or the nested part is sent twice. NULL with a message in err on bad
 * arguments. A missing root is not an error here: it is skipped by the walk. */
struct mirror_walk *mirror_walk_new(const char *const *roots, size_t nroots,
				    const struct mirror_opts *o, char *err,
				    size_t errlen);
/* Produces ops until about budget_bytes of data were emitted or
 * budget_entries entries (directory entries and roots, skipped ones
 * included) were visited — a budget of 0 is unlimited — and returns 1 = more
 * to do, 0 = finished, -1 = aborted by emit (mirror_walk_error says so). At
 * least one unit of work (an entry, a chunk, a finished directory) is done
 * per call. After 0 or -1 it keeps returning the same. */
int mirror_walk_step(struct mirror_walk *w, uint64_t budget_bytes,
		     unsigned budget_entries);
void mirror_walk_stats(const struct mirror_walk *w, struct mirror_stats *out);
/* The absolute source path of the entry whose ops are being emitted (valid
 * inside the emit callback). */
const char *mirror_walk_abs(const struct mirror_walk *w, size_t *len);
/* Why the walk ended with -1; "" otherwise. */
const char *mirror_walk_error(const struct mirror_walk *w);
void mirror_walk_free(struct mirror_walk *w);

/* The repair after a checksum comparison: sends byte ranges of one regular
 * file (abs; op path `path`) — WRITE for data, FALLOCATE(PUNCH_HOLE|
 * KEEP_SIZE) where the source has a hole, each piece at most opts.chunk —
 * then TRUNCATE(size now), SETATTR and its xattrs, through w's emit; the
 * file's block map (opts.maps) is dropped. w may be
 * a walker made without roots just for this. 0; 1 when abs is not a regular
 * file any more (send it another way); -1 when emit aborted. Read errors
 * are counted and reported like the walk's. */
struct mirror_range {
	uint64_t off, len;
};
int mirror_send_ranges(struct mirror_walk *w, const char *abs, const char *path,
		       size_t plen, const struct mirror_range *r, size_t n);

/* Size calculation before a mirror, in one blocking call: the data bytes and
 * the entries (dirs, files, symlinks, specials, links) a walk of the same
 * unchanged tree would send. Data is not read, only its extents looked up.
 * 0, or -1 with errno EINVAL on bad arguments. */
int mirror_calculate(const char *const *roots, size_t nroots,
		     mirror_match_fn match, void *ctx, uint64_t *bytes,
		     uint64_t *entries);

#endif
