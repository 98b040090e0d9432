#!/bin/bash
# The source's queue limits across a cut link. Source and target agents run
# in two network namespaces joined by a veth pair; the source has the
# smallest memory queue (32M) and a 16M disk queue. (A) The link goes down
# while 40 MB are written: the queue spills to disk within its limits and
# drains in order once the link is back. (B) Cut again and 70 MB written:
# the queue is exhausted, the connection is auto-disconnected and flushed
# (4007, 78, 85, 801, 4008), reconnecting fails while the link is down
# (4009, 80, 4011), and once it is back the reconnect (4010) runs the
# auto-remirror (different) that brings the copy in line, including what was
# written while disconnected. (C) With queue.auto_remirror none the
# connection stays Mirror Required (replication Pending) until MIRROR
# START. (E) A damaged xlog file found when spilled ops are read back, and
# (F) an xlog file that cannot be written, take the same path. (D) queue.min_free on a small queue file system, and a
# bad queue.auto_remirror refused at start. The trees are identical every
# time.
IT_LIMIT=420
. "$(dirname "$0")/lib.sh"
need_root "network namespaces and a tmpfs"
ip netns list >/dev/null 2>&1 || skip "no ip netns here"

nss=ditto-lcs-$$ nst=ditto-lct-$$
it_on_exit "ip netns del $nss; ip netns del $nst"
ip netns add "$nss" || fail "cannot create network namespace $nss"
ip netns add "$nst" || fail "cannot create network namespace $nst"
ip link add lcs0 netns "$nss" type veth peer name lct0 netns "$nst" || fail "veth"
ip -n "$nss" addr add 10.78.0.1/24 dev lcs0
ip -n "$nst" addr add 10.78.0.2/24 dev lct0
for n in "$nss" "$nst"; do ip -n "$n" link set lo up; done
ip -n "$nss" link set lcs0 up
ip -n "$nst" link set lct0 up
cut() { ip -n "$nst" link set lct0 "$1"; }

key="$IT_DIR/peer.key"
tport=$(free_port)
mkdir -p "$(agent_dir src)"
printf 'agent = { plugin_dir = "%s"; };\nqueue = { memory = "32M"; disk_max = "16M"; };\n' \
	"$DITTO_BUILDDIR/plugins/.libs" >"$(agent_dir src)/ditto.conf"
AGENT_NETNS=$nss start_agent src --key-file "$key"
AGENT_NETNS=$nst start_agent tgt --key-file "$key" --listen "10.78.0.2:$tport"

data="$IT_DIR/data"
mkdir -p "$data"
echo start >"$data/start.txt"
copy="$IT_DIR/base$data"
field() { dtcl_at src -c 'STATUS 1' | sed -n "s/^$1: *//p"; }
num() { field "$1" | sed -n 's/^\([0-9]*\).*/\1/p'; }
disk_bytes() { field "Disk queue" | sed -n 's/.*ops, \([0-9]*\) bytes.*/\1/p'; }
logged() { agent_log src | grep -qE "$1"; }
wait_log() {
	for _ in $(seq "${2:-200}"); do logged "$1" && return 0; sleep 0.1; done
	fail "not logged: $1"
}
# write NAME MB: MB of random data in 1 MB files under data/NAME.
write() {
	mkdir -p "$data/$1"
	for i in $(seq "$2"); do head -c 1000000 /dev/urandom >"$data/$1/f$i"; done
}
xlogs() { find "$(agent_dir src)/state/queue" -name '*.xlog' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

expect_rc 0 dtcl_at src -c "REPSET CREATE lc; REPSET RULE ADD \"$data\" INCLUDE TO lc"
expect_rc 0 dtcl_at src -c "\$c = CONNECT lc TO 10.78.0.2:$tport MAP BASE \"$IT_DIR/base\"; WAITONQUEUE \$c 60"
# Deletions made while auto-disconnected reach the copy through the
# remirror's orphan removal.
expect_rc 0 dtcl_at src -c "ORPHANS SET 1 DELETE"
wait_same src 1 "$data" "$copy" "initial mirror"
dtcl_at src -c 'STATUS 1' | grep -q "Queue limits: *disk queue 0 bytes (all connections) of 16777216, 0% (alert at 50%)" ||
	fail "queue limits not shown: $(dtcl_at src -c 'STATUS 1' | grep 'Queue limits')"
pass "source and target in two namespaces; the queue limits in STATUS"

# ---- (A) a cut within the limits: spill, then drain in order
cut down
write a 40
echo "after a" >"$data/a/zz-last.txt"
for _ in $(seq 100); do d=$(disk_bytes); [ "${d:-0}" -gt 0 ] && break; sleep 0.1; done
d=$(disk_bytes)
[ "${d:-0}" -gt 0 ] || fail "40 MB behind a cut link did not spill to disk (STATUS: $(field 'Disk queue'))"
echo "# disk queue during the cut: $(field 'Disk queue')"
logged " 4007 " && fail "auto-disconnected within the limits"
cut up
wait_same src 1 "$data" "$copy" "after the link came back (A)"
logged " 4007 " && fail "auto-disconnected within the limits"
[ "$(disk_bytes)" -eq 0 ] || fail "disk queue not drained: $(field 'Disk queue')"
pass "a cut link: 40 MB queue in memory and on disk, then drain in order; trees identical"

# ---- (B) exhausted: auto-disconnect, flush, auto-reconnect, auto-remirror
cut down
write b 70
wait_log " 4007 Auto-disconnecting from 10.78.0.2:$tport \(10.78.0.2\) for Replication Set lc, ID: 1 due to the disk queue is full"
for m in " 78 Auto-disconnect threshold has been reached" " 85 lc has been auto-disconnected \(connection 1\)" \
	" 801 Auto-disconnect has occurred on IP address 10.78.0.2 with connection 1" \
	" 4008 Auto-disconnect has succeeded for 10.78.0.2:$tport"; do
	wait_log "$m" 50
done
wait_log " 4009 Auto-reconnecting Replication Set lc to 10.78.0.2:$tport"
wait_log " 80 Trying to auto-retransmit to ip://10.78.0.2:$tport \(connection 1\)"
wait_log " 4011 Auto-reconnect has failed connecting Replication Set lc to 10.78.0.2:$tport"
wait_log " 0 Queue usage alert: the disk queue is at [0-9]+% \([0-9]+ bytes; queue.alert_percent 50\)" 10
wait_log " 0 Queue usage back below queue.alert_percent: 0% \(0 bytes\)" 50
field "Transmit state" | grep -q "^Auto-disconnected (reconnecting" || fail "state: $(field 'Transmit state')"
field "Replication state" | grep -q "^Pending (Mirror Required)" || fail "replication: $(field 'Replication state')"
[ "$(num 'Queued ops')" -eq 0 ] || fail "the queue was not flushed: $(field 'Queued ops') ops"
q=$(xlogs)
[ "$q" -lt 1048576 ] || fail "xlog files not flushed: $q bytes"
echo "# xlog bytes after the flush: $q"
# Changes made while disconnected are covered by the remirror (deletions
# with the connection's orphan policy DELETE).
echo "while disconnected" >"$data/b/during.txt"
rm -f "$data/a/f1"
mv "$data/a/f2" "$data/b/f2-moved"
cut up
wait_log " 4010 Auto-reconnect has succeeded connecting Replication Set lc to 10.78.0.2:$tport"
wait_log "Connection 1: auto-remirror \(different\)" 50
wait_same src 1 "$data" "$copy" "after the auto-remirror (B)"
field "Auto-disconnects" | grep -q "^1; auto-remirror different" || fail "auto-disconnects: $(field 'Auto-disconnects')"
field "Transmit state" | grep -qx "Started" || fail "state after: $(field 'Transmit state')"
pass "exhausted behind a cut: alert at 50 % and its re-arm, auto-disconnect and flush (4007/78/85/801/4008), reconnect (4009/80/4011, 4010), auto-remirror; trees identical"

# ---- (C) queue.auto_remirror none: Mirror Required until MIRROR START
expect_rc 0 dtcl_at src -c 'SET queue.auto_remirror=none'
n10=$(agent_log src | grep -c " 4010 ")
cut down
write c 70
for _ in $(seq 200); do [ "$(agent_log src | grep -c " 4008 ")" -ge 2 ] && break; sleep 0.1; done
[ "$(agent_log src | grep -c " 4008 ")" -ge 2 ] || fail "no second auto-disconnect"
cut up
for _ in $(seq 200); do [ "$(agent_log src | grep -c " 4010 ")" -gt "$n10" ] && break; sleep 0.1; done
wait_log "Connection 1 is Mirror Required \(queue.auto_remirror none\)" 50
field "Mirror state" | grep -q "^Mirror Required" || fail "mirror state: $(field 'Mirror state')"
echo "not yet" >"$data/c/pending.txt"
sleep 2
[ ! -e "$copy/c/pending.txt" ] || fail "replicated while Mirror Required"
field "Replication state" | grep -q "^Pending" || fail "replication: $(field 'Replication state')"
expect_rc 0 dtcl_at src -c 'MIRROR START 1 DIFFERENT'
wait_same src 1 "$data" "$copy" "after MIRROR START (C)"
echo "replicating again" >"$data/c/again.txt"
wait_same src 1 "$data" "$copy" "replication after the remirror (C)"
pass "queue.auto_remirror none: Mirror Required and replication Pending until MIRROR START; then identical and replicating"

# ---- (E) a disk queue that cannot be read back: the same safe path
expect_rc 0 dtcl_at src -c 'SET queue.auto_remirror=different'
n08=$(agent_log src | grep -c " 4008 ")
expect_rc 0 dtcl_at src -c 'TRANSMIT PAUSE 1'
write e 40
for _ in $(seq 100); do d=$(disk_bytes); [ "${d:-0}" -gt 2000000 ] && break; sleep 0.1; done
sleep 1
# Damage the newest xlog file that holds spilled ops, in its middle.
f=$(find "$(agent_dir src)/state/queue" -name '*.xlog' -size +1M | LC_ALL=C sort | tail -n 1)
[ -n "$f" ] || fail "no xlog file with spilled ops"
sz=$(stat -c %s "$f")
printf 'garbage in the middle of a queue file' | dd of="$f" bs=1 seek=$((sz / 2)) conv=notrunc status=none
expect_rc 0 dtcl_at src -c 'TRANSMIT RESUME 1'
wait_log " 4007 .* due to the disk queue cannot be read back"
for _ in $(seq 200); do [ "$(agent_log src | grep -c " 4008 ")" -gt "$n08" ] && break; sleep 0.1; done
wait_same src 1 "$data" "$copy" "after a damaged disk queue (E)"
pass "a damaged xlog file is found when the spilled ops are read back: auto-disconnect, flush, remirror; trees identical"

# ---- (F) a journal write error (the queue directory removed under the
# agent: the next xlog file cannot be made): the same path, here with a
# checksum remirror; the directory is made again
expect_rc 0 dtcl_at src -c 'SET queue.auto_remirror=checksum'
n08=$(agent_log src | grep -c " 4008 ")
qdir="$(agent_dir src)/state/queue"
rm -rf "$qdir"
write f 12
wait_log " 4007 .* due to the queue journal cannot be written"
for _ in $(seq 200); do [ "$(agent_log src | grep -c " 4008 ")" -gt "$n08" ] && break; sleep 0.1; done
wait_log "Connection 1: auto-remirror \(checksum\)"
wait_same src 1 "$data" "$copy" "after a journal write error (F)"
[ -d "$qdir" ] || fail "the queue directory was not made again"
pass "a journal write error (queue directory gone): auto-disconnect, the journal starts afresh, checksum remirror; trees identical"

# ---- (D) queue.min_free on a small queue file system; a bad auto_remirror
small="$IT_DIR/qfs"
mkdir -p "$small"
mount -t tmpfs -o size=48m tmpfs "$small" || skip "cannot mount tmpfs"
it_on_exit "umount -l '$small'"
mkdir -p "$(agent_dir src2)"
printf 'agent = { plugin_dir = "%s"; };\nqueue = { dir = "%s"; min_free = "24M"; };\n' \
	"$DITTO_BUILDDIR/plugins/.libs" "$small" >"$(agent_dir src2)/ditto.conf"
start_agent src2 --key-file "$key"
data2="$IT_DIR/data2"
mkdir -p "$data2"
echo x >"$data2/x"
expect_rc 0 dtcl_at src2 -c "REPSET CREATE mf; REPSET RULE ADD \"$data2\" INCLUDE TO mf"
expect_rc 0 dtcl_at src2 -c "\$c = CONNECT mf TO 10.78.0.2:$tport MAP BASE \"$IT_DIR/base2\"; TRANSMIT PAUSE \$c"
for i in $(seq 40); do head -c 1000000 /dev/urandom >"$data2/g$i"; done
for _ in $(seq 200); do agent_log src2 | grep -qE " 4008 " && break; sleep 0.1; done
agent_log src2 | grep -qE " 4007 .* due to the queue file system is down to [0-9]+ bytes free \(queue.min_free 25165824\)" ||
	fail "min_free did not auto-disconnect: $(agent_log src2 | grep -E ' 400[78] ')"
avail=$(df -B1 --output=avail "$small" | tail -1)
[ "$avail" -ge $((20 << 20)) ] || fail "the queue file system was filled past min_free: $avail bytes free"
pass "queue.min_free: the journal never takes the queue file system below it (auto-disconnect instead)"

printf 'queue = { auto_remirror = "sometimes"; };\n' >"$IT_DIR/bad.conf"
expect_rc 1 "$DITTOD" -f -c "$IT_DIR/bad.conf" --state-dir "$IT_DIR/bad" --log-dir "$IT_DIR/bad"
expect_out "queue.auto_remirror: unknown value \"sometimes\" \(expected one of none.full.different.checksum\)"
pass "a bad queue.auto_remirror is refused at start with the words it takes"
