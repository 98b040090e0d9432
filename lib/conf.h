/* conf — the agent configuration: one table of keys drives defaults, loading
 * of ditto.conf (libconfig syntax), GET/SET, the persisted settings file,
 * dumps and the key listing used by HELP and ditto.conf(5). */
#ifndef DITTO_CONF_H
#define DITTO_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Value of size keys that accept the word "unlimited" (queue.disk_max). */
#define CONF_UNLIMITED UINT64_MAX
/* Key flag: SET takes effect at once; without it, after a restart. */
#define CONF_RUNTIME 0x1u
#define CONF_HOST_MAX 256
/* Name of the persisted SET values inside the state directory. */
#define CONF_SETTINGS_NAME "settings.conf"

/* Order matches the capture.plugin words in the key table. */
enum conf_capture {
	CONF_CAPTURE_FANOTIFY,
	CONF_CAPTURE_INOTIFY,
	CONF_CAPTURE_LOOPSHIM,
	CONF_CAPTURE_BLOCKDRV,
};

/* Order matches the queue.auto_remirror words in the key table. */
enum conf_remirror {
	CONF_REMIRROR_NONE,
	CONF_REMIRROR_FULL,
	CONF_REMIRROR_DIFFERENT,
	CONF_REMIRROR_CHECKSUM,
};

struct conf_hostport {
	char *text;               /* canonical "host:port" / "[v6]:port" */
	char host[CONF_HOST_MAX];
	uint16_t port;
};

struct conf {
	struct {
		char *name;           /* never empty after load: host name */
		char *state_dir;
		char *log_dir;
		char *control_socket;
		char *pid_file;       /* "" = <state_dir>/dittod.pid */
		struct conf_hostport listen;
		int heartbeat_port;
		char *key_file;       /* "" = <state_dir>/peer.key */
		char *plugin_dir;
		char *admin_group;
		char *monitor_group;
		char *script_dir;     /* post-failback scripts asked by a target */
	} agent;
	struct {
		uint64_t max_length;
		int max_files;
		bool syslog;
	} log;
	struct {
		uint64_t memory;
		char *dir;            /* "" = <state_dir>/queue */
		uint64_t disk_max;    /* 0 = no disk queue, CONF_UNLIMITED */
		uint64_t min_free;
		int alert_percent;    /* 0 = no alert */
		uint64_t xlog_size;
		enum conf_remirror auto_remirror;
	} queue;
	struct {
		int retry_limit;      /* -1 = forever */
	} target;
	struct {
		bool checksum_all;    /* CHECKSUM mirrors compare every file */
	} mirror;
	bool monitors;                /* the file has a (checked) monitors list,
					 which agent/monitor.c reads from it */
	struct {
		char *log_name;       /* "<repset> " + this, in agent.log_dir */
		uint64_t log_max_length;
		bool log_append;
	} verify;
	struct {
		enum conf_capture plugin;
		uint64_t block_size;
	} capture;
	/* Derived paths, rebuilt after every change; read through the
	 * accessors below. */
	char *priv_pid_file;
	char *priv_key_file;
	char *priv_queue_dir;
	char *priv_settings_file;
};

/* Built-in defaults (agent.name = host name). Overwrites c without freeing. */
void conf_init_defaults(struct conf *c);
/* Load path over the defaults. c must hold a valid conf (conf_init_defaults,
 * an earlier load, or all zero); on success its old contents are replaced,
 * on error it is left unchanged. If path does not exist and missing_ok, c is
 * reset to the defaults and 0 returned. On error returns -1 and writes
 * "FILE:LINE: message" or "FILE: message" into err. */
int conf_load(struct conf *c, const char *path, bool missing_ok, char *err,
	      size_t errlen);
/* The same validation, applied on top of c's current values (used for
 * <state_dir>/settings.conf). A missing file is an error with errno ENOENT. */
int conf_load_overlay(struct conf *c, const char *path, char *err,
		      size_t errlen);
/* Frees and zeroes c; safe to call twice. */
void conf_free(struct conf *c);
/* Deep copy; dst is overwritten without being freed. Returns 0. */
int conf_copy(struct conf *dst, const struct conf *src);

/* Appends the value of a dotted key (case-insensitive) to out as a user
 * would type it ("128M", "true", "unlimited"). -1 if the key is unknown. */
int conf_get(const struct conf *c, const char *key, struct util_buf *out);
/* Validates value exactly like the loader and stores it in c. Returns 0 if
 * the key takes effect at once (CONF_RUNTIME), 1 if only after a restart
 * (a running agent keeps using its own copy), -1 on error (c unchanged). */
int conf_set(struct conf *c, const char *key, const char *value, char *err,
	     size_t errlen);
/* Writes the given keys' values in libconfig syntax, grouped, atomically
 * (temporary file, fsync, rename). -1 with errno set on error, EINVAL for an
 * unknown key. */
struct config_t;
/* The text libconfig writes for cfg (malloc'd, *len bytes without a NUL
 * counted), or NULL with errno. */
char *conf_text(struct config_t *cfg, size_t *len);
/* cfg written to path atomically (util_write_atomic, mode 0600): 0, or -1
 * with errno. */
int conf_save_file(struct config_t *cfg, const char *path);

int conf_write_settings(const char *path, const struct conf *c,
			const char *const *keys, size_t nkeys);

struct conf_keyinfo {
	const char *name;   /* "queue.memory" */
	const char *type;   /* string, boolean, integer, size, host:port, enum */
	const char *def;    /* default as typed; "" where the help says why */
	const char *help;   /* one line */
	bool runtime;
	const char *range;  /* "1..65535", "32M..", enum words "a|b"; or NULL */
};
size_t conf_key_count(void);
/* NULL when i is out of range. */
const struct conf_keyinfo *conf_key_at(size_t i);
/* Same for a dotted key (case-insensitive); NULL if unknown. */
const struct conf_keyinfo *conf_key_find(const char *key);
/* Appends "key = value" for every key, one per line, in table order. */
void conf_dump(const struct conf *c, struct util_buf *out);

/* Derived paths with the empty-means-default rule applied. */
const char *conf_pid_file(const struct conf *c);
const char *conf_key_file(const struct conf *c);
const char *conf_queue_dir(const struct conf *c);
/* <state_dir>/settings.conf */
const char *conf_settings_file(const struct conf *c);
/* Word of capture.plugin, e.g. "fanotify". */
const char *conf_capture_name(const struct conf *c);
/* Built-in location of ditto.conf (<sysconfdir>/ditto/ditto.conf). */
const char *conf_default_path(void);

#endif
