/* cmd — the agent-side DTCL commands: one table names each command, whether
 * it needs admin access, and its handler. A handler writes its human-readable
 * output into out and returns the DTCL result (>= 0 success, < 0 error code
 * with the reason in out). */
#ifndef DITTO_CMD_H
#define DITTO_CMD_H

#include <stdint.h>
#include <sys/types.h>

#include "ctlproto.h"
#include "util.h"

struct agent;

/* DTCL result codes (DESIGN.md). */
#define CMD_E_UNKNOWN (-1)
#define CMD_E_PARAM (-101)
#define CMD_E_SYNTAX (-102)
#define CMD_E_NOSOURCE (-103)
#define CMD_E_NOSOURCE_CHOSEN (-104)
#define CMD_E_NOT_IN_SYNC (-105) /* VERIFY: the target's copy differs */

struct cmd_caller {
	enum ctlproto_access access;
	uid_t uid;
	pid_t pid;
};

int64_t cmd_execute(struct agent *a, const struct cmd_caller *who,
		    const struct ctlproto_cmd *cmd, struct util_buf *out);

#endif
