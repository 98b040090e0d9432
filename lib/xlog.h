/* xlog — the on-disk transaction log behind every queue (source and target).
 *
 * Files are named <peer-ip>_<port>_<con_id>_<seq>.xlog, seq being the file
 * sequence number zero-padded to XLOG_SEQ_DIGITS digits so names sort. A file
 * holds at most max_size bytes unless a single record is larger, which then
 * gets a file to itself; a record is never split across files.
 *
 * Layout, all integers little-endian:
 *   header (XLOG_HDR_LEN bytes):
 *     "DTXLOG01" | u32 version | u32 con_id | u64 file seq |
 *     u64 creation time (ns since the epoch) | u64 XXH3-64 of the preceding
 *     32 bytes
 *   records, back to back:
 *     u32 length (of payload) | u64 op seq | payload (op_encode bytes) |
 *     u64 XXH3-64 of (length, seq, payload)
 *
 * Durability: a new file is created with O_EXCL, its header written and
 * fdatasync'ed, then the directory fsync'ed, so a file that exists after a
 * crash has a complete header (or is empty, if the crash hit between create
 * and header). A roll to the next file fdatasyncs the previous one, so after
 * xlog_sync() every op appended so far is durable. Each record is written
 * with one pwrite at the end of the data; a failed write is cut off again
 * with ftruncate, so a later append never follows garbage.
 *
 * Reading: xlog_read returns 1 per op, 0 at a clean end, -1 on corruption
 * and -2 on a torn tail. A torn tail is a final record (or file header) that
 * is cut short by the end of the file, or a tail that is all zero bytes,
 * i.e. a write that never completed; -2 is only reported when no intact
 * record follows in the bytes left, so a damaged length field in the middle
 * of a file is reported as -1, not silently cut away. */
#ifndef DITTO_XLOG_H
#define DITTO_XLOG_H

#include <stddef.h>
#include <stdint.h>

#include "ditto/op.h"

#define XLOG_MAGIC "DTXLOG01"
#define XLOG_VERSION 1
#define XLOG_HDR_LEN 40u
#define XLOG_REC_OVERHEAD 20u /* length + seq + checksum */
#define XLOG_DEFAULT_SIZE (5u << 20)
#define XLOG_SEQ_DIGITS 10
#define XLOG_PEER_MAX 64      /* bytes in the peer-ip part of a name */

struct xlog_header {
	uint32_t version;
	uint32_t con_id;
	uint64_t file_seq;
	uint64_t created_ns;
};

/* Bytes a record for op takes in a file (for disk-usage accounting). */
size_t xlog_record_size(const struct ditto_op *op);

/* Writes the file name (no directory) into buf: 0, or -1 with EINVAL for a
 * peer_ip that cannot be part of a name (empty, longer than XLOG_PEER_MAX,
 * other than letters, digits, '.', ':', '%', '-') or ENAMETOOLONG. */
int xlog_file_name(char *buf, size_t size, const char *peer_ip, uint16_t port,
		   uint32_t con_id, uint64_t file_seq);

/* --- writer --------------------------------------------------------------- */

struct xlog_writer;

/* Creates file first_file_seq in dir (which must exist) at once, so a clash
 * with an existing file (EEXIST) or a bad directory shows here. max_size 0
 * means XLOG_DEFAULT_SIZE. NULL with errno on failure. */
struct xlog_writer *xlog_writer_open(const char *dir, const char *peer_ip,
				     uint16_t port, uint32_t con_id,
				     uint64_t first_file_seq,
				     uint64_t max_size);
/* Encodes op (which must pass op_validate) and appends it as one record,
 * first rolling to a new file if the record does not fit and the current
 * file already holds a record. Not durable until xlog_sync. 0 or -1 with
 * errno; after a failed fsync or a failed cut-off the writer refuses every
 * further call (EIO), as it can no longer vouch for its files. */
int xlog_append(struct xlog_writer *w, const struct ditto_op *op);
/* Finishes the current file (fdatasync, close) if it holds a record; the
 * next append starts file xlog_writer_file_seq(). Lets a drainer read every
 * file below that seq while the writer goes on. */
int xlog_roll(struct xlog_writer *w);
/* fdatasync of the current file (earlier files were synced when rolled). */
int xlog_sync(struct xlog_writer *w);
/* Syncs and closes; 0, or -1 if the final sync failed. NULL is a no-op. */
int xlog_writer_close(struct xlog_writer *w);

/* Sequence number of the current file: the file being appended to, or the
 * file the next append creates after a roll. */
uint64_t xlog_writer_file_seq(const struct xlog_writer *w);
/* Bytes in the current file (0 when it is not created yet). */
uint64_t xlog_writer_file_size(const struct xlog_writer *w);

/* --- listing -------------------------------------------------------------- */

struct xlog_file {
	uint64_t file_seq;
	char *path; /* dir "/" name */
};

struct xlog_files {
	struct xlog_file *v;
	size_t n;
};

/* The xlog files of one connection in dir, sorted by file seq; other files
 * are ignored. A missing dir yields an empty list. 0 or -1 with errno. */
int xlog_list(const char *dir, const char *peer_ip, uint16_t port,
	      uint32_t con_id, struct xlog_files *out);
void xlog_files_free(struct xlog_files *files);

/* --- reader --------------------------------------------------------------- */

struct xlog_reader;

/* NULL with errno only if the file cannot be opened; a bad header is
 * reported by the first xlog_read. Reading a file a writer is still
 * appending to is not supported (roll first). */
struct xlog_reader *xlog_reader_open(const char *path);
/* 1: *op holds the next op (owned: op_free it). 0: clean end of file.
 * -1: corruption (bad magic or header, length out of bounds, checksum
 * mismatch, undecodable op, header not matching the file name, I/O error).
 * -2: torn tail; xlog_truncate_tail(path, xlog_reader_offset(r)) removes it
 * (at offset 0 the header never completed: remove the file instead).
 * On anything but 1, *op is zeroed; errors are sticky. */
int xlog_read(struct xlog_reader *r, struct ditto_op *op);
/* Why the last xlog_read failed ("" if it did not). */
const char *xlog_reader_error(const struct xlog_reader *r);
/* Offset just past the last good record; after -1/-2 the start of the bad
 * or torn record (0 for a bad or incomplete header). */
uint64_t xlog_reader_offset(const struct xlog_reader *r);
/* The file header once validated, else NULL. */
const struct xlog_header *xlog_reader_header(const struct xlog_reader *r);
void xlog_reader_close(struct xlog_reader *r);

/* Cuts path down to offset (which must not exceed its size) and syncs it. */
int xlog_truncate_tail(const char *path, uint64_t offset);
/* Unlinks path and fsyncs its directory so the removal survives a crash. */
int xlog_remove(const char *path);

#endif
