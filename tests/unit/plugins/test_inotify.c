#include "config.h"

/* The inotify capture plugin against real filesystem operations in a
 * mkdtemp root (harness and cases: capture_test.c). Other events, e.g.
 * duplicates from a directory scan, may sit between the expected ones. */

#include "capture_test.h"

#include <criterion/criterion.h>

#define PLUGIN "inotify"

static void setup(void)
{
	capture_test_setup(PLUGIN, false, NULL);
}

/* ---- tests ------------------------------------------------------------- */

TestSuite(inotify, .init = setup, .fini = capture_test_teardown,
	  .timeout = 60);

Test(inotify, file_lifecycle)
{
	capture_test_case_file_lifecycle();
}

Test(inotify, renames)
{
	capture_test_case_renames();
}

Test(inotify, mkdir_then_files_at_once)
{
	capture_test_case_mkdir_then_files_at_once();
}

Test(inotify, rm_r)
{
	capture_test_case_rm_r();
}

Test(inotify, links)
{
	capture_test_case_links();
}

Test(inotify, root_gone_and_back)
{
	capture_test_case_root_gone_and_back();
}

Test(inotify, root_not_there_yet)
{
	capture_test_case_root_not_there_yet();
}

Test(inotify, ancestor_renamed)
{
	capture_test_case_ancestor_renamed();
}

Test(inotify, nested_roots)
{
	capture_test_case_nested_roots();
}

Test(inotify, remove_root)
{
	capture_test_case_remove_root();
}

Test(inotify, overflow)
{
	capture_test_case_overflow();
}

Test(inotify, nested_outer_added_last)
{
	capture_test_case_nested_outer_added_last();
}

Test(inotify, file_root)
{
	capture_test_case_file_root();
}
