#include "config.h"

/* Fuzz target for the replication set file parser. Whatever it accepts must
 * survive a round trip (format, parse, format gives the same text), and the
 * read-only queries must cope with every set it can build. */

#include "repset.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void probe(const struct repset_db *db, const char *path)
{
	size_t i, len = strlen(path);
	const struct repset *o;

	for (i = 0; i < repset_db_count(db); i++) {
		const struct repset *rs = repset_db_at(db, i);

		(void)repset_match(rs, path, len);
		(void)repset_descend(rs, path, len);
	}
	/* An owner must protect the path itself. */
	o = repset_db_owner(db, path, len);
	if (o && !repset_match(o, path, len))
		abort();
}

static void queries(struct repset_db *db)
{
	struct util_buf out;
	struct repset_root *roots;
	size_t i, j, n;

	util_buf_init(&out);
	repset_db_list(db, &out);
	(void)repset_db_overlaps(db, &out);
	repset_db_roots(db, &roots, &n);
	repset_roots_free(roots, n);
	for (i = 0; i < repset_db_count(db); i++) {
		const struct repset *rs = repset_db_at(db, i);

		repset_display(rs, &out);
		repset_roots(rs, &roots, &n);
		repset_roots_free(roots, n);
		for (j = 0; j < repset_rule_count(rs); j++) {
			const char *p = repset_rule_at(rs, j)->path;
			char *child = util_xasprintf("%s/x.tmp", p);

			probe(db, p);
			probe(db, child);
			free(child);
		}
		for (j = 0; j < repset_device_count(rs); j++)
			(void)repset_db_device_owner(db,
						     repset_device_at(rs, j));
	}
	util_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct repset_db *db = repset_db_new(), *again = repset_db_new();
	struct util_buf t1, t2;
	char err[512], msg[512];

	util_buf_init(&t1);
	util_buf_init(&t2);
	if (repset_db_parse(db, (const char *)data, size, "fuzz", err,
			    sizeof(err)) < 0) {
		/* Every refusal names the input and a line. */
		if (strncmp(err, "fuzz:", 5) != 0)
			abort();
		if (repset_db_count(db) != 0)
			abort();
		goto done;
	}
	repset_db_format(db, &t1);
	if (repset_db_parse(again, t1.data, t1.len, "again", err,
			    sizeof(err)) < 0) {
		fprintf(stderr, "formatted output refused: %s\n", err);
		abort();
	}
	repset_db_format(again, &t2);
	if (t1.len != t2.len || memcmp(t1.data, t2.data, t1.len) != 0)
		abort();
	queries(db);
	/* A change on a loaded set: generations must move by exactly one. */
	if (repset_db_count(db)) {
		const struct repset *rs = repset_db_at(db, 0);
		uint64_t gen = repset_generation(rs);

		if (repset_db_rule_add(db, repset_name(rs), gen, "/fuzz/*.new",
				       REPSET_EXCLUDE, true, msg,
				       sizeof(msg)) == 0 &&
		    repset_generation(rs) != gen + 1)
			abort();
		queries(db);
	}
done:
	util_buf_free(&t1);
	util_buf_free(&t2);
	repset_db_free(db);
	repset_db_free(again);
	return 0;
}
