#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "app/sprayio.h"

static void on_readable(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_sprayio_sock *k = w->data;
	struct zt_sprayio *s = k->s;
	struct zt_nodeio *io = s->io;
	struct zt_addr from, to;
	(void)loop;
	(void)revents;

	if (!io->node)
		return;
	for (int i = 0; i < 16; i++) {
		int n = zt_udp_recv(&k->udp, io->buf, sizeof(io->buf), &from, &to);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			continue; /* ICMP errors, truncation: the probe is lost, no more */
		s->rx++;
		io->in_node = true;
		io->ops->recv(io->node, now, &to, &from, io->buf, (size_t)n);
		io->in_node = false;
	}
	zt_nodeio_kick(io);
}

/* n sockets bound to b as it is (port 0: each its own). */
static int open_socks(struct zt_sprayio *s, struct zt_nodeio *io, const struct zt_addr *b, size_t n)
{
	int rc = 0;

	*s = (struct zt_sprayio){ .io = io };
	s->socks = calloc(n, sizeof(*s->socks));
	s->locals = calloc(n, sizeof(*s->locals));
	if (!s->socks || !s->locals) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (; s->n < n; s->n++) {
		struct zt_sprayio_sock *k = &s->socks[s->n];
		k->s = s;
		if ((rc = zt_udp_open(&k->udp, b)) < 0)
			goto out_close;
		k->watch = (struct zt_watch){ .fd = k->udp.fd, .events = EPOLLIN, .cb = on_readable,
					      .data = k };
		if ((rc = zt_loop_add(io->loop, &k->watch)) < 0) {
			zt_udp_close(&k->udp);
			goto out_close;
		}
		s->locals[s->n] = k->udp.local;
	}
	return 0;

out_close:
	zt_sprayio_close(s);
	return rc;
out_free:
	free(s->socks);
	free(s->locals);
	*s = (struct zt_sprayio){ 0 };
	return rc;
}

int zt_sprayio_open(struct zt_sprayio *s, struct zt_nodeio *io, const struct zt_addr *bind, size_t n)
{
	struct zt_addr b = *bind;

	b.port = 0;
	if (io->udp.dual) /* of the main socket's families: a dual one too */
		b = (struct zt_addr){ 0 };
	return open_socks(s, io, &b, n);
}

int zt_sprayio_open_at(struct zt_sprayio *s, struct zt_nodeio *io, const struct zt_addr *at)
{
	return open_socks(s, io, at, 1);
}

void zt_sprayio_close(struct zt_sprayio *s)
{
	for (size_t i = 0; i < s->n; i++) {
		zt_loop_del(s->io->loop, &s->socks[i].watch);
		zt_udp_close(&s->socks[i].udp);
	}
	free(s->socks);
	free(s->locals);
	*s = (struct zt_sprayio){ 0 };
}

bool zt_sprayio_send(void *arg, const struct zt_addr *local, const struct zt_addr *remote,
		     const uint8_t *buf, size_t len)
{
	struct zt_sprayio *s = arg;

	for (size_t i = 0; i < s->n; i++) {
		struct zt_udp *u = &s->socks[i].udp;
		/* a dual-stack socket ([::]) sends from IPv4 addresses too */
		if (u->local.port != local->port || !zt_udp_family_ok(u, local))
			continue;
		if (zt_udp_send(u, remote, zt_addr_is_any(local) ? NULL : local, buf, len) < 0)
			s->tx_errors++;
		else
			s->tx++;
		return true;
	}
	return false;
}
