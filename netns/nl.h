/*
 * The netlink operations the lab needs (libnl-route-3), each on a socket opened in
 * the namespace it acts on: veth pairs (the peer may go to another namespace),
 * bridges, link state/MTU/master, IPv4 and IPv6 addresses and routes; plus the conntrack
 * flush (nfnetlink). Every function returns 0 (or an ifindex) or -errno; libnl's own
 * codes are translated.
 */
#ifndef ZT_NETNS_NL_H
#define ZT_NETNS_NL_H

#include <stdbool.h>
#include <stdint.h>

struct nl_sock;

/* A NETLINK_ROUTE socket in the calling thread's current namespace. */
int zt_nl_open(struct nl_sock **ret);
void zt_nl_close(struct nl_sock *sk);

/* ifindex of the interface named name (> 0), or -ENODEV. */
int zt_nl_ifindex(struct nl_sock *sk, const char *name);

/* Creates veth name <-> peer; the peer is created in the namespace peer_nsfd. */
int zt_nl_veth_add(struct nl_sock *sk, const char *name, const char *peer, int peer_nsfd);

/* Creates a bridge (STP off, so ports forward at once). */
int zt_nl_bridge_add(struct nl_sock *sk, const char *name);

/*
 * Sets link name's MTU (0: unchanged), its bridge (master ifindex, 0: none) and brings
 * it up when up is set.
 */
int zt_nl_link_setup(struct nl_sock *sk, const char *name, unsigned mtu, int master, bool up);

/* Adds ip/prefix (host byte order) to ifindex. */
int zt_nl_addr_add(struct nl_sock *sk, int ifindex, uint32_t ip, unsigned prefix);

/* Deletes ip/prefix from ifindex (with the routes that need it). */
int zt_nl_addr_del(struct nl_sock *sk, int ifindex, uint32_t ip, unsigned prefix);

/* Takes link name down (IFF_UP off). */
int zt_nl_link_down(struct nl_sock *sk, const char *name);

/* Adds the default route via gw (host byte order) on ifindex. */
int zt_nl_route_add_default(struct nl_sock *sk, int ifindex, uint32_t gw);

/*
 * Adds the IPv6 address ip/prefix to ifindex, without duplicate address detection
 * (IFA_F_NODAD: usable at once; the lab assigns unique addresses).
 */
int zt_nl_addr6_add(struct nl_sock *sk, int ifindex, const uint8_t ip[16], unsigned prefix);

/* Adds the IPv6 route dst/prefix (prefix 0: the default route) via gw on ifindex. */
int zt_nl_route6_add(struct nl_sock *sk, int ifindex, const uint8_t dst[16], unsigned prefix,
		     const uint8_t gw[16]);

/* Deletes every IPv4 conntrack entry of the calling thread's namespace. */
int zt_nl_ct_flush(void);

/* The same for one family: AF_INET or AF_INET6. */
int zt_nl_ct_flush_family(int family);

#endif
