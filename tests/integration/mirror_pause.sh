#!/bin/bash
# Mirror pause, resume and stop. A paused mirror keeps its place: the walk
# stops (nothing more is queued, the target stops applying once the queue
# drains, the copy stays partial) and STATUS shows Paused with the percent
# done and the bytes remaining (CALCULATE). RESUME continues from the place
# instead of starting over, so the target applies about one copy of the data
# even after a pause a third of the way in. STOP forgets the place; a later
# difference mirror completes the copy. PAUSE/RESUME without a mirror fail.
IT_LIMIT=240
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
# A small memory queue keeps little data ahead of the walk, so a pause is
# seen on the target quickly.
mkdir -p "$(agent_dir src)"
echo 'queue: { memory = "32M"; };' >"$(agent_dir src)/ditto.conf"
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

# About 320 MB in 2,000 files of 64-256 KiB of random data: a mirror over
# loopback takes a few seconds, long enough to pause it a third of the way.
data="$IT_DIR/data"
nfiles=2000
python3 - "$data" "$nfiles" <<'EOF' || fail "test setup: cannot create the tree"
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 20))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        f.write(os.urandom(rnd.randint(64 * 1024, 256 * 1024)))
EOF
total=$(find "$data" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
copy="$IT_DIR/base$data"
echo "# tree: $nfiles files, $total bytes"

# What a copy must preserve, like tree_digest but without a process per file:
# the metadata listing (directory sizes are the file system's own), then the
# contents with diff -r.
listing() {
	(cd "$1" && find . -mindepth 1 -printf '%P|%y|%m|%U|%G|%s|%l|%T@|%n\n' |
		awk -F'|' -v OFS='|' '$2 == "d" { $6 = "-" } { print }' | sort)
}
same_tree() {
	{ diff <(listing "$1") <(listing "$2") && diff -r "$1" "$2"; } >"$IT_DIR/diff" 2>&1 ||
		{ head -40 "$IT_DIR/diff" | sed 's/^/# /'; fail "$3"; }
}
applied_bytes() { dtcl_at tgt -c STATUS | sed -n 's/.* \([0-9]*\) ops and \([0-9]*\) bytes applied.*/\2/p'; }
status_field() { dtcl_at src -c 'STATUS 1' | sed -n "s/^$1: *//p"; }
mirrored_files() { status_field Mirrored | sed -n 's/.* dirs, \([0-9]*\) files,.*/\1/p'; }
percent() { status_field 'Mirror percent' | tr -d '%'; }
copy_files() { find "$copy" -type f 2>/dev/null | wc -l; }
# Waits (bounded) until everything queued is acknowledged: WAITONQUEUE does
# not return while a paused mirror still has its walk.
drain() {
	for _ in $(seq 300); do
		[ "$(status_field 'Queued bytes')" = 0 ] && return 0
		sleep 0.1
	done
	fail "queue did not drain while $1: $(dtcl_at src -c 'STATUS 1')"
}
# While paused: the walk does not advance and the target applies nothing
# more; the copy is partial. $1 says which pause.
check_paused() {
	local m1 m2 a1 a2
	drain "$1"
	a1=$(applied_bytes)
	m1=$(mirrored_files)
	sleep 1
	m2=$(mirrored_files)
	sleep 1
	a2=$(applied_bytes)
	[ -n "$m1" ] && [ -n "$a1" ] || fail "no counters in STATUS"
	[ "$m1" = "$m2" ] || fail "walk advanced while $1: $m1 then $m2 files mirrored"
	[ "$a1" = "$a2" ] || fail "target applied more while $1: $a1 then $a2 bytes"
	[ "$m1" -lt "$nfiles" ] || fail "walk done although $1 ($m1 files mirrored)"
	[ "$a1" -lt "$total" ] || fail "target has every byte although $1 ($a1 of $total)"
	[ "$(copy_files)" -lt "$nfiles" ] || fail "target copy complete although $1"
	expect_rc 0 dtcl_at src -c 'STATUS 1'
	expect_out 'Mirror state: +Paused'
	PAUSED_APPLIED=$a1
	echo "# $1: $m1 files walked, $a1 bytes applied, $(copy_files) files on the target"
}

expect_rc 0 dtcl_at src -c "REPSET CREATE demo; REPSET RULE ADD \"$data\" INCLUDE TO demo"
expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\" NOMIRROR NOREPLICATE"
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Mirror state: +Idle'
expect_rc 1 dtcl_at src -c 'MIRROR PAUSE 1'
expect_out 'no mirror running'
expect_rc 1 dtcl_at src -c 'MIRROR RESUME 1'
expect_out 'no mirror running'
expect_rc 1 dtcl_at src -c 'MIRROR PAUSE 9'
pass "PAUSE and RESUME without a mirror exit 1"

t0=$(date +%s.%N)
expect_rc 0 dtcl_at src -c 'MIRROR START 1 FULL CALCULATE; MIRROR PAUSE 1'
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Mirror state: +Paused'
pct=$(percent)
rem=$(status_field 'Mirror remaining' | sed -n 's/^\([0-9]*\) bytes$/\1/p')
[ -n "$pct" ] && [ -n "$rem" ] || fail "no percent or remaining in STATUS: $OUT"
[ "$pct" -lt 100 ] && [ "$rem" -gt 0 ] && [ "$rem" -le "$total" ] ||
	fail "paused at once, yet $pct% done and $rem of $total bytes remaining"
echo "# paused at once: $pct%, $rem bytes remaining"
check_paused "paused at once"
pass "a mirror paused at once: Paused with percent and remaining; walk and target stand still; copy partial"

expect_rc 0 dtcl_at src -c 'MIRROR RESUME 1'
expect_out 'resumed'
# Pause again once a third of the data or more is walked, so a resume that
# started over would send that much again. (A third, not a half: the poll
# must not overshoot to the end on a slow machine.)
pct=0
for _ in $(seq 2000); do
	pct=$(percent)
	[ -n "$pct" ] || fail "mirror ended before it could be paused again: $(dtcl_at src -c 'STATUS 1')"
	[ "$pct" -ge 33 ] && break
	sleep 0.01
done
expect_rc 0 dtcl_at src -c 'MIRROR PAUSE 1'
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Mirror state: +Paused'
pct=$(percent)
[ -n "$pct" ] && [ "$pct" -ge 33 ] && [ "$pct" -lt 100 ] || fail "paused at '$pct'%, wanted 33..99"
check_paused "paused at $pct%"
[ "$PAUSED_APPLIED" -ge $((total * 3 / 10)) ] ||
	fail "test setup: only $PAUSED_APPLIED of $total bytes applied at the second pause"
pass "paused again at $pct%: walk and target stand still"

expect_rc 0 dtcl_at src -c 'MIRROR RESUME 1; WAITONMIRROR 1 120; WAITONQUEUE 1 120'
t1=$(date +%s.%N)
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Mirror state: +Idle'
expect_out "Mirrored: +[0-9]+ dirs, $nfiles files, $total bytes, 0 skipped"
applied=$(applied_bytes)
same_tree "$data" "$copy" "trees differ after the resumed mirror"
echo "# resumed mirror done; applied $applied bytes for $total bytes of data; $(echo "$t1 - $t0" | bc) s with pauses"
[ "$applied" -ge "$total" ] || fail "target applied $applied bytes, less than the $total of data"
# Starting over would send again what was applied by the pause (30% or
# more of the data).
[ "$applied" -lt $((total * 13 / 10)) ] && [ "$applied" -lt $((total + PAUSED_APPLIED / 2)) ] ||
	fail "target applied $applied bytes for $total of data ($PAUSED_APPLIED by the pause): the resumed mirror started over"
agent_log src | grep -q 'Mirror paused 1' && agent_log src | grep -q 'Mirror resumed 1' &&
	agent_log src | grep -q 'Mirror ended 1' || fail "paused/resumed/ended messages missing from the log"
pass "resumed mirror continues from its place: trees equal, one copy of the data applied"

# Damage the copy (half the directories gone) and change three source files
# whose copies stay, then start a full mirror and stop it at once.
rm -rf "$copy"/d0[0-9]
for i in 13 14 15; do head -c 1000 /dev/urandom >>"$data/d$i/f000$i.bin"; done
expect_rc 0 dtcl_at src -c 'MIRROR START 1 FULL; MIRROR STOP 1'
expect_out 'stopped'
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Mirror state: +Stopped'
expect_rc 0 dtcl_at src -c 'WAITONMIRROR 1 5; WAITONQUEUE 1 60'
m1=$(mirrored_files)
sleep 1
m2=$(mirrored_files)
[ "$m1" = "$m2" ] || fail "walk advanced after STOP: $m1 then $m2 files"
expect_rc 1 dtcl_at src -c 'MIRROR RESUME 1'
expect_out 'no mirror running'
[ "$(copy_files)" -lt "$nfiles" ] || fail "a stopped mirror went on and completed the copy"
pass "a stopped mirror says Stopped, walks no further and cannot be resumed"

expect_rc 0 dtcl_at src -c 'MIRROR START 1 DIFFERENT; WAITONMIRROR 1 120; WAITONQUEUE 1 120'
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Mirror state: +Idle'
same_tree "$data" "$copy" "trees differ after the difference mirror"
pass "a later difference mirror completes the copy"
