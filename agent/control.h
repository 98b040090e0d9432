/* control — the agent's local control socket: accepts dtcl/dtstat clients,
 * decides their access from the peer's credentials (root and the admin group:
 * everything; the monitor group: read-only; anyone else: refused and logged),
 * frames requests with ctlproto and hands commands to cmd. */
#ifndef DITTO_CONTROL_H
#define DITTO_CONTROL_H

#include <sys/types.h>

#include "ctlproto.h"

struct agent;
struct control;

/* Binds the control socket named by the agent's configuration. Refuses to
 * take over a socket another live agent is answering on. NULL on failure
 * (logged). */
struct control *control_new(struct agent *a);
void control_free(struct control *c);

/* Access for a peer with these credentials under the agent's group names. */
enum ctlproto_access control_access_for(uid_t uid, gid_t gid,
					const char *admin_group,
					const char *monitor_group);

#endif
