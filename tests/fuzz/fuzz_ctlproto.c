#include "config.h"

/* Fuzz target for the control protocol decoders: the header parser, the CMD
 * decoder and the raw payload reader, which together see every byte a local
 * client can send to dittod. */

#include "ctlproto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Pulls fields in an order chosen by the input itself, so the fuzzer can
 * reach every combination of reads, including reads after a failure. */
static void drive_reader(const uint8_t *p, size_t len)
{
	struct ctlproto_reader r;
	size_t steps;

	if (len == 0)
		return;
	/* The first byte picks the script; the reader sees the whole payload
	 * so each script byte is also data. */
	ctlproto_reader_init(&r, p, len);
	for (steps = 0; steps < 64 && !r.err; steps++) {
		uint8_t op = ctlproto_get_u8(&r);
		char *s;

		switch (op % 5) {
		case 0: (void)ctlproto_get_u8(&r); break;
		case 1: (void)ctlproto_get_u16(&r); break;
		case 2: (void)ctlproto_get_u32(&r); break;
		case 3: (void)ctlproto_get_i64(&r); break;
		case 4:
			/* strlen lets ASan check the terminator. */
			s = ctlproto_get_str(&r);
			if (s && strlen(s) >= len)
				abort();
			free(s);
			break;
		}
	}
	/* Once failed, every read must keep failing. */
	if (r.err) {
		if (ctlproto_get_u8(&r) != 0 || ctlproto_get_str(&r) != NULL ||
		    ctlproto_reader_done(&r))
			abort();
	}
}

/* A decoded command re-encodes to exactly the payload it came from. */
static void check_cmd(const uint8_t *p, size_t len)
{
	struct ctlproto_cmd c;
	struct util_buf b;
	size_t i;

	if (ctlproto_cmd_decode(p, len, &c) < 0) {
		if (c.argc != 0 || c.argv != NULL)
			abort();
		return;
	}
	if (c.argc == 0 || c.argc > CTLPROTO_MAX_ARGS)
		abort();
	for (i = 0; i < c.argc; i++)
		if (!c.argv[i].text || c.argv[i].type > CTLPROTO_ARG_PUNCT)
			abort();
	util_buf_init(&b);
	if (ctlproto_cmd_encode(&b, 0, &c) < 0 ||
	    b.len != CTLPROTO_HDR_LEN + len ||
	    memcmp(b.data + CTLPROTO_HDR_LEN, p, len) != 0)
		abort();
	util_buf_free(&b);
	ctlproto_cmd_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *payload = data;
	size_t len = size;

	if (size >= CTLPROTO_HDR_LEN) {
		struct ctlproto_hdr h;

		if (ctlproto_hdr_parse(data, &h) == 0 &&
		    h.length > CTLPROTO_MAX_PAYLOAD)
			abort();
		payload += CTLPROTO_HDR_LEN;
		len -= CTLPROTO_HDR_LEN;
	}
	check_cmd(payload, len);
	drive_reader(payload, len);
	return 0;
}
