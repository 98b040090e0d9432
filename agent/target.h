/* target — the target role: listens on the service port, authenticates
 * sources, and for each connection they open applies its ops strictly in
 * sequence order under the connection's target root, acknowledging
 * cumulatively and persisting the last applied sequence so a restart of
 * either side resumes without loss and without re-applying. */
#ifndef DITTO_TARGET_H
#define DITTO_TARGET_H

#include <stdint.h>

#include "util.h"

struct agent;
struct target;

/* Binds agent.listen. NULL on failure (logged). */
struct target *target_new(struct agent *a);
void target_free(struct target *t);
/* Appends one line per connection this agent receives (STATUS, dtstat). */
void target_status(const struct target *t, struct util_buf *out);
/* STATISTICS TARGET: one record (lib/statrec.h) per connection this agent
 * receives. */
void target_stats(const struct target *t, struct util_buf *out);
/* After a failover for source: each connection it has here becomes Restore
 * Required (a marker per connection in <state>/target), its link if any is
 * closed, and its next CONNECT refused with WIRE_E_RESTORE unless it carries
 * WIRE_CONNECT_OVERWRITE. */
void target_failed_over(struct target *t, const char *source);
/* Ops applied since start, for statistics and tests. */
uint64_t target_ops_applied(const struct target *t);

#endif
