#include "config.h"

#include "netaddr.h"
#include "util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip6.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- parse / format / same (no privileges needed) --------------------------- */

static struct netaddr P(const char *text)
{
	struct netaddr a;
	char err[256];

	cr_assert_eq(netaddr_parse(text, &a, err, sizeof(err)), 0,
		     "parse %s: %s", text, err);
	return a;
}

Test(parse, ipv4)
{
	struct netaddr a = P("192.0.2.10");
	const uint8_t want[4] = { 192, 0, 2, 10 };

	cr_assert_eq(a.family, AF_INET);
	cr_assert_eq(a.prefix, 32);
	cr_assert_arr_eq(a.addr, want, 4);
	a = P("192.0.2.10/24");
	cr_assert_eq(a.prefix, 24);
	cr_assert_arr_eq(a.addr, want, 4);
	cr_assert_eq(P("0.0.0.0/0").prefix, 0);
}

Test(parse, ipv6)
{
	struct netaddr a = P("2001:db8::10/64");
	const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				   0, 0, 0, 0, 0, 0, 0, 0x10 };

	cr_assert_eq(a.family, AF_INET6);
	cr_assert_eq(a.prefix, 64);
	cr_assert_arr_eq(a.addr, want, 16);
	cr_assert_eq(P("2001:db8::10").prefix, 128);
	cr_assert_eq(P("::/0").prefix, 0);
	cr_assert_eq(P("::ffff:192.0.2.1/128").family, AF_INET6);
}

Test(parse, round_trips)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "192.0.2.10/24", "192.0.2.10/24" },
		{ "192.0.2.10", "192.0.2.10/32" },
		{ "10.0.0.1/0", "10.0.0.1/0" },
		{ "255.255.255.255/32", "255.255.255.255/32" },
		{ "2001:db8::10/64", "2001:db8::10/64" },
		{ "2001:DB8:0:0:0:0:0:10", "2001:db8::10/128" },
		{ "fe80::1/10", "fe80::1/10" },
		{ "::/0", "::/0" },
		{ "2001:db8:1:2:3:4:5:6/128", "2001:db8:1:2:3:4:5:6/128" },
	};
	char buf[NETADDR_STRLEN];
	struct netaddr a, b;
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(cases); i++) {
		a = P(cases[i].in);
		netaddr_format(&a, buf, sizeof(buf));
		cr_assert_str_eq(buf, cases[i].out, "%s", cases[i].in);
		b = P(buf);
		cr_assert(netaddr_same(&a, &b));
		cr_assert_eq(a.prefix, b.prefix);
	}
}

Test(parse, rejects)
{
	static const char *const bad[] = {
		"", "/24", "192.0.2", "192.0.2.10.1", "192.0.2.256", "192.0.2.010",
		"192.0.2.10/", "192.0.2.10/33", "192.0.2.10/24x", "192.0.2.10/x",
		"192.0.2.10/+24", "192.0.2.10/-1", "192.0.2.10/024",
		"192.0.2.10/ 24", "192.0.2.10/24 ", " 192.0.2.10", "192.0.2.10 ",
		"192.0.2.10/24/1", "192.0.2.10/1000", "2001:db8::10/129",
		"2001:db8::10/", "2001:db8:::10", "fe80::1%eth0", "fe80::1%eth0/64",
		"host.example", "0x1.2.3.4", "192.0.2.10\n",
		"2001:db8:1:2:3:4:5:6:7:8:9:0:1:2:3:4:5:6:7:8:9:0:1:2:3:4:5/64",
	};
	struct netaddr a, before;
	char err[256];
	size_t i;

	memset(&before, 0x5a, sizeof(before));
	for (i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
		a = before;
		err[0] = '\0';
		errno = 0;
		cr_assert_eq(netaddr_parse(bad[i], &a, err, sizeof(err)), -1,
			     "accepted \"%s\"", bad[i]);
		cr_assert_eq(errno, EINVAL, "%s", bad[i]);
		cr_assert_neq(err[0], '\0', "no message for \"%s\"", bad[i]);
		cr_assert_eq(memcmp(&a, &before, sizeof(a)), 0,
			     "output changed for \"%s\"", bad[i]);
	}
	/* Messages say what is wrong. */
	netaddr_parse("192.0.2.10/33", &a, err, sizeof(err));
	cr_assert(strstr(err, "0..32"), "%s", err);
	netaddr_parse("2001:db8::1/200", &a, err, sizeof(err));
	cr_assert(strstr(err, "0..128"), "%s", err);
	netaddr_parse("bogus", &a, err, sizeof(err));
	cr_assert(strstr(err, "\"bogus\""), "%s", err);
	/* err may be NULL. */
	cr_assert_eq(netaddr_parse("nope", &a, NULL, 0), -1);
	cr_assert_eq(netaddr_parse(NULL, &a, err, sizeof(err)), -1);
}

Test(format, truncates_and_invalid)
{
	struct netaddr a = P("192.0.2.10/24");
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	netaddr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "192.0.2");
	a.prefix = 33;
	netaddr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "?");
	a.family = AF_UNIX;
	a.prefix = 0;
	netaddr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "?");
}

Test(same, ignores_prefix)
{
	struct netaddr a = P("192.0.2.10/24"), b = P("192.0.2.10/32");
	struct netaddr c = P("192.0.2.11/24"), d = P("::ffff:192.0.2.10");

	cr_assert(netaddr_same(&a, &b));
	cr_assert_not(netaddr_same(&a, &c));
	cr_assert_not(netaddr_same(&a, &d));
	/* Bytes past the 4 of IPv4 do not count. */
	b.addr[10] = 0x77;
	cr_assert(netaddr_same(&a, &b));
	cr_assert(netaddr_same(&d, &d));
	cr_assert_not(netaddr_same(&a, NULL));
}

/* Failing lookups need no privileges and change nothing. */
Test(iface, unknown_interface)
{
	struct netaddr a = P("192.0.2.10/24");
	char err[256];
	uint8_t mac[6];

	errno = 0;
	cr_assert_eq(netaddr_add("nosuch0", &a, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENODEV);
	cr_assert(strstr(err, "nosuch0") && strstr(err, "192.0.2.10/24"), "%s", err);
	cr_assert_eq(netaddr_del("nosuch0", &a, err, sizeof(err)), -1);
	cr_assert(strstr(err, "nosuch0"), "%s", err);
	cr_assert_eq(netaddr_announce("nosuch0", &a, err, sizeof(err)), -1);
	cr_assert(strstr(err, "nosuch0"), "%s", err);
	cr_assert_eq(netaddr_probe("nosuch0", &a, 100, mac, err, sizeof(err)), -1);
	cr_assert(strstr(err, "nosuch0"), "%s", err);

	errno = 0;
	cr_assert_eq(netaddr_add("an-interface-name-far-too-long", &a, err,
				 sizeof(err)), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(netaddr_add("", &a, err, sizeof(err)), -1);
	a.prefix = 40;
	errno = 0;
	cr_assert_eq(netaddr_add("lo", &a, err, sizeof(err)), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(netaddr_held(&a, NULL, err, sizeof(err)), -1);
	cr_assert_eq(netaddr_held(NULL, NULL, NULL, 0), -1);
}

/* --- network namespace fixture ---------------------------------------------- */

/* Second namespace (for the far end of the veth pair), deleted in fini so that
 * a failed assertion does not leave it behind. */
static char peer_ns[64];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "`%s` failed (%d)", cmd, rc);
}

/* Output of a command, for checks of what `ip` sees. */
static void sh_out(char *buf, size_t len, const char *cmd)
{
	FILE *f = popen(cmd, "r");
	size_t n;

	cr_assert_not_null(f, "%s", cmd);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	cr_assert_eq(pclose(f), 0, "%s", cmd);
}

/* This test's own network namespace (Criterion runs each test in its own
 * process) with a veth pair a <-> b, both up. With dad false, IPv6 duplicate
 * address detection is off for them, so their link-local addresses are
 * usable at once. */
static void netns_setup(bool dad)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (network namespace, CAP_NET_ADMIN/RAW)");
	if (unshare(CLONE_NEWNET) < 0)
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
	if (!dad)
		sh("sysctl -q -w net.ipv6.conf.default.accept_dad=0");
	sh("ip link add name a type veth peer name b && ip link set dev a up && "
	   "ip link set dev b up");
	/* A frame sent before both ends are operational is dropped: wait
	 * (bounded) for the carrier. */
	sh("for i in $(seq 100); do ip -br link show dev a | grep -q ' UP ' && "
	   "ip -br link show dev b | grep -q ' UP ' && exit 0; sleep 0.02; done; exit 1");
}

/* Moves b into a second namespace and brings it up there. */
static void peer_ns_setup(void)
{
	snprintf(peer_ns, sizeof(peer_ns), "ditto-na-%ld", (long)getpid());
	sh("ip netns add %s", peer_ns);
	sh("ip link set dev b netns %s && ip netns exec %s ip link set dev b up",
	   peer_ns, peer_ns);
	sh("for i in $(seq 100); do ip -br link show dev a | grep -q ' UP ' && "
	   "ip netns exec %s ip -br link show dev b | grep -q ' UP ' && exit 0; sleep 0.02; done; exit 1",
	   peer_ns);
}

static void netns_fini(void)
{
	char cmd[128];

	if (peer_ns[0]) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s", peer_ns);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup: `%s` failed\n", cmd);
		peer_ns[0] = '\0';
	}
}

TestSuite(netns, .fini = netns_fini);

static void mac_of(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	memset(&ifr, 0, sizeof(ifr));
	util_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	cr_assert_eq(ioctl(fd, SIOCGIFHWADDR, &ifr), 0, "%s: %s", ifname,
		     strerror(errno));
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

/* A packet socket receiving ethertype proto on ifname. */
static int listen_on(const char *ifname, uint16_t proto)
{
	struct sockaddr_ll sll;
	int fd = socket(AF_PACKET, SOCK_DGRAM, htons(proto));

	cr_assert_geq(fd, 0, "packet socket: %s", strerror(errno));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(proto);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return fd;
}

/* Next received frame within timeout_ms: its length, or -1 on timeout. */
static ssize_t recv_frame(int fd, uint8_t *buf, size_t cap,
			  struct sockaddr_ll *from, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	socklen_t fromlen = sizeof(*from);

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	return recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, &fromlen);
}

static uint64_t ms_since(uint64_t start_ns)
{
	return (util_now_mono_ns() - start_ns) / 1000000u;
}

/* --- add / held / del ------------------------------------------------------- */

Test(netns, add_held_del_ipv4)
{
	struct netaddr a = P("192.0.2.10/24"), other = P("192.0.2.11");
	char err[256], name[IF_NAMESIZE], out[4096];

	netns_setup(true);
	cr_assert_eq(netaddr_held(&a, name, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), 0, "%s", err);
	memset(name, 0, sizeof(name));
	cr_assert_eq(netaddr_held(&a, name, err, sizeof(err)), 1, "%s", err);
	cr_assert_str_eq(name, "a");
	/* Found whatever the prefix asked about; ifname may be NULL. */
	cr_assert_eq(netaddr_held(&other, NULL, err, sizeof(err)), 0);
	other = P("192.0.2.10/32");
	cr_assert_eq(netaddr_held(&other, NULL, err, sizeof(err)), 1);
	/* Broadcast address set for a /24, as `ip` would. */
	sh_out(out, sizeof(out), "ip -o -4 addr show dev a");
	cr_assert(strstr(out, "inet 192.0.2.10/24 brd 192.0.2.255 "), "%s", out);

	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), 1, "%s", err);
	cr_assert_eq(netaddr_del("a", &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_held(&a, name, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_del("a", &a, err, sizeof(err)), 1, "%s", err);
	sh_out(out, sizeof(out), "ip -o -4 addr show dev a");
	cr_assert_null(strstr(out, "192.0.2.10"), "%s", out);
}

Test(netns, ipv4_prefixes)
{
	struct netaddr a = P("198.51.100.7/31"), h = P("198.51.100.9/32");
	struct netaddr w = P("10.1.2.3/12");
	char err[256], out[4096];

	netns_setup(true);
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_add("a", &h, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_add("a", &w, err, sizeof(err)), 0, "%s", err);
	sh_out(out, sizeof(out), "ip -o -4 addr show dev a");
	cr_assert(strstr(out, "inet 198.51.100.7/31 scope global"), "%s", out);
	cr_assert(strstr(out, "inet 198.51.100.9/32 scope global"), "%s", out);
	cr_assert(strstr(out, "inet 10.1.2.3/12 brd 10.15.255.255 "), "%s", out);
	/* The kernel removes only the address with the given prefix. */
	a.prefix = 24;
	cr_assert_eq(netaddr_del("a", &a, err, sizeof(err)), 1, "%s", err);
	cr_assert_eq(netaddr_held(&a, NULL, err, sizeof(err)), 1, "%s", err);
	a.prefix = 31;
	cr_assert_eq(netaddr_del("a", &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_held(&a, NULL, err, sizeof(err)), 0, "%s", err);
}

Test(netns, held_reports_the_right_interface)
{
	struct netaddr x = P("203.0.113.1/32"), y = P("2001:db8:1::1/64");
	char err[256], name[IF_NAMESIZE];

	netns_setup(true);
	cr_assert_eq(netaddr_add("b", &x, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_add("b", &y, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_held(&x, name, err, sizeof(err)), 1, "%s", err);
	cr_assert_str_eq(name, "b");
	cr_assert_eq(netaddr_held(&y, name, err, sizeof(err)), 1, "%s", err);
	cr_assert_str_eq(name, "b");
	/* The IPv4-mapped form is another family: not the same address. */
	y = P("::ffff:203.0.113.1");
	cr_assert_eq(netaddr_held(&y, name, err, sizeof(err)), 0, "%s", err);
}

Test(netns, add_held_del_ipv6)
{
	struct netaddr a = P("2001:db8::10/64");
	char err[256], name[IF_NAMESIZE], out[4096];

	netns_setup(true);
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_held(&a, name, err, sizeof(err)), 1, "%s", err);
	cr_assert_str_eq(name, "a");
	/* Added without DAD: usable at once, not tentative. */
	sh_out(out, sizeof(out), "ip -o -6 addr show dev a to 2001:db8::10/128");
	cr_assert(strstr(out, "inet6 2001:db8::10/64 scope global"), "%s", out);
	cr_assert_null(strstr(out, "tentative"), "%s", out);
	/* Already there, whatever the prefix (IPv6 rule). */
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), 1, "%s", err);
	a.prefix = 80;
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), 1, "%s", err);
	a.prefix = 64;
	cr_assert_eq(netaddr_del("a", &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_held(&a, name, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_del("a", &a, err, sizeof(err)), 1, "%s", err);
}

Test(netns, kernel_refusal_is_reported)
{
	struct netaddr a = P("2001:db8::10/64");
	char err[256];

	netns_setup(true);
	sh("sysctl -q -w net.ipv6.conf.a.disable_ipv6=1");
	errno = 0;
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), -1);
	cr_assert_neq(errno, 0);
	cr_assert(strstr(err, "cannot add 2001:db8::10/64 to a: "), "%s", err);
	cr_log_info("kernel refusal: %s", err);
}

Test(netns, unprivileged_gets_eperm)
{
	struct netaddr a = P("192.0.2.10/24");
	char err[256];
	uint8_t mac[6];

	netns_setup(true);
	/* This test process is thrown away afterwards. */
	cr_assert_eq(setresgid(65534, 65534, 65534), 0);
	cr_assert_eq(setresuid(65534, 65534, 65534), 0);
	errno = 0;
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert(strstr(err, "Operation not permitted"), "%s", err);
	/* Looking up needs no privilege. */
	cr_assert_eq(netaddr_held(&a, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(netaddr_announce("a", &a, err, sizeof(err)), -1);
	cr_assert_eq(errno, EPERM, "%s", err);
	cr_assert_eq(netaddr_probe("a", &a, 50, mac, err, sizeof(err)), -1);
	cr_assert_eq(errno, EPERM, "%s", err);
}

/* --- announce --------------------------------------------------------------- */

Test(netns, announce_ipv4)
{
	struct netaddr a = P("192.0.2.10/24");
	uint8_t amac[6], buf[2048], zero[6] = { 0 };
	struct sockaddr_ll from;
	struct ether_arp p;
	bool got_req = false, got_rep = false;
	char err[256];
	ssize_t n;
	int fd;

	netns_setup(true);
	mac_of("a", amac);
	fd = listen_on("b", ETH_P_ARP);
	cr_assert_eq(netaddr_announce("a", &a, err, sizeof(err)), 0, "%s", err);
	while ((!got_req || !got_rep) &&
	       (n = recv_frame(fd, buf, sizeof(buf), &from, 1000)) >= 0) {
		if ((size_t)n < sizeof(p))
			continue;
		memcpy(&p, buf, sizeof(p));
		if (memcmp(p.arp_spa, a.addr, 4) != 0)
			continue;
		cr_assert_eq(from.sll_pkttype, PACKET_BROADCAST);
		cr_assert_arr_eq(from.sll_addr, amac, 6);
		cr_assert_eq(ntohs(p.arp_hrd), ARPHRD_ETHER);
		cr_assert_eq(ntohs(p.arp_pro), ETHERTYPE_IP);
		cr_assert_arr_eq(p.arp_sha, amac, 6);
		cr_assert_arr_eq(p.arp_tpa, a.addr, 4);
		if (ntohs(p.arp_op) == ARPOP_REQUEST) {
			cr_assert_arr_eq(p.arp_tha, zero, 6);
			got_req = true;
		} else {
			cr_assert_eq(ntohs(p.arp_op), ARPOP_REPLY);
			cr_assert_arr_eq(p.arp_tha, amac, 6);
			got_rep = true;
		}
	}
	cr_assert(got_req, "no gratuitous ARP request seen on b");
	cr_assert(got_rep, "no gratuitous ARP reply seen on b");
	close(fd);
}

static uint16_t cksum6(const uint8_t *src, const uint8_t *dst,
		       const uint8_t *msg, size_t len)
{
	uint32_t sum = (uint32_t)len + IPPROTO_ICMPV6;
	size_t i;

	for (i = 0; i < 16; i += 2)
		sum += (uint32_t)((src[i] << 8) + src[i + 1] +
				  (dst[i] << 8) + dst[i + 1]);
	for (i = 0; i < len; i += 2)
		sum += (uint32_t)((msg[i] << 8) + (i + 1 < len ? msg[i + 1] : 0));
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;	/* 0xffff for a correct message */
}

/* Waits for a neighbour advertisement for a on fd; its IPv6 source into src. */
static void expect_na(int fd, const struct netaddr *a, const uint8_t amac[6],
		      uint8_t src[16])
{
	uint8_t buf[2048], allnodes[16] = { 0xff, 0x02, [15] = 1 };
	struct sockaddr_ll from;
	struct ip6_hdr ip;
	struct nd_neighbor_advert na;
	const uint8_t *opt;
	ssize_t n;

	while ((n = recv_frame(fd, buf, sizeof(buf), &from, 1000)) >= 0) {
		if ((size_t)n < sizeof(ip) + sizeof(na) + 8)
			continue;
		memcpy(&ip, buf, sizeof(ip));
		memcpy(&na, buf + sizeof(ip), sizeof(na));
		if (ip.ip6_nxt != IPPROTO_ICMPV6 ||
		    na.nd_na_type != ND_NEIGHBOR_ADVERT)
			continue;
		cr_assert_arr_eq(&na.nd_na_target, a->addr, 16);
		cr_assert_eq(ip.ip6_hlim, 255);
		cr_assert_arr_eq(&ip.ip6_dst, allnodes, 16);
		cr_assert_eq(ntohs(ip.ip6_plen), sizeof(na) + 8);
		cr_assert(na.nd_na_flags_reserved & ND_NA_FLAG_OVERRIDE);
		cr_assert_not(na.nd_na_flags_reserved & ND_NA_FLAG_SOLICITED);
		opt = buf + sizeof(ip) + sizeof(na);
		cr_assert_eq(opt[0], ND_OPT_TARGET_LINKADDR);
		cr_assert_eq(opt[1], 1);
		cr_assert_arr_eq(opt + 2, amac, 6);
		cr_assert_arr_eq(from.sll_addr, amac, 6);
		cr_assert_eq(cksum6(ip.ip6_src.s6_addr, ip.ip6_dst.s6_addr,
				    buf + sizeof(ip), sizeof(na) + 8), 0xffff,
			     "bad ICMPv6 checksum");
		memcpy(src, &ip.ip6_src, 16);
		return;
	}
	cr_assert_fail("no neighbour advertisement seen on b");
}

Test(netns, announce_ipv6_from_the_address)
{
	struct netaddr a = P("2001:db8::10/64");
	uint8_t amac[6], src[16];
	char err[256];
	int fd;

	netns_setup(true);
	mac_of("a", amac);
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), 0, "%s", err);
	fd = listen_on("b", ETH_P_IPV6);
	cr_assert_eq(netaddr_announce("a", &a, err, sizeof(err)), 0, "%s", err);
	expect_na(fd, &a, amac, src);
	cr_assert_arr_eq(src, a.addr, 16);
	close(fd);
}

Test(netns, announce_ipv6_address_not_held)
{
	struct netaddr a = P("2001:db8::77");
	uint8_t amac[6], src[16];
	char err[256];
	int fd;

	/* No DAD: a's link-local address is a usable source at once. */
	netns_setup(false);
	mac_of("a", amac);
	fd = listen_on("b", ETH_P_IPV6);
	cr_assert_eq(netaddr_announce("a", &a, err, sizeof(err)), 0, "%s", err);
	expect_na(fd, &a, amac, src);
	cr_assert(src[0] == 0xfe && (src[1] & 0xc0) == 0x80,
		  "source is not link-local");
	close(fd);
}

/* --- probe ------------------------------------------------------------------ */

Test(netns, probe_ipv4)
{
	struct netaddr a = P("192.0.2.10/24"), taken = P("192.0.2.20/24");
	struct netaddr free_ = P("192.0.2.99/24");
	uint8_t bmac[6], mac[6], untouched[6];
	char err[256];
	uint64_t t0;

	netns_setup(true);
	mac_of("b", bmac);
	peer_ns_setup();
	sh("ip netns exec %s ip addr add 192.0.2.20/24 dev b", peer_ns);
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), 0, "%s", err);

	memset(mac, 0, sizeof(mac));
	t0 = util_now_mono_ns();
	cr_assert_eq(netaddr_probe("a", &taken, 2000, mac, err, sizeof(err)), 1,
		     "%s", err);
	cr_assert_lt(ms_since(t0), 1000, "answered only after %llu ms",
		     (unsigned long long)ms_since(t0));
	cr_assert_arr_eq(mac, bmac, 6);
	/* mac may be NULL. */
	cr_assert_eq(netaddr_probe("a", &taken, 2000, NULL, err, sizeof(err)), 1,
		     "%s", err);

	memset(mac, 0xee, sizeof(mac));
	memcpy(untouched, mac, sizeof(mac));
	t0 = util_now_mono_ns();
	cr_assert_eq(netaddr_probe("a", &free_, 300, mac, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_geq(ms_since(t0), 295);
	cr_assert_lt(ms_since(t0), 1000);
	cr_assert_arr_eq(mac, untouched, 6);
	/* Our own address on a is no conflict: nothing else answers for it. */
	cr_assert_eq(netaddr_probe("a", &a, 300, mac, err, sizeof(err)), 0,
		     "%s", err);
	/* Removed on the other side: free again. */
	sh("ip netns exec %s ip addr del 192.0.2.20/24 dev b", peer_ns);
	cr_assert_eq(netaddr_probe("a", &taken, 300, mac, err, sizeof(err)), 0,
		     "%s", err);
}

/* The event-loop way: one probe sent, the answer read from our own packet
 * socket and recognised by netaddr_arp_conflict. */
Test(netns, probe_send_and_arp_conflict)
{
	struct netaddr a = P("192.0.2.10/24"), taken = P("192.0.2.20/24");
	struct netaddr free_ = P("192.0.2.99/24");
	uint8_t amac[6], bmac[6], mine[6], other[6], buf[512];
	struct sockaddr_ll from;
	char err[256];
	bool seen = false;
	ssize_t n;
	int fd;

	netns_setup(true);
	mac_of("a", amac);
	mac_of("b", bmac);
	peer_ns_setup();
	sh("ip netns exec %s ip addr add 192.0.2.20/24 dev b", peer_ns);
	cr_assert_eq(netaddr_add("a", &a, err, sizeof(err)), 0, "%s", err);
	fd = listen_on("a", ETH_P_ARP);
	cr_assert_eq(netaddr_probe_send("a", &taken, mine, err, sizeof(err)), 0, "%s", err);
	cr_assert_arr_eq(mine, amac, 6);
	while (!seen && (n = recv_frame(fd, buf, sizeof(buf), &from, 1000)) >= 0) {
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		/* Not a conflict for another address, nor from our own MAC. */
		cr_assert_not(netaddr_arp_conflict(buf, (size_t)n, &free_, mine, other));
		cr_assert_not(netaddr_arp_conflict(buf, (size_t)n, &taken, bmac, other));
		seen = netaddr_arp_conflict(buf, (size_t)n, &taken, mine, other);
	}
	cr_assert(seen, "no answer to the probe recognised");
	cr_assert_arr_eq(other, bmac, 6);
	/* Short or garbage packets are no conflict. */
	cr_assert_not(netaddr_arp_conflict(buf, 10, &taken, mine, other));
	memset(buf, 0xff, sizeof(buf));
	cr_assert_not(netaddr_arp_conflict(buf, sizeof(buf), &taken, mine, other));
	cr_assert_eq(netaddr_probe_send("nosuch0", &taken, NULL, err, sizeof(err)), -1);
	close(fd);
}

Test(netns, probe_ipv4_sees_a_gratuitous_arp)
{
	struct netaddr taken = P("192.0.2.30/24");
	uint8_t bmac[6], mac[6];
	char err[256], path[128];
	pid_t pid;
	int r, status;

	netns_setup(true);
	mac_of("b", bmac);
	peer_ns_setup();
	/* Nobody holds the address, so nobody answers the probes; but a child
	 * on the peer's side keeps announcing it, as a host that just took it
	 * over would. */
	snprintf(path, sizeof(path), "/run/netns/%s", peer_ns);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int i, nsfd = open(path, O_RDONLY | O_CLOEXEC);

		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
			_exit(2);
		/* Bounded, in case the parent dies without killing it. */
		for (i = 0; i < 40; i++) {
			if (netaddr_announce("b", &taken, NULL, 0) < 0)
				_exit(3);
			usleep(50 * 1000);
		}
		_exit(0);
	}
	memset(mac, 0, sizeof(mac));
	r = netaddr_probe("a", &taken, 1500, mac, err, sizeof(err));
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "announcing child failed (status %d)", status);
	cr_assert_eq(r, 1, "%s", err);
	cr_assert_arr_eq(mac, bmac, 6);
}

/* Frames carrying our own MAC (a loop, a reflecting switch, a second port
 * with the same MAC) are not another host. */
Test(netns, probe_ignores_our_own_mac)
{
	struct netaddr taken = P("192.0.2.40/24");
	uint8_t amac[6], mac[6];
	char err[256], path[128];
	pid_t pid;
	int r, status;

	netns_setup(true);
	mac_of("a", amac);
	sh("ip link set dev b address %02x:%02x:%02x:%02x:%02x:%02x", amac[0],
	   amac[1], amac[2], amac[3], amac[4], amac[5]);
	peer_ns_setup();
	snprintf(path, sizeof(path), "/run/netns/%s", peer_ns);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int i, nsfd = open(path, O_RDONLY | O_CLOEXEC);

		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
			_exit(2);
		for (i = 0; i < 40; i++) {
			if (netaddr_announce("b", &taken, NULL, 0) < 0)
				_exit(3);
			usleep(50 * 1000);
		}
		_exit(0);
	}
	r = netaddr_probe("a", &taken, 400, mac, err, sizeof(err));
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "announcing child failed (status %d)", status);
	cr_assert_eq(r, 0, "%s", err);
}

Test(netns, probe_ipv6)
{
	struct netaddr taken = P("2001:db8::20/64"), free_ = P("2001:db8::99");
	uint8_t bmac[6], mac[6];
	char err[256];
	uint64_t t0;

	netns_setup(true);
	mac_of("b", bmac);
	peer_ns_setup();
	sh("ip netns exec %s ip -6 addr add 2001:db8::20/64 dev b nodad",
	   peer_ns);

	memset(mac, 0, sizeof(mac));
	t0 = util_now_mono_ns();
	cr_assert_eq(netaddr_probe("a", &taken, 2000, mac, err, sizeof(err)), 1,
		     "%s", err);
	cr_assert_lt(ms_since(t0), 1000);
	cr_assert_arr_eq(mac, bmac, 6);

	t0 = util_now_mono_ns();
	cr_assert_eq(netaddr_probe("a", &free_, 300, mac, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_geq(ms_since(t0), 295);
	cr_assert_lt(ms_since(t0), 1000);
}
