/* verify — the target's side of a comparison: given a VERIFY op (the
 * source's view of one entry), look at the same entry beneath the
 * connection's root and say what differs, in a REPORT. Nothing is changed.
 *
 * Compared: existence; type (and rdev for devices); permission bits (not for
 * symlinks); owner; mtime when the op carries one (DITTO_ATTR_MTIME); size
 * of regular files; a symlink's target (WIRE_DIFF_LINK); with
 * DITTO_VERIFY_LINK whether the name shares its inode with the group's first
 * name (WIRE_DIFF_LINK); with DITTO_VERIFY_CHECKSUM the block hashes of a
 * regular file, reporting the differing blocks as byte ranges (adjacent
 * blocks merged; past WIRE_REPORT_RANGES ranges the last one is stretched to
 * the end). A name whose path crosses a symlink or a non-directory on the
 * target is MISSING, like a name that is not there. A DITTO_VERIFY_GUARD
 * compares only existence, type, size and mtime. With DITTO_VERIFY_FLAGGED
 * the hashes are compared only when size or mtime differ. */
#ifndef DITTO_VERIFY_H
#define DITTO_VERIFY_H

#include "apply.h"
#include "ditto/op.h"
#include "wire.h"

/* Fills rep (what, result 0, size, mtime_ns, mode, uid, gid, ranges; con_id,
 * seq and path are the caller's). Always 0: a failure to read the target's
 * copy is WIRE_DIFF_ERROR with result = errno. */
int verify_entry(struct apply_root *r, const struct ditto_op *op,
		 struct wire_report *rep);

#endif
