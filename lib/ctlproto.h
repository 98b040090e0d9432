/* ctlproto — the local control protocol between dtcl/dtstat and dittod.
 *
 * Every frame is a 16-byte big-endian header followed by a payload:
 *   u32 magic "DTCP" | u16 version | u16 type | u32 payload length | u32 request id
 * The agent answers a frame whose version it does not speak with an ERROR
 * frame carrying CTLPROTO_E_VERSION and the version it does speak, so old and
 * new clients fail with a clear message instead of misreading each other.
 *
 * Payloads are built from u8/u16/u32/i64 integers and strings (u32 length +
 * bytes, no terminator on the wire). Readers check every length against what
 * is left before use. */
#ifndef DITTO_CTLPROTO_H
#define DITTO_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CTLPROTO_MAGIC 0x44544350u /* "DTCP" */
#define CTLPROTO_VERSION 1
#define CTLPROTO_HDR_LEN 16
#define CTLPROTO_MAX_PAYLOAD (1u << 20)
#define CTLPROTO_MAX_ARGS 256

enum ctlproto_type {
	CTLPROTO_HELLO = 1,   /* client: str client-name */
	CTLPROTO_WELCOME = 2, /* agent: u8 access, str agent-name, str version */
	CTLPROTO_CMD = 3,     /* client: u16 argc, argc x (u8 argtype, str text) */
	CTLPROTO_RESULT = 4,  /* agent: i64 rc, str output */
	CTLPROTO_ERROR = 5,   /* agent: u32 status, u16 agent-version, str message */
};

enum ctlproto_access {
	CTLPROTO_ACCESS_NONE = 0,
	CTLPROTO_ACCESS_MONITOR = 1, /* read-only: status, statistics, logs */
	CTLPROTO_ACCESS_ADMIN = 2,
};

enum ctlproto_status {
	CTLPROTO_E_VERSION = 1,   /* unsupported protocol version */
	CTLPROTO_E_REFUSED = 2,   /* caller is neither admin nor monitor */
	CTLPROTO_E_MALFORMED = 3, /* bad frame or payload */
	CTLPROTO_E_SEQUENCE = 4,  /* frame not valid in this state */
};

/* Argument kinds, shared with the DTCL interpreter's command arguments. */
enum ctlproto_argtype {
	CTLPROTO_ARG_WORD = 0,
	CTLPROTO_ARG_STRING = 1,
	CTLPROTO_ARG_NUMBER = 2,
	CTLPROTO_ARG_PUNCT = 3,
};

struct ctlproto_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t length;
	uint32_t reqid;
};

/* Parses a header from at least CTLPROTO_HDR_LEN bytes. Returns 0, or -1 for a
 * wrong magic or a payload longer than CTLPROTO_MAX_PAYLOAD. The version is
 * not checked here: the caller answers a foreign version itself. */
int ctlproto_hdr_parse(const uint8_t *buf, struct ctlproto_hdr *h);

/* Bounds-checked payload reader: after any failure every later read fails
 * too, so a decoder checks `r.err` once at the end. */
struct ctlproto_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool err;
};
void ctlproto_reader_init(struct ctlproto_reader *r, const void *p, size_t len);
uint8_t ctlproto_get_u8(struct ctlproto_reader *r);
uint16_t ctlproto_get_u16(struct ctlproto_reader *r);
uint32_t ctlproto_get_u32(struct ctlproto_reader *r);
int64_t ctlproto_get_i64(struct ctlproto_reader *r);
/* Returns a freshly allocated NUL-terminated copy; strings holding a NUL byte
 * are refused so C code never sees a silently shortened string. */
char *ctlproto_get_str(struct ctlproto_reader *r);
/* true when the whole payload was consumed without error. */
bool ctlproto_reader_done(const struct ctlproto_reader *r);

/* Frame building: begin writes a header with a placeholder length, the put
 * functions append, end patches the length (and returns -1 if it grew past
 * CTLPROTO_MAX_PAYLOAD). */
void ctlproto_begin(struct util_buf *b, enum ctlproto_type type, uint32_t reqid);
void ctlproto_put_u8(struct util_buf *b, uint8_t v);
void ctlproto_put_u16(struct util_buf *b, uint16_t v);
void ctlproto_put_u32(struct util_buf *b, uint32_t v);
void ctlproto_put_i64(struct util_buf *b, int64_t v);
void ctlproto_put_str(struct util_buf *b, const char *s);
void ctlproto_put_mem(struct util_buf *b, const void *p, size_t n);
int ctlproto_end(struct util_buf *b, size_t frame_start);

/* A decoded CMD payload. */
struct ctlproto_arg {
	enum ctlproto_argtype type;
	char *text;
};
struct ctlproto_cmd {
	size_t argc;
	struct ctlproto_arg *argv;
};
int ctlproto_cmd_decode(const void *payload, size_t len, struct ctlproto_cmd *out);
void ctlproto_cmd_free(struct ctlproto_cmd *c);
int ctlproto_cmd_encode(struct util_buf *b, uint32_t reqid,
			const struct ctlproto_cmd *c);

/* Blocking helpers for clients: read one whole frame (header + payload into
 * *payload, malloc'd). Returns 0, or -1 with errno (EPROTO for a bad frame,
 * ECONNRESET on EOF). */
int ctlproto_read_frame(int fd, struct ctlproto_hdr *h, uint8_t **payload);

const char *ctlproto_status_str(uint32_t status);

#endif
