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
#include "repset.h"
#include "restore.h"
#include "monitor.h"
#include "source.h"
#include "tbucket.h"
#include "wire.h"
#include "target.h"
#include "transmit.h"

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

static int parse_con_id(const struct ctlproto_arg *arg, uint32_t *id,
			struct util_buf *out)
{
	uint64_t v;

	if (util_parse_u64(arg->text, &v) < 0 || v == 0 || v > UINT32_MAX) {
		util_buf_printf(out, "%s is not a connection ID\n", arg->text);
		return -1;
	}
	*id = (uint32_t)v;
	return 0;
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
		uint32_t id;

		if (parse_con_id(&cmd->argv[1], &id, out) < 0)
			return CMD_E_PARAM;
		return source_status(a->source, id, out) < 0 ? CMD_E_PARAM : 1;
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
	util_buf_puts(out, "Modules loaded:  control, source, target\n");
	util_buf_printf(out, "Service address: %s\n", a->conf.agent.listen.text);
	util_buf_printf(out, "Replication sets: %zu\n", repset_db_count(a->repsets));
	monitors_status(a->monitors, out);
	util_buf_printf(out, "Config file:     %s%s\n", a->conf_path,
			access(a->conf_path, F_OK) == 0 ? "" : " (absent: built-in defaults)");
	util_buf_printf(out, "State directory: %s\n", a->conf.agent.state_dir);
	util_buf_printf(out, "Log directory:   %s\n", a->conf.agent.log_dir);
	util_buf_printf(out, "Control socket:  %s\n", a->conf.agent.control_socket);
	util_buf_printf(out, "Your access:     %s\n", access_name(who->access));
	source_list(a->source, out);
	target_status(a->target, out);
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

static int64_t repset_changed(struct agent *a, int rc, const char *msg,
			      const char *name, struct util_buf *out)
{
	char err[512];

	if (rc < 0) {
		util_buf_printf(out, "REPSET: %s\n", msg);
		return CMD_E_PARAM;
	}
	if (msg[0])
		util_buf_printf(out, "%s\n", msg);
	if (agent_save_repsets(a, err, sizeof(err)) < 0) {
		util_buf_printf(out, "REPSET: %s\n", err);
		return CMD_E_UNKNOWN;
	}
	if (name) {
		dtlog(DTLOG_INFO, 99, "RepSet Modified: %s", name);
		if (source_repset_busy(a->source, name))
			util_buf_printf(out, "%s is connected: run a difference mirror (MIRROR START) so the target matches the new rules\n", name);
	}
	return 1;
}

static int64_t cmd_repset(struct agent *a, const struct cmd_caller *who,
			  const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	size_t n = cmd->argc;
	char msg[1024] = "";
	const struct repset *rs;
	int rc;

	if (n >= 2 && !arg_is(&v[1], "LIST") && !arg_is(&v[1], "DISPLAY") &&
	    who->access != CTLPROTO_ACCESS_ADMIN) {
		util_buf_printf(out, "REPSET: permission denied: changing replication sets needs root or group %s\n",
				a->conf.agent.admin_group);
		return CMD_E_UNKNOWN;
	}
	if (n >= 2 && arg_is(&v[1], "LIST") && n == 2) {
		repset_db_list(a->repsets, out);
		if (!repset_db_count(a->repsets))
			util_buf_puts(out, "No replication sets.\n");
		return 1;
	}
	if (n == 2 && arg_is(&v[1], "SAVE")) {
		/* Every change is saved as it is made; SAVE confirms it. */
		return repset_changed(a, 0, "", NULL, out);
	}
	if (n == 3 && arg_is(&v[1], "CREATE")) {
		rc = repset_db_create(a->repsets, v[2].text, msg, sizeof(msg));
		return repset_changed(a, rc, msg, NULL, out);
	}
	if (n == 3 && arg_is(&v[1], "DELETE")) {
		if (source_repset_busy(a->source, v[2].text)) {
			util_buf_printf(out, "REPSET DELETE: %s is connected; DISCONNECT it first\n", v[2].text);
			return CMD_E_PARAM;
		}
		rc = repset_db_delete(a->repsets, v[2].text, REPSET_GEN_ANY, msg, sizeof(msg));
		return repset_changed(a, rc, msg, NULL, out);
	}
	if (n == 3 && arg_is(&v[1], "DISPLAY")) {
		rs = repset_db_find(a->repsets, v[2].text);
		if (!rs) {
			util_buf_printf(out, "REPSET DISPLAY: no replication set %s\n", v[2].text);
			return CMD_E_PARAM;
		}
		repset_display(rs, out);
		return 1;
	}
	/* REPSET RULE ADD "path" INCLUDE|EXCLUDE [RECURSIVE|NONRECURSIVE] TO name */
	if (n >= 7 && arg_is(&v[1], "RULE") && arg_is(&v[2], "ADD") &&
	    arg_is(&v[n - 2], "TO")) {
		enum repset_rule_type type;
		bool rec = true;

		if (arg_is(&v[4], "INCLUDE"))
			type = REPSET_INCLUDE;
		else if (arg_is(&v[4], "EXCLUDE"))
			type = REPSET_EXCLUDE;
		else
			goto usage;
		if (n == 8 && arg_is(&v[5], "NONRECURSIVE"))
			rec = false;
		else if (n == 8 && !arg_is(&v[5], "RECURSIVE"))
			goto usage;
		else if (n != 7 && n != 8)
			goto usage;
		rc = repset_db_rule_add(a->repsets, v[n - 1].text, REPSET_GEN_ANY, v[3].text,
					type, rec, msg, sizeof(msg));
		return repset_changed(a, rc, msg, v[n - 1].text, out);
	}
	if (n == 6 && arg_is(&v[1], "RULE") && arg_is(&v[2], "REMOVE") && arg_is(&v[4], "FROM")) {
		rc = repset_db_rule_remove(a->repsets, v[5].text, REPSET_GEN_ANY, v[3].text,
					   msg, sizeof(msg));
		return repset_changed(a, rc, msg, v[5].text, out);
	}
	if (n == 6 && arg_is(&v[1], "DEVICE") && arg_is(&v[2], "ADD") && arg_is(&v[4], "TO")) {
		rc = repset_db_device_add(a->repsets, v[5].text, REPSET_GEN_ANY, v[3].text,
					  msg, sizeof(msg));
		return repset_changed(a, rc, msg, v[5].text, out);
	}
usage:
	util_buf_puts(out, "usage: REPSET CREATE name | DELETE name | LIST | DISPLAY name | SAVE\n"
			   "       REPSET RULE ADD \"path\" INCLUDE|EXCLUDE [RECURSIVE|NONRECURSIVE] TO name\n"
			   "       REPSET RULE REMOVE \"path\" FROM name\n"
			   "       REPSET DEVICE ADD \"/dev/...\" TO name\n");
	return CMD_E_SYNTAX;
}

static int parse_mirror_type(const struct ctlproto_arg *a, enum source_mirror_type *t)
{
	if (arg_is(a, "FULL"))
		*t = SOURCE_MIRROR_FULL;
	else if (arg_is(a, "DIFFERENT") || arg_is(a, "DIFFERENCE"))
		*t = SOURCE_MIRROR_DIFFERENT;
	else if (arg_is(a, "CHECKSUM"))
		*t = SOURCE_MIRROR_CHECKSUM;
	else
		return -1;
	return 0;
}

/* CONNECT name TO target [MAP EXACT | MAP BASE "dir" | MAP "src" TO "dst" [, ...]]
 *         [NOMIRROR] [NOREPLICATE] [MIRROR FULL|DIFFERENT|CHECKSUM [NEWER]] */
static int64_t cmd_connect(struct agent *a, const struct cmd_caller *who,
			   const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	struct source_connect_req req;
	size_t n = cmd->argc, i = 4, np = 0;
	int64_t rc = CMD_E_SYNTAX;
	int id;

	(void)who;
	memset(&req, 0, sizeof(req));
	req.mirror = true;
	req.replicate = true;
	if (n < 4 || !arg_is(&v[2], "TO"))
		goto usage;
	req.repset = v[1].text;
	req.target = v[3].text;
	req.pairs = util_xcalloc(n, sizeof(*req.pairs));
	if (i < n && arg_is(&v[i], "MAP")) {
		i++;
		if (i < n && arg_is(&v[i], "EXACT")) {
			req.map = SOURCE_MAP_EXACT;
			i++;
		} else if (i + 1 < n && arg_is(&v[i], "BASE")) {
			req.map = SOURCE_MAP_BASE;
			req.base = v[i + 1].text;
			i += 2;
		} else {
			req.map = SOURCE_MAP_PAIRS;
			for (;;) {
				if (i + 2 >= n || v[i].type != CTLPROTO_ARG_STRING ||
				    !arg_is(&v[i + 1], "TO") || v[i + 2].type != CTLPROTO_ARG_STRING)
					goto usage;
				req.pairs[np].src = (char *)v[i].text;
				req.pairs[np].dst = (char *)v[i + 2].text;
				np++;
				i += 3;
				if (i < n && v[i].type == CTLPROTO_ARG_PUNCT && !strcmp(v[i].text, ","))
					i++;
				else
					break;
			}
			req.npairs = np;
		}
	}
	for (; i < n; i++) {
		if (arg_is(&v[i], "NOMIRROR"))
			req.mirror = false;
		else if (arg_is(&v[i], "NOREPLICATE"))
			req.replicate = false;
		else if (arg_is(&v[i], "MIRROR") && i + 1 < n &&
			 parse_mirror_type(&v[i + 1], &req.mirror_opts.type) == 0)
			i++;
		else if (arg_is(&v[i], "NEWER"))
			req.mirror_opts.newer = true;
		else
			goto usage;
	}
	id = source_connect(a->source, &req, out);
	rc = id < 0 ? CMD_E_PARAM : id;
	goto done;
usage:
	util_buf_puts(out, "usage: CONNECT name TO target[:port] [MAP EXACT | MAP BASE \"dir\" | MAP \"src\" TO \"dst\" [, ...]]\n"
			   "               [NOMIRROR] [NOREPLICATE] [MIRROR FULL|DIFFERENT|CHECKSUM [NEWER]]\n");
done:
	free(req.pairs);
	return rc;
}

static int64_t cmd_disconnect(struct agent *a, const struct cmd_caller *who,
			      const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	uint32_t id;

	(void)who;
	if (cmd->argc != 2) {
		util_buf_puts(out, "usage: DISCONNECT con_id\n");
		return CMD_E_SYNTAX;
	}
	if (parse_con_id(&cmd->argv[1], &id, out) < 0)
		return CMD_E_PARAM;
	return source_disconnect(a->source, id, out) < 0 ? CMD_E_PARAM : 1;
}

static int64_t cmd_connections(struct agent *a, const struct cmd_caller *who,
			       const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	(void)who;
	(void)cmd;
	source_list(a->source, out);
	return 1;
}

/* MIRROR START con_id [FULL|DIFFERENT|CHECKSUM] [NEWER] [CALCULATE]
 * MIRROR STOP|PAUSE|RESUME con_id */
static int64_t cmd_mirror(struct agent *a, const struct cmd_caller *who,
			  const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	struct source_mirror_opts o;
	uint32_t id;
	size_t i;

	(void)who;
	if (cmd->argc < 3)
		goto usage;
	if (parse_con_id(&v[2], &id, out) < 0)
		return CMD_E_PARAM;
	if (arg_is(&v[1], "START")) {
		memset(&o, 0, sizeof(o));
		o.type = SOURCE_MIRROR_FULL;
		for (i = 3; i < cmd->argc; i++) {
			if (parse_mirror_type(&v[i], &o.type) == 0)
				continue;
			if (arg_is(&v[i], "NEWER"))
				o.newer = true;
			else if (arg_is(&v[i], "CALCULATE"))
				o.calculate = true;
			else
				goto usage;
		}
		return source_mirror_start(a->source, id, &o, out) < 0 ? CMD_E_PARAM : 1;
	}
	if (cmd->argc != 3)
		goto usage;
	if (arg_is(&v[1], "STOP"))
		return source_mirror_ctl(a->source, id, SOURCE_MIRROR_STOP, out) < 0 ? CMD_E_PARAM : 1;
	if (arg_is(&v[1], "PAUSE"))
		return source_mirror_ctl(a->source, id, SOURCE_MIRROR_PAUSE, out) < 0 ? CMD_E_PARAM : 1;
	if (arg_is(&v[1], "RESUME"))
		return source_mirror_ctl(a->source, id, SOURCE_MIRROR_RESUME, out) < 0 ? CMD_E_PARAM : 1;
usage:
	util_buf_puts(out, "usage: MIRROR START con_id [FULL|DIFFERENT|CHECKSUM] [NEWER] [CALCULATE]\n"
			   "       MIRROR STOP|PAUSE|RESUME con_id\n");
	return CMD_E_SYNTAX;
}

/* WAITONMIRROR con_id: 1 when no mirror runs, 0 while one does (dtcl
 * waits, as for WAITONQUEUE). */
static int64_t cmd_waitonmirror(struct agent *a, const struct cmd_caller *who,
				const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	uint32_t id;
	int rc;

	(void)who;
	if (cmd->argc < 2 || cmd->argc > 3) {
		util_buf_puts(out, "usage: WAITONMIRROR con_id [timeout_seconds]\n");
		return CMD_E_SYNTAX;
	}
	if (parse_con_id(&cmd->argv[1], &id, out) < 0)
		return CMD_E_PARAM;
	rc = source_mirror_idle(a->source, id, out);
	return rc < 0 ? CMD_E_PARAM : rc;
}

static int parse_verify_opts(const struct ctlproto_arg *v, size_t from, size_t n,
			     struct source_verify_opts *o, bool *nowait)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	for (i = from; i < n; i++) {
		if (arg_is(&v[i], "REMIRROR"))
			o->remirror = true;
		else if (arg_is(&v[i], "NEWER"))
			o->newer = true;
		else if (arg_is(&v[i], "CHECKSUM"))
			o->checksum = true;
		else if (nowait && arg_is(&v[i], "NOWAIT"))
			*nowait = true;
		else
			return -1;
	}
	return 0;
}

/* VERIFY con_id [REMIRROR] [NEWER] [CHECKSUM] [NOWAIT]: starts (admin);
 * VERIFY RESULT con_id: 0 running, 1 in sync, -105 differences;
 * VERIFY SCHEDULE con_id "cron" [REMIRROR] [NEWER] [CHECKSUM] | NONE.
 * dtcl waits on RESULT after a start, so the agent never blocks. */
static int64_t cmd_verify(struct agent *a, const struct cmd_caller *who,
			  const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	struct source_verify_opts o;
	bool nowait = false;
	uint32_t id;
	int rc;

	if (cmd->argc < 2)
		goto usage;
	if (arg_is(&v[1], "RESULT")) {
		if (cmd->argc != 3)
			goto usage;
		if (parse_con_id(&v[2], &id, out) < 0)
			return CMD_E_PARAM;
		rc = source_verify_result(a->source, id, out);
		return rc == 2 ? CMD_E_NOT_IN_SYNC : rc < 0 ? CMD_E_UNKNOWN : rc;
	}
	if (who->access != CTLPROTO_ACCESS_ADMIN) {
		util_buf_printf(out, "VERIFY: permission denied: needs root or group %s\n",
				a->conf.agent.admin_group);
		return CMD_E_UNKNOWN;
	}
	if (arg_is(&v[1], "SCHEDULE")) {
		if (cmd->argc < 4)
			goto usage;
		if (parse_con_id(&v[2], &id, out) < 0)
			return CMD_E_PARAM;
		if (cmd->argc == 4 && arg_is(&v[3], "NONE"))
			return source_verify_schedule(a->source, id, NULL, NULL, out) < 0 ? CMD_E_PARAM : 1;
		if (v[3].type != CTLPROTO_ARG_STRING || parse_verify_opts(v, 4, cmd->argc, &o, NULL) < 0)
			goto usage;
		return source_verify_schedule(a->source, id, v[3].text, &o, out) < 0 ? CMD_E_PARAM : 1;
	}
	if (parse_con_id(&v[1], &id, out) < 0)
		return CMD_E_PARAM;
	if (parse_verify_opts(v, 2, cmd->argc, &o, &nowait) < 0)
		goto usage;
	return source_verify_start(a->source, id, &o, out) < 0 ? CMD_E_PARAM : 1;
usage:
	util_buf_puts(out, "usage: VERIFY con_id [REMIRROR] [NEWER] [CHECKSUM] [NOWAIT]\n"
			   "       VERIFY RESULT con_id\n"
			   "       VERIFY SCHEDULE con_id \"cron expression\" [REMIRROR] [NEWER] [CHECKSUM] | NONE\n");
	return CMD_E_SYNTAX;
}

/* ORPHANS START|STOP con_id
 * ORPHANS SET con_id OFF|LOG|DELETE|MOVE "dir" [OLDER n MINUTES|HOURS|DAYS] */
static int64_t cmd_orphans(struct agent *a, const struct cmd_caller *who,
			   const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	struct source_orphans_opts o;
	size_t i = 4, n = cmd->argc;
	uint32_t id;

	(void)who;
	if (n < 3)
		goto usage;
	if (parse_con_id(&v[2], &id, out) < 0)
		return CMD_E_PARAM;
	if (n == 3 && (arg_is(&v[1], "START") || arg_is(&v[1], "STOP")))
		return source_orphans_run(a->source, id, arg_is(&v[1], "START"), out) < 0 ? CMD_E_PARAM : 1;
	if (!arg_is(&v[1], "SET") || n < 4)
		goto usage;
	memset(&o, 0, sizeof(o));
	if (arg_is(&v[3], "OFF"))
		o.action = SOURCE_ORPHANS_OFF;
	else if (arg_is(&v[3], "LOG"))
		o.action = SOURCE_ORPHANS_LOG;
	else if (arg_is(&v[3], "DELETE"))
		o.action = SOURCE_ORPHANS_DELETE;
	else if (arg_is(&v[3], "MOVE") && n > 4 && v[4].type == CTLPROTO_ARG_STRING) {
		o.action = SOURCE_ORPHANS_MOVE;
		o.move_dir = v[4].text;
		i = 5;
	} else {
		goto usage;
	}
	if (i < n) {
		int64_t k;
		uint64_t unit;

		if (n != i + 3 || !arg_is(&v[i], "OLDER") || util_parse_i64(v[i + 1].text, &k) < 0 || k <= 0)
			goto usage;
		if (arg_is(&v[i + 2], "MINUTES") || arg_is(&v[i + 2], "MINUTE"))
			unit = 60;
		else if (arg_is(&v[i + 2], "HOURS") || arg_is(&v[i + 2], "HOUR"))
			unit = 3600;
		else if (arg_is(&v[i + 2], "DAYS") || arg_is(&v[i + 2], "DAY"))
			unit = 86400;
		else
			goto usage;
		o.min_age_s = (uint64_t)k * unit;
	}
	return source_orphans_set(a->source, id, &o, out) < 0 ? CMD_E_PARAM : 1;
usage:
	util_buf_puts(out, "usage: ORPHANS START|STOP con_id\n"
			   "       ORPHANS SET con_id OFF|LOG|DELETE|MOVE \"dir\" [OLDER n MINUTES|HOURS|DAYS]\n");
	return CMD_E_SYNTAX;
}

/* `NAME = "value"` at v[i]: the value's index, or 0 if it is not there. */
static size_t named_string(const struct ctlproto_arg *v, size_t i, size_t n, const char *name)
{
	if (i + 2 < n && arg_is(&v[i], name) && v[i + 1].type == CTLPROTO_ARG_PUNCT &&
	    !strcmp(v[i + 1].text, "=") && v[i + 2].type == CTLPROTO_ARG_STRING)
		return i + 2;
	return 0;
}

/* SCRIPT ADD con_id MIRRORSTART|MIRRORSTOP|MIRRORCOMPLETE="path" [ARGS="..."]
 * SCRIPT REMOVE con_id MIRRORSTART|MIRRORSTOP|MIRRORCOMPLETE */
static int64_t cmd_script(struct agent *a, const struct cmd_caller *who,
			  const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	size_t n = cmd->argc, p, x = 0;
	uint32_t id;

	(void)who;
	if (n < 4 || v[3].type != CTLPROTO_ARG_WORD)
		goto usage;
	if (parse_con_id(&v[2], &id, out) < 0)
		return CMD_E_PARAM;
	if (arg_is(&v[1], "REMOVE") && n == 4)
		return source_script_set(a->source, id, v[3].text, NULL, NULL, out) < 0 ? CMD_E_PARAM : 1;
	if (!arg_is(&v[1], "ADD") || !(p = named_string(v, 3, n, v[3].text)))
		goto usage;
	if (n != 6 && !(n == 9 && (x = named_string(v, 6, n, "ARGS"))))
		goto usage;
	return source_script_set(a->source, id, v[3].text, v[p].text, x ? v[x].text : NULL, out) < 0 ?
	       CMD_E_PARAM : 1;
usage:
	util_buf_puts(out, "usage: SCRIPT ADD con_id MIRRORSTART|MIRRORSTOP|MIRRORCOMPLETE=\"path\" [ARGS=\"args\"]\n"
			   "       SCRIPT REMOVE con_id MIRRORSTART|MIRRORSTOP|MIRRORCOMPLETE\n");
	return CMD_E_SYNTAX;
}

/* MONITOR CREATE source [ON target] | SELECT source | ADDRESS "ip" [ADAPTER "dev"] [UNMONITORED]
 * | INTERVAL ms | MISSED n | MANUAL ON|OFF | ITEMS MONITORED|ALL
 * | SCRIPT PREFAILOVER|POSTFAILOVER|PREFAILBACK|POSTFAILBACK "path" [DELAY]
 * | START|STOP|REMOVE source | LIST */
static int64_t cmd_monitor(struct agent *a, const struct cmd_caller *who,
			   const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	static const char *const scripts[] = { "PREFAILOVER", "POSTFAILOVER", "PREFAILBACK", "POSTFAILBACK" };
	const struct ctlproto_arg *v = cmd->argv;
	int n = strip_on_machine(a, cmd, out), rc;
	int64_t k;

	if (n < 0)
		return CMD_E_PARAM;
	if (n < 2)
		goto usage;
	if (arg_is(&v[1], "LIST") && n == 2) {
		monitors_list(a->monitors, out);
		return 1;
	}
	if (who->access != CTLPROTO_ACCESS_ADMIN) {
		util_buf_printf(out, "MONITOR: permission denied: needs root or group %s\n", a->conf.agent.admin_group);
		return CMD_E_UNKNOWN;
	}
	if (n == 3 && arg_is(&v[1], "CREATE"))
		rc = monitors_create(a->monitors, v[2].text, out);
	else if (n == 3 && arg_is(&v[1], "SELECT"))
		rc = monitors_select(a->monitors, v[2].text, out);
	else if (n == 3 && (arg_is(&v[1], "START") || arg_is(&v[1], "STOP")))
		rc = monitors_start(a->monitors, v[2].text, arg_is(&v[1], "START"), out);
	else if (n == 3 && arg_is(&v[1], "REMOVE"))
		rc = monitors_remove(a->monitors, v[2].text, out);
	else if ((n == 3 || (n == 5 && arg_is(&v[3], "ADDRESS"))) && arg_is(&v[1], "INTERVAL") &&
		 util_parse_i64(v[2].text, &k) == 0)
		rc = monitors_interval(a->monitors, k, n == 5 ? v[4].text : NULL, out);
	else if ((n == 3 || (n == 5 && arg_is(&v[3], "ADDRESS"))) && arg_is(&v[1], "MISSED") &&
		 util_parse_i64(v[2].text, &k) == 0)
		rc = monitors_missed(a->monitors, k, n == 5 ? v[4].text : NULL, out);
	else if (n == 3 && arg_is(&v[1], "MANUAL") && (arg_is(&v[2], "ON") || arg_is(&v[2], "OFF")))
		rc = monitors_manual(a->monitors, arg_is(&v[2], "ON"), out);
	else if (n == 3 && arg_is(&v[1], "ITEMS") && (arg_is(&v[2], "MONITORED") || arg_is(&v[2], "ALL")))
		rc = monitors_items(a->monitors, arg_is(&v[2], "ALL"), out);
	else if (arg_is(&v[1], "ADDRESS") && n >= 3) {
		const char *adapter = NULL;
		bool monitored = true;
		int i = 3;

		if (i + 1 < n && arg_is(&v[i], "ADAPTER")) {
			adapter = v[i + 1].text;
			i += 2;
		}
		if (i < n && arg_is(&v[i], "UNMONITORED")) {
			monitored = false;
			i++;
		}
		if (i != n)
			goto usage;
		rc = monitors_address(a->monitors, v[2].text, adapter, monitored, out);
	} else if (arg_is(&v[1], "SCRIPT") && n >= 4 && v[3].type == CTLPROTO_ARG_STRING) {
		int64_t timeout = -1;
		bool delay = false;
		size_t w;
		int i;

		for (w = 0; w < UTIL_ARRAY_SIZE(scripts) && !arg_is(&v[2], scripts[w]); w++)
			;
		if (w == UTIL_ARRAY_SIZE(scripts))
			goto usage;
		for (i = 4; i < n; i++) {
			if (arg_is(&v[i], "DELAY"))
				delay = true;
			else if (arg_is(&v[i], "TIMEOUT") && i + 1 < n && util_parse_i64(v[i + 1].text, &timeout) == 0 &&
				 timeout >= 0)
				i++;
			else
				goto usage;
		}
		rc = monitors_script(a->monitors, (enum monitor_script)w, v[3].text, delay, timeout, out);
	} else {
		goto usage;
	}
	return rc < 0 ? CMD_E_PARAM : 1;
usage:
	util_buf_puts(out, "usage: MONITOR CREATE source [ON target] | MONITOR SELECT source\n"
			   "       MONITOR ADDRESS \"ip[/prefix]\" ADAPTER \"dev\" [UNMONITORED]\n"
			   "       MONITOR INTERVAL ms [ADDRESS \"ip\"] | MONITOR MISSED n [ADDRESS \"ip\"]\n"
			   "       MONITOR MANUAL ON|OFF | MONITOR ITEMS MONITORED|ALL\n"
			   "       MONITOR SCRIPT PREFAILOVER|POSTFAILOVER|PREFAILBACK|POSTFAILBACK \"path\" [DELAY] [TIMEOUT s]\n"
			   "       MONITOR START|STOP|REMOVE source | MONITOR LIST\n");
	return CMD_E_SYNTAX;
}

/* FAILOVER source [ON target] | FAILBACK source [STOP|CONTINUE] [ON target] */
static int64_t cmd_failover(struct agent *a, const struct cmd_caller *who,
			    const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	bool back = arg_is(&v[0], "FAILBACK");
	int n = strip_on_machine(a, cmd, out);

	(void)who;
	if (n < 0)
		return CMD_E_PARAM;
	if (!back && n == 2)
		return monitors_failover(a->monitors, v[1].text, out) < 0 ? CMD_E_PARAM : 1;
	if (back && (n == 2 || (n == 3 && (arg_is(&v[2], "STOP") || arg_is(&v[2], "CONTINUE")))))
		return monitors_failback(a->monitors, v[1].text, !(n == 3 && arg_is(&v[2], "STOP")), out) < 0 ?
		       CMD_E_PARAM : 1;
	util_buf_printf(out, "usage: %s\n", back ? "FAILBACK source [STOP|CONTINUE] [ON target]" :
			"FAILOVER source [ON target]");
	return CMD_E_SYNTAX;
}

/* The agent answers at once whether the queue is drained (1) or not (0);
 * dtcl repeats the question until it is or the caller's timeout passes, so
 * no control request ever blocks the agent. */
static int64_t cmd_waitonqueue(struct agent *a, const struct cmd_caller *who,
			       const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	uint32_t id;
	int rc;

	(void)who;
	if (cmd->argc < 2 || cmd->argc > 3) {
		util_buf_puts(out, "usage: WAITONQUEUE con_id [timeout_seconds]\n");
		return CMD_E_SYNTAX;
	}
	if (parse_con_id(&cmd->argv[1], &id, out) < 0)
		return CMD_E_PARAM;
	rc = source_queue_drained(a->source, id, out);
	return rc < 0 ? CMD_E_PARAM : rc;
}

/* RESTORE name FROM target [TO host[:port]] [OVERWRITE] [NEWER] [CHECKSUM]
 *         [BACKUPSET] [NOWAIT]  (admin)
 * RESTORE RESULT name: 0 running, 1 complete, -1 failed. dtcl waits. */
static int64_t cmd_restore(struct agent *a, const struct cmd_caller *who,
			   const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	struct restore_request r;
	size_t i;

	if (cmd->argc == 3 && arg_is(&v[1], "RESULT")) {
		int rc = restore_result(a, v[2].text, out);

		return rc < 0 ? CMD_E_UNKNOWN : rc;
	}
	if (who->access != CTLPROTO_ACCESS_ADMIN) {
		util_buf_printf(out, "RESTORE: permission denied: needs root or group %s\n",
				a->conf.agent.admin_group);
		return CMD_E_UNKNOWN;
	}
	if (cmd->argc < 4 || !arg_is(&v[2], "FROM"))
		goto usage;
	memset(&r, 0, sizeof(r));
	r.repset = v[1].text;
	r.from = v[3].text;
	for (i = 4; i < cmd->argc; i++) {
		if (arg_is(&v[i], "TO") && i + 1 < cmd->argc)
			r.to = v[++i].text;
		else if (arg_is(&v[i], "OVERWRITE"))
			r.options |= WIRE_RESTORE_OVERWRITE;
		else if (arg_is(&v[i], "NEWER"))
			r.options |= WIRE_RESTORE_NEWER;
		else if (arg_is(&v[i], "CHECKSUM"))
			r.options |= WIRE_RESTORE_CHECKSUM;
		else if (arg_is(&v[i], "BACKUPSET"))
			r.options |= WIRE_RESTORE_BACKUPSET;
		else if (!arg_is(&v[i], "NOWAIT"))
			goto usage;
	}
	return restore_start(a, &r, out) < 0 ? CMD_E_PARAM : 1;
usage:
	util_buf_puts(out, "usage: RESTORE name FROM target[:port] [TO source[:port]] [OVERWRITE] [NEWER] [CHECKSUM] [BACKUPSET] [NOWAIT]\n"
			   "       RESTORE RESULT name\n");
	return CMD_E_SYNTAX;
}

/* COMPRESSION con_id NONE|LZ4|ZSTD [level] */
static int64_t cmd_compression(struct agent *a, const struct cmd_caller *who,
			       const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	size_t n = cmd->argc;
	enum wire_comp comp;
	int level = WIRE_ZSTD_LEVEL_DEFAULT;
	uint32_t id;

	(void)who;
	if (n < 3 || n > 4)
		goto usage;
	if (parse_con_id(&v[1], &id, out) < 0)
		return CMD_E_PARAM;
	if (arg_is(&v[2], "NONE"))
		comp = WIRE_COMP_NONE;
	else if (arg_is(&v[2], "LZ4"))
		comp = WIRE_COMP_LZ4;
	else if (arg_is(&v[2], "ZSTD"))
		comp = WIRE_COMP_ZSTD;
	else {
		util_buf_printf(out, "COMPRESSION: unknown method %s (NONE, LZ4 or ZSTD)\n", v[2].text);
		return CMD_E_PARAM;
	}
	if (n == 4) {
		int64_t k;

		if (comp != WIRE_COMP_ZSTD) {
			util_buf_printf(out, "COMPRESSION: only ZSTD takes a level\n");
			return CMD_E_PARAM;
		}
		if (util_parse_i64(v[3].text, &k) < 0 || k < WIRE_ZSTD_LEVEL_MIN || k > WIRE_ZSTD_LEVEL_MAX) {
			util_buf_printf(out, "COMPRESSION: zstd level %s is not a number from %d to %d\n",
					v[3].text, WIRE_ZSTD_LEVEL_MIN, WIRE_ZSTD_LEVEL_MAX);
			return CMD_E_PARAM;
		}
		level = (int)k;
	}
	return source_compression_set(a->source, id, comp, level, out) < 0 ? CMD_E_PARAM : 1;
usage:
	util_buf_puts(out, "usage: COMPRESSION con_id NONE|LZ4|ZSTD [level 1..19, default 3]\n");
	return CMD_E_SYNTAX;
}

/* LIMIT BANDWIDTH con_id bytes_per_second|NONE: K, M, G suffixes are
 * powers of 1024 (util_parse_size), as for the queue sizes. */
static int64_t cmd_limit(struct agent *a, const struct cmd_caller *who,
			 const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	uint64_t limit = 0;
	uint32_t id;

	(void)who;
	if (cmd->argc != 4 || !arg_is(&v[1], "BANDWIDTH"))
		goto usage;
	if (parse_con_id(&v[2], &id, out) < 0)
		return CMD_E_PARAM;
	if (!arg_is(&v[3], "NONE") &&
	    (util_parse_size(v[3].text, &limit) < 0 || limit == 0 || limit > TBUCKET_RATE_MAX)) {
		util_buf_printf(out, "LIMIT BANDWIDTH: %s is not a rate from 1 to %" PRIu64 " bytes per second (K, M, G: times 1024) or NONE\n",
				v[3].text, TBUCKET_RATE_MAX);
		return CMD_E_PARAM;
	}
	return source_bandwidth_set(a->source, id, limit, out) < 0 ? CMD_E_PARAM : 1;
usage:
	util_buf_puts(out, "usage: LIMIT BANDWIDTH con_id bytes_per_second|NONE (e.g. 2000000, 512K, 10M)\n");
	return CMD_E_SYNTAX;
}

/* TRANSMIT START|STOP|PAUSE|RESUME con_id */
static int64_t cmd_transmit(struct agent *a, const struct cmd_caller *who,
			    const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	static const char *const words[] = { "START", "STOP", "PAUSE", "RESUME" };
	const struct ctlproto_arg *v = cmd->argv;
	uint32_t id;
	size_t i;

	(void)who;
	if (cmd->argc != 3)
		goto usage;
	for (i = 0; i < UTIL_ARRAY_SIZE(words) && !arg_is(&v[1], words[i]); i++)
		;
	if (i == UTIL_ARRAY_SIZE(words))
		goto usage;
	if (parse_con_id(&v[2], &id, out) < 0)
		return CMD_E_PARAM;
	return source_transmit(a->source, id, (enum source_transmit)i, out) < 0 ? CMD_E_PARAM : 1;
usage:
	util_buf_puts(out, "usage: TRANSMIT START|STOP|PAUSE|RESUME con_id\n");
	return CMD_E_SYNTAX;
}

/* REPLICATION START|STOP con_id */
static int64_t cmd_replication(struct agent *a, const struct cmd_caller *who,
			       const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	uint32_t id;

	(void)who;
	if (cmd->argc != 3 || (!arg_is(&v[1], "START") && !arg_is(&v[1], "STOP"))) {
		util_buf_puts(out, "usage: REPLICATION START|STOP con_id\n");
		return CMD_E_SYNTAX;
	}
	if (parse_con_id(&v[2], &id, out) < 0)
		return CMD_E_PARAM;
	return source_replication(a->source, id, arg_is(&v[1], "START"), out) < 0 ? CMD_E_PARAM : 1;
}

/* PAUSETARGET target / RESUMETARGET target */
static int64_t cmd_pausetarget(struct agent *a, const struct cmd_caller *who,
			       const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	bool pause = arg_is(&cmd->argv[0], "PAUSETARGET");

	(void)who;
	if (cmd->argc != 2) {
		util_buf_printf(out, "usage: %s target[:port]\n", pause ? "PAUSETARGET" : "RESUMETARGET");
		return CMD_E_SYNTAX;
	}
	return source_pause_target(a->source, cmd->argv[1].text, pause, out) < 0 ? CMD_E_PARAM : 1;
}

/* "n %" (DTCL passes the '%' as its own argument), "n PERCENT" or a quoted
 * "n%" at v: the percent, 1..100, and how many arguments it took. */
static int parse_percent(const struct ctlproto_arg *v, size_t n, unsigned *pct, size_t *used)
{
	char num[32];
	uint64_t k;
	size_t len = strlen(v[0].text);

	if (len >= sizeof(num))
		return -1;
	memcpy(num, v[0].text, len + 1);
	if (n >= 2 && (!strcmp(v[1].text, "%") || arg_is(&v[1], "PERCENT"))) {
		*used = 2;
	} else if (len && num[len - 1] == '%') {
		num[len - 1] = '\0';
		*used = 1;
	} else {
		return -1;
	}
	if (util_parse_u64(num, &k) < 0 || k < 1 || k > 100)
		return -1;
	*pct = (unsigned)k;
	return 0;
}

/* SCHEDULE con_id [START "date time" [EVERY n MINUTES|HOURS|DAYS] |
 *   THRESHOLD n% | THRESHOLD n BYTES | STOP AFTER n MINUTES|HOURS|DAYS|BYTES |
 *   WINDOW "hh:mm" "hh:mm" | CLEAR [START|THRESHOLD|STOP|WINDOW] | ENABLE | DISABLE] */
static int64_t cmd_schedule(struct agent *a, const struct cmd_caller *who,
			    const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	const struct ctlproto_arg *v = cmd->argv;
	size_t n = cmd->argc, used;
	struct transmit_sched sc;
	char err[256];
	uint64_t k;
	uint32_t id;

	if (n < 2)
		goto usage;
	if (parse_con_id(&v[1], &id, out) < 0)
		return CMD_E_PARAM;
	if (source_schedule_get(a->source, id, &sc, out) < 0)
		return CMD_E_PARAM;
	if (n == 2) {
		if (source_status_schedule(a->source, id, out) < 0)
			return CMD_E_PARAM;
		return 1;
	}
	if (who->access != CTLPROTO_ACCESS_ADMIN) {
		util_buf_printf(out, "SCHEDULE: permission denied: needs root or group %s\n",
				a->conf.agent.admin_group);
		return CMD_E_UNKNOWN;
	}
	if (arg_is(&v[2], "START") && (n == 4 || n == 7)) {
		if (transmit_parse_datetime(v[3].text, &sc.start, err, sizeof(err)) < 0)
			goto bad;
		sc.every = 0;
		if (n == 7) {
			if (!arg_is(&v[4], "EVERY"))
				goto usage;
			if (util_parse_u64(v[5].text, &k) < 0) {
				snprintf(err, sizeof(err), "%s is not a number", v[5].text);
				goto bad;
			}
			if (transmit_parse_span(k, v[6].text, &sc.every, err, sizeof(err)) < 0)
				goto bad;
		}
	} else if (arg_is(&v[2], "THRESHOLD") && (n == 4 || n == 5)) {
		if (n == 5 && arg_is(&v[4], "BYTES")) {
			if (util_parse_size(v[3].text, &k) < 0 || k == 0) {
				snprintf(err, sizeof(err), "%s is not a number of bytes (K, M, G: times 1024)", v[3].text);
				goto bad;
			}
			sc.threshold_bytes = k;
		} else if (parse_percent(&v[3], n - 3, &sc.threshold_pct, &used) < 0 || 3 + used != n) {
			snprintf(err, sizeof(err), "THRESHOLD takes n%% (1..100), n PERCENT or n BYTES");
			goto bad;
		}
	} else if (arg_is(&v[2], "STOP") && n == 6 && arg_is(&v[3], "AFTER")) {
		if (arg_is(&v[5], "BYTES")) {
			if (util_parse_size(v[4].text, &k) < 0 || k == 0) {
				snprintf(err, sizeof(err), "%s is not a number of bytes (K, M, G: times 1024)", v[4].text);
				goto bad;
			}
			sc.stop_bytes = k;
		} else {
			if (util_parse_u64(v[4].text, &k) < 0) {
				snprintf(err, sizeof(err), "%s is not a number", v[4].text);
				goto bad;
			}
			if (transmit_parse_span(k, v[5].text, &sc.stop_secs, err, sizeof(err)) < 0)
				goto bad;
		}
	} else if (arg_is(&v[2], "WINDOW") && n == 5) {
		if (transmit_parse_hhmm(v[3].text, &sc.win_open, err, sizeof(err)) < 0 ||
		    transmit_parse_hhmm(v[4].text, &sc.win_close, err, sizeof(err)) < 0)
			goto bad;
		if (sc.win_open == sc.win_close) {
			snprintf(err, sizeof(err), "the window opens and closes at the same time");
			goto bad;
		}
	} else if (arg_is(&v[2], "CLEAR") && (n == 3 || n == 4)) {
		struct transmit_sched none;

		transmit_sched_init(&none);
		none.enabled = sc.enabled;
		if (n == 3)
			sc = none;
		else if (arg_is(&v[3], "START"))
			sc.start = 0, sc.every = 0;
		else if (arg_is(&v[3], "THRESHOLD"))
			sc.threshold_pct = 0, sc.threshold_bytes = 0;
		else if (arg_is(&v[3], "STOP"))
			sc.stop_secs = 0, sc.stop_bytes = 0;
		else if (arg_is(&v[3], "WINDOW"))
			sc.win_open = sc.win_close = -1;
		else
			goto usage;
	} else if ((arg_is(&v[2], "ENABLE") || arg_is(&v[2], "DISABLE")) && n == 3) {
		sc.enabled = arg_is(&v[2], "ENABLE");
	} else {
		goto usage;
	}
	return source_schedule_set(a->source, id, &sc, out) < 0 ? CMD_E_PARAM : 1;
bad:
	util_buf_printf(out, "SCHEDULE: %s\n", err);
	return CMD_E_PARAM;
usage:
	util_buf_puts(out, "usage: SCHEDULE con_id [START \"yyyy-mm-dd hh:mm\" [EVERY n MINUTES|HOURS|DAYS]\n"
			   "       | THRESHOLD n% | THRESHOLD n BYTES | STOP AFTER n MINUTES|HOURS|DAYS|BYTES\n"
			   "       | WINDOW \"hh:mm\" \"hh:mm\" | CLEAR [START|THRESHOLD|STOP|WINDOW] | ENABLE | DISABLE]\n");
	return CMD_E_SYNTAX;
}

/* STATISTICS [con_id] | STATISTICS TARGET: the records of lib/statrec.h,
 * for dtstat and scripts (read-only: dtmon may). */
static int64_t cmd_statistics(struct agent *a, const struct cmd_caller *who,
			      const struct ctlproto_cmd *cmd, struct util_buf *out)
{
	int argc = strip_on_machine(a, cmd, out);
	uint32_t id = 0;

	(void)who;
	if (argc < 0)
		return CMD_E_PARAM;
	if (argc > 2) {
		util_buf_puts(out, "usage: STATISTICS [con_id | TARGET] [ON machine]\n");
		return CMD_E_SYNTAX;
	}
	if (argc == 2 && arg_is(&cmd->argv[1], "TARGET")) {
		target_stats(a->target, out);
		return 1;
	}
	if (argc == 2 && parse_con_id(&cmd->argv[1], &id, out) < 0)
		return CMD_E_PARAM;
	return source_stats(a->source, id, out) < 0 ? CMD_E_PARAM : 1;
}

static const struct cmd_def cmds[] = {
	{ "STATUS", false, cmd_status },
	{ "STATISTICS", false, cmd_statistics },
	{ "GET", false, cmd_get },
	{ "SET", true, cmd_set },
	{ "REPSET", false, cmd_repset }, /* LIST/DISPLAY read-only, the rest checks */
	{ "CONNECT", true, cmd_connect },
	{ "DISCONNECT", true, cmd_disconnect },
	{ "CONNECTIONS", false, cmd_connections },
	{ "MIRROR", true, cmd_mirror },
	{ "WAITONQUEUE", false, cmd_waitonqueue },
	{ "WAITONMIRROR", false, cmd_waitonmirror },
	{ "VERIFY", false, cmd_verify }, /* RESULT read-only, the rest checks */
	{ "ORPHANS", true, cmd_orphans },
	{ "COMPRESSION", true, cmd_compression },
	{ "LIMIT", true, cmd_limit },
	{ "TRANSMIT", true, cmd_transmit },
	{ "REPLICATION", true, cmd_replication },
	{ "PAUSETARGET", true, cmd_pausetarget },
	{ "RESUMETARGET", true, cmd_pausetarget },
	{ "SCHEDULE", false, cmd_schedule }, /* showing is read-only, the rest checks */
	{ "SCRIPT", true, cmd_script },
	{ "MONITOR", false, cmd_monitor }, /* LIST read-only, the rest checks */
	{ "FAILOVER", true, cmd_failover },
	{ "FAILBACK", true, cmd_failover },
	{ "RESTORE", false, cmd_restore }, /* RESULT read-only, the rest checks */
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
