#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "io/udp.h"

static void loopback_send_recv_with_local_address(void **state)
{
	struct zt_udp a, b;
	struct zt_addr bind_a, bind_b, from, to;
	uint8_t buf[64];

	(void)state;
	zt_addr_parse(&bind_a, "127.0.0.1:0", 0);
	zt_addr_parse(&bind_b, "127.0.0.2:0", 0);
	assert_int_equal(zt_udp_open(&a, &bind_a), 0);
	assert_int_equal(zt_udp_open(&b, &bind_b), 0);
	assert_int_not_equal(a.local.port, 0);
	assert_int_equal(zt_udp_recv(&a, buf, sizeof(buf), &from, &to), -EAGAIN);
	assert_int_equal(zt_udp_send(&b, &a.local, NULL, (const uint8_t *)"hello", 5), 0);
	assert_int_equal(zt_udp_recv(&a, buf, sizeof(buf), &from, &to), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_true(zt_addr_equal(&from, &b.local));
	assert_true(zt_addr_equal(&to, &a.local));
	zt_udp_close(&a);
	zt_udp_close(&b);
}

static void oversize_is_reported(void **state)
{
	struct zt_udp a, b;
	struct zt_addr bind_a, from;
	uint8_t big[100] = { 0 }, small[10];

	(void)state;
	zt_addr_parse(&bind_a, "127.0.0.1:0", 0);
	assert_int_equal(zt_udp_open(&a, &bind_a), 0);
	assert_int_equal(zt_udp_open(&b, &bind_a), 0);
	assert_int_equal(zt_udp_send(&b, &a.local, NULL, big, sizeof(big)), 0);
	assert_int_equal(zt_udp_recv(&a, small, sizeof(small), &from, NULL), -EMSGSIZE);
	zt_udp_close(&a);
	zt_udp_close(&b);
}

static void bind_conflict_is_an_error(void **state)
{
	struct zt_udp a, b;

	(void)state;
	struct zt_addr any;
	zt_addr_parse(&any, "127.0.0.1:0", 0);
	assert_int_equal(zt_udp_open(&a, &any), 0);
	assert_int_equal(zt_udp_open(&b, &a.local), -EADDRINUSE);
	zt_udp_close(&a);
}

/* Shared sockets (SO_REUSEPORT, the Intermediate's workers): several on one address,
 * each sender's datagrams to one of them; a plain socket still cannot join them, nor
 * a shared one a plain socket's address. */
static void shared_sockets_split_the_senders(void **state)
{
	struct zt_udp s[2], plain, c;
	struct zt_addr bind, any, from;
	uint8_t buf[16];
	int got[2] = { 0, 0 };

	(void)state;
	zt_addr_parse(&bind, "127.0.0.1:0", 0);
	zt_addr_parse(&any, "127.0.0.1:0", 0);
	assert_int_equal(zt_udp_open_shared(&s[0], &bind), 0);
	assert_int_equal(zt_udp_open_shared(&s[1], &s[0].local), 0);
	assert_int_equal(s[1].local.port, s[0].local.port);
	assert_int_equal(zt_udp_open(&plain, &s[0].local), -EADDRINUSE);
	assert_int_equal(zt_udp_open(&plain, &bind), 0);
	assert_int_equal(zt_udp_open_shared(&c, &plain.local), -EADDRINUSE);
	/* 32 senders: one socket each, all of its datagrams to one of the two */
	for (int i = 0; i < 32; i++) {
		int where = -1;
		assert_int_equal(zt_udp_open(&c, &any), 0);
		for (int k = 0; k < 3; k++)
			assert_int_equal(zt_udp_send(&c, &s[0].local, NULL, (const uint8_t *)"x", 1), 0);
		for (int j = 0; j < 2; j++) {
			int n = 0;
			while (zt_udp_recv(&s[j], buf, sizeof(buf), &from, NULL) == 1)
				n++;
			if (n) {
				assert_int_equal(n, 3);
				assert_int_equal(where, -1);
				where = j;
			}
		}
		assert_int_not_equal(where, -1);
		got[where]++;
		zt_udp_close(&c);
	}
	/* both got some (32 senders all to one socket: 2 in 2^32) */
	assert_true(got[0] > 0 && got[1] > 0);
	zt_udp_close(&s[0]);
	zt_udp_close(&s[1]);
	zt_udp_close(&plain);
}

/* One socket for both families (bind family 0): IPv4 peers and local addresses are
 * plain IPv4 both ways, never ::ffff:a.b.c.d, and a chosen source address works for
 * either family. */
static void dual_stack_socket_speaks_both_families_unmapped(void **state)
{
	struct zt_udp d, v4, v6;
	struct zt_addr any = { 0 }, b4, b6, from, to, lo4, lo6;
	uint8_t buf[64];

	(void)state;
	zt_addr_parse(&b4, "127.0.0.1:0", 0);
	zt_addr_parse(&b6, "[::1]:0", 0);
	assert_int_equal(zt_udp_open(&d, &any), 0);
	if (!d.dual) {
		zt_udp_close(&d);
		skip(); /* no IPv6 on this host: the socket fell back to IPv4 */
	}
	assert_int_equal(d.local.family, AF_INET6);
	assert_true(zt_addr_is_any(&d.local));
	assert_int_equal(zt_udp_open(&v4, &b4), 0);
	assert_int_equal(zt_udp_open(&v6, &b6), 0);
	lo4 = b4;
	lo4.port = d.local.port;
	lo6 = b6;
	lo6.port = d.local.port;

	assert_int_equal(zt_udp_send(&v4, &lo4, NULL, (const uint8_t *)"four", 4), 0);
	assert_int_equal(zt_udp_recv(&d, buf, sizeof(buf), &from, &to), 4);
	assert_true(zt_addr_equal(&from, &v4.local));
	assert_int_equal(to.family, AF_INET);
	assert_true(zt_addr_equal(&to, &lo4));
	/* the answer to an IPv4 peer, from a chosen IPv4 source */
	assert_true(zt_udp_family_ok(&d, &v4.local));
	assert_int_equal(zt_udp_send(&d, &v4.local, &lo4, (const uint8_t *)"back", 4), 0);
	assert_int_equal(zt_udp_recv(&v4, buf, sizeof(buf), &from, NULL), 4);
	assert_true(zt_addr_equal(&from, &lo4));

	assert_int_equal(zt_udp_send(&v6, &lo6, NULL, (const uint8_t *)"six", 3), 0);
	assert_int_equal(zt_udp_recv(&d, buf, sizeof(buf), &from, &to), 3);
	assert_true(zt_addr_equal(&from, &v6.local));
	assert_true(zt_addr_equal(&to, &lo6));
	assert_int_equal(zt_udp_send(&d, &v6.local, &lo6, (const uint8_t *)"back6", 5), 0);
	assert_int_equal(zt_udp_recv(&v6, buf, sizeof(buf), &from, NULL), 5);
	assert_true(zt_addr_equal(&from, &lo6));
	zt_udp_close(&d);
	zt_udp_close(&v4);
	zt_udp_close(&v6);
}

/* An explicit [::] stays IPv6 only (--bind keeps one family): IPv4 is refused, and
 * 0.0.0.0 on the same port is free. */
static void explicit_v6_wildcard_is_v6_only(void **state)
{
	struct zt_udp a, b;
	struct zt_addr any6, any4, v4;

	(void)state;
	zt_addr_parse(&any6, "[::]:0", 0);
	if (zt_udp_open(&a, &any6) < 0)
		skip();
	assert_false(a.dual);
	zt_addr_parse(&v4, "127.0.0.1:9", 0);
	assert_false(zt_udp_family_ok(&a, &v4));
	assert_int_equal(zt_udp_send(&a, &v4, NULL, (const uint8_t *)"x", 1), -EAFNOSUPPORT);
	any4 = (struct zt_addr){ .family = AF_INET, .port = a.local.port };
	assert_int_equal(zt_udp_open(&b, &any4), 0);
	zt_udp_close(&b);
	zt_udp_close(&a);
}

/* recvmmsg: a burst in as few calls as the slots allow, each with its addresses; a
 * datagram longer than its slot is reported in its slot, the others intact. */
static void batch_receive(void **state)
{
	struct zt_udp a, b;
	struct zt_addr bind_a, bind_b;
	uint8_t slots[4][64], big[100] = { 0 };
	struct zt_udp_rx rx[4];

	(void)state;
	zt_addr_parse(&bind_a, "127.0.0.1:0", 0);
	zt_addr_parse(&bind_b, "127.0.0.2:0", 0);
	assert_int_equal(zt_udp_open(&a, &bind_a), 0);
	assert_int_equal(zt_udp_open(&b, &bind_b), 0);
	for (size_t i = 0; i < 4; i++)
		rx[i] = (struct zt_udp_rx){ .buf = slots[i], .cap = sizeof(slots[i]) };
	assert_int_equal(zt_udp_recv_batch(&a, rx, 4), -EAGAIN);
	assert_int_equal(zt_udp_recv_batch(&a, rx, 0), -EINVAL);
	assert_int_equal(zt_udp_recv_batch(&a, rx, ZT_UDP_BATCH_MAX + 1), -EINVAL);
	for (uint8_t i = 0; i < 5; i++) {
		uint8_t msg[3] = { 'm', i, 'x' };
		assert_int_equal(zt_udp_send(&b, &a.local, NULL, msg, 1 + i % 3), 0);
	}
	assert_int_equal(zt_udp_send(&b, &a.local, NULL, big, sizeof(big)), 0);
	assert_int_equal(zt_udp_recv_batch(&a, rx, 4), 4);
	for (uint8_t i = 0; i < 4; i++) {
		assert_int_equal(rx[i].err, 0);
		assert_int_equal(rx[i].len, 1 + i % 3);
		assert_int_equal(slots[i][0], 'm');
		if (rx[i].len > 1)
			assert_int_equal(slots[i][1], i);
		assert_true(zt_addr_equal(&rx[i].from, &b.local));
		assert_true(zt_addr_equal(&rx[i].to, &a.local));
	}
	assert_int_equal(zt_udp_recv_batch(&a, rx, 4), 2);
	assert_int_equal(rx[0].err, 0);
	assert_int_equal(rx[0].len, 2);
	assert_int_equal(slots[0][1], 4);
	assert_int_equal(rx[1].err, -EMSGSIZE);
	assert_int_equal(rx[1].len, 0);
	assert_int_equal(zt_udp_recv_batch(&a, rx, 4), -EAGAIN);
	zt_udp_close(&a);
	zt_udp_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(loopback_send_recv_with_local_address),
		cmocka_unit_test(oversize_is_reported),
		cmocka_unit_test(batch_receive),
		cmocka_unit_test(bind_conflict_is_an_error),
		cmocka_unit_test(shared_sockets_split_the_senders),
		cmocka_unit_test(dual_stack_socket_speaks_both_families_unmapped),
		cmocka_unit_test(explicit_v6_wildcard_is_v6_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
