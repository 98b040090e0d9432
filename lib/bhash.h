/* bhash — block checksums of file data (XXH3-64 of each block), computed the
 * same way by the source, which sends them in VERIFY ops, and by the target,
 * which compares them with its own copy and answers with the ranges that
 * differ. */
#ifndef DITTO_BHASH_H
#define DITTO_BHASH_H

#include <stddef.h>
#include <stdint.h>

#define BHASH_BLOCK_DEFAULT (64u << 10)

/* The block size for a file of size bytes: min_block (rounded up to a power
 * of two, at least 4 KiB) doubled until the hashes fit one VERIFY op
 * (DITTO_VERIFY_HASH_MAX of them). */
uint32_t bhash_block_size(uint64_t size, uint32_t min_block);
/* Number of blocks of size bytes. */
uint64_t bhash_blocks(uint64_t size, uint32_t block);
/* Hashes blocks [first, first + n) of fd (block bytes each, the last one cut
 * at size) into out. Bytes the file no longer has (it shrank) hash as
 * absent, so they compare unequal to any data. buf holds block bytes.
 * 0, or -errno on a read error. */
int bhash_file(int fd, uint64_t size, uint32_t block, uint64_t first,
	       uint64_t n, uint64_t *out, uint8_t *buf);
/* Little-endian packing, as hashes travel in op data. */
void bhash_put(uint8_t *p, uint64_t h);
uint64_t bhash_get(const uint8_t *p);

#endif
