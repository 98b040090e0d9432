#!/bin/bash
# Two agents on this host: a replication set connected to the other agent
# with MAP BASE and with MAP "src" TO "dst"; the full mirror on connect makes
# the target tree equal to the source in content, type, mode, owner, times,
# link targets and hard-link groups. A peer with the wrong key and a peer
# that sends garbage are refused and write nothing.
. "$(dirname "$0")/lib.sh"

key="$IT_DIR/peer.key"
tport=$(free_port)
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
mkdir -p "$data/dir/sub" "$data/empty"
echo hello >"$data/hello.txt"
head -c 3000000 /dev/urandom >"$data/dir/big.bin"
printf 'x' | dd of="$data/sparse" bs=1 seek=50000000 conv=notrunc status=none
ln -s hello.txt "$data/link-rel"
ln -s /nonexistent/target "$data/dangling"
echo shared >"$data/dir/h1"; ln "$data/dir/h1" "$data/dir/h2"; ln "$data/dir/h1" "$data/h3"
mkfifo "$data/fifo"
printf 'odd' >"$data/$(printf 'odd \001\377 name')"
chmod 0640 "$data/hello.txt"; chmod 0700 "$data/dir/sub"
chown 1234:5678 "$data/dir/big.bin" 2>/dev/null || true
setfattr -n user.note -v "kept" "$data/hello.txt" 2>/dev/null || true
touch -d '2001-02-03 04:05:06.123456789' "$data/dir/sub" "$data/hello.txt"

same_tree() {
	diff <(tree_digest "$1") <(tree_digest "$2") >"$IT_DIR/diff" || { cat "$IT_DIR/diff"; fail "$3"; }
}

expect_rc 0 dtcl_at src -c "REPSET CREATE demo; REPSET RULE ADD \"$data\" INCLUDE TO demo"
expect_rc 0 dtcl_at src -c 'REPSET DISPLAY demo'
expect_out "$data"
pass "replication set created"

expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\"; WRITE \"con\", \$c; WAITONQUEUE \$c 60"
expect_out '^con 1$'
same_tree "$data" "$IT_DIR/base$data" "MAP BASE copy differs"
[ "$(stat -c %b "$IT_DIR/base$data/sparse")" -lt 1000 ] || fail "sparse file lost its hole"
if getfattr -n user.note "$data/hello.txt" >/dev/null 2>&1; then
	[ "$(getfattr --only-values -n user.note "$IT_DIR/base$data/hello.txt")" = kept ] || fail "xattr not mirrored"
fi
pass "full mirror with MAP BASE gives an identical tree"

expect_rc 0 dtcl_at src -c "\$c = CONNECT demo TO 127.0.0.1:$tport MAP \"$data\" TO \"$IT_DIR/pairs/copy\"; WAITONQUEUE \$c 60"
same_tree "$data" "$IT_DIR/pairs/copy" "MAP pairs copy differs"
expect_rc 0 dtcl_at src -c 'STATUS 2'
expect_out 'Mirror state: +Idle'
expect_out 'Queued ops: +0$'
expect_rc 0 dtcl_at tgt -c 'STATUS'
expect_out 'Target of src connection 2: connected'
pass "full mirror with MAP src TO dst gives an identical tree"

expect_rc 1 dtcl_at src -c "CONNECT demo TO 127.0.0.1:$tport MAP EXACT"
expect_out 'replication loop'
expect_rc 1 dtcl_at src -c "CONNECT demo TO 127.0.0.1:$tport MAP BASE \"$data/inner\""
expect_out 'replication loop'
expect_rc 0 dtcl_at tgt -c "REPSET CREATE guarded; REPSET RULE ADD \"$IT_DIR/guarded\" INCLUDE TO guarded"
expect_rc 0 dtcl_at src -c "CONNECT demo TO 127.0.0.1:$tport MAP \"$data\" TO \"$IT_DIR/guarded/x\""
for _ in $(seq 50); do dtcl_at src -c 'STATUS 3' | grep -q 'replication loop' && break; sleep 0.1; done
expect_rc 0 dtcl_at src -c 'STATUS 3'
expect_out 'Transmit state: +Error'
expect_out 'target refused: .*inside replication set guarded on tgt'
[ -e "$IT_DIR/guarded/x" ] && fail "the target applied into its own replication set"
expect_rc 0 dtcl_at src -c 'DISCONNECT 3'
pass "loop guard: a target path inside a replication set is refused on both sides"

expect_rc 0 dtcl_at src -c 'CONNECTIONS'
expect_out '^1  demo -> 127.0.0.1'
expect_rc 0 dtcl_at src -c 'DISCONNECT 1'
expect_rc 1 dtcl_at src -c 'STATUS 1'
expect_rc 1 dtcl_at src -c 'REPSET DELETE demo'
expect_out 'DISCONNECT it first'
pass "connections listed, disconnected, and a connected set is kept"

# A rogue agent with another key: the handshake fails, nothing is written.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$IT_DIR/rogue.key"; chmod 600 "$IT_DIR/rogue.key"
start_agent rogue --key-file "$IT_DIR/rogue.key"
expect_rc 0 dtcl_at rogue -c "REPSET CREATE r; REPSET RULE ADD \"$data\" INCLUDE TO r; CONNECT r TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/rogue-copy\""
for _ in $(seq 50); do agent_log tgt | grep -q 'handshake with .* failed' && break; sleep 0.1; done
agent_log tgt | grep -q 'handshake with .* failed' || fail "target did not log the failed handshake"
expect_rc 1 dtcl_at rogue -c 'WAITONQUEUE 1 2'
[ -e "$IT_DIR/rogue-copy" ] && fail "a peer with the wrong key wrote to the target"
pass "a peer failing the key challenge is refused and writes nothing"

python3 - "$tport" <<'PY' || fail "garbage peer"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x00" * 64 + b"GET / HTTP/1.0\r\n\r\n")
s.settimeout(5)
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d: break
        data += d
except socket.timeout:
    sys.exit("target kept a garbage connection open")
PY
expect_rc 0 dtcl_at tgt -c STATUS
agent_log tgt | grep -q 'malformed frame from' || fail "garbage not logged"
pass "a peer sending garbage is cut off and the target carries on"
