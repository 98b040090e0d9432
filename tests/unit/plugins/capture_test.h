/* capture_test — the harness the capture plugin tests (test_fanotify.c,
 * test_inotify.c) share, and the cases both run.
 *
 * A case works on real filesystem operations in a mkdtemp root, step by
 * step: capture_test_begin() starts a step, the step is performed,
 * capture_test_settle() drains the plugin until it is quiet, and the events
 * of that step must contain what the step implies, in order (EXPECT: other
 * events may sit in between). The plugin is loaded from
 * DITTO_PLUGIN_BUILDDIR.
 *
 * Paths ("rel") are relative to the root: "" is the root itself, and one
 * with a leading '/' is absolute. Failures are Criterion assertions. */
#ifndef DITTO_CAPTURE_TEST_H
#define DITTO_CAPTURE_TEST_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture_host.h"

/* The plugin under test; NULL when capture_test_setup() was told it needs
 * root and we are not (the test then skips). */
extern struct capture_host_plugin *capture_test_plug;
/* The registered root, and a sibling directory outside every root. */
extern char capture_test_root[PATH_MAX + 8], capture_test_side[PATH_MAX + 8];
/* Renames arrive as MOVED_FROM + MOVED_TO rather than RENAME (fanotify
 * before Linux 5.17): set by the test's log hook, read by EXPECT_RENAME. */
extern bool capture_test_split_renames;

/* Criterion .init: makes the temporary tree, loads and opens <plugin>.so
 * and registers the root. need_root: when not root, stop after the tree
 * (capture_test_plug stays NULL). hook, if not NULL, sees every line the
 * plugin logs. */
void capture_test_setup(const char *plugin, bool need_root,
			void (*hook)(const char *msg));
/* Criterion .fini. */
void capture_test_teardown(void);

/* Reads until the plugin has been quiet for 200 ms. */
void capture_test_settle(void);
/* Starts a step: what came before is drained and no longer counts. */
void capture_test_begin(void);
/* Events of this step. */
size_t capture_test_step_events(void);
/* Events of this step of that type, for rel (any path when rel is NULL). */
size_t capture_test_count(uint32_t type, const char *rel);

/* rel as an absolute path (malloc'd). */
char *capture_test_full(const char *rel);
/* The same in a static buffer, for one-off arguments. */
const char *capture_test_full_static(const char *rel);

/* Filesystem operations, asserted to succeed. put: create or truncate,
 * then write data unless it is NULL. */
void capture_test_put(const char *rel, const char *data);
void capture_test_mk(const char *rel);
void capture_test_mv(const char *a, const char *b);
void capture_test_rm_r(const char *rel);
void capture_test_add_root(const char *rel);

/* One expected event: type, path (and new path for RENAME) as rel. */
struct capture_test_want {
	uint32_t type;
	const char *p, *p2;
	int dir;		/* 1 IS_DIR, 0 not, -1 either */
};

#define W(t, p) { DITTO_CAPTURE_##t, p, NULL, -1 }
#define WF(t, p) { DITTO_CAPTURE_##t, p, NULL, 0 }
#define WD(t, p) { DITTO_CAPTURE_##t, p, NULL, 1 }
#define WR(p, p2, d) { DITTO_CAPTURE_RENAME, p, p2, d }

/* The step's events contain w[0..n) as a subsequence. */
void capture_test_expect_seq(const char *what,
			     const struct capture_test_want *w, size_t n);

#define EXPECT(what, ...)                                                   \
	do {                                                                \
		const struct capture_test_want w_[] = { __VA_ARGS__ };      \
		capture_test_expect_seq(what, w_, sizeof(w_) / sizeof(w_[0])); \
	} while (0)

/* A rename of a to b within the roots, in whichever form the plugin
 * reports it (capture_test_split_renames). */
#define EXPECT_RENAME(what, a, b, d)                                        \
	do {                                                                \
		if (capture_test_split_renames)                             \
			EXPECT(what, { DITTO_CAPTURE_MOVED_FROM, a, NULL, d },  \
			       { DITTO_CAPTURE_MOVED_TO, b, NULL, d });     \
		else                                                        \
			EXPECT(what, WR(a, b, d));                          \
	} while (0)

/* No event of type (any type when 0) names rel in this step. */
void capture_test_expect_none(const char *what, uint32_t type,
			      const char *rel);
/* Nothing in this step outside dir. */
void capture_test_expect_all_under(const char *dir);
/* No resync was needed in this step, unless the kernel queue itself
 * overflowed (then OVERFLOW is the right answer). */
void capture_test_expect_no_resync(const char *what);

/* ---- the cases both plugins pass ----------------------------------------- */

void capture_test_case_file_lifecycle(void);
void capture_test_case_renames(void);
void capture_test_case_mkdir_then_files_at_once(void);
void capture_test_case_rm_r(void);
void capture_test_case_links(void);
void capture_test_case_root_gone_and_back(void);
void capture_test_case_root_not_there_yet(void);
void capture_test_case_ancestor_renamed(void);
void capture_test_case_nested_roots(void);
void capture_test_case_remove_root(void);
void capture_test_case_overflow(void);
void capture_test_case_nested_outer_added_last(void);
void capture_test_case_file_root(void);

#endif
