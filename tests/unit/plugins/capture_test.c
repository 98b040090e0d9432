#include "config.h"

/* The capture plugin tests' shared harness and cases; see capture_test.h.
 * The cases hold the expectations every plugin must meet; what only one
 * plugin does is tested in its own file. */

#include "capture_test.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- harness ------------------------------------------------------------ */

struct rec {
	uint32_t type, flags;
	char *path, *path2;
};

struct capture_host_plugin *capture_test_plug;
char capture_test_root[PATH_MAX + 8], capture_test_side[PATH_MAX + 8];
bool capture_test_split_renames;

static char base[PATH_MAX];
static struct rec *evs;
static size_t nev, evcap, mark;
static void (*log_hook)(const char *msg);
/* Kernel queue overflows so far, as the plugin logs them. A fanotify mark
 * sees the whole filesystem, so a busy neighbour (another test) can cause
 * one. */
static unsigned queue_overflows, queue_overflows_at_begin;

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

static void log_cb(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (strstr(msg, "queue overflowed"))
		queue_overflows++;
	if (log_hook)
		log_hook(msg);
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

void capture_test_settle(void)
{
	struct pollfd pfd = {
		.fd = capture_host_fd(capture_test_plug), .events = POLLIN,
	};
	int quiet = 0, rounds = 0;

	cr_assert(pfd.fd >= 0);
	while (quiet < 4 && rounds++ < 400) {
		if (poll(&pfd, 1, 50) > 0) {
			cr_assert(capture_host_read(capture_test_plug, collect,
						    NULL) >= 0);
			quiet = 0;
		} else {
			quiet++;
		}
	}
}

void capture_test_begin(void)
{
	capture_test_settle();
	mark = nev;
	queue_overflows_at_begin = queue_overflows;
}

size_t capture_test_step_events(void)
{
	return nev - mark;
}

static void dump(void)
{
	size_t i;

	fprintf(stderr, "events since step start (root %s):\n",
		capture_test_root);
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

char *capture_test_full(const char *rel)
{
	char *p;

	if (rel[0] == '/')
		return strdup(rel);
	cr_assert(asprintf(&p, "%s%s%s", capture_test_root,
			   rel[0] ? "/" : "", rel) > 0);
	return p;
}

const char *capture_test_full_static(const char *rel)
{
	static char buf[PATH_MAX * 2];
	char *p = capture_test_full(rel);

	snprintf(buf, sizeof(buf), "%s", p);
	free(p);
	return buf;
}

static bool matches(const struct rec *r, const struct capture_test_want *w)
{
	char *p = capture_test_full(w->p);
	char *p2 = w->p2 ? capture_test_full(w->p2) : NULL;
	bool ok = r->type == w->type && !strcmp(r->path, p) &&
		  (!p2 || (r->path2 && !strcmp(r->path2, p2))) &&
		  (w->dir < 0 ||
		   !!(r->flags & DITTO_CAPTURE_IS_DIR) == w->dir);

	free(p);
	free(p2);
	return ok;
}

void capture_test_expect_seq(const char *what,
			     const struct capture_test_want *w, size_t n)
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

void capture_test_expect_none(const char *what, uint32_t type,
			      const char *rel)
{
	char *p = capture_test_full(rel);
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

void capture_test_expect_all_under(const char *dir)
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

void capture_test_expect_no_resync(const char *what)
{
	if (queue_overflows != queue_overflows_at_begin) {
		cr_log_warn("%s: kernel queue overflowed during the step",
			    what);
		return;
	}
	capture_test_expect_none(what, DITTO_CAPTURE_OVERFLOW, "");
}

size_t capture_test_count(uint32_t type, const char *rel)
{
	char *p = rel ? capture_test_full(rel) : NULL;
	size_t i, c = 0;

	for (i = mark; i < nev; i++)
		if (evs[i].type == type && (!p || !strcmp(evs[i].path, p)))
			c++;
	free(p);
	return c;
}

void capture_test_put(const char *rel, const char *data)
{
	char *p = capture_test_full(rel);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	cr_assert(fd >= 0, "open %s: %s", p, strerror(errno));
	if (data)
		cr_assert(write(fd, data, strlen(data)) ==
			  (ssize_t)strlen(data));
	cr_assert(close(fd) == 0);
	free(p);
}

void capture_test_mk(const char *rel)
{
	char *p = capture_test_full(rel);

	cr_assert(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
	free(p);
}

void capture_test_mv(const char *a, const char *b)
{
	char *pa = capture_test_full(a), *pb = capture_test_full(b);

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

void capture_test_rm_r(const char *rel)
{
	char *p = capture_test_full(rel);

	cr_assert(nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0,
		  "rm -r %s: %s", p, strerror(errno));
	free(p);
}

void capture_test_add_root(const char *rel)
{
	char err[256] = "";
	char *p = capture_test_full(rel);

	cr_assert(capture_host_add_root(capture_test_plug, p, err,
					sizeof(err)) == 0,
		  "add_root %s: %s", p, err);
	free(p);
}

void capture_test_setup(const char *plugin, bool need_root,
			void (*hook)(const char *msg))
{
	char err[256] = "", *so;

	log_hook = hook;
	cr_assert(setenv("TMPDIR", "/tmp", 0) == 0);
	snprintf(base, sizeof(base), "%s/ditto-cap-XXXXXX", getenv("TMPDIR"));
	cr_assert(mkdtemp(base), "mkdtemp: %s", strerror(errno));
	snprintf(capture_test_root, sizeof(capture_test_root), "%s/root",
		 base);
	snprintf(capture_test_side, sizeof(capture_test_side), "%s/side",
		 base);
	cr_assert(mkdir(capture_test_root, 0755) == 0 &&
		  mkdir(capture_test_side, 0755) == 0);
	if (need_root && geteuid() != 0)
		return;	/* each test skips on capture_test_plug == NULL */
	so = plugin_file(plugin);
	cr_assert(capture_host_load_path(&capture_test_plug, so, err,
					 sizeof(err)) == 0, "%s", err);
	free(so);
	cr_assert(capture_host_open(capture_test_plug, log_cb, NULL, err,
				    sizeof(err)) == 0, "%s", err);
	capture_test_add_root("");
}

void capture_test_teardown(void)
{
	size_t i;

	capture_host_unload(capture_test_plug);
	capture_test_plug = NULL;
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

/* ---- cases -------------------------------------------------------------- */

void capture_test_case_file_lifecycle(void)
{
	char *p = capture_test_full("a");
	int fd;

	capture_test_begin();
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	cr_assert(fd >= 0);
	cr_assert(write(fd, "hello", 5) == 5);
	capture_test_settle();
	EXPECT("create+write", WF(CREATE, "a"), WF(MODIFY, "a"));
	capture_test_expect_none("still open", DITTO_CAPTURE_CLOSE_WRITE, "a");
	capture_test_begin();
	cr_assert(close(fd) == 0);
	capture_test_settle();
	EXPECT("close", WF(CLOSE_WRITE, "a"));

	capture_test_begin();
	cr_assert(chmod(p, 0600) == 0);
	capture_test_settle();
	EXPECT("chmod", WF(ATTRIB, "a"));
	capture_test_begin();
	if (geteuid() == 0)
		cr_assert(chown(p, 1, 1) == 0);
	else
		cr_assert(chown(p, getuid(), getgid()) == 0);
	capture_test_settle();
	EXPECT("chown", WF(ATTRIB, "a"));
	capture_test_begin();
	cr_assert(utimensat(AT_FDCWD, p, NULL, 0) == 0);
	capture_test_settle();
	EXPECT("touch", WF(ATTRIB, "a"));
	capture_test_begin();
	if (setxattr(p, "user.ditto", "v", 1, 0) == 0) {
		capture_test_settle();
		EXPECT("setxattr", WF(ATTRIB, "a"));
	} else {
		cr_log_warn("no user xattrs here (%s)", strerror(errno));
	}
	capture_test_begin();
	capture_test_put("a", "more");	/* O_TRUNC + write + close */
	capture_test_settle();
	EXPECT("rewrite", WF(MODIFY, "a"), WF(CLOSE_WRITE, "a"));
	capture_test_begin();
	cr_assert(unlink(p) == 0);
	capture_test_settle();
	EXPECT("unlink", WF(DELETE, "a"));
	free(p);
	/* The ops on the sibling directory never show. */
	capture_test_begin();
	{
		char sp[PATH_MAX * 2];

		snprintf(sp, sizeof(sp), "%s/noise", capture_test_side);
		capture_test_put(sp, "x");
		cr_assert(chmod(sp, 0600) == 0);
		cr_assert(unlink(sp) == 0);
	}
	capture_test_settle();
	capture_test_expect_all_under(capture_test_root);
}

void capture_test_case_renames(void)
{
	char sp[PATH_MAX * 2];

	capture_test_put("a", "1");
	capture_test_begin();
	capture_test_mv("a", "b");
	capture_test_settle();
	EXPECT_RENAME("rename within", "a", "b", 0);

	capture_test_begin();
	snprintf(sp, sizeof(sp), "%s/b", capture_test_side);
	capture_test_mv("b", sp);
	capture_test_settle();
	EXPECT("rename out", WF(MOVED_FROM, "b"));
	capture_test_expect_all_under(capture_test_root);

	capture_test_begin();
	snprintf(sp, sizeof(sp), "%s/c", capture_test_side);
	capture_test_put(sp, "2");
	capture_test_mv(sp, "c");
	capture_test_settle();
	EXPECT("rename in", WF(MOVED_TO, "c"));
	capture_test_expect_all_under(capture_test_root);

	/* Directories: the watch follows the rename, a moved-in directory
	 * gets watched, a moved-out one is forgotten. */
	capture_test_mk("d");
	capture_test_put("d/f", "x");
	capture_test_begin();
	capture_test_mv("d", "e");
	capture_test_settle();
	EXPECT_RENAME("dir rename", "d", "e", 1);
	capture_test_begin();
	capture_test_put("e/g", "y");
	capture_test_mk("e/sub");
	capture_test_put("e/sub/h", "z");
	capture_test_settle();
	EXPECT("inside renamed dir", WF(CREATE, "e/g"), WD(CREATE, "e/sub"),
	       WF(CREATE, "e/sub/h"));
	capture_test_expect_none("old name", 0, "d/g");

	capture_test_begin();
	snprintf(sp, sizeof(sp), "%s/e", capture_test_side);
	capture_test_mv("e", sp);
	capture_test_settle();
	EXPECT("dir out", WD(MOVED_FROM, "e"));
	capture_test_begin();
	snprintf(sp, sizeof(sp), "%s/e/late", capture_test_side);
	capture_test_put(sp, "q");
	capture_test_settle();
	capture_test_expect_all_under(capture_test_root);
	cr_expect_eq(capture_test_step_events(), 0,
		     "events from a moved-out directory");

	snprintf(sp, sizeof(sp), "%s/e", capture_test_side);
	capture_test_begin();
	capture_test_mv(sp, "back");
	capture_test_settle();
	EXPECT("dir in", WD(MOVED_TO, "back"));
	capture_test_begin();
	capture_test_put("back/sub/new", "n");
	capture_test_settle();
	EXPECT("inside moved-in dir", WF(CREATE, "back/sub/new"),
	       WF(CLOSE_WRITE, "back/sub/new"));

	/* A rename over an existing file. */
	capture_test_put("x", "1");
	capture_test_put("y", "2");
	capture_test_begin();
	capture_test_mv("x", "y");
	capture_test_settle();
	EXPECT_RENAME("rename over", "x", "y", 0);
}

void capture_test_case_mkdir_then_files_at_once(void)
{
	/* All of it happens before the plugin reads anything. fanotify
	 * names the files through the handle of a directory created in the
	 * same batch; for inotify the files predate d's watch (it is set
	 * when IN_CREATE for d is read), so the scan must find them. */
	capture_test_begin();
	capture_test_mk("d");
	capture_test_put("d/x", "data");
	capture_test_put("d/y", NULL);
	capture_test_mk("d/e");
	capture_test_put("d/e/z", "zz");
	capture_test_mk("d/e/f");
	capture_test_settle();
	EXPECT("new tree", WD(CREATE, "d"), WF(CREATE, "d/x"),
	       WF(CLOSE_WRITE, "d/x"));
	EXPECT("empty file", WD(CREATE, "d"), WF(CREATE, "d/y"));
	EXPECT("nested", WD(CREATE, "d"), WD(CREATE, "d/e"),
	       WF(CREATE, "d/e/z"), WF(CLOSE_WRITE, "d/e/z"));
	EXPECT("nested dir", WD(CREATE, "d/e"), WD(CREATE, "d/e/f"));
	/* And the new directories are watched from now on. */
	capture_test_begin();
	capture_test_put("d/e/f/later", "l");
	capture_test_settle();
	EXPECT("watched", WF(CREATE, "d/e/f/later"),
	       WF(CLOSE_WRITE, "d/e/f/later"));
}

void capture_test_case_rm_r(void)
{
	capture_test_mk("t");
	capture_test_mk("t/u");
	capture_test_put("t/u/f", "1");
	capture_test_put("t/g", "2");
	capture_test_begin();
	capture_test_rm_r("t");
	capture_test_settle();
	EXPECT("rm -r", WF(DELETE, "t/u/f"), WD(DELETE, "t/u"),
	       WD(DELETE, "t"));
	EXPECT("rm -r file", WF(DELETE, "t/g"), WD(DELETE, "t"));
	capture_test_expect_no_resync("no resync needed");
	/* Same name again: a fresh directory, watched. */
	capture_test_begin();
	capture_test_mk("t");
	capture_test_put("t/new", "n");
	capture_test_settle();
	EXPECT("recreated", WD(CREATE, "t"), WF(CREATE, "t/new"));
}

void capture_test_case_links(void)
{
	char *p = capture_test_full("h"), *p2 = capture_test_full("h2");
	char *p3 = capture_test_full("ln"), *ps = capture_test_full("s");

	capture_test_put("h", "data");
	capture_test_begin();
	cr_assert(symlink("h", ps) == 0);
	capture_test_settle();
	EXPECT("symlink", WF(CREATE, "s"));
	capture_test_begin();
	cr_assert(link(p, p2) == 0);
	capture_test_settle();
	EXPECT("hard link", WF(CREATE, "h2"));
	capture_test_begin();
	cr_assert(unlink(p2) == 0);
	capture_test_settle();
	EXPECT("unlink link", WF(DELETE, "h2"));
	/* A symlink to a directory is not followed into. */
	capture_test_mk("real");
	capture_test_begin();
	cr_assert(symlink("real", p3) == 0);
	capture_test_put("real/f", "1");
	capture_test_settle();
	EXPECT("via dir", WF(CREATE, "ln"), WF(CREATE, "real/f"));
	capture_test_expect_none("no path through the symlink", 0, "ln/f");
	free(p);
	free(p2);
	free(p3);
	free(ps);
}

void capture_test_case_root_gone_and_back(void)
{
	capture_test_put("f", "1");
	capture_test_mk("d");
	capture_test_begin();
	capture_test_rm_r("");
	capture_test_settle();
	EXPECT("gone", WF(DELETE, "f"), WD(DELETE, ""), WD(ROOT_GONE, ""));
	cr_expect_eq(capture_test_count(DITTO_CAPTURE_ROOT_GONE, ""), 1);
	capture_test_begin();
	capture_test_mk("");
	capture_test_put("after", "a");
	capture_test_settle();
	EXPECT("back", WD(CREATE, ""), WF(CREATE, "after"));
	capture_test_begin();
	capture_test_put("later", "l");
	capture_test_settle();
	EXPECT("watched again", WF(CREATE, "later"));
	/* Moved away (an ancestor of nothing else): gone again. */
	capture_test_begin();
	{
		char sp[PATH_MAX * 2];

		snprintf(sp, sizeof(sp), "%s/moved-root", capture_test_side);
		capture_test_mv("", sp);
	}
	capture_test_settle();
	EXPECT("moved away", WD(MOVED_FROM, ""), WD(ROOT_GONE, ""));
	capture_test_expect_all_under(capture_test_root);
}

void capture_test_case_root_not_there_yet(void)
{
	capture_test_add_root("later/sub");
	capture_test_begin();
	capture_test_mk("later");
	capture_test_mk("later/sub");
	capture_test_put("later/sub/f", "1");
	capture_test_settle();
	EXPECT("appears", WD(CREATE, "later/sub"), WF(CREATE, "later/sub/f"));
	capture_test_begin();
	capture_test_put("later/sub/g", "2");
	capture_test_settle();
	EXPECT("watched", WF(CREATE, "later/sub/g"));
}

void capture_test_case_ancestor_renamed(void)
{
	char *outer = capture_test_full("");

	/* A root whose parent directory gets renamed. */
	cr_assert(capture_host_remove_root(capture_test_plug, outer) == 0);
	capture_test_mk("p");
	capture_test_mk("p/r");
	capture_test_add_root("p/r");
	capture_test_begin();
	capture_test_mv("p", "q");
	capture_test_settle();
	EXPECT("ancestor moved", WD(ROOT_GONE, "p/r"));
	capture_test_expect_none("not ours", 0, "q/r");
	capture_test_begin();
	capture_test_mv("q", "p");
	capture_test_settle();
	EXPECT("ancestor back", WD(MOVED_TO, "p/r"));
	capture_test_begin();
	capture_test_put("p/r/f", "1");
	capture_test_settle();
	EXPECT("watched", WF(CREATE, "p/r/f"));
	free(outer);
}

void capture_test_case_nested_roots(void)
{
	char *outer = capture_test_full("");

	capture_test_mk("in");
	capture_test_add_root("in");
	capture_test_begin();
	capture_test_put("in/f", "1");
	capture_test_put("g", "2");
	capture_test_settle();
	EXPECT("both", WF(CREATE, "in/f"), WF(CREATE, "g"));
	cr_expect_eq(capture_test_count(DITTO_CAPTURE_CREATE, "in/f"), 1,
		     "reported once");
	cr_assert(capture_host_remove_root(capture_test_plug, outer) == 0);
	capture_test_begin();
	capture_test_put("in/h", "3");
	capture_test_put("g2", "4");
	capture_test_settle();
	EXPECT("inner kept", WF(CREATE, "in/h"));
	capture_test_expect_none("outer dropped", 0, "g2");
	cr_assert(capture_host_remove_root(capture_test_plug, outer) < 0);
	free(outer);
}

void capture_test_case_remove_root(void)
{
	char *r = capture_test_full("");

	cr_assert(capture_host_remove_root(capture_test_plug, r) == 0);
	capture_test_begin();
	capture_test_put("f", "1");
	capture_test_mk("d");
	capture_test_settle();
	cr_expect_eq(capture_test_step_events(), 0, "events after remove_root");
	free(r);
}

void capture_test_case_overflow(void)
{
	char name[32];
	int i;

	capture_test_mk("many");
	capture_test_begin();
	/* More events than the default queue (16384) before reading. */
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "many/%d", i);
		capture_test_put(name, NULL);
	}
	capture_test_settle();
	EXPECT("overflow", W(OVERFLOW, ""));
	capture_test_begin();
	capture_test_put("many/after", "x");
	capture_test_mk("many/dir");
	capture_test_put("many/dir/f", "y");
	capture_test_settle();
	EXPECT("working after", WF(CREATE, "many/after"),
	       WF(CREATE, "many/dir/f"));
}

void capture_test_case_nested_outer_added_last(void)
{
	char *outer = capture_test_full("");

	cr_assert(capture_host_remove_root(capture_test_plug, outer) == 0);
	capture_test_mk("in");
	capture_test_mk("in/deep");
	capture_test_add_root("in");
	capture_test_add_root("");
	capture_test_begin();
	capture_test_put("in/deep/f", "1");
	capture_test_put("g", "2");
	capture_test_settle();
	EXPECT("both", WF(CREATE, "in/deep/f"), WF(CREATE, "g"));
	cr_expect_eq(capture_test_count(DITTO_CAPTURE_CREATE, "in/deep/f"), 1);
	/* The outer root goes: the inner keeps its whole subtree. */
	cr_assert(capture_host_remove_root(capture_test_plug, outer) == 0);
	capture_test_begin();
	capture_test_put("in/deep/h", "3");
	capture_test_mk("in/new");
	capture_test_put("in/new/x", "4");
	capture_test_put("g3", "5");
	capture_test_settle();
	EXPECT("inner kept", WF(CREATE, "in/deep/h"), WD(CREATE, "in/new"),
	       WF(CREATE, "in/new/x"));
	capture_test_expect_none("outer dropped", 0, "g3");
	cr_assert(capture_host_remove_root(
		capture_test_plug, capture_test_full_static("in")) == 0);
	capture_test_begin();
	capture_test_put("in/deep/z", "6");
	capture_test_settle();
	cr_expect_eq(capture_test_step_events(), 0,
		     "events after the last root went");
	free(outer);
}

void capture_test_case_file_root(void)
{
	char *outer = capture_test_full(""), *f = capture_test_full("file");

	cr_assert(capture_host_remove_root(capture_test_plug, outer) == 0);
	capture_test_add_root("file");
	capture_test_begin();
	capture_test_put("file", "1");
	capture_test_put("other", "2");
	capture_test_settle();
	EXPECT("written", WF(CREATE, "file"), WF(CLOSE_WRITE, "file"));
	capture_test_expect_none("not a root", 0, "other");
	capture_test_begin();
	cr_assert(chmod(f, 0600) == 0);
	capture_test_settle();
	EXPECT("chmod", WF(ATTRIB, "file"));
	capture_test_begin();
	cr_assert(unlink(f) == 0);
	capture_test_settle();
	EXPECT("unlink", WF(DELETE, "file"));
	capture_test_expect_none("a file root is not a directory",
				 DITTO_CAPTURE_ROOT_GONE, "file");
	/* It may come back as a directory. */
	capture_test_begin();
	capture_test_mk("file");
	capture_test_put("file/x", "3");
	capture_test_settle();
	EXPECT("now a directory", WD(CREATE, "file"), WF(CREATE, "file/x"));
	free(outer);
	free(f);
}
