#!/bin/bash
# dtcl as scripts and cron use it: -c, -f FILE, a FILE argument, standard
# input; variables keeping command results; IF/WHILE/FOR; exit status of the
# last command; a syntax error runs nothing.
. "$(dirname "$0")/lib.sh"

start_agent eps
s="$IT_DIR/script.dtcl"

cat >"$s" <<'DTCL'
# keep a result, branch on it
$r = STATUS
IF $r > 0 THEN
	WRITE "status ok", $r
ELSE
	WRITE "status failed"
END
$n = 0
WHILE $n < 3 DO
	$n = $n + 1
END
FOR $i = 1 TO 3 DO
	SET log.max_files = ($i + 4)
END
WRITE "n=" + $n
GET log.max_files
DTCL
expect_rc 0 "$DTCL" -s "$(agent_sock eps)" -f "$s"
expect_out '^status ok 1$'
expect_out '^n=3$'
expect_out '^log\.max_files = 7$'
expect_rc 0 "$DTCL" -s "$(agent_sock eps)" "$s"
expect_out '^status ok 1$'
OUT=$("$DTCL" -s "$(agent_sock eps)" <"$s" 2>&1) || fail "stdin script failed: $OUT"
expect_out '^n=3$'
pass "script from -f, FILE and stdin"

expect_rc 1 dtcl_at eps -c 'STATUS; GET nosuch.key'
expect_rc 0 dtcl_at eps -c 'GET nosuch.key; STATUS'
expect_rc 1 dtcl_at eps -c '$x = GET nosuch.key; IF $x < 0 THEN WRITE "caught", $x END'
expect_out '^caught -101$'
pass "exit status follows the last command; results can be tested"

printf 'SET log.max_files=9\nIF 1 THEN\n' >"$IT_DIR/broken.dtcl"
expect_rc 2 "$DTCL" -s "$(agent_sock eps)" -f "$IT_DIR/broken.dtcl"
expect_out 'broken\.dtcl:[23]'
expect_rc 0 dtcl_at eps -c 'GET log.max_files'
expect_out '= 7$'
pass "a syntax error runs nothing"

expect_rc 1 dtcl_at eps -c 'WRITE 1 / 0'
expect_rc 0 "$DTCL" -c 'HELP'
expect_out 'SET option=value'
expect_rc 0 "$DTCL" -c 'HELP status'
expect_rc 1 "$DTCL" -s "$IT_DIR/nowhere.sock" -c STATUS
expect_out 'cannot connect to the agent at .*nowhere\.sock'
expect_rc 2 "$DTCL" -f "$IT_DIR/nonexistent.dtcl"
expect_rc 2 "$DTCL" --bogus
pass "runtime errors, local HELP, unreachable agent, usage errors"

# The interactive console reads until EXIT; blocks span lines.
OUT=$(printf 'IF 1 THEN\nWRITE "inside"\nEND\nEXIT\nWRITE "after"\n' |
	"$DTCL" -i -s "$(agent_sock eps)" 2>&1) || fail "console failed: $OUT"
expect_out 'inside'
printf '%s\n' "$OUT" | grep -q '^after$' && fail "console ran past EXIT"
pass "console"
