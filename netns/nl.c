#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <string.h>

#include "nl.h"

/* libnl's error codes back to errno values. */
static int nl_errno(int nle)
{
	static const struct { int nle, err; } map[] = {
		{ NLE_EXIST, EEXIST },       { NLE_NOMEM, ENOMEM },     { NLE_PERM, EPERM },
		{ NLE_NODEV, ENODEV },       { NLE_OBJ_NOTFOUND, ENOENT }, { NLE_INVAL, EINVAL },
		{ NLE_BUSY, EBUSY },         { NLE_RANGE, ERANGE },     { NLE_OPNOTSUPP, EOPNOTSUPP },
		{ NLE_AGAIN, EAGAIN },       { NLE_NOADDR, EADDRNOTAVAIL }, { NLE_NOACCESS, EACCES },
		{ NLE_AF_NOSUPPORT, EAFNOSUPPORT }, { NLE_PROTO_MISMATCH, EPROTONOSUPPORT },
	};

	if (nle >= 0)
		return nle;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].nle == -nle)
			return -map[i].err;
	return -EIO;
}

int zt_nl_open(struct nl_sock **ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	int rc;

	if (!sk)
		return -ENOMEM;
	rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc < 0) {
		nl_socket_free(sk);
		return nl_errno(rc);
	}
	*ret = sk;
	return 0;
}

void zt_nl_close(struct nl_sock *sk)
{
	if (sk)
		nl_socket_free(sk);
}

int zt_nl_ifindex(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *link = NULL;
	int rc = rtnl_link_get_kernel(sk, 0, name, &link);

	if (rc < 0)
		return rc == -NLE_OBJ_NOTFOUND ? -ENODEV : nl_errno(rc);
	rc = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	return rc > 0 ? rc : -ENODEV;
}

int zt_nl_veth_add(struct nl_sock *sk, const char *name, const char *peer_name, int peer_nsfd)
{
	struct rtnl_link *link, *peer;
	int rc;

	link = rtnl_link_veth_alloc();
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, name);
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(peer, peer_name);
	rtnl_link_set_ns_fd(peer, peer_nsfd);
	rc = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(peer);
	rtnl_link_put(link);
	return nl_errno(rc);
}

int zt_nl_bridge_add(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *link = rtnl_link_alloc();
	int rc;

	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, name);
	rc = rtnl_link_set_type(link, "bridge");
	if (rc >= 0)
		rc = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(link);
	return nl_errno(rc);
}

/* Changes link name: MTU (0: unchanged), bridge (master > 0), IFF_UP on (up > 0) or off
 * (up < 0). */
static int link_change(struct nl_sock *sk, const char *name, unsigned mtu, int master, int up)
{
	struct rtnl_link *orig = NULL, *change;
	int rc = rtnl_link_get_kernel(sk, 0, name, &orig);

	if (rc < 0)
		return rc == -NLE_OBJ_NOTFOUND ? -ENODEV : nl_errno(rc);
	change = rtnl_link_alloc();
	if (!change) {
		rtnl_link_put(orig);
		return -ENOMEM;
	}
	if (mtu)
		rtnl_link_set_mtu(change, mtu);
	if (master > 0)
		rtnl_link_set_master(change, master);
	if (up > 0)
		rtnl_link_set_flags(change, IFF_UP);
	else if (up < 0)
		rtnl_link_unset_flags(change, IFF_UP);
	rc = rtnl_link_change(sk, orig, change, 0);
	rtnl_link_put(change);
	rtnl_link_put(orig);
	return nl_errno(rc);
}

int zt_nl_link_setup(struct nl_sock *sk, const char *name, unsigned mtu, int master, bool up)
{
	return link_change(sk, name, mtu, master, up ? 1 : 0);
}

int zt_nl_link_down(struct nl_sock *sk, const char *name)
{
	return link_change(sk, name, 0, 0, -1);
}

static struct nl_addr *ip4(uint32_t ip, unsigned prefix)
{
	uint32_t be = htonl(ip);
	struct nl_addr *a = nl_addr_build(AF_INET, &be, sizeof(be));

	if (a)
		nl_addr_set_prefixlen(a, (int)prefix);
	return a;
}

/* Adds or deletes ip/prefix on ifindex. */
static int addr_change(struct nl_sock *sk, int ifindex, uint32_t ip, unsigned prefix, bool add)
{
	struct rtnl_addr *addr = rtnl_addr_alloc();
	struct nl_addr *local = ip4(ip, prefix);
	int rc = -NLE_NOMEM;

	if (!addr || !local)
		goto out_put;
	rtnl_addr_set_ifindex(addr, ifindex);
	rtnl_addr_set_family(addr, AF_INET);
	rc = rtnl_addr_set_local(addr, local);
	if (rc >= 0)
		rc = add ? rtnl_addr_add(sk, addr, 0) : rtnl_addr_delete(sk, addr, 0);
out_put:
	nl_addr_put(local);
	rtnl_addr_put(addr);
	return nl_errno(rc);
}

int zt_nl_addr_add(struct nl_sock *sk, int ifindex, uint32_t ip, unsigned prefix)
{
	return addr_change(sk, ifindex, ip, prefix, true);
}

int zt_nl_addr_del(struct nl_sock *sk, int ifindex, uint32_t ip, unsigned prefix)
{
	return addr_change(sk, ifindex, ip, prefix, false);
}

static struct nl_addr *ip6(const uint8_t ip[16], unsigned prefix)
{
	struct nl_addr *a = nl_addr_build(AF_INET6, ip, 16);

	if (a)
		nl_addr_set_prefixlen(a, (int)prefix);
	return a;
}

int zt_nl_addr6_add(struct nl_sock *sk, int ifindex, const uint8_t ip[16], unsigned prefix)
{
	struct rtnl_addr *addr = rtnl_addr_alloc();
	struct nl_addr *local = ip6(ip, prefix);
	int rc = -NLE_NOMEM;

	if (!addr || !local)
		goto out_put;
	rtnl_addr_set_ifindex(addr, ifindex);
	rtnl_addr_set_family(addr, AF_INET6);
	rtnl_addr_set_flags(addr, IFA_F_NODAD);
	rc = rtnl_addr_set_local(addr, local);
	if (rc >= 0)
		rc = rtnl_addr_add(sk, addr, 0);
out_put:
	nl_addr_put(local);
	rtnl_addr_put(addr);
	return nl_errno(rc);
}

/* A static unicast route dst via `via` on ifindex; takes no reference to dst or via. */
static int route_add(struct nl_sock *sk, int family, int ifindex, struct nl_addr *dst,
		     struct nl_addr *via)
{
	struct rtnl_route *route = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	int rc = -NLE_NOMEM;

	if (!route || !nh || !dst || !via) {
		rtnl_route_nh_free(nh);
		goto out_put;
	}
	rtnl_route_set_family(route, (uint8_t)family);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_protocol(route, RTPROT_STATIC);
	rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
	rtnl_route_set_type(route, RTN_UNICAST);
	rc = rtnl_route_set_dst(route, dst);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_nh_set_gateway(nh, via);
	rtnl_route_add_nexthop(route, nh); /* the route owns nh now */
	if (rc >= 0)
		rc = rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_EXCL);
out_put:
	rtnl_route_put(route);
	return nl_errno(rc);
}

int zt_nl_route_add_default(struct nl_sock *sk, int ifindex, uint32_t gw)
{
	struct nl_addr *dst = ip4(0, 0), *via = ip4(gw, 32);
	int rc = route_add(sk, AF_INET, ifindex, dst, via);

	nl_addr_put(dst);
	nl_addr_put(via);
	return rc;
}

int zt_nl_route6_add(struct nl_sock *sk, int ifindex, const uint8_t dst[16], unsigned prefix,
		     const uint8_t gw[16])
{
	struct nl_addr *d = ip6(dst, prefix), *via = ip6(gw, 128);
	int rc = route_add(sk, AF_INET6, ifindex, d, via);

	nl_addr_put(d);
	nl_addr_put(via);
	return rc;
}

int zt_nl_ct_flush(void)
{
	return zt_nl_ct_flush_family(AF_INET);
}

int zt_nl_ct_flush_family(int family)
{
	struct nfgenmsg hdr = { .nfgen_family = (uint8_t)family, .version = NFNETLINK_V0 };
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = NULL;
	int rc;

	if (!sk)
		return -ENOMEM;
	rc = nl_connect(sk, NETLINK_NETFILTER);
	if (rc < 0)
		goto out_free;
	/* an IPCTNL_MSG_CT_DELETE without a tuple deletes every entry (conntrack -F) */
	msg = nlmsg_alloc_simple(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE,
				 NLM_F_REQUEST | NLM_F_ACK);
	if (!msg) {
		rc = -NLE_NOMEM;
		goto out_free;
	}
	rc = nlmsg_append(msg, &hdr, sizeof(hdr), NLMSG_ALIGNTO);
	if (rc >= 0)
		rc = nl_send_auto(sk, msg);
	if (rc >= 0)
		rc = nl_wait_for_ack(sk);
out_free:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return nl_errno(rc);
}
