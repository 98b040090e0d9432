#!/bin/bash
# 20,000 random operations (rename chains, write-to-temp-then-rename,
# mkdir-then-write races, rm -r, directory/symlink swaps, appends,
# truncation, chmod, hard links, xattrs set and removed) replicated in real
# time while the target agent is killed with SIGKILL and restarted, and then
# the source agent too (its journaled queue is replayed and it remirrors).
# The target ends equal to the source in content, type, mode, owner, file
# and directory times, link targets, hard-link groups and xattrs.
IT_LIMIT=${IT_LIMIT:-400}
. "$(dirname "$0")/lib.sh"
need_root "fanotify filesystem marks need CAP_SYS_ADMIN"

plugins="$DITTO_BUILDDIR/plugins/.libs"
key="$IT_DIR/peer.key"
tport=$(free_port)
mkdir -p "$(agent_dir src)"
printf 'agent = { plugin_dir = "%s"; };\n' "$plugins" >"$(agent_dir src)/ditto.conf"
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"
restart() { # NAME EXTRA-ARGS...: the same agent again, same state
	local name=$1; shift
	start_agent "$name" --key-file "$key" "$@"
}

data="$IT_DIR/data"
mkdir -p "$data"
python3 "$DITTO_SRCDIR/tests/tools/churn.py" "$data" 500 7 >/dev/null

wait_equal() { wait_same src 1 "$data" "$IT_DIR/copy" "$1"; }

expect_rc 0 dtcl_at src -c "REPSET CREATE churn; REPSET RULE ADD \"$data\" INCLUDE TO churn; \$c = CONNECT churn TO 127.0.0.1:$tport MAP \"$data\" TO \"$IT_DIR/copy\"; WAITONQUEUE \$c 60"
wait_equal "initial mirror differs"
pass "initial mirror"

python3 "$DITTO_SRCDIR/tests/tools/churn.py" "$data" 10000 11 4000 >"$IT_DIR/churn1.out" &
writer=$!
sleep 1
{ kill -KILL "$PID_tgt"; wait "$PID_tgt"; } 2>/dev/null
sleep 1
restart tgt --listen "127.0.0.1:$tport"
wait "$writer" || fail "churn writer failed"
wait_equal "after 10,000 ops and a target kill -9 the copy differs"
agent_log src | grep -q 'Connection lost with IP address' || fail "the source did not notice the target going away"
pass "10,000 ops with the target agent killed (SIGKILL) and restarted in the middle"

python3 "$DITTO_SRCDIR/tests/tools/churn.py" "$data" 10000 13 4000 >"$IT_DIR/churn2.out" &
writer=$!
sleep 1
# Hold the target so the source has un-acknowledged ops, let the source
# capture what was written, then kill the source while the writer waits.
kill -STOP "$PID_tgt"
sleep 1
kill -STOP "$writer"
sleep 1
queued=$(dtcl_at src -c 'STATUS 1' | sed -n 's/^Queued ops: *//p')
{ kill -KILL "$PID_src"; wait "$PID_src"; } 2>/dev/null
kill -CONT "$PID_tgt"
restart src
kill -CONT "$writer"
wait "$writer" || fail "churn writer failed"
wait_equal "after the source was killed with $queued ops queued the copy differs"
agent_log src | grep -q 'remirroring after restart' || fail "no remirror after restart"
pass "10,000 more ops with the source agent killed (SIGKILL, $queued ops queued) and restarted"
