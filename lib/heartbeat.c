#include "config.h"

#include "heartbeat.h"
#include "util.h"
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define HB_MAGIC "DTHB"
#define HB_HDR_LEN 8 /* magic, version, type, name length */
#define HB_MAC_LEN 32
/* Everything but the name: header, nonce, seq, MAC. */
#define HB_FIXED_LEN (HB_HDR_LEN + 8 + 8 + HB_MAC_LEN)

#define LABEL_REQUEST "ditto-hb-request"
#define LABEL_RESPONSE "ditto-hb-response"
#define LABEL_RUN "ditto-hb-run"
#define LABEL_RUN_ACK "ditto-hb-run-ack"

/* A name valid in a heartbeat is valid on the agent connection and back. */
_Static_assert(HB_NAME_MAX == WIRE_NAME_MAX, "agent names differ");
_Static_assert(HB_FIXED_LEN + HB_NAME_MAX + 2 + HB_PATH_MAX <= HB_PACKET_MAX,
	       "largest packet does not fit HB_PACKET_MAX");

/* ---- byte order ---------------------------------------------------------- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* ---- packet -------------------------------------------------------------- */

/* "version N not spoken" for every N a u8 can hold, as string literals: the
 * message must be static (callers log it whenever they like, from any
 * thread) and still name the version the peer speaks. */
#define VMSG(n) "version " #n " not spoken"
#define VROW(p)                                                              \
	VMSG(p##0), VMSG(p##1), VMSG(p##2), VMSG(p##3), VMSG(p##4),          \
	VMSG(p##5), VMSG(p##6), VMSG(p##7), VMSG(p##8), VMSG(p##9)
static const char *const version_msg[] = {
	VROW(), VROW(1), VROW(2), VROW(3), VROW(4), VROW(5), VROW(6),
	VROW(7), VROW(8), VROW(9), VROW(10), VROW(11), VROW(12), VROW(13),
	VROW(14), VROW(15), VROW(16), VROW(17), VROW(18), VROW(19), VROW(20),
	VROW(21), VROW(22), VROW(23), VROW(24),
	VMSG(250), VMSG(251), VMSG(252), VMSG(253), VMSG(254), VMSG(255),
};
_Static_assert(sizeof(version_msg) / sizeof(version_msg[0]) == 256,
	       "one message per version byte");
#undef VROW
#undef VMSG

static bool type_ok(unsigned type)
{
	return type >= HB_REQUEST && type <= HB_RUN_ACK;
}

/* A path a peer may ask us to run: absolute, printable. */
static bool path_ok(const uint8_t *s, size_t n)
{
	if (n < 2 || n > HB_PATH_MAX || s[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* The name ends up in logs and status output: no control bytes, so a peer
 * cannot forge log lines or terminal escapes (NUL counts as one). */
static bool name_ok(const uint8_t *s, size_t n)
{
	size_t i;

	if (n < 1 || n > HB_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool key_ok(const uint8_t *key, size_t keylen)
{
	/* An empty key authenticates nothing; HMAC takes an int length. */
	return key && keylen > 0 && keylen <= INT_MAX;
}

/* HMAC-SHA256(key, label || p[0..n)), the label chosen by type so a MAC of a
 * request never verifies as a response's. */
static int hb_mac(const uint8_t *key, size_t keylen, unsigned type,
		  const uint8_t *p, size_t n, uint8_t mac[HB_MAC_LEN])
{
	uint8_t t[sizeof(LABEL_RUN_ACK) + HB_PACKET_MAX];
	const char *label = type == HB_REQUEST ? LABEL_REQUEST : type == HB_RESPONSE ? LABEL_RESPONSE :
			    type == HB_RUN ? LABEL_RUN : LABEL_RUN_ACK;
	size_t l = strlen(label);
	unsigned int mlen = 0;

	if (n > HB_PACKET_MAX)
		return -1;
	memcpy(t, label, l);
	memcpy(t + l, p, n);
	if (!HMAC(EVP_sha256(), key, (int)keylen, t, l + n, mac, &mlen) ||
	    mlen != HB_MAC_LEN)
		return -1;
	return 0;
}

static int encode(uint8_t *buf, size_t cap, enum hb_type type, const char *name,
		  uint64_t nonce, uint64_t seq, const char *path, const uint8_t *key,
		  size_t keylen)
{
	size_t n, pn = 0, len;

	if (!name || !type_ok(type) || !key_ok(key, keylen) || (type == HB_RUN) != !!path) {
		errno = EINVAL;
		return -1;
	}
	n = strnlen(name, HB_NAME_MAX + 1);
	if (path)
		pn = strnlen(path, HB_PATH_MAX + 1);
	if (!name_ok((const uint8_t *)name, n) || (path && !path_ok((const uint8_t *)path, pn))) {
		errno = EINVAL;
		return -1;
	}
	len = HB_FIXED_LEN + n + (path ? 2 + pn : 0);
	if (!buf || cap < len) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(buf, HB_MAGIC, 4);
	buf[4] = HB_VERSION;
	buf[5] = (uint8_t)type;
	wr16(buf + 6, (uint16_t)n);
	memcpy(buf + HB_HDR_LEN, name, n);
	wr64(buf + HB_HDR_LEN + n, nonce);
	wr64(buf + HB_HDR_LEN + n + 8, seq);
	if (path) {
		wr16(buf + HB_HDR_LEN + n + 16, (uint16_t)pn);
		memcpy(buf + HB_HDR_LEN + n + 18, path, pn);
	}
	if (hb_mac(key, keylen, type, buf, len - HB_MAC_LEN,
		   buf + len - HB_MAC_LEN) < 0) {
		errno = EIO;
		return -1;
	}
	return (int)len;
}

int hb_encode(uint8_t *buf, size_t cap, enum hb_type type, const char *name,
	      uint64_t nonce, uint64_t seq, const uint8_t *key, size_t keylen)
{
	return encode(buf, cap, type, name, nonce, seq, NULL, key, keylen);
}

int hb_encode_run(uint8_t *buf, size_t cap, const char *name, uint64_t nonce,
		  uint64_t seq, const char *path, const uint8_t *key, size_t keylen)
{
	if (!path) {
		errno = EINVAL;
		return -1;
	}
	return encode(buf, cap, HB_RUN, name, nonce, seq, path, key, keylen);
}

int hb_decode(const uint8_t *buf, size_t len, const uint8_t *key,
	      size_t keylen, struct hb_msg *out, const char **why)
{
	uint8_t mac[HB_MAC_LEN];
	const char *msg = NULL;
	unsigned type;
	size_t n, pn = 0, extra = 0;
	int ret = -1;

	if (!key_ok(key, keylen)) {
		msg = "no usable key";
		goto done;
	}
	if (!buf || len < HB_HDR_LEN) {
		msg = "packet too short";
		goto done;
	}
	if (memcmp(buf, HB_MAGIC, 4) != 0) {
		msg = "not a heartbeat packet";
		goto done;
	}
	/* Before anything else of the layout: another version may lay out
	 * the rest differently, and its number is worth reporting. */
	if (buf[4] != HB_VERSION) {
		msg = version_msg[buf[4]];
		goto done;
	}
	type = buf[5];
	if (!type_ok(type)) {
		msg = "unknown message type";
		goto done;
	}
	n = rd16(buf + 6);
	if (n < 1 || n > HB_NAME_MAX) {
		msg = "bad name length";
		goto done;
	}
	if (type == HB_RUN) {
		if (len < HB_FIXED_LEN + n + 2) {
			msg = "packet truncated";
			goto done;
		}
		pn = rd16(buf + HB_HDR_LEN + n + 16);
		if (pn < 2 || pn > HB_PATH_MAX) {
			msg = "bad path length";
			goto done;
		}
		extra = 2 + pn;
	}
	if (len != HB_FIXED_LEN + n + extra) {
		msg = len < HB_FIXED_LEN + n + extra ? "packet truncated" :
						       "trailing bytes after packet";
		goto done;
	}
	if (hb_mac(key, keylen, type, buf, len - HB_MAC_LEN, mac) < 0) {
		msg = "HMAC-SHA256 failed";
		goto done;
	}
	if (CRYPTO_memcmp(mac, buf + len - HB_MAC_LEN, HB_MAC_LEN) != 0) {
		msg = "bad MAC";
		goto done;
	}
	/* Authentic, but a peer with the key can still send junk. */
	if (!name_ok(buf + HB_HDR_LEN, n)) {
		msg = "control character in name";
		goto done;
	}
	if (type == HB_RUN && !path_ok(buf + HB_HDR_LEN + n + 18, pn)) {
		msg = "bad path";
		goto done;
	}
	if (out) {
		out->type = (enum hb_type)type;
		memcpy(out->name, buf + HB_HDR_LEN, n);
		out->name[n] = '\0';
		out->nonce = rd64(buf + HB_HDR_LEN + n);
		out->seq = rd64(buf + HB_HDR_LEN + n + 8);
		memcpy(out->path, buf + HB_HDR_LEN + n + 18, pn);
		out->path[pn] = '\0';
	}
	ret = 0;
done:
	if (why)
		*why = msg;
	return ret;
}

/* ---- watch --------------------------------------------------------------- */

static int random_u64(uint64_t *v)
{
	uint8_t *p = (uint8_t *)v;
	size_t n = sizeof(*v);

	while (n) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Index of nonce among the outstanding ones, or -1. 0 marks a free slot and
 * is never outstanding. */
static int find_nonce(const struct hb_watch *w, uint64_t nonce)
{
	int i;

	if (nonce == 0)
		return -1;
	for (i = 0; i < HB_OUTSTANDING; i++)
		if (w->nonces[i] == nonce)
			return i;
	return -1;
}

void hb_watch_init(struct hb_watch *w, const char *peer, uint64_t now_ms)
{
	memset(w, 0, sizeof(*w));
	util_strlcpy(w->peer, peer ? peer : "", sizeof(w->peer));
	w->last_ok_ms = now_ms;
}

int hb_watch_request(struct hb_watch *w, uint8_t *buf, size_t cap,
		     const char *my_name, const uint8_t *key, size_t keylen)
{
	uint64_t nonce;
	int len;

	/* Never 0 (the free-slot mark) and never one still outstanding, so a
	 * response always answers exactly one request. */
	do {
		if (random_u64(&nonce) < 0)
			return -1;
	} while (nonce == 0 || find_nonce(w, nonce) >= 0);
	len = hb_encode(buf, cap, HB_REQUEST, my_name, nonce, w->seq + 1, key,
			keylen);
	if (len < 0)
		return -1;
	w->seq++;
	w->next %= HB_OUTSTANDING;
	w->nonces[w->next] = nonce;
	w->next = (w->next + 1) % HB_OUTSTANDING;
	w->requests++;
	return len;
}

bool hb_watch_response(struct hb_watch *w, const struct hb_msg *m,
		       uint64_t now_ms)
{
	int i;

	if (m->type == HB_REQUEST)
		return false;
	if (m->type != HB_RESPONSE || strcmp(m->name, w->peer) != 0 ||
	    (i = find_nonce(w, m->nonce)) < 0) {
		w->rejected++;
		return false;
	}
	/* Consumed: the same response replayed matches nothing. */
	w->nonces[i] = 0;
	w->last_ok_ms = now_ms;
	w->ever_ok = true;
	w->responses++;
	return true;
}

uint64_t hb_watch_time_to_fail(const struct hb_watch *w, uint64_t now_ms,
			       uint32_t interval_ms, uint32_t missed)
{
	uint64_t total = (uint64_t)interval_ms * missed; /* cannot overflow */
	uint64_t deadline;

	deadline = w->last_ok_ms > UINT64_MAX - total ? UINT64_MAX :
							w->last_ok_ms + total;
	return now_ms >= deadline ? 0 : deadline - now_ms;
}

enum hb_color hb_color_of(uint64_t time_to_fail_ms, uint32_t interval_ms,
			  uint32_t missed)
{
	uint64_t total = (uint64_t)interval_ms * missed;
	uint64_t elapsed, quarter;

	if (time_to_fail_ms == 0)
		return HB_RED;
	if (time_to_fail_ms >= total)
		return HB_GREEN;
	elapsed = total - time_to_fail_ms;
	/* elapsed < 25 % of total, i.e. 4 * elapsed < total, without the
	 * multiplication overflowing: compare with total / 4 rounded up. */
	quarter = total / 4 + (total % 4 != 0);
	return elapsed < quarter ? HB_GREEN : HB_YELLOW;
}

const char *hb_color_name(enum hb_color c)
{
	switch (c) {
	case HB_GREEN: return "green";
	case HB_YELLOW: return "yellow";
	case HB_RED: return "red";
	}
	return "?";
}
