#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/route.h>

#include "io/tun.h"

/* An address or a route this object added, to take away again in zt_tun_close. */
struct tun_entry {
	struct zt_addr addr;
	unsigned plen;
};

struct tun_list {
	struct tun_entry *v;
	size_t n, cap;
};

struct zt_tun {
	int fd;
	int ifindex;
	char name[IFNAMSIZ];
	struct nl_sock *nl; /* NETLINK_ROUTE, in the device's namespace */
	struct tun_list addrs, routes;
};

static bool list_has(const struct tun_list *l, const struct zt_addr *a, unsigned plen, size_t *at)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].plen == plen && zt_addr_ip_equal(&l->v[i].addr, a)) {
			*at = i;
			return true;
		}
	}
	return false;
}

static int list_add(struct tun_list *l, const struct zt_addr *a, unsigned plen)
{
	size_t at;

	if (list_has(l, a, plen, &at))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4;
		struct tun_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct tun_entry){ .addr = *a, .plen = plen };
	return 0;
}

static void list_remove(struct tun_list *l, const struct zt_addr *a, unsigned plen)
{
	size_t at;

	if (list_has(l, a, plen, &at))
		l->v[at] = l->v[--l->n];
}

/* libnl turns the kernel's errno into its own codes; these are the ones that reach
 * the callers here, back as errno values. */
static int nle_to_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case 0: return 0;
	case NLE_EXIST: return -EEXIST;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_PERM: case NLE_NOACCESS: return -EPERM;
	case NLE_INVAL: case NLE_RANGE: return -EINVAL;
	case NLE_BUSY: return -EBUSY;
	case NLE_NODEV: return -ENODEV;
	case NLE_AF_NOSUPPORT: case NLE_OPNOTSUPP: return -EAFNOSUPPORT;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_AGAIN: return -EAGAIN;
	default: return -EIO;
	}
}

static unsigned family_bits(const struct zt_addr *a)
{
	return a->family == AF_INET ? 32 : a->family == AF_INET6 ? 128 : 0;
}

/* Whether a/plen is a network address: no bit set after the first plen. */
static bool is_network(const struct zt_addr *a, unsigned plen)
{
	unsigned bits = family_bits(a);

	for (unsigned i = plen; i < bits; i++)
		if (a->ip[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

static struct nl_addr *nl_addr_of(const struct zt_addr *a, unsigned plen)
{
	struct nl_addr *n = nl_addr_build(a->family, a->ip, family_bits(a) / 8);

	if (n)
		nl_addr_set_prefixlen(n, (int)plen);
	return n;
}

/*
 * One RTM_SETLINK: changes applied to the device. IPv6 link settings fail with
 * NLE_AF_NOSUPPORT when the kernel has no IPv6 (ipv6.disable=1).
 */
static int link_change(struct zt_tun *t, struct rtnl_link *orig, unsigned mtu, bool ipv6)
{
	struct rtnl_link *change = rtnl_link_alloc();
	int rc = 0;

	if (!change)
		return -NLE_NOMEM;
	if (ipv6)
		rc = rtnl_link_inet6_set_addr_gen_mode(change, IN6_ADDR_GEN_MODE_NONE);
	if (mtu) {
		rtnl_link_set_mtu(change, mtu);
		rtnl_link_set_flags(change, IFF_UP);
	}
	if (rc >= 0)
		rc = rtnl_link_change(t->nl, orig, change, 0);
	rtnl_link_put(change);
	return rc;
}

/* The ifindex; no link-local address (set while down: see tun.h); MTU; up. */
static int link_setup(struct zt_tun *t, unsigned mtu)
{
	struct rtnl_link *orig = NULL;
	int rc = rtnl_link_get_kernel(t->nl, 0, t->name, &orig);

	if (rc < 0)
		return nle_to_errno(rc);
	t->ifindex = rtnl_link_get_ifindex(orig);
	rc = link_change(t, orig, 0, true);
	if (rc == -NLE_AF_NOSUPPORT || rc == -NLE_OPNOTSUPP)
		rc = 0;
	if (rc >= 0)
		rc = link_change(t, orig, mtu, false);
	rtnl_link_put(orig);
	return nle_to_errno(rc);
}

int zt_tun_open(struct zt_tun **ret, const char *name, unsigned mtu)
{
	/* IFF_TUN_EXCL: create, never attach to a device that exists (see tun.h) */
	struct ifreq ifr = { .ifr_flags = (short)(IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL) };
	struct zt_tun *t;
	int rc;

	if (!name || !*name)
		name = "ztna%d";
	if (strlen(name) >= IFNAMSIZ || mtu < ZT_TUN_MTU_MIN || mtu > ZT_TUN_MTU_MAX)
		return -EINVAL;
	memcpy(ifr.ifr_name, name, strlen(name));
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		rc = errno == EACCES ? -EPERM : -errno;
		goto out_free;
	}
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		goto out_close_fd;
	}
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ - 1);
	t->nl = nl_socket_alloc();
	if (!t->nl) {
		rc = -ENOMEM;
		goto out_close_fd;
	}
	rc = nle_to_errno(nl_connect(t->nl, NETLINK_ROUTE));
	if (rc < 0)
		goto out_free_sock;
	rc = link_setup(t, mtu);
	if (rc < 0)
		goto out_free_sock;
	*ret = t;
	return 0;

out_free_sock:
	nl_socket_free(t->nl);
out_close_fd:
	close(t->fd);
out_free:
	free(t);
	return rc;
}

int zt_tun_fd(const struct zt_tun *t)
{
	return t->fd;
}

const char *zt_tun_name(const struct zt_tun *t)
{
	return t->name;
}

int zt_tun_ifindex(const struct zt_tun *t)
{
	return t->ifindex;
}

/* Builds the address object a/plen on ifindex (IPv6 without DAD). */
static int addr_build(struct rtnl_addr **ret, int ifindex, const struct zt_addr *a, unsigned plen)
{
	struct rtnl_addr *o;
	struct nl_addr *local;
	int rc;

	if (!family_bits(a) || plen > family_bits(a))
		return -EINVAL;
	o = rtnl_addr_alloc();
	local = nl_addr_of(a, plen);
	rc = o && local ? 0 : -ENOMEM;
	if (rc == 0) {
		rtnl_addr_set_ifindex(o, ifindex);
		rtnl_addr_set_family(o, a->family);
		rc = nle_to_errno(rtnl_addr_set_local(o, local));
		rtnl_addr_set_prefixlen(o, (int)plen);
		if (a->family == AF_INET6)
			rtnl_addr_set_flags(o, IFA_F_NODAD);
	}
	nl_addr_put(local);
	if (rc < 0) {
		rtnl_addr_put(o);
		return rc;
	}
	*ret = o;
	return 0;
}

/* How long zt_tun_addr_add waits for the kernel to finish an IPv6 address. */
#define ADDR6_WAIT_MS 1000

/* A socket that hears of IPv6 route changes (RTNLGRP_IPV6_ROUTE). */
static int route6_monitor_open(struct nl_sock **ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	int rc;

	if (!sk)
		return -ENOMEM;
	nl_socket_disable_seq_check(sk);
	rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc >= 0)
		rc = nl_socket_add_membership(sk, RTNLGRP_IPV6_ROUTE);
	if (rc >= 0)
		rc = nl_socket_set_nonblocking(sk);
	if (rc < 0) {
		nl_socket_free(sk);
		return nle_to_errno(rc);
	}
	*ret = sk;
	return 0;
}

struct local_wait {
	const struct zt_addr *addr;
	bool found;
};

static void local_route_seen(struct nl_object *o, void *arg)
{
	struct local_wait *w = arg;
	struct rtnl_route *r = (struct rtnl_route *)o;
	struct nl_addr *dst = rtnl_route_get_dst(r);

	if (rtnl_route_get_type(r) == RTN_LOCAL && dst && nl_addr_get_len(dst) == 16 &&
	    !memcmp(nl_addr_get_binary_addr(dst), w->addr->ip, 16))
		w->found = true;
}

static int local_route_msg(struct nl_msg *msg, void *arg)
{
	if (nlmsg_hdr(msg)->nlmsg_type == RTM_NEWROUTE)
		nl_msg_parse(msg, local_route_seen, arg);
	return NL_OK;
}

/*
 * Waits, on mon (made before the address was added), until the kernel has a's local
 * route: only then do packets to a reach the host. Returns 0, -ETIMEDOUT, -errno.
 */
static int wait_local_route(struct nl_sock *mon, const struct zt_addr *a)
{
	struct local_wait w = { .addr = a };
	struct pollfd pfd = { .fd = nl_socket_get_fd(mon), .events = POLLIN };
	struct timespec now;
	int64_t deadline, left;
	int rc;

	nl_socket_modify_cb(mon, NL_CB_VALID, NL_CB_CUSTOM, local_route_msg, &w);
	clock_gettime(CLOCK_MONOTONIC, &now);
	deadline = now.tv_sec * 1000 + now.tv_nsec / 1000000 + ADDR6_WAIT_MS;
	while (!w.found) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = deadline - (now.tv_sec * 1000 + now.tv_nsec / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno != EINTR)
			return -errno;
		rc = rc > 0 ? nl_recvmsgs_default(mon) : 0;
		if (rc < 0 && rc != -NLE_AGAIN)
			return nle_to_errno(rc);
	}
	return 0;
}

int zt_tun_addr_add(struct zt_tun *t, const struct zt_addr *a, unsigned plen)
{
	struct nl_sock *mon = NULL;
	struct rtnl_addr *o;
	int rc = addr_build(&o, t->ifindex, a, plen);

	if (rc < 0)
		return rc;
	/* IPv6: the kernel installs the new address's local route from a work queue
	 * after it has answered; listen before adding so its notice cannot be missed */
	if (a->family == AF_INET6)
		rc = route6_monitor_open(&mon);
	if (rc == 0)
		rc = nle_to_errno(rtnl_addr_add(t->nl, o, 0));
	rtnl_addr_put(o);
	if (rc == 0)
		rc = list_add(&t->addrs, a, plen);
	if (rc == 0 && mon)
		rc = wait_local_route(mon, a);
	else if (rc == -EEXIST)
		rc = 0;
	if (mon)
		nl_socket_free(mon);
	return rc;
}

/*
 * Builds the route prefix/plen through ifindex in the main table: for an add with
 * prefsrc (may be NULL), for a delete (del) with what identifies it only.
 */
static int route_build(struct rtnl_route **ret, int ifindex, const struct zt_addr *prefix,
		       unsigned plen, const struct zt_addr *prefsrc, bool del)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = NULL, *src = NULL;
	int rc = -ENOMEM;

	if (!family_bits(prefix) || plen > family_bits(prefix) || !is_network(prefix, plen) ||
	    (prefsrc && prefsrc->family && prefsrc->family != prefix->family)) {
		rc = -EINVAL;
		goto out_put;
	}
	dst = nl_addr_of(prefix, plen);
	if (prefsrc && prefsrc->family && !del)
		src = nl_addr_of(prefsrc, family_bits(prefsrc));
	if (!r || !nh || !dst || (prefsrc && prefsrc->family && !del && !src))
		goto out_put;
	rtnl_route_set_family(r, prefix->family);
	rtnl_route_set_table(r, RT_TABLE_MAIN);
	rtnl_route_set_type(r, RTN_UNICAST);
	/* a device route is link scope (IPv4; IPv6 ignores it); a delete matches any */
	rtnl_route_set_scope(r, del ? RT_SCOPE_NOWHERE : prefix->family == AF_INET ? RT_SCOPE_LINK
										   : RT_SCOPE_UNIVERSE);
	if (!del)
		rtnl_route_set_protocol(r, RTPROT_STATIC);
	rc = nle_to_errno(rtnl_route_set_dst(r, dst));
	if (rc == 0 && src)
		rc = nle_to_errno(rtnl_route_set_pref_src(r, src));
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_add_nexthop(r, nh); /* r owns nh now */
	nh = NULL;
out_put:
	nl_addr_put(dst);
	nl_addr_put(src);
	if (nh)
		rtnl_route_nh_free(nh);
	if (rc < 0) {
		rtnl_route_put(r);
		return rc;
	}
	*ret = r;
	return 0;
}

int zt_tun_route_add(struct zt_tun *t, const struct zt_addr *prefix, unsigned plen,
		     const struct zt_addr *prefsrc)
{
	struct rtnl_route *r;
	int rc = route_build(&r, t->ifindex, prefix, plen, prefsrc, false);

	if (rc < 0)
		return rc;
	rc = nle_to_errno(rtnl_route_add(t->nl, r, NLM_F_CREATE | NLM_F_REPLACE));
	rtnl_route_put(r);
	if (rc == 0)
		rc = list_add(&t->routes, prefix, plen);
	return rc;
}

int zt_tun_route_del(struct zt_tun *t, const struct zt_addr *prefix, unsigned plen)
{
	struct rtnl_route *r;
	int rc = route_build(&r, t->ifindex, prefix, plen, NULL, true);

	if (rc < 0)
		return rc;
	/* the kernel says ESRCH for a route that is not there: NLE_OBJ_NOTFOUND, -ENOENT */
	rc = nle_to_errno(rtnl_route_delete(t->nl, r, 0));
	rtnl_route_put(r);
	if (rc == 0 || rc == -ENOENT)
		list_remove(&t->routes, prefix, plen);
	return rc;
}

void zt_tun_close(struct zt_tun *t)
{
	struct rtnl_route *r;
	struct rtnl_addr *a;

	if (!t)
		return;
	for (size_t i = 0; i < t->routes.n; i++) {
		if (route_build(&r, t->ifindex, &t->routes.v[i].addr, t->routes.v[i].plen, NULL,
				true) == 0) {
			rtnl_route_delete(t->nl, r, 0);
			rtnl_route_put(r);
		}
	}
	for (size_t i = 0; i < t->addrs.n; i++) {
		if (addr_build(&a, t->ifindex, &t->addrs.v[i].addr, t->addrs.v[i].plen) == 0) {
			rtnl_addr_delete(t->nl, a, 0);
			rtnl_addr_put(a);
		}
	}
	nl_socket_free(t->nl);
	close(t->fd);
	free(t->routes.v);
	free(t->addrs.v);
	free(t);
}

int zt_tun_read(struct zt_tun *t, uint8_t *buf, size_t cap)
{
	/* one byte more than cap tells a packet that did not fit, whether the driver
	 * reports its whole length or only what it copied */
	uint8_t extra;
	struct iovec iov[2] = {
		{ .iov_base = buf, .iov_len = cap },
		{ .iov_base = &extra, .iov_len = 1 },
	};
	ssize_t n = readv(t->fd, iov, 2);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((size_t)n > cap)
		return -EMSGSIZE;
	return (int)n;
}

int zt_tun_write(struct zt_tun *t, const uint8_t *pkt, size_t len)
{
	if (!len)
		return -EINVAL;
	if (write(t->fd, pkt, len) < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}
