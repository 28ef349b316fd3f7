#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/if.h>
#include <sched.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "core/err.h"
#include "io/ifaddrs.h"

static void filter_defaults(void **state)
{
	struct zt_if_opts o = { 0 };

	(void)state;
	assert_true(zt_if_usable(&o, &(struct zt_if_info){ .name = "eth0", .up = true }));
	assert_true(zt_if_usable(&o, &(struct zt_if_info){ .name = "v0", .kind = "veth", .up = true }));
	assert_false(zt_if_usable(&o, &(struct zt_if_info){ .name = "lo", .loopback = true, .up = true }));
	assert_false(zt_if_usable(&o, &(struct zt_if_info){ .name = "eth1", .up = false }));
	assert_false(zt_if_usable(&o, &(struct zt_if_info){ .name = "wg0", .kind = "wireguard", .up = true }));
	assert_false(zt_if_usable(&o, &(struct zt_if_info){ .name = "tun0", .kind = "tun", .up = true }));
}

static void filter_include_exclude(void **state)
{
	struct zt_if_opts o = { 0 };
	char inc[] = "tun*,eth0", exc[] = "eth0";

	(void)state;
	assert_int_equal(zt_if_list_parse(o.include, &o.ninclude, inc), 0);
	assert_int_equal(o.ninclude, 2);
	/* include replaces the kind rule, but never makes loopback or down usable */
	assert_true(zt_if_usable(&o, &(struct zt_if_info){ .name = "tun3", .kind = "tun", .up = true }));
	assert_false(zt_if_usable(&o, &(struct zt_if_info){ .name = "eth1", .up = true }));
	assert_false(zt_if_usable(&o, &(struct zt_if_info){ .name = "tun4", .up = false }));
	assert_int_equal(zt_if_list_parse(o.exclude, &o.nexclude, exc), 0);
	assert_false(zt_if_usable(&o, &(struct zt_if_info){ .name = "eth0", .up = true }));
	/* loopback: only when named exactly, never through a pattern */
	assert_false(zt_if_usable(&o, &(struct zt_if_info){ .name = "lo", .loopback = true, .up = true }));
	{
		struct zt_if_opts l = { 0 };
		char pat[] = "l*", exact[] = "lo";
		assert_int_equal(zt_if_list_parse(l.include, &l.ninclude, pat), 0);
		assert_false(zt_if_usable(&l, &(struct zt_if_info){ .name = "lo", .loopback = true, .up = true }));
		assert_int_equal(zt_if_list_parse(l.include, &l.ninclude, exact), 0);
		assert_true(zt_if_usable(&l, &(struct zt_if_info){ .name = "lo", .loopback = true, .up = true }));
	}
}

static void list_limit(void **state)
{
	struct zt_if_opts o = { 0 };
	char many[] = "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q";

	(void)state;
	assert_int_equal(zt_if_list_parse(o.include, &o.ninclude, many), ZT_ERANGE);
}

static void list_never_returns_loopback(void **state)
{
	struct zt_if_opts o = { .ipv6 = true };
	struct zt_hostaddr h[32];
	int n;

	(void)state;
	n = zt_ifaddrs_list(&o, h, 32);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		assert_false(zt_addr_is_loopback(&h[i].addr));
		assert_false(zt_addr_is_linklocal(&h[i].addr));
		assert_true(h[i].ifname[0] != '\0');
	}
}

/* "--interfaces lo": the loopback addresses of both families (tests on one host). */
static void list_loopback_when_named(void **state)
{
	struct zt_if_opts o = { .ipv6 = true };
	struct zt_hostaddr h[32];
	char lo[] = "lo";
	bool v4 = false;
	int n;

	(void)state;
	assert_int_equal(zt_if_list_parse(o.include, &o.ninclude, lo), 0);
	n = zt_ifaddrs_list(&o, h, 32);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++) {
		assert_true(zt_addr_is_loopback(&h[i].addr));
		assert_string_equal(h[i].ifname, "lo");
		v4 |= h[i].addr.family == AF_INET;
	}
	assert_true(v4);
}

/* A veth pair zt0/zt1, both up, 10.9.8.7/24 on zt1. Returns zt1's index or < 0. */
static int veth_up(struct nl_sock *sk)
{
	struct nl_cache *cache;
	struct rtnl_link *link, *change;
	struct rtnl_addr *addr;
	struct nl_addr *local;
	int ifindex;

	if (rtnl_link_veth_add(sk, "zt0", "zt1", getpid()) < 0)
		return -1;
	rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	change = rtnl_link_alloc();
	rtnl_link_set_flags(change, IFF_UP);
	link = rtnl_link_get_by_name(cache, "zt0");
	rtnl_link_change(sk, link, change, 0);
	rtnl_link_put(link);
	link = rtnl_link_get_by_name(cache, "zt1");
	rtnl_link_change(sk, link, change, 0);
	ifindex = rtnl_link_get_ifindex(link);
	addr = rtnl_addr_alloc();
	rtnl_addr_set_ifindex(addr, ifindex);
	nl_addr_parse("10.9.8.7/24", AF_INET, &local);
	rtnl_addr_set_local(addr, local);
	return rtnl_addr_add(sk, addr, 0) < 0 ? -1 : ifindex;
}

/* In a private network namespace (root only): a veth with an address appears, the
 * monitor reports the change, and an exclude list hides it. */
static int netns_child(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct zt_netmon *mon;
	struct zt_if_opts o = { 0 };
	struct zt_hostaddr h[4];
	char exc[] = "zt*";
	int n, ev;

	if (unshare(CLONE_NEWNET) < 0 || nl_connect(sk, NETLINK_ROUTE) < 0)
		return 10;
	if (zt_netmon_open(&mon) < 0)
		return 11;
	if (zt_ifaddrs_list(&o, h, 4) != 0)
		return 12; /* a fresh namespace has only lo */
	if (veth_up(sk) < 0)
		return 13;
	ev = zt_netmon_drain(mon);
	if (ev <= 0)
		return 15;
	/* the veth pair needs a moment to report RUNNING; poll without sleeping long */
	for (int tries = 0; tries < 200; tries++) {
		n = zt_ifaddrs_list(&o, h, 4);
		if (n == 1)
			break;
		usleep(10000);
	}
	if (n != 1 || strcmp(h[0].ifname, "zt1") || h[0].addr.ip[0] != 10 || h[0].addr.ip[3] != 7)
		return 16;
	zt_if_list_parse(o.exclude, &o.nexclude, exc);
	if (zt_ifaddrs_list(&o, h, 4) != 0)
		return 17;
	zt_netmon_close(mon);
	return 0;
}

/* In a private namespace: no default route, then one via 10.9.8.1 on a veth holding
 * 10.9.8.7/24: the monitor reports it, the gateway and the source towards it are
 * found (port mapping's route, docs/portmap.md). */
static int gateway_child(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_route *route;
	struct rtnl_nexthop *nh;
	struct nl_addr *dst, *via;
	struct zt_netmon *mon;
	struct zt_addr gw, src;
	struct zt_if_opts o = { 0 };
	struct zt_hostaddr h;
	char text[ZT_ADDR_STRLEN];
	int ifindex;

	if (unshare(CLONE_NEWNET) < 0 || nl_connect(sk, NETLINK_ROUTE) < 0)
		return 20;
	if (zt_ifaddrs_gateway(AF_INET, &gw) != -ENOENT)
		return 21;
	if ((ifindex = veth_up(sk)) < 0)
		return 22;
	/* the link reports RUNNING after a moment: only then the monitor, so that what
	 * it sees next is the route */
	for (int tries = 0; zt_ifaddrs_list(&o, &h, 1) != 1; tries++) {
		if (tries == 200)
			return 28;
		usleep(10000);
	}
	usleep(50000);
	if (zt_netmon_open(&mon) < 0)
		return 29;
	route = rtnl_route_alloc();
	nh = rtnl_route_nh_alloc();
	nl_addr_parse("default", AF_INET, &dst);
	nl_addr_parse("10.9.8.1", AF_INET, &via);
	rtnl_route_set_family(route, AF_INET);
	rtnl_route_set_dst(route, dst);
	rtnl_route_nh_set_gateway(nh, via);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_add_nexthop(route, nh);
	if (rtnl_route_add(sk, route, 0) < 0)
		return 24;
	if (zt_netmon_drain(mon) <= 0)
		return 25; /* the default route is an event */
	if (zt_ifaddrs_gateway(AF_INET, &gw) != 0 || strcmp(zt_addr_str(&gw, text), "10.9.8.1:0"))
		return 26;
	if (zt_ifaddrs_source(&gw, &src) != 0 || strcmp(zt_addr_str(&src, text), "10.9.8.7:0"))
		return 27;
	zt_netmon_close(mon);
	return 0;
}

static void in_netns(int (*child)(void))
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		print_message("SKIP: needs root to create a network namespace\n");
		skip();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void netns_default_gateway(void **state)
{
	(void)state;
	in_netns(gateway_child);
}

static void netns_gather_and_monitor(void **state)
{
	(void)state;
	in_netns(netns_child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filter_defaults),
		cmocka_unit_test(filter_include_exclude),
		cmocka_unit_test(list_limit),
		cmocka_unit_test(list_never_returns_loopback),
		cmocka_unit_test(list_loopback_when_named),
		cmocka_unit_test(netns_gather_and_monitor),
		cmocka_unit_test(netns_default_gateway),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
