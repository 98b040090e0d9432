#include "config.h"

#include "xlog.h"
#include "op.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define READ_CHUNK (256u << 10)
#define REC_HDR 12u /* u32 length + u64 seq */

/* --- little-endian helpers ------------------------------------------------ */

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static bool len_in_bounds(uint32_t len)
{
	return len >= OP_ENCODED_MIN && len <= OP_ENCODED_MAX;
}

/* --- names ------------------------------------------------------------------ */

/* The peer address becomes part of a file name: nothing that could be a
 * path separator, a dot file, or the '_' that separates the fields. */
static bool peer_ok(const char *peer)
{
	size_t i, n = strlen(peer);

	if (n == 0 || n > XLOG_PEER_MAX || peer[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = peer[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || c == '.' || c == ':' ||
		      c == '%' || c == '-'))
			return false;
	}
	return true;
}

int xlog_file_name(char *buf, size_t size, const char *peer_ip, uint16_t port,
		   uint32_t con_id, uint64_t file_seq)
{
	if (!peer_ok(peer_ip)) {
		errno = EINVAL;
		return -1;
	}
	if (util_snprintf(buf, size, "%s_%u_%" PRIu32 "_%0*" PRIu64 ".xlog",
			  peer_ip, (unsigned)port, con_id, XLOG_SEQ_DIGITS,
			  file_seq) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Decimal digits [s, s+n) to a number, refusing overflow. */
static int parse_digits(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The seq part as the writer prints it: at least XLOG_SEQ_DIGITS digits and
 * no extra leading zero, so one seq has exactly one name. */
static int parse_seq(const char *s, size_t n, uint64_t *seq)
{
	if (n < XLOG_SEQ_DIGITS || (n > XLOG_SEQ_DIGITS && s[0] == '0'))
		return -1;
	return parse_digits(s, n, UINT64_MAX, seq);
}

/* con_id and seq from a base name "<peer>_<port>_<con_id>_<seq>.xlog";
 * -1 if base does not look like one. */
static int parse_name(const char *base, uint32_t *con_id, uint64_t *seq)
{
	size_t n = strlen(base);
	const char *end, *us;
	uint64_t v;

	if (n < 5 || strcmp(base + n - 5, ".xlog") != 0)
		return -1;
	end = base + n - 5;
	us = memrchr(base, '_', (size_t)(end - base));
	if (!us || parse_seq(us + 1, (size_t)(end - us - 1), seq) < 0)
		return -1;
	end = us;
	us = memrchr(base, '_', (size_t)(end - base));
	if (!us || parse_digits(us + 1, (size_t)(end - us - 1), UINT32_MAX,
				&v) < 0)
		return -1;
	*con_id = (uint32_t)v;
	end = us;
	us = memrchr(base, '_', (size_t)(end - base));
	if (!us || us == base ||
	    parse_digits(us + 1, (size_t)(end - us - 1), UINT16_MAX, &v) < 0)
		return -1;
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

size_t xlog_record_size(const struct ditto_op *op)
{
	return XLOG_REC_OVERHEAD + op_encoded_size(op);
}

/* --- writer --------------------------------------------------------------- */

struct xlog_writer {
	int dirfd;
	int fd;              /* -1 until the current file is created */
	char *peer;
	uint16_t port;
	uint32_t con_id;
	uint64_t max_size;
	uint64_t file_seq;
	uint64_t size;       /* bytes in the current file */
	uint64_t records;    /* records in the current file */
	bool broken;
	struct util_buf rec; /* reused record buffer */
};

static void encode_header(uint8_t *h, uint32_t con_id, uint64_t file_seq,
			  uint64_t created_ns)
{
	memcpy(h, XLOG_MAGIC, 8);
	wr32(h + 8, XLOG_VERSION);
	wr32(h + 12, con_id);
	wr64(h + 16, file_seq);
	wr64(h + 24, created_ns);
	wr64(h + 32, XXH3_64bits(h, 32));
}

/* Creates file w->file_seq with its header; durable before it is used. */
static int create_file(struct xlog_writer *w)
{
	uint8_t h[XLOG_HDR_LEN];
	char name[256];
	int fd = -1, ret = -1, saved;
	bool created = false;

	if (xlog_file_name(name, sizeof(name), w->peer, w->port, w->con_id,
			   w->file_seq) < 0)
		goto done;
	fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	if (fd < 0)
		goto done;
	created = true;
	encode_header(h, w->con_id, w->file_seq, util_now_real_ns());
	if (pwrite_full(fd, h, sizeof(h), 0) < 0 || fdatasync(fd) < 0)
		goto done;
	if (fsync(w->dirfd) < 0)
		goto done;
	w->fd = fd;
	w->size = XLOG_HDR_LEN;
	w->records = 0;
	ret = 0;
done:
	if (ret < 0) {
		saved = errno;
		if (fd >= 0)
			close(fd);
		/* Leave no half-made file behind to be mistaken for data. */
		if (created && unlinkat(w->dirfd, name, 0) == 0)
			(void)fsync(w->dirfd);
		errno = saved;
	}
	return ret;
}

/* Makes the current file durable and closes it; the next append starts the
 * following file. */
static int finish_file(struct xlog_writer *w)
{
	int ret = 0;

	if (w->fd < 0)
		return 0;
	if (fdatasync(w->fd) < 0) {
		/* After a failed fsync the page cache may have dropped the
		 * data: nothing written since the last good sync is safe. */
		w->broken = true;
		ret = -1;
	}
	close(w->fd);
	w->fd = -1;
	w->size = 0;
	w->records = 0;
	w->file_seq++;
	return ret;
}

struct xlog_writer *xlog_writer_open(const char *dir, const char *peer_ip,
				     uint16_t port, uint32_t con_id,
				     uint64_t first_file_seq,
				     uint64_t max_size)
{
	struct xlog_writer *w = NULL;
	int saved;

	if (!peer_ok(peer_ip)) {
		errno = EINVAL;
		return NULL;
	}
	w = util_xcalloc(1, sizeof(*w));
	w->fd = -1;
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0)
		goto fail;
	w->peer = util_xstrdup(peer_ip);
	w->port = port;
	w->con_id = con_id;
	w->max_size = max_size ? max_size : XLOG_DEFAULT_SIZE;
	w->file_seq = first_file_seq;
	util_buf_init(&w->rec);
	if (create_file(w) < 0)
		goto fail;
	return w;
fail:
	saved = errno;
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->peer);
	util_buf_free(&w->rec);
	free(w);
	errno = saved;
	return NULL;
}

int xlog_append(struct xlog_writer *w, const struct ditto_op *op)
{
	struct util_buf *b = &w->rec;
	uint8_t *p;
	size_t plen;
	int saved;

	if (w->broken) {
		errno = EIO;
		return -1;
	}
	util_buf_reset(b);
	util_buf_reserve(b, REC_HDR);
	b->len = REC_HDR;
	if (op_encode(op, b) < 0)
		return -1;
	plen = b->len - REC_HDR;
	p = (uint8_t *)b->data;
	wr32(p, (uint32_t)plen);
	wr64(p + 4, op->seq);
	util_buf_reserve(b, 8);
	p = (uint8_t *)b->data;
	wr64(p + b->len, XXH3_64bits(p, b->len));
	b->len += 8;

	if (w->fd >= 0 && w->records > 0 && w->size + b->len > w->max_size &&
	    finish_file(w) < 0)
		return -1;
	if (w->fd < 0 && create_file(w) < 0)
		return -1;
	if (pwrite_full(w->fd, b->data, b->len, w->size) < 0) {
		saved = errno;
		/* Cut the partial record off so the next one does not land
		 * after garbage; if even that fails, stop writing here. */
		if (ftruncate(w->fd, (off_t)w->size) < 0)
			w->broken = true;
		errno = saved;
		return -1;
	}
	w->size += b->len;
	w->records++;
	return 0;
}

int xlog_roll(struct xlog_writer *w)
{
	if (w->broken) {
		errno = EIO;
		return -1;
	}
	if (w->fd < 0 || w->records == 0)
		return 0;
	return finish_file(w);
}

int xlog_sync(struct xlog_writer *w)
{
	if (w->broken) {
		errno = EIO;
		return -1;
	}
	if (w->fd >= 0 && fdatasync(w->fd) < 0) {
		w->broken = true;
		return -1;
	}
	return 0;
}

int xlog_writer_close(struct xlog_writer *w)
{
	int ret = 0, saved = 0;

	if (!w)
		return 0;
	if (w->broken) {
		ret = -1;
		saved = EIO;
	} else if (w->fd >= 0 && fdatasync(w->fd) < 0) {
		ret = -1;
		saved = errno;
	}
	if (w->fd >= 0)
		close(w->fd);
	close(w->dirfd);
	free(w->peer);
	util_buf_free(&w->rec);
	free(w);
	if (ret < 0)
		errno = saved;
	return ret;
}

uint64_t xlog_writer_file_seq(const struct xlog_writer *w)
{
	return w->file_seq;
}

uint64_t xlog_writer_file_size(const struct xlog_writer *w)
{
	return w->fd >= 0 ? w->size : 0;
}

/* --- listing -------------------------------------------------------------- */

static int cmp_file(const void *a, const void *b)
{
	const struct xlog_file *x = a, *y = b;

	return x->file_seq < y->file_seq ? -1 : x->file_seq > y->file_seq;
}

int xlog_list(const char *dir, const char *peer_ip, uint16_t port,
	      uint32_t con_id, struct xlog_files *out)
{
	struct xlog_files f = { NULL, 0 };
	size_t cap = 0, plen;
	char prefix[128];
	struct dirent *e;
	DIR *d = NULL;
	int ret = -1, saved;

	if (!peer_ok(peer_ip)) {
		errno = EINVAL;
		goto done;
	}
	if (util_snprintf(prefix, sizeof(prefix), "%s_%u_%" PRIu32 "_",
			  peer_ip, (unsigned)port, con_id) < 0) {
		errno = ENAMETOOLONG;
		goto done;
	}
	plen = strlen(prefix);
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			ret = 0;
		goto done;
	}
	for (;;) {
		const char *s;
		uint64_t seq;
		size_t n;

		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno)
				goto done;
			break;
		}
		n = strlen(e->d_name);
		if (n < plen + 5 || memcmp(e->d_name, prefix, plen) != 0 ||
		    strcmp(e->d_name + n - 5, ".xlog") != 0)
			continue;
		s = e->d_name + plen;
		if (parse_seq(s, n - plen - 5, &seq) < 0)
			continue;
		if (f.n == cap) {
			cap = cap ? cap * 2 : 16;
			f.v = util_xreallocarray(f.v, cap, sizeof(*f.v));
		}
		f.v[f.n].file_seq = seq;
		f.v[f.n].path = util_xasprintf("%s/%s", dir, e->d_name);
		f.n++;
	}
	if (f.n)
		qsort(f.v, f.n, sizeof(*f.v), cmp_file);
	ret = 0;
done:
	saved = errno;
	if (d)
		closedir(d);
	if (ret < 0)
		xlog_files_free(&f);
	*out = f;
	errno = saved;
	return ret;
}

void xlog_files_free(struct xlog_files *files)
{
	size_t i;

	for (i = 0; i < files->n; i++)
		free(files->v[i].path);
	free(files->v);
	files->v = NULL;
	files->n = 0;
}

/* --- reader --------------------------------------------------------------- */

struct xlog_reader {
	int fd;
	char *path;
	uint64_t off;        /* start of the next record */
	int status;          /* 0, or the sticky -1/-2 */
	bool have_hdr;
	struct xlog_header hdr;
	char err[160];
	/* Read-ahead window: file bytes [wstart, wstart + wlen) in buf. */
	uint8_t *buf;
	size_t cap;
	uint64_t wstart;
	size_t wlen;
};

static int fail(struct xlog_reader *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct xlog_reader *r, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->status = status;
	return status;
}

/* Makes file bytes [off, off + n) available at *p; returns how many are
 * (fewer than n only at end of file), or -1 on a read error. */
static ssize_t window(struct xlog_reader *r, uint64_t off, size_t n,
		      const uint8_t **p)
{
	if (off < r->wstart || off > r->wstart + r->wlen) {
		r->wstart = off;
		r->wlen = 0;
	}
	if (off + n > r->wstart + r->wlen) {
		size_t keep = (size_t)(r->wstart + r->wlen - off);
		size_t want = n > READ_CHUNK ? n : READ_CHUNK;

		/* Slide the tail we still need to the front, then read
		 * ahead a chunk so small records cost no syscall each. */
		if (keep)
			memmove(r->buf, r->buf + (off - r->wstart), keep);
		r->wstart = off;
		r->wlen = keep;
		if (r->cap < want) {
			r->buf = util_xrealloc(r->buf, want);
			r->cap = want;
		}
		while (r->wlen < n) {
			ssize_t got = pread(r->fd, r->buf + r->wlen,
					    r->cap - r->wlen,
					    (off_t)(r->wstart + r->wlen));

			if (got < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			if (got == 0)
				break;
			r->wlen += (size_t)got;
		}
	}
	*p = r->buf + (off - r->wstart);
	return (ssize_t)(r->wstart + r->wlen - off < n ?
			 r->wstart + r->wlen - off : n);
}

/* True if every byte from off to the end of the file is zero: space the
 * file system extended but a write never filled. */
static int zero_tail(struct xlog_reader *r, uint64_t off)
{
	for (;;) {
		const uint8_t *p;
		ssize_t got = window(r, off, READ_CHUNK, &p);
		ssize_t i;

		if (got < 0)
			return -1;
		for (i = 0; i < got; i++)
			if (p[i])
				return 0;
		if ((size_t)got < READ_CHUNK)
			return 1;
		off += (uint64_t)got;
	}
}

/* True if an intact record starts anywhere in p[1..n): then the record at
 * p[0] was not the last write, and its short length is damage. */
static bool intact_record_follows(const uint8_t *p, size_t n)
{
	size_t o;

	for (o = 1; o + XLOG_REC_OVERHEAD + OP_ENCODED_MIN <= n; o++) {
		uint32_t len = rd32(p + o);

		if (!len_in_bounds(len) ||
		    len > n - o - XLOG_REC_OVERHEAD)
			continue;
		if (XXH3_64bits(p + o, REC_HDR + len) ==
		    rd64(p + o + REC_HDR + len))
			return true;
	}
	return false;
}

static int read_header(struct xlog_reader *r)
{
	const uint8_t *h;
	ssize_t got = window(r, 0, XLOG_HDR_LEN, &h);
	const char *base;
	uint32_t con_id;
	uint64_t seq;

	if (got < 0)
		return fail(r, -1, "read error at offset 0: %s",
			    strerror(errno));
	if ((size_t)got < XLOG_HDR_LEN) {
		size_t m = (size_t)got < 8 ? (size_t)got : 8;

		if (memcmp(h, XLOG_MAGIC, m) != 0)
			return fail(r, -1, "bad magic at offset 0");
		return fail(r, -2, "incomplete file header (%zd of %u bytes)",
			    got, XLOG_HDR_LEN);
	}
	if (memcmp(h, XLOG_MAGIC, 8) != 0)
		return fail(r, -1, "bad magic at offset 0");
	if (XXH3_64bits(h, 32) != rd64(h + 32))
		return fail(r, -1, "file header checksum mismatch");
	r->hdr.version = rd32(h + 8);
	r->hdr.con_id = rd32(h + 12);
	r->hdr.file_seq = rd64(h + 16);
	r->hdr.created_ns = rd64(h + 24);
	if (r->hdr.version != XLOG_VERSION)
		return fail(r, -1, "unsupported xlog version %" PRIu32,
			    r->hdr.version);
	/* A file renamed or copied under another connection's name must not
	 * be replayed into that connection. */
	base = strrchr(r->path, '/');
	base = base ? base + 1 : r->path;
	if (parse_name(base, &con_id, &seq) == 0 &&
	    (con_id != r->hdr.con_id || seq != r->hdr.file_seq))
		return fail(r, -1, "file header (connection %" PRIu32
			    ", file %" PRIu64 ") does not match the file name",
			    r->hdr.con_id, r->hdr.file_seq);
	r->have_hdr = true;
	r->off = XLOG_HDR_LEN;
	return 0;
}

struct xlog_reader *xlog_reader_open(const char *path)
{
	struct xlog_reader *r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	r = util_xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->path = util_xstrdup(path);
	(void)read_header(r);
	return r;
}

/* The record at r->off runs past the end of the file (avail bytes there):
 * torn if nothing intact follows it. */
static int short_record(struct xlog_reader *r, uint64_t avail,
			const char *what)
{
	const uint8_t *p;
	ssize_t got = window(r, r->off, (size_t)avail, &p);

	if (got < 0)
		return fail(r, -1, "read error at offset %" PRIu64 ": %s",
			    r->off, strerror(errno));
	if (intact_record_follows(p, (size_t)got))
		return fail(r, -1, "%s at offset %" PRIu64
			    " but intact records follow", what, r->off);
	return fail(r, -2, "torn record at offset %" PRIu64 " (%s)", r->off,
		    what);
}

int xlog_read(struct xlog_reader *r, struct ditto_op *op)
{
	const uint8_t *p;
	const char *why = NULL;
	uint32_t len;
	uint64_t seq;
	ssize_t got;
	size_t total;
	int z;

	memset(op, 0, sizeof(*op));
	if (r->status)
		return r->status;
	got = window(r, r->off, REC_HDR, &p);
	if (got < 0)
		return fail(r, -1, "read error at offset %" PRIu64 ": %s",
			    r->off, strerror(errno));
	if (got == 0)
		return 0;
	if (got >= 4 && !len_in_bounds(rd32(p))) {
		z = zero_tail(r, r->off);
		if (z < 0)
			return fail(r, -1, "read error at offset %" PRIu64
				    ": %s", r->off, strerror(errno));
		if (z)
			return fail(r, -2, "zero-filled tail at offset %"
				    PRIu64, r->off);
		return fail(r, -1, "record length %" PRIu32
			    " out of bounds at offset %" PRIu64, rd32(p),
			    r->off);
	}
	if ((size_t)got < REC_HDR)
		return fail(r, -2, "torn record header at offset %" PRIu64,
			    r->off);
	len = rd32(p);
	seq = rd64(p + 4);
	total = XLOG_REC_OVERHEAD + len;
	got = window(r, r->off, total, &p);
	if (got < 0)
		return fail(r, -1, "read error at offset %" PRIu64 ": %s",
			    r->off, strerror(errno));
	if ((size_t)got < total)
		return short_record(r, (uint64_t)got,
				    "record cut short by end of file");
	if (XXH3_64bits(p, REC_HDR + len) != rd64(p + REC_HDR + len))
		return fail(r, -1, "checksum mismatch in record at offset %"
			    PRIu64, r->off);
	if (op_decode_why(p + REC_HDR, len, op, &why) < 0)
		return fail(r, -1, "undecodable op at offset %" PRIu64 ": %s",
			    r->off, why);
	if (op->seq != seq) {
		op_free(op);
		return fail(r, -1, "record seq %" PRIu64 " differs from op seq"
			    " at offset %" PRIu64, seq, r->off);
	}
	r->off += total;
	return 1;
}

const char *xlog_reader_error(const struct xlog_reader *r)
{
	return r->err;
}

uint64_t xlog_reader_offset(const struct xlog_reader *r)
{
	return r->off;
}

const struct xlog_header *xlog_reader_header(const struct xlog_reader *r)
{
	return r->have_hdr ? &r->hdr : NULL;
}

void xlog_reader_close(struct xlog_reader *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r->path);
	free(r->buf);
	free(r);
}

int xlog_truncate_tail(const char *path, uint64_t offset)
{
	struct stat st;
	int fd, ret = -1, saved;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto done;
	if (offset > (uint64_t)st.st_size) {
		errno = EINVAL;
		goto done;
	}
	if (ftruncate(fd, (off_t)offset) < 0 || fdatasync(fd) < 0)
		goto done;
	ret = 0;
done:
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int xlog_remove(const char *path)
{
	if (unlink(path) < 0)
		return -1;
	return util_fsync_parent(path);
}
