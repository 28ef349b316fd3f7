#include <errno.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/cand.h"
#include "core/ctrl.h"
#include "core/units.h"
#include "draw.h"
#include "peer.h"

#define DEFAULT_DATA_LEN 200
#define DEFAULT_KEEPALIVE (10 * ZT_SEC)
#define LOST_AFTER ZT_SEC    /* an unacknowledged DATA stops counting as in flight */

const char *zt_sim_path_name(enum zt_sim_path p)
{
	switch (p) {
	case ZT_SIM_PATH_NONE: return "none";
	case ZT_SIM_PATH_RELAY: return "relay";
	case ZT_SIM_PATH_DIRECT: return "direct";
	}
	return "?";
}

__attribute__((format(printf, 4, 5)))
static void plog(struct zt_sim_peer *p, uint64_t now, int level, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	if (!p->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	p->cfg.log(p->cfg.log_ctx, now, level, p->cfg.name, text);
}

static void put64(uint8_t *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void send_ctrl(struct zt_sim_peer *p, const struct zt_ctrl_msg *m)
{
	uint8_t buf[ZT_SIM_CHAN_MSG_MAX];
	int n = zt_ctrl_encode(m, buf, sizeof(buf));

	if (n < 0 || zt_sim_chan_send(&p->chan, buf, (size_t)n) < 0) {
		if (!p->err)
			p->err = n < 0 ? n : -ENOBUFS;
	}
}

static void enqueue(struct zt_sim_peer *p, const struct zt_addr *local,
		    const struct zt_addr *remote, const uint8_t *prefix, size_t plen,
		    const uint8_t *buf, size_t len)
{
	unsigned i;

	if (p->out_n == ZT_SIM_PEER_OUTQ || plen + len > sizeof(p->outq[0].buf))
		return; /* a full socket buffer drops, as sendmsg would with EAGAIN */
	i = (p->out_head + p->out_n++) % ZT_SIM_PEER_OUTQ;
	p->outq[i].local = *local;
	p->outq[i].remote = *remote;
	p->outq[i].len = (uint16_t)(plen + len);
	if (plen)
		memcpy(p->outq[i].buf, prefix, plen);
	memcpy(p->outq[i].buf + plen, buf, len);
}

static void set_path(struct zt_sim_peer *p, uint64_t now, enum zt_sim_path path,
		     const char *reason)
{
	char l[ZT_ADDR_STRLEN], r[ZT_ADDR_STRLEN];

	if (path == p->path)
		return;
	if (p->path != ZT_SIM_PATH_NONE) {
		if (p->st.switches < sizeof(p->st.switch_times) / sizeof(p->st.switch_times[0]))
			p->st.switch_times[p->st.switches] = now;
		p->st.switches++;
	}
	if (path == ZT_SIM_PATH_DIRECT) {
		if (!p->st.first_direct_at)
			p->st.first_direct_at = now;
		plog(p, now, 0, "path direct %s -> %s (%s)", zt_addr_str(&p->pair.local, l),
		     zt_addr_str(&p->pair.remote, r), reason);
	} else {
		plog(p, now, 0, "path %s (%s)", zt_sim_path_name(path), reason);
	}
	p->path = path;
}

static uint64_t inflight_bytes(struct zt_sim_peer *p, uint64_t now)
{
	uint64_t b = 0;

	for (int i = 0; i < ZT_SIM_PEER_INFLIGHT; i++) {
		struct zt_sim_inflight *f = &p->inflight[i];
		if (!f->live)
			continue;
		if (now - f->sent_at >= LOST_AFTER)
			f->live = false;
		else
			b += f->len;
	}
	return b;
}

static void relay_path(const struct zt_sim_peer *p, struct zt_quic_path *ret)
{
	zt_quic_relay_addr(&ret->local, p->cfg.relay.family, 1);
	ret->remote = p->cfg.relay;
}

/* The direct path: node/direct.h, the programs' own object, over the stand-in data
 * path (which has no probe timeouts: the stall rule goes by time). */
static void direct_sync(struct zt_sim_peer *p, uint64_t now)
{
	struct zt_direct_conn c = {
		.exists = p->in_session,
		.up = p->in_session,
		.srtt = p->srtt,
		.bytes_in_flight = inflight_bytes(p, now),
		.pto_count = ZT_PATHMGR_PTOS_UNKNOWN,
	};

	if (p->path == ZT_SIM_PATH_DIRECT)
		c.path = p->pair;
	else
		relay_path(p, &c.path);
	p->now = now;
	zt_direct_conn_state(p->d, &c);
}

/* Carries out what the direct path asks for: the moves (the stand-in connection
 * moves at once) and the control messages. */
static void direct_flush(struct zt_sim_peer *p, uint64_t now)
{
	struct zt_direct_move mv;
	struct zt_ctrl_msg m;
	struct zt_direct_info info;

	while (zt_direct_poll_move(p->d, now, &mv)) {
		if (mv.kind == ZT_PATH_KIND_DIRECT)
			p->pair = mv.to;
		else
			relay_path(p, &mv.to);
		set_path(p, now, mv.kind == ZT_PATH_KIND_DIRECT ? ZT_SIM_PATH_DIRECT : ZT_SIM_PATH_RELAY,
			 mv.reason ? mv.reason : "");
		direct_sync(p, now);
		zt_direct_moved(p->d, now, 0, &mv.to);
	}
	while (zt_direct_poll_ctrl(p->d, &m)) {
		if (m.type == ZT_CTRL_PATH_REPORT)
			continue; /* the stand-in Intermediate keeps no path reports */
		send_ctrl(p, &m);
	}
	zt_direct_info(p->d, &info);
	p->st.generations = info.generation;
}

/* A timer tick of the session: the direct path's timers and decisions. */
static void direct_tick(struct zt_sim_peer *p, uint64_t now)
{
	direct_sync(p, now);
	zt_direct_on_timeout(p->d, now);
	direct_flush(p, now);
}

/* The node's log lines (event and key=value pairs) on the simulator's log. */
static void node_log(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	struct zt_sim_peer *p = arg;

	plog(p, p->now, level <= ZT_NODE_INFO ? 1 : 2, "%s %s", event, kv);
}

static int direct_new(struct zt_sim_peer *p, uint64_t now)
{
	struct zt_direct_config cfg = {
		.agent = p->cfg.agent,
		.session_id = (uint32_t)p->session_id,
		.service = "svc",
		.rng = &p->rng,
		.path = &p->cfg.path,
		.max_remote = 0,
		.budget = &p->budget,
		.no_predict = p->cfg.predict_off,
		.probe_count = p->cfg.probe_count,
		.probe_rate = p->cfg.probe_rate,
		.addrs = &p->addrs,
		.log = &p->nlog,
	};
	int rc = p->d ? 0 : zt_direct_new(&p->d, &cfg, now);

	if (rc < 0 && !p->err)
		p->err = rc;
	return rc;
}

static void on_candidates(struct zt_sim_peer *p, uint64_t now, struct zt_ctrl_candidates *c)
{
	if (p->cfg.shuffle_cands) {
		for (unsigned i = c->n_cands; i > 1; i--) {
			unsigned j = (unsigned)(zt_prng_next(&p->prng) % i);
			struct zt_cand t = c->cands[i - 1];
			c->cands[i - 1] = c->cands[j];
			c->cands[j] = t;
		}
	}
	direct_sync(p, now);
	zt_direct_candidates(p->d, now, c);
	direct_flush(p, now);
}

static void on_start(struct zt_sim_peer *p, uint64_t now, const struct zt_ctrl_start_checks *m)
{
	uint64_t at = now + m->start_offset + p->cfg.start_skew;

	if (zt_direct_start(p->d, now, at, m->generation) == 0 && !p->st.ice_start_at)
		p->st.ice_start_at = at;
}

static void on_ctrl(struct zt_sim_peer *p, uint64_t now, const uint8_t *buf, size_t len)
{
	struct zt_ctrl_msg m, out;
	char a[ZT_ADDR_STRLEN];
	int rc = zt_ctrl_decode(&m, buf, len);

	if (rc < 0) {
		plog(p, now, 1, "bad control message (%d)", rc);
		return;
	}
	switch (m.type) {
	case ZT_CTRL_WELCOME:
		p->welcomed = true;
		p->observed = m.u.welcome.observed;
		if (!zt_addr_equal(&p->observed, &p->cfg.host))
			p->addrs.observed = p->observed;
		zt_portpred_observed(&p->portpred, now, &p->observed, &p->cfg.relay);
		p->addrs.portpred = p->cfg.nat_sequential ? &p->portpred : NULL;
		p->st.welcomed_at = now;
		plog(p, now, 1, "welcome: observed address %s", zt_addr_str(&p->observed, a));
		if (p->cfg.agent) {
			zt_ctrl_msg_init(&out, ZT_CTRL_OPEN);
			out.u.open.request_id = 1;
			snprintf(out.u.open.service, sizeof(out.u.open.service), "svc");
			send_ctrl(p, &out);
		}
		break;
	case ZT_CTRL_PING:
		zt_ctrl_msg_init(&out, ZT_CTRL_PONG);
		out.u.ping = m.u.ping;
		out.u.ping.peer_time = now;
		send_ctrl(p, &out);
		break;
	case ZT_CTRL_SESSION:
		if (p->in_session)
			break;
		p->in_session = true;
		p->session_id = m.u.session.session_id;
		p->st.session_at = now;
		plog(p, now, 1, "session %llu (%s)", (unsigned long long)p->session_id,
		     m.u.session.ice_role == ZT_CTRL_ICE_CONTROLLING ? "controlling" : "controlled");
		if (direct_new(p, now) < 0)
			break;
		if (p->cfg.agent) {
			set_path(p, now, ZT_SIM_PATH_RELAY, "session");
			p->next_data_at = now;
			direct_sync(p, now);
			zt_direct_ready(p->d, now);
			direct_flush(p, now);
		}
		break;
	case ZT_CTRL_CANDIDATES:
		if (p->d)
			on_candidates(p, now, &m.u.cands);
		break;
	case ZT_CTRL_START_CHECKS:
		if (p->d)
			on_start(p, now, &m.u.start);
		break;
	default:
		break;
	}
}

static void send_data(struct zt_sim_peer *p, uint64_t now)
{
	uint8_t b[1500] = { ZT_SIM_DATA };
	size_t len = p->cfg.data_len ? p->cfg.data_len : DEFAULT_DATA_LEN;
	uint8_t dg = ZT_SIM_CHAN_DGRAM;
	struct zt_sim_inflight *f;

	if (len < 17)
		len = 17;
	if (len > sizeof(b) - 1)
		len = sizeof(b) - 1;
	put64(b + 1, p->next_seq);
	put64(b + 9, now);
	f = &p->inflight[p->next_seq % ZT_SIM_PEER_INFLIGHT];
	*f = (struct zt_sim_inflight){ .seq = p->next_seq, .sent_at = now, .len = (uint32_t)len,
				       .live = true };
	p->next_seq++;
	p->st.data_sent++;
	if (p->path == ZT_SIM_PATH_DIRECT) {
		p->st.data_sent_direct++;
		zt_direct_tx(p->d, now);
		enqueue(p, &p->pair.local, &p->pair.remote, NULL, 0, b, len);
	} else {
		enqueue(p, &p->cfg.host, &p->cfg.relay, &dg, 1, b, len);
	}
}

static void on_data(struct zt_sim_peer *p, uint64_t now, bool direct, const struct zt_addr *local,
		    const struct zt_addr *from, const uint8_t *buf, size_t len)
{
	uint64_t seq, sent_at;

	if (len < 17)
		return;
	seq = get64(buf + 1);
	sent_at = get64(buf + 9);
	if (buf[0] == ZT_SIM_DATA && !p->cfg.agent) {
		uint8_t ack[17] = { ZT_SIM_DATA_ACK };
		uint8_t dg = ZT_SIM_CHAN_DGRAM;

		if (p->st.data_received && now - p->st.last_data_rx > p->st.max_gap)
			p->st.max_gap = now - p->st.last_data_rx;
		if (!p->st.data_received)
			p->st.first_data_rx = now;
		p->st.last_data_rx = now;
		p->st.data_received++;
		if (direct)
			p->st.data_received_direct++;
		if (seq + 1 <= p->st.highest_seq_rx)
			p->st.data_reordered++;
		else
			p->st.highest_seq_rx = seq + 1;
		if (direct && p->d)
			zt_direct_rx(p->d, now, from);
		memcpy(ack + 1, buf + 1, 16);
		if (direct)
			enqueue(p, local, from, NULL, 0, ack, sizeof(ack));
		else
			enqueue(p, &p->cfg.host, &p->cfg.relay, &dg, 1, ack, sizeof(ack));
	} else if (buf[0] == ZT_SIM_DATA_ACK && p->cfg.agent) {
		struct zt_sim_inflight *f = &p->inflight[seq % ZT_SIM_PEER_INFLIGHT];

		p->st.acks_received++;
		if (f->live && f->seq == seq) {
			uint64_t r = now - sent_at;
			f->live = false;
			p->srtt = p->srtt ? (7 * p->srtt + r) / 8 : r;
		}
		if (!p->d)
			return;
		if (direct && p->path == ZT_SIM_PATH_DIRECT)
			zt_direct_rx(p->d, now, from);
		direct_tick(p, now);
	}
}

static void peer_recv(void *ep, uint64_t now, const struct zt_addr *local,
		      const struct zt_addr *from, const uint8_t *buf, size_t len)
{
	struct zt_sim_peer *p = ep;
	const uint8_t *msg;
	size_t mlen;

	if (!len)
		return;
	if (zt_addr_equal(from, &p->cfg.relay)) {
		if (buf[0] == ZT_SIM_CHAN_DGRAM)
			on_data(p, now, false, local, from, buf + 1, len - 1);
		else if (zt_sim_chan_recv(&p->chan, now, buf, len, &msg, &mlen) == 1)
			on_ctrl(p, now, msg, mlen);
		return;
	}
	if (buf[0] < 4) {
		if (!p->d || !zt_direct_owns(p->d, buf, len)) {
			p->st.stun_dropped++;
			return;
		}
		direct_sync(p, now);
		if (zt_direct_stun(p->d, now, local, from, buf, len) < 0)
			p->st.stun_dropped++;
		direct_flush(p, now);
		return;
	}
	if (buf[0] == ZT_SIM_DATA || buf[0] == ZT_SIM_DATA_ACK)
		on_data(p, now, true, local, from, buf, len);
}

static size_t peer_poll_send(void *ep, uint64_t now, uint8_t *buf, size_t cap,
			     struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	struct zt_sim_peer *p = ep;
	size_t n = zt_sim_chan_poll(&p->chan, now, buf, cap);

	if (n) {
		*ret_local = p->cfg.host;
		*ret_remote = p->cfg.relay;
		return n;
	}
	if (p->d) {
		int rc = zt_direct_poll_send(p->d, now, buf, cap, ret_local, ret_remote);
		if (rc > 0) {
			if (p->addrs.portpred)
				zt_portpred_sent(&p->portpred, now, ret_remote);
			return (size_t)rc;
		}
	}
	if (p->out_n) {
		unsigned i = p->out_head;
		if (p->outq[i].len > cap)
			return 0;
		memcpy(buf, p->outq[i].buf, p->outq[i].len);
		*ret_local = p->outq[i].local;
		*ret_remote = p->outq[i].remote;
		p->out_head = (p->out_head + 1) % ZT_SIM_PEER_OUTQ;
		p->out_n--;
		return p->outq[i].len;
	}
	return 0;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t peer_next_deadline(void *ep)
{
	struct zt_sim_peer *p = ep;
	uint64_t d = p->out_n ? 0 : zt_sim_chan_deadline(&p->chan);

	if (p->d)
		d = min64(d, zt_direct_next_deadline(p->d));
	if (p->cfg.agent && p->in_session && p->cfg.data_interval)
		d = min64(d, p->next_data_at);
	if (p->welcomed)
		d = min64(d, p->next_ping_at);
	return d;
}

static void peer_on_timeout(void *ep, uint64_t now)
{
	struct zt_sim_peer *p = ep;

	if (p->cfg.agent && p->in_session && p->cfg.data_interval && now >= p->next_data_at) {
		send_data(p, now);
		p->next_data_at = now + p->cfg.data_interval;
	}
	if (p->d)
		direct_tick(p, now);
	if (p->welcomed && now >= p->next_ping_at) {
		struct zt_ctrl_msg m;
		zt_ctrl_msg_init(&m, ZT_CTRL_PING);
		m.u.ping.nonce = zt_prng_next(&p->prng) | 1;
		m.u.ping.timestamp = now;
		if (p->next_ping_at)
			send_ctrl(p, &m);
		p->next_ping_at = now + (p->cfg.keepalive ? p->cfg.keepalive : DEFAULT_KEEPALIVE);
	}
}

const struct zt_sim_endpoint_ops zt_sim_peer_ops = {
	.recv = peer_recv,
	.poll_send = peer_poll_send,
	.next_deadline = peer_next_deadline,
	.on_timeout = peer_on_timeout,
};

int zt_sim_peer_init(struct zt_sim_peer *p, const struct zt_sim_peer_cfg *cfg)
{
	struct zt_ctrl_msg m;

	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	zt_prng_seed(&p->prng, cfg->seed);
	p->rng = zt_prng_rng(&p->prng);
	zt_sim_chan_init(&p->chan);
	zt_check_budget_init(&p->budget, &(struct zt_check_budget_config){ 0 }, 0);
	p->addrs.hosts[0] = cfg->host;
	p->addrs.nhosts = 1;
	p->addrs.local = cfg->host;
	p->addrs.intermediate = cfg->relay;
	p->addrs.nat_mapping = cfg->nat_mapping;
	p->addrs.nat_ports = cfg->nat_ports;
	if (cfg->mapped.family) {
		p->addrs.mapped = cfg->mapped;
		p->addrs.mapped_base = cfg->host;
		p->addrs.gateway = cfg->gateway;
	}
	if (cfg->spray_sockets) {
		p->spray = calloc(cfg->spray_sockets, sizeof(*p->spray));
		if (!p->spray)
			return -ENOMEM;
		for (unsigned i = 0; i < cfg->spray_sockets; i++) {
			p->spray[i] = cfg->host;
			p->spray[i].port = (uint16_t)(40000 + i);
		}
		p->addrs.spray = p->spray;
		p->addrs.nspray = cfg->spray_sockets;
	}
	p->nlog = (struct zt_node_log){ .fn = cfg->log ? node_log : NULL, .arg = p,
					.max_level = ZT_NODE_INFO };
	zt_ctrl_msg_init(&m, ZT_CTRL_HELLO);
	m.u.hello.role = cfg->agent ? ZT_CTRL_ROLE_AGENT : ZT_CTRL_ROLE_CONNECTOR;
	snprintf(m.u.hello.identity, sizeof(m.u.hello.identity), "%s",
		 cfg->agent ? "agent" : "connector");
	send_ctrl(p, &m);
	return p->err;
}

void zt_sim_peer_fini(struct zt_sim_peer *p)
{
	if (!p)
		return;
	zt_direct_free(p->d);
	p->d = NULL;
	free(p->spray);
	p->spray = NULL;
}
