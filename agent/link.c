#include "config.h"

#include "link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct link {
	struct evloop *loop;
	int fd;
	bool connecting;
	bool ready;
	bool closed;
	bool close_after_flush;
	char close_why[WIRE_MSG_MAX + 160]; /* reason logged when that close happens */
	int busy; /* callbacks of this link on the stack */
	struct wire_reader rd;
	struct wire_auth auth;
	struct util_buf out;
	size_t out_off;
	const struct link_ops *ops;
	void *arg;
	char peer[WIRE_NAME_MAX + 1];
	char addr[INET6_ADDRSTRLEN + 8];
};

static void link_free(struct link *l)
{
	wire_reader_free(&l->rd);
	wire_auth_clear(&l->auth);
	util_buf_free(&l->out);
	free(l);
}

/* Frees a closed link once the outermost of its callbacks has returned. */
static void release(struct link *l)
{
	if (--l->busy == 0 && l->closed)
		link_free(l);
}

void link_close(struct link *l, const char *why)
{
	if (l->closed)
		return;
	l->closed = true;
	evloop_del_fd(l->loop, l->fd);
	close(l->fd);
	l->fd = -1;
	l->busy++;
	if (l->ops->on_close)
		l->ops->on_close(l, why, l->arg);
	release(l);
}

static void close_after_flush(struct link *l, const char *why);

void link_fail(struct link *l, uint32_t code, const char *why)
{
	if (l->closed)
		return;
	wire_put_error(&l->out, code, why);
	close_after_flush(l, why);
}

/* Closes once the queued output (an ERROR frame) has reached the peer. */
static void close_after_flush(struct link *l, const char *why)
{
	l->close_after_flush = true;
	util_strlcpy(l->close_why, why, sizeof(l->close_why));
	link_flush(l);
}

static void set_interest(struct link *l)
{
	unsigned ev = EVLOOP_READ;

	if (l->connecting || l->out_off < l->out.len)
		ev |= EVLOOP_WRITE;
	evloop_mod_fd(l->loop, l->fd, ev);
}

void link_flush(struct link *l)
{
	char why[128];

	if (l->closed || l->connecting)
		return;
	while (l->out_off < l->out.len) {
		ssize_t n = send(l->fd, l->out.data + l->out_off,
				 l->out.len - l->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			snprintf(why, sizeof(why), "send failed: %s", strerror(errno));
			link_close(l, why);
			return;
		}
		l->out_off += (size_t)n;
	}
	if (l->out_off == l->out.len) {
		util_buf_reset(&l->out);
		l->out_off = 0;
		if (l->close_after_flush) {
			link_close(l, l->close_why);
			return;
		}
	} else if (l->out_off > (1u << 20)) {
		/* Keep the buffer from growing without bound on a slow peer. */
		memmove(l->out.data, l->out.data + l->out_off, l->out.len - l->out_off);
		l->out.len -= l->out_off;
		l->out_off = 0;
	}
	set_interest(l);
}

static void handle_frames(struct link *l)
{
	struct wire_frame f;
	int rc;

	while (!l->closed && (rc = wire_reader_next(&l->rd, &f)) != 0) {
		if (rc < 0) {
			char why[256];

			snprintf(why, sizeof(why), "malformed frame from %s: %s",
				 l->addr, wire_reader_error(&l->rd));
			wire_put_error(&l->out, wire_reader_code(&l->rd),
				       wire_reader_error(&l->rd));
			close_after_flush(l, why);
			return;
		}
		if (!l->ready) {
			rc = wire_auth_on_frame(&l->auth, &f, &l->out);
			if (rc < 0) {
				char why[WIRE_MSG_MAX + 128];

				snprintf(why, sizeof(why), "handshake with %s failed: %s",
					 l->addr, wire_auth_error(&l->auth));
				close_after_flush(l, why);
				return;
			}
			link_flush(l);
			if (rc == 1 && !l->closed) {
				l->ready = true;
				util_strlcpy(l->peer, wire_auth_peer_name(&l->auth), sizeof(l->peer));
				wire_auth_clear(&l->auth);
				wire_reader_set_limit(&l->rd, WIRE_MAX_PAYLOAD);
				if (l->ops->on_ready)
					l->ops->on_ready(l, l->arg);
			}
			continue;
		}
		if (f.type == WIRE_ERROR) {
			struct wire_error e;
			char why[WIRE_MSG_MAX + 64];

			if (wire_get_error(&f, &e) == 0)
				snprintf(why, sizeof(why), "peer reported error %u: %s", e.code, e.msg);
			else
				snprintf(why, sizeof(why), "peer reported an unreadable error");
			link_close(l, why);
			return;
		}
		l->ops->on_frame(l, &f, l->arg);
	}
}

static void on_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct link *l = arg;
	char why[160];

	(void)loop;
	l->busy++;
	if (l->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(events & (EVLOOP_WRITE | EVLOOP_ERROR)))
			goto done;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			snprintf(why, sizeof(why), "cannot connect to %s: %s", l->addr, strerror(err));
			link_close(l, why);
			goto done;
		}
		l->connecting = false;
		link_flush(l);
		goto done;
	}
	if (events & EVLOOP_WRITE)
		link_flush(l);
	if (l->closed)
		goto done;
	if (events & (EVLOOP_READ | EVLOOP_ERROR)) {
		for (int i = 0; i < 16 && !l->closed; i++) {
			void *p = wire_reader_reserve(&l->rd, 65536);
			ssize_t n = recv(l->fd, p, 65536, 0);

			if (n < 0) {
				wire_reader_commit(&l->rd, 0);
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					break;
				snprintf(why, sizeof(why), "receive from %s failed: %s", l->addr, strerror(errno));
				link_close(l, why);
				goto done;
			}
			wire_reader_commit(&l->rd, (size_t)n);
			if (n == 0) {
				handle_frames(l);
				link_close(l, wire_reader_pending(&l->rd) ?
					   "peer closed in the middle of a frame" :
					   "peer closed the connection");
				goto done;
			}
			handle_frames(l);
		}
	}
done:
	release(l);
}

struct link *link_new(struct evloop *loop, int fd, bool client, bool connecting,
		      const uint8_t *key, size_t keylen, const char *name,
		      const struct link_ops *ops, void *arg)
{
	struct link *l = util_xcalloc(1, sizeof(*l));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int one = 1;

	l->loop = loop;
	l->fd = fd;
	l->connecting = connecting;
	l->ops = ops;
	l->arg = arg;
	wire_reader_init(&l->rd);
	util_buf_init(&l->out);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			snprintf(l->addr, sizeof(l->addr), "%s:%u",
				 inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host)),
				 ntohs(((struct sockaddr_in *)&ss)->sin_port));
		else if (ss.ss_family == AF_INET6)
			snprintf(l->addr, sizeof(l->addr), "[%s]:%u",
				 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host)),
				 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	}
	if (!l->addr[0])
		util_strlcpy(l->addr, "peer", sizeof(l->addr));
	/* Batches are written whole; acks are tiny and latency matters. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (client) {
		if (wire_auth_client_start(&l->auth, key, keylen, name, &l->out) < 0)
			goto fail;
	} else if (wire_auth_server_init(&l->auth, key, keylen, name) < 0) {
		goto fail;
	}
	if (evloop_add_fd(loop, fd, EVLOOP_READ | EVLOOP_WRITE, on_io, l) < 0)
		goto fail;
	return l;
fail:
	close(fd);
	link_free(l);
	return NULL;
}

struct link *link_dial(struct evloop *loop, const char *host, uint16_t port,
		       const uint8_t *key, size_t keylen, const char *name,
		       const struct link_ops *ops, void *arg, char *err,
		       size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char portstr[8], ip[INET6_ADDRSTRLEN];
	struct link *l = NULL;
	int fd = -1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
		goto done;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto done;
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) {
		snprintf(err, errlen, "cannot connect to %s:%u: %s", host, port, strerror(errno));
		close(fd);
		goto done;
	}
	l = link_new(loop, fd, true, true, key, keylen, name, ops, arg);
	if (!l) {
		snprintf(err, errlen, "cannot set up the link to %s:%u", host, port);
		goto done;
	}
	/* The address dialled, so a host name still shows as its IP (logs,
	 * STATISTICS' Target IP). */
	if (getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(l->addr, sizeof(l->addr), "%s:%u", host, port);
	else if (res->ai_family == AF_INET6)
		snprintf(l->addr, sizeof(l->addr), "[%s]:%u", ip, port);
	else
		snprintf(l->addr, sizeof(l->addr), "%s:%u", ip, port);
done:
	if (res)
		freeaddrinfo(res);
	return l;
}

struct util_buf *link_out(struct link *l)
{
	return &l->out;
}

size_t link_pending(const struct link *l)
{
	return l->out.len - l->out_off;
}

bool link_ready(const struct link *l)
{
	return l->ready && !l->closed;
}

const char *link_peer_name(const struct link *l)
{
	return l->peer;
}

const char *link_peer_addr(const struct link *l)
{
	return l->addr;
}
