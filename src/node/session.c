/* Agent/connector sessions: the inner connection of each, its channels and flows. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/list.h"
#include "core/units.h"
#include "node/peer_int.h"
#include "node/session.h"
#include "quic/pki.h"

#define CH_PENDING_READY (1u << 15) /* READY to deliver at the next entry point */
#define FLOW_TICK ZT_SEC
/* A refused OPEN holds this long, doubling with each refusal in a row (node/peer.h). */
#define REFUSAL_FIRST ZT_SEC
#define REFUSAL_TEMP_MAX (30 * ZT_SEC)

static const struct zt_quic_callbacks inner_cb;
static bool chan_io_ok(const struct zt_peer_chan *ch);
static size_t chan_out_update(struct zt_peer_chan *ch);
static void direct_ready(struct psession *s);
static void direct_path(struct psession *s, const struct zt_quic_path *path, bool ok);

static bool is_agent(const struct zt_peer *p)
{
	return p->cfg.role == ZT_CTRL_ROLE_AGENT;
}

void zt_psession_emit(struct psession *s, enum zt_peer_session_event ev)
{
	struct zt_peer *p = s->p;
	struct zt_peer_session_info info;

	if (!p->cb.session)
		return;
	zt_peer_session_info(p, s->id, &info);
	if (!s->id) {
		memset(&info, 0, sizeof(info));
		info.state = s->state;
		snprintf(info.service, sizeof(info.service), "%s", s->service);
	}
	p->cb.session(p, p->cfg.arg, &info, ev);
}

static void chan_emit(struct zt_peer_chan *ch, enum zt_peer_chan_event ev, int code)
{
	struct zt_peer *p = ch->p;

	if (ch->flags & CH_RELEASED)
		return;
	if (p->cb.chan_event)
		p->cb.chan_event(p, p->cfg.arg, ch, ch->arg, ev, code);
}

/* The end-to-end keepalive: the agent's PING, answered by the connector's ACK, keeps
 * both NATs and ICE consent fresh. The connector's comes an eighth later, a backup
 * for an agent that sends none: ends on the same interval fired in the same instant
 * often enough, each a PING and an ACK (twice the cost). */
static void update_keepalive(struct psession *s)
{
	bool want = s->state == ZT_PEER_S_READY && (s->nchans || s->nflows || s->tun_on);
	uint64_t iv = s->p->cfg.inner_keepalive;

	if (!s->conn || want == s->keepalive_on)
		return;
	if (!is_agent(s->p))
		iv += iv / 8;
	zt_quic_conn_set_keepalive(s->conn, want ? iv : 0);
	s->keepalive_on = want;
}

/* Sessions. */

static void send_open(struct psession *s)
{
	struct zt_peer *p = s->p;
	struct zt_ctrl_msg m;

	s->request_id = ++p->next_request;
	zt_ctrl_msg_init(&m, ZT_CTRL_OPEN);
	m.u.open.request_id = s->request_id;
	snprintf(m.u.open.service, sizeof(m.u.open.service), "%s", s->service);
	if (zt_peer_ctrl(p, &m) < 0)
		return;
	p->st.opens++;
	s->state = ZT_PEER_S_OPENING;
	PLOG(p, ZT_NODE_DEBUG, "open", "service=%s request=%016" PRIx64, s->service, s->request_id);
}

struct psession *zt_psession_new(struct zt_peer *p, const char *service)
{
	struct psession *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->p = p;
	s->state = ZT_PEER_S_WAITING;
	snprintf(s->service, sizeof(s->service), "%s", service);
	s->deadline = p->now + p->cfg.open_timeout;
	ZT_LIST_PUSH(p->sessions, s, prev, next);
	if (is_agent(p) && p->state == ZT_PEER_READY)
		send_open(s);
	return s;
}

struct psession *zt_psession_by_id(const struct zt_peer *p, uint32_t id)
{
	for (struct psession *s = p->sessions; s; s = s->next)
		if (s->id == id && id)
			return s;
	return NULL;
}

/* The live session for a service (agent), if any. */
static struct psession *session_for(const struct zt_peer *p, const char *service)
{
	for (struct psession *s = p->sessions; s; s = s->next)
		if (s->state != ZT_PEER_S_CLOSED && !strcmp(s->service, service))
			return s;
	return NULL;
}

/* Refusals (node/peer.h, struct zt_peer_refusal). */

/* Refusals an OPEN is not asked again for soon (docs/control-protocol.md). */
static bool permanent_refusal(int code)
{
	return code == ZT_EAUTH || code == ZT_EPOLICY || code == ZT_ENOSERVICE ||
	       code == ZT_ENOTSERVER;
}

static struct prefusal *refusal_find(const struct zt_peer *p, const char *service)
{
	for (size_t i = 0; i < PEER_REFUSALS; i++)
		if (p->refusals[i].r.service[0] && !strcmp(p->refusals[i].r.service, service))
			return (struct prefusal *)&p->refusals[i];
	return NULL;
}

/* The code of the refusal in force for service (or the login), or 0. */
static int refusal_holds(const struct zt_peer *p, const char *service)
{
	const struct prefusal *r;

	if (p->login_refused)
		return p->login.code;
	r = refusal_find(p, service);
	return r && p->now < r->r.retry_at ? r->r.code : 0;
}

/* Remembers a refused OPEN: holds REFUSAL_FIRST, doubling while they come in a row. */
static struct prefusal *refusal_note(struct zt_peer *p, const char *service, int code,
				     const char *text)
{
	struct prefusal *r = refusal_find(p, service), *oldest = NULL;
	uint64_t max = p->cfg.refusal_backoff_max;

	if (!permanent_refusal(code) && max > REFUSAL_TEMP_MAX)
		max = REFUSAL_TEMP_MAX;
	for (size_t i = 0; !r && i < PEER_REFUSALS; i++) {
		struct prefusal *x = &p->refusals[i];
		if (!x->r.service[0])
			r = x;
		else if (!oldest || x->r.at < oldest->r.at)
			oldest = x;
	}
	if (!r) {
		r = oldest;
		memset(r, 0, sizeof(*r));
	}
	if (!r->step || p->now >= r->r.retry_at + p->cfg.refusal_backoff_max) {
		r->step = REFUSAL_FIRST;
		r->r.count = 0;
	} else {
		r->step *= 2;
	}
	if (r->step > max)
		r->step = max;
	snprintf(r->r.service, sizeof(r->r.service), "%s", service);
	snprintf(r->r.text, sizeof(r->r.text), "%s", text);
	r->r.code = code;
	r->r.at = p->now;
	r->r.retry_at = p->now + r->step;
	r->r.count++;
	return r;
}

static void refusal_forget(struct zt_peer *p, const char *service)
{
	struct prefusal *r = refusal_find(p, service);

	if (r)
		memset(r, 0, sizeof(*r));
}

int zt_peer_refusal(const struct zt_peer *p, const char *service, struct zt_peer_refusal *ret)
{
	const struct prefusal *r;

	if (!service) {
		if (!p->login.code)
			return -ENOENT;
		*ret = p->login;
		return 0;
	}
	r = refusal_find(p, service);
	if (!r)
		return -ENOENT;
	*ret = r->r;
	return 0;
}

size_t zt_peer_refusals(const struct zt_peer *p, struct zt_peer_refusal *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < PEER_REFUSALS; i++) {
		if (!p->refusals[i].r.service[0])
			continue;
		if (n < cap)
			out[n] = p->refusals[i].r;
		n++;
	}
	return n;
}

/* Agent: the session a new channel or flow to service joins (opened if needed), or
 * the code of a refusal in force (no OPEN then). */
static int agent_session(struct zt_peer *p, uint64_t now, const char *service,
			 struct psession **ret)
{
	int code;

	if (!is_agent(p) || !zt_pki_name_valid(service))
		return -EINVAL;
	p->now = now;
	*ret = session_for(p, service);
	if (*ret)
		return 0;
	code = refusal_holds(p, service);
	if (code) {
		p->st.refused_fast++;
		return code;
	}
	if (!(*ret = zt_psession_new(p, service)))
		return -ENOMEM;
	return 0;
}

int zt_psession_for_service(struct zt_peer *p, uint64_t now, const char *service,
			    struct psession **ret)
{
	return agent_session(p, now, service, ret);
}

void zt_psession_tun_used(struct psession *s)
{
	struct zt_peer *p = s->p;

	s->tun_last = p->now;
	if (s->tun_on)
		return;
	s->tun_on = true;
	update_keepalive(s);
	if (p->tick == ZT_TIME_NEVER)
		p->tick = p->now + FLOW_TICK;
}

static void pq_clear(struct psession *s)
{
	while (s->pq_head) {
		struct pdgram *d = s->pq_head;
		s->pq_head = d->next;
		free(d);
	}
	s->pq_tail = NULL;
	s->pq_len = 0;
}

/* Connector: ch's bytes no longer count for its agent. */
static void chan_unhold(struct zt_peer_chan *ch)
{
	struct pagent *a = ch->s->agent;

	if (!a)
		return;
	a->in_held -= ch->in_held < a->in_held ? ch->in_held : a->in_held;
	a->out_queued -= ch->out_queued < a->out_queued ? ch->out_queued : a->out_queued;
	ch->in_held = ch->out_queued = 0;
}

static void chan_unlink_free(struct zt_peer_chan *ch)
{
	struct psession *s = ch->s;

	chan_unhold(ch);
	if (ch->flags & CH_ACCEPTED)
		zt_pagent_release(s->p, s->agent, false);

	ZT_LIST_UNLINK(s->chans, ch, prev, next);
	s->nchans--;
	if (ch->sid >= 0 && s->conn && !(ch->flags & CH_CLOSED))
		zt_quic_stream_set_arg(s->conn, ch->sid, NULL);
	free(ch);
	update_keepalive(s);
}

static void flow_unlink_free(struct zt_peer_flow *f)
{
	struct psession *s = f->s;

	if (f->counted)
		zt_pagent_release(s->p, s->agent, true);

	ZT_LIST_UNLINK(s->flows, f, prev, next);
	s->nflows--;
	free(f);
	update_keepalive(s);
}

static void send_close(struct zt_peer *p, uint64_t id, int reason, const char *text)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_CLOSE);
	m.u.close.session_id = id;
	m.u.close.reason = (uint32_t)-reason;
	snprintf(m.u.close.text, sizeof(m.u.close.text), "%s", text);
	zt_peer_ctrl(p, &m);
}

void zt_psession_kill(struct psession *s, int reason, const char *text, bool tell)
{
	struct zt_peer *p = s->p;
	struct zt_peer_chan *ch, *cnext;
	struct zt_peer_flow *f;
	bool was_ready = s->state == ZT_PEER_S_READY;

	if (s->state == ZT_PEER_S_CLOSED)
		return;
	s->state = ZT_PEER_S_CLOSED;
	s->close_reason = reason;
	/* nothing to re-attach any more: no timer of that kind (zt_psession_timers skips a
	 * closed session, so one left set was a deadline never met: a busy loop until the
	 * session was reaped) */
	s->detached = false;
	s->detach_by = 0;
	s->resume_at = 0;
	if (p->hooks)
		p->hooks->gone(s);
	if (s->direct)
		zt_direct_stop(s->direct);
	/* one whose OPEN was refused was logged by what refused it (open_failed) */
	PLOG(p, !s->id && reason && reason != ZT_ETIMEOUT ? ZT_NODE_DEBUG
	     : reason && reason != ZT_ETIMEOUT ? ZT_NODE_WARN : ZT_NODE_INFO,
	     "session_closed",
	     "session=%08x service=%s peer=%s reason=%d error=\"%s\" text=\"%s\"", s->id, s->service,
	     s->peer_identity[0] ? s->peer_identity : "-", -reason, reason ? zt_strerror(reason) : "none",
	     text);
	if (tell && s->id && p->state == ZT_PEER_READY)
		send_close(p, s->id, reason, text);
	pq_clear(s);
	if (s->conn && zt_quic_conn_state(s->conn) < ZT_QUIC_CLOSING)
		zt_quic_conn_close(s->conn, (uint64_t)-reason, text);
	for (ch = s->chans; ch; ch = cnext) {
		cnext = ch->next;
		if (ch->flags & CH_RELEASED) {
			chan_unlink_free(ch);
			continue;
		}
		ch->flags |= CH_DEAD;
		if (ch->flags & CH_READY) {
			ch->flags &= ~CH_PENDING_READY;
			chan_emit(ch, ZT_PEER_CHAN_RESET, ZT_FWD_SESSION_GONE);
		} else {
			p->st.chans_failed++;
			chan_emit(ch, ZT_PEER_CHAN_FAILED, reason ? reason : ZT_EPEER);
		}
	}
	while ((f = s->flows)) {
		/* Unlinked first: the callback sees a flow that is already gone. */
		ZT_LIST_UNLINK(s->flows, f, prev, next);
		s->nflows--;
		if (f->counted)
			zt_pagent_release(p, s->agent, true);
		if (p->cb.flow_closed)
			p->cb.flow_closed(p, p->cfg.arg, f, f->arg, ZT_EPEER);
		free(f);
	}
	if (s->announced || was_ready)
		zt_psession_emit(s, ZT_PEER_SESSION_CLOSED);
}

void zt_psession_free(struct psession *s)
{
	struct zt_peer *p = s->p;

	while (s->chans)
		chan_unlink_free(s->chans);
	while (s->flows)
		flow_unlink_free(s->flows);
	pq_clear(s);
	if (p->hooks)
		p->hooks->gone(s);
	zt_pagent_detach(p, s->agent);
	s->agent = NULL;
	zt_direct_free(s->direct);
	s->direct = NULL;
	zt_quic_conn_free(s->conn);
	s->conn = NULL;
	if (p->rr == s)
		p->rr = s->next;
	ZT_LIST_UNLINK(p->sessions, s, prev, next);
	free(s);
}

static void check_session(struct psession *s)
{
	struct zt_quic_close_info ci;

	if (!s->conn || s->state == ZT_PEER_S_CLOSED || zt_quic_conn_state(s->conn) < ZT_QUIC_CLOSING)
		return;
	zt_quic_conn_close_info(s->conn, &ci);
	if (ci.app && ci.code > 0 && ci.code < 100000)
		ci.err = -(int)ci.code;
	zt_psession_kill(s, ci.err, ci.reason[0] ? ci.reason : "inner connection closed", true);
}

void zt_psession_reap(struct zt_peer *p)
{
	struct psession *s = p->sessions, *next;

	for (; s; s = next) {
		next = s->next;
		check_session(s);
		if (s->state != ZT_PEER_S_CLOSED)
			continue;
		/* The closing period of the inner connection runs out first. */
		if (s->conn && zt_quic_conn_state(s->conn) != ZT_QUIC_CLOSED)
			continue;
		if (s->nchans)
			continue; /* the application still holds channels */
		zt_psession_free(s);
	}
}

/* Inner connections. */

static void fill_inner(struct zt_peer *p, struct psession *s, struct zt_quic_config *qc,
		       struct zt_tls_ctx *tls)
{
	char label[64];

	*qc = (struct zt_quic_config){
		.tls = tls,
		.rng = p->cfg.rng,
		.cidmap = p->inner_map,
		.cb = &inner_cb,
		.max_udp_payload = ZT_RELAY_TUNNEL_MTU,
		.stream_sndbuf = PEER_STREAM_SNDBUF,
		.idle_timeout = p->cfg.inner_idle_timeout,
		.handshake_timeout = p->cfg.handshake_timeout,
		.full_size_challenges = true, /* never lose a session to a lossy path (conn.h) */
		/* the connector follows the agent back within ~7 PTOs, not ~7 s (conn.c) */
		.initial_rtt = 50 * 1000000ull,
	};
	if (p->cfg.qlog_open && p->cfg.qlog_write) {
		snprintf(label, sizeof(label), "inner-%08x", s->id);
		s->qlog = p->cfg.qlog_open(p->cfg.qlog_arg, label);
		if (s->qlog) {
			qc->qlog = p->cfg.qlog_write;
			qc->qlog_arg = s->qlog;
		}
	}
}

static void agent_connect(struct psession *s)
{
	struct zt_peer *p = s->p;
	struct zt_quic_config qc;
	struct zt_quic_path path;
	char host[ZT_PKI_HOST_MAX];
	int rc;

	zt_peer_relay_path(p, &path);
	fill_inner(p, s, &qc, p->cfg.inner_tls);
	rc = zt_pki_service_host(s->service, host, sizeof(host));
	if (rc >= 0)
		rc = zt_quic_conn_connect(&s->conn, &qc, host, &path, s, p->now);
	if (rc < 0) {
		s->conn = NULL;
		if (s->qlog)
			p->cfg.qlog_write(s->qlog, "", 0, true);
		zt_psession_kill(s, rc, "cannot start the inner connection", true);
		return;
	}
	s->state = ZT_PEER_S_CONNECTING;
}

/* SESSION naming a session we have: the re-attachment of a detached one (true), or
 * an error (false). */
static bool reattach(struct zt_peer *p, struct psession *s, const struct zt_ctrl_session *m)
{
	if (!s->detached || s->state != ZT_PEER_S_READY || strcmp(s->service, m->service) ||
	    strcmp(s->peer_identity, m->peer_identity) ||
	    (is_agent(p) && m->request_id != s->resume_request))
		return false;
	s->detached = false;
	s->detach_by = 0;
	s->resume_at = 0;
	s->resume_tries = 0;
	s->quota_bytes = m->quota_bytes;
	s->quota_packets = m->quota_packets;
	p->st.sessions_resumed++;
	PLOG(p, ZT_NODE_INFO, "session_resumed", "session=%08x service=%s peer=%s", s->id, s->service,
	     s->peer_identity);
	return true;
}

/* A SESSION we do not take: CLOSE to the Intermediate, which tells the other end. */
static void refuse_session(struct zt_peer *p, const struct zt_ctrl_session *m, int code,
			   const char *text)
{
	send_close(p, m->session_id, code, text);
}

void zt_psession_on_session(struct zt_peer *p, const struct zt_ctrl_session *m)
{
	struct psession *s = NULL;
	const struct zt_peer_service *svc = NULL;

	if (m->session_id == 0 || m->session_id > UINT32_MAX) {
		p->st.ctrl_errors++;
		return;
	}
	if ((s = zt_psession_by_id(p, (uint32_t)m->session_id))) {
		if (reattach(p, s, m))
			return;
		p->st.ctrl_errors++;
		if (s->detached) {
			/* The Intermediate paired someone else under the id of the session we
			 * kept (another connector of the service, or a party that chose the
			 * id): not ours. Ending that pairing leaves ours alone. */
			PLOG(p, ZT_NODE_WARN, "session_resume_refused",
			     "session=%08x service=%s peer=%s offered_service=%s offered_peer=%s", s->id,
			     s->service, s->peer_identity, m->service, m->peer_identity);
			refuse_session(p, m, ZT_ESTATE, "not the session kept under this id");
		}
		return;
	}
	if (is_agent(p)) {
		for (s = p->sessions; s; s = s->next)
			if (s->state == ZT_PEER_S_OPENING && s->request_id == m->request_id &&
			    !strcmp(s->service, m->service))
				break;
	} else {
		for (size_t i = 0; i < p->cfg.n_services; i++)
			if (!strcmp(p->cfg.services[i].name, m->service))
				svc = &p->cfg.services[i];
		if (svc && !zt_pagent_may_open(p, m->peer_identity)) {
			refuse_session(p, m, ZT_EBUSY, "too many sessions of this agent at the connector");
			p->st.limit_sessions++;
			return;
		}
		if (svc && (s = zt_psession_new(p, m->service)) &&
		    !(s->agent = zt_pagent_attach(p, m->peer_identity))) {
			zt_psession_free(s);
			s = NULL;
		}
	}
	if (!s) {
		p->st.ctrl_errors++;
		if (is_agent(p))
			refuse_session(p, m, ZT_ESTATE, "no such request");
		else
			refuse_session(p, m, svc ? -ENOMEM : ZT_ENOSERVICE,
				       svc ? "out of memory" : "service not served here");
		return;
	}
	s->id = (uint32_t)m->session_id;
	s->svc = svc;
	snprintf(s->peer_identity, sizeof(s->peer_identity), "%s", m->peer_identity);
	s->controlling = m->ice_role == ZT_CTRL_ICE_CONTROLLING;
	s->quota_bytes = m->quota_bytes;
	s->quota_packets = m->quota_packets;
	if (p->hooks)
		p->hooks->opened(s, m);
	p->st.sessions_opened++;
	PLOG(p, ZT_NODE_INFO, "session_open", "session=%08x service=%s peer=%s role=%s", s->id,
	     s->service, s->peer_identity, s->controlling ? "controlling" : "controlled");
	if (is_agent(p)) {
		agent_connect(s);
		if (s->state == ZT_PEER_S_CLOSED)
			return;
		s->deadline = ZT_TIME_NEVER; /* the handshake has its own timeout */
		/* ICE starts now, beside the end-to-end handshake (node/direct.c) */
		direct_ready(s);
	} else {
		s->state = ZT_PEER_S_CONNECTING;
		s->deadline = p->now + p->cfg.open_timeout; /* the agent's Initial is due */
	}
	s->announced = true;
	zt_psession_emit(s, ZT_PEER_SESSION_OPENED);
}

/* ERROR for an OPEN: the waiting channels, flows and pings fail with its code now, and
 * the service is not asked for again while the refusal holds. */
static void open_refused(struct psession *s, const struct zt_ctrl_error *m)
{
	struct zt_peer *p = s->p;
	int code = m->code && m->code < 100000 ? -(int)m->code : ZT_EPEER;
	struct prefusal *r = refusal_note(p, s->service, code, m->text[0] ? m->text : zt_strerror(code));
	struct zt_peer_refusal copy = r->r;

	p->st.sessions_failed++;
	PLOG(p, ZT_NODE_ERROR, "open_failed",
	     "service=%s code=%d error=\"%s\" text=\"%s\" refusals=%u retry_in_ms=%" PRIu64
	     " note=\"no OPEN for this service until then\"",
	     s->service, -code, zt_strerror(code), m->text, copy.count,
	     (uint64_t)((copy.retry_at - p->now) / ZT_MS));
	zt_psession_kill(s, code, m->text, false);
	if (p->cb.refused)
		p->cb.refused(p, p->cfg.arg, &copy);
}

void zt_psession_on_close(struct psession *s, int reason, const char *text)
{
	struct zt_peer *p = s->p;
	bool refused = is_agent(p) && s->state != ZT_PEER_S_READY &&
		       (reason == ZT_EBUSY || reason == ZT_EQUOTA || permanent_refusal(reason));
	struct zt_peer_refusal copy;

	if (s->detached) {
		/* Kept on its direct path and not re-attached: the Intermediate has no
		 * pairing of ours under this id, so this CLOSE ends someone else's (one we
		 * refused, or one a party made with our id), not our working session. */
		PLOG(p, ZT_NODE_INFO, "session_close_ignored", "session=%08x reason=detached code=%d",
		     s->id, -reason);
		return;
	}
	if (!refused) {
		zt_psession_kill(s, reason, text, false);
		return;
	}
	/* the connector refused the session before it was up (e.g. its per-agent
	 * limits): remembered like a refused OPEN, so new channels do not reopen it at once */
	copy = refusal_note(p, s->service, reason, text)->r;
	PLOG(p, ZT_NODE_ERROR, "open_failed",
	     "service=%s code=%d error=\"%s\" text=\"%s\" refusals=%u retry_in_ms=%" PRIu64
	     " note=\"session refused before it was up\"",
	     s->service, -reason, zt_strerror(reason), text, copy.count,
	     (uint64_t)((copy.retry_at - p->now) / ZT_MS));
	zt_psession_kill(s, reason, text, false);
	if (p->cb.refused)
		p->cb.refused(p, p->cfg.arg, &copy);
}

void zt_psession_login_refused(struct zt_peer *p)
{
	for (struct psession *s = p->sessions; s; s = s->next)
		if (s->state == ZT_PEER_S_WAITING || s->state == ZT_PEER_S_OPENING)
			zt_psession_kill(s, p->login.code, p->login.text, false);
}

void zt_psession_on_error(struct zt_peer *p, const struct zt_ctrl_error *m)
{
	for (struct psession *s = p->sessions; s; s = s->next) {
		if (s->detached && s->resume_request == m->request_id) {
			/* the connector may not be back yet (1502), or the link to where it
			 * was failed (1510): ask again every second, for 30 s on the direct
			 * path (it goes on without a relay after), as long as it is kept
			 * (detach_by) on the relay path */
			int code = -(int)m->code;
			bool again = s->detach_by ? p->now + ZT_SEC < s->detach_by
						  : s->resume_tries + 1 < 30;
			if ((code == ZT_ENOSERVICE || code == ZT_EBUSY) && again) {
				s->resume_tries++;
				s->resume_at = p->now + ZT_SEC;
				return;
			}
			PLOG(p, ZT_NODE_WARN, "session_resume_failed",
			     "session=%08x code=%u error=\"%s\" text=\"%s\" tries=%u", s->id, m->code,
			     zt_strerror(-(int)m->code), m->text, s->resume_tries);
			if (s->detach_by) /* on the relay path: nothing carries it any more */
				zt_psession_kill(s, -(int)m->code, m->text, false);
			return;
		}
		if (s->state != ZT_PEER_S_OPENING || s->request_id != m->request_id)
			continue;
		open_refused(s, m);
		return;
	}
	p->st.ctrl_errors++;
}

/* Agent: asks the (new) Intermediate to re-attach a session kept on its direct path,
 * so that the relay is there again to fall back to. */
static void send_resume(struct psession *s)
{
	struct zt_peer *p = s->p;
	struct zt_ctrl_msg m;

	s->resume_request = ++p->next_request;
	zt_ctrl_msg_init(&m, ZT_CTRL_OPEN);
	m.u.open.request_id = s->resume_request;
	m.u.open.resume_session = s->id;
	snprintf(m.u.open.service, sizeof(m.u.open.service), "%s", s->service);
	if (zt_peer_ctrl(p, &m) == 0)
		PLOG(p, ZT_NODE_INFO, "session_resume", "session=%08x service=%s request=%016" PRIx64,
		     s->id, s->service, s->resume_request);
}

void zt_psession_outer_ready(struct zt_peer *p)
{
	for (struct psession *s = p->sessions; s; s = s->next) {
		if (s->state == ZT_PEER_S_WAITING)
			send_open(s);
		else if (s->detached && s->state == ZT_PEER_S_READY && is_agent(p))
			send_resume(s);
	}
}


void zt_psession_outer_down(struct zt_peer *p, bool keep_relayed)
{
	for (struct psession *s = p->sessions; s; s = s->next) {
		if (s->state == ZT_PEER_S_WAITING || s->state == ZT_PEER_S_OPENING) {
			s->state = ZT_PEER_S_WAITING; /* OPEN again once reconnected */
			continue;
		}
		if (s->state == ZT_PEER_S_CLOSED)
			continue;
		/* A session on the relay path cannot go on without it; one that migrated to
		 * a direct path can (but has no relay to fall back to until it is opened
		 * again: the Intermediate forgot it). */
		if (s->state == ZT_PEER_S_READY && s->conn) {
			struct zt_quic_path path;
			bool relayed;
			zt_quic_conn_path(s->conn, &path);
			relayed = zt_relay_is_relay_path(&path.local);
			if (!relayed || keep_relayed) {
				/* re-attached once reconnected; on the relay, its packets are lost
				 * meanwhile and the end-to-end connection sends them again. Kept
				 * from the first loss: a connection attempt failing after it does
				 * not push the time on (it did: the session waited for its own
				 * idle timeout while the client found no Intermediate) */
				if (s->detached)
					continue;
				PLOG(p, ZT_NODE_INFO, "session_kept", "session=%08x reason=%s", s->id,
				     relayed ? "relay-lost" : "direct-path");
				s->detached = true;
				s->detach_by = relayed ? p->now + PEER_RELAY_DETACH_MAX : 0;
				continue;
			}
		}
		zt_psession_kill(s, ZT_EPEER, "lost the Intermediate", false);
	}
}

void zt_psession_relay_in(struct zt_peer *p, uint32_t id, const uint8_t *pkt, size_t len)
{
	struct psession *s = zt_psession_by_id(p, id);
	struct zt_quic_path path;
	struct zt_quic_config qc;

	if (!s) {
		p->st.relay_dropped_session++;
		return;
	}
	p->st.relay_in++;
	zt_peer_relay_path(p, &path);
	if (s->conn) {
		zt_quic_conn_recv(s->conn, p->now, &path, pkt, len);
		check_session(s);
		return;
	}
	if (is_agent(p) || s->state != ZT_PEER_S_CONNECTING || !zt_quic_pkt_is_initial(pkt, len)) {
		p->st.relay_dropped_session++;
		return;
	}
	fill_inner(p, s, &qc, s->svc->tls);
	if (zt_quic_conn_accept(&s->conn, &qc, &path, pkt, len, s, p->now) < 0) {
		s->conn = NULL;
		if (s->qlog)
			p->cfg.qlog_write(s->qlog, "", 0, true);
		s->qlog = NULL;
		p->st.relay_dropped_session++;
		return;
	}
	s->deadline = ZT_TIME_NEVER;
	check_session(s);
}

/* Channels. */

static void chan_start(struct zt_peer_chan *ch)
{
	struct psession *s = ch->s;
	struct zt_fwd_hdr h = { .proto = ZT_FWD_PROTO_TCP };
	uint8_t hdr[ZT_FWD_HDR_MAX];
	int64_t sid;
	int n;

	if (ch->sid >= 0 || (ch->flags & (CH_DEAD | CH_RELEASED)))
		return;
	if (zt_quic_stream_open(s->conn, &sid, ch) < 0)
		return; /* stream limit: streams_available retries */
	ch->sid = sid;
	snprintf(h.name, sizeof(h.name), "%s", s->service);
	n = zt_fwd_hdr_write(hdr, sizeof(hdr), &h);
	if (n < 0 || zt_quic_stream_write(s->conn, sid, hdr, (size_t)n) != n) {
		zt_quic_stream_reset(s->conn, sid, ZT_FWD_ABORT);
		ch->flags |= CH_DEAD;
		chan_emit(ch, ZT_PEER_CHAN_FAILED, ZT_ESTATE);
		return;
	}
	if (ch->flags & CH_FIN_SENT)
		zt_quic_stream_shutdown_write(s->conn, sid);
	ch->flags |= CH_READY | CH_PENDING_READY;
	s->p->st.chans_opened++;
}

static void start_waiting_chans(struct psession *s)
{
	for (struct zt_peer_chan *ch = s->chans; ch; ch = ch->next)
		if (ch->sid < 0)
			chan_start(ch);
}

/* Connector: a blocked agent (reads or writes waited for its byte budget) whose
 * bytes dropped: its waiting channels get READABLE and WRITABLE. What its channels
 * have not had acknowledged is looked at again at most once a millisecond. */
static void agents_wake(struct zt_peer *p)
{
	for (struct pagent *a = p->agents; a; a = a->next) {
		if (!a->blocked || p->now < a->refresh_at)
			continue;
		a->refresh_at = p->now + ZT_MS;
		for (struct psession *s = p->sessions; s; s = s->next)
			for (struct zt_peer_chan *ch = s->agent == a ? s->chans : NULL; ch; ch = ch->next)
				if (chan_io_ok(ch) && ch->out_queued)
					chan_out_update(ch);
		if (!zt_pagent_room(p, a))
			continue;
		a->blocked = false;
		for (struct psession *s = p->sessions; s; s = s->next) {
			struct zt_peer_chan *ch = s->agent == a ? s->chans : NULL, *next;
			for (; ch; ch = next) {
				unsigned was = ch->flags;
				next = ch->next;
				ch->flags &= ~(CH_HELD_BACK | CH_WANT_WRITE);
				if (!chan_io_ok(ch))
					continue;
				if (was & CH_HELD_BACK)
					chan_emit(ch, ZT_PEER_CHAN_READABLE, 0);
				if ((was & CH_WANT_WRITE) && chan_io_ok(ch))
					chan_emit(ch, ZT_PEER_CHAN_WRITABLE, 0);
			}
		}
	}
}

void zt_psession_deliver(struct zt_peer *p)
{
	if (p->agents)
		agents_wake(p);
	for (struct psession *s = p->sessions; s; s = s->next) {
		struct zt_peer_chan *ch = s->chans, *next;
		for (; ch; ch = next) {
			next = ch->next;
			if (!(ch->flags & CH_PENDING_READY))
				continue;
			ch->flags &= ~CH_PENDING_READY;
			if (!(ch->flags & CH_DEAD))
				chan_emit(ch, ZT_PEER_CHAN_READY, 0);
		}
	}
}

int zt_peer_chan_open(struct zt_peer *p, uint64_t now, const char *service, void *carg,
		      struct zt_peer_chan **ret)
{
	struct psession *s;
	struct zt_peer_chan *ch;
	int rc = agent_session(p, now, service, &s);

	if (rc < 0)
		return rc;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->p = p;
	ch->s = s;
	ch->sid = -1;
	ch->arg = carg;
	ch->deadline = now + p->cfg.open_timeout;
	if (s->state != ZT_PEER_S_READY && s->deadline != ZT_TIME_NEVER && s->deadline < ch->deadline)
		s->deadline = ch->deadline;
	ZT_LIST_PUSH(s->chans, ch, prev, next);
	s->nchans++;
	if (s->state == ZT_PEER_S_READY)
		chan_start(ch);
	update_keepalive(s);
	*ret = ch;
	return 0;
}

void zt_peer_chan_set_arg(struct zt_peer_chan *ch, void *carg)
{
	ch->arg = carg;
}

static bool chan_io_ok(const struct zt_peer_chan *ch)
{
	return (ch->flags & CH_READY) && !(ch->flags & (CH_DEAD | CH_RELEASED)) && ch->s->conn;
}

/* Connector: ch's unacknowledged bytes as they are now, into its agent's total.
 * Returns the stream's room. */
static size_t chan_out_update(struct zt_peer_chan *ch)
{
	struct pagent *a = ch->s->agent;
	size_t room = zt_quic_stream_writable(ch->s->conn, ch->sid);
	uint64_t q = room < PEER_STREAM_SNDBUF ? PEER_STREAM_SNDBUF - room : 0;

	if (a) {
		a->out_queued = a->out_queued - (ch->out_queued < a->out_queued ? ch->out_queued : a->out_queued) + q;
		ch->out_queued = q;
	}
	return room;
}

int zt_peer_chan_write(struct zt_peer_chan *ch, const void *data, size_t len)
{
	uint64_t room;
	int n;

	if (ch->flags & (CH_DEAD | CH_RELEASED | CH_FIN_SENT))
		return -EPIPE;
	if (!chan_io_ok(ch))
		return 0;
	if (ch->s->agent) {
		/* the agent's bytes in flight (cfg.agent_max_bytes) */
		room = zt_pagent_room(ch->p, ch->s->agent);
		if (len > room)
			len = (size_t)room;
		if (!len) {
			ch->flags |= CH_WANT_WRITE;
			ch->s->agent->blocked = true;
			return 0;
		}
	}
	n = zt_quic_stream_write(ch->s->conn, ch->sid, data, len);
	if (n > 0 && ch->s->agent)
		chan_out_update(ch);
	return n < 0 ? -EPIPE : n;
}

size_t zt_peer_chan_writable(struct zt_peer_chan *ch)
{
	size_t n;

	if (!chan_io_ok(ch) || (ch->flags & CH_FIN_SENT))
		return 0;
	n = chan_out_update(ch);
	if (ch->s->agent) {
		uint64_t room = zt_pagent_room(ch->p, ch->s->agent);
		if (!room) {
			/* WRITABLE follows when the agent's bytes drop (zt_psession_deliver) */
			ch->flags |= CH_WANT_WRITE;
			ch->s->agent->blocked = true;
			return 0;
		}
		if (n > room)
			n = (size_t)room;
	}
	/* Full: a write the stream takes nothing of asks for stream_writable, so
	 * WRITABLE follows when room opens (conn.h). */
	if (n == 0)
		zt_quic_stream_write(ch->s->conn, ch->sid, "", 1);
	return n;
}

int zt_peer_chan_read(struct zt_peer_chan *ch, void *buf, size_t cap, bool *ret_fin)
{
	int n;

	*ret_fin = false;
	if (ch->flags & CH_FIN_READ) {
		*ret_fin = true;
		return 0;
	}
	if (ch->flags & (CH_DEAD | CH_RELEASED))
		return -EPIPE;
	if (!chan_io_ok(ch))
		return -EAGAIN;
	if (ch->s->agent && !zt_pagent_room(ch->p, ch->s->agent)) {
		/* the agent's bytes in flight are at the limit: the data stays in the
		 * stream (flow control holds the agent back); READABLE follows */
		ch->flags |= CH_HELD_BACK;
		ch->s->agent->blocked = true;
		return -EAGAIN;
	}
	n = zt_quic_stream_read(ch->s->conn, ch->sid, buf, cap, ret_fin);
	if (n == -ENOENT)
		return -EPIPE;
	if (n > 0 && ch->s->agent) {
		ch->in_held += (uint64_t)n;
		ch->s->agent->in_held += (uint64_t)n;
	}
	if (n >= 0 && *ret_fin)
		ch->flags |= CH_FIN_READ;
	return n;
}

void zt_peer_chan_consumed(struct zt_peer_chan *ch, size_t n)
{
	struct pagent *a = ch->s->agent;

	if (!a)
		return;
	if (n > ch->in_held)
		n = (size_t)ch->in_held;
	ch->in_held -= n;
	a->in_held -= n < a->in_held ? n : a->in_held;
}

int zt_peer_chan_shutdown(struct zt_peer_chan *ch)
{
	if (ch->flags & (CH_DEAD | CH_RELEASED))
		return -EPIPE;
	ch->flags |= CH_FIN_SENT;
	if (!chan_io_ok(ch))
		return 0; /* sent when the stream opens */
	return zt_quic_stream_shutdown_write(ch->s->conn, ch->sid) < 0 ? -EPIPE : 0;
}

void zt_peer_chan_release(struct zt_peer_chan *ch, uint64_t code)
{
	struct psession *s = ch->s;

	if (ch->flags & CH_RELEASED)
		return;
	ch->flags |= CH_RELEASED;
	chan_unhold(ch); /* what the shell held is gone with it */
	if ((ch->flags & (CH_DEAD | CH_CLOSED)) || ch->sid < 0 || !s->conn) {
		chan_unlink_free(ch);
		return;
	}
	if ((ch->flags & (CH_FIN_SENT | CH_FIN_READ)) != (CH_FIN_SENT | CH_FIN_READ))
		zt_quic_stream_reset(s->conn, ch->sid, code ? code : ZT_FWD_ABORT);
	/* Freed when the stream closes (stream_closed) or the session ends. */
}

/* Connector: a new stream from the agent; the header comes first. */
static void chan_header(struct zt_peer_chan *ch)
{
	struct psession *s = ch->s;
	struct zt_peer *p = s->p;
	struct zt_fwd_hdr h;
	bool fin = false;
	int n;

	for (;;) {
		size_t want = zt_fwd_hdr_want(ch->hdr, ch->hlen);
		if (ch->hlen >= want)
			break;
		n = zt_quic_stream_read(s->conn, ch->sid, ch->hdr + ch->hlen, want - ch->hlen, &fin);
		if (n == -EAGAIN)
			return;
		if (n >= 0)
			ch->hlen += (size_t)n;
		if (n < 0 || (fin && ch->hlen < zt_fwd_hdr_want(ch->hdr, ch->hlen))) {
			/* Reset, or the stream ended inside the header. */
			ch->flags |= CH_RELEASED;
			zt_quic_stream_reset(s->conn, ch->sid, ZT_FWD_BAD_HEADER);
			return;
		}
		if (fin)
			ch->flags |= CH_FIN_READ;
	}
	if (zt_fwd_hdr_read(ch->hdr, ch->hlen, &h) < 0 || strcmp(h.name, s->service)) {
		PLOG(p, ZT_NODE_WARN, "chan_refused", "session=%08x service=%s reason=bad-header",
		     s->id, s->service);
		ch->flags |= CH_RELEASED;
		zt_quic_stream_reset(s->conn, ch->sid, ZT_FWD_BAD_HEADER);
		return;
	}
	if (zt_pagent_admit(p, s->agent, false, s->service) < 0) {
		/* over the agent's limits: the agent sees the reset code */
		ch->flags |= CH_RELEASED;
		zt_quic_stream_reset(s->conn, ch->sid, ZT_FWD_LIMIT);
		return;
	}
	ch->flags |= CH_READY | CH_ACCEPTED;
	p->st.chans_opened++;
	if (p->cb.chan_accept)
		p->cb.chan_accept(p, p->cfg.arg, ch, s->service);
	else
		zt_peer_chan_release(ch, ZT_FWD_REFUSED);
	if (!(ch->flags & CH_RELEASED) &&
	    (zt_quic_stream_readable(s->conn, ch->sid) || (ch->flags & CH_FIN_READ)))
		chan_emit(ch, ZT_PEER_CHAN_READABLE, 0);
}

/* Inner connection callbacks (arg: the session). */

static void icb_handshake(struct zt_quic_conn *c, void *arg)
{
	struct psession *s = arg;
	struct zt_peer *p = s->p;
	char got[ZT_PKI_IDENTITY_MAX], want[ZT_CTRL_STR_MAX + 1];
	struct zt_quic_stats qs;

	if (s->state != ZT_PEER_S_CONNECTING)
		return;
	if (is_agent(p))
		zt_pki_identity(ZT_PKI_SERVICE, s->service, want, sizeof(want));
	else
		snprintf(want, sizeof(want), "%s", s->peer_identity);
	if (zt_tls_session_peer_identity(zt_quic_conn_tls(c), got, sizeof(got)) < 0 || strcmp(got, want)) {
		PLOG(p, ZT_NODE_ERROR, "peer_identity_mismatch", "session=%08x service=%s want=%s got=%s",
		     s->id, s->service, want, got);
		zt_psession_kill(s, ZT_EAUTH, "end-to-end peer identity mismatch", true);
		return;
	}
	s->state = ZT_PEER_S_READY;
	s->deadline = ZT_TIME_NEVER;
	zt_quic_conn_stats(c, &qs);
	PLOG(p, ZT_NODE_INFO, "session_ready", "session=%08x service=%s peer=%s rtt_us=%" PRIu64,
	     s->id, s->service, s->peer_identity, (uint64_t)(qs.srtt_ns / ZT_US));
	if (is_agent(p)) {
		refusal_forget(p, s->service); /* success: a later refusal starts at 1 s */
		start_waiting_chans(s);
		while (s->pq_head) {
			struct pdgram *d = s->pq_head;
			s->pq_head = d->next;
			if (zt_quic_dgram_send(c, d->data, d->len) < 0)
				p->st.flow_dgrams_dropped++;
			free(d);
		}
		s->pq_tail = NULL;
		s->pq_len = 0;
	}
	update_keepalive(s);
	zt_psession_emit(s, ZT_PEER_SESSION_READY);
	direct_ready(s);
}

static void icb_opened(struct zt_quic_conn *c, void *arg, int64_t sid)
{
	struct psession *s = arg;
	struct zt_peer_chan *ch;

	if (is_agent(s->p) || s->state == ZT_PEER_S_CLOSED) {
		zt_quic_stream_reset(c, sid, ZT_FWD_ABORT);
		return;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		zt_quic_stream_reset(c, sid, ZT_FWD_ABORT);
		return;
	}
	ch->p = s->p;
	ch->s = s;
	ch->sid = sid;
	ch->deadline = ZT_TIME_NEVER;
	ZT_LIST_PUSH(s->chans, ch, prev, next);
	s->nchans++;
	zt_quic_stream_set_arg(c, sid, ch);
	update_keepalive(s);
}

static void icb_readable(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg)
{
	struct zt_peer_chan *ch = sarg;
	(void)c;
	(void)arg;
	(void)sid;

	if (!ch || (ch->flags & (CH_DEAD | CH_RELEASED)))
		return;
	if (!(ch->flags & CH_READY)) {
		chan_header(ch);
		return;
	}
	chan_emit(ch, ZT_PEER_CHAN_READABLE, 0);
}

static void icb_writable(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg)
{
	struct zt_peer_chan *ch = sarg;
	(void)c;
	(void)arg;
	(void)sid;

	if (ch && (ch->flags & CH_READY) && !(ch->flags & CH_DEAD))
		chan_emit(ch, ZT_PEER_CHAN_WRITABLE, 0);
}

static void icb_reset(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg, uint64_t code)
{
	struct zt_peer_chan *ch = sarg;
	(void)c;
	(void)arg;
	(void)sid;

	if (ch && (ch->flags & CH_READY) && !(ch->flags & CH_DEAD))
		chan_emit(ch, ZT_PEER_CHAN_RESET, code < 1000 ? (int)code : ZT_FWD_ABORT);
}

static void icb_stopped(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg)
{
	icb_reset(c, arg, sid, sarg, ZT_FWD_ABORT);
}

static void icb_closed(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg)
{
	struct zt_peer_chan *ch = sarg;
	(void)c;
	(void)arg;
	(void)sid;

	if (!ch)
		return;
	ch->flags |= CH_CLOSED;
	if (ch->flags & CH_RELEASED)
		chan_unlink_free(ch);
}

static void icb_streams(struct zt_quic_conn *c, void *arg)
{
	struct psession *s = arg;
	(void)c;

	if (is_agent(s->p) && s->state == ZT_PEER_S_READY)
		start_waiting_chans(s);
}

static struct zt_peer_flow *flow_find(const struct psession *s, uint32_t id)
{
	for (struct zt_peer_flow *f = s->flows; f; f = f->next)
		if (f->id == id)
			return f;
	return NULL;
}

static struct zt_peer_flow *flow_add(struct psession *s, uint32_t id)
{
	struct zt_peer *p = s->p;
	struct zt_peer_flow *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->p = p;
	f->s = s;
	f->id = id;
	f->last = p->now;
	ZT_LIST_PUSH(s->flows, f, prev, next);
	s->nflows++;
	if (p->tick == ZT_TIME_NEVER)
		p->tick = p->now + FLOW_TICK;
	update_keepalive(s);
	return f;
}

/* The in-band echo (node/fwd.h): the connector answers, the agent measures. */
static void echo_in(struct psession *s, const uint8_t *data, size_t len)
{
	struct zt_peer *p = s->p;
	uint8_t reply[ZT_FWD_ECHO_LEN];
	struct zt_quic_path path;
	uint64_t nonce = 0, sent = 0;

	if (len != ZT_FWD_ECHO_LEN || s->state != ZT_PEER_S_READY) {
		p->st.flow_dgrams_dropped++;
		return;
	}
	if (!is_agent(p) && data[4] == ZT_FWD_ECHO_REQUEST) {
		memcpy(reply, data, len);
		reply[4] = ZT_FWD_ECHO_REPLY;
		if (zt_quic_dgram_send(s->conn, reply, len) < 0)
			p->st.flow_dgrams_dropped++;
		return;
	}
	if (!is_agent(p) || data[4] != ZT_FWD_ECHO_REPLY) {
		p->st.flow_dgrams_dropped++;
		return;
	}
	for (int i = 0; i < 8; i++) {
		nonce = nonce << 8 | data[5 + i];
		sent = sent << 8 | data[13 + i];
	}
	zt_quic_conn_path(s->conn, &path);
	if (p->cb.pong)
		p->cb.pong(p, p->cfg.arg, s->service, nonce, p->now > sent ? p->now - sent : 0,
			   zt_relay_is_relay_path(&path.local) ? "relay"
			   : zt_relay_is_tcp_path(&path.local) ? "direct-tcp" : "direct",
			   &path.remote);
}

int zt_peer_ping(struct zt_peer *p, uint64_t now, const char *service, uint64_t nonce)
{
	struct psession *s;
	uint8_t req[ZT_FWD_ECHO_LEN] = { 0 };
	int rc = agent_session(p, now, service, &s);

	if (rc < 0)
		return rc;
	if (s->state != ZT_PEER_S_READY || !s->conn)
		return -EAGAIN; /* a new session sent its OPEN already */
	req[4] = ZT_FWD_ECHO_REQUEST;
	for (int i = 0; i < 8; i++) {
		req[5 + i] = (uint8_t)(nonce >> (56 - 8 * i));
		req[13 + i] = (uint8_t)(now >> (56 - 8 * i));
	}
	rc = zt_quic_dgram_send(s->conn, req, sizeof(req));
	return rc == -EMSGSIZE || rc == ZT_ESTATE ? -EAGAIN : rc;
}

static void icb_dgram(struct zt_quic_conn *c, void *arg, const uint8_t *data, size_t len)
{
	struct psession *s = arg;
	struct zt_peer *p = s->p;
	struct zt_peer_flow *f;
	uint32_t id;
	int n;
	(void)c;

	if (len >= 4 && !data[0] && !data[1] && !data[2] && !data[3]) {
		echo_in(s, data, len);
		return;
	}
	n = zt_fwd_flow_read(data, len, &id);
	if (n < 0 || s->state != ZT_PEER_S_READY) {
		p->st.flow_dgrams_dropped++;
		return;
	}
	if (id == ZT_FWD_IP_FLOW) {
		if (p->hooks)
			p->hooks->ip_in(s, data + n, len - (size_t)n);
		return;
	}
	f = flow_find(s, id);
	if (!f) {
		if (is_agent(p) || s->nflows >= p->cfg.max_flows ||
		    zt_pagent_admit(p, s->agent, true, s->service) < 0) {
			p->st.flow_dgrams_dropped++;
			return;
		}
		if (!(f = flow_add(s, id))) {
			zt_pagent_release(p, s->agent, true);
			p->st.flow_dgrams_dropped++;
			return;
		}
		f->counted = s->agent != NULL;
		if (p->cb.flow_accept)
			p->cb.flow_accept(p, p->cfg.arg, f, s->service);
		/* The application may have closed it: look again. */
		if (!(f = flow_find(s, id))) {
			p->st.flow_dgrams_dropped++;
			return;
		}
	}
	f->last = p->now;
	p->st.flow_dgrams_in++;
	if (p->cb.flow_datagram)
		p->cb.flow_datagram(p, p->cfg.arg, f, f->arg, data + n, len - (size_t)n);
}

static void icb_path(struct zt_quic_conn *c, void *arg, const struct zt_quic_path *path, bool ok)
{
	struct psession *s = arg;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	(void)c;

	PLOG(s->p, ZT_NODE_INFO, "path_validated", "session=%08x local=%s remote=%s ok=%d", s->id,
	     zt_addr_str(&path->local, a), zt_addr_str(&path->remote, b), ok);
	if (!zt_relay_is_tcp_path(&path->local)) /* the TCP path's: tcpdirect.c's */
		direct_path(s, path, ok);
	zt_psession_emit(s, ZT_PEER_SESSION_PATH);
}

static const struct zt_quic_callbacks inner_cb = {
	.handshake_done = icb_handshake,
	.stream_opened = icb_opened,
	.stream_readable = icb_readable,
	.stream_writable = icb_writable,
	.stream_reset = icb_reset,
	.stream_stopped = icb_stopped,
	.stream_closed = icb_closed,
	.streams_available = icb_streams,
	.datagram = icb_dgram,
	.path_validated = icb_path,
};

/* Flows. */

int zt_peer_flow_open(struct zt_peer *p, uint64_t now, const char *service, void *farg,
		      struct zt_peer_flow **ret)
{
	struct psession *s;
	struct zt_peer_flow *f;
	int rc = agent_session(p, now, service, &s);

	if (rc < 0)
		return rc;
	if (s->nflows >= p->cfg.max_flows)
		return -ENOMEM;
	if (p->next_flow == 0 || p->next_flow == ZT_FWD_IP_FLOW)
		p->next_flow = 1;
	f = flow_add(s, p->next_flow++);
	if (!f)
		return -ENOMEM;
	f->arg = farg;
	if (s->state != ZT_PEER_S_READY && s->deadline != ZT_TIME_NEVER &&
	    s->deadline < now + p->cfg.open_timeout)
		s->deadline = now + p->cfg.open_timeout;
	*ret = f;
	return 0;
}

void zt_peer_flow_set_arg(struct zt_peer_flow *f, void *farg)
{
	f->arg = farg;
}

int zt_psession_dgram(struct psession *s, const uint8_t *buf, size_t len)
{
	struct zt_peer *p = s->p;
	struct pdgram *d;
	int rc;

	if (s->state == ZT_PEER_S_CLOSED)
		return -EPIPE;
	if (s->state == ZT_PEER_S_READY) {
		rc = zt_quic_dgram_send(s->conn, buf, len);
		return rc >= 0 ? 0 : rc == -EMSGSIZE ? -EMSGSIZE : rc == ZT_ESTATE ? -EPIPE : -EAGAIN;
	}
	if (s->pq_len >= p->cfg.pending_dgrams || !(d = malloc(sizeof(*d) + len)))
		return -EAGAIN;
	d->next = NULL;
	d->len = len;
	memcpy(d->data, buf, len);
	if (s->pq_tail)
		s->pq_tail->next = d;
	else
		s->pq_head = d;
	s->pq_tail = d;
	s->pq_len++;
	return 0;
}

int zt_peer_flow_send(struct zt_peer_flow *f, uint64_t now, const void *data, size_t len)
{
	struct zt_peer *p = f->p;
	uint8_t buf[ZT_FWD_FLOW_HDR_LEN + ZT_PEER_UDP_MAX];
	int rc;

	if (len > ZT_PEER_UDP_MAX)
		return -EMSGSIZE;
	if (f->s->state == ZT_PEER_S_CLOSED)
		return -EPIPE;
	zt_fwd_flow_write(buf, sizeof(buf), f->id);
	memcpy(buf + ZT_FWD_FLOW_HDR_LEN, data, len);
	f->last = now;
	rc = zt_psession_dgram(f->s, buf, ZT_FWD_FLOW_HDR_LEN + len);
	if (rc < 0) {
		p->st.flow_dgrams_dropped++;
		return rc;
	}
	p->st.flow_dgrams_out++;
	return 0;
}

void zt_peer_flow_close(struct zt_peer_flow *f)
{
	flow_unlink_free(f);
}

void zt_peer_relay_path(const struct zt_peer *p, struct zt_quic_path *ret)
{
	/* The home Intermediate's address, whichever one relays now (cfg.failover): the
	 * path is virtual, and a new remote would look like a migration to the inner
	 * connections. */
	ret->local = p->relay_local;
	ret->remote = p->relay_anchor;
}

/* The direct path (node/direct.h): each session's own, driven from here. Every input
 * goes with the inner connection's state as it is now (direct_sync); what it asks
 * for is carried out after each (direct_flush). */

/* ICE may run once the Intermediate has paired the session (SESSION): beside the
 * end-to-end handshake, which it need not wait for; the connection itself moves
 * only once that handshake is done. */
static bool signaled(const struct psession *s)
{
	return s->state == ZT_PEER_S_CONNECTING || s->state == ZT_PEER_S_READY;
}

static struct zt_direct *sdirect(struct psession *s)
{
	struct zt_peer *p = s->p;
	struct zt_direct_config cfg = {
		.agent = is_agent(p),
		.session_id = s->id,
		.service = s->service,
		.rng = p->cfg.rng,
		.path = &p->cfg.path,
		.max_remote = p->cfg.check_candidates,
		.no_predict = p->cfg.predict_off,
		.no_probe = p->cfg.probe_off,
		.probe_count = p->cfg.probe_count,
		.probe_rate = p->cfg.probe_rate,
		.budget = &p->checks,
		.addrs = &p->addrs,
		.log = &p->cfg.log,
		.counts = &p->path_counts,
	};

	if (!s->direct && zt_direct_new(&s->direct, &cfg, p->now) < 0)
		s->direct = NULL;
	return s->direct;
}

/* It carries DATAGRAMs other than the in-band echo's (node/direct.h). */
static bool carries_dgrams(const struct psession *s)
{
	return s->nflows > 0 || s->tun_last != 0;
}

size_t zt_psession_payload(const struct psession *s)
{
	struct zt_quic_path cur;

	zt_quic_conn_path(s->conn, &cur);
	if (!s->direct || zt_quic_is_relay_addr(&cur.local))
		return ZT_RELAY_TUNNEL_MTU;
	return zt_direct_payload(s->direct, &cur, carries_dgrams(s));
}

static void direct_sync(struct psession *s)
{
	struct zt_direct_conn dc = { 0 };
	struct zt_quic_stats qs;

	if (s->conn) {
		zt_quic_conn_stats(s->conn, &qs);
		dc = (struct zt_direct_conn){
			.exists = true,
			.up = s->state == ZT_PEER_S_READY,
			.srtt = qs.srtt_ns,
			.bytes_in_flight = qs.bytes_in_flight,
			.pto_count = (uint32_t)qs.pto_count,
			.nudges_unanswered = (uint32_t)qs.nudges_unanswered,
			.dgrams = carries_dgrams(s),
		};
		zt_quic_conn_path(s->conn, &dc.path);
	}
	zt_direct_conn_state(s->direct, &dc);
}

static void direct_send(struct psession *s, const struct zt_ctrl_msg *m)
{
	struct zt_peer *p = s->p;
	int rc = zt_peer_ctrl(p, m);

	if (m->type != ZT_CTRL_CANDIDATES)
		return;
	if (rc < 0)
		PLOG(p, ZT_NODE_WARN, "candidates_not_sent", "session=%08x generation=%u", s->id,
		     m->u.cands.generation);
	else
		PLOG(p, ZT_NODE_INFO, "ice_generation", "session=%08x generation=%u role=%s candidates=%u",
		     s->id, m->u.cands.generation, is_agent(p) ? "controlling" : "controlled",
		     m->u.cands.n_cands);
}

static void direct_flush(struct psession *s, uint64_t now)
{
	struct zt_direct_move mv;
	struct zt_ctrl_msg m;
	struct zt_quic_path cur, to;
	int rc;

	while (s->conn && zt_direct_poll_move(s->direct, now, &mv)) {
		to = mv.to;
		if (mv.kind == ZT_PATH_KIND_RELAY && s->tcp_ready)
			to = s->tcp_path; /* the TCP direct path, better than the relay */
		else if (mv.kind == ZT_PATH_KIND_RELAY)
			zt_peer_relay_path(s->p, &to);
		if (mv.kind == ZT_PATH_KIND_RELAY)
			s->p->pm_refresh_due = true; /* a lost path: the mapping may be gone */
		zt_quic_conn_path(s->conn, &cur);
		if (zt_addr_equal(&cur.local, &to.local) && zt_addr_equal(&cur.remote, &to.remote))
			rc = ZT_DIRECT_ALREADY;
		else
			rc = zt_quic_conn_migrate(s->conn, now, &to, true);
		direct_sync(s);
		zt_direct_moved(s->direct, now, rc, &to);
	}
	while (zt_direct_poll_ctrl(s->direct, &m))
		direct_send(s, &m);
}

/* The session is paired (agent: ICE starts beside the handshake), or its inner
 * connection is up (a move that waited for it may go). */
static void direct_ready(struct psession *s)
{
	uint64_t now = s->p->now;

	if (!sdirect(s))
		return;
	direct_sync(s);
	zt_direct_ready(s->direct, now);
	direct_flush(s, now);
}

static void direct_path(struct psession *s, const struct zt_quic_path *path, bool ok)
{
	uint64_t now = s->p->now;

	if (!sdirect(s))
		return;
	direct_sync(s);
	zt_direct_path_result(s->direct, now, path, ok);
	if (ok && zt_quic_is_relay_addr(&path->local))
		s->p->pm_refresh_due = true; /* connector: the agent fell back to the relay */
	direct_flush(s, now);
}

static void direct_timers(struct psession *s, uint64_t now)
{
	if (!s->direct || !signaled(s))
		return;
	direct_sync(s);
	zt_direct_on_timeout(s->direct, now);
	direct_flush(s, now);
}

static uint64_t direct_deadline(const struct psession *s)
{
	return s->direct && signaled(s) ? zt_direct_next_deadline(s->direct) : ZT_TIME_NEVER;
}

void zt_psession_candidates(struct zt_peer *p, const struct zt_ctrl_candidates *c)
{
	struct psession *s;

	if (c->session_id > UINT32_MAX || !(s = zt_psession_by_id(p, (uint32_t)c->session_id)) ||
	    !signaled(s) || !sdirect(s))
		return;
	direct_sync(s);
	zt_direct_candidates(s->direct, p->now, c);
	direct_flush(s, p->now);
}

void zt_psession_start_checks(struct zt_peer *p, const struct zt_ctrl_start_checks *m)
{
	struct psession *s;

	if (m->session_id > UINT32_MAX || !(s = zt_psession_by_id(p, (uint32_t)m->session_id)) ||
	    !s->direct)
		return;
	zt_direct_start(s->direct, p->now, p->now + m->start_offset, m->generation);
}

int zt_psession_stun(struct zt_peer *p, uint64_t now, const struct zt_addr *local,
		     const struct zt_addr *from, const uint8_t *pkt, size_t len)
{
	for (struct psession *s = p->sessions; s; s = s->next) {
		if (!s->direct || !zt_direct_owns(s->direct, pkt, len))
			continue;
		direct_sync(s);
		zt_direct_stun(s->direct, now, local, from, pkt, len);
		direct_flush(s, now);
		return 1;
	}
	return 0;
}

void zt_psession_direct_rx(struct psession *s, uint64_t now, const struct zt_addr *from)
{
	if (s->direct)
		zt_direct_rx(s->direct, now, from);
}

void zt_psession_direct_tx(struct psession *s, uint64_t now)
{
	if (s->direct)
		zt_direct_tx(s->direct, now);
}

int zt_psession_poll_stun(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
			  struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	for (struct psession *s = p->sessions; s; s = s->next) {
		int n = s->direct ? zt_direct_poll_send(s->direct, now, buf, cap, ret_local,
							ret_remote) : 0;
		if (n > 0)
			return n;
	}
	return 0;
}

void zt_psession_netchange(struct zt_peer *p, uint64_t now)
{
	for (struct psession *s = p->sessions; s; s = s->next)
		if (s->direct && signaled(s))
			zt_direct_netchange(s->direct, now);
}

void zt_psession_natchange(struct zt_peer *p, uint64_t now)
{
	for (struct psession *s = p->sessions; s; s = s->next)
		if (s->direct && signaled(s) && !zt_direct_on_direct(s->direct))
			zt_direct_netchange(s->direct, now);
}

/* Timers. */

void zt_psession_timers(struct zt_peer *p, uint64_t now)
{
	bool any_flows = false;

	for (struct psession *s = p->sessions; s; s = s->next) {
		if (s->conn && zt_quic_conn_next_deadline(s->conn) <= now) {
			zt_quic_conn_on_timeout(s->conn, now);
			check_session(s);
		}
		if (s->state == ZT_PEER_S_CLOSED)
			continue;
		direct_timers(s, now);
		if (s->detached && s->detach_by && now >= s->detach_by) {
			zt_psession_kill(s, ZT_EPEER, "lost the Intermediate (not re-attached in time)",
					 false);
			continue;
		}
		if (s->resume_at && now >= s->resume_at) {
			s->resume_at = 0;
			if (s->detached && p->state == ZT_PEER_READY)
				send_resume(s);
		}
		if (s->state != ZT_PEER_S_READY && now >= s->deadline) {
			zt_psession_kill(s, ZT_ETIMEOUT,
					 s->state == ZT_PEER_S_CONNECTING ? "end-to-end handshake timed out"
									  : "no session in time",
					 s->id != 0);
			continue;
		}
		if (s->state != ZT_PEER_S_READY) {
			struct zt_peer_chan *ch = s->chans, *next;
			for (; ch; ch = next) {
				next = ch->next;
				if (ch->sid >= 0 || (ch->flags & (CH_DEAD | CH_RELEASED)) || now < ch->deadline)
					continue;
				ch->flags |= CH_DEAD;
				p->st.chans_failed++;
				chan_emit(ch, ZT_PEER_CHAN_FAILED, ZT_ETIMEOUT);
			}
		}
		if (now >= p->tick) {
			struct zt_peer_flow *f = s->flows, *next;
			for (; f; f = next) {
				next = f->next;
				if (now < f->last + p->cfg.flow_idle)
					continue;
				if (p->cb.flow_closed)
					p->cb.flow_closed(p, p->cfg.arg, f, f->arg, ZT_ETIMEOUT);
				flow_unlink_free(f);
			}
			if (s->tun_on && now >= s->tun_last + p->cfg.flow_idle) {
				s->tun_on = false;
				update_keepalive(s);
			}
		}
		any_flows |= s->nflows > 0 || s->tun_on;
	}
	if (now >= p->tick)
		p->tick = any_flows ? now + FLOW_TICK : ZT_TIME_NEVER;
	else if (!any_flows)
		p->tick = ZT_TIME_NEVER;
}

uint64_t zt_psession_next_deadline(const struct zt_peer *p)
{
	uint64_t t = p->tick;

	for (const struct psession *s = p->sessions; s; s = s->next) {
		uint64_t d;
		if (s->conn) {
			d = zt_quic_conn_next_deadline(s->conn);
			if (d < t)
				t = d;
		}
		if (s->state == ZT_PEER_S_CLOSED)
			continue; /* (what zt_psession_timers looks at of it: its connection) */
		d = direct_deadline(s);
		if (d < t)
			t = d;
		if (s->resume_at && s->resume_at < t)
			t = s->resume_at;
		if (s->detached && s->detach_by && s->detach_by < t)
			t = s->detach_by;
		if (s->state == ZT_PEER_S_READY)
			continue;
		if (s->deadline < t)
			t = s->deadline;
		for (const struct zt_peer_chan *ch = s->chans; ch; ch = ch->next)
			if (ch->sid < 0 && !(ch->flags & (CH_DEAD | CH_RELEASED)) && ch->deadline < t)
				t = ch->deadline;
	}
	return t;
}

int zt_peer_session_info(const struct zt_peer *p, uint32_t id, struct zt_peer_session_info *ret)
{
	const struct psession *s = zt_psession_by_id(p, id);

	if (!s)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	ret->id = s->id;
	ret->state = s->state;
	snprintf(ret->service, sizeof(ret->service), "%s", s->service);
	snprintf(ret->peer_identity, sizeof(ret->peer_identity), "%s", s->peer_identity);
	ret->controlling = s->controlling;
	ret->quota_bytes = s->quota_bytes;
	ret->quota_packets = s->quota_packets;
	ret->conn = s->conn;
	ret->chans = s->nchans;
	ret->flows = s->nflows;
	ret->close_reason = s->close_reason;
	return 0;
}

int zt_peer_session_path(const struct zt_peer *p, uint32_t id, struct zt_peer_path_info *ret)
{
	const struct psession *s = zt_psession_by_id(p, id);
	struct zt_quic_stats qs;
	struct zt_quic_path path;

	if (!s)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	if (s->conn) {
		zt_quic_conn_stats(s->conn, &qs);
		zt_quic_conn_path(s->conn, &path);
		ret->rtt_ns = qs.srtt_ns;
		ret->local = path.local;
		ret->remote = path.remote;
		ret->direct = !zt_relay_is_relay_path(&path.local);
		ret->tcp = zt_relay_is_tcp_path(&path.local);
		ret->payload = zt_psession_payload(s);
	}
	ret->tcp_state = s->tcp_state ? s->tcp_state : "none";
	ret->ice_state = "none";
	ret->manager = "relay";
	ret->last_reason = "relay-at-start";
	if (s->direct) {
		struct zt_direct_info di;

		zt_direct_info(s->direct, &di);
		ret->generation = di.generation;
		ret->ice_state = di.ice_state;
		ret->manager = di.manager;
		ret->last_reason = di.last_reason;
		ret->switches = di.switches;
		ret->time_to_direct = di.time_to_direct;
		ret->ice_pairs = di.pairs;
		ret->ice_checks = di.checks_sent;
		ret->ice_responses = di.responses;
	}
	return 0;
}

size_t zt_peer_agents(const struct zt_peer *p, struct zt_peer_agent_info *out, size_t cap)
{
	size_t n = 0;

	for (const struct pagent *a = p->agents; a; a = a->next, n++) {
		if (n >= cap)
			continue;
		out[n] = (struct zt_peer_agent_info){ .sessions = a->sessions, .chans = a->chans,
						      .flows = a->flows, .refused = a->refused, .tun_dropped = a->tun_dropped,
						      .bytes = a->in_held + a->out_queued };
		snprintf(out[n].identity, sizeof(out[n].identity), "%s", a->identity);
	}
	return n;
}

size_t zt_peer_session_ids(const struct zt_peer *p, uint32_t *ids, size_t cap)
{
	size_t n = 0;

	for (const struct psession *s = p->sessions; s; s = s->next) {
		if (s->state == ZT_PEER_S_CLOSED || !s->id)
			continue;
		if (n < cap)
			ids[n] = s->id;
		n++;
	}
	return n;
}
