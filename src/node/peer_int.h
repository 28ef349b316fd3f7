/*
 * Internals shared by peer.c (outer connection, control, socket demultiplexing,
 * sending) and session.c (sessions, inner connections, channels, flows). Not a
 * public interface.
 */
#ifndef ZT_NODE_PEER_INT_H
#define ZT_NODE_PEER_INT_H

#include "core/checkbudget.h"
#include "core/ctrl.h"
#include "node/backoff.h"
#include "node/ctrlchan.h"
#include "node/direct.h"
#include "node/peer.h"
#include "quic/cidmap.h"

#define PEER_RAWQ 32
#define PEER_RAW_MAX 1500
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
	CH_ACCEPTED = 1u << 6,  /* connector: chan_accept was called */
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
};

struct zt_peer_flow {
	struct zt_peer *p;
	struct psession *s;
	struct zt_peer_flow *prev, *next;
	uint32_t id;
	void *arg;
	uint64_t last;               /* last datagram either way */
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
	struct pdirect *direct;             /* ICE and the path manager (node/direct.c) */
	bool detached;                      /* kept on its direct path while the Intermediate
					       was lost: the new one does not know it yet */
	uint64_t resume_request;            /* agent: the OPEN that re-attaches it */
	uint64_t resume_at;                 /* agent: ask again then (connector not back yet) */
	unsigned resume_tries;
};

/* A refused OPEN (node/peer.h, struct zt_peer_refusal); r.service "" is a free slot. */
struct prefusal {
	struct zt_peer_refusal r;
	uint64_t step;                      /* the hold of the last refusal */
};

struct praw {
	struct zt_addr local, remote;
	size_t len;
	uint8_t data[PEER_RAW_MAX];
};

struct zt_peer {
	struct zt_peer_config cfg;
	struct zt_peer_callbacks cb;
	enum zt_peer_state state;
	uint64_t now;                   /* of the call in progress, for callbacks */
	struct zt_quic_conn *outer;
	struct zt_quic_path outer_path;
	struct zt_ctrlchan ch;
	void *outer_qlog;
	struct zt_backoff backoff;
	uint64_t retry_at;
	struct zt_addr observed;
	uint64_t client_id;
	struct zt_quic_cidmap *inner_map;
	struct zt_addr relay_local;
	struct psession *sessions;
	struct psession *rr;            /* round-robin start for sending */
	uint32_t next_flow;
	uint64_t next_request;
	uint64_t tick;                  /* flow idle checks; ZT_TIME_NEVER when no flows */
	struct zt_addr hosts[ZT_PEER_MAX_HOSTS]; /* host candidate addresses */
	size_t nhosts;
	struct prefusal refusals[PEER_REFUSALS]; /* agent: refused OPENs by service */
	struct zt_backoff login_backoff;         /* after a refused login */
	struct zt_peer_refusal login;            /* the last refused login (code 0: none) */
	bool login_refused;                      /* backing off after it now */
	uint64_t welcome_at;                     /* of the connection that is up */
	struct zt_check_budget checks;           /* checks to addresses not answered yet */
	struct praw rawq[PEER_RAWQ];
	size_t raw_head, raw_len;
	uint8_t scratch[ZT_QUIC_OUTER_UDP_PAYLOAD + ZT_RELAY_HDR_LEN];
	struct zt_peer_stats st;
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
/* The outer connection is ready: send the OPENs that wait. */
void zt_psession_outer_ready(struct zt_peer *p);
/* The outer connection is gone. */
void zt_psession_outer_down(struct zt_peer *p);
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

/* peer.c */
int zt_peer_ctrl(struct zt_peer *p, const struct zt_ctrl_msg *m);

#endif
