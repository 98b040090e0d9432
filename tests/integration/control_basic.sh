#!/bin/bash
# One agent, talked to with dtcl over its control socket: STATUS, GET, SET
# (applied, persisted across a restart, refused when invalid), error codes,
# and a control client that sends garbage or a foreign protocol version.
. "$(dirname "$0")/lib.sh"

start_agent alpha

expect_rc 0 dtcl_at alpha -c STATUS
expect_out '^Agent: +alpha$'
expect_out '^Version: +[0-9]+\.[0-9]+\.[0-9]+$'
expect_out '^Uptime: +0d 00:00:[0-9]{2}$'
expect_out '^Your access: +administrator'
pass "STATUS"

expect_rc 0 dtcl_at alpha -c 'GET log.max_files'
expect_out '^log\.max_files = 5$'
expect_rc 0 dtcl_at alpha -c 'get QUEUE.MEMORY'
expect_out '^queue\.memory = 128M$'
expect_rc 0 dtcl_at alpha -c 'GET'
expect_out '^capture\.plugin = fanotify$'
expect_rc 1 dtcl_at alpha -c 'GET no.such_key'
expect_out 'unknown option no\.such_key'
pass "GET"

expect_rc 0 dtcl_at alpha -c 'SET log.max_files=7'
expect_out 'log\.max_files = 7 \(applied\)'
expect_rc 0 dtcl_at alpha -c 'GET log.max_files'
expect_out '= 7$'
grep -q 'max_files' "$(agent_dir alpha)/state/settings.conf" || fail "SET not persisted"
expect_rc 0 dtcl_at alpha -c 'SET queue.memory=256M'
expect_out 'takes effect when dittod restarts'
expect_rc 0 dtcl_at alpha -c 'GET queue.memory'
expect_out '= 128M$'
expect_rc 1 dtcl_at alpha -c 'SET log.max_files=1000'
expect_rc 0 dtcl_at alpha -c 'GET log.max_files'
expect_out '= 7$'
expect_rc 1 dtcl_at alpha -c 'SET queue.memory=1M'
expect_rc 1 dtcl_at alpha -c 'SET nosuch.key=1'
expect_out 'unknown option'
expect_rc 2 dtcl_at alpha -c 'SET log.max_files'
pass "SET applies, persists and refuses bad values"

kill -TERM "$PID_alpha"
wait "$PID_alpha"
start_agent alpha
expect_rc 0 dtcl_at alpha -c 'GET log.max_files'
expect_out '= 7$'
expect_rc 0 dtcl_at alpha -c 'GET queue.memory'
expect_out '= 256M$'
pass "persisted settings survive a restart"

expect_rc 2 dtcl_at alpha -c 'FROBNICATE 1'
expect_out 'unknown command FROBNICATE'
expect_rc 1 dtcl_at alpha -c 'STATUS 42'
expect_out 'no such connection'
expect_rc 1 dtcl_at alpha -c 'GET log.max_files ON otherhost'
expect_rc 0 dtcl_at alpha -c 'GET log.max_files ON alpha'
pass "errors and ON machine"

# A client that is not dtcl: bad magic, then a foreign protocol version.
python3 - "$(agent_sock alpha)" <<'PY' || fail "raw protocol checks"
import socket, struct, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX); s.connect(path)
s.sendall(b"GARBAGE-GARBAGE-GARBAGE")
data = s.recv(4096)
assert data[:4] == b"DTCP", data
status = struct.unpack(">I", data[16:20])[0]
assert status == 3, status          # malformed
assert s.recv(4096) == b""          # and closed
s = socket.socket(socket.AF_UNIX); s.connect(path)
s.sendall(struct.pack(">IHHII", 0x44544350, 99, 1, 0, 1))
data = s.recv(4096)
ver, typ = struct.unpack(">HH", data[4:8])
status, speaks = struct.unpack(">IH", data[16:22])
assert typ == 5 and status == 1 and speaks == 1, (typ, status, speaks)
s = socket.socket(socket.AF_UNIX); s.connect(path)
s.sendall(struct.pack(">IHHII", 0x44544350, 1, 1, 0x7fffffff, 1))
data = s.recv(4096)
assert struct.unpack(">I", data[16:20])[0] == 3
PY
expect_rc 0 dtcl_at alpha -c STATUS
agent_log alpha | grep -q 'Bad frame from control client' || fail "bad frame not logged"
agent_log alpha | grep -q 'protocol version 99' || fail "foreign version not logged"
pass "malformed and foreign-version clients are refused, agent carries on"

agent_log alpha | grep -qE '^[0-9/]{10} [0-9:.]{13} [0-9]+ [0-9]+ [0-9]+ 2 69 Ditto kernel started on alpha$' \
	|| fail "no message 69 in dtlog"
pass "dtlog has message 69"
