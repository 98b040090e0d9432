#!/bin/bash
# Installs the build dependencies (Debian 12, as root), builds Ditto in _build
# and then runs one job:
#   build.sh demo    two agents on this host and a demo directory (make demo)
#   build.sh check   the unit, fuzz-corpus and integration tests (make check)
#   build.sh build   just build
# DITTO_CONFIGURE_FLAGS adds configure options; DITTO_BUILD_DIR moves _build.
set -euo pipefail
job=${1:-build}
case "$job" in demo|check|build) ;; *) echo "usage: $0 demo|check|build" >&2; exit 2;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

DEPS=(build-essential autoconf automake libtool pkg-config
      libconfig-dev liblz4-dev libzstd-dev libssh2-1-dev libxxhash-dev
      libedit-dev libfuse3-dev libssl-dev libcriterion-dev
      python3 iproute2 util-linux procps passwd coreutils attr e2fsprogs)
missing=()
for p in "${DEPS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "build.sh: missing packages: ${missing[*]}; run as root or: apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "build.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi
fi
build=${DITTO_BUILD_DIR:-_build}
mkdir -p "$build"
cd "$build"
# shellcheck disable=SC2086
"$top/configure" --sysconfdir=/etc --localstatedir=/var --enable-werror \
	${DITTO_CONFIGURE_FLAGS:-} >configure.out || { cat configure.out; exit 1; }
make -j"$(nproc)"

case "$job" in
demo) make demo ;;
check)
	rc=0
	make check || rc=$?
	if [ $rc -ne 0 ]; then
		find . -name '*.log' -newer configure.out -not -name test-suite.log -print0 |
			xargs -0 grep -l -E '^(FAIL|ERROR)|^not ok' 2>/dev/null |
			while read -r f; do echo "=== $f"; tail -n 60 "$f"; done
	fi
	bash "$top/scripts/test-summary.sh" test-suite.log
	exit $rc ;;
esac
