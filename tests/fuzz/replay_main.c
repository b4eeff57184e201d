/*
 * replay_main.c - run a libFuzzer harness without libFuzzer: feed it every
 * file of its seed corpus, every prefix of each file and every one-bit flip
 * of each file, so that `make check` exercises each parser under the
 * sanitizers.  Arguments: files or directories (default: FUZZ_CORPUS, set
 * at build time to the harness's corpus directory).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_MAX_INPUT (1024 * 1024)

static int
run_file(const char *path)
{
	FILE *f;
	uint8_t *buf, *copy;
	size_t n, i;
	int bit;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(REPLAY_MAX_INPUT);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	/* each prefix in its own exact-size buffer, so ASan sees overreads */
	for (i = 0; i <= n; i++) {
		if ((copy = malloc(i == 0 ? 1 : i)) == NULL)
			break;
		memcpy(copy, buf, i);
		LLVMFuzzerTestOneInput(copy, i);
		free(copy);
	}
	if ((copy = malloc(n == 0 ? 1 : n)) != NULL) {
		memcpy(copy, buf, n);
		for (i = 0; i < n && i < 4096; i++)
			for (bit = 0; bit < 8; bit++) {
				copy[i] ^= (uint8_t)(1 << bit);
				LLVMFuzzerTestOneInput(copy, n);
				copy[i] ^= (uint8_t)(1 << bit);
			}
		free(copy);
	}
	free(buf);
	return 0;
}

static int
run_path(const char *path, size_t *count)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	char sub[4096];
	int r = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= sizeof(sub))
			continue;
		if (run_path(sub, count) != 0)
			r = -1;
	}
	closedir(d);
	return r;
}

int
main(int argc, char **argv)
{
	size_t count = 0;
	int i, r = 0;

	if (argc < 2)
		r = run_path(FUZZ_CORPUS, &count);
	for (i = 1; i < argc; i++)
		if (run_path(argv[i], &count) != 0)
			r = 1;
	if (count == 0) {
		fprintf(stderr, "no corpus files found\n");
		return 1;
	}
	printf("%zu corpus files replayed\n", count);
	return r == 0 ? 0 : 1;
}
