/* wire — the agent-to-agent protocol (source <-> target over TCP or an SSH
 * channel): framing, an incremental reader for nonblocking sockets, typed
 * encoders and strict decoders, and the pre-shared-key handshake.
 *
 * FRAME
 *   Every frame is a 12-byte big-endian header followed by the payload:
 *     u32 magic "DTWR" | u8 version | u8 type | u16 flags | u32 payload length
 *   Integers are big-endian; a "str" is u16 length + bytes, no terminator, no
 *   NUL byte inside. A decoder refuses a frame whose payload is shorter or
 *   longer than its fields, a string over its limit, a zero con_id where one
 *   is required, any flag bit set, and so on: there is one valid encoding.
 *   Payload limits: BATCH up to the reader's limit (WIRE_MAX_CONTROL until the
 *   handshake is done, then at most WIRE_MAX_PAYLOAD), every other frame
 *   WIRE_MAX_CONTROL, so an unauthenticated peer can make us buffer 8 KiB.
 *
 * VERSIONS
 *   The magic, the version byte, the rest of the header and the ERROR frame
 *   (type 5) keep their layout in every protocol version. A frame of another
 *   version is refused by the reader with WIRE_E_VERSION; the receiver answers
 *   with ERROR {WIRE_E_VERSION, version it speaks, message} and closes. ERROR
 *   frames of any version are delivered, so either side can report "peer
 *   speaks version N".
 *
 * FLAGS
 *   Only BATCH frames carry flags: WIRE_F_LZ4 or WIRE_F_ZSTD (never both)
 *   mark a compressed BATCH (per-connection setting on the source). The batch
 *   header stays plain, so a target can route the frame before inflating it;
 *   the records part is replaced by
 *     u32 raw-len | compressed bytes (an LZ4 block, or zstd frames)
 *   where raw-len (1 .. WIRE_MAX_PAYLOAD - WIRE_BATCH_HDR_LEN: the plain
 *   batch must itself fit in a frame) is the exact size of the records once
 *   decompressed; the decoder inflates into a buffer of raw-len bytes at most
 *   and refuses (WIRE_E_MALFORMED) a frame that inflates to anything else,
 *   fails to inflate, or whose inflated records are not exactly valid.
 *   Compressed frames are the one exception to "one valid encoding": the
 *   compressed bytes depend on the compressor. An encoder sends a batch
 *   plain when compression does not make it smaller. Any other flag bit, a
 *   flag on another frame type, or both bits is WIRE_E_MALFORMED. Version 1
 *   agents built before compression refuse flagged frames with
 *   WIRE_E_UNSUPPORTED, so the version byte was not bumped: such a peer
 *   simply cannot take a compressed connection.
 *
 * HANDSHAKE (before any other frame; anything else, a bad MAC or a malformed
 * frame -> ERROR frame + close)
 *   client -> HELLO     u8 version | str client-name | 32 client-nonce
 *   server -> CHALLENGE str server-name | 32 server-nonce | 32 server-mac
 *   client -> AUTH      32 client-mac
 *   server -> READY     (empty)
 *   where HMAC is HMAC-SHA256 and
 *     server-mac = HMAC(key, "ditto-server" || u8 version || client-nonce ||
 *                       server-nonce || str client-name || str server-name)
 *     client-mac = HMAC(key, "ditto-client" || u8 version || server-nonce ||
 *                       client-nonce || str client-name || str server-name)
 *   (str = u16 length + bytes, so names cannot be shifted between fields.)
 *   The server proves the key first; distinct labels keep a MAC of one role
 *   from ever serving as the other's, and fresh nonces on both sides make a
 *   recorded CHALLENGE or AUTH useless in another session. The key is the
 *   trimmed bytes of the key file, used as is (not hex-decoded).
 *   This authenticates the peer at connect time only: frames after READY are
 *   neither encrypted nor MACed, so untrusted networks go over SSH.
 *
 * AFTER READY (con_id is the source's connection ID, never 0; seq from 1)
 *   CONNECT     u32 con_id | str repset | str target-root | u32 options |
 *               u64 last-acked (last seq the source believes acked, 0 = none)
 *   CONNECT_OK  u32 con_id | u64 last-applied (on the target; the source
 *               resends from last-applied + 1)
 *   CONNECT_ERR u32 con_id | u32 code | str message
 *   BATCH       u32 con_id | u64 first-seq | u32 count (>= 1) |
 *               count x (u32 len (>= 1) | len bytes: one encoded op);
 *               record i has seq first-seq + i (flagged: the records
 *               part compressed, see FLAGS)
 *   ACK         u32 con_id | u64 seq (cumulative: everything <= seq applied)
 *   PAUSE       u32 con_id (0 = every connection from this source): the
 *   RESUME      target asks the source to stop / resume sending
 *   TSTATUS     u32 con_id | u32 state | u64 seq | str message: the
 *               target's status for the connection, sent when it changes
 *               and only to a source whose CONNECT carried
 *               WIRE_CONNECT_TSTATUS (an older source would refuse the
 *               unknown type; an older target ignores the option bit and
 *               never sends it). state WIRE_TSTATUS_RETRYING: op seq
 *               (>= 1) cannot be written yet and is retried, message says
 *               why; WIRE_TSTATUS_OK: seq 0 and an empty message.
 *   PING, PONG  u64 token (PONG echoes the PING's token)
 *   DISCONNECT  u32 con_id
 *   REPORT      u32 con_id | u64 seq | u32 what | u32 result | u64 size |
 *               i64 mtime_ns | u32 mode | u32 uid | u32 gid | str path
 *               (may be empty) | u32 n (<= WIRE_REPORT_RANGES) |
 *               n x (u64 off | u64 len): the target's answer to the VERIFY
 *               or DIRLIST op seq, sent when it applies that op, so before
 *               the ACK that covers it. what: WIRE_DIFF_* bits (0: same);
 *               size..gid: the target's entry; ranges: the blocks whose
 *               checksums differ; path: an orphan's path (DIRLIST), or
 *               with WIRE_DIFF_GUARD the guarded file's. A guard that holds
 *               gets no REPORT.
 *   RESTORE     str repset | str source (whose copy) | str dest-host
 *               (empty: the requester's address) | u32 dest-port | u32
 *               options (WIRE_RESTORE_*): asks the target to send its copy
 *               back; it connects to dest as a source with CONNECT option
 *               WIRE_CONNECT_RESTORE and mirrors.
 *   RESTORE_ANSWER u32 code (0 started, else WIRE_E_*) | str message |
 *               str repset definition (WIRE_RESTORE_BACKUPSET; may be empty)
 *   ERROR       u32 code | u8 version the sender speaks | str message;
 *               the sender closes after it
 *   Names (agent, repset) are 1..WIRE_NAME_MAX bytes without control
 *   characters; target-root is 1..WIRE_PATH_MAX bytes (the target checks what
 *   it means); messages are 0..WIRE_MSG_MAX bytes without control characters
 *   (encoders truncate and replace them, so peer text is safe to log).
 *   The options bits of CONNECT belong to the connection module.
 */
#ifndef DITTO_WIRE_H
#define DITTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define WIRE_MAGIC 0x44545752u /* "DTWR" */
#define WIRE_VERSION 1
#define WIRE_HDR_LEN 12
#define WIRE_MAX_CONTROL 8192u                 /* every frame but BATCH */
#define WIRE_MAX_PAYLOAD ((4u << 20) + 65536u) /* a BATCH, at most */
#define WIRE_BATCH_HDR_LEN 16                  /* con_id, first seq, count */
/* Largest single record: one op must fit in one batch. */
#define WIRE_MAX_RECORD (WIRE_MAX_PAYLOAD - WIRE_BATCH_HDR_LEN - 4)

#define WIRE_NAME_MAX 255
#define WIRE_PATH_MAX 4095
#define WIRE_MSG_MAX 1024
#define WIRE_NONCE_LEN 32
#define WIRE_MAC_LEN 32
#define WIRE_KEY_MAX 1024 /* bytes of a trimmed key file */

#define WIRE_F_LZ4 0x0001u  /* BATCH records compressed with LZ4 */
#define WIRE_F_ZSTD 0x0002u /* BATCH records compressed with zstd */
#define WIRE_MAX_RAW (WIRE_MAX_PAYLOAD - WIRE_BATCH_HDR_LEN) /* raw-len max */

/* Compression of BATCH frames. */
enum wire_comp {
	WIRE_COMP_NONE = 0,
	WIRE_COMP_LZ4 = 1,
	WIRE_COMP_ZSTD = 2,
};
#define WIRE_ZSTD_LEVEL_MIN 1
#define WIRE_ZSTD_LEVEL_MAX 19
#define WIRE_ZSTD_LEVEL_DEFAULT 3

enum wire_type {
	WIRE_HELLO = 1,
	WIRE_CHALLENGE = 2,
	WIRE_AUTH = 3,
	WIRE_READY = 4,
	WIRE_ERROR = 5, /* layout frozen across versions */
	WIRE_CONNECT = 16,
	WIRE_CONNECT_OK = 17,
	WIRE_CONNECT_ERR = 18,
	WIRE_BATCH = 19,
	WIRE_ACK = 20,
	WIRE_PAUSE = 21,
	WIRE_RESUME = 22,
	WIRE_PING = 23,
	WIRE_PONG = 24,
	WIRE_DISCONNECT = 25,
	WIRE_REPORT = 26,
	WIRE_RESTORE = 27,
	WIRE_RESTORE_ANSWER = 28,
	WIRE_TSTATUS = 29,
};

/* Codes for ERROR and CONNECT_ERR. Agent-specific codes start at 1000. */
enum wire_code {
	WIRE_E_VERSION = 1,     /* unsupported protocol version */
	WIRE_E_MALFORMED = 2,   /* bad frame or payload */
	WIRE_E_AUTH = 3,        /* authentication failed */
	WIRE_E_SEQUENCE = 4,    /* frame not valid in this state */
	WIRE_E_UNSUPPORTED = 5, /* feature not implemented (old peers:
				   compression) */
	WIRE_E_REFUSED = 6,     /* CONNECT refused (root, repset, policy) */
	WIRE_E_BUSY = 7,        /* con_id already in use */
	WIRE_E_INTERNAL = 8,    /* the peer failed on its own side */
	WIRE_E_SHUTDOWN = 9,    /* the peer agent is stopping */
	WIRE_E_RESTORE = 10,    /* CONNECT refused: the target stood in for
				   this source (failover); restore or
				   remirror with WIRE_CONNECT_OVERWRITE */
};

const char *wire_type_name(unsigned type);  /* "HELLO", ..., "?" */
const char *wire_strerror(uint32_t code);   /* short text, never NULL */

/* One frame; payload points into the reader (see wire_reader_next). */
struct wire_frame {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t len;
	const uint8_t *payload;
};

/* ---- incremental reader ------------------------------------------------ */

struct wire_reader {
	struct util_buf buf;
	size_t off;         /* first byte not yet returned as a frame */
	uint32_t limit;     /* largest BATCH payload accepted */
	uint32_t code;      /* WIRE_E_* once failed, 0 before */
	uint8_t peer_version; /* header version of the refused frame */
	char err[160];
};

void wire_reader_init(struct wire_reader *r);
void wire_reader_free(struct wire_reader *r);
/* Raises (or lowers) the BATCH limit, clamped to WIRE_MAX_PAYLOAD. The
 * initial limit is WIRE_MAX_CONTROL: call this with WIRE_MAX_PAYLOAD once the
 * handshake is done. */
void wire_reader_set_limit(struct wire_reader *r, uint32_t limit);
/* Appends received bytes. */
void wire_reader_feed(struct wire_reader *r, const void *buf, size_t n);
/* Zero-copy alternative: read(fd, wire_reader_reserve(r, n), n), then
 * wire_reader_commit(r, bytes actually read). */
void *wire_reader_reserve(struct wire_reader *r, size_t n);
void wire_reader_commit(struct wire_reader *r, size_t n);
/* 1: *f holds the next whole frame; 0: more bytes needed; -1: the stream is
 * bad (sticky: every later call returns -1), see wire_reader_code/error.
 * The header is checked as soon as it is complete, before the payload
 * arrives. f->payload stays valid until the next feed, reserve or free, so
 * every frame of one feed can be kept until then. */
int wire_reader_next(struct wire_reader *r, struct wire_frame *f);
/* Bytes buffered that are not part of a returned frame (a peer that closes
 * with this non-zero cut a frame short). */
size_t wire_reader_pending(const struct wire_reader *r);
uint32_t wire_reader_code(const struct wire_reader *r);
const char *wire_reader_error(const struct wire_reader *r);
/* On failure the caller sends this to the peer, then closes:
 *   wire_put_error(out, wire_reader_code(r), wire_reader_error(r)); */

/* ---- encoders ----------------------------------------------------------- *
 * Each appends one whole frame to b and returns 0, or returns -1 without
 * touching b when an argument breaks the limits above (so we never send what
 * a peer must refuse). Messages are truncated and sanitised instead. */
int wire_put_hello(struct util_buf *b, const char *name,
		   const uint8_t nonce[WIRE_NONCE_LEN]);
int wire_put_challenge(struct util_buf *b, const char *name,
		       const uint8_t nonce[WIRE_NONCE_LEN],
		       const uint8_t mac[WIRE_MAC_LEN]);
int wire_put_auth(struct util_buf *b, const uint8_t mac[WIRE_MAC_LEN]);
int wire_put_ready(struct util_buf *b);
int wire_put_error(struct util_buf *b, uint32_t code, const char *msg);
int wire_put_connect(struct util_buf *b, uint32_t con_id, const char *repset,
		     const char *root, uint32_t options, uint64_t last_acked);
int wire_put_connect_ok(struct util_buf *b, uint32_t con_id,
			uint64_t last_applied);
int wire_put_connect_err(struct util_buf *b, uint32_t con_id, uint32_t code,
			 const char *msg);
int wire_put_ack(struct util_buf *b, uint32_t con_id, uint64_t seq);
int wire_put_pause(struct util_buf *b, uint32_t con_id);
int wire_put_resume(struct util_buf *b, uint32_t con_id);
int wire_put_ping(struct util_buf *b, uint64_t token);
int wire_put_pong(struct util_buf *b, uint64_t token);
int wire_put_disconnect(struct util_buf *b, uint32_t con_id);
/* Refuses an unknown state, con_id 0, RETRYING with seq 0, and OK with a
 * seq or a message. */
int wire_put_tstatus(struct util_buf *b, uint32_t con_id, uint32_t state,
		     uint64_t seq, const char *msg);

/* CONNECT options. */
#define WIRE_CONNECT_RESTORE 0x1 /* data comes back to where it came from */
#define WIRE_CONNECT_OVERWRITE 0x2 /* the source remirrors over whatever the
				      target's copy became (clears
				      WIRE_E_RESTORE) */
#define WIRE_CONNECT_TSTATUS 0x4 /* the source takes TSTATUS frames */
/* TSTATUS states. */
#define WIRE_TSTATUS_OK 0
#define WIRE_TSTATUS_RETRYING 1
/* RESTORE options. */
#define WIRE_RESTORE_OVERWRITE 0x1 /* existing files too, not only missing */
#define WIRE_RESTORE_NEWER 0x2     /* only where the target's copy is newer */
#define WIRE_RESTORE_CHECKSUM 0x4  /* only differing blocks */
#define WIRE_RESTORE_BACKUPSET 0x8 /* answer with the set's backup definition */
#define WIRE_RESTORE_ALL 0xf
struct wire_restore {
	char repset[WIRE_NAME_MAX + 1];
	char source[WIRE_NAME_MAX + 1];
	char host[WIRE_NAME_MAX + 1];
	uint32_t port;
	uint32_t options;
};
int wire_put_restore(struct util_buf *b, const struct wire_restore *r);
int wire_get_restore(const struct wire_frame *f, struct wire_restore *out);
struct wire_restore_answer {
	uint32_t code;
	char msg[WIRE_MSG_MAX + 1];
	char def[WIRE_MAX_CONTROL]; /* NUL-terminated text */
};
int wire_put_restore_answer(struct util_buf *b, uint32_t code, const char *msg,
			    const char *def);
int wire_get_restore_answer(const struct wire_frame *f,
			    struct wire_restore_answer *out);

/* REPORT: what differs between the source's entry and the target's. */
#define WIRE_DIFF_MISSING 0x001 /* not on the target */
#define WIRE_DIFF_TYPE 0x002
#define WIRE_DIFF_SIZE 0x004
#define WIRE_DIFF_MTIME 0x008
#define WIRE_DIFF_MODE 0x010
#define WIRE_DIFF_OWNER 0x020
#define WIRE_DIFF_DATA 0x040    /* block checksums (ranges say which) */
#define WIRE_DIFF_LINK 0x080    /* symlink target or hard-link group */
#define WIRE_DIFF_ORPHAN 0x200  /* on the target only (DIRLIST) */
#define WIRE_DIFF_ERROR 0x400   /* the target could not compare */
#define WIRE_DIFF_GUARD 0x800   /* a DITTO_VERIFY_GUARD failed: the delta
				   behind it was skipped; path is set */
#define WIRE_DIFF_ALL 0xeff
/* REPORT result for an orphan: what the target did with it. */
enum wire_orphan_result {
	WIRE_ORPHAN_FOUND = 0,
	WIRE_ORPHAN_DELETED = 1,
	WIRE_ORPHAN_MOVED = 2,
	WIRE_ORPHAN_YOUNG = 3,  /* newer than the age limit: left */
	WIRE_ORPHAN_FAILED = 4,
};
#define WIRE_REPORT_RANGES 400
/* Payload bytes besides the path and the ranges: a long path and many
 * ranges do not fit together (they never come together). */
#define WIRE_REPORT_FIXED 54u
struct wire_range {
	uint64_t off, len;
};
struct wire_report {
	uint32_t con_id;
	uint64_t seq;
	uint32_t what;
	uint32_t result;
	uint64_t size;
	int64_t mtime_ns;
	uint32_t mode, uid, gid;
	char path[WIRE_PATH_MAX + 1]; /* "" when none */
	uint32_t nranges;
	struct wire_range ranges[WIRE_REPORT_RANGES];
};
/* -1 for con_id 0, seq 0, unknown what bits, too many ranges, or a path
 * and ranges together longer than WIRE_MAX_CONTROL. */
int wire_put_report(struct util_buf *b, const struct wire_report *r);

/* BATCH built in place: begin writes the header, add appends one record,
 * end patches count and length. add returns -1 (batch unchanged) for an
 * empty record or when the record would push the payload past
 * WIRE_MAX_PAYLOAD: end this batch and begin the next with the record.
 * end returns -1 and removes the frame if no record was added; abort removes
 * it unconditionally. Nothing else may be appended to b in between. */
struct wire_batch_writer {
	struct util_buf *b;
	size_t start;   /* offset of the frame header in b */
	uint64_t first_seq;
	uint32_t count;
};
int wire_batch_begin(struct wire_batch_writer *w, struct util_buf *b,
		     uint32_t con_id, uint64_t first_seq);
int wire_batch_add(struct wire_batch_writer *w, const void *rec, size_t len);
/* Payload bytes so far, to cap batches below the maximum (latency). */
size_t wire_batch_size(const struct wire_batch_writer *w);
int wire_batch_end(struct wire_batch_writer *w);
void wire_batch_abort(struct wire_batch_writer *w);

/* Compression state: contexts and a scratch buffer, kept between batches
 * (one per link and direction; not shared between threads). Allocated on
 * first use; wire_zctx_free(NULL) is a no-op. */
struct wire_zctx;
struct wire_zctx *wire_zctx_new(void);
void wire_zctx_free(struct wire_zctx *z);
/* wire_batch_end, then the records compressed with comp (level: zstd's,
 * WIRE_ZSTD_LEVEL_MIN..MAX; ignored for LZ4) if that makes the frame
 * smaller; otherwise the frame stays plain. *wire_len (may be NULL) gets
 * the frame's size on the wire, header included. Returns what wire_batch_end
 * returns. */
int wire_batch_end_comp(struct wire_batch_writer *w, struct wire_zctx *z,
			enum wire_comp comp, int level, size_t *wire_len);

/* ---- decoders ----------------------------------------------------------- *
 * Each returns 0, or -1 if f is not of that type or its payload is not
 * exactly a valid encoding. Strings come NUL-terminated in fixed arrays, so
 * nothing is allocated; the batch points into f->payload. */
struct wire_hello {
	uint8_t version;
	char name[WIRE_NAME_MAX + 1];
	uint8_t nonce[WIRE_NONCE_LEN];
};
struct wire_challenge {
	char name[WIRE_NAME_MAX + 1];
	uint8_t nonce[WIRE_NONCE_LEN];
	uint8_t mac[WIRE_MAC_LEN];
};
struct wire_error {
	uint32_t code;
	uint8_t version; /* the version the sender speaks */
	char msg[WIRE_MSG_MAX + 1];
};
struct wire_connect {
	uint32_t con_id;
	char repset[WIRE_NAME_MAX + 1];
	char root[WIRE_PATH_MAX + 1];
	uint32_t options;
	uint64_t last_acked;
};
struct wire_connect_ok {
	uint32_t con_id;
	uint64_t last_applied;
};
struct wire_connect_err {
	uint32_t con_id;
	uint32_t code;
	char msg[WIRE_MSG_MAX + 1];
};
struct wire_ack {
	uint32_t con_id;
	uint64_t seq;
};
struct wire_tstatus {
	uint32_t con_id;
	uint32_t state; /* WIRE_TSTATUS_* */
	uint64_t seq;
	char msg[WIRE_MSG_MAX + 1];
};
struct wire_batch {
	uint32_t con_id;
	uint64_t first_seq;
	uint32_t count;
	/* Iteration state for wire_batch_next. */
	const uint8_t *recs;
	size_t recs_len;
	size_t pos;
	uint32_t idx;
};

int wire_get_hello(const struct wire_frame *f, struct wire_hello *out);
int wire_get_challenge(const struct wire_frame *f, struct wire_challenge *out);
int wire_get_auth(const struct wire_frame *f, uint8_t mac[WIRE_MAC_LEN]);
int wire_get_ready(const struct wire_frame *f);
/* Accepts ERROR frames of any version (the layout is frozen). */
int wire_get_error(const struct wire_frame *f, struct wire_error *out);
int wire_get_connect(const struct wire_frame *f, struct wire_connect *out);
int wire_get_connect_ok(const struct wire_frame *f, struct wire_connect_ok *out);
int wire_get_connect_err(const struct wire_frame *f,
			 struct wire_connect_err *out);
/* Checks every record length up front, so iteration cannot fail. Refuses
 * a compressed BATCH. */
int wire_get_batch(const struct wire_frame *f, struct wire_batch *out);
/* The same for plain and compressed batches: a compressed one is inflated
 * into z's buffer, so *out is valid until the next use of z (or f). */
int wire_get_batch_z(const struct wire_frame *f, struct wire_batch *out,
		     struct wire_zctx *z);
/* 1 and the next record with its seq, or 0 after the last one. */
int wire_batch_next(struct wire_batch *bt, uint64_t *seq, const uint8_t **rec,
		    uint32_t *len);
int wire_get_ack(const struct wire_frame *f, struct wire_ack *out);
int wire_get_report(const struct wire_frame *f, struct wire_report *out);
/* PAUSE and RESUME: *con_id may be 0 (all connections). */
int wire_get_pause(const struct wire_frame *f, uint32_t *con_id);
int wire_get_resume(const struct wire_frame *f, uint32_t *con_id);
int wire_get_ping(const struct wire_frame *f, uint64_t *token);
int wire_get_pong(const struct wire_frame *f, uint64_t *token);
int wire_get_disconnect(const struct wire_frame *f, uint32_t *con_id);
int wire_get_tstatus(const struct wire_frame *f, struct wire_tstatus *out);

/* ---- key file ------------------------------------------------------------ */

/* Reads the pre-shared key: a regular file, not readable or writable by
 * others, whose content trimmed of surrounding whitespace is 1..WIRE_KEY_MAX
 * bytes without control characters. key must hold WIRE_KEY_MAX bytes; *len
 * gets the key length. -1 with a message naming the file in err. */
int wire_key_load(const char *path, uint8_t *key, size_t *len, char *err,
		  size_t errlen);
/* Creates a new key file (mode 0600, fails if it exists) holding 64 random
 * hex digits and a newline, for agents started without a key. */
int wire_key_create(const char *path, char *err, size_t errlen);

/* ---- handshake ------------------------------------------------------------ *
 * Client:  wire_auth_client_start(&a, key, len, name, out)  -> HELLO in out
 * Server:  wire_auth_server_init(&a, key, len, name)
 * Both, for each frame the reader returns until done:
 *          rc = wire_auth_on_frame(&a, &f, out); send out;
 *          rc 1: authenticated (server appended READY), wire_auth_peer_name;
 *                raise the reader limit, wire_auth_clear(&a);
 *          rc 0: wait for the next frame;
 *          rc -1: log wire_auth_error(&a) and close once out is sent (an
 *                ERROR frame is in out unless the peer sent one itself).
 * The per-step functions below are what wire_auth_on_frame dispatches to
 * (same results); a frame of the wrong type fails with WIRE_E_SEQUENCE, an
 * ERROR frame fails with the peer's code and message and is not answered. */
enum wire_auth_role { WIRE_AUTH_CLIENT = 1, WIRE_AUTH_SERVER = 2 };

struct wire_auth {
	int role;
	int state;
	uint8_t key[WIRE_KEY_MAX];
	size_t keylen;
	char name[WIRE_NAME_MAX + 1];
	char peer[WIRE_NAME_MAX + 1];
	uint8_t cnonce[WIRE_NONCE_LEN];
	uint8_t snonce[WIRE_NONCE_LEN];
	uint32_t code;   /* WIRE_E_* of the failure */
	char err[WIRE_MSG_MAX + 64];
};

int wire_auth_client_start(struct wire_auth *a, const uint8_t *key,
			   size_t keylen, const char *name, struct util_buf *out);
int wire_auth_server_init(struct wire_auth *a, const uint8_t *key,
			  size_t keylen, const char *name);
int wire_auth_on_frame(struct wire_auth *a, const struct wire_frame *f,
		       struct util_buf *out);
int wire_auth_client_on_challenge(struct wire_auth *a,
				  const struct wire_frame *f,
				  struct util_buf *out);
int wire_auth_client_on_ready(struct wire_auth *a, const struct wire_frame *f,
			      struct util_buf *out);
int wire_auth_server_on_hello(struct wire_auth *a, const struct wire_frame *f,
			      struct util_buf *out);
int wire_auth_server_on_auth(struct wire_auth *a, const struct wire_frame *f,
			     struct util_buf *out);
bool wire_auth_done(const struct wire_auth *a);
const char *wire_auth_peer_name(const struct wire_auth *a);
const char *wire_auth_error(const struct wire_auth *a);
/* Wipes the key and nonces; the peer name and result stay readable. */
void wire_auth_clear(struct wire_auth *a);

#endif
