#include "config.h"

/* Fuzz target for the agent-to-agent protocol: the incremental reader fed in
 * input-chosen chunks, every typed decoder, and both handshake state machines
 * — everything a peer can reach before and after authentication, compressed
 * batches included. A decoded frame must re-encode to exactly its bytes (one
 * valid encoding; compressed batches: to the same records). */

#include "wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY "00112233445566778899aabbccddeeff"

static void same(const struct util_buf *b, const struct wire_frame *f)
{
	if (b->len != WIRE_HDR_LEN + (size_t)f->len ||
	    memcmp(b->data, f->payload - WIRE_HDR_LEN, b->len) != 0)
		abort();
}

/* A compressed batch has many encodings: it must inflate to records that
 * re-encode plain, and compress again to something that inflates the same. */
static void check_batch(const struct wire_frame *f, struct util_buf *b)
{
	struct wire_zctx *z = wire_zctx_new(), *z2 = NULL;
	struct wire_batch bt, bt2;
	struct wire_batch_writer w;
	struct wire_reader r;
	struct wire_frame f2;
	const uint8_t *rec;
	uint64_t seq;
	uint32_t len, n = 0;
	size_t sum = 0, wl = 0;

	if (wire_get_batch_z(f, &bt, z) < 0)
		goto out;
	if (bt.count == 0 || bt.con_id == 0 || bt.first_seq == 0)
		abort();
	/* Only a plain batch decodes without a context. */
	if ((wire_get_batch(f, &bt2) == 0) != (f->flags == 0))
		abort();
	if (wire_batch_begin(&w, b, bt.con_id, bt.first_seq) < 0)
		abort();
	while (wire_batch_next(&bt, &seq, &rec, &len) == 1) {
		if (len == 0 || seq != bt.first_seq + n)
			abort();
		if (wire_batch_add(&w, rec, len) < 0)
			abort();
		sum += 4 + (size_t)len;
		n++;
	}
	if (n != bt.count || sum != bt.recs_len)
		abort();
	if (f->flags == 0) {
		if (wire_batch_end(&w) < 0)
			abort();
		same(b, f);
		goto out;
	}
	/* Compressed: recompress with the same method and inflate again. */
	z2 = wire_zctx_new();
	if (wire_batch_end_comp(&w, z2, f->flags == WIRE_F_LZ4 ? WIRE_COMP_LZ4 : WIRE_COMP_ZSTD,
				1, &wl) < 0 || wl != b->len)
		abort();
	wire_reader_init(&r);
	wire_reader_set_limit(&r, WIRE_MAX_PAYLOAD);
	wire_reader_feed(&r, b->data, b->len);
	if (wire_reader_next(&r, &f2) != 1 || wire_get_batch_z(&f2, &bt2, z2) < 0 ||
	    bt2.count != bt.count || bt2.recs_len != bt.recs_len ||
	    memcmp(bt2.recs, bt.recs, bt.recs_len) != 0)
		abort();
	wire_reader_free(&r);
out:
	wire_zctx_free(z);
	wire_zctx_free(z2);
}

/* Decodes f with its type's decoder; what decodes must re-encode to the
 * same bytes. */
static void check_frame(const struct wire_frame *f)
{
	union {
		struct wire_hello h;
		struct wire_challenge c;
		struct wire_error e;
		struct wire_connect cn;
		struct wire_connect_ok ok;
		struct wire_connect_err ce;
		struct wire_ack a;
		struct wire_report rp;
		struct wire_tstatus ts;
		struct wire_restore rs;
		struct wire_restore_answer ra;
	} u;
	uint8_t mac[WIRE_MAC_LEN];
	struct util_buf b;
	uint32_t id;
	uint64_t v;
	int rc = -1;

	util_buf_init(&b);
	switch (f->type) {
	case WIRE_HELLO:
		if (wire_get_hello(f, &u.h) == 0) {
			/* The encoder always writes its own version. */
			if (u.h.version == WIRE_VERSION)
				rc = wire_put_hello(&b, u.h.name, u.h.nonce);
			else
				goto out;
		}
		break;
	case WIRE_CHALLENGE:
		if (wire_get_challenge(f, &u.c) == 0)
			rc = wire_put_challenge(&b, u.c.name, u.c.nonce, u.c.mac);
		break;
	case WIRE_AUTH:
		if (wire_get_auth(f, mac) == 0)
			rc = wire_put_auth(&b, mac);
		break;
	case WIRE_READY:
		if (wire_get_ready(f) == 0)
			rc = wire_put_ready(&b);
		break;
	case WIRE_ERROR:
		if (wire_get_error(f, &u.e) == 0) {
			if (strlen(u.e.msg) > WIRE_MSG_MAX)
				abort();
			if (f->version != WIRE_VERSION)
				goto out;
			rc = wire_put_error(&b, u.e.code, u.e.msg);
		}
		break;
	case WIRE_CONNECT:
		if (wire_get_connect(f, &u.cn) == 0)
			rc = wire_put_connect(&b, u.cn.con_id, u.cn.repset,
					      u.cn.root, u.cn.options,
					      u.cn.last_acked);
		break;
	case WIRE_CONNECT_OK:
		if (wire_get_connect_ok(f, &u.ok) == 0)
			rc = wire_put_connect_ok(&b, u.ok.con_id,
						 u.ok.last_applied);
		break;
	case WIRE_CONNECT_ERR:
		if (wire_get_connect_err(f, &u.ce) == 0)
			rc = wire_put_connect_err(&b, u.ce.con_id, u.ce.code,
						  u.ce.msg);
		break;
	case WIRE_BATCH:
		check_batch(f, &b);
		goto out;
	case WIRE_ACK:
		if (wire_get_ack(f, &u.a) == 0)
			rc = wire_put_ack(&b, u.a.con_id, u.a.seq);
		break;
	case WIRE_PAUSE:
		if (wire_get_pause(f, &id) == 0)
			rc = wire_put_pause(&b, id);
		break;
	case WIRE_RESUME:
		if (wire_get_resume(f, &id) == 0)
			rc = wire_put_resume(&b, id);
		break;
	case WIRE_PING:
		if (wire_get_ping(f, &v) == 0)
			rc = wire_put_ping(&b, v);
		break;
	case WIRE_PONG:
		if (wire_get_pong(f, &v) == 0)
			rc = wire_put_pong(&b, v);
		break;
	case WIRE_DISCONNECT:
		if (wire_get_disconnect(f, &id) == 0)
			rc = wire_put_disconnect(&b, id);
		break;
	case WIRE_REPORT:
		if (wire_get_report(f, &u.rp) == 0)
			rc = wire_put_report(&b, &u.rp);
		break;
	case WIRE_TSTATUS:
		if (wire_get_tstatus(f, &u.ts) == 0)
			rc = wire_put_tstatus(&b, u.ts.con_id, u.ts.state,
					      u.ts.seq, u.ts.msg);
		break;
	case WIRE_RESTORE:
		if (wire_get_restore(f, &u.rs) == 0)
			rc = wire_put_restore(&b, &u.rs);
		break;
	case WIRE_RESTORE_ANSWER:
		if (wire_get_restore_answer(f, &u.ra) == 0)
			rc = wire_put_restore_answer(&b, u.ra.code, u.ra.msg, u.ra.def);
		break;
	default:
		/* The reader only returns known types. */
		abort();
	}
	if (rc == 0)
		same(&b, f);
	else if (b.len != 0)
		abort();
out:
	util_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_reader r;
	struct wire_auth server, client;
	struct util_buf out;
	struct wire_frame f;
	size_t chunk, off = 0;
	int srv = 0, cli = 0, rc = 0;

	if (size < 1)
		return 0;
	/* Byte 0: chunk size (low 7 bits + 1) and whether batches are allowed
	 * (high bit), as after a finished handshake. */
	chunk = (size_t)(data[0] & 0x7f) + 1;
	data++;
	size--;
	wire_reader_init(&r);
	if (data[-1] & 0x80)
		wire_reader_set_limit(&r, WIRE_MAX_PAYLOAD);
	util_buf_init(&out);
	wire_auth_server_init(&server, (const uint8_t *)KEY, strlen(KEY), "fuzz-target");
	wire_auth_client_start(&client, (const uint8_t *)KEY, strlen(KEY), "fuzz-source", &out);
	while (off < size && rc >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;

		wire_reader_feed(&r, data + off, n);
		off += n;
		while ((rc = wire_reader_next(&r, &f)) == 1) {
			if (f.len > WIRE_MAX_PAYLOAD ||
			    (f.type != WIRE_BATCH && f.len > WIRE_MAX_CONTROL))
				abort();
			check_frame(&f);
			/* Both roles see every frame until they stop. */
			if (srv == 0)
				srv = wire_auth_on_frame(&server, &f, &out);
			if (cli == 0)
				cli = wire_auth_on_frame(&client, &f, &out);
			util_buf_reset(&out);
		}
	}
	if (rc < 0) {
		if (wire_reader_code(&r) == 0 || wire_reader_next(&r, &f) != -1)
			abort();
		/* The answer to a bad stream must itself be a good frame. */
		wire_put_error(&out, wire_reader_code(&r), wire_reader_error(&r));
	}
	/* Nobody forges a MAC: neither side can have completed. */
	if (srv == 1 || cli == 1)
		abort();
	wire_auth_clear(&server);
	wire_auth_clear(&client);
	util_buf_free(&out);
	wire_reader_free(&r);
	return 0;
}
