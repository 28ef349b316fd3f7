/*
 * The node's public types (node/peer.h for the whole interface): configuration,
 * callbacks, states and events, and the status records of sessions, paths and
 * agents. Types only: peer.c (the outer connection) and session.c (sessions,
 * channels, flows) both build on them.
 */
#ifndef ZT_NODE_PEERDEFS_H
#define ZT_NODE_PEERDEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/ctrl.h"
#include "core/pathmgr.h"
#include "core/rng.h"
#include "core/route.h"
#include "core/tunfilter.h"
#include "node/fwd.h"
#include "node/nodelog.h"
#include "node/relay.h"
#include "quic/conn.h"
#include "quic/tls.h"

/* The largest UDP payload one flow datagram carries: an inner DATAGRAM frame in a
 * ZT_RELAY_TUNNEL_MTU-byte packet, minus the flow header (1362). */
#define ZT_PEER_UDP_MAX (ZT_RELAY_TUNNEL_MTU - ZT_QUIC_DGRAM_OVERHEAD - ZT_FWD_FLOW_HDR_LEN)
/* The packet tunnel's MTU: the largest IP packet one DATAGRAM carries, the same (1362). */
#define ZT_PEER_TUN_MTU ZT_PEER_UDP_MAX

enum zt_peer_state {
	ZT_PEER_CONNECTING = 1, /* outer handshake running */
	ZT_PEER_HELLO = 2,      /* HELLO sent, waiting for WELCOME */
	ZT_PEER_READY = 3,      /* welcome: sessions can be opened */
	ZT_PEER_BACKOFF = 4,    /* lost; reconnecting at a later time */
};

/* How the outer connection reaches the Intermediate (docs/tcp-transport.md). */
enum zt_peer_transport {
	ZT_PEER_TRANSPORT_UDP = 0,  /* QUIC */
	ZT_PEER_TRANSPORT_TCP = 1,  /* TLS over TCP */
	ZT_PEER_TRANSPORT_AUTO = 2, /* QUIC first, TLS/TCP too after tcp_delay without a QUIC
				       handshake, whichever is first; on TCP, UDP is tried
				       every udp_probe and the login moves to it when it works */
};

/* Port mapping at the gateway (node/portmap.h, docs/portmap.md): which protocols. */
enum zt_peer_portmap {
	ZT_PEER_PORTMAP_OFF = 0,
	ZT_PEER_PORTMAP_AUTO = 1,   /* PCP, then NAT-PMP; then the shell's UPnP IGD client */
	ZT_PEER_PORTMAP_PCP = 2,
	ZT_PEER_PORTMAP_NATPMP = 3,
	ZT_PEER_PORTMAP_UPNP = 4,   /* the shell's UPnP IGD client only (zt_peer_portmap_external) */
};

/* A connector's service: its name and the inner TLS server context with its
 * certificate (svc-NAME.ztna), which must require and verify client certificates. */
struct zt_peer_service {
	const char *name;
	struct zt_tls_ctx *tls;
};

struct zt_peer;
struct zt_peer_chan;
struct zt_peer_flow;

enum zt_peer_chan_event {
	ZT_PEER_CHAN_READY = 1,    /* agent: the stream exists: write (and read on READABLE) */
	ZT_PEER_CHAN_READABLE = 2, /* data or the end is waiting: zt_peer_chan_read */
	ZT_PEER_CHAN_WRITABLE = 3, /* room again after a short write */
	ZT_PEER_CHAN_RESET = 4,    /* the other end reset the stream (code: enum zt_fwd_code),
				      or the session ended (ZT_FWD_SESSION_GONE): release it */
	ZT_PEER_CHAN_FAILED = 5,   /* agent: no session for it (code: a ZT_E* or -errno value,
				      e.g. ZT_EPOLICY, ZT_ENOSERVICE, ZT_ETIMEOUT): release it */
};

enum zt_peer_session_state {
	ZT_PEER_S_WAITING = 0,   /* agent: OPEN not sent yet (outer connection not ready) */
	ZT_PEER_S_OPENING = 1,   /* agent: OPEN sent, waiting for SESSION */
	ZT_PEER_S_CONNECTING = 2, /* inner handshake running (connector: or not begun) */
	ZT_PEER_S_READY = 3,
	ZT_PEER_S_CLOSED = 4,
};

struct zt_peer_session_info {
	uint32_t id;                        /* 0 until SESSION */
	enum zt_peer_session_state state;
	char service[ZT_CTRL_STR_MAX + 1];
	char peer_identity[ZT_CTRL_STR_MAX + 1];
	bool controlling;                   /* ICE role: the agent is controlling */
	uint64_t quota_bytes, quota_packets;
	struct zt_quic_conn *conn;          /* the inner connection, or NULL */
	size_t chans, flows;
	int close_reason;                   /* CLOSED: why (0, or a ZT_E* / -errno code) */
};

enum zt_peer_session_event {
	ZT_PEER_SESSION_OPENED = 1, /* SESSION arrived; info.conn exists (agent) or soon will */
	ZT_PEER_SESSION_READY = 2,  /* inner handshake done and the peer's identity checked */
	ZT_PEER_SESSION_CLOSED = 3, /* ended; info.conn is about to be freed */
	ZT_PEER_SESSION_PATH = 4,   /* the inner connection's path validation ended
				       (info.conn's path is the current one) */
};

/*
 * A refusal remembered so it is not asked again at once (docs/security.md,
 * "Refusals and logins"): an OPEN for a service refused by the Intermediate, or the
 * login (HELLO refused, TLS failure, replaced by a newer login of the same identity).
 *
 * OPEN (agent): permanent refusals (ZT_EAUTH, ZT_EPOLICY, ZT_ENOSERVICE, ZT_ENOTSERVER) hold
 * 1 s, doubling with each refusal in a row up to cfg.refusal_backoff_max; temporary
 * ones (ZT_EBUSY, ZT_EQUOTA, ...) the same up to 30 s. A session that is closed with
 * such a code before it is up (the connector's per-agent limits) is a refusal too.
 * A session for the service that comes up forgets it; so does a refusal older than
 * refusal_backoff_max (the next one starts at 1 s again). While it holds, new channels, flows and pings for the service fail
 * at once with its code and no OPEN is sent.
 * Login (agent and connector): ZT_EAUTH, ZT_ETLS, ZT_EREPLACED, ZT_EPOLICY, ZT_ENOTSERVER as the outer
 * connection's end wait 5 s (equal jitter: 2.5..5 s), doubling up to
 * refusal_backoff_max, instead of the ordinary reconnect backoff; it starts over
 * only after a connection that stayed up for refusal_backoff_max. Meanwhile new
 * channels, flows and pings fail at once with the code.
 */
struct zt_peer_refusal {
	char service[ZT_CTRL_STR_MAX + 1]; /* "" for the login */
	int code;                          /* ZT_EPOLICY, ... (negative) */
	char text[ZT_CTRL_STR_MAX + 1];    /* the Intermediate's (or TLS's) explanation */
	uint64_t at;                       /* when the last refusal came */
	uint64_t retry_at;                 /* nothing is asked again before then */
	unsigned count;                    /* refusals in a row */
};

struct zt_peer_callbacks {
	/* The Intermediate welcomed us; observed is our address as it sees it. */
	void (*ready)(struct zt_peer *p, void *arg, const struct zt_addr *observed);
	/* The outer connection ended (err: ZT_E* code; text: why) and the next attempt
	 * is at retry_at. */
	void (*down)(struct zt_peer *p, void *arg, int err, const char *text, uint64_t retry_at);
	/* The Intermediate saw our address change. */
	void (*observed)(struct zt_peer *p, void *arg, const struct zt_addr *addr);
	/* NAT detection (cfg.nat_detect) has a result: nat is "eim", "sequential", "random"
	 * or "unknown" (zt_peer_nat). With "random", a shell that can spray opens its
	 * sockets and hands them over with zt_peer_set_spray (not from this callback). */
	void (*nat)(struct zt_peer *p, void *arg, const char *nat);

	/* Connector: an agent opened a channel for service. Set its argument with
	 * zt_peer_chan_set_arg and connect to the target; refuse it by releasing it. */
	void (*chan_accept)(struct zt_peer *p, void *arg, struct zt_peer_chan *ch,
			    const char *service);
	void (*chan_event)(struct zt_peer *p, void *arg, struct zt_peer_chan *ch, void *carg,
			   enum zt_peer_chan_event ev, int code);

	/* Connector: the first datagram of a new flow (it follows as flow_datagram). */
	void (*flow_accept)(struct zt_peer *p, void *arg, struct zt_peer_flow *f,
			    const char *service);
	void (*flow_datagram)(struct zt_peer *p, void *arg, struct zt_peer_flow *f, void *farg,
			      const uint8_t *data, size_t len);
	/* The flow is gone (idle timeout: ZT_ETIMEOUT; session ended: ZT_EPEER); f is
	 * freed after the call. */
	void (*flow_closed)(struct zt_peer *p, void *arg, struct zt_peer_flow *f, void *farg,
			    int reason);

	/* A session's life cycle with its inner connection (status, tests). */
	void (*session)(struct zt_peer *p, void *arg, const struct zt_peer_session_info *s,
			enum zt_peer_session_event ev);
	/* Agent: the answer to zt_peer_ping() arrived: rtt_ns over the path the inner
	 * connection used when it arrived: path "relay", "direct" (UDP) or "direct-tcp"
	 * (the TCP direct path), and its remote address. */
	void (*pong)(struct zt_peer *p, void *arg, const char *service, uint64_t nonce,
		     uint64_t rtt_ns, const char *path, const struct zt_addr *remote);
	/* Agent: an OPEN for r->service (or the login, r->service "") was refused; the
	 * channels, flows and pings that waited for it have failed with r->code. */
	void (*refused)(struct zt_peer *p, void *arg, const struct zt_peer_refusal *r);

	/* Packet tunnel (node/tunnel.h): an IP packet for the TUN device, checked. Also
	 * called from inside zt_peer_tun_send (an ICMP "too big" answer). */
	void (*tun_packet)(struct zt_peer *p, void *arg, const uint8_t *pkt, size_t len);
	/* Agent: the routes it may use changed (the Intermediate's ROUTES): n of them. */
	void (*tun_routes)(struct zt_peer *p, void *arg, const struct zt_route *routes, size_t n);

	/* Port mapping on (cfg.portmap): a session's direct path fell back to the relay
	 * (the agent's move, or the connector following it), so a mapping may be gone with
	 * the gateway's state. The node asks its own PCP / NAT-PMP client again itself;
	 * this tells the shell to check a mapping it holds (UPnP IGD, app/upnp.h). */
	void (*portmap_refresh)(struct zt_peer *p, void *arg, uint64_t now);
};

/* Failover Intermediates at most (struct zt_peer_config). */
#define ZT_PEER_FAILOVER_MAX 7

struct zt_peer_config {
	enum zt_ctrl_role role;            /* required: ZT_CTRL_ROLE_AGENT or _CONNECTOR */
	const char *name;                  /* required: our identity name ("alice") */
	const uint8_t *token;              /* the credential the Intermediate expects */
	size_t token_len;
	struct zt_addr intermediate;       /* required: the Intermediate's address */
	struct zt_addr intermediate_alt;   /* its address of the other family (family 0:
					      none): the outer QUIC connection races both,
					      IPv6 first (core/happyeyes.h) */
	uint64_t eyeballs_delay;           /* 0: 250 ms: the other family's attempt starts
					      when the first has no handshake then */
	/* Other Intermediates of the deployment (several on a NATS cluster,
	 * docs/scale-out.md), tried in turn after intermediate (the home) when the one in
	 * use cannot be reached or its connection is lost; not after a refused login. */
	struct zt_addr failover[ZT_PEER_FAILOVER_MAX];
	size_t n_failover;
	bool pick_nearest;                 /* with failover: after the first login, a QUIC
					      handshake with each of the others; the one
					      that answers fastest (by a fifth and 2 ms at
					      least) becomes the home */
	uint64_t home_retry;               /* away from home (the first Intermediate):
					      a QUIC handshake with it this often, and back
					      home when one completes; 0: never (relayed
					      sessions may end on the way: docs/scale-out.md) */
	uint64_t failover_silence;         /* with failover: the one in use is left when
					      nothing of ours was answered for this long
					      (ack-eliciting packets in flight, nothing heard);
					      0: 15 s. Its idle timeout (75 s) came first. */
	struct zt_addr local;              /* the socket's address (the outer path's local
					      end; an unspecified IP is fine) */
	const char *intermediate_name;     /* its certificate's name; NULL: "intermediate.ztna" */
	enum zt_peer_transport transport;  /* 0: UDP (QUIC) */
	uint64_t tcp_delay;                /* auto: 0: 300 ms */
	uint64_t udp_probe;                /* auto: 0: 30 s (the first one after a login on TCP:
					      2 s, or this when shorter) */
	struct zt_addr intermediate_tcp;   /* its TLS/TCP address; family 0: intermediate's IP,
					      port 443 */
	struct zt_tls_ctx *outer_tls;      /* required: client, ZT_ALPN_OUTER, our certificate */
	struct zt_tls_ctx *outer_tls_tcp;  /* transport TCP (required then): the same with
					      ZT_ALPN_OUTER_TCP */
	struct zt_tls_ctx *inner_tls;      /* agent (required): client, ZT_ALPN_INNER, our
					      certificate */
	const struct zt_peer_service *services; /* connector: at least one */
	size_t n_services;
	/* Connector: routed services for the packet tunnel (node/tunnel.h), each named
	 * after one of services; at most ZT_CTRL_HELLO_ROUTES_MAX. */
	const struct zt_route *routes;
	size_t n_routes;
	/* Agent, for tests of the connector's authority only: send every packet from the
	 * TUN device without the agent's own check (on the session of the route that
	 * holds its destination, else of the first route), as a modified agent could. */
	bool tun_unchecked;
	const struct zt_rng *rng;          /* required */
	const char *software;              /* HELLO's SOFTWARE; NULL: "ztna 0.1" */

	uint64_t backoff_min;              /* reconnect; 0: 200 ms */
	uint64_t backoff_max;              /* 0: 30 s */
	uint64_t outer_keepalive;          /* 0: 25 s (clamped to half the idle timeout the
					      Intermediate announces, quic/conn.h) */
	uint64_t outer_idle_timeout;       /* 0: 75 s */
	uint64_t handshake_timeout;        /* outer and inner; 0: 10 s (the Initial is sent at 0, 1, 3 and 7 s: four tries before a lossy path gives up) */
	uint64_t welcome_timeout;          /* HELLO sent, no WELCOME or ERROR: connect again; 0: 15 s (the Intermediate's --hello-timeout, 10 s, and its ERROR's way back) */
	uint64_t inner_idle_timeout;       /* 0: 60 s */
	uint64_t inner_keepalive;          /* while channels or flows exist; 0: path.ka_idle
					      (25 s when that is 0 too) */
	uint64_t open_timeout;             /* a channel waits this long for its session; 0: 10 s */
	uint64_t flow_idle;                /* 0: 60 s */
	size_t max_flows;                  /* per session; 0: 1024 */
	size_t pending_dgrams;             /* per session while it is not ready; 0: 64 */
	uint64_t refusal_backoff_max;      /* the longest wait after a permanent refusal
					      (struct zt_peer_refusal); 0: 5 min */
	/* Connectivity checks to addresses that have not answered (RFC 8445 s19.5.1,
	 * core/checkbudget.h): checks per second of a session, to one IP from all
	 * sessions, and of the whole process (each with a burst of 8 s worth); 0: 4, 2
	 * and 100. check_candidates: the peer's candidates a session takes per ICE
	 * generation; 0: 16. */
	uint32_t check_rate, check_rate_dest, check_rate_total, check_candidates;
	/* Connector: what one agent (a peer identity, over all its sessions) may hold
	 * (docs/security.md, "The connector's resources"): sessions; UDP flows; sockets
	 * (channels + flows: each is a socket towards a target in the shell); bytes in
	 * flight (read from its channels but not yet written to the targets, see
	 * zt_peer_chan_consumed, plus taken by its channels but not yet acknowledged).
	 * Over a limit a channel is reset with ZT_FWD_LIMIT, a new flow's datagram is
	 * dropped and counted, a SESSION is answered with CLOSE (ZT_EBUSY), reads and
	 * writes wait. 0: 16, 1024, 1024 and 32 MiB. */
	size_t agent_max_sessions, agent_max_flows, agent_max_sockets;
	uint64_t agent_max_bytes;
	/* Connector: IP packets a second one agent may send through the packet tunnel
	 * into the network, all its sessions (burst: a second's worth); more are dropped
	 * and counted (tun_rate_dropped), so one agent's flood leaves the device, the
	 * network and the program's time to the others. 0: 100000. */
	uint32_t agent_max_pps;
	/* Connector: the sockets the program can give to forwarding (its file descriptor
	 * budget less a reserve for itself); each agent holds at most a fair share,
	 * sockets_total / (agents holding sockets + 1), so there is always room for one
	 * more agent. 0: no budget. */
	size_t sockets_total;

	/* The direct path (agent: the path manager's settings; direct_disabled on either
	 * side keeps every session on the relay). Zero fields take pathmgr.h's defaults. */
	struct zt_path_config path;
	/* No TCP direct path (docs/tcp-transport.md): set when the outer TCP connection
	 * goes through an HTTP proxy (no direct TCP way out), or by choice. */
	bool tcp_direct_off;
	/* Ask the gateway for a port mapping of the socket (0: off); the shell names the
	 * gateway (zt_peer_portmap_route). */
	enum zt_peer_portmap portmap;
	/* The node's NAT as `ztna discover` reports it (docs/hard-nat.md): its mapping
	 * behaviour and port allocation (enum zt_ctrl_nat_mapping, zt_ctrl_nat_ports; 0
	 * unknown). Ports sequential: sessions signal the ports of their next mappings
	 * as predicted candidates (port prediction; predict_off turns it off: none
	 * signalled, the peer's ignored). Both are signalled for birthday probing
	 * (probe_off turns it off; probe_count and probe_rate: per generation, 0:
	 * core/birthday.h's defaults). spray: sockets the shell opened for spraying
	 * (their local addresses, caller-owned), or none: this node cannot spray.
	 * nat_detect: detect the NAT (core/natprobe.h, when the Intermediate names a STUN
	 * port and the outer connection is on UDP): the result stands in for nat_ports
	 * and nat_mapping where they are 0 (sequential: prediction; eim: the probing
	 * side; random: the spraying side, with spray sockets). */
	uint8_t nat_mapping, nat_ports;
	bool nat_detect;
	bool predict_off, probe_off;
	/* The relay channel (docs/relay-channel.md, node/relay.h): asked for in HELLO when
	 * the outer connection is QUIC, used when WELCOME agrees; off: never asked,
	 * everything relayed in outer DATAGRAMs. Default (false): auto. */
	bool relay_channel_off;
	uint32_t probe_count, probe_rate;
	const struct zt_addr *spray;
	size_t nspray;
	const struct zt_peer_callbacks *cb;
	void *arg;
	struct zt_node_log log;
	/* Optional qlog: one handle per connection ("outer-N", "inner-SESSION"). */
	void *(*qlog_open)(void *arg, const char *label);
	void (*qlog_write)(void *handle, const void *data, size_t len, bool fin);
	void *qlog_arg;
};

struct zt_peer_stats {
	uint64_t dgrams_in, dgrams_out;
	uint64_t dropped_garbage;      /* first byte neither STUN nor QUIC, or empty */
	uint64_t dropped_stun;         /* STUN nobody took */
	uint64_t dropped_outer;        /* from the Intermediate, refused by the outer connection */
	uint64_t dropped_unknown;      /* QUIC from elsewhere for no inner connection */
	uint64_t relay_in, relay_out;  /* inner packets through the relay */
	uint64_t relay_dropped_session; /* relayed for a session we do not have */
	uint64_t relay_dropped_malformed;
	uint64_t relay_dropped_queue;  /* the outer DATAGRAM queue was full */
	/* The relay channel (of relay_in and relay_out: those that took it). */
	uint64_t relay_chan_in, relay_chan_out;
	uint64_t relay_chan_dropped;   /* channel data not from the outer connection's
					  address, without the channel agreed, or malformed */
	uint64_t connects, welcomes, refusals;
	uint64_t moves;                /* logins moved to another transport (auto) */
	uint64_t udp_probes;           /* auto, on TCP: tries of UDP */
	uint64_t home_probes;          /* away from home: handshakes tried with it */
	uint64_t opens;                /* OPENs sent */
	uint64_t refused_fast;         /* channels, flows and pings failed at once by a refusal
					  in force (no OPEN sent) */
	uint64_t sessions_opened, sessions_failed;
	uint64_t sessions_resumed;      /* kept on a direct path, re-attached to a new Intermediate */
	uint64_t chans_opened, chans_failed;
	uint64_t flow_dgrams_in, flow_dgrams_out, flow_dgrams_dropped;
	uint64_t ctrl_errors;
	uint64_t limit_chans;          /* connector: channels reset with ZT_FWD_LIMIT */
	uint64_t limit_flow_dgrams;    /* connector: datagrams of flows refused by a limit */
	uint64_t limit_sessions;       /* connector: SESSIONs refused (agent-max-sessions) */
	uint64_t checks_charged;       /* checks to addresses that had not answered */
	uint64_t checks_deferred;      /* ... that waited for the budget (counted per try) */
	uint64_t resets_received;      /* outer connections ended by a Stateless Reset or drain */
	/* Packet tunnel: IP packets into the tunnel (from the shell) and out of it (to
	 * the shell); dropped by the per-packet check, by reason (core/tunfilter.h;
	 * [ZT_TUN_PASS]: no session for it: refused, queue full, closed); ICMP too-big
	 * answers; TCP SYNs whose MSS was lowered. */
	uint64_t tun_out, tun_in;
	uint64_t tun_dropped[ZT_TUN_DROP_REASONS];
	uint64_t tun_too_big, tun_mss_clamped;
	uint64_t tun_prohibited;       /* agent: ICMP "administratively prohibited" answers */
	uint64_t tun_rate_dropped;     /* connector: over an agent's agent_max_pps */
	/* The TCP direct path: links that came up, moves onto it or off it, inner
	 * packets sent on links, dropped (no link up, its output full; in: no such
	 * session, or not from one of its peer's TCP candidates). */
	uint64_t tcp_links_up, tcp_path_moves, tcp_pkts_out, tcp_dropped_out, tcp_dropped_in;
	size_t sessions, chans, flows; /* now */
};

/* Host addresses a node takes for host candidates (zt_peer_set_host_addrs). */
#define ZT_PEER_MAX_HOSTS 8

/* Where a session's end-to-end connection runs, for `ztna status`. */
struct zt_peer_path_info {
	bool direct;                  /* on a direct path now (UDP, or TCP when tcp) */
	bool tcp;                     /* ... the TCP direct path (node/tcplink.h) */
	const char *tcp_state;        /* the TCP direct path: "none" (not tried: an end not
					 on TCP), "punching", "up", "failed" */
	struct zt_addr local, remote; /* the inner connection's path (relay: the virtual
					 local address and the Intermediate) */
	uint64_t rtt_ns;              /* smoothed RTT of the inner connection */
	uint64_t time_to_direct;      /* ns from the first ICE start to the first direct
					 path; 0 when it never went direct */
	uint32_t switches;            /* path changes, both ways */
	uint32_t generation;          /* ICE generation (0: none yet) */
	const char *ice_state;        /* zt_ice_state_name(), or "none" */
	const char *manager;          /* agent: zt_pathmgr_state_name(); connector: "follows" */
	const char *last_reason;      /* why the path is what it is ("nominated", ...) */
	size_t ice_pairs;             /* the generation's candidate pairs, */
	uint64_t ice_checks, ice_responses; /* checks sent (first copies), answers */
	size_t payload;               /* the inner connection's packet size on its path now
					 (node/direct.h, zt_direct_payload) */
};

/* Connector: what an agent holds (cfg.agent_max_*). */
struct zt_peer_agent_info {
	char identity[ZT_CTRL_STR_MAX + 1];
	size_t sessions, chans, flows;
	uint64_t bytes;                     /* in flight, both ways */
	uint64_t refused;                   /* channels, flow datagrams and sessions refused */
	uint64_t tun_dropped;               /* its IP packets the per-packet check dropped */
};
#endif
