#!/bin/bash
# Target write failures that may pass are retried, in order: the target's
# file system fills up (a small tmpfs), the op that cannot be written and
# everything after it wait (event 4110, "will be retried"), the copy
# catches up once space is freed (4120); target.retry_limit bounds the
# retries, after which the op is given up (4113) and the rest goes on.
. "$(dirname "$0")/lib.sh"
need_root "mounting a small tmpfs"

key="$IT_DIR/peer.key"
tport=$(free_port)
small="$IT_DIR/small"
mkdir -p "$small"
mount -t tmpfs -o size=4m tmpfs "$small" || skip "cannot mount tmpfs"
it_on_exit "umount -l '$small'"
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
mkdir -p "$data"
echo first >"$data/first.txt"
copy="$small/base$data"
fill() { dd if=/dev/zero of="$small/filler" bs=64k status=none 2>/dev/null; sync; }

expect_rc 0 dtcl_at src -c "REPSET CREATE demo; REPSET RULE ADD \"$data\" INCLUDE TO demo"
expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$small/base\"; WAITONQUEUE \$c 60"
[ -f "$copy/first.txt" ] || fail "initial mirror missing"
pass "mirror onto a small file system"

fill
head -c 1000000 /dev/urandom >"$data/big.bin"
echo after >"$data/after.txt"
for _ in $(seq 100); do agent_log tgt | grep -q ' 4110 ' && break; sleep 0.1; done
agent_log tgt | grep ' 4110 ' | grep -q 'will be retried (forever)' || fail "no 4110 retry event: $(agent_log tgt | tail -5)"
expect_rc 0 dtcl_at tgt -c STATUS
expect_out 'Target status: Retrying \(source paused\); op [0-9]+: .*No space left on device.*\(target full\)'
for _ in $(seq 50); do dtcl_at src -c 'STATUS 1' | grep -q 'Target status: *Retrying op' && break; sleep 0.1; done
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Target status: +Retrying op [0-9]+: .*No space left on device'
[ -e "$copy/after.txt" ] && fail "an op behind the failing one was applied out of order"
pass "a full target file system holds the op and everything after it, retrying"

rm -f "$small/filler"
wait_same src 1 "$data" "$copy" "the copy did not catch up once space was freed"
agent_log tgt | grep -q ' 4120 .*completed successfully after [0-9]* retries' || fail "no 4120 event"
pass "once space is freed the held ops are applied in order (4120)"

expect_rc 0 dtcl_at tgt -c 'SET target.retry_limit=2'
fill
head -c 1000000 /dev/urandom >"$data/big2.bin"
for _ in $(seq 150); do agent_log tgt | grep -q 'no more retries' && break; sleep 0.1; done
agent_log tgt | grep -q ' 4113 .*big2.bin.*no more retries' || fail "retry_limit did not end the retries: $(agent_log tgt | tail -5)"
rm -f "$small/filler"
echo later >"$data/later.txt"
for _ in $(seq 100); do [ -f "$copy/later.txt" ] && break; sleep 0.1; done
[ -f "$copy/later.txt" ] || fail "ops after the given-up one were not applied"
pass "target.retry_limit bounds the retries; the op is given up (4113) and replication goes on"
