#include "config.h"

#include "verifylog.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Caps on the escaped caller strings in the markers, so that a marker never
 * outgrows VERIFYLOG_END_RESERVE whatever it is given (see marker_fits). */
#define REPSET_CAP 200
#define TARGET_CAP 200
#define OPTIONS_CAP 200
#define RESULT_CAP 300

struct verifylog {
	int fd;
	char *path;
	uint64_t max_length;
	bool full;		/* limit reached: no more entry lines this run */
	uint64_t not_logged;	/* entry lines dropped because of the limit */
	uint64_t failed;	/* lines whose write (or size check) failed */
	int first_errno;
	const char *first_op;
	struct util_buf line;
};

static void note_error(struct verifylog *v, const char *op, int e)
{
	if (v->first_errno == 0) {
		v->first_errno = e ? e : EIO;
		v->first_op = op;
	}
}

/* Appends s, escaping what would break "one line of ASCII" (and spaces in
 * space-delimited fields). Stops with "..." once cap output bytes (0: no cap)
 * would be exceeded, so callers can bound a line's length. */
static void put_escaped(struct util_buf *b, const char *s, size_t len,
			bool esc_space, size_t cap)
{
	size_t out = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool esc = c < 0x20 || c >= 0x7f || c == '\\' ||
			   (esc_space && c == ' ');
		size_t n = esc ? 4 : 1;

		if (cap && out + n > cap) {
			util_buf_puts(b, "...");
			return;
		}
		if (esc)
			util_buf_printf(b, "\\x%02x", c);
		else
			util_buf_append(b, &s[i], 1);
		out += n;
	}
}

static void put_date(struct util_buf *b, time_t t)
{
	struct tm tm;
	char s[64];

	if (t == 0)
		t = time(NULL);
	if (!localtime_r(&t, &tm) ||
	    strftime(s, sizeof(s), "%m/%d/%Y %H:%M:%S", &tm) == 0) {
		util_buf_printf(b, "@%lld", (long long)t);
		return;
	}
	util_buf_puts(b, s);
}

static void put_mtime(struct util_buf *b, int64_t ns)
{
	int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
	struct tm tm;
	time_t t;
	char s[64];

	if (nsec < 0) {		/* before 1970: floor, not truncate */
		sec--;
		nsec += 1000000000;
	}
	t = (time_t)sec;
	if (!localtime_r(&t, &tm) ||
	    strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		util_buf_printf(b, "@%" PRId64 ".%09" PRId64, sec, nsec);
		return;
	}
	util_buf_printf(b, "%s.%09" PRId64, s, nsec);
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "chardev";
	case S_IFBLK: return "blockdev";
	default: return "unknown";
	}
}

/* --- writing ----------------------------------------------------------- */

/* Takes the file lock (shared with other runs of the same repset) and reads
 * the current size. reg false: not a regular file (e.g. /dev/full), no size.
 * -1 if the size cannot be known: the caller then writes nothing. */
static int lock_and_size(struct verifylog *v, uint64_t *size, bool *reg)
{
	struct stat st;

	/* Not fatal: a file system without flock still gets whole lines. */
	while (flock(v->fd, LOCK_EX) < 0 && errno == EINTR)
		;
	if (fstat(v->fd, &st) < 0) {
		note_error(v, "stat", errno);
		return -1;
	}
	*reg = S_ISREG(st.st_mode);
	*size = *reg ? (uint64_t)st.st_size : 0;
	return 0;
}

static void unlock(struct verifylog *v)
{
	flock(v->fd, LOCK_UN);
}

/* One write(2) of the whole line (O_APPEND puts it at the end); only a short
 * write loops. If the line did not land whole, what did is cut off again
 * (we hold the lock, so the file ended at size) to keep whole lines only. */
static void put_line(struct verifylog *v, bool reg, uint64_t size)
{
	if (util_write_full(v->fd, v->line.data, v->line.len) == 0)
		return;
	note_error(v, "write", errno);
	v->failed++;
	if (reg && ftruncate(v->fd, (off_t)size) < 0)
		note_error(v, "truncate", errno);
}

static bool room_for(const struct verifylog *v, uint64_t size, size_t len)
{
	return v->max_length == 0 ||
	       (size <= v->max_length &&
		len + VERIFYLOG_END_RESERVE <= v->max_length - size);
}

/* --- begin ------------------------------------------------------------- */

static int check_name(const char *what, const char *s, char *err,
		      size_t errlen)
{
	if (!s || !*s || strchr(s, '/')) {
		snprintf(err, errlen,
			 "verification log: %s must be non-empty and without '/'",
			 what);
		return -1;
	}
	return 0;
}

static void build_begin(struct verifylog *v, const struct verifylog_opts *o,
			const struct verifylog_run *run, bool restarted)
{
	struct util_buf *b = &v->line;

	util_buf_reset(b);
	util_buf_puts(b, "=== BEGIN VERIFICATION ");
	put_date(b, run->started);
	util_buf_printf(b, " connection %" PRIu32 " repset ", run->con_id);
	put_escaped(b, o->repset, strlen(o->repset), true, REPSET_CAP);
	util_buf_puts(b, " target ");
	if (run->target && *run->target)
		put_escaped(b, run->target, strlen(run->target), true,
			    TARGET_CAP);
	else
		util_buf_puts(b, "-");
	util_buf_puts(b, " options ");
	if (run->options && *run->options)
		put_escaped(b, run->options, strlen(run->options), false,
			    OPTIONS_CAP);
	else
		util_buf_puts(b, "none");
	if (restarted)
		util_buf_printf(b,
				"; log restarted: earlier runs reached the maximum length of %" PRIu64 " bytes",
				v->max_length);
	util_buf_puts(b, "\n");
}

static int open_log(const char *path)
{
	int fd, fl;

	/* O_NONBLOCK only for the open: a FIFO at the name fails (ENXIO)
	 * instead of hanging the verification. */
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY |
		  O_NONBLOCK, 0640);
	if (fd < 0)
		return -1;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct verifylog *verifylog_begin(const struct verifylog_opts *o,
				  const struct verifylog_run *run,
				  char *err, size_t errlen)
{
	struct verifylog *v = NULL, *ret = NULL;
	const char *base = o->base_name ? o->base_name : VERIFYLOG_DEFAULT_BASE;
	size_t dlen;
	static const struct verifylog_run none;
	uint64_t size;
	bool reg;

	if (!run)
		run = &none;
	if (!o->dir || !*o->dir) {
		snprintf(err, errlen, "verification log: no log directory");
		goto done;
	}
	if (check_name("replication set name", o->repset, err, errlen) < 0 ||
	    check_name("base name", base, err, errlen) < 0)
		goto done;
	if (strlen(o->repset) + 1 + strlen(base) > NAME_MAX) {
		snprintf(err, errlen,
			 "verification log: file name \"%s %s\" is too long",
			 o->repset, base);
		goto done;
	}
	if (o->max_length && o->max_length < VERIFYLOG_MIN_LENGTH) {
		snprintf(err, errlen,
			 "verification log: maximum length %" PRIu64 " is below the minimum of %u bytes",
			 o->max_length, VERIFYLOG_MIN_LENGTH);
		goto done;
	}

	v = util_xcalloc(1, sizeof(*v));
	v->fd = -1;
	v->max_length = o->max_length;
	util_buf_init(&v->line);
	dlen = strlen(o->dir);
	while (dlen > 0 && o->dir[dlen - 1] == '/')
		dlen--;		/* "/" gives "" and so "/<name>" */
	v->path = util_xasprintf("%.*s/%s %s", (int)dlen, o->dir, o->repset,
				 base);
	v->fd = open_log(v->path);
	if (v->fd < 0) {
		snprintf(err, errlen, "verification log: cannot open %s: %s",
			 v->path, strerror(errno));
		goto done;
	}

	if (lock_and_size(v, &size, &reg) == 0) {
		if (!o->append && size > 0) {
			if (ftruncate(v->fd, 0) < 0) {
				snprintf(err, errlen,
					 "verification log: cannot truncate %s: %s",
					 v->path, strerror(errno));
				unlock(v);
				goto done;
			}
			size = 0;
		}
		build_begin(v, o, run, false);
		if (!room_for(v, size, v->line.len) && size > 0) {
			if (ftruncate(v->fd, 0) < 0) {
				note_error(v, "truncate", errno);
			} else {
				size = 0;
				build_begin(v, o, run, true);
			}
		}
		put_line(v, reg, size);
	} else {
		v->failed++;
	}
	unlock(v);
	ret = v;
	v = NULL;
done:
	if (v) {
		if (v->fd >= 0)
			close(v->fd);
		util_buf_free(&v->line);
		free(v->path);
		free(v);
	}
	return ret;
}

/* --- entries ------------------------------------------------------------ */

/* Starts the next detail: " : " after the path, "; " between details. */
static void item(struct util_buf *b, bool *first)
{
	util_buf_puts(b, *first ? " : " : "; ");
	*first = false;
}

static void put_side(struct util_buf *b, bool *first, const char *who,
		     const struct verifylog_side *s)
{
	item(b, first);
	util_buf_printf(b, "%s %s size %" PRIu64 " mtime ", who,
			type_name(s->mode), s->size);
	put_mtime(b, s->mtime_ns);
	util_buf_printf(b, " mode %04" PRIo32 " owner %" PRIu32 ":%" PRIu32,
			s->mode & 07777, s->uid, s->gid);
}

/* The attribute differences, source value first. */
static void put_diffs(struct util_buf *b, bool *first, unsigned what,
		      const struct verifylog_side *src,
		      const struct verifylog_side *tgt, uint64_t blocks)
{
	bool both = src && tgt;

	if (what & VERIFYLOG_TYPE) {
		item(b, first);
		if (both)
			util_buf_printf(b, "type %s != %s",
					type_name(src->mode),
					type_name(tgt->mode));
		else
			util_buf_puts(b, "type differs");
	}
	if (what & VERIFYLOG_SIZE) {
		item(b, first);
		if (both)
			util_buf_printf(b, "size %" PRIu64 " != %" PRIu64,
					src->size, tgt->size);
		else
			util_buf_puts(b, "size differs");
	}
	if (what & VERIFYLOG_MTIME) {
		item(b, first);
		if (both) {
			util_buf_puts(b, "mtime ");
			put_mtime(b, src->mtime_ns);
			util_buf_puts(b, " != ");
			put_mtime(b, tgt->mtime_ns);
		} else {
			util_buf_puts(b, "mtime differs");
		}
	}
	if (what & VERIFYLOG_MODE) {
		item(b, first);
		if (both)
			util_buf_printf(b, "mode %04" PRIo32 " != %04" PRIo32,
					src->mode & 07777, tgt->mode & 07777);
		else
			util_buf_puts(b, "mode differs");
	}
	if (what & VERIFYLOG_OWNER) {
		item(b, first);
		if (both)
			util_buf_printf(b,
					"owner %" PRIu32 ":%" PRIu32 " != %" PRIu32 ":%" PRIu32,
					src->uid, src->gid, tgt->uid, tgt->gid);
		else
			util_buf_puts(b, "owner differs");
	}
	if (what & VERIFYLOG_DATA) {
		item(b, first);
		if (blocks)
			util_buf_printf(b, "data %" PRIu64 " block%s", blocks,
					blocks == 1 ? "" : "s");
		else
			util_buf_puts(b, "data differs");
	}
	if (what & VERIFYLOG_LINK) {
		item(b, first);
		util_buf_puts(b, "link differs");
	}
	if (what & VERIFYLOG_XATTR) {
		item(b, first);
		util_buf_puts(b, "xattrs differ");
	}
}

#define ATTR_BITS (VERIFYLOG_TYPE | VERIFYLOG_SIZE | VERIFYLOG_MTIME | \
		   VERIFYLOG_MODE | VERIFYLOG_OWNER | VERIFYLOG_DATA | \
		   VERIFYLOG_LINK | VERIFYLOG_XATTR)

static void build_entry(struct util_buf *b, const char *path, size_t len,
			unsigned what, const struct verifylog_side *src,
			const struct verifylog_side *tgt, uint64_t blocks,
			bool remirrored)
{
	bool first = true;

	util_buf_reset(b);
	if (what & VERIFYLOG_ERROR) {
		util_buf_puts(b, "ERROR ");
	} else if ((what & VERIFYLOG_ORPHAN) ||
		   (!src && tgt && !(what & VERIFYLOG_MISSING))) {
		util_buf_puts(b, "ORPHAN ");
	} else if ((what & VERIFYLOG_MISSING) || (src && !tgt)) {
		util_buf_puts(b, "MISSING ");
	} else {
		util_buf_puts(b, "DIFF ");
	}
	if (len)
		put_escaped(b, path, len, true, 0);
	else
		util_buf_puts(b, ".");

	if (b->data[0] == 'E') {
		item(b, &first);
		util_buf_puts(b, "could not be compared");
		if (what & VERIFYLOG_MISSING) {
			item(b, &first);
			util_buf_puts(b, "not on the target");
		}
		if (what & VERIFYLOG_ORPHAN) {
			item(b, &first);
			util_buf_puts(b, "on the target only");
		}
		put_diffs(b, &first, what, src, tgt, blocks);
	} else if (b->data[0] == 'O') {
		item(b, &first);
		util_buf_puts(b, "on the target only");
		if (tgt)
			put_side(b, &first, "target", tgt);
	} else if (b->data[0] == 'M') {
		item(b, &first);
		util_buf_puts(b, "not on the target");
		if (src)
			put_side(b, &first, "source", src);
	} else if (what & ATTR_BITS) {
		put_diffs(b, &first, what, src, tgt, blocks);
	} else {
		item(b, &first);
		util_buf_puts(b, "differs");
	}
	if (remirrored)
		util_buf_puts(b, " (remirrored)");
	util_buf_puts(b, "\n");
}

void verifylog_entry(struct verifylog *v, const char *path, size_t len,
		     unsigned what, const struct verifylog_side *src,
		     const struct verifylog_side *tgt, uint64_t blocks,
		     bool remirrored)
{
	uint64_t size;
	bool reg;

	if (!v)
		return;
	if (v->full) {
		v->not_logged++;
		return;
	}
	build_entry(&v->line, path, len, what, src, tgt, blocks, remirrored);
	if (lock_and_size(v, &size, &reg) < 0) {
		v->failed++;
		goto done;
	}
	if (!room_for(v, size, v->line.len)) {
		/* From here on the run logs no entries, so the log never
		 * shows a run with gaps in the middle. */
		v->full = true;
		v->not_logged++;
		goto done;
	}
	put_line(v, reg, size);
done:
	unlock(v);
}

/* --- end ---------------------------------------------------------------- */

int verifylog_end(struct verifylog *v, const struct verifylog_totals *t,
		  const char *result, time_t ended, char *err, size_t errlen)
{
	static const struct verifylog_totals zero;
	struct util_buf *b;
	uint64_t size;
	bool reg;
	int ret = 0;

	if (!v)
		return 0;
	if (!t)
		t = &zero;
	if (!result || !*result)
		result = "unknown";
	b = &v->line;
	util_buf_reset(b);
	util_buf_puts(b, "=== END VERIFICATION ");
	put_date(b, ended);
	util_buf_puts(b, " result: ");
	put_escaped(b, result, strlen(result), false, RESULT_CAP);
	util_buf_printf(b,
			"; entries %" PRIu64 " files %" PRIu64 " dirs %" PRIu64
			" bytes %" PRIu64 " different %" PRIu64 " missing %" PRIu64
			" orphans %" PRIu64 " errors %" PRIu64 " blocks %" PRIu64
			" (%" PRIu64 " bytes) remirrored %" PRIu64 " (%" PRIu64
			" bytes); %" PRIu64 " lines not logged (limit)",
			t->entries, t->files, t->dirs, t->bytes_compared,
			t->different, t->missing, t->orphans, t->errors,
			t->blocks_different, t->bytes_different, t->remirrored,
			t->remirrored_bytes, v->not_logged);
	if (v->failed)
		util_buf_printf(b, "; %" PRIu64 " lines lost (write error)",
				v->failed);
	util_buf_puts(b, "\n");

	/* Written even if another run sharing the file ate our reserve: the
	 * totals matter more than the last bytes of the limit. */
	if (lock_and_size(v, &size, &reg) == 0)
		put_line(v, reg, size);
	else
		v->failed++;
	unlock(v);
	if (close(v->fd) < 0)
		note_error(v, "close", errno);
	v->fd = -1;

	if (v->first_errno) {
		snprintf(err, errlen,
			 "verification log: cannot %s %s: %s (%" PRIu64 " lines lost)",
			 v->first_op, v->path, strerror(v->first_errno),
			 v->failed);
		ret = -1;
	}
	util_buf_free(&v->line);
	free(v->path);
	free(v);
	return ret;
}

const char *verifylog_path(const struct verifylog *v)
{
	return v ? v->path : NULL;
}
