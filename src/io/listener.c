/* A listening TCP socket (listener.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/listener.h"

static bool out_of_resources(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void resume(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct zt_listener *l = t->data;
	(void)now;

	if (l->watch.fd >= 0)
		zt_loop_mod(loop, &l->watch, EPOLLIN);
}

static void on_ready(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_listener *l = w->data;
	(void)revents;

	for (int i = 0; i < 64 && l->watch.fd >= 0; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), err = errno;

		if (fd >= 0) {
			l->taken++;
			l->accepted(l->arg, now, fd);
			continue;
		}
		if (err == EINTR || err == ECONNABORTED)
			continue;
		if (err == EAGAIN || err == EWOULDBLOCK)
			return;
		l->errors++;
		if (out_of_resources(err)) {
			l->pauses++;
			zt_loop_mod(loop, &l->watch, 0);
			zt_timer_set(loop, &l->pause, now + ZT_LISTENER_PAUSE);
		}
		if (l->failed)
			l->failed(l->arg, now, -err);
		return;
	}
}

int zt_listener_open(struct zt_listener *l, struct zt_loop *loop, const struct zt_addr *at,
		     int backlog, void (*accepted)(void *arg, uint64_t now, int fd),
		     void (*failed)(void *arg, uint64_t now, int err), void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int len = zt_addr_to_sockaddr(at, &ss), fd, one = 1, rc;

	memset(l, 0, sizeof(*l));
	l->watch.fd = -1;
	if (len < 0)
		return -EINVAL;
	fd = socket(at->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		rc = -errno;
		goto fail;
	}
	zt_addr_from_sockaddr(&l->local, (struct sockaddr *)&ss, sl);
	l->loop = loop;
	l->accepted = accepted;
	l->failed = failed;
	l->arg = arg;
	zt_timer_init(&l->pause, resume, l);
	l->watch = (struct zt_watch){ .fd = fd, .events = EPOLLIN, .cb = on_ready, .data = l };
	rc = zt_loop_add(loop, &l->watch);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	close(fd);
	l->watch.fd = -1;
	return rc;
}

void zt_listener_close(struct zt_listener *l)
{
	if (!l->loop || l->watch.fd < 0)
		return;
	zt_timer_cancel(l->loop, &l->pause);
	zt_loop_del(l->loop, &l->watch);
	close(l->watch.fd);
	l->watch.fd = -1;
}
