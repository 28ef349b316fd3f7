#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/udp.h"

#define SOCK_BUF_BYTES (4 * 1024 * 1024)

/* Options for a socket of family fam; dual: an IPv6 socket that takes IPv4 too. */
static void set_options(int fd, int fam, bool dual)
{
	int on = 1, off = 0, bufsz = SOCK_BUF_BYTES, pmtu4 = IP_PMTUDISC_DO, pmtu6 = IPV6_PMTUDISC_DO;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	if (fam == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? &off : &on, sizeof(on));
		/* IPv4 datagrams on a dual socket come with an IPv4-mapped IPV6_PKTINFO */
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu6, sizeof(pmtu6));
	}
	if (fam == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
	if (fam == AF_INET || dual) /* the IPv4 side of a dual socket too */
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu4, sizeof(pmtu4));
}

static int open_bound(struct zt_udp *u, const struct zt_addr *bind_addr, bool dual, bool shared)
{
	int on = 1;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, len, rc;

	len = zt_addr_to_sockaddr(bind_addr, &ss);
	if (len < 0)
		return len;
	fd = socket(bind_addr->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_options(fd, bind_addr->family, dual);
	if (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0) {
		rc = -errno;
		goto out_close;
	}
	sslen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		rc = -errno;
		goto out_close;
	}
	rc = zt_addr_from_sockaddr(&u->local, (struct sockaddr *)&ss, sslen);
	if (rc < 0)
		goto out_close;
	u->fd = fd;
	u->dual = dual;
	return 0;

out_close:
	close(fd);
	return rc;
}

static int open_any(struct zt_udp *u, const struct zt_addr *bind_addr, bool shared)
{
	struct zt_addr any6 = { .family = AF_INET6, .port = bind_addr->port };
	struct zt_addr any4 = { .family = AF_INET, .port = bind_addr->port };
	int rc;

	if (bind_addr->family)
		return open_bound(u, bind_addr, false, shared);
	rc = open_bound(u, &any6, true, shared);
	/* a host without IPv6 (disabled, or no module): IPv4 alone */
	if (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL)
		rc = open_bound(u, &any4, false, shared);
	return rc;
}

int zt_udp_open(struct zt_udp *u, const struct zt_addr *bind_addr)
{
	return open_any(u, bind_addr, false);
}

int zt_udp_open_shared(struct zt_udp *u, const struct zt_addr *bind_addr)
{
	return open_any(u, bind_addr, true);
}

void zt_udp_close(struct zt_udp *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
}

/* A received message's sender and local address (*to may be NULL); its length, or
 * -EAFNOSUPPORT, -EMSGSIZE (truncated). */
static int msg_parse(const struct zt_udp *u, const struct msghdr *mh, size_t n,
		     struct zt_addr *from, struct zt_addr *to)
{
	if (zt_addr_from_sockaddr(from, (const struct sockaddr *)mh->msg_name, mh->msg_namelen) < 0)
		return -EAFNOSUPPORT;
	if (to) {
		*to = u->local;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				zt_addr_set_v4(to, (const uint8_t *)&pi.ipi_addr, u->local.port);
			} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				zt_addr_set_v6(to, (const uint8_t *)&pi.ipi6_addr, u->local.port);
			}
		}
	}
	if (mh->msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	return (int)n;
}

union pktinfo_ctl {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};

int zt_udp_recv(struct zt_udp *u, uint8_t *buf, size_t cap, struct zt_addr *from,
		struct zt_addr *to)
{
	struct sockaddr_storage ss;
	union pktinfo_ctl ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_name = &ss,
		.msg_namelen = sizeof(ss),
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	n = recvmsg(u->fd, &mh, 0);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return msg_parse(u, &mh, (size_t)n, from, to);
}

int zt_udp_recv_batch(struct zt_udp *u, struct zt_udp_rx *rx, size_t n)
{
	struct mmsghdr mm[ZT_UDP_BATCH_MAX];
	struct iovec iov[ZT_UDP_BATCH_MAX];
	struct sockaddr_storage ss[ZT_UDP_BATCH_MAX];
	union pktinfo_ctl ctl[ZT_UDP_BATCH_MAX];
	int got;

	if (n == 0 || n > ZT_UDP_BATCH_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		iov[i] = (struct iovec){ .iov_base = rx[i].buf, .iov_len = rx[i].cap };
		mm[i] = (struct mmsghdr){ .msg_hdr = {
			.msg_name = &ss[i],
			.msg_namelen = sizeof(ss[i]),
			.msg_iov = &iov[i],
			.msg_iovlen = 1,
			.msg_control = ctl[i].buf,
			.msg_controllen = sizeof(ctl[i].buf),
		} };
	}
	got = recvmmsg(u->fd, mm, (unsigned)n, MSG_DONTWAIT, NULL);
	if (got < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (int i = 0; i < got; i++) {
		int r = msg_parse(u, &mm[i].msg_hdr, mm[i].msg_len, &rx[i].from, &rx[i].to);
		rx[i].len = r < 0 ? 0 : (size_t)r;
		rx[i].err = r < 0 ? r : 0;
	}
	return got;
}

bool zt_udp_family_ok(const struct zt_udp *u, const struct zt_addr *a)
{
	return a->family == u->local.family || (u->dual && a->family == AF_INET);
}

/* An IPv4 destination on a dual socket is written IPv4-mapped: that form exists only
 * here, between this file and the kernel (core/addr.h). */
static int to_sockaddr(const struct zt_udp *u, const struct zt_addr *to,
		       struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	if (!zt_udp_family_ok(u, to))
		return -EAFNOSUPPORT;
	if (!u->dual || to->family != AF_INET)
		return zt_addr_to_sockaddr(to, ss);
	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(to->port);
	in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&in6->sin6_addr.s6_addr[12], to->ip, 4);
	return sizeof(*in6);
}

/*
 * One sendmsg: len bytes to *to, as datagrams of seg bytes each (the last may be
 * shorter) when seg is nonzero and below len (UDP GSO), from *from as zt_udp_send says.
 */
static int send_msg(struct zt_udp *u, const struct zt_addr *to, const struct zt_addr *from,
		    const uint8_t *buf, size_t len, size_t seg)
{
	struct sockaddr_storage ss;
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_name = &ss, .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	int sl = to_sockaddr(u, to, &ss);

	if (sl < 0)
		return sl;
	mh.msg_namelen = (socklen_t)sl;
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&mh);
	mh.msg_controllen = 0;
	/* Choose the source address only when bound to a wildcard address. */
	if (from && zt_udp_family_ok(u, from) && zt_addr_is_any(&u->local) && !zt_addr_is_any(from)) {
		if (from->family == AF_INET) {
			struct in_pktinfo pi = { 0 };
			memcpy(&pi.ipi_spec_dst, from->ip, 4);
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			mh.msg_controllen += CMSG_SPACE(sizeof(pi));
			c = (struct cmsghdr *)((char *)c + CMSG_SPACE(sizeof(pi)));
		} else {
			struct in6_pktinfo pi = { 0 };
			memcpy(&pi.ipi6_addr, from->ip, 16);
			c->cmsg_level = IPPROTO_IPV6;
			c->cmsg_type = IPV6_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			mh.msg_controllen += CMSG_SPACE(sizeof(pi));
			c = (struct cmsghdr *)((char *)c + CMSG_SPACE(sizeof(pi)));
		}
	}
	if (seg && seg < len) {
		uint16_t gso = (uint16_t)seg;
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(gso));
		memcpy(CMSG_DATA(c), &gso, sizeof(gso));
		mh.msg_controllen += CMSG_SPACE(sizeof(gso));
	}
	if (!mh.msg_controllen)
		mh.msg_control = NULL;
	if (sendmsg(u->fd, &mh, 0) < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

int zt_udp_send(struct zt_udp *u, const struct zt_addr *to, const struct zt_addr *from,
		const uint8_t *buf, size_t len)
{
	return send_msg(u, to, from, buf, len, 0);
}

int zt_udp_send_segments(struct zt_udp *u, const struct zt_addr *to, const struct zt_addr *from,
			 const uint8_t *buf, size_t len, size_t seg)
{
	if (!seg || seg > UINT16_MAX || len > ZT_UDP_SEGMENTS_MAX_BYTES ||
	    (len + seg - 1) / seg > ZT_UDP_SEGMENTS_MAX)
		return -EINVAL;
	return send_msg(u, to, from, buf, len, seg);
}
