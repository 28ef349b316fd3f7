/*
 * A QUIC connection, sans-IO: a wrapper around ngtcp2_conn (0.12) and a GnuTLS session.
 *
 * Nothing here reads a clock, draws from the OS or touches a socket. Time is `now`
 * (uint64_t nanoseconds, monotonic, core/units.h); randomness (connection IDs,
 * reset tokens, PATH_CHALLENGE data) comes from the struct zt_rng in the config;
 * packets go in through zt_quic_conn_recv() and come out of zt_quic_conn_poll_send()
 * together with the path to send them on. (TLS keys come from GnuTLS's own RNG.)
 *
 * The driving loop, per connection:
 *
 *	on a datagram:  zt_quic_conn_recv(c, now, &path, pkt, len);
 *	on the timer:   zt_quic_conn_on_timeout(c, now);
 *	after either, and after the application wrote to a stream:
 *	    while ((n = zt_quic_conn_poll_send(c, now, buf, sizeof(buf), &path)) > 0)
 *	        send buf[0..n) from path.local to path.remote;
 *	    arm the timer at zt_quic_conn_next_deadline(c);
 *	    if (zt_quic_conn_state(c) == ZT_QUIC_CLOSED) zt_quic_conn_free(c);
 *
 * Events (handshake done, stream data, datagrams, path changes) are delivered through
 * the callbacks in struct zt_quic_callbacks, never from inside ngtcp2: they are
 * queued while ngtcp2 runs and dispatched just before recv(), on_timeout() and
 * poll_send() return. A callback may therefore call any function of this API on any
 * connection, except zt_quic_conn_free() on the connection it is called for, and
 * recv()/on_timeout()/poll_send() on that same connection.
 *
 * Paths. A path is (local, remote) as struct zt_addr. A packet must be fed to recv()
 * with the same path every time it arrives the same way, and sent on the path
 * poll_send() names. The relay path of an inner connection uses a *virtual* local
 * address (zt_quic_relay_addr(): never a real address) that the I/O shell maps to
 * "wrap in an outer DATAGRAM"; ngtcp2 0.12 refuses a client migration whose local
 * address does not change, and this is what lets the inner connection move between
 * the relay path (virtual local, Intermediate) and the direct path (socket address,
 * peer) on one socket.
 *
 * Sizes. Outer connections send UDP payloads of up to ZT_QUIC_OUTER_UDP_PAYLOAD
 * bytes (1452: a 1500-byte MTU minus IPv6 and UDP headers) from the first packet on
 * (no PMTU probing, no 1200-byte start), so that one DATAGRAM frame can carry
 * ZT_QUIC_TUNNEL_MTU bytes: an inner packet, the inner client's 1200-byte Initial
 * included. Inner connections send packets of at most ZT_QUIC_TUNNEL_MTU bytes.
 */
#ifndef ZT_QUIC_CONN_H
#define ZT_QUIC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/rng.h"
#include "quic/cidmap.h"
#include "quic/tls.h"

/* The UDP payload an outer connection sends at most. */
#define ZT_QUIC_OUTER_UDP_PAYLOAD 1452
/* Room for the MAX_DATA frame (type and an 8-byte value) that goes with every
 * DATAGRAM: a packet holding only DATAGRAM frames arms no probe timeout in ngtcp2
 * 0.12.1 (conn.c, write_pkt). */
#define ZT_QUIC_DGRAM_COMPANION 9
/* The largest DATAGRAM frame payload a 1-RTT packet of udp_payload bytes always
 * holds: minus the short header (1 + ZT_QUIC_CID_LEN + 4-byte packet number), the
 * AEAD tag (16), the DATAGRAM frame type and length (1 + 2) and the companion. */
#define ZT_QUIC_DGRAM_OVERHEAD (1 + ZT_QUIC_CID_LEN + 4 + 16 + 1 + 2 + ZT_QUIC_DGRAM_COMPANION)
/* The tunnel MTU: the inner packet size one outer DATAGRAM carries (1411). */
#define ZT_QUIC_TUNNEL_MTU (ZT_QUIC_OUTER_UDP_PAYLOAD - ZT_QUIC_DGRAM_OVERHEAD)

struct zt_quic_path {
	struct zt_addr local;
	struct zt_addr remote;
};

enum zt_quic_state {
	ZT_QUIC_HANDSHAKING = 0,
	ZT_QUIC_ESTABLISHED = 1, /* handshake completed (server) / confirmed (client) */
	ZT_QUIC_CLOSING = 2,     /* we sent CONNECTION_CLOSE; waiting out the closing period */
	ZT_QUIC_DRAINING = 3,    /* the peer closed; waiting out the draining period */
	ZT_QUIC_CLOSED = 4,      /* done: free it */
};

/* Why a connection ended (valid once state >= ZT_QUIC_CLOSING). */
struct zt_quic_close_info {
	int err;            /* 0 (clean close), ZT_ETIMEOUT (idle or handshake timeout),
			       ZT_ETLS (handshake/certificate failure, either side),
			       ZT_EPEER (the peer closed with an error, or broke the
			       protocol), ZT_ESTATE (a local failure) */
	bool by_peer;       /* the peer sent the CONNECTION_CLOSE */
	bool app;           /* code is an application error code, else a transport one */
	uint64_t code;      /* QUIC error code (transport: 0x100+alert for TLS alerts) */
	char reason[128];   /* peer's reason phrase or a local description; NUL-terminated */
};

struct zt_quic_stats {
	uint64_t srtt_ns, min_rtt_ns, latest_rtt_ns, rttvar_ns;
	uint64_t cwnd, bytes_in_flight;
	uint64_t pkts_sent, bytes_sent;     /* UDP payloads produced by poll_send */
	uint64_t pkts_recv, bytes_recv;     /* UDP payloads given to recv */
	uint64_t pkts_dropped;              /* refused before ngtcp2 (not QUIC, closed) */
	uint64_t dgrams_sent, dgrams_recv;
	uint64_t dgrams_dropped;            /* queue full, waited too long (below), or the
					       peer cannot take them */
	uint64_t dgrams_expired;            /* ... of them: waited longer than a PTO */
	uint64_t dgrams_too_big;            /* ... of them: larger than the packets of the
					       path they were to go on (poll_send's cap) */
	uint64_t stream_bytes_sent, stream_bytes_recv; /* application bytes, first copies */
	uint64_t pto_count;
	uint64_t probes_sent;               /* our own probes (conn.c: probe_update) */
	uint64_t ptos_capped;               /* PTOs fired early (conn.c: pto_cap_at) */
	uint64_t revived;                   /* packets of the peer that ended a stall of ours
					       (conn.c: revive): our answer elicited an ACK */
	uint64_t revive_pings;              /* ... of them answered with a PING: ngtcp2's PTO
					       was past its idle timeout */
	uint64_t probes_doubled;            /* probes sent twice (dup_probe) */
	uint64_t peer_nudges;               /* PINGs for a server that did not follow a
					       migration (nudge_peer) */
	uint64_t nudges_unanswered;         /* of them since our last move, with nothing
					       heard on our path since (0 once heard) */
	uint64_t challenges_withheld;       /* small PATH_CHALLENGEs not sent
					       (full_size_challenges) */
	uint64_t pacing_skipped;            /* pacing timers cancelled at once: due within
					       ngtcp2's slack, nothing waiting (pace_idle) */
};

struct zt_quic_conn;

/*
 * Events. `arg` is the pointer given to zt_quic_conn_connect/accept (changeable with
 * zt_quic_conn_set_arg); `sarg` is the stream's pointer (zt_quic_stream_set_arg),
 * NULL until set. Every callback is optional.
 */
struct zt_quic_callbacks {
	/* The handshake is done: the peer's certificate was verified. */
	void (*handshake_done)(struct zt_quic_conn *c, void *arg);
	/* The peer opened stream sid. */
	void (*stream_opened)(struct zt_quic_conn *c, void *arg, int64_t sid);
	/* Data or the end of stream sid is waiting for zt_quic_stream_read(). Fired
	 * once per batch of arrivals, not again until more arrives. */
	void (*stream_readable)(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg);
	/* Send buffer space opened on sid after a write took less than offered. */
	void (*stream_writable)(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg);
	/* The peer reset its sending side of sid (RESET_STREAM): data not yet read
	 * is dropped, no more will come. */
	void (*stream_reset)(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg,
			     uint64_t app_err);
	/* The peer stopped reading sid (STOP_SENDING): our sending side was reset and
	 * further writes fail with -EPIPE. ngtcp2 0.12 reports this only when data is
	 * next sent on sid (and gives no error code); stream_closed follows. */
	void (*stream_stopped)(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg);
	/* sid is finished in both directions and forgotten; the id is invalid after. */
	void (*stream_closed)(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg);
	/* The peer allows more streams: zt_quic_stream_open() may succeed again. */
	void (*streams_available)(struct zt_quic_conn *c, void *arg);
	/* A DATAGRAM frame arrived (data valid during the call only). */
	void (*datagram)(struct zt_quic_conn *c, void *arg, const uint8_t *data, size_t len);
	/* Path validation ended: on success the connection now uses path (for a client,
	 * the path it migrated to; for a server, the path the client moved to). */
	void (*path_validated)(struct zt_quic_conn *c, void *arg,
			       const struct zt_quic_path *path, bool ok);
};

struct zt_quic_config {
	struct zt_tls_ctx *tls;             /* required; its side picks connect/accept */
	const struct zt_rng *rng;           /* required */
	struct zt_quic_cidmap *cidmap;      /* optional: register our connection IDs */
	const struct zt_quic_callbacks *cb; /* optional */

	size_t max_udp_payload;      /* largest packet we send; 0: ZT_QUIC_OUTER_UDP_PAYLOAD.
					Inner connections: ZT_QUIC_TUNNEL_MTU (or less). */
	uint64_t idle_timeout;       /* ns; 0: 30 s */
	uint64_t handshake_timeout;  /* ns; 0: 10 s. A client not confirmed by then
					(HANDSHAKE_DONE) ends as well: ZT_ETIMEOUT */
	uint64_t keepalive;          /* ns; 0: none. PING after this much quiet (at most
					half the idle timeout: zt_quic_conn_set_keepalive) */
	uint64_t stream_window;      /* initial per-stream receive window; 0: 256 KiB */
	uint64_t stream_window_max;  /* auto-tuned up to; 0: 8 MiB */
	uint64_t conn_window;        /* initial connection receive window; 0: 1 MiB */
	uint64_t conn_window_max;    /* 0: 24 MiB */
	uint64_t max_streams_bidi;   /* streams the peer may open at once; 0: 256 */
	size_t stream_sndbuf;        /* bytes a stream holds unacknowledged; 0: 256 KiB */
	size_t dgram_queue;          /* DATAGRAMs queued for sending at most; 0: 256 */
	uint64_t initial_rtt;        /* ns; 0: ngtcp2's 333 ms. Also sets how long a server
					validates the path a client left (see conn.c) */
	bool disable_migration;      /* server: tell the client not to migrate */
	bool full_size_challenges;   /* server: no PATH_CHALLENGE in a datagram under 1200
					bytes; the peer's new path is validated once its
					packets allow a full-size one (conn.c, end-to-end
					connections: ngtcp2 0.12.1 closes the connection when
					the re-check of a path validated by a small one fails) */
	bool release_tls;            /* server: free the GnuTLS session once the handshake
					completed (zt_tls_session_release): ~11 KB less per
					idle connection; any later CRYPTO data from the client
					closes the connection (CRYPTO_ERROR unexpected_message) */

	/* qlog (JSON-SEQ) output, one callback per chunk; fin on the last one. */
	void (*qlog)(void *qlog_arg, const void *data, size_t len, bool fin);
	void *qlog_arg;
	/* ngtcp2's debug log, one line per call (verbose). */
	void (*log)(void *log_arg, const char *line);
	void *log_arg;

	/*
	 * Optional: the stateless reset token of each connection ID this connection
	 * issues (RFC 9000 s10.3.2). A server that derives tokens from a static key and
	 * the ID can reset connections it no longer has, e.g. after a restart, so their
	 * clients learn at once instead of at their idle timeout. NULL: random tokens.
	 */
	void (*reset_token)(void *reset_arg, const uint8_t *cid, size_t cidlen,
			    uint8_t token[16]);
	void *reset_arg;
};

/*
 * Start a client connection on path to a server that must prove the name
 * server_name (see tls.h). cfg->tls must be a client context; cfg is copied (the
 * pointers in it must outlive the connection). The first flight is ready for
 * poll_send. Returns 0, -EINVAL, -ENOMEM, ZT_ETLS.
 */
int zt_quic_conn_connect(struct zt_quic_conn **ret, const struct zt_quic_config *cfg,
			 const char *server_name, const struct zt_quic_path *path, void *arg,
			 uint64_t now);

/*
 * Accept a connection from a client's first packet (one that found no connection in
 * the cidmap), which it then processes. cfg->tls must be a server context. Returns
 * 0, ZT_EMALFORMED (not an acceptable first Initial: drop it), -EINVAL, -ENOMEM,
 * ZT_ETLS.
 */
int zt_quic_conn_accept(struct zt_quic_conn **ret, const struct zt_quic_config *cfg,
			const struct zt_quic_path *path, const uint8_t *pkt, size_t len,
			void *arg, uint64_t now);

/* What a Retry proved (quic/retry.h): the client's original destination connection
 * ID, and the token its Initial repeated. */
struct zt_quic_retried {
	const uint8_t *odcid;
	size_t odcid_len;        /* 8..20 */
	const uint8_t *token;
	size_t token_len;
};

/*
 * zt_quic_conn_accept() for an Initial whose Retry token the caller has verified
 * (retried may be NULL: no Retry): the transport parameters carry the original and
 * the Retry connection IDs (RFC 9000 s7.3) and the client's address counts as
 * validated (no anti-amplification limit). Same returns.
 */
int zt_quic_conn_accept_retried(struct zt_quic_conn **ret, const struct zt_quic_config *cfg,
				const struct zt_quic_path *path, const uint8_t *pkt, size_t len,
				const struct zt_quic_retried *retried, void *arg, uint64_t now);

/* Free a connection (any state; sends nothing) and unregister its IDs. NULL is ok. */
void zt_quic_conn_free(struct zt_quic_conn *c);

void zt_quic_conn_set_arg(struct zt_quic_conn *c, void *arg);
void *zt_quic_conn_arg(const struct zt_quic_conn *c);
bool zt_quic_conn_is_server(const struct zt_quic_conn *c);

/*
 * Process one received UDP payload that arrived on path. Returns 0 (processed, or
 * silently ignored by ngtcp2, e.g. undecryptable), ZT_EMALFORMED (not a QUIC packet
 * of ours: counted in pkts_dropped), ZT_ESTATE (the connection is closed), or the
 * error that just ended the connection (ZT_ETLS, ZT_EPEER, ZT_ESTATE: state() says
 * CLOSING or CLOSED, close_info() says why). A garbage packet never ends a
 * connection.
 */
int zt_quic_conn_recv(struct zt_quic_conn *c, uint64_t now, const struct zt_quic_path *path,
		      const uint8_t *pkt, size_t len);

/* Whether the last datagram given to zt_quic_conn_recv() held a packet that
 * decrypted under the connection's keys after the handshake: only the peer can have
 * made it (or replayed it from the path), so it counts as the peer's consent on the
 * path it came from (node/direct.c). False for anything else, a packet with one of
 * our connection IDs and a bad AEAD tag included. */
bool zt_quic_conn_rx_authentic(const struct zt_quic_conn *c);

/*
 * Produce the next packet to send: stream data, queued DATAGRAMs, ACKs,
 * retransmissions, handshake, CONNECTION_CLOSE. Returns its length (> 0) with
 * *ret_path set, 0 when nothing is due now (wait for next_deadline(), a received
 * packet or new application data), -ENOBUFS (cap < 1200), or a negative error that
 * just ended the connection (state() says how). Paces: after a burst of the
 * congestion controller's send quantum it returns 0 and next_deadline() says when to
 * continue.
 * The packet is at most min(cap, max_udp_payload) bytes: cap is also the packet size
 * the path it goes on carries (the path MTU less the IP and UDP headers; a caller
 * that knows the connection's current path, zt_quic_conn_path(), passes that path's
 * size). Lost STREAM and CRYPTO data is sent again in packets of the new size (ngtcp2
 * splits the frames); a queued DATAGRAM larger than the packet holds is dropped
 * (dgrams_too_big). Path validation packets are 1200 bytes at most in any case.
 */
int zt_quic_conn_poll_send(struct zt_quic_conn *c, uint64_t now, uint8_t *buf, size_t cap,
			   struct zt_quic_path *ret_path);

/* When on_timeout() must run next, or ZT_TIME_NEVER. */
uint64_t zt_quic_conn_next_deadline(const struct zt_quic_conn *c);

/* Run timers due at now (loss detection, ACK delay, pacing, idle, closing period).
 * Returns 0, or the error that ended the connection (ZT_ETIMEOUT, ...). */
int zt_quic_conn_on_timeout(struct zt_quic_conn *c, uint64_t now);

enum zt_quic_state zt_quic_conn_state(const struct zt_quic_conn *c);
/* Fills *ret; all zero while the connection is open. */
void zt_quic_conn_close_info(const struct zt_quic_conn *c, struct zt_quic_close_info *ret);

/*
 * Close with an application error code (0: no error) and optional reason: the next
 * poll_send() produces CONNECTION_CLOSE, then the connection waits out the closing
 * period (answering the peer's packets with the close again) and becomes CLOSED.
 * Before the handshake is done the close is sent as a transport APPLICATION_ERROR.
 * Returns 0 or ZT_ESTATE (already closing).
 */
int zt_quic_conn_close(struct zt_quic_conn *c, uint64_t app_err, const char *reason);

void zt_quic_conn_stats(const struct zt_quic_conn *c, struct zt_quic_stats *ret);

/* The path in use now. */
void zt_quic_conn_path(const struct zt_quic_conn *c, struct zt_quic_path *ret);
/* When it last sent an ack-eliciting 1-RTT packet (RFC 9002's
 * time_of_last_ack_eliciting_packet), or ZT_TIME_NEVER. */
uint64_t zt_quic_conn_last_ack_eliciting(const struct zt_quic_conn *c);
/* When the last packet of the peer's came that visibly did something (acknowledged
 * ours, brought data); 0: none yet. */
uint64_t zt_quic_conn_last_heard(const struct zt_quic_conn *c);

/* The TLS session (peer identity, ALPN: see tls.h). */
struct zt_tls_session *zt_quic_conn_tls(struct zt_quic_conn *c);

/*
 * Client: migrate to path (RFC 9000 s9). immediate: switch at once and validate
 * while sending on it; otherwise validate first and switch on success. The outcome
 * arrives through path_validated. Returns 0, -EINVAL (a server, or path.local
 * equals the current local address), -EAGAIN (handshake not confirmed yet, or no
 * spare connection ID from the peer yet: retry later), ZT_ESTATE (the peer
 * disabled migration, or the connection is closing), -ENOMEM.
 */
int zt_quic_conn_migrate(struct zt_quic_conn *c, uint64_t now, const struct zt_quic_path *path,
			 bool immediate);

/* Send a PING when nothing was sent or received for `interval` ns (0: off); at most
 * every half of the idle timeout in force (ours, or the peer's if smaller, once the
 * handshake brought it), so that a peer announcing a shorter idle timeout than the
 * interval allows is still kept. */
void zt_quic_conn_set_keepalive(struct zt_quic_conn *c, uint64_t interval);

/* The keep-alive interval in force (after that bound); 0: off. */
uint64_t zt_quic_conn_keepalive(const struct zt_quic_conn *c);

/* Streams (bidirectional). */

/*
 * Open a stream; the peer learns of it with its first data or FIN. Returns 0 and
 * *ret_sid, -EAGAIN (the peer's stream limit, or before its transport parameters
 * arrived: wait for streams_available), ZT_ESTATE (closing), -ENOMEM.
 */
int zt_quic_stream_open(struct zt_quic_conn *c, int64_t *ret_sid, void *sarg);

/* Attach the application's pointer to a stream. Returns 0 or -ENOENT. */
int zt_quic_stream_set_arg(struct zt_quic_conn *c, int64_t sid, void *sarg);
void *zt_quic_stream_arg(const struct zt_quic_conn *c, int64_t sid);

/*
 * Queue up to len bytes for sending. Returns the count taken (0..len; less than len
 * when the stream's send buffer is full: stream_writable fires when space opens),
 * -ENOENT (no such stream), -EPIPE (already shut for writing, reset, or stopped by
 * the peer), -ENOMEM. The buffer holds at most stream_sndbuf unacknowledged bytes;
 * that plus the peer's flow control is the backpressure.
 */
int zt_quic_stream_write(struct zt_quic_conn *c, int64_t sid, const void *data, size_t len);

/* Free send buffer space on sid (0 if none, or unknown stream). */
size_t zt_quic_stream_writable(const struct zt_quic_conn *c, int64_t sid);

/* Send FIN after the queued data. Returns 0, -ENOENT, -EPIPE (reset or stopped). */
int zt_quic_stream_shutdown_write(struct zt_quic_conn *c, int64_t sid);

/*
 * Read up to cap received bytes in order. Returns the count (> 0), or 0 with *ret_fin
 * set at the end of the stream (idempotent), -EAGAIN (nothing yet), -ENOENT,
 * -ECONNRESET (the peer reset the stream). *ret_fin is true when the returned bytes
 * reach the end. Reading extends the peer's flow-control credit by the bytes taken,
 * so data the application does not read holds the peer back (at most the stream
 * window is buffered).
 */
int zt_quic_stream_read(struct zt_quic_conn *c, int64_t sid, void *buf, size_t cap,
			bool *ret_fin);

/* Bytes received and not yet read on sid. */
size_t zt_quic_stream_readable(const struct zt_quic_conn *c, int64_t sid);

/*
 * Abort both directions: RESET_STREAM (our sending side) and STOP_SENDING (theirs)
 * with app_err; buffered data is dropped. The stream closes once the peer has seen
 * both. Returns 0 or -ENOENT.
 */
int zt_quic_stream_reset(struct zt_quic_conn *c, int64_t sid, uint64_t app_err);

/* Abort only our receiving side (STOP_SENDING); the peer resets its sending side.
 * Returns 0 or -ENOENT. */
int zt_quic_stream_stop_reading(struct zt_quic_conn *c, int64_t sid, uint64_t app_err);

/* Open streams the connection still tracks. */
size_t zt_quic_stream_count(const struct zt_quic_conn *c);

/* DATAGRAM frames (RFC 9221): unreliable, unordered, not retransmitted. */

/*
 * The largest DATAGRAM payload this connection can send now (limited by our packet
 * size and the peer's max_datagram_frame_size); 0 before the peer's transport
 * parameters arrived or if it takes no DATAGRAMs.
 */
size_t zt_quic_dgram_max(const struct zt_quic_conn *c);
/* The largest DATAGRAM payload a packet of at most udp bytes (poll_send's cap)
 * holds; 0 when none. */
size_t zt_quic_dgram_room(const struct zt_quic_conn *c, size_t udp);

/*
 * Queue one DATAGRAM (copied). Returns 0, -EMSGSIZE (len > dgram_max()), -EAGAIN
 * (the queue holds cfg.dgram_queue already: this one is dropped and counted),
 * ZT_ESTATE (handshake not done, or closing), -ENOMEM.
 */
int zt_quic_dgram_send(struct zt_quic_conn *c, const void *data, size_t len);

/* DATAGRAMs queued by zt_quic_dgram_send() and not yet sent. */
size_t zt_quic_dgram_queued(const struct zt_quic_conn *c);

/*
 * Write a Stateless Reset (RFC 9000 s10.3) answering a packet of trigger_len bytes
 * for a connection we do not have: token is the one issued with that packet's
 * destination connection ID. The reset is one byte shorter than the trigger (so two
 * endpoints cannot loop, s10.3.3), at most 43 bytes, the rest random from rng.
 * Returns its length, 0 when the trigger is too short to answer (under 23 bytes),
 * or -ENOBUFS.
 */
int zt_quic_write_stateless_reset(uint8_t *buf, size_t cap, const uint8_t token[16],
				  size_t trigger_len, const struct zt_rng *rng);

/* Relay-path addresses (see the top). */

/*
 * A virtual local address for relay path number id: 0.122.116.1:id for AF_INET
 * (0.0.0.0/8, RFC 1122 s3.2.1.3: never a source or destination on a wire) or
 * [100::7a74:1]:id for AF_INET6 (the discard prefix, RFC 6666).
 */
void zt_quic_relay_addr(struct zt_addr *ret, int family, uint16_t id);
bool zt_quic_is_relay_addr(const struct zt_addr *a);

#endif
