/* capture_host — loads capture plugins (include/ditto/capture.h) and drives
 * them. A plugin is dlopen()ed with RTLD_NOW|RTLD_LOCAL, its single entry
 * symbol is called, and the table it returns is checked (ABI version,
 * struct size, mandatory callbacks) before anything else is touched; a
 * mismatch is refused with a message naming the file, its ABI version and
 * ours.
 *
 * Functions taking err/errlen fill it (NUL-terminated) on failure. Not
 * thread-safe per plugin: one thread drives one loaded plugin. */
#ifndef DITTO_CAPTURE_HOST_H
#define DITTO_CAPTURE_HOST_H

#include <stddef.h>

#include "ditto/capture.h"

struct capture_host_plugin;

/* Loads <dir>/<name>.so. name is a plain word ([A-Za-z0-9_-], as in the
 * capture.plugin key), never a path. 0 or -1. */
int capture_host_load(struct capture_host_plugin **out, const char *dir,
		      const char *name, char *err, size_t errlen);
/* Loads the shared object at path (tests, diagnostics). 0 or -1. */
int capture_host_load_path(struct capture_host_plugin **out,
			   const char *path, char *err, size_t errlen);
/* Closes the instance if open, unloads and frees (NULL is fine). */
void capture_host_unload(struct capture_host_plugin *p);

const char *capture_host_name(const struct capture_host_plugin *p);
const char *capture_host_description(const struct capture_host_plugin *p);
/* The file it came from. */
const char *capture_host_path(const struct capture_host_plugin *p);
const struct ditto_capture_ops *
capture_host_ops(const struct capture_host_plugin *p);

/* Creates the plugin's capture instance. log (may be NULL) receives the
 * plugin's messages with ctx. One instance per loaded plugin: -1 if
 * already open. */
int capture_host_open(struct capture_host_plugin *p,
		      void (*log)(void *ctx, int level, const char *msg),
		      void *ctx, char *err, size_t errlen);
/* Ends the instance (no-op when not open); the plugin stays loaded. */
void capture_host_close(struct capture_host_plugin *p);

/* The callbacks, on the open instance; -1 (errno EBADF) when not open. */
int capture_host_add_root(struct capture_host_plugin *p, const char *path,
			  char *err, size_t errlen);
int capture_host_remove_root(struct capture_host_plugin *p,
			     const char *path);
int capture_host_fd(struct capture_host_plugin *p);
int capture_host_read(struct capture_host_plugin *p,
		      ditto_capture_emit_fn emit, void *ctx);

/* Readable name of an event type ("CREATE", ...; "?" if unknown). */
const char *capture_host_event_name(uint32_t type);

#endif
