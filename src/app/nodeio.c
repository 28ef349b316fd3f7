#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "app/nodeio.h"
#include "core/units.h"
#include "node/imd.h"
#include "node/peer.h"

/* Datagrams read per wake-up before sending: keeps the send side moving under load. */
#define RX_BURST 64

static int imd_recv(void *n, uint64_t now, const struct zt_addr *l, const struct zt_addr *f,
		    const uint8_t *p, size_t len)
{
	return zt_imd_recv(n, now, l, f, p, len);
}

static int imd_poll(void *n, uint64_t now, uint8_t *b, size_t cap, struct zt_addr *l,
		    struct zt_addr *r)
{
	return zt_imd_poll_send(n, now, b, cap, l, r);
}

static uint64_t imd_deadline(const void *n)
{
	return zt_imd_next_deadline(n);
}

static void imd_timeout(void *n, uint64_t now)
{
	zt_imd_on_timeout(n, now);
}

static int peer_recv(void *n, uint64_t now, const struct zt_addr *l, const struct zt_addr *f,
		     const uint8_t *p, size_t len)
{
	return zt_peer_recv(n, now, l, f, p, len);
}

static int peer_poll(void *n, uint64_t now, uint8_t *b, size_t cap, struct zt_addr *l,
		     struct zt_addr *r)
{
	return zt_peer_poll_send(n, now, b, cap, l, r);
}

static uint64_t peer_deadline(const void *n)
{
	return zt_peer_next_deadline(n);
}

static void peer_timeout(void *n, uint64_t now)
{
	zt_peer_on_timeout(n, now);
}

const struct zt_nodeio_ops zt_nodeio_imd_ops = {
	.recv = imd_recv, .poll_send = imd_poll, .next_deadline = imd_deadline,
	.on_timeout = imd_timeout,
};

const struct zt_nodeio_ops zt_nodeio_peer_ops = {
	.recv = peer_recv, .poll_send = peer_poll, .next_deadline = peer_deadline,
	.on_timeout = peer_timeout,
};

static bool addr_is_any(const struct zt_addr *a)
{
	static const uint8_t zero[16];
	return !a->family || !memcmp(a->ip, zero, a->family == AF_INET ? 4 : 16);
}

/* Sends one datagram; false when the socket is full (it waits in `pending`). */
static bool send_one(struct zt_nodeio *io, const struct zt_addr *l, const struct zt_addr *r,
		     const uint8_t *buf, size_t len)
{
	/* A virtual (relay) or wildcard local address: let the kernel choose. */
	int rc = zt_udp_send(&io->udp, r, addr_is_any(l) || l->family != io->udp.local.family ? NULL : l,
			     buf, len);

	if (rc == -EAGAIN) {
		io->st.tx_blocked++;
		if (len <= sizeof(io->pending)) {
			memcpy(io->pending, buf, len);
			io->pend_len = len;
			io->pend_local = *l;
			io->pend_remote = *r;
		}
		io->blocked = true;
		zt_loop_mod(io->loop, &io->watch, EPOLLIN | EPOLLOUT);
		return false;
	}
	if (rc < 0) {
		io->st.tx_errors++; /* e.g. EHOSTUNREACH: QUIC recovers or times out */
		return true;
	}
	io->st.tx++;
	io->st.tx_bytes += len;
	return true;
}

static void flush(struct zt_nodeio *io, uint64_t now)
{
	struct zt_addr l, r;
	uint64_t d;
	int n;

	if (io->blocked)
		return;
	io->in_node = true;
	for (;;) {
		n = io->ops->poll_send(io->node, now, io->buf, sizeof(io->buf), &l, &r);
		if (n <= 0)
			break;
		if (!send_one(io, &l, &r, io->buf, (size_t)n))
			break;
	}
	io->in_node = false;
	d = io->ops->next_deadline(io->node);
	zt_timer_set(io->loop, &io->timer, d == ZT_TIME_NEVER ? UINT64_MAX : d);
}

static void on_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct zt_nodeio *io = t->data;
	(void)loop;

	io->in_node = true;
	io->ops->on_timeout(io->node, now);
	io->in_node = false;
	flush(io, now);
}

static void on_socket(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_nodeio *io = w->data;
	struct zt_addr from, to;
	(void)loop;

	if ((revents & EPOLLOUT) && io->blocked) {
		io->blocked = false;
		zt_loop_mod(io->loop, &io->watch, EPOLLIN);
		if (io->pend_len && !send_one(io, &io->pend_local, &io->pend_remote, io->pending,
					      io->pend_len))
			return;
		io->pend_len = 0;
	}
	if (revents & (EPOLLIN | EPOLLERR)) {
		io->in_node = true;
		for (int i = 0; i < RX_BURST; i++) {
			int n = zt_udp_recv(&io->udp, io->buf, sizeof(io->buf), &from, &to);
			if (n == -EAGAIN)
				break;
			if (n == -EMSGSIZE) {
				io->st.rx_truncated++;
				continue;
			}
			if (n < 0) {
				io->st.rx_errors++; /* ICMP errors surface here: ignore */
				continue;
			}
			io->st.rx++;
			io->st.rx_bytes += (uint64_t)n;
			io->ops->recv(io->node, now, &to, &from, io->buf, (size_t)n);
		}
		io->in_node = false;
	}
	flush(io, now);
}

int zt_nodeio_open(struct zt_nodeio *io, struct zt_loop *loop, const struct zt_addr *bind)
{
	int rc;

	memset(io, 0, offsetof(struct zt_nodeio, pending));
	io->loop = loop;
	io->udp.fd = -1;
	rc = zt_udp_open(&io->udp, bind);
	if (rc < 0)
		return rc;
	zt_timer_init(&io->timer, on_timer, io);
	return 0;
}

int zt_nodeio_start(struct zt_nodeio *io, const struct zt_nodeio_ops *ops, void *node)
{
	int rc;

	io->ops = ops;
	io->node = node;
	io->watch = (struct zt_watch){ .fd = io->udp.fd, .events = EPOLLIN, .cb = on_socket, .data = io };
	rc = zt_loop_add(io->loop, &io->watch);
	if (rc < 0)
		return rc;
	flush(io, zt_loop_now(io->loop));
	return 0;
}

void zt_nodeio_kick(struct zt_nodeio *io)
{
	if (io->in_node || !io->node)
		return;
	flush(io, zt_loop_now(io->loop));
}

void zt_nodeio_close(struct zt_nodeio *io)
{
	if (io->udp.fd < 0)
		return;
	if (io->node)
		zt_loop_del(io->loop, &io->watch);
	zt_timer_cancel(io->loop, &io->timer);
	zt_udp_close(&io->udp);
	io->node = NULL;
}
