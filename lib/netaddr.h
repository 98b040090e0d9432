/* netaddr — IP address takeover for failover: parse and format addresses,
 * add and remove them on an interface through rtnetlink, find which interface
 * holds one, announce a taken-over address to the link and probe whether
 * another host already uses it (split-brain detection).
 *
 * Plain sockets only (NETLINK_ROUTE, AF_PACKET, raw ICMPv6); nothing runs
 * `ip`. Everything works on the caller's network namespace. Adding, removing,
 * announcing and probing need CAP_NET_ADMIN / CAP_NET_RAW.
 *
 * Conventions: functions returning int give -1 on failure with errno set and
 * one line in err (errlen bytes; err may be NULL or errlen 0), e.g.
 *   cannot add 192.0.2.10/24 to eth9: no such interface
 *   cannot add 192.0.2.10/24 to eth0: Operation not permitted
 * Every call opens and closes its own sockets, so they are independent of
 * each other and of any event loop. All calls block: the netlink ones only
 * for the kernel's immediate answer, netaddr_probe up to its timeout.
 *
 * PARSING (netaddr_parse)
 *   "192.0.2.10", "192.0.2.10/24", "2001:db8::10", "2001:db8::10/64".
 *   Without a prefix the address is a host address (/32, /128). The prefix is
 *   decimal without sign or leading zeros, 0..32 or 0..128. Anything else —
 *   blanks, a scope ("fe80::1%eth0"), trailing characters, an empty part — is
 *   refused with errno EINVAL; *out is then unchanged.
 *
 * ADD / DELETE
 *   netaddr_add sends RTM_NEWADDR (create, exclusive) with IFA_LOCAL and
 *   IFA_ADDRESS, plus IFA_BROADCAST for IPv4 prefixes below 31. IPv6 addresses
 *   are added with IFA_F_NODAD: a takeover must be usable at once (the design
 *   allows 1 s from source death to takeover done, DAD alone takes about 1 s)
 *   and the conflict check is netaddr_probe, done before taking over.
 *   Returns 0 added, 1 already there (the kernel's EEXIST: for IPv4 the same
 *   address with the same prefix on that interface; for IPv6 the same address
 *   on that interface, whatever its prefix), -1 on error.
 *   netaddr_del sends RTM_DELADDR for address and prefix: the kernel only
 *   removes an address configured with this very prefix. Returns 0 removed,
 *   1 not there (EADDRNOTAVAIL, including "there with another prefix"), -1.
 *
 * netaddr_held dumps the namespace's addresses of a's family and reports the
 *   first interface holding a's address (prefix ignored; IPv6 addresses still
 *   doing or having failed DAD count as held). ifname (IF_NAMESIZE bytes, may
 *   be NULL) receives its name. 1 held, 0 not, -1 on error.
 *
 * netaddr_announce sends, once (the caller repeats it, neighbours ignore
 *   updates within their ~1 s locktime):
 *   IPv4: a gratuitous ARP request (sender IP = target IP = the address,
 *   target MAC zero) and a gratuitous ARP reply (target MAC = sender MAC),
 *   both broadcast, sender MAC = ifname's.
 *   IPv6: an unsolicited neighbour advertisement to ff02::1 (override flag,
 *   target link-layer address option = ifname's MAC, hop limit 255). Its
 *   source is the address itself if the kernel accepts it (assigned and not
 *   tentative), otherwise the source the kernel chooses.
 *   Only Ethernet-like interfaces (ARPHRD_ETHER) are supported: ENOTSUP.
 *
 * netaddr_probe asks the link whether another host uses the address:
 *   IPv4: RFC 5227 ARP probes (sender IP 0.0.0.0, target IP = the address);
 *   a conflict is any ARP reply or request whose sender IP is the address and
 *   whose sender MAC is not ifname's.
 *   IPv6: DAD-style neighbour solicitations from :: to the address's
 *   solicited-node group; a conflict is a neighbour advertisement for the
 *   address, or a neighbour solicitation sent from the address, by another
 *   MAC.
 *   Up to three probes are sent, spread over timeout_ms, so that one lost
 *   frame does not make a live peer look absent. Returns as soon as a conflict
 *   is seen: 1 (the other MAC into mac[6] if mac is not NULL), 0 when nobody
 *   answered within timeout_ms, -1 on error.
 *
 * netaddr_probe_send sends one such probe and returns at once (0, or -1),
 *   with ifname's MAC in mac[6] if not NULL; the caller watches the answers
 *   itself (an ETH_P_ARP packet socket in its event loop) with
 * netaddr_arp_conflict: whether a received ARP packet (request or reply)
 *   shows another host using a — sender IP a, sender MAC not mine; that MAC
 *   into other.
 */
#ifndef DITTO_NETADDR_H
#define DITTO_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netaddr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network order; 4 bytes used for AF_INET */
	unsigned prefix;	/* 0..32 / 0..128 */
};

/* Room for the longest netaddr_format output, NUL included. */
#define NETADDR_STRLEN (46 + 4)

int netaddr_parse(const char *text, struct netaddr *out, char *err,
		  size_t errlen);
/* "192.0.2.10/24", "2001:db8::10/64"; truncated to len (always terminated).
 * A struct with an unknown family or prefix formats as "?". */
void netaddr_format(const struct netaddr *a, char *buf, size_t len);
/* Same family and address; the prefix is ignored. */
bool netaddr_same(const struct netaddr *a, const struct netaddr *b);

int netaddr_add(const char *ifname, const struct netaddr *a, char *err,
		size_t errlen);
int netaddr_del(const char *ifname, const struct netaddr *a, char *err,
		size_t errlen);
int netaddr_held(const struct netaddr *a, char *ifname, char *err,
		 size_t errlen);
/* netaddr_held that also says the prefix the address is configured with
 * (prefix may be NULL), which netaddr_del needs. */
int netaddr_held_prefix(const struct netaddr *a, char *ifname, unsigned *prefix,
			char *err, size_t errlen);
int netaddr_announce(const char *ifname, const struct netaddr *a, char *err,
		     size_t errlen);
int netaddr_probe(const char *ifname, const struct netaddr *a,
		  unsigned timeout_ms, uint8_t *mac, char *err, size_t errlen);
int netaddr_probe_send(const char *ifname, const struct netaddr *a, uint8_t *mac,
		       char *err, size_t errlen);
bool netaddr_arp_conflict(const void *pkt, size_t len, const struct netaddr *a,
			  const uint8_t mine[6], uint8_t other[6]);

#endif
