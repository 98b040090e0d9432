/* source — the source role: connections of replication sets to targets,
 * each with its ordered queue of ops (mirror and replication alike), the
 * link to the target agent, cumulative acks and resend after reconnect. */
#ifndef DITTO_SOURCE_H
#define DITTO_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"
#include "wire.h"

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

enum source_mirror_type {
	SOURCE_MIRROR_FULL,      /* every file sent whole */
	SOURCE_MIRROR_DIFFERENT, /* files whose size or mtime differ */
	SOURCE_MIRROR_CHECKSUM,  /* block checksums compared: only differing
				    blocks are sent */
};

struct source_mirror_opts {
	enum source_mirror_type type;
	bool newer;     /* only where the source's copy is newer */
	bool calculate; /* size the set first: percent complete in STATUS */
	bool missing_only; /* send only what the target lacks (a restore) */
};

struct source_verify_opts {
	bool remirror;  /* send what differs */
	bool newer;     /* ... only where the source is newer */
	bool checksum;  /* compare block checksums, not only metadata */
};

enum source_orphans_action {
	SOURCE_ORPHANS_OFF,    /* not handled during mirrors (default) */
	SOURCE_ORPHANS_LOG,    /* named in the target's log, left alone */
	SOURCE_ORPHANS_DELETE,
	SOURCE_ORPHANS_MOVE,
};

struct source_orphans_opts {
	enum source_orphans_action action;
	const char *move_dir;   /* MOVE: absolute target path beneath the
				   connection's target path */
	uint64_t min_age_s;     /* only orphans older than this; 0: all */
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
	struct source_mirror_opts mirror_opts; /* also used for remirrors */
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
/* MIRROR START: mirror the connection's set (o NULL: as CONNECT said). A
 * running mirror starts over; a verification running refuses. */
int source_mirror_start(struct source *s, uint32_t con_id,
			const struct source_mirror_opts *o, struct util_buf *msg);
enum source_mirror_ctl { SOURCE_MIRROR_STOP, SOURCE_MIRROR_PAUSE, SOURCE_MIRROR_RESUME };
/* STOP drops the mirror's place; PAUSE keeps it for RESUME. */
int source_mirror_ctl(struct source *s, uint32_t con_id, enum source_mirror_ctl what,
		      struct util_buf *msg);
/* 1 when no mirror is running or finishing, 0 while one is, -1 unknown. */
int source_mirror_idle(struct source *s, uint32_t con_id, struct util_buf *msg);
/* VERIFY: starts a verification (writes "<repset> DTVerify.log"). */
int source_verify_start(struct source *s, uint32_t con_id,
			const struct source_verify_opts *o, struct util_buf *msg);
/* The last verification: 0 running, 1 in sync, 2 differences (summary in
 * msg), -1 unknown connection, never run, or failed (why in msg). */
int source_verify_result(struct source *s, uint32_t con_id, struct util_buf *msg);
/* Scheduled verification on a cron expression (NULL: none). */
int source_verify_schedule(struct source *s, uint32_t con_id, const char *cron,
			   const struct source_verify_opts *o, struct util_buf *msg);
/* ORPHANS SET: what mirrors and verifications do with orphans. */
int source_orphans_set(struct source *s, uint32_t con_id,
		       const struct source_orphans_opts *o, struct util_buf *msg);
/* ORPHANS START|STOP: an orphans run now (a walk of the directories only). */
/* A RESTORE of repset from host completed: its Restore Required
 * connections to that host resume (their stale queue dropped, then a
 * difference mirror). */
void source_restored(struct source *s, const char *repset, const char *host);
/* SCRIPT ADD / REMOVE: the script run on a mirror event of the connection
 * ("MIRRORSTART", "MIRRORSTOP", "MIRRORCOMPLETE"; agent/mscript.h); path
 * NULL removes it. 0, or -1 with the reason in msg. */
int source_script_set(struct source *s, uint32_t con_id, const char *event,
		      const char *path, const char *args, struct util_buf *msg);
/* COMPRESSION: how BATCH frames are compressed (level: zstd's, 1..19).
 * The setting belongs to the target address: it is set on every connection
 * of this source to the same host:port, and a later CONNECT to that address
 * takes it over. Saved with the connections. 0, or -1 with the reason. */
int source_compression_set(struct source *s, uint32_t con_id, enum wire_comp comp, int level,
			   struct util_buf *msg);
/* LIMIT BANDWIDTH: bytes per second of BATCH frames on the wire (after
 * compression) for this connection, 0 = no limit; at most TBUCKET_RATE_MAX.
 * A token bucket with a burst of 1/40 s holds each second within about 5 %.
 * Saved with the connection. 0, or -1 with the reason in msg. */
/* TRANSMIT START|STOP|PAUSE|RESUME con_id. STOP closes the link and keeps
 * it closed (data queues); PAUSE keeps the link, sends nothing; START on a
 * scheduled connection starts a session now. */
enum source_transmit { SOURCE_TX_START, SOURCE_TX_STOP, SOURCE_TX_PAUSE, SOURCE_TX_RESUME };
int source_transmit(struct source *s, uint32_t con_id, enum source_transmit what, struct util_buf *msg);
/* REPLICATION START|STOP con_id: whether captured changes are queued; a
 * start mirrors the differences made while stopped. */
int source_replication(struct source *s, uint32_t con_id, bool start, struct util_buf *msg);
/* PAUSETARGET / RESUMETARGET target: every connection to host[:port]. */
int source_pause_target(struct source *s, const char *target, bool pause, struct util_buf *msg);
/* SCHEDULE: read, then set for every connection to the same target. */
struct transmit_sched;
int source_schedule_get(const struct source *s, uint32_t con_id, struct transmit_sched *out,
			struct util_buf *msg);
int source_status_schedule(const struct source *s, uint32_t con_id, struct util_buf *out);
int source_schedule_set(struct source *s, uint32_t con_id, const struct transmit_sched *sched,
			struct util_buf *msg);
int source_bandwidth_set(struct source *s, uint32_t con_id, uint64_t limit, struct util_buf *msg);
int source_orphans_run(struct source *s, uint32_t con_id, bool start, struct util_buf *msg);
/* 1 when everything queued so far is applied on the target (and no mirror is
 * still producing), 0 when not yet, -1 for an unknown connection. */
int source_queue_drained(struct source *s, uint32_t con_id, struct util_buf *msg);
void source_list(const struct source *s, struct util_buf *out);
int source_status(const struct source *s, uint32_t con_id, struct util_buf *out);
/* STATISTICS: one record per connection (all when con_id is 0) in the form
 * of lib/statrec.h, with the names of the guide's "Connection Statistics"
 * table (man/dtstat.1 lists them). -1 with a message for an unknown con_id. */
int source_stats(const struct source *s, uint32_t con_id, struct util_buf *out);
/* Does a connection replicate this set in real time (Restore Required ones,
 * which send nothing, do not count)? */
bool source_replicates(const struct source *s, const char *repset);
struct restore_backup;
/* A restore asked of this agent as a target: a temporary connection sends
 * the copy described by b to host:port (see restore.h). Its ID, or -1 with
 * a message. */
int source_restore_start(struct source *s, const struct restore_backup *b,
			 const char *host, uint16_t port, uint32_t options,
			 struct util_buf *msg);
/* Is a set in use by a connection (refuse deleting it)? */
bool source_repset_busy(const struct source *s, const char *repset);

#endif
