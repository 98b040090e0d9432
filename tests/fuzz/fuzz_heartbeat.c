#include "config.h"

/* Fuzz target for the UDP heartbeat: the input is one datagram, exactly what
 * anyone on the network can send to the heartbeat port. A packet that decodes
 * must re-encode to exactly its bytes (one valid encoding), must not decode
 * under another key, as the other type (label) or cut short, and must count
 * at a watch only when it answers an outstanding nonce, and only once. */

#include "heartbeat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds under corpus/heartbeat are made with this key. */
#define KEY "00112233445566778899aabbccddeeff"
#define KEYLEN (sizeof(KEY) - 1)

static void check_watch(const struct hb_msg *m)
{
	struct hb_watch w;
	uint64_t rej;

	hb_watch_init(&w, m->name, 1000);
	/* Nothing outstanding: nothing may count. */
	if (hb_watch_response(&w, m, 2000))
		abort();
	rej = m->type == HB_REQUEST ? 0 : 1;
	if (w.rejected != rej || w.responses != 0 || w.last_ok_ms != 1000)
		abort();
	/* As if we had sent its nonce: a response counts once, a request
	 * never; nonce 0 marks free slots and never matches. */
	w.nonces[5] = m->nonce;
	if (hb_watch_response(&w, m, 3000) !=
	    (m->type == HB_RESPONSE && m->nonce != 0))
		abort();
	if (hb_watch_response(&w, m, 4000))
		abort();
	if (w.responses != (m->type == HB_RESPONSE && m->nonce != 0))
		abort();
	if (w.responses && (w.last_ok_ms != 3000 || !w.ever_ok ||
			    hb_watch_time_to_fail(&w, 3000, 100, 3) != 300 ||
			    hb_color_of(300, 100, 3) != HB_GREEN))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char other[] = "00112233445566778899aabbccddeefe";
	uint8_t buf[HB_PACKET_MAX];
	struct hb_msg m;
	const char *why = NULL;
	uint8_t *copy;
	int len;

	if (hb_decode(data, size, (const uint8_t *)KEY, KEYLEN, &m, &why) < 0) {
		if (!why || !*why)
			abort();
		return 0;
	}
	if (why || size > HB_PACKET_MAX || memchr(m.name, '\0', 1) ||
	    strlen(m.name) > HB_NAME_MAX)
		abort();
	len = m.type == HB_RUN ?
	      hb_encode_run(buf, sizeof(buf), m.name, m.nonce, m.seq, m.path,
			    (const uint8_t *)KEY, KEYLEN) :
	      hb_encode(buf, sizeof(buf), m.type, m.name, m.nonce, m.seq,
			(const uint8_t *)KEY, KEYLEN);
	if (len < 0 || (size_t)len != size || memcmp(buf, data, size) != 0)
		abort();
	if (hb_decode(data, size, (const uint8_t *)other, KEYLEN, NULL, NULL) == 0)
		abort();
	if (hb_decode(data, size - 1, (const uint8_t *)KEY, KEYLEN, NULL, NULL) == 0)
		abort();
	copy = malloc(size);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	copy[5] = (uint8_t)(m.type % HB_RUN_ACK + 1); /* any other kind */
	if (hb_decode(copy, size, (const uint8_t *)KEY, KEYLEN, NULL, NULL) == 0)
		abort();
	free(copy);
	check_watch(&m);
	return 0;
}
