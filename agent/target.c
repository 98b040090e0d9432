#include "config.h"

#include "target.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "apply.h"
#include "dtlog.h"
#include "link.h"
#include "op.h"
#include "orphans.h"
#include "repset.h"
#include "restore.h"
#include "source.h"
#include "statrec.h"
#include "verify.h"
#include "wire.h"

/* One source connection applied on this target. It outlives the link that
 * carried it: a reconnect finds it again by (source name, con_id). */
struct tsession {
	struct target *t;
	char source[WIRE_NAME_MAX + 1];
	uint32_t con_id;
	char *root_path;
	struct apply_root *root;
	struct link *link; /* NULL while the source is away */
	uint64_t last_applied;
	uint64_t ops_applied;
	uint64_t bytes_applied;
	uint64_t apply_errors;
	int seq_fd;
	/* Orphan handling: the policy the source last sent (report only until
	 * it says otherwise, so a target restart never deletes by default),
	 * and the directory listing being received. */
	uint16_t orphan_flags;
	uint64_t orphan_age;
	char *orphan_move;
	struct orphans_set *names;
	char *list_dir;
	size_t list_dir_len;
	bool listing;
	struct orphans_stats ostats;
	char *restore_repset; /* a restore this agent asked for */
	/* Ops received behind one that must be retried (see apply_record). */
	struct held *held, *held_tail;
	size_t held_bytes;
	unsigned retries;
	struct evloop_timer *retry_timer;
	bool paused_source;
	/* Why the oldest held op waits (STATUS), and whether the disk is
	 * full: message 102 once an episode, and the source paused at once. */
	char *retry_why;
	bool full;
	/* The source takes TSTATUS; the op it was last told waits (0: OK). */
	bool tstatus;
	uint64_t told_seq;
	/* A guard that failed: the delta for this path that follows it is
	 * skipped (see DITTO_VERIFY_GUARD); the source sends the file whole. */
	char *guard_skip;
	uint32_t guard_skip_len;
	uint64_t guard_misses;
	struct tsession *next;
};

/* An accepted link before and after it names its connections. */
struct tlink {
	struct target *t;
	struct link *link;
	struct tlink *next;
};

struct target {
	struct agent *a;
	int fd;
	struct tsession *sessions;
	struct tlink *links;
	uint64_t ops_applied;
	/* Inflates compressed batches; one serves every link, as a batch is
	 * applied (or copied into held) before the next is decoded. */
	struct wire_zctx *z;
};

static const struct link_ops tlink_ops;
static void held_clear(struct tsession *s);

/* The last applied sequence lives in a small file per connection, rewritten
 * in place after every batch: an 8-byte write inside one sector, followed by
 * fdatasync, so after a crash it says exactly what was applied. Replaying an
 * already applied suffix is not safe in general (a rename whose source name
 * was later reused), hence the exactness. */
static int seq_write(struct tsession *s)
{
	uint8_t b[16];
	uint64_t v = s->last_applied, inv = ~v;

	memcpy(b, &v, 8);
	memcpy(b + 8, &inv, 8);
	return pwrite(s->seq_fd, b, sizeof(b), 0) == (ssize_t)sizeof(b) ? 0 : -1;
}

/* After every op the number is rewritten (a process crash keeps the page
 * cache, so the file stays exact); after every batch it is also synced, so
 * a power loss replays at most the batch being applied. */
static int seq_store(struct tsession *s)
{
	if (seq_write(s) < 0 || fdatasync(s->seq_fd) < 0)
		return -1;
	return 0;
}

static int seq_open(struct tsession *s, char *err, size_t errlen)
{
	char *dir = util_xasprintf("%s/target", s->t->a->conf.agent.state_dir);
	char *path = NULL;
	uint8_t b[16];
	uint64_t v, inv;
	ssize_t n;
	int ret = -1;

	if (util_mkdir_p(dir, 0750) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		goto done;
	}
	path = util_xasprintf("%s/%s_%u.seq", dir, s->source, s->con_id);
	s->seq_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->seq_fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto done;
	}
	n = pread(s->seq_fd, b, sizeof(b), 0);
	if (n == (ssize_t)sizeof(b)) {
		memcpy(&v, b, 8);
		memcpy(&inv, b + 8, 8);
		if (v != ~inv) {
			snprintf(err, errlen, "%s is damaged; remove it and remirror", path);
			goto done;
		}
		s->last_applied = v;
	} else if (n != 0) {
		snprintf(err, errlen, "%s is damaged; remove it and remirror", path);
		goto done;
	}
	ret = 0;
done:
	free(dir);
	free(path);
	return ret;
}

static struct tsession *session_find(struct target *t, const char *source,
				     uint32_t con_id)
{
	struct tsession *s;

	for (s = t->sessions; s; s = s->next)
		if (s->con_id == con_id && !strcmp(s->source, source))
			return s;
	return NULL;
}

static void session_free(struct tsession *s)
{
	if (s->root)
		apply_root_close(s->root);
	if (s->seq_fd >= 0)
		close(s->seq_fd);
	free(s->root_path);
	free(s->orphan_move);
	free(s->guard_skip);
	free(s->retry_why);
	free(s->list_dir);
	free(s->restore_repset);
	held_clear(s);
	orphans_set_free(s->names);
	free(s);
}

/* <state>/target/<source>_<con_id>.restore marks a connection whose copy
 * this target served from after a failover: the source's next CONNECT is
 * refused until a restore or a remirror that overwrites it. */
static char *restore_marker(const struct target *t, const char *source, uint32_t con_id)
{
	return util_xasprintf("%s/target/%s_%u.restore", t->a->conf.agent.state_dir, source, con_id);
}

void target_failed_over(struct target *t, const char *source)
{
	char *dir = util_xasprintf("%s/target", t->a->conf.agent.state_dir);
	size_t sl = strlen(source);
	struct dirent *de;
	DIR *d = opendir(dir);
	unsigned n = 0;

	/* Every connection this source ever had here: its .seq file. */
	while (d && (de = readdir(d))) {
		const char *name = de->d_name, *end;
		char *marker, when[64];
		uint32_t id = 0;
		time_t now = time(NULL);
		struct tm tm;

		if (strncmp(name, source, sl) || name[sl] != '_' ||
		    !(end = strstr(name + sl + 1, ".seq")) || end[4] ||
		    sscanf(name + sl + 1, "%" SCNu32, &id) != 1 || !id)
			continue;
		localtime_r(&now, &tm);
		strftime(when, sizeof(when), "%m/%d/%Y %H:%M:%S\n", &tm);
		marker = restore_marker(t, source, id);
		if (util_write_atomic(marker, when, strlen(when), 0600) < 0)
			dtlog(DTLOG_ERROR, 0, "Cannot mark connection %u from %s Restore Required: %s: %s",
			      id, source, marker, strerror(errno));
		else
			n++;
		free(marker);
	}
	if (d)
		closedir(d);
	for (struct tsession *s = t->sessions; s; s = s->next)
		if (!strcmp(s->source, source) && s->link)
			link_fail(s->link, WIRE_E_RESTORE, "this target stood in for the source (failover)");
	dtlog(DTLOG_INFO, 0, "%u connection(s) from %s are now Restore Required", n, source);
	free(dir);
}

/* 1: refused (answered), 0: go on. */
static int restore_required(struct target *t, struct link *l, const struct wire_connect *c)
{
	char *marker = restore_marker(t, link_peer_name(l), c->con_id);
	char err[512];
	int ret = 0;

	if (access(marker, F_OK) < 0)
		goto done;
	if (c->options & WIRE_CONNECT_OVERWRITE) {
		if (unlink(marker) < 0 && errno != ENOENT) {
			snprintf(err, sizeof(err), "cannot clear %s: %s", marker, strerror(errno));
			wire_put_connect_err(link_out(l), c->con_id, WIRE_E_INTERNAL, err);
			link_flush(l);
			ret = 1;
			goto done;
		}
		dtlog(DTLOG_WARNING, 0, "Connection %u from %s: Restore Required cleared; the source remirrors over the copy",
		      c->con_id, link_peer_name(l));
		goto done;
	}
	snprintf(err, sizeof(err), "restore required: %s stood in for %s after a failover; bring the data back "
		 "(RESTORE set FROM %s) or overwrite the copy (MIRROR START %u)",
		 t->a->conf.agent.name, link_peer_name(l), t->a->conf.agent.name, c->con_id);
	dtlog(DTLOG_WARNING, 0, "Connection %u from %s refused: %s", c->con_id, link_peer_name(l), err);
	wire_put_connect_err(link_out(l), c->con_id, WIRE_E_RESTORE, err);
	link_flush(l);
	ret = 1;
done:
	free(marker);
	return ret;
}

static void on_connect(struct target *t, struct link *l, const struct wire_frame *f)
{
	struct wire_connect c;
	struct tsession *s;
	char err[512];

	if (wire_get_connect(f, &c) < 0) {
		link_fail(l, WIRE_E_MALFORMED, "malformed CONNECT");
		return;
	}
	dtlog(DTLOG_INFO, 72, "Connection request from ip://%s (%s, connection %u, replication set %s, target path %s)",
	      link_peer_addr(l), link_peer_name(l), c.con_id, c.repset, c.root);
	if (c.root[0] != '/') {
		wire_put_connect_err(link_out(l), c.con_id, WIRE_E_REFUSED,
				     "target path must be absolute");
		link_flush(l);
		return;
	}
	/* Applying into data this agent itself replicates would send every
	 * change round again: refuse the loop. */
	{
		const struct repset *own = repset_db_reaches(t->a->repsets, c.root, strlen(c.root));
		bool restore = (c.options & WIRE_CONNECT_RESTORE) &&
			       restore_expected(t->a, link_peer_name(l), c.repset);

		if (own && !restore) {
			snprintf(err, sizeof(err), "target path %s is inside replication set %s on %s (a replication loop)",
				 c.root, repset_name(own), t->a->conf.agent.name);
			dtlog(DTLOG_ERROR, 0, "Connection %u from %s refused: %s", c.con_id, link_peer_name(l), err);
			wire_put_connect_err(link_out(l), c.con_id, WIRE_E_REFUSED, err);
			link_flush(l);
			return;
		}
	}
	if (!(c.options & WIRE_CONNECT_RESTORE) && restore_required(t, l, &c))
		return;
	s = session_find(t, link_peer_name(l), c.con_id);
	if (s && s->link && s->link != l) {
		/* The source keeps one link per connection: a new CONNECT means
		 * it gave the old one up (a cut link this side has not noticed
		 * yet). Refusing would leave it waiting; the new link wins. */
		dtlog(DTLOG_WARNING, 0, "Connection %u from %s: a new link from %s replaces the one from %s",
		      c.con_id, s->source, link_peer_addr(l), link_peer_addr(s->link));
		link_close(s->link, "replaced by a newer link from the source");
	}
	if (s && strcmp(s->root_path, c.root)) {
		/* Same connection, new mapping: start over on the new root. */
		apply_root_close(s->root);
		s->root = NULL;
		free(s->root_path);
		s->root_path = NULL;
	}
	if (!s) {
		s = util_xcalloc(1, sizeof(*s));
		s->t = t;
		s->seq_fd = -1;
		util_strlcpy(s->source, link_peer_name(l), sizeof(s->source));
		s->con_id = c.con_id;
		if (seq_open(s, err, sizeof(err)) < 0) {
			dtlog(DTLOG_ERROR, 0, "Connection %u from %s refused: %s", c.con_id, s->source, err);
			wire_put_connect_err(link_out(l), c.con_id, WIRE_E_INTERNAL, err);
			link_flush(l);
			session_free(s);
			return;
		}
		s->next = t->sessions;
		t->sessions = s;
	}
	/* The source starts over from 1 when it has no history for us (a new
	 * connection or a remirror); what we applied before no longer counts. */
	if (c.last_acked == 0 && s->last_applied) {
		s->last_applied = 0;
		seq_store(s);
	}
	if (!s->root) {
		s->root = apply_root_open(c.root, err, sizeof(err));
		if (!s->root) {
			dtlog(DTLOG_ERROR, 0, "Connection %u from %s refused: %s", c.con_id, s->source, err);
			wire_put_connect_err(link_out(l), c.con_id, WIRE_E_REFUSED, err);
			link_flush(l);
			return;
		}
		s->root_path = util_xstrdup(c.root);
	}
	if ((c.options & WIRE_CONNECT_RESTORE) && restore_expected(t->a, link_peer_name(l), c.repset)) {
		free(s->restore_repset);
		s->restore_repset = util_xstrdup(c.repset);
	}
	held_clear(s);
	s->paused_source = false;
	s->tstatus = c.options & WIRE_CONNECT_TSTATUS;
	s->told_seq = 0;
	s->link = l;
	wire_put_connect_ok(link_out(l), c.con_id, s->last_applied);
	link_flush(l);
}

/* ------------------------------------------------------ comparisons */

struct orphan_ctx {
	struct tsession *s;
	struct link *l;
	uint64_t seq;
};

static void orphan_report(void *ctx, const char *rel, size_t len, bool is_dir,
			  uint64_t bytes, enum orphans_action done, int err)
{
	struct orphan_ctx *oc = ctx;
	static struct wire_report rep; /* 8 KiB: not on the stack */
	const char *verb;

	memset(&rep, 0, offsetof(struct wire_report, ranges));
	rep.con_id = oc->s->con_id;
	rep.seq = oc->seq;
	rep.what = WIRE_DIFF_ORPHAN | (err ? WIRE_DIFF_ERROR : 0);
	rep.size = bytes;
	rep.mode = is_dir ? S_IFDIR : S_IFREG;
	if (err)
		rep.result = WIRE_ORPHAN_FAILED;
	else if (done == ORPHANS_ACTION_DELETE)
		rep.result = WIRE_ORPHAN_DELETED;
	else if (done == ORPHANS_ACTION_MOVE)
		rep.result = WIRE_ORPHAN_MOVED;
	else
		rep.result = (oc->s->orphan_flags & (DITTO_ORPHANS_DELETE | DITTO_ORPHANS_MOVE)) ?
			     WIRE_ORPHAN_YOUNG : WIRE_ORPHAN_FOUND;
	if (len > WIRE_PATH_MAX)
		len = WIRE_PATH_MAX;
	memcpy(rep.path, rel, len);
	rep.path[len] = '\0';
	verb = rep.result == WIRE_ORPHAN_DELETED ? "deleted" :
	       rep.result == WIRE_ORPHAN_MOVED ? "moved" :
	       rep.result == WIRE_ORPHAN_FAILED ? "could not be removed" :
	       rep.result == WIRE_ORPHAN_YOUNG ? "kept (newer than the age limit)" : "found";
	if (oc->s->orphan_flags & DITTO_ORPHANS_LOG || err)
		dtlog(err ? DTLOG_WARNING : DTLOG_INFO, 0, "Orphan %s %s (connection %u from %s, %" PRIu64 " bytes)%s%s",
		      rep.path, verb, oc->s->con_id, oc->s->source, bytes,
		      err ? ": " : "", err ? strerror(err < 0 ? -err : err) : "");
	if (oc->l)
		wire_put_report(link_out(oc->l), &rep);
}

/* utimensat on an O_PATH fd, through its /proc link (futimens needs a
 * writable fd; AT_EMPTY_PATH is not accepted by utimensat). */
static void futimens_path(int fd, const struct timespec ts[2])
{
	char self[64];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	utimensat(AT_FDCWD, self, ts, 0);
}

/* The control ops that compare rather than change. */
static void apply_control(struct tsession *s, struct link *l, const struct ditto_op *op)
{
	static struct wire_report rep;

	switch (op->kind) {
	case DITTO_OP_VERIFY:
		memset(&rep, 0, offsetof(struct wire_report, ranges));
		rep.con_id = s->con_id;
		rep.seq = op->seq;
		verify_entry(s->root, op, &rep);
		if (op->flags & DITTO_VERIFY_GUARD) {
			if (!rep.what)
				break; /* the delta applies: no answer needed */
			free(s->guard_skip);
			s->guard_skip = util_xstrndup(op->path, op->path_len);
			s->guard_skip_len = op->path_len;
			s->guard_misses++;
			rep.what |= WIRE_DIFF_GUARD;
			rep.nranges = 0;
			memcpy(rep.path, op->path, op->path_len < WIRE_PATH_MAX ? op->path_len : WIRE_PATH_MAX);
			rep.path[op->path_len < WIRE_PATH_MAX ? op->path_len : WIRE_PATH_MAX] = '\0';
			dtlog(DTLOG_INFO, 0, "Connection %u from %s: %s is not the copy the source's delta is for (%s); "
			      "skipping the delta, the source sends the file whole", s->con_id, s->source, rep.path,
			      rep.what & WIRE_DIFF_MISSING ? "missing" : rep.what & WIRE_DIFF_TYPE ? "not a regular file" :
			      rep.what & WIRE_DIFF_ERROR ? "cannot be read" :
			      (rep.what & WIRE_DIFF_SIZE) && (rep.what & WIRE_DIFF_MTIME) ? "other size and time" :
			      rep.what & WIRE_DIFF_SIZE ? "other size" : "other time");
		}
		wire_put_report(link_out(l), &rep);
		break;
	case DITTO_OP_REPSET_BACKUP: {
		struct restore_backup b;
		char err[256], *path;

		/* Kept only if it is usable; the file is named after the
		 * authenticated peer, whatever the text says. */
		if (restore_backup_parse((const char *)op->data, op->data_len, &b, err, sizeof(err)) < 0) {
			dtlog(DTLOG_WARNING, 0, "Connection %u from %s: backup of the replication set refused: %s",
			      s->con_id, s->source, err);
			break;
		}
		restore_backup_free(&b);
		path = util_xasprintf("%s/target/%s_%u.backup", s->t->a->conf.agent.state_dir, s->source, s->con_id);
		if (util_write_atomic(path, op->data, op->data_len, 0600) < 0)
			dtlog(DTLOG_WARNING, 0, "Cannot keep %s: %s", path, strerror(errno));
		free(path);
		break;
	}
	case DITTO_OP_ORPHANS:
		s->orphan_flags = op->flags;
		s->orphan_age = op->off;
		free(s->orphan_move);
		s->orphan_move = op->data_len ? util_xstrndup((const char *)op->data, op->data_len) : NULL;
		break;
	case DITTO_OP_DIRLIST: {
		size_t i;

		if (!s->names)
			s->names = orphans_set_new();
		if ((op->flags & DITTO_DIRLIST_FIRST) || !s->listing) {
			orphans_set_clear(s->names);
			free(s->list_dir);
			s->list_dir = util_xstrndup(op->path ? op->path : "", op->path_len);
			s->list_dir_len = op->path_len;
			s->listing = true;
		}
		for (i = 0; i < op->data_len;) {
			size_t n = strlen((const char *)op->data + i);

			orphans_set_add(s->names, (const char *)op->data + i, n);
			i += n + 1;
		}
		if (op->flags & DITTO_DIRLIST_LAST) {
			struct orphans_policy p;
			struct orphan_ctx oc = { s, l, op->seq };

			memset(&p, 0, sizeof(p));
			p.action = (s->orphan_flags & DITTO_ORPHANS_DELETE) ? ORPHANS_ACTION_DELETE :
				   (s->orphan_flags & DITTO_ORPHANS_MOVE) ? ORPHANS_ACTION_MOVE :
				   ORPHANS_ACTION_LOG;
			p.move_dir = s->orphan_move;
			p.move_dir_len = s->orphan_move ? strlen(s->orphan_move) : 0;
			p.min_age_s = s->orphan_age;
			p.now = time(NULL);
			{
				/* Removing orphans must not change the directory's
				 * own times: they are the source's. */
				uint64_t before = s->ostats.deleted + s->ostats.moved;
				int dfd = apply_open_beneath(s->root, s->list_dir, s->list_dir_len, O_PATH);
				struct stat dst;
				bool have = dfd >= 0 && fstat(dfd, &dst) == 0;

				orphans_process(s->root, s->list_dir, s->list_dir_len, s->names, &p,
						&s->ostats, orphan_report, &oc);
				if (have && s->ostats.deleted + s->ostats.moved != before) {
					struct timespec ts[2] = { dst.st_atim, dst.st_mtim };

					futimens_path(dfd, ts);
				}
				if (dfd >= 0)
					close(dfd);
			}
			s->listing = false;
			orphans_set_clear(s->names);
		}
		break;
	}
	default:
		break;
	}
}

/* ------------------------------------------------------------- applying */

/* An op that failed for a reason that may pass (disk full, busy, access)
 * is retried with the ops after it held back, in order. The source is
 * paused while the held ops exceed HOLD_PAUSE_BYTES, or at once when the
 * disk is full (see session_commit). */
#define RETRY_FIRST_MS 500
#define RETRY_MAX_MS 5000
#define HOLD_PAUSE_BYTES (8u << 20)

struct held {
	struct held *next;
	uint64_t seq;
	uint32_t len;
	uint8_t rec[];
};

static bool disk_full(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == ENOSPC || err == EDQUOT;
}

static unsigned retry_event(int err)
{
	if (disk_full(err))
		return 4110;
	switch (err < 0 ? -err : err) {
	case EBUSY:
	case ETXTBSY:
		return 4111;
	case EACCES:
	case EPERM:
		return 4112;
	default:
		return 4113;
	}
}

/* The ops that compare or report rather than write (apply_control). */
static bool control_op(enum ditto_op_kind kind)
{
	return kind == DITTO_OP_VERIFY || kind == DITTO_OP_DIRLIST ||
	       kind == DITTO_OP_ORPHANS || kind == DITTO_OP_REPSET_BACKUP;
}

static const char *retry_times(const struct tsession *s, char *buf, size_t n)
{
	int lim = s->t->a->conf.target.retry_limit;

	if (lim < 0)
		return "forever";
	snprintf(buf, n, "%d times", lim);
	return buf;
}

/* Applies one received op. 0: applied or given up on (last_applied moves
 * on); 1: to be retried later; -1: the link was failed. */
static int apply_record(struct tsession *s, struct link *l, uint64_t seq,
			const uint8_t *rec, uint32_t len)
{
	struct target *t = s->t;
	struct ditto_op op;
	const char *why;
	char err[512], times[32];
	int rc;

	if (op_decode_why(rec, len, &op, &why) < 0) {
		snprintf(err, sizeof(err), "connection %u: op %" PRIu64 " is malformed: %s",
			 s->con_id, seq, why);
		dtlog(DTLOG_ERROR, 0, "%s", err);
		link_fail(l, WIRE_E_MALFORMED, err);
		return -1;
	}
	op.seq = seq;
	if (s->guard_skip) {
		if (op.path && op.path_len == s->guard_skip_len &&
		    !memcmp(op.path, s->guard_skip, op.path_len) &&
		    (op.kind == DITTO_OP_WRITE || op.kind == DITTO_OP_FALLOCATE ||
		     op.kind == DITTO_OP_TRUNCATE || op.kind == DITTO_OP_SETATTR)) {
			op_free(&op);
			return 0;
		}
		free(s->guard_skip);
		s->guard_skip = NULL;
	}
	if (control_op(op.kind)) {
		apply_control(s, l, &op);
		rc = 0;
	} else {
		rc = apply_op(s->root, &op, err, sizeof(err));
	}
	if (rc < 0 && apply_error_retryable(rc) &&
	    (t->a->conf.target.retry_limit < 0 || s->retries < (unsigned)t->a->conf.target.retry_limit)) {
		if (s->retries == 0)
			dtlog_event(DTLOG_WARNING, retry_event(rc),
				    "Target can not write %s due to %s. Operation will be retried (%s) (connection %u, op %" PRIu64 " %s)",
				    op.path ? op.path : "", err, retry_times(s, times, sizeof(times)),
				    s->con_id, seq, op_kind_name(op.kind));
		/* One 102 an episode: it ends when an op applies again. */
		if (disk_full(rc) && !s->full)
			dtlog(DTLOG_ERROR, 102, "Target full! Connection %u from %s cannot write %s under %s: %s",
			      s->con_id, s->source, op.path ? op.path : "", s->root_path, err);
		s->full = disk_full(rc);
		free(s->retry_why);
		/* apply_op's text names the op's kind and path already. */
		s->retry_why = util_xasprintf("%s%s", err, s->full ? " (target full)" : "");
		s->retries++;
		op_free(&op);
		return 1;
	}
	if (rc < 0) {
		/* Permanent, or out of retries: counted, logged, and left for
		 * verification to show. */
		s->apply_errors++;
		dtlog_event(DTLOG_ERROR, 4113, "Target can not write %s due to %s%s (connection %u, op %" PRIu64 " %s)",
			    op.path ? op.path : "", err,
			    s->retries ? "; no more retries" : "", s->con_id, seq, op_kind_name(op.kind));
	} else {
		if (s->retries)
			dtlog_event(DTLOG_INFO, 4120, "Target write to %s was completed successfully after %u retries (connection %u)",
				    op.path ? op.path : "", s->retries, s->con_id);
		if (!control_op(op.kind))
			s->full = false; /* written: space again */
		s->ops_applied++;
		t->ops_applied++;
		s->bytes_applied += op.data_len;
	}
	s->retries = 0;
	op_free(&op);
	return 0;
}

static void hold(struct tsession *s, uint64_t seq, const uint8_t *rec, uint32_t len)
{
	struct held *h = util_xmalloc(sizeof(*h) + len);

	h->next = NULL;
	h->seq = seq;
	h->len = len;
	memcpy(h->rec, rec, len);
	if (s->held_tail)
		s->held_tail->next = h;
	else
		s->held = h;
	s->held_tail = h;
	s->held_bytes += len;
}

static void held_clear(struct tsession *s)
{
	while (s->held) {
		struct held *h = s->held;

		s->held = h->next;
		free(h);
	}
	s->held_tail = NULL;
	s->held_bytes = 0;
	s->retries = 0;
	if (s->retry_timer) {
		evloop_timer_cancel(s->t->a->loop, s->retry_timer);
		s->retry_timer = NULL;
	}
}

/* Progress is recorded and acknowledged; the source is paused or resumed
 * as the held ops grow and shrink. */
static int session_commit(struct tsession *s, struct link *l)
{
	char err[256];

	if (seq_store(s) < 0) {
		snprintf(err, sizeof(err), "cannot record progress of connection %u: %s",
			 s->con_id, strerror(errno));
		dtlog(DTLOG_ERROR, 0, "%s", err);
		link_fail(l, WIRE_E_INTERNAL, err);
		return -1;
	}
	wire_put_ack(link_out(l), s->con_id, s->last_applied);
	/* The source's Target status: told when an op starts or stops
	 * waiting, not at every retry. */
	if (s->tstatus && (s->held ? s->held->seq : 0) != s->told_seq) {
		s->told_seq = s->held ? s->held->seq : 0;
		if (s->held)
			wire_put_tstatus(link_out(l), s->con_id, WIRE_TSTATUS_RETRYING, s->told_seq, s->retry_why);
		else
			wire_put_tstatus(link_out(l), s->con_id, WIRE_TSTATUS_OK, 0, NULL);
	}
	/* A full disk pauses the source at once: it seldom clears within a
	 * retry or two, and what the source would go on sending could only
	 * pile up here in memory, which a target restart loses anyway (the
	 * source resends from last applied + 1), while the source's queue,
	 * with its disk part and limits, is where a backlog belongs. Other
	 * retryable errors (busy, access) usually pass quickly, so the
	 * source goes on until HOLD_PAUSE_BYTES are held. */
	if (!s->paused_source && s->held && (s->full || s->held_bytes > HOLD_PAUSE_BYTES)) {
		s->paused_source = true;
		wire_put_pause(link_out(l), s->con_id);
		dtlog(DTLOG_WARNING, 0, "Connection %u from %s paused while the target retries op %" PRIu64 ": %s",
		      s->con_id, s->source, s->held->seq, s->retry_why);
	} else if (s->paused_source && !s->held) {
		s->paused_source = false;
		wire_put_resume(link_out(l), s->con_id);
		dtlog(DTLOG_INFO, 0, "Connection %u from %s resumed", s->con_id, s->source);
	}
	link_flush(l);
	return 0;
}

static void retry_tick(struct evloop *loop, struct evloop_timer *tm, void *arg);

/* Applies held ops from the oldest; stops at one that must wait again. */
static void drain_held(struct tsession *s)
{
	struct link *l = s->link;
	int rc = 0;

	while (s->held && l) {
		struct held *h = s->held;

		rc = apply_record(s, l, h->seq, h->rec, h->len);
		if (rc != 0)
			break;
		s->held = h->next;
		if (!s->held)
			s->held_tail = NULL;
		s->held_bytes -= h->len;
		s->last_applied = h->seq;
		free(h);
		if (seq_write(s) < 0)
			break;
	}
	if (rc < 0)
		return; /* link failed: held ops went with it */
	if (l && session_commit(s, l) < 0)
		return;
	if (s->held && !s->retry_timer) {
		unsigned ms = RETRY_FIRST_MS << (s->retries < 4 ? s->retries : 4);

		s->retry_timer = evloop_timer_add(s->t->a->loop, ms < RETRY_MAX_MS ? ms : RETRY_MAX_MS,
						  0, retry_tick, s);
	}
}

static void retry_tick(struct evloop *loop, struct evloop_timer *tm, void *arg)
{
	struct tsession *s = arg;

	(void)loop;
	(void)tm;
	s->retry_timer = NULL;
	drain_held(s);
}

static void on_batch(struct target *t, struct link *l, const struct wire_frame *f)
{
	struct wire_batch b;
	struct tsession *s;
	const uint8_t *rec;
	uint32_t len;
	uint64_t seq, expect;
	char err[512];

	if (!t->z)
		t->z = wire_zctx_new();
	if (wire_get_batch_z(f, &b, t->z) < 0) {
		link_fail(l, WIRE_E_MALFORMED, "malformed BATCH");
		return;
	}
	s = session_find(t, link_peer_name(l), b.con_id);
	if (!s || s->link != l) {
		link_fail(l, WIRE_E_SEQUENCE, "BATCH for a connection that was not opened");
		return;
	}
	while (wire_batch_next(&b, &seq, &rec, &len) == 1) {
		int rc;

		expect = s->held_tail ? s->held_tail->seq + 1 : s->last_applied + 1;
		if (seq < expect)
			continue; /* a resend of what we already have */
		if (seq != expect) {
			snprintf(err, sizeof(err), "connection %u: got op %" PRIu64 " after %" PRIu64,
				 s->con_id, seq, expect - 1);
			dtlog(DTLOG_ERROR, 0, "%s", err);
			link_fail(l, WIRE_E_SEQUENCE, err);
			return;
		}
		/* Strict order: behind a held op, everything waits. */
		if (s->held) {
			hold(s, seq, rec, len);
			continue;
		}
		rc = apply_record(s, l, seq, rec, len);
		if (rc < 0)
			return;
		if (rc > 0) {
			hold(s, seq, rec, len);
			continue;
		}
		s->last_applied = seq;
		if (seq_write(s) < 0)
			break;
	}
	if (session_commit(s, l) < 0)
		return;
	if (s->held && !s->retry_timer)
		s->retry_timer = evloop_timer_add(t->a->loop, RETRY_FIRST_MS, 0, retry_tick, s);
}

/* A peer asks for a copy kept here to be sent back (restore.h). */
static void on_restore(struct target *t, struct link *l, const struct wire_frame *f)
{
	struct wire_restore r;
	struct restore_backup b;
	struct util_buf msg, def;
	char err[512], host[WIRE_NAME_MAX + 1], *dir;
	const char *colon;
	int id;

	if (wire_get_restore(f, &r) < 0) {
		link_fail(l, WIRE_E_MALFORMED, "malformed RESTORE");
		return;
	}
	util_buf_init(&msg);
	util_buf_init(&def);
	dtlog(DTLOG_INFO, 0, "Restore of %s (from %s) asked by %s", r.repset, r.source, link_peer_name(l));
	dir = util_xasprintf("%s/target", t->a->conf.agent.state_dir);
	if (restore_backup_find(dir, r.source, r.repset, &b, err, sizeof(err)) < 0) {
		wire_put_restore_answer(link_out(l), WIRE_E_REFUSED, err, NULL);
		goto done;
	}
	/* No destination named: back to the requester's address. */
	if (r.host[0]) {
		util_strlcpy(host, r.host, sizeof(host));
	} else {
		util_strlcpy(host, link_peer_addr(l), sizeof(host));
		colon = strrchr(host, ':');
		if (colon)
			host[colon - host] = '\0';
		if (host[0] == '[') {
			memmove(host, host + 1, strlen(host));
			host[strcspn(host, "]")] = '\0';
		}
	}
	id = source_restore_start(t->a->source, &b, host, (uint16_t)r.port, r.options, &msg);
	if (id < 0) {
		wire_put_restore_answer(link_out(l), WIRE_E_REFUSED, msg.data ? msg.data : "refused", NULL);
	} else {
		if (r.options & WIRE_RESTORE_BACKUPSET)
			util_buf_puts(&def, b.definition);
		if (wire_put_restore_answer(link_out(l), 0, msg.data, def.data) < 0)
			wire_put_restore_answer(link_out(l), 0, "started (the set's definition is too large to send)", NULL);
	}
	restore_backup_free(&b);
done:
	link_flush(l);
	free(dir);
	util_buf_free(&msg);
	util_buf_free(&def);
}

static void tlink_frame(struct link *l, const struct wire_frame *f, void *arg)
{
	struct tlink *tl = arg;
	struct target *t = tl->t;
	uint64_t token;
	uint32_t con_id;

	switch (f->type) {
	case WIRE_CONNECT:
		on_connect(t, l, f);
		break;
	case WIRE_BATCH:
		on_batch(t, l, f);
		break;
	case WIRE_RESTORE:
		on_restore(t, l, f);
		break;
	case WIRE_PING:
		if (wire_get_ping(f, &token) == 0) {
			wire_put_pong(link_out(l), token);
			link_flush(l);
		}
		break;
	case WIRE_DISCONNECT:
		if (wire_get_disconnect(f, &con_id) == 0) {
			struct tsession **pp, *s;

			for (pp = &t->sessions; (s = *pp); pp = &s->next) {
				if (s->con_id == con_id && !strcmp(s->source, link_peer_name(l))) {
					*pp = s->next;
					dtlog(DTLOG_INFO, 0, "Connection %u from %s disconnected", con_id, s->source);
					if (s->restore_repset)
						restore_session_end(t->a, s->source, s->restore_repset, true, NULL);
					session_free(s);
					break;
				}
			}
		}
		break;
	default:
		link_fail(l, WIRE_E_SEQUENCE, "unexpected frame");
		break;
	}
}

static void tlink_ready(struct link *l, void *arg)
{
	(void)arg;
	dtlog(DTLOG_INFO, 0, "Source %s authenticated from %s", link_peer_name(l), link_peer_addr(l));
}

static void tlink_close(struct link *l, const char *why, void *arg)
{
	struct tlink *tl = arg, **pp;
	struct tsession *s;

	for (s = tl->t->sessions; s; s = s->next) {
		if (s->link == l) {
			s->link = NULL;
			/* The source resends everything unacknowledged. */
			held_clear(s);
			s->paused_source = false;
			dtlog(DTLOG_WARNING, 77, "Connection lost with IP address %s (connection %u: %s)",
			      link_peer_addr(l), s->con_id, why);
		}
	}
	if (!link_peer_name(l)[0])
		dtlog(DTLOG_WARNING, 0, "Refused peer %s: %s", link_peer_addr(l), why);
	for (pp = &tl->t->links; *pp; pp = &(*pp)->next) {
		if (*pp == tl) {
			*pp = tl->next;
			break;
		}
	}
	free(tl);
}

static const struct link_ops tlink_ops = {
	.on_ready = tlink_ready,
	.on_frame = tlink_frame,
	.on_close = tlink_close,
};

static void on_accept(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct target *t = arg;

	(void)events;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct tlink *tl;

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				dtlog(DTLOG_WARNING, 0, "Service port accept failed: %s", strerror(errno));
			return;
		}
		tl = util_xcalloc(1, sizeof(*tl));
		tl->t = t;
		tl->link = link_new(loop, cfd, false, false, t->a->key, t->a->keylen,
				    t->a->conf.agent.name, &tlink_ops, tl);
		if (!tl->link) {
			free(tl);
			continue;
		}
		tl->next = t->links;
		t->links = tl;
	}
}

struct target *target_new(struct agent *a)
{
	struct target *t = util_xcalloc(1, sizeof(*t));
	const struct conf_hostport *hp = &a->conf.agent.listen;
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	t->a = a;
	t->fd = -1;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, hp->host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(hp->port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, hp->host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(hp->port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		dtlog(DTLOG_ERROR, 0, "agent.listen %s: the address must be numeric", hp->text);
		goto fail;
	}
	t->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		goto fail_errno;
	setsockopt(t->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(t->fd, (struct sockaddr *)&ss, sl) < 0 || listen(t->fd, 64) < 0 ||
	    evloop_add_fd(a->loop, t->fd, EVLOOP_READ, on_accept, t) < 0)
		goto fail_errno;
	return t;
fail_errno:
	dtlog(DTLOG_ERROR, 0, "Cannot listen on service address %s: %s", hp->text, strerror(errno));
fail:
	if (t->fd >= 0)
		close(t->fd);
	free(t);
	return NULL;
}

void target_free(struct target *t)
{
	if (!t)
		return;
	while (t->links)
		link_close(t->links->link, "agent stopping");
	while (t->sessions) {
		struct tsession *s = t->sessions;

		t->sessions = s->next;
		session_free(s);
	}
	wire_zctx_free(t->z);
	evloop_del_fd(t->a->loop, t->fd);
	close(t->fd);
	free(t);
}

/* The guide's Target Status of a connection (STATUS, STATISTICS). */
static const char *tstate_word(const struct tsession *s)
{
	return !s->held ? "OK" : s->paused_source ? "Retrying (source paused)" : "Retrying";
}

void target_status(const struct target *t, struct util_buf *out)
{
	const struct tsession *s;

	for (s = t->sessions; s; s = s->next) {
		util_buf_printf(out, "Target of %s connection %u: %s, path %s, last applied op %" PRIu64
				", %" PRIu64 " ops and %" PRIu64 " bytes applied, %" PRIu64 " errors\n",
				s->source, s->con_id, s->link ? "connected" : "disconnected",
				s->root_path ? s->root_path : "-", s->last_applied,
				s->ops_applied, s->bytes_applied, s->apply_errors);
		/* Retrying: what the oldest held op waits for. */
		if (s->held)
			util_buf_printf(out, "  Target status: %s; op %" PRIu64 ": %s; %u retries, %zu bytes held\n",
					tstate_word(s), s->held->seq, s->retry_why, s->retries, s->held_bytes);
		else
			util_buf_printf(out, "  Target status: %s\n", tstate_word(s));
	}
}

void target_stats(const struct target *t, struct util_buf *out)
{
	const struct tsession *s;

	for (s = t->sessions; s; s = s->next) {
		const char *st = tstate_word(s);
		const char *ln = s->link ? "Connected" : "Disconnected";

		statrec_str(out, "Source Name", s->source, strlen(s->source));
		statrec_num(out, "Connection ID", s->con_id);
		if (s->root_path)
			statrec_str(out, "Target Path", s->root_path, strlen(s->root_path));
		else
			statrec_none(out, "Target Path");
		statrec_str(out, "Link", ln, strlen(ln));
		statrec_str(out, "Target Status", st, strlen(st));
		statrec_num(out, "Applied (Ops)", (int64_t)s->ops_applied);
		statrec_num(out, "Applied (Bytes)", (int64_t)s->bytes_applied);
		statrec_num(out, "Apply Errors", (int64_t)s->apply_errors);
		statrec_num(out, "Last Applied Op", (int64_t)s->last_applied);
		statrec_num(out, "Held (Bytes)", (int64_t)s->held_bytes);
		statrec_num(out, "Retries", s->retries);
		statrec_end(out);
	}
}

uint64_t target_ops_applied(const struct target *t)
{
	return t->ops_applied;
}
