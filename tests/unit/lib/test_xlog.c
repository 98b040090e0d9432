#include "config.h"

#include "op.h"
#include "util.h"
#include "xlog.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define PEER "192.0.2.7"
#define PORT 1500
#define CON 3

static char tmpdir[64];

static void setup(void)
{
	util_strlcpy(tmpdir, "/tmp/ditto-xlog-XXXXXX", sizeof(tmpdir));
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(tmpdir);
}

TestSuite(xlog, .init = setup, .fini = teardown);

/* An op whose size and content depend on i, so order and integrity are
 * both visible when reading back. */
static void make_op(struct ditto_op *op, uint64_t seq, size_t datalen)
{
	char path[32];
	uint8_t *d = util_xmalloc(datalen ? datalen : 1);
	size_t k;

	for (k = 0; k < datalen; k++)
		d[k] = (uint8_t)(seq * 7 + k);
	op_init(op, DITTO_OP_WRITE);
	op->seq = seq;
	op->off = seq * 100;
	snprintf(path, sizeof(path), "dir/f%llu", (unsigned long long)seq);
	op_set_path(op, path, strlen(path));
	op_set_data(op, d, datalen);
	free(d);
}

static void check_op(const struct ditto_op *op, uint64_t seq, size_t datalen)
{
	char path[32];
	size_t k;

	snprintf(path, sizeof(path), "dir/f%llu", (unsigned long long)seq);
	cr_assert_eq(op->seq, seq);
	cr_assert_eq(op->kind, DITTO_OP_WRITE);
	cr_assert_eq(op->off, seq * 100);
	cr_assert_str_eq(op->path, path);
	cr_assert_eq(op->data_len, datalen, "seq %llu: data_len %u",
		     (unsigned long long)seq, op->data_len);
	for (k = 0; k < datalen; k++)
		if (op->data[k] != (uint8_t)(seq * 7 + k))
			cr_assert_fail("seq %llu: data byte %zu differs",
				       (unsigned long long)seq, k);
}

static size_t len_for(uint64_t seq)
{
	return (size_t)(seq * 37 % 300);
}

static struct xlog_writer *open_writer(uint64_t first, uint64_t max)
{
	struct xlog_writer *w = xlog_writer_open(tmpdir, PEER, PORT, CON,
						 first, max);

	cr_assert_not_null(w, "xlog_writer_open: %s", strerror(errno));
	return w;
}

static void append(struct xlog_writer *w, uint64_t seq, size_t datalen)
{
	struct ditto_op op;

	make_op(&op, seq, datalen);
	cr_assert_eq(xlog_append(w, &op), 0, "append %llu: %s",
		     (unsigned long long)seq, strerror(errno));
	op_free(&op);
}

static void list(struct xlog_files *f)
{
	cr_assert_eq(xlog_list(tmpdir, PEER, PORT, CON, f), 0, "list: %s",
		     strerror(errno));
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

/* Reads every op of every listed file; expects seqs first..last in order
 * and a clean end of each file. Returns the number of ops. */
static uint64_t read_all(uint64_t first)
{
	struct xlog_files f;
	uint64_t seq = first;
	size_t i;

	list(&f);
	for (i = 0; i < f.n; i++) {
		struct xlog_reader *r = xlog_reader_open(f.v[i].path);
		struct ditto_op op;
		int rc;

		cr_assert_not_null(r);
		while ((rc = xlog_read(r, &op)) == 1) {
			check_op(&op, seq, len_for(seq));
			op_free(&op);
			seq++;
		}
		cr_assert_eq(rc, 0, "%s: %d %s", f.v[i].path, rc,
			     xlog_reader_error(r));
		cr_assert_not_null(xlog_reader_header(r));
		cr_assert_eq(xlog_reader_header(r)->file_seq, f.v[i].file_seq);
		cr_assert_eq(xlog_reader_header(r)->con_id, CON);
		cr_assert_eq(xlog_reader_offset(r), file_size(f.v[i].path));
		xlog_reader_close(r);
	}
	xlog_files_free(&f);
	return seq - first;
}

static void flip_byte(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x10;
	cr_assert_eq(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

/* Offsets of the records of a file, from the sizes the writer produced. */
static uint64_t record_offset(uint64_t first_seq, uint64_t seq)
{
	uint64_t off = XLOG_HDR_LEN, s;

	for (s = first_seq; s < seq; s++) {
		struct ditto_op op;

		make_op(&op, s, len_for(s));
		off += xlog_record_size(&op);
		op_free(&op);
	}
	return off;
}

static int read_until_error(const char *path, uint64_t *nops,
			    uint64_t *offset, char *why, size_t whylen)
{
	struct xlog_reader *r = xlog_reader_open(path);
	struct ditto_op op;
	int rc;

	cr_assert_not_null(r);
	*nops = 0;
	while ((rc = xlog_read(r, &op)) == 1) {
		op_free(&op);
		(*nops)++;
	}
	cr_assert_null(op.path, "op not zeroed after %d", rc);
	*offset = xlog_reader_offset(r);
	util_strlcpy(why, xlog_reader_error(r), whylen);
	/* Errors are sticky. */
	if (rc < 0)
		cr_assert_eq(xlog_read(r, &op), rc);
	xlog_reader_close(r);
	return rc;
}

/* --- tests ------------------------------------------------------------------ */

Test(xlog, write_and_read_back)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct xlog_files f;
	uint64_t s;
	char name[128];

	for (s = 1; s <= 100; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_sync(w), 0);
	cr_assert_eq(xlog_writer_file_seq(w), 1);
	cr_assert_eq(xlog_writer_close(w), 0);

	list(&f);
	cr_assert_eq(f.n, 1);
	cr_assert_eq(f.v[0].file_seq, 1);
	cr_assert_eq(xlog_file_name(name, sizeof(name), PEER, PORT, CON, 1), 0);
	cr_assert_str_eq(name, "192.0.2.7_1500_3_0000000001.xlog");
	cr_assert_str_eq(strrchr(f.v[0].path, '/') + 1, name);
	cr_assert_eq(file_size(f.v[0].path), record_offset(1, 101));
	xlog_files_free(&f);
	cr_assert_eq(read_all(1), 100);
}

Test(xlog, every_kind)
{
	static const uint16_t kinds[] = {
		DITTO_OP_TRUNCATE, DITTO_OP_MKDIR, DITTO_OP_SYMLINK,
		DITTO_OP_RENAME, DITTO_OP_SETXATTR, DITTO_OP_MIRROR_END,
	};
	struct xlog_writer *w = open_writer(0, 0);
	struct xlog_files f;
	struct xlog_reader *r;
	struct ditto_op op;
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(kinds); i++) {
		op_init(&op, kinds[i]);
		op.seq = i + 1;
		op_set_path(&op, "p", 1);
		op_set_path2(&op, "q", 1);
		op_set_name(&op, "user.n", 6);
		op_set_data(&op, "v", 1);
		cr_assert_eq(xlog_append(w, &op), 0);
		op_free(&op);
	}
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	cr_assert_eq(f.n, 1);
	r = xlog_reader_open(f.v[0].path);
	for (i = 0; i < UTIL_ARRAY_SIZE(kinds); i++) {
		cr_assert_eq(xlog_read(r, &op), 1);
		cr_expect_eq(op.kind, kinds[i]);
		cr_expect_eq(op.seq, i + 1);
		op_free(&op);
	}
	cr_assert_eq(xlog_read(r, &op), 0);
	cr_assert_eq(xlog_read(r, &op), 0, "clean end not repeatable");
	xlog_reader_close(r);
	xlog_files_free(&f);
}

Test(xlog, rollover_small_sizes)
{
	static const uint64_t sizes[] = { 1, 100, 256, 700, 1024, 4000 };
	size_t si;

	for (si = 0; si < UTIL_ARRAY_SIZE(sizes); si++) {
		uint64_t max = sizes[si], s, n = 60;
		struct xlog_writer *w = open_writer(1, max);
		struct xlog_files f;
		size_t i;

		for (s = 1; s <= n; s++)
			append(w, s, len_for(s));
		cr_assert_eq(xlog_writer_close(w), 0);

		list(&f);
		cr_assert_gt(f.n, 1);
		for (i = 0; i < f.n; i++) {
			struct xlog_reader *r = xlog_reader_open(f.v[i].path);
			struct ditto_op op;
			uint64_t recs = 0;

			cr_assert_eq(f.v[i].file_seq, i + 1, "gap in files");
			/* Names sort as numbers do. */
			if (i)
				cr_assert_lt(strcmp(f.v[i - 1].path,
						    f.v[i].path), 0);
			while (xlog_read(r, &op) == 1) {
				op_free(&op);
				recs++;
			}
			cr_assert_geq(recs, 1, "file without a record");
			/* Over the limit only as a lone record. */
			if (recs > 1)
				cr_assert_leq(file_size(f.v[i].path), max,
					      "max %llu file %zu",
					      (unsigned long long)max, i);
			xlog_reader_close(r);
		}
		xlog_files_free(&f);
		cr_assert_eq(read_all(1), n);
		teardown();
		setup();
	}
}

Test(xlog, exact_fit_does_not_roll)
{
	struct ditto_op op;
	struct xlog_writer *w;
	uint64_t max;
	struct xlog_files f;

	make_op(&op, 1, 10);
	max = XLOG_HDR_LEN + 2 * xlog_record_size(&op);
	op_free(&op);
	w = open_writer(1, max);
	append(w, 1, 10);
	append(w, 2, 10);
	cr_assert_eq(xlog_writer_file_size(w), max);
	cr_assert_eq(xlog_writer_file_seq(w), 1);
	append(w, 3, 10);
	cr_assert_eq(xlog_writer_file_seq(w), 2);
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	cr_assert_eq(f.n, 2);
	cr_assert_eq(file_size(f.v[0].path), max);
	xlog_files_free(&f);
}

Test(xlog, big_record_gets_its_own_file)
{
	struct xlog_writer *w = open_writer(5, 4096);
	struct xlog_files f;
	struct xlog_reader *r;
	struct ditto_op op;

	append(w, 1, 10);
	append(w, 2, DITTO_OP_DATA_MAX);
	append(w, 3, 10);
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	cr_assert_eq(f.n, 3);
	cr_assert_eq(f.v[0].file_seq, 5);
	cr_assert_eq(f.v[1].file_seq, 6);
	cr_assert_eq(f.v[2].file_seq, 7);
	cr_assert_gt(file_size(f.v[1].path), DITTO_OP_DATA_MAX);
	r = xlog_reader_open(f.v[1].path);
	cr_assert_eq(xlog_read(r, &op), 1);
	check_op(&op, 2, DITTO_OP_DATA_MAX);
	op_free(&op);
	cr_assert_eq(xlog_read(r, &op), 0);
	xlog_reader_close(r);
	xlog_files_free(&f);
}

Test(xlog, listing)
{
	static const char *others[] = {
		"192.0.2.7_1500_3_0000000002.xlog.tmp",
		"192.0.2.7_1500_3_000000003.xlog",   /* 9 digits */
		"192.0.2.7_1500_3_00000000004.xlog", /* extra leading zero */
		"192.0.2.7_1500_3_00000000x5.xlog",
		"192.0.2.7_1500_33_0000000001.xlog", /* other connection */
		"192.0.2.7_1501_3_0000000001.xlog",  /* other port */
		"192.0.2.77_1500_3_0000000001.xlog", /* other peer */
		"x192.0.2.7_1500_3_0000000001.xlog",
		"192.0.2.7_1500_3_.xlog",
	};
	struct xlog_writer *w;
	struct xlog_files f;
	char path[256];
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(others); i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", tmpdir, others[i]);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		cr_assert_geq(fd, 0);
		close(fd);
	}
	/* Created out of order, listed by seq, including a seq wider than
	 * the padding. */
	w = open_writer(10000000000ull, 0);
	cr_assert_eq(xlog_writer_close(w), 0);
	w = open_writer(9, 0);
	cr_assert_eq(xlog_writer_close(w), 0);
	w = open_writer(10, 0);
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	cr_assert_eq(f.n, 3);
	cr_expect_eq(f.v[0].file_seq, 9);
	cr_expect_eq(f.v[1].file_seq, 10);
	cr_expect_eq(f.v[2].file_seq, 10000000000ull);
	cr_expect_str_eq(strrchr(f.v[2].path, '/') + 1,
			 "192.0.2.7_1500_3_10000000000.xlog");
	xlog_files_free(&f);

	/* A missing directory is an empty queue; a bad peer is refused. */
	cr_assert_eq(xlog_list("/nonexistent/ditto", PEER, PORT, CON, &f), 0);
	cr_assert_eq(f.n, 0);
	cr_assert_eq(xlog_list(tmpdir, "../x", PORT, CON, &f), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(xlog_list(tmpdir, "a_b", PORT, CON, &f), -1);
	cr_assert_null(xlog_writer_open(tmpdir, "a/b", PORT, CON, 1, 0));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(xlog_writer_open(tmpdir, "", PORT, CON, 1, 0));
	/* IPv6 with scope is a valid peer. */
	w = xlog_writer_open(tmpdir, "fe80::1%eth0", PORT, CON, 1, 0);
	cr_assert_not_null(w);
	cr_assert_eq(xlog_writer_close(w), 0);
	cr_assert_eq(xlog_list(tmpdir, "fe80::1%eth0", PORT, CON, &f), 0);
	cr_assert_eq(f.n, 1);
	xlog_files_free(&f);
}

Test(xlog, flipped_byte_is_corruption)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct xlog_files f;
	uint64_t s, nops, off, rec7 = record_offset(1, 7);
	char why[160];
	struct ditto_op op;
	uint64_t pos[3];
	size_t i;

	for (s = 1; s <= 20; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	cr_assert_eq(f.n, 1);

	/* One flip each in the payload, the seq and the checksum of record 7. */
	make_op(&op, 7, len_for(7));
	pos[0] = rec7 + 12 + 20;
	pos[1] = rec7 + 4;
	pos[2] = rec7 + xlog_record_size(&op) - 1;
	op_free(&op);
	for (i = 0; i < UTIL_ARRAY_SIZE(pos); i++) {
		flip_byte(f.v[0].path, pos[i]);
		cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
					      sizeof(why)), -1,
			     "flip at %llu not detected", (unsigned long long)pos[i]);
		cr_expect_eq(nops, 6);
		cr_expect_eq(off, rec7);
		cr_expect(strstr(why, "checksum"), "reason: %s", why);
		flip_byte(f.v[0].path, pos[i]);
	}
	cr_assert_eq(read_all(1), 20);
	xlog_files_free(&f);
}

Test(xlog, damaged_length_in_middle_is_corruption)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct xlog_files f;
	uint64_t s, nops, off, rec5 = record_offset(1, 5);
	char why[160];
	int fd;
	uint8_t big[4] = { 0x00, 0x00, 0x08, 0x00 }; /* 512 KiB: in bounds */
	uint8_t huge[4] = { 0xff, 0xff, 0xff, 0x7f };

	for (s = 1; s <= 20; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);

	/* A length pointing past the end is not a torn tail when intact
	 * records follow. */
	fd = open(f.v[0].path, O_RDWR);
	cr_assert_eq(pwrite(fd, big, 4, (off_t)rec5), 4);
	close(fd);
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), -1, "%s", why);
	cr_expect_eq(nops, 4);
	cr_expect_eq(off, rec5);

	/* Out of bounds entirely. */
	fd = open(f.v[0].path, O_RDWR);
	cr_assert_eq(pwrite(fd, huge, 4, (off_t)rec5), 4);
	close(fd);
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), -1);
	cr_expect(strstr(why, "out of bounds"), "reason: %s", why);
	cr_expect_eq(off, rec5);
	xlog_files_free(&f);
}

Test(xlog, bad_header)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct xlog_files f;
	char why[160], other[256];
	uint64_t nops, off;
	int fd;

	append(w, 1, len_for(1));
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);

	flip_byte(f.v[0].path, 0);
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), -1);
	cr_expect(strstr(why, "magic"), "%s", why);
	cr_expect_eq(off, 0);
	flip_byte(f.v[0].path, 0);

	flip_byte(f.v[0].path, 20); /* inside the file seq */
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), -1);
	cr_expect(strstr(why, "checksum"), "%s", why);
	flip_byte(f.v[0].path, 20);

	/* The same bytes under another connection's name are refused. */
	snprintf(other, sizeof(other), "%s/%s", tmpdir,
		 "192.0.2.7_1500_4_0000000001.xlog");
	cr_assert_eq(link(f.v[0].path, other), 0);
	cr_assert_eq(read_until_error(other, &nops, &off, why, sizeof(why)), -1);
	cr_expect(strstr(why, "name"), "%s", why);
	unlink(other);

	/* Empty file and a partial header: the create never completed. */
	snprintf(other, sizeof(other), "%s/%s", tmpdir,
		 "192.0.2.7_1500_3_0000000002.xlog");
	fd = open(other, O_CREAT | O_WRONLY, 0600);
	close(fd);
	cr_assert_eq(read_until_error(other, &nops, &off, why, sizeof(why)), -2);
	cr_expect_eq(off, 0);
	fd = open(other, O_WRONLY);
	cr_assert_eq(write(fd, "DTXLOG01\1", 9), 9);
	close(fd);
	cr_assert_eq(read_until_error(other, &nops, &off, why, sizeof(why)), -2);
	cr_assert_eq(truncate(other, 5), 0);
	cr_assert_eq(read_until_error(other, &nops, &off, why, sizeof(why)), -2);
	fd = open(other, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, "XTXLOG01\1", 9), 9);
	close(fd);
	cr_assert_eq(read_until_error(other, &nops, &off, why, sizeof(why)), -1);
	cr_assert_eq(xlog_remove(other), 0);
	cr_assert_null(xlog_reader_open(other));
	cr_assert_eq(errno, ENOENT);
	xlog_files_free(&f);
}

Test(xlog, torn_tail_every_cut)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct xlog_files f;
	uint64_t s, nops, off, last = record_offset(1, 10), end;
	char why[160];

	for (s = 1; s <= 10; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	end = file_size(f.v[0].path);
	cr_assert_gt(end, last + 20);

	/* Each cut inside the last record: a torn tail, never corruption. */
	for (s = last + 1; s < end; s++) {
		cr_assert_eq(truncate(f.v[0].path, (off_t)s), 0);
		cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
					      sizeof(why)), -2,
			     "cut at %llu: %s", (unsigned long long)s, why);
		cr_assert_eq(nops, 9);
		cr_assert_eq(off, last);
	}
	/* A cut exactly between records is a clean end. */
	cr_assert_eq(truncate(f.v[0].path, (off_t)last), 0);
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), 0);
	cr_assert_eq(nops, 9);
	xlog_files_free(&f);
}

Test(xlog, torn_tail_truncated_then_append_continues)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct xlog_files f;
	uint64_t s, nops, off, last = record_offset(1, 10);
	char why[160];

	for (s = 1; s <= 10; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	cr_assert_eq(truncate(f.v[0].path, (off_t)(last + 15)), 0);
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), -2);
	cr_assert_eq(xlog_truncate_tail(f.v[0].path, off), 0);
	cr_assert_eq(file_size(f.v[0].path), last);
	cr_assert_eq(xlog_truncate_tail(f.v[0].path, last + 1), -1,
		     "truncate_tail grew the file");
	cr_assert_eq(errno, EINVAL);
	xlog_files_free(&f);

	/* Seq 1 is taken; the lost op 10 is written again into file 2. */
	cr_assert_null(xlog_writer_open(tmpdir, PEER, PORT, CON, 1, 0));
	cr_assert_eq(errno, EEXIST);
	w = open_writer(2, 0);
	for (s = 10; s <= 15; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_writer_close(w), 0);
	cr_assert_eq(read_all(1), 15);
}

Test(xlog, zero_filled_tail_is_torn)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct xlog_files f;
	uint64_t s, nops, off, end;
	char why[160];

	for (s = 1; s <= 3; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	end = file_size(f.v[0].path);
	cr_assert_eq(truncate(f.v[0].path, (off_t)(end + 300000)), 0);
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), -2, "%s", why);
	cr_assert_eq(nops, 3);
	cr_assert_eq(off, end);
	/* One non-zero byte far into the zeros makes it corruption. */
	flip_byte(f.v[0].path, end + 299000);
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), -1, "%s", why);
	xlog_files_free(&f);
}

Test(xlog, record_seq_must_match_op)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct xlog_files f;
	struct ditto_op op;
	struct util_buf b;
	uint64_t nops, off, h;
	char why[160];
	int fd;

	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	/* A well-formed record whose header seq (9) is not the op's (8). */
	make_op(&op, 8, 3);
	util_buf_init(&b);
	util_buf_append(&b, "\0\0\0\0\x09\0\0\0\0\0\0\0", 12);
	cr_assert_eq(op_encode(&op, &b), 0);
	b.data[0] = (char)(b.len - 12);
	h = XXH3_64bits(b.data, b.len);
	util_buf_append(&b, &h, 8); /* little-endian host */
	fd = open(f.v[0].path, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, b.data, b.len), (ssize_t)b.len);
	close(fd);
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), -1);
	cr_expect(strstr(why, "seq"), "%s", why);
	cr_expect_eq(off, XLOG_HDR_LEN);

	/* With a matching seq the hand-made record reads back. */
	cr_assert_eq(xlog_truncate_tail(f.v[0].path, XLOG_HDR_LEN), 0);
	b.data[4] = 8;
	b.len -= 8;
	h = XXH3_64bits(b.data, b.len);
	util_buf_append(&b, &h, 8);
	fd = open(f.v[0].path, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, b.data, b.len), (ssize_t)b.len);
	close(fd);
	cr_assert_eq(read_until_error(f.v[0].path, &nops, &off, why,
				      sizeof(why)), 0, "%s", why);
	cr_assert_eq(nops, 1);
	op_free(&op);
	util_buf_free(&b);
	xlog_files_free(&f);
}

Test(xlog, invalid_op_not_written)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct ditto_op op;
	uint64_t before;

	append(w, 1, len_for(1));
	before = xlog_writer_file_size(w);
	make_op(&op, 2, 5);
	op_set_path(&op, "../escape", 9);
	cr_assert_eq(xlog_append(w, &op), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(xlog_writer_file_size(w), before);
	op_free(&op);
	append(w, 2, len_for(2));
	cr_assert_eq(xlog_writer_close(w), 0);
	cr_assert_eq(read_all(1), 2);
}

Test(xlog, roll_and_reopen)
{
	struct xlog_writer *w = open_writer(1, 0);
	struct xlog_files f;
	uint64_t s;

	cr_assert_eq(xlog_roll(w), 0); /* empty file: nothing to finish */
	cr_assert_eq(xlog_writer_file_seq(w), 1);
	for (s = 1; s <= 3; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_roll(w), 0);
	cr_assert_eq(xlog_writer_file_seq(w), 2);
	cr_assert_eq(xlog_writer_file_size(w), 0);
	cr_assert_eq(xlog_roll(w), 0); /* nothing created yet */
	cr_assert_eq(xlog_writer_file_seq(w), 2);
	list(&f);
	cr_assert_eq(f.n, 1, "roll created a file before it was needed");
	xlog_files_free(&f);
	for (s = 4; s <= 6; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_writer_close(w), 0);

	/* Reopen after close continues in a new file. */
	w = open_writer(3, 0);
	for (s = 7; s <= 9; s++)
		append(w, s, len_for(s));
	cr_assert_eq(xlog_sync(w), 0);
	cr_assert_eq(xlog_writer_close(w), 0);
	list(&f);
	cr_assert_eq(f.n, 3);
	xlog_files_free(&f);
	cr_assert_eq(read_all(1), 9);

	/* Removing the oldest leaves the rest readable. */
	list(&f);
	cr_assert_eq(xlog_remove(f.v[0].path), 0);
	cr_assert_eq(xlog_remove(f.v[0].path), -1);
	cr_assert_eq(errno, ENOENT);
	xlog_files_free(&f);
	cr_assert_eq(read_all(4), 6);
	cr_assert_eq(xlog_writer_close(NULL), 0);
}

Test(xlog, writer_bad_dir)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	cr_assert_null(xlog_writer_open(path, PEER, PORT, CON, 1, 0));
	cr_assert_eq(errno, ENOENT);
}
