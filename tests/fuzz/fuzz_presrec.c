/*
 * libFuzzer target: presence records (core/presrec.h).
 *
 * The input is read twice: as it is (almost always refused by the mac), and with a
 * valid mac appended to it, so the format's checks behind the mac are reached. A
 * record that is accepted encodes back to the same bytes, its names are within
 * their bounds and NUL-terminated, and it was not expired at the time given.
 * The input is also read as a store key (zt_presrec_key_parse): one that parses writes
 * back (zt_presrec_key) to the same text.
 */
#include <stdint.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "core/err.h"
#include "core/presrec.h"
#include "fuzzcheck.h"

static const uint8_t KEY[32] = "fuzz-presence-key-fuzz-presence";
#define NOW 1800000000000ULL

static void one(const uint8_t *data, size_t size)
{
	struct zt_presrec r;
	uint8_t back[ZT_PRESREC_MAX];
	int n;

	if (zt_presrec_decode(data, size, KEY, sizeof(KEY), NOW, NULL, &r) != 0)
		return;
	check(strlen(r.name) >= 1 && strlen(r.name) <= ZT_PRESREC_NAME_MAX);
	check(strlen(r.imd) >= 1 && strlen(r.imd) <= ZT_PRESREC_IMD_MAX);
	check(r.naddrs <= ZT_PRESREC_ADDRS_MAX);
	check(r.expires_ms > NOW);
	check(zt_presrec_decode(data, size, KEY, sizeof(KEY), NOW, r.name, &r) == 0);
	n = zt_presrec_encode(back, sizeof(back), &r, KEY, sizeof(KEY));
	check(n == (int)size && !memcmp(back, data, size));
}

static void key(const uint8_t *data, size_t size)
{
	char text[ZT_PRESREC_KEY_MAX + 8], name[ZT_PRESREC_NAME_MAX + 1], back[ZT_PRESREC_KEY_MAX + 1];
	uint8_t role = 0;

	if (size >= sizeof(text))
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (zt_presrec_key_parse(text, &role, name) != 0)
		return;
	check(role == ZT_PRESREC_AGENT || role == ZT_PRESREC_CONNECTOR ||
	      role == ZT_PRESREC_INTERMEDIATE);
	check(zt_presrec_key(back, sizeof(back), role, name) == (int)strlen(text));
	check(!strcmp(back, text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t signed_[ZT_PRESREC_MAX + 1];

	key(data, size);
	one(data, size);
	if (size + ZT_PRESREC_MAC_LEN > sizeof(signed_))
		return 0;
	memcpy(signed_, data, size);
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, KEY, sizeof(KEY), data, size, signed_ + size) < 0)
		return 0;
	one(signed_, size + ZT_PRESREC_MAC_LEN);
	return 0;
}
