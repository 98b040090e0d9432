#!/bin/bash
# Replication lag under a fixed write load (LAG_RATE_MB MB/s for
# LAG_SECONDS s): time from the writer's close() returning until the target
# file holds identical bytes, p50/p95/p99 of all changes of a run (median
# over LAG_RUNS runs). Two workloads, each against
#   ditto              - real-time replication (fanotify; a file is sent when
#                        the writer closes it) to a target agent on 127.0.0.1;
#   lsyncd (default)   - default.rsync to a local directory, default settings
#                        (delay = 15 s);
#   lsyncd (delay=1)   - the same with delay = 1.
# See lagbench.py for the workloads and how lag is observed.
. "$(dirname "$0")/lib.sh"

REWRITE_ARGS=(--files 256 --file-kib 128)
APPEND_ARGS=(--logs 4 --chunk-kib 64 --rotate-mib 4)
bench_param title "replication lag under a ${LAG_RATE_MB} MB/s write load"
bench_param load "${LAG_SECONDS} s at ${LAG_RATE_MB} MB/s per run; runs: $LAG_RUNS; changes not on the target ${LAG_DRAIN_S} s after the writer stopped count with the time waited (a lower bound)"
bench_param workloads "rewrite: 128 KiB files rewritten in place (open O_TRUNC/write/close) over 256 files; append: 64 KiB appends (open O_APPEND/write/close) to 4 logs rotated at 4 MiB"

lsyncd_conf() { # FILE SRC DST [DELAY]
	{
		printf 'settings {\n\tlogfile = "%s.log",\n\tstatusFile = "%s.status",\n\tnodaemon = true,\n}\n' "$1" "$1"
		printf 'sync {\n\tdefault.rsync,\n\tsource = "%s",\n\ttarget = "%s",\n' "$2" "$3"
		[ -n "${4:-}" ] && printf '\tdelay = %s,\n' "$4"
		printf '}\n'
	} >"$1"
}

wait_file() { # PATH SECONDS
	local i
	for i in $(seq $(($2 * 10))); do [ -e "$1" ] && return 0; sleep 0.1; done
	return 1
}

# lag_run TOOL WORKLOAD
lag_run() {
	local tool=$1 wl=$2 w="$SC_DIR/w" pid="" c0 c1 s0="" s1="" args res
	rm -rf "$w"
	mkdir -p "$w/src"
	echo ready >"$w/src/README"
	case $tool in
	ditto)
		start_agent src source
		start_agent tgt target
		dtcl_at src -c "REPSET CREATE lag; REPSET RULE ADD \"$w/src\" INCLUDE TO lag; \$c = CONNECT lag TO 127.0.0.1:$(agent_port tgt) MAP \"$w/src\" TO \"$w/dst\"; WAITONQUEUE \$c 60" \
			>/dev/null || die "Ditto connect failed"
		;;
	lsyncd*)
		lsyncd_conf "$w/lsyncd.conf" "$w/src" "$w/dst" "$([ "$tool" = "lsyncd (delay=1)" ] && echo 1)"
		bg_start pid "$w/lsyncd.out" lsyncd "$w/lsyncd.conf"
		;;
	esac
	wait_file "$w/dst/README" 60 || die "$tool: initial copy not done: $(tail -n 5 "$w"/lsyncd.* 2>/dev/null)"
	if [ "$tool" != ditto ]; then
		# lsyncd says when its startup rsync is over.
		for _ in $(seq 100); do grep -q 'Startup of .* finished' "$w/lsyncd.conf.log" 2>/dev/null && break; sleep 0.1; done
	fi
	settle
	if [ "$tool" = ditto ]; then
		c0=$(fcalc "$(proc_cpu "$(agent_pid src)") + $(proc_cpu "$(agent_pid tgt)")")
		s0=$(con_field src 1 'Sent bytes')
	else
		c0=$(proc_cpu "$pid")
	fi
	if [ "$wl" = rewrite ]; then args=("${REWRITE_ARGS[@]}"); else args=("${APPEND_ARGS[@]}"); fi
	res=$("$PY" "$BENCH_SRC/lagbench.py" --src "$w/src" --dst "$w/dst" --workload "$wl" \
		--rate "$LAG_RATE_MB" --seconds "$LAG_SECONDS" --drain "$LAG_DRAIN_S" "${args[@]}") ||
		die "lagbench failed"
	if [ "$tool" = ditto ]; then
		c1=$(fcalc "$(proc_cpu "$(agent_pid src)") + $(proc_cpu "$(agent_pid tgt)")")
		s1=$(con_field src 1 'Sent bytes')
		wipe_agent src
		wipe_agent tgt
	else
		c1=$(proc_cpu "$pid")
		bg_stop "$pid"
	fi
	log "$tool $wl: $res"
	local p50 p95 p99 lost rate wbytes
	read -r p50 p95 p99 lost _ rate wbytes < <("$PY" -c '
import json, sys
r = json.loads(sys.argv[1])
print(r["p50_ms"], r["p95_ms"], r["p99_ms"], r["unreplicated"], r["ops"], "%.2f" % r["rate_mb_s"], r["bytes"])' "$res")
	bench_record "$tool" "$wl: lag p50" ms lower "$p50"
	bench_record "$tool" "$wl: lag p95" ms lower "$p95"
	bench_record "$tool" "$wl: lag p99" ms lower "$p99"
	bench_record "$tool" "$wl: changes not replicated in time" count lower "$lost" info
	bench_record "$tool" "$wl: write rate achieved" MB/s higher "$rate" info
	bench_record "$tool" "$wl: CPU of the replicator" s lower "$(fcalc "$c1 - $c0")"
	if [ -n "$s1" ] && [ "$wbytes" -gt 0 ]; then
		bench_record "$tool" "$wl: bytes sent per byte written" x lower \
			"$(fcalc "(${s1:-0} - ${s0:-0}) / $wbytes")" info
	fi
	rm -rf "$w"
}

for _ in $(seq "$LAG_RUNS"); do
	for wl in rewrite append; do
		for tool in ditto "lsyncd (default)" "lsyncd (delay=1)"; do
			lag_run "$tool" "$wl"
		done
	done
done
bench_note "lsyncd runs default.rsync to a local directory (no daemon); its default delay is 15 s"
bench_note "Ditto ships a file's changes when the writer closes it; 'bytes sent per byte written' shows whether it sent changed blocks (~1) or whole files (append: >> 1)"
