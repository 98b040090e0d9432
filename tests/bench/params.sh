# shellcheck shell=bash
# Sizes of the benchmark, by mode. Every value can be overridden from the
# environment (e.g. BENCH_RUNS=7 DATASET_LARGE_MB=200 make bench).
# bench_params quick|full
bench_params() {
	BENCH_MODE=$1
	case $1 in
	quick)
		# ~190 MB: 2,000 small files (512 B..256 KiB) + 4 x 24 MiB.
		: "${DATASET_SMALL:=2000}" "${DATASET_SMALL_MAX:=262144}"
		: "${DATASET_LARGE:=4}" "${DATASET_LARGE_MB:=24}"
		: "${BENCH_RUNS:=3}" "${MIRROR_NOREPLICATE:=0}"
		: "${CHECKSUM_SMALL_FILES:=10}"
		: "${LAG_RUNS:=1}" "${LAG_SECONDS:=8}" "${LAG_RATE_MB:=20}" "${LAG_DRAIN_S:=30}"
		: "${FIO_SIZE_MB:=256}" "${FIO_SECONDS:=4}" "${FIO_RUNS:=2}"
		: "${BACKLOG_MB:=256}" "${BACKLOG_RUNS:=1}"
		: "${CORPUS_MB:=32}" "${COMPRESS_RUNS:=2}"
		: "${SCENARIO_LIMIT:=300}"
		;;
	full)
		# ~1 GiB: 5,000 small files + 8 x 100 MiB.
		: "${DATASET_SMALL:=5000}" "${DATASET_SMALL_MAX:=262144}"
		: "${DATASET_LARGE:=8}" "${DATASET_LARGE_MB:=100}"
		: "${BENCH_RUNS:=5}" "${MIRROR_NOREPLICATE:=1}"
		: "${CHECKSUM_SMALL_FILES:=25}"
		: "${LAG_RUNS:=3}" "${LAG_SECONDS:=15}" "${LAG_RATE_MB:=20}" "${LAG_DRAIN_S:=40}"
		: "${FIO_SIZE_MB:=1024}" "${FIO_SECONDS:=10}" "${FIO_RUNS:=3}"
		: "${BACKLOG_MB:=2048}" "${BACKLOG_RUNS:=1}"
		: "${CORPUS_MB:=256}" "${COMPRESS_RUNS:=3}"
		: "${SCENARIO_LIMIT:=1500}"
		;;
	*)
		echo "unknown mode $1 (quick or full)" >&2
		return 1
		;;
	esac
	export BENCH_MODE DATASET_SMALL DATASET_SMALL_MAX DATASET_LARGE DATASET_LARGE_MB \
		BENCH_RUNS MIRROR_NOREPLICATE CHECKSUM_SMALL_FILES LAG_RUNS LAG_SECONDS LAG_RATE_MB LAG_DRAIN_S \
		FIO_SIZE_MB FIO_SECONDS FIO_RUNS BACKLOG_MB BACKLOG_RUNS CORPUS_MB \
		COMPRESS_RUNS SCENARIO_LIMIT
}
