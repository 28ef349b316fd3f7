/* The outer connection's TCP sockets (outertcp.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/log.h"
#include "app/outertcp.h"
#include "core/err.h"

#define READ_CHUNK 16384
/* The Intermediate's accept queue: when thousands of clients come back at once (its
 * restart, a network change), a short queue drops their handshakes' last ACK and each
 * waits for a SYN-ACK retransmission (1 s, 2 s, ...). The kernel caps it at
 * net.core.somaxconn (4096 on Debian 12). */
#define OTCP_BACKLOG 4096

/* Socket helpers. */

static int tcp_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Writes what next() gives until it gives nothing or the socket is full. Returns
 * true while the socket is full with more to write. */
static bool write_out(int fd, const uint8_t *p, size_t len, size_t *sent, int *err)
{
	ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	*sent = 0;
	*err = 0;
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return true;
		*err = -errno;
		return false;
	}
	*sent = (size_t)n;
	return (size_t)n < len;
}

/* Client. */

static void client_drop(struct zt_otcp_client *c)
{
	if (c->fd >= 0) {
		zt_loop_del(c->loop, &c->watch);
		close(c->fd);
		c->st.closed++;
	}
	c->fd = -1;
	c->connecting = c->want_out = c->proxy_wait = false;
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
}

/* why: NULL, or a reason in c->why */
static void client_failed(struct zt_otcp_client *c, uint64_t now, int err, const char *why)
{
	uint64_t gen = c->gen;

	c->last_err = err;
	client_drop(c);
	zt_peer_tcp_closed(c->peer, now, gen, err, why);
}

static void client_events(struct zt_otcp_client *c)
{
	uint32_t ev = c->connecting || c->want_out ? EPOLLOUT : 0;

	if (c->proxy_wait)
		ev = EPOLLIN; /* the proxy's answer */

	if (!c->connecting && !c->in_len)
		ev |= EPOLLIN;
	zt_loop_mod(c->loop, &c->watch, ev);
}

/* A port of its own that the TCP direct path's links may share (app/linkio.h). */
static int bind_reusable(int fd, int family)
{
	struct sockaddr_storage ss;
	struct zt_addr any = { .family = (uint8_t)family };
	int len = zt_addr_to_sockaddr(&any, &ss);

	zt_linkio_reuse(fd);
	return len < 0 ? -1 : bind(fd, (struct sockaddr *)&ss, (socklen_t)len);
}

static void client_connect(struct zt_otcp_client *c, uint64_t now, const struct zt_addr *to)
{
	struct sockaddr_storage ss;
	const struct zt_addr *at = c->use_proxy ? &c->proxy_addr : to;
	int len = zt_addr_to_sockaddr(at, &ss), fd;

	c->st.connects++;
	c->target = *to;
	fd = len < 0 ? -EINVAL : tcp_socket(at->family);
	if (fd >= 0 && !c->use_proxy && bind_reusable(fd, at->family) < 0) {
		close(fd);
		fd = -errno;
	}
	if (fd < 0) {
		zt_peer_tcp_closed(c->peer, now, c->gen, fd, NULL);
		return;
	}
	if (connect(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 && errno != EINPROGRESS) {
		int err = -errno;
		close(fd);
		c->st.failed++;
		c->last_err = err;
		zt_peer_tcp_closed(c->peer, now, c->gen, err, NULL);
		return;
	}
	c->fd = fd;
	c->connecting = true;
	c->watch = (struct zt_watch){ .fd = fd, .events = EPOLLOUT, .data = c,
				      .cb = c->watch.cb };
	if (zt_loop_add(c->loop, &c->watch) < 0)
		client_failed(c, now, -ENOMEM, NULL);
}

/* Input not taken before, offered again. */
static void client_feed(struct zt_otcp_client *c, uint64_t now)
{
	int n;

	if (!c->in_len || c->fd < 0)
		return;
	n = zt_peer_tcp_recv(c->peer, now, c->gen, c->in, c->in_len);
	if (n < 0) {
		c->in_len = 0;
		return;
	}
	memmove(c->in, c->in + n, c->in_len - (size_t)n);
	c->in_len -= (size_t)n;
}

static void client_write(struct zt_otcp_client *c, uint64_t now)
{
	const uint8_t *p;
	size_t sent;
	int len, err;

	c->want_out = false;
	while ((len = zt_peer_tcp_output(c->peer, c->gen, &p)) > 0) {
		c->want_out = write_out(c->fd, p, (size_t)len, &sent, &err);
		if (err) {
			client_failed(c, now, err, NULL);
			return;
		}
		if (sent) {
			c->st.bytes_out += sent;
			zt_peer_tcp_sent(c->peer, now, c->gen, sent);
		}
		if (c->want_out)
			break;
	}
}

static void client_after(void *arg, uint64_t now)
{
	struct zt_otcp_client *c = arg;
	struct zt_addr to;
	uint64_t gen = zt_peer_tcp_wanted(c->peer, &to);

	if (gen != c->gen) {
		/* a closing connection's last bytes (its CLOSE) go out first */
		if (c->fd >= 0 && !c->connecting && !gen)
			client_write(c, now);
		client_drop(c);
		c->gen = gen;
		if (gen)
			client_connect(c, now, &to);
	}
	if (c->fd >= 0 && !c->connecting && !c->proxy_wait) {
		client_feed(c, now);
		if (c->fd >= 0)
			client_write(c, now);
		if (c->fd >= 0)
			client_events(c);
	}
	zt_linkio_after(&c->links, now);
}

/* HTTP proxy: CONNECT to the target. Returns false when the connection failed. */
static bool proxy_ask(struct zt_otcp_client *c, uint64_t now)
{
	char req[ZT_HTTPPROXY_REQUEST_MAX], host[ZT_ADDR_STRLEN];
	int n = zt_addr_format(&c->target, false, host, sizeof(host));
	ssize_t w;

	if (n >= 0)
		n = zt_httpproxy_request(&c->proxy, host, c->target.port, req, sizeof(req));
	w = n > 0 ? send(c->fd, req, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) : -1;
	explicit_bzero(req, sizeof(req)); /* may hold the proxy's password */
	if (w != n) {
		snprintf(c->why, sizeof(c->why), "cannot send CONNECT to the proxy %s",
			 zt_addr_str(&c->proxy_addr, (char[ZT_ADDR_STRLEN]){ 0 }));
		client_failed(c, now, -EIO, c->why);
		return false;
	}
	zt_httpproxy_reader_init(&c->prd);
	c->proxy_wait = true;
	client_events(c);
	return true;
}

/* The proxy's answer to CONNECT; what follows it is the TLS stream's. */
static void proxy_answer(struct zt_otcp_client *c, uint64_t now, const uint8_t *data, size_t len)
{
	char ans[160], pa[ZT_ADDR_STRLEN], ta[ZT_ADDR_STRLEN];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct zt_addr local = { 0 };
	size_t used = 0;
	int rc = zt_httpproxy_feed(&c->prd, data, len, &used);

	if (rc == 0)
		return;
	zt_addr_str(&c->proxy_addr, pa);
	zt_addr_str(&c->target, ta);
	if (rc < 0 || !c->prd.ok) {
		if (rc < 0)
			snprintf(ans, sizeof(ans), "not an HTTP answer (%s)", zt_strerror(rc));
		else
			zt_httpproxy_describe(&c->prd, ans, sizeof(ans));
		snprintf(c->why, sizeof(c->why), "the proxy %s refused CONNECT to %s: %s", pa, ta, ans);
		client_failed(c, now, -ECONNREFUSED, c->why);
		return;
	}
	c->proxy_wait = false;
	if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0)
		zt_addr_from_sockaddr(&local, (struct sockaddr *)&ss, sl);
	zt_peer_tcp_connected(c->peer, now, c->gen, &local);
	if (used < len) {
		int took = zt_peer_tcp_recv(c->peer, now, c->gen, data + used, len - used);
		if (took >= 0 && (size_t)took < len - used && (c->in = malloc(READ_CHUNK))) {
			c->in_len = len - used - (size_t)took;
			memcpy(c->in, data + used + took, c->in_len);
		}
	}
}

static void client_connected(struct zt_otcp_client *c, uint64_t now)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct zt_addr local = { 0 };
	int err = 0;

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &(socklen_t){ sizeof(err) });
	if (err) {
		c->st.failed++;
		if (c->use_proxy) {
			snprintf(c->why, sizeof(c->why), "cannot reach the proxy %s: %s",
				 zt_addr_str(&c->proxy_addr, (char[ZT_ADDR_STRLEN]){ 0 }), strerror(err));
			client_failed(c, now, -err, c->why);
		} else {
			client_failed(c, now, -err, NULL);
		}
		return;
	}
	c->connecting = false;
	if (c->use_proxy && !proxy_ask(c, now))
		return;
	c->st.connected++;
	c->last_err = 0;
	if (c->proxy_wait)
		return; /* the peer hears of it when the proxy says yes */
	if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0)
		zt_addr_from_sockaddr(&local, (struct sockaddr *)&ss, sl);
	zt_peer_tcp_connected(c->peer, now, c->gen, &local);
}

static void client_read(struct zt_otcp_client *c, uint64_t now)
{
	uint8_t buf[READ_CHUNK];

	while (c->fd >= 0 && !c->in_len) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		int took;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 && c->proxy_wait) {
			snprintf(c->why, sizeof(c->why), "the proxy %s closed the connection before "
				 "answering CONNECT", zt_addr_str(&c->proxy_addr, (char[ZT_ADDR_STRLEN]){ 0 }));
			client_failed(c, now, n < 0 ? -errno : -ECONNRESET, c->why);
			return;
		}
		if (n <= 0) {
			client_failed(c, now, n < 0 ? -errno : 0, NULL);
			return;
		}
		c->st.bytes_in += (uint64_t)n;
		if (c->proxy_wait) {
			proxy_answer(c, now, buf, (size_t)n);
			continue;
		}
		took = zt_peer_tcp_recv(c->peer, now, c->gen, buf, (size_t)n);
		if (took < 0 || took == n)
			continue;
		c->in = malloc(READ_CHUNK);
		if (!c->in)
			return; /* dropped: the TLS stream fails and the peer reconnects */
		c->in_len = (size_t)(n - took);
		memcpy(c->in, buf + took, c->in_len);
	}
}

static void client_socket(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_otcp_client *c = w->data;
	(void)loop;

	c->io->in_node = true;
	if (c->connecting && (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		client_connected(c, now);
	else if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
		client_read(c, now);
	c->io->in_node = false;
	zt_nodeio_kick(c->io); /* writes (after-hook) and re-arms */
}

void zt_otcp_client_init(struct zt_otcp_client *c, struct zt_loop *loop, struct zt_nodeio *io,
			 struct zt_peer *peer)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->io = io;
	c->peer = peer;
	c->fd = -1;
	c->watch.cb = client_socket;
	zt_linkio_init(&c->links, loop, io, peer);
	io->after = client_after;
	io->after_arg = c;
}

void zt_otcp_client_proxy(struct zt_otcp_client *c, const struct zt_httpproxy_url *u,
			  const struct zt_addr *addr)
{
	c->use_proxy = true;
	c->proxy = *u;
	c->proxy_addr = *addr;
}

void zt_otcp_client_close(struct zt_otcp_client *c)
{
	if (!c->loop)
		return;
	client_drop(c);
	zt_linkio_close(&c->links);
	explicit_bzero(&c->proxy, sizeof(c->proxy));
	if (c->io && c->io->after_arg == c)
		c->io->after = NULL;
}

/* Server. */

struct otcp_conn {
	struct zt_otcp_server *s;
	uint64_t id;
	struct zt_hnode node;
	int fd;
	struct zt_watch watch;
	bool want_out;
	uint8_t *in;
	size_t in_len;
	struct otcp_conn *snext, *sprev;  /* in s->stalled while in_len */
	bool stalled;
};

static bool same_conn(const struct zt_hnode *n, const void *id)
{
	return zt_hmap_entry(n, struct otcp_conn, node)->id == *(const uint64_t *)id;
}

static struct otcp_conn *conn_find(struct zt_otcp_server *s, uint64_t id)
{
	struct zt_hnode *n = *zt_hmap_slot(&s->conns, id, same_conn, &id);

	return n ? zt_hmap_entry(n, struct otcp_conn, node) : NULL;
}

static void stall(struct otcp_conn *k, bool on)
{
	struct zt_otcp_server *s = k->s;

	if (on == k->stalled)
		return;
	k->stalled = on;
	if (on) {
		k->sprev = NULL;
		k->snext = s->stalled;
		if (s->stalled)
			s->stalled->sprev = k;
		s->stalled = k;
		return;
	}
	if (k->sprev)
		k->sprev->snext = k->snext;
	else
		s->stalled = k->snext;
	if (k->snext)
		k->snext->sprev = k->sprev;
}

/* The socket is gone; told == false: tell the Intermediate. */
static void conn_free(struct otcp_conn *k, uint64_t now, int err, bool told)
{
	struct zt_otcp_server *s = k->s;

	if (!told)
		zt_imd_tcp_closed(s->imd, now, k->id, err);
	stall(k, false);
	zt_hmap_remove(&s->conns, &k->node);
	s->nconns--;
	zt_loop_del(s->loop, &k->watch);
	close(k->fd);
	free(k->in);
	free(k);
	s->st.closed++;
}

static void conn_events(struct otcp_conn *k)
{
	uint32_t ev = k->want_out ? EPOLLOUT : 0;

	if (!k->in_len)
		ev |= EPOLLIN;
	zt_loop_mod(k->s->loop, &k->watch, ev);
}

/* Returns false when the connection is gone. */
static bool conn_write(struct otcp_conn *k, uint64_t now)
{
	struct zt_otcp_server *s = k->s;
	const uint8_t *p;
	size_t sent;
	int len, err;

	k->want_out = false;
	while ((len = zt_imd_tcp_output(s->imd, k->id, &p)) > 0) {
		k->want_out = write_out(k->fd, p, (size_t)len, &sent, &err);
		if (err) {
			conn_free(k, now, err, false);
			return false;
		}
		if (sent) {
			s->st.bytes_out += sent;
			zt_imd_tcp_sent(s->imd, now, k->id, sent);
		}
		if (k->want_out)
			break;
	}
	if (len < 0 && !k->want_out) {
		/* done (-ENOTCONN) or forgotten (-ENOENT) */
		conn_free(k, now, 0, len == -ENOENT);
		return false;
	}
	conn_events(k);
	return true;
}

static bool conn_feed(struct otcp_conn *k, uint64_t now)
{
	int n = zt_imd_tcp_recv(k->s->imd, now, k->id, k->in, k->in_len);

	if (n < 0) {
		conn_free(k, now, 0, true);
		return false;
	}
	memmove(k->in, k->in + n, k->in_len - (size_t)n);
	k->in_len -= (size_t)n;
	if (!k->in_len)
		stall(k, false);
	return true;
}

static void server_after(void *arg, uint64_t now)
{
	struct zt_otcp_server *s = arg;
	struct otcp_conn *k, *next;
	uint64_t id;

	for (k = s->stalled; k; k = next) {
		next = k->snext;
		if (conn_feed(k, now) && !k->in_len)
			conn_events(k);
	}
	while (zt_imd_tcp_next(s->imd, &id)) {
		k = conn_find(s, id);
		if (k)
			conn_write(k, now);
	}
}

/* Returns false when the connection is gone. */
static bool conn_read(struct otcp_conn *k, uint64_t now)
{
	struct zt_otcp_server *s = k->s;
	uint8_t buf[READ_CHUNK];

	while (!k->in_len) {
		ssize_t n = recv(k->fd, buf, sizeof(buf), MSG_DONTWAIT);
		int took;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			conn_free(k, now, n < 0 ? -errno : 0, false);
			return false;
		}
		s->st.bytes_in += (uint64_t)n;
		took = zt_imd_tcp_recv(s->imd, now, k->id, buf, (size_t)n);
		if (took < 0) {
			conn_free(k, now, 0, true);
			return false;
		}
		if (took == n)
			continue;
		k->in = k->in ? k->in : malloc(READ_CHUNK);
		if (!k->in) {
			conn_free(k, now, -ENOMEM, false);
			return false;
		}
		k->in_len = (size_t)(n - took);
		memcpy(k->in, buf + took, k->in_len);
		stall(k, true);
		conn_events(k);
	}
	return true;
}

static void conn_socket(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct otcp_conn *k = w->data;
	struct zt_otcp_server *s = k->s;
	bool alive = true;
	(void)loop;

	s->io->in_node = true;
	if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
		alive = conn_read(k, now);
	if (alive && (revents & EPOLLOUT))
		conn_write(k, now);
	s->io->in_node = false;
	zt_nodeio_kick(s->io);
}

static void accept_one(struct zt_otcp_server *s, uint64_t now, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct zt_addr remote = { 0 };
	struct otcp_conn *k;
	uint64_t id;
	int one = 1;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    zt_addr_from_sockaddr(&remote, (struct sockaddr *)&ss, sl) < 0 ||
	    !(k = calloc(1, sizeof(*k)))) {
		close(fd);
		return;
	}
	if (zt_imd_tcp_accept(s->imd, now, &s->local, &remote, &id) < 0) {
		s->st.failed++;
		free(k);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*k = (struct otcp_conn){ .s = s, .id = id, .fd = fd };
	k->watch = (struct zt_watch){ .fd = fd, .events = EPOLLIN, .cb = conn_socket, .data = k };
	zt_hmap_link(&s->conns, zt_hmap_slot(&s->conns, id, same_conn, &id), &k->node, id);
	s->nconns++;
	s->st.connects++;
	if (zt_loop_add(s->loop, &k->watch) < 0) {
		k->watch.fd = -1;
		conn_free(k, now, -ENOMEM, false);
	}
}

static void on_accepted(void *arg, uint64_t now, int fd)
{
	struct zt_otcp_server *s = arg;

	s->io->in_node = true;
	accept_one(s, now, fd);
	s->io->in_node = false;
	zt_nodeio_kick(s->io);
}

/* The open-files limit (or memory) stops accept(): said at most every 10 s. */
static void on_accept_failed(void *arg, uint64_t now, int err)
{
	struct zt_otcp_server *s = arg;

	s->st.failed++;
	if (s->accept_logged && now < s->accept_log_at + 10 * 1000000000ULL)
		return;
	s->accept_logged = true;
	s->accept_log_at = now;
	zt_warn("tcp_accept_failed", "error=\"%s\" connections=%zu failures=%" PRIu64
		" note=\"new TCP clients wait in the kernel's queue\" fix=\"%s\"",
		strerror(-err), s->nconns, s->lst.errors,
		err == -EMFILE || err == -ENFILE
			? "raise the open files limit (ulimit -n, systemd LimitNOFILE=) or lower --max-clients"
			: "free memory");
}

int zt_otcp_server_open(struct zt_otcp_server *s, struct zt_loop *loop, struct zt_nodeio *io,
			struct zt_imd *imd, const struct zt_addr *at)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	rc = zt_hmap_init(&s->conns, 4);
	if (rc < 0)
		return rc;
	s->loop = loop;
	s->io = io;
	s->imd = imd;
	rc = zt_listener_open(&s->lst, loop, at, OTCP_BACKLOG, on_accepted, on_accept_failed, s);
	if (rc < 0) {
		zt_hmap_fini(&s->conns);
		s->loop = NULL;
		return rc;
	}
	s->fd = s->lst.watch.fd;
	s->local = s->lst.local;
	io->after = server_after;
	io->after_arg = s;
	return 0;
}

static void conn_free_node(struct zt_hnode *n, void *arg)
{
	struct otcp_conn *k = zt_hmap_entry(n, struct otcp_conn, node);
	struct zt_otcp_server *s = arg;

	zt_imd_tcp_closed(s->imd, zt_loop_now(s->loop), k->id, 0);
	zt_loop_del(s->loop, &k->watch);
	close(k->fd);
	free(k->in);
	free(k);
}

void zt_otcp_server_close(struct zt_otcp_server *s)
{
	if (!s->loop || s->fd < 0)
		return;
	zt_hmap_take_if(&s->conns, NULL, NULL, conn_free_node, s);
	s->nconns = 0;
	s->stalled = NULL;
	zt_listener_close(&s->lst);
	s->fd = -1;
	zt_hmap_fini(&s->conns);
	if (s->io && s->io->after_arg == s)
		s->io->after = NULL;
}
