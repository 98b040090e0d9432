#include "config.h"

#include "op.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Which fields a kind carries; the encoding writes them in this bit order. */
#define F_FLAGS 0x0001u
#define F_ATTR 0x0002u  /* attr_mask and the values it selects (SETATTR) */
#define F_MODE 0x0004u
#define F_UID 0x0008u
#define F_GID 0x0010u
#define F_RDEV 0x0020u
#define F_OFF 0x0040u
#define F_LEN 0x0080u
#define F_PATH 0x0100u
#define F_PATH2 0x0200u  /* a second relative path */
#define F_TARGET 0x0400u /* path2 as a symlink target: any bytes but NUL */
#define F_NAME 0x0800u
#define F_DATA 0x1000u

#define ATTR_ALL (DITTO_ATTR_MODE | DITTO_ATTR_UID | DITTO_ATTR_GID | \
		  DITTO_ATTR_ATIME | DITTO_ATTR_MTIME)
#define OFF_MAX ((uint64_t)INT64_MAX)

struct kind_info {
	const char *name;
	uint32_t fields;
	uint16_t flags_mask;
};

static const struct kind_info *kind_info(uint16_t kind)
{
	static const struct kind_info data_kinds[] = {
		[DITTO_OP_WRITE] = { "WRITE", F_PATH | F_OFF | F_DATA, 0 },
		[DITTO_OP_TRUNCATE] = { "TRUNCATE", F_PATH | F_OFF, 0 },
		[DITTO_OP_FALLOCATE] = { "FALLOCATE",
			F_PATH | F_OFF | F_LEN | F_FLAGS,
			DITTO_FALLOC_KEEP_SIZE | DITTO_FALLOC_PUNCH_HOLE },
		[DITTO_OP_CREATE] = { "CREATE",
			F_FLAGS | F_PATH | F_MODE | F_UID | F_GID,
			DITTO_CREATE_NEW },
		[DITTO_OP_MKDIR] = { "MKDIR",
			F_PATH | F_MODE | F_UID | F_GID, 0 },
		[DITTO_OP_MKNOD] = { "MKNOD",
			F_PATH | F_MODE | F_RDEV | F_UID | F_GID, 0 },
		[DITTO_OP_SYMLINK] = { "SYMLINK",
			F_PATH | F_TARGET | F_UID | F_GID, 0 },
		[DITTO_OP_LINK] = { "LINK", F_PATH | F_PATH2, 0 },
		[DITTO_OP_UNLINK] = { "UNLINK", F_PATH, 0 },
		[DITTO_OP_RMDIR] = { "RMDIR", F_PATH | F_FLAGS,
			DITTO_RMDIR_RECURSIVE },
		[DITTO_OP_RENAME] = { "RENAME", F_PATH | F_PATH2 | F_FLAGS,
			DITTO_RENAME_NOREPLACE | DITTO_RENAME_EXCHANGE },
		[DITTO_OP_SETATTR] = { "SETATTR", F_PATH | F_ATTR, 0 },
		[DITTO_OP_SETXATTR] = { "SETXATTR",
			F_PATH | F_NAME | F_DATA, 0 },
		[DITTO_OP_REMOVEXATTR] = { "REMOVEXATTR",
			F_FLAGS | F_PATH | F_NAME | F_DATA,
			DITTO_XATTR_ALL_EXCEPT },
		[DITTO_OP_BLOCK_WRITE] = { "BLOCK_WRITE",
			F_PATH | F_OFF | F_DATA, 0 },
	};
	static const struct kind_info control_kinds[] = {
		[DITTO_OP_MIRROR_BEGIN - 32] = { "MIRROR_BEGIN",
			F_FLAGS | F_OFF, 0xffff },
		[DITTO_OP_MIRROR_END - 32] = { "MIRROR_END", 0, 0 },
		[DITTO_OP_MARKER - 32] = { "MARKER", F_OFF, 0 },
		[DITTO_OP_VERIFY - 32] = { "VERIFY",
			F_PATH | F_FLAGS | F_ATTR | F_MODE | F_UID | F_GID |
			F_RDEV | F_OFF | F_LEN | F_DATA,
			DITTO_VERIFY_CHECKSUM | DITTO_VERIFY_LINK |
			DITTO_VERIFY_GUARD | DITTO_VERIFY_FLAGGED },
		[DITTO_OP_DIRLIST - 32] = { "DIRLIST", F_PATH | F_FLAGS | F_DATA,
			DITTO_DIRLIST_FIRST | DITTO_DIRLIST_LAST |
			DITTO_DIRLIST_ROOT },
		[DITTO_OP_ORPHANS - 32] = { "ORPHANS", F_FLAGS | F_OFF | F_DATA,
			DITTO_ORPHANS_DELETE | DITTO_ORPHANS_MOVE |
			DITTO_ORPHANS_LOG },
		[DITTO_OP_REPSET_BACKUP - 32] = { "REPSET_BACKUP", F_DATA, 0 },
	};
	const struct kind_info *k = NULL;

	if (kind < UTIL_ARRAY_SIZE(data_kinds))
		k = &data_kinds[kind];
	else if (kind >= 32 && kind - 32u < UTIL_ARRAY_SIZE(control_kinds))
		k = &control_kinds[kind - 32];
	return k && k->name ? k : NULL;
}

const char *op_kind_name(uint16_t kind)
{
	const struct kind_info *k = kind_info(kind);

	return k ? k->name : "UNKNOWN";
}

bool op_kind_valid(uint16_t kind)
{
	return kind_info(kind) != NULL;
}

void op_init(struct ditto_op *op, uint16_t kind)
{
	memset(op, 0, sizeof(*op));
	op->kind = kind;
}

void op_free(struct ditto_op *op)
{
	free(op->path);
	free(op->path2);
	free(op->name);
	free(op->data);
	memset(op, 0, sizeof(*op));
}

/* Every owned buffer carries one extra NUL so callers can treat text fields
 * as C strings; the NUL is never part of the length. */
static void *dup_bytes(const void *p, size_t len)
{
	char *q = util_xmalloc(len + 1);

	if (len)
		memcpy(q, p, len);
	q[len] = '\0';
	return q;
}

static int set_field(void **field, uint32_t *field_len, const void *p,
		     size_t len)
{
	if (len > UINT32_MAX || (!p && len)) {
		errno = EINVAL;
		return -1;
	}
	free(*field);
	*field = dup_bytes(p, len);
	*field_len = (uint32_t)len;
	return 0;
}

int op_set_path(struct ditto_op *op, const void *p, size_t len)
{
	return set_field((void **)&op->path, &op->path_len, p, len);
}

int op_set_path2(struct ditto_op *op, const void *p, size_t len)
{
	return set_field((void **)&op->path2, &op->path2_len, p, len);
}

int op_set_name(struct ditto_op *op, const void *p, size_t len)
{
	return set_field((void **)&op->name, &op->name_len, p, len);
}

int op_set_data(struct ditto_op *op, const void *p, size_t len)
{
	return set_field((void **)&op->data, &op->data_len, p, len);
}

int op_copy(struct ditto_op *dst, const struct ditto_op *src)
{
	struct ditto_op tmp = *src;

	if ((!src->path && src->path_len) || (!src->path2 && src->path2_len) ||
	    (!src->name && src->name_len) || (!src->data && src->data_len)) {
		errno = EINVAL;
		return -1;
	}
	/* A NULL field stays NULL so the copy looks exactly like the source. */
	tmp.path = src->path ? dup_bytes(src->path, src->path_len) : NULL;
	tmp.path2 = src->path2 ? dup_bytes(src->path2, src->path2_len) : NULL;
	tmp.name = src->name ? dup_bytes(src->name, src->name_len) : NULL;
	tmp.data = src->data ? dup_bytes(src->data, src->data_len) : NULL;
	*dst = tmp;
	return 0;
}

int op_path_valid(const char *p, size_t len)
{
	size_t i, start = 0;

	if (!p || len == 0 || len > DITTO_PATH_MAX || p[0] == '/')
		return 0;
	if (memchr(p, '\0', len))
		return 0;
	/* Walk components; i == len closes the last one. */
	for (i = 0; i <= len; i++) {
		size_t n;

		if (i < len && p[i] != '/')
			continue;
		n = i - start;
		if (n == 0 || (n == 1 && p[start] == '.') ||
		    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			return 0;
		start = i + 1;
	}
	return 1;
}

static int invalid(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	errno = EINVAL;
	return -1;
}

/* DIRLIST data: names, each 1..255 bytes without '/', not "." or "..",
 * each followed by a NUL. */
static bool names_valid(const uint8_t *p, size_t len)
{
	size_t i = 0, n;

	if (len && (!p || p[len - 1] != '\0'))
		return false;
	while (i < len) {
		n = strlen((const char *)p + i);
		if (n == 0 || n > 255 || memchr(p + i, '/', n) ||
		    (n == 1 && p[i] == '.') ||
		    (n == 2 && p[i] == '.' && p[i + 1] == '.'))
			return false;
		i += n + 1;
	}
	return true;
}

/* Kind-specific rules beyond the field table. */
static int validate_control(const struct ditto_op *op, const char **why)
{
	switch (op->kind) {
	case DITTO_OP_VERIFY:
		if (op->flags & DITTO_VERIFY_CHECKSUM) {
			uint64_t blocks;

			if (op->off == 0 || op->off > (1u << 30) ||
			    op->data_len % 8)
				return invalid(why, "verify: bad block size or hash list");
			blocks = op->len / op->off + (op->len % op->off != 0);
			if (blocks != op->data_len / 8)
				return invalid(why, "verify: hash count does not match the size");
		}
		if ((op->flags & DITTO_VERIFY_FLAGGED) &&
		    !(op->flags & DITTO_VERIFY_CHECKSUM))
			return invalid(why, "verify: FLAGGED without CHECKSUM");
		if ((op->flags & DITTO_VERIFY_GUARD) &&
		    (op->flags != DITTO_VERIFY_GUARD || !S_ISREG(op->mode)))
			return invalid(why, "verify: a guard is of a regular file, with no other flag");
		if ((op->flags & DITTO_VERIFY_LINK) &&
		    !op_path_valid((const char *)op->data, op->data_len))
			return invalid(why, "verify: invalid link group path");
		break;
	case DITTO_OP_DIRLIST:
		if (!names_valid(op->data, op->data_len))
			return invalid(why, "dirlist: invalid name list");
		break;
	case DITTO_OP_ORPHANS:
		if ((op->flags & DITTO_ORPHANS_DELETE) &&
		    (op->flags & DITTO_ORPHANS_MOVE))
			return invalid(why, "orphans: DELETE and MOVE together");
		if ((op->flags & DITTO_ORPHANS_MOVE) ?
		    !op_path_valid((const char *)op->data, op->data_len) :
		    op->data_len != 0)
			return invalid(why, "orphans: invalid move directory");
		if (op->off > OFF_MAX)
			return invalid(why, "orphans: age out of range");
		break;
	default:
		break;
	}
	return 0;
}

int op_xattr_list_valid(const void *data, size_t len)
{
	const char *p = data, *end = p + len, *nul;

	if (len && !p)
		return 0;
	while (p < end) {
		nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul || nul == p || nul - p > DITTO_XATTR_NAME_MAX)
			return 0;
		p = nul + 1;
	}
	return 1;
}

int op_validate(const struct ditto_op *op, const char **why)
{
	const struct kind_info *k = kind_info(op->kind);
	uint32_t f;

	if (!k)
		return invalid(why, "unknown op kind");
	f = k->fields;
	if ((f & F_FLAGS) && (op->flags & ~k->flags_mask))
		return invalid(why, "unknown flag bits for this kind");
	if (op->kind == DITTO_OP_RENAME &&
	    (op->flags & DITTO_RENAME_NOREPLACE) &&
	    (op->flags & DITTO_RENAME_EXCHANGE))
		return invalid(why, "rename: NOREPLACE and EXCHANGE together");
	if ((f & F_ATTR) && (op->attr_mask & ~(uint32_t)ATTR_ALL))
		return invalid(why, "unknown attr_mask bits");
	if ((f & F_OFF) && op->off > OFF_MAX)
		return invalid(why, "offset does not fit off_t");
	if ((f & F_LEN) && op->len > OFF_MAX - (f & F_OFF ? op->off : 0))
		return invalid(why, "offset + length does not fit off_t");
	if (op->kind == DITTO_OP_DIRLIST && (op->flags & DITTO_DIRLIST_ROOT)) {
		if (op->path_len != 0)
			return invalid(why, "dirlist: a path with the root flag");
	} else if ((f & F_PATH) && !op_path_valid(op->path, op->path_len)) {
		return invalid(why, "invalid path");
	}
	if ((f & F_PATH2) && !op_path_valid(op->path2, op->path2_len))
		return invalid(why, "invalid second path");
	if ((f & F_TARGET) &&
	    (!op->path2 || op->path2_len == 0 ||
	     op->path2_len > DITTO_PATH_MAX ||
	     memchr(op->path2, '\0', op->path2_len)))
		return invalid(why, "invalid symlink target");
	if (op->kind == DITTO_OP_REMOVEXATTR &&
	    (op->flags & DITTO_XATTR_ALL_EXCEPT)) {
		if (op->name_len)
			return invalid(why, "xattr name with ALL_EXCEPT");
		if (!op_xattr_list_valid(op->data, op->data_len))
			return invalid(why, "invalid list of xattr names");
	} else if ((f & F_NAME) &&
		   (!op->name || op->name_len == 0 ||
		    op->name_len > DITTO_XATTR_NAME_MAX ||
		    memchr(op->name, '\0', op->name_len))) {
		return invalid(why, "invalid xattr name");
	} else if (op->kind == DITTO_OP_REMOVEXATTR && op->data_len) {
		return invalid(why, "REMOVEXATTR data without ALL_EXCEPT");
	}
	if (f & F_DATA) {
		if (op->data_len > DITTO_OP_DATA_MAX)
			return invalid(why, "data too large");
		if (!op->data && op->data_len)
			return invalid(why, "data length without data");
		if ((f & F_OFF) && op->data_len > OFF_MAX - op->off)
			return invalid(why, "offset + data length does not fit off_t");
	}
	return validate_control(op, why);
}

size_t op_encoded_size(const struct ditto_op *op)
{
	const struct kind_info *k = kind_info(op->kind);
	size_t n = 1 + 2 + 8;
	uint32_t f;

	if (!k)
		return 0;
	f = k->fields;
	if (f & F_FLAGS)
		n += 2;
	if (f & F_ATTR) {
		n += 4;
		n += op->attr_mask & DITTO_ATTR_MODE ? 4 : 0;
		n += op->attr_mask & DITTO_ATTR_UID ? 4 : 0;
		n += op->attr_mask & DITTO_ATTR_GID ? 4 : 0;
		n += op->attr_mask & DITTO_ATTR_ATIME ? 8 : 0;
		n += op->attr_mask & DITTO_ATTR_MTIME ? 8 : 0;
	}
	n += f & F_MODE ? 4 : 0;
	n += f & F_UID ? 4 : 0;
	n += f & F_GID ? 4 : 0;
	n += f & F_RDEV ? 8 : 0;
	n += f & F_OFF ? 8 : 0;
	n += f & F_LEN ? 8 : 0;
	if (f & F_PATH)
		n += 2 + (size_t)op->path_len;
	if (f & (F_PATH2 | F_TARGET))
		n += 2 + (size_t)op->path2_len;
	if (f & F_NAME)
		n += 1 + (size_t)op->name_len;
	if (f & F_DATA)
		n += 4 + (size_t)op->data_len;
	return n;
}

/* --- encoding ----------------------------------------------------------- */

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	p = put32(p, (uint32_t)v);
	return put32(p, (uint32_t)(v >> 32));
}

static uint8_t *put_bytes(uint8_t *p, const void *src, size_t n)
{
	if (n)
		memcpy(p, src, n);
	return p + n;
}

int op_encode(const struct ditto_op *op, struct util_buf *out)
{
	uint8_t *start, *p;
	uint32_t f;
	size_t n;

	if (op_validate(op, NULL) < 0)
		return -1;
	f = kind_info(op->kind)->fields;
	n = op_encoded_size(op);
	util_buf_reserve(out, n);
	start = p = (uint8_t *)out->data + out->len;
	*p++ = OP_FORMAT_VERSION;
	p = put16(p, op->kind);
	p = put64(p, op->seq);
	if (f & F_FLAGS)
		p = put16(p, op->flags);
	if (f & F_ATTR) {
		p = put32(p, op->attr_mask);
		if (op->attr_mask & DITTO_ATTR_MODE)
			p = put32(p, op->mode);
		if (op->attr_mask & DITTO_ATTR_UID)
			p = put32(p, op->uid);
		if (op->attr_mask & DITTO_ATTR_GID)
			p = put32(p, op->gid);
		if (op->attr_mask & DITTO_ATTR_ATIME)
			p = put64(p, (uint64_t)op->atime_ns);
		if (op->attr_mask & DITTO_ATTR_MTIME)
			p = put64(p, (uint64_t)op->mtime_ns);
	}
	if (f & F_MODE)
		p = put32(p, op->mode);
	if (f & F_UID)
		p = put32(p, op->uid);
	if (f & F_GID)
		p = put32(p, op->gid);
	if (f & F_RDEV)
		p = put64(p, op->rdev);
	if (f & F_OFF)
		p = put64(p, op->off);
	if (f & F_LEN)
		p = put64(p, op->len);
	if (f & F_PATH) {
		p = put16(p, (uint16_t)op->path_len);
		p = put_bytes(p, op->path, op->path_len);
	}
	if (f & (F_PATH2 | F_TARGET)) {
		p = put16(p, (uint16_t)op->path2_len);
		p = put_bytes(p, op->path2, op->path2_len);
	}
	if (f & F_NAME) {
		*p++ = (uint8_t)op->name_len;
		p = put_bytes(p, op->name, op->name_len);
	}
	if (f & F_DATA) {
		p = put32(p, op->data_len);
		p = put_bytes(p, op->data, op->data_len);
	}
	/* The size function and the writer must agree; a mismatch would
	 * store an undecodable op, so it is a bug worth stopping on. */
	if ((size_t)(p - start) != n)
		abort();
	out->len += n;
	/* util_buf promises a terminator after the data. */
	out->data[out->len] = '\0';
	return 0;
}

/* --- decoding ----------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t left;
	const char *why; /* first failure; later reads are no-ops */
};

static const uint8_t *take(struct rd *r, size_t n, const char *what)
{
	const uint8_t *q;

	if (r->why)
		return NULL;
	if (n > r->left) {
		r->why = what;
		return NULL;
	}
	q = r->p;
	r->p += n;
	r->left -= n;
	return q;
}

static uint16_t get16(struct rd *r, const char *what)
{
	const uint8_t *q = take(r, 2, what);

	return q ? (uint16_t)(q[0] | q[1] << 8) : 0;
}

static uint32_t get32(struct rd *r, const char *what)
{
	const uint8_t *q = take(r, 4, what);

	return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 |
		   (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24 : 0;
}

static uint64_t get64(struct rd *r, const char *what)
{
	uint64_t lo = get32(r, what);

	return lo | (uint64_t)get32(r, what) << 32;
}

/* Length-checked before allocating, so a forged length never costs more
 * memory than the field's maximum. */
static void *get_bytes(struct rd *r, size_t n, size_t max, const char *what)
{
	const uint8_t *q;

	if (r->why)
		return NULL;
	if (n > max) {
		r->why = what;
		return NULL;
	}
	q = take(r, n, what);
	return q ? dup_bytes(q, n) : NULL;
}

int op_decode_why(const uint8_t *p, size_t len, struct ditto_op *op,
		  const char **why)
{
	struct rd r = { p, len, NULL };
	const struct kind_info *k;
	const char *reason = NULL;
	const uint8_t *ver;
	uint32_t f, a;
	int ret = -1;

	memset(op, 0, sizeof(*op));
	ver = take(&r, 1, "truncated header");
	if (ver && *ver != OP_FORMAT_VERSION) {
		reason = "unsupported op format version";
		goto done;
	}
	op->kind = get16(&r, "truncated header");
	op->seq = get64(&r, "truncated header");
	if (r.why)
		goto done;
	k = kind_info(op->kind);
	if (!k) {
		reason = "unknown op kind";
		goto done;
	}
	f = k->fields;
	if (f & F_FLAGS)
		op->flags = get16(&r, "truncated flags");
	if (f & F_ATTR) {
		a = op->attr_mask = get32(&r, "truncated attr_mask");
		if (a & DITTO_ATTR_MODE)
			op->mode = get32(&r, "truncated mode");
		if (a & DITTO_ATTR_UID)
			op->uid = get32(&r, "truncated uid");
		if (a & DITTO_ATTR_GID)
			op->gid = get32(&r, "truncated gid");
		if (a & DITTO_ATTR_ATIME)
			op->atime_ns = (int64_t)get64(&r, "truncated atime");
		if (a & DITTO_ATTR_MTIME)
			op->mtime_ns = (int64_t)get64(&r, "truncated mtime");
	}
	if (f & F_MODE)
		op->mode = get32(&r, "truncated mode");
	if (f & F_UID)
		op->uid = get32(&r, "truncated uid");
	if (f & F_GID)
		op->gid = get32(&r, "truncated gid");
	if (f & F_RDEV)
		op->rdev = get64(&r, "truncated rdev");
	if (f & F_OFF)
		op->off = get64(&r, "truncated offset");
	if (f & F_LEN)
		op->len = get64(&r, "truncated length");
	if (f & F_PATH) {
		op->path_len = get16(&r, "truncated path");
		op->path = get_bytes(&r, op->path_len, DITTO_PATH_MAX,
				     "path length out of bounds");
	}
	if (f & (F_PATH2 | F_TARGET)) {
		op->path2_len = get16(&r, "truncated path2");
		op->path2 = get_bytes(&r, op->path2_len, DITTO_PATH_MAX,
				      "path2 length out of bounds");
	}
	if (f & F_NAME) {
		const uint8_t *nl = take(&r, 1, "truncated name");

		op->name_len = nl ? *nl : 0;
		op->name = get_bytes(&r, op->name_len, DITTO_XATTR_NAME_MAX,
				     "name length out of bounds");
	}
	if (f & F_DATA) {
		op->data_len = get32(&r, "truncated data");
		op->data = get_bytes(&r, op->data_len, DITTO_OP_DATA_MAX,
				     "data length out of bounds");
	}
	if (r.why)
		goto done;
	if (r.left) {
		reason = "trailing bytes after op";
		goto done;
	}
	if (op_validate(op, &reason) < 0)
		goto done;
	ret = 0;
done:
	if (ret < 0) {
		op_free(op);
		if (why)
			*why = reason ? reason : r.why;
		errno = EBADMSG;
	}
	return ret;
}

int op_decode(const uint8_t *p, size_t len, struct ditto_op *op)
{
	return op_decode_why(p, len, op, NULL);
}

int op_peek_path(const uint8_t *p, size_t len, const char **path, size_t *path_len)
{
	struct rd r = { p, len, NULL };
	const struct kind_info *k = NULL;
	const uint8_t *ver = take(&r, 1, "header");
	uint16_t kind = get16(&r, "header");
	size_t skip = 0;
	uint32_t f, a;

	get64(&r, "header");
	if (!r.why && *ver == OP_FORMAT_VERSION && kind < DITTO_OP_MIRROR_BEGIN)
		k = kind_info(kind);
	if (!k || !(k->fields & F_PATH))
		return 0;
	/* The fields ahead of the path, in op_decode's order. */
	f = k->fields;
	if (f & F_FLAGS)
		take(&r, 2, "flags");
	if (f & F_ATTR) {
		a = get32(&r, "attr_mask");
		skip += (a & DITTO_ATTR_MODE ? 4 : 0) + (a & DITTO_ATTR_UID ? 4 : 0) +
			(a & DITTO_ATTR_GID ? 4 : 0) + (a & DITTO_ATTR_ATIME ? 8 : 0) +
			(a & DITTO_ATTR_MTIME ? 8 : 0);
	}
	skip += (f & F_MODE ? 4 : 0) + (f & F_UID ? 4 : 0) + (f & F_GID ? 4 : 0) +
		(f & F_RDEV ? 8 : 0) + (f & F_OFF ? 8 : 0) + (f & F_LEN ? 8 : 0);
	take(&r, skip, "fields");
	*path_len = get16(&r, "path");
	*path = (const char *)take(&r, *path_len, "path");
	return !r.why && *path_len ? 1 : 0;
}
