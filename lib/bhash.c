#include "config.h"

#include "bhash.h"

#include <errno.h>
#include <unistd.h>
#include <xxhash.h>

#include "ditto/op.h"

uint32_t bhash_block_size(uint64_t size, uint32_t min_block)
{
	uint64_t b = 4096;

	while (b < min_block && b < (1u << 30))
		b <<= 1;
	while (bhash_blocks(size, (uint32_t)b) > DITTO_VERIFY_HASH_MAX &&
	       b < (1u << 30))
		b <<= 1;
	return (uint32_t)b;
}

uint64_t bhash_blocks(uint64_t size, uint32_t block)
{
	return size / block + (size % block != 0);
}

int bhash_file(int fd, uint64_t size, uint32_t block, uint64_t first,
	       uint64_t n, uint64_t *out, uint8_t *buf)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		uint64_t off = (first + i) * block;
		size_t want = off >= size ? 0 :
			      size - off < block ? (size_t)(size - off) : block;
		size_t got = 0;
		ssize_t r;

		while (got < want) {
			r = pread(fd, buf + got, want - got, (off_t)(off + got));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				break;
			got += (size_t)r;
		}
		/* A short block is salted with its length, so "shorter" never
		 * hashes like "the same bytes". */
		out[i] = XXH3_64bits_withSeed(buf, got, got == want ? 0 : got + 1);
	}
	return 0;
}

void bhash_put(uint8_t *p, uint64_t h)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(h >> (8 * i));
}

uint64_t bhash_get(const uint8_t *p)
{
	uint64_t h = 0;
	int i;

	for (i = 0; i < 8; i++)
		h |= (uint64_t)p[i] << (8 * i);
	return h;
}
