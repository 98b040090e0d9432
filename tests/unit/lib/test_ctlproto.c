#include "config.h"

#include "ctlproto.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Builds a raw header so the tests do not depend on the encoder under test. */
static void raw_hdr(uint8_t *h, uint32_t magic, uint16_t ver, uint16_t type,
		    uint32_t len, uint32_t reqid)
{
	h[0] = (uint8_t)(magic >> 24);
	h[1] = (uint8_t)(magic >> 16);
	h[2] = (uint8_t)(magic >> 8);
	h[3] = (uint8_t)magic;
	h[4] = (uint8_t)(ver >> 8);
	h[5] = (uint8_t)ver;
	h[6] = (uint8_t)(type >> 8);
	h[7] = (uint8_t)type;
	h[8] = (uint8_t)(len >> 24);
	h[9] = (uint8_t)(len >> 16);
	h[10] = (uint8_t)(len >> 8);
	h[11] = (uint8_t)len;
	h[12] = (uint8_t)(reqid >> 24);
	h[13] = (uint8_t)(reqid >> 16);
	h[14] = (uint8_t)(reqid >> 8);
	h[15] = (uint8_t)reqid;
}

/* --- header ------------------------------------------------------------- */

Test(hdr, round_trip)
{
	struct util_buf b;
	struct ctlproto_hdr h;
	size_t start;

	util_buf_init(&b);
	util_buf_puts(&b, "prefix");
	start = b.len;
	ctlproto_begin(&b, CTLPROTO_RESULT, 0xdeadbeef);
	ctlproto_put_i64(&b, -1);
	ctlproto_put_str(&b, "hi");
	cr_assert_eq(ctlproto_end(&b, start), 0);
	cr_assert_eq(b.len, start + CTLPROTO_HDR_LEN + 8 + 4 + 2);
	cr_assert_eq(memcmp(b.data + start, "DTCP", 4), 0);
	cr_assert_eq(ctlproto_hdr_parse((const uint8_t *)b.data + start, &h), 0);
	cr_assert_eq(h.version, CTLPROTO_VERSION);
	cr_assert_eq(h.type, CTLPROTO_RESULT);
	cr_assert_eq(h.length, 14);
	cr_assert_eq(h.reqid, 0xdeadbeef);
	util_buf_free(&b);
}

Test(hdr, bad_magic)
{
	uint8_t h[CTLPROTO_HDR_LEN];
	struct ctlproto_hdr hd;

	raw_hdr(h, 0x44544351u, 1, CTLPROTO_CMD, 0, 1);
	cr_assert_eq(ctlproto_hdr_parse(h, &hd), -1);
	raw_hdr(h, 0x50435444u, 1, CTLPROTO_CMD, 0, 1); /* byte-swapped */
	cr_assert_eq(ctlproto_hdr_parse(h, &hd), -1);
}

Test(hdr, length_limit)
{
	uint8_t h[CTLPROTO_HDR_LEN];
	struct ctlproto_hdr hd;

	raw_hdr(h, CTLPROTO_MAGIC, 1, CTLPROTO_CMD, CTLPROTO_MAX_PAYLOAD, 7);
	cr_assert_eq(ctlproto_hdr_parse(h, &hd), 0);
	cr_assert_eq(hd.length, CTLPROTO_MAX_PAYLOAD);
	raw_hdr(h, CTLPROTO_MAGIC, 1, CTLPROTO_CMD, CTLPROTO_MAX_PAYLOAD + 1, 7);
	cr_assert_eq(ctlproto_hdr_parse(h, &hd), -1);
	raw_hdr(h, CTLPROTO_MAGIC, 1, CTLPROTO_CMD, UINT32_MAX, 7);
	cr_assert_eq(ctlproto_hdr_parse(h, &hd), -1);
}

Test(hdr, version_and_type_passthrough)
{
	uint8_t h[CTLPROTO_HDR_LEN];
	struct ctlproto_hdr hd;

	/* The caller answers a foreign version itself, so parse must accept it. */
	raw_hdr(h, CTLPROTO_MAGIC, 0xabcd, 0x1234, 5, 0xffffffffu);
	cr_assert_eq(ctlproto_hdr_parse(h, &hd), 0);
	cr_assert_eq(hd.version, 0xabcd);
	cr_assert_eq(hd.type, 0x1234);
	cr_assert_eq(hd.length, 5);
	cr_assert_eq(hd.reqid, 0xffffffffu);
	raw_hdr(h, CTLPROTO_MAGIC, 0, 0, 0, 0);
	cr_assert_eq(ctlproto_hdr_parse(h, &hd), 0);
	cr_assert_eq(hd.version, 0);
}

Test(hdr, end_refuses_oversize)
{
	struct util_buf b;
	char *big = util_xcalloc(1, CTLPROTO_MAX_PAYLOAD);

	util_buf_init(&b);
	ctlproto_begin(&b, CTLPROTO_RESULT, 1);
	ctlproto_put_mem(&b, big, CTLPROTO_MAX_PAYLOAD - 4);
	cr_assert_eq(ctlproto_end(&b, 0), 0);
	util_buf_reset(&b);
	ctlproto_begin(&b, CTLPROTO_RESULT, 1);
	ctlproto_put_mem(&b, big, CTLPROTO_MAX_PAYLOAD - 3);
	cr_assert_eq(ctlproto_end(&b, 0), -1);
	util_buf_free(&b);
	free(big);
}

/* --- put/get ------------------------------------------------------------ */

Test(rw, every_type)
{
	struct util_buf b;
	struct ctlproto_reader r;
	static const uint8_t bin[] = { 'a', 'b', 'c' };
	char *s;

	util_buf_init(&b);
	ctlproto_put_u8(&b, 0);
	ctlproto_put_u8(&b, 0xff);
	ctlproto_put_u16(&b, 0x1234);
	ctlproto_put_u16(&b, 0xffff);
	ctlproto_put_u32(&b, 0x89abcdefu);
	ctlproto_put_i64(&b, INT64_MIN);
	ctlproto_put_i64(&b, INT64_MAX);
	ctlproto_put_i64(&b, -2);
	ctlproto_put_i64(&b, 0x0102030405060708ll);
	ctlproto_put_str(&b, "hello");
	ctlproto_put_str(&b, "");
	ctlproto_put_mem(&b, bin, sizeof(bin));
	/* Wire format is big-endian. */
	cr_assert_eq((uint8_t)b.data[2], 0x12);
	cr_assert_eq((uint8_t)b.data[3], 0x34);
	cr_assert_eq((uint8_t)b.data[6], 0x89);

	ctlproto_reader_init(&r, b.data, b.len);
	cr_assert_eq(ctlproto_get_u8(&r), 0);
	cr_assert_eq(ctlproto_get_u8(&r), 0xff);
	cr_assert_eq(ctlproto_get_u16(&r), 0x1234);
	cr_assert_eq(ctlproto_get_u16(&r), 0xffff);
	cr_assert_eq(ctlproto_get_u32(&r), 0x89abcdefu);
	cr_assert_eq(ctlproto_get_i64(&r), INT64_MIN);
	cr_assert_eq(ctlproto_get_i64(&r), INT64_MAX);
	cr_assert_eq(ctlproto_get_i64(&r), -2);
	cr_assert_eq(ctlproto_get_i64(&r), 0x0102030405060708ll);
	s = ctlproto_get_str(&r);
	cr_assert_str_eq(s, "hello");
	free(s);
	s = ctlproto_get_str(&r);
	cr_assert_str_eq(s, "");
	free(s);
	cr_assert_not(ctlproto_reader_done(&r));
	s = ctlproto_get_str(&r);
	cr_assert_str_eq(s, "abc");
	free(s);
	cr_assert_not(r.err);
	cr_assert(ctlproto_reader_done(&r));
	util_buf_free(&b);
}

Test(rw, string_with_nul_refused)
{
	struct util_buf b;
	struct ctlproto_reader r;
	static const uint8_t bad[] = { 'a', 0, 'b' };

	util_buf_init(&b);
	ctlproto_put_mem(&b, bad, sizeof(bad));
	ctlproto_put_u8(&b, 7);
	ctlproto_reader_init(&r, b.data, b.len);
	cr_assert_null(ctlproto_get_str(&r));
	cr_assert(r.err);
	/* Sticky: the byte after the string is there but must not be read. */
	cr_assert_eq(ctlproto_get_u8(&r), 0);
	cr_assert_not(ctlproto_reader_done(&r));
	util_buf_free(&b);
}

Test(rw, overrun_is_sticky)
{
	static const uint8_t data[] = { 1, 2, 3, 4, 5 };
	struct ctlproto_reader r;

	ctlproto_reader_init(&r, data, sizeof(data));
	cr_assert_eq(ctlproto_get_u32(&r), 0x01020304u);
	cr_assert_eq(ctlproto_get_u16(&r), 0); /* only 1 byte left */
	cr_assert(r.err);
	/* Even a read that would fit now fails. */
	cr_assert_eq(ctlproto_get_u8(&r), 0);
	cr_assert_eq(ctlproto_get_u32(&r), 0);
	cr_assert_eq(ctlproto_get_i64(&r), 0);
	cr_assert_null(ctlproto_get_str(&r));
	cr_assert(r.err);
	cr_assert_not(ctlproto_reader_done(&r));
}

Test(rw, string_length_beyond_data)
{
	struct util_buf b;
	struct ctlproto_reader r;

	util_buf_init(&b);
	ctlproto_put_u32(&b, 4);
	util_buf_puts(&b, "abc");
	ctlproto_reader_init(&r, b.data, b.len);
	cr_assert_null(ctlproto_get_str(&r));
	cr_assert(r.err);
	util_buf_reset(&b);
	ctlproto_put_u32(&b, UINT32_MAX);
	util_buf_puts(&b, "abc");
	ctlproto_reader_init(&r, b.data, b.len);
	cr_assert_null(ctlproto_get_str(&r));
	cr_assert(r.err);
	util_buf_free(&b);
}

Test(rw, empty_reader)
{
	struct ctlproto_reader r;
	static const uint8_t none[1];

	ctlproto_reader_init(&r, none, 0);
	cr_assert(ctlproto_reader_done(&r));
	cr_assert_eq(ctlproto_get_u8(&r), 0);
	cr_assert(r.err);
	cr_assert_not(ctlproto_reader_done(&r));
}

Test(misc, status_str)
{
	cr_assert_str_eq(ctlproto_status_str(CTLPROTO_E_VERSION),
			 "unsupported control protocol version");
	cr_assert_str_eq(ctlproto_status_str(CTLPROTO_E_REFUSED), "access refused");
	cr_assert_str_eq(ctlproto_status_str(CTLPROTO_E_MALFORMED),
			 "malformed request");
	cr_assert_str_eq(ctlproto_status_str(CTLPROTO_E_SEQUENCE),
			 "request out of sequence");
	cr_assert_str_eq(ctlproto_status_str(0), "unknown error");
	cr_assert_str_eq(ctlproto_status_str(999), "unknown error");
}

/* --- CMD ---------------------------------------------------------------- */

static char t_set[] = "set";
static char t_key[] = "queue.memory";
static char t_str[] = "a string with spaces";
static char t_num[] = "-12";
static char t_punct[] = ";";
static char t_empty[] = "";

static const struct ctlproto_arg sample_args[] = {
	{ CTLPROTO_ARG_WORD, t_set },
	{ CTLPROTO_ARG_WORD, t_key },
	{ CTLPROTO_ARG_STRING, t_str },
	{ CTLPROTO_ARG_NUMBER, t_num },
	{ CTLPROTO_ARG_PUNCT, t_punct },
	{ CTLPROTO_ARG_STRING, t_empty },
};

static void encode_sample(struct util_buf *b, uint32_t reqid)
{
	struct ctlproto_cmd c = {
		.argc = UTIL_ARRAY_SIZE(sample_args),
		.argv = (struct ctlproto_arg *)sample_args,
	};

	cr_assert_eq(ctlproto_cmd_encode(b, reqid, &c), 0);
}

Test(cmd, round_trip)
{
	struct util_buf b;
	struct ctlproto_hdr h;
	struct ctlproto_cmd c;
	size_t i;

	util_buf_init(&b);
	encode_sample(&b, 42);
	cr_assert_eq(ctlproto_hdr_parse((const uint8_t *)b.data, &h), 0);
	cr_assert_eq(h.type, CTLPROTO_CMD);
	cr_assert_eq(h.version, CTLPROTO_VERSION);
	cr_assert_eq(h.reqid, 42);
	cr_assert_eq(h.length, b.len - CTLPROTO_HDR_LEN);
	cr_assert_eq(ctlproto_cmd_decode(b.data + CTLPROTO_HDR_LEN, h.length, &c), 0);
	cr_assert_eq(c.argc, UTIL_ARRAY_SIZE(sample_args));
	for (i = 0; i < c.argc; i++) {
		cr_assert_eq(c.argv[i].type, sample_args[i].type);
		cr_assert_str_eq(c.argv[i].text, sample_args[i].text);
	}
	ctlproto_cmd_free(&c);
	cr_assert_eq(c.argc, 0);
	cr_assert_null(c.argv);
	ctlproto_cmd_free(&c); /* twice is harmless */
	util_buf_free(&b);
}

Test(cmd, round_trip_max_args)
{
	struct util_buf b;
	struct ctlproto_cmd in, out;
	char texts[CTLPROTO_MAX_ARGS][8];
	size_t i;

	in.argc = CTLPROTO_MAX_ARGS;
	in.argv = util_xcalloc(in.argc, sizeof(*in.argv));
	for (i = 0; i < in.argc; i++) {
		cr_assert_eq(util_snprintf(texts[i], sizeof(texts[i]), "a%u",
					   (unsigned)i), 0);
		in.argv[i].type = (enum ctlproto_argtype)(i % 4);
		in.argv[i].text = texts[i];
	}
	util_buf_init(&b);
	cr_assert_eq(ctlproto_cmd_encode(&b, 1, &in), 0);
	cr_assert_eq(ctlproto_cmd_decode(b.data + CTLPROTO_HDR_LEN,
					 b.len - CTLPROTO_HDR_LEN, &out), 0);
	cr_assert_eq(out.argc, in.argc);
	for (i = 0; i < out.argc; i++) {
		cr_assert_eq(out.argv[i].type, in.argv[i].type);
		cr_assert_str_eq(out.argv[i].text, texts[i]);
	}
	ctlproto_cmd_free(&out);
	util_buf_free(&b);
	free(in.argv);
}

Test(cmd, encode_appends_after_existing_data)
{
	struct util_buf b;
	struct ctlproto_cmd c;
	struct ctlproto_hdr h;

	util_buf_init(&b);
	encode_sample(&b, 1);
	encode_sample(&b, 2);
	cr_assert_eq(b.len % 2, 0);
	cr_assert_eq(ctlproto_hdr_parse((const uint8_t *)b.data + b.len / 2, &h), 0);
	cr_assert_eq(h.reqid, 2);
	cr_assert_eq(ctlproto_cmd_decode(b.data + b.len / 2 + CTLPROTO_HDR_LEN,
					 h.length, &c), 0);
	ctlproto_cmd_free(&c);
	util_buf_free(&b);
}

Test(cmd, encode_refuses_bad_argc)
{
	struct util_buf b;
	struct ctlproto_cmd c = { 0, NULL };
	struct ctlproto_arg *many;

	util_buf_init(&b);
	cr_assert_eq(ctlproto_cmd_encode(&b, 1, &c), -1);
	cr_assert_eq(b.len, 0);
	many = util_xcalloc(CTLPROTO_MAX_ARGS + 1, sizeof(*many));
	c.argc = CTLPROTO_MAX_ARGS + 1;
	c.argv = many;
	cr_assert_eq(ctlproto_cmd_encode(&b, 1, &c), -1);
	cr_assert_eq(b.len, 0);
	free(many);
	util_buf_free(&b);
}

Test(cmd, encode_oversize_rolls_back)
{
	struct util_buf b;
	struct ctlproto_arg a[2];
	struct ctlproto_cmd c = { 2, a };
	char *big = util_xmalloc(CTLPROTO_MAX_PAYLOAD / 2 + 1);

	memset(big, 'x', CTLPROTO_MAX_PAYLOAD / 2);
	big[CTLPROTO_MAX_PAYLOAD / 2] = '\0';
	a[0].type = a[1].type = CTLPROTO_ARG_STRING;
	a[0].text = a[1].text = big;
	util_buf_init(&b);
	util_buf_puts(&b, "keep");
	cr_assert_eq(ctlproto_cmd_encode(&b, 1, &c), -1);
	cr_assert_eq(b.len, 4);
	/* util_buf promises termination, also after the rollback. */
	cr_assert_str_eq(b.data, "keep");
	util_buf_free(&b);
	free(big);
}

/* Every proper prefix of a valid payload must be refused, with nothing left
 * allocated (ASan/LeakSanitizer builds catch a leak here). */
Test(cmd, truncated_payload_refused)
{
	struct util_buf b;
	struct ctlproto_cmd c;
	const char *payload;
	size_t len, i;

	util_buf_init(&b);
	encode_sample(&b, 1);
	payload = b.data + CTLPROTO_HDR_LEN;
	len = b.len - CTLPROTO_HDR_LEN;
	for (i = 0; i < len; i++) {
		/* A private copy so ASan sees any read past the prefix. */
		char *p = util_xmalloc(i);

		memcpy(p, payload, i);
		c.argc = 99;
		c.argv = (struct ctlproto_arg *)&c;
		cr_assert_eq(ctlproto_cmd_decode(p, i, &c), -1, "len %zu", i);
		cr_assert_eq(c.argc, 0, "len %zu", i);
		cr_assert_null(c.argv, "len %zu", i);
		free(p);
	}
	util_buf_free(&b);
}

Test(cmd, trailing_bytes_refused)
{
	struct util_buf b;
	struct ctlproto_cmd c;

	util_buf_init(&b);
	encode_sample(&b, 1);
	ctlproto_put_u8(&b, 0);
	cr_assert_eq(ctlproto_cmd_decode(b.data + CTLPROTO_HDR_LEN,
					 b.len - CTLPROTO_HDR_LEN, &c), -1);
	cr_assert_eq(c.argc, 0);
	cr_assert_null(c.argv);
	util_buf_free(&b);
}

Test(cmd, argc_zero_refused)
{
	struct util_buf b;
	struct ctlproto_cmd c;

	util_buf_init(&b);
	ctlproto_put_u16(&b, 0);
	cr_assert_eq(ctlproto_cmd_decode(b.data, b.len, &c), -1);
	cr_assert_eq(c.argc, 0);
	cr_assert_null(c.argv);
	util_buf_free(&b);
}

Test(cmd, argc_over_max_refused)
{
	struct util_buf b;
	struct ctlproto_cmd c;
	size_t i;

	/* Well-formed otherwise: only the count is wrong. */
	util_buf_init(&b);
	ctlproto_put_u16(&b, CTLPROTO_MAX_ARGS + 1);
	for (i = 0; i < CTLPROTO_MAX_ARGS + 1; i++) {
		ctlproto_put_u8(&b, CTLPROTO_ARG_WORD);
		ctlproto_put_str(&b, "w");
	}
	cr_assert_eq(ctlproto_cmd_decode(b.data, b.len, &c), -1);
	cr_assert_null(c.argv);
	util_buf_reset(&b);
	ctlproto_put_u16(&b, 0xffff);
	cr_assert_eq(ctlproto_cmd_decode(b.data, b.len, &c), -1);
	cr_assert_null(c.argv);
	util_buf_free(&b);
}

Test(cmd, bad_arg_type_refused)
{
	struct util_buf b;
	struct ctlproto_cmd c;
	static const uint8_t types[] = { CTLPROTO_ARG_PUNCT + 1, 0x80, 0xff };
	size_t i;

	util_buf_init(&b);
	for (i = 0; i < UTIL_ARRAY_SIZE(types); i++) {
		util_buf_reset(&b);
		ctlproto_put_u16(&b, 2);
		ctlproto_put_u8(&b, CTLPROTO_ARG_WORD);
		ctlproto_put_str(&b, "ok");
		ctlproto_put_u8(&b, types[i]);
		ctlproto_put_str(&b, "bad");
		cr_assert_eq(ctlproto_cmd_decode(b.data, b.len, &c), -1);
		cr_assert_eq(c.argc, 0);
		cr_assert_null(c.argv);
	}
	util_buf_free(&b);
}

Test(cmd, arg_with_nul_refused)
{
	struct util_buf b;
	struct ctlproto_cmd c;

	util_buf_init(&b);
	ctlproto_put_u16(&b, 1);
	ctlproto_put_u8(&b, CTLPROTO_ARG_STRING);
	ctlproto_put_mem(&b, "a\0b", 3);
	cr_assert_eq(ctlproto_cmd_decode(b.data, b.len, &c), -1);
	cr_assert_null(c.argv);
	util_buf_free(&b);
}

/* --- read_frame over a socketpair --------------------------------------- */

static void pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

Test(read_frame, whole_frame)
{
	struct util_buf b;
	struct ctlproto_hdr h;
	struct ctlproto_cmd c;
	uint8_t *payload;
	int sv[2];

	pair(sv);
	util_buf_init(&b);
	encode_sample(&b, 77);
	ctlproto_begin(&b, CTLPROTO_HELLO, 78);
	ctlproto_end(&b, b.len - CTLPROTO_HDR_LEN);
	cr_assert_eq(util_write_full(sv[0], b.data, b.len), 0);
	close(sv[0]);

	cr_assert_eq(ctlproto_read_frame(sv[1], &h, &payload), 0);
	cr_assert_eq(h.type, CTLPROTO_CMD);
	cr_assert_eq(h.reqid, 77);
	cr_assert_not_null(payload);
	cr_assert_eq(ctlproto_cmd_decode(payload, h.length, &c), 0);
	cr_assert_eq(c.argc, UTIL_ARRAY_SIZE(sample_args));
	cr_assert_str_eq(c.argv[2].text, t_str);
	ctlproto_cmd_free(&c);
	free(payload);

	/* An empty payload still yields a buffer the caller can free. */
	cr_assert_eq(ctlproto_read_frame(sv[1], &h, &payload), 0);
	cr_assert_eq(h.type, CTLPROTO_HELLO);
	cr_assert_eq(h.reqid, 78);
	cr_assert_eq(h.length, 0);
	free(payload);

	/* Clean EOF between frames is a reset for a client waiting for one. */
	errno = 0;
	cr_assert_eq(ctlproto_read_frame(sv[1], &h, &payload), -1);
	cr_assert_eq(errno, ECONNRESET);
	cr_assert_null(payload);
	close(sv[1]);
	util_buf_free(&b);
}

Test(read_frame, eof_mid_header)
{
	uint8_t h[CTLPROTO_HDR_LEN];
	struct ctlproto_hdr hd;
	uint8_t *payload;
	int sv[2];

	pair(sv);
	raw_hdr(h, CTLPROTO_MAGIC, 1, CTLPROTO_CMD, 0, 1);
	cr_assert_eq(util_write_full(sv[0], h, 7), 0);
	close(sv[0]);
	errno = 0;
	cr_assert_eq(ctlproto_read_frame(sv[1], &hd, &payload), -1);
	cr_assert_eq(errno, ECONNRESET);
	cr_assert_null(payload);
	close(sv[1]);
}

Test(read_frame, eof_mid_payload)
{
	uint8_t h[CTLPROTO_HDR_LEN];
	struct ctlproto_hdr hd;
	uint8_t *payload;
	int sv[2];

	pair(sv);
	raw_hdr(h, CTLPROTO_MAGIC, 1, CTLPROTO_RESULT, 10, 1);
	cr_assert_eq(util_write_full(sv[0], h, sizeof(h)), 0);
	cr_assert_eq(util_write_full(sv[0], "12345", 5), 0);
	close(sv[0]);
	errno = 0;
	cr_assert_eq(ctlproto_read_frame(sv[1], &hd, &payload), -1);
	cr_assert_eq(errno, ECONNRESET);
	cr_assert_null(payload);
	close(sv[1]);
}

Test(read_frame, bad_magic_and_oversize)
{
	uint8_t h[CTLPROTO_HDR_LEN];
	struct ctlproto_hdr hd;
	uint8_t *payload;
	int sv[2];

	pair(sv);
	raw_hdr(h, 0x48545450u, 1, CTLPROTO_CMD, 0, 1); /* "HTTP" */
	cr_assert_eq(util_write_full(sv[0], h, sizeof(h)), 0);
	errno = 0;
	cr_assert_eq(ctlproto_read_frame(sv[1], &hd, &payload), -1);
	cr_assert_eq(errno, EPROTO);
	cr_assert_null(payload);

	raw_hdr(h, CTLPROTO_MAGIC, 1, CTLPROTO_CMD, CTLPROTO_MAX_PAYLOAD + 1, 1);
	cr_assert_eq(util_write_full(sv[0], h, sizeof(h)), 0);
	errno = 0;
	cr_assert_eq(ctlproto_read_frame(sv[1], &hd, &payload), -1);
	cr_assert_eq(errno, EPROTO);
	cr_assert_null(payload);
	close(sv[0]);
	close(sv[1]);
}

Test(read_frame, bad_fd)
{
	struct ctlproto_hdr hd;
	uint8_t *payload;

	errno = 0;
	cr_assert_eq(ctlproto_read_frame(-1, &hd, &payload), -1);
	cr_assert_eq(errno, EBADF);
	cr_assert_null(payload);
}
