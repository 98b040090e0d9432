/* console — dtcl's interactive console: libedit line editing and history,
 * multi-line blocks (an open IF/WHILE/FOR keeps reading), EXIT or end of
 * input to leave. */
#ifndef DITTO_CONSOLE_H
#define DITTO_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

struct dtcl_interp;

/* Runs until EXIT/QUIT or end of input; returns the last command's result.
 * *quit is polled after each statement so the EXIT command can end it. */
int64_t console_run(struct dtcl_interp *in, const bool *quit);

#endif
