#include "config.h"

/* Fuzz target for the op codec: every op a peer sends or an xlog holds goes
 * through op_decode. Beyond not crashing, a decoded op must be valid, must
 * re-encode to exactly the input (the encoding is canonical) and must
 * survive op_copy unchanged. */

#include "op.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ditto_op op, cp;
	struct util_buf b;

	/* The raw input is also a path candidate: a valid one must hold
	 * none of the forbidden shapes. */
	if (size <= DITTO_PATH_MAX &&
	    op_path_valid((const char *)data, size) &&
	    (data[0] == '/' || memchr(data, 0, size)))
		abort();

	if (op_decode(data, size, &op) < 0)
		return 0;
	if (op_validate(&op, NULL) < 0)
		abort();
	/* Buffers are NUL-terminated one past their length. */
	if ((op.path && op.path[op.path_len]) ||
	    (op.path2 && op.path2[op.path2_len]) ||
	    (op.name && op.name[op.name_len]) ||
	    (op.data && op.data[op.data_len]))
		abort();
	util_buf_init(&b);
	if (op_encode(&op, &b) < 0 || b.len != size ||
	    op_encoded_size(&op) != size || memcmp(b.data, data, size) != 0)
		abort();
	if (op_copy(&cp, &op) < 0)
		abort();
	util_buf_reset(&b);
	if (op_encode(&cp, &b) < 0 || b.len != size ||
	    memcmp(b.data, data, size) != 0)
		abort();
	op_free(&cp);
	op_free(&op);
	util_buf_free(&b);
	return 0;
}
