#!/bin/bash
# The real-time replication scenario again with the inotify capture plugin
# (the fallback for agents without CAP_SYS_ADMIN).
CAPTURE_PLUGIN=inotify exec bash "$(dirname "$0")/replicate_realtime.sh" "$@"
