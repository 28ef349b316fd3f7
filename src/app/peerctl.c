#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "app/peerctl.h"
#include "app/peerprog.h"
#include "core/err.h"
#include "core/units.h"

#define PING_TIMEOUT_DEFAULT (3000 * ZT_MS)
#define PING_TIMEOUT_MAX (60000 * ZT_MS)
#define PING_RETRY (50 * ZT_MS)

static const char *peer_state_name(enum zt_peer_state s)
{
	switch (s) {
	case ZT_PEER_CONNECTING: return "connecting";
	case ZT_PEER_HELLO: return "hello";
	case ZT_PEER_READY: return "ready";
	case ZT_PEER_BACKOFF: return "backoff";
	}
	return "unknown";
}

static const char *session_state_name(enum zt_peer_session_state s)
{
	switch (s) {
	case ZT_PEER_S_WAITING: return "waiting";
	case ZT_PEER_S_OPENING: return "opening";
	case ZT_PEER_S_CONNECTING: return "connecting";
	case ZT_PEER_S_READY: return "ready";
	case ZT_PEER_S_CLOSED: return "closed";
	}
	return "unknown";
}

/* A peer-supplied text as one quoted key=value value: no quote, backslash or control
 * byte (they would end the value or the line). */
static const char *quotable(const char *in, char *out, size_t cap)
{
	size_t i = 0;

	for (; *in && i + 1 < cap; in++)
		out[i++] = (*in < 0x20 || *in == 0x7f || *in == '"' || *in == '\\') ? '?' : *in;
	out[i] = '\0';
	return out;
}

static uint64_t ms_until(uint64_t t, uint64_t now)
{
	return t > now ? (t - now + ZT_MS - 1) / ZT_MS : 0;
}

/* The refusal lines of status: one per refused service (docs/control-socket.md). */
static void status_refusals(struct zt_peerctl *ctl, struct zt_ctlconn *c, uint64_t now)
{
	struct zt_peer_refusal r[32];
	size_t n = zt_peer_refusals(ctl->pp->peer, r, 32);
	char text[ZT_CTRL_STR_MAX + 1];

	for (size_t i = 0; i < n && i < 32; i++)
		zt_ctl_printf(c, "refusal service=%s code=%d error=\"%s\" text=\"%s\" count=%u ago_ms=%" PRIu64
			      " retry_in_ms=%" PRIu64,
			      r[i].service, -r[i].code, zt_strerror(r[i].code),
			      quotable(r[i].text, text, sizeof(text)), r[i].count,
			      (uint64_t)((now - r[i].at) / ZT_MS), ms_until(r[i].retry_at, now));
}

/* Connector: one line per agent with sessions (docs/control-socket.md). */
static void status_agents(struct zt_peerctl *ctl, struct zt_ctlconn *c)
{
	struct zt_peer_agent_info a[64];
	size_t n = zt_peer_agents(ctl->pp->peer, a, 64);

	for (size_t i = 0; i < n && i < 64; i++)
		zt_ctl_printf(c, "agent identity=%s sessions=%zu chans=%zu flows=%zu bytes=%" PRIu64
			      " refused=%" PRIu64 " tun_dropped=%" PRIu64, a[i].identity, a[i].sessions,
			      a[i].chans, a[i].flows, a[i].bytes, a[i].refused, a[i].tun_dropped);
}

/* The packet tunnel: one line of counters, one per route (docs/control-socket.md). */
static void status_tunnel(struct zt_peerctl *ctl, struct zt_ctlconn *c)
{
	struct zt_peerprog *pp = ctl->pp;
	struct zt_route r[ZT_CTRL_ROUTES_MAX];
	struct zt_peer_stats ps;
	const struct zt_tunshell_stats *ts = &pp->tun.st;
	char text[ZT_ROUTE_STRLEN];
	size_t n;

	if (!pp->tun.tun)
		return;
	zt_peer_stats(pp->peer, &ps);
	n = pp->role == ZT_CTRL_ROLE_AGENT ? zt_peer_tun_routes(pp->peer, r, ZT_CTRL_ROUTES_MAX)
					   : pp->nroutes;
	if (pp->role != ZT_CTRL_ROLE_AGENT)
		memcpy(r, pp->routes, n * sizeof(r[0]));
	zt_ctl_printf(c, "tunnel device=%s mtu=%u routes=%zu in=%" PRIu64 " out=%" PRIu64
		      " dropped_malformed=%" PRIu64 " dropped_too_big=%" PRIu64
		      " dropped_spoofed=%" PRIu64 " dropped_no_route=%" PRIu64 " dropped_rule=%" PRIu64
		      " dropped_no_session=%" PRIu64 " dropped_rate=%" PRIu64 " too_big_sent=%" PRIu64
		      " prohibited_sent=%" PRIu64 " mss_clamped=%" PRIu64
		      " device_rx=%" PRIu64 " device_tx=%" PRIu64 " device_errors=%" PRIu64
		      " route_errors=%" PRIu64 " routes_skipped=%" PRIu64,
		      zt_tunshell_name(&pp->tun), ZT_PEER_TUN_MTU, n, ps.tun_in, ps.tun_out,
		      ps.tun_dropped[ZT_TUN_DROP_MALFORMED], ps.tun_dropped[ZT_TUN_DROP_TOO_BIG],
		      ps.tun_dropped[ZT_TUN_DROP_SPOOFED], ps.tun_dropped[ZT_TUN_DROP_NO_ROUTE],
		      ps.tun_dropped[ZT_TUN_DROP_RULE], ps.tun_dropped[ZT_TUN_PASS],
		      ps.tun_rate_dropped, ps.tun_too_big, ps.tun_prohibited,
		      ps.tun_mss_clamped, ts->rx, ts->tx, ts->rx_errors + ts->tx_errors,
		      ts->route_errors, ts->routes_skipped);
	for (size_t i = 0; i < n && i < ZT_CTRL_ROUTES_MAX; i++)
		if (zt_route_format(&r[i], text, sizeof(text)) > 0)
			zt_ctl_printf(c, "route %s", text);
}

/* Port mapping: one line when the node has a client (docs/control-socket.md). */
static void status_portmap(struct zt_peerctl *ctl, struct zt_ctlconn *c, uint64_t now)
{
	struct zt_portmap_info i;
	const struct zt_portmap_stats *st = &i.st;
	char gw[ZT_ADDR_STRLEN], ext[ZT_ADDR_STRLEN], err[sizeof(i.last_error_text)];
	bool mapped;

	if (zt_peer_portmap_info(ctl->pp->peer, &i) < 0)
		return;
	mapped = i.state == ZT_PORTMAP_MAPPED;
	zt_ctl_printf(c, "portmap state=%s protocol=%s gateway=%s external=%s candidate=%s "
		      "lifetime_s=%u renew_in_ms=%" PRIu64 " expires_in_ms=%" PRIu64
		      " retry_in_ms=%" PRIu64 " requests=%" PRIu64 " retransmits=%" PRIu64
		      " answers=%" PRIu64 " mapped=%" PRIu64 " changed=%" PRIu64 " lost=%" PRIu64
		      " restarts=%" PRIu64 " fallbacks=%" PRIu64 " refused=%" PRIu64
		      " timeouts=%" PRIu64 " clamped=%" PRIu64 " malformed=%" PRIu64
		      " mismatched=%" PRIu64 " unexpected=%" PRIu64 " wrong_source=%" PRIu64
		      " last_error=\"%s\" last_error_ago_ms=%" PRIu64,
		      zt_portmap_state_name(i.state), i.protocol, zt_addr_str(&i.gateway, gw),
		      mapped ? zt_addr_str(&i.external, ext) : "none", mapped ? "srflx" : "none",
		      i.lifetime, mapped ? ms_until(i.renew_at, now) : 0,
		      mapped ? ms_until(i.expires_at, now) : 0,
		      i.state == ZT_PORTMAP_UNAVAILABLE ? ms_until(i.retry_at, now) : 0, st->requests,
		      st->retransmits, st->answers, st->mapped, st->changed, st->lost, st->restarts,
		      st->fallbacks, st->refused, st->timeouts, st->clamped, st->malformed,
		      st->mismatched, st->unexpected, st->wrong_source,
		      i.last_error ? quotable(i.last_error_text, err, sizeof(err)) : "",
		      i.last_error ? (uint64_t)((now - i.last_error_at) / ZT_MS) : 0);
}

/* The UPnP IGD client's line, when it runs (docs/control-socket.md). */
static void status_upnp(struct zt_peerctl *ctl, struct zt_ctlconn *c)
{
	struct zt_upnp_info i;
	const struct zt_upnp_stats *st = &i.st;
	char ext[ZT_ADDR_STRLEN], err[sizeof(i.last_error)];

	if (!ctl->pp->upnp)
		return;
	zt_upnp_info(ctl->pp->upnp, &i);
	zt_ctl_printf(c, "upnp state=%s external=%s lease_s=%u jobs=%" PRIu64 " discoveries=%"
		      PRIu64 " no_igd=%" PRIu64 " mapped=%" PRIu64 " errors=%" PRIu64
		      " bad_answers=%" PRIu64 " clamped=%" PRIu64 " lost=%" PRIu64 " deleted=%"
		      PRIu64 " refreshes=%" PRIu64 " last_error=\"%s\"", i.state,
		      i.mapped ? zt_addr_str(&i.external, ext) : "none", i.lease, st->jobs,
		      st->discoveries, st->no_igd, st->mapped, st->errors, st->bad_answers,
		      st->clamped, st->lost, st->deleted, st->refreshes,
		      quotable(i.last_error, err, sizeof(err)));
}

/* What it was configured with: the agent's forwards, the connector's services. */
static void status_forwards(struct zt_peerctl *ctl, struct zt_ctlconn *c)
{
	const struct zt_peerprog *pp = ctl->pp;
	char a[ZT_ADDR_STRLEN];

	for (size_t i = 0; i < pp->nspecs; i++) {
		const struct zt_fwdspec *s = &pp->specs[i];

		if (pp->role == ZT_CTRL_ROLE_AGENT)
			zt_ctl_printf(c, "forward proto=%s listen=%s service=%s", s->udp ? "udp" : "tcp",
				      zt_addr_str(&s->addr, a), s->service);
		else if (!s->route_only)
			zt_ctl_printf(c, "service name=%s proto=%s target=%s", s->service,
				      s->udp ? "udp" : "tcp", zt_addr_str(&s->addr, a));
	}
}

static void cmd_status(struct zt_peerctl *ctl, struct zt_ctlconn *c, uint64_t now)
{
	struct zt_peerprog *pp = ctl->pp;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN], login[2 * ZT_CTRL_STR_MAX + 256] = "";
	char text[ZT_CTRL_STR_MAX + 1], tun[2 * ZT_ADDR_STRLEN + 24] = "";
	struct zt_addr t4, t6;
	uint64_t err_at = 0;
	uint32_t ids[256];
	size_t n = zt_peer_session_ids(pp->peer, ids, 256);
	enum zt_peer_state st = zt_peer_state(pp->peer);
	struct zt_peer_refusal r;

	if (st != ZT_PEER_READY && zt_peer_refusal(pp->peer, NULL, &r) == 0)
		snprintf(login, sizeof(login), " login_error=%d login_text=\"%s: %s\" login_refusals=%u"
			 " retry_in_ms=%" PRIu64, -r.code, zt_strerror(r.code),
			 quotable(r.text, text, sizeof(text)), r.count, ms_until(r.retry_at, now));
	if (st != ZT_PEER_READY && zt_peer_last_error(pp->peer, text, sizeof(text), &err_at)) {
		char q[sizeof(text)];
		size_t l = strlen(login);
		snprintf(login + l, sizeof(login) - l, " last_error=\"%s\" last_error_ago_ms=%" PRIu64,
			 quotable(text, q, sizeof(q)), (uint64_t)((now - err_at) / ZT_MS));
	}
	zt_peer_tunnel_addrs(pp->peer, &t4, &t6);
	if (t4.family || t6.family)
		snprintf(tun, sizeof(tun), " tunnel4=%s tunnel6=%s",
			 t4.family && zt_addr_format(&t4, false, a, sizeof(a)) > 0 ? a : "-",
			 t6.family && zt_addr_format(&t6, false, b, sizeof(b)) > 0 ? b : "-");
	zt_ctl_printf(c, "node role=%s name=%s state=%s intermediate=%s local=%s sessions=%zu "
		      "transport=%s outer_rtt_us=%" PRIu64 " nat=%s%s%s",
		      pp->role == ZT_CTRL_ROLE_AGENT ? "agent" : "connector", pp->name,
		      peer_state_name(st),
		      zt_addr_str(zt_peer_outer_kind(pp->peer) == ZT_OUTER_TCP ? &pp->pc.intermediate_tcp
									     : zt_peer_intermediate(pp->peer), a),
		      zt_addr_str(&pp->d.io.udp.local, b), n,
		      zt_outer_kind_name(zt_peer_outer_kind(pp->peer)),
		      (uint64_t)(zt_peer_outer_srtt(pp->peer) / ZT_US), zt_peer_nat(pp->peer), tun,
		      login);
	for (size_t i = 0; i < n && i < 256; i++) {
		struct zt_peer_session_info si;
		struct zt_peer_path_info pi;

		if (zt_peer_session_info(pp->peer, ids[i], &si) < 0 ||
		    zt_peer_session_path(pp->peer, ids[i], &pi) < 0)
			continue;
		zt_ctl_printf(c,
			      "session=%08x service=%s peer=%s state=%s path=%s local=%s remote=%s "
			      "rtt_us=%" PRIu64 " time_to_direct_ms=%" PRIu64 " switches=%u "
			      "generation=%u ice=%s ice_pairs=%zu ice_checks=%" PRIu64
			      " ice_responses=%" PRIu64 " payload=%zu manager=%s outer=%s tcp=%s reason=%s",
			      si.id, si.service, si.peer_identity[0] ? si.peer_identity : "-",
			      session_state_name(si.state),
			      pi.tcp ? "direct-tcp" : pi.direct ? "direct" : "relay",
			      pi.direct ? zt_addr_str(&pi.local, a) : "relay",
			      zt_addr_str(&pi.remote, b), (uint64_t)(pi.rtt_ns / ZT_US),
			      (uint64_t)(pi.time_to_direct / ZT_MS), pi.switches, pi.generation,
			      pi.ice_state ? pi.ice_state : "none", pi.ice_pairs, pi.ice_checks,
			      pi.ice_responses, pi.payload, pi.manager ? pi.manager : "-",
			      zt_outer_kind_name(zt_peer_outer_kind(pp->peer)), pi.tcp_state,
			      pi.last_reason && *pi.last_reason ? pi.last_reason : "-");
	}
	status_forwards(ctl, c);
	status_refusals(ctl, c, now);
	status_portmap(ctl, c, now);
	status_upnp(ctl, c);
	status_agents(ctl, c);
	status_tunnel(ctl, c);
	zt_ctl_end(c);
}

static void arm(struct zt_peerctl *ctl, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < ZT_CTL_CONNS; i++) {
		const struct zt_peerctl_ping *g = &ctl->pings[i];
		if (!g->c)
			continue;
		if (g->deadline < next)
			next = g->deadline;
		if (!g->sent && now + PING_RETRY < next)
			next = now + PING_RETRY;
	}
	if (next == UINT64_MAX)
		zt_timer_cancel(ctl->pp->d.loop, &ctl->timer);
	else
		zt_timer_set(ctl->pp->d.loop, &ctl->timer, next);
}

/* Answers g with a refusal and frees the slot. */
static void ping_refused(struct zt_peerctl_ping *g, const struct zt_peer_refusal *r, uint64_t now)
{
	char text[ZT_CTRL_STR_MAX + 1];

	zt_ctl_printf(g->c, "error=refused code=%d text=\"%s: %s\" retry_in_ms=%" PRIu64, -r->code,
		      zt_strerror(r->code), quotable(r->text, text, sizeof(text)),
		      ms_until(r->retry_at, now));
	zt_ctl_end(g->c);
	g->c = NULL;
}

/* Tries to send g's echo; answers and frees the slot on a final error. */
static void ping_try(struct zt_peerctl *ctl, struct zt_peerctl_ping *g, uint64_t now)
{
	int rc = zt_peer_ping(ctl->pp->peer, now, g->service, g->nonce);
	struct zt_peer_refusal r;

	if (rc == 0) {
		g->sent = true;
		zt_nodeio_kick(&ctl->pp->d.io);
		return;
	}
	if (rc == -EAGAIN) {
		zt_nodeio_kick(&ctl->pp->d.io); /* the session may be opening */
		return;
	}
	if ((zt_peer_refusal(ctl->pp->peer, g->service, &r) == 0 && r.code == rc) ||
	    (zt_peer_refusal(ctl->pp->peer, NULL, &r) == 0 && r.code == rc)) {
		ping_refused(g, &r, now);
		return;
	}
	zt_ctl_printf(g->c, "error=%d text=\"%s\"", -rc, zt_strerror(rc));
	zt_ctl_end(g->c);
	g->c = NULL;
}

static void on_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct zt_peerctl *ctl = t->data;
	(void)loop;

	for (size_t i = 0; i < ZT_CTL_CONNS; i++) {
		struct zt_peerctl_ping *g = &ctl->pings[i];
		if (!g->c)
			continue;
		if (now >= g->deadline) {
			zt_ctl_printf(g->c, "error=timeout text=\"no answer from %s %s\"", g->service,
				      g->sent ? "in time" : "(no session yet)");
			zt_ctl_end(g->c);
			g->c = NULL;
			continue;
		}
		if (!g->sent)
			ping_try(ctl, g, now);
	}
	arm(ctl, now);
}

static void cmd_ping(struct zt_peerctl *ctl, struct zt_ctlconn *c, char *args, uint64_t now)
{
	char *service = strtok(args, " \t"), *ms = strtok(NULL, " \t"), *end = NULL;
	uint64_t timeout = PING_TIMEOUT_DEFAULT;
	struct zt_peerctl_ping *g = NULL;

	if (ctl->pp->role != ZT_CTRL_ROLE_AGENT) {
		zt_ctl_printf(c, "error=not-agent text=\"ping is an agent command\"");
		goto answered;
	}
	if (!service || strlen(service) >= sizeof(g->service)) {
		zt_ctl_printf(c, "error=usage text=\"ping SERVICE [TIMEOUT_MS]\"");
		goto answered;
	}
	if (ms) {
		unsigned long v = strtoul(ms, &end, 10);
		if (*end || v == 0 || v * ZT_MS > PING_TIMEOUT_MAX) {
			zt_ctl_printf(c, "error=usage text=\"TIMEOUT_MS is 1 to 60000\"");
			goto answered;
		}
		timeout = v * ZT_MS;
	}
	for (size_t i = 0; i < ZT_CTL_CONNS && !g; i++)
		if (!ctl->pings[i].c)
			g = &ctl->pings[i];
	if (!g) { /* cannot happen: one slot per connection, one command at a time */
		zt_ctl_printf(c, "error=busy text=\"too many pings\"");
		goto answered;
	}
	*g = (struct zt_peerctl_ping){ .c = c, .nonce = ++ctl->nonce_next, .deadline = now + timeout };
	snprintf(g->service, sizeof(g->service), "%s", service);
	ping_try(ctl, g, now);
	arm(ctl, now);
	return;

answered:
	zt_ctl_end(c);
}

static void on_command(void *arg, struct zt_ctlconn *c, char *line, uint64_t now)
{
	struct zt_peerctl *ctl = arg;
	char *cmd, *rest;

	if (!line) { /* the client went away: forget its ping */
		for (size_t i = 0; i < ZT_CTL_CONNS; i++)
			if (ctl->pings[i].c == c)
				ctl->pings[i].c = NULL;
		return;
	}
	cmd = line + strspn(line, " \t");
	rest = cmd + strcspn(cmd, " \t");
	if (*rest)
		*rest++ = '\0';
	if (!strcmp(cmd, "status")) {
		cmd_status(ctl, c, now);
	} else if (!strcmp(cmd, "ping")) {
		cmd_ping(ctl, c, rest, now);
	} else if (!strcmp(cmd, "help")) {
		zt_ctl_printf(c, "commands: status | ping SERVICE [TIMEOUT_MS] | help");
		zt_ctl_end(c);
	} else {
		zt_ctl_printf(c, "error=unknown-command text=\"'%.64s': try help\"", cmd);
		zt_ctl_end(c);
	}
}

void zt_peerctl_pong(struct zt_peerctl *ctl, const char *service, uint64_t nonce, uint64_t rtt_ns,
		     const char *path, const struct zt_addr *remote)
{
	char a[ZT_ADDR_STRLEN];
	bool direct = strcmp(path, "relay") != 0;

	for (size_t i = 0; i < ZT_CTL_CONNS; i++) {
		struct zt_peerctl_ping *g = &ctl->pings[i];
		if (!g->c || g->nonce != nonce || strcmp(g->service, service))
			continue;
		zt_ctl_printf(g->c, "pong service=%s nonce=%" PRIu64 " rtt_ns=%" PRIu64 " path=%s remote=%s"
			      " outer=%s",
			      service, nonce, rtt_ns,
			      path, direct ? zt_addr_str(remote, a) : "relay",
			      ctl->pp ? zt_outer_kind_name(zt_peer_outer_kind(ctl->pp->peer)) : "udp");
		zt_ctl_end(g->c);
		g->c = NULL;
	}
}

void zt_peerctl_refused(struct zt_peerctl *ctl, const struct zt_peer_refusal *r, uint64_t now)
{
	if (!ctl->sock)
		return; /* no control socket */
	for (size_t i = 0; i < ZT_CTL_CONNS; i++) {
		struct zt_peerctl_ping *g = &ctl->pings[i];
		if (g->c && (!r->service[0] || !strcmp(g->service, r->service)))
			ping_refused(g, r, now);
	}
	arm(ctl, now);
}

int zt_peerctl_open(struct zt_peerctl *ctl, struct zt_peerprog *pp, const char *path)
{
	*ctl = (struct zt_peerctl){ .pp = pp, .nonce_next = zt_rng_u32(&pp->d.rng) };
	zt_timer_init(&ctl->timer, on_timer, ctl);
	return zt_ctlsock_open(&ctl->sock, pp->d.loop, path, on_command, ctl);
}

void zt_peerctl_close(struct zt_peerctl *ctl)
{
	if (!ctl->sock)
		return;
	zt_ctlsock_close(ctl->sock);
	ctl->sock = NULL;
	zt_timer_cancel(ctl->pp->d.loop, &ctl->timer);
}
