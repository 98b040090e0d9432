#!/bin/bash
# Checksum difference mirror: the target holds yesterday's copy of the
# dataset; ~1 % of the large files' 64 KiB blocks and a few small files have
# changed since (sizes equal, mtimes moved). Bring the target up to date:
#   ditto                 - MIRROR START con CHECKSUM: block checksums
#                           (XXH3, 64 KiB) compared on both sides, only the
#                           differing blocks sent;
#   rsync -a --checksum   - to an rsync daemon on 127.0.0.1;
#   rsync -a              - the same, files picked by size and mtime.
# Each run restores the old copy on the target first (cp -a, not timed).
# T_wall/T_cpu are set by timed() (lib.sh).
# shellcheck disable=SC2154
. "$(dirname "$0")/lib.sh"

ds=$(dataset) || die "no dataset"
[ -d "$ds" ] || die "no dataset"
new="$SC_DIR/changed"
cp -a "$ds" "$new"
changed=$("$PY" "$BENCH_SRC/gen_dataset.py" mutate "$new" --block-frac 0.01 --block 65536 \
	--small-files "$CHECKSUM_SMALL_FILES" --seed "${BENCH_SEED:-1}") || die "mutate failed"
bytes=$(dataset_bytes "$new")
mb=$(fcalc "$bytes / 1e6")
bench_param title "checksum difference mirror after changing ~1 % of blocks"
bench_param dataset "$(dataset_desc)"
bench_param changes "$changed"
bench_param runs "$BENCH_RUNS (tools take turns; target restored to the old copy before each run)"

DT="ditto (checksum mirror)"
start_rsyncd "$SC_DIR/rsync-root"

run_ditto() {
	local run=$1 copy="$SC_DIR/ditto-copy" c0 c1 s0 s1
	rm -rf "$copy"
	cp -a "$ds" "$copy"
	start_agent src source
	start_agent tgt target
	dtcl_at src -c "REPSET CREATE m; REPSET RULE ADD \"$new\" INCLUDE TO m; CONNECT m TO 127.0.0.1:$(agent_port tgt) MAP \"$new\" TO \"$copy\" NOMIRROR" \
		>/dev/null || die "CONNECT failed"
	# Connected (nothing queued) before the clock starts.
	dtcl_at src -c 'WAITONQUEUE 1 60' >/dev/null || die "connection not up"
	settle
	s0=$(con_field src 1 'Sent bytes')
	c0=$(fcalc "$(proc_cpu "$(agent_pid src)") + $(proc_cpu "$(agent_pid tgt)")")
	timed T "$DTCL" -s "$(agent_sock src)" -c 'MIRROR START 1 CHECKSUM; WAITONMIRROR 1 3000; WAITONQUEUE 1 3000' \
		>"$SC_DIR/dtcl.out" 2>&1 || die "Ditto checksum mirror failed: $(cat "$SC_DIR/dtcl.out")"
	c1=$(fcalc "$(proc_cpu "$(agent_pid src)") + $(proc_cpu "$(agent_pid tgt)")")
	s1=$(con_field src 1 'Sent bytes')
	bench_record "$DT" "time" s lower "$T_wall" ditto
	bench_record "$DT" "CPU (all processes)" s lower "$(fcalc "$c1 - $c0")" ditto
	bench_record "$DT" "bytes sent" MB lower "$(fcalc "(${s1:-0} - ${s0:-0}) / 1e6")" ditto
	log "run $run ditto: $T_wall s"
	same_tree "$new" "$copy" || die "Ditto's copy differs from the source"
	wipe_agent src
	wipe_agent tgt
	rm -rf "$copy"
}

run_rsync() {
	local run=$1 name=$2 c0 c1
	shift 2
	rm -rf "$SC_DIR/rsync-root/copy"
	cp -a "$ds" "$SC_DIR/rsync-root/copy"
	settle
	c0=$(proc_cpu "$RSYNCD_PID")
	timed T rsync "$@" --stats "$new/" "$(rsyncd_url copy/)" >"$SC_DIR/rsync.out" 2>&1 ||
		die "rsync failed: $(tail -n 5 "$SC_DIR/rsync.out")"
	sleep 0.2
	c1=$(proc_cpu "$RSYNCD_PID")
	bench_record "$name" "time" s lower "$T_wall"
	bench_record "$name" "CPU (all processes)" s lower "$(fcalc "$T_cpu + $c1 - $c0")"
	bench_record "$name" "bytes sent" MB lower \
		"$(fcalc "$(sed -n 's/^Total bytes sent: //p' "$SC_DIR/rsync.out" | tr -d ,) / 1e6")"
	log "run $run $name: $T_wall s"
	same_tree "$new" "$SC_DIR/rsync-root/copy" || die "$name: copy differs"
	rm -rf "$SC_DIR/rsync-root/copy"
}

for run in $(seq "$BENCH_RUNS"); do
	run_ditto "$run"
	run_rsync "$run" "rsync -a --checksum (daemon)" -a --checksum
	run_rsync "$run" "rsync -a (daemon)" -a
done
bench_note "Ditto reads and hashes every file on both sides (like --checksum) and sends only the differing 64 KiB blocks of the $mb MB"
bench_note "rsync -a finds the changed files by size+mtime; --checksum reads every file on both sides; both send deltas for the changed files"
