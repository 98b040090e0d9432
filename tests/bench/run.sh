#!/bin/bash
# make bench: Ditto side by side with rsync, cp, lsyncd and fio, as ratios
# measured in one run on the same data.
#
#   tests/bench/run.sh [--quick|--full] [--out FILE.json|FILE.csv] [scenario...]
#
# Scenarios (default: all, in this order):
#   mirror       full mirror of the generated dataset: Ditto vs rsync -a to
#                an rsync daemon on 127.0.0.1 vs cp -a
#   checksum     difference mirror after ~1 % of blocks changed: Ditto vs
#                rsync -a --checksum and rsync -a
#   lag          replication lag under a fixed write rate, p50/p95/p99:
#                Ditto vs lsyncd (default delay, and delay=1)
#   capture      fio sequential and 4 KiB random writes, replicated vs not
#   backlog      target away while data is written: drain rate, peak RSS
#   compression  wire bytes and throughput, none/lz4/zstd, text and random
#
# --quick (default) is sized for development (a few minutes on 2 cores);
# --full for figures (~1 GiB dataset, under 30 minutes). Every size is in
# params.sh and can be overridden from the environment. Each scenario prints
# a table (median of the runs, min–max, ratio Ditto/peer); all results go to
# FILE (default bench-results.json in the current directory) with the
# commit and a machine description, to compare across commits.
#
# Needs root (fanotify capture, the rsync daemon keeping owners, installing
# tools) and DITTO_BUILDDIR (the build tree; make bench sets it). Installs
# rsync, lsyncd and fio with apt-get when they are missing. Everything it
# starts and creates is removed on exit, failure or interrupt included, and
# every scenario runs under a time limit. Nothing here asserts on times.
set -u

here=$(cd "$(dirname "$0")" && pwd)
mode=quick
out=${BENCH_OUT:-bench-results.json}
scenarios=()
all=(mirror checksum lag capture backlog compression)

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) mode=quick ;;
	--full) mode=full ;;
	--out) out=$2; shift ;;
	--out=*) out=${1#--out=} ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	*)
		[ -f "$here/scenario_$1.sh" ] || { echo "run.sh: no scenario $1 (${all[*]})" >&2; exit 2; }
		scenarios+=("$1")
		;;
	esac
	shift
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${all[@]}")
case $out in /*) ;; *) out="$PWD/$out" ;; esac

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: needs root (fanotify capture, an rsync daemon keeping owners, apt-get)" >&2
	exit 1
fi
: "${DITTO_BUILDDIR:=$PWD}"
DITTO_BUILDDIR=$(cd "$DITTO_BUILDDIR" && pwd)
for f in agent/dittod client/dtcl plugins/.libs/fanotify.so; do
	[ -e "$DITTO_BUILDDIR/$f" ] || { echo "run.sh: $DITTO_BUILDDIR/$f missing: build first (make), or set DITTO_BUILDDIR" >&2; exit 1; }
done
export DITTO_BUILDDIR

# ------------------------------------------------------------ tools
need=()
for t in rsync:rsync lsyncd:lsyncd fio:fio ss:iproute2 flock:util-linux python3:python3; do
	command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "== installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${need[@]}" >/dev/null; } ||
		{ echo "run.sh: could not install ${need[*]}" >&2; exit 1; }
fi
BENCH_TOOLS="rsync=$(rsync --version | awk 'NR == 1 { print $3 }');lsyncd=$(lsyncd --version 2>&1 | awk '{ print $2; exit }');fio=$(fio --version);python3=$(python3 -c 'import platform; print(platform.python_version())')"
BENCH_TOOLS="$BENCH_TOOLS;dittod_built=$(date -u -r "$DITTO_BUILDDIR/agent/dittod" '+%Y-%m-%dT%H:%M:%SZ')"
export BENCH_TOOLS

# ------------------------------------------------------------ parameters
# shellcheck source=params.sh
. "$here/params.sh"
bench_params "$mode" || exit 2

BENCH_WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ditto-bench.XXXXXX") || exit 1
chmod 755 "$BENCH_WORK"
BENCH_SAMPLES=$BENCH_WORK/samples.tsv
: >"$BENCH_SAMPLES"
export BENCH_WORK BENCH_SAMPLES
child=
finish() {
	trap - EXIT INT TERM
	if [ -n "$child" ]; then
		# timeout(1) passes the signal on to the scenario's process group.
		kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
	fi
	rm -rf "$BENCH_WORK"
}
trap finish EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# Space: the dataset, a changed copy, a copy per tool, and the backlog.
ds_mb=$(( (DATASET_SMALL * DATASET_SMALL_MAX / 6 + DATASET_LARGE * (DATASET_LARGE_MB << 20)) >> 20 ))
need_mb=$(( ds_mb * 5 + BACKLOG_MB * 3 + FIO_SIZE_MB * 2 + CORPUS_MB * 4 + 512 ))
free_mb=$(df -Pm "$BENCH_WORK" | awk 'NR == 2 { print $4 }')
if [ "$free_mb" -lt "$need_mb" ]; then
	echo "run.sh: $BENCH_WORK has $free_mb MB free, the $mode benchmark needs about $need_mb MB (BENCH_TMPDIR picks another place)" >&2
	exit 1
fi

# BENCH_COMMIT names what was built when the build tree is not this
# checkout (e.g. a clean export of another commit).
if [ -n "${BENCH_COMMIT:-}" ]; then
	commit=$BENCH_COMMIT
else
	commit=$(git -C "$here/../.." rev-parse --short HEAD 2>/dev/null || echo unknown)
	[ -n "$(git -C "$here/../.." status --porcelain --untracked-files=no 2>/dev/null)" ] && commit="$commit-dirty"
fi
# A build older than the sources measures something else than the commit
# named: say so, in the results too.
if [ -z "${BENCH_COMMIT:-}" ] && [ -n "$(find "$here/../../agent" "$here/../../lib" "$here/../../plugins" \
	-name '*.[ch]' -newer "$DITTO_BUILDDIR/agent/dittod" 2>/dev/null | head -n 1)" ]; then
	echo "run.sh: warning: sources are newer than $DITTO_BUILDDIR/agent/dittod (run make first)" >&2
	commit="$commit+stale-build"
fi
echo "== Ditto benchmark ($mode mode), commit $commit, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r), $(df -PT "$BENCH_WORK" | awk 'NR == 2 { print $2 }') on $(df -P "$BENCH_WORK" | awk 'NR == 2 { print $1 }')"
echo "   tools: ${BENCH_TOOLS//;/, }"
echo "   build: $DITTO_BUILDDIR; scratch: $BENCH_WORK"
echo "   scenarios: ${scenarios[*]}"

failed=()
for s in "${scenarios[@]}"; do
	echo
	echo "== scenario $s (limit ${SCENARIO_LIMIT} s)"
	t0=$(date +%s)
	timeout -k 20 "$SCENARIO_LIMIT" bash "$here/scenario_$s.sh" &
	child=$!
	wait "$child"
	rc=$?
	child=
	if [ "$rc" -ne 0 ]; then
		[ "$rc" -eq 124 ] && why="ran past ${SCENARIO_LIMIT} s" || why="exit $rc"
		echo "== scenario $s FAILED ($why)"
		printf 'T\t%s\t%s\n' "$s" "scenario did not complete ($why): figures above are partial" >>"$BENCH_SAMPLES"
		failed+=("$s")
	fi
	python3 "$here/report.py" --samples "$BENCH_SAMPLES" --table --scenario "$s"
	echo "   ($(( $(date +%s) - t0 )) s)"
done

echo
echo "================================ summary ($mode mode, commit $commit)"
python3 "$here/report.py" --samples "$BENCH_SAMPLES" --table --mode "$mode" --commit "$commit" \
	--srcdir "$here/../.." --out "$out"
if [ -s "$BENCH_WORK/agent-warnings.log" ]; then
	echo
	echo "agent warnings and errors during the run (first 30):"
	head -n 30 "$BENCH_WORK/agent-warnings.log" | sed 's/^/  /'
fi
echo
echo "results: $out"
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed scenarios: ${failed[*]}"
	exit 1
fi
exit 0
