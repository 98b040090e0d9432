#include "config.h"

/* blockmap — per-file block-hash maps and the delta they drive. What is sent
 * and the invariants kept are described in blockmap.h. The one rule
 * everything here serves: a map, in memory or on disk, only ever describes
 * what the target's copy holds once the ops emitted so far are applied. */

#include "blockmap.h"
#include "op.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <xxhash.h>

#define MAP_MAGIC "DITTOBM1"
#define MAP_VERSION 1u
#define MAP_HDR 72u  /* magic, version, block size, dev, ino, size, mtime,
			btime, generation, block count */
#define MAP_MODE 0600u

/* What tells one file from another: a recycled inode number gets a new birth
 * time and (on most filesystems) a new generation. */
struct ident {
	uint64_t dev, ino;
	int64_t btime_ns;  /* 0: unknown */
	uint64_t gen;      /* 0: unknown */
};

struct entry {
	struct ident id;
	uint64_t size;       /* file size the map covers */
	int64_t mtime_ns;    /* recorded, not used to decide anything */
	uint64_t nblocks;
	uint64_t *hash;
	bool on_disk;        /* a map file of ours holding exactly this exists */
	struct entry *hnext; /* hash chain */
	struct entry *prev, *next; /* LRU, head most recent */
};

struct blockmap_store {
	char *dir;
	uint32_t bs;
	unsigned shift;
	uint64_t zero_hash;  /* of a whole block of zeros */
	size_t cache_limit, cache_bytes;
	struct entry **tab;
	size_t tab_size, count; /* tab_size: power of two */
	struct entry *lru_head, *lru_tail;
	uint8_t *buf;        /* one block */
	uint8_t *wbuf;       /* pending WRITE payload, DITTO_OP_DATA_MAX + NUL */
};

/* --- small helpers ------------------------------------------------------- */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t key_hash(uint64_t dev, uint64_t ino)
{
	uint8_t k[16];

	put64(k, dev);
	put64(k + 8, ino);
	return XXH3_64bits(k, sizeof(k));
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Length of p[0..n) without its trailing zero bytes. */
static size_t trim_zeros(const uint8_t *p, size_t n)
{
	while (n >= 64 && all_zero(p + n - 64, 64))
		n -= 64;
	while (n && !p[n - 1])
		n--;
	return n;
}

/* Hash of len zero bytes; s->buf is free whenever this is called. */
static uint64_t zero_hash(struct blockmap_store *s, uint64_t len)
{
	if (len == s->bs)
		return s->zero_hash;
	memset(s->buf, 0, len);
	return XXH3_64bits(s->buf, len);
}

static void get_ident(int fd, const struct stat *st, struct ident *id)
{
	struct statx sx;
	long gen = 0;

	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->btime_ns = 0;
	id->gen = 0;
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BTIME,
		  &sx) == 0 && (sx.stx_mask & STATX_BTIME))
		id->btime_ns = (int64_t)sx.stx_btime.tv_sec * 1000000000 +
			       sx.stx_btime.tv_nsec;
	/* Filesystems without it say ENOTTY; 0 then matches 0. */
	if (ioctl(fd, FS_IOC_GETVERSION, &gen) == 0)
		id->gen = (uint64_t)gen;
}

static bool ident_eq(const struct ident *a, const struct ident *b)
{
	return a->dev == b->dev && a->ino == b->ino &&
	       a->btime_ns == b->btime_ns && a->gen == b->gen;
}

static char *map_path(const struct blockmap_store *s, uint64_t dev,
		      uint64_t ino)
{
	uint64_t h = key_hash(dev, ino);

	return util_xasprintf("%s/%02x/%016" PRIx64, s->dir,
			      (unsigned)(h >> 56), h);
}

/* Removes path so that it stays removed after a crash; a missing file is
 * fine. */
static int unlink_durable(const char *path)
{
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -1;
	return util_fsync_parent(path);
}

/* --- the in-memory cache -------------------------------------------------- */

static size_t entry_cost(const struct entry *e)
{
	return sizeof(*e) + (size_t)e->nblocks * sizeof(uint64_t);
}

static void entry_free(struct entry *e)
{
	if (e) {
		free(e->hash);
		free(e);
	}
}

static void lru_unlink(struct blockmap_store *s, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		s->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

/* Unlinks the entry of (dev, ino) from table and LRU; the caller owns it. */
static struct entry *cache_take(struct blockmap_store *s, uint64_t dev,
				uint64_t ino)
{
	struct entry **pp;

	if (!s->tab_size)
		return NULL;
	pp = &s->tab[key_hash(dev, ino) & (s->tab_size - 1)];
	for (; *pp; pp = &(*pp)->hnext) {
		struct entry *e = *pp;

		if (e->id.dev == dev && e->id.ino == ino) {
			*pp = e->hnext;
			e->hnext = NULL;
			lru_unlink(s, e);
			s->count--;
			s->cache_bytes -= entry_cost(e);
			return e;
		}
	}
	return NULL;
}

static void cache_evict(struct blockmap_store *s)
{
	while (s->lru_tail && s->cache_bytes > s->cache_limit) {
		struct entry *e = s->lru_tail;

		entry_free(cache_take(s, e->id.dev, e->id.ino));
	}
}

static void cache_grow(struct blockmap_store *s)
{
	size_t n = s->tab_size ? s->tab_size * 2 : 64;
	struct entry **t = util_xcalloc(n, sizeof(*t));

	for (size_t i = 0; i < s->tab_size; i++) {
		struct entry *e = s->tab[i], *next;

		for (; e; e = next) {
			size_t b = key_hash(e->id.dev, e->id.ino) & (n - 1);

			next = e->hnext;
			e->hnext = t[b];
			t[b] = e;
		}
	}
	free(s->tab);
	s->tab = t;
	s->tab_size = n;
}

/* Takes ownership of e (which must not be in the cache): cached as most
 * recent, or freed when it alone is over the limit. */
static void cache_put(struct blockmap_store *s, struct entry *e)
{
	size_t b;

	if (entry_cost(e) > s->cache_limit) {
		entry_free(e);
		return;
	}
	if (s->count >= s->tab_size)
		cache_grow(s);
	b = key_hash(e->id.dev, e->id.ino) & (s->tab_size - 1);
	e->hnext = s->tab[b];
	s->tab[b] = e;
	e->prev = NULL;
	e->next = s->lru_head;
	if (s->lru_head)
		s->lru_head->prev = e;
	else
		s->lru_tail = e;
	s->lru_head = e;
	s->count++;
	s->cache_bytes += entry_cost(e);
	cache_evict(s);
}

static void cache_clear(struct blockmap_store *s)
{
	while (s->lru_head)
		entry_free(cache_take(s, s->lru_head->id.dev,
				      s->lru_head->id.ino));
}

/* --- map files ------------------------------------------------------------ */

/* Loads the map file at path if it is sound and is of id at the store's
 * block size. *present: a file exists there (or might: unreadable), so it
 * must be removed before the target's copy changes. */
static struct entry *map_load(struct blockmap_store *s, const char *path,
			      const struct ident *id, bool *present)
{
	struct entry *e = NULL;
	uint8_t *p = NULL;
	struct stat fst;
	uint64_t n, size, len;
	int fd;

	*present = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*present = errno != ENOENT;
		return NULL;
	}
	*present = true;
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) ||
	    fst.st_size < (off_t)(MAP_HDR + 8) ||
	    (uint64_t)fst.st_size > MAP_HDR + 8 * (uint64_t)BLOCKMAP_MAX_BLOCKS + 8)
		goto out;
	len = (uint64_t)fst.st_size;
	p = util_xmalloc(len);
	if (util_read_full(fd, p, len) != (ssize_t)len)
		goto out;
	n = get64(p + 64);
	size = get64(p + 32);
	if (memcmp(p, MAP_MAGIC, 8) != 0 ||
	    (get64(p + 8) & 0xffffffffu) != MAP_VERSION ||
	    get64(p + 8) >> 32 != s->bs ||
	    n > BLOCKMAP_MAX_BLOCKS || len != MAP_HDR + 8 * n + 8 ||
	    XXH3_64bits(p, len - 8) != get64(p + len - 8) ||
	    size > (uint64_t)INT64_MAX || n != (size + s->bs - 1) >> s->shift ||
	    get64(p + 16) != id->dev || get64(p + 24) != id->ino ||
	    (int64_t)get64(p + 48) != id->btime_ns || get64(p + 56) != id->gen)
		goto out;
	e = util_xcalloc(1, sizeof(*e));
	e->id = *id;
	e->size = size;
	e->mtime_ns = (int64_t)get64(p + 40);
	e->nblocks = n;
	e->hash = util_xmalloc(n * 8);
	for (uint64_t i = 0; i < n; i++)
		e->hash[i] = get64(p + MAP_HDR + 8 * i);
	e->on_disk = true;
out:
	free(p);
	close(fd);
	return e;
}

static int map_write(struct blockmap_store *s, const char *path,
		     const struct entry *e)
{
	size_t len = MAP_HDR + 8 * e->nblocks + 8;
	uint8_t *p = util_xmalloc(len);
	char *sub = util_xstrdup(path);
	int ret = -1;

	memcpy(p, MAP_MAGIC, 8);
	put64(p + 8, (uint64_t)s->bs << 32 | MAP_VERSION);
	put64(p + 16, e->id.dev);
	put64(p + 24, e->id.ino);
	put64(p + 32, e->size);
	put64(p + 40, (uint64_t)e->mtime_ns);
	put64(p + 48, (uint64_t)e->id.btime_ns);
	put64(p + 56, e->id.gen);
	put64(p + 64, e->nblocks);
	for (uint64_t i = 0; i < e->nblocks; i++)
		put64(p + MAP_HDR + 8 * i, e->hash[i]);
	put64(p + len - 8, XXH3_64bits(p, len - 8));
	/* The fan-out directory may not exist yet (or was removed). */
	*strrchr(sub, '/') = '\0';
	if (mkdir(sub, 0700) < 0 && errno != EEXIST)
		goto done;
	ret = util_write_atomic(path, p, len, MAP_MODE);
done:
	free(sub);
	free(p);
	return ret;
}

/* Takes the map of id out of the cache or loads it. NULL when there is no
 * usable one. *present as for map_load. */
static struct entry *map_take(struct blockmap_store *s, const char *path,
			      const struct ident *id, bool *present)
{
	struct entry *e = cache_take(s, id->dev, id->ino);

	if (e) {
		/* Without a file of ours, a file at that name can only be
		 * another inode's (names are hashes): not ours to remove. */
		*present = e->on_disk;
		if (ident_eq(&e->id, id))
			return e;
		entry_free(e);
		return NULL;
	}
	return map_load(s, path, id, present);
}

/* --- the block walk --------------------------------------------------------- */

/* One sync or record. */
struct run {
	struct blockmap_store *s;
	int fd;
	uint64_t size;          /* new size; nothing past it is looked at */
	const struct entry *old;/* map diffed against; NULL: full or record */
	uint64_t old_size;      /* target's size before the walk (0: full) */
	uint64_t *hash;         /* new map; NULL when the file is too big */
	int (*emit)(void *ctx, const struct ditto_op *op); /* NULL: record */
	void *ctx;
	char *path;
	uint32_t path_len;
	const char *map_file;
	bool unlink_first;      /* our map file is on disk: remove before op 1 */
	bool guarded;           /* the delta's guard went out */
	uint64_t emitted;       /* ops handed (or about to be handed) to emit */
	uint64_t pend_off;      /* pending WRITE: s->wbuf[0..pend_len) */
	size_t pend_len;
	uint64_t punch_off;     /* pending punch */
	uint64_t punch_len;
	uint64_t queued;        /* WRITE ranges and punches queued so far */
	uint64_t write_end;     /* end of the furthest WRITE */
	uint64_t ds, de;        /* extent cursor, see cursor_at */
	bool cur_valid;
	struct blockmap_result res;
};

static int emit_op(struct run *r, struct ditto_op *op);

/* Whatever the delta holds (even nothing), the target is first told which
 * copy it applies to, so one that is not that (removed, replaced or edited
 * behind our back) skips it and asks for the whole file. */
static int guard(struct run *r)
{
	struct ditto_op op;

	r->guarded = true;
	op_init(&op, DITTO_OP_VERIFY);
	op.flags = DITTO_VERIFY_GUARD;
	op.mode = S_IFREG;
	op.len = r->old->size;
	op.attr_mask = DITTO_ATTR_MTIME;
	op.mtime_ns = r->old->mtime_ns;
	/* Not counted in emitted: it changes nothing on the target, so it
	 * does not invalidate the map. */
	op.path = r->path;
	op.path_len = r->path_len;
	if (r->emit(r->ctx, &op) != 0) {
		errno = ECANCELED;
		return -1;
	}
	return 0;
}

static int emit_op(struct run *r, struct ditto_op *op)
{
	if (r->old && !r->guarded && guard(r) < 0)
		return -1;
	if (!r->emitted && r->unlink_first) {
		if (unlink_durable(r->map_file) < 0)
			return -1;
		r->unlink_first = false;
	}
	r->emitted++;
	op->path = r->path;
	op->path_len = r->path_len;
	if (r->emit(r->ctx, op) != 0) {
		errno = ECANCELED;
		return -1;
	}
	return 0;
}

/* Sends the pending punch or WRITE (append and punch keep at most one
 * pending, so ops go out in file order). */
static int flush(struct run *r)
{
	struct ditto_op op;

	if (r->punch_len) {
		op_init(&op, DITTO_OP_FALLOCATE);
		op.off = r->punch_off;
		op.len = r->punch_len;
		op.flags = DITTO_FALLOC_PUNCH_HOLE | DITTO_FALLOC_KEEP_SIZE;
		r->punch_len = 0;
		if (emit_op(r, &op) < 0)
			return -1;
	}
	if (!r->pend_len)
		return 0;
	op_init(&op, DITTO_OP_WRITE);
	op.off = r->pend_off;
	r->s->wbuf[r->pend_len] = 0;
	op.data = r->s->wbuf;
	op.data_len = (uint32_t)r->pend_len;
	if (emit_op(r, &op) < 0)
		return -1;
	r->res.bytes_sent += r->pend_len;
	if (r->pend_off + r->pend_len > r->write_end)
		r->write_end = r->pend_off + r->pend_len;
	r->pend_len = 0;
	return 0;
}

/* Adds file bytes [off, off+len) to the pending WRITE, which is sent when it
 * cannot take them (not contiguous, or full). */
static int append(struct run *r, uint64_t off, const uint8_t *p, size_t len)
{
	if (len)
		r->queued++;
	if (r->punch_len && flush(r) < 0)
		return -1;
	while (len) {
		size_t n;

		if (r->pend_len && (r->pend_off + r->pend_len != off ||
				    r->pend_len == DITTO_OP_DATA_MAX) &&
		    flush(r) < 0)
			return -1;
		if (!r->pend_len)
			r->pend_off = off;
		n = DITTO_OP_DATA_MAX - r->pend_len;
		if (n > len)
			n = len;
		memcpy(r->s->wbuf + r->pend_len, p, n);
		r->pend_len += n;
		off += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* Queues a punch of [off, off+len), merged with an adjacent pending one. */
static int punch(struct run *r, uint64_t off, uint64_t len)
{
	r->queued++;
	if ((r->pend_len || (r->punch_len &&
			     r->punch_off + r->punch_len != off)) &&
	    flush(r) < 0)
		return -1;
	if (!r->punch_len)
		r->punch_off = off;
	r->punch_len += len;
	return 0;
}

static int truncate_to(struct run *r, uint64_t size)
{
	struct ditto_op op;

	if (flush(r) < 0)
		return -1;
	op_init(&op, DITTO_OP_TRUNCATE);
	op.off = size;
	return emit_op(r, &op);
}

/* Makes [ds, de) the first data extent that ends after pos (ds > pos when
 * pos is in a hole; ds = de = size when no data follows). pos only grows
 * during a walk, so one lseek pair serves a whole extent. */
static int cursor_at(struct run *r, uint64_t pos)
{
	off_t d, h;

	if (r->cur_valid && pos < r->de)
		return 0;
	r->cur_valid = true;
	d = lseek(r->fd, (off_t)pos, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO) {
			/* No data after pos (maybe it shrank meanwhile):
			 * the rest reads as zeros. */
			r->ds = r->de = r->size;
			return 0;
		}
		if (errno == EINVAL || errno == EOPNOTSUPP) {
			/* No hole support: all data. */
			r->ds = pos;
			r->de = r->size;
			return 0;
		}
		r->cur_valid = false;
		return -1;
	}
	if ((uint64_t)d >= r->size) {
		r->ds = r->de = r->size;
		return 0;
	}
	h = lseek(r->fd, d, SEEK_HOLE);
	if (h < 0 && errno != ENXIO) {
		r->cur_valid = false;
		return -1;
	}
	r->ds = (uint64_t)d;
	/* A failed or odd answer (file changed) counts as data to the end:
	 * reading it can only be right. */
	r->de = h > d ? min64((uint64_t)h, r->size) : r->size;
	return 0;
}

/* Reads [off, off+len) into s->buf; what is past a (new) EOF is zeros, so
 * the map and the ops agree on it. */
static int read_block(struct run *r, uint64_t off, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(r->fd, r->s->buf + got, len - got,
				  (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	memset(r->s->buf + got, 0, len - got);
	r->res.bytes_read += len;
	return 0;
}

/* Sends [from, be) of the block [bs, be) held in s->buf: data extents as
 * WRITEs; holes (that did read as zeros) as punches where the target had
 * bytes, nothing past its old end (zeros there already). */
static int send_range(struct run *r, uint64_t bs, uint64_t from, uint64_t be)
{
	const uint8_t *b = r->s->buf;
	uint64_t pos = from, end;

	while (pos < be) {
		if (cursor_at(r, pos) < 0)
			return -1;
		if (pos < r->ds) {
			end = min64(r->ds, be);
			if (!all_zero(b + (pos - bs), end - pos)) {
				/* Written since SEEK_HOLE: send as read. */
				if (append(r, pos, b + (pos - bs), end - pos) < 0)
					return -1;
			} else if (pos < r->old_size &&
				   punch(r, pos, min64(end, r->old_size) - pos) < 0) {
				return -1;
			}
		} else {
			uint64_t mid;

			end = min64(r->de, be);
			/* Past the old end the target reads zeros already, so
			 * zeros where a data extent ends are not worth sending
			 * (e.g. the rest of a filesystem block after an
			 * append). Mid-extent, WRITEs stay whole. */
			mid = end;
			if (end == r->de && end > r->old_size) {
				mid = r->old_size > pos ? r->old_size : pos;
				mid += trim_zeros(b + (mid - bs), end - mid);
			}
			if (append(r, pos, b + (pos - bs), mid - pos) < 0)
				return -1;
		}
		pos = end;
	}
	return 0;
}

/* The walk over all blocks: hashes into r->hash and, unless recording, ops
 * for what differs from r->old (everything with data when it is NULL). */
static int walk(struct run *r)
{
	struct blockmap_store *s = r->s;
	const struct entry *old = r->old;
	uint64_t n = (r->size + s->bs - 1) >> s->shift;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t bs = i << s->shift;
		uint64_t be = min64(bs + s->bs, r->size), blen = be - bs;
		uint64_t old_len = 0, h, queued = r->queued;

		if (old && bs < old->size)
			old_len = min64(s->bs, old->size - bs);
		if (cursor_at(r, bs) < 0)
			return -1;
		if (r->ds >= be) {
			/* All hole: not read; the target needs zeros. */
			h = zero_hash(s, blen);
			if (r->hash)
				r->hash[i] = h;
			if (!old_len || (old_len == blen && old->hash[i] == h) ||
			    (old_len < blen &&
			     old->hash[i] == zero_hash(s, old_len)))
				continue;
			if (punch(r, bs, min64(old_len, blen)) < 0)
				return -1;
			r->res.blocks_changed++;
			continue;
		}
		if (read_block(r, bs, blen) < 0)
			return -1;
		h = XXH3_64bits(s->buf, blen);
		if (r->hash)
			r->hash[i] = h;
		if (!r->emit || (old_len == blen && old->hash[i] == h))
			continue;
		/* An append: the old partial last block still as it was, so
		 * only what follows it is new. */
		if (old_len && old_len < blen &&
		    XXH3_64bits(s->buf, old_len) == old->hash[i]) {
			if (send_range(r, bs, bs + old_len, be) < 0)
				return -1;
		} else if (send_range(r, bs, bs, be) < 0) {
			return -1;
		}
		/* Appending into a trailing hole changes nothing at all. */
		if (r->queued != queued)
			r->res.blocks_changed++;
	}
	if (flush(r) < 0)
		return -1;
	if (!r->emit)
		return 0;
	/* Shrink; or grow beyond what the WRITEs reached (a trailing hole). */
	if (r->size < r->old_size ||
	    (r->size > r->old_size && r->size > r->write_end))
		return truncate_to(r, r->size);
	return 0;
}

static struct entry *new_entry(const struct run *r, const struct ident *id,
			       const struct stat *st)
{
	struct entry *e = util_xcalloc(1, sizeof(*e));

	e->id = *id;
	e->size = r->size;
	e->mtime_ns = ts_ns(&st->st_mtim);
	e->nblocks = (r->size + r->s->bs - 1) >> r->s->shift;
	e->hash = r->hash;
	return e;
}

/* Keeps e as the map of its file: on disk for files of more than one block
 * (best effort: without a file the map is simply lost at eviction), then in
 * the cache. Any older file of ours must already be gone or be replaced
 * here, which map_write does atomically. */
static void keep_entry(struct blockmap_store *s, const char *path,
		       struct entry *e)
{
	if (!e->on_disk && e->nblocks > 1)
		e->on_disk = map_write(s, path, e) == 0;
	cache_put(s, e);
}

/* --- API ------------------------------------------------------------------- */

struct blockmap_store *blockmap_store_open(const char *dir, uint32_t block_size,
					   char *err, size_t errlen)
{
	struct blockmap_store *s = NULL;

	if (!block_size)
		block_size = BLOCKMAP_BLOCK_DEFAULT;
	if (!dir || !*dir || block_size < BLOCKMAP_BLOCK_MIN ||
	    block_size > BLOCKMAP_BLOCK_MAX ||
	    (block_size & (block_size - 1))) {
		snprintf(err, errlen, "blockmap: %s",
			 !dir || !*dir ? "no directory" :
			 "block size must be a power of two from 4 KiB to 16 MiB");
		errno = EINVAL;
		return NULL;
	}
	if (util_mkdir_p(dir, 0700) < 0 || access(dir, W_OK | X_OK) < 0) {
		int e = errno;

		snprintf(err, errlen, "blockmap: %s: %s", dir, strerror(e));
		errno = e;
		return NULL;
	}
	s = util_xcalloc(1, sizeof(*s));
	s->dir = util_xstrdup(dir);
	s->bs = block_size;
	while ((1u << s->shift) < block_size)
		s->shift++;
	s->cache_limit = BLOCKMAP_CACHE_DEFAULT;
	s->buf = util_xcalloc(1, block_size);
	s->zero_hash = XXH3_64bits(s->buf, block_size);
	s->wbuf = util_xmalloc(DITTO_OP_DATA_MAX + 1);
	return s;
}

void blockmap_store_close(struct blockmap_store *s)
{
	if (!s)
		return;
	cache_clear(s);
	free(s->tab);
	free(s->buf);
	free(s->wbuf);
	free(s->dir);
	free(s);
}

void blockmap_store_set_cache_limit(struct blockmap_store *s, size_t bytes)
{
	s->cache_limit = bytes;
	cache_evict(s);
}

uint32_t blockmap_store_block_size(const struct blockmap_store *s)
{
	return s->bs;
}

int blockmap_sync_file(struct blockmap_store *s, int fd, const struct stat *st,
		       const char *op_path, size_t op_path_len,
		       int (*emit)(void *ctx, const struct ditto_op *op),
		       void *ctx, struct blockmap_result *res)
{
	struct run r;
	struct ident id;
	struct entry *old = NULL;
	char *mpath = NULL;
	bool present = false;
	uint64_t n;
	int ret = -1, saved;

	memset(&r, 0, sizeof(r));
	if (res)
		memset(res, 0, sizeof(*res));
	if (!s || fd < 0 || !st || !emit || !S_ISREG(st->st_mode) ||
	    st->st_size < 0 || !op_path ||
	    !op_path_valid(op_path, op_path_len)) {
		errno = EINVAL;
		return -1;
	}
	get_ident(fd, st, &id);
	mpath = map_path(s, id.dev, id.ino);
	old = map_take(s, mpath, &id, &present);

	r.s = s;
	r.fd = fd;
	r.size = (uint64_t)st->st_size;
	r.emit = emit;
	r.ctx = ctx;
	r.path = util_xmalloc(op_path_len + 1);
	memcpy(r.path, op_path, op_path_len);
	r.path[op_path_len] = '\0';
	r.path_len = (uint32_t)op_path_len;
	r.map_file = mpath;
	r.unlink_first = present;
	n = (r.size + s->bs - 1) >> s->shift;
	if (n <= BLOCKMAP_MAX_BLOCKS)
		r.hash = util_xmalloc(n * sizeof(uint64_t));
	r.old = old;
	r.res.full = !old;
	if (old) {
		r.old_size = old->size;
	} else if (truncate_to(&r, 0) < 0) {
		/* The target's copy may hold anything: start from empty. */
		goto out;
	}
	if (walk(&r) < 0 || (old && !r.guarded && guard(&r) < 0))
		goto out;

	if (r.hash) {
		struct entry *e = new_entry(&r, &id, st);

		r.hash = NULL;
		/* Nothing sent means content as the old map, whose file (if
		 * any) is still there and still right. */
		e->on_disk = !r.emitted && old && old->on_disk;
		keep_entry(s, mpath, e);
	}
	entry_free(old);
	old = NULL;
	ret = 0;
out:
	saved = errno;
	if (ret < 0 && old && !r.emitted) {
		/* The target did not change: the old map still holds. */
		cache_put(s, old);
		old = NULL;
	}
	entry_free(old);
	if (res)
		*res = r.res;
	free(r.hash);
	free(r.path);
	free(mpath);
	errno = saved;
	return ret;
}

int blockmap_record(struct blockmap_store *s, int fd, const struct stat *st)
{
	struct run r;
	struct ident id;
	struct stat now;
	char *mpath = NULL;
	uint64_t n;
	int ret = -1, saved;

	memset(&r, 0, sizeof(r));
	if (!s || fd < 0 || !st || !S_ISREG(st->st_mode) || st->st_size < 0) {
		errno = EINVAL;
		return -1;
	}
	get_ident(fd, st, &id);
	mpath = map_path(s, id.dev, id.ino);
	/* Whatever was there describes an older target copy. */
	entry_free(cache_take(s, id.dev, id.ino));
	if (unlink_durable(mpath) < 0)
		goto out;
	r.s = s;
	r.fd = fd;
	r.size = (uint64_t)st->st_size;
	n = (r.size + s->bs - 1) >> s->shift;
	if (n > BLOCKMAP_MAX_BLOCKS)
		goto done;
	/* ctime moves on every data change: unchanged since st before and
	 * after the read means what was read is what the caller sent. */
	if (fstat(fd, &now) < 0)
		goto out;
	if (now.st_size != st->st_size ||
	    ts_ns(&now.st_ctim) != ts_ns(&st->st_ctim))
		goto done;
	r.hash = util_xmalloc(n * sizeof(uint64_t));
	if (walk(&r) < 0)
		goto out;
	if (fstat(fd, &now) < 0)
		goto out;
	if (now.st_size != st->st_size ||
	    ts_ns(&now.st_ctim) != ts_ns(&st->st_ctim))
		goto done;
	keep_entry(s, mpath, new_entry(&r, &id, st));
	r.hash = NULL;
done:
	ret = 0;
out:
	saved = errno;
	free(r.hash);
	free(mpath);
	errno = saved;
	return ret;
}

int blockmap_forget(struct blockmap_store *s, dev_t dev, ino_t ino)
{
	char *mpath = map_path(s, dev, ino);
	int ret;

	entry_free(cache_take(s, dev, ino));
	ret = unlink_durable(mpath);
	free(mpath);
	return ret;
}

static bool is_fanout(const char *name)
{
	return strlen(name) == 2 && strspn(name, "0123456789abcdef") == 2;
}

int blockmap_invalidate_all(struct blockmap_store *s)
{
	DIR *top = NULL;
	struct dirent *de;
	int ret = 0, saved = 0;

	cache_clear(s);
	top = opendir(s->dir);
	if (!top)
		return -1;
	while ((de = readdir(top))) {
		int sfd;
		DIR *sub;
		struct dirent *fe;

		if (!is_fanout(de->d_name))
			continue;
		sfd = openat(dirfd(top), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sfd < 0 || !(sub = fdopendir(sfd))) {
			saved = errno;
			if (sfd >= 0)
				close(sfd);
			ret = -1;
			continue;
		}
		/* Map files and temporary files a crash left alike. */
		while ((fe = readdir(sub))) {
			if (!strcmp(fe->d_name, ".") || !strcmp(fe->d_name, ".."))
				continue;
			if (unlinkat(dirfd(sub), fe->d_name, 0) < 0 &&
			    errno != ENOENT) {
				saved = errno;
				ret = -1;
			}
		}
		if (fsync(dirfd(sub)) < 0) {
			saved = errno;
			ret = -1;
		}
		closedir(sub);
	}
	closedir(top);
	if (ret < 0)
		errno = saved;
	return ret;
}
