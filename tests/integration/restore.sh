#!/bin/bash
# Restoration: the target's copy comes back to the original source (only
# missing files; OVERWRITE; CHECKSUM for a same-size same-time change;
# NEWER), to a new source agent (TO), and to a source that lost its state,
# using the target's backup of the replication set (BACKUPSET).
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
sport=$(free_port)
start_agent src --key-file "$key" --listen "127.0.0.1:$sport"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
mkdir -p "$data/d/sub"
head -c 1000000 /dev/urandom >"$data/db.bin"
echo one >"$data/d/one.txt"
echo two >"$data/d/sub/two.txt"
ln -s one.txt "$data/d/link"
touch -d '2022-02-02 02:02:02' "$data/db.bin" "$data/d/one.txt"
cp -a "$data" "$IT_DIR/orig"
same() { diff <(tree_digest "$IT_DIR/orig") <(tree_digest "$data") >"$IT_DIR/diff" || { head -20 "$IT_DIR/diff"; fail "$1"; }; }

expect_rc 0 dtcl_at src -c "REPSET CREATE demo; REPSET RULE ADD \"$data\" INCLUDE TO demo"
expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\"; WAITONQUEUE \$c 60"
ls "$(agent_dir tgt)"/state/target/src_1.backup >/dev/null || fail "the target kept no backup of the set"
expect_rc 1 dtcl_at src -c "RESTORE demo FROM 127.0.0.1:$tport"
expect_out 'DISCONNECT it first'
expect_rc 0 dtcl_at src -c 'DISCONNECT 1'
pass "the target keeps a backup; restoring into a set still replicated is refused"

# Disaster, partial: files lost, one changed locally.
rm -rf "$data/d/sub" "$data/db.bin"
echo "local edit" >"$data/d/one.txt"
expect_rc 0 dtcl_at src -c "RESTORE demo FROM 127.0.0.1:$tport"
expect_out 'complete'
cmp -s "$IT_DIR/orig/db.bin" "$data/db.bin" && [ -f "$data/d/sub/two.txt" ] || fail "missing files not restored"
grep -q 'local edit' "$data/d/one.txt" || fail "a plain restore overwrote an existing file"
agent_log src | grep -q 'Restore complete: demo' || fail "no restore-complete message"
pass "RESTORE brings back what is missing and leaves existing files alone"

expect_rc 0 dtcl_at src -c "RESTORE demo FROM 127.0.0.1:$tport NEWER"
grep -q 'local edit' "$data/d/one.txt" || fail "NEWER overwrote a file newer on the source"
expect_rc 0 dtcl_at src -c "RESTORE demo FROM 127.0.0.1:$tport OVERWRITE"
same "OVERWRITE did not give back the target's copy"
pass "NEWER keeps a newer source file; OVERWRITE restores everything"

dd if=/dev/zero of="$data/db.bin" bs=4096 count=1 seek=10 conv=notrunc status=none
touch -d '2022-02-02 02:02:02' "$data/db.bin"
expect_rc 0 dtcl_at src -c "RESTORE demo FROM 127.0.0.1:$tport CHECKSUM"
same "CHECKSUM restore did not repair a same-size same-time change"
pass "a CHECKSUM restore repairs a change that keeps size and time"

# A new source machine: another agent, no sets of its own.
rm -rf "$data"
start_agent src2 --key-file "$key"
s2port=$(dtcl_at src2 -c 'GET agent.listen' | sed -n 's/.*:\([0-9]*\)$/\1/p')
[ -n "$s2port" ] || fail "cannot tell src2's port"
expect_rc 0 dtcl_at src -c "RESTORE demo FROM 127.0.0.1:$tport TO 127.0.0.1:$s2port"
for _ in $(seq 100); do agent_log tgt | grep -q "Restore complete: demo to 127.0.0.1:$s2port" && break; sleep 0.1; done
agent_log tgt | grep -q "Restore complete: demo to 127.0.0.1:$s2port" || fail "restore to a new source did not complete"
same "restore to a new source differs"
agent_log src2 | grep -q 'Connection request from .*tgt' || fail "src2 did not receive the restore"
pass "RESTORE ... TO another agent writes the copy there"

# The source loses its disk: no set, no state. The target's backup has both.
kill "$PID_src"; wait "$PID_src" 2>/dev/null
rm -rf "$(agent_dir src)/state" "$data"
start_agent src --key-file "$key" --listen "127.0.0.1:$sport"
expect_rc 1 dtcl_at src -c 'REPSET DISPLAY demo'
expect_rc 0 dtcl_at src -c "RESTORE demo FROM 127.0.0.1:$tport BACKUPSET"
expect_rc 0 dtcl_at src -c 'REPSET DISPLAY demo'
expect_out "$data"
same "restore with the backup definition differs"
pass "BACKUPSET recreates the set from the target's backup and restores into a bare source"

expect_rc 1 dtcl_at src -c "RESTORE nosuch FROM 127.0.0.1:$tport"
expect_out 'no backup of replication set nosuch'
expect_rc 2 dtcl_at src -c "RESTORE demo 127.0.0.1:$tport"
expect_rc 1 dtcl_at src -c 'RESTORE RESULT never'
pass "unknown sets and bad arguments refused"
