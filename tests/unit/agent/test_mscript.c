#include "config.h"

#include "mscript.h"
#include "evloop.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], good[128], bad[128], out[128];

static void write_script(const char *path, mode_t mode, const char *body)
{
	FILE *f = fopen(path, "w");

	cr_assert(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	cr_assert(fclose(f) == 0);
	cr_assert(chmod(path, mode) == 0);
}

static void setup(void)
{
	strcpy(dir, "/tmp/test_mscript.XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(good, sizeof(good), "%s/good", dir);
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	write_script(good, 0755, "echo \"$DITTO_EVENT $DITTO_CON_ID $DITTO_MIRROR_FILES ${DITTO_REASON-none} $*\" >>\"$1\"");
	write_script(bad, 0777, "exit 0");
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert(system(cmd) == 0);
}

TestSuite(mscript, .init = setup, .fini = teardown);

Test(mscript, event_names)
{
	cr_assert_eq(mscript_event_parse("mirrorstart"), MSCRIPT_START);
	cr_assert_eq(mscript_event_parse("MIRRORSTOP"), MSCRIPT_STOP);
	cr_assert_eq(mscript_event_parse("MirrorComplete"), MSCRIPT_COMPLETE);
	cr_assert_eq(mscript_event_parse("MIRROR"), -1);
	cr_assert_eq(mscript_event_parse(NULL), -1);
	cr_assert_str_eq(mscript_event_name(MSCRIPT_COMPLETE), "MIRRORCOMPLETE");
}

Test(mscript, set_refuses_what_others_could_change)
{
	struct mscripts m;
	char err[512];

	memset(&m, 0, sizeof(m));
	cr_assert_eq(mscript_set(&m, MSCRIPT_START, bad, NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, bad), "%s", err);
	cr_assert_null(m.path[MSCRIPT_START]);
	cr_assert_eq(mscript_set(&m, MSCRIPT_START, "relative", NULL, err, sizeof(err)), -1);
	cr_assert_eq(mscript_set(&m, MSCRIPT_START, good, "a b", err, sizeof(err)), 0, "%s", err);
	/* A refused replacement leaves the old one. */
	cr_assert_eq(mscript_set(&m, MSCRIPT_START, bad, NULL, err, sizeof(err)), -1);
	cr_assert_str_eq(m.path[MSCRIPT_START], good);
	cr_assert_str_eq(m.args[MSCRIPT_START], "a b");
	cr_assert_eq(mscript_clear(&m, MSCRIPT_START), 0);
	cr_assert_eq(mscript_clear(&m, MSCRIPT_START), -1);
	mscript_free(&m);
}

Test(mscript, save_load_status)
{
	struct mscripts m, n;
	struct util_buf b;
	config_t cfg;
	config_setting_t *g;
	char err[512];

	memset(&m, 0, sizeof(m));
	memset(&n, 0, sizeof(n));
	cr_assert_eq(mscript_set(&m, MSCRIPT_COMPLETE, good, "x \"y z\"", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(mscript_set(&m, MSCRIPT_STOP, good, NULL, err, sizeof(err)), 0, "%s", err);
	config_init(&cfg);
	g = config_setting_add(config_root_setting(&cfg), "c", CONFIG_TYPE_GROUP);
	mscript_save(&m, g);
	mscript_load(&n, g);
	cr_assert_null(n.path[MSCRIPT_START]);
	cr_assert_str_eq(n.path[MSCRIPT_STOP], good);
	cr_assert_null(n.args[MSCRIPT_STOP]);
	cr_assert_str_eq(n.path[MSCRIPT_COMPLETE], good);
	cr_assert_str_eq(n.args[MSCRIPT_COMPLETE], "x \"y z\"");
	util_buf_init(&b);
	mscript_status(&n, &b);
	cr_assert(strstr(b.data, "Script MIRRORCOMPLETE: "), "%s", b.data);
	cr_assert(strstr(b.data, "Script MIRRORSTOP:    /"), "%s", b.data);
	cr_assert_null(strstr(b.data, "MIRRORSTART"));
	util_buf_free(&b);
	config_destroy(&cfg);
	mscript_free(&m);
	mscript_free(&n);
}

Test(mscript, fire_runs_with_args_and_environment)
{
	struct mscripts m;
	struct mscript_info info = {
		.con_id = 7, .source = "src", .repset = "rs", .target = "t", .target_path = "/p",
		.type = "full", .files = 12, .bytes = 3456, .reason = "because",
	};
	struct evloop *loop = evloop_new();
	char err[512], args[256], line[256] = "";
	FILE *f;

	memset(&m, 0, sizeof(m));
	snprintf(args, sizeof(args), "%s one;two $(id)", out);
	cr_assert_eq(mscript_set(&m, MSCRIPT_STOP, good, args, err, sizeof(err)), 0, "%s", err);
	mscript_fire(&m, loop, MSCRIPT_STOP, &info);
	cr_assert_not_null(m.run[MSCRIPT_STOP]);
	/* Done (its slot cleared) within 10 s. */
	for (int i = 0; i < 100 && m.run[MSCRIPT_STOP]; i++)
		evloop_run_once(loop, 100);
	cr_assert_null(m.run[MSCRIPT_STOP]);
	f = fopen(out, "r");
	cr_assert(f);
	cr_assert(fgets(line, sizeof(line), f));
	fclose(f);
	snprintf(args, sizeof(args), "MIRRORSTOP 7 12 because %s one;two $(id)\n", out);
	cr_assert_str_eq(line, args);
	mscript_free(&m);
	evloop_free(loop);
}
