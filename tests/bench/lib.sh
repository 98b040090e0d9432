# shellcheck shell=bash
# Shared helpers for the benchmark scenarios (tests/bench/scenario_*.sh).
# Source it first thing:   . "$(dirname "$0")/lib.sh"
#
# run.sh exports the run's settings (BENCH_MODE, BENCH_WORK, BENCH_SAMPLES,
# DITTO_BUILDDIR, sizes); a scenario started by hand gets quick defaults.
# Every scenario gets its own temporary directory under BENCH_WORK, its own
# agents, daemons, ports and sockets, and cleans all of it up on any exit
# (including the TERM that run.sh's timeout sends). Measurements go to
# BENCH_SAMPLES, one line per run (report.py turns them into tables and JSON).
set -u

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCEN=$(basename "$0" .sh)
SCEN=${SCEN#scenario_}

: "${DITTO_BUILDDIR:?set DITTO_BUILDDIR to the build tree (make bench does)}"
DITTOD="$DITTO_BUILDDIR/agent/dittod"
DTCL="$DITTO_BUILDDIR/client/dtcl"
PLUGINS="$DITTO_BUILDDIR/plugins/.libs"
PY=${PYTHON:-python3}

# Scenario started on its own (not by run.sh): quick settings, results
# printed at the end.
if [ -z "${BENCH_WORK:-}" ]; then
	BENCH_STANDALONE=1
	BENCH_WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ditto-bench.XXXXXX")
	BENCH_SAMPLES=$BENCH_WORK/samples.tsv
	: >"$BENCH_SAMPLES"
	# shellcheck source=/dev/null
	. "$BENCH_SRC/params.sh"
	bench_params "${BENCH_MODE:-quick}"
fi

SC_DIR=$(mktemp -d "$BENCH_WORK/$SCEN.XXXXXX")
chmod 755 "$SC_DIR"
SC_PIDS=()
SC_CLEANUPS=()

sc_cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	for pid in "${SC_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${SC_PIDS[@]}"; do
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for ((i = ${#SC_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${SC_CLEANUPS[$i]}" >/dev/null 2>&1
	done
	# Remirrors Ditto started by itself (lost capture events) explain slow
	# or noisy Ditto figures: say how many there were.
	i=$(awk '{ s += $1 } END { print s + 0 }' "$SC_DIR/remirrors" 2>/dev/null)
	[ "${i:-0}" -gt 0 ] && bench_note "Ditto remirrored $i time(s) on its own after lost capture events during this scenario (agent warnings at the end of the run): those runs carry a full mirror's cost"
	if [ "$rc" -ne 0 ]; then
		echo "# $SCEN stopped (exit $rc); last agent log lines:"
		find "$SC_DIR" -name 'dtlog*.dtl' -print -exec tail -n 15 {} \; 2>/dev/null | sed 's/^/#   /'
	fi
	rm -rf "$SC_DIR"
	if [ -n "${BENCH_STANDALONE:-}" ]; then
		"$PY" "$BENCH_SRC/report.py" --samples "$BENCH_SAMPLES" --table
		rm -rf "$BENCH_WORK"
	fi
	exit "$rc"
}
trap sc_cleanup EXIT
trap 'exit 124' TERM INT

sc_on_exit() { SC_CLEANUPS+=("$1"); }
die() { echo "$SCEN: $*" >&2; exit 1; }
log() { printf '[%s] %s: %s\n' "$(date +%H:%M:%S)" "$SCEN" "$*"; }

# ------------------------------------------------------------- recording
# bench_record TOOL METRIC UNIT BETTER VALUE [ROLE]
#   BETTER is lower|higher; ROLE is ditto (the default for TOOL ditto*),
#   peer, or info (shown, no ratio).
bench_record() {
	local tool=$1 metric=$2 unit=$3 better=$4 value=$5 role=${6:-}
	if [ -z "$role" ]; then
		case $tool in ditto*) role=ditto ;; *) role=peer ;; esac
	fi
	printf 'S\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$SCEN" "$tool" "$metric" "$unit" \
		"$better" "$role" "$value" >>"$BENCH_SAMPLES"
}
# bench_na TOOL METRIC REASON: a measurement that cannot be made (yet).
bench_na() {
	printf 'N\t%s\t%s\t%s\t%s\n' "$SCEN" "$1" "$2" "$3" >>"$BENCH_SAMPLES"
	log "$1 $2: not available ($3)"
}
# bench_param KEY VALUE: a parameter of this scenario, shown above its table
# and kept in the results file.
bench_param() { printf 'P\t%s\t%s\t%s\n' "$SCEN" "$1" "$2" >>"$BENCH_SAMPLES"; }
# bench_note TEXT: a remark printed under the scenario's table.
bench_note() { printf 'T\t%s\t%s\n' "$SCEN" "$1" >>"$BENCH_SAMPLES"; }

# ------------------------------------------------------------- processes
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 30000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . && continue
		# Not handed out twice in this run either.
		grep -qx "$p" "$BENCH_WORK/ports" 2>/dev/null && continue
		echo "$p" >>"$BENCH_WORK/ports"
		echo "$p"
		return
	done
	die "no free port"
}

# bg_start VAR LOGFILE cmd...: runs cmd in the background with its output
# in LOGFILE, stops it on exit, and stores its pid in VAR.
bg_start() {
	local var=$1 out=$2
	shift 2
	"$@" >>"$out" 2>&1 </dev/null &
	SC_PIDS+=($!)
	printf -v "$var" '%s' "$!"
}
# bg_stop PID: TERM, wait up to 5 s, then KILL.
bg_stop() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# Sums user+system CPU of a process, in seconds (children it waited for
# included: an rsync daemon's transfer processes).
proc_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13 + $14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# Peak resident set (VmHWM) in MiB.
proc_hwm_mib() { awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }
proc_rss_mib() { awk '/^VmRSS:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Bytes a process wrote to storage (write_bytes) and read from anything
# (rchar: files and sockets).
proc_io() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }

# timed VAR cmd...: runs cmd; VAR_wall, VAR_cpu (user+sys of cmd and its
# children) in seconds. Returns cmd's status.
timed() {
	local var=$1 rc out
	shift
	out=$(mktemp "$SC_DIR/timed.XXXXXX")
	"$PY" -c '
import os, resource, subprocess, sys, time
t0 = time.monotonic()
rc = subprocess.call(sys.argv[2:])
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.6f %.6f\n" % (wall, ru.ru_utime + ru.ru_stime))
sys.exit(rc)' "$out" "$@"
	rc=$?
	read -r "${var}_wall" "${var}_cpu" <"$out"
	rm -f "$out"
	return $rc
}

now() { "$PY" -c 'import time; print("%.6f" % time.monotonic())'; }
fsub() { "$PY" -c "import sys; print('%.6f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$1" "$2"; }
fcalc() { "$PY" -c "import sys; print('%.6g' % eval(sys.argv[1]))" "$1"; }

# Flushes what earlier runs left dirty, so a run does not pay for the
# previous one; with BENCH_DROP_CACHES=1 also starts from a cold cache
# (affects the whole machine).
settle() {
	sync
	if [ "${BENCH_DROP_CACHES:-0}" = 1 ]; then
		echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	fi
}

# ------------------------------------------------------------- Ditto agents
# One source and one target agent, each with its own state, log, socket and
# port, sharing a key. Names are free; "$SC_DIR/<name>" holds their files.
agent_dir() { echo "$SC_DIR/agents/$1"; }
agent_sock() { echo "$SC_DIR/agents/$1/ctl.sock"; }
agent_port() { cat "$SC_DIR/agents/$1/port"; }
agent_pid() { cat "$SC_DIR/agents/$1/pid"; }

# start_agent NAME source|target [extra config lines]
start_agent() {
	local name=$1 role=$2 extra=${3:-} d port pid
	d=$(agent_dir "$name")
	mkdir -p "$d"
	if [ ! -f "$d/port" ]; then free_port >"$d/port"; fi
	port=$(cat "$d/port")
	{
		if [ "$role" = source ]; then
			printf 'agent = { plugin_dir = "%s"; };\n' "$PLUGINS"
		fi
		[ -n "$extra" ] && printf '%s\n' "$extra"
	} >"$d/ditto.conf"
	bg_start pid "$d/stderr" "$DITTOD" -f -c "$d/ditto.conf" --name "$name" --state-dir "$d/state" \
		--log-dir "$d/log" --control "$d/ctl.sock" --listen "127.0.0.1:$port" \
		--key-file "$SC_DIR/agents/peer.key"
	echo "$pid" >"$d/pid"
	for _ in $(seq 100); do
		"$DTCL" -s "$d/ctl.sock" -c STATUS >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	die "agent $name did not start: $(tail -n 5 "$d/log"/dtlog*.dtl 2>/dev/null)"
}
# A first agent creates the key; later ones (and restarts) reuse it.
stop_agent() { bg_stop "$(agent_pid "$1")"; }
# wipe_agent NAME: stop it and forget its state (next start is fresh). The
# agent's warnings and errors (log level 1: lost capture events and the
# remirror they cause, failed connections...) are shown first, since they
# explain odd figures; the stop itself is not worth a line.
wipe_agent() {
	local w
	stop_agent "$1"
	w=$(agent_log "$1" | awk '$6 == 1' | grep -v -e 'Connection lost with' -e 'Connection failed to')
	if [ -n "$w" ]; then
		printf '%s\n' "$w" | head -n 5 | sed "s/^/[agent $1 warning] /"
		[ "$(printf '%s\n' "$w" | wc -l)" -gt 5 ] &&
			echo "[agent $1 warning] ... $(printf '%s\n' "$w" | wc -l) warnings in all"
		printf '%s\n' "$w" | sed "s/^/$SCEN $1: /" >>"$BENCH_WORK/agent-warnings.log"
		printf '%s\n' "$w" | grep -c -e 'remirroring connection' -e 'difference mirror of connection' >>"$SC_DIR/remirrors"
	fi
	rm -rf "$(agent_dir "$1")/state" "$(agent_dir "$1")/log"
}

dtcl_at() {
	local name=$1
	shift
	"$DTCL" -s "$(agent_sock "$name")" "$@"
}
# The source agent's connections are numbered from 1 per agent life.
con_field() { dtcl_at "$1" -c "STATUS $2" 2>/dev/null | sed -n "s/^$3: *//p"; }
agent_log() { cat "$(agent_dir "$1")"/log/dtlog*.dtl 2>/dev/null; }

# ------------------------------------------------------------- rsync daemon
# Starts an rsync daemon on 127.0.0.1 (free port, own config in SC_DIR)
# exporting module "bench" at DIR, writable, running as root so -a keeps
# owners. Sets RSYNCD_PORT and RSYNCD_PID.
start_rsyncd() {
	local dir=$1 d="$SC_DIR/rsyncd"
	mkdir -p "$d" "$dir"
	RSYNCD_PORT=$(free_port)
	cat >"$d/rsyncd.conf" <<EOF
port = $RSYNCD_PORT
address = 127.0.0.1
use chroot = no
max connections = 8
log file = $d/rsyncd.log
[bench]
	path = $dir
	read only = no
	uid = root
	gid = root
	numeric ids = yes
EOF
	bg_start RSYNCD_PID "$d/stderr" rsync --daemon --no-detach --config="$d/rsyncd.conf"
	for _ in $(seq 50); do
		rsync "rsync://127.0.0.1:$RSYNCD_PORT/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "rsync daemon did not start: $(cat "$d/rsyncd.log" 2>/dev/null)"
}
rsyncd_url() { echo "rsync://127.0.0.1:$RSYNCD_PORT/bench/$1"; }

# ------------------------------------------------------------- data
# The shared dataset (generated once per run, deterministic): prints its
# path. DATASET_SMALL/DATASET_SMALL_MAX/DATASET_LARGE/DATASET_LARGE_MB come
# from params.sh.
dataset() {
	local d="$BENCH_WORK/dataset" lock="$BENCH_WORK/dataset.lock"
	(
		flock 9
		if [ ! -f "$d/.done" ]; then
			rm -rf "$d"
			mkdir -p "$d"
			"$PY" "$BENCH_SRC/gen_dataset.py" tree "$d/tree" --small "$DATASET_SMALL" \
				--small-max "$DATASET_SMALL_MAX" --large "$DATASET_LARGE" \
				--large-size $((DATASET_LARGE_MB << 20)) --seed "${BENCH_SEED:-1}" \
				>"$d/desc" || exit 1
			touch "$d/.done"
		fi
	) 9>"$lock" || die "dataset generation failed"
	echo "$d/tree"
}
dataset_desc() { cat "$BENCH_WORK/dataset/desc"; }
dataset_bytes() { du -sb --apparent-size "$1" | cut -f1; }

# same_tree A B: content, sizes, modes, owners and mtimes of files (and the
# set of names) are equal; prints the differences otherwise.
same_tree() {
	"$PY" "$BENCH_SRC/treecmp.py" "$1" "$2"
}
