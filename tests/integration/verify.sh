#!/bin/bash
# Verification between two agents: VERIFY compares the target's copy with
# the source, writes "<set> DTVerify.log" (begin/end markers, one line per
# difference, totals) and returns 1 / exits 0 when in sync, -105 / exits
# non-zero with a summary when not, so cron can alert. CHECKSUM finds a
# change that keeps size and time; REMIRROR repairs; a cron schedule runs it.
IT_LIMIT=240
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
mkdir -p "$data/d"
head -c 2000000 /dev/urandom >"$data/db.bin"
echo one >"$data/d/one.txt"
echo two >"$data/d/two.txt"
ln -s one.txt "$data/d/link"
echo linked >"$data/d/h1"; ln "$data/d/h1" "$data/h2"
touch -d '2021-05-06 07:08:09' "$data/db.bin"
copy="$IT_DIR/base$data"
vlog="$(agent_dir src)/log/demo DTVerify.log"
# The lines of the last verification in the log.
last_run() { awk '/BEGIN VERIFICATION/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$vlog"; }

expect_rc 0 dtcl_at src -c "REPSET CREATE demo; REPSET RULE ADD \"$data\" INCLUDE TO demo"
expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\" NOREPLICATE; WAITONQUEUE \$c 60"

expect_rc 0 dtcl_at src -c 'VERIFY 1 CHECKSUM'
expect_out 'in sync'
[ -f "$vlog" ] || fail "no verification log at $vlog"
grep -q 'BEGIN VERIFICATION' "$vlog" && grep -q 'END VERIFICATION' "$vlog" || fail "markers missing: $(cat "$vlog")"
expect_rc 0 dtcl_at src -c 'IF VERIFY 1 < 0 THEN WRITE "differ" ELSE WRITE "same" END'
expect_out '^same$'
pass "an identical copy verifies in sync (metadata and checksums), log with markers"

# Differences: same-size same-time data change, a missing file, a changed
# mode, a symlink retargeted, a broken link group, an orphan.
dd if=/dev/urandom of="$copy/db.bin" bs=4096 count=1 seek=100 conv=notrunc status=none
touch -d '2021-05-06 07:08:09' "$copy/db.bin"
rm "$copy/d/two.txt"
chmod 0600 "$copy/d/one.txt"
ln -sfn elsewhere "$copy/d/link"
rm "$copy/h2"; echo linked >"$copy/h2"; touch -r "$data/h2" "$copy/h2"
echo stray >"$copy/d/orphan.txt"

expect_rc 1 dtcl_at src -c 'VERIFY 1'
expect_out 'NOT in sync'
last_run >"$IT_DIR/run"
grep -q 'two.txt' "$IT_DIR/run" || fail "missing file not in the log: $(cat "$IT_DIR/run")"
grep 'one.txt' "$IT_DIR/run" | grep -qi 'mode' || fail "mode difference not in the log: $(cat "$IT_DIR/run")"
grep -q 'orphan.txt' "$IT_DIR/run" || fail "orphan not in the log"
grep -q 'd/link' "$IT_DIR/run" || fail "retargeted symlink not in the log"
grep 'h[12] ' "$IT_DIR/run" | grep -q 'link' || fail "broken hard-link group not in the log: $(cat "$IT_DIR/run")"
grep -q 'db.bin' "$IT_DIR/run" && fail "a metadata verification cannot see the same-size same-time change"
[ -f "$copy/d/orphan.txt" ] && [ ! -e "$copy/d/two.txt" ] || fail "a verification without REMIRROR changed the target"
pass "differences found and logged, nothing changed, exit status non-zero"

expect_rc 1 dtcl_at src -c '$r = VERIFY 1 CHECKSUM; WRITE "result", $r'
expect_out '^result -105$'
last_run | grep 'db.bin' | grep -qi 'block' || fail "checksum verification did not log db.bin's blocks: $(last_run)"
pass "a checksum verification catches the same-size same-time change and returns -105"

expect_rc 1 dtcl_at src -c 'VERIFY 1 CHECKSUM REMIRROR'
expect_rc 0 dtcl_at src -c 'WAITONQUEUE 1 60'
last_run | grep -q 'remirrored' || fail "log does not say what was remirrored: $(last_run)"
expect_rc 0 dtcl_at src -c 'ORPHANS SET 1 DELETE'
expect_rc 1 dtcl_at src -c 'VERIFY 1 CHECKSUM'
expect_out '1 orphans'
last_run | grep 'orphan.txt' | grep -q 'removed\|deleted\|remirrored' || fail "log does not say the orphan was removed: $(last_run)"
expect_rc 0 dtcl_at src -c 'VERIFY 1 CHECKSUM'
expect_out 'in sync'
diff <(tree_digest "$data") <(tree_digest "$copy") || fail "trees differ after REMIRROR"
[ -e "$copy/d/orphan.txt" ] && fail "orphan kept although orphans are deleted"
pass "VERIFY REMIRROR repairs the copy; with orphans deleted the next verification is in sync"

: >"$vlog"
expect_rc 0 dtcl_at src -c 'SET verify.log_append=false'
expect_rc 0 dtcl_at src -c 'VERIFY 1'
expect_rc 0 dtcl_at src -c 'VERIFY 1'
[ "$(grep -c 'BEGIN VERIFICATION' "$vlog")" = 1 ] || fail "log_append=false still appends"
pass "verify.log_append=false starts the log afresh"

expect_rc 1 dtcl_at src -c 'VERIFY SCHEDULE 1 "61 * * * *"'
expect_rc 0 dtcl_at src -c 'VERIFY SCHEDULE 1 "* * * * *" CHECKSUM'
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Verify schedule: +"\* \* \* \* \*" CHECKSUM'
n0=$(agent_log src | grep -c 'Verification started 1')
for _ in $(seq 75); do
	[ "$(agent_log src | grep -c 'Verification started 1')" -gt "$n0" ] && break
	sleep 1
done
[ "$(agent_log src | grep -c 'Verification started 1')" -gt "$n0" ] || fail "scheduled verification did not run within 75 s"
expect_rc 0 dtcl_at src -c 'VERIFY SCHEDULE 1 NONE'
pass "a cron schedule runs the verification"

expect_rc 0 dtcl_at src -c 'VERIFY RESULT 1'
expect_rc 2 dtcl_at src -c 'VERIFY 1 SIDEWAYS'
expect_rc 1 dtcl_at src -c 'VERIFY 9'
pass "result query and argument errors"
