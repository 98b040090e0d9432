#!/bin/bash
# Transmission control between two real agents: TRANSMIT PAUSE/RESUME (data
# queues on the source, then drains), TRANSMIT STOP/START (the link closes
# and stays closed, also across a restart of the source), PAUSETARGET /
# RESUMETARGET for every connection to a target (Pause Pending while ops
# are in flight to a frozen target, then Paused), and SCHEDULE: a byte
# threshold, a start time, a byte stop limit, a window that bounds them,
# DISABLE/ENABLE/CLEAR, the schedule shared by connections to the same
# target and kept across a restart, events 81/82; REPLICATION STOP/START;
# bad arguments refused.
# The trees are identical after every step.
IT_LIMIT=240
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"
it_on_exit "kill -CONT \$PID_tgt"

data="$IT_DIR/data" data2="$IT_DIR/data2"
mkdir -p "$data" "$data2"
echo start >"$data/start.txt"
echo other >"$data2/other.txt"
copy="$IT_DIR/base$data" copy2="$IT_DIR/base$data2"

field() { dtcl_at src -c "STATUS ${2:-1}" | sed -n "s/^$1: *//p"; }
num() { field "$@" | sed -n 's/^\([0-9]*\).*/\1/p'; }
state_is() {
	local want=$1 con=${2:-1} got
	got=$(field "Transmit state" "$con")
	[ "$got" = "$want" ] || fail "connection $con is '$got', expected '$want'"
}
# not_there FILE: it does not reach the target within 2 s.
not_there() {
	sleep 2
	[ ! -e "$1" ] || fail "$1 reached the target while it should wait"
}
same() { wait_same src "${2:-1}" "$1" "$3" "trees differ: $4"; }
log_count() { agent_log src | grep -cE "$1"; }
# wait_between: the running session (if any) has ended with the queue empty.
wait_between() {
	for _ in $(seq 50); do
		dtcl_at src -c "SCHEDULE 1" | grep -q "Schedule: *waiting" && return 0
		sleep 0.1
	done
	fail "the session did not end"
}

expect_rc 0 dtcl_at src -c "REPSET CREATE tx; REPSET RULE ADD \"$data\" INCLUDE TO tx"
expect_rc 0 dtcl_at src -c "REPSET CREATE tx2; REPSET RULE ADD \"$data2\" INCLUDE TO tx2"
expect_rc 0 dtcl_at src -c "\$c = CONNECT tx TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\"; WAITONQUEUE \$c 60"
expect_rc 0 dtcl_at src -c "\$c = CONNECT tx2 TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\"; WAITONQUEUE \$c 60"
same "$data" 1 "$copy" "initial mirror"
state_is Started
dtcl_at src -c "SCHEDULE 1" | grep -q "Schedule: *none" || fail "a new connection has a schedule"
pass "two connections to one target, Started, no schedule"

# ---- bad arguments, nothing changed by them
expect_rc 2 dtcl_at src -c "TRANSMIT FOO 1"
expect_out "usage: TRANSMIT START.STOP.PAUSE.RESUME con_id"
expect_rc 1 dtcl_at src -c "TRANSMIT PAUSE 9"
expect_out "no connection 9"
expect_rc 1 dtcl_at src -c "PAUSETARGET 127.0.0.1:1"
expect_out "no connection to target 127.0.0.1:1"
expect_rc 2 dtcl_at src -c "PAUSETARGET"
for bad in 'START "tomorrow"' 'START "2026-13-01 10:00"' 'THRESHOLD 0 %' 'THRESHOLD 101 %' \
	'THRESHOLD 0 BYTES' 'STOP AFTER 5 WEEKS' 'STOP AFTER 0 MINUTES' 'WINDOW "25:00" "01:00"' \
	'WINDOW "10:00" "10:00"' 'START "2026-12-04 10:00" EVERY 0 HOURS'; do
	expect_rc 1 dtcl_at src -c "SCHEDULE 1 $bad"
	expect_out "^SCHEDULE: "
done
expect_rc 2 dtcl_at src -c "SCHEDULE 1 SOMETIME"
expect_out "usage: SCHEDULE con_id"
dtcl_at src -c "SCHEDULE 1" | grep -q "Schedule: *none" || fail "a refused SCHEDULE changed the schedule"
state_is Started
pass "bad TRANSMIT, PAUSETARGET and SCHEDULE arguments refused, nothing changed"

# ---- TRANSMIT PAUSE / RESUME
expect_rc 0 dtcl_at src -c "TRANSMIT PAUSE 1"
state_is Paused
echo paused >"$data/paused.txt"
not_there "$copy/paused.txt"
[ "$(num "Queued ops")" -gt 0 ] || fail "nothing queued while paused"
expect_rc 0 dtcl_at src -c "TRANSMIT RESUME 1"
state_is Started
same "$data" 1 "$copy" "after TRANSMIT RESUME"
pass "TRANSMIT PAUSE queues on the source, RESUME drains it"

# ---- TRANSMIT STOP / START, kept across a restart
expect_rc 0 dtcl_at src -c "TRANSMIT STOP 1"
state_is Stopped
agent_log src | grep -q "Connection 1: link to .* closed, transmission stopped" || fail "no stop logged"
agent_log src | grep -q " 4015 Service has stopped network transmission to 127.0.0.1:$tport for Replication Set tx, ID: 1" ||
	fail "no event 4015"
echo stopped >"$data/stopped.txt"
not_there "$copy/stopped.txt"
expect_rc 1 dtcl_at src -c "TRANSMIT PAUSE 1"
expect_out "stopped: TRANSMIT START it first"
kill -TERM "$PID_src"
wait "$PID_src" 2>/dev/null
n71=$(log_count 'Originator attempting .*\(connection 1\)')
start_agent src --key-file "$key"
state_is Stopped
echo stopped2 >"$data/stopped2.txt"
not_there "$copy/stopped2.txt"
[ "$(log_count 'Originator attempting .*\(connection 1\)')" -eq "$n71" ] ||
	fail "a stopped connection dialled its target after a restart"
expect_rc 0 dtcl_at src -c "TRANSMIT START 1"
agent_log src | grep -q " 4014 Service has started network transmission to 127.0.0.1:$tport for Replication Set tx, ID: 1" ||
	fail "no event 4014"
same "$data" 1 "$copy" "after TRANSMIT START"
state_is Started
pass "TRANSMIT STOP closes the link and queues (also across a restart); START drains"

# ---- PAUSETARGET / RESUMETARGET: Pause Pending while ops are in flight
sent0=$(num "Sent ops")
kill -STOP "$PID_tgt"
head -c 3000000 /dev/urandom >"$data/inflight.bin"
# Sent into the socket, not acknowledged by the frozen target.
for _ in $(seq 100); do [ "$(num "Sent ops")" -gt "$sent0" ] && break; sleep 0.1; done
[ "$(num "Sent ops")" -gt "$sent0" ] || fail "nothing sent to the frozen target"
expect_rc 0 dtcl_at src -c "PAUSETARGET 127.0.0.1:$tport"
expect_out "Target 127.0.0.1:$tport paused \(2 connections\)"
state_is "Pause Pending (target paused)"
state_is "Paused (target paused)" 2
kill -CONT "$PID_tgt"
for _ in $(seq 100); do
	[ "$(field "Transmit state")" = "Paused (target paused)" ] && break
	sleep 0.1
done
state_is "Paused (target paused)"
agent_log src | grep -q "Connection 1: target .* paused; [0-9]* ops wait" || fail "no Paused logged"
echo held >"$data/held.txt"
echo held2 >"$data2/held2.txt"
not_there "$copy/held.txt"
[ ! -e "$copy2/held2.txt" ] || fail "the second connection sent while its target was paused"
expect_rc 0 dtcl_at src -c "RESUMETARGET 127.0.0.1:$tport"
same "$data" 1 "$copy" "after RESUMETARGET"
same "$data2" 2 "$copy2" "after RESUMETARGET (second connection)"
state_is Started
pass "PAUSETARGET: Pause Pending until in-flight ops are applied, then Paused for both connections; RESUMETARGET drains"

# ---- SCHEDULE THRESHOLD n BYTES (shared by both connections)
expect_rc 0 dtcl_at src -c "SCHEDULE 1 THRESHOLD 1M BYTES"
expect_out "also connection 2: same target"
state_is Scheduled
state_is Scheduled 2
links() { ss -Htn state established "( dport = :$tport )" | wc -l; }
for _ in $(seq 50); do [ "$(links)" -eq 0 ] && break; sleep 0.1; done
[ "$(links)" -eq 0 ] || fail "links to the target stay open between scheduled sessions"
head -c 100000 /dev/urandom >"$data/small.bin"
not_there "$copy/small.bin"
[ "$(links)" -eq 0 ] || fail "a link opened below the threshold"
n81=$(log_count " 81 Schedule transmit start")
head -c 2000000 /dev/urandom >"$data/big.bin"
same "$data" 1 "$copy" "after the threshold was reached"
[ "$(log_count " 81 Schedule transmit start to target .* \(connection 1\): queue threshold")" -gt 0 ] ||
	fail "no event 81 for the threshold"
for _ in $(seq 30); do
	agent_log src | grep -qE " 82 Schedule transmit end to target .* \(connection 1\): queue empty" && break
	sleep 0.2
done
agent_log src | grep -qE " 82 Schedule transmit end .*\(connection 1\): queue empty" || fail "no event 82"
state_is Scheduled
[ "$(log_count " 81 Schedule transmit start")" -gt "$n81" ] || fail "81 not counted"
for _ in $(seq 50); do [ "$(links)" -eq 0 ] && break; sleep 0.1; done
[ "$(links)" -eq 0 ] || fail "the link stayed open after the session"
agent_log src | grep -q "Connection 1: link to .* closed until the next transmission session" ||
	fail "closing the link between sessions not logged"
pass "THRESHOLD 1M BYTES: no link while below it; 100 KB waits, 2 MB more starts a session (81) that ends with the queue empty (82) and closes the link"

# ---- a window that is closed now bounds the threshold; one open now lets it go
open_at=$(date -d '+2 hours' +%H:%M) close_at=$(date -d '+3 hours' +%H:%M)
expect_rc 0 dtcl_at src -c "SCHEDULE 1 WINDOW \"$open_at\" \"$close_at\""
expect_rc 0 dtcl_at src -c "SCHEDULE 1 THRESHOLD 1 BYTES"
dtcl_at src -c "STATUS 1" | grep -q "Window: *$open_at-$close_at (closed now)" || fail "window not shown closed"
echo windowed >"$data/windowed.txt"
not_there "$copy/windowed.txt"
expect_rc 0 dtcl_at src -c "SCHEDULE 1 WINDOW \"$(date -d '-1 hour' +%H:%M)\" \"$(date -d '+1 hour' +%H:%M)\""
same "$data" 1 "$copy" "after the window opened"
wait_between
pass "WINDOW closed now holds a met threshold back; a window open now lets it go"

# ---- START at a date and time (in 3 s); the threshold does not start before it
expect_rc 0 dtcl_at src -c "SCHEDULE 1 CLEAR"
expect_rc 0 dtcl_at src -c "SCHEDULE 1 THRESHOLD 1 BYTES"
at=$(date -d '+4 seconds' '+%Y-%m-%d %H:%M:%S')
expect_rc 0 dtcl_at src -c "SCHEDULE 1 START \"$at\" EVERY 1 DAY"
expect_out "Start: *$at, every 1 DAY"
echo timed >"$data/timed.txt"
sleep 1
[ ! -e "$copy/timed.txt" ] || fail "sent before the start time (the threshold must wait for it)"
same "$data" 1 "$copy" "after the start time"
agent_log src | grep -qE " 81 Schedule transmit start to target .* \(connection 1\): start time" ||
	fail "no 81 for the start time"
dtcl_at src -c "SCHEDULE 1" | grep -q "(next $(date -d '+1 day' +%Y-%m-%d) " || fail "next start is not a day later"
pass "START \"date time\" EVERY 1 DAY: nothing before it, a session at it, the next one a day later"

# ---- kept across a restart of the source
kill -TERM "$PID_src"
wait "$PID_src" 2>/dev/null
start_agent src --key-file "$key"
dtcl_at src -c "STATUS 2" | grep -q "Start: *$at, every 1 DAY" || fail "schedule not kept (connection 2)"
state_is Scheduled
pass "the schedule is kept across a restart"

# ---- STOP AFTER n BYTES ends a session at the limit
expect_rc 0 dtcl_at src -c "SCHEDULE 1 CLEAR START"
expect_rc 0 dtcl_at src -c "SCHEDULE 1 STOP AFTER 1M BYTES"
head -c 5000000 /dev/urandom >"$data/limited.bin"
for _ in $(seq 100); do
	agent_log src | grep -qE " 82 .*\(connection 1\): byte limit reached" && break
	sleep 0.1
done
line=$(agent_log src | grep -E " 82 .*\(connection 1\): byte limit reached" | head -1)
[ -n "$line" ] || fail "no session ended at the byte limit"
sent=$(printf '%s\n' "$line" | sed -n 's/.*; \([0-9]*\) bytes sent in the session.*/\1/p')
echo "# first session sent $sent bytes under STOP AFTER 1M BYTES"
[ "$sent" -ge 1048576 ] && [ "$sent" -le $((1048576 + 2 * 1048576 + 65536)) ] ||
	fail "a session under a 1 MiB limit sent $sent bytes"
same "$data" 1 "$copy" "after sessions under a byte limit"
wait_between
pass "STOP AFTER 1M BYTES ends each session at the limit (+ at most a batch); the threshold starts the next"

# ---- DISABLE keeps the settings and lets data go; ENABLE brings them back; CLEAR
expect_rc 0 dtcl_at src -c "SCHEDULE 1 THRESHOLD 1G BYTES"
state_is Scheduled
expect_rc 0 dtcl_at src -c "SCHEDULE 1 DISABLE"
expect_out "disabled"
state_is Started
echo free >"$data/free.txt"
same "$data" 1 "$copy" "with the schedule disabled"
expect_rc 0 dtcl_at src -c "SCHEDULE 1 ENABLE"
state_is Scheduled
echo waits >"$data/waits.txt"
not_there "$copy/waits.txt"
expect_rc 0 dtcl_at src -c "TRANSMIT START 1"
same "$data" 1 "$copy" "after TRANSMIT START on a scheduled connection"
agent_log src | grep -qE " 81 .*\(connection 1\): TRANSMIT START" || fail "no 81 for TRANSMIT START"
expect_rc 0 dtcl_at src -c "SCHEDULE 2 CLEAR"
state_is Started
state_is Started 2
echo done >"$data/done.txt"
same "$data" 1 "$copy" "after CLEAR"
pass "DISABLE/ENABLE keep the settings; TRANSMIT START runs a session now; CLEAR (from either connection) ends scheduling"

# ---- REPLICATION STOP / START
expect_rc 2 dtcl_at src -c "REPLICATION PAUSE 1"
expect_out "usage: REPLICATION START.STOP con_id"
expect_rc 0 dtcl_at src -c "REPLICATION STOP 1"
agent_log src | grep -q " 88 Stop replication on connection 1" || fail "no message 88"
field "Replication state" | grep -q "^Stopped" || fail "replication state: $(field 'Replication state')"
echo unseen >"$data/unseen.txt"
not_there "$copy/unseen.txt"
[ "$(num "Queued ops")" -eq 0 ] || fail "changes queued while replication was stopped"
kill -TERM "$PID_src"
wait "$PID_src" 2>/dev/null
start_agent src --key-file "$key"
field "Replication state" | grep -q "^Stopped" || fail "replication stop not kept across a restart"
expect_rc 0 dtcl_at src -c "REPLICATION START 1"
expect_out "difference mirror catches up"
agent_log src | grep -q " 87 Start replication on connection 1" || fail "no message 87"
same "$data" 1 "$copy" "after REPLICATION START"
echo seen >"$data/seen.txt"
same "$data" 1 "$copy" "replicating after REPLICATION START"
pass "REPLICATION STOP queues no changes (kept across a restart); START mirrors what changed meanwhile and replicates again (87/88)"
