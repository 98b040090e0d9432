#include "config.h"

/* capture_host: loading the real plugins from the build tree
 * (DITTO_PLUGIN_BUILDDIR), refusing mismatched or foreign shared objects
 * with a message that names the file and both ABI versions, and driving an
 * instance through the wrappers. */

#include "capture_host.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directory holding name.so: the builddir itself (hand builds), libtool's
 * plugins/.libs, or .libs beside the sources in subdir. */
static char *so_dir(const char *name, const char *subdir)
{
	const char *d = getenv("DITTO_PLUGIN_BUILDDIR");
	char *dir, *f;
	int i;

	cr_assert(d && d[0], "set DITTO_PLUGIN_BUILDDIR to the build tree");
	for (i = 0; i < 3; i++) {
		int r = i == 0 ? asprintf(&dir, "%s", d) :
			i == 1 ? asprintf(&dir, "%s/plugins/.libs", d) :
				 asprintf(&dir, "%s/%s/.libs", d, subdir);

		cr_assert(r > 0);
		cr_assert(asprintf(&f, "%s/%s.so", dir, name) > 0);
		r = access(f, R_OK);
		free(f);
		if (r == 0)
			return dir;
		free(dir);
	}
	cr_assert_fail("no %s.so under %s", name, d);
	return NULL;
}

static char *so_path(const char *name, const char *subdir)
{
	char *dir = so_dir(name, subdir), *f;

	cr_assert(asprintf(&f, "%s/%s.so", dir, name) > 0);
	free(dir);
	return f;
}

static void load_by_name(const char *name)
{
	char sub[64], err[512] = "", *dir;
	struct capture_host_plugin *p = NULL;
	const struct ditto_capture_ops *ops;

	snprintf(sub, sizeof(sub), "plugins/capture/%s", name);
	dir = so_dir(name, sub);
	cr_assert(capture_host_load(&p, dir, name, err, sizeof(err)) == 0,
		  "%s", err);
	cr_expect_str_eq(capture_host_name(p), name);
	cr_expect(strlen(capture_host_description(p)) > 0);
	cr_expect(strstr(capture_host_path(p), name) != NULL);
	ops = capture_host_ops(p);
	cr_expect_eq(ops->abi_version, DITTO_CAPTURE_ABI_VERSION);
	cr_expect_geq(ops->struct_size, sizeof(*ops));
	capture_host_unload(p);
	free(dir);
}

Test(capture_host, loads_fanotify)
{
	load_by_name("fanotify");
}

Test(capture_host, loads_inotify)
{
	load_by_name("inotify");
}

static void refused(const char *name, const char *must1, const char *must2)
{
	char err[512] = "", *f = so_path(name, "tests/unit/agent");
	struct capture_host_plugin *p = (void *)1;

	cr_assert(capture_host_load_path(&p, f, err, sizeof(err)) < 0,
		  "%s was accepted", f);
	cr_expect_null(p);
	cr_expect(strstr(err, f) != NULL, "message names the file: %s", err);
	cr_expect(strstr(err, must1) != NULL, "'%s' not in: %s", must1, err);
	if (must2)
		cr_expect(strstr(err, must2) != NULL, "'%s' not in: %s", must2,
			  err);
	free(f);
}

Test(capture_host, refuses_wrong_abi_version)
{
	char theirs[64], ours[64];

	snprintf(theirs, sizeof(theirs), "ABI version %u",
		 DITTO_CAPTURE_ABI_VERSION + 98);
	snprintf(ours, sizeof(ours), "speaks version %u",
		 DITTO_CAPTURE_ABI_VERSION);
	refused("bad_abi", theirs, ours);
}

Test(capture_host, refuses_short_table)
{
	refused("bad_size", "ops table of 8 bytes", "at least");
}

Test(capture_host, refuses_missing_entry_symbol)
{
	refused("bad_nosym", DITTO_CAPTURE_ENTRY, NULL);
}

Test(capture_host, refuses_non_library_and_missing_file)
{
	char dir[] = "/tmp/ditto-host-XXXXXX", f[sizeof(dir) + 16];
	char err[512] = "";
	struct capture_host_plugin *p = NULL;
	int fd;

	cr_assert(mkdtemp(dir));
	snprintf(f, sizeof(f), "%s/junk.so", dir);
	fd = open(f, O_CREAT | O_WRONLY, 0644);
	cr_assert(fd >= 0 && write(fd, "not elf", 7) == 7 && close(fd) == 0);
	cr_expect(capture_host_load_path(&p, f, err, sizeof(err)) < 0);
	cr_expect(strstr(err, f) != NULL, "%s", err);
	cr_expect(capture_host_load(&p, dir, "absent", err, sizeof(err)) < 0);
	cr_expect(strstr(err, "absent.so") != NULL, "%s", err);
	unlink(f);
	rmdir(dir);
}

Test(capture_host, refuses_names_that_are_paths)
{
	char err[256] = "";
	struct capture_host_plugin *p = NULL;

	errno = 0;
	cr_expect(capture_host_load(&p, "/tmp", "../etc/x", err,
				    sizeof(err)) < 0);
	cr_expect_eq(errno, EINVAL);
	cr_expect(capture_host_load(&p, "/tmp", "", err, sizeof(err)) < 0);
	cr_expect(capture_host_load(&p, "/tmp", "a/b", err, sizeof(err)) < 0);
	cr_expect_null(p);
}

static int nlogs;

static void count_log(void *ctx, int level, const char *msg)
{
	(void)level;
	cr_expect(msg && !strchr(msg, '\n'));
	(*(int *)ctx)++;
}

static int nevents;

static void count_event(void *ctx, const struct ditto_capture_event *ev)
{
	(void)ctx;
	if (ev->type == DITTO_CAPTURE_CREATE)
		nevents++;
}

Test(capture_host, drives_an_instance)
{
	char sub[] = "plugins/capture/inotify", err[512] = "", *dir;
	char root[] = "/tmp/ditto-host-XXXXXX", f[sizeof(root) + 8];
	struct capture_host_plugin *p = NULL;
	struct pollfd pfd = { .events = POLLIN };
	int fd, i;

	dir = so_dir("inotify", sub);
	cr_assert(capture_host_load(&p, dir, "inotify", err, sizeof(err)) == 0,
		  "%s", err);
	free(dir);
	/* Not open yet: every call says so. */
	cr_expect(capture_host_fd(p) < 0 && errno == EBADF);
	cr_expect(capture_host_add_root(p, "/tmp", err, sizeof(err)) < 0);
	cr_assert(capture_host_open(p, count_log, &nlogs, err, sizeof(err)) ==
		  0, "%s", err);
	cr_expect(capture_host_open(p, NULL, NULL, err, sizeof(err)) < 0,
		  "one instance per loaded plugin");
	cr_assert(mkdtemp(root));
	cr_expect(capture_host_add_root(p, "relative/path", err,
					sizeof(err)) < 0);
	cr_expect(strstr(err, "absolute") != NULL, "%s", err);
	cr_assert(capture_host_add_root(p, root, err, sizeof(err)) == 0, "%s",
		  err);
	cr_expect_eq(capture_host_add_root(p, root, err, sizeof(err)), 0,
		     "adding twice is a no-op");
	pfd.fd = capture_host_fd(p);
	cr_assert(pfd.fd >= 0);
	snprintf(f, sizeof(f), "%s/f", root);
	fd = open(f, O_CREAT | O_WRONLY, 0644);
	cr_assert(fd >= 0 && close(fd) == 0);
	for (i = 0; i < 40 && !nevents; i++)
		if (poll(&pfd, 1, 50) > 0)
			cr_assert(capture_host_read(p, count_event, NULL) >= 0);
	cr_expect_eq(nevents, 1);
	cr_expect_eq(capture_host_remove_root(p, root), 0);
	cr_expect(capture_host_remove_root(p, root) < 0);
	capture_host_close(p);
	cr_expect(capture_host_read(p, count_event, NULL) < 0);
	/* Reopens after a close. */
	cr_assert(capture_host_open(p, NULL, NULL, err, sizeof(err)) == 0,
		  "%s", err);
	capture_host_unload(p);
	unlink(f);
	rmdir(root);
}

Test(capture_host, fanotify_open_says_why_it_cannot)
{
	char sub[] = "plugins/capture/fanotify", err[512] = "", *dir;
	struct capture_host_plugin *p = NULL;
	int logs = 0, r;

	dir = so_dir("fanotify", sub);
	cr_assert(capture_host_load(&p, dir, "fanotify", err, sizeof(err)) ==
		  0, "%s", err);
	free(dir);
	r = capture_host_open(p, count_log, &logs, err, sizeof(err));
	if (geteuid() == 0) {
		cr_expect_eq(r, 0, "%s", err);
		cr_expect_geq(logs, 1, "kernel features are logged");
	} else {
		cr_expect(r < 0);
		cr_expect(strstr(err, "CAP_SYS_ADMIN") && strstr(err, "inotify"),
			  "%s", err);
	}
	capture_host_unload(p);
}

Test(capture_host, event_names)
{
	cr_expect_str_eq(capture_host_event_name(DITTO_CAPTURE_CREATE),
			 "CREATE");
	cr_expect_str_eq(capture_host_event_name(DITTO_CAPTURE_ROOT_GONE),
			 "ROOT_GONE");
	cr_expect_str_eq(capture_host_event_name(0), "?");
	cr_expect_str_eq(capture_host_event_name(99), "?");
}
