/*
 * io/tun: a real TUN device in a network namespace of the test's own (root; skipped
 * otherwise), real packets both ways through it.
 *
 *   UDP socket --sendto 10.99.0.5:9--> route 10.99.0.0/24 (prefsrc 100.64.0.1)
 *        ^                                   |
 *        |                                   v
 *   bound 100.64.0.1:5555 <--write-- [ tun "ztt0" 100.64.0.1/32 ] --read--> test
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/tun.h"
#include "../../netns/ns.h"
#include "tun_harness.h"

static const uint8_t payload[] = { 'z', 't', 'n', 'a', 0x00, 0xff, 0x7e };

static void bad_arguments(void **state)
{
	struct zt_tun *t = NULL;

	(void)state;
	/* refused before any device is touched: no root needed */
	assert_int_equal(zt_tun_open(&t, "a-name-of-16-chr", 1400), -EINVAL);
	assert_int_equal(zt_tun_open(&t, "ztt0", 0), -EINVAL);
	assert_int_equal(zt_tun_open(&t, "ztt0", ZT_TUN_MTU_MIN - 1), -EINVAL);
	assert_int_equal(zt_tun_open(&t, "ztt0", ZT_TUN_MTU_MAX + 1), -EINVAL);
	assert_null(t); /* untouched */
	zt_tun_close(NULL);
}

static void open_sets_mtu_and_up(void **state)
{
	struct zt_tun *t, *u;
	unsigned mtu, flags;

	(void)state;
	th_netns_or_skip();
	assert_int_equal(zt_tun_open(&t, "ztt0", 1362), 0);
	assert_string_equal(zt_tun_name(t), "ztt0");
	assert_true(zt_tun_fd(t) >= 0);
	assert_int_equal(zt_tun_ifindex(t), (int)if_nametoindex("ztt0"));
	assert_true(th_link(zt_tun_ifindex(t), &mtu, &flags));
	assert_int_equal(mtu, 1362);
	assert_true(flags & IFF_UP);
	/* no link-local address was made (so no DAD, RS or MLD comes out of the fd) */
	assert_int_equal(th_addr_count(zt_tun_ifindex(t), AF_UNSPEC, NULL), 0);

	/* no name: the kernel picks ztnaN */
	assert_int_equal(zt_tun_open(&u, NULL, 1280), 0);
	assert_memory_equal(zt_tun_name(u), "ztna", 4);
	assert_true(th_link(zt_tun_ifindex(u), &mtu, &flags));
	assert_int_equal(mtu, 1280);
	zt_tun_close(u);
	zt_tun_close(t);
}

/* t with 100.64.0.1/32 and the route 10.99.0.0/24 preferring it as source. */
static struct zt_tun *open_v4(void)
{
	struct zt_tun *t;
	struct zt_addr self = th_addr("100.64.0.1"), net = th_addr("10.99.0.0");

	assert_int_equal(zt_tun_open(&t, "ztt0", 1362), 0);
	assert_int_equal(zt_tun_addr_add(t, &self, 32), 0);
	assert_int_equal(zt_tun_addr_add(t, &self, 32), 0); /* again: EEXIST is success */
	assert_int_equal(zt_tun_route_add(t, &net, 24, &self), 0);
	return t;
}

/*
 * A datagram the host sends to `to` (through t's route) is the first packet out of t:
 * from self, to `to`, the payload after the headers, the UDP checksum right (nothing
 * else, such as a router solicitation, came out before it). Leaves it in buf.
 */
static void host_to_tun(struct zt_tun *t, const struct zt_addr *to, const struct zt_addr *self,
			uint8_t *buf, size_t cap)
{
	struct zt_addr any = { .family = to->family };
	struct zt_ippkt p;
	size_t hlen = to->family == AF_INET ? 20 : 40;
	int fd = th_udp_socket(&any);

	th_udp_send(fd, to, payload, sizeof(payload));
	assert_int_equal(th_tun_read(t, buf, cap, &p, TH_WAIT_MS), hlen + 8 + sizeof(payload));
	assert_int_equal(buf[0] >> 4, to->family == AF_INET ? 4 : 6);
	assert_int_equal(p.proto, ZT_IP_UDP);
	assert_true(zt_addr_ip_equal(&p.src, self));
	assert_true(zt_addr_equal(&p.dst, to));
	assert_memory_equal(buf + hlen + 8, payload, sizeof(payload));
	assert_int_equal(zt_ippkt_l4_sum(buf, &p), 0xffff);
	assert_int_equal(zt_tun_read(t, buf, cap), -EAGAIN);
	close(fd);
}

/*
 * A UDP packet peer -> bind written into t reaches the socket bound to bind, from
 * peer. Returns that socket; the packet is left in pkt (*len bytes).
 */
static int tun_to_host(struct zt_tun *t, const struct zt_addr *peer, const struct zt_addr *bind,
		       uint8_t *pkt, size_t cap, size_t *len)
{
	struct zt_addr from;
	uint8_t buf[128];
	int fd = th_udp_socket(bind);

	*len = th_udp_packet(pkt, cap, peer, bind, payload, sizeof(payload));
	assert_int_equal(zt_tun_write(t, pkt, *len), 0);
	assert_int_equal(th_udp_recv(fd, buf, sizeof(buf), &from, TH_WAIT_MS), sizeof(payload));
	assert_memory_equal(buf, payload, sizeof(payload));
	assert_true(zt_addr_equal(&from, peer));
	return fd;
}

static void v4_host_to_tun(void **state)
{
	struct zt_tun *t;
	struct zt_addr to = th_addr("10.99.0.5:9"), self = th_addr("100.64.0.1");
	const uint8_t header[] = {
		0x45, 0x00,             /* version 4, 20 bytes; DSCP/ECN */
		0x00, 20 + 8 + sizeof(payload),
	};
	const uint8_t addrs[] = {
		100, 64, 0, 1, /* source: the route's prefsrc */
		10, 99, 0, 5,  /* destination */
	};
	uint8_t buf[2048];

	(void)state;
	th_netns_or_skip();
	t = open_v4();
	host_to_tun(t, &to, &self, buf, sizeof(buf));
	assert_memory_equal(buf, header, sizeof(header));
	assert_int_equal(buf[9], ZT_IP_UDP);
	assert_memory_equal(buf + 12, addrs, sizeof(addrs));
	zt_tun_close(t);
}

static void v4_tun_to_host(void **state)
{
	struct zt_tun *t;
	struct zt_addr bind = th_addr("100.64.0.1:5555"), peer = th_addr("10.99.0.5:1234"), from;
	uint8_t pkt[128], buf[128];
	size_t len;
	int fd;

	(void)state;
	th_netns_or_skip();
	/* strict reverse-path filtering passes it: the route to its source is the tun */
	assert_int_equal(zt_ns_sysctl("net/ipv4/conf/all/rp_filter", "1"), 0);
	t = open_v4();
	fd = tun_to_host(t, &peer, &bind, pkt, sizeof(pkt), &len);
	/* a wrong UDP checksum: the stack drops it (the bytes really are checked) */
	pkt[len - 1] ^= 1;
	assert_int_equal(zt_tun_write(t, pkt, len), 0);
	assert_int_equal(th_udp_recv(fd, buf, sizeof(buf), &from, 200), -ETIMEDOUT);
	close(fd);
	zt_tun_close(t);
}

static void route_replace_and_delete(void **state)
{
	struct zt_tun *t, *u;
	int oif = 0;
	struct zt_addr net = th_addr("10.99.0.0"), self = th_addr("100.64.0.1");
	struct zt_addr other = th_addr("100.64.0.2"), host = th_addr("10.99.0.1"), src;

	(void)state;
	th_netns_or_skip();
	t = open_v4();
	assert_int_equal(th_route_count(&net, 24, &src, NULL), 1);
	assert_true(zt_addr_ip_equal(&src, &self));
	/* a second add replaces: one route, with the new preferred source */
	assert_int_equal(zt_tun_addr_add(t, &other, 32), 0);
	assert_int_equal(zt_tun_route_add(t, &net, 24, &other), 0);
	assert_int_equal(th_route_count(&net, 24, &src, NULL), 1);
	assert_true(zt_addr_ip_equal(&src, &other));
	assert_int_equal(zt_tun_route_add(t, &net, 24, NULL), 0);
	assert_int_equal(th_route_count(&net, 24, &src, NULL), 1);
	assert_int_equal(src.family, 0);
	/* host bits, lengths, families, a prefsrc the host lacks */
	assert_int_equal(zt_tun_route_add(t, &host, 24, NULL), -EINVAL);
	assert_int_equal(zt_tun_route_add(t, &net, 33, NULL), -EINVAL);
	assert_int_equal(zt_tun_route_add(t, &net, 24, &(struct zt_addr){ .family = AF_INET6 }),
			 -EINVAL);
	assert_int_equal(zt_tun_route_add(t, &net, 24, &host), -EINVAL);
	assert_int_equal(zt_tun_addr_add(t, &self, 33), -EINVAL);
	assert_int_equal(zt_tun_addr_add(t, &(struct zt_addr){ 0 }, 32), -EINVAL);

	assert_int_equal(zt_tun_route_del(t, &net, 24), 0);
	assert_int_equal(th_route_count(&net, 24, NULL, NULL), 0);
	assert_int_equal(zt_tun_route_del(t, &net, 24), -ENOENT);

	/* like `ip route replace`: it takes over the prefix from another device, and a
	 * delete through this device leaves the other's route alone */
	assert_int_equal(zt_tun_open(&u, "ztt1", 1400), 0);
	assert_int_equal(zt_tun_route_add(u, &net, 24, NULL), 0);
	assert_int_equal(zt_tun_route_del(t, &net, 24), -ENOENT);
	assert_int_equal(th_route_count(&net, 24, NULL, &oif), 1);
	assert_int_equal(oif, zt_tun_ifindex(u));
	assert_int_equal(zt_tun_route_add(t, &net, 24, NULL), 0);
	assert_int_equal(th_route_count(&net, 24, NULL, &oif), 1);
	assert_int_equal(oif, zt_tun_ifindex(t));
	zt_tun_close(u);
	zt_tun_close(t);
}

static void v6_both_ways(void **state)
{
	struct zt_tun *t;
	struct zt_addr self = th_addr("fd00:64::1"), net = th_addr("fd00:99::");
	struct zt_addr to = th_addr("[fd00:99::5]:9"), src;
	struct zt_addr bind = th_addr("[fd00:64::1]:5555"), peer = th_addr("[fd00:99::5]:1234");
	uint8_t buf[2048];
	size_t len;

	(void)state;
	th_netns_or_skip();
	assert_int_equal(zt_tun_open(&t, "ztt0", 1362), 0);
	assert_int_equal(zt_tun_addr_add(t, &self, 128), 0);
	/* packets to the address reach the host as soon as zt_tun_addr_add returned */
	close(tun_to_host(t, &peer, &bind, buf, sizeof(buf), &len));
	/* the route takes it as prefsrc: not tentative (IFA_F_NODAD) */
	assert_int_equal(zt_tun_route_add(t, &net, 64, &self), 0);
	assert_int_equal(zt_tun_route_add(t, &net, 64, &self), 0);
	assert_int_equal(th_route_count(&net, 64, &src, NULL), 1);
	assert_true(zt_addr_ip_equal(&src, &self));

	host_to_tun(t, &to, &self, buf, sizeof(buf));
	assert_int_equal(buf[6], ZT_IP_UDP);
	assert_memory_equal(buf + 8, self.ip, 16);
	assert_memory_equal(buf + 24, to.ip, 16);

	assert_int_equal(zt_tun_route_del(t, &net, 64), 0);
	assert_int_equal(th_route_count(&net, 64, NULL, NULL), 0);
	assert_int_equal(zt_tun_route_del(t, &net, 64), -ENOENT);
	zt_tun_close(t);
}

static void v6_off_below_1280(void **state)
{
	struct zt_tun *t;
	struct zt_addr self = th_addr("fd00:64::1"), self4 = th_addr("100.64.0.1");

	(void)state;
	th_netns_or_skip();
	assert_int_equal(zt_tun_open(&t, "ztt0", 1200), 0);
	assert_int_equal(zt_tun_addr_add(t, &self4, 32), 0);
	assert_int_equal(zt_tun_addr_add(t, &self, 128), -EINVAL);
	zt_tun_close(t);
}

static void close_takes_routes_and_device(void **state)
{
	struct zt_tun *t;
	struct zt_addr net = th_addr("10.99.0.0"), self = th_addr("100.64.0.1");
	int ifindex, pipefd[2], status;
	char c;
	pid_t pid;

	(void)state;
	th_netns_or_skip();
	t = open_v4();
	ifindex = zt_tun_ifindex(t);
	assert_int_equal(th_addr_count(ifindex, AF_INET, &self), 1);
	/* a forked child holding the fd keeps the device: close still takes what it added */
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[1]);
		_exit(read(pipefd[0], &c, 1) == 0 ? 0 : 1);
	}
	close(pipefd[0]);
	zt_tun_close(t);
	assert_int_not_equal(if_nametoindex("ztt0"), 0);
	assert_int_equal(th_route_count(&net, 24, NULL, NULL), 0);
	assert_int_equal(th_addr_count(ifindex, AF_INET, &self), 0);
	close(pipefd[1]); /* the child reads EOF and exits: the last fd goes */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(if_nametoindex("ztt0"), 0);

	/* without a child: the device goes with close */
	t = open_v4();
	zt_tun_close(t);
	assert_int_equal(if_nametoindex("ztt0"), 0);
	assert_int_equal(th_route_count(&net, 24, NULL, NULL), 0);
}

static void name_in_use_is_busy(void **state)
{
	struct zt_tun *t, *u = NULL;

	(void)state;
	th_netns_or_skip();
	assert_int_equal(zt_tun_open(&t, "ztt0", 1400), 0);
	assert_int_equal(zt_tun_open(&u, "ztt0", 1400), -EBUSY);
	assert_null(u);
	assert_int_equal(zt_tun_open(&u, "lo", 1400), -EBUSY); /* not a TUN at all */
	assert_int_equal(zt_tun_open(&u, "bad/name", 1400), -EINVAL);
	zt_tun_close(t);
	/* the name is free again once its device is gone */
	assert_int_equal(zt_tun_open(&u, "ztt0", 1400), 0);
	zt_tun_close(u);
}

static int open_unprivileged(void)
{
	struct zt_tun *t = NULL;
	int rc = zt_tun_open(&t, "ztt0", 1400);

	return rc == -EPERM && !t ? 0 : 1;
}

static void unprivileged_is_eperm(void **state)
{
	(void)state;
	th_netns_or_skip();
	assert_int_equal(th_as_nobody(open_unprivileged), 0);
}

static void read_write_edges(void **state)
{
	struct zt_tun *t;
	struct zt_addr any = th_addr("0.0.0.0:0"), to = th_addr("10.99.0.5:9");
	uint8_t big[600] = { 0 }, buf[2048];
	const uint8_t junk[] = { 0x00, 0x01, 0x02, 0x03 };
	int fd;

	(void)state;
	th_netns_or_skip();
	t = open_v4();
	assert_int_equal(zt_tun_read(t, buf, sizeof(buf)), -EAGAIN);
	/* a packet longer than cap: -EMSGSIZE, and it is gone */
	fd = th_udp_socket(&any);
	th_udp_send(fd, &to, big, sizeof(big));
	assert_true(th_readable(zt_tun_fd(t), TH_WAIT_MS));
	assert_int_equal(zt_tun_read(t, buf, 100), -EMSGSIZE);
	assert_int_equal(zt_tun_read(t, buf, sizeof(buf)), -EAGAIN);
	/* one that fits exactly */
	th_udp_send(fd, &to, big, sizeof(big));
	assert_true(th_readable(zt_tun_fd(t), TH_WAIT_MS));
	assert_int_equal(zt_tun_read(t, buf, 20 + 8 + sizeof(big)), 20 + 8 + sizeof(big));
	close(fd);
	/* the kernel refuses what is neither IPv4 nor IPv6 */
	assert_int_equal(zt_tun_write(t, junk, sizeof(junk)), -EINVAL);
	assert_int_equal(zt_tun_write(t, junk, 0), -EINVAL);
	zt_tun_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(open_sets_mtu_and_up),
		cmocka_unit_test(v4_host_to_tun),
		cmocka_unit_test(v4_tun_to_host),
		cmocka_unit_test(route_replace_and_delete),
		cmocka_unit_test(v6_both_ways),
		cmocka_unit_test(v6_off_below_1280),
		cmocka_unit_test(close_takes_routes_and_device),
		cmocka_unit_test(name_in_use_is_busy),
		cmocka_unit_test(unprivileged_is_eperm),
		cmocka_unit_test(read_write_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
