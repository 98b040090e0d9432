#!/bin/bash
# Prints one closing line "tests: N passed, N failed, N skipped" summed over
# the automake test-suite.log files given.
p=0 f=0 s=0
for log in "$@"; do
	[ -f "$log" ] || continue
	v() { sed -n "s/^# $1: *//p" "$log" | head -n 1; }
	p=$((p + $(v PASS))); s=$((s + $(v SKIP)))
	f=$((f + $(v FAIL) + $(v XPASS) + $(v ERROR)))
done
echo "tests: $p passed, $f failed, $s skipped"
