#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "ctlclient.h"
#include "ctlproto.h"
#include "dtcl_eval.h"
#include "util.h"

struct session {
	const char *sock_path;
	struct ctlclient cli;
	bool connected;
	bool quit;
};

struct help_entry {
	const char *name;
	const char *usage;
	const char *text;
};

/* Commands that dtcl itself carries out are marked "(local)". */
static const struct help_entry help[] = {
	{ "STATUS", "STATUS [con_id] [ON machine]",
	  "Agent name, version, uptime, modules, paths and your access level." },
	{ "STATISTICS", "STATISTICS [con_id | TARGET] [ON machine]",
	  "The connections' statistics for programs: one \"name<TAB>value\" line each, a blank line after each connection (see dtstat(1), which shows them). TARGET: the connections this agent receives." },
	{ "GET", "GET [option] [ON machine]",
	  "Shows an option (ditto.conf key such as queue.memory); alone, all of them." },
	{ "SET", "SET option=value [ON machine]",
	  "Changes an option and saves it in the state directory; some take effect only after a restart. Needs dtadmin." },
	{ "REPSET", "REPSET CREATE name | DELETE name | LIST | DISPLAY name | SAVE",
	  "Replication sets. Rules: REPSET RULE ADD \"path\" INCLUDE|EXCLUDE [RECURSIVE|NONRECURSIVE] TO name; "
	  "REPSET RULE REMOVE \"path\" FROM name; REPSET DEVICE ADD \"/dev/...\" TO name. Changes are saved at once." },
	{ "CONNECT", "CONNECT name TO target[:port] [MAP EXACT | MAP BASE \"dir\" | MAP \"src\" TO \"dst\" [, ...]] [NOMIRROR] [NOREPLICATE] [MIRROR FULL|DIFFERENT|CHECKSUM [NEWER]]",
	  "Connects a replication set to a target agent; returns the connection ID. Without MAP the target path is /<source>/<set>/<path>. A mirror (full unless said) runs first unless NOMIRROR; its type is also used for remirrors." },
	{ "DISCONNECT", "DISCONNECT con_id", "Removes a connection and drops what it still had queued." },
	{ "CONNECTIONS", "CONNECTIONS", "Lists the connections." },
	{ "MIRROR", "MIRROR START con_id [FULL|DIFFERENT|CHECKSUM] [NEWER] [CALCULATE] | MIRROR STOP|PAUSE|RESUME con_id",
	  "Mirrors the connection's set: FULL sends every file, DIFFERENT files whose size or time differ, CHECKSUM only the blocks whose checksums differ; NEWER only where the source is newer; CALCULATE sizes the set first so STATUS shows percent complete. PAUSE keeps the place, STOP drops it." },
	{ "WAITONMIRROR", "WAITONMIRROR con_id [timeout]",
	  "Returns once no mirror runs on the connection (1), or -1 after timeout seconds." },
	{ "VERIFY", "VERIFY con_id [REMIRROR] [NEWER] [CHECKSUM] [NOWAIT] | VERIFY RESULT con_id | VERIFY SCHEDULE con_id \"cron\" [options] | NONE",
	  "Compares the target's copy with the source (metadata, or block checksums with CHECKSUM), writes \"<set> DTVerify.log\" in the log directory and returns 1 when in sync, -105 when not; REMIRROR sends what differs (NEWER: only where the source is newer). SCHEDULE runs it on a cron expression." },
	{ "RESTORE", "RESTORE name FROM target [TO source] [OVERWRITE] [NEWER] [CHECKSUM] [BACKUPSET] [NOWAIT] | RESTORE RESULT name",
	  "Brings the target's copy of a replication set back here (or TO another agent): only files missing here unless OVERWRITE; NEWER: where the copy is newer; CHECKSUM: only differing blocks. BACKUPSET also recreates the set's definition from the target's backup. Waits until done (1) unless NOWAIT." },
	{ "ORPHANS", "ORPHANS START|STOP con_id | ORPHANS SET con_id OFF|LOG|DELETE|MOVE \"dir\" [OLDER n MINUTES|HOURS|DAYS]",
	  "Orphans are files on the target the source does not have. SET says what mirrors and verifications do with them (MOVE: to a directory beneath the target path); START looks for them now." },
	{ "COMPRESSION", "COMPRESSION con_id NONE|LZ4|ZSTD [level]",
	  "Compresses the replication data sent to the connection's target: LZ4 (fast) or ZSTD with a level from 1 to 19 (default 3). The setting belongs to the target address: every connection of this source to the same host and port gets it, and keeps it across restarts. A batch that does not shrink goes plain. STATUS con_id shows the setting and the bytes sent before and after compression." },
	{ "LIMIT", "LIMIT BANDWIDTH con_id bytes_per_second|NONE",
	  "Limits the replication data sent on the connection to this many bytes per second on the wire (after compression), held within about 5 % in each second; K, M and G multiply by 1024 (512K, 10M). Data waits in the queue meanwhile. NONE removes the limit. Takes effect at once and is kept across restarts; STATUS con_id shows the limit and the send rate of the last second." },
	{ "TRANSMIT", "TRANSMIT START|STOP|PAUSE|RESUME con_id",
	  "PAUSE holds the connection's data in the queue with the link kept, RESUME lets it go; STOP also closes the link and keeps it closed (across restarts too) until START. START on a scheduled connection runs a session now, which ends like a scheduled one." },
	{ "REPLICATION", "REPLICATION START|STOP con_id",
	  "STOP: changes to the set are no longer queued for the connection (mirrors still run); START: they are again, and a difference mirror sends what changed meanwhile. Kept across restarts." },
	{ "PAUSETARGET", "PAUSETARGET target[:port]",
	  "Pauses every connection of this source to that target: Pause Pending while ops already sent are applied, then Paused; new data queues here. Kept across restarts." },
	{ "RESUMETARGET", "RESUMETARGET target[:port]", "Ends a PAUSETARGET: what queued goes." },
	{ "SCHEDULE", "SCHEDULE con_id [START \"yyyy-mm-dd hh:mm[:ss]\" [EVERY n MINUTES|HOURS|DAYS] | THRESHOLD n % | THRESHOLD n BYTES | STOP AFTER n MINUTES|HOURS|DAYS|BYTES | WINDOW \"hh:mm\" \"hh:mm\" | CLEAR [START|THRESHOLD|STOP|WINDOW] | ENABLE | DISABLE]",
	  "Scheduled transmission, shared by every connection to the same target: data waits in the queue until a start criterion (the start time, repeated EVERY; the queue reaching a share of its capacity or a number of bytes) is met inside the window (local time; a window alone lets data go while it is open), then goes until the queue is empty, a stop criterion is met or the window closes (events 81, 82). Checked every second; DISABLE keeps the settings; alone it shows them." },
	{ "SCRIPT", "SCRIPT ADD con_id MIRRORSTART|MIRRORSTOP|MIRRORCOMPLETE=\"path\" [ARGS=\"args\"] | SCRIPT REMOVE con_id event",
	  "Runs a program on the source when a mirror of the connection starts, is stopped or ends without completing, or completes (the target applied it all). The program must be root's (or the agent user's) and not writable by others; ARGS are split at blanks, no shell; DITTO_* variables describe the mirror." },
	{ "MONITOR", "MONITOR CREATE source [ON target] | SELECT source | ADDRESS \"ip[/prefix]\" ADAPTER \"dev\" [UNMONITORED] | INTERVAL ms [ADDRESS \"ip\"] | MISSED n [ADDRESS \"ip\"] | MANUAL ON|OFF | ITEMS MONITORED|ALL | SCRIPT PREFAILOVER|POSTFAILOVER|PREFAILBACK \"path\" [DELAY] [TIMEOUT s] | START|STOP|REMOVE source | LIST",
	  "Failover, on the target: watch a source agent (by its name) with authenticated UDP heartbeats to its addresses; after MISSED heartbeats of INTERVAL ms missed it has failed: with MANUAL ON (the default) FAILOVER is awaited, else the target takes its addresses over at once. LIST shows each address's time to fail (green, yellow, red)." },
	{ "FAILOVER", "FAILOVER source [ON target]",
	  "Stands in for the source: PREFAILOVER script, its addresses added to their adapters and announced (gratuitous ARP), POSTFAILOVER script; its connections here become Restore Required." },
	{ "FAILBACK", "FAILBACK source [STOP|CONTINUE] [ON target]",
	  "Gives the addresses back: PREFAILBACK script, addresses removed; monitoring goes on (or STOP). Then bring the data home with RESTORE on the source." },
	{ "WAITONQUEUE", "WAITONQUEUE con_id [timeout]",
	  "Returns once everything queued so far on the connection is applied on the target (1), or -1 after timeout seconds." },
	{ "HELP", "HELP [command]", "(local) Lists the commands or explains one." },
	{ "SLEEP", "SLEEP seconds", "(local) Waits." },
	{ "EXIT", "EXIT", "(local) Leaves the console or ends the script." },
	{ "WRITE", "WRITE expr[, expr ...]", "Prints values." },
	{ "IF", "IF expr THEN ... [ELSE ...] END", "Runs a block when expr is true (non-zero or non-empty)." },
	{ "WHILE", "WHILE expr DO ... END", "Repeats a block while expr is true." },
	{ "FOR", "FOR $i = a TO b DO ... END", "Repeats a block for $i from a to b." },
	{ "$", "$name = expr", "Assigns a variable; $c = STATUS keeps a command's result." },
};

static int64_t cmd_help(const struct dtcl_cmd *cmd)
{
	size_t i;

	if (cmd->argc > 1) {
		for (i = 0; i < UTIL_ARRAY_SIZE(help); i++) {
			if (util_streq_ci(help[i].name, cmd->argv[1].text)) {
				printf("%s\n  %s\n", help[i].usage, help[i].text);
				return 1;
			}
		}
		fprintf(stderr, "HELP: no command %s\n", cmd->argv[1].text);
		return -101;
	}
	printf("Commands (keywords are case-insensitive; ; or a new line ends a statement):\n");
	for (i = 0; i < UTIL_ARRAY_SIZE(help); i++)
		printf("  %s\n", help[i].usage);
	printf("Results: >= 0 success; -1 unknown error, -101 invalid parameter,\n"
	       "-102 bad command or syntax, -103 no source module, -104 no source chosen,\n"
	       "-105 verification found differences.\n");
	return 1;
}

static int64_t cmd_sleep(const struct dtcl_cmd *cmd)
{
	struct timespec ts;
	int64_t secs;

	if (cmd->argc != 2 || util_parse_i64(cmd->argv[1].text, &secs) < 0 || secs < 0) {
		fprintf(stderr, "usage: SLEEP seconds\n");
		return -101;
	}
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = 0;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 1;
}

static int64_t remote(struct session *s, const struct dtcl_cmd *cmd)
{
	struct ctlproto_cmd pc;
	struct util_buf out;
	char err[512];
	int64_t rc = -1;
	size_t i;

	if (!s->connected) {
		if (ctlclient_connect(&s->cli, s->sock_path, "dtcl", err, sizeof(err)) < 0) {
			fprintf(stderr, "dtcl: %s\n", err);
			return -1;
		}
		s->connected = true;
	}
	pc.argc = cmd->argc;
	pc.argv = util_xcalloc(cmd->argc, sizeof(*pc.argv));
	for (i = 0; i < cmd->argc; i++) {
		/* The two enums list the same kinds in the same order. */
		pc.argv[i].type = (enum ctlproto_argtype)cmd->argv[i].type;
		pc.argv[i].text = (char *)cmd->argv[i].text;
	}
	util_buf_init(&out);
	if (ctlclient_call(&s->cli, &pc, &rc, &out, err, sizeof(err)) < 0) {
		fprintf(stderr, "dtcl: %s\n", err);
		ctlclient_close(&s->cli);
		s->connected = false;
		rc = -1;
	} else if (out.len) {
		fputs(out.data, rc < 0 ? stderr : stdout);
	}
	fflush(stdout);
	util_buf_free(&out);
	free(pc.argv);
	return rc;
}

/* Repeats probe until the agent answers non-zero or timeout seconds (< 0:
 * none) pass: the agent answers every question at once, so waiting happens
 * here and never blocks it. */
static int64_t poll_agent(struct session *s, const struct dtcl_cmd *probe, int64_t timeout,
			  const char *what)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	uint64_t deadline = util_now_mono_ns() + (uint64_t)(timeout < 0 ? 0 : timeout) * 1000000000ull;
	int64_t rc;

	for (;;) {
		rc = remote(s, probe);
		if (rc != 0)
			return rc;
		if (timeout >= 0 && util_now_mono_ns() >= deadline) {
			fprintf(stderr, "%s: timed out after %" PRId64 " s\n", what, timeout);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
}

/* WAITONQUEUE|WAITONMIRROR con_id [timeout]. */
static int64_t cmd_wait(struct session *s, const struct dtcl_cmd *cmd)
{
	struct dtcl_cmd probe = *cmd;
	int64_t timeout = -1;
	char what[96];

	if (cmd->argc == 3 && (util_parse_i64(cmd->argv[2].text, &timeout) < 0 || timeout < 0)) {
		fprintf(stderr, "usage: %s con_id [timeout_seconds]\n", cmd->argv[0].text);
		return -101;
	}
	if (cmd->argc == 3)
		probe.argc = 2;
	snprintf(what, sizeof(what), "%s %s", cmd->argv[0].text, cmd->argv[1].text);
	return poll_agent(s, &probe, timeout, what);
}

/* VERIFY con_id [options] and RESTORE name FROM ...: start, then wait for
 * the result unless NOWAIT (VERIFY: 1 in sync, -105 not; RESTORE: 1 done,
 * -1 failed; the summary says why). */
static int64_t cmd_start_and_wait(struct session *s, const struct dtcl_cmd *cmd)
{
	struct dtcl_arg argv[3];
	struct dtcl_cmd probe;
	int64_t rc;
	size_t i;

	rc = remote(s, cmd);
	if (rc < 0)
		return rc;
	for (i = 2; i < cmd->argc; i++)
		if (util_streq_ci(cmd->argv[i].text, "NOWAIT"))
			return rc;
	memset(&probe, 0, sizeof(probe));
	argv[0] = cmd->argv[0];
	argv[1] = cmd->argv[0];
	argv[1].text = "RESULT";
	argv[2] = cmd->argv[1];
	probe.argv = argv;
	probe.argc = 3;
	return poll_agent(s, &probe, -1, cmd->argv[0].text);
}

static int64_t exec_cmd(void *ctx, const struct dtcl_cmd *cmd)
{
	struct session *s = ctx;
	const char *name = cmd->argv[0].text;

	if (cmd->argv[0].type != DTCL_ARG_WORD)
		return -102;
	if (util_streq_ci(name, "HELP"))
		return cmd_help(cmd);
	if (util_streq_ci(name, "SLEEP"))
		return cmd_sleep(cmd);
	if ((util_streq_ci(name, "WAITONQUEUE") || util_streq_ci(name, "WAITONMIRROR")) &&
	    cmd->argc >= 2 && cmd->argc <= 3)
		return cmd_wait(s, cmd);
	if ((util_streq_ci(name, "VERIFY") && cmd->argc >= 2 &&
	     cmd->argv[1].type == DTCL_ARG_NUMBER) ||
	    (util_streq_ci(name, "RESTORE") && cmd->argc >= 4 &&
	     util_streq_ci(cmd->argv[2].text, "FROM")))
		return cmd_start_and_wait(s, cmd);
	if (util_streq_ci(name, "EXIT") || util_streq_ci(name, "QUIT")) {
		s->quit = true;
		return 0;
	}
	return remote(s, cmd);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: dtcl [OPTION]... [FILE]\n"
"Runs DTCL commands against a Ditto agent.\n"
"\n"
"  -c, --command 'CMD; CMD'  run these statements\n"
"  -f, --file FILE           run a script file (also a lone FILE argument)\n"
"  -i, --interactive         interactive console (default when stdin is a terminal)\n"
"  -s, --socket PATH         agent control socket (default %s)\n"
"      --version             print the version and exit\n"
"  -h, --help                print this help and exit\n"
"\n"
"Without -c, -f or -i, statements are read from standard input.\n"
"Exit status: 0 when the last command succeeded, 1 when it failed, 2 for\n"
"a bad command or syntax (result -102) or bad usage. See dtcl(1).\n",
		CTLCLIENT_DEFAULT_SOCKET);
}

static char *read_stream(FILE *f)
{
	struct util_buf b;
	char chunk[65536];
	size_t n;

	util_buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		util_buf_append(&b, chunk, n);
	if (ferror(f)) {
		util_buf_free(&b);
		return NULL;
	}
	return util_buf_steal(&b);
}

static const struct option long_opts[] = {
	{ "command", required_argument, NULL, 'c' },
	{ "file", required_argument, NULL, 'f' },
	{ "interactive", no_argument, NULL, 'i' },
	{ "socket", required_argument, NULL, 's' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct session s;
	struct dtcl_interp *in = NULL;
	const char *command = NULL, *file = NULL, *name = "stdin";
	char *text = NULL;
	bool interactive = false;
	int64_t rc;
	int opt, ret = 2;

	memset(&s, 0, sizeof(s));
	s.cli.fd = -1;
	/* A closed control socket must be an error message, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	s.sock_path = ctlclient_default_socket();
	while ((opt = getopt_long(argc, argv, "c:f:is:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c': command = optarg; break;
		case 'f': file = optarg; break;
		case 'i': interactive = true; break;
		case 's': s.sock_path = optarg; break;
		case 'V': printf("dtcl %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc && !file && !command)
		file = argv[optind++];
	if (optind < argc || (command && file) || (interactive && (command || file))) {
		fprintf(stderr, "dtcl: give one of -c, -f FILE or -i\n");
		usage(stderr);
		return 2;
	}
	if (command) {
		text = util_xstrdup(command);
		name = "command line";
	} else if (file) {
		FILE *f = fopen(file, "r");

		if (!f) {
			fprintf(stderr, "dtcl: cannot open %s: %s\n", file, strerror(errno));
			return 2;
		}
		text = read_stream(f);
		fclose(f);
		name = file;
	} else if (!interactive && !isatty(STDIN_FILENO)) {
		text = read_stream(stdin);
	} else {
		interactive = true;
	}
	if (!interactive && !text) {
		fprintf(stderr, "dtcl: cannot read %s: %s\n", name, strerror(errno));
		return 2;
	}
	in = dtcl_interp_new(exec_cmd, &s, stdout, stderr);
	if (interactive)
		rc = console_run(in, &s.quit);
	else
		rc = dtcl_interp_run(in, text, name);
	/* -102 is "bad command or syntax": the same kind of mistake as bad
	 * usage, so scripts can tell it from a command that failed. */
	ret = rc == -102 ? 2 : rc < 0 ? 1 : 0;
	dtcl_interp_free(in);
	if (s.connected)
		ctlclient_close(&s.cli);
	free(text);
	return ret;
}
