#include "config.h"

#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "cmd.h"
#include "dtlog.h"
#include "evloop.h"
#include "util.h"

/* A client that sends more than this without us answering is not a dtcl. */
#define CLIENT_MAX_BUFFERED (CTLPROTO_HDR_LEN + CTLPROTO_MAX_PAYLOAD)

struct client {
	struct control *ctl;
	int fd;
	struct cmd_caller who;
	bool hello_done;
	bool closing; /* close once out is flushed */
	struct util_buf in;
	struct util_buf out;
	size_t out_off;
	struct client *next;
};

struct control {
	struct agent *agent;
	int fd;
	char *path;
	struct client *clients;
};

static bool in_group(const char *group, gid_t pgid, const gid_t *groups,
		     int ngroups)
{
	struct group *gr;
	int i;

	if (!group || !*group)
		return false;
	gr = getgrnam(group);
	if (!gr)
		return false;
	if (pgid == gr->gr_gid)
		return true;
	for (i = 0; i < ngroups; i++)
		if (groups[i] == gr->gr_gid)
			return true;
	return false;
}

enum ctlproto_access control_access_for(uid_t uid, gid_t gid,
					const char *admin_group,
					const char *monitor_group)
{
	struct passwd *pw;
	gid_t groups[256];
	int ngroups = (int)UTIL_ARRAY_SIZE(groups);

	if (uid == 0)
		return CTLPROTO_ACCESS_ADMIN;
	/* Supplementary groups come from the group database, not from the
	 * peer process, so a membership granted after login counts too. */
	pw = getpwuid(uid);
	if (!pw || getgrouplist(pw->pw_name, pw->pw_gid, groups, &ngroups) < 0)
		ngroups = 0;
	if (in_group(admin_group, gid, groups, ngroups))
		return CTLPROTO_ACCESS_ADMIN;
	if (in_group(monitor_group, gid, groups, ngroups))
		return CTLPROTO_ACCESS_MONITOR;
	return CTLPROTO_ACCESS_NONE;
}

static void client_free(struct client *cl)
{
	struct client **pp;

	for (pp = &cl->ctl->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	evloop_del_fd(cl->ctl->agent->loop, cl->fd);
	close(cl->fd);
	util_buf_free(&cl->in);
	util_buf_free(&cl->out);
	free(cl);
}

static void client_flush(struct client *cl);

static void send_error(struct client *cl, uint32_t reqid, uint32_t status,
		       const char *msg)
{
	size_t start = cl->out.len;

	ctlproto_begin(&cl->out, CTLPROTO_ERROR, reqid);
	ctlproto_put_u32(&cl->out, status);
	ctlproto_put_u16(&cl->out, CTLPROTO_VERSION);
	ctlproto_put_str(&cl->out, msg);
	ctlproto_end(&cl->out, start);
	cl->closing = true;
}

static void send_welcome(struct client *cl, uint32_t reqid)
{
	size_t start = cl->out.len;

	ctlproto_begin(&cl->out, CTLPROTO_WELCOME, reqid);
	ctlproto_put_u8(&cl->out, (uint8_t)cl->who.access);
	ctlproto_put_str(&cl->out, cl->ctl->agent->conf.agent.name);
	ctlproto_put_str(&cl->out, PACKAGE_VERSION);
	ctlproto_end(&cl->out, start);
}

static void send_result(struct client *cl, uint32_t reqid, int64_t rc,
			const struct util_buf *text)
{
	size_t start = cl->out.len;
	size_t n = text->len;

	/* Output beyond one frame is cut with a note rather than dropping the
	 * whole answer. */
	if (n > CTLPROTO_MAX_PAYLOAD - 64)
		n = CTLPROTO_MAX_PAYLOAD - 64;
	ctlproto_begin(&cl->out, CTLPROTO_RESULT, reqid);
	ctlproto_put_i64(&cl->out, rc);
	ctlproto_put_mem(&cl->out, text->data ? text->data : "", n);
	ctlproto_end(&cl->out, start);
}

static void handle_frame(struct client *cl, const struct ctlproto_hdr *h,
			 const uint8_t *payload)
{
	struct control *ctl = cl->ctl;

	if (h->version != CTLPROTO_VERSION) {
		dtlog(DTLOG_WARNING, 0, "Control client pid %ld speaks protocol version %u, agent speaks %u",
		      (long)cl->who.pid, h->version, CTLPROTO_VERSION);
		send_error(cl, h->reqid, CTLPROTO_E_VERSION, "unsupported control protocol version");
		return;
	}
	if (!cl->hello_done) {
		struct ctlproto_reader r;
		char *name;

		if (h->type != CTLPROTO_HELLO) {
			send_error(cl, h->reqid, CTLPROTO_E_SEQUENCE, "expected HELLO");
			return;
		}
		ctlproto_reader_init(&r, payload, h->length);
		name = ctlproto_get_str(&r);
		if (!name || !ctlproto_reader_done(&r)) {
			free(name);
			send_error(cl, h->reqid, CTLPROTO_E_MALFORMED, "malformed HELLO");
			return;
		}
		free(name);
		cl->hello_done = true;
		send_welcome(cl, h->reqid);
		return;
	}
	if (h->type == CTLPROTO_CMD) {
		struct ctlproto_cmd cmd;
		struct util_buf text;
		int64_t rc;

		if (ctlproto_cmd_decode(payload, h->length, &cmd) < 0) {
			dtlog(DTLOG_WARNING, 0, "Malformed command from control client pid %ld; closing",
			      (long)cl->who.pid);
			send_error(cl, h->reqid, CTLPROTO_E_MALFORMED, "malformed command");
			return;
		}
		util_buf_init(&text);
		rc = cmd_execute(ctl->agent, &cl->who, &cmd, &text);
		send_result(cl, h->reqid, rc, &text);
		util_buf_free(&text);
		ctlproto_cmd_free(&cmd);
		return;
	}
	send_error(cl, h->reqid, CTLPROTO_E_SEQUENCE, "unexpected frame type");
}

/* Consumes whole frames from the input buffer; returns -1 when the stream is
 * unusable and the client must go. */
static int process_input(struct client *cl)
{
	size_t off = 0;
	int ret = 0;

	while (!cl->closing && cl->in.len - off >= CTLPROTO_HDR_LEN) {
		struct ctlproto_hdr h;
		const uint8_t *p = (const uint8_t *)cl->in.data + off;

		if (ctlproto_hdr_parse(p, &h) < 0) {
			dtlog(DTLOG_WARNING, 0, "Bad frame from control client pid %ld (uid %ld); closing",
			      (long)cl->who.pid, (long)cl->who.uid);
			send_error(cl, 0, CTLPROTO_E_MALFORMED, "bad frame header");
			ret = -1;
			break;
		}
		if (cl->in.len - off - CTLPROTO_HDR_LEN < h.length)
			break;
		handle_frame(cl, &h, p + CTLPROTO_HDR_LEN);
		off += CTLPROTO_HDR_LEN + h.length;
	}
	if (off) {
		memmove(cl->in.data, cl->in.data + off, cl->in.len - off);
		cl->in.len -= off;
	}
	return ret;
}

static void client_flush(struct client *cl)
{
	while (cl->out_off < cl->out.len) {
		ssize_t n = write(cl->fd, cl->out.data + cl->out_off,
				  cl->out.len - cl->out_off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				evloop_mod_fd(cl->ctl->agent->loop, cl->fd,
					      EVLOOP_READ | EVLOOP_WRITE);
				return;
			}
			client_free(cl);
			return;
		}
		cl->out_off += (size_t)n;
	}
	util_buf_reset(&cl->out);
	cl->out_off = 0;
	if (cl->closing) {
		client_free(cl);
		return;
	}
	evloop_mod_fd(cl->ctl->agent->loop, cl->fd, EVLOOP_READ);
}

static void on_client(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct client *cl = arg;
	char buf[65536];

	(void)loop;
	(void)fd;
	if (events & EVLOOP_WRITE) {
		client_flush(cl);
		return;
	}
	for (;;) {
		ssize_t n = read(cl->fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			client_free(cl);
			return;
		}
		if (n == 0) {
			client_free(cl);
			return;
		}
		util_buf_append(&cl->in, buf, (size_t)n);
		if (cl->in.len > CLIENT_MAX_BUFFERED)
			break;
	}
	process_input(cl);
	if (!cl->closing && cl->in.len > CLIENT_MAX_BUFFERED) {
		send_error(cl, 0, CTLPROTO_E_MALFORMED, "request too large");
		util_buf_reset(&cl->in);
	}
	client_flush(cl);
}

static void on_accept(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct control *ctl = arg;
	const struct conf *c = &ctl->agent->conf;

	(void)events;
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *cl;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				dtlog(DTLOG_WARNING, 0, "Control socket accept failed: %s", strerror(errno));
			return;
		}
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			dtlog(DTLOG_WARNING, 0, "Cannot read control client credentials: %s", strerror(errno));
			close(cfd);
			continue;
		}
		cl = util_xcalloc(1, sizeof(*cl));
		cl->ctl = ctl;
		cl->fd = cfd;
		cl->who.uid = cred.uid;
		cl->who.pid = cred.pid;
		cl->who.access = control_access_for(cred.uid, cred.gid,
						    c->agent.admin_group,
						    c->agent.monitor_group);
		util_buf_init(&cl->in);
		util_buf_init(&cl->out);
		if (evloop_add_fd(loop, cfd, EVLOOP_READ, on_client, cl) < 0) {
			close(cfd);
			free(cl);
			continue;
		}
		cl->next = ctl->clients;
		ctl->clients = cl;
		if (cl->who.access == CTLPROTO_ACCESS_NONE) {
			struct passwd *pw = getpwuid(cred.uid);

			dtlog(DTLOG_WARNING, 0,
			      "Control access refused for uid %ld (%s), pid %ld: not root and not in group %s or %s",
			      (long)cred.uid, pw ? pw->pw_name : "unknown user", (long)cred.pid,
			      c->agent.admin_group, c->agent.monitor_group);
			send_error(cl, 0, CTLPROTO_E_REFUSED, "access refused: you must be root or in group dtadmin (or dtmon for read-only access)");
			client_flush(cl);
		}
	}
}

/* A socket file that nobody answers on is a leftover of a crash and may be
 * replaced; one that answers belongs to a live agent and must not be. */
static int socket_in_use(const char *path)
{
	struct sockaddr_un sa;
	int fd, used = 0;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	util_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		used = 1;
	close(fd);
	return used;
}

struct control *control_new(struct agent *a)
{
	struct control *ctl = util_xcalloc(1, sizeof(*ctl));
	const char *path = a->conf.agent.control_socket;
	struct sockaddr_un sa;
	char *dir = NULL;
	int ok = 0;

	ctl->agent = a;
	ctl->fd = -1;
	ctl->path = util_xstrdup(path);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		dtlog(DTLOG_ERROR, 0, "Control socket path %s is longer than %zu bytes",
		      path, sizeof(sa.sun_path) - 1);
		goto done;
	}
	dir = util_xstrdup(path);
	if (util_mkdir_p(dirname(dir), 0755) < 0) {
		dtlog(DTLOG_ERROR, 0, "Cannot create directory for control socket %s: %s",
		      path, strerror(errno));
		goto done;
	}
	if (socket_in_use(path)) {
		dtlog(DTLOG_ERROR, 0, "Control socket %s is in use by another running dittod", path);
		goto done;
	}
	unlink(path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0)
		goto fail;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	util_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if (bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	/* Everyone may connect; the peer's credentials decide what they may do. */
	if (chmod(path, 0666) < 0 || listen(ctl->fd, 64) < 0)
		goto fail;
	if (evloop_add_fd(a->loop, ctl->fd, EVLOOP_READ, on_accept, ctl) < 0)
		goto fail;
	ok = 1;
	goto done;
fail:
	dtlog(DTLOG_ERROR, 0, "Cannot listen on control socket %s: %s", path, strerror(errno));
done:
	free(dir);
	if (!ok) {
		control_free(ctl);
		ctl = NULL;
	}
	return ctl;
}

void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	while (ctl->clients)
		client_free(ctl->clients);
	if (ctl->fd >= 0) {
		evloop_del_fd(ctl->agent->loop, ctl->fd);
		close(ctl->fd);
		unlink(ctl->path);
	}
	free(ctl->path);
	free(ctl);
}
