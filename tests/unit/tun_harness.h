/*
 * What test_tun and test_tunnat share: a network namespace of the test's own (or a
 * cmocka skip), real UDP/IP packets with right checksums, reads bounded by a timeout,
 * and looks at the namespace's links, addresses, routes and nftables ruleset.
 */
#ifndef ZT_TESTS_TUN_HARNESS_H
#define ZT_TESTS_TUN_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/ippkt.h"
#include "io/tun.h"

/* How long a test waits for a packet that should come. */
#define TH_WAIT_MS 2000

/*
 * Moves the calling process into a new network namespace of its own (unshare), which
 * dies with the process or with the next call; or calls cmocka skip() with the
 * reason when not root, without /dev/net/tun, or when unshare fails.
 */
void th_netns_or_skip(void);

/* Runs fn in a forked child that has dropped root (uid and gid 65534, no
 * capabilities), in the caller's namespace. Returns fn's result (0..255). */
int th_as_nobody(int (*fn)(void));

/* An address from text ("100.64.0.1", "[fd00::1]:9"); fails the test on bad text. */
struct zt_addr th_addr(const char *text);

/* A UDP packet src -> dst (ports from the addresses) with payload, IPv4 (DF, TTL 64)
 * or IPv6 (hop limit 64) by src's family, both checksums right. Returns its length. */
size_t th_udp_packet(uint8_t *buf, size_t cap, const struct zt_addr *src,
		     const struct zt_addr *dst, const void *payload, size_t len);

/* Waits up to ms for fd to be readable. */
bool th_readable(int fd, int ms);

/* The next packet from t within ms: its length (p parsed from it), or -ETIMEDOUT. */
int th_tun_read(struct zt_tun *t, uint8_t *buf, size_t cap, struct zt_ippkt *p, int ms);

/* A non-blocking UDP socket bound to *bind; fails the test if it cannot be made. */
int th_udp_socket(const struct zt_addr *bind);

/* One datagram on fd within ms: its length (*from: the sender), or -ETIMEDOUT. */
int th_udp_recv(int fd, uint8_t *buf, size_t cap, struct zt_addr *from, int ms);

/* Sends len bytes to *to from fd; fails the test if the kernel refuses. */
void th_udp_send(int fd, const struct zt_addr *to, const void *buf, size_t len);

/* The link ifindex in the current namespace: its MTU and flags; false if absent. */
bool th_link(int ifindex, unsigned *mtu, unsigned *flags);

/* How many addresses of family (AF_UNSPEC: any) ifindex has; with a non-NULL a,
 * only those equal to it. */
int th_addr_count(int ifindex, int family, const struct zt_addr *a);

/* How many main-table routes to prefix/plen there are (through any device); with
 * ret_prefsrc / ret_oif, the preferred source / device of the last one. */
int th_route_count(const struct zt_addr *prefix, unsigned plen, struct zt_addr *ret_prefsrc,
		   int *ret_oif);

/*
 * Adds a/plen to the link ifindex of the current namespace (IPv6 without DAD) and
 * waits until the kernel has its local route (IPv6 installs it a moment later).
 */
void th_addr_add(int ifindex, const struct zt_addr *a, unsigned plen);

/* `nft list ruleset` of the current namespace into buf (NUL-terminated). */
void th_nft_list(char *buf, size_t cap);

/* How many times needle occurs in hay. */
int th_count(const char *hay, const char *needle);

#endif
