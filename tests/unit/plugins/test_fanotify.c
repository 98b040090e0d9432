#include "config.h"

/* The fanotify capture plugin against real filesystem operations in a
 * mkdtemp root (harness and shared cases: capture_test.c). Other events
 * may sit between the expected ones: the filesystem mark sees the whole
 * filesystem and the plugin filters. Skipped unless root
 * (CAP_SYS_ADMIN). */

#include "capture_test.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLUGIN "fanotify"

/* Before Linux 5.17 (no FAN_RENAME, no FAN_REPORT_TARGET_FID) renames
 * arrive as MOVED_FROM + MOVED_TO; the plugin says so when it opens. */
static void log_hook(const char *msg)
{
	if (strstr(msg, "no FAN_RENAME"))
		capture_test_split_renames = true;
}

static void setup(void)
{
	/* The kernel's bounded queue, so the overflow test can overflow it;
	 * the agent's default unlimited queue runs in the integration tests. */
	setenv("DITTO_FANOTIFY_QUEUE", "bounded", 1);
	capture_test_setup(PLUGIN, true, log_hook);
}

/* ---- tests ------------------------------------------------------------- */

#define NEED_ROOT()                                                         \
	do {                                                                \
		if (!capture_test_plug)                                     \
			cr_skip_test("fanotify filesystem marks need root " \
				     "(CAP_SYS_ADMIN); running as uid %u",  \
				     (unsigned)geteuid());                  \
	} while (0)

TestSuite(fanotify, .init = setup, .fini = capture_test_teardown,
	  .timeout = 60);

Test(fanotify, file_lifecycle)
{
	NEED_ROOT();
	capture_test_case_file_lifecycle();
}

Test(fanotify, renames)
{
	NEED_ROOT();
	capture_test_case_renames();
}

Test(fanotify, mkdir_then_files_at_once)
{
	NEED_ROOT();
	capture_test_case_mkdir_then_files_at_once();
}

Test(fanotify, rm_r)
{
	NEED_ROOT();
	capture_test_case_rm_r();
}

Test(fanotify, links)
{
	NEED_ROOT();
	capture_test_case_links();
}

Test(fanotify, root_gone_and_back)
{
	NEED_ROOT();
	capture_test_case_root_gone_and_back();
}

Test(fanotify, root_not_there_yet)
{
	NEED_ROOT();
	capture_test_case_root_not_there_yet();
}

Test(fanotify, ancestor_renamed)
{
	NEED_ROOT();
	capture_test_case_ancestor_renamed();
}

Test(fanotify, nested_roots)
{
	NEED_ROOT();
	capture_test_case_nested_roots();
}

Test(fanotify, remove_root)
{
	NEED_ROOT();
	capture_test_case_remove_root();
}

Test(fanotify, overflow)
{
	NEED_ROOT();
	capture_test_case_overflow();
}

Test(fanotify, deleted_dir_named_from_batch)
{
	char sp[PATH_MAX * 2], *f;
	int fd;

	NEED_ROOT();
	if (capture_test_split_renames)
		cr_skip_test("needs FAN_REPORT_TARGET_FID (Linux 5.17)");
	/* t/u is not known to the plugin: it moves in whole. */
	snprintf(sp, sizeof(sp), "%s/t", capture_test_side);
	cr_assert(mkdir(sp, 0755) == 0);
	snprintf(sp, sizeof(sp), "%s/t/u", capture_test_side);
	cr_assert(mkdir(sp, 0755) == 0);
	snprintf(sp, sizeof(sp), "%s/t/u/f", capture_test_side);
	capture_test_put(sp, "old");
	snprintf(sp, sizeof(sp), "%s/t", capture_test_side);
	capture_test_begin();
	capture_test_mv(sp, "t");
	capture_test_settle();
	EXPECT("moved in", WD(MOVED_TO, "t"));
	/* Written to, then the whole tree removed before the plugin reads:
	 * u's handle is stale, its DELETE in the same batch names it. */
	capture_test_begin();
	f = capture_test_full("t/u/f");
	fd = open(f, O_WRONLY | O_APPEND);
	cr_assert(fd >= 0);
	cr_assert(write(fd, "new", 3) == 3);
	cr_assert(close(fd) == 0);
	capture_test_rm_r("t");
	capture_test_settle();
	/* One process wrote and deleted f: the kernel merges that into one
	 * event, reported removal first (see capture.h). */
	EXPECT("named", WF(MODIFY, "t/u/f"), WD(DELETE, "t/u"),
	       WD(DELETE, "t"));
	EXPECT("named", WF(DELETE, "t/u/f"), WD(DELETE, "t/u"));
	capture_test_expect_no_resync("no resync");
	free(f);
}

Test(fanotify, unnameable_dir_means_overflow)
{
	char *r = capture_test_full(""), *v = capture_test_full("v");
	char *w = capture_test_full("w");

	NEED_ROOT();
	capture_test_mk("v");
	capture_test_mk("w");
	capture_test_settle();
	/* Dropping the only root clears what the plugin knew about v. */
	cr_assert(capture_host_remove_root(capture_test_plug, r) == 0);
	capture_test_add_root("");
	capture_test_begin();
	capture_test_put("v/f", "1");
	capture_test_rm_r("v/f");
	cr_assert(rename(w, v) == 0);	/* v replaced: gone, no DELETE */
	capture_test_settle();
	EXPECT("resync, not silence", W(OVERFLOW, ""));
	EXPECT_RENAME("rename still seen", "w", "v", 1);
	free(r);
	free(v);
	free(w);
}

Test(fanotify, nested_outer_added_last)
{
	NEED_ROOT();
	capture_test_case_nested_outer_added_last();
}

Test(fanotify, file_root)
{
	NEED_ROOT();
	capture_test_case_file_root();
}
