/*
 * libFuzzer target: policy records (core/polrec.h).
 *
 * The input is opened as it is (almost always refused: the tag), and, sealed first
 * as a text under the fuzz key, opened again: what opens is the text that went in,
 * NUL-terminated, and the same header. Inputs holding a NUL are refused at sealing.
 * Inputs of odd length are sealed as signed records (version 2, a trailer of fuzz
 * bytes), which open with the trailer as written.
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
	static uint8_t rec[ZT_POLREC_TEXT_MAX + ZT_POLREC_OVERHEAD + ZT_POLREC_TRAILER_LEN];
	static const uint8_t signer[ZT_POLREC_SIGNER_LEN] = "fuzz-signer-fuzz-signer-fuzz-sig";
	static const uint8_t sig[ZT_POLREC_SIG_LEN] = "fuzz-signature";
	struct zt_polrec r = { .seq = size, .issued_ms = 1800000000000ULL, .is_signed = size & 1 };
	struct zt_polrec got;
	int n, m;

	n = zt_polrec_open(data, size, KEY, sizeof(KEY), &got, out, sizeof(out));
	check(n < 0 || (size_t)n + ZT_POLREC_OVERHEAD +
				   (got.is_signed ? ZT_POLREC_TRAILER_LEN : 0) == size);
	if (size > ZT_POLREC_TEXT_MAX)
		return 0;
	n = zt_polrec_seal(rec, sizeof(rec), &r, (const char *)data, size, NONCE, KEY, sizeof(KEY));
	if (memchr(data, '\0', size)) {
		check(n == -EINVAL);
		return 0;
	}
	check(n == (int)(size + ZT_POLREC_OVERHEAD));
	if (r.is_signed) {
		n = zt_polrec_sign_finish(rec, sizeof(rec), (size_t)n, signer, sig);
		check(n == (int)(size + ZT_POLREC_OVERHEAD + ZT_POLREC_TRAILER_LEN));
	}
	m = zt_polrec_open(rec, (size_t)n, KEY, sizeof(KEY), &got, out, sizeof(out));
	check(m == (int)size && !memcmp(out, data, size) && out[size] == '\0');
	check(got.seq == r.seq && got.issued_ms == r.issued_ms && got.is_signed == r.is_signed);
	check(!r.is_signed || (got.signed_len == size + ZT_POLREC_OVERHEAD &&
			       !memcmp(got.signer, signer, sizeof(signer)) &&
			       !memcmp(got.sig, sig, sizeof(sig))));
	return 0;
}
