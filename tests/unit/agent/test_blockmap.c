#include "config.h"

#include "blockmap.h"
#include "op.h"
#include "util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define KiB 1024u
#define MiB (1024u * 1024)

/* --- fixture: a temp dir with a source file, a target copy and a map dir -- */

struct rec {
	uint16_t kind, flags;
	uint64_t off, len;    /* len: FALLOCATE len or WRITE data_len */
};

struct tctx {
	int dst;              /* target copy the ops are applied to */
	struct rec *ops;
	size_t nops, cap;
	size_t fail_at;       /* emit fails on op #fail_at (1-based; 0: never) */
	/* emit hook: a pwrite into the source while the walk is running */
	int hook_fd;
	uint64_t hook_off;
	bool hooked;
	unsigned guards;      /* guards seen (not in ops) */
	int64_t guard_mtime;  /* the last one's */
};

static char tdir[64], src_path[128], dst_path[128], map_dir[128];
static struct tctx T;

static void setup(void)
{
	strcpy(tdir, "/tmp/test_blockmap.XXXXXX");
	cr_assert(mkdtemp(tdir));
	snprintf(src_path, sizeof(src_path), "%s/src", tdir);
	snprintf(dst_path, sizeof(dst_path), "%s/dst", tdir);
	snprintf(map_dir, sizeof(map_dir), "%s/maps", tdir);
	memset(&T, 0, sizeof(T));
	T.dst = open(dst_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(T.dst >= 0);
	T.hook_fd = -1;
}

static void teardown(void)
{
	char cmd[128];

	close(T.dst);
	free(T.ops);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	cr_assert(system(cmd) == 0);
}

TestSuite(blockmap, .init = setup, .fini = teardown);

/* The tiny applier: what the target's applier does with these ops. */
static int emit_cb(void *ctx, const struct ditto_op *op)
{
	struct tctx *t = ctx;
	const char *why = NULL;
	struct rec *r;

	cr_assert(op_validate(op, &why) == 0, "invalid op: %s", why);
	cr_assert(op->path_len == 1 && op->path[0] == 'f' && !op->path[1]);
	if (op->kind == DITTO_OP_VERIFY) {
		struct stat st;

		/* A delta's guard: first, once, naming the copy it is for. */
		cr_assert_eq(op->flags, DITTO_VERIFY_GUARD);
		cr_assert(S_ISREG(op->mode));
		cr_assert_eq(t->nops, 0, "the guard comes first");
		cr_assert(fstat(t->dst, &st) == 0);
		cr_assert_eq(op->len, (uint64_t)st.st_size);
		t->guards++;
		t->guard_mtime = op->mtime_ns;
		return 0;
	}
	if (t->fail_at && t->nops + 1 == t->fail_at)
		return -1;
	if (t->nops == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->ops = util_xreallocarray(t->ops, t->cap, sizeof(*t->ops));
	}
	r = &t->ops[t->nops++];
	r->kind = op->kind;
	r->flags = op->flags;
	r->off = op->off;
	switch (op->kind) {
	case DITTO_OP_WRITE:
		r->len = op->data_len;
		cr_assert(op->data_len > 0 && op->data_len <= DITTO_OP_DATA_MAX);
		cr_assert(op->data[op->data_len] == 0);
		cr_assert(pwrite(t->dst, op->data, op->data_len,
				 (off_t)op->off) == (ssize_t)op->data_len);
		break;
	case DITTO_OP_TRUNCATE:
		cr_assert(ftruncate(t->dst, (off_t)op->off) == 0);
		break;
	case DITTO_OP_FALLOCATE:
		r->len = op->len;
		cr_assert(op->flags == (DITTO_FALLOC_PUNCH_HOLE |
					DITTO_FALLOC_KEEP_SIZE));
		cr_assert(fallocate(t->dst, FALLOC_FL_PUNCH_HOLE |
				    FALLOC_FL_KEEP_SIZE, (off_t)op->off,
				    (off_t)op->len) == 0);
		break;
	default:
		cr_assert_fail("unexpected op kind %u", op->kind);
	}
	if (t->hook_fd >= 0 && !t->hooked) {
		/* The file changes while it is being read. */
		t->hooked = true;
		cr_assert(pwrite(t->hook_fd, "CHANGED!", 8,
				 (off_t)t->hook_off) == 8);
	}
	return 0;
}

static void clear_ops(void)
{
	T.nops = 0;
	T.guards = 0;
}

static int sync_path(struct blockmap_store *s, const char *path,
		     struct blockmap_result *res)
{
	struct stat st;
	int fd = open(path, O_RDONLY), ret;

	cr_assert(fd >= 0);
	cr_assert(fstat(fd, &st) == 0);
	clear_ops();
	ret = blockmap_sync_file(s, fd, &st, "f", 1, emit_cb, &T, res);
	close(fd);
	return ret;
}

static void sync_ok(struct blockmap_store *s, struct blockmap_result *res)
{
	cr_assert(sync_path(s, src_path, res) == 0, "sync: %s",
		  strerror(errno));
}

static struct blockmap_store *open_store(uint32_t bs)
{
	char err[256] = "";
	struct blockmap_store *s = blockmap_store_open(map_dir, bs, err,
						       sizeof(err));

	cr_assert(s, "open: %s", err);
	return s;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void fill_rnd(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd() >> 56);
}

static void pwrite_rnd(int fd, uint64_t off, size_t len)
{
	uint8_t *p = util_xmalloc(len);

	fill_rnd(p, len);
	cr_assert(pwrite(fd, p, len, (off_t)off) == (ssize_t)len);
	free(p);
}

/* Changes one byte for sure (a random one might be equal). */
static void flip(int fd, uint64_t off)
{
	uint8_t c = 0;

	cr_assert(pread(fd, &c, 1, (off_t)off) >= 0);
	c = (uint8_t)~c;
	cr_assert(pwrite(fd, &c, 1, (off_t)off) == 1);
}

/* A fresh dense source file of size bytes of random data. */
static void make_src(uint64_t size)
{
	int fd = open(src_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint64_t off;

	cr_assert(fd >= 0);
	for (off = 0; off < size; off += MiB)
		pwrite_rnd(fd, off, (size_t)(size - off < MiB ? size - off : MiB));
	close(fd);
}

static int open_src(void)
{
	int fd = open(src_path, O_RDWR);

	cr_assert(fd >= 0);
	return fd;
}

static void assert_same(void)
{
	int a = open(src_path, O_RDONLY);
	struct stat sa, sb;
	uint8_t *ba = util_xmalloc(MiB), *bb = util_xmalloc(MiB);
	uint64_t off;

	cr_assert(a >= 0);
	cr_assert(fstat(a, &sa) == 0 && fstat(T.dst, &sb) == 0);
	cr_assert_eq(sa.st_size, sb.st_size, "size %lld vs %lld",
		     (long long)sa.st_size, (long long)sb.st_size);
	for (off = 0; off < (uint64_t)sa.st_size; off += MiB) {
		ssize_t na = pread(a, ba, MiB, (off_t)off);
		ssize_t nb = pread(T.dst, bb, MiB, (off_t)off);

		cr_assert(na > 0 && na == nb);
		cr_assert(memcmp(ba, bb, (size_t)na) == 0,
			  "content differs in [%llu, +1 MiB)",
			  (unsigned long long)off);
	}
	close(a);
	free(ba);
	free(bb);
}

static size_t count_kind(uint16_t kind)
{
	size_t n = 0;

	for (size_t i = 0; i < T.nops; i++)
		n += T.ops[i].kind == kind;
	return n;
}

/* Calls fn (if not NULL) on every file under map_dir's fan-out
 * subdirectories; returns how many there are. */
static size_t each_map_file(void (*fn)(const char *path))
{
	DIR *d = opendir(map_dir), *sub;
	struct dirent *de, *fe;
	size_t n = 0;

	cr_assert(d);
	while ((de = readdir(d))) {
		char *sp;

		if (de->d_name[0] == '.')
			continue;
		sp = util_xasprintf("%s/%s", map_dir, de->d_name);
		sub = opendir(sp);
		cr_assert(sub);
		while ((fe = readdir(sub))) {
			char *p;

			if (fe->d_name[0] == '.')
				continue;
			n++;
			p = util_xasprintf("%s/%s", sp, fe->d_name);
			if (fn)
				fn(p);
			free(p);
		}
		closedir(sub);
		free(sp);
	}
	closedir(d);
	return n;
}

static size_t count_map_files(void)
{
	return each_map_file(NULL);
}

static void corrupt(const char *path)
{
	int fd = open(path, O_RDWR);

	cr_assert(fd >= 0);
	cr_assert(pwrite(fd, "x", 1, 100) == 1);
	close(fd);
}

/* --- tests ---------------------------------------------------------------- */

Test(blockmap, open_rejects_bad_block_sizes)
{
	char err[256];

	cr_assert_null(blockmap_store_open(map_dir, 2048, err, sizeof(err)));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(blockmap_store_open(map_dir, 3 * 4096, err, sizeof(err)));
	cr_assert_null(blockmap_store_open(map_dir, 32 * MiB, err, sizeof(err)));
	cr_assert(strstr(err, "power of two"));
	struct blockmap_store *s = open_store(0);
	cr_assert_eq(blockmap_store_block_size(s), 64 * KiB);
	blockmap_store_close(s);
	s = open_store(16 * MiB);
	blockmap_store_close(s);
}

Test(blockmap, first_sync_sends_everything_then_nothing)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;

	make_src(300 * KiB + 123);
	sync_ok(s, &res);
	cr_assert(res.full);
	cr_assert_eq(res.bytes_sent, 300 * KiB + 123);
	cr_assert_eq(res.bytes_read, 300 * KiB + 123);
	cr_assert_eq(res.blocks_changed, 5);
	cr_assert_eq(T.ops[0].kind, DITTO_OP_TRUNCATE);
	cr_assert_eq(T.ops[0].off, 0);
	cr_assert_eq(T.nops, 2); /* TRUNCATE(0), one coalesced WRITE */
	cr_assert_eq(T.ops[1].kind, DITTO_OP_WRITE);
	cr_assert_eq(T.ops[1].off, 0);
	cr_assert_eq(T.ops[1].len, 300 * KiB + 123);
	assert_same();
	cr_assert_eq(count_map_files(), 1);

	sync_ok(s, &res);
	cr_assert_not(res.full);
	cr_assert_eq(T.nops, 0);
	cr_assert_eq(res.bytes_sent, 0);
	cr_assert_eq(res.blocks_changed, 0);
	blockmap_store_close(s);
}

Test(blockmap, small_write_in_64mib_file_ships_one_block)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	uint64_t off = 32 * MiB + 10000;
	int fd;

	make_src(64 * MiB);
	sync_ok(s, &res);
	cr_assert(res.full);
	cr_assert_eq(res.bytes_sent, 64 * MiB);
	cr_assert_eq(count_kind(DITTO_OP_WRITE), 64); /* 1 MiB each */

	fd = open_src();
	pwrite_rnd(fd, off, 4 * KiB);
	close(fd);
	sync_ok(s, &res);
	cr_assert_not(res.full);
	cr_assert_eq(res.bytes_read, 64 * MiB);
	cr_assert_eq(res.bytes_sent, 64 * KiB);
	cr_assert_eq(res.blocks_changed, 1);
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].kind, DITTO_OP_WRITE);
	cr_assert_eq(T.ops[0].off, off / (64 * KiB) * (64 * KiB));
	cr_assert_eq(T.ops[0].len, 64 * KiB);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, adjacent_changed_blocks_coalesce)
{
	struct blockmap_store *s = open_store(4 * KiB);
	struct blockmap_result res;
	int fd;

	make_src(4 * MiB);
	sync_ok(s, &res);
	fd = open_src();
	/* Blocks 10..12 and 20: two WRITEs. */
	pwrite_rnd(fd, 10 * 4 * KiB + 100, 2 * 4 * KiB);
	flip(fd, 20 * 4 * KiB);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 2);
	cr_assert_eq(T.ops[0].off, 40 * KiB);
	cr_assert_eq(T.ops[0].len, 12 * KiB);
	cr_assert_eq(T.ops[1].off, 80 * KiB);
	cr_assert_eq(T.ops[1].len, 4 * KiB);
	cr_assert_eq(res.blocks_changed, 4);
	assert_same();

	/* A rewrite of 3 MiB: WRITEs capped at DITTO_OP_DATA_MAX. */
	fd = open_src();
	pwrite_rnd(fd, 0, 3 * MiB);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(T.ops[i].len, DITTO_OP_DATA_MAX);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, append_ships_only_the_tail)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	uint64_t size = 100 * KiB + 1;
	int fd;

	make_src(size);
	sync_ok(s, &res);
	fd = open_src();
	pwrite_rnd(fd, size, 5000);
	close(fd);
	sync_ok(s, &res);
	cr_assert_not(res.full);
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].kind, DITTO_OP_WRITE);
	cr_assert_eq(T.ops[0].off, size);
	cr_assert_eq(T.ops[0].len, 5000);
	cr_assert_eq(res.bytes_sent, 5000);
	assert_same();

	/* Past the block end: the rest of the partial block and new blocks,
	 * still only new bytes. */
	size += 5000;
	fd = open_src();
	pwrite_rnd(fd, size, 200 * KiB);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(res.bytes_sent, 200 * KiB);
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].off, size);
	assert_same();

	/* Append plus a change inside the old partial block: that block is
	 * sent from its start. */
	size += 200 * KiB;
	fd = open_src();
	pwrite_rnd(fd, size - 10, 20);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].off, size / (64 * KiB) * (64 * KiB));
	cr_assert_eq(T.ops[0].off + T.ops[0].len, size + 10);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, shrink_emits_truncate)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	int fd;

	make_src(300 * KiB);
	sync_ok(s, &res);
	fd = open_src();
	cr_assert(ftruncate(fd, 150 * KiB + 7) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert(T.nops >= 1);
	cr_assert_eq(T.ops[T.nops - 1].kind, DITTO_OP_TRUNCATE);
	cr_assert_eq(T.ops[T.nops - 1].off, 150 * KiB + 7);
	/* Only the new partial last block can need data. */
	cr_assert(res.bytes_sent <= 64 * KiB);
	assert_same();

	/* To a block boundary and to zero: a TRUNCATE alone. */
	fd = open_src();
	cr_assert(ftruncate(fd, 128 * KiB) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].kind, DITTO_OP_TRUNCATE);
	cr_assert_eq(T.ops[0].off, 128 * KiB);
	fd = open_src();
	cr_assert(ftruncate(fd, 0) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].off, 0);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, grow_with_hole_sends_no_zeros)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	struct stat st;
	int fd;

	make_src(100 * KiB);
	sync_ok(s, &res);
	fd = open_src();
	cr_assert(pwrite(fd, "0123456789", 10, 10 * MiB) == 10);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(res.bytes_sent, 10);
	cr_assert(res.bytes_read < 200 * KiB, "holes were read");
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].off, 10 * MiB);
	assert_same();
	cr_assert(fstat(T.dst, &st) == 0);
	cr_assert(st.st_blocks * 512 < 1 * MiB, "target not sparse");

	/* Pure growth: a TRUNCATE only. */
	fd = open_src();
	cr_assert(ftruncate(fd, 50 * MiB) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].kind, DITTO_OP_TRUNCATE);
	cr_assert_eq(T.ops[0].off, 50 * MiB);
	cr_assert_eq(res.bytes_sent, 0);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, sparse_first_sync_sends_data_extents_only)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	int fd = open(src_path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0);
	/* 1 GiB file, 3 small data islands: 16k blocks of map. */
	pwrite_rnd(fd, 0, 100);
	pwrite_rnd(fd, 512 * MiB + 4 * KiB, 8 * KiB);
	cr_assert(ftruncate(fd, 1024 * MiB) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert(res.full);
	cr_assert(res.bytes_sent <= 8 * KiB + 64 * KiB);
	cr_assert(res.bytes_read <= 2 * 64 * KiB);
	cr_assert_eq(T.ops[T.nops - 1].kind, DITTO_OP_TRUNCATE);
	cr_assert_eq(T.ops[T.nops - 1].off, 1024 * MiB);
	assert_same();
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 0);
	blockmap_store_close(s);
}

Test(blockmap, punched_hole_is_sent_as_punch)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	struct stat st0, st1;
	int fd;

	make_src(1 * MiB);
	sync_ok(s, &res);
	cr_assert(fstat(T.dst, &st0) == 0);
	fd = open_src();
	cr_assert(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    256 * KiB, 256 * KiB) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].kind, DITTO_OP_FALLOCATE);
	cr_assert_eq(T.ops[0].off, 256 * KiB);
	cr_assert_eq(T.ops[0].len, 256 * KiB);
	cr_assert_eq(res.bytes_sent, 0);
	cr_assert_eq(res.blocks_changed, 4);
	assert_same();
	cr_assert(fstat(T.dst, &st1) == 0);
	cr_assert(st1.st_blocks < st0.st_blocks);

	/* A hole inside a block: data around it rewritten, hole punched. */
	fd = open_src();
	cr_assert(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    600 * KiB, 8 * KiB) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(count_kind(DITTO_OP_FALLOCATE), 1);
	cr_assert_eq(res.bytes_sent, 64 * KiB - 8 * KiB);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, rename_keeps_the_map)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	char other[160];
	int fd;

	make_src(1 * MiB);
	sync_ok(s, &res);
	snprintf(other, sizeof(other), "%s/renamed", tdir);
	cr_assert(rename(src_path, other) == 0);
	fd = open(other, O_RDWR);
	cr_assert(fd >= 0);
	flip(fd, 0);
	close(fd);
	cr_assert(sync_path(s, other, &res) == 0);
	cr_assert_not(res.full);
	cr_assert_eq(res.bytes_sent, 64 * KiB);
	cr_assert(rename(other, src_path) == 0);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, other_inode_at_same_path_is_new)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	char tmp[160], cmd[400];

	make_src(1 * MiB);
	sync_ok(s, &res);
	/* Same content, new inode put over the name: sent in full. */
	snprintf(tmp, sizeof(tmp), "%s/tmp", tdir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src_path, tmp);
	cr_assert(system(cmd) == 0);
	cr_assert(rename(tmp, src_path) == 0);
	sync_ok(s, &res);
	cr_assert(res.full);
	cr_assert_eq(res.bytes_sent, 1 * MiB);
	assert_same();

	/* Deleted and recreated, possibly with the very inode number reused:
	 * birth time / generation tell them apart. */
	cr_assert(unlink(src_path) == 0);
	make_src(1 * MiB);
	sync_ok(s, &res);
	cr_assert(res.full);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, changes_behind_our_back_stay_correct)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	int fd;

	make_src(1 * MiB);
	sync_ok(s, &res);
	/* Several unsynced changes, size and mtime moved, mtime even set
	 * back to long ago: only content counts. */
	fd = open_src();
	pwrite_rnd(fd, 100 * KiB, 10);
	cr_assert(ftruncate(fd, 700 * KiB) == 0);
	pwrite_rnd(fd, 900 * KiB, 10);
	cr_assert(futimens(fd, old) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_not(res.full);
	assert_same();
	cr_assert(res.bytes_sent <= 3 * 64 * KiB);
	blockmap_store_close(s);
}

Test(blockmap, map_survives_reopen_and_cache_eviction)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	int fd;

	make_src(2 * MiB);
	sync_ok(s, &res);
	blockmap_store_close(s);

	s = open_store(0);
	fd = open_src();
	flip(fd, 1 * MiB);
	close(fd);
	sync_ok(s, &res);
	cr_assert_not(res.full);
	cr_assert_eq(res.bytes_sent, 64 * KiB);
	assert_same();

	/* No cache at all: every sync reloads from disk. */
	blockmap_store_set_cache_limit(s, 0);
	fd = open_src();
	flip(fd, 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_not(res.full);
	cr_assert_eq(res.bytes_sent, 64 * KiB);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 0);
	assert_same();
	blockmap_store_close(s);

	/* Another block size: the maps do not fit, a full send. */
	s = open_store(128 * KiB);
	sync_ok(s, &res);
	cr_assert(res.full);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, corrupt_map_file_means_full_send)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;

	make_src(1 * MiB);
	sync_ok(s, &res);
	blockmap_store_close(s);
	cr_assert_eq(each_map_file(corrupt), 1);
	s = open_store(0);
	sync_ok(s, &res);
	cr_assert(res.full);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, single_block_files_stay_in_memory)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	int fd;

	make_src(1000);
	sync_ok(s, &res);
	cr_assert_eq(count_map_files(), 0);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 0);
	/* Grows past one block: now on disk; shrinks back: removed. */
	fd = open_src();
	pwrite_rnd(fd, 1000, 100 * KiB);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(count_map_files(), 1);
	fd = open_src();
	cr_assert(ftruncate(fd, 10) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(count_map_files(), 0);
	assert_same();

	/* Empty file. */
	fd = open_src();
	cr_assert(ftruncate(fd, 0) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(T.nops, 1);
	cr_assert_eq(T.ops[0].kind, DITTO_OP_TRUNCATE);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, forget_and_invalidate_all)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	struct stat st;

	make_src(1 * MiB);
	sync_ok(s, &res);
	cr_assert(stat(src_path, &st) == 0);
	cr_assert_eq(count_map_files(), 1);
	cr_assert(blockmap_forget(s, st.st_dev, st.st_ino) == 0);
	cr_assert_eq(count_map_files(), 0);
	sync_ok(s, &res);
	cr_assert(res.full);
	cr_assert_eq(count_map_files(), 1);

	cr_assert(blockmap_invalidate_all(s) == 0);
	cr_assert_eq(count_map_files(), 0);
	sync_ok(s, &res);
	cr_assert(res.full);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, record_builds_the_map)
{
	struct blockmap_store *s = open_store(0);
	struct blockmap_result res;
	struct stat st;
	char cmd[400];
	int fd;

	make_src(1 * MiB);
	/* The "mirror" sent the file by other means. */
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src_path, dst_path);
	cr_assert(system(cmd) == 0);
	fd = open_src();
	cr_assert(fstat(fd, &st) == 0);
	cr_assert(blockmap_record(s, fd, &st) == 0);
	close(fd);
	cr_assert_eq(count_map_files(), 1);
	fd = open_src();
	flip(fd, 300 * KiB);
	close(fd);
	sync_ok(s, &res);
	cr_assert_not(res.full);
	cr_assert_eq(res.bytes_sent, 64 * KiB);
	assert_same();

	/* Changed since the caller's stat: nothing is recorded. */
	fd = open_src();
	cr_assert(fstat(fd, &st) == 0);
	usleep(20000);
	flip(fd, 0);
	cr_assert(blockmap_record(s, fd, &st) == 0);
	close(fd);
	cr_assert_eq(count_map_files(), 0);
	sync_ok(s, &res);
	cr_assert(res.full);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, failed_emit_drops_the_map)
{
	struct blockmap_store *s = open_store(4 * KiB);
	struct blockmap_result res;
	int fd;

	make_src(1 * MiB);
	sync_ok(s, &res);
	fd = open_src();
	flip(fd, 0);
	flip(fd, 512 * KiB);
	close(fd);
	T.fail_at = 2; /* the first WRITE reaches the target, not the second */
	cr_assert(sync_path(s, src_path, &res) == -1);
	cr_assert_eq(errno, ECANCELED);
	T.fail_at = 0;
	cr_assert_eq(count_map_files(), 0);
	sync_ok(s, &res);
	cr_assert(res.full);
	assert_same();

	/* Even a first op refused counts: the consumer may hold part of it. */
	fd = open_src();
	flip(fd, 0);
	close(fd);
	T.fail_at = 1;
	cr_assert(sync_path(s, src_path, &res) == -1);
	T.fail_at = 0;
	sync_ok(s, &res);
	cr_assert(res.full);
	assert_same();

	/* Failing before any op (here: unreadable fd) keeps the map. */
	fd = open_src();
	flip(fd, 8 * KiB);
	close(fd);
	fd = open(src_path, O_WRONLY);
	cr_assert(fd >= 0);
	{
		struct stat st;

		cr_assert(fstat(fd, &st) == 0);
		clear_ops();
		cr_assert(blockmap_sync_file(s, fd, &st, "f", 1, emit_cb, &T,
					     &res) == -1);
		cr_assert_eq(errno, EBADF);
		cr_assert_eq(T.nops, 0);
	}
	close(fd);
	sync_ok(s, &res);
	cr_assert_not(res.full);
	cr_assert_eq(res.bytes_sent, 4 * KiB);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, file_changing_while_read_converges)
{
	struct blockmap_store *s = open_store(4 * KiB);
	struct blockmap_result res;
	int fd;

	make_src(1 * MiB);
	sync_ok(s, &res);
	fd = open_src();
	flip(fd, 500 * KiB);
	/* While the sync emits its first op (for block 125), block 0 (read
	 * already) and block 200 (not yet) change. */
	T.hook_fd = fd;
	T.hook_off = 0;
	sync_ok(s, &res);
	cr_assert(pwrite(fd, "again", 5, 800 * KiB) == 5);
	T.hooked = false;
	T.hook_off = 1000 * KiB;
	sync_ok(s, &res);
	T.hook_fd = -1;
	sync_ok(s, &res);
	close(fd);
	assert_same();
	blockmap_store_close(s);
}

Test(blockmap, huge_blocks_split_writes)
{
	struct blockmap_store *s = open_store(16 * MiB);
	struct blockmap_result res;
	int fd;

	make_src(40 * MiB);
	sync_ok(s, &res);
	fd = open_src();
	flip(fd, 20 * MiB);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(res.bytes_sent, 16 * MiB);
	cr_assert_eq(T.nops, 16);
	for (size_t i = 0; i < T.nops; i++) {
		cr_assert_eq(T.ops[i].off, 16 * MiB + i * MiB);
		cr_assert_eq(T.ops[i].len, MiB);
	}
	assert_same();
	blockmap_store_close(s);
}

/* ~200 random edits of every kind on a 2 MiB file with 4 KiB blocks, the
 * store reopened and its cache squeezed now and then; after every sync the
 * target must equal the source byte for byte. */
Test(blockmap, random_edits_property, .timeout = 120)
{
	struct blockmap_store *s = open_store(4 * KiB);
	struct blockmap_result res;
	uint64_t size = 2 * MiB;
	int fd;

	rng_state = 0x1234567887654321ull;
	make_src(size);
	sync_ok(s, &res);
	assert_same();
	for (int i = 0; i < 200; i++) {
		int edits = 1 + (int)(rnd() % 3);
		/* A single-block map is memory only: gone with the cache. */
		bool kept = size > 4 * KiB;

		fd = open_src();
		while (edits--) {
			uint64_t off = size ? rnd() % (size + 8 * KiB) : 0;
			uint64_t len = 1 + rnd() % (64 * KiB);

			switch (rnd() % 8) {
			case 0: case 1: case 2: /* overwrite (or extend) */
				pwrite_rnd(fd, off, len);
				break;
			case 3: /* append */
				pwrite_rnd(fd, size, len);
				break;
			case 4: /* shrink */
				cr_assert(ftruncate(fd, (off_t)(off / 2)) == 0);
				break;
			case 5: /* grow with a hole */
				cr_assert(ftruncate(fd, (off_t)(size + len)) == 0);
				break;
			case 6: /* punch, any alignment */
				if (off < size)
					cr_assert(fallocate(fd,
						FALLOC_FL_PUNCH_HOLE |
						FALLOC_FL_KEEP_SIZE,
						(off_t)off, (off_t)len) == 0);
				break;
			case 7: /* write far out, leaving a hole */
				pwrite_rnd(fd, size + len * 4, 100);
				break;
			}
			struct stat st;
			cr_assert(fstat(fd, &st) == 0);
			size = (uint64_t)st.st_size;
			if (size > 8 * MiB) {
				cr_assert(ftruncate(fd, 2 * MiB) == 0);
				size = 2 * MiB;
			}
		}
		close(fd);
		if (rnd() % 20 == 0) {
			blockmap_store_close(s);
			s = open_store(4 * KiB);
		}
		if (rnd() % 20 == 0)
			blockmap_store_set_cache_limit(s, rnd() % 2 ? 0 : 1 * MiB);
		sync_ok(s, &res);
		cr_assert(!res.full || !kept, "edit %d: map lost", i);
		assert_same();
	}
	blockmap_store_close(s);
}

/* Every delta, even an empty one, is guarded with the size and mtime of the
 * copy the map describes; a full send is not guarded. */
Test(blockmap, deltas_carry_a_guard_of_the_mapped_copy)
{
	struct blockmap_store *s = open_store(4 * KiB);
	struct blockmap_result res;
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1000000, 123 } };
	int fd;

	make_src(64 * KiB);
	cr_assert(utimensat(AT_FDCWD, src_path, ts, 0) == 0);
	sync_ok(s, &res);
	cr_assert(res.full);
	cr_assert_eq(T.guards, 0);

	/* Unchanged: no op but the guard. */
	sync_ok(s, &res);
	cr_assert_not(res.full);
	cr_assert_eq(T.nops, 0);
	cr_assert_eq(T.guards, 1);
	cr_assert_eq(T.guard_mtime, 1000000 * 1000000000LL + 123);

	/* Changed: guard of the old copy first (emit_cb checks the size). */
	fd = open_src();
	flip(fd, 8 * KiB);
	cr_assert(ftruncate(fd, 80 * KiB) == 0);
	close(fd);
	sync_ok(s, &res);
	cr_assert_eq(T.guards, 1);
	cr_assert_eq(T.guard_mtime, 1000000 * 1000000000LL + 123);
	assert_same();

	/* The next guard names the mtime the last sync saw. */
	{
		struct stat st;

		cr_assert(stat(src_path, &st) == 0);
		sync_ok(s, &res);
		cr_assert_eq(T.guards, 1);
		cr_assert_eq(T.guard_mtime, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	}
	blockmap_store_close(s);
}
