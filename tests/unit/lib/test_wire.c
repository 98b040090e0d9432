#include "config.h"

#include "wire.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zstd.h>

/* ---- helpers -------------------------------------------------------------- */

static void raw_hdr(uint8_t *h, uint32_t magic, uint8_t ver, uint8_t type,
		    uint16_t flags, uint32_t len)
{
	h[0] = (uint8_t)(magic >> 24);
	h[1] = (uint8_t)(magic >> 16);
	h[2] = (uint8_t)(magic >> 8);
	h[3] = (uint8_t)magic;
	h[4] = ver;
	h[5] = type;
	h[6] = (uint8_t)(flags >> 8);
	h[7] = (uint8_t)flags;
	h[8] = (uint8_t)(len >> 24);
	h[9] = (uint8_t)(len >> 16);
	h[10] = (uint8_t)(len >> 8);
	h[11] = (uint8_t)len;
}

/* Decodes exactly one frame from a buffer holding exactly one frame. The
 * frame points into r, which the caller frees. */
static void one_frame(const struct util_buf *b, struct wire_reader *r,
		      struct wire_frame *f)
{
	wire_reader_init(r);
	wire_reader_set_limit(r, WIRE_MAX_PAYLOAD);
	wire_reader_feed(r, b->data, b->len);
	cr_assert_eq(wire_reader_next(r, f), 1, "reader: %s",
		     wire_reader_error(r));
	cr_assert_eq(wire_reader_pending(r), 0);
	cr_assert_eq(f->len + WIRE_HDR_LEN, b->len);
}

/* Feeds raw bytes and returns what wire_reader_next says. */
static int feed_next(struct wire_reader *r, const void *p, size_t n,
		     struct wire_frame *f)
{
	wire_reader_feed(r, p, n);
	return wire_reader_next(r, f);
}

static const uint8_t NONCE[WIRE_NONCE_LEN] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t MAC[WIRE_MAC_LEN] = {
	0xff, 0xfe, 0xfd, 0xfc, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9,
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 1, 0, 1, 0, 1, 0, 1, 0 };

/* One frame of every type, in a fixed order. */
static void put_all(struct util_buf *b)
{
	struct wire_batch_writer w;

	cr_assert_eq(wire_put_hello(b, "alpha", NONCE), 0);
	cr_assert_eq(wire_put_challenge(b, "beta host", NONCE, MAC), 0);
	cr_assert_eq(wire_put_auth(b, MAC), 0);
	cr_assert_eq(wire_put_ready(b), 0);
	cr_assert_eq(wire_put_error(b, WIRE_E_AUTH, "authentication failed"), 0);
	cr_assert_eq(wire_put_connect(b, 7, "docs", "/srv/replica/docs",
				      0xa5a5a5a5u, 0x1122334455667788ull), 0);
	cr_assert_eq(wire_put_connect_ok(b, 7, 99), 0);
	cr_assert_eq(wire_put_connect_err(b, 8, WIRE_E_REFUSED, "no such root"), 0);
	cr_assert_eq(wire_batch_begin(&w, b, 7, 100), 0);
	cr_assert_eq(wire_batch_add(&w, "one", 3), 0);
	cr_assert_eq(wire_batch_add(&w, "\0two\0", 5), 0);
	cr_assert_eq(wire_batch_end(&w), 0);
	cr_assert_eq(wire_put_ack(b, 7, 101), 0);
	cr_assert_eq(wire_put_pause(b, 0), 0);
	cr_assert_eq(wire_put_resume(b, 7), 0);
	cr_assert_eq(wire_put_ping(b, 0xdeadbeefcafef00dull), 0);
	cr_assert_eq(wire_put_pong(b, 42), 0);
	cr_assert_eq(wire_put_disconnect(b, 7), 0);
	{
		static struct wire_report rp = {
			.con_id = 7, .seq = 102, .what = WIRE_DIFF_DATA | WIRE_DIFF_MTIME,
			.size = 1 << 20, .mtime_ns = -5, .mode = 0100644, .uid = 1,
			.gid = 2, .path = "", .nranges = 2,
			.ranges = { { 0, 65536 }, { 1 << 19, 131072 } },
		};

		cr_assert_eq(wire_put_report(b, &rp), 0);
	}
	cr_assert_eq(wire_put_tstatus(b, 7, WIRE_TSTATUS_RETRYING, 103,
				      "No space left on device (target full)"), 0);
}

static const uint8_t ALL_TYPES[] = {
	WIRE_HELLO, WIRE_CHALLENGE, WIRE_AUTH, WIRE_READY, WIRE_ERROR,
	WIRE_CONNECT, WIRE_CONNECT_OK, WIRE_CONNECT_ERR, WIRE_BATCH, WIRE_ACK,
	WIRE_PAUSE, WIRE_RESUME, WIRE_PING, WIRE_PONG, WIRE_DISCONNECT,
	WIRE_REPORT, WIRE_TSTATUS,
};

/* Decodes with the decoder of f's type; checks the values put_all wrote. */
static int check_frame(const struct wire_frame *f, bool check_values)
{
	union {
		struct wire_hello h;
		struct wire_challenge c;
		struct wire_error e;
		struct wire_connect cn;
		struct wire_connect_ok ok;
		struct wire_connect_err ce;
		struct wire_batch bt;
		struct wire_ack a;
		struct wire_report rp;
		struct wire_tstatus ts;
	} u;
	uint8_t mac[WIRE_MAC_LEN];
	uint32_t id;
	uint64_t tok, seq;
	const uint8_t *rec;
	uint32_t len;

	switch (f->type) {
	case WIRE_HELLO:
		if (wire_get_hello(f, &u.h) < 0)
			return -1;
		if (check_values) {
			cr_expect_eq(u.h.version, WIRE_VERSION);
			cr_expect_str_eq(u.h.name, "alpha");
			cr_expect_arr_eq(u.h.nonce, NONCE, WIRE_NONCE_LEN);
		}
		return 0;
	case WIRE_CHALLENGE:
		if (wire_get_challenge(f, &u.c) < 0)
			return -1;
		if (check_values) {
			cr_expect_str_eq(u.c.name, "beta host");
			cr_expect_arr_eq(u.c.nonce, NONCE, WIRE_NONCE_LEN);
			cr_expect_arr_eq(u.c.mac, MAC, WIRE_MAC_LEN);
		}
		return 0;
	case WIRE_AUTH:
		if (wire_get_auth(f, mac) < 0)
			return -1;
		if (check_values)
			cr_expect_arr_eq(mac, MAC, WIRE_MAC_LEN);
		return 0;
	case WIRE_READY:
		return wire_get_ready(f);
	case WIRE_ERROR:
		if (wire_get_error(f, &u.e) < 0)
			return -1;
		if (check_values) {
			cr_expect_eq(u.e.code, WIRE_E_AUTH);
			cr_expect_eq(u.e.version, WIRE_VERSION);
			cr_expect_str_eq(u.e.msg, "authentication failed");
		}
		return 0;
	case WIRE_CONNECT:
		if (wire_get_connect(f, &u.cn) < 0)
			return -1;
		if (check_values) {
			cr_expect_eq(u.cn.con_id, 7);
			cr_expect_str_eq(u.cn.repset, "docs");
			cr_expect_str_eq(u.cn.root, "/srv/replica/docs");
			cr_expect_eq(u.cn.options, 0xa5a5a5a5u);
			cr_expect_eq(u.cn.last_acked, 0x1122334455667788ull);
		}
		return 0;
	case WIRE_CONNECT_OK:
		if (wire_get_connect_ok(f, &u.ok) < 0)
			return -1;
		if (check_values) {
			cr_expect_eq(u.ok.con_id, 7);
			cr_expect_eq(u.ok.last_applied, 99);
		}
		return 0;
	case WIRE_CONNECT_ERR:
		if (wire_get_connect_err(f, &u.ce) < 0)
			return -1;
		if (check_values) {
			cr_expect_eq(u.ce.con_id, 8);
			cr_expect_eq(u.ce.code, WIRE_E_REFUSED);
			cr_expect_str_eq(u.ce.msg, "no such root");
		}
		return 0;
	case WIRE_BATCH:
		if (wire_get_batch(f, &u.bt) < 0)
			return -1;
		if (check_values) {
			cr_expect_eq(u.bt.con_id, 7);
			cr_expect_eq(u.bt.first_seq, 100);
			cr_expect_eq(u.bt.count, 2);
			cr_assert_eq(wire_batch_next(&u.bt, &seq, &rec, &len), 1);
			cr_expect_eq(seq, 100);
			cr_expect_eq(len, 3);
			cr_expect_eq(memcmp(rec, "one", 3), 0);
			cr_assert_eq(wire_batch_next(&u.bt, &seq, &rec, &len), 1);
			cr_expect_eq(seq, 101);
			cr_expect_eq(len, 5);
			cr_expect_eq(memcmp(rec, "\0two\0", 5), 0);
			cr_expect_eq(wire_batch_next(&u.bt, &seq, &rec, &len), 0);
		}
		return 0;
	case WIRE_ACK:
		if (wire_get_ack(f, &u.a) < 0)
			return -1;
		if (check_values) {
			cr_expect_eq(u.a.con_id, 7);
			cr_expect_eq(u.a.seq, 101);
		}
		return 0;
	case WIRE_PAUSE:
		if (wire_get_pause(f, &id) < 0)
			return -1;
		if (check_values)
			cr_expect_eq(id, 0);
		return 0;
	case WIRE_RESUME:
		if (wire_get_resume(f, &id) < 0)
			return -1;
		if (check_values)
			cr_expect_eq(id, 7);
		return 0;
	case WIRE_PING:
		if (wire_get_ping(f, &tok) < 0)
			return -1;
		if (check_values)
			cr_expect_eq(tok, 0xdeadbeefcafef00dull);
		return 0;
	case WIRE_PONG:
		if (wire_get_pong(f, &tok) < 0)
			return -1;
		if (check_values)
			cr_expect_eq(tok, 42);
		return 0;
	case WIRE_DISCONNECT:
		if (wire_get_disconnect(f, &id) < 0)
			return -1;
		if (check_values)
			cr_expect_eq(id, 7);
		return 0;
	case WIRE_REPORT:
		if (wire_get_report(f, &u.rp) < 0)
			return -1;
		if (check_values) {
			cr_expect_eq(u.rp.seq, 102);
			cr_expect_eq(u.rp.what, WIRE_DIFF_DATA | WIRE_DIFF_MTIME);
			cr_expect_eq(u.rp.mtime_ns, -5);
			cr_expect_eq(u.rp.mode, 0100644);
			cr_expect_str_eq(u.rp.path, "");
			cr_expect_eq(u.rp.nranges, 2);
			cr_expect_eq(u.rp.ranges[1].off, 1 << 19);
			cr_expect_eq(u.rp.ranges[1].len, 131072);
		}
		return 0;
	case WIRE_TSTATUS:
		if (wire_get_tstatus(f, &u.ts) < 0)
			return -1;
		if (check_values) {
			cr_expect_eq(u.ts.con_id, 7);
			cr_expect_eq(u.ts.state, WIRE_TSTATUS_RETRYING);
			cr_expect_eq(u.ts.seq, 103);
			cr_expect_str_eq(u.ts.msg, "No space left on device (target full)");
		}
		return 0;
	}
	cr_assert_fail("unexpected type %u", f->type);
	return -1;
}

/* ---- framing and round trips ----------------------------------------------- */

Test(wire, header_layout)
{
	struct util_buf b;

	util_buf_init(&b);
	cr_assert_eq(wire_put_ping(&b, 0x0102030405060708ull), 0);
	cr_assert_eq(b.len, WIRE_HDR_LEN + 8);
	cr_expect_eq(memcmp(b.data, "DTWR\x01\x17\x00\x00\x00\x00\x00\x08"
			    "\x01\x02\x03\x04\x05\x06\x07\x08", 20), 0);
	util_buf_free(&b);
}

Test(wire, round_trip_every_frame)
{
	struct util_buf b;
	struct wire_reader r;
	struct wire_frame f;
	size_t i;

	util_buf_init(&b);
	put_all(&b);
	wire_reader_init(&r);
	wire_reader_set_limit(&r, WIRE_MAX_PAYLOAD);
	wire_reader_feed(&r, b.data, b.len);
	for (i = 0; i < sizeof(ALL_TYPES); i++) {
		cr_assert_eq(wire_reader_next(&r, &f), 1, "frame %zu: %s", i,
			     wire_reader_error(&r));
		cr_expect_eq(f.type, ALL_TYPES[i], "frame %zu is %s", i,
			     wire_type_name(f.type));
		cr_expect_eq(f.version, WIRE_VERSION);
		cr_expect_eq(f.flags, 0);
		cr_expect_eq(check_frame(&f, true), 0, "decode %s",
			     wire_type_name(f.type));
	}
	cr_expect_eq(wire_reader_next(&r, &f), 0);
	cr_expect_eq(wire_reader_pending(&r), 0);
	wire_reader_free(&r);
	util_buf_free(&b);
}

Test(wire, reader_one_byte_at_a_time)
{
	struct util_buf b;
	struct wire_reader r;
	struct wire_frame f;
	size_t i, got = 0;

	util_buf_init(&b);
	put_all(&b);
	wire_reader_init(&r);
	wire_reader_set_limit(&r, WIRE_MAX_PAYLOAD);
	for (i = 0; i < b.len; i++) {
		int rc;

		wire_reader_feed(&r, b.data + i, 1);
		while ((rc = wire_reader_next(&r, &f)) == 1) {
			cr_assert_lt(got, sizeof(ALL_TYPES));
			cr_expect_eq(f.type, ALL_TYPES[got]);
			cr_expect_eq(check_frame(&f, true), 0);
			got++;
		}
		cr_assert_eq(rc, 0, "at byte %zu: %s", i, wire_reader_error(&r));
	}
	cr_expect_eq(got, sizeof(ALL_TYPES));
	cr_expect_eq(wire_reader_pending(&r), 0);
	wire_reader_free(&r);
	util_buf_free(&b);
}

Test(wire, reader_reserve_commit)
{
	struct util_buf b;
	struct wire_reader r;
	struct wire_frame f;
	size_t i = 0, got = 0;

	util_buf_init(&b);
	put_all(&b);
	wire_reader_init(&r);
	wire_reader_set_limit(&r, WIRE_MAX_PAYLOAD);
	while (i < b.len) {
		size_t n = b.len - i < 7 ? b.len - i : 7;
		void *p = wire_reader_reserve(&r, 7);

		memcpy(p, b.data + i, n);
		wire_reader_commit(&r, n);
		i += n;
		while (wire_reader_next(&r, &f) == 1) {
			cr_expect_eq(f.type, ALL_TYPES[got]);
			cr_expect_eq(check_frame(&f, true), 0);
			got++;
		}
	}
	cr_expect_eq(got, sizeof(ALL_TYPES));
	wire_reader_free(&r);
	util_buf_free(&b);
}

/* Frames of one feed stay valid until the next feed. */
Test(wire, frames_valid_until_next_feed)
{
	struct util_buf b;
	struct wire_reader r;
	struct wire_frame f1, f2;
	uint64_t t1, t2;

	util_buf_init(&b);
	wire_put_ping(&b, 1);
	wire_put_pong(&b, 2);
	wire_reader_init(&r);
	wire_reader_feed(&r, b.data, b.len);
	cr_assert_eq(wire_reader_next(&r, &f1), 1);
	cr_assert_eq(wire_reader_next(&r, &f2), 1);
	cr_assert_eq(wire_get_ping(&f1, &t1), 0);
	cr_assert_eq(wire_get_pong(&f2, &t2), 0);
	cr_expect_eq(t1, 1);
	cr_expect_eq(t2, 2);
	wire_reader_free(&r);
	util_buf_free(&b);
}

/* ---- reader refusals ------------------------------------------------------ */

Test(wire, bad_magic)
{
	struct wire_reader r;
	struct wire_frame f;
	uint8_t h[WIRE_HDR_LEN];

	raw_hdr(h, 0x47455420u /* "GET " */, WIRE_VERSION, WIRE_PING, 0, 8);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	cr_expect_eq(wire_reader_code(&r), WIRE_E_MALFORMED);
	cr_expect_not_null(strstr(wire_reader_error(&r), "magic"));
	/* Sticky, even if good bytes follow, which are not even kept. */
	cr_expect_eq(feed_next(&r, "x", 1, &f), -1);
	cr_expect_eq(wire_reader_pending(&r), sizeof(h));
	wire_reader_free(&r);
}

Test(wire, unknown_type)
{
	struct wire_reader r;
	struct wire_frame f;
	uint8_t h[WIRE_HDR_LEN];

	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, 99, 0, 0);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	cr_expect_eq(wire_reader_code(&r), WIRE_E_MALFORMED);
	cr_expect_not_null(strstr(wire_reader_error(&r), "type 99"));
	wire_reader_free(&r);
}

Test(wire, oversize_lengths)
{
	struct wire_reader r;
	struct wire_frame f;
	uint8_t h[WIRE_HDR_LEN];

	/* Control frames are small whatever the limit. */
	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, WIRE_CONNECT, 0, WIRE_MAX_CONTROL + 1);
	wire_reader_init(&r);
	wire_reader_set_limit(&r, WIRE_MAX_PAYLOAD);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	cr_expect_eq(wire_reader_code(&r), WIRE_E_MALFORMED);
	wire_reader_free(&r);

	/* Before the handshake a BATCH is as small as any frame... */
	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, WIRE_BATCH, 0, WIRE_MAX_CONTROL + 1);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	wire_reader_free(&r);

	/* ...after it up to WIRE_MAX_PAYLOAD (header alone: need more)... */
	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, WIRE_BATCH, 0, WIRE_MAX_PAYLOAD);
	wire_reader_init(&r);
	wire_reader_set_limit(&r, UINT32_MAX); /* clamped */
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), 0);
	wire_reader_free(&r);

	/* ...and never beyond. */
	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, WIRE_BATCH, 0, WIRE_MAX_PAYLOAD + 1);
	wire_reader_init(&r);
	wire_reader_set_limit(&r, UINT32_MAX);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	cr_expect_not_null(strstr(wire_reader_error(&r), "exceeds"));
	wire_reader_free(&r);

	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, WIRE_PING, 0, 0xffffffffu);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	wire_reader_free(&r);
}

Test(wire, foreign_version)
{
	struct wire_reader r;
	struct wire_frame f;
	struct wire_error e;
	struct util_buf b;
	uint8_t h[WIRE_HDR_LEN];
	uint8_t frame[WIRE_HDR_LEN + 9];

	raw_hdr(h, WIRE_MAGIC, 2, WIRE_HELLO, 0, 40);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	cr_expect_eq(wire_reader_code(&r), WIRE_E_VERSION);
	cr_expect_not_null(strstr(wire_reader_error(&r), "version 2"));

	/* The answer names the version we speak, in a frame any version of
	 * Ditto can read. */
	util_buf_init(&b);
	wire_put_error(&b, wire_reader_code(&r), wire_reader_error(&r));
	wire_reader_free(&r);
	cr_expect_eq((uint8_t)b.data[4], WIRE_VERSION);
	cr_expect_eq((uint8_t)b.data[5], WIRE_ERROR);
	util_buf_free(&b);

	/* An ERROR frame of another version is delivered and decoded. */
	raw_hdr(frame, WIRE_MAGIC, 3, WIRE_ERROR, 0, 9);
	memcpy(frame + WIRE_HDR_LEN, "\0\0\0\x01\x03\0\x02hi", 9);
	wire_reader_init(&r);
	cr_assert_eq(feed_next(&r, frame, sizeof(frame), &f), 1);
	cr_assert_eq(wire_get_error(&f, &e), 0);
	cr_expect_eq(e.code, WIRE_E_VERSION);
	cr_expect_eq(e.version, 3);
	cr_expect_str_eq(e.msg, "hi");
	wire_reader_free(&r);

	/* Header and payload versions must agree. */
	frame[WIRE_HDR_LEN + 4] = 4;
	wire_reader_init(&r);
	cr_assert_eq(feed_next(&r, frame, sizeof(frame), &f), 1);
	cr_expect_eq(wire_get_error(&f, &e), -1);
	wire_reader_free(&r);
}

Test(wire, flags_refused)
{
	struct wire_reader r;
	struct wire_frame f;
	uint8_t h[WIRE_HDR_LEN];

	/* Compression flags are for BATCH frames only, one at a time. */
	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, WIRE_PING, WIRE_F_LZ4, 8);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	cr_expect_eq(wire_reader_code(&r), WIRE_E_MALFORMED);
	wire_reader_free(&r);

	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, WIRE_BATCH, WIRE_F_LZ4 | WIRE_F_ZSTD, 0);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	cr_expect_eq(wire_reader_code(&r), WIRE_E_MALFORMED);
	wire_reader_free(&r);

	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, WIRE_BATCH, WIRE_F_ZSTD, 0);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), 1);
	cr_expect_eq(f.flags, WIRE_F_ZSTD);
	wire_reader_free(&r);

	raw_hdr(h, WIRE_MAGIC, WIRE_VERSION, WIRE_PING, 0x8000, 8);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, h, sizeof(h), &f), -1);
	cr_expect_eq(wire_reader_code(&r), WIRE_E_MALFORMED);
	wire_reader_free(&r);
}

/* ---- strict decoding -------------------------------------------------------- */

Test(wire, truncations_and_trailing_bytes_refused)
{
	struct util_buf b;
	struct wire_reader r;
	struct wire_frame f;
	size_t i;

	util_buf_init(&b);
	put_all(&b);
	wire_reader_init(&r);
	wire_reader_set_limit(&r, WIRE_MAX_PAYLOAD);
	wire_reader_feed(&r, b.data, b.len);
	for (i = 0; i < sizeof(ALL_TYPES); i++) {
		struct wire_frame t;
		uint8_t *longer;
		uint32_t k;

		cr_assert_eq(wire_reader_next(&r, &f), 1);
		t = f;
		for (k = 0; k < f.len; k++) {
			t.len = k;
			cr_expect_eq(check_frame(&t, false), -1,
				     "%s cut to %u bytes accepted",
				     wire_type_name(f.type), k);
		}
		longer = util_xmalloc(f.len + 1);
		if (f.len)
			memcpy(longer, f.payload, f.len);
		longer[f.len] = 0;
		t.payload = longer;
		t.len = f.len + 1;
		cr_expect_eq(check_frame(&t, false), -1,
			     "%s with a trailing byte accepted",
			     wire_type_name(f.type));
		free(longer);
		/* A decoder for another type refuses the frame. */
		cr_expect_eq(wire_get_ping(&f, &(uint64_t){0}) == 0,
			     f.type == WIRE_PING);
		cr_expect_eq(wire_get_ready(&f) == 0, f.type == WIRE_READY);
		/* Flags and versions are rechecked on hand-made frames. */
		t = f;
		t.flags = WIRE_F_LZ4;
		cr_expect_eq(check_frame(&t, false), -1);
		t = f;
		t.version = WIRE_VERSION + 1;
		if (f.type != WIRE_ERROR)
			cr_expect_eq(check_frame(&t, false), -1);
	}
	wire_reader_free(&r);
	util_buf_free(&b);
}

Test(wire, truncated_stream_waits)
{
	struct util_buf b;
	struct wire_reader r;
	struct wire_frame f;

	util_buf_init(&b);
	wire_put_connect(&b, 1, "rs", "/t", 0, 0);
	wire_reader_init(&r);
	cr_expect_eq(feed_next(&r, b.data, b.len - 1, &f), 0);
	cr_expect_eq(wire_reader_pending(&r), b.len - 1);
	cr_expect_eq(feed_next(&r, b.data + b.len - 1, 1, &f), 1);
	wire_reader_free(&r);
	util_buf_free(&b);
}

/* Builds CONNECT payloads by hand to poke at the string checks. */
static int decode_connect_raw(const uint8_t *p, size_t n)
{
	struct wire_frame f = { WIRE_VERSION, WIRE_CONNECT, 0, (uint32_t)n, p };
	struct wire_connect c;

	return wire_get_connect(&f, &c);
}

Test(wire, strings_checked)
{
	uint8_t p[64];
	size_t n;

	/* con_id 1, repset "rs", root "/t", options, last acked */
	memcpy(p, "\0\0\0\x01" "\0\x02rs" "\0\x02/t" "\0\0\0\0" "\0\0\0\0\0\0\0\0", 24);
	n = 24;
	cr_expect_eq(decode_connect_raw(p, n), 0);
	p[9] = '\0'; /* NUL in the root path */
	cr_expect_eq(decode_connect_raw(p, n), -1);
	p[9] = 't';
	p[6] = '\n'; /* control character in a name */
	cr_expect_eq(decode_connect_raw(p, n), -1);
	p[6] = 'r';
	p[3] = 0; /* con_id 0 */
	cr_expect_eq(decode_connect_raw(p, n), -1);
	p[3] = 1;
	p[5] = 0; /* empty repset: the rest no longer lines up either */
	cr_expect_eq(decode_connect_raw(p, n), -1);
	p[5] = 0xff; /* longer than the payload */
	cr_expect_eq(decode_connect_raw(p, n), -1);
}

Test(wire, encoders_check_arguments)
{
	struct util_buf b;
	char longname[WIRE_NAME_MAX + 2];
	char *longpath = util_xmalloc(WIRE_PATH_MAX + 2);

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longpath, 'p', WIRE_PATH_MAX + 1);
	longpath[WIRE_PATH_MAX + 1] = '\0';
	util_buf_init(&b);
	cr_expect_eq(wire_put_hello(&b, "", NONCE), -1);
	cr_expect_eq(wire_put_hello(&b, "a\tb", NONCE), -1);
	cr_expect_eq(wire_put_hello(&b, longname, NONCE), -1);
	cr_expect_eq(wire_put_challenge(&b, longname, NONCE, MAC), -1);
	cr_expect_eq(wire_put_connect(&b, 0, "rs", "/t", 0, 0), -1);
	cr_expect_eq(wire_put_connect(&b, 1, "rs", "", 0, 0), -1);
	cr_expect_eq(wire_put_connect(&b, 1, "rs", longpath, 0, 0), -1);
	cr_expect_eq(wire_put_connect(&b, 1, longname, "/t", 0, 0), -1);
	cr_expect_eq(wire_put_connect_ok(&b, 0, 0), -1);
	cr_expect_eq(wire_put_connect_err(&b, 0, 1, "x"), -1);
	cr_expect_eq(wire_put_ack(&b, 0, 1), -1);
	cr_expect_eq(wire_put_disconnect(&b, 0), -1);
	cr_expect_eq(b.len, 0, "a refused frame left bytes behind");
	/* At the limits everything still goes out. */
	longname[WIRE_NAME_MAX] = '\0';
	longpath[WIRE_PATH_MAX] = '\0';
	cr_expect_eq(wire_put_connect(&b, 1, longname, longpath, 0, 0), 0);
	cr_expect_leq(b.len - WIRE_HDR_LEN, WIRE_MAX_CONTROL);
	util_buf_free(&b);
	free(longpath);
}

Test(wire, messages_truncated_and_sanitised)
{
	struct util_buf b;
	struct wire_reader r;
	struct wire_frame f;
	struct wire_error e;
	char *big = util_xmalloc(3000);

	memset(big, 'm', 2999);
	big[2999] = '\0';
	big[0] = '\n';
	big[1] = '\x1b';
	util_buf_init(&b);
	wire_put_error(&b, 77, big);
	one_frame(&b, &r, &f);
	cr_assert_eq(wire_get_error(&f, &e), 0);
	cr_expect_eq(strlen(e.msg), WIRE_MSG_MAX);
	cr_expect_eq(e.msg[0], ' ');
	cr_expect_eq(e.msg[1], ' ');
	cr_expect_eq(e.code, 77);
	wire_reader_free(&r);
	util_buf_reset(&b);
	wire_put_error(&b, 1, NULL);
	one_frame(&b, &r, &f);
	cr_assert_eq(wire_get_error(&f, &e), 0);
	cr_expect_str_eq(e.msg, "");
	wire_reader_free(&r);
	util_buf_free(&b);
	free(big);
}

/* ---- batches ------------------------------------------------------------------ */

Test(wire, batch_many_records)
{
	struct util_buf b;
	struct wire_batch_writer w;
	struct wire_reader r;
	struct wire_frame f;
	struct wire_batch bt;
	const uint8_t *rec;
	uint64_t seq;
	uint32_t i, len, n = 20000;
	uint8_t tmp[300];

	util_buf_init(&b);
	cr_assert_eq(wire_batch_begin(&w, &b, 3, 1000), 0);
	for (i = 0; i < n; i++) {
		size_t k = 1 + i % 257;

		memset(tmp, (int)(i & 0xff), k);
		cr_assert_eq(wire_batch_add(&w, tmp, k), 0, "record %u", i);
	}
	cr_assert_eq(wire_batch_end(&w), 0);
	one_frame(&b, &r, &f);
	cr_assert_eq(wire_get_batch(&f, &bt), 0);
	cr_expect_eq(bt.con_id, 3);
	cr_expect_eq(bt.count, n);
	for (i = 0; wire_batch_next(&bt, &seq, &rec, &len) == 1; i++) {
		cr_assert_eq(seq, 1000 + (uint64_t)i);
		cr_assert_eq(len, 1 + i % 257);
		cr_assert_eq(rec[0], (uint8_t)i);
		cr_assert_eq(rec[len - 1], (uint8_t)i);
	}
	cr_expect_eq(i, n);
	wire_reader_free(&r);
	util_buf_free(&b);
}

Test(wire, batch_fills_to_the_limit)
{
	struct util_buf b;
	struct wire_batch_writer w;
	struct wire_reader r;
	struct wire_frame f;
	struct wire_batch bt;
	uint8_t *rec = util_xcalloc(1, WIRE_MAX_RECORD + 1);
	size_t added = 0;

	util_buf_init(&b);
	cr_assert_eq(wire_batch_begin(&w, &b, 1, 1), 0);
	cr_expect_eq(wire_batch_add(&w, rec, 0), -1);
	cr_expect_eq(wire_batch_add(&w, rec, WIRE_MAX_RECORD + 1), -1);
	while (wire_batch_add(&w, rec, 1u << 20) == 0)
		added++;
	cr_expect_eq(added, 4);
	cr_expect_leq(wire_batch_size(&w), WIRE_MAX_PAYLOAD);
	cr_assert_eq(wire_batch_end(&w), 0);
	one_frame(&b, &r, &f);
	cr_expect_eq(wire_get_batch(&f, &bt), 0);
	wire_reader_free(&r);

	/* One record of the largest size fits alone. */
	util_buf_reset(&b);
	cr_assert_eq(wire_batch_begin(&w, &b, 1, 1), 0);
	cr_expect_eq(wire_batch_add(&w, rec, WIRE_MAX_RECORD), 0);
	cr_expect_eq(wire_batch_size(&w), WIRE_MAX_PAYLOAD);
	cr_expect_eq(wire_batch_add(&w, rec, 1), -1);
	cr_assert_eq(wire_batch_end(&w), 0);
	one_frame(&b, &r, &f);
	cr_expect_eq(wire_get_batch(&f, &bt), 0);
	wire_reader_free(&r);
	util_buf_free(&b);
	free(rec);
}

Test(wire, batch_edge_cases)
{
	struct util_buf b;
	struct wire_batch_writer w;
	struct wire_frame f;
	struct wire_batch bt;
	uint8_t p[64];

	util_buf_init(&b);
	util_buf_puts(&b, "keep");
	cr_expect_eq(wire_batch_begin(&w, &b, 0, 1), -1);
	cr_expect_eq(wire_batch_begin(&w, &b, 1, 0), -1);
	cr_assert_eq(wire_batch_begin(&w, &b, 1, 1), 0);
	cr_expect_eq(wire_batch_end(&w), -1, "empty batch sent");
	cr_expect_eq(b.len, 4);
	cr_assert_eq(wire_batch_begin(&w, &b, 1, 1), 0);
	wire_batch_add(&w, "x", 1);
	wire_batch_abort(&w);
	cr_expect_str_eq(b.data, "keep");
	/* The last seq must exist. */
	cr_assert_eq(wire_batch_begin(&w, &b, 1, UINT64_MAX), 0);
	cr_expect_eq(wire_batch_add(&w, "x", 1), 0);
	cr_expect_eq(wire_batch_add(&w, "y", 1), -1);
	wire_batch_abort(&w);
	util_buf_free(&b);

	/* Decoding: con_id 1, first 1, count 1, record "x" */
	memcpy(p, "\0\0\0\x01" "\0\0\0\0\0\0\0\x01" "\0\0\0\x01" "\0\0\0\x01" "x", 21);
	f = (struct wire_frame){ WIRE_VERSION, WIRE_BATCH, 0, 21, p };
	cr_expect_eq(wire_get_batch(&f, &bt), 0);
	p[15] = 0; /* count 0 */
	cr_expect_eq(wire_get_batch(&f, &bt), -1);
	p[15] = 2; /* count larger than the records */
	cr_expect_eq(wire_get_batch(&f, &bt), -1);
	p[15] = 1;
	p[19] = 0; /* empty record (then a stray byte) */
	cr_expect_eq(wire_get_batch(&f, &bt), -1);
	p[19] = 1;
	/* An empty second record that lines up exactly. */
	memcpy(p + 21, "\0\0\0\0", 4);
	p[15] = 2;
	f.len = 25;
	cr_expect_eq(wire_get_batch(&f, &bt), -1);
	p[15] = 1;
	f.len = 21;
	memset(p + 4, 0xff, 8); /* first seq UINT64_MAX, one record: fine */
	cr_expect_eq(wire_get_batch(&f, &bt), 0);
	p[15] = 0xff; /* huge count: refused without looping for ever */
	p[14] = 0xff;
	p[13] = 0xff;
	p[12] = 0xff;
	cr_expect_eq(wire_get_batch(&f, &bt), -1);
	memset(p + 4, 0, 8); /* first seq 0 */
	p[12] = p[13] = p[14] = 0;
	p[15] = 1;
	cr_expect_eq(wire_get_batch(&f, &bt), -1);
}

/* ---- compressed batches ------------------------------------------------------- */

/* A batch of n text-like records (compressible) or random ones. */
static void build_batch(struct util_buf *b, uint32_t n, bool random_data,
			enum wire_comp comp, int level, struct wire_zctx *z,
			size_t *wire_len)
{
	struct wire_batch_writer w;
	char rec[1000];
	uint32_t i;
	size_t k;

	cr_assert_eq(wire_batch_begin(&w, b, 5, 77), 0);
	for (i = 0; i < n; i++) {
		for (k = 0; k < sizeof(rec); k++)
			rec[k] = random_data ? (char)rand() : "the quick brown fox "[(k + i) % 20];
		cr_assert_eq(wire_batch_add(&w, rec, 100 + i % 900), 0);
	}
	cr_assert_eq(wire_batch_end_comp(&w, z, comp, level, wire_len), 0);
}

static void check_records(struct wire_batch *bt, uint32_t n)
{
	const uint8_t *rec;
	uint64_t seq;
	uint32_t i, len;

	cr_expect_eq(bt->con_id, 5);
	cr_expect_eq(bt->count, n);
	for (i = 0; wire_batch_next(bt, &seq, &rec, &len) == 1; i++) {
		cr_assert_eq(seq, 77 + (uint64_t)i);
		cr_assert_eq(len, 100 + i % 900);
	}
	cr_expect_eq(i, n);
}

static void roundtrip(enum wire_comp comp, int level, uint16_t flag)
{
	struct wire_zctx *zs = wire_zctx_new(), *zr = wire_zctx_new();
	struct util_buf b, plain;
	struct wire_reader r;
	struct wire_frame f;
	struct wire_batch bt, bp;
	size_t wl = 0;

	util_buf_init(&b);
	util_buf_init(&plain);
	build_batch(&plain, 500, false, WIRE_COMP_NONE, 0, NULL, NULL);
	build_batch(&b, 500, false, comp, level, zs, &wl);
	cr_expect_eq(wl, b.len);
	cr_expect_lt(b.len * 4, plain.len, "text compressed from %zu to only %zu", plain.len, b.len);
	one_frame(&b, &r, &f);
	cr_assert_eq(f.flags, flag);
	/* Without a context a compressed batch is refused. */
	cr_expect_eq(wire_get_batch(&f, &bt), -1);
	cr_assert_eq(wire_get_batch_z(&f, &bt, zr), 0);
	/* The records inflate to exactly the plain batch's. */
	cr_assert_eq(bt.recs_len, plain.len - WIRE_HDR_LEN - WIRE_BATCH_HDR_LEN);
	cr_expect_eq(memcmp(bt.recs, plain.data + WIRE_HDR_LEN + WIRE_BATCH_HDR_LEN, bt.recs_len), 0);
	check_records(&bt, 500);
	wire_reader_free(&r);
	/* A plain batch decodes with a context too. */
	one_frame(&plain, &r, &f);
	cr_assert_eq(wire_get_batch_z(&f, &bp, zr), 0);
	check_records(&bp, 500);
	wire_reader_free(&r);

	/* Random data does not shrink: sent plain. */
	util_buf_reset(&b);
	build_batch(&b, 200, true, comp, level, zs, &wl);
	one_frame(&b, &r, &f);
	cr_expect_eq(f.flags, 0);
	cr_expect_eq(wl, b.len);
	cr_assert_eq(wire_get_batch_z(&f, &bt, zr), 0);
	check_records(&bt, 200);
	wire_reader_free(&r);
	util_buf_free(&b);
	util_buf_free(&plain);
	wire_zctx_free(zs);
	wire_zctx_free(zr);
}

Test(wire, batch_lz4_roundtrip) { roundtrip(WIRE_COMP_LZ4, 0, WIRE_F_LZ4); }
Test(wire, batch_zstd_roundtrip) { roundtrip(WIRE_COMP_ZSTD, 3, WIRE_F_ZSTD); }
Test(wire, batch_zstd_levels)
{
	roundtrip(WIRE_COMP_ZSTD, WIRE_ZSTD_LEVEL_MIN, WIRE_F_ZSTD);
	roundtrip(WIRE_COMP_ZSTD, WIRE_ZSTD_LEVEL_MAX, WIRE_F_ZSTD);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void refusals(enum wire_comp comp)
{
	struct wire_zctx *z = wire_zctx_new();
	struct util_buf b;
	struct wire_frame f, t;
	struct wire_batch bt;
	uint8_t *p;
	uint32_t raw;
	size_t off = WIRE_HDR_LEN + WIRE_BATCH_HDR_LEN, i;

	util_buf_init(&b);
	build_batch(&b, 300, false, comp, 3, z, NULL);
	p = (uint8_t *)b.data;
	f = (struct wire_frame){ WIRE_VERSION, WIRE_BATCH,
				 comp == WIRE_COMP_LZ4 ? WIRE_F_LZ4 : WIRE_F_ZSTD,
				 (uint32_t)(b.len - WIRE_HDR_LEN), p + WIRE_HDR_LEN };
	cr_assert_eq((p[6] << 8 | p[7]), f.flags);
	cr_assert_eq(wire_get_batch_z(&f, &bt, z), 0);
	raw = get_be32(p + off);
	cr_assert_eq(raw, bt.recs_len);

	/* A bomb: announced size above the limit, refused up front. */
	set_be32(p + off, WIRE_MAX_RAW + 1);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	set_be32(p + off, UINT32_MAX);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	/* Lying lengths: more or less than the data inflates to. */
	set_be32(p + off, raw + 1);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	set_be32(p + off, raw - 1);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	set_be32(p + off, 0);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	set_be32(p + off, raw);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), 0);
	/* The other method's flag: not its format. */
	t = f;
	t.flags = f.flags == WIRE_F_LZ4 ? WIRE_F_ZSTD : WIRE_F_LZ4;
	cr_expect_eq(wire_get_batch_z(&t, &bt, z), -1);
	t.flags = WIRE_F_LZ4 | WIRE_F_ZSTD;
	cr_expect_eq(wire_get_batch_z(&t, &bt, z), -1);
	/* Truncated compressed data, and a trailing byte. */
	t = f;
	for (i = 0; i < 40 && t.len > 20; i++) {
		t.len = f.len - 1 - (uint32_t)i * 7;
		if (t.len < WIRE_BATCH_HDR_LEN)
			break;
		cr_expect_eq(wire_get_batch_z(&t, &bt, z), -1, "cut to %u accepted", t.len);
	}
	/* Garbage instead of compressed data. */
	for (i = off + 4; i < b.len; i++)
		p[i] = (uint8_t)(i * 131 + 7);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	util_buf_free(&b);

	/* Well compressed, but the records inside are malformed (count says
	 * more than there are). */
	util_buf_init(&b);
	build_batch(&b, 300, false, comp, 3, z, NULL);
	p = (uint8_t *)b.data;
	f.len = (uint32_t)(b.len - WIRE_HDR_LEN);
	f.payload = p + WIRE_HDR_LEN;
	set_be32(p + WIRE_HDR_LEN + 12, 301);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	set_be32(p + WIRE_HDR_LEN + 12, 299);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	set_be32(p + WIRE_HDR_LEN + 12, 300);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), 0);
	util_buf_free(&b);
	wire_zctx_free(z);
}

Test(wire, batch_lz4_refusals) { refusals(WIRE_COMP_LZ4); }
Test(wire, batch_zstd_refusals) { refusals(WIRE_COMP_ZSTD); }

Test(wire, batch_zstd_bomb_within_limit_refused)
{
	/* A real zstd frame of 64 MiB of zeros announced as 1000 bytes: the
	 * decoder stops at the announced size. */
	struct wire_zctx *z = wire_zctx_new();
	size_t big = 64u << 20, cap = ZSTD_compressBound(big), n;
	uint8_t *src = util_xcalloc(1, big), *pl = util_xmalloc(cap + 20);
	struct wire_frame f;
	struct wire_batch bt;

	memcpy(pl, "\0\0\0\x01" "\0\0\0\0\0\0\0\x01" "\0\0\0\x01", 16);
	set_be32(pl + 16, 1000);
	n = ZSTD_compress(pl + 20, cap, src, big, 1);
	cr_assert(!ZSTD_isError(n));
	f = (struct wire_frame){ WIRE_VERSION, WIRE_BATCH, WIRE_F_ZSTD, (uint32_t)(n + 20), pl };
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	set_be32(pl + 16, WIRE_MAX_RAW);
	cr_expect_eq(wire_get_batch_z(&f, &bt, z), -1);
	free(src);
	free(pl);
	wire_zctx_free(z);
}

/* ---- handshake --------------------------------------------------------------- */

/* Moves all of out through a fresh reader into rd and returns the next
 * frame; the in-memory "network". */
static int pump(struct util_buf *out, struct wire_reader *rd,
		struct wire_frame *f)
{
	wire_reader_feed(rd, out->data, out->len);
	util_buf_reset(out);
	return wire_reader_next(rd, f);
}

struct side {
	struct wire_auth a;
	struct wire_reader r;
	struct util_buf out;
};

static void side_init(struct side *s)
{
	wire_reader_init(&s->r);
	util_buf_init(&s->out);
}

static void side_free(struct side *s)
{
	wire_reader_free(&s->r);
	util_buf_free(&s->out);
}

#define KEY1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define KEY2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdee"

/* Runs client and server until one side stops; returns the client's and
 * server's last results. */
static void handshake(const char *ckey, const char *skey, int *crc, int *src,
		      struct side *c, struct side *s)
{
	struct wire_frame f;
	int rc, i;

	side_init(c);
	side_init(s);
	cr_assert_eq(wire_auth_client_start(&c->a, (const uint8_t *)ckey,
					    strlen(ckey), "src-host", &c->out), 0);
	cr_assert_eq(wire_auth_server_init(&s->a, (const uint8_t *)skey,
					   strlen(skey), "tgt-host"), 0);
	*crc = *src = 0;
	for (i = 0; i < 4 && *crc == 0; i++) {
		/* client -> server */
		rc = pump(&c->out, &s->r, &f);
		if (rc != 1)
			break;
		*src = wire_auth_on_frame(&s->a, &f, &s->out);
		/* server -> client */
		rc = pump(&s->out, &c->r, &f);
		if (rc != 1)
			break;
		*crc = wire_auth_on_frame(&c->a, &f, &c->out);
		if (*src != 0)
			break;
	}
}

Test(auth, same_key_succeeds)
{
	struct side c, s;
	int crc, src;

	handshake(KEY1, KEY1, &crc, &src, &c, &s);
	cr_expect_eq(src, 1, "server: %s", wire_auth_error(&s.a));
	cr_expect_eq(crc, 1, "client: %s", wire_auth_error(&c.a));
	cr_expect(wire_auth_done(&c.a));
	cr_expect(wire_auth_done(&s.a));
	cr_expect_str_eq(wire_auth_peer_name(&c.a), "tgt-host");
	cr_expect_str_eq(wire_auth_peer_name(&s.a), "src-host");
	cr_expect_eq(c.out.len, 0);
	/* Further frames belong to the agent, not the handshake. */
	cr_expect_eq(wire_auth_on_frame(&s.a, &(struct wire_frame){
		WIRE_VERSION, WIRE_READY, 0, 0, NULL }, &s.out), -1);
	cr_expect_eq(s.out.len, 0);
	wire_auth_clear(&c.a);
	wire_auth_clear(&s.a);
	cr_expect(wire_auth_done(&c.a));
	cr_expect_str_eq(wire_auth_peer_name(&s.a), "src-host");
	side_free(&c);
	side_free(&s);
}

Test(auth, client_detects_wrong_server_key)
{
	struct side c, s;
	struct wire_frame f;
	struct wire_error e;
	int crc, src;

	handshake(KEY1, KEY2, &crc, &src, &c, &s);
	cr_expect_eq(src, 0); /* the server sent its CHALLENGE */
	cr_expect_eq(crc, -1);
	cr_expect_not(wire_auth_done(&c.a));
	cr_expect_not_null(strstr(wire_auth_error(&c.a), "tgt-host"));
	/* The client tells the server, which gives up too. */
	cr_assert_eq(pump(&c.out, &s.r, &f), 1);
	cr_assert_eq(f.type, WIRE_ERROR);
	cr_assert_eq(wire_get_error(&f, &e), 0);
	cr_expect_eq(e.code, WIRE_E_AUTH);
	cr_expect_eq(wire_auth_on_frame(&s.a, &f, &s.out), -1);
	cr_expect_eq(s.out.len, 0, "an ERROR was answered");
	cr_expect_not_null(strstr(wire_auth_error(&s.a), "authentication failed"));
	side_free(&c);
	side_free(&s);
}

/* Our own HMAC of the documented transcript, independent of wire.c. */
static void doc_mac(const char *key, const char *label, const uint8_t *n1,
		    const uint8_t *n2, const char *cname, const char *sname,
		    uint8_t *mac)
{
	struct util_buf t;
	unsigned int len = 0;
	uint8_t l[2];

	util_buf_init(&t);
	util_buf_puts(&t, label);
	util_buf_append(&t, "\x01", 1);
	util_buf_append(&t, n1, WIRE_NONCE_LEN);
	util_buf_append(&t, n2, WIRE_NONCE_LEN);
	l[0] = 0;
	l[1] = (uint8_t)strlen(cname);
	util_buf_append(&t, l, 2);
	util_buf_puts(&t, cname);
	l[1] = (uint8_t)strlen(sname);
	util_buf_append(&t, l, 2);
	util_buf_puts(&t, sname);
	cr_assert_not_null(HMAC(EVP_sha256(), key, (int)strlen(key),
				(const uint8_t *)t.data, t.len, mac, &len));
	cr_assert_eq(len, WIRE_MAC_LEN);
	util_buf_free(&t);
}

/* A client that never checks the server (it cannot: it has the wrong key)
 * answers anyway; the server must refuse it. Also pins the documented
 * transcript layout on both MACs. */
Test(auth, server_detects_wrong_client_key)
{
	struct side s;
	struct wire_frame f;
	struct wire_challenge ch;
	struct wire_error e;
	struct util_buf out;
	uint8_t mac[WIRE_MAC_LEN];

	side_init(&s);
	util_buf_init(&out);
	cr_assert_eq(wire_auth_server_init(&s.a, (const uint8_t *)KEY1,
					   strlen(KEY1), "tgt-host"), 0);
	wire_put_hello(&out, "rogue", NONCE);
	cr_assert_eq(pump(&out, &s.r, &f), 1);
	cr_assert_eq(wire_auth_on_frame(&s.a, &f, &s.out), 0);
	{
		struct wire_reader cr;

		wire_reader_init(&cr);
		cr_assert_eq(pump(&s.out, &cr, &f), 1);
		cr_assert_eq(wire_get_challenge(&f, &ch), 0);
		wire_reader_free(&cr);
	}
	doc_mac(KEY1, "ditto-server", NONCE, ch.nonce, "rogue", "tgt-host", mac);
	cr_expect_arr_eq(mac, ch.mac, WIRE_MAC_LEN, "server MAC differs from the documented one");

	doc_mac(KEY2, "ditto-client", ch.nonce, NONCE, "rogue", "tgt-host", mac);
	wire_put_auth(&out, mac);
	cr_assert_eq(pump(&out, &s.r, &f), 1);
	cr_expect_eq(wire_auth_on_frame(&s.a, &f, &s.out), -1);
	cr_expect_not_null(strstr(wire_auth_error(&s.a), "rogue"));
	cr_expect_not(wire_auth_done(&s.a));
	{
		struct wire_reader cr;

		wire_reader_init(&cr);
		cr_assert_eq(pump(&s.out, &cr, &f), 1);
		cr_assert_eq(wire_get_error(&f, &e), 0);
		cr_expect_eq(e.code, WIRE_E_AUTH);
		wire_reader_free(&cr);
	}
	side_free(&s);
	util_buf_free(&out);
}

/* The same client, with the right key, is accepted: the documented client
 * MAC is what the server checks. */
Test(auth, documented_client_mac_accepted)
{
	struct side s;
	struct wire_frame f;
	struct wire_challenge ch;
	struct util_buf out;
	struct wire_reader cr;
	uint8_t mac[WIRE_MAC_LEN];

	side_init(&s);
	util_buf_init(&out);
	wire_reader_init(&cr);
	wire_auth_server_init(&s.a, (const uint8_t *)KEY1, strlen(KEY1), "t");
	wire_put_hello(&out, "c", NONCE);
	cr_assert_eq(pump(&out, &s.r, &f), 1);
	cr_assert_eq(wire_auth_on_frame(&s.a, &f, &s.out), 0);
	cr_assert_eq(pump(&s.out, &cr, &f), 1);
	cr_assert_eq(wire_get_challenge(&f, &ch), 0);
	doc_mac(KEY1, "ditto-client", ch.nonce, NONCE, "c", "t", mac);
	wire_put_auth(&out, mac);
	cr_assert_eq(pump(&out, &s.r, &f), 1);
	cr_expect_eq(wire_auth_on_frame(&s.a, &f, &s.out), 1,
		     "%s", wire_auth_error(&s.a));
	cr_assert_eq(pump(&s.out, &cr, &f), 1);
	cr_expect_eq(f.type, WIRE_READY);
	wire_reader_free(&cr);
	side_free(&s);
	util_buf_free(&out);
}

/* An eavesdropper records a whole successful session and replays the
 * client's frames to the server later: the new server nonce defeats it. */
Test(auth, replayed_auth_fails)
{
	struct side c, s, s2;
	struct util_buf hello, auth;
	struct wire_frame f;
	int rc;

	util_buf_init(&hello);
	util_buf_init(&auth);
	side_init(&c);
	side_init(&s);
	cr_assert_eq(wire_auth_client_start(&c.a, (const uint8_t *)KEY1,
					    strlen(KEY1), "src", &c.out), 0);
	wire_auth_server_init(&s.a, (const uint8_t *)KEY1, strlen(KEY1), "tgt");
	util_buf_append(&hello, c.out.data, c.out.len);
	cr_assert_eq(pump(&c.out, &s.r, &f), 1);
	cr_assert_eq(wire_auth_on_frame(&s.a, &f, &s.out), 0);
	cr_assert_eq(pump(&s.out, &c.r, &f), 1);
	cr_assert_eq(wire_auth_on_frame(&c.a, &f, &c.out), 0);
	util_buf_append(&auth, c.out.data, c.out.len);
	cr_assert_eq(pump(&c.out, &s.r, &f), 1);
	cr_assert_eq(wire_auth_on_frame(&s.a, &f, &s.out), 1);

	side_init(&s2);
	wire_auth_server_init(&s2.a, (const uint8_t *)KEY1, strlen(KEY1), "tgt");
	cr_assert_eq(pump(&hello, &s2.r, &f), 1);
	cr_assert_eq(wire_auth_on_frame(&s2.a, &f, &s2.out), 0);
	cr_assert_eq(pump(&auth, &s2.r, &f), 1);
	rc = wire_auth_on_frame(&s2.a, &f, &s2.out);
	cr_expect_eq(rc, -1, "replayed AUTH accepted");
	cr_expect_not(wire_auth_done(&s2.a));
	side_free(&c);
	side_free(&s);
	side_free(&s2);
	util_buf_free(&hello);
	util_buf_free(&auth);
}

/* A server's CHALLENGE replayed to a client in a new session is refused. */
Test(auth, replayed_challenge_fails)
{
	struct side c, s, c2;
	struct util_buf challenge;
	struct wire_frame f;

	util_buf_init(&challenge);
	handshake(KEY1, KEY1, &(int){0}, &(int){0}, &c, &s);
	side_free(&c);
	side_free(&s);

	side_init(&c);
	side_init(&s);
	wire_auth_client_start(&c.a, (const uint8_t *)KEY1, strlen(KEY1), "src", &c.out);
	wire_auth_server_init(&s.a, (const uint8_t *)KEY1, strlen(KEY1), "tgt");
	cr_assert_eq(pump(&c.out, &s.r, &f), 1);
	cr_assert_eq(wire_auth_on_frame(&s.a, &f, &s.out), 0);
	util_buf_append(&challenge, s.out.data, s.out.len);

	side_init(&c2);
	wire_auth_client_start(&c2.a, (const uint8_t *)KEY1, strlen(KEY1), "src", &c2.out);
	cr_assert_eq(pump(&challenge, &c2.r, &f), 1);
	cr_expect_eq(wire_auth_on_frame(&c2.a, &f, &c2.out), -1);
	side_free(&c);
	side_free(&s);
	side_free(&c2);
	util_buf_free(&challenge);
}

Test(auth, frames_before_ready_refused)
{
	struct side s, c;
	struct wire_frame f;
	struct wire_error e;
	struct util_buf out;
	struct wire_reader cr;

	util_buf_init(&out);
	/* Server waiting for HELLO gets CONNECT. */
	side_init(&s);
	wire_auth_server_init(&s.a, (const uint8_t *)KEY1, strlen(KEY1), "t");
	wire_put_connect(&out, 1, "rs", "/", 0, 0);
	cr_assert_eq(pump(&out, &s.r, &f), 1);
	cr_expect_eq(wire_auth_on_frame(&s.a, &f, &s.out), -1);
	wire_reader_init(&cr);
	cr_assert_eq(pump(&s.out, &cr, &f), 1);
	cr_assert_eq(wire_get_error(&f, &e), 0);
	cr_expect_eq(e.code, WIRE_E_SEQUENCE);
	wire_reader_free(&cr);
	/* and stays failed */
	wire_put_hello(&out, "c", NONCE);
	cr_assert_eq(pump(&out, &s.r, &f), 1);
	cr_expect_eq(wire_auth_on_frame(&s.a, &f, &s.out), -1);
	side_free(&s);

	/* Server waiting for AUTH gets a second HELLO. */
	side_init(&s);
	wire_auth_server_init(&s.a, (const uint8_t *)KEY1, strlen(KEY1), "t");
	wire_put_hello(&out, "c", NONCE);
	cr_assert_eq(pump(&out, &s.r, &f), 1);
	cr_assert_eq(wire_auth_on_frame(&s.a, &f, &s.out), 0);
	util_buf_reset(&s.out);
	wire_put_hello(&out, "c", NONCE);
	cr_assert_eq(pump(&out, &s.r, &f), 1);
	cr_expect_eq(wire_auth_on_frame(&s.a, &f, &s.out), -1);
	cr_expect_gt(s.out.len, 0);
	side_free(&s);

	/* Client waiting for CHALLENGE gets READY. */
	side_init(&c);
	wire_auth_client_start(&c.a, (const uint8_t *)KEY1, strlen(KEY1), "c", &c.out);
	util_buf_reset(&c.out);
	wire_put_ready(&out);
	cr_assert_eq(pump(&out, &c.r, &f), 1);
	cr_expect_eq(wire_auth_on_frame(&c.a, &f, &c.out), -1);
	cr_expect_not_null(strstr(wire_auth_error(&c.a), "READY"));
	side_free(&c);

	/* Malformed HELLO. */
	side_init(&s);
	wire_auth_server_init(&s.a, (const uint8_t *)KEY1, strlen(KEY1), "t");
	f = (struct wire_frame){ WIRE_VERSION, WIRE_HELLO, 0, 3,
				 (const uint8_t *)"\x01\0\x01" };
	cr_expect_eq(wire_auth_on_frame(&s.a, &f, &s.out), -1);
	cr_expect_eq(s.a.code, WIRE_E_MALFORMED);
	side_free(&s);
	util_buf_free(&out);
}

Test(auth, hello_version_mismatch)
{
	struct side s;
	struct wire_frame f;
	struct wire_error e;
	struct wire_reader cr;
	uint8_t p[1 + 2 + 1 + WIRE_NONCE_LEN];

	p[0] = 9;
	p[1] = 0;
	p[2] = 1;
	p[3] = 'c';
	memcpy(p + 4, NONCE, WIRE_NONCE_LEN);
	side_init(&s);
	wire_auth_server_init(&s.a, (const uint8_t *)KEY1, strlen(KEY1), "t");
	f = (struct wire_frame){ WIRE_VERSION, WIRE_HELLO, 0, sizeof(p), p };
	cr_expect_eq(wire_auth_on_frame(&s.a, &f, &s.out), -1);
	wire_reader_init(&cr);
	cr_assert_eq(pump(&s.out, &cr, &f), 1);
	cr_assert_eq(wire_get_error(&f, &e), 0);
	cr_expect_eq(e.code, WIRE_E_VERSION);
	cr_expect_eq(e.version, WIRE_VERSION);
	cr_expect_not_null(strstr(e.msg, "speaks 1"));
	wire_reader_free(&cr);
	side_free(&s);
}

Test(auth, client_reports_peer_version_error)
{
	struct side c;
	struct wire_frame f;
	uint8_t frame[WIRE_HDR_LEN + 9];

	side_init(&c);
	wire_auth_client_start(&c.a, (const uint8_t *)KEY1, strlen(KEY1), "c", &c.out);
	util_buf_reset(&c.out);
	raw_hdr(frame, WIRE_MAGIC, 2, WIRE_ERROR, 0, 9);
	memcpy(frame + WIRE_HDR_LEN, "\0\0\0\x01\x02\0\x02no", 9);
	cr_assert_eq(feed_next(&c.r, frame, sizeof(frame), &f), 1);
	cr_expect_eq(wire_auth_on_frame(&c.a, &f, &c.out), -1);
	cr_expect_eq(c.out.len, 0);
	cr_expect_not_null(strstr(wire_auth_error(&c.a), "version 2"),
			   "%s", wire_auth_error(&c.a));
	side_free(&c);
}

Test(auth, bad_arguments)
{
	struct wire_auth a;
	struct util_buf out;

	util_buf_init(&out);
	cr_expect_eq(wire_auth_client_start(&a, (const uint8_t *)"", 0, "c", &out), -1);
	cr_expect_eq(wire_auth_server_init(&a, (const uint8_t *)"k", 1, ""), -1);
	cr_expect_eq(wire_auth_server_init(&a, (const uint8_t *)"k", 1, "a\nb"), -1);
	cr_expect_eq(out.len, 0);
	cr_expect_eq(wire_auth_on_frame(&a, &(struct wire_frame){
		WIRE_VERSION, WIRE_READY, 0, 0, NULL }, &out), -1);
	util_buf_free(&out);
}

/* ---- key files ------------------------------------------------------------------ */

static char *tmpfile_with(const char *content, mode_t mode)
{
	char *path = util_xstrdup("/tmp/test_wire_keyXXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(util_write_full(fd, content, strlen(content)), 0);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

Test(key, good_file_trimmed)
{
	char *path = tmpfile_with("  \n" KEY1 "\r\n\n", 0600);
	uint8_t key[WIRE_KEY_MAX];
	size_t len = 99;
	char err[256] = "";

	cr_expect_eq(wire_key_load(path, key, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(len, 64);
	cr_expect_eq(memcmp(key, KEY1, 64), 0);
	unlink(path);
	free(path);
}

Test(key, group_readable_ok)
{
	char *path = tmpfile_with("abc", 0640);
	uint8_t key[WIRE_KEY_MAX];
	size_t len;
	char err[256] = "";

	cr_expect_eq(wire_key_load(path, key, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(len, 3);
	unlink(path);
	free(path);
}

Test(key, empty_refused)
{
	char *path = tmpfile_with(" \n\t\n", 0600);
	char *path2 = tmpfile_with("", 0600);
	uint8_t key[WIRE_KEY_MAX];
	size_t len;
	char err[256] = "";

	cr_expect_eq(wire_key_load(path, key, &len, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "empty"), "%s", err);
	cr_expect_not_null(strstr(err, path));
	cr_expect_eq(len, 0);
	cr_expect_eq(wire_key_load(path2, key, &len, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "empty"), "%s", err);
	unlink(path);
	unlink(path2);
	free(path);
	free(path2);
}

Test(key, world_readable_refused)
{
	char *path = tmpfile_with(KEY1 "\n", 0644);
	uint8_t key[WIRE_KEY_MAX];
	size_t len;
	char err[256] = "";

	cr_expect_eq(wire_key_load(path, key, &len, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "readable by other users"), "%s", err);
	cr_expect_not_null(strstr(err, "0644"), "%s", err);
	cr_expect_not_null(strstr(err, "chmod 600"), "%s", err);
	chmod(path, 0602);
	cr_expect_eq(wire_key_load(path, key, &len, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "writable by other users"), "%s", err);
	unlink(path);
	free(path);
}

Test(key, other_refusals)
{
	uint8_t key[WIRE_KEY_MAX];
	size_t len;
	char err[256] = "";
	char *big = util_xmalloc(WIRE_KEY_MAX + 2);
	char *path;

	cr_expect_eq(wire_key_load("/nonexistent/ditto.key", key, &len, err,
				   sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "/nonexistent/ditto.key"), "%s", err);
	cr_expect_eq(wire_key_load("/tmp", key, &len, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "not a regular file"), "%s", err);

	memset(big, 'k', WIRE_KEY_MAX + 1);
	big[WIRE_KEY_MAX + 1] = '\0';
	path = tmpfile_with(big, 0600);
	cr_expect_eq(wire_key_load(path, key, &len, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "longer"), "%s", err);
	unlink(path);
	free(path);
	big[WIRE_KEY_MAX] = '\0';
	path = tmpfile_with(big, 0600);
	cr_expect_eq(wire_key_load(path, key, &len, NULL, 0), 0);
	cr_expect_eq(len, WIRE_KEY_MAX);
	unlink(path);
	free(path);

	path = tmpfile_with("abc\x01" "def", 0600);
	cr_expect_eq(wire_key_load(path, key, &len, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "control"), "%s", err);
	unlink(path);
	free(path);
	free(big);
}

Test(key, create_then_load)
{
	char dir[] = "/tmp/test_wire_dirXXXXXX";
	char *path;
	uint8_t key[WIRE_KEY_MAX];
	size_t len, i;
	char err[256] = "";
	struct stat st;

	cr_assert_not_null(mkdtemp(dir));
	path = util_xasprintf("%s/peer.key", dir);
	cr_assert_eq(wire_key_create(path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0077, 0);
	cr_expect_eq(st.st_size, 65);
	cr_assert_eq(wire_key_load(path, key, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(len, 64);
	for (i = 0; i < len; i++)
		cr_expect(strchr("0123456789abcdef", key[i]) != NULL);
	cr_expect_eq(wire_key_create(path, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "exists"), "%s", err);
	unlink(path);
	rmdir(dir);
	free(path);
}

/* ---- names ------------------------------------------------------------------------ */

Test(wire, names)
{
	cr_expect_str_eq(wire_type_name(WIRE_BATCH), "BATCH");
	cr_expect_str_eq(wire_type_name(0), "?");
	cr_expect_str_eq(wire_strerror(WIRE_E_AUTH), "authentication failed");
	cr_expect_str_eq(wire_strerror(12345), "unknown error");
}

/* A REPORT names an orphan or lists ranges; what cannot fit one control
 * frame, or says something unknown, is refused on both ends. */
Test(wire, report_limits)
{
	static struct wire_report r;
	struct util_buf b;
	struct wire_reader rd;
	struct wire_frame f;

	util_buf_init(&b);
	memset(&r, 0, sizeof(r));
	r.con_id = 3;
	r.seq = 9;
	r.what = WIRE_DIFF_ORPHAN;
	memset(r.path, 'p', WIRE_PATH_MAX);
	cr_assert_eq(wire_put_report(&b, &r), 0, "longest path alone fits");
	r.nranges = WIRE_REPORT_RANGES;
	cr_expect_lt(wire_put_report(&b, &r), 0, "a long path and many ranges");
	r.path[0] = '\0';
	cr_expect_eq(wire_put_report(&b, &r), 0, "many ranges alone fit");
	r.nranges = WIRE_REPORT_RANGES + 1;
	cr_expect_lt(wire_put_report(&b, &r), 0);
	r.nranges = 0;
	r.what = 0x100;
	cr_expect_lt(wire_put_report(&b, &r), 0, "unknown bit");
	r.what = 0;
	r.seq = 0;
	cr_expect_lt(wire_put_report(&b, &r), 0, "seq 0");
	wire_reader_init(&rd);
	wire_reader_feed(&rd, b.data, b.len);
	cr_assert_eq(wire_reader_next(&rd, &f), 1, "%s", wire_reader_error(&rd));
	cr_expect_eq(wire_get_report(&f, &r), 0);
	cr_expect_eq(strlen(r.path), WIRE_PATH_MAX);
	cr_assert_eq(wire_reader_next(&rd, &f), 1, "%s", wire_reader_error(&rd));
	cr_expect_eq(wire_get_report(&f, &r), 0);
	cr_expect_eq(r.nranges, WIRE_REPORT_RANGES);
	/* Forged: a count above the limit. */
	{
		static uint8_t raw[WIRE_MAX_CONTROL + 16];
		struct wire_frame g = f;

		cr_assert_eq(f.len, WIRE_REPORT_FIXED + 16 * WIRE_REPORT_RANGES);
		memcpy(raw, f.payload, f.len);
		g.payload = raw;
		cr_expect_eq(wire_get_report(&g, &r), 0);
		/* u32 n follows the empty path; 16 more bytes make the frame
		 * consistent with the forged count. */
		raw[50] = (uint8_t)((WIRE_REPORT_RANGES + 1) & 0xff);
		raw[51] = (uint8_t)((WIRE_REPORT_RANGES + 1) >> 8);
		g.len = f.len + 16;
		cr_expect_lt(wire_get_report(&g, &r), 0);
	}
	wire_reader_free(&rd);
	util_buf_free(&b);
}

/* TSTATUS has one valid encoding: OK carries neither an op nor a message,
 * RETRYING names its op; other states and con_id 0 are refused both ways. */
static int tstatus_raw(uint32_t con_id, uint32_t state, uint64_t seq, const char *msg)
{
	uint8_t p[64];
	size_t n = strlen(msg), i;
	struct wire_frame f = { .version = WIRE_VERSION, .type = WIRE_TSTATUS, .payload = p };
	struct wire_tstatus ts;

	cr_assert_leq(n, sizeof(p) - 18);
	for (i = 0; i < 4; i++) {
		p[i] = (uint8_t)(con_id >> (24 - 8 * i));
		p[4 + i] = (uint8_t)(state >> (24 - 8 * i));
	}
	for (i = 0; i < 8; i++)
		p[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
	p[16] = (uint8_t)(n >> 8);
	p[17] = (uint8_t)n;
	memcpy(p + 18, msg, n);
	f.len = (uint32_t)(18 + n);
	return wire_get_tstatus(&f, &ts);
}

Test(wire, tstatus_states)
{
	struct util_buf b;
	struct wire_reader r;
	struct wire_frame f;
	struct wire_tstatus ts;

	util_buf_init(&b);
	cr_assert_eq(wire_put_tstatus(&b, 3, WIRE_TSTATUS_OK, 0, NULL), 0);
	cr_assert_eq(wire_put_tstatus(&b, 3, WIRE_TSTATUS_RETRYING, 1, "a\tb"), 0);
	cr_expect_eq(wire_put_tstatus(&b, 0, WIRE_TSTATUS_OK, 0, ""), -1);
	cr_expect_eq(wire_put_tstatus(&b, 3, WIRE_TSTATUS_OK, 5, ""), -1);
	cr_expect_eq(wire_put_tstatus(&b, 3, WIRE_TSTATUS_OK, 0, "why"), -1);
	cr_expect_eq(wire_put_tstatus(&b, 3, WIRE_TSTATUS_RETRYING, 0, "why"), -1);
	cr_expect_eq(wire_put_tstatus(&b, 3, 2, 5, "why"), -1);
	wire_reader_init(&r);
	wire_reader_feed(&r, b.data, b.len);
	cr_assert_eq(wire_reader_next(&r, &f), 1);
	cr_assert_eq(wire_get_tstatus(&f, &ts), 0);
	cr_expect_eq(ts.con_id, 3);
	cr_expect_eq(ts.state, WIRE_TSTATUS_OK);
	cr_expect_eq(ts.seq, 0);
	cr_expect_str_eq(ts.msg, "");
	cr_assert_eq(wire_reader_next(&r, &f), 1);
	cr_assert_eq(wire_get_tstatus(&f, &ts), 0);
	cr_expect_eq(ts.state, WIRE_TSTATUS_RETRYING);
	cr_expect_eq(ts.seq, 1);
	cr_expect_str_eq(ts.msg, "a b", "control characters are replaced");
	cr_expect_eq(wire_reader_next(&r, &f), 0, "a refused frame left bytes behind");
	wire_reader_free(&r);
	util_buf_free(&b);

	cr_expect_eq(tstatus_raw(3, WIRE_TSTATUS_RETRYING, 9, "full"), 0);
	cr_expect_eq(tstatus_raw(3, WIRE_TSTATUS_OK, 0, ""), 0);
	cr_expect_eq(tstatus_raw(0, WIRE_TSTATUS_RETRYING, 9, "full"), -1);
	cr_expect_eq(tstatus_raw(3, 2, 9, "full"), -1);
	cr_expect_eq(tstatus_raw(3, WIRE_TSTATUS_RETRYING, 0, "full"), -1);
	cr_expect_eq(tstatus_raw(3, WIRE_TSTATUS_OK, 9, ""), -1);
	cr_expect_eq(tstatus_raw(3, WIRE_TSTATUS_OK, 0, "full"), -1);
	cr_expect_eq(tstatus_raw(3, WIRE_TSTATUS_RETRYING, 9, "a\nb"), -1);
}
