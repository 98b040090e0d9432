/* agent — the running dittod: its configuration (file, persisted SET values
 * and command-line overrides, in that order of precedence), its event loop,
 * control server, and the start/reload/stop life cycle. */
#ifndef DITTO_AGENT_H
#define DITTO_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "evloop.h"
#include "wire.h"

struct control;
struct repset_db;
struct source;
struct target;

/* Command-line values that win over the config file, kept apart so a reload
 * (SIGHUP) re-applies them on top of the freshly read file. */
struct agent_overrides {
	const char *name;
	const char *state_dir;
	const char *listen;
	const char *control_socket;
	const char *log_dir;
	const char *key_file;
	const char *pid_file;
};

struct agent {
	struct evloop *loop;
	struct conf conf;
	const char *conf_path;
	bool conf_explicit; /* -c given: a missing file is then an error */
	struct agent_overrides ov;
	bool foreground;
	uint64_t start_mono_ns;
	uint64_t start_real_ns;
	struct control *ctl;
	struct repset_db *repsets;
	char *repsets_path; /* <state_dir>/repsets.conf */
	struct source *source;
	struct target *target;
	struct monitors *monitors;    /* failover: sources this agent watches */
	struct restore_job *restores; /* restores this agent asked for */
	uint8_t key[WIRE_KEY_MAX]; /* pre-shared key for agent links */
	size_t keylen;
	int pid_fd;
	char *settings_path; /* <state_dir>/settings.conf: persisted SET values */
	int exit_code;
};

/* Reads the configuration into c: defaults, file, settings, overrides. On
 * failure err holds "FILE:LINE: message". */
int agent_load_conf(struct agent *a, struct conf *c, char *err, size_t errlen);
/* Everything up to a running control socket; logs 69 and 4000. */
int agent_start(struct agent *a);
/* SIGHUP: build a new configuration and swap it in, or keep the old one and
 * log why. */
int agent_reload(struct agent *a);
/* Records key=value in settings.conf so a SET survives restarts; only keys
 * whose value differs from the config file are kept there. */
int agent_persist_setting(struct agent *a, const char *key, const char *value,
			  char *err, size_t errlen);
/* Writes the replication sets after a change; logs and returns -1 on error. */
int agent_save_repsets(struct agent *a, char *err, size_t errlen);
void agent_stop(struct agent *a);
void agent_fini(struct agent *a);

#endif
