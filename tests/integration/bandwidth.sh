#!/bin/bash
# LIMIT BANDWIDTH: a connection limited to 2 MB/s mirrors ~20 MB of random
# data; the source's own counter of bytes on the wire ("Sent compressed")
# is sampled every second for 8 s and each whole second of the steady state
# must be within 10 % of the limit (the design asks for 5 %; the bound is
# looser so a loaded VM does not fail it; the worst deviation is printed).
# NONE lifts the limit and the rest drains at once; the limit is saved and
# survives a restart of the source agent; bad arguments are refused.
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
mkdir -p "$data"
for i in 1 2 3 4 5; do head -c 4194304 /dev/urandom >"$data/blob$i"; done

# STATUS field of connection 1 (first number on the line)
stat() { dtcl_at src -c "STATUS 1" | sed -n "s/^$1: *\([0-9]*\).*/\1/p"; }
limit_of() { dtcl_at src -c "STATUS 1" | sed -n 's/^Bandwidth limit: *//p'; }

expect_rc 0 dtcl_at src -c "REPSET CREATE bw; REPSET RULE ADD \"$data\" INCLUDE TO bw"
expect_rc 0 dtcl_at src -c "CONNECT bw TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\" NOMIRROR NOREPLICATE"
[ "$(limit_of)" = none ] || fail "default bandwidth limit is '$(limit_of)', not none"

# Clear errors, nothing changed by them.
for bad in 0 -5 abc 10X 1.5M 2T 1000000000001; do
	expect_rc 1 dtcl_at src -c "LIMIT BANDWIDTH 1 $bad"
	expect_out "LIMIT BANDWIDTH: .* is not a rate from 1 to 1000000000000 bytes per second"
done
expect_rc 1 dtcl_at src -c "LIMIT BANDWIDTH 9 1000"
expect_out "no connection 9"
expect_rc 1 dtcl_at src -c "LIMIT BANDWIDTH x 1000"
expect_out "not a connection ID"
expect_rc 2 dtcl_at src -c "LIMIT BANDWIDTH 1"
expect_out "usage: LIMIT BANDWIDTH con_id bytes_per_second.NONE"
expect_rc 2 dtcl_at src -c "LIMIT SPEED 1 1000"
expect_out "usage: LIMIT BANDWIDTH"
[ "$(limit_of)" = none ] || fail "a refused LIMIT changed the limit to '$(limit_of)'"
expect_rc 0 dtcl_at src -c "LIMIT BANDWIDTH 1 10M"
expect_out "Bandwidth limit of connection 1: 10485760 bytes/s"
[ "$(limit_of)" = "10485760 bytes/s" ] || fail "10M gave '$(limit_of)'"
pass "LIMIT BANDWIDTH refuses bad rates, connections and syntax; takes 10M as 10485760"

limit=2000000
expect_rc 0 dtcl_at src -c "LIMIT BANDWIDTH 1 $limit"
[ "$(limit_of)" = "$limit bytes/s" ] || fail "limit is '$(limit_of)'"
w0=$(stat "Sent compressed")
expect_rc 0 dtcl_at src -c "MIRROR START 1 FULL"
# Samples at whole-second boundaries: time (ns) and bytes on the wire.
sleep "0.$(printf '%09d' $((1000000000 - 10#$(date +%N))))"
ts=() ws=()
for i in $(seq 0 8); do
	ts+=("$(date +%s%N)")
	ws+=("$(stat "Sent compressed")")
	now=$(date +%N)
	sleep "0.$(printf '%09d' $((1000000000 - 10#$now)))"
done
send_rate=$(stat "Send rate")
echo "# samples: ${ts[*]} / ${ws[*]}"
# The first second holds the start (bucket full, mirror starting): skip it.
worst=0 line=""
for i in $(seq 2 8); do
	dt=$((ts[i] - ts[i - 1])) db=$((ws[i] - ws[i - 1]))
	rate=$((db * 1000000000 / dt))
	dev=$(((rate - limit) * 10000 / limit)) # 1/100 %
	adev=${dev#-}
	[ "$adev" -gt "${worst#-}" ] && worst=$dev
	line+=" $rate"
	[ "$adev" -le 1000 ] || fail "second $i: $rate bytes/s, more than 10 % from $limit (rates:$line)"
done
total=$((ws[8] - w0))
echo "# per-second wire rates (bytes/s):$line"
aw=${worst#-}; sign=; [ "$worst" -lt 0 ] && sign=-
worst_s="$sign$((aw / 100)).$(printf '%02d' $((aw % 100))) %"
echo "# worst deviation: $worst_s (design: 5 %); STATUS send rate $send_rate"
[ "$total" -lt 20000000 ] || fail "all $total bytes sent in 9 s under a 2 MB/s limit"
[ "$send_rate" -ge $((limit * 8 / 10)) ] && [ "$send_rate" -le $((limit * 12 / 10)) ] ||
	fail "STATUS Send rate $send_rate far from $limit"
pass "2 MB/s held in every second of the steady state (rates:$line; worst $worst_s)"

# NONE: the rest (~4 MB or more) goes at once.
t0=$(date +%s%N)
expect_rc 0 dtcl_at src -c "LIMIT BANDWIDTH 1 NONE"
expect_out "Bandwidth limit of connection 1: none"
expect_rc 0 dtcl_at src -c "WAITONMIRROR 1 60; WAITONQUEUE 1 60"
ms=$((($(date +%s%N) - t0) / 1000000))
left=$(($(stat "Sent compressed") - ws[8]))
echo "# after NONE: $left bytes in $ms ms"
[ "$ms" -lt 1500 ] || fail "after NONE the remaining $left bytes took $ms ms"
wait_same src 1 "$data" "$IT_DIR/base$data" "copy differs after the limited mirror"
[ "$(limit_of)" = none ] || fail "limit is '$(limit_of)' after NONE"
pass "NONE lifts the limit: the remaining $left bytes went in $ms ms; copy equal"

# Saved and restored with the connection.
expect_rc 0 dtcl_at src -c "LIMIT BANDWIDTH 1 512K"
grep -q 'bandwidth_limit = 524288' "$(agent_dir src)/state/connections.conf" ||
	fail "limit not saved in connections.conf"
kill -TERM "$PID_src"; wait "$PID_src" 2>/dev/null
start_agent src --key-file "$key"
[ "$(limit_of)" = "524288 bytes/s" ] || fail "after restart the limit is '$(limit_of)'"
head -c 2097152 /dev/urandom >"$data/blob1"
w0=$(stat "Sent compressed")
t0=$(date +%s%N)
expect_rc 0 dtcl_at src -c "MIRROR START 1 DIFFERENT; WAITONMIRROR 1 60; WAITONQUEUE 1 60"
ms=$((($(date +%s%N) - t0) / 1000000))
sent=$(($(stat "Sent compressed") - w0))
rate=$((sent * 1000 / ms))
echo "# after restart: $sent bytes in $ms ms = $rate bytes/s (limit 524288)"
[ "$sent" -ge 2097152 ] || fail "only $sent bytes sent for a 2 MiB file"
# From a full bucket (1/40 s) a 2 MiB transfer cannot beat 524288 * 1.05.
[ "$rate" -le $((524288 * 105 / 100)) ] || fail "after restart $rate bytes/s exceed the 524288 limit"
wait_same src 1 "$data" "$IT_DIR/base$data" "copy differs after restart"
pass "the limit (512K) survives a restart and holds ($rate bytes/s)"
