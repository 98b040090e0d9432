/* repset — replication sets: which data on this source is protected, and by
 * which set. A set is a name, a list of rules and a list of block devices.
 *
 * Rules. A rule is an absolute path, INCLUDE or EXCLUDE, RECURSIVE or
 * NONRECURSIVE. Paths are stored normalised ("//" collapsed, "." dropped, no
 * trailing slash; ".." is refused because it means something else once a
 * symlink is involved) and are at most REPSET_PATH_MAX bytes; any byte but NUL
 * may appear. '*' (any run of bytes, also a leading '.') and '?' (one byte)
 * are wildcards within one component; there is no escape, so a literal '*'
 * in a name is matched by itself and by everything else the pattern matches.
 * The path is split into its literal base (the components before the first
 * component holding a wildcard) and a pattern tail (the rest).
 *
 *   literal, RECURSIVE      the path itself and everything beneath it
 *   literal, NONRECURSIVE   the path itself and its direct children
 *   pattern, NONRECURSIVE   base/t1/.../tk where each name matches its pattern
 *                           (base /data, tail *.db: the .db entries of /data)
 *   pattern, RECURSIVE      below base, any run of k consecutive names that
 *                           matches the tail, at any depth, plus everything
 *                           beneath the match (base /data, tail *.db: every
 *                           .db file under /data; base /home, tail
 *                           *, .cache: every .cache directory below a home
 *                           directory, and its contents)
 *
 * Precedence inside a set (repset_match). Every covering rule has an anchor:
 * the depth of the entry it names (a literal rule: its own path; a pattern:
 * where the shallowest matching run ends). The rule with the deepest anchor
 * decides — the most specific rule wins, so a rule for /var/data/old
 * overrides one for /var/data whatever their types. At equal depth a literal
 * rule beats a pattern (a named entry is more specific), then EXCLUDE beats
 * INCLUDE: with base /data, tail * INCLUDE and tail *.tmp EXCLUDE (both
 * RECURSIVE) the exclusion must still mean something, and replicating less
 * than asked is visible and fixable while data the user carved out (secrets,
 * scratch space) cannot be taken back once it is on the target.
 * As the guide says, a NONRECURSIVE literal rule whose own path is governed
 * by a RECURSIVE rule of the same type is discarded (kept, shown, ignored):
 * /var/data INCLUDE RECURSIVE makes /var/data/old INCLUDE NONRECURSIVE moot.
 * Rules of different types always both apply.
 *
 * Between sets (repset_db_owner). The guide replicates data from one set
 * only. Among the sets that protect a path, the one whose deciding rule is
 * most specific (deepest anchor, then literal over pattern) owns it; a tie
 * goes to the oldest set (creation order, persisted). Devices belong to the
 * oldest set naming them.
 *
 * Generations. A set starts at generation 1; every successful change adds
 * one. A change carries the generation its author last saw and is refused
 * (ESTALE) if the set has moved on, so two consoles cannot silently undo each
 * other's edits; REPSET_GEN_ANY skips the check. Callers log message 99
 * ("RepSet Modified") and advise a difference mirror for connected sets.
 *
 * Threads: nothing here locks. Readers (repset_match from capture) and
 * writers must be serialised by the caller. Paths longer than
 * REPSET_PATH_MAX never match: as in the guide, the caller skips them and
 * logs it (len > REPSET_PATH_MAX tells it why). */
#ifndef DITTO_REPSET_H
#define DITTO_REPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct util_buf;

#define REPSET_NAME_MAX 64	/* [A-Za-z0-9_.-]{1,64}, not "." or ".." */
#define REPSET_PATH_MAX 4095	/* bytes, normalised */
#define REPSET_MAX_SETS 1024
#define REPSET_MAX_RULES 1024	/* per set */
#define REPSET_MAX_DEVICES 256	/* per set */
#define REPSET_GEN_ANY 0	/* expected generation: do not check */

enum repset_rule_type {
	REPSET_INCLUDE,
	REPSET_EXCLUDE,
};

/* A rule as stored; valid until the set is next changed. */
struct repset_rule {
	const char *path;	/* normalised; "/" for the root */
	enum repset_rule_type type;
	bool recursive;
	/* Non-NULL when discarded: the path of the RECURSIVE rule of the same
	 * type that takes precedence. Discarded rules take no part in
	 * matching, roots or overlaps. */
	const char *discarded_by;
};

struct repset;
struct repset_db;

const char *repset_name(const struct repset *rs);
uint64_t repset_generation(const struct repset *rs);
/* Creation order in the registry: smaller is older. */
uint64_t repset_seq(const struct repset *rs);
/* Rules sorted by path, component by component (a directory right before
 * its contents); devices sorted the same way. */
size_t repset_rule_count(const struct repset *rs);
const struct repset_rule *repset_rule_at(const struct repset *rs, size_t i);
size_t repset_device_count(const struct repset *rs);
const char *repset_device_at(const struct repset *rs, size_t i);
bool repset_has_device(const struct repset *rs, const char *dev);

/* Is abs_path (len bytes, need not be NUL-terminated) protected by the set?
 * The path is normalised lexically on the fly (".." pops); relative, NUL-
 * holding or over-long paths are not. No allocation: safe per event. */
bool repset_match(const struct repset *rs, const char *abs_path, size_t len);
/* For tree walks (mirror, verify, calculate): false only when nothing
 * strictly beneath directory dir can be protected, e.g. it lies under a
 * RECURSIVE exclusion that no deeper inclusion reopens. */
bool repset_descend(const struct repset *rs, const char *dir, size_t len);

/* What capture must watch: one entry per directory, RECURSIVE when its whole
 * subtree matters. Minimal: no entry lies beneath a recursive one and no
 * path appears twice. A root may be a file or not exist yet (rules may name
 * either); plugins watch its parent then. Sorted like the rules. */
struct repset_root {
	char *path;
	bool recursive;
};
void repset_roots(const struct repset *rs, struct repset_root **roots,
		  size_t *n);
void repset_db_roots(const struct repset_db *db, struct repset_root **roots,
		     size_t *n);
void repset_roots_free(struct repset_root *roots, size_t n);

/* REPSET DISPLAY: name, generation, rules (discarded ones marked), devices.
 * Paths are quoted with \" \\ \xHH escapes. Appends to out. */
void repset_display(const struct repset *rs, struct util_buf *out);

/* ---- registry ---------------------------------------------------------
 * Functions taking msg/msglen (msg may be NULL) return 0 or -1 with errno:
 * EINVAL bad name/path/argument, ENAMETOOLONG path over REPSET_PATH_MAX,
 * EEXIST duplicate, ENOENT no such set/rule/device, ESTALE generation
 * mismatch, E2BIG a REPSET_MAX_* limit. msg receives the reason on failure
 * and warnings (or "") on success. */
struct repset_db *repset_db_new(void);
void repset_db_free(struct repset_db *db);
/* Sets in creation order; pointers stay valid until the set is deleted or
 * the registry reloaded. */
size_t repset_db_count(const struct repset_db *db);
const struct repset *repset_db_at(const struct repset_db *db, size_t i);
/* Names are unique regardless of case and looked up the same way. */
const struct repset *repset_db_find(const struct repset_db *db,
				    const char *name);
int repset_db_create(struct repset_db *db, const char *name, char *msg,
		     size_t msglen);
/* Refusing to delete a connected set is the caller's job (it knows). */
int repset_db_delete(struct repset_db *db, const char *name,
		     uint64_t expected_generation, char *msg, size_t msglen);

enum repset_op_kind {
	REPSET_OP_RULE_ADD,
	REPSET_OP_RULE_REMOVE,
	REPSET_OP_DEVICE_ADD,
	REPSET_OP_DEVICE_REMOVE,
};
struct repset_op {
	enum repset_op_kind kind;
	const char *path;		/* rule path, or "/dev/..." */
	enum repset_rule_type type;	/* RULE_ADD only */
	bool recursive;			/* RULE_ADD only */
};
/* Applies all ops or none, then adds one to the generation. Refused with
 * ESTALE unless expected_generation is the set's current one (or
 * REPSET_GEN_ANY). A rule path must be new to the set (one rule per path;
 * remove it to change it). Warnings: a rule added or made discarded, an
 * inclusion overlapping another set. */
int repset_modify(struct repset_db *db, const char *name,
		  uint64_t expected_generation, const struct repset_op *ops,
		  size_t nops, char *msg, size_t msglen);
/* One-op shorthands for the DTCL commands. */
int repset_db_rule_add(struct repset_db *db, const char *name,
		       uint64_t expected_generation, const char *path,
		       enum repset_rule_type type, bool recursive, char *msg,
		       size_t msglen);
int repset_db_rule_remove(struct repset_db *db, const char *name,
			  uint64_t expected_generation, const char *path,
			  char *msg, size_t msglen);
int repset_db_device_add(struct repset_db *db, const char *name,
			 uint64_t expected_generation, const char *dev,
			 char *msg, size_t msglen);
int repset_db_device_remove(struct repset_db *db, const char *name,
			    uint64_t expected_generation, const char *dev,
			    char *msg, size_t msglen);

/* The one set that replicates path (see the top of this file), or NULL. */
const struct repset *repset_db_owner(const struct repset_db *db,
				     const char *path, size_t len);
/* A set that protects dir or anything beneath it, or NULL: a target path
 * for which this returns a set would feed changes back into replication. */
const struct repset *repset_db_reaches(const struct repset_db *db,
				       const char *dir, size_t len);
const struct repset *repset_db_device_owner(const struct repset_db *db,
					    const char *dev);
/* Pairs of inclusions in different sets that may cover a common path, and
 * devices named by two sets: one warning line each appended to out (may be
 * NULL). Returns the number of pairs. */
size_t repset_db_overlaps(const struct repset_db *db, struct util_buf *out);
/* REPSET LIST: one line per set, creation order. */
void repset_db_list(const struct repset_db *db, struct util_buf *out);

/* ---- persistence ------------------------------------------------------
 * A strict line format, "ditto-repsets 1" first; '#' comments:
 *   repset NAME seq N generation N
 *   rule include|exclude recursive|nonrecursive "PATH"
 *   device "PATH"
 *   end
 * Save writes a temporary file, fsyncs it, renames it over path and fsyncs
 * the directory: a crash leaves the old or the new file, never a mix.
 * Load replaces db's contents only when the whole input is valid; otherwise
 * db is untouched and err holds "file:line: reason". */
void repset_db_format(const struct repset_db *db, struct util_buf *out);
/* One set in the same format (no header): a restore's backup definition. */
void repset_format_one(const struct repset *rs, struct util_buf *out);
/* Adds set name from text (the format above, with its header) to db. -1
 * with err when the text is invalid, lacks the set, or db has it already. */
int repset_db_import(struct repset_db *db, const char *text, size_t len,
		     const char *name, char *err, size_t errlen);
int repset_db_save(const struct repset_db *db, const char *path);
int repset_db_parse(struct repset_db *db, const char *data, size_t len,
		    const char *srcname, char *err, size_t errlen);
int repset_db_load(struct repset_db *db, const char *path, char *err,
		   size_t errlen);

#endif
