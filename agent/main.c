#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "conf.h"
#include "dtlog.h"
#include "util.h"

enum {
	OPT_NAME = 256,
	OPT_STATE_DIR,
	OPT_LISTEN,
	OPT_CONTROL,
	OPT_LOG_DIR,
	OPT_KEY_FILE,
	OPT_PID_FILE,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "test-config", no_argument, NULL, 't' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "log-dir", required_argument, NULL, OPT_LOG_DIR },
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: dittod [OPTION]...\n"
"The Ditto replication and failover agent.\n"
"\n"
"  -c, --config FILE     configuration file (default %s;\n"
"                        if that default is absent, built-in defaults are used)\n"
"  -f, --foreground      stay in the foreground and also log to standard error\n"
"  -t, --test-config     check the configuration, print the result and exit\n"
"      --name NAME       agent name (agent.name; default: the host name)\n"
"      --state-dir DIR   state directory (agent.state_dir)\n"
"      --listen HOST:PORT  service address for agents and remote control (agent.listen)\n"
"      --control PATH    local control socket (agent.control_socket)\n"
"      --log-dir DIR     log directory (agent.log_dir)\n"
"      --key-file FILE   pre-shared key for agent links (agent.key_file)\n"
"      --pid-file FILE   pid file (agent.pid_file; default <state-dir>/dittod.pid)\n"
"      --version         print the version and exit\n"
"  -h, --help            print this help and exit\n"
"\n"
"Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT stop the agent.\n"
"See dittod(8) and ditto.conf(5).\n", conf_default_path());
}

/* Detaches from the terminal. The parent waits on a pipe until the child has
 * really started (socket bound, pid file locked), so `dittod` exits non-zero
 * when the agent could not start instead of reporting a false success. */
static int daemonize(int *notify_fd)
{
	int pfd[2];
	pid_t pid;
	char c;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(pfd[1]);
		do {
			n = read(pfd[0], &c, 1);
		} while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == '0' ? 0 : 1);
	}
	close(pfd[0]);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	umask(022);
	if (chdir("/") < 0)
		return -1;
	*notify_fd = pfd[1];
	return 0;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

static void notify(int *fd, char c)
{
	if (*fd < 0)
		return;
	if (write(*fd, &c, 1) < 0) {
		/* The parent is gone; nobody is waiting for the answer. */
	}
	close(*fd);
	*fd = -1;
}

int main(int argc, char **argv)
{
	struct agent a;
	char err[1024];
	bool test_only = false;
	int notify_fd = -1, opt, ret = 1;

	memset(&a, 0, sizeof(a));
	a.pid_fd = -1;
	a.conf_path = conf_default_path();
	while ((opt = getopt_long(argc, argv, "c:fth", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c': a.conf_path = optarg; a.conf_explicit = true; break;
		case 'f': a.foreground = true; break;
		case 't': test_only = true; break;
		case OPT_NAME: a.ov.name = optarg; break;
		case OPT_STATE_DIR: a.ov.state_dir = optarg; break;
		case OPT_LISTEN: a.ov.listen = optarg; break;
		case OPT_CONTROL: a.ov.control_socket = optarg; break;
		case OPT_LOG_DIR: a.ov.log_dir = optarg; break;
		case OPT_KEY_FILE: a.ov.key_file = optarg; break;
		case OPT_PID_FILE: a.ov.pid_file = optarg; break;
		case OPT_VERSION: printf("dittod %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dittod: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (agent_load_conf(&a, &a.conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "dittod: %s\n", err);
		return 1;
	}
	if (test_only) {
		printf("dittod: configuration %s is valid%s\n", a.conf_path,
		       access(a.conf_path, F_OK) == 0 ? "" : " (file absent: built-in defaults)");
		conf_free(&a.conf);
		return 0;
	}
	if (!a.foreground && daemonize(&notify_fd) < 0) {
		fprintf(stderr, "dittod: cannot daemonize: %s\n", strerror(errno));
		goto done;
	}
	if (agent_start(&a) < 0)
		goto done;
	if (!a.foreground)
		detach_stdio();
	notify(&notify_fd, '0');
	if (evloop_run(a.loop) < 0)
		dtlog(DTLOG_ERROR, 0, "Event loop failed: %s", strerror(errno));
	agent_stop(&a);
	ret = a.exit_code;
done:
	notify(&notify_fd, '1');
	agent_fini(&a);
	return ret;
}
