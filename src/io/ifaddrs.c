#include <errno.h>
#include <fnmatch.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "io/ifaddrs.h"

/* Link kinds that carry tunnels or are virtual: candidates through them would lead
 * the peer into a VPN or nowhere. */
static const char *const skip_kinds[] = {
	"wireguard", "tun", "tap", "ipip", "gre", "gretap", "ip6gre", "ip6gretap", "sit",
	"ip6tnl", "vti", "vti6", "vxlan", "geneve", "dummy", "ifb", "nlmon", "erspan",
};

static bool name_matches(const char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(list[i], name, 0) == 0)
			return true;
	return false;
}

/* A loopback interface only when the include list names it exactly (tests on one
 * host: "--interfaces lo"), never through a pattern. */
static bool named(const struct zt_if_opts *opts, const char *name)
{
	for (size_t i = 0; i < opts->ninclude; i++)
		if (!strcmp(opts->include[i], name))
			return true;
	return false;
}

bool zt_if_usable(const struct zt_if_opts *opts, const struct zt_if_info *info)
{
	if (!info->up || (info->loopback && !named(opts, info->name)))
		return false;
	if (name_matches(opts->exclude, opts->nexclude, info->name))
		return false;
	if (opts->ninclude)
		return name_matches(opts->include, opts->ninclude, info->name);
	if (info->kind)
		for (size_t i = 0; i < sizeof(skip_kinds) / sizeof(skip_kinds[0]); i++)
			if (!strcmp(info->kind, skip_kinds[i]))
				return false;
	return true;
}

int zt_if_list_parse(const char **list, size_t *n, char *spec)
{
	char *save = NULL;

	for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!*tok)
			continue;
		if (*n == ZT_IF_LIST_MAX)
			return ZT_ERANGE;
		list[(*n)++] = tok;
	}
	return 0;
}

static int nl_to_errno(int nlerr)
{
	/* libnl's own error numbers are not errno values; map the common ones. */
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_NOMEM: return -ENOMEM;
	case NLE_PERM: return -EPERM;
	case NLE_AGAIN: return -EAGAIN;
	default: return -EIO;
	}
}

int zt_ifaddrs_list(const struct zt_if_opts *opts, struct zt_hostaddr *out, size_t cap)
{
	struct nl_sock *sk;
	struct nl_cache *links = NULL, *addrs = NULL;
	size_t count = 0;
	int rc;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc < 0) {
		rc = nl_to_errno(rc);
		goto out_free_sock;
	}
	rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
	if (rc < 0) {
		rc = nl_to_errno(rc);
		goto out_free_sock;
	}
	rc = rtnl_addr_alloc_cache(sk, &addrs);
	if (rc < 0) {
		rc = nl_to_errno(rc);
		goto out_free_links;
	}
	/* two passes: IPv4 first, then IPv6 */
	for (int pass = 0; pass < 2; pass++) {
		int want = pass == 0 ? AF_INET : AF_INET6;
		if (want == AF_INET6 && !opts->ipv6)
			break;
		for (struct nl_object *o = nl_cache_get_first(addrs); o && count < cap;
		     o = nl_cache_get_next(o)) {
			struct rtnl_addr *a = (struct rtnl_addr *)o;
			struct nl_addr *local = rtnl_addr_get_local(a);
			struct rtnl_link *link;
			struct zt_if_info info;
			struct zt_hostaddr h = { 0 };
			unsigned flags;

			if (rtnl_addr_get_family(a) != want || !local)
				continue;
			if (rtnl_addr_get_flags(a) & (IFA_F_TENTATIVE | IFA_F_DEPRECATED | IFA_F_DADFAILED))
				continue;
			link = rtnl_link_get(links, rtnl_addr_get_ifindex(a));
			if (!link)
				continue;
			flags = rtnl_link_get_flags(link);
			info = (struct zt_if_info){
				.name = rtnl_link_get_name(link),
				.kind = rtnl_link_get_type(link),
				.loopback = flags & IFF_LOOPBACK,
				.up = (flags & IFF_UP) && (flags & IFF_RUNNING),
			};
			if (info.name && zt_if_usable(opts, &info)) {
				if (want == AF_INET)
					zt_addr_set_v4(&h.addr, nl_addr_get_binary_addr(local), 0);
				else
					zt_addr_set_v6(&h.addr, nl_addr_get_binary_addr(local), 0);
				if (!zt_addr_is_linklocal(&h.addr) &&
				    (!zt_addr_is_loopback(&h.addr) || info.loopback)) {
					snprintf(h.ifname, sizeof(h.ifname), "%s", info.name);
					h.ifindex = rtnl_addr_get_ifindex(a);
					out[count++] = h;
				}
			}
			rtnl_link_put(link);
		}
	}
	rc = (int)count;
	nl_cache_free(addrs);
out_free_links:
	nl_cache_free(links);
out_free_sock:
	nl_socket_free(sk);
	return rc;
}

/* The next hop of a main-table default route of family, or NULL. */
static struct nl_addr *default_gateway(struct rtnl_route *r, int family)
{
	struct nl_addr *dst = rtnl_route_get_dst(r);
	struct rtnl_nexthop *nh;

	if (rtnl_route_get_family(r) != family || rtnl_route_get_table(r) != RT_TABLE_MAIN ||
	    rtnl_route_get_type(r) != RTN_UNICAST || (dst && nl_addr_get_prefixlen(dst) != 0) ||
	    rtnl_route_get_nnexthops(r) < 1)
		return NULL;
	nh = rtnl_route_nexthop_n(r, 0);
	return nh ? rtnl_route_nh_get_gateway(nh) : NULL;
}

int zt_ifaddrs_gateway(int family, struct zt_addr *ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *routes = NULL;
	uint32_t best = UINT32_MAX;
	int rc;

	if (!sk)
		return -ENOMEM;
	rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc < 0 || (rc = rtnl_route_alloc_cache(sk, family, 0, &routes)) < 0) {
		rc = nl_to_errno(rc);
		goto out_free_sock;
	}
	rc = -ENOENT;
	for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		struct nl_addr *gw = default_gateway(r, family);
		size_t len = gw ? nl_addr_get_len(gw) : 0;

		if (!gw || rtnl_route_get_priority(r) >= best ||
		    len != (family == AF_INET ? 4u : 16u))
			continue;
		best = rtnl_route_get_priority(r);
		if (family == AF_INET)
			zt_addr_set_v4(ret, nl_addr_get_binary_addr(gw), 0);
		else
			zt_addr_set_v6(ret, nl_addr_get_binary_addr(gw), 0);
		rc = 0;
	}
	nl_cache_free(routes);
out_free_sock:
	nl_socket_free(sk);
	return rc;
}

int zt_ifaddrs_source(const struct zt_addr *dst, struct zt_addr *ret)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, rc;
	struct zt_addr to = *dst;

	if (!to.port)
		to.port = 9; /* any port: connect() of UDP sends nothing */
	len = (socklen_t)zt_addr_to_sockaddr(&to, &ss);
	if ((int)len < 0)
		return (int)len;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
	len = sizeof(ss);
	if (rc == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		rc = -errno;
	if (rc == 0)
		rc = zt_addr_from_sockaddr(ret, (struct sockaddr *)&ss, len);
	if (rc == 0)
		ret->port = 0;
	close(fd);
	return rc < 0 ? rc : 0;
}

struct zt_netmon {
	struct nl_sock *sk;
	int events;
};

static int netmon_event(struct nl_msg *msg, void *arg)
{
	struct zt_netmon *m = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);

	switch (h->nlmsg_type) {
	case RTM_NEWADDR: case RTM_DELADDR: case RTM_NEWLINK: case RTM_DELLINK:
		m->events++;
		break;
	case RTM_NEWROUTE: case RTM_DELROUTE: { /* the default route: port mapping's gateway */
		const struct rtmsg *rt = nlmsg_data(h);

		if (nlmsg_datalen(h) >= (int)sizeof(*rt) && rt->rtm_dst_len == 0 &&
		    rt->rtm_table == RT_TABLE_MAIN)
			m->events++;
		break;
	}
	default:
		break;
	}
	return NL_OK;
}

int zt_netmon_open(struct zt_netmon **ret)
{
	struct zt_netmon *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->sk = nl_socket_alloc();
	if (!m->sk) {
		rc = -ENOMEM;
		goto out_free;
	}
	nl_socket_disable_seq_check(m->sk);
	nl_socket_modify_cb(m->sk, NL_CB_VALID, NL_CB_CUSTOM, netmon_event, m);
	rc = nl_connect(m->sk, NETLINK_ROUTE);
	if (rc < 0)
		goto out_nlerr;
	rc = nl_socket_add_memberships(m->sk, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
				       RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, 0);
	if (rc < 0)
		goto out_nlerr;
	rc = nl_socket_set_nonblocking(m->sk);
	if (rc < 0)
		goto out_nlerr;
	*ret = m;
	return 0;

out_nlerr:
	rc = nl_to_errno(rc);
	nl_socket_free(m->sk);
out_free:
	free(m);
	return rc;
}

void zt_netmon_close(struct zt_netmon *m)
{
	if (!m)
		return;
	nl_socket_free(m->sk);
	free(m);
}

int zt_netmon_fd(const struct zt_netmon *m)
{
	return nl_socket_get_fd(m->sk);
}

int zt_netmon_drain(struct zt_netmon *m)
{
	int rc;

	m->events = 0;
	for (;;) {
		rc = nl_recvmsgs_default(m->sk);
		if (rc < 0) {
			if (rc == -NLE_AGAIN)
				break;
			/* NLE_NOMEM here is an overrun: events were lost, so report one. */
			if (rc == -NLE_NOMEM) {
				m->events++;
				break;
			}
			return nl_to_errno(rc);
		}
	}
	return m->events;
}
