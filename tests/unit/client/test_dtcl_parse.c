#include "config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dtcl_parse.h"
#include "util.h"

static void check(const char *text, const char *want)
{
	struct dtcl_parse_error err;
	struct dtcl_ast *prog;
	char *got;

	if (dtcl_parse_text(text, &prog, &err) < 0)
		cr_assert_fail("parsing [%s] failed at line %d: %s", text,
			       err.line, err.msg);
	got = dtcl_ast_dump(prog);
	cr_expect_str_eq(got, want, "parsing [%s]", text);
	free(got);
	dtcl_ast_free(prog);
}

/* Expects a syntax error on line `line` whose message contains `what`. */
static void check_error(const char *text, int line, const char *what)
{
	struct dtcl_parse_error err;
	struct dtcl_ast *prog = (struct dtcl_ast *)1;

	cr_assert_eq(dtcl_parse_text(text, &prog, &err), -1,
		     "[%s] should not parse", text);
	cr_expect_null(prog);
	cr_expect_eq(err.line, line, "[%s]: line %d, want %d (%s)", text,
		     err.line, line, err.msg);
	cr_expect(strstr(err.msg, what) != NULL,
		  "[%s]: message '%s' lacks '%s'", text, err.msg, what);
}

Test(dtcl_parse, empty_and_blank_statements)
{
	check("", "(block)");
	check(";;\n\n ; # just a comment\n", "(block)");
}

Test(dtcl_parse, assignment_and_precedence)
{
	check("$x = 1 + 2 * 3", "(block (assign x (+ 1 (* 2 3))))");
	check("$X = (1 + 2) * -3 % 4",
	      "(block (assign x (% (* (+ 1 2) (neg 3)) 4)))");
	check("$a = 10 - 4 - 3", "(block (assign a (- (- 10 4) 3)))");
	check("$a = 1 < 2 AND NOT $b = 3 OR 0",
	      "(block (assign a (or (and (< 1 2) (not (== $b 3))) 0)))");
	check("$s = \"a\" + $t", "(block (assign s (+ \"a\" $t)))");
	check("$c = $a <> $b; $d = $a >= 1",
	      "(block (assign c (!= $a $b)) (assign d (>= $a 1)))");
}

Test(dtcl_parse, expression_statement)
{
	check("$x", "(block (expr $x))");
	check("$x == 1", "(block (expr (== $x 1)))");
	check("(1)", "(block (expr 1))");
}

Test(dtcl_parse, if_else)
{
	check("IF $x THEN WRITE 1 END", "(block (if $x (block (write 1))))");
	check("if $x then\n write 1\nelse\n write 2, \"b\"\nend",
	      "(block (if $x (block (write 1)) (block (write 2 \"b\"))))");
	check("IF 1 THEN ELSE END", "(block (if 1 (block) (block)))");
}

Test(dtcl_parse, while_and_for)
{
	check("WHILE $i < 3 DO $i = $i + 1 END",
	      "(block (while (< $i 3) (block (assign i (+ $i 1)))))");
	check("FOR $i = 1 TO $n * 2 DO WRITE $i END",
	      "(block (for i 1 (* $n 2) (block (write $i))))");
	check("WRITE", "(block (write))");
}

Test(dtcl_parse, nested_blocks)
{
	check("FOR $i = 1 TO 3 DO\n"
	      "  IF $i % 2 THEN\n"
	      "    WHILE 0 DO END\n"
	      "  ELSE\n"
	      "    IF 1 THEN WRITE \"x\" END\n"
	      "  END\n"
	      "END\n",
	      "(block (for i 1 3 (block (if (% $i 2) (block (while 0 (block))) "
	      "(block (if 1 (block (write \"x\"))))))))");
}

Test(dtcl_parse, commands)
{
	check("SET queue.memory=128M",
	      "(block (expr (cmd SET queue.memory '=' 128M)))");
	check("SET target.retry_limit=-1",
	      "(block (expr (cmd SET target.retry_limit '=' -1)))");
	check("CONNECT set1 TO tgt MAP \"a\" TO \"b\", \"c\" TO \"d\"",
	      "(block (expr (cmd CONNECT set1 TO tgt MAP \"a\" TO \"b\" ',' "
	      "\"c\" TO \"d\")))");
	check("SCHEDULE 1 THRESHOLD 50%",
	      "(block (expr (cmd SCHEDULE 1 THRESHOLD 50 '%')))");
	check("SCRIPT ADD 1 MIRRORSTART=\"/x\"",
	      "(block (expr (cmd SCRIPT ADD 1 MIRRORSTART '=' \"/x\")))");
	check("LOGIN host:1500; REPSET DEVICE ADD /dev/loop0 TO s",
	      "(block (expr (cmd LOGIN host:1500)) "
	      "(expr (cmd REPSET DEVICE ADD /dev/loop0 TO s)))");
	check("STATUS $c ($n + 1)",
	      "(block (expr (cmd STATUS $c (+ $n 1))))");
}

Test(dtcl_parse, command_as_expression)
{
	check("$c = CONNECT set1 TO tgt MAP EXACT",
	      "(block (assign c (cmd CONNECT set1 TO tgt MAP EXACT)))");
	check("IF VERIFY $c CHECKSUM < 0 THEN WRITE \"bad\" END",
	      "(block (if (< (cmd VERIFY $c CHECKSUM) 0) "
	      "(block (write \"bad\"))))");
	check("IF NOT STATUS 1 AND STATUS 2 == 3 THEN END",
	      "(block (if (and (not (cmd STATUS 1)) (== (cmd STATUS 2) 3)) "
	      "(block)))");
	check("WHILE WAITONQUEUE 1 5 != 0 DO SLEEP 1 END",
	      "(block (while (!= (cmd WAITONQUEUE 1 5) 0) "
	      "(block (expr (cmd SLEEP 1)))))");
	check("IF 1 THEN STATUS ELSE STATUS 2 END",
	      "(block (if 1 (block (expr (cmd STATUS))) "
	      "(block (expr (cmd STATUS 2)))))");
	check("$x = STATUS 4 - 2 + 1 * 3",
	      "(block (assign x (+ (- (cmd STATUS 4) 2) (* 1 3))))");
	check("WRITE (STATUS 1), 2",
	      "(block (write (cmd STATUS 1) 2))");
	check("HELP if while not", "(block (expr (cmd HELP if while not)))");
}

Test(dtcl_parse, for_bounds_with_commands)
{
	/* TO ends a command in the start bound; the end bound runs to DO. */
	check("FOR $i = COUNT x TO COUNT y TO z DO END",
	      "(block (for i (cmd COUNT x) (cmd COUNT y TO z) (block)))");
	check("FOR $i = (CONNECT a TO b) TO 2 DO END",
	      "(block (for i (cmd CONNECT a TO b) 2 (block)))");
}

Test(dtcl_parse, keywords_case_insensitive)
{
	check("If 1 tHeN wRiTe 1 eLsE WRITE 2 End",
	      "(block (if 1 (block (write 1)) (block (write 2))))");
	check("for $I = 1 to 2 do end", "(block (for i 1 2 (block)))");
}

Test(dtcl_parse, syntax_errors)
{
	check_error("WRITE 1\n\nWRITE \"abc", 3, "unterminated string");
	check_error("IF 1 THEN\n  WRITE 1\n", 2, "expected END to close IF");
	check_error("\nWHILE 1 DO\nWRITE 2", 3,
		    "expected END to close WHILE from line 2");
	check_error("\n\nIF 1 WRITE 2 END", 3, "expected THEN");
	check_error("WHILE 1 WRITE 2 END", 1, "expected DO");
	check_error("WRITE 1\n$x = 1 @ 2", 2, "unexpected character '@'");
	check_error("$x = ", 1, "expected an expression");
	check_error("$x = (1 + 2", 1, "expected ')'");
	check_error("END", 1, "END without a block");
	check_error("IF 1 THEN\nELSE\nELSE\nEND", 3,
		    "expected END to close IF");
	check_error("WHILE 1 DO ELSE END", 1, "expected END to close WHILE");
	check_error("FOR i = 1 TO 2 DO END", 1, "expected a $variable");
	check_error("FOR $i 1 TO 2 DO END", 1, "expected '='");
	check_error("FOR $i = 1 DO END", 1, "expected TO");
	check_error("$x = 1 2", 1, "expected end of statement");
	check_error("$x = THEN", 1, "keyword THEN");
	check_error("THEN", 1, "unexpected THEN");
	check_error("SET x ! y", 1, "unexpected character");
	check_error("$x = 99999999999999999999", 1, "integer out of range");
	check_error("WRITE 1,", 1, "expected an expression");
	check_error("\"a\\z\"", 1, "bad escape");
}

Test(dtcl_parse, incomplete_flag)
{
	struct dtcl_parse_error err;
	struct dtcl_ast *prog;

	cr_assert_eq(dtcl_parse_text("IF 1 THEN\n", &prog, &err), -1);
	cr_expect(err.incomplete);
	cr_assert_eq(dtcl_parse_text("WRITE \"abc\n", &prog, &err), -1);
	cr_expect(err.incomplete);
	cr_assert_eq(dtcl_parse_text("WRITE (1 +", &prog, &err), -1);
	cr_expect_not(err.incomplete);
	cr_assert_eq(dtcl_parse_text("IF 1 THEN @", &prog, &err), -1);
	cr_expect_not(err.incomplete);
}

Test(dtcl_parse, nesting_limit)
{
	struct dtcl_parse_error err;
	struct dtcl_ast *prog;
	struct util_buf b;
	int i;

	util_buf_init(&b);
	util_buf_puts(&b, "$x = ");
	for (i = 0; i < 5000; i++)
		util_buf_puts(&b, "(");
	cr_expect_eq(dtcl_parse_text(b.data, &prog, &err), -1);
	cr_expect(strstr(err.msg, "nesting") != NULL, "%s", err.msg);

	util_buf_reset(&b);
	util_buf_puts(&b, "$x = 1");
	for (i = 0; i < 5000; i++)
		util_buf_puts(&b, " + 1");
	cr_expect_eq(dtcl_parse_text(b.data, &prog, &err), -1);
	cr_expect(strstr(err.msg, "nested") != NULL, "%s", err.msg);

	util_buf_reset(&b);
	for (i = 0; i < 5000; i++)
		util_buf_puts(&b, "IF 1 THEN ");
	cr_expect_eq(dtcl_parse_text(b.data, &prog, &err), -1);
	cr_expect(strstr(err.msg, "nesting") != NULL, "%s", err.msg);

	util_buf_reset(&b);
	for (i = 0; i < 50; i++)
		util_buf_puts(&b, "IF 1 THEN ");
	for (i = 0; i < 50; i++)
		util_buf_puts(&b, "END\n");
	cr_expect_eq(dtcl_parse_text(b.data, &prog, &err), 0, "%s", err.msg);
	dtcl_ast_free(prog);
	util_buf_free(&b);
}
