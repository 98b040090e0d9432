#!/bin/sh
# Runs one unit test program so that it speaks TAP to automake's tap-driver:
# Criterion programs take --tap; the fuzz replayers print TAP themselves and
# ignore options starting with "--".
exec "$@" --tap=-
