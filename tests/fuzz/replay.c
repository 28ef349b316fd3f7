/*
 * A fuzz target without libFuzzer: feeds it the files named on the command line (the
 * seeds under tests/fuzz/seeds/NAME/, kept crashes), each whole and cut short (at every
 * length up to REPLAY_CUTS, at REPLAY_CUTS even steps for longer files), so that `make test` (and its ASan pass) checks every target's invariants on
 * known inputs with the ordinary compiler. A broken invariant aborts (fuzzcheck.h);
 * the file being read is said first.
 *
 *   build/fuzz-replay/fuzz_NAME FILE...
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX (1u << 20)
#define REPLAY_CUTS 512

static int replay_file(const char *path, uint8_t *buf, size_t *count)
{
	FILE *f = fopen(path, "rb");
	size_t n, step;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX, f);
	fclose(f);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
	/* prefixes, the whole input last; each from its own copy so a read past the end
	 * is one ASan sees */
	step = n > REPLAY_CUTS ? n / REPLAY_CUTS : 1;
	for (size_t len = 0; len <= n; len = len < n && len + step > n ? n : len + step) {
		uint8_t *copy = malloc(len ? len : 1);

		if (!copy)
			return -1;
		memcpy(copy, buf, len);
		LLVMFuzzerTestOneInput(copy, len);
		free(copy);
		(*count)++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t *buf = malloc(REPLAY_MAX);
	size_t count = 0;
	int rc = 0;

	if (!buf)
		return 1;
	for (int i = 1; i < argc; i++)
		if (replay_file(argv[i], buf, &count) < 0)
			rc = 1;
	free(buf);
	printf("replay: %d files, %zu inputs\n", argc - 1, count);
	return rc;
}
