#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "app/metrics.h"
#include "core/err.h"
#include "core/httpreq.h"
#include "io/listener.h"

struct mconn {
	struct zt_metrics *m;
	struct zt_watch w;            /* w.fd < 0: a free slot */
	struct zt_timer timer;
	char in[ZT_HTTPREQ_MAX + 1];
	size_t inlen;
	char *out;                    /* the whole answer, once the head was read */
	size_t outlen, outoff;
};

struct zt_metrics {
	struct zt_loop *loop;
	struct zt_listener l;
	zt_metrics_render render;
	void *arg;
	struct mconn c[ZT_METRICS_CONNS];
	uint64_t served, refused, truncated;
};

static void conn_close(struct mconn *c)
{
	if (c->w.fd < 0)
		return;
	zt_loop_del(c->m->loop, &c->w);
	zt_timer_cancel(c->m->loop, &c->timer);
	close(c->w.fd);
	c->w.fd = -1;
	free(c->out);
	c->out = NULL;
}

/* The answer: status line, headers, body (the exposition for 200, a sentence else). */
static int answer(struct mconn *c, int code, const char *reason, bool head_only, uint64_t now)
{
	struct zt_metrics *m = c->m;
	size_t cap = ZT_METRICS_OUT_MAX, hlen;
	char hdr[256], *body;
	struct zt_prom p;

	c->out = malloc(cap + sizeof(hdr));
	if (!c->out)
		return -ENOMEM;
	body = c->out + sizeof(hdr);
	zt_prom_init(&p, body, cap);
	if (code == 200) {
		m->render(m->arg, &p, now);
		if (p.full)
			m->truncated++;
		zt_prom_family(&p, "ztna_metrics_scrapes_total", "counter",
			       "Answers of this endpoint (200s), this one included.");
		zt_prom_u64(&p, "ztna_metrics_scrapes_total", NULL, NULL, ++m->served);
		zt_prom_family(&p, "ztna_metrics_truncated_total", "counter",
			       "Answers that did not fit in 256 KiB and were cut at a whole line.");
		zt_prom_u64(&p, "ztna_metrics_truncated_total", NULL, NULL, m->truncated);
	} else {
		p.len = (size_t)snprintf(body, cap, "%d %s\n", code, reason);
	}
	hlen = (size_t)snprintf(hdr, sizeof(hdr),
				"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
				"%sConnection: close\r\n\r\n", code, reason,
				code == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
				p.len, code == 405 ? "Allow: GET, HEAD\r\n" : "");
	/* the header right before the body: one buffer, one write */
	memmove(body - hlen, hdr, hlen);
	memmove(c->out, body - hlen, hlen + (head_only ? 0 : p.len));
	c->outlen = hlen + (head_only ? 0 : p.len);
	c->outoff = 0;
	return 0;
}

static void flush_out(struct mconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = write(c->w.fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			zt_loop_mod(c->m->loop, &c->w, EPOLLOUT);
			return;
		}
		if (n <= 0)
			break;
		c->outoff += (size_t)n;
	}
	conn_close(c);
}

/* A whole head (or a bad one) in c->in: the answer. */
static void handle(struct mconn *c, int rc, const struct zt_httpreq *r, uint64_t now)
{
	bool get = rc > 0 && !strcmp(r->method, "GET"), head = rc > 0 && !strcmp(r->method, "HEAD");

	if (rc < 0)
		rc = answer(c, 400, "Bad Request", false, now);
	else if (!get && !head)
		rc = answer(c, 405, "Method Not Allowed", false, now);
	else if (strcmp(r->path, "/metrics"))
		rc = answer(c, 404, "Not Found", head, now);
	else
		rc = answer(c, 200, "OK", head, now);
	if (rc < 0) {
		conn_close(c);
		return;
	}
	flush_out(c);
}

static void on_conn(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct mconn *c = w->data;
	struct zt_httpreq r;
	ssize_t n;
	int rc;

	(void)loop;
	if (c->out) {
		flush_out(c);
		return;
	}
	n = read(w->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	(void)revents;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	rc = zt_httpreq_parse(c->in, c->inlen, &r);
	if (rc == 0 && c->inlen < sizeof(c->in) - 1)
		return;
	handle(c, rc == 0 ? ZT_ETOOBIG : rc, &r, now);
}

static void on_timeout(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	(void)loop;
	(void)now;
	conn_close(t->data);
}

static void on_accept(void *arg, uint64_t now, int fd)
{
	struct zt_metrics *m = arg;

	for (size_t i = 0; i < ZT_METRICS_CONNS; i++) {
		struct mconn *c = &m->c[i];
		if (c->w.fd >= 0)
			continue;
		c->inlen = 0;
		c->w = (struct zt_watch){ .fd = fd, .events = EPOLLIN, .cb = on_conn, .data = c };
		if (zt_loop_add(m->loop, &c->w) < 0) {
			c->w.fd = -1;
			break;
		}
		zt_timer_set(m->loop, &c->timer, now + ZT_METRICS_TIMEOUT);
		return;
	}
	m->refused++;
	close(fd);
}

int zt_metrics_open(struct zt_metrics **ret, struct zt_loop *loop, const struct zt_addr *at,
		    zt_metrics_render render, void *arg)
{
	struct zt_metrics *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->render = render;
	m->arg = arg;
	for (size_t i = 0; i < ZT_METRICS_CONNS; i++) {
		m->c[i] = (struct mconn){ .m = m, .w = { .fd = -1 } };
		zt_timer_init(&m->c[i].timer, on_timeout, &m->c[i]);
	}
	rc = zt_listener_open(&m->l, loop, at, 16, on_accept, NULL, m);
	if (rc < 0) {
		free(m);
		return rc;
	}
	*ret = m;
	return 0;
}

const struct zt_addr *zt_metrics_local(const struct zt_metrics *m)
{
	return &m->l.local;
}

void zt_metrics_close(struct zt_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < ZT_METRICS_CONNS; i++)
		conn_close(&m->c[i]);
	zt_listener_close(&m->l);
	free(m);
}
