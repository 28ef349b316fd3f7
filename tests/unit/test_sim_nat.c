#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/units.h"
#include "../../sim/nat.h"

/*
 * The NAT model, packet by packet, against RFC 4787's definitions: mapping (s4.1),
 * port assignment (s4.2.1), refresh (s4.3), filtering (s5).
 */

static struct zt_addr A(const char *s)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, s, 0), 0);
	return a;
}

struct events {
	int created, expired;
};

static void count(void *ctx, uint64_t now, const struct zt_sim_nat *nat,
		  enum zt_sim_nat_event ev, const struct zt_sim_nat_map *m)
{
	struct events *e = ctx;

	(void)now;
	(void)nat;
	(void)m;
	if (ev == ZT_SIM_NAT_EV_CREATE)
		e->created++;
	else
		e->expired++;
}

static void setup(struct zt_sim_nat *n, struct zt_prng *g, enum zt_sim_dep map,
		  enum zt_sim_dep filt, enum zt_sim_ports ports, struct events *ev)
{
	struct zt_sim_nat_cfg c = { .mapping = map, .filtering = filt, .ports = ports,
				    .timeout = 30 * ZT_SEC };
	struct zt_addr wan = A("203.0.113.1");

	zt_prng_seed(g, 7);
	zt_sim_nat_init(n, &c, &wan);
	n->log = count;
	n->log_ctx = ev;
}

static uint16_t out(struct zt_sim_nat *n, struct zt_prng *g, uint64_t now, const char *src,
		    const char *dst)
{
	struct zt_addr s = A(src), d = A(dst), x;

	assert_int_equal(zt_sim_nat_out(n, now, g, &s, &d, &x), ZT_SIM_NAT_PASS);
	assert_true(zt_addr_ip_equal(&x, &n->wan));
	return x.port;
}

static enum zt_sim_nat_verdict in(struct zt_sim_nat *n, uint64_t now, const char *src,
				  uint16_t port, struct zt_addr *inside)
{
	struct zt_addr s = A(src), d = n->wan, x = { 0 };
	enum zt_sim_nat_verdict v;

	d.port = port;
	v = zt_sim_nat_in(n, now, &s, &d, &x);
	if (inside)
		*inside = x;
	return v;
}

static void eim_reuses_one_port_and_preserves_it(void **state)
{
	struct zt_sim_nat n;
	struct zt_prng g;
	struct events ev = { 0 };

	(void)state;
	setup(&n, &g, ZT_SIM_EI, ZT_SIM_APD, ZT_SIM_PORTS_PRESERVE, &ev);
	assert_int_equal(out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.10:3478"), 5000);
	assert_int_equal(out(&n, &g, 1, "192.168.1.2:5000", "198.51.100.11:3478"), 5000);
	assert_int_equal(out(&n, &g, 2, "192.168.1.2:5000", "198.51.100.10:3479"), 5000);
	assert_int_equal(ev.created, 1);
	/* another inside endpoint gets its own mapping */
	assert_int_equal(out(&n, &g, 3, "192.168.1.2:5001", "198.51.100.10:3478"), 5001);
	assert_int_equal(ev.created, 2);
	zt_sim_nat_fini(&n);
}

static void apdm_new_port_per_address_and_port(void **state)
{
	struct zt_sim_nat n;
	struct zt_prng g;
	struct events ev = { 0 };
	uint16_t p1, p2, p3;

	(void)state;
	setup(&n, &g, ZT_SIM_APD, ZT_SIM_APD, ZT_SIM_PORTS_RANDOM, &ev);
	p1 = out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.10:3478");
	p2 = out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.11:3478");
	p3 = out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.10:3479");
	assert_true(p1 != p2 && p1 != p3 && p2 != p3);
	assert_int_equal(ev.created, 3);
	/* the same destination reuses its mapping */
	assert_int_equal(out(&n, &g, 1, "192.168.1.2:5000", "198.51.100.10:3479"), p3);
	assert_int_equal(ev.created, 3);
	zt_sim_nat_fini(&n);
}

static void adm_new_port_per_address_only(void **state)
{
	struct zt_sim_nat n;
	struct zt_prng g;
	struct events ev = { 0 };
	uint16_t p1;

	(void)state;
	setup(&n, &g, ZT_SIM_AD, ZT_SIM_APD, ZT_SIM_PORTS_SEQUENTIAL, &ev);
	p1 = out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.10:3478");
	assert_int_equal(out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.10:3479"), p1);
	assert_int_equal(out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.11:3478"), p1 + 1);
	assert_int_equal(ev.created, 2);
	zt_sim_nat_fini(&n);
}

static void filtering_behaviours(void **state)
{
	static const enum zt_sim_dep filt[3] = { ZT_SIM_EI, ZT_SIM_AD, ZT_SIM_APD };
	/* same address+port / same address other port / other address */
	static const bool expect[3][3] = {
		{ true, true, true },
		{ true, true, false },
		{ true, false, false },
	};

	(void)state;
	for (int f = 0; f < 3; f++) {
		struct zt_sim_nat n;
		struct zt_prng g;
		struct events ev = { 0 };
		struct zt_addr inside;
		uint16_t p;

		setup(&n, &g, ZT_SIM_EI, filt[f], ZT_SIM_PORTS_PRESERVE, &ev);
		/* nothing comes in before the inside has sent (no mapping) */
		assert_int_equal(in(&n, 0, "198.51.100.10:3478", 5000, NULL), ZT_SIM_NAT_NOMAP);
		p = out(&n, &g, 1, "192.168.1.2:5000", "198.51.100.10:3478");
		assert_int_equal(in(&n, 2, "198.51.100.10:3478", p, &inside),
				 expect[f][0] ? ZT_SIM_NAT_PASS : ZT_SIM_NAT_FILTERED);
		if (expect[f][0])
			assert_true(zt_addr_equal(&inside, &(struct zt_addr){ 0 }) == false &&
				    inside.port == 5000);
		assert_int_equal(in(&n, 2, "198.51.100.10:3479", p, NULL),
				 expect[f][1] ? ZT_SIM_NAT_PASS : ZT_SIM_NAT_FILTERED);
		assert_int_equal(in(&n, 2, "198.51.100.11:3478", p, NULL),
				 expect[f][2] ? ZT_SIM_NAT_PASS : ZT_SIM_NAT_FILTERED);
		/* a port nobody holds */
		assert_int_equal(in(&n, 2, "198.51.100.10:3478", 5999, NULL), ZT_SIM_NAT_NOMAP);
		zt_sim_nat_fini(&n);
	}
}

static void mapping_times_out_after_last_outbound(void **state)
{
	struct zt_sim_nat n;
	struct zt_prng g;
	struct events ev = { 0 };

	(void)state;
	setup(&n, &g, ZT_SIM_EI, ZT_SIM_EI, ZT_SIM_PORTS_PRESERVE, &ev);
	out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.10:3478");
	out(&n, &g, 10 * ZT_SEC, "192.168.1.2:5000", "198.51.100.10:3478"); /* refresh (REQ-6) */
	/* inbound traffic does not refresh by default */
	assert_int_equal(in(&n, 35 * ZT_SEC, "198.51.100.10:3478", 5000, NULL), ZT_SIM_NAT_PASS);
	assert_int_equal(in(&n, 40 * ZT_SEC - 1, "198.51.100.10:3478", 5000, NULL), ZT_SIM_NAT_PASS);
	assert_int_equal(ev.expired, 0);
	assert_int_equal(in(&n, 40 * ZT_SEC, "198.51.100.10:3478", 5000, NULL), ZT_SIM_NAT_NOMAP);
	assert_int_equal(ev.expired, 1);
	zt_sim_nat_fini(&n);

	/* with inbound refresh, answers keep it alive */
	setup(&n, &g, ZT_SIM_EI, ZT_SIM_EI, ZT_SIM_PORTS_PRESERVE, &ev);
	n.cfg.refresh_inbound = true;
	out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.10:3478");
	assert_int_equal(in(&n, 29 * ZT_SEC, "198.51.100.10:3478", 5000, NULL), ZT_SIM_NAT_PASS);
	assert_int_equal(in(&n, 58 * ZT_SEC, "198.51.100.10:3478", 5000, NULL), ZT_SIM_NAT_PASS);
	assert_int_equal(in(&n, 88 * ZT_SEC, "198.51.100.10:3478", 5000, NULL), ZT_SIM_NAT_NOMAP);
	zt_sim_nat_fini(&n);
}

static void port_collision_remaps_once_and_keeps_eim(void **state)
{
	struct zt_sim_nat n;
	struct zt_prng g;
	struct events ev = { 0 };
	uint16_t p;

	(void)state;
	/* docs/lab.md pitfall 3: the second host with the same port is remapped once */
	setup(&n, &g, ZT_SIM_EI, ZT_SIM_APD, ZT_SIM_PORTS_PRESERVE, &ev);
	assert_int_equal(out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.10:3478"), 5000);
	p = out(&n, &g, 0, "192.168.1.3:5000", "198.51.100.10:3478");
	assert_int_not_equal(p, 5000);
	assert_int_equal(out(&n, &g, 0, "192.168.1.3:5000", "198.51.100.11:9"), p);
	zt_sim_nat_fini(&n);
}

static void blocked_and_flushed(void **state)
{
	struct zt_sim_nat n;
	struct zt_prng g;
	struct events ev = { 0 };
	struct zt_addr s = A("192.168.1.2:5000"), d = A("198.51.100.10:3478"), x;

	(void)state;
	setup(&n, &g, ZT_SIM_EI, ZT_SIM_EI, ZT_SIM_PORTS_PRESERVE, &ev);
	n.cfg.udp_blocked = true;
	assert_int_equal(zt_sim_nat_out(&n, 0, &g, &s, &d, &x), ZT_SIM_NAT_BLOCKED);
	assert_int_equal(in(&n, 0, "198.51.100.10:3478", 5000, NULL), ZT_SIM_NAT_BLOCKED);
	n.cfg.udp_blocked = false;
	out(&n, &g, 0, "192.168.1.2:5000", "198.51.100.10:3478");
	zt_sim_nat_flush(&n);
	assert_int_equal(in(&n, 1, "198.51.100.10:3478", 5000, NULL), ZT_SIM_NAT_NOMAP);
	zt_sim_nat_fini(&n);
}

/* A port mapping (PCP MAP, NAT-PMP, UPnP) on a symmetric NAT with random ports: the
 * port asked for, the same public port to every destination, anyone let in before and
 * after the inside sent anything, never expiring; refused by a NAT without the service,
 * and a second host asking for the same port gets another. */
static void port_mapping_is_endpoint_independent_both_ways(void **state)
{
	struct zt_sim_nat n;
	struct zt_prng g;
	struct events ev = { 0 };
	struct zt_addr inside = A("192.168.1.2:5000"), other = A("192.168.1.3:5000"), pub, pub2, x;

	(void)state;
	setup(&n, &g, ZT_SIM_APD, ZT_SIM_APD, ZT_SIM_PORTS_RANDOM, &ev);
	assert_int_equal(zt_sim_nat_map_static(&n, &g, &inside, &pub), -EINVAL);
	n.cfg.portmap = true;
	assert_int_equal(zt_sim_nat_map_static(&n, &g, &inside, &pub), 0);
	assert_true(zt_addr_ip_equal(&pub, &n.wan));
	assert_int_equal(pub.port, 5000);
	/* in before any packet out, from anyone */
	assert_int_equal(in(&n, 1, "198.51.100.10:3478", 5000, &x), ZT_SIM_NAT_PASS);
	assert_true(zt_addr_equal(&x, &inside));
	/* out through the mapping whatever the destination (APDM would give new ports) */
	assert_int_equal(out(&n, &g, 2, "192.168.1.2:5000", "198.51.100.10:3478"), 5000);
	assert_int_equal(out(&n, &g, 3, "192.168.1.2:5000", "198.51.100.11:9999"), 5000);
	/* other sockets of the host still get the NAT's own behaviour */
	assert_int_not_equal(out(&n, &g, 4, "192.168.1.2:5001", "198.51.100.10:3478"), 5000);
	/* no timeout: still there an hour later, for a stranger */
	assert_int_equal(zt_sim_nat_expire(&n, 3600 * ZT_SEC), 1); /* the 5001 mapping */
	assert_int_equal(in(&n, 3600 * ZT_SEC, "198.51.100.99:1", 5000, NULL), ZT_SIM_NAT_PASS);
	/* the port is taken: another host gets another */
	assert_int_equal(zt_sim_nat_map_static(&n, &g, &other, &pub2), 0);
	assert_int_not_equal(pub2.port, 5000);
	n.cfg.udp_blocked = true;
	assert_int_equal(zt_sim_nat_map_static(&n, &g, &other, &pub2), -EINVAL);
	zt_sim_nat_fini(&n);
}

static void lab_types_match_natrules(void **state)
{
	struct zt_sim_nat_cfg c;

	(void)state;
	c = zt_sim_nat_cfg_of_type(0);
	assert_true(c.mapping == ZT_SIM_EI && c.filtering == ZT_SIM_EI);
	c = zt_sim_nat_cfg_of_type(1);
	assert_true(c.mapping == ZT_SIM_EI && c.filtering == ZT_SIM_AD);
	c = zt_sim_nat_cfg_of_type(2);
	assert_true(c.mapping == ZT_SIM_EI && c.filtering == ZT_SIM_APD);
	c = zt_sim_nat_cfg_of_type(3);
	assert_true(c.mapping == ZT_SIM_APD && c.filtering == ZT_SIM_APD &&
		    c.ports == ZT_SIM_PORTS_RANDOM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(eim_reuses_one_port_and_preserves_it),
		cmocka_unit_test(apdm_new_port_per_address_and_port),
		cmocka_unit_test(adm_new_port_per_address_only),
		cmocka_unit_test(filtering_behaviours),
		cmocka_unit_test(mapping_times_out_after_last_outbound),
		cmocka_unit_test(port_collision_remaps_once_and_keeps_eim),
		cmocka_unit_test(blocked_and_flushed),
		cmocka_unit_test(lab_types_match_natrules),
		cmocka_unit_test(port_mapping_is_endpoint_independent_both_ways),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
