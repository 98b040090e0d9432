#include "config.h"

#include "op.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --- helpers -------------------------------------------------------------- */

static const uint16_t all_kinds[] = {
	DITTO_OP_WRITE, DITTO_OP_TRUNCATE, DITTO_OP_FALLOCATE,
	DITTO_OP_CREATE, DITTO_OP_MKDIR, DITTO_OP_MKNOD, DITTO_OP_SYMLINK,
	DITTO_OP_LINK, DITTO_OP_UNLINK, DITTO_OP_RMDIR, DITTO_OP_RENAME,
	DITTO_OP_SETATTR, DITTO_OP_SETXATTR, DITTO_OP_REMOVEXATTR,
	DITTO_OP_BLOCK_WRITE, DITTO_OP_MIRROR_BEGIN, DITTO_OP_MIRROR_END,
	DITTO_OP_MARKER, DITTO_OP_VERIFY, DITTO_OP_DIRLIST, DITTO_OP_ORPHANS,
	DITTO_OP_REPSET_BACKUP,
};

static bool bytes_eq(const void *a, uint32_t alen, const void *b,
		     uint32_t blen)
{
	if (alen != blen || (!a) != (!b))
		return false;
	return !a || (memcmp(a, b, alen) == 0 && ((const char *)a)[alen] == 0 &&
		      ((const char *)b)[blen] == 0);
}

static void expect_op_eq(const struct ditto_op *a, const struct ditto_op *b)
{
	cr_expect_eq(a->seq, b->seq);
	cr_expect_eq(a->kind, b->kind);
	cr_expect_eq(a->flags, b->flags);
	cr_expect_eq(a->attr_mask, b->attr_mask);
	cr_expect_eq(a->mode, b->mode);
	cr_expect_eq(a->uid, b->uid);
	cr_expect_eq(a->gid, b->gid);
	cr_expect_eq(a->rdev, b->rdev);
	cr_expect_eq(a->off, b->off);
	cr_expect_eq(a->len, b->len);
	cr_expect_eq(a->atime_ns, b->atime_ns);
	cr_expect_eq(a->mtime_ns, b->mtime_ns);
	cr_expect(bytes_eq(a->path, a->path_len, b->path, b->path_len),
		  "path differs (kind %s)", op_kind_name(a->kind));
	cr_expect(bytes_eq(a->path2, a->path2_len, b->path2, b->path2_len),
		  "path2 differs (kind %s)", op_kind_name(a->kind));
	cr_expect(bytes_eq(a->name, a->name_len, b->name, b->name_len),
		  "name differs (kind %s)", op_kind_name(a->kind));
	cr_expect(bytes_eq(a->data, a->data_len, b->data, b->data_len),
		  "data differs (kind %s)", op_kind_name(a->kind));
}

/* A valid op of the kind with every field it carries set to something
 * distinctive, and nothing else. */
static void sample_op(struct ditto_op *op, uint16_t kind, uint64_t seq)
{
	op_init(op, kind);
	op->seq = seq;
	switch (kind) {
	case DITTO_OP_WRITE:
	case DITTO_OP_BLOCK_WRITE:
		op_set_path(op, "dir/file", 8);
		op->off = 0x0102030405060708ull;
		op_set_data(op, "hello\0world", 11);
		break;
	case DITTO_OP_TRUNCATE:
		op_set_path(op, "t", 1);
		op->off = 12345;
		break;
	case DITTO_OP_FALLOCATE:
		op_set_path(op, "f", 1);
		op->off = 4096;
		op->len = 8192;
		op->flags = DITTO_FALLOC_KEEP_SIZE | DITTO_FALLOC_PUNCH_HOLE;
		break;
	case DITTO_OP_CREATE:
	case DITTO_OP_MKDIR:
		op_set_path(op, "a/b/c", 5);
		op->mode = 0755;
		op->uid = 1000;
		op->gid = 0xfffffffe;
		if (kind == DITTO_OP_CREATE)
			op->flags = DITTO_CREATE_NEW;
		break;
	case DITTO_OP_MKNOD:
		op_set_path(op, "dev/null", 8);
		op->mode = S_IFCHR | 0666;
		op->rdev = 0x103;
		op->uid = 0;
		op->gid = 5;
		break;
	case DITTO_OP_SYMLINK:
		op_set_path(op, "link", 4);
		op_set_path2(op, "/abs/../../target//x", 20);
		op->uid = 7;
		op->gid = 8;
		break;
	case DITTO_OP_LINK:
		op_set_path(op, "new", 3);
		op_set_path2(op, "old/name", 8);
		break;
	case DITTO_OP_UNLINK:
		op_set_path(op, "gone", 4);
		break;
	case DITTO_OP_RMDIR:
		op_set_path(op, "tree", 4);
		op->flags = DITTO_RMDIR_RECURSIVE;
		break;
	case DITTO_OP_RENAME:
		op_set_path(op, "from", 4);
		op_set_path2(op, "to/here", 7);
		op->flags = DITTO_RENAME_NOREPLACE;
		break;
	case DITTO_OP_SETATTR:
		op_set_path(op, "attrs", 5);
		op->attr_mask = DITTO_ATTR_MODE | DITTO_ATTR_UID |
				DITTO_ATTR_GID | DITTO_ATTR_ATIME |
				DITTO_ATTR_MTIME;
		op->mode = 0640;
		op->uid = 1;
		op->gid = 2;
		op->atime_ns = -1234567890123ll;
		op->mtime_ns = 1700000000123456789ll;
		break;
	case DITTO_OP_SETXATTR:
		op_set_path(op, "x", 1);
		op_set_name(op, "system.posix_acl_access", 23);
		op_set_data(op, "\x02\x00\x00\x00", 4);
		break;
	case DITTO_OP_REMOVEXATTR:
		op_set_path(op, "x", 1);
		op_set_name(op, "user.k", 6);
		op_set_data(op, "", 0);
		break;
	case DITTO_OP_MIRROR_BEGIN:
		op->flags = 3;
		op->off = 1ull << 40;
		break;
	case DITTO_OP_MIRROR_END:
		break;
	case DITTO_OP_MARKER:
		op->off = 42;
		break;
	case DITTO_OP_VERIFY:
		op_set_path(op, "v", 1);
		op->flags = DITTO_VERIFY_CHECKSUM;
		op->attr_mask = DITTO_ATTR_MTIME;
		op->mtime_ns = 1700000000123456789ll;
		op->mode = 0100644;
		op->uid = 7;
		op->gid = 8;
		op->off = 65536;
		op->len = 65537;
		op_set_data(op, "0123456789abcdef", 16);
		break;
	case DITTO_OP_DIRLIST:
		op_set_path(op, "d", 1);
		op->flags = DITTO_DIRLIST_FIRST | DITTO_DIRLIST_LAST;
		op_set_data(op, "a\0b c\0\xff\0", 8);
		break;
	case DITTO_OP_ORPHANS:
		op->flags = DITTO_ORPHANS_MOVE | DITTO_ORPHANS_LOG;
		op->off = 3600;
		op_set_data(op, "orphans/here", 12);
		break;
	case DITTO_OP_REPSET_BACKUP:
		op_set_data(op, "source = \"s\";", 14);
		break;
	default:
		cr_assert_fail("no sample for kind %u", kind);
	}
}

static void round_trip(const struct ditto_op *op)
{
	struct util_buf b;
	struct ditto_op got;
	const char *why = NULL;

	util_buf_init(&b);
	cr_assert_eq(op_encode(op, &b), 0, "encode %s: %s",
		     op_kind_name(op->kind), strerror(errno));
	cr_assert_eq(b.len, op_encoded_size(op));
	cr_assert_eq(op_decode_why((const uint8_t *)b.data, b.len, &got, &why),
		     0, "decode %s: %s", op_kind_name(op->kind), why);
	expect_op_eq(op, &got);
	op_free(&got);
	util_buf_free(&b);
}

/* Encode must refuse (appending nothing), and so must decode of the same
 * op written by hand with the test's raw writer. */
static void expect_encode_refused(const struct ditto_op *op)
{
	struct util_buf b;

	util_buf_init(&b);
	util_buf_puts(&b, "x");
	errno = 0;
	cr_expect_eq(op_encode(op, &b), -1, "kind %s encoded",
		     op_kind_name(op->kind));
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(b.len, 1, "refused encode appended bytes");
	util_buf_free(&b);
}

/* Raw little-endian writer, independent of the code under test, so the
 * documented layout itself is checked. */
static void raw8(struct util_buf *b, uint8_t v)
{
	util_buf_append(b, &v, 1);
}

static void raw16(struct util_buf *b, uint16_t v)
{
	raw8(b, (uint8_t)v);
	raw8(b, (uint8_t)(v >> 8));
}

static void raw32(struct util_buf *b, uint32_t v)
{
	raw16(b, (uint16_t)v);
	raw16(b, (uint16_t)(v >> 16));
}

static void raw64(struct util_buf *b, uint64_t v)
{
	raw32(b, (uint32_t)v);
	raw32(b, (uint32_t)(v >> 32));
}

static void raw_str16(struct util_buf *b, const void *s, size_t n)
{
	raw16(b, (uint16_t)n);
	util_buf_append(b, s, n);
}

static void raw_hdr(struct util_buf *b, uint16_t kind, uint64_t seq)
{
	raw8(b, OP_FORMAT_VERSION);
	raw16(b, kind);
	raw64(b, seq);
}

static void expect_decode_refused(const struct util_buf *b, const char *what)
{
	struct ditto_op op;
	const char *why = NULL;

	memset(&op, 0xa5, sizeof(op));
	errno = 0;
	cr_expect_eq(op_decode_why((const uint8_t *)b->data, b->len, &op, &why),
		     -1, "decoded: %s", what);
	cr_expect_eq(errno, EBADMSG, "%s", what);
	cr_expect_not_null(why, "%s: no reason", what);
	cr_expect_null(op.path, "%s: op not zeroed", what);
	cr_expect_eq(op.kind, 0, "%s: op not zeroed", what);
}

static void expect_decode_ok(const struct util_buf *b, const char *what)
{
	struct ditto_op op;
	const char *why = NULL;

	cr_expect_eq(op_decode_why((const uint8_t *)b->data, b->len, &op, &why),
		     0, "%s refused: %s", what, why ? why : "");
	op_free(&op);
}

/* --- round trips ------------------------------------------------------------ */

Test(op, round_trip_every_kind)
{
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(all_kinds); i++) {
		struct ditto_op op;

		sample_op(&op, all_kinds[i], 1000 + i);
		cr_expect(op_kind_valid(all_kinds[i]));
		cr_expect_str_neq(op_kind_name(all_kinds[i]), "UNKNOWN");
		round_trip(&op);
		op_free(&op);
	}
}

Test(op, golden_bytes_write)
{
	/* Pins the documented layout: version, kind, seq, off, path, data. */
	static const uint8_t want[] = {
		0x02, 0x01, 0x00,
		0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x03, 0x00, 'a', '/', 'b',
		0x02, 0x00, 0x00, 0x00, 0xde, 0xad,
	};
	struct ditto_op op;
	struct util_buf b;

	op_init(&op, DITTO_OP_WRITE);
	op.seq = 9;
	op.off = 16;
	op_set_path(&op, "a/b", 3);
	op_set_data(&op, "\xde\xad", 2);
	util_buf_init(&b);
	cr_assert_eq(op_encode(&op, &b), 0);
	cr_assert_eq(b.len, sizeof(want));
	cr_expect_arr_eq(b.data, want, sizeof(want));
	op_free(&op);
	util_buf_free(&b);
}

Test(op, golden_bytes_setattr_partial)
{
	/* Only the selected values are present: mask MODE|MTIME. */
	static const uint8_t want[] = {
		0x02, 0x0c, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x11, 0x00, 0x00, 0x00,
		0xa4, 0x01, 0x00, 0x00,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x01, 0x00, 'p',
	};
	struct ditto_op op;
	struct util_buf b;

	op_init(&op, DITTO_OP_SETATTR);
	op.seq = 2;
	op.attr_mask = DITTO_ATTR_MODE | DITTO_ATTR_MTIME;
	op.mode = 0644;
	op.uid = 99; /* not selected: not encoded */
	op.mtime_ns = -1;
	op_set_path(&op, "p", 1);
	util_buf_init(&b);
	cr_assert_eq(op_encode(&op, &b), 0);
	cr_assert_eq(b.len, sizeof(want));
	cr_expect_arr_eq(b.data, want, sizeof(want));
	op_free(&op);
	util_buf_free(&b);
}

Test(op, golden_bytes_create_and_removexattr)
{
	/* What version 2 changed: CREATE carries flags before its path,
	 * REMOVEXATTR flags first and data after the name. */
	static const uint8_t want_create[] = {
		0x02, 0x04, 0x00,
		0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00,
		0xa4, 0x01, 0x00, 0x00,
		0x07, 0x00, 0x00, 0x00,
		0x08, 0x00, 0x00, 0x00,
		0x01, 0x00, 'f',
	};
	static const uint8_t want_rx[] = {
		0x02, 0x0e, 0x00,
		0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00,
		0x01, 0x00, 'f',
		0x00,
		0x07, 0x00, 0x00, 0x00, 'u', 's', 'e', 'r', '.', 'k', 0x00,
	};
	struct ditto_op op;
	struct util_buf b;

	op_init(&op, DITTO_OP_CREATE);
	op.seq = 5;
	op.flags = DITTO_CREATE_NEW;
	op.mode = 0644;
	op.uid = 7;
	op.gid = 8;
	op_set_path(&op, "f", 1);
	util_buf_init(&b);
	cr_assert_eq(op_encode(&op, &b), 0);
	cr_assert_eq(b.len, sizeof(want_create));
	cr_expect_arr_eq(b.data, want_create, sizeof(want_create));
	op_free(&op);

	op_init(&op, DITTO_OP_REMOVEXATTR);
	op.seq = 6;
	op.flags = DITTO_XATTR_ALL_EXCEPT;
	op_set_path(&op, "f", 1);
	op_set_data(&op, "user.k", 7);
	util_buf_reset(&b);
	cr_assert_eq(op_encode(&op, &b), 0);
	cr_assert_eq(b.len, sizeof(want_rx));
	cr_expect_arr_eq(b.data, want_rx, sizeof(want_rx));
	op_free(&op);
	util_buf_free(&b);
}

Test(op, setattr_every_mask)
{
	uint32_t m;

	for (m = 0; m < 32; m++) {
		struct ditto_op op, got;
		struct util_buf b;

		op_init(&op, DITTO_OP_SETATTR);
		op.seq = m;
		op_set_path(&op, "f", 1);
		op.attr_mask = m;
		op.mode = m & DITTO_ATTR_MODE ? 04755 : 0;
		op.uid = m & DITTO_ATTR_UID ? 65534 : 0;
		op.gid = m & DITTO_ATTR_GID ? 65533 : 0;
		op.atime_ns = m & DITTO_ATTR_ATIME ? INT64_MIN : 0;
		op.mtime_ns = m & DITTO_ATTR_MTIME ? INT64_MAX : 0;
		round_trip(&op);

		/* Values outside the mask are not carried. */
		op.mode = op.uid = op.gid = 1;
		op.atime_ns = op.mtime_ns = 1;
		util_buf_init(&b);
		cr_assert_eq(op_encode(&op, &b), 0);
		cr_assert_eq(op_decode((const uint8_t *)b.data, b.len, &got), 0);
		cr_expect_eq(got.mode, m & DITTO_ATTR_MODE ? 1u : 0u);
		cr_expect_eq(got.uid, m & DITTO_ATTR_UID ? 1u : 0u);
		cr_expect_eq(got.gid, m & DITTO_ATTR_GID ? 1u : 0u);
		cr_expect_eq(got.atime_ns, m & DITTO_ATTR_ATIME ? 1 : 0);
		cr_expect_eq(got.mtime_ns, m & DITTO_ATTR_MTIME ? 1 : 0);
		op_free(&got);
		util_buf_free(&b);
		op_free(&op);
	}
}

Test(op, unused_fields_not_carried)
{
	struct ditto_op op, got;
	struct util_buf b;

	sample_op(&op, DITTO_OP_UNLINK, 5);
	op.mode = 0777;
	op.off = 99;
	op.flags = 0xffff;
	op_set_path2(&op, "other", 5);
	op_set_data(&op, "junk", 4);
	util_buf_init(&b);
	cr_assert_eq(op_encode(&op, &b), 0);
	cr_expect_eq(b.len, 1 + 2 + 8 + 2 + 4u);
	cr_assert_eq(op_decode((const uint8_t *)b.data, b.len, &got), 0);
	cr_expect_eq(got.mode, 0);
	cr_expect_eq(got.off, 0);
	cr_expect_eq(got.flags, 0);
	cr_expect_null(got.path2);
	cr_expect_null(got.data);
	cr_expect_str_eq(got.path, "gone");
	op_free(&got);
	op_free(&op);
	util_buf_free(&b);
}

Test(op, arbitrary_byte_names)
{
	struct ditto_op op;
	char path[600];
	size_t n = 0;
	int c;

	/* Every byte but NUL and '/', split into components by '/'. */
	for (c = 1; c < 256; c++) {
		if (c == '/')
			continue;
		path[n++] = (char)c;
		if (c % 50 == 0)
			path[n++] = '/';
	}
	op_init(&op, DITTO_OP_CREATE);
	op.seq = 1;
	cr_assert_eq(op_set_path(&op, path, n), 0);
	cr_assert(op_path_valid(path, n));
	round_trip(&op);

	/* Names that only look special. */
	op_set_path(&op, "...", 3);
	round_trip(&op);
	op_set_path(&op, ".a/..b/ ./-", 11);
	round_trip(&op);
	op_set_path(&op, "\xff\xfe/\x01", 4);
	round_trip(&op);
	op_free(&op);
}

Test(op, longest_paths)
{
	struct ditto_op op;
	char *p = util_xmalloc(DITTO_PATH_MAX + 1);
	size_t i;

	for (i = 0; i < DITTO_PATH_MAX; i++)
		p[i] = (i % 200 == 199) ? '/' : (char)('a' + i % 26);
	p[DITTO_PATH_MAX - 1] = 'z';
	cr_assert(op_path_valid(p, DITTO_PATH_MAX));
	op_init(&op, DITTO_OP_RENAME);
	op.seq = 77;
	op_set_path(&op, p, DITTO_PATH_MAX);
	op_set_path2(&op, p, DITTO_PATH_MAX);
	round_trip(&op);
	op_free(&op);

	op_init(&op, DITTO_OP_SYMLINK);
	op_set_path(&op, p, DITTO_PATH_MAX);
	p[0] = '/';
	op_set_path2(&op, p, DITTO_PATH_MAX);
	round_trip(&op);
	op_free(&op);
	free(p);
}

Test(op, largest_and_empty_data)
{
	struct ditto_op op;
	uint8_t *d = util_xmalloc(DITTO_OP_DATA_MAX);
	size_t i;

	for (i = 0; i < DITTO_OP_DATA_MAX; i++)
		d[i] = (uint8_t)(i * 131 + (i >> 11));
	op_init(&op, DITTO_OP_WRITE);
	op.seq = UINT64_MAX;
	op.off = (uint64_t)INT64_MAX - DITTO_OP_DATA_MAX;
	op_set_path(&op, "big", 3);
	op_set_data(&op, d, DITTO_OP_DATA_MAX);
	round_trip(&op);
	cr_expect_leq(op_encoded_size(&op), OP_ENCODED_MAX);
	op.kind = DITTO_OP_BLOCK_WRITE;
	round_trip(&op);
	{
		struct ditto_op x;

		op_init(&x, DITTO_OP_SETXATTR);
		op_set_path(&x, "big", 3);
		op_set_name(&x, "user.big", 8);
		op_set_data(&x, d, DITTO_OP_DATA_MAX);
		round_trip(&x);
		op_free(&x);
	}

	/* Zero-length data decodes as an empty, non-NULL buffer. */
	op.kind = DITTO_OP_WRITE;
	op_set_data(&op, NULL, 0);
	round_trip(&op);
	{
		struct util_buf b;
		struct ditto_op got;

		util_buf_init(&b);
		cr_assert_eq(op_encode(&op, &b), 0);
		cr_assert_eq(op_decode((const uint8_t *)b.data, b.len, &got), 0);
		cr_expect_not_null(got.data);
		cr_expect_eq(got.data_len, 0);
		op_free(&got);
		util_buf_free(&b);
	}
	/* A NULL data pointer with length 0 is the same op. */
	free(op.data);
	op.data = NULL;
	cr_expect_eq(op_validate(&op, NULL), 0);
	op_free(&op);
	free(d);
}

Test(op, removexattr_all_except)
{
	struct ditto_op op;
	char name[DITTO_XATTR_NAME_MAX + 2];
	const char *why = NULL;

	/* The empty list (remove them all) and a list of names round-trip. */
	op_init(&op, DITTO_OP_REMOVEXATTR);
	op.flags = DITTO_XATTR_ALL_EXCEPT;
	op_set_path(&op, "d/f", 3);
	op_set_name(&op, "", 0); /* empty fields decode as empty, not NULL */
	op_set_data(&op, "", 0);
	round_trip(&op);
	op_set_data(&op, "user.k\0system.posix_acl_access\0", 31);
	round_trip(&op);
	/* The longest name is fine, one more byte is not. */
	memset(name, 'n', sizeof(name));
	name[DITTO_XATTR_NAME_MAX] = '\0';
	op_set_data(&op, name, DITTO_XATTR_NAME_MAX + 1);
	round_trip(&op);
	name[DITTO_XATTR_NAME_MAX] = 'n';
	name[DITTO_XATTR_NAME_MAX + 1] = '\0';
	op_set_data(&op, name, sizeof(name));
	cr_expect_eq(op_validate(&op, &why), -1);
	cr_expect_str_eq(why, "invalid list of xattr names");
	/* Empty element, missing last NUL. */
	op_set_data(&op, "a\0\0", 3);
	expect_encode_refused(&op);
	op_set_data(&op, "\0", 1);
	expect_encode_refused(&op);
	op_set_data(&op, "a", 1);
	expect_encode_refused(&op);
	/* With ALL_EXCEPT there is no single name. */
	op_set_data(&op, "a\0", 2);
	cr_expect_eq(op_validate(&op, NULL), 0);
	op_set_name(&op, "user.k", 6);
	expect_encode_refused(&op);
	/* Without it a name is required and data is not allowed. */
	op.flags = 0;
	expect_encode_refused(&op);
	op_set_data(&op, "", 0);
	cr_expect_eq(op_validate(&op, NULL), 0);
	op.flags = 0x2;
	expect_encode_refused(&op);
	op_free(&op);
	cr_expect(op_xattr_list_valid(NULL, 0));
	cr_expect_not(op_xattr_list_valid(NULL, 1));
}

Test(op, create_new_flag)
{
	struct ditto_op op;

	op_init(&op, DITTO_OP_CREATE);
	op_set_path(&op, "f", 1);
	op.flags = DITTO_CREATE_NEW;
	round_trip(&op);
	op.flags = 0;
	round_trip(&op);
	op.flags = 0x2;
	expect_encode_refused(&op);
	op_free(&op);
}

Test(op, largest_xattr_name)
{
	struct ditto_op op;
	char name[DITTO_XATTR_NAME_MAX];

	memset(name, 'n', sizeof(name));
	op_init(&op, DITTO_OP_REMOVEXATTR);
	op_set_path(&op, "f", 1);
	op_set_name(&op, name, sizeof(name));
	op_set_data(&op, "", 0);
	round_trip(&op);
	op_free(&op);
}

/* --- validation ------------------------------------------------------------- */

Test(op, path_rules)
{
	static const struct {
		const char *p;
		size_t n;
		int ok;
	} cases[] = {
		{ "a", 1, 1 },
		{ "a/b", 3, 1 },
		{ "...", 3, 1 },
		{ ".x", 2, 1 },
		{ "a/.b/c..", 8, 1 },
		{ "", 0, 0 },
		{ "/", 1, 0 },
		{ "/a", 2, 0 },
		{ ".", 1, 0 },
		{ "..", 2, 0 },
		{ "a/.", 3, 0 },
		{ "a/..", 4, 0 },
		{ "./a", 3, 0 },
		{ "../a", 4, 0 },
		{ "a/./b", 5, 0 },
		{ "a/../b", 6, 0 },
		{ "a//b", 4, 0 },
		{ "a/", 2, 0 },
		{ "a\0b", 3, 0 },
		{ "ab\0", 3, 0 },
	};
	char *longp;
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(cases); i++)
		cr_expect_eq(op_path_valid(cases[i].p, cases[i].n), cases[i].ok,
			     "case %zu", i);
	cr_expect_eq(op_path_valid(NULL, 0), 0);
	longp = util_xmalloc(DITTO_PATH_MAX + 2);
	memset(longp, 'x', DITTO_PATH_MAX + 1);
	cr_expect_eq(op_path_valid(longp, DITTO_PATH_MAX), 1);
	cr_expect_eq(op_path_valid(longp, DITTO_PATH_MAX + 1), 0);
	free(longp);
}

/* Sets a field to a bad value and expects encode to refuse the op. */
Test(op, encode_refuses_invalid)
{
	static const char *bad_paths[] = { "", "/a", ".", "..", "a/./b",
					   "a/../b", "a//b", "a/" };
	char big[DITTO_PATH_MAX + 1];
	struct ditto_op op;
	const char *why;
	size_t i, k;

	memset(big, 'p', sizeof(big));

	/* Path rules, for every kind with a path. */
	for (k = 0; k < UTIL_ARRAY_SIZE(all_kinds); k++) {
		sample_op(&op, all_kinds[k], 1);
		if (!op.path) {
			op_free(&op);
			continue;
		}
		for (i = 0; i < UTIL_ARRAY_SIZE(bad_paths); i++) {
			op_set_path(&op, bad_paths[i], strlen(bad_paths[i]));
			expect_encode_refused(&op);
		}
		op_set_path(&op, "a\0b", 3);
		expect_encode_refused(&op);
		op_set_path(&op, big, sizeof(big));
		expect_encode_refused(&op);
		free(op.path);
		op.path = NULL;
		op.path_len = 0;
		expect_encode_refused(&op);
		op_free(&op);
	}

	/* path2 required and valid for LINK and RENAME. */
	for (k = 0; k < 2; k++) {
		sample_op(&op, k ? DITTO_OP_RENAME : DITTO_OP_LINK, 1);
		free(op.path2);
		op.path2 = NULL;
		op.path2_len = 0;
		expect_encode_refused(&op);
		for (i = 0; i < UTIL_ARRAY_SIZE(bad_paths); i++) {
			op_set_path2(&op, bad_paths[i], strlen(bad_paths[i]));
			expect_encode_refused(&op);
		}
		op_set_path2(&op, big, sizeof(big));
		expect_encode_refused(&op);
		op_free(&op);
	}

	/* Symlink target: required, no NUL, at most DITTO_PATH_MAX. */
	sample_op(&op, DITTO_OP_SYMLINK, 1);
	op_set_path2(&op, "", 0);
	expect_encode_refused(&op);
	op_set_path2(&op, "a\0", 2);
	expect_encode_refused(&op);
	op_set_path2(&op, big, sizeof(big));
	expect_encode_refused(&op);
	op_set_path2(&op, "/..", 3);
	cr_expect_eq(op_validate(&op, NULL), 0);
	op_free(&op);

	/* Xattr name. */
	for (k = 0; k < 2; k++) {
		char name[DITTO_XATTR_NAME_MAX + 1];

		memset(name, 'n', sizeof(name));
		sample_op(&op, k ? DITTO_OP_SETXATTR : DITTO_OP_REMOVEXATTR, 1);
		op_set_name(&op, "", 0);
		expect_encode_refused(&op);
		op_set_name(&op, "us\0er", 5);
		expect_encode_refused(&op);
		op_set_name(&op, name, sizeof(name));
		expect_encode_refused(&op);
		op_free(&op);
	}

	/* Data size and offset overflow. */
	sample_op(&op, DITTO_OP_WRITE, 1);
	op.data_len = DITTO_OP_DATA_MAX + 1; /* length alone is checked first */
	cr_expect_eq(op_validate(&op, &why), -1);
	cr_expect_str_eq(why, "data too large");
	op.data_len = 11;
	op.off = (uint64_t)INT64_MAX;
	expect_encode_refused(&op);
	op.off = (uint64_t)INT64_MAX - 11;
	cr_expect_eq(op_validate(&op, NULL), 0);
	op.off = (uint64_t)INT64_MAX + 1;
	expect_encode_refused(&op);
	op_free(&op);

	sample_op(&op, DITTO_OP_TRUNCATE, 1);
	op.off = (uint64_t)INT64_MAX + 1;
	expect_encode_refused(&op);
	op_free(&op);

	sample_op(&op, DITTO_OP_FALLOCATE, 1);
	op.len = (uint64_t)INT64_MAX;
	expect_encode_refused(&op);
	op.flags = 0x4;
	op.len = 1;
	expect_encode_refused(&op);
	op_free(&op);

	/* Flags. */
	sample_op(&op, DITTO_OP_RENAME, 1);
	op.flags = DITTO_RENAME_NOREPLACE | DITTO_RENAME_EXCHANGE;
	expect_encode_refused(&op);
	op.flags = 0x4;
	expect_encode_refused(&op);
	op.flags = DITTO_RENAME_EXCHANGE;
	cr_expect_eq(op_validate(&op, NULL), 0);
	op_free(&op);

	sample_op(&op, DITTO_OP_RMDIR, 1);
	op.flags = 0x2;
	expect_encode_refused(&op);
	op_free(&op);

	sample_op(&op, DITTO_OP_MIRROR_BEGIN, 1);
	op.flags = 0xffff; /* the mirror type: free */
	cr_expect_eq(op_validate(&op, NULL), 0);
	op_free(&op);

	sample_op(&op, DITTO_OP_SETATTR, 1);
	op.attr_mask = 0x20;
	expect_encode_refused(&op);
	op_free(&op);

	/* Unknown kinds. */
	{
		static const uint16_t bad[] = { 0, 16, 31, 39, 0xffff };

		for (i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
			op_init(&op, bad[i]);
			op_set_path(&op, "a", 1);
			expect_encode_refused(&op);
			cr_expect_eq(op_encoded_size(&op), 0);
			cr_expect_str_eq(op_kind_name(bad[i]), "UNKNOWN");
			cr_expect_not(op_kind_valid(bad[i]));
			op_free(&op);
		}
	}
}

Test(op, decode_hand_built)
{
	struct util_buf b;

	util_buf_init(&b);
	/* A valid LINK written by hand decodes. */
	raw_hdr(&b, DITTO_OP_LINK, 3);
	raw_str16(&b, "n", 1);
	raw_str16(&b, "o", 1);
	expect_decode_ok(&b, "hand-built LINK");

	/* Missing path2 (path2_len 0). */
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_LINK, 3);
	raw_str16(&b, "n", 1);
	raw_str16(&b, "", 0);
	expect_decode_refused(&b, "LINK without path2");

	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_RENAME, 3);
	raw16(&b, 0);
	raw_str16(&b, "n", 1);
	raw_str16(&b, "", 0);
	expect_decode_refused(&b, "RENAME without path2");

	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_SYMLINK, 3);
	raw32(&b, 0);
	raw32(&b, 0);
	raw_str16(&b, "l", 1);
	raw_str16(&b, "", 0);
	expect_decode_refused(&b, "SYMLINK without target");

	/* Path rules on decode. */
	{
		static const char *bad[] = { "/etc/passwd", "..", "a/../../b",
					     "a//b", ".", "x/", "" };
		size_t i;

		for (i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
			util_buf_reset(&b);
			raw_hdr(&b, DITTO_OP_UNLINK, 1);
			raw_str16(&b, bad[i], strlen(bad[i]));
			expect_decode_refused(&b, bad[i]);
		}
		util_buf_reset(&b);
		raw_hdr(&b, DITTO_OP_UNLINK, 1);
		raw_str16(&b, "a\0b", 3);
		expect_decode_refused(&b, "NUL in path");
	}

	/* Path length above the maximum even with the bytes present. */
	{
		char *p = util_xmalloc(DITTO_PATH_MAX + 1);

		memset(p, 'a', DITTO_PATH_MAX + 1);
		util_buf_reset(&b);
		raw_hdr(&b, DITTO_OP_UNLINK, 1);
		raw_str16(&b, p, DITTO_PATH_MAX + 1);
		expect_decode_refused(&b, "4096-byte path");
		util_buf_reset(&b);
		raw_hdr(&b, DITTO_OP_UNLINK, 1);
		raw_str16(&b, p, DITTO_PATH_MAX);
		expect_decode_ok(&b, "4095-byte path");
		free(p);
	}

	/* Data length above the maximum, and a length claiming more than
	 * is left. */
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_WRITE, 1);
	raw64(&b, 0);
	raw_str16(&b, "f", 1);
	raw32(&b, DITTO_OP_DATA_MAX + 1);
	expect_decode_refused(&b, "data length > max");
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_WRITE, 1);
	raw64(&b, 0);
	raw_str16(&b, "f", 1);
	raw32(&b, 4);
	util_buf_append(&b, "abc", 3);
	expect_decode_refused(&b, "data shorter than its length");
	util_buf_append(&b, "d", 1);
	expect_decode_ok(&b, "data of its length");
	util_buf_append(&b, "e", 1);
	expect_decode_refused(&b, "trailing byte");

	/* Name over the maximum cannot be expressed in u8; zero and NUL. */
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_REMOVEXATTR, 1);
	raw16(&b, 0);
	raw_str16(&b, "f", 1);
	raw8(&b, 0);
	raw32(&b, 0);
	expect_decode_refused(&b, "empty xattr name");
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_REMOVEXATTR, 1);
	raw16(&b, 0);
	raw_str16(&b, "f", 1);
	raw8(&b, 2);
	util_buf_append(&b, "a\0", 2);
	raw32(&b, 0);
	expect_decode_refused(&b, "NUL in xattr name");
	/* ALL_EXCEPT: empty name, a list of names to keep. */
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_REMOVEXATTR, 1);
	raw16(&b, DITTO_XATTR_ALL_EXCEPT);
	raw_str16(&b, "f", 1);
	raw8(&b, 0);
	raw32(&b, 9);
	util_buf_append(&b, "user.a\0b\0", 9);
	expect_decode_ok(&b, "ALL_EXCEPT with two names");
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_REMOVEXATTR, 1);
	raw16(&b, DITTO_XATTR_ALL_EXCEPT);
	raw_str16(&b, "f", 1);
	raw8(&b, 0);
	raw32(&b, 8);
	util_buf_append(&b, "user.a\0b", 8);
	expect_decode_refused(&b, "ALL_EXCEPT list without its last NUL");
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_REMOVEXATTR, 1);
	raw16(&b, 0);
	raw_str16(&b, "f", 1);
	raw8(&b, 1);
	util_buf_append(&b, "a", 1);
	raw32(&b, 2);
	util_buf_append(&b, "b\0", 2);
	expect_decode_refused(&b, "REMOVEXATTR data without ALL_EXCEPT");

	/* Version and kind: the next version, and the previous one (whose
	 * CREATE and REMOVEXATTR had no flags), are refused. */
	util_buf_reset(&b);
	raw8(&b, OP_FORMAT_VERSION + 1);
	raw16(&b, DITTO_OP_MIRROR_END);
	raw64(&b, 1);
	expect_decode_refused(&b, "next version");
	util_buf_reset(&b);
	raw8(&b, OP_FORMAT_VERSION - 1);
	raw16(&b, DITTO_OP_MIRROR_END);
	raw64(&b, 1);
	expect_decode_refused(&b, "previous version");
	util_buf_reset(&b);
	raw8(&b, 0);
	raw16(&b, DITTO_OP_MIRROR_END);
	raw64(&b, 1);
	expect_decode_refused(&b, "version 0");
	{
		static const uint16_t kinds[] = { 0, 16, 17, 31, 36, 255, 0xffff };
		size_t i;

		for (i = 0; i < UTIL_ARRAY_SIZE(kinds); i++) {
			util_buf_reset(&b);
			raw_hdr(&b, kinds[i], 1);
			expect_decode_refused(&b, "unknown kind");
		}
	}
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_MIRROR_END, 1);
	expect_decode_ok(&b, "MIRROR_END");

	/* Flags, attr mask and offsets on decode. */
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_RMDIR, 1);
	raw16(&b, 0x8000);
	raw_str16(&b, "d", 1);
	expect_decode_refused(&b, "unknown RMDIR flag");
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_SETATTR, 1);
	raw32(&b, 0x40);
	raw_str16(&b, "d", 1);
	expect_decode_refused(&b, "unknown attr bit");
	util_buf_reset(&b);
	raw_hdr(&b, DITTO_OP_TRUNCATE, 1);
	raw64(&b, UINT64_MAX);
	raw_str16(&b, "d", 1);
	expect_decode_refused(&b, "negative size");

	/* Empty input. */
	util_buf_reset(&b);
	expect_decode_refused(&b, "empty input");
	util_buf_free(&b);
}

Test(op, truncation_at_every_offset)
{
	size_t k;

	for (k = 0; k < UTIL_ARRAY_SIZE(all_kinds); k++) {
		struct ditto_op op, got;
		struct util_buf b;
		size_t cut;

		sample_op(&op, all_kinds[k], 0x1122334455667788ull);
		/* Structured data (hashes, names, a path) keeps its sample;
		 * so does an empty one (REMOVEXATTR without ALL_EXCEPT). */
		if (op.data && op.data_len && all_kinds[k] < 32) {
			uint8_t d[3000];

			memset(d, 0x5a, sizeof(d));
			op_set_data(&op, d, sizeof(d));
		}
		util_buf_init(&b);
		cr_assert_eq(op_encode(&op, &b), 0);
		for (cut = 0; cut < b.len; cut++) {
			/* Exactly cut bytes on the heap so ASan sees any
			 * read past the end. */
			uint8_t *p = util_xmalloc(cut);

			memcpy(p, b.data, cut);
			memset(&got, 0x5a, sizeof(got));
			cr_expect_eq(op_decode(p, cut, &got), -1,
				     "%s cut at %zu of %zu decoded",
				     op_kind_name(op.kind), cut, b.len);
			cr_expect_null(got.path);
			free(p);
		}
		op_free(&op);
		util_buf_free(&b);
	}
}

Test(op, copy_and_free)
{
	size_t k;

	for (k = 0; k < UTIL_ARRAY_SIZE(all_kinds); k++) {
		struct ditto_op op, cp;

		sample_op(&op, all_kinds[k], k);
		cr_assert_eq(op_copy(&cp, &op), 0);
		expect_op_eq(&op, &cp);
		if (op.path)
			cr_expect_neq(op.path, cp.path);
		if (op.data)
			cr_expect_neq(op.data, cp.data);
		op_free(&op);
		/* The copy stands on its own. */
		round_trip(&cp);
		op_free(&cp);
		op_free(&cp);
		cr_expect_null(cp.path);
	}
	{
		struct ditto_op bad, cp;

		op_init(&bad, DITTO_OP_WRITE);
		bad.path_len = 3;
		errno = 0;
		cr_expect_eq(op_copy(&cp, &bad), -1);
		cr_expect_eq(errno, EINVAL);
	}
}

Test(op, setters_copy_and_terminate)
{
	struct ditto_op op;
	char src[4] = { 'a', 'b', 'c', 'd' };

	op_init(&op, DITTO_OP_SETXATTR);
	cr_assert_eq(op_set_path(&op, src, 3), 0);
	cr_expect_str_eq(op.path, "abc");
	cr_expect_eq(op.path_len, 3);
	src[0] = 'z';
	cr_expect_eq(op.path[0], 'a');
	cr_assert_eq(op_set_path(&op, "q", 1), 0); /* replaces, no leak */
	cr_expect_str_eq(op.path, "q");
	cr_assert_eq(op_set_path2(&op, "t", 1), 0);
	cr_assert_eq(op_set_name(&op, "user.a", 6), 0);
	cr_assert_eq(op_set_data(&op, "\0\1", 2), 0);
	cr_expect_eq(op.data_len, 2);
	cr_expect_eq(op.data[2], 0);
	cr_expect_eq(op_set_data(&op, NULL, 5), -1);
	cr_expect_eq(op.data_len, 2, "failed setter changed the op");
	op_free(&op);
}

Test(op, encode_appends)
{
	struct ditto_op a, b2, got;
	struct util_buf b;
	size_t first;

	sample_op(&a, DITTO_OP_MKDIR, 1);
	sample_op(&b2, DITTO_OP_MARKER, 2);
	util_buf_init(&b);
	cr_assert_eq(op_encode(&a, &b), 0);
	first = b.len;
	cr_assert_eq(op_encode(&b2, &b), 0);
	cr_expect_eq(b.len, first + op_encoded_size(&b2));
	cr_assert_eq(op_decode((const uint8_t *)b.data + first, b.len - first,
			       &got), 0);
	expect_op_eq(&b2, &got);
	cr_expect_eq(op_decode((const uint8_t *)b.data, b.len, &got), -1,
		     "two ops decoded as one");
	op_free(&a);
	op_free(&b2);
	util_buf_free(&b);
}

/* The control ops carry structured data; what a peer could forge in it must
 * be refused at decode time, before the target looks at it. */
Test(op, control_op_rules)
{
	struct util_buf b;
	struct ditto_op op;
	const char *why;

	util_buf_init(&b);
	/* VERIFY: hashes must match the size and block size. */
	sample_op(&op, DITTO_OP_VERIFY, 1);
	op.len = 65536 * 3;
	cr_expect_lt(op_validate(&op, &why), 0, "3 blocks, 2 hashes");
	op.len = 65536 * 2;
	cr_expect_eq(op_validate(&op, &why), 0);
	op.off = 0;
	cr_expect_lt(op_validate(&op, &why), 0, "block size 0");
	op.off = 65536;
	op_set_data(&op, "0123456", 7);
	op.len = 1;
	cr_expect_lt(op_validate(&op, &why), 0, "hash list not a multiple of 8");
	op.flags = DITTO_VERIFY_LINK;
	op_set_data(&op, "../x", 4);
	cr_expect_lt(op_validate(&op, &why), 0, "link path escaping");
	op_set_data(&op, "first/name", 10);
	cr_expect_eq(op_validate(&op, &why), 0);
	/* A guard is of a regular file and nothing else. */
	op_set_data(&op, NULL, 0);
	op.flags = DITTO_VERIFY_GUARD;
	op.mode = S_IFREG | 0644;
	cr_expect_eq(op_validate(&op, &why), 0, "%s", why);
	op.mode = S_IFDIR | 0755;
	cr_expect_lt(op_validate(&op, &why), 0, "guard of a directory");
	op.mode = S_IFREG;
	op.flags = DITTO_VERIFY_GUARD | DITTO_VERIFY_LINK;
	cr_expect_lt(op_validate(&op, &why), 0, "guard with another flag");
	op.flags = DITTO_VERIFY_FLAGGED;
	cr_expect_lt(op_validate(&op, &why), 0, "FLAGGED without CHECKSUM");
	op_free(&op);

	/* DIRLIST: names and the root flag. */
	sample_op(&op, DITTO_OP_DIRLIST, 1);
	op_set_data(&op, "a\0b", 3);
	cr_expect_lt(op_validate(&op, &why), 0, "unterminated name");
	op_set_data(&op, "a\0\0", 3);
	cr_expect_lt(op_validate(&op, &why), 0, "empty name");
	op_set_data(&op, "a/b\0", 4);
	cr_expect_lt(op_validate(&op, &why), 0, "slash in a name");
	op_set_data(&op, "..\0", 3);
	cr_expect_lt(op_validate(&op, &why), 0, "dot-dot");
	op_set_data(&op, "", 0);
	cr_expect_eq(op_validate(&op, &why), 0, "an empty directory");
	op.flags |= DITTO_DIRLIST_ROOT;
	cr_expect_lt(op_validate(&op, &why), 0, "root flag with a path");
	free(op.path);
	op.path = NULL;
	op.path_len = 0;
	cr_expect_eq(op_validate(&op, &why), 0, "the root");
	cr_assert_eq(op_encode(&op, &b), 0);
	op_free(&op);
	cr_assert_eq(op_decode((const uint8_t *)b.data, b.len, &op), 0);
	cr_expect_eq(op.path_len, 0);
	cr_expect(op.flags & DITTO_DIRLIST_ROOT);
	op_free(&op);

	/* ORPHANS: one action; a move directory only with MOVE. */
	sample_op(&op, DITTO_OP_ORPHANS, 1);
	op.flags |= DITTO_ORPHANS_DELETE;
	cr_expect_lt(op_validate(&op, &why), 0, "delete and move");
	op.flags = DITTO_ORPHANS_DELETE;
	cr_expect_lt(op_validate(&op, &why), 0, "a directory without MOVE");
	op_set_data(&op, "", 0);
	cr_expect_eq(op_validate(&op, &why), 0);
	op.flags = DITTO_ORPHANS_MOVE;
	cr_expect_lt(op_validate(&op, &why), 0, "MOVE without a directory");
	op_free(&op);
	util_buf_free(&b);
}

/* --- op_peek_path ------------------------------------------------------------ */

static void expect_peek(const struct ditto_op *op, const char *what)
{
	struct util_buf b;
	const char *path = NULL;
	size_t len = 0;
	int want = op->kind < DITTO_OP_MIRROR_BEGIN && op->path_len;

	util_buf_init(&b);
	cr_assert_eq(op_encode(op, &b), 0, "%s", what);
	cr_expect_eq(op_peek_path((const uint8_t *)b.data, b.len, &path, &len), want, "%s", what);
	if (want) {
		cr_expect_eq(len, op->path_len, "%s", what);
		cr_expect(path && !memcmp(path, op->path, len), "%s: other path", what);
	}
	/* Cut short before the path ends: no path, and no read past the end. */
	if (want) {
		size_t cut = (size_t)((const uint8_t *)path - (const uint8_t *)b.data) + len - 1;

		cr_expect_eq(op_peek_path((const uint8_t *)b.data, cut, &path, &len), 0, "%s cut", what);
	}
	util_buf_free(&b);
}

Test(op, peek_path_every_kind)
{
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(all_kinds); i++) {
		struct ditto_op op;

		sample_op(&op, all_kinds[i], 7 + i);
		expect_peek(&op, op_kind_name(all_kinds[i]));
		op_free(&op);
	}
}

Test(op, peek_path_setattr_every_mask)
{
	uint32_t mask;

	for (mask = 0; mask <= 0x1f; mask++) {
		struct ditto_op op;
		char what[32];

		op_init(&op, DITTO_OP_SETATTR);
		op.attr_mask = mask;
		op.mode = 0644;
		op.uid = 1;
		op.gid = 2;
		op.atime_ns = 3;
		op.mtime_ns = 4;
		op_set_path(&op, "dir/file name", 13);
		snprintf(what, sizeof(what), "SETATTR mask %#x", mask);
		expect_peek(&op, what);
		op_free(&op);
	}
}

Test(op, peek_path_refuses_garbage)
{
	const uint8_t junk[] = { 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 'a', 'b', 'c' };
	const char *path;
	size_t len;

	/* Wrong version, then too short for even a header. */
	cr_expect_eq(op_peek_path(junk, sizeof(junk), &path, &len), 0);
	cr_expect_eq(op_peek_path(junk, 2, &path, &len), 0);
	cr_expect_eq(op_peek_path(junk, 0, &path, &len), 0);
}
