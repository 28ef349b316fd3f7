#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "core/err.h"
#include "core/hmap.h"
#include "core/list.h"
#include "core/units.h"
#include "quic/bufq.h"
#include "quic/conn.h"

/* Stream flags. */
enum {
	SF_LOCAL = 1u << 0,        /* we opened it */
	SF_OPEN_CB = 1u << 1,      /* ngtcp2 announced it (stream_open) */
	SF_TX_FIN = 1u << 2,       /* the application asked for FIN */
	SF_TX_FIN_SENT = 1u << 3,
	SF_TX_DEAD = 1u << 4,      /* sending side reset, by us or by STOP_SENDING */
	SF_RX_FIN = 1u << 5,       /* the peer's FIN is in rx */
	SF_RX_FIN_READ = 1u << 6,  /* the application has read up to FIN */
	SF_RX_RESET = 1u << 7,     /* the peer reset its sending side */
	SF_RX_STOPPED = 1u << 8,   /* we stopped reading */
	SF_NG_CLOSED = 1u << 9,    /* ngtcp2 closed the stream */
	SF_WANT_WRITABLE = 1u << 10,
	SF_EV_READABLE = 1u << 11, /* a readable event is queued */
	SF_EV_CLOSED = 1u << 12,   /* a closed event is queued; freed when dispatched */
	SF_IN_SENDQ = 1u << 13,
};

struct stream {
	int64_t id;
	uint32_t flags;
	void *sarg;
	struct zt_hnode hnode;         /* in c->streams, by id */
	struct stream *sprev, *snext;  /* send queue */
	struct zt_bufq tx;             /* bytes [tx_acked, tx_end) */
	struct zt_bufq rx;
	uint64_t tx_acked, tx_sent, tx_end;
	uint64_t skip_gen;             /* flow-blocked during packet number skip_gen */
};

enum ev_type {
	EV_HANDSHAKE,
	EV_OPENED,
	EV_READABLE,
	EV_WRITABLE,
	EV_RESET,
	EV_STOPPED,
	EV_CLOSED,
	EV_STREAMS,
	EV_DGRAM,
	EV_PATH,
};

struct event {
	struct event *next;
	enum ev_type type;
	int64_t sid;
	uint64_t code;
	bool ok;
	struct zt_quic_path path;
	size_t len;
	uint8_t data[];
};

struct dgram {
	struct dgram *next;
	uint64_t seen;                      /* the first poll_send() that found it queued */
	size_t len;
	uint8_t data[];
};

struct zt_quic_conn {
	ngtcp2_conn *conn;
	struct zt_tls_session *tls;
	struct zt_quic_config cfg;
	struct zt_quic_callbacks cb;
	void *arg;
	bool server;
	enum zt_quic_state state;

	/* Closing. */
	struct zt_quic_close_info close;
	ngtcp2_connection_close_error ccerr; /* what we send */
	char ccerr_reason[128];
	bool want_close;
	uint8_t *close_pkt;
	size_t close_len;
	struct zt_quic_path close_path;
	uint64_t close_deadline;
	uint64_t close_rx;                   /* packets seen while closing */
	bool close_resend;

	/* Streams: a hash by id, and the queue of streams with data to send. */
	struct zt_hmap streams;        /* by id */
	struct stream *sq_head, *sq_tail;
	uint64_t gen;

	struct dgram *dq_head, *dq_tail;
	struct dgram *dq_unseen;             /* the first not seen by poll_send() yet */
	size_t dq_len;

	struct event *ev_head, *ev_tail;
	bool dispatching, ev_streams_queued;
	bool creating;                       /* inside ngtcp2_conn_*_new() */

	size_t max_udp;
	unsigned burst, burst_max;
	uint64_t timeout_ts;                 /* `now` of the last on_timeout() */
	uint64_t keepalive;                  /* in force (keepalive_for); ngtcp2's is
						borrowed by probes */
	uint64_t keepalive_set;              /* as set */
	uint64_t confirm_by;                 /* client: handshake timeout (confirm_late) */

	/* Our own probe timeout for what ngtcp2 0.12.1 sends without one (probe_update). */
	uint64_t probe_at;                   /* ZT_TIME_NEVER: not armed */
	uint64_t probe_last;                 /* when the last probe was due */
	uint64_t probe_inflight;             /* bytes in flight then */
	unsigned probe_n;                    /* probes since progress (backoff) */
	bool probe_due;                      /* the next packet must elicit an ACK */
	bool nudge_due;                      /* ... and be non-probing (nudge_peer) */
	bool revive_ping;                    /* ... for its ACK (revive_fire) */
	uint64_t nudge_at;                   /* not before then again */
	struct zt_quic_path cur_path;        /* a client's path, as nudge_peer last saw it */
	bool cur_heard;                      /* a packet came on it since */
	uint64_t cur_heard_at;               /* ... the last one */
	bool pv_answered;                    /* the packet being read ended a validation */
	uint64_t companion_pkts;             /* pkts_sent at the last dgram_companion */
	uint8_t *dup;                        /* a probe to send once more (dup_probe) */
	size_t dup_len;
	struct zt_quic_path dup_path;
	uint64_t cap_at;                     /* fire ngtcp2's PTO early then (pto_cap) */
	uint64_t revive_at;                  /* ngtcp2's PTO then: the peer is back (revive) */
	uint64_t revive_rx;                  /* ... as a packet it processed showed */
	uint64_t cap_last_tx;                /* the last packet's time when it fired */
	uint64_t last_rx;                    /* the last packet ngtcp2 took */
	uint64_t rx_at;                      /* the last packet given to ngtcp2 */
	bool rx_authentic;                   /* ... decrypted (zt_quic_conn_rx_authentic) */
	bool validating;                     /* a migration's path validation runs */
	struct zt_quic_path pv_from;         /* the path the peer's migration left */
	bool challenge_written;              /* in this write (withhold_challenge) */
	/* Delayed ACKs (ack_take): */
	uint64_t ack_at;                     /* an ACK may be owed: send it by then */
	bool ack_due;                        /* ack_at passed: with the next packet */
	bool ng_due;                         /* ask ngtcp2 for what it has of its own */
	unsigned rx_data;                    /* packets with data since our last one */
	uint64_t rx_read;                    /* bytes the application read since then */
	struct zt_quic_stats st;
};

/* Addresses. */

struct npath {
	ngtcp2_path path;
	struct sockaddr_storage l, r;
};

static int npath_set(struct npath *np, const struct zt_quic_path *p)
{
	int ll, rl;

	memset(np, 0, sizeof(*np));
	ll = zt_addr_to_sockaddr(&p->local, &np->l);
	rl = zt_addr_to_sockaddr(&p->remote, &np->r);
	if (ll < 0 || rl < 0)
		return -EINVAL;
	np->path.local.addr = (ngtcp2_sockaddr *)&np->l;
	np->path.local.addrlen = (ngtcp2_socklen)ll;
	np->path.remote.addr = (ngtcp2_sockaddr *)&np->r;
	np->path.remote.addrlen = (ngtcp2_socklen)rl;
	return 0;
}

static void path_from_ng(struct zt_quic_path *ret, const ngtcp2_path *p)
{
	memset(ret, 0, sizeof(*ret));
	zt_addr_from_sockaddr(&ret->local, (const struct sockaddr *)p->local.addr,
			      (socklen_t)p->local.addrlen);
	zt_addr_from_sockaddr(&ret->remote, (const struct sockaddr *)p->remote.addr,
			      (socklen_t)p->remote.addrlen);
}

void zt_quic_relay_addr(struct zt_addr *ret, int family, uint16_t id)
{
	static const uint8_t v4[4] = { 0, 'z', 't', 1 };
	static const uint8_t v6[16] = { 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'z', 't', 0, 1 };

	if (family == AF_INET6)
		zt_addr_set_v6(ret, v6, id);
	else
		zt_addr_set_v4(ret, v4, id);
}

bool zt_quic_is_relay_addr(const struct zt_addr *a)
{
	struct zt_addr r;

	zt_quic_relay_addr(&r, a->family, 0);
	return (a->family == AF_INET || a->family == AF_INET6) && zt_addr_ip_equal(a, &r);
}

/* Events: queued inside ngtcp2 callbacks, delivered after ngtcp2 returned. */

static struct event *ev_push(struct zt_quic_conn *c, enum ev_type type, int64_t sid,
			     size_t len)
{
	struct event *ev = calloc(1, sizeof(*ev) + len);

	if (!ev)
		return NULL;
	ev->type = type;
	ev->sid = sid;
	ev->len = len;
	if (c->ev_tail)
		c->ev_tail->next = ev;
	else
		c->ev_head = ev;
	c->ev_tail = ev;
	return ev;
}

/* Streams. */

static bool same_stream(const struct zt_hnode *n, const void *id)
{
	return zt_hmap_entry(n, struct stream, hnode)->id == *(const int64_t *)id;
}

static struct zt_hnode **stream_slot(const struct zt_quic_conn *c, int64_t id)
{
	return zt_hmap_slot(&c->streams, (uint64_t)id, same_stream, &id);
}

static struct stream *stream_find(const struct zt_quic_conn *c, int64_t id)
{
	struct zt_hnode *n = *stream_slot(c, id);

	return n ? zt_hmap_entry(n, struct stream, hnode) : NULL;
}

static struct stream *stream_new(struct zt_quic_conn *c, int64_t id, uint32_t flags)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = id;
	s->flags = flags;
	zt_bufq_init(&s->tx, 0);
	zt_bufq_init(&s->rx, 0);
	zt_hmap_link(&c->streams, stream_slot(c, id), &s->hnode, (uint64_t)id);
	return s;
}

static void sendq_del(struct zt_quic_conn *c, struct stream *s)
{
	if (!(s->flags & SF_IN_SENDQ))
		return;
	ZT_QUEUE_UNLINK(c->sq_head, c->sq_tail, s, sprev, snext);
	s->flags &= ~SF_IN_SENDQ;
}

static void sendq_add(struct zt_quic_conn *c, struct stream *s)
{
	if (s->flags & SF_IN_SENDQ)
		return;
	ZT_QUEUE_APPEND(c->sq_head, c->sq_tail, s, sprev, snext);
	s->flags |= SF_IN_SENDQ;
}

static void stream_free(struct zt_quic_conn *c, struct stream *s)
{
	zt_hmap_remove(&c->streams, &s->hnode);
	sendq_del(c, s);
	zt_bufq_fini(&s->tx);
	zt_bufq_fini(&s->rx);
	free(s);
}

static bool tx_pending(const struct stream *s)
{
	return !(s->flags & (SF_TX_DEAD | SF_NG_CLOSED)) &&
	       (s->tx_sent < s->tx_end || ((s->flags & SF_TX_FIN) && !(s->flags & SF_TX_FIN_SENT)));
}

/* Drop our sending side's buffer (the stream was reset one way or another). */
static void tx_drop(struct zt_quic_conn *c, struct stream *s)
{
	s->flags |= SF_TX_DEAD;
	zt_bufq_fini(&s->tx);
	s->tx_acked = s->tx_sent = s->tx_end;
	sendq_del(c, s);
}

/* Drop unread received data; its connection credit goes back to the peer. */
static void rx_drop(struct zt_quic_conn *c, struct stream *s)
{
	if (s->rx.len)
		ngtcp2_conn_extend_max_offset(c->conn, s->rx.len);
	zt_bufq_fini(&s->rx);
}

/* Queue the closed event once ngtcp2 is done with the stream and so is the reader. */
static int maybe_finish(struct zt_quic_conn *c, struct stream *s)
{
	if (!(s->flags & SF_NG_CLOSED) || (s->flags & SF_EV_CLOSED) || s->rx.len ||
	    !(s->flags & (SF_RX_FIN_READ | SF_RX_RESET | SF_RX_STOPPED)))
		return 0;
	if (!ev_push(c, EV_CLOSED, s->id, 0))
		return -ENOMEM;
	s->flags |= SF_EV_CLOSED;
	return 0;
}

/* The stream object for an ngtcp2 callback: its user data, or found, or created
 * for a peer-initiated stream ngtcp2 did not announce. */
static struct stream *stream_of(struct zt_quic_conn *c, int64_t id, void *sud)
{
	struct stream *s = sud ? sud : stream_find(c, id);

	if (s || ngtcp2_conn_is_local_stream(c->conn, id))
		return s;
	s = stream_new(c, id, 0);
	if (s)
		ngtcp2_conn_set_stream_user_data(c->conn, id, s);
	return s;
}

/* ngtcp2 callbacks. None calls back into the application. */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	struct zt_quic_conn *c = ref->user_data;
	return c->conn;
}

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *rctx)
{
	struct zt_quic_conn *c = rctx->native_handle;

	zt_rng_fill(c->cfg.rng, dest, len);
	/*
	 * ngtcp2 0.12.1 ignores transport_params.grease_quic_bit (it always offers
	 * greasing) and, while creating a connection, draws one random byte whose low
	 * bit decides whether it clears the fixed bit of every packet it sends to a
	 * peer that offered greasing (RFC 9287). Keep the bit: the I/O shell
	 * demultiplexes on it (RFC 9443). Later draws (BBR2's) are left as they are.
	 */
	if (c->creating)
		for (size_t i = 0; i < len; i++)
			dest[i] &= 0xfe;
}

static int cb_path_challenge(ngtcp2_conn *conn, uint8_t *data, void *ud)
{
	struct zt_quic_conn *c = ud;
	(void)conn;
	zt_rng_fill(c->cfg.rng, data, NGTCP2_PATH_CHALLENGE_DATALEN);
	c->challenge_written = true;
	return 0;
}

/* A fresh random connection ID, unique in the map. */
static void new_cid(struct zt_quic_conn *c, uint8_t *cid, size_t len)
{
	for (int i = 0; i < 16; i++) {
		zt_rng_fill(c->cfg.rng, cid, len);
		if (!c->cfg.cidmap || !zt_quic_cidmap_find(c->cfg.cidmap, cid, len))
			return;
	}
}

static int cb_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
		      void *ud)
{
	struct zt_quic_conn *c = ud;
	(void)conn;

	new_cid(c, cid->data, cidlen);
	cid->datalen = cidlen;
	if (c->cfg.reset_token)
		c->cfg.reset_token(c->cfg.reset_arg, cid->data, cidlen, token);
	else
		zt_rng_fill(c->cfg.rng, token, NGTCP2_STATELESS_RESET_TOKENLEN);
	if (c->cfg.cidmap && zt_quic_cidmap_add(c->cfg.cidmap, cid->data, cidlen, c) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int cb_remove_cid(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *ud)
{
	struct zt_quic_conn *c = ud;
	(void)conn;

	if (c->cfg.cidmap)
		zt_quic_cidmap_remove(c->cfg.cidmap, cid->data, cid->datalen);
	return 0;
}

/* The keep-alive in force: as set, but at most half the idle timeout in force (ours,
 * or the peer's max_idle_timeout once known if smaller), so that a PING and the probes
 * after it (probe_update) have half the idle timeout to get an answer: a client with
 * a 25 s keep-alive and a peer that announces 20 s PINGs every 10 s. */
static uint64_t keepalive_for(const struct zt_quic_conn *c, uint64_t interval)
{
	const ngtcp2_transport_params *rp = ngtcp2_conn_get_remote_transport_params(c->conn);
	uint64_t idle = c->cfg.idle_timeout;

	if (rp && rp->max_idle_timeout && rp->max_idle_timeout < idle)
		idle = rp->max_idle_timeout;
	return interval > idle / 2 ? idle / 2 : interval;
}

static int established(struct zt_quic_conn *c)
{
	if (c->state != ZT_QUIC_HANDSHAKING)
		return 0;
	c->state = ZT_QUIC_ESTABLISHED;
	/* the peer's idle timeout is known now */
	c->keepalive = keepalive_for(c, c->keepalive_set);
	ngtcp2_conn_set_keep_alive_timeout(c->conn, c->keepalive);
	return ev_push(c, EV_HANDSHAKE, -1, 0) ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

/* release_tls: not from inside ngtcp2's callbacks (ngtcp2_crypto still holds the
 * session there), but once the packet that completed the handshake was read. */
static void release_tls(struct zt_quic_conn *c)
{
	if (!zt_tls_session_native(c->tls) || zt_tls_session_release(c->tls) < 0)
		return; /* already, or out of memory: kept, tried again next packet */
	ngtcp2_conn_set_tls_native_handle(c->conn, NULL);
}

static int cb_handshake_completed(ngtcp2_conn *conn, void *ud)
{
	struct zt_quic_conn *c = ud;
	(void)conn;
	/* For a server completion is confirmation (RFC 9001 s4.1.2). */
	return c->server ? established(c) : 0;
}

/* After release_tls there is no TLS to give CRYPTO data to. A client has nothing to
 * send once the handshake completed (RFC 9001 s6: no KeyUpdate message; no
 * post-handshake authentication in QUIC), so new data is an unexpected message;
 * ngtcp2 hands over only data past what was already received. */
static int cb_recv_crypto_data(ngtcp2_conn *conn, ngtcp2_crypto_level level, uint64_t offset,
			       const uint8_t *data, size_t len, void *ud)
{
	struct zt_quic_conn *c = ud;

	if (!zt_tls_session_native(c->tls)) {
		ngtcp2_conn_set_tls_alert(conn, 10 /* unexpected_message */);
		return NGTCP2_ERR_CRYPTO;
	}
	return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data, len, ud);
}

static int cb_handshake_confirmed(ngtcp2_conn *conn, void *ud)
{
	(void)conn;
	return established(ud);
}

static int cb_stream_open(ngtcp2_conn *conn, int64_t id, void *ud)
{
	struct zt_quic_conn *c = ud;
	struct stream *s;
	(void)conn;

	if (!ngtcp2_is_bidi_stream(id))
		return 0; /* we allow the peer no unidirectional streams */
	s = stream_of(c, id, NULL);
	if (!s || !ev_push(c, EV_OPENED, id, 0))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	s->flags |= SF_OPEN_CB;
	return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t id, uint64_t offset,
			       const uint8_t *data, size_t len, void *ud, void *sud)
{
	struct zt_quic_conn *c = ud;
	struct stream *s = stream_of(c, id, sud);
	(void)offset;

	if (!s)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (s->flags & (SF_RX_RESET | SF_RX_STOPPED)) {
		/* Not for the application any more: give the credit back. */
		ngtcp2_conn_extend_max_offset(conn, len);
		return 0;
	}
	if (len && zt_bufq_append(&s->rx, data, len) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	c->st.stream_bytes_recv += len;
	if (flags & NGTCP2_STREAM_DATA_FLAG_FIN)
		s->flags |= SF_RX_FIN;
	if (!(s->flags & SF_EV_READABLE)) {
		if (!ev_push(c, EV_READABLE, id, 0))
			return NGTCP2_ERR_CALLBACK_FAILURE;
		s->flags |= SF_EV_READABLE;
	}
	return 0;
}

static int cb_acked(ngtcp2_conn *conn, int64_t id, uint64_t offset, uint64_t len, void *ud,
		    void *sud)
{
	struct zt_quic_conn *c = ud;
	struct stream *s = sud ? sud : stream_find(c, id);
	(void)conn;
	(void)offset;

	if (!s || (s->flags & SF_TX_DEAD))
		return 0;
	if (len > s->tx.len)
		len = s->tx.len;
	zt_bufq_consume(&s->tx, (size_t)len);
	s->tx_acked += len;
	if ((s->flags & SF_WANT_WRITABLE) && zt_quic_stream_writable(c, id) > 0) {
		if (!ev_push(c, EV_WRITABLE, id, 0))
			return NGTCP2_ERR_CALLBACK_FAILURE;
		s->flags &= ~SF_WANT_WRITABLE;
	}
	return 0;
}

static int cb_stream_reset(ngtcp2_conn *conn, int64_t id, uint64_t final_size,
			   uint64_t app_err, void *ud, void *sud)
{
	struct zt_quic_conn *c = ud;
	struct stream *s = stream_of(c, id, sud);
	struct event *ev;
	(void)conn;
	(void)final_size;

	if (!s)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (s->flags & (SF_RX_RESET | SF_RX_STOPPED))
		return 0;
	s->flags |= SF_RX_RESET;
	rx_drop(c, s);
	ev = ev_push(c, EV_RESET, id, 0);
	if (!ev)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	ev->code = app_err;
	return 0;
}

static int cb_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t id, uint64_t app_err,
			   void *ud, void *sud)
{
	struct zt_quic_conn *c = ud;
	struct stream *s = sud ? sud : stream_find(c, id);
	(void)flags;
	(void)app_err;

	if (!s)
		return 0;
	s->flags |= SF_NG_CLOSED;
	if (!(s->flags & SF_LOCAL) && (s->flags & SF_OPEN_CB))
		ngtcp2_conn_extend_max_streams_bidi(conn, 1);
	/* Unacknowledged data will never be acknowledged now. */
	zt_bufq_fini(&s->tx);
	sendq_del(c, s);
	return maybe_finish(c, s) < 0 ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_extend_streams(ngtcp2_conn *conn, uint64_t max_streams, void *ud)
{
	struct zt_quic_conn *c = ud;
	(void)conn;
	(void)max_streams;

	if (c->ev_streams_queued)
		return 0;
	if (!ev_push(c, EV_STREAMS, -1, 0))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	c->ev_streams_queued = true;
	return 0;
}

static int cb_recv_datagram(ngtcp2_conn *conn, uint32_t flags, const uint8_t *data,
			    size_t len, void *ud)
{
	struct zt_quic_conn *c = ud;
	struct event *ev;
	(void)conn;
	(void)flags;

	c->st.dgrams_recv++;
	ev = ev_push(c, EV_DGRAM, -1, len);
	if (!ev)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	memcpy(ev->data, data, len);
	return 0;
}

static int cb_path_validation(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
			      ngtcp2_path_validation_result res, void *ud)
{
	struct zt_quic_conn *c = ud;
	struct event *ev;
	(void)conn;
	(void)flags;

	ev = ev_push(c, EV_PATH, -1, 0);
	if (!ev)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	path_from_ng(&ev->path, path);
	ev->ok = res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS;
	c->validating = false;
	c->pv_answered |= ev->ok;
	return 0;
}

static void cb_qlog(void *ud, uint32_t flags, const void *data, size_t len)
{
	struct zt_quic_conn *c = ud;
	c->cfg.qlog(c->cfg.qlog_arg, data, len, flags & NGTCP2_QLOG_WRITE_FLAG_FIN);
}

static void cb_log(void *ud, const char *fmt, ...)
{
	struct zt_quic_conn *c = ud;
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->cfg.log(c->cfg.log_arg, line);
}

/* Payloads that decrypted, per thread: ngtcp2 0.12.1's decrypt callback gets no user
 * data, and zt_quic_conn_recv() reads this around the one ngtcp2_conn_read_pkt() a
 * thread runs at a time (rx_authentic). */
static _Thread_local uint64_t decrypted;

static int cb_decrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead,
		      const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext,
		      size_t ciphertextlen, const uint8_t *nonce, size_t noncelen,
		      const uint8_t *aad, size_t aadlen)
{
	int rv = ngtcp2_crypto_decrypt_cb(dest, aead, aead_ctx, ciphertext, ciphertextlen, nonce,
					  noncelen, aad, aadlen);

	if (rv == 0)
		decrypted++;
	return rv;
}

/* What both sides share; connect/accept add their side's few. */
static const ngtcp2_callbacks common_callbacks = {
	.recv_crypto_data = cb_recv_crypto_data,
	.encrypt = ngtcp2_crypto_encrypt_cb,
	.decrypt = cb_decrypt,
	.hp_mask = ngtcp2_crypto_hp_mask_cb,
	.update_key = ngtcp2_crypto_update_key_cb,
	.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	.get_path_challenge_data = cb_path_challenge,
	.rand = cb_rand,
	.get_new_connection_id = cb_new_cid,
	.remove_connection_id = cb_remove_cid,
	.handshake_completed = cb_handshake_completed,
	.stream_open = cb_stream_open,
	.recv_stream_data = cb_recv_stream_data,
	.acked_stream_data_offset = cb_acked,
	.stream_reset = cb_stream_reset,
	.stream_close = cb_stream_close,
	.extend_max_local_streams_bidi = cb_extend_streams,
	.recv_datagram = cb_recv_datagram,
	.path_validation = cb_path_validation,
};

/* Creation. */

static uint64_t or_default(uint64_t v, uint64_t def)
{
	return v ? v : def;
}

static int conn_alloc(struct zt_quic_conn **ret, const struct zt_quic_config *cfg, void *arg,
		      enum zt_tls_side side)
{
	struct zt_quic_conn *c;

	if (!cfg->tls || !cfg->rng || zt_tls_ctx_side(cfg->tls) != side)
		return -EINVAL;
	if (cfg->max_udp_payload && cfg->max_udp_payload < 1200)
		return -EINVAL; /* RFC 9000 s14: every QUIC path carries 1200 */
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (cfg->cb)
		c->cb = *cfg->cb;
	c->cfg.cb = NULL;
	c->cfg.idle_timeout = or_default(cfg->idle_timeout, 30 * ZT_SEC);
	c->cfg.handshake_timeout = or_default(cfg->handshake_timeout, 10 * ZT_SEC);
	c->cfg.stream_window = or_default(cfg->stream_window, 256 * 1024);
	c->cfg.stream_window_max = or_default(cfg->stream_window_max, 8 * 1024 * 1024);
	c->cfg.conn_window = or_default(cfg->conn_window, 1024 * 1024);
	c->cfg.conn_window_max = or_default(cfg->conn_window_max, 24 * 1024 * 1024);
	c->cfg.max_streams_bidi = or_default(cfg->max_streams_bidi, 256);
	c->cfg.stream_sndbuf = or_default(cfg->stream_sndbuf, 256 * 1024);
	c->cfg.dgram_queue = or_default(cfg->dgram_queue, 256);
	if (c->cfg.stream_window_max < c->cfg.stream_window)
		c->cfg.stream_window_max = c->cfg.stream_window;
	if (c->cfg.conn_window_max < c->cfg.conn_window)
		c->cfg.conn_window_max = c->cfg.conn_window;
	c->max_udp = or_default(cfg->max_udp_payload, ZT_QUIC_OUTER_UDP_PAYLOAD);
	c->probe_at = ZT_TIME_NEVER;
	c->cap_at = ZT_TIME_NEVER;
	c->revive_at = ZT_TIME_NEVER;
	c->ack_at = ZT_TIME_NEVER;
	c->confirm_by = ZT_TIME_NEVER;
	c->ng_due = true;
	c->companion_pkts = UINT64_MAX;
	c->arg = arg;
	c->server = side == ZT_TLS_SERVER;
	if (zt_hmap_init(&c->streams, 4) < 0) {
		free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

static void fill_settings(struct zt_quic_conn *c, ngtcp2_settings *s, uint64_t now)
{
	ngtcp2_settings_default(s);
	s->initial_ts = now;
	/* BBR v2, not CUBIC: an inner connection crosses two outer ones, and on lossy
	 * links CUBIC took random loss for congestion at all three levels, sat at its
	 * two-packet minimum window and blocked for a probe timeout after each loss:
	 * streams stood still 10-50 s at 15-20 % loss per link (docs/simulator.md).
	 * BBR2 draws random numbers (its probing schedule) through cb_rand. */
	s->cc_algo = NGTCP2_CC_ALGO_BBR2;
	s->max_tx_udp_payload_size = c->max_udp;
	/* Full-size packets from the first one: the outer connection must carry a
	 * 1200-byte inner Initial in one DATAGRAM. */
	s->no_tx_udp_payload_size_shaping = 1;
	/* No PMTU probing: packets are full size from the start. Except on servers:
	 * ngtcp2 0.12.1 asserts !no_pmtud when a client moves back to the path it was
	 * validating away from (conn_recv_non_probing_pkt_on_new_path restarts PMTUD
	 * unconditionally), which an agent falling back from the direct path to the
	 * relay does; with PMTUD on, the server merely probes sizes above
	 * max_tx_udp_payload_size, which there are none of. */
	s->no_pmtud = !c->server;
	/* ngtcp2 0.12.1: once a server has validated the path its client moved to, it
	 * validates the path it left (NGTCP2_PV_FLAG_DONT_CARE) and until that ends it
	 * does not follow the client back there (conn_path_validation_in_progress; fixed
	 * in ngtcp2 v1.25.0, 45a0ea89). The client drops those challenges (they come on
	 * a path not its own), so the validation runs out: rounds of max(PTO, 3 x
	 * initial_rtt) x 1, 2, 4, about 7 s with the default 333 ms. */
	if (c->cfg.initial_rtt)
		s->initial_rtt = c->cfg.initial_rtt;
	s->handshake_timeout = c->cfg.handshake_timeout;
	s->max_window = c->cfg.conn_window_max;
	s->max_stream_window = c->cfg.stream_window_max;
	s->rand_ctx.native_handle = c;
	if (c->cfg.log)
		s->log_printf = cb_log;
	if (c->cfg.qlog)
		s->qlog.write = cb_qlog;
}

static void fill_params(struct zt_quic_conn *c, ngtcp2_transport_params *p)
{
	ngtcp2_transport_params_default(p);
	p->initial_max_stream_data_bidi_local = c->cfg.stream_window;
	p->initial_max_stream_data_bidi_remote = c->cfg.stream_window;
	p->initial_max_stream_data_uni = 0;
	p->initial_max_data = c->cfg.conn_window;
	p->initial_max_streams_bidi = c->cfg.max_streams_bidi;
	p->initial_max_streams_uni = 0;
	p->max_idle_timeout = c->cfg.idle_timeout;
	p->max_datagram_frame_size = 65535; /* RFC 9221 s3: any size our packets hold */
	p->active_connection_id_limit = 8;  /* spare IDs for migrations */
	p->grease_quic_bit = 0;             /* ignored by 0.12.1: see cb_rand() */
}

static int attach_tls(struct zt_quic_conn *c, const char *server_name)
{
	ngtcp2_crypto_conn_ref *ref;
	int rc;

	rc = zt_tls_session_new(&c->tls, c->cfg.tls, server_name);
	if (rc < 0)
		return rc;
	ref = zt_tls_session_conn_ref(c->tls);
	ref->get_conn = get_conn;
	ref->user_data = c;
	ngtcp2_conn_set_tls_native_handle(c->conn, zt_tls_session_native(c->tls));
	return 0;
}

static int ng_err(int rv)
{
	return rv == NGTCP2_ERR_NOMEM ? -ENOMEM : ZT_ETLS;
}

int zt_quic_conn_connect(struct zt_quic_conn **ret, const struct zt_quic_config *cfg,
			 const char *server_name, const struct zt_quic_path *path, void *arg,
			 uint64_t now)
{
	ngtcp2_callbacks callbacks;
	ngtcp2_settings settings;
	ngtcp2_transport_params params;
	ngtcp2_cid dcid, scid;
	struct zt_quic_conn *c;
	struct npath np;
	int rc;

	if (!server_name || npath_set(&np, path) < 0)
		return -EINVAL;
	rc = conn_alloc(&c, cfg, arg, ZT_TLS_CLIENT);
	if (rc < 0)
		return rc;
	dcid.datalen = ZT_QUIC_CID_LEN; /* >= NGTCP2_MIN_INITIAL_DCIDLEN */
	zt_rng_fill(c->cfg.rng, dcid.data, dcid.datalen);
	scid.datalen = ZT_QUIC_CID_LEN;
	new_cid(c, scid.data, scid.datalen);
	fill_settings(c, &settings, now);
	fill_params(c, &params);
	callbacks = common_callbacks;
	callbacks.client_initial = ngtcp2_crypto_client_initial_cb;
	callbacks.recv_retry = ngtcp2_crypto_recv_retry_cb;
	callbacks.handshake_confirmed = cb_handshake_confirmed;
	c->creating = true;
	rc = ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &np.path, NGTCP2_PROTO_VER_V1,
				    &callbacks, &settings, &params, NULL, c);
	c->creating = false;
	if (rc != 0) {
		rc = ng_err(rc);
		goto out_free;
	}
	rc = attach_tls(c, server_name);
	if (rc < 0)
		goto out_free;
	if (c->cfg.cidmap && (rc = zt_quic_cidmap_add(c->cfg.cidmap, scid.data, scid.datalen, c)) < 0)
		goto out_free;
	zt_quic_conn_set_keepalive(c, c->cfg.keepalive);
	c->confirm_by = now + c->cfg.handshake_timeout;
	*ret = c;
	return 0;

out_free:
	zt_quic_conn_free(c);
	return rc;
}

int zt_quic_conn_accept(struct zt_quic_conn **ret, const struct zt_quic_config *cfg,
			const struct zt_quic_path *path, const uint8_t *pkt, size_t len,
			void *arg, uint64_t now)
{
	return zt_quic_conn_accept_retried(ret, cfg, path, pkt, len, NULL, arg, now);
}

int zt_quic_conn_accept_retried(struct zt_quic_conn **ret, const struct zt_quic_config *cfg,
				const struct zt_quic_path *path, const uint8_t *pkt, size_t len,
				const struct zt_quic_retried *retried, void *arg, uint64_t now)
{
	ngtcp2_callbacks callbacks;
	ngtcp2_settings settings;
	ngtcp2_transport_params params;
	ngtcp2_pkt_hd hd;
	ngtcp2_cid scid;
	struct zt_quic_conn *c;
	struct npath np;
	int rc;

	if (npath_set(&np, path) < 0)
		return -EINVAL;
	if (ngtcp2_accept(&hd, pkt, len) != 0 || hd.type != NGTCP2_PKT_INITIAL ||
	    hd.dcid.datalen < NGTCP2_MIN_INITIAL_DCIDLEN)
		return ZT_EMALFORMED;
	if (cfg->cidmap && zt_quic_cidmap_find(cfg->cidmap, hd.dcid.data, hd.dcid.datalen))
		return ZT_EMALFORMED; /* the ID belongs to a connection already */
	rc = conn_alloc(&c, cfg, arg, ZT_TLS_SERVER);
	if (rc < 0)
		return rc;
	scid.datalen = ZT_QUIC_CID_LEN;
	new_cid(c, scid.data, scid.datalen);
	fill_settings(c, &settings, now);
	settings.qlog.odcid = hd.dcid;
	fill_params(c, &params);
	params.original_dcid = hd.dcid;
	if (retried) {
		/* RFC 9000 s7.3: the client checks both against the Retry it followed. */
		ngtcp2_cid_init(&params.original_dcid, retried->odcid, retried->odcid_len);
		params.retry_scid = hd.dcid;
		params.retry_scid_present = 1;
		settings.qlog.odcid = params.original_dcid;
		/* A token lifts the anti-amplification limit (s8.1); ngtcp2 copies it. */
		settings.token = (ngtcp2_vec){ .base = (uint8_t *)retried->token,
					       .len = retried->token_len };
	}
	params.disable_active_migration = c->cfg.disable_migration;
	params.stateless_reset_token_present = 1;
	if (c->cfg.reset_token)
		c->cfg.reset_token(c->cfg.reset_arg, scid.data, scid.datalen,
				   params.stateless_reset_token);
	else
		zt_rng_fill(c->cfg.rng, params.stateless_reset_token,
			    sizeof(params.stateless_reset_token));
	callbacks = common_callbacks;
	callbacks.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
	c->creating = true;
	rc = ngtcp2_conn_server_new(&c->conn, &hd.scid, &scid, &np.path, hd.version,
				    &callbacks, &settings, &params, NULL, c);
	c->creating = false;
	if (rc != 0) {
		rc = ng_err(rc);
		goto out_free;
	}
	rc = attach_tls(c, NULL);
	if (rc < 0)
		goto out_free;
	if (c->cfg.cidmap &&
	    ((rc = zt_quic_cidmap_add(c->cfg.cidmap, scid.data, scid.datalen, c)) < 0 ||
	     (rc = zt_quic_cidmap_add(c->cfg.cidmap, hd.dcid.data, hd.dcid.datalen, c)) < 0))
		goto out_free;
	zt_quic_conn_set_keepalive(c, c->cfg.keepalive);
	zt_quic_conn_recv(c, now, path, pkt, len);
	/* An Initial that did not decrypt leaves no negotiated version and nothing to
	 * answer: garbage. (A ClientHello TLS refuses leaves a close to send.) */
	if (c->state == ZT_QUIC_CLOSED ||
	    (!c->want_close && ngtcp2_conn_get_negotiated_version(c->conn) == 0)) {
		rc = ZT_EMALFORMED;
		goto out_free;
	}
	*ret = c;
	return 0;

out_free:
	zt_quic_conn_free(c);
	return rc;
}

static void stream_drop(struct zt_hnode *n, void *arg)
{
	struct stream *s = zt_hmap_entry(n, struct stream, hnode);
	(void)arg;

	zt_bufq_fini(&s->tx);
	zt_bufq_fini(&s->rx);
	free(s);
}

void zt_quic_conn_free(struct zt_quic_conn *c)
{
	if (!c)
		return;
	if (c->cfg.cidmap)
		zt_quic_cidmap_remove_conn(c->cfg.cidmap, c);
	if (c->conn)
		ngtcp2_conn_del(c->conn);
	zt_tls_session_free(c->tls);
	zt_hmap_take_if(&c->streams, NULL, NULL, stream_drop, NULL);
	zt_hmap_fini(&c->streams);
	free(c->dup);
	while (c->dq_head) {
		struct dgram *d = c->dq_head;
		c->dq_head = d->next;
		free(d);
	}
	while (c->ev_head) {
		struct event *ev = c->ev_head;
		c->ev_head = ev->next;
		free(ev);
	}
	free(c->close_pkt);
	free(c);
}

void zt_quic_conn_set_arg(struct zt_quic_conn *c, void *arg)
{
	c->arg = arg;
}

void *zt_quic_conn_arg(const struct zt_quic_conn *c)
{
	return c->arg;
}

bool zt_quic_conn_is_server(const struct zt_quic_conn *c)
{
	return c->server;
}

/* Event delivery. */

static void dispatch(struct zt_quic_conn *c)
{
	struct event *ev;

	if (c->dispatching)
		return;
	c->dispatching = true;
	while ((ev = c->ev_head)) {
		struct stream *s = ev->sid >= 0 ? stream_find(c, ev->sid) : NULL;
		void *sarg = s ? s->sarg : NULL;

		c->ev_head = ev->next;
		if (!c->ev_head)
			c->ev_tail = NULL;
		switch (ev->type) {
		case EV_HANDSHAKE:
			if (c->cb.handshake_done)
				c->cb.handshake_done(c, c->arg);
			break;
		case EV_OPENED:
			if (s && c->cb.stream_opened)
				c->cb.stream_opened(c, c->arg, ev->sid);
			break;
		case EV_READABLE:
			if (s) {
				s->flags &= ~SF_EV_READABLE;
				if (c->cb.stream_readable)
					c->cb.stream_readable(c, c->arg, ev->sid, sarg);
			}
			break;
		case EV_WRITABLE:
			if (s && c->cb.stream_writable)
				c->cb.stream_writable(c, c->arg, ev->sid, sarg);
			break;
		case EV_RESET:
			if (s && c->cb.stream_reset)
				c->cb.stream_reset(c, c->arg, ev->sid, sarg, ev->code);
			if (s)
				maybe_finish(c, s);
			break;
		case EV_STOPPED:
			if (s && c->cb.stream_stopped)
				c->cb.stream_stopped(c, c->arg, ev->sid, sarg);
			break;
		case EV_CLOSED:
			if (s) {
				if (c->cb.stream_closed)
					c->cb.stream_closed(c, c->arg, ev->sid, sarg);
				stream_free(c, s);
			}
			break;
		case EV_STREAMS:
			c->ev_streams_queued = false;
			if (c->cb.streams_available)
				c->cb.streams_available(c, c->arg);
			break;
		case EV_DGRAM:
			if (c->cb.datagram)
				c->cb.datagram(c, c->arg, ev->data, ev->len);
			break;
		case EV_PATH:
			if (c->cb.path_validated)
				c->cb.path_validated(c, c->arg, &ev->path, ev->ok);
			break;
		}
		free(ev);
	}
	c->dispatching = false;
}

/* Closing. */

static void set_reason(struct zt_quic_conn *c, const char *text, size_t len)
{
	if (len >= sizeof(c->close.reason))
		len = sizeof(c->close.reason) - 1;
	memcpy(c->close.reason, text, len);
	c->close.reason[len] = '\0';
}

/* A local error ends the connection: send CONNECTION_CLOSE with its code. */
static int fail(struct zt_quic_conn *c, int liberr)
{
	char why[128];
	int err;

	if (c->want_close || c->state >= ZT_QUIC_CLOSING)
		return c->close.err;
	memset(&c->close, 0, sizeof(c->close));
	if (liberr == NGTCP2_ERR_CRYPTO) {
		ngtcp2_connection_close_error_set_transport_error_tls_alert(
			&c->ccerr, ngtcp2_conn_get_tls_alert(c->conn), NULL, 0);
		err = ZT_ETLS;
		if (zt_tls_session_verify_error(c->tls, why, sizeof(why)) <= 0)
			snprintf(why, sizeof(why), "%s (alert %u)",
				 zt_tls_session_native(c->tls) ? "TLS handshake failed"
							       : "TLS message after the handshake",
				 ngtcp2_conn_get_tls_alert(c->conn));
	} else {
		ngtcp2_connection_close_error_set_transport_error_liberr(&c->ccerr, liberr, NULL, 0);
		err = liberr == NGTCP2_ERR_NOMEM || liberr == NGTCP2_ERR_CALLBACK_FAILURE ||
				      liberr == NGTCP2_ERR_INTERNAL
			      ? ZT_ESTATE
			      : ZT_EPEER;
		snprintf(why, sizeof(why), "%s", ngtcp2_strerror(liberr));
	}
	c->close.err = err;
	c->close.code = c->ccerr.error_code;
	set_reason(c, why, strlen(why));
	c->want_close = true;
	return err;
}

static void enter_closed(struct zt_quic_conn *c)
{
	c->state = ZT_QUIC_CLOSED;
	c->want_close = false;
}

static void enter_draining(struct zt_quic_conn *c, uint64_t now)
{
	ngtcp2_connection_close_error e;

	ngtcp2_conn_get_connection_close_error(c->conn, &e);
	memset(&c->close, 0, sizeof(c->close));
	c->close.by_peer = true;
	c->close.app = e.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION;
	c->close.code = e.error_code;
	if (e.reason && e.reasonlen)
		set_reason(c, (const char *)e.reason, e.reasonlen);
	if (e.error_code == 0)
		c->close.err = 0;
	else if (!c->close.app && (e.error_code & ~0xffULL) == NGTCP2_CRYPTO_ERROR)
		c->close.err = ZT_ETLS;
	else
		c->close.err = ZT_EPEER;
	c->state = ZT_QUIC_DRAINING;
	c->want_close = false;
	c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->conn); /* RFC 9000 s10.2 */
}

static int write_close(struct zt_quic_conn *c, uint64_t now, uint8_t *buf, size_t cap,
		       struct zt_quic_path *ret_path)
{
	ngtcp2_path_storage ps;
	ngtcp2_ssize n;

	ngtcp2_path_storage_zero(&ps);
	c->want_close = false;
	n = ngtcp2_conn_write_connection_close(c->conn, &ps.path, NULL, buf, cap, &c->ccerr, now);
	if (n <= 0) {
		enter_closed(c);
		return 0;
	}
	free(c->close_pkt);
	c->close_pkt = malloc((size_t)n);
	if (c->close_pkt) {
		memcpy(c->close_pkt, buf, (size_t)n);
		c->close_len = (size_t)n;
	}
	path_from_ng(&c->close_path, &ps.path);
	*ret_path = c->close_path;
	c->state = ZT_QUIC_CLOSING;
	c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->conn); /* RFC 9000 s10.2 */
	c->st.pkts_sent++;
	c->st.bytes_sent += (uint64_t)n;
	return (int)n;
}

int zt_quic_conn_close(struct zt_quic_conn *c, uint64_t app_err, const char *reason)
{
	size_t len = reason ? strlen(reason) : 0;

	if (c->want_close || c->state >= ZT_QUIC_CLOSING)
		return ZT_ESTATE;
	if (len >= sizeof(c->ccerr_reason))
		len = sizeof(c->ccerr_reason) - 1;
	if (len)
		memcpy(c->ccerr_reason, reason, len);
	c->ccerr_reason[len] = '\0';
	/* ngtcp2 sends this as a transport APPLICATION_ERROR in Initial and
	 * Handshake packets (RFC 9000 s10.2.3). */
	ngtcp2_connection_close_error_set_application_error(&c->ccerr, app_err,
							    (const uint8_t *)c->ccerr_reason, len);
	memset(&c->close, 0, sizeof(c->close));
	c->close.app = true;
	c->close.code = app_err;
	set_reason(c, c->ccerr_reason, len);
	c->want_close = true;
	return 0;
}

/*
 * Probes for what ngtcp2 0.12.1 leaves without a probe timeout. It arms its PTO only
 * for packets it counts as PTO-eliciting (ngtcp2_conn_set_loss_detection_timer looks
 * at num_pto_eliciting), and neither a packet holding only DATAGRAM frames nor its
 * keep-alive PING is one (upstream made DATAGRAMs PTO-eliciting in 0.14.0, the
 * keep-alive PING in 1.6.0). If such packets are the last ones sent and are lost, or
 * their ACKs are, nothing declares them lost: an outer connection relaying DATAGRAMs
 * with nothing else to send (the Intermediate sends no keep-alive) stopped with its
 * window full of them for good, and a lost keep-alive PING was not repeated before
 * the next keep-alive, so an idle outer connection on a lossy link reached its idle
 * timeout. So: while bytes are in flight and ngtcp2 has no loss-detection timer
 * armed, one PTO after the last ack-eliciting packet (doubling per probe without
 * progress, like RFC 9002's PTO, up to a second) the next packet must elicit an ACK:
 * ngtcp2 adds a PING to a packet with nothing ack-eliciting in it while its keep-alive
 * has expired, which write_probe_or_pkt() makes so for that packet. The ACK of it lets
 * ngtcp2 declare the old packets lost by its time or packet threshold.
 */
#define PROBE_BACKOFF_MAX 6
/* Probes are one small packet each: the backoff stops at a second (or one PTO), so
 * that a link losing many of them still gets several tries within an idle timeout. */
#define PROBE_INTERVAL_MAX ZT_SEC

/*
 * A cap on the probe timeout's backoff. ngtcp2 0.12.1 doubles its PTO at every expiry
 * that brings no acknowledgement of a packet other than a probe (rtb_on_pkt_acked
 * resets pto_count only for those), without a cap and without a call to probe
 * earlier; with its window full, nothing else can be sent either. On a path losing a
 * third of the packets each way (two links at 20 %), both probes of a round fail about
 * one time in three, and three such rounds put the next one 8 PTOs away: streams
 * stood still for 10 to 30 s (ztna-sim --case 200162 --real --max-loss 200000). So
 * when ngtcp2's PTO is due more than PTO_INTERVAL_MAX (or two minimum RTTs, if
 * longer, but never more than PTO_INTERVAL_CEIL: an end-to-end handshake under heavy
 * loss took its first RTT sample, which ngtcp2 uses whole, from an ACK that came 3.3 s
 * late, and the stream's first bytes waited 13.7 s for two such intervals: ztna-sim
 * --case 90111761 --real --max-loss 200000) after the last ack-eliciting packet, it
 * is fired then: pto_cap_fire() gives
 * ngtcp2_conn_handle_expiry() the PTO's own deadline T as the time, and ngtcp2 sends
 * its two probes now (and doubles its count as usual). Only after the handshake, and
 * only to a PTO due well before the idle timeout counted from the last packet that
 * visibly did something (last_rx; ngtcp2 ignores some packets silently). Each early
 * PTO still doubles ngtcp2's own count, so the cap gives out once that reaches the
 * idle timeout less a second (after some 5 to 8 early probes without an answer; it
 * gave out at half the idle timeout before, and an end-to-end connection on a direct
 * path losing a third of the packets each way, 0.8 s RTT, stood still 23 s after four
 * probe rounds without an answer: ztna-sim --case 50330761 --real --max-loss 200000).
 * Two probe
 * packets a second at most stay far below any window; the exponential backoff
 * RFC 9002 asks for is kept up to a second.
 *
 * The future time, checked against ngtcp2 0.12.1 (lib/ngtcp2_conn.c). handle_expiry
 * (ts) runs every timer due by ts, not only the PTO; each one and why running it
 * before its time does no harm, or how it is kept from running:
 * - idle timeout (ngtcp2_conn_get_idle_expiry, NGTCP2_ERR_IDLE_CLOSE): counted by
 *   ngtcp2 (idle_ts) from a packet at least as recent as last_rx (last_rx moves only
 *   for packets ngtcp2 processed), over at least the idle timeout, and T is kept more
 *   than a second before last_rx + idle; handshake timeout: only after the handshake.
 * - delayed ACK (ngtcp2_conn_cancel_expired_ack_delay_timer): would be cancelled as
 *   if due, while the write that follows at the real time leaves an ACK not yet due
 *   out (conn_create_ack_frame), and nothing wakes up for it any more: the ACK waited
 *   for the next PTO (test early_pto_keeps_the_ack_timer). Kept out: the cap waits
 *   until the ACK delay (ngtcp2's is at most our max_ack_delay) has passed since the
 *   last packet received, so that a pending ACK is due and goes with the probes.
 * - path validation (ngtcp2_pv_cancel_expired_timer): a round not yet due would lose
 *   its wake-up the same way. Kept out: no cap while a validation runs (`validating`:
 *   from a migration of ours, or the peer's seen as a change of ngtcp2's path, to its
 *   result); the silent re-validation of the old path that ngtcp2 runs after a
 *   successful one (NGTCP2_PV_FLAG_DONT_CARE) has no result anyone waits for.
 * - keep-alive (conn_cancel_expired_keep_alive_timer): switched off around the call.
 * - pacing (conn_cancel_expired_pkt_tx_timer): the probes and what follows go
 *   unpaced once; lost packets kept for spurious-loss detection
 *   (ngtcp2_conn_remove_lost_pkt): forgotten early, which only takes away the
 *   controller's undo of a loss that turns out spurious and shortens a persistent-congestion span;
 *   PMTUD (ngtcp2_pmtud_handle_expiry, servers only): a probe is sent again or a size
 *   given up early, and we probe no size above what we send anyway.
 * - retired and path-bound connection IDs (conn_remove_retired_connection_id,
 *   conn_retire_stale_bound_dcid), 0-RTT keys: forgotten early; a late packet to such
 *   an ID is then dropped, like a lost one. The one place where that is worse, a
 *   stateless reset answering it (the Intermediate), has none: its clients never
 *   move their outer connections, so no ID of theirs is retired.
 * - the loss detection timer (ngtcp2_conn_on_loss_detection_timer): a PTO (pto_cap_at
 *   excludes a loss_time): probe_pkt_left, ++pto_count, the next deadline from
 *   last_tx_pkt_ts. T itself is kept only as the time of log lines (log.last_ts,
 *   qlog.last_ts: a qlog shows those events at T). The calls that follow with the
 *   real, earlier time therefore see nothing from the future: ngtcp2's time
 *   assertions (ngtcp2_rtb_recv_ack) compare send times, which only writes set;
 *   the PTO path calls nothing of the congestion controller (BBR2 or CUBIC).
 */
#define PTO_INTERVAL_MAX ZT_SEC
#define PTO_INTERVAL_CEIL (2 * ZT_SEC)

static uint64_t pto_cap_at(const struct zt_quic_conn *c, const ngtcp2_conn_stat *cs)
{
	const ngtcp2_transport_params *rp = ngtcp2_conn_get_remote_transport_params(c->conn);
	uint64_t last = cs->last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION];
	uint64_t iv, at, idle = c->cfg.idle_timeout;

	/* once per last packet: until the probes it asked for have gone */
	if (cs->loss_detection_timer == UINT64_MAX || last == UINT64_MAX || c->validating ||
	    last == c->cap_last_tx)
		return ZT_TIME_NEVER;
	for (int i = 0; i < NGTCP2_PKTNS_ID_MAX; i++)
		if (cs->loss_time[i] != UINT64_MAX)
			return ZT_TIME_NEVER; /* a loss timer, not a PTO */
	iv = cs->min_rtt != UINT64_MAX && 2 * cs->min_rtt > PTO_INTERVAL_MAX ? 2 * cs->min_rtt
									   : PTO_INTERVAL_MAX;
	if (iv > PTO_INTERVAL_CEIL)
		iv = PTO_INTERVAL_CEIL;
	if (cs->loss_detection_timer <= last + iv)
		return ZT_TIME_NEVER;
	if (rp && rp->max_idle_timeout && rp->max_idle_timeout < idle)
		idle = rp->max_idle_timeout;
	if (cs->loss_detection_timer + ZT_SEC >= c->last_rx + idle)
		return ZT_TIME_NEVER;
	at = last + iv;
	/* an ACK owed is due by then (fill_params: ngtcp2's default max_ack_delay) */
	if (c->rx_at && at < c->rx_at + NGTCP2_DEFAULT_MAX_ACK_DELAY)
		at = c->rx_at + NGTCP2_DEFAULT_MAX_ACK_DELAY;
	return at < cs->loss_detection_timer ? at : ZT_TIME_NEVER;
}

/* on_timeout: fires ngtcp2's PTO early if pto_cap_at says so (above). */
static int pto_cap_fire(struct zt_quic_conn *c, uint64_t now)
{
	ngtcp2_conn_stat cs;
	int rv;

	ngtcp2_conn_get_conn_stat(c->conn, &cs);
	if (pto_cap_at(c, &cs) > now)
		return 0;
	c->cap_last_tx = cs.last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION];
	c->st.ptos_capped++;
	ngtcp2_conn_set_keep_alive_timeout(c->conn, 0);
	rv = ngtcp2_conn_handle_expiry(c->conn, cs.loss_detection_timer);
	ngtcp2_conn_set_keep_alive_timeout(c->conn, c->keepalive);
	return rv;
}

static void probe_update(struct zt_quic_conn *c, uint64_t now)
{
	ngtcp2_conn_stat cs;
	uint64_t base, pto, iv;

	c->cap_at = ZT_TIME_NEVER;
	if (c->state != ZT_QUIC_ESTABLISHED || c->want_close) {
		c->probe_at = ZT_TIME_NEVER;
		return;
	}
	ngtcp2_conn_get_conn_stat(c->conn, &cs);
	c->cap_at = pto_cap_at(c, &cs);
	/* ngtcp2's own probe timer is armed (dgram_companion makes it so for DATAGRAMs
	 * too): ours only while DATAGRAMs wait for the window, and only before it */
	if (!cs.bytes_in_flight || (cs.loss_detection_timer != UINT64_MAX && !c->dq_head)) {
		c->probe_at = ZT_TIME_NEVER;
		c->probe_n = 0;
		c->probe_due = false;
		return;
	}
	if (cs.bytes_in_flight < c->probe_inflight)
		c->probe_n = 0; /* something was acknowledged or declared lost */
	c->probe_inflight = cs.bytes_in_flight;
	base = cs.last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION];
	if (base == UINT64_MAX)
		base = now;
	if (c->probe_n && c->probe_last > base)
		base = c->probe_last;
	pto = ngtcp2_conn_get_pto(c->conn);
	/* no backoff while DATAGRAMs wait for the window these probes are to free */
	iv = c->dq_head ? pto
			: pto << (c->probe_n < PROBE_BACKOFF_MAX ? c->probe_n : PROBE_BACKOFF_MAX);
	if (iv > PROBE_INTERVAL_MAX)
		iv = pto > PROBE_INTERVAL_MAX ? pto : PROBE_INTERVAL_MAX;
	c->probe_at = base + iv;
	if (c->probe_at >= cs.loss_detection_timer)
		c->probe_at = ZT_TIME_NEVER;
}

/* on_timeout: a probe is due. */
static void probe_fire(struct zt_quic_conn *c, uint64_t now)
{
	if (c->probe_at > now)
		return;
	c->probe_due = true;
	c->probe_last = now;
	c->probe_n++;
	probe_update(c, now);
}

/*
 * Delayed ACKs: ACKs ride on the packets we send anyway (RFC 9000 s13.2.1), so that a
 * request and its reply cost a datagram each way, not two. ngtcp2 0.12.1 puts an ACK in
 * a packet only once it is due: after min(max_ack_delay, smoothed RTT / 8)
 * (conn_compute_ack_delay), 12 us at an RTT of 100 us; at once after two ack-eliciting
 * packets (settings.ack_thresh) or one that does not follow the last ack-eliciting one
 * (pktns_commit_recv_pkt_num, which counts the peer's ACK-only packets in between as a
 * gap). A reply written later than the delay carried the ACK, but the timer had fired
 * first and sent it alone; one written sooner went without it, the ACK-only packet
 * after; and once one ACK-only packet had gone, the peer's next packet seemed out of
 * order, its ACK went at once, alone, and so on: a ping-pong through a TCP forward cost
 * two datagrams per message on every hop, four per round trip. So, once established:
 * - ngtcp2's ACK timer is taken over. After each packet received, the ACK delay is set
 *   to zero for a moment (max_ack_delay of the local transport parameters, which
 *   ngtcp2 reads only in conn_compute_ack_delay once the handshake is done: written
 *   through the pointer ngtcp2_conn_get_local_transport_params gives, cast from const,
 *   the one way 0.12.1 offers), so the timer is expired, and
 *   ngtcp2_conn_handle_expiry cancels it (ngtcp2_conn_cancel_expired_ack_delay_timer;
 *   it runs nothing else that is not due now). The ACK stays owed: ack_at (ACK_DELAY
 *   after the first packet received since our last one) is when it goes on its own.
 * - A write that carries something of ours (stream data, DATAGRAMs, a probe), or that
 *   comes at ack_at, runs with the ACK delay at zero: an owed ACK goes in the packet.
 * - Other writes only ask ngtcp2 for what it has of its own (ng_due: retransmissions
 *   after a timer, flow-control credit, PATH_RESPONSE, PINGs), and its immediate ACKs.
 *   While an ACK is owed they wait for the reply or ack_at, unless urgent: a packet
 *   that brought no data in order (data after a hole, which ngtcp2 holds back: its ACK
 *   goes at once, RFC 9000 s13.2.1, or loss recovery slows down; a PING, a control
 *   frame), a second packet with data since our last one (ack_thresh's rule), a timer
 *   of loss recovery, a packet on another path (a PATH_CHALLENGE to answer) or a path
 *   validation, an ACK that left bytes in flight (losses to repair), much credit to
 *   give, the handshake. So a single packet of in-order data that ngtcp2 takes for out
 *   of order (the peer's ACK-only packet before it) is acknowledged with the reply,
 *   which ends the chain above. (Answering every such packet at once instead brought
 *   the chain back; not answering data after a real hole at once halved a relayed
 *   stream's throughput at 20 % loss: ztna-sim --case 200013 --real --max-loss 200000.)
 * ACK_DELAY stays below the max_ack_delay we announce (ngtcp2's default, 25 ms), which
 * the peer's probe timeout counts in (RFC 9002 s6.2.1), by a timer's lateness.
 */
#define ACK_DELAY (20 * ZT_MS)

static void ack_eager(struct zt_quic_conn *c, bool eager)
{
	ngtcp2_transport_params *p =
		(ngtcp2_transport_params *)ngtcp2_conn_get_local_transport_params(c->conn);

	p->max_ack_delay = eager ? 0 : NGTCP2_DEFAULT_MAX_ACK_DELAY;
}

/* A client's handshake ends at confirmation (HANDSHAKE_DONE, RFC 9001 s4.1.2), but
 * ngtcp2 0.12.1's handshake timeout stops at completion (our Finished sent): a client
 * whose Finished never arrived, at a server that gave up on it, waited for its idle
 * timeout, 75 s since issue 16 (20 s before; ztna-sim --case 659124799 --real
 * --max-loss 200000: no session in the run). Not confirmed by the handshake timeout
 * counts as its expiry. */
static bool confirm_late(const struct zt_quic_conn *c, uint64_t now)
{
	return c->state == ZT_QUIC_HANDSHAKING && now >= c->confirm_by;
}

/* The error ngtcp2_conn_handle_expiry returned: the connection's end, or 0. */
static int expiry_failed(struct zt_quic_conn *c, int rv)
{
	if (rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
		memset(&c->close, 0, sizeof(c->close));
		c->close.err = ZT_ETIMEOUT;
		if (rv == NGTCP2_ERR_IDLE_CLOSE)
			set_reason(c, "idle timeout", 12);
		else
			set_reason(c, "handshake timeout", 17);
		enter_closed(c);
		return ZT_ETIMEOUT;
	}
	return rv ? fail(c, rv) : 0;
}

/* recv: a packet was taken; the ACK it may need is ours to time (above). */
static int ack_take(struct zt_quic_conn *c, uint64_t now, bool urgent)
{
	int rv = 0;

	if (c->state != ZT_QUIC_ESTABLISHED || c->want_close) {
		c->ng_due = true;
		return 0;
	}
	if (urgent)
		c->ng_due = true;
	if (c->ack_at == ZT_TIME_NEVER)
		c->ack_at = now + ACK_DELAY;
	ack_eager(c, true);
	if (ngtcp2_conn_get_expiry(c->conn) <= now)
		rv = ngtcp2_conn_handle_expiry(c->conn, now);
	ack_eager(c, false);
	return expiry_failed(c, rv);
}

/*
 * A packet of the peer's while our probes go unanswered (ngtcp2's probe count >= 1,
 * bytes in flight): the path works again. After a long outage ngtcp2's backoff puts
 * its next probe far away (past where the PTO cap gives out), and a packet that
 * acknowledges nothing of ours (the peer's keep-alive PING) changes nothing in its
 * loss recovery: it answered with an ACK alone, its window stayed full (so not even a
 * PING of ours could go: only probes pass a full window) and the data in flight
 * waited for that distant probe while the peer's keep-alives came and went (a
 * connector's reply stood still over 40 s after a home router rebooted:
 * tests/lab/router_reboot.sh). So ngtcp2's PTO is fired early then, as pto_cap_fire
 * does (its notes on running handle_expiry ahead of time hold here), with two more
 * conditions of its own: the packet was one ngtcp2 processed, not a duplicate it
 * dropped after decryption (dup_probe's copies, a replay): it scheduled an ACK, which
 * only a processed ack-eliciting packet does, so ngtcp2's idle timer restarted then
 * (revive_rx) and the PTO must be due more than a second before that idle timeout;
 * and the ACK delay has passed since (revive_at), so that the owed ACK is due and
 * goes with the probes. The probes' ACK lets ngtcp2 declare the old packets lost and
 * send them again. At most once per such packet, only while stalled.
 * When that PTO lies past the idle timeout (the cap gave out at the idle timeout less
 * a second, counted from the last packet before the outage, and ngtcp2 doubled once
 * more: after a short RTT and an outage over some 10 s its PTO was 106 s away), the
 * owed ACK carries a PING instead: its ACK resets ngtcp2's backoff (an acknowledged
 * non-probe) and declares the old packets lost. Before, the reply waited for a later
 * keep-alive of the peer's that put the idle timeout past the PTO: 20 to 40 s more
 * with 20 s keep-alives (router_reboot.sh failed in CI: nothing within 60 s). A full
 * window lets no PING pass: that case still waits for ngtcp2's PTO.
 */
static void revive(struct zt_quic_conn *c, uint64_t now, const ngtcp2_conn_stat *cs,
		   uint64_t exp_before)
{
	uint64_t soon = now + NGTCP2_DEFAULT_MAX_ACK_DELAY;

	if (c->state != ZT_QUIC_ESTABLISHED || !c->rx_authentic || c->validating ||
	    cs->pto_count < 1 || !cs->bytes_in_flight || exp_before <= soon ||
	    ngtcp2_conn_get_expiry(c->conn) > soon)
		return;
	c->revive_rx = now;
	c->revive_at = soon;
}

/* on_timeout: the PTO now, if revive asked for it and it still holds (above). */
static int revive_fire(struct zt_quic_conn *c, uint64_t now)
{
	const ngtcp2_transport_params *rp = ngtcp2_conn_get_remote_transport_params(c->conn);
	uint64_t idle = c->cfg.idle_timeout;
	ngtcp2_conn_stat cs;
	int rv;

	c->revive_at = ZT_TIME_NEVER;
	ngtcp2_conn_get_conn_stat(c->conn, &cs);
	if (c->state != ZT_QUIC_ESTABLISHED || c->validating || cs.pto_count < 1 ||
	    !cs.bytes_in_flight || cs.loss_detection_timer == UINT64_MAX ||
	    cs.loss_detection_timer <= now)
		return 0;
	for (int i = 0; i < NGTCP2_PKTNS_ID_MAX; i++)
		if (cs.loss_time[i] != UINT64_MAX)
			return 0; /* a loss timer, not a PTO */
	if (rp && rp->max_idle_timeout && rp->max_idle_timeout < idle)
		idle = rp->max_idle_timeout;
	c->st.revived++;
	if (cs.loss_detection_timer + ZT_SEC >= c->revive_rx + idle) {
		/* too far to run ngtcp2's timers up to it (its idle timeout would come
		 * first): a PING instead, non-probing, so that its ACK resets ngtcp2's
		 * backoff and declares the old packets lost (they were sent well over a
		 * loss delay before it); none passes a full window */
		c->revive_ping = true;
		c->st.revive_pings++;
		return 0;
	}
	ngtcp2_conn_set_keep_alive_timeout(c->conn, 0);
	rv = ngtcp2_conn_handle_expiry(c->conn, cs.loss_detection_timer);
	ngtcp2_conn_set_keep_alive_timeout(c->conn, c->keepalive);
	return rv;
}

/* Something may have given ngtcp2 frames of its own to send; urgent: even while an
 * ACK is owed (above). */
static void ng_wake(struct zt_quic_conn *c, bool urgent)
{
	if (urgent || c->ack_at == ZT_TIME_NEVER)
		c->ng_due = true;
}

/* poll_send: this write is to carry an owed ACK (above). */
static bool ack_rides(const struct zt_quic_conn *c, uint64_t now)
{
	return c->state == ZT_QUIC_ESTABLISHED &&
	       (c->sq_head || c->dq_head || c->probe_due || c->nudge_due || c->revive_ping ||
		c->ack_due ||
		now >= c->ack_at);
}

/* Receiving and timers. */

/*
 * Server: the peer moved the connection (ngtcp2 0.12.1 moves a server at once and
 * validates the new path; pto_cap_at keeps out meanwhile), or moved it back to the
 * path it had left, which ends that validation. (A client's path changes only by its
 * own migrations: at once, or when the path it validated first answers.)
 */
static void peer_migration(struct zt_quic_conn *c, const struct zt_quic_path *was,
			   bool was_validating)
{
	struct zt_quic_path now;

	path_from_ng(&now, ngtcp2_conn_get_path(c->conn));
	if (zt_addr_equal(&now.local, &was->local) && zt_addr_equal(&now.remote, &was->remote))
		return;
	if (was_validating && zt_addr_equal(&now.local, &c->pv_from.local) &&
	    zt_addr_equal(&now.remote, &c->pv_from.remote)) {
		c->validating = false;
		return;
	}
	if (!was_validating)
		c->pv_from = *was;
	c->validating = true;
}

/*
 * A client that gets a packet on a path other than its own: the server has not
 * followed its last migration (ngtcp2 0.12.1 ignores such packets on a client). The
 * server follows when a non-probing packet with a new highest packet number arrives
 * on the new path; a client with nothing to send sent none, and both waited: the
 * agent, back on the relay with its stream blocked for flow control, ignored the
 * connector's MAX_STREAM_DATA on the direct path until its keep-alive 15 s later
 * (ztna-sim --case 70555344 --real --max-loss 200000). So its next packet carries a
 * PING (non-probing), at most once a PTO, while nothing came on its own path since it
 * moved there. A server that cannot follow keeps answering on the old path: ngtcp2
 * 0.12.1 needs a connection ID of ours it has not used yet for the new path, and the
 * NEW_CONNECTION_ID frames carrying them can be lost (twice in a row after the
 * end-to-end handshake: --case 90114831 --max-loss 200000, where the agent sent on a
 * direct path nobody answered for 6 s). nudges_unanswered counts the nudges since the
 * move; the path manager takes the connection back to the relay on that evidence
 * (zt_pathmgr_peer_elsewhere). What counts as heard on our path: a packet that
 * visibly did something (acknowledged ours, brought data), other than the answer to
 * our PATH_CHALLENGE. A server answers a challenge on
 * the path it came on, moved or not, and old packets of the server's on the relay
 * (dropped by ngtcp2) arrived after the agent's fallback: a connector that had missed
 * the agent's non-probing packets kept probing on the direct path while the agent,
 * idle, took those for an answer and waited (--case 92335275 --max-loss 200000: the
 * end of a stream 11.8 s).
 */
static bool same_path(const struct zt_quic_path *a, const struct zt_quic_path *b)
{
	return zt_addr_equal(&a->local, &b->local) && zt_addr_equal(&a->remote, &b->remote);
}

static void nudge_peer(struct zt_quic_conn *c, const struct zt_quic_path *got, uint64_t now,
		       bool counts)
{
	struct zt_quic_path cur;

	if (c->server || c->state != ZT_QUIC_ESTABLISHED)
		return;
	path_from_ng(&cur, ngtcp2_conn_get_path(c->conn));
	if (!same_path(&cur, &c->cur_path)) {
		c->cur_path = cur; /* moved: nothing heard on the new path yet */
		c->cur_heard = false;
		c->st.nudges_unanswered = 0;
	}
	if (same_path(&cur, got)) {
		if (counts) {
			c->cur_heard = true;
			c->cur_heard_at = now;
			c->st.nudges_unanswered = 0;
		}
		return;
	}
	/* A server that answers on our path and checks the one we left (ngtcp2 does
	 * after following a move) needs no nudge: only while nothing came on ours, or
	 * nothing for a probe timeout: a server whose validation of our path failed
	 * went back to the old one and answers only there, while a client that heard
	 * it on ours before, and has nothing in flight, waited for good (--case
	 * 60441078 --max-loss 200000: the stream stood still 44 s) */
	if ((c->cur_heard && now < c->cur_heard_at + ngtcp2_conn_get_pto(c->conn)) ||
	    now < c->nudge_at)
		return;
	c->nudge_due = true;
	c->nudge_at = now + ngtcp2_conn_get_pto(c->conn);
	c->st.peer_nudges++;
	c->st.nudges_unanswered++;
}

/* recv: what ngtcp2 may have to send for the packet just read must not wait for an
 * owed ACK (Delayed ACKs, above): a second packet with data since our last one, a path
 * validation (that ran, runs, or ended), an ACK that left bytes in flight. The caller
 * adds a packet without data in order, a path change and the handshake. */
static bool rx_urgent(const struct zt_quic_conn *c, const ngtcp2_conn_stat *before,
		      const ngtcp2_conn_stat *after)
{
	return c->rx_data >= 2 || c->validating || c->pv_answered ||
	       (after->bytes_in_flight < before->bytes_in_flight && after->bytes_in_flight > 0);
}

int zt_quic_conn_recv(struct zt_quic_conn *c, uint64_t now, const struct zt_quic_path *path,
		      const uint8_t *pkt, size_t len)
{
	ngtcp2_conn_stat before, after;
	struct zt_quic_path was;
	uint64_t seen, dec_before, exp_before;
	bool validating, evident, established_before, data;
	struct npath np;
	int rv, ret = 0;

	c->rx_authentic = false;
	if (c->state == ZT_QUIC_CLOSED)
		return ZT_ESTATE;
	if (len == 0 || !(pkt[0] & 0x40) || npath_set(&np, path) < 0) {
		c->st.pkts_dropped++;
		return ZT_EMALFORMED;
	}
	c->st.pkts_recv++;
	c->st.bytes_recv += len;
	if (c->state == ZT_QUIC_DRAINING)
		return 0;
	if (c->state == ZT_QUIC_CLOSING) {
		/* Answer with the close again, ever more rarely (RFC 9000 s10.2.1). */
		c->close_rx++;
		if (!(c->close_rx & (c->close_rx - 1)))
			c->close_resend = true;
		return 0;
	}
	ngtcp2_conn_get_conn_stat(c->conn, &before);
	established_before = c->state == ZT_QUIC_ESTABLISHED;
	seen = c->st.stream_bytes_recv + c->st.dgrams_recv;
	validating = c->validating;
	path_from_ng(&was, ngtcp2_conn_get_path(c->conn));
	c->rx_at = now;
	c->pv_answered = false;
	dec_before = decrypted;
	exp_before = ngtcp2_conn_get_expiry(c->conn);
	rv = ngtcp2_conn_read_pkt(c->conn, &np.path, NULL, pkt, len, now);
	switch (rv) {
	case 0:
		if (c->cfg.release_tls && c->server && c->state == ZT_QUIC_ESTABLISHED)
			release_tls(c);
		if (c->server)
			peer_migration(c, &was, validating);
		/* evidence that ngtcp2 processed it (it silently ignores some packets,
		 * e.g. from a path it left): what pto_cap_at may count from */
		ngtcp2_conn_get_conn_stat(c->conn, &after);
		evident = after.bytes_in_flight != before.bytes_in_flight ||
			  after.latest_rtt != before.latest_rtt ||
			  c->st.stream_bytes_recv + c->st.dgrams_recv != seen;
		if (evident)
			c->last_rx = now;
		/* ngtcp2 returns 0 for a packet it dropped (a bad AEAD tag) as well:
		 * after the handshake (Initial keys, which anyone can derive, are gone
		 * then) a payload that decrypted is the peer's, a PING-only one too */
		c->rx_authentic = established_before && decrypted != dec_before;
		/* heard on our path: a packet that visibly did something, other than
		 * the answer to our PATH_CHALLENGE (a server answers on the path the
		 * challenge came on, moved or not) */
		nudge_peer(c, path, now, evident && !c->pv_answered);
		data = c->st.stream_bytes_recv + c->st.dgrams_recv != seen;
		if (data)
			c->rx_data++;
		revive(c, now, &after, exp_before);
		ret = ack_take(c, now, !data || validating || !established_before ||
				       !same_path(path, &was) || rx_urgent(c, &before, &after));
		break;
	case NGTCP2_ERR_DRAINING:
		enter_draining(c, now);
		ret = c->close.err;
		break;
	case NGTCP2_ERR_CLOSING:
		break;
	case NGTCP2_ERR_DROP_CONN:
	case NGTCP2_ERR_RETRY:
		memset(&c->close, 0, sizeof(c->close));
		c->close.err = ZT_EPEER;
		set_reason(c, "dropped", 7);
		enter_closed(c);
		ret = ZT_EPEER;
		break;
	case NGTCP2_ERR_RECV_VERSION_NEGOTIATION:
		memset(&c->close, 0, sizeof(c->close));
		c->close.err = ZT_EPEER;
		set_reason(c, "version negotiation", 19);
		enter_closed(c);
		ret = ZT_EPEER;
		break;
	default:
		ret = fail(c, rv);
		break;
	}
	probe_update(c, now);
	dispatch(c);
	return ret;
}

uint64_t zt_quic_conn_next_deadline(const struct zt_quic_conn *c)
{
	uint64_t t;

	switch (c->state) {
	case ZT_QUIC_CLOSED:
		return ZT_TIME_NEVER;
	case ZT_QUIC_CLOSING:
	case ZT_QUIC_DRAINING:
		return c->close_deadline;
	default:
		if (c->want_close)
			return 0;
		/*
		 * ngtcp2 0.12.1 reports a retired connection ID's timer as due at
		 * retired + PTO but acts on it only strictly after that instant; a
		 * deadline at or before the last on_timeout() would spin a loop whose
		 * clock has not moved (virtual time). One nanosecond later is as good.
		 */
		t = ngtcp2_conn_get_expiry(c->conn);
		if (t != ZT_TIME_NEVER && c->timeout_ts && t <= c->timeout_ts)
			t = c->timeout_ts + 1;
		if (c->cap_at < t)
			t = c->cap_at;
		if (c->revive_at < t)
			t = c->revive_at;
		if (c->state == ZT_QUIC_ESTABLISHED && c->ack_at < t)
			t = c->ack_at;
		if (c->state == ZT_QUIC_HANDSHAKING && c->confirm_by < t)
			t = c->confirm_by;
		return c->probe_at < t ? c->probe_at : t;
	}
}

/* on_timeout: a timer of loss recovery or path validation is due, or we are not
 * established yet (ng_wake). Others (pacing, keep-alive) wait for an owed ACK. */
static bool timeout_urgent(const struct zt_quic_conn *c, uint64_t now)
{
	ngtcp2_conn_stat cs;

	if (c->state != ZT_QUIC_ESTABLISHED || c->validating || now >= c->cap_at)
		return true;
	ngtcp2_conn_get_conn_stat(c->conn, &cs);
	if (cs.loss_detection_timer <= now)
		return true;
	for (int i = 0; i < NGTCP2_PKTNS_ID_MAX; i++)
		if (cs.loss_time[i] <= now)
			return true;
	return false;
}

int zt_quic_conn_on_timeout(struct zt_quic_conn *c, uint64_t now)
{
	int rv, ret = 0;

	switch (c->state) {
	case ZT_QUIC_CLOSED:
		return 0;
	case ZT_QUIC_CLOSING:
	case ZT_QUIC_DRAINING:
		if (now >= c->close_deadline)
			enter_closed(c);
		return 0;
	default:
		break;
	}
	if (c->want_close)
		return 0;
	c->timeout_ts = now;
	ng_wake(c, timeout_urgent(c, now));
	if (now >= c->ack_at) {
		/* the next poll sends it; the deadline moves on (a node may poll later) */
		c->ack_due = true;
		c->ack_at = ZT_TIME_NEVER;
	}
	rv = ngtcp2_conn_handle_expiry(c->conn, now);
	if (rv == 0 && now >= c->cap_at)
		rv = pto_cap_fire(c, now);
	if (rv == 0 && now >= c->revive_at)
		rv = revive_fire(c, now);
	if (rv == 0 && confirm_late(c, now))
		rv = NGTCP2_ERR_HANDSHAKE_TIMEOUT;
	ret = expiry_failed(c, rv);
	if (ret == 0) {
		probe_update(c, now);
		probe_fire(c, now);
	}
	dispatch(c);
	return ret;
}

/* Sending. */

/*
 * Pacing after the last packet of a burst, when nothing more is waiting. ngtcp2 0.12.1
 * sets its pacing timer to now plus the time the burst's bytes take at the pacing
 * rate (for one small packet, well under a microsecond) and lets a packet go early
 * by up to PACING_SLACK anyway (NGTCP2_PKT_PACING_OVERHEAD, 1 ms); its expiry then
 * names that instant, so the loop woke once more after every such packet only for
 * ngtcp2 to cancel the timer: one more system call and on_timeout per packet of a
 * ping-pong (issue 16). When the pacing timer is the earliest one and within the
 * slack, the next write is not held by it: it is cancelled here (handle_expiry at
 * now runs nothing else when nothing else is due now). A longer pause (a large
 * burst at a low rate) stays and is waited for.
 */
#define PACING_SLACK ZT_MS

static void pace_idle(struct zt_quic_conn *c, uint64_t now)
{
	uint64_t before = ngtcp2_conn_get_expiry(c->conn), after;
	int rv;

	ngtcp2_conn_update_pkt_tx_time(c->conn, now);
	after = ngtcp2_conn_get_expiry(c->conn);
	if (c->state != ZT_QUIC_ESTABLISHED || before <= now || after >= before ||
	    after > now + PACING_SLACK)
		return;
	rv = ngtcp2_conn_handle_expiry(c->conn, now);
	if (rv == 0)
		c->st.pacing_skipped++;
	else
		expiry_failed(c, rv);
}


static struct stream *next_sendable(struct zt_quic_conn *c)
{
	for (struct stream *s = c->sq_head; s; s = s->snext) {
		if (s->skip_gen == c->gen)
			continue;
		if (s->tx_sent < s->tx_end && ngtcp2_conn_get_max_stream_data_left(c->conn, s->id) == 0)
			continue; /* flow-blocked; MAX_STREAM_DATA will come */
		return s;
	}
	return NULL;
}

static void stream_stopped_by_peer(struct zt_quic_conn *c, struct stream *s)
{
	tx_drop(c, s);
	if (!ev_push(c, EV_STOPPED, s->id, 0))
		fail(c, NGTCP2_ERR_NOMEM);
}

/*
 * DATAGRAMs may fill the congestion window only so far that, if all of them are lost,
 * a packet that elicits an ACK can still go: a packet holding only DATAGRAM frames
 * arms no PTO in ngtcp2 0.12.1 (see probe_update), and nothing but a probe may exceed
 * the window. A loss cuts the window to 7/10 of it, not below two full packets
 * (ngtcp2_cc_cubic_cc_congestion_event), while the lost packet leaves the bytes in
 * flight; so a DATAGRAM goes only while a full packet plus a probe's room fit below
 * that cut window. Without it, DATAGRAM-only packets filling a window that a loss then
 * cut left the connection with nothing it could send, for good (ztna-sim --case 870
 * --real --max-loss 200000: the Intermediate stopped relaying towards the connector).
 * BBR2 may cut deeper (to four packets); since dgram_companion, ngtcp2's own probe
 * timer covers that, and this budget only keeps room for a packet beside them.
 */
#define DGRAM_PROBE_ROOM 64

static bool dgram_window_full(struct zt_quic_conn *c)
{
	ngtcp2_conn_stat cs;
	uint64_t cut, floor = 2 * (uint64_t)c->max_udp;

	ngtcp2_conn_get_conn_stat(c->conn, &cs);
	cut = cs.cwnd * 7 / 10 > floor ? cs.cwnd * 7 / 10 : floor;
	return cs.bytes_in_flight + c->max_udp + DGRAM_PROBE_ROOM > cut;
}

/*
 * A DATAGRAM that waited in the queue longer than a PTO (at least DGRAM_WAIT_MIN) is
 * dropped unsent. Queued DATAGRAMs are relayed packets of inner connections, which
 * detect losses and retransmit themselves: one sent that late more likely duplicates
 * a retransmission than helps. Without the limit the queue (up to dgram_queue
 * datagrams) held seconds of inner packets while an outer connection on a lossy
 * link, its window at the minimum, sent one or two packets per round trip: the inner
 * connection's RTT grew to seconds and its probe timeouts with it, so that the relayed
 * stream stood still for over 10 s (ztna-sim --case 829 --real --max-loss 200000).
 */
#define DGRAM_WAIT_MIN (100 * ZT_MS)
/* The newest ones may wait up to a second: an inner connection's latest packets (its
 * probes: at most PTO_INTERVAL_MAX apart) go as soon as the window opens again. */
#define DGRAM_KEEP_NEWEST 2
#define DGRAM_WAIT_NEWEST ZT_SEC

static void dgram_pop(struct zt_quic_conn *c)
{
	struct dgram *d = c->dq_head;

	c->dq_head = d->next;
	if (!c->dq_head)
		c->dq_tail = NULL;
	if (c->dq_unseen == d)
		c->dq_unseen = d->next;
	c->dq_len--;
	free(d);
}

static void dgram_age(struct zt_quic_conn *c, uint64_t now)
{
	uint64_t wait;

	for (struct dgram *d = c->dq_unseen; d; d = d->next)
		d->seen = now;
	c->dq_unseen = NULL;
	if (!c->dq_head || now - c->dq_head->seen <= DGRAM_WAIT_MIN)
		return;
	wait = ngtcp2_conn_get_pto(c->conn);
	if (wait < DGRAM_WAIT_MIN)
		wait = DGRAM_WAIT_MIN;
	while (c->dq_head && now - c->dq_head->seen > wait &&
	       (c->dq_len > DGRAM_KEEP_NEWEST || now - c->dq_head->seen > DGRAM_WAIT_NEWEST)) {
		dgram_pop(c);
		c->st.dgrams_dropped++;
		c->st.dgrams_expired++;
	}
}

/*
 * Every packet that carries a DATAGRAM carries a MAX_DATA frame too. ngtcp2 0.12.1
 * arms no probe timeout for a packet holding only DATAGRAM frames (upstream fixed it
 * in 0.14.0), so when such packets, or their ACKs, are lost and the congestion window
 * is cut below the bytes they leave in flight, nothing can be sent any more: no probe,
 * no PING, no DATAGRAM. CUBIC cuts to 7/10 and dgram_window_full keeps room below
 * that; BBR2 may cut to four packets (its lower bounds after a loss in an
 * application-limited round), and the Intermediate's connection to a connector stood
 * still for good (ztna-sim --case 40222461 --real --max-loss 200000: 52 s to the end
 * of the run). MAX_DATA is a frame ngtcp2 retransmits and probes for, and one the
 * application can ask for at will: ngtcp2 sends it in the next packet when the
 * credit grows by more than half the window (conn_should_send_max_data), and frames
 * queued so go before the DATAGRAM in that packet (ZT_QUIC_DGRAM_COMPANION reserves
 * their room). The extra connection-level credit gives the peer nothing: every stream
 * stays bounded by its own window. One extension per packet sent; the limit of 2^62
 * is reached after 2^62 / (window / 2) packets (for an outer connection's 512 KiB,
 * years at 100,000 packets a second); ngtcp2 then stops sending MAX_DATA and only the
 * older remedies (probe_update, dgram_window_full) are left.
 */
static void dgram_companion(struct zt_quic_conn *c)
{
	if (c->companion_pkts == c->st.pkts_sent)
		return;
	c->companion_pkts = c->st.pkts_sent;
	ngtcp2_conn_extend_max_offset(c->conn, c->cfg.conn_window_max / 2 + 1);
}

static size_t dgram_room(const struct zt_quic_conn *c, size_t udp);

static ngtcp2_ssize write_pkt(struct zt_quic_conn *c, uint64_t now, uint8_t *buf, size_t cap,
			      ngtcp2_path_storage *ps)
{
	ngtcp2_pkt_info pi;
	bool dgram_blocked = false;

	c->gen++;
	for (unsigned guard = 0; guard < 4096; guard++) {
		struct stream *s;
		ngtcp2_vec v[16];
		ngtcp2_ssize n, nd = -1;
		size_t nv, total = 0;
		bool fin;

		if (c->dq_head && c->dq_head->len > dgram_room(c, cap)) {
			/* larger than this path's packets hold (poll_send's cap): the
			 * caller sizes its DATAGRAMs by zt_quic_dgram_room() */
			dgram_pop(c);
			c->st.dgrams_dropped++;
			c->st.dgrams_too_big++;
			continue;
		}
		if (c->dq_head && !dgram_blocked && dgram_window_full(c))
			dgram_blocked = true;
		if (c->dq_head && !dgram_blocked) {
			struct dgram *d = c->dq_head;
			dgram_companion(c);
			ngtcp2_vec dv = { .base = d->data, .len = d->len };
			int accepted = 0;

			n = ngtcp2_conn_writev_datagram(c->conn, &ps->path, &pi, buf, cap, &accepted,
							NGTCP2_WRITE_DATAGRAM_FLAG_MORE, 0, &dv, 1, now);
			if (accepted || n == NGTCP2_ERR_INVALID_STATE ||
			    n == NGTCP2_ERR_INVALID_ARGUMENT) {
				dgram_pop(c);
				if (accepted)
					c->st.dgrams_sent++;
				else
					c->st.dgrams_dropped++;
			}
			if (n == NGTCP2_ERR_WRITE_MORE || n == NGTCP2_ERR_INVALID_STATE ||
			    n == NGTCP2_ERR_INVALID_ARGUMENT)
				continue;
			if (n != 0)
				return n;
			/* Congestion or amplification limited: streams will be too. */
			dgram_blocked = true;
		}

		s = next_sendable(c);
		if (!s)
			return ngtcp2_conn_write_pkt(c->conn, &ps->path, &pi, buf, cap, now);
		nv = zt_bufq_peek(&s->tx, (size_t)(s->tx_sent - s->tx_acked), v, 16);
		for (size_t i = 0; i < nv; i++)
			total += v[i].len;
		fin = (s->flags & SF_TX_FIN) && s->tx_sent + total == s->tx_end;
		n = ngtcp2_conn_writev_stream(c->conn, &ps->path, &pi, buf, cap, &nd,
					      NGTCP2_WRITE_STREAM_FLAG_MORE |
						      (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0),
					      s->id, v, nv, now);
		if (nd >= 0) {
			s->tx_sent += (uint64_t)nd;
			c->st.stream_bytes_sent += (uint64_t)nd;
			if (fin && (size_t)nd == total)
				s->flags |= SF_TX_FIN_SENT;
		}
		if (!tx_pending(s))
			sendq_del(c, s);
		switch (n) {
		case NGTCP2_ERR_WRITE_MORE:
			continue;
		case NGTCP2_ERR_STREAM_DATA_BLOCKED:
			s->skip_gen = c->gen;
			continue;
		case NGTCP2_ERR_STREAM_SHUT_WR:
		case NGTCP2_ERR_STREAM_NOT_FOUND:
			stream_stopped_by_peer(c, s);
			continue;
		default:
			break;
		}
		/* A full packet: the next one starts with another stream. */
		if (n > 0 && (s->flags & SF_IN_SENDQ) && s != c->sq_tail) {
			sendq_del(c, s);
			sendq_add(c, s);
		}
		return n;
	}
	return ngtcp2_conn_write_pkt(c->conn, &ps->path, &pi, buf, cap, now);
}

/* write_pkt; when a probe is due (probe_update), with ngtcp2's keep-alive expired so
 * that a packet with nothing ack-eliciting in it gets a PING. */
static ngtcp2_ssize write_probe_or_pkt(struct zt_quic_conn *c, uint64_t now, uint8_t *buf,
				       size_t cap, ngtcp2_path_storage *ps)
{
	ngtcp2_conn_stat before, after;
	ngtcp2_ssize n;

	if (!c->probe_due && !c->nudge_due && !c->revive_ping)
		return write_pkt(c, now, buf, cap, ps);
	ngtcp2_conn_get_conn_stat(c->conn, &before);
	ngtcp2_conn_set_keep_alive_timeout(c->conn, 1);
	n = write_pkt(c, now, buf, cap, ps);
	ngtcp2_conn_set_keep_alive_timeout(c->conn, c->keepalive);
	ngtcp2_conn_get_conn_stat(c->conn, &after);
	if (after.last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION] !=
	    before.last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION]) {
		if (c->probe_due)
			c->st.probes_sent++;
		c->probe_due = false; /* an ack-eliciting packet went */
		c->nudge_due = false;
		c->revive_ping = false;
	}
	return n;
}

/*
 * A server validating the path its client moved to sends its first PATH_CHALLENGE in
 * a datagram smaller than 1200 bytes when the client has sent less than 400 bytes on
 * it (three times as much is all it may send to an address not validated yet, RFC
 * 9000 s8.1). ngtcp2 0.12.1 then validates the path again with a full-size one, to
 * check that the path carries 1200 bytes, and closes the whole connection with
 * NGTCP2_ERR_NO_VIABLE_PATH when that one fails (conn_on_path_validation_failed,
 * NGTCP2_PV_FLAG_MTU_PROBE), before its own fallback to the old path: on a lossy path
 * every full-size PATH_CHALLENGE of a round or two is lost now and then, and an
 * end-to-end session was lost with it (ztna-sim --case 10225140 --real --max-loss
 * 200000: the agent's first packets on the direct path were lost but for an ACK).
 * Upstream removed that close in 0.13.0 (the failure falls back to the old path).
 * With full_size_challenges the datagram of a write in which ngtcp2 asked for
 * challenge data (conn_write_path_challenge sends the frame alone in its packet) and
 * that came out smaller than 1200 bytes is not sent: to ngtcp2 it is a lost packet.
 * The next round goes full-size once the client's packets (its own 1200-byte
 * PATH_CHALLENGEs, or data) allow it; if none does before the validation times out,
 * ngtcp2 falls back to the old path, as it does for any failed validation. A path is
 * then never validated by a small challenge, so the re-check that can close the
 * connection never runs. The cost: the server stays limited to three times what the
 * client sends on the new path until a full-size challenge fits.
 */
static bool withhold_challenge(struct zt_quic_conn *c, ngtcp2_ssize n)
{
	if (!c->server || !c->cfg.full_size_challenges || !c->challenge_written ||
	    n >= NGTCP2_MAX_UDP_PAYLOAD_SIZE)
		return false;
	c->st.challenges_withheld++;
	return true;
}

/*
 * After a probe timeout, until an answer, each ack-eliciting packet goes twice. On a path that loses a third of the packets each way (two links at 20 %)
 * a probe and its ACK get through about two times in five; ngtcp2's backoff doubles
 * after each round of two probes lost, and four such rounds put the next one past
 * the idle timeout less a second, where the PTO cap gives out (ztna-sim --case
 * 50330761 --real --max-loss 200000: 23 s without a byte). Sent twice, a probe gets
 * through nine times in ten; the receiver drops the copy as a duplicate packet
 * number. From the first PTO on, not the second: after a fallback to the relay the
 * probe count climbed again while the hole in the stream waited (--case 80662858,
 * 12.4 s). Only probes (two more packets a PTO), and only on a path ngtcp2 validated.
 */
static void dup_probe(struct zt_quic_conn *c, const uint8_t *buf, size_t len,
		      const struct zt_quic_path *path, uint64_t before_tx)
{
	ngtcp2_conn_stat cs;

	/* never where ngtcp2 counts bytes against the 3x anti-amplification limit of
	 * an address not validated yet (the handshake, a path being validated): the
	 * copy would not count */
	if (c->state != ZT_QUIC_ESTABLISHED || c->validating)
		return;
	ngtcp2_conn_get_conn_stat(c->conn, &cs);
	if (cs.pto_count < 1 || cs.last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION] == before_tx)
		return;
	if (!c->dup && !(c->dup = malloc(c->max_udp)))
		return;
	memcpy(c->dup, buf, len);
	c->dup_len = len;
	c->dup_path = *path;
}

/* Closing: our CONNECTION_CLOSE once more, when a packet of the peer's asked for it. */
static int close_resend(struct zt_quic_conn *c, uint8_t *buf, size_t cap,
			struct zt_quic_path *ret_path)
{
	if (!c->close_resend || !c->close_pkt || cap < c->close_len)
		return 0;
	c->close_resend = false;
	memcpy(buf, c->close_pkt, c->close_len);
	*ret_path = c->close_path;
	c->st.pkts_sent++;
	c->st.bytes_sent += c->close_len;
	return (int)c->close_len;
}

/* The copy of a probe dup_probe kept (it fits the path's packets). */
static int dup_send(struct zt_quic_conn *c, uint8_t *buf, struct zt_quic_path *ret_path)
{
	size_t n = c->dup_len;

	memcpy(buf, c->dup, n);
	*ret_path = c->dup_path;
	c->dup_len = 0;
	c->st.pkts_sent++;
	c->st.bytes_sent += n;
	c->st.probes_doubled++;
	return (int)n;
}

int zt_quic_conn_poll_send(struct zt_quic_conn *c, uint64_t now, uint8_t *buf, size_t cap,
			   struct zt_quic_path *ret_path)
{
	ngtcp2_conn_stat pre;
	ngtcp2_path_storage ps;
	ngtcp2_ssize n;
	size_t limit;
	bool eager;
	int ret;

	if (c->state == ZT_QUIC_CLOSED || c->state == ZT_QUIC_DRAINING)
		return 0;
	if (c->state == ZT_QUIC_CLOSING)
		return close_resend(c, buf, cap, ret_path);
	if (cap < NGTCP2_MAX_UDP_PAYLOAD_SIZE)
		return -ENOBUFS; /* RFC 9000 s14: every path carries 1200 */
	limit = cap < c->max_udp ? cap : c->max_udp;
	if (c->dup_len > limit)
		c->dup_len = 0; /* the path's packets got smaller: the probe goes once */
	if (c->dup_len && !c->want_close)
		return dup_send(c, buf, ret_path);
	if (c->want_close) {
		ret = write_close(c, now, buf, limit, ret_path);
		dispatch(c);
		return ret;
	}
	eager = ack_rides(c, now);
	if (c->state == ZT_QUIC_ESTABLISHED && !eager && !c->ng_due) {
		dispatch(c);
		return 0; /* nothing for ngtcp2 to send: an owed ACK waits (ack_take) */
	}
	if (c->burst == 0) {
		size_t q = ngtcp2_conn_get_send_quantum(c->conn) / c->max_udp;
		c->burst_max = q ? (unsigned)q : 1;
	} else if (c->burst >= c->burst_max) {
		/* Paced: ngtcp2 computes when the next burst may go. */
		ngtcp2_conn_update_pkt_tx_time(c->conn, now);
		c->burst = 0;
		dispatch(c);
		return 0;
	}
	dgram_age(c, now);
	ngtcp2_conn_get_conn_stat(c->conn, &pre);
	if (eager)
		ack_eager(c, true);
	do {
		ngtcp2_path_storage_zero(&ps);
		c->challenge_written = false;
		n = write_probe_or_pkt(c, now, buf, limit, &ps);
	} while (n > 0 && withhold_challenge(c, n));
	if (eager)
		ack_eager(c, false);
	if (n < 0) {
		ret = fail(c, (int)n);
		(void)ret;
		ret = write_close(c, now, buf, limit, ret_path);
		dispatch(c);
		return ret > 0 ? ret : c->close.err;
	}
	if (eager) {
		c->ack_at = ZT_TIME_NEVER; /* an owed ACK went in it, or none was owed */
		c->ack_due = false;
	}
	if (n == 0) {
		pace_idle(c, now);
		c->burst = 0;
		c->ng_due = c->state != ZT_QUIC_ESTABLISHED;
		dispatch(c);
		return 0;
	}
	/* more may be waiting; what we received is answered */
	c->ng_due = true;
	c->rx_data = 0;
	c->rx_read = 0;
	path_from_ng(ret_path, &ps.path);
	dup_probe(c, buf, (size_t)n, ret_path, pre.last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION]);
	c->burst++;
	c->st.pkts_sent++;
	c->st.bytes_sent += (uint64_t)n;
	probe_update(c, now);
	dispatch(c);
	return (int)n;
}

/* State and statistics. */

enum zt_quic_state zt_quic_conn_state(const struct zt_quic_conn *c)
{
	return c->state;
}

void zt_quic_conn_close_info(const struct zt_quic_conn *c, struct zt_quic_close_info *ret)
{
	if (c->state < ZT_QUIC_CLOSING && !c->want_close)
		memset(ret, 0, sizeof(*ret));
	else
		*ret = c->close;
}

void zt_quic_conn_stats(const struct zt_quic_conn *c, struct zt_quic_stats *ret)
{
	ngtcp2_conn_stat cs;

	*ret = c->st;
	ngtcp2_conn_get_conn_stat(c->conn, &cs);
	ret->srtt_ns = cs.smoothed_rtt;
	ret->min_rtt_ns = cs.min_rtt;
	ret->latest_rtt_ns = cs.latest_rtt;
	ret->rttvar_ns = cs.rttvar;
	ret->cwnd = cs.cwnd;
	ret->bytes_in_flight = cs.bytes_in_flight;
	ret->pto_count = cs.pto_count;
}

void zt_quic_conn_path(const struct zt_quic_conn *c, struct zt_quic_path *ret)
{
	path_from_ng(ret, ngtcp2_conn_get_path(c->conn));
}

uint64_t zt_quic_conn_last_heard(const struct zt_quic_conn *c)
{
	return c->last_rx;
}

uint64_t zt_quic_conn_last_ack_eliciting(const struct zt_quic_conn *c)
{
	ngtcp2_conn_stat cs;

	ngtcp2_conn_get_conn_stat(c->conn, &cs);
	return cs.last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION];
}

struct zt_tls_session *zt_quic_conn_tls(struct zt_quic_conn *c)
{
	return c->tls;
}

int zt_quic_conn_migrate(struct zt_quic_conn *c, uint64_t now, const struct zt_quic_path *path,
			 bool immediate)
{
	const ngtcp2_transport_params *rp;
	struct npath np;
	int rv;

	if (c->server || npath_set(&np, path) < 0)
		return -EINVAL;
	if (c->want_close || c->state >= ZT_QUIC_CLOSING)
		return ZT_ESTATE;
	if (c->state != ZT_QUIC_ESTABLISHED)
		return -EAGAIN;
	rp = ngtcp2_conn_get_remote_transport_params(c->conn);
	if (rp && rp->disable_active_migration)
		return ZT_ESTATE;
	rv = immediate ? ngtcp2_conn_initiate_immediate_migration(c->conn, &np.path, now)
		       : ngtcp2_conn_initiate_migration(c->conn, &np.path, now);
	switch (rv) {
	case 0:
		c->validating = true;
		c->ng_due = true;
		return 0;
	case NGTCP2_ERR_INVALID_ARGUMENT:
		return -EINVAL;
	case NGTCP2_ERR_INVALID_STATE:
	case NGTCP2_ERR_CONN_ID_BLOCKED:
		return -EAGAIN;
	default:
		return -ENOMEM;
	}
}

bool zt_quic_conn_rx_authentic(const struct zt_quic_conn *c)
{
	return c->rx_authentic;
}

void zt_quic_conn_set_keepalive(struct zt_quic_conn *c, uint64_t interval)
{
	c->keepalive_set = interval;
	c->keepalive = keepalive_for(c, interval);
	ng_wake(c, false);
	ngtcp2_conn_set_keep_alive_timeout(c->conn, c->keepalive);
}

uint64_t zt_quic_conn_keepalive(const struct zt_quic_conn *c)
{
	return c->keepalive;
}

/* Streams. */

int zt_quic_stream_open(struct zt_quic_conn *c, int64_t *ret_sid, void *sarg)
{
	struct stream *s;
	int64_t sid;
	int rv;

	if (c->want_close || c->state >= ZT_QUIC_CLOSING)
		return ZT_ESTATE;
	rv = ngtcp2_conn_open_bidi_stream(c->conn, &sid, NULL);
	if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
		return -EAGAIN;
	if (rv != 0)
		return -ENOMEM;
	s = stream_new(c, sid, SF_LOCAL);
	if (!s) {
		ngtcp2_conn_shutdown_stream(c->conn, sid, 0);
		return -ENOMEM;
	}
	s->sarg = sarg;
	ngtcp2_conn_set_stream_user_data(c->conn, sid, s);
	*ret_sid = sid;
	return 0;
}

int zt_quic_stream_set_arg(struct zt_quic_conn *c, int64_t sid, void *sarg)
{
	struct stream *s = stream_find(c, sid);

	if (!s)
		return -ENOENT;
	s->sarg = sarg;
	return 0;
}

void *zt_quic_stream_arg(const struct zt_quic_conn *c, int64_t sid)
{
	struct stream *s = stream_find(c, sid);
	return s ? s->sarg : NULL;
}

size_t zt_quic_stream_writable(const struct zt_quic_conn *c, int64_t sid)
{
	struct stream *s = stream_find(c, sid);
	uint64_t held;

	if (!s || (s->flags & (SF_TX_DEAD | SF_TX_FIN | SF_NG_CLOSED)))
		return 0;
	held = s->tx_end - s->tx_acked;
	return held >= c->cfg.stream_sndbuf ? 0 : (size_t)(c->cfg.stream_sndbuf - held);
}

int zt_quic_stream_write(struct zt_quic_conn *c, int64_t sid, const void *data, size_t len)
{
	struct stream *s = stream_find(c, sid);
	size_t room, n;

	if (!s)
		return -ENOENT;
	if (s->flags & (SF_TX_DEAD | SF_TX_FIN | SF_NG_CLOSED))
		return -EPIPE;
	room = zt_quic_stream_writable(c, sid);
	n = len < room ? len : room;
	if (n > INT_MAX)
		n = INT_MAX;
	if (n && zt_bufq_append(&s->tx, data, n) < 0)
		return -ENOMEM;
	s->tx_end += n;
	if (n < len)
		s->flags |= SF_WANT_WRITABLE;
	if (n)
		sendq_add(c, s);
	return (int)n;
}

int zt_quic_stream_shutdown_write(struct zt_quic_conn *c, int64_t sid)
{
	struct stream *s = stream_find(c, sid);

	if (!s)
		return -ENOENT;
	if (s->flags & (SF_TX_DEAD | SF_NG_CLOSED))
		return -EPIPE;
	s->flags |= SF_TX_FIN;
	if (tx_pending(s))
		sendq_add(c, s);
	return 0;
}

int zt_quic_stream_read(struct zt_quic_conn *c, int64_t sid, void *buf, size_t cap,
			bool *ret_fin)
{
	struct stream *s = stream_find(c, sid);
	size_t n;
	bool fin;

	if (!s)
		return -ENOENT;
	if (s->flags & SF_RX_RESET)
		return -ECONNRESET;
	if (s->flags & SF_RX_STOPPED)
		return -EPIPE;
	n = zt_bufq_read(&s->rx, buf, cap < INT_MAX ? cap : INT_MAX);
	if (n) {
		if (!(s->flags & SF_NG_CLOSED))
			ngtcp2_conn_extend_max_stream_offset(c->conn, sid, n);
		ngtcp2_conn_extend_max_offset(c->conn, n);
		/* credit to announce, perhaps: at once when it is much */
		c->rx_read += n;
		ng_wake(c, c->rx_read >= c->cfg.stream_window / 4);
	}
	fin = (s->flags & SF_RX_FIN) && s->rx.len == 0;
	if (!n && !fin)
		return -EAGAIN;
	if (fin) {
		s->flags |= SF_RX_FIN_READ;
		maybe_finish(c, s);
	}
	*ret_fin = fin;
	return (int)n;
}

size_t zt_quic_stream_readable(const struct zt_quic_conn *c, int64_t sid)
{
	struct stream *s = stream_find(c, sid);
	return s ? s->rx.len : 0;
}

int zt_quic_stream_reset(struct zt_quic_conn *c, int64_t sid, uint64_t app_err)
{
	struct stream *s = stream_find(c, sid);

	if (!s)
		return -ENOENT;
	if (!(s->flags & SF_NG_CLOSED))
		ngtcp2_conn_shutdown_stream(c->conn, sid, app_err);
	c->ng_due = true;
	tx_drop(c, s);
	if (!(s->flags & (SF_RX_RESET | SF_RX_STOPPED))) {
		rx_drop(c, s);
		s->flags |= SF_RX_STOPPED;
	}
	maybe_finish(c, s);
	return 0;
}

int zt_quic_stream_stop_reading(struct zt_quic_conn *c, int64_t sid, uint64_t app_err)
{
	struct stream *s = stream_find(c, sid);

	if (!s)
		return -ENOENT;
	if (!(s->flags & SF_NG_CLOSED))
		ngtcp2_conn_shutdown_stream_read(c->conn, sid, app_err);
	c->ng_due = true;
	if (!(s->flags & (SF_RX_RESET | SF_RX_STOPPED))) {
		rx_drop(c, s);
		s->flags |= SF_RX_STOPPED;
	}
	maybe_finish(c, s);
	return 0;
}

size_t zt_quic_stream_count(const struct zt_quic_conn *c)
{
	return c->streams.n;
}

/* Datagrams. */

static size_t varint_len(size_t v)
{
	return v < 64 ? 1 : v < 16384 ? 2 : v < 1073741824 ? 4 : 8;
}

/* The largest DATAGRAM payload a packet of udp bytes holds (0: none, or the peer
 * takes no DATAGRAMs). */
static size_t dgram_room(const struct zt_quic_conn *c, size_t udp)
{
	const ngtcp2_transport_params *rp;
	size_t base, p, frame_max;

	rp = ngtcp2_conn_get_remote_transport_params(c->conn);
	if (!rp || rp->max_datagram_frame_size == 0)
		return 0;
	/* Short header with a 4-byte packet number, AEAD tag, DATAGRAM type. */
	base = 1 + ngtcp2_conn_get_dcid(c->conn)->datalen + 4 + 16 /* AEAD tag: every QUIC v1 AEAD */ + 1;
	/* ... and the MAX_DATA frame that goes with each DATAGRAM (dgram_companion) */
	if (udp <= base + 2 + ZT_QUIC_DGRAM_COMPANION)
		return 0;
	p = udp - base - 2 - ZT_QUIC_DGRAM_COMPANION;
	if (p < 64)
		p = udp - base - 1 - ZT_QUIC_DGRAM_COMPANION;
	if (rp->max_datagram_frame_size < 1 + varint_len(p) + p) {
		frame_max = (size_t)rp->max_datagram_frame_size;
		if (frame_max < 3)
			return 0;
		p = frame_max - 1 - varint_len(frame_max);
	}
	return p;
}

size_t zt_quic_dgram_max(const struct zt_quic_conn *c)
{
	if (c->state != ZT_QUIC_ESTABLISHED || c->want_close)
		return 0;
	return dgram_room(c, c->max_udp);
}

size_t zt_quic_dgram_room(const struct zt_quic_conn *c, size_t udp)
{
	if (c->state != ZT_QUIC_ESTABLISHED || c->want_close)
		return 0;
	return dgram_room(c, udp < c->max_udp ? udp : c->max_udp);
}

size_t zt_quic_dgram_queued(const struct zt_quic_conn *c)
{
	return c->dq_len;
}

int zt_quic_write_stateless_reset(uint8_t *buf, size_t cap, const uint8_t token[16],
				  size_t trigger_len, const struct zt_rng *rng)
{
	uint8_t rnd[43 - NGTCP2_STATELESS_RESET_TOKENLEN];
	size_t len = trigger_len > 44 ? 43 : trigger_len - 1;
	ngtcp2_ssize n;

	if (trigger_len < 23)
		return 0;
	if (cap < len)
		return -ENOBUFS;
	zt_rng_fill(rng, rnd, len - NGTCP2_STATELESS_RESET_TOKENLEN);
	n = ngtcp2_pkt_write_stateless_reset(buf, cap, token, rnd,
					     len - NGTCP2_STATELESS_RESET_TOKENLEN);
	return n < 0 ? -ENOBUFS : (int)n;
}

int zt_quic_dgram_send(struct zt_quic_conn *c, const void *data, size_t len)
{
	struct dgram *d;

	if (c->state != ZT_QUIC_ESTABLISHED || c->want_close)
		return ZT_ESTATE;
	if (len > zt_quic_dgram_max(c))
		return -EMSGSIZE;
	if (c->dq_len >= c->cfg.dgram_queue) {
		c->st.dgrams_dropped++;
		return -EAGAIN;
	}
	d = malloc(sizeof(*d) + len);
	if (!d)
		return -ENOMEM;
	d->next = NULL;
	d->seen = 0;
	d->len = len;
	memcpy(d->data, data, len);
	if (!c->dq_unseen)
		c->dq_unseen = d;
	if (c->dq_tail)
		c->dq_tail->next = d;
	else
		c->dq_head = d;
	c->dq_tail = d;
	c->dq_len++;
	return 0;
}
