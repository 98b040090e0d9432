/* restore — bringing a target's copy back to its source, or to a new one.
 *
 * The backup: every connection sends the target, in its ordered queue, a
 * REPSET_BACKUP op the target keeps as <state>/target/<source>_<id>.backup:
 * where each part of the set came from and the set's definition, so a
 * restore needs nothing from a source that lost its disk. Text, libconfig:
 *   repset = "name"; con_id = N; root = "/target/path";
 *   map = ( ( "rel/under/root", "/source/path" ), ... );  ("" = the root)
 *   definition = "<the set in repsets.conf format>";
 *
 * The flow: RESTORE name FROM target [TO host] on the agent that wants the
 * data (the requester) sends a RESTORE frame to the target; the target
 * finds its backup, makes a temporary set of its copy and a temporary
 * connection to the destination (the requester unless TO) with MAP pairs
 * copy -> original path and CONNECT option WIRE_CONNECT_RESTORE, mirrors
 * (missing files only; OVERWRITE: all; NEWER: where its copy is newer;
 * CHECKSUM: differing blocks), then disconnects and forgets both. The
 * requester lets that connection write into its own replication set's
 * paths (which the loop guard otherwise refuses) because it asked for it,
 * and learns it is complete from the DISCONNECT. */
#ifndef DITTO_RESTORE_H
#define DITTO_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct agent;
struct repset;

struct restore_map {
	char *rel; /* relative to root, "" for the root itself */
	char *abs; /* the source path it came from */
};

struct restore_backup {
	char *repset;
	uint32_t con_id;
	char *root;
	char *definition;
	struct restore_map *map;
	size_t nmap;
};

/* The backup text for a set whose roots map to rel paths (rels[i] for
 * roots[i]). Malloc'd, NUL-terminated. */
char *restore_backup_format(const struct repset *rs, uint32_t con_id,
			    const char *root, const char *const *roots,
			    const char *const *rels, size_t n);
/* Parses and checks a backup (paths valid, absolute where they must be).
 * 0, or -1 with err. b is filled (free with restore_backup_free). */
int restore_backup_parse(const char *text, size_t len,
			 struct restore_backup *b, char *err, size_t errlen);
void restore_backup_free(struct restore_backup *b);
/* Finds <dir>/<source>_*.backup for repset (case-insensitive). 0 and b, or
 * -1 with err. */
int restore_backup_find(const char *dir, const char *source,
			const char *repset, struct restore_backup *b,
			char *err, size_t errlen);

/* ---- the requester ---- */
struct restore_request {
	const char *repset;
	const char *from;   /* target host[:port] */
	const char *to;     /* destination host[:port]; NULL: this agent */
	uint32_t options;   /* WIRE_RESTORE_* */
};
int restore_start(struct agent *a, const struct restore_request *r,
		  struct util_buf *msg);
/* 0 running, 1 complete, -1 failed or never asked (why in msg). */
int restore_result(struct agent *a, const char *repset, struct util_buf *msg);
/* The destination side: may peer write set repset's data back here? */
bool restore_expected(struct agent *a, const char *peer, const char *repset);
void restore_session_end(struct agent *a, const char *peer,
			 const char *repset, bool complete, const char *why);
void restore_free_all(struct agent *a);

#endif
