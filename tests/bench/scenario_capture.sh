#!/bin/bash
# Capture overhead: fio write workloads in a directory Ditto replicates
# (source agent capturing with fanotify, connection to a target agent on
# 127.0.0.1) against the same workloads with no agent running. A third row
# runs them in a directory outside the set while the agent runs: fanotify
# marks the whole filesystem, so every write on it is seen and filtered.
#   seq:  1 MiB sequential writes over a FIO_SIZE_MB MiB file;
#   rand: 4 KiB random writes over a FIO_SIZE_MB MiB file;
# each for FIO_SECONDS s, buffered (psync). By default without fsync, so the
# figure is the write path's own cost and not the disk's mood (a shared or
# virtual disk swings by 2x between runs); FIO_FSYNC=1 adds end_fsync=1.
# fio's own bandwidth/IOPS figures; the replicated file is sent when fio
# closes it and that transfer is waited for (not timed) before the next job.
. "$(dirname "$0")/lib.sh"

command -v fio >/dev/null || die "fio not installed"
bench_param title "capture overhead: fio in a replicated vs an unreplicated directory"
FSYNC=()
[ "${FIO_FSYNC:-0}" = 1 ] && FSYNC=(--end_fsync=1)
bench_param jobs "seq: bs=1M, rand: bs=4k; size=${FIO_SIZE_MB}M ioengine=psync time_based runtime=${FIO_SECONDS}s ${FSYNC[*]:-(no fsync)}"
bench_param runs "$FIO_RUNS"

BASE="no agent (unreplicated dir)"
REPL="ditto (replicated dir)"
OUTS="ditto running, dir outside the set"
repl="$SC_DIR/repl"
plain="$SC_DIR/plain"
mkdir -p "$repl" "$plain"

# fio_job seq|rand DIR -> prints "MiB/s IOPS"
fio_job() {
	local job=$1 dir=$2 out="$SC_DIR/fio.json" args
	if [ "$job" = seq ]; then
		args=(--name=seqwrite --rw=write --bs=1M --filename=fio.seq)
	else
		args=(--name=randwrite --rw=randwrite --bs=4k --filename=fio.rand --randrepeat=1)
	fi
	fio "${args[@]}" --directory="$dir" --size="${FIO_SIZE_MB}M" --ioengine=psync \
		--time_based --runtime="$FIO_SECONDS" "${FSYNC[@]}" \
		--output-format=json --output="$out" >/dev/null 2>&1 || die "fio failed: $(head -c 500 "$out")"
	"$PY" -c '
import json, sys
t = open(sys.argv[1]).read()
w = json.loads(t[t.index("{"):])["jobs"][0]["write"]
print("%.2f %.0f" % (w["bw_bytes"] / 1048576, w["iops"]))' "$out"
}

# one VARIANT DIR
one() {
	local tool=$1 dir=$2 job bw iops role='' c0
	[ "$tool" = "$BASE" ] && role=peer
	[ "$tool" = "$OUTS" ] && role=ditto
	for job in seq rand; do
		settle
		[ "$tool" != "$BASE" ] && c0=$(proc_cpu "$(agent_pid src)")
		read -r bw iops < <(fio_job "$job" "$dir")
		[ -n "$bw" ] || die "no fio result"
		if [ "$job" = seq ]; then
			bench_record "$tool" "seq write 1 MiB" MiB/s higher "$bw" $role
		else
			bench_record "$tool" "random write 4 KiB" IOPS higher "$iops" $role
		fi
		log "$tool $job: $bw MiB/s, $iops IOPS"
		if [ "$tool" != "$BASE" ]; then
			bench_record "$tool" "$job: source agent CPU during the job" s lower \
				"$(fcalc "$(proc_cpu "$(agent_pid src)") - $c0")" info
			# Let the replication of the file finish before going on.
			dtcl_at src -c 'WAITONQUEUE 1 600' >/dev/null || die "replication did not drain"
		fi
		rm -f "$dir"/fio.*
		[ "$tool" != "$BASE" ] && { dtcl_at src -c 'WAITONQUEUE 1 600' >/dev/null || die "replication did not drain"; }
	done
}

with_agents() {
	start_agent src source
	start_agent tgt target
	dtcl_at src -c "REPSET CREATE cap; REPSET RULE ADD \"$repl\" INCLUDE TO cap; \$c = CONNECT cap TO 127.0.0.1:$(agent_port tgt) MAP \"$repl\" TO \"$SC_DIR/copy\"; WAITONQUEUE \$c 60" \
		>/dev/null || die "Ditto connect failed"
	one "$REPL" "$repl"
	one "$OUTS" "$plain"
	wipe_agent src
	wipe_agent tgt
	rm -rf "$SC_DIR/copy"
}

for run in $(seq "$FIO_RUNS"); do
	if [ $((run % 2)) = 1 ]; then
		one "$BASE" "$plain"
		with_agents
	else
		with_agents
		one "$BASE" "$plain"
	fi
done
bench_note "ratio = Ditto / no agent: 0.95 means capture costs 5 % of the workload's throughput"
