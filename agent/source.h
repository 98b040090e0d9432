/* source — the source role: connections of replication sets to targets,
 * each with its ordered queue of ops (mirror and replication alike), the
 * link to the target agent, cumulative acks and resend after reconnect. */
#ifndef DITTO_SOURCE_H
#define DITTO_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct agent;
struct source;
struct ditto_op;

enum source_map {
	SOURCE_MAP_DEFAULT, /* all to one: /<source name>/<repset>/<path> */
	SOURCE_MAP_EXACT,   /* same path on the target */
	SOURCE_MAP_BASE,    /* <dir>/<path> */
	SOURCE_MAP_PAIRS,   /* "src" TO "dst", … */
};

struct source_map_pair {
	char *src;
	char *dst;
};

struct source_connect_req {
	const char *repset;
	const char *target; /* host[:port] */
	enum source_map map;
	const char *base;
	struct source_map_pair *pairs;
	size_t npairs;
	bool mirror;    /* mirror on connect (NOMIRROR clears it) */
	bool replicate; /* real-time replication (NOREPLICATE clears it) */
};

struct source *source_new(struct agent *a);
/* Restores the connections saved in <state>/connections.conf: their
 * journaled queues are replayed, capture restarts, replicating connections
 * are mirrored again (changes made while the agent was down were not
 * captured), and the links are dialled. -1 with err when the file is bad. */
int source_load(struct source *s, char *err, size_t errlen);
void source_free(struct source *s);
/* CONNECT: returns the new connection ID (>= 1) or -1 with a message. */
int source_connect(struct source *s, const struct source_connect_req *req,
		   struct util_buf *msg);
int source_disconnect(struct source *s, uint32_t con_id, struct util_buf *msg);
/* MIRROR START: queue a full mirror of the connection's set. */
int source_mirror_start(struct source *s, uint32_t con_id, struct util_buf *msg);
/* 1 when everything queued so far is applied on the target (and no mirror is
 * still producing), 0 when not yet, -1 for an unknown connection. */
int source_queue_drained(struct source *s, uint32_t con_id, struct util_buf *msg);
void source_list(const struct source *s, struct util_buf *out);
int source_status(const struct source *s, uint32_t con_id, struct util_buf *out);
/* Is a set in use by a connection (refuse deleting it)? */
bool source_repset_busy(const struct source *s, const char *repset);

#endif
