/* util — allocation that never returns NULL, bounded string helpers, a growable
 * string buffer and strict number parsing shared by every Ditto program. */
#ifndef DITTO_UTIL_H
#define DITTO_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

/* Allocation failure is not recoverable for a daemon that must not lose data
 * silently, so these abort with a message instead of returning NULL. */
void *util_xmalloc(size_t n);
void *util_xcalloc(size_t nmemb, size_t size);
void *util_xrealloc(void *p, size_t n);
void *util_xreallocarray(void *p, size_t nmemb, size_t size);
char *util_xstrdup(const char *s);
char *util_xstrndup(const char *s, size_t n);
char *util_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats an error message into err (errlen bytes); err NULL or errlen 0:
 * nothing. */
void util_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Copies at most size-1 bytes and always terminates; returns strlen(src) so a
 * caller detects truncation with `>= size`. */
size_t util_strlcpy(char *dst, const char *src, size_t size);
size_t util_strlcat(char *dst, const char *src, size_t size);
/* snprintf that reports truncation: 0 on success, -1 if it did not fit. */
int util_snprintf(char *dst, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

bool util_streq_ci(const char *a, const char *b);

/* Growable, always NUL-terminated buffer; also holds binary data. */
struct util_buf {
	char *data;
	size_t len;
	size_t cap;
};
void util_buf_init(struct util_buf *b);
void util_buf_free(struct util_buf *b);
void util_buf_reset(struct util_buf *b);
void util_buf_reserve(struct util_buf *b, size_t extra);
void util_buf_append(struct util_buf *b, const void *p, size_t n);
void util_buf_puts(struct util_buf *b, const char *s);
void util_buf_printf(struct util_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void util_buf_vprintf(struct util_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Hands the data to the caller (who frees it) and leaves b empty. */
char *util_buf_steal(struct util_buf *b);

/* Strict parsers: the whole string must be consumed, no overflow.
 * Return 0 on success, -1 with errno set (EINVAL, ERANGE) otherwise. */
int util_parse_i64(const char *s, int64_t *out);
int util_parse_u64(const char *s, uint64_t *out);
/* Byte sizes with optional K, M, G, T suffix (powers of 1024), e.g. "128M". */
int util_parse_size(const char *s, uint64_t *out);
/* "host:port", "[v6]:port", "host" or ":port"; missing parts keep the given
 * defaults. host is copied into a buffer of hostlen bytes. */
int util_parse_hostport(const char *s, char *host, size_t hostlen,
			uint16_t *port);

/* Write all of buf / read exactly n bytes, retrying on EINTR and short I/O.
 * util_read_full returns the bytes read (less than n only at EOF) or -1. */
int util_write_full(int fd, const void *buf, size_t n);
ssize_t util_read_full(int fd, void *buf, size_t n);
/* Reads a whole regular file of at most max bytes into a malloc'd,
 * NUL-terminated buffer. 0, or -1 with errno (EFBIG: too large, EINVAL:
 * not a regular file). */
int util_read_file(const char *path, size_t max, char **data, size_t *len);

/* Replaces path with data so that after a crash it holds either the old or
 * the new contents, never a mix: temporary file, fsync, rename, fsync of the
 * directory. errno is set on failure. */
int util_write_atomic(const char *path, const void *data, size_t len,
		      unsigned mode);
/* fsync the directory holding path, so a create, rename or unlink of path is
 * on disk. */
int util_fsync_parent(const char *path);

/* mkdir -p with the given mode for each created component. */
int util_mkdir_p(const char *path, unsigned mode);
/* Monotonic and wall clock in nanoseconds. */
uint64_t util_now_mono_ns(void);
uint64_t util_now_real_ns(void);

#define UTIL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
