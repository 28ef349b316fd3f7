#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/linkio.h"

#define READ_CHUNK 16384
/* Bytes read from one socket per event, at most (the others get their turn). */
#define READ_MAX (256 * 1024)

void zt_linkio_reuse(int fd)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
}

static struct zt_linkio_sock *sock_of(struct zt_linkio *l, uint32_t id)
{
	for (int i = 0; i < ZT_LINKIO_MAX; i++)
		if (l->socks[i].id == id)
			return &l->socks[i];
	return NULL;
}

static void sock_drop(struct zt_linkio_sock *k)
{
	if (k->fd >= 0) {
		zt_loop_del(k->l->loop, &k->watch);
		close(k->fd);
		k->l->st.closed++;
	}
	k->fd = -1;
	k->id = 0;
	k->connecting = k->want_out = false;
}

/* The socket failed or ended: closed, and the peer told. */
static void sock_end(struct zt_linkio_sock *k, uint64_t now, int err)
{
	struct zt_linkio *l = k->l;
	uint32_t id = k->id;
	bool connecting = k->connecting;

	sock_drop(k);
	if (connecting) {
		l->st.failed++;
		zt_peer_link_failed(l->peer, now, id, err);
	} else {
		zt_peer_link_closed(l->peer, now, id, err);
	}
}

static void on_socket(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now);

/* Returns 0 or -errno (nothing opened). */
static int open_socket(struct zt_linkio_sock *k, const struct zt_tcplink_req *req)
{
	struct sockaddr_storage ls, rs;
	int llen = zt_addr_to_sockaddr(&req->local, &ls);
	int rlen = zt_addr_to_sockaddr(&req->remote, &rs), fd, one = 1, rc;

	if (llen < 0 || rlen < 0 || req->local.family != req->remote.family)
		return -EINVAL;
	fd = socket(req->remote.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	zt_linkio_reuse(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ls, (socklen_t)llen) < 0 ||
	    (connect(fd, (struct sockaddr *)&rs, (socklen_t)rlen) < 0 && errno != EINPROGRESS)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	k->fd = fd;
	k->watch = (struct zt_watch){ .fd = fd, .events = EPOLLOUT, .data = k, .cb = on_socket };
	if (zt_loop_add(k->l->loop, &k->watch) < 0) {
		close(fd);
		k->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

static void do_connect(struct zt_linkio *l, uint64_t now, const struct zt_tcplink_req *req)
{
	struct zt_linkio_sock *k = sock_of(l, 0);
	int rc;

	l->st.connects++;
	if (sock_of(l, req->id))
		sock_drop(sock_of(l, req->id)); /* an attempt the link gave up */
	if (!k) {
		l->st.failed++;
		zt_peer_link_failed(l->peer, now, req->id, -EMFILE);
		return;
	}
	k->l = l;
	rc = open_socket(k, req);
	if (rc < 0) {
		l->st.failed++;
		zt_peer_link_failed(l->peer, now, req->id, rc);
		return;
	}
	k->id = req->id;
	k->connecting = true;
}

static void write_out(struct zt_linkio_sock *k, uint64_t now)
{
	struct zt_linkio *l = k->l;
	const uint8_t *p;
	size_t len;

	k->want_out = false;
	while (k->fd >= 0 && (len = zt_peer_link_output(l->peer, k->id, &p)) > 0) {
		ssize_t n = send(k->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			k->want_out = true;
			return;
		}
		if (n < 0) {
			sock_end(k, now, -errno);
			return;
		}
		l->st.bytes_out += (uint64_t)n;
		zt_peer_link_sent(l->peer, now, k->id, (size_t)n);
		if ((size_t)n < len) {
			k->want_out = true;
			return;
		}
	}
}

static void connected(struct zt_linkio_sock *k, uint64_t now)
{
	int err = 0;

	getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &(socklen_t){ sizeof(err) });
	if (err) {
		sock_end(k, now, -err);
		return;
	}
	k->connecting = false;
	k->l->st.connected++;
	zt_peer_link_connected(k->l->peer, now, k->id);
}

static void read_in(struct zt_linkio_sock *k, uint64_t now)
{
	uint8_t buf[READ_CHUNK];
	size_t total = 0;

	while (k->fd >= 0 && total < READ_MAX) {
		ssize_t n = recv(k->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			sock_end(k, now, n < 0 ? -errno : 0);
			return;
		}
		total += (size_t)n;
		k->l->st.bytes_in += (uint64_t)n;
		if (zt_peer_link_recv(k->l->peer, now, k->id, buf, (size_t)n) < 0) {
			sock_drop(k); /* the link ended (framing): its CLOSE closes nothing more */
			return;
		}
	}
}

static void on_socket(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_linkio_sock *k = w->data;
	struct zt_nodeio *io = k->l->io;
	(void)loop;

	io->in_node = true;
	if (k->connecting && (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		connected(k, now);
	else if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
		read_in(k, now);
	else if (revents & EPOLLOUT)
		k->want_out = false; /* written in the after-hook */
	io->in_node = false;
	zt_nodeio_kick(io); /* requests, writes, re-arms (after-hook) */
}

void zt_linkio_after(struct zt_linkio *l, uint64_t now)
{
	struct zt_tcplink_req req;

	if (!l->peer)
		return;
	while (zt_peer_link_poll(l->peer, now, &req)) {
		if (req.op == ZT_TCPLINK_CONNECT) {
			do_connect(l, now, &req);
		} else if (sock_of(l, req.id)) {
			sock_drop(sock_of(l, req.id));
		}
	}
	for (int i = 0; i < ZT_LINKIO_MAX; i++) {
		struct zt_linkio_sock *k = &l->socks[i];

		if (!k->id || k->fd < 0)
			continue;
		if (!k->connecting)
			write_out(k, now);
		if (k->fd >= 0)
			zt_loop_mod(l->loop, &k->watch,
				    k->connecting ? EPOLLOUT : EPOLLIN | (k->want_out ? EPOLLOUT : 0));
	}
}

void zt_linkio_init(struct zt_linkio *l, struct zt_loop *loop, struct zt_nodeio *io,
		    struct zt_peer *peer)
{
	memset(l, 0, sizeof(*l));
	l->loop = loop;
	l->io = io;
	l->peer = peer;
	for (int i = 0; i < ZT_LINKIO_MAX; i++)
		l->socks[i] = (struct zt_linkio_sock){ .l = l, .fd = -1 };
}

void zt_linkio_close(struct zt_linkio *l)
{
	if (!l->loop)
		return;
	for (int i = 0; i < ZT_LINKIO_MAX; i++)
		if (l->socks[i].fd >= 0)
			sock_drop(&l->socks[i]);
	l->peer = NULL;
}
