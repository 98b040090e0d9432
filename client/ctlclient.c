#include "config.h"

#include "ctlclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Reads the next frame and turns an ERROR frame into a message. Returns 0
 * with the payload for any other frame. */
static int read_reply(struct ctlclient *c, struct ctlproto_hdr *h,
		      uint8_t **payload, char *err, size_t errlen)
{
	struct ctlproto_reader r;
	uint32_t status;
	uint16_t ver;
	char *msg;

	if (ctlproto_read_frame(c->fd, h, payload) < 0) {
		snprintf(err, errlen, "lost the connection to the agent: %s",
			 errno == ECONNRESET ? "closed by the agent" : strerror(errno));
		return -1;
	}
	if (h->type != CTLPROTO_ERROR)
		return 0;
	ctlproto_reader_init(&r, *payload, h->length);
	status = ctlproto_get_u32(&r);
	ver = ctlproto_get_u16(&r);
	msg = ctlproto_get_str(&r);
	if (status == CTLPROTO_E_VERSION)
		snprintf(err, errlen, "the agent speaks control protocol version %u, this dtcl speaks %u",
			 ver, CTLPROTO_VERSION);
	else
		snprintf(err, errlen, "%s", msg ? msg : ctlproto_status_str(status));
	free(msg);
	free(*payload);
	*payload = NULL;
	return -1;
}

const char *ctlclient_default_socket(void)
{
	const char *p = getenv("DITTO_CONTROL_SOCKET");

	return p && *p ? p : CTLCLIENT_DEFAULT_SOCKET;
}

int ctlclient_connect(struct ctlclient *c, const char *path, const char *client,
		      char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct ctlproto_hdr h;
	struct ctlproto_reader r;
	struct util_buf b;
	uint8_t *payload = NULL;
	char *hello = NULL;
	int werr, ret = -1;

	memset(c, 0, sizeof(*c));
	h.type = 0;
	c->next_reqid = 1;
	util_buf_init(&b);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto done;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (util_strlcpy(sa.sun_path, path, sizeof(sa.sun_path)) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		goto done;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "cannot connect to the agent at %s: %s (is dittod running? see dittod(8))",
			 path, strerror(errno));
		goto done;
	}
	ctlproto_begin(&b, CTLPROTO_HELLO, c->next_reqid++);
	hello = util_xasprintf("%s %s", client, PACKAGE_VERSION);
	ctlproto_put_str(&b, hello);
	ctlproto_end(&b, 0);
	/* An agent that refuses us answers and closes at once, so a failed
	 * HELLO write is reported only if no answer can be read either. */
	werr = util_write_full(c->fd, b.data, b.len) < 0 ? errno : 0;
	if (read_reply(c, &h, &payload, err, errlen) < 0) {
		if (werr && h.type != CTLPROTO_ERROR)
			snprintf(err, errlen, "cannot talk to the agent at %s: %s", path, strerror(werr));
		goto done;
	}
	if (h.type != CTLPROTO_WELCOME) {
		snprintf(err, errlen, "unexpected answer from the agent at %s", path);
		goto done;
	}
	ctlproto_reader_init(&r, payload, h.length);
	c->access = (enum ctlproto_access)ctlproto_get_u8(&r);
	c->agent_name = ctlproto_get_str(&r);
	c->agent_version = ctlproto_get_str(&r);
	if (!ctlproto_reader_done(&r)) {
		snprintf(err, errlen, "malformed answer from the agent at %s", path);
		goto done;
	}
	ret = 0;
done:
	free(hello);
	free(payload);
	util_buf_free(&b);
	if (ret < 0)
		ctlclient_close(c);
	return ret;
}

int ctlclient_call(struct ctlclient *c, const struct ctlproto_cmd *cmd,
		   int64_t *rc, struct util_buf *output, char *err,
		   size_t errlen)
{
	struct ctlproto_hdr h;
	struct ctlproto_reader r;
	struct util_buf b;
	uint8_t *payload = NULL;
	uint32_t reqid = c->next_reqid++;
	char *text = NULL;
	int ret = -1;

	util_buf_init(&b);
	if (ctlproto_cmd_encode(&b, reqid, cmd) < 0) {
		snprintf(err, errlen, "command too large");
		goto done;
	}
	if (util_write_full(c->fd, b.data, b.len) < 0) {
		snprintf(err, errlen, "lost the connection to the agent: %s", strerror(errno));
		goto done;
	}
	if (read_reply(c, &h, &payload, err, errlen) < 0)
		goto done;
	if (h.type != CTLPROTO_RESULT || h.reqid != reqid) {
		snprintf(err, errlen, "unexpected answer from the agent");
		goto done;
	}
	ctlproto_reader_init(&r, payload, h.length);
	*rc = ctlproto_get_i64(&r);
	text = ctlproto_get_str(&r);
	if (!text || !ctlproto_reader_done(&r)) {
		snprintf(err, errlen, "malformed answer from the agent");
		goto done;
	}
	util_buf_puts(output, text);
	ret = 0;
done:
	free(text);
	free(payload);
	util_buf_free(&b);
	return ret;
}

void ctlclient_close(struct ctlclient *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->agent_name);
	free(c->agent_version);
	c->agent_name = NULL;
	c->agent_version = NULL;
}
