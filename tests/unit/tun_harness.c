#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <nftables/libnftables.h>

#include "tun_harness.h"

void th_netns_or_skip(void)
{
	if (geteuid() != 0) {
		print_message("SKIP: needs root (a network namespace and a TUN device)\n");
		skip();
	}
	if (access("/dev/net/tun", F_OK) < 0) {
		print_message("SKIP: no /dev/net/tun\n");
		skip();
	}
	if (unshare(CLONE_NEWNET) < 0) {
		print_message("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		skip();
	}
}

int th_as_nobody(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* leaving uid 0 clears every capability */
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(255);
		_exit(fn() & 0xff);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

struct zt_addr th_addr(const char *text)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t th_udp_packet(uint8_t *buf, size_t cap, const struct zt_addr *src,
		     const struct zt_addr *dst, const void *payload, size_t len)
{
	bool v4 = src->family == AF_INET;
	size_t hlen = v4 ? 20 : 40, n = hlen + 8 + len;
	uint8_t *udp = buf + hlen;
	struct zt_ippkt p;
	uint16_t sum;

	assert_true(n <= cap && src->family == dst->family);
	memset(buf, 0, hlen + 8);
	if (v4) {
		buf[0] = 0x45;
		put16(buf + 2, (unsigned)n);
		put16(buf + 6, 0x4000); /* DF */
		buf[8] = 64;
		buf[9] = ZT_IP_UDP;
		memcpy(buf + 12, src->ip, 4);
		memcpy(buf + 16, dst->ip, 4);
		put16(buf + 10, (uint16_t)~zt_ip_csum_fold(zt_ip_csum_add(0, buf, 20)));
	} else {
		buf[0] = 0x60;
		put16(buf + 4, (unsigned)(8 + len));
		buf[6] = ZT_IP_UDP;
		buf[7] = 64;
		memcpy(buf + 8, src->ip, 16);
		memcpy(buf + 24, dst->ip, 16);
	}
	put16(udp, src->port);
	put16(udp + 2, dst->port);
	put16(udp + 4, (unsigned)(8 + len));
	memcpy(udp + 8, payload, len);
	assert_int_equal(zt_ippkt_parse(&p, buf, n), 0);
	sum = (uint16_t)~zt_ippkt_l4_sum(buf, &p);
	put16(udp + 6, sum ? sum : 0xffff); /* RFC 768: 0 means none */
	assert_int_equal(zt_ippkt_l4_sum(buf, &p), 0xffff);
	return n;
}

bool th_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

int th_tun_read(struct zt_tun *t, uint8_t *buf, size_t cap, struct zt_ippkt *p, int ms)
{
	int n;

	if (!th_readable(zt_tun_fd(t), ms))
		return -ETIMEDOUT;
	n = zt_tun_read(t, buf, cap);
	assert_true(n > 0);
	assert_int_equal(zt_ippkt_parse(p, buf, (size_t)n), 0);
	return n;
}

int th_udp_socket(const struct zt_addr *bind_addr)
{
	struct sockaddr_storage ss;
	int len = zt_addr_to_sockaddr(bind_addr, &ss), fd;

	assert_true(len > 0);
	fd = socket(bind_addr->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, (socklen_t)len), 0);
	return fd;
}

int th_udp_recv(int fd, uint8_t *buf, size_t cap, struct zt_addr *from, int ms)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t n;

	if (!th_readable(fd, ms))
		return -ETIMEDOUT;
	n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&ss, &sl);
	assert_true(n >= 0);
	assert_int_equal(zt_addr_from_sockaddr(from, (struct sockaddr *)&ss, sl), 0);
	return (int)n;
}

void th_udp_send(int fd, const struct zt_addr *to, const void *buf, size_t len)
{
	struct sockaddr_storage ss;
	int sl = zt_addr_to_sockaddr(to, &ss);

	assert_true(sl > 0);
	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&ss, (socklen_t)sl),
			 (ssize_t)len);
}

static struct nl_sock *nl_open(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	assert_non_null(sk);
	assert_int_equal(nl_connect(sk, NETLINK_ROUTE), 0);
	return sk;
}

bool th_link(int ifindex, unsigned *mtu, unsigned *flags)
{
	struct nl_sock *sk = nl_open();
	struct rtnl_link *link = NULL;
	bool found = rtnl_link_get_kernel(sk, ifindex, NULL, &link) == 0;

	if (found) {
		*mtu = rtnl_link_get_mtu(link);
		*flags = rtnl_link_get_flags(link);
		rtnl_link_put(link);
	}
	nl_socket_free(sk);
	return found;
}

/* addr's bytes as a zt_addr (port 0). */
static struct zt_addr from_nl(struct nl_addr *n)
{
	struct zt_addr a = { 0 };

	if (n && nl_addr_get_family(n) == AF_INET)
		zt_addr_set_v4(&a, nl_addr_get_binary_addr(n), 0);
	else if (n && nl_addr_get_family(n) == AF_INET6)
		zt_addr_set_v6(&a, nl_addr_get_binary_addr(n), 0);
	return a;
}

int th_addr_count(int ifindex, int family, const struct zt_addr *a)
{
	struct nl_sock *sk = nl_open();
	struct nl_cache *cache;
	int n = 0;

	assert_int_equal(rtnl_addr_alloc_cache(sk, &cache), 0);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)o;
		struct zt_addr local = from_nl(rtnl_addr_get_local(ra));

		if (rtnl_addr_get_ifindex(ra) != ifindex)
			continue;
		if (family != AF_UNSPEC && rtnl_addr_get_family(ra) != family)
			continue;
		if (!a || zt_addr_ip_equal(&local, a))
			n++;
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return n;
}

int th_route_count(const struct zt_addr *prefix, unsigned plen, struct zt_addr *ret_prefsrc,
		   int *ret_oif)
{
	struct nl_sock *sk = nl_open();
	struct nl_cache *cache;
	int n = 0;

	assert_int_equal(rtnl_route_alloc_cache(sk, prefix->family, 0, &cache), 0);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		struct nl_addr *dst = rtnl_route_get_dst(r);
		struct zt_addr d = from_nl(dst);

		if (rtnl_route_get_table(r) != RT_TABLE_MAIN || !dst ||
		    nl_addr_get_prefixlen(dst) != plen || !zt_addr_ip_equal(&d, prefix))
			continue;
		n++;
		if (ret_prefsrc)
			*ret_prefsrc = from_nl(rtnl_route_get_pref_src(r));
		if (ret_oif && rtnl_route_get_nnexthops(r) == 1)
			*ret_oif = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0));
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return n;
}

/* Whether the local table has a's local route. */
static bool has_local_route(struct nl_sock *sk, const struct zt_addr *a)
{
	struct nl_cache *cache;
	bool found = false;

	assert_int_equal(rtnl_route_alloc_cache(sk, a->family, 0, &cache), 0);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		struct zt_addr d = from_nl(rtnl_route_get_dst(r));

		if (rtnl_route_get_type(r) == RTN_LOCAL && zt_addr_ip_equal(&d, a))
			found = true;
	}
	nl_cache_free(cache);
	return found;
}

void th_addr_add(int ifindex, const struct zt_addr *a, unsigned plen)
{
	struct nl_sock *sk = nl_open();
	struct rtnl_addr *o = rtnl_addr_alloc();
	struct nl_addr *local = nl_addr_build(a->family, a->ip, a->family == AF_INET ? 4 : 16);
	int tries = 0;

	assert_non_null(o);
	assert_non_null(local);
	nl_addr_set_prefixlen(local, (int)plen);
	rtnl_addr_set_ifindex(o, ifindex);
	rtnl_addr_set_family(o, a->family);
	assert_int_equal(rtnl_addr_set_local(o, local), 0);
	if (a->family == AF_INET6)
		rtnl_addr_set_flags(o, IFA_F_NODAD);
	assert_int_equal(rtnl_addr_add(sk, o, 0), 0);
	while (!has_local_route(sk, a) && tries++ < TH_WAIT_MS)
		poll(NULL, 0, 1);
	assert_true(has_local_route(sk, a));
	nl_addr_put(local);
	rtnl_addr_put(o);
	nl_socket_free(sk);
}

void th_nft_list(char *buf, size_t cap)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);

	assert_non_null(ctx);
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	assert_int_equal(nft_run_cmd_from_buffer(ctx, "list ruleset"), 0);
	snprintf(buf, cap, "%s", nft_ctx_get_output_buffer(ctx));
	nft_ctx_free(ctx);
}

int th_count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}
