#include "config.h"

/* Capture plugins the agent must refuse, one per build flag:
 *   (none)             an entry whose table claims another ABI version
 *   -DBAD_PLUGIN_SIZE  the right version but a table too small
 *   -DBAD_PLUGIN_NOSYM no ditto_capture_plugin symbol at all */

#include "ditto/capture.h"

#define PLUGIN_EXPORT __attribute__((visibility("default")))

#ifdef BAD_PLUGIN_NOSYM

int ditto_not_a_capture_plugin(void);

PLUGIN_EXPORT int ditto_not_a_capture_plugin(void)
{
	return 42;
}

#else

static const struct ditto_capture_ops bad_ops = {
#ifdef BAD_PLUGIN_SIZE
	.abi_version = DITTO_CAPTURE_ABI_VERSION,
	.struct_size = 2 * sizeof(uint32_t),
#else
	.abi_version = DITTO_CAPTURE_ABI_VERSION + 98,
	.struct_size = sizeof(struct ditto_capture_ops),
#endif
	.name = "bad",
	.description = "refused by design",
	/* no callbacks: the host must never get as far as calling one */
};

PLUGIN_EXPORT const struct ditto_capture_ops *ditto_capture_plugin(void)
{
	return &bad_ops;
}

#endif
