/* link — one agent-to-agent connection over a nonblocking TCP socket: the
 * wire handshake with the pre-shared key, then whole frames in and out.
 * Both roles use it: a source dials its target (client), a target accepts
 * its sources (server). */
#ifndef DITTO_LINK_H
#define DITTO_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "util.h"
#include "wire.h"

struct link;

struct link_ops {
	/* Handshake done: frames may flow. */
	void (*on_ready)(struct link *l, void *arg);
	/* One frame after the handshake. */
	void (*on_frame)(struct link *l, const struct wire_frame *f, void *arg);
	/* The link is gone (error, peer closed, link_close); why is for the log.
	 * The link is freed after this returns. */
	void (*on_close)(struct link *l, const char *why, void *arg);
};

/* Takes over fd (connected, or with a nonblocking connect in progress when
 * connecting is true). Returns NULL and closes fd on failure. */
struct link *link_new(struct evloop *loop, int fd, bool client, bool connecting,
		      const uint8_t *key, size_t keylen, const char *name,
		      const struct link_ops *ops, void *arg);
/* Starts a nonblocking TCP connect to host:port and wraps it. NULL with a
 * message in err when the address cannot be resolved or the socket fails. */
struct link *link_dial(struct evloop *loop, const char *host, uint16_t port,
		       const uint8_t *key, size_t keylen, const char *name,
		       const struct link_ops *ops, void *arg, char *err,
		       size_t errlen);
/* Output buffer: append whole frames with the wire_put_* encoders, then call
 * link_flush. */
struct util_buf *link_out(struct link *l);
void link_flush(struct link *l);
/* Bytes queued for sending and not yet written to the socket. */
size_t link_pending(const struct link *l);
bool link_ready(const struct link *l);
const char *link_peer_name(const struct link *l);
/* "ip:port" of the peer. */
const char *link_peer_addr(const struct link *l);
/* Closes now; on_close runs (once) and the link is freed as soon as no
 * callback of it is running. */
void link_close(struct link *l, const char *why);
/* Sends an ERROR frame, then closes once it is written. */
void link_fail(struct link *l, uint32_t code, const char *why);

#endif
