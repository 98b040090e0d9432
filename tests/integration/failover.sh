#!/bin/bash
# Failover in network namespaces: source, target and client hosts joined by
# veth pairs on a bridge. The client reaches a service at the source's
# address 10.77.0.100. The target monitors the source (100 ms heartbeats, 3
# missed). With manual intervention (the default) a failed source waits for
# FAILOVER, and a hung script is killed at its timeout. Without it, when the
# source agent dies and its link goes down (while a third host replays
# captured answers and forges others), the target takes the address over
# within interval x missed + slack, scripts run in order with their
# arguments and variables, the client reaches the target's service at the
# same address, and the source's connection is Restore Required when it
# comes back (a split brain is logged while both hold the address).
# FAILBACK gives the address back; RESTORE brings home what was written on
# the target meanwhile and replication resumes; MIRROR START (overwriting
# the copy) also clears Restore Required. Detection-to-address-up is
# measured over several trials.
IT_LIMIT=240
. "$(dirname "$0")/lib.sh"
need_root "network namespaces and interface addresses need root"
ip netns list >/dev/null 2>&1 || skip "no ip netns here"

ns=dtfo$$
nsb=${ns}b nss=${ns}s nst=${ns}t nsc=${ns}c
it_on_exit "ip netns del $nsb; ip netns del $nss; ip netns del $nst; ip netns del $nsc"
for n in $nsb $nss $nst $nsc; do
	ip netns add "$n" || fail "cannot create network namespace $n"
	ip -n "$n" link set lo up
done
ip -n "$nsb" link add br0 type bridge || fail "no bridge support"
ip -n "$nsb" link set br0 up
host_if() { # NS IFNAME ADDR
	ip -n "$nsb" link add "b-$2" type veth peer name "$2" netns "$1" || fail "veth"
	ip -n "$nsb" link set "b-$2" master br0 up
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$1" link set "$2" up
}
host_if "$nss" src0 10.77.0.1/24
host_if "$nst" tgt0 10.77.0.2/24
host_if "$nsc" cli0 10.77.0.3/24
ip -n "$nss" addr add 10.77.0.100/24 dev src0
mac_of() { ip -n "$1" -br link show "$2" | awk '{ print $3 }'; }
tgt_mac=$(mac_of "$nst" tgt0)
src_mac=$(mac_of "$nss" src0)
echo "# MACs: source $src_mac, target $tgt_mac, client $(mac_of "$nsc" cli0)"

# Each host serves a file saying who it is, on every address, port 8080.
www="$IT_DIR/www"
mkdir -p "$www/s" "$www/t"
echo source >"$www/s/who"; echo target >"$www/t/who"
ip netns exec "$nss" python3 -m http.server 8080 --directory "$www/s" >/dev/null 2>&1 &
it_on_exit "kill $!"
ip netns exec "$nst" python3 -m http.server 8080 --directory "$www/t" >/dev/null 2>&1 &
it_on_exit "kill $!"
who() { ip netns exec "$nsc" python3 -c 'import urllib.request,sys
try: print(urllib.request.urlopen("http://10.77.0.100:8080/who", timeout=1).read().decode().strip())
except Exception as e: print("unreachable")'; }
for _ in $(seq 50); do [ "$(who)" = source ] && break; sleep 0.1; done
[ "$(who)" = source ] || fail "test setup: the client cannot reach the source's service"

key="$IT_DIR/peer.key"
tport=$(free_port)
sport=$(free_port)
# The source runs post-failback scripts only from its script_dir.
mkdir -p -m 0755 "$IT_DIR/srcscripts" "$(agent_dir src)"
printf 'agent = { plugin_dir = "%s"; script_dir = "%s"; };\n' "$DITTO_BUILDDIR/plugins/.libs" "$IT_DIR/srcscripts" \
	>"$(agent_dir src)/ditto.conf"
cat >"$IT_DIR/srcscripts/postback" <<SH
#!/bin/sh
echo "\$DITTO_EVENT source=\$DITTO_SOURCE target=\$DITTO_TARGET args=\$*" >>"$IT_DIR/source-events"
SH
chmod 0755 "$IT_DIR/srcscripts/postback"
cp "$IT_DIR/srcscripts/postback" "$IT_DIR/not-allowed"
AGENT_NETNS=$nss start_agent src --key-file "$key" --listen "0.0.0.0:$sport"
# A second monitor comes from the target's ditto.conf.
mkdir -p "$(agent_dir tgt)"
cat >"$(agent_dir tgt)/ditto.conf" <<CONF
agent = { plugin_dir = "$DITTO_BUILDDIR/plugins/.libs"; };
monitors = (
  { source = "other"; interval = 200; missed = 2;
    addresses = ( { address = "10.77.0.200/24"; adapter = "tgt0"; } ); }
);
CONF
printf 'monitors = ( { source = "x"; addresses = ( { address = "10.77.0.300/24"; adapter = "tgt0"; } ); } );\n' >"$IT_DIR/bad.conf"
expect_rc 1 "$DITTOD" -t -c "$IT_DIR/bad.conf"
expect_out 'bad.conf:1: monitors: invalid address "10.77.0.300/24"'
AGENT_NETNS=$nst start_agent tgt --key-file "$key" --listen "10.77.0.2:$tport"

data="$IT_DIR/data"
mkdir -p "$data"
echo "precious" >"$data/db"
expect_rc 0 dtcl_at src -c "REPSET CREATE app; REPSET RULE ADD \"$data\" INCLUDE TO app; \$c = CONNECT app TO 10.77.0.2:$tport MAP BASE \"$IT_DIR/replica\"; WAITONQUEUE \$c 60"
pass "namespaces, bridge, services and replication between the hosts"

events="$IT_DIR/script-events"
for s in pre post preback; do
	cat >"$IT_DIR/$s" <<SH
#!/bin/sh
echo "\$DITTO_EVENT source=\$DITTO_SOURCE target=\$DITTO_TARGET addresses=\$DITTO_ADDRESSES args=\$*" >>"$events"
[ "\$1" = PREFAILBACK ] && [ -e "$IT_DIR/hang" ] && exec sleep 60
exit 0
SH
	chmod 0755 "$IT_DIR/$s"
done
expect_rc 0 dtcl_at tgt -c "MONITOR CREATE src ON tgt; MONITOR ADDRESS \"10.77.0.100/24\" ADAPTER \"tgt0\"; MONITOR INTERVAL 100; MONITOR MISSED 5; MONITOR MISSED 3 ADDRESS \"10.77.0.100\"; MONITOR SCRIPT PREFAILOVER \"$IT_DIR/pre\" DELAY; MONITOR SCRIPT POSTFAILOVER \"$IT_DIR/post\"; MONITOR SCRIPT PREFAILBACK \"$IT_DIR/preback\" DELAY TIMEOUT 1"
expect_rc 1 dtcl_at tgt -c 'MONITOR ADDRESS "10.77.0.101/24"'
expect_out 'ADAPTER "dev" is needed'
expect_rc 1 dtcl_at tgt -c 'MONITOR ADDRESS "10.77.0.101/24" ADAPTER "nosuch0"'
expect_out 'no interface nosuch0'
expect_rc 1 dtcl_at tgt -c 'MONITOR ADDRESS "10.77.0.300/24" ADAPTER "tgt0"'
sleep 0.5
expect_rc 0 dtcl_at tgt -c 'MONITOR LIST'
# Yellow is right between answers too: 25 % of 300 ms is less than one
# interval.
expect_out '10\.77\.0\.100/24 on tgt0: every 100 ms, 3 missed; time to fail 0\.[0-9]+ s \((green|yellow)\)'
expect_out 'PREFAILBACK script: .*/preback \(waited for\), timeout 1 s'
expect_rc 0 dtcl_at tgt -c 'STATUS'
expect_out '^Monitor: +src monitoring, time to fail 0\.[0-9]+ s \((green|yellow)\)'
expect_rc 0 dtcl_at tgt -c 'MONITOR LIST'
expect_out '10\.77\.0\.200/24 on tgt0: every 200 ms, 2 missed'
for _ in $(seq 30); do agent_log tgt | grep -q 'user intervention is required (source other;' && break; sleep 0.1; done
expect_rc 0 dtcl_at tgt -c 'MONITOR LIST'
expect_out 'Monitor other: failed'
ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.200' && fail "a manual monitor took an address by itself"
pass "monitors from commands and from ditto.conf (a bad one refused with its line); time to fail counts down and resets"

# Capture the source's genuine answers from inside its namespace, for a
# replay later.
ip netns exec "$nss" python3 - "$IT_DIR/captured" <<'PY' &
import socket, sys
# ETH_P_ALL: packets this host sends reach only such taps.
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
s.settimeout(5)
out, n = open(sys.argv[1], "w"), 0
try:
    while n < 20:
        pkt, addr = s.recvfrom(4096)
        if addr[1] != 0x0800:
            continue
        ihl = (pkt[0] & 15) * 4
        if pkt[9] == 17 and int.from_bytes(pkt[ihl:ihl + 2], "big") == 1500:
            out.write(pkt[ihl + 8:].hex() + "\n"); out.flush(); n += 1
except socket.timeout:
    pass
PY
sniffer=$!
it_on_exit "kill $sniffer"

# Manual intervention (the default): the failed source waits for FAILOVER.
sleep 1
kill -STOP "$PID_src"
for _ in $(seq 50); do agent_log tgt | grep -q 'user intervention is required (source src;' && break; sleep 0.1; done
agent_log tgt | grep -q 'Failover condition has been met and user intervention is required (source src;' || fail "message 100 not logged"
sleep 1
ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100' && fail "manual mode took the address without FAILOVER"
expect_rc 0 dtcl_at tgt -c 'MONITOR LIST'
expect_out 'Monitor src: failed'
expect_rc 0 dtcl_at tgt -c 'FAILOVER src ON tgt'
for _ in $(seq 50); do ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100/24' && break; sleep 0.1; done
ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100/24' || fail "FAILOVER did not take the address"
# A PREFAILBACK script that hangs is killed after its TIMEOUT; failback goes on.
# The POSTFAILBACK it asks the source for is outside the source's script_dir.
expect_rc 0 dtcl_at tgt -c "MONITOR SCRIPT POSTFAILBACK \"$IT_DIR/not-allowed\""
touch "$IT_DIR/hang"
t0=$(date +%s%N)
expect_rc 0 dtcl_at tgt -c 'FAILBACK src'
for _ in $(seq 100); do ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100' || break; sleep 0.1; done
ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100' && fail "a hung PREFAILBACK script held the failback"
echo "# failback with a hung PREFAILBACK (TIMEOUT 1): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
agent_log tgt | grep -q 'Failover script for src timed out' || fail "the script timeout was not logged"
rm "$IT_DIR/hang"
grep -q '^PREFAILOVER .* args=PREFAILOVER src tgt$' "$events" || fail "script arguments: $(cat "$events")"
kill -CONT "$PID_src"
for _ in $(seq 50); do agent_log src | grep -q "Post-failback script $IT_DIR/not-allowed asked by tgt refused" && break; sleep 0.1; done
agent_log src | grep -q "Post-failback script $IT_DIR/not-allowed asked by tgt refused: not in agent.script_dir" ||
	fail "a post-failback script outside script_dir was not refused: $(agent_log src | grep -i 'post-failback')"
[ -e "$IT_DIR/source-events" ] && fail "a refused post-failback script ran"
expect_rc 0 dtcl_at tgt -c "MONITOR SCRIPT POSTFAILBACK \"$IT_DIR/srcscripts/postback\""
rm -f "$events"
expect_rc 0 dtcl_at tgt -c 'MONITOR MANUAL OFF'
for _ in $(seq 50); do dtcl_at tgt -c 'MONITOR LIST' | grep -q '(green)' && break; sleep 0.1; done
pass "manual intervention: message 100, nothing taken until FAILOVER; a hung script is killed at its timeout"

# The source agent dies. From the client's namespace a third host replays
# the genuine answers captured earlier and sends forged ones to the
# target's heartbeat socket.
[ -s "$IT_DIR/captured" ] || fail "test setup: no heartbeat answers captured"
hbport=$(ip netns exec "$nst" ss -Huanp | awk '/dittod/ { n = split($4, a, ":"); if (a[n] != 1500) print a[n] }' | head -n 1)
[ -n "$hbport" ] || fail "test setup: the target's heartbeat socket not found"
kill -KILL "$PID_src"; wait "$PID_src" 2>/dev/null
t0=$(date +%s%N)
ip netns exec "$nsc" python3 - "$IT_DIR/captured" "$hbport" <<'PY' &
import socket, sys, time, hmac, hashlib
caps = [bytes.fromhex(l.strip()) for l in open(sys.argv[1]) if l.strip()]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = ("10.77.0.2", int(sys.argv[2]))
while True:
    for c in caps:
        s.sendto(c, dst)                      # replayed: stale nonces
        body = c[:-32]                        # forged: right shape, wrong key
        s.sendto(body + hmac.new(b"guess", b"ditto-hb-response" + body, hashlib.sha256).digest(), dst)
    time.sleep(0.02)
PY
forger=$!
it_on_exit "kill $forger"
up=""
for _ in $(seq 300); do
	if ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100/24'; then up=$(date +%s%N); break; fi
	sleep 0.01
done
[ -n "$up" ] || fail "the target did not take 10.77.0.100 over"
ms=$(( (up - t0) / 1000000 ))
echo "# source agent killed -> address up on the target: $ms ms (interval 100 ms x 3 missed)"
[ "$ms" -le 1500 ] || fail "address up after $ms ms"
ip -n "$nss" link set src0 down
pass "replayed and forged answers from a third host do not keep it alive: failover within ${ms} ms"

for _ in $(seq 50); do [ "$(wc -l <"$events" 2>/dev/null)" -ge 2 ] && break; sleep 0.1; done
sed -n 1p "$events" | grep -q '^PREFAILOVER source=src target=tgt addresses=10\.77\.0\.100/24@tgt0 args=PREFAILOVER src tgt$' || fail "first script: $(cat "$events")"
sed -n 2p "$events" | grep -q '^POSTFAILOVER source=src target=tgt addresses=10\.77\.0\.100/24@tgt0 args=POSTFAILOVER src tgt$' || fail "second script: $(cat "$events")"
agent_log tgt | grep -q 'Failover in progress!!!' || fail "message 101 not logged"
agent_log tgt | grep -q 'The source machine src is not responding' || fail "message 700000 not logged"
pass "PREFAILOVER then POSTFAILOVER ran with DITTO_* variables; messages 700000 and 101 logged"

for _ in $(seq 50); do [ "$(who)" = target ] && break; sleep 0.1; done
[ "$(who)" = target ] || fail "the client does not reach the target at 10.77.0.100: $(who)"
ip -n "$nsc" neigh show 10.77.0.100 | grep -qi "$tgt_mac" || fail "client ARP entry not the target's: $(ip -n "$nsc" neigh show 10.77.0.100)"
pass "the client reaches the target's service at the source's address (gratuitous ARP updated it)"

# The application runs on the target now and changes the data there.
echo "written during failover" >"$IT_DIR/replica$data/db"

# The source comes back, still holding the address: both answer for it.
# (Not before: nobody else answers for it while the source is away.)
sleep 2.5
agent_log tgt | grep -q 'SPLIT BRAIN' && fail "split brain logged while the source was away: $(agent_log tgt | grep 'SPLIT BRAIN')"
kill "$forger" 2>/dev/null
ip -n "$nss" link set src0 up
AGENT_NETNS=$nss start_agent src --key-file "$key" --listen "0.0.0.0:$sport"
for _ in $(seq 100); do agent_log tgt | grep -q 'SPLIT BRAIN: .*source src' && break; sleep 0.1; done
agent_log tgt | grep -q "SPLIT BRAIN: 10.77.0.100/24 is also answered for by $src_mac .*source src" ||
	fail "split brain not logged (with the source's MAC): $(agent_log tgt | grep 'SPLIT BRAIN')"
# The source hears it too: the target announces the address it holds.
for _ in $(seq 50); do agent_log src | grep -q "SPLIT BRAIN: 10.77.0.100, held here on src0, is announced by $tgt_mac" && break; sleep 0.1; done
agent_log src | grep -q "SPLIT BRAIN: 10.77.0.100, held here on src0, is announced by $tgt_mac" ||
	fail "the returning source did not hear that its address is taken: $(agent_log src | grep 'SPLIT BRAIN')"
ip -n "$nss" addr del 10.77.0.100/24 dev src0
for _ in $(seq 100); do dtcl_at src -c 'STATUS 1' | grep -q 'Transmit state: *Restore Required' && break; sleep 0.1; done
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Transmit state: +Restore Required'
expect_out 'restore required: tgt stood in for src'
pass "split brain logged on both hosts (the returning source hears its address is taken); connection Restore Required"

expect_rc 0 dtcl_at tgt -c 'FAILBACK src'
for _ in $(seq 50); do ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100' || break; sleep 0.1; done
ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100' && fail "address still on the target after FAILBACK"
sed -n 3p "$events" | grep -q '^PREFAILBACK source=src' || fail "PREFAILBACK: $(cat "$events")"
expect_rc 1 dtcl_at tgt -c 'FAILBACK src'
# The source takes its address back; its agent gets the post-failback
# request and runs the script once.
ip -n "$nss" addr add 10.77.0.100/24 dev src0
for _ in $(seq 50); do [ -s "$IT_DIR/source-events" ] && break; sleep 0.1; done
grep -q '^POSTFAILBACK source=src target=tgt args=POSTFAILBACK src tgt$' "$IT_DIR/source-events" ||
	fail "post-failback script did not run on the source: $(cat "$IT_DIR/source-events" 2>/dev/null)"
for _ in $(seq 30); do agent_log tgt | grep -q 'Failback of src: its agent took the POSTFAILBACK request' && break; sleep 0.1; done
agent_log tgt | grep -q 'Failback of src: its agent took the POSTFAILBACK request' || fail "the target did not see the source take the request"
sleep 1.5
[ "$(wc -l <"$IT_DIR/source-events")" -eq 1 ] || fail "post-failback script ran more than once"
pass "FAILBACK ran PREFAILBACK and removed the address; the source's agent ran POSTFAILBACK once (only from its script_dir)"

expect_rc 0 dtcl_at src -c "RESTORE app FROM 10.77.0.2:$tport OVERWRITE"
[ "$(cat "$data/db")" = "written during failover" ] || fail "restore did not bring the target's data home: $(cat "$data/db")"
for _ in $(seq 100); do dtcl_at src -c 'STATUS 1' | grep -q 'Transmit state: *Started$' && break; sleep 0.1; done
expect_rc 0 dtcl_at src -c 'WAITONMIRROR 1 60; WAITONQUEUE 1 60; STATUS 1'
expect_out 'Transmit state: +Started$'
echo "after the restore" >"$data/new"
wait_same src 1 "$data" "$IT_DIR/replica$data" "replication did not resume after the restore"
pass "RESTORE brings the data written during failover home; replication resumes"

# Detection-to-address-up over trials: the source agent stops answering
# (SIGSTOP), the target takes over, FAILBACK, the agent goes on.
times=()
for trial in $(seq 10); do
	for _ in $(seq 50); do dtcl_at tgt -c 'MONITOR LIST' | grep -q '(green)' && break; sleep 0.1; done
	ip -n "$nss" addr del 10.77.0.100/24 dev src0
	kill -STOP "$PID_src"
	t0=$(date +%s%N); up=""
	for _ in $(seq 300); do
		if ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100/24'; then up=$(date +%s%N); break; fi
		sleep 0.005
	done
	kill -CONT "$PID_src"
	[ -n "$up" ] || fail "trial $trial: no failover"
	times+=($(( (up - t0) / 1000000 )))
	for _ in $(seq 50); do dtcl_at tgt -c 'MONITOR LIST' | grep -q 'failed over' && break; sleep 0.05; done
	expect_rc 0 dtcl_at tgt -c 'FAILBACK src'
	for _ in $(seq 50); do ip -n "$nst" -br addr show tgt0 | grep -q '10\.77\.0\.100' || break; sleep 0.05; done
	ip -n "$nss" addr add 10.77.0.100/24 dev src0
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
echo "# detection-to-address-up over ${#times[@]} trials (ms, 100 ms x 3 missed): $sorted"
for t in "${times[@]}"; do [ "$t" -le 1500 ] || fail "a trial took $t ms"; done
pass "failover over ${#times[@]} trials within the bound: $sorted ms"

# The trials left the connection Restore Required again: this time the
# source's data wins.
for _ in $(seq 100); do dtcl_at src -c 'STATUS 1' | grep -q 'Restore Required' && break; sleep 0.1; done
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Transmit state: +Restore Required'
echo "the source's version" >"$data/db"
echo "stale target-side change" >"$IT_DIR/replica$data/db"
expect_rc 0 dtcl_at src -c 'MIRROR START 1 CHECKSUM'
expect_rc 0 dtcl_at src -c 'WAITONMIRROR 1 60; WAITONQUEUE 1 60; STATUS 1'
expect_out 'Transmit state: +Started$'
[ "$(cat "$IT_DIR/replica$data/db")" = "the source's version" ] || fail "remirror did not overwrite the copy"
pass "MIRROR START overwrites the copy and clears Restore Required"
