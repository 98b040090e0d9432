#!/bin/bash
# The source's queue keeps queue.memory in memory and the rest in its xlog
# journal: with the target agent frozen, 120 MB of changes stay within
# about 32 MiB of queue memory (the rest on disk), survive a kill -9 of the
# source, and drain in order once the target runs again.
IT_LIMIT=240
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
mkdir -p "$(agent_dir src)"
printf 'agent = { plugin_dir = "%s"; };\nqueue = { memory = "32M"; };\n' "$DITTO_BUILDDIR/plugins/.libs" \
	>"$(agent_dir src)/ditto.conf"
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"
it_on_exit "kill -CONT $PID_tgt"

data="$IT_DIR/data"
mkdir -p "$data"
echo start >"$data/start.txt"
copy="$IT_DIR/base$data"
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
field() { dtcl_at src -c 'STATUS 1' | sed -n "s/^$1: *//p"; }

expect_rc 0 dtcl_at src -c "REPSET CREATE demo; REPSET RULE ADD \"$data\" INCLUDE TO demo"
expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\"; WAITONQUEUE \$c 60"
pass "connected and replicating"

kill -STOP "$PID_tgt"
peak=0
for i in $(seq 60); do
	head -c 2000000 /dev/urandom >"$data/f$i.bin"
	r=$(rss_kib "$PID_src"); [ "$r" -gt "$peak" ] && peak=$r
done
for _ in $(seq 100); do
	[ "$(field 'Disk queue' | cut -d' ' -f1)" -gt 0 ] 2>/dev/null && break
	sleep 0.1
done
disk=$(field 'Disk queue')
mem=$(field 'Queued bytes')
r=$(rss_kib "$PID_src"); [ "$r" -gt "$peak" ] && peak=$r
echo "# memory queue $mem bytes, disk queue $disk, source peak RSS $((peak / 1024)) MiB"
[ "${disk%% *}" -gt 0 ] || fail "nothing went to the disk queue (memory $mem)"
[ "$mem" -le $((32 * 1048576)) ] || fail "memory queue $mem above queue.memory"
[ "$peak" -lt $((112 * 1024)) ] || fail "source RSS $((peak / 1024)) MiB for a 32 MiB queue"
pass "past queue.memory the ops go to disk; memory stays bounded"

# The journal, disk part included, survives a crash of the source.
kill -KILL "$PID_src"; wait "$PID_src" 2>/dev/null
start_agent src --key-file "$key"
kill -CONT "$PID_tgt"
wait_same src 1 "$data" "$copy" "the copy did not catch up after the spill and the restart"
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Disk queue: +0 ops'
pass "after kill -9 the spilled queue is replayed and drains in order; trees equal"
