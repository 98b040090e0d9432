#include "config.h"

#include "dtlog.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* "<base>999.dtl" must fit in one directory entry. */
#define SUFFIX_MAX (sizeof("999.dtl") - 1)
#define BASE_MAX (NAME_MAX - SUFFIX_MAX)

/* One logger per process; capture threads log concurrently, so everything
 * below is guarded by `lock`. fd < 0 means "not open: use stderr". */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int fd;
	char dir[PATH_MAX];
	char base[BASE_MAX + 1];
	char path[PATH_MAX];
	uint64_t max_length, next_max_length;
	unsigned max_files, next_max_files;
	bool use_syslog, to_stderr;
	bool in_rotate;		/* lines logged while rotating must not rotate */
	bool write_failed;	/* stderr notice given; cleared by a good write */
	bool rotate_failed;	/* likewise for starting the next file */
	unsigned cur;		/* series number of fd */
	uint64_t cur_size;
	/* Series numbers still on disk, oldest first, the current one last.
	 * Numbers are unique, so 999 slots always suffice. */
	unsigned files[DTLOG_SERIES_MAX];
	size_t nfiles;
	uint64_t seq;		/* per process, survives close/reopen */
} g = { .fd = -1 };

/* openlog(3) keeps the pointer, so the ident must outlive every syslog call. */
static char syslog_ident[64];
static bool syslog_open;

static int series_path(char *out, size_t size, unsigned num)
{
	return util_snprintf(out, size, "%s/%s%u.dtl", g.dir, g.base, num);
}

static unsigned series_next(unsigned num)
{
	return num % DTLOG_SERIES_MAX + 1;
}

/* The whole text column: local time to 1/10000 s, pid, tid, seq, level, id. */
static size_t format_prefix(char *out, size_t size, uint64_t seq, int flevel,
			    unsigned msgid)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(out, size, "%m/%d/%Y %H:%M:%S", &tm);
	m = snprintf(out + n, size - n, ".%04ld %ld %ld %" PRIu64 " %d %u ",
		     ts.tv_nsec / 100000, (long)getpid(), (long)gettid(), seq,
		     flevel, msgid);
	if (m < 0)
		return n;
	n += (size_t)m;
	return n < size ? n : size - 1;
}

/* Writes prefix and body with one writev so an O_APPEND line lands whole;
 * loops only for the rare short write. *done counts bytes that did land. */
static int write_line(int fd, const char *pre, size_t plen, const char *body,
		      size_t blen, uint64_t *done)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)pre, .iov_len = plen },
		{ .iov_base = (void *)body, .iov_len = blen },
	};
	struct iovec *v = iov;
	int cnt = 2;
	int ret = -1;

	while (cnt > 0) {
		ssize_t w = writev(fd, v, cnt);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			goto done;
		}
		*done += (uint64_t)w;
		while (cnt > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			cnt--;
		}
		if (cnt > 0) {
			v->iov_base = (char *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	ret = 0;
done:
	return ret;
}

static bool list_has(unsigned num)
{
	for (size_t i = 0; i < g.nfiles; i++)
		if (g.files[i] == num)
			return true;
	return false;
}

static void list_drop_at(size_t i)
{
	memmove(&g.files[i], &g.files[i + 1],
		(g.nfiles - i - 1) * sizeof(g.files[0]));
	g.nfiles--;
}

static void list_drop(unsigned num)
{
	for (size_t i = 0; i < g.nfiles; i++) {
		if (g.files[i] == num) {
			list_drop_at(i);
			return;
		}
	}
}

static void emit_locked(int flevel, unsigned msgid, const char *body,
			size_t blen);

/* Logs an internal problem as an ordinary error line (it goes to the file
 * if one is open, which is where an administrator looks). */
static void note_locked(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void note_locked(const char *fmt, ...)
{
	struct util_buf b;
	va_list ap;

	util_buf_init(&b);
	va_start(ap, fmt);
	util_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	util_buf_append(&b, "\n", 1);
	emit_locked(1, 0, b.data, b.len);
	util_buf_free(&b);
}

/* Removes one series file; a name that cannot go stays in the list so the
 * next rotation retries it, as the reference describes. */
static int remove_series(unsigned num)
{
	char path[PATH_MAX];
	int ret = -1;

	if (series_path(path, sizeof(path), num) < 0) {
		errno = ENAMETOOLONG;
		goto done;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		note_locked("Cannot remove old log file %s: %s", path,
			    strerror(errno));
		goto done;
	}
	list_drop(num);
	ret = 0;
done:
	return ret;
}

/* Deletes the oldest files until at most max_files remain, skipping (and
 * keeping) any that refuse to go; the current file is never a candidate. */
static void prune_locked(void)
{
	size_t i = 0;

	while (g.nfiles > g.max_files && i + 1 < g.nfiles) {
		unsigned num = g.files[i];

		if (remove_series(num) < 0)
			i++;
	}
}

/* Makes `num` the current file: appended to when continuing after a restart,
 * truncated when it starts a new round of the series. */
static int start_file(unsigned num, bool append)
{
	char path[PATH_MAX];
	struct stat st;
	int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
	int fd = -1;
	int ret = -1;

	if (series_path(path, sizeof(path), num) < 0) {
		errno = ENAMETOOLONG;
		goto done;
	}
	if (!append)
		flags |= O_TRUNC;
	fd = open(path, flags, 0640);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto done;
	if (g.fd >= 0)
		close(g.fd);
	g.fd = fd;
	fd = -1;
	g.cur = num;
	g.cur_size = (uint64_t)st.st_size;
	util_strlcpy(g.path, path, sizeof(g.path));
	list_drop(num);
	g.files[g.nfiles++] = num;
	ret = 0;
done:
	if (fd >= 0) {
		int err = errno;

		close(fd);
		errno = err;
	}
	return ret;
}

/* Starts the number after `after`. A leftover file with that number is the
 * oldest of a full wrap and goes first; one that cannot be removed is
 * skipped rather than written into. */
static int start_next_locked(unsigned after)
{
	bool was = g.in_rotate;
	unsigned num = after;
	unsigned tries;
	int ret = -1;

	g.in_rotate = true;
	for (tries = 0; tries < DTLOG_SERIES_MAX; tries++) {
		num = series_next(num);
		if (num == g.cur)
			break;
		if (!list_has(num) || remove_series(num) == 0)
			break;
	}
	if (tries == DTLOG_SERIES_MAX || num == g.cur) {
		errno = EEXIST;
		goto done;
	}
	if (start_file(num, false) < 0)
		goto done;
	prune_locked();
	ret = 0;
done:
	g.in_rotate = was;
	return ret;
}

static void rotate_locked(void)
{
	g.max_length = g.next_max_length;
	g.max_files = g.next_max_files;
	if (start_next_locked(g.cur) < 0) {
		/* Keep writing the full file: an oversized log beats a lost line. */
		if (!g.rotate_failed)
			fprintf(stderr, "dtlog: cannot start the next log file "
				"after %s: %s; continuing in it\n", g.path,
				strerror(errno));
		g.rotate_failed = true;
		return;
	}
	g.rotate_failed = false;
}

static void emit_locked(int flevel, unsigned msgid, const char *body,
			size_t blen)
{
	char pre[128];
	size_t plen = format_prefix(pre, sizeof(pre), g.seq + 1, flevel, msgid);
	uint64_t done = 0;

	if (g.fd >= 0 && !g.in_rotate && g.cur_size > 0 &&
	    g.cur_size + plen + blen > g.max_length) {
		rotate_locked();
		/* Rotation may have logged, which used up sequence numbers. */
		plen = format_prefix(pre, sizeof(pre), g.seq + 1, flevel, msgid);
	}
	g.seq++;
	if (g.fd >= 0) {
		int rc = write_line(g.fd, pre, plen, body, blen, &done);

		g.cur_size += done;
		if (rc == 0) {
			g.write_failed = false;
			if (g.to_stderr)
				write_line(STDERR_FILENO, pre, plen, body, blen,
					   &done);
			return;
		}
		if (!g.write_failed)
			fprintf(stderr, "dtlog: cannot write %s: %s; "
				"logging to stderr\n", g.path, strerror(errno));
		g.write_failed = true;
	}
	write_line(STDERR_FILENO, pre, plen, body, blen, &done);
}

/* Formats with errno restored first so "%m" reports the caller's error. */
static char *format_text(char *buf, size_t size, int err, const char *fmt,
			 va_list ap)
{
	va_list ap2;
	char *p;
	int n;

	va_copy(ap2, ap);
	errno = err;
	n = vsnprintf(buf, size, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		util_strlcpy(buf, "(unformattable log message)", size);
		return buf;
	}
	if ((size_t)n < size)
		return buf;
	p = util_xmalloc((size_t)n + 1);
	errno = err;
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

/* One message, one line: control characters and the backslash itself are
 * escaped so the text column can be parsed back unambiguously. */
static void escape_into(struct util_buf *out, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[5];

		if (c >= 0x20 && c != 0x7f && c != '\\')
			continue;
		util_buf_append(out, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '\n': util_buf_append(out, "\\n", 2); break;
		case '\r': util_buf_append(out, "\\r", 2); break;
		case '\t': util_buf_append(out, "\\t", 2); break;
		case '\\': util_buf_append(out, "\\\\", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			util_buf_append(out, esc, 4);
			break;
		}
	}
	util_buf_append(out, run, (size_t)(s - run));
}

static int syslog_priority(int level)
{
	switch (level) {
	case DTLOG_INFO: return LOG_INFO;
	case DTLOG_WARNING: return LOG_WARNING;
	default: return LOG_ERR;
	}
}

void dtlog_vlog(int level, unsigned msgid, bool event, const char *fmt,
		va_list ap)
{
	int saved = errno;
	char stackbuf[1024];
	char *text = format_text(stackbuf, sizeof(stackbuf), saved, fmt, ap);
	struct util_buf line;
	bool to_syslog;

	util_buf_init(&line);
	escape_into(&line, text);
	util_buf_append(&line, "\n", 1);

	pthread_mutex_lock(&lock);
	emit_locked(level == DTLOG_INFO ? 2 : 1, msgid, line.data, line.len);
	to_syslog = event && g.fd >= 0 && g.use_syslog;
	pthread_mutex_unlock(&lock);

	/* Outside the lock: a slow syslog daemon must not stall other loggers. */
	if (to_syslog)
		syslog(syslog_priority(level), "%u: %.*s", msgid,
		       (int)(line.len - 1), line.data);

	util_buf_free(&line);
	if (text != stackbuf)
		free(text);
	errno = saved;
}

void dtlog(int level, unsigned msgid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dtlog_vlog(level, msgid, false, fmt, ap);
	va_end(ap);
}

void dtlog_event(int level, unsigned msgid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dtlog_vlog(level, msgid, true, fmt, ap);
	va_end(ap);
}

struct found {
	unsigned num;
	struct timespec mtime;
	bool regular;
	uint64_t size;
};

/* Accepts exactly "<base>N.dtl" with N in 1..999 and no leading zero. */
static bool parse_series(const char *name, unsigned *num)
{
	size_t blen = strlen(g.base);
	unsigned n = 0;
	size_t digits = 0;
	const char *p;

	if (strncmp(name, g.base, blen) != 0)
		return false;
	p = name + blen;
	if (*p == '0')
		return false;
	for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
		n = n * 10 + (unsigned)(*p - '0');
	if (digits == 0 || n > DTLOG_SERIES_MAX || strcmp(p, ".dtl") != 0)
		return false;
	*num = n;
	return true;
}

static int cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return x->num < y->num ? -1 : x->num > y->num;
}

/* Files rotated within one clock tick share an mtime. Their numbers are
 * consecutive modulo 999, so order such a group circularly: it starts just
 * after the widest gap (998, 999, 1 rather than 1, 998, 999). */
static void order_tie_group(struct found *f, size_t n)
{
	size_t start = 0;
	unsigned widest = 0;
	struct found *tmp;

	for (size_t k = 0; k < n; k++) {
		unsigned prev = f[(k + n - 1) % n].num;
		unsigned gap = (f[k].num + DTLOG_SERIES_MAX - prev) %
			       DTLOG_SERIES_MAX;

		if (gap > widest) {
			widest = gap;
			start = k;
		}
	}
	if (start == 0)
		return;
	tmp = util_xcalloc(n, sizeof(*tmp));
	for (size_t k = 0; k < n; k++)
		tmp[k] = f[(start + k) % n];
	memcpy(f, tmp, n * sizeof(*tmp));
	free(tmp);
}

static bool same_mtime(const struct found *a, const struct found *b)
{
	return a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Fills f (DTLOG_SERIES_MAX slots) with this base's files, oldest first. */
static int scan_dir(struct found *f, size_t *nf)
{
	DIR *d = opendir(g.dir);
	struct dirent *de;
	size_t n = 0;
	int ret = -1;

	if (!d)
		goto done;
	for (;;) {
		struct stat st;
		unsigned num;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				goto done;
			break;
		}
		/* Names map 1:1 to 1..999, so the bound is only defensive. */
		if (!parse_series(de->d_name, &num) || n == DTLOG_SERIES_MAX)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* vanished meanwhile */
		f[n].num = num;
		f[n].mtime = st.st_mtim;
		f[n].regular = S_ISREG(st.st_mode);
		f[n].size = (uint64_t)st.st_size;
		n++;
	}
	qsort(f, n, sizeof(*f), cmp_found);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && same_mtime(&f[i], &f[j]))
			j++;
		if (j - i > 1)
			order_tie_group(f + i, j - i);
		i = j;
	}
	*nf = n;
	ret = 0;
done:
	if (d) {
		int err = errno;

		closedir(d);
		errno = err;
	}
	return ret;
}

static void close_locked(void)
{
	if (g.fd >= 0)
		close(g.fd);
	g.fd = -1;
	g.cur = 0;
	g.cur_size = 0;
	g.nfiles = 0;
	g.path[0] = '\0';
	g.write_failed = false;
	g.rotate_failed = false;
	g.use_syslog = false;
	g.to_stderr = false;
	if (syslog_open)
		closelog();
	syslog_open = false;
}

int dtlog_open(const struct dtlog_opts *o)
{
	const char *base = o && o->base ? o->base : DTLOG_DEFAULT_BASE;
	const char *dir = o && o->dir ? o->dir : "";
	const char *what = "invalid options";
	struct found *f = NULL;
	size_t nf = 0;
	int err = 0;
	int ret = -1;

	pthread_mutex_lock(&lock);
	close_locked();
	if (!o || !*dir || !*base || strchr(base, '/') ||
	    strlen(base) > BASE_MAX || o->max_files > DTLOG_SERIES_MAX) {
		errno = EINVAL;
		goto done;
	}
	if (util_snprintf(g.dir, sizeof(g.dir), "%s", dir) < 0 ||
	    strlen(dir) + 1 + strlen(base) + SUFFIX_MAX >= PATH_MAX) {
		errno = ENAMETOOLONG;
		goto done;
	}
	util_strlcpy(g.base, base, sizeof(g.base));
	g.max_length = o->max_length ? o->max_length : DTLOG_DEFAULT_MAX_LENGTH;
	g.max_files = o->max_files ? o->max_files : DTLOG_DEFAULT_MAX_FILES;
	g.next_max_length = g.max_length;
	g.next_max_files = g.max_files;

	what = "cannot create the directory";
	if (util_mkdir_p(g.dir, 0755) < 0)
		goto done;
	what = "cannot read the directory";
	f = util_xcalloc(DTLOG_SERIES_MAX, sizeof(*f));
	if (scan_dir(f, &nf) < 0)
		goto done;
	for (size_t i = 0; i < nf; i++)
		g.files[g.nfiles++] = f[i].num;

	what = "cannot open the log file";
	if (nf && f[nf - 1].regular && f[nf - 1].size < g.max_length) {
		if (start_file(f[nf - 1].num, true) < 0)
			goto done;
		/* Older files left over beyond max_files go now. */
		g.in_rotate = true;
		prune_locked();
		g.in_rotate = false;
	} else if (start_next_locked(nf ? f[nf - 1].num : 0) < 0) {
		goto done;
	}

	g.to_stderr = o->to_stderr;
	g.use_syslog = o->use_syslog;
	if (g.use_syslog) {
		util_strlcpy(syslog_ident, o->ident ? o->ident : g.base,
			     sizeof(syslog_ident));
		openlog(syslog_ident, LOG_PID, LOG_DAEMON);
		syslog_open = true;
	}
	ret = 0;
done:
	if (ret < 0) {
		err = errno;
		close_locked();
		fprintf(stderr, "dtlog: cannot open the log in '%s' (base '%s'): "
			"%s: %s; messages go to stderr\n", dir, base, what,
			strerror(err));
	}
	pthread_mutex_unlock(&lock);
	free(f);
	if (ret < 0)
		errno = err;
	return ret;
}

void dtlog_close(void)
{
	pthread_mutex_lock(&lock);
	close_locked();
	pthread_mutex_unlock(&lock);
}

int dtlog_reconfigure(uint64_t max_length, unsigned max_files)
{
	int ret = -1;

	pthread_mutex_lock(&lock);
	if (g.fd < 0) {
		errno = EBADF;
		goto done;
	}
	if (max_files > DTLOG_SERIES_MAX) {
		errno = EINVAL;
		goto done;
	}
	g.next_max_length = max_length ? max_length : DTLOG_DEFAULT_MAX_LENGTH;
	g.next_max_files = max_files ? max_files : DTLOG_DEFAULT_MAX_FILES;
	ret = 0;
done:
	pthread_mutex_unlock(&lock);
	return ret;
}

const char *dtlog_current_path(void)
{
	const char *p;

	pthread_mutex_lock(&lock);
	p = g.fd >= 0 ? g.path : NULL;
	pthread_mutex_unlock(&lock);
	return p;
}
