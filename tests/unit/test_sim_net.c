#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/units.h"
#include "../../sim/session.h"

/*
 * The simulated network built from the lab's own scenario files, probed the way
 * tests/lab/nat_types.sh and hairpin.sh probe the real lab: the simulator must give
 * the answers the lab's suites expect from real nftables NATs.
 */

struct probe {
	struct zt_sim_evq evq;
	struct zt_sim_net net;
	struct zt_sim_scn scn;
	int map[ZT_SCN_MAX_NODES];
	int got;
	struct zt_addr from, local;
};

static void rx(void *ctx, uint64_t now, const struct zt_addr *local, const struct zt_addr *from,
	       const uint8_t *buf, size_t len)
{
	struct probe *p = ctx;

	(void)now;
	(void)buf;
	(void)len;
	p->got++;
	p->from = *from;
	p->local = *local;
}

static struct probe *load(const char *file)
{
	struct probe *p = calloc(1, sizeof(*p));
	struct zt_scn_error err;
	char path[512];
	const char *root = getenv("ZT_ROOT");

	assert_non_null(p);
	snprintf(path, sizeof(path), "%s/scenarios/lab/%s", root ? root : ".", file);
	if (zt_sim_scn_load(&p->scn, path, &err) < 0)
		fail_msg("%s", err.msg);
	zt_sim_evq_init(&p->evq);
	zt_sim_net_init(&p->net, &p->evq, 1);
	assert_int_equal(zt_sim_session_build(&p->net, &p->scn, p->map), 0);
	for (unsigned i = 0; i < p->net.nnodes; i++)
		if (p->net.nodes[i].kind != ZT_SIM_NODE_NAT)
			zt_sim_net_set_rx(&p->net, (int)i, rx, p);
	return p;
}

static void unload(struct probe *p)
{
	zt_sim_evq_drain(&p->evq, zt_sim_net_drop_event);
	zt_sim_evq_fini(&p->evq);
	zt_sim_net_fini(&p->net);
	free(p);
}

static struct zt_addr A(const char *s)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, s, 0), 0);
	return a;
}

/* node sends from src to dst; returns 1 and *seen when it arrived, else 0 */
static int send1(struct probe *p, const char *node, const char *src, const char *dst,
		 struct zt_addr *seen)
{
	int n = zt_sim_net_find(&p->net, node);
	struct zt_addr s = A(src), d = A(dst);
	uint8_t b[8] = { 0x41 };

	assert_true(n >= 0);
	p->got = 0;
	assert_int_equal(zt_sim_net_send(&p->net, n, &s, &d, b, sizeof(b)), 0);
	zt_sim_evq_run(&p->evq, p->evq.now + ZT_SEC);
	if (p->got && seen)
		*seen = p->from;
	return p->got;
}

static void lab_nat_types_behave_as_nat_types_sh_expects(void **state)
{
	static const char *const files[] = { "full-cone.lab", "address-restricted.lab",
					     "port-restricted.lab", "symmetric.lab" };
	char buf[ZT_ADDR_STRLEN];

	(void)state;
	for (int type = 0; type < 4; type++) {
		struct probe *p = load(files[type]);
		struct zt_addr m1, m2, m3, mapped;
		int want;

		assert_int_equal(send1(p, "alice", "192.168.1.2:5000", "203.0.113.10:3478", &m1), 1);
		assert_int_equal(send1(p, "alice", "192.168.1.2:5000", "203.0.113.11:3478", &m2), 1);
		assert_int_equal(send1(p, "alice", "192.168.1.2:5000", "203.0.113.10:3479", &m3), 1);
		assert_string_equal(zt_addr_format(&m1, false, buf, sizeof(buf)) > 0 ? buf : "", "203.0.113.1");
		if (type == 3) {
			assert_false(zt_addr_equal(&m1, &m2));
			assert_false(zt_addr_equal(&m1, &m3));
			assert_false(zt_addr_equal(&m2, &m3));
		} else {
			assert_int_equal(m1.port, 5000);
			assert_true(zt_addr_equal(&m1, &m2) && zt_addr_equal(&m1, &m3));
		}
		/* filtering: the answer from where alice sent arrives */
		assert_int_equal(send1(p, "alice", "192.168.1.2:5001", "203.0.113.10:3478", &mapped), 1);
		assert_int_equal(send1(p, "stun", "203.0.113.10:3478", zt_addr_str(&mapped, buf), NULL), 1);
		want = type <= 1;
		assert_int_equal(send1(p, "stun", "203.0.113.10:3479", zt_addr_str(&mapped, buf), NULL), want);
		want = type == 0;
		assert_int_equal(send1(p, "stun", "203.0.113.11:3478", zt_addr_str(&mapped, buf), NULL), want);
		assert_int_equal(send1(p, "peer", "203.0.113.20:4000", zt_addr_str(&mapped, buf), NULL), want);
		unload(p);
	}
}

static void double_nat_is_eim_with_port_dependent_filtering(void **state)
{
	struct probe *p = load("double-nat.lab");
	struct zt_addr m1, m2;
	char buf[ZT_ADDR_STRLEN];

	(void)state;
	assert_int_equal(send1(p, "alice", "192.168.1.2:5000", "203.0.113.10:3478", &m1), 1);
	assert_int_equal(send1(p, "alice", "192.168.1.2:5000", "203.0.113.11:3478", &m2), 1);
	assert_true(zt_addr_equal(&m1, &m2));
	assert_int_equal(zt_addr_format(&m1, false, buf, sizeof(buf)) > 0, 1);
	assert_string_equal(buf, "203.0.113.1");
	assert_int_equal(send1(p, "stun", "203.0.113.10:3478", zt_addr_str(&m1, buf), NULL), 1);
	assert_int_equal(send1(p, "stun", "203.0.113.10:3479", zt_addr_str(&m1, buf), NULL), 0);
	unload(p);
}

static void hairpin_on_and_off(void **state)
{
	struct probe *p = load("hairpin.lab");
	struct zt_addr ma, mb, seen;
	char buf[ZT_ADDR_STRLEN];

	(void)state;
	/* home hairpins: alice reaches bob at his public mapping, seen from hers; both
	 * use inside port 6000, so alice gets another public port (hairpin.sh) */
	assert_int_equal(send1(p, "bob", "192.168.1.3:6000", "203.0.113.10:3478", &mb), 1);
	assert_int_equal(send1(p, "alice", "192.168.1.2:6000", "203.0.113.10:3478", &ma), 1);
	assert_int_equal(mb.port, 6000);
	assert_int_not_equal(ma.port, 6000);
	assert_int_equal(send1(p, "alice", "192.168.1.2:6000", zt_addr_str(&mb, buf), &seen), 1);
	assert_true(zt_addr_equal(&seen, &ma));
	struct zt_addr bob = A("192.168.1.3:6000");
	assert_true(zt_addr_equal(&p->local, &bob));
	/* and the answer comes back from bob's public mapping */
	assert_int_equal(send1(p, "bob", "192.168.1.3:6000", zt_addr_str(&ma, buf), &seen), 1);
	assert_true(zt_addr_equal(&seen, &mb));
	/* office does not */
	assert_int_equal(send1(p, "carol", "192.168.2.2:5000", "203.0.113.10:3478", &ma), 1);
	assert_int_equal(send1(p, "dave", "192.168.2.3:5000", "203.0.113.10:3478", &mb), 1);
	assert_int_equal(send1(p, "carol", "192.168.2.2:5000", zt_addr_str(&mb, buf), NULL), 0);
	/* neighbours on one lan reach each other directly */
	assert_int_equal(send1(p, "carol", "192.168.2.2:5000", "192.168.2.3:5000", &seen), 1);
	struct zt_addr carol = A("192.168.2.2:5000");
	assert_true(zt_addr_equal(&seen, &carol));
	unload(p);
}

static void udp_blocked_and_no_route(void **state)
{
	struct probe *p = load("udp-blocked.lab");

	(void)state;
	assert_int_equal(send1(p, "alice", "10.10.0.2:5000", "203.0.113.10:3478", NULL), 0);
	assert_int_equal(send1(p, "stun", "203.0.113.10:3478", "198.18.0.1:9", NULL), 0);
	assert_true(p->net.dropped >= 2);
	unload(p);
}

/* The simulator carries UDP only: behind a proxy-only NAT (egress proxy) none gets out,
 * as tests/lab/proxy.sh sees in the lab; bob's ordinary NAT is the control. */
static void proxy_only_lets_no_udp_out(void **state)
{
	struct probe *p = load("proxy-only.lab");

	(void)state;
	assert_int_equal(send1(p, "alice", "10.10.0.2:5000", "203.0.113.10:3478", NULL), 0);
	assert_int_equal(send1(p, "alice", "10.10.0.2:5000", "203.0.113.20:3128", NULL), 0);
	assert_int_equal(send1(p, "bob", "10.2.1.2:5000", "203.0.113.10:3478", NULL), 1);
	unload(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lab_nat_types_behave_as_nat_types_sh_expects),
		cmocka_unit_test(double_nat_is_eim_with_port_dependent_filtering),
		cmocka_unit_test(hairpin_on_and_off),
		cmocka_unit_test(udp_blocked_and_no_route),
		cmocka_unit_test(proxy_only_lets_no_udp_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
