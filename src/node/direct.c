/* The direct path of each session: ICE generations and the path manager (direct.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ice.h"
#include "core/pathmgr.h"
#include "core/units.h"
#include "node/direct.h"
#include "node/peer_int.h"

/* A connector starts a new generation at most this often (an agent that asks for
 * generations nonstop is bounded; the Intermediate bounds CANDIDATES too). */
#define GEN_MIN_INTERVAL (200 * ZT_MS)
/* CANDIDATES messages taken from the peer per generation (offer/answer + trickle). */
#define CANDS_MSGS_PER_GEN 16
/* ngtcp2 refuses a migration until the handshake is confirmed and a spare connection
 * ID has arrived: try again this often, for at most MIGRATE_GIVE_UP. */
#define MIGRATE_RETRY (20 * ZT_MS)
#define MIGRATE_GIVE_UP (2 * ZT_SEC)

struct pdirect {
	struct zt_ice *ice;          /* the current generation, or NULL */
	uint32_t gen;                /* its number (0: none yet) */
	uint64_t gen_at;
	unsigned cands_msgs;         /* CANDIDATES from the peer in this generation */
	bool cands_limited;          /* logged once per generation */
	bool creds_set;
	char ufrag[9], pwd[25];
	bool agent;
	struct zt_pathmgr pm;        /* agent only */
	bool migrating;              /* a migration waits for ngtcp2 (-EAGAIN) or the handshake */
	bool began;                  /* agent: the path manager runs */
	enum zt_path_kind migrate_kind;
	struct zt_quic_path migrate_to;
	const char *migrate_reason;
	uint64_t migrate_retry, migrate_until;
	uint64_t rtt_before;         /* the old path's smoothed RTT (ngtcp2 resets it) */
	uint64_t ka_interval, ka_timeout;
	bool on_direct;              /* the inner connection's path is the direct one */
	uint32_t switches;           /* connector: moves it followed */
	uint64_t first_start;        /* connector: first generation (for time to direct) */
	uint64_t time_to_direct;     /* connector */
	const char *last_reason;
	struct zt_tokens checks;     /* checks to addresses not answered yet, across
					generations (core/checkbudget.h) */
};

static const char ice_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool is_agent(const struct zt_peer *p)
{
	return p->cfg.role == ZT_CTRL_ROLE_AGENT;
}

static void random_ice_string(const struct zt_rng *rng, char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = ice_chars[zt_rng_below(rng, sizeof(ice_chars) - 1)];
	out[n] = '\0';
}

/* ICE may run once the Intermediate has paired the session (SESSION): beside the
 * end-to-end handshake, which it need not wait for; the connection itself moves
 * only once that handshake is done. */
static bool signaled(const struct psession *s)
{
	return s->state == ZT_PEER_S_CONNECTING || s->state == ZT_PEER_S_READY;
}

static struct pdirect *direct_get(struct psession *s)
{
	if (!s->direct) {
		s->direct = calloc(1, sizeof(*s->direct));
		if (s->direct) {
			s->direct->agent = is_agent(s->p);
			s->direct->last_reason = "relay-at-start";
			zt_check_budget_session(&s->p->checks, &s->direct->checks, s->p->now);
		}
	}
	return s->direct;
}

/* ---- gathering and signalling ---- */

static void add_cand(struct zt_peer *p, struct psession *s, struct zt_ice *ice, struct zt_cand *c)
{
	char line[ZT_CAND_STRLEN];
	int rc = zt_ice_add_local(ice, c);

	if (rc < 0)
		PLOG(p, ZT_NODE_WARN, "candidate_skipped", "session=%08x error=\"%s\"", s->id,
		     zt_strerror(rc));
	else if (zt_cand_format(c, line, sizeof(line)) > 0)
		PLOG(p, ZT_NODE_DEBUG, "candidate", "session=%08x generation=%u local=\"%s\"", s->id,
		     s->direct->gen, line);
}

/* RFC 8445 s5.1.1: host candidates (the socket's port on each host address), the
 * server-reflexive one the Intermediate observed, and the relay (signalled only). */
static void gather(struct zt_peer *p, struct psession *s, struct zt_ice *ice)
{
	struct zt_addr hosts[ZT_PEER_MAX_HOSTS];
	size_t n = 0;
	struct zt_cand c;
	bool observed_is_host = false;
	static const uint8_t zero[16];

	for (size_t i = 0; i < p->nhosts; i++)
		hosts[n++] = p->hosts[i];
	if (!n && p->cfg.local.family &&
	    memcmp(p->cfg.local.ip, zero, p->cfg.local.family == AF_INET ? 4 : 16))
		hosts[n++] = p->cfg.local;
	for (size_t i = 0; i < n; i++) {
		hosts[i].port = p->cfg.local.port;
		c = (struct zt_cand){ .type = ZT_CAND_HOST, .component = 1, .addr = hosts[i] };
		c.priority = zt_cand_priority(ZT_CAND_HOST, (uint16_t)(65535 - i), 1);
		zt_cand_foundation(c.foundation, ZT_CAND_HOST, &hosts[i], NULL);
		add_cand(p, s, ice, &c);
		observed_is_host |= zt_addr_equal(&hosts[i], &p->observed);
	}
	if (p->observed.family && !observed_is_host) {
		c = (struct zt_cand){ .type = ZT_CAND_SRFLX, .component = 1, .addr = p->observed };
		for (size_t i = 0; i < n; i++)
			if (hosts[i].family == p->observed.family) {
				c.related = hosts[i];
				break;
			}
		c.priority = zt_cand_priority(ZT_CAND_SRFLX, 65535, 1);
		zt_cand_foundation(c.foundation, ZT_CAND_SRFLX,
				   c.related.family ? &c.related : &c.addr, &p->cfg.intermediate);
		add_cand(p, s, ice, &c);
	}
	c = (struct zt_cand){ .type = ZT_CAND_RELAY, .component = 1, .addr = p->cfg.intermediate,
			      .related = p->observed };
	c.priority = zt_cand_priority(ZT_CAND_RELAY, 65535, 1);
	zt_cand_foundation(c.foundation, ZT_CAND_RELAY, &p->cfg.intermediate, &p->cfg.intermediate);
	add_cand(p, s, ice, &c);
}

static void send_candidates(struct zt_peer *p, struct psession *s)
{
	struct pdirect *d = s->direct;
	struct zt_ctrl_msg m;
	struct zt_ctrl_candidates *cd = &m.u.cands;

	zt_ctrl_msg_init(&m, ZT_CTRL_CANDIDATES);
	cd->session_id = s->id;
	snprintf(cd->ufrag, sizeof(cd->ufrag), "%s", d->ufrag);
	snprintf(cd->pwd, sizeof(cd->pwd), "%s", d->pwd);
	cd->generation = d->gen;
	cd->seq = 0;
	cd->end_of_candidates = true;
	cd->n_cands = (uint8_t)zt_ice_local_cands(d->ice, cd->cands, ZT_CTRL_CANDS_MAX);
	if (zt_peer_send_ctrl(p, &m) < 0)
		PLOG(p, ZT_NODE_WARN, "candidates_not_sent", "session=%08x generation=%u", s->id, d->gen);
	else
		PLOG(p, ZT_NODE_INFO, "ice_generation", "session=%08x generation=%u role=%s candidates=%u",
		     s->id, d->gen, d->agent ? "controlling" : "controlled", cd->n_cands);
}

static int new_generation(struct psession *s, uint64_t now, uint32_t gen)
{
	struct zt_peer *p = s->p;
	struct pdirect *d = s->direct;
	struct zt_ice_config cfg = {
		.controlling = d->agent,
		.tie_breaker = zt_rng_u64(p->cfg.rng),
		.local_ufrag = d->ufrag,
		.local_pwd = d->pwd,
		.rng = *p->cfg.rng,
		/* RFC 8445 s19.5.1: a peer may name a victim's address; what checks to
		 * addresses that never answered may cost is bounded per session (across
		 * generations: a new one does not refill it), per destination and in total */
		.max_remote = p->cfg.check_candidates,
		.session_budget = &d->checks,
		.budget = &p->checks,
		.trusted = p->cfg.intermediate,
	};
	int rc;

	zt_ice_free(d->ice);
	d->ice = NULL;
	random_ice_string(p->cfg.rng, d->ufrag, sizeof(d->ufrag) - 1);
	random_ice_string(p->cfg.rng, d->pwd, sizeof(d->pwd) - 1);
	rc = zt_ice_new(&d->ice, &cfg);
	if (rc < 0) {
		PLOG(p, ZT_NODE_ERROR, "ice_failed_to_start", "session=%08x error=\"%s\"", s->id,
		     zt_strerror(rc));
		return rc;
	}
	d->gen = gen;
	d->gen_at = now;
	d->cands_msgs = 0;
	d->cands_limited = false;
	d->creds_set = false;
	if (!d->agent && !d->ka_interval) {
		/* the connector runs no path manager: its idle keepalive settings */
		struct zt_pathmgr cfg_only;
		zt_pathmgr_init(&cfg_only, &p->cfg.path, now);
		zt_pathmgr_keepalive(&cfg_only, now, &d->ka_interval, &d->ka_timeout);
	}
	if (d->ka_interval)
		zt_ice_set_keepalive(d->ice, now, d->ka_interval, d->ka_timeout);
	if (!d->first_start)
		d->first_start = now;
	gather(p, s, d->ice);
	send_candidates(p, s);
	return 0;
}

/* ---- migration (agent) ---- */

static void path_report(struct psession *s, const char *reason)
{
	struct zt_peer *p = s->p;
	struct pdirect *d = s->direct;
	struct zt_ctrl_msg m;
	struct zt_quic_stats qs;
	struct zt_quic_path path;

	zt_quic_conn_stats(s->conn, &qs);
	zt_quic_conn_path(s->conn, &path);
	zt_ctrl_msg_init(&m, ZT_CTRL_PATH_REPORT);
	m.u.path.session_id = s->id;
	m.u.path.path = d->on_direct ? ZT_CTRL_PATH_DIRECT : ZT_CTRL_PATH_RELAY;
	if (d->on_direct) {
		m.u.path.local = path.local;
		m.u.path.remote = path.remote;
	}
	m.u.path.rtt_us = (uint32_t)(qs.srtt_ns / ZT_US);
	m.u.path.time_to_direct_ms = (uint32_t)(d->pm.stats.time_to_direct / ZT_MS);
	m.u.path.path_switches = d->pm.stats.switches;
	snprintf(m.u.path.text, sizeof(m.u.path.text), "%s", reason);
	zt_peer_send_ctrl(p, &m);
}

static void migrated(struct psession *s, uint64_t now)
{
	struct zt_peer *p = s->p;
	struct pdirect *d = s->direct;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];

	d->migrating = false;
	d->on_direct = d->migrate_kind == ZT_PATH_KIND_DIRECT;
	d->last_reason = d->migrate_reason;
	zt_pathmgr_migrated(&d->pm, now, d->migrate_kind, true);
	PLOG(p, ZT_NODE_INFO, "path_switch",
	     "session=%08x service=%s to=%s local=%s remote=%s reason=%s rtt_before_us=%" PRIu64
	     " switches=%u time_to_direct_ms=%" PRIu64,
	     s->id, s->service, d->on_direct ? "direct" : "relay",
	     d->on_direct ? zt_addr_str(&d->migrate_to.local, a) : "relay",
	     zt_addr_str(&d->migrate_to.remote, b), d->migrate_reason,
	     (uint64_t)(d->rtt_before / ZT_US), d->pm.stats.switches,
	     (uint64_t)(d->pm.stats.time_to_direct / ZT_MS));
	path_report(s, d->migrate_reason);
}

static void try_migrate(struct psession *s, uint64_t now)
{
	struct zt_peer *p = s->p;
	struct pdirect *d = s->direct;
	struct zt_quic_path cur;
	int rc;

	if (s->state != ZT_PEER_S_READY) {
		/* ICE ran beside the end-to-end handshake and was faster: the connection
		 * moves once it is up (the session's own handshake timeout bounds this) */
		d->migrate_retry = now + MIGRATE_RETRY;
		d->migrate_until = now + MIGRATE_GIVE_UP;
		return;
	}
	zt_quic_conn_path(s->conn, &cur);
	if (zt_addr_equal(&cur.local, &d->migrate_to.local) &&
	    zt_addr_equal(&cur.remote, &d->migrate_to.remote)) {
		migrated(s, now); /* already there */
		return;
	}
	{
		struct zt_quic_stats qs;
		zt_quic_conn_stats(s->conn, &qs);
		d->rtt_before = qs.srtt_ns;
	}
	rc = zt_quic_conn_migrate(s->conn, now, &d->migrate_to, true);
	if (rc == 0) {
		migrated(s, now);
		return;
	}
	if (rc == -EAGAIN && now < d->migrate_until) {
		d->migrate_retry = now + MIGRATE_RETRY;
		return;
	}
	d->migrating = false;
	PLOG(p, ZT_NODE_WARN, "path_switch_refused", "session=%08x to=%s reason=%s error=\"%s\"",
	     s->id, d->migrate_kind == ZT_PATH_KIND_DIRECT ? "direct" : "relay", d->migrate_reason,
	     zt_strerror(rc));
	zt_pathmgr_migrated(&d->pm, now, d->migrate_kind, false);
}

static void request_migrate(struct psession *s, uint64_t now, enum zt_path_kind kind,
			    const struct zt_quic_path *to, const char *reason)
{
	struct pdirect *d = s->direct;

	d->migrating = true;
	d->migrate_kind = kind;
	d->migrate_to = *to;
	d->migrate_reason = reason;
	d->migrate_until = now + MIGRATE_GIVE_UP;
	try_migrate(s, now);
}

/* Carries out the path manager's decisions; keeps ICE's keepalive in step. */
static void drive(struct psession *s, uint64_t now)
{
	struct zt_peer *p = s->p;
	struct pdirect *d = s->direct;
	struct zt_path_decision dec;
	struct zt_quic_path path;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	uint64_t iv, to;

	if (!d->agent || !s->conn || !signaled(s))
		return;
	if (d->migrating && now >= d->migrate_retry)
		try_migrate(s, now);
	while (zt_pathmgr_poll(&d->pm, now, &dec)) {
		switch (dec.action) {
		case ZT_PATH_ACT_START_ICE:
			PLOG(p, ZT_NODE_INFO, "path_decision", "session=%08x action=start-ice reason=%s",
			     s->id, dec.reason);
			if (new_generation(s, now, d->gen + 1) == 0)
				zt_pathmgr_ice_started(&d->pm, now);
			break;
		case ZT_PATH_ACT_GO_DIRECT:
			path = (struct zt_quic_path){ .local = dec.pair.local.addr,
						      .remote = dec.pair.remote.addr };
			PLOG(p, ZT_NODE_INFO, "path_decision",
			     "session=%08x action=go-direct reason=%s local=%s remote=%s remote_type=%s",
			     s->id, dec.reason, zt_addr_str(&path.local, a), zt_addr_str(&path.remote, b),
			     zt_cand_type_name(dec.pair.remote.type));
			request_migrate(s, now, ZT_PATH_KIND_DIRECT, &path, dec.reason);
			break;
		case ZT_PATH_ACT_GO_RELAY:
			PLOG(p, ZT_NODE_INFO, "path_decision",
			     "session=%08x action=go-relay reason=%s in_flight=%" PRIu64
			     " ms_since_direct_rx=%" PRIu64 " srtt_us=%" PRIu64,
			     s->id, dec.reason, d->pm.bytes_in_flight,
			     (uint64_t)(now > d->pm.last_direct_rx ? (now - d->pm.last_direct_rx) / ZT_MS : 0),
			     (uint64_t)(d->pm.srtt / ZT_US));
			zt_peer_relay_path(p, &path);
			/* the dead generation's late events are noise from here on */
			zt_ice_free(d->ice);
			d->ice = NULL;
			request_migrate(s, now, ZT_PATH_KIND_RELAY, &path, dec.reason);
			break;
		}
	}
	zt_pathmgr_keepalive(&d->pm, now, &iv, &to);
	if (iv != d->ka_interval || to != d->ka_timeout) {
		d->ka_interval = iv;
		d->ka_timeout = to;
		if (d->ice)
			zt_ice_set_keepalive(d->ice, now, iv, to);
	}
}

/* ICE events: logged; on the agent, fed to the path manager. */
static void ice_events(struct psession *s, uint64_t now)
{
	struct zt_peer *p = s->p;
	struct pdirect *d = s->direct;
	struct zt_ice_event ev;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	const struct zt_ice_stats *st;

	while (d->ice && zt_ice_poll_event(d->ice, &ev)) {
		st = zt_ice_stats(d->ice);
		switch (ev.type) {
		case ZT_ICE_EV_SELECTED:
			PLOG(p, ZT_NODE_INFO, "ice_selected",
			     "session=%08x generation=%u local=%s remote=%s remote_type=%s checks=%" PRIu64
			     " retransmits=%" PRIu64 " ms_since_start=%" PRIu64,
			     s->id, d->gen, zt_addr_str(&ev.pair.local.addr, a),
			     zt_addr_str(&ev.pair.remote.addr, b), zt_cand_type_name(ev.pair.remote.type),
			     st->checks_sent, st->retransmits,
			     (uint64_t)(now > st->start_time ? (now - st->start_time) / ZT_MS : 0));
			break;
		case ZT_ICE_EV_FAILED:
			PLOG(p, ZT_NODE_INFO, "ice_failed",
			     "session=%08x generation=%u pairs=%zu checks=%" PRIu64 " responses=%" PRIu64
			     " dropped_auth=%" PRIu64,
			     s->id, d->gen, zt_ice_pair_count(d->ice), st->checks_sent,
			     st->responses_received, st->dropped_auth);
			break;
		case ZT_ICE_EV_CONSENT_LOST:
			PLOG(p, ZT_NODE_WARN, "ice_consent_lost", "session=%08x generation=%u remote=%s",
			     s->id, d->gen, zt_addr_str(&ev.pair.remote.addr, b));
			break;
		case ZT_ICE_EV_PRFLX:
			PLOG(p, ZT_NODE_DEBUG, "ice_peer_reflexive", "session=%08x remote=%s", s->id,
			     zt_addr_str(&ev.pair.remote.addr, b));
			break;
		case ZT_ICE_EV_ROLE_CHANGE:
			PLOG(p, ZT_NODE_WARN, "ice_role_change", "session=%08x controlling=%d", s->id,
			     ev.controlling);
			break;
		}
		if (d->agent)
			zt_pathmgr_ice_event(&d->pm, now, &ev);
	}
	drive(s, now);
}

/* ---- entry points ---- */

void zt_pdirect_ready(struct psession *s, uint64_t now)
{
	struct zt_peer *p = s->p;
	struct pdirect *d = direct_get(s);

	if (!d || !d->agent)
		return;
	if (d->began) { /* the handshake is done now: a waiting migration may go */
		drive(s, now);
		return;
	}
	d->began = true;
	zt_pathmgr_init(&d->pm, &p->cfg.path, now);
	if (p->cfg.path.direct_disabled) {
		PLOG(p, ZT_NODE_INFO, "path_decision", "session=%08x action=stay-relay reason=direct-disabled",
		     s->id);
		return;
	}
	zt_pathmgr_begin(&d->pm, now);
	drive(s, now);
}

void zt_pdirect_stop(struct psession *s)
{
	if (s->direct) {
		zt_ice_free(s->direct->ice);
		s->direct->ice = NULL;
		s->direct->migrating = false;
	}
}

void zt_pdirect_free(struct psession *s)
{
	zt_pdirect_stop(s);
	free(s->direct);
	s->direct = NULL;
}

void zt_pdirect_candidates(struct psession *s, uint64_t now, const struct zt_ctrl_candidates *c)
{
	struct zt_peer *p = s->p;
	struct pdirect *d;
	unsigned added = 0;

	if (p->cfg.path.direct_disabled || !signaled(s) || !(d = direct_get(s)))
		return;
	if (!d->agent && c->generation > d->gen) {
		/* the agent began a generation: answer with ours */
		if (d->ice && now < d->gen_at + GEN_MIN_INTERVAL) {
			PLOG(p, ZT_NODE_WARN, "candidates_limited",
			     "session=%08x generation=%u reason=too-frequent", s->id, c->generation);
			return;
		}
		if (new_generation(s, now, c->generation) < 0)
			return;
	}
	if (!d->ice || c->generation != d->gen)
		return; /* a stale generation */
	if (++d->cands_msgs > CANDS_MSGS_PER_GEN) {
		if (!d->cands_limited)
			PLOG(p, ZT_NODE_WARN, "candidates_limited",
			     "session=%08x generation=%u reason=too-many-messages", s->id, d->gen);
		d->cands_limited = true;
		return;
	}
	if (!d->creds_set) {
		if (zt_ice_set_remote_credentials(d->ice, c->ufrag, c->pwd) < 0) {
			PLOG(p, ZT_NODE_WARN, "candidates_rejected", "session=%08x reason=bad-credentials",
			     s->id);
			return;
		}
		d->creds_set = true;
	}
	for (unsigned i = 0; i < c->n_cands; i++) {
		int rc = zt_ice_add_remote(d->ice, &c->cands[i]);
		added += rc == 0;
		if (rc == ZT_ECAND_LIMIT && !d->cands_limited) {
			PLOG(p, ZT_NODE_WARN, "candidates_limited",
			     "session=%08x generation=%u reason=too-many-candidates max=%u", s->id, d->gen,
			     p->cfg.check_candidates);
			d->cands_limited = true;
		}
	}
	if (c->end_of_candidates)
		zt_ice_remote_done(d->ice);
	PLOG(p, ZT_NODE_DEBUG, "remote_candidates", "session=%08x generation=%u got=%u added=%u end=%d",
	     s->id, d->gen, c->n_cands, added, c->end_of_candidates);
	ice_events(s, now);
}

void zt_pdirect_start(struct psession *s, uint64_t now, uint64_t at, uint32_t generation)
{
	struct zt_peer *p = s->p;
	struct pdirect *d = s->direct;
	int rc;

	if (!d || !d->ice || generation != d->gen)
		return;
	rc = zt_ice_start(d->ice, at);
	PLOG(p, rc < 0 ? ZT_NODE_WARN : ZT_NODE_INFO, "ice_start",
	     "session=%08x generation=%u in_ms=%" PRIu64 " error=\"%s\"", s->id, generation,
	     (uint64_t)(at > now ? (at - now) / ZT_MS : 0), rc < 0 ? zt_strerror(rc) : "none");
}

int zt_pdirect_stun(struct zt_peer *p, uint64_t now, const struct zt_addr *local,
		    const struct zt_addr *from, const uint8_t *pkt, size_t len)
{
	for (struct psession *s = p->sessions; s; s = s->next) {
		struct pdirect *d = s->direct;
		if (!d || !d->ice || !zt_ice_match(d->ice, pkt, len))
			continue;
		zt_ice_recv(d->ice, now, local, from, pkt, len);
		ice_events(s, now);
		return 1;
	}
	return 0;
}

void zt_pdirect_direct_rx(struct psession *s, uint64_t now, const struct zt_addr *from)
{
	struct pdirect *d = s->direct;
	struct zt_cand_pair sel;

	if (!d)
		return;
	if (d->agent)
		zt_pathmgr_direct_rx(&d->pm, now);
	if (d->ice && zt_ice_selected(d->ice, &sel) == 0 && zt_addr_equal(&sel.remote.addr, from))
		zt_ice_note_alive(d->ice, now);
}

void zt_pdirect_direct_tx(struct psession *s, uint64_t now)
{
	if (s->direct && s->direct->agent)
		zt_pathmgr_direct_tx(&s->direct->pm, now);
}

void zt_pdirect_path(struct psession *s, uint64_t now, const struct zt_quic_path *path, bool ok)
{
	struct zt_peer *p = s->p;
	struct pdirect *d = direct_get(s);
	bool direct = !zt_quic_is_relay_addr(&path->local);

	if (!d)
		return;
	if (d->agent) {
		/* A failed validation of the direct path. ngtcp2 0.12.1 leaves a connection
		 * that migrated at once (as try_migrate does) on the path whose validation
		 * failed; only a migration it validates first falls back. The path may
		 * well work (under loss, all four PATH_CHALLENGEs of a validation can be
		 * lost): the connection stays on it, still judged by the stall rule, which
		 * moves it to the relay if nothing comes back. The old code took it for
		 * back on the relay while it was not: a dead direct path then kept the
		 * session without a byte until the next ICE attempt (ztna-sim --case
		 * 201350 --real --max-loss 200000: 30 s). */
		if (!ok && direct && d->on_direct) {
			struct zt_quic_path cur;

			zt_quic_conn_path(s->conn, &cur);
			if (!zt_quic_is_relay_addr(&cur.local)) {
				PLOG(p, ZT_NODE_WARN, "path_validation_failed",
				     "session=%08x staying=direct judged_by=stall-rule", s->id);
				return;
			}
			d->on_direct = false;
			d->last_reason = "path-validation-failed";
			zt_pathmgr_migrated(&d->pm, now, ZT_PATH_KIND_DIRECT, false);
			zt_pathmgr_migrated(&d->pm, now, ZT_PATH_KIND_RELAY, true);
			PLOG(p, ZT_NODE_WARN, "path_switch", "session=%08x to=relay reason=path-validation-failed",
			     s->id);
			path_report(s, d->last_reason);
			drive(s, now);
		}
		return;
	}
	/* connector: the client moved the connection; we followed */
	if (ok && direct != d->on_direct) {
		d->on_direct = direct;
		d->switches++;
		d->last_reason = direct ? "agent-migrated" : "agent-fell-back";
		if (direct && !d->time_to_direct && d->first_start)
			d->time_to_direct = now > d->first_start ? now - d->first_start : 1;
		PLOG(p, ZT_NODE_INFO, "path_switch", "session=%08x service=%s to=%s reason=%s switches=%u",
		     s->id, s->service, direct ? "direct" : "relay", d->last_reason, d->switches);
	}
}

int zt_pdirect_poll_send(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
			 struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	for (struct psession *s = p->sessions; s; s = s->next) {
		int n;
		if (!s->direct || !s->direct->ice)
			continue;
		n = zt_ice_poll_send(s->direct->ice, now, buf, cap, ret_local, ret_remote);
		if (n > 0)
			return n;
	}
	return 0;
}

void zt_pdirect_timers(struct psession *s, uint64_t now)
{
	struct pdirect *d = s->direct;
	struct zt_quic_stats qs;

	if (!d || !signaled(s))
		return;
	if (d->ice && zt_ice_next_deadline(d->ice) <= now)
		zt_ice_on_timeout(d->ice, now);
	if (d->agent && s->conn) {
		zt_quic_conn_stats(s->conn, &qs);
		zt_pathmgr_conn_state(&d->pm, now, qs.bytes_in_flight, qs.srtt_ns,
				      (uint32_t)qs.pto_count);
		zt_pathmgr_peer_elsewhere(&d->pm, now, (uint32_t)qs.nudges_unanswered);
	}
	ice_events(s, now);
}

uint64_t zt_pdirect_next_deadline(const struct psession *s)
{
	const struct pdirect *d = s->direct;
	uint64_t t = ZT_TIME_NEVER, x;

	if (!d || !signaled(s))
		return t;
	if (d->ice)
		t = zt_ice_next_deadline(d->ice);
	if (d->agent) {
		x = zt_pathmgr_next_deadline(&d->pm);
		if (x < t)
			t = x;
		if (d->migrating && d->migrate_retry < t)
			t = d->migrate_retry;
	}
	return t;
}

void zt_pdirect_netchange(struct zt_peer *p, uint64_t now)
{
	for (struct psession *s = p->sessions; s; s = s->next)
		if (s->direct && s->direct->agent && signaled(s))
			zt_pathmgr_netchange(&s->direct->pm, now);
}

void zt_pdirect_info(const struct psession *s, struct zt_peer_path_info *ret)
{
	const struct pdirect *d = s->direct;

	ret->ice_state = "none";
	ret->manager = d && !d->agent ? "follows" : "relay";
	ret->last_reason = "relay-at-start";
	if (!d)
		return;
	ret->generation = d->gen;
	if (d->ice)
		ret->ice_state = zt_ice_state_name(zt_ice_state(d->ice));
	ret->last_reason = d->last_reason;
	if (d->agent) {
		ret->manager = zt_pathmgr_state_name(d->pm.state);
		ret->switches = d->pm.stats.switches;
		ret->time_to_direct = d->pm.stats.time_to_direct;
	} else {
		ret->switches = d->switches;
		ret->time_to_direct = d->time_to_direct;
	}
}
