#include "config.h"

#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "capture_host.h"
#include "dtlog.h"
#include "link.h"
#include "mirror.h"
#include "op.h"
#include "repset.h"
#include "wire.h"

#define DEFAULT_PORT 1500
#define BATCH_BYTES (1u << 20)
#define LINK_HIGH_WATER (4u << 20)
#define RECONNECT_MS 1000

/* One queued op, already encoded: the queue keeps exactly what goes on the
 * wire and drops it only when the target acknowledged it. */
struct qrec {
	struct qrec *next;
	uint64_t seq;
	uint32_t len;
	uint8_t data[];
};

enum conn_state { CONN_STARTED, CONN_STOPPED, CONN_ERROR };

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
	struct evloop_timer *retry;

	struct qrec *head, *tail, *send_next;
	uint64_t next_seq;
	uint64_t last_acked;
	uint64_t queued_ops, queued_bytes;
	uint64_t sent_ops, sent_bytes;

	struct mirror_walk *mw;
	struct evloop_timer *mirror_tick;
	bool mirror_done;
	struct mirror_stats mstats;

	struct conn *next;
};

struct source {
	struct agent *a;
	struct conn *conns;
	uint32_t next_id;
	/* One capture instance serves every replicating connection. */
	struct capture_host_plugin *cap;
	bool cap_fd_added;
	char cap_error[512];
};

static void conn_pump(struct conn *c);
static void conn_dial(struct conn *c);

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

static int conn_enqueue(struct conn *c, struct ditto_op *op)
{
	struct util_buf enc;
	struct qrec *q;

	op->seq = c->next_seq;
	util_buf_init(&enc);
	if (op_encode(op, &enc) < 0) {
		util_buf_free(&enc);
		return -1;
	}
	q = util_xmalloc(sizeof(*q) + enc.len);
	q->next = NULL;
	q->seq = c->next_seq++;
	q->len = (uint32_t)enc.len;
	memcpy(q->data, enc.data, enc.len);
	util_buf_free(&enc);
	if (c->tail)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
	if (!c->send_next)
		c->send_next = q;
	c->queued_ops++;
	c->queued_bytes += q->len;
	return 0;
}

static void conn_acked(struct conn *c, uint64_t seq)
{
	if (seq > c->last_acked)
		c->last_acked = seq;
	while (c->head && c->head->seq <= seq) {
		struct qrec *q = c->head;

		c->head = q->next;
		if (c->send_next == q)
			c->send_next = q->next;
		c->queued_ops--;
		c->queued_bytes -= q->len;
		free(q);
	}
	if (!c->head)
		c->tail = NULL;
}

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

static int mirror_emit(void *ctx, const struct ditto_op *op)
{
	struct conn *c = ctx;
	struct ditto_op copy;
	int rc;

	if (op_copy(&copy, op) < 0)
		return -1;
	rc = conn_enqueue(c, &copy);
	op_free(&copy);
	return rc;
}

static void mirror_tick(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct conn *c = arg;
	int rc;

	(void)t;
	c->mirror_tick = NULL;
	if (!c->mw)
		return;
	/* Memory bounds the mirror: it waits for acks when the queue is full. */
	if (c->queued_bytes < c->src->a->conf.queue.memory) {
		rc = mirror_walk_step(c->mw, 4u << 20, 512);
		mirror_walk_stats(c->mw, &c->mstats);
		if (rc <= 0) {
			struct ditto_op end;

			if (rc < 0)
				dtlog(DTLOG_ERROR, 90, "Mirror stopped %u: %s", c->id, mirror_walk_error(c->mw));
			mirror_walk_free(c->mw);
			c->mw = NULL;
			op_init(&end, DITTO_OP_MIRROR_END);
			conn_enqueue(c, &end);
			op_free(&end);
			c->mirror_done = true;
		}
	}
	conn_pump(c);
	if (c->mw && c->queued_bytes < c->src->a->conf.queue.memory)
		c->mirror_tick = evloop_timer_add(loop, 0, 0, mirror_tick, c);
}

static int conn_mirror(struct conn *c, char *err, size_t errlen)
{
	const struct repset *rs = repset_db_find(c->src->a->repsets, c->repset);
	struct repset_root *roots = NULL;
	const char **paths = NULL;
	struct mirror_opts mo;
	struct ditto_op begin;
	size_t n = 0, i;
	int ret = -1;

	if (!rs) {
		snprintf(err, errlen, "replication set %s no longer exists", c->repset);
		return -1;
	}
	if (c->mw) {
		mirror_walk_free(c->mw);
		c->mw = NULL;
	}
	repset_roots(rs, &roots, &n);
	paths = util_xcalloc(n ? n : 1, sizeof(*paths));
	for (i = 0; i < n; i++)
		paths[i] = roots[i].path;
	memset(&mo, 0, sizeof(mo));
	mo.emit = mirror_emit;
	mo.match = mirror_match;
	mo.map = map_path;
	mo.ctx = c;
	mo.xattrs = true;
	c->mw = mirror_walk_new(paths, n, &mo, err, errlen);
	if (!c->mw)
		goto done;
	op_init(&begin, DITTO_OP_MIRROR_BEGIN);
	conn_enqueue(c, &begin);
	op_free(&begin);
	c->mirror_done = false;
	memset(&c->mstats, 0, sizeof(c->mstats));
	dtlog(DTLOG_INFO, 89, "Mirror started %u", c->id);
	if (!c->mirror_tick)
		c->mirror_tick = evloop_timer_add(c->src->a->loop, 0, 0, mirror_tick, c);
	ret = 0;
done:
	free(paths);
	repset_roots_free(roots, n);
	return ret;
}

/* ------------------------------------------------------------------- link */

static void conn_pump(struct conn *c)
{
	while (c->link && c->connected && c->send_next &&
	       link_pending(c->link) < LINK_HIGH_WATER) {
		struct wire_batch_writer w;
		struct qrec *q = c->send_next;

		wire_batch_begin(&w, link_out(c->link), c->id, q->seq);
		while (q && wire_batch_size(&w) < BATCH_BYTES &&
		       wire_batch_add(&w, q->data, q->len) == 0) {
			c->sent_ops++;
			c->sent_bytes += q->len;
			q = q->next;
		}
		if (wire_batch_end(&w) < 0)
			break;
		c->send_next = q;
		link_flush(c->link);
	}
	if (c->mw && !c->mirror_tick && c->queued_bytes < c->src->a->conf.queue.memory)
		c->mirror_tick = evloop_timer_add(c->src->a->loop, 0, 0, mirror_tick, c);
}

static void conn_ready(struct link *l, void *arg)
{
	struct conn *c = arg;

	wire_put_connect(link_out(l), c->id, c->repset, c->root, 0, c->last_acked);
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
		c->state = CONN_STARTED;
		c->last_error[0] = '\0';
		conn_acked(c, ok.last_applied);
		/* Everything not yet acknowledged goes again, in order. */
		c->send_next = c->head;
		conn_pump(c);
		break;
	case WIRE_CONNECT_ERR:
		if (wire_get_connect_err(f, &ce) == 0) {
			snprintf(c->last_error, sizeof(c->last_error), "target refused: %s", ce.msg);
			dtlog(DTLOG_ERROR, 76, "Connection failed to ip://%s (connection %u): %s",
			      link_peer_addr(l), c->id, ce.msg);
		}
		c->state = CONN_ERROR;
		link_close(l, "connection refused by the target");
		break;
	case WIRE_ACK:
		if (wire_get_ack(f, &ack) < 0 || ack.con_id != c->id || ack.seq >= c->next_seq) {
			link_fail(l, WIRE_E_MALFORMED, "bad ACK");
			return;
		}
		conn_acked(c, ack.seq);
		conn_pump(c);
		break;
	case WIRE_PONG:
		break;
	default:
		link_fail(l, WIRE_E_SEQUENCE, "unexpected frame");
		break;
	}
}

static void retry_dial(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)t;
	c->retry = NULL;
	if (c->state != CONN_STOPPED && !c->link)
		conn_dial(c);
}

static void conn_closed(struct link *l, const char *why, void *arg)
{
	struct conn *c = arg;

	(void)l;
	if (c->connected)
		dtlog(DTLOG_WARNING, 77, "Connection lost with IP address %s (connection %u): %s",
		      c->target, c->id, why);
	else if (strcmp(c->last_error, why))
		dtlog(DTLOG_WARNING, 76, "Connection failed to ip://%s (connection %u): %s",
		      c->target, c->id, why);
	if (c->state != CONN_ERROR)
		snprintf(c->last_error, sizeof(c->last_error), "%s", why);
	c->link = NULL;
	c->connected = false;
	if (c->state != CONN_STOPPED && !c->retry)
		c->retry = evloop_timer_add(c->src->a->loop, RECONNECT_MS, 0, retry_dial, c);
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

	dtlog(DTLOG_INFO, 71, "Originator attempting ip://%s (connection %u)", c->target, c->id);
	c->link = link_dial(a->loop, c->host, c->port, a->key, a->keylen,
			    a->conf.agent.name, &conn_link_ops, c, err, sizeof(err));
	if (!c->link) {
		snprintf(c->last_error, sizeof(c->last_error), "%s", err);
		dtlog(DTLOG_WARNING, 76, "Connection failed to ip://%s (connection %u): %s",
		      c->target, c->id, err);
		if (!c->retry)
			c->retry = evloop_timer_add(a->loop, RECONNECT_MS, 0, retry_dial, c);
	}
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
	if (c->mw)
		mirror_walk_free(c->mw);
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
	free(c);
}

/* ----------------------------------------------------- real-time capture */

/* Queues ops that make the target's copy of one source path equal to the
 * source as it is now. Reading the current state (rather than trusting the
 * event) keeps the copy right even when events were coalesced or arrive
 * late: the target ends where the source is. */
static void sync_path(struct conn *c, const char *abs, size_t len)
{
	char rel[DITTO_PATH_MAX + 1];
	struct mirror_opts mo;
	struct mirror_walk *w;
	const char *roots[1];
	char err[256];
	int rc;

	if (map_path(c, abs, len, rel, sizeof(rel)) <= 0)
		return;
	/* The walker already knows how to copy any kind of entry faithfully,
	 * a whole directory included; reuse it for one path. */
	memset(&mo, 0, sizeof(mo));
	mo.emit = mirror_emit;
	mo.match = mirror_match;
	mo.map = map_path;
	mo.ctx = c;
	mo.xattrs = true;
	roots[0] = abs;
	w = mirror_walk_new(roots, 1, &mo, err, sizeof(err));
	if (!w)
		return; /* gone already: its DELETE event follows */
	do
		rc = mirror_walk_step(w, UINT64_MAX, UINT32_MAX);
	while (rc > 0);
	mirror_walk_free(w);
}

/* A directory's own metadata changed: one SETATTR, not a copy of its tree. */
static void queue_dir_attrs(struct conn *c, const char *abs, size_t len)
{
	char rel[DITTO_PATH_MAX + 1];
	struct ditto_op op;
	struct stat st;
	int n = map_path(c, abs, len, rel, sizeof(rel));

	if (n <= 0 || lstat(abs, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	op_init(&op, DITTO_OP_SETATTR);
	op.attr_mask = DITTO_ATTR_MODE | DITTO_ATTR_UID | DITTO_ATTR_GID |
		       DITTO_ATTR_ATIME | DITTO_ATTR_MTIME;
	op.mode = st.st_mode & 07777;
	op.uid = st.st_uid;
	op.gid = st.st_gid;
	op.atime_ns = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
	op.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	op_set_path(&op, rel, (size_t)n);
	conn_enqueue(c, &op);
	op_free(&op);
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

		if (!c->replicate || c->state == CONN_STOPPED)
			continue;
		rs = repset_db_find(s->a->repsets, c->repset);
		if (!rs)
			continue;
		in1 = repset_match(rs, ev->path, ev->path_len);
		switch (ev->type) {
		case DITTO_CAPTURE_MODIFY:
			/* Data is copied when the writer closes the file; a copy
			 * per write(2) would cost the whole file each time. */
			break;
		case DITTO_CAPTURE_ATTRIB:
			if (in1 && dir) {
				queue_dir_attrs(c, ev->path, ev->path_len);
				break;
			}
			/* A file's attributes come with its copy. */
			__attribute__((fallthrough));
		case DITTO_CAPTURE_CREATE:
		case DITTO_CAPTURE_CLOSE_WRITE:
		case DITTO_CAPTURE_MOVED_TO:
			if (in1)
				sync_path(c, ev->path, ev->path_len);
			break;
		case DITTO_CAPTURE_DELETE:
		case DITTO_CAPTURE_MOVED_FROM:
			if (in1)
				queue_remove(c, ev->path, ev->path_len, dir);
			break;
		case DITTO_CAPTURE_RENAME:
			in2 = repset_match(rs, ev->path2, ev->path2_len);
			if (in1 && in2 && queue_rename(c, ev->path, ev->path_len,
						       ev->path2, ev->path2_len))
				sync_path(c, ev->path2, ev->path2_len);
			else if (in1)
				queue_remove(c, ev->path, ev->path_len, dir);
			else if (in2)
				sync_path(c, ev->path2, ev->path2_len);
			break;
		case DITTO_CAPTURE_OVERFLOW:
		case DITTO_CAPTURE_ROOT_GONE: {
			char err[256];

			/* Events were lost: never skip silently, copy again. */
			dtlog(DTLOG_WARNING, 0, "Capture lost events under %.*s; remirroring connection %u",
			      (int)ev->path_len, ev->path, c->id);
			conn_mirror(c, err, sizeof(err));
			break;
		}
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

		if (c->replicate && rs && repset_match(rs, p, len))
			queue_dir_attrs(c, p, len);
	}
}

static void on_capture_event_and_parents(void *ctx, const struct ditto_capture_event *ev)
{
	struct source *s = ctx;
	struct conn *c;

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
	if (capture_host_read(s->cap, on_capture_event_and_parents, s) < 0)
		dtlog(DTLOG_ERROR, 0, "Capture plugin %s failed to read events", capture_host_name(s->cap));
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

/* ------------------------------------------------------------ public API */

struct source *source_new(struct agent *a)
{
	struct source *s = util_xcalloc(1, sizeof(*s));

	s->a = a;
	s->next_id = 1;
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
	if (s->cap) {
		evloop_del_fd(s->a->loop, capture_host_fd(s->cap));
		capture_host_close(s->cap);
		capture_host_unload(s->cap);
	}
	free(s);
}

static bool abs_clean(const char *p)
{
	return p && p[0] == '/' && !strstr(p, "/../") && !strstr(p, "/./") &&
	       strlen(p) <= DITTO_PATH_MAX;
}

int source_connect(struct source *s, const struct source_connect_req *req,
		   struct util_buf *msg)
{
	const struct repset *rs = repset_db_find(s->a->repsets, req->repset);
	struct conn *c;
	char err[512];
	size_t i;

	if (!rs) {
		util_buf_printf(msg, "CONNECT: no replication set %s\n", req->repset);
		return -1;
	}
	if (req->map == SOURCE_MAP_BASE && !abs_clean(req->base)) {
		util_buf_printf(msg, "CONNECT: MAP BASE needs an absolute directory\n");
		return -1;
	}
	for (i = 0; i < req->npairs; i++) {
		if (!abs_clean(req->pairs[i].src) || !abs_clean(req->pairs[i].dst)) {
			util_buf_printf(msg, "CONNECT: MAP paths must be absolute: \"%s\" TO \"%s\"\n",
					req->pairs[i].src, req->pairs[i].dst);
			return -1;
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
		return -1;
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
	c->next_seq = 1;
	c->id = s->next_id++;
	c->state = CONN_STARTED;
	c->next = s->conns;
	s->conns = c;
	/* Capture starts before the mirror, so a change made while the mirror
	 * runs is queued after the mirror read it or is read by the mirror
	 * itself: either way the target ends equal. */
	if (c->replicate && capture_add_set(s, c->repset, err, sizeof(err)) < 0) {
		snprintf(c->cap_error, sizeof(c->cap_error), "%s", err);
		dtlog(DTLOG_ERROR, 0, "Replication of connection %u not started: %s", c->id, err);
		util_buf_printf(msg, "warning: real-time replication not started: %s\n", err);
		c->replicate = false;
	}
	if (req->mirror && conn_mirror(c, err, sizeof(err)) < 0)
		util_buf_printf(msg, "warning: mirror not started: %s\n", err);
	else if (!req->mirror)
		c->mirror_done = true;
	conn_dial(c);
	util_buf_printf(msg, "Connection %u: %s to %s, target path %s\n", c->id,
			c->repset, c->target, c->root);
	return (int)c->id;
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
		conn_free(c);
		return 0;
	}
	util_buf_printf(msg, "no connection %u\n", con_id);
	return -1;
}

int source_mirror_start(struct source *s, uint32_t con_id, struct util_buf *msg)
{
	struct conn *c = conn_find(s, con_id);
	char err[512];

	if (!c) {
		util_buf_printf(msg, "no connection %u\n", con_id);
		return -1;
	}
	if (conn_mirror(c, err, sizeof(err)) < 0) {
		util_buf_printf(msg, "MIRROR START %u: %s\n", con_id, err);
		return -1;
	}
	util_buf_printf(msg, "Mirror started on connection %u\n", con_id);
	return 0;
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

static const char *state_name(const struct conn *c)
{
	switch (c->state) {
	case CONN_STARTED: return c->connected ? "Started" : "Started (connecting)";
	case CONN_STOPPED: return "Stopped";
	default: return "Error";
	}
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
	util_buf_printf(out, "Mirror state:         %s\n",
			c->mw ? "Mirroring" : c->mirror_done ? "Idle" : "Not started");
	util_buf_printf(out, "Replication state:    %s%s%s\n",
			c->replicate ? "Replicating" : "Stopped",
			c->cap_error[0] ? ": " : "", c->cap_error);
	util_buf_printf(out, "Queued ops:           %" PRIu64 "\n", c->queued_ops);
	util_buf_printf(out, "Queued bytes:         %" PRIu64 "\n", c->queued_bytes);
	util_buf_printf(out, "Sent ops:             %" PRIu64 "\n", c->sent_ops);
	util_buf_printf(out, "Sent bytes:           %" PRIu64 "\n", c->sent_bytes);
	util_buf_printf(out, "Last acknowledged op: %" PRIu64 "\n", c->last_acked);
	util_buf_printf(out, "Mirrored:             %" PRIu64 " dirs, %" PRIu64 " files, %" PRIu64 " bytes, %" PRIu64 " skipped\n",
			c->mstats.dirs, c->mstats.files, c->mstats.bytes, c->mstats.skipped_errors);
	if (c->last_error[0])
		util_buf_printf(out, "Last error:           %s\n", c->last_error);
	return 0;
}

bool source_repset_busy(const struct source *s, const char *repset)
{
	const struct conn *c;

	for (c = s->conns; c; c = c->next)
		if (util_streq_ci(c->repset, repset))
			return true;
	return false;
}
