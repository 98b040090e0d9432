#!/bin/bash
# dittod as an administrator runs it: config test, daemon mode with a pid
# file, one agent per state dir and control socket, SIGHUP reload (good and
# bad edits), SIGTERM stop with messages 69/70 and clean-up of its files.
. "$(dirname "$0")/lib.sh"

d=$(agent_dir gamma)
mkdir -p "$d"
conf="$d/ditto.conf"
cat >"$conf" <<CONF
log = { max_files = 8; };
CONF
port=$(free_port)
args=(-c "$conf" --name gamma --state-dir "$d/state" --log-dir "$d/log"
      --control "$d/ctl.sock" --listen "127.0.0.1:$port")

expect_rc 0 "$DITTOD" -t -c "$conf"
expect_out 'valid'
printf 'log = { max_files = 8; };\nqueue = { memory = "1M"; };\n' >"$d/bad.conf"
expect_rc 1 "$DITTOD" -t -c "$d/bad.conf"
expect_out "bad\.conf:2: .*queue\.memory"
printf 'agent = { nmae = "x"; };\n' >"$d/typo.conf"
expect_rc 1 "$DITTOD" -t -c "$d/typo.conf"
expect_out "typo\.conf:1: .*nmae"
expect_rc 1 "$DITTOD" -t -c "$d/missing.conf"
expect_out 'missing\.conf'
expect_rc 2 "$DITTOD" --no-such-option
expect_rc 0 "$DITTOD" --help
expect_out '--state-dir'
expect_rc 0 "$DITTOD" --version
pass "config test and usage"

# Daemon mode: returns once the agent is up.
expect_rc 0 "$DITTOD" "${args[@]}"
pidfile="$d/state/dittod.pid"
[ -s "$pidfile" ] || fail "no pid file"
pid=$(cat "$pidfile")
IT_PIDS+=("$pid")
kill -0 "$pid" || fail "daemon not running"
[ "$(ps -o ppid= -p "$pid" | tr -d ' ')" = 1 ] || [ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] \
	|| fail "daemon did not detach"
expect_rc 0 dtcl_at gamma -c 'GET log.max_files'
expect_out '= 8$'
pass "daemon mode with pid file"

expect_rc 1 "$DITTOD" "${args[@]}"
expect_out 'Another dittod \(pid [0-9]+\) already uses state directory'
expect_rc 1 "$DITTOD" -c "$conf" --name other --state-dir "$d/state2" --log-dir "$d/log2" \
	--control "$d/ctl.sock" --listen "127.0.0.1:$(free_port)"
expect_out 'in use by another running dittod'
kill -0 "$pid" || fail "first agent died"
pass "a second agent cannot take the state dir or the socket"

printf 'log = { max_files = 9; };\nqueue = { memory = "64M"; };\n' >"$conf"
kill -HUP "$pid"
for _ in $(seq 50); do
	dtcl_at gamma -c 'GET log.max_files' 2>/dev/null | grep -q '= 9$' && break
	sleep 0.1
done
expect_rc 0 dtcl_at gamma -c 'GET log.max_files'
expect_out '= 9$'
agent_log gamma | grep -q 'Configuration reloaded' || fail "reload not logged"
expect_rc 0 dtcl_at gamma -c 'GET queue.memory'
expect_out '= 128M$'
agent_log gamma | grep -q 'Setting queue.memory changed from 128M to 64M; it takes effect after a restart' \
	|| fail "restart-only change not reported"
echo 'log = { max_files = "many"; };' >"$conf"
kill -HUP "$pid"
for _ in $(seq 50); do
	agent_log gamma | grep -q 'reload failed' && break
	sleep 0.1
done
agent_log gamma | grep -q 'Configuration reload failed, keeping the running configuration: .*ditto.conf:1' \
	|| fail "failed reload not logged"
expect_rc 0 dtcl_at gamma -c 'GET log.max_files'
expect_out '= 9$'
pass "SIGHUP reloads good edits and keeps running through bad ones"

kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "agent ignored SIGTERM"
[ -e "$pidfile" ] && fail "pid file left behind"
[ -e "$d/ctl.sock" ] && fail "control socket left behind"
agent_log gamma | grep -qE ' 2 69 Ditto kernel started on gamma$' || fail "no 69"
agent_log gamma | grep -qE ' 2 70 Ditto kernel stopped$' || fail "no 70"
pass "SIGTERM stops cleanly with messages 69 and 70"

# A crashed agent leaves a stale socket and pid file; the next start takes over.
start_agent delta
{ kill -KILL "$PID_delta"; wait "$PID_delta"; } 2>/dev/null
[ -S "$(agent_sock delta)" ] || fail "expected a stale socket"
start_agent delta
pass "restart after kill -9 takes over stale socket and pid file"
