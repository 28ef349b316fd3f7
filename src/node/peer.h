/*
 * An agent or a connector, sans-IO: the outer connection to the Intermediate, its
 * control channel, sessions, and the end-to-end (inner) QUIC connection of each
 * session, with channels (forwarded TCP connections) and flows (forwarded UDP) on it.
 * Driven like quic/conn.h by the datagrams of the program's one UDP socket:
 *
 *	on a datagram:  zt_peer_recv(p, now, local, from, pkt, len);
 *	on the timer:   zt_peer_on_timeout(p, now);
 *	after either, and after calling any zt_peer_chan_* / zt_peer_flow_* function:
 *	    while ((n = zt_peer_poll_send(p, now, buf, cap, &local, &remote)) > 0)
 *	        send buf[0..n) from local to remote;
 *	    arm the timer at zt_peer_next_deadline(p);
 *
 * Demultiplexing (DESIGN.md, RFC 9443 first byte):
 *   0..3             STUN: handed to cb->stun (the ICE agent of the next step); counted
 *                    and dropped when there is none or it declines.
 *   64..127, 192..255  QUIC: from the Intermediate's address, the outer connection;
 *                    from anywhere else, an inner connection found by destination
 *                    connection ID (the direct path, once ICE migrates a session).
 *   anything else    dropped and counted.
 * Inner packets on the relay path arrive inside the outer connection's DATAGRAM
 * frames (node/relay.h: session id + packet) and are fed to the session's inner
 * connection on the relay path {local: zt_quic_relay_addr(family, ZT_RELAY_PATH_ID),
 * remote: the Intermediate's address}; what an inner connection sends on that path
 * is wrapped the same way, and what it sends on any other path (the direct path)
 * comes out of poll_send as an ordinary datagram.
 *
 * Outer connection: TLS 1.3 (ALPN ztna-outer/1) to the Intermediate, whose
 * certificate must name cfg.intermediate_name; our certificate is our identity.
 * After the handshake, HELLO (role, name, token; a connector's services) on the
 * control stream, then WELCOME with our observed address. When the connection ends
 * (Intermediate restart: it answers with a Stateless Reset; idle timeout; refusal)
 * we reconnect after a jittered exponential backoff (a refused login: a long one,
 * struct zt_peer_refusal) and say HELLO again; sessions on
 * the relay path end with it (their channels are reset), channels still waiting for
 * a session wait on (up to open_timeout) and their OPEN is sent again.
 *
 * Sessions. Agent: the first channel or flow for a service sends OPEN; the
 * Intermediate's SESSION starts the inner connection (QUIC client, ALPN
 * ztna-inner/1, our certificate, the server must prove "svc-SERVICE.ztna" and the
 * identity ztna:service:SERVICE); when its handshake is done the session is ready,
 * waiting channels get their streams. ERROR (policy, no such service, ...) fails the
 * waiting channels with its code, and is remembered: no OPEN for that service until
 * its hold runs out (struct zt_peer_refusal). One session per service is reused by later
 * channels until it ends (CLOSE from the Intermediate, e.g. when the connector
 * restarted; inner idle timeout; relay lost); the next channel then opens a new one.
 * Connector: SESSION announces an agent; its inner connection's first Initial arrives
 * through the relay and is accepted with the service's certificate; the agent's
 * certificate must be the identity SESSION named, else the connection is closed.
 *
 * Channels (TCP): an agent opens one per forwarded TCP connection
 * (zt_peer_chan_open); the connector learns of it through cb->chan_accept once the
 * stream header (node/fwd.h) has arrived. Both sides then write, read, shut down
 * (FIN) and release it; flow control is the backpressure: write takes only what the
 * stream's send buffer has room for (then WRITABLE follows), and data not read stays
 * in the stream and holds the other end back.
 *
 * Flows (UDP): datagrams of one local UDP peer <-> inner DATAGRAM frames with a flow
 * id; forgotten after flow_idle without traffic (cb->flow_closed).
 *
 * Callbacks are called from inside zt_peer_recv/on_timeout/poll_send (and from
 * zt_peer_chan_* calls only where noted). A callback may call zt_peer_chan_* and
 * zt_peer_flow_* functions, but not zt_peer_recv, zt_peer_on_timeout, zt_peer_poll_send
 * or zt_peer_free. In a chan_event callback, release only the channel the event is for.
 *
 * Direct paths: each session runs its own (node/direct.h: ICE, and on the agent the
 * path manager that moves the inner connection); zt_peer_session_path reports it.
 */
#ifndef ZT_NODE_PEER_H
#define ZT_NODE_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/ctrl.h"
#include "core/pathmgr.h"
#include "core/rng.h"
#include "node/fwd.h"
#include "node/nodelog.h"
#include "node/relay.h"
#include "quic/conn.h"
#include "quic/tls.h"

/* The largest UDP payload one flow datagram carries: an inner DATAGRAM frame in a
 * ZT_RELAY_TUNNEL_MTU-byte packet, minus the flow header (1362). */
#define ZT_PEER_UDP_MAX (ZT_RELAY_TUNNEL_MTU - ZT_QUIC_DGRAM_OVERHEAD - ZT_FWD_FLOW_HDR_LEN)

enum zt_peer_state {
	ZT_PEER_CONNECTING = 1, /* outer handshake running */
	ZT_PEER_HELLO = 2,      /* HELLO sent, waiting for WELCOME */
	ZT_PEER_READY = 3,      /* welcome: sessions can be opened */
	ZT_PEER_BACKOFF = 4,    /* lost; reconnecting at a later time */
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
	 * connection used when it arrived (direct or not, and its remote address). */
	void (*pong)(struct zt_peer *p, void *arg, const char *service, uint64_t nonce,
		     uint64_t rtt_ns, bool direct, const struct zt_addr *remote);
	/* Agent: an OPEN for r->service (or the login, r->service "") was refused; the
	 * channels, flows and pings that waited for it have failed with r->code. */
	void (*refused)(struct zt_peer *p, void *arg, const struct zt_peer_refusal *r);
};

struct zt_peer_config {
	enum zt_ctrl_role role;            /* required: ZT_CTRL_ROLE_AGENT or _CONNECTOR */
	const char *name;                  /* required: our identity name ("alice") */
	const uint8_t *token;              /* the credential the Intermediate expects */
	size_t token_len;
	struct zt_addr intermediate;       /* required: the Intermediate's address */
	struct zt_addr local;              /* the socket's address (the outer path's local
					      end; an unspecified IP is fine) */
	const char *intermediate_name;     /* its certificate's name; NULL: "intermediate.ztna" */
	struct zt_tls_ctx *outer_tls;      /* required: client, ZT_ALPN_OUTER, our certificate */
	struct zt_tls_ctx *inner_tls;      /* agent (required): client, ZT_ALPN_INNER, our
					      certificate */
	const struct zt_peer_service *services; /* connector: at least one */
	size_t n_services;
	const struct zt_rng *rng;          /* required */
	const char *software;              /* HELLO's SOFTWARE; NULL: "ztna 0.1" */

	uint64_t backoff_min;              /* reconnect; 0: 200 ms */
	uint64_t backoff_max;              /* 0: 30 s */
	uint64_t outer_keepalive;          /* 0: 5 s */
	uint64_t outer_idle_timeout;       /* 0: 20 s */
	uint64_t handshake_timeout;        /* outer and inner; 0: 10 s (the Initial is sent at 0, 1, 3 and 7 s: four tries before a lossy path gives up) */
	uint64_t welcome_timeout;          /* HELLO sent, no WELCOME or ERROR: connect again; 0: 15 s (the Intermediate's --hello-timeout, 10 s, and its ERROR's way back) */
	uint64_t inner_idle_timeout;       /* 0: 60 s */
	uint64_t inner_keepalive;          /* while channels or flows exist; 0: 15 s */
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
	/* Connector: the sockets the program can give to forwarding (its file descriptor
	 * budget less a reserve for itself); each agent holds at most a fair share,
	 * sockets_total / (agents holding sockets + 1), so there is always room for one
	 * more agent. 0: no budget. */
	size_t sockets_total;

	/* The direct path (agent: the path manager's settings; direct_disabled on either
	 * side keeps every session on the relay). Zero fields take pathmgr.h's defaults. */
	struct zt_path_config path;
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
	uint64_t connects, welcomes, refusals;
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
	size_t sessions, chans, flows; /* now */
};

/*
 * Creates an agent or connector and starts connecting. cfg is copied; the TLS
 * contexts, services and rng must outlive it. Returns 0, -EINVAL (a required field
 * missing, wrong TLS side, a connector without services), -ENOMEM, ZT_ETLS.
 */
int zt_peer_new(struct zt_peer **ret, const struct zt_peer_config *cfg, uint64_t now);
/* Frees everything (sends nothing, no callbacks). NULL is fine. */
void zt_peer_free(struct zt_peer *p);

/* One datagram from the socket. Returns 0 (taken; maybe dropped and counted) or
 * -EINVAL (an address unset). */
int zt_peer_recv(struct zt_peer *p, uint64_t now, const struct zt_addr *local,
		 const struct zt_addr *from, const uint8_t *pkt, size_t len);

/* The next datagram to send, from *ret_local (may be an unspecified address: let the
 * kernel choose) to *ret_remote. Returns its length, 0 (nothing now), -ENOBUFS (cap
 * below ZT_QUIC_OUTER_UDP_PAYLOAD). */
int zt_peer_poll_send(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
		      struct zt_addr *ret_local, struct zt_addr *ret_remote);

uint64_t zt_peer_next_deadline(const struct zt_peer *p);
void zt_peer_on_timeout(struct zt_peer *p, uint64_t now);

/*
 * Shutting down: closes the outer connection (application code 0, reason), which
 * makes the Intermediate end our sessions and tell their other ends at once;
 * poll_send then yields the CONNECTION_CLOSE. No reconnection follows.
 */
void zt_peer_close(struct zt_peer *p, const char *reason);

enum zt_peer_state zt_peer_state(const struct zt_peer *p);
void zt_peer_stats(const struct zt_peer *p, struct zt_peer_stats *ret);
/* The outer connection (NULL while backing off), for RTT and statistics. */
struct zt_quic_conn *zt_peer_outer(const struct zt_peer *p);

/* Channels. */

/*
 * Agent: a channel to service (a new stream on its session; OPEN first if there is
 * no session yet). Events follow: READY, or FAILED. Returns 0, -EINVAL (not an agent,
 * or a bad service name), -ENOMEM, or the code of a refusal in force for the service
 * or the login (struct zt_peer_refusal: ZT_EPOLICY, ZT_EAUTH, ...; no OPEN is sent).
 */
int zt_peer_chan_open(struct zt_peer *p, uint64_t now, const char *service, void *carg,
		      struct zt_peer_chan **ret);
void zt_peer_chan_set_arg(struct zt_peer_chan *ch, void *carg);

/* Writes up to len bytes. Returns the count taken (0 before READY or when the send
 * buffer is full: WRITABLE follows), -EPIPE (shut down, reset, or the session is
 * gone). */
int zt_peer_chan_write(struct zt_peer_chan *ch, const void *data, size_t len);
/* Room in the send buffer now (0 before READY; at the connector also within the
 * agent's bytes in flight, whose count it updates). When it is 0 after READY, a
 * WRITABLE event follows once there is room. */
size_t zt_peer_chan_writable(struct zt_peer_chan *ch);

/*
 * Reads received bytes. Returns the count (> 0; *ret_fin true when they end the
 * stream), 0 with *ret_fin at the end, -EAGAIN (nothing yet), -ECONNRESET (reset by
 * the other end), -EPIPE (the session is gone).
 */
int zt_peer_chan_read(struct zt_peer_chan *ch, void *buf, size_t cap, bool *ret_fin);

/*
 * The shell wrote n more of the bytes it read from ch to its socket. At the connector
 * they stop counting as the agent's bytes in flight (cfg.agent_max_bytes: while they
 * are at the limit, zt_peer_chan_read returns -EAGAIN and zt_peer_chan_writable 0, and
 * READABLE / WRITABLE follow when there is room again). Elsewhere a no-op.
 */
void zt_peer_chan_consumed(struct zt_peer_chan *ch, size_t n);

/* FIN after the data written so far (TCP half-close). Returns 0 or -EPIPE. */
int zt_peer_chan_shutdown(struct zt_peer_chan *ch);

/*
 * The application is done with ch: no more events. If the stream did not finish
 * normally both ways (FIN sent and FIN read), it is reset with code (0:
 * ZT_FWD_ABORT; ZT_FWD_TCP_RESET for a TCP reset, ZT_FWD_REFUSED when the connector
 * could not connect). ch is invalid after.
 */
void zt_peer_chan_release(struct zt_peer_chan *ch, uint64_t code);

/* Flows. */

/* Agent: a UDP flow to service. Returns 0, -EINVAL, -ENOMEM, or a refusal's code
 * (as zt_peer_chan_open). */
int zt_peer_flow_open(struct zt_peer *p, uint64_t now, const char *service, void *farg,
		      struct zt_peer_flow **ret);
void zt_peer_flow_set_arg(struct zt_peer_flow *f, void *farg);

/*
 * Sends one datagram on the flow. Returns 0 (sent or, before the session is ready,
 * queued), -EMSGSIZE (over ZT_PEER_UDP_MAX), -EAGAIN (queue full: dropped and
 * counted), -EPIPE (the flow's session is gone).
 */
int zt_peer_flow_send(struct zt_peer_flow *f, uint64_t now, const void *data, size_t len);

/* Forget a flow now (no flow_closed). */
void zt_peer_flow_close(struct zt_peer_flow *f);

/*
 * Agent: one in-band echo (node/fwd.h, flow 0) to service's connector, answered
 * through cb->pong. Opens the session if there is none. Returns 0 (sent), -EAGAIN
 * (the session is not ready yet: try again), -EINVAL (bad service name), -ENOMEM, or
 * a refusal's code (as zt_peer_chan_open).
 */
int zt_peer_ping(struct zt_peer *p, uint64_t now, const char *service, uint64_t nonce);

/*
 * Agent: the refusal remembered for service, or for the login when service is NULL
 * (struct zt_peer_refusal; it may have run out: retry_at <= now). Returns 0 or -ENOENT.
 */
int zt_peer_refusal(const struct zt_peer *p, const char *service, struct zt_peer_refusal *ret);
/* Agent: the refusals remembered for services, up to cap. Returns how many there are. */
size_t zt_peer_refusals(const struct zt_peer *p, struct zt_peer_refusal *out, size_t cap);

/* Hooks for ICE and path management. */

/* The direct path. */

/* Where a session's end-to-end connection runs, for `ztna status`. */
struct zt_peer_path_info {
	bool direct;                  /* on the direct path now */
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
};

/* Fills *ret for session id. Returns 0 or -ENOENT. */
int zt_peer_session_path(const struct zt_peer *p, uint32_t id, struct zt_peer_path_info *ret);
/* The ids of the live sessions, up to cap. Returns how many there are. */
size_t zt_peer_session_ids(const struct zt_peer *p, uint32_t *ids, size_t cap);

/*
 * The host addresses for host candidates (RFC 8445 s5.1.1.1); the port of each is
 * replaced by the socket's (cfg.local's). Without any, cfg.local's address is used
 * when it is not a wildcard. Returns 0 or -EINVAL (more than ZT_PEER_MAX_HOSTS).
 */
#define ZT_PEER_MAX_HOSTS 8
int zt_peer_set_host_addrs(struct zt_peer *p, const struct zt_addr *ips, size_t n);
/* Local addresses or links changed (netlink): sessions re-gather and check again. */
void zt_peer_netchange(struct zt_peer *p, uint64_t now);

/* Connector: what an agent holds (cfg.agent_max_*). */
struct zt_peer_agent_info {
	char identity[ZT_CTRL_STR_MAX + 1];
	size_t sessions, chans, flows;
	uint64_t bytes;                     /* in flight, both ways */
	uint64_t refused;                   /* channels, flow datagrams and sessions refused */
};
/* Connector: the agents with sessions, up to cap. Returns how many there are. */
size_t zt_peer_agents(const struct zt_peer *p, struct zt_peer_agent_info *out, size_t cap);

/* A session by id. Returns 0 or -ENOENT. */
int zt_peer_session_info(const struct zt_peer *p, uint32_t id, struct zt_peer_session_info *ret);

/* The relay path of inner connections {virtual local, Intermediate}. */
void zt_peer_relay_path(const struct zt_peer *p, struct zt_quic_path *ret);

#endif
