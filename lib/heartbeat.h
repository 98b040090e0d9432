/* heartbeat — the UDP heartbeat of failover monitoring: a target agent sends
 * heartbeat requests to each source it monitors, the source answers each one,
 * and the target counts the source as failed after interval x missed
 * milliseconds without a valid answer.
 *
 * PACKET (one per UDP datagram, integers big-endian)
 *   "DTHB" | u8 version | u8 type | u16 name length | name (1..HB_NAME_MAX
 *   bytes, no NUL, no control byte) | u64 nonce | u64 seq | 32-byte MAC
 *   where MAC = HMAC-SHA256(key, label || every byte before the MAC) and the
 *   label is "ditto-hb-request" for a request and "ditto-hb-response" for a
 *   response ("ditto-hb-run", "ditto-hb-run-ack" for HB_RUN and its ack), so
 *   an attacker can never reflect one kind as another. HB_RUN carries a path
 *   after seq (see hb_encode_run).
 *   name is the sender's agent name; a request carries a fresh random nonce,
 *   a response echoes the request's nonce; seq is the sender's own counter,
 *   informational only. The key is the same pre-shared key as the agent
 *   protocol's (lib/wire.h). A packet has exactly one valid encoding: the
 *   decoder refuses any other length, version, type or name.
 *   Replays: the requester accepts a response only for a nonce it has sent
 *   and not yet seen answered (struct hb_watch); the responder keeps no
 *   state, so a replayed request only earns the attacker a response that is
 *   useless to anyone.
 *
 * WATCH (the requester's side)
 *   hb_watch_request makes a request and remembers its nonce in a ring of the
 *   last HB_OUTSTANDING; hb_watch_response accepts a decoded response from the
 *   watched peer that echoes a remembered nonce (once), which resets the
 *   countdown. hb_watch_time_to_fail is the countdown, hb_color_of its
 *   green/yellow/red bullet as in the reference's status display.
 *
 * Times are caller-supplied milliseconds of a monotonic clock.
 */
#ifndef DITTO_HEARTBEAT_H
#define DITTO_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HB_VERSION 1
#define HB_NAME_MAX 255 /* same as WIRE_NAME_MAX in lib/wire.h */
#define HB_PATH_MAX 512
#define HB_PACKET_MAX 1024
#define HB_OUTSTANDING 16

/* HB_RUN: a target that failed back asks the source's agent to run its
 * post-failback script (path); HB_RUN_ACK echoes the nonce once it has the
 * request (the target repeats HB_RUN until then). */
enum hb_type { HB_REQUEST = 1, HB_RESPONSE = 2, HB_RUN = 3, HB_RUN_ACK = 4 };

struct hb_msg {
	enum hb_type type;
	char name[HB_NAME_MAX + 1]; /* the sender's agent name, NUL-terminated */
	uint64_t nonce; /* request: fresh random; response: the request's, echoed */
	uint64_t seq;   /* sender's counter, informational */
	char path[HB_PATH_MAX + 1]; /* HB_RUN only; "" otherwise */
};

/* Encodes one packet into buf (cap bytes). Returns the packet length, or -1
 * with errno EINVAL (unknown type, name empty, longer than HB_NAME_MAX or with
 * a control byte, no key) or ENOSPC (cap too small). */
int hb_encode(uint8_t *buf, size_t cap, enum hb_type type, const char *name,
	      uint64_t nonce, uint64_t seq, const uint8_t *key, size_t keylen);
/* An HB_RUN packet: as above with, before the MAC, u16 path length | path
 * (absolute, 2..HB_PATH_MAX bytes, no control byte). hb_encode refuses
 * HB_RUN (EINVAL): it has no path. */
int hb_encode_run(uint8_t *buf, size_t cap, const char *name, uint64_t nonce,
		  uint64_t seq, const char *path, const uint8_t *key, size_t keylen);

/* Decodes exactly len bytes. Strict: exact length, known version (else *why
 * is "version N not spoken"), known type, name length 1..HB_NAME_MAX, no NUL
 * or control byte in the name, MAC compared in constant time. Returns 0 and
 * fills *out, or -1 with a static message in *why (why may be NULL) and *out
 * untouched. */
int hb_decode(const uint8_t *buf, size_t len, const uint8_t *key,
	      size_t keylen, struct hb_msg *out, const char **why);

/* The requester's view of one monitored peer. */
struct hb_watch {
	char peer[HB_NAME_MAX + 1];
	uint64_t nonces[HB_OUTSTANDING]; /* outstanding requests; 0 = free slot */
	unsigned next;
	uint64_t seq;
	uint64_t last_ok_ms; /* when the last valid response came; start time before any */
	bool ever_ok;
	uint64_t requests, responses, rejected; /* counters for status */
};

/* Starts watching peer (its agent name, as it puts it in its responses) at
 * now_ms: the countdown runs from there. */
void hb_watch_init(struct hb_watch *w, const char *peer, uint64_t now_ms);

/* Encodes a new request from my_name into buf: a fresh nonce from getrandom
 * (never 0), remembered in a ring of the last HB_OUTSTANDING (the oldest is
 * forgotten). Returns the length, or -1 with errno (as hb_encode, or from
 * getrandom) and w unchanged. */
int hb_watch_request(struct hb_watch *w, uint8_t *buf, size_t cap,
		     const char *my_name, const uint8_t *key, size_t keylen);

/* Judges a decoded message: true if it is a RESPONSE from w->peer (exact
 * name) echoing an outstanding nonce; that nonce is then consumed, so the
 * same packet replayed counts nothing; last_ok_ms = now_ms, responses++.
 * Anything else: false and rejected++, except requests (not ours to judge:
 * just false). */
bool hb_watch_response(struct hb_watch *w, const struct hb_msg *m,
		       uint64_t now_ms);

/* Milliseconds left before the peer counts as failed:
 * last_ok_ms + interval_ms * missed - now_ms, at least 0. */
uint64_t hb_watch_time_to_fail(const struct hb_watch *w, uint64_t now_ms,
			       uint32_t interval_ms, uint32_t missed);

enum hb_color { HB_GREEN, HB_YELLOW, HB_RED };

/* The reference's bullets: GREEN while less than 25 % of the whole timeout
 * (interval * missed) has passed without a response, YELLOW after that, RED
 * once the time to fail is 0. */
enum hb_color hb_color_of(uint64_t time_to_fail_ms, uint32_t interval_ms,
			  uint32_t missed);

/* "green", "yellow", "red" ("?" for anything else). */
const char *hb_color_name(enum hb_color c);

#endif
