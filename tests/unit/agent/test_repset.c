#include "config.h"

#include "repset.h"
#include "util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- helpers ------------------------------------------------------------ */

#define INC REPSET_INCLUDE
#define EXC REPSET_EXCLUDE
#define REC true
#define NONREC false

struct rdef {
	const char *path;
	enum repset_rule_type type;
	bool rec;
};

struct mcase {
	const char *path;
	bool want;
};

static struct repset_db *db_with(const char *name, const struct rdef *r,
				 size_t n)
{
	struct repset_db *db = repset_db_new();
	char msg[512];
	size_t i;

	cr_assert_eq(repset_db_create(db, name, msg, sizeof(msg)), 0, "%s",
		     msg);
	for (i = 0; i < n; i++)
		cr_assert_eq(repset_db_rule_add(db, name, REPSET_GEN_ANY,
						r[i].path, r[i].type, r[i].rec,
						msg, sizeof(msg)),
			     0, "add %s: %s", r[i].path, msg);
	return db;
}

static void add_set(struct repset_db *db, const char *name,
		    const struct rdef *r, size_t n)
{
	char msg[1024];
	size_t i;

	cr_assert_eq(repset_db_create(db, name, msg, sizeof(msg)), 0, "%s",
		     msg);
	for (i = 0; i < n; i++)
		cr_assert_eq(repset_db_rule_add(db, name, REPSET_GEN_ANY,
						r[i].path, r[i].type, r[i].rec,
						msg, sizeof(msg)),
			     0, "add %s: %s", r[i].path, msg);
}

static bool m(const struct repset *rs, const char *p)
{
	return repset_match(rs, p, strlen(p));
}

static void check_table(const struct rdef *rules, size_t nr,
			const struct mcase *cases, size_t nc)
{
	struct repset_db *db = db_with("t", rules, nr);
	const struct repset *rs = repset_db_find(db, "t");
	size_t i;

	for (i = 0; i < nc; i++)
		cr_expect_eq(m(rs, cases[i].path), cases[i].want,
			     "path \"%s\": expected %s", cases[i].path,
			     cases[i].want ? "protected" : "not protected");
	repset_db_free(db);
}

#define TABLE(rules, cases) \
	check_table(rules, UTIL_ARRAY_SIZE(rules), cases, UTIL_ARRAY_SIZE(cases))

/* --- matching ----------------------------------------------------------- */

Test(match, literal_recursive)
{
	static const struct rdef r[] = { { "/data", INC, REC } };
	static const struct mcase c[] = {
		{ "/data", true },
		{ "/data/", true },
		{ "/data//", true },
		{ "//data", true },
		{ "/data/x", true },
		{ "/data//x/", true },
		{ "/data/a/b/c/d/e", true },
		{ "/data/./x", true },
		{ "/database", false },
		{ "/database/x", false },
		{ "/dat", false },
		{ "/data-b/x", false },
		{ "/", false },
		{ "/other/data", false },
		{ "data/x", false },
		{ "", false },
		{ "/data/../etc/passwd", false },
		{ "/etc/../data/x", true },
		{ "/../data/x", true },
	};

	TABLE(r, c);
}

Test(match, literal_nonrecursive_covers_direct_children_only)
{
	static const struct rdef r[] = { { "/data", INC, NONREC } };
	static const struct mcase c[] = {
		{ "/data", true },
		{ "/data/", true },
		{ "/data/f", true },
		{ "/data/dir/", true },
		{ "/data/dir/f", false },
		{ "/data/a/b/c", false },
		{ "/database", false },
		{ "/", false },
	};

	TABLE(r, c);
}

Test(match, nesting_at_several_depths)
{
	static const struct rdef r[] = {
		{ "/a", INC, REC },
		{ "/a/b", EXC, REC },
		{ "/a/b/c", INC, REC },
		{ "/a/b/c/d", EXC, NONREC },
		{ "/a/b/c/d/e/f", EXC, REC },
	};
	static const struct mcase c[] = {
		{ "/a", true },
		{ "/a/x", true },
		{ "/a/bc", true },
		{ "/a/b", false },
		{ "/a/b/x", false },
		{ "/a/b/x/y", false },
		{ "/a/b/c", true },
		{ "/a/b/c/x", true },
		{ "/a/b/c/d", false },
		{ "/a/b/c/d/e", false },	/* child of a nonrecursive rule */
		{ "/a/b/c/d/x", false },
		{ "/a/b/c/d/e/x", true },	/* beyond it: /a/b/c decides */
		{ "/a/b/c/d/e/f", false },
		{ "/a/b/c/d/e/f/g/h", false },
		{ "/a/b/cd", false },
		{ "/b", false },
	};

	TABLE(r, c);
}

Test(match, nonrecursive_include_inside_recursive_exclude)
{
	static const struct rdef r[] = {
		{ "/data", EXC, REC },
		{ "/data/pub", INC, NONREC },
		{ "/", INC, REC },
	};
	static const struct mcase c[] = {
		{ "/", true },
		{ "/etc/hosts", true },
		{ "/data", false },
		{ "/data/x", false },
		{ "/data/pub", true },
		{ "/data/pub/f", true },
		{ "/data/pub/d/f", false },
		{ "/database", true },
	};

	TABLE(r, c);
}

Test(match, wildcard_exclusions_at_any_depth)
{
	static const struct rdef r[] = {
		{ "/data", INC, REC },
		{ "/data/*.tmp", EXC, REC },
		{ "/data/keep", INC, REC },
	};
	static const struct mcase c[] = {
		{ "/data/x.tmp", false },
		{ "/data/.tmp", false },	/* '*' matches a leading dot */
		{ "/data/sub/y.tmp", false },
		{ "/data/x.tmp/inner", false },	/* beneath a match */
		{ "/data/y.tmpx", true },
		{ "/data/keep", true },
		{ "/data/keep/x", true },
		/* Matched deeper than /data/keep: the exclusion wins. */
		{ "/data/keep/x.tmp", false },
		{ "/data", true },
		{ "/x.tmp", false },
	};

	TABLE(r, c);
}

Test(match, wildcard_nonrecursive_and_question_mark)
{
	static const struct rdef r[] = {
		{ "/logs/*.log", INC, NONREC },
		{ "/q/file?.txt", INC, NONREC },
		{ "/m/*/conf", INC, NONREC },
	};
	static const struct mcase c[] = {
		{ "/logs/a.log", true },
		{ "/logs/.log", true },
		{ "/logs/a.log/", true },
		{ "/logs/sub/a.log", false },
		{ "/logs/a.log/x", false },
		{ "/logs/a.txt", false },
		{ "/logs", false },
		{ "/q/file1.txt", true },
		{ "/q/file?.txt", true },
		{ "/q/file12.txt", false },
		{ "/q/file.txt", false },
		{ "/m/a/conf", true },
		{ "/m/a/conf/x", false },
		{ "/m/a/b/conf", false },
		{ "/m/conf", false },
	};

	TABLE(r, c);
}

Test(match, wildcard_spanning_components)
{
	static const struct rdef r[] = {
		{ "/home", INC, REC },
		{ "/home/*/.cache", EXC, REC },
	};
	static const struct mcase c[] = {
		{ "/home/al/docs/x", true },
		{ "/home/al/.cache", false },
		{ "/home/al/.cache/x/y", false },
		{ "/home/al/b/.cache", false },
		{ "/home/.cache", true },
		{ "/home/al/.cachex", true },
	};

	TABLE(r, c);
}

Test(match, literal_beats_pattern_at_equal_depth)
{
	static const struct rdef r[] = {
		{ "/data/*", EXC, REC },
		{ "/data/keep", INC, REC },
		{ "/data", INC, NONREC },
	};
	static const struct mcase c[] = {
		{ "/data", true },
		{ "/data/keep", true },
		{ "/data/keep/x/y", true },
		{ "/data/other", false },
		{ "/data/other/x", false },
	};

	TABLE(r, c);
}

Test(match, exclude_beats_include_when_equally_specific)
{
	static const struct rdef r[] = {
		{ "/data/*", INC, REC },
		{ "/data/*.tmp", EXC, REC },
	};
	static const struct mcase c[] = {
		{ "/data/a", true },
		{ "/data/a/b", true },
		{ "/data/a.tmp", false },
		{ "/data/a/b.tmp", false },
		{ "/data", false },
	};

	TABLE(r, c);
}

Test(match, root_rule)
{
	static const struct rdef r[] = {
		{ "/", INC, REC },
		{ "/proc", EXC, REC },
		{ "/*", EXC, NONREC },
		{ "/etc", INC, REC },
	};
	static const struct mcase c[] = {
		{ "/", true },
		{ "/etc", true },
		{ "/etc/x", true },
		{ "/var", false },	/* pattern beats "/" */
		{ "/var/x", true },	/* only "/" reaches here */
		{ "/proc", false },
		{ "/proc/1/x", false },
	};

	TABLE(r, c);
}

Test(match, arbitrary_bytes_and_spaces)
{
	static const struct rdef r[] = {
		{ "/srv/my data/\x01\xff\"\\", INC, REC },
		{ "/srv/my data/\x01\xff\"\\/tab\there", EXC, NONREC },
		{ "/srv/\xc3\xa9t\xc3\xa9", INC, NONREC },
	};
	static const struct mcase c[] = {
		{ "/srv/my data/\x01\xff\"\\", true },
		{ "/srv/my data/\x01\xff\"\\/f", true },
		{ "/srv/my data/\x01\xff\"\\/tab\there", false },
		{ "/srv/my data/\x01\xff", false },
		{ "/srv/my data", false },
		{ "/srv/\xc3\xa9t\xc3\xa9/x", true },
	};
	struct repset_db *db;

	TABLE(r, c);
	db = db_with("t", r, 1);
	/* Length-delimited: a NUL inside is refused, no terminator needed. */
	cr_expect_not(repset_match(repset_db_find(db, "t"),
				   "/srv/my data/\x01\xff\"\\/\0x", 20));
	cr_expect(repset_match(repset_db_find(db, "t"),
			       "/srv/my data/\x01\xff\"\\/abc", 20));
	repset_db_free(db);
}

Test(match, unterminated_input)
{
	static const struct rdef r[] = { { "/data", INC, NONREC } };
	struct repset_db *db = db_with("t", r, 1);
	const struct repset *rs = repset_db_find(db, "t");
	char buf[9];

	memcpy(buf, "/data/x/y", 9);	/* no NUL anywhere */
	cr_expect(repset_match(rs, buf, 5));
	cr_expect(repset_match(rs, buf, 7));
	cr_expect_not(repset_match(rs, buf, 9));
	cr_expect_not(repset_match(rs, buf, 0));
	cr_expect_not(repset_match(NULL, buf, 5));
	repset_db_free(db);
}

Test(match, empty_set_protects_nothing)
{
	struct repset_db *db = db_with("t", NULL, 0);

	cr_expect_not(m(repset_db_find(db, "t"), "/"));
	cr_expect_not(m(repset_db_find(db, "t"), "/x"));
	repset_db_free(db);
}

/* --- reference precedence: discarded rules ------------------------------- */

Test(precedence, same_type_nonrecursive_below_recursive_is_discarded)
{
	static const struct rdef r[] = {
		{ "/var/data", INC, REC },
		{ "/var/data/old", INC, NONREC },
		{ "/var/data/new", EXC, NONREC },
	};
	struct repset_db *db = db_with("t", r, UTIL_ARRAY_SIZE(r));
	const struct repset *rs = repset_db_find(db, "t");
	struct util_buf out;
	size_t i;

	util_buf_init(&out);
	for (i = 0; i < repset_rule_count(rs); i++) {
		const struct repset_rule *ru = repset_rule_at(rs, i);

		if (strcmp(ru->path, "/var/data/old") == 0)
			cr_expect_str_eq(ru->discarded_by, "/var/data");
		else
			cr_expect_null(ru->discarded_by, "%s", ru->path);
	}
	/* Different types both apply. */
	cr_expect(m(rs, "/var/data/old/x/y"));
	cr_expect_not(m(rs, "/var/data/new"));
	cr_expect_not(m(rs, "/var/data/new/x"));
	cr_expect(m(rs, "/var/data/new/x/y"));
	repset_display(rs, &out);
	cr_expect(strstr(out.data, "\"/var/data/old\" Include Non-recursive  "
			 "(discarded: \"/var/data\" Include Recursive takes "
			 "precedence)") != NULL, "%s", out.data);
	util_buf_free(&out);
	repset_db_free(db);
}

Test(precedence, discard_warns_and_follows_changes)
{
	struct repset_db *db = db_with("t", NULL, 0);
	char msg[1024];
	const struct repset *rs = repset_db_find(db, "t");

	cr_assert_eq(repset_db_rule_add(db, "t", 0, "/var/data/old", INC,
					NONREC, msg, sizeof(msg)), 0);
	cr_expect_str_eq(msg, "");
	cr_assert_eq(repset_db_rule_add(db, "t", 0, "/var/data", INC, REC,
					msg, sizeof(msg)), 0);
	cr_expect(strstr(msg, "warning: rule \"/var/data/old\" is discarded")
		  != NULL, "%s", msg);
	cr_expect_not_null(repset_rule_at(rs, 1)->discarded_by);
	/* An exclusion between them makes the deeper rule count again. */
	cr_assert_eq(repset_db_rule_add(db, "t", 0, "/var", INC, REC, msg,
					sizeof(msg)), 0);
	cr_assert_eq(repset_db_rule_remove(db, "t", 0, "/var/data", msg,
					   sizeof(msg)), 0);
	cr_assert_eq(repset_db_rule_add(db, "t", 0, "/var/data", EXC, REC,
					msg, sizeof(msg)), 0);
	cr_expect_null(repset_rule_at(rs, 2)->discarded_by, "%s",
		       repset_rule_at(rs, 2)->path);
	cr_expect(m(rs, "/var/data/old/f"));
	cr_expect_not(m(rs, "/var/data/old/d/f"));
	repset_db_free(db);
}

/* --- rules: paths, limits, duplicates ------------------------------------- */

static char *long_path(size_t len)
{
	char *p = util_xmalloc(len + 1);
	size_t i;

	/* "/aaaaaaa/aaaaaaa/..." so the limit is not a single name's. */
	for (i = 0; i < len; i++)
		p[i] = i % 8 == 0 ? '/' : 'a';
	if (p[len - 1] == '/')
		p[len - 1] = 'b';
	p[len] = '\0';
	return p;
}

Test(rules, path_of_4095_bytes_accepted_4096_refused)
{
	struct repset_db *db = db_with("t", NULL, 0);
	char *ok = long_path(4095), *bad = long_path(4096), msg[512];
	char *slash = util_xasprintf("%s/", ok);
	const struct repset *rs = repset_db_find(db, "t");

	cr_expect_eq(repset_db_rule_add(db, "t", 0, bad, INC, REC, msg,
					sizeof(msg)), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	cr_expect(strstr(msg, "longer than 4095") != NULL, "%s", msg);
	cr_expect_eq(repset_rule_count(rs), 0);
	cr_expect_eq(repset_generation(rs), 1);
	cr_assert_eq(repset_db_rule_add(db, "t", 0, ok, INC, REC, msg,
					sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(strlen(repset_rule_at(rs, 0)->path), 4095);
	/* The trailing slash does not count: same rule. */
	cr_expect_eq(repset_db_rule_add(db, "t", 0, slash, EXC, REC, msg,
					sizeof(msg)), -1);
	cr_expect_eq(errno, EEXIST);
	cr_expect(repset_match(rs, ok, 4095));
	cr_expect(repset_match(rs, slash, 4096));
	cr_expect_not(repset_match(rs, bad, 4096));
	free(ok);
	free(bad);
	free(slash);
	repset_db_free(db);
}

Test(rules, match_refuses_paths_over_4095)
{
	static const struct rdef r[] = { { "/", INC, REC } };
	struct repset_db *db = db_with("t", r, 1);
	char *ok = long_path(4095), *bad = long_path(4096);

	cr_expect(m(repset_db_find(db, "t"), ok));
	cr_expect_not(m(repset_db_find(db, "t"), bad));
	free(ok);
	free(bad);
	repset_db_free(db);
}

Test(rules, normalised_and_validated)
{
	struct repset_db *db = db_with("t", NULL, 0);
	const struct repset *rs = repset_db_find(db, "t");
	char msg[512];

	cr_assert_eq(repset_db_rule_add(db, "t", 0, "//data//x/./", INC, REC,
					msg, sizeof(msg)), 0);
	cr_expect_str_eq(repset_rule_at(rs, 0)->path, "/data/x");
	cr_expect_eq(repset_db_rule_add(db, "t", 0, "/data/x", EXC, NONREC,
					msg, sizeof(msg)), -1);
	cr_expect_eq(errno, EEXIST);
	cr_expect(strstr(msg, "already has a rule") != NULL, "%s", msg);
	cr_expect_eq(repset_db_rule_add(db, "t", 0, "data", INC, REC, msg,
					sizeof(msg)), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect(strstr(msg, "absolute") != NULL, "%s", msg);
	cr_expect_eq(repset_db_rule_add(db, "t", 0, "/a/../b", INC, REC, msg,
					sizeof(msg)), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(repset_db_rule_add(db, "t", 0, "", INC, REC, msg,
					sizeof(msg)), -1);
	cr_expect_eq(repset_db_rule_add(db, "t", 0, "/x", (enum repset_rule_type)7,
					REC, msg, sizeof(msg)), -1);
	cr_expect_eq(repset_db_rule_add(db, "nope", 0, "/x", INC, REC, msg,
					sizeof(msg)), -1);
	cr_expect_eq(errno, ENOENT);
	cr_assert_eq(repset_db_rule_add(db, "t", 0, "///", INC, NONREC, msg,
					sizeof(msg)), 0);
	cr_expect_str_eq(repset_rule_at(rs, 0)->path, "/");
	/* Removal normalises the same way. */
	cr_expect_eq(repset_db_rule_remove(db, "t", 0, "/data/x/", msg,
					   sizeof(msg)), 0);
	cr_expect_eq(repset_db_rule_remove(db, "t", 0, "/data/x", msg,
					   sizeof(msg)), -1);
	cr_expect_eq(errno, ENOENT);
	cr_expect_eq(repset_rule_count(rs), 1);
	repset_db_free(db);
}

Test(rules, rule_limit)
{
	struct repset_db *db = db_with("t", NULL, 0);
	struct repset_op *ops = util_xcalloc(REPSET_MAX_RULES, sizeof(*ops));
	char (*paths)[16] = util_xcalloc(REPSET_MAX_RULES, sizeof(*paths));
	char msg[256];
	int i;

	/* One batch: one compile instead of one per rule. */
	for (i = 0; i < REPSET_MAX_RULES; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/d/%d", i);
		ops[i].kind = REPSET_OP_RULE_ADD;
		ops[i].path = paths[i];
		ops[i].recursive = i % 2;
	}
	cr_assert_eq(repset_modify(db, "t", 1, ops, REPSET_MAX_RULES, msg,
				   sizeof(msg)), 0, "%s", msg);
	free(ops);
	free(paths);
	cr_expect_eq(repset_db_rule_add(db, "t", 0, "/last", INC, REC, msg,
					sizeof(msg)), -1);
	cr_expect_eq(errno, E2BIG);
	repset_db_free(db);
}

Test(rules, devices)
{
	struct repset_db *db = db_with("t", NULL, 0);
	const struct repset *rs = repset_db_find(db, "t");
	char msg[256];

	cr_expect_eq(repset_db_device_add(db, "t", 0, "/dev/sdb1", msg,
					  sizeof(msg)), 0);
	cr_expect_eq(repset_db_device_add(db, "t", 0, "/dev//loop0/", msg,
					  sizeof(msg)), 0);
	cr_expect_eq(repset_db_device_add(db, "t", 0, "/dev/sdb1", msg,
					  sizeof(msg)), -1);
	cr_expect_eq(errno, EEXIST);
	cr_expect_eq(repset_db_device_add(db, "t", 0, "/tmp/sdb1", msg,
					  sizeof(msg)), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(repset_db_device_add(db, "t", 0, "/dev", msg,
					  sizeof(msg)), -1);
	cr_expect_eq(repset_db_device_add(db, "t", 0, "/dev/sd*", msg,
					  sizeof(msg)), -1);
	cr_expect_eq(repset_device_count(rs), 2);
	cr_expect_str_eq(repset_device_at(rs, 0), "/dev/loop0");
	cr_expect(repset_has_device(rs, "/dev/sdb1"));
	cr_expect(repset_has_device(rs, "/dev/loop0/"));
	cr_expect_not(repset_has_device(rs, "/dev/sdb"));
	cr_expect_eq(repset_db_device_remove(db, "t", 0, "/dev/sdb1", msg,
					     sizeof(msg)), 0);
	cr_expect_not(repset_has_device(rs, "/dev/sdb1"));
	cr_expect_eq(repset_generation(rs), 4);
	repset_db_free(db);
}

/* --- registry ----------------------------------------------------------- */

Test(registry, names)
{
	struct repset_db *db = repset_db_new();
	char msg[256], n64[65], n65[66];

	memset(n64, 'x', 64);
	n64[64] = '\0';
	memset(n65, 'y', 65);
	n65[65] = '\0';
	cr_expect_eq(repset_db_create(db, "Critical_Data-1.0", msg,
				      sizeof(msg)), 0);
	cr_expect_eq(repset_db_create(db, n64, msg, sizeof(msg)), 0);
	cr_expect_eq(repset_db_create(db, n65, msg, sizeof(msg)), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(repset_db_create(db, "", msg, sizeof(msg)), -1);
	cr_expect_eq(repset_db_create(db, "a b", msg, sizeof(msg)), -1);
	cr_expect_eq(repset_db_create(db, "a/b", msg, sizeof(msg)), -1);
	cr_expect_eq(repset_db_create(db, "..", msg, sizeof(msg)), -1);
	cr_expect_eq(repset_db_create(db, "x\n", msg, sizeof(msg)), -1);
	cr_expect(strstr(msg, "\"x\\x0a\"") != NULL, "%s", msg);
	cr_expect_eq(repset_db_create(db, NULL, msg, sizeof(msg)), -1);
	cr_expect_eq(repset_db_create(db, "critical_data-1.0", msg,
				      sizeof(msg)), -1);
	cr_expect_eq(errno, EEXIST);
	cr_expect(strstr(msg, "Critical_Data-1.0 already exists") != NULL,
		  "%s", msg);
	cr_expect_eq(repset_db_count(db), 2);
	cr_expect_not_null(repset_db_find(db, "CRITICAL_DATA-1.0"));
	cr_expect_str_eq(repset_name(repset_db_find(db, "critical_data-1.0")),
			 "Critical_Data-1.0");
	cr_expect_null(repset_db_find(db, "nope"));
	cr_expect_null(repset_db_at(db, 2));
	repset_db_free(db);
}

Test(registry, create_delete_list)
{
	struct repset_db *db = repset_db_new();
	struct util_buf out;
	char msg[256];

	util_buf_init(&out);
	repset_db_list(db, &out);
	cr_expect_str_eq(out.data, "No replication sets\n");
	util_buf_reset(&out);
	cr_assert_eq(repset_db_create(db, "A", msg, sizeof(msg)), 0);
	cr_assert_eq(repset_db_create(db, "LongerName", msg, sizeof(msg)), 0);
	cr_assert_eq(repset_db_rule_add(db, "A", 1, "/a", INC, REC, msg,
					sizeof(msg)), 0);
	repset_db_list(db, &out);
	cr_expect_str_eq(out.data,
			 "Name        Generation  Rules  Devices\n"
			 "A                    2      1        0\n"
			 "LongerName           1      0        0\n");
	cr_expect_lt(repset_seq(repset_db_at(db, 0)),
		     repset_seq(repset_db_at(db, 1)));
	cr_expect_eq(repset_db_delete(db, "a", 1, msg, sizeof(msg)), -1);
	cr_expect_eq(errno, ESTALE);
	cr_expect_eq(repset_db_delete(db, "a", 2, msg, sizeof(msg)), 0);
	cr_expect_eq(repset_db_delete(db, "a", 0, msg, sizeof(msg)), -1);
	cr_expect_eq(errno, ENOENT);
	cr_expect_eq(repset_db_count(db), 1);
	/* A new set is newer than every existing one. */
	cr_assert_eq(repset_db_create(db, "A", msg, sizeof(msg)), 0);
	cr_expect_gt(repset_seq(repset_db_find(db, "A")),
		     repset_seq(repset_db_find(db, "LongerName")));
	util_buf_free(&out);
	repset_db_free(db);
}

Test(registry, display)
{
	static const struct rdef r[] = {
		{ "/var/data", INC, REC },
		{ "/var/data/tmp dir", EXC, NONREC },
		{ "/var/da\"ta\n", INC, NONREC },
	};
	struct repset_db *db = db_with("Critical", r, UTIL_ARRAY_SIZE(r));
	struct util_buf out;
	char msg[128];

	util_buf_init(&out);
	cr_assert_eq(repset_db_device_add(db, "Critical", 0, "/dev/sdb", msg,
					  sizeof(msg)), 0);
	repset_display(repset_db_find(db, "Critical"), &out);
	cr_expect_str_eq(out.data,
			 "Replication set Critical (generation 5)\n"
			 "  Rules:\n"
			 "    \"/var/da\\\"ta\\x0a\" Include Non-recursive\n"
			 "    \"/var/data\" Include Recursive\n"
			 "    \"/var/data/tmp dir\" Exclude Non-recursive\n"
			 "  Devices:\n"
			 "    \"/dev/sdb\"\n");
	util_buf_reset(&out);
	cr_assert_eq(repset_db_create(db, "E", msg, sizeof(msg)), 0);
	repset_display(repset_db_find(db, "E"), &out);
	cr_expect_str_eq(out.data, "Replication set E (generation 1)\n"
			 "  Rules: none\n  Devices: none\n");
	util_buf_free(&out);
	repset_db_free(db);
}

/* --- generations -------------------------------------------------------- */

Test(generation, increments_and_refuses_stale_changes)
{
	struct repset_db *db = repset_db_new();
	const struct repset *rs;
	char msg[512];
	uint64_t seen_by_a, seen_by_b;

	cr_assert_eq(repset_db_create(db, "S", msg, sizeof(msg)), 0);
	rs = repset_db_find(db, "S");
	cr_expect_eq(repset_generation(rs), 1);
	/* Two consoles read the set. */
	seen_by_a = seen_by_b = repset_generation(rs);
	cr_expect_eq(repset_db_rule_add(db, "S", seen_by_a, "/a", INC, REC,
					msg, sizeof(msg)), 0);
	cr_expect_eq(repset_generation(rs), 2);
	cr_expect_eq(repset_db_rule_add(db, "S", seen_by_b, "/b", INC, REC,
					msg, sizeof(msg)), -1);
	cr_expect_eq(errno, ESTALE);
	cr_expect(strstr(msg, "changed elsewhere (generation 2, you had 1)")
		  != NULL, "%s", msg);
	cr_expect_eq(repset_rule_count(rs), 1);
	cr_expect_eq(repset_generation(rs), 2);
	/* After re-reading, b's change goes through. */
	seen_by_b = repset_generation(rs);
	cr_expect_eq(repset_db_rule_add(db, "S", seen_by_b, "/b", INC, REC,
					msg, sizeof(msg)), 0);
	cr_expect_eq(repset_generation(rs), 3);
	/* A failed change does not count. */
	cr_expect_eq(repset_db_rule_add(db, "S", 3, "/b", INC, REC, msg,
					sizeof(msg)), -1);
	cr_expect_eq(errno, EEXIST);
	cr_expect_eq(repset_generation(rs), 3);
	repset_db_free(db);
}

Test(generation, batch_is_all_or_nothing)
{
	struct repset_db *db = repset_db_new();
	const struct repset *rs;
	char msg[512];
	struct repset_op bad[] = {
		{ REPSET_OP_RULE_ADD, "/x", INC, true },
		{ REPSET_OP_DEVICE_ADD, "/dev/sdc", INC, false },
		{ REPSET_OP_RULE_REMOVE, "/nope", INC, false },
	};
	struct repset_op good[] = {
		{ REPSET_OP_RULE_ADD, "/x", INC, true },
		{ REPSET_OP_RULE_ADD, "/x/y", EXC, true },
		{ REPSET_OP_DEVICE_ADD, "/dev/sdc", INC, false },
	};

	cr_assert_eq(repset_db_create(db, "S", msg, sizeof(msg)), 0);
	rs = repset_db_find(db, "S");
	cr_expect_eq(repset_modify(db, "S", 1, bad, 3, msg, sizeof(msg)), -1);
	cr_expect_eq(errno, ENOENT);
	cr_expect(strstr(msg, "rule \"/nope\": no such rule") != NULL, "%s",
		  msg);
	cr_expect_eq(repset_rule_count(rs), 0);
	cr_expect_eq(repset_device_count(rs), 0);
	cr_expect_eq(repset_generation(rs), 1);
	cr_expect_eq(repset_modify(db, "S", 1, good, 3, msg, sizeof(msg)), 0);
	cr_expect_eq(repset_generation(rs), 2);
	cr_expect_eq(repset_rule_count(rs), 2);
	cr_expect_eq(repset_device_count(rs), 1);
	cr_expect_not(m(rs, "/x/y/z"));
	cr_expect_eq(repset_modify(db, "S", 2, good, 0, msg, sizeof(msg)), -1);
	cr_expect_eq(errno, EINVAL);
	repset_db_free(db);
}

/* --- ownership and overlaps --------------------------------------------- */

Test(ownership, most_specific_rule_then_oldest_set)
{
	static const struct rdef a[] = {
		{ "/data", INC, REC },
		{ "/data/secret", EXC, REC },
		{ "/srv/*", INC, REC },
	};
	static const struct rdef b[] = {
		{ "/data/db", INC, REC },
		{ "/srv/www", INC, REC },
	};
	static const struct rdef c[] = { { "/data", INC, REC } };
	struct repset_db *db = repset_db_new();
	const struct repset *A, *B, *C;
	const char *p;

	add_set(db, "A", a, UTIL_ARRAY_SIZE(a));
	add_set(db, "B", b, UTIL_ARRAY_SIZE(b));
	add_set(db, "C", c, UTIL_ARRAY_SIZE(c));
	A = repset_db_find(db, "A");
	B = repset_db_find(db, "B");
	C = repset_db_find(db, "C");
	p = "/data/db/x";
	cr_expect_eq(repset_db_owner(db, p, strlen(p)), B);
	p = "/data/y";	/* A and C tie: the older set */
	cr_expect_eq(repset_db_owner(db, p, strlen(p)), A);
	p = "/data/secret/k";	/* A excludes it, so only C has it */
	cr_expect_eq(repset_db_owner(db, p, strlen(p)), C);
	p = "/srv/www/index";	/* literal beats A's pattern */
	cr_expect_eq(repset_db_owner(db, p, strlen(p)), B);
	p = "/srv/ftp/x";
	cr_expect_eq(repset_db_owner(db, p, strlen(p)), A);
	p = "/elsewhere";
	cr_expect_null(repset_db_owner(db, p, strlen(p)));
	cr_expect_null(repset_db_owner(db, "rel", 3));
	repset_db_free(db);
}

Test(ownership, devices_belong_to_the_oldest_set)
{
	struct repset_db *db = repset_db_new();
	char msg[512];

	add_set(db, "A", NULL, 0);
	add_set(db, "B", NULL, 0);
	cr_assert_eq(repset_db_device_add(db, "B", 0, "/dev/sdb", msg,
					  sizeof(msg)), 0);
	cr_expect_str_eq(msg, "");
	cr_assert_eq(repset_db_device_add(db, "A", 0, "/dev/sdb", msg,
					  sizeof(msg)), 0);
	cr_expect(strstr(msg, "warning: device \"/dev/sdb\" is also in B; it "
			 "is replicated from A only") != NULL, "%s", msg);
	cr_expect_eq(repset_db_device_owner(db, "/dev/sdb"),
		     repset_db_find(db, "A"));
	cr_expect_null(repset_db_device_owner(db, "/dev/sdc"));
	cr_expect_eq(repset_db_overlaps(db, NULL), 1);
	repset_db_free(db);
}

static size_t pair_overlaps(const struct rdef *a, const struct rdef *b)
{
	struct repset_db *db = repset_db_new();
	size_t n;

	add_set(db, "A", a, 1);
	add_set(db, "B", b, 1);
	n = repset_db_overlaps(db, NULL);
	repset_db_free(db);
	return n;
}

Test(overlaps, pairs)
{
	static const struct {
		struct rdef a, b;
		size_t want;
	} t[] = {
		{ { "/data", INC, REC }, { "/data/db", INC, REC }, 1 },
		{ { "/data", INC, REC }, { "/database", INC, REC }, 0 },
		{ { "/data", INC, NONREC }, { "/data/x", INC, NONREC }, 1 },
		{ { "/data", INC, NONREC }, { "/data/x/y", INC, REC }, 0 },
		{ { "/data", INC, NONREC }, { "/data", INC, REC }, 1 },
		{ { "/logs/*.log", INC, NONREC }, { "/logs/*.txt", INC, NONREC }, 0 },
		{ { "/logs/*.log", INC, NONREC }, { "/logs/a*", INC, NONREC }, 1 },
		{ { "/logs/*.log", INC, NONREC }, { "/logs/x.log", INC, REC }, 1 },
		{ { "/logs/*.log", INC, NONREC }, { "/logs/x.txt", INC, REC }, 0 },
		{ { "/logs/*.log", INC, NONREC }, { "/logs", INC, NONREC }, 1 },
		{ { "/logs/*.log", INC, NONREC }, { "/logs/d/x.log", INC, REC }, 0 },
		{ { "/x/*.db", INC, REC }, { "/x/y/z", INC, REC }, 1 },
		{ { "/x/*.db", INC, REC }, { "/x/y/z", INC, NONREC }, 1 },
		{ { "/x/*.db", INC, REC }, { "/x", INC, NONREC }, 1 },
		{ { "/x/*.db", INC, REC }, { "/x/a.txt", INC, NONREC }, 1 },
		{ { "/x/y/*.db", INC, REC }, { "/x", INC, NONREC }, 0 },
		{ { "/x/*.db", INC, REC }, { "/x", INC, NONREC }, 1 },
		{ { "/x/*.db", INC, REC }, { "/y", INC, REC }, 0 },
		{ { "/x/*.db", INC, REC }, { "/x/*.log", INC, REC }, 1 },
		{ { "/p/*.a", INC, REC }, { "/q/*.b", INC, REC }, 0 },
		{ { "/m/*/c", INC, NONREC }, { "/m/a/?", INC, NONREC }, 1 },
		{ { "/m/*/c", INC, NONREC }, { "/m/a/??", INC, NONREC }, 0 },
		{ { "/data", EXC, REC }, { "/data", INC, REC }, 0 },
		{ { "/", INC, REC }, { "/anything/at/all", INC, NONREC }, 1 },
	};
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(t); i++) {
		cr_expect_eq(pair_overlaps(&t[i].a, &t[i].b), t[i].want,
			     "case %zu: %s vs %s", i, t[i].a.path, t[i].b.path);
		cr_expect_eq(pair_overlaps(&t[i].b, &t[i].a), t[i].want,
			     "case %zu reversed", i);
	}
}

Test(overlaps, report_and_add_warning)
{
	static const struct rdef a[] = { { "/data", INC, REC } };
	struct repset_db *db = repset_db_new();
	struct util_buf out;
	char msg[1024];

	util_buf_init(&out);
	add_set(db, "A", a, 1);
	add_set(db, "B", NULL, 0);
	cr_assert_eq(repset_db_rule_add(db, "B", 0, "/data/db", INC, REC, msg,
					sizeof(msg)), 0);
	cr_expect_str_eq(msg, "warning: rule \"/data/db\" overlaps A rule "
			 "\"/data\"; shared data is replicated from one set "
			 "only");
	cr_expect_eq(repset_db_overlaps(db, &out), 1);
	cr_expect_str_eq(out.data, "A rule \"/data\" Include Recursive "
			 "overlaps B rule \"/data/db\" Include Recursive; "
			 "shared data is replicated from one set only\n");
	util_buf_free(&out);
	repset_db_free(db);
}

/* --- roots and tree walks ----------------------------------------------- */

Test(roots, minimal_cover_of_inclusions)
{
	static const struct rdef r[] = {
		{ "/data", INC, REC },
		{ "/data/sub", INC, REC },
		{ "/data/x", INC, NONREC },
		{ "/data-b", INC, REC },
		{ "/logs/*.log", INC, NONREC },
		{ "/logs/old", INC, NONREC },
		{ "/home/*/.cache", INC, NONREC },
		{ "/etc/passwd", INC, NONREC },
		{ "/opt", EXC, REC },
		{ "/srv/*.db", INC, REC },
	};
	static const struct {
		const char *path;
		bool rec;
	} want[] = {
		{ "/data", true },
		{ "/data-b", true },
		{ "/etc/passwd", false },
		{ "/home", true },
		{ "/logs", false },
		{ "/logs/old", false },
		{ "/srv", true },
	};
	struct repset_db *db = db_with("t", r, UTIL_ARRAY_SIZE(r));
	struct repset_root *roots;
	size_t n, i;

	repset_roots(repset_db_find(db, "t"), &roots, &n);
	cr_assert_eq(n, UTIL_ARRAY_SIZE(want));
	for (i = 0; i < n; i++) {
		cr_expect_str_eq(roots[i].path, want[i].path);
		cr_expect_eq(roots[i].recursive, want[i].rec, "%s",
			     roots[i].path);
	}
	repset_roots_free(roots, n);

	/* Across sets: a recursive /logs absorbs the rest of it. */
	add_set(db, "u", (const struct rdef[]){ { "/logs", INC, REC } }, 1);
	repset_db_roots(db, &roots, &n);
	cr_assert_eq(n, UTIL_ARRAY_SIZE(want) - 1);
	cr_expect_str_eq(roots[4].path, "/logs");
	cr_expect(roots[4].recursive);
	cr_expect_str_eq(roots[5].path, "/srv");
	repset_roots_free(roots, n);
	repset_db_free(db);
}

Test(roots, root_rule_and_empty)
{
	static const struct rdef r[] = {
		{ "/a/b", INC, NONREC },
		{ "/", INC, REC },
	};
	struct repset_db *db = db_with("t", NULL, 0);
	struct repset_root *roots;
	size_t n;

	repset_roots(repset_db_find(db, "t"), &roots, &n);
	cr_expect_eq(n, 0);
	repset_roots_free(roots, n);
	repset_db_free(db);
	db = db_with("t", r, 2);
	repset_roots(repset_db_find(db, "t"), &roots, &n);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(roots[0].path, "/");
	cr_expect(roots[0].recursive);
	repset_roots_free(roots, n);
	repset_db_free(db);
}

static bool d(const struct repset *rs, const char *p)
{
	return repset_descend(rs, p, strlen(p));
}

Test(descend, prunes_excluded_subtrees)
{
	static const struct rdef r[] = {
		{ "/data", INC, REC },
		{ "/data/big", EXC, REC },
		{ "/data/big/keep", INC, NONREC },
		{ "/data/cache", EXC, REC },
		{ "/data/*.tmp", EXC, REC },
	};
	struct repset_db *db = db_with("t", r, UTIL_ARRAY_SIZE(r));
	const struct repset *rs = repset_db_find(db, "t");

	cr_expect(d(rs, "/"));
	cr_expect(d(rs, "/data"));
	cr_expect(d(rs, "/data/sub"));
	cr_expect(d(rs, "/data/big"));
	cr_expect(d(rs, "/data/big/keep"));
	cr_expect_not(d(rs, "/data/big/keep/sub"));
	cr_expect_not(d(rs, "/data/big/other"));
	cr_expect_not(d(rs, "/data/cache"));
	cr_expect_not(d(rs, "/data/x.tmp"));
	cr_expect_not(d(rs, "/other"));
	cr_expect_not(d(rs, "/database"));
	repset_db_free(db);
}

/* --- randomised cross-checks against brute force -------------------------- */

static const char *const names[] = { "a", "b", "ab", "x.t" };
static const char *const pats[] = { "a", "b", "ab", "x.t", "*", "a*", "?",
				    "*.t" };

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

static void random_rule(unsigned *s, char *buf, size_t len)
{
	unsigned depth = rnd(s) % 4, i;

	buf[0] = '\0';
	if (depth == 0) {
		util_strlcpy(buf, "/", len);
		return;
	}
	for (i = 0; i < depth; i++) {
		util_strlcat(buf, "/", len);
		util_strlcat(buf, rnd(s) % 3 == 0 ?
			     pats[rnd(s) % UTIL_ARRAY_SIZE(pats)] :
			     names[rnd(s) % UTIL_ARRAY_SIZE(names)], len);
	}
}

/* Every path of depth 0..maxd over names[]; calls fn for each. */
static void all_paths(char *buf, size_t at, unsigned depth, unsigned maxd,
		      void (*fn)(const char *, unsigned, void *), void *arg)
{
	size_t i;

	buf[at] = '\0';
	fn(at ? buf : "/", depth, arg);
	if (depth == maxd)
		return;
	for (i = 0; i < UTIL_ARRAY_SIZE(names); i++) {
		size_t l = strlen(names[i]);

		buf[at] = '/';
		memcpy(buf + at + 1, names[i], l);
		all_paths(buf, at + 1 + l, depth + 1, maxd, fn, arg);
	}
}

struct walk {
	const struct repset *rs;
	const struct repset_db *db;
	const char *dir;
	bool found;
	size_t both;
};

static void find_below(const char *p, unsigned depth, void *arg)
{
	struct walk *w = arg;
	size_t dl = strlen(w->dir);

	(void)depth;
	if (strcmp(w->dir, "/") == 0 ? strcmp(p, "/") != 0 :
	    strncmp(p, w->dir, dl) == 0 && p[dl] == '/')
		if (m(w->rs, p))
			w->found = true;
}

static void check_descend(const char *dir, unsigned depth, void *arg)
{
	struct walk *w = arg, sub = *w;
	char buf[64];

	if (depth > 2)
		return;
	sub.dir = dir;
	sub.found = false;
	all_paths(buf, 0, 0, 5, find_below, &sub);
	if (sub.found)
		cr_expect(d(w->rs, dir), "descend(%s) must be true", dir);
}

Test(random, descend_never_prunes_a_protected_path)
{
	unsigned seed = 12345, round;

	for (round = 0; round < 150; round++) {
		struct repset_db *db = db_with("t", NULL, 0);
		struct walk w = { repset_db_find(db, "t"), db, "/", false, 0 };
		char buf[64], path[64], msg[256];
		unsigned nr = 1 + rnd(&seed) % 5, i;

		for (i = 0; i < nr; i++) {
			random_rule(&seed, path, sizeof(path));
			(void)repset_db_rule_add(db, "t", 0, path,
						 rnd(&seed) % 2 ? INC : EXC,
						 rnd(&seed) % 2, msg,
						 sizeof(msg));
		}
		all_paths(buf, 0, 0, 2, check_descend, &w);
		repset_db_free(db);
	}
}

static void count_both(const char *p, unsigned depth, void *arg)
{
	struct walk *w = arg;

	(void)depth;
	if (m(repset_db_at(w->db, 0), p) && m(repset_db_at(w->db, 1), p)) {
		w->both++;
		cr_expect_not_null(repset_db_owner(w->db, p, strlen(p)));
	} else if (!m(repset_db_at(w->db, 0), p) &&
		   !m(repset_db_at(w->db, 1), p)) {
		cr_expect_null(repset_db_owner(w->db, p, strlen(p)));
	}
}

Test(random, overlaps_are_reported_when_paths_are_shared)
{
	unsigned seed = 777, round;

	for (round = 0; round < 400; round++) {
		struct repset_db *db = repset_db_new();
		struct walk w = { NULL, db, "/", false, 0 };
		char buf[64], pa[64], pb[64];
		struct rdef a = { pa, INC, false }, b = { pb, INC, false };

		random_rule(&seed, pa, sizeof(pa));
		random_rule(&seed, pb, sizeof(pb));
		a.rec = rnd(&seed) % 2;
		b.rec = rnd(&seed) % 2;
		add_set(db, "A", &a, 1);
		add_set(db, "B", &b, 1);
		all_paths(buf, 0, 0, 5, count_both, &w);
		if (w.both)
			cr_expect_eq(repset_db_overlaps(db, NULL), 1,
				     "%s %d vs %s %d share paths", pa, a.rec,
				     pb, b.rec);
		repset_db_free(db);
	}
}

/* --- persistence -------------------------------------------------------- */

static char tmpdir[64];

static void mk_tmpdir(void)
{
	util_strlcpy(tmpdir, "/tmp/test_repset.XXXXXX", sizeof(tmpdir));
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		p = util_xasprintf("%s/%s", tmpdir, de->d_name);
		unlink(p);
		free(p);
	}
	closedir(dir);
	rmdir(tmpdir);
}

static size_t dir_entries(void)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *de;
	size_t n = 0;

	while (dir && (de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	if (dir)
		closedir(dir);
	return n;
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

TestSuite(persist, .init = mk_tmpdir, .fini = rm_tmpdir);

Test(persist, save_load_round_trip)
{
	static const struct rdef a[] = {
		{ "/var/data", INC, REC },
		{ "/var/data/old", INC, NONREC },
		{ "/var/data/*.tmp", EXC, REC },
		{ "/srv/sp ace/\x01\x7f\xff\"\\q", INC, NONREC },
		{ "/", EXC, NONREC },
	};
	static const struct rdef b[] = { { "/home/*/.cache", EXC, REC } };
	struct repset_db *db = repset_db_new(), *back = repset_db_new();
	struct util_buf t1, t2;
	char *path = util_xasprintf("%s/repsets", tmpdir), err[512], msg[256];
	char *lp = long_path(4095);

	util_buf_init(&t1);
	util_buf_init(&t2);
	add_set(db, "gone", NULL, 0);
	add_set(db, "First", a, UTIL_ARRAY_SIZE(a));
	add_set(db, "second.set", b, 1);
	cr_assert_eq(repset_db_rule_add(db, "second.set", 0, lp, INC, REC, msg,
					sizeof(msg)), 0);
	cr_assert_eq(repset_db_device_add(db, "First", 0, "/dev/mapper/vg-lv",
					  msg, sizeof(msg)), 0);
	cr_assert_eq(repset_db_delete(db, "gone", 0, msg, sizeof(msg)), 0);
	cr_assert_eq(repset_db_save(db, path), 0, "%s", strerror(errno));
	cr_expect_eq(dir_entries(), 1, "temporary file left behind");
	cr_assert_eq(repset_db_load(back, path, err, sizeof(err)), 0, "%s",
		     err);
	repset_db_format(db, &t1);
	repset_db_format(back, &t2);
	cr_expect_str_eq(t2.data, t1.data);
	cr_expect_eq(repset_db_count(back), 2);
	cr_expect_eq(repset_generation(repset_db_find(back, "First")), 7);
	cr_expect_eq(repset_seq(repset_db_find(back, "First")), 2);
	cr_expect_str_eq(repset_rule_at(repset_db_find(back, "First"), 4)
			 ->discarded_by, "/var/data");
	cr_expect(m(repset_db_find(back, "First"),
		    "/srv/sp ace/\x01\x7f\xff\"\\q"));
	cr_expect(m(repset_db_find(back, "second.set"), lp));
	/* Seq numbering continues after the newest loaded set. */
	cr_assert_eq(repset_db_create(back, "third", msg, sizeof(msg)), 0);
	cr_expect_eq(repset_seq(repset_db_find(back, "third")), 4);
	/* Saving over an existing file replaces it. */
	cr_assert_eq(repset_db_save(back, path), 0);
	cr_assert_eq(repset_db_load(db, path, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(repset_db_count(db), 3);
	cr_expect_eq(dir_entries(), 1);
	free(lp);
	free(path);
	util_buf_free(&t1);
	util_buf_free(&t2);
	repset_db_free(db);
	repset_db_free(back);
}

Test(persist, empty_registry_round_trip)
{
	struct repset_db *db = repset_db_new();
	char *path = util_xasprintf("%s/repsets", tmpdir), err[256];

	cr_assert_eq(repset_db_save(db, path), 0);
	cr_assert_eq(repset_db_load(db, path, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(repset_db_count(db), 0);
	free(path);
	repset_db_free(db);
}

Test(persist, load_errors_keep_the_registry)
{
	struct repset_db *db = repset_db_new();
	char *path = util_xasprintf("%s/missing", tmpdir), err[512];
	static const char bad_text[] = "ditto-repsets 1\n"
		"repset x seq 1 generation 1\n"
		"rule include sideways \"/a\"\nend\n";

	add_set(db, "keep", NULL, 0);
	cr_expect_eq(repset_db_load(db, path, err, sizeof(err)), -1);
	cr_expect_eq(errno, ENOENT);
	cr_expect(strstr(err, path) != NULL, "%s", err);
	cr_expect_eq(repset_db_load(db, tmpdir, err, sizeof(err)), -1);
	cr_expect(strstr(err, "not a regular file") != NULL, "%s", err);
	free(path);
	path = util_xasprintf("%s/bad", tmpdir);
	write_file(path, bad_text, strlen(bad_text));
	cr_expect_eq(repset_db_load(db, path, err, sizeof(err)), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect(strstr(err, "/bad:3: expected \"recursive\"") != NULL, "%s",
		  err);
	cr_expect_eq(repset_db_count(db), 1);
	cr_expect_not_null(repset_db_find(db, "keep"));
	free(path);
	repset_db_free(db);
}

Test(persist, malformed_files_refused_with_line_numbers)
{
	static const struct {
		const char *text;
		const char *err;
	} t[] = {
		{ "", "f:1: missing \"ditto-repsets 1\" header" },
		{ "# only a comment\n\n", "f:2: missing" },
		{ "repset a seq 1 generation 1\n", "f:1: expected \"ditto-repsets 1\" first" },
		{ "ditto-repsets 2\n", "f:1: unsupported format version" },
		{ "ditto-repsets 1 extra\n", "f:1: unexpected text" },
		{ "ditto-repsets 1\nrule include recursive \"/a\"\n", "f:2: \"rule\" outside a repset" },
		{ "ditto-repsets 1\ndevice \"/dev/a\"\n", "f:2: \"device\" outside" },
		{ "ditto-repsets 1\nend\n", "f:2: \"end\" outside" },
		{ "ditto-repsets 1\nfrobnicate\n", "f:2: unknown directive" },
		{ "ditto-repsets 1\n\nrepset a seq 1 generation 1\n", "f:3: repset a is not closed" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrepset b seq 2 generation 1\n", "f:3: repset a (line 2) is not closed" },
		{ "ditto-repsets 1\nrepset a/b seq 1 generation 1\n", "f:2: invalid replication set name" },
		{ "ditto-repsets 1\nrepset\n", "f:2: missing replication set name" },
		{ "ditto-repsets 1\nrepset a seq x generation 1\n", "f:2: seq must be a number" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 0\n", "f:2: generation must be a number" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 99999999999999999999\n", "f:2: generation must be" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 9223372036854775808\n", "f:2: generation must be" },
		{ "ditto-repsets 1\nrepset a seq 1\n", "f:2: expected \"generation\"" },
		{ "ditto-repsets 1\nrepset a sequence 1 generation 1\n", "f:2: expected \"seq\"" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1 x\n", "f:2: unexpected text" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nend\nrepset A seq 2 generation 1\n", "f:4: duplicate replication set A" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nend\nrepset b seq 1 generation 1\n", "f:4: seq 1 is also used by a" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive /a\n", "f:3: expected a quoted path" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive \"/a\n", "f:3: unterminated string" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive \"/a\\q\"\n", "f:3: invalid escape" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive \"/a\\x0\"\n", "f:3: invalid escape" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive \"/a\\x00\"\n", "f:3: \\x00 is not allowed" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive \"/a\tb\"\n", "f:3: control character" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive \"/a\" #c\n", "f:3: unexpected text" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive \"a\"\n", "f:3: rule: path must be absolute" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive \"/a/../b\"\n", "f:3: rule: path must not contain" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include recursive \"/a\"\nrule exclude nonrecursive \"/a/\"\n", "f:4: rule: the set already has a rule" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule INCLUDE recursive \"/a\"\n", "f:3: expected \"include\" or \"exclude\"" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nrule include\n", "f:3: expected \"recursive\"" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\ndevice \"/etc/x\"\n", "f:3: device: a block device must be" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\ndevice \"/dev/x\"\ndevice \"/dev/x\"\n", "f:4: device: the device is already" },
		{ "ditto-repsets 1\nrepset a seq 1 generation 1\nend now\n", "f:3: unexpected text" },
		{ "ditto-repsets 1\r\n", "f:1: carriage return" },
	};
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(t); i++) {
		struct repset_db *db = repset_db_new();
		char err[512] = "unset";

		cr_expect_eq(repset_db_parse(db, t[i].text, strlen(t[i].text),
					     "f", err, sizeof(err)), -1,
			     "case %zu accepted", i);
		cr_expect(strncmp(err, t[i].err, strlen(t[i].err)) == 0,
			  "case %zu: got \"%s\", want \"%s...\"", i, err,
			  t[i].err);
		cr_expect_eq(repset_db_count(db), 0);
		repset_db_free(db);
	}
}

Test(persist, nul_byte_and_long_paths_in_file)
{
	static const char nul[] = "ditto-repsets 1\nrepset a\0 seq 1\n";
	struct repset_db *db = repset_db_new();
	struct util_buf f;
	char err[512];
	char *ok = long_path(4095), *bad = long_path(4096);

	cr_expect_eq(repset_db_parse(db, nul, sizeof(nul) - 1, "f", err,
				     sizeof(err)), -1);
	cr_expect_str_eq(err, "f:2: NUL byte in line");
	util_buf_init(&f);
	util_buf_printf(&f, "ditto-repsets 1\nrepset a seq 1 generation 3\n"
			"rule include recursive \"%s\"\nend\n", ok);
	cr_expect_eq(repset_db_parse(db, f.data, f.len, "f", err,
				     sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(err, "");
	cr_expect_eq(repset_generation(repset_db_find(db, "a")), 3);
	util_buf_reset(&f);
	util_buf_printf(&f, "ditto-repsets 1\nrepset a seq 1 generation 3\n"
			"rule include recursive \"%s\"\nend\n", bad);
	cr_expect_eq(repset_db_parse(db, f.data, f.len, "f", err,
				     sizeof(err)), -1);
	cr_expect_str_eq(err, "f:3: rule: path is longer than 4095 bytes");
	cr_expect_eq(repset_db_count(db), 1);	/* kept the earlier load */
	free(ok);
	free(bad);
	util_buf_free(&f);
	repset_db_free(db);
}

Test(persist, accepts_comments_blank_lines_and_any_seq_order)
{
	static const char text[] =
		"# hand written\n\n"
		"ditto-repsets   1\n"
		"repset later seq 9 generation 2\n"
		"\trule exclude nonrecursive \"/x/\\x41\"\n"
		"end\n"
		"# between\n"
		"repset earlier seq 3 generation 1\n"
		"end";
	struct repset_db *db = repset_db_new();
	char err[256];

	cr_assert_eq(repset_db_parse(db, text, sizeof(text) - 1, "f", err,
				     sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(repset_name(repset_db_at(db, 0)), "earlier");
	cr_expect_str_eq(repset_rule_at(repset_db_at(db, 1), 0)->path,
			 "/x/A");
	cr_assert_eq(repset_db_create(db, "n", err, sizeof(err)), 0);
	cr_expect_eq(repset_seq(repset_db_find(db, "n")), 10);
	repset_db_free(db);
}
