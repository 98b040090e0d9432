/* ctlclient — the client end of the control protocol: connect to an agent's
 * control socket, say HELLO, send commands and read their results. */
#ifndef DITTO_CTLCLIENT_H
#define DITTO_CTLCLIENT_H

#include <stdint.h>

#include "ctlproto.h"
#include "util.h"

struct ctlclient {
	int fd;
	uint32_t next_reqid;
	enum ctlproto_access access;
	char *agent_name;
	char *agent_version;
};

/* The control socket to use when none is given: $DITTO_CONTROL_SOCKET, else
 * CTLCLIENT_DEFAULT_SOCKET. */
#define CTLCLIENT_DEFAULT_SOCKET "/run/ditto/ditto.sock"
const char *ctlclient_default_socket(void);
/* Connects and completes the HELLO exchange, naming the client program
 * (e.g. "dtcl") to the agent. On failure returns -1 and a message fit for
 * the user in err. */
int ctlclient_connect(struct ctlclient *c, const char *path, const char *client,
		      char *err, size_t errlen);
/* Sends one command; *rc receives its result and output its text (or the
 * agent's error message). Returns -1 (message in err) when the connection
 * failed, which is different from a command that returned an error. */
int ctlclient_call(struct ctlclient *c, const struct ctlproto_cmd *cmd,
		   int64_t *rc, struct util_buf *output, char *err,
		   size_t errlen);
void ctlclient_close(struct ctlclient *c);

#endif
