#include "config.h"

#include "heartbeat.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* ---- helpers -------------------------------------------------------------- */

static const uint8_t KEY[] = "0123456789abcdef0123456789abcdef";
#define KEYLEN (sizeof(KEY) - 1)

/* Builds a packet straight from the format description, independently of
 * hb_encode: any header value, any name bytes, a correct MAC under label. */
static size_t raw_packet(uint8_t *p, uint8_t version, uint8_t type,
			 uint16_t namelen, const void *name, size_t namebytes,
			 uint64_t nonce, uint64_t seq, const char *label)
{
	uint8_t t[1024];
	unsigned int mlen = 0;
	size_t n = 0, l = strlen(label);
	int i;

	memcpy(p, "DTHB", 4);
	p[4] = version;
	p[5] = type;
	p[6] = (uint8_t)(namelen >> 8);
	p[7] = (uint8_t)namelen;
	n = 8;
	memcpy(p + n, name, namebytes);
	n += namebytes;
	for (i = 0; i < 8; i++)
		p[n++] = (uint8_t)(nonce >> (56 - 8 * i));
	for (i = 0; i < 8; i++)
		p[n++] = (uint8_t)(seq >> (56 - 8 * i));
	cr_assert_leq(l + n, sizeof(t));
	memcpy(t, label, l);
	memcpy(t + l, p, n);
	cr_assert_not_null(HMAC(EVP_sha256(), KEY, (int)KEYLEN, t, l + n,
				p + n, &mlen));
	cr_assert_eq(mlen, 32);
	return n + 32;
}

static int encode(uint8_t *buf, enum hb_type type, const char *name,
		  uint64_t nonce, uint64_t seq)
{
	return hb_encode(buf, HB_PACKET_MAX, type, name, nonce, seq, KEY, KEYLEN);
}

static void expect_reject(const uint8_t *p, size_t len, const char *want_why)
{
	struct hb_msg m;
	const char *why = NULL;

	memset(&m, 0xa5, sizeof(m));
	cr_assert_eq(hb_decode(p, len, KEY, KEYLEN, &m, &why), -1);
	cr_assert_not_null(why);
	if (want_why)
		cr_assert_str_eq(why, want_why);
	/* A refused packet leaves nothing behind in out. */
	cr_assert_eq(((uint8_t *)&m)[0], 0xa5);
	cr_assert_eq(m.nonce, 0xa5a5a5a5a5a5a5a5ull);
}

/* Decodes a response from peer echoing nonce, as the requester would see it. */
static struct hb_msg response(const char *peer, uint64_t nonce)
{
	uint8_t buf[HB_PACKET_MAX];
	struct hb_msg m;
	int len = encode(buf, HB_RESPONSE, peer, nonce, 99);

	cr_assert_gt(len, 0);
	cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, &m, NULL), 0);
	return m;
}

/* The nonce a request packet carries. */
static uint64_t nonce_of(const uint8_t *buf, int len)
{
	struct hb_msg m;
	const char *why = NULL;

	cr_assert_gt(len, 0);
	cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, &m, &why), 0,
		     "%s", why);
	cr_assert_eq(m.type, HB_REQUEST);
	return m.nonce;
}

/* ---- codec ---------------------------------------------------------------- */

Test(heartbeat, round_trip_both_types)
{
	static const enum hb_type types[] = { HB_REQUEST, HB_RESPONSE };
	uint8_t buf[HB_PACKET_MAX];
	struct hb_msg m;
	const char *why = NULL;
	size_t i;

	for (i = 0; i < 2; i++) {
		int len = encode(buf, types[i], "source-1.example", 0x0102030405060708ull,
				 0xfffffffffffffffeull);

		cr_assert_eq(len, 56 + 16);
		memset(&m, 0, sizeof(m));
		cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, &m, &why), 0,
			     "%s", why);
		cr_assert_null(why);
		cr_assert_eq(m.type, types[i]);
		cr_assert_str_eq(m.name, "source-1.example");
		cr_assert_eq(m.nonce, 0x0102030405060708ull);
		cr_assert_eq(m.seq, 0xfffffffffffffffeull);
	}
	/* why may be NULL, out too (validation only). */
	cr_assert_eq(hb_decode(buf, 72, KEY, KEYLEN, NULL, NULL), 0);
	cr_assert_eq(hb_decode(buf, 71, KEY, KEYLEN, &m, NULL), -1);
}

Test(heartbeat, layout_matches_spec)
{
	uint8_t a[HB_PACKET_MAX], b[HB_PACKET_MAX];
	size_t n;
	int len;

	len = encode(a, HB_REQUEST, "tgt", 0x1122334455667788ull, 7);
	n = raw_packet(b, 1, 1, 3, "tgt", 3, 0x1122334455667788ull, 7,
		       "ditto-hb-request");
	cr_assert_eq((size_t)len, n);
	cr_assert_arr_eq(a, b, n);
	len = encode(a, HB_RESPONSE, "src", 1, 0);
	n = raw_packet(b, 1, 2, 3, "src", 3, 1, 0, "ditto-hb-response");
	cr_assert_eq((size_t)len, n);
	cr_assert_arr_eq(a, b, n);
}

Test(heartbeat, every_bit_flip_rejected)
{
	uint8_t buf[HB_PACKET_MAX];
	int len = encode(buf, HB_RESPONSE, "flip-me", 42, 43);
	size_t i;
	int bit;

	cr_assert_gt(len, 0);
	for (i = 0; i < (size_t)len; i++) {
		for (bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, NULL,
					       NULL), -1,
				     "byte %zu bit %d flipped still decodes", i, bit);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, NULL, NULL), 0);
}

Test(heartbeat, truncation_and_extension_rejected)
{
	uint8_t buf[HB_PACKET_MAX + 1];
	int len = encode(buf, HB_REQUEST, "trunc", 5, 6);
	size_t i;

	cr_assert_gt(len, 0);
	for (i = 0; i < (size_t)len; i++) {
		/* Exactly i bytes on the heap so ASan sees any over-read. */
		uint8_t *p = malloc(i ? i : 1);

		memcpy(p, buf, i);
		expect_reject(p, i, NULL);
		free(p);
	}
	buf[len] = 0;
	expect_reject(buf, (size_t)len + 1, "trailing bytes after packet");
	expect_reject(buf, (size_t)len - 1, "packet truncated");
	expect_reject(buf, 7, "packet too short");
}

Test(heartbeat, wrong_key_rejected)
{
	uint8_t buf[HB_PACKET_MAX];
	uint8_t other[KEYLEN];
	const char *why = NULL;
	int len = encode(buf, HB_RESPONSE, "keyed", 1, 1);

	memcpy(other, KEY, KEYLEN);
	other[KEYLEN - 1] ^= 1;
	cr_assert_eq(hb_decode(buf, (size_t)len, other, KEYLEN, NULL, &why), -1);
	cr_assert_str_eq(why, "bad MAC");
	cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN - 1, NULL, &why), -1);
	cr_assert_str_eq(why, "bad MAC");
	cr_assert_eq(hb_decode(buf, (size_t)len, KEY, 0, NULL, &why), -1);
	cr_assert_eq(hb_decode(buf, (size_t)len, NULL, KEYLEN, NULL, &why), -1);
	cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, NULL, &why), 0);
}

Test(heartbeat, request_not_reflectable_as_response)
{
	uint8_t buf[HB_PACKET_MAX];
	const char *why = NULL;
	int len = encode(buf, HB_REQUEST, "target", 77, 1);

	cr_assert_eq(buf[5], HB_REQUEST);
	buf[5] = HB_RESPONSE;
	cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, NULL, &why), -1);
	cr_assert_str_eq(why, "bad MAC");
	/* And the other way round. */
	len = encode(buf, HB_RESPONSE, "source", 77, 1);
	buf[5] = HB_REQUEST;
	cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, NULL, &why), -1);
	cr_assert_str_eq(why, "bad MAC");
}

Test(heartbeat, name_length_limits)
{
	uint8_t buf[HB_PACKET_MAX], raw[HB_PACKET_MAX + 64];
	char name[HB_NAME_MAX + 2];
	struct hb_msg m;
	size_t n;
	int len;

	/* Encoder: 0 and 256 refused, 1 and 255 fine. */
	errno = 0;
	cr_assert_eq(encode(buf, HB_REQUEST, "", 1, 1), -1);
	cr_assert_eq(errno, EINVAL);
	memset(name, 'n', HB_NAME_MAX + 1);
	name[HB_NAME_MAX + 1] = '\0';
	errno = 0;
	cr_assert_eq(encode(buf, HB_REQUEST, name, 1, 1), -1);
	cr_assert_eq(errno, EINVAL);
	name[HB_NAME_MAX] = '\0';
	len = encode(buf, HB_RESPONSE, name, 1, 1);
	cr_assert_eq(len, 56 + HB_NAME_MAX);
	cr_assert_leq(len, HB_PACKET_MAX);
	cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, &m, NULL), 0);
	cr_assert_str_eq(m.name, name);
	cr_assert_eq(encode(buf, HB_RESPONSE, "x", 1, 1), 57);
	cr_assert_eq(hb_decode(buf, 57, KEY, KEYLEN, &m, NULL), 0);
	cr_assert_str_eq(m.name, "x");

	/* Decoder, from hand-built packets with a correct MAC. */
	n = raw_packet(raw, 1, 2, 0, "", 0, 1, 1, "ditto-hb-response");
	expect_reject(raw, n, "bad name length");
	memset(name, 'n', HB_NAME_MAX + 1);
	n = raw_packet(raw, 1, 2, 256, name, 256, 1, 1, "ditto-hb-response");
	expect_reject(raw, n, "bad name length");
	n = raw_packet(raw, 1, 2, 255, name, 255, 1, 1, "ditto-hb-response");
	cr_assert_eq(hb_decode(raw, n, KEY, KEYLEN, &m, NULL), 0);
	cr_assert_eq(strlen(m.name), 255);
	/* A length field that disagrees with the bytes. */
	n = raw_packet(raw, 1, 2, 4, "abc", 3, 1, 1, "ditto-hb-response");
	expect_reject(raw, n, "packet truncated");
	n = raw_packet(raw, 1, 2, 2, "abc", 3, 1, 1, "ditto-hb-response");
	expect_reject(raw, n, "trailing bytes after packet");
}

Test(heartbeat, control_bytes_in_name_rejected)
{
	static const char *bad[] = { "a\nb", "tab\there", "esc\033[1m", "del\x7f" };
	uint8_t buf[HB_PACKET_MAX];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_assert_eq(encode(buf, HB_REQUEST, bad[i], 1, 1), -1);
		cr_assert_eq(errno, EINVAL);
		n = raw_packet(buf, 1, 1, (uint16_t)strlen(bad[i]), bad[i],
			       strlen(bad[i]), 1, 1, "ditto-hb-request");
		expect_reject(buf, n, "control character in name");
	}
	/* An embedded NUL would cut the name short. */
	n = raw_packet(buf, 1, 1, 3, "a\0b", 3, 1, 1, "ditto-hb-request");
	expect_reject(buf, n, "control character in name");
	/* UTF-8 is fine. */
	cr_assert_gt(encode(buf, HB_REQUEST, "s\xc3\xbcd", 1, 1), 0);
}

Test(heartbeat, versions_types_magic)
{
	uint8_t buf[HB_PACKET_MAX];
	char want[64];
	unsigned v;
	size_t n;

	for (v = 0; v < 256; v++) {
		if (v == HB_VERSION)
			continue;
		n = raw_packet(buf, (uint8_t)v, 1, 2, "hb", 2, 1, 1,
			       "ditto-hb-request");
		snprintf(want, sizeof(want), "version %u not spoken", v);
		expect_reject(buf, n, want);
	}
	/* Version is judged before the rest: a short v2 packet still says so. */
	expect_reject((const uint8_t *)"DTHB\x02\x01\x00\x05", 8,
		      "version 2 not spoken");
	n = raw_packet(buf, 1, 0, 2, "hb", 2, 1, 1, "ditto-hb-request");
	expect_reject(buf, n, "unknown message type");
	n = raw_packet(buf, 1, 5, 2, "hb", 2, 1, 1, "ditto-hb-response");
	expect_reject(buf, n, "unknown message type");
	n = raw_packet(buf, 1, 1, 2, "hb", 2, 1, 1, "ditto-hb-request");
	cr_assert_eq(hb_decode(buf, n, KEY, KEYLEN, NULL, NULL), 0);
	buf[0] = 'X';
	expect_reject(buf, n, "not a heartbeat packet");
	errno = 0;
	cr_assert_eq(hb_encode(buf, sizeof(buf), (enum hb_type)3, "hb", 1, 1, KEY,
			       KEYLEN), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(hb_encode(buf, sizeof(buf), HB_REQUEST, "hb", 1, 1, KEY, 0), -1);
	cr_assert_eq(errno, EINVAL);
}

Test(heartbeat, encode_capacity)
{
	uint8_t buf[HB_PACKET_MAX];

	memset(buf, 0xee, sizeof(buf));
	errno = 0;
	cr_assert_eq(hb_encode(buf, 57, HB_REQUEST, "ab", 1, 1, KEY, KEYLEN), -1);
	cr_assert_eq(errno, ENOSPC);
	cr_assert_eq(hb_encode(buf, 58, HB_REQUEST, "ab", 1, 1, KEY, KEYLEN), 58);
	cr_assert_eq(buf[58], 0xee, "wrote past the packet");
}

/* Random bytes must never decode, whether pure junk or junk behind a
 * plausible header (so only the MAC stands in the way). */
Test(heartbeat, random_garbage_never_decodes)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t buf[HB_PACKET_MAX];
	int it;

	for (it = 0; it < 10000; it++) {
		size_t len, i, n;
		uint8_t *p;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = x % (HB_PACKET_MAX + 1);
		for (i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)(x >> 24);
		}
		if (it % 2 && len >= 57) {
			n = len - 56;
			if (n > HB_NAME_MAX)
				n = HB_NAME_MAX;
			len = 56 + n;
			memcpy(buf, "DTHB", 4);
			buf[4] = HB_VERSION;
			buf[5] = (uint8_t)(1 + (x & 1));
			buf[6] = (uint8_t)(n >> 8);
			buf[7] = (uint8_t)n;
			for (i = 0; i < n; i++)
				buf[8 + i] = (uint8_t)('a' + buf[8 + i] % 26);
		}
		p = malloc(len ? len : 1);
		memcpy(p, buf, len);
		expect_reject(p, len, NULL);
		free(p);
	}
}

/* ---- watch ---------------------------------------------------------------- */

Test(heartbeat, watch_request_fields)
{
	struct hb_watch w;
	uint8_t buf[HB_PACKET_MAX];
	struct hb_msg m;
	int i, len;

	hb_watch_init(&w, "src", 1000);
	cr_assert_str_eq(w.peer, "src");
	cr_assert_eq(w.last_ok_ms, 1000);
	cr_assert(!w.ever_ok);
	for (i = 1; i <= 3; i++) {
		len = hb_watch_request(&w, buf, sizeof(buf), "tgt", KEY, KEYLEN);
		cr_assert_eq(hb_decode(buf, (size_t)len, KEY, KEYLEN, &m, NULL), 0);
		cr_assert_eq(m.type, HB_REQUEST);
		cr_assert_str_eq(m.name, "tgt");
		cr_assert_neq(m.nonce, 0);
		cr_assert_eq(m.seq, (uint64_t)i);
		cr_assert_eq(w.requests, (uint64_t)i);
	}
	/* A failed request changes nothing. */
	errno = 0;
	cr_assert_eq(hb_watch_request(&w, buf, 10, "tgt", KEY, KEYLEN), -1);
	cr_assert_eq(errno, ENOSPC);
	cr_assert_eq(hb_watch_request(&w, buf, sizeof(buf), "", KEY, KEYLEN), -1);
	cr_assert_eq(w.requests, 3);
	cr_assert_eq(w.seq, 3);
	cr_assert_eq(w.next, 3);
	cr_assert_eq(w.nonces[3], 0);
}

Test(heartbeat, watch_accepts_once_then_replay_rejected)
{
	struct hb_watch w;
	uint8_t buf[HB_PACKET_MAX];
	struct hb_msg m;
	uint64_t nonce;

	hb_watch_init(&w, "src", 1000);
	nonce = nonce_of(buf, hb_watch_request(&w, buf, sizeof(buf), "tgt", KEY,
					       KEYLEN));
	m = response("src", nonce);
	cr_assert(hb_watch_response(&w, &m, 1500));
	cr_assert_eq(w.last_ok_ms, 1500);
	cr_assert(w.ever_ok);
	cr_assert_eq(w.responses, 1);
	cr_assert_eq(w.rejected, 0);
	/* The same packet again. */
	cr_assert(!hb_watch_response(&w, &m, 1600));
	cr_assert_eq(w.last_ok_ms, 1500);
	cr_assert_eq(w.responses, 1);
	cr_assert_eq(w.rejected, 1);
}

Test(heartbeat, watch_rejects_unknown_nonce_and_other_peer)
{
	struct hb_watch w;
	uint8_t buf[HB_PACKET_MAX];
	struct hb_msg m;
	uint64_t nonce;

	hb_watch_init(&w, "src", 0);
	nonce = nonce_of(buf, hb_watch_request(&w, buf, sizeof(buf), "tgt", KEY,
					       KEYLEN));
	m = response("src", nonce + 1);
	cr_assert(!hb_watch_response(&w, &m, 10));
	cr_assert_eq(w.rejected, 1);
	/* Free slots hold 0: a response with nonce 0 must not match them. */
	m = response("src", 0);
	cr_assert(!hb_watch_response(&w, &m, 10));
	cr_assert_eq(w.rejected, 2);
	/* Right nonce, wrong sender (also a prefix and a case variant). */
	m = response("other", nonce);
	cr_assert(!hb_watch_response(&w, &m, 10));
	m = response("sr", nonce);
	cr_assert(!hb_watch_response(&w, &m, 10));
	m = response("SRC", nonce);
	cr_assert(!hb_watch_response(&w, &m, 10));
	cr_assert_eq(w.rejected, 5);
	/* A request, even ours reflected back with the right name: not ours to
	 * judge, no counter moves. */
	cr_assert_eq(hb_decode(buf, (size_t)(56 + 3), KEY, KEYLEN, &m, NULL), 0);
	strcpy(m.name, "src");
	cr_assert(!hb_watch_response(&w, &m, 10));
	cr_assert_eq(w.rejected, 5);
	/* An unknown type counts as rejected. */
	m = response("src", nonce);
	m.type = (enum hb_type)7;
	cr_assert(!hb_watch_response(&w, &m, 10));
	cr_assert_eq(w.rejected, 6);
	cr_assert_eq(w.responses, 0);
	cr_assert(!w.ever_ok);
	cr_assert_eq(w.last_ok_ms, 0);
	/* The genuine one still counts after all that. */
	m = response("src", nonce);
	cr_assert(hb_watch_response(&w, &m, 10));
	cr_assert_eq(w.last_ok_ms, 10);
}

Test(heartbeat, watch_ring_forgets_oldest)
{
	struct hb_watch w;
	uint8_t buf[HB_PACKET_MAX];
	uint64_t nonces[HB_OUTSTANDING + 1];
	struct hb_msg m;
	int i;

	hb_watch_init(&w, "src", 0);
	for (i = 0; i < HB_OUTSTANDING + 1; i++)
		nonces[i] = nonce_of(buf, hb_watch_request(&w, buf, sizeof(buf),
							   "tgt", KEY, KEYLEN));
	m = response("src", nonces[0]);
	cr_assert(!hb_watch_response(&w, &m, 5), "oldest request still remembered");
	cr_assert_eq(w.rejected, 1);
	/* Answered out of order, each of the last 16 counts exactly once. */
	for (i = HB_OUTSTANDING; i >= 1; i--) {
		m = response("src", nonces[i]);
		cr_assert(hb_watch_response(&w, &m, 100 + (uint64_t)i), "request %d", i);
		cr_assert(!hb_watch_response(&w, &m, 200));
	}
	cr_assert_eq(w.responses, HB_OUTSTANDING);
	cr_assert_eq(w.rejected, 1 + HB_OUTSTANDING);
	cr_assert_eq(w.last_ok_ms, 101);
	for (i = 0; i < HB_OUTSTANDING; i++)
		cr_assert_eq(w.nonces[i], 0);
}

/* ---- time to fail and colours ------------------------------------------- */

Test(heartbeat, time_to_fail)
{
	struct hb_watch w;
	uint8_t buf[HB_PACKET_MAX];
	struct hb_msg m;

	hb_watch_init(&w, "src", 10000);
	cr_assert_eq(hb_watch_time_to_fail(&w, 10000, 1000, 4), 4000);
	cr_assert_eq(hb_watch_time_to_fail(&w, 12500, 1000, 4), 1500);
	cr_assert_eq(hb_watch_time_to_fail(&w, 13999, 1000, 4), 1);
	cr_assert_eq(hb_watch_time_to_fail(&w, 14000, 1000, 4), 0);
	cr_assert_eq(hb_watch_time_to_fail(&w, 99999, 1000, 4), 0);
	cr_assert_eq(hb_watch_time_to_fail(&w, 10000, 0, 4), 0);
	cr_assert_eq(hb_watch_time_to_fail(&w, 10000, 1000, 0), 0);
	/* A response resets the countdown. */
	m = response("src", nonce_of(buf, hb_watch_request(&w, buf, sizeof(buf),
							    "tgt", KEY, KEYLEN)));
	cr_assert(hb_watch_response(&w, &m, 13000));
	cr_assert_eq(hb_watch_time_to_fail(&w, 13000, 1000, 4), 4000);
	cr_assert_eq(hb_watch_time_to_fail(&w, 14000, 1000, 4), 3000);
	/* No overflow at the extremes. */
	cr_assert_eq(hb_watch_time_to_fail(&w, 0, UINT32_MAX, UINT32_MAX),
		     13000 + (uint64_t)UINT32_MAX * UINT32_MAX);
	w.last_ok_ms = UINT64_MAX - 5;
	cr_assert_eq(hb_watch_time_to_fail(&w, UINT64_MAX - 10, 1000, 3), 10);
	cr_assert_eq(hb_watch_time_to_fail(&w, UINT64_MAX, 1000, 3), 0);
}

Test(heartbeat, colours_at_boundaries)
{
	struct hb_watch w;
	const uint32_t iv = 1000, missed = 4; /* timeout 4000 ms */

	hb_watch_init(&w, "src", 0);
	/* 0 % elapsed */
	cr_assert_eq(hb_color_of(hb_watch_time_to_fail(&w, 0, iv, missed), iv,
				 missed), HB_GREEN);
	/* 24 % and just under 25 % */
	cr_assert_eq(hb_color_of(hb_watch_time_to_fail(&w, 960, iv, missed), iv,
				 missed), HB_GREEN);
	cr_assert_eq(hb_color_of(hb_watch_time_to_fail(&w, 999, iv, missed), iv,
				 missed), HB_GREEN);
	/* 25 % */
	cr_assert_eq(hb_color_of(hb_watch_time_to_fail(&w, 1000, iv, missed), iv,
				 missed), HB_YELLOW);
	/* just before and at 100 % */
	cr_assert_eq(hb_color_of(hb_watch_time_to_fail(&w, 3999, iv, missed), iv,
				 missed), HB_YELLOW);
	cr_assert_eq(hb_color_of(hb_watch_time_to_fail(&w, 4000, iv, missed), iv,
				 missed), HB_RED);
	cr_assert_eq(hb_color_of(hb_watch_time_to_fail(&w, 9000, iv, missed), iv,
				 missed), HB_RED);
	/* A timeout not divisible by 4: 25 % of 10 ms is 2.5 ms. */
	cr_assert_eq(hb_color_of(8, 5, 2), HB_GREEN);  /* 2 ms = 20 % */
	cr_assert_eq(hb_color_of(7, 5, 2), HB_YELLOW); /* 3 ms = 30 % */
	cr_assert_eq(hb_color_of(300, 100, 3), HB_GREEN);
	cr_assert_eq(hb_color_of(226, 100, 3), HB_GREEN);  /* 74 ms */
	cr_assert_eq(hb_color_of(225, 100, 3), HB_YELLOW); /* 75 ms = 25 % */
	cr_assert_eq(hb_color_of(1, 100, 3), HB_YELLOW);
	cr_assert_eq(hb_color_of(0, 100, 3), HB_RED);
	/* Huge timeouts must not overflow the 25 % test. */
	cr_assert_eq(hb_color_of((uint64_t)UINT32_MAX * UINT32_MAX, UINT32_MAX,
				 UINT32_MAX), HB_GREEN);
	cr_assert_eq(hb_color_of((uint64_t)UINT32_MAX * UINT32_MAX / 4 * 3 + 1,
				 UINT32_MAX, UINT32_MAX), HB_GREEN);
	cr_assert_eq(hb_color_of((uint64_t)UINT32_MAX * UINT32_MAX / 4 * 3 - 10,
				 UINT32_MAX, UINT32_MAX), HB_YELLOW);
	/* A zero timeout fails at once. */
	cr_assert_eq(hb_color_of(0, 0, 3), HB_RED);
	cr_assert_str_eq(hb_color_name(HB_GREEN), "green");
	cr_assert_str_eq(hb_color_name(HB_YELLOW), "yellow");
	cr_assert_str_eq(hb_color_name(HB_RED), "red");
	cr_assert_str_eq(hb_color_name((enum hb_color)9), "?");
}

/* HB_RUN carries a path; each kind has its own MAC label. */
Test(heartbeat, run_carries_a_path_and_its_own_label)
{
	uint8_t buf[HB_PACKET_MAX];
	struct hb_msg m;
	char longp[HB_PATH_MAX + 2];
	int n;

	n = hb_encode_run(buf, sizeof(buf), "tgt", 77, 3, "/etc/ditto/scripts/back", KEY, KEYLEN);
	cr_assert_gt(n, 0);
	cr_assert_eq(hb_decode(buf, (size_t)n, KEY, KEYLEN, &m, NULL), 0);
	cr_assert_eq(m.type, HB_RUN);
	cr_assert_str_eq(m.name, "tgt");
	cr_assert_eq(m.nonce, 77u);
	cr_assert_str_eq(m.path, "/etc/ditto/scripts/back");
	/* As another kind it does not verify. */
	buf[5] = HB_RUN_ACK;
	cr_assert_eq(hb_decode(buf, (size_t)n, KEY, KEYLEN, &m, NULL), -1);
	buf[5] = HB_RUN;
	cr_assert_eq(hb_decode(buf, (size_t)n - 1, KEY, KEYLEN, &m, NULL), -1);
	/* Acks and others have no path. */
	n = hb_encode(buf, sizeof(buf), HB_RUN_ACK, "src", 77, 1, KEY, KEYLEN);
	cr_assert_gt(n, 0);
	cr_assert_eq(hb_decode(buf, (size_t)n, KEY, KEYLEN, &m, NULL), 0);
	cr_assert_eq(m.type, HB_RUN_ACK);
	cr_assert_str_eq(m.path, "");
	/* Path rules: absolute, printable, bounded; HB_RUN only via _run. */
	errno = 0;
	cr_assert_eq(hb_encode_run(buf, sizeof(buf), "tgt", 1, 1, "relative", KEY, KEYLEN), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(hb_encode_run(buf, sizeof(buf), "tgt", 1, 1, "/bad\nline", KEY, KEYLEN), -1);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	cr_assert_eq(hb_encode_run(buf, sizeof(buf), "tgt", 1, 1, longp, KEY, KEYLEN), -1);
	longp[HB_PATH_MAX] = '\0';
	cr_assert_gt(hb_encode_run(buf, sizeof(buf), "tgt", 1, 1, longp, KEY, KEYLEN), 0);
	cr_assert_eq(hb_encode(buf, sizeof(buf), HB_RUN, "tgt", 1, 1, KEY, KEYLEN), -1);
}
