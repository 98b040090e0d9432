/* op — the binary encoding of struct ditto_op (include/ditto/op.h) used by
 * xlog files and wherever an op is stored or sent, plus validation and small
 * helpers to build, copy and free ops.
 *
 * Encoding, all integers little-endian, version 2 (1 had no flags in CREATE
 * and no flags or data in REMOVEXATTR; it is refused):
 *   u8 version (OP_FORMAT_VERSION) | u16 kind | u64 seq
 *   then only the fields the kind uses, in this fixed order:
 *   u16 flags | u32 attr_mask | u32 mode | u32 uid | u32 gid | u64 rdev |
 *   u64 off | u64 len | u16 path_len + path | u16 path2_len + path2 |
 *   u8 name_len + name | u32 data_len + data
 * SETATTR writes attr_mask and then only the values whose DITTO_ATTR_* bit is
 * set (mode, uid, gid, i64 atime_ns, i64 mtime_ns, in that order).
 *
 * Fields per kind (anything else is not encoded and decodes as zero/NULL):
 *   WRITE, BLOCK_WRITE  path off data        TRUNCATE      path off
 *   FALLOCATE     path off len flags         CREATE  flags path mode uid gid
 *   MKDIR         path mode uid gid
 *   MKNOD         path mode rdev uid gid     SYMLINK       path path2 uid gid
 *   LINK          path path2                 UNLINK        path
 *   RMDIR         path flags                 RENAME        path path2 flags
 *   SETATTR       path attr_mask + values    SETXATTR      path name data
 *   REMOVEXATTR   flags path name data       MIRROR_BEGIN  flags off
 *   MIRROR_END    (nothing)                  MARKER        off
 *   VERIFY        path flags attr_mask(+values) mode uid gid rdev off len data
 *   DIRLIST       path flags data            ORPHANS       flags off data
 *   REPSET_BACKUP data
 *
 * Rules (op_validate; op_encode and op_decode enforce them):
 *   path, and path2 of LINK/RENAME: op_path_valid. path2 of SYMLINK (the
 *   link target): 1..DITTO_PATH_MAX bytes, no NUL, may be absolute.
 *   name: 1..DITTO_XATTR_NAME_MAX bytes, no NUL. data: <= DITTO_OP_DATA_MAX.
 *   REMOVEXATTR: without DITTO_XATTR_ALL_EXCEPT no data; with it the name is
 *   empty and data is a list of names (op_xattr_list_valid).
 *   flags: only the DITTO_* bits defined for the kind (RENAME not both
 *   NOREPLACE and EXCHANGE; MIRROR_BEGIN's flags are free); attr_mask only
 *   DITTO_ATTR_* bits; offsets and off+len / off+data_len fit in an off_t.
 *   Decoding also refuses an unknown version or kind, any length longer than
 *   what is left, and trailing bytes. VERIFY with DITTO_VERIFY_CHECKSUM: off
 *   (block size) 1..1 GiB and exactly one 8-byte hash per block of len;
 *   DITTO_VERIFY_LINK: data is a valid path. DIRLIST: no path with
 *   DITTO_DIRLIST_ROOT, a valid one without; data is NUL-terminated names
 *   (1..255 bytes, no '/', not "." or ".."). ORPHANS: not DELETE and MOVE
 *   together; data is a valid path with MOVE and empty without. */
#ifndef DITTO_LIB_OP_H
#define DITTO_LIB_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ditto/op.h"
#include "util.h"

#define OP_FORMAT_VERSION 2
/* Smallest and largest possible encodings (a loose upper bound), so framing
 * layers can refuse a length before reading it. */
#define OP_ENCODED_MIN 11u
#define OP_ENCODED_MAX (11u + 2 + 4 + 6 * 4 + 3 * 8 + 2 * 8 + \
			2 * (2 + DITTO_PATH_MAX) + 1 + DITTO_XATTR_NAME_MAX + \
			4 + DITTO_OP_DATA_MAX)

/* Zeroes op and sets its kind. */
void op_init(struct ditto_op *op, uint16_t kind);
/* Frees the owned buffers and zeroes op; safe to call twice. */
void op_free(struct ditto_op *op);
/* Deep copy; dst is overwritten (not freed first). 0, or -1 with EINVAL if a
 * length is non-zero while its pointer is NULL. */
int op_copy(struct ditto_op *dst, const struct ditto_op *src);

/* Replace the field with a copy of len bytes of p (NUL-terminated in memory;
 * p may be NULL when len is 0). 0, or -1 with EINVAL if len does not fit the
 * field's 32-bit length. Content is checked later, by op_validate. */
int op_set_path(struct ditto_op *op, const void *p, size_t len);
int op_set_path2(struct ditto_op *op, const void *p, size_t len);
int op_set_name(struct ditto_op *op, const void *p, size_t len);
int op_set_data(struct ditto_op *op, const void *p, size_t len);

/* "WRITE", "MIRROR_BEGIN", ...; "UNKNOWN" for a kind this build lacks. */
const char *op_kind_name(uint16_t kind);
bool op_kind_valid(uint16_t kind);

/* 1 if p[0..len) is a valid relative path (1..DITTO_PATH_MAX bytes, no
 * leading '/', no NUL, no empty, "." or ".." component), else 0. */
int op_path_valid(const char *p, size_t len);

/* 1 if data[0..len) is a list of xattr names, each 1..DITTO_XATTR_NAME_MAX
 * bytes followed by a NUL (the empty list: len 0), else 0. */
int op_xattr_list_valid(const void *data, size_t len);

/* 0 if op satisfies the rules above, else -1 with errno EINVAL and, if why
 * is not NULL, a static reason string. */
int op_validate(const struct ditto_op *op, const char **why);

/* Bytes op_encode would append for a valid op; 0 for an unknown kind. */
size_t op_encoded_size(const struct ditto_op *op);
/* Appends the encoding to out. -1 with EINVAL (nothing appended) if op is
 * invalid, so nothing is ever stored that cannot be decoded. */
int op_encode(const struct ditto_op *op, struct util_buf *out);
/* Decodes exactly len bytes into *op, which is overwritten (not freed first)
 * and owns its buffers on success: every string/data field the kind uses is
 * non-NULL and NUL-terminated. On failure *op is zeroed and -1 is returned
 * with errno EBADMSG; why (if not NULL) gets a static reason. */
int op_decode_why(const uint8_t *p, size_t len, struct ditto_op *op,
		  const char **why);
int op_decode(const uint8_t *p, size_t len, struct ditto_op *op);
/* The path of an encoded file op (a kind below DITTO_OP_MIRROR_BEGIN that
 * has one) without decoding or copying the rest: 1 with *path pointing into
 * p (not NUL-terminated) and its length, 0 for any other op or an encoding
 * too short to hold it. Nothing else is validated. */
int op_peek_path(const uint8_t *p, size_t len, const char **path, size_t *path_len);

#endif
