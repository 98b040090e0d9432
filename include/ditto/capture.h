/* ditto/capture.h — the capture plugin ABI.
 *
 * A capture plugin is a shared object that tells the agent which paths
 * changed. It exports exactly one symbol, DITTO_CAPTURE_ENTRY:
 *
 *	const struct ditto_capture_ops *ditto_capture_plugin(void);
 *
 * which returns a pointer to a `static const` table (never NULL, the same
 * table on every call). The agent dlopen()s the plugin, calls the entry,
 * and refuses the plugin unless abi_version == DITTO_CAPTURE_ABI_VERSION and
 * struct_size >= the sizeof(struct ditto_capture_ops) it was built with.
 *
 * Versioning: abi_version and struct_size stay the first two members of
 * both tables forever, so they can be read from any plugin. Members are
 * only ever appended; an appended member does not change
 * DITTO_CAPTURE_ABI_VERSION (struct_size tells who has it). Any other
 * change (a changed type, meaning or order) bumps the version and old
 * plugins are refused.
 *
 * Events are hints, not a journal: each names a path and what happened to
 * it; the agent reads the path's current state when it handles the event.
 * Consequences the agent must accept:
 *  - an event may name a path that no longer exists (or is of another type
 *    by now): that is never an error;
 *  - events may be duplicated (e.g. a CREATE found by a directory scan and
 *    reported again by the kernel);
 *  - events are never dropped silently: whenever a plugin cannot tell what
 *    changed under a path it emits OVERFLOW for it, and the agent resyncs
 *    that subtree (a difference mirror);
 *  - events for one path keep their order. When the kernel merged several
 *    changes of one object into one notification, their order is lost and
 *    the plugin emits them as MOVED_FROM, DELETE, CREATE, MOVED_TO, MODIFY,
 *    ATTRIB, CLOSE_WRITE: removals first and appearances after, which gives
 *    the right end state when the agent checks that a path exists before
 *    acting on an appearance.
 *
 * Roots: the agent registers absolute paths, normally directories; a root
 * may also be a file or not exist yet (it is then watched through its
 * nearest existing ancestor). A root is resolved like realpath(3) when
 * added (the part that exists) and events use resolved paths, so a root
 * given through a symlink is reported under its target; remove_root takes
 * either form. Every event concerns a path equal to or beneath a root.
 * Capture covers the root's own filesystem only: a filesystem mounted
 * beneath a root is not watched (register it as a root of its own). Roots
 * form a set: adding one twice is a no-op, and nested roots are allowed (an
 * event under both is emitted once). Capture watches a root's whole
 * subtree; the agent filters with its own rules.
 *
 * Threads: one plugin state is driven by one thread at a time; distinct
 * states (open() twice) are independent. emit must not call back into the
 * plugin.
 */
#ifndef DITTO_CAPTURE_H
#define DITTO_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#define DITTO_CAPTURE_ABI_VERSION 1u
/* Name of the single exported symbol, for dlsym(). */
#define DITTO_CAPTURE_ENTRY "ditto_capture_plugin"

/* ---- events ------------------------------------------------------------ */

enum ditto_capture_event_type {
	/* path was created: a file, directory, symlink, device node, FIFO,
	 * socket, or a new hard link to an existing file. A new directory
	 * means only "mkdir": entries created in it are reported by events of
	 * their own (plugins that must scan a new directory report what they
	 * find as CREATE, plus CLOSE_WRITE for non-empty regular files). */
	DITTO_CAPTURE_CREATE = 1,
	/* path was unlinked or (IS_DIR) removed */
	DITTO_CAPTURE_DELETE = 2,
	/* data of regular file path changed; the writer may still have it
	 * open, more MODIFY or a CLOSE_WRITE follow */
	DITTO_CAPTURE_MODIFY = 3,
	/* path was closed after being opened for writing: its data is a good
	 * candidate to ship now */
	DITTO_CAPTURE_CLOSE_WRITE = 4,
	/* metadata of path changed: mode, owner, timestamps, xattrs (ACLs) */
	DITTO_CAPTURE_ATTRIB = 5,
	/* path was renamed to path2, both beneath the roots. For a directory
	 * the whole subtree moved with it. */
	DITTO_CAPTURE_RENAME = 6,
	/* path was renamed to somewhere outside the roots (or the plugin could
	 * not pair the two sides): for the agent, a removal of path */
	DITTO_CAPTURE_MOVED_FROM = 7,
	/* path appeared by a rename from outside the roots (or unpaired): for
	 * the agent, a new subtree to resync as a whole */
	DITTO_CAPTURE_MOVED_TO = 8,
	/* events were lost under path (a root, or a directory beneath one):
	 * the agent must resync that whole subtree */
	DITTO_CAPTURE_OVERFLOW = 9,
	/* path is a root that no longer exists as a directory: it, or one of
	 * its ancestors, was deleted or moved away, or (inotify) its
	 * filesystem was unmounted. Emitted after the DELETE or MOVED_FROM
	 * that caused it, if any. The root stays registered: if it appears
	 * again, that is reported like any change (CREATE or MOVED_TO of the
	 * root or of an ancestor) and capture carries on. */
	DITTO_CAPTURE_ROOT_GONE = 10,
};

/* The object is (was) a directory. Set on CREATE, DELETE, ATTRIB, RENAME,
 * MOVED_FROM, MOVED_TO when the plugin knows; clear otherwise. */
#define DITTO_CAPTURE_IS_DIR 0x1u

struct ditto_capture_event {
	uint32_t type;		/* enum ditto_capture_event_type */
	uint32_t flags;		/* DITTO_CAPTURE_IS_DIR */
	/* Absolute path, no trailing '/', no "." or ".." components,
	 * symlinks in the directories leading to it resolved; NUL-terminated
	 * and path_len bytes long (excluding the NUL). Always set. */
	const char *path;
	size_t path_len;
	/* RENAME only: the new path, same form as path. NULL and 0
	 * otherwise. */
	const char *path2;
	size_t path2_len;
};

/* Called by read() once per event. ev and the strings it points to are
 * valid only during the call: copy what you keep. */
typedef void (*ditto_capture_emit_fn)(void *ctx,
				      const struct ditto_capture_event *ev);

/* ---- what the agent gives the plugin ----------------------------------- */

enum ditto_capture_log_level {
	DITTO_CAPTURE_LOG_ERROR = 0,
	DITTO_CAPTURE_LOG_WARNING = 1,
	DITTO_CAPTURE_LOG_INFO = 2,
	DITTO_CAPTURE_LOG_DEBUG = 3,
};

struct ditto_capture_host {
	uint32_t abi_version;	/* DITTO_CAPTURE_ABI_VERSION of the agent */
	uint32_t struct_size;	/* sizeof(struct ditto_capture_host) there */
	/* Log one message: level is a ditto_capture_log_level, msg one line
	 * without a trailing newline, valid during the call only. May be
	 * NULL (the plugin then stays silent). Called only from inside the
	 * plugin's callbacks, on the caller's thread. */
	void (*log)(void *ctx, int level, const char *msg);
	void *ctx;		/* passed back to log */
};

/* ---- the plugin's table ------------------------------------------------ */

struct ditto_capture_ops {
	uint32_t abi_version;	/* DITTO_CAPTURE_ABI_VERSION */
	uint32_t struct_size;	/* sizeof(struct ditto_capture_ops) */
	const char *name;	/* short name, e.g. "fanotify"; static */
	const char *description;/* one line for humans; static */

	/* Creates a capture instance in *state. host (and what it points to)
	 * must stay valid until close(). Returns 0, or -1 with a one-line
	 * reason in err (always NUL-terminated when errlen > 0), e.g. a
	 * missing capability, so the agent can log it and try another
	 * plugin. */
	int (*open)(void **state, const struct ditto_capture_host *host,
		    char *err, size_t errlen);
	/* Starts capture beneath absolute path. Returns 0, or -1 with the
	 * reason in err; a failed add leaves nothing behind. Events for
	 * changes made after a successful return are guaranteed; the agent
	 * mirrors what was there before. */
	int (*add_root)(void *state, const char *path, char *err,
			size_t errlen);
	/* Stops capture beneath path (as given to add_root). 0, or -1 when
	 * path is not a root. Events already queued for it may still be
	 * emitted by the next read(). */
	int (*remove_root)(void *state, const char *path);
	/* A file descriptor that becomes readable (EPOLLIN) when read() has
	 * work; owned by the plugin, stable from open() to close(). */
	int (*get_fd)(void *state);
	/* Drains what is ready, calling emit for each event, and returns
	 * without blocking: the number of events emitted (>= 0), or -1 when
	 * capture itself broke (logged through host->log). */
	int (*read)(void *state, ditto_capture_emit_fn emit, void *ctx);
	/* Stops capture and frees state (NULL is fine). */
	void (*close)(void *state);
};

/* The entry point each plugin defines (and exports alone). */
typedef const struct ditto_capture_ops *(*ditto_capture_entry_fn)(void);
const struct ditto_capture_ops *ditto_capture_plugin(void);

#endif
