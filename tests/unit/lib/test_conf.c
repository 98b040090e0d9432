#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf.h"
#include "util.h"

/* Fixtures live in the source tree; make check points DITTO_FIXTURES and
 * DITTO_SRCDIR at it, a manual run works from the repository root. */
static const char *fixtures(void)
{
	const char *d = getenv("DITTO_FIXTURES");

	return d && *d ? d : "tests/fixtures";
}

static const char *srcdir(void)
{
	const char *d = getenv("DITTO_SRCDIR");

	return d && *d ? d : ".";
}

static char *fixture(const char *name)
{
	return util_xasprintf("%s/conf/%s", fixtures(), name);
}

static char *dump(const struct conf *c)
{
	struct util_buf b;

	util_buf_init(&b);
	conf_dump(c, &b);
	return util_buf_steal(&b);
}

static char *get(const struct conf *c, const char *key)
{
	struct util_buf b;

	util_buf_init(&b);
	cr_assert_eq(conf_get(c, key, &b), 0, "conf_get %s", key);
	return util_buf_steal(&b);
}

static void expect_get(const struct conf *c, const char *key, const char *want)
{
	char *v = get(c, key);

	cr_expect_str_eq(v, want, "%s", key);
	free(v);
}

static char tmpdir[64];

static void mk_tmpdir(void)
{
	util_strlcpy(tmpdir, "/tmp/test_conf.XXXXXX", sizeof(tmpdir));
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char *cmd = util_xasprintf("rm -rf '%s'", tmpdir);

	cr_expect_eq(system(cmd), 0);
	free(cmd);
}

Test(conf, defaults)
{
	struct conf c;
	char host[HOST_NAME_MAX + 1] = "";
	size_t i;

	conf_init_defaults(&c);
	cr_assert_eq(gethostname(host, sizeof(host)), 0);
	cr_expect_str_eq(c.agent.name, host);
	cr_expect_str_eq(c.agent.state_dir, DITTO_LOCALSTATEDIR "/lib/ditto");
	cr_expect_str_eq(c.agent.log_dir, DITTO_LOCALSTATEDIR "/log/ditto");
	cr_expect_str_eq(c.agent.control_socket, "/run/ditto/ditto.sock");
	cr_expect_str_eq(c.agent.pid_file, "");
	cr_expect_str_eq(c.agent.listen.text, "0.0.0.0:1500");
	cr_expect_str_eq(c.agent.listen.host, "0.0.0.0");
	cr_expect_eq(c.agent.listen.port, 1500);
	cr_expect_eq(c.agent.heartbeat_port, 1500);
	cr_expect_str_eq(c.agent.admin_group, "dtadmin");
	cr_expect_str_eq(c.agent.monitor_group, "dtmon");
	cr_expect_eq(c.log.max_length, 1048576);
	cr_expect_eq(c.log.max_files, 5);
	cr_expect(c.log.syslog);
	cr_expect_eq(c.queue.memory, 128u << 20);
	cr_expect_eq(c.queue.disk_max, CONF_UNLIMITED);
	cr_expect_eq(c.queue.min_free, 50u << 20);
	cr_expect_eq(c.queue.alert_percent, 50);
	cr_expect_eq(c.queue.xlog_size, 5u << 20);
	cr_expect_eq(c.target.retry_limit, -1);
	cr_expect_eq(c.capture.plugin, CONF_CAPTURE_FANOTIFY);
	cr_expect_eq(c.capture.block_size, 65536);

	/* Empty paths fall back below the state directory. */
	cr_expect_str_eq(conf_pid_file(&c), DITTO_LOCALSTATEDIR "/lib/ditto/dittod.pid");
	cr_expect_str_eq(conf_key_file(&c), DITTO_LOCALSTATEDIR "/lib/ditto/peer.key");
	cr_expect_str_eq(conf_queue_dir(&c), DITTO_LOCALSTATEDIR "/lib/ditto/queue");
	cr_expect_str_eq(conf_settings_file(&c),
			 DITTO_LOCALSTATEDIR "/lib/ditto/settings.conf");
	cr_expect_str_eq(conf_capture_name(&c), "fanotify");

	/* What HELP shows as the default is what GET returns. */
	for (i = 1; i < conf_key_count(); i++)
		expect_get(&c, conf_key_at(i)->name, conf_key_at(i)->def);
	conf_free(&c);
}

Test(conf, good_full_file)
{
	struct conf c;
	char err[512] = "", *path = fixture("good-full.conf");

	conf_init_defaults(&c);
	cr_assert_eq(conf_load(&c, path, false, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(c.agent.name, "alpha");
	cr_expect_str_eq(c.agent.state_dir, "/srv/ditto/state");
	cr_expect_str_eq(c.agent.log_dir, "/srv/ditto/log");
	cr_expect_str_eq(c.agent.control_socket, "/srv/ditto/ctl.sock");
	cr_expect_str_eq(conf_pid_file(&c), "/srv/ditto/d.pid");
	cr_expect_str_eq(c.agent.listen.host, "127.0.0.1");
	cr_expect_eq(c.agent.listen.port, 1600);
	cr_expect_eq(c.agent.heartbeat_port, 1601);
	cr_expect_str_eq(conf_key_file(&c), "/srv/ditto/k.key");
	cr_expect_str_eq(c.agent.plugin_dir, "/opt/ditto/plugins");
	cr_expect_str_eq(c.agent.admin_group, "wheel");
	cr_expect_str_eq(c.agent.monitor_group, "staff");
	cr_expect_eq(c.log.max_length, 2u << 20);
	cr_expect_eq(c.log.max_files, 9);
	cr_expect_not(c.log.syslog);
	cr_expect_eq(c.queue.memory, 64u << 20);
	cr_expect_str_eq(conf_queue_dir(&c), "/srv/ditto/q");
	cr_expect_eq(c.queue.disk_max, UINT64_C(10) << 30);
	cr_expect_eq(c.queue.min_free, 1u << 30);
	cr_expect_eq(c.queue.alert_percent, 80);
	cr_expect_eq(c.queue.xlog_size, 1u << 20);
	cr_expect_eq(c.target.retry_limit, 3);
	cr_expect_eq(c.capture.plugin, CONF_CAPTURE_INOTIFY);
	cr_expect_eq(c.capture.block_size, 1u << 20);
	cr_expect_str_eq(conf_settings_file(&c), "/srv/ditto/state/settings.conf");
	conf_free(&c);
	free(path);
}

Test(conf, sizes)
{
	struct conf c;
	char err[512] = "", *path = fixture("good-sizes.conf");

	conf_init_defaults(&c);
	cr_assert_eq(conf_load(&c, path, false, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.queue.memory, 134217728);
	cr_expect_eq(c.queue.xlog_size, 33554432);
	cr_expect_eq(c.queue.disk_max, CONF_UNLIMITED);
	/* libconfig 1.5 would have wrapped this to 0. */
	cr_expect_eq(c.queue.min_free, UINT64_C(4294967296));
	expect_get(&c, "queue.memory", "128M");
	expect_get(&c, "queue.xlog_size", "32M");
	expect_get(&c, "queue.disk_max", "unlimited");
	expect_get(&c, "queue.min_free", "4G");

	cr_expect_eq(conf_set(&c, "queue.disk_max", "0", err, sizeof(err)), 1);
	cr_expect_eq(c.queue.disk_max, 0);
	expect_get(&c, "queue.disk_max", "0");
	cr_expect_eq(conf_set(&c, "queue.disk_max", "UNLIMITED", err,
			      sizeof(err)), 1);
	cr_expect_eq(c.queue.disk_max, CONF_UNLIMITED);
	cr_expect_eq(conf_set(&c, "queue.memory", "33554432", err, sizeof(err)), 1);
	expect_get(&c, "queue.memory", "32M");
	cr_expect_eq(conf_set(&c, "queue.min_free", "1000", err, sizeof(err)), 0);
	expect_get(&c, "queue.min_free", "1000");
	cr_expect_eq(conf_set(&c, "queue.min_free", "1536K", err, sizeof(err)), 0);
	expect_get(&c, "queue.min_free", "1536K");
	/* "unlimited" belongs to disk_max only. */
	cr_expect_eq(conf_set(&c, "queue.memory", "unlimited", err, sizeof(err)), -1);
	conf_free(&c);
	free(path);
}

Test(conf, empty_file_keeps_defaults)
{
	struct conf c, d;
	char err[512] = "", *path = fixture("good-empty.conf");
	char *a, *b;

	conf_init_defaults(&c);
	conf_init_defaults(&d);
	cr_assert_eq(conf_load(&c, path, false, err, sizeof(err)), 0, "%s", err);
	a = dump(&c);
	b = dump(&d);
	cr_expect_str_eq(a, b);
	free(a);
	free(b);
	conf_free(&c);
	conf_free(&d);
	free(path);
}

Test(conf, missing_file)
{
	struct conf c;
	char err[512] = "", *path = fixture("no-such-file.conf");

	conf_init_defaults(&c);
	c.log.max_files = 7;
	cr_expect_eq(conf_load(&c, path, true, err, sizeof(err)), 0);
	cr_expect_eq(c.log.max_files, 5, "defaults after a missing file");

	err[0] = '\0';
	cr_expect_eq(conf_load(&c, path, false, err, sizeof(err)), -1);
	cr_expect_eq(errno, ENOENT);
	cr_expect_not_null(strstr(err, path), "%s", err);

	err[0] = '\0';
	cr_expect_eq(conf_load_overlay(&c, path, err, sizeof(err)), -1);
	cr_expect_eq(errno, ENOENT);
	cr_expect_not_null(strstr(err, path), "%s", err);
	conf_free(&c);
	free(path);
}

/* Every bad file must fail, leave c alone and name file, line and key. */
static void expect_bad(const char *name, int line, const char *what)
{
	struct conf c;
	char err[512] = "", *path = fixture(name), *loc, *before, *after;

	conf_init_defaults(&c);
	before = dump(&c);
	cr_assert_eq(conf_load(&c, path, false, err, sizeof(err)), -1,
		     "%s loaded", name);
	loc = util_xasprintf("%s:%d: ", path, line);
	cr_expect_eq(strncmp(err, loc, strlen(loc)), 0, "want %s, got: %s",
		     loc, err);
	cr_expect_not_null(strstr(err, what), "want %s in: %s", what, err);
	after = dump(&c);
	cr_expect_str_eq(after, before, "c changed by a failed load");

	/* The overlay loader validates the same way. */
	err[0] = '\0';
	cr_expect_eq(conf_load_overlay(&c, path, err, sizeof(err)), -1);
	cr_expect_eq(strncmp(err, loc, strlen(loc)), 0, "%s", err);
	free(loc);
	free(before);
	free(after);
	conf_free(&c);
	free(path);
}

Test(conf_bad, unknown_key) { expect_bad("bad-unknown-key.conf", 4, "queue.memroy"); }
Test(conf_bad, monitor_address) { expect_bad("bad-monitor-address.conf", 5, "192.0.2.300/24"); }
Test(conf_bad, monitor_key) { expect_bad("bad-monitor-key.conf", 4, "unknown key 'adresses'"); }
Test(conf_bad, monitor_interval) { expect_bad("bad-monitor-interval.conf", 4, "interval must be an integer from 50"); }

Test(conf, monitors_list_is_checked_and_flagged)
{
	struct conf c;
	char err[512] = "", *path = fixture("good-monitors.conf");

	conf_init_defaults(&c);
	cr_assert_not(c.monitors);
	cr_assert_eq(conf_load(&c, path, false, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.monitors);
	conf_free(&c);
	free(path);
}
Test(conf_bad, unknown_group) { expect_bad("bad-unknown-group.conf", 5, "qeueu"); }
Test(conf_bad, not_a_group) { expect_bad("bad-not-group.conf", 3, "'log'"); }
Test(conf_bad, wrong_type_bool) { expect_bad("bad-wrong-type.conf", 4, "log.syslog"); }
Test(conf_bad, wrong_type_int) { expect_bad("bad-wrong-type-int.conf", 2, "agent.heartbeat_port"); }
Test(conf_bad, out_of_range) { expect_bad("bad-range.conf", 4, "queue.alert_percent"); }
Test(conf_bad, below_minimum) { expect_bad("bad-size-min.conf", 3, "queue.memory: 16M is below the minimum 32M"); }
Test(conf_bad, size_suffix) { expect_bad("bad-size-suffix.conf", 3, "queue.xlog_size"); }
Test(conf_bad, enum_word) { expect_bad("bad-enum.conf", 3, "capture.plugin"); }
Test(conf_bad, power_of_two) { expect_bad("bad-pow2.conf", 4, "capture.block_size: 48K is not a power of two"); }
Test(conf_bad, syntax) { expect_bad("bad-syntax.conf", 4, "syntax error"); }
Test(conf_bad, hostport) { expect_bad("bad-hostport.conf", 2, "agent.listen"); }
Test(conf_bad, empty_string) { expect_bad("bad-empty-string.conf", 3, "agent.state_dir"); }
Test(conf_bad, wrapped_int) { expect_bad("bad-wrapped-int.conf", 3, "target.retry_limit"); }

Test(conf, unreadable_path)
{
	struct conf c;
	char err[512] = "";

	conf_init_defaults(&c);
	/* A directory opens but cannot be read as a file. */
	cr_expect_eq(conf_load(&c, fixtures(), false, err, sizeof(err)), -1);
	cr_expect_eq(strncmp(err, fixtures(), strlen(fixtures())), 0, "%s", err);
	cr_expect_eq(errno, EISDIR);
	conf_free(&c);
}

Test(conf, set_get_round_trip)
{
	static const struct { const char *key, *in, *out; int rc; } cases[] = {
		{ "agent.name", "beta", "beta", 1 },
		{ "AGENT.STATE_DIR", "/tmp/x", "/tmp/x", 1 },
		{ "agent.listen", "10.1.2.3", "10.1.2.3:1500", 1 },
		/* Parts left out come from the key's default, not the old value. */
		{ "agent.listen", ":1700", "0.0.0.0:1700", 1 },
		{ "agent.listen", "[::1]:1800", "[::1]:1800", 1 },
		{ "agent.heartbeat_port", "65535", "65535", 1 },
		{ "log.max_length", "4096", "4K", 0 },
		{ "log.max_files", " 999 ", "999", 0 },
		{ "log.syslog", "off", "false", 0 },
		{ "log.syslog", "TRUE", "true", 0 },
		{ "queue.alert_percent", "0", "0", 0 },
		{ "queue.min_free", "\"2G\"", "2G", 0 },
		{ "queue.xlog_size", "64k", "64K", 1 },
		{ "target.retry_limit", "-1", "-1", 0 },
		{ "target.retry_limit", "12", "12", 0 },
		{ "capture.plugin", "LoopShim", "loopshim", 1 },
		{ "capture.block_size", "16M", "16M", 1 },
		{ "queue.dir", "\"/var/spool/dq\"", "/var/spool/dq", 1 },
	};
	struct conf c;
	char err[512];
	size_t i;

	conf_init_defaults(&c);
	for (i = 0; i < UTIL_ARRAY_SIZE(cases); i++) {
		err[0] = '\0';
		cr_expect_eq(conf_set(&c, cases[i].key, cases[i].in, err,
				      sizeof(err)), cases[i].rc, "%s=%s: %s",
			     cases[i].key, cases[i].in, err);
		expect_get(&c, cases[i].key, cases[i].out);
	}
	cr_expect_eq(c.agent.listen.port, 1800);
	cr_expect_str_eq(c.agent.listen.host, "::1");
	cr_expect_eq(c.capture.plugin, CONF_CAPTURE_LOOPSHIM);
	cr_expect_str_eq(conf_queue_dir(&c), "/var/spool/dq");
	/* Derived paths follow a new state_dir at once. */
	cr_expect_str_eq(conf_pid_file(&c), "/tmp/x/dittod.pid");
	cr_expect_str_eq(conf_settings_file(&c), "/tmp/x/settings.conf");
	/* An empty name goes back to the host name. */
	cr_expect_eq(conf_set(&c, "agent.name", "", err, sizeof(err)), 1);
	cr_expect_gt(strlen(c.agent.name), 0);
	conf_free(&c);
}

Test(conf, runtime_flags_match_table)
{
	struct conf c;
	char err[512];
	size_t i;

	conf_init_defaults(&c);
	for (i = 0; i < conf_key_count(); i++) {
		const struct conf_keyinfo *ki = conf_key_at(i);
		char *v = get(&c, ki->name);

		/* Setting the current value back is always valid. */
		cr_expect_eq(conf_set(&c, ki->name, v, err, sizeof(err)),
			     ki->runtime ? 0 : 1, "%s: %s", ki->name, err);
		free(v);
	}
	cr_expect(conf_key_find("log.max_length")->runtime);
	cr_expect(conf_key_find("log.max_files")->runtime);
	cr_expect(conf_key_find("log.syslog")->runtime);
	cr_expect(conf_key_find("queue.alert_percent")->runtime);
	cr_expect(conf_key_find("queue.min_free")->runtime);
	cr_expect(conf_key_find("target.retry_limit")->runtime);
	cr_expect_not(conf_key_find("queue.memory")->runtime);
	cr_expect_not(conf_key_find("agent.listen")->runtime);
	cr_expect_null(conf_key_find("queue"));
	cr_expect_null(conf_key_at(conf_key_count()));
	conf_free(&c);
}

Test(conf, set_refuses_invalid)
{
	static const struct { const char *key, *val, *msg; } bad[] = {
		{ "queue.memroy", "64M", "unknown key" },
		{ "queue", "64M", "unknown key" },
		{ "queue.memory", "31M", "below the minimum" },
		{ "queue.memory", "128X", "invalid size" },
		{ "queue.memory", "-1", "negative" },
		{ "queue.memory", "", "invalid size" },
		{ "queue.alert_percent", "101", "out of range" },
		{ "queue.alert_percent", "5%", "expected an integer" },
		{ "log.max_files", "0", "out of range" },
		{ "log.max_length", "4095", "below the minimum" },
		{ "log.syslog", "maybe", "expected true or false" },
		{ "agent.heartbeat_port", "65536", "out of range" },
		{ "agent.listen", "host:0", "expected host:port" },
		{ "agent.listen", "a b:1", "expected host:port" },
		{ "agent.listen", "", "expected host:port" },
		{ "agent.state_dir", "", "must not be empty" },
		{ "agent.log_dir", "/x\ny", "control characters" },
		{ "target.retry_limit", "-2", "below the minimum -1" },
		{ "target.retry_limit", "99999999999", "too large" },
		{ "capture.plugin", "ebpf", "fanotify|inotify|loopshim|blockdrv" },
		{ "capture.block_size", "2K", "below the minimum 4K" },
		{ "capture.block_size", "32M", "above the maximum 16M" },
		{ "capture.block_size", "12K", "not a power of two" },
		{ "queue.xlog_size", "32K", "below the minimum 64K" },
	};
	struct conf c;
	char err[512], *before, *after;
	size_t i;

	conf_init_defaults(&c);
	before = dump(&c);
	for (i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		cr_expect_eq(conf_set(&c, bad[i].key, bad[i].val, err,
				      sizeof(err)), -1, "%s=%s accepted",
			     bad[i].key, bad[i].val);
		cr_expect_not_null(strstr(err, bad[i].msg), "%s=%s: %s",
				   bad[i].key, bad[i].val, err);
		if (strcmp(bad[i].msg, "unknown key") != 0)
			cr_expect_not_null(strstr(err, bad[i].key), "%s", err);
	}
	cr_expect_eq(conf_set(&c, "log.max_files", NULL, err, sizeof(err)), -1);
	after = dump(&c);
	cr_expect_str_eq(after, before);
	free(before);
	free(after);
	conf_free(&c);
}

Test(conf, write_settings_overlay_round_trip, .init = mk_tmpdir,
     .fini = rm_tmpdir)
{
	static const char *const keys[] = {
		"queue.alert_percent", "log.max_files", "target.retry_limit",
		"queue.min_free", "queue.disk_max", "agent.name",
		"agent.control_socket", "log.syslog", "capture.plugin",
		"agent.listen", "QUEUE.ALERT_PERCENT",
	};
	struct conf c, d;
	char err[512] = "", *path = util_xasprintf("%s/settings.conf", tmpdir);
	char *a, *b;

	conf_init_defaults(&c);
	cr_assert_geq(conf_set(&c, "queue.alert_percent", "75", err, sizeof(err)), 0);
	cr_assert_geq(conf_set(&c, "log.max_files", "12", err, sizeof(err)), 0);
	cr_assert_geq(conf_set(&c, "target.retry_limit", "0", err, sizeof(err)), 0);
	cr_assert_geq(conf_set(&c, "queue.min_free", "3000000000", err, sizeof(err)), 0);
	cr_assert_geq(conf_set(&c, "queue.disk_max", "0", err, sizeof(err)), 0);
	cr_assert_geq(conf_set(&c, "agent.name", "odd \"name\" \\ here", err,
			       sizeof(err)), 0);
	cr_assert_geq(conf_set(&c, "agent.control_socket", "/tmp/a b.sock", err,
			       sizeof(err)), 0);
	cr_assert_geq(conf_set(&c, "log.syslog", "no", err, sizeof(err)), 0);
	cr_assert_geq(conf_set(&c, "capture.plugin", "blockdrv", err, sizeof(err)), 0);
	cr_assert_geq(conf_set(&c, "agent.listen", "[fe80::1]:2000", err,
			       sizeof(err)), 0);
	cr_assert_eq(conf_write_settings(path, &c, keys, UTIL_ARRAY_SIZE(keys)),
		     0, "%s", strerror(errno));

	/* Overlay onto plain defaults reproduces every written key. */
	conf_init_defaults(&d);
	cr_assert_eq(conf_load_overlay(&d, path, err, sizeof(err)), 0, "%s", err);
	a = dump(&c);
	b = dump(&d);
	cr_expect_str_eq(b, a);
	free(a);
	free(b);
	cr_expect_eq(d.queue.min_free, 3000000000u);
	cr_expect_eq(d.queue.disk_max, 0);
	cr_expect_str_eq(d.agent.name, "odd \"name\" \\ here");

	/* Overlay keeps what the file does not mention. */
	cr_expect_eq(conf_set(&d, "queue.memory", "64M", err, sizeof(err)), 1);
	cr_expect_eq(conf_load_overlay(&d, path, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(d.queue.memory, 64u << 20);
	/* A full load starts from the defaults instead. */
	cr_expect_eq(conf_load(&d, path, false, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(d.queue.memory, 128u << 20);
	cr_expect_eq(d.queue.alert_percent, 75);

	/* No temporary file is left behind; an unknown key writes nothing. */
	cr_expect_eq(access(path, F_OK), 0);
	{
		const char *bogus[] = { "queue.nope" };
		char *p2 = util_xasprintf("%s/other.conf", tmpdir);

		cr_expect_eq(conf_write_settings(p2, &c, bogus, 1), -1);
		cr_expect_eq(errno, EINVAL);
		cr_expect_neq(access(p2, F_OK), 0);
		free(p2);
	}
	{
		char *cmd = util_xasprintf("test $(ls '%s' | wc -l) -eq 1", tmpdir);

		cr_expect_eq(system(cmd), 0, "stray files in %s", tmpdir);
		free(cmd);
	}
	/* An empty key list still gives a loadable file. */
	cr_expect_eq(conf_write_settings(path, &c, NULL, 0), 0);
	cr_expect_eq(conf_load_overlay(&d, path, err, sizeof(err)), 0, "%s", err);
	conf_free(&c);
	conf_free(&d);
	free(path);
}

Test(conf, write_settings_bad_dir)
{
	static const char *const keys[] = { "log.max_files" };
	struct conf c;

	conf_init_defaults(&c);
	cr_expect_eq(conf_write_settings("/nonexistent-dir/x/settings.conf", &c,
					 keys, 1), -1);
	cr_expect_eq(errno, ENOENT);
	conf_free(&c);
}

Test(conf, copy_is_independent)
{
	struct conf a, b;
	char err[512];

	conf_init_defaults(&a);
	cr_assert_eq(conf_set(&a, "agent.state_dir", "/s1", err, sizeof(err)), 1);
	cr_assert_eq(conf_copy(&b, &a), 0);
	cr_expect_neq(a.agent.state_dir, b.agent.state_dir);
	cr_expect_neq(a.agent.listen.text, b.agent.listen.text);
	cr_expect_neq(conf_pid_file(&a), conf_pid_file(&b));
	cr_expect_eq(conf_set(&b, "agent.state_dir", "/s2", err, sizeof(err)), 1);
	cr_expect_eq(conf_set(&b, "log.max_files", "42", err, sizeof(err)), 0);
	cr_expect_eq(conf_set(&b, "agent.listen", "1.2.3.4:5", err, sizeof(err)), 1);
	cr_expect_str_eq(a.agent.state_dir, "/s1");
	cr_expect_str_eq(conf_pid_file(&a), "/s1/dittod.pid");
	cr_expect_str_eq(conf_pid_file(&b), "/s2/dittod.pid");
	cr_expect_eq(a.log.max_files, 5);
	cr_expect_str_eq(a.agent.listen.text, "0.0.0.0:1500");
	conf_free(&a);
	cr_expect_str_eq(b.agent.state_dir, "/s2");
	conf_free(&b);
	conf_free(&b);  /* harmless twice */
}

Test(conf, capture_names_follow_table)
{
	static const char *const words[] = { "fanotify", "inotify", "loopshim",
					     "blockdrv" };
	struct conf c;
	char err[512];
	size_t i;

	conf_init_defaults(&c);
	cr_expect_str_eq(conf_key_find("capture.plugin")->range,
			 "fanotify|inotify|loopshim|blockdrv");
	for (i = 0; i < UTIL_ARRAY_SIZE(words); i++) {
		cr_expect_eq(conf_set(&c, "capture.plugin", words[i], err,
				      sizeof(err)), 1);
		cr_expect_eq((size_t)c.capture.plugin, i);
		cr_expect_str_eq(conf_capture_name(&c), words[i]);
	}
	conf_free(&c);
}

Test(conf, dump_lists_every_key)
{
	struct conf c;
	char *d, *line;
	size_t i;

	conf_init_defaults(&c);
	d = dump(&c);
	for (i = 0; i < conf_key_count(); i++) {
		line = util_xasprintf("%s%s = ", i ? "\n" : "",
				      conf_key_at(i)->name);
		cr_expect_not_null(strstr(d, line), "%s", conf_key_at(i)->name);
		free(line);
	}
	cr_expect_not_null(strstr(d, "queue.memory = 128M\n"));
	free(d);
	conf_free(&c);
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	struct util_buf b;
	char chunk[4096];
	size_t n;

	cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
	util_buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		util_buf_append(&b, chunk, n);
	fclose(fp);
	return util_buf_steal(&b);
}

/* The man page documents every key of the table, with its default. */
Test(conf_docs, man_page_lists_every_key)
{
	char *path = util_xasprintf("%s/man/ditto.conf.5", srcdir());
	char *text = slurp(path), *want;
	size_t i;

	for (i = 0; i < conf_key_count(); i++) {
		const char *dot = strchr(conf_key_at(i)->name, '.');

		want = util_xasprintf(".B %s\n", dot + 1);
		cr_expect_not_null(strstr(text, want), "%s not in %s",
				   conf_key_at(i)->name, path);
		free(want);
	}
	free(text);
	free(path);
}

/* "key = value;" with a lower-case key: a commented-out setting. */
static bool key_line(const char *p)
{
	size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_"), len = strlen(p);

	return n > 0 && strncmp(p + n, " = ", 3) == 0 && p[len - 1] == ';';
}

/* etc/ditto.conf: uncommenting every "# key = value;" line must load and
 * give exactly the defaults, and every key must be there. */
Test(conf_docs, example_config_matches_defaults, .init = mk_tmpdir,
     .fini = rm_tmpdir)
{
	static const char *const build_dirs[] = {
		"agent.state_dir", "agent.log_dir", "agent.plugin_dir", "agent.script_dir",
	};
	char *path = util_xasprintf("%s/etc/ditto.conf", srcdir());
	char *text = slurp(path), *out = util_xasprintf("%s/ex.conf", tmpdir);
	char *line, *save = NULL, *a, *b, err[512] = "";
	struct util_buf u;
	struct conf c, d;
	FILE *fp;
	size_t i, n = 0;

	util_buf_init(&u);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = line + strspn(line, " \t");

		if (p[0] == '#' && p[1] == ' ' && key_line(p + 2)) {
			util_buf_append(&u, line, (size_t)(p - line));
			p += 2;
			n++;
		} else
			p = line;
		util_buf_puts(&u, p);
		util_buf_puts(&u, "\n");
	}
	cr_expect_eq(n, conf_key_count(), "commented keys in %s", path);
	fp = fopen(out, "w");
	cr_assert_not_null(fp);
	fputs(u.data, fp);
	fclose(fp);

	conf_init_defaults(&c);
	conf_init_defaults(&d);
	cr_expect_eq(conf_load(&c, out, false, err, sizeof(err)), 0, "%s", err);
	/* The example shows the usual paths; a build may use another prefix. */
	for (i = 0; i < UTIL_ARRAY_SIZE(build_dirs); i++) {
		char *v = get(&d, build_dirs[i]);

		cr_expect_geq(conf_set(&c, build_dirs[i], v, err, sizeof(err)), 0);
		free(v);
	}
	a = dump(&c);
	b = dump(&d);
	cr_expect_str_eq(a, b);
	for (i = 0; i < conf_key_count(); i++) {
		char *k = util_xasprintf("# %s = ",
					 strchr(conf_key_at(i)->name, '.') + 1);

		cr_expect_not_null(strstr(u.data, k + 2), "%s", conf_key_at(i)->name);
		free(k);
	}
	/* The example itself, all commented, loads to the defaults too. */
	cr_expect_eq(conf_load(&c, path, false, err, sizeof(err)), 0, "%s", err);
	free(a);
	free(b);
	conf_free(&c);
	conf_free(&d);
	util_buf_free(&u);
	free(text);
	free(out);
	free(path);
}
