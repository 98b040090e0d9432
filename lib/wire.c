#include "config.h"

#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <lz4.h>
#include <zstd.h>

#define KEY_FILE_MAX 4096 /* a key file larger than this is not a key */

#define LABEL_SERVER "ditto-server"
#define LABEL_CLIENT "ditto-client"

/* ---- byte order ---------------------------------------------------------- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)(v >> 32));
	wr32(p + 4, (uint32_t)v);
}

/* ---- names and tables ------------------------------------------------------ */

const char *wire_type_name(unsigned type)
{
	switch (type) {
	case WIRE_HELLO: return "HELLO";
	case WIRE_CHALLENGE: return "CHALLENGE";
	case WIRE_AUTH: return "AUTH";
	case WIRE_READY: return "READY";
	case WIRE_ERROR: return "ERROR";
	case WIRE_CONNECT: return "CONNECT";
	case WIRE_CONNECT_OK: return "CONNECT_OK";
	case WIRE_CONNECT_ERR: return "CONNECT_ERR";
	case WIRE_BATCH: return "BATCH";
	case WIRE_ACK: return "ACK";
	case WIRE_PAUSE: return "PAUSE";
	case WIRE_RESUME: return "RESUME";
	case WIRE_PING: return "PING";
	case WIRE_PONG: return "PONG";
	case WIRE_DISCONNECT: return "DISCONNECT";
	case WIRE_REPORT: return "REPORT";
	case WIRE_RESTORE: return "RESTORE";
	case WIRE_RESTORE_ANSWER: return "RESTORE_ANSWER";
	case WIRE_TSTATUS: return "TSTATUS";
	}
	return "?";
}

const char *wire_strerror(uint32_t code)
{
	switch (code) {
	case WIRE_E_VERSION: return "unsupported protocol version";
	case WIRE_E_MALFORMED: return "malformed frame";
	case WIRE_E_AUTH: return "authentication failed";
	case WIRE_E_SEQUENCE: return "unexpected frame";
	case WIRE_E_UNSUPPORTED: return "unsupported feature";
	case WIRE_E_REFUSED: return "refused";
	case WIRE_E_BUSY: return "connection ID in use";
	case WIRE_E_INTERNAL: return "internal error";
	case WIRE_E_SHUTDOWN: return "agent shutting down";
	case WIRE_E_RESTORE: return "restore required";
	}
	return "unknown error";
}

static bool type_known(unsigned type)
{
	return strcmp(wire_type_name(type), "?") != 0;
}

/* Peer text ends up in logs and status output: no control characters, so
 * a peer cannot forge log lines or terminal escapes. */
static bool no_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static bool name_ok(const char *s, size_t n)
{
	return n >= 1 && n <= WIRE_NAME_MAX && no_ctl(s, n);
}

static bool msg_ok(const char *s, size_t n)
{
	return n <= WIRE_MSG_MAX && no_ctl(s, n);
}

/* ---- encoding ---------------------------------------------------------------- */

static size_t frame_begin(struct util_buf *b, uint8_t type)
{
	uint8_t h[WIRE_HDR_LEN];
	size_t start = b->len;

	wr32(h, WIRE_MAGIC);
	h[4] = WIRE_VERSION;
	h[5] = type;
	wr16(h + 6, 0);
	wr32(h + 8, 0);
	util_buf_append(b, h, sizeof(h));
	return start;
}

/* Encoders check their limits first, so a frame here always fits. */
static void frame_end(struct util_buf *b, size_t start)
{
	wr32((uint8_t *)b->data + start + 8,
	     (uint32_t)(b->len - start - WIRE_HDR_LEN));
}

static void put_u8(struct util_buf *b, uint8_t v)
{
	util_buf_append(b, &v, 1);
}

static void put_u32(struct util_buf *b, uint32_t v)
{
	uint8_t p[4];

	wr32(p, v);
	util_buf_append(b, p, 4);
}

static void put_u64(struct util_buf *b, uint64_t v)
{
	uint8_t p[8];

	wr64(p, v);
	util_buf_append(b, p, 8);
}

static void put_str(struct util_buf *b, const char *s, size_t n)
{
	uint8_t p[2];

	wr16(p, (uint16_t)n);
	util_buf_append(b, p, 2);
	util_buf_append(b, s, n);
}

/* Messages are best effort: cut to size and stripped of control characters
 * so an ERROR always goes out and always decodes. */
static void put_msg(struct util_buf *b, const char *msg)
{
	char m[WIRE_MSG_MAX];
	size_t n = msg ? strnlen(msg, WIRE_MSG_MAX) : 0, i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)msg[i];

		m[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	put_str(b, m, n);
}

static bool cname_ok(const char *s)
{
	return s && name_ok(s, strnlen(s, WIRE_NAME_MAX + 1));
}

static bool path_ok(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strnlen(s, WIRE_PATH_MAX + 1);
	return n >= 1 && n <= WIRE_PATH_MAX;
}

int wire_put_hello(struct util_buf *b, const char *name,
		   const uint8_t nonce[WIRE_NONCE_LEN])
{
	size_t start;

	if (!cname_ok(name))
		return -1;
	start = frame_begin(b, WIRE_HELLO);
	put_u8(b, WIRE_VERSION);
	put_str(b, name, strlen(name));
	util_buf_append(b, nonce, WIRE_NONCE_LEN);
	frame_end(b, start);
	return 0;
}

int wire_put_challenge(struct util_buf *b, const char *name,
		       const uint8_t nonce[WIRE_NONCE_LEN],
		       const uint8_t mac[WIRE_MAC_LEN])
{
	size_t start;

	if (!cname_ok(name))
		return -1;
	start = frame_begin(b, WIRE_CHALLENGE);
	put_str(b, name, strlen(name));
	util_buf_append(b, nonce, WIRE_NONCE_LEN);
	util_buf_append(b, mac, WIRE_MAC_LEN);
	frame_end(b, start);
	return 0;
}

int wire_put_auth(struct util_buf *b, const uint8_t mac[WIRE_MAC_LEN])
{
	size_t start = frame_begin(b, WIRE_AUTH);

	util_buf_append(b, mac, WIRE_MAC_LEN);
	frame_end(b, start);
	return 0;
}

int wire_put_ready(struct util_buf *b)
{
	frame_begin(b, WIRE_READY);
	return 0;
}

int wire_put_error(struct util_buf *b, uint32_t code, const char *msg)
{
	size_t start = frame_begin(b, WIRE_ERROR);

	put_u32(b, code);
	put_u8(b, WIRE_VERSION);
	put_msg(b, msg);
	frame_end(b, start);
	return 0;
}

int wire_put_connect(struct util_buf *b, uint32_t con_id, const char *repset,
		     const char *root, uint32_t options, uint64_t last_acked)
{
	size_t start;

	if (con_id == 0 || !cname_ok(repset) || !path_ok(root))
		return -1;
	start = frame_begin(b, WIRE_CONNECT);
	put_u32(b, con_id);
	put_str(b, repset, strlen(repset));
	put_str(b, root, strlen(root));
	put_u32(b, options);
	put_u64(b, last_acked);
	frame_end(b, start);
	return 0;
}

int wire_put_connect_ok(struct util_buf *b, uint32_t con_id,
			uint64_t last_applied)
{
	size_t start;

	if (con_id == 0)
		return -1;
	start = frame_begin(b, WIRE_CONNECT_OK);
	put_u32(b, con_id);
	put_u64(b, last_applied);
	frame_end(b, start);
	return 0;
}

int wire_put_connect_err(struct util_buf *b, uint32_t con_id, uint32_t code,
			 const char *msg)
{
	size_t start;

	if (con_id == 0)
		return -1;
	start = frame_begin(b, WIRE_CONNECT_ERR);
	put_u32(b, con_id);
	put_u32(b, code);
	put_msg(b, msg);
	frame_end(b, start);
	return 0;
}

static int put_id_u64(struct util_buf *b, uint8_t type, uint32_t con_id,
		      uint64_t v)
{
	size_t start;

	if (con_id == 0)
		return -1;
	start = frame_begin(b, type);
	put_u32(b, con_id);
	put_u64(b, v);
	frame_end(b, start);
	return 0;
}

int wire_put_ack(struct util_buf *b, uint32_t con_id, uint64_t seq)
{
	return put_id_u64(b, WIRE_ACK, con_id, seq);
}

int wire_put_report(struct util_buf *b, const struct wire_report *r)
{
	size_t start, n = strnlen(r->path, WIRE_PATH_MAX + 1), i;

	if (r->con_id == 0 || r->seq == 0 || (r->what & ~(uint32_t)WIRE_DIFF_ALL) ||
	    r->nranges > WIRE_REPORT_RANGES || n > WIRE_PATH_MAX ||
	    WIRE_REPORT_FIXED + n + 16 * (size_t)r->nranges > WIRE_MAX_CONTROL)
		return -1;
	start = frame_begin(b, WIRE_REPORT);
	put_u32(b, r->con_id);
	put_u64(b, r->seq);
	put_u32(b, r->what);
	put_u32(b, r->result);
	put_u64(b, r->size);
	put_u64(b, (uint64_t)r->mtime_ns);
	put_u32(b, r->mode);
	put_u32(b, r->uid);
	put_u32(b, r->gid);
	put_str(b, r->path, n);
	put_u32(b, r->nranges);
	for (i = 0; i < r->nranges; i++) {
		put_u64(b, r->ranges[i].off);
		put_u64(b, r->ranges[i].len);
	}
	frame_end(b, start);
	return 0;
}

int wire_put_restore(struct util_buf *b, const struct wire_restore *r)
{
	size_t start;

	if (!cname_ok(r->repset) || !cname_ok(r->source) ||
	    (r->host[0] && !cname_ok(r->host)) || r->port == 0 || r->port > 65535 ||
	    (r->options & ~(uint32_t)WIRE_RESTORE_ALL))
		return -1;
	start = frame_begin(b, WIRE_RESTORE);
	put_str(b, r->repset, strlen(r->repset));
	put_str(b, r->source, strlen(r->source));
	put_str(b, r->host, strlen(r->host));
	put_u32(b, r->port);
	put_u32(b, r->options);
	frame_end(b, start);
	return 0;
}

/* The definition is text without NUL, cut to what fits one control frame. */
#define RESTORE_DEF_MAX (WIRE_MAX_CONTROL - 4 - 2 - WIRE_MSG_MAX - 2)

int wire_put_restore_answer(struct util_buf *b, uint32_t code, const char *msg,
			    const char *def)
{
	size_t start, n = def ? strlen(def) : 0;

	if (n > RESTORE_DEF_MAX)
		return -1;
	start = frame_begin(b, WIRE_RESTORE_ANSWER);
	put_u32(b, code);
	put_msg(b, msg);
	put_str(b, def ? def : "", n);
	frame_end(b, start);
	return 0;
}

/* One valid encoding: OK says nothing more, RETRYING names its op. */
static bool tstatus_ok(uint32_t con_id, uint32_t state, uint64_t seq, size_t msglen)
{
	if (con_id == 0)
		return false;
	if (state == WIRE_TSTATUS_OK)
		return seq == 0 && msglen == 0;
	return state == WIRE_TSTATUS_RETRYING && seq != 0;
}

int wire_put_tstatus(struct util_buf *b, uint32_t con_id, uint32_t state,
		     uint64_t seq, const char *msg)
{
	size_t start;

	if (!tstatus_ok(con_id, state, seq, msg ? strlen(msg) : 0))
		return -1;
	start = frame_begin(b, WIRE_TSTATUS);
	put_u32(b, con_id);
	put_u32(b, state);
	put_u64(b, seq);
	put_msg(b, msg);
	frame_end(b, start);
	return 0;
}

static int put_one_u32(struct util_buf *b, uint8_t type, uint32_t v)
{
	size_t start = frame_begin(b, type);

	put_u32(b, v);
	frame_end(b, start);
	return 0;
}

static int put_one_u64(struct util_buf *b, uint8_t type, uint64_t v)
{
	size_t start = frame_begin(b, type);

	put_u64(b, v);
	frame_end(b, start);
	return 0;
}

int wire_put_pause(struct util_buf *b, uint32_t con_id)
{
	return put_one_u32(b, WIRE_PAUSE, con_id);
}

int wire_put_resume(struct util_buf *b, uint32_t con_id)
{
	return put_one_u32(b, WIRE_RESUME, con_id);
}

int wire_put_ping(struct util_buf *b, uint64_t token)
{
	return put_one_u64(b, WIRE_PING, token);
}

int wire_put_pong(struct util_buf *b, uint64_t token)
{
	return put_one_u64(b, WIRE_PONG, token);
}

int wire_put_disconnect(struct util_buf *b, uint32_t con_id)
{
	if (con_id == 0)
		return -1;
	return put_one_u32(b, WIRE_DISCONNECT, con_id);
}

/* ---- batch writer ------------------------------------------------------------ */

int wire_batch_begin(struct wire_batch_writer *w, struct util_buf *b,
		     uint32_t con_id, uint64_t first_seq)
{
	w->b = NULL;
	w->count = 0;
	w->first_seq = first_seq;
	if (con_id == 0 || first_seq == 0)
		return -1;
	w->b = b;
	w->start = frame_begin(b, WIRE_BATCH);
	put_u32(b, con_id);
	put_u64(b, first_seq);
	put_u32(b, 0); /* count, patched by wire_batch_end */
	return 0;
}

size_t wire_batch_size(const struct wire_batch_writer *w)
{
	if (!w->b)
		return 0;
	return w->b->len - w->start - WIRE_HDR_LEN;
}

int wire_batch_add(struct wire_batch_writer *w, const void *rec, size_t len)
{
	uint8_t p[4];

	if (!w->b || len == 0 || len > WIRE_MAX_RECORD)
		return -1;
	if (wire_batch_size(w) + 4 + len > WIRE_MAX_PAYLOAD)
		return -1;
	/* Record i carries seq first_seq + i: it must exist. */
	if (w->count == UINT32_MAX || w->first_seq > UINT64_MAX - w->count)
		return -1;
	wr32(p, (uint32_t)len);
	util_buf_append(w->b, p, 4);
	util_buf_append(w->b, rec, len);
	w->count++;
	return 0;
}

void wire_batch_abort(struct wire_batch_writer *w)
{
	if (!w->b)
		return;
	w->b->len = w->start;
	w->b->data[w->start] = '\0';
	w->b = NULL;
}

int wire_batch_end(struct wire_batch_writer *w)
{
	uint8_t *h;

	if (!w->b)
		return -1;
	if (w->count == 0) {
		wire_batch_abort(w);
		return -1;
	}
	h = (uint8_t *)w->b->data + w->start;
	wr32(h + WIRE_HDR_LEN + 12, w->count);
	frame_end(w->b, w->start);
	w->b = NULL;
	return 0;
}

/* ---- compression ------------------------------------------------------------ */

struct wire_zctx {
	ZSTD_CCtx *cc;
	ZSTD_DCtx *dc;
	uint8_t *buf; /* compressed records (send) or inflated ones (receive) */
	size_t cap;
};

/* zstd frames naming a window above this are refused: a plain batch never
 * needs more than its own size (< 8 MiB), and the window is memory. */
#define ZSTD_WINDOWLOG_LIMIT 23

struct wire_zctx *wire_zctx_new(void)
{
	return util_xcalloc(1, sizeof(struct wire_zctx));
}

void wire_zctx_free(struct wire_zctx *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cc);
	ZSTD_freeDCtx(z->dc);
	free(z->buf);
	free(z);
}

static uint8_t *zbuf(struct wire_zctx *z, size_t n)
{
	if (z->cap < n) {
		free(z->buf);
		z->buf = util_xmalloc(n);
		z->cap = n;
	}
	return z->buf;
}

/* Compresses src into z->buf, at most cap bytes: the compressed size, or 0
 * when it does not fit (not worth it) or the compressor failed. */
static size_t zcompress(struct wire_zctx *z, enum wire_comp comp, int level,
			const uint8_t *src, size_t n, size_t cap)
{
	uint8_t *dst = zbuf(z, cap);
	size_t r;
	int k;

	if (comp == WIRE_COMP_LZ4) {
		k = LZ4_compress_default((const char *)src, (char *)dst, (int)n, (int)cap);
		return k > 0 ? (size_t)k : 0;
	}
	if (!z->cc && !(z->cc = ZSTD_createCCtx()))
		return 0;
	if (level < WIRE_ZSTD_LEVEL_MIN || level > WIRE_ZSTD_LEVEL_MAX)
		level = WIRE_ZSTD_LEVEL_DEFAULT;
	r = ZSTD_compressCCtx(z->cc, dst, cap, src, n, level);
	return ZSTD_isError(r) ? 0 : r;
}

int wire_batch_end_comp(struct wire_batch_writer *w, struct wire_zctx *z,
			enum wire_comp comp, int level, size_t *wire_len)
{
	struct util_buf *b = w->b;
	size_t start = w->start, hdr, raw, n;
	uint8_t *h;

	if (wire_batch_end(w) < 0)
		return -1;
	hdr = start + WIRE_HDR_LEN + WIRE_BATCH_HDR_LEN;
	raw = b->len - hdr;
	/* Worth it only if raw-len plus the compressed bytes take less room
	 * than the records themselves. */
	if (z && (comp == WIRE_COMP_LZ4 || comp == WIRE_COMP_ZSTD) && raw > 8 &&
	    (n = zcompress(z, comp, level, (const uint8_t *)b->data + hdr, raw, raw - 5)) > 0) {
		uint8_t p[4];

		b->len = hdr;
		wr32(p, (uint32_t)raw);
		util_buf_append(b, p, 4);
		util_buf_append(b, z->buf, n);
		h = (uint8_t *)b->data + start;
		wr16(h + 6, comp == WIRE_COMP_LZ4 ? WIRE_F_LZ4 : WIRE_F_ZSTD);
		frame_end(b, start);
	}
	if (wire_len)
		*wire_len = b->len - start;
	return 0;
}

/* Inflates a compressed records part into z->buf: its raw length, or 0 if
 * it is not exactly a compressed encoding of raw-len bytes. */
static size_t zdecompress(struct wire_zctx *z, uint16_t flags, const uint8_t *p, size_t n)
{
	uint8_t *dst;
	uint32_t raw;
	size_t r;
	int k;

	if (n < 5)
		return 0;
	raw = rd32(p);
	if (raw == 0 || raw > WIRE_MAX_RAW)
		return 0; /* the bomb stops here, before any allocation */
	p += 4;
	n -= 4;
	dst = zbuf(z, raw);
	if (flags == WIRE_F_LZ4) {
		k = LZ4_decompress_safe((const char *)p, (char *)dst, (int)n, (int)raw);
		return k == (int)raw ? raw : 0;
	}
	if (!z->dc) {
		if (!(z->dc = ZSTD_createDCtx()))
			return 0;
		if (ZSTD_isError(ZSTD_DCtx_setParameter(z->dc, ZSTD_d_windowLogMax,
							ZSTD_WINDOWLOG_LIMIT))) {
			ZSTD_freeDCtx(z->dc);
			z->dc = NULL;
			return 0;
		}
	}
	/* The output is bounded by raw: a frame that inflates to more fails
	 * with dstSize_tooSmall. */
	r = ZSTD_decompressDCtx(z->dc, dst, raw, p, n);
	return !ZSTD_isError(r) && r == raw ? raw : 0;
}

/* ---- decoding ---------------------------------------------------------------- */

/* Bounds-checked cursor over a payload; after the first failure every read
 * fails, so decoders test `bad` once at the end. */
struct cur {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	const uint8_t *p;

	if (c->bad || n > c->len - c->off) {
		c->bad = true;
		return NULL;
	}
	p = c->p + c->off;
	c->off += n;
	return p;
}

static uint8_t get_u8(struct cur *c)
{
	const uint8_t *p = take(c, 1);

	return p ? p[0] : 0;
}

static uint16_t get_u16(struct cur *c)
{
	const uint8_t *p = take(c, 2);

	return p ? rd16(p) : 0;
}

static uint32_t get_u32(struct cur *c)
{
	const uint8_t *p = take(c, 4);

	return p ? rd32(p) : 0;
}

static uint64_t get_u64(struct cur *c)
{
	const uint8_t *p = take(c, 8);

	return p ? rd64(p) : 0;
}

static void get_mem(struct cur *c, void *dst, size_t n)
{
	const uint8_t *p = take(c, n);

	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

enum str_kind { STR_NAME, STR_PATH, STR_MSG };

/* dst holds the limit + 1 bytes; it is always left NUL-terminated. */
static void get_str(struct cur *c, char *dst, enum str_kind kind)
{
	size_t max = kind == STR_NAME ? WIRE_NAME_MAX :
		     kind == STR_PATH ? WIRE_PATH_MAX : WIRE_MSG_MAX;
	uint16_t n = get_u16(c);
	const uint8_t *p;
	bool ok;

	dst[0] = '\0';
	if (c->bad)
		return;
	if (n > max) {
		c->bad = true;
		return;
	}
	p = take(c, n);
	if (!p)
		return;
	switch (kind) {
	case STR_NAME:
		ok = name_ok((const char *)p, n);
		break;
	case STR_PATH:
		ok = n > 0 && !memchr(p, '\0', n);
		break;
	default:
		ok = msg_ok((const char *)p, n);
		break;
	}
	if (!ok) {
		c->bad = true;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static bool cur_done(const struct cur *c)
{
	return !c->bad && c->off == c->len;
}

/* Frames built by hand (tests, fuzzers) skip the reader: check what it
 * would have checked. */
static bool frame_open(const struct wire_frame *f, uint8_t type, struct cur *c)
{
	c->p = f->payload;
	c->len = f->len;
	c->off = 0;
	c->bad = false;
	if (f->type != type || f->flags != 0 || (f->len && !f->payload))
		return false;
	return type == WIRE_ERROR || f->version == WIRE_VERSION;
}

int wire_get_hello(const struct wire_frame *f, struct wire_hello *out)
{
	struct cur c;

	memset(out, 0, sizeof(*out));
	if (!frame_open(f, WIRE_HELLO, &c))
		return -1;
	out->version = get_u8(&c);
	get_str(&c, out->name, STR_NAME);
	get_mem(&c, out->nonce, WIRE_NONCE_LEN);
	return cur_done(&c) ? 0 : -1;
}

int wire_get_challenge(const struct wire_frame *f, struct wire_challenge *out)
{
	struct cur c;

	memset(out, 0, sizeof(*out));
	if (!frame_open(f, WIRE_CHALLENGE, &c))
		return -1;
	get_str(&c, out->name, STR_NAME);
	get_mem(&c, out->nonce, WIRE_NONCE_LEN);
	get_mem(&c, out->mac, WIRE_MAC_LEN);
	return cur_done(&c) ? 0 : -1;
}

int wire_get_auth(const struct wire_frame *f, uint8_t mac[WIRE_MAC_LEN])
{
	struct cur c;

	memset(mac, 0, WIRE_MAC_LEN);
	if (!frame_open(f, WIRE_AUTH, &c))
		return -1;
	get_mem(&c, mac, WIRE_MAC_LEN);
	return cur_done(&c) ? 0 : -1;
}

int wire_get_ready(const struct wire_frame *f)
{
	struct cur c;

	if (!frame_open(f, WIRE_READY, &c))
		return -1;
	return cur_done(&c) ? 0 : -1;
}

int wire_get_error(const struct wire_frame *f, struct wire_error *out)
{
	struct cur c;

	memset(out, 0, sizeof(*out));
	if (!frame_open(f, WIRE_ERROR, &c))
		return -1;
	out->code = get_u32(&c);
	out->version = get_u8(&c);
	get_str(&c, out->msg, STR_MSG);
	/* The payload names the same version as the header it came in. */
	if (!cur_done(&c) || out->version != f->version)
		return -1;
	return 0;
}

int wire_get_connect(const struct wire_frame *f, struct wire_connect *out)
{
	struct cur c;

	memset(out, 0, sizeof(*out));
	if (!frame_open(f, WIRE_CONNECT, &c))
		return -1;
	out->con_id = get_u32(&c);
	get_str(&c, out->repset, STR_NAME);
	get_str(&c, out->root, STR_PATH);
	out->options = get_u32(&c);
	out->last_acked = get_u64(&c);
	return cur_done(&c) && out->con_id ? 0 : -1;
}

int wire_get_connect_ok(const struct wire_frame *f, struct wire_connect_ok *out)
{
	struct cur c;

	memset(out, 0, sizeof(*out));
	if (!frame_open(f, WIRE_CONNECT_OK, &c))
		return -1;
	out->con_id = get_u32(&c);
	out->last_applied = get_u64(&c);
	return cur_done(&c) && out->con_id ? 0 : -1;
}

int wire_get_connect_err(const struct wire_frame *f,
			 struct wire_connect_err *out)
{
	struct cur c;

	memset(out, 0, sizeof(*out));
	if (!frame_open(f, WIRE_CONNECT_ERR, &c))
		return -1;
	out->con_id = get_u32(&c);
	out->code = get_u32(&c);
	get_str(&c, out->msg, STR_MSG);
	return cur_done(&c) && out->con_id ? 0 : -1;
}

int wire_get_batch_z(const struct wire_frame *f, struct wire_batch *out,
		     struct wire_zctx *z)
{
	struct wire_frame plain;
	struct cur c;
	uint32_t i;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	plain = *f;
	if (f->type == WIRE_BATCH && (f->flags == WIRE_F_LZ4 || f->flags == WIRE_F_ZSTD))
		plain.flags = 0; /* checked below, with the payload */
	if (!frame_open(&plain, WIRE_BATCH, &c))
		goto done;
	out->con_id = get_u32(&c);
	out->first_seq = get_u64(&c);
	out->count = get_u32(&c);
	if (c.bad || out->con_id == 0 || out->first_seq == 0 || out->count == 0)
		goto done;
	if (out->first_seq > UINT64_MAX - (out->count - 1))
		goto done;
	if (f->flags) {
		size_t raw;

		if (!z || !(raw = zdecompress(z, f->flags, f->payload + c.off, f->len - c.off)))
			goto done;
		/* From here the cursor walks the inflated records. */
		c.p = z->buf;
		c.len = raw;
		c.off = 0;
	}
	out->recs = c.p + c.off;
	out->recs_len = c.len - c.off;
	/* A count larger than the payload can hold fails on the first missing
	 * length, so this loop is bounded by the payload size. */
	for (i = 0; i < out->count && !c.bad; i++) {
		uint32_t n = get_u32(&c);

		if (n == 0 || !take(&c, n))
			goto done;
	}
	if (!cur_done(&c))
		goto done;
	ret = 0;
done:
	if (ret < 0)
		memset(out, 0, sizeof(*out));
	return ret;
}

int wire_get_batch(const struct wire_frame *f, struct wire_batch *out)
{
	return wire_get_batch_z(f, out, NULL);
}

int wire_batch_next(struct wire_batch *bt, uint64_t *seq, const uint8_t **rec,
		    uint32_t *len)
{
	uint32_t n;

	if (bt->idx >= bt->count || bt->recs_len - bt->pos < 4)
		return 0;
	n = rd32(bt->recs + bt->pos);
	if (n > bt->recs_len - bt->pos - 4)
		return 0;
	*rec = bt->recs + bt->pos + 4;
	*len = n;
	*seq = bt->first_seq + bt->idx;
	bt->pos += 4 + (size_t)n;
	bt->idx++;
	return 1;
}

int wire_get_ack(const struct wire_frame *f, struct wire_ack *out)
{
	struct cur c;

	memset(out, 0, sizeof(*out));
	if (!frame_open(f, WIRE_ACK, &c))
		return -1;
	out->con_id = get_u32(&c);
	out->seq = get_u64(&c);
	return cur_done(&c) && out->con_id ? 0 : -1;
}

int wire_get_report(const struct wire_frame *f, struct wire_report *out)
{
	struct cur c;
	uint16_t n;
	uint32_t i;
	const uint8_t *p;

	memset(out, 0, offsetof(struct wire_report, ranges));
	if (!frame_open(f, WIRE_REPORT, &c))
		return -1;
	out->con_id = get_u32(&c);
	out->seq = get_u64(&c);
	out->what = get_u32(&c);
	out->result = get_u32(&c);
	out->size = get_u64(&c);
	out->mtime_ns = (int64_t)get_u64(&c);
	out->mode = get_u32(&c);
	out->uid = get_u32(&c);
	out->gid = get_u32(&c);
	/* The path may be empty, unlike get_str's paths. */
	n = get_u16(&c);
	if (n > WIRE_PATH_MAX)
		return -1;
	p = take(&c, n);
	if (c.bad || memchr(p, '\0', n))
		return -1;
	memcpy(out->path, p, n);
	out->path[n] = '\0';
	out->nranges = get_u32(&c);
	if (c.bad || out->nranges > WIRE_REPORT_RANGES)
		return -1;
	for (i = 0; i < out->nranges; i++) {
		out->ranges[i].off = get_u64(&c);
		out->ranges[i].len = get_u64(&c);
	}
	return cur_done(&c) && out->con_id && out->seq &&
	       !(out->what & ~(uint32_t)WIRE_DIFF_ALL) ? 0 : -1;
}

int wire_get_restore(const struct wire_frame *f, struct wire_restore *out)
{
	struct cur c;
	uint16_t n;
	const uint8_t *p;

	memset(out, 0, sizeof(*out));
	if (!frame_open(f, WIRE_RESTORE, &c))
		return -1;
	get_str(&c, out->repset, STR_NAME);
	get_str(&c, out->source, STR_NAME);
	/* The host may be empty. */
	n = get_u16(&c);
	if (n > WIRE_NAME_MAX)
		return -1;
	p = take(&c, n);
	if (c.bad || (n && !name_ok((const char *)p, n)))
		return -1;
	memcpy(out->host, p, n);
	out->host[n] = '\0';
	out->port = get_u32(&c);
	out->options = get_u32(&c);
	return cur_done(&c) && out->repset[0] && out->source[0] && out->port &&
	       out->port <= 65535 && !(out->options & ~(uint32_t)WIRE_RESTORE_ALL) ? 0 : -1;
}

int wire_get_restore_answer(const struct wire_frame *f,
			    struct wire_restore_answer *out)
{
	struct cur c;
	uint16_t n;
	const uint8_t *p;

	out->code = 0;
	out->msg[0] = out->def[0] = '\0';
	if (!frame_open(f, WIRE_RESTORE_ANSWER, &c))
		return -1;
	out->code = get_u32(&c);
	get_str(&c, out->msg, STR_MSG);
	n = get_u16(&c);
	if (c.bad || n > RESTORE_DEF_MAX)
		return -1;
	p = take(&c, n);
	if (c.bad || memchr(p, '\0', n))
		return -1;
	memcpy(out->def, p, n);
	out->def[n] = '\0';
	return cur_done(&c) ? 0 : -1;
}

int wire_get_tstatus(const struct wire_frame *f, struct wire_tstatus *out)
{
	struct cur c;

	memset(out, 0, offsetof(struct wire_tstatus, msg));
	out->msg[0] = '\0';
	if (!frame_open(f, WIRE_TSTATUS, &c))
		return -1;
	out->con_id = get_u32(&c);
	out->state = get_u32(&c);
	out->seq = get_u64(&c);
	get_str(&c, out->msg, STR_MSG);
	return cur_done(&c) && tstatus_ok(out->con_id, out->state, out->seq, strlen(out->msg)) ? 0 : -1;
}

static int get_one_u32(const struct wire_frame *f, uint8_t type, uint32_t *v)
{
	struct cur c;

	*v = 0;
	if (!frame_open(f, type, &c))
		return -1;
	*v = get_u32(&c);
	return cur_done(&c) ? 0 : -1;
}

static int get_one_u64(const struct wire_frame *f, uint8_t type, uint64_t *v)
{
	struct cur c;

	*v = 0;
	if (!frame_open(f, type, &c))
		return -1;
	*v = get_u64(&c);
	return cur_done(&c) ? 0 : -1;
}

int wire_get_pause(const struct wire_frame *f, uint32_t *con_id)
{
	return get_one_u32(f, WIRE_PAUSE, con_id);
}

int wire_get_resume(const struct wire_frame *f, uint32_t *con_id)
{
	return get_one_u32(f, WIRE_RESUME, con_id);
}

int wire_get_ping(const struct wire_frame *f, uint64_t *token)
{
	return get_one_u64(f, WIRE_PING, token);
}

int wire_get_pong(const struct wire_frame *f, uint64_t *token)
{
	return get_one_u64(f, WIRE_PONG, token);
}

int wire_get_disconnect(const struct wire_frame *f, uint32_t *con_id)
{
	if (get_one_u32(f, WIRE_DISCONNECT, con_id) < 0 || *con_id == 0)
		return -1;
	return 0;
}

/* ---- reader -------------------------------------------------------------------- */

void wire_reader_init(struct wire_reader *r)
{
	util_buf_init(&r->buf);
	r->off = 0;
	r->limit = WIRE_MAX_CONTROL;
	r->code = 0;
	r->peer_version = 0;
	r->err[0] = '\0';
}

void wire_reader_free(struct wire_reader *r)
{
	util_buf_free(&r->buf);
	r->off = 0;
}

void wire_reader_set_limit(struct wire_reader *r, uint32_t limit)
{
	r->limit = limit > WIRE_MAX_PAYLOAD ? WIRE_MAX_PAYLOAD : limit;
}

/* Drops returned frames so the buffer only ever holds one partial frame plus
 * what the caller fed since. */
static void compact(struct wire_reader *r)
{
	size_t rest;

	if (r->off == 0)
		return;
	rest = r->buf.len - r->off;
	if (rest)
		memmove(r->buf.data, r->buf.data + r->off, rest);
	r->buf.len = rest;
	r->buf.data[rest] = '\0';
	r->off = 0;
}

void wire_reader_feed(struct wire_reader *r, const void *buf, size_t n)
{
	/* A failed stream is never read again: do not let it grow. */
	if (n == 0 || r->code)
		return;
	compact(r);
	util_buf_append(&r->buf, buf, n);
}

void *wire_reader_reserve(struct wire_reader *r, size_t n)
{
	if (r->code)
		r->off = r->buf.len;
	compact(r);
	util_buf_reserve(&r->buf, n);
	return r->buf.data + r->buf.len;
}

void wire_reader_commit(struct wire_reader *r, size_t n)
{
	/* More than was reserved is a caller bug that already overran. */
	if (!r->buf.data || n > r->buf.cap - r->buf.len - 1) {
		fprintf(stderr, "wire_reader_commit: %zu bytes not reserved\n", n);
		abort();
	}
	r->buf.len += n;
	r->buf.data[r->buf.len] = '\0';
}

static int fail(struct wire_reader *r, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct wire_reader *r, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->code = code;
	return -1;
}

int wire_reader_next(struct wire_reader *r, struct wire_frame *f)
{
	const uint8_t *h;
	size_t avail;
	uint32_t magic, max;

	if (r->code)
		return -1;
	avail = r->buf.len - r->off;
	if (avail < WIRE_HDR_LEN)
		return 0;
	h = (const uint8_t *)r->buf.data + r->off;
	magic = rd32(h);
	f->version = h[4];
	f->type = h[5];
	f->flags = rd16(h + 6);
	f->len = rd32(h + 8);
	f->payload = h + WIRE_HDR_LEN;
	if (magic != WIRE_MAGIC)
		return fail(r, WIRE_E_MALFORMED,
			    "bad magic 0x%08x (not a Ditto agent?)", magic);
	if (f->version != WIRE_VERSION && f->type != WIRE_ERROR) {
		r->peer_version = f->version;
		return fail(r, WIRE_E_VERSION,
			    "peer speaks protocol version %u, this agent speaks %u",
			    f->version, WIRE_VERSION);
	}
	if (!type_known(f->type))
		return fail(r, WIRE_E_MALFORMED, "unknown frame type %u",
			    f->type);
	/* Compressed batches; nothing else carries a flag. */
	if (f->flags && !(f->type == WIRE_BATCH &&
			  (f->flags == WIRE_F_LZ4 || f->flags == WIRE_F_ZSTD)))
		return fail(r, WIRE_E_MALFORMED, "unknown flags 0x%04x on %s",
			    f->flags, wire_type_name(f->type));
	max = f->type == WIRE_BATCH ? r->limit : WIRE_MAX_CONTROL;
	if (f->len > max)
		return fail(r, WIRE_E_MALFORMED,
			    "%s frame of %u bytes exceeds the limit of %u",
			    wire_type_name(f->type), f->len, max);
	if (avail - WIRE_HDR_LEN < f->len)
		return 0;
	r->off += WIRE_HDR_LEN + (size_t)f->len;
	return 1;
}

size_t wire_reader_pending(const struct wire_reader *r)
{
	return r->buf.len - r->off;
}

uint32_t wire_reader_code(const struct wire_reader *r)
{
	return r->code;
}

const char *wire_reader_error(const struct wire_reader *r)
{
	return r->code ? r->err : "no error";
}

/* ---- key file --------------------------------------------------------------------- */

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

int wire_key_load(const char *path, uint8_t *key, size_t *len, char *err,
		  size_t errlen)
{
	char buf[KEY_FILE_MAX + 1];
	struct stat st;
	ssize_t n = 0;
	size_t a, z, i;
	int fd, ret = -1;

	*len = 0;
	/* O_NONBLOCK: a FIFO planted at the path must not hang the agent. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		util_seterr(err, errlen, "cannot open key file %s: %s", path,
		       strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) < 0) {
		util_seterr(err, errlen, "cannot stat key file %s: %s", path,
		       strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		util_seterr(err, errlen, "key file %s is not a regular file", path);
		goto done;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		util_seterr(err, errlen,
		       "key file %s is %s by other users (mode %04o); "
		       "chmod 600 it", path,
		       st.st_mode & S_IROTH ? "readable" : "writable",
		       (unsigned)(st.st_mode & 07777));
		goto done;
	}
	n = util_read_full(fd, buf, sizeof(buf));
	if (n < 0) {
		util_seterr(err, errlen, "cannot read key file %s: %s", path,
		       strerror(errno));
		goto done;
	}
	if ((size_t)n > KEY_FILE_MAX) {
		util_seterr(err, errlen, "key file %s is too large for a key", path);
		goto done;
	}
	a = 0;
	z = (size_t)n;
	while (a < z && is_space((unsigned char)buf[a]))
		a++;
	while (z > a && is_space((unsigned char)buf[z - 1]))
		z--;
	if (a == z) {
		util_seterr(err, errlen, "key file %s is empty", path);
		goto done;
	}
	if (z - a > WIRE_KEY_MAX) {
		util_seterr(err, errlen, "key in %s is longer than %d bytes", path,
		       WIRE_KEY_MAX);
		goto done;
	}
	for (i = a; i < z; i++) {
		unsigned char c = (unsigned char)buf[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			util_seterr(err, errlen,
			       "key file %s contains control characters", path);
			goto done;
		}
	}
	memcpy(key, buf + a, z - a);
	*len = z - a;
	ret = 0;
done:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return ret;
}

static int random_bytes(uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int wire_key_create(const char *path, char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[32];
	char text[2 * sizeof(raw) + 1];
	size_t i;
	int fd = -1, ret = -1;

	if (random_bytes(raw, sizeof(raw)) < 0) {
		util_seterr(err, errlen, "cannot get random bytes for %s: %s", path,
		       strerror(errno));
		goto done;
	}
	for (i = 0; i < sizeof(raw); i++) {
		text[2 * i] = hex[raw[i] >> 4];
		text[2 * i + 1] = hex[raw[i] & 15];
	}
	text[sizeof(text) - 1] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		util_seterr(err, errlen, "cannot create key file %s: %s", path,
		       strerror(errno));
		goto done;
	}
	if (util_write_full(fd, text, sizeof(text)) < 0 || fsync(fd) < 0) {
		util_seterr(err, errlen, "cannot write key file %s: %s", path,
		       strerror(errno));
		unlink(path);
		goto done;
	}
	ret = 0;
done:
	if (fd >= 0 && close(fd) < 0 && ret == 0) {
		util_seterr(err, errlen, "cannot write key file %s: %s", path,
		       strerror(errno));
		unlink(path);
		ret = -1;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(text, sizeof(text));
	return ret;
}

/* ---- handshake -------------------------------------------------------------------- */

enum {
	ST_NONE = 0,
	ST_FAILED,
	ST_C_HELLO_SENT, /* client waits for CHALLENGE */
	ST_C_AUTH_SENT,  /* client waits for READY */
	ST_S_WAIT_HELLO,
	ST_S_WAIT_AUTH,
	ST_DONE,
};

static int auth_fail(struct wire_auth *a, struct util_buf *out, uint32_t code,
		     const char *peer_msg, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Records why locally and, when peer_msg is given, tells the peer; the peer
 * only learns the category, never which check failed. */
static int auth_fail(struct wire_auth *a, struct util_buf *out, uint32_t code,
		     const char *peer_msg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	a->code = code;
	a->state = ST_FAILED;
	if (out && peer_msg)
		wire_put_error(out, code, peer_msg);
	return -1;
}

/* The peer gave up and said why: nothing to answer. */
static int auth_peer_error(struct wire_auth *a, const struct wire_frame *f,
			   struct util_buf *out)
{
	struct wire_error e;

	if (wire_get_error(f, &e) < 0)
		return auth_fail(a, out, WIRE_E_MALFORMED, "malformed ERROR frame",
				 "malformed ERROR frame during handshake");
	if (e.code == WIRE_E_VERSION)
		return auth_fail(a, NULL, e.code, NULL,
				 "peer refused the handshake: %s "
				 "(peer speaks version %u, we speak %u): %s",
				 wire_strerror(e.code), e.version, WIRE_VERSION,
				 e.msg);
	return auth_fail(a, NULL, e.code, NULL,
			 "peer refused the handshake: %s: %s",
			 wire_strerror(e.code), e.msg);
}

static int auth_unexpected(struct wire_auth *a, const struct wire_frame *f,
			   struct util_buf *out, const char *want)
{
	if (f->type == WIRE_ERROR)
		return auth_peer_error(a, f, out);
	return auth_fail(a, out, WIRE_E_SEQUENCE, "unexpected frame during handshake",
			 "unexpected %s frame during handshake (expected %s)",
			 wire_type_name(f->type), want);
}

static void put_tstr(uint8_t *t, size_t *n, const char *s)
{
	size_t len = strlen(s);

	wr16(t + *n, (uint16_t)len);
	memcpy(t + *n + 2, s, len);
	*n += 2 + len;
}

/* HMAC(key, label || u8 version || n1 || n2 || str cname || str sname) */
static int auth_mac(const struct wire_auth *a, const char *label,
		    const uint8_t *n1, const uint8_t *n2, const char *cname,
		    const char *sname, uint8_t mac[WIRE_MAC_LEN])
{
	uint8_t t[16 + 1 + 2 * WIRE_NONCE_LEN + 2 * (2 + WIRE_NAME_MAX)];
	unsigned int mlen = 0;
	size_t n = strlen(label);

	memcpy(t, label, n);
	t[n++] = WIRE_VERSION;
	memcpy(t + n, n1, WIRE_NONCE_LEN);
	n += WIRE_NONCE_LEN;
	memcpy(t + n, n2, WIRE_NONCE_LEN);
	n += WIRE_NONCE_LEN;
	put_tstr(t, &n, cname);
	put_tstr(t, &n, sname);
	if (!HMAC(EVP_sha256(), a->key, (int)a->keylen, t, n, mac, &mlen) ||
	    mlen != WIRE_MAC_LEN)
		return -1;
	return 0;
}

static int auth_init(struct wire_auth *a, int role, const uint8_t *key,
		     size_t keylen, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->role = role;
	a->state = ST_FAILED;
	if (!key || keylen == 0 || keylen > WIRE_KEY_MAX)
		return auth_fail(a, NULL, WIRE_E_INTERNAL, NULL,
				 "pre-shared key must be 1 to %d bytes",
				 WIRE_KEY_MAX);
	if (!cname_ok(name))
		return auth_fail(a, NULL, WIRE_E_INTERNAL, NULL,
				 "agent name must be 1 to %d bytes without "
				 "control characters", WIRE_NAME_MAX);
	memcpy(a->key, key, keylen);
	a->keylen = keylen;
	util_strlcpy(a->name, name, sizeof(a->name));
	return 0;
}

int wire_auth_client_start(struct wire_auth *a, const uint8_t *key,
			   size_t keylen, const char *name, struct util_buf *out)
{
	if (auth_init(a, WIRE_AUTH_CLIENT, key, keylen, name) < 0)
		return -1;
	if (random_bytes(a->cnonce, WIRE_NONCE_LEN) < 0)
		return auth_fail(a, NULL, WIRE_E_INTERNAL, NULL,
				 "getrandom: %s", strerror(errno));
	wire_put_hello(out, a->name, a->cnonce);
	a->state = ST_C_HELLO_SENT;
	return 0;
}

int wire_auth_server_init(struct wire_auth *a, const uint8_t *key,
			  size_t keylen, const char *name)
{
	if (auth_init(a, WIRE_AUTH_SERVER, key, keylen, name) < 0)
		return -1;
	a->state = ST_S_WAIT_HELLO;
	return 0;
}

int wire_auth_client_on_challenge(struct wire_auth *a,
				  const struct wire_frame *f,
				  struct util_buf *out)
{
	struct wire_challenge ch;
	uint8_t want[WIRE_MAC_LEN], mac[WIRE_MAC_LEN];
	int ret = -1;

	if (a->state != ST_C_HELLO_SENT) {
		ret = auth_fail(a, out, WIRE_E_SEQUENCE,
				"unexpected frame during handshake",
				"CHALLENGE handled in the wrong state");
		goto done;
	}
	if (f->type != WIRE_CHALLENGE) {
		ret = auth_unexpected(a, f, out, "CHALLENGE");
		goto done;
	}
	if (wire_get_challenge(f, &ch) < 0) {
		ret = auth_fail(a, out, WIRE_E_MALFORMED, "malformed CHALLENGE",
				"malformed CHALLENGE frame");
		goto done;
	}
	util_strlcpy(a->peer, ch.name, sizeof(a->peer));
	memcpy(a->snonce, ch.nonce, WIRE_NONCE_LEN);
	if (auth_mac(a, LABEL_SERVER, a->cnonce, a->snonce, a->name, a->peer,
		     want) < 0) {
		ret = auth_fail(a, out, WIRE_E_INTERNAL, "internal error",
				"HMAC-SHA256 failed");
		goto done;
	}
	if (CRYPTO_memcmp(want, ch.mac, WIRE_MAC_LEN) != 0) {
		ret = auth_fail(a, out, WIRE_E_AUTH, "authentication failed",
				"server %s failed to prove the pre-shared key "
				"(keys differ?)", a->peer);
		goto done;
	}
	if (auth_mac(a, LABEL_CLIENT, a->snonce, a->cnonce, a->name, a->peer,
		     mac) < 0) {
		ret = auth_fail(a, out, WIRE_E_INTERNAL, "internal error",
				"HMAC-SHA256 failed");
		goto done;
	}
	wire_put_auth(out, mac);
	a->state = ST_C_AUTH_SENT;
	ret = 0;
done:
	OPENSSL_cleanse(want, sizeof(want));
	return ret;
}

int wire_auth_client_on_ready(struct wire_auth *a, const struct wire_frame *f,
			      struct util_buf *out)
{
	if (a->state != ST_C_AUTH_SENT)
		return auth_fail(a, out, WIRE_E_SEQUENCE,
				 "unexpected frame during handshake",
				 "READY handled in the wrong state");
	if (f->type != WIRE_READY)
		return auth_unexpected(a, f, out, "READY");
	if (wire_get_ready(f) < 0)
		return auth_fail(a, out, WIRE_E_MALFORMED, "malformed READY",
				 "malformed READY frame");
	a->state = ST_DONE;
	return 1;
}

int wire_auth_server_on_hello(struct wire_auth *a, const struct wire_frame *f,
			      struct util_buf *out)
{
	struct wire_hello h;
	uint8_t mac[WIRE_MAC_LEN];
	char msg[96];

	if (a->state != ST_S_WAIT_HELLO)
		return auth_fail(a, out, WIRE_E_SEQUENCE,
				 "unexpected frame during handshake",
				 "HELLO handled in the wrong state");
	if (f->type != WIRE_HELLO)
		return auth_unexpected(a, f, out, "HELLO");
	if (wire_get_hello(f, &h) < 0)
		return auth_fail(a, out, WIRE_E_MALFORMED, "malformed HELLO",
				 "malformed HELLO frame");
	if (h.version != WIRE_VERSION) {
		snprintf(msg, sizeof(msg), "protocol version %u not supported; "
			 "this agent speaks %u", h.version, WIRE_VERSION);
		return auth_fail(a, out, WIRE_E_VERSION, msg,
				 "client %s offers protocol version %u, we speak %u",
				 h.name, h.version, WIRE_VERSION);
	}
	util_strlcpy(a->peer, h.name, sizeof(a->peer));
	memcpy(a->cnonce, h.nonce, WIRE_NONCE_LEN);
	if (random_bytes(a->snonce, WIRE_NONCE_LEN) < 0)
		return auth_fail(a, out, WIRE_E_INTERNAL, "internal error",
				 "getrandom: %s", strerror(errno));
	if (auth_mac(a, LABEL_SERVER, a->cnonce, a->snonce, a->peer, a->name,
		     mac) < 0)
		return auth_fail(a, out, WIRE_E_INTERNAL, "internal error",
				 "HMAC-SHA256 failed");
	wire_put_challenge(out, a->name, a->snonce, mac);
	a->state = ST_S_WAIT_AUTH;
	return 0;
}

int wire_auth_server_on_auth(struct wire_auth *a, const struct wire_frame *f,
			     struct util_buf *out)
{
	uint8_t want[WIRE_MAC_LEN], mac[WIRE_MAC_LEN];
	int ret = -1;

	if (a->state != ST_S_WAIT_AUTH) {
		ret = auth_fail(a, out, WIRE_E_SEQUENCE,
				"unexpected frame during handshake",
				"AUTH handled in the wrong state");
		goto done;
	}
	if (f->type != WIRE_AUTH) {
		ret = auth_unexpected(a, f, out, "AUTH");
		goto done;
	}
	if (wire_get_auth(f, mac) < 0) {
		ret = auth_fail(a, out, WIRE_E_MALFORMED, "malformed AUTH",
				"malformed AUTH frame from %s", a->peer);
		goto done;
	}
	if (auth_mac(a, LABEL_CLIENT, a->snonce, a->cnonce, a->peer, a->name,
		     want) < 0) {
		ret = auth_fail(a, out, WIRE_E_INTERNAL, "internal error",
				"HMAC-SHA256 failed");
		goto done;
	}
	if (CRYPTO_memcmp(want, mac, WIRE_MAC_LEN) != 0) {
		ret = auth_fail(a, out, WIRE_E_AUTH, "authentication failed",
				"client %s failed to prove the pre-shared key "
				"(keys differ?)", a->peer);
		goto done;
	}
	wire_put_ready(out);
	a->state = ST_DONE;
	ret = 1;
done:
	OPENSSL_cleanse(want, sizeof(want));
	return ret;
}

int wire_auth_on_frame(struct wire_auth *a, const struct wire_frame *f,
		       struct util_buf *out)
{
	switch (a->state) {
	case ST_C_HELLO_SENT:
		return wire_auth_client_on_challenge(a, f, out);
	case ST_C_AUTH_SENT:
		return wire_auth_client_on_ready(a, f, out);
	case ST_S_WAIT_HELLO:
		return wire_auth_server_on_hello(a, f, out);
	case ST_S_WAIT_AUTH:
		return wire_auth_server_on_auth(a, f, out);
	case ST_DONE:
		/* A caller bug, not the peer's: no ERROR frame. */
		snprintf(a->err, sizeof(a->err), "handshake already finished");
		return -1;
	}
	if (!a->err[0])
		snprintf(a->err, sizeof(a->err), "handshake not started");
	return -1;
}

bool wire_auth_done(const struct wire_auth *a)
{
	return a->state == ST_DONE;
}

const char *wire_auth_peer_name(const struct wire_auth *a)
{
	return a->peer;
}

const char *wire_auth_error(const struct wire_auth *a)
{
	return a->err[0] ? a->err : "no error";
}

void wire_auth_clear(struct wire_auth *a)
{
	OPENSSL_cleanse(a->key, sizeof(a->key));
	OPENSSL_cleanse(a->cnonce, sizeof(a->cnonce));
	OPENSSL_cleanse(a->snonce, sizeof(a->snonce));
	a->keylen = 0;
	/* Without the key no further step can be right. */
	if (a->state != ST_DONE && a->state != ST_FAILED) {
		a->state = ST_FAILED;
		snprintf(a->err, sizeof(a->err), "handshake abandoned");
	}
}
