#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../netns/natrules.h"

static struct zt_scn_node nat(enum zt_nat_type type, bool hairpin, bool block, unsigned timeout)
{
	struct zt_scn_node n = {
		.name = "home", .kind = ZT_SCN_NAT, .up = -1, .naddr = 1,
		.addr = { 203u << 24 | 113 << 8 | 1 },            /* 203.0.113.1 */
		.type = type, .lan_net = 192u << 24 | 168 << 16 | 1 << 8, .lan_prefix = 24,
		.lan_gw = (192u << 24 | 168 << 16 | 1 << 8) + 1,
		.hairpin = hairpin, .block_udp = block, .timeout_s = timeout,
	};
	return n;
}

static const char *render(const struct zt_scn_node *n, char *buf, size_t cap)
{
	int rc = zt_natrules_render(n, buf, cap);

	assert_true(rc > 0);
	assert_int_equal((size_t)rc, strlen(buf));
	return buf;
}

/* The text of chain `name` ("chain name {" to its closing tab-brace). */
static const char *chain(const char *rules, const char *name, char *out, size_t cap)
{
	char head[64];
	const char *s, *e;

	snprintf(head, sizeof(head), "\tchain %s {\n", name);
	s = strstr(rules, head);
	if (!s) {
		out[0] = 0;
		return out;
	}
	e = strstr(s, "\n\t}\n");
	assert_non_null(e);
	snprintf(out, cap, "%.*s", (int)(e + 1 - s), s); /* with the last rule's newline */
	return out;
}

#define HAS(text, piece) assert_non_null(strstr(text, piece))
#define LACKS(text, piece) assert_null(strstr(text, piece))

static void every_type_drops_unsolicited_on_wan(void **state)
{
	char buf[8192], c[2048];

	(void)state;
	for (int t = ZT_NAT_FULL_CONE; t <= ZT_NAT_SYMMETRIC; t++) {
		struct zt_scn_node n = nat((enum zt_nat_type)t, false, false, 120);

		render(&n, buf, sizeof(buf));
		assert_memory_equal(buf, "flush ruleset\n", 14);
		HAS(chain(buf, "input", c, sizeof(c)), "iifname \"wan\" ct state new drop");
		HAS(chain(buf, "forward", c, sizeof(c)), "policy drop;");
		HAS(c, "ct state established,related accept");
		HAS(c, "iifname \"lan\" oifname \"wan\" accept");
		HAS(chain(buf, "postrouting", c, sizeof(c)), "oifname \"wan\" masquerade");
	}
}

static void port_restricted_is_plain_masquerade(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_PORT_RESTRICTED, false, false, 120);
	char buf[8192], c[2048];

	(void)state;
	render(&n, buf, sizeof(buf));
	HAS(chain(buf, "postrouting", c, sizeof(c)), "masquerade\n");
	LACKS(c, "random");
	LACKS(buf, "map mapping");
	LACKS(buf, "dnat");
	LACKS(buf, "chain learn");
	LACKS(chain(buf, "forward", c, sizeof(c)), "ct status dnat");
}

static void symmetric_is_random(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_SYMMETRIC, false, false, 120);
	char buf[8192], c[2048];

	(void)state;
	render(&n, buf, sizeof(buf));
	HAS(chain(buf, "postrouting", c, sizeof(c)), "oifname \"wan\" masquerade random\n");
	LACKS(buf, "map mapping");
	LACKS(buf, "dnat");
}

static void symmetric_sequential_counts_ports(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_SYMMETRIC, false, false, 120);
	static char buf[ZT_NATRULES_MAX], c[ZT_NATRULES_MAX];
	const char *seq, *rest;

	(void)state;
	n.ports = ZT_SCN_PORTS_SEQUENTIAL;
	render(&n, buf, sizeof(buf));
	HAS(buf, "ports sequential");
	chain(buf, "postrouting", c, sizeof(c));
	/* UDP: the counter's value mapped to a port (a bare numgen would be byte-swapped) */
	seq = strstr(c, "oifname \"wan\" meta l4proto udp snat ip to 203.0.113.1 : "
		     "numgen inc mod 1000 map {\n\t\t\t0 : 20000, 1 : 20001, ");
	assert_non_null(seq);
	HAS(seq, ", 9 : 20009,\n\t\t\t10 : 20010, ");
	HAS(seq, ", 999 : 20999 }\n");
	LACKS(c, "1000 : ");
	/* the rest (TCP, ICMP) as before, after it */
	rest = strstr(c, "oifname \"wan\" masquerade random\n");
	assert_non_null(rest);
	assert_true(rest > seq);
	LACKS(buf, "@inuse");
	LACKS(buf, "chain learn");
	/* the cone types ignore the field (the parser sets PRESERVE on them) */
	n.type = ZT_NAT_PORT_RESTRICTED;
	render(&n, buf, sizeof(buf));
	LACKS(buf, "numgen");
	HAS(chain(buf, "postrouting", c, sizeof(c)), "oifname \"wan\" masquerade\n");
}

static void symmetric_preserve_keeps_free_ports(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_SYMMETRIC, false, false, 45);
	char buf[8192], c[2048], f[256];
	const char *taken, *keep, *rest;

	(void)state;
	n.ports = ZT_SCN_PORTS_PRESERVE;
	render(&n, buf, sizeof(buf));
	HAS(buf, "\tset inuse {\n\t\ttype inet_service\n\t\tflags dynamic,timeout\n"
		 "\t\ttimeout 45s\n");
	chain(buf, "postrouting", c, sizeof(c));
	taken = strstr(c, "oifname \"wan\" meta l4proto udp udp sport @inuse masquerade random\n");
	keep = strstr(c, "oifname \"wan\" meta l4proto udp masquerade\n");
	rest = strstr(c, "oifname \"wan\" masquerade random\n");
	assert_non_null(taken);
	assert_non_null(keep);
	assert_non_null(rest);
	assert_true(taken < keep && keep < rest);
	/* learned after SNAT from both directions: the reply tuple's destination port */
	HAS(chain(buf, "learn", c, sizeof(c)), "priority srcnat + 10;");
	HAS(c, "meta l4proto udp ct status snat update @inuse { ct reply proto-dst }\n");
	LACKS(c, "@mapping");
	LACKS(buf, "numgen");
	assert_true(zt_natrules_render_flush(&n, f, sizeof(f)) > 0);
	assert_string_equal(f, "flush set ip ztlab inuse\n");
}

/* 'portmap': miniupnpd's table and chains, DNATed packets forwarded, the other
 * protocol's requests dropped for 'natpmp' and 'pcp'. */
/* 'block N': one snat rule per subscriber, its own ports, before the catch-all;
 * random on a symmetric NAT only. */
static void port_blocks_per_subscriber(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_PORT_RESTRICTED, false, false, 120);
	char buf[8192], c[2048];
	const char *r0, *r1, *all;

	(void)state;
	n.port_block = 1024;
	n.nblocks = 2;
	n.block_addr[0] = 192u << 24 | 168 << 16 | 1 << 8 | 2;
	n.block_addr[1] = 192u << 24 | 168 << 16 | 1 << 8 | 7;
	render(&n, buf, sizeof(buf));
	chain(buf, "postrouting", c, sizeof(c));
	r0 = strstr(c, "oifname \"wan\" ip saddr 192.168.1.2 meta l4proto { tcp, udp } snat ip to 203.0.113.1:1024-2047\n");
	r1 = strstr(c, "oifname \"wan\" ip saddr 192.168.1.7 meta l4proto { tcp, udp } snat ip to 203.0.113.1:2048-3071\n");
	all = strstr(c, "oifname \"wan\" masquerade\n");
	assert_non_null(r0);
	assert_non_null(r1);
	assert_non_null(all);
	assert_true(r0 < r1 && r1 < all);

	n.type = ZT_NAT_SYMMETRIC;
	n.ports = ZT_SCN_PORTS_RANDOM;
	n.port_block = 16;
	render(&n, buf, sizeof(buf));
	HAS(chain(buf, "postrouting", c, sizeof(c)),
	    "ip saddr 192.168.1.7 meta l4proto { tcp, udp } snat ip to 203.0.113.1:1040-1055 random\n");
}

/* 'refresh outbound': a set refreshed by packets out of the wan, and inbound UDP for
 * ports not in it dropped before conntrack (priority raw); flushed on a reboot. */
static void refresh_outbound_only(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_FULL_CONE, false, false, 30);
	char buf[8192], c[2048];

	(void)state;
	render(&n, buf, sizeof(buf));
	LACKS(buf, "alive");
	LACKS(buf, "chain raw");
	n.refresh_outbound = true;
	render(&n, buf, sizeof(buf));
	HAS(buf, "\tset alive {\n\t\ttype inet_service\n\t\tflags dynamic,timeout\n\t\ttimeout 30s\n");
	HAS(chain(buf, "raw", c, sizeof(c)), "type filter hook prerouting priority raw;");
	HAS(c, "iifname \"wan\" meta l4proto udp udp dport != @alive drop\n");
	HAS(chain(buf, "learn", c, sizeof(c)), "oifname \"wan\" meta l4proto udp update @alive { udp sport }\n");
	assert_true(zt_natrules_render_flush(&n, buf, sizeof(buf)) > 0);
	HAS(buf, "flush set ip ztlab alive\n");
	/* a port-restricted NAT has no learn chain of its own: it gets one */
	n = nat(ZT_NAT_PORT_RESTRICTED, false, false, 30);
	n.refresh_outbound = true;
	render(&n, buf, sizeof(buf));
	HAS(chain(buf, "learn", c, sizeof(c)), "update @alive");
}

static void portmap_makes_room_for_miniupnpd(void **state)
{
	static const struct {
		enum zt_scn_portmap pm;
		const char *drop;  /* NULL: nothing dropped */
	} cases[] = {
		{ ZT_SCN_PORTMAP_ALL, NULL },
		{ ZT_SCN_PORTMAP_UPNP, NULL },
		{ ZT_SCN_PORTMAP_NATPMP, "iifname \"lan\" udp dport 5351 @th,64,8 2 counter drop\n" },
		{ ZT_SCN_PORTMAP_PCP, "iifname \"lan\" udp dport 5351 @th,64,8 0 counter drop\n" },
	};
	char buf[8192], c[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zt_scn_node n = nat(ZT_NAT_PORT_RESTRICTED, false, false, 120);
		const char *pm;

		n.portmap = cases[i].pm;
		render(&n, buf, sizeof(buf));
		pm = strstr(buf, "table inet ztlab_pm {\n");
		assert_non_null(pm);
		HAS(pm, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat - 1; "
			"policy accept;\n\t\tjump upnp_pre\n\t}\n\tchain upnp_pre {\n\t}\n");
		HAS(pm, "priority srcnat - 1; policy accept;\n\t\tjump upnp_post\n");
		HAS(pm, "\tchain forward {\n\t\ttype filter hook forward priority filter; "
			"policy accept;\n\t\tjump upnp_fwd\n\t}\n\tchain upnp_fwd {\n\t}\n");
		HAS(chain(buf, "forward", c, sizeof(c)),
		    "iifname \"wan\" oifname \"lan\" ct status dnat accept\n");
		chain(buf, "input", c, sizeof(c));
		if (cases[i].drop)
			HAS(c, cases[i].drop);
		else
			LACKS(c, "5351");
	}
	/* none: no table, no forward rule for DNAT */
	{
		struct zt_scn_node n = nat(ZT_NAT_PORT_RESTRICTED, false, false, 120);

		render(&n, buf, sizeof(buf));
		LACKS(buf, "ztlab_pm");
		LACKS(buf, "ct status dnat");
	}
}

static void full_cone_learns_after_snat(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_FULL_CONE, false, false, 45);
	char buf[8192], c[2048];

	(void)state;
	render(&n, buf, sizeof(buf));
	HAS(buf, "map mapping {\n\t\ttype inet_service : ipv4_addr . inet_service\n"
		 "\t\tflags dynamic,timeout\n\t\ttimeout 45s\n");
	/* keyed by the public port: the learning chain runs after the srcnat hook */
	HAS(chain(buf, "learn", c, sizeof(c)), "priority srcnat + 10;");
	HAS(c, "ct direction original ct status snat meta l4proto udp update @mapping "
	       "{ udp sport : ct original ip saddr . ct original proto-src }");
	HAS(c, "ct direction reply ct status dnat meta l4proto udp update @mapping");
	HAS(chain(buf, "prerouting", c, sizeof(c)),
	    "iifname \"wan\" meta l4proto udp dnat ip to udp dport map @mapping");
	LACKS(c, "@allowed");
	HAS(chain(buf, "forward", c, sizeof(c)), "iifname \"wan\" oifname \"lan\" ct status dnat accept");
	LACKS(buf, "set allowed");
}

static void address_restricted_checks_the_remote(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_ADDR_RESTRICTED, false, false, 120);
	char buf[8192], c[2048];

	(void)state;
	render(&n, buf, sizeof(buf));
	HAS(buf, "set allowed {\n\t\ttype ipv4_addr . inet_service\n");
	HAS(chain(buf, "learn", c, sizeof(c)), "update @allowed { ip daddr . udp sport }");
	HAS(chain(buf, "prerouting", c, sizeof(c)),
	    "iifname \"wan\" meta l4proto udp ip saddr . udp dport @allowed dnat ip to udp dport map @mapping");
}

static void hairpin_on_and_off(void **state)
{
	char buf[8192], c[2048];

	(void)state;
	for (int t = ZT_NAT_FULL_CONE; t <= ZT_NAT_SYMMETRIC; t++) {
		struct zt_scn_node on = nat((enum zt_nat_type)t, true, false, 120);
		struct zt_scn_node off = nat((enum zt_nat_type)t, false, false, 120);

		render(&on, buf, sizeof(buf));
		HAS(buf, "map reverse {");
		HAS(chain(buf, "prerouting", c, sizeof(c)),
		    "iifname \"lan\" ip daddr 203.0.113.1 meta l4proto udp dnat ip to udp dport map @mapping");
		HAS(chain(buf, "postrouting", c, sizeof(c)),
		    "oifname \"lan\" ct status dnat ip saddr 192.168.1.0/24 meta l4proto udp "
		    "snat ip to ip saddr . udp sport map @reverse\n");
		/* the fallback for an inside endpoint that never went out comes second */
		assert_true(strstr(c, "map @reverse") <
			    strstr(c, "ct status dnat ip saddr 192.168.1.0/24 snat ip to 203.0.113.1\n"));
		HAS(chain(buf, "forward", c, sizeof(c)), "iifname \"lan\" oifname \"lan\" ct status dnat accept");

		render(&off, buf, sizeof(buf));
		LACKS(buf, "reverse");
		LACKS(buf, "iifname \"lan\" ip daddr 203.0.113.1 meta l4proto udp dnat");
		LACKS(buf, "oifname \"lan\" oifname");
		HAS(chain(buf, "input", c, sizeof(c)), "iifname \"lan\" ip daddr 203.0.113.1 meta l4proto udp drop");
	}
}

static void udp_block_comes_first(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_FULL_CONE, false, true, 120);
	char buf[8192], c[2048];
	const char *drop, *est;

	(void)state;
	render(&n, buf, sizeof(buf));
	chain(buf, "forward", c, sizeof(c));
	drop = strstr(c, "meta l4proto udp drop");
	est = strstr(c, "ct state established");
	assert_non_null(drop);
	assert_non_null(est);
	assert_true(drop < est);
	n.block_udp = false;
	render(&n, buf, sizeof(buf));
	LACKS(chain(buf, "forward", c, sizeof(c)), "meta l4proto udp drop");
}

/* 'icmp drop': forwarded ICMP goes before 'related' accepts errors about our flows. */
static void icmp_drop_comes_before_related(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_PORT_RESTRICTED, false, false, 120);
	char buf[8192], c[2048];
	const char *drop, *est;

	(void)state;
	render(&n, buf, sizeof(buf));
	LACKS(chain(buf, "forward", c, sizeof(c)), "icmp");
	n.drop_icmp = true;
	render(&n, buf, sizeof(buf));
	HAS(buf, ", ICMP dropped");
	chain(buf, "forward", c, sizeof(c));
	drop = strstr(c, "meta l4proto icmp counter drop");
	est = strstr(c, "ct state established,related accept");
	assert_non_null(drop);
	assert_non_null(est);
	assert_true(drop < est);
}

/* 'egress proxy': the lan's only way out is TCP to the proxy; the rest is counted and
 * dropped, after the replies of allowed connections are accepted. */
static void egress_proxy_allows_only_the_proxy(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_FULL_CONE, true, false, 120);
	char buf[8192], c[2048];
	const char *est, *allow, *drop;

	(void)state;
	n.egress_proxy = true;
	n.egress_addr = 203u << 24 | 113 << 8 | 20;   /* 203.0.113.20 */
	n.egress_port = 3128;
	render(&n, buf, sizeof(buf));
	HAS(buf, ", egress only TCP to the proxy 203.0.113.20:3128\n");
	chain(buf, "forward", c, sizeof(c));
	est = strstr(c, "\t\tct state established,related accept\n");
	allow = strstr(c, "\t\tiifname \"lan\" oifname \"wan\" ip daddr 203.0.113.20 tcp dport 3128 accept\n");
	drop = strstr(c, "\t\tiifname \"lan\" oifname \"wan\" counter drop\n");
	assert_non_null(est);
	assert_non_null(allow);
	assert_non_null(drop);
	assert_true(est < allow && allow < drop);
	LACKS(c, "\t\tiifname \"lan\" oifname \"wan\" accept\n");
	/* the rest of the NAT is as without it: filtering, hairpin, the input chain */
	HAS(c, "iifname \"wan\" oifname \"lan\" ct status dnat accept");
	HAS(c, "iifname \"lan\" oifname \"lan\" ct status dnat accept");
	HAS(chain(buf, "input", c, sizeof(c)), "iifname \"wan\" ct state new drop");
	HAS(chain(buf, "postrouting", c, sizeof(c)), "oifname \"wan\" masquerade\n");

	n.egress_proxy = false;
	render(&n, buf, sizeof(buf));
	LACKS(buf, "egress");
	LACKS(buf, "counter drop");
	HAS(chain(buf, "forward", c, sizeof(c)), "\t\tiifname \"lan\" oifname \"wan\" accept\n");
}

/* The IPv6 firewall of a NAT with lan6 2001:db8:1:4::/64, by fw6. */
static void lan6_firewall(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_SYMMETRIC, false, false, 30);
	static const uint8_t net[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 4 };
	const char *in = "iifname \"wan\" oifname \"lan\"";
	char buf[8192], c[2048], v6[4096], *t;

	(void)state;
	render(&n, buf, sizeof(buf));
	LACKS(buf, "ip6");
	n.lan6 = true;
	memcpy(n.lan6_net, net, 16);
	n.lan6_prefix = 64;
	for (int f = ZT_SCN_FW6_ADDR_PORT; f <= ZT_SCN_FW6_OPEN; f++) {
		n.fw6 = (enum zt_scn_fw6)f;
		render(&n, buf, sizeof(buf));
		t = strstr(buf, "table ip6 ztlab6 {\n");
		assert_non_null(t);
		snprintf(v6, sizeof(v6), "%s", t);
		/* the IPv4 NAT's table is the same as without lan6 */
		HAS(chain(buf, "postrouting", c, sizeof(c)), "masquerade random");
		LACKS(v6, "nat");
		LACKS(v6, "masquerade");
		HAS(chain(v6, "forward", c, sizeof(c)), "policy drop;");
		HAS(c, "\t\tct state established,related accept\n\t\tct state invalid drop\n");
		HAS(c, "\t\tiifname \"lan\" oifname \"wan\" ip6 saddr 2001:db8:1:4::/64 accept\n");
		/* the last rule: what is not let in is counted */
		t = strstr(c, "\t\tiifname \"wan\" oifname \"lan\" counter drop\n");
		assert_non_null(t);
		assert_string_equal(t + strlen(t) - strlen("counter drop\n"), "counter drop\n");
		if (f == ZT_SCN_FW6_ADDR_PORT) {
			/* only established,related come in */
			assert_null(strstr(strstr(c, "invalid drop"), "iifname \"wan\" oifname \"lan\" accept"));
			LACKS(v6, "eif6");
		} else if (f == ZT_SCN_FW6_ENDPOINT) {
			HAS(v6, "\tset eif6 {\n\t\ttype ipv6_addr . inet_service\n\t\tflags dynamic,timeout\n"
				"\t\ttimeout 30s\n");
			HAS(c, "oifname \"wan\" ip6 saddr 2001:db8:1:4::/64 meta l4proto udp update @eif6 "
			       "{ ip6 saddr . udp sport }\n\t\tct state established");
			snprintf(buf, sizeof(buf), "%s meta l4proto udp ip6 daddr . udp dport @eif6 accept", in);
			HAS(c, buf);
		} else {
			snprintf(buf, sizeof(buf), "\t\t%s accept\n", in);
			HAS(c, buf);
		}
	}
	n.fw6 = ZT_SCN_FW6_ENDPOINT;
	assert_true(zt_natrules_render_flush(&n, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "flush set ip6 ztlab6 eif6\n");
}

static void too_small_buffers(void **state)
{
	struct zt_scn_node n = nat(ZT_NAT_ADDR_RESTRICTED, true, true, 120);
	char buf[8192], small[8192];
	int len;

	(void)state;
	len = zt_natrules_render(&n, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(zt_natrules_render(&n, small, (size_t)len), -ENOBUFS);
	assert_int_equal(small[0], 0);
	assert_int_equal(zt_natrules_render(&n, small, (size_t)len + 1), len);
	assert_string_equal(small, buf);
	assert_int_equal(zt_natrules_render(&n, small, 0), -ENOBUFS);
	n.kind = ZT_SCN_HOST;
	assert_int_equal(zt_natrules_render(&n, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_natrules_render_flush(&n, buf, sizeof(buf)), -EINVAL);
}

static void flush_names_the_learned_state(void **state)
{
	char buf[512];
	struct zt_scn_node prc = nat(ZT_NAT_PORT_RESTRICTED, false, false, 120);
	struct zt_scn_node arc = nat(ZT_NAT_ADDR_RESTRICTED, true, false, 120);

	(void)state;
	assert_int_equal(zt_natrules_render_flush(&prc, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_true(zt_natrules_render_flush(&arc, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "flush map ip ztlab mapping\nflush set ip ztlab allowed\n"
				 "flush map ip ztlab reverse\n");
	assert_int_equal(zt_natrules_render_flush(&arc, buf, 10), -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_type_drops_unsolicited_on_wan),
		cmocka_unit_test(port_restricted_is_plain_masquerade),
		cmocka_unit_test(symmetric_is_random),
		cmocka_unit_test(symmetric_sequential_counts_ports),
		cmocka_unit_test(symmetric_preserve_keeps_free_ports),
		cmocka_unit_test(port_blocks_per_subscriber),
		cmocka_unit_test(refresh_outbound_only),
		cmocka_unit_test(portmap_makes_room_for_miniupnpd),
		cmocka_unit_test(full_cone_learns_after_snat),
		cmocka_unit_test(address_restricted_checks_the_remote),
		cmocka_unit_test(hairpin_on_and_off),
		cmocka_unit_test(udp_block_comes_first),
		cmocka_unit_test(icmp_drop_comes_before_related),
		cmocka_unit_test(egress_proxy_allows_only_the_proxy),
		cmocka_unit_test(too_small_buffers),
		cmocka_unit_test(flush_names_the_learned_state),
		cmocka_unit_test(lan6_firewall),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
