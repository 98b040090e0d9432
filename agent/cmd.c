#include "config.h"

#include "cmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "conf.h"
#include "dtlog.h"

struct cmd_def {
	const char *name;
	bool admin; /* false: dtmon members may run it too */
	int64_t (*fn)(struct agent *a, const struct cmd_caller *who,
		      const struct ctlproto_cmd *cmd, struct util_buf *out);
};

static bool arg_is(const struct ctlproto_arg *arg, const char *word)
{
	return arg->type == CTLPROTO_ARG_WORD && util_streq_ci(arg->text, word);
}

/* "… ON machine" names the agent a command is meant for; over the local
 * socket that can only be this agent. Returns the argc before ON, or -1. */
static int strip_on_machine(struct agent *a, const struct ctlproto_cmd *cmd,
			    struct util_buf *out)
{
	size_t n = cmd->argc;
	const char *m;

	if (n < 2 || !arg_is(&cmd->argv[n - 2], "ON"))
		return (int)n;
	m = cmd->argv[n - 1].text;
	if (!util_streq_ci(m, a->conf.agent.name) && strcmp(m, "localhost") &&
	    strcmp(m, "127.0.0.1") && strcmp(m, "::1")) {
		util_buf_printf(out, "ON %s: this is agent %s; name it or use dtcl -s with that agent's control socket\n",
				m, a->conf.agent.name);
		return -1;
	}
	return (int)n - 2;
}

static void fmt_uptime(struct util_buf *out, uint64_t secs)
{
	util_buf_printf(out, "%" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
			secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
}

static const char *access_name(enum ctlproto_access acc)
{
	switch (acc) {
	case CTLPROTO_ACCESS_ADMIN: return "administrator (dtadmin)";
	case CTLPROTO_ACCESS_MONITOR: return "monitor (dtmon, read-only)";
	default: return "none";
	}
}

static int64_t cmd_status(struct agent *a, const struct cmd_caller *who,
			  const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	time_t started = (time_t)(a->start_real_ns / 1000000000ull);
	char when[64];
	struct tm tm;
	int argc = strip_on_machine(a, cmd, out);

	if (argc < 0)
		return CMD_E_PARAM;
	if (argc > 1) {
		/* No connection exists until replication lands (issue 3). */
		util_buf_printf(out, "STATUS %s: no such connection\n", cmd->argv[1].text);
		return CMD_E_PARAM;
	}
	localtime_r(&started, &tm);
	strftime(when, sizeof(when), "%m/%d/%Y %H:%M:%S", &tm);
	util_buf_printf(out, "Agent:           %s\n", a->conf.agent.name);
	util_buf_printf(out, "Version:         %s\n", PACKAGE_VERSION);
	util_buf_printf(out, "Process ID:      %ld\n", (long)getpid());
	util_buf_printf(out, "Started:         %s\n", when);
	util_buf_puts(out, "Uptime:          ");
	fmt_uptime(out, (util_now_mono_ns() - a->start_mono_ns) / 1000000000ull);
	util_buf_puts(out, "\n");
	util_buf_puts(out, "Modules loaded:  control\n");
	util_buf_puts(out, "Source module:   not available in this version\n");
	util_buf_puts(out, "Target module:   not available in this version\n");
	util_buf_printf(out, "Config file:     %s%s\n", a->conf_path,
			access(a->conf_path, F_OK) == 0 ? "" : " (absent: built-in defaults)");
	util_buf_printf(out, "State directory: %s\n", a->conf.agent.state_dir);
	util_buf_printf(out, "Log directory:   %s\n", a->conf.agent.log_dir);
	util_buf_printf(out, "Control socket:  %s\n", a->conf.agent.control_socket);
	util_buf_printf(out, "Your access:     %s\n", access_name(who->access));
	return 1;
}

static int64_t cmd_get(struct agent *a, const struct cmd_caller *who,
		       const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	int argc = strip_on_machine(a, cmd, out);
	const struct conf_keyinfo *k;

	(void)who;
	if (argc < 0)
		return CMD_E_PARAM;
	if (argc == 1) {
		conf_dump(&a->conf, out);
		return 1;
	}
	if (argc != 2) {
		util_buf_puts(out, "usage: GET option [ON machine]\n");
		return CMD_E_SYNTAX;
	}
	k = conf_key_find(cmd->argv[1].text);
	if (!k) {
		util_buf_printf(out, "GET: unknown option %s (GET alone lists them all)\n",
				cmd->argv[1].text);
		return CMD_E_PARAM;
	}
	util_buf_printf(out, "%s = ", k->name);
	conf_get(&a->conf, k->name, out);
	util_buf_puts(out, "\n");
	return 1;
}

static int64_t cmd_set(struct agent *a, const struct cmd_caller *who,
		       const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	int argc = strip_on_machine(a, cmd, out);
	const struct conf_keyinfo *k;
	struct util_buf val;
	char err[512];
	int i;
	int64_t rc = CMD_E_PARAM;

	util_buf_init(&val);
	if (argc < 0)
		goto done;
	if (argc < 4 || cmd->argv[2].type != CTLPROTO_ARG_PUNCT ||
	    strcmp(cmd->argv[2].text, "=")) {
		util_buf_puts(out, "usage: SET option=value [ON machine]\n");
		rc = CMD_E_SYNTAX;
		goto done;
	}
	k = conf_key_find(cmd->argv[1].text);
	if (!k) {
		util_buf_printf(out, "SET: unknown option %s (GET lists them all)\n",
				cmd->argv[1].text);
		goto done;
	}
	/* The DTCL lexer may hand a value over as several adjacent tokens
	 * (a number and a unit); rejoin them as typed. */
	for (i = 3; i < argc; i++)
		util_buf_puts(&val, cmd->argv[i].text);
	if (agent_persist_setting(a, k->name, val.data, err, sizeof(err)) < 0) {
		util_buf_printf(out, "SET %s: %s\n", k->name, err);
		goto done;
	}
	if (k->runtime) {
		if (conf_set(&a->conf, k->name, val.data, err, sizeof(err)) < 0) {
			util_buf_printf(out, "SET %s: %s\n", k->name, err);
			goto done;
		}
		dtlog_reconfigure(a->conf.log.max_length, (unsigned)a->conf.log.max_files);
		util_buf_printf(out, "%s = %s (applied)\n", k->name, val.data);
	} else {
		util_buf_printf(out, "%s = %s (saved; takes effect when dittod restarts)\n",
				k->name, val.data);
	}
	dtlog(DTLOG_INFO, 0, "Option %s set to %s by uid %ld%s", k->name, val.data,
	      (long)who->uid, k->runtime ? "" : " (after restart)");
	rc = 1;
done:
	util_buf_free(&val);
	return rc;
}

static const struct cmd_def cmds[] = {
	{ "STATUS", false, cmd_status },
	{ "GET", false, cmd_get },
	{ "SET", true, cmd_set },
};

int64_t cmd_execute(struct agent *a, const struct cmd_caller *who,
		    const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	size_t i;

	if (cmd->argv[0].type != CTLPROTO_ARG_WORD) {
		util_buf_printf(out, "bad command: %s\n", cmd->argv[0].text);
		return CMD_E_SYNTAX;
	}
	for (i = 0; i < UTIL_ARRAY_SIZE(cmds); i++) {
		if (!util_streq_ci(cmds[i].name, cmd->argv[0].text))
			continue;
		if (cmds[i].admin && who->access != CTLPROTO_ACCESS_ADMIN) {
			util_buf_printf(out, "%s: permission denied: needs root or group %s\n",
					cmds[i].name, a->conf.agent.admin_group);
			dtlog(DTLOG_WARNING, 0, "Command %s refused for read-only uid %ld",
			      cmds[i].name, (long)who->uid);
			return CMD_E_UNKNOWN;
		}
		return cmds[i].fn(a, who, cmd, out);
	}
	util_buf_printf(out, "unknown command %s (HELP lists the commands)\n",
			cmd->argv[0].text);
	return CMD_E_SYNTAX;
}
