#!/bin/bash
# The README's main job: a source and a target agent side by side on this host
# with their own state, logs, sockets and ports, and a demo directory.
#
# The source connects a replication set to the target: a full mirror makes
# the target copy identical, then real-time replication (fanotify) carries
# later changes over.
set -euo pipefail
: "${DITTO_BUILDDIR:?run through make demo}"
DITTOD="$DITTO_BUILDDIR/agent/dittod"
DTCL="$DITTO_BUILDDIR/client/dtcl"
demo=${DITTO_DEMO_DIR:-/tmp/ditto-demo}

pids=()
stop_all() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
}
trap stop_all EXIT

rm -rf "$demo"
mkdir -p "$demo/data"
for i in 1 2 3; do echo "demo file $i, written $(date)" >"$demo/data/file$i.txt"; done
mkdir -p "$demo/data/sub" && seq 1 1000 >"$demo/data/sub/numbers.txt"

start() {
	local name=$1 port=$2
	echo "== starting $name agent (state $demo/$name, port $port)"
	"$DITTOD" -f -c "$demo/$name/none.conf" --name "$name" \
		--state-dir "$demo/$name/state" --log-dir "$demo/$name/log" \
		--control "$demo/$name/ctl.sock" --listen "127.0.0.1:$port" \
		--key-file "$demo/peer.key" \
		>"$demo/$name.stderr" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		"$DTCL" -s "$demo/$name/ctl.sock" -c STATUS >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$demo/$name.stderr" >&2
	echo "demo: the $name agent did not start" >&2
	exit 1
}
# An explicit -c file must exist: the target's is empty ("all built-in
# defaults"), the source's only says where the plugins are.
mkdir -p "$demo/source" "$demo/target"
# The source finds its capture plugins in the build tree (installed agents
# use agent.plugin_dir's default).
printf 'agent = { plugin_dir = "%s"; };\n' "$DITTO_BUILDDIR/plugins/.libs" >"$demo/source/none.conf"
: >"$demo/target/none.conf"
start source 21500
start target 21501
# Both agents of the demo share one pre-shared key, as peers must.

for name in source target; do
	echo
	echo "== dtcl -s $demo/$name/ctl.sock -c STATUS"
	"$DTCL" -s "$demo/$name/ctl.sock" -c STATUS
done
echo
echo "== replicating $demo/data from the source agent to the target agent"
"$DTCL" -s "$demo/source/ctl.sock" <<DTCL
REPSET CREATE demo
REPSET RULE ADD "$demo/data" INCLUDE RECURSIVE TO demo
\$c = CONNECT demo TO 127.0.0.1:21501 MAP "$demo/data" TO "$demo/replica"
WRITE "connection", \$c, "- full mirror running"
IF WAITONQUEUE \$c 60 > 0 THEN WRITE "mirror applied on the target" END
STATUS \$c
DTCL
echo
echo "== diff -r $demo/data $demo/replica"
if diff -r "$demo/data" "$demo/replica"; then
	echo "identical: $(find "$demo/replica" -type f | wc -l) files copied by the target agent"
else
	echo "demo: the copy differs" >&2
	exit 1
fi
echo
echo "== real-time replication: changing the source directory"
echo "changed at $(date)" >>"$demo/data/file1.txt"
mkdir "$demo/data/new-dir" && echo "created later" >"$demo/data/new-dir/note.txt"
mv "$demo/data/file2.txt" "$demo/data/file2-renamed.txt"
rm "$demo/data/file3.txt"
sleep 0.5
"$DTCL" -s "$demo/source/ctl.sock" -c 'WAITONQUEUE 1 30' >/dev/null
if diff -r "$demo/data" "$demo/replica"; then
	echo "identical again: the append, new directory, rename and removal were replicated"
else
	echo "demo: the copy differs after the changes" >&2
	exit 1
fi
echo "Logs: $demo/source/log/dtlog1.dtl and $demo/target/log/dtlog1.dtl"
echo "== stopping both agents"
