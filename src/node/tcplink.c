/* TCP direct links (tcplink.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/units.h"
#include "core/wire.h"
#include "node/tcplink.h"

/* The longest record: a PKT of ZT_TCPLINK_PKT_MAX bytes (the input buffer's size). */
#define REC_MAX (ZT_TCPLINK_PKT_HDR + ZT_TCPLINK_PKT_MAX)
/* The output's first allocation. */
#define OUT_MIN 2048

struct link {
	uint32_t id;
	unsigned slot;
	enum zt_tcplink_state state;
	bool connect_queued; /* its CONNECT waits in the request queue */
	bool busy;           /* recv is walking its input */
	bool gone;           /* ended while busy: recv frees it */
	unsigned nq;         /* its requests in the queue */
	struct zt_addr local, remote;
	unsigned attempts;
	uint64_t first;      /* the first attempt's start */
	uint64_t at;         /* WAITING: the next attempt; CONNECTING: this one's start */
	uint64_t up_since, last_in, last_out, last_pkt;
	uint64_t ping_at;    /* the PING in flight was queued then; 0: none */
	uint64_t rtt;
	uint64_t pkts_in, pkts_out, bytes_in, bytes_out, dropped_out;
	uint8_t *in;         /* one partial record (REC_MAX bytes when allocated) */
	size_t in_len;
	uint8_t *out;        /* bytes to write: [out_off..out_len) */
	size_t out_off, out_len, out_cap;
};

struct req {
	uint32_t id;
	enum zt_tcplink_op op;
};

struct zt_tcplinks {
	struct zt_tcplink_config cfg;
	struct link **slots; /* max_links */
	unsigned live;
	uint32_t next_id;
	uint64_t now;        /* the latest now given (send() takes none) */
	/* Requests in order. Each live link has at most two in it (a CLOSE of its last
	 * attempt and a CONNECT, or two CLOSEs once it ended), so 2 x max_links entries
	 * hold them all while want() counts the forgotten links' ones (orphans). */
	struct req *q;
	unsigned q_len, q_cap, orphans;
};

static uint64_t or_default(uint64_t v, uint64_t def)
{
	return v ? v : def;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int zt_tcplinks_new(struct zt_tcplinks **ret, const struct zt_tcplink_config *cfg)
{
	struct zt_tcplinks *t;

	if (!cfg->cb || !cfg->cb->up || !cfg->cb->down || !cfg->cb->packet)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->cfg.attempt_timeout = or_default(cfg->attempt_timeout, 1500 * ZT_MS);
	t->cfg.retry = or_default(cfg->retry, 200 * ZT_MS);
	t->cfg.give_up = or_default(cfg->give_up, 6 * ZT_SEC);
	t->cfg.keepalive = or_default(cfg->keepalive, 10 * ZT_SEC);
	t->cfg.dead_after = or_default(cfg->dead_after, 30 * ZT_SEC);
	t->cfg.idle_close = or_default(cfg->idle_close, 120 * ZT_SEC);
	t->cfg.out_max = cfg->out_max ? cfg->out_max : 256 * 1024;
	t->cfg.max_links = cfg->max_links ? cfg->max_links : 64;
	t->next_id = 1;
	t->q_cap = 2 * t->cfg.max_links;
	t->slots = calloc(t->cfg.max_links, sizeof(*t->slots));
	if (!t->slots)
		goto out_free_t;
	t->q = calloc(t->q_cap, sizeof(*t->q));
	if (!t->q)
		goto out_free_slots;
	*ret = t;
	return 0;

out_free_slots:
	free(t->slots);
out_free_t:
	free(t);
	return -ENOMEM;
}

static void link_free(struct link *l)
{
	free(l->in);
	free(l->out);
	free(l);
}

void zt_tcplinks_free(struct zt_tcplinks *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->cfg.max_links; i++)
		if (t->slots[i])
			link_free(t->slots[i]);
	free(t->slots);
	free(t->q);
	free(t);
}

static void see(struct zt_tcplinks *t, uint64_t now)
{
	if (now > t->now)
		t->now = now;
}

static struct link *by_id(const struct zt_tcplinks *t, uint32_t id)
{
	for (unsigned i = 0; id && i < t->cfg.max_links; i++)
		if (t->slots[i] && t->slots[i]->id == id)
			return t->slots[i];
	return NULL;
}

static struct link *by_remote(const struct zt_tcplinks *t, const struct zt_addr *remote)
{
	for (unsigned i = 0; i < t->cfg.max_links; i++)
		if (t->slots[i] && zt_addr_equal(&t->slots[i]->remote, remote))
			return t->slots[i];
	return NULL;
}

/* Requests. */

static void q_push(struct zt_tcplinks *t, struct link *l, enum zt_tcplink_op op)
{
	if (t->q_len == t->q_cap)
		return; /* cannot happen: want() keeps room for every link's two */
	t->q[t->q_len++] = (struct req){ .id = l->id, .op = op };
	l->nq++;
	if (op == ZT_TCPLINK_CONNECT)
		l->connect_queued = true;
}

/* A CONNECT not polled yet made no socket: it goes, and no CLOSE is needed for it. */
static void q_cancel_connect(struct zt_tcplinks *t, struct link *l)
{
	for (unsigned i = 0; i < t->q_len; i++) {
		if (t->q[i].id != l->id || t->q[i].op != ZT_TCPLINK_CONNECT)
			continue;
		memmove(&t->q[i], &t->q[i + 1], (t->q_len - i - 1) * sizeof(*t->q));
		t->q_len--;
		l->nq--;
		break;
	}
	l->connect_queued = false;
}

/* The owner's socket for l's attempt or connection goes: a CLOSE, or nothing if the
 * CONNECT was not polled yet. */
static void drop_socket(struct zt_tcplinks *t, struct link *l)
{
	if (l->connect_queued)
		q_cancel_connect(t, l);
	else if (l->state != ZT_TCPLINK_WAITING)
		q_push(t, l, ZT_TCPLINK_CLOSE);
}

/* Ends l: its socket's CLOSE (unless the owner's socket is gone already), forgotten,
 * cb.down. Freed here unless recv is walking its input (then recv frees it). */
static void end_link(struct zt_tcplinks *t, struct link *l, uint64_t now, int err,
		     bool sock_gone)
{
	if (sock_gone)
		l->state = ZT_TCPLINK_WAITING;
	drop_socket(t, l);
	t->slots[l->slot] = NULL;
	t->live--;
	t->orphans += l->nq;
	l->gone = true;
	t->cfg.cb->down(t->cfg.arg, now, l->id, err);
	if (!l->busy)
		link_free(l);
}

static void start_attempt(struct zt_tcplinks *t, struct link *l, uint64_t now)
{
	if (!l->attempts++)
		l->first = now;
	l->state = ZT_TCPLINK_CONNECTING;
	l->at = now;
	q_push(t, l, ZT_TCPLINK_CONNECT);
}

/* An attempt ended without a connection: the next after `retry`, or the link fails. */
static void attempt_over(struct zt_tcplinks *t, struct link *l, uint64_t now, int err,
			 bool sock_gone)
{
	if (!sock_gone)
		drop_socket(t, l);
	l->connect_queued = false;
	l->state = ZT_TCPLINK_WAITING;
	l->at = add_sat(now, t->cfg.retry);
	if (l->at >= add_sat(l->first, t->cfg.give_up))
		end_link(t, l, now, err, true);
}

int zt_tcplinks_want(struct zt_tcplinks *t, uint64_t now, uint64_t at,
		     const struct zt_addr *local, const struct zt_addr *remote)
{
	struct link *l;
	unsigned slot;

	see(t, now);
	if (!local->family || !remote->family || !local->port || !remote->port)
		return -EINVAL;
	l = by_remote(t, remote);
	if (l)
		return (int)l->id;
	if (t->live >= t->cfg.max_links || 2 * (t->live + 1) + t->orphans > t->q_cap ||
	    t->next_id > INT32_MAX)
		return -ENOSPC;
	for (slot = 0; t->slots[slot]; slot++)
		;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	*l = (struct link){ .id = t->next_id++, .slot = slot, .state = ZT_TCPLINK_WAITING,
			    .local = *local, .remote = *remote, .at = at };
	t->slots[slot] = l;
	t->live++;
	if (at <= now)
		start_attempt(t, l, now);
	return (int)l->id;
}

uint32_t zt_tcplinks_find(const struct zt_tcplinks *t, const struct zt_addr *remote)
{
	struct link *l = by_remote(t, remote);

	return l ? l->id : 0;
}

bool zt_tcplinks_up(const struct zt_tcplinks *t, uint32_t id)
{
	struct link *l = by_id(t, id);

	return l && l->state == ZT_TCPLINK_UP;
}

int zt_tcplinks_info(const struct zt_tcplinks *t, uint32_t id, struct zt_tcplink_info *ret)
{
	struct link *l = by_id(t, id);

	if (!l)
		return -ENOENT;
	*ret = (struct zt_tcplink_info){
		.state = l->state,
		.local = l->local,
		.remote = l->remote,
		.attempts = l->attempts,
		.up_since = l->up_since,
		.rtt = l->rtt,
		.pkts_in = l->pkts_in,
		.pkts_out = l->pkts_out,
		.bytes_in = l->bytes_in,
		.bytes_out = l->bytes_out,
		.dropped_out = l->dropped_out,
		.out_queued = l->out_len - l->out_off,
		.in_partial = l->in_len,
	};
	return 0;
}

void zt_tcplinks_close(struct zt_tcplinks *t, uint64_t now, uint32_t id)
{
	struct link *l = by_id(t, id);

	see(t, now);
	if (l)
		end_link(t, l, now, 0, false);
}

size_t zt_tcplinks_count(const struct zt_tcplinks *t)
{
	return t->live;
}

/* Output. */

/* Room for n more bytes at the output's end, or NULL (no memory). */
static uint8_t *out_reserve(struct link *l, size_t n)
{
	size_t queued = l->out_len - l->out_off, cap;
	uint8_t *p;

	if (l->out_cap - l->out_len < n && l->out_off) {
		memmove(l->out, l->out + l->out_off, queued);
		l->out_off = 0;
		l->out_len = queued;
	}
	if (l->out_cap - l->out_len < n) {
		cap = l->out_cap ? 2 * l->out_cap : OUT_MIN;
		if (cap < queued + n)
			cap = queued + n;
		p = realloc(l->out, cap);
		if (!p)
			return NULL;
		l->out = p;
		l->out_cap = cap;
	}
	p = l->out + l->out_len;
	l->out_len += n;
	return p;
}

/* A PING or PONG: past out_max by at most ZT_TCPLINK_CTL_SLACK. Returns true if queued. */
static bool put_ctl(struct zt_tcplinks *t, struct link *l, uint64_t now, uint8_t type)
{
	uint8_t *p;

	if (l->out_len - l->out_off >= t->cfg.out_max + ZT_TCPLINK_CTL_SLACK)
		return false;
	p = out_reserve(l, 1);
	if (!p)
		return false;
	*p = type;
	l->last_out = now;
	return true;
}

int zt_tcplinks_send(struct zt_tcplinks *t, uint32_t id, uint32_t session, const uint8_t *pkt,
		     size_t len)
{
	struct link *l = by_id(t, id);
	struct zt_wr w;
	uint8_t *p;

	if (!l)
		return -ENOENT;
	if (l->state != ZT_TCPLINK_UP)
		return -ENOTCONN;
	if (!session || !len || len > ZT_TCPLINK_PKT_MAX)
		return -EINVAL;
	if (l->out_len - l->out_off + ZT_TCPLINK_PKT_HDR + len > t->cfg.out_max) {
		l->dropped_out++;
		return -ENOBUFS;
	}
	p = out_reserve(l, ZT_TCPLINK_PKT_HDR + len);
	if (!p) {
		l->dropped_out++;
		return -ENOMEM;
	}
	w = zt_wr_init(p, ZT_TCPLINK_PKT_HDR + len);
	zt_wr_u8(&w, ZT_TCPLINK_REC_PKT);
	zt_wr_u32(&w, session);
	zt_wr_u16(&w, (uint16_t)len);
	zt_wr_bytes(&w, pkt, len);
	l->pkts_out++;
	l->bytes_out += len;
	l->last_out = l->last_pkt = t->now;
	return 0;
}

size_t zt_tcplinks_output(struct zt_tcplinks *t, uint32_t id, const uint8_t **ret)
{
	struct link *l = by_id(t, id);

	if (!l || l->out_len == l->out_off)
		return 0;
	*ret = l->out + l->out_off;
	return l->out_len - l->out_off;
}

void zt_tcplinks_sent(struct zt_tcplinks *t, uint64_t now, uint32_t id, size_t n)
{
	struct link *l = by_id(t, id);

	see(t, now);
	if (!l)
		return;
	l->out_off += n < l->out_len - l->out_off ? n : l->out_len - l->out_off;
	if (l->out_off == l->out_len) {
		free(l->out);
		l->out = NULL;
		l->out_off = l->out_len = l->out_cap = 0;
	}
}

/* The owner's side. */

static void link_timer(struct zt_tcplinks *t, struct link *l, uint64_t now)
{
	switch (l->state) {
	case ZT_TCPLINK_WAITING:
		if (now >= l->at)
			start_attempt(t, l, now);
		break;
	case ZT_TCPLINK_CONNECTING:
		if (now >= add_sat(l->at, t->cfg.attempt_timeout))
			attempt_over(t, l, now, -ETIMEDOUT, false);
		break;
	case ZT_TCPLINK_UP:
		if (now >= add_sat(l->last_in, t->cfg.dead_after))
			end_link(t, l, now, -ETIMEDOUT, false);
		else if (now >= add_sat(l->last_pkt, t->cfg.idle_close))
			end_link(t, l, now, 0, false);
		else if (!l->ping_at && now >= add_sat(l->last_out, t->cfg.keepalive) &&
			 put_ctl(t, l, now, ZT_TCPLINK_REC_PING))
			l->ping_at = now;
		break;
	}
}

void zt_tcplinks_on_timeout(struct zt_tcplinks *t, uint64_t now)
{
	see(t, now);
	/* A callback may end or add links: each slot is read afresh. */
	for (unsigned i = 0; i < t->cfg.max_links; i++)
		if (t->slots[i])
			link_timer(t, t->slots[i], now);
}

static uint64_t link_deadline(const struct zt_tcplinks *t, const struct link *l)
{
	uint64_t d;

	switch (l->state) {
	case ZT_TCPLINK_WAITING:
		return l->at;
	case ZT_TCPLINK_CONNECTING:
		return add_sat(l->at, t->cfg.attempt_timeout);
	case ZT_TCPLINK_UP:
		d = add_sat(l->last_in, t->cfg.dead_after);
		if (add_sat(l->last_pkt, t->cfg.idle_close) < d)
			d = add_sat(l->last_pkt, t->cfg.idle_close);
		if (!l->ping_at && add_sat(l->last_out, t->cfg.keepalive) < d)
			d = add_sat(l->last_out, t->cfg.keepalive);
		return d;
	}
	return ZT_TIME_NEVER;
}

uint64_t zt_tcplinks_next_deadline(const struct zt_tcplinks *t)
{
	uint64_t d = ZT_TIME_NEVER, ld;

	for (unsigned i = 0; i < t->cfg.max_links; i++) {
		if (!t->slots[i])
			continue;
		ld = link_deadline(t, t->slots[i]);
		if (ld < d)
			d = ld;
	}
	return d;
}

int zt_tcplinks_poll_req(struct zt_tcplinks *t, uint64_t now, struct zt_tcplink_req *ret)
{
	struct req r;
	struct link *l;

	zt_tcplinks_on_timeout(t, now);
	if (!t->q_len)
		return 0;
	r = t->q[0];
	memmove(&t->q[0], &t->q[1], (t->q_len - 1) * sizeof(*t->q));
	t->q_len--;
	*ret = (struct zt_tcplink_req){ .op = r.op, .id = r.id };
	l = by_id(t, r.id);
	if (!l) {
		t->orphans--;
		return 1;
	}
	l->nq--;
	if (r.op == ZT_TCPLINK_CONNECT)
		l->connect_queued = false;
	ret->local = l->local;
	ret->remote = l->remote;
	return 1;
}

void zt_tcplinks_connected(struct zt_tcplinks *t, uint64_t now, uint32_t id)
{
	struct link *l = by_id(t, id);

	see(t, now);
	if (!l || l->state != ZT_TCPLINK_CONNECTING || l->connect_queued)
		return;
	l->state = ZT_TCPLINK_UP;
	l->up_since = now ? now : 1;
	l->last_in = l->last_out = l->last_pkt = now;
	l->ping_at = 0;
	t->cfg.cb->up(t->cfg.arg, now, id);
}

/* The owner's socket ended (it is gone): an UP link ends, an attempt is over. */
static void sock_ended(struct zt_tcplinks *t, uint64_t now, uint32_t id, int err)
{
	struct link *l = by_id(t, id);

	see(t, now);
	if (!l)
		return;
	err = err > 0 ? -err : err;
	if (l->state == ZT_TCPLINK_UP)
		end_link(t, l, now, err, true);
	else if (l->state == ZT_TCPLINK_CONNECTING && !l->connect_queued)
		attempt_over(t, l, now, err ? err : -ECONNABORTED, true);
}

void zt_tcplinks_failed(struct zt_tcplinks *t, uint64_t now, uint32_t id, int err)
{
	sock_ended(t, now, id, err);
}

void zt_tcplinks_closed(struct zt_tcplinks *t, uint64_t now, uint32_t id, int err)
{
	sock_ended(t, now, id, err);
}

/* Input. */

/* The size of the record p[0..n) begins (n >= 1), as far as its header tells: its
 * whole size once the header is in, the header's before; or -EPROTO. */
static int rec_need(const uint8_t *p, size_t n)
{
	struct zt_rd r = zt_rd_init(p, n);
	uint8_t type = 0;
	uint32_t session = 0;
	uint16_t len = 0;

	zt_rd_u8(&r, &type);
	if (type == ZT_TCPLINK_REC_PING || type == ZT_TCPLINK_REC_PONG)
		return 1;
	if (type != ZT_TCPLINK_REC_PKT)
		return -EPROTO;
	if (zt_rd_u32(&r, &session) < 0)
		return ZT_TCPLINK_PKT_HDR;
	if (!session)
		return -EPROTO;
	if (zt_rd_u16(&r, &len) < 0)
		return ZT_TCPLINK_PKT_HDR;
	if (!len || len > ZT_TCPLINK_PKT_MAX)
		return -EPROTO;
	return ZT_TCPLINK_PKT_HDR + len;
}

/* One whole record (rec_need checked it). */
static void deliver(struct zt_tcplinks *t, struct link *l, uint64_t now, const uint8_t *p,
		    size_t n)
{
	struct zt_rd r = zt_rd_init(p, n);
	uint8_t type = 0;
	uint32_t session = 0;
	uint16_t len = 0;

	zt_rd_u8(&r, &type);
	if (type == ZT_TCPLINK_REC_PING) {
		put_ctl(t, l, now, ZT_TCPLINK_REC_PONG);
		return;
	}
	if (type == ZT_TCPLINK_REC_PONG) {
		if (l->ping_at)
			l->rtt = now > l->ping_at ? now - l->ping_at : 1;
		l->ping_at = 0;
		return;
	}
	zt_rd_u32(&r, &session);
	zt_rd_u16(&r, &len);
	l->pkts_in++;
	l->bytes_in += len;
	l->last_pkt = now;
	t->cfg.cb->packet(t->cfg.arg, now, l->id, session, p + ZT_TCPLINK_PKT_HDR, len);
}

/* Completes the partial record from data[*off..len). Returns 1 when it was delivered,
 * 0 when it still waits for more, or -EPROTO. */
static int fill_partial(struct zt_tcplinks *t, struct link *l, uint64_t now,
			const uint8_t *data, size_t len, size_t *off)
{
	int need;
	size_t n;

	for (;;) {
		need = rec_need(l->in, l->in_len);
		if (need < 0)
			return need;
		if ((size_t)need <= l->in_len)
			break;
		n = (size_t)need - l->in_len;
		if (n > len - *off)
			n = len - *off;
		if (!n)
			return 0;
		memcpy(l->in + l->in_len, data + *off, n);
		l->in_len += n;
		*off += n;
	}
	deliver(t, l, now, l->in, l->in_len);
	if (l->gone)
		return 0;
	free(l->in);
	l->in = NULL;
	l->in_len = 0;
	return 1;
}

static int take(struct zt_tcplinks *t, struct link *l, uint64_t now, const uint8_t *data,
		size_t len)
{
	size_t off = 0;
	int need, rc;

	if (l->in_len) {
		rc = fill_partial(t, l, now, data, len, &off);
		if (rc <= 0)
			return rc;
	}
	while (off < len) {
		need = rec_need(data + off, len - off);
		if (need < 0)
			return need;
		if ((size_t)need > len - off) {
			l->in = malloc(REC_MAX);
			if (!l->in)
				return -ENOMEM;
			memcpy(l->in, data + off, len - off);
			l->in_len = len - off;
			return 0;
		}
		deliver(t, l, now, data + off, (size_t)need);
		if (l->gone)
			return 0;
		off += (size_t)need;
	}
	return 0;
}

int zt_tcplinks_recv(struct zt_tcplinks *t, uint64_t now, uint32_t id, const uint8_t *data,
		     size_t len)
{
	struct link *l = by_id(t, id);
	int rc;

	see(t, now);
	if (!l)
		return -ENOENT;
	if (l->busy)
		return -EBUSY;
	if (l->state != ZT_TCPLINK_UP)
		return -ENOTCONN;
	if (!len)
		return 0;
	l->last_in = now;
	l->busy = true;
	rc = take(t, l, now, data, len);
	l->busy = false;
	if (l->gone) {
		link_free(l);
		return 0;
	}
	if (rc < 0)
		end_link(t, l, now, rc, false);
	return rc;
}
