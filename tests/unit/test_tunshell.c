/*
 * app/tunshell.h: the packet tunnel's shell, on a real TUN device in a network
 * namespace of the test's own (root; skipped otherwise): the agent's routes follow
 * the Intermediate's list (added once with the tunnel address as source, deleted when
 * they leave it, skipped without an address of their family), packets from the node
 * are written to the device (refused ones counted), and a connector's shell makes and
 * removes its masquerade table with the device.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>

#include "app/tunshell.h"
#include "core/route.h"
#include "io/tun.h"
#include "tun_harness.h"

static struct zt_route route(const char *text)
{
	struct zt_route r;

	assert_int_equal(zt_route_parse(&r, text), 0);
	return r;
}

static int count(const char *prefix, unsigned plen, struct zt_addr *src, int *oif)
{
	struct zt_addr p = th_addr(prefix);

	return th_route_count(&p, plen, src, oif);
}

static void agent_routes_follow_the_list(void **state)
{
	static struct zt_tunshell t;
	struct zt_route r[3];
	struct zt_addr self = th_addr("100.64.0.7"), src;
	char err[256];
	int oif = 0;
	(void)state;

	th_netns_or_skip();
	assert_int_equal(zt_tunshell_open(&t, NULL, NULL, true, "zts0", err, sizeof(err)), 0);
	assert_string_equal(zt_tunshell_name(&t), "zts0");
	assert_int_equal(zt_tun_addr_add(t.tun, &self, 32), 0);
	t.addr4 = self; /* what zt_tunshell_ready does with the WELCOME's address */

	r[0] = route("db=10.0.5.0/24");
	r[1] = route("web=10.0.6.20/32:tcp/443");
	r[2] = route("v6=fd00:5::/64"); /* no IPv6 tunnel address: skipped */
	zt_tunshell_routes(&t, r, 3);
	assert_int_equal(count("10.0.5.0", 24, &src, &oif), 1);
	assert_true(zt_addr_ip_equal(&src, &self));
	assert_int_equal(oif, zt_tun_ifindex(t.tun));
	assert_int_equal(count("10.0.6.20", 32, NULL, NULL), 1);
	assert_int_equal(count("fd00:5::", 64, NULL, NULL), 0);
	assert_int_equal(t.nroutes, 2);
	assert_int_equal(t.st.route_errors, 0);

	/* db leaves, web stays (once), hr comes */
	r[0] = route("web=10.0.6.20/32:tcp/443,icmp");
	r[1] = route("hr=10.0.7.0/24");
	zt_tunshell_routes(&t, r, 2);
	assert_int_equal(count("10.0.5.0", 24, NULL, NULL), 0);
	assert_int_equal(count("10.0.6.20", 32, NULL, NULL), 1);
	assert_int_equal(count("10.0.7.0", 24, NULL, NULL), 1);
	assert_int_equal(t.nroutes, 2);

	zt_tunshell_routes(&t, NULL, 0);
	assert_int_equal(count("10.0.6.20", 32, NULL, NULL), 0);
	assert_int_equal(count("10.0.7.0", 24, NULL, NULL), 0);

	/* a route over the Intermediate's address would carry the tunnel inside itself */
	t.keep_out = th_addr("10.0.8.1:4433");
	r[0] = route("big=10.0.0.0/12");
	r[1] = route("hr=10.0.7.0/24");
	zt_tunshell_routes(&t, r, 2);
	assert_int_equal(count("10.0.0.0", 12, NULL, NULL), 0);
	assert_int_equal(count("10.0.7.0", 24, NULL, NULL), 1);
	assert_int_equal(t.st.routes_skipped, 2); /* v6 before, big now */
	zt_tunshell_close(&t);
	assert_int_equal(if_nametoindex("zts0"), 0);
}

static void packets_are_written_and_refusals_counted(void **state)
{
	static struct zt_tunshell t;
	struct zt_addr self = th_addr("100.64.0.7"), from = th_addr("10.0.5.3:53");
	struct zt_addr to = th_addr("100.64.0.7:4000"), got;
	uint8_t pkt[256], buf[256];
	char err[256];
	size_t n;
	int fd;
	(void)state;

	th_netns_or_skip();
	assert_int_equal(zt_tunshell_open(&t, NULL, NULL, true, NULL, err, sizeof(err)), 0);
	assert_int_equal(strncmp(zt_tunshell_name(&t), "ztna", 4), 0);
	assert_int_equal(zt_tun_addr_add(t.tun, &self, 32), 0);
	fd = th_udp_socket(&to);
	n = th_udp_packet(pkt, sizeof(pkt), &from, &to, "hello", 5);
	zt_tunshell_write(&t, pkt, n);
	assert_int_equal(th_udp_recv(fd, buf, sizeof(buf), &got, 2000), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_true(zt_addr_equal(&got, &from));
	zt_tunshell_write(&t, (const uint8_t *)"\x00\x01", 2); /* not IP: the kernel refuses */
	assert_int_equal(t.st.tx, 1);
	assert_int_equal(t.st.tx_errors, 1);
	zt_tunshell_close(&t);
	zt_tunshell_close(&t); /* twice is fine */
}

static void connector_shell_owns_its_table(void **state)
{
	static struct zt_tunshell t;
	static char rules[65536];
	char err[256];
	(void)state;

	th_netns_or_skip();
	assert_int_equal(zt_tunshell_open(&t, NULL, NULL, false, "ztc9", err, sizeof(err)), 0);
	th_nft_list(rules, sizeof(rules));
	assert_int_equal(th_count(rules, "table inet ztna_ztc9"), 1);
	zt_tunshell_close(&t);
	th_nft_list(rules, sizeof(rules));
	assert_int_equal(th_count(rules, "ztna_ztc9"), 0);
	assert_int_equal(if_nametoindex("ztc9"), 0);
}

static void a_taken_name_is_reported(void **state)
{
	static struct zt_tunshell t, u;
	char err[256];
	(void)state;

	th_netns_or_skip();
	assert_int_equal(zt_tunshell_open(&t, NULL, NULL, true, "zts1", err, sizeof(err)), 0);
	assert_int_equal(zt_tunshell_open(&u, NULL, NULL, true, "zts1", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "zts1"));
	assert_non_null(strstr(err, "--tun"));
	zt_tunshell_close(&u);
	zt_tunshell_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(agent_routes_follow_the_list),
		cmocka_unit_test(packets_are_written_and_refusals_counted),
		cmocka_unit_test(connector_shell_owns_its_table),
		cmocka_unit_test(a_taken_name_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
