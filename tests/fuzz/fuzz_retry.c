/*
 * libFuzzer target: quic/retry.h, the Intermediate's first look at a datagram that
 * claims to be a client's first Initial. The input is that datagram. Invariants:
 *  - zt_quic_initial_parse() accepts only v1 Initials of at least 1200 bytes, with
 *    connection IDs of legal lengths and a token inside the input;
 *  - a token in the input never verifies (nobody can forge one without the key), and
 *    the check fails with one of its documented codes;
 *  - the Retry we write for a parsed Initial decodes as a Retry to the client's
 *    connection ID, and its token verifies for that client, that connection ID and
 *    within its lifetime only;
 *  - the INVALID_TOKEN close is smaller than the Initial it answers.
 */
#include <stdint.h>
#include <string.h>

#include <ngtcp2/ngtcp2.h>

#include "core/err.h"
#include "core/rng.h"
#include "fuzzcheck.h"
#include "quic/retry.h"

#define NOW 1000000000000ULL
#define LIFE 10000000000ULL

static const uint8_t secret[32] = "fuzz-retry-secret-0123456789abcd";

static void check_our_token(const struct zt_quic_retry *r, const struct zt_quic_initial *ini,
			    const struct zt_addr *client, const uint8_t *retry, size_t n)
{
	struct zt_quic_initial next = *ini;
	struct zt_addr other = *client;
	ngtcp2_pkt_hd hd;
	uint8_t odcid[ZT_QUIC_CID_MAX];
	size_t olen = 0;
	ngtcp2_ssize hlen = ngtcp2_pkt_decode_hd_long(&hd, retry, n);

	check(hlen > 0 && hd.type == NGTCP2_PKT_RETRY);
	check(hd.dcid.datalen == ini->scid_len && !memcmp(hd.dcid.data, ini->scid, ini->scid_len));
	check(n > (size_t)hlen + 16);
	/* the client's next Initial: to the Retry's connection ID, with its token */
	memcpy(next.dcid, hd.scid.data, hd.scid.datalen);
	next.dcid_len = hd.scid.datalen;
	next.token = retry + hlen;
	next.token_len = n - (size_t)hlen - 16;
	check(next.token_len <= ZT_QUIC_RETRY_TOKEN_MAX);
	check(zt_quic_retry_check(r, NOW + 1, LIFE, client, &next, odcid, &olen) == 0);
	check(olen == ini->dcid_len && !memcmp(odcid, ini->dcid, olen));
	check(zt_quic_retry_check(r, NOW + LIFE + 1, LIFE, client, &next, odcid, &olen) ==
	      ZT_ETIMEOUT);
	other.port ^= 1;
	check(zt_quic_retry_check(r, NOW + 1, LIFE, &other, &next, odcid, &olen) == ZT_EAUTH);
	next.dcid[0] ^= 1;
	check(zt_quic_retry_check(r, NOW + 1, LIFE, client, &next, odcid, &olen) == ZT_EAUTH);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_quic_retry *r;
	struct zt_addr client = { .family = AF_INET, .port = 5000, .ip = { 192, 0, 2, 7 } };
	struct zt_prng prng;
	struct zt_rng rng;
	struct zt_quic_initial ini;
	uint8_t out[ZT_QUIC_RETRY_MAX], close[ZT_QUIC_INVALID_TOKEN_MAX], odcid[ZT_QUIC_CID_MAX];
	size_t olen = 0;
	int rc, n;

	if (!r && zt_quic_retry_new(&r, secret, sizeof(secret)) < 0)
		return 0;
	zt_prng_seed(&prng, size);
	rng = zt_prng_rng(&prng);
	if (zt_quic_initial_parse(data, size, &ini) < 0)
		return 0;
	check(size >= 1200);
	check(ini.version == NGTCP2_PROTO_VER_V1);
	check(ini.dcid_len >= 8 && ini.dcid_len <= ZT_QUIC_CID_MAX);
	check(ini.scid_len <= ZT_QUIC_CID_MAX);
	check(!ini.token_len || (ini.token >= data && ini.token + ini.token_len <= data + size));
	rc = zt_quic_retry_check(r, NOW, LIFE, &client, &ini, odcid, &olen);
	check(rc == ZT_EMALFORMED || rc == ZT_EAUTH || rc == ZT_ETIMEOUT);
	check(olen == 0);
	n = zt_quic_retry_write(r, NOW, &rng, &client, &ini, out, sizeof(out));
	check(n > 0 && (size_t)n <= sizeof(out) && (size_t)n < size);
	check_our_token(r, &ini, &client, out, (size_t)n);
	n = zt_quic_write_invalid_token(&ini, close, sizeof(close));
	check(n > 0 && (size_t)n < size);
	return 0;
}
