/*
 * core/polrec.h: policy records round-trip; a changed byte anywhere, another key,
 * every truncation, a wrong magic or version, a NUL in the text, a short key and a
 * short output buffer are refused; the text is not readable in the record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/polrec.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t OTHER[32] = "0123456789abcdef0123456789abcdeX";
static const uint8_t NONCE[12] = "nonce-nonce!";
static const char TEXT[] = "client agent:alice:secret-token-1\nallow alice=web\nserve c1=web\n";

static int seal(uint8_t *buf, size_t cap, uint64_t seq)
{
	struct zt_polrec r = { .seq = seq, .issued_ms = 1800000000000ULL };

	return zt_polrec_seal(buf, cap, &r, TEXT, strlen(TEXT), NONCE, KEY, sizeof(KEY));
}

static void round_trip_and_sealed(void **state)
{
	uint8_t buf[512];
	char out[512];
	struct zt_polrec got = { 0 };
	int n = seal(buf, sizeof(buf), 77);
	(void)state;

	assert_int_equal(n, (int)(strlen(TEXT) + ZT_POLREC_OVERHEAD));
	assert_null(memmem(buf, (size_t)n, "secret-token", 12)); /* not in the clear */
	assert_int_equal(zt_polrec_open(buf, (size_t)n, KEY, sizeof(KEY), &got, out, sizeof(out)),
			 (int)strlen(TEXT));
	assert_string_equal(out, TEXT);
	assert_int_equal(got.seq, 77);
	assert_int_equal(got.issued_ms, 1800000000000ULL);
	/* an empty text is a policy too (it refuses everyone) */
	struct zt_polrec r = { .seq = 1 };
	n = zt_polrec_seal(buf, sizeof(buf), &r, "", 0, NONCE, KEY, sizeof(KEY));
	assert_int_equal(n, ZT_POLREC_OVERHEAD);
	assert_int_equal(zt_polrec_open(buf, (size_t)n, KEY, sizeof(KEY), &got, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void every_byte_counts(void **state)
{
	uint8_t buf[512];
	char out[512];
	struct zt_polrec got = { .seq = 5 };
	int n = seal(buf, sizeof(buf), 77);
	(void)state;

	for (int i = 0; i < n; i++) {
		buf[i] ^= 0x01;
		int rc = zt_polrec_open(buf, (size_t)n, KEY, sizeof(KEY), &got, out, sizeof(out));
		assert_true(rc == ZT_EAUTH || (i < 5 && rc == ZT_EMALFORMED));
		buf[i] ^= 0x01;
	}
	assert_int_equal(got.seq, 5); /* untouched */
	assert_int_equal(zt_polrec_open(buf, (size_t)n, OTHER, sizeof(OTHER), &got, out, sizeof(out)),
			 ZT_EAUTH);
	for (int len = 0; len < n; len++) {
		int rc = zt_polrec_open(buf, (size_t)len, KEY, sizeof(KEY), &got, out, sizeof(out));
		assert_true(rc == (len < ZT_POLREC_OVERHEAD ? ZT_ETRUNC : ZT_EAUTH));
	}
}

static void bad_input(void **state)
{
	uint8_t buf[512];
	char out[512];
	struct zt_polrec got, r = { .seq = 1 };
	int n = seal(buf, sizeof(buf), 77);
	(void)state;

	assert_int_equal(zt_polrec_open(buf, (size_t)n, KEY, 15, &got, out, sizeof(out)), -EINVAL);
	assert_int_equal(zt_polrec_open(buf, (size_t)n, KEY, sizeof(KEY), &got, out, strlen(TEXT)),
			 -ENOBUFS);
	assert_int_equal(zt_polrec_seal(buf, sizeof(buf), &r, "a\0b", 3, NONCE, KEY, sizeof(KEY)),
			 -EINVAL);
	assert_int_equal(zt_polrec_seal(buf, sizeof(buf), &r, "ab", 2, NONCE, KEY, 15), -EINVAL);
	assert_int_equal(zt_polrec_seal(buf, 40, &r, TEXT, strlen(TEXT), NONCE, KEY, sizeof(KEY)),
			 -ENOBUFS);
	size_t big = ZT_POLREC_TEXT_MAX + 1;
	char *t = malloc(big);
	uint8_t *b = malloc(big + ZT_POLREC_OVERHEAD);
	assert_non_null(t);
	assert_non_null(b);
	memset(t, 'x', big);
	assert_int_equal(zt_polrec_seal(b, big + ZT_POLREC_OVERHEAD, &r, t, big, NONCE, KEY,
					sizeof(KEY)), ZT_ETOOBIG);
	/* the largest text seals and opens */
	n = zt_polrec_seal(b, big + ZT_POLREC_OVERHEAD, &r, t, big - 1, NONCE, KEY, sizeof(KEY));
	assert_int_equal(n, (int)(big - 1 + ZT_POLREC_OVERHEAD));
	assert_int_equal(zt_polrec_open(b, (size_t)n, KEY, sizeof(KEY), &got, t, big), (int)(big - 1));
	free(t);
	free(b);
}

/* Version 2: the trailer (signer, signature) comes back as written, with how much it
 * covers; the version byte cannot be changed either way (it is associated data), and
 * a trailer cut short leaves a record that does not open. */
static void signed_record_trailer(void **state)
{
	uint8_t buf[512], signer[ZT_POLREC_SIGNER_LEN], sig[ZT_POLREC_SIG_LEN];
	char out[512];
	struct zt_polrec r = { .seq = 9, .issued_ms = 1800000000000ULL, .is_signed = true };
	struct zt_polrec got = { 0 };
	int n, m;
	(void)state;

	memset(signer, 0xab, sizeof(signer));
	memset(sig, 0xcd, sizeof(sig));
	n = zt_polrec_seal(buf, sizeof(buf), &r, TEXT, strlen(TEXT), NONCE, KEY, sizeof(KEY));
	assert_int_equal(n, (int)(strlen(TEXT) + ZT_POLREC_OVERHEAD));
	assert_int_equal(buf[4], 2);
	assert_int_equal(zt_polrec_sign_finish(buf, (size_t)n + 95, (size_t)n, signer, sig),
			 -ENOBUFS);
	m = zt_polrec_sign_finish(buf, sizeof(buf), (size_t)n, signer, sig);
	assert_int_equal(m, n + ZT_POLREC_TRAILER_LEN);
	assert_int_equal(zt_polrec_open(buf, (size_t)m, KEY, sizeof(KEY), &got, out, sizeof(out)),
			 (int)strlen(TEXT));
	assert_string_equal(out, TEXT);
	assert_true(got.is_signed);
	assert_int_equal(got.seq, 9);
	assert_int_equal(got.signed_len, n);
	assert_memory_equal(got.signer, signer, sizeof(signer));
	assert_memory_equal(got.sig, sig, sizeof(sig));
	/* cut short: the sealed part is taken as shorter, and does not open */
	assert_int_equal(zt_polrec_open(buf, (size_t)m - 1, KEY, sizeof(KEY), &got, out, sizeof(out)),
			 ZT_EAUTH);
	/* read as version 1 (trailer and all), or the trailer dropped and read as 1 */
	buf[4] = 1;
	assert_int_equal(zt_polrec_open(buf, (size_t)m, KEY, sizeof(KEY), &got, out, sizeof(out)),
			 ZT_EAUTH);
	assert_int_equal(zt_polrec_open(buf, (size_t)n, KEY, sizeof(KEY), &got, out, sizeof(out)),
			 ZT_EAUTH);
	/* a version 1 record made out to be signed: a trailer of its own bytes */
	n = seal(buf, sizeof(buf), 3);
	buf[4] = 2;
	assert_int_equal(zt_polrec_open(buf, (size_t)n, KEY, sizeof(KEY), &got, out, sizeof(out)),
			 ZT_ETRUNC); /* (this one is shorter than a trailer's worth more) */
	memset(buf + n, 0, ZT_POLREC_TRAILER_LEN);
	assert_int_equal(zt_polrec_open(buf, (size_t)n + ZT_POLREC_TRAILER_LEN, KEY, sizeof(KEY),
					&got, out, sizeof(out)), ZT_EAUTH);
	assert_int_equal(zt_polrec_open(buf, ZT_POLREC_OVERHEAD + 10, KEY, sizeof(KEY), &got, out,
					sizeof(out)), ZT_ETRUNC);
	/* an unsigned record opens as such */
	buf[4] = 1;
	assert_int_equal(zt_polrec_open(buf, (size_t)n, KEY, sizeof(KEY), &got, out, sizeof(out)),
			 (int)strlen(TEXT));
	assert_false(got.is_signed);
	assert_int_equal(got.signed_len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(signed_record_trailer),
		cmocka_unit_test(round_trip_and_sealed),
		cmocka_unit_test(every_byte_counts),
		cmocka_unit_test(bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
