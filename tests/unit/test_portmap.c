#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../netns/portmap.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define HAS(text, piece) \
	do { if (!strstr(text, piece)) fail_msg("missing '%s' in:\n%s", piece, text); } while (0)

static struct zt_scn_node nat(enum zt_scn_portmap pm)
{
	struct zt_scn_node n = {
		.name = "all_n", .kind = ZT_SCN_NAT, .up = -1, .naddr = 1,
		.addr = { IP(100, 21, 0, 1) }, .type = ZT_NAT_SYMMETRIC,
		.lan_net = IP(192, 168, 1, 0), .lan_prefix = 24, .lan_gw = IP(192, 168, 1, 1),
		.portmap = pm,
	};
	return n;
}

static void config_per_choice(void **state)
{
	static const struct {
		enum zt_scn_portmap pm;
		const char *upnp, *natpmp;
	} cases[] = {
		{ ZT_SCN_PORTMAP_ALL, "yes", "yes" },
		{ ZT_SCN_PORTMAP_UPNP, "yes", "no" },
		{ ZT_SCN_PORTMAP_NATPMP, "no", "yes" },
		{ ZT_SCN_PORTMAP_PCP, "no", "yes" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zt_scn_node n = nat(cases[i].pm);
		char buf[2048], want[64];
		int len = zt_portmap_conf_render(&n, buf, sizeof(buf));

		assert_true(len > 0);
		assert_int_equal((size_t)len, strlen(buf));
		snprintf(want, sizeof(want), "(portmap %s)", zt_scn_portmap_name(cases[i].pm));
		HAS(buf, want);
		snprintf(want, sizeof(want), "\nenable_upnp=%s\n", cases[i].upnp);
		HAS(buf, want);
		snprintf(want, sizeof(want), "\nenable_natpmp=%s\n", cases[i].natpmp);
		HAS(buf, want);
		HAS(buf, "\next_ifname=wan\next_ip=100.21.0.1\nlistening_ip=lan\nhttp_port=2869\n");
		HAS(buf, "\nsecure_mode=yes\n");
		/* a restart must show in the epoch (RFC 6887 s8.5, RFC 6886 s3.6) */
		HAS(buf, "\nsystem_uptime=no\n");
		HAS(buf, "\nupnp_table_name=ztlab_pm\nupnp_nat_table_name=ztlab_pm\n"
			 "upnp_forward_chain=upnp_fwd\nupnp_nat_chain=upnp_pre\n"
			 "upnp_nat_postrouting_chain=upnp_post\n");
		/* the lan's unprivileged ports, nothing else */
		HAS(buf, "\nallow 1024-65535 192.168.1.0/24 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n");
	}
}

static void refuses_and_small_buffers(void **state)
{
	struct zt_scn_node n = nat(ZT_SCN_PORTMAP_NONE);
	char buf[2048];
	int len;

	(void)state;
	assert_int_equal(zt_portmap_conf_render(&n, buf, sizeof(buf)), -EINVAL);
	n = nat(ZT_SCN_PORTMAP_ALL);
	n.kind = ZT_SCN_HOST;
	assert_int_equal(zt_portmap_conf_render(&n, buf, sizeof(buf)), -EINVAL);
	n.kind = ZT_SCN_NAT;
	len = zt_portmap_conf_render(&n, buf, sizeof(buf));
	assert_int_equal(zt_portmap_conf_render(&n, buf, (size_t)len), -ENOBUFS);
	assert_int_equal(buf[0], 0);
	assert_int_equal(zt_portmap_conf_render(&n, buf, (size_t)len + 1), len);
	assert_int_equal(zt_portmap_conf_render(&n, buf, 0), -ENOBUFS);
}

static void restart_empties_the_three_chains(void **state)
{
	char buf[256];
	int len;

	(void)state;
	len = zt_portmap_flush_render(buf, sizeof(buf));
	assert_int_equal((size_t)len, strlen(buf));
	assert_string_equal(buf, "flush chain inet ztlab_pm upnp_pre\n"
				 "flush chain inet ztlab_pm upnp_post\n"
				 "flush chain inet ztlab_pm upnp_fwd\n");
	assert_int_equal(zt_portmap_flush_render(buf, (size_t)len), -ENOBUFS);
	assert_int_equal(buf[0], 0);
	assert_int_equal(zt_portmap_flush_render(buf, 0), -ENOBUFS);
}

static void ready_when_its_sockets_are_bound(void **state)
{
	struct zt_child_sock s[2];
	struct zt_scn_node n = nat(ZT_SCN_PORTMAP_ALL);

	(void)state;
	assert_int_equal(zt_portmap_ready_socks(&n, s), 2);
	assert_true(s[0].udp);
	assert_int_equal(s[0].addr, IP(192, 168, 1, 1));
	assert_int_equal(s[0].port, 5351);
	assert_false(s[1].udp);
	assert_int_equal(s[1].port, 2869);
	n.portmap = ZT_SCN_PORTMAP_UPNP;
	assert_int_equal(zt_portmap_ready_socks(&n, s), 1);
	assert_false(s[0].udp);
	n.portmap = ZT_SCN_PORTMAP_PCP;
	assert_int_equal(zt_portmap_ready_socks(&n, s), 1);
	assert_true(s[0].udp);
}

/* /proc/PID/net/{udp,tcp6} as this kernel prints them for miniupnpd (x86-64) */
static const char udp_table[] =
	"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	"   90: 0101A8C0:14E7 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4110457 2 00000000ddf29d48 0\n"
	"13023: 00000000:076C 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4110454 2 000000006252c36b 0\n";
static const char tcp6_table[] =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000000000000:0B35 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0\n"
	"   1: 0000000000000000FFFF00000101A8C0:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0\n"
	"   2: 0000000000000000FFFF00000201A8C0:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0\n";

static void proc_tables_v4_and_v6(void **state)
{
	(void)state;
	if (htonl(1) == 1)
		skip();
	assert_true(zt_child_proc_net_has(udp_table, IP(192, 168, 1, 1), 5351, ZT_CHILD_UDP_BOUND));
	assert_false(zt_child_proc_net_has(udp_table, IP(192, 168, 1, 1), 5351, ZT_CHILD_TCP_LISTEN));
	assert_false(zt_child_proc_net_has(udp_table, IP(192, 168, 1, 2), 5351, ZT_CHILD_UDP_BOUND));
	/* 0.0.0.0:1900 counts for any address */
	assert_true(zt_child_proc_net_has(udp_table, IP(192, 168, 1, 2), 1900, ZT_CHILD_UDP_BOUND));
	/* [::]:2869 takes IPv4 too; ::ffff:192.168.1.1 is that address; .2 is not */
	assert_true(zt_child_proc_net_has(tcp6_table, IP(192, 168, 1, 1), 2869, ZT_CHILD_TCP_LISTEN));
	assert_true(zt_child_proc_net_has(tcp6_table, IP(192, 168, 1, 1), 8080, ZT_CHILD_TCP_LISTEN));
	assert_false(zt_child_proc_net_has(tcp6_table, IP(192, 168, 1, 1), 8081, ZT_CHILD_TCP_LISTEN));
	assert_false(zt_child_proc_net_has("", IP(192, 168, 1, 1), 5351, ZT_CHILD_UDP_BOUND));
	/* no remote address; 5 hex digits; cut short */
	assert_false(zt_child_proc_net_has("   0: 0101A8C0:14E7 07\n   1: 0101A:14E7 0:0 07\n"
					   "   2: 0101A8C0", IP(192, 168, 1, 1), 5351,
					   ZT_CHILD_UDP_BOUND));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_per_choice),
		cmocka_unit_test(refuses_and_small_buffers),
		cmocka_unit_test(restart_empties_the_three_chains),
		cmocka_unit_test(ready_when_its_sockets_are_bound),
		cmocka_unit_test(proc_tables_v4_and_v6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
