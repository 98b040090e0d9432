#!/bin/bash
# Real-time replication between two agents through a capture plugin
# (fanotify by default): after a mirror, every kind of change made under the set (create,
# write, append, truncate, write-to-temp-then-rename, mkdir then write at
# once, renames inside, out of and into the set, chmod, chown, symlinks,
# rm -r) appears on the target, which ends equal to the source in content,
# type, mode, owner, link targets and file times.
# CAPTURE_PLUGIN picks the capture plugin (replicate_realtime_inotify.sh
# runs this scenario again with inotify).
. "$(dirname "$0")/lib.sh"
plugin=${CAPTURE_PLUGIN:-fanotify}
[ "$plugin" = fanotify ] && need_root "fanotify filesystem marks need CAP_SYS_ADMIN"

plugins="$DITTO_BUILDDIR/plugins/.libs"
[ -f "$plugins/$plugin.so" ] || fail "no $plugin plugin in $plugins"
key="$IT_DIR/peer.key"
tport=$(free_port)
mkdir -p "$(agent_dir src)"
printf 'agent = { plugin_dir = "%s"; };\ncapture = { plugin = "%s"; };\n' "$plugins" "$plugin" \
	>"$(agent_dir src)/ditto.conf"
start_agent src --key-file "$key"
start_agent tgt --key-file "$key" --listen "127.0.0.1:$tport"

data="$IT_DIR/data"
outside="$IT_DIR/outside"
mkdir -p "$data/keep" "$outside/dir"
echo before >"$data/keep/old.txt"
echo outside >"$outside/dir/f"

wait_equal() { wait_same src 1 "$data" "$IT_DIR/copy" "$1"; }

expect_rc 0 dtcl_at src -c "REPSET CREATE rt; REPSET RULE ADD \"$data\" INCLUDE TO rt; \$c = CONNECT rt TO 127.0.0.1:$tport MAP \"$data\" TO \"$IT_DIR/copy\"; WAITONQUEUE \$c 60"
expect_rc 0 dtcl_at src -c 'STATUS 1'
expect_out 'Replication state: +Replicating$'
agent_log src | grep -q "Source module loaded (capture plugin $plugin)" || fail "plugin $plugin not in use"
wait_equal "mirror differs"
pass "mirror, then replication running"

echo one >"$data/new.txt"
printf 'more\n' >>"$data/keep/old.txt"
head -c 200000 /dev/urandom >"$data/big"
truncate -s 1000 "$data/big"
echo tmp >"$data/.save.tmp" && mv "$data/.save.tmp" "$data/saved.txt"
mkdir -p "$data/fresh/deep" && echo fast >"$data/fresh/deep/f"
wait_equal "creates and writes not replicated"
pass "create, write, append, truncate, temp-then-rename, mkdir-then-write"

mv "$data/new.txt" "$data/keep/renamed.txt"
mv "$data/fresh" "$data/moved"
mv "$data/saved.txt" "$outside/"
mv "$outside/dir" "$data/came-in"
wait_equal "renames not replicated"
pass "renames inside, out of and into the set"

chmod 0600 "$data/keep/renamed.txt"
chown 4321:8765 "$data/big"
chmod 0750 "$data/keep"
ln -s renamed.txt "$data/keep/link"
ln -s /nowhere "$data/dangling"
rm -rf "$data/moved"
rm "$data/big"
wait_equal "attributes, symlinks or removals not replicated"
[ -e "$IT_DIR/copy/moved" ] && fail "removed tree still on the target"
[ -e "$outside/saved.txt" ] || fail "test setup"
pass "chmod, chown, symlinks, rm -r, unlink"

# Many small changes in a burst, then one final state.
for i in $(seq 200); do echo "$i" >"$data/burst$((i % 20))"; done
for i in $(seq 0 9); do rm "$data/burst$i"; done
wait_equal "burst not replicated"
pass "a burst of 200 writes and 10 removals"
