#!/bin/bash
# A large tree: 50,000 small files in 500 directories, mirrored on connect
# with a 32 MB memory queue. The copy is exact and verifies in sync, and the
# source agent's memory is bounded by the queue, not by the tree: its peak
# RSS (VmHWM; VmRSS is also sampled every 0.2 s) stays under the queue +
# 32 MiB (long names make a list of the tree cost some 20 MB more), and a
# second full mirror of the same tree peaks less than 6 MiB higher than the
# first (nothing kept per file: 50,000 paths would be 17 MB). The disk
# queue's peak size is printed.
IT_LIMIT=300
. "$(dirname "$0")/lib.sh"

t_start=$(date +%s.%N)
key="$IT_DIR/peer.key"
tport=$(free_port)
for a in src tgt; do
	mkdir -p "$(agent_dir "$a")"
	echo 'queue: { memory = "32M"; };' >"$(agent_dir "$a")/ditto.conf"
done
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"
expect_rc 0 dtcl_at src -c 'GET queue.memory'
expect_out '32M'

# 50,000 files of 0-2 KiB of random data. Long names (paths of about 350
# bytes) make anything kept per file cost MBs: 50,000 paths are 17 MB.
data="$IT_DIR/data"
nfiles=50000
python3 - "$data" "$nfiles" <<'EOF' || fail "test setup: cannot create the tree"
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(11)
blob = os.urandom(1 << 20)
pad = "x" * 200
for i in range(n):
    d = os.path.join(root, "dir%03d_%s" % (i % 500, pad[:100]))
    if i < 500:
        os.makedirs(d)
    size = rnd.randint(0, 2048)
    off = rnd.randint(0, len(blob) - size)
    with open(os.path.join(d, "file%05d_%s" % (i, pad)), "wb") as f:
        f.write(blob[off:off + size])
EOF
[ "$(find "$data" -type f | wc -l)" = "$nfiles" ] || fail "test setup: tree not created"
total=$(find "$data" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
copy="$IT_DIR/base$data"
echo "# tree: $nfiles files, $total bytes, made in $(echo "$(date +%s.%N) - $t_start" | bc) s"

rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status" 2>/dev/null; }
# The kernel's high-water mark of the RSS, which sampling can miss when a
# mirror is quick; it is updated lazily, so the peak is the larger of it
# and the samples.
hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status" 2>/dev/null; }
max() { [ "$1" -gt "$2" ] && echo "$1" || echo "$2"; }
idle_src=$(rss "$PID_src")
idle_tgt=$(rss "$PID_tgt")
[ -n "$idle_src" ] && [ -n "$idle_tgt" ] || fail "cannot read the agents' VmRSS"
# sample_start FILE / sample_stop: every 0.2 s, the source's and the
# target's RSS (kB) and the size of the source's disk queue (bytes).
sample_start() {
	(
		while :; do
			echo "$(rss "$PID_src") $(rss "$PID_tgt") $(du -sb "$(agent_dir src)/state/queue" 2>/dev/null | cut -f1)"
			sleep 0.2
		done
	) >"$1" &
	sampler=$!
	IT_PIDS+=("$sampler")
}
sample_stop() {
	kill "$sampler"
	wait "$sampler" 2>/dev/null
}
# peaks FILE: "source-peak target-peak disk-queue-peak samples"
peaks() {
	awk 'NF >= 2 { if ($1 > a) a = $1; if ($2 > b) b = $2; if ($3 > c) c = $3; n++ }
		END { print a + 0, b + 0, c + 0, n + 0 }' "$1"
}

# What a copy must preserve (like tree_digest, which would take minutes
# here): the metadata listing (directory sizes are the file system's own),
# then the contents with diff -r.
listing() {
	(cd "$1" && find . -mindepth 1 -printf '%P|%y|%m|%U|%G|%s|%l|%T@|%n\n' |
		awk -F'|' -v OFS='|' '$2 == "d" { $6 = "-" } { print }' | sort)
}
same_tree() {
	{ diff <(listing "$1") <(listing "$2") && diff -r "$1" "$2"; } >"$IT_DIR/diff" 2>&1 ||
		{ head -40 "$IT_DIR/diff" | sed 's/^/# /'; fail "$3"; }
}

expect_rc 0 dtcl_at src -c "REPSET CREATE big; REPSET RULE ADD \"$data\" INCLUDE TO big"
sample_start "$IT_DIR/rss1"
t0=$(date +%s.%N)
expect_rc 0 dtcl_at src -c "\$c = CONNECT big TO 127.0.0.1:$tport MAP BASE \"$IT_DIR/base\" NOREPLICATE; WAITONQUEUE \$c 240"
t1=$(date +%s.%N)
sample_stop
echo "# mirror on connect took $(echo "$t1 - $t0" | bc) s"
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Mirror state: +Idle'
expect_out "Mirrored: +501 dirs, $nfiles files, $total bytes, 0 skipped"
expect_out 'Queued bytes: +0$'
agent_log src | grep -q 'Mirror ended 1' || fail "no mirror-ended message"
same_tree "$data" "$copy" "the copy differs from the source"
pass "50,000 files mirrored on connect; the copy is exact (metadata and contents)"

read -r sampled_src sampled_tgt peak_disk n1 < <(peaks "$IT_DIR/rss1")
peak_src=$(max "$(hwm "$PID_src")" "$sampled_src")
peak_tgt=$(max "$(hwm "$PID_tgt")" "$sampled_tgt")
echo "# source RSS: idle $idle_src kB, peak $peak_src kB (sampled $sampled_src); target RSS: idle $idle_tgt kB, peak $peak_tgt kB (sampled $sampled_tgt); source disk queue peak $peak_disk bytes ($n1 samples)"
[ "$n1" -ge 1 ] && [ "$peak_src" -gt 0 ] && [ "$peak_tgt" -gt 0 ] || fail "no RSS figures"
[ "$peak_src" -lt $(((32 + 32) * 1024)) ] || fail "source peak RSS $peak_src kB exceeds the 32M queue + 32 MiB"
[ "$peak_tgt" -lt $((32 * 1024)) ] || fail "target peak RSS $peak_tgt kB exceeds 32 MiB"
pass "memory bounded: source peak $((peak_src / 1024)) MiB with a 32 MiB queue, target $((peak_tgt / 1024)) MiB"

# The same tree again: anything the first mirror kept per file would now
# be there twice.
sample_start "$IT_DIR/rss2"
t0=$(date +%s.%N)
expect_rc 0 dtcl_at src -c 'MIRROR START 1 FULL; WAITONMIRROR 1 240; WAITONQUEUE 1 240'
t1=$(date +%s.%N)
sample_stop
echo "# second full mirror took $(echo "$t1 - $t0" | bc) s"
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out "Mirrored: +501 dirs, $nfiles files, $total bytes, 0 skipped"
read -r sampled2_src sampled2_tgt peak2_disk n2 < <(peaks "$IT_DIR/rss2")
peak2_src=$(max "$(hwm "$PID_src")" "$sampled2_src")
echo "# second mirror: source RSS peak $peak2_src kB (sampled $sampled2_src), target (sampled) $sampled2_tgt kB, disk queue peak $peak2_disk bytes ($n2 samples)"
[ $((peak2_src - peak_src)) -lt 6144 ] ||
	fail "source RSS peaked $((peak2_src - peak_src)) kB higher in the second mirror of the same tree"
pass "a second full mirror of the same 50,000 files peaks no higher (+$((peak2_src - peak_src)) kB, under 6 MiB)"

expect_rc 0 dtcl_at src -c 'VERIFY 1'
expect_out 'in sync'
echo "# $(printf '%s' "$OUT" | tail -1)"
pass "a metadata verification of the 50,000 files is in sync"
echo "# scenario took $(echo "$(date +%s.%N) - $t_start" | bc) s"
