#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/fwd_tcp.h"
#include "app/log.h"
#include "core/err.h"
#include "core/list.h"

/* Bytes read from one socket per wake-up, so one busy connection cannot starve others. */
#define READ_BUDGET (256 * 1024)

struct zt_tcpconn {
	struct zt_fwd_grave grave;      /* first: the graveyard frees through it */
	struct zt_fwdctx *ctx;
	struct zt_tcpconn *prev, *next;
	struct zt_tcpconn *due_next;    /* on ctx->tcp_due when due */
	bool due;
	struct zt_watch w;
	struct zt_peer_chan *ch;        /* NULL once released */
	bool agent;
	bool connecting;                /* connector: connect() in progress */
	bool ready;                     /* the channel can carry data */
	bool rd_eof;                    /* TCP EOF read; FIN sent on the channel */
	bool chan_fin;                  /* FIN read from the channel */
	bool shut_wr;                   /* shutdown(SHUT_WR) done */
	bool dead;
	uint64_t in, out;               /* bytes from / to the socket */
	size_t off, len;                /* buf[off..off+len) waits for the socket */
	uint8_t buf[ZT_TCPFWD_BUF];
};

static void conn_free(struct zt_fwd_grave *g)
{
	free(g);
}

static void set_events(struct zt_tcpconn *c, uint32_t ev)
{
	zt_loop_mod(c->ctx->loop, &c->w, ev);
}

static void due_unlink(struct zt_tcpconn *c)
{
	struct zt_tcpconn **pp = &c->ctx->tcp_due;

	while (*pp && *pp != c)
		pp = &(*pp)->due_next;
	if (*pp)
		*pp = c->due_next;
	c->due = false;
	c->due_next = NULL;
}

/* Ends the connection: reset (RST to the socket, code to the channel) or clean. */
static void finish(struct zt_tcpconn *c, bool reset, uint64_t code)
{
	struct zt_fwdctx *ctx = c->ctx;

	if (c->dead)
		return;
	c->dead = true;
	if (c->due)
		due_unlink(c);
	if (c->ch) {
		zt_peer_chan_release(c->ch, code);
		c->ch = NULL;
	}
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->w.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		ctx->st.tcp_reset++;
	} else {
		ctx->st.tcp_closed++;
	}
	zt_debug("tcp_close", "fd=%d in=%" PRIu64 " out=%" PRIu64 " reset=%d", c->w.fd, c->in,
		 c->out, reset);
	zt_loop_del(ctx->loop, &c->w);
	close(c->w.fd);
	ZT_LIST_UNLINK(ctx->tcp, c, prev, next);
	ctx->st.tcp_now--;
	c->grave.free = conn_free;
	zt_fwdctx_bury(ctx, &c->grave);
}

/* Moves what it can both ways and sets the socket's interest. */
static void update(struct zt_tcpconn *c)
{
	bool fin = false;
	ssize_t w;
	int n;

	if (c->dead || !c->ch)
		return;
	/* Tunnel -> socket. */
	while (!c->connecting && c->ready) {
		if (c->len == 0 && !c->chan_fin) {
			n = zt_peer_chan_read(c->ch, c->buf, sizeof(c->buf), &fin);
			if (n == -EAGAIN)
				break;
			if (n < 0) {
				finish(c, true, ZT_FWD_ABORT);
				return;
			}
			c->off = 0;
			c->len = (size_t)n;
			if (fin)
				c->chan_fin = true;
		}
		if (c->len) {
			w = send(c->w.fd, c->buf + c->off, c->len, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				finish(c, true, ZT_FWD_TCP_RESET);
				return;
			}
			c->off += (size_t)w;
			c->len -= (size_t)w;
			c->out += (uint64_t)w;
			zt_peer_chan_consumed(c->ch, (size_t)w); /* the agent's bytes in flight */
			c->ctx->st.tcp_bytes_out += (uint64_t)w;
			c->ctx->st.tcp_writes++;
			continue;
		}
		if (c->chan_fin && !c->shut_wr) {
			shutdown(c->w.fd, SHUT_WR);
			c->shut_wr = true;
		}
		break;
	}
	if (c->rd_eof && c->shut_wr) {
		finish(c, false, 0);
		return;
	}
	set_events(c, (c->connecting || c->len ? EPOLLOUT : 0) |
			      (!c->connecting && c->ready && !c->rd_eof &&
				       zt_peer_chan_writable(c->ch) > 0
			       ? EPOLLIN
			       : 0));
}

/* Socket -> tunnel, as much as the channel has room for. */
static void read_socket(struct zt_tcpconn *c)
{
	struct zt_fwdctx *ctx = c->ctx;
	size_t budget = READ_BUDGET;

	while (budget && !c->rd_eof && c->ch) {
		size_t room = zt_peer_chan_writable(c->ch);
		ssize_t n;
		int k;

		if (room == 0)
			break;
		if (room > sizeof(ctx->scratch))
			room = sizeof(ctx->scratch);
		if (room > budget)
			room = budget;
		n = recv(c->w.fd, ctx->scratch, room, 0);
		if (n == 0) {
			c->rd_eof = true;
			if (zt_peer_chan_shutdown(c->ch) < 0) {
				finish(c, true, ZT_FWD_ABORT);
				return;
			}
			break;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			finish(c, true, ZT_FWD_TCP_RESET);
			return;
		}
		/* n <= room: the channel takes all of it. */
		k = zt_peer_chan_write(c->ch, ctx->scratch, (size_t)n);
		if (k != (int)n) {
			finish(c, true, ZT_FWD_ABORT);
			return;
		}
		c->in += (uint64_t)n;
		ctx->st.tcp_bytes_in += (uint64_t)n;
		budget -= (size_t)n;
	}
}

static void on_socket(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_tcpconn *c = w->data;
	(void)loop;
	(void)now;

	if (c->dead)
		return;
	if (c->connecting && (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->w.fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			zt_warn("tcp_connect_failed", "error=\"%s\"", strerror(err));
			c->ctx->st.tcp_failed++;
			finish(c, true, ZT_FWD_REFUSED);
			zt_nodeio_kick(c->ctx->io);
			return;
		}
		c->connecting = false;
		c->ctx->st.tcp_connected++;
	}
	if (!c->ready && (revents & (EPOLLHUP | EPOLLERR))) {
		/* Gone before the tunnel was ready (epoll reports this unasked). */
		finish(c, true, ZT_FWD_TCP_RESET);
		zt_nodeio_kick(c->ctx->io);
		return;
	}
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_socket(c);
	if (!c->dead && (revents & (EPOLLHUP | EPOLLERR)) && c->rd_eof && !c->shut_wr) {
		/* The socket is closed both ways (or failed) and can take nothing more:
		 * epoll would report it again and again. */
		finish(c, true, ZT_FWD_TCP_RESET);
	}
	/* update() reads the channel too, which gives the other end flow-control
	 * credit: send after it. */
	update(c);
	zt_nodeio_kick(c->ctx->io);
}

static struct zt_tcpconn *conn_new(struct zt_fwdctx *ctx, int fd, bool agent)
{
	struct zt_tcpconn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return NULL;
	c->ctx = ctx;
	c->agent = agent;
	c->w = (struct zt_watch){ .fd = fd, .events = 0, .cb = on_socket, .data = c };
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (zt_loop_add(ctx->loop, &c->w) < 0) {
		free(c);
		return NULL;
	}
	ZT_LIST_PUSH(ctx->tcp, c, prev, next);
	ctx->st.tcp_now++;
	return c;
}

int zt_tcpfwd_accepted(struct zt_fwdctx *ctx, int fd, const char *service)
{
	struct zt_tcpconn *c = conn_new(ctx, fd, true);
	int rc;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	ctx->st.tcp_accepted++;
	rc = zt_peer_chan_open(ctx->peer, zt_loop_now(ctx->loop), service, c, &c->ch);
	if (rc < 0) {
		c->ch = NULL;
		finish(c, true, 0);
		return rc;
	}
	zt_nodeio_kick(ctx->io);
	return 0;
}

int zt_tcpfwd_connect(struct zt_fwdctx *ctx, struct zt_peer_chan *ch, const struct zt_addr *target)
{
	struct sockaddr_storage ss;
	struct zt_tcpconn *c;
	int fd, len, rc;

	len = zt_addr_to_sockaddr(target, &ss);
	fd = len < 0 ? -1 : socket(target->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = len < 0 ? len : -errno;
		if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
			/* out of file descriptors (the per-agent budget should prevent it) */
			zt_fwdctx_no_socket(ctx, false, rc);
			zt_peer_chan_release(ch, ZT_FWD_LIMIT);
			return rc;
		}
		zt_peer_chan_release(ch, ZT_FWD_REFUSED);
		return rc;
	}
	c = conn_new(ctx, fd, false);
	if (!c) {
		close(fd);
		zt_peer_chan_release(ch, ZT_FWD_REFUSED);
		return -ENOMEM;
	}
	c->ch = ch;
	c->ready = true;
	zt_peer_chan_set_arg(ch, c);
	if (connect(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		zt_warn("tcp_connect_failed", "error=\"%s\"", strerror(-rc));
		ctx->st.tcp_failed++;
		finish(c, true, ZT_FWD_REFUSED);
		return rc;
	}
	c->connecting = true;
	set_events(c, EPOLLOUT);
	return 0;
}

void zt_tcpfwd_chan_event(struct zt_fwdctx *ctx, struct zt_tcpconn *c, enum zt_peer_chan_event ev,
			  int code)
{
	if (!c || c->dead)
		return;
	switch (ev) {
	case ZT_PEER_CHAN_READABLE:
		if (!ctx->io || !ctx->io->in_node)
			break;
		if (!c->due) {
			c->due = true;
			c->due_next = ctx->tcp_due;
			ctx->tcp_due = c;
		}
		return;
	case ZT_PEER_CHAN_READY:
		c->ready = true;
		break;
	case ZT_PEER_CHAN_RESET:
		if (code == ZT_FWD_LIMIT && c->agent) {
			uint64_t more;
			c->ctx->st.tcp_limited++;
			if (zt_fwdctx_burst(&c->ctx->tcp_limit_log, zt_loop_now(c->ctx->loop), &more))
				zt_warn("tcp_refused_by_connector", "code=limit not_logged_since=%" PRIu64
					" note=\"the connector's limit for this agent (sockets, flows or "
					"its share of file descriptors) was reached\"", more);
		}
		zt_debug("tcp_reset_by_peer", "fd=%d code=%s", c->w.fd, zt_fwd_code_name((uint64_t)code));
		c->ch = (zt_peer_chan_release(c->ch, 0), NULL);
		finish(c, true, 0);
		return;
	case ZT_PEER_CHAN_FAILED:
		c->ctx->st.tcp_failed++;
		zt_warn("tcp_forward_failed", "fd=%d code=%d error=\"%s\"", c->w.fd, -code,
			zt_strerror(code));
		c->ch = (zt_peer_chan_release(c->ch, 0), NULL);
		finish(c, true, 0);
		return;
	default:
		break;
	}
	update(c);
}

void zt_tcpfwd_close_all(struct zt_fwdctx *ctx)
{
	while (ctx->tcp)
		finish(ctx->tcp, true, ZT_FWD_ABORT);
}

/* Bounded: a write may make other channels readable (the agent's bytes in flight
 * drop), which join the list; what is left after the bound waits for the next flush. */
void zt_tcpfwd_flush_due(void *arg, uint64_t now)
{
	struct zt_fwdctx *ctx = arg;
	size_t bound = 2 * ctx->st.tcp_now + 16;
	(void)now;

	for (size_t i = 0; i < bound && ctx->tcp_due; i++) {
		struct zt_tcpconn *c = ctx->tcp_due;

		ctx->tcp_due = c->due_next;
		c->due = false;
		c->due_next = NULL;
		update(c);
	}
}
