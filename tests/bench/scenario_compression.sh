#!/bin/bash
# Compression: wire bytes and throughput of a full mirror of a text-like and
# of a random corpus (CORPUS_MB MB each) with no compression, lz4 and zstd:
#   ditto  - MIRROR START FULL after COMPRESSION con NONE|LZ4|ZSTD; wire
#            bytes are the TCP payload the target's socket received (ss);
#   rsync  - rsync -a to an rsync daemon, with -z --compress-choice=lz4|zstd;
#            wire bytes from --stats ("Total bytes sent").
# Ditto's compression is set with the COMPRESSION command (zstd at its
# default level 3); a build without it gets "not available" rows.
# T_wall/T_cpu are set by timed() (lib.sh).
# shellcheck disable=SC2154
. "$(dirname "$0")/lib.sh"

bench_param title "compression: wire bytes and throughput, none/lz4/zstd"
bench_param corpora "text-like and random, ${CORPUS_MB} MB each (gen_dataset.py corpus)"
bench_param runs "$COMPRESS_RUNS"

for kind in text random; do
	mkdir -p "$SC_DIR/corpus/$kind"
	"$PY" "$BENCH_SRC/gen_dataset.py" corpus "$SC_DIR/corpus/$kind/data" --kind "$kind" \
		--size $((CORPUS_MB << 20)) --seed "${BENCH_SEED:-1}" >/dev/null || die "corpus failed"
done
start_rsyncd "$SC_DIR/rsync-root"

# Bytes the target agent's sockets have received so far.
tgt_rx() {
	ss -tinH state established "( sport = :$(agent_port tgt) )" 2>/dev/null |
		grep -o 'bytes_received:[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }'
}

declare -A DITTO_NA=()

ditto_run() { # KIND METHOD
	local kind=$1 m=$2
	local src="$SC_DIR/corpus/$kind" copy="$SC_DIR/copy" r0 r1 bytes out
	bytes=$(stat -c %s "$src/data")
	[ -n "${DITTO_NA[$m]:-}" ] && return
	rm -rf "$copy"
	start_agent src source
	start_agent tgt target
	dtcl_at src -c "REPSET CREATE z; REPSET RULE ADD \"$src\" INCLUDE TO z; CONNECT z TO 127.0.0.1:$(agent_port tgt) MAP \"$src\" TO \"$copy\" NOMIRROR NOREPLICATE; WAITONQUEUE 1 60" \
		>/dev/null || die "Ditto connect failed"
	if ! out=$(dtcl_at src -c "COMPRESSION 1 ${m^^}" 2>&1); then
		if [ "$m" = none ]; then
			# No COMPRESSION command at all: uncompressed is all there is.
			:
		else
			DITTO_NA[$m]=$(printf '%s' "$out" | head -n 1 | sed 's/ (.*//')
			wipe_agent src
			wipe_agent tgt
			return
		fi
	fi
	settle
	r0=$(tgt_rx)
	timed T "$DTCL" -s "$(agent_sock src)" -c 'MIRROR START 1 FULL; WAITONQUEUE 1 3000' >/dev/null 2>&1 ||
		die "Ditto mirror failed"
	r1=$(tgt_rx)
	bench_record ditto "$kind, $m: wire bytes" MB lower "$(fcalc "($r1 - $r0) / 1e6")"
	bench_record ditto "$kind, $m: throughput" MB/s higher "$(fcalc "$bytes / 1e6 / $T_wall")"
	log "ditto $kind $m: $T_wall s, $((r1 - r0)) wire bytes"
	same_tree "$src" "$copy" || die "Ditto copy differs"
	wipe_agent src
	wipe_agent tgt
	rm -rf "$copy"
}

rsync_run() { # KIND METHOD
	local kind=$1 m=$2
	local src="$SC_DIR/corpus/$kind" z=() bytes tool
	bytes=$(stat -c %s "$src/data")
	case $m in
	none) tool="rsync -a (daemon)" ;;
	*) tool="rsync -a -z $m (daemon)"; z=(-z --compress-choice="$m") ;;
	esac
	rm -rf "$SC_DIR/rsync-root/copy"
	settle
	timed T rsync -a "${z[@]}" --stats "$src/" "$(rsyncd_url copy/)" >"$SC_DIR/rsync.out" 2>&1 ||
		die "rsync failed: $(tail -n 3 "$SC_DIR/rsync.out")"
	bench_record "$tool" "$kind, $m: wire bytes" MB lower \
		"$(fcalc "$(sed -n 's/^Total bytes sent: //p' "$SC_DIR/rsync.out" | tr -d ,) / 1e6")"
	bench_record "$tool" "$kind, $m: throughput" MB/s higher "$(fcalc "$bytes / 1e6 / $T_wall")"
	log "$tool $kind: $T_wall s"
	same_tree "$src" "$SC_DIR/rsync-root/copy" || die "rsync copy differs"
	rm -rf "$SC_DIR/rsync-root/copy"
}

for _ in $(seq "$COMPRESS_RUNS"); do
	for kind in text random; do
		for m in none lz4 zstd; do
			ditto_run "$kind" "$m"
			rsync_run "$kind" "$m"
		done
	done
done
for m in lz4 zstd; do
	if [ -n "${DITTO_NA[$m]:-}" ]; then
		for kind in text random; do
			bench_na ditto "$kind, $m" "no compression in Ditto yet (COMPRESSION $m: ${DITTO_NA[$m]})"
		done
	fi
done
bench_note "Ditto zstd is level 3 (the default); wire bytes for Ditto are TCP payload received by the target agent (ss), for rsync its --stats 'Total bytes sent'"
