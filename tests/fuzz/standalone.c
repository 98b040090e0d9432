#include "config.h"

/* Driver for fuzz targets built without libFuzzer: replays a corpus through
 * LLVMFuzzerTestOneInput once per file and reports TAP, so `make check` keeps
 * every seed (and every crash reproducer added to the corpus) passing.
 * A crash is left to kill the process: the harness reports the signal. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct list {
	char **v;
	size_t n, cap;
};

static void die(const char *what, const char *path)
{
	fprintf(stderr, "fuzz replay: %s: %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void add(struct list *l, char *path)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v) {
			perror("fuzz replay");
			exit(1);
		}
	}
	l->v[l->n++] = path;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		perror("fuzz replay");
		exit(1);
	}
	return p;
}

/* Regular files directly inside dir; dot files (editor leftovers, .gitkeep)
 * are no inputs. */
static void add_dir(struct list *l, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		die("cannot open corpus", dir);
	while ((e = readdir(d))) {
		struct stat st;
		char *path;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		len = strlen(dir) + strlen(e->d_name) + 2;
		path = malloc(len);
		if (!path) {
			perror("fuzz replay");
			exit(1);
		}
		snprintf(path, len, "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			add(l, path);
		else
			free(path);
	}
	closedir(d);
}

static void add_arg(struct list *l, const char *arg)
{
	struct stat st;

	if (stat(arg, &st) < 0)
		die("cannot open corpus", arg);
	if (S_ISDIR(st.st_mode))
		add_dir(l, arg);
	else
		add(l, xstrdup(arg));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Exactly size bytes on the heap, so ASan flags any read past the input. */
static uint8_t *slurp(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf = NULL;
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size < 0)
		goto fail;
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		goto fail;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto fail;
		got += (size_t)r;
	}
	close(fd);
	*size = got;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct list l = { NULL, 0, 0 };
	int i, named = 0, failed = 0;
	size_t k;

	/* Options are the harness's (e.g. --tap=-), not ours. */
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) == 0)
			continue;
		add_arg(&l, argv[i]);
		named++;
	}
	if (!named) {
#ifdef FUZZ_CORPUS
		add_arg(&l, FUZZ_CORPUS);
#else
		fprintf(stderr, "usage: %s CORPUS-DIR|FILE...\n", argv[0]);
		return 1;
#endif
	}
	if (l.n == 0) {
		printf("1..0 # SKIP no corpus\n");
		return 0;
	}
	qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	printf("1..%zu\n", l.n);
	fflush(stdout);
	for (k = 0; k < l.n; k++) {
		size_t size = 0;
		uint8_t *data = slurp(l.v[k], &size);

		if (!data) {
			printf("not ok %zu - %s # cannot read: %s\n", k + 1,
			       l.v[k], strerror(errno));
			failed = 1;
		} else {
			/* Announce first so a crash names its input. */
			fprintf(stderr, "# running %s (%zu bytes)\n", l.v[k], size);
			LLVMFuzzerTestOneInput(data, size);
			printf("ok %zu - %s\n", k + 1, l.v[k]);
			free(data);
		}
		fflush(stdout);
		free(l.v[k]);
	}
	free(l.v);
	return failed;
}
