/*
 * libFuzzer target: policy records (core/polrec.h).
 *
 * The input is opened as it is (almost always refused: the tag), and, sealed first
 * as a text under the fuzz key, opened again: what opens is the text that went in,
 * NUL-terminated, and the same header. Inputs holding a NUL are refused at sealing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/polrec.h"
#include "fuzzcheck.h"

static const uint8_t KEY[32] = "fuzz-policy-key-fuzz-policy-key";
static const uint8_t NONCE[ZT_POLREC_NONCE_LEN] = "fuzz-nonce!!";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[ZT_POLREC_TEXT_MAX + 1];
	static uint8_t rec[ZT_POLREC_TEXT_MAX + ZT_POLREC_OVERHEAD];
	struct zt_polrec r = { .seq = size, .issued_ms = 1800000000000ULL }, got;
	int n, m;

	n = zt_polrec_open(data, size, KEY, sizeof(KEY), &got, out, sizeof(out));
	check(n < 0 || (size_t)n + ZT_POLREC_OVERHEAD == size);
	if (size > ZT_POLREC_TEXT_MAX)
		return 0;
	n = zt_polrec_seal(rec, sizeof(rec), &r, (const char *)data, size, NONCE, KEY, sizeof(KEY));
	if (memchr(data, '\0', size)) {
		check(n == -EINVAL);
		return 0;
	}
	check(n == (int)(size + ZT_POLREC_OVERHEAD));
	m = zt_polrec_open(rec, (size_t)n, KEY, sizeof(KEY), &got, out, sizeof(out));
	check(m == (int)size && !memcmp(out, data, size) && out[size] == '\0');
	check(got.seq == r.seq && got.issued_ms == r.issued_ms);
	return 0;
}
