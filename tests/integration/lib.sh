# Shared helpers for integration scenarios. Source it first thing:
#   . "$(dirname "$0")/lib.sh"
# Every scenario runs under a time limit, gets its own temporary directory,
# agents, state dirs and control sockets, and cleans up on any exit. Each
# `pass` is a TAP test point; the plan is printed at the end, so make check
# reports every step.
set -u

IT_NAME=$(basename "$0" .sh)
IT_LIMIT=${IT_LIMIT:-180}

# Bound the scenario in time: re-run this script under timeout(1); the TERM it
# sends lands in our trap, which still cleans up.
if [ -z "${IT_UNDER_TIMEOUT:-}" ]; then
	IT_UNDER_TIMEOUT=1 exec timeout -k 10 "$IT_LIMIT" bash "$0" "$@"
fi

: "${DITTO_BUILDDIR:?run through make check (DITTO_BUILDDIR unset)}"
: "${DITTO_SRCDIR:=$DITTO_BUILDDIR}"
DITTOD="$DITTO_BUILDDIR/agent/dittod"
DTCL="$DITTO_BUILDDIR/client/dtcl"

IT_DIR=$(mktemp -d "/tmp/ditto-it-$IT_NAME.XXXXXX")
chmod 755 "$IT_DIR"
IT_PIDS=()
IT_CLEANUPS=()
IT_N=0
IT_SKIPPED=

it_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for pid in "${IT_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${IT_PIDS[@]}"; do
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	# Registered clean-ups run last-in first-out.
	for ((i = ${#IT_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${IT_CLEANUPS[$i]}" >/dev/null 2>&1
	done
	if [ "$rc" -ne 0 ]; then
		echo "# $IT_NAME failed (exit $rc); agent logs:"
		find "$IT_DIR" -name '*.dtl' -print -exec tail -n 30 {} \; 2>/dev/null | sed 's/^/# /'
	fi
	rm -rf "$IT_DIR"
	if [ -n "$IT_SKIPPED" ]; then
		echo "1..0 # SKIP $IT_SKIPPED"
	else
		[ "$rc" -eq 0 ] || echo "not ok $((IT_N + 1)) - $IT_NAME stopped (exit $rc)"
		echo "1..$((IT_N + (rc != 0)))"
	fi
	exit "$rc"
}
trap it_cleanup EXIT
trap 'exit 124' TERM INT

it_on_exit() { IT_CLEANUPS+=("$1"); }
fail() { echo "# FAIL: $*"; echo "FAIL: $*" >&2; exit 1; }
skip() { IT_SKIPPED=$*; exit 0; }
pass() { IT_N=$((IT_N + 1)); echo "ok $IT_N - $*"; }
need_root() { [ "$(id -u)" -eq 0 ] || skip "$1 needs root"; }

# Runs a command, expecting a given exit status, and keeps its output in $OUT.
expect_rc() {
	local want=$1 got
	shift
	OUT=$("$@" 2>&1)
	got=$?
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; output: $OUT"
}
expect_out() {
	printf '%s\n' "$OUT" | grep -qE -- "$1" || fail "expected /$1/ in output: $OUT"
}

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 30000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
	fail "no free port"
}

# agent_dir NAME: where an agent's files live.
agent_dir() { echo "$IT_DIR/$1"; }
agent_sock() { echo "$IT_DIR/$1/ctl.sock"; }

# start_agent NAME [dittod options...]: runs dittod -f in the background with
# its own config file (the build's plugin_dir unless the scenario wrote one), state dir, log
# dir, control socket and port, and waits until it answers.
start_agent() {
	local name=$1 d
	shift
	d=$(agent_dir "$name")
	mkdir -p "$d"
	# The capture plugins of this build, unless the scenario wrote its own
	# configuration.
	[ -f "$d/ditto.conf" ] ||
		printf 'agent = { plugin_dir = "%s"; };\n' "$DITTO_BUILDDIR/plugins/.libs" >"$d/ditto.conf"
	# AGENT_NETNS=ns start_agent ...: the agent runs in that network namespace.
	local wrap=()
	[ -n "${AGENT_NETNS:-}" ] && wrap=(ip netns exec "$AGENT_NETNS")
	"${wrap[@]}" "$DITTOD" -f -c "$d/ditto.conf" --name "$name" --state-dir "$d/state" \
		--log-dir "$d/log" --control "$d/ctl.sock" \
		--listen "127.0.0.1:$(free_port)" "$@" >>"$d/stderr" 2>&1 &
	IT_PIDS+=($!)
	eval "PID_$name=$!"
	wait_agent "$name"
}

wait_agent() {
	local sock
	sock=$(agent_sock "$1")
	for _ in $(seq 100); do
		"$DTCL" -s "$sock" -c STATUS >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$(agent_dir "$1")/stderr" >&2 2>/dev/null
	fail "agent $1 did not answer on $sock"
}

# dtcl_at NAME ARGS...: dtcl against that agent.
dtcl_at() {
	local name=$1
	shift
	"$DTCL" -s "$(agent_sock "$name")" "$@"
}

agent_log() { cat "$(agent_dir "$1")"/log/dtlog*.dtl 2>/dev/null; }

# tree_digest DIR: one line per entry with what a copy must preserve (path,
# type, mode, owner, size, link target, content digest, mtime — of
# directories too —, link count, hard-link group: the first name in path
# order of a multiply-linked inode, and a digest of the xattrs, ACLs
# included, of files and directories).
tree_digest() {
	(cd "$1" && find . -mindepth 1 -printf '%i|%P|%y|%m|%U|%G|%s|%l|%T@|%n\n' | LC_ALL=C sort -t'|' -k2 |
	while IFS='|' read -r i p y m u g s l t n; do
		c=-; [ "$y" = f ] && c=$(sha1sum <"$p" | cut -c1-12)
		x=-
		case $y in f|d)
			x=$(getfattr -h -d -m - -e hex -- "$p" 2>/dev/null | grep -v '^#' | sha1sum | cut -c1-8) ;;
		esac
		[ "$y" = d ] && s=-
		printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$i" "$p" "$y" "$m" "$u" "$g" "$s" "$l" "$c" "$t" "$n" "$x"
	done | LC_ALL=C awk -F'|' -v OFS='|' '{
		grp = "-"
		if ($3 != "d" && $11 > 1) {
			if (!($1 in first)) first[$1] = $2
			grp = first[$1]
		}
		$1 = ""; print substr($0, 2) "|" grp
	}')
}

# wait_same AGENT CON SRC DST MSG: waits (bounded) until the connection's
# queue is drained and DST equals SRC as tree_digest sees it.
wait_same() {
	local agent=$1 con=$2 src=$3 dst=$4 msg=$5
	for _ in $(seq 150); do
		dtcl_at "$agent" -c "WAITONQUEUE $con 60" >/dev/null 2>&1 &&
			diff <(tree_digest "$src") <(tree_digest "$dst") >/dev/null && return 0
		sleep 0.2
	done
	diff <(tree_digest "$src") <(tree_digest "$dst") | head -40
	fail "$msg"
}
