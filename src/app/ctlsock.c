#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/ctlsock.h"

struct zt_ctlconn {
	struct zt_ctlsock *s;
	struct zt_watch w;
	char in[ZT_CTL_LINE_MAX + 1];
	size_t inlen;
	char *out;
	size_t outlen, outcap, outoff;
	bool busy;   /* a command is being answered */
	bool eof;    /* the client sent everything it will send */
	bool dead;   /* a write failed or the answer grew too large: close */
};

struct zt_ctlsock {
	struct zt_loop *loop;
	struct zt_watch w;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	zt_ctl_handler handler;
	void *arg;
	struct zt_ctlconn *conns[ZT_CTL_CONNS];
};

static int fill_sun(struct sockaddr_un *sun, const char *path)
{
	size_t n = strlen(path);

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	*sun = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sun->sun_path, path, n + 1);
	return 0;
}

int zt_ctl_default_path(char *out, size_t cap, const char *role)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	bool user = geteuid() != 0 && xdg && *xdg;
	int n = user ? snprintf(out, cap, "%s/ztna-%s.sock", xdg, role)
		     : snprintf(out, cap, "/run/ztna/%s.sock", role);

	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return user || geteuid() == 0 ? 0 : -ENOENT;
}

int zt_ctl_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc = fill_sun(&sun, path);

	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void conn_free(struct zt_ctlconn *c)
{
	struct zt_ctlsock *s = c->s;

	s->handler(s->arg, c, NULL, zt_loop_now(s->loop));
	zt_loop_del(s->loop, &c->w);
	close(c->w.fd);
	for (size_t i = 0; i < ZT_CTL_CONNS; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	free(c->out);
	free(c);
}

/* Sends what is queued; false when the connection must close. */
static bool conn_flush(struct zt_ctlconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->w.fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return false;
		}
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	return true;
}

static void conn_append(struct zt_ctlconn *c, const char *data, size_t n)
{
	if (c->dead)
		return;
	if (c->outlen + n > ZT_CTL_OUT_MAX) {
		c->dead = true;
		return;
	}
	if (c->outlen + n > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		char *p;
		while (cap < c->outlen + n)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			c->dead = true;
			return;
		}
		c->out = p;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, data, n);
	c->outlen += n;
}

void zt_ctl_printf(struct zt_ctlconn *c, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	conn_append(c, line, (size_t)n);
}

/* Runs the complete command lines in c->in, one at a time while none is pending. */
static void conn_commands(struct zt_ctlconn *c, uint64_t now)
{
	while (!c->busy && !c->dead) {
		char *nl = memchr(c->in, '\n', c->inlen);
		char line[ZT_CTL_LINE_MAX + 1];
		size_t n;

		if (!nl)
			return;
		n = (size_t)(nl - c->in);
		memcpy(line, c->in, n);
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
		memmove(c->in, nl + 1, c->inlen - n - 1);
		c->inlen -= n + 1;
		c->busy = true;
		c->s->handler(c->s->arg, c, line, now);
	}
}

/* What the connection waits for next; false when it is finished. */
static bool conn_rearm(struct zt_ctlconn *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return false;
	if (c->outlen)
		ev |= EPOLLOUT;
	else if (c->eof && !c->busy)
		return false;
	if (!c->eof)
		ev |= EPOLLIN;
	if (ev != c->w.events && zt_loop_mod(c->s->loop, &c->w, ev) < 0)
		return false;
	return true;
}

void zt_ctl_end(struct zt_ctlconn *c)
{
	conn_append(c, "\n", 1);
	c->busy = false;
	if (!c->dead && !conn_flush(c))
		c->dead = true;
	/* The next command and any close happen in the connection's own callback: ask
	 * for EPOLLOUT, which fires at once on a writable socket. */
	if (zt_loop_mod(c->s->loop, &c->w, c->w.events | EPOLLOUT) < 0)
		c->dead = true;
}

static void on_conn(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_ctlconn *c = w->data;
	(void)loop;

	if (revents & (EPOLLHUP | EPOLLERR))
		c->dead = true; /* gone both ways (a half-close is EPOLLIN and EOF) */
	if (revents & EPOLLIN) {
		while (!c->eof && c->inlen < sizeof(c->in) - 1) {
			ssize_t n = recv(w->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen,
					 MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n <= 0) {
				c->eof = true;
				break;
			}
			c->inlen += (size_t)n;
		}
		if (c->inlen == sizeof(c->in) - 1 && !memchr(c->in, '\n', c->inlen))
			c->dead = true; /* a line over ZT_CTL_LINE_MAX */
	}
	conn_commands(c, now);
	if (!c->dead && c->outlen && !conn_flush(c))
		c->dead = true;
	if (!conn_rearm(c))
		conn_free(c);
}

static void on_listen(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_ctlsock *s = w->data;
	(void)revents;
	(void)now;

	for (int k = 0; k < 16; k++) {
		struct zt_ctlconn *c;
		size_t slot = ZT_CTL_CONNS;
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		for (size_t i = 0; i < ZT_CTL_CONNS && slot == ZT_CTL_CONNS; i++)
			if (!s->conns[i])
				slot = i;
		c = slot < ZT_CTL_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		c->s = s;
		c->w = (struct zt_watch){ .fd = fd, .events = EPOLLIN, .cb = on_conn, .data = c };
		if (zt_loop_add(loop, &c->w) < 0) {
			close(fd);
			free(c);
			continue;
		}
		s->conns[slot] = c;
	}
}

/* 0 when nobody listens on sun (a leftover file), -EADDRINUSE when a program does. */
static int probe_stale(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ? -EADDRINUSE
		: errno == ECONNREFUSED ? 0 : -EADDRINUSE;
	close(fd);
	return rc;
}

int zt_ctlsock_open(struct zt_ctlsock **ret, struct zt_loop *loop, const char *path,
		    zt_ctl_handler handler, void *arg)
{
	struct zt_ctlsock *s;
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd, rc = fill_sun(&sun, path);

	if (rc < 0)
		return rc;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		rc = probe_stale(&sun);
		if (rc < 0)
			return rc;
		unlink(path);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto free_s;
	}
	old = umask(0077);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ? -errno : 0;
	umask(old);
	if (rc < 0)
		goto close_fd;
	if (listen(fd, 8) < 0) {
		rc = -errno;
		goto unlink_path;
	}
	s->loop = loop;
	s->handler = handler;
	s->arg = arg;
	memcpy(s->path, sun.sun_path, sizeof(s->path));
	s->w = (struct zt_watch){ .fd = fd, .events = EPOLLIN, .cb = on_listen, .data = s };
	rc = zt_loop_add(loop, &s->w);
	if (rc < 0)
		goto unlink_path;
	*ret = s;
	return 0;

unlink_path:
	unlink(sun.sun_path);
close_fd:
	close(fd);
free_s:
	free(s);
	return rc;
}

void zt_ctlsock_close(struct zt_ctlsock *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < ZT_CTL_CONNS; i++)
		if (s->conns[i])
			conn_free(s->conns[i]);
	zt_loop_del(s->loop, &s->w);
	close(s->w.fd);
	unlink(s->path);
	free(s);
}
