/* The direct path of one session: ICE generations and the path manager (direct.h). */
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

/* A connector starts a new generation at most this often (an agent that asks for
 * generations nonstop is bounded; the Intermediate bounds CANDIDATES too). */
#define GEN_MIN_INTERVAL (200 * ZT_MS)
/* CANDIDATES messages taken from the peer per generation (offer/answer + trickle). */
#define CANDS_MSGS_PER_GEN 16
/* ngtcp2 refuses a migration until the handshake is confirmed and a spare connection
 * ID has arrived: try again this often, for at most MIGRATE_GIVE_UP. */
#define MIGRATE_RETRY (20 * ZT_MS)
#define MIGRATE_GIVE_UP (2 * ZT_SEC)
/* PATH_REPORTs waiting for zt_direct_poll_ctrl (more in one call: the oldest goes). */
#define REPORTS_MAX 4

struct report {
	bool direct;
	struct zt_quic_path path;
	uint64_t srtt, time_to_direct;
	uint32_t switches;
	const char *reason;
};

struct zt_direct {
	struct zt_direct_config cfg;
	struct zt_direct_conn conn;  /* as the caller last saw it */
	struct zt_ice *ice;          /* the current generation, or NULL */
	uint32_t gen;                /* its number (0: none yet) */
	uint64_t gen_at;
	unsigned cands_msgs;         /* CANDIDATES from the peer in this generation */
	bool cands_limited;          /* logged once per generation */
	bool cands_due;              /* ours for this generation wait for poll_ctrl */
	bool creds_set;
	char ufrag[9], pwd[25];
	struct zt_pathmgr pm;        /* agent only */
	bool migrating;              /* a move waits: for ngtcp2 (-EAGAIN) or the handshake */
	bool move_due;               /* ... and is for poll_move now */
	bool began;                  /* agent: the path manager runs */
	enum zt_path_kind migrate_kind;
	struct zt_quic_path migrate_to;
	const char *migrate_reason;
	uint64_t migrate_retry, migrate_until;
	uint64_t rtt_before;         /* the old path's smoothed RTT (ngtcp2 resets it) */
	uint64_t rtt_moving;         /* ... as the move was polled */
	uint64_t ka_interval, ka_timeout;
	bool on_direct;              /* the inner connection's path is the direct one */
	uint32_t switches;           /* connector: moves it followed */
	uint64_t first_start;        /* connector: first generation (for time to direct) */
	uint64_t time_to_direct;     /* connector */
	const char *last_reason;
	struct zt_tokens checks;     /* checks to addresses not answered yet, across
					generations (core/checkbudget.h) */
	struct report reports[REPORTS_MAX];
	size_t rep_head, rep_len;
	struct zt_addr tcp_remote[ZT_DIRECT_MAX_TCP]; /* the peer's TCP candidates */
	size_t ntcp_remote;
	struct zt_cand pred[ZT_PORTPRED_WINDOW]; /* this generation's predicted candidates */
	size_t npred;
	/* birthday probing (docs/hard-nat.md): the peer's NAT as it says, where the
	 * Intermediate sees it, and this generation's spray or probes */
	uint8_t peer_mapping, peer_ports;
	struct zt_addr peer_observed, probe_local;
	struct zt_birthday probe;
	bool probing;
	/* the latest path-MTU result of a selected pair (ICE's probes), across
	 * generations: its path and size (0: none) */
	struct zt_quic_path mtu_path;
	size_t mtu_size;
};

#define DLOG(d, lvl, ev, ...) zt_node_logf((d)->cfg.log, lvl, ev, __VA_ARGS__)

static void birthday_stop(struct zt_direct *d, const char *why);

static const char ice_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void random_ice_string(const struct zt_rng *rng, char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = ice_chars[zt_rng_below(rng, sizeof(ice_chars) - 1)];
	out[n] = '\0';
}

int zt_direct_new(struct zt_direct **ret, const struct zt_direct_config *cfg, uint64_t now)
{
	struct zt_direct *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->last_reason = "relay-at-start";
	zt_check_budget_session(cfg->budget, &d->checks, now);
	*ret = d;
	return 0;
}

void zt_direct_conn_state(struct zt_direct *d, const struct zt_direct_conn *c)
{
	d->conn = *c;
}

/* ---- gathering and signalling ---- */

static void add_cand(struct zt_direct *d, struct zt_ice *ice, struct zt_cand *c)
{
	char line[ZT_CAND_STRLEN];
	int rc = zt_ice_add_local(ice, c);

	if (rc < 0)
		DLOG(d, ZT_NODE_WARN, "candidate_skipped", "session=%08x error=\"%s\"", d->cfg.session_id,
		     zt_strerror(rc));
	else if (zt_cand_format(c, line, sizeof(line)) > 0)
		DLOG(d, ZT_NODE_DEBUG, "candidate", "session=%08x generation=%u local=\"%s\"",
		     d->cfg.session_id, d->gen, line);
}

/* A server-reflexive candidate at addr, learned from server, with its base among the
 * host addresses (the one equal to base when given, else the first of its family). */
static void add_srflx(struct zt_direct *d, struct zt_ice *ice, const struct zt_addr *addr,
		      const struct zt_addr *base, const struct zt_addr *hosts, size_t n,
		      const struct zt_addr *server, uint16_t local_pref)
{
	struct zt_cand c = { .type = ZT_CAND_SRFLX, .component = 1, .addr = *addr };

	for (size_t i = 0; i < n; i++)
		if (hosts[i].family == addr->family &&
		    (!c.related.family || (base && zt_addr_ip_equal(&hosts[i], base))))
			c.related = hosts[i];
	c.priority = zt_cand_priority(ZT_CAND_SRFLX, local_pref, 1);
	zt_cand_foundation(c.foundation, ZT_CAND_SRFLX, c.related.family ? &c.related : &c.addr,
			   server);
	add_cand(d, ice, &c);
}

/* RFC 8445 s5.1.1: host candidates (the socket's port on each host address), the
 * server-reflexive ones (a port mapping at the gateway, then the address the
 * Intermediate observed), and the relay (signalled only).
 * RFC 8445 has no type for a port mapping: it is signalled as srflx (its base is the
 * socket, as for the observed address; any ICE agent understands it) with the higher
 * local preference, 65535 against the observed address's 65534 (s5.1.2.1 leaves
 * local preferences to us): it holds without any filtering state in our NAT and is
 * renewed, so the peer checks it first and prefers it when both work; host candidates
 * (type preference 126) stay ahead of both (docs/portmap.md). */
static void gather(struct zt_direct *d, struct zt_ice *ice)
{
	const struct zt_direct_addrs *ad = d->cfg.addrs;
	struct zt_addr hosts[ZT_DIRECT_MAX_HOSTS];
	size_t n = 0;
	struct zt_cand c;
	bool observed_is_host = false;

	for (size_t i = 0; i < ad->nhosts && i < ZT_DIRECT_MAX_HOSTS; i++)
		hosts[n++] = ad->hosts[i];
	if (!n && !zt_addr_is_any(&ad->local))
		hosts[n++] = ad->local;
	for (size_t i = 0; i < n; i++) {
		hosts[i].port = ad->local.port;
		c = (struct zt_cand){ .type = ZT_CAND_HOST, .component = 1, .addr = hosts[i] };
		c.priority = zt_cand_priority(ZT_CAND_HOST, (uint16_t)(65535 - i), 1);
		zt_cand_foundation(c.foundation, ZT_CAND_HOST, &hosts[i], NULL);
		add_cand(d, ice, &c);
		observed_is_host |= zt_addr_equal(&hosts[i], &ad->observed);
	}
	if (ad->mapped.family)
		add_srflx(d, ice, &ad->mapped, &ad->mapped_base, hosts, n, &ad->gateway, 65535);
	if (ad->observed.family && !observed_is_host && !zt_addr_equal(&ad->observed, &ad->mapped))
		add_srflx(d, ice, &ad->observed, NULL, hosts, n, &ad->intermediate, 65534);
	c = (struct zt_cand){ .type = ZT_CAND_RELAY, .component = 1, .addr = ad->intermediate,
			      .related = ad->observed };
	c.priority = zt_cand_priority(ZT_CAND_RELAY, 65535, 1);
	zt_cand_foundation(c.foundation, ZT_CAND_RELAY, &ad->intermediate, &ad->intermediate);
	add_cand(d, ice, &c);
}

/* Our first host address of a family (the socket's port), else the socket's own
 * address: a dual-stack node has both families, and a NAT maps only IPv4. */
static struct zt_addr host_of(const struct zt_direct_addrs *ad, int family)
{
	struct zt_addr a = ad->nhosts ? ad->hosts[0] : ad->local;

	for (size_t i = 0; i < ad->nhosts; i++)
		if (ad->hosts[i].family == family) {
			a = ad->hosts[i];
			break;
		}
	a.port = ad->local.port;
	return a;
}

/* Predicted candidates (docs/hard-nat.md): the ports our sequential NAT will give the
 * next new mappings, signalled beside ICE's; the node counts them (core/portpred.h). */
static size_t gather_predicted(struct zt_direct *d, uint32_t gen)
{
	const struct zt_direct_addrs *ad = d->cfg.addrs;
	struct zt_addr b = host_of(ad, ad->intermediate.family);
	char line[ZT_CAND_STRLEN];

	d->npred = 0;
	if (d->cfg.no_predict || !ad->portpred)
		return 0;
	d->npred = zt_portpred_cands(ad->portpred, b.family ? &b : NULL, &ad->intermediate,
				     d->pred, ZT_PORTPRED_WINDOW);
	for (size_t i = 0; i < d->npred; i++)
		if (zt_cand_format(&d->pred[i], line, sizeof(line)) > 0)
			DLOG(d, ZT_NODE_DEBUG, "candidate", "session=%08x generation=%u local=\"%s\"",
			     d->cfg.session_id, gen, line);
	return d->npred;
}

static void pred_cands(const struct zt_direct *d, struct zt_ctrl_candidates *cd)
{
	for (size_t i = 0; i < d->npred && cd->n_cands < ZT_CTRL_CANDS_MAX; i++)
		cd->cands[cd->n_cands++] = d->pred[i];
}

static int new_generation(struct zt_direct *d, uint64_t now, uint32_t gen)
{
	struct zt_ice_config cfg = {
		.controlling = d->cfg.agent,
		.tie_breaker = zt_rng_u64(d->cfg.rng),
		.local_ufrag = d->ufrag,
		.local_pwd = d->pwd,
		.rng = *d->cfg.rng,
		/* RFC 8445 s19.5.1: a peer may name a victim's address; what checks to
		 * addresses that never answered may cost is bounded per session (across
		 * generations: a new one does not refill it), per destination and in total */
		.max_remote = d->cfg.max_remote,
		.session_budget = &d->checks,
		.budget = d->cfg.budget,
		.trusted = d->cfg.addrs->intermediate,
		.mtu_probe = { ZT_DIRECT_FULL, ZT_DIRECT_PROBE_MID },
	};
	int rc;

	cfg.predicting = gather_predicted(d, gen) > 0;
	zt_ice_free(d->ice);
	d->ice = NULL;
	d->cands_due = false;
	random_ice_string(d->cfg.rng, d->ufrag, sizeof(d->ufrag) - 1);
	random_ice_string(d->cfg.rng, d->pwd, sizeof(d->pwd) - 1);
	rc = zt_ice_new(&d->ice, &cfg);
	if (rc < 0) {
		DLOG(d, ZT_NODE_ERROR, "ice_failed_to_start", "session=%08x error=\"%s\"",
		     d->cfg.session_id, zt_strerror(rc));
		return rc;
	}
	d->gen = gen;
	d->gen_at = now;
	d->probing = false;
	d->peer_mapping = d->peer_ports = 0;
	d->peer_observed = (struct zt_addr){ 0 };
	d->cands_msgs = 0;
	d->cands_limited = false;
	d->creds_set = false;
	d->ntcp_remote = 0;
	if (!d->cfg.agent && !d->ka_interval) {
		/* the connector runs no path manager: its idle keepalive settings */
		struct zt_pathmgr cfg_only;
		zt_pathmgr_init(&cfg_only, d->cfg.path, now);
		zt_pathmgr_keepalive(&cfg_only, now, &d->ka_interval, &d->ka_timeout);
	}
	if (d->ka_interval)
		zt_ice_set_keepalive(d->ice, now, d->ka_interval, d->ka_timeout);
	if (!d->first_start)
		d->first_start = now;
	gather(d, d->ice);
	d->cands_due = true;
	return 0;
}

/* The TCP direct path's candidates (RFC 6544 "so"), after ICE's: the outer TCP
 * connection's local address and, when it differs, its reflexive one. */
static void tcp_cands(const struct zt_direct *d, struct zt_ctrl_candidates *cd)
{
	const struct zt_direct_addrs *ad = d->cfg.addrs;
	const struct zt_addr *a[2] = { &ad->tcp_local, &ad->tcp_observed };
	uint8_t types[2] = { ZT_CAND_HOST, ZT_CAND_SRFLX };

	for (int i = 0; i < 2 && cd->n_cands < ZT_CTRL_CANDS_MAX; i++) {
		struct zt_cand *c = &cd->cands[cd->n_cands];

		if (!a[i]->family || !a[i]->port || zt_addr_is_any(a[i]) ||
		    (i == 1 && zt_addr_equal(a[0], a[1])))
			continue;
		*c = (struct zt_cand){ .type = types[i], .transport = ZT_CAND_TCP_SO,
				       .component = 1, .addr = *a[i] };
		if (i == 1 && a[0]->family == a[1]->family)
			c->related = *a[0];
		c->priority = zt_cand_priority(types[i], 65535, 1);
		zt_cand_foundation(c->foundation, types[i], i ? &ad->tcp_local : a[0],
				   &ad->intermediate);
		cd->n_cands++;
	}
}

static bool poll_candidates(struct zt_direct *d, struct zt_ctrl_msg *m)
{
	struct zt_ctrl_candidates *cd = &m->u.cands;

	if (!d->cands_due || !d->ice)
		return false;
	d->cands_due = false;
	zt_ctrl_msg_init(m, ZT_CTRL_CANDIDATES);
	cd->session_id = d->cfg.session_id;
	snprintf(cd->ufrag, sizeof(cd->ufrag), "%s", d->ufrag);
	snprintf(cd->pwd, sizeof(cd->pwd), "%s", d->pwd);
	cd->generation = d->gen;
	cd->seq = 0;
	cd->end_of_candidates = true;
	cd->n_cands = (uint8_t)zt_ice_local_cands(d->ice, cd->cands, ZT_CTRL_CANDS_MAX);
	if (!d->cfg.no_probe) {
		cd->nat_mapping = d->cfg.addrs->nat_mapping;
		cd->nat_ports = d->cfg.addrs->nat_ports;
	}
	pred_cands(d, cd);
	tcp_cands(d, cd);
	return true;
}

/* ---- migration (agent) ---- */

static void path_report(struct zt_direct *d, const char *reason)
{
	struct report *r;

	if (d->rep_len == REPORTS_MAX) {
		d->rep_head = (d->rep_head + 1) % REPORTS_MAX;
		d->rep_len--;
	}
	r = &d->reports[(d->rep_head + d->rep_len++) % REPORTS_MAX];
	*r = (struct report){ .direct = d->on_direct, .path = d->conn.path, .srtt = d->conn.srtt,
			      .time_to_direct = d->pm.stats.time_to_direct,
			      .switches = d->pm.stats.switches, .reason = reason };
}

static bool poll_report(struct zt_direct *d, struct zt_ctrl_msg *m)
{
	const struct report *r;

	if (!d->rep_len)
		return false;
	r = &d->reports[d->rep_head];
	d->rep_head = (d->rep_head + 1) % REPORTS_MAX;
	d->rep_len--;
	zt_ctrl_msg_init(m, ZT_CTRL_PATH_REPORT);
	m->u.path.session_id = d->cfg.session_id;
	m->u.path.path = r->direct ? ZT_CTRL_PATH_DIRECT : ZT_CTRL_PATH_RELAY;
	if (r->direct) {
		m->u.path.local = r->path.local;
		m->u.path.remote = r->path.remote;
	}
	m->u.path.rtt_us = (uint32_t)(r->srtt / ZT_US);
	m->u.path.time_to_direct_ms = (uint32_t)(r->time_to_direct / ZT_MS);
	m->u.path.path_switches = r->switches;
	snprintf(m->u.path.text, sizeof(m->u.path.text), "%s", r->reason);
	return true;
}

int zt_direct_poll_ctrl(struct zt_direct *d, struct zt_ctrl_msg *ret)
{
	return poll_candidates(d, ret) || poll_report(d, ret);
}

/* zt_pathmgr_migrated, and into the node's counters what it changed: a move carried
 * out (for reason), a first direct path, an attempt that ended on the relay. */
static void pm_migrated(struct zt_direct *d, uint64_t now, enum zt_path_kind to, bool ok,
			const char *reason)
{
	struct zt_path_stats was = d->pm.stats;

	zt_pathmgr_migrated(&d->pm, now, to, ok);
	if (!d->cfg.counts)
		return;
	if (d->pm.stats.switches != was.switches)
		zt_path_count_switch(d->cfg.counts, to == ZT_PATH_KIND_DIRECT, reason);
	if (!was.time_to_direct && d->pm.stats.time_to_direct)
		zt_path_count_ttd(d->cfg.counts, d->pm.stats.time_to_direct);
	d->cfg.counts->ice_failed += d->pm.stats.ice_failed - was.ice_failed;
}

static void migrated(struct zt_direct *d, uint64_t now)
{
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];

	d->migrating = false;
	d->on_direct = d->migrate_kind == ZT_PATH_KIND_DIRECT;
	d->last_reason = d->migrate_reason;
	pm_migrated(d, now, d->migrate_kind, true, d->migrate_reason);
	DLOG(d, ZT_NODE_INFO, "path_switch",
	     "session=%08x service=%s to=%s local=%s remote=%s reason=%s rtt_before_us=%" PRIu64
	     " switches=%u time_to_direct_ms=%" PRIu64,
	     d->cfg.session_id, d->cfg.service, d->on_direct ? "direct" : "relay",
	     d->on_direct ? zt_addr_str(&d->migrate_to.local, a) : "relay",
	     zt_addr_str(&d->migrate_to.remote, b), d->migrate_reason,
	     (uint64_t)(d->rtt_before / ZT_US), d->pm.stats.switches,
	     (uint64_t)(d->pm.stats.time_to_direct / ZT_MS));
	path_report(d, d->migrate_reason);
}

static void try_migrate(struct zt_direct *d, uint64_t now)
{
	if (!d->conn.up) {
		/* ICE ran beside the end-to-end handshake and was faster: the connection
		 * moves once it is up (the session's own handshake timeout bounds this) */
		d->migrate_retry = now + MIGRATE_RETRY;
		d->migrate_until = now + MIGRATE_GIVE_UP;
		return;
	}
	d->move_due = true;
}

static void drive(struct zt_direct *d, uint64_t now);
static void mtu_check(struct zt_direct *d, uint64_t now);

static void move_outcome(struct zt_direct *d, uint64_t now, int rc)
{
	if (rc == ZT_DIRECT_ALREADY) {
		migrated(d, now);
		return;
	}
	if (rc == 0) {
		d->rtt_before = d->rtt_moving;
		migrated(d, now);
		return;
	}
	if (rc == -EAGAIN && now < d->migrate_until) {
		d->migrate_retry = now + MIGRATE_RETRY;
		return;
	}
	d->migrating = false;
	DLOG(d, ZT_NODE_WARN, "path_switch_refused", "session=%08x to=%s reason=%s error=\"%s\"",
	     d->cfg.session_id, d->migrate_kind == ZT_PATH_KIND_DIRECT ? "direct" : "relay",
	     d->migrate_reason, zt_strerror(rc));
	pm_migrated(d, now, d->migrate_kind, false, d->migrate_reason);
}

void zt_direct_moved(struct zt_direct *d, uint64_t now, int rc, const struct zt_quic_path *to)
{
	if (!d->migrating)
		return;
	d->migrate_to = *to;
	move_outcome(d, now, rc);
	drive(d, now);
}

int zt_direct_poll_move(struct zt_direct *d, uint64_t now, struct zt_direct_move *ret)
{
	(void)now;
	if (!d->migrating || !d->move_due)
		return 0;
	d->move_due = false;
	d->rtt_moving = d->conn.srtt;
	*ret = (struct zt_direct_move){ .kind = d->migrate_kind, .to = d->migrate_to,
					.reason = d->migrate_reason };
	return 1;
}

static void request_migrate(struct zt_direct *d, uint64_t now, enum zt_path_kind kind,
			    const struct zt_quic_path *to, const char *reason)
{
	d->migrating = true;
	d->migrate_kind = kind;
	d->migrate_to = to ? *to : (struct zt_quic_path){ 0 };
	d->migrate_reason = reason;
	d->migrate_until = now + MIGRATE_GIVE_UP;
	try_migrate(d, now);
}

/* Carries out the path manager's decisions; keeps ICE's keepalive in step. */
static void drive(struct zt_direct *d, uint64_t now)
{
	struct zt_path_decision dec;
	struct zt_quic_path path;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	uint64_t iv, to;

	if (!d->cfg.agent || !d->conn.exists)
		return;
	if (d->migrating && !d->move_due && now >= d->migrate_retry)
		try_migrate(d, now);
	mtu_check(d, now);
	/* a move asked for goes first: the rest comes with its outcome (zt_direct_moved) */
	while (!d->move_due && zt_pathmgr_poll(&d->pm, now, &dec)) {
		switch (dec.action) {
		case ZT_PATH_ACT_START_ICE:
			DLOG(d, ZT_NODE_INFO, "path_decision", "session=%08x action=start-ice reason=%s",
			     d->cfg.session_id, dec.reason);
			if (new_generation(d, now, d->gen + 1) == 0) {
				zt_pathmgr_ice_started(&d->pm, now);
				if (d->cfg.counts)
					d->cfg.counts->ice_started++;
			}
			break;
		case ZT_PATH_ACT_GO_DIRECT:
			path = (struct zt_quic_path){ .local = dec.pair.local.addr,
						      .remote = dec.pair.remote.addr };
			DLOG(d, ZT_NODE_INFO, "path_decision",
			     "session=%08x action=go-direct reason=%s local=%s remote=%s remote_type=%s",
			     d->cfg.session_id, dec.reason, zt_addr_str(&path.local, a),
			     zt_addr_str(&path.remote, b), zt_cand_type_name(dec.pair.remote.type));
			request_migrate(d, now, ZT_PATH_KIND_DIRECT, &path, dec.reason);
			break;
		case ZT_PATH_ACT_GO_RELAY:
			DLOG(d, ZT_NODE_INFO, "path_decision",
			     "session=%08x action=go-relay reason=%s in_flight=%" PRIu64
			     " ms_since_direct_rx=%" PRIu64 " srtt_us=%" PRIu64,
			     d->cfg.session_id, dec.reason, d->pm.bytes_in_flight,
			     (uint64_t)(now > d->pm.last_direct_rx ? (now - d->pm.last_direct_rx) / ZT_MS : 0),
			     (uint64_t)(d->pm.srtt / ZT_US));
			/* the dead generation's late events are noise from here on */
			zt_ice_free(d->ice);
			d->ice = NULL;
			d->cands_due = false;
			request_migrate(d, now, ZT_PATH_KIND_RELAY, NULL, dec.reason);
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

static bool same_path(const struct zt_quic_path *a, const struct zt_quic_path *b)
{
	return zt_addr_equal(&a->local, &b->local) && zt_addr_equal(&a->remote, &b->remote);
}

static size_t base_payload(const struct zt_addr *remote)
{
	return remote->family == AF_INET6 ? ZT_DIRECT_BASE_V6 : ZT_DIRECT_BASE_V4;
}

/* ICE's probes of the selected pair ended: their result is kept for the pair. */
static void mtu_found(struct zt_direct *d, const struct zt_cand_pair *pair)
{
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	const struct zt_ice_stats *st = zt_ice_stats(d->ice);
	size_t mtu = zt_ice_path_mtu(d->ice, NULL), base = base_payload(&pair->remote.addr);

	d->mtu_path = (struct zt_quic_path){ .local = pair->local.addr, .remote = pair->remote.addr };
	d->mtu_size = mtu > base ? mtu : base;
	DLOG(d, ZT_NODE_INFO, "path_mtu",
	     "session=%08x local=%s remote=%s payload=%zu confirmed=%zu probes=%" PRIu64
	     " answered=%" PRIu64,
	     d->cfg.session_id, zt_addr_str(&pair->local.addr, a),
	     zt_addr_str(&pair->remote.addr, b), d->mtu_size, mtu, st->mtu_probes_sent,
	     st->mtu_probes_answered);
}

size_t zt_direct_payload(const struct zt_direct *d, const struct zt_quic_path *path, bool dgrams)
{
	size_t base = base_payload(&path->remote), mtu;
	struct zt_cand_pair pair;
	bool final;

	if (d->mtu_size && same_path(path, &d->mtu_path))
		return d->mtu_size;
	if (d->ice && zt_ice_selected(d->ice, &pair) == 0 &&
	    zt_addr_equal(&pair.local.addr, &path->local) &&
	    zt_addr_equal(&pair.remote.addr, &path->remote)) {
		mtu = zt_ice_path_mtu(d->ice, &final);
		if (!dgrams || final)
			return mtu > base ? mtu : base;
	}
	return dgrams ? ZT_DIRECT_FULL : base;
}

/* Agent: a connection with DATAGRAMs needs the relay's size on its direct path
 * (zt_direct_payload). */
static void mtu_check(struct zt_direct *d, uint64_t now)
{
	if (d->on_direct && d->conn.dgrams && !d->migrating && d->pm.state == ZT_PATHMGR_DIRECT &&
	    zt_direct_payload(d, &d->conn.path, true) < ZT_DIRECT_FULL)
		zt_pathmgr_path_too_small(&d->pm, now);
}

/* ICE events: logged; on the agent, fed to the path manager. */
static void ice_events(struct zt_direct *d, uint64_t now)
{
	struct zt_ice_event ev;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	const struct zt_ice_stats *st;
	uint32_t id = d->cfg.session_id;

	while (d->ice && zt_ice_poll_event(d->ice, &ev)) {
		st = zt_ice_stats(d->ice);
		switch (ev.type) {
		case ZT_ICE_EV_SELECTED:
			birthday_stop(d, "selected");
			DLOG(d, ZT_NODE_INFO, "ice_selected",
			     "session=%08x generation=%u local=%s remote=%s remote_type=%s predicted=%u"
			     " checks=%" PRIu64 " retransmits=%" PRIu64 " ms_since_start=%" PRIu64,
			     id, d->gen, zt_addr_str(&ev.pair.local.addr, a),
			     zt_addr_str(&ev.pair.remote.addr, b), zt_cand_type_name(ev.pair.remote.type),
			     ev.pair.remote.predicted,
			     st->checks_sent, st->retransmits,
			     (uint64_t)(now > st->start_time ? (now - st->start_time) / ZT_MS : 0));
			break;
		case ZT_ICE_EV_FAILED:
			DLOG(d, ZT_NODE_INFO, "ice_failed",
			     "session=%08x generation=%u pairs=%zu checks=%" PRIu64 " responses=%" PRIu64
			     " dropped_auth=%" PRIu64,
			     id, d->gen, zt_ice_pair_count(d->ice), st->checks_sent,
			     st->responses_received, st->dropped_auth);
			break;
		case ZT_ICE_EV_CONSENT_LOST:
			DLOG(d, ZT_NODE_WARN, "ice_consent_lost", "session=%08x generation=%u remote=%s",
			     id, d->gen, zt_addr_str(&ev.pair.remote.addr, b));
			break;
		case ZT_ICE_EV_PRFLX:
			DLOG(d, ZT_NODE_DEBUG, "ice_peer_reflexive", "session=%08x remote=%s", id,
			     zt_addr_str(&ev.pair.remote.addr, b));
			break;
		case ZT_ICE_EV_ROLE_CHANGE:
			DLOG(d, ZT_NODE_WARN, "ice_role_change", "session=%08x controlling=%d", id,
			     ev.controlling);
			break;
		case ZT_ICE_EV_PATH_MTU:
			mtu_found(d, &ev.pair);
			break;
		}
		if (d->cfg.agent) {
			uint32_t failed = d->pm.stats.ice_failed;

			zt_pathmgr_ice_event(&d->pm, now, &ev);
			if (d->cfg.counts)
				d->cfg.counts->ice_failed += d->pm.stats.ice_failed - failed;
		}
	}
	drive(d, now);
}

/* ---- entry points ---- */

void zt_direct_ready(struct zt_direct *d, uint64_t now)
{
	if (!d->cfg.agent)
		return;
	if (d->began) { /* the handshake is done now: a waiting migration may go */
		drive(d, now);
		return;
	}
	d->began = true;
	zt_pathmgr_init(&d->pm, d->cfg.path, now);
	if (d->cfg.path->direct_disabled) {
		DLOG(d, ZT_NODE_INFO, "path_decision", "session=%08x action=stay-relay reason=direct-disabled",
		     d->cfg.session_id);
		return;
	}
	zt_pathmgr_begin(&d->pm, now);
	drive(d, now);
}

void zt_direct_stop(struct zt_direct *d)
{
	zt_ice_free(d->ice);
	d->ice = NULL;
	d->migrating = false;
	d->move_due = false;
	d->cands_due = false;
}

void zt_direct_free(struct zt_direct *d)
{
	if (!d)
		return;
	zt_direct_stop(d);
	free(d);
}

/* The connector answers an agent's new generation with one of its own. */
static bool follow_generation(struct zt_direct *d, uint64_t now, uint32_t generation)
{
	if (d->cfg.agent || generation <= d->gen)
		return true;
	if (d->ice && now < d->gen_at + GEN_MIN_INTERVAL) {
		DLOG(d, ZT_NODE_WARN, "candidates_limited", "session=%08x generation=%u reason=too-frequent",
		     d->cfg.session_id, generation);
		return false;
	}
	return new_generation(d, now, generation) == 0;
}

/* The peer's TCP candidates: not ICE's; srflx ones first (a host one works only on
 * one network). */
static void add_tcp_remote(struct zt_direct *d, const struct zt_cand *c)
{
	size_t at = d->ntcp_remote;

	if (at == ZT_DIRECT_MAX_TCP)
		return;
	for (size_t i = 0; i < d->ntcp_remote; i++)
		if (zt_addr_equal(&d->tcp_remote[i], &c->addr))
			return;
	if (c->type == ZT_CAND_SRFLX) {
		memmove(d->tcp_remote + 1, d->tcp_remote, at * sizeof(d->tcp_remote[0]));
		at = 0;
	}
	d->tcp_remote[at] = c->addr;
	d->ntcp_remote++;
}

size_t zt_direct_tcp_remote(const struct zt_direct *d, struct zt_addr *out, size_t cap)
{
	for (size_t i = 0; i < d->ntcp_remote && i < cap; i++)
		out[i] = d->tcp_remote[i];
	return d->ntcp_remote;
}

void zt_direct_candidates(struct zt_direct *d, uint64_t now, const struct zt_ctrl_candidates *c)
{
	uint32_t id = d->cfg.session_id;
	unsigned added = 0;

	if (d->cfg.path->direct_disabled || !follow_generation(d, now, c->generation))
		return;
	if (!d->ice || c->generation != d->gen)
		return; /* a stale generation */
	if (++d->cands_msgs > CANDS_MSGS_PER_GEN) {
		if (!d->cands_limited)
			DLOG(d, ZT_NODE_WARN, "candidates_limited",
			     "session=%08x generation=%u reason=too-many-messages", id, d->gen);
		d->cands_limited = true;
		return;
	}
	if (!d->creds_set) {
		if (zt_ice_set_remote_credentials(d->ice, c->ufrag, c->pwd) < 0) {
			DLOG(d, ZT_NODE_WARN, "candidates_rejected", "session=%08x reason=bad-credentials",
			     id);
			return;
		}
		d->creds_set = true;
	}
	for (unsigned i = 0; i < c->n_cands; i++) {
		int rc;

		if (c->cands[i].transport == ZT_CAND_TCP_SO) {
			add_tcp_remote(d, &c->cands[i]);
			continue;
		}
		if (c->cands[i].predicted && d->cfg.no_predict)
			continue;
		rc = zt_ice_add_remote(d->ice, &c->cands[i]);
		added += rc == 0;
		if (rc == ZT_ECAND_LIMIT && !d->cands_limited) {
			DLOG(d, ZT_NODE_WARN, "candidates_limited",
			     "session=%08x generation=%u reason=too-many-candidates max=%u", id, d->gen,
			     d->cfg.max_remote);
			d->cands_limited = true;
		}
	}
	if (c->nat_mapping)
		d->peer_mapping = c->nat_mapping;
	if (c->nat_ports)
		d->peer_ports = c->nat_ports;
	if (c->observed.family)
		d->peer_observed = c->observed;
	if (c->end_of_candidates)
		zt_ice_remote_done(d->ice);
	DLOG(d, ZT_NODE_DEBUG, "remote_candidates", "session=%08x generation=%u got=%u added=%u end=%d",
	     id, d->gen, c->n_cands, added, c->end_of_candidates);
	ice_events(d, now);
}

/* ---- birthday probing (docs/hard-nat.md, core/birthday.h) ---- */

/* Our role, from what both ends say of their NATs: spray when ours maps per
 * destination with random ports and the peer's maps independently; probe the other
 * way round. The target is where the Intermediate sees the peer, never an address
 * the peer names. */
static enum zt_birthday_role birthday_role(const struct zt_direct *d)
{
	const struct zt_direct_addrs *ad = d->cfg.addrs;
	bool we_random = ad->nat_mapping >= ZT_CTRL_NAT_MAP_ADDRESS &&
			 ad->nat_ports == ZT_CTRL_NAT_PORTS_RANDOM;
	bool they_random = d->peer_mapping >= ZT_CTRL_NAT_MAP_ADDRESS &&
			   d->peer_ports == ZT_CTRL_NAT_PORTS_RANDOM;

	if (d->cfg.no_probe || !d->peer_observed.family)
		return 0;
	if (we_random && d->peer_mapping == ZT_CTRL_NAT_MAP_INDEPENDENT && ad->nspray)
		return ZT_BIRTHDAY_SPRAY;
	if (they_random && ad->nat_mapping == ZT_CTRL_NAT_MAP_INDEPENDENT)
		return ZT_BIRTHDAY_PROBE;
	return 0;
}

/* The probes wait this long after the coordinated start: the peer's spray (at most
 * ZT_BIRTHDAY_SOCKETS at ZT_BIRTHDAY_SPRAY_RATE) opens its mappings first. */
#define PROBE_DELAY (300 * ZT_MS)

static void birthday_start(struct zt_direct *d, uint64_t at)
{
	const struct zt_direct_addrs *ad = d->cfg.addrs;
	struct zt_birthday_config pc = { .role = birthday_role(d), .target = d->peer_observed,
				      .rng = *d->cfg.rng, .start = at };
	int rc;

	d->probing = false;
	if (!pc.role)
		return;
	if (pc.role == ZT_BIRTHDAY_SPRAY) {
		pc.locals = ad->spray;
		pc.nlocals = ad->nspray;
		pc.count = (unsigned)ad->nspray;
		pc.rate = ZT_BIRTHDAY_SPRAY_RATE;
	} else {
		d->probe_local = host_of(ad, pc.target.family);
		pc.locals = &d->probe_local;
		pc.nlocals = 1;
		pc.count = d->cfg.probe_count ? d->cfg.probe_count : ZT_BIRTHDAY_COUNT;
		pc.rate = d->cfg.probe_rate ? d->cfg.probe_rate : ZT_BIRTHDAY_RATE;
		pc.start = at + PROBE_DELAY;
	}
	rc = zt_birthday_init(&d->probe, &pc);
	d->probing = rc == 0;
	/* ICE waits for the probes (ours, or the peer's at our defaults) and 5 s more */
	if (d->probing) {
		unsigned m = d->cfg.probe_count ? d->cfg.probe_count : ZT_BIRTHDAY_COUNT;
		uint32_t r = d->cfg.probe_rate ? d->cfg.probe_rate : ZT_BIRTHDAY_RATE;
		zt_ice_set_fail_timeout(d->ice, PROBE_DELAY + (uint64_t)m * ZT_SEC / r + 5 * ZT_SEC);
	}
	DLOG(d, rc < 0 ? ZT_NODE_WARN : ZT_NODE_INFO, "birthday_start",
	     "session=%08x generation=%u role=%s count=%u rate=%u target=%s",
	     d->cfg.session_id, d->gen, pc.role == ZT_BIRTHDAY_SPRAY ? "spray" : "probe", pc.count,
	     pc.rate, zt_addr_str(&pc.target, (char[ZT_ADDR_STRLEN]){ 0 }));
}

static void birthday_stop(struct zt_direct *d, const char *why)
{
	if (!d->probing)
		return;
	d->probing = false;
	zt_birthday_stop(&d->probe);
	DLOG(d, ZT_NODE_INFO, "birthday_stop", "session=%08x generation=%u sent=%" PRIu64 " reason=%s",
	     d->cfg.session_id, d->gen, d->probe.st.sent, why);
}

/* The next spray or probe datagram, an ICE-authenticated Binding request. */
static int birthday_send(struct zt_direct *d, uint64_t now, uint8_t *buf, size_t cap,
			 struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	int n;

	if (!d->probing)
		return 0;
	if (zt_birthday_done(&d->probe)) {
		birthday_stop(d, "all-sent");
		return 0;
	}
	if (!zt_birthday_poll(&d->probe, now, ret_local, ret_remote))
		return 0;
	n = zt_ice_build_probe(d->ice, buf, cap);
	return n > 0 ? n : 0;
}

int zt_direct_start(struct zt_direct *d, uint64_t now, uint64_t at, uint32_t generation)
{
	int rc;

	if (!d->ice || generation != d->gen)
		return -ESRCH;
	rc = zt_ice_start(d->ice, at);
	if (rc < 0)
		DLOG(d, ZT_NODE_WARN, "ice_start", "session=%08x generation=%u error=\"%s\"",
		     d->cfg.session_id, generation, zt_strerror(rc));
	else
		DLOG(d, ZT_NODE_INFO, "ice_start", "session=%08x generation=%u in_ms=%" PRIu64,
		     d->cfg.session_id, generation, (uint64_t)(at > now ? (at - now) / ZT_MS : 0));
	if (rc == 0)
		birthday_start(d, at);
	return rc;
}

bool zt_direct_owns(const struct zt_direct *d, const uint8_t *pkt, size_t len)
{
	return d->ice && zt_ice_match(d->ice, pkt, len);
}

int zt_direct_stun(struct zt_direct *d, uint64_t now, const struct zt_addr *local,
		   const struct zt_addr *from, const uint8_t *pkt, size_t len)
{
	int rc;

	if (!zt_direct_owns(d, pkt, len))
		return 0;
	rc = zt_ice_recv(d->ice, now, local, from, pkt, len);
	ice_events(d, now);
	return rc < 0 ? rc : 1;
}

void zt_direct_rx(struct zt_direct *d, uint64_t now, const struct zt_addr *from)
{
	struct zt_cand_pair sel;

	if (d->cfg.agent)
		zt_pathmgr_direct_rx(&d->pm, now);
	if (d->ice && zt_ice_selected(d->ice, &sel) == 0 && zt_addr_equal(&sel.remote.addr, from))
		zt_ice_note_alive(d->ice, now);
}

void zt_direct_tx(struct zt_direct *d, uint64_t now)
{
	if (d->cfg.agent)
		zt_pathmgr_direct_tx(&d->pm, now);
}

/* Agent: a failed validation of the direct path. ngtcp2 0.12.1 leaves a connection
 * that migrated at once (as the session does) on the path whose validation failed;
 * only a migration it validates first falls back. The path may well work (under
 * loss, all four PATH_CHALLENGEs of a validation can be lost): the connection stays
 * on it, still judged by the stall rule, which moves it to the relay if nothing comes
 * back. The old code took it for back on the relay while it was not: a dead direct
 * path then kept the session without a byte until the next ICE attempt (ztna-sim
 * --case 201350 --real --max-loss 200000: 30 s). */
static void agent_path_failed(struct zt_direct *d, uint64_t now)
{
	if (!zt_quic_is_relay_addr(&d->conn.path.local)) {
		DLOG(d, ZT_NODE_WARN, "path_validation_failed",
		     "session=%08x staying=direct judged_by=stall-rule", d->cfg.session_id);
		return;
	}
	d->on_direct = false;
	d->last_reason = "path-validation-failed";
	pm_migrated(d, now, ZT_PATH_KIND_DIRECT, false, d->last_reason);
	pm_migrated(d, now, ZT_PATH_KIND_RELAY, true, d->last_reason);
	DLOG(d, ZT_NODE_WARN, "path_switch", "session=%08x to=relay reason=path-validation-failed",
	     d->cfg.session_id);
	path_report(d, d->last_reason);
	drive(d, now);
}

void zt_direct_path_result(struct zt_direct *d, uint64_t now, const struct zt_quic_path *path,
			   bool ok)
{
	bool direct = !zt_quic_is_relay_addr(&path->local);

	if (d->cfg.agent) {
		if (!ok && direct && d->on_direct)
			agent_path_failed(d, now);
		return;
	}
	/* connector: the client moved the connection; we followed */
	if (ok && direct != d->on_direct) {
		d->on_direct = direct;
		d->switches++;
		d->last_reason = direct ? "agent-migrated" : "agent-fell-back";
		zt_path_count_switch(d->cfg.counts, direct, d->last_reason);
		if (direct && !d->time_to_direct && d->first_start) {
			d->time_to_direct = now > d->first_start ? now - d->first_start : 1;
			zt_path_count_ttd(d->cfg.counts, d->time_to_direct);
		}
		DLOG(d, ZT_NODE_INFO, "path_switch", "session=%08x service=%s to=%s reason=%s switches=%u",
		     d->cfg.session_id, d->cfg.service, direct ? "direct" : "relay", d->last_reason,
		     d->switches);
	}
}

int zt_direct_poll_send(struct zt_direct *d, uint64_t now, uint8_t *buf, size_t cap,
			struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	int n;

	if (!d->ice)
		return 0;
	n = zt_ice_poll_send(d->ice, now, buf, cap, ret_local, ret_remote);
	return n ? n : birthday_send(d, now, buf, cap, ret_local, ret_remote);
}

void zt_direct_on_timeout(struct zt_direct *d, uint64_t now)
{
	if (d->ice && zt_ice_next_deadline(d->ice) <= now)
		zt_ice_on_timeout(d->ice, now);
	if (d->cfg.agent && d->conn.exists) {
		zt_pathmgr_conn_state(&d->pm, now, d->conn.bytes_in_flight, d->conn.srtt,
				      d->conn.pto_count);
		zt_pathmgr_peer_elsewhere(&d->pm, now, d->conn.nudges_unanswered);
	}
	ice_events(d, now);
}

uint64_t zt_direct_next_deadline(const struct zt_direct *d)
{
	uint64_t t = ZT_TIME_NEVER, x;

	if (d->ice)
		t = zt_ice_next_deadline(d->ice);
	if (d->ice && d->probing && (x = zt_birthday_next_deadline(&d->probe)) < t)
		t = x;
	if (d->cfg.agent) {
		x = zt_pathmgr_next_deadline(&d->pm);
		if (x < t)
			t = x;
		if (d->migrating && !d->move_due && d->migrate_retry < t)
			t = d->migrate_retry;
	}
	return t;
}

void zt_direct_netchange(struct zt_direct *d, uint64_t now)
{
	if (d->cfg.agent)
		zt_pathmgr_netchange(&d->pm, now);
}

bool zt_direct_on_direct(const struct zt_direct *d)
{
	return d->on_direct;
}

void zt_direct_info(const struct zt_direct *d, struct zt_direct_info *ret)
{
	*ret = (struct zt_direct_info){ .generation = d->gen, .ice_state = "none",
					.last_reason = d->last_reason };
	if (d->ice) {
		ret->ice_state = zt_ice_state_name(zt_ice_state(d->ice));
		ret->checks_sent = zt_ice_stats(d->ice)->checks_sent;
		ret->retransmits = zt_ice_stats(d->ice)->retransmits;
		ret->responses = zt_ice_stats(d->ice)->responses_received;
		ret->pairs = zt_ice_pair_count(d->ice);
	}
	if (d->cfg.agent) {
		ret->manager = zt_pathmgr_state_name(d->pm.state);
		ret->switches = d->pm.stats.switches;
		ret->time_to_direct = d->pm.stats.time_to_direct;
	} else {
		ret->manager = "follows";
		ret->switches = d->switches;
		ret->time_to_direct = d->time_to_direct;
	}
}
