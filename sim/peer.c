#include <errno.h>
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

static void random_ice_string(struct zt_sim_peer *p, char *s, size_t n)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (size_t i = 0; i < n; i++)
		s[i] = set[zt_prng_next(&p->prng) % (sizeof(set) - 1)];
	s[n] = '\0';
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
		plog(p, now, 0, "path direct %s -> %s (%s)", zt_addr_str(&p->pair.local.addr, l),
		     zt_addr_str(&p->pair.remote.addr, r), reason);
	} else {
		plog(p, now, 0, "path %s (%s)", zt_sim_path_name(path), reason);
	}
	p->path = path;
}

static void add_local_cands(struct zt_sim_peer *p)
{
	struct zt_cand h = { .type = ZT_CAND_HOST, .component = 1, .addr = p->cfg.host };

	h.priority = zt_cand_priority(ZT_CAND_HOST, 65535, 1);
	zt_cand_foundation(h.foundation, ZT_CAND_HOST, &p->cfg.host, NULL);
	zt_ice_add_local(p->ice, &h);
	if (p->welcomed && !zt_addr_equal(&p->observed, &p->cfg.host)) {
		struct zt_cand s = { .type = ZT_CAND_SRFLX, .component = 1, .addr = p->observed,
				     .related = p->cfg.host };
		s.priority = zt_cand_priority(ZT_CAND_SRFLX, 65535, 1);
		zt_cand_foundation(s.foundation, ZT_CAND_SRFLX, &p->cfg.host, &p->cfg.relay);
		zt_ice_add_local(p->ice, &s);
	}
}

static int new_generation(struct zt_sim_peer *p, uint64_t now, uint32_t gen)
{
	struct zt_ice_config cfg = p->cfg.ice;
	struct zt_ctrl_msg m;
	int rc;

	zt_ice_free(p->ice);
	p->ice = NULL;
	p->gen = gen;
	p->have_gen = true;
	p->remote_set = false;
	p->ka_interval = p->ka_timeout = 0;
	random_ice_string(p, p->ufrag, 8);
	random_ice_string(p, p->pwd, 24);
	cfg.controlling = p->cfg.agent;
	cfg.tie_breaker = zt_prng_next(&p->prng);
	cfg.local_ufrag = p->ufrag;
	cfg.local_pwd = p->pwd;
	cfg.rng = zt_prng_rng(&p->prng);
	rc = zt_ice_new(&p->ice, &cfg);
	if (rc < 0) {
		p->err = rc;
		return rc;
	}
	add_local_cands(p);
	p->st.generations++;
	zt_ctrl_msg_init(&m, ZT_CTRL_CANDIDATES);
	m.u.cands.session_id = p->session_id;
	snprintf(m.u.cands.ufrag, sizeof(m.u.cands.ufrag), "%s", p->ufrag);
	snprintf(m.u.cands.pwd, sizeof(m.u.cands.pwd), "%s", p->pwd);
	m.u.cands.generation = gen;
	m.u.cands.end_of_candidates = true;
	m.u.cands.n_cands = (uint8_t)zt_ice_local_cands(p->ice, m.u.cands.cands, ZT_CTRL_CANDS_MAX);
	send_ctrl(p, &m);
	plog(p, now, 1, "ice generation %u: %u local candidates signalled", gen, m.u.cands.n_cands);
	return 0;
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

static void ice_events(struct zt_sim_peer *p, uint64_t now)
{
	struct zt_ice_event ev;
	char l[ZT_ADDR_STRLEN], r[ZT_ADDR_STRLEN];

	if (!p->ice)
		return;
	while (zt_ice_poll_event(p->ice, &ev)) {
		switch (ev.type) {
		case ZT_ICE_EV_SELECTED:
			plog(p, now, 1, "ice selected %s %s -> %s %s", zt_cand_type_name(ev.pair.local.type),
			     zt_addr_str(&ev.pair.local.addr, l), zt_cand_type_name(ev.pair.remote.type),
			     zt_addr_str(&ev.pair.remote.addr, r));
			break;
		case ZT_ICE_EV_FAILED:
			plog(p, now, 1, "ice failed (%zu pairs)", zt_ice_pair_count(p->ice));
			break;
		case ZT_ICE_EV_CONSENT_LOST:
			plog(p, now, 1, "ice consent lost");
			break;
		case ZT_ICE_EV_PRFLX:
			plog(p, now, 1, "ice learned peer-reflexive %s", zt_addr_str(&ev.pair.remote.addr, r));
			break;
		case ZT_ICE_EV_ROLE_CHANGE:
			plog(p, now, 1, "ice role change: %s", ev.controlling ? "controlling" : "controlled");
			break;
		}
		if (p->cfg.agent)
			zt_pathmgr_ice_event(&p->pm, now, &ev);
	}
}

static void pm_run(struct zt_sim_peer *p, uint64_t now)
{
	struct zt_path_decision d;
	uint64_t ka, to;

	if (!p->cfg.agent || !p->in_session)
		return;
	/* the stand-in data path has no probe timeouts: the stall rule goes by time */
	zt_pathmgr_conn_state(&p->pm, now, inflight_bytes(p, now), p->srtt,
			      ZT_PATHMGR_PTOS_UNKNOWN);
	while (zt_pathmgr_poll(&p->pm, now, &d)) {
		switch (d.action) {
		case ZT_PATH_ACT_START_ICE:
			plog(p, now, 1, "pathmgr: start ice (%s)", d.reason ? d.reason : "");
			new_generation(p, now, p->have_gen ? p->gen + 1 : 0);
			zt_pathmgr_ice_started(&p->pm, now);
			break;
		case ZT_PATH_ACT_GO_DIRECT:
			p->pair = d.pair;
			set_path(p, now, ZT_SIM_PATH_DIRECT, d.reason ? d.reason : "");
			zt_pathmgr_migrated(&p->pm, now, ZT_PATH_KIND_DIRECT, true);
			break;
		case ZT_PATH_ACT_GO_RELAY:
			set_path(p, now, ZT_SIM_PATH_RELAY, d.reason ? d.reason : "");
			zt_pathmgr_migrated(&p->pm, now, ZT_PATH_KIND_RELAY, true);
			break;
		}
		ice_events(p, now);
	}
	if (p->ice) {
		zt_pathmgr_keepalive(&p->pm, now, &ka, &to);
		if (ka != p->ka_interval || to != p->ka_timeout) {
			p->ka_interval = ka;
			p->ka_timeout = to;
			zt_ice_set_keepalive(p->ice, now, ka, to);
		}
	}
}

static void on_candidates(struct zt_sim_peer *p, uint64_t now, const struct zt_ctrl_candidates *c)
{
	uint8_t order[ZT_CTRL_CANDS_MAX];

	if (!p->cfg.agent && (!p->have_gen || c->generation > p->gen))
		new_generation(p, now, c->generation);
	if (!p->ice || c->generation != p->gen || p->remote_set)
		return;
	if (zt_ice_set_remote_credentials(p->ice, c->ufrag, c->pwd) < 0)
		return;
	for (unsigned i = 0; i < c->n_cands; i++)
		order[i] = (uint8_t)i;
	if (p->cfg.shuffle_cands) {
		for (unsigned i = c->n_cands; i > 1; i--) {
			unsigned j = (unsigned)(zt_prng_next(&p->prng) % i);
			uint8_t t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
	}
	for (unsigned i = 0; i < c->n_cands; i++)
		zt_ice_add_remote(p->ice, &c->cands[order[i]]);
	zt_ice_remote_done(p->ice);
	p->remote_set = true;
	plog(p, now, 1, "ice generation %u: %u remote candidates", c->generation, c->n_cands);
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
		if (p->cfg.agent) {
			set_path(p, now, ZT_SIM_PATH_RELAY, "session");
			p->next_data_at = now;
			zt_pathmgr_begin(&p->pm, now);
			pm_run(p, now);
		} else {
			new_generation(p, now, 0);
		}
		break;
	case ZT_CTRL_CANDIDATES:
		on_candidates(p, now, &m.u.cands);
		break;
	case ZT_CTRL_START_CHECKS:
		if (p->ice && p->remote_set && m.u.start.generation == p->gen) {
			uint64_t at = now + m.u.start.start_offset + p->cfg.start_skew;
			if (zt_ice_start(p->ice, at) == 0) {
				if (!p->st.ice_start_at)
					p->st.ice_start_at = at;
				plog(p, now, 1, "start checks of generation %u at +%.1f ms", p->gen,
				     (double)(at - now) / 1e6);
			}
		}
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
		zt_pathmgr_direct_tx(&p->pm, now);
		enqueue(p, &p->pair.local.addr, &p->pair.remote.addr, NULL, 0, b, len);
	} else {
		enqueue(p, &p->cfg.host, &p->cfg.relay, &dg, 1, b, len);
	}
}

static void on_data(struct zt_sim_peer *p, uint64_t now, bool direct, const struct zt_addr *local,
		    const struct zt_addr *from, const uint8_t *buf, size_t len)
{
	struct zt_cand_pair sel;
	bool on_selected = false;
	uint64_t seq, sent_at;

	if (len < 17)
		return;
	seq = get64(buf + 1);
	sent_at = get64(buf + 9);
	if (direct && p->ice && zt_ice_selected(p->ice, &sel) == 0 &&
	    zt_addr_equal(&sel.remote.addr, from))
		on_selected = true;
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
		if (on_selected)
			zt_ice_note_alive(p->ice, now);
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
		if (direct && p->path == ZT_SIM_PATH_DIRECT) {
			zt_pathmgr_direct_rx(&p->pm, now);
			if (on_selected)
				zt_ice_note_alive(p->ice, now);
		}
		pm_run(p, now);
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
		if (p->ice) {
			int rc = zt_ice_recv(p->ice, now, local, from, buf, len);
			if (rc < 0)
				p->st.stun_dropped++;
			ice_events(p, now);
			pm_run(p, now);
		}
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
	if (p->ice) {
		int rc = zt_ice_poll_send(p->ice, now, buf, cap, ret_local, ret_remote);
		if (rc > 0)
			return (size_t)rc;
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

	if (p->ice)
		d = min64(d, zt_ice_next_deadline(p->ice));
	if (p->cfg.agent && p->in_session) {
		d = min64(d, zt_pathmgr_next_deadline(&p->pm));
		if (p->cfg.data_interval)
			d = min64(d, p->next_data_at);
	}
	if (p->welcomed)
		d = min64(d, p->next_ping_at);
	return d;
}

static void peer_on_timeout(void *ep, uint64_t now)
{
	struct zt_sim_peer *p = ep;

	if (p->ice && now >= zt_ice_next_deadline(p->ice))
		zt_ice_on_timeout(p->ice, now);
	ice_events(p, now);
	if (p->cfg.agent && p->in_session && p->cfg.data_interval && now >= p->next_data_at) {
		send_data(p, now);
		p->next_data_at = now + p->cfg.data_interval;
	}
	pm_run(p, now);
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
	zt_sim_chan_init(&p->chan);
	zt_pathmgr_init(&p->pm, &cfg->path, 0);
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
	zt_ice_free(p->ice);
	p->ice = NULL;
}
