/* plugin_util — what the capture plugins (fanotify, inotify) share: error
 * and log messages, the host check, root paths and the set of roots, and
 * event emission.
 *
 * It is compiled into each plugin module rather than into a library of its
 * own: a plugin is one self-contained .so that the agent dlopen()s, and it
 * exports nothing but its entry point (include/ditto/capture.h). The
 * declarations below are hidden so that holds even if a module is built
 * without -fvisibility=hidden; PLUGIN_EXPORT marks the one exception. */
#ifndef DITTO_PLUGIN_UTIL_H
#define DITTO_PLUGIN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ditto/capture.h"

#define PLUGIN_EXPORT __attribute__((visibility("default")))

#pragma GCC visibility push(hidden)

/* ---- messages ----------------------------------------------------------- */

/* Formats into err (errlen bytes) when there is one: the callbacks' err
 * arguments may be NULL. */
void plugin_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One line to host->log, if the host gave one. */
void plugin_log(const struct ditto_capture_host *host, int level,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* open()'s first check: the host speaks our ABI. 0, or -1 with err
 * ("<who>: host speaks another capture ABI"). */
int plugin_check_host(const struct ditto_capture_host *host, const char *who,
		      char *err, size_t errlen);

/* ---- paths -------------------------------------------------------------- */

/* Is p (plen bytes) r itself or beneath it? */
bool plugin_path_under(const char *p, size_t plen, const char *r,
		       size_t rlen);
/* A root's canonical form (malloc'd): lexical clean-up (duplicate '/', ".",
 * ".."), then symlinks resolved in the part that exists, so roots compare
 * with the resolved paths events carry (e.g. what readlink() reports for
 * a fanotify handle). NULL with errno and err. */
char *plugin_canonicalize(const char *path, char *err, size_t errlen);

/* ---- roots -------------------------------------------------------------- */

/* How a root is named. Each plugin keeps its roots in an array of its own
 * struct whose first member is a struct plugin_root, so the functions below
 * take that array as (roots, n, size) and return the plugin_root of the
 * matching element, which the plugin casts back to its struct. */
struct plugin_root {
	char *path;		/* canonical (plugin_canonicalize) form */
	size_t len;
	char *given;		/* as passed to add_root, for remove_root */
};

/* The root registered as path, in either form, or NULL. */
struct plugin_root *plugin_roots_find(void *roots, size_t n, size_t size,
				      const char *path);
/* remove_root's look-up: path as registered, else canonicalized (another
 * spelling of a root). NULL with errno ENOENT. */
struct plugin_root *plugin_roots_lookup(void *roots, size_t n, size_t size,
					const char *path);
/* add_root's first step: fills *loc for path. 1 when path already is a
 * root (nothing allocated: adding is then a no-op), 0 when *loc is filled
 * (free it with plugin_root_free unless it joins the set), -1 with err
 * (out of memory messages start with who). */
int plugin_root_init(struct plugin_root *loc, void *roots, size_t n,
		     size_t size, const char *path, const char *who,
		     char *err, size_t errlen);
void plugin_root_free(struct plugin_root *loc);

/* ---- emitting ----------------------------------------------------------- */

/* Where read() sends its events, and how many it sent. */
struct plugin_emitter {
	ditto_capture_emit_fn fn;	/* NULL outside read() */
	void *ctx;
	int n;
};

void plugin_emit_begin(struct plugin_emitter *em, ditto_capture_emit_fn fn,
		       void *ctx);
/* After read(): events computed later (e.g. while adding a root) have
 * nobody to go to and are dropped. */
void plugin_emit_end(struct plugin_emitter *em);
void plugin_emit(struct plugin_emitter *em, uint32_t type, uint32_t flags,
		 const char *p, size_t plen);
/* Two paths: RENAME. */
void plugin_emit2(struct plugin_emitter *em, uint32_t type, uint32_t flags,
		  const char *p, size_t plen, const char *p2, size_t p2len);

#pragma GCC visibility pop

#endif
