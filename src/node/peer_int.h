/*
 * Internals shared by peer.c (outer connection, control, socket demultiplexing,
 * sending) and session.c (sessions, inner connections, channels, flows). Not a
 * public interface.
 */
#ifndef ZT_NODE_PEER_INT_H
#define ZT_NODE_PEER_INT_H

#include "core/checkbudget.h"
#include "core/ctrl.h"
#include "core/err.h"
#include "core/happyeyes.h"
#include "core/hmap.h"
#include "core/natprobe.h"
#include "core/tokens.h"
#include "core/units.h"
#include "node/backoff.h"
#include "node/ctrlchan.h"
#include "node/outer.h"
#include "node/direct.h"
#include "node/tcplink.h"
#include "node/peerdefs.h"
#include "node/portmap.h"
#include "quic/cidmap.h"

/* auto: the first UDP probe after TCP won the race comes this soon (then udp_probe). */
#define PEER_FIRST_PROBE (2 * ZT_SEC)
/* A relayed session kept while the outer connection is lost waits this long for the
 * new one to re-attach it: at least as long as its other end may take to notice a dead
 * Intermediate and log in elsewhere (an idle client: its keepalive, 25 s, the silence,
 * 15 s, and a login), within the end-to-end connection's idle timeout (60 s). */
#define PEER_RELAY_DETACH_MAX (45 * ZT_SEC)
/* Stop wrapping inner packets while this many DATAGRAMs wait in the outer queue. */
#define PEER_RELAY_QUEUE 64
/* Refused services remembered (agent); the oldest is forgotten beyond. */
#define PEER_REFUSALS 32

/* Channel flags. */
enum {
	CH_READY = 1u << 0,     /* stream open (agent) / header read (connector) */
	CH_FIN_SENT = 1u << 1,
	CH_FIN_READ = 1u << 2,
	CH_RELEASED = 1u << 3,  /* the application let go */
	CH_CLOSED = 1u << 4,    /* QUIC forgot the stream */
	CH_DEAD = 1u << 5,      /* reset, failed, or the session ended: no more I/O */
	CH_ACCEPTED = 1u << 6,  /* connector: chan_accept was called (counted in its agent) */
	CH_HELD_BACK = 1u << 7, /* connector: a read waited for the agent's byte budget */
	CH_WANT_WRITE = 1u << 8, /* connector: writable was 0 for the agent's byte budget */
};

/* The send buffer of an inner stream (quic/conn.h stream_sndbuf), which tells how much
 * of what a channel took is not acknowledged yet. */
#define PEER_STREAM_SNDBUF (256 * 1024)
/* An agent over a limit is logged at most this often (agents.c). */
#define PEER_AGENT_LOG_EVERY (10 * ZT_SEC)

/* Connector: what one agent (a peer identity, over all its sessions) holds, for the
 * per-agent limits (agents.c; docs/security.md, "The connector's resources"). */
struct pagent {
	struct pagent *next;
	char identity[ZT_CTRL_STR_MAX + 1];
	size_t sessions, chans, flows;      /* chans and flows: a socket each in the shell */
	uint64_t in_held;                   /* read from its channels, not yet written on */
	uint64_t out_queued;                /* taken by its channels, not yet acknowledged */
	bool blocked;                       /* a read or write waited for the byte budget */
	uint64_t refresh_at;                /* blocked: out_queued looked at again then */
	uint64_t refused;                   /* channels, flow datagrams, sessions refused */
	uint64_t tun_dropped;               /* its IP packets the per-packet check dropped */
	struct zt_tokens tun_tokens;        /* its packets into the network (agent_max_pps) */
	uint64_t tun_logged_at;             /* the last tunnel_dropped line (0: none) */
	uint64_t tun_unlogged;              /* drops since, not logged */
	uint64_t unlogged;                  /* ... since the last log line */
	uint64_t logged_at;
};

struct psession;

struct zt_peer_chan {
	struct zt_peer *p;
	struct psession *s;
	struct zt_peer_chan *prev, *next;
	int64_t sid;                 /* -1 until the stream exists */
	void *arg;
	unsigned flags;
	uint64_t deadline;           /* agent: READY due by then */
	uint8_t hdr[ZT_FWD_HDR_MAX]; /* connector: the header so far */
	size_t hlen;
	uint64_t in_held, out_queued; /* connector: this channel's part of its agent's */
};

struct zt_peer_flow {
	struct zt_peer *p;
	struct psession *s;
	struct zt_peer_flow *prev, *next;
	uint32_t id;
	void *arg;
	uint64_t last;               /* last datagram either way */
	bool counted;                /* connector: counted in its agent */
};

struct pdgram {
	struct pdgram *next;
	size_t len;
	uint8_t data[];
};

struct psession {
	struct zt_peer *p;
	struct psession *prev, *next;
	enum zt_peer_session_state state;
	uint32_t id;
	uint64_t request_id;
	char service[ZT_CTRL_STR_MAX + 1];
	char peer_identity[ZT_CTRL_STR_MAX + 1];
	bool controlling;
	uint64_t quota_bytes, quota_packets;
	const struct zt_peer_service *svc;  /* connector */
	struct pagent *agent;               /* connector: the agent's totals */
	struct zt_quic_conn *conn;
	uint64_t deadline;                  /* OPENING/CONNECTING must end by then */
	struct zt_peer_chan *chans;
	struct zt_peer_flow *flows;
	size_t nchans, nflows;
	struct pdgram *pq_head, *pq_tail;   /* agent: datagrams before READY */
	size_t pq_len;
	bool keepalive_on;
	bool announced;                     /* cb->session OPENED was called */
	int close_reason;
	void *qlog;
	struct zt_direct *direct;           /* ICE and the path manager (node/direct.h) */
	bool detached;                      /* kept on its direct path while the Intermediate
					       was lost: the new one does not know it yet */
	uint64_t resume_request;            /* agent: the OPEN that re-attaches it */
	uint64_t resume_at;                 /* agent: ask again then (connector not back yet) */
	unsigned resume_tries;
	uint64_t detach_by;                 /* detached on the relay path: killed then unless
					       re-attached (0: on the direct path, no bound) */
	/* Packet tunnel (tunnel.c). */
	uint64_t tun_last;                  /* the last IP packet either way */
	bool tun_on;                        /* one passed within flow_idle: keepalive on */
	struct zt_tunfilter tunf;           /* connector: the agent's packets (self: its
					       tunnel addresses, routes: the service's) */
	struct zt_hnode tnode[2];           /* connector: in p->tun.by_addr, v4 and v6 */
	bool tlinked[2];
	/* The TCP direct path (tcpdirect.c): a link to one of the peer's TCP candidates
	 * is up (tcp_path: the inner connection's path on it); agent: the next move onto
	 * it not before tcp_move_at, after tcp_tries that did not happen. */
	bool tcp_ready;
	bool tcp_punched;                   /* links were asked for (START_CHECKS) */
	const char *tcp_state;              /* "none", "punching", "up", "failed" */
	struct zt_quic_path tcp_path;
	uint64_t tcp_move_at;
	unsigned tcp_tries;
};

/* What session.c tells the packet tunnel (tunnel.c; peer.c wires them), so that
 * session.c, which tunnel.c builds on, never calls up into it: an IP packet DATAGRAM
 * arrived on s (after the flow header), SESSION made s (connector: the agent's
 * tunnel addresses), s ends (it takes no more packets). */
struct psession_hooks {
	void (*ip_in)(struct psession *s, const uint8_t *pkt, size_t len);
	void (*opened)(struct psession *s, const struct zt_ctrl_session *m);
	void (*gone)(struct psession *s);
};

/* The packet tunnel's part of a node (tunnel.c). */
struct ptunnel {
	struct zt_route routes[ZT_CTRL_ROUTES_MAX]; /* agent: from ROUTES; connector: its own,
						       sorted by name */
	size_t nroutes;
	struct zt_hmap by_addr;             /* connector: sessions by the agent's address */
	struct zt_addr pool4, pool6;        /* connector: the agents' pools (WELCOME) */
	uint8_t plen4, plen6;
	uint8_t buf[ZT_FWD_FLOW_HDR_LEN + ZT_PEER_TUN_MTU + 8]; /* one DATAGRAM being made */
	uint8_t icmp[1280];                 /* an ICMP answer being made */
};

/* A refused OPEN (node/peer.h, struct zt_peer_refusal); r.service "" is a free slot. */
struct prefusal {
	struct zt_peer_refusal r;
	uint64_t step;                      /* the hold of the last refusal */
};

struct zt_peer {
	struct zt_peer_config cfg;
	struct zt_peer_callbacks cb;
	enum zt_peer_state state;
	uint64_t now;                   /* of the call in progress, for callbacks */
	struct zt_outer *outer;         /* QUIC or TLS/TCP */
	struct zt_outer *alt;           /* the other transport: racing (CONNECTING) or a UDP
					   probe taking the login over (READY) */
	struct zt_quic_cidmap *outer_map; /* the outer QUIC connections' IDs */
	uint64_t race_at;               /* auto: TLS/TCP starts then (ZT_TIME_NEVER: no) */
	uint64_t probe_at;              /* auto, on TCP: the next UDP probe */
	bool moving;                    /* the move HELLO went out on alt: WELCOME due */
	struct zt_addr observed_any;    /* what the Intermediate sees, UDP or TCP */
	int last_err;                   /* the outer connection's last failure (0: none) */
	uint64_t last_err_at;
	char last_err_text[200];        /* "TRANSPORT: REASON" */
	uint64_t move_by;               /* ... by then */
	struct zt_quic_path outer_path;
	/* The family race (RFC 8305): the Intermediate's addresses in the order tried;
	 * which of them outer and alt use (-1: none, e.g. TCP or a UDP probe); alt's
	 * path while it races. p->cfg.intermediate is the address in use. */
	struct zt_he he;
	int outer_he, alt_he;
	/* The Intermediates in turn: [0] the home (cfg.intermediate as given, with
	 * intermediate_alt), then cfg.failover; imd_at the one in use. */
	struct zt_addr imds[1 + ZT_PEER_FAILOVER_MAX];
	struct zt_addr home_alt;
	size_t n_imds, imd_at;
	uint64_t waiting_since;         /* check_silence: ours in flight, unanswered, since */
	uint64_t home_at;               /* away from home: the next handshake with it */
	bool alt_home;                  /* alt is that handshake (home_timers) */
	/* cfg.pick_nearest (measure_timers): each Intermediate's handshake time
	 * (ZT_TIME_NEVER: none completed), the one being measured (n_imds: done) */
	uint64_t hs_time[1 + ZT_PEER_FAILOVER_MAX];
	uint64_t connect_at, measure_t0;
	size_t measure_i;
	bool alt_measure, measure_started;
	struct zt_addr relay_anchor;    /* the relay path's virtual remote (the first
					   home: a change would look like a migration) */
	bool tcp_derived;                /* intermediate_tcp follows the one in use */
	uint64_t failovers;
	struct zt_quic_path alt_path;
	uint64_t tcp_gen;               /* the TCP connection the shell keeps for it */
	void *outer_qlog;
	struct zt_backoff backoff;
	uint64_t retry_at;
	uint64_t welcome_by;            /* ZT_PEER_HELLO: connect again then */
	uint64_t client_id;
	struct zt_quic_cidmap *inner_map;
	struct zt_addr relay_local;
	struct psession *sessions;
	struct psession *rr;            /* round-robin start for sending */
	uint32_t next_flow;
	uint64_t next_request;
	uint64_t tick;                  /* flow idle checks; ZT_TIME_NEVER when no flows */
	struct zt_direct_addrs addrs;            /* host candidates, observed address */
	struct zt_portpred portpred;             /* new mappings counted (used when the NAT is
						    sequential, counted always) */
	struct zt_natprobe natprobe;             /* NAT detection (peernat.c) */
	uint16_t stun_port;                      /* the Intermediate's STUN port (WELCOME) */
	struct zt_addr tcp_local;                /* the outer TCP connection's local address */
	struct zt_tcplinks *links;               /* the TCP direct path's (tcpdirect.c) */
	struct zt_addr tun4, tun6;               /* agent: tunnel addresses from WELCOME */
	struct ptunnel tun;                      /* the packet tunnel (tunnel.c) */
	const struct psession_hooks *hooks;      /* tunnel.c's, set by peer.c */
	struct prefusal refusals[PEER_REFUSALS]; /* agent: refused OPENs by service */
	struct zt_backoff login_backoff;         /* after a refused login */
	struct zt_peer_refusal login;            /* the last refused login (code 0: none) */
	bool login_refused;                      /* backing off after it now */
	uint64_t welcome_at;                     /* of the connection that is up */
	struct zt_check_budget checks;           /* checks to addresses not answered yet */
	struct zt_path_counts path_counts;       /* its sessions' direct paths, summed */
	struct pagent *agents;                   /* connector: per agent identity */
	size_t sockets_used;                     /* connector: channels + flows, all agents */
	/* An inner packet on the relay path, with room before it for the relay header
	 * (DATAGRAM) or the channel header (node/relay.h). */
	uint8_t scratch[ZT_RELAY_CHAN_HDR_LEN + ZT_QUIC_OUTER_UDP_PAYLOAD];
	/* The relay channel: agreed at this login (WELCOME), and when a relayed packet
	 * last went as an outer DATAGRAM to refresh the outer path (ZT_RELAY_CHAN_REFRESH). */
	bool chan;
	uint64_t chan_dgram_at;
	/* With other Intermediates to go to: when a relayed packet that carried data last
	 * went or came (ZT_TIME_NEVER: none), and whether the outer connection's keepalive
	 * is shortened for it (relay_probe, peer.c). */
	uint64_t relay_data_at;
	bool relay_probing;
	struct zt_peer_stats st;
	/* Port mapping (peerpm.c): the client, the route it was made for, and the delete
	 * of a client stopped (a route change), waiting for poll_send. */
	struct zt_portmap *pm;
	struct zt_addr pm_gw, pm_local;
	uint8_t pm_bye[ZT_PCP_MAP_MSG_LEN];
	size_t pm_bye_len;
	struct zt_addr pm_bye_to;
	/* A mapping the shell made (zt_peer_portmap_external): its protocol (NULL: none
	 * given), lifetime and when it was given. */
	const char *pm_ext_proto;
	uint32_t pm_ext_lifetime;
	uint64_t pm_ext_at;
	/* A session's direct path fell back to the relay (session.c): zt_ppm_refresh at
	 * the next poll_send (session.c does not call into peerpm.c, which calls it). */
	bool pm_refresh_due;
};

#define PLOG(p, lvl, ev, ...) zt_node_logf(&(p)->cfg.log, lvl, ev, __VA_ARGS__)

/* session.c */
struct psession *zt_psession_new(struct zt_peer *p, const char *service);
struct psession *zt_psession_by_id(const struct zt_peer *p, uint32_t id);
/* Ends a session: channels reset or failed, flows closed, the inner connection
 * closed; tell: send CLOSE to the Intermediate. Freed later by zt_psession_reap. */
void zt_psession_kill(struct psession *s, int reason, const char *text, bool tell);
/* Frees ended sessions whose connection is done. */
void zt_psession_reap(struct zt_peer *p);
void zt_psession_free(struct psession *s);
/* The control messages about sessions. */
void zt_psession_on_session(struct zt_peer *p, const struct zt_ctrl_session *m);
void zt_psession_on_error(struct zt_peer *p, const struct zt_ctrl_error *m);
/* CLOSE from the Intermediate for s (reason: a ZT_E* code or 0). */
void zt_psession_on_close(struct psession *s, int reason, const char *text);
/* The outer connection is ready: send the OPENs that wait. */
void zt_psession_outer_ready(struct zt_peer *p);
/* The outer connection is gone: sessions on a direct path are kept (detached) until
 * the new one re-attaches them; those on the relay path too when keep_relayed (the
 * connection was lost, not refused), for at most PEER_RELAY_DETACH_MAX. */
void zt_psession_outer_down(struct zt_peer *p, bool keep_relayed);
/* A relayed inner packet for session id. */
void zt_psession_relay_in(struct zt_peer *p, uint32_t id, const uint8_t *pkt, size_t len);
/* Timers: open deadlines, flow idle. */
void zt_psession_timers(struct zt_peer *p, uint64_t now);
uint64_t zt_psession_next_deadline(const struct zt_peer *p);
void zt_psession_emit(struct psession *s, enum zt_peer_session_event ev);
/* Channel READY events held back until an entry point (not from inside
 * zt_peer_chan_open). */
void zt_psession_deliver(struct zt_peer *p);
/* The login was refused (peer.c decided it holds): sessions waiting for an OPEN fail
 * with its code now rather than wait for their open timeout. */
void zt_psession_login_refused(struct zt_peer *p);
/* The sessions' direct paths (node/direct.h), driven by session.c: signaling, STUN
 * datagrams (returns 1 when a session took it), inner packets on the direct path,
 * STUN datagrams to send (returns the length or 0), local address changes. */
void zt_psession_candidates(struct zt_peer *p, const struct zt_ctrl_candidates *c);
void zt_psession_start_checks(struct zt_peer *p, const struct zt_ctrl_start_checks *m);
int zt_psession_stun(struct zt_peer *p, uint64_t now, const struct zt_addr *local,
		     const struct zt_addr *from, const uint8_t *pkt, size_t len);
void zt_psession_direct_rx(struct psession *s, uint64_t now, const struct zt_addr *from);
void zt_psession_direct_tx(struct psession *s, uint64_t now);
/* The largest inner packet s's connection may send on its current path now: the
 * relay's size on the relay and TCP paths, on a direct one what zt_direct_payload
 * says (docs/direct-path.md, "Packet size"). */
size_t zt_psession_payload(const struct psession *s);
int zt_psession_poll_stun(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
			  struct zt_addr *ret_local, struct zt_addr *ret_remote);
void zt_psession_netchange(struct zt_peer *p, uint64_t now);
/* What the node signals about its NAT changed (peernat.c): the sessions not on the
 * direct path gather again (at once, or when their running generation ends). */
void zt_psession_natchange(struct zt_peer *p, uint64_t now);

/* tunnel.c */
/* The TCP direct path (tcpdirect.c). */
int zt_ptcp_init(struct zt_peer *p);
void zt_ptcp_fini(struct zt_peer *p);
/* START_CHECKS for a session (after zt_psession_start_checks): punch to the peer's TCP
 * candidates when our outer connection is on TCP. */
void zt_ptcp_start(struct zt_peer *p, const struct zt_ctrl_start_checks *m);
/* An inner packet of s on its TCP path. Returns 0 or a negative error (dropped). */
int zt_ptcp_send(struct zt_peer *p, struct psession *s, const struct zt_quic_path *path,
		 const uint8_t *pkt, size_t len);
void zt_ptcp_timers(struct zt_peer *p, uint64_t now);
uint64_t zt_ptcp_deadline(const struct zt_peer *p);

/* peerpm.c: the port-mapping client. recv takes a datagram from the gateway's port
 * 5351 (returns true); poll_send gives its requests from the socket's address. */
bool zt_ppm_recv(struct zt_peer *p, uint64_t now, const struct zt_addr *from,
		 const uint8_t *pkt, size_t len);
int zt_ppm_poll_send(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
		     struct zt_addr *ret_local, struct zt_addr *ret_remote);
uint64_t zt_ppm_deadline(const struct zt_peer *p);
void zt_ppm_timers(struct zt_peer *p, uint64_t now);
/* A session's direct path fell back to the relay: the mapping may be gone, ask again
 * (node/portmap.h zt_portmap_refresh). */
void zt_ppm_refresh(struct zt_peer *p, uint64_t now);
/* Deletes the mapping (zt_peer_close) and frees the client (zt_peer_free). */
void zt_ppm_stop(struct zt_peer *p, uint64_t now);
void zt_ppm_fini(struct zt_peer *p);

/* peernat.c: NAT detection (core/natprobe.h). observed: after every observation (and
 * transport change), starts over when it is new; sets the effective nat_mapping,
 * nat_ports and portpred in p->addrs. recv takes the STUN server's answer (true). */
void zt_pnat_observed(struct zt_peer *p, uint16_t stun_port);
bool zt_pnat_recv(struct zt_peer *p, uint64_t now, const struct zt_addr *from,
		  const uint8_t *pkt, size_t len);
int zt_pnat_poll_send(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
		      struct zt_addr *ret_local, struct zt_addr *ret_remote);
uint64_t zt_pnat_deadline(const struct zt_peer *p);
void zt_pnat_timers(struct zt_peer *p, uint64_t now);

int zt_ptun_init(struct zt_peer *p);
void zt_ptun_fini(struct zt_peer *p);
/* The hooks session.c calls (struct psession_hooks). */
extern const struct psession_hooks zt_ptun_hooks;
/* Agent: ROUTES; connector: WELCOME's pools. */
void zt_ptun_on_routes(struct zt_peer *p, const struct zt_ctrl_routes *m);
void zt_ptun_on_welcome(struct zt_peer *p, const struct zt_ctrl_welcome *w);
/* The HELLO's routes (connector). */
void zt_ptun_hello(const struct zt_peer *p, struct zt_ctrl_hello *h);

/* session.c, for tunnel.c */
/* Agent: the session for service (opened if needed), or a refusal's code. */
int zt_psession_for_service(struct zt_peer *p, uint64_t now, const char *service,
			    struct psession **ret);
/* One DATAGRAM on s: sent, or queued while s comes up (agent). Returns 0, -EAGAIN
 * (queue or send buffer full), -EMSGSIZE, -EPIPE (s is closed). */
int zt_psession_dgram(struct psession *s, const uint8_t *buf, size_t len);
/* An IP packet passed on s: keepalive on while they do. */
void zt_psession_tun_used(struct psession *s);

/* agents.c (connector) */
/* Whether identity may have one more session. */
bool zt_pagent_may_open(struct zt_peer *p, const char *identity);
/* Counts a session of identity. Returns its totals, or NULL (-ENOMEM). */
struct pagent *zt_pagent_attach(struct zt_peer *p, const char *identity);
void zt_pagent_detach(struct zt_peer *p, struct pagent *a);
/* A new channel (flow false) or flow of a: counted, or refused over a limit (logged
 * at most every PEER_AGENT_LOG_EVERY). Returns 0 or ZT_EBUSY. */
int zt_pagent_admit(struct zt_peer *p, struct pagent *a, bool flow, const char *service);
/* A counted channel or flow is gone. */
void zt_pagent_release(struct zt_peer *p, struct pagent *a, bool flow);
/* The bytes a may still have in flight (0: at its limit). */
uint64_t zt_pagent_room(const struct zt_peer *p, const struct pagent *a);

/* A control message to the Intermediate on the outer connection (CANDIDATES,
 * PATH_REPORT, OPEN, ...; before READY only HELLO). Returns 0, ZT_ESTATE (not ready),
 * or zt_ctrlchan_send()'s errors. On -ENOBUFS (the Intermediate does not read) the
 * channel is marked overflowed, and peer.c closes the connection at the end of the
 * call in progress, or at its next timer (zt_peer_next_deadline is due then). */
static inline int zt_peer_ctrl(struct zt_peer *p, const struct zt_ctrl_msg *m)
{
	if (!p->outer || (p->state != ZT_PEER_READY && m->type != ZT_CTRL_HELLO))
		return ZT_ESTATE;
	return zt_ctrlchan_send(zt_outer_ctrl(p->outer), m);
}

#endif
