/* mscript — the scripts a connection runs on mirror events (DTCL
 * "SCRIPT ADD con_id MIRRORSTART|MIRRORSTOP|MIRRORCOMPLETE="path" [ARGS="…"]").
 *
 * MIRRORSTART runs when a mirror of the connection starts (by command, at
 * connect, or a remirror), MIRRORCOMPLETE when the target has applied all
 * of it, MIRRORSTOP when it ends without completing (MIRROR STOP, an error,
 * a newer task replacing it, the connection removed). Scripts run through
 * agent/script.c (absolute path, ownership and permission checks, no shell,
 * clean environment) without holding up the mirror; ARGS is split at
 * blanks into the program's arguments. The environment carries
 * DITTO_EVENT, DITTO_CON_ID, DITTO_SOURCE (this agent), DITTO_REPSET,
 * DITTO_TARGET, DITTO_TARGET_PATH, DITTO_MIRROR_TYPE (full, different,
 * checksum), and for MIRRORCOMPLETE and MIRRORSTOP DITTO_MIRROR_FILES and
 * DITTO_MIRROR_BYTES (sent so far), for MIRRORSTOP DITTO_REASON. Each line
 * the script prints is logged, and how it ended. One run per event and
 * connection at a time: an event that comes while its script still runs is
 * logged and skipped. */
#ifndef DITTO_MSCRIPT_H
#define DITTO_MSCRIPT_H

#include <libconfig.h>
#include <stdint.h>

#include "util.h"

struct evloop;

enum mscript_event {
	MSCRIPT_START,
	MSCRIPT_STOP,
	MSCRIPT_COMPLETE,
	MSCRIPT_EVENTS
};

struct mscript_run;

struct mscripts {
	char *path[MSCRIPT_EVENTS];  /* NULL: none */
	char *args[MSCRIPT_EVENTS];  /* NULL or "" : none */
	struct mscript_run *run[MSCRIPT_EVENTS];
};

/* What a script is told of the mirror (strings are copied). */
struct mscript_info {
	uint32_t con_id;
	const char *source, *repset, *target, *target_path, *type;
	uint64_t files, bytes;
	const char *reason; /* MIRRORSTOP only; NULL otherwise */
};

/* "MIRRORSTART" ... -> event; -1 if not one. Case-insensitive. */
int mscript_event_parse(const char *word);
const char *mscript_event_name(enum mscript_event e);

/* Sets the event's script after script_check; replaces any earlier one.
 * 0, or -1 with a message in err (nothing changed). */
int mscript_set(struct mscripts *m, enum mscript_event e, const char *path,
		const char *args, char *err, size_t errlen);
/* 0, or -1 if the event had no script. */
int mscript_clear(struct mscripts *m, enum mscript_event e);

/* Starts the event's script, if there is one and it is not running. */
void mscript_fire(struct mscripts *m, struct evloop *loop, enum mscript_event e,
		  const struct mscript_info *info);

/* Persistence in a libconfig group (keys mirrorstart, mirrorstart_args,
 * ...). A loaded script that no longer passes script_check is kept (the
 * administrator may fix the file) and refused, with a log line, when it
 * would run. */
void mscript_save(const struct mscripts *m, config_setting_t *group);
void mscript_load(struct mscripts *m, const config_setting_t *group);

/* "Mirror scripts: ..." line(s) for STATUS; nothing without scripts. */
void mscript_status(const struct mscripts *m, struct util_buf *out);

/* Frees the settings; running scripts go on and are still logged. */
void mscript_free(struct mscripts *m);

#endif
