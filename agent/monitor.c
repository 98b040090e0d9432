#include "config.h"

/* monitor — heartbeats, failover and failback; see monitor.h. */

#include "monitor.h"
#include "agent.h"
#include "conf.h"
#include "dtlog.h"
#include "evloop.h"
#include "heartbeat.h"
#include "netaddr.h"
#include "script.h"
#include "target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <sys/ioctl.h>
#include <inttypes.h>
#include <libconfig.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define INTERVAL_DEFAULT 1000u
#define INTERVAL_MIN 50u
#define INTERVAL_MAX 3600000u
#define MISSED_DEFAULT 5u
#define MISSED_MAX 1000u
#define ANNOUNCES 3            /* gratuitous ARP now, after 1 s and 2 s */
#define ANNOUNCE_GAP_MS 1000u
#define SCRIPT_TIMEOUT_DEFAULT 300u /* s; a hung script must not hold failover */
#define SCRIPT_TIMEOUT_MAX 86400u
#define SPLIT_EVERY_MS 2000u   /* ARP probe of held addresses while failed over */
#define SPLIT_LOG_EVERY_MS 60000u /* the same conflict logged again after */
#define RUN_EVERY_MS 1000u
#define RUN_TRIES 600u          /* 10 minutes for the source's agent to be back */

enum mon_state {
	MON_STOPPED,
	MON_MONITORING,
	MON_FAILED,        /* condition met; manual intervention awaited */
	MON_FAILING_OVER,
	MON_FAILED_OVER,
	MON_FAILING_BACK,
};

static const char *const state_names[] = {
	"stopped", "monitoring", "failed", "failing over", "failed over", "failing back",
};
static const char *const script_names[MONITOR_SCRIPTS] = {
	"PREFAILOVER", "POSTFAILOVER", "PREFAILBACK", "POSTFAILBACK",
};
static const char *const script_keys[MONITOR_SCRIPTS] = {
	"prefailover", "postfailover", "prefailback", "postfailback",
};

struct monitor;

/* One script run: outlives its monitor unless the sequence waits on it. */
struct mrun {
	char *source;
	struct monitor *m;  /* set when the sequence waits for it */
};

struct maddr {
	struct monitor *m;
	struct netaddr na;
	char text[INET6_ADDRSTRLEN + 8];
	char adapter[IF_NAMESIZE];
	bool monitored;
	bool taken;         /* added to the adapter by our failover */
	uint8_t mac[6];     /* the adapter's, learnt when probing */
	bool mac_known, probe_failed;
	uint32_t interval_ms, missed;
	struct hb_watch w;
	struct evloop_timer *timer;
};

struct monitor {
	struct monitors *ms;
	char *source;       /* the source agent's name */
	struct maddr **addrs;
	size_t naddrs;
	uint32_t interval_ms, missed; /* for addresses added later */
	bool manual, items_all;
	char *script[MONITOR_SCRIPTS];
	bool delay[MONITOR_SCRIPTS];
	unsigned timeout_s[MONITOR_SCRIPTS]; /* 0: none */
	enum mon_state state;
	struct script_run *run;       /* a script the sequence waits for */
	struct mrun *run_ctx;
	void (*then)(struct monitor *m);
	bool keep_monitoring;         /* FAILBACK without STOP */
	bool split_logged;
	unsigned announces_left;
	struct evloop_timer *announce_timer;
	struct evloop_timer *split_timer;   /* probes while failed over */
	/* The POSTFAILBACK request to the source's agent, repeated until it
	 * acknowledges (HB_RUN_ACK) or RUN_TRIES run out. */
	uint64_t run_nonce;
	unsigned run_tries;
	struct evloop_timer *run_timer;
	struct monitor *next;
};

struct monitors {
	struct agent *a;
	struct monitor *list, *current;
	int family;         /* of both sockets */
	int req_fd, resp_fd;
	int arp_fd;         /* gratuitous ARPs for our addresses; -1: none */
	uint8_t last_spa[4], last_sha[6]; /* the conflict logged last, and when */
	uint64_t last_ms;
	uint64_t ran[16];   /* HB_RUN nonces handled here (repeats are acked) */
	unsigned ran_next;
	char *path;
	uint64_t answered;
};

/* --------------------------------------------------------------- helpers */

static struct monitor *find(const struct monitors *ms, const char *source)
{
	struct monitor *m;

	for (m = ms->list; m; m = m->next)
		if (!strcmp(m->source, source))
			return m;
	return NULL;
}

static struct monitor *current(struct monitors *ms, struct util_buf *msg)
{
	if (!ms->current)
		util_buf_puts(msg, "no monitor chosen: MONITOR CREATE source or MONITOR SELECT source first\n");
	return ms->current;
}

static int save(struct monitors *ms)
{
	config_t cfg;
	config_setting_t *list, *g, *al, *ag;
	const struct monitor *m;
	size_t i;
	int ret;

	config_init(&cfg);
	list = config_setting_add(config_root_setting(&cfg), "monitors", CONFIG_TYPE_LIST);
	for (m = ms->list; m; m = m->next) {
		g = config_setting_add(list, NULL, CONFIG_TYPE_GROUP);
		config_setting_set_string(config_setting_add(g, "source", CONFIG_TYPE_STRING), m->source);
		config_setting_set_int(config_setting_add(g, "interval", CONFIG_TYPE_INT), (int)m->interval_ms);
		config_setting_set_int(config_setting_add(g, "missed", CONFIG_TYPE_INT), (int)m->missed);
		config_setting_set_bool(config_setting_add(g, "manual", CONFIG_TYPE_BOOL), m->manual);
		config_setting_set_bool(config_setting_add(g, "items_all", CONFIG_TYPE_BOOL), m->items_all);
		/* A sequence cut by a restart resumes from its safe end. */
		config_setting_set_string(config_setting_add(g, "state", CONFIG_TYPE_STRING),
					  m->state == MON_STOPPED ? "stopped" :
					  m->state == MON_FAILING_OVER || m->state == MON_FAILED_OVER ||
					  m->state == MON_FAILING_BACK ? "failed over" : "monitoring");
		for (i = 0; i < MONITOR_SCRIPTS; i++) {
			char key[64];

			if (!m->script[i])
				continue;
			config_setting_set_string(config_setting_add(g, script_keys[i], CONFIG_TYPE_STRING),
						  m->script[i]);
			snprintf(key, sizeof(key), "%s_delay", script_keys[i]);
			config_setting_set_bool(config_setting_add(g, key, CONFIG_TYPE_BOOL), m->delay[i]);
			snprintf(key, sizeof(key), "%s_timeout", script_keys[i]);
			config_setting_set_int(config_setting_add(g, key, CONFIG_TYPE_INT), (int)m->timeout_s[i]);
		}
		al = config_setting_add(g, "addresses", CONFIG_TYPE_LIST);
		for (i = 0; i < m->naddrs; i++) {
			const struct maddr *ad = m->addrs[i];

			ag = config_setting_add(al, NULL, CONFIG_TYPE_GROUP);
			config_setting_set_string(config_setting_add(ag, "address", CONFIG_TYPE_STRING), ad->text);
			config_setting_set_string(config_setting_add(ag, "adapter", CONFIG_TYPE_STRING), ad->adapter);
			config_setting_set_bool(config_setting_add(ag, "monitored", CONFIG_TYPE_BOOL), ad->monitored);
			config_setting_set_bool(config_setting_add(ag, "taken", CONFIG_TYPE_BOOL), ad->taken);
			config_setting_set_int(config_setting_add(ag, "interval", CONFIG_TYPE_INT), (int)ad->interval_ms);
			config_setting_set_int(config_setting_add(ag, "missed", CONFIG_TYPE_INT), (int)ad->missed);
		}
	}
	ret = conf_save_file(&cfg, ms->path);
	if (ret < 0)
		dtlog(DTLOG_ERROR, 0, "Cannot save monitors to %s: %s", ms->path, strerror(errno));
	config_destroy(&cfg);
	return ret;
}

/* ------------------------------------------------------------ heartbeats */

static uint64_t now_ms(const struct monitors *ms)
{
	return evloop_now_ms(ms->a->loop);
}

/* The source's heartbeat port at ad, for our socket's family; 0 if it
 * cannot be reached from it (IPv6 without IPv6 here). */
static socklen_t addr_dest(const struct maddr *ad, struct sockaddr_storage *out)
{
	struct monitors *ms = ad->m->ms;
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (ad->na.family == AF_INET && ms->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)ms->a->conf.agent.heartbeat_port);
		memcpy(&sin->sin_addr, ad->na.addr, 4);
		sl = sizeof(*sin);
	} else if (ms->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)ms->a->conf.agent.heartbeat_port);
		if (ad->na.family == AF_INET) {
			/* v4-mapped through the dual-stack socket */
			sin6->sin6_addr.s6_addr[10] = 0xff;
			sin6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(sin6->sin6_addr.s6_addr + 12, ad->na.addr, 4);
		} else {
			memcpy(sin6->sin6_addr.s6_addr, ad->na.addr, 16);
		}
		sl = sizeof(*sin6);
	} else {
		return 0;
	}
	*out = ss;
	return sl;
}

static void send_request(struct maddr *ad)
{
	struct monitors *ms = ad->m->ms;
	struct sockaddr_storage ss;
	socklen_t sl = addr_dest(ad, &ss);
	uint8_t buf[HB_PACKET_MAX];
	int n;

	if (!sl)
		return;
	n = hb_watch_request(&ad->w, buf, sizeof(buf), ms->a->conf.agent.name, ms->a->key, ms->a->keylen);
	if (n > 0 && ms->req_fd >= 0)
		sendto(ms->req_fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&ss, sl);
}

/* --------------------------------------------- post-failback on the source */

static void run_stop(struct monitor *m)
{
	if (m->run_timer)
		evloop_timer_cancel(m->ms->a->loop, m->run_timer);
	m->run_timer = NULL;
	m->run_nonce = 0;
}

static void run_tick(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct monitor *m = arg;
	struct monitors *ms = m->ms;
	uint8_t buf[HB_PACKET_MAX];
	int n;

	(void)loop;
	(void)t;
	if (++m->run_tries > RUN_TRIES) {
		dtlog_event(DTLOG_WARNING, 0, "Failback of %s: its agent did not take the POSTFAILBACK request (%s) in %u s; run it there by hand",
			    m->source, m->script[MONITOR_POSTFAILBACK], RUN_TRIES * RUN_EVERY_MS / 1000);
		run_stop(m);
		return;
	}
	n = hb_encode_run(buf, sizeof(buf), ms->a->conf.agent.name, m->run_nonce, m->run_tries,
			  m->script[MONITOR_POSTFAILBACK], ms->a->key, ms->a->keylen);
	for (size_t i = 0; n > 0 && ms->req_fd >= 0 && i < m->naddrs; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = addr_dest(m->addrs[i], &ss);

		if (sl)
			sendto(ms->req_fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&ss, sl);
	}
}

/* Asks the source's agent, once it is back, to run the post-failback
 * script; the request is repeated until it acknowledges. */
static void run_request(struct monitor *m)
{
	run_stop(m);
	if (!m->script[MONITOR_POSTFAILBACK])
		return;
	if (getrandom(&m->run_nonce, sizeof(m->run_nonce), 0) != sizeof(m->run_nonce) || !m->run_nonce)
		m->run_nonce = (uint64_t)evloop_now_ms(m->ms->a->loop) | 1;
	m->run_tries = 0;
	m->run_timer = evloop_timer_add(m->ms->a->loop, 0, RUN_EVERY_MS, run_tick, m);
	dtlog(DTLOG_INFO, 0, "Failback of %s: asking its agent to run %s", m->source, m->script[MONITOR_POSTFAILBACK]);
}

static void on_run_ack(struct monitors *ms, const struct hb_msg *msg)
{
	struct monitor *m = find(ms, msg->name);

	if (!m || !m->run_nonce || msg->nonce != m->run_nonce)
		return;
	dtlog_event(DTLOG_INFO, 0, "Failback of %s: its agent took the POSTFAILBACK request (%s)", m->source,
		    m->script[MONITOR_POSTFAILBACK]);
	run_stop(m);
}

struct srun {
	char *target, *path;
};

static void srun_line(void *ctx, bool is_stderr, const char *line)
{
	struct srun *r = ctx;

	dtlog(DTLOG_INFO, 0, "Post-failback script for %s %s: %s", r->target, is_stderr ? "error output" : "output", line);
}

static void srun_done(void *ctx, const struct script_result *res)
{
	struct srun *r = ctx;
	char how[256];

	script_result_describe(res, how, sizeof(how));
	dtlog(res->how == SCRIPT_EXITED && res->status == 0 ? DTLOG_INFO : DTLOG_WARNING, 0,
	      "Post-failback script %s asked by %s %s", r->path, r->target, how);
	free(r->target);
	free(r->path);
	free(r);
}

/* Is path (resolved) inside dir (resolved)? */
static bool inside(const char *path, const char *dir)
{
	char *rp = realpath(path, NULL), *rd = realpath(dir, NULL);
	size_t n = rd ? strlen(rd) : 0;
	bool ok = rp && rd && !strncmp(rp, rd, n) && rp[n] == '/';

	free(rp);
	free(rd);
	return ok;
}

/* A target that failed back asks us to run our post-failback script. Only
 * programs in agent.script_dir that pass script_check run; each request
 * (nonce) runs once however often it is repeated; every one is acked. */
static void on_run(struct monitors *ms, const struct hb_msg *msg, const struct sockaddr_storage *from,
		   socklen_t fl)
{
	struct agent *a = ms->a;
	uint8_t buf[HB_PACKET_MAX];
	char err[512];
	bool seen = false;
	int n;

	for (unsigned i = 0; i < UTIL_ARRAY_SIZE(ms->ran); i++)
		seen = seen || ms->ran[i] == msg->nonce;
	if (!seen && msg->nonce) {
		ms->ran[ms->ran_next++ % UTIL_ARRAY_SIZE(ms->ran)] = msg->nonce;
		if (!inside(msg->path, a->conf.agent.script_dir)) {
			dtlog_event(DTLOG_ERROR, 0, "Post-failback script %s asked by %s refused: not in agent.script_dir (%s)",
				    msg->path, msg->name, a->conf.agent.script_dir);
		} else {
			const char *args[3] = { "POSTFAILBACK", a->conf.agent.name, msg->name };
			char *env[3];
			struct srun *r = util_xcalloc(1, sizeof(*r));

			r->target = util_xstrdup(msg->name);
			r->path = util_xstrdup(msg->path);
			env[0] = util_xstrdup("DITTO_EVENT=POSTFAILBACK");
			env[1] = util_xasprintf("DITTO_SOURCE=%s", a->conf.agent.name);
			env[2] = util_xasprintf("DITTO_TARGET=%s", msg->name);
			if (!script_start(a->loop, msg->path, args, 3, (const char *const *)env, 3,
					  SCRIPT_TIMEOUT_DEFAULT * 1000u, srun_line, srun_done, r, err, sizeof(err))) {
				dtlog_event(DTLOG_ERROR, 0, "Post-failback script %s asked by %s refused: %s", msg->path,
					    msg->name, err);
				free(r->target);
				free(r->path);
				free(r);
			} else {
				dtlog_event(DTLOG_INFO, 0, "Post-failback script %s started (failback from %s)", msg->path,
					    msg->name);
			}
			for (int i = 0; i < 3; i++)
				free(env[i]);
		}
	}
	n = hb_encode(buf, sizeof(buf), HB_RUN_ACK, a->conf.agent.name, msg->nonce, ++ms->answered,
		      a->key, a->keylen);
	if (n > 0)
		sendto(ms->resp_fd, buf, (size_t)n, MSG_DONTWAIT, (const struct sockaddr *)from, fl);
}

static void failover_begin(struct monitor *m, bool by_command);

static void condition_met(struct monitor *m, struct maddr *ad)
{
	dtlog_event(DTLOG_ERROR, 700000, "The source machine %s is not responding to a ping (%s: %u heartbeats of %u ms missed)",
		    m->source, ad->text, ad->missed, ad->interval_ms);
	if (m->manual) {
		m->state = MON_FAILED;
		dtlog_event(DTLOG_ERROR, 100, "Failover condition has been met and user intervention is required (source %s; FAILOVER %s to proceed)",
			    m->source, m->source);
		return;
	}
	failover_begin(m, false);
}

static void addr_tick(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct maddr *ad = arg;
	struct monitor *m = ad->m;

	(void)loop;
	(void)t;
	if (m->state == MON_STOPPED || m->state == MON_FAILING_BACK)
		return;
	send_request(ad);
	if (m->state == MON_MONITORING &&
	    hb_watch_time_to_fail(&ad->w, now_ms(m->ms), ad->interval_ms, ad->missed) == 0)
		condition_met(m, ad);
}

static void addr_arm(struct maddr *ad)
{
	struct monitors *ms = ad->m->ms;

	if (ad->timer) {
		evloop_timer_cancel(ms->a->loop, ad->timer);
		ad->timer = NULL;
	}
	hb_watch_init(&ad->w, ad->m->source, now_ms(ms));
	if (ad->monitored && ad->m->state != MON_STOPPED)
		ad->timer = evloop_timer_add(ms->a->loop, 0, ad->interval_ms, addr_tick, ad);
}

static void monitor_arm(struct monitor *m)
{
	for (size_t i = 0; i < m->naddrs; i++)
		addr_arm(m->addrs[i]);
}

static void on_response(struct monitors *ms, const struct hb_msg *msg)
{
	struct monitor *m = find(ms, msg->name);
	bool ok = false;

	if (!m)
		return;
	/* Only the address that sent the request judges the answer (the
	 * others would count it as rejected). */
	for (size_t i = 0; i < m->naddrs && !ok; i++) {
		const struct hb_watch *w = &m->addrs[i]->w;
		bool mine = false;

		for (unsigned k = 0; k < HB_OUTSTANDING && !mine; k++)
			mine = msg->nonce && w->nonces[k] == msg->nonce;
		if (m->addrs[i]->monitored && mine)
			ok = hb_watch_response(&m->addrs[i]->w, msg, now_ms(ms));
	}
	if (!ok)
		return;
	if (m->state == MON_FAILED) {
		m->state = MON_MONITORING;
		dtlog_event(DTLOG_INFO, 0, "Source %s answers heartbeats again; the failover condition is cleared", m->source);
	} else if (m->state == MON_FAILED_OVER && !m->split_logged) {
		m->split_logged = true;
		dtlog_event(DTLOG_ERROR, 0, "SPLIT BRAIN: source %s answers heartbeats while %s holds its addresses; "
			    "two hosts may answer for them: take them off the source or FAILBACK %s",
			    m->source, ms->a->conf.agent.name, m->source);
	}
}

static void on_request(struct monitors *ms, const struct hb_msg *msg,
		       const struct sockaddr_storage *from, socklen_t fl)
{
	uint8_t buf[HB_PACKET_MAX];
	int n = hb_encode(buf, sizeof(buf), HB_RESPONSE, ms->a->conf.agent.name, msg->nonce,
			  ++ms->answered, ms->a->key, ms->a->keylen);

	if (n > 0)
		sendto(ms->resp_fd, buf, (size_t)n, MSG_DONTWAIT, (const struct sockaddr *)from, fl);
}

static void on_packet(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct monitors *ms = arg;
	uint8_t buf[HB_PACKET_MAX + 1];
	struct sockaddr_storage from;
	struct hb_msg msg;
	socklen_t fl;
	ssize_t n;

	(void)loop;
	(void)events;
	for (int i = 0; i < 64; i++) {
		fl = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		/* Forged or damaged packets are dropped without a word: an
		 * answer would help whoever sends them. */
		if (hb_decode(buf, (size_t)n, ms->a->key, ms->a->keylen, &msg, NULL) < 0)
			continue;
		if (fd == ms->resp_fd && msg.type == HB_REQUEST)
			on_request(ms, &msg, &from, fl);
		else if (fd == ms->resp_fd && msg.type == HB_RUN)
			on_run(ms, &msg, &from, fl);
		else if (fd == ms->req_fd && msg.type == HB_RESPONSE)
			on_response(ms, &msg);
		else if (fd == ms->req_fd && msg.type == HB_RUN_ACK)
			on_run_ack(ms, &msg);
	}
}

static bool split_seen(struct monitors *ms, const uint8_t *pkt, size_t len);

/* Every agent listens for gratuitous ARPs announcing an address it holds
 * from another MAC: a returning source hears so that a target stands in
 * for it (and a target, that its source came back holding the address).
 * Logged loudly; nothing is taken off or added here. */
static void on_arp(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct monitors *ms = arg;
	uint8_t buf[256], mine[6];
	struct sockaddr_ll from;
	struct ether_arp p;
	struct netaddr na;
	struct ifreq ifr;
	char ifname[IF_NAMESIZE], txt[64], err[256];
	socklen_t fl;
	ssize_t n;

	(void)loop;
	(void)events;
	for (int i = 0; i < 64; i++) {
		fl = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		if (from.sll_pkttype == PACKET_OUTGOING || (size_t)n < sizeof(p))
			continue;
		if (split_seen(ms, buf, (size_t)n))
			continue;
		memcpy(&p, buf, sizeof(p));
		if (ntohs(p.arp_pro) != ETHERTYPE_IP || p.arp_hln != 6 || p.arp_pln != 4 ||
		    memcmp(p.arp_spa, p.arp_tpa, 4))
			continue; /* not a gratuitous announcement */
		memset(&na, 0, sizeof(na));
		na.family = AF_INET;
		na.prefix = 32;
		memcpy(na.addr, p.arp_spa, 4);
		if (netaddr_held(&na, ifname, err, sizeof(err)) != 1)
			continue;
		memset(&ifr, 0, sizeof(ifr));
		util_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
			continue;
		memcpy(mine, ifr.ifr_hwaddr.sa_data, 6);
		if (!memcmp(mine, p.arp_sha, 6))
			continue;
		if (!memcmp(ms->last_spa, p.arp_spa, 4) && !memcmp(ms->last_sha, p.arp_sha, 6) &&
		    evloop_now_ms(ms->a->loop) - ms->last_ms < SPLIT_LOG_EVERY_MS)
			continue;
		memcpy(ms->last_spa, p.arp_spa, 4);
		memcpy(ms->last_sha, p.arp_sha, 6);
		ms->last_ms = evloop_now_ms(ms->a->loop);
		inet_ntop(AF_INET, p.arp_spa, txt, sizeof(txt));
		dtlog_event(DTLOG_ERROR, 0, "SPLIT BRAIN: %s, held here on %s, is announced by %02x:%02x:%02x:%02x:%02x:%02x: "
			    "another host answers for it (a target that stood in for %s after a failover?); "
			    "take it off one of them (FAILBACK on the target)",
			    txt, ifname, p.arp_sha[0], p.arp_sha[1], p.arp_sha[2], p.arp_sha[3], p.arp_sha[4],
			    p.arp_sha[5], ms->a->conf.agent.name);
	}
}

static int udp_open(struct monitors *ms, uint16_t port)
{
	int fd = -1, off = 0;

	if (ms->family == AF_INET6) {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd >= 0 && (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
				bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0))
			goto fail;
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			goto fail;
	}
	if (fd >= 0 && evloop_add_fd(ms->a->loop, fd, EVLOOP_READ, on_packet, ms) < 0)
		goto fail;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ------------------------------------------------------ failover sequence */

static void run_script(struct monitor *m, enum monitor_script which, void (*then)(struct monitor *m));

static void addresses_env(const struct monitor *m, struct util_buf *b)
{
	for (size_t i = 0; i < m->naddrs; i++) {
		const struct maddr *ad = m->addrs[i];

		if (ad->monitored || m->items_all)
			util_buf_printf(b, "%s%s@%s", b->len ? " " : "", ad->text, ad->adapter);
	}
}

static void script_line(void *ctx, bool is_stderr, const char *line)
{
	struct mrun *r = ctx;

	dtlog(DTLOG_INFO, 0, "Failover script for %s %s: %s", r->source, is_stderr ? "error output" : "output", line);
}

static void script_done(void *ctx, const struct script_result *res)
{
	struct mrun *r = ctx;
	struct monitor *m = r->m;
	char how[256];

	script_result_describe(res, how, sizeof(how));
	dtlog(res->how == SCRIPT_EXITED && res->status == 0 ? DTLOG_INFO : DTLOG_WARNING, 0,
	      "Failover script for %s %s", r->source, how);
	free(r->source);
	free(r);
	if (m) {
		void (*then)(struct monitor *m) = m->then;

		m->run = NULL;
		m->run_ctx = NULL;
		m->then = NULL;
		if (then)
			then(m);
	}
}

/* The script of `which`, then `then` (at once, or when it ended with
 * DELAY). A script that cannot run is logged; the sequence goes on. */
static void run_script(struct monitor *m, enum monitor_script which, void (*then)(struct monitor *m))
{
	struct agent *a = m->ms->a;
	struct util_buf addrs;
	char *env[4], err[512];
	struct script_run *r;
	struct mrun *ctx;
	bool wait = m->delay[which];

	if (!m->script[which]) {
		then(m);
		return;
	}
	util_buf_init(&addrs);
	addresses_env(m, &addrs);
	env[0] = util_xasprintf("DITTO_EVENT=%s", script_names[which]);
	env[1] = util_xasprintf("DITTO_SOURCE=%s", m->source);
	env[2] = util_xasprintf("DITTO_TARGET=%s", a->conf.agent.name);
	env[3] = util_xasprintf("DITTO_ADDRESSES=%s", addrs.data ? addrs.data : "");
	ctx = util_xcalloc(1, sizeof(*ctx));
	ctx->source = util_xstrdup(m->source);
	ctx->m = wait ? m : NULL;
	{
		/* The same facts as arguments, for scripts that prefer them:
		 * event, source, target, then each address. */
		const char *args[3] = { script_names[which], m->source, a->conf.agent.name };

		r = script_start(a->loop, m->script[which], args, 3, (const char *const *)env, 4,
				 m->timeout_s[which] * 1000u, script_line, script_done, ctx, err, sizeof(err));
	}
	for (int i = 0; i < 4; i++)
		free(env[i]);
	util_buf_free(&addrs);
	if (!r) {
		dtlog(DTLOG_ERROR, 0, "Failover script %s for %s not run: %s", script_names[which], m->source, err);
		free(ctx->source);
		free(ctx);
		then(m);
		return;
	}
	dtlog(DTLOG_INFO, 0, "Failover script %s for %s started: %s%s", script_names[which], m->source,
	      m->script[which], wait ? " (waiting for it)" : "");
	if (wait) {
		m->run = r;
		m->run_ctx = ctx;
		m->then = then;
	} else {
		then(m);
	}
}

static void announce(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct monitor *m = arg;
	char err[256];

	(void)loop;
	(void)t;
	for (size_t i = 0; i < m->naddrs; i++) {
		struct maddr *ad = m->addrs[i];

		if (ad->taken && netaddr_announce(ad->adapter, &ad->na, err, sizeof(err)) < 0 &&
		    m->announces_left == ANNOUNCES)
			dtlog(DTLOG_WARNING, 0, "Failover of %s: %s", m->source, err);
	}
	if (--m->announces_left == 0) {
		evloop_timer_cancel(m->ms->a->loop, m->announce_timer);
		m->announce_timer = NULL;
	}
}

/* Another host answers for an address we stand in for: logged once per
 * failover, and announced again so that its agent hears it too. */
static void split_found(struct monitor *m, struct maddr *ad, const uint8_t mac[6])
{
	char err[256];

	m->split_logged = true;
	dtlog_event(DTLOG_ERROR, 0, "SPLIT BRAIN: %s is also answered for by %02x:%02x:%02x:%02x:%02x:%02x while %s "
		    "stands in for source %s: take it off that host or FAILBACK %s",
		    ad->text, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], m->ms->a->conf.agent.name,
		    m->source, m->source);
	netaddr_announce(ad->adapter, &ad->na, err, sizeof(err));
}

/* While we hold the source's addresses, anyone else answering for one of
 * them (the source back with its old configuration) is a split brain. The
 * probes only go out here; the answers arrive on the ARP watch (on_arp),
 * so the event loop never waits for them. */
static void split_check(struct evloop *loop, struct evloop_timer *t, void *arg)
{
	struct monitor *m = arg;
	char err[256];

	(void)loop;
	(void)t;
	if (m->state != MON_FAILED_OVER || m->split_logged)
		return;
	for (size_t i = 0; i < m->naddrs; i++) {
		struct maddr *ad = m->addrs[i];

		if (!ad->taken || ad->na.family != AF_INET)
			continue;
		if (netaddr_probe_send(ad->adapter, &ad->na, ad->mac, err, sizeof(err)) == 0) {
			ad->mac_known = true;
			ad->probe_failed = false;
		} else if (!ad->probe_failed) {
			ad->probe_failed = true;
			dtlog(DTLOG_WARNING, 0, "Split-brain check of %s: %s", ad->text, err);
		}
	}
}

/* An ARP packet that shows another host using an address a failed-over
 * monitor holds. */
static bool split_seen(struct monitors *ms, const uint8_t *pkt, size_t len)
{
	uint8_t other[6];

	for (struct monitor *m = ms->list; m; m = m->next) {
		if (m->state != MON_FAILED_OVER || m->split_logged)
			continue;
		for (size_t i = 0; i < m->naddrs; i++) {
			struct maddr *ad = m->addrs[i];

			if (ad->taken && ad->mac_known && ad->na.family == AF_INET &&
			    netaddr_arp_conflict(pkt, len, &ad->na, ad->mac, other)) {
				split_found(m, ad, other);
				return true;
			}
		}
	}
	return false;
}

static void split_watch(struct monitor *m, bool on)
{
	if (m->split_timer) {
		evloop_timer_cancel(m->ms->a->loop, m->split_timer);
		m->split_timer = NULL;
	}
	if (on)
		m->split_timer = evloop_timer_add(m->ms->a->loop, SPLIT_EVERY_MS, SPLIT_EVERY_MS, split_check, m);
}

static void failover_done(struct monitor *m)
{
	struct util_buf b;

	m->state = MON_FAILED_OVER;
	split_watch(m, true);
	util_buf_init(&b);
	addresses_env(m, &b);
	dtlog_event(DTLOG_INFO, 0, "Failover of %s complete: %s holds %s", m->source,
		    m->ms->a->conf.agent.name, b.data ? b.data : "no addresses");
	util_buf_free(&b);
	save(m->ms);
}

static void failover_take(struct monitor *m)
{
	char err[256];

	for (size_t i = 0; i < m->naddrs; i++) {
		struct maddr *ad = m->addrs[i];
		int rc;

		if (!ad->monitored && !m->items_all)
			continue;
		rc = netaddr_add(ad->adapter, &ad->na, err, sizeof(err));
		if (rc < 0)
			dtlog_event(DTLOG_ERROR, 0, "Failover of %s: cannot add %s to %s: %s", m->source, ad->text,
				    ad->adapter, err);
		else
			ad->taken = true; /* also when it was there: failback takes it off */
	}
	/* Neighbours ignore an update within their 1 s locktime: say it
	 * again after 1 and 2 s. */
	m->announces_left = ANNOUNCES;
	if (m->announce_timer)
		evloop_timer_cancel(m->ms->a->loop, m->announce_timer);
	m->announce_timer = evloop_timer_add(m->ms->a->loop, 0, ANNOUNCE_GAP_MS, announce, m);
	save(m->ms);
	target_failed_over(m->ms->a->target, m->source);
	run_script(m, MONITOR_POSTFAILOVER, failover_done);
}

static void failover_begin(struct monitor *m, bool by_command)
{
	m->state = MON_FAILING_OVER;
	m->split_logged = false;
	dtlog_event(DTLOG_ERROR, 101, "Failover in progress!!! (%s stands in for %s%s)", m->ms->a->conf.agent.name,
		    m->source, by_command ? ", by command" : "");
	run_script(m, MONITOR_PREFAILOVER, failover_take);
}

static void failback_release(struct monitor *m)
{
	char err[256];

	if (m->announce_timer) {
		evloop_timer_cancel(m->ms->a->loop, m->announce_timer);
		m->announce_timer = NULL;
	}
	for (size_t i = 0; i < m->naddrs; i++) {
		struct maddr *ad = m->addrs[i];

		if (!ad->taken)
			continue;
		if (netaddr_del(ad->adapter, &ad->na, err, sizeof(err)) < 0)
			dtlog_event(DTLOG_ERROR, 0, "Failback of %s: cannot remove %s from %s: %s", m->source,
				    ad->text, ad->adapter, err);
		else
			ad->taken = false;
	}
	split_watch(m, false);
	m->state = m->keep_monitoring ? MON_MONITORING : MON_STOPPED;
	dtlog_event(DTLOG_INFO, 0, "Failback of %s complete; %s", m->source,
		    m->keep_monitoring ? "monitoring goes on" : "monitoring stopped");
	monitor_arm(m);
	run_request(m);
	save(m->ms);
}

/* ----------------------------------------------------------- life cycle */

static void maddr_free(struct monitors *ms, struct maddr *ad)
{
	if (ad->timer)
		evloop_timer_cancel(ms->a->loop, ad->timer);
	free(ad);
}

static void monitor_free(struct monitor *m)
{
	struct monitors *ms = m->ms;

	for (size_t i = 0; i < m->naddrs; i++)
		maddr_free(ms, m->addrs[i]);
	free(m->addrs);
	if (m->run) {
		script_cancel(m->run);
		free(m->run_ctx->source);
		free(m->run_ctx);
	}
	if (m->announce_timer)
		evloop_timer_cancel(ms->a->loop, m->announce_timer);
	if (m->split_timer)
		evloop_timer_cancel(ms->a->loop, m->split_timer);
	if (m->run_timer)
		evloop_timer_cancel(ms->a->loop, m->run_timer);
	for (int i = 0; i < MONITOR_SCRIPTS; i++)
		free(m->script[i]);
	free(m->source);
	free(m);
}

static struct monitor *monitor_add(struct monitors *ms, const char *source)
{
	struct monitor *m = util_xcalloc(1, sizeof(*m));

	m->ms = ms;
	m->source = util_xstrdup(source);
	m->interval_ms = INTERVAL_DEFAULT;
	m->missed = MISSED_DEFAULT;
	m->manual = true;
	m->state = MON_MONITORING;
	for (int i = 0; i < MONITOR_SCRIPTS; i++)
		m->timeout_s[i] = SCRIPT_TIMEOUT_DEFAULT;
	m->next = ms->list;
	ms->list = m;
	return m;
}

static struct maddr *maddr_add(struct monitor *m, const struct netaddr *na, const char *adapter,
			       bool monitored)
{
	struct maddr *ad = util_xcalloc(1, sizeof(*ad));

	ad->m = m;
	ad->na = *na;
	netaddr_format(na, ad->text, sizeof(ad->text));
	util_strlcpy(ad->adapter, adapter, sizeof(ad->adapter));
	ad->monitored = monitored;
	ad->interval_ms = m->interval_ms;
	ad->missed = m->missed;
	m->addrs = util_xreallocarray(m->addrs, m->naddrs + 1, sizeof(*m->addrs));
	m->addrs[m->naddrs++] = ad;
	return ad;
}

static int load(struct monitors *ms)
{
	config_t cfg;
	config_setting_t *list;
	int ret = -1;

	if (access(ms->path, F_OK) < 0)
		return 0;
	config_init(&cfg);
	if (!config_read_file(&cfg, ms->path)) {
		dtlog(DTLOG_ERROR, 0, "%s:%d: %s", ms->path, config_error_line(&cfg), config_error_text(&cfg));
		goto done;
	}
	list = config_lookup(&cfg, "monitors");
	for (int i = 0; list && i < config_setting_length(list); i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i), *al;
		const char *src = NULL, *st = "monitoring", *p;
		struct monitor *m;
		int v;

		if (!config_setting_lookup_string(g, "source", &src) || !*src)
			continue;
		m = monitor_add(ms, src);
		if (config_setting_lookup_int(g, "interval", &v) && v >= (int)INTERVAL_MIN)
			m->interval_ms = (uint32_t)v;
		if (config_setting_lookup_int(g, "missed", &v) && v >= 1)
			m->missed = (uint32_t)v;
		if (config_setting_lookup_bool(g, "manual", &v))
			m->manual = v;
		if (config_setting_lookup_bool(g, "items_all", &v))
			m->items_all = v;
		config_setting_lookup_string(g, "state", &st);
		m->state = !strcmp(st, "stopped") ? MON_STOPPED :
			   !strcmp(st, "failed over") ? MON_FAILED_OVER : MON_MONITORING;
		for (int k = 0; k < MONITOR_SCRIPTS; k++) {
			char key[64];

			if (!config_setting_lookup_string(g, script_keys[k], &p) || p[0] != '/')
				continue;
			m->script[k] = util_xstrdup(p);
			snprintf(key, sizeof(key), "%s_delay", script_keys[k]);
			if (config_setting_lookup_bool(g, key, &v))
				m->delay[k] = v;
			snprintf(key, sizeof(key), "%s_timeout", script_keys[k]);
			m->timeout_s[k] = SCRIPT_TIMEOUT_DEFAULT;
			if (config_setting_lookup_int(g, key, &v) && v >= 0 && v <= (int)SCRIPT_TIMEOUT_MAX)
				m->timeout_s[k] = (unsigned)v;
		}
		al = config_setting_lookup(g, "addresses");
		for (int j = 0; al && j < config_setting_length(al); j++) {
			config_setting_t *ag = config_setting_get_elem(al, (unsigned)j);
			const char *text = NULL, *adapter = NULL;
			struct netaddr na;
			struct maddr *ad;
			char err[128];
			int mon = 1, taken = 0;

			if (!config_setting_lookup_string(ag, "address", &text) ||
			    !config_setting_lookup_string(ag, "adapter", &adapter) ||
			    netaddr_parse(text, &na, err, sizeof(err)) < 0)
				continue;
			config_setting_lookup_bool(ag, "monitored", &mon);
			config_setting_lookup_bool(ag, "taken", &taken);
			ad = maddr_add(m, &na, adapter, mon);
			ad->taken = taken;
			if (config_setting_lookup_int(ag, "interval", &v) && v >= (int)INTERVAL_MIN)
				ad->interval_ms = (uint32_t)v;
			if (config_setting_lookup_int(ag, "missed", &v) && v >= 1)
				ad->missed = (uint32_t)v;
		}
		monitor_arm(m);
		split_watch(m, m->state == MON_FAILED_OVER);
	}
	ret = 0;
done:
	config_destroy(&cfg);
	return ret;
}

/* Monitors written in ditto.conf (checked by conf_load): created, or their
 * settings and addresses brought to what the file says; the state (failed
 * over, addresses held) stays what monitors.conf remembers. */
static void apply_conf(struct monitors *ms, const char *path)
{
	config_setting_t *list;
	config_t cfg;

	config_init(&cfg);
	if (!config_read_file(&cfg, path) || !(list = config_lookup(&cfg, "monitors"))) {
		config_destroy(&cfg);
		return;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i), *al;
		const char *src, *items, *p;
		struct monitor *m;
		int v;

		if (!config_setting_lookup_string(g, "source", &src))
			continue;
		m = find(ms, src);
		if (!m)
			m = monitor_add(ms, src);
		if (config_setting_lookup_int(g, "interval", &v))
			m->interval_ms = (uint32_t)v;
		if (config_setting_lookup_int(g, "missed", &v))
			m->missed = (uint32_t)v;
		if (config_setting_lookup_bool(g, "manual", &v))
			m->manual = v;
		if (config_setting_lookup_string(g, "items", &items))
			m->items_all = !strcmp(items, "all");
		for (int k = 0; k < MONITOR_SCRIPTS; k++) {
			char key[64];

			if (!config_setting_lookup_string(g, script_keys[k], &p))
				continue;
			free(m->script[k]);
			m->script[k] = util_xstrdup(p);
			snprintf(key, sizeof(key), "%s_delay", script_keys[k]);
			if (config_setting_lookup_bool(g, key, &v))
				m->delay[k] = v;
			snprintf(key, sizeof(key), "%s_timeout", script_keys[k]);
			if (config_setting_lookup_int(g, key, &v))
				m->timeout_s[k] = (unsigned)v;
		}
		al = config_setting_lookup(g, "addresses");
		for (int j = 0; al && j < config_setting_length(al); j++) {
			config_setting_t *ag = config_setting_get_elem(al, (unsigned)j);
			const char *text, *adapter;
			struct maddr *ad = NULL;
			struct netaddr na;
			char err[128];
			int mon = 1;

			if (!config_setting_lookup_string(ag, "address", &text) ||
			    !config_setting_lookup_string(ag, "adapter", &adapter) ||
			    netaddr_parse(text, &na, err, sizeof(err)) < 0)
				continue;
			config_setting_lookup_bool(ag, "monitored", &mon);
			for (size_t k = 0; k < m->naddrs && !ad; k++)
				if (netaddr_same(&m->addrs[k]->na, &na))
					ad = m->addrs[k];
			if (!ad) {
				ad = maddr_add(m, &na, adapter, mon);
			} else if (!ad->taken) {
				ad->na = na;
				netaddr_format(&na, ad->text, sizeof(ad->text));
				util_strlcpy(ad->adapter, adapter, sizeof(ad->adapter));
			}
			ad->monitored = mon;
			ad->interval_ms = config_setting_lookup_int(ag, "interval", &v) ? (uint32_t)v : m->interval_ms;
			ad->missed = config_setting_lookup_int(ag, "missed", &v) ? (uint32_t)v : m->missed;
		}
		monitor_arm(m);
		dtlog(DTLOG_INFO, 0, "Monitor of %s set from %s", m->source, path);
	}
	config_destroy(&cfg);
	save(ms);
}

struct monitors *monitors_new(struct agent *a)
{
	struct monitors *ms = util_xcalloc(1, sizeof(*ms));
	uint16_t port = (uint16_t)a->conf.agent.heartbeat_port;
	int probe;

	ms->a = a;
	ms->path = util_xasprintf("%s/monitors.conf", a->conf.agent.state_dir);
	/* Dual-stack where this host has IPv6, IPv4 otherwise. */
	probe = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ms->family = probe >= 0 ? AF_INET6 : AF_INET;
	if (probe >= 0)
		close(probe);
	ms->req_fd = udp_open(ms, 0);
	if (ms->req_fd < 0)
		dtlog(DTLOG_ERROR, 0, "Cannot open a socket for heartbeats: %s", strerror(errno));
	ms->resp_fd = udp_open(ms, port);
	if (ms->resp_fd < 0)
		dtlog(DTLOG_WARNING, 0, "Heartbeats are not answered here: cannot bind UDP port %u: %s",
		      port, strerror(errno));
	ms->arp_fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ARP));
	if (ms->arp_fd >= 0 && evloop_add_fd(a->loop, ms->arp_fd, EVLOOP_READ, on_arp, ms) < 0) {
		close(ms->arp_fd);
		ms->arp_fd = -1;
	}
	if (ms->arp_fd < 0)
		dtlog(DTLOG_WARNING, 0, "Address conflicts after a failover are not watched for: %s", strerror(errno));
	if (load(ms) < 0) {
		monitors_free(ms);
		return NULL;
	}
	if (a->conf.monitors)
		apply_conf(ms, a->conf_path);
	return ms;
}

void monitors_free(struct monitors *ms)
{
	if (!ms)
		return;
	while (ms->list) {
		struct monitor *m = ms->list;

		ms->list = m->next;
		monitor_free(m);
	}
	if (ms->req_fd >= 0) {
		evloop_del_fd(ms->a->loop, ms->req_fd);
		close(ms->req_fd);
	}
	if (ms->resp_fd >= 0) {
		evloop_del_fd(ms->a->loop, ms->resp_fd);
		close(ms->resp_fd);
	}
	if (ms->arp_fd >= 0) {
		evloop_del_fd(ms->a->loop, ms->arp_fd);
		close(ms->arp_fd);
	}
	free(ms->path);
	free(ms);
}

/* --------------------------------------------------------------- commands */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > HB_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

int monitors_create(struct monitors *ms, const char *source, struct util_buf *msg)
{
	if (!name_ok(source)) {
		util_buf_printf(msg, "bad source name \"%s\" (the source agent's name)\n", source);
		return -1;
	}
	if (find(ms, source)) {
		util_buf_printf(msg, "a monitor of %s exists; MONITOR SELECT %s to change it\n", source, source);
		return -1;
	}
	ms->current = monitor_add(ms, source);
	util_buf_printf(msg, "Monitor of %s created; add its addresses with MONITOR ADDRESS\n", source);
	dtlog(DTLOG_INFO, 0, "Monitor of %s created", source);
	return save(ms);
}

int monitors_select(struct monitors *ms, const char *source, struct util_buf *msg)
{
	struct monitor *m = find(ms, source);

	if (!m) {
		util_buf_printf(msg, "no monitor of %s\n", source);
		return -1;
	}
	ms->current = m;
	util_buf_printf(msg, "Monitor of %s selected\n", source);
	return 0;
}

int monitors_address(struct monitors *ms, const char *text, const char *adapter, bool monitored,
		     struct util_buf *msg)
{
	struct monitor *m = current(ms, msg);
	struct netaddr na;
	char err[256];

	if (!m)
		return -1;
	if (netaddr_parse(text, &na, err, sizeof(err)) < 0) {
		util_buf_printf(msg, "%s\n", err);
		return -1;
	}
	if (!adapter || !*adapter) {
		util_buf_puts(msg, "ADAPTER \"dev\" is needed: the interface of this target that takes the address over\n");
		return -1;
	}
	if (strlen(adapter) >= IF_NAMESIZE || !if_nametoindex(adapter)) {
		util_buf_printf(msg, "no interface %s on %s\n", adapter, ms->a->conf.agent.name);
		return -1;
	}
	for (size_t i = 0; i < m->naddrs; i++) {
		if (netaddr_same(&m->addrs[i]->na, &na)) {
			util_buf_printf(msg, "%s is already part of the monitor of %s\n", text, m->source);
			return -1;
		}
	}
	if (m->state != MON_MONITORING && m->state != MON_STOPPED) {
		util_buf_printf(msg, "the monitor of %s is %s; change it after FAILBACK\n", m->source,
				state_names[m->state]);
		return -1;
	}
	addr_arm(maddr_add(m, &na, adapter, monitored));
	util_buf_printf(msg, "%s (%s) added to the monitor of %s\n", m->addrs[m->naddrs - 1]->text,
			monitored ? "monitored" : "taken over only", m->source);
	return save(ms);
}

/* The addresses a setting applies to: one (addr) or all, the monitor's
 * default too then. NULL with a message if addr is not one of them. */
static struct maddr *setting_target(struct monitor *m, const char *addr, struct util_buf *msg)
{
	static struct maddr all;
	struct netaddr na;
	char err[256];

	if (!addr)
		return &all;
	if (netaddr_parse(addr, &na, err, sizeof(err)) < 0) {
		util_buf_printf(msg, "%s\n", err);
		return NULL;
	}
	for (size_t i = 0; i < m->naddrs; i++)
		if (netaddr_same(&m->addrs[i]->na, &na))
			return m->addrs[i];
	util_buf_printf(msg, "%s is not an address of the monitor of %s\n", addr, m->source);
	return NULL;
}

int monitors_interval(struct monitors *ms, int64_t v, const char *addr, struct util_buf *msg)
{
	struct monitor *m = current(ms, msg);
	struct maddr *one;

	if (!m || !(one = setting_target(m, addr, msg)))
		return -1;
	if (v < INTERVAL_MIN || v > INTERVAL_MAX) {
		util_buf_printf(msg, "interval %" PRId64 " ms out of range %u..%u\n", v, INTERVAL_MIN, INTERVAL_MAX);
		return -1;
	}
	if (!addr)
		m->interval_ms = (uint32_t)v;
	for (size_t i = 0; i < m->naddrs; i++) {
		if (addr && m->addrs[i] != one)
			continue;
		m->addrs[i]->interval_ms = (uint32_t)v;
		addr_arm(m->addrs[i]);
	}
	util_buf_printf(msg, "Monitor of %s: heartbeat every %" PRId64 " ms%s%s\n", m->source, v,
			addr ? " to " : "", addr ? addr : "");
	return save(ms);
}

int monitors_missed(struct monitors *ms, int64_t v, const char *addr, struct util_buf *msg)
{
	struct monitor *m = current(ms, msg);
	struct maddr *one;

	if (!m || !(one = setting_target(m, addr, msg)))
		return -1;
	if (v < 1 || v > MISSED_MAX) {
		util_buf_printf(msg, "missed count %" PRId64 " out of range 1..%u\n", v, MISSED_MAX);
		return -1;
	}
	if (!addr)
		m->missed = (uint32_t)v;
	for (size_t i = 0; i < m->naddrs; i++)
		if (!addr || m->addrs[i] == one)
			m->addrs[i]->missed = (uint32_t)v;
	util_buf_printf(msg, "Monitor of %s: failed after %" PRId64 " missed heartbeats%s%s\n", m->source, v,
			addr ? " to " : "", addr ? addr : "");
	return save(ms);
}

int monitors_manual(struct monitors *ms, bool on, struct util_buf *msg)
{
	struct monitor *m = current(ms, msg);

	if (!m)
		return -1;
	m->manual = on;
	util_buf_printf(msg, "Monitor of %s: manual intervention %s\n", m->source, on ? "on" : "off");
	return save(ms);
}

int monitors_items(struct monitors *ms, bool all, struct util_buf *msg)
{
	struct monitor *m = current(ms, msg);

	if (!m)
		return -1;
	m->items_all = all;
	util_buf_printf(msg, "Monitor of %s: failover takes %s addresses\n", m->source,
			all ? "all its" : "the monitored");
	return save(ms);
}

int monitors_script(struct monitors *ms, enum monitor_script which, const char *path, bool delay,
		    int64_t timeout_s, struct util_buf *msg)
{
	struct monitor *m = current(ms, msg);
	char err[512];

	if (!m)
		return -1;
	if (!path || !*path) {
		free(m->script[which]);
		m->script[which] = NULL;
		util_buf_printf(msg, "Monitor of %s: no %s script\n", m->source, script_names[which]);
		return save(ms);
	}
	/* POSTFAILBACK runs on the source: its agent checks it there. */
	if (which == MONITOR_POSTFAILBACK ? path[0] != '/' || strlen(path) > HB_PATH_MAX :
					    script_check(path, err, sizeof(err)) < 0) {
		util_buf_printf(msg, "script refused: %s\n",
				which == MONITOR_POSTFAILBACK ? "POSTFAILBACK needs an absolute path on the source" : err);
		return -1;
	}
	if (timeout_s < 0)
		timeout_s = SCRIPT_TIMEOUT_DEFAULT;
	if (timeout_s > SCRIPT_TIMEOUT_MAX) {
		util_buf_printf(msg, "TIMEOUT %" PRId64 " s out of range 0..%u (0: none)\n", timeout_s, SCRIPT_TIMEOUT_MAX);
		return -1;
	}
	free(m->script[which]);
	m->script[which] = util_xstrdup(path);
	m->delay[which] = delay;
	m->timeout_s[which] = (unsigned)timeout_s;
	util_buf_printf(msg, "Monitor of %s: %s script %s%s, timeout %u s\n", m->source, script_names[which], path,
			delay ? " (waited for)" : "", m->timeout_s[which]);
	return save(ms);
}

int monitors_start(struct monitors *ms, const char *source, bool start, struct util_buf *msg)
{
	struct monitor *m = find(ms, source);

	if (!m) {
		util_buf_printf(msg, "no monitor of %s\n", source);
		return -1;
	}
	if (m->state != MON_MONITORING && m->state != MON_STOPPED && m->state != MON_FAILED) {
		util_buf_printf(msg, "the monitor of %s is %s; FAILBACK %s first\n", source, state_names[m->state], source);
		return -1;
	}
	m->state = start ? MON_MONITORING : MON_STOPPED;
	monitor_arm(m);
	util_buf_printf(msg, "Monitoring of %s %s\n", source, start ? "started" : "stopped");
	dtlog(DTLOG_INFO, 0, "Monitoring of %s %s", source, start ? "started" : "stopped");
	return save(ms);
}

int monitors_remove(struct monitors *ms, const char *source, struct util_buf *msg)
{
	struct monitor **pp, *m;

	for (pp = &ms->list; (m = *pp); pp = &m->next) {
		if (strcmp(m->source, source))
			continue;
		if (m->state != MON_MONITORING && m->state != MON_STOPPED && m->state != MON_FAILED) {
			util_buf_printf(msg, "the monitor of %s is %s; FAILBACK %s first\n", source,
					state_names[m->state], source);
			return -1;
		}
		*pp = m->next;
		if (ms->current == m)
			ms->current = NULL;
		monitor_free(m);
		util_buf_printf(msg, "Monitor of %s removed\n", source);
		dtlog(DTLOG_INFO, 0, "Monitor of %s removed", source);
		return save(ms);
	}
	util_buf_printf(msg, "no monitor of %s\n", source);
	return -1;
}

void monitors_list(const struct monitors *ms, struct util_buf *out)
{
	uint64_t now = evloop_now_ms(ms->a->loop);

	if (!ms->list)
		util_buf_puts(out, "No monitors\n");
	for (const struct monitor *m = ms->list; m; m = m->next) {
		util_buf_printf(out, "Monitor %s: %s%s, manual intervention %s, failover takes %s addresses\n",
				m->source, state_names[m->state], m == ms->current ? " (current)" : "",
				m->manual ? "on" : "off", m->items_all ? "all" : "the monitored");
		for (size_t i = 0; i < m->naddrs; i++) {
			const struct maddr *ad = m->addrs[i];

			if (ad->monitored && (m->state == MON_MONITORING || m->state == MON_FAILED)) {
				uint64_t ttf = hb_watch_time_to_fail(&ad->w, now, ad->interval_ms, ad->missed);

				util_buf_printf(out, "  %s on %s: every %u ms, %u missed; time to fail %" PRIu64 ".%03" PRIu64 " s (%s)%s\n",
						ad->text, ad->adapter, ad->interval_ms, ad->missed, ttf / 1000, ttf % 1000,
						hb_color_name(hb_color_of(ttf, ad->interval_ms, ad->missed)),
						ad->taken ? ", held here" : "");
			} else {
				util_buf_printf(out, "  %s on %s: %s%s\n", ad->text, ad->adapter,
						ad->monitored ? "monitored" : "taken over only",
						ad->taken ? ", held here" : "");
			}
		}
		for (int k = 0; k < MONITOR_SCRIPTS; k++)
			if (m->script[k])
				util_buf_printf(out, "  %s script: %s%s, timeout %u s\n", script_names[k], m->script[k],
						m->delay[k] ? " (waited for)" : "", m->timeout_s[k]);
	}
}

void monitors_status(const struct monitors *ms, struct util_buf *out)
{
	uint64_t now = evloop_now_ms(ms->a->loop);

	for (const struct monitor *m = ms->list; m; m = m->next) {
		const struct maddr *worst = NULL;
		uint64_t least = UINT64_MAX;

		for (size_t i = 0; i < m->naddrs; i++) {
			const struct maddr *ad = m->addrs[i];
			uint64_t ttf = hb_watch_time_to_fail(&ad->w, now, ad->interval_ms, ad->missed);

			if (ad->monitored && ttf < least) {
				least = ttf;
				worst = ad;
			}
		}
		util_buf_printf(out, "Monitor:         %s %s", m->source, state_names[m->state]);
		if (worst && (m->state == MON_MONITORING || m->state == MON_FAILED))
			util_buf_printf(out, ", time to fail %" PRIu64 ".%03" PRIu64 " s (%s)", least / 1000, least % 1000,
					hb_color_name(hb_color_of(least, worst->interval_ms, worst->missed)));
		util_buf_puts(out, "\n");
	}
}

int monitors_failover(struct monitors *ms, const char *source, struct util_buf *msg)
{
	struct monitor *m = find(ms, source);

	if (!m) {
		util_buf_printf(msg, "no monitor of %s\n", source);
		return -1;
	}
	if (m->state != MON_MONITORING && m->state != MON_FAILED && m->state != MON_STOPPED) {
		util_buf_printf(msg, "the monitor of %s is %s\n", source, state_names[m->state]);
		return -1;
	}
	if (m->run) {
		util_buf_printf(msg, "a script of the monitor of %s still runs\n", source);
		return -1;
	}
	failover_begin(m, true);
	util_buf_printf(msg, "Failover of %s %s\n", source,
			m->state == MON_FAILED_OVER ? "complete" : "started");
	return 0;
}

int monitors_failback(struct monitors *ms, const char *source, bool keep_monitoring,
		      struct util_buf *msg)
{
	struct monitor *m = find(ms, source);

	if (!m) {
		util_buf_printf(msg, "no monitor of %s\n", source);
		return -1;
	}
	if (m->state != MON_FAILED_OVER) {
		util_buf_printf(msg, "%s was not failed over here (the monitor is %s)\n", source,
				state_names[m->state]);
		return -1;
	}
	m->state = MON_FAILING_BACK;
	m->keep_monitoring = keep_monitoring;
	dtlog_event(DTLOG_INFO, 0, "Failback of %s started", source);
	run_script(m, MONITOR_PREFAILBACK, failback_release);
	util_buf_printf(msg, "Failback of %s %s\n", source,
			m->state == MON_FAILING_BACK ? "started" : "complete");
	return 0;
}
