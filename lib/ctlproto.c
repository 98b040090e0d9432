#include "config.h"

#include "ctlproto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int ctlproto_hdr_parse(const uint8_t *buf, struct ctlproto_hdr *h)
{
	if (rd32(buf) != CTLPROTO_MAGIC)
		return -1;
	h->version = rd16(buf + 4);
	h->type = rd16(buf + 6);
	h->length = rd32(buf + 8);
	h->reqid = rd32(buf + 12);
	if (h->length > CTLPROTO_MAX_PAYLOAD)
		return -1;
	return 0;
}

void ctlproto_reader_init(struct ctlproto_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = false;
}

static const uint8_t *take(struct ctlproto_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err || n > r->len - r->off) {
		r->err = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t ctlproto_get_u8(struct ctlproto_reader *r)
{
	const uint8_t *p = take(r, 1);

	return p ? p[0] : 0;
}

uint16_t ctlproto_get_u16(struct ctlproto_reader *r)
{
	const uint8_t *p = take(r, 2);

	return p ? rd16(p) : 0;
}

uint32_t ctlproto_get_u32(struct ctlproto_reader *r)
{
	const uint8_t *p = take(r, 4);

	return p ? rd32(p) : 0;
}

int64_t ctlproto_get_i64(struct ctlproto_reader *r)
{
	const uint8_t *p = take(r, 8);

	if (!p)
		return 0;
	return (int64_t)((uint64_t)rd32(p) << 32 | rd32(p + 4));
}

char *ctlproto_get_str(struct ctlproto_reader *r)
{
	uint32_t n = ctlproto_get_u32(r);
	const uint8_t *p = take(r, n);

	if (!p)
		return NULL;
	if (memchr(p, '\0', n)) {
		r->err = true;
		return NULL;
	}
	return util_xstrndup((const char *)p, n);
}

bool ctlproto_reader_done(const struct ctlproto_reader *r)
{
	return !r->err && r->off == r->len;
}

void ctlproto_begin(struct util_buf *b, enum ctlproto_type type, uint32_t reqid)
{
	uint8_t h[CTLPROTO_HDR_LEN];

	wr32(h, CTLPROTO_MAGIC);
	h[4] = CTLPROTO_VERSION >> 8;
	h[5] = CTLPROTO_VERSION & 0xff;
	h[6] = (uint8_t)(type >> 8);
	h[7] = (uint8_t)type;
	wr32(h + 8, 0);
	wr32(h + 12, reqid);
	util_buf_append(b, h, sizeof(h));
}

void ctlproto_put_u8(struct util_buf *b, uint8_t v)
{
	util_buf_append(b, &v, 1);
}

void ctlproto_put_u16(struct util_buf *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	util_buf_append(b, p, 2);
}

void ctlproto_put_u32(struct util_buf *b, uint32_t v)
{
	uint8_t p[4];

	wr32(p, v);
	util_buf_append(b, p, 4);
}

void ctlproto_put_i64(struct util_buf *b, int64_t v)
{
	ctlproto_put_u32(b, (uint32_t)((uint64_t)v >> 32));
	ctlproto_put_u32(b, (uint32_t)v);
}

void ctlproto_put_mem(struct util_buf *b, const void *p, size_t n)
{
	ctlproto_put_u32(b, (uint32_t)n);
	util_buf_append(b, p, n);
}

void ctlproto_put_str(struct util_buf *b, const char *s)
{
	ctlproto_put_mem(b, s, strlen(s));
}

int ctlproto_end(struct util_buf *b, size_t frame_start)
{
	size_t len = b->len - frame_start - CTLPROTO_HDR_LEN;

	if (len > CTLPROTO_MAX_PAYLOAD)
		return -1;
	wr32((uint8_t *)b->data + frame_start + 8, (uint32_t)len);
	return 0;
}

void ctlproto_cmd_free(struct ctlproto_cmd *c)
{
	size_t i;

	for (i = 0; i < c->argc; i++)
		free(c->argv[i].text);
	free(c->argv);
	c->argv = NULL;
	c->argc = 0;
}

int ctlproto_cmd_decode(const void *payload, size_t len, struct ctlproto_cmd *out)
{
	struct ctlproto_reader r;
	size_t i, n;
	int ret = -1;

	out->argc = 0;
	out->argv = NULL;
	ctlproto_reader_init(&r, payload, len);
	n = ctlproto_get_u16(&r);
	if (r.err || n == 0 || n > CTLPROTO_MAX_ARGS)
		goto done;
	out->argv = util_xcalloc(n, sizeof(*out->argv));
	for (i = 0; i < n; i++) {
		uint8_t t = ctlproto_get_u8(&r);
		char *s = ctlproto_get_str(&r);

		if (!s)
			goto done;
		out->argv[i].text = s;
		out->argc = i + 1;
		if (t > CTLPROTO_ARG_PUNCT)
			goto done;
		out->argv[i].type = (enum ctlproto_argtype)t;
	}
	if (!ctlproto_reader_done(&r))
		goto done;
	ret = 0;
done:
	if (ret < 0)
		ctlproto_cmd_free(out);
	return ret;
}

int ctlproto_cmd_encode(struct util_buf *b, uint32_t reqid,
			const struct ctlproto_cmd *c)
{
	size_t start = b->len, i;

	if (c->argc == 0 || c->argc > CTLPROTO_MAX_ARGS)
		return -1;
	ctlproto_begin(b, CTLPROTO_CMD, reqid);
	ctlproto_put_u16(b, (uint16_t)c->argc);
	for (i = 0; i < c->argc; i++) {
		ctlproto_put_u8(b, (uint8_t)c->argv[i].type);
		ctlproto_put_str(b, c->argv[i].text);
	}
	if (ctlproto_end(b, start) < 0) {
		/* Roll back, keeping util_buf's NUL terminator promise. */
		b->len = start;
		b->data[start] = '\0';
		return -1;
	}
	return 0;
}

int ctlproto_read_frame(int fd, struct ctlproto_hdr *h, uint8_t **payload)
{
	uint8_t hdr[CTLPROTO_HDR_LEN];
	uint8_t *p = NULL;
	ssize_t n;
	int ret = -1;

	*payload = NULL;
	n = util_read_full(fd, hdr, sizeof(hdr));
	if (n < 0)
		goto done;
	if (n != (ssize_t)sizeof(hdr)) {
		errno = ECONNRESET;
		goto done;
	}
	if (ctlproto_hdr_parse(hdr, h) < 0) {
		errno = EPROTO;
		goto done;
	}
	p = util_xmalloc(h->length + 1);
	n = util_read_full(fd, p, h->length);
	if (n < 0)
		goto done;
	if ((size_t)n != h->length) {
		errno = ECONNRESET;
		goto done;
	}
	*payload = p;
	p = NULL;
	ret = 0;
done:
	free(p);
	return ret;
}

const char *ctlproto_status_str(uint32_t status)
{
	switch (status) {
	case CTLPROTO_E_VERSION: return "unsupported control protocol version";
	case CTLPROTO_E_REFUSED: return "access refused";
	case CTLPROTO_E_MALFORMED: return "malformed request";
	case CTLPROTO_E_SEQUENCE: return "request out of sequence";
	default: return "unknown error";
	}
}
