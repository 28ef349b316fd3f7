#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "quic/cidmap.h"


/* Connections are only compared by address here. */
#define CONN(n) ((struct zt_quic_conn *)(uintptr_t)(0x1000 * (n)))

static void add_find_remove(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng = zt_prng_rng(&prng);
	struct zt_quic_cidmap *m;
	uint8_t cid[ZT_QUIC_CID_MAX];

	(void)state;
	zt_prng_seed(&prng, 1);
	assert_int_equal(zt_quic_cidmap_new(&m, &rng), 0);
	/* Enough entries to grow the table several times. */
	for (uint32_t i = 0; i < 1000; i++) {
		memset(cid, 0, sizeof(cid));
		memcpy(cid, &i, sizeof(i));
		assert_int_equal(zt_quic_cidmap_add(m, cid, ZT_QUIC_CID_LEN, CONN(1 + i % 3)), 0);
	}
	assert_int_equal(zt_quic_cidmap_count(m), 1000);
	memset(cid, 0, sizeof(cid));
	assert_int_equal(zt_quic_cidmap_add(m, cid, ZT_QUIC_CID_LEN, CONN(9)), -EEXIST);
	/* Same bytes, other length: another ID. */
	assert_int_equal(zt_quic_cidmap_add(m, cid, 4, CONN(9)), 0);
	assert_ptr_equal(zt_quic_cidmap_find(m, cid, 4), CONN(9));
	assert_ptr_equal(zt_quic_cidmap_find(m, cid, ZT_QUIC_CID_LEN), CONN(1));
	assert_int_equal(zt_quic_cidmap_add(m, cid, 0, CONN(9)), -EINVAL);
	assert_int_equal(zt_quic_cidmap_add(m, cid, 21, CONN(9)), -EINVAL);
	for (uint32_t i = 0; i < 1000; i++) {
		memset(cid, 0, sizeof(cid));
		memcpy(cid, &i, sizeof(i));
		assert_ptr_equal(zt_quic_cidmap_find(m, cid, ZT_QUIC_CID_LEN), CONN(1 + i % 3));
	}
	memset(cid, 0, sizeof(cid));
	assert_int_equal(zt_quic_cidmap_remove(m, cid, 4), 0);
	assert_int_equal(zt_quic_cidmap_remove(m, cid, 4), -ENOENT);
	assert_null(zt_quic_cidmap_find(m, cid, 4));
	/* Removing a connection removes exactly its IDs. */
	assert_int_equal(zt_quic_cidmap_remove_conn(m, CONN(2)), 333);
	assert_int_equal(zt_quic_cidmap_count(m), 667);
	for (uint32_t i = 0; i < 1000; i++) {
		memset(cid, 0, sizeof(cid));
		memcpy(cid, &i, sizeof(i));
		if (i % 3 == 1)
			assert_null(zt_quic_cidmap_find(m, cid, ZT_QUIC_CID_LEN));
		else
			assert_non_null(zt_quic_cidmap_find(m, cid, ZT_QUIC_CID_LEN));
	}
	zt_quic_cidmap_free(m);
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Many connections leaving at once cost work in proportion to their own IDs, not to
 * the whole table: remove_conn scanned every ID of every connection, and 10,000
 * clients leaving together took the Intermediate 8 s of CPU (no login was answered
 * meanwhile). 30,000 connections of 4 IDs: the scan made that some 1.8 billion node
 * visits (seconds); by owner, a few milliseconds. The bound is far from both.
 */
static void many_connections_leave_at_once(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng = zt_prng_rng(&prng);
	struct zt_quic_cidmap *m;
	uint8_t cid[ZT_QUIC_CID_LEN] = { 0 };
	const uint32_t n = 30000;
	double t0, spent;

	(void)state;
	zt_prng_seed(&prng, 2);
	assert_int_equal(zt_quic_cidmap_new(&m, &rng), 0);
	for (uint32_t i = 0; i < 4 * n; i++) {
		memcpy(cid, &i, sizeof(i));
		assert_int_equal(zt_quic_cidmap_add(m, cid, sizeof(cid), CONN(1 + i / 4)), 0);
	}
	/* one ID retired on its own first (the owner's list in the middle) */
	{
		uint32_t i = 4 * 7 + 1;
		memcpy(cid, &i, sizeof(i));
		assert_int_equal(zt_quic_cidmap_remove(m, cid, sizeof(cid)), 0);
	}
	assert_int_equal(zt_quic_cidmap_remove_conn(m, CONN(8)), 3);
	assert_int_equal(zt_quic_cidmap_remove_conn(m, CONN(8)), 0);
	t0 = cpu_seconds();
	for (uint32_t c = 1; c <= n; c++)
		assert_int_equal(zt_quic_cidmap_remove_conn(m, CONN(c)), c == 8 ? 0 : 4);
	spent = cpu_seconds() - t0;
	print_message("# %u connections of 4 IDs removed in %.3f s of CPU\n", n, spent);
	assert_true(spent < 1.0);
	assert_int_equal(zt_quic_cidmap_count(m), 0);
	zt_quic_cidmap_free(m);
}

static void packet_dcid(void **state)
{
	struct zt_prng prng;
	struct zt_rng rng = zt_prng_rng(&prng);
	/* Long header: flags, version, DCID length, DCID, SCID length, SCID... */
	static const uint8_t lng[] = { 0xc3, 0x00, 0x00, 0x00, 0x01, /* Initial, v1 */
				       0x04, 0xaa, 0xbb, 0xcc, 0xdd, /* DCID (4) */
				       0x00 };
	/* Short header: flags, then ZT_QUIC_CID_LEN bytes of DCID. */
	static const uint8_t shrt[] = { 0x41, 1, 2, 3, 4, 5, 6, 7, 8, 0xff };
	static const uint8_t greased[] = { 0x01, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t longcid[] = { 0xc0, 0, 0, 0, 1, 21 };
	const uint8_t *cid;
	size_t len;
	struct zt_quic_cidmap *m;
	uint8_t init[1200] = { 0xc0, 0, 0, 0, 1 };

	(void)state;
	zt_prng_seed(&prng, 1);
	assert_int_equal(zt_quic_pkt_dcid(lng, sizeof(lng), &cid, &len), 0);
	assert_int_equal(len, 4);
	assert_ptr_equal(cid, lng + 6);
	assert_int_equal(zt_quic_pkt_dcid(lng, 9, &cid, &len), ZT_ETRUNC);
	assert_int_equal(zt_quic_pkt_dcid(lng, 5, &cid, &len), ZT_ETRUNC);
	assert_int_equal(zt_quic_pkt_dcid(shrt, sizeof(shrt), &cid, &len), 0);
	assert_int_equal(len, ZT_QUIC_CID_LEN);
	assert_ptr_equal(cid, shrt + 1);
	assert_int_equal(zt_quic_pkt_dcid(shrt, 8, &cid, &len), ZT_ETRUNC);
	assert_int_equal(zt_quic_pkt_dcid(greased, sizeof(greased), &cid, &len), ZT_EMALFORMED);
	assert_int_equal(zt_quic_pkt_dcid(longcid, sizeof(longcid), &cid, &len), ZT_EMALFORMED);
	assert_int_equal(zt_quic_pkt_dcid(lng, 0, &cid, &len), ZT_ETRUNC);

	assert_true(zt_quic_pkt_is_initial(init, sizeof(init)));
	assert_false(zt_quic_pkt_is_initial(init, 1199));
	init[0] = 0xd0; /* 0-RTT */
	assert_false(zt_quic_pkt_is_initial(init, sizeof(init)));
	init[0] = 0xc0;
	init[4] = 2; /* another version */
	assert_false(zt_quic_pkt_is_initial(init, sizeof(init)));

	assert_int_equal(zt_quic_cidmap_new(&m, &rng), 0);
	assert_int_equal(zt_quic_cidmap_add(m, shrt + 1, ZT_QUIC_CID_LEN, CONN(5)), 0);
	assert_ptr_equal(zt_quic_cidmap_lookup_pkt(m, shrt, sizeof(shrt)), CONN(5));
	assert_null(zt_quic_cidmap_lookup_pkt(m, lng, sizeof(lng)));
	assert_null(zt_quic_cidmap_lookup_pkt(m, greased, sizeof(greased)));
	zt_quic_cidmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_find_remove),
		cmocka_unit_test(many_connections_leave_at_once),
		cmocka_unit_test(packet_dcid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
