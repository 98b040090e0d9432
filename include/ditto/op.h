/* ditto/op.h — the operation model: every change Ditto replicates, mirrors or
 * restores is one of these ops, carried in the same ordered stream per
 * connection. Ops are idempotent so a resend after a reconnect is harmless:
 * WRITE carries absolute offsets and bytes, CREATE of an existing file of the
 * same type is not an error, UNLINK of a missing name is not an error, and so
 * on (the applier defines each precisely).
 *
 * Paths are byte strings relative to the connection's target root (the
 * source applies the MAP before queueing): no leading '/', no NUL, no empty,
 * "." or ".." component. Arbitrary other bytes are allowed. */
#ifndef DITTO_OP_H
#define DITTO_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DITTO_PATH_MAX 4095     /* bytes in a relative path (reference: 4,095) */
#define DITTO_XATTR_NAME_MAX 255
#define DITTO_OP_DATA_MAX (1u << 20) /* largest data payload of one op */

enum ditto_op_kind {
	DITTO_OP_WRITE = 1,       /* path, off, data */
	DITTO_OP_TRUNCATE = 2,    /* path, size (in off) */
	DITTO_OP_FALLOCATE = 3,   /* path, off, len, flags (DITTO_FALLOC_*) */
	DITTO_OP_CREATE = 4,      /* path, mode, uid, gid, flags: empty regular file */
	DITTO_OP_MKDIR = 5,       /* path, mode, uid, gid */
	DITTO_OP_MKNOD = 6,       /* path, mode (with S_IFIFO/S_IFCHR/S_IFBLK/S_IFSOCK), rdev, uid, gid */
	DITTO_OP_SYMLINK = 7,     /* path, target in path2, uid, gid */
	DITTO_OP_LINK = 8,        /* path = new name, path2 = existing name */
	DITTO_OP_UNLINK = 9,      /* path */
	DITTO_OP_RMDIR = 10,      /* path; DITTO_RMDIR_RECURSIVE removes a whole tree */
	DITTO_OP_RENAME = 11,     /* path = old, path2 = new; flags DITTO_RENAME_* */
	DITTO_OP_SETATTR = 12,    /* path, attr_mask DITTO_ATTR_* and the values */
	DITTO_OP_SETXATTR = 13,   /* path, name, data = value */
	DITTO_OP_REMOVEXATTR = 14,/* path, name, flags DITTO_XATTR_*, data */
	DITTO_OP_BLOCK_WRITE = 15,/* path = device name, off, data */
	/* Control ops ride in the same order as data ops. */
	DITTO_OP_MIRROR_BEGIN = 32, /* flags = mirror type, off = total bytes expected */
	DITTO_OP_MIRROR_END = 33,
	DITTO_OP_MARKER = 34,       /* a task marker / barrier: off = marker id */
	/* Compare one entry with the source's and report (never change
	 * anything): path, flags DITTO_VERIFY_*, mode (type and permission
	 * bits), uid, gid, rdev (devices), len = size (regular files),
	 * mtime_ns with attr_mask DITTO_ATTR_MTIME, off = block size of the
	 * hashes in data (DITTO_VERIFY_CHECKSUM: XXH3-64 of each block,
	 * 8 bytes little-endian, the last block short); data otherwise holds a
	 * symlink's target, or with DITTO_VERIFY_LINK the path of the first
	 * name of the hard-link group this name must share an inode with. */
	DITTO_OP_VERIFY = 35,
	/* The names the source has in one directory (orphan detection):
	 * path (empty with DITTO_DIRLIST_ROOT: the target root), flags, data =
	 * names, each NUL-terminated. A long listing comes in several ops,
	 * the first with DITTO_DIRLIST_FIRST, the last with DITTO_DIRLIST_LAST. */
	DITTO_OP_DIRLIST = 36,
	/* What to do with orphans from now on: flags DITTO_ORPHANS_*, off =
	 * minimum age in seconds (0: all), data = the move directory (a
	 * relative path) with DITTO_ORPHANS_MOVE. */
	DITTO_OP_ORPHANS = 37,
	/* The target keeps this as its backup of the connection's replication
	 * set and of where each part came from, for a restore: data = the
	 * definition (text, see agent/restore.h). */
	DITTO_OP_REPSET_BACKUP = 38,
};

#define DITTO_VERIFY_CHECKSUM 0x1
#define DITTO_VERIFY_LINK 0x2
/* A guard before a delta: the ops that follow for this path change only
 * what differs from a regular file of this size (len) and mtime. A target
 * whose copy is not that skips those ops (WRITE, FALLOCATE, TRUNCATE and
 * SETATTR of the path, up to the first other op) and answers with a
 * REPORT, so the source sends the file whole; a guard that holds gets no
 * answer. */
#define DITTO_VERIFY_GUARD 0x4
/* With DITTO_VERIFY_CHECKSUM: compare the hashes only when size or mtime
 * differ (a file flagged as different); one the same by both is the same. */
#define DITTO_VERIFY_FLAGGED 0x8
#define DITTO_VERIFY_HASH_MAX (DITTO_OP_DATA_MAX / 8) /* hashes in one op */
#define DITTO_DIRLIST_FIRST 0x1
#define DITTO_DIRLIST_LAST 0x2
#define DITTO_DIRLIST_ROOT 0x4
#define DITTO_ORPHANS_DELETE 0x1 /* neither: report only */
#define DITTO_ORPHANS_MOVE 0x2
#define DITTO_ORPHANS_LOG 0x4    /* name each orphan in the target's log */

/* CREATE: the name gets an inode of its own. A regular file at the name
 * that has other names too is replaced by a new one (its inode may be
 * shared with names the source no longer links to it); one with a single
 * name is kept with its data, as without the flag, so a delta can follow. */
#define DITTO_CREATE_NEW 0x1
#define DITTO_FALLOC_KEEP_SIZE 0x1
#define DITTO_FALLOC_PUNCH_HOLE 0x2
#define DITTO_RMDIR_RECURSIVE 0x1
#define DITTO_RENAME_NOREPLACE 0x1
#define DITTO_RENAME_EXCHANGE 0x2
/* REMOVEXATTR: remove every xattr of the entry (in the namespaces Ditto
 * replicates) whose name is not listed in data; name is then empty and data
 * holds the names to keep, each followed by a NUL (empty: keep none). Sent
 * before an entry's SETXATTRs, it carries removals made on the source. */
#define DITTO_XATTR_ALL_EXCEPT 0x1

#define DITTO_ATTR_MODE 0x01
#define DITTO_ATTR_UID 0x02
#define DITTO_ATTR_GID 0x04
#define DITTO_ATTR_ATIME 0x08
#define DITTO_ATTR_MTIME 0x10

struct ditto_op {
	uint64_t seq;        /* per-connection total order, from 1 */
	uint16_t kind;       /* enum ditto_op_kind */
	uint16_t flags;
	uint32_t attr_mask;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint64_t rdev;
	uint64_t off;
	uint64_t len;
	int64_t atime_ns;
	int64_t mtime_ns;
	/* Byte strings with explicit lengths; each is also NUL-terminated in
	 * memory for convenience (the NUL is not part of the length). */
	char *path;
	uint32_t path_len;
	char *path2;
	uint32_t path2_len;
	char *name;
	uint32_t name_len;
	uint8_t *data;
	uint32_t data_len;
};

#endif
