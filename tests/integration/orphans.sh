#!/bin/bash
# Orphans (files on the target the source does not have): logged, moved to a
# directory beneath the target path, or deleted, optionally only when older
# than an age; found by ORPHANS START and during mirrors. Nothing outside the
# connection's target path is ever touched.
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
mkdir -p "$data/d"
echo keep >"$data/keep.txt"
echo inner >"$data/d/inner.txt"
copy="$IT_DIR/base$data"
outside="$IT_DIR/outside"
mkdir -p "$outside"; echo canary >"$outside/canary"

expect_rc 0 dtcl_at src -c "REPSET CREATE demo; REPSET RULE ADD \"$data\" INCLUDE TO demo"
expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\" NOREPLICATE; WAITONQUEUE \$c 60"
[ -f "$copy/d/inner.txt" ] || fail "mirror did not run"

make_orphans() {
	echo young >"$copy/young.txt"
	echo old >"$copy/old.txt"; touch -d '3 days ago' "$copy/old.txt"
	mkdir -p "$copy/d/odir/deeper"; echo x >"$copy/d/odir/deeper/x"
	touch -d '3 days ago' "$copy/d/odir/deeper/x" "$copy/d/odir/deeper" "$copy/d/odir"
	ln -sfn "$outside/canary" "$copy/d/olink"
}
run_orphans() {
	expect_rc 0 dtcl_at src -c 'ORPHANS START 1; WAITONQUEUE 1 60'
}
make_orphans

run_orphans
for f in young.txt old.txt d/odir/deeper/x d/olink; do
	[ -e "$copy/$f" ] || [ -L "$copy/$f" ] || fail "ORPHANS START without a policy removed $f"
done
agent_log tgt | grep -q 'Orphan .*young.txt found' || fail "orphan not named in the target's log: $(agent_log tgt | tail -5)"
pass "ORPHANS START without a policy only reports"

expect_rc 1 dtcl_at src -c "ORPHANS SET 1 MOVE \"$outside\""
expect_out 'beneath the target path'
expect_rc 0 dtcl_at src -c "ORPHANS SET 1 MOVE \"$IT_DIR/base/attic\" OLDER 1 DAYS"
run_orphans
[ -f "$copy/young.txt" ] || fail "a young orphan was moved"
[ ! -e "$copy/old.txt" ] && [ -f "$IT_DIR/base/attic$data/old.txt" ] || fail "old orphan not moved to the attic: $(find "$IT_DIR/base/attic" | head)"
[ -f "$IT_DIR/base/attic$data/d/odir/deeper/x" ] || fail "old orphan directory not moved"
[ "$(cat "$outside/canary")" = canary ] || fail "the symlink's target outside was touched"
[ -f "$copy/keep.txt" ] && [ -f "$copy/d/inner.txt" ] || fail "a file the source has was moved"
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Orphans: +move to '
pass "MOVE OLDER 1 DAYS moves only old orphans, keeping the structure, beneath the target path"

expect_rc 0 dtcl_at src -c 'ORPHANS SET 1 DELETE'
run_orphans
for f in young.txt d/olink d/odir; do
	[ -e "$copy/$f" ] || [ -L "$copy/$f" ] && fail "DELETE left $f"
done
[ "$(cat "$outside/canary")" = canary ] || fail "deleting an orphan symlink touched its target"
[ -f "$IT_DIR/base/attic$data/old.txt" ] || fail "the attic (outside the set's directories) was touched"
[ -f "$copy/keep.txt" ] && [ -f "$copy/d/inner.txt" ] || fail "DELETE removed a file the source has"
pass "DELETE removes orphan files, trees and symlinks (not what they point to)"

make_orphans
rm -f "$data/keep.txt"     # removed while not replicating: an orphan too
expect_rc 0 dtcl_at src -c 'MIRROR START 1 DIFFERENT; WAITONMIRROR 1 60; WAITONQUEUE 1 60'
[ -e "$copy/keep.txt" ] && fail "a file deleted on the source while not replicating survived the mirror"
[ -e "$copy/young.txt" ] && fail "an orphan survived a mirror with orphans deleted"
diff <(tree_digest "$data") <(tree_digest "$copy") || fail "trees differ after the mirror removed orphans"
pass "a mirror removes orphans when the policy says so"

expect_rc 0 dtcl_at src -c 'ORPHANS SET 1 OFF'
echo stray >"$copy/stray.txt"
expect_rc 0 dtcl_at src -c 'MIRROR START 1 DIFFERENT; WAITONMIRROR 1 60; WAITONQUEUE 1 60'
[ -f "$copy/stray.txt" ] || fail "orphans handled although the policy is OFF"
expect_rc 2 dtcl_at src -c 'ORPHANS SET 1 SHRED'
expect_rc 2 dtcl_at src -c 'ORPHANS SET 1 DELETE OLDER 0 DAYS'
pass "policy OFF leaves orphans alone during mirrors; bad arguments refused"
