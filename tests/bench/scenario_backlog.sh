#!/bin/bash
# Backlog: transmission is paused (TRANSMIT PAUSE) while BACKLOG_MB MB are
# written under the replicated directory, so the source queues them (memory
# up to queue.memory, the rest in xlog files), then resumed; how fast does
# the source drain its queue, and how much memory do the agents take
# meanwhile? Drain time runs from TRANSMIT RESUME until a marker file
# written after the backlog is on the target (ops are applied in order, so
# everything before it is there too). Reference figures:
#   unthrottled - the same amount written with the target connected, until
#                 the marker is on the target (rate the design compares the
#                 drain with: >= 90 %);
#   rsync       - catching up the same files with rsync -a to an rsync
#                 daemon, the peer's way to bring a target back.
# T_wall/T_cpu are set by timed() (lib.sh).
# shellcheck disable=SC2154
. "$(dirname "$0")/lib.sh"

avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
mb=$BACKLOG_MB
# The data, the source's queue files and the copy each hold the backlog, and
# the page cache helps all of them: stay well inside what the machine has.
if [ "$mb" -gt $((avail_mb / 4)) ]; then
	mb=$((avail_mb / 4))
	bench_note "backlog capped at $mb MB (a quarter of MemAvailable) instead of $BACKLOG_MB MB"
fi
qmem=
qmem_mib=
DRAIN_RATE=0
bench_param title "backlog: transmission paused while ${mb} MB are written, then resumed"
bench_param data "${mb} MB as 8 MiB files, written and closed one by one as fast as possible"
bench_param runs "$BACKLOG_RUNS"

data="$SC_DIR/data"
copy="$SC_DIR/copy"

marker_wait() { # PATH SECONDS -> prints time.time() when PATH exists
	"$PY" - "$1" "$2" <<'PY'
import os, sys, time
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    if os.path.exists(sys.argv[1]):
        print("%.6f" % time.time())
        sys.exit(0)
    time.sleep(0.005)
sys.exit(1)
PY
}

setup() {
	rm -rf "$data" "$copy"
	mkdir -p "$data"
	echo ready >"$data/README"
	start_agent src source
	start_agent tgt target
	dtcl_at src -c "REPSET CREATE bl; REPSET RULE ADD \"$data\" INCLUDE TO bl; \$c = CONNECT bl TO 127.0.0.1:$(agent_port tgt) MAP \"$data\" TO \"$copy\"; WAITONQUEUE \$c 60" \
		>/dev/null || die "Ditto connect failed"
	qmem=$(dtcl_at src -c 'GET queue.memory' 2>/dev/null | sed -n 's/.*= *//p' | tr -d '"; ')
	# In MiB, for the RSS comparison.
	qmem_mib=$(numfmt --from=iec "$qmem" 2>/dev/null | awk '{ print $1 / 1048576 }')
}

# Bytes the source holds in xlog files only ("Disk queue: N ops, X bytes").
disk_queued() {
	local v
	v=$(con_field src 1 'Disk queue' | sed -n 's/^[0-9]* ops, \([0-9]*\) bytes.*/\1/p')
	echo "${v:-0}"
}

# Waits until the source's queue (memory and disk) stops growing; prints
# the queued bytes.
queue_settled() {
	local last=-1 cur same=0
	for _ in $(seq 600); do
		cur=$(($(con_field src 1 'Queued bytes') + $(disk_queued)))
		if [ "$cur" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 10 ] && { echo "$cur"; return 0; }
		else
			same=0
		fi
		last=$cur
		sleep 0.1
	done
	echo "$cur"
}

backlog_run() {
	local run=$1 bytes q rss_src t_done t_conn drain s0 s1
	setup
	dtcl_at src -c 'TRANSMIT PAUSE 1' >/dev/null || die "TRANSMIT PAUSE failed"
	s0=$(con_field src 1 'Sent bytes')
	bytes=$("$PY" "$BENCH_SRC/gen_dataset.py" files "$data/backlog" --total-mb "$mb" --file-mb 8) ||
		die "writer failed"
	echo "done" >"$data/backlog.done"
	q=$(queue_settled)
	rss_src=$(proc_rss_mib "$(agent_pid src)")
	settle
	t_conn=$("$PY" -c 'import time; print("%.6f" % time.time())')
	dtcl_at src -c 'TRANSMIT RESUME 1' >/dev/null || die "TRANSMIT RESUME failed"
	t_done=$(marker_wait "$copy/backlog.done" 3000) || die "backlog never reached the target"
	s1=$(con_field src 1 'Sent bytes')
	drain=$(fsub "$t_done" "$t_conn")
	DRAIN_RATE=$(fcalc "$bytes / 1e6 / $drain")
	bench_record ditto "drain rate" MB/s higher "$DRAIN_RATE"
	bench_record ditto "drain time" s lower "$drain" info
	bench_record ditto "queued after the backlog" MB lower "$(fcalc "$q / 1e6")" info
	bench_record ditto "queued bytes per byte written" x lower "$(fcalc "$q / $bytes")" info
	bench_record ditto "bytes sent per byte written" x lower "$(fcalc "(${s1:-0} - ${s0:-0}) / $bytes")" info
	bench_record ditto "source agent RSS with the backlog queued" MiB lower "$rss_src" info
	bench_record ditto "peak RSS source agent" MiB lower "$(proc_hwm_mib "$(agent_pid src)")" info
	bench_record ditto "peak RSS target agent (while draining)" MiB lower "$(proc_hwm_mib "$(agent_pid tgt)")" info
	if [ -n "$qmem_mib" ]; then
		bench_param "queue.memory" "$qmem"
		bench_record ditto "peak RSS source agent / queue.memory" x lower \
			"$(fcalc "$(proc_hwm_mib "$(agent_pid src)") / $qmem_mib")" info
	fi
	log "run $run: backlog of $bytes bytes queued as $q bytes, drained in $drain s, source RSS $rss_src MiB"
	dtcl_at src -c 'WAITONQUEUE 1 600' >/dev/null
	same_tree "$data/backlog" "$copy/backlog" || die "backlog copy differs"
	wipe_agent src
	wipe_agent tgt
}

live_run() {
	local run=$1 bytes t0 t1 live s0 s1
	setup
	settle
	s0=$(con_field src 1 'Sent bytes')
	t0=$("$PY" -c 'import time; print("%.6f" % time.time())')
	bytes=$("$PY" "$BENCH_SRC/gen_dataset.py" files "$data/live" --total-mb "$mb" --file-mb 8) ||
		die "writer failed"
	echo "done" >"$data/live.done"
	t1=$(marker_wait "$copy/live.done" 3000) || die "live data never reached the target"
	s1=$(con_field src 1 'Sent bytes')
	live=$(fcalc "$bytes / 1e6 / ($t1 - $t0)")
	bench_record "ditto (target connected)" "bytes sent per byte written" x lower \
		"$(fcalc "(${s1:-0} - ${s0:-0}) / $bytes")" info
	bench_record "ditto (target connected)" "unthrottled replication rate" MB/s higher "$live" info
	bench_record ditto "drain rate / unthrottled rate" x higher "$(fcalc "$DRAIN_RATE / $live")" info
	log "run $run: $bytes bytes written and replicated live in $(fsub "$t1" "$t0") s"
	dtcl_at src -c 'WAITONQUEUE 1 600' >/dev/null
	same_tree "$data/live" "$copy/live" || die "live copy differs"
	wipe_agent src
	wipe_agent tgt
}

rsync_run() {
	local run=$1 bytes
	rm -rf "$data"
	bytes=$("$PY" "$BENCH_SRC/gen_dataset.py" files "$data/backlog" --total-mb "$mb" --file-mb 8) ||
		die "writer failed"
	rm -rf "$SC_DIR/rsync-root/copy"
	settle
	timed T rsync -a "$data/backlog/" "$(rsyncd_url copy/)" || die "rsync failed"
	bench_record "rsync -a catch-up (daemon)" "drain rate" MB/s higher "$(fcalc "$bytes / 1e6 / $T_wall")"
	log "run $run: rsync caught up $bytes bytes in $T_wall s"
	rm -rf "$SC_DIR/rsync-root/copy" "$data"
}

start_rsyncd "$SC_DIR/rsync-root"
for run in $(seq "$BACKLOG_RUNS"); do
	backlog_run "$run"
	live_run "$run"
	rsync_run "$run"
done
