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

static void count_sent(struct zt_nodeio *io, size_t count, size_t len)
{
	io->st.tx += count;
	io->st.tx_bytes += len;
}

/*
 * Sends the gathered batch. Returns false when the socket is full (the batch stays
 * and goes when the socket is writable again), true when it is gone (sent, or
 * dropped on an error: QUIC recovers or times out, e.g. on EHOSTUNREACH).
 */
static bool send_batch(struct zt_nodeio *io)
{
	/* A virtual (relay) or wildcard local address: let the kernel choose. */
	const struct zt_addr *l = zt_addr_is_any(&io->b_local) || !zt_udp_family_ok(&io->udp, &io->b_local)
					  ? NULL
					  : &io->b_local;
	int rc;

	if (!io->b_count)
		return true;
	if (io->b_count == 1)
		rc = zt_udp_send(&io->udp, &io->b_remote, l, io->batch, io->b_len);
	else
		rc = zt_udp_send_segments(&io->udp, &io->b_remote, l, io->batch, io->b_len, io->b_seg);
	if (rc == -EIO || rc == -EINVAL || rc == -ENOPROTOOPT || rc == -EOPNOTSUPP) {
		if (io->b_count > 1) {
			/* No GSO here: from now on one datagram per call. */
			size_t off = 0;
			io->no_gso = true;
			while (off < io->b_len) {
				size_t n = io->b_len - off < io->b_seg ? io->b_len - off : io->b_seg;
				rc = zt_udp_send(&io->udp, &io->b_remote, l, io->batch + off, n);
				if (rc == -EAGAIN) {
					/* keep what is left */
					memmove(io->batch, io->batch + off, io->b_len - off);
					io->b_len -= off;
					io->b_count = (io->b_len + io->b_seg - 1) / io->b_seg;
					goto out_blocked;
				}
				if (rc < 0)
					io->st.tx_errors++;
				else
					count_sent(io, 1, n);
				off += n;
			}
			io->b_len = io->b_count = 0;
			return true;
		}
	}
	if (rc == -EAGAIN)
		goto out_blocked;
	if (rc < 0)
		io->st.tx_errors += io->b_count;
	else
		count_sent(io, io->b_count, io->b_len);
	io->b_len = io->b_count = 0;
	return true;

out_blocked:
	io->st.tx_blocked++;
	io->blocked = true;
	zt_loop_mod(io->loop, &io->watch, EPOLLIN | EPOLLOUT);
	return false;
}

/* Adds a datagram to the batch, sending first what it cannot join. Returns false
 * when the socket is full (the datagram then waits in io->spill). */
static bool add_to_batch(struct zt_nodeio *io, const struct zt_addr *l, const struct zt_addr *r,
			 const uint8_t *data, size_t len)
{
	/* STUN goes alone: a path-MTU probe (core/ice.h) in a GSO batch would take the
	 * batch's other datagrams with it when it is too big (a router drops the whole
	 * batch, whose segments all count as its size: docs/direct-path.md) */
	bool alone = len > 0 && data[0] < 4;
	bool joins = !alone && io->b_count && !io->no_gso && io->b_count < ZT_UDP_SEGMENTS_MAX &&
		     len <= io->b_seg && io->b_len % io->b_seg == 0 &&
		     io->b_len + len <= sizeof(io->batch) && zt_addr_equal(l, &io->b_local) &&
		     zt_addr_equal(r, &io->b_remote);

	if (!joins) {
		if (!send_batch(io)) {
			if (len <= sizeof(io->spill)) {
				memcpy(io->spill, data, len);
				io->spill_len = len;
				io->spill_local = *l;
				io->spill_remote = *r;
			}
			return false;
		}
		io->b_local = *l;
		io->b_remote = *r;
		io->b_seg = len;
	}
	memcpy(io->batch + io->b_len, data, len);
	io->b_len += len;
	io->b_count++;
	/* A shorter datagram ends a batch. */
	if (len < io->b_seg || io->no_gso || alone)
		return send_batch(io);
	return true;
}

/* The node's datagrams into batches until it has none or the socket is full. */
static void poll_all(struct zt_nodeio *io, uint64_t now)
{
	struct zt_addr l, r;
	int n;

	for (;;) {
		n = io->ops->poll_send(io->node, now, io->buf, sizeof(io->buf), &l, &r);
		if (n <= 0 || (size_t)n > sizeof(io->batch))
			break;
		if (io->send_other && l.port != io->udp.local.port &&
		    io->send_other(io->other_arg, &l, &r, io->buf, (size_t)n))
			continue;
		if (!add_to_batch(io, &l, &r, io->buf, (size_t)n))
			break;
	}
}

static void flush(struct zt_nodeio *io, uint64_t now)
{
	uint64_t d;

	if (io->before) {
		io->in_node = true;
		io->before(io->before_arg, now);
		io->in_node = false;
	}
	if (io->blocked)
		return;
	io->in_node = true;
	poll_all(io, now);
	if (io->after && !io->blocked) {
		io->after(io->after_arg, now);
		poll_all(io, now); /* what TCP brought may have made datagrams */
		if (!io->blocked) /* ... or TCP bytes (a link that came up, relayed packets) */
			io->after(io->after_arg, now);
	}
	if (!io->blocked)
		send_batch(io);
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

/* Up to RX_BURST waiting datagrams into the node, ZT_NODEIO_RX_BATCH per system call
 * (recvmmsg); the caller flushes once for all of them. */
static void recv_all(struct zt_nodeio *io, uint64_t now)
{
	struct zt_udp_rx rx[ZT_NODEIO_RX_BATCH];
	int calls = 0;

	for (size_t i = 0; i < ZT_NODEIO_RX_BATCH; i++)
		rx[i] = (struct zt_udp_rx){ .buf = io->rxbuf[i], .cap = sizeof(io->rxbuf[i]) };
	io->in_node = true;
	for (int taken = 0; taken < RX_BURST && calls < RX_BURST; calls++) {
		int n = zt_udp_recv_batch(&io->udp, rx, ZT_NODEIO_RX_BATCH);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			io->st.rx_errors++; /* ICMP errors surface here: ignore */
			continue;
		}
		io->st.rx_batches++;
		for (int i = 0; i < n; i++, taken++) {
			if (rx[i].err == -EMSGSIZE) {
				io->st.rx_truncated++;
				continue;
			}
			if (rx[i].err < 0) {
				io->st.rx_errors++;
				continue;
			}
			io->st.rx++;
			io->st.rx_bytes += rx[i].len;
			io->ops->recv(io->node, now, &rx[i].to, &rx[i].from, rx[i].buf, rx[i].len);
		}
		if (n < (int)ZT_NODEIO_RX_BATCH)
			break; /* the socket is empty */
	}
	io->in_node = false;
}

static void on_socket(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_nodeio *io = w->data;
	(void)loop;

	if ((revents & EPOLLOUT) && io->blocked) {
		io->blocked = false;
		zt_loop_mod(io->loop, &io->watch, EPOLLIN);
		if (!send_batch(io))
			return;
		if (io->spill_len) {
			size_t n = io->spill_len;
			io->spill_len = 0;
			if (!add_to_batch(io, &io->spill_local, &io->spill_remote, io->spill, n))
				return;
		}
	}
	if (revents & (EPOLLIN | EPOLLERR))
		recv_all(io, now);
	flush(io, now);
}

static int open_socket(struct zt_nodeio *io, struct zt_loop *loop, const struct zt_addr *bind,
		       bool shared)
{
	int rc;

	memset(io, 0, offsetof(struct zt_nodeio, batch));
	io->loop = loop;
	io->udp.fd = -1;
	rc = shared ? zt_udp_open_shared(&io->udp, bind) : zt_udp_open(&io->udp, bind);
	if (rc < 0)
		return rc;
	zt_timer_init(&io->timer, on_timer, io);
	return 0;
}

int zt_nodeio_open(struct zt_nodeio *io, struct zt_loop *loop, const struct zt_addr *bind)
{
	return open_socket(io, loop, bind, false);
}

int zt_nodeio_open_shared(struct zt_nodeio *io, struct zt_loop *loop, const struct zt_addr *bind)
{
	return open_socket(io, loop, bind, true);
}

void zt_nodeio_feed(struct zt_nodeio *io, uint64_t now, const struct zt_addr *local,
		    const struct zt_addr *from, const uint8_t *pkt, size_t len)
{
	bool was = io->in_node;

	io->in_node = true;
	io->st.rx++;
	io->st.rx_bytes += len;
	io->ops->recv(io->node, now, local, from, pkt, len);
	io->in_node = was;
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
	/* Never opened (a zeroed struct: fd 0 is not ours) or already closed. */
	if (!io->loop || io->udp.fd < 0)
		return;
	if (io->node)
		zt_loop_del(io->loop, &io->watch);
	zt_timer_cancel(io->loop, &io->timer);
	zt_udp_close(&io->udp);
	io->node = NULL;
}
