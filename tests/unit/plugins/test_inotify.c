#include "config.h"

/* The inotify capture plugin against real filesystem operations in a
 * mkdtemp root: each step is performed, the plugin drained until quiet,
 * and the events of that step must contain what the step implies, in
 * order (other events, e.g. duplicates from a directory scan, may sit in
 * between). The plugin is loaded from DITTO_PLUGIN_BUILDDIR. */

#include "capture_host.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PLUGIN "inotify"

/* ---- harness (same in test_fanotify.c) ---------------------------------- */

struct rec {
	uint32_t type, flags;
	char *path, *path2;
};

static struct capture_host_plugin *plug;
static char base[PATH_MAX], root[PATH_MAX + 8], side[PATH_MAX + 8];
static struct rec *evs;
static size_t nev, evcap, mark;

static char *plugin_file(const char *name)
{
	const char *d = getenv("DITTO_PLUGIN_BUILDDIR");
	char *p;
	int i;

	cr_assert(d && d[0], "set DITTO_PLUGIN_BUILDDIR to the build tree "
		  "(or a directory holding %s.so)", name);
	/* A directory of installed-style plugins, or libtool's build tree. */
	for (i = 0; i < 3; i++) {
		int r = i == 0 ? asprintf(&p, "%s/%s.so", d, name) :
			i == 1 ? asprintf(&p, "%s/plugins/.libs/%s.so", d,
					  name) :
				 asprintf(&p, "%s/plugins/capture/%s/.libs/"
					  "%s.so", d, name, name);

		cr_assert(r > 0);
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	cr_assert_fail("no %s.so under %s", name, d);
	return NULL;
}

/* Kernel queue overflows so far, as the plugin logs them. */
static unsigned queue_overflows, queue_overflows_at_begin;

static void log_cb(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (strstr(msg, "queue overflowed"))
		queue_overflows++;
	fprintf(stderr, "[plugin %d] %s\n", level, msg);
}

static void collect(void *ctx, const struct ditto_capture_event *ev)
{
	(void)ctx;
	cr_assert(ev->path && ev->path[0] == '/' &&
		  ev->path_len == strlen(ev->path));
	if (ev->type == DITTO_CAPTURE_RENAME)
		cr_assert(ev->path2 && ev->path2_len == strlen(ev->path2));
	else
		cr_assert(!ev->path2 && !ev->path2_len);
	if (nev == evcap) {
		evcap = evcap ? evcap * 2 : 256;
		evs = realloc(evs, evcap * sizeof(*evs));
		cr_assert(evs);
	}
	evs[nev].type = ev->type;
	evs[nev].flags = ev->flags;
	evs[nev].path = strdup(ev->path);
	evs[nev].path2 = ev->path2 ? strdup(ev->path2) : NULL;
	nev++;
}

/* Reads until the plugin has been quiet for 200 ms. */
static void settle(void)
{
	struct pollfd pfd = { .fd = capture_host_fd(plug), .events = POLLIN };
	int quiet = 0, rounds = 0;

	cr_assert(pfd.fd >= 0);
	while (quiet < 4 && rounds++ < 400) {
		if (poll(&pfd, 1, 50) > 0) {
			cr_assert(capture_host_read(plug, collect, NULL) >= 0);
			quiet = 0;
		} else {
			quiet++;
		}
	}
}

static void begin(void)
{
	settle();
	mark = nev;
	queue_overflows_at_begin = queue_overflows;
}

static void dump(void)
{
	size_t i;

	fprintf(stderr, "events since step start (root %s):\n", root);
	/* The tail is what matters; a flood is not worth printing. */
	if (nev - mark > 80) {
		fprintf(stderr, "  ... %zu more\n", nev - mark - 80);
		mark = nev - 80;
	}
	for (i = mark; i < nev; i++)
		fprintf(stderr, "  %-11s %s %s%s%s\n",
			capture_host_event_name(evs[i].type),
			evs[i].flags & DITTO_CAPTURE_IS_DIR ? "d" : "-",
			evs[i].path, evs[i].path2 ? " -> " : "",
			evs[i].path2 ? evs[i].path2 : "");
}

/* rel "" is the root itself; a leading '/' means absolute. */
static char *full(const char *rel)
{
	char *p;

	if (rel[0] == '/')
		return strdup(rel);
	cr_assert(asprintf(&p, "%s%s%s", root, rel[0] ? "/" : "", rel) > 0);
	return p;
}

/* full() into a static buffer, for one-off arguments. */
static const char *full_static(const char *rel)
{
	static char buf[PATH_MAX * 2];
	char *p = full(rel);

	snprintf(buf, sizeof(buf), "%s", p);
	free(p);
	return buf;
}

struct want {
	uint32_t type;
	const char *p, *p2;
	int dir;		/* 1 IS_DIR, 0 not, -1 either */
};

#define W(t, p) { DITTO_CAPTURE_##t, p, NULL, -1 }
#define WF(t, p) { DITTO_CAPTURE_##t, p, NULL, 0 }
#define WD(t, p) { DITTO_CAPTURE_##t, p, NULL, 1 }
#define WR(p, p2, d) { DITTO_CAPTURE_RENAME, p, p2, d }

static bool matches(const struct rec *r, const struct want *w)
{
	char *p = full(w->p), *p2 = w->p2 ? full(w->p2) : NULL;
	bool ok = r->type == w->type && !strcmp(r->path, p) &&
		  (!p2 || (r->path2 && !strcmp(r->path2, p2))) &&
		  (w->dir < 0 ||
		   !!(r->flags & DITTO_CAPTURE_IS_DIR) == w->dir);

	free(p);
	free(p2);
	return ok;
}

/* The step's events contain w[0..n) as a subsequence. */
static void expect_seq(const char *what, const struct want *w, size_t n)
{
	size_t i = mark, j = 0;

	for (; i < nev && j < n; i++)
		if (matches(&evs[i], &w[j]))
			j++;
	if (j < n) {
		dump();
		cr_assert_fail("%s: missing %s %s%s%s (expectation %zu)", what,
			       capture_host_event_name(w[j].type), w[j].p,
			       w[j].p2 ? " -> " : "", w[j].p2 ? w[j].p2 : "",
			       j);
	}
}

#define EXPECT(what, ...)                                                   \
	do {                                                                \
		const struct want w_[] = { __VA_ARGS__ };                   \
		expect_seq(what, w_, sizeof(w_) / sizeof(w_[0]));           \
	} while (0)

static void expect_none(const char *what, uint32_t type, const char *rel)
{
	char *p = full(rel);
	size_t i;

	for (i = mark; i < nev; i++)
		if ((!type || evs[i].type == type) &&
		    (!strcmp(evs[i].path, p) ||
		     (evs[i].path2 && !strcmp(evs[i].path2, p)))) {
			dump();
			cr_assert_fail("%s: unexpected %s %s", what,
				       capture_host_event_name(evs[i].type),
				       p);
		}
	free(p);
}

/* Nothing in this step outside the registered root(s) under base. */
static void expect_all_under(const char *dir)
{
	size_t i, l = strlen(dir);

	for (i = mark; i < nev; i++) {
		const char *ps[2] = { evs[i].path, evs[i].path2 };

		for (int k = 0; k < 2; k++)
			if (ps[k] && (strncmp(ps[k], dir, l) ||
				      (ps[k][l] && ps[k][l] != '/'))) {
				dump();
				cr_assert_fail("event outside %s: %s", dir,
					       ps[k]);
			}
	}
}

/* No resync was needed in this step, unless the kernel queue itself
 * overflowed (then OVERFLOW is the right answer). */
static void expect_no_resync(const char *what)
{
	if (queue_overflows != queue_overflows_at_begin) {
		cr_log_warn("%s: kernel queue overflowed during the step",
			    what);
		return;
	}
	expect_none(what, DITTO_CAPTURE_OVERFLOW, "");
}

static size_t count(uint32_t type, const char *rel)
{
	char *p = rel ? full(rel) : NULL;
	size_t i, c = 0;

	for (i = mark; i < nev; i++)
		if (evs[i].type == type && (!p || !strcmp(evs[i].path, p)))
			c++;
	free(p);
	return c;
}

static void put(const char *rel, const char *data)
{
	char *p = full(rel);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	cr_assert(fd >= 0, "open %s: %s", p, strerror(errno));
	if (data)
		cr_assert(write(fd, data, strlen(data)) ==
			  (ssize_t)strlen(data));
	cr_assert(close(fd) == 0);
	free(p);
}

static void mk(const char *rel)
{
	char *p = full(rel);

	cr_assert(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
	free(p);
}

static void mv(const char *a, const char *b)
{
	char *pa = full(a), *pb = full(b);

	cr_assert(rename(pa, pb) == 0, "rename %s %s: %s", pa, pb,
		  strerror(errno));
	free(pa);
	free(pb);
}

static int rm_one(const char *p, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void rm_r(const char *rel)
{
	char *p = full(rel);

	cr_assert(nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0,
		  "rm -r %s: %s", p, strerror(errno));
	free(p);
}

static void add_root(const char *rel)
{
	char err[256] = "";
	char *p = full(rel);

	cr_assert(capture_host_add_root(plug, p, err, sizeof(err)) == 0,
		  "add_root %s: %s", p, err);
	free(p);
}

static void setup(void)
{
	char err[256] = "", *so;

	cr_assert(setenv("TMPDIR", "/tmp", 0) == 0);
	snprintf(base, sizeof(base), "%s/ditto-cap-XXXXXX", getenv("TMPDIR"));
	cr_assert(mkdtemp(base), "mkdtemp: %s", strerror(errno));
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(side, sizeof(side), "%s/side", base);
	cr_assert(mkdir(root, 0755) == 0 && mkdir(side, 0755) == 0);
	so = plugin_file(PLUGIN);
	cr_assert(capture_host_load_path(&plug, so, err, sizeof(err)) == 0,
		  "%s", err);
	free(so);
	cr_assert(capture_host_open(plug, log_cb, NULL, err, sizeof(err)) ==
		  0, "%s", err);
	add_root("");
}

static void teardown(void)
{
	size_t i;

	capture_host_unload(plug);
	plug = NULL;
	if (base[0])
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (i = 0; i < nev; i++) {
		free(evs[i].path);
		free(evs[i].path2);
	}
	free(evs);
	evs = NULL;
	nev = evcap = mark = 0;
}

/* ---- tests ------------------------------------------------------------- */

TestSuite(inotify, .init = setup, .fini = teardown, .timeout = 60);

Test(inotify, file_lifecycle)
{
	char *p = full("a");
	int fd;

	begin();
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	cr_assert(fd >= 0);
	cr_assert(write(fd, "hello", 5) == 5);
	settle();
	EXPECT("create+write", WF(CREATE, "a"), WF(MODIFY, "a"));
	expect_none("still open", DITTO_CAPTURE_CLOSE_WRITE, "a");
	begin();
	cr_assert(close(fd) == 0);
	settle();
	EXPECT("close", WF(CLOSE_WRITE, "a"));

	begin();
	cr_assert(chmod(p, 0600) == 0);
	settle();
	EXPECT("chmod", WF(ATTRIB, "a"));
	begin();
	if (geteuid() == 0)
		cr_assert(chown(p, 1, 1) == 0);
	else
		cr_assert(chown(p, getuid(), getgid()) == 0);
	settle();
	EXPECT("chown", WF(ATTRIB, "a"));
	begin();
	cr_assert(utimensat(AT_FDCWD, p, NULL, 0) == 0);
	settle();
	EXPECT("touch", WF(ATTRIB, "a"));
	begin();
	if (setxattr(p, "user.ditto", "v", 1, 0) == 0) {
		settle();
		EXPECT("setxattr", WF(ATTRIB, "a"));
	} else {
		cr_log_warn("no user xattrs here (%s)", strerror(errno));
	}
	begin();
	put("a", "more");	/* O_TRUNC + write + close */
	settle();
	EXPECT("rewrite", WF(MODIFY, "a"), WF(CLOSE_WRITE, "a"));
	begin();
	cr_assert(unlink(p) == 0);
	settle();
	EXPECT("unlink", WF(DELETE, "a"));
	free(p);
	/* The ops on the sibling directory never show. */
	begin();
	{
		char sp[PATH_MAX * 2];

		snprintf(sp, sizeof(sp), "%s/noise", side);
		put(sp, "x");
		cr_assert(chmod(sp, 0600) == 0);
		cr_assert(unlink(sp) == 0);
	}
	settle();
	expect_all_under(root);
}

Test(inotify, renames)
{
	char sp[PATH_MAX * 2];

	put("a", "1");
	begin();
	mv("a", "b");
	settle();
	EXPECT("rename within", WR("a", "b", 0));

	begin();
	snprintf(sp, sizeof(sp), "%s/b", side);
	mv("b", sp);
	settle();
	EXPECT("rename out", WF(MOVED_FROM, "b"));
	expect_all_under(root);

	begin();
	snprintf(sp, sizeof(sp), "%s/c", side);
	put(sp, "2");
	mv(sp, "c");
	settle();
	EXPECT("rename in", WF(MOVED_TO, "c"));
	expect_all_under(root);

	/* Directories: the watch follows the rename, a moved-in directory
	 * gets watched, a moved-out one is forgotten. */
	mk("d");
	put("d/f", "x");
	begin();
	mv("d", "e");
	settle();
	EXPECT("dir rename", WR("d", "e", 1));
	begin();
	put("e/g", "y");
	mk("e/sub");
	put("e/sub/h", "z");
	settle();
	EXPECT("inside renamed dir", WF(CREATE, "e/g"), WD(CREATE, "e/sub"),
	       WF(CREATE, "e/sub/h"));
	expect_none("old name", 0, "d/g");

	begin();
	snprintf(sp, sizeof(sp), "%s/e", side);
	mv("e", sp);
	settle();
	EXPECT("dir out", WD(MOVED_FROM, "e"));
	begin();
	snprintf(sp, sizeof(sp), "%s/e/late", side);
	put(sp, "q");
	settle();
	expect_all_under(root);
	cr_expect_eq(nev - mark, 0, "events from a moved-out directory");

	snprintf(sp, sizeof(sp), "%s/e", side);
	begin();
	mv(sp, "back");
	settle();
	EXPECT("dir in", WD(MOVED_TO, "back"));
	begin();
	put("back/sub/new", "n");
	settle();
	EXPECT("inside moved-in dir", WF(CREATE, "back/sub/new"),
	       WF(CLOSE_WRITE, "back/sub/new"));

	/* A rename over an existing file. */
	put("x", "1");
	put("y", "2");
	begin();
	mv("x", "y");
	settle();
	EXPECT("rename over", WR("x", "y", 0));
}

Test(inotify, mkdir_then_files_at_once)
{
	/* All of it happens before the plugin reads IN_CREATE for d, so
	 * the files predate d's watch: the scan must find them. */
	begin();
	mk("d");
	put("d/x", "data");
	put("d/y", NULL);
	mk("d/e");
	put("d/e/z", "zz");
	mk("d/e/f");
	settle();
	EXPECT("new tree", WD(CREATE, "d"), WF(CREATE, "d/x"),
	       WF(CLOSE_WRITE, "d/x"));
	EXPECT("empty file", WD(CREATE, "d"), WF(CREATE, "d/y"));
	EXPECT("nested", WD(CREATE, "d"), WD(CREATE, "d/e"),
	       WF(CREATE, "d/e/z"), WF(CLOSE_WRITE, "d/e/z"));
	EXPECT("nested dir", WD(CREATE, "d/e"), WD(CREATE, "d/e/f"));
	/* And the new directories are watched from now on. */
	begin();
	put("d/e/f/later", "l");
	settle();
	EXPECT("watched", WF(CREATE, "d/e/f/later"),
	       WF(CLOSE_WRITE, "d/e/f/later"));
}

Test(inotify, rm_r)
{
	mk("t");
	mk("t/u");
	put("t/u/f", "1");
	put("t/g", "2");
	begin();
	rm_r("t");
	settle();
	EXPECT("rm -r", WF(DELETE, "t/u/f"), WD(DELETE, "t/u"),
	       WD(DELETE, "t"));
	EXPECT("rm -r file", WF(DELETE, "t/g"), WD(DELETE, "t"));
	expect_no_resync("no resync needed");
	/* Same name again: a fresh directory, watched. */
	begin();
	mk("t");
	put("t/new", "n");
	settle();
	EXPECT("recreated", WD(CREATE, "t"), WF(CREATE, "t/new"));
}

Test(inotify, links)
{
	char *p = full("h"), *p2 = full("h2"), *p3 = full("ln");
	char *ps = full("s");

	put("h", "data");
	begin();
	cr_assert(symlink("h", ps) == 0);
	settle();
	EXPECT("symlink", WF(CREATE, "s"));
	begin();
	cr_assert(link(p, p2) == 0);
	settle();
	EXPECT("hard link", WF(CREATE, "h2"));
	begin();
	cr_assert(unlink(p2) == 0);
	settle();
	EXPECT("unlink link", WF(DELETE, "h2"));
	/* A symlink to a directory is not followed into. */
	mk("real");
	begin();
	cr_assert(symlink("real", p3) == 0);
	put("real/f", "1");
	settle();
	EXPECT("via dir", WF(CREATE, "ln"), WF(CREATE, "real/f"));
	expect_none("no path through the symlink", 0, "ln/f");
	free(p);
	free(p2);
	free(p3);
	free(ps);
}

Test(inotify, root_gone_and_back)
{
	put("f", "1");
	mk("d");
	begin();
	rm_r("");
	settle();
	EXPECT("gone", WF(DELETE, "f"), WD(DELETE, ""), WD(ROOT_GONE, ""));
	cr_expect_eq(count(DITTO_CAPTURE_ROOT_GONE, ""), 1);
	begin();
	mk("");
	put("after", "a");
	settle();
	EXPECT("back", WD(CREATE, ""), WF(CREATE, "after"));
	begin();
	put("later", "l");
	settle();
	EXPECT("watched again", WF(CREATE, "later"));
	/* Moved away (an ancestor of nothing else): gone again. */
	begin();
	{
		char sp[PATH_MAX * 2];

		snprintf(sp, sizeof(sp), "%s/moved-root", side);
		mv("", sp);
	}
	settle();
	EXPECT("moved away", WD(MOVED_FROM, ""), WD(ROOT_GONE, ""));
	expect_all_under(root);
}

Test(inotify, root_not_there_yet)
{
	add_root("later/sub");
	begin();
	mk("later");
	mk("later/sub");
	put("later/sub/f", "1");
	settle();
	EXPECT("appears", WD(CREATE, "later/sub"), WF(CREATE, "later/sub/f"));
	begin();
	put("later/sub/g", "2");
	settle();
	EXPECT("watched", WF(CREATE, "later/sub/g"));
}

Test(inotify, ancestor_renamed)
{
	char *outer = full("");

	/* A root whose parent directory gets renamed. */
	cr_assert(capture_host_remove_root(plug, outer) == 0);
	mk("p");
	mk("p/r");
	add_root("p/r");
	begin();
	mv("p", "q");
	settle();
	EXPECT("ancestor moved", WD(ROOT_GONE, "p/r"));
	expect_none("not ours", 0, "q/r");
	begin();
	mv("q", "p");
	settle();
	EXPECT("ancestor back", WD(MOVED_TO, "p/r"));
	begin();
	put("p/r/f", "1");
	settle();
	EXPECT("watched", WF(CREATE, "p/r/f"));
	free(outer);
}

Test(inotify, nested_roots)
{
	char *outer = full("");

	mk("in");
	add_root("in");
	begin();
	put("in/f", "1");
	put("g", "2");
	settle();
	EXPECT("both", WF(CREATE, "in/f"), WF(CREATE, "g"));
	cr_expect_eq(count(DITTO_CAPTURE_CREATE, "in/f"), 1, "reported once");
	cr_assert(capture_host_remove_root(plug, outer) == 0);
	begin();
	put("in/h", "3");
	put("g2", "4");
	settle();
	EXPECT("inner kept", WF(CREATE, "in/h"));
	expect_none("outer dropped", 0, "g2");
	cr_assert(capture_host_remove_root(plug, outer) < 0);
	free(outer);
}

Test(inotify, remove_root)
{
	char *r = full("");

	cr_assert(capture_host_remove_root(plug, r) == 0);
	begin();
	put("f", "1");
	mk("d");
	settle();
	cr_expect_eq(nev - mark, 0, "events after remove_root");
	free(r);
}

Test(inotify, overflow)
{
	char name[32];
	int i;

	mk("many");
	begin();
	/* More events than the default queue (16384) before reading. */
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "many/%d", i);
		put(name, NULL);
	}
	settle();
	EXPECT("overflow", W(OVERFLOW, ""));
	begin();
	put("many/after", "x");
	mk("many/dir");
	put("many/dir/f", "y");
	settle();
	EXPECT("working after", WF(CREATE, "many/after"),
	       WF(CREATE, "many/dir/f"));
}

Test(inotify, nested_outer_added_last)
{
	char *outer = full("");

	cr_assert(capture_host_remove_root(plug, outer) == 0);
	mk("in");
	mk("in/deep");
	add_root("in");
	add_root("");
	begin();
	put("in/deep/f", "1");
	put("g", "2");
	settle();
	EXPECT("both", WF(CREATE, "in/deep/f"), WF(CREATE, "g"));
	cr_expect_eq(count(DITTO_CAPTURE_CREATE, "in/deep/f"), 1);
	/* The outer root goes: the inner keeps its whole subtree. */
	cr_assert(capture_host_remove_root(plug, outer) == 0);
	begin();
	put("in/deep/h", "3");
	mk("in/new");
	put("in/new/x", "4");
	put("g3", "5");
	settle();
	EXPECT("inner kept", WF(CREATE, "in/deep/h"), WD(CREATE, "in/new"),
	       WF(CREATE, "in/new/x"));
	expect_none("outer dropped", 0, "g3");
	cr_assert(capture_host_remove_root(plug, full_static("in")) == 0);
	begin();
	put("in/deep/z", "6");
	settle();
	cr_expect_eq(nev - mark, 0, "events after the last root went");
	free(outer);
}

Test(inotify, file_root)
{
	char *outer = full(""), *f = full("file");

	cr_assert(capture_host_remove_root(plug, outer) == 0);
	add_root("file");
	begin();
	put("file", "1");
	put("other", "2");
	settle();
	EXPECT("written", WF(CREATE, "file"), WF(CLOSE_WRITE, "file"));
	expect_none("not a root", 0, "other");
	begin();
	cr_assert(chmod(f, 0600) == 0);
	settle();
	EXPECT("chmod", WF(ATTRIB, "file"));
	begin();
	cr_assert(unlink(f) == 0);
	settle();
	EXPECT("unlink", WF(DELETE, "file"));
	expect_none("a file root is not a directory", DITTO_CAPTURE_ROOT_GONE,
		    "file");
	/* It may come back as a directory. */
	begin();
	mk("file");
	put("file/x", "3");
	settle();
	EXPECT("now a directory", WD(CREATE, "file"), WF(CREATE, "file/x"));
	free(outer);
	free(f);
}
