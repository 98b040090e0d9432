/* blockmap — delta shipping of regular files on the source side. For every
 * replicated file the agent keeps a map of XXH3-64 hashes, one per block of
 * block_size bytes (the last block partial), describing what the TARGET's
 * copy holds after the ops last emitted for it. When a file was written and
 * closed, blockmap_sync_file reads it, compares block hashes with the map and
 * emits only what makes the target's copy equal:
 *
 *   WRITE       the data extents of changed or new blocks; adjacent ones
 *               coalesced, each WRITE at most DITTO_OP_DATA_MAX bytes. When
 *               the old last block was partial and its old bytes are
 *               unchanged (an append), only the bytes past the old end are
 *               sent. Zeros ending a data extent past the old end are not
 *               sent (the target reads zeros there anyway).
 *   FALLOCATE   DITTO_FALLOC_PUNCH_HOLE|DITTO_FALLOC_KEEP_SIZE, adjacent ones
 *               merged, where a changed block now has a hole (SEEK_HOLE, and
 *               read as zeros) within the target's old size; a block that is
 *               all hole and was all zeros before is left alone. Holes are
 *               never read nor sent as zeros; a hole block's hash is the
 *               hash of zeros.
 *   TRUNCATE    off = new size, last, when the file shrank, or grew past the
 *               end of the data written (a trailing hole).
 * Every delta (even an empty one: an unchanged file) starts with a VERIFY
 * with DITTO_VERIFY_GUARD carrying the size and mtime of the copy the map
 * describes (the mtime of the st passed when it was made: the caller must
 * give the target that mtime with its SETATTR), so a target whose copy is
 * not that skips the delta and asks for the file whole.
 * Without a usable map (first time, other inode, block size changed, map lost)
 * the file is sent in full: TRUNCATE(0) first (the target's copy may hold
 * anything), WRITE of the data extents, TRUNCATE(size) for a trailing hole.
 * The caller sends CREATE/SETATTR/xattrs itself; this module does data only.
 *
 * Consistency: the map stored is of exactly what was read and sent, so a file
 * that changes while it is read still leaves map == target; the next sync
 * diffs against that. Only sizes up to st->st_size are looked at (a short read
 * counts as zeros), and content, not size or mtime, decides what changed.
 *
 * Maps are keyed by (st_dev, st_ino) — paths change with renames, the inode
 * does not — and also record the inode's birth time and generation (statx,
 * FS_IOC_GETVERSION, where the filesystem has them), so a recycled inode
 * number is a new file. They live in memory (an LRU bounded in bytes) and,
 * for files of more than one block, on disk under dir: dir/xx/<16 hex digits
 * of XXH3(dev, ino)>, header (magic, version, block size, dev, ino, size,
 * mtime, birth time, generation, block count), the hashes, and a checksum;
 * anything that does not match is ignored (the file is then sent in full).
 * Single-block files are kept in memory only: a map cannot save anything for
 * them but an unchanged rewrite, not worth a disk write per close.
 *
 * Crash safety: before the first op that changes a file whose map is on disk
 * that map file is removed (durably), and the new one is written atomically
 * after the last op. So a map on disk never describes content the emitted ops
 * did not produce; after a crash a file either has a correct map or none (a
 * full send). This holds if the caller's op queue is itself durable once emit
 * returns; if it is not, call blockmap_invalidate_all after an unclean stop.
 *
 * Memory: O(blocks) per call (8 bytes a block: 128 KiB for 1 GiB at 64 KiB)
 * plus one block and one DITTO_OP_DATA_MAX buffer kept by the store. Files of
 * more than BLOCKMAP_MAX_BLOCKS blocks get no map: they are sent in full.
 *
 * fd: any readable fd of the file; it is read with pread and its offset is
 * moved by lseek(SEEK_DATA/SEEK_HOLE). Not thread-safe: one store per thread
 * or outside locking. */
#ifndef DITTO_BLOCKMAP_H
#define DITTO_BLOCKMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ditto/op.h"

#define BLOCKMAP_BLOCK_DEFAULT (64u * 1024)
#define BLOCKMAP_BLOCK_MIN (4u * 1024)
#define BLOCKMAP_BLOCK_MAX (16u * 1024 * 1024)
#define BLOCKMAP_CACHE_DEFAULT (32u * 1024 * 1024) /* bytes of cached maps */
#define BLOCKMAP_MAX_BLOCKS (1u << 24)              /* 128 MiB of hashes */

struct blockmap_store;

struct blockmap_result {
	uint64_t bytes_read;     /* file bytes read (holes are not read) */
	uint64_t bytes_sent;     /* WRITE payload bytes emitted */
	uint64_t blocks_changed; /* blocks that got a WRITE or a punch */
	bool full;               /* no usable map: sent in full */
};

/* Opens (creating with mode 0700 if needed) the map directory. block_size is
 * a power of two in BLOCKMAP_BLOCK_MIN..BLOCKMAP_BLOCK_MAX, or 0 for
 * BLOCKMAP_BLOCK_DEFAULT. NULL on failure, with errno and a message in err. */
struct blockmap_store *blockmap_store_open(const char *dir, uint32_t block_size,
					   char *err, size_t errlen);
/* Frees the store; maps on disk stay. NULL is allowed. */
void blockmap_store_close(struct blockmap_store *s);
/* Bounds the bytes of maps kept in memory (evicting at once if needed); 0
 * keeps none in memory. Maps evicted are reloaded from disk when needed. */
void blockmap_store_set_cache_limit(struct blockmap_store *s, size_t bytes);
uint32_t blockmap_store_block_size(const struct blockmap_store *s);

/* Ships the changes of the regular file open as fd (st: its fstat, taken
 * before this call; st_size bounds what is read) as ops on op_path (a valid
 * op path of op_path_len bytes), through emit, which returns 0 or -1 to stop.
 * The op passed to emit, and its path and data, are valid during the call
 * only. res (may be NULL) is filled. 0 on success. -1 with errno on failure:
 * EINVAL (bad argument), ECANCELED (emit returned -1), a read or map-store
 * error. If any op was handed to emit (even one it refused: the consumer may
 * hold part of it) the map is dropped and the next sync is sent in full;
 * otherwise the map stays. */
int blockmap_sync_file(struct blockmap_store *s, int fd, const struct stat *st,
		       const char *op_path, size_t op_path_len,
		       int (*emit)(void *ctx, const struct ditto_op *op),
		       void *ctx, struct blockmap_result *res);

/* Builds and stores the map of fd without emitting anything, for a caller
 * that has itself just sent the whole file (a mirror). st must be the fstat
 * taken before that caller read the data; if the file's size or ctime is no
 * longer st's (it changed since, so the map might not be what was sent), no
 * map is kept and the next sync sends the file in full. Safer still is for
 * such a caller to send the file through blockmap_sync_file after
 * blockmap_invalidate_all: then the map is of what was sent by construction.
 * 0, or -1 with errno. */
int blockmap_record(struct blockmap_store *s, int fd, const struct stat *st);

/* Drops the map of (dev, ino), in memory and on disk (a deleted file). 0, or
 * -1 with errno if the map file could not be removed. */
int blockmap_forget(struct blockmap_store *s, dev_t dev, ino_t ino);

/* Drops every map (the target's copies were rewritten by other means, e.g. a
 * full mirror about to start): memory is cleared and the map files removed.
 * 0, or -1 with errno if some could not be removed (retry). */
int blockmap_invalidate_all(struct blockmap_store *s);

#endif
