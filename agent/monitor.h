/* monitor — failover: a target watches its sources with authenticated UDP
 * heartbeats (lib/heartbeat.h) and stands in for one that stops answering.
 *
 * Every agent answers heartbeat requests signed with the pre-shared key on
 * agent.heartbeat_port (UDP, IPv4 and IPv6). A monitor (MONITOR CREATE source,
 * source being the source agent's name, which its answers must carry) lists
 * the source's addresses: each with the target interface (ADAPTER) that takes
 * it over, whether it is monitored (heartbeats go to it every interval; the
 * source fails once one monitored address missed `missed` answers in a row)
 * or only taken over (ITEMS ALL). Time to fail counts down per address:
 * green, yellow after a quarter of the timeout passed without an answer, red.
 *
 * When the source fails: with manual intervention (the default) message 100
 * and 700000 are logged (and sent to syslog) and the monitor waits for
 * FAILOVER; without it, failover starts at once. Failover (message 101): the
 * PREFAILOVER script (waited for with DELAY), the addresses added to their
 * adapters through rtnetlink and announced by gratuitous ARP at once and again
 * after 1 and 2 s, the POSTFAILOVER script; then every connection from the
 * source on this target is "Restore Required" (target_failed_over). Heartbeats
 * go on, and held addresses are ARP-probed every 2 s: another host answering
 * for one (the source back with its old configuration) is a split brain,
 * logged loudly and announced again so that host's agent hears it too (every
 * agent logs a gratuitous ARP from another MAC for an address it holds).
 * FAILBACK runs PREFAILBACK (DELAY waits), removes the addresses it added,
 * goes on monitoring (or stops, with STOP), and asks the source's agent
 * (HB_RUN, repeated until it is back and acks) to run the POSTFAILBACK
 * script, which that agent runs once and only from its agent.script_dir.
 * Scripts run through agent/script.c (no shell) with the
 * arguments event, source, target and the environment DITTO_EVENT,
 * DITTO_SOURCE, DITTO_TARGET and DITTO_ADDRESSES ("ip/prefix@adapter ..."),
 * killed after their timeout (default 300 s); their output goes to the log.
 *
 * Monitors and their state are kept in <state_dir>/monitors.conf. */
#ifndef DITTO_MONITOR_H
#define DITTO_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct agent;
struct monitors;

enum monitor_script {
	MONITOR_PREFAILOVER,
	MONITOR_POSTFAILOVER,
	MONITOR_PREFAILBACK,
	MONITOR_POSTFAILBACK,
	MONITOR_SCRIPTS
};

/* Loads the monitors and opens the heartbeat sockets; a port that cannot be
 * bound is logged (this agent then answers no heartbeats) but not fatal.
 * NULL only on a damaged monitors.conf (logged). */
struct monitors *monitors_new(struct agent *a);
void monitors_free(struct monitors *m);

/* DTCL MONITOR ...: 0, or -1 with the reason in msg. The ones without a
 * source apply to the current monitor (the last created or selected). */
int monitors_create(struct monitors *m, const char *source, struct util_buf *msg);
int monitors_select(struct monitors *m, const char *source, struct util_buf *msg);
int monitors_address(struct monitors *m, const char *addr, const char *adapter,
		     bool monitored, struct util_buf *msg);
/* addr NULL: every address of the monitor (and those added later). */
int monitors_interval(struct monitors *m, int64_t ms, const char *addr, struct util_buf *msg);
int monitors_missed(struct monitors *m, int64_t n, const char *addr, struct util_buf *msg);
int monitors_manual(struct monitors *m, bool on, struct util_buf *msg);
int monitors_items(struct monitors *m, bool all, struct util_buf *msg);
/* timeout_s < 0: the default (300 s); 0: none. */
int monitors_script(struct monitors *m, enum monitor_script which, const char *path,
		    bool delay, int64_t timeout_s, struct util_buf *msg);
/* Agent STATUS lines: each monitor's state and its addresses' time to fail. */
void monitors_status(const struct monitors *m, struct util_buf *out);
int monitors_start(struct monitors *m, const char *source, bool start, struct util_buf *msg);
int monitors_remove(struct monitors *m, const char *source, struct util_buf *msg);
void monitors_list(const struct monitors *m, struct util_buf *out);
/* FAILOVER / FAILBACK source. */
int monitors_failover(struct monitors *m, const char *source, struct util_buf *msg);
int monitors_failback(struct monitors *m, const char *source, bool keep_monitoring,
		      struct util_buf *msg);

#endif
