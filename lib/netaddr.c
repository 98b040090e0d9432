#include "config.h"

#include "netaddr.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip6.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Longest piece of user input quoted in a parse error. */
#define QUOTE_MAX 64
/* Probes sent by netaddr_probe, spread over its timeout. */
#define PROBES 3

static const uint8_t mac_broadcast[ETH_ALEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};

/* --- helpers ---------------------------------------------------------------- */

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static bool addr_valid(const struct netaddr *a)
{
	if (!a)
		return false;
	if (a->family == AF_INET)
		return a->prefix <= 32;
	if (a->family == AF_INET6)
		return a->prefix <= 128;
	return false;
}

static void close_keep_errno(int fd)
{
	int e = errno;

	if (fd >= 0)
		close(fd);
	errno = e;
}

/* Validates the arguments every interface operation takes and builds the
 * "cannot <verb> <address> <prep> <ifname>" prefix of its messages. 0, or -1
 * with errno and err set. */
static int prepare(const char *verb, const char *prep, const char *ifname,
		   const struct netaddr *a, unsigned *ifindex, char *what,
		   size_t whatlen, char *err, size_t errlen)
{
	char txt[NETADDR_STRLEN];

	if (!addr_valid(a)) {
		util_seterr(err, errlen, "cannot %s: invalid address (family %d)",
			    verb, a ? a->family : -1);
		errno = EINVAL;
		return -1;
	}
	netaddr_format(a, txt, sizeof(txt));
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE) {
		util_seterr(err, errlen, "cannot %s %s: invalid interface name",
			    verb, txt);
		errno = EINVAL;
		return -1;
	}
	snprintf(what, whatlen, "cannot %s %s %s %s", verb, txt, prep, ifname);
	*ifindex = if_nametoindex(ifname);
	if (*ifindex == 0) {
		util_seterr(err, errlen, "%s: no such interface", what);
		errno = ENODEV;
		return -1;
	}
	return 0;
}

/* --- parsing and formatting ------------------------------------------------- */

int netaddr_parse(const char *text, struct netaddr *out, char *err,
		  size_t errlen)
{
	char host[INET6_ADDRSTRLEN];
	struct netaddr a;
	const char *slash, *p;
	size_t hostlen, plen;
	unsigned max;
	int ret = -1;

	if (!text || !out) {
		util_seterr(err, errlen, "no address given");
		goto done;
	}
	memset(&a, 0, sizeof(a));
	slash = strchr(text, '/');
	hostlen = slash ? (size_t)(slash - text) : strlen(text);
	/* inet_pton itself refuses blanks, scopes and trailing junk; the
	 * length check only keeps the copy bounded. */
	if (hostlen == 0 || hostlen >= sizeof(host))
		goto bad_addr;
	memcpy(host, text, hostlen);
	host[hostlen] = '\0';
	if (inet_pton(AF_INET, host, a.addr) == 1) {
		a.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, a.addr) == 1) {
		a.family = AF_INET6;
		max = 128;
	} else {
		goto bad_addr;
	}
	a.prefix = max;
	if (slash) {
		p = slash + 1;
		plen = strlen(p);
		/* Decimal digits only: strtoul would take blanks, signs and
		 * hex-looking leading zeros. */
		if (plen == 0 || plen > 3 || strspn(p, "0123456789") != plen ||
		    (p[0] == '0' && plen > 1)) {
			util_seterr(err, errlen,
				    "invalid prefix length \"%.*s\" in \"%.*s\"",
				    QUOTE_MAX, p, QUOTE_MAX, text);
			goto done;
		}
		a.prefix = (unsigned)atoi(p);
		if (a.prefix > max) {
			util_seterr(err, errlen,
				    "prefix length %u out of range 0..%u in \"%.*s\"",
				    a.prefix, max, QUOTE_MAX, text);
			goto done;
		}
	}
	*out = a;
	ret = 0;
	goto done;
bad_addr:
	util_seterr(err, errlen,
		    "invalid address \"%.*s\" (expected IPv4 or IPv6, optionally /prefix)",
		    QUOTE_MAX, text);
done:
	if (ret < 0)
		errno = EINVAL;
	return ret;
}

void netaddr_format(const struct netaddr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!buf || len == 0)
		return;
	if (!addr_valid(a) || !inet_ntop(a->family, a->addr, host, sizeof(host))) {
		util_strlcpy(buf, "?", len);
		return;
	}
	snprintf(buf, len, "%s/%u", host, a->prefix);
}

bool netaddr_same(const struct netaddr *a, const struct netaddr *b)
{
	if (!a || !b || a->family != b->family)
		return false;
	if (a->family != AF_INET && a->family != AF_INET6)
		return false;
	return memcmp(a->addr, b->addr, addr_len(a->family)) == 0;
}

/* --- rtnetlink -------------------------------------------------------------- */

/* Every request gets a fresh socket, so nothing but its own replies can arrive
 * there and a constant sequence number is enough to recognise them. */
#define NL_SEQ 1

struct nl {
	int fd;
	char *buf;
	size_t cap;
};

/* An address request: header, ifaddrmsg and up to three address
 * attributes. */
union nl_req {
	struct nlmsghdr nh;
	char buf[NLMSG_SPACE(sizeof(struct ifaddrmsg)) + 3 * RTA_SPACE(16)];
};

static int nl_open(struct nl *nl)
{
	int one = 1;

	nl->buf = NULL;
	nl->cap = 0;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0)
		return -1;
	/* Extended ACKs carry the kernel's reason as text; capped ACKs do not
	 * echo our request back. Both are niceties older kernels lack. */
	(void)setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(nl->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
}

static void nl_close(struct nl *nl)
{
	close_keep_errno(nl->fd);
	nl->fd = -1;
	free(nl->buf);
	nl->buf = NULL;
	nl->cap = 0;
}

static int nl_send(struct nl *nl, const struct nlmsghdr *nh)
{
	struct sockaddr_nl sa;
	ssize_t n;

	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	do {
		n = sendto(nl->fd, nh, nh->nlmsg_len, 0, (struct sockaddr *)&sa,
			   sizeof(sa));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != nh->nlmsg_len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* One datagram from the kernel into nl->buf; its length, or -1. The size is
 * peeked first so that a large dump batch is never truncated. No timeout is
 * needed: rtnetlink answers before sendto returns. */
static ssize_t nl_recv(struct nl *nl)
{
	struct sockaddr_nl sa;
	socklen_t salen;
	ssize_t n;

	for (;;) {
		n = recv(nl->fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if ((size_t)n > nl->cap) {
			nl->cap = (size_t)n;
			free(nl->buf);
			nl->buf = util_xmalloc(nl->cap);
		}
		salen = sizeof(sa);
		n = recvfrom(nl->fd, nl->buf, nl->cap, 0, (struct sockaddr *)&sa,
			     &salen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		/* Only the kernel (port 0) answers requests. */
		if (salen >= sizeof(sa) && sa.nl_pid != 0)
			continue;
		return n;
	}
}

/* Walks the messages of one datagram: the next one, or NULL at the end (or
 * at a length that does not fit, which ends the datagram too). */
static const struct nlmsghdr *nl_next(const char *buf, size_t len, size_t *off)
{
	const struct nlmsghdr *nh;

	if (*off + sizeof(*nh) > len)
		return NULL;
	nh = (const struct nlmsghdr *)(buf + *off);
	if (nh->nlmsg_len < sizeof(*nh) || nh->nlmsg_len > len - *off)
		return NULL;
	*off += NLMSG_ALIGN(nh->nlmsg_len);
	return nh;
}

/* The errno of an NLMSG_ERROR message (0 for an ACK), its extended-ACK text
 * into kmsg ("" if none). */
static int nl_error(const struct nlmsghdr *nh, char *kmsg, size_t kmsglen)
{
	const struct nlmsgerr *e;
	const struct nlattr *at;
	const char *p;
	size_t off, end, alen;

	kmsg[0] = '\0';
	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return EPROTO;
	e = NLMSG_DATA(nh);
	if (e->error == 0)
		return 0;
	if (nh->nlmsg_flags & NLM_F_ACK_TLVS) {
		/* The TLVs follow the echoed request, which is cut to its
		 * header when the ACK is capped. */
		off = NLMSG_LENGTH(sizeof(*e));
		if (!(nh->nlmsg_flags & NLM_F_CAPPED))
			off += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
		end = nh->nlmsg_len;
		p = (const char *)nh;
		while (off + NLA_HDRLEN <= end) {
			at = (const struct nlattr *)(p + off);
			alen = at->nla_len;
			if (alen < NLA_HDRLEN || alen > end - off)
				break;
			if ((at->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG &&
			    alen > NLA_HDRLEN) {
				snprintf(kmsg, kmsglen, "%.*s",
					 (int)(alen - NLA_HDRLEN),
					 p + off + NLA_HDRLEN);
				break;
			}
			off += NLA_ALIGN(alen);
		}
	}
	return e->error < 0 ? -e->error : e->error;
}

/* Sends a request with NLM_F_ACK and waits for its answer: 0 ACK, the
 * kernel's errno (> 0, reason text in kmsg) for a NACK, -1 with errno if the
 * exchange itself failed. */
static int nl_transact(struct nl *nl, struct nlmsghdr *req, char *kmsg,
		       size_t kmsglen)
{
	const struct nlmsghdr *nh;
	ssize_t n;
	size_t off;

	req->nlmsg_flags |= NLM_F_ACK;
	req->nlmsg_seq = NL_SEQ;
	if (nl_send(nl, req) < 0)
		return -1;
	for (;;) {
		n = nl_recv(nl);
		if (n < 0)
			return -1;
		off = 0;
		while ((nh = nl_next(nl->buf, (size_t)n, &off))) {
			if (nh->nlmsg_seq == NL_SEQ &&
			    nh->nlmsg_type == NLMSG_ERROR)
				return nl_error(nh, kmsg, kmsglen);
		}
	}
}

static void nl_put(struct nlmsghdr *nh, size_t cap, unsigned short type,
		   const void *data, size_t len)
{
	struct rtattr *rta;
	size_t at = NLMSG_ALIGN(nh->nlmsg_len);

	/* Requests are built from fixed-size parts into a buffer sized for
	 * them: running out of room is a bug here, not a runtime condition. */
	if (at + RTA_SPACE(len) > cap)
		abort();
	rta = (struct rtattr *)((char *)nh + at);
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
}

static void nl_seterr(char *err, size_t errlen, const char *what, int e,
		      const char *kmsg)
{
	if (kmsg && *kmsg)
		util_seterr(err, errlen, "%s: %s (%s)", what, strerror(e), kmsg);
	else
		util_seterr(err, errlen, "%s: %s", what, strerror(e));
}

/* RTM_NEWADDR / RTM_DELADDR of a on ifindex. benign is the kernel's errno
 * that means "already done" (EEXIST, EADDRNOTAVAIL): 1. */
static int addr_change(uint16_t type, int benign, const char *verb,
		       const char *prep, const char *ifname,
		       const struct netaddr *a, char *err, size_t errlen)
{
	union nl_req req;
	struct ifaddrmsg *ifa;
	struct nl nl = { .fd = -1 };
	char what[128], kmsg[256];
	uint8_t brd[4];
	unsigned ifindex, i;
	size_t alen;
	int r, e = 0, ret = -1;

	if (prepare(verb, prep, ifname, a, &ifindex, what, sizeof(what), err,
		    errlen) < 0) {
		e = errno;
		goto done;
	}
	alen = addr_len(a->family);
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(*ifa));
	req.nh.nlmsg_type = type;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	if (type == RTM_NEWADDR)
		req.nh.nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	ifa = NLMSG_DATA(&req.nh);
	ifa->ifa_family = (uint8_t)a->family;
	ifa->ifa_prefixlen = (uint8_t)a->prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	/* A taken-over address must work at once; the conflict check is
	 * netaddr_probe, before the takeover (see the header). */
	if (a->family == AF_INET6 && type == RTM_NEWADDR)
		ifa->ifa_flags = IFA_F_NODAD;
	nl_put(&req.nh, sizeof(req), IFA_LOCAL, a->addr, alen);
	nl_put(&req.nh, sizeof(req), IFA_ADDRESS, a->addr, alen);
	/* /31 and /32 have no broadcast address (RFC 3021). */
	if (a->family == AF_INET && type == RTM_NEWADDR && a->prefix < 31) {
		for (i = 0; i < 4; i++) {
			unsigned bits = a->prefix > i * 8 ? a->prefix - i * 8 : 0;
			uint8_t hostmask = bits >= 8 ? 0 : (uint8_t)(0xffu >> bits);

			brd[i] = a->addr[i] | hostmask;
		}
		nl_put(&req.nh, sizeof(req), IFA_BROADCAST, brd, sizeof(brd));
	}

	if (nl_open(&nl) < 0) {
		e = errno;
		util_seterr(err, errlen, "%s: netlink socket: %s", what,
			    strerror(e));
		goto done;
	}
	r = nl_transact(&nl, &req.nh, kmsg, sizeof(kmsg));
	if (r < 0) {
		e = errno;
		util_seterr(err, errlen, "%s: netlink: %s", what, strerror(e));
		goto done;
	}
	if (r == benign) {
		ret = 1;
		goto done;
	}
	if (r > 0) {
		e = r;
		nl_seterr(err, errlen, what, e, kmsg);
		goto done;
	}
	ret = 0;
done:
	nl_close(&nl);
	if (ret < 0)
		errno = e;
	return ret;
}

int netaddr_add(const char *ifname, const struct netaddr *a, char *err,
		size_t errlen)
{
	return addr_change(RTM_NEWADDR, EEXIST, "add", "to", ifname, a, err,
			   errlen);
}

int netaddr_del(const char *ifname, const struct netaddr *a, char *err,
		size_t errlen)
{
	return addr_change(RTM_DELADDR, EADDRNOTAVAIL, "remove", "from", ifname,
			   a, err, errlen);
}

/* Whether an RTM_NEWADDR message is about a's address: its local address is
 * IFA_LOCAL when present (on point-to-point links IFA_ADDRESS is the peer),
 * else IFA_ADDRESS. */
static bool addr_msg_matches(const struct nlmsghdr *nh, const struct netaddr *a)
{
	const struct ifaddrmsg *ifa;
	const struct rtattr *rta;
	const uint8_t *local = NULL, *address = NULL, *mine;
	const char *p = (const char *)nh;
	size_t off = NLMSG_SPACE(sizeof(*ifa)), alen = addr_len(a->family);

	if (nh->nlmsg_len < off)
		return false;
	ifa = NLMSG_DATA(nh);
	if (ifa->ifa_family != a->family)
		return false;
	while (off + sizeof(*rta) <= nh->nlmsg_len) {
		rta = (const struct rtattr *)(p + off);
		if (rta->rta_len < sizeof(*rta) ||
		    rta->rta_len > nh->nlmsg_len - off)
			break;
		if (RTA_PAYLOAD(rta) >= alen) {
			if (rta->rta_type == IFA_LOCAL)
				local = RTA_DATA(rta);
			else if (rta->rta_type == IFA_ADDRESS)
				address = RTA_DATA(rta);
		}
		off += RTA_ALIGN(rta->rta_len);
	}
	mine = local ? local : address;
	return mine && memcmp(mine, a->addr, alen) == 0;
}

/* One RTM_GETADDR dump of a's family: the index of the first interface
 * holding a into *ifindex (0: none), *intr if the kernel flagged the dump as
 * inconsistent. Returns like nl_transact. */
static int addr_dump(struct nl *nl, const struct netaddr *a, unsigned *ifindex,
		     unsigned *prefix, bool *intr, char *kmsg, size_t kmsglen)
{
	union nl_req req;
	struct ifaddrmsg *ifa;
	const struct nlmsghdr *nh;
	ssize_t n;
	size_t off;
	int v;

	*ifindex = 0;
	*intr = false;
	kmsg[0] = '\0';
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(*ifa));
	req.nh.nlmsg_type = RTM_GETADDR;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = NL_SEQ;
	ifa = NLMSG_DATA(&req.nh);
	ifa->ifa_family = (uint8_t)a->family;
	if (nl_send(nl, &req.nh) < 0)
		return -1;
	/* Read to the end even after a match: the dump's own end tells
	 * whether it was complete. */
	for (;;) {
		n = nl_recv(nl);
		if (n < 0)
			return -1;
		off = 0;
		while ((nh = nl_next(nl->buf, (size_t)n, &off))) {
			if (nh->nlmsg_seq != NL_SEQ)
				continue;
			if (nh->nlmsg_flags & NLM_F_DUMP_INTR)
				*intr = true;
			if (nh->nlmsg_type == NLMSG_ERROR)
				return nl_error(nh, kmsg, kmsglen);
			if (nh->nlmsg_type == NLMSG_DONE) {
				/* A dump that failed midway ends with a
				 * negative errno in DONE. */
				if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(v))) {
					memcpy(&v, NLMSG_DATA(nh), sizeof(v));
					if (v < 0)
						return -v;
				}
				return 0;
			}
			if (nh->nlmsg_type == RTM_NEWADDR && *ifindex == 0 &&
			    addr_msg_matches(nh, a)) {
				*ifindex = ((const struct ifaddrmsg *)NLMSG_DATA(nh))->ifa_index;
				*prefix = ((const struct ifaddrmsg *)NLMSG_DATA(nh))->ifa_prefixlen;
			}
		}
	}
}

int netaddr_held(const struct netaddr *a, char *ifname, char *err,
		 size_t errlen)
{
	return netaddr_held_prefix(a, ifname, NULL, err, errlen);
}

int netaddr_held_prefix(const struct netaddr *a, char *ifname, unsigned *prefix,
			char *err, size_t errlen)
{
	struct nl nl = { .fd = -1 };
	char txt[NETADDR_STRLEN], what[128], kmsg[256], name[IF_NAMESIZE];
	unsigned ifindex = 0, plen = 0;
	bool intr = false;
	int attempt, r, e = 0, ret = -1;

	if (!addr_valid(a)) {
		util_seterr(err, errlen,
			    "cannot look up an address: invalid address (family %d)",
			    a ? a->family : -1);
		e = EINVAL;
		goto done;
	}
	netaddr_format(a, txt, sizeof(txt));
	snprintf(what, sizeof(what), "cannot look up %s", txt);
	/* A dump that raced with address changes may have skipped entries, so
	 * a miss in it is no answer; so is a hit on an interface that vanished
	 * before its name was read. Both are retried a few times. */
	for (attempt = 0; attempt < 3; attempt++) {
		nl_close(&nl);
		if (nl_open(&nl) < 0) {
			e = errno;
			util_seterr(err, errlen, "%s: netlink socket: %s", what,
				    strerror(e));
			goto done;
		}
		r = addr_dump(&nl, a, &ifindex, &plen, &intr, kmsg, sizeof(kmsg));
		if (r < 0) {
			e = errno;
			util_seterr(err, errlen, "%s: netlink: %s", what,
				    strerror(e));
			goto done;
		}
		if (r > 0) {
			e = r;
			nl_seterr(err, errlen, what, e, kmsg);
			goto done;
		}
		if (ifindex && if_indextoname(ifindex, name)) {
			if (ifname)
				util_strlcpy(ifname, name, IF_NAMESIZE);
			if (prefix)
				*prefix = plen;
			ret = 1;
			goto done;
		}
		if (!ifindex && !intr) {
			ret = 0;
			goto done;
		}
	}
	e = EAGAIN;
	util_seterr(err, errlen, "%s: the addresses kept changing during the lookup",
		    what);
done:
	nl_close(&nl);
	if (ret < 0)
		errno = e;
	return ret;
}

/* --- link layer ------------------------------------------------------------- */

/* The interface's MAC. ENOTSUP for anything but Ethernet-like interfaces,
 * whose addresses ARP and NDP here assume to be 6 bytes. */
static int if_mac(int fd, const char *ifname, uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	util_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return -1;
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		errno = ENOTSUP;
		return -1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	return 0;
}

static void if_mac_seterr(char *err, size_t errlen, const char *what, int e)
{
	if (e == ENOTSUP)
		util_seterr(err, errlen, "%s: not an Ethernet interface", what);
	else
		util_seterr(err, errlen, "%s: reading its MAC address: %s", what,
			    strerror(e));
}

/* An AF_PACKET datagram socket bound to ifindex, receiving frames of
 * ethertype proto (0: none). It is created with protocol 0, which receives
 * nothing, so no frame of another interface slips in before the bind. */
static int packet_open(unsigned ifindex, uint16_t proto)
{
	struct sockaddr_ll sll;
	int fd;

	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(proto);
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

static int packet_send(int fd, unsigned ifindex, uint16_t proto,
		       const uint8_t dst[ETH_ALEN], const void *data, size_t len)
{
	struct sockaddr_ll sll;
	ssize_t n;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(proto);
	sll.sll_ifindex = (int)ifindex;
	sll.sll_halen = ETH_ALEN;
	memcpy(sll.sll_addr, dst, ETH_ALEN);
	do {
		n = sendto(fd, data, len, 0, (struct sockaddr *)&sll,
			   sizeof(sll));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static void arp_build(struct ether_arp *p, uint16_t op,
		      const uint8_t sha[ETH_ALEN], const uint8_t spa[4],
		      const uint8_t tha[ETH_ALEN], const uint8_t tpa[4])
{
	memset(p, 0, sizeof(*p));
	p->arp_hrd = htons(ARPHRD_ETHER);
	p->arp_pro = htons(ETHERTYPE_IP);
	p->arp_hln = ETH_ALEN;
	p->arp_pln = 4;
	p->arp_op = htons(op);
	memcpy(p->arp_sha, sha, ETH_ALEN);
	memcpy(p->arp_spa, spa, 4);
	memcpy(p->arp_tha, tha, ETH_ALEN);
	memcpy(p->arp_tpa, tpa, 4);
}

/* ICMPv6 checksum over the pseudo-header and msg (its checksum field zero),
 * in host order. */
static uint16_t icmp6_cksum(const uint8_t src[16], const uint8_t dst[16],
			    const uint8_t *msg, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < 16; i += 2) {
		sum += (uint32_t)(src[i] << 8 | src[i + 1]);
		sum += (uint32_t)(dst[i] << 8 | dst[i + 1]);
	}
	sum += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
	sum += IPPROTO_ICMPV6;
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(msg[i] << 8 | msg[i + 1]);
	if (len & 1)
		sum += (uint32_t)(msg[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The link-layer address option of type opt in the NDP options at p, or
 * NULL. */
static const uint8_t *nd_opt_mac(const uint8_t *p, size_t len, uint8_t opt)
{
	size_t olen;

	while (len >= 2) {
		olen = (size_t)p[1] * 8;
		if (olen == 0 || olen > len)
			return NULL;
		if (p[0] == opt && olen >= 2 + ETH_ALEN)
			return p + 2;
		p += olen;
		len -= olen;
	}
	return NULL;
}

/* --- announce --------------------------------------------------------------- */

static int announce4(int fd, unsigned ifindex, const uint8_t mac[ETH_ALEN],
		     const struct netaddr *a)
{
	static const uint8_t zero[ETH_ALEN];
	struct ether_arp p;

	/* RFC 5227 ARP announcement: target MAC zero. */
	arp_build(&p, ARPOP_REQUEST, mac, a->addr, zero, a->addr);
	if (packet_send(fd, ifindex, ETH_P_ARP, mac_broadcast, &p, sizeof(p)) < 0)
		return -1;
	/* Some neighbours only update their cache from replies. */
	arp_build(&p, ARPOP_REPLY, mac, a->addr, mac, a->addr);
	return packet_send(fd, ifindex, ETH_P_ARP, mac_broadcast, &p, sizeof(p));
}

static int announce6(int fd, const char *ifname, unsigned ifindex,
		     const uint8_t mac[ETH_ALEN], const struct netaddr *a)
{
	uint8_t pkt[sizeof(struct nd_neighbor_advert) + 8];
	struct nd_neighbor_advert na;
	struct sockaddr_in6 dst;
	struct in6_pktinfo pi;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	int hops = 255, loop = 0, attempt;
	ssize_t n;

	/* Receivers drop neighbour discovery that did not come with hop limit
	 * 255 (RFC 4861 7.1.2); our own stack need not see it. */
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
		       (socklen_t)strlen(ifname) + 1) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops,
		       sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop,
		       sizeof(loop)) < 0)
		return -1;

	memset(&na, 0, sizeof(na));
	na.nd_na_type = ND_NEIGHBOR_ADVERT;
	na.nd_na_code = 0;
	/* Unsolicited: override set, solicited clear (RFC 4861 7.2.6). The
	 * kernel fills in the checksum of raw ICMPv6 sockets. */
	na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
	memcpy(&na.nd_na_target, a->addr, 16);
	memcpy(pkt, &na, sizeof(na));
	pkt[sizeof(na)] = ND_OPT_TARGET_LINKADDR;
	pkt[sizeof(na) + 1] = 1;	/* in units of 8 bytes */
	memcpy(pkt + sizeof(na) + 2, mac, ETH_ALEN);

	memset(&dst, 0, sizeof(dst));
	dst.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "ff02::1", &dst.sin6_addr);
	dst.sin6_scope_id = ifindex;

	memset(&pi, 0, sizeof(pi));
	memcpy(&pi.ipi6_addr, a->addr, 16);
	pi.ipi6_ifindex = ifindex;
	/* Sent from the address itself when the kernel allows it (assigned,
	 * not tentative), else from whatever source the kernel picks. */
	for (attempt = 0; attempt < 2; attempt++) {
		memset(&msg, 0, sizeof(msg));
		memset(&ctl, 0, sizeof(ctl));
		iov.iov_base = pkt;
		iov.iov_len = sizeof(pkt);
		msg.msg_name = &dst;
		msg.msg_namelen = sizeof(dst);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		do {
			n = sendmsg(fd, &msg, 0);
		} while (n < 0 && errno == EINTR);
		if (n >= 0)
			break;
		if (attempt > 0 || (errno != EINVAL && errno != EADDRNOTAVAIL))
			return -1;
		memset(&pi.ipi6_addr, 0, sizeof(pi.ipi6_addr));
	}
	if ((size_t)n != sizeof(pkt)) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int netaddr_announce(const char *ifname, const struct netaddr *a, char *err,
		     size_t errlen)
{
	char what[128];
	uint8_t mac[ETH_ALEN];
	unsigned ifindex;
	int fd = -1, e = 0, ret = -1;

	if (prepare("announce", "on", ifname, a, &ifindex, what, sizeof(what),
		    err, errlen) < 0) {
		e = errno;
		goto done;
	}
	if (a->family == AF_INET)
		fd = packet_open(ifindex, 0);
	else
		fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (fd < 0) {
		e = errno;
		util_seterr(err, errlen, "%s: socket: %s", what, strerror(e));
		goto done;
	}
	if (if_mac(fd, ifname, mac) < 0) {
		e = errno;
		if_mac_seterr(err, errlen, what, e);
		goto done;
	}
	if ((a->family == AF_INET ? announce4(fd, ifindex, mac, a)
				  : announce6(fd, ifname, ifindex, mac, a)) < 0) {
		e = errno;
		util_seterr(err, errlen, "%s: %s", what, strerror(e));
		goto done;
	}
	ret = 0;
done:
	close_keep_errno(fd);
	if (ret < 0)
		errno = e;
	return ret;
}

/* --- probe ------------------------------------------------------------------ */

static int probe_send4(int fd, unsigned ifindex, const uint8_t mac[ETH_ALEN],
		       const struct netaddr *a)
{
	static const uint8_t zero[ETH_ALEN], any[4];
	struct ether_arp p;

	/* RFC 5227 probe: sender IP 0.0.0.0 so that no neighbour's cache
	 * learns anything from it. */
	arp_build(&p, ARPOP_REQUEST, mac, any, zero, a->addr);
	return packet_send(fd, ifindex, ETH_P_ARP, mac_broadcast, &p, sizeof(p));
}

/* A neighbour solicitation from :: to the solicited-node group of a, as in
 * duplicate address detection (RFC 4862 5.4.2). Built down to the IPv6 header
 * because a socket of the IP layer cannot send from the unspecified
 * address. */
static int probe_send6(int fd, unsigned ifindex, const struct netaddr *a)
{
	uint8_t frame[sizeof(struct ip6_hdr) + sizeof(struct nd_neighbor_solicit)];
	uint8_t *icmp = frame + sizeof(struct ip6_hdr);
	struct ip6_hdr ip;
	struct nd_neighbor_solicit ns;
	uint8_t dstmac[ETH_ALEN] = { 0x33, 0x33, 0xff, a->addr[13], a->addr[14],
				     a->addr[15] };
	uint16_t ck;

	memset(&ip, 0, sizeof(ip));
	ip.ip6_flow = htonl(6u << 28);
	ip.ip6_plen = htons(sizeof(ns));
	ip.ip6_nxt = IPPROTO_ICMPV6;
	ip.ip6_hlim = 255;
	/* ff02::1:ffXX:XXXX, XX:XXXX the last 24 bits of the address. */
	ip.ip6_dst.s6_addr[0] = 0xff;
	ip.ip6_dst.s6_addr[1] = 0x02;
	ip.ip6_dst.s6_addr[11] = 0x01;
	ip.ip6_dst.s6_addr[12] = 0xff;
	memcpy(&ip.ip6_dst.s6_addr[13], &a->addr[13], 3);

	memset(&ns, 0, sizeof(ns));
	ns.nd_ns_type = ND_NEIGHBOR_SOLICIT;
	memcpy(&ns.nd_ns_target, a->addr, 16);

	memcpy(frame, &ip, sizeof(ip));
	memcpy(icmp, &ns, sizeof(ns));
	ck = icmp6_cksum(ip.ip6_src.s6_addr, ip.ip6_dst.s6_addr, icmp,
			 sizeof(ns));
	icmp[2] = (uint8_t)(ck >> 8);
	icmp[3] = (uint8_t)(ck & 0xff);
	return packet_send(fd, ifindex, ETH_P_IPV6, dstmac, frame, sizeof(frame));
}

bool netaddr_arp_conflict(const void *pkt, size_t len, const struct netaddr *a,
			  const uint8_t mine[ETH_ALEN], uint8_t other[ETH_ALEN])
{
	struct ether_arp p;

	if (len < sizeof(p))
		return false;
	memcpy(&p, pkt, sizeof(p));
	if (ntohs(p.arp_hrd) != ARPHRD_ETHER || ntohs(p.arp_pro) != ETHERTYPE_IP ||
	    p.arp_hln != ETH_ALEN || p.arp_pln != 4)
		return false;
	if (ntohs(p.arp_op) != ARPOP_REQUEST && ntohs(p.arp_op) != ARPOP_REPLY)
		return false;
	if (memcmp(p.arp_spa, a->addr, 4) != 0 ||
	    memcmp(p.arp_sha, mine, ETH_ALEN) == 0)
		return false;
	memcpy(other, p.arp_sha, ETH_ALEN);
	return true;
}

/* Whether a received IPv6 packet shows another host using a: a neighbour
 * advertisement for a, or a neighbour solicitation sent from a. Their MAC is
 * taken from the link-layer option, else from the frame. */
static bool conflict6(const uint8_t *pkt, size_t len, const struct netaddr *a,
		      const uint8_t mine[ETH_ALEN],
		      const struct sockaddr_ll *from, uint8_t other[ETH_ALEN])
{
	const size_t iph = sizeof(struct ip6_hdr);
	const size_t ndh = sizeof(struct nd_neighbor_advert);
	struct ip6_hdr ip;
	const uint8_t *icmp, *m;
	size_t plen;
	uint8_t opt;

	if (len < iph + ndh)
		return false;
	memcpy(&ip, pkt, sizeof(ip));
	plen = ntohs(ip.ip6_plen);
	/* Neighbour discovery never carries extension headers and always
	 * hop limit 255; anything else is not from the link. */
	if ((pkt[0] >> 4) != 6 || ip.ip6_nxt != IPPROTO_ICMPV6 ||
	    ip.ip6_hlim != 255 || plen < ndh || iph + plen > len)
		return false;
	icmp = pkt + iph;
	if (icmp[1] != 0)
		return false;
	if (icmp[0] == ND_NEIGHBOR_ADVERT && memcmp(icmp + 8, a->addr, 16) == 0)
		opt = ND_OPT_TARGET_LINKADDR;
	else if (icmp[0] == ND_NEIGHBOR_SOLICIT &&
		 memcmp(ip.ip6_src.s6_addr, a->addr, 16) == 0)
		opt = ND_OPT_SOURCE_LINKADDR;
	else
		return false;
	m = nd_opt_mac(icmp + ndh, plen - ndh, opt);
	if (!m) {
		if (from->sll_halen != ETH_ALEN)
			return false;
		m = from->sll_addr;
	}
	if (memcmp(m, mine, ETH_ALEN) == 0)
		return false;
	memcpy(other, m, ETH_ALEN);
	return true;
}

/* Sends PROBES probes at even intervals over timeout_ms and watches the
 * replies: 1 conflict (other filled), 0 none, -1 with errno. */
static int probe_run(int fd, unsigned ifindex, const uint8_t mine[ETH_ALEN],
		     const struct netaddr *a, unsigned timeout_ms,
		     uint8_t other[ETH_ALEN])
{
	/* Large enough for any Ethernet frame's payload. */
	uint8_t pkt[2048];
	struct sockaddr_ll from;
	socklen_t fromlen;
	struct pollfd pfd;
	uint64_t start, now, next, deadline, span, wait_ns;
	unsigned sent = 0;
	ssize_t n;
	int r, wait_ms;
	bool hit;

	span = (uint64_t)timeout_ms * 1000000u;
	start = util_now_mono_ns();
	deadline = start + span;
	for (;;) {
		now = util_now_mono_ns();
		next = start + span * sent / PROBES;
		if (sent < PROBES && now >= next) {
			r = a->family == AF_INET ? probe_send4(fd, ifindex, mine, a)
						 : probe_send6(fd, ifindex, a);
			if (r < 0)
				return -1;
			sent++;
			continue;
		}
		if (now >= deadline)
			return 0;
		if (sent >= PROBES || next > deadline)
			next = deadline;
		/* Round up: waking a little late costs nothing, waking early
		 * spins. Capped so that huge timeouts fit poll's int. */
		wait_ns = next - now + 999999u;
		wait_ms = wait_ns / 1000000u > 60000 ? 60000
						     : (int)(wait_ns / 1000000u);
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		fromlen = sizeof(from);
		n = recvfrom(fd, pkt, sizeof(pkt), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		/* Packet sockets also see what this host sends. */
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		hit = a->family == AF_INET
			      ? netaddr_arp_conflict(pkt, (size_t)n, a, mine, other)
			      : conflict6(pkt, (size_t)n, a, mine, &from, other);
		if (hit)
			return 1;
	}
}

/* A packet socket for probing a on ifname, with our MAC; -1 with err. */
static int probe_open(const char *ifname, const struct netaddr *a, unsigned *ifindex,
		      uint8_t mine[ETH_ALEN], char *what, size_t whatlen, char *err, size_t errlen)
{
	static const uint8_t allnodes[ETH_ALEN] = { 0x33, 0x33, 0, 0, 0, 1 };
	struct packet_mreq mr;
	int fd = -1, e = 0;

	if (prepare("probe", "on", ifname, a, ifindex, what, whatlen, err, errlen) < 0)
		return -1;
	fd = packet_open(*ifindex, a->family == AF_INET ? ETH_P_ARP : ETH_P_IPV6);
	if (fd < 0) {
		e = errno;
		util_seterr(err, errlen, "%s: packet socket: %s", what, strerror(e));
		goto fail;
	}
	if (if_mac(fd, ifname, mine) < 0) {
		e = errno;
		if_mac_seterr(err, errlen, what, e);
		goto fail;
	}
	/* Answers to a DAD probe go to ff02::1; make sure the NIC passes that
	 * group up even if the interface's IPv6 is off. The membership ends
	 * with the socket. */
	if (a->family == AF_INET6) {
		memset(&mr, 0, sizeof(mr));
		mr.mr_ifindex = (int)*ifindex;
		mr.mr_type = PACKET_MR_MULTICAST;
		mr.mr_alen = ETH_ALEN;
		memcpy(mr.mr_address, allnodes, ETH_ALEN);
		if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
			e = errno;
			util_seterr(err, errlen, "%s: joining ff02::1: %s", what, strerror(e));
			goto fail;
		}
	}
	return fd;
fail:
	close_keep_errno(fd);
	errno = e;
	return -1;
}

int netaddr_probe(const char *ifname, const struct netaddr *a,
		  unsigned timeout_ms, uint8_t *mac, char *err, size_t errlen)
{
	char what[128];
	uint8_t mine[ETH_ALEN], other[ETH_ALEN];
	unsigned ifindex;
	int fd, r, e = 0, ret = -1;

	fd = probe_open(ifname, a, &ifindex, mine, what, sizeof(what), err, errlen);
	if (fd < 0)
		return -1;
	r = probe_run(fd, ifindex, mine, a, timeout_ms, other);
	if (r < 0) {
		e = errno;
		util_seterr(err, errlen, "%s: %s", what, strerror(e));
		goto done;
	}
	if (r > 0 && mac)
		memcpy(mac, other, ETH_ALEN);
	ret = r;
done:
	close_keep_errno(fd);
	if (ret < 0)
		errno = e;
	return ret;
}

int netaddr_probe_send(const char *ifname, const struct netaddr *a, uint8_t *mac,
		       char *err, size_t errlen)
{
	char what[128];
	uint8_t mine[ETH_ALEN];
	unsigned ifindex;
	int fd, e = 0, ret = -1;

	fd = probe_open(ifname, a, &ifindex, mine, what, sizeof(what), err, errlen);
	if (fd < 0)
		return -1;
	if ((a->family == AF_INET ? probe_send4(fd, ifindex, mine, a) : probe_send6(fd, ifindex, a)) < 0) {
		e = errno;
		util_seterr(err, errlen, "%s: %s", what, strerror(e));
		goto done;
	}
	if (mac)
		memcpy(mac, mine, ETH_ALEN);
	ret = 0;
done:
	close_keep_errno(fd);
	if (ret < 0)
		errno = e;
	return ret;
}
