#include "config.h"

/* Fuzz target for the ditto.conf loader: libconfig parsing plus Ditto's own
 * key table validation. conf_load only takes a path, so the input goes
 * through an anonymous memory file named by /proc/self/fd/N. */

#include "conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* @include opens files relative to /proc/self/fd: "0" would block on stdin
 * and "/dev/zero" never ends. Those are the parser's file handling, not
 * input validation, so such inputs are skipped. */
static bool has_include(const uint8_t *data, size_t size)
{
	static const char word[] = "@include";
	size_t wl = sizeof(word) - 1, i;

	for (i = 0; i + wl <= size; i++)
		if (strncasecmp((const char *)data + i, word, wl) == 0)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c;
	char path[64], err[512];
	size_t off = 0;
	int fd;

	if (has_include(data, size))
		return 0;
	fd = memfd_create("fuzz_conf", MFD_CLOEXEC);
	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);

		if (w <= 0) {
			perror("write memfd");
			abort();
		}
		off += (size_t)w;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(&c, 0, sizeof(c));
	err[0] = '\0';
	if (conf_load(&c, path, false, err, sizeof(err)) == 0) {
		struct util_buf out;

		/* Every accepted value must also format back. */
		util_buf_init(&out);
		conf_dump(&c, &out);
		util_buf_free(&out);
	} else if (err[0] == '\0') {
		/* A refused file must always say why. */
		abort();
	}
	conf_free(&c);
	close(fd);
	return 0;
}
