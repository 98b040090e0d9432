#!/bin/bash
# Target full, end to end: the target's file system (a small ext4 on a loop
# device) fills up. The target logs message 102 "Target full!" and event
# 4110, holds the op that cannot be written and everything after it, and
# pauses the source at once; the source keeps the ops queued and shows
# "Paused (by the target)" / "Target status: Retrying op N: why" (TSTATUS).
# A target restart while full picks up where it left off: the source
# resends from the last applied op, no remirror. Once space is freed the ops apply in order, the
# target resumes the source and both trees are the same.
IT_LIMIT=180
. "$(dirname "$0")/lib.sh"
need_root "mounting a loop-device file system"
command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null || skip "losetup or mkfs.ext4 missing"

img="$IT_DIR/target.img"
mnt="$IT_DIR/mnt"
mkdir -p "$mnt"
truncate -s 48M "$img"
loop=$(losetup --find --show "$img") || skip "no free loop device"
it_on_exit "losetup -d '$loop'"
# -m 0: no blocks reserved for root, so the (root) agent sees the same
# full disk as the ballast writer.
mkfs.ext4 -q -F -m 0 "$loop" >/dev/null 2>&1 || fail "mkfs.ext4 $loop failed"
mount "$loop" "$mnt" || fail "cannot mount $loop"
# Runs before the losetup -d (last in, first out).
it_on_exit "umount '$mnt' || umount -l '$mnt'"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
mkdir -p "$data/sub"
for i in 1 2 3; do echo "small $i" >"$data/small$i.txt"; done
head -c 100000 /dev/urandom >"$data/sub/seed.bin"
copy="$mnt/base$data"

expect_rc 0 dtcl_at src -c "REPSET CREATE demo; REPSET RULE ADD \"$data\" INCLUDE TO demo"
expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$mnt/base\"; WAITONQUEUE \$c 60"
wait_same src 1 "$data" "$copy" "initial mirror differs"
pass "mirror onto a 48 MiB ext4 on $loop"

# Ballast outside the replicated path, until the file system is full.
dd if=/dev/zero of="$mnt/ballast" bs=1M status=none 2>/dev/null
sync
# Several MB in several files, then a rename and a delete: order matters.
head -c 2000000 /dev/urandom >"$data/f1.bin"
head -c 2000000 /dev/urandom >"$data/f2.bin"
head -c 1500000 /dev/urandom >"$data/sub/f3.bin"
mv "$data/small1.txt" "$data/small1-renamed.txt"
rm "$data/small2.txt"
echo last >"$data/last.txt"

for _ in $(seq 100); do agent_log tgt | grep -q ' 102 Target full!' && break; sleep 0.1; done
agent_log tgt | grep -q ' 102 Target full! Connection 1 from src cannot write .* under '"$mnt/base" ||
	fail "no message 102: $(agent_log tgt | tail -5)"
agent_log tgt | grep ' 4110 ' | grep -q 'will be retried (forever)' || fail "no event 4110"
pass "the target logs 102 Target full! and 4110"

for _ in $(seq 50); do agent_log src | grep -q 'Connection 1 paused by the target' && break; sleep 0.1; done
agent_log src | grep -q 'Connection 1 paused by the target' || fail "the source was not paused: $(agent_log src | tail -5)"
expect_rc 0 dtcl_at src -c "STATUS 1"
expect_out 'Transmit state: +Paused \(by the target\)'
expect_out 'Target status: +Retrying op [0-9]+: .*No space left on device \(target full\)'
agent_log src | grep -q 'Connection 1: the target retries op [0-9]*: .*(target full)' || fail "the source did not log the retry"
queued=$(printf '%s\n' "$OUT" | sed -n 's/^Queued ops: *//p')
[ "${queued:-0}" -gt 0 ] || fail "no ops queued on the source: $OUT"
expect_rc 0 dtcl_at tgt -c STATUS
expect_out 'Target status: Retrying \(source paused\); op [0-9]+: .*\(target full\)'
expect_rc 0 dtcl_at src -c "STATISTICS 1"
expect_out $'^Target Status\t"Retrying"$'
expect_rc 0 dtcl_at tgt -c "STATISTICS TARGET"
expect_out $'^Target Status\t"Retrying \\(source paused\\)"$'
pass "the source is paused by the target and keeps $queued ops queued; STATUS and STATISTICS say Retrying"

# Nothing after the op that cannot be written reaches the copy.
order_kept() {
	[ -e "$copy/sub/f3.bin" ] && fail "f3.bin applied behind the failing op"
	[ -e "$copy/last.txt" ] && fail "last.txt applied behind the failing op"
	[ -e "$copy/small1-renamed.txt" ] && fail "the rename was applied behind the failing op"
	[ -e "$copy/small1.txt" ] && [ -e "$copy/small2.txt" ] || fail "a rename or delete was applied too early"
}
order_kept
pass "nothing after the failing op was applied"

# Restart the target while it holds ops (in memory only).
expect_rc 0 dtcl_at tgt -c STATUS
applied=$(printf '%s\n' "$OUT" | sed -n 's/.*last applied op \([0-9]*\),.*/\1/p')
[ -n "$applied" ] || fail "no last applied op in: $OUT"
# Mirrors the source started, but for those the capture asks for when it
# lost events (other scenarios churn the same /tmp file system).
mirrors() {
	agent_log src | awk '/ 89 Mirror started / && prev !~ /Capture lost events/ { n++ } { prev = $0 } END { print n + 0 }'
}
mirrors_before=$(mirrors)
kill -TERM "$PID_tgt"
wait "$PID_tgt" 2>/dev/null
mv "$(agent_dir tgt)/log" "$(agent_dir tgt)/log.before"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"
for _ in $(seq 150); do
	[ "$(agent_log src | grep -c ' 73 Connected to ip://')" -ge 2 ] && agent_log tgt | grep -q ' 102 Target full!' && break
	sleep 0.1
done
agent_log src | grep ' 73 Connected to ip://' | tail -1 | grep -q "connection 1, target has applied up to op $applied)" ||
	fail "the source did not reconnect at op $applied: $(agent_log src | grep ' 73 ' | tail -2)"
agent_log tgt | grep -q ' 102 Target full!' || fail "the restarted target did not meet the full disk again"
[ "$(mirrors)" -eq "$mirrors_before" ] || fail "a remirror was started after the target restart: $(agent_log src | tail -8)"
for _ in $(seq 50); do
	[ "$(agent_log src | grep -c 'Connection 1 paused by the target')" -ge 2 ] && break
	sleep 0.1
done
expect_rc 0 dtcl_at src -c "STATUS 1"
expect_out 'Transmit state: +Paused \(by the target\)'
expect_out "Target status: +Retrying op $((applied + 1)): "
order_kept
pass "a target restart while full resumes from op $((applied + 1)) without a remirror"

rm -f "$mnt/ballast"
wait_same src 1 "$data" "$copy" "the copy did not catch up once space was freed"
agent_log tgt | grep -q ' 4120 .*completed successfully after [0-9]* retries' || fail "no 4120 event"
agent_log tgt | grep -q 'Connection 1 from src resumed' || fail "the target did not resume the source"
agent_log src | grep -q 'Connection 1 resumed by the target' || fail "the source did not log the resume"
agent_log src | grep -q 'Connection 1: the target writes again' || fail "the source was not told the target writes again"
expect_rc 0 dtcl_at src -c "STATUS 1"
expect_out 'Transmit state: +Started'
expect_out 'Target status: +OK'
expect_out 'Queued ops: +0$'
expect_rc 0 dtcl_at tgt -c STATUS
expect_out 'Target status: OK'
[ "$(mirrors)" -eq "$mirrors_before" ] || fail "a remirror was started: $(agent_log src | tail -8)"
pass "space freed: the held ops apply in order (4120), the source resumes, the trees are the same"
