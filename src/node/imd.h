/*
 * The Intermediate, sans-IO: everything ztna-intermediate does, driven by the
 * datagrams of its one UDP socket and a timer.
 *
 *	on a datagram:  zt_imd_recv(imd, now, local, from, pkt, len);
 *	on the timer:   zt_imd_on_timeout(imd, now);
 *	after either:   while ((n = zt_imd_poll_send(imd, now, buf, cap, &local, &remote)) > 0)
 *	                    send buf[0..n) from local to remote;
 *	                arm the timer at zt_imd_next_deadline(imd);
 *
 * What it does:
 *  - Demultiplexes the socket (RFC 9443 first byte): 0-3 STUN, answered as a Binding
 *    server (RFC 8489, one address) when cfg.listen is set, at most 10 answers a
 *    second to one IP and 1000 in all (sources can be spoofed); QUIC by destination
 *    connection ID; a client's first Initial opens an outer connection (TLS 1.3,
 *    ALPN ztna-outer/1, client certificate required). Anything else is dropped and
 *    counted. A short-header packet for a connection we do not have (e.g. from before
 *    a restart) is answered with a Stateless Reset when cfg.reset_key is set, so the
 *    client reconnects at once instead of at its idle timeout.
 *  - Under load, a first Initial is answered with a Retry (RFC 9000 s8.1.2,
 *    quic/retry.h) and no state is kept until the client repeats the token from its
 *    address; cfg.retry ALWAYS does that for every client. A client is half-open
 *    from its first Initial until its HELLO is accepted; half-open clients are
 *    limited in total and per source (an IPv4 address or IPv6 /64: new Initials over
 *    a limit are dropped and counted) and dropped cfg.handshake_timeout after their
 *    first Initial. An Initial whose token does not verify gets CONNECTION_CLOSE
 *    INVALID_TOKEN (s8.1.3), within the stateless answers' rate.
 *  - Control (docs/control-protocol.md) on the first stream the client opens:
 *    HELLO is checked against the certificate (identity URI ztna:KIND:NAME, KIND
 *    matching the role) and the policy's credentials; WELCOME carries the observed
 *    address; OBSERVED_ADDRESS follows whenever the client's validated path changes
 *    (migration, NAT rebinding). A failed HELLO gets ERROR (1500) and the connection
 *    is closed with the same code. The identity's limits (node/policy.h, limit
 *    rules) take the place of cfg's relay_rate/relay_burst and max_sessions from its
 *    login; one over a transport they do not allow gets ERROR 1501 (ZT_EPOLICY, text
 *    "transport tcp not allowed for ztna:agent:alice ...") and is closed likewise (a
 *    move over it too: the old connection stays). A connector's services (HELLO or REGISTER) are
 *    registered if the policy's serve rules bind them to its identity; each other
 *    one gets ERROR 1509 naming the service and the fix (the allowed ones are
 *    registered, the connection stays). One identity holds one authenticated
 *    connection (cfg.logins_per_identity): a newer login of the same identity
 *    (agent or connector) replaces the older one, which gets ERROR 1508 (ZT_EREPLACED) and then CONNECTION_CLOSE
 *    with the same code; its sessions end, except those on the direct path, which
 *    wait cfg.orphan_grace for their end to come back (OPEN with SESSION_ID, or the
 *    connector's new connection). A client whose connection is lost rather than
 *    closed by it (idle timeout, a TCP reset) has all its sessions kept that way,
 *    relayed ones too: their other end's packets are dropped until it is back.
 *  - OPEN: within the connection's OPEN rate (ERROR 1510), policy first (ERROR 1501
 *    without revealing whether the service exists), max_sessions (held OPENs count;
 *    ERROR 1503), then a connector for the service: of those serving it and not
 *    backed up, the one with the fewest sessions, the most recently registered on a
 *    tie (ERROR 1502 when none; the OPEN is held up to cfg.open_hold after start for
 *    connectors re-registering after a restart, and up to cfg.busy_hold while every
 *    connector for it is backed up, then ERROR 1502 / 1510; held OPENs are bounded
 *    per connection and in total, over either ERROR 1510); then SESSION to both ends:
 *    the agent ICE-controlling, the connector controlled.
 *  - Control-message budget per connection (ctrl_rate, ctrl_burst): over it messages
 *    are dropped with one ERROR 1510, and a client that keeps on is closed. A party
 *    whose control stream is backed up (more than ctrl_busy bytes queued towards it)
 *    is not read until it drains, gets no new sessions and no forwarded CANDIDATES;
 *    messages that do not fit its buffers are dropped and counted; it is closed only
 *    when it has read nothing for ctrl_stall (docs/security.md, "Control messages").
 *  - Relay: an outer DATAGRAM from one end of a session (node/relay.h header) is
 *    forwarded unchanged to the other end, within the session's byte and packet
 *    quotas (over them: ERROR and CLOSE 1503 to both ends) and the sender's relay
 *    rate (cfg.relay_rate bytes a second per client connection, what it sends into the
 *    relay in all its sessions; over it the payload is dropped and counted, nothing
 *    else: to the end-to-end connection that is loss, and its congestion control
 *    slows down). Anything else is dropped and counted. The payload is never
 *    decrypted: the Intermediate has no inner keys.
 *  - Relay channel (docs/relay-channel.md, node/relay.h): a client on QUIC that asks
 *    for it in HELLO gets RELAY_CHANNEL in WELCOME (unless cfg.relay_channel_off).
 *    Channel data (first byte ZT_RELAY_CHAN_MARKER) is taken only from the validated
 *    address (observed) of such a client that is an end of the session it names, and
 *    goes through the same checks as a DATAGRAM; whatever is relayed to such a
 *    client goes to its validated address as channel data (as an outer DATAGRAM when
 *    the channel's queue of 128 is full).
 *  - Signaling: CANDIDATES are forwarded to the other end of the session (at most 32
 *    messages and 16 KiB per end per 10 s, and only while the receiver has less than
 *    a quarter of ctrl_busy queued: signaling alone never backs a party up); once both
 *    ends have sent candidates of the same generation, START_CHECKS goes to both
 *    with offsets corrected by each end's smoothed RTT (zt_imd_start_offsets) so both
 *    start at the same moment. A session with an end whose identity has direct off
 *    (limit rules) gets neither: its CANDIDATES are dropped and counted
 *    (direct_refused), and it stays on the relay. CLOSE is forwarded; PING answered
 *    with PONG.
 *
 * Callbacks (log, qlog) are called from inside these functions; they must not call
 * back into this Intermediate.
 */
#ifndef ZT_NODE_IMD_H
#define ZT_NODE_IMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/rng.h"
#include "node/nodelog.h"
#include "node/policy.h"
#include "quic/tls.h"

struct zt_relaytab;

#define ZT_IMD_RATE_MAX 1000000
#define ZT_IMD_CTRL_BUSY_MAX (128 * 1024)
/* The smallest relay burst: an end-to-end QUIC connection's initial window (RFC 9002
 * s7.2: 14,720 bytes at most) with room to spare, so its first flight passes. */
#define ZT_IMD_RELAY_BURST_MIN (16 * 1024)
enum zt_imd_retry {
	ZT_IMD_RETRY_LOAD = 0,   /* Retry when half-open connections pass a threshold */
	ZT_IMD_RETRY_ALWAYS = 1, /* Retry every client's first Initial */
};

/* Where the connector for a service is, when not here (cfg.elsewhere). */
struct zt_imd_where {
	char connector[96];              /* its name */
	char imd[64];                    /* the Intermediate it is connected to */
	struct zt_addr link;             /* that one's link address (family 0: unknown) */
	char note[128];                  /* when none is found: why the answer may be
					    incomplete, for the refusal ("" none) */
};

struct zt_imd_config {
	struct zt_tls_ctx *tls;          /* required: server, ZT_ALPN_OUTER, require_peer_cert */
	struct zt_tls_ctx *tls_tcp;        /* TCP clients (zt_imd_tcp_accept): server,
					      ZT_ALPN_OUTER_TCP, the same certificate */
	const struct zt_rng *rng;        /* required */
	const struct zt_policy *policy;  /* required; must outlive the Intermediate */
	struct zt_addr listen;           /* the socket's address, for STUN; family 0: no STUN */
	/* A second UDP port of listen's IP that answers STUN Binding requests only (the
	 * shell opens it and hands its datagrams to zt_imd_recv with it as the local
	 * address; the answers name it as their local address). WELCOME names it, for the
	 * clients' NAT detection (core/natprobe.h). Its answers share the STUN budget of
	 * the main port. 0: none; listen's port: -EINVAL. */
	uint16_t stun_port;
	/* STUN answers (both ports together) a second to one IP and in all, bursts 8 s
	 * worth (core/checkbudget.h; a request's source can be spoofed). 0: 10 and 1000. */
	uint32_t stun_rate, stun_rate_total;
	uint64_t quota_bytes;            /* relay budget per session; 0: 64 GiB */
	uint64_t quota_packets;          /* 0: 64 Mi packets */
	/* Relay rate per client connection: the bytes of the relayed payloads it sends
	 * (relay header included, as quota_bytes counts them), all its sessions together,
	 * a token bucket of relay_rate bytes a second holding relay_burst. 0: no limit,
	 * the default: a fair share is the relay's capacity over the clients that use it
	 * at once, which only the operator knows (docs/security.md, "Relay bandwidth"). */
	uint32_t relay_rate;
	uint32_t relay_burst;            /* 0: a quarter second at relay_rate, at least
					    ZT_IMD_RELAY_BURST_MIN; below that: -EINVAL */
	uint64_t start_margin;           /* START_CHECKS: the farther end waits this; 0: 50 ms */
	uint64_t open_hold;              /* hold OPENs for unregistered services this long
					    after start (connectors coming back); 0: never */
	uint64_t idle_timeout;           /* outer connections; 0: 75 s (3 x the clients'
					    keepalive; over TCP the Intermediate PINGs every
					    third of it) */
	uint64_t orphan_grace;           /* a session on the direct path whose agent or
					    connector lost us waits this long for it to come
					    back (the other end is not told); 0: 30 s */
	uint64_t rehome_grace;           /* ... a session whose link to another
					    Intermediate was lost: its end behind that one
					    needs its own failover first (a client leaves a
					    silent Intermediate within ~40 s, node/peer.h);
					    0: 50 s (below the inner idle timeout, 60 s) */
	uint64_t hello_timeout;          /* HELLO due this long after the handshake (and
					    within handshake_timeout); 0: 10 s */
	size_t max_clients;              /* 0: 10000 */
	/* Address validation and half-open connections (docs/security.md). */
	enum zt_imd_retry retry;         /* default LOAD */
	size_t retry_half_open;          /* LOAD: Retry once this many are half-open; 0: 100 */
	size_t retry_half_open_source;   /* ... or this many from the Initial's source; 0: 4 */
	uint64_t retry_token_lifetime;   /* a Retry token is good this long; 0: 10 s */
	size_t half_open_max;            /* half-open connections at most; 0: 1000 */
	size_t half_open_per_source;     /* ... from one source; 0: 32 */
	uint64_t handshake_timeout;      /* from the first Initial to HELLO; 0: 10 s */
	size_t logins_per_identity;      /* authenticated connections of one identity; a
					    login over it replaces the oldest; 0: 1 */
	size_t max_sessions;             /* per agent connection; 0: 1024 (an identity's limit
					    rule may set its own, as for relay_rate) */
	size_t dgram_queue;              /* DATAGRAMs queued per outer connection; 0: 512 */
	/* The relay channel (docs/relay-channel.md): off, no client gets RELAY_CHANNEL in
	 * WELCOME and everything relayed rides in outer DATAGRAMs. Default (false): on. */
	bool relay_channel_off;
	/* The workers' relay table (node/relaytab.h, docs/workers.md): the Intermediate
	 * keeps an entry per session in it, so that other threads forward its channel
	 * data; a session's relay count is shared with them. NULL: none (one thread).
	 * Must outlive the Intermediate. */
	struct zt_relaytab *relaytab;
	/* Several Intermediates (docs/scale-out.md): asked when no connector here serves a
	 * service an agent opens; fills *ret with where one is connected instead and
	 * returns true. It must not call into the Intermediate. NULL: not asked. */
	bool (*elsewhere)(void *arg, const struct zt_policy *policy, const char *service,
			  struct zt_imd_where *ret);
	void *elsewhere_arg;
	/* Asked (with elsewhere_arg) as an agent or connector logs in: the presence seq of
	 * its record at another Intermediate known now (0: none), which its own record's
	 * seq is to stay above (zt_imd_each_client gives it back; node/prespub.h). It must
	 * not call into the Intermediate. NULL: 0. */
	uint64_t (*login_floor)(void *arg, bool connector, const char *name);
	/* Links between Intermediates (docs/scale-out.md, "Sessions across
	 * Intermediates"). link_tls (a client context: ZT_ALPN_OUTER, our certificate,
	 * which must carry the TLS client purpose): an OPEN for a service whose connector
	 * elsewhere() places at another Intermediate with a link address goes to that
	 * one over a link we open (one per Intermediate, kept while it has sessions);
	 * NULL: refused, naming where the connector is. link_identity: our certificate's
	 * identity URI, which the HELLO on our links names. links_in: take links from
	 * the deployment's other Intermediates (their certificate is their credential). */
	struct zt_tls_ctx *link_tls;
	const char *link_identity;
	bool links_in;
	size_t link_max_sessions;        /* sessions on one link we take; 0: 100000 */
	uint64_t link_idle;              /* a link of ours silent this long is lost (it
					    PINGs every quarter of it); 0: 10 s */
	const uint8_t *reset_key;        /* stateless reset secret (>= 16 bytes), also the
					    Retry tokens' key; NULL: no resets, and a
					    random Retry key (drawn when first needed) */
	size_t reset_key_len;
	unsigned reset_rate;             /* stateless resets per second at most; 0: 100 */
	/* Control-message limits, per connection unless said (rates and bursts at most
	 * ZT_IMD_RATE_MAX; zt_imd_new returns -EINVAL beyond). */
	unsigned open_rate;              /* OPENs per second; 0: 20 */
	unsigned open_burst;             /* OPENs in a burst; 0: 100 */
	size_t max_held;                 /* OPENs held (waiting for a connector); 0: 32 */
	size_t max_held_total;           /* ... in all; 0: 10000 */
	uint64_t busy_hold;              /* an OPEN waits this long for a backed-up
					    connector; 0: 5 s */
	unsigned ctrl_rate;              /* control messages per second; 0: 200 */
	unsigned ctrl_burst;             /* ... in a burst, plus 16 per session; 0: 1000 */
	size_t ctrl_busy;                /* bytes queued towards a party above which it is
					    backed up; 0: 64 KiB; at most ZT_IMD_CTRL_BUSY_MAX */
	uint64_t ctrl_stall;             /* a party that reads nothing of its queued control
					    stream this long is closed; 0: 30 s */
	/* Tunnel addresses (docs/tunnel.md, "Packet tunnel"): each agent gets one from each
	 * pool given, the same one at every login (core/addrpool.h), in its WELCOME. */
	struct zt_addr tun_pool4, tun_pool6; /* network addresses; family 0: no such pool */
	uint8_t tun_plen4, tun_plen6;        /* 8..30, 64..126 */
	struct zt_node_log log;
	/* Optional qlog: a handle per connection (label "outer-<client id>"), chunks to it. */
	void *(*qlog_open)(void *arg, const char *label);
	void (*qlog_write)(void *handle, const void *data, size_t len, bool fin);
	void *qlog_arg;
};

struct zt_imd_stats {
	uint64_t dgrams_in, dgrams_out;
	uint64_t dropped_garbage;       /* first byte neither STUN nor QUIC, or empty */
	uint64_t dropped_unknown;       /* QUIC for no connection of ours, not a new one */
	uint64_t dropped_conn;          /* refused by a connection (not QUIC of its own) */
	uint64_t stun_answered, stun_dropped;
	uint64_t stun_limited;          /* STUN not answered: over the budget of answers to
					   its source IP (10/s) or in all (1000/s) */
	uint64_t resets_sent;
	uint64_t accepted, refused_full, accept_failed;
	uint64_t tcp_accepted;             /* of accepted: over TLS/TCP */
	uint64_t moved;                    /* logins moved to another connection (HELLO
					      with CLIENT_ID) */
	uint64_t retry_sent;            /* Retry packets sent (address validation) */
	uint64_t retry_validated;       /* Initials whose Retry token verified */
	uint64_t retry_bad_token;       /* ... whose token did not (forged, expired, moved) */
	uint64_t refused_half_open;     /* first Initials dropped: half_open_max reached */
	uint64_t refused_source;        /* ... half_open_per_source reached for their source */
	uint64_t half_open_expired;     /* half-open clients dropped at handshake_timeout */
	uint64_t replaced;              /* connections replaced by a newer login of their identity */
	uint64_t auth_ok, auth_failed;
	uint64_t opens, sessions_opened, policy_refused, no_service, held;
	uint64_t no_service_elsewhere;  /* of no_service: the service's connector is at
					   another Intermediate (cfg.elsewhere) and no
					   link to it could be used */
	/* Links between Intermediates (cfg.link_tls, cfg.links_in). */
	uint64_t links_opened;          /* links we opened */
	uint64_t links_failed;          /* ... that ended before or after they were up */
	uint64_t links_in;              /* links other Intermediates opened to us, logged in */
	uint64_t cross_opens;           /* OPENs sent over a link for an agent of ours */
	uint64_t cross_sessions;        /* ... answered with a session */
	uint64_t cross_refused;         /* ... refused by the other Intermediate, or failed
					   with the link */
	uint64_t link_opens;            /* OPENs taken from links (for their agents) */
	uint64_t sessions_resumed;  /* OPEN with SESSION_ID: a kept session re-attached */
	uint64_t sessions_orphaned; /* an end lost while on the direct path: kept for it */
	uint64_t orphans_expired;   /* ... which did not come back in time */
	uint64_t relay_pkts, relay_bytes;
	uint64_t relay_dropped_unknown; /* no such session, or the sender is not an end of it */
	uint64_t relay_dropped_quota;
	uint64_t relay_dropped_rate;    /* over the sender's relay_rate */
	uint64_t relay_dropped_queue;   /* the other end's DATAGRAM queue was full */
	uint64_t relay_dropped_malformed;
	/* The relay channel (docs/relay-channel.md). relay_pkts and relay_bytes count its
	 * payloads too, whichever way they came or went. */
	uint64_t relay_chan_pkts;         /* channel datagrams taken from a bound address */
	uint64_t relay_chan_out;          /* payloads sent as channel data */
	/* The workers' (cfg.relaytab, docs/workers.md): channel datagrams they forwarded
	 * themselves and their payload bytes; not in the counts above, which are the
	 * Intermediate's own (the relay's totals: both added) */
	uint64_t relay_worker_pkts, relay_worker_bytes;
	uint64_t relay_chan_dropped_addr; /* no such session, or the source is not the
					     validated address of an end of it that has the
					     channel */
	uint64_t relay_chan_dropped_malformed;
	uint64_t ctrl_errors;           /* control messages refused or undecodable */
	uint64_t candidates_fwd, start_checks_sent;
	uint64_t direct_refused;        /* CANDIDATES dropped: an end's identity has direct off */
	uint64_t transport_refused;     /* logins refused: a transport the identity may not use */
	uint64_t register_refused;      /* services a connector may not serve (ERROR 1509) */
	uint64_t open_rate_limited;     /* OPENs over the connection's OPEN rate (1510) */
	uint64_t open_max_sessions;     /* OPENs over max_sessions (1503) */
	uint64_t held_refused;          /* OPENs not held: a held limit reached (1510) */
	uint64_t open_busy;             /* held OPENs whose connector stayed backed up (1510) */
	uint64_t ctrl_over_budget;      /* control messages dropped over a budget */
	uint64_t ctrl_budget_closed;    /* connections closed for staying over it */
	uint64_t ctrl_fwd_dropped;      /* CANDIDATES not forwarded: the receiver backed up */
	uint64_t ctrl_send_dropped;     /* messages dropped: the receiver's buffers full */
	uint64_t ctrl_stalled_closed;   /* connections closed: control stream not read */
	uint64_t log_suppressed;        /* refusal log lines left out (summed up) */
	size_t clients, sessions;       /* now */
	size_t held_now;                /* OPENs held now */
	size_t authenticated;           /* now: clients logged in (HELLO accepted), not closing */
	size_t half_open, half_open_sources; /* now: half-open clients, and their sources */
};

struct zt_imd_session_info {
	uint32_t id;
	char service[256];
	char agent[96], connector[96];  /* identity URIs */
	uint64_t relay_pkts, relay_bytes, quota_bytes, quota_packets;
	uint64_t dropped_quota;
	uint64_t dropped_rate;          /* over its sender's relay_rate (either end) */
	bool started;                   /* START_CHECKS sent */
	uint32_t generation;
	bool direct;                    /* the agent's last PATH_REPORT said direct */
	bool orphan;                    /* an end is gone; the session waits for it */
};

/* A logged-in client (zt_imd_clients). */
struct zt_imd_client_info {
	uint64_t id;                    /* its client id (WELCOME) */
	char identity[96];              /* URI: ztna:agent:alice */
	bool connector;                 /* else an agent, or: */
	bool link;                      /* another Intermediate's link, or ours to it */
	bool tcp;                       /* over TLS/TCP, else QUIC */
	bool chan;                      /* has the relay channel */
	struct zt_addr remote;          /* its validated address now */
	uint64_t connected_at;          /* its first Initial (TCP: the accept) */
	uint64_t login_at;              /* its HELLO accepted */
	size_t sessions;
	uint64_t relay_dropped_rate;    /* its payloads dropped over its relay rate */
	char services[33 * 64];         /* connector: its registered services, "web,db";
					   "-" when none (an agent: always) */
};

struct zt_imd;

/* Returns 0, -EINVAL (missing tls, rng or policy, tls not a server, a limit out of its
 * range), -ENOMEM. */
int zt_imd_new(struct zt_imd **ret, const struct zt_imd_config *cfg, uint64_t now);
/* Frees everything (sends nothing). NULL is fine. */
void zt_imd_free(struct zt_imd *imd);

/*
 * One datagram from the socket: it arrived at local from `from`. Returns 0 (taken,
 * possibly dropped and counted), -EINVAL (an address is unset).
 */
int zt_imd_recv(struct zt_imd *imd, uint64_t now, const struct zt_addr *local,
		const struct zt_addr *from, const uint8_t *pkt, size_t len);

/*
 * The next datagram to send, from *ret_local to *ret_remote. Returns its length, 0
 * when nothing is due (wait for the deadline or a datagram), -ENOBUFS (cap below
 * ZT_QUIC_OUTER_UDP_PAYLOAD).
 */
int zt_imd_poll_send(struct zt_imd *imd, uint64_t now, uint8_t *buf, size_t cap,
		     struct zt_addr *ret_local, struct zt_addr *ret_remote);

/* When zt_imd_on_timeout() must run next, or ZT_TIME_NEVER. */
uint64_t zt_imd_next_deadline(const struct zt_imd *imd);
void zt_imd_on_timeout(struct zt_imd *imd, uint64_t now);

/*
 * Shutting down: closes every client's connection (application code 0, reason) so
 * clients learn at once; poll_send then yields the CONNECTION_CLOSE packets.
 */
void zt_imd_close_all(struct zt_imd *imd, const char *reason);

/*
 * TCP clients (docs/tcp-transport.md): the outer connection over TLS/TCP, accepted by
 * the program's TCP listener and driven with the bytes of each connection:
 *
 *	accepted:     zt_imd_tcp_accept(imd, now, local, remote, &id)  (refused: close it)
 *	bytes in:     n = zt_imd_tcp_recv(imd, now, id, data, len);  keep data[n..len) and
 *	              offer it again later (the client's control input is full)
 *	after any call into the Intermediate, for each id from zt_imd_tcp_next(imd, &id)
 *	and each socket that had output left over:
 *	              len = zt_imd_tcp_output(imd, id, &p); write p[0..len);
 *	              zt_imd_tcp_sent(imd, now, id, written);
 *	              -ENOTCONN (done: close the socket, then zt_imd_tcp_closed)
 *	socket ended: zt_imd_tcp_closed(imd, now, id, err)  (the id is forgotten)
 *
 * The same limits apply as to QUIC clients (max_clients, half-open in total and per
 * source, handshake_timeout, hello_timeout) and the same login, control and relay.
 * Returns: accept 0, -EBUSY (a limit: refused and counted), -ENOMEM, ZT_ETLS; recv
 * the count taken or -ENOENT (no such id).
 */
int zt_imd_tcp_accept(struct zt_imd *imd, uint64_t now, const struct zt_addr *local,
		      const struct zt_addr *remote, uint64_t *ret_id);
int zt_imd_tcp_recv(struct zt_imd *imd, uint64_t now, uint64_t id, const uint8_t *data,
		    size_t len);
int zt_imd_tcp_output(struct zt_imd *imd, uint64_t id, const uint8_t **ret);
void zt_imd_tcp_sent(struct zt_imd *imd, uint64_t now, uint64_t id, size_t n);
void zt_imd_tcp_closed(struct zt_imd *imd, uint64_t now, uint64_t id, int err);
/* A TCP client with something new (output, or its end): 1 and *ret_id, 0 none. */
int zt_imd_tcp_next(struct zt_imd *imd, uint64_t *ret_id);

void zt_imd_stats(const struct zt_imd *imd, struct zt_imd_stats *ret);

/* Clients logged in now, by what their last CANDIDATES said of their NAT: mapping[i]
 * by enum zt_ctrl_nat_mapping, ports[i] by enum zt_ctrl_nat_ports; index 0: unknown
 * (never said, or a value this version does not know). */
#define ZT_IMD_NAT_KINDS 4
void zt_imd_nat_seen(const struct zt_imd *imd, uint32_t mapping[ZT_IMD_NAT_KINDS],
		     uint32_t ports[ZT_IMD_NAT_KINDS]);

/* What zt_imd_set_policy did. */
struct zt_imd_reload {
	size_t clients_revoked;   /* logged-in clients no longer listed: disconnected */
	size_t sessions_ended;    /* sessions the new rules no longer allow */
	size_t services_dropped;  /* services connectors registered and may no longer serve */
};

/*
 * Takes a new policy (clients, allow, serve, limit rules: a configuration reload)
 * from now on; the caller keeps it alive until the next call or zt_imd_free, and may
 * free the old one after this returns. Connections and sessions still allowed go on
 * untouched. A logged-in client whose identity is no longer listed gets ERROR
 * (ZT_EAUTH, "revoked") and is closed, its sessions ended (their other ends told);
 * a session whose agent may no longer reach its service, or whose connector may no
 * longer serve it, ends (CLOSE to both ends, ZT_EPOLICY); a connector's registered
 * services it may no longer serve are dropped. A changed token does not end a
 * connection that logged in with the old one (the next login needs the new one), and
 * limits take effect at the next login. Returns 0, or -EINVAL (policy NULL).
 */
int zt_imd_set_policy(struct zt_imd *imd, uint64_t now, const struct zt_policy *policy,
		      struct zt_imd_reload *ret);

/* The logged-in clients, the most recently connected first: up to cap of them into
 * ret. Returns how many there are in all. */
size_t zt_imd_clients(const struct zt_imd *imd, struct zt_imd_client_info *ret, size_t cap);

/* Calls fn(arg, connector, name, remote, login_at, login_floor) for every logged-in
 * client, in no order: its role, its name (the PKI's, "alice"), its validated address
 * now, when it logged in (the Intermediate's clock) and what cfg.login_floor said then.
 * fn must not call into the Intermediate. Cheaper than zt_imd_clients for many
 * clients. */
void zt_imd_each_client(const struct zt_imd *imd,
			void (*fn)(void *arg, bool connector, const char *name,
				   const struct zt_addr *remote, uint64_t login_at,
				   uint64_t login_floor),
			void *arg);

/* Ends every login here of that agent or connector (ERROR 1508 with text, then the
 * connection closed): it has logged in again elsewhere (a newer login at another
 * Intermediate, seen in the shared presence). Its sessions are kept as for a lost
 * connection (orphans, for it to take up again from there). Returns how many. Nothing
 * ends when several logins of one identity are allowed (cfg.logins_per_identity > 1):
 * they may be at several Intermediates too (returns 0). */
size_t zt_imd_retire_identity(struct zt_imd *imd, uint64_t now, bool connector, const char *name,
			      const char *text);

/* The sessions' ids, in no order: up to cap of them into ret (zt_imd_session_info
 * for each). Returns how many there are in all. */
size_t zt_imd_session_ids(const struct zt_imd *imd, uint32_t *ret, size_t cap);

/* A session's state. Returns 0 or -ENOENT. */
int zt_imd_session_info(const struct zt_imd *imd, uint32_t id, struct zt_imd_session_info *ret);

/*
 * START_CHECKS offsets: the message reaches an end about half its smoothed RTT after
 * it leaves; both ends must start at the same moment D after sending, the farther
 * one margin after receipt: D = max(srtt_a, srtt_c) / 2 + margin, and each end's
 * offset is D minus its own half RTT.
 */
void zt_imd_start_offsets(uint64_t srtt_a, uint64_t srtt_c, uint64_t margin,
			  uint64_t *ret_off_a, uint64_t *ret_off_c);

#endif
