#include "config.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n)
{
	fprintf(stderr, "ditto: out of memory allocating %zu bytes\n", n);
	abort();
}

void *util_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *util_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom(nmemb * size);
	return p;
}

void *util_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom(n);
	return q;
}

void *util_xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		oom(SIZE_MAX);
	return util_xrealloc(p, nmemb * size);
}

char *util_xstrdup(const char *s)
{
	return util_xstrndup(s, strlen(s));
}

char *util_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = util_xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int util_read_file(const char *path, size_t max, char **data, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	ssize_t got;
	int fd, ret = -1, saved = 0;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		saved = errno;
		goto done;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		saved = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		goto done;
	}
	buf = util_xmalloc((size_t)st.st_size + 1);
	got = util_read_full(fd, buf, (size_t)st.st_size);
	if (got < 0) {
		saved = errno;
		goto done;
	}
	buf[got] = '\0';
	*data = buf;
	*len = (size_t)got;
	buf = NULL;
	ret = 0;
done:
	if (fd >= 0)
		close(fd);
	free(buf);
	errno = saved;
	return ret;
}

void util_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

char *util_xasprintf(const char *fmt, ...)
{
	struct util_buf b;
	va_list ap;

	util_buf_init(&b);
	va_start(ap, fmt);
	util_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return util_buf_steal(&b);
}

size_t util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

size_t util_strlcat(char *dst, const char *src, size_t size)
{
	size_t dlen = strnlen(dst, size);

	if (dlen == size)
		return size + strlen(src);
	return dlen + util_strlcpy(dst + dlen, src, size - dlen);
}

int util_snprintf(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return 0;
}

bool util_streq_ci(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

void util_buf_init(struct util_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void util_buf_free(struct util_buf *b)
{
	free(b->data);
	util_buf_init(b);
}

void util_buf_reset(struct util_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void util_buf_reserve(struct util_buf *b, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX - b->len - 1)
		oom(SIZE_MAX);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	if (b->cap < 64)
		b->cap = 64;
	while (b->cap < need)
		b->cap = b->cap > SIZE_MAX / 2 ? need : b->cap * 2;
	b->data = util_xrealloc(b->data, b->cap);
}

void util_buf_append(struct util_buf *b, const void *p, size_t n)
{
	util_buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void util_buf_puts(struct util_buf *b, const char *s)
{
	util_buf_append(b, s, strlen(s));
}

void util_buf_vprintf(struct util_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	char probe[1];
	int n;

	/* Measures into a real 1-byte buffer: with NULL, gcc 12 -O2
	 * -fsanitize=undefined reports a bogus "null format string". */
	va_copy(ap2, ap);
	n = vsnprintf(probe, sizeof(probe), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	util_buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void util_buf_printf(struct util_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	util_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *util_buf_steal(struct util_buf *b)
{
	char *p = b->data;

	if (!p)
		p = util_xstrdup("");
	util_buf_init(b);
	return p;
}

/* Shared tail of the strict parsers: strtoll/strtoull report overflow in
 * errno and stop at the first bad character, both of which are errors here. */
static int parse_end(const char *end)
{
	if (errno)
		return -1;
	if (*end) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int util_parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (parse_end(end) < 0)
		return -1;
	*out = v;
	return 0;
}

int util_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull silently negates "-1"; refuse any sign. */
	if (!s || !isdigit((unsigned char)*s)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (parse_end(end) < 0)
		return -1;
	*out = v;
	return 0;
}

int util_parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t len;
	unsigned shift = 0;
	uint64_t v;

	if (!s || !*s) {
		errno = EINVAL;
		return -1;
	}
	len = strlen(s);
	switch (toupper((unsigned char)s[len - 1])) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	default: break;
	}
	if (shift)
		len--;
	if (len == 0 || len >= sizeof(num)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(num, s, len);
	num[len] = '\0';
	if (util_parse_u64(num, &v) < 0)
		return -1;
	if (shift && v > (UINT64_MAX >> shift)) {
		errno = ERANGE;
		return -1;
	}
	*out = v << shift;
	return 0;
}

int util_parse_hostport(const char *s, char *host, size_t hostlen,
			uint16_t *port)
{
	const char *colon, *hstart = s, *hend;
	uint64_t p;

	if (!s) {
		errno = EINVAL;
		return -1;
	}
	if (*s == '[') {
		hend = strchr(s, ']');
		if (!hend) {
			errno = EINVAL;
			return -1;
		}
		hstart = s + 1;
		colon = hend[1] == ':' ? hend + 1 : NULL;
		if (hend[1] && !colon) {
			errno = EINVAL;
			return -1;
		}
	} else {
		colon = strrchr(s, ':');
		/* A bare IPv6 address has several colons and no port. */
		if (colon && strchr(s, ':') != colon)
			colon = NULL;
		hend = colon ? colon : s + strlen(s);
	}
	if (colon) {
		if (util_parse_u64(colon + 1, &p) < 0 || p == 0 || p > 65535) {
			errno = EINVAL;
			return -1;
		}
		*port = (uint16_t)p;
	}
	if (hend > hstart) {
		size_t n = (size_t)(hend - hstart);

		if (n >= hostlen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(host, hstart, n);
		host[n] = '\0';
	}
	return 0;
}

int util_write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t util_read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int util_mkdir_p(const char *path, unsigned mode)
{
	char *tmp;
	int ret = -1;
	char *p;
	struct stat st;

	/* Like mkdir(""); also keeps the scan below inside the string. */
	if (!*path) {
		errno = ENOENT;
		return -1;
	}
	tmp = util_xstrdup(path);
	for (p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (tmp[0] && mkdir(tmp, mode) < 0 && errno != EEXIST)
				goto done;
			*p = c;
			if (!c)
				break;
		}
	}
	/* EEXIST also covers a file in the way of the last component. */
	if (stat(tmp, &st) < 0)
		goto done;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto done;
	}
	ret = 0;
done:
	free(tmp);
	return ret;
}

int util_fsync_parent(const char *path)
{
	char *dir = util_xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd, ret = -1, saved;

	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		goto done;
	ret = 0;
done:
	saved = errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	errno = saved;
	return ret;
}

int util_write_atomic(const char *path, const void *data, size_t len,
		      unsigned mode)
{
	char *tmp = util_xasprintf("%s.tmp.XXXXXX", path);
	int fd, ret = -1, saved;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto done;
	if (fchmod(fd, mode) < 0 || util_write_full(fd, data, len) < 0 ||
	    fsync(fd) < 0)
		goto done;
	if (close(fd) < 0) {
		fd = -1;
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto done;
	/* The rename itself must reach the disk too. */
	if (util_fsync_parent(path) < 0)
		goto done;
	ret = 0;
done:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(tmp);
	free(tmp);
	errno = saved;
	return ret;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t util_now_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t util_now_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}
