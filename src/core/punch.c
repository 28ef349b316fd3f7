#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/punch.h"
#include "core/wire.h"

#define SENT_RING 64
#define MIN_LINGER (300 * ZT_MS)

static const uint8_t magic[4] = { 0x0A, 'Z', 'P', '1' };

struct sent {
	uint32_t seq;
	uint64_t at;
	bool used;
};

struct pending {
	struct zt_addr to;
	struct zt_punch_msg m;
};

struct zt_punch {
	struct zt_punch_cfg cfg;
	struct zt_punch_result res;
	uint64_t start, timeout_at;
	uint64_t id, nonce;
	bool have_peer_id, confirmed, got_ping;
	uint64_t peer_id;
	struct zt_addr addrs[ZT_PUNCH_MAX_ADDRS];
	/* punching: rounds over addrs[], one datagram per poll */
	bool punching, round_open;
	unsigned round_idx;       /* next address of the open round */
	uint64_t next_round, last_round;
	uint32_t punch_seq;
	struct sent punch_sent[SENT_RING];
	/* pinging (initiator, once confirmed) */
	bool pinging;
	uint64_t next_ping;
	uint32_t ping_seq;
	struct sent ping_sent[SENT_RING];
	uint64_t last_ping_rx;
	/* answers and triggered punches */
	struct pending q[ZT_PUNCH_QUEUE];
	unsigned q_head, q_len;
};

static bool addr_set(const struct zt_addr *a)
{
	return a->family == AF_INET || a->family == AF_INET6;
}

int zt_punch_encode(const struct zt_punch_msg *m, uint8_t *buf, size_t cap)
{
	struct zt_wr w = zt_wr_init(buf, cap);
	uint8_t fam = 0;

	if (m->type < ZT_PUNCH_PUNCH || m->type > ZT_PUNCH_DONE)
		return -EINVAL;
	if (m->observed.family == AF_INET)
		fam = 4;
	else if (m->observed.family == AF_INET6)
		fam = 6;
	else if (m->observed.family != 0)
		return -EINVAL;
	zt_wr_bytes(&w, magic, sizeof(magic));
	zt_wr_u8(&w, m->type);
	zt_wr_zeros(&w, 3);
	zt_wr_u64(&w, m->sender);
	zt_wr_u64(&w, m->echo);
	zt_wr_u32(&w, m->seq);
	zt_wr_u64(&w, m->nonce);
	zt_wr_u8(&w, fam);
	zt_wr_u8(&w, 0);
	zt_wr_u16(&w, fam ? m->observed.port : 0);
	if (fam)
		zt_wr_bytes(&w, m->observed.ip, 16);
	else
		zt_wr_zeros(&w, 16);
	return zt_wr_finish(&w);
}

/* zt_rd_u64 trips gcc's maybe-uninitialized under -fsanitize (SAN=1): two u32s. */
static int rd_u64(struct zt_rd *r, uint64_t *ret)
{
	uint32_t hi = 0, lo = 0;
	int rc = zt_rd_u32(r, &hi);

	if (rc == 0)
		rc = zt_rd_u32(r, &lo);
	*ret = (uint64_t)hi << 32 | lo;
	return rc;
}

int zt_punch_decode(struct zt_punch_msg *ret, const uint8_t *buf, size_t len)
{
	struct zt_rd r = zt_rd_init(buf, len);
	struct zt_punch_msg m = { 0 };
	uint8_t fam, ip[16];
	uint16_t port;

	if (len < ZT_PUNCH_MSG_LEN)
		return ZT_ETRUNC;
	if (len > ZT_PUNCH_MSG_LEN)
		return ZT_ETOOBIG;
	if (memcmp(buf, magic, sizeof(magic)) != 0)
		return ZT_EMALFORMED;
	/* the length was checked above: no read below fails */
	if (zt_rd_skip(&r, sizeof(magic)) < 0 || zt_rd_u8(&r, &m.type) < 0 ||
	    zt_rd_skip(&r, 3) < 0 || rd_u64(&r, &m.sender) < 0 || rd_u64(&r, &m.echo) < 0 ||
	    zt_rd_u32(&r, &m.seq) < 0 || rd_u64(&r, &m.nonce) < 0 || zt_rd_u8(&r, &fam) < 0 ||
	    zt_rd_skip(&r, 1) < 0 || zt_rd_u16(&r, &port) < 0 || zt_rd_copy(&r, ip, sizeof(ip)) < 0)
		return ZT_ETRUNC;
	if (m.type < ZT_PUNCH_PUNCH || m.type > ZT_PUNCH_DONE)
		return ZT_EMALFORMED;
	if (fam == 4) {
		static const uint8_t zero[12];
		if (memcmp(ip + 4, zero, sizeof(zero)) != 0)
			return ZT_EMALFORMED;
		zt_addr_set_v4(&m.observed, ip, port);
	} else if (fam == 6) {
		zt_addr_set_v6(&m.observed, ip, port);
		/* an IPv4 address has one encoding (family 4): an IPv4-mapped one is refused */
		if (m.observed.family != AF_INET6)
			return ZT_EMALFORMED;
	} else if (fam != 0) {
		return ZT_EMALFORMED;
	}
	*ret = m;
	return 0;
}

int zt_punch_new(const struct zt_punch_cfg *cfg, uint64_t now, struct zt_punch **ret)
{
	struct zt_punch *p;

	if (!addr_set(&cfg->peer) || cfg->peer.port == 0 || !cfg->rng.fill)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	if (!p->cfg.interval)
		p->cfg.interval = ZT_PUNCH_INTERVAL;
	if (!p->cfg.attempts)
		p->cfg.attempts = ZT_PUNCH_ATTEMPTS;
	if (!p->cfg.timeout)
		p->cfg.timeout = ZT_PUNCH_TIMEOUT;
	if (!p->cfg.linger) {
		p->cfg.linger = 3 * p->cfg.interval;
		if (p->cfg.linger < MIN_LINGER)
			p->cfg.linger = MIN_LINGER;
	}
	p->start = now;
	p->timeout_at = now + p->cfg.timeout;
	/* run ids and nonces are never zero: zero means "none" on the wire */
	do
		p->id = zt_rng_u64(&cfg->rng);
	while (!p->id);
	do
		p->nonce = zt_rng_u64(&cfg->rng);
	while (!p->nonce);
	p->addrs[0] = cfg->peer;
	p->res.n_addrs = 1;
	p->punching = true;
	p->next_round = now;
	*ret = p;
	return 0;
}

void zt_punch_free(struct zt_punch *p)
{
	free(p);
}

static void sent_put(struct sent *ring, uint32_t seq, uint64_t at)
{
	ring[seq % SENT_RING] = (struct sent){ .seq = seq, .at = at, .used = true };
}

static bool sent_get(const struct sent *ring, uint32_t seq, uint64_t *at)
{
	const struct sent *s = &ring[seq % SENT_RING];

	if (!s->used || s->seq != seq)
		return false;
	*at = s->at;
	return true;
}

static int enqueue(struct zt_punch *p, const struct zt_addr *to, const struct zt_punch_msg *m)
{
	if (p->q_len == ZT_PUNCH_QUEUE)
		return -ENOBUFS;
	p->q[(p->q_head + p->q_len) % ZT_PUNCH_QUEUE] = (struct pending){ .to = *to, .m = *m };
	p->q_len++;
	return 0;
}

static void finish(struct zt_punch *p, uint64_t now, enum zt_punch_state st)
{
	p->res.state = st;
	p->res.t_done = now - p->start;
	p->punching = false;
	p->round_open = false;
	p->pinging = false;
	if (st != ZT_PUNCH_FAILED)
		return;
	if (!p->res.t_first_rx)
		p->res.fail = ZT_PUNCH_FAIL_NO_ANSWER;
	else if (!p->confirmed)
		p->res.fail = ZT_PUNCH_FAIL_ONE_WAY;
	else if (p->cfg.initiator)
		p->res.fail = ZT_PUNCH_FAIL_NO_PONG;
	else
		p->res.fail = ZT_PUNCH_FAIL_NO_PING;
}

static void confirm(struct zt_punch *p, uint64_t now, const struct zt_addr *from)
{
	if (p->confirmed)
		return;
	p->confirmed = true;
	p->res.reached = *from;
	p->res.peer_reflexive = !zt_addr_equal(from, &p->cfg.peer);
	p->res.t_confirmed = now - p->start;
	if (!p->res.t_confirmed)
		p->res.t_confirmed = 1;
	p->punching = false;
	p->round_open = false;
	if (p->cfg.initiator) {
		p->pinging = true;
		p->next_ping = now;
	}
}

/* Adds a peer address; true when it was new (and there was room). */
static bool learn(struct zt_punch *p, const struct zt_addr *from)
{
	for (unsigned i = 0; i < p->res.n_addrs; i++)
		if (zt_addr_equal(&p->addrs[i], from))
			return false;
	if (p->res.n_addrs == ZT_PUNCH_MAX_ADDRS)
		return false;
	p->addrs[p->res.n_addrs++] = *from;
	return true;
}

static int ignore(struct zt_punch *p, int rc)
{
	p->res.ignored++;
	return rc;
}

/* A PUNCH (answered with an ACK) or a PING (with a PONG). Returns 0 or -ENOBUFS. */
static int answer(struct zt_punch *p, uint64_t now, const struct zt_addr *from,
		  const struct zt_punch_msg *m)
{
	struct zt_punch_msg a = {
		.type = m->type == ZT_PUNCH_PUNCH ? ZT_PUNCH_ACK : ZT_PUNCH_PONG,
		.sender = p->id,
		.echo = m->sender,
		.seq = m->seq,
		.nonce = m->nonce,
		.observed = *from,
	};

	if (enqueue(p, from, &a) < 0)
		return -ENOBUFS;
	if (m->type == ZT_PUNCH_PING && !p->cfg.initiator) {
		p->got_ping = true;
		p->last_ping_rx = now;
		/* the DONE answering this PONG gives the responder its round trip */
		sent_put(p->ping_sent, m->seq, now);
		if (!addr_set(&p->res.observed))
			p->res.observed = m->observed;
	}
	/* RFC 8445 s7.3.1.3: an unknown source is a peer-reflexive address; punch it
	 * at once (a triggered check, s7.3.1.4) instead of waiting for the round */
	if (learn(p, from) && p->punching && m->type == ZT_PUNCH_PUNCH) {
		struct zt_punch_msg t = { .type = ZT_PUNCH_PUNCH };
		enqueue(p, from, &t);
	}
	return 0;
}

int zt_punch_recv(struct zt_punch *p, uint64_t now, const struct zt_addr *from,
		  const uint8_t *buf, size_t len)
{
	struct zt_punch_msg m;
	uint64_t at;
	int rc;

	if (!addr_set(from))
		return -EINVAL;
	rc = zt_punch_decode(&m, buf, len);
	if (rc < 0)
		return ignore(p, rc);
	if (m.sender == 0 || m.sender == p->id)
		return ignore(p, ZT_ESTATE);
	/* answers must echo our run id; requests fix the peer's */
	if (m.type == ZT_PUNCH_ACK || m.type == ZT_PUNCH_PONG || m.type == ZT_PUNCH_DONE) {
		if (m.echo != p->id)
			return ignore(p, ZT_ESTATE);
	}
	if (p->have_peer_id && m.sender != p->peer_id)
		return ignore(p, ZT_ESTATE);
	if (p->res.state != ZT_PUNCH_RUNNING &&
	    (m.type != ZT_PUNCH_PUNCH && m.type != ZT_PUNCH_PING))
		return ignore(p, ZT_ESTATE);

	switch (m.type) {
	case ZT_PUNCH_PUNCH:
	case ZT_PUNCH_PING:
		if (answer(p, now, from, &m) < 0)
			return ignore(p, -ENOBUFS);
		break;
	case ZT_PUNCH_ACK:
		if (!addr_set(&p->res.observed))
			p->res.observed = m.observed;
		if (!p->confirmed && sent_get(p->punch_sent, m.seq, &at))
			p->res.punch_rtt = now - at;
		learn(p, from);
		confirm(p, now, from);
		break;
	case ZT_PUNCH_PONG:
		if (!p->cfg.initiator || m.nonce != p->nonce || !sent_get(p->ping_sent, m.seq, &at))
			return ignore(p, ZT_ESTATE);
		p->res.observed = m.observed;
		p->res.rtt = now - at;
		if (!p->res.rtt)
			p->res.rtt = 1;
		confirm(p, now, from);
		if (p->res.state == ZT_PUNCH_RUNNING) {
			struct zt_punch_msg d = { .type = ZT_PUNCH_DONE, .sender = p->id,
						  .echo = m.sender, .seq = m.seq, .nonce = p->nonce,
						  .observed = *from };
			for (unsigned i = 0; i < ZT_PUNCH_DONE_COPIES; i++)
				enqueue(p, from, &d);
			finish(p, now, ZT_PUNCH_OK);
		}
		break;
	case ZT_PUNCH_DONE:
		if (p->cfg.initiator)
			return ignore(p, ZT_ESTATE); /* two initiators: each ends on its PONG */
		/* DONE follows our PONG: our packets reach the peer where it came from */
		if (sent_get(p->ping_sent, m.seq, &at))
			p->res.rtt = now - at ? now - at : 1;
		if (!addr_set(&p->res.observed))
			p->res.observed = m.observed;
		confirm(p, now, from);
		finish(p, now, ZT_PUNCH_OK);
		break;
	}
	if (!p->have_peer_id) {
		p->have_peer_id = true;
		p->peer_id = m.sender;
	}
	p->res.received++;
	if (!p->res.t_first_rx) {
		p->res.t_first_rx = now - p->start;
		if (!p->res.t_first_rx)
			p->res.t_first_rx = 1;
	}
	return 0;
}

static int emit(const struct zt_punch_msg *m, const struct zt_addr *to,
		uint8_t *buf, size_t cap, struct zt_addr *ret_to)
{
	int n = zt_punch_encode(m, buf, cap);

	if (n < 0)
		return n;
	*ret_to = *to;
	return n;
}

static int emit_punch(struct zt_punch *p, uint64_t now, const struct zt_addr *to, uint8_t *buf,
		      size_t cap, struct zt_addr *ret_to)
{
	struct zt_punch_msg m = { .type = ZT_PUNCH_PUNCH, .sender = p->id, .seq = ++p->punch_seq };
	int n = emit(&m, to, buf, cap, ret_to);

	if (n < 0) {
		p->punch_seq--;
		return n;
	}
	sent_put(p->punch_sent, m.seq, now);
	p->res.punches_sent++;
	return n;
}

int zt_punch_poll_send(struct zt_punch *p, uint64_t now, uint8_t *buf, size_t cap,
		       struct zt_addr *ret_to)
{
	int n;

	if (cap < ZT_PUNCH_MSG_LEN)
		return -ENOBUFS;
	while (p->q_len) {
		struct pending *q = &p->q[p->q_head];

		p->q_head = (p->q_head + 1) % ZT_PUNCH_QUEUE;
		p->q_len--;
		if (q->m.type == ZT_PUNCH_PUNCH) {
			/* a triggered punch, worth sending only while still punching */
			if (!p->punching)
				continue;
			return emit_punch(p, now, &q->to, buf, cap, ret_to);
		}
		return emit(&q->m, &q->to, buf, cap, ret_to);
	}
	if (p->res.state != ZT_PUNCH_RUNNING)
		return 0;
	if (p->punching) {
		if (!p->round_open && now >= p->next_round && p->res.rounds < p->cfg.attempts) {
			p->res.rounds++;
			p->round_open = true;
			p->round_idx = 0;
			p->last_round = now;
			p->next_round = now + p->cfg.interval;
		}
		if (p->round_open) {
			/* addresses learned during the round are part of it */
			n = emit_punch(p, now, &p->addrs[p->round_idx], buf, cap, ret_to);
			if (n > 0 && ++p->round_idx >= p->res.n_addrs)
				p->round_open = false;
			return n;
		}
	}
	if (p->pinging && now >= p->next_ping) {
		struct zt_punch_msg m = { .type = ZT_PUNCH_PING, .sender = p->id,
					  .seq = ++p->ping_seq, .nonce = p->nonce,
					  .observed = p->res.reached };

		n = emit(&m, &p->res.reached, buf, cap, ret_to);
		if (n < 0)
			return n;
		sent_put(p->ping_sent, m.seq, now);
		p->res.pings_sent++;
		p->next_ping = now + p->cfg.interval;
		return n;
	}
	return 0;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool punches_exhausted(const struct zt_punch *p)
{
	return p->res.rounds >= p->cfg.attempts && !p->round_open;
}

uint64_t zt_punch_next_deadline(const struct zt_punch *p)
{
	uint64_t d = ZT_TIME_NEVER;

	if (p->q_len)
		return 0;
	if (p->res.state != ZT_PUNCH_RUNNING)
		return ZT_TIME_NEVER;
	d = p->timeout_at;
	if (p->punching) {
		if (p->round_open)
			return 0;
		if (p->res.rounds < p->cfg.attempts)
			d = min64(d, p->next_round);
	}
	if (!p->confirmed && punches_exhausted(p))
		d = min64(d, p->last_round + ZT_PUNCH_GRACE);
	if (p->pinging)
		d = min64(d, p->next_ping);
	if (!p->cfg.initiator && p->confirmed && p->got_ping)
		d = min64(d, p->last_ping_rx + p->cfg.linger);
	return d;
}

void zt_punch_on_timeout(struct zt_punch *p, uint64_t now)
{
	if (p->res.state != ZT_PUNCH_RUNNING)
		return;
	/* a confirmed responder that answered PINGs has done its part, also when the
	 * PINGs keep coming until its timeout (our PONGs lost) */
	if (!p->cfg.initiator && p->confirmed && p->got_ping &&
	    (now >= p->last_ping_rx + p->cfg.linger || now >= p->timeout_at)) {
		finish(p, now, ZT_PUNCH_OK);
		return;
	}
	if (now >= p->timeout_at ||
	    (!p->confirmed && punches_exhausted(p) && now >= p->last_round + ZT_PUNCH_GRACE))
		finish(p, now, ZT_PUNCH_FAILED);
}

const struct zt_punch_result *zt_punch_result(const struct zt_punch *p)
{
	return &p->res;
}

bool zt_punch_finished(const struct zt_punch *p)
{
	return p->res.state != ZT_PUNCH_RUNNING && p->q_len == 0;
}

const char *zt_punch_fail_name(enum zt_punch_fail f)
{
	switch (f) {
	case ZT_PUNCH_FAIL_NONE: return "none";
	case ZT_PUNCH_FAIL_NO_ANSWER: return "no-answer";
	case ZT_PUNCH_FAIL_ONE_WAY: return "one-way";
	case ZT_PUNCH_FAIL_NO_PONG: return "no-pong";
	case ZT_PUNCH_FAIL_NO_PING: return "no-ping";
	}
	return "unknown";
}

const char *zt_punch_state_name(enum zt_punch_state s)
{
	switch (s) {
	case ZT_PUNCH_RUNNING: return "running";
	case ZT_PUNCH_OK: return "ok";
	case ZT_PUNCH_FAILED: return "failed";
	}
	return "unknown";
}
