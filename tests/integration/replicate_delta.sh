#!/bin/bash
# Real-time changes to big files go as block deltas: a 4 KiB write into a
# 1 GiB file ships one 64 KiB block, an append ships only the new bytes. A
# target copy that is not the one the source's block map describes (the
# file left the set and came back, or someone edited the copy) is caught
# by the delta's guard and sent whole; maps survive a kill -9 of the source.
IT_LIMIT=240
. "$(dirname "$0")/lib.sh"
need_root "fanotify filesystem marks need CAP_SYS_ADMIN"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
outside="$IT_DIR/outside"
copy="$IT_DIR/copy"
mkdir -p "$data" "$outside"
# 1 GiB with 48 MiB of data in three places, the rest holes.
truncate -s 1G "$data/big"
for off in 0 400 1000; do
	head -c 16M /dev/urandom | dd of="$data/big" bs=1M seek="$off" conv=notrunc status=none
done
head -c 4000000 /dev/urandom >"$data/log"

wait_equal() { wait_same src 1 "$data" "$copy" "$1"; }
# Data bytes the source has sent for changed files so far (zeros that end
# an append are not sent: the target reads zeros there anyway).
sent() { dtcl_at src -c 'STATUS 1' | sed -n 's/^Changed files: *[0-9]* sent, \([0-9]*\) bytes.*/\1/p'; }
whole() { dtcl_at src -c 'STATUS 1' | sed -n 's/.*; \([0-9]*\) resent whole.*/\1/p'; }
# write_at FILE OFFSET BYTES: random bytes in place.
write_at() { head -c "$3" /dev/urandom | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

expect_rc 0 dtcl_at src -c "REPSET CREATE d; REPSET RULE ADD \"$data\" INCLUDE TO d; \$c = CONNECT d TO 127.0.0.1:$tport MAP \"$data\" TO \"$copy\" MIRROR DIFFERENT; WAITONQUEUE \$c 120"
wait_equal "mirror differs"
# A first change sends a file whole (the mirror made no map); from then on
# the map is there.
write_at "$data/big" $((400 * 1048576 + 5000)) 10
printf 'first line\n' >>"$data/log"
wait_equal "first changes not replicated"
pass "mirror, then a first change of each file"

s0=$(sent)
write_at "$data/big" $((1000 * 1048576 + 70000)) 4096
wait_equal "4 KiB write not replicated"
d=$(( $(sent) - s0 ))
echo "# 4 KiB write into a 1 GiB file: $d bytes of data sent"
[ "$d" -ge 4096 ] && [ "$d" -le $((2 * 65536)) ] || fail "4 KiB write sent $d bytes"
pass "a 4 KiB write into a 1 GiB file ships about one 64 KiB block"

s0=$(sent)
write_at "$data/big" $((700 * 1048576)) 4096
wait_equal "write into a hole not replicated"
d=$(( $(sent) - s0 ))
[ "$d" -le 65536 ] || fail "4 KiB write into a hole sent $d bytes"
pass "a write into a hole ships the block ($d bytes), the hole around it stays"

s0=$(sent)
for i in $(seq 20); do
	head -c 3000 /dev/urandom >>"$data/log"
	sleep 0.05
done
wait_equal "appends not replicated"
d=$(( $(sent) - s0 ))
echo "# 20 appends of 3000 bytes to a 4 MB log: $d bytes of data sent"
[ "$d" -ge 59000 ] && [ "$d" -le 80000 ] || fail "60,000 bytes appended, $d sent"
pass "appends ship only the new bytes"

# The file leaves the set (removed on the target) and comes back as it
# was: its map still says the target holds it; the guard says otherwise.
w0=$(whole)
mv "$data/log" "$outside/log"
wait_equal "move out not replicated"
mv "$outside/log" "$data/log"
wait_equal "move back in not replicated"
[ "$(whole)" -gt "$w0" ] || fail "no whole resend after the guard failed"
pass "a file that left the set and came back is sent whole"

# Someone edits the target's copy: the next delta is refused and the
# file sent whole, so the edit does not survive.
w0=$(whole)
printf 'EDITED ON THE TARGET' | dd of="$copy/big" bs=1 seek=$((1000 * 1048576 + 70000)) conv=notrunc status=none
write_at "$data/big" 0 100
wait_equal "edited target copy not repaired"
[ "$(whole)" -gt "$w0" ] || fail "no whole resend after an edit on the target"
agent_log tgt | grep -q "is not the copy the source's delta is for" || fail "target did not log the refused delta"
pass "a copy edited on the target is caught and sent whole"

# Maps live in the state directory: after a kill -9, a change made while
# the agent was down is found by the difference remirror and goes as a
# delta too; so do later ones.
kill -KILL "$PID_src"; wait "$PID_src" 2>/dev/null
write_at "$data/big" $((5 * 1048576)) 4096
start_agent src --key-file "$key"
wait_equal "change made while the source was down not replicated"
d=$(sent)
[ "$d" -le $((2 * 65536)) ] || fail "after a restart the remirror sent $d bytes for a 4 KiB change"
s0=$(sent)
write_at "$data/big" $((6 * 1048576)) 4096
wait_equal "write after the restart not replicated"
d2=$(( $(sent) - s0 ))
[ "$d2" -le $((2 * 65536)) ] || fail "after a restart a 4 KiB write sent $d2 bytes"
pass "after a kill -9 of the source deltas go on ($d and $d2 bytes for 4 KiB changes)"

expect_rc 0 dtcl_at src -c 'DISCONNECT 1'
[ -e "$(agent_dir src)/state/blockmaps/1" ] && fail "the connection's maps stayed after DISCONNECT"
pass "DISCONNECT removes the connection's maps"
