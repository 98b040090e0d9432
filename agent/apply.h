/* apply — the target-side applier: turns one replicated op into file system
 * calls beneath a connection's target root.
 *
 * Confinement: every path a peer sends is first checked (relative, no empty,
 * "." or ".." component, no NUL, at most DITTO_PATH_MAX bytes: else -EINVAL),
 * then its parent directory is opened with openat2(root_fd, parent,
 * O_PATH|O_DIRECTORY, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_SYMLINKS)
 * and the final component is handled with *at() calls that never follow a
 * symlink. A symlink anywhere in a path fails with -ELOOP (or -EXDEV), even
 * one that stays inside the root: source paths are real paths, so following
 * a stale link on the target would land the change somewhere the source never
 * wrote. Data ops (WRITE, TRUNCATE, FALLOCATE) only ever open regular files,
 * never a device node or FIFO a peer may have created.
 *
 * Idempotence ("a sequence applied twice gives the same tree"): each op makes
 * the name hold what the source had after the op, whatever is there now.
 *   WRITE/TRUNCATE/FALLOCATE  open the regular file (created 0600, with missing
 *       parents, if absent: the CREATE may have been lost), then pwrite at off /
 *       ftruncate / fallocate. Anything other than a regular file at the name
 *       fails (symlink -ELOOP, directory -EISDIR, other -EINVAL).
 *   CREATE   a regular file is kept with its data; anything else at the name is
 *       removed (a directory with its whole tree) and an empty file created.
 *       With DITTO_CREATE_NEW a regular file that has other names too is
 *       replaced as well (a new inode); one with a single name is kept.
 *   MKDIR    a directory is kept; anything else is removed and replaced.
 *   MKNOD    same type (and rdev for devices) is kept; anything else replaced.
 *   SYMLINK  a symlink with the same target is kept; anything else replaced.
 *       CREATE/MKDIR/MKNOD/SYMLINK then set uid/gid (and mode, not for
 *       symlinks) to the op's values, skipping what already matches.
 *   LINK     path (new name) already the same inode as path2: ok; anything else
 *       at path is replaced. path2 missing: ok (a later op of the sequence
 *       moved or removed it), with a note.
 *   UNLINK   missing name or parent: ok. A directory at the name: -EISDIR.
 *   RMDIR    missing: ok. Not a directory: -ENOTDIR. Non-empty without
 *       DITTO_RMDIR_RECURSIVE: -ENOTEMPTY; with it the tree is removed by *at()
 *       calls only, symlinks unlinked never followed, using two fds whatever
 *       the depth.
 *   RENAME   source missing: ok, with a note (already applied, or a later op
 *       moved it on). Something in the way at the destination that rename(2)
 *       cannot replace (other type, non-empty directory, or anything under
 *       DITTO_RENAME_NOREPLACE, which the source already checked) is removed
 *       first. Source and destination already hard links of one file (where
 *       rename(2) does nothing): the source name is unlinked. DITTO_RENAME_EXCHANGE swaps and is by nature NOT idempotent: the
 *       caller must never re-apply an op it already applied.
 *   SETATTR  uid/gid (fchownat), mode (not on symlinks: skipped with a note),
 *       atime/mtime (utimensat, ns); all without following the final symlink.
 *   SETXATTR/REMOVEXATTR  set the value / remove (ENODATA: ok). Regular files
 *       and directories through an fd; other types with setxattrat(2) where the
 *       kernel has it, else skipped with a note.
 *   REMOVEXATTR with DITTO_XATTR_ALL_EXCEPT  removes every xattr of a regular
 *       file or directory that is in a replicated namespace (user., trusted.,
 *       security. but the LSM labels selinux, SMACK64..., apparmor, ima and
 *       evm, which are the target's own, and system.posix_acl_access/default)
 *       and not in the op's list; other types: skipped with a note.
 *   SETATTR/SETXATTR/REMOVEXATTR on a missing name: ok with a note (a later op
 *       of the sequence removed or renamed it).
 *   Missing intermediate directories are created (0755 less the umask) for
 *   WRITE, TRUNCATE, FALLOCATE, CREATE, MKDIR, MKNOD, SYMLINK, LINK (new name)
 *   and RENAME (destination). A non-directory in an intermediate position is
 *   never replaced: -ENOTDIR (or -ELOOP for a symlink).
 *   BLOCK_WRITE: -EOPNOTSUPP (block devices are applied elsewhere). Control
 *   ops (MIRROR_BEGIN/END, MARKER, VERIFY, DIRLIST, ORPHANS, REPSET_BACKUP):
 *   0, nothing done (the target acts on them itself).
 *
 * Not thread-safe per root; distinct roots are independent. */
#ifndef DITTO_APPLY_H
#define DITTO_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "ditto/op.h"

struct apply_root;

/* Creates root_path (mode 0755, with parents) if missing and holds an
 * O_PATH|O_DIRECTORY fd on it. NULL with a message in err on failure. */
struct apply_root *apply_root_open(const char *root_path, char *err,
				   size_t errlen);
void apply_root_close(struct apply_root *r);
/* The O_PATH directory fd, for modules that resolve beneath the same root. */
int apply_root_fd(const struct apply_root *r);

/* Opens an existing entry beneath the root with the same confinement as ops
 * (RESOLVE_BENEATH, no symlink anywhere in the path); rel is a checked op
 * path of len bytes, len 0 meaning the root itself. flags are open(2) flags
 * (O_NOFOLLOW and O_CLOEXEC are added). An fd, or -errno. */
int apply_open_beneath(struct apply_root *r, const char *rel, size_t len,
		       int flags);
/* Removes the entry name of directory dfd, a directory with its whole tree,
 * never following a symlink. Missing: 0. 0 or -errno. */
int apply_remove_at(int dfd, const char *name);

/* Applies one op. 0, or -errno with a message in err. On success err is empty
 * unless something was deliberately skipped or taken as already applied, in
 * which case it says what (worth a debug/info log line). */
int apply_op(struct apply_root *r, const struct ditto_op *op, char *err,
	     size_t errlen);

/* True for errors worth retrying later (ENOSPC, EDQUOT, EBUSY, ETXTBSY, EACCES,
 * EAGAIN, EIO, EINTR, ENOMEM, EMFILE, ENFILE); err may be positive or
 * negative. Everything else is permanent: the copy needs a mirror. */
bool apply_error_retryable(int err);

#endif
