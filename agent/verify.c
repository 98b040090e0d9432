#include "config.h"

#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bhash.h"
#include "op.h"
#include "util.h"

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void add_range(struct wire_report *rep, uint64_t off, uint64_t len)
{
	struct wire_range *last = rep->nranges ? &rep->ranges[rep->nranges - 1] : NULL;

	if (last && last->off + last->len == off) {
		last->len += len;
	} else if (rep->nranges < WIRE_REPORT_RANGES) {
		rep->ranges[rep->nranges].off = off;
		rep->ranges[rep->nranges].len = len;
		rep->nranges++;
	} else {
		/* Out of room: one coarse range to the end is still right. */
		last->len = off + len - last->off;
	}
}

/* Compares block hashes; fd is the target file opened for reading. */
static int compare_blocks(int fd, const struct ditto_op *op,
			  struct wire_report *rep)
{
	uint32_t block = (uint32_t)op->off;
	uint64_t n = op->data_len / 8, i, chunk = 256;
	uint64_t *mine = util_xcalloc(chunk, sizeof(*mine));
	uint8_t *buf = util_xmalloc(block);
	int rc = 0;

	for (i = 0; i < n; i += chunk) {
		uint64_t k = n - i < chunk ? n - i : chunk, j;

		rc = bhash_file(fd, op->len, block, i, k, mine, buf);
		if (rc < 0)
			break;
		for (j = 0; j < k; j++) {
			uint64_t off = (i + j) * block;

			if (mine[j] == bhash_get(op->data + (i + j) * 8))
				continue;
			rep->what |= WIRE_DIFF_DATA;
			add_range(rep, off, op->len - off < block ? op->len - off : block);
		}
	}
	free(mine);
	free(buf);
	return rc;
}

static void fail(struct wire_report *rep, int err)
{
	rep->what |= WIRE_DIFF_ERROR;
	rep->result = (uint32_t)(err < 0 ? -err : err);
}

int verify_entry(struct apply_root *r, const struct ditto_op *op,
		 struct wire_report *rep)
{
	struct stat st, st2;
	int fd, fd2 = -1;

	rep->what = 0;
	rep->result = 0;
	rep->nranges = 0;
	fd = apply_open_beneath(r, op->path, op->path_len, O_PATH);
	if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV) {
		rep->what = WIRE_DIFF_MISSING;
		return 0;
	}
	if (fd < 0) {
		fail(rep, fd);
		return 0;
	}
	if (fstat(fd, &st) < 0) {
		fail(rep, errno);
		goto done;
	}
	rep->size = (uint64_t)st.st_size;
	rep->mtime_ns = ts_ns(&st.st_mtim);
	rep->mode = st.st_mode;
	rep->uid = st.st_uid;
	rep->gid = st.st_gid;
	if ((st.st_mode & S_IFMT) != (op->mode & S_IFMT) ||
	    ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && st.st_rdev != op->rdev)) {
		rep->what |= WIRE_DIFF_TYPE;
		goto done;
	}
	if (op->flags & DITTO_VERIFY_GUARD) {
		/* Only what says whose content the copy holds: the source's
		 * permissions or owner may have changed since. */
		if ((uint64_t)st.st_size != op->len)
			rep->what |= WIRE_DIFF_SIZE;
		if (rep->mtime_ns != op->mtime_ns)
			rep->what |= WIRE_DIFF_MTIME;
		goto done;
	}
	if (!S_ISLNK(st.st_mode) && (st.st_mode & 07777) != (op->mode & 07777))
		rep->what |= WIRE_DIFF_MODE;
	if (st.st_uid != op->uid || st.st_gid != op->gid)
		rep->what |= WIRE_DIFF_OWNER;
	if ((op->attr_mask & DITTO_ATTR_MTIME) && rep->mtime_ns != op->mtime_ns)
		rep->what |= WIRE_DIFF_MTIME;
	if (S_ISLNK(st.st_mode) && !(op->flags & DITTO_VERIFY_LINK)) {
		char t[DITTO_PATH_MAX + 2];
		ssize_t n = readlinkat(fd, "", t, sizeof(t));

		if (n < 0)
			fail(rep, errno);
		else if ((size_t)n != op->data_len || memcmp(t, op->data, (size_t)n))
			rep->what |= WIRE_DIFF_LINK;
	}
	if (op->flags & DITTO_VERIFY_LINK) {
		fd2 = apply_open_beneath(r, (const char *)op->data, op->data_len, O_PATH);
		if (fd2 < 0 || fstat(fd2, &st2) < 0 || st2.st_dev != st.st_dev ||
		    st2.st_ino != st.st_ino)
			rep->what |= WIRE_DIFF_LINK;
	}
	if (S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size != op->len)
			rep->what |= WIRE_DIFF_SIZE;
		if ((op->flags & DITTO_VERIFY_CHECKSUM) &&
		    (!(op->flags & DITTO_VERIFY_FLAGGED) ||
		     (rep->what & (WIRE_DIFF_SIZE | WIRE_DIFF_MTIME)))) {
			/* Reopen for reading: the O_PATH fd cannot read. */
			char self[64];
			int rfd, rc;

			snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
			rfd = open(self, O_RDONLY | O_CLOEXEC | O_NOATIME);
			if (rfd < 0 && errno == EPERM)
				rfd = open(self, O_RDONLY | O_CLOEXEC);
			if (rfd < 0) {
				fail(rep, errno);
				goto done;
			}
			rc = compare_blocks(rfd, op, rep);
			close(rfd);
			if (rc < 0)
				fail(rep, rc);
		}
	}
done:
	if (fd2 >= 0)
		close(fd2);
	close(fd);
	return 0;
}
