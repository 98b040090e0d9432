#!/bin/bash
# Mirror types between two agents: a full mirror, then differences made on
# both sides. A difference mirror (size/mtime) fixes what changed size or
# time; a checksum mirror compares the blocks of files flagged as different
# and sends just the changed ones; a database-style change (same size, same
# mtime) is only caught by a checksum mirror with mirror.checksum_all; NEWER
# leaves a target copy that is newer alone.
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
mkdir -p "$data/d/sub"
head -c 8388608 /dev/urandom >"$data/db.bin"
head -c 8388608 /dev/urandom >"$data/flag.bin"
head -c 300000 /dev/urandom >"$data/d/grow.bin"
echo "small" >"$data/d/small.txt"
echo "gone soon" >"$data/d/sub/missing.txt"
echo "newer on target" >"$data/d/newer.txt"
printf 'x' | dd of="$data/sparse" bs=1 seek=20000000 conv=notrunc status=none
echo linked >"$data/d/h1"; ln "$data/d/h1" "$data/d/h2"
ln -s small.txt "$data/d/link"
touch -d '2020-01-02 03:04:05.5' "$data/db.bin" "$data/d/newer.txt"
copy="$IT_DIR/base$data"

same_tree() {
	diff <(tree_digest "$1") <(tree_digest "$2") >"$IT_DIR/diff" || { head -40 "$IT_DIR/diff"; fail "$3"; }
}
applied_bytes() { dtcl_at tgt -c STATUS | sed -n 's/.* \([0-9]*\) ops and \([0-9]*\) bytes applied.*/\2/p'; }
mirror() {
	expect_rc 0 dtcl_at src -c "MIRROR START 1 $1; WAITONMIRROR 1 60; WAITONQUEUE 1 60"
}

expect_rc 0 dtcl_at src -c "REPSET CREATE demo; REPSET RULE ADD \"$data\" INCLUDE TO demo"
expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\" NOREPLICATE; WAITONQUEUE \$c 60"
same_tree "$data" "$copy" "full mirror differs"
pass "full mirror on connect"

# Differences on both sides, none of them replicated (NOREPLICATE).
dd if=/dev/urandom of="$data/db.bin" bs=4096 count=1 seek=700 conv=notrunc status=none
touch -d '2020-01-02 03:04:05.5' "$data/db.bin"
head -c 70000 /dev/urandom >>"$copy/d/grow.bin"     # target grew
echo "changed" >"$data/d/small.txt"                  # source changed
rm "$copy/d/sub/missing.txt"                         # gone on the target
echo "the target's own, later edit" >"$copy/d/newer.txt"
touch -d '2030-01-01' "$copy/d/newer.txt"
rm "$copy/d/h2"                                      # link group broken
cmp -s "$data/db.bin" "$copy/db.bin" && fail "test setup: db.bin should differ"
[ "$(stat -c %s.%Y "$data/db.bin")" = "$(stat -c %s.%Y "$copy/db.bin")" ] || fail "test setup: db.bin size/mtime should match"

mirror "DIFFERENT NEWER"
cmp -s "$data/d/grow.bin" "$copy/d/grow.bin" && fail "NEWER replaced a target copy changed after the source's"
cmp -s "$data/d/small.txt" "$copy/d/small.txt" || fail "difference mirror did not send a changed file"
[ -f "$copy/d/sub/missing.txt" ] || fail "difference mirror did not send a missing file"
[ "$(stat -c %i "$copy/d/h1")" = "$(stat -c %i "$copy/d/h2" 2>/dev/null)" ] || fail "difference mirror did not restore the hard link"
grep -q "later edit" "$copy/d/newer.txt" || fail "NEWER replaced a target copy that is newer"
cmp -s "$data/db.bin" "$copy/db.bin" && fail "difference mirror cannot see a same-size same-mtime change"
pass "difference mirror (NEWER): changed and missing files and links fixed; newer target copies kept"

mirror DIFFERENT
cmp -s "$data/d/grow.bin" "$copy/d/grow.bin" || fail "difference mirror did not fix a size change"
grep -q "later edit" "$copy/d/newer.txt" && fail "a difference mirror without NEWER kept a differing target copy"
cmp -s "$data/db.bin" "$copy/db.bin" && fail "difference mirror cannot see a same-size same-mtime change"
pass "difference mirror without NEWER replaces newer target copies"

# A 4 KiB change that moves the mtime: flagged, compared block by block.
dd if=/dev/urandom of="$data/flag.bin" bs=4096 count=1 seek=300 conv=notrunc status=none
touch -d '2021-01-01' "$data/flag.bin"
before=$(applied_bytes)
mirror CHECKSUM
after=$(applied_bytes)
cmp -s "$data/flag.bin" "$copy/flag.bin" || fail "checksum mirror did not fix a flagged file"
cmp -s "$data/db.bin" "$copy/db.bin" && fail "without checksum_all an unflagged file was compared"
sent=$((after - before))
echo "# checksum mirror (flagged files) applied $sent bytes for one changed 4 KiB block"
[ "$sent" -le 262144 ] || fail "checksum mirror sent $sent bytes for one changed block of a flagged file"
pass "checksum mirror compares the blocks of flagged files only and sends the changed block"

expect_rc 0 dtcl_at src -c 'SET mirror.checksum_all=true'
before=$(applied_bytes)
mirror CHECKSUM
after=$(applied_bytes)
cmp -s "$data/db.bin" "$copy/db.bin" || fail "checksum mirror did not fix the same-size same-mtime change"
same_tree "$data" "$copy" "trees differ after the checksum mirror"
sent=$((after - before))
echo "# checksum mirror applied $sent bytes for one changed 4 KiB block"
[ "$sent" -le 262144 ] || fail "checksum mirror sent $sent bytes for one changed block (expected about one 64 KiB block)"
[ "$(stat -c %b "$copy/sparse")" -lt 1000 ] || fail "sparse file lost its hole"
pass "with mirror.checksum_all it catches the database-style change and sends only the changed block"

# A target copy damaged in the middle, with its size and time kept.
dd if=/dev/zero of="$copy/sparse" bs=4096 count=2 seek=100 conv=notrunc status=none
touch -r "$data/sparse" "$copy/sparse"
mirror CHECKSUM
same_tree "$data" "$copy" "checksum mirror did not repair a damaged sparse copy"
[ "$(stat -c %b "$copy/sparse")" -lt 1000 ] || fail "checksum repair filled the hole (blocks $(stat -c %b "$copy/sparse"))"
pass "checksum repair of a hole punches it back instead of writing zeros"

expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Mirror state: +Idle'
expect_out 'Mirror type: +full'
agent_log src | grep -q 'Mirror ended 1 (checksum' || fail "no mirror-ended message for the checksum mirror"
expect_rc 2 dtcl_at src -c 'MIRROR START 1 SIDEWAYS'
expect_rc 1 dtcl_at src -c 'MIRROR PAUSE 1'
expect_out 'no mirror running'
pass "mirror status, messages and argument errors"
