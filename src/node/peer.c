/* Agent/connector core: the outer connection, control messages, demultiplexing,
 * sending. Sessions, channels and flows are in session.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/version.h"
#include "core/err.h"
#include "core/units.h"
#include "node/peer.h"
#include "node/peer_int.h"
#include "quic/pki.h"

static const struct zt_outer_callbacks outer_cb;

static uint64_t or_default(uint64_t v, uint64_t def)
{
	return v ? v : def;
}

static const char *role_name(const struct zt_peer *p)
{
	return p->cfg.role == ZT_CTRL_ROLE_AGENT ? "agent" : "connector";
}

/* The outer connection. */

static void qlog_done(struct zt_peer *p, void *h)
{
	if (h && p->cfg.qlog_write)
		p->cfg.qlog_write(h, "", 0, true);
}

static void schedule_retry(struct zt_peer *p, uint64_t now)
{
	p->state = ZT_PEER_BACKOFF;
	p->retry_at = now + zt_backoff_next(&p->backoff, p->cfg.rng);
}

static const char *transport_name(const struct zt_peer *p)
{
	return zt_outer_kind_name(zt_peer_outer_kind(p));
}

/* The outer path's local address towards remote: the socket's, or on a dual-stack
 * socket ([::] taking both families) the wildcard of remote's family, so a path never
 * mixes families (the kernel picks the source address). */
static struct zt_addr outer_local(const struct zt_peer *p, const struct zt_addr *remote)
{
	struct zt_addr l = p->cfg.local;

	if (!l.family || (l.family != remote->family && zt_addr_is_any(&l)))
		l = (struct zt_addr){ .family = remote->family, .port = l.port };
	return l;
}

/* The outer QUIC connection's address: he.addrs[i] (the family race's pick) becomes
 * the Intermediate's address everything else uses. */
static void use_address(struct zt_peer *p, int i)
{
	p->cfg.intermediate = p->he.addrs[i];
	p->addrs.intermediate = p->he.addrs[i];
	p->outer_path = (struct zt_quic_path){ .local = outer_local(p, &p->he.addrs[i]),
					       .remote = p->he.addrs[i] };
	p->outer_he = i;
}

static int connect_quic(struct zt_peer *p, uint64_t now, const struct zt_quic_path *path,
			struct zt_outer **ret)
{
	struct zt_quic_config qc = {
		.tls = p->cfg.outer_tls,
		.rng = p->cfg.rng,
		.max_udp_payload = ZT_QUIC_OUTER_UDP_PAYLOAD,
		.idle_timeout = p->cfg.outer_idle_timeout,
		.handshake_timeout = p->cfg.handshake_timeout,
		.keepalive = p->cfg.outer_keepalive,
		.dgram_queue = 512,
		/* Control only on streams: small windows. */
		.stream_window = 64 * 1024,
		.stream_window_max = 256 * 1024,
		.conn_window = 128 * 1024,
		.conn_window_max = 512 * 1024,
		.max_streams_bidi = 4,
		.stream_sndbuf = 128 * 1024,
		.cidmap = p->outer_map,
	};
	char label[64];

	p->outer_qlog = NULL;
	if (p->cfg.qlog_open && p->cfg.qlog_write) {
		snprintf(label, sizeof(label), "outer-%" PRIu64, p->st.connects + 1);
		p->outer_qlog = p->cfg.qlog_open(p->cfg.qlog_arg, label);
		if (p->outer_qlog) {
			qc.qlog = p->cfg.qlog_write;
			qc.qlog_arg = p->outer_qlog;
		}
	}
	return zt_outer_connect_quic(ret, &qc, p->cfg.intermediate_name, path, &outer_cb, p, now);
}

static int connect_tcp(struct zt_peer *p, uint64_t now, struct zt_outer **ret)
{
	struct zt_tcpouter_config tc = {
		.tls = p->cfg.outer_tls_tcp,
		.peer_name = p->cfg.intermediate_name,
		.handshake_timeout = p->cfg.handshake_timeout,
		.idle_timeout = p->cfg.outer_idle_timeout,
		.keepalive = p->cfg.outer_keepalive,
		.dgram_high = 512 * 1400,
	};
	struct zt_quic_path path = { .local = { .family = p->cfg.intermediate_tcp.family },
				     .remote = p->cfg.intermediate_tcp };
	int rc = zt_outer_new_tcp(ret, &tc, &path, &outer_cb, p, now);

	if (rc == 0)
		p->tcp_gen++;
	return rc;
}

/* The other outer connection, for the transport race or a UDP probe, is dropped. */
static void measure_end(struct zt_peer *p, bool ok);

static void alt_drop(struct zt_peer *p)
{
	zt_outer_free(p->alt);
	p->alt = NULL;
	p->alt_he = -1;
	p->moving = false;
	p->alt_home = false;
	if (p->alt_measure) /* (a connection that ended first: its measure is lost) */
		measure_end(p, false);
}

/* While connecting, alt takes the outer connection's place (it won a race, or the
 * outer one failed); from the family race, with its address. */
static void promote_alt(struct zt_peer *p)
{
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	int from = p->outer_he, to = p->alt_he;

	zt_outer_free(p->outer);
	p->relay_probing = false; /* a new connection: its keepalive as configured */
	p->outer = p->alt;
	p->alt = NULL;
	p->alt_he = -1;
	if (to < 0) {
		p->outer_he = -1;
		return;
	}
	use_address(p, to);
	PLOG(p, ZT_NODE_INFO, "outer_family", "intermediate=%s instead_of=%s why=\"%s\"",
	     zt_addr_str(&p->he.addrs[to], a), from >= 0 ? zt_addr_str(&p->he.addrs[from], b) : "-",
	     "the other family's handshake did not complete first");
}

static void connect_outer(struct zt_peer *p, uint64_t now)
{
	char ia[ZT_ADDR_STRLEN];
	bool tcp = p->cfg.transport == ZT_PEER_TRANSPORT_TCP;
	const struct zt_addr *to = tcp ? &p->cfg.intermediate_tcp : &p->cfg.intermediate;
	int rc;

	zt_outer_free(p->outer);
	p->relay_probing = false; /* a new connection: its keepalive as configured */
	p->outer = NULL;
	alt_drop(p);
	p->login_refused = false; /* channels opened during this try wait for it */
	p->st.connects++;
	p->connect_at = now;
	/* auto: QUIC first, TLS/TCP too when QUIC has no handshake after tcp_delay */
	p->race_at = p->cfg.transport == ZT_PEER_TRANSPORT_AUTO ? now + p->cfg.tcp_delay
								 : ZT_TIME_NEVER;
	p->probe_at = ZT_TIME_NEVER;
	/* RFC 8305: the preferred family first, the other one when it is slow */
	if (zt_he_start(&p->he, now) == 0)
		use_address(p, 0);
	if (tcp)
		p->outer_he = -1;
	rc = tcp ? connect_tcp(p, now, &p->outer) : connect_quic(p, now, &p->outer_path, &p->outer);
	if (rc < 0) {
		p->outer = NULL;
		qlog_done(p, p->outer_qlog);
		schedule_retry(p, now);
		PLOG(p, ZT_NODE_ERROR, "connect_failed",
		     "intermediate=%s transport=%s err=\"%s\" retry_in_ms=%" PRIu64,
		     zt_addr_str(to, ia), transport_name(p), zt_strerror(rc),
		     (uint64_t)((p->retry_at - now) / ZT_MS));
		return;
	}
	p->state = ZT_PEER_CONNECTING;
	PLOG(p, ZT_NODE_DEBUG, "connecting", "intermediate=%s transport=%s attempt=%u",
	     zt_addr_str(to, ia), transport_name(p), p->backoff.attempts + 1);
}

/* Ends of the outer connection that another try soon would only repeat (node/peer.h,
 * struct zt_peer_refusal): wait long, say why and what fixes it. */
static bool login_refusal(int err)
{
	return err == ZT_EAUTH || err == ZT_ETLS || err == ZT_EREPLACED || err == ZT_EPOLICY ||
	       err == ZT_ENOTSERVER;
}

static const char *login_fix(int err)
{
	switch (err) {
	case ZT_EAUTH:
		return "check the token (--token or --token-file) and that the Intermediate lists "
		       "this identity with it (--client KIND:NAME:TOKEN)";
	case ZT_ETLS:
		return "check the CA (--ca), our certificate and key (--cert, --key or --pki) and "
		       "the Intermediate's name (--intermediate-name)";
	case ZT_EREPLACED:
		return "another program logged in with this identity: stop it, or give each "
		       "program its own name and certificate";
	default:
		return "the Intermediate's policy refuses this identity or its services: see its log";
	}
}

static void login_refused(struct zt_peer *p, int err, const char *text, bool was_ready)
{
	struct zt_peer_refusal *r = &p->login;

	/* a connection that stayed up that long ends the series: start from 5 s again */
	if (was_ready && p->now >= p->welcome_at + p->cfg.refusal_backoff_max) {
		zt_backoff_reset(&p->login_backoff);
		r->count = 0;
	}
	p->state = ZT_PEER_BACKOFF;
	p->retry_at = p->now + zt_backoff_next(&p->login_backoff, p->cfg.rng);
	p->login_refused = true;
	r->code = err;
	snprintf(r->text, sizeof(r->text), "%s", text);
	r->at = p->now;
	r->retry_at = p->retry_at;
	r->count++;
	PLOG(p, ZT_NODE_ERROR, "login_refused",
	     "err=%d error=\"%s\" reason=\"%s\" refusals=%u retry_in_ms=%" PRIu64 " fix=\"%s\"", -err,
	     zt_strerror(err), text, r->count, (uint64_t)((p->retry_at - p->now) / ZT_MS),
	     login_fix(err));
	zt_psession_outer_down(p, false);
	zt_psession_login_refused(p);
	if (p->cb.refused)
		p->cb.refused(p, p->cfg.arg, r);
	if (p->cb.down)
		p->cb.down(p, p->cfg.arg, err, text, p->retry_at);
}

/* The outer connection ended: log why, end relayed sessions, schedule a retry. */
/* What went wrong last with the outer connection, for status (zt_peer_last_error). */
static void note_error(struct zt_peer *p, int err, const char *transport, const char *text)
{
	p->last_err = err ? err : ZT_EPEER;
	p->last_err_at = p->now;
	snprintf(p->last_err_text, sizeof(p->last_err_text), "%s: %s", transport, text);
}

/* Several Intermediates (cfg.failover): the next one in turn becomes the one in use,
 * tried at once (the backoff starts over). */
static void failover(struct zt_peer *p)
{
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	size_t from = p->imd_at;

	if (p->n_imds < 2)
		return;
	p->imd_at = (p->imd_at + 1) % p->n_imds;
	p->cfg.intermediate = p->imds[p->imd_at];
	p->cfg.intermediate_alt = p->imd_at ? (struct zt_addr){ 0 } : p->home_alt;
	zt_he_init(&p->he, (const struct zt_addr[]){ p->cfg.intermediate, p->cfg.intermediate_alt },
		   2, p->cfg.eyeballs_delay);
	p->outer_path.local = outer_local(p, &p->cfg.intermediate);
	p->outer_path.remote = p->cfg.intermediate;
	if (p->tcp_derived) {
		p->cfg.intermediate_tcp = p->cfg.intermediate;
		p->cfg.intermediate_tcp.port = 443;
	}
	zt_backoff_reset(&p->backoff);
	p->failovers++;
	PLOG(p, ZT_NODE_WARN, "intermediate_failover", "from=%s to=%s home=%s",
	     zt_addr_str(&p->imds[from], a), zt_addr_str(&p->cfg.intermediate, b),
	     p->imd_at ? "no" : "yes");
}

static void outer_down(struct zt_peer *p, int err, const char *text);

/* Away from home (a failover): now and then a QUIC handshake with the home, nothing
 * more (alt, alt_home); when one completes, the home is back: the login goes there as
 * after a failover (the connection in use is closed, sessions kept and asked for again
 * there), so that clients return to the Intermediate they were given first once it
 * is up again, instead of staying wherever a failure left them. */
static void home_timers(struct zt_peer *p, uint64_t now)
{
	struct zt_quic_path *path = &p->alt_path;

	if (p->state != ZT_PEER_READY || !p->imd_at || p->alt || p->moving || now < p->home_at ||
	    !p->outer || !zt_outer_quic(p->outer))
		return;
	p->home_at = p->cfg.home_retry ? now + p->cfg.home_retry : ZT_TIME_NEVER;
	path->remote = p->imds[0];
	path->local = outer_local(p, &path->remote);
	if (path->local.family != path->remote.family || connect_quic(p, now, path, &p->alt) < 0) {
		p->alt = NULL;
		return;
	}
	p->alt_home = true;
	p->st.home_probes++;
}

/* The next Intermediate to measure after i (not the one in use), or n_imds. */
static size_t measure_next(const struct zt_peer *p, size_t i)
{
	while (++i < p->n_imds && i == p->imd_at)
		;
	return i;
}

/* The measurements are in: the fastest becomes the home when it beats the one in use
 * by a fifth and 2 ms at least (noise, and one Intermediate's load, move nobody), and
 * the login goes there (home_timers). */
static void measure_done(struct zt_peer *p)
{
	char a[ZT_ADDR_STRLEN], line[256];
	size_t best = p->imd_at, len = 0;
	uint64_t cur = p->hs_time[p->imd_at];
	struct zt_addr home;

	for (size_t i = 0; i < p->n_imds; i++) {
		if (p->hs_time[i] < p->hs_time[best])
			best = i;
		if (len < sizeof(line))
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s=%.1f", i ? "," : "",
						zt_addr_str(&p->imds[i], a),
						p->hs_time[i] == ZT_TIME_NEVER ? -1.0
						: (double)p->hs_time[i] / ZT_MS);
	}
	PLOG(p, ZT_NODE_INFO, "intermediates_measured", "handshake_ms=\"%s\" fastest=%s",
	     line, zt_addr_str(&p->imds[best], a));
	if (best == p->imd_at || cur == ZT_TIME_NEVER || p->hs_time[best] * 5 > cur * 4 ||
	    p->hs_time[best] + 2 * ZT_MS > cur)
		return;
	/* the fastest first, the others after it in the order given */
	home = p->imds[best];
	memmove(&p->imds[1], &p->imds[0], best * sizeof(p->imds[0]));
	p->imds[0] = home;
	p->home_alt = (struct zt_addr){ 0 };
	p->imd_at = p->imd_at < best ? p->imd_at + 1 : p->imd_at;
	p->home_at = p->now; /* home_timers: a handshake with it now, then the move */
}

/* cfg.pick_nearest: one handshake at a time with each other Intermediate (alt,
 * alt_measure), its time kept; then measure_done. */
static void measure_timers(struct zt_peer *p, uint64_t now)
{
	struct zt_quic_path *path = &p->alt_path;

	if (p->state != ZT_PEER_READY || p->alt || p->moving || p->measure_i >= p->n_imds ||
	    !p->outer || !zt_outer_quic(p->outer))
		return;
	path->remote = p->imds[p->measure_i];
	path->local = outer_local(p, &path->remote);
	if (path->local.family != path->remote.family || connect_quic(p, now, path, &p->alt) < 0) {
		p->alt = NULL;
		p->hs_time[p->measure_i] = ZT_TIME_NEVER;
		p->measure_i = measure_next(p, p->measure_i);
		if (p->measure_i >= p->n_imds)
			measure_done(p);
		return;
	}
	p->alt_measure = true;
	p->measure_t0 = now;
}

/* The measuring handshake completed (ok) or failed. */
static void measure_end(struct zt_peer *p, bool ok)
{
	p->hs_time[p->measure_i] = ok ? p->now - p->measure_t0 : ZT_TIME_NEVER;
	p->alt_measure = false;
	p->measure_i = measure_next(p, p->measure_i);
	if (p->measure_i >= p->n_imds)
		measure_done(p);
}

static void home_back(struct zt_peer *p)
{
	char a[ZT_ADDR_STRLEN];

	PLOG(p, ZT_NODE_INFO, "intermediate_home", "home=%s from=%s",
	     zt_addr_str(&p->imds[0], a), zt_addr_str(&p->cfg.intermediate,
						      (char[ZT_ADDR_STRLEN]){ 0 }));
	/* both closed, not freed: the closes go out before the login starts over
	 * (connect_outer frees them); the one in use is told, so it ends our login
	 * there at once, not at its idle timeout, and that we move (ZT_EMOVING): it
	 * keeps our relayed sessions for us as for a lost connection */
	zt_outer_close(p->alt, p->now, 0, "the home Intermediate is back");
	p->alt_home = false;
	p->imd_at = p->n_imds - 1; /* failover() goes on to [0] */
	zt_outer_close(p->outer, p->now, (uint64_t)-ZT_EMOVING, "back to the home Intermediate");
	outer_down(p, ZT_EPEER, "back to the home Intermediate");
}

static void outer_down(struct zt_peer *p, int err, const char *text)
{
	bool was_ready = p->state == ZT_PEER_READY;

	note_error(p, err, transport_name(p), text);
	if (login_refusal(err)) {
		login_refused(p, err, text, was_ready);
		return;
	}
	failover(p);
	schedule_retry(p, p->now);
	PLOG(p, ZT_NODE_WARN, was_ready ? "disconnected" : "connect_failed",
	     "err=%d error=\"%s\" reason=\"%s\" retry_in_ms=%" PRIu64, -err, zt_strerror(err), text,
	     (uint64_t)((p->retry_at - p->now) / ZT_MS));
	zt_psession_outer_down(p, true);
	if (p->cb.down)
		p->cb.down(p, p->cfg.arg, err, text, p->retry_at);
}

static void check_outer(struct zt_peer *p)
{
	struct zt_quic_close_info ci;
	int err;

	if (!p->outer || p->state == ZT_PEER_BACKOFF || zt_outer_state(p->outer) < ZT_QUIC_CLOSING)
		return;
	if (p->moving && p->alt && zt_outer_state(p->alt) < ZT_QUIC_CLOSING)
		return; /* the Intermediate closed it for the move: WELCOME comes on the other */
	if (p->state == ZT_PEER_CONNECTING && p->alt && zt_outer_state(p->alt) < ZT_QUIC_CLOSING) {
		/* the race goes on with the other transport (or family) alone */
		zt_he_failed(&p->he, p->now, p->outer_he);
		promote_alt(p);
		return;
	}
	zt_outer_close_info(p->outer, &ci);
	err = ci.err;
	/* The Intermediate closes with the control protocol's error code (e.g. 1500). */
	if (ci.app && ci.code > 0 && ci.code < 100000)
		err = -(int)ci.code;
	else if (ci.by_peer && ci.err == 0)
		err = ZT_EPEER; /* a Stateless Reset also drains with code 0 */
	if (ci.by_peer)
		p->st.resets_received++;
	outer_down(p, err ? err : ZT_EPEER, ci.reason[0] ? ci.reason : "connection closed");
}

static void close_outer(struct zt_peer *p, int err, const char *why)
{
	if (!p->outer)
		return;
	zt_outer_close(p->outer, p->now, (uint64_t)-err, why);
	outer_down(p, err, why);
}

/* With other Intermediates to go to: since when packets of ours have waited for an
 * answer from the one in use (waiting_since, or its last packet that did something,
 * or our login, the latest of them), or ZT_TIME_NEVER when that does not apply
 * (nothing waits, one Intermediate, not logged in, TLS/TCP, a move under way). */
static uint64_t silent_since(const struct zt_peer *p)
{
	struct zt_quic_conn *q;
	uint64_t t = p->waiting_since, heard;

	if (t == ZT_TIME_NEVER || p->n_imds < 2 || p->state != ZT_PEER_READY || !p->outer ||
	    p->moving || !(q = zt_outer_quic(p->outer)))
		return ZT_TIME_NEVER;
	heard = zt_quic_conn_last_heard(q);
	if (heard > t)
		t = heard;
	return p->welcome_at > t ? p->welcome_at : t;
}

/*
 * A connector whose relayed sender is held by flow control (its agent reads slowly)
 * has nothing in flight when the Intermediate dies: nothing of its waits for an
 * answer, so its silence (check_silence) started only with its keepalive, 25 s on,
 * and the relayed session waited 40 s for it at the next Intermediate. So, with
 * other Intermediates to go to, while relayed data flows and for failover_silence
 * after the last of it, the outer connection's keepalive is failover_silence / 5
 * (3 s): a relaying client is at the next one within 3 + 15 s of a death. Keepalive
 * PINGs and ACKs relayed (RELAY_DATA_MIN) do not count, so an idle relayed session
 * costs no more than before.
 */
#define RELAY_DATA_MIN 256

static void relay_probe(struct zt_peer *p)
{
	struct zt_quic_conn *q = p->outer ? zt_outer_quic(p->outer) : NULL;
	uint64_t iv = p->cfg.failover_silence / 5;
	bool want = q && p->n_imds >= 2 && p->relay_data_at != ZT_TIME_NEVER &&
		    p->now < p->relay_data_at + p->cfg.failover_silence;

	if (!q || want == p->relay_probing)
		return;
	if (!want || iv > p->cfg.outer_keepalive)
		iv = p->cfg.outer_keepalive;
	zt_quic_conn_set_keepalive(q, iv);
	p->relay_probing = want;
}

static void relay_seen(struct zt_peer *p, size_t len)
{
	if (len < RELAY_DATA_MIN || p->n_imds < 2)
		return;
	p->relay_data_at = p->now;
	if (!p->relay_probing)
		relay_probe(p);
}

/*
 * A dead Intermediate is noticed by its silence, not by the idle timeout: with the
 * defaults that was 75 s, and a relayed session whose connector sat at the dead one
 * was lost (its agent's Intermediate waits 30 s for the connector to show up
 * elsewhere, docs/scale-out.md). Left when ack-eliciting packets of ours are in
 * flight and nothing was heard for failover_silence: an idle client's keepalive
 * (25 s) puts one in flight, so at most 40 s; a busy one's at once, so 15 s.
 */
static void check_silence(struct zt_peer *p)
{
	struct zt_quic_conn *q = p->outer ? zt_outer_quic(p->outer) : NULL;
	struct zt_quic_stats st;
	uint64_t since;

	relay_probe(p);
	if (!q || p->n_imds < 2) {
		p->waiting_since = ZT_TIME_NEVER;
		return;
	}
	zt_quic_conn_stats(q, &st);
	if (!st.bytes_in_flight) {
		p->waiting_since = ZT_TIME_NEVER;
		return;
	}
	if (p->waiting_since == ZT_TIME_NEVER ||
	    zt_quic_conn_last_heard(q) > p->waiting_since)
		p->waiting_since = p->now; /* (after an answer: what is in flight is newer) */
	since = silent_since(p);
	if (since != ZT_TIME_NEVER && p->now >= since + p->cfg.failover_silence)
		close_outer(p, ZT_ETIMEOUT, "the Intermediate went silent");
}

/* A control message found the backlog full (zt_peer_ctrl): the Intermediate does not
 * read its control stream. */
static void check_ctrl(struct zt_peer *p)
{
	if (p->outer && p->state != ZT_PEER_BACKOFF && zt_outer_ctrl(p->outer)->overflowed)
		close_outer(p, ZT_EPEER, "the Intermediate does not read its control stream");
}

/* HELLO for a login on o: the relay channel asked for on QUIC only (there is no UDP
 * 5-tuple to bind over TLS/TCP). */
static void fill_hello(struct zt_peer *p, struct zt_ctrl_msg *m, const struct zt_outer *o)
{
	struct zt_ctrl_hello *h = &m->u.hello;

	zt_ctrl_msg_init(m, ZT_CTRL_HELLO);
	h->role = (uint8_t)p->cfg.role;
	snprintf(h->identity, sizeof(h->identity), "%s", p->cfg.name);
	if (p->cfg.token_len) {
		memcpy(h->token, p->cfg.token, p->cfg.token_len);
		h->token_len = (uint16_t)p->cfg.token_len;
	}
	snprintf(h->software, sizeof(h->software), "%s", p->cfg.software);
	for (size_t i = 0; i < p->cfg.n_services; i++)
		snprintf(h->services[h->n_services++], sizeof(h->services[0]), "%s",
			 p->cfg.services[i].name);
	zt_ptun_hello(p, h);
	h->relay_channel = !p->cfg.relay_channel_off && o && zt_outer_quic(o);
}

static void send_hello(struct zt_peer *p)
{
	struct zt_ctrl_msg m;

	fill_hello(p, &m, p->outer);
	p->state = ZT_PEER_HELLO;
	p->welcome_by = p->now + p->cfg.welcome_timeout;
	if (zt_peer_ctrl(p, &m) < 0)
		close_outer(p, ZT_ESTATE, "cannot send HELLO");
}

/* Control messages in. */

/* The address the Intermediate sees us at: a server-reflexive candidate for the direct
 * path (UDP) only when it saw our UDP socket; over TCP it is the TCP connection's
 * mapping, of no use to UDP (no such candidate then: host and peer-reflexive ones). */
static void set_observed(struct zt_peer *p, const struct zt_addr *a)
{
	bool tcp = p->outer && zt_outer_tcp(p->outer);
	bool tcp_direct = tcp && !p->cfg.tcp_direct_off && p->tcp_local.family;

	p->observed_any = *a;
	p->addrs.observed = tcp ? (struct zt_addr){ 0 } : *a;
	/* port prediction counts from the UDP socket's mapping towards the Intermediate */
	if (!tcp)
		zt_portpred_observed(&p->portpred, p->now, a, &p->cfg.intermediate);
	/* the NAT's behaviour (configured or detected anew): portpred, nat_* */
	zt_pnat_observed(p, p->stun_port);
	/* over TCP: the TCP direct path's candidates (tcpdirect.c) */
	p->addrs.tcp_observed = tcp_direct ? *a : (struct zt_addr){ 0 };
	p->addrs.tcp_local = tcp_direct ? p->tcp_local : (struct zt_addr){ 0 };
}

static void on_welcome(struct zt_peer *p, const struct zt_ctrl_welcome *w)
{
	char a[ZT_ADDR_STRLEN];
	struct zt_quic_path op = { 0 };

	if (p->state != ZT_PEER_HELLO) {
		p->st.ctrl_errors++;
		return;
	}
	/* an agent's tunnel addresses, each of its own family or none */
	p->tun4 = w->tun4.family == AF_INET ? w->tun4 : (struct zt_addr){ 0 };
	p->tun6 = w->tun6.family == AF_INET6 ? w->tun6 : (struct zt_addr){ 0 };
	p->tun4.port = p->tun6.port = 0;
	zt_ptun_on_welcome(p, w);
	p->state = ZT_PEER_READY;
	p->client_id = w->client_id;
	p->stun_port = w->stun_port;
	p->chan = w->relay_channel && zt_outer_quic(p->outer);
	set_observed(p, &w->observed);
	p->welcome_at = p->now;
	p->st.welcomes++;
	p->home_at = p->cfg.home_retry ? p->now + p->cfg.home_retry : ZT_TIME_NEVER;
	if (p->cfg.pick_nearest && !p->measure_started && p->n_imds > 1) {
		p->measure_started = true; /* once, after the first login */
		p->measure_i = measure_next(p, (size_t)-1);
	}
	zt_backoff_reset(&p->backoff);
	/* TCP won the race: UDP may only have been slow (a lost Initial, the Intermediate
	 * starting): the first probe comes soon, the next ones every udp_probe */
	p->probe_at = p->cfg.transport == ZT_PEER_TRANSPORT_AUTO && zt_outer_tcp(p->outer)
			      ? p->now + (p->cfg.udp_probe < PEER_FIRST_PROBE ? p->cfg.udp_probe
									: PEER_FIRST_PROBE)
			      : ZT_TIME_NEVER;
	zt_outer_path(p->outer, &op); /* which address (family) the outer connection uses */
	PLOG(p, ZT_NODE_INFO, "connected",
	     "role=%s name=%s client=%016" PRIx64 " observed=%s server=\"%s\" services=%zu transport=%s "
	     "intermediate=%s",
	     role_name(p), p->cfg.name, w->client_id, zt_addr_str(&w->observed, a), w->software,
	     p->cfg.n_services, transport_name(p),
	     zt_addr_str(&op.remote, (char[ZT_ADDR_STRLEN]){ 0 }));
	if (p->tun4.family || p->tun6.family)
		PLOG(p, ZT_NODE_INFO, "tunnel_addresses", "ipv4=%s ipv6=%s",
		     p->tun4.family ? zt_addr_str(&p->tun4, a) : "-",
		     p->tun6.family ? zt_addr_str(&p->tun6, (char[ZT_ADDR_STRLEN]){ 0 }) : "-");
	if (p->cb.ready)
		p->cb.ready(p, p->cfg.arg, &p->observed_any);
	zt_psession_outer_ready(p);
}

static void on_msg(struct zt_peer *p, struct zt_ctrl_msg *m)
{
	struct psession *s;
	char a[ZT_ADDR_STRLEN];

	switch (m->type) {
	case ZT_CTRL_WELCOME:
		on_welcome(p, &m->u.welcome);
		break;
	case ZT_CTRL_ERROR:
		if (m->u.error.request_id) {
			zt_psession_on_error(p, &m->u.error);
			break;
		}
		if (p->state == ZT_PEER_HELLO) {
			p->st.refusals++;
			PLOG(p, ZT_NODE_ERROR, "refused", "code=%u error=\"%s\" text=\"%s\"", m->u.error.code,
			     zt_strerror(-(int)m->u.error.code), m->u.error.text);
			break;
		}
		PLOG(p, ZT_NODE_WARN, "intermediate_error",
		     "code=%u error=\"%s\" text=\"%s\" session=%08" PRIx64, m->u.error.code,
		     zt_strerror(-(int)m->u.error.code), m->u.error.text, m->u.error.session_id);
		break;
	case ZT_CTRL_OBSERVED_ADDRESS:
		if (!zt_addr_equal(&p->observed_any, &m->u.observed.addr))
			PLOG(p, ZT_NODE_INFO, "observed_address", "old=%s new=%s",
			     zt_addr_str(&p->observed_any, a),
			     zt_addr_str(&m->u.observed.addr, (char[ZT_ADDR_STRLEN]){ 0 }));
		set_observed(p, &m->u.observed.addr);
		if (p->cb.observed)
			p->cb.observed(p, p->cfg.arg, &p->observed_any);
		break;
	case ZT_CTRL_SESSION:
		zt_psession_on_session(p, &m->u.session);
		break;
	case ZT_CTRL_CLOSE: {
		s = m->u.close.session_id <= UINT32_MAX
					     ? zt_psession_by_id(p, (uint32_t)m->u.close.session_id)
					     : NULL;
		if (s)
			zt_psession_on_close(s, m->u.close.reason < 100000 ? -(int)m->u.close.reason : ZT_EPEER,
					     m->u.close.text[0] ? m->u.close.text : "closed by the Intermediate");
		break;
	}
	case ZT_CTRL_CANDIDATES:
		zt_psession_candidates(p, &m->u.cands);
		break;
	case ZT_CTRL_START_CHECKS:
		zt_psession_start_checks(p, &m->u.start);
		zt_ptcp_start(p, &m->u.start);
		break;
	case ZT_CTRL_PING: {
		struct zt_ctrl_msg r = *m;
		r.type = ZT_CTRL_PONG;
		r.u.ping.peer_time = p->now;
		zt_peer_ctrl(p, &r);
		break;
	}
	case ZT_CTRL_PONG:
		break;
	case ZT_CTRL_ROUTES:
		zt_ptun_on_routes(p, &m->u.routes);
		break;
	default:
		p->st.ctrl_errors++;
		break;
	}
}

static void read_ctrl(struct zt_peer *p)
{
	struct zt_ctrl_msg m;
	int rc;

	while (p->outer && p->state != ZT_PEER_BACKOFF) {
		rc = zt_ctrlchan_next(zt_outer_ctrl(p->outer), &m);
		if (rc == 0)
			return;
		if (rc == 1) {
			on_msg(p, &m);
			continue;
		}
		p->st.ctrl_errors++;
		if (rc == ZT_EPEER || rc == ZT_ETOOBIG || rc == ZT_ECTRL_VERSION) {
			close_outer(p, rc, "control stream ended");
			return;
		}
		PLOG(p, ZT_NODE_WARN, "ctrl_bad_message", "type=%s err=\"%s\"", zt_ctrl_type_name(m.type),
		     zt_strerror(rc));
	}
}

/* Outer connection callbacks. */

/* The transport race and moves (docs/tcp-transport.md). */

/* The family race (RFC 8305 s5): the next address when the ones before it have not
 * completed their handshake in time, in alt (one at a time beside outer). */
static void family_race(struct zt_peer *p, uint64_t now)
{
	char a[ZT_ADDR_STRLEN];
	int i;

	if (p->state != ZT_PEER_CONNECTING || p->alt || !p->outer || !zt_outer_quic(p->outer) ||
	    (i = zt_he_due(&p->he, now)) < 0)
		return;
	p->alt_path = (struct zt_quic_path){ .local = outer_local(p, &p->he.addrs[i]),
					     .remote = p->he.addrs[i] };
	if (connect_quic(p, now, &p->alt_path, &p->alt) < 0) {
		p->alt = NULL;
		zt_he_failed(&p->he, now, i);
		return;
	}
	p->alt_he = i;
	PLOG(p, ZT_NODE_DEBUG, "connecting", "intermediate=%s transport=udp why=\"no handshake "
	     "with the preferred family yet\"", zt_addr_str(&p->he.addrs[i], a));
}

/* The other connection's handshake is done: it wins the race (no login yet), or the
 * login moves to it (HELLO with our CLIENT_ID; sessions stay as they are). */
static void alt_ready(struct zt_peer *p)
{
	struct zt_ctrl_msg m;

	if (p->alt_home) {
		home_back(p);
		return;
	}
	if (p->alt_measure) {
		measure_end(p, true);
		zt_outer_close(p->alt, p->now, 0, "measured"); /* check_alt frees it */
		return;
	}
	if (p->state == ZT_PEER_CONNECTING) {
		zt_he_won(&p->he, p->alt_he);
		promote_alt(p);
		p->race_at = ZT_TIME_NEVER;
		send_hello(p);
		return;
	}
	if (p->state != ZT_PEER_READY) {
		alt_drop(p);
		return;
	}
	fill_hello(p, &m, p->alt);
	m.u.hello.move_from = p->client_id;
	if (zt_ctrlchan_send(zt_outer_ctrl(p->alt), &m) < 0) {
		alt_drop(p);
		return;
	}
	p->moving = true;
	p->move_by = p->now + p->cfg.welcome_timeout;
}

/* The login moved: the other connection is the outer connection now. */
static void moved(struct zt_peer *p, const struct zt_ctrl_welcome *w)
{
	char a[ZT_ADDR_STRLEN];
	const char *from = transport_name(p);

	zt_outer_free(p->outer);
	p->relay_probing = false; /* a new connection: its keepalive as configured */
	p->outer = p->alt;
	p->alt = NULL;
	p->moving = false;
	p->client_id = w->client_id;
	p->stun_port = w->stun_port;
	p->chan = w->relay_channel && zt_outer_quic(p->outer);
	set_observed(p, &w->observed);
	p->welcome_at = p->now;
	p->st.moves++;
	p->probe_at = p->cfg.transport == ZT_PEER_TRANSPORT_AUTO && zt_outer_tcp(p->outer)
			      ? p->now + p->cfg.udp_probe : ZT_TIME_NEVER;
	PLOG(p, ZT_NODE_INFO, "transport_changed", "from=%s to=%s client=%016" PRIx64 " observed=%s",
	     from, transport_name(p), w->client_id, zt_addr_str(&w->observed, a));
	if (p->cb.observed)
		p->cb.observed(p, p->cfg.arg, &p->observed_any);
	/* a server-reflexive candidate now (or none any more): the sessions gather again */
	zt_psession_netchange(p, p->now);
}

static void read_alt(struct zt_peer *p)
{
	struct zt_ctrl_msg m;
	int rc;

	while (p->alt && (rc = zt_ctrlchan_next(zt_outer_ctrl(p->alt), &m)) != 0) {
		if (rc == 1 && m.type == ZT_CTRL_WELCOME) {
			moved(p, &m.u.welcome);
			return;
		}
		if (rc < 0 || m.type == ZT_CTRL_ERROR) {
			PLOG(p, ZT_NODE_WARN, "move_refused", "code=%u text=\"%s\"",
			     rc < 0 ? (unsigned)-rc : m.u.error.code, rc < 0 ? "" : m.u.error.text);
			alt_drop(p);
			p->probe_at = p->now + p->cfg.udp_probe;
			return;
		}
	}
}

/* The other connection ended before it won or took the login over. */
static void check_alt(struct zt_peer *p)
{
	struct zt_quic_close_info ci;

	if (!p->alt || zt_outer_state(p->alt) < ZT_QUIC_CLOSING)
		return;
	/* in the race, why the other transport failed (a proxy's refusal, ...) is news;
	 * a UDP probe failing on a network that blocks UDP is not */
	zt_outer_close_info(p->alt, &ci);
	PLOG(p, p->state == ZT_PEER_CONNECTING ? ZT_NODE_WARN : ZT_NODE_DEBUG, "transport_failed",
	     "transport=%s err=\"%s\" reason=\"%s\"", zt_outer_kind_name(zt_outer_kind(p->alt)),
	     zt_strerror(ci.err ? ci.err : ZT_EPEER), ci.reason);
	if (p->state == ZT_PEER_CONNECTING)
		note_error(p, ci.err, zt_outer_kind_name(zt_outer_kind(p->alt)), ci.reason);
	zt_he_failed(&p->he, p->now, p->alt_he);
	alt_drop(p);
	if (p->state == ZT_PEER_READY && zt_outer_tcp(p->outer) &&
	    p->cfg.transport == ZT_PEER_TRANSPORT_AUTO)
		p->probe_at = p->now + p->cfg.udp_probe;
}

/* auto: start TLS/TCP when QUIC is slow to answer; while on TCP, try UDP again. */
static void transport_timers(struct zt_peer *p, uint64_t now)
{
	family_race(p, now);
	if (p->state == ZT_PEER_CONNECTING && !p->alt && now >= p->race_at && p->outer &&
	    zt_outer_quic(p->outer)) {
		p->race_at = ZT_TIME_NEVER;
		if (connect_tcp(p, now, &p->alt) < 0)
			p->alt = NULL;
		else
			PLOG(p, ZT_NODE_DEBUG, "connecting", "transport=tcp why=\"no QUIC handshake yet\"");
	}
	if (p->moving && now >= p->move_by) {
		PLOG(p, ZT_NODE_WARN, "move_refused", "code=0 text=\"no WELCOME in time\"");
		alt_drop(p);
		p->probe_at = now + p->cfg.udp_probe;
	}
	if (p->state == ZT_PEER_READY && !p->alt && now >= p->probe_at) {
		p->probe_at = ZT_TIME_NEVER;
		p->st.udp_probes++;
		if (connect_quic(p, now, &p->outer_path, &p->alt) < 0)
			p->alt = NULL;
	}
}

static void ocb_ready(struct zt_outer *o, void *arg)
{
	struct zt_peer *p = arg;

	if (o == p->alt) {
		alt_ready(p);
	} else if (p->state == ZT_PEER_CONNECTING) {
		/* the first family to complete wins: the other attempt goes (RFC 8305 s5) */
		zt_he_won(&p->he, p->outer_he);
		p->hs_time[p->imd_at] = p->now - p->connect_at;
		if (p->alt_he >= 0)
			alt_drop(p);
		send_hello(p);
	}
}

static void ocb_readable(struct zt_outer *o, void *arg)
{
	struct zt_peer *p = arg;

	if (o == p->alt)
		read_alt(p);
	else
		read_ctrl(p);
}

static void ocb_dgram(struct zt_outer *o, void *arg, const uint8_t *data, size_t len)
{
	struct zt_peer *p = arg;
	uint32_t id;
	int n;
	(void)o;

	n = zt_relay_hdr_read(data, len, &id);
	if (n < 0) {
		p->st.relay_dropped_malformed++;
		return;
	}
	relay_seen(p, len - (size_t)n);
	zt_psession_relay_in(p, id, data + n, len - (size_t)n);
}

/* The relay channel (docs/relay-channel.md): agreed at this login, which is up on QUIC. */
static bool chan_on(const struct zt_peer *p)
{
	return p->chan && p->state == ZT_PEER_READY && p->outer && zt_outer_quic(p->outer);
}

/* Channel data: taken only with the channel on and from the outer connection's
 * remote address (the Intermediate), then handled like a DATAGRAM's payload. */
static void chan_in(struct zt_peer *p, const struct zt_addr *from, const uint8_t *pkt,
		    size_t len)
{
	struct zt_quic_path op;
	uint32_t id;

	if (!chan_on(p)) {
		p->st.relay_chan_dropped++;
		return;
	}
	zt_outer_path(p->outer, &op);
	if (!zt_addr_equal(from, &op.remote) || zt_relay_chan_read(pkt, len, &id) < 0) {
		p->st.relay_chan_dropped++;
		return;
	}
	p->st.relay_chan_in++;
	relay_seen(p, len - ZT_RELAY_CHAN_HDR_LEN);
	zt_psession_relay_in(p, id, pkt + ZT_RELAY_CHAN_HDR_LEN, len - ZT_RELAY_CHAN_HDR_LEN);
}

/* Whether a relayed packet may go as channel data now: not when the outer connection
 * has sent nothing ack-eliciting for ZT_RELAY_CHAN_REFRESH, so that the Intermediate
 * sees our current address (a NAT rebinding) at least that often while we relay. */
static bool chan_fresh(const struct zt_peer *p, uint64_t now)
{
	uint64_t last = zt_quic_conn_last_ack_eliciting(zt_outer_quic(p->outer));

	if (last == ZT_TIME_NEVER || (p->chan_dgram_at != ZT_TIME_NEVER && p->chan_dgram_at > last))
		last = p->chan_dgram_at;
	return last != ZT_TIME_NEVER && now < last + ZT_RELAY_CHAN_REFRESH;
}

static const struct zt_outer_callbacks outer_cb = {
	.ready = ocb_ready,
	.ctrl_readable = ocb_readable,
	.datagram = ocb_dgram,
};

/* Creation. */

static int check_config(const struct zt_peer_config *cfg)
{
	if (!cfg->name || !cfg->rng || !cfg->outer_tls || !cfg->intermediate.family ||
	    zt_tls_ctx_side(cfg->outer_tls) != ZT_TLS_CLIENT || cfg->token_len > ZT_CTRL_TOKEN_MAX ||
	    strlen(cfg->name) > ZT_CTRL_STR_MAX)
		return -EINVAL;
	if (cfg->transport != ZT_PEER_TRANSPORT_UDP &&
	    (!cfg->outer_tls_tcp || zt_tls_ctx_side(cfg->outer_tls_tcp) != ZT_TLS_CLIENT))
		return -EINVAL;
	if (cfg->role == ZT_CTRL_ROLE_AGENT) {
		if (!cfg->inner_tls || zt_tls_ctx_side(cfg->inner_tls) != ZT_TLS_CLIENT)
			return -EINVAL;
	} else if (cfg->role == ZT_CTRL_ROLE_CONNECTOR) {
		if (!cfg->n_services || cfg->n_services > ZT_CTRL_SERVICES_MAX)
			return -EINVAL;
		for (size_t i = 0; i < cfg->n_services; i++)
			if (!cfg->services[i].name || !zt_pki_name_valid(cfg->services[i].name) ||
			    !cfg->services[i].tls ||
			    zt_tls_ctx_side(cfg->services[i].tls) != ZT_TLS_SERVER)
				return -EINVAL;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* The connection ID maps, the packet tunnel's and the TCP direct path's parts. */
static int make_parts(struct zt_peer *p)
{
	int rc = zt_quic_cidmap_new(&p->inner_map, p->cfg.rng);

	if (rc < 0)
		return rc;
	rc = zt_quic_cidmap_new(&p->outer_map, p->cfg.rng);
	if (rc < 0)
		goto fail_inner;
	p->hooks = &zt_ptun_hooks;
	rc = zt_ptun_init(p);
	if (rc < 0)
		goto fail_outer;
	rc = zt_ptcp_init(p);
	if (rc < 0)
		goto fail_tun;
	return 0;
fail_tun:
	zt_ptun_fini(p);
fail_outer:
	zt_quic_cidmap_free(p->outer_map);
fail_inner:
	zt_quic_cidmap_free(p->inner_map);
	return rc;
}

int zt_peer_new(struct zt_peer **ret, const struct zt_peer_config *cfg, uint64_t now)
{
	struct zt_peer *p;
	int rc;

	rc = check_config(cfg);
	if (rc < 0)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	p->addrs.local = cfg->local;
	p->addrs.intermediate = cfg->intermediate;
	p->addrs.nat_mapping = cfg->nat_mapping;
	p->addrs.nat_ports = cfg->nat_ports;
	zt_natprobe_init(&p->natprobe);
	p->addrs.spray = cfg->spray;
	p->addrs.nspray = cfg->nspray;
	if (cfg->cb)
		p->cb = *cfg->cb;
	p->cfg.cb = NULL;
	if (!p->cfg.intermediate_name)
		p->cfg.intermediate_name = ZT_PKI_INTERMEDIATE_DNS;
	if (!p->cfg.software)
		p->cfg.software = "ztna " ZT_VERSION;
	/* 25 s like WireGuard's persistent keepalive: below the 30 s that NATs and
	 * conntrack keep an idle UDP mapping at least (RFC 4787 REQ-5 asks for 2 min);
	 * the idle timeout 3 x that, so a lost PING is probed again long before it */
	p->cfg.outer_keepalive = or_default(cfg->outer_keepalive, 25 * ZT_SEC);
	p->cfg.failover_silence = or_default(cfg->failover_silence, 15 * ZT_SEC);
	p->cfg.home_retry = cfg->home_retry; /* 0: stays where a failover left it */
	p->cfg.outer_idle_timeout = or_default(cfg->outer_idle_timeout, 75 * ZT_SEC);
	p->cfg.handshake_timeout = or_default(cfg->handshake_timeout, 10 * ZT_SEC);
	p->cfg.welcome_timeout = or_default(cfg->welcome_timeout, 15 * ZT_SEC);
	p->cfg.inner_idle_timeout = or_default(cfg->inner_idle_timeout, 60 * ZT_SEC);
	/* the direct path's keepalive: the inner connection's PING keeps both NATs'
	 * mappings and ICE consent fresh (node/direct.c) */
	p->cfg.inner_keepalive = or_default(cfg->inner_keepalive,
					    or_default(cfg->path.ka_idle, 25 * ZT_SEC));
	p->cfg.open_timeout = or_default(cfg->open_timeout, 10 * ZT_SEC);
	p->cfg.flow_idle = or_default(cfg->flow_idle, 60 * ZT_SEC);
	p->cfg.max_flows = (size_t)or_default(cfg->max_flows, 1024);
	p->cfg.pending_dgrams = (size_t)or_default(cfg->pending_dgrams, 64);
	p->cfg.refusal_backoff_max = or_default(cfg->refusal_backoff_max, 300 * ZT_SEC);
	p->cfg.tcp_delay = or_default(cfg->tcp_delay, 300 * ZT_MS);
	p->cfg.udp_probe = or_default(cfg->udp_probe, 30 * ZT_SEC);
	zt_backoff_init(&p->backoff, cfg->backoff_min, cfg->backoff_max);
	zt_backoff_init(&p->login_backoff, 5 * ZT_SEC, p->cfg.refusal_backoff_max);
	p->cfg.check_candidates = (uint32_t)or_default(cfg->check_candidates, 16);
	p->cfg.agent_max_sessions = (size_t)or_default(cfg->agent_max_sessions, 16);
	p->cfg.agent_max_flows = (size_t)or_default(cfg->agent_max_flows, 1024);
	p->cfg.agent_max_sockets = (size_t)or_default(cfg->agent_max_sockets, 1024);
	p->cfg.agent_max_bytes = or_default(cfg->agent_max_bytes, 32 << 20);
	p->cfg.agent_max_pps = (uint32_t)or_default(cfg->agent_max_pps, 100000);
	zt_check_budget_init(&p->checks,
			     &(struct zt_check_budget_config){ .session_rate = cfg->check_rate,
							       .dest_rate = cfg->check_rate_dest,
							       .total_rate = cfg->check_rate_total },
			     now);
	rc = make_parts(p);
	if (rc < 0) {
		free(p);
		return rc;
	}
	zt_quic_relay_addr(&p->relay_local, cfg->intermediate.family, ZT_RELAY_PATH_ID);
	zt_he_init(&p->he, (const struct zt_addr[]){ cfg->intermediate, cfg->intermediate_alt }, 2,
		   cfg->eyeballs_delay);
	p->outer_he = p->alt_he = -1;
	p->outer_path.local = outer_local(p, &cfg->intermediate);
	p->outer_path.remote = cfg->intermediate;
	if (!p->cfg.intermediate_tcp.family) {
		p->cfg.intermediate_tcp = cfg->intermediate;
		p->cfg.intermediate_tcp.port = 443;
		p->tcp_derived = true;
	}
	p->imds[0] = cfg->intermediate;
	p->home_alt = cfg->intermediate_alt;
	p->n_imds = 1;
	p->waiting_since = ZT_TIME_NEVER;
	p->relay_anchor = cfg->intermediate;
	for (size_t i = 0; i < cfg->n_failover && i < ZT_PEER_FAILOVER_MAX; i++)
		if (cfg->failover[i].family)
			p->imds[p->n_imds++] = cfg->failover[i];
	p->measure_i = p->n_imds; /* none to measure (cfg.pick_nearest: after a login) */
	p->next_flow = 1;
	p->next_request = zt_rng_u64(cfg->rng) >> 16;
	p->tick = ZT_TIME_NEVER;
	p->chan_dgram_at = ZT_TIME_NEVER;
	p->relay_data_at = ZT_TIME_NEVER;
	p->now = now;
	connect_outer(p, now);
	*ret = p;
	return 0;
}

void zt_peer_free(struct zt_peer *p)
{
	if (!p)
		return;
	while (p->sessions)
		zt_psession_free(p->sessions);
	zt_outer_free(p->outer);
	zt_outer_free(p->alt);
	zt_quic_cidmap_free(p->inner_map);
	zt_quic_cidmap_free(p->outer_map);
	zt_ptun_fini(p);
	zt_ptcp_fini(p);
	zt_ppm_fini(p);
	free(p);
}

/* Driving. */

int zt_peer_recv(struct zt_peer *p, uint64_t now, const struct zt_addr *local,
		 const struct zt_addr *from, const uint8_t *pkt, size_t len)
{
	struct zt_quic_conn *c;
	struct zt_quic_path path;

	if (!local->family || !from->family)
		return -EINVAL;
	p->now = now;
	p->st.dgrams_in++;
	if (len == 0) {
		p->st.dropped_garbage++;
		return 0;
	}
	/* the gateway's port-mapping answers (first byte 0 or 2: not STUN) */
	if (zt_ppm_recv(p, now, from, pkt, len))
		return 0;
	if (pkt[0] < 4) {
		/* RFC 9443: STUN, the answer to NAT detection or for the ICE agent of the
		 * session it belongs to. */
		if (zt_pnat_recv(p, now, from, pkt, len))
			return 0;
		if (zt_psession_stun(p, now, local, from, pkt, len) != 1)
			p->st.dropped_stun++;
		check_ctrl(p);
		zt_psession_deliver(p);
		zt_psession_reap(p);
		return 0;
	}
	if (zt_relay_is_chan(pkt, len)) {
		chan_in(p, from, pkt, len);
		zt_psession_deliver(p);
		zt_psession_reap(p);
		return 0;
	}
	if (!(pkt[0] & 0x40)) {
		p->st.dropped_garbage++;
		return 0;
	}
	if (zt_addr_equal(from, &p->cfg.intermediate)) {
		/* Always on the one outer path, whatever local address the kernel reports. */
		/* by connection ID (two during a race or a move), else the outer connection's:
		 * a Stateless Reset carries none of ours */
		c = zt_quic_cidmap_lookup_pkt(p->outer_map, pkt, len);
		if (!c && p->outer)
			c = zt_outer_quic(p->outer);
		if (!c || zt_quic_conn_recv(c, now, &p->outer_path, pkt, len) == ZT_EMALFORMED)
			p->st.dropped_outer++;
		check_alt(p);
		check_outer(p);
	} else if (p->alt && (p->alt_he >= 0 || p->alt_home || p->alt_measure) &&
		   zt_addr_equal(from, &p->alt_path.remote)) {
		/* the family race's other attempt, or a handshake with the home or one to
		 * measure, on its own path */
		c = zt_quic_cidmap_lookup_pkt(p->outer_map, pkt, len);
		if (!c)
			c = zt_outer_quic(p->alt);
		if (!c || zt_quic_conn_recv(c, now, &p->alt_path, pkt, len) == ZT_EMALFORMED)
			p->st.dropped_outer++;
		check_alt(p);
		check_outer(p);
	} else {
		c = zt_quic_cidmap_lookup_pkt(p->inner_map, pkt, len);
		if (!c) {
			p->st.dropped_unknown++;
			return 0;
		}
		path = (struct zt_quic_path){ .local = *local, .remote = *from };
		if (zt_quic_conn_recv(c, now, &path, pkt, len) == ZT_EMALFORMED)
			p->st.dropped_unknown++;
		else if (zt_quic_conn_arg(c) && zt_quic_conn_rx_authentic(c))
			/* only a packet that decrypted proves the path (consent, the
			 * stall rule): anyone can send one with a connection ID seen */
			zt_psession_direct_rx(zt_quic_conn_arg(c), now, from);
	}
	zt_psession_deliver(p);
	zt_psession_reap(p);
	return 0;
}

/* A relayed packet (in p->scratch after the channel header's room) as channel data
 * into buf: returns its length and the outer connection's path in *path. */
static int chan_out(struct zt_peer *p, struct psession *s, size_t n, uint8_t *buf, size_t cap,
		    struct zt_quic_path *path)
{
	size_t len = n + ZT_RELAY_CHAN_HDR_LEN;

	if (len > cap || len > ZT_RELAY_CHAN_MAX) {
		p->st.relay_dropped_queue++;
		return 0;
	}
	zt_relay_chan_write(p->scratch, ZT_RELAY_CHAN_HDR_LEN, s->id);
	memcpy(buf, p->scratch, len);
	zt_outer_path(p->outer, path);
	p->st.relay_out++;
	p->st.relay_chan_out++;
	return (int)len;
}

/* One packet from an inner connection: wrapped for the relay (returns 0 and
 * *wrapped), or a datagram in buf (returns its length): for the direct path, or
 * relay channel data (docs/relay-channel.md). */
static int poll_inner(struct zt_peer *p, struct psession *s, uint64_t now, uint8_t *buf,
		      size_t cap, struct zt_quic_path *path, bool *wrapped)
{
	uint8_t *pkt = p->scratch + ZT_RELAY_CHAN_HDR_LEN;
	uint8_t *dgram = p->scratch + ZT_RELAY_CHAN_HDR_LEN - ZT_RELAY_HDR_LEN;
	bool chan;
	int n;

	*wrapped = false;
	/* the packet size of the connection's current path (docs/direct-path.md) */
	n = zt_quic_conn_poll_send(s->conn, now, pkt, zt_psession_payload(s), path);
	if (n <= 0)
		return 0;
	if (zt_relay_is_tcp_path(&path->local)) {
		*wrapped = true; /* taken (or dropped): poll this session again */
		zt_ptcp_send(p, s, path, pkt, (size_t)n);
		return 0;
	}
	if (!zt_quic_is_relay_addr(&path->local)) {
		if ((size_t)n > cap)
			return 0;
		memcpy(buf, pkt, (size_t)n);
		zt_psession_direct_tx(s, now);
		return n;
	}
	if (!p->outer || p->state != ZT_PEER_READY) {
		*wrapped = true;
		p->st.relay_dropped_queue++;
		return 0;
	}
	relay_seen(p, (size_t)n);
	chan = chan_on(p);
	if (chan && chan_fresh(p, now))
		return chan_out(p, s, (size_t)n, buf, cap, path);
	*wrapped = true;
	zt_relay_hdr_write(dgram, ZT_RELAY_HDR_LEN, s->id);
	if (zt_outer_dgram_send(p->outer, dgram, (size_t)n + ZT_RELAY_HDR_LEN) < 0) {
		p->st.relay_dropped_queue++;
	} else {
		p->st.relay_out++;
		if (chan)
			p->chan_dgram_at = now; /* the outer path refreshed (or about to be) */
	}
	return 0;
}

int zt_peer_poll_send(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
		      struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	struct zt_quic_path path;
	int n;

	if (cap < ZT_QUIC_OUTER_UDP_PAYLOAD)
		return -ENOBUFS;
	p->now = now;
	check_ctrl(p);
	zt_psession_deliver(p);
	if (p->pm_refresh_due) {
		p->pm_refresh_due = false;
		zt_ppm_refresh(p, now);
	}
	n = zt_ppm_poll_send(p, now, buf, cap, ret_local, ret_remote);
	if (n <= 0)
		n = zt_pnat_poll_send(p, now, buf, cap, ret_local, ret_remote);
	if (n > 0) {
		p->st.dgrams_out++;
		return n;
	}
	for (;;) {
		bool produced = false;

		n = zt_psession_poll_stun(p, now, buf, cap, ret_local, ret_remote);
		if (n > 0) {
			p->st.dgrams_out++;
			/* checks are what open new mappings (docs/hard-nat.md); counted
			 * whether or not the NAT is known to be sequential yet */
			zt_portpred_sent(&p->portpred, now, ret_remote);
			return n;
		}
		for (int k = 0; k < 2; k++) {
			struct zt_outer *o = k ? p->alt : p->outer;

			if (!o || !zt_outer_quic(o))
				continue;
			n = zt_quic_conn_poll_send(zt_outer_quic(o), now, buf, cap, &path);
			check_alt(p);
			check_outer(p);
			if (n > 0) {
				*ret_local = path.local;
				*ret_remote = path.remote;
				p->st.dgrams_out++;
				return n;
			}
		}
		/* Inner connections, round robin; stop wrapping while the outer queue is long. */
		if (p->sessions) {
			struct psession *start = p->rr ? p->rr : p->sessions, *s = start;
			do {
				bool wrapped;
				struct psession *next = s->next ? s->next : p->sessions;

				if (s->conn && (!p->outer || zt_outer_dgram_queued(p->outer) < PEER_RELAY_QUEUE)) {
					n = poll_inner(p, s, now, buf, cap, &path, &wrapped);
					if (n > 0) {
						p->rr = next;
						*ret_local = path.local;
						*ret_remote = path.remote;
						p->st.dgrams_out++;
						return n;
					}
					if (wrapped) {
						p->rr = s;
						produced = true;
						break;
					}
				}
				s = next;
			} while (s != start);
		}
		if (!produced)
			break;
	}
	zt_psession_reap(p);
	return 0;
}

uint64_t zt_peer_next_deadline(const struct zt_peer *p)
{
	uint64_t t = zt_psession_next_deadline(p), d;

	if ((d = zt_ptcp_deadline(p)) < t)
		t = d;
	if ((d = zt_ppm_deadline(p)) < t)
		t = d;
	if ((d = zt_pnat_deadline(p)) < t)
		t = d;
	if (p->outer) {
		d = zt_outer_next_deadline(p->outer);
		if (d < t)
			t = d;
	}
	if (p->alt && (d = zt_outer_next_deadline(p->alt)) < t)
		t = d;
	if (p->state == ZT_PEER_CONNECTING && !p->alt && p->race_at < t)
		t = p->race_at;
	if (p->state == ZT_PEER_CONNECTING && !p->alt && p->outer && zt_outer_quic(p->outer) &&
	    (d = zt_he_next_deadline(&p->he)) < t)
		t = d;
	if (p->state == ZT_PEER_READY && !p->alt && p->probe_at < t)
		t = p->probe_at;
	if (p->moving && p->move_by < t)
		t = p->move_by;
	if (p->state == ZT_PEER_BACKOFF && p->retry_at < t)
		t = p->retry_at;
	if (p->state == ZT_PEER_HELLO && p->welcome_by < t)
		t = p->welcome_by;
	if (p->state == ZT_PEER_READY && p->imd_at && !p->alt && p->home_at < t)
		t = p->home_at;
	if (p->state == ZT_PEER_READY && !p->alt && p->measure_i < p->n_imds && p->now < t)
		t = p->now;
	if ((d = silent_since(p)) != ZT_TIME_NEVER && d + p->cfg.failover_silence > p->now &&
	    d + p->cfg.failover_silence < t)
		t = d + p->cfg.failover_silence;
	if (p->outer && p->state != ZT_PEER_BACKOFF && zt_outer_ctrl(p->outer)->overflowed)
		t = 0; /* check_ctrl */
	return t;
}

void zt_peer_on_timeout(struct zt_peer *p, uint64_t now)
{
	p->now = now;
	if (p->outer && zt_outer_next_deadline(p->outer) <= now)
		zt_outer_on_timeout(p->outer, now);
	if (p->alt && zt_outer_next_deadline(p->alt) <= now)
		zt_outer_on_timeout(p->alt, now);
	check_alt(p);
	check_outer(p);
	check_silence(p);
	transport_timers(p, now);
	home_timers(p, now);
	measure_timers(p, now);
	/* The Intermediate rejects a HELLO it did not get in time; its ERROR and close
	 * may be lost as well, and the outer idle timeout is 20 s away. */
	if (p->state == ZT_PEER_HELLO && now >= p->welcome_by)
		close_outer(p, ZT_ETIMEOUT, "no WELCOME in time");
	if (p->state == ZT_PEER_BACKOFF && now >= p->retry_at)
		connect_outer(p, now);
	zt_psession_timers(p, now);
	zt_ptcp_timers(p, now);
	zt_ppm_timers(p, now);
	zt_pnat_timers(p, now);
	check_ctrl(p);
	zt_psession_deliver(p);
	zt_psession_reap(p);
}

void zt_peer_close(struct zt_peer *p, const char *reason)
{
	if (p->outer && zt_outer_state(p->outer) < ZT_QUIC_CLOSING)
		zt_outer_close(p->outer, p->now, 0, reason);
	alt_drop(p);
	zt_ppm_stop(p, p->now); /* the delete goes out with the CONNECTION_CLOSE */
	p->state = ZT_PEER_BACKOFF;
	p->retry_at = ZT_TIME_NEVER;
	for (struct psession *s = p->sessions; s; s = s->next)
		if (s->state != ZT_PEER_S_CLOSED)
			zt_psession_kill(s, 0, reason, false);
}

enum zt_peer_state zt_peer_state(const struct zt_peer *p)
{
	return p->state;
}

struct zt_quic_conn *zt_peer_outer(const struct zt_peer *p)
{
	return p->state == ZT_PEER_BACKOFF || !p->outer ? NULL : zt_outer_quic(p->outer);
}

enum zt_outer_kind zt_peer_outer_kind(const struct zt_peer *p)
{
	if (p->outer)
		return zt_outer_kind(p->outer);
	return p->cfg.transport == ZT_PEER_TRANSPORT_TCP ? ZT_OUTER_TCP : ZT_OUTER_UDP;
}

const struct zt_addr *zt_peer_intermediate(const struct zt_peer *p)
{
	return &p->cfg.intermediate;
}

uint64_t zt_peer_outer_srtt(const struct zt_peer *p)
{
	return p->state == ZT_PEER_BACKOFF || !p->outer ? 0 : zt_outer_srtt(p->outer);
}

/* The TCP connection (docs/tcp-transport.md). */

/* The TCP connection of the outer connection, or of the other one in the race. */
static struct zt_tcpouter *tcp_of(const struct zt_peer *p, uint64_t gen)
{
	if (gen != p->tcp_gen)
		return NULL;
	if (p->outer && zt_outer_tcp(p->outer))
		return zt_outer_tcp(p->outer);
	return p->alt ? zt_outer_tcp(p->alt) : NULL;
}

uint64_t zt_peer_tcp_wanted(const struct zt_peer *p, struct zt_addr *ret_remote)
{
	struct zt_tcpouter *t = tcp_of(p, p->tcp_gen);

	if (!t || zt_tcpouter_state(t) == ZT_QUIC_CLOSED)
		return 0;
	*ret_remote = p->cfg.intermediate_tcp;
	return p->tcp_gen;
}

void zt_peer_tcp_connected(struct zt_peer *p, uint64_t now, uint64_t gen,
			   const struct zt_addr *local)
{
	(void)now;
	if (tcp_of(p, gen)) {
		p->outer_path.local = *local;
		p->tcp_local = *local;
	}
}

int zt_peer_tcp_recv(struct zt_peer *p, uint64_t now, uint64_t gen, const uint8_t *data,
		     size_t len)
{
	struct zt_tcpouter *t = tcp_of(p, gen);
	size_t n;

	if (!t)
		return -ENOENT;
	p->now = now;
	n = zt_tcpouter_feed(t, now, data, len);
	check_alt(p);
	check_outer(p);
	check_ctrl(p);
	zt_psession_deliver(p);
	zt_psession_reap(p);
	return (int)n;
}

int zt_peer_tcp_output(struct zt_peer *p, uint64_t gen, const uint8_t **ret)
{
	struct zt_tcpouter *t = tcp_of(p, gen);

	return t ? (int)zt_tcpouter_output(t, ret) : -ENOENT;
}

void zt_peer_tcp_sent(struct zt_peer *p, uint64_t now, uint64_t gen, size_t n)
{
	struct zt_tcpouter *t = tcp_of(p, gen);

	if (!t)
		return;
	p->now = now;
	zt_tcpouter_sent(t, now, n);
	check_alt(p);
	check_outer(p);
}

void zt_peer_tcp_closed(struct zt_peer *p, uint64_t now, uint64_t gen, int err, const char *why)
{
	struct zt_tcpouter *t = tcp_of(p, gen);

	if (!t)
		return;
	p->now = now;
	zt_tcpouter_eof(t, now, err, why);
	check_alt(p);
	check_outer(p);
}

const struct zt_path_counts *zt_peer_path_counts(const struct zt_peer *p)
{
	return &p->path_counts;
}

void zt_peer_stats(const struct zt_peer *p, struct zt_peer_stats *ret)
{
	*ret = p->st;
	ret->checks_charged = p->checks.st.taken;
	ret->checks_deferred = p->checks.st.deferred;
	ret->sessions = ret->chans = ret->flows = 0;
	for (const struct psession *s = p->sessions; s; s = s->next) {
		ret->sessions += s->state != ZT_PEER_S_CLOSED;
		ret->chans += s->nchans;
		ret->flows += s->nflows;
	}
}

_Static_assert(ZT_PEER_MAX_HOSTS <= ZT_DIRECT_MAX_HOSTS, "host addresses fit the direct path's");

int zt_peer_set_host_addrs(struct zt_peer *p, const struct zt_addr *ips, size_t n)
{
	if (n > ZT_PEER_MAX_HOSTS)
		return -EINVAL;
	memcpy(p->addrs.hosts, ips, n * sizeof(*ips));
	p->addrs.nhosts = n;
	return 0;
}

int zt_peer_last_error(const struct zt_peer *p, char *text, size_t cap, uint64_t *ret_at)
{
	if (!p->last_err)
		return 0;
	snprintf(text, cap, "%s", p->last_err_text);
	*ret_at = p->last_err_at;
	return p->last_err;
}

void zt_peer_tunnel_addrs(const struct zt_peer *p, struct zt_addr *ret4, struct zt_addr *ret6)
{
	*ret4 = p->tun4;
	*ret6 = p->tun6;
}

void zt_peer_netchange(struct zt_peer *p, uint64_t now)
{
	p->now = now;
	zt_psession_netchange(p, now);
}
