#!/bin/bash
# Compression per target address: two connections of one source to the same
# target, one with ~20 MB of compressible text, one with random data. With
# ZSTD and LZ4 the text goes over the wire clearly smaller (STATUS: "Sent
# compressed" against "Sent bytes"), random data goes plain (no growth); the
# copies are equal every time. Setting it on one connection sets it on the
# other, a later CONNECT to that address takes it over, NONE sends plain, and
# the setting survives a restart of the source agent.
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

txt="$IT_DIR/txt"
rnd="$IT_DIR/rnd"
mkdir -p "$txt/logs" "$rnd"
# Text like logs: ~20 MB in 4 files, compressible several times over.
make_text() {
	local tag=$1 i
	for i in 1 2 3 4; do
		awk -v t="$tag" -v f="$i" 'BEGIN { for (n = 0; n < 80000; n++)
			printf "%s file %d line %07d: replicated text, status=ok, user=u%03d, bytes=%d\n", t, f, n, n % 97, n * 7 }' \
			>"$txt/logs/app$i.log"
	done
}
make_text first
head -c 4194304 /dev/urandom >"$rnd/blob1"
head -c 1048576 /dev/urandom >"$rnd/blob2"
tsize=$(find "$txt" -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }")
[ "$tsize" -ge 20000000 ] || fail "test setup: only $tsize bytes of text"

# STATUS value of a connection: stat CON "Sent bytes"
stat() { dtcl_at src -c "STATUS $1" | sed -n "s/^$2: *\([0-9]*\).*/\1/p"; }
comp_of() { dtcl_at src -c "STATUS $1" | sed -n 's/^Compression: *//p'; }
mirror() { expect_rc 0 dtcl_at src -c "MIRROR START $1 FULL; WAITONMIRROR $1 120; WAITONQUEUE $1 120"; }

expect_rc 0 dtcl_at src -c "REPSET CREATE txt; REPSET RULE ADD \"$txt\" INCLUDE TO txt; REPSET CREATE rnd; REPSET RULE ADD \"$rnd\" INCLUDE TO rnd"
expect_rc 0 dtcl_at src -c "CONNECT txt TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\" NOMIRROR NOREPLICATE"
[ "$(comp_of 1)" = none ] || fail "default compression is $(comp_of 1), not none"

# Clear errors.
expect_rc 1 dtcl_at src -c "COMPRESSION 1 GZIP"
expect_out "unknown method GZIP"
expect_rc 1 dtcl_at src -c "COMPRESSION 1 ZSTD 20"
expect_out "level 20 is not a number from 1 to 19"
expect_rc 1 dtcl_at src -c "COMPRESSION 1 ZSTD 0"
expect_out "from 1 to 19"
expect_rc 1 dtcl_at src -c "COMPRESSION 1 LZ4 3"
expect_out "only ZSTD takes a level"
expect_rc 1 dtcl_at src -c "COMPRESSION 9 LZ4"
expect_out "no connection 9"
expect_rc 1 dtcl_at src -c "COMPRESSION x LZ4"
expect_out "not a connection ID"
[ "$(comp_of 1)" = none ] || fail "a refused COMPRESSION changed the setting"
pass "COMPRESSION refuses bad methods, levels and connections"

expect_rc 0 dtcl_at src -c "COMPRESSION 1 ZSTD"
expect_out "Compression zstd level 3 for target 127.0.0.1:$tport"
# A connection made later to the same address takes the setting over.
expect_rc 0 dtcl_at src -c "CONNECT rnd TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\" NOMIRROR NOREPLICATE"
[ "$(comp_of 2)" = "zstd level 3" ] || fail "second connection to the same target has compression '$(comp_of 2)'"
pass "a new connection to the same target address takes its compression (zstd level 3)"

mirror 1
mirror 2
wait_same src 1 "$txt" "$IT_DIR/base$txt" "text copy differs (zstd)"
wait_same src 2 "$rnd" "$IT_DIR/base$rnd" "random copy differs (zstd)"
s1=$(stat 1 "Sent bytes"); w1=$(stat 1 "Sent compressed")
s2=$(stat 2 "Sent bytes"); w2=$(stat 2 "Sent compressed")
echo "# zstd: text $s1 -> $w1 bytes on the wire; random $s2 -> $w2"
[ "$s1" -ge "$tsize" ] || fail "text connection sent only $s1 bytes"
[ $((w1 * 4)) -lt "$s1" ] || fail "zstd: text sent $s1 bytes took $w1 on the wire (not < 1/4)"
[ "$w2" -ge $((s2 * 95 / 100)) ] && [ "$w2" -le $((s2 + s2 / 50 + 4096)) ] ||
	fail "zstd: random data $s2 bytes took $w2 on the wire"
pass "zstd: copies equal; text ${s1} -> ${w1} bytes on the wire, random data sent plain"

# LZ4, set through the other connection: both get it.
expect_rc 0 dtcl_at src -c "COMPRESSION 2 LZ4"
expect_out "connections 1, 2"
[ "$(comp_of 1)" = lz4 ] || fail "COMPRESSION on connection 2 did not reach connection 1: $(comp_of 1)"
make_text second
head -c 1048576 /dev/urandom >"$rnd/blob2"
mirror 1
mirror 2
wait_same src 1 "$txt" "$IT_DIR/base$txt" "text copy differs (lz4)"
wait_same src 2 "$rnd" "$IT_DIR/base$rnd" "random copy differs (lz4)"
ds=$(($(stat 1 "Sent bytes") - s1)); dw=$(($(stat 1 "Sent compressed") - w1))
echo "# lz4: text $ds -> $dw bytes on the wire"
[ "$ds" -ge "$tsize" ] || fail "lz4 mirror sent only $ds bytes"
[ $((dw * 2)) -lt "$ds" ] || fail "lz4: text sent $ds bytes took $dw on the wire (not < 1/2)"
pass "lz4 (set on the other connection, applies to both): copies equal; text $ds -> $dw bytes"

# NONE: plain frames, a little framing overhead only.
expect_rc 0 dtcl_at src -c "COMPRESSION 1 NONE"
[ "$(comp_of 2)" = none ] || fail "NONE did not reach connection 2"
s1=$(stat 1 "Sent bytes"); w1=$(stat 1 "Sent compressed")
make_text third
mirror 1
wait_same src 1 "$txt" "$IT_DIR/base$txt" "text copy differs (none)"
ds=$(($(stat 1 "Sent bytes") - s1)); dw=$(($(stat 1 "Sent compressed") - w1))
echo "# none: text $ds -> $dw bytes on the wire"
[ "$dw" -ge "$ds" ] || fail "NONE: $ds bytes took only $dw on the wire"
pass "none: copies equal, sent plain ($ds -> $dw bytes)"

# The setting survives a restart of the source agent.
expect_rc 0 dtcl_at src -c "COMPRESSION 1 ZSTD 9"
grep -q 'compression = "zstd"' "$(agent_dir src)/state/connections.conf" ||
	fail "compression not saved in connections.conf"
kill -TERM "$PID_src"; wait "$PID_src" 2>/dev/null
start_agent src --key-file "$key"
[ "$(comp_of 1)" = "zstd level 9" ] || fail "after restart connection 1 has '$(comp_of 1)'"
[ "$(comp_of 2)" = "zstd level 9" ] || fail "after restart connection 2 has '$(comp_of 2)'"
make_text fourth
s1=$(stat 1 "Sent bytes"); w1=$(stat 1 "Sent compressed")
mirror 1
wait_same src 1 "$txt" "$IT_DIR/base$txt" "text copy differs (zstd 9 after restart)"
ds=$(($(stat 1 "Sent bytes") - s1)); dw=$(($(stat 1 "Sent compressed") - w1))
echo "# zstd 9 after restart: text $ds -> $dw bytes on the wire"
[ $((dw * 4)) -lt "$ds" ] || fail "zstd 9 after restart: $ds bytes took $dw on the wire"
pass "the setting (zstd level 9) survives a restart and is used"
