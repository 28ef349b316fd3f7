/*
 * core/presrec.h: presence records round-trip; every truncation, a wrong version,
 * a flipped bit anywhere, another key, a record under another name, an expired one,
 * one from the future and out-of-bounds fields are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/presrec.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t OTHER[32] = "0123456789abcdef0123456789abcdeX";
#define NOW 1800000000000ULL

static struct zt_presrec sample(void)
{
	struct zt_presrec r = {
		.role = ZT_PRESREC_CONNECTOR,
		.name = "c1",
		.imd = "imd-a",
		.naddrs = 2,
		.addrs = { { .family = AF_INET, .port = 4433, .ip = { 203, 0, 113, 10 } },
			   { .family = AF_INET6, .port = 4433, .ip = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } } },
		.seq = 7,
		.issued_ms = NOW - 1000,
		.expires_ms = NOW + 29000,
	};
	return r;
}

static int enc(uint8_t *buf, const struct zt_presrec *r)
{
	return zt_presrec_encode(buf, ZT_PRESREC_MAX, r, KEY, sizeof(KEY));
}

static void round_trip(void **state)
{
	uint8_t buf[ZT_PRESREC_MAX];
	struct zt_presrec r = sample(), got;
	int n = enc(buf, &r);
	(void)state;

	assert_true(n > 0);
	assert_int_equal(zt_presrec_decode(buf, (size_t)n, KEY, sizeof(KEY), NOW, "c1", &got), 0);
	assert_int_equal(got.role, ZT_PRESREC_CONNECTOR);
	assert_string_equal(got.name, "c1");
	assert_string_equal(got.imd, "imd-a");
	assert_int_equal(got.naddrs, 2);
	assert_memory_equal(&got.addrs[0], &r.addrs[0], sizeof(r.addrs[0]));
	assert_memory_equal(&got.addrs[1], &r.addrs[1], sizeof(r.addrs[1]));
	assert_int_equal(got.seq, 7);
	assert_int_equal(got.issued_ms, r.issued_ms);
	assert_int_equal(got.expires_ms, r.expires_ms);
	/* the longest record fits ZT_PRESREC_MAX */
	memset(r.name, 'n', ZT_PRESREC_NAME_MAX);
	memset(r.imd, 'i', ZT_PRESREC_IMD_MAX);
	r.naddrs = ZT_PRESREC_ADDRS_MAX;
	for (int i = 0; i < ZT_PRESREC_ADDRS_MAX; i++)
		r.addrs[i] = (struct zt_addr){ .family = AF_INET6, .port = 1 };
	assert_int_equal(enc(buf, &r), ZT_PRESREC_MAX);
	assert_int_equal(zt_presrec_encode(buf, ZT_PRESREC_MAX - 1, &r, KEY, sizeof(KEY)), -ENOBUFS);
}

static void truncated_and_trailing(void **state)
{
	uint8_t buf[ZT_PRESREC_MAX + 1];
	struct zt_presrec r = sample(), got = { .seq = 99 };
	int n = enc(buf, &r);
	(void)state;

	for (int k = 0; k < n; k++)
		assert_int_equal(zt_presrec_decode(buf, (size_t)k, KEY, sizeof(KEY), NOW, NULL, &got),
				 ZT_ETRUNC);
	buf[n] = 0;
	assert_int_equal(zt_presrec_decode(buf, (size_t)n + 1, KEY, sizeof(KEY), NOW, NULL, &got),
			 ZT_EMALFORMED);
	assert_int_equal(got.seq, 99); /* untouched */
}

static void bad_version_and_magic(void **state)
{
	uint8_t buf[ZT_PRESREC_MAX];
	struct zt_presrec r = sample(), got;
	int n = enc(buf, &r);
	(void)state;

	buf[4] = 2;
	assert_int_equal(zt_presrec_decode(buf, (size_t)n, KEY, sizeof(KEY), NOW, NULL, &got), ZT_EMALFORMED);
	buf[4] = 1;
	buf[0] = 'X';
	assert_int_equal(zt_presrec_decode(buf, (size_t)n, KEY, sizeof(KEY), NOW, NULL, &got), ZT_EMALFORMED);
}

/* A flipped bit anywhere is refused: the mac, or the format first. */
static void every_bit_counts(void **state)
{
	uint8_t buf[ZT_PRESREC_MAX];
	struct zt_presrec r = sample(), got;
	int n = enc(buf, &r);
	(void)state;

	for (int i = 0; i < n * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_true(zt_presrec_decode(buf, (size_t)n, KEY, sizeof(KEY), NOW, NULL, &got) < 0);
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_int_equal(zt_presrec_decode(buf, (size_t)n, OTHER, sizeof(OTHER), NOW, NULL, &got), ZT_EAUTH);
	assert_int_equal(zt_presrec_decode(buf, (size_t)n, KEY, 8, NOW, NULL, &got), -EINVAL);
	assert_int_equal(zt_presrec_encode(buf, sizeof(buf), &r, KEY, 8), -EINVAL);
}

static void forged_name_and_time(void **state)
{
	uint8_t buf[ZT_PRESREC_MAX];
	struct zt_presrec r = sample(), got;
	int n = enc(buf, &r);
	(void)state;

	/* a genuine record of c1 stored under c2's key */
	assert_int_equal(zt_presrec_decode(buf, (size_t)n, KEY, sizeof(KEY), NOW, "c2", &got), ZT_EPOLICY);
	assert_int_equal(zt_presrec_decode(buf, (size_t)n, KEY, sizeof(KEY), r.expires_ms, NULL, &got),
			 ZT_ETIMEOUT);
	assert_int_equal(zt_presrec_decode(buf, (size_t)n, KEY, sizeof(KEY), r.expires_ms - 1, NULL, &got), 0);
	r.issued_ms = NOW + ZT_PRESREC_SKEW_MS + 1;
	r.expires_ms = r.issued_ms + 1000;
	n = enc(buf, &r);
	assert_int_equal(zt_presrec_decode(buf, (size_t)n, KEY, sizeof(KEY), NOW, NULL, &got), ZT_ERANGE);
}

static void fields_out_of_bounds(void **state)
{
	uint8_t buf[ZT_PRESREC_MAX];
	struct zt_presrec r;
	(void)state;

	r = sample(), r.role = 4;
	assert_int_equal(enc(buf, &r), ZT_EMALFORMED);
	/* an Intermediate's record is its own: name and imd the same */
	r = sample(), r.role = ZT_PRESREC_INTERMEDIATE;
	assert_int_equal(enc(buf, &r), ZT_EMALFORMED);
	strcpy(r.name, r.imd);
	assert_true(enc(buf, &r) > 0);
	r = sample(), r.name[0] = '\0';
	assert_int_equal(enc(buf, &r), ZT_EMALFORMED);
	r = sample(), strcpy(r.name, "c1/x");
	assert_int_equal(enc(buf, &r), ZT_EMALFORMED);
	r = sample(), strcpy(r.imd, "a b");
	assert_int_equal(enc(buf, &r), ZT_EMALFORMED);
	r = sample(), r.naddrs = ZT_PRESREC_ADDRS_MAX + 1;
	assert_int_equal(enc(buf, &r), ZT_EMALFORMED);
	r = sample(), r.addrs[1].port = 0;
	assert_int_equal(enc(buf, &r), ZT_EMALFORMED);
	r = sample(), r.expires_ms = r.issued_ms;
	assert_int_equal(enc(buf, &r), ZT_EMALFORMED);
	r = sample(), r.expires_ms = r.issued_ms + ZT_PRESREC_TTL_MAX_MS + 1;
	assert_int_equal(enc(buf, &r), ZT_EMALFORMED);
}

static void store_keys(void **state)
{
	char key[ZT_PRESREC_KEY_MAX + 1], name[ZT_PRESREC_NAME_MAX + 1], longname[ZT_PRESREC_NAME_MAX + 2];
	uint8_t role = 0;
	(void)state;

	assert_int_equal(zt_presrec_key(key, sizeof(key), ZT_PRESREC_CONNECTOR, "c1.example"), 20);
	assert_string_equal(key, "connector.c1.example");
	assert_int_equal(zt_presrec_key_parse(key, &role, name), 0);
	assert_int_equal(role, ZT_PRESREC_CONNECTOR);
	assert_string_equal(name, "c1.example");
	assert_int_equal(zt_presrec_key(key, sizeof(key), ZT_PRESREC_AGENT, "alice"), 11);
	assert_int_equal(zt_presrec_key_parse("agent.alice", &role, name), 0);
	assert_int_equal(role, ZT_PRESREC_AGENT);
	assert_int_equal(zt_presrec_key(key, 5, ZT_PRESREC_AGENT, "alice"), -ENOBUFS);
	/* an Intermediate's own record (where its links are taken) */
	assert_int_equal(zt_presrec_key(key, sizeof(key), ZT_PRESREC_INTERMEDIATE, "imd-a"), 18);
	assert_string_equal(key, "intermediate.imd-a");
	assert_int_equal(zt_presrec_key_parse(key, &role, name), 0);
	assert_int_equal(role, ZT_PRESREC_INTERMEDIATE);
	assert_int_equal(zt_presrec_key(key, sizeof(key), 4, "alice"), ZT_EMALFORMED);
	assert_int_equal(zt_presrec_key(key, sizeof(key), ZT_PRESREC_AGENT, "a*b"), ZT_EMALFORMED);
	assert_int_equal(zt_presrec_key(key, sizeof(key), ZT_PRESREC_AGENT, ""), ZT_EMALFORMED);
	memset(longname, 'x', ZT_PRESREC_NAME_MAX + 1);
	longname[ZT_PRESREC_NAME_MAX + 1] = '\0';
	assert_int_equal(zt_presrec_key(key, sizeof(key), ZT_PRESREC_AGENT, longname), ZT_EMALFORMED);
	const char *bad[] = { "alice", "agent.", ".alice", "agents.alice", "agent.al ice",
			      "Agent.alice", "connector", "agent.a>b", "agent.*" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(zt_presrec_key_parse(bad[i], &role, name), ZT_EMALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(store_keys),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(truncated_and_trailing),
		cmocka_unit_test(bad_version_and_magic),
		cmocka_unit_test(every_bit_counts),
		cmocka_unit_test(forged_name_and_time),
		cmocka_unit_test(fields_out_of_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
