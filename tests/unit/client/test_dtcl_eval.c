#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dtcl_eval.h"
#include "util.h"

/* Fake agent: logs each command as "T:text …" lines and answers CONNECT
 * with a connection ID, VERIFY with a configurable result, FAIL with -104
 * and anything else with 0. */
struct fake {
	struct util_buf log;
	int64_t verify_result;
	int ncalls;
};

static int64_t fake_exec(void *ctx, const struct dtcl_cmd *cmd)
{
	static const char tags[] = { 'W', 'S', 'N', 'P' };
	struct fake *f = ctx;
	size_t i;

	f->ncalls++;
	for (i = 0; i < cmd->argc; i++)
		util_buf_printf(&f->log, "%s%c:%s", i ? " " : "",
				tags[cmd->argv[i].type], cmd->argv[i].text);
	util_buf_puts(&f->log, "\n");
	if (strcasecmp(cmd->argv[0].text, "CONNECT") == 0)
		return 7;
	if (strcasecmp(cmd->argv[0].text, "VERIFY") == 0)
		return f->verify_result;
	if (strcasecmp(cmd->argv[0].text, "FAIL") == 0)
		return -104;
	if (strcasecmp(cmd->argv[0].text, "LINE") == 0)
		return cmd->line;
	return 0;
}

static struct fake fk;
static char *out_buf, *err_buf;
static size_t out_len, err_len;
static FILE *out_f, *err_f;
static struct dtcl_interp *in;

static void setup(void)
{
	memset(&fk, 0, sizeof(fk));
	util_buf_init(&fk.log);
	out_f = open_memstream(&out_buf, &out_len);
	err_f = open_memstream(&err_buf, &err_len);
	cr_assert(out_f && err_f);
	in = dtcl_interp_new(fake_exec, &fk, out_f, err_f);
}

static void teardown(void)
{
	dtcl_interp_free(in);
	fclose(out_f);
	fclose(err_f);
	free(out_buf);
	free(err_buf);
	util_buf_free(&fk.log);
}

static const char *out_text(void)
{
	fflush(out_f);
	return out_buf;
}

static const char *err_text(void)
{
	fflush(err_f);
	return err_buf;
}

static const char *log_text(void)
{
	return fk.log.data ? fk.log.data : "";
}

/* Runs text, expecting result `want` and WRITE output `out`. */
static void check_out(const char *text, int64_t want, const char *out)
{
	int64_t r = dtcl_interp_run(in, text, "t");

	cr_expect_eq(r, want, "[%s] returned %ld, want %ld (err: %s)", text,
		     (long)r, (long)want, err_text());
	cr_expect_str_eq(out_text(), out, "[%s] output [%s]", text, out_text());
}

static int64_t var_int(const char *name)
{
	int64_t v = -999;
	bool is_str = true;

	cr_assert_eq(dtcl_interp_get_var(in, name, &is_str, &v, NULL), 0,
		     "$%s undefined", name);
	cr_assert_not(is_str, "$%s is a string", name);
	return v;
}

TestSuite(dtcl_eval, .init = setup, .fini = teardown);

Test(dtcl_eval, arithmetic_precedence)
{
	check_out("WRITE 1 + 2 * 3, (1 + 2) * 3, 7 - 2 - 1, 7 / 2, -7 / 2, "
		  "7 % 3, -7 % 3, --4, 2 * -3",
		  0, "7 9 4 3 -3 1 -1 4 -6\n");
}

Test(dtcl_eval, comparisons_and_logic)
{
	check_out("WRITE 1 < 2, 2 <= 2, 3 > 4, 3 >= 4, 1 = 1, 1 == 2, "
		  "1 != 2, 1 <> 1",
		  0, "1 1 0 0 1 0 1 0\n");
	check_out("WRITE \"abc\" < \"abd\", \"b\" = \"b\", \"a\" <> \"a\", "
		  "\"\" < \"a\"",
		  0, "1 1 0 0 1 0 1 0\n1 1 0 1\n");
	check_out("WRITE 1 AND 0, 1 OR 0, NOT 0, NOT \"\", NOT \"x\", "
		  "1 < 2 AND 2 < 3, 0 OR \"\" OR 5",
		  0, "1 1 0 0 1 0 1 0\n1 1 0 1\n0 1 1 1 0 1 1\n");
}

Test(dtcl_eval, string_concat)
{
	check_out("$n = 3; WRITE \"n=\" + $n, $n + \"x\", "
		  "\"a\" + \"b\" + 1 + 2, 1 + 2 + \"c\"",
		  0, "n=3 3x ab12 3c\n");
}

Test(dtcl_eval, escapes_in_write)
{
	check_out("WRITE \"a\\tb\\n\\\"q\\\" \\\\\"", 0, "a\tb\n\"q\" \\\n");
}

Test(dtcl_eval, variables_case_insensitive_and_persistent)
{
	check_out("$Count = 5", 0, "");
	check_out("$count = $COUNT + 1; WRITE $cOuNt", 0, "6\n");
	cr_expect_eq(var_int("COUNT"), 6);
	cr_expect_eq(dtcl_interp_set_str(in, "Name", "x y"), 0);
	cr_expect_eq(dtcl_interp_set_int(in, "n2", -4), 0);
	cr_expect_eq(dtcl_interp_set_int(in, "2n", 1), -1);
	check_out("WRITE $name, $N2", 0, "6\nx y -4\n");
}

Test(dtcl_eval, if_else)
{
	check_out("IF 1 THEN WRITE \"a\" ELSE WRITE \"b\" END\n"
		  "IF 0 THEN WRITE \"c\" ELSE WRITE \"d\" END\n"
		  "IF \"\" THEN WRITE \"e\" END\n"
		  "IF \"x\" THEN\n  IF 0 THEN WRITE 1 ELSE WRITE 2 END\nEND",
		  0, "a\nd\n2\n");
}

Test(dtcl_eval, while_loop)
{
	check_out("$i = 0; $s = \"\"\n"
		  "WHILE $i < 5 DO\n  $i = $i + 1; $s = $s + $i\nEND\n"
		  "WRITE $i, $s",
		  0, "5 12345\n");
}

Test(dtcl_eval, for_loop)
{
	check_out("FOR $i = 1 TO 3 DO WRITE $i END", 0, "1\n2\n3\n");
	check_out("$n = 0; FOR $i = 5 TO 4 DO $n = 1 END; WRITE $n", 0,
		  "1\n2\n3\n0\n");
	cr_expect_eq(var_int("i"), 3, "no iteration leaves $i alone");
}

Test(dtcl_eval, for_end_evaluated_once)
{
	check_out("$n = 3; $c = 0\n"
		  "FOR $i = 1 TO $n DO $n = $n + 1; $c = $c + 1; $i = 100 END\n"
		  "WRITE $c, $n, $i",
		  0, "3 6 100\n");
}

Test(dtcl_eval, for_to_int64_max_terminates)
{
	check_out("$c = 0\n"
		  "FOR $i = 9223372036854775806 TO 9223372036854775807 DO "
		  "$c = $c + 1 END\nWRITE $c",
		  0, "2\n");
}

Test(dtcl_eval, write_forms)
{
	check_out("WRITE", 0, "\n");
	check_out("write \"x\", 1, \"\", -2", 0, "\nx 1  -2\n");
}

Test(dtcl_eval, command_set_size)
{
	check_out("SET queue.memory=128M", 0, "");
	cr_expect_str_eq(log_text(), "W:SET W:queue.memory P:= W:128M\n");
	cr_expect_eq(dtcl_interp_last_result(in), 0);
}

Test(dtcl_eval, command_negative_number)
{
	check_out("SET target.retry_limit=-1", 0, "");
	cr_expect_str_eq(log_text(),
			 "W:SET W:target.retry_limit P:= N:-1\n");
}

Test(dtcl_eval, command_connect_map_list)
{
	check_out("$c = CONNECT set1 TO tgt MAP \"a\" TO \"b\", \"c\" TO \"d\"",
		  7, "");
	cr_expect_str_eq(log_text(),
			 "W:CONNECT W:set1 W:TO W:tgt W:MAP S:a W:TO S:b P:, "
			 "S:c W:TO S:d\n");
	cr_expect_eq(var_int("c"), 7);
}

Test(dtcl_eval, command_threshold_percent)
{
	check_out("SCHEDULE 1 THRESHOLD 50%", 0, "");
	cr_expect_str_eq(log_text(),
			 "W:SCHEDULE N:1 W:THRESHOLD N:50 P:%\n");
}

Test(dtcl_eval, command_script_add)
{
	check_out("SCRIPT ADD 1 MIRRORSTART=\"/x\"", 0, "");
	cr_expect_str_eq(log_text(),
			 "W:SCRIPT W:ADD N:1 W:MIRRORSTART P:= S:/x\n");
}

Test(dtcl_eval, command_words_and_vars)
{
	check_out("$h = \"10.0.0.1\"; $n = 3\n"
		  "LOGIN host:1500 /dev/loop0 $h $n ($n * 2) ($h + \":1\")",
		  0, "");
	cr_expect_str_eq(log_text(),
			 "W:LOGIN W:host:1500 W:/dev/loop0 S:10.0.0.1 N:3 N:6 "
			 "S:10.0.0.1:1\n");
}

Test(dtcl_eval, connect_result_and_verify)
{
	fk.verify_result = -101;
	check_out("$c = CONNECT set1 TO tgt MAP EXACT\n"
		  "IF VERIFY $c CHECKSUM < 0 THEN WRITE \"bad\" END",
		  -101, "bad\n");
	cr_expect_str_eq(log_text(),
			 "W:CONNECT W:set1 W:TO W:tgt W:MAP W:EXACT\n"
			 "W:VERIFY N:7 W:CHECKSUM\n");
	cr_expect_eq(var_int("c"), 7);

	fk.verify_result = 5;
	check_out("IF VERIFY $c CHECKSUM < 0 THEN WRITE \"bad\" END", 5,
		  "bad\n");
}

Test(dtcl_eval, result_is_last_command)
{
	check_out("FAIL; STATUS", 0, "");
	check_out("STATUS; FAIL", -104, "");
	cr_expect_eq(dtcl_interp_last_result(in), -104);
	check_out("WRITE 1", 0, "1\n");
	cr_expect_eq(dtcl_interp_last_result(in), -104,
		     "a run without commands keeps the last result");
	check_out("\n\nLINE", 3, "1\n");
}

Test(dtcl_eval, and_or_short_circuit)
{
	check_out("$x = 0 AND STATUS 1; $y = 1 OR STATUS 2; "
		  "$z = 1 AND STATUS 3",
		  0, "");
	cr_expect_str_eq(log_text(), "W:STATUS N:3\n");
	cr_expect_eq(var_int("x"), 0);
	cr_expect_eq(var_int("y"), 1);
	cr_expect_eq(var_int("z"), 0);
}

Test(dtcl_eval, command_arithmetic)
{
	check_out("$x = CONNECT a TO b + 1; $y = (CONNECT a) % 4; "
		  "WRITE (CONNECT a), $x, $y",
		  7, "7 8 3\n");
	check_out("FOR $i = CONNECT x TO CONNECT y TO z DO END; WRITE $i", 7,
		  "7 8 3\n7\n");
}

Test(dtcl_eval, without_callback)
{
	struct dtcl_interp *bare = dtcl_interp_new(NULL, NULL, NULL, NULL);

	cr_expect_eq(dtcl_interp_run(bare, "STATUS", NULL), -1);
	cr_expect_eq(dtcl_interp_run(bare, "$x = 1 / 0", NULL), -101);
	cr_expect_eq(dtcl_interp_run(bare, "IF", NULL), -102);
	dtcl_interp_free(bare);
}

static void check_runtime_error(const char *text, const char *msg)
{
	size_t before;
	int64_t r;

	fflush(err_f);
	before = err_len;
	r = dtcl_interp_run(in, text, "s.dtcl");
	cr_expect_eq(r, -101, "[%s] returned %ld", text, (long)r);
	cr_expect_str_eq(err_text() + before, msg, "[%s]", text);
	cr_expect_eq(dtcl_interp_last_result(in), -101);
}

Test(dtcl_eval, runtime_errors)
{
	check_runtime_error("\n$x = 1 / 0", "s.dtcl:2: division by zero\n");
	check_runtime_error("$x = 1 % 0", "s.dtcl:1: modulo by zero\n");
	check_runtime_error("WRITE $nope",
			    "s.dtcl:1: undefined variable $nope\n");
	check_runtime_error("$x = \"a\" - 1",
			    "s.dtcl:1: '-' needs integers, not strings\n");
	check_runtime_error("$x = \"a\" * \"b\"",
			    "s.dtcl:1: '*' needs integers, not strings\n");
	check_runtime_error("$x = \"1\" < 2",
			    "s.dtcl:1: cannot compare a string with an "
			    "integer using <\n");
	check_runtime_error("$x = -\"a\"",
			    "s.dtcl:1: unary '-' needs an integer\n");
	check_runtime_error("$x = 9223372036854775807 + 1",
			    "s.dtcl:1: integer overflow in '+'\n");
	check_runtime_error("$x = -9223372036854775807 - 2",
			    "s.dtcl:1: integer overflow in '-'\n");
	check_runtime_error("$x = 4611686018427387904 * 2",
			    "s.dtcl:1: integer overflow in '*'\n");
	check_runtime_error("$m = -9223372036854775807 - 1; $x = $m / -1",
			    "s.dtcl:1: integer overflow in '/'\n");
	check_runtime_error("$x = -$m",
			    "s.dtcl:1: integer overflow in unary '-'\n");
	check_runtime_error("FOR $i = \"a\" TO 2 DO END",
			    "s.dtcl:1: FOR bounds must be integers\n");
	check_runtime_error("STATUS $undefined",
			    "s.dtcl:1: undefined variable $undefined\n");
	cr_expect_eq(fk.ncalls, 0, "a command with a bad argument never runs");
	cr_expect_eq(var_int("m"), INT64_MIN);
	check_out("WRITE $m % -1", 0, "0\n");
}

Test(dtcl_eval, runtime_error_stops_script)
{
	check_out("WRITE 1\nWRITE 1 / 0\nWRITE 2", -101, "1\n");
	cr_expect_str_eq(err_text(), "t:2: division by zero\n");
	check_out("WRITE \"a\", 1 / 0", -101, "1\n");
}

Test(dtcl_eval, syntax_error_runs_nothing)
{
	check_out("WRITE 1\nSTATUS\nIF 1 THEN\n", -102, "");
	cr_expect_eq(fk.ncalls, 0);
	cr_expect_str_eq(err_text(),
			 "t:3: expected END to close IF from line 3, "
			 "got end of input\n");
	cr_expect_eq(dtcl_interp_last_result(in), -102);
}

Test(dtcl_eval, max_steps_stops_infinite_loop)
{
	dtcl_interp_set_max_steps(in, 1000);
	check_out("WHILE 1 DO END", -101, "");
	cr_expect_str_eq(err_text(), "t:1: step limit of 1000 exceeded\n");
	check_out("FOR $i = 1 TO 9223372036854775807 DO END", -101, "");
	/* The budget is per run, so a fresh run still works. */
	check_out("$i = 0; WHILE $i < 50 DO $i = $i + 1 END; WRITE $i", 0,
		  "50\n");
}

Test(dtcl_eval, max_string)
{
	dtcl_interp_set_max_string(in, 8);
	check_out("$s = \"abcd\" + \"efgh\"; WRITE $s", 0, "abcdefgh\n");
	check_out("$s = $s + \"i\"", -101, "abcdefgh\n");
	cr_expect_str_eq(err_text(), "t:1: string longer than 8 bytes\n");
}

Test(dtcl_eval, text_incomplete)
{
	cr_expect(dtcl_text_incomplete("IF 1 THEN"));
	cr_expect(dtcl_text_incomplete("IF $x = 1 THEN\n  WRITE 1\n"));
	cr_expect(dtcl_text_incomplete("IF 1 THEN WRITE 1 ELSE\n"));
	cr_expect(dtcl_text_incomplete("WHILE 1 DO\n"));
	cr_expect(dtcl_text_incomplete("FOR $i = 1 TO 3 DO"));
	cr_expect(dtcl_text_incomplete("FOR $i = 1 TO"));
	cr_expect(dtcl_text_incomplete("IF 1 THEN\nWHILE 1 DO END\n"));
	cr_expect(dtcl_text_incomplete("WRITE \"abc"));
	cr_expect(dtcl_text_incomplete("WRITE \"abc\\"));
	cr_expect(dtcl_text_incomplete("SET x=\"a\nb"));

	cr_expect_not(dtcl_text_incomplete(""));
	cr_expect_not(dtcl_text_incomplete("WRITE 1"));
	cr_expect_not(dtcl_text_incomplete("IF 1 THEN WRITE 1 END"));
	cr_expect_not(dtcl_text_incomplete("WRITE \"abc\""));
	cr_expect_not(dtcl_text_incomplete("# IF 1 THEN"));
	cr_expect_not(dtcl_text_incomplete("WRITE (1 +"));
	cr_expect_not(dtcl_text_incomplete("IF 1 THEN @"));
	cr_expect_not(dtcl_text_incomplete("END"));
	cr_expect_not(dtcl_text_incomplete("HELP IF"));
}

Test(dtcl_eval, console_line_by_line)
{
	const char *lines[] = { "$n = 2\n", "IF $n > 1 THEN\n",
				"  WRITE \"big\"\n", "END\n", "WRITE $n\n" };
	struct util_buf pending;
	size_t i;

	util_buf_init(&pending);
	for (i = 0; i < UTIL_ARRAY_SIZE(lines); i++) {
		util_buf_puts(&pending, lines[i]);
		if (dtcl_text_incomplete(pending.data))
			continue;
		cr_expect_eq(dtcl_interp_run(in, pending.data, "<stdin>"), 0);
		util_buf_reset(&pending);
	}
	cr_expect_eq(pending.len, 0);
	cr_expect_str_eq(out_text(), "big\n2\n");
	util_buf_free(&pending);
}
