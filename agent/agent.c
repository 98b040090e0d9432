#include "config.h"

#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "repset.h"
#include "restore.h"
#include "monitor.h"
#include "source.h"
#include "target.h"
#include "dtlog.h"
#include "util.h"
#include "wire.h"

/* Keys that need a restart keep their running values on reload, so GET and
 * STATUS show what the agent really uses; a changed one is named in the log
 * rather than silently ignored. */
static void carry_restart_keys(const struct conf *old, struct conf *nw)
{
	struct util_buf a, b;
	char err[256];
	size_t i;

	util_buf_init(&a);
	util_buf_init(&b);
	for (i = 0; i < conf_key_count(); i++) {
		const struct conf_keyinfo *k = conf_key_at(i);

		if (k->runtime)
			continue;
		util_buf_reset(&a);
		util_buf_reset(&b);
		conf_get(old, k->name, &a);
		conf_get(nw, k->name, &b);
		if (!strcmp(a.data ? a.data : "", b.data ? b.data : ""))
			continue;
		dtlog(DTLOG_WARNING, 0,
		      "Setting %s changed from %s to %s; it takes effect after a restart",
		      k->name, a.data ? a.data : "", b.data ? b.data : "");
		conf_set(nw, k->name, a.data ? a.data : "", err, sizeof(err));
	}
	util_buf_free(&a);
	util_buf_free(&b);
}

static int apply_override(struct conf *c, const char *key, const char *v,
			  char *err, size_t errlen)
{
	char e[512];

	if (!v)
		return 0;
	if (conf_set(c, key, v, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "command line: %s", e);
		return -1;
	}
	return 0;
}

/* Defaults, then the config file, then the persisted SET values, then the
 * command line. */
int agent_load_conf(struct agent *a, struct conf *c, char *err, size_t errlen)
{
	const struct agent_overrides *o = &a->ov;
	struct conf tmp;
	int ret = -1;

	memset(&tmp, 0, sizeof(tmp));
	conf_init_defaults(&tmp);
	if (conf_load(&tmp, a->conf_path, !a->conf_explicit, err, errlen) < 0)
		goto done;
	/* The state dir decides where settings.conf lives, so apply it first. */
	if (apply_override(&tmp, "agent.state_dir", o->state_dir, err, errlen) < 0)
		goto done;
	if (access(conf_settings_file(&tmp), F_OK) == 0 &&
	    conf_load_overlay(&tmp, conf_settings_file(&tmp), err, errlen) < 0)
		goto done;
	if (apply_override(&tmp, "agent.state_dir", o->state_dir, err, errlen) < 0 ||
	    apply_override(&tmp, "agent.name", o->name, err, errlen) < 0 ||
	    apply_override(&tmp, "agent.listen", o->listen, err, errlen) < 0 ||
	    apply_override(&tmp, "agent.control_socket", o->control_socket, err, errlen) < 0 ||
	    apply_override(&tmp, "agent.log_dir", o->log_dir, err, errlen) < 0 ||
	    apply_override(&tmp, "agent.key_file", o->key_file, err, errlen) < 0 ||
	    apply_override(&tmp, "agent.pid_file", o->pid_file, err, errlen) < 0)
		goto done;
	conf_free(c);
	*c = tmp;
	memset(&tmp, 0, sizeof(tmp));
	ret = 0;
done:
	conf_free(&tmp);
	return ret;
}

int agent_persist_setting(struct agent *a, const char *key, const char *value,
			  char *err, size_t errlen)
{
	struct conf base, withset;
	struct util_buf va, vb;
	const char **keys = NULL;
	size_t nkeys = 0, i;
	const char *path = conf_settings_file(&a->conf);
	int ret = -1;

	memset(&base, 0, sizeof(base));
	memset(&withset, 0, sizeof(withset));
	util_buf_init(&va);
	util_buf_init(&vb);
	conf_init_defaults(&base);
	if (conf_load(&base, a->conf_path, !a->conf_explicit, err, errlen) < 0)
		goto done;
	conf_copy(&withset, &base);
	if (access(path, F_OK) == 0 &&
	    conf_load_overlay(&withset, path, err, errlen) < 0)
		goto done;
	if (conf_set(&withset, key, value, err, errlen) < 0)
		goto done;
	/* Keep exactly the keys that differ from the file: derived, so a SET
	 * back to the file's value drops the key again. */
	keys = util_xcalloc(conf_key_count(), sizeof(*keys));
	for (i = 0; i < conf_key_count(); i++) {
		const char *k = conf_key_at(i)->name;

		util_buf_reset(&va);
		util_buf_reset(&vb);
		conf_get(&base, k, &va);
		conf_get(&withset, k, &vb);
		if (strcmp(va.data ? va.data : "", vb.data ? vb.data : ""))
			keys[nkeys++] = k;
	}
	if (conf_write_settings(path, &withset, keys, nkeys) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto done;
	}
	ret = 0;
done:
	free(keys);
	util_buf_free(&va);
	util_buf_free(&vb);
	conf_free(&base);
	conf_free(&withset);
	return ret;
}

/* A held flock on the pid file is what says "an agent runs here"; a stale
 * file left by a crash carries no lock and is simply taken over. */
static int pidfile_lock(struct agent *a)
{
	const char *path = conf_pid_file(&a->conf);
	char buf[32];
	int fd, ret = -1;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		dtlog(DTLOG_ERROR, 0, "Cannot open pid file %s: %s", path, strerror(errno));
		goto done;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		dtlog(DTLOG_ERROR, 0, "Another dittod (pid %s) already uses state directory %s",
		      buf[0] ? buf : "?", a->conf.agent.state_dir);
		goto done;
	}
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, strlen(buf), 0) < 0) {
		dtlog(DTLOG_ERROR, 0, "Cannot write pid file %s: %s", path, strerror(errno));
		goto done;
	}
	a->pid_fd = fd;
	fd = -1;
	ret = 0;
done:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Agents authenticate each other with a pre-shared key; creating one on first
 * start makes a fresh install work, and saying where it is tells the admin
 * what to copy to the peers. */
static int ensure_key_file(struct agent *a)
{
	const char *path = conf_key_file(&a->conf);
	char err[512];

	if (access(path, F_OK) == 0)
		return 0;
	if (wire_key_create(path, err, sizeof(err)) < 0) {
		dtlog(DTLOG_ERROR, 0, "Cannot create pre-shared key: %s", err);
		return -1;
	}
	dtlog(DTLOG_INFO, 0, "Created pre-shared key %s; copy it to every peer agent (--key-file)", path);
	return 0;
}

static void on_term(struct evloop *loop, int signo, void *arg)
{
	struct agent *a = arg;

	dtlog(DTLOG_INFO, 0, "Received %s, stopping", strsignal(signo));
	a->exit_code = 0;
	evloop_stop(loop);
}

static void on_hup(struct evloop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	agent_reload(arg);
}

int agent_reload(struct agent *a)
{
	struct conf nw;
	char err[1024];

	memset(&nw, 0, sizeof(nw));
	if (agent_load_conf(a, &nw, err, sizeof(err)) < 0) {
		dtlog(DTLOG_ERROR, 0, "Configuration reload failed, keeping the running configuration: %s", err);
		return -1;
	}
	carry_restart_keys(&a->conf, &nw);
	conf_free(&a->conf);
	a->conf = nw;
	dtlog_reconfigure(a->conf.log.max_length, (unsigned)a->conf.log.max_files);
	dtlog(DTLOG_INFO, 0, "Configuration reloaded from %s", a->conf_path);
	return 0;
}

int agent_start(struct agent *a)
{
	struct dtlog_opts lo;
	int ret = -1;

	a->pid_fd = -1;
	a->start_mono_ns = util_now_mono_ns();
	a->start_real_ns = util_now_real_ns();

	if (util_mkdir_p(a->conf.agent.state_dir, 0750) < 0) {
		fprintf(stderr, "dittod: cannot create state directory %s: %s\n",
			a->conf.agent.state_dir, strerror(errno));
		goto done;
	}
	memset(&lo, 0, sizeof(lo));
	lo.dir = a->conf.agent.log_dir;
	lo.base = DTLOG_DEFAULT_BASE;
	lo.max_length = a->conf.log.max_length;
	lo.max_files = (unsigned)a->conf.log.max_files;
	lo.use_syslog = a->conf.log.syslog;
	lo.ident = "dittod";
	lo.to_stderr = true; /* until detached: startup errors must reach the admin */
	if (dtlog_open(&lo) < 0) {
		fprintf(stderr, "dittod: cannot open log directory %s: %s\n",
			a->conf.agent.log_dir, strerror(errno));
		goto done;
	}
	if (pidfile_lock(a) < 0 || ensure_key_file(a) < 0)
		goto done;
	{
		char err[1024];

		if (wire_key_load(conf_key_file(&a->conf), a->key, &a->keylen, err, sizeof(err)) < 0) {
			dtlog(DTLOG_ERROR, 0, "%s", err);
			goto done;
		}
		a->repsets = repset_db_new();
		a->repsets_path = util_xasprintf("%s/repsets.conf", a->conf.agent.state_dir);
		if (access(a->repsets_path, F_OK) == 0 &&
		    repset_db_load(a->repsets, a->repsets_path, err, sizeof(err)) < 0) {
			dtlog(DTLOG_ERROR, 0, "Cannot load replication sets: %s", err);
			goto done;
		}
	}

	a->loop = evloop_new();
	if (!a->loop) {
		dtlog(DTLOG_ERROR, 0, "Cannot create event loop: %s", strerror(errno));
		goto done;
	}
	if (evloop_signal_add(a->loop, SIGTERM, on_term, a) < 0 ||
	    evloop_signal_add(a->loop, SIGINT, on_term, a) < 0 ||
	    evloop_signal_add(a->loop, SIGHUP, on_hup, a) < 0) {
		dtlog(DTLOG_ERROR, 0, "Cannot set up signal handling: %s", strerror(errno));
		goto done;
	}
	signal(SIGPIPE, SIG_IGN);
	a->ctl = control_new(a);
	if (!a->ctl)
		goto done;
	a->target = target_new(a);
	if (!a->target)
		goto done;
	a->monitors = monitors_new(a);
	if (!a->monitors)
		goto done;
	a->source = source_new(a);
	{
		char err[1024];

		if (source_load(a->source, err, sizeof(err)) < 0) {
			dtlog(DTLOG_ERROR, 0, "Cannot restore connections: %s", err);
			goto done;
		}
	}
	dtlog(DTLOG_INFO, 69, "Ditto kernel started on %s", a->conf.agent.name);
	dtlog_event(DTLOG_INFO, 4000, "Kernel was successfully started (version %s, pid %ld, control socket %s)",
		    PACKAGE_VERSION, (long)getpid(), a->conf.agent.control_socket);
	ret = 0;
done:
	return ret;
}

void agent_stop(struct agent *a)
{
	dtlog(DTLOG_INFO, 70, "Ditto kernel stopped");
	dtlog_event(DTLOG_INFO, 4005, "Kernel was successfully stopped");
}

int agent_save_repsets(struct agent *a, char *err, size_t errlen)
{
	if (repset_db_save(a->repsets, a->repsets_path) < 0) {
		snprintf(err, errlen, "cannot save %s: %s", a->repsets_path, strerror(errno));
		dtlog(DTLOG_ERROR, 0, "%s", err);
		return -1;
	}
	return 0;
}

void agent_fini(struct agent *a)
{
	restore_free_all(a);
	monitors_free(a->monitors);
	a->monitors = NULL;
	source_free(a->source);
	a->source = NULL;
	target_free(a->target);
	a->target = NULL;
	if (a->repsets) {
		repset_db_free(a->repsets);
		a->repsets = NULL;
	}
	free(a->repsets_path);
	a->repsets_path = NULL;
	if (a->ctl) {
		control_free(a->ctl);
		a->ctl = NULL;
	}
	if (a->loop) {
		evloop_free(a->loop);
		a->loop = NULL;
	}
	if (a->pid_fd >= 0) {
		unlink(conf_pid_file(&a->conf));
		close(a->pid_fd);
		a->pid_fd = -1;
	}
	conf_free(&a->conf);
	dtlog_close();
}
