#!/bin/bash
# dtstat and the agent's STATISTICS: the guide's per-connection statistics,
# as text, as JSON (checked with python3 against what was written), repeated
# with -i/-n, split by origin (mirror against replication) through the disk
# queue too, compressed against plain, the target's side, the errors (bad
# usage 2, unknown connection and unreachable agent 1), and read-only access
# for a dtmon member (as root).
IT_LIMIT=240
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 missing"

DTSTAT="$DITTO_BUILDDIR/client/dtstat"
key="$IT_DIR/peer.key"
tport=$(free_port)
mkdir -p "$(agent_dir src)"
printf 'agent = { plugin_dir = "%s"; };\nqueue = { memory = "32M"; };\n' "$DITTO_BUILDDIR/plugins/.libs" \
	>"$(agent_dir src)/ditto.conf"
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"
it_on_exit "kill -CONT $PID_tgt"
st() { "$DTSTAT" -s "$(agent_sock src)" "$@"; }

# json FIELD [CON]: one value of the connection's JSON record.
json() {
	st --json ${2:-1} | python3 -c 'import json, sys
r = json.load(sys.stdin)
assert len(r) == 1, r
v = r[0][sys.argv[1]]
print("null" if v is None else v)' "$1"
}

data="$IT_DIR/data"
mkdir -p "$data/sub"
# ~3 MB the mirror sends.
for i in 1 2 3; do head -c 1000000 /dev/urandom >"$data/sub/m$i.bin"; done
msize=3000000
expect_rc 0 dtcl_at src -c "REPSET CREATE docs; REPSET RULE ADD \"$data\" INCLUDE TO docs"
expect_rc 0 dtcl_at src -c "CONNECT docs TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\"; WAITONMIRROR 1 60; WAITONQUEUE 1 60"

expect_rc 0 dtcl_at src -c "STATISTICS"
expect_out $'^Sent \\(Bytes\\)\t[0-9]+$'
expect_out $'^Replication Set\t"docs"$'
expect_out $'^Connected Since\t"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"$'
expect_rc 0 st
expect_out '^Replication Set +docs$'
expect_out '^Connection ID +1$'
expect_out '^Target IP +127\.0\.0\.1$'
expect_out '^Target Data State +OK$'
expect_out '^Target Status +OK$'
expect_out '^Transmit Mode +Started$'
expect_out '^Mirror Status +Idle$'
expect_out '^Replication Status +Ready$'
pass "STATISTICS gives name TAB value records; dtstat shows them as a block"

st --json >"$IT_DIR/s1.json" || fail "dtstat --json failed"
python3 - "$IT_DIR/s1.json" "$msize" "$IT_DIR/base$data" <<'EOF' || fail "JSON after the mirror: see above"
import json, sys
r = json.load(open(sys.argv[1]))
msize = int(sys.argv[2])
assert isinstance(r, list) and len(r) == 1, r
c = r[0]
names = ["Replication Set", "Connection ID", "Target Name", "Target IP", "Target Data State",
         "Target Status", "Transmit Mode", "Mirror Status", "Replication Status", "Queued (Ops)",
         "Sent (Bytes)", "Sent Compressed (Bytes)", "Intermediate Queue (Bytes)", "Disk Queue (Bytes)",
         "Queued Replication (Bytes)", "Sent Replication (Bytes)", "Sent Compressed Replication (Bytes)",
         "Queued Mirror (Ops)", "Sent Mirror (Bytes)", "Sent Compressed Mirror (Bytes)",
         "Skipped Mirror (Bytes)", "Remaining Mirror (Bytes)", "Queued Replication (Ops)",
         "Last File Touched", "Connected Since", "Bandwidth Limit (Bytes/s)", "Send Rate (Bytes/s)",
         "Compression", "Last Acknowledged Op"]
missing = [n for n in names if n not in c]
assert not missing, missing
for n in names:
    if n.endswith("(Bytes)") or n.endswith("(Ops)") or n in ("Connection ID", "Last Acknowledged Op"):
        assert type(c[n]) is int and c[n] >= 0, (n, c[n])
assert c["Connection ID"] == 1 and c["Replication Set"] == "docs", c
assert c["Target Name"] == "127.0.0.1:%s" % c["Target Name"].split(":")[1]
assert c["Queued (Ops)"] == 0 and c["Intermediate Queue (Bytes)"] == 0, c
assert c["Sent Mirror (Bytes)"] >= msize, c
assert c["Sent (Bytes)"] == c["Sent Mirror (Bytes)"] + c["Sent Replication (Bytes)"], c
# No compression: compressed is the same as sent.
assert c["Sent Compressed (Bytes)"] == c["Sent (Bytes)"], c
assert c["Sent Compressed Mirror (Bytes)"] == c["Sent Mirror (Bytes)"], c
assert c["Compression"] == "none" and c["Bandwidth Limit (Bytes/s)"] is None, c
assert c["Last File Touched"].startswith(sys.argv[3]), c
assert c["Connected Since"] is not None
print("# after the mirror: sent %d bytes (mirror %d)" % (c["Sent (Bytes)"], c["Sent Mirror (Bytes)"]))
EOF
pass "JSON: every statistic, numbers as numbers; the mirror's bytes counted as mirror"

# Replication: files written now count as replication, not mirror.
mirror_before=$(json "Sent Mirror (Bytes)")
repl_before=$(json "Sent Replication (Bytes)")
for i in 1 2; do head -c 500000 /dev/urandom >"$data/r$i.bin"; done
wait_same src 1 "$data" "$IT_DIR/base$data" "replicated copy differs"
# A change of content alone: the file is the last path sent (a new name
# is followed by its directory's attributes).
head -c 1000 /dev/urandom >>"$data/sub/m2.bin"
wait_same src 1 "$data" "$IT_DIR/base$data" "replicated copy differs"
[ "$(json "Last File Touched")" = "$IT_DIR/base$data/sub/m2.bin" ] || fail "Last File Touched is $(json "Last File Touched")"
repl=$(json "Sent Replication (Bytes)")
[ "$(json "Sent Mirror (Bytes)")" = "$mirror_before" ] || fail "replication counted as mirror: $mirror_before -> $(json "Sent Mirror (Bytes)")"
[ $((repl - repl_before)) -ge 1001000 ] || fail "Sent Replication (Bytes) grew by $((repl - repl_before)) for 1001000 bytes written"
[ "$(json "Queued (Ops)")" = 0 ] || fail "Queued (Ops) $(json "Queued (Ops)") after WAITONQUEUE"
[ "$(json "Queued Replication (Ops)")" = 0 ] || fail "Queued Replication (Ops) not 0"
pass "replication: Sent Replication grows by what was written, Sent Mirror does not; Last File Touched; queue empty"

# Through the disk queue: the target frozen, 40 MB of changes pass the
# 32 MiB memory queue; a mirror started meanwhile queues its marker to disk
# too. Each op keeps its origin when it comes back from the journal.
mirror_before=$(json "Sent Mirror (Bytes)")
repl_before=$(json "Sent Replication (Bytes)")
kill -STOP "$PID_tgt"
for i in $(seq 40); do head -c 1000000 /dev/urandom >"$data/s$i.bin"; done
for _ in $(seq 100); do
	[ "$(json "Disk Queue (Bytes)")" -gt 0 ] && break
	sleep 0.1
done
[ "$(json "Disk Queue (Bytes)")" -gt 0 ] || fail "nothing went to the disk queue"
[ "$(json "Queued Mirror (Ops)")" = 0 ] || fail "replication queued as mirror: $(json "Queued Mirror (Ops)")"
expect_rc 0 dtcl_at src -c "MIRROR START 1 DIFFERENT"
qm=$(json "Queued Mirror (Ops)"); qr=$(json "Queued Replication (Ops)"); dq=$(json "Disk Queue (Bytes)")
echo "# frozen target: $qr replication and $qm mirror ops queued, $dq bytes on disk"
[ "$qm" -ge 1 ] && [ "$qr" -ge 30 ] || fail "queued mirror $qm, replication $qr ops"
[ "$(json "Replication Status")" = Replicating ] || fail "Replication Status $(json "Replication Status")"
[ "$(json "Target Data State")" = Mirroring ] || fail "Target Data State $(json "Target Data State")"
kill -CONT "$PID_tgt"
expect_rc 0 dtcl_at src -c "WAITONMIRROR 1 120; WAITONQUEUE 1 120"
wait_same src 1 "$data" "$IT_DIR/base$data" "copy differs after the spill"
st --json >"$IT_DIR/s2.json"
python3 - "$IT_DIR/s2.json" "$mirror_before" "$repl_before" <<'EOF' || fail "JSON after the spill: see above"
import json, sys
c = json.load(open(sys.argv[1]))[0]
mb, rb = int(sys.argv[2]), int(sys.argv[3])
dm, dr = c["Sent Mirror (Bytes)"] - mb, c["Sent Replication (Bytes)"] - rb
print("# drained: %d bytes of replication, %d of mirror sent" % (dr, dm))
assert c["Queued (Ops)"] == 0 and c["Disk Queue (Bytes)"] == 0, c
assert c["Queued Mirror (Ops)"] == 0 and c["Queued Replication (Ops)"] == 0, c
# Resends after the link came back may add a little; the 40 MB of data
# are replication, the difference mirror sent next to nothing.
assert dr >= 40000000, dr
assert 0 < dm < 1000000, dm
assert c["Target Data State"] == "OK" and c["Mirror Status"] == "Idle", c
EOF
pass "through the disk queue: replication and the mirror's ops keep their origin"

# Compression: compressible text goes as replication with ZSTD.
expect_rc 0 dtcl_at src -c "COMPRESSION 1 ZSTD"
rs0=$(json "Sent Replication (Bytes)"); rc0=$(json "Sent Compressed Replication (Bytes)")
awk 'BEGIN { for (n = 0; n < 60000; n++) printf "line %07d: replicated text, status=ok, user=u%03d\n", n, n % 97 }' \
	>"$data/text.log"
wait_same src 1 "$data" "$IT_DIR/base$data" "text copy differs"
rs=$(( $(json "Sent Replication (Bytes)") - rs0 )); rc=$(( $(json "Sent Compressed Replication (Bytes)") - rc0 ))
echo "# zstd: $rs bytes of replication took $rc on the wire"
tsize=$(stat -c %s "$data/text.log")
[ "$rs" -ge "$tsize" ] || fail "Sent Replication grew by $rs for $tsize bytes"
[ $((rc * 4)) -lt "$rs" ] || fail "Sent Compressed Replication $rc not < 1/4 of $rs"
[ "$(json Compression)" = "zstd level 3" ] || fail "Compression $(json Compression)"
sent=$(json "Sent (Bytes)"); comp=$(json "Sent Compressed (Bytes)")
[ "$comp" -lt "$sent" ] || fail "Sent Compressed (Bytes) $comp not below Sent (Bytes) $sent"
pass "ZSTD: sent compressed replication well below sent replication"

# Samples: -n alone, -i with -n, and -i until interrupted.
OUT=$(st --json -i 1 -n 3) || fail "dtstat --json -i 1 -n 3 failed"
printf '%s\n' "$OUT" | python3 -c 'import json, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 3, lines
for l in lines:
    r = json.loads(l)
    assert len(r) == 1 and r[0]["Connection ID"] == 1' || fail "3 JSON lines expected: $OUT"
expect_rc 0 st -n 2 1
[ "$(printf '%s\n' "$OUT" | grep -c '^--- sample [12] at ')" = 2 ] || fail "2 text samples expected: $OUT"
"$DTSTAT" -s "$(agent_sock src)" --json -i 1 >"$IT_DIR/forever.json" 2>&1 &
spid=$!
sleep 2.5
kill -INT "$spid"
for _ in $(seq 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$spid" 2>/dev/null && { kill -KILL "$spid"; fail "dtstat -i did not stop on SIGINT"; }
wait "$spid"; rc=$?
[ "$rc" = 0 ] || fail "dtstat -i ended with $rc on SIGINT"
n=$(python3 -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if isinstance(json.loads(l), list)))' "$IT_DIR/forever.json") ||
	fail "bad JSON lines: $(cat "$IT_DIR/forever.json")"
[ "$n" -ge 2 ] && [ "$n" -le 4 ] || fail "$n samples in 2.5 s"
pass "-i 1 -n 3 gives 3 JSON lines, -n 2 two text samples, -i alone runs until SIGINT (exit 0)"

# The target's side.
"$DTSTAT" -s "$(agent_sock tgt)" --target --json >"$IT_DIR/t.json" || fail "dtstat --target failed"
python3 - "$IT_DIR/t.json" "$(json "Last Acknowledged Op")" <<'EOF' || fail "target JSON: see above"
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r) == 1, r
t = r[0]
assert t["Source Name"] == "src" and t["Connection ID"] == 1, t
assert t["Last Applied Op"] == int(sys.argv[2]), (t, sys.argv[2])
assert t["Applied (Ops)"] >= 40 and t["Applied (Bytes)"] >= 43000000, t
assert t["Apply Errors"] == 0 and t["Target Status"] == "OK" and t["Link"] == "Connected", t
EOF
expect_rc 0 "$DTSTAT" -s "$(agent_sock tgt)" --target
expect_out '^Source Name +src$'
expect_rc 0 "$DTSTAT" -s "$(agent_sock tgt)"
expect_out '^No connections\.$'
pass "--target: applied ops and bytes, last applied op equal to the source's last acknowledged"

# Errors.
expect_rc 2 st --bogus
expect_out '^Usage: dtstat'
expect_rc 2 st -i 0
expect_out '-i SECS must be a whole number'
expect_rc 2 st x
expect_out 'x is not a connection ID'
expect_rc 2 st --target 1
expect_rc 1 st 9
expect_out 'STATISTICS 9: no such connection'
expect_rc 1 st 1 9
expect_rc 1 "$DTSTAT" -s "$IT_DIR/nothing.sock"
expect_out 'cannot connect to the agent'
expect_rc 1 dtcl_at src -c "STATISTICS 9"
expect_rc 2 dtcl_at src -c "STATISTICS 1 2"
expect_rc 0 st --version
expect_out '^dtstat '
expect_rc 0 st --help
expect_out '^Usage: dtstat'
pass "bad usage exits 2 with the usage, unknown connection and unreachable agent 1"

# A dtmon member may read statistics (root: users and groups are made).
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null; then
	if ! getent group dtmon >/dev/null; then
		groupadd dtmon || fail "groupadd dtmon"
		it_on_exit "groupdel dtmon"
	fi
	for u in ditto_it_smon ditto_it_snone; do
		userdel -r "$u" >/dev/null 2>&1
		g=; [ "$u" = ditto_it_smon ] && g=dtmon
		useradd -M -s /bin/sh ${g:+-G "$g"} "$u" || fail "useradd $u"
		it_on_exit "userdel $u"
	done
	expect_rc 0 runuser -u ditto_it_smon -- "$DTSTAT" -s "$(agent_sock src)" --json 1
	printf '%s\n' "$OUT" | python3 -c 'import json, sys; assert json.load(sys.stdin)[0]["Connection ID"] == 1' ||
		fail "dtmon member's JSON: $OUT"
	expect_rc 1 runuser -u ditto_it_snone -- "$DTSTAT" -s "$(agent_sock src)"
	expect_out 'access refused'
	pass "a dtmon member reads statistics; others are refused"
else
	pass "dtmon member reads statistics # SKIP needs root and runuser"
fi
