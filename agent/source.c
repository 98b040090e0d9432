#include "config.h"

#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "conf.h"
#include "capture_host.h"
#include "cron.h"
#include "dtlog.h"
#include "link.h"
#include "mirror.h"
#include "mscript.h"
#include "blockmap.h"
#include "op.h"
#include "repset.h"
#include "tbucket.h"
#include "transmit.h"
#include "qlimit.h"
#include "restore.h"
#include "statrec.h"
#include "verifylog.h"
#include "wire.h"
#include "xlog.h"

#include <time.h>

#include <libconfig.h>

#define DEFAULT_PORT 1500
#define BATCH_BYTES (1u << 20)
#define LINK_HIGH_WATER (4u << 20)
#define RECONNECT_MS 1000
#define REFUSED_RETRY_MS 30000

/* One queued op, already encoded: the queue keeps exactly what goes on the
 * wire and drops it only when the target acknowledged it. */
struct qrec {
	struct qrec *next;
	uint64_t seq;
	uint32_t len;
	bool mirror; /* queued by a task (mirror, verify, orphans), not capture */
	uint8_t data[];
};

enum conn_state { CONN_STARTED, CONN_STOPPED, CONN_ERROR };

/* What walks the set: a mirror, a verification or an orphans run. */
enum task_kind { TASK_NONE, TASK_MIRROR, TASK_VERIFY, TASK_ORPHANS };

/* A VERIFY sent and not yet answered. Answers come in sequence order, so
 * the pending ones form a FIFO. */
struct probe {
	struct probe *next;
	uint64_t seq;
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t mtime_ns;
	bool link;         /* a further name of a hard-link group */
	bool guard;        /* a delta's guard (DITTO_VERIFY_GUARD) */
	bool replication;  /* ... queued by replication (statistics) */
	uint32_t rel_len, abs_len, first_len;
	char *rel, *abs, *first; /* first: the group's first name (link) */
};

/* The names of a multiply-linked inode the source has sent. */
struct lcache_ent {
	struct lcache_ent *hnext;        /* hash chain */
	struct lcache_ent *newer, *older; /* LRU list */
	dev_t dev;
	ino_t ino;
	struct util_buf names;           /* source paths, each NUL-terminated */
};

struct lcache {
	struct lcache_ent **tab; /* LCACHE_BUCKETS, allocated on first use */
	struct lcache_ent *newest, *oldest;
	size_t n;
};

/* How a walk uses the link cache (see conn_linked). */
enum link_mode {
	LINK_MIRROR,    /* a full mirror: remember names only */
	LINK_CHANGED,   /* a name changed (data, attributes): link known names */
	LINK_APPEARED,  /* a name appeared (create, link, rename): search too */
};

struct conn {
	struct source *src;
	uint32_t id;
	char *repset;
	char *target;      /* as typed */
	char host[256];
	uint16_t port;
	enum source_map map;
	char *base;
	struct source_map_pair *pairs;
	size_t npairs;
	char *root;        /* target root sent in CONNECT */
	bool replicate;
	enum conn_state state;
	char last_error[WIRE_MSG_MAX + 64];
	char cap_error[512];

	struct link *link;
	bool connected;    /* CONNECT_OK received on this link */
	bool tpaused;      /* the target asked us to wait (PAUSE) */
	uint64_t tretry_seq; /* op the target retries (TSTATUS), 0: none */
	char tretry_why[256];
	bool restore_required; /* the target stood in for us (WIRE_E_RESTORE) */
	bool overwrite;        /* MIRROR START over such a copy: say so */
	bool restored;         /* ... or a RESTORE brought the copy here */
	struct evloop_timer *retry;

	struct qrec *head, *tail, *send_next;
	uint64_t next_seq;
	uint64_t last_acked;
	uint64_t queued_ops, queued_bytes;
	uint64_t sent_ops, sent_bytes;
	/* Compression of BATCH frames: one setting for every connection of
	 * this source to the same host:port (source_compression_set).
	 * sent_wire counts BATCH frame bytes as they went on the wire. */
	enum wire_comp comp;
	int comp_level;
	struct wire_zctx *z;
	uint64_t sent_wire;
	/* Bandwidth limit (LIMIT BANDWIDTH), on sent_wire's bytes: 0 = none.
	 * When the bucket is empty conn_pump stops and bw_timer resumes it. */
	uint64_t bw_limit;
	struct tbucket bw;
	struct evloop_timer *bw_timer;
	/* Send rate over the last whole second: sent_wire at the start of
	 * the current second (rate_t, monotonic s) and what the one before
	 * sent. */
	uint64_t rate_t, rate_mark, rate_last;
	/* Transmission control: TRANSMIT (this connection), PAUSETARGET
	 * (every connection to the target; Pause Pending until what is in
	 * flight is applied), SCHEDULE (shared like compression). */
	enum tx_mode { TX_STARTED, TX_PAUSED, TX_STOPPED } tx;
	bool tx_target_paused, tx_pause_pending;
	bool tx_idle_close;  /* the link was closed between sessions */
	struct transmit_sched sched;
	struct transmit_session sess;

	/* Inode -> a name the target has for it, for inodes with more than
	 * one name (see "hard links" below). */
	struct lcache lc;
	enum link_mode link_mode; /* of the walk running now */
	unsigned search_left;     /* entries a sync may still search */

	struct mirror_walk *mw;
	struct evloop_timer *mirror_tick;
	bool mirror_done;
	struct mirror_stats mstats;

	/* The running task. It walks (mw), then waits for the answers to its
	 * probes (barrier_seq acked), then for the data those answers made it
	 * send (end_seq acked). */
	enum task_kind task;
	struct source_mirror_opts mopt;     /* CONNECT's: remirrors use it */
	struct source_mirror_opts run_mopt; /* the running mirror's */
	struct source_verify_opts vopt;
	bool mpaused, mstopped;
	uint64_t barrier_seq, end_seq;
	struct probe *probes, *probes_tail;
	struct mirror_walk *repair;         /* buffers for range repairs */
	uint64_t calc_bytes;                /* CALCULATE: 0 = not sized */
	uint64_t resent_files, resent_bytes;
	/* verification */
	struct verifylog *vlog;
	struct verifylog_totals vt;
	int vresult;                        /* see source_verify_result */
	char vsummary[512];
	char *vcron;
	struct cron_expr vcron_e;
	struct source_verify_opts vsched;
	time_t vnext;
	/* orphans */
	enum source_orphans_action orph;
	char *orph_move;                    /* relative to the target root */
	uint64_t orph_age;
	uint64_t orphans, orphans_removed, orphan_bytes;
	/* A restore's connection: made by a RESTORE request, never saved,
	 * removed with its set once its mirror is complete. */
	bool temporary;
	char *wire_repset;       /* the set's name as the destination knows it */
	uint32_t connect_opts;   /* WIRE_CONNECT_* */
	struct evloop_timer *remove_timer;

	/* The journal: every queued op is also in an xlog file, so an agent
	 * restart (even kill -9) loses nothing that was queued. Files are
	 * removed once all their ops are acknowledged, except the newest,
	 * which keeps the highest sequence number on disk. */
	struct xlog_writer *xw;
	struct jfile { uint64_t file_seq; uint64_t last_seq; } *jf;
	size_t njf;
	bool journal_failed;
	/* Spill: past queue.memory, new ops are only in the journal; the
	 * memory queue always holds the oldest ones and is refilled from the
	 * journal (spill_first .. next_seq - 1) as acknowledgements free it. */
	bool spilling;
	uint64_t spill_first;
	uint64_t spilled_ops, spilled_bytes;
	struct xlog_reader *sr;
	uint64_t sr_file;

	/* Block maps of what the target's copies hold, so real-time changes
	 * go as deltas (agent/blockmap.h); opened at first use. The guards
	 * sent ahead of deltas wait here for their acknowledgement (held) or
	 * a REPORT (failed: the file goes whole). */
	struct mscripts scripts;           /* SCRIPT ADD: on mirror events */
	struct blockmap_store *maps;
	bool maps_failed;
	struct mirror_walk *sync_walk;  /* sync_path's, while it runs */
	struct probe *guards, *guards_tail;
	uint64_t rt_files, rt_read, rt_sent, rt_whole;

	/* Statistics by origin (STATISTICS, source_stats): the mirror share
	 * of the queue (memory, then spilled) and of what was sent; the
	 * replication share is the rest. sent_comp counts the records part of
	 * each BATCH as it went on the wire (compressed or not). Spilled ops
	 * keep their origin in runs of sequence numbers (spill_origin_*). */
	uint64_t q_mirror_ops, q_mirror_bytes, sp_mirror_ops, sp_mirror_bytes;
	uint64_t sent_mirror, sent_comp, sent_comp_mirror;
	struct spill_run { uint64_t first_seq; bool mirror; } *sruns;
	size_t nsruns, srun_head;
	char last_file[DITTO_PATH_MAX + 1]; /* of the last op sent naming one */
	time_t connected_since;             /* CONNECT_OK on the current link */
	char peer_ip[64];                   /* the target's, last seen */
	enum task_kind stats_task;          /* the last task started */

	/* An exhausted queue (queue.disk_max, queue.min_free, a journal
	 * that cannot be written or read): auto-disconnect, flush, auto-
	 * reconnect, auto-remirror. The flush runs from a timer (adisc_why
	 * pending), never inside the enqueue that found the queue full. */
	char *adisc_why;
	struct evloop_timer *adisc_timer;
	bool adisc;               /* flushed, reconnecting */
	bool adisc_fail_logged;   /* 4011 said for this reconnect */
	bool mirror_required;     /* flushed and not remirrored yet */
	uint64_t adiscs;          /* auto-disconnects so far */
	/* Data the outstanding probes of a walk may bring back as resends:
	 * the walk waits while it would not fit the memory queue, so a
	 * remirror does not overrun the disk queue limits by itself. */
	uint64_t probe_bytes;

	struct conn *next;
};

struct source {
	struct agent *a;
	struct conn *conns;
	/* Free space on the queue's file system: measured (statvfs) every
	 * second and after each MiB written, minus what was written since. */
	uint64_t q_free, q_written;
	bool q_free_known;
	bool q_alerted;           /* queue.alert_percent reached */
	/* Ops queued now are replication: capture events are being handled,
	 * or a failed delta of theirs goes whole (guards_settle). */
	bool replicating;
	uint32_t next_id;
	char *conns_path; /* <state_dir>/connections.conf */
	struct evloop_timer *sync_timer;
	/* One capture instance serves every replicating connection. */
	struct capture_host_plugin *cap;
	char cap_error[512];
	/* Files written without a close to follow (truncate(2), writers that
	 * keep the file open): synced shortly after their last change. */
	char **dirty;
	size_t ndirty;
	struct evloop_timer *dirty_timer;
	struct evloop_timer *cron_timer;
};

static void conn_pump(struct conn *c);
static size_t conn_chunk(const struct conn *c);
static void conn_dial(struct conn *c);
static int conns_save(struct source *s);
static void sync_path(struct conn *c, const char *abs, size_t len, enum mirror_maps how,
		      bool appeared);
static void guards_settle(struct conn *c, uint64_t seq, bool failed);
static struct blockmap_store *conn_maps(struct conn *c);
static void queue_attrs(struct conn *c, const char *abs, size_t len, bool dirs_only);
static void task_progress(struct conn *c);
static void spill_stop(struct conn *c);
static void conn_acked(struct conn *c, uint64_t seq);
static void journal_reset(struct conn *c);
static int conn_mirror(struct conn *c, char *err, size_t errlen);
static void journal_path(const struct conn *c, uint64_t file_seq, char *buf, size_t len);
static void cron_tick(struct evloop *loop, struct evloop_timer *t, void *arg);
static time_t cron_after(const struct conn *c, time_t now);

static void conn_auto_disconnect(struct conn *c, const char *why);
static void adisc_reconnected(struct conn *c, uint64_t applied);

/* An exhausted queue: flushed (adisc, reconnecting) or about to be. */
static bool conn_adisc(const struct conn *c)
{
	return c->adisc || c->adisc_why;
}

/* Whether capture events are queued for the connection: not while an
 * exhausted queue waits for its remirror, which covers them. */
static bool conn_captures(const struct conn *c)
{
	return c->replicate && c->state != CONN_STOPPED && !conn_adisc(c) && !c->mirror_required;
}

static struct conn *conn_find(const struct source *s, uint32_t id)
{
	struct conn *c;

	for (c = s->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

/* ---------------------------------------------------------------- mapping */

/* Length of the directory prefix two absolute paths share ("/" at least). */
static size_t common_dir(const char *a, const char *b)
{
	size_t i = 0, last = 1;

	while (a[i] && a[i] == b[i]) {
		i++;
		if (a[i] == '/' || (!a[i] && (!b[i] || b[i] == '/')))
			last = i;
	}
	return last;
}

static void compute_root(struct conn *c, const char *source_name)
{
	size_t i, n;

	switch (c->map) {
	case SOURCE_MAP_DEFAULT:
		c->root = util_xasprintf("/%s/%s", source_name, c->repset);
		break;
	case SOURCE_MAP_EXACT:
		c->root = util_xstrdup("/");
		break;
	case SOURCE_MAP_BASE:
		c->root = util_xstrdup(c->base);
		break;
	case SOURCE_MAP_PAIRS:
		n = strlen(c->pairs[0].dst);
		for (i = 1; i < c->npairs; i++) {
			size_t m = common_dir(c->pairs[0].dst, c->pairs[i].dst);

			if (m < n)
				n = m;
		}
		c->root = util_xstrndup(c->pairs[0].dst, n);
		break;
	}
}

/* Does abs lie at or beneath dir? Returns the length of the part after dir
 * (0 for dir itself), or -1. */
static ssize_t beneath(const char *abs, size_t len, const char *dir)
{
	size_t dl = strlen(dir);

	if (dl == 1 && dir[0] == '/')
		return (ssize_t)len - 1;
	if (len < dl || memcmp(abs, dir, dl) || (len > dl && abs[dl] != '/'))
		return -1;
	return len == dl ? 0 : (ssize_t)(len - dl - 1);
}

/* Source path -> op path under the target root. Returns its length, 0 for
 * the root itself (which the target creates; no op can name it), or -1 when
 * the path is not mapped. */
static int map_path(void *ctx, const char *abs, size_t len, char *out, size_t outlen)
{
	struct conn *c = ctx;
	const char *rest;
	struct util_buf b;
	size_t i, best = 0;
	ssize_t r, bestr = -1;
	int ret = -1;

	util_buf_init(&b);
	if (c->map != SOURCE_MAP_PAIRS) {
		/* Every other map keeps the whole source path beneath the root. */
		util_buf_append(&b, abs + 1, len - 1);
	} else {
		for (i = 0; i < c->npairs; i++) {
			r = beneath(abs, len, c->pairs[i].src);
			if (r >= 0 && (bestr < 0 || strlen(c->pairs[i].src) > strlen(c->pairs[best].src))) {
				best = i;
				bestr = r;
			}
		}
		if (bestr < 0)
			goto done;
		r = beneath(c->pairs[best].dst, strlen(c->pairs[best].dst), c->root);
		if (r > 0)
			util_buf_append(&b, c->pairs[best].dst + strlen(c->pairs[best].dst) - (size_t)r, (size_t)r);
		if (bestr > 0) {
			rest = abs + len - bestr;
			if (b.len)
				util_buf_puts(&b, "/");
			util_buf_append(&b, rest, (size_t)bestr);
		}
	}
	if (b.len >= outlen || b.len > DITTO_PATH_MAX)
		goto done;
	if (b.len)
		memcpy(out, b.data, b.len);
	out[b.len] = '\0';
	ret = (int)b.len;
done:
	util_buf_free(&b);
	return ret;
}

/* ------------------------------------------------------------------ queue */

/* Appends an encoded op with its sequence number to the memory queue. */
static void queue_push(struct conn *c, uint64_t seq, const void *enc, size_t len, bool mirror)
{
	struct qrec *q = util_xmalloc(sizeof(*q) + len);

	q->next = NULL;
	q->seq = seq;
	q->len = (uint32_t)len;
	q->mirror = mirror;
	c->q_mirror_ops += mirror;
	c->q_mirror_bytes += mirror ? len : 0;
	memcpy(q->data, enc, len);
	if (c->tail)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
	if (!c->send_next)
		c->send_next = q;
	c->queued_ops++;
	c->queued_bytes += q->len;
}

static void journal_note(struct conn *c, uint64_t file_seq, uint64_t seq)
{
	if (c->njf && c->jf[c->njf - 1].file_seq == file_seq) {
		c->jf[c->njf - 1].last_seq = seq;
		return;
	}
	c->jf = util_xreallocarray(c->jf, c->njf + 1, sizeof(*c->jf));
	c->jf[c->njf].file_seq = file_seq;
	c->jf[c->njf].last_seq = seq;
	c->njf++;
}

static void spill_origin_note(struct conn *c, uint64_t seq, bool mirror, size_t len);
static bool spill_origin_of(struct conn *c, uint64_t seq);

/* ----------------------------------------------------------- queue limits */

static void queue_limits(const struct source *s, struct qlimit *l)
{
	l->disk_max = s->a->conf.queue.disk_max;
	l->min_free = s->a->conf.queue.min_free;
	l->alert_percent = s->a->conf.queue.alert_percent;
}

/* Bytes held in xlog files only, over every connection (one queue dir). */
static uint64_t disk_queued(const struct source *s)
{
	uint64_t n = 0;

	for (const struct conn *c = s->conns; c; c = c->next)
		n += c->spilled_bytes;
	return n;
}

static void queue_free_measure(struct source *s)
{
	struct statvfs vfs;

	s->q_free_known = statvfs(conf_queue_dir(&s->a->conf), &vfs) == 0;
	s->q_free = s->q_free_known ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
	s->q_written = 0;
}

/* Free space on the queue's file system as far as we know; unknown (the
 * directory cannot be examined) does not hold the queue up. */
static uint64_t queue_free(struct source *s)
{
	if (!s->q_free_known || s->q_written >= (1u << 20))
		queue_free_measure(s);
	if (!s->q_free_known)
		return UINT64_MAX;
	return s->q_free > s->q_written ? s->q_free - s->q_written : 0;
}

/* queue.alert_percent: logged (and sent to syslog) once when reached, and
 * once when usage falls below again. */
static void queue_alert(struct source *s)
{
	struct qlimit lim;
	uint64_t used = disk_queued(s), fr;
	unsigned pct;
	int r;

	queue_limits(s, &lim);
	fr = queue_free(s);
	pct = qlimit_percent(&lim, used, fr);
	r = qlimit_alert(&lim, pct, &s->q_alerted);
	if (r > 0)
		dtlog_event(DTLOG_WARNING, 0, "Queue usage alert: the disk queue is at %u%% (%" PRIu64 " bytes; queue.alert_percent %d); the connection is auto-disconnected when it is full",
			    pct, used, lim.alert_percent);
	else if (r < 0)
		dtlog_event(DTLOG_INFO, 0, "Queue usage back below queue.alert_percent: %u%% (%" PRIu64 " bytes)",
			    pct, used);
}

/* Task markers only ever come from a task, even when capture starts one (a
 * catch-up mirror after lost events). */
static bool op_is_task(const struct ditto_op *op)
{
	return op->kind == DITTO_OP_MIRROR_BEGIN || op->kind == DITTO_OP_MIRROR_END ||
	       op->kind == DITTO_OP_MARKER || op->kind == DITTO_OP_DIRLIST ||
	       op->kind == DITTO_OP_ORPHANS ||
	       (op->kind == DITTO_OP_VERIFY && !(op->flags & DITTO_VERIFY_GUARD));
}

static int conn_enqueue(struct conn *c, struct ditto_op *op)
{
	struct util_buf enc;
	bool mirror = !c->src->replicating || op_is_task(op), spill;
	struct qlimit lim;
	char why[256];

	/* Flushed or about to be: the remirror after the reconnect covers
	 * what comes now. */
	if (conn_adisc(c))
		return 0;
	op->seq = c->next_seq;
	util_buf_init(&enc);
	if (op_encode(op, &enc) < 0) {
		util_buf_free(&enc);
		return -1;
	}
	/* Memory full: the op lives on disk only until the queue has room
	 * again. A task's op never spills (its walk waits for room): one op
	 * over is better than a mirror exhausting a small disk queue. */
	spill = c->spilling || (c->queued_bytes + enc.len > c->src->a->conf.queue.memory && !mirror);
	if ((!c->xw || c->journal_failed) && spill && !c->temporary) {
		/* No journal, no disk queue: a full memory queue is exhausted. */
		conn_auto_disconnect(c, "the memory queue is full and the queue journal is unavailable");
		util_buf_free(&enc);
		return 0;
	}
	if (c->xw && !c->journal_failed) {
		queue_limits(c->src, &lim);
		/* A restore's connection only carries its mirror (never
		 * spilled) and cannot be auto-disconnected. */
		if (!c->temporary && qlimit_exhausted(&lim, disk_queued(c->src), enc.len, spill, queue_free(c->src),
				     why, sizeof(why))) {
			conn_auto_disconnect(c, why);
			util_buf_free(&enc);
			return 0;
		}
		if (xlog_append(c->xw, op) < 0) {
			snprintf(why, sizeof(why), "the queue journal cannot be written: %s", strerror(errno));
			if (!c->temporary) {
				conn_auto_disconnect(c, why);
				util_buf_free(&enc);
				return 0;
			}
			/* A restore goes on from memory (only its mirror). */
			c->journal_failed = true;
			dtlog(DTLOG_ERROR, 0, "Connection %u: %s", c->id, why);
		} else {
			c->src->q_written += enc.len;
			journal_note(c, xlog_writer_file_seq(c->xw), op->seq);
			if (spill) {
				if (!c->spilling) {
					c->spilling = true;
					c->spill_first = c->next_seq;
					dtlog(DTLOG_INFO, 0, "Connection %u: memory queue full (%" PRIu64 " bytes); queuing to disk",
					      c->id, c->queued_bytes);
				}
				c->spilled_ops++;
				c->spilled_bytes += enc.len;
				spill_origin_note(c, c->next_seq, mirror, enc.len);
				c->next_seq++;
				util_buf_free(&enc);
				queue_alert(c->src);
				return 0;
			}
		}
	}
	queue_push(c, c->next_seq++, enc.data, enc.len, mirror);
	util_buf_free(&enc);
	return 0;
}

/* Drops every queued op (and the guards waiting on them), in memory and in
 * the journal; the sequence and what the target acknowledged stay. */
static void queue_flush(struct conn *c)
{
	uint64_t acked = c->last_acked;

	spill_stop(c);
	conn_acked(c, UINT64_MAX);
	c->last_acked = acked;
	journal_reset(c);
}

/* Ops the target has not applied can no longer be sent: forgets every
 * queued op and starts the sequence where the target stands. */
static void conn_drop_queue(struct conn *c, uint64_t applied)
{
	queue_flush(c);
	c->next_seq = applied + 1;
	c->last_acked = applied;
}

/* The disk queue cannot be read back: the same safe path as a full one. */
static void spill_failed(struct conn *c, const char *why)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "the disk queue cannot be read back (%s)", why);
	conn_auto_disconnect(c, buf);
}

static void conn_lost_ops(struct conn *c, uint64_t applied, const char *why)
{
	char err[256];

	dtlog_event(DTLOG_ERROR, 0, "Connection %u: queued ops after op %" PRIu64 " were lost (%s); the connection is marked Mirror Required and remirrored",
		    c->id, applied, why);
	conn_drop_queue(c, applied);
	conn_mirror(c, err, sizeof(err));
}

static void spill_stop(struct conn *c)
{
	if (c->sr)
		xlog_reader_close(c->sr);
	c->sr = NULL;
	c->spilling = false;
	c->spilled_ops = c->spilled_bytes = 0;
	c->sp_mirror_ops = c->sp_mirror_bytes = 0;
	c->nsruns = c->srun_head = 0;
}

/* Spilled ops live only in the journal, which does not say who queued them:
 * their origins are kept here as runs of sequence numbers (one entry per
 * change of origin), consumed in order as spill_refill takes them back. */
static void spill_origin_note(struct conn *c, uint64_t seq, bool mirror, size_t len)
{
	c->sp_mirror_ops += mirror;
	c->sp_mirror_bytes += mirror ? len : 0;
	if (c->nsruns > c->srun_head && c->sruns[c->nsruns - 1].mirror == mirror)
		return;
	if (c->srun_head && c->srun_head * 2 >= c->nsruns) {
		memmove(c->sruns, c->sruns + c->srun_head, (c->nsruns - c->srun_head) * sizeof(*c->sruns));
		c->nsruns -= c->srun_head;
		c->srun_head = 0;
	}
	c->sruns = util_xreallocarray(c->sruns, c->nsruns + 1, sizeof(*c->sruns));
	c->sruns[c->nsruns].first_seq = seq;
	c->sruns[c->nsruns].mirror = mirror;
	c->nsruns++;
}

static bool spill_origin_of(struct conn *c, uint64_t seq)
{
	while (c->srun_head + 1 < c->nsruns && c->sruns[c->srun_head + 1].first_seq <= seq)
		c->srun_head++;
	return c->srun_head < c->nsruns && c->sruns[c->srun_head].mirror;
}

/* Moves spilled ops back into memory, oldest first, while there is room. */
static void spill_refill(struct conn *c)
{
	struct util_buf enc;
	char path[PATH_MAX];

	util_buf_init(&enc);
	while (c->spilling && c->queued_bytes < c->src->a->conf.queue.memory) {
		struct ditto_op op;
		size_t i;
		int rc;

		if (!c->sr) {
			for (i = 0; i < c->njf && c->jf[i].last_seq < c->spill_first; i++)
				;
			if (i == c->njf) {
				spill_failed(c, "spilled ops missing from the journal");
				break;
			}
			journal_path(c, c->jf[i].file_seq, path, sizeof(path));
			c->sr = xlog_reader_open(path);
			c->sr_file = c->jf[i].file_seq;
			if (!c->sr) {
				spill_failed(c, strerror(errno));
				break;
			}
		}
		rc = xlog_read(c->sr, &op);
		if (rc == 0) {
			/* End of this file: the next one holds the rest. */
			xlog_reader_close(c->sr);
			c->sr = NULL;
			for (i = 0; i < c->njf && c->jf[i].file_seq <= c->sr_file; i++)
				;
			if (i == c->njf) {
				spill_failed(c, "journal ends before the spilled ops");
				break;
			}
			journal_path(c, c->jf[i].file_seq, path, sizeof(path));
			c->sr = xlog_reader_open(path);
			c->sr_file = c->jf[i].file_seq;
			if (!c->sr) {
				spill_failed(c, strerror(errno));
				break;
			}
			continue;
		}
		if (rc < 0) {
			spill_failed(c, xlog_reader_error(c->sr));
			break;
		}
		if (op.seq >= c->spill_first) {
			if (op.seq != c->spill_first) {
				op_free(&op);
				spill_failed(c, "a gap in the journal");
				break;
			}
			util_buf_reset(&enc);
			if (op_encode(&op, &enc) == 0) {
				bool mirror = spill_origin_of(c, op.seq);

				queue_push(c, op.seq, enc.data, enc.len, mirror);
				c->sp_mirror_ops -= mirror;
				c->sp_mirror_bytes -= mirror ? enc.len : 0;
				c->spilled_ops--;
				c->spilled_bytes -= enc.len < c->spilled_bytes ? enc.len : c->spilled_bytes;
			}
			if (++c->spill_first == c->next_seq)
				spill_stop(c);
		}
		op_free(&op);
	}
	util_buf_free(&enc);
}

static const char *queue_dir(const struct conn *c)
{
	return conf_queue_dir(&c->src->a->conf);
}

static void journal_path(const struct conn *c, uint64_t file_seq, char *buf, size_t len)
{
	char name[256];

	if (xlog_file_name(name, sizeof(name), c->host, c->port, c->id, file_seq) < 0)
		name[0] = '\0';
	snprintf(buf, len, "%s/%s", queue_dir(c), name);
}

/* Drops journal files whose every op the target has applied. */
static void journal_trim(struct conn *c)
{
	char path[PATH_MAX];
	size_t i = 0;

	while (i + 1 < c->njf && c->jf[i].last_seq <= c->last_acked) {
		journal_path(c, c->jf[i].file_seq, path, sizeof(path));
		if (xlog_remove(path) < 0 && errno != ENOENT)
			break;
		i++;
	}
	if (i) {
		memmove(c->jf, c->jf + i, (c->njf - i) * sizeof(*c->jf));
		c->njf -= i;
	}
}

/* Starts the journal afresh: every file of this connection goes. */
static void journal_reset(struct conn *c)
{
	struct xlog_files files = { NULL, 0 };
	uint64_t next_file = c->xw ? xlog_writer_file_seq(c->xw) + 1 : 1;
	size_t i;

	spill_stop(c);
	xlog_writer_close(c->xw);
	c->xw = NULL;
	if (xlog_list(queue_dir(c), c->host, c->port, c->id, &files) == 0)
		for (i = 0; i < files.n; i++)
			xlog_remove(files.v[i].path);
	xlog_files_free(&files);
	c->njf = 0;
	/* The directory may be what went missing. */
	if (!c->journal_failed && util_mkdir_p(queue_dir(c), 0750) == 0)
		c->xw = xlog_writer_open(queue_dir(c), c->host, c->port, c->id, next_file,
					 c->src->a->conf.queue.xlog_size);
}

/* Reads back what a previous run journaled and did not see acknowledged.
 * A torn last record (the crash hit mid-write) is cut away; corruption in
 * the middle is logged and answered with a remirror, never skipped. */
static int journal_replay(struct conn *c, bool *need_mirror)
{
	struct xlog_files files = { NULL, 0 };
	struct util_buf enc;
	uint64_t next_file = 1;
	size_t i;
	int ret = -1;

	util_buf_init(&enc);
	if (xlog_list(queue_dir(c), c->host, c->port, c->id, &files) < 0)
		goto done;
	for (i = 0; i < files.n; i++) {
		struct xlog_reader *r = xlog_reader_open(files.v[i].path);
		struct ditto_op op;
		int rc;

		next_file = files.v[i].file_seq + 1;
		if (!r)
			continue;
		while ((rc = xlog_read(r, &op)) == 1) {
			/* Journal order is sequence order; the saved next_seq may
			 * be ahead of what is journaled, never a reason to skip. */
			if ((!c->tail || op.seq > c->tail->seq) && (!c->spilling || op.seq >= c->next_seq)) {
				util_buf_reset(&enc);
				if (op_encode(&op, &enc) == 0) {
					/* Memory holds the oldest; the rest stays on disk. */
					if (c->spilling || c->queued_bytes + enc.len > c->src->a->conf.queue.memory) {
						if (!c->spilling) {
							c->spilling = true;
							c->spill_first = op.seq;
						}
						c->spilled_ops++;
						c->spilled_bytes += enc.len;
						spill_origin_note(c, op.seq, op_is_task(&op), enc.len);
					} else {
						/* The journal does not keep the origin: only
						 * task markers are known to be mirror ops. */
						queue_push(c, op.seq, enc.data, enc.len, op_is_task(&op));
					}
				}
				if (op.seq >= c->next_seq)
					c->next_seq = op.seq + 1;
			}
			journal_note(c, files.v[i].file_seq, op.seq);
			op_free(&op);
		}
		if (rc == -2) {
			dtlog(DTLOG_WARNING, 0, "Queue journal %s ends in a torn record at byte %" PRIu64 "; cutting it off",
			      files.v[i].path, xlog_reader_offset(r));
			if (xlog_reader_offset(r) == 0)
				xlog_remove(files.v[i].path);
			else
				xlog_truncate_tail(files.v[i].path, xlog_reader_offset(r));
		} else if (rc == -1) {
			dtlog_event(DTLOG_ERROR, 0, "Queue journal %s is corrupt at byte %" PRIu64 " (%s); connection %u is marked Mirror Required",
				    files.v[i].path, xlog_reader_offset(r), xlog_reader_error(r), c->id);
			*need_mirror = true;
		}
		xlog_reader_close(r);
	}
	/* Everything before the oldest journaled op was acknowledged; telling
	 * the target so keeps it from taking us for a new connection. */
	c->last_acked = c->head ? c->head->seq - 1 : c->next_seq - 1;
	c->xw = xlog_writer_open(queue_dir(c), c->host, c->port, c->id, next_file,
				 c->src->a->conf.queue.xlog_size);
	if (!c->xw)
		goto done;
	ret = 0;
done:
	util_buf_free(&enc);
	xlog_files_free(&files);
	return ret;
}

static void conn_acked(struct conn *c, uint64_t seq)
{
	if (seq > c->last_acked)
		c->last_acked = seq;
	guards_settle(c, seq, false);
	while (c->head && c->head->seq <= seq) {
		struct qrec *q = c->head;

		c->head = q->next;
		if (c->send_next == q)
			c->send_next = q->next;
		c->queued_ops--;
		c->queued_bytes -= q->len;
		c->q_mirror_ops -= q->mirror;
		c->q_mirror_bytes -= q->mirror ? q->len : 0;
		free(q);
	}
	if (!c->head)
		c->tail = NULL;
	journal_trim(c);
	spill_refill(c);
}

static int conn_linked(void *ctx, const char *abs, size_t len,
		       const struct stat *st, const char *mpath, size_t mlen);
static void lcache_free(struct lcache *lc);
static void queue_dir_attrs(struct conn *c, const char *abs, size_t len);

/* ----------------------------------------------------------------- mirror */

static enum mirror_verdict mirror_match(void *ctx, const char *abs, size_t len, bool is_dir)
{
	struct conn *c = ctx;
	const struct repset *rs = repset_db_find(c->src->a->repsets, c->repset);

	if (!rs)
		return MIRROR_SKIP;
	if (repset_match(rs, abs, len))
		return MIRROR_INCLUDE;
	if (is_dir && repset_descend(rs, abs, len))
		return MIRROR_DESCEND;
	return MIRROR_SKIP;
}

static void probe_free(struct probe *p)
{
	free(p->rel);
	free(p->abs);
	free(p->first);
	free(p);
}

/* Takes the oldest walk probe off the list; the caller frees it. */
static struct probe *probe_pop(struct conn *c)
{
	struct probe *p = c->probes;

	c->probes = p->next;
	if (!c->probes)
		c->probes_tail = NULL;
	c->probe_bytes -= p->size < c->probe_bytes ? p->size : c->probe_bytes;
	return p;
}

static void probes_clear(struct conn *c)
{
	while (c->probes)
		probe_free(probe_pop(c));
	c->probe_bytes = 0;
}

/* Remembers a VERIFY just queued, with the source path walk w is at. */
static void probe_note(struct conn *c, struct mirror_walk *w, const struct ditto_op *op)
{
	struct probe *p = util_xcalloc(1, sizeof(*p));
	struct probe **head = &c->probes, **tail = &c->probes_tail;
	const char *abs;
	size_t alen;

	abs = mirror_walk_abs(w, &alen);
	p->seq = op->seq;
	p->mode = op->mode;
	p->uid = op->uid;
	p->gid = op->gid;
	p->size = op->len;
	p->mtime_ns = op->mtime_ns;
	p->link = op->flags & DITTO_VERIFY_LINK;
	p->rel = util_xstrndup(op->path, op->path_len);
	p->rel_len = op->path_len;
	p->abs = util_xstrndup(abs, alen);
	p->abs_len = (uint32_t)alen;
	if (p->link) {
		p->first = util_xstrndup((const char *)op->data, op->data_len);
		p->first_len = op->data_len;
	}
	if (op->flags & DITTO_VERIFY_GUARD) {
		p->guard = true;
		p->replication = c->src->replicating;
		head = &c->guards;
		tail = &c->guards_tail;
	} else {
		c->probe_bytes += p->size;
	}
	if (*tail)
		(*tail)->next = p;
	else
		*head = p;
	*tail = p;
}

/* The guards up to seq were applied: those not answered held (failed:
 * their answers were lost with a link, so the file goes whole). */
static void guards_settle(struct conn *c, uint64_t seq, bool failed)
{
	while (c->guards && c->guards->seq <= seq) {
		struct probe *p = c->guards;

		c->guards = p->next;
		if (!c->guards)
			c->guards_tail = NULL;
		if (failed) {
			/* The file goes whole for whoever sent the delta. */
			bool was = c->src->replicating;

			c->src->replicating = p->replication;
			sync_path(c, p->abs, p->abs_len, MIRROR_MAPS_REBUILD, false);
			c->src->replicating = was;
		}
		probe_free(p);
	}
}

static int mirror_emit(void *ctx, const struct ditto_op *op)
{
	struct conn *c = ctx;
	struct ditto_op copy;
	int rc;

	if (op_copy(&copy, op) < 0)
		return -1;
	rc = conn_enqueue(c, &copy);
	if (rc == 0 && copy.kind == DITTO_OP_VERIFY) {
		if ((copy.flags & DITTO_VERIFY_GUARD) && c->sync_walk)
			probe_note(c, c->sync_walk, &copy);
		else if (!(copy.flags & DITTO_VERIFY_GUARD) && c->mw)
			probe_note(c, c->mw, &copy);
	}
	op_free(&copy);
	return rc;
}

static uint64_t enqueue_control(struct conn *c, uint16_t kind, uint16_t flags, uint64_t off)
{
	struct ditto_op op;
	uint64_t seq = c->next_seq;

	op_init(&op, kind);
	op.flags = flags;
	op.off = off;
	if (conn_enqueue(c, &op) < 0)
		seq = 0;
	op_free(&op);
	return seq;
}

static const char *task_name(enum task_kind k)
{
	return k == TASK_VERIFY ? "Verification" : k == TASK_ORPHANS ? "Orphans run" : "Mirror";
}

static const char *mirror_type_word(enum source_mirror_type t)
{
	return t == SOURCE_MIRROR_CHECKSUM ? "checksum" : t == SOURCE_MIRROR_DIFFERENT ? "different" : "full";
}

/* The walk is over: what comes next depends on the task. Probes still
 * unanswered are answered before the barrier is acknowledged. */
static void task_walk_done(struct conn *c)
{
	if (c->task == TASK_MIRROR && c->run_mopt.type == SOURCE_MIRROR_FULL)
		c->end_seq = enqueue_control(c, DITTO_OP_MIRROR_END, 0, 0);
	else
		c->barrier_seq = enqueue_control(c, DITTO_OP_MARKER, 0, c->id);
}

static void verify_finish(struct conn *c, const char *why)
{
	const struct verifylog_totals *t = &c->vt;
	char err[256] = "";

	if (why) {
		c->vresult = -1;
		snprintf(c->vsummary, sizeof(c->vsummary), "verification of connection %u stopped: %s", c->id, why);
	} else if (t->different || t->orphans || t->errors) {
		c->vresult = 2;
		snprintf(c->vsummary, sizeof(c->vsummary),
			 "connection %u NOT in sync: %" PRIu64 " of %" PRIu64 " entries differ (%" PRIu64 " missing on the target, %" PRIu64 " blocks), %" PRIu64 " orphans, %" PRIu64 " errors%s",
			 c->id, t->different, t->entries, t->missing, t->blocks_different, t->orphans, t->errors,
			 c->vopt.remirror ? "; differences remirrored" : "");
	} else {
		c->vresult = 1;
		snprintf(c->vsummary, sizeof(c->vsummary), "connection %u in sync: %" PRIu64 " entries, %" PRIu64 " bytes compared",
			 c->id, t->entries, t->bytes_compared);
	}
	if (c->vlog) {
		if (verifylog_end(c->vlog, t, why ? why : c->vresult == 1 ? "in sync" : "differences found",
				  time(NULL), err, sizeof(err)) < 0)
			dtlog(DTLOG_WARNING, 0, "Verification log of connection %u: %s", c->id, err);
		c->vlog = NULL;
	}
	dtlog(c->vresult == 1 ? DTLOG_INFO : DTLOG_WARNING, 96, "Verification ended %u: %s", c->id, c->vsummary);
}

static void temp_remove(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct conn *c = arg;
	struct source *s = c->src;
	struct util_buf msg;
	char *rs = util_xstrdup(c->repset), err[256];

	(void)loop;
	(void)t;
	c->remove_timer = NULL;
	util_buf_init(&msg);
	source_disconnect(s, c->id, &msg);
	repset_db_delete(s->a->repsets, rs, REPSET_GEN_ANY, err, sizeof(err));
	util_buf_free(&msg);
	free(rs);
}

static void conn_script(struct conn *c, enum mscript_event e, const char *reason)
{
	struct mscript_info info = {
		.con_id = c->id, .source = c->src->a->conf.agent.name, .repset = c->repset,
		.target = c->target, .target_path = c->root, .type = mirror_type_word(c->run_mopt.type),
		.reason = reason,
	};

	info.files = c->run_mopt.type == SOURCE_MIRROR_FULL ? c->mstats.files : c->resent_files;
	info.bytes = c->run_mopt.type == SOURCE_MIRROR_FULL ? c->mstats.bytes : c->resent_bytes;
	mscript_fire(&c->scripts, c->src->a->loop, e, &info);
}

static void task_end(struct conn *c, const char *why)
{
	enum task_kind k = c->task;

	if (k == TASK_NONE)
		return;
	c->task = TASK_NONE;
	c->barrier_seq = c->end_seq = 0;
	if (k == TASK_VERIFY && c->vlog)
		verify_finish(c, why);
	if (k == TASK_MIRROR && c->temporary && !c->remove_timer) {
		/* Not from inside the link's own callbacks: on a fresh turn. */
		dtlog(why ? DTLOG_ERROR : DTLOG_INFO, 98, "Restore %s: %s to %s (%" PRIu64 " files, %" PRIu64 " bytes sent)",
		      why ? "stopped" : "complete", c->wire_repset, c->target,
		      c->run_mopt.type == SOURCE_MIRROR_FULL ? c->mstats.files : c->resent_files,
		      c->run_mopt.type == SOURCE_MIRROR_FULL ? c->mstats.bytes : c->resent_bytes);
		c->remove_timer = evloop_timer_add(c->src->a->loop, 0, 0, temp_remove, c);
		return;
	}
	if (k == TASK_MIRROR)
		conn_script(c, why || c->mstopped ? MSCRIPT_STOP : MSCRIPT_COMPLETE, why);
	if (k == TASK_MIRROR && !why && !c->mstopped) {
		c->mirror_done = true;
		dtlog(DTLOG_INFO, 93, "Mirror ended %u (%s: %" PRIu64 " files, %" PRIu64 " bytes sent%s)", c->id,
		      mirror_type_word(c->run_mopt.type),
		      c->run_mopt.type == SOURCE_MIRROR_FULL ? c->mstats.files : c->resent_files,
		      c->run_mopt.type == SOURCE_MIRROR_FULL ? c->mstats.bytes : c->resent_bytes,
		      c->mstats.skipped_errors ? ", some entries skipped: see the log" : "");
		conns_save(c->src);
	} else if (k == TASK_ORPHANS && !why) {
		dtlog(DTLOG_INFO, 0, "Orphans run ended %u: %" PRIu64 " orphans, %" PRIu64 " removed or moved (%" PRIu64 " bytes)",
		      c->id, c->orphans, c->orphans_removed, c->orphan_bytes);
	}
}

/* Called when acknowledgements move: the barrier means every answer is in. */
static void task_progress(struct conn *c)
{
	if (c->task == TASK_NONE || c->mw)
		return;
	if (c->barrier_seq && c->last_acked >= c->barrier_seq) {
		c->barrier_seq = 0;
		if (c->task == TASK_VERIFY)
			verify_finish(c, NULL);
		/* The data the answers made us send is queued by now. */
		if (c->task == TASK_MIRROR)
			c->end_seq = enqueue_control(c, DITTO_OP_MIRROR_END, 0, 0);
		else
			c->task = TASK_NONE;
		conn_pump(c);
	}
	if (c->end_seq && c->last_acked >= c->end_seq)
		task_end(c, NULL);
}

static bool walk_has_room(const struct conn *c)
{
	return !c->spilling && c->queued_bytes + c->probe_bytes < c->src->a->conf.queue.memory;
}

static void mirror_tick(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct conn *c = arg;
	int rc;

	(void)t;
	c->mirror_tick = NULL;
	if (!c->mw || c->mpaused) {
		conn_pump(c); /* what the task queued before it paused goes */
		return;
	}
	/* Memory bounds the walk: it waits for acks when the queue is full
	 * (or spilling: a mirror never queues to disk), counting what its
	 * unanswered probes may still resend. */
	if (walk_has_room(c)) {
		c->link_mode = LINK_MIRROR;
		rc = mirror_walk_step(c->mw, 4u << 20, 512);
		mirror_walk_stats(c->mw, &c->mstats);
		if (rc <= 0) {
			if (rc < 0)
				dtlog(DTLOG_ERROR, 90, "%s stopped %u: %s", task_name(c->task), c->id,
				      mirror_walk_error(c->mw));
			mirror_walk_free(c->mw);
			c->mw = NULL;
			task_walk_done(c);
		}
	}
	conn_pump(c);
	if (c->mw && !c->mpaused && walk_has_room(c))
		c->mirror_tick = evloop_timer_add(loop, 0, 0, mirror_tick, c);
}

/* Starts a walk of the set: a mirror (c->run_mopt), a verification
 * (c->vopt) or an orphans run. Whatever task ran is dropped first. */
static int conn_task(struct conn *c, enum task_kind kind, char *err, size_t errlen)
{
	const struct repset *rs = repset_db_find(c->src->a->repsets, c->repset);
	struct repset_root *roots = NULL;
	const char **paths = NULL;
	struct mirror_opts mo;
	size_t n = 0, i;
	int ret = -1;

	if (conn_adisc(c)) {
		snprintf(err, errlen, "connection %u was auto-disconnected and is reconnecting; its remirror starts then", c->id);
		return -1;
	}
	if (!rs) {
		snprintf(err, errlen, "replication set %s no longer exists", c->repset);
		return -1;
	}
	if (c->mw) {
		mirror_walk_free(c->mw);
		c->mw = NULL;
	}
	task_end(c, "replaced by a new task");
	repset_roots(rs, &roots, &n);
	paths = util_xcalloc(n ? n : 1, sizeof(*paths));
	for (i = 0; i < n; i++)
		paths[i] = roots[i].path;
	memset(&mo, 0, sizeof(mo));
	mo.emit = mirror_emit;
	mo.match = mirror_match;
	mo.map = map_path;
	mo.linked = conn_linked;
	mo.ctx = c;
	mo.xattrs = true;
	mo.block = (uint32_t)c->src->a->conf.capture.block_size;
	mo.chunk = conn_chunk(c);
	mo.maps = conn_maps(c); /* MIRROR_MAPS_FORGET: what it sends drops them */
	switch (kind) {
	case TASK_MIRROR:
		mo.probe = c->run_mopt.type == SOURCE_MIRROR_FULL ? MIRROR_SEND : MIRROR_PROBE_FILES;
		mo.checksum = c->run_mopt.type == SOURCE_MIRROR_CHECKSUM;
		/* The reference's "checksum all" global option; without it only
		 * files flagged as different by size or time are compared. A
		 * restore's CHECKSUM compares every file, as the reference's. */
		mo.flagged = mo.checksum && !c->src->a->conf.mirror.checksum_all && !c->temporary;
		mo.dirlists = c->orph != SOURCE_ORPHANS_OFF;
		break;
	case TASK_VERIFY:
		mo.probe = MIRROR_PROBE_ALL;
		mo.checksum = c->vopt.checksum;
		mo.dirlists = true; /* orphans are differences too */
		break;
	default:
		mo.probe = MIRROR_DIRS_ONLY;
		mo.dirlists = true;
		break;
	}
	c->calc_bytes = 0;
	if (kind == TASK_MIRROR && c->run_mopt.calculate &&
	    mirror_calculate(paths, n, mirror_match, c, &c->calc_bytes, NULL) < 0)
		c->calc_bytes = 0;
	c->mw = mirror_walk_new(paths, n, &mo, err, errlen);
	if (!c->mw)
		goto done;
	if (!c->repair)
		c->repair = mirror_walk_new(NULL, 0, &mo, err, errlen);
	probes_clear(c);
	c->task = kind;
	c->stats_task = kind;
	c->mpaused = c->mstopped = false;
	if (kind == TASK_MIRROR)
		c->mirror_required = false; /* it covers what was flushed */
	c->resent_files = c->resent_bytes = 0;
	c->orphans = c->orphans_removed = c->orphan_bytes = 0;
	memset(&c->mstats, 0, sizeof(c->mstats));
	if (mo.dirlists) {
		/* The policy rides in the queue, ahead of the listings it
		 * applies to; a verification without orphan handling only
		 * reports them. */
		struct ditto_op op;
		uint16_t fl = 0;

		op_init(&op, DITTO_OP_ORPHANS);
		if (kind != TASK_VERIFY || c->orph != SOURCE_ORPHANS_OFF) {
			fl = c->orph == SOURCE_ORPHANS_DELETE ? DITTO_ORPHANS_DELETE :
			     c->orph == SOURCE_ORPHANS_MOVE ? DITTO_ORPHANS_MOVE : 0;
			fl |= DITTO_ORPHANS_LOG;
		}
		op.flags = fl;
		op.off = c->orph_age;
		if ((fl & DITTO_ORPHANS_MOVE) && c->orph_move)
			op_set_data(&op, c->orph_move, strlen(c->orph_move));
		conn_enqueue(c, &op);
		op_free(&op);
	}
	if (kind == TASK_MIRROR) {
		enqueue_control(c, DITTO_OP_MIRROR_BEGIN, (uint16_t)c->run_mopt.type, c->calc_bytes);
		c->mirror_done = false;
		dtlog(DTLOG_INFO, 89, "Mirror started %u (%s%s)", c->id, mirror_type_word(c->run_mopt.type),
		      c->run_mopt.newer ? ", newer only" : "");
		conns_save(c->src);
		conn_script(c, MSCRIPT_START, NULL);
	} else if (kind == TASK_VERIFY) {
		struct verifylog_opts vo = {
			.dir = c->src->a->conf.agent.log_dir,
			.base_name = c->src->a->conf.verify.log_name,
			.repset = c->repset,
			.max_length = c->src->a->conf.verify.log_max_length,
			.append = c->src->a->conf.verify.log_append,
		};
		char opts[96];
		struct verifylog_run run = { .con_id = c->id, .target = c->target, .options = opts,
					     .started = time(NULL) };
		char verr[256];

		snprintf(opts, sizeof(opts), "%s%s%s", c->vopt.checksum ? "CHECKSUM " : "METADATA ",
			 c->vopt.remirror ? "REMIRROR " : "", c->vopt.newer ? "NEWER" : "");
		memset(&c->vt, 0, sizeof(c->vt));
		c->vresult = 0;
		c->vsummary[0] = '\0';
		util_mkdir_p(vo.dir, 0750);
		c->vlog = verifylog_begin(&vo, &run, verr, sizeof(verr));
		if (!c->vlog)
			dtlog(DTLOG_WARNING, 0, "Verification of connection %u runs without its log: %s", c->id, verr);
		dtlog(DTLOG_INFO, 95, "Verification started %u (%s)", c->id, opts);
	}
	if (!c->mirror_tick)
		c->mirror_tick = evloop_timer_add(c->src->a->loop, 0, 0, mirror_tick, c);
	ret = 0;
done:
	free(paths);
	repset_roots_free(roots, n);
	return ret;
}

static int conn_mirror(struct conn *c, char *err, size_t errlen)
{
	c->run_mopt = c->mopt;
	c->run_mopt.calculate = false;
	return conn_task(c, TASK_MIRROR, err, errlen);
}

/* Something changed that we did not see (lost capture events, a delta the
 * target skipped before a restart): a difference mirror finds it, since the
 * copy's size or mtime lags; a checksum mirror if that is the connection's
 * type. It replaces a running mirror, which may have passed the place. */
static void conn_catch_up(struct conn *c)
{
	char err[256];

	/* After an auto-disconnect the remirror (or MIRROR START, with
	 * queue.auto_remirror none) covers it. */
	if (conn_adisc(c) || c->mirror_required)
		return;
	c->run_mopt = c->mopt;
	c->run_mopt.calculate = false;
	c->run_mopt.newer = false;
	if (c->run_mopt.type == SOURCE_MIRROR_FULL)
		c->run_mopt.type = SOURCE_MIRROR_DIFFERENT;
	if (conn_task(c, TASK_MIRROR, err, sizeof(err)) < 0)
		dtlog(DTLOG_ERROR, 0, "Connection %u: %s", c->id, err);
}

/* ---------------------------------------------------------------- reports */

static void verify_count(struct conn *c, const struct probe *p, const struct wire_report *r,
			 bool resend)
{
	struct verifylog_side src = { p->size, p->mtime_ns, p->mode, p->uid, p->gid };
	struct verifylog_side tgt = { r->size, r->mtime_ns, r->mode, r->uid, r->gid };
	uint64_t blocks = 0, bytes = 0;
	uint32_t i;

	c->vt.entries++;
	if (S_ISDIR(p->mode))
		c->vt.dirs++;
	else
		c->vt.files++;
	if (S_ISREG(p->mode))
		c->vt.bytes_compared += p->size;
	if (!r->what)
		return;
	for (i = 0; i < r->nranges; i++)
		bytes += r->ranges[i].len;
	if (r->what & WIRE_DIFF_DATA)
		blocks = bytes / c->src->a->conf.capture.block_size + (bytes % c->src->a->conf.capture.block_size != 0);
	c->vt.different++;
	if (r->what & WIRE_DIFF_MISSING)
		c->vt.missing++;
	if (r->what & WIRE_DIFF_ERROR)
		c->vt.errors++;
	c->vt.blocks_different += blocks;
	c->vt.bytes_different += bytes;
	verifylog_entry(c->vlog, p->rel, p->rel_len, r->what, &src,
			(r->what & WIRE_DIFF_MISSING) ? NULL : &tgt, blocks, resend);
}

/* A repair that adds or replaces a name changes its directory's times on
 * the target: send the source's again after it. */
static void repair_parent(struct conn *c, const struct probe *p)
{
	const char *slash = memrchr(p->abs, '/', p->abs_len);
	char *dir;

	if (!slash || slash == p->abs)
		return;
	dir = util_xstrndup(p->abs, (size_t)(slash - p->abs));
	queue_attrs(c, dir, strlen(dir), true);
	free(dir);
}

/* Sends what a comparison found different. */
static void repair(struct conn *c, const struct probe *p, const struct wire_report *r, bool checksum)
{
	const uint32_t whole = WIRE_DIFF_MISSING | WIRE_DIFF_TYPE | WIRE_DIFF_LINK | WIRE_DIFF_ERROR |
			       (checksum ? 0 : WIRE_DIFF_SIZE | WIRE_DIFF_MTIME | WIRE_DIFF_DATA);
	uint64_t before = c->queued_bytes;

	if (p->link && (r->what & WIRE_DIFF_LINK || r->what & WIRE_DIFF_MISSING)) {
		struct ditto_op op;

		op_init(&op, DITTO_OP_LINK);
		op_set_path(&op, p->rel, p->rel_len);
		op_set_path2(&op, p->first, p->first_len);
		conn_enqueue(c, &op);
		op_free(&op);
		repair_parent(c, p);
		return;
	}
	if ((r->what & whole) || (!S_ISREG(p->mode) && (r->what & ~(uint32_t)(WIRE_DIFF_MODE | WIRE_DIFF_OWNER | WIRE_DIFF_MTIME)))) {
		/* A difference mirror saw only that size or mtime moved on,
		 * most often because the source changed while we were away:
		 * a delta, guarded, is right then. A comparison of content
		 * found the copy itself different: whole. */
		sync_path(c, p->abs, p->abs_len,
			  !checksum && c->task == TASK_MIRROR && !(r->what & (WIRE_DIFF_MISSING | WIRE_DIFF_TYPE | WIRE_DIFF_ERROR)) ?
			  MIRROR_MAPS_DELTA : MIRROR_MAPS_REBUILD, false);
		if (r->what & (WIRE_DIFF_MISSING | WIRE_DIFF_TYPE | WIRE_DIFF_LINK))
			repair_parent(c, p);
	} else if (r->what & (WIRE_DIFF_DATA | WIRE_DIFF_SIZE)) {
		struct mirror_range rg[WIRE_REPORT_RANGES + 1];
		uint32_t i, n = 0;

		for (i = 0; i < r->nranges; i++) {
			rg[n].off = r->ranges[i].off;
			rg[n].len = r->ranges[i].len;
			n++;
		}
		/* Grown on the source: the tail the target lacks. */
		if (p->size > r->size) {
			rg[n].off = r->size;
			rg[n].len = p->size - r->size;
			n++;
		}
		if (mirror_send_ranges(c->repair, p->abs, p->rel, p->rel_len, rg, n) == 1)
			sync_path(c, p->abs, p->abs_len, MIRROR_MAPS_REBUILD, false);
	} else {
		queue_attrs(c, p->abs, p->abs_len, false);
	}
	c->resent_files++;
	c->resent_bytes += c->queued_bytes > before ? c->queued_bytes - before : 0;
}

static void probe_answered(struct conn *c, const struct probe *p, const struct wire_report *r)
{
	bool resend = c->task == TASK_MIRROR || (c->task == TASK_VERIFY && c->vopt.remirror);
	bool newer = c->task == TASK_MIRROR ? c->run_mopt.newer : c->vopt.newer;
	bool checksum = c->task == TASK_MIRROR ? c->run_mopt.type == SOURCE_MIRROR_CHECKSUM : c->vopt.checksum;

	/* "Only if the source is newer": a target copy at least as new is
	 * left alone unless it is missing or of another type. */
	if (r->what && newer && !(r->what & (WIRE_DIFF_MISSING | WIRE_DIFF_TYPE)) &&
	    p->mtime_ns <= r->mtime_ns)
		resend = false;
	/* A plain restore brings back only what the destination lacks. */
	if (c->task == TASK_MIRROR && c->run_mopt.missing_only &&
	    !(r->what & (WIRE_DIFF_MISSING | WIRE_DIFF_ERROR)))
		resend = false;
	if (c->task == TASK_VERIFY)
		verify_count(c, p, r, resend && r->what);
	if (r->what && resend)
		repair(c, p, r, checksum);
}

static void on_report(struct conn *c, const struct wire_report *r)
{
	struct probe *p;

	if (r->what & WIRE_DIFF_ORPHAN) {
		c->orphans++;
		if (r->result == WIRE_ORPHAN_DELETED || r->result == WIRE_ORPHAN_MOVED) {
			c->orphans_removed++;
			c->orphan_bytes += r->size;
		}
		if (c->task == TASK_VERIFY) {
			struct verifylog_side tgt = { r->size, r->mtime_ns, r->mode, r->uid, r->gid };

			c->vt.orphans++;
			verifylog_entry(c->vlog, r->path, strlen(r->path), WIRE_DIFF_ORPHAN |
					(r->result == WIRE_ORPHAN_FAILED ? WIRE_DIFF_ERROR : 0), NULL, &tgt, 0,
					r->result == WIRE_ORPHAN_DELETED || r->result == WIRE_ORPHAN_MOVED);
		}
		return;
	}
	if (r->what & WIRE_DIFF_GUARD) {
		guards_settle(c, r->seq - 1, false);
		if (c->guards && c->guards->seq == r->seq) {
			guards_settle(c, r->seq, true);
			c->rt_whole++;
		} else {
			/* Sent before this agent restarted: which file it
			 * was is not known here, so compare them all. */
			dtlog(DTLOG_WARNING, 0, "Connection %u: the target skipped a delta for %s queued before a restart; "
			      "starting a difference mirror", c->id, r->path);
			conn_catch_up(c);
		}
		return;
	}
	/* Answers come in order; a probe skipped over lost its answer. */
	while (c->probes && c->probes->seq < r->seq)
		probe_free(probe_pop(c));
	if (!c->probes || c->probes->seq != r->seq)
		return; /* a probe of an earlier run, replayed from the journal */
	p = probe_pop(c);
	probe_answered(c, p, r);
	probe_free(p);
}

/* After a reconnect: probes the target applied whose answers the broken
 * link lost are answered here as "could not compare", so a mirror sends
 * them whole and a verification counts them as errors. */
static void probes_lost(struct conn *c, uint64_t applied)
{
	static struct wire_report r;

	while (c->probes && c->probes->seq <= applied) {
		struct probe *p = probe_pop(c);

		memset(&r, 0, offsetof(struct wire_report, ranges));
		r.seq = p->seq;
		r.what = WIRE_DIFF_ERROR;
		probe_answered(c, p, &r);
		probe_free(p);
	}
}

/* ------------------------------------------------------------------- link */

static void bw_resume(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)t;
	c->bw_timer = NULL;
	conn_pump(c);
}

/* Rolls the per-second send rate window forward to now. */
static void rate_roll(struct conn *c)
{
	uint64_t sec = util_now_mono_ns() / 1000000000u;

	if (sec == c->rate_t)
		return;
	c->rate_last = sec == c->rate_t + 1 ? c->sent_wire - c->rate_mark : 0;
	c->rate_t = sec;
	c->rate_mark = c->sent_wire;
}

/* Bytes sent in the last whole second (rate_roll's window, read-only). */
static uint64_t rate_of(const struct conn *c)
{
	uint64_t sec = util_now_mono_ns() / 1000000000u;

	return sec == c->rate_t ? c->rate_last : sec == c->rate_t + 1 ? c->sent_wire - c->rate_mark : 0;
}

/* How many batch bytes may go now (BATCH_BYTES without a limit), or 0 with
 * bw_timer armed for when tokens are there again. Under a limit batches are
 * kept to a fortieth of a second (the burst), so no second ends more than
 * about one batch plus the burst (5 %) away from the limit. */
static size_t bw_allow(struct conn *c)
{
	uint64_t now, wait;

	if (!c->bw_limit)
		return BATCH_BYTES;
	now = util_now_mono_ns() / 1000;
	wait = tbucket_wait_us(&c->bw, 1, now);
	if (wait == 0)
		return c->bw.burst < BATCH_BYTES ? (size_t)c->bw.burst : BATCH_BYTES;
	if (!c->bw_timer)
		c->bw_timer = evloop_timer_add(c->src->a->loop, (wait + 999) / 1000, 0, bw_resume, c);
	return 0;
}

/* Data per WRITE op of a walk starting now. A batch holds at least one op,
 * so under a limit the pieces are cut to about the burst (whole blocks, at
 * least one): 1 MiB ops at 2 MB/s would make seconds of 1 or 2 MiB. */
static size_t conn_chunk(const struct conn *c)
{
	uint64_t block = c->src->a->conf.capture.block_size, n;

	if (!c->bw_limit || !block)
		return 0; /* MIRROR_CHUNK_DEFAULT */
	n = c->bw.burst / block * block;
	if (n < block)
		n = block;
	return n < MIRROR_CHUNK_DEFAULT ? (size_t)n : 0;
}

/* limit 0 = none. A new limit starts with a full bucket (one burst). */
static void bw_set(struct conn *c, uint64_t limit)
{
	uint64_t burst = limit / 40 ? limit / 40 : 1;

	if (c->bw_timer) {
		evloop_timer_cancel(c->src->a->loop, c->bw_timer);
		c->bw_timer = NULL;
	}
	c->bw_limit = 0;
	if (limit && tbucket_init(&c->bw, limit, burst, util_now_mono_ns() / 1000) == 0)
		c->bw_limit = limit;
}

/* Whether queued data may go now: not held by TRANSMIT, PAUSETARGET, the
 * target itself, or a schedule between sessions. */
static bool conn_may_send(const struct conn *c)
{
	if (c->tx != TX_STARTED || c->tx_target_paused || c->tpaused)
		return false;
	if (!c->sess.active)
		return !transmit_sched_active(&c->sched);
	/* The byte limit holds per batch, not only at the next tick. */
	return !c->sched.stop_bytes || c->sent_wire - c->sess.sent_at_start < c->sched.stop_bytes;
}

/* "ip:port" or "[ip6]:port" of the link: the address alone. */
static void stats_peer_ip(struct conn *c, const char *addr)
{
	const char *end = addr[0] == '[' ? strchr(addr, ']') : strrchr(addr, ':');
	size_t off = addr[0] == '[';

	if (!end)
		end = addr + strlen(addr);
	snprintf(c->peer_ip, sizeof(c->peer_ip), "%.*s", (int)(end - addr - (ptrdiff_t)off), addr + off);
}

/* Counts one BATCH (the records first .. end) by origin. Its records took
 * wl less the headers on the wire when compressed (the frame shrank below
 * its plain size), their own size when not; a batch carrying both origins
 * shares that in proportion to their plain bytes. */
static void stats_batch(struct conn *c, const struct qrec *first, const struct qrec *end,
			size_t plain, size_t wl)
{
	const struct qrec *q;
	uint64_t raw = 0, mraw = 0, comp;
	const char *path, *named = NULL;
	size_t plen, nlen = 0;

	for (q = first; q != end; q = q->next) {
		raw += q->len;
		mraw += q->mirror ? q->len : 0;
		if (op_peek_path(q->data, q->len, &path, &plen) == 1) {
			named = path;
			nlen = plen;
		}
	}
	comp = wl < plain + WIRE_HDR_LEN ? wl - WIRE_HDR_LEN - WIRE_BATCH_HDR_LEN : raw;
	c->sent_mirror += mraw;
	c->sent_comp += comp;
	c->sent_comp_mirror += raw ? comp * mraw / raw : 0;
	if (named) {
		memcpy(c->last_file, named, nlen);
		c->last_file[nlen] = '\0';
	}
}

static void conn_pump(struct conn *c)
{
	size_t cap;

	while (c->link && c->connected && conn_may_send(c) && c->send_next &&
	       link_pending(c->link) < LINK_HIGH_WATER && (cap = bw_allow(c)) > 0) {
		struct wire_batch_writer w;
		struct qrec *q = c->send_next;
		size_t wl = 0, plain;

		wire_batch_begin(&w, link_out(c->link), c->id, q->seq);
		/* At least one record, then while the batch stays within cap
		 * (BATCH_BYTES may be passed by the last record, as before). */
		while (q && (q == c->send_next ||
			     (c->bw_limit ? wire_batch_size(&w) + q->len <= cap :
					    wire_batch_size(&w) < cap)) &&
		       wire_batch_add(&w, q->data, q->len) == 0) {
			c->sent_ops++;
			c->sent_bytes += q->len;
			q = q->next;
		}
		if (c->comp != WIRE_COMP_NONE && !c->z)
			c->z = wire_zctx_new();
		plain = wire_batch_size(&w);
		if (wire_batch_end_comp(&w, c->z, c->comp, c->comp_level, &wl) < 0)
			break;
		stats_batch(c, c->send_next, q, plain, wl);
		rate_roll(c);
		c->sent_wire += wl;
		if (c->bw_limit)
			tbucket_consume(&c->bw, wl, util_now_mono_ns() / 1000);
		c->send_next = q;
		link_flush(c->link);
	}
	if (c->mw && !c->mpaused && !c->mirror_tick && !c->spilling &&
	    c->queued_bytes < c->src->a->conf.queue.memory)
		c->mirror_tick = evloop_timer_add(c->src->a->loop, 0, 0, mirror_tick, c);
}

/* Ops sent but not yet acknowledged. */
static bool in_flight(const struct conn *c)
{
	return c->head && c->head != c->send_next;
}

/* A schedule between sessions: like the reference's Scheduled state, no
 * link, so a metered line is not held open. */
static bool tx_idle(const struct conn *c)
{
	return c->tx == TX_STARTED && !c->tx_target_paused && !c->sess.active &&
	       transmit_sched_active(&c->sched);
}

static bool conn_wants_link(const struct conn *c)
{
	/* After an auto-disconnect the target's position is needed for the
	 * remirror, schedule or not. */
	return c->state != CONN_STOPPED && c->tx != TX_STOPPED && (c->adisc || !tx_idle(c));
}

/* Dials when a link is wanted and there is none; closes an idle one once
 * everything sent is acknowledged. */
static void tx_link_update(struct conn *c)
{
	if (!c->link) {
		if (conn_wants_link(c) && !c->retry)
			conn_dial(c);
		return;
	}
	if (c->connected && tx_idle(c) && !in_flight(c)) {
		c->tx_idle_close = true;
		link_close(c->link, "between scheduled transmissions");
	}
}

/* A PAUSETARGET becomes Paused once what was in flight is applied. */
static void tx_settle(struct conn *c)
{
	if (c->tx_pause_pending && !in_flight(c)) {
		c->tx_pause_pending = false;
		dtlog(DTLOG_INFO, 0, "Connection %u: target %s paused; %" PRIu64 " ops wait in the queue",
		      c->id, c->target, c->queued_ops + c->spilled_ops);
	}
}

static void conn_ready(struct link *l, void *arg)
{
	struct conn *c = arg;

	wire_put_connect(link_out(l), c->id, c->wire_repset ? c->wire_repset : c->repset, c->root,
			 c->connect_opts | WIRE_CONNECT_TSTATUS | (c->overwrite ? WIRE_CONNECT_OVERWRITE : 0),
			 c->last_acked);
	link_flush(l);
}

static void conn_frame(struct link *l, const struct wire_frame *f, void *arg)
{
	struct conn *c = arg;
	struct wire_connect_ok ok;
	struct wire_connect_err ce;
	struct wire_ack ack;

	switch (f->type) {
	case WIRE_CONNECT_OK:
		if (wire_get_connect_ok(f, &ok) < 0 || ok.con_id != c->id) {
			link_fail(l, WIRE_E_MALFORMED, "bad CONNECT_OK");
			return;
		}
		dtlog(DTLOG_INFO, 73, "Connected to ip://%s (connection %u, target has applied up to op %" PRIu64 ")",
		      link_peer_addr(l), c->id, ok.last_applied);
		c->connected = true;
		c->connected_since = time(NULL);
		stats_peer_ip(c, link_peer_addr(l));
		c->tpaused = false;
		c->tretry_seq = 0;
		c->restore_required = c->overwrite = false;
		if (c->adisc)
			adisc_reconnected(c, ok.last_applied);
		if (c->restored) {
			char err[256];

			/* What we queued before the failure predates the data
			 * the restore brought back: it must not reach the
			 * copy. A difference mirror confirms both are equal. */
			c->restored = false;
			dtlog(DTLOG_INFO, 0, "Connection %u: after the restore, %" PRIu64 " queued ops dropped; difference mirror",
			      c->id, c->queued_ops + c->spilled_ops);
			conn_drop_queue(c, ok.last_applied);
			c->run_mopt = c->mopt;
			c->run_mopt.type = SOURCE_MIRROR_DIFFERENT;
			c->run_mopt.newer = c->run_mopt.calculate = false;
			if (conn_task(c, TASK_MIRROR, err, sizeof(err)) < 0)
				dtlog(DTLOG_ERROR, 0, "Connection %u: %s", c->id, err);
		}
		c->state = CONN_STARTED;
		c->last_error[0] = '\0';
		/* Before conn_acked, which would take them as held. */
		guards_settle(c, ok.last_applied, true);
		conn_acked(c, ok.last_applied);
		probes_lost(c, ok.last_applied);
		if (c->head && c->head->seq > ok.last_applied + 1) {
			char err[256];

			/* Ops between what the target applied and what we still
			 * hold are gone (a journal that failed): the target
			 * cannot continue from here, so start the sequence
			 * where it stands and copy everything again. */
			snprintf(err, sizeof(err), "ops %" PRIu64 "-%" PRIu64 " are gone (a journal that failed)",
				 ok.last_applied + 1, c->head->seq - 1);
			conn_lost_ops(c, ok.last_applied, err);
		}
		/* Everything not yet acknowledged goes again, in order. */
		c->send_next = c->head;
		task_progress(c);
		conn_pump(c);
		tx_link_update(c);
		break;
	case WIRE_CONNECT_ERR:
		if (wire_get_connect_err(f, &ce) == 0) {
			if (ce.code == WIRE_E_RESTORE && !c->restore_required)
				dtlog_event(DTLOG_ERROR, 0, "Connection %u is Restore Required: %s", c->id, ce.msg);
			c->restore_required = ce.code == WIRE_E_RESTORE;
			snprintf(c->last_error, sizeof(c->last_error), "target refused: %s", ce.msg);
			dtlog(DTLOG_ERROR, 76, "Connection failed to ip://%s (connection %u): %s",
			      link_peer_addr(l), c->id, ce.msg);
		}
		c->state = CONN_ERROR;
		link_close(l, "connection refused by the target");
		if (c->temporary && !c->remove_timer) {
			dtlog(DTLOG_ERROR, 98, "Restore stopped: %s to %s refused", c->wire_repset, c->target);
			c->remove_timer = evloop_timer_add(c->src->a->loop, 0, 0, temp_remove, c);
		}
		break;
	case WIRE_ACK:
		if (wire_get_ack(f, &ack) < 0 || ack.con_id != c->id || ack.seq >= c->next_seq) {
			link_fail(l, WIRE_E_MALFORMED, "bad ACK");
			return;
		}
		conn_acked(c, ack.seq);
		tx_settle(c);
		task_progress(c);
		conn_pump(c);
		tx_link_update(c);
		break;
	case WIRE_REPORT: {
		static struct wire_report rep;

		if (wire_get_report(f, &rep) < 0 || rep.con_id != c->id || rep.seq >= c->next_seq) {
			link_fail(l, WIRE_E_MALFORMED, "bad REPORT");
			return;
		}
		on_report(c, &rep);
		conn_pump(c);
		break;
	}
	case WIRE_PAUSE:
	case WIRE_RESUME: {
		uint32_t id;

		if ((f->type == WIRE_PAUSE ? wire_get_pause(f, &id) : wire_get_resume(f, &id)) < 0 ||
		    (id != 0 && id != c->id)) {
			link_fail(l, WIRE_E_MALFORMED, "bad PAUSE/RESUME");
			return;
		}
		c->tpaused = f->type == WIRE_PAUSE;
		dtlog(DTLOG_INFO, 0, "Connection %u %s by the target", c->id,
		      c->tpaused ? "paused" : "resumed");
		conn_pump(c);
		break;
	}
	case WIRE_TSTATUS: {
		static struct wire_tstatus ts; /* 1 KiB: not on the stack */

		if (wire_get_tstatus(f, &ts) < 0 || ts.con_id != c->id || ts.seq >= c->next_seq) {
			link_fail(l, WIRE_E_MALFORMED, "bad TSTATUS");
			return;
		}
		if (ts.seq)
			dtlog(DTLOG_WARNING, 0, "Connection %u: the target retries op %" PRIu64 ": %s",
			      c->id, ts.seq, ts.msg);
		else if (c->tretry_seq)
			dtlog(DTLOG_INFO, 0, "Connection %u: the target writes again", c->id);
		c->tretry_seq = ts.seq;
		util_strlcpy(c->tretry_why, ts.msg, sizeof(c->tretry_why));
		break;
	}
	case WIRE_PONG:
		break;
	default:
		link_fail(l, WIRE_E_SEQUENCE, "unexpected frame");
		break;
	}
}

/* 4011 once a reconnect episode; the dialling goes on (RECONNECT_MS). */
static void adisc_dial_failed(struct conn *c, const char *why)
{
	if (c->adisc_fail_logged)
		return;
	c->adisc_fail_logged = true;
	dtlog_event(DTLOG_ERROR, 4011, "Auto-reconnect has failed connecting Replication Set %s to %s (%s): %s; retrying",
		    c->repset, c->target, c->peer_ip[0] ? c->peer_ip : c->host, why);
}

static void retry_dial(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)t;
	c->retry = NULL;
	if (conn_wants_link(c) && !c->link)
		conn_dial(c);
}

static void conn_closed(struct link *l, const char *why, void *arg)
{
	struct conn *c = arg;

	(void)l;
	if (c->tx == TX_STOPPED)
		dtlog(DTLOG_INFO, 0, "Connection %u: link to %s closed, transmission stopped", c->id, c->target);
	else if (c->tx_idle_close)
		dtlog(DTLOG_INFO, 0, "Connection %u: link to %s closed until the next transmission session",
		      c->id, c->target);
	else if (c->adisc && c->connected)
		dtlog(DTLOG_INFO, 0, "Connection %u: link to %s closed (auto-disconnect)", c->id, c->target);
	else if (c->adisc)
		adisc_dial_failed(c, why);
	else if (c->connected)
		dtlog(DTLOG_WARNING, 77, "Connection lost with IP address %s (connection %u): %s",
		      c->target, c->id, why);
	else if (strcmp(c->last_error, why))
		dtlog(DTLOG_WARNING, 76, "Connection failed to ip://%s (connection %u): %s",
		      c->target, c->id, why);
	if (c->state != CONN_ERROR)
		snprintf(c->last_error, sizeof(c->last_error), "%s", why);
	c->link = NULL;
	c->connected = false;
	c->connected_since = 0;
	c->tx_idle_close = false;
	/* A target that refused us will likely refuse again: ask less often. */
	if (conn_wants_link(c) && !c->retry)
		c->retry = evloop_timer_add(c->src->a->loop,
					    c->state == CONN_ERROR ? REFUSED_RETRY_MS : RECONNECT_MS,
					    0, retry_dial, c);
}

static const struct link_ops conn_link_ops = {
	.on_ready = conn_ready,
	.on_frame = conn_frame,
	.on_close = conn_closed,
};

static void conn_dial(struct conn *c)
{
	struct agent *a = c->src->a;
	char err[256];

	if (c->adisc && !c->adisc_fail_logged) {
		dtlog_event(DTLOG_INFO, 4009, "Auto-reconnecting Replication Set %s to %s (%s)",
			    c->repset, c->target, c->peer_ip[0] ? c->peer_ip : c->host);
		dtlog(DTLOG_INFO, 80, "Trying to auto-retransmit to ip://%s (connection %u)", c->target, c->id);
	}
	dtlog(DTLOG_INFO, 71, "Originator attempting ip://%s (connection %u)", c->target, c->id);
	c->link = link_dial(a->loop, c->host, c->port, a->key, a->keylen,
			    a->conf.agent.name, &conn_link_ops, c, err, sizeof(err));
	if (!c->link) {
		snprintf(c->last_error, sizeof(c->last_error), "%s", err);
		dtlog(DTLOG_WARNING, 76, "Connection failed to ip://%s (connection %u): %s",
		      c->target, c->id, err);
		if (c->adisc)
			adisc_dial_failed(c, err);
		if (!c->retry)
			c->retry = evloop_timer_add(a->loop, RECONNECT_MS, 0, retry_dial, c);
	}
}

/* ---------------------------------------------------------- auto-disconnect */

static const char *remirror_word(enum conf_remirror r)
{
	switch (r) {
	case CONF_REMIRROR_NONE: return "none";
	case CONF_REMIRROR_FULL: return "full";
	case CONF_REMIRROR_CHECKSUM: return "checksum";
	default: return "different";
	}
}

static void adisc_run(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct conn *c = arg;
	const char *ip = c->peer_ip[0] ? c->peer_ip : c->host;
	char *why = c->adisc_why;

	(void)loop;
	(void)t;
	c->adisc_timer = NULL;
	dtlog_event(DTLOG_WARNING, 4007, "Auto-disconnecting from %s (%s) for Replication Set %s, ID: %u due to %s",
		    c->target, ip, c->repset, c->id, why);
	dtlog(DTLOG_WARNING, 78, "Auto-disconnect threshold has been reached (connection %u: %s)", c->id, why);
	if (c->mw) {
		mirror_walk_free(c->mw);
		c->mw = NULL;
	}
	if (c->mirror_tick) {
		evloop_timer_cancel(c->src->a->loop, c->mirror_tick);
		c->mirror_tick = NULL;
	}
	task_end(c, "the connection was auto-disconnected");
	c->adisc = true;
	c->adisc_fail_logged = false;
	c->mirror_required = true;
	c->mirror_done = false;
	c->adiscs++;
	if (c->link)
		link_close(c->link, "auto-disconnect");
	/* The sequence goes on from where it is: the target's own position
	 * is learnt at the reconnect (adisc_reconnected). A journal that
	 * failed gets another chance with the fresh start. */
	probes_clear(c);
	c->journal_failed = false;
	queue_flush(c);
	c->adisc_why = NULL;
	dtlog(DTLOG_WARNING, 85, "%s has been auto-disconnected (connection %u)", c->repset, c->id);
	dtlog(DTLOG_WARNING, 801, "Auto-disconnect has occurred on IP address %s with connection %u Disconnected replication set name: %s",
	      ip, c->id, c->repset);
	dtlog_event(DTLOG_INFO, 4008, "Auto-disconnect has succeeded for %s (%s) for Replication Set %s, ID: %u",
		    c->target, ip, c->repset, c->id);
	snprintf(c->last_error, sizeof(c->last_error), "auto-disconnected: %s", why);
	free(why);
	conns_save(c->src);
	queue_alert(c->src);
}

/* The flush waits for a fresh turn of the loop: the caller may be inside a
 * walk or a capture callback that still uses what it frees. */
static void conn_auto_disconnect(struct conn *c, const char *why)
{
	if (conn_adisc(c) || c->temporary)
		return;
	c->adisc_why = util_xstrdup(why);
	c->adisc_timer = evloop_timer_add(c->src->a->loop, 0, 0, adisc_run, c);
}

/* CONNECT_OK after an auto-disconnect: the queue starts where the target
 * stands, and the configured remirror brings the copy in line. */
static void adisc_reconnected(struct conn *c, uint64_t applied)
{
	enum conf_remirror r = c->src->a->conf.queue.auto_remirror;
	const char *ip = c->peer_ip[0] ? c->peer_ip : c->host;
	char err[256];

	c->adisc = false;
	dtlog_event(DTLOG_INFO, 4010, "Auto-reconnect has succeeded connecting Replication Set %s to %s (%s)",
		    c->repset, c->target, ip);
	conn_drop_queue(c, applied);
	if (r == CONF_REMIRROR_NONE) {
		dtlog(DTLOG_WARNING, 0, "Connection %u is Mirror Required (queue.auto_remirror none): MIRROR START %u replicates again",
		      c->id, c->id);
		return;
	}
	c->run_mopt = c->mopt;
	c->run_mopt.calculate = c->run_mopt.newer = false;
	c->run_mopt.type = r == CONF_REMIRROR_FULL ? SOURCE_MIRROR_FULL :
			   r == CONF_REMIRROR_CHECKSUM ? SOURCE_MIRROR_CHECKSUM : SOURCE_MIRROR_DIFFERENT;
	dtlog(DTLOG_INFO, 0, "Connection %u: auto-remirror (%s)", c->id, remirror_word(r));
	if (conn_task(c, TASK_MIRROR, err, sizeof(err)) < 0)
		dtlog(DTLOG_ERROR, 0, "Connection %u: auto-remirror not started: %s", c->id, err);
}

static void conn_free(struct conn *c)
{
	size_t i;

	if (c->link)
		link_close(c->link, "connection removed");
	if (c->retry)
		evloop_timer_cancel(c->src->a->loop, c->retry);
	if (c->mirror_tick)
		evloop_timer_cancel(c->src->a->loop, c->mirror_tick);
	if (c->adisc_timer)
		evloop_timer_cancel(c->src->a->loop, c->adisc_timer);
	free(c->adisc_why);
	if (c->bw_timer)
		evloop_timer_cancel(c->src->a->loop, c->bw_timer);
	if (c->mw)
		mirror_walk_free(c->mw);
	if (c->repair)
		mirror_walk_free(c->repair);
	if (c->sr)
		xlog_reader_close(c->sr);
	if (c->vlog)
		verify_finish(c, "connection removed");
	probes_clear(c);
	mscript_free(&c->scripts);
	while (c->guards) {
		struct probe *p = c->guards;

		c->guards = p->next;
		probe_free(p);
	}
	blockmap_store_close(c->maps);
	free(c->orph_move);
	free(c->vcron);
	free(c->wire_repset);
	if (c->remove_timer)
		evloop_timer_cancel(c->src->a->loop, c->remove_timer);
	lcache_free(&c->lc);
	xlog_writer_close(c->xw);
	free(c->jf);
	free(c->sruns);
	while (c->head) {
		struct qrec *q = c->head;

		c->head = q->next;
		free(q);
	}
	for (i = 0; i < c->npairs; i++) {
		free(c->pairs[i].src);
		free(c->pairs[i].dst);
	}
	free(c->pairs);
	free(c->base);
	free(c->root);
	free(c->repset);
	free(c->target);
	wire_zctx_free(c->z);
	free(c);
}

/* ------------------------------------------------------------ hard links */

/* A hard link made after the mirror must reach the target as a LINK, or the
 * target ends with two files where the source has one. Events name only the
 * new name, so the source remembers, per connection, the names it sent of
 * each multiply-linked inode (bounded: least recently used inodes go) and,
 * when a name appears whose inode has names it does not know, searches the
 * set for them. Every time a name of such an inode is copied, its other
 * names that still are names of it on the source are linked to it:
 * LINK(other, this). The copy goes into a fresh state of the inode and the
 * links follow, never the reverse — a link to another name first would
 * write through whatever that name is on the target, which may still be
 * an inode the source left (its event not read yet) and other names share.
 * A name leaving the inode always has an event of its own that fixes it. A
 * cache miss only costs a copy instead of a link. */

#define LCACHE_MAX 8192
#define LCACHE_BUCKETS 4096
#define LCACHE_NAMES_MAX 32 /* names kept per inode */
/* Entries the searches for other names of inodes may look at in one sync
 * (a directory moved into the set may hold many multiply-linked files). */
#define LINK_SEARCH_MAX 50000

static size_t lcache_hash(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ino;

	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 29;
	return (size_t)(h % LCACHE_BUCKETS);
}

static struct lcache_ent **lcache_slot(struct lcache *lc, dev_t dev, ino_t ino)
{
	struct lcache_ent **pp;

	if (!lc->tab)
		return NULL;
	for (pp = &lc->tab[lcache_hash(dev, ino)]; *pp; pp = &(*pp)->hnext)
		if ((*pp)->dev == dev && (*pp)->ino == ino)
			return pp;
	return NULL;
}

static void lcache_unlist(struct lcache *lc, struct lcache_ent *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		lc->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		lc->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lcache_front(struct lcache *lc, struct lcache_ent *e)
{
	e->older = lc->newest;
	e->newer = NULL;
	if (lc->newest)
		lc->newest->newer = e;
	lc->newest = e;
	if (!lc->oldest)
		lc->oldest = e;
}

static void lcache_drop(struct lcache *lc, struct lcache_ent **pp)
{
	struct lcache_ent *e = *pp;

	*pp = e->hnext;
	lcache_unlist(lc, e);
	util_buf_free(&e->names);
	free(e);
	lc->n--;
}

/* The entry of (dev, ino), made the most recently used; created (empty)
 * if missing. */
static struct lcache_ent *lcache_get(struct lcache *lc, dev_t dev, ino_t ino)
{
	struct lcache_ent **pp = lcache_slot(lc, dev, ino), *e;
	size_t h;

	if (pp) {
		lcache_unlist(lc, *pp);
		lcache_front(lc, *pp);
		return *pp;
	}
	if (!lc->tab)
		lc->tab = util_xcalloc(LCACHE_BUCKETS, sizeof(*lc->tab));
	if (lc->n >= LCACHE_MAX)
		lcache_drop(lc, lcache_slot(lc, lc->oldest->dev, lc->oldest->ino));
	e = util_xcalloc(1, sizeof(*e));
	e->dev = dev;
	e->ino = ino;
	util_buf_init(&e->names);
	h = lcache_hash(dev, ino);
	e->hnext = lc->tab[h];
	lc->tab[h] = e;
	lcache_front(lc, e);
	lc->n++;
	return e;
}

static void lcache_free(struct lcache *lc)
{
	size_t i;

	if (!lc->tab)
		return;
	for (i = 0; i < LCACHE_BUCKETS; i++)
		while (lc->tab[i])
			lcache_drop(lc, &lc->tab[i]);
	free(lc->tab);
	memset(lc, 0, sizeof(*lc));
}

/* Length of the directory part of an absolute path ("/" for the root). */
static size_t dir_len(const char *p, size_t len)
{
	while (len > 1 && p[len - 1] != '/')
		len--;
	return len > 1 ? len - 1 : len;
}

/* A list of source paths, each NUL-terminated, at most LCACHE_NAMES_MAX. */
struct names {
	struct util_buf b;
	unsigned n;
};

static bool names_has(const struct names *l, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < l->b.len; i += strlen(l->b.data + i) + 1)
		if (strlen(l->b.data + i) == len && !memcmp(l->b.data + i, p, len))
			return true;
	return false;
}

static void names_add(struct names *l, const char *p, size_t len)
{
	if (l->n >= LCACHE_NAMES_MAX || names_has(l, p, len))
		return;
	util_buf_append(&l->b, p, len);
	util_buf_append(&l->b, "", 1);
	l->n++;
}

/* Is abs still a replicated name of st's inode? Its mapped path goes to
 * out; its length, or -1. */
static int link_name_ok(struct conn *c, const char *abs, size_t len,
			const struct stat *st, char *out, size_t outlen)
{
	const struct repset *rs = repset_db_find(c->src->a->repsets, c->repset);
	struct stat cur;

	if (!rs || lstat(abs, &cur) < 0 || cur.st_dev != st->st_dev ||
	    cur.st_ino != st->st_ino || !repset_match(rs, abs, len))
		return -1;
	return map_path(c, abs, len, out, outlen);
}

struct link_search {
	const struct stat *st;
	struct names *found;   /* other names, the synced one included */
	unsigned budget;
	char path[PATH_MAX];
	size_t len;
};

/* Adds the other names of ls->st's inode in the directory ls->path (open
 * as dfd, which is closed) and, when deep, beneath it to ls->found, until
 * it holds all of them (st_nlink) or the budget is spent. */
static void link_search_dir(struct link_search *ls, int dfd, bool deep)
{
	size_t base = ls->len;
	struct dirent *de;
	DIR *d = fdopendir(dfd);

	if (!d) {
		close(dfd);
		return;
	}
	while (ls->budget && ls->found->n < ls->st->st_nlink && (de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		struct stat st;
		bool dir;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ls->budget--;
		if (base + 1 + nl >= sizeof(ls->path))
			continue;
		ls->path[base] = '/';
		memcpy(ls->path + base + 1, de->d_name, nl + 1);
		ls->len = base + 1 + nl;
		if (de->d_ino == ls->st->st_ino && de->d_type != DT_DIR) {
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_dev == ls->st->st_dev && st.st_ino == ls->st->st_ino)
				names_add(ls->found, ls->path, ls->len);
			continue;
		}
		dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN)
			dir = fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			      S_ISDIR(st.st_mode);
		if (deep && dir) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			/* Hard links never cross file systems. */
			if (sub >= 0 && (fstat(sub, &st) < 0 || st.st_dev != ls->st->st_dev)) {
				close(sub);
				sub = -1;
			}
			if (sub >= 0)
				link_search_dir(ls, sub, true);
		}
	}
	closedir(d);
	ls->len = base;
	ls->path[base] = '\0';
}

/* Looks for the names of st's inode missing from found: the directory of
 * abs first (where `ln a b` puts b), then the set's roots. */
static void link_search(struct conn *c, const char *abs, size_t len,
			const struct stat *st, struct names *found)
{
	const struct repset *rs = repset_db_find(c->src->a->repsets, c->repset);
	struct repset_root *roots = NULL;
	struct link_search *ls;
	size_t n = 0, i, dl = len;
	int fd;

	if (!rs || !c->search_left)
		return;
	ls = util_xcalloc(1, sizeof(*ls));
	ls->st = st;
	ls->found = found;
	ls->budget = c->search_left;
	while (dl > 1 && abs[dl - 1] != '/')
		dl--;
	if (dl > 1)
		dl--;
	repset_roots(rs, &roots, &n);
	for (i = 0; i <= n && ls->budget && found->n < st->st_nlink; i++) {
		const char *dir = i == 0 ? abs : roots[i - 1].path;
		size_t l = i == 0 ? dl : strlen(dir);

		if (l >= sizeof(ls->path))
			continue;
		memcpy(ls->path, dir, l);
		ls->path[l] = '\0';
		ls->len = l == 1 ? 0 : l; /* "/" + name, not "//" + name */
		fd = open(ls->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			link_search_dir(ls, fd, i > 0);
	}
	c->search_left = ls->budget;
	repset_roots_free(roots, n);
	free(ls);
}

/* mirror_linked_fn for every walk of the connection: abs was just copied;
 * link the inode's other known names to it and remember them all.
 * c->link_mode says what kind of walk it is. */
static int conn_linked(void *ctx, const char *abs, size_t len,
		       const struct stat *st, const char *mpath, size_t mlen)
{
	struct conn *c = ctx;
	struct lcache_ent *e = lcache_get(&c->lc, st->st_dev, st->st_ino);
	char rel[DITTO_PATH_MAX + 1];
	struct names keep;
	size_t i;
	int n, ret = 0;

	/* Renamed away meanwhile: linking names to it now could tie them to
	 * a name the target is about to move onto one of them (rename(2) of
	 * two names of one file does nothing). The rename's own sync links. */
	{
		struct stat now;

		if (c->link_mode != LINK_MIRROR &&
		    (lstat(abs, &now) < 0 || now.st_dev != st->st_dev ||
		     now.st_ino != st->st_ino))
			return 0;
	}
	memset(&keep, 0, sizeof(keep));
	util_buf_init(&keep.b);
	names_add(&keep, abs, len);
	/* Known names that still are names of this inode. */
	for (i = 0; i < e->names.len; i += strlen(e->names.data + i) + 1) {
		const char *p = e->names.data + i;

		if (link_name_ok(c, p, strlen(p), st, rel, sizeof(rel)) > 0)
			names_add(&keep, p, strlen(p));
	}
	if (c->link_mode == LINK_APPEARED && keep.n < st->st_nlink)
		link_search(c, abs, len, st, &keep);
	if (c->link_mode != LINK_MIRROR) {
		for (i = 0; i < keep.b.len; i += strlen(keep.b.data + i) + 1) {
			const char *p = keep.b.data + i;
			struct ditto_op op;

			if (i == 0) /* abs itself */
				continue;
			n = link_name_ok(c, p, strlen(p), st, rel, sizeof(rel));
			if (n <= 0 || ((size_t)n == mlen && !memcmp(rel, mpath, mlen)))
				continue;
			op_init(&op, DITTO_OP_LINK);
			op_set_path(&op, rel, (size_t)n);
			op_set_path2(&op, mpath, mlen);
			if (conn_enqueue(c, &op) < 0)
				ret = -1;
			op_free(&op);
			/* Replacing the name touched its directory on the
			 * target: give it the source's times back. */
			queue_dir_attrs(c, p, dir_len(p, strlen(p)));
		}
	}
	util_buf_free(&e->names);
	e->names = keep.b;
	return ret;
}

/* ----------------------------------------------------- real-time capture */

/* The connection's block maps, opened at first use; NULL (files go whole)
 * if the directory cannot be made, said once. */
static struct blockmap_store *conn_maps(struct conn *c)
{
	char err[512], *dir;

	if (c->maps || c->maps_failed || c->temporary)
		return c->maps;
	dir = util_xasprintf("%s/blockmaps/%u", c->src->a->conf.agent.state_dir, c->id);
	c->maps = blockmap_store_open(dir, (uint32_t)c->src->a->conf.capture.block_size, err, sizeof(err));
	if (!c->maps) {
		c->maps_failed = true;
		dtlog(DTLOG_WARNING, 0, "Connection %u: %s; changed files are sent whole", c->id, err);
	}
	free(dir);
	return c->maps;
}

/* A connection that goes takes its maps along. */
static void conn_maps_remove(struct conn *c)
{
	char *dir;

	if (!conn_maps(c))
		return;
	dir = util_xasprintf("%s/blockmaps/%u", c->src->a->conf.agent.state_dir, c->id);
	if (blockmap_invalidate_all(c->maps) == 0) {
		char sub[16];
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		/* Emptied: what is left are the fan-out directories 00..ff. */
		for (unsigned i = 0; dfd >= 0 && i < 256; i++) {
			snprintf(sub, sizeof(sub), "%02x", i);
			unlinkat(dfd, sub, AT_REMOVEDIR);
		}
		if (dfd >= 0)
			close(dfd);
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		dtlog(DTLOG_WARNING, 0, "Connection %u: cannot remove %s: %s", c->id, dir, strerror(errno));
	free(dir);
}

/* Queues ops that make the target's copy of one source path equal to the
 * source as it is now. Reading the current state (rather than trusting the
 * event) keeps the copy right even when events were coalesced or arrive
 * late: the target ends where the source is. appeared: the name was just
 * created or moved there (a new hard link shows up this way). shallow: a
 * directory's own metadata and xattrs, not its tree. */
static void sync_walk(struct conn *c, const char *abs, size_t len,
		      enum mirror_maps how, bool appeared, bool shallow)
{
	char rel[DITTO_PATH_MAX + 1];
	struct mirror_opts mo;
	struct mirror_stats st;
	struct mirror_walk *w;
	const char *roots[1];
	char err[256];
	int rc;

	if (map_path(c, abs, len, rel, sizeof(rel)) <= 0)
		return;
	/* A directory's own metadata, for an event read late: if the name is
	 * something else by now, the events of that change follow and send
	 * it; sending it now would put the target ahead of the ops still
	 * queued for the directory's children. */
	if (shallow) {
		struct stat now;

		if (lstat(abs, &now) < 0 || !S_ISDIR(now.st_mode))
			return;
	}
	/* The walker already knows how to copy any kind of entry faithfully,
	 * a whole directory included; reuse it for one path. */
	memset(&mo, 0, sizeof(mo));
	mo.emit = mirror_emit;
	mo.match = mirror_match;
	mo.map = map_path;
	mo.linked = conn_linked;
	mo.ctx = c;
	mo.xattrs = true;
	mo.maps = conn_maps(c);
	mo.maps_mode = how;
	mo.shallow = shallow;
	/* A name that appeared gets an inode of its own on the target: the
	 * one there may be shared with names the source no longer links to it
	 * (a rename over it whose temporary file the target never saw leaves
	 * it). One with a single name is kept, so a rename still goes as a
	 * delta. */
	mo.fresh_root = appeared;
	mo.chunk = conn_chunk(c);
	roots[0] = abs;
	w = mirror_walk_new(roots, 1, &mo, err, sizeof(err));
	if (!w)
		return; /* gone already: its DELETE event follows */
	c->sync_walk = w;
	c->link_mode = appeared ? LINK_APPEARED : LINK_CHANGED;
	c->search_left = LINK_SEARCH_MAX;
	do
		rc = mirror_walk_step(w, UINT64_MAX, UINT32_MAX);
	while (rc > 0);
	c->sync_walk = NULL;
	mirror_walk_stats(w, &st);
	c->rt_files += st.files;
	c->rt_sent += st.bytes;
	mirror_walk_free(w);
}

static void sync_path(struct conn *c, const char *abs, size_t len,
		      enum mirror_maps how, bool appeared)
{
	sync_walk(c, abs, len, how, appeared, false);
}

/* An entry's own metadata changed (or differs on the target): one SETATTR,
 * not a copy of its data or tree. dirs_only: ignore anything else. */
static void queue_attrs(struct conn *c, const char *abs, size_t len, bool dirs_only)
{
	char rel[DITTO_PATH_MAX + 1];
	struct ditto_op op;
	struct stat st;
	int n = map_path(c, abs, len, rel, sizeof(rel));
	char *dir;
	int rc;

	if (n <= 0)
		return;
	/* abs may be a prefix of a longer path (sync_parent): stat exactly
	 * the entry, not the child the string goes on to name. */
	dir = util_xstrndup(abs, len);
	rc = lstat(dir, &st);
	free(dir);
	if (rc < 0 || (dirs_only && !S_ISDIR(st.st_mode)))
		return;
	op_init(&op, DITTO_OP_SETATTR);
	op.attr_mask = DITTO_ATTR_MODE | DITTO_ATTR_UID | DITTO_ATTR_GID |
		       DITTO_ATTR_ATIME | DITTO_ATTR_MTIME;
	if (S_ISLNK(st.st_mode))
		op.attr_mask &= ~(uint32_t)DITTO_ATTR_MODE;
	op.mode = st.st_mode & 07777;
	op.uid = st.st_uid;
	op.gid = st.st_gid;
	op.atime_ns = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
	op.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	op_set_path(&op, rel, (size_t)n);
	conn_enqueue(c, &op);
	op_free(&op);
}

static void queue_dir_attrs(struct conn *c, const char *abs, size_t len)
{
	queue_attrs(c, abs, len, true);
}

static void queue_remove(struct conn *c, const char *abs, size_t len, bool dir)
{
	char rel[DITTO_PATH_MAX + 1];
	struct ditto_op op;
	int n = map_path(c, abs, len, rel, sizeof(rel));

	if (n <= 0)
		return;
	/* Recursive: a directory removed while its children's events were
	 * lost must not leave them behind on the target. */
	op_init(&op, dir ? DITTO_OP_RMDIR : DITTO_OP_UNLINK);
	if (dir)
		op.flags = DITTO_RMDIR_RECURSIVE;
	op_set_path(&op, rel, (size_t)n);
	conn_enqueue(c, &op);
	op_free(&op);
}

/* After a RENAME: the old name again, if the source has it no more. Where
 * the rename took on the target this removes nothing; where the target's
 * copy is past it (a walk read the destination's parent when it was no
 * directory any more, so the rename fails there), it is the only op that
 * ever names the old name again. */
static void queue_remove_gone(struct conn *c, const char *abs, size_t len, bool dir)
{
	char *p = util_xstrndup(abs, len);
	struct stat st;

	if (lstat(p, &st) < 0 && (errno == ENOENT || errno == ENOTDIR))
		queue_remove(c, abs, len, dir);
	free(p);
}

static bool queue_rename(struct conn *c, const char *from, size_t flen,
			 const char *to, size_t tlen)
{
	char r1[DITTO_PATH_MAX + 1], r2[DITTO_PATH_MAX + 1];
	struct ditto_op op;
	int n1 = map_path(c, from, flen, r1, sizeof(r1));
	int n2 = map_path(c, to, tlen, r2, sizeof(r2));

	if (n1 <= 0 || n2 <= 0)
		return false;
	op_init(&op, DITTO_OP_RENAME);
	op_set_path(&op, r1, (size_t)n1);
	op_set_path2(&op, r2, (size_t)n2);
	conn_enqueue(c, &op);
	op_free(&op);
	return true;
}

static void on_capture_event(void *ctx, const struct ditto_capture_event *ev)
{
	struct source *s = ctx;
	bool dir = ev->flags & DITTO_CAPTURE_IS_DIR;
	struct conn *c;

	for (c = s->conns; c; c = c->next) {
		const struct repset *rs;
		bool in1, in2;

		if (!conn_captures(c))
			continue;
		rs = repset_db_find(s->a->repsets, c->repset);
		if (!rs)
			continue;
		in1 = repset_match(rs, ev->path, ev->path_len);
		switch (ev->type) {
		case DITTO_CAPTURE_MODIFY:
			/* Handled by on_capture_event_and_parents: batched. */
			break;
		case DITTO_CAPTURE_ATTRIB:
			/* A directory's own attributes and xattrs. */
			if (in1 && dir)
				sync_walk(c, ev->path, ev->path_len, MIRROR_MAPS_DELTA, false, true);
			/* A file's attributes come with its copy. */
			else if (in1)
				sync_path(c, ev->path, ev->path_len, MIRROR_MAPS_DELTA, false);
			break;
		case DITTO_CAPTURE_CLOSE_WRITE:
			if (in1)
				sync_path(c, ev->path, ev->path_len, MIRROR_MAPS_DELTA, false);
			break;
		case DITTO_CAPTURE_CREATE:
		case DITTO_CAPTURE_MOVED_TO:
			if (in1)
				sync_path(c, ev->path, ev->path_len, MIRROR_MAPS_DELTA, true);
			break;
		case DITTO_CAPTURE_DELETE:
		case DITTO_CAPTURE_MOVED_FROM:
			if (in1)
				queue_remove(c, ev->path, ev->path_len, dir);
			break;
		case DITTO_CAPTURE_RENAME:
			in2 = repset_match(rs, ev->path2, ev->path2_len);
			if (in1 && in2 && queue_rename(c, ev->path, ev->path_len,
						       ev->path2, ev->path2_len)) {
				queue_remove_gone(c, ev->path, ev->path_len, dir);
				sync_path(c, ev->path2, ev->path2_len, MIRROR_MAPS_DELTA, true);
			} else if (in1)
				queue_remove(c, ev->path, ev->path_len, dir);
			else if (in2)
				sync_path(c, ev->path2, ev->path2_len, MIRROR_MAPS_DELTA, true);
			break;
		case DITTO_CAPTURE_OVERFLOW:
		case DITTO_CAPTURE_ROOT_GONE:
			/* Events were lost: never skip silently, compare again. */
			dtlog(DTLOG_WARNING, 0, "Capture lost events under %.*s; difference mirror of connection %u",
			      (int)ev->path_len, ev->path, c->id);
			conn_catch_up(c);
			break;
		default:
			break;
		}
	}
	for (c = s->conns; c; c = c->next)
		conn_pump(c);
}

/* Adding or removing a name changes its directory's mtime, for which no
 * event comes: follow up with the directory's attributes. */
static void sync_parent(struct source *s, const char *p, size_t len)
{
	struct conn *c;

	while (len > 1 && p[len - 1] != '/')
		len--;
	if (len > 1)
		len--;
	for (c = s->conns; c; c = c->next) {
		const struct repset *rs = repset_db_find(s->a->repsets, c->repset);

		if (conn_captures(c) && rs && repset_match(rs, p, len))
			queue_dir_attrs(c, p, len);
	}
}

#define DIRTY_MAX 4096
#define DIRTY_DELAY_MS 50

static void dirty_flush(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct source *s = arg;
	struct ditto_capture_event ev;
	size_t i;
	bool was;

	(void)loop;
	(void)t;
	s->dirty_timer = NULL;
	/* Nested in on_capture_fd when the list is full: restore, not clear. */
	was = s->replicating;
	s->replicating = true;
	for (i = 0; i < s->ndirty; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.type = DITTO_CAPTURE_CLOSE_WRITE;
		ev.path = s->dirty[i];
		ev.path_len = strlen(s->dirty[i]);
		on_capture_event(s, &ev);
		free(s->dirty[i]);
	}
	s->ndirty = 0;
	s->replicating = was;
}

/* A copy per write(2) would cost the whole file each time: remember the
 * path and copy it once the writes pause (or at its close). */
static void dirty_add(struct source *s, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < s->ndirty; i++)
		if (strlen(s->dirty[i]) == len && !memcmp(s->dirty[i], p, len))
			return;
	if (s->ndirty == DIRTY_MAX)
		dirty_flush(s->a->loop, NULL, s);
	s->dirty = util_xreallocarray(s->dirty, s->ndirty + 1, sizeof(*s->dirty));
	s->dirty[s->ndirty++] = util_xstrndup(p, len);
	if (s->dirty_timer)
		evloop_timer_rearm(s->a->loop, s->dirty_timer, DIRTY_DELAY_MS);
	else
		s->dirty_timer = evloop_timer_add(s->a->loop, DIRTY_DELAY_MS, 0, dirty_flush, s);
}

static void dirty_remove(struct source *s, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < s->ndirty; i++) {
		if (strlen(s->dirty[i]) == len && !memcmp(s->dirty[i], p, len)) {
			free(s->dirty[i]);
			s->dirty[i] = s->dirty[--s->ndirty];
			return;
		}
	}
}

static void on_capture_event_and_parents(void *ctx, const struct ditto_capture_event *ev)
{
	struct source *s = ctx;
	struct conn *c;

	if (ev->type == DITTO_CAPTURE_MODIFY) {
		dirty_add(s, ev->path, ev->path_len);
		return;
	}
	if (ev->type == DITTO_CAPTURE_CLOSE_WRITE)
		dirty_remove(s, ev->path, ev->path_len);
	on_capture_event(ctx, ev);
	switch (ev->type) {
	case DITTO_CAPTURE_RENAME:
		sync_parent(s, ev->path2, ev->path2_len);
		/* fall through */
		__attribute__((fallthrough));
	case DITTO_CAPTURE_CREATE:
	case DITTO_CAPTURE_DELETE:
	case DITTO_CAPTURE_MOVED_FROM:
	case DITTO_CAPTURE_MOVED_TO:
		sync_parent(s, ev->path, ev->path_len);
		for (c = s->conns; c; c = c->next)
			conn_pump(c);
		break;
	default:
		break;
	}
}

static void on_capture_fd(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct source *s = arg;

	(void)loop;
	(void)fd;
	(void)events;
	s->replicating = true;
	if (capture_host_read(s->cap, on_capture_event_and_parents, s) < 0)
		dtlog(DTLOG_ERROR, 0, "Capture plugin %s failed to read events", capture_host_name(s->cap));
	s->replicating = false;
}

static void capture_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	dtlog(level <= DITTO_CAPTURE_LOG_WARNING ? DTLOG_WARNING : DTLOG_INFO, 0,
	      "capture: %s", msg);
}

/* Loads the configured plugin on first use; fanotify needs CAP_SYS_ADMIN,
 * so without it the agent falls back to inotify and says so. */
static int capture_start(struct source *s, char *err, size_t errlen)
{
	struct agent *a = s->a;
	const char *names[2] = { conf_capture_name(&a->conf), "inotify" };
	size_t i;

	if (s->cap)
		return 0;
	for (i = 0; i < 2; i++) {
		char e[512];

		if (i == 1 && !strcmp(names[0], "inotify"))
			break;
		if (capture_host_load(&s->cap, a->conf.agent.plugin_dir, names[i], e, sizeof(e)) < 0) {
			snprintf(err, errlen, "%s", e);
			continue;
		}
		if (capture_host_open(s->cap, capture_log, s, e, sizeof(e)) == 0)
			break;
		snprintf(err, errlen, "%s", e);
		capture_host_unload(s->cap);
		s->cap = NULL;
		if (i == 0)
			dtlog(DTLOG_WARNING, 0, "Capture plugin %s unavailable (%s); trying inotify", names[0], e);
	}
	if (!s->cap)
		return -1;
	if (evloop_add_fd(a->loop, capture_host_fd(s->cap), EVLOOP_READ, on_capture_fd, s) < 0) {
		snprintf(err, errlen, "cannot watch the capture plugin: %s", strerror(errno));
		capture_host_close(s->cap);
		capture_host_unload(s->cap);
		s->cap = NULL;
		return -1;
	}
	dtlog(DTLOG_INFO, 51501, "Source module loaded (capture plugin %s)", capture_host_name(s->cap));
	return 0;
}

static int capture_add_set(struct source *s, const char *repset, char *err, size_t errlen)
{
	const struct repset *rs = repset_db_find(s->a->repsets, repset);
	struct repset_root *roots = NULL;
	size_t n = 0, i;
	int ret = -1;

	if (!rs || capture_start(s, err, errlen) < 0)
		return -1;
	repset_roots(rs, &roots, &n);
	for (i = 0; i < n; i++)
		if (capture_host_add_root(s->cap, roots[i].path, err, errlen) < 0)
			goto done;
	ret = 0;
done:
	repset_roots_free(roots, n);
	return ret;
}

/* ------------------------------------------------------------ persistence */

static const char *map_word(enum source_map m)
{
	switch (m) {
	case SOURCE_MAP_EXACT: return "exact";
	case SOURCE_MAP_BASE: return "base";
	case SOURCE_MAP_PAIRS: return "pairs";
	default: return "default";
	}
}

static const char *orphans_word(enum source_orphans_action a)
{
	switch (a) {
	case SOURCE_ORPHANS_LOG: return "log";
	case SOURCE_ORPHANS_DELETE: return "delete";
	case SOURCE_ORPHANS_MOVE: return "move";
	default: return "off";
	}
}

static const char *comp_word(enum wire_comp c)
{
	return c == WIRE_COMP_LZ4 ? "lz4" : c == WIRE_COMP_ZSTD ? "zstd" : "none";
}

/* connections.conf is rewritten (atomically) when a connection is made,
 * removed, or starts or ends a mirror; the queue itself lives in the
 * journal. */
static int conns_save(struct source *s)
{
	config_t cfg;
	config_setting_t *root, *list, *g, *pl, *pair;
	const struct conn *c;
	size_t i;
	int ret;

	config_init(&cfg);
	root = config_root_setting(&cfg);
	config_setting_set_int64(config_setting_add(root, "next_id", CONFIG_TYPE_INT64), s->next_id);
	list = config_setting_add(root, "connections", CONFIG_TYPE_LIST);
	for (c = s->conns; c; c = c->next) {
		if (c->temporary)
			continue;
		g = config_setting_add(list, NULL, CONFIG_TYPE_GROUP);
		config_setting_set_int64(config_setting_add(g, "id", CONFIG_TYPE_INT64), c->id);
		config_setting_set_string(config_setting_add(g, "repset", CONFIG_TYPE_STRING), c->repset);
		config_setting_set_string(config_setting_add(g, "target", CONFIG_TYPE_STRING), c->target);
		config_setting_set_string(config_setting_add(g, "map", CONFIG_TYPE_STRING), map_word(c->map));
		config_setting_set_string(config_setting_add(g, "base", CONFIG_TYPE_STRING), c->base ? c->base : "");
		pl = config_setting_add(g, "pairs", CONFIG_TYPE_LIST);
		for (i = 0; i < c->npairs; i++) {
			pair = config_setting_add(pl, NULL, CONFIG_TYPE_ARRAY);
			config_setting_set_string_elem(pair, -1, c->pairs[i].src);
			config_setting_set_string_elem(pair, -1, c->pairs[i].dst);
		}
		config_setting_set_bool(config_setting_add(g, "replicate", CONFIG_TYPE_BOOL), c->replicate);
		config_setting_set_bool(config_setting_add(g, "mirror_pending", CONFIG_TYPE_BOOL), !c->mirror_done);
		config_setting_set_int64(config_setting_add(g, "next_seq", CONFIG_TYPE_INT64), (long long)c->next_seq);
		config_setting_set_string(config_setting_add(g, "mirror_type", CONFIG_TYPE_STRING),
					  mirror_type_word(c->mopt.type));
		config_setting_set_bool(config_setting_add(g, "mirror_newer", CONFIG_TYPE_BOOL), c->mopt.newer);
		config_setting_set_string(config_setting_add(g, "orphans", CONFIG_TYPE_STRING),
					  orphans_word(c->orph));
		config_setting_set_string(config_setting_add(g, "orphans_move", CONFIG_TYPE_STRING),
					  c->orph_move ? c->orph_move : "");
		config_setting_set_int64(config_setting_add(g, "orphans_age", CONFIG_TYPE_INT64), (long long)c->orph_age);
		config_setting_set_string(config_setting_add(g, "verify_cron", CONFIG_TYPE_STRING),
					  c->vcron ? c->vcron : "");
		config_setting_set_bool(config_setting_add(g, "verify_remirror", CONFIG_TYPE_BOOL), c->vsched.remirror);
		config_setting_set_bool(config_setting_add(g, "verify_newer", CONFIG_TYPE_BOOL), c->vsched.newer);
		config_setting_set_bool(config_setting_add(g, "verify_checksum", CONFIG_TYPE_BOOL), c->vsched.checksum);
		config_setting_set_string(config_setting_add(g, "compression", CONFIG_TYPE_STRING),
					  comp_word(c->comp));
		config_setting_set_int64(config_setting_add(g, "compression_level", CONFIG_TYPE_INT64),
					 c->comp_level);
		config_setting_set_int64(config_setting_add(g, "bandwidth_limit", CONFIG_TYPE_INT64),
					 (long long)c->bw_limit);
		config_setting_set_string(config_setting_add(g, "transmit", CONFIG_TYPE_STRING),
					  c->tx == TX_STOPPED ? "stopped" : c->tx == TX_PAUSED ? "paused" : "started");
		config_setting_set_bool(config_setting_add(g, "target_paused", CONFIG_TYPE_BOOL),
					c->tx_target_paused);
		transmit_save(&c->sched, &c->sess, g);
		mscript_save(&c->scripts, g);
	}
	ret = conf_save_file(&cfg, s->conns_path);
	if (ret < 0)
		dtlog(DTLOG_ERROR, 0, "Cannot save connections to %s: %s", s->conns_path, strerror(errno));
	config_destroy(&cfg);
	return ret;
}

static void sync_journals(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct source *s = arg;
	struct conn *c;

	(void)loop;
	(void)t;
	/* A process crash keeps written pages; this bounds what a power loss
	 * can take to about a second. */
	for (c = s->conns; c; c = c->next)
		if (c->xw && !c->journal_failed && xlog_sync(c->xw) < 0) {
			char why[256];

			snprintf(why, sizeof(why), "the queue journal cannot be synced: %s", strerror(errno));
			if (c->temporary)
				c->journal_failed = true;
			conn_auto_disconnect(c, why);
		}
	if (s->conns) { /* nothing to measure for on a target-only agent */
		queue_free_measure(s);
		queue_alert(s);
	}
}

/* ------------------------------------------------------------ public API */

struct source *source_new(struct agent *a)
{
	struct source *s = util_xcalloc(1, sizeof(*s));

	s->a = a;
	s->next_id = 1;
	s->conns_path = util_xasprintf("%s/connections.conf", a->conf.agent.state_dir);
	s->sync_timer = evloop_timer_add(a->loop, 1000, 1000, sync_journals, s);
	s->cron_timer = evloop_timer_add(a->loop, 1000, 1000, cron_tick, s);
	return s;
}

void source_free(struct source *s)
{
	if (!s)
		return;
	while (s->conns) {
		struct conn *c = s->conns;

		s->conns = c->next;
		c->state = CONN_STOPPED;
		conn_free(c);
	}
	if (s->sync_timer)
		evloop_timer_cancel(s->a->loop, s->sync_timer);
	if (s->cron_timer)
		evloop_timer_cancel(s->a->loop, s->cron_timer);
	if (s->dirty_timer)
		evloop_timer_cancel(s->a->loop, s->dirty_timer);
	while (s->ndirty)
		free(s->dirty[--s->ndirty]);
	free(s->dirty);
	free(s->conns_path);
	if (s->cap) {
		evloop_del_fd(s->a->loop, capture_host_fd(s->cap));
		capture_host_close(s->cap);
		capture_host_unload(s->cap);
	}
	free(s);
}

/* Connections to the same target address share one compression setting. */
static bool same_target(const struct conn *a, const struct conn *b)
{
	return a != b && a->port == b->port && util_streq_ci(a->host, b->host);
}

static bool abs_clean(const char *p)
{
	return p && p[0] == '/' && !strstr(p, "/../") && !strstr(p, "/./") &&
	       strlen(p) <= DITTO_PATH_MAX;
}

/* Builds a connection from its definition; nothing runs yet. NULL with the
 * reason in msg when the definition is not usable. */
static struct conn *conn_build(struct source *s, const struct source_connect_req *req,
			       uint32_t id, struct util_buf *msg)
{
	const struct repset *rs = repset_db_find(s->a->repsets, req->repset);
	struct conn *c;
	size_t i;

	if (!rs) {
		util_buf_printf(msg, "CONNECT: no replication set %s\n", req->repset);
		return NULL;
	}
	if (req->map == SOURCE_MAP_BASE && !abs_clean(req->base)) {
		util_buf_printf(msg, "CONNECT: MAP BASE needs an absolute directory\n");
		return NULL;
	}
	for (i = 0; i < req->npairs; i++) {
		if (!abs_clean(req->pairs[i].src) || !abs_clean(req->pairs[i].dst)) {
			util_buf_printf(msg, "CONNECT: MAP paths must be absolute: \"%s\" TO \"%s\"\n",
					req->pairs[i].src, req->pairs[i].dst);
			return NULL;
		}
	}
	c = util_xcalloc(1, sizeof(*c));
	c->src = s;
	c->repset = util_xstrdup(repset_name(rs));
	c->target = util_xstrdup(req->target);
	c->port = DEFAULT_PORT;
	if (util_parse_hostport(req->target, c->host, sizeof(c->host), &c->port) < 0 ||
	    !c->host[0]) {
		util_buf_printf(msg, "CONNECT: bad target %s (host[:port])\n", req->target);
		conn_free(c);
		return NULL;
	}
	c->comp_level = WIRE_ZSTD_LEVEL_DEFAULT;
	transmit_sched_init(&c->sched);
	for (const struct conn *o = s->conns; o; o = o->next)
		if (same_target(o, c) && !o->temporary) {
			c->comp = o->comp;
			c->comp_level = o->comp_level;
			c->sched = o->sched;
			c->tx_target_paused = o->tx_target_paused;
			break;
		}
	c->map = req->map;
	c->base = req->base ? util_xstrdup(req->base) : NULL;
	if (req->npairs) {
		c->pairs = util_xcalloc(req->npairs, sizeof(*c->pairs));
		for (i = 0; i < req->npairs; i++) {
			c->pairs[i].src = util_xstrdup(req->pairs[i].src);
			c->pairs[i].dst = util_xstrdup(req->pairs[i].dst);
		}
		c->npairs = req->npairs;
	}
	compute_root(c, s->a->conf.agent.name);
	c->replicate = req->replicate;
	c->mopt = req->mirror_opts;
	c->mopt.calculate = false;
	c->next_seq = 1;
	c->id = id;
	c->state = CONN_STARTED;
	transmit_session_reset(&c->sess, &c->sched, time(NULL));
	return c;
}

/* The target's backup of the set and of where its parts came from, for a
 * restore that cannot count on this host (see restore.h). */
static void conn_backup(struct conn *c)
{
	const struct repset *rs = repset_db_find(c->src->a->repsets, c->repset);
	struct repset_root *roots = NULL;
	const char **abs, **rels;
	char (*relbuf)[DITTO_PATH_MAX + 1];
	struct ditto_op op;
	size_t n = 0, i, k = 0;
	char *text;

	if (!rs || c->temporary)
		return;
	repset_roots(rs, &roots, &n);
	abs = util_xcalloc(n + 1, sizeof(*abs));
	rels = util_xcalloc(n + 1, sizeof(*rels));
	relbuf = util_xcalloc(n + 1, sizeof(*relbuf));
	for (i = 0; i < n; i++) {
		int m = map_path(c, roots[i].path, strlen(roots[i].path), relbuf[k], sizeof(relbuf[k]));

		if (m < 0)
			continue;
		abs[k] = roots[i].path;
		rels[k] = relbuf[k];
		k++;
	}
	text = restore_backup_format(rs, c->id, c->root, abs, rels, k);
	if (text && strlen(text) <= DITTO_OP_DATA_MAX) {
		op_init(&op, DITTO_OP_REPSET_BACKUP);
		op_set_data(&op, text, strlen(text));
		conn_enqueue(c, &op);
		op_free(&op);
	}
	free(text);
	free(abs);
	free(rels);
	free(relbuf);
	repset_roots_free(roots, n);
}

/* Journal, capture, mirror, link — in that order. Capture starts before the
 * mirror, so a change made while the mirror runs is queued after the mirror
 * read it or is read by the mirror itself: either way the target ends
 * equal. */
static void conn_begin(struct conn *c, bool mirror, bool restart, struct util_buf *msg)
{
	struct source *s = c->src;
	bool need_mirror = false;
	char err[512];

	if (util_mkdir_p(queue_dir(c), 0750) < 0 || (restart ? journal_replay(c, &need_mirror) :
	    (c->xw = xlog_writer_open(queue_dir(c), c->host, c->port, c->id, 1,
				      s->a->conf.queue.xlog_size)) ? 0 : -1) < 0) {
		c->journal_failed = true;
		dtlog_event(DTLOG_ERROR, 0, "Queue journal of connection %u unavailable in %s: %s",
			    c->id, queue_dir(c), strerror(errno));
		util_buf_printf(msg, "warning: queue journal unavailable: %s\n", strerror(errno));
	}
	if (c->replicate && capture_add_set(s, c->repset, err, sizeof(err)) < 0) {
		snprintf(c->cap_error, sizeof(c->cap_error), "%s", err);
		dtlog(DTLOG_ERROR, 0, "Replication of connection %u not started: %s", c->id, err);
		util_buf_printf(msg, "warning: real-time replication not started: %s\n", err);
		c->replicate = false;
	}
	/* After a restart the changes made while the agent was down were never
	 * captured: a replicating connection is mirrored again. */
	if (restart && (c->replicate || need_mirror || mirror)) {
		dtlog(DTLOG_INFO, 0, "Connection %u: remirroring after restart%s", c->id,
		      mirror ? " (the last mirror had not completed)" : "");
		mirror = true;
	}
	conn_backup(c);
	if (mirror && conn_mirror(c, err, sizeof(err)) < 0)
		util_buf_printf(msg, "warning: mirror not started: %s\n", err);
	else if (!mirror)
		c->mirror_done = true;
	if (conn_wants_link(c))
		conn_dial(c);
}

/* Is the target this host? Loopback addresses and our own name are. */
static bool target_is_here(const struct source *s, const struct conn *c)
{
	return !strncmp(c->host, "127.", 4) || !strcmp(c->host, "::1") ||
	       util_streq_ci(c->host, "localhost") ||
	       util_streq_ci(c->host, s->a->conf.agent.name);
}

int source_connect(struct source *s, const struct source_connect_req *req,
		   struct util_buf *msg)
{
	struct conn *c = conn_build(s, req, s->next_id, msg);
	struct xlog_files old = { NULL, 0 };
	size_t i;

	if (!c)
		return -1;
	if (target_is_here(s, c)) {
		const struct repset *own = repset_db_reaches(s->a->repsets, c->root, strlen(c->root));

		if (own) {
			util_buf_printf(msg, "CONNECT: target path %s is inside replication set %s on this host: that would be a replication loop\n",
					c->root, repset_name(own));
			conn_free(c);
			return -1;
		}
	}
	s->next_id++;
	/* A journal left by an earlier connection of this number (state lost
	 * or edited by hand) belongs to nobody now. */
	if (xlog_list(queue_dir(c), c->host, c->port, c->id, &old) == 0)
		for (i = 0; i < old.n; i++)
			xlog_remove(old.v[i].path);
	xlog_files_free(&old);
	c->next = s->conns;
	s->conns = c;
	conn_begin(c, req->mirror, false, msg);
	conns_save(s);
	util_buf_printf(msg, "Connection %u: %s to %s, target path %s\n", c->id,
			c->repset, c->target, c->root);
	return (int)c->id;
}

static const char *cfg_str(const config_setting_t *g, const char *name)
{
	const char *v = NULL;

	return config_setting_lookup_string(g, name, &v) ? v : "";
}

/* The saved mirror type, orphan policy and verification schedule. */
static void conn_load_tasks(struct conn *c, const config_setting_t *g)
{
	const char *t = cfg_str(g, "mirror_type"), *o = cfg_str(g, "orphans");
	const char *mv = cfg_str(g, "orphans_move"), *cr = cfg_str(g, "verify_cron");
	long long age = 0;
	int b;

	c->mopt.type = !strcmp(t, "checksum") ? SOURCE_MIRROR_CHECKSUM :
		       !strcmp(t, "different") ? SOURCE_MIRROR_DIFFERENT : SOURCE_MIRROR_FULL;
	if (config_setting_lookup_bool(g, "mirror_newer", &b))
		c->mopt.newer = b;
	c->orph = !strcmp(o, "log") ? SOURCE_ORPHANS_LOG : !strcmp(o, "delete") ? SOURCE_ORPHANS_DELETE :
		  !strcmp(o, "move") && op_path_valid(mv, strlen(mv)) ? SOURCE_ORPHANS_MOVE : SOURCE_ORPHANS_OFF;
	if (c->orph == SOURCE_ORPHANS_MOVE)
		c->orph_move = util_xstrdup(mv);
	if (config_setting_lookup_int64(g, "orphans_age", &age) && age > 0)
		c->orph_age = (uint64_t)age;
	if (config_setting_lookup_bool(g, "verify_remirror", &b))
		c->vsched.remirror = b;
	if (config_setting_lookup_bool(g, "verify_newer", &b))
		c->vsched.newer = b;
	if (config_setting_lookup_bool(g, "verify_checksum", &b))
		c->vsched.checksum = b;
	t = cfg_str(g, "compression");
	c->comp = !strcmp(t, "lz4") ? WIRE_COMP_LZ4 : !strcmp(t, "zstd") ? WIRE_COMP_ZSTD : WIRE_COMP_NONE;
	if (config_setting_lookup_int64(g, "compression_level", &age) && age >= WIRE_ZSTD_LEVEL_MIN &&
	    age <= WIRE_ZSTD_LEVEL_MAX)
		c->comp_level = (int)age;
	if (config_setting_lookup_int64(g, "bandwidth_limit", &age) && age > 0 &&
	    (uint64_t)age <= TBUCKET_RATE_MAX)
		bw_set(c, (uint64_t)age);
	mscript_load(&c->scripts, g);
	t = cfg_str(g, "transmit");
	c->tx = !strcmp(t, "stopped") ? TX_STOPPED : !strcmp(t, "paused") ? TX_PAUSED : TX_STARTED;
	if (config_setting_lookup_bool(g, "target_paused", &b))
		c->tx_target_paused = b;
	transmit_load(&c->sched, &c->sess, g, time(NULL));
	if (cr[0]) {
		char err[256];

		if (cron_parse(cr, &c->vcron_e, err, sizeof(err)) == 0) {
			c->vcron = util_xstrdup(cr);
			c->vnext = cron_after(c, time(NULL));
		} else {
			dtlog(DTLOG_ERROR, 0, "Connection %u: saved verification schedule \"%s\" dropped: %s",
			      c->id, cr, err);
		}
	}
}

int source_load(struct source *s, char *err, size_t errlen)
{
	config_t cfg;
	config_setting_t *list;
	struct util_buf msg;
	long long v;
	int i, n, ret = -1;

	if (access(s->conns_path, F_OK) != 0)
		return 0;
	config_init(&cfg);
	util_buf_init(&msg);
	if (!config_read_file(&cfg, s->conns_path)) {
		snprintf(err, errlen, "%s:%d: %s", s->conns_path, config_error_line(&cfg),
			 config_error_text(&cfg));
		goto done;
	}
	if (config_lookup_int64(&cfg, "next_id", &v) && v > 0 && v <= UINT32_MAX)
		s->next_id = (uint32_t)v;
	list = config_lookup(&cfg, "connections");
	n = list ? config_setting_length(list) : 0;
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		config_setting_t *pl = config_setting_lookup(g, "pairs");
		struct source_connect_req req;
		struct conn *c;
		const char *m = cfg_str(g, "map");
		int replicate = 1, pending = 0, j, np = pl ? config_setting_length(pl) : 0;
		long long id = 0, next_seq = 1;

		memset(&req, 0, sizeof(req));
		config_setting_lookup_int64(g, "id", &id);
		config_setting_lookup_int64(g, "next_seq", &next_seq);
		config_setting_lookup_bool(g, "replicate", &replicate);
		config_setting_lookup_bool(g, "mirror_pending", &pending);
		req.repset = cfg_str(g, "repset");
		req.target = cfg_str(g, "target");
		req.map = !strcmp(m, "exact") ? SOURCE_MAP_EXACT : !strcmp(m, "base") ? SOURCE_MAP_BASE :
			  !strcmp(m, "pairs") ? SOURCE_MAP_PAIRS : SOURCE_MAP_DEFAULT;
		req.base = cfg_str(g, "base");
		req.replicate = replicate;
		req.pairs = util_xcalloc(np ? (size_t)np : 1, sizeof(*req.pairs));
		for (j = 0; j < np; j++) {
			config_setting_t *pair = config_setting_get_elem(pl, (unsigned)j);

			req.pairs[j].src = (char *)config_setting_get_string_elem(pair, 0);
			req.pairs[j].dst = (char *)config_setting_get_string_elem(pair, 1);
			if (!req.pairs[j].src || !req.pairs[j].dst)
				np = j;
		}
		req.npairs = (size_t)np;
		util_buf_reset(&msg);
		c = (id > 0 && id <= UINT32_MAX) ? conn_build(s, &req, (uint32_t)id, &msg) : NULL;
		free(req.pairs);
		if (!c) {
			dtlog(DTLOG_ERROR, 0, "Connection %lld in %s cannot be restored: %s",
			      id, s->conns_path, msg.data ? msg.data : "bad entry");
			continue;
		}
		if (next_seq > 0)
			c->next_seq = (uint64_t)next_seq;
		conn_load_tasks(c, g);
		c->next = s->conns;
		s->conns = c;
		dtlog(DTLOG_INFO, 80, "Trying to auto-retransmit to ip://%s (connection %u restored)",
		      c->target, c->id);
		conn_begin(c, pending, true, &msg);
	}
	ret = 0;
done:
	util_buf_free(&msg);
	config_destroy(&cfg);
	return ret;
}

int source_disconnect(struct source *s, uint32_t con_id, struct util_buf *msg)
{
	struct conn **pp, *c;

	for (pp = &s->conns; (c = *pp); pp = &c->next) {
		if (c->id != con_id)
			continue;
		*pp = c->next;
		c->state = CONN_STOPPED;
		if (c->link && c->connected) {
			wire_put_disconnect(link_out(c->link), c->id);
			link_flush(c->link);
		}
		util_buf_printf(msg, "Connection %u removed (%" PRIu64 " queued ops dropped)\n",
				con_id, c->queued_ops);
		dtlog(DTLOG_INFO, 0, "Connection %u disconnected by request", con_id);
		task_end(c, "connection removed");
		c->journal_failed = true; /* no new journal: the connection goes */
		journal_reset(c);
		conn_maps_remove(c);
		conn_free(c);
		conns_save(s);
		return 0;
	}
	util_buf_printf(msg, "no connection %u\n", con_id);
	return -1;
}

int source_mirror_start(struct source *s, uint32_t con_id,
			const struct source_mirror_opts *o, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);
	char err[512];

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (c->task == TASK_VERIFY) {
		util_buf_printf(msg, "MIRROR START %u: a verification is running\n", con_id);
		return -1;
	}
	c->run_mopt = o ? *o : c->mopt;
	conn_backup(c);
	if (conn_task(c, TASK_MIRROR, err, sizeof(err)) < 0) {
		util_buf_printf(msg, "MIRROR START %u: %s\n", con_id, err);
		return -1;
	}
	if (c->restore_required && !c->overwrite) {
		/* The operator chose the source's data over what the target
		 * served since its failover: connect saying so, now. */
		c->overwrite = true;
		util_buf_printf(msg, "Connection %u was Restore Required: the mirror overwrites the target's copy\n", con_id);
		dtlog(DTLOG_WARNING, 0, "Connection %u: mirror started over a Restore Required copy", con_id);
		if (!c->link && c->retry) {
			evloop_timer_cancel(s->a->loop, c->retry);
			c->retry = NULL;
		}
		tx_link_update(c);
	}
	util_buf_printf(msg, "Mirror started on connection %u (%s%s)\n", con_id,
			mirror_type_word(c->run_mopt.type), c->run_mopt.newer ? ", newer only" : "");
	return 0;
}

int source_mirror_ctl(struct source *s, uint32_t con_id, enum source_mirror_ctl what,
		      struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (c->task != TASK_MIRROR || (!c->mw && what != SOURCE_MIRROR_STOP)) {
		util_buf_printf(msg, "connection %u has no mirror running\n", con_id);
		return -1;
	}
	switch (what) {
	case SOURCE_MIRROR_PAUSE:
		c->mpaused = true;
		dtlog(DTLOG_INFO, 91, "Mirror paused %u", c->id);
		util_buf_printf(msg, "Mirror of connection %u paused\n", con_id);
		break;
	case SOURCE_MIRROR_RESUME:
		c->mpaused = false;
		dtlog(DTLOG_INFO, 92, "Mirror resumed %u", c->id);
		util_buf_printf(msg, "Mirror of connection %u resumed\n", con_id);
		if (!c->mirror_tick)
			c->mirror_tick = evloop_timer_add(s->a->loop, 0, 0, mirror_tick, c);
		break;
	case SOURCE_MIRROR_STOP:
		/* Stop forgets the place: a later start begins again. What was
		 * queued stays queued (it is all valid data). */
		if (c->mw) {
			mirror_walk_free(c->mw);
			c->mw = NULL;
		}
		c->mstopped = true;
		c->mpaused = false;
		probes_clear(c);
		task_end(c, "stopped");
		dtlog(DTLOG_INFO, 90, "Mirror stopped %u", c->id);
		util_buf_printf(msg, "Mirror of connection %u stopped\n", con_id);
		conns_save(s);
		conn_pump(c);
		break;
	}
	return 0;
}

int source_mirror_idle(struct source *s, uint32_t con_id, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	return c->task != TASK_MIRROR;
}

int source_verify_start(struct source *s, uint32_t con_id,
			const struct source_verify_opts *o, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);
	char err[512];

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (c->task == TASK_MIRROR || c->task == TASK_VERIFY) {
		util_buf_printf(msg, "VERIFY %u: a %s is running; try again when it is done\n", con_id,
				c->task == TASK_MIRROR ? "mirror" : "verification");
		return -1;
	}
	c->vopt = *o;
	if (conn_task(c, TASK_VERIFY, err, sizeof(err)) < 0) {
		c->vresult = -1;
		snprintf(c->vsummary, sizeof(c->vsummary), "%s", err);
		util_buf_printf(msg, "VERIFY %u: %s\n", con_id, err);
		return -1;
	}
	util_buf_printf(msg, "Verification started on connection %u\n", con_id);
	return 0;
}

int source_verify_result(struct source *s, uint32_t con_id, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (c->task == TASK_VERIFY)
		return 0;
	if (!c->vsummary[0]) {
		util_buf_printf(msg, "connection %u has not been verified\n", con_id);
		return -1;
	}
	util_buf_printf(msg, "%s\n", c->vsummary);
	return c->vresult;
}

static time_t cron_after(const struct conn *c, time_t now)
{
	time_t next;

	return cron_next(&c->vcron_e, now, &next) == 0 ? next : 0;
}

int source_verify_schedule(struct source *s, uint32_t con_id, const char *cron,
			   const struct source_verify_opts *o, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);
	struct cron_expr e;
	char err[256];

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (cron && cron_parse(cron, &e, err, sizeof(err)) < 0) {
		util_buf_printf(msg, "VERIFY SCHEDULE: \"%s\": %s\n", cron, err);
		return -1;
	}
	free(c->vcron);
	c->vcron = cron ? util_xstrdup(cron) : NULL;
	if (cron) {
		char when[64];
		struct tm tm;

		c->vcron_e = e;
		c->vsched = *o;
		c->vnext = cron_after(c, time(NULL));
		if (c->vnext && localtime_r(&c->vnext, &tm))
			strftime(when, sizeof(when), "%m/%d/%Y %H:%M", &tm);
		else
			snprintf(when, sizeof(when), "never (no such time)");
		util_buf_printf(msg, "Connection %u is verified on \"%s\"; next %s\n", con_id, cron, when);
	} else {
		c->vnext = 0;
		util_buf_printf(msg, "Connection %u has no scheduled verification\n", con_id);
	}
	conns_save(s);
	return 0;
}

static void tx_tick(struct conn *c, time_t now);

/* Once a second: transmission schedules, and scheduled verifications that are due. One that finds a
 * mirror or verification running waits for its next time. */
static void cron_tick(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct source *s = arg;
	time_t now = time(NULL);
	struct conn *c;

	(void)loop;
	(void)t;
	for (c = s->conns; c; c = c->next) {
		char err[256];

		tx_tick(c, now);
		if (!c->vcron || !c->vnext || now < c->vnext)
			continue;
		c->vnext = cron_after(c, now);
		if (c->task == TASK_MIRROR || c->task == TASK_VERIFY) {
			dtlog(DTLOG_WARNING, 0, "Scheduled verification of connection %u skipped: a %s is running",
			      c->id, c->task == TASK_MIRROR ? "mirror" : "verification");
			continue;
		}
		c->vopt = c->vsched;
		if (conn_task(c, TASK_VERIFY, err, sizeof(err)) < 0)
			dtlog(DTLOG_ERROR, 0, "Scheduled verification of connection %u failed: %s", c->id, err);
	}
}

int source_orphans_set(struct source *s, uint32_t con_id,
		       const struct source_orphans_opts *o, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);
	char *rel = NULL;

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (o->action == SOURCE_ORPHANS_MOVE) {
		ssize_t r = -1;

		/* The target only moves beneath the connection's target path:
		 * nothing a source says may reach further. */
		if (o->move_dir && abs_clean(o->move_dir))
			r = beneath(o->move_dir, strlen(o->move_dir), c->root);
		if (r <= 0 || !op_path_valid(o->move_dir + strlen(o->move_dir) - r, (size_t)r)) {
			util_buf_printf(msg, "ORPHANS SET %u MOVE: \"%s\" must be an absolute directory beneath the target path %s\n",
					con_id, o->move_dir ? o->move_dir : "", c->root);
			return -1;
		}
		rel = util_xstrdup(o->move_dir + strlen(o->move_dir) - r);
	}
	c->orph = o->action;
	c->orph_age = o->min_age_s;
	free(c->orph_move);
	c->orph_move = rel;
	conns_save(s);
	util_buf_printf(msg, "Orphans of connection %u: %s%s%s", con_id,
			o->action == SOURCE_ORPHANS_OFF ? "not handled" : o->action == SOURCE_ORPHANS_LOG ? "logged" :
			o->action == SOURCE_ORPHANS_DELETE ? "deleted" : "moved to ",
			o->action == SOURCE_ORPHANS_MOVE ? o->move_dir : "",
			o->min_age_s && o->action >= SOURCE_ORPHANS_DELETE ? " when older than " : "");
	if (o->min_age_s && o->action >= SOURCE_ORPHANS_DELETE)
		util_buf_printf(msg, "%" PRIu64 " s", o->min_age_s);
	util_buf_puts(msg, "\n");
	return 0;
}

int source_compression_set(struct source *s, uint32_t con_id, enum wire_comp comp, int level,
			   struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id), *o;

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (comp != WIRE_COMP_NONE && comp != WIRE_COMP_LZ4 && comp != WIRE_COMP_ZSTD) {
		util_buf_printf(msg, "COMPRESSION: unknown method\n");
		return -1;
	}
	if (comp == WIRE_COMP_ZSTD && (level < WIRE_ZSTD_LEVEL_MIN || level > WIRE_ZSTD_LEVEL_MAX)) {
		util_buf_printf(msg, "COMPRESSION: zstd level %d out of range %d..%d\n", level,
				WIRE_ZSTD_LEVEL_MIN, WIRE_ZSTD_LEVEL_MAX);
		return -1;
	}
	if (comp != WIRE_COMP_ZSTD)
		level = WIRE_ZSTD_LEVEL_DEFAULT;
	util_buf_printf(msg, "Compression %s", comp_word(comp));
	if (comp == WIRE_COMP_ZSTD)
		util_buf_printf(msg, " level %d", level);
	util_buf_printf(msg, " for target %s:%u (connections ", c->host, c->port);
	for (o = s->conns; o; o = o->next) {
		if (o != c && !same_target(o, c))
			continue;
		o->comp = comp;
		o->comp_level = level;
	}
	/* In ID order, for the message. */
	{
		uint32_t id, last = 0;
		bool first = true;

		for (;;) {
			id = 0;
			for (o = s->conns; o; o = o->next)
				if ((o == c || same_target(o, c)) && o->id > last && (!id || o->id < id))
					id = o->id;
			if (!id)
				break;
			util_buf_printf(msg, "%s%u", first ? "" : ", ", id);
			first = false;
			last = id;
		}
	}
	util_buf_puts(msg, ")\n");
	conns_save(s);
	return 0;
}

void source_restored(struct source *s, const char *repset, const char *host)
{
	for (struct conn *c = s->conns; c; c = c->next) {
		if (c->temporary || !c->restore_required || strcmp(c->repset, repset) ||
		    !util_streq_ci(c->host, host))
			continue;
		dtlog(DTLOG_INFO, 0, "Connection %u: %s was restored from %s; replication resumes", c->id, repset, host);
		c->overwrite = c->restored = true;
		if (!c->link && c->retry) {
			evloop_timer_cancel(s->a->loop, c->retry);
			c->retry = NULL;
		}
		tx_link_update(c);
	}
}

int source_script_set(struct source *s, uint32_t con_id, const char *event,
		      const char *path, const char *args, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);
	int e = mscript_event_parse(event);
	char err[512];

	if (!c || c->temporary) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (e < 0) {
		util_buf_printf(msg, "%s is not MIRRORSTART, MIRRORSTOP or MIRRORCOMPLETE\n", event);
		return -1;
	}
	if (path) {
		if (mscript_set(&c->scripts, (enum mscript_event)e, path, args, err, sizeof(err)) < 0) {
			util_buf_printf(msg, "script refused: %s\n", err);
			return -1;
		}
		util_buf_printf(msg, "Connection %u runs %s on %s\n", con_id, path, mscript_event_name((enum mscript_event)e));
	} else if (mscript_clear(&c->scripts, (enum mscript_event)e) < 0) {
		util_buf_printf(msg, "connection %u has no %s script\n", con_id, mscript_event_name((enum mscript_event)e));
		return -1;
	} else {
		util_buf_printf(msg, "Connection %u: %s script removed\n", con_id, mscript_event_name((enum mscript_event)e));
	}
	dtlog(DTLOG_INFO, 0, "Connection %u: %s script %s%s", con_id, mscript_event_name((enum mscript_event)e),
	      path ? "set to " : "removed", path ? path : "");
	conns_save(s);
	return 0;
}

int source_bandwidth_set(struct source *s, uint32_t con_id, uint64_t limit, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (limit > TBUCKET_RATE_MAX) {
		util_buf_printf(msg, "LIMIT BANDWIDTH: %" PRIu64 " bytes/s is more than the most, %" PRIu64 "\n",
				limit, TBUCKET_RATE_MAX);
		return -1;
	}
	bw_set(c, limit);
	conns_save(s);
	if (limit) {
		util_buf_printf(msg, "Bandwidth limit of connection %u: %" PRIu64 " bytes/s\n", con_id, limit);
		dtlog(DTLOG_INFO, 0, "Connection %u: bandwidth limited to %" PRIu64 " bytes/s", con_id, limit);
	} else {
		util_buf_printf(msg, "Bandwidth limit of connection %u: none\n", con_id);
		dtlog(DTLOG_INFO, 0, "Connection %u: bandwidth limit removed", con_id);
	}
	conn_pump(c); /* a lifted or raised limit lets the queue go now */
	return 0;
}

/* ------------------------------------------------------ transmission control */

static void tx_log_begin(struct conn *c, const char *why)
{
	dtlog(DTLOG_INFO, 81, "Schedule transmit start to target %s (connection %u): %s; %" PRIu64 " ops queued",
	      c->target, c->id, why, c->queued_ops + c->spilled_ops);
}

/* Once a second (cron_tick): starts and ends scheduled sessions. */
static void tx_tick(struct conn *c, time_t now)
{
	struct transmit_queue q;
	const char *why;
	uint64_t sent0 = c->sess.sent_at_start;

	if (!c->sess.active && !transmit_sched_active(&c->sched))
		return;
	q.queued = !c->send_next && !c->spilling ? 0 : c->queued_bytes + c->spilled_bytes;
	q.sent = c->sent_wire;
	q.capacity = 0;
	if (c->sched.threshold_pct) {
		const struct conf *cf = &c->src->a->conf;
		uint64_t fr;

		/* Memory plus the disk queue: its limit, or with none the
		 * space left where the xlog files go (queue_free's figure). */
		q.capacity = cf->queue.memory;
		if (cf->queue.disk_max != CONF_UNLIMITED)
			q.capacity += cf->queue.disk_max;
		else if ((fr = queue_free(c->src)) != UINT64_MAX)
			q.capacity += fr + c->spilled_bytes;
	}
	switch (transmit_tick(&c->sched, &c->sess, now, &q, &why)) {
	case TRANSMIT_BEGIN:
		tx_log_begin(c, why);
		if (!c->link && c->retry) {
			/* Now, not after a retry delay. */
			evloop_timer_cancel(c->src->a->loop, c->retry);
			c->retry = NULL;
		}
		tx_link_update(c);
		conn_pump(c);
		break;
	case TRANSMIT_END:
		dtlog(DTLOG_INFO, 82, "Schedule transmit end to target %s (connection %u): %s; %" PRIu64 " bytes sent in the session, %" PRIu64 " ops wait",
		      c->target, c->id, why, c->sent_wire - sent0, c->queued_ops + c->spilled_ops);
		tx_link_update(c);
		break;
	default:
		break;
	}
}

static const char *state_name(const struct conn *c);
static const char *const tx_words[] = { "START", "STOP", "PAUSE", "RESUME" };

int source_transmit(struct source *s, uint32_t con_id, enum source_transmit what, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	switch (what) {
	case SOURCE_TX_START:
		if (c->tx == TX_STARTED && (c->sess.active || !transmit_sched_active(&c->sched))) {
			util_buf_printf(msg, "Transmission of connection %u is already started\n", con_id);
			return 0;
		}
		if (c->tx == TX_STARTED) {
			/* A session now, ending like a scheduled one. */
			transmit_begin_manual(&c->sess, time(NULL), c->sent_wire);
			tx_log_begin(c, "TRANSMIT START");
		}
		c->tx = TX_STARTED;
		break;
	case SOURCE_TX_STOP:
		if (c->tx == TX_STOPPED) {
			util_buf_printf(msg, "Transmission of connection %u is already stopped\n", con_id);
			return 0;
		}
		c->tx = TX_STOPPED;
		c->sess.active = c->sess.manual = false;
		if (c->retry) {
			evloop_timer_cancel(s->a->loop, c->retry);
			c->retry = NULL;
		}
		if (c->link)
			link_close(c->link, "transmission stopped");
		break;
	case SOURCE_TX_PAUSE:
		if (c->tx != TX_STARTED) {
			util_buf_printf(msg, "Transmission of connection %u is %s: TRANSMIT START it first\n", con_id,
					c->tx == TX_STOPPED ? "stopped" : "already paused");
			return c->tx == TX_STOPPED ? -1 : 0;
		}
		c->tx = TX_PAUSED;
		break;
	case SOURCE_TX_RESUME:
		if (c->tx != TX_PAUSED) {
			util_buf_printf(msg, "Transmission of connection %u is not paused%s\n", con_id,
					c->tx == TX_STOPPED ? " but stopped: use TRANSMIT START" : "");
			return c->tx == TX_STOPPED ? -1 : 0;
		}
		c->tx = TX_STARTED;
		break;
	}
	if (what == SOURCE_TX_START || what == SOURCE_TX_STOP)
		dtlog_event(DTLOG_INFO, what == SOURCE_TX_START ? 4014 : 4015,
			    "Service has %s network transmission to %s for Replication Set %s, ID: %u",
			    what == SOURCE_TX_START ? "started" : "stopped", c->target, c->repset, con_id);
	else
		dtlog(DTLOG_INFO, 0, "Connection %u: TRANSMIT %s", con_id, tx_words[what]);
	tx_link_update(c);
	util_buf_printf(msg, "Connection %u: %s\n", con_id, state_name(c));
	conns_save(s);
	conn_pump(c);
	return 0;
}

int source_replication(struct source *s, uint32_t con_id, bool start, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);
	char err[512];

	if (!c || c->temporary) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (c->replicate == start) {
		util_buf_printf(msg, "Replication of connection %u is already %s\n", con_id,
				start ? "started" : "stopped");
		return 0;
	}
	if (start) {
		if (capture_add_set(s, c->repset, err, sizeof(err)) < 0) {
			util_buf_printf(msg, "REPLICATION START %u: %s\n", con_id, err);
			return -1;
		}
		c->replicate = true;
		c->cap_error[0] = '\0';
		dtlog(DTLOG_INFO, 87, "Start replication on connection %u", con_id);
		/* What changed while it was stopped was never captured. */
		conn_catch_up(c);
		util_buf_printf(msg, "Replication of connection %u started; a difference mirror catches up\n", con_id);
	} else {
		c->replicate = false;
		dtlog(DTLOG_INFO, 88, "Stop replication on connection %u", con_id);
		util_buf_printf(msg, "Replication of connection %u stopped (changes are not queued; REPLICATION START mirrors what changed meanwhile)\n",
				con_id);
	}
	conns_save(s);
	return 0;
}

int source_pause_target(struct source *s, const char *target, bool pause, struct util_buf *msg)
{
	char host[256];
	uint16_t port = DEFAULT_PORT;
	struct conn *c;
	unsigned n = 0;

	if (util_parse_hostport(target, host, sizeof(host), &port) < 0 || !host[0]) {
		util_buf_printf(msg, "%s: bad target (host[:port])\n", target);
		return -1;
	}
	for (c = s->conns; c; c = c->next) {
		if (c->port != port || !util_streq_ci(c->host, host) || c->temporary)
			continue;
		n++;
		if (c->tx_target_paused == pause)
			continue;
		c->tx_target_paused = pause;
		c->tx_pause_pending = pause && in_flight(c);
		util_buf_printf(msg, "Connection %u: %s\n", c->id, state_name(c));
		if (pause)
			tx_settle(c);
		else
			conn_pump(c);
		tx_link_update(c);
	}
	if (!n) {
		util_buf_printf(msg, "no connection to target %s:%u\n", host, port);
		return -1;
	}
	dtlog(DTLOG_INFO, 0, "Target %s:%u %s by request (%u connections)", host, port,
	      pause ? "paused" : "resumed", n);
	util_buf_printf(msg, "Target %s:%u %s (%u connection%s)\n", host, port,
			pause ? "paused" : "resumed", n, n == 1 ? "" : "s");
	conns_save(s);
	return 0;
}

int source_schedule_get(const struct source *s, uint32_t con_id, struct transmit_sched *out,
			struct util_buf *msg)
{
	const struct conn *c = conn_find(s, con_id);

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	*out = c->sched;
	return 0;
}

int source_status_schedule(const struct source *s, uint32_t con_id, struct util_buf *out)
{
	const struct conn *c = conn_find(s, con_id);

	if (!c) {
		util_buf_printf(out, "no connection %u\n", con_id);
		return -1;
	}
	util_buf_printf(out, "Connection %u to %s:%u: %s\n", con_id, c->host, c->port, state_name(c));
	transmit_describe(&c->sched, &c->sess, out);
	return 0;
}

int source_schedule_set(struct source *s, uint32_t con_id, const struct transmit_sched *sched,
			struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id), *o;
	time_t now = time(NULL);

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	for (o = s->conns; o; o = o->next) {
		struct transmit_session keep;

		if (o != c && (!same_target(o, c) || o->temporary))
			continue;
		/* A running session goes on; the next tick ends it if the new
		 * criteria say so. */
		keep = o->sess;
		o->sched = *sched;
		transmit_session_reset(&o->sess, sched, now);
		o->sess.active = keep.active;
		o->sess.manual = keep.manual;
		o->sess.began = keep.began;
		o->sess.sent_at_start = keep.sent_at_start;
		if (o != c)
			util_buf_printf(msg, "(also connection %u: same target)\n", o->id);
		conn_pump(o);
		tx_link_update(o);
	}
	util_buf_printf(msg, "Connection %u to %s:%u\n", con_id, c->host, c->port);
	transmit_describe(&c->sched, &c->sess, msg);
	dtlog(DTLOG_INFO, 0, "Connection %u: transmission schedule changed", con_id);
	conns_save(s);
	return 0;
}

int source_orphans_run(struct source *s, uint32_t con_id, bool start, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);
	char err[512];

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (!start) {
		if (c->task != TASK_ORPHANS) {
			util_buf_printf(msg, "connection %u has no orphans run\n", con_id);
			return -1;
		}
		if (c->mw) {
			mirror_walk_free(c->mw);
			c->mw = NULL;
		}
		task_end(c, "stopped");
		util_buf_printf(msg, "Orphans run of connection %u stopped\n", con_id);
		return 0;
	}
	if (c->task != TASK_NONE) {
		util_buf_printf(msg, "ORPHANS START %u: a %s is running\n", con_id, task_name(c->task));
		return -1;
	}
	if (c->orph == SOURCE_ORPHANS_OFF) {
		/* A run on demand with nothing configured reports. */
		c->orph = SOURCE_ORPHANS_LOG;
		if (conn_task(c, TASK_ORPHANS, err, sizeof(err)) < 0)
			goto fail;
		c->orph = SOURCE_ORPHANS_OFF;
	} else if (conn_task(c, TASK_ORPHANS, err, sizeof(err)) < 0) {
		goto fail;
	}
	util_buf_printf(msg, "Orphans run started on connection %u\n", con_id);
	return 0;
fail:
	util_buf_printf(msg, "ORPHANS START %u: %s\n", con_id, err);
	return -1;
}

int source_queue_drained(struct source *s, uint32_t con_id, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	return !c->mw && c->last_acked + 1 == c->next_seq;
}

/* The agent-wide disk queue against its limits, and this connection's
 * auto-disconnects. */
static void queue_status(const struct conn *c, struct util_buf *out)
{
	struct source *s = c->src;
	struct qlimit lim;
	uint64_t used = disk_queued(s), fr;

	queue_limits(s, &lim);
	fr = queue_free(s);
	util_buf_printf(out, "Queue limits:         disk queue %" PRIu64 " bytes (all connections) of ", used);
	if (lim.disk_max == CONF_UNLIMITED)
		util_buf_puts(out, "unlimited");
	else
		util_buf_printf(out, "%" PRIu64, lim.disk_max);
	util_buf_printf(out, ", %u%% (alert at %d%%); ", qlimit_percent(&lim, used, fr), lim.alert_percent);
	if (fr == UINT64_MAX)
		util_buf_puts(out, "free space unknown");
	else
		util_buf_printf(out, "%" PRIu64 " bytes free", fr);
	util_buf_printf(out, " (min %" PRIu64 ")\n", lim.min_free);
	util_buf_printf(out, "Auto-disconnects:     %" PRIu64 "%s%s\n", c->adiscs,
			c->adiscs ? "; auto-remirror " : "",
			c->adiscs ? remirror_word(s->a->conf.queue.auto_remirror) : "");
}

static const char *state_name(const struct conn *c)
{
	if (conn_adisc(c))
		return c->adisc_fail_logged ? "Auto-disconnected (reconnecting; the target is not reachable)" :
					      "Auto-disconnected (reconnecting)";
	switch (c->state) {
	case CONN_STARTED:
		if (c->tx == TX_STOPPED)
			return "Stopped";
		if (c->tx == TX_PAUSED)
			return "Paused";
		if (c->tx_target_paused)
			return c->tx_pause_pending && in_flight(c) ? "Pause Pending (target paused)" : "Paused (target paused)";
		if (tx_idle(c))
			return "Scheduled";
		if (!c->connected)
			return "Started (connecting)";
		if (c->tpaused)
			return "Paused (by the target)";
		return "Started";
	case CONN_STOPPED: return "Stopped";
	case CONN_ERROR:
		if (c->restore_required)
			return c->overwrite ? "Restore Required (remirroring over the copy)" : "Restore Required";
		return "Error";
	default: return "Error";
	}
}

/* The guide's Target Status (STATUS, STATISTICS). A target that sends
 * TSTATUS says which op it retries and why; an older one only pauses us
 * once 8 MiB wait behind a retry, which is all we can tell of it then.
 * Paused is the user's PAUSETARGET. */
static const char *stats_target_status(const struct conn *c)
{
	if (!c->connected)
		return "Unknown"; /* ours: no link, nothing heard from it */
	if (c->tretry_seq || c->tpaused)
		return "Retrying";
	return c->tx_target_paused ? "Paused" : "OK";
}

static void target_state_put(const struct conn *c, struct util_buf *out)
{
	util_buf_printf(out, "Target status:        %s", stats_target_status(c));
	if (!c->connected)
		util_buf_puts(out, " (not connected)");
	else if (c->tretry_seq)
		util_buf_printf(out, " op %" PRIu64 ": %s", c->tretry_seq, c->tretry_why);
	else if (c->tpaused)
		util_buf_puts(out, " (the target paused this connection)");
	util_buf_puts(out, "\n");
}

void source_list(const struct source *s, struct util_buf *out)
{
	const struct conn *c;

	if (!s->conns)
		util_buf_puts(out, "No connections.\n");
	for (c = s->conns; c; c = c->next)
		util_buf_printf(out, "%u  %s -> %s  %s  target path %s\n", c->id, c->repset,
				c->target, state_name(c), c->root);
}

int source_status(const struct source *s, uint32_t con_id, struct util_buf *out)
{
	const struct conn *c = conn_find(s, con_id);

	if (!c) {
		util_buf_printf(out, "STATUS %u: no such connection\n", con_id);
		return -1;
	}
	util_buf_printf(out, "Connection ID:        %u\n", c->id);
	util_buf_printf(out, "Replication set:      %s\n", c->repset);
	util_buf_printf(out, "Target:               %s\n", c->target);
	util_buf_printf(out, "Target path:          %s\n", c->root);
	util_buf_printf(out, "Transmit state:       %s\n", state_name(c));
	target_state_put(c, out);
	util_buf_printf(out, "Mirror state:         %s\n",
			c->task == TASK_MIRROR ? (c->mpaused ? "Paused" : c->mw ? "Mirroring" : "Completing") :
			c->mirror_required ? "Mirror Required (the queue was flushed; MIRROR START, or the auto-remirror)" :
			c->mstopped ? "Stopped" : c->mirror_done ? "Idle" : "Not started");
	util_buf_printf(out, "Mirror type:          %s%s\n",
			mirror_type_word(c->task == TASK_MIRROR ? c->run_mopt.type : c->mopt.type),
			(c->task == TASK_MIRROR ? c->run_mopt.newer : c->mopt.newer) ? " (newer only)" : "");
	if (c->task == TASK_MIRROR && c->calc_bytes) {
		uint64_t done = c->mstats.bytes < c->calc_bytes ? c->mstats.bytes : c->calc_bytes;

		util_buf_printf(out, "Mirror percent:       %" PRIu64 "%%\n", done * 100 / c->calc_bytes);
		util_buf_printf(out, "Mirror remaining:     %" PRIu64 " bytes\n", c->calc_bytes - done);
	}
	if (c->task == TASK_MIRROR && c->run_mopt.type != SOURCE_MIRROR_FULL) {
		util_buf_printf(out, "Mirror resent:        %" PRIu64 " files, %" PRIu64 " bytes queued; %" PRIu64 " bytes compared\n",
				c->resent_files, c->resent_bytes, c->mstats.bytes);
		util_buf_printf(out, "Mirror skipped:       %" PRIu64 " bytes (the same on the target)\n",
				c->mstats.bytes > c->resent_bytes ? c->mstats.bytes - c->resent_bytes : 0);
	}
	util_buf_printf(out, "Verification:         %s\n",
			c->task == TASK_VERIFY ? "Verifying" : c->vsummary[0] ? c->vsummary : "never run");
	if (c->vcron)
		util_buf_printf(out, "Verify schedule:      \"%s\"%s%s%s\n", c->vcron,
				c->vsched.checksum ? " CHECKSUM" : "", c->vsched.remirror ? " REMIRROR" : "",
				c->vsched.newer ? " NEWER" : "");
	util_buf_printf(out, "Orphans:              %s%s%s; last run %" PRIu64 " found, %" PRIu64 " removed (%" PRIu64 " bytes)\n",
			orphans_word(c->orph), c->orph == SOURCE_ORPHANS_MOVE ? " to " : "",
			c->orph == SOURCE_ORPHANS_MOVE && c->orph_move ? c->orph_move : "",
			c->orphans, c->orphans_removed, c->orphan_bytes);
	mscript_status(&c->scripts, out);
	util_buf_printf(out, "Replication state:    %s%s%s\n",
			!c->replicate ? "Stopped" : conn_adisc(c) || c->mirror_required ?
			"Pending (Mirror Required)" : "Replicating",
			c->cap_error[0] ? ": " : "", c->cap_error);
	util_buf_printf(out, "Queued ops:           %" PRIu64 "\n", c->queued_ops);
	util_buf_printf(out, "Queued bytes:         %" PRIu64 "\n", c->queued_bytes);
	util_buf_printf(out, "Disk queue:           %" PRIu64 " ops, %" PRIu64 " bytes\n",
			c->spilled_ops, c->spilled_bytes);
	queue_status(c, out);
	util_buf_printf(out, "Sent ops:             %" PRIu64 "\n", c->sent_ops);
	util_buf_printf(out, "Sent bytes:           %" PRIu64 "\n", c->sent_bytes);
	util_buf_printf(out, "Sent compressed:      %" PRIu64 " bytes\n", c->sent_wire);
	util_buf_printf(out, "Compression:          %s", comp_word(c->comp));
	if (c->comp == WIRE_COMP_ZSTD)
		util_buf_printf(out, " level %d", c->comp_level);
	util_buf_puts(out, "\n");
	if (c->bw_limit)
		util_buf_printf(out, "Bandwidth limit:      %" PRIu64 " bytes/s\n", c->bw_limit);
	else
		util_buf_puts(out, "Bandwidth limit:      none\n");
	util_buf_printf(out, "Send rate:            %" PRIu64 " bytes/s over the last second\n", rate_of(c));
	transmit_describe(&c->sched, &c->sess, out);
	util_buf_printf(out, "Last acknowledged op: %" PRIu64 "\n", c->last_acked);
	util_buf_printf(out, "Changed files:        %" PRIu64 " sent, %" PRIu64 " bytes of data; %" PRIu64 " resent whole (the target's copy was not the expected one)\n",
			c->rt_files, c->rt_sent, c->rt_whole);
	util_buf_printf(out, "Mirrored:             %" PRIu64 " dirs, %" PRIu64 " files, %" PRIu64 " bytes, %" PRIu64 " skipped\n",
			c->mstats.dirs, c->mstats.files, c->mstats.bytes, c->mstats.skipped_errors);
	if (c->last_error[0])
		util_buf_printf(out, "Last error:           %s\n", c->last_error);
	return 0;
}

/* The guide's "Monitoring connections" words for each state. */
static const char *stats_transmit_mode(const struct conn *c)
{
	if (c->state == CONN_ERROR)
		return "Error";
	if (c->state == CONN_STOPPED || c->tx == TX_STOPPED)
		return "Stopped";
	if (c->tx == TX_PAUSED || c->tx_target_paused)
		return "Paused";
	if (tx_idle(c))
		return "Scheduled";
	/* Not linked after a failed attempt: a transmission error. */
	return !c->connected && c->last_error[0] ? "Error" : "Started";
}

static const char *stats_data_state(const struct conn *c)
{
	if (c->restore_required)
		return "Restore Required";
	if (c->task == TASK_MIRROR)
		return "Mirroring";
	return c->mirror_done ? "OK" : "Mirror Required";
}

/* pct holds a percentage when the mirror was sized (CALCULATE). */
static const char *stats_mirror_status(const struct conn *c, char *pct, size_t len)
{
	if (c->task == TASK_MIRROR && c->temporary)
		return "Restoring";
	if (c->task == TASK_MIRROR && c->mpaused)
		return "Paused";
	if (c->task == TASK_MIRROR && c->mw && c->calc_bytes) {
		uint64_t done = c->mstats.bytes < c->calc_bytes ? c->mstats.bytes : c->calc_bytes;

		snprintf(pct, len, "%" PRIu64 "%%", done * 100 / c->calc_bytes);
		return pct;
	}
	if (c->task == TASK_MIRROR)
		return c->mw ? "Mirroring" : "Waiting";
	if (c->task == TASK_VERIFY)
		return "Verifying";
	return c->task == TASK_ORPHANS ? "Removing Orphans" : "Idle";
}

static void stats_text(struct util_buf *out, const char *name, const char *v)
{
	if (v && *v)
		statrec_str(out, name, v, strlen(v));
	else
		statrec_none(out, name);
}

/* Counters are unsigned; a statistics record holds int64. */
static void stats_num(struct util_buf *out, const char *name, uint64_t v)
{
	statrec_num(out, name, v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static void stats_conn(const struct conn *c, struct util_buf *out)
{
	uint64_t q_ops = c->queued_ops + c->spilled_ops;
	uint64_t qm_ops = c->q_mirror_ops + c->sp_mirror_ops;
	uint64_t qr_bytes = c->queued_bytes - c->q_mirror_bytes + c->spilled_bytes - c->sp_mirror_bytes;
	char buf[DITTO_PATH_MAX + 512];
	struct tm tm;

	stats_text(out, "Replication Set", c->repset);
	stats_num(out, "Connection ID", c->id);
	stats_text(out, "Target Name", c->target);
	stats_text(out, "Target IP", c->peer_ip);
	stats_text(out, "Target Data State", stats_data_state(c));
	stats_text(out, "Target Status", stats_target_status(c));
	stats_text(out, "Transmit Mode", stats_transmit_mode(c));
	stats_text(out, "Mirror Status", stats_mirror_status(c, buf, sizeof(buf)));
	stats_text(out, "Replication Status",
		   !c->replicate || c->state == CONN_STOPPED || c->cap_error[0] ? "Stopped" :
		   c->restore_required || conn_adisc(c) || c->mirror_required ? "Pending" :
		   q_ops > qm_ops ? "Replicating" : "Ready");
	stats_num(out, "Queued (Ops)", q_ops);
	stats_num(out, "Sent (Bytes)", c->sent_bytes);
	stats_num(out, "Sent Compressed (Bytes)", c->sent_comp);
	stats_num(out, "Intermediate Queue (Bytes)", c->queued_bytes);
	stats_num(out, "Disk Queue (Bytes)", c->spilled_bytes);
	stats_num(out, "Queued Replication (Bytes)", qr_bytes);
	stats_num(out, "Sent Replication (Bytes)", c->sent_bytes - c->sent_mirror);
	stats_num(out, "Sent Compressed Replication (Bytes)", c->sent_comp - c->sent_comp_mirror);
	stats_num(out, "Queued Mirror (Ops)", qm_ops);
	stats_num(out, "Sent Mirror (Bytes)", c->sent_mirror);
	stats_num(out, "Sent Compressed Mirror (Bytes)", c->sent_comp_mirror);
	/* Compared but the same on the target: what a difference or checksum
	 * mirror did not send (its STATUS line "Mirror skipped"). */
	stats_num(out, "Skipped Mirror (Bytes)",
		  c->stats_task == TASK_MIRROR && c->run_mopt.type != SOURCE_MIRROR_FULL &&
		  c->mstats.bytes > c->resent_bytes ? c->mstats.bytes - c->resent_bytes : 0);
	if (c->task != TASK_MIRROR)
		stats_num(out, "Remaining Mirror (Bytes)", 0);
	else if (c->calc_bytes)
		stats_num(out, "Remaining Mirror (Bytes)",
			  c->calc_bytes > c->mstats.bytes ? c->calc_bytes - c->mstats.bytes : 0);
	else
		statrec_none(out, "Remaining Mirror (Bytes)"); /* not sized: no CALCULATE */
	stats_num(out, "Queued Replication (Ops)", q_ops - qm_ops);
	if (c->last_file[0]) {
		snprintf(buf, sizeof(buf), "%s%s%s", c->root,
			 c->root[0] && c->root[strlen(c->root) - 1] == '/' ? "" : "/", c->last_file);
		stats_text(out, "Last File Touched", buf);
	} else {
		statrec_none(out, "Last File Touched");
	}
	if (c->connected_since && gmtime_r(&c->connected_since, &tm)) {
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		stats_text(out, "Connected Since", buf);
	} else {
		statrec_none(out, "Connected Since");
	}
	/* Ours. */
	stats_text(out, "Target Path", c->root);
	snprintf(buf, sizeof(buf), "%s", comp_word(c->comp));
	if (c->comp == WIRE_COMP_ZSTD)
		snprintf(buf, sizeof(buf), "%s level %d", comp_word(c->comp), c->comp_level);
	stats_text(out, "Compression", buf);
	if (c->bw_limit)
		stats_num(out, "Bandwidth Limit (Bytes/s)", c->bw_limit);
	else
		statrec_none(out, "Bandwidth Limit (Bytes/s)");
	stats_num(out, "Send Rate (Bytes/s)", rate_of(c));
	stats_num(out, "Sent (Ops)", c->sent_ops);
	stats_num(out, "Last Acknowledged Op", c->last_acked);
	stats_text(out, "Last Error", c->last_error);
	statrec_end(out);
}

int source_stats(const struct source *s, uint32_t con_id, struct util_buf *out)
{
	const struct conn *c;

	if (con_id && !conn_find(s, con_id)) {
		util_buf_printf(out, "STATISTICS %u: no such connection\n", con_id);
		return -1;
	}
	for (c = s->conns; c; c = c->next)
		if (!con_id || c->id == con_id)
			stats_conn(c, out);
	return 0;
}

bool source_replicates(const struct source *s, const char *repset)
{
	const struct conn *c;

	/* A Restore Required connection sends nothing until the restore is
	 * done, and then drops what it queued meanwhile (source_restored). */
	for (c = s->conns; c; c = c->next)
		if (c->replicate && !c->temporary && !c->restore_required && util_streq_ci(c->repset, repset))
			return true;
	return false;
}

/* Is abs (a path on this host) beneath dir once symlinks are resolved? */
static bool really_beneath(const char *abs, const char *dir)
{
	char *ra = realpath(abs, NULL), *rd = realpath(dir, NULL);
	bool ok = ra && rd && beneath(ra, strlen(ra), rd) >= 0;

	free(ra);
	free(rd);
	return ok;
}

int source_restore_start(struct source *s, const struct restore_backup *b,
			 const char *host, uint16_t port, uint32_t options,
			 struct util_buf *msg)
{
	struct source_connect_req req;
	char name[REPSET_NAME_MAX + 1], target[300], err[512];
	struct conn *c;
	size_t i;
	int id = -1;

	memset(&req, 0, sizeof(req));
	snprintf(name, sizeof(name), "restore.%u.%u", b->con_id, s->next_id);
	if (repset_db_create(s->a->repsets, name, err, sizeof(err)) < 0) {
		util_buf_printf(msg, "%s", err);
		return -1;
	}
	req.pairs = util_xcalloc(b->nmap, sizeof(*req.pairs));
	for (i = 0; i < b->nmap; i++) {
		char *copy = b->map[i].rel[0] ? util_xasprintf("%s/%s", strcmp(b->root, "/") ? b->root : "",
							       b->map[i].rel) : util_xstrdup(b->root);

		/* The copy is read where the backup says, and only beneath the
		 * connection's target path, whatever links a source made. */
		if (access(copy, F_OK) < 0 || !really_beneath(copy, b->root)) {
			util_buf_printf(msg, "the copy %s is missing or not beneath %s", copy, b->root);
			free(copy);
			goto done;
		}
		repset_db_rule_add(s->a->repsets, name, REPSET_GEN_ANY, copy, REPSET_INCLUDE, true,
				   err, sizeof(err));
		req.pairs[req.npairs].src = copy;
		req.pairs[req.npairs].dst = b->map[i].abs;
		req.npairs++;
	}
	snprintf(target, sizeof(target), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	req.repset = name;
	req.target = target;
	req.map = SOURCE_MAP_PAIRS;
	req.mirror = true;
	req.replicate = false;
	/* No option: only what the destination lacks; OVERWRITE: everything;
	 * NEWER: where the copy is newer; CHECKSUM: the differing blocks. */
	req.mirror_opts.type = (options & WIRE_RESTORE_CHECKSUM) ? SOURCE_MIRROR_CHECKSUM :
			       (options & WIRE_RESTORE_OVERWRITE) && !(options & WIRE_RESTORE_NEWER) ?
			       SOURCE_MIRROR_FULL : SOURCE_MIRROR_DIFFERENT;
	req.mirror_opts.newer = options & WIRE_RESTORE_NEWER;
	req.mirror_opts.missing_only = !(options & (WIRE_RESTORE_OVERWRITE | WIRE_RESTORE_NEWER |
						    WIRE_RESTORE_CHECKSUM));
	c = conn_build(s, &req, s->next_id, msg);
	if (!c)
		goto done;
	s->next_id++;
	c->temporary = true;
	/* A restore goes now: the schedule and pause of replication to that
	 * host are not its own. */
	transmit_sched_init(&c->sched);
	transmit_session_reset(&c->sess, &c->sched, time(NULL));
	c->tx_target_paused = false;
	c->wire_repset = util_xstrdup(b->repset);
	c->connect_opts = WIRE_CONNECT_RESTORE;
	c->next = s->conns;
	s->conns = c;
	id = (int)c->id;
	conn_begin(c, true, false, msg);
	util_buf_printf(msg, "restoring %s to %s (connection %d)", b->repset, target, id);
	dtlog(DTLOG_INFO, 97, "Restore started: %s to %s (connection %d)", b->repset, target, id);
done:
	for (i = 0; i < req.npairs; i++)
		free(req.pairs[i].src);
	free(req.pairs);
	if (id < 0)
		repset_db_delete(s->a->repsets, name, REPSET_GEN_ANY, err, sizeof(err));
	return id;
}

bool source_repset_busy(const struct source *s, const char *repset)
{
	const struct conn *c;

	for (c = s->conns; c; c = c->next)
		if (util_streq_ci(c->repset, repset))
			return true;
	return false;
}
