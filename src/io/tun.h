/*
 * A TUN device for the packet tunnel (docs/tunnel.md, "Packet tunnel"): one IP packet
 * per read or write on a non-blocking fd, and the device's addresses and routes set
 * through netlink (libnl-route-3). Needs CAP_NET_ADMIN in the network namespace it is
 * opened in; everything it does happens in that namespace.
 *
 * Lifetime: the device is never made persistent (TUNSETPERSIST), so it exists only
 * while an fd refers to it: it disappears when the fd closes, also when the process
 * is killed with SIGKILL, and the kernel takes its addresses and routes with it.
 * zt_tun_open therefore never attaches to an existing device: a device of that name
 * that exists is someone else's (an `ip tuntap add` persistent one, or one in use).
 *
 * IPv6: the device is set to make no link-local address (IFLA_INET6_ADDR_GEN_MODE
 * none) before it comes up, so the kernel runs no duplicate address detection and
 * sends no router solicitation or MLD report for one: nothing comes out of the fd
 * that the host did not route into it. Addresses added by zt_tun_addr_add carry
 * IFA_F_NODAD, so an IPv6 address is usable (as a source, as a route's prefsrc) at
 * once instead of tentative for a second or more. The kernel disables IPv6 on a
 * device whose MTU is below 1280 (RFC 8200 s5): then adding an IPv6 address is -EINVAL.
 */
#ifndef ZT_IO_TUN_H
#define ZT_IO_TUN_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

/* The MTU range zt_tun_open accepts (IPv4's minimum; the tun driver's maximum). */
#define ZT_TUN_MTU_MIN 68
#define ZT_TUN_MTU_MAX 65535

struct zt_tun;

/*
 * Creates a TUN device (/dev/net/tun, IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL, the fd
 * O_NONBLOCK | O_CLOEXEC) named name (NULL or "": the kernel picks "ztna%d"; a name
 * may also hold one "%d"), sets its MTU and brings it up. Returns 0, or -EBUSY (a
 * device of that name exists, of any kind), -EPERM (no CAP_NET_ADMIN), -ENOENT (no
 * /dev/net/tun), -EINVAL (name of IFNAMSIZ bytes or more, or one the kernel refuses;
 * mtu outside ZT_TUN_MTU_MIN..ZT_TUN_MTU_MAX), -ENOMEM, or another -errno. *ret is
 * untouched on failure.
 */
int zt_tun_open(struct zt_tun **ret, const char *name, unsigned mtu);

/*
 * Deletes the routes and addresses this object added (they would go with the device
 * anyway, unless a forked child still holds the fd), closes the fd and frees t.
 * NULL is ok.
 */
void zt_tun_close(struct zt_tun *t);

/* The fd to poll for reading (and for writing after -EAGAIN). */
int zt_tun_fd(const struct zt_tun *t);
/* The device's name (as the kernel gave it) and its interface index. */
const char *zt_tun_name(const struct zt_tun *t);
int zt_tun_ifindex(const struct zt_tun *t);

/*
 * Adds the address a (IPv4 or IPv6; port ignored) with prefix length plen to the
 * device, IPv6 with IFA_F_NODAD, and returns when packets to it reach the host: the
 * kernel installs an IPv6 address's local route from a work queue after it has
 * answered the request (packets in between are dropped as not for this host), so for
 * IPv6 this waits for that route's netlink notice, up to a second. Adding one that is
 * there already is success. Returns 0, -EINVAL (family, plen over 32 / 128; IPv6 on
 * a device whose MTU is below 1280), -ETIMEDOUT (IPv6: the local route did not come;
 * the address stays), or -errno.
 */
int zt_tun_addr_add(struct zt_tun *t, const struct zt_addr *a, unsigned plen);

/*
 * Adds or replaces (NLM_F_REPLACE: a second add of the same prefix never makes two)
 * the route prefix/plen through the device, in the main table. Like `ip route
 * replace`, it also takes over a route of that prefix and metric through another
 * device (which zt_tun_close does not give back). prefix must be the network address
 * (no host bits set). prefsrc, when non-NULL and of prefix's family, is the preferred
 * source for packets the host sends on it (the device's tunnel address of that
 * family; it must be on the device already). Returns 0, -EINVAL (bad prefix, plen, or
 * prefsrc not an address of the host), or -errno.
 */
int zt_tun_route_add(struct zt_tun *t, const struct zt_addr *prefix, unsigned plen,
		     const struct zt_addr *prefsrc);

/* Deletes the route prefix/plen through the device. Returns 0, -ENOENT (no such
 * route), -EINVAL, or -errno. */
int zt_tun_route_del(struct zt_tun *t, const struct zt_addr *prefix, unsigned plen);

/*
 * Reads one packet into buf. Returns its length, -EAGAIN (none waiting), -EMSGSIZE (a
 * packet longer than cap: it is dropped), or -errno.
 */
int zt_tun_read(struct zt_tun *t, uint8_t *buf, size_t cap);

/*
 * Writes one IP packet (IPv4 or IPv6 by its first nibble) into the host's stack, as
 * if it had arrived on the device. Returns 0, -EAGAIN, -EINVAL (empty, or not IPv4 or
 * IPv6: the kernel refuses it), -EIO (device down), or -errno.
 */
int zt_tun_write(struct zt_tun *t, const uint8_t *pkt, size_t len);

#endif
