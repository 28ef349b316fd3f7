/*
 * UDP sockets for the I/O shell: non-blocking, DF set (QUIC does its own PMTU),
 * large buffers, and the local destination address of each received datagram
 * (IP_PKTINFO / IPV6_RECVPKTINFO) so a socket bound to a wildcard address still knows
 * which of the host's addresses a packet reached - the "local" half of an ICE pair
 * and of a QUIC path.
 */
#ifndef ZT_IO_UDP_H
#define ZT_IO_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct zt_udp {
	int fd;
	struct zt_addr local; /* as bound; port filled in when bound to port 0 */
	bool dual;            /* [::] taking IPv4 too (local is [::]:port) */
};

/*
 * Opens a socket bound to *bind (family from it; address may be 0.0.0.0 / ::,
 * port may be 0): that family only (IPV6_V6ONLY on IPv6). With bind->family 0 (only
 * the port counts): one dual-stack socket on [::]:port taking both families, or
 * 0.0.0.0:port on a host without IPv6. On a dual socket IPv4 peers and local
 * addresses are plain IPv4 both ways: the IPv4-mapped form (::ffff:a.b.c.d) the
 * kernel uses stays inside this file. Returns 0 or -errno (-EADDRINUSE,
 * -EADDRNOTAVAIL, ...).
 */
int zt_udp_open(struct zt_udp *u, const struct zt_addr *bind);

/*
 * As zt_udp_open, with SO_REUSEPORT: more sockets of this user may bind the same
 * address (each opened this way), and the kernel spreads the datagrams over them by
 * a hash of the sender's and our address, so one sender's datagrams keep reaching one
 * socket while the group stays the same (docs/workers.md).
 */
int zt_udp_open_shared(struct zt_udp *u, const struct zt_addr *bind);

/* Whether the socket can send to or from an address of a's family. */
bool zt_udp_family_ok(const struct zt_udp *u, const struct zt_addr *a);
void zt_udp_close(struct zt_udp *u);

/*
 * Receives one datagram. Returns its length, -EAGAIN when none is waiting, or -errno.
 * *from is the sender; *to (may be NULL) is the local address and port it reached.
 * A datagram longer than cap is truncated and reported as -EMSGSIZE.
 */
int zt_udp_recv(struct zt_udp *u, uint8_t *buf, size_t cap, struct zt_addr *from,
		struct zt_addr *to);

/* A datagram slot for zt_udp_recv_batch(): buf and cap in; the rest out. */
struct zt_udp_rx {
	uint8_t *buf;
	size_t cap;
	size_t len;             /* bytes received (0 when err) */
	int err;                /* 0, -EMSGSIZE (longer than cap: dropped), -EAFNOSUPPORT */
	struct zt_addr from, to; /* as zt_udp_recv() */
};

#define ZT_UDP_BATCH_MAX 32

/*
 * Receives up to n (1..ZT_UDP_BATCH_MAX) waiting datagrams with one system call
 * (recvmmsg), rx[i] as zt_udp_recv() fills its arguments. Returns how many were
 * taken (rx[0..count)), -EAGAIN when none is waiting, -EINVAL (n out of range), or
 * -errno.
 */
int zt_udp_recv_batch(struct zt_udp *u, struct zt_udp_rx *rx, size_t n);

/*
 * Sends one datagram to *to, from the local address *from when it is non-NULL and
 * has an address (with a wildcard-bound socket), else as the kernel chooses.
 * Returns 0, -EAGAIN when the send buffer is full, or -errno.
 */
int zt_udp_send(struct zt_udp *u, const struct zt_addr *to, const struct zt_addr *from,
		const uint8_t *buf, size_t len);

/* Segments one zt_udp_send_segments call carries at most, and bytes. */
#define ZT_UDP_SEGMENTS_MAX 64
#define ZT_UDP_SEGMENTS_MAX_BYTES 65000

/*
 * Sends len bytes as consecutive datagrams of seg bytes each (the last may be
 * shorter) to *to in one system call (UDP GSO, Linux 4.18: the kernel cuts them;
 * they travel the stack, veths and NATs as one). *from as for zt_udp_send. Returns 0,
 * -EAGAIN (send buffer full: nothing was sent), -EINVAL (seg 0, over
 * ZT_UDP_SEGMENTS_MAX segments or ZT_UDP_SEGMENTS_MAX_BYTES bytes), or -errno; -EIO,
 * -EINVAL, -ENOPROTOOPT or -EOPNOTSUPP from the kernel mean no GSO on this socket or
 * route: send the datagrams one by one.
 */
int zt_udp_send_segments(struct zt_udp *u, const struct zt_addr *to, const struct zt_addr *from,
			 const uint8_t *buf, size_t len, size_t seg);

#endif
