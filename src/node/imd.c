#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "core/version.h"
#include "core/checkbudget.h"
#include "core/ctrl.h"
#include "core/err.h"
#include "core/hmap.h"
#include "core/addrpool.h"
#include "core/list.h"
#include "core/route.h"
#include "core/stun_server.h"
#include "core/timerheap.h"
#include "core/tokens.h"
#include "core/units.h"
#include "node/ctrlchan.h"
#include "node/imd.h"
#include "node/relay.h"
#include "node/relaytab.h"
#include "node/srccount.h"
#include "quic/cidmap.h"
#include "node/outer.h"
#include "quic/conn.h"
#include "quic/pki.h"
#include "quic/retry.h"

#define RAWQ_LEN 64
#define RAW_MAX 256 /* STUN answers, stateless resets, Retry, INVALID_TOKEN closes */
_Static_assert(RAW_MAX >= ZT_QUIC_RETRY_MAX && RAW_MAX >= ZT_QUIC_INVALID_TOKEN_MAX &&
		       RAW_MAX >= ZT_STUN_SERVER_MAX_RESPONSE,
	       "a stateless answer fits a raw queue entry");
/* STUN answers (to any source, which can be spoofed): per destination IP and in all
 * per second, each with a burst of ZT_CHECK_BUDGET_BURST_S seconds' worth. */
#define STUN_RATE_DEST 10
#define STUN_RATE_TOTAL 1000
#define LIMIT_LOG_EVERY (10 * ZT_SEC)
#define CANDS_WINDOW (10 * ZT_SEC)
#define CANDS_PER_WINDOW 32
#define CANDS_BYTES_PER_WINDOW (16 * 1024)
#define SOFTWARE "ztna-intermediate " ZT_VERSION
/* Control messages: each session of a party adds this to its budget (burst) and
 * credits it once, for that session's signaling. */
#define CTRL_SESSION_CREDIT 16
/* CANDIDATES are forwarded while the receiver has less than ctrl_busy / this queued. */
#define CTRL_FWD_SHARE 4
/* Refusal lines (OPEN refused or held, services refused, reports) per connection:
 * this many per window, the rest counted and summed up in one line. */
#define LOG_WINDOW (10 * ZT_SEC)
#define LOG_PER_WINDOW 10
#define NANO 1000000000ULL
/* Channel datagrams waiting to be sent (the I/O shell takes up to 64 datagrams a
 * wake-up before it polls): beyond, relayed payloads go as outer DATAGRAMs. */
#define CHAN_QUEUE 128
/* A relayed session across Intermediates whose link was lost looks for its connector
 * this often (rehome_try). */
#define REHOME_EVERY (500 * ZT_MS)

enum client_state {
	C_HANDSHAKE = 0, /* QUIC handshake running */
	C_WAIT_HELLO,    /* handshake done, HELLO due */
	C_READY,         /* authenticated */
	C_REJECTED,      /* ERROR sent, closing at close_at */
	C_GONE,          /* connection closing or closed; sessions ended */
};

struct session;
struct held;

/* A token bucket in units of 1e-9 token: exact for any rate, no remainder to lose. */
struct bucket {
	uint64_t at;
	uint64_t n;
};

struct client {
	struct zt_imd *imd;
	struct zt_outer *outer;           /* QUIC or TLS/TCP */
	uint64_t tcp_id;                  /* TCP: the shell's handle (0: QUIC) */
	struct zt_hnode tcp_node;         /* TCP: in imd->tcp, by tcp_id */
	struct client *prev, *next;       /* all clients */
	struct client *dprev, *dnext;     /* dirty list: may have packets to send */
	bool dirty;
	struct zt_timerheap_entry timer;  /* its earliest deadline, in imd->timers */
	struct client *due_next;          /* on_timeout's list of clients due */
	enum client_state state;
	uint8_t role;                     /* enum zt_ctrl_role, once READY */
	char name[ZT_PKI_NAME_MAX + 1];
	char identity[ZT_PKI_IDENTITY_MAX];
	uint64_t id;                      /* client id (WELCOME) */
	struct zt_addr observed;
	struct zt_addr tun4, tun6;        /* agent: tunnel addresses it holds (family 0: none) */
	uint8_t nat_mapping, nat_ports;   /* its NAT as its last CANDIDATES said (0 unknown) */
	uint64_t hello_deadline;
	uint64_t created;                 /* its first Initial */
	bool half_open;                   /* counted in imd->half_open and imd->half_src */
	struct zt_addr src;               /* where its first Initial came from */
	bool close_pending;               /* C_GONE: close at close_at (after an ERROR) */
	bool lost;                        /* its connection was lost, not closed by it: its
					     sessions wait for it (orphans) */
	uint64_t login_seq;               /* C_READY: its HELLO was the login_seq-th */
	uint64_t login_at;                /* C_READY: when */
	uint64_t login_floor;             /* cfg.login_floor's answer at the login */
	uint64_t close_at;                /* C_REJECTED or close_pending: when to close */
	uint32_t close_code;
	char close_text[128];
	uint8_t nservices;
	char (*services)[ZT_PKI_NAME_MAX + 1]; /* service names only (set_services) */
	uint8_t nroutes;                  /* connector: its routed services (each one's name */
	struct zt_route *routes;          /* is one of its services) */
	uint64_t routes_sent;             /* agent: digest of the last ROUTES (0: none sent) */
	struct client *cprev, *cnext;     /* imd->connectors: most recently registered first */
	bool listed;                      /* in imd->connectors */
	struct session *sessions;         /* sessions this client is an end of */
	size_t nsessions;
	/* Control-message limits (docs/security.md, "Control messages"). */
	struct held *held;                /* its OPENs waiting (agent) */
	size_t nheld;
	struct bucket open_bucket;        /* OPENs */
	struct bucket ctrl_bucket;        /* every control message */
	bool ctrl_over;                   /* over its budget: told once (ERROR 1510) */
	uint64_t ctrl_over_dropped;       /* messages dropped since */
	bool read_paused;                 /* not read while our queue towards it is backed up */
	bool busy_waiters;                /* connector: OPENs wait for its queue to drain */
	bool send_dropping;               /* messages to it dropped (buffers full), logged */
	size_t last_queued;               /* control bytes queued towards it, last seen */
	uint64_t progress_at;             /* when that last went down (or was 0) */
	uint64_t log_window, log_suppressed;
	unsigned log_lines;
	/* Its limits: cfg's, or its identity's (policy limit rules) from its login. */
	uint32_t relay_rate, relay_burst; /* relay_rate 0: none */
	size_t max_sessions;
	bool no_direct;                   /* its sessions stay on the relay */
	/* Relay rate (relay_rate): the bytes it sends into the relay. */
	struct zt_tokens relay_tokens;
	uint64_t relay_dropped;           /* its payloads dropped over the rate */
	uint64_t relay_log_at;            /* its last relay_rate_limited line */
	/* The relay channel agreed at its login (QUIC only): what is relayed to it goes to
	 * observed from chan_local as channel data, and channel data from observed is its. */
	bool chan;
	struct zt_addr chan_local;
	/* A link we opened to another Intermediate (cfg.link_tls; role INTERMEDIATE, name
	 * the one it must be): the sessions of our agents with its connectors. Its
	 * packets leave from link_local, whatever address they arrive on. */
	bool link_out;
	struct zt_addr link_local;
	void *qlog;
};

/* A session's two ends: 0 the agent, 1 the connector. */
struct session {
	uint32_t id;
	struct zt_hnode hnode;               /* in imd->sessions, by id */
	struct client *end[2];               /* NULL: that end is gone (orphan) */
	struct session *lprev[2], *lnext[2]; /* in end[i]'s list */
	char ident[2][ZT_PKI_IDENTITY_MAX];  /* the ends' identities, kept */
	bool direct;                         /* the agent's last PATH_REPORT said direct */
	uint8_t no_direct;                   /* an end's identity has direct off: bit 0 the
						agent's, bit 1 the connector's */
	bool direct_logged;                  /* direct_refused said */
	uint64_t orphan_until;               /* an end is gone: wait for it until then */
	struct session *oprev, *onext;       /* in imd->orphans */
	struct zt_timerheap_entry otimer;    /* in imd->otimers: orphan_until, or the next
						rehome_try if sooner (orphan_deadline) */
	char service[ZT_PKI_NAME_MAX + 1];   /* a service name (set_services refuses others) */
	struct zt_addr tun4, tun6;           /* the agent's tunnel addresses */
	struct zt_relay_count count;         /* relayed bytes and packets (node/relaytab.h:
						shared with the workers, docs/workers.md) */
	uint64_t quota_bytes, quota_pkts, dropped_quota;
	uint64_t dropped_rate;               /* over its sender's relay rate */
	bool over_quota;
	bool have_cands[2];
	uint32_t gen[2];
	bool started;
	uint32_t started_gen;
	uint64_t cands_window[2];
	unsigned cands_count[2];
	size_t cands_bytes[2];
	bool cands_limited[2];               /* logged */
	/* A session of our agent with a connector at another Intermediate (end[1] is the
	 * link to it): that one pairs the ends and sends START_CHECKS; we pass messages
	 * and relayed payloads between the agent and the link, under its id there. */
	bool cross;
	bool open_sent;                      /* our OPEN went over the link */
	uint32_t rid;                        /* its id at the other Intermediate (0: not
						answered yet) */
	uint64_t agent_req;                  /* the agent's OPEN, until answered */
	/* Its link was lost while it was relayed, or its connector (rehome_start): it
	 * waits (an orphan until rehome_until) for its connector to show up here or at
	 * another Intermediate, looked for every REHOME_EVERY (rehome_at), and goes on
	 * under the same id (rehome_try). */
	bool rehoming;
	uint64_t rehome_at, rehome_until;
	struct zt_hnode xnode;               /* in imd->xsessions (rid known), by link, rid */
};

/* An OPEN waiting for its service to be registered (open_hold) or for a connector
 * whose control stream is backed up (busy_hold). In imd->held (oldest first) and in
 * its agent's list. */
struct held {
	struct held *prev, *next;
	struct held *anext;
	struct client *agent;
	uint64_t request_id;
	uint32_t resume;             /* OPEN's SESSION_ID: the id to re-attach, or 0 */
	bool busy;                   /* waits for a busy connector, not a registration */
	uint64_t deadline;
	char service[ZT_CTRL_STR_MAX + 1];
	char who[ZT_CTRL_STR_MAX + 1]; /* the agent's identity (over a link: its AGENT) */
};

struct raw {
	struct zt_addr local, remote;
	size_t len;
	uint8_t data[RAW_MAX];
};

/* A channel datagram to send. */
struct chan_out {
	struct zt_addr local, remote;
	size_t len;
	uint8_t data[ZT_RELAY_CHAN_MAX];
};

/* A look elsewhere (cfg.elsewhere) for a service, kept a moment (rehome_where). */
struct rehome_look {
	bool valid, found;
	uint64_t at;
	const struct zt_policy *policy;
	char service[ZT_CTRL_STR_MAX + 1];
	struct zt_imd_where w;
};

struct zt_imd {
	struct zt_imd_config cfg;
	struct zt_quic_config qcfg;
	struct zt_quic_cidmap *map;
	struct zt_stun_server stun;
	bool have_stun;
	struct zt_stun_server stun2;        /* on cfg.stun_port (have_stun2) */
	bool have_stun2;
	struct zt_check_budget stun_budget; /* answers to addresses that may be spoofed */
	uint64_t started;
	struct client *clients;
	size_t nclients;
	struct client *dhead, *dtail;     /* dirty QUIC clients: packets to send */
	struct client *thead, *ttail;     /* dirty TCP clients: bytes to send, or ended */
	struct zt_hmap tcp;               /* TCP clients by tcp_id */
	uint64_t next_tcp_id;
	struct zt_timerheap timers;       /* every client's next deadline */
	struct zt_hmap sessions;          /* by id */
	struct zt_hmap xsessions;         /* cross sessions, by link and rid */
	struct client *connectors;        /* READY connectors with services, most recent first */
	struct held *held, *held_tail;    /* oldest first */
	size_t nheld;
	uint64_t held_next;               /* no held OPEN is due before this */
	struct session *orphans;
	struct zt_timerheap otimers;         /* the orphans' deadlines */
	/* rehome_try's last look elsewhere (cfg.elsewhere), for the orphans of one lost
	 * connector that look at the same moment: one look per service, not per session */
	struct rehome_look rehome_look;
	struct raw rawq[RAWQ_LEN];
	size_t raw_head, raw_len;
	struct chan_out *chanq;           /* CHAN_QUEUE, a ring (NULL: channel off) */
	size_t chan_head, chan_len;
	uint64_t reset_window;
	unsigned reset_count;
	uint8_t reset_key[32];
	bool have_reset_key;
	struct zt_quic_retry *retry;      /* NULL until first needed without a reset key */
	struct zt_srccount *half_src;     /* half-open clients per source */
	struct zt_addrpool *pool4, *pool6; /* agents' tunnel addresses, when configured */
	size_t half_open;
	size_t nready;                    /* clients C_READY */
	uint64_t logins;                  /* HELLOs accepted */
	bool limit_logged;
	uint64_t limit_log_at, limit_hits;
	uint64_t now;                     /* of the call in progress, for callbacks */
	struct zt_imd_stats st;
};

static const struct zt_outer_callbacks outer_cb;
static void routes_changed(struct zt_imd *imd);

#define LOG(imd, lvl, ev, ...) zt_node_logf(&(imd)->cfg.log, lvl, ev, __VA_ARGS__)

static uint64_t or_default(uint64_t v, uint64_t def)
{
	return v ? v : def;
}

/* The relay burst for a rate when none is given: a quarter second at the rate (the
 * bytes in flight of an end-to-end connection with a round trip up to 250 ms, which a
 * policer must let through at once or it cuts the connection below the rate), at least
 * ZT_IMD_RELAY_BURST_MIN. */
static uint32_t relay_burst_for(uint32_t rate)
{
	return rate / 4 > ZT_IMD_RELAY_BURST_MIN ? rate / 4 : ZT_IMD_RELAY_BURST_MIN;
}

_Static_assert(sizeof(((struct zt_imd_client_info *)0)->services) >
		       ZT_CTRL_SERVICES_MAX * (ZT_PKI_NAME_MAX + 1),
	       "every service name fits a client's info");
_Static_assert(ZT_POLICY_RELAY_BURST_MIN == ZT_IMD_RELAY_BURST_MIN,
	       "a limit rule's smallest burst is the Intermediate's");

/* Token buckets: rate per second, at most cap tokens; full at the start. */

static void bucket_init(struct bucket *b, uint64_t now, uint64_t cap)
{
	b->at = now;
	b->n = cap * NANO;
}

static bool bucket_take(struct bucket *b, uint64_t now, uint64_t rate, uint64_t cap)
{
	uint64_t dt = now > b->at ? now - b->at : 0;

	/* rate and cap are at most 1e6 (zt_imd_new), dt capped: no overflow. */
	if (dt > 1000 * ZT_SEC)
		dt = 1000 * ZT_SEC;
	b->n += dt * rate;
	if (b->n > cap * NANO)
		b->n = cap * NANO;
	b->at = now;
	if (b->n < NANO)
		return false;
	b->n -= NANO;
	return true;
}

/* Control bytes queued towards c: in its stream's send buffer (not yet acknowledged)
 * and in the channel's backlog. */
static size_t queued(const struct client *c)
{
	return zt_outer_ctrl_queued(c->outer, c->imd->qcfg.stream_sndbuf);
}

/* A party not keeping up with its control stream: no new sessions go to it, and it
 * is not read (so its requests wait in QUIC flow control) until it catches up. */
static bool backed_up(const struct client *c)
{
	return queued(c) > c->imd->cfg.ctrl_busy;
}

/* Refusal lines per connection: LOG_PER_WINDOW per LOG_WINDOW; the rest are counted
 * and summed up in one line when the window is over (or the client goes). */
static void log_summary(struct client *c)
{
	if (!c->log_suppressed)
		return;
	zt_node_logf(&c->imd->cfg.log, ZT_NODE_WARN, "log_suppressed",
		     "client=%016" PRIx64 " identity=%s lines=%" PRIu64
		     " what=\"refused or held requests, refused services, reports\"",
		     c->id, c->identity[0] ? c->identity : "-", c->log_suppressed);
	c->log_suppressed = 0;
}

static bool log_quota(struct client *c)
{
	struct zt_imd *imd = c->imd;

	if (imd->now >= c->log_window + LOG_WINDOW) {
		log_summary(c);
		c->log_window = imd->now;
		c->log_lines = 0;
	}
	if (c->log_lines < LOG_PER_WINDOW) {
		c->log_lines++;
		return true;
	}
	c->log_suppressed++;
	imd->st.log_suppressed++;
	return false;
}

/* LOG, within c's refusal-line quota. */
#define LOGC(c, lvl, ev, ...)                         \
	do {                                          \
		if (log_quota(c))                     \
			LOG((c)->imd, lvl, ev, __VA_ARGS__); \
	} while (0)

/* Dirty list. */

static void mark_dirty(struct client *c)
{
	struct zt_imd *imd = c->imd;

	if (c->dirty)
		return;
	c->dirty = true;
	if (c->tcp_id)
		ZT_QUEUE_APPEND(imd->thead, imd->ttail, c, dprev, dnext);
	else
		ZT_QUEUE_APPEND(imd->dhead, imd->dtail, c, dprev, dnext);
}

static void unmark_dirty(struct client *c)
{
	struct zt_imd *imd = c->imd;

	if (!c->dirty)
		return;
	if (c->tcp_id)
		ZT_QUEUE_UNLINK(imd->thead, imd->ttail, c, dprev, dnext);
	else
		ZT_QUEUE_UNLINK(imd->dhead, imd->dtail, c, dprev, dnext);
	c->dirty = false;
}

/* Timers: each client's earliest deadline (its connection's, HELLO due, delayed
 * close) sits in a heap, updated after every call into its connection, so finding
 * the next deadline and the clients due does not scan every client. */

static uint64_t client_deadline(const struct client *c)
{
	uint64_t t = zt_outer_next_deadline(c->outer);

	if (c->state == C_WAIT_HELLO && c->hello_deadline < t)
		t = c->hello_deadline;
	if ((c->state == C_REJECTED || c->close_pending) && c->close_at < t)
		t = c->close_at;
	if (c->state == C_READY && c->last_queued && c->progress_at + c->imd->cfg.ctrl_stall < t)
		t = c->progress_at + c->imd->cfg.ctrl_stall;
	return t;
}

static void client_rearm(struct client *c)
{
	/* Cannot fail: accept_client reserved a slot for every client. */
	zt_timerheap_set(&c->imd->timers, &c->timer, client_deadline(c));
}

/* Sessions: a hash by id, and a list per end. */

static bool same_id(const struct zt_hnode *n, const void *id)
{
	return zt_hmap_entry(n, struct session, hnode)->id == *(const uint32_t *)id;
}

static struct zt_hnode **session_slot(const struct zt_imd *imd, uint32_t id)
{
	return zt_hmap_slot(&imd->sessions, id, same_id, &id);
}

static struct session *session_find(const struct zt_imd *imd, uint32_t id)
{
	struct zt_hnode *n = *session_slot(imd, id);

	return n ? zt_hmap_entry(n, struct session, hnode) : NULL;
}

/* The id of s in messages and payloads to `to`: its id at the other Intermediate for
 * the link of a cross session (0 while not answered), else ours. */
static uint32_t id_at(const struct session *s, const struct client *to)
{
	return to && to->link_out ? s->rid : s->id;
}

static void link_end(struct session *s, int i)
{
	struct client *c = s->end[i];

	s->lprev[i] = NULL;
	s->lnext[i] = c->sessions;
	if (c->sessions) {
		int j = c->sessions->end[0] == c ? 0 : 1;
		c->sessions->lprev[j] = s;
	}
	c->sessions = s;
	c->nsessions++;
}

static void unlink_end(struct session *s, int i)
{
	struct client *c = s->end[i];
	struct session *p = s->lprev[i], *n = s->lnext[i];

	if (i == 1 && s->cross && s->rid) /* found by link and rid no more */
		zt_hmap_remove(&c->imd->xsessions, &s->xnode);

	if (p)
		p->lnext[p->end[0] == c ? 0 : 1] = n;
	else
		c->sessions = n;
	if (n)
		n->lprev[n->end[0] == c ? 0 : 1] = p;
	c->nsessions--;
}

/* The relay table (cfg.relaytab, docs/workers.md): s's entry as it is now. An end
 * that is gone or not logged in, or a session over its quota, is not the fast
 * path's. A failed update removes the entry: the slow path is always right. */
static void tab_sync(struct zt_imd *imd, struct session *s)
{
	struct zt_relaytab_entry e = { .id = s->id, .count = &s->count,
				       .max_bytes = s->quota_bytes, .max_pkts = s->quota_pkts };

	if (!imd->cfg.relaytab)
		return;
	for (int k = 0; k < 2; k++) {
		const struct client *c = s->end[k];
		if (!c || s->over_quota)
			continue;
		e.end[k] = (struct zt_relaytab_end){ .addr = c->observed, .local = c->chan_local,
						     .chan = c->chan && c->state == C_READY,
						     .rate_free = !c->relay_rate };
	}
	zt_relaytab_set(imd->cfg.relaytab, &e);
}

/* Every session of c (its address, state or limits changed). */
static void tab_sync_client(struct client *c)
{
	for (struct session *s = c->sessions; s; s = s->lnext[s->end[0] == c ? 0 : 1])
		tab_sync(c->imd, s);
}

/* A new session: in no list, no heap. */
static struct session *session_alloc(void)
{
	struct session *s = calloc(1, sizeof(*s));

	if (s)
		zt_timerheap_entry_init(&s->otimer);
	return s;
}

/* When orphan s needs us next: it expires, or looks for its connector again. */
static uint64_t orphan_deadline(const struct session *s)
{
	if (s->rehoming && !s->end[1] && s->rehome_at < s->orphan_until)
		return s->rehome_at;
	return s->orphan_until;
}

static void orphan_rearm(struct zt_imd *imd, struct session *s)
{
	/* orphan_list reserved its room: this does not fail */
	if (s->orphan_until)
		zt_timerheap_set(&imd->otimers, &s->otimer, orphan_deadline(s));
}

/* s into imd->orphans until `until`. -ENOMEM: not listed (the caller ends it). */
static int orphan_list(struct zt_imd *imd, struct session *s, uint64_t until)
{
	if (zt_timerheap_reserve(&imd->otimers, imd->otimers.n + 1) < 0)
		return -ENOMEM;
	s->orphan_until = until;
	s->oprev = NULL;
	s->onext = imd->orphans;
	if (imd->orphans)
		imd->orphans->oprev = s;
	imd->orphans = s;
	orphan_rearm(imd, s);
	return 0;
}

/* s out of imd->orphans, if it is there: O(1). */
static void orphan_unlist(struct zt_imd *imd, struct session *s)
{
	if (!s->orphan_until)
		return;
	if (s->oprev)
		s->oprev->onext = s->onext;
	else
		imd->orphans = s->onext;
	if (s->onext)
		s->onext->oprev = s->oprev;
	s->oprev = s->onext = NULL;
	zt_timerheap_remove(&imd->otimers, &s->otimer);
	s->orphan_until = 0;
}

static void session_free(struct zt_imd *imd, struct session *s)
{
	/* before it is freed: a worker may be reading its count */
	if (imd->cfg.relaytab)
		zt_relaytab_del(imd->cfg.relaytab, s->id);
	zt_hmap_remove(&imd->sessions, &s->hnode);
	for (int i = 0; i < 2; i++)
		if (s->end[i])
			unlink_end(s, i);
	orphan_unlist(imd, s);
	free(s);
}

/* An end of s comes back (agent: OPEN with SESSION_ID; connector: HELLO/REGISTER). */
static void orphan_adopt(struct zt_imd *imd, struct session *s, int i, struct client *c)
{
	orphan_unlist(imd, s);
	s->end[i] = c;
	link_end(s, i);
	if (i == 1 && s->rehoming) /* its connector came here: no longer across */
		s->cross = s->rehoming = false;
	imd->st.sessions_resumed++;
	tab_sync(imd, s);
}

/* Control messages out. */

/*
 * A full channel (the party is not reading: stream buffer and backlog full) drops the
 * message, counted, and does not close the connection here: a full channel can be
 * another party's doing (sessions opened to a connector, their CLOSEs). A party is
 * closed only when it has read nothing of its stream for ctrl_stall (ctrl_progress).
 */
static void ctrl_send(struct client *c, const struct zt_ctrl_msg *m)
{
	struct zt_imd *imd = c->imd;
	int rc;

	if (c->state == C_GONE)
		return;
	rc = zt_ctrlchan_send(zt_outer_ctrl(c->outer), m);
	if (rc == -ENOBUFS) {
		imd->st.ctrl_send_dropped++;
		if (!c->send_dropping)
			LOG(imd, ZT_NODE_WARN, "ctrl_send_dropped",
			    "client=%016" PRIx64 " identity=%s type=%s queued=%zu reason=backed-up",
			    c->id, c->identity[0] ? c->identity : "-", zt_ctrl_type_name(m->type),
			    queued(c));
		c->send_dropping = true;
	} else if (rc < 0) {
		LOG(imd, ZT_NODE_WARN, "ctrl_send_failed",
		    "client=%016" PRIx64 " identity=%s type=%s err=\"%s\"", c->id,
		    c->identity[0] ? c->identity : "-", zt_ctrl_type_name(m->type), zt_strerror(rc));
	} else {
		if (!c->last_queued)
			c->progress_at = imd->now;
		c->last_queued = queued(c);
	}
	mark_dirty(c);
}

static void send_error(struct client *c, int code, uint64_t request_id, uint64_t session_id,
		       const char *text)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_ERROR);
	m.u.error.code = (uint32_t)-code;
	m.u.error.request_id = request_id;
	m.u.error.session_id = session_id;
	snprintf(m.u.error.text, sizeof(m.u.error.text), "%s", text);
	ctrl_send(c, &m);
}

static void send_close(struct client *c, uint32_t session, int reason, const char *text)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_CLOSE);
	m.u.close.session_id = session;
	m.u.close.reason = (uint32_t)-reason;
	snprintf(m.u.close.text, sizeof(m.u.close.text), "%s", text ? text : "");
	ctrl_send(c, &m);
}

/* A cross session our OPEN for which was not answered ends with its link (or the
 * link could not carry it): the agent's OPEN fails, to be tried again. */
static void cross_fail(struct zt_imd *imd, struct session *s, const char *why)
{
	char text[ZT_CTRL_STR_MAX + 1];
	struct client *a = s->end[0];

	imd->st.cross_refused++;
	snprintf(text, sizeof(text), "the link to Intermediate %.63s, where the connector is, "
		 "failed (%.100s): try again", s->end[1] ? s->end[1]->name : "?", why);
	if (a && a->state == C_READY)
		send_error(a, ZT_EBUSY, s->agent_req, 0, text);
	LOG(imd, ZT_NODE_WARN, "cross_failed", "session=%08x service=%s agent=%s why=\"%s\"",
	    s->id, s->service, s->ident[0], why);
	session_free(imd, s);
}

/* The link of relayed cross session s is lost (l): s waits, an orphan, for its
 * connector to show up somewhere (rehome_try), at most the orphan grace from the
 * first loss. */
static int rehome_wait(struct zt_imd *imd, struct session *s, struct client *l)
{
	unlink_end(s, 1);
	s->end[1] = NULL;
	s->rid = 0;
	s->open_sent = false;
	if (!s->rehoming) {
		s->rehoming = true;
		s->rehome_until = imd->now + imd->cfg.rehome_grace;
		imd->st.sessions_orphaned++;
		LOG(imd, ZT_NODE_INFO, "session_rehoming",
		    "session=%08x service=%s agent=%s connector=%s why=\"the link to %s is gone\" "
		    "wait_ms=%" PRIu64, s->id, s->service, s->ident[0], s->ident[1], l->name,
		    (uint64_t)(imd->cfg.rehome_grace / ZT_MS));
	}
	s->rehome_at = imd->now + REHOME_EVERY;
	/* (a link it tried failed: it is still listed) */
	if (s->orphan_until)
		orphan_rearm(imd, s);
	else if (orphan_list(imd, s, s->rehome_until) < 0)
		return -ENOMEM;
	tab_sync(imd, s);
	return 0;
}

/* PONG to a PING, with our clock. */
static void send_pong(struct client *c, const struct zt_ctrl_msg *ping, uint64_t now)
{
	struct zt_ctrl_msg r = *ping;

	r.type = ZT_CTRL_PONG;
	r.u.ping.peer_time = now;
	ctrl_send(c, &r);
}

/* Held OPENs: FIFO in imd->held, and a list per agent. */

static void held_add(struct zt_imd *imd, struct held *h)
{
	ZT_QUEUE_APPEND(imd->held, imd->held_tail, h, prev, next);
	h->anext = h->agent->held;
	h->agent->held = h;
	h->agent->nheld++;
	imd->nheld++;
	if (!imd->held_next || h->deadline < imd->held_next)
		imd->held_next = h->deadline;
}

/* Unlinks h (the caller frees it). */
static void held_remove(struct zt_imd *imd, struct held *h)
{
	struct held **ap = &h->agent->held;

	ZT_QUEUE_UNLINK(imd->held, imd->held_tail, h, prev, next);
	while (*ap && *ap != h)
		ap = &(*ap)->anext;
	if (*ap)
		*ap = h->anext;
	h->agent->nheld--;
	imd->nheld--;
}

/* End a session: tell the ends other than `from` (may be NULL: both), free it. */
static void session_end(struct zt_imd *imd, struct session *s, const struct client *from,
			int reason, const char *text)
{
	for (int i = 0; i < 2; i++)
		if (s->end[i] && s->end[i] != from && s->end[i]->state == C_READY &&
		    id_at(s, s->end[i]))
			send_close(s->end[i], id_at(s, s->end[i]), reason, text);
	LOG(imd, ZT_NODE_INFO, "session_close",
	    "session=%08x service=%s agent=%s connector=%s reason=%d text=\"%s\" relay_pkts=%" PRIu64
	    " relay_bytes=%" PRIu64,
	    s->id, s->service, s->ident[0], s->ident[1], -reason,
	    text ? text : "", zt_relay_count_pkts(&s->count), zt_relay_count_bytes(&s->count));
	session_free(imd, s);
}

/* The client is authenticated, or freed: no longer half-open. A closing connection
 * that never authenticated still counts (it holds as much memory). */
static void half_open_end(struct client *c)
{
	if (!c->half_open)
		return;
	c->half_open = false;
	c->imd->half_open--;
	zt_srccount_dec(c->imd->half_src, &c->src);
}

/* A client's connection is going away: end its sessions, forget its services. */
/* An agent's tunnel addresses (docs/tunnel.md): one from each pool, the same one at
 * every login of its identity; a full pool leaves it without (logged). */
static void tun_take(struct client *c)
{
	struct zt_imd *imd = c->imd;
	struct zt_addrpool *pools[2] = { imd->pool4, imd->pool6 };
	struct zt_addr *to[2] = { &c->tun4, &c->tun6 };

	for (int i = 0; i < 2; i++)
		if (pools[i] && zt_addrpool_take(pools[i], c->identity, to[i]) < 0) {
			to[i]->family = 0;
			LOG(imd, ZT_NODE_WARN, "tunnel_pool_full", "identity=%s family=%s", c->identity,
			    i ? "ipv6" : "ipv4");
		}
}

static void tun_give(struct client *c)
{
	if (c->tun4.family)
		zt_addrpool_give(c->imd->pool4, c->identity);
	if (c->tun6.family)
		zt_addrpool_give(c->imd->pool6, c->identity);
	c->tun4.family = c->tun6.family = 0;
}

/* WELCOME to a connector: the pools agents' tunnel addresses come from, which it
 * routes into its tunnel. */
static void pools_text(const struct zt_imd *imd, struct zt_ctrl_welcome *w)
{
	char ip[ZT_ADDR_STRLEN];

	if (imd->pool4 && zt_addr_format(&imd->cfg.tun_pool4, false, ip, sizeof(ip)) >= 0)
		snprintf(w->tun_pool4, sizeof(w->tun_pool4), "%s/%u", ip, imd->cfg.tun_plen4);
	if (imd->pool6 && zt_addr_format(&imd->cfg.tun_pool6, false, ip, sizeof(ip)) >= 0)
		snprintf(w->tun_pool6, sizeof(w->tun_pool6), "%s/%u", ip, imd->cfg.tun_plen6);
}
/*
 * The connector end of s was lost (its connection timed out, or it closed saying it
 * moves: ZT_EMOVING, back home or to the nearest). With other Intermediates
 * (cfg.elsewhere and links) s looks for it there while it waits, as a session whose
 * link was lost does (rehome_try): the connector logged in at another Intermediate
 * takes the session up over a link under the same id. Not when the agent end is
 * another Intermediate's link: that one finds the connector itself (its cross session
 * becomes local when the connector logs in there, adopt_cross_answered).
 */
static void rehome_start(struct zt_imd *imd, struct session *s)
{
	if (!imd->cfg.elsewhere || !imd->cfg.link_tls || !s->end[0] ||
	    s->end[0]->role == ZT_CTRL_ROLE_INTERMEDIATE || s->rehoming)
		return;
	s->rehoming = true;
	s->rehome_until = s->orphan_until;
	s->rehome_at = imd->now + REHOME_EVERY;
	orphan_rearm(imd, s);
}


static void client_gone(struct client *c, const char *why)
{
	struct zt_imd *imd = c->imd;

	if (c->state == C_GONE)
		return;
	log_summary(c);
	if (c->state == C_READY) {
		imd->nready--;
		LOG(imd, ZT_NODE_INFO, "client_gone", "client=%016" PRIx64 " identity=%s why=\"%s\"",
		    c->id, c->identity, why);
		tun_give(c);
	}
	if (c->link_out) {
		imd->st.links_failed++;
		LOG(imd, ZT_NODE_WARN, "link_down", "intermediate=%s client=%016" PRIx64
		    " sessions=%zu why=\"%s\"", c->name, c->id, c->nsessions, why);
	}
	c->state = C_GONE;
	while (c->sessions) {
		struct session *s = c->sessions;
		int i = s->end[0] == c ? 0 : 1;
		struct client *other = s->end[1 - i];

		if (c->link_out && !s->rid && !s->rehoming) {
			cross_fail(imd, s, why);
			continue;
		}
		if (c->link_out && s->direct && other && other->state == C_READY) {
			/* its ends need no Intermediate while the direct path holds: kept
			 * for the agent (bounded by its sessions) until it closes it */
			unlink_end(s, 1);
			s->end[1] = NULL;
			LOG(imd, ZT_NODE_INFO, "session_kept", "session=%08x service=%s agent=%s "
			    "why=\"direct; the link to %s is gone\"", s->id, s->service, s->ident[0],
			    c->name);
			continue;
		}
		if (c->link_out && other && other->state == C_READY) {
			if (rehome_wait(imd, s, c) < 0)
				session_end(imd, s, NULL, -ENOMEM, "out of memory");
			continue;
		}
		if (c->link_out) { /* a link never comes back to take up orphans */
			session_end(imd, s, c, ZT_EPEER, "the link to the connector's Intermediate "
				    "was lost");
			continue;
		}
		/* On the direct path the ends need us only as a fallback, and one whose
		 * connection was lost (not closed) comes back to its sessions: keep the
		 * session for this end, and do not disturb the other one. */
		if ((s->direct || c->lost) && other && other->state == C_READY && !s->orphan_until) {
			uint64_t grace = c->role == ZT_CTRL_ROLE_INTERMEDIATE ? imd->cfg.rehome_grace
									      : imd->cfg.orphan_grace;
			if (orphan_list(imd, s, imd->now + grace) < 0) {
				session_end(imd, s, c, -ENOMEM, "out of memory");
				continue;
			}
			unlink_end(s, i);
			s->end[i] = NULL;
			if (i == 1 && c->lost)
				rehome_start(imd, s);
			tab_sync(imd, s);
			imd->st.sessions_orphaned++;
			LOG(imd, ZT_NODE_INFO, "session_orphaned",
			    "session=%08x service=%s gone=%s wait_ms=%" PRIu64, s->id, s->service,
			    s->ident[i], (uint64_t)(grace / ZT_MS));
			continue;
		}
		session_end(imd, s, c, ZT_EPEER, "the other end disconnected");
	}
	c->nservices = 0;
	if (c->listed) {
		ZT_LIST_UNLINK(imd->connectors, c, cprev, cnext);
		c->listed = false;
	}
	if (c->nroutes) {
		c->nroutes = 0;
		routes_changed(imd);
	}
	while (c->held) {
		struct held *h = c->held;
		held_remove(imd, h);
		free(h);
	}
}

static void client_free(struct client *c)
{
	struct zt_imd *imd = c->imd;

	client_gone(c, "freed");
	half_open_end(c);
	unmark_dirty(c);
	zt_timerheap_remove(&imd->timers, &c->timer);
	ZT_LIST_UNLINK(imd->clients, c, prev, next);
	imd->nclients--;
	if (c->tcp_id)
		zt_hmap_remove(&imd->tcp, &c->tcp_node);
	zt_outer_free(c->outer);
	free(c->services);
	free(c->routes);
	free(c);
}

/* After any connection call: notice connections that ended, free closed ones. */
static void check_client(struct client *c)
{
	enum zt_quic_state st = zt_outer_state(c->outer);

	if (st >= ZT_QUIC_CLOSING && c->state != C_GONE) {
		struct zt_quic_close_info ci;
		zt_outer_close_info(c->outer, &ci);
		if (c->state == C_HANDSHAKE && ci.err == ZT_ETLS)
			LOG(c->imd, ZT_NODE_WARN, "handshake_failed", "remote=%s reason=\"%s\"",
			    zt_addr_str(&c->observed, (char[ZT_ADDR_STRLEN]){ 0 }), ci.reason);
		if (c->state == C_HANDSHAKE && ci.err == ZT_ETIMEOUT)
			c->imd->st.half_open_expired++; /* handshake_timeout: not logged (floods) */
		/* not its own CONNECTION_CLOSE or CLOSE record: a timeout, a TCP reset;
		 * or one that says it moves to another Intermediate (back home) */
		c->lost = !(ci.by_peer && ci.app) || ci.code == (uint64_t)-ZT_EMOVING;
		client_gone(c, ci.reason[0] ? ci.reason : zt_strerror(ci.err));
	}
}

/* Connectors and their services. */

static bool serves(const struct client *c, const char *service)
{
	for (unsigned i = 0; i < c->nservices; i++)
		if (!strcmp(c->services[i], service))
			return true;
	return false;
}

/*
 * The connector for a service: of those allowed to serve it (registered, so the
 * policy checked) and not backed up, the one with the fewest sessions; on a tie the
 * most recently registered. NULL when none: *ret_busy says whether one would serve
 * it but is backed up (each such one then releases held OPENs when it drains).
 */
static struct client *connector_for(struct zt_imd *imd, const char *service, bool *ret_busy)
{
	struct client *best = NULL;
	bool busy = false;

	for (struct client *c = imd->connectors; c; c = c->cnext) {
		if (c->state != C_READY || !serves(c, service))
			continue;
		if (backed_up(c)) {
			c->busy_waiters = true;
			busy = true;
			continue;
		}
		if (!best || c->nsessions < best->nsessions)
			best = c;
	}
	*ret_busy = !best && busy;
	return best;
}

/* Most recent first: a (re)registering connector moves to the head of the list. */
static void move_to_front(struct client *c)
{
	struct zt_imd *imd = c->imd;

	if (imd->connectors == c)
		return;
	if (c->listed)
		ZT_LIST_UNLINK(imd->connectors, c, cprev, cnext);
	ZT_LIST_PUSH(imd->connectors, c, cprev, cnext);
	c->listed = true;
}

/*
 * Registers the names the policy lets c serve (serve rules); *ret_refused gets a bit
 * per name it may not (reported by report_refused once WELCOME is out). Returns 0 or
 * -ENOMEM.
 */
static int set_services(struct client *c, uint8_t n, const char (*names)[ZT_CTRL_STR_MAX + 1],
			uint32_t *ret_refused)
{
	uint32_t refused = 0;
	uint8_t k = 0;

	if (!c->services) {
		c->services = calloc(ZT_CTRL_SERVICES_MAX, sizeof(*c->services));
		if (!c->services)
			return -ENOMEM;
	}
	for (uint8_t i = 0; i < n && i < ZT_CTRL_SERVICES_MAX; i++) {
		/* a service is a name (its certificate is svc-NAME.ztna), even under "serve C=*" */
		if (!zt_pki_name_valid(names[i]) ||
		    !zt_policy_may_serve(c->imd->cfg.policy, c->name, names[i])) {
			refused |= 1u << i;
			continue;
		}
		snprintf(c->services[k++], sizeof(c->services[0]), "%s", names[i]);
	}
	c->nservices = k;
	move_to_front(c);
	*ret_refused = refused;
	return 0;
}

/* ERROR 1509 for each service c may not serve, naming the fix; logged. */
static void report_refused(struct client *c, uint8_t n, const char (*names)[ZT_CTRL_STR_MAX + 1],
			   uint32_t refused)
{
	char text[2 * ZT_CTRL_STR_MAX]; /* cut to ZT_CTRL_STR_MAX in the message */

	for (uint8_t i = 0; i < n && i < ZT_CTRL_SERVICES_MAX; i++) {
		if (!(refused & (1u << i)))
			continue;
		c->imd->st.register_refused++;
		if (!zt_pki_name_valid(names[i])) {
			LOGC(c, ZT_NODE_WARN, "register_refused",
			     "identity=%s service=%.100s reason=bad-name fix=\"a service name is 1-63 "
			     "of [A-Za-z0-9-]\"", c->identity, names[i]);
			snprintf(text, sizeof(text), "%.80s is not a service name (1-63 of "
				 "[A-Za-z0-9-], not starting or ending with '-')", names[i]);
			send_error(c, ZT_ENOTSERVER, 0, 0, text);
			continue;
		}
		LOGC(c, ZT_NODE_WARN, "register_refused",
		     "identity=%s service=%.100s reason=not-bound fix=\"--serve %s=%.100s\"", c->identity,
		     names[i], c->name, names[i]);
		snprintf(text, sizeof(text),
			 "connector %s may not serve %.80s: add --serve %s=%.80s to the Intermediate",
			 c->name, names[i], c->name, names[i]);
		send_error(c, ZT_ENOTSERVER, 0, 0, text);
	}
}

static void services_text(const struct client *c, char *buf, size_t cap)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < c->nservices && off + 1 < cap; i++) {
		int n = snprintf(buf + off, cap - off, "%s%s", i ? "," : "", c->services[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (!c->nservices)
		snprintf(buf, cap, "-");
}

/* Routed services (docs/tunnel.md, "Packet tunnel"). */

/*
 * Keeps the routes of connector c that parse and name one of its (registered)
 * services; *ret_refused gets a bit per one that does not. Returns whether the
 * routes were or are now not empty (agents' lists may change), or -ENOMEM.
 */
static int set_routes(struct client *c, uint8_t n, const char (*texts)[ZT_CTRL_STR_MAX + 1],
		      uint32_t *ret_refused)
{
	uint32_t refused = 0;
	uint8_t k = 0, before = c->nroutes;

	if (n && !c->routes && !(c->routes = calloc(ZT_CTRL_HELLO_ROUTES_MAX, sizeof(*c->routes))))
		return -ENOMEM;
	for (uint8_t i = 0; i < n && i < ZT_CTRL_HELLO_ROUTES_MAX; i++) {
		struct zt_route r;
		if (zt_route_parse(&r, texts[i]) < 0 || !serves(c, r.name)) {
			refused |= 1u << i;
			continue;
		}
		c->routes[k++] = r;
	}
	c->nroutes = k;
	*ret_refused = refused;
	return before || k;
}

/* ERROR for each route of c refused by set_routes, naming the fix; logged. */
static void report_refused_routes(struct client *c, uint8_t n,
				  const char (*texts)[ZT_CTRL_STR_MAX + 1], uint32_t refused)
{
	char text[2 * ZT_CTRL_STR_MAX];

	for (uint8_t i = 0; i < n && i < ZT_CTRL_HELLO_ROUTES_MAX; i++) {
		struct zt_route r;
		bool syntax;
		if (!(refused & (1u << i)))
			continue;
		syntax = zt_route_parse(&r, texts[i]) < 0;
		c->imd->st.register_refused++;
		LOGC(c, ZT_NODE_WARN, "route_refused", "identity=%s route=\"%.100s\" reason=%s",
		     c->identity, texts[i], syntax ? "syntax" : "not-a-service");
		if (syntax)
			snprintf(text, sizeof(text), "route %.100s: not NAME=PREFIX/LENGTH[:RULES]",
				 texts[i]);
		else
			snprintf(text, sizeof(text),
				 "route %.100s: %.63s is not a service connector %s serves", texts[i],
				 r.name, c->name);
		send_error(c, syntax ? ZT_ESYNTAX : ZT_ENOTSERVER, 0, 0, text);
	}
}

static uint64_t text_hash(const char *t)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *t; t++)
		h = (h ^ (uint8_t)*t) * 0x100000001b3ull;
	return h;
}

/* Adds route r's text to m's list unless it is there; returns its hash, or 0 when it
 * was there already, or did not fit (*dropped counted). */
static uint64_t routes_add(struct zt_ctrl_routes *m, const struct zt_route *r, unsigned *dropped)
{
	char text[ZT_ROUTE_STRLEN];

	if (zt_route_format(r, text, sizeof(text)) < 0 || strlen(text) > ZT_CTRL_STR_MAX)
		return 0;
	for (unsigned i = 0; i < m->n_routes; i++)
		if (!strcmp(m->routes[i], text))
			return 0;
	if (m->n_routes == ZT_CTRL_ROUTES_MAX) {
		(*dropped)++;
		return 0;
	}
	memcpy(m->routes[m->n_routes++], text, strlen(text) + 1);
	return text_hash(text);
}

/*
 * ROUTES to agent a when its list changed since the last one: every route of a
 * connector that is up whose service the policy lets a reach, each once (a digest
 * independent of the order tells a change). Only agents with a tunnel address.
 */
static void send_routes(struct client *a)
{
	struct zt_imd *imd = a->imd;
	struct zt_ctrl_msg m;
	uint64_t digest = 1;
	unsigned dropped = 0;

	if (a->role != ZT_CTRL_ROLE_AGENT || a->state != C_READY ||
	    (!a->tun4.family && !a->tun6.family))
		return;
	zt_ctrl_msg_init(&m, ZT_CTRL_ROUTES);
	for (struct client *c = imd->connectors; c; c = c->cnext) {
		if (c->state != C_READY)
			continue;
		for (unsigned i = 0; i < c->nroutes; i++)
			if (zt_policy_allows(imd->cfg.policy, a->name, c->routes[i].name))
				digest += routes_add(&m.u.routes, &c->routes[i], &dropped);
	}
	if (digest == a->routes_sent)
		return;
	a->routes_sent = digest;
	ctrl_send(a, &m);
	LOGC(a, dropped ? ZT_NODE_WARN : ZT_NODE_INFO, "routes_sent",
	     "identity=%s routes=%u left_out=%u", a->identity, m.u.routes.n_routes, dropped);
}

/* A connector's routes changed: every agent whose list changed hears of it. */
static void routes_changed(struct zt_imd *imd)
{
	for (struct client *c = imd->clients; c; c = c->next)
		send_routes(c);
}

/* Sessions. */

/* SESSION for end e of s (0: the agent, controlling; 1: the connector), naming the
 * other end; request_id answers the agent's OPEN (0 for the connector). */
static void send_session(struct client *to, const struct session *s, int e, uint64_t request_id)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_SESSION);
	m.u.session.session_id = s->id;
	m.u.session.request_id = request_id;
	snprintf(m.u.session.service, sizeof(m.u.session.service), "%s", s->service);
	snprintf(m.u.session.peer_identity, sizeof(m.u.session.peer_identity), "%s", s->ident[!e]);
	m.u.session.quota_bytes = s->quota_bytes;
	m.u.session.quota_packets = s->quota_pkts;
	m.u.session.ice_role = e ? ZT_CTRL_ICE_CONTROLLED : ZT_CTRL_ICE_CONTROLLING;
	if (e) {
		m.u.session.tun4 = s->tun4;
		m.u.session.tun6 = s->tun6;
	}
	ctrl_send(to, &m);
}

/* A new session, or (resume != 0) the re-attachment of one both ends kept on their
 * direct path while they had lost the Intermediate. who: the agent's identity (agent
 * is another Intermediate's link for its agents' sessions). */
static void open_session(struct zt_imd *imd, struct client *agent, struct client *conn,
			 uint64_t request_id, const char *service, uint32_t resume, const char *who)
{
	struct session *s;
	uint32_t id = resume;

	if (resume && (s = session_find(imd, resume)) && s->end[0] != agent &&
	    s->end[1] == conn && !strcmp(s->ident[0], who) &&
	    !strcmp(s->service, service)) {
		/* The agent lost us and came back on a new connection: while we kept the
		 * session for it (orphan), or before we noticed that its old connection is
		 * gone. The session moves to the new one; the connector saw nothing. */
		if (s->end[0]) {
			unlink_end(s, 0);
			s->end[0] = agent;
			link_end(s, 0);
			imd->st.sessions_resumed++;
		} else {
			orphan_adopt(imd, s, 0, agent);
		}
		send_session(agent, s, 0, request_id);
		LOG(imd, ZT_NODE_INFO, "session_moved",
		    "session=%08x service=%s agent=%s connector=%s request=%016" PRIx64, s->id,
		    service, who, conn->identity, request_id);
		return;
	}
	if (resume && session_find(imd, resume)) {
		LOG(imd, ZT_NODE_WARN, "open_refused",
		    "identity=%s service=%s reason=session-in-use session=%08x", who,
		    service, resume);
		send_error(agent, ZT_ESTATE, request_id, 0, "that session id is in use");
		return;
	}
	while (id == 0 || session_find(imd, id))
		id = zt_rng_u32(imd->cfg.rng);
	s = session_alloc();
	if (!s) {
		send_error(agent, -ENOMEM, request_id, 0, "out of memory");
		return;
	}
	s->id = id;
	s->end[0] = agent;
	s->end[1] = conn;
	snprintf(s->ident[0], sizeof(s->ident[0]), "%s", who);
	snprintf(s->ident[1], sizeof(s->ident[1]), "%s", conn->identity);
	snprintf(s->service, sizeof(s->service), "%s", service);
	s->tun4 = agent->tun4;
	s->tun6 = agent->tun6;
	s->no_direct = (uint8_t)(agent->no_direct | conn->no_direct << 1);
	s->quota_bytes = imd->cfg.quota_bytes;
	s->quota_pkts = imd->cfg.quota_packets;
	zt_hmap_link(&imd->sessions, session_slot(imd, id), &s->hnode, id);
	link_end(s, 0);
	link_end(s, 1);
	tab_sync(imd, s);
	/* Budget for this session's signaling (CANDIDATES, PATH_REPORT, CLOSE). */
	agent->ctrl_bucket.n += CTRL_SESSION_CREDIT * NANO;
	conn->ctrl_bucket.n += CTRL_SESSION_CREDIT * NANO;
	imd->st.sessions_opened++;
	/* over a link, SESSION_ID is the id the session has there: asked, not resumed */
	if (resume && agent->role != ZT_CTRL_ROLE_INTERMEDIATE)
		imd->st.sessions_resumed++;

	send_session(agent, s, 0, request_id);
	send_session(conn, s, 1, 0);
	LOG(imd, ZT_NODE_INFO,
	    resume && agent->role != ZT_CTRL_ROLE_INTERMEDIATE ? "session_resumed" : "session_open",
	    "session=%08x service=%s agent=%s connector=%s request=%016" PRIx64, id, service,
	    who, conn->identity, request_id);
}

/* A connector back on a new connection takes up the sessions kept for it (orphans);
 * its SESSION names a session it kept on its direct path (node/session.c). */
static void adopt_connector_orphans(struct zt_imd *imd, struct client *c)
{
	for (struct session *s = imd->orphans, *next; s; s = next) {
		next = s->onext;
		if (s->rehoming && s->end[1] && !s->rid && !strcmp(s->ident[1], c->identity)) {
			unlink_end(s, 1); /* its connector is here: no need of that link */
			s->end[1] = NULL;
		}
		if (s->end[1] || strcmp(s->ident[1], c->identity))
			continue;
		orphan_adopt(imd, s, 1, c);
		send_session(c, s, 1, 0);
		LOG(imd, ZT_NODE_INFO, "session_moved", "session=%08x service=%s connector=%s",
		    s->id, s->service, c->identity);
	}
}

/* An answered cross session of s's agent here, whose connector c logged in here: the
 * link's end goes (CLOSE under the other Intermediate's id ends the session there),
 * c takes its place under the same id (SESSION: it takes up the session it kept). */
static void cross_to_local(struct zt_imd *imd, struct session *s, struct client *c)
{
	struct client *l = s->end[1];
	uint32_t rid = s->rid;

	unlink_end(s, 1); /* (and out of xsessions) */
	send_close(l, rid, ZT_EMOVING, "the connector logged in at the agent's Intermediate");
	s->rid = 0;
	s->open_sent = false;
	s->cross = false;
	s->end[1] = c;
	link_end(s, 1);
	s->no_direct = (uint8_t)(s->end[0]->no_direct | c->no_direct << 1);
	s->quota_bytes = imd->cfg.quota_bytes;
	s->quota_pkts = imd->cfg.quota_packets;
	tab_sync(imd, s);
	send_session(c, s, 1, 0);
	imd->st.sessions_resumed++;
}

/*
 * Connector c logged in here: cross sessions for it whose agent is here become
 * sessions here at once, under the same id (log cross_local):
 * - not yet answered over their link (the agent moved here first and asked for its
 *   session while c's record still named the Intermediate c left, often a dead one):
 *   c gets SESSION and takes up the session it kept, the agent the answer to its
 *   OPEN. Before, such an OPEN waited for a link to the dead Intermediate until its
 *   idle timeout (10 s) and failed, by when both ends had given the session up;
 * - answered (the agent came back home first, c followed it): cross_to_local.
 */
static void adopt_cross(struct zt_imd *imd, struct client *c)
{
	for (struct client *l = imd->clients; l; l = l->next) {
		struct session *s, *next;

		if (!l->link_out || l->state == C_GONE)
			continue;
		for (s = l->sessions; s; s = next) {
			struct client *agent = s->end[0];
			char service[sizeof(s->service)], who[sizeof(s->ident[0])];
			uint64_t req = s->agent_req;
			uint32_t id = s->id;

			next = s->lnext[s->end[0] == l ? 0 : 1];
			if (s->end[1] != l || !s->cross || s->rehoming || !agent ||
			    agent->state != C_READY || agent->role != ZT_CTRL_ROLE_AGENT ||
			    strcmp(s->ident[1], c->identity))
				continue;
			LOG(imd, ZT_NODE_INFO, "cross_local", "session=%08x service=%s agent=%s "
			    "connector=%s instead_of=%s answered=%s", id, s->service, s->ident[0],
			    c->identity, l->name, s->rid ? "yes" : "no");
			if (s->rid) {
				cross_to_local(imd, s, c);
				continue;
			}
			memcpy(service, s->service, sizeof(service));
			memcpy(who, s->ident[0], sizeof(who));
			session_free(imd, s); /* (no CLOSE over the link: not answered there) */
			open_session(imd, agent, c, req, service, id, who);
		}
	}
}

/* Links between Intermediates (docs/scale-out.md, "Sessions across Intermediates").
 *
 * Ours (link_out): a QUIC connection we open, as a client, to the Intermediate that
 * holds the connector an agent of ours asks for; our HELLO names us (role
 * INTERMEDIATE), its WELCOME makes it up. An OPEN over it names the agent and has our
 * session id as its request id; the answer's SESSION gives the id there (rid). Then
 * what the agent sends for the session goes over the link under rid, and what comes
 * over the link under rid goes to the agent under ours. Theirs: a client of role
 * INTERMEDIATE, the agent end of the sessions it opens (handle_link_open). */

static struct client *client_new(struct zt_imd *imd, uint64_t now, const struct zt_addr *src);
static void refuse_open(struct client *c, uint64_t request_id, const char *service, int code,
			const char *reason, const char *text);

struct xkey {
	const struct client *link;
	uint32_t rid;
};

static uint64_t xhash(const struct client *link, uint32_t rid)
{
	return (link->id ^ rid) * 0x9e3779b97f4a7c15ULL;
}

static bool same_x(const struct zt_hnode *n, const void *key)
{
	const struct session *s = zt_hmap_entry(n, struct session, xnode);
	const struct xkey *k = key;

	return s->rid == k->rid && s->end[1] == k->link;
}

static struct zt_hnode **xsession_slot(const struct zt_imd *imd, const struct client *link,
				       uint32_t rid)
{
	struct xkey k = { .link = link, .rid = rid };

	return zt_hmap_slot(&imd->xsessions, xhash(link, rid), same_x, &k);
}

static struct session *xsession_find(const struct zt_imd *imd, const struct client *link,
				     uint64_t rid)
{
	struct zt_hnode *n = rid && rid <= UINT32_MAX ? *xsession_slot(imd, link, (uint32_t)rid)
						       : NULL;

	return n ? zt_hmap_entry(n, struct session, xnode) : NULL;
}

static struct client *link_find(const struct zt_imd *imd, const char *name)
{
	for (struct client *c = imd->clients; c; c = c->next)
		if (c->link_out && c->state != C_GONE && !strcmp(c->name, name))
			return c;
	return NULL;
}

/* A link to w's Intermediate, from our listening address. NULL: it cannot be opened. */
static struct client *link_open(struct zt_imd *imd, uint64_t now, const struct zt_imd_where *w)
{
	struct zt_quic_config qc = imd->qcfg;
	struct zt_quic_path path = { .local = imd->cfg.listen, .remote = w->link };
	char a[ZT_ADDR_STRLEN];
	struct client *c;

	if (path.local.family != path.remote.family || !(c = client_new(imd, now, &w->link)))
		return NULL;
	qc.tls = imd->cfg.link_tls;
	qc.idle_timeout = imd->cfg.link_idle;
	qc.keepalive = imd->cfg.link_idle / 4;
	if (zt_outer_connect_quic(&c->outer, &qc, ZT_PKI_INTERMEDIATE_DNS, &path, &outer_cb, c,
				  now) < 0) {
		half_open_end(c);
		free(c);
		return NULL;
	}
	c->link_out = true;
	c->link_local = path.local;
	c->role = ZT_CTRL_ROLE_INTERMEDIATE;
	/* a burst of every agent's OPENs here; 64 KiB dropped 604 of 3,333 SESSIONs */
	zt_ctrlchan_set_backlog_max(zt_outer_ctrl(c->outer), ZT_CTRLCHAN_LINK_BACKLOG);
	c->relay_rate = 0; /* our agents' rates are charged as they send */
	snprintf(c->name, sizeof(c->name), "%s", w->imd);
	zt_pki_identity(ZT_PKI_INTERMEDIATE, w->imd, c->identity, sizeof(c->identity));
	ZT_LIST_PUSH(imd->clients, c, prev, next);
	imd->nclients++;
	imd->st.links_opened++;
	mark_dirty(c);
	client_rearm(c);
	LOG(imd, ZT_NODE_INFO, "link_open", "intermediate=%s remote=%s client=%016" PRIx64,
	    c->name, zt_addr_str(&w->link, a), c->id);
	return c;
}

/* Ends a link of ours: its sessions fail or wait (client_gone), the connection closes. */
static void link_fail(struct client *l, uint64_t now, const char *why)
{
	client_gone(l, why);
	zt_outer_close(l->outer, now, (uint64_t)-ZT_EPEER, why);
	mark_dirty(l);
}

static void cross_send_open(struct session *s)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_OPEN);
	m.u.open.request_id = s->id;
	snprintf(m.u.open.service, sizeof(m.u.open.service), "%s", s->service);
	snprintf(m.u.open.agent, sizeof(m.u.open.agent), "%s", s->ident[0]);
	/* our id: the other Intermediate gives its session the same one when it is free,
	 * and takes up its session of that id for this agent (the agent moved to us) */
	m.u.open.resume_session = s->id;
	ctrl_send(s->end[1], &m);
	s->open_sent = true;
}

/* The handshake of our link is done: HELLO. */
static void link_hello(struct client *l)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_HELLO);
	m.u.hello.role = ZT_CTRL_ROLE_INTERMEDIATE;
	snprintf(m.u.hello.identity, sizeof(m.u.hello.identity), "%s",
		 l->imd->cfg.link_identity ? l->imd->cfg.link_identity : "");
	snprintf(m.u.hello.software, sizeof(m.u.hello.software), SOFTWARE);
	ctrl_send(l, &m);
}

/* WELCOME on our link: it is up if the certificate is an Intermediate's (the
 * handshake checked that the deployment's CA issued it and that it may serve as one);
 * the OPENs waiting go. The name in the cluster (presence) need not be the
 * certificate's: the presence key vouches for the record that gave the address. */
static void link_welcome(struct zt_imd *imd, struct client *l, uint64_t now)
{
	char id[ZT_PKI_IDENTITY_MAX] = "";
	enum zt_pki_kind kind;
	const char *name;

	if (zt_tls_session_peer_identity(zt_outer_tls(l->outer), id, sizeof(id)) < 0 ||
	    zt_pki_identity_parse(id, &kind, &name) < 0 || kind != ZT_PKI_INTERMEDIATE) {
		LOG(imd, ZT_NODE_WARN, "link_refused", "intermediate=%s peer=%s reason=not-an-intermediate",
		    l->name, id[0] ? id : "-");
		link_fail(l, now, "the other end is not an Intermediate");
		return;
	}
	snprintf(l->identity, sizeof(l->identity), "%s", id);
	l->state = C_READY;
	l->login_seq = ++imd->logins;
	l->login_at = now;
	imd->nready++;
	half_open_end(l);
	LOG(imd, ZT_NODE_INFO, "link_up", "intermediate=%s client=%016" PRIx64 " sessions=%zu",
	    l->name, l->id, l->nsessions);
	for (struct session *s = l->sessions; s; s = s->lnext[1])
		if (!s->open_sent)
			cross_send_open(s);
}

/* An OPEN of agent for a service whose connector is at w's Intermediate: a cross
 * session, over the link to it (opened now if there is none). Returns 0, or below 0
 * when no link can carry it (the caller refuses the OPEN). */
static int cross_open(struct zt_imd *imd, struct client *agent, uint64_t now,
		      const struct zt_ctrl_open *o, const struct zt_imd_where *w)
{
	struct client *l = link_find(imd, w->imd);
	struct session *s;
	uint32_t id = 0;

	if (!l && !(l = link_open(imd, now, w)))
		return -ENOMEM;
	if (l->nsessions >= imd->cfg.link_max_sessions)
		return ZT_EBUSY;
	s = session_alloc();
	if (!s)
		return -ENOMEM;
	/* a session its ends kept (they moved here): the same id, here and there */
	if (o->resume_session && !session_find(imd, (uint32_t)o->resume_session))
		id = (uint32_t)o->resume_session;
	while (id == 0 || session_find(imd, id))
		id = zt_rng_u32(imd->cfg.rng);
	*s = (struct session){ .id = id, .cross = true, .agent_req = o->request_id,
			       .end = { agent, l }, .tun4 = agent->tun4, .tun6 = agent->tun6,
			       .no_direct = agent->no_direct, .quota_bytes = imd->cfg.quota_bytes,
			       .quota_pkts = imd->cfg.quota_packets };
	zt_timerheap_entry_init(&s->otimer);
	snprintf(s->ident[0], sizeof(s->ident[0]), "%.63s", agent->identity);
	zt_pki_identity(ZT_PKI_CONNECTOR, w->connector, s->ident[1], sizeof(s->ident[1]));
	snprintf(s->service, sizeof(s->service), "%.*s", (int)sizeof(s->service) - 1, o->service);
	zt_hmap_link(&imd->sessions, session_slot(imd, id), &s->hnode, id);
	link_end(s, 0);
	link_end(s, 1);
	tab_sync(imd, s);
	agent->ctrl_bucket.n += CTRL_SESSION_CREDIT * NANO;
	imd->st.cross_opens++;
	if (l->state == C_READY)
		cross_send_open(s);
	LOGC(agent, ZT_NODE_INFO, "cross_open",
	     "session=%08x service=%s agent=%s connector=%s intermediate=%s request=%016" PRIx64,
	     id, s->service, agent->identity, s->ident[1], l->name, o->request_id);
	return 0;
}

/* SESSION on our link: the answer to our OPEN (its request id is our session id). */
static void cross_answer(struct zt_imd *imd, struct client *l, struct zt_ctrl_msg *m)
{
	struct zt_ctrl_session *a = &m->u.session;
	struct session *s = a->request_id && a->request_id <= UINT32_MAX
				    ? session_find(imd, (uint32_t)a->request_id) : NULL;

	if (!s || !s->cross || s->end[1] != l || s->rid || !a->session_id ||
	    a->session_id > UINT32_MAX || xsession_find(imd, l, a->session_id)) {
		/* not an OPEN of ours waiting (its agent left meanwhile): theirs ends */
		if (a->session_id && a->session_id <= UINT32_MAX &&
		    !xsession_find(imd, l, a->session_id))
			send_close(l, (uint32_t)a->session_id, ZT_ESTATE, "no such request");
		return;
	}
	s->rid = (uint32_t)a->session_id;
	zt_hmap_link(&imd->xsessions, xsession_slot(imd, l, s->rid), &s->xnode, xhash(l, s->rid));
	snprintf(s->ident[1], sizeof(s->ident[1]), "%.*s", (int)sizeof(s->ident[1]) - 1,
		 a->peer_identity);
	s->quota_bytes = a->quota_bytes;
	s->quota_pkts = a->quota_packets;
	if (s->rehoming) { /* the agent never left it: nothing to tell */
		s->rehoming = false;
		orphan_unlist(imd, s);
		imd->st.sessions_resumed++;
		LOG(imd, ZT_NODE_INFO, "session_rehomed", "session=%08x service=%s agent=%s "
		    "connector=%s at=%s remote_session=%08x", s->id, s->service, s->ident[0],
		    s->ident[1], l->name, s->rid);
		tab_sync(imd, s);
		return;
	}
	imd->st.cross_sessions++;
	imd->st.sessions_opened++;
	a->session_id = s->id;
	a->request_id = s->agent_req;
	ctrl_send(s->end[0], m);
	LOG(imd, ZT_NODE_INFO, "session_open",
	    "session=%08x service=%s agent=%s connector=%s intermediate=%s remote_session=%08x",
	    s->id, s->service, s->ident[0], s->ident[1], l->name, s->rid);
}

/* ERROR on our link: a refused OPEN (its request id), or about a session. */
static void cross_error(struct zt_imd *imd, struct client *l, const struct zt_ctrl_error *e)
{
	struct session *s = e->request_id && e->request_id <= UINT32_MAX
				    ? session_find(imd, (uint32_t)e->request_id) : NULL;

	if (s && s->cross && s->end[1] == l && !s->rid && s->rehoming) {
		/* not there (yet), or busy: looked for again until the grace is over */
		if ((-(int)e->code == ZT_ENOSERVICE || -(int)e->code == ZT_EBUSY) &&
		    rehome_wait(imd, s, l) == 0)
			return;
		session_end(imd, s, l, -(int)e->code, e->text);
		return;
	}
	if (s && s->cross && s->end[1] == l && !s->rid) {
		imd->st.cross_refused++;
		if (s->end[0])
			send_error(s->end[0], -(int)e->code, s->agent_req, 0, e->text);
		LOG(imd, ZT_NODE_INFO, "cross_refused",
		    "session=%08x service=%s agent=%s intermediate=%s code=%u text=\"%s\"", s->id,
		    s->service, s->ident[0], l->name, e->code, e->text);
		session_free(imd, s);
		return;
	}
	s = xsession_find(imd, l, e->session_id);
	if (s && s->end[0]) {
		send_error(s->end[0], -(int)e->code, 0, s->id, e->text);
		return;
	}
	LOG(imd, ZT_NODE_INFO, "peer_error", "identity=%s code=%u text=\"%s\"", l->identity,
	    e->code, e->text);
}

/* A message for a session, over our link: to its agent, under our id. */
static void link_session_msg(struct zt_imd *imd, struct client *l, struct zt_ctrl_msg *m,
			     uint64_t *sid)
{
	struct session *s = xsession_find(imd, l, *sid);

	if (!s) {
		if (m->type != ZT_CTRL_CLOSE && *sid && *sid <= UINT32_MAX)
			send_close(l, (uint32_t)*sid, ZT_ESTATE, "no such session");
		return;
	}
	if (m->type == ZT_CTRL_CLOSE) {
		session_end(imd, s, l, -(int)m->u.close.reason,
			    m->u.close.text[0] ? m->u.close.text : "closed by the other end");
		return;
	}
	if (!s->end[0] || (m->type == ZT_CTRL_CANDIDATES && s->no_direct))
		return; /* its agent is gone for now; or it stays on the relay */
	*sid = s->id;
	ctrl_send(s->end[0], m);
}

static void link_msg(struct zt_imd *imd, struct client *l, uint64_t now, struct zt_ctrl_msg *m)
{
	if (m->type == ZT_CTRL_WELCOME) {
		if (l->state == C_WAIT_HELLO)
			link_welcome(imd, l, now);
		return;
	}
	if (l->state != C_READY)
		return;
	switch (m->type) {
	case ZT_CTRL_SESSION:
		cross_answer(imd, l, m);
		break;
	case ZT_CTRL_ERROR:
		cross_error(imd, l, &m->u.error);
		break;
	case ZT_CTRL_CANDIDATES:
		link_session_msg(imd, l, m, &m->u.cands.session_id);
		break;
	case ZT_CTRL_START_CHECKS:
		link_session_msg(imd, l, m, &m->u.start.session_id);
		break;
	case ZT_CTRL_CLOSE:
		link_session_msg(imd, l, m, &m->u.close.session_id);
		break;
	case ZT_CTRL_PING:
		send_pong(l, m, now);
		break;
	default: /* PONG, OBSERVED_ADDRESS, ROUTES: nothing for us */
		break;
	}
}

/* A rehoming session (rehome_wait): its connector here (a SESSION under the same id,
 * which it takes up), or over a link to the Intermediate that has it now (the OPEN
 * asks for the same id); else another look later. */
/* Where a connector of service is at another Intermediate (cfg.elsewhere), looked up
 * at most once per REHOME_LOOK for a service: a connector that left with thousands of
 * sessions has thousands of orphans looking for it, each every REHOME_EVERY, and a
 * look may walk the whole presence table. */
#define REHOME_LOOK (100 * ZT_MS)

static bool rehome_where(struct zt_imd *imd, const char *service, uint64_t now,
			 struct zt_imd_where *w)
{
	struct rehome_look *c = &imd->rehome_look;

	if (c->valid && now < c->at + REHOME_LOOK && c->policy == imd->cfg.policy &&
	    !strcmp(c->service, service)) {
		*w = c->w;
		return c->found;
	}
	c->found = imd->cfg.elsewhere(imd->cfg.elsewhere_arg, imd->cfg.policy, service, w);
	c->w = *w;
	c->at = now;
	c->policy = imd->cfg.policy;
	snprintf(c->service, sizeof(c->service), "%s", service);
	c->valid = true;
	return c->found;
}

static void rehome_try(struct zt_imd *imd, struct session *s, uint64_t now)
{
	struct zt_imd_where w = { 0 };
	char id[ZT_PKI_IDENTITY_MAX];
	struct client *conn, *l;
	bool busy;

	s->rehome_at = now + REHOME_EVERY;
	if ((conn = connector_for(imd, s->service, &busy)) &&
	    !strcmp(conn->identity, s->ident[1])) {
		orphan_adopt(imd, s, 1, conn);
		send_session(conn, s, 1, 0);
		LOG(imd, ZT_NODE_INFO, "session_rehomed", "session=%08x service=%s agent=%s "
		    "connector=%s at=here", s->id, s->service, s->ident[0], s->ident[1]);
		return;
	}
	if (!imd->cfg.link_tls || !imd->cfg.elsewhere || !rehome_where(imd, s->service, now, &w) ||
	    !w.link.family)
		return;
	w.imd[sizeof(w.imd) - 1] = 0;
	w.connector[sizeof(w.connector) - 1] = 0;
	/* its own connector, not another of the service (which could not take it up) */
	zt_pki_identity(ZT_PKI_CONNECTOR, w.connector, id, sizeof(id));
	if (strcmp(id, s->ident[1]))
		return;
	if (!(l = link_find(imd, w.imd)) && !(l = link_open(imd, now, &w)))
		return;
	/* still an orphan (its deadline holds) until the link's SESSION comes */
	s->end[1] = l;
	s->cross = true; /* (a session that was local until its connector left) */
	link_end(s, 1);
	if (l->state == C_READY)
		cross_send_open(s);
	LOG(imd, ZT_NODE_INFO, "session_rehoming", "session=%08x service=%s agent=%s "
	    "intermediate=%s", s->id, s->service, s->ident[0], l->name);
}

/* OPEN over a link with SESSION_ID: the connector of that session of o->agent, when we
 * still have it (its agent's Intermediate died and the agent moved to the one this
 * link comes from), else NULL. */
static struct client *link_resume_connector(struct zt_imd *imd, const struct zt_ctrl_open *o)
{
	struct session *s = o->resume_session ? session_find(imd, (uint32_t)o->resume_session)
					      : NULL;

	if (!s || !s->end[1] || s->end[1]->state != C_READY || strcmp(s->ident[0], o->agent) ||
	    strcmp(s->service, o->service))
		return NULL;
	return s->end[1];
}

/* OPEN over another Intermediate's link, for its agent o->agent: as if that agent
 * were ours (its credential, the policy), with no OPEN held and the link as its end. */
static bool hold_open(struct zt_imd *imd, struct client *c, uint64_t now,
		      const struct zt_ctrl_open *o, bool busy, const char *who);

static void handle_link_open(struct zt_imd *imd, struct client *l, uint64_t now,
			     const struct zt_ctrl_open *o)
{
	char text[ZT_CTRL_STR_MAX + 1];
	enum zt_pki_kind kind;
	const char *name;
	struct client *conn;
	bool busy = false;
	uint32_t resume = (uint32_t)o->resume_session;

	imd->st.opens++;
	imd->st.link_opens++;
	if (zt_pki_identity_parse(o->agent, &kind, &name) < 0 || kind != ZT_PKI_AGENT ||
	    o->resume_session > UINT32_MAX) {
		imd->st.ctrl_errors++;
		send_error(l, ZT_ESTATE, o->request_id, 0, "an OPEN over a link names its agent");
		return;
	}
	if (!zt_policy_has_client(imd->cfg.policy, ZT_PKI_AGENT, name) ||
	    !zt_policy_allows(imd->cfg.policy, name, o->service)) {
		imd->st.policy_refused++;
		snprintf(text, sizeof(text), "agent %.64s may not reach service %.150s (policy)", name,
			 o->service);
		refuse_open(l, o->request_id, o->service, ZT_EPOLICY, "policy", text);
		return;
	}
	if (l->nsessions + l->nheld >= l->max_sessions) {
		imd->st.open_max_sessions++;
		refuse_open(l, o->request_id, o->service, ZT_EBUSY, "too-many-sessions",
			    "too many sessions on this link: try again later");
		return;
	}
	conn = link_resume_connector(imd, o);
	if (!conn && o->resume_session && session_find(imd, (uint32_t)o->resume_session))
		resume = 0; /* that id is another session's here: a new one */
	if (!conn)
		conn = connector_for(imd, o->service, &busy);
	/* a backed-up connector: held as an agent's own OPEN would be (a burst of OPENs
	 * over a link was refused with 1510 where the same burst here waited) */
	if (!conn && busy && hold_open(imd, l, now, o, true, o->agent))
		return;
	if (!conn) {
		imd->st.no_service++;
		snprintf(text, sizeof(text), "no connector serves %.200s%s", o->service,
			 busy ? " now (busy): try again" : "");
		refuse_open(l, o->request_id, o->service, busy ? ZT_EBUSY : ZT_ENOSERVICE,
			    busy ? "connector-busy" : "no-service", text);
		return;
	}
	open_session(imd, l, conn, o->request_id, o->service, resume, o->agent);
}

static void refuse_open(struct client *c, uint64_t request_id, const char *service, int code,
			const char *reason, const char *text)
{
	LOGC(c, ZT_NODE_WARN, "open_refused", "identity=%s service=%.100s reason=%s request=%016" PRIx64,
	     c->identity, service, reason, request_id);
	send_error(c, code, request_id, 0, text);
}

/* No connector here serves the service of o. When another Intermediate holds one
 * (cfg.elsewhere): a cross session over a link to it (cfg.link_tls), or a refusal
 * that says where it is, and true; else false (*w may hold a note for the refusal). */
static bool open_elsewhere(struct zt_imd *imd, struct client *c, uint64_t now,
			   const struct zt_ctrl_open *o, struct zt_imd_where *ret)
{
	char text[ZT_CTRL_STR_MAX + 1];
	struct zt_imd_where w = { 0 };
	const char *why;

	*ret = w;
	if (imd->cfg.elsewhere && imd->cfg.elsewhere(imd->cfg.elsewhere_arg, imd->cfg.policy,
						     o->service, &w)) {
		w.connector[sizeof(w.connector) - 1] = w.imd[sizeof(w.imd) - 1] = 0;
		if (imd->cfg.link_tls && w.link.family && cross_open(imd, c, now, o, &w) == 0)
			return true;
		why = !imd->cfg.link_tls ? "this Intermediate opens no links to others: connect to that one"
		      : !w.link.family   ? "its link address is not known: connect to that one"
					 : "no link to it now: try again";
		imd->st.no_service++;
		imd->st.no_service_elsewhere++;
		snprintf(text, sizeof(text), "no connector serves %.48s at this Intermediate; "
			 "connector %.32s at Intermediate %.32s (%.70s)", o->service, w.connector, w.imd,
			 why);
		refuse_open(c, o->request_id, o->service, imd->cfg.link_tls && w.link.family ? ZT_EBUSY
			    : ZT_ENOSERVICE, "elsewhere", text);
		return true;
	}
	w.note[sizeof(w.note) - 1] = 0;
	*ret = w;
	return false;
}

/* No connector serves the service of o, here or elsewhere (as far as w says). */
static void refuse_nowhere(struct zt_imd *imd, struct client *c, const struct zt_ctrl_open *o,
			   const struct zt_imd_where *w)
{
	char text[ZT_CTRL_STR_MAX + 1];

	imd->st.no_service++;
	snprintf(text, sizeof(text), "no connector serves %.100s%s%.128s", o->service,
		 w->note[0] ? " (" : "", w->note);
	if (w->note[0] && strlen(text) + 1 < sizeof(text))
		strcat(text, ")");
	refuse_open(c, o->request_id, o->service, ZT_ENOSERVICE, "no-service", text);
}

/*
 * Held OPENs for a service conn serves get their session, oldest first, while conn
 * is not backed up; an agent at max_sessions gets ERROR 1503 instead (held OPENs
 * count against max_sessions when they are held, and are checked again here).
 */
static void release_held(struct zt_imd *imd, struct client *conn)
{
	struct held *h = imd->held, *next;

	for (; h; h = next) {
		next = h->next;
		if (conn->state != C_READY)
			return;
		if (!serves(conn, h->service))
			continue;
		if (backed_up(conn)) {
			conn->busy_waiters = true;
			return;
		}
		held_remove(imd, h);
		if (h->agent->nsessions >= h->agent->max_sessions) {
			imd->st.open_max_sessions++;
			refuse_open(h->agent, h->request_id, h->service, ZT_EQUOTA, "too-many-sessions",
				    "too many sessions on this connection");
		} else {
			open_session(imd, h->agent, conn, h->request_id, h->service, h->resume,
				     h->who);
		}
		free(h);
	}
}

/* Holds an OPEN (for a connector to register or to drain). Returns false when a held
 * limit is reached. */
static bool hold_open(struct zt_imd *imd, struct client *c, uint64_t now,
		      const struct zt_ctrl_open *o, bool busy, const char *who)
{
	/* a link holds for all its Intermediate's agents */
	size_t max = c->role == ZT_CTRL_ROLE_INTERMEDIATE ? imd->cfg.max_held_total
							  : imd->cfg.max_held;
	struct held *h;

	if (c->nheld >= max || imd->nheld >= imd->cfg.max_held_total)
		return false;
	h = calloc(1, sizeof(*h));
	if (!h)
		return false;
	h->agent = c;
	h->request_id = o->request_id;
	h->resume = (uint32_t)o->resume_session;
	h->busy = busy;
	h->deadline = busy ? now + imd->cfg.busy_hold : imd->started + imd->cfg.open_hold;
	snprintf(h->service, sizeof(h->service), "%s", o->service);
	snprintf(h->who, sizeof(h->who), "%s", who);
	held_add(imd, h);
	imd->st.held++;
	LOGC(c, ZT_NODE_INFO, "open_held", "identity=%s service=%.100s reason=%s request=%016" PRIx64,
	     who, o->service, busy ? "connector-busy" : "no-connector-yet", o->request_id);
	return true;
}

/* OPEN with SESSION_ID for a session we still have (its agent lost us while it ran
 * on the direct path): its own connector, not the one a new session would get
 * (which cannot take it up: with several connectors for the service, that was
 * ERROR 1504 and the session ended when the orphan expired). NULL otherwise. */
static struct client *resume_connector(struct zt_imd *imd, const struct client *agent,
				       const struct zt_ctrl_open *o)
{
	struct session *s = o->resume_session ? session_find(imd, (uint32_t)o->resume_session) : NULL;

	if (!s || !s->end[1] || s->end[1]->state != C_READY || strcmp(s->ident[0], agent->identity) ||
	    strcmp(s->service, o->service))
		return NULL;
	return s->end[1];
}

static void handle_open(struct zt_imd *imd, struct client *c, uint64_t now,
			const struct zt_ctrl_open *o)
{
	struct client *conn;
	char text[ZT_CTRL_STR_MAX + 1];
	struct zt_imd_where w = { 0 };
	bool busy;

	if (c->role == ZT_CTRL_ROLE_INTERMEDIATE) {
		handle_link_open(imd, c, now, o);
		return;
	}
	imd->st.opens++;
	if (!bucket_take(&c->open_bucket, now, imd->cfg.open_rate, imd->cfg.open_burst)) {
		imd->st.open_rate_limited++;
		snprintf(text, sizeof(text), "too many requests: at most %u OPENs per second (burst %u)",
			 imd->cfg.open_rate, imd->cfg.open_burst);
		refuse_open(c, o->request_id, o->service, ZT_EBUSY, "open-rate", text);
		return;
	}
	if (o->resume_session > UINT32_MAX) {
		imd->st.ctrl_errors++;
		send_error(c, ZT_ESTATE, o->request_id, 0, "no such session id");
		return;
	}
	if (!zt_policy_allows(imd->cfg.policy, c->name, o->service)) {
		imd->st.policy_refused++;
		snprintf(text, sizeof(text), "agent %s may not reach service %.150s (policy)", c->name,
			 o->service);
		refuse_open(c, o->request_id, o->service, ZT_EPOLICY, "policy", text);
		return;
	}
	if (c->nsessions + c->nheld >= c->max_sessions) {
		imd->st.open_max_sessions++;
		refuse_open(c, o->request_id, o->service, ZT_EQUOTA, "too-many-sessions",
			    "too many sessions on this connection");
		return;
	}
	conn = resume_connector(imd, c, o);
	if (!conn)
		conn = connector_for(imd, o->service, &busy);
	if (conn) {
		open_session(imd, c, conn, o->request_id, o->service, (uint32_t)o->resume_session,
			     c->identity);
		return;
	}
	/* not held when another Intermediate has one */
	if (!busy && open_elsewhere(imd, c, now, o, &w))
		return;
	if (busy || (imd->cfg.open_hold && now < imd->started + imd->cfg.open_hold)) {
		if (hold_open(imd, c, now, o, busy, c->identity))
			return;
		imd->st.held_refused++;
		refuse_open(c, o->request_id, o->service, ZT_EBUSY, "held-limit",
			    "too many requests waiting for a connector: try again later");
		return;
	}
	if (busy)
		w = (struct zt_imd_where){ 0 };
	refuse_nowhere(imd, c, o, &w);
}

/* HELLO: certificate identity + credential. */

static void reject(struct client *c, uint64_t now, int code, const char *text)
{
	uint64_t srtt = zt_outer_srtt(c->outer);

	send_error(c, code, 0, 0, text);
	if (c->state == C_READY)
		c->imd->nready--;
	c->state = C_REJECTED;
	tab_sync_client(c);
	c->close_code = (uint32_t)-code;
	snprintf(c->close_text, sizeof(c->close_text), "%s", text);
	/* Let the ERROR arrive before CONNECTION_CLOSE, which carries the same code. */
	c->close_at = now + (srtt * 2 > 20 * ZT_MS ? srtt * 2 : 20 * ZT_MS);
}

/* ERROR to c, its sessions ended (or kept as orphans), then CONNECTION_CLOSE with the
 * same code once the ERROR has had time to arrive (as reject() does). */
static void retire(struct client *c, uint64_t now, int code, const char *text)
{
	uint64_t srtt = zt_outer_srtt(c->outer);

	if (code)
		send_error(c, code, 0, 0, text);
	client_gone(c, text);
	c->close_pending = true;
	c->close_code = (uint32_t)-code;
	snprintf(c->close_text, sizeof(c->close_text), "%s", text);
	c->close_at = now + (srtt * 2 > 20 * ZT_MS ? srtt * 2 : 20 * ZT_MS);
	client_rearm(c);
}

/* A move (HELLO with CLIENT_ID, docs/control-protocol.md): the client's login on
 * another connection, same identity, hands c its sessions, held OPENs and relay budget
 * (a move does not refill it; its tunnel addresses are the identity's: c takes them as
 * any login does); the old connection is closed without ending them. Returns true when
 * it moved. */
static bool take_over(struct zt_imd *imd, struct client *c, uint64_t now, uint64_t from)
{
	struct client *o;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	size_t n = 0;

	for (o = imd->clients; o; o = o->next)
		if (o != c && o->id == from && o->state == C_READY && !strcmp(o->identity, c->identity))
			break;
	if (!from || !o)
		return false;
	while (o->sessions) {
		struct session *s = o->sessions;
		int i = s->end[0] == o ? 0 : 1;

		unlink_end(s, i);
		s->end[i] = c;
		link_end(s, i);
		n++;
	}
	/* its OPENs waiting for a connector wait on for c */
	while (o->held) {
		struct held *h = o->held;
		o->held = h->anext;
		o->nheld--;
		h->agent = c;
		h->anext = c->held;
		c->held = h;
		c->nheld++;
	}
	tab_sync_client(c);
	c->routes_sent = o->routes_sent;
	c->relay_tokens = o->relay_tokens;
	c->relay_dropped = o->relay_dropped;
	c->relay_log_at = o->relay_log_at;
	imd->st.moved++;
	LOG(imd, ZT_NODE_INFO, "client_moved",
	    "identity=%s old_client=%016" PRIx64 " new_client=%016" PRIx64
	    " old_remote=%s new_remote=%s sessions=%zu",
	    c->identity, o->id, c->id, zt_addr_str(&o->observed, a), zt_addr_str(&c->observed, b), n);
	retire(o, now, 0, "moved to another connection"); /* no ERROR: nothing failed */
	return true;
}

/* One identity, one authenticated connection (cfg.logins_per_identity): the newest
 * login wins (a restarted program's new connection before the Intermediate noticed
 * that the old one is gone; or two instances with one credential, which then learn
 * it from ERROR 1508). */
static void replace_older(struct zt_imd *imd, struct client *c, uint64_t now)
{
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];

	for (;;) {
		struct client *oldest = NULL;
		size_t n = 0;

		for (struct client *o = imd->clients; o; o = o->next) {
			if (o == c || o->state != C_READY || strcmp(o->identity, c->identity))
				continue;
			n++;
			if (!oldest || o->login_seq < oldest->login_seq)
				oldest = o;
		}
		if (n < imd->cfg.logins_per_identity)
			return;
		imd->st.replaced++;
		LOG(imd, ZT_NODE_INFO, "client_replaced",
		    "identity=%s old_client=%016" PRIx64 " new_client=%016" PRIx64
		    " old_remote=%s new_remote=%s",
		    c->identity, oldest->id, c->id, zt_addr_str(&oldest->observed, a),
		    zt_addr_str(&c->observed, b));
		retire(oldest, now, ZT_EREPLACED, "replaced by a newer login of the same identity");
	}
}

/* WELCOME: the client's id and observed address; an agent's tunnel addresses, a
 * connector's pools. */
static void send_welcome(struct client *c, uint64_t now)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_WELCOME);
	m.u.welcome.client_id = c->id;
	m.u.welcome.observed = c->observed;
	m.u.welcome.server_time = now;
	snprintf(m.u.welcome.software, sizeof(m.u.welcome.software), SOFTWARE);
	m.u.welcome.tun4 = c->tun4;
	m.u.welcome.tun6 = c->tun6;
	m.u.welcome.stun_port = c->imd->have_stun2 ? c->imd->cfg.stun_port : 0;
	m.u.welcome.relay_channel = c->chan;
	if (c->role == ZT_CTRL_ROLE_CONNECTOR)
		pools_text(c->imd, &m.u.welcome);
	ctrl_send(c, &m);
}

/* The identity's limits (policy limit rules) in place of cfg's, at its login; a login
 * over a transport they do not allow is refused (ERROR 1501, then closed). Returns 0,
 * or ZT_EPOLICY (refused). */
static int apply_limits(struct zt_imd *imd, struct client *c, uint64_t now, enum zt_pki_kind kind)
{
	struct zt_policy_limits l;
	bool tcp = zt_outer_kind(c->outer) == ZT_OUTER_TCP;
	char text[ZT_CTRL_STR_MAX + 1], obs[ZT_ADDR_STRLEN];

	if (!zt_policy_limits(imd->cfg.policy, kind, c->name, &l))
		return 0;
	if ((l.has & ZT_POLICY_HAS_TRANSPORT) &&
	    !(l.transports & (tcp ? ZT_POLICY_TCP : ZT_POLICY_UDP))) {
		imd->st.transport_refused++;
		snprintf(text, sizeof(text), "transport %s not allowed for %s (its limit: transport:%s)",
			 tcp ? "tcp" : "udp", c->identity, tcp ? "udp" : "tcp");
		LOG(imd, ZT_NODE_WARN, "login_refused",
		    "identity=%s remote=%s transport=%s reason=transport-not-allowed",
		    c->identity, zt_addr_str(&c->observed, obs), tcp ? "tcp" : "udp");
		reject(c, now, ZT_EPOLICY, text);
		return ZT_EPOLICY;
	}
	if (l.has & ZT_POLICY_HAS_RELAY) {
		c->relay_rate = l.relay_rate;
		c->relay_burst = l.relay_burst ? l.relay_burst : relay_burst_for(l.relay_rate);
		zt_tokens_init(&c->relay_tokens, c->relay_rate, c->relay_burst, now);
	}
	if (l.has & ZT_POLICY_HAS_SESSIONS)
		c->max_sessions = l.sessions;
	if (l.has & ZT_POLICY_HAS_DIRECT)
		c->no_direct = !l.direct;
	LOG(imd, ZT_NODE_INFO, "limits",
	    "identity=%s relay_rate=%" PRIu32 " relay_burst=%" PRIu32 " max_sessions=%zu "
	    "transport=%s direct=%s",
	    c->identity, c->relay_rate, c->relay_burst, c->max_sessions,
	    !(l.has & ZT_POLICY_HAS_TRANSPORT) || l.transports == ZT_POLICY_ANY ? "any"
	    : l.transports == ZT_POLICY_UDP ? "udp" : "tcp",
	    c->no_direct ? "off" : "on");
	return 0;
}

/* Who HELLO's sender is: its certificate's identity (into c->identity, c->name), which
 * must match the role and name HELLO claims, and its credential (the policy's token; for
 * another Intermediate, the certificate alone, when we take links). Refused: the client
 * rejected, -EACCES. */
static int hello_auth(struct zt_imd *imd, struct client *c, uint64_t now,
		      const struct zt_ctrl_hello *h, enum zt_pki_kind *ret_kind)
{
	enum zt_pki_kind want = h->role == ZT_CTRL_ROLE_AGENT       ? ZT_PKI_AGENT
				: h->role == ZT_CTRL_ROLE_CONNECTOR ? ZT_PKI_CONNECTOR
								    : ZT_PKI_INTERMEDIATE;
	enum zt_pki_kind kind;
	const char *name, *claimed;
	char text[ZT_CTRL_STR_MAX + 1], obs[ZT_ADDR_STRLEN];
	int rc;

	rc = zt_tls_session_peer_identity(zt_outer_tls(c->outer), c->identity,
					  sizeof(c->identity));
	if (rc < 0 || zt_pki_identity_parse(c->identity, &kind, &name) < 0) {
		imd->st.auth_failed++;
		LOG(imd, ZT_NODE_WARN, "auth_failed", "remote=%s reason=no-identity",
		    zt_addr_str(&c->observed, obs));
		reject(c, now, ZT_EAUTH, "certificate carries no ztna identity");
		return -EACCES;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	claimed = h->identity;
	if (!strncmp(claimed, "ztna:", 5)) {
		enum zt_pki_kind k2;
		const char *n2;
		if (zt_pki_identity_parse(claimed, &k2, &n2) < 0 || k2 != kind)
			claimed = "";
		else
			claimed = n2;
	}
	if (kind != want) {
		imd->st.auth_failed++;
		snprintf(text, sizeof(text), "certificate is for a%s %s, HELLO says %s",
			 kind == ZT_PKI_AGENT || kind == ZT_PKI_INTERMEDIATE ? "n" : "",
			 zt_pki_kind_name(kind), zt_pki_kind_name(want));
		LOG(imd, ZT_NODE_WARN, "auth_failed", "identity=%s remote=%s reason=role-mismatch",
		    c->identity, zt_addr_str(&c->observed, obs));
		reject(c, now, ZT_EAUTH, text);
		return -EACCES;
	}
	if (strcmp(claimed, c->name)) {
		imd->st.auth_failed++;
		snprintf(text, sizeof(text), "HELLO names %.100s but the certificate is %.100s",
			 h->identity, c->identity);
		LOG(imd, ZT_NODE_WARN, "auth_failed", "identity=%s remote=%s reason=identity-mismatch",
		    c->identity, zt_addr_str(&c->observed, obs));
		reject(c, now, ZT_EAUTH, text);
		return -EACCES;
	}
	if (h->role == ZT_CTRL_ROLE_INTERMEDIATE) {
		/* another Intermediate of the deployment: its certificate, from the
		 * deployment's CA, is its credential (docs/scale-out.md) */
		if (!imd->cfg.links_in) {
			imd->st.auth_failed++;
			LOG(imd, ZT_NODE_WARN, "auth_failed", "identity=%s remote=%s reason=no-links",
			    c->identity, zt_addr_str(&c->observed, obs));
			reject(c, now, ZT_EPOLICY, "this Intermediate takes no links from other "
			       "Intermediates (it runs without --nats)");
			return -EACCES;
		}
	} else if (zt_policy_check(imd->cfg.policy, kind, c->name, h->token, h->token_len) < 0) {
		imd->st.auth_failed++;
		snprintf(text, sizeof(text), "bad credential for %s", c->identity);
		LOG(imd, ZT_NODE_WARN, "auth_failed", "identity=%s remote=%s reason=bad-credential",
		    c->identity, zt_addr_str(&c->observed, obs));
		reject(c, now, ZT_EAUTH, text);
		return -EACCES;
	}
	*ret_kind = kind;
	return 0;
}

static void handle_hello(struct zt_imd *imd, struct client *c, uint64_t now,
			 const struct zt_ctrl_hello *h)
{
	enum zt_pki_kind kind;
	char svc[512], obs[ZT_ADDR_STRLEN];
	struct zt_quic_path path;
	uint32_t refused = 0, rrefused = 0;
	int routed = 0;

	if (hello_auth(imd, c, now, h, &kind) < 0)
		return;
	if (h->role != ZT_CTRL_ROLE_INTERMEDIATE && apply_limits(imd, c, now, kind) < 0)
		return;
	c->role = h->role;
	if (c->role == ZT_CTRL_ROLE_INTERMEDIATE) {
		c->relay_rate = 0; /* its agents' rates are charged there */
		c->max_sessions = imd->cfg.link_max_sessions;
		zt_ctrlchan_set_backlog_max(zt_outer_ctrl(c->outer), ZT_CTRLCHAN_LINK_BACKLOG);
		imd->st.links_in++;
	}
	c->state = C_READY;
	c->login_seq = ++imd->logins;
	c->login_at = now;
	if (imd->cfg.login_floor && c->role != ZT_CTRL_ROLE_INTERMEDIATE)
		c->login_floor = imd->cfg.login_floor(imd->cfg.elsewhere_arg,
						      c->role == ZT_CTRL_ROLE_CONNECTOR, c->name);
	imd->nready++;
	half_open_end(c);
	imd->st.auth_ok++;
	zt_outer_path(c->outer, &path);
	c->observed = path.remote;
	c->chan_local = path.local;
	/* docs/relay-channel.md: it asked, we offer it, and it is on UDP */
	c->chan = h->relay_channel && imd->chanq && zt_outer_kind(c->outer) == ZT_OUTER_UDP;
	take_over(imd, c, now, h->move_from);
	/* Intermediates often share one certificate ('ztna pki init' makes one): their
	 * links are not logins of one party, none replaces another */
	if (c->role != ZT_CTRL_ROLE_INTERMEDIATE)
		replace_older(imd, c, now);
	if (c->role == ZT_CTRL_ROLE_CONNECTOR) {
		if (set_services(c, h->n_services, h->services, &refused) < 0 ||
		    (routed = set_routes(c, h->n_routes, h->routes, &rrefused)) < 0) {
			reject(c, now, -ENOMEM, "out of memory");
			return;
		}
	} else if (c->role == ZT_CTRL_ROLE_AGENT) {
		tun_take(c);
	}
	send_welcome(c, now);
	services_text(c, svc, sizeof(svc));
	LOG(imd, ZT_NODE_INFO, "client_ready",
	    "client=%016" PRIx64 " identity=%s role=%s observed=%s services=%s software=\"%s\"",
	    c->id, c->identity, zt_pki_kind_name(kind), zt_addr_str(&c->observed, obs),
	    c->role == ZT_CTRL_ROLE_CONNECTOR ? svc : "-", h->software);
	if (c->role == ZT_CTRL_ROLE_CONNECTOR) {
		report_refused(c, h->n_services, h->services, refused);
		report_refused_routes(c, h->n_routes, h->routes, rrefused);
		adopt_connector_orphans(imd, c);
		adopt_cross(imd, c);
		release_held(imd, c);
		if (routed)
			routes_changed(imd);
	} else if (c->role == ZT_CTRL_ROLE_AGENT) {
		send_routes(c);
	}
}

/* Signaling. */

static int end_index(const struct session *s, const struct client *c)
{
	return s->end[0] == c ? 0 : s->end[1] == c ? 1 : -1;
}

void zt_imd_start_offsets(uint64_t srtt_a, uint64_t srtt_c, uint64_t margin,
			  uint64_t *ret_off_a, uint64_t *ret_off_c)
{
	uint64_t ha = srtt_a / 2, hc = srtt_c / 2;
	uint64_t d = (ha > hc ? ha : hc) + margin;

	*ret_off_a = d - ha;
	*ret_off_c = d - hc;
}

static void maybe_start(struct zt_imd *imd, struct session *s)
{
	uint64_t ra, rc;
	struct zt_ctrl_msg m;
	uint64_t off[2];
	uint32_t gen = s->gen[0];

	if (s->cross || s->no_direct || !s->end[0] || !s->end[1] || !s->have_cands[0] || !s->have_cands[1] ||
	    s->gen[1] != gen || (s->started && s->started_gen >= gen))
		return;
	ra = zt_outer_srtt(s->end[0]->outer);
	rc = zt_outer_srtt(s->end[1]->outer);
	zt_imd_start_offsets(ra, rc, imd->cfg.start_margin, &off[0], &off[1]);
	for (int i = 0; i < 2; i++) {
		zt_ctrl_msg_init(&m, ZT_CTRL_START_CHECKS);
		m.u.start.session_id = s->id;
		m.u.start.start_offset = off[i];
		m.u.start.generation = gen;
		ctrl_send(s->end[i], &m);
	}
	s->started = true;
	s->started_gen = gen;
	imd->st.start_checks_sent += 2;
	LOG(imd, ZT_NODE_INFO, "start_checks",
	    "session=%08x generation=%u agent_rtt_us=%" PRIu64 " connector_rtt_us=%" PRIu64
	    " agent_offset_us=%" PRIu64 " connector_offset_us=%" PRIu64,
	    s->id, gen, (uint64_t)(ra / ZT_US), (uint64_t)(rc / ZT_US),
	    (uint64_t)(off[0] / ZT_US), (uint64_t)(off[1] / ZT_US));
}

/* CANDIDATES for a session with an end whose identity has direct off (policy limit
 * rules): dropped and counted, one line per session; it stays on the relay. */
static void direct_refused(struct zt_imd *imd, struct session *s, const struct client *from)
{
	imd->st.direct_refused++;
	if (s->direct_logged)
		return;
	s->direct_logged = true;
	LOG(imd, ZT_NODE_INFO, "direct_refused",
	    "session=%08x from=%s agent=%s connector=%s direct_off=%s what=\"candidates not "
	    "forwarded, no START_CHECKS: relay only\"",
	    s->id, from->identity, s->ident[0], s->ident[1],
	    s->no_direct & 1 ? s->ident[0] : s->ident[1]);
}

/* The bytes a CANDIDATES message takes on the wire. */
static size_t cands_size(const struct zt_ctrl_msg *m)
{
	uint8_t buf[ZT_CTRL_MSG_MAX];
	int n = zt_ctrl_encode(m, buf, sizeof(buf));

	return n > 0 ? (size_t)n : ZT_CTRL_MSG_MAX;
}

static void handle_candidates(struct zt_imd *imd, struct client *c, uint64_t now,
			      struct zt_ctrl_msg *m)
{
	struct zt_ctrl_candidates *cd = &m->u.cands;
	struct session *s = cd->session_id <= UINT32_MAX ? session_find(imd, (uint32_t)cd->session_id) : NULL;
	int i = s ? end_index(s, c) : -1;

	if (i < 0) {
		imd->st.ctrl_errors++;
		send_error(c, ZT_ESTATE, 0, cd->session_id, "no such session");
		return;
	}
	if (s->no_direct) {
		direct_refused(imd, s, c);
		return;
	}
	/* A bound on signaling per end (issue: nonstop candidates are bounded), in
	 * messages and in bytes (a message is up to ~4 KiB; ours are ~1 KiB). */
	if (now >= s->cands_window[i] + CANDS_WINDOW) {
		s->cands_window[i] = now;
		s->cands_count[i] = 0;
		s->cands_bytes[i] = 0;
	}
	s->cands_bytes[i] += cands_size(m);
	if (++s->cands_count[i] > CANDS_PER_WINDOW || s->cands_bytes[i] > CANDS_BYTES_PER_WINDOW) {
		imd->st.ctrl_errors++;
		if (!s->cands_limited[i])
			LOG(imd, ZT_NODE_WARN, "candidates_limited",
			    "session=%08x identity=%s messages=%u bytes=%zu", s->id, c->identity,
			    s->cands_count[i], s->cands_bytes[i]);
		s->cands_limited[i] = true;
		return;
	}
	s->cands_limited[i] = false;
	/* what it says of its NAT, for the metrics (values we do not know: unknown) */
	if (c->role != ZT_CTRL_ROLE_INTERMEDIATE) {
		c->nat_mapping = cd->nat_mapping < ZT_IMD_NAT_KINDS ? cd->nat_mapping : 0;
		c->nat_ports = cd->nat_ports < ZT_IMD_NAT_KINDS ? cd->nat_ports : 0;
	}
	if (!s->have_cands[i] || cd->generation >= s->gen[i]) {
		s->have_cands[i] = true;
		s->gen[i] = cd->generation;
	}
	if (!s->end[1 - i])
		return; /* that end is gone for now */
	if (queued(s->end[1 - i]) >= imd->cfg.ctrl_busy / CTRL_FWD_SHARE) {
		/* Signaling is best effort: it fills at most a share of the receiver's
		 * backlog, so one party's CANDIDATES alone (up to ~4 KiB each) never back
		 * another up (no new sessions for it), and they do not queue behind a
		 * backlog another party filled. The session stays on the relay (or on the
		 * candidates that did arrive). */
		imd->st.ctrl_fwd_dropped++;
		return;
	}
	/* the sender's address as we see it: what the receiver may probe (birthday
	 * probing, docs/hard-nat.md), never an address the sender names (over a link:
	 * as the agent's Intermediate saw it) */
	if (c->role != ZT_CTRL_ROLE_INTERMEDIATE)
		cd->observed = c->observed;
	cd->session_id = id_at(s, s->end[1 - i]);
	if (!cd->session_id)
		return; /* over a link that has not answered yet */
	ctrl_send(s->end[1 - i], m);
	imd->st.candidates_fwd++;
	LOG(imd, ZT_NODE_DEBUG, "candidates",
	    "session=%08x from=%s generation=%u seq=%u count=%u end=%d", s->id, c->identity,
	    cd->generation, cd->seq, cd->n_cands, cd->end_of_candidates);
	maybe_start(imd, s);
}

/* Control messages in. */

/* REGISTER from c: its services and routes (those the policy lets it serve). */
static void handle_register(struct zt_imd *imd, struct client *c, const struct zt_ctrl_register *r)
{
	uint32_t refused, rrefused;
	char svc[512];
	int routed;

	if (c->role != ZT_CTRL_ROLE_CONNECTOR) {
		imd->st.ctrl_errors++;
		send_error(c, ZT_ESTATE, 0, 0, "only a connector registers services");
		return;
	}
	if (set_services(c, r->n_services, r->services, &refused) < 0 ||
	    (routed = set_routes(c, r->n_routes, r->routes, &rrefused)) < 0)
		return;
	services_text(c, svc, sizeof(svc));
	LOGC(c, ZT_NODE_INFO, "register", "identity=%s services=%s routes=%u", c->identity, svc,
	     c->nroutes);
	report_refused(c, r->n_services, r->services, refused);
	report_refused_routes(c, r->n_routes, r->routes, rrefused);
	release_held(imd, c);
	if (routed)
		routes_changed(imd);
}

/* PATH_REPORT from c: an agent says which path its session takes (passed on over the
 * link for a session across Intermediates); logged for every client. */
static void handle_path_report(struct zt_imd *imd, struct client *c, const struct zt_ctrl_msg *m)
{
	const struct zt_ctrl_path_report *p = &m->u.path;
	char la[ZT_ADDR_STRLEN], ra[ZT_ADDR_STRLEN];
	struct session *ps = p->session_id <= UINT32_MAX ? session_find(imd, (uint32_t)p->session_id)
							 : NULL;

	if (ps && ps->end[0] == c) { /* the agent decides the path */
		ps->direct = p->path == ZT_CTRL_PATH_DIRECT;
		if (ps->cross && ps->rid && ps->end[1]) {
			struct zt_ctrl_msg f = *m;
			f.u.path.session_id = ps->rid;
			ctrl_send(ps->end[1], &f);
		}
	}
	LOGC(c, ZT_NODE_INFO, "path_report",
	     "session=%08" PRIx64 " identity=%s path=%s local=%s remote=%s rtt_us=%u "
	     "time_to_direct_ms=%u switches=%u text=\"%s\"",
	     p->session_id, c->identity, p->path == ZT_CTRL_PATH_DIRECT ? "direct" : "relay",
	     p->local.family ? zt_addr_str(&p->local, la) : "-",
	     p->remote.family ? zt_addr_str(&p->remote, ra) : "-", p->rtt_us,
	     p->time_to_direct_ms, p->path_switches, p->text);
}

static void handle_msg(struct zt_imd *imd, struct client *c, uint64_t now, struct zt_ctrl_msg *m)
{
	char obs[ZT_ADDR_STRLEN];

	if (c->link_out) {
		link_msg(imd, c, now, m);
		return;
	}
	if (c->state == C_WAIT_HELLO) {
		if (m->type == ZT_CTRL_HELLO) {
			handle_hello(imd, c, now, &m->u.hello);
			return;
		}
		imd->st.ctrl_errors++;
		reject(c, now, ZT_ESTATE, "HELLO must come first");
		return;
	}
	if (c->state != C_READY)
		return;
	switch (m->type) {
	case ZT_CTRL_HELLO:
		imd->st.ctrl_errors++;
		send_error(c, ZT_ESTATE, 0, 0, "HELLO was sent already");
		break;
	case ZT_CTRL_REGISTER:
		handle_register(imd, c, &m->u.reg);
		break;
	case ZT_CTRL_OPEN:
		if (c->role != ZT_CTRL_ROLE_AGENT && c->role != ZT_CTRL_ROLE_INTERMEDIATE) {
			imd->st.ctrl_errors++;
			send_error(c, ZT_ESTATE, m->u.open.request_id, 0, "only an agent opens sessions");
			break;
		}
		handle_open(imd, c, now, &m->u.open);
		break;
	case ZT_CTRL_CLOSE: {
		struct session *s = m->u.close.session_id <= UINT32_MAX
					    ? session_find(imd, (uint32_t)m->u.close.session_id)
					    : NULL;
		if (s && end_index(s, c) >= 0)
			session_end(imd, s, c, -(int)m->u.close.reason,
				    m->u.close.text[0] ? m->u.close.text : "closed by the other end");
		break;
	}
	case ZT_CTRL_CANDIDATES:
		handle_candidates(imd, c, now, m);
		break;
	case ZT_CTRL_PATH_REPORT:
		handle_path_report(imd, c, m);
		break;
	case ZT_CTRL_ERROR:
		LOGC(c, ZT_NODE_INFO, "peer_error", "identity=%s code=%u text=\"%s\"", c->identity,
		    m->u.error.code, m->u.error.text);
		break;
	case ZT_CTRL_PING:
		send_pong(c, m, now);
		break;
	case ZT_CTRL_PONG:
		break;
	default:
		imd->st.ctrl_errors++;
		send_error(c, ZT_ESTATE, 0, 0, "not a message a client sends");
		LOGC(c, ZT_NODE_DEBUG, "ctrl_unexpected", "identity=%s type=%s remote=%s",
		    c->identity, zt_ctrl_type_name(m->type), zt_addr_str(&c->observed, obs));
		break;
	}
}

/*
 * Every control message of an authenticated client takes a token from its budget
 * (ctrl_rate per second, ctrl_burst plus CTRL_SESSION_CREDIT per session). Over it,
 * messages are dropped: the first of a run gets ERROR 1510, and so does every OPEN
 * (with its REQUEST_ID); a client that sends another full burst while over it is
 * closed (ZT_EBUSY). A run ends when the budget is half full again. Returns true when
 * m may be handled.
 */
static bool ctrl_budget(struct zt_imd *imd, struct client *c, uint64_t now,
			const struct zt_ctrl_msg *m)
{
	uint64_t cap = imd->cfg.ctrl_burst + CTRL_SESSION_CREDIT * (uint64_t)c->nsessions;
	char text[ZT_CTRL_STR_MAX + 1];

	if (bucket_take(&c->ctrl_bucket, now, imd->cfg.ctrl_rate, cap)) {
		if (c->ctrl_over && c->ctrl_bucket.n >= cap * NANO / 2)
			c->ctrl_over = false;
		return true;
	}
	imd->st.ctrl_over_budget++;
	snprintf(text, sizeof(text),
		 "too many control messages (at most %u per second): dropped; slow down",
		 imd->cfg.ctrl_rate);
	if (!c->ctrl_over) {
		c->ctrl_over = true;
		c->ctrl_over_dropped = 0;
		LOG(imd, ZT_NODE_WARN, "ctrl_over_budget",
		    "client=%016" PRIx64 " identity=%s rate=%u burst=%" PRIu64 " action=drop", c->id,
		    c->identity, imd->cfg.ctrl_rate, cap);
		send_error(c, ZT_EBUSY, m->type == ZT_CTRL_OPEN ? m->u.open.request_id : 0, 0, text);
	} else if (m->type == ZT_CTRL_OPEN) {
		/* A request is answered even when dropped, so the agent fails it at once. */
		send_error(c, ZT_EBUSY, m->u.open.request_id, 0, text);
	}
	if (++c->ctrl_over_dropped > cap) {
		imd->st.ctrl_budget_closed++;
		LOG(imd, ZT_NODE_WARN, "ctrl_over_budget",
		    "client=%016" PRIx64 " identity=%s dropped=%" PRIu64 " action=close", c->id,
		    c->identity, c->ctrl_over_dropped);
		client_gone(c, "too many control messages");
		zt_outer_close(c->outer, now, (uint64_t)-ZT_EBUSY, "too many control messages");
		mark_dirty(c);
	}
	return false;
}

static void read_ctrl(struct zt_imd *imd, struct client *c, uint64_t now)
{
	struct zt_ctrl_msg m;
	int rc;

	while (c->state == C_WAIT_HELLO || c->state == C_READY) {
		/* Not a link: two Intermediates each waiting for the other to read first
		 * deadlocked (3,334 OPENs across at once: 65-70 KB queued each way, nothing
		 * read for 30 s, the link closed by ctrl_stall with all its sessions). A
		 * link's OPENs for a busy connector are held instead (handle_link_open). */
		if (c->state == C_READY && c->role != ZT_CTRL_ROLE_INTERMEDIATE && backed_up(c)) {
			c->read_paused = true; /* ctrl_progress reads on when it drains */
			return;
		}
		rc = zt_ctrlchan_next(zt_outer_ctrl(c->outer), &m);
		if (rc == 0)
			return;
		if (rc == 1) {
			if (c->state == C_READY && c->role != ZT_CTRL_ROLE_INTERMEDIATE &&
			    !ctrl_budget(imd, c, now, &m))
				continue;
			handle_msg(imd, c, now, &m);
			continue;
		}
		imd->st.ctrl_errors++;
		if (rc == ZT_ECTRL_TYPE)
			continue; /* unknown type: skipped (docs/control-protocol.md rule 4) */
		if (rc == ZT_EPEER || rc == ZT_ETOOBIG || rc == ZT_ECTRL_VERSION) {
			LOG(imd, ZT_NODE_WARN, "ctrl_closed", "client=%016" PRIx64 " identity=%s err=\"%s\"",
			    c->id, c->identity[0] ? c->identity : "-", zt_strerror(rc));
			client_gone(c, "control stream ended");
			zt_outer_close(c->outer, now, (uint64_t)-(rc == ZT_EPEER ? ZT_EPEER : rc),
				       "control stream ended");
			mark_dirty(c);
			return;
		}
		send_error(c, rc, 0, 0, "undecodable control message");
		if (c->state == C_WAIT_HELLO)
			reject(c, now, rc, "undecodable HELLO");
	}
}

/* Connection callbacks. */

static void cb_handshake(struct zt_outer *o, void *arg)
{
	struct client *c = arg;
	(void)o;

	if (c->state == C_HANDSHAKE) {
		uint64_t end = c->created + c->imd->cfg.handshake_timeout;
		c->state = C_WAIT_HELLO;
		c->hello_deadline = c->imd->now + c->imd->cfg.hello_timeout;
		if (end < c->hello_deadline)
			c->hello_deadline = end;
		if (c->link_out)
			link_hello(c); /* its deadline is for the WELCOME */
	}
}

static void cb_readable(struct zt_outer *o, void *arg)
{
	struct client *c = arg;
	(void)o;

	read_ctrl(c->imd, c, c->imd->now);
}

/*
 * After events of c: notice its control stream draining (resume reading it, release
 * OPENs waiting for it) or stalled. A party with control bytes queued that reads none
 * of them (no byte acknowledged) for ctrl_stall is closed: its own reading is at
 * fault, whoever filled the queue. A party reading slowly is never closed for it.
 */
static void ctrl_progress(struct client *c, uint64_t now)
{
	struct zt_imd *imd = c->imd;
	size_t q;

	if (c->state != C_READY)
		return;
	q = queued(c);
	if (!q || q < c->last_queued) {
		c->progress_at = now;
		if (!q)
			c->send_dropping = false;
	}
	c->last_queued = q;
	if (q && now >= c->progress_at + imd->cfg.ctrl_stall) {
		imd->st.ctrl_stalled_closed++;
		LOG(imd, ZT_NODE_WARN, "ctrl_stalled",
		    "client=%016" PRIx64 " identity=%s queued=%zu stalled_ms=%" PRIu64, c->id,
		    c->identity, q, (uint64_t)((now - c->progress_at) / ZT_MS));
		client_gone(c, "control stream not read");
		zt_outer_close(c->outer, now, (uint64_t)-ZT_ETIMEOUT, "control stream not read");
		mark_dirty(c);
		return;
	}
	if (q > imd->cfg.ctrl_busy)
		return;
	if (c->read_paused) {
		c->read_paused = false;
		read_ctrl(imd, c, now);
		mark_dirty(c);
	}
	if (c->busy_waiters && c->state == C_READY) {
		c->busy_waiters = false;
		release_held(imd, c);
	}
}

static void cb_writable(struct zt_outer *o, void *arg)
{
	struct client *c = arg;
	(void)o;

	ctrl_progress(c, c->imd->now);
}

/* A payload over its sender's relay rate: dropped and counted, nothing else (the
 * end-to-end connection sees loss and slows down); a line at most every LOG_WINDOW per
 * client, with its drops so far. */
static void relay_rate_drop(struct zt_imd *imd, struct client *c, struct session *s)
{
	imd->st.relay_dropped_rate++;
	s->dropped_rate++;
	if (c->relay_dropped++ && imd->now < c->relay_log_at + LOG_WINDOW)
		return;
	c->relay_log_at = imd->now;
	LOG(imd, ZT_NODE_WARN, "relay_rate_limited",
	    "client=%016" PRIx64 " identity=%s rate=%" PRIu32 " burst=%" PRIu32 " dropped=%" PRIu64,
	    c->id, c->identity, c->relay_rate, c->relay_burst, c->relay_dropped);
}

/*
 * The checks every relayed payload passes, an outer DATAGRAM's or channel data's: c is
 * a logged-in end of s, the other end is there, the session is within its quotas and c
 * within its relay rate (charged here). len: the payload (relay header and inner
 * packet), as quota and rate count it. Returns the other end, or NULL (dropped and
 * counted).
 */
static struct client *relay_admit(struct zt_imd *imd, struct client *c, struct session *s,
				  size_t len)
{
	int i = s ? end_index(s, c) : -1;
	struct client *to;

	if (i < 0 || c->state != C_READY || !(to = s->end[1 - i])) {
		imd->st.relay_dropped_unknown++;
		return NULL;
	}
	/* Charged here, taken back when it is not sent after all: the workers charge the
	 * same count at the same time (docs/workers.md). */
	if (s->over_quota || !zt_relay_count_charge(&s->count, len, s->quota_bytes, s->quota_pkts)) {
		imd->st.relay_dropped_quota++;
		s->dropped_quota++;
		if (!s->over_quota) {
			s->over_quota = true;
			tab_sync(imd, s);
			LOG(imd, ZT_NODE_WARN, "quota_exceeded",
			    "session=%08x service=%s agent=%s bytes=%" PRIu64 " pkts=%" PRIu64
			    " quota_bytes=%" PRIu64 " quota_pkts=%" PRIu64,
			    s->id, s->service, s->ident[0], zt_relay_count_bytes(&s->count),
			    zt_relay_count_pkts(&s->count), s->quota_bytes, s->quota_pkts);
			for (int k = 0; k < 2; k++) {
				send_error(s->end[k], ZT_EQUOTA, 0, id_at(s, s->end[k]),
					   "relay quota exceeded");
				send_close(s->end[k], id_at(s, s->end[k]), ZT_EQUOTA,
					   "relay quota exceeded");
			}
		}
		return NULL;
	}
	/* Charged to the sender before it is forwarded (len: one DATAGRAM or DGRAM
	 * record, far below UINT32_MAX). */
	if (c->relay_rate && !zt_tokens_take_n(&c->relay_tokens, imd->now, (uint32_t)len)) {
		zt_relay_count_refund(&s->count, len);
		relay_rate_drop(imd, c, s);
		return NULL;
	}
	return to;
}

/* An admitted payload (charged to s; its header names session `in`) to `to`: as
 * channel data when it has the channel (and the queue has room; a TCP client's DGRAM
 * record may be longer than a channel datagram takes), else in an outer DATAGRAM;
 * then counted. Between a cross session's agent and link, the header's id changes. */
static void relay_send(struct zt_imd *imd, struct session *s, struct client *to,
		       const uint8_t *data, size_t len, uint32_t in)
{
	uint32_t out = id_at(s, to);
	uint8_t copy[ZT_RELAY_CHAN_MAX];

	if (to->chan && len < ZT_RELAY_CHAN_MAX && imd->chan_len < CHAN_QUEUE) {
		struct chan_out *q = &imd->chanq[(imd->chan_head + imd->chan_len) % CHAN_QUEUE];

		q->local = to->chan_local;
		q->remote = to->observed;
		q->data[0] = ZT_RELAY_CHAN_MARKER;
		memcpy(q->data + 1, data, len);
		if (out != in)
			zt_relay_hdr_write(q->data + 1, len, out);
		q->len = len + 1;
		imd->chan_len++;
		imd->st.relay_chan_out++;
		imd->st.relay_pkts++;
		imd->st.relay_bytes += len;
		return;
	}
	if (out != in) {
		if (!out || len > sizeof(copy)) {
			zt_relay_count_refund(&s->count, len);
			imd->st.relay_dropped_unknown++;
			return;
		}
		memcpy(copy, data, len);
		zt_relay_hdr_write(copy, len, out);
		data = copy;
	}
	if (zt_outer_dgram_send(to->outer, data, len) < 0) {
		zt_relay_count_refund(&s->count, len);
		imd->st.relay_dropped_queue++;
		return;
	}
	mark_dirty(to);
	imd->st.relay_pkts++;
	imd->st.relay_bytes += len;
}

static void relay(struct zt_imd *imd, struct client *c, const uint8_t *data, size_t len)
{
	struct client *to;
	struct session *s;
	uint32_t id;

	if (zt_relay_hdr_read(data, len, &id) < 0) {
		imd->st.relay_dropped_malformed++;
		return;
	}
	s = c->link_out ? xsession_find(imd, c, id) : session_find(imd, id);
	to = relay_admit(imd, c, s, len);
	if (to)
		relay_send(imd, s, to, data, len, id);
}

/* Channel data from `from` (docs/relay-channel.md): taken only from the validated
 * address of an end of the session it names that has the channel. */
static void relay_chan(struct zt_imd *imd, const struct zt_addr *from, const uint8_t *pkt,
		       size_t len)
{
	struct client *c = NULL, *to;
	struct session *s;
	uint32_t id;

	if (zt_relay_chan_read(pkt, len, &id) < 0) {
		imd->st.relay_chan_dropped_malformed++;
		return;
	}
	s = session_find(imd, id);
	for (int k = 0; s && k < 2 && !c; k++)
		if (s->end[k] && s->end[k]->chan && zt_addr_equal(from, &s->end[k]->observed))
			c = s->end[k];
	if (!c) {
		imd->st.relay_chan_dropped_addr++;
		return;
	}
	imd->st.relay_chan_pkts++;
	to = relay_admit(imd, c, s, len - 1);
	if (to)
		relay_send(imd, s, to, pkt + 1, len - 1, id);
}

static void cb_dgram(struct zt_outer *o, void *arg, const uint8_t *data, size_t len)
{
	struct client *c = arg;
	(void)o;

	relay(c->imd, c, data, len);
}

static void cb_path(struct zt_outer *o, void *arg, const struct zt_quic_path *path, bool ok)
{
	struct client *c = arg;
	struct zt_imd *imd = c->imd;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	struct zt_ctrl_msg m;
	(void)o;

	if (!ok || c->state != C_READY || zt_addr_equal(&path->remote, &c->observed))
		return;
	LOG(imd, ZT_NODE_INFO, "observed_address", "identity=%s old=%s new=%s", c->identity,
	    zt_addr_str(&c->observed, a), zt_addr_str(&path->remote, b));
	c->observed = path->remote;
	c->chan_local = path->local;
	tab_sync_client(c);
	zt_ctrl_msg_init(&m, ZT_CTRL_OBSERVED_ADDRESS);
	m.u.observed.addr = c->observed;
	ctrl_send(c, &m);
}

static const struct zt_outer_callbacks outer_cb = {
	.ready = cb_handshake,
	.ctrl_readable = cb_readable,
	.ctrl_writable = cb_writable,
	.datagram = cb_dgram,
	.path_validated = cb_path,
};

/* Creation. */

static void reset_token(void *arg, const uint8_t *cid, size_t cidlen, uint8_t token[16])
{
	struct zt_imd *imd = arg;
	uint8_t mac[32];

	/* RFC 9000 s10.3.2: HMAC of the connection ID under a static key. */
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, imd->reset_key, sizeof(imd->reset_key), cid, cidlen, mac);
	memcpy(token, mac, 16);
}

/* The Binding server on cfg.listen (none without one), and its answers' budget. */
static void stun_init(struct zt_imd *imd, uint64_t now)
{
	const struct zt_check_budget_config b = {
		.dest_rate = imd->cfg.stun_rate ? imd->cfg.stun_rate : STUN_RATE_DEST,
		.total_rate = imd->cfg.stun_rate_total ? imd->cfg.stun_rate_total : STUN_RATE_TOTAL,
	};

	struct zt_addr second = imd->cfg.listen;

	if (imd->cfg.listen.family && imd->cfg.listen.port &&
	    zt_stun_server_init(&imd->stun, &imd->cfg.listen, NULL) == 0)
		imd->have_stun = true;
	second.port = imd->cfg.stun_port;
	if (imd->have_stun && second.port &&
	    zt_stun_server_init(&imd->stun2, &second, NULL) == 0)
		imd->have_stun2 = true;
	zt_check_budget_init(&imd->stun_budget, &b, now);
}

/* The configuration's zeros replaced by the defaults (imd.h says which). */
static void config_defaults(struct zt_imd_config *c)
{
	c->quota_bytes = or_default(c->quota_bytes, 64ULL << 30);
	c->quota_packets = or_default(c->quota_packets, 64ULL << 20);
	c->relay_burst = (uint32_t)or_default(c->relay_burst, relay_burst_for(c->relay_rate));
	c->start_margin = or_default(c->start_margin, 50 * ZT_MS);
	c->orphan_grace = or_default(c->orphan_grace, 30 * ZT_SEC);
	c->rehome_grace = or_default(c->rehome_grace, 50 * ZT_SEC);
	c->idle_timeout = or_default(c->idle_timeout, 75 * ZT_SEC);
	c->hello_timeout = or_default(c->hello_timeout, 10 * ZT_SEC);
	c->max_clients = or_default(c->max_clients, 10000);
	c->retry_half_open = or_default(c->retry_half_open, 100);
	c->retry_half_open_source = or_default(c->retry_half_open_source, 4);
	c->retry_token_lifetime = or_default(c->retry_token_lifetime, 10 * ZT_SEC);
	c->half_open_max = or_default(c->half_open_max, 1000);
	c->half_open_per_source = or_default(c->half_open_per_source, 32);
	c->handshake_timeout = or_default(c->handshake_timeout, 10 * ZT_SEC);
	c->logins_per_identity = or_default(c->logins_per_identity, 1);
	c->max_sessions = or_default(c->max_sessions, 1024);
	c->dgram_queue = or_default(c->dgram_queue, 512);
	c->reset_rate = (unsigned)or_default(c->reset_rate, 100);
	c->open_rate = (unsigned)or_default(c->open_rate, 20);
	c->open_burst = (unsigned)or_default(c->open_burst, 100);
	c->max_held = or_default(c->max_held, 32);
	c->max_held_total = or_default(c->max_held_total, 10000);
	c->busy_hold = or_default(c->busy_hold, 5 * ZT_SEC);
	c->ctrl_rate = (unsigned)or_default(c->ctrl_rate, 200);
	c->ctrl_burst = (unsigned)or_default(c->ctrl_burst, 1000);
	c->ctrl_busy = or_default(c->ctrl_busy, 64 * 1024);
	c->ctrl_stall = or_default(c->ctrl_stall, 30 * ZT_SEC);
	c->link_max_sessions = or_default(c->link_max_sessions, 100000);
	c->link_idle = or_default(c->link_idle, 10 * ZT_SEC);
}

int zt_imd_new(struct zt_imd **ret, const struct zt_imd_config *cfg, uint64_t now)
{
	struct zt_imd *imd;
	int rc;

	if (!cfg->tls || !cfg->rng || !cfg->policy || zt_tls_ctx_side(cfg->tls) != ZT_TLS_SERVER)
		return -EINVAL;
	/* Token buckets count in 1e-9 units: rates and bursts up to a million fit. */
	if (cfg->open_rate > ZT_IMD_RATE_MAX || cfg->open_burst > ZT_IMD_RATE_MAX ||
	    cfg->ctrl_rate > ZT_IMD_RATE_MAX || cfg->ctrl_burst > ZT_IMD_RATE_MAX ||
	    cfg->ctrl_busy > ZT_IMD_CTRL_BUSY_MAX ||
	    (cfg->stun_port && cfg->stun_port == cfg->listen.port) ||
	    (cfg->relay_burst && cfg->relay_burst < ZT_IMD_RELAY_BURST_MIN))
		return -EINVAL;
	imd = calloc(1, sizeof(*imd));
	if (!imd)
		return -ENOMEM;
	imd->cfg = *cfg;
	zt_timerheap_init(&imd->timers);
	zt_timerheap_init(&imd->otimers);
	config_defaults(&imd->cfg);
	imd->started = now;
	rc = zt_hmap_init(&imd->sessions, 6);
	if (rc < 0)
		goto out_free;
	rc = zt_hmap_init(&imd->tcp, 4);
	if (rc < 0)
		goto out_free;
	rc = zt_hmap_init(&imd->xsessions, 4);
	if (rc < 0)
		goto out_free;
	rc = zt_quic_cidmap_new(&imd->map, cfg->rng);
	if (rc < 0)
		goto out_free;
	/* Not drawn from the rng (the simulator replays its runs with the draws they
	 * make): a weak seed, but chains are bounded by half_open_max anyway. */
	rc = zt_srccount_new(&imd->half_src, (uint64_t)(uintptr_t)imd ^ now);
	if (rc < 0)
		goto out_free;
	if (cfg->tun_pool4.family &&
	    ((cfg->tun_pool4.family != AF_INET && (rc = -EINVAL)) ||
	     (rc = zt_addrpool_new(&imd->pool4, &cfg->tun_pool4, cfg->tun_plen4)) < 0))
		goto out_free;
	if (cfg->tun_pool6.family &&
	    ((cfg->tun_pool6.family != AF_INET6 && (rc = -EINVAL)) ||
	     (rc = zt_addrpool_new(&imd->pool6, &cfg->tun_pool6, cfg->tun_plen6)) < 0))
		goto out_free;
	stun_init(imd, now);
	if (!cfg->relay_channel_off && !(imd->chanq = calloc(CHAN_QUEUE, sizeof(*imd->chanq)))) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (cfg->reset_key && cfg->reset_key_len >= 16) {
		/* Any length in, 32 bytes kept. */
		gnutls_hash_fast(GNUTLS_DIG_SHA256, cfg->reset_key, cfg->reset_key_len, imd->reset_key);
		imd->have_reset_key = true;
		/* Tokens outlive a restart with the same key (quic/retry.c derives its own). */
		rc = zt_quic_retry_new(&imd->retry, imd->reset_key, sizeof(imd->reset_key));
		if (rc < 0)
			goto out_free;
	}
	imd->cfg.reset_key = NULL;
	imd->qcfg = (struct zt_quic_config){
		.tls = cfg->tls,
		.rng = cfg->rng,
		.cidmap = imd->map,
		.max_udp_payload = ZT_QUIC_OUTER_UDP_PAYLOAD,
		.idle_timeout = imd->cfg.idle_timeout,
		.handshake_timeout = imd->cfg.handshake_timeout,
		.dgram_queue = imd->cfg.dgram_queue,
		/* Control only: small stream windows. */
		.stream_window = 64 * 1024,
		.stream_window_max = 256 * 1024,
		.conn_window = 128 * 1024,
		.conn_window_max = 512 * 1024,
		.max_streams_bidi = 4,
		.stream_sndbuf = 128 * 1024,
		.release_tls = true, /* the identity is all it asks of TLS afterwards */
		.reset_token = imd->have_reset_key ? reset_token : NULL,
		.reset_arg = imd,
	};
	*ret = imd;
	return 0;

out_free:
	free(imd->chanq);
	zt_srccount_free(imd->half_src);
	zt_addrpool_free(imd->pool4);
	zt_addrpool_free(imd->pool6);
	zt_quic_cidmap_free(imd->map);
	zt_hmap_fini(&imd->sessions);
	zt_hmap_fini(&imd->tcp);
	zt_hmap_fini(&imd->xsessions);
	free(imd);
	return rc;
}

static void session_free_node(struct zt_hnode *n, void *imd)
{
	session_free(imd, zt_hmap_entry(n, struct session, hnode));
}

void zt_imd_free(struct zt_imd *imd)
{
	if (!imd)
		return;
	/* Quietly: no CLOSE messages to clients that are being freed too. */
	zt_hmap_take_if(&imd->sessions, NULL, NULL, session_free_node, imd);
	while (imd->clients)
		client_free(imd->clients);
	while (imd->held) {
		struct held *h = imd->held;
		held_remove(imd, h);
		free(h);
	}
	zt_quic_cidmap_free(imd->map);
	zt_quic_retry_free(imd->retry);
	free(imd->chanq);
	zt_srccount_free(imd->half_src);
	zt_addrpool_free(imd->pool4);
	zt_addrpool_free(imd->pool6);
	zt_timerheap_fini(&imd->timers);
	zt_timerheap_fini(&imd->otimers);
	zt_hmap_fini(&imd->sessions);
	zt_hmap_fini(&imd->tcp);
	zt_hmap_fini(&imd->xsessions);
	free(imd);
}

/* Receiving. */

static void raw_push(struct zt_imd *imd, const struct zt_addr *local, const struct zt_addr *remote,
		     const uint8_t *data, size_t len)
{
	struct raw *r;

	if (imd->raw_len == RAWQ_LEN || len > RAW_MAX)
		return;
	r = &imd->rawq[(imd->raw_head + imd->raw_len) % RAWQ_LEN];
	r->local = *local;
	r->remote = *remote;
	r->len = len;
	memcpy(r->data, data, len);
	imd->raw_len++;
}

/* Stateless answers (resets, INVALID_TOKEN closes) take from one budget per second. */
static bool stateless_budget(struct zt_imd *imd, uint64_t now)
{
	if (now >= imd->reset_window + ZT_SEC) {
		imd->reset_window = now;
		imd->reset_count = 0;
	}
	return imd->reset_count < imd->cfg.reset_rate;
}

static void stateless_reset(struct zt_imd *imd, uint64_t now, const struct zt_addr *local,
			    const struct zt_addr *from, const uint8_t *pkt, size_t len)
{
	const uint8_t *dcid;
	size_t dlen;
	uint8_t token[16], out[64];
	int n;

	if (!imd->have_reset_key || (pkt[0] & 0x80) || zt_quic_pkt_dcid(pkt, len, &dcid, &dlen) < 0 ||
	    !stateless_budget(imd, now))
		return;
	reset_token(imd, dcid, dlen, token);
	n = zt_quic_write_stateless_reset(out, sizeof(out), token, len, imd->cfg.rng);
	if (n <= 0)
		return;
	imd->reset_count++;
	imd->st.resets_sent++;
	raw_push(imd, local, from, out, (size_t)n);
}

/* A new client, counted as half-open from its source (not yet listed). */
static struct client *client_new(struct zt_imd *imd, uint64_t now, const struct zt_addr *src)
{
	struct client *c;

	/* A timer slot for every client, so that rearming never allocates. */
	if (zt_timerheap_reserve(&imd->timers, imd->nclients + 1) < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (zt_srccount_inc(imd->half_src, src) < 0) {
		free(c);
		return NULL;
	}
	c->imd = imd;
	c->half_open = true;
	c->src = *src;
	imd->half_open++;
	zt_timerheap_entry_init(&c->timer);
	c->id = zt_rng_u64(imd->cfg.rng) | 1;
	bucket_init(&c->open_bucket, now, imd->cfg.open_burst);
	bucket_init(&c->ctrl_bucket, now, imd->cfg.ctrl_burst);
	c->relay_rate = imd->cfg.relay_rate;
	c->relay_burst = imd->cfg.relay_burst;
	c->max_sessions = imd->cfg.max_sessions;
	if (c->relay_rate)
		zt_tokens_init(&c->relay_tokens, c->relay_rate, c->relay_burst, now);
	c->observed = *src;
	c->hello_deadline = ZT_TIME_NEVER;
	c->created = now;
	return c;
}

static void client_list(struct zt_imd *imd, struct client *c)
{
	ZT_LIST_PUSH(imd->clients, c, prev, next);
	imd->nclients++;
	imd->st.accepted++;
	mark_dirty(c);
	client_rearm(c);
}

/* A client's first Initial: a connection. */
static void accept_client(struct zt_imd *imd, uint64_t now, const struct zt_quic_path *path,
			  const uint8_t *pkt, size_t len, const struct zt_quic_retried *retried)
{
	struct zt_quic_config qc = imd->qcfg;
	struct client *c = client_new(imd, now, &path->remote);
	char label[64];
	int rc;

	if (!c)
		return;
	if (imd->cfg.qlog_open && imd->cfg.qlog_write) {
		snprintf(label, sizeof(label), "outer-%016" PRIx64, c->id);
		c->qlog = imd->cfg.qlog_open(imd->cfg.qlog_arg, label);
		if (c->qlog) {
			qc.qlog = imd->cfg.qlog_write;
			qc.qlog_arg = c->qlog;
		}
	}
	rc = zt_outer_accept_quic(&c->outer, &qc, path, pkt, len, retried, &outer_cb, c, now);
	if (rc < 0) {
		imd->st.accept_failed++;
		if (c->qlog)
			imd->cfg.qlog_write(c->qlog, "", 0, true);
		half_open_end(c);
		free(c);
		return;
	}
	client_list(imd, c);
}

/* A refused first Initial is counted; a warning at most every LIMIT_LOG_EVERY. */
static void limit_hit(struct zt_imd *imd, uint64_t now, uint64_t *counter, const char *limit,
		      const struct zt_addr *from)
{
	char a[ZT_ADDR_STRLEN];

	(*counter)++;
	imd->limit_hits++;
	if (imd->limit_logged && now < imd->limit_log_at + LIMIT_LOG_EVERY)
		return;
	LOG(imd, ZT_NODE_WARN, "connection_refused",
	    "limit=%s source=%s refused=%" PRIu64 " half_open=%zu clients=%zu", limit,
	    zt_addr_str(from, a), imd->limit_hits, imd->half_open, imd->nclients);
	imd->limit_logged = true;
	imd->limit_log_at = now;
	imd->limit_hits = 0;
}

/* The Retry key: from the reset key (zt_imd_new), else drawn when first needed. */
static struct zt_quic_retry *retry_ctx(struct zt_imd *imd)
{
	uint8_t secret[32];

	if (!imd->retry) {
		zt_rng_fill(imd->cfg.rng, secret, sizeof(secret));
		zt_quic_retry_new(&imd->retry, secret, sizeof(secret));
		explicit_bzero(secret, sizeof(secret));
	}
	return imd->retry;
}

static bool want_retry(const struct zt_imd *imd, const struct zt_addr *from)
{
	return imd->cfg.retry == ZT_IMD_RETRY_ALWAYS ||
	       imd->half_open >= imd->cfg.retry_half_open ||
	       zt_srccount_get(imd->half_src, from) >= imd->cfg.retry_half_open_source;
}

/* RFC 9000 s8.1.2: the Retry, and nothing kept. */
static void send_retry(struct zt_imd *imd, uint64_t now, const struct zt_quic_path *path,
		       const struct zt_quic_initial *ini)
{
	struct zt_quic_retry *r = retry_ctx(imd);
	uint8_t out[ZT_QUIC_RETRY_MAX];
	int n;

	if (!r || (n = zt_quic_retry_write(r, now, imd->cfg.rng, &path->remote, ini, out,
					   sizeof(out))) <= 0)
		return;
	imd->st.retry_sent++;
	raw_push(imd, &path->local, &path->remote, out, (size_t)n);
}

/* s8.1.3: a token that does not verify ends the attempt at once, statelessly. */
static void bad_token(struct zt_imd *imd, uint64_t now, const struct zt_quic_path *path,
		      const struct zt_quic_initial *ini, int why)
{
	uint8_t out[ZT_QUIC_INVALID_TOKEN_MAX];
	char a[ZT_ADDR_STRLEN];
	int n;

	imd->st.retry_bad_token++;
	LOG(imd, ZT_NODE_DEBUG, "retry_token_refused", "remote=%s reason=\"%s\"",
	    zt_addr_str(&path->remote, a), zt_strerror(why));
	if (!stateless_budget(imd, now))
		return;
	n = zt_quic_write_invalid_token(ini, out, sizeof(out));
	if (n <= 0)
		return;
	imd->reset_count++;
	raw_push(imd, &path->local, &path->remote, out, (size_t)n);
}

/*
 * A first Initial (no connection has its destination ID): address validation, then
 * the limits on clients and half-open clients, then a connection.
 */
static void admit(struct zt_imd *imd, uint64_t now, const struct zt_quic_path *path,
		  const uint8_t *pkt, size_t len)
{
	struct zt_quic_initial ini;
	struct zt_quic_retried rt, *retried = NULL;
	uint8_t odcid[ZT_QUIC_CID_MAX];
	size_t olen;
	int rc;

	if (imd->nclients >= imd->cfg.max_clients) {
		limit_hit(imd, now, &imd->st.refused_full, "max-clients", &path->remote);
		return;
	}
	if (zt_quic_initial_parse(pkt, len, &ini) < 0) {
		imd->st.accept_failed++;
		return;
	}
	if (ini.token_len) {
		rc = retry_ctx(imd) ? zt_quic_retry_check(imd->retry, now, imd->cfg.retry_token_lifetime,
							  &path->remote, &ini, odcid, &olen)
				    : -ENOMEM;
		if (rc < 0) {
			bad_token(imd, now, path, &ini, rc);
			return;
		}
		imd->st.retry_validated++;
		rt = (struct zt_quic_retried){ .odcid = odcid, .odcid_len = olen,
					       .token = ini.token, .token_len = ini.token_len };
		retried = &rt;
	} else if (want_retry(imd, &path->remote)) {
		send_retry(imd, now, path, &ini);
		return;
	}
	if (imd->half_open >= imd->cfg.half_open_max) {
		limit_hit(imd, now, &imd->st.refused_half_open, "half-open-max", &path->remote);
		return;
	}
	if (zt_srccount_get(imd->half_src, &path->remote) >= imd->cfg.half_open_per_source) {
		limit_hit(imd, now, &imd->st.refused_source, "half-open-per-source", &path->remote);
		return;
	}
	accept_client(imd, now, path, pkt, len, retried);
}

/* Deadlines that are ours, not the connection's: HELLO due, delayed close. */
static void client_timers(struct client *c, uint64_t now)
{
	if (c->link_out && c->state == C_WAIT_HELLO && now >= c->hello_deadline) {
		link_fail(c, now, "no WELCOME in time");
	} else if (c->state == C_WAIT_HELLO && now >= c->hello_deadline) {
		LOG(c->imd, ZT_NODE_WARN, "auth_failed", "remote=%s reason=no-hello",
		    zt_addr_str(&c->observed, (char[ZT_ADDR_STRLEN]){ 0 }));
		c->imd->st.auth_failed++;
		c->imd->st.half_open_expired++;
		reject(c, now, ZT_ETIMEOUT, "no HELLO in time");
	}
	if ((c->state == C_REJECTED || c->close_pending) && now >= c->close_at) {
		client_gone(c, c->close_text);
		c->close_pending = false;
		zt_outer_close(c->outer, now, c->close_code, c->close_text);
		mark_dirty(c);
	}
	ctrl_progress(c, now);
}

int zt_imd_recv(struct zt_imd *imd, uint64_t now, const struct zt_addr *local,
		const struct zt_addr *from, const uint8_t *pkt, size_t len)
{
	struct zt_quic_path path;
	struct zt_quic_conn *conn;
	struct client *c;
	bool stun_port;

	if (!local->family || !from->family)
		return -EINVAL;
	stun_port = imd->have_stun2 && local->port == imd->cfg.stun_port;
	imd->now = now;
	imd->st.dgrams_in++;
	if (len == 0) {
		imd->st.dropped_garbage++;
		return 0;
	}
	if (pkt[0] < 4 || stun_port) {
		/* RFC 9443: STUN; the second port takes nothing else */
		uint8_t out[ZT_STUN_SERVER_MAX_RESPONSE];
		unsigned ep;
		int n = pkt[0] >= 4 ? ZT_ESTUN_NOTSTUN
			: stun_port ? zt_stun_server_handle(&imd->stun2, 0, from, pkt, len, out,
							     sizeof(out), &ep)
			: imd->have_stun ? zt_stun_server_handle(&imd->stun, 0, from, pkt, len, out,
								 sizeof(out), &ep)
			: ZT_ESTATE;
		if (n > 0 && !zt_check_budget_take(&imd->stun_budget, NULL, now, from)) {
			/* a source can be spoofed: not a reflector towards any one victim */
			imd->st.stun_limited++;
		} else if (n > 0) {
			imd->st.stun_answered++;
			raw_push(imd, local, from, out, (size_t)n);
		} else {
			imd->st.stun_dropped++;
		}
		return 0;
	}
	if (zt_relay_is_chan(pkt, len)) {
		relay_chan(imd, from, pkt, len);
		return 0;
	}
	if (!(pkt[0] & 0x40)) {
		imd->st.dropped_garbage++;
		return 0;
	}
	path = (struct zt_quic_path){ .local = *local, .remote = *from };
	conn = zt_quic_cidmap_lookup_pkt(imd->map, pkt, len);
	if (!conn) {
		if (zt_quic_pkt_is_initial(pkt, len)) {
			admit(imd, now, &path, pkt, len);
		} else {
			imd->st.dropped_unknown++;
			stateless_reset(imd, now, local, from, pkt, len);
		}
		return 0;
	}
	c = zt_outer_arg(zt_quic_conn_arg(conn));
	if (c->link_out)
		path.local = c->link_local; /* the address it was opened from (may be a wildcard) */
	if (zt_quic_conn_recv(conn, now, &path, pkt, len) == ZT_EMALFORMED)
		imd->st.dropped_conn++;
	/* Messages read during the call were handled by the readable callback. Closed
	 * connections are freed by poll_send and on_timeout. */
	mark_dirty(c);
	client_timers(c, now);
	check_client(c);
	client_rearm(c);
	return 0;
}

int zt_imd_poll_send(struct zt_imd *imd, uint64_t now, uint8_t *buf, size_t cap,
		     struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	struct zt_quic_path path;

	if (cap < ZT_QUIC_OUTER_UDP_PAYLOAD)
		return -ENOBUFS;
	imd->now = now;
	if (imd->raw_len) {
		struct raw *r = &imd->rawq[imd->raw_head];
		memcpy(buf, r->data, r->len);
		*ret_local = r->local;
		*ret_remote = r->remote;
		imd->raw_head = (imd->raw_head + 1) % RAWQ_LEN;
		imd->raw_len--;
		imd->st.dgrams_out++;
		return (int)r->len;
	}
	if (imd->chan_len) {
		struct chan_out *q = &imd->chanq[imd->chan_head];
		memcpy(buf, q->data, q->len);
		*ret_local = q->local;
		*ret_remote = q->remote;
		imd->chan_head = (imd->chan_head + 1) % CHAN_QUEUE;
		imd->chan_len--;
		imd->st.dgrams_out++;
		return (int)q->len;
	}
	while (imd->dhead) {
		struct client *c = imd->dhead;
		int n = zt_quic_conn_poll_send(zt_outer_quic(c->outer), now, buf, cap, &path);

		client_rearm(c);
		if (n > 0) {
			*ret_local = path.local;
			*ret_remote = path.remote;
			imd->st.dgrams_out++;
			return n;
		}
		unmark_dirty(c);
		check_client(c);
		if (zt_outer_state(c->outer) == ZT_QUIC_CLOSED)
			client_free(c);
	}
	return 0;
}

uint64_t zt_imd_next_deadline(const struct zt_imd *imd)
{
	uint64_t t = zt_timerheap_next(&imd->timers);

	if (imd->held && imd->held_next < t)
		t = imd->held_next;
	if (zt_timerheap_next(&imd->otimers) < t)
		t = zt_timerheap_next(&imd->otimers);
	return t;
}

/* Held OPENs past their deadline: ERROR 1502 (no connector registered) or 1510 (the
 * connectors stayed backed up). */
static void held_expire(struct zt_imd *imd, uint64_t now)
{
	char text[ZT_CTRL_STR_MAX + 1];
	struct held *h, *next;

	imd->held_next = 0;
	for (h = imd->held; h; h = next) {
		next = h->next;
		if (now < h->deadline) {
			if (!imd->held_next || h->deadline < imd->held_next)
				imd->held_next = h->deadline;
			continue;
		}
		held_remove(imd, h);
		if (h->busy) {
			imd->st.open_busy++;
			snprintf(text, sizeof(text),
				 "the connector for %.150s is busy (not reading): try again later", h->service);
			refuse_open(h->agent, h->request_id, h->service, ZT_EBUSY, "connector-busy", text);
		} else {
			struct zt_ctrl_open o = { .request_id = h->request_id };
			struct zt_imd_where w;
			snprintf(o.service, sizeof(o.service), "%s", h->service);
			if (!open_elsewhere(imd, h->agent, now, &o, &w))
				refuse_nowhere(imd, h->agent, &o, &w);
		}
		free(h);
	}
}

/* The orphans whose deadline came: each looks for its connector again or expires.
 * Taken off the heap by id, a batch at a time, and found again before each is
 * handled: handling one may end others. Each handled one leaves the heap or is due
 * later than now, so this ends. */
static void orphans_due(struct zt_imd *imd, uint64_t now)
{
	struct zt_timerheap_entry *top;
	uint32_t ids[64];
	size_t n;
	struct session *s;

	do {
		for (n = 0; n < 64 && (top = zt_timerheap_top(&imd->otimers)) && top->at <= now; n++) {
			s = (struct session *)((char *)top - offsetof(struct session, otimer));
			zt_timerheap_remove(&imd->otimers, top);
			ids[n] = s->id;
		}
		for (size_t i = 0; i < n; i++) {
			if (!(s = session_find(imd, ids[i])) || !s->orphan_until ||
			    zt_timerheap_contains(&s->otimer))
				continue;
			if (now < s->orphan_until) {
				if (s->rehoming && !s->end[1] && now >= s->rehome_at)
					rehome_try(imd, s, now);
				orphan_rearm(imd, s);
				continue;
			}
			imd->st.orphans_expired++;
			session_end(imd, s, NULL, ZT_EPEER, "the other end disconnected");
		}
	} while (n == 64);
}

void zt_imd_on_timeout(struct zt_imd *imd, uint64_t now)
{
	struct zt_timerheap_entry *top;
	struct client *due = NULL, *c;

	imd->now = now;
	/* Take the clients due off the heap first: each is handled once per call. */
	while ((top = zt_timerheap_top(&imd->timers)) && top->at <= now) {
		c = (struct client *)((char *)top - offsetof(struct client, timer));
		zt_timerheap_remove(&imd->timers, top);
		c->due_next = due;
		due = c;
	}
	while ((c = due)) {
		due = c->due_next;
		if (zt_outer_next_deadline(c->outer) <= now) {
			zt_outer_on_timeout(c->outer, now);
			mark_dirty(c);
		}
		client_timers(c, now);
		check_client(c);
		/* a TCP client is freed when the shell has closed its socket */
		if (zt_outer_state(c->outer) == ZT_QUIC_CLOSED && !c->tcp_id)
			client_free(c);
		else
			client_rearm(c);
	}
	orphans_due(imd, now);
	if (imd->held && now >= imd->held_next)
		held_expire(imd, now);
}

void zt_imd_close_all(struct zt_imd *imd, const char *reason)
{
	for (struct client *c = imd->clients; c; c = c->next) {
		client_gone(c, reason);
		zt_outer_close(c->outer, imd->now, 0, reason);
		mark_dirty(c);
	}
}

/* TCP clients (the shell's listener). */

static bool same_tcp(const struct zt_hnode *n, const void *id)
{
	return zt_hmap_entry(n, struct client, tcp_node)->tcp_id == *(const uint64_t *)id;
}

static struct client *tcp_find(const struct zt_imd *imd, uint64_t id)
{
	struct zt_hnode *n = *zt_hmap_slot(&imd->tcp, id, same_tcp, &id);

	return n ? zt_hmap_entry(n, struct client, tcp_node) : NULL;
}

int zt_imd_tcp_accept(struct zt_imd *imd, uint64_t now, const struct zt_addr *local,
		      const struct zt_addr *remote, uint64_t *ret_id)
{
	struct zt_quic_path path = { .local = *local, .remote = *remote };
	struct zt_tcpouter_config tc = {
		.tls = imd->cfg.tls_tcp,
		.handshake_timeout = imd->cfg.handshake_timeout,
		.idle_timeout = imd->cfg.idle_timeout,
		.dgram_high = imd->cfg.dgram_queue * 1400,
	};
	struct client *c;
	int rc;

	imd->now = now;
	if (!tc.tls)
		return -EINVAL;
	if (imd->nclients >= imd->cfg.max_clients) {
		limit_hit(imd, now, &imd->st.refused_full, "max-clients", remote);
		return -EBUSY;
	}
	if (imd->half_open >= imd->cfg.half_open_max) {
		limit_hit(imd, now, &imd->st.refused_half_open, "half-open-max", remote);
		return -EBUSY;
	}
	if (zt_srccount_get(imd->half_src, remote) >= imd->cfg.half_open_per_source) {
		limit_hit(imd, now, &imd->st.refused_source, "half-open-per-source", remote);
		return -EBUSY;
	}
	c = client_new(imd, now, remote);
	if (!c)
		return -ENOMEM;
	rc = zt_outer_new_tcp(&c->outer, &tc, &path, &outer_cb, c, now);
	if (rc < 0) {
		imd->st.accept_failed++;
		half_open_end(c);
		free(c);
		return rc;
	}
	c->tcp_id = ++imd->next_tcp_id;
	zt_hmap_link(&imd->tcp, zt_hmap_slot(&imd->tcp, c->tcp_id, same_tcp, &c->tcp_id),
		     &c->tcp_node, c->tcp_id);
	imd->st.tcp_accepted++;
	client_list(imd, c);
	*ret_id = c->tcp_id;
	return 0;
}

/* After a call into a TCP client's connection, as zt_imd_recv does for QUIC. */
static void tcp_after(struct client *c, uint64_t now)
{
	mark_dirty(c);
	client_timers(c, now);
	check_client(c);
	client_rearm(c);
}

int zt_imd_tcp_recv(struct zt_imd *imd, uint64_t now, uint64_t id, const uint8_t *data,
		    size_t len)
{
	struct client *c = tcp_find(imd, id);
	size_t n;

	if (!c)
		return -ENOENT;
	imd->now = now;
	n = zt_tcpouter_feed(zt_outer_tcp(c->outer), now, data, len);
	tcp_after(c, now);
	return (int)n;
}

int zt_imd_tcp_output(struct zt_imd *imd, uint64_t id, const uint8_t **ret)
{
	struct client *c = tcp_find(imd, id);
	size_t n;

	if (!c)
		return -ENOENT;
	n = zt_tcpouter_output(zt_outer_tcp(c->outer), ret);
	if (!n && zt_outer_state(c->outer) == ZT_QUIC_CLOSED)
		return -ENOTCONN;
	return (int)n;
}

void zt_imd_tcp_sent(struct zt_imd *imd, uint64_t now, uint64_t id, size_t n)
{
	struct client *c = tcp_find(imd, id);

	if (!c)
		return;
	imd->now = now;
	zt_tcpouter_sent(zt_outer_tcp(c->outer), now, n);
	client_timers(c, now);
	check_client(c);
	client_rearm(c);
	/* the shell asks again only when there is more: what is left, or the end */
	if (zt_tcpouter_queued(zt_outer_tcp(c->outer)) || zt_outer_state(c->outer) == ZT_QUIC_CLOSED)
		mark_dirty(c);
}

void zt_imd_tcp_closed(struct zt_imd *imd, uint64_t now, uint64_t id, int err)
{
	struct client *c = tcp_find(imd, id);

	if (!c)
		return;
	imd->now = now;
	zt_tcpouter_eof(zt_outer_tcp(c->outer), now, err, NULL);
	check_client(c);
	client_free(c);
}

int zt_imd_tcp_next(struct zt_imd *imd, uint64_t *ret_id)
{
	struct client *c = imd->thead;

	if (!c)
		return 0;
	unmark_dirty(c);
	*ret_id = c->tcp_id;
	return 1;
}

void zt_imd_nat_seen(const struct zt_imd *imd, uint32_t mapping[ZT_IMD_NAT_KINDS],
		     uint32_t ports[ZT_IMD_NAT_KINDS])
{
	memset(mapping, 0, ZT_IMD_NAT_KINDS * sizeof(*mapping));
	memset(ports, 0, ZT_IMD_NAT_KINDS * sizeof(*ports));
	for (const struct client *c = imd->clients; c; c = c->next) {
		if (c->state != C_READY)
			continue;
		mapping[c->nat_mapping]++;
		ports[c->nat_ports]++;
	}
}

void zt_imd_stats(const struct zt_imd *imd, struct zt_imd_stats *ret)
{
	*ret = imd->st;
	ret->clients = imd->nclients;
	ret->sessions = imd->sessions.n;
	ret->held_now = imd->nheld;
	ret->authenticated = imd->nready;
	ret->half_open = imd->half_open;
	ret->half_open_sources = zt_srccount_sources(imd->half_src);
	if (imd->cfg.relaytab)
		zt_relaytab_forwarded(imd->cfg.relaytab, &ret->relay_worker_pkts,
				      &ret->relay_worker_bytes);
}

int zt_imd_session_info(const struct zt_imd *imd, uint32_t id, struct zt_imd_session_info *ret)
{
	const struct session *s = session_find(imd, id);

	if (!s)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	ret->id = s->id;
	snprintf(ret->service, sizeof(ret->service), "%s", s->service);
	snprintf(ret->agent, sizeof(ret->agent), "%.95s", s->ident[0]);
	snprintf(ret->connector, sizeof(ret->connector), "%.95s", s->ident[1]);
	ret->relay_pkts = zt_relay_count_pkts(&s->count);
	ret->relay_bytes = zt_relay_count_bytes(&s->count);
	ret->quota_bytes = s->quota_bytes;
	ret->quota_packets = s->quota_pkts;
	ret->dropped_quota = s->dropped_quota;
	ret->dropped_rate = s->dropped_rate;
	ret->started = s->started;
	ret->generation = s->started_gen;
	ret->direct = s->direct;
	ret->orphan = !s->end[0] || !s->end[1];
	return 0;
}

size_t zt_imd_clients(const struct zt_imd *imd, struct zt_imd_client_info *ret, size_t cap)
{
	size_t n = 0;

	for (const struct client *c = imd->clients; c; c = c->next) {
		struct zt_imd_client_info *i;
		if (c->state != C_READY)
			continue;
		if (n++ >= cap)
			continue;
		i = &ret[n - 1];
		*i = (struct zt_imd_client_info){
			.id = c->id,
			.connector = c->role == ZT_CTRL_ROLE_CONNECTOR,
			.link = c->role == ZT_CTRL_ROLE_INTERMEDIATE,
			.tcp = c->tcp_id != 0,
			.chan = c->chan,
			.remote = c->observed,
			.connected_at = c->created,
			.login_at = c->login_at,
			.sessions = c->nsessions,
			.relay_dropped_rate = c->relay_dropped,
		};
		snprintf(i->identity, sizeof(i->identity), "%s", c->identity);
		services_text(c, i->services, sizeof(i->services));
	}
	return n;
}

void zt_imd_each_client(const struct zt_imd *imd,
			void (*fn)(void *arg, bool connector, const char *name,
				   const struct zt_addr *remote, uint64_t login_at,
				   uint64_t login_floor),
			void *arg)
{
	for (const struct client *c = imd->clients; c; c = c->next)
		if (c->state == C_READY && c->role != ZT_CTRL_ROLE_INTERMEDIATE)
			fn(arg, c->role == ZT_CTRL_ROLE_CONNECTOR, c->name, &c->observed,
			   c->login_at, c->login_floor);
}

size_t zt_imd_retire_identity(struct zt_imd *imd, uint64_t now, bool connector, const char *name,
			      const char *text)
{
	uint8_t role = connector ? ZT_CTRL_ROLE_CONNECTOR : ZT_CTRL_ROLE_AGENT;
	size_t n = 0;

	imd->now = now;
	if (imd->cfg.logins_per_identity > 1)
		return 0;
	for (struct client *c = imd->clients; c; c = c->next) {
		if (c->state != C_READY || c->role != role || strcmp(c->name, name))
			continue;
		imd->st.replaced++;
		LOG(imd, ZT_NODE_INFO, "client_replaced", "identity=%s old_client=%016" PRIx64
		    " why=\"%s\"", c->identity, c->id, text);
		c->lost = true; /* it went on elsewhere: its sessions wait for it */
		retire(c, now, ZT_EREPLACED, text);
		mark_dirty(c);
		n++;
	}
	return n;
}

struct id_walk {
	uint32_t *ids;
	size_t cap, n;
};

static bool collect_id(const struct zt_hnode *node, void *arg)
{
	struct id_walk *w = arg;

	if (w->n < w->cap)
		w->ids[w->n] = zt_hmap_entry(node, struct session, hnode)->id;
	w->n++;
	return true;
}

size_t zt_imd_session_ids(const struct zt_imd *imd, uint32_t *ret, size_t cap)
{
	struct id_walk w = { .ids = ret, .cap = cap };

	zt_hmap_walk(&imd->sessions, collect_id, &w);
	return w.n;
}

/* Reload. */

static enum zt_pki_kind client_kind(const struct client *c)
{
	return c->role == ZT_CTRL_ROLE_AGENT ? ZT_PKI_AGENT : ZT_PKI_CONNECTOR;
}

/* c's sessions the policy no longer allows end (all of them when all is set). */
static size_t end_disallowed(struct zt_imd *imd, struct client *c, bool all, const char *text)
{
	const struct zt_policy *pol = imd->cfg.policy;
	struct session *s = c->sessions, *next;
	size_t n = 0;

	for (; s; s = next) {
		int i = end_index(s, c);
		next = i >= 0 ? s->lnext[i] : NULL;
		if (!all && (i != 0 || zt_policy_allows(pol, c->name, s->service)) &&
		    (i != 1 || zt_policy_may_serve(pol, c->name, s->service)))
			continue;
		session_end(imd, s, NULL, ZT_EPOLICY, text);
		n++;
	}
	return n;
}

/* A link's sessions (theirs: another Intermediate's agents with our connectors)
 * whose agent the policy no longer knows or lets reach the service end. */
static size_t end_link_disallowed(struct zt_imd *imd, struct client *l)
{
	const struct zt_policy *pol = imd->cfg.policy;
	struct session *s = l->sessions, *next;
	enum zt_pki_kind kind;
	const char *name;
	size_t n = 0;

	for (; s; s = next) {
		next = s->lnext[0];
		if (s->end[0] != l)
			break; /* not ours: theirs are all agent ends */
		if (zt_pki_identity_parse(s->ident[0], &kind, &name) == 0 &&
		    zt_policy_has_client(pol, ZT_PKI_AGENT, name) &&
		    zt_policy_allows(pol, name, s->service))
			continue;
		session_end(imd, s, NULL, ZT_EPOLICY, "no longer allowed by the policy of the "
			    "connector's Intermediate");
		n++;
	}
	return n;
}

/* A connector's registered services it may no longer serve go. */
static size_t drop_services(struct zt_imd *imd, struct client *c)
{
	uint8_t k = 0;
	size_t dropped = 0;

	for (uint8_t i = 0; c->services && i < c->nservices; i++) {
		if (!zt_policy_may_serve(imd->cfg.policy, c->name, c->services[i])) {
			dropped++;
			continue;
		}
		if (k != i)
			memcpy(c->services[k], c->services[i], sizeof(c->services[0]));
		k++;
	}
	c->nservices = k;
	return dropped;
}

int zt_imd_set_policy(struct zt_imd *imd, uint64_t now, const struct zt_policy *policy,
		      struct zt_imd_reload *ret)
{
	struct zt_imd_reload r = { 0 };
	struct client *c, *next;

	if (!policy)
		return -EINVAL;
	imd->cfg.policy = policy;
	for (c = imd->clients; c; c = next) {
		next = c->next;
		if (c->state != C_READY || c->link_out)
			continue; /* our links' sessions are our agents' */
		if (c->role == ZT_CTRL_ROLE_INTERMEDIATE) {
			r.sessions_ended += end_link_disallowed(imd, c);
			continue;
		}
		if (!zt_policy_has_client(policy, client_kind(c), c->name)) {
			r.sessions_ended += end_disallowed(imd, c, true, "peer revoked (configuration "
							   "reloaded)");
			LOGC(c, ZT_NODE_WARN, "client_revoked", "identity=%s reason=\"no longer in the "
			     "clients list (configuration reloaded)\"", c->identity);
			retire(c, now, ZT_EAUTH, "revoked: no longer in the Intermediate's clients "
			       "list (configuration reloaded)");
			r.clients_revoked++;
			continue;
		}
		r.sessions_ended += end_disallowed(imd, c, false, "no longer allowed by the "
						   "Intermediate's policy (configuration reloaded)");
		if (c->role == ZT_CTRL_ROLE_CONNECTOR)
			r.services_dropped += drop_services(imd, c);
	}
	if (ret)
		*ret = r;
	return 0;
}
