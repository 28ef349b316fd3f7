/*
 * Host addresses for ICE host candidates (RFC 8445 s5.1.1.1), read through netlink
 * (libnl-route), and a netlink monitor that reports address and link changes.
 *
 * Which interfaces count: by default, an interface is skipped when it is loopback,
 * not up (IFF_UP and IFF_RUNNING), or a tunnel/virtual kind (wireguard, tun, tap,
 * ipip, gre, gretap, sit, ip6tnl, vti, vxlan, geneve, dummy, ...), and addresses are
 * skipped when link-local or deprecated/tentative. An include list, when given,
 * replaces the kind rule: exactly the listed interfaces are used (still only when up;
 * a loopback interface only when listed by its exact name, for tests on one host).
 * An exclude list removes interfaces by name. Names may end in '*' to match a prefix.
 *
 * IPv6: global and unique local (fc00::/7, like RFC 1918 addresses: useful inside
 * a site) addresses count; link-local ones (fe80::/10) do not (they need a scope, and
 * a peer on the same link finds us through another address anyway), nor deprecated,
 * tentative or DAD-failed ones.
 */
#ifndef ZT_IO_IFADDRS_H
#define ZT_IO_IFADDRS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/addr.h"

#define ZT_IF_LIST_MAX 16

struct zt_if_opts {
	const char *include[ZT_IF_LIST_MAX];
	size_t ninclude;
	const char *exclude[ZT_IF_LIST_MAX];
	size_t nexclude;
	bool ipv6;   /* also gather global IPv6 addresses */
};

struct zt_hostaddr {
	struct zt_addr addr; /* port 0 */
	char ifname[16];
	int ifindex;
};

/* What the filter looks at, for one interface; pure, so unit-testable. */
struct zt_if_info {
	const char *name;
	const char *kind;    /* rtnetlink IFLA_INFO_KIND, or NULL for a physical device */
	bool loopback;
	bool up;             /* IFF_UP and IFF_RUNNING */
};

/* Whether an interface's addresses may become host candidates under opts. */
bool zt_if_usable(const struct zt_if_opts *opts, const struct zt_if_info *info);

/*
 * Adds "NAME,NAME2,..." to an include or exclude list (the strings are pointers into
 * `spec`, which the caller keeps alive and which is modified). Returns 0 or ZT_ERANGE
 * when more than ZT_IF_LIST_MAX names are given.
 */
int zt_if_list_parse(const char **list, size_t *n, char *spec);

/*
 * Lists the usable host addresses, up to cap. Returns the count, or -errno
 * (netlink unavailable). IPv4 first, in the kernel's order.
 */
int zt_ifaddrs_list(const struct zt_if_opts *opts, struct zt_hostaddr *out, size_t cap);

/*
 * The default route's gateway (port mapping asks it, docs/portmap.md): the next hop of
 * the main table's default route of family (AF_INET or AF_INET6) with the lowest
 * metric. Returns 0 and *ret (port 0), -ENOENT (no default route with a gateway), or
 * -errno (netlink unavailable).
 */
int zt_ifaddrs_gateway(int family, struct zt_addr *ret);

/* The source address the kernel picks towards dst (a connected UDP socket's name; no
 * packet is sent). Returns 0 and *ret (port 0), or -errno. */
int zt_ifaddrs_source(const struct zt_addr *dst, struct zt_addr *ret);

/* A netlink subscription to address and link changes (RTNLGRP_IPV4_IFADDR,
 * RTNLGRP_IPV6_IFADDR, RTNLGRP_LINK) and to changes of the IPv4 default route
 * (RTNLGRP_IPV4_ROUTE, other routes not counted). */
struct zt_netmon;

int zt_netmon_open(struct zt_netmon **ret);
void zt_netmon_close(struct zt_netmon *m);
/* The descriptor to watch for EPOLLIN. */
int zt_netmon_fd(const struct zt_netmon *m);
/* Reads all pending notifications. Returns the number of address/link/default route
 * events seen (0: nothing relevant), or -errno. */
int zt_netmon_drain(struct zt_netmon *m);

#endif
