#!/bin/sh
# Runs one unit test program so that it speaks TAP to automake's tap-driver:
# Criterion programs take --tap; the fuzz replayers print TAP themselves and
# ignore options starting with "--".
case "$1" in
*plugins/test_*)
	# Capture tests watch whole filesystems: tests running side by side
	# would see each other's events (and stale handles), so one at a time.
	exec "$@" --tap=- -j1 ;;
esac
exec "$@" --tap=-
