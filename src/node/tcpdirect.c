/*
 * The TCP direct path of a node's sessions (docs/tcp-transport.md, "TCP direct path"):
 * when both ends' outer connections run over TLS/TCP (UDP blocked), each session's
 * CANDIDATES carry the outer TCP connection's local and reflexive addresses (node/
 * direct.c), START_CHECKS starts a simultaneous open from that local address to each
 * of the peer's (node/tcplink.h: one link per remote address, shared by the sessions
 * between the two nodes), and the agent moves the inner connection from the relay
 * onto the first link that comes up: the path {virtual local ZT_TCP_PATH_ID, the
 * peer's TCP address}, validated by the inner connection before it switches. The
 * connector follows as it does for UDP. Preference: a UDP direct path (node/direct.c
 * moves there from here as from the relay), then a TCP link, then the relay; when
 * the link ends or the inner connection stalls on it, the agent moves back to the
 * relay at once (QUIC sends again what was lost: no byte lost).
 *
 * Calls session.c (sessions by id, delivery), never called by it: the session's
 * fields tcp_ready/tcp_path tell node/direct.c's moves "to the relay" where to go.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/units.h"
#include "node/peer.h"
#include "node/peer_int.h"
#include "node/relay.h"
#include "node/tcplink.h"

/* The inner connection has lost the TCP path after this many probe timeouts in a
 * row: back to the relay, and the link is closed. */
#define TCP_STALL_PTO 3
/* A move onto the link that did not happen (ngtcp2 not ready, or the validation
 * failed) is tried again after 1 s, doubling up to 32 s. */
#define TCP_MOVE_RETRY ZT_SEC
#define TCP_MOVE_TRIES_MAX 5

/* ' error="..."' for a failure, nothing on success (a log line has no error="none"). */
#define ERROR_KV 96
static const char *error_kv(char buf[ERROR_KV], int rc)
{
	buf[0] = '\0';
	if (rc < 0)
		snprintf(buf, ERROR_KV, " error=\"%s\"", zt_strerror(rc));
	return buf;
}

static void tcp_path_to(const struct zt_addr *remote, struct zt_quic_path *ret)
{
	zt_quic_relay_addr(&ret->local, remote->family, ZT_TCP_PATH_ID);
	ret->remote = *remote;
}

static bool link_usable(const struct zt_peer *p, uint32_t id)
{
	return id && zt_tcplinks_up(p->links, id);
}

static bool is_agent(const struct zt_peer *p)
{
	return p->cfg.role == ZT_CTRL_ROLE_AGENT;
}

/* Whether remote is one of the peer's TCP candidates for s. */
static bool session_has_remote(const struct psession *s, const struct zt_addr *remote)
{
	struct zt_addr r[ZT_DIRECT_MAX_TCP];
	size_t n = s->direct ? zt_direct_tcp_remote(s->direct, r, ZT_DIRECT_MAX_TCP) : 0;

	for (size_t i = 0; i < n && i < ZT_DIRECT_MAX_TCP; i++)
		if (zt_addr_equal(&r[i], remote))
			return true;
	return false;
}

/* s->tcp_ready and s->tcp_path: the first of the peer's TCP candidates with a link up. */
static void session_refresh(struct zt_peer *p, struct psession *s)
{
	struct zt_addr r[ZT_DIRECT_MAX_TCP];
	size_t n = s->direct && p->links ? zt_direct_tcp_remote(s->direct, r, ZT_DIRECT_MAX_TCP) : 0;

	bool punching = false;

	s->tcp_ready = false;
	for (size_t i = 0; i < n && i < ZT_DIRECT_MAX_TCP; i++) {
		uint32_t id = zt_tcplinks_find(p->links, &r[i]);

		if (link_usable(p, id)) {
			s->tcp_ready = true;
			s->tcp_state = "up";
			tcp_path_to(&r[i], &s->tcp_path);
			return;
		}
		punching |= id != 0;
	}
	s->tcp_state = punching ? "punching" : s->tcp_punched ? "failed" : "none";
}

static void move(struct zt_peer *p, struct psession *s, const struct zt_quic_path *to,
		 bool immediate, const char *reason)
{
	char a[ZT_ADDR_STRLEN], e[ERROR_KV];
	int rc = zt_quic_conn_migrate(s->conn, p->now, to, immediate);
	bool tcp = zt_relay_is_tcp_path(&to->local);

	if (tcp) {
		s->tcp_move_at = p->now + (TCP_MOVE_RETRY << s->tcp_tries);
		if (s->tcp_tries < TCP_MOVE_TRIES_MAX)
			s->tcp_tries++;
	}
	PLOG(p, rc < 0 ? ZT_NODE_WARN : ZT_NODE_INFO, "path_switch",
	     "session=%08x service=%s to=%s remote=%s reason=%s%s", s->id, s->service,
	     tcp ? "direct-tcp" : "relay", zt_addr_str(&to->remote, a), reason, error_kv(e, rc));
	if (rc == 0)
		p->st.tcp_path_moves++;
}

/* Agent: onto the link when the session is on the relay; back to the relay when the
 * link it is on went away or stalls. */
static void session_sync(struct zt_peer *p, struct psession *s)
{
	struct zt_quic_path cur, relay;
	struct zt_quic_stats qs;

	session_refresh(p, s);
	if (!s->conn || s->state != ZT_PEER_S_READY || !is_agent(p))
		return;
	zt_quic_conn_path(s->conn, &cur);
	if (zt_relay_is_tcp_path(&cur.local)) {
		uint32_t id = zt_tcplinks_find(p->links, &cur.remote);

		zt_quic_conn_stats(s->conn, &qs);
		if (link_usable(p, id) && qs.pto_count >= TCP_STALL_PTO) {
			PLOG(p, ZT_NODE_WARN, "tcp_link_stalled", "session=%08x pto_count=%u", s->id,
			     (unsigned)qs.pto_count);
			zt_tcplinks_close(p->links, p->now, id); /* down: back here, not up */
			return;
		}
		if (link_usable(p, id))
			return;
		zt_peer_relay_path(p, &relay);
		move(p, s, &relay, true, "tcp-link-down");
		return;
	}
	if (zt_relay_is_relay_path(&cur.local) && s->tcp_ready && p->now >= s->tcp_move_at)
		move(p, s, &s->tcp_path, false, "tcp-link-up");
}

static void sync_all(struct zt_peer *p)
{
	for (struct psession *s = p->sessions; s; s = s->next)
		if (s->state != ZT_PEER_S_CLOSED)
			session_sync(p, s);
}

static void link_up(void *arg, uint64_t now, uint32_t link)
{
	struct zt_peer *p = arg;
	struct zt_tcplink_info li;
	char a[ZT_ADDR_STRLEN];

	p->now = now;
	if (zt_tcplinks_info(p->links, link, &li) == 0)
		PLOG(p, ZT_NODE_INFO, "tcp_link_up", "link=%u remote=%s attempts=%u", link,
		     zt_addr_str(&li.remote, a), li.attempts);
	p->st.tcp_links_up++;
	for (struct psession *s = p->sessions; s; s = s->next)
		s->tcp_tries = 0, s->tcp_move_at = 0;
	sync_all(p);
}

/* An UP link ended or a wanted one failed (forgotten already): the sessions on it go
 * back to the relay. */
static void link_down(void *arg, uint64_t now, uint32_t link, int err)
{
	struct zt_peer *p = arg;

	p->now = now;
	char e[ERROR_KV];

	PLOG(p, err ? ZT_NODE_WARN : ZT_NODE_INFO, "tcp_link_down", "link=%u%s", link,
	     error_kv(e, err));
	sync_all(p);
}

/* An inner packet on a link: for the session it names, when the link goes to one of
 * the peer's TCP candidates for it (others are dropped: a link is no way into another
 * node's sessions). */
static void link_packet(void *arg, uint64_t now, uint32_t link, uint32_t session,
			const uint8_t *pkt, size_t len)
{
	struct zt_peer *p = arg;
	struct psession *s = zt_psession_by_id(p, session);
	struct zt_tcplink_info li;
	struct zt_quic_path path;

	p->now = now;
	if (!s || !s->conn || zt_tcplinks_info(p->links, link, &li) < 0 ||
	    !session_has_remote(s, &li.remote)) {
		p->st.tcp_dropped_in++;
		return;
	}
	tcp_path_to(&li.remote, &path);
	if (zt_quic_conn_recv(s->conn, now, &path, pkt, len) == ZT_EMALFORMED)
		p->st.tcp_dropped_in++;
}

static const struct zt_tcplink_callbacks link_cb = {
	.up = link_up,
	.down = link_down,
	.packet = link_packet,
};

int zt_ptcp_init(struct zt_peer *p)
{
	struct zt_tcplink_config cfg = { .cb = &link_cb, .arg = p };

	return zt_tcplinks_new(&p->links, &cfg);
}

void zt_ptcp_fini(struct zt_peer *p)
{
	zt_tcplinks_free(p->links);
	p->links = NULL;
}

void zt_ptcp_start(struct zt_peer *p, const struct zt_ctrl_start_checks *m)
{
	struct psession *s = m->session_id <= UINT32_MAX
				     ? zt_psession_by_id(p, (uint32_t)m->session_id) : NULL;
	struct zt_addr r[ZT_DIRECT_MAX_TCP];
	struct zt_direct_info di;
	char a[ZT_ADDR_STRLEN], e[ERROR_KV];
	size_t n;

	if (!s || !s->direct || !p->addrs.tcp_local.family)
		return;
	zt_direct_info(s->direct, &di);
	if (di.generation != m->generation)
		return;
	n = zt_direct_tcp_remote(s->direct, r, ZT_DIRECT_MAX_TCP);
	for (size_t i = 0; i < n && i < ZT_DIRECT_MAX_TCP; i++) {
		int id = zt_tcplinks_want(p->links, p->now, p->now + m->start_offset,
					  &p->addrs.tcp_local, &r[i]);

		s->tcp_punched |= id > 0;
		PLOG(p, id < 0 ? ZT_NODE_WARN : ZT_NODE_INFO, "tcp_punch",
		     "session=%08x remote=%s in_ms=%" PRIu64 " link=%d%s", s->id,
		     zt_addr_str(&r[i], a), (uint64_t)(m->start_offset / ZT_MS), id < 0 ? 0 : id,
		     error_kv(e, id));
	}
	session_refresh(p, s);
}

int zt_ptcp_send(struct zt_peer *p, struct psession *s, const struct zt_quic_path *path,
		 const uint8_t *pkt, size_t len)
{
	uint32_t id = zt_tcplinks_find(p->links, &path->remote);
	int rc = link_usable(p, id) ? zt_tcplinks_send(p->links, id, s->id, pkt, len) : -ENOTCONN;

	if (rc < 0)
		p->st.tcp_dropped_out++;
	else
		p->st.tcp_pkts_out++;
	return rc;
}

void zt_ptcp_timers(struct zt_peer *p, uint64_t now)
{
	p->now = now;
	zt_tcplinks_on_timeout(p->links, now);
	sync_all(p);
}

uint64_t zt_ptcp_deadline(const struct zt_peer *p)
{
	uint64_t t = zt_tcplinks_next_deadline(p->links);

	for (const struct psession *s = p->sessions; s; s = s->next)
		if (s->tcp_ready && is_agent(p) && s->state == ZT_PEER_S_READY &&
		    s->tcp_move_at < t)
			t = s->tcp_move_at; /* may be on the relay: a move is due */
	return t;
}

/* The shell's side (node/peer.h). */

void zt_peer_tcp_direct_off(struct zt_peer *p)
{
	p->cfg.tcp_direct_off = true;
	p->addrs.tcp_local = p->addrs.tcp_observed = (struct zt_addr){ 0 };
}

int zt_peer_link_poll(struct zt_peer *p, uint64_t now, struct zt_tcplink_req *ret)
{
	p->now = now;
	return zt_tcplinks_poll_req(p->links, now, ret);
}

void zt_peer_link_connected(struct zt_peer *p, uint64_t now, uint32_t id)
{
	p->now = now;
	zt_tcplinks_connected(p->links, now, id);
	zt_psession_deliver(p);
}

void zt_peer_link_failed(struct zt_peer *p, uint64_t now, uint32_t id, int err)
{
	p->now = now;
	zt_tcplinks_failed(p->links, now, id, err);
	zt_psession_deliver(p);
}

int zt_peer_link_recv(struct zt_peer *p, uint64_t now, uint32_t id, const uint8_t *data,
		      size_t len)
{
	int rc;

	p->now = now;
	rc = zt_tcplinks_recv(p->links, now, id, data, len);
	zt_psession_deliver(p);
	zt_psession_reap(p);
	return rc;
}

size_t zt_peer_link_output(struct zt_peer *p, uint32_t id, const uint8_t **ret)
{
	return zt_tcplinks_output(p->links, id, ret);
}

void zt_peer_link_sent(struct zt_peer *p, uint64_t now, uint32_t id, size_t n)
{
	p->now = now;
	zt_tcplinks_sent(p->links, now, id, n);
}

void zt_peer_link_closed(struct zt_peer *p, uint64_t now, uint32_t id, int err)
{
	p->now = now;
	zt_tcplinks_closed(p->links, now, id, err);
	zt_psession_deliver(p);
}
