#include "config.h"

/* Fuzz target for the xlog reader: the bytes become a file (an anonymous
 * memory file named by /proc/self/fd/N) that is read to its end.
 *
 * Input: one control byte, then the file. With bit 0 of the control byte
 * set, the harness first repairs the header checksum and the checksum of
 * every record it can walk to, so the fuzzer gets past the checksums into
 * the op decoder and the torn-tail logic instead of stopping at the first
 * hash it cannot forge.
 *
 * Checked beyond not crashing: ops read are valid; after a torn tail (-2),
 * cutting the file at the reported offset leaves a file that reads the
 * same ops and then ends cleanly. */

#include "op.h"
#include "util.h"
#include "xlog.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void wr64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void repair(uint8_t *p, size_t n)
{
	size_t off = XLOG_HDR_LEN;

	if (n < XLOG_HDR_LEN)
		return;
	wr64(p + 32, XXH3_64bits(p, 32));
	while (n - off >= XLOG_REC_OVERHEAD) {
		uint32_t len = rd32(p + off);

		if (len > n - off - XLOG_REC_OVERHEAD)
			break;
		wr64(p + off + 12 + len, XXH3_64bits(p + off, 12 + (size_t)len));
		off += XLOG_REC_OVERHEAD + len;
	}
}

/* Reads path to its end; returns the status and the number of ops, and
 * the offset where reading stopped. */
static int read_file(const char *path, uint64_t *nops, uint64_t *off)
{
	struct xlog_reader *r = xlog_reader_open(path);
	struct ditto_op op;
	int rc;

	if (!r)
		abort();
	*nops = 0;
	while ((rc = xlog_read(r, &op)) == 1) {
		if (op_validate(&op, NULL) < 0)
			abort();
		op_free(&op);
		(*nops)++;
	}
	if (op.path || op.data)
		abort();
	if (rc < -2 || rc > 0 || (rc < 0 && !*xlog_reader_error(r)))
		abort();
	/* Errors and the clean end are sticky. */
	if (xlog_read(r, &op) != rc)
		abort();
	*off = xlog_reader_offset(r);
	xlog_reader_close(r);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t nops, off, nops2, off2;
	uint8_t *copy = NULL;
	char path[64];
	int fd, rc;

	if (size < 1)
		return 0;
	fd = memfd_create("fuzz_xlog", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	copy = util_xmalloc(size);
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		repair(copy, size - 1);
	if (util_write_full(fd, copy, size - 1) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	rc = read_file(path, &nops, &off);
	if (off > size - 1)
		abort();
	if (rc == -2) {
		if (xlog_truncate_tail(path, off) < 0)
			abort();
		rc = read_file(path, &nops2, &off2);
		/* A header that never completed stays incomplete (the
		 * caller removes such a file); anything else now ends
		 * cleanly after the same ops. */
		if (off == 0 ? rc != -2 : (rc != 0 || nops2 != nops ||
					   off2 != off))
			abort();
	}
	free(copy);
	close(fd);
	return 0;
}
