#!/bin/bash
# Full mirror of the generated dataset over loopback:
#   ditto   - CONNECT (full mirror) to a target agent on 127.0.0.1, until
#             WAITONQUEUE says everything is applied on the target;
#   rsync   - rsync -a to an rsync daemon on 127.0.0.1 (empty target);
#   cp -a   - local copy, the local limit.
# Each run starts from an empty target, after sync; the source data is in
# the page cache for every tool (BENCH_DROP_CACHES=1 for cold runs). Tools
# take turns within each run; every copy is checked against the source.
# T_wall/T_cpu are set by timed() (lib.sh).
# shellcheck disable=SC2154
. "$(dirname "$0")/lib.sh"

ds=$(dataset) || die "no dataset"
[ -d "$ds" ] || die "no dataset"
bytes=$(dataset_bytes "$ds")
mb=$(fcalc "$bytes / 1e6")
bench_param title "full mirror of a generated dataset over loopback"
bench_param dataset "$(dataset_desc)"
bench_param runs "$BENCH_RUNS (tools take turns; empty target each run; source in page cache)"

start_rsyncd "$SC_DIR/rsync-root"

# run_ditto RUN [NOREPLICATE]: with the flag, the connection has no
# real-time capture: the mirror engine alone (a diagnostic row).
run_ditto() {
	local run=$1 flag=${2:-} copy="$SC_DIR/ditto-copy" c0 c1 sent tool=ditto
	[ -n "$flag" ] && tool="ditto NOREPLICATE (mirror only)"
	rm -rf "$copy"
	start_agent src source
	start_agent tgt target
	dtcl_at src -c "REPSET CREATE m; REPSET RULE ADD \"$ds\" INCLUDE TO m" >/dev/null ||
		die "REPSET failed"
	settle
	c0=$(fcalc "$(proc_cpu "$(agent_pid src)") + $(proc_cpu "$(agent_pid tgt)")")
	timed T "$DTCL" -s "$(agent_sock src)" -c "\$c = CONNECT m TO 127.0.0.1:$(agent_port tgt) MAP \"$ds\" TO \"$copy\" $flag; WAITONQUEUE \$c 3000" \
		>"$SC_DIR/dtcl.out" 2>&1 || die "Ditto mirror failed: $(cat "$SC_DIR/dtcl.out")"
	c1=$(fcalc "$(proc_cpu "$(agent_pid src)") + $(proc_cpu "$(agent_pid tgt)")")
	sent=$(con_field src 1 'Sent bytes')
	bench_record "$tool" "time" s lower "$T_wall"
	bench_record "$tool" "throughput" MB/s higher "$(fcalc "$mb / $T_wall")"
	bench_record "$tool" "CPU (all processes)" s lower "$(fcalc "$c1 - $c0")"
	bench_record "$tool" "peak RSS source agent" MiB lower "$(proc_hwm_mib "$(agent_pid src)")" info
	bench_record "$tool" "peak RSS target agent" MiB lower "$(proc_hwm_mib "$(agent_pid tgt)")" info
	[ -n "$sent" ] && bench_record "$tool" "bytes sent" MB lower "$(fcalc "$sent / 1e6")"
	log "run $run $tool: $T_wall s, $sent bytes sent"
	same_tree "$ds" "$copy" || die "Ditto's copy differs from the source"
	wipe_agent src
	wipe_agent tgt
	rm -rf "$copy"
}

run_rsync() {
	local run=$1 c0 c1
	rm -rf "$SC_DIR/rsync-root/copy"
	settle
	c0=$(proc_cpu "$RSYNCD_PID")
	timed T rsync -a --stats "$ds/" "$(rsyncd_url copy/)" >"$SC_DIR/rsync.out" 2>&1 ||
		die "rsync failed: $(tail -n 5 "$SC_DIR/rsync.out")"
	sleep 0.2 # the daemon reaps its transfer process
	c1=$(proc_cpu "$RSYNCD_PID")
	bench_record "rsync -a (daemon)" "time" s lower "$T_wall"
	bench_record "rsync -a (daemon)" "throughput" MB/s higher "$(fcalc "$mb / $T_wall")"
	bench_record "rsync -a (daemon)" "CPU (all processes)" s lower "$(fcalc "$T_cpu + $c1 - $c0")"
	bench_record "rsync -a (daemon)" "bytes sent" MB lower \
		"$(fcalc "$(sed -n 's/^Total bytes sent: //p' "$SC_DIR/rsync.out" | tr -d ,) / 1e6")"
	log "run $run rsync: $T_wall s"
	same_tree "$ds" "$SC_DIR/rsync-root/copy" || die "rsync's copy differs"
	rm -rf "$SC_DIR/rsync-root/copy"
}

run_cp() {
	local run=$1 copy="$SC_DIR/cp-copy"
	rm -rf "$copy"
	settle
	timed T cp -a "$ds" "$copy" || die "cp failed"
	bench_record "cp -a (local)" "time" s lower "$T_wall"
	bench_record "cp -a (local)" "throughput" MB/s higher "$(fcalc "$mb / $T_wall")"
	bench_record "cp -a (local)" "CPU (all processes)" s lower "$T_cpu"
	log "run $run cp -a: $T_wall s"
	same_tree "$ds" "$copy" || die "cp's copy differs"
	rm -rf "$copy"
}

for run in $(seq "$BENCH_RUNS"); do
	run_ditto "$run"
	run_rsync "$run"
	run_cp "$run"
	[ "${MIRROR_NOREPLICATE:-1}" = 1 ] && run_ditto "$run" NOREPLICATE
done
bench_note "time: Ditto from CONNECT until WAITONQUEUE returns (polls every 50 ms); rsync and cp until they exit; none of them syncs the copy to disk"
bench_note "the ditto row runs with real-time capture on (CONNECT's default), as deployed; 'ditto NOREPLICATE' is the mirror alone (MIRROR_NOREPLICATE=0 skips it); a ratio 'vs X' compares that row with X"
bench_note "capture marks the whole filesystem: the target's writes on the same filesystem are events for the source (see agent warnings for overflows and the remirrors they cause)"
