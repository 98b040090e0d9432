#!/bin/bash
# Scripts on mirror events (SCRIPT ADD con_id MIRRORSTART|MIRRORSTOP|
# MIRRORCOMPLETE="path" [ARGS="..."]): MIRRORSTART when a mirror starts,
# MIRRORCOMPLETE once the target applied it all, MIRRORSTOP when one is
# stopped; with the DITTO_* variables, ARGS passed literally (no shell),
# output in the agent's log. A script others could change is refused;
# scripts are kept across a restart and SCRIPT REMOVE drops them.
IT_LIMIT=180
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"
it_on_exit "kill -CONT $PID_tgt"

data="$IT_DIR/data"
mkdir -p "$data"
for i in $(seq 50); do head -c 20000 /dev/urandom >"$data/f$i"; done
events="$IT_DIR/events"
script="$IT_DIR/on-mirror"
cat >"$script" <<'SH'
#!/bin/sh
out=$1; shift
echo "$DITTO_EVENT con=$DITTO_CON_ID set=$DITTO_REPSET type=$DITTO_MIRROR_TYPE files=${DITTO_MIRROR_FILES-none} reason=${DITTO_REASON-none} path=$DITTO_TARGET_PATH args=$*" >>"$out"
echo "hello from $DITTO_EVENT"
SH
chmod 0755 "$script"
copy="$IT_DIR/base$data"

# wait_lines N: until the events file has N lines.
wait_lines() {
	for _ in $(seq 100); do
		[ "$(wc -l <"$events" 2>/dev/null || echo 0)" -ge "$1" ] && return 0
		sleep 0.1
	done
	cat "$events" 2>/dev/null
	fail "expected $1 script runs"
}

expect_rc 0 dtcl_at src -c "REPSET CREATE s; REPSET RULE ADD \"$data\" INCLUDE TO s; CONNECT s TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\" NOMIRROR"
for e in MIRRORSTART MIRRORCOMPLETE MIRRORSTOP; do
	expect_rc 0 dtcl_at src -c "SCRIPT ADD 1 $e=\"$script\" ARGS=\"$events one;touch${IT_DIR}/injected \$(id)\""
done
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out "^Script MIRRORSTART: +$script $events"
pass "SCRIPT ADD for the three events; STATUS lists them"

expect_rc 0 dtcl_at src -c 'MIRROR START 1 FULL; WAITONMIRROR 1 60'
wait_lines 2
sed -n 1p "$events" | grep -q "^MIRRORSTART con=1 set=s type=full files=none reason=none path=$IT_DIR/base args=one;touch${IT_DIR}/injected \$(id)\$" ||
	fail "MIRRORSTART line: $(sed -n 1p "$events")"
sed -n 2p "$events" | grep -q '^MIRRORCOMPLETE con=1 set=s type=full files=50 reason=none ' ||
	fail "MIRRORCOMPLETE line: $(sed -n 2p "$events")"
[ -e "$IT_DIR/injected" ] && fail "ARGS went through a shell"
for _ in $(seq 50); do agent_log src | grep -q 'Script MIRRORCOMPLETE (connection 1) output: hello from MIRRORCOMPLETE' && break; sleep 0.1; done
agent_log src | grep -q 'Script MIRRORSTART (connection 1) output: hello from MIRRORSTART' || fail "script output not logged"
agent_log src | grep -q 'Script MIRRORCOMPLETE (connection 1) .* exited with status 0' || fail "script end not logged"
pass "a mirror runs MIRRORSTART, then MIRRORCOMPLETE once applied; variables, literal ARGS, output logged"

# A mirror the target cannot finish (frozen), stopped by command.
kill -STOP "$PID_tgt"
expect_rc 0 dtcl_at src -c 'MIRROR START 1 FULL'
wait_lines 3
expect_rc 0 dtcl_at src -c 'MIRROR STOP 1'
wait_lines 4
kill -CONT "$PID_tgt"
sed -n 3p "$events" | grep -q '^MIRRORSTART ' || fail "third run: $(sed -n 3p "$events")"
sed -n 4p "$events" | grep -q '^MIRRORSTOP con=1 set=s type=full files=[0-9]* reason=stopped ' ||
	fail "MIRRORSTOP line: $(sed -n 4p "$events")"
pass "MIRROR STOP runs MIRRORSTOP with the reason"

# Refusals: a script others may write, a relative path, an unknown event.
bad="$IT_DIR/bad-script"
cp "$script" "$bad"; chmod 0777 "$bad"
expect_rc 1 dtcl_at src -c "SCRIPT ADD 1 MIRRORSTART=\"$bad\""
expect_out 'script refused: .*writable'
expect_rc 1 dtcl_at src -c 'SCRIPT ADD 1 MIRRORSTART="on-mirror"'
expect_rc 1 dtcl_at src -c "SCRIPT ADD 1 MIRRORSOMETIME=\"$script\""
expect_rc 1 dtcl_at src -c "SCRIPT ADD 9 MIRRORSTART=\"$script\""
expect_rc 2 dtcl_at src -c "SCRIPT ADD 1 MIRRORSTART"
expect_out '^usage: SCRIPT ADD'
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out "^Script MIRRORSTART: +$script "
pass "refused: writable by others, relative path, unknown event or connection, no path; the old script stays"

# Kept across a restart; REMOVE drops one.
kill -TERM "$PID_src"; wait "$PID_src" 2>/dev/null
start_agent src --key-file "$key"
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out "^Script MIRRORCOMPLETE: +$script "
expect_rc 0 dtcl_at src -c 'SCRIPT REMOVE 1 MIRRORSTART'
expect_rc 1 dtcl_at src -c 'SCRIPT REMOVE 1 MIRRORSTART'
n=$(wc -l <"$events")
expect_rc 0 dtcl_at src -c 'MIRROR START 1 DIFFERENT; WAITONMIRROR 1 60'
wait_lines $((n + 1))
sleep 0.5
[ "$(wc -l <"$events")" -eq $((n + 1)) ] || fail "a removed script ran: $(tail -n 2 "$events")"
tail -n 1 "$events" | grep -q '^MIRRORCOMPLETE con=1 set=s type=different ' || fail "after restart: $(tail -n 1 "$events")"
pass "scripts survive a restart; SCRIPT REMOVE drops one"
