#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/fwd_udp.h"
#include "app/log.h"
#include "core/list.h"
#include "io/udp.h"

#define RX_BURST 64

_Static_assert(ZT_PEER_UDP_MAX < ZT_FWDCTX_RX_BUF, "a flow's largest datagram fits a batch slot");

struct zt_udplisten {
	struct zt_fwd_grave grave;
	struct zt_fwdctx *ctx;
	struct zt_udp udp;
	struct zt_watch w;
	char service[64];
};

/* A flow: at the agent a client address on a listener; at the connector a socket
 * connected to the target. */
struct zt_udpflow {
	struct zt_fwd_grave grave;
	struct zt_fwdctx *ctx;
	struct zt_udpflow *prev, *next;
	struct zt_peer_flow *f;
	struct zt_udplisten *l;         /* agent */
	struct zt_addr client;          /* agent */
	int fd;                         /* connector: -1 at the agent */
	struct zt_watch w;
};

static void grave_free(struct zt_fwd_grave *g)
{
	free(g);
}

static void flow_forget(struct zt_fwdctx *ctx, struct zt_udpflow *u)
{
	ZT_LIST_UNLINK(ctx->udp, u, prev, next);
	ctx->st.udp_now--;
	if (u->fd >= 0) {
		zt_loop_del(ctx->loop, &u->w);
		close(u->fd);
		u->fd = -1;
	}
	u->grave.free = grave_free;
	zt_fwdctx_bury(ctx, &u->grave);
}

static struct zt_udpflow *flow_new(struct zt_fwdctx *ctx, struct zt_peer_flow *f)
{
	struct zt_udpflow *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->ctx = ctx;
	u->f = f;
	u->fd = -1;
	ZT_LIST_PUSH(ctx->udp, u, prev, next);
	ctx->st.udp_now++;
	ctx->st.udp_flows++;
	return u;
}

/* Agent. */

static struct zt_udpflow *flow_of_client(struct zt_fwdctx *ctx, const struct zt_udplisten *l,
					 const struct zt_addr *a)
{
	for (struct zt_udpflow *u = ctx->udp; u; u = u->next)
		if (u->l == l && zt_addr_equal(&u->client, a))
			return u;
	return NULL;
}

/* One datagram from a client of listener l: to its flow, opened on its first. */
static void listen_take(struct zt_udplisten *l, uint64_t now, const struct zt_udp_rx *rx)
{
	struct zt_fwdctx *ctx = l->ctx;
	struct zt_udpflow *u;

	if (rx->err) {
		ctx->st.udp_dropped++;
		return;
	}
	u = flow_of_client(ctx, l, &rx->from);
	if (!u) {
		struct zt_peer_flow *f;
		if (!(u = flow_new(ctx, NULL))) {
			ctx->st.udp_dropped++;
			return;
		}
		u->l = l;
		u->client = rx->from;
		if (zt_peer_flow_open(ctx->peer, now, l->service, u, &f) < 0) {
			flow_forget(ctx, u);
			ctx->st.udp_dropped++;
			return;
		}
		u->f = f;
	}
	ctx->st.udp_in++;
	if (zt_peer_flow_send(u->f, now, rx->buf, rx->len) < 0)
		ctx->st.udp_dropped++;
}

/*
 * Datagrams are taken in batches (recvmmsg); a batch that comes back short has
 * emptied the socket, so no further call is made just to hear EAGAIN (one system
 * call per datagram of a ping-pong instead of two: issue 16). Epoll is level
 * triggered: a datagram that arrives meanwhile wakes the loop again.
 */
static void on_listen(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_udplisten *l = w->data;
	struct zt_fwdctx *ctx = l->ctx;
	struct zt_udp_rx rx[ZT_FWDCTX_RX_BATCH];
	(void)loop;
	(void)revents;

	for (int i = 0; i < RX_BURST / ZT_FWDCTX_RX_BATCH; i++) {
		int got;

		for (int k = 0; k < ZT_FWDCTX_RX_BATCH; k++)
			rx[k] = (struct zt_udp_rx){ .buf = ctx->rxbuf[k], .cap = sizeof(ctx->rxbuf[k]) };
		got = zt_udp_recv_batch(&l->udp, rx, ZT_FWDCTX_RX_BATCH);
		if (got < 0) {
			if (got != -EAGAIN)
				ctx->st.udp_dropped++;
			break;
		}
		for (int k = 0; k < got; k++)
			listen_take(l, now, &rx[k]);
		if (got < ZT_FWDCTX_RX_BATCH)
			break;
	}
	zt_nodeio_kick(ctx->io);
}

int zt_udpfwd_listen(struct zt_fwdctx *ctx, const struct zt_addr *bind, const char *service,
		     struct zt_udplisten **ret)
{
	struct zt_udplisten *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return -ENOMEM;
	l->ctx = ctx;
	snprintf(l->service, sizeof(l->service), "%s", service);
	rc = zt_udp_open(&l->udp, bind);
	if (rc < 0) {
		free(l);
		return rc;
	}
	l->w = (struct zt_watch){ .fd = l->udp.fd, .events = EPOLLIN, .cb = on_listen, .data = l };
	rc = zt_loop_add(ctx->loop, &l->w);
	if (rc < 0) {
		zt_udp_close(&l->udp);
		free(l);
		return rc;
	}
	*ret = l;
	return 0;
}

void zt_udpfwd_listen_close(struct zt_fwdctx *ctx, struct zt_udplisten *l)
{
	zt_loop_del(ctx->loop, &l->w);
	zt_udp_close(&l->udp);
	l->grave.free = grave_free;
	zt_fwdctx_bury(ctx, &l->grave);
}

/* Connector. */

/* The target's datagrams, in batches as on_listen's. */
static void on_target(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_udpflow *u = w->data;
	struct zt_fwdctx *ctx = u->ctx;
	struct mmsghdr mm[ZT_FWDCTX_RX_BATCH];
	struct iovec iov[ZT_FWDCTX_RX_BATCH];
	(void)loop;
	(void)revents;

	for (int i = 0; i < RX_BURST / ZT_FWDCTX_RX_BATCH && u->fd >= 0; i++) {
		int got;

		for (int k = 0; k < ZT_FWDCTX_RX_BATCH; k++) {
			iov[k] = (struct iovec){ .iov_base = ctx->rxbuf[k], .iov_len = sizeof(ctx->rxbuf[k]) };
			mm[k] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[k], .msg_iovlen = 1 } };
		}
		got = recvmmsg(u->fd, mm, ZT_FWDCTX_RX_BATCH, MSG_DONTWAIT, NULL);
		if (got < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ctx->st.udp_dropped++; /* e.g. ECONNREFUSED from an ICMP error */
			break;
		}
		for (int k = 0; k < got && u->fd >= 0; k++) {
			ctx->st.udp_in++;
			if ((mm[k].msg_hdr.msg_flags & MSG_TRUNC) ||
			    zt_peer_flow_send(u->f, now, ctx->rxbuf[k], mm[k].msg_len) < 0)
				ctx->st.udp_dropped++;
		}
		if (got < ZT_FWDCTX_RX_BATCH)
			break;
	}
	zt_nodeio_kick(ctx->io);
}

int zt_udpfwd_accept(struct zt_fwdctx *ctx, struct zt_peer_flow *f, const struct zt_addr *target)
{
	struct sockaddr_storage ss;
	struct zt_udpflow *u;
	int len = zt_addr_to_sockaddr(target, &ss), fd, rc;

	fd = len < 0 ? -1 : socket(target->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = len < 0 ? len : -errno;
		zt_peer_flow_close(f);
		if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM)
			zt_fwdctx_no_socket(ctx, true, rc); /* the datagram is dropped */
		return rc;
	}
	if (connect(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 || !(u = flow_new(ctx, f))) {
		rc = -errno;
		close(fd);
		zt_peer_flow_close(f);
		return rc ? rc : -ENOMEM;
	}
	u->fd = fd;
	u->w = (struct zt_watch){ .fd = fd, .events = EPOLLIN, .cb = on_target, .data = u };
	if ((rc = zt_loop_add(ctx->loop, &u->w)) < 0) {
		close(fd);
		u->fd = -1;
		zt_peer_flow_close(f);
		flow_forget(ctx, u);
		return rc;
	}
	zt_peer_flow_set_arg(f, u);
	return 0;
}

void zt_udpfwd_datagram(struct zt_fwdctx *ctx, struct zt_udpflow *u, const uint8_t *data, size_t len)
{
	int rc;

	if (!u)
		return;
	if (u->fd >= 0)
		rc = send(u->fd, data, len, 0) < 0 ? -errno : 0;
	else
		rc = zt_udp_send(&u->l->udp, &u->client, NULL, data, len);
	if (rc < 0)
		ctx->st.udp_dropped++;
	else
		ctx->st.udp_out++;
}

void zt_udpfwd_closed(struct zt_fwdctx *ctx, struct zt_udpflow *u)
{
	if (!u)
		return;
	u->f = NULL;
	flow_forget(ctx, u);
}

void zt_udpfwd_close_all(struct zt_fwdctx *ctx)
{
	while (ctx->udp) {
		struct zt_udpflow *u = ctx->udp;
		if (u->f)
			zt_peer_flow_close(u->f);
		u->f = NULL;
		flow_forget(ctx, u);
	}
}
