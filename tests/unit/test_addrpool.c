/* Tunnel addresses for agents (core/addrpool.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/addrpool.h"

static struct zt_addrpool *pool(const char *net, unsigned plen)
{
	struct zt_addrpool *p;
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, net, 0), 0);
	assert_int_equal(zt_addrpool_new(&p, &a, plen), 0);
	return p;
}

static const char *str(const struct zt_addr *a, char *buf)
{
	zt_addr_format(a, false, buf, ZT_ADDR_STRLEN);
	return buf;
}

/* The same identity gets the same address: while held, again after it was given
 * back, and from a new pool (a restart). */
static void stable_per_identity(void **state)
{
	struct zt_addrpool *p = pool("100.64.0.0", 10), *q;
	struct zt_addr a, b, c, gw;
	char s1[ZT_ADDR_STRLEN], s2[ZT_ADDR_STRLEN];
	(void)state;

	assert_int_equal(zt_addrpool_take(p, "ztna:agent:alice", &a), 0);
	assert_int_equal(a.ip[0], 100);
	assert_int_equal(a.ip[1] & 0xc0, 64);
	assert_int_equal(zt_addrpool_take(p, "ztna:agent:alice", &b), 0);
	assert_true(zt_addr_equal(&a, &b));
	assert_int_equal(zt_addrpool_used(p), 1);
	zt_addrpool_give(p, "ztna:agent:alice");
	assert_int_equal(zt_addrpool_used(p), 1); /* taken twice, given back once */
	zt_addrpool_give(p, "ztna:agent:alice");
	assert_int_equal(zt_addrpool_used(p), 0);
	assert_int_equal(zt_addrpool_take(p, "ztna:agent:bob", &c), 0);
	assert_false(zt_addr_equal(&a, &c));
	q = pool("100.64.0.0", 10);
	assert_int_equal(zt_addrpool_take(q, "ztna:agent:alice", &b), 0);
	assert_string_equal(str(&a, s1), str(&b, s2));
	zt_addrpool_gateway(q, &gw);
	assert_string_equal(str(&gw, s1), "100.64.0.1");
	zt_addrpool_give(p, "nobody"); /* harmless */
	zt_addrpool_free(p);
	zt_addrpool_free(q);
}

/* A /29: places 2..6 (not the network, the gateway, the broadcast); five identities
 * get five different ones, the sixth finds the pool full. */
static void small_pool_fills(void **state)
{
	struct zt_addrpool *p = pool("10.9.0.8", 29);
	struct zt_addr a[5], x;
	char name[32];
	(void)state;

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "agent-%d", i);
		assert_int_equal(zt_addrpool_take(p, name, &a[i]), 0);
		assert_true(a[i].ip[3] >= 10 && a[i].ip[3] <= 14);
		for (int j = 0; j < i; j++)
			assert_false(zt_addr_equal(&a[i], &a[j]));
	}
	assert_int_equal(zt_addrpool_take(p, "agent-5", &x), -ENOSPC);
	zt_addrpool_give(p, "agent-2");
	assert_int_equal(zt_addrpool_take(p, "agent-5", &x), 0);
	assert_true(zt_addr_equal(&x, &a[2]));
	assert_int_equal(zt_addrpool_take(p, "", &x), -EINVAL);
	zt_addrpool_free(p);
}

static void ipv6_and_bad_pools(void **state)
{
	struct zt_addrpool *p = pool("fd7a:7a74::", 64);
	struct zt_addr a, bad;
	(void)state;

	assert_int_equal(zt_addrpool_take(p, "ztna:agent:alice", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.ip[0], 0xfd);
	assert_int_equal(a.ip[1], 0x7a);
	assert_int_equal(a.ip[4] | a.ip[5] | a.ip[6] | a.ip[7], 0);
	zt_addrpool_free(p);
	assert_int_equal(zt_addr_parse(&bad, "100.64.0.1", 0), 0);
	assert_int_equal(zt_addrpool_new(&p, &bad, 10), -EINVAL); /* host bits */
	assert_int_equal(zt_addr_parse(&bad, "100.64.0.0", 0), 0);
	assert_int_equal(zt_addrpool_new(&p, &bad, 31), -EINVAL);
	assert_int_equal(zt_addrpool_new(&p, &bad, 7), -EINVAL);
	assert_int_equal(zt_addr_parse(&bad, "fd7a::", 0), 0);
	assert_int_equal(zt_addrpool_new(&p, &bad, 48), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stable_per_identity),
		cmocka_unit_test(small_pool_fills),
		cmocka_unit_test(ipv6_and_bad_pools),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
