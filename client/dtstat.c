/* dtstat — per-connection statistics of a Ditto agent (its STATISTICS
 * command, lib/statrec.h) as readable blocks or JSON, once or repeated. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctlclient.h"
#include "ctlproto.h"
#include "statrec.h"
#include "util.h"

struct opts {
	const char *sock_path;
	bool json;
	bool target;      /* STATISTICS TARGET: this agent as a target */
	uint64_t interval; /* seconds between samples */
	uint64_t count;    /* samples; 0 = until interrupted */
	char **ids;
	size_t nids;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: dtstat [OPTION]... [CON_ID]...\n"
"Shows the statistics of a Ditto agent's connections (all, or the given ones).\n"
"\n"
"  -s, --socket PATH     agent control socket (default %s)\n"
"  -j, --json            one JSON array of objects per sample, one sample a line\n"
"  -t, --target          the connections this agent receives as a target\n"
"  -i, --interval SECS   repeat every SECS seconds (until interrupted without -n)\n"
"  -n, --count COUNT     take COUNT samples (every second without -i)\n"
"      --version         print the version and exit\n"
"  -h, --help            print this help and exit\n"
"\n"
"Exit status: 0 success, 1 the agent could not be reached or refused (an\n"
"unknown connection, say), 2 bad usage. See dtstat(1).\n",
		CTLCLIENT_DEFAULT_SOCKET);
}

/* One STATISTICS command; its records are appended to text. 0, or -1 with
 * the message printed. */
static int fetch(struct ctlclient *cli, const char *arg, struct util_buf *text)
{
	struct ctlproto_arg argv[2] = {
		{ CTLPROTO_ARG_WORD, (char *)"STATISTICS" },
		{ CTLPROTO_ARG_WORD, (char *)arg },
	};
	struct ctlproto_cmd cmd = { arg ? 2 : 1, argv };
	struct util_buf out;
	char err[512];
	int64_t rc = -1;
	int ret = -1;

	util_buf_init(&out);
	if (arg && strcmp(arg, "TARGET"))
		argv[1].type = CTLPROTO_ARG_NUMBER;
	if (ctlclient_call(cli, &cmd, &rc, &out, err, sizeof(err)) < 0) {
		fprintf(stderr, "dtstat: %s\n", err);
		goto done;
	}
	if (rc < 0) {
		fprintf(stderr, "dtstat: %s%s", out.len ? out.data : "STATISTICS failed",
			out.len && out.data[out.len - 1] == '\n' ? "" : "\n");
		goto done;
	}
	util_buf_append(text, out.data, out.len);
	ret = 0;
done:
	util_buf_free(&out);
	return ret;
}

/* Blocks of "name  value", strings shown as sent (escapes kept, so a
 * terminal never sees control characters). */
static void print_text(const struct statrec_list *l, bool target)
{
	size_t i, j, w = 0;

	if (!l->n) {
		printf(target ? "No connections received.\n" : "No connections.\n");
		return;
	}
	for (i = 0; i < l->n; i++)
		for (j = 0; j < l->v[i].n; j++)
			if (strlen(l->v[i].f[j].name) > w)
				w = strlen(l->v[i].f[j].name);
	for (i = 0; i < l->n; i++) {
		if (i)
			printf("\n");
		for (j = 0; j < l->v[i].n; j++) {
			const struct statrec_field *f = &l->v[i].f[j];

			printf("%-*s  %s\n", (int)w, f->name, f->type == STATREC_NONE ? "-" : f->text);
		}
	}
}

static int sample(struct ctlclient *cli, const struct opts *o, uint64_t n)
{
	struct statrec_list l = { NULL, 0 };
	struct util_buf text, js;
	char err[256];
	size_t i;
	int ret = -1;

	util_buf_init(&text);
	util_buf_init(&js);
	if (o->target) {
		if (fetch(cli, "TARGET", &text) < 0)
			goto done;
	} else if (!o->nids) {
		if (fetch(cli, NULL, &text) < 0)
			goto done;
	}
	for (i = 0; i < o->nids; i++)
		if (fetch(cli, o->ids[i], &text) < 0)
			goto done;
	if (statrec_parse(text.data ? text.data : "", &l, err, sizeof(err)) < 0) {
		fprintf(stderr, "dtstat: the agent's answer is not understood: %s\n", err);
		goto done;
	}
	if (o->json) {
		statrec_json(&js, &l);
		printf("%s\n", js.data);
	} else {
		if (o->count != 1) {
			time_t now = time(NULL);
			char when[64];
			struct tm tm;

			localtime_r(&now, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			printf("%s--- sample %" PRIu64 " at %s\n", n > 1 ? "\n" : "", n, when);
		}
		print_text(&l, o->target);
	}
	fflush(stdout);
	ret = 0;
done:
	statrec_list_free(&l);
	util_buf_free(&js);
	util_buf_free(&text);
	return ret;
}

/* Sleeps secs seconds unless interrupted first. */
static void pause_for(uint64_t secs)
{
	struct timespec ts = { (time_t)secs, 0 };

	while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int parse_positive(const char *s, const char *what, uint64_t *out)
{
	if (util_parse_u64(s, out) < 0 || *out == 0 || *out > 86400u * 365) {
		fprintf(stderr, "dtstat: %s must be a whole number from 1 on, not '%s'\n", what, s);
		return -1;
	}
	return 0;
}

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "target", no_argument, NULL, 't' },
	{ "interval", required_argument, NULL, 'i' },
	{ "count", required_argument, NULL, 'n' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct opts o;
	struct ctlclient cli;
	struct sigaction sa;
	char err[512];
	bool have_i = false, have_n = false;
	uint64_t n, v;
	int opt, i;

	memset(&o, 0, sizeof(o));
	o.sock_path = ctlclient_default_socket();
	o.interval = 1;
	o.count = 1;
	while ((opt = getopt_long(argc, argv, "s:jti:n:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case 's': o.sock_path = optarg; break;
		case 'j': o.json = true; break;
		case 't': o.target = true; break;
		case 'i':
			if (parse_positive(optarg, "-i SECS", &o.interval) < 0)
				return 2;
			have_i = true;
			break;
		case 'n':
			if (parse_positive(optarg, "-n COUNT", &o.count) < 0)
				return 2;
			have_n = true;
			break;
		case 'V': printf("dtstat %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* -i alone: until interrupted. */
	if (have_i && !have_n)
		o.count = 0;
	o.ids = argv + optind;
	o.nids = (size_t)(argc - optind);
	for (i = optind; i < argc; i++) {
		if (util_parse_u64(argv[i], &v) < 0 || v == 0 || v > UINT32_MAX) {
			fprintf(stderr, "dtstat: %s is not a connection ID\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (o.target && o.nids) {
		fprintf(stderr, "dtstat: --target shows every connection received; give no CON_ID\n");
		usage(stderr);
		return 2;
	}
	/* A closed control socket must be an error message, not a silent
	 * death; SIGINT/SIGTERM end a repeating run after its sample. */
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (ctlclient_connect(&cli, o.sock_path, "dtstat", err, sizeof(err)) < 0) {
		fprintf(stderr, "dtstat: %s\n", err);
		return 1;
	}
	for (n = 1; !interrupted; n++) {
		if (sample(&cli, &o, n) < 0) {
			ctlclient_close(&cli);
			return 1;
		}
		if (o.count && n >= o.count)
			break;
		pause_for(o.interval);
	}
	ctlclient_close(&cli);
	return 0;
}
