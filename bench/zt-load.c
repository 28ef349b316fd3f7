/*
 * zt-load: a load generator for the Intermediate that speaks the real protocol: outer
 * QUIC with TLS 1.3 and a client certificate (ztna-outer/1), HELLO/WELCOME on the
 * control stream, OPEN/SESSION, relayed DATAGRAMs (node/relay.h). For the memory,
 * idle-cost and relay-rate benchmarks of bench/run.sh. Loopback or lab addresses
 * only; every mode is bounded in count and time.
 *
 *   zt-load clients --to IP:PORT --pki DIR --name NAME --token TOKEN --count N
 *                   [--hold S] [--bind IP] [--bare]
 *       N agents, each its own UDP socket and outer connection (at most 64 handshakes
 *       at a time). When every one is welcomed: "ready clients=N ms=T". Then they stay
 *       idle (PING after 5 s of quiet, as node/peer.c's agents) for --hold seconds:
 *       "idle seconds=S clients=N pkts_tx= pkts_rx= bytes_tx= bytes_rx=" (UDP payload
 *       bytes of all connections). --bare: no control stream, "ready" after the
 *       handshake (the baseline against `bare-server`).
 *   zt-load pairs   (the clients options) --connector NAME --ctoken TOKEN --service SVC
 *                   [--dgrams K] [--pause S]
 *       One connector offering SVC and N agents: "welcomed clients=N+1" once all are
 *       in, --pause seconds later each agent opens a session (OPEN -> SESSION), and K
 *       datagrams go through each session both ways: "ready sessions=N relayed=R
 *       open_ms=T" (T: from the OPENs to the last SESSION); then --hold.
 *       --connector-to IP:PORT: the connector logs in at another Intermediate
 *       (sessions across Intermediates, docs/scale-out.md). --open-at UNIX_MS: the
 *       OPENs go at that wall-clock time instead of --pause after the welcome (at
 *       once, with late=1, if every client was welcomed only after it), so that
 *       several zt-load processes open together; the ready line then has
 *       opens_unix_ms= and done_unix_ms= (wall clock of the OPENs and the last SESSION).
 *   zt-load relay   --to IP:PORT --pki DIR --name NAME --token TOKEN --connector NAME
 *                   --ctoken TOKEN --service SVC [--seconds S] [--size B] [--bind IP]
 *                   [--channel] [--count N]
 *       N agents (default 1) and one connector, a session each; for --seconds each
 *       agent keeps its DATAGRAM queue full with B-byte payloads (relay header
 *       included) and the connector counts what arrives: "relay seconds= size= sent= received= pps=".
 *       --channel: both ask for the relay channel (docs/relay-channel.md) and the
 *       agent sends the payloads as channel datagrams (B + 1 bytes) from its socket
 *       as fast as the socket takes them (64 a system call, UDP GSO); the connector
 *       counts the channel datagrams it gets. Fails when the Intermediate does not
 *       agree to the channel.
 *   zt-load opens   --to IP:PORT --pki DIR --name NAME --token TOKEN --service SVC
 *                   [--count N] [--seconds S] [--bind IP]
 *       N agents (default 1) each send OPENs for SVC nonstop (as fast as the control
 *       stream takes them) for --seconds, and count the answers: "opens sent=
 *       sessions= errors= busy= quota= other= closed= close_code=" (errors by code:
 *       1510, 1503, the rest). A connection the Intermediate closes is counted, not an
 *       error: the adversary test of its OPEN limits (tests/sec/open_flood.sh).
 *   zt-load bare-server --listen IP:PORT --pki DIR [--seconds S]
 *       A QUIC server with the Intermediate's outer transport settings, certificate
 *       and client-certificate check but nothing else: "listening", then on exit
 *       "bare accepted=N".
 *   zt-load initials --to IP:PORT --pki DIR [--name NAME] [--rate R] [--seconds S]
 *                    [--bind IP] [--answer]
 *       A flood of connection attempts from one UDP socket (one source address and
 *       port): R Initials a second (default 1500) for S seconds, each the first
 *       packet of a new client connection (a real ClientHello, fresh connection IDs).
 *       Without --answer nothing that comes back is answered (what a flood from a
 *       spoofed address does). With --answer each attempt lives 3 s as a real client
 *       would (a Retry is followed; with --name the handshake completes with NAME's
 *       agent certificate) but never sends HELLO. At the end: "initials sent=N
 *       rx=M retries=K live_max=L".
 *
 * --pki DIR is a whole 'ztna pki init' tree: zt-load plays several parties and reads
 * each one's bundle (DIR/agent-NAME/, DIR/connector-NAME/, DIR/intermediate/); the
 * programs themselves get only their own bundle.
 *
 * --keep-going (clients): a refused or lost connection (e.g. replaced by a newer
 * login of the same identity) is counted, not fatal; "ready" comes once every
 * connection is welcomed or gone, with welcomed=, refused=, replaced=, lost=.
 *
 * Bounds: N <= 10000, --hold and --seconds <= 3600 (initials: 60), R <= 10000, 60 s
 * (10 ms per connection past 6000) for every connection to be ready. Each connection
 * is a socket: the open-files limit is raised to N + 64 (up to the hard limit). SIGINT/SIGTERM end any mode early (connections
 * are closed). Exit status 0, 1 when the Intermediate refused or lost a connection
 * or time ran out, 2 on usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>

#include "core/ctrl.h"
#include "core/err.h"
#include "core/units.h"
#include "args.h"
#include "io/loop.h"
#include "io/sysrng.h"
#include "io/udp.h"
#include "node/ctrlchan.h"
#include "node/relay.h"
#include "quic/cidmap.h"
#include "quic/conn.h"
#include "quic/pki.h"
#include "quic/tls.h"

#define MAX_COUNT 10000
#define MAX_SECONDS 3600
#define READY_TIMEOUT (60 * ZT_SEC)
#define READY_PER_CONN (10 * ZT_MS) /* past 6000 connections */
#define MAX_HANDSHAKING 64
#define KEEPALIVE (25 * ZT_SEC)   /* node/peer.c's outer_keepalive default */
#define IDLE_TIMEOUT (75 * ZT_SEC) /* node/peer.c's and node/imd.c's idle timeout */
#define RELAY_QUEUE 256        /* DATAGRAMs kept queued while blasting */

#define MAX_RATE 10000
#define MAX_FLOOD_SECONDS 60
#define FLOOD_LIFE 3 /* seconds an --answer attempt lives */
#define FLOOD_TICK (5 * ZT_MS)

enum mode { M_CLIENTS = 1, M_PAIRS, M_RELAY, M_BARE_SERVER, M_OPENS, M_INITIALS };
enum lc_state { LC_NEW = 0, LC_HANDSHAKE, LC_HELLO, LC_READY, LC_DEAD };

struct load;

/* One outer connection of ours, on its own socket. */
struct lc {
	struct load *L;
	struct zt_udp udp;
	struct zt_watch w;
	struct zt_timer t;
	struct zt_quic_conn *conn;
	struct zt_quic_path path;
	struct zt_ctrlchan ch;
	bool connector;
	enum lc_state st;
	uint32_t session;
	uint64_t dgrams_rx;
};

/* A connection attempt of the Initial flood (--answer keeps it FLOOD_LIFE s). */
struct fconn {
	struct load *L;
	struct zt_quic_conn *conn;
	struct zt_timer t;
};

/* The bare server's connections. */
struct bconn {
	struct load *L;
	struct zt_quic_conn *conn;
	struct zt_timer t;
	struct bconn *next;
};

struct load {
	enum mode mode;
	struct zt_loop *loop;
	struct zt_rng rng;
	struct zt_tls_ctx *tls, *ctls; /* agents', the connector's */
	struct zt_addr to, bind;
	struct zt_addr cto;      /* --connector-to: the connector's Intermediate (family 0: to) */
	uint64_t opens_at;       /* pairs: the OPENs went out */
	double open_at;          /* --open-at: wall clock (ms) to send them, 0: --pause */
	double opens_wall, done_wall; /* wall clock (ms) of the OPENs and the last SESSION */
	bool late;               /* --open-at had passed when all were welcomed */
	double open_ms;          /* ... and every SESSION was in this much later */
	const char *name, *token, *cname, *ctoken, *service;
	long count, dgrams;
	double hold, pause, seconds;
	size_t size;
	bool bare;
	bool chan;               /* relay --channel */

	struct lc *lcs;          /* count agents, then the connector (pairs, relay) */
	long nlcs, started, handshaking, ready, sessions;
	int phase;               /* 0 connecting, 1 paused, 2 sessions, 3 holding/blasting */
	uint64_t t0, phase_at;
	struct zt_timer phase_t;
	uint64_t pkts_tx, pkts_rx, bytes_tx, bytes_rx;
	uint64_t relay_sent, relay_full;
	/* opens */
	uint64_t opens_sent, op_sessions, op_errors, op_busy, op_quota, op_other, op_closed;
	uint64_t op_close_code;
	int rc;

	/* bare server */
	struct zt_udp srv;
	struct zt_watch srv_w;
	struct zt_quic_cidmap *map;
	struct zt_quic_config sqc;
	struct bconn *bconns;
	uint64_t accepted;

	/* Initial flood */
	double rate, credit;
	bool answer;
	struct zt_udp fl;
	struct zt_watch fl_w;
	struct zt_timer tick_t;
	struct fconn *ring;
	size_t ring_cap, live, live_max;
	uint64_t seq, fl_start, fl_end, fl_last;
	uint64_t fl_sent, fl_rx, fl_retries, fl_failed;

	/* clients --keep-going */
	bool keep_going;
	long welcomed, refused, replaced, lost;

	uint8_t buf[65536];
};

/* How long every connection (or session) may take to be ready. */
/* The wall clock in milliseconds (--open-at, comparable across processes). */
static double wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static uint64_t ready_timeout(const struct load *L)
{
	uint64_t t = (uint64_t)L->count * READY_PER_CONN;

	return t > READY_TIMEOUT ? t : READY_TIMEOUT;
}

static void finish(struct load *L, int rc)
{
	if (rc && !L->rc)
		L->rc = rc;
	zt_loop_stop(L->loop);
}

static void phase_arm(struct load *L, uint64_t at)
{
	L->phase_at = at;
	zt_timer_set(L->loop, &L->phase_t, at);
}

/* Client side. */

static void lc_flush(struct lc *c, uint64_t now);
static void lc_start(struct lc *c, uint64_t now);
static void open_sessions(struct load *L);

static void send_ctrl(struct lc *c, const struct zt_ctrl_msg *m)
{
	int rc = zt_ctrlchan_send(&c->ch, m);

	if (rc < 0) {
		printf("error what=ctrl_send type=%s err=\"%s\"\n", zt_ctrl_type_name(m->type),
		       zt_strerror(rc));
		finish(c->L, 1);
	}
}

static void start_more(struct load *L, uint64_t now)
{
	while (L->started < L->nlcs && L->handshaking < MAX_HANDSHAKING) {
		/* pairs and relay: the connector (last) first, so OPENs find it */
		long i = L->mode == M_CLIENTS || L->mode == M_OPENS ? L->started
								  : (L->started + L->nlcs - 1) % L->nlcs;
		L->started++;
		lc_start(&L->lcs[i], now);
	}
}

static void all_ready(struct load *L, uint64_t now)
{
	if (L->mode == M_CLIENTS) {
		printf("ready clients=%ld ms=%.1f", L->ready, (double)(now - L->t0) / ZT_MS);
		if (L->keep_going)
			printf(" welcomed=%ld refused=%ld replaced=%ld lost=%ld", L->welcomed,
			       L->refused, L->replaced, L->lost);
		printf("\n");
		L->pkts_tx = L->pkts_rx = L->bytes_tx = L->bytes_rx = 0;
		L->phase = 3;
		phase_arm(L, now + (uint64_t)(L->hold * ZT_SEC));
	} else if (L->mode == M_PAIRS) {
		double wait_ms = L->open_at ? L->open_at - wall_ms() : L->pause * 1000;

		printf("welcomed clients=%ld ms=%.1f\n", L->ready, (double)(now - L->t0) / ZT_MS);
		L->phase = 1;
		L->late = wait_ms < 0;
		phase_arm(L, now + (L->late ? 0 : (uint64_t)(wait_ms * ZT_MS)));
	} else if (L->mode == M_OPENS) {
		L->phase = 3;
		L->t0 = now;
		phase_arm(L, now + (uint64_t)(L->seconds * ZT_SEC));
		for (long i = 0; i < L->nlcs; i++)
			lc_flush(&L->lcs[i], now);
	} else {
		L->phase = 2;
		phase_arm(L, now + 10 * ZT_SEC); /* the session must come by then */
		open_sessions(L);
	}
	fflush(stdout);
}

/* Every connection welcomed (or, with --keep-going, welcomed or gone). */
static void maybe_all_ready(struct load *L, uint64_t now)
{
	if (L->phase == 0 && L->started == L->nlcs && L->handshaking == 0 &&
	    (L->keep_going || L->ready == L->nlcs))
		all_ready(L, now);
}

static void on_ready(struct lc *c, uint64_t now)
{
	struct load *L = c->L;

	c->st = LC_READY;
	L->handshaking--;
	L->ready++;
	L->welcomed++;
	start_more(L, now);
	maybe_all_ready(L, now);
}

static void open_sessions(struct load *L)
{
	struct zt_ctrl_msg m;

	L->opens_at = zt_loop_now(L->loop);
	L->opens_wall = wall_ms();
	for (long i = 0; i < L->count; i++) {
		zt_ctrl_msg_init(&m, ZT_CTRL_OPEN);
		m.u.open.request_id = (uint64_t)i + 1;
		snprintf(m.u.open.service, sizeof(m.u.open.service), "%s", L->service);
		send_ctrl(&L->lcs[i], &m);
		lc_flush(&L->lcs[i], zt_loop_now(L->loop));
	}
}

static int relay_send(struct lc *c, size_t size)
{
	uint8_t pkt[ZT_QUIC_TUNNEL_MTU];

	if (size < ZT_RELAY_HDR_LEN + 1 || size > sizeof(pkt))
		return -EMSGSIZE;
	memset(pkt, 0x5a, size);
	zt_relay_hdr_write(pkt, ZT_RELAY_HDR_LEN, c->session);
	return zt_quic_dgram_send(c->conn, pkt, size);
}

static long relayed_in(const struct load *L)
{
	long n = 0;

	for (long i = 0; i < L->nlcs; i++)
		n += (long)L->lcs[i].dgrams_rx;
	return n;
}

static void sessions_done(struct load *L, uint64_t now)
{
	struct lc *conn = &L->lcs[L->nlcs - 1];

	L->open_ms = (double)(now - L->opens_at) / ZT_MS;
	L->done_wall = wall_ms();
	if (L->mode == M_RELAY) {
		L->phase = 3;
		L->t0 = now;
		conn->dgrams_rx = 0;
		phase_arm(L, now + (uint64_t)(L->seconds * ZT_SEC));
		if (L->chan) { /* every agent blasts whenever its socket takes more */
			for (long i = 0; i < L->nlcs - 1; i++)
				zt_loop_mod(L->loop, &L->lcs[i].w, EPOLLIN | EPOLLOUT);
		}
		lc_flush(&L->lcs[0], now);
		return;
	}
	for (long i = 0; i < L->count; i++) {
		struct lc *a = &L->lcs[i];
		for (long k = 0; k < L->dgrams; k++) {
			relay_send(a, 200);
			/* the connector answers on the same session */
			uint8_t pkt[200];
			memset(pkt, 0x33, sizeof(pkt));
			zt_relay_hdr_write(pkt, ZT_RELAY_HDR_LEN, a->session);
			zt_quic_dgram_send(conn->conn, pkt, sizeof(pkt));
		}
		lc_flush(a, now);
	}
	lc_flush(conn, now);
	L->phase = 3;
	/* let the datagrams arrive, then report and hold */
	phase_arm(L, now + 500 * ZT_MS);
}

/* opens: OPENs while the control stream takes them (a small backlog at most). */
static void flood_opens(struct lc *c)
{
	struct load *L = c->L;
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_OPEN);
	snprintf(m.u.open.service, sizeof(m.u.open.service), "%s", L->service);
	while (c->ch.blen < 4096 && c->st == LC_READY) {
		m.u.open.request_id = ++L->opens_sent;
		if (zt_ctrlchan_send(&c->ch, &m) < 0)
			break;
	}
}

static void count_answer(struct load *L, const struct zt_ctrl_msg *m)
{
	if (m->type == ZT_CTRL_SESSION) {
		L->op_sessions += m->u.session.request_id != 0;
		return;
	}
	L->op_errors++;
	if (m->u.error.code == (uint32_t)-ZT_EBUSY)
		L->op_busy++;
	else if (m->u.error.code == (uint32_t)-ZT_EQUOTA)
		L->op_quota++;
	else
		L->op_other++;
}

static void on_msg(struct lc *c, const struct zt_ctrl_msg *m, uint64_t now)
{
	struct load *L = c->L;

	if (L->mode == M_OPENS && (m->type == ZT_CTRL_SESSION || m->type == ZT_CTRL_ERROR)) {
		count_answer(L, m);
		return;
	}
	if (L->mode == M_OPENS && m->type == ZT_CTRL_CLOSE)
		return; /* a session the connector refused (its per-agent limits): not an end */
	switch (m->type) {
	case ZT_CTRL_WELCOME:
		if (L->chan && !m->u.welcome.relay_channel) {
			printf("error what=no_relay_channel\n");
			finish(L, 1);
			break;
		}
		if (c->st == LC_HELLO)
			on_ready(c, now);
		break;
	case ZT_CTRL_SESSION:
		if (!m->u.session.session_id || m->u.session.session_id > UINT32_MAX)
			break;
		if (c->connector) {
			if (L->mode == M_RELAY)
				c->session = (uint32_t)m->u.session.session_id;
			break;
		}
		if (!c->session) {
			c->session = (uint32_t)m->u.session.session_id;
			if (++L->sessions == L->count)
				sessions_done(L, now);
		}
		break;
	case ZT_CTRL_ERROR:
		if (L->keep_going) {
			L->refused++;
			L->replaced += m->u.error.code == (uint32_t)-ZT_EREPLACED;
			break;
		}
		printf("error what=refused code=%u text=\"%s\"\n", m->u.error.code, m->u.error.text);
		finish(L, 1);
		break;
	case ZT_CTRL_CLOSE:
		printf("error what=session_closed text=\"%s\"\n", m->u.close.text);
		finish(L, 1);
		break;
	case ZT_CTRL_PING: {
		struct zt_ctrl_msg r = *m;
		r.type = ZT_CTRL_PONG;
		send_ctrl(c, &r);
		break;
	}
	default:
		break; /* OBSERVED_ADDRESS, CANDIDATES, ...: not ours to act on */
	}
}

static void cb_handshake(struct zt_quic_conn *conn, void *arg)
{
	struct lc *c = arg;
	struct load *L = c->L;
	struct zt_ctrl_msg m;
	int64_t sid;

	if (L->bare) {
		on_ready(c, zt_loop_now(L->loop));
		return;
	}
	if (zt_quic_stream_open(conn, &sid, NULL) < 0) {
		printf("error what=stream_open\n");
		finish(L, 1);
		return;
	}
	zt_ctrlchan_attach(&c->ch, sid);
	zt_ctrl_msg_init(&m, ZT_CTRL_HELLO);
	m.u.hello.role = c->connector ? ZT_CTRL_ROLE_CONNECTOR : ZT_CTRL_ROLE_AGENT;
	snprintf(m.u.hello.identity, sizeof(m.u.hello.identity), "%s", c->connector ? L->cname : L->name);
	m.u.hello.token_len = (uint16_t)strlen(c->connector ? L->ctoken : L->token);
	memcpy(m.u.hello.token, c->connector ? L->ctoken : L->token, m.u.hello.token_len);
	snprintf(m.u.hello.software, sizeof(m.u.hello.software), "zt-load");
	m.u.hello.relay_channel = L->chan;
	if (c->connector) {
		m.u.hello.n_services = 1;
		snprintf(m.u.hello.services[0], sizeof(m.u.hello.services[0]), "%s", L->service);
	}
	c->st = LC_HELLO;
	send_ctrl(c, &m);
}

static void cb_readable(struct zt_quic_conn *conn, void *arg, int64_t sid, void *sarg)
{
	struct lc *c = arg;
	struct zt_ctrl_msg m;
	int rc;
	(void)conn;
	(void)sarg;

	if (sid != c->ch.sid)
		return;
	while ((rc = zt_ctrlchan_next(&c->ch, &m)) != 0) {
		if (rc == 1) {
			on_msg(c, &m, zt_loop_now(c->L->loop));
			continue;
		}
		if (rc == ZT_EPEER || rc == ZT_ETOOBIG || rc == ZT_ECTRL_VERSION) {
			printf("error what=control_stream err=\"%s\"\n", zt_strerror(rc));
			finish(c->L, 1);
			return;
		}
	}
}

static void cb_writable(struct zt_quic_conn *conn, void *arg, int64_t sid, void *sarg)
{
	struct lc *c = arg;
	(void)conn;
	(void)sarg;

	if (sid == c->ch.sid)
		zt_ctrlchan_flush(&c->ch);
}

static void cb_opened(struct zt_quic_conn *conn, void *arg, int64_t sid)
{
	(void)arg;
	zt_quic_stream_reset(conn, sid, 0);
}

static void cb_dgram(struct zt_quic_conn *conn, void *arg, const uint8_t *data, size_t len)
{
	struct lc *c = arg;
	(void)conn;
	(void)data;
	(void)len;

	c->dgrams_rx++;
}

static const struct zt_quic_callbacks client_cb = {
	.handshake_done = cb_handshake,
	.stream_opened = cb_opened,
	.stream_readable = cb_readable,
	.stream_writable = cb_writable,
	.datagram = cb_dgram,
};

static void lc_dead(struct lc *c)
{
	struct zt_quic_close_info ci;

	if (c->st == LC_DEAD)
		return;
	if (c->L->keep_going) {
		struct load *L = c->L;
		if (c->st == LC_HANDSHAKE || c->st == LC_HELLO)
			L->handshaking--;
		else if (c->st == LC_READY)
			L->ready--;
		L->lost++;
		c->st = LC_DEAD;
		start_more(L, zt_loop_now(L->loop));
		maybe_all_ready(L, zt_loop_now(L->loop));
		return;
	}
	zt_quic_conn_close_info(c->conn, &ci);
	if (c->L->mode == M_OPENS && c->L->phase == 3) { /* what the flood is for */
		c->L->op_closed++;
		c->L->op_close_code = ci.app ? ci.code : 0;
		c->st = LC_DEAD;
		return;
	}
	if (!c->L->rc) /* the first loss only */
		printf("error what=connection_lost err=\"%s\" reason=\"%s\"\n", zt_strerror(ci.err),
		       ci.reason);
	c->st = LC_DEAD;
	finish(c->L, 1);
}

/* relay --channel: 64 channel datagrams of size + 1 bytes in one system call, while
 * the socket takes them (the watch asks for writability while blasting). */
static void chan_blast(struct lc *c)
{
	struct load *L = c->L;
	size_t seg = L->size + 1, n = ZT_UDP_SEGMENTS_MAX_BYTES / seg;
	int rc;

	if (n > ZT_UDP_SEGMENTS_MAX)
		n = ZT_UDP_SEGMENTS_MAX;
	for (size_t i = 0; i < n; i++) {
		uint8_t *d = L->buf + i * seg;
		memset(d, 0x5a, seg);
		zt_relay_chan_write(d, ZT_RELAY_CHAN_HDR_LEN, c->session);
	}
	for (int k = 0; k < 16; k++) {
		rc = zt_udp_send_segments(&c->udp, &L->to, NULL, L->buf, n * seg, seg);
		if (rc < 0) {
			if (rc != -EAGAIN)
				L->relay_full++;
			return;
		}
		L->relay_sent += n;
	}
}

static void lc_flush(struct lc *c, uint64_t now)
{
	struct load *L = c->L;
	struct zt_quic_path path;
	int n;

	if (!c->conn)
		return;
	if (L->chan && L->mode == M_RELAY && L->phase == 3 && !c->connector && c->session)
		chan_blast(c);
	for (;;) {
		if (L->mode == M_RELAY && L->phase == 3 && !c->connector && c->session && !L->chan) {
			while (zt_quic_dgram_queued(c->conn) < RELAY_QUEUE) {
				if (relay_send(c, L->size) < 0) {
					L->relay_full++;
					break;
				}
				L->relay_sent++;
			}
		}
		if (L->mode == M_OPENS && L->phase == 3)
			flood_opens(c);
		n = zt_quic_conn_poll_send(c->conn, now, L->buf, sizeof(L->buf), &path);
		if (n <= 0)
			break;
		if (zt_udp_send(&c->udp, &path.remote, NULL, L->buf, (size_t)n) < 0)
			break; /* the socket is full: QUIC's recovery takes care */
		L->pkts_tx++;
		L->bytes_tx += (uint64_t)n;
	}
	if (zt_quic_conn_state(c->conn) >= ZT_QUIC_CLOSING && c->st != LC_DEAD && L->phase < 4)
		lc_dead(c);
	zt_timer_set(L->loop, &c->t, zt_quic_conn_next_deadline(c->conn));
}

static void lc_on_read(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct lc *c = w->data;
	struct load *L = c->L;
	struct zt_addr from, to;
	int n;
	(void)loop;
	(void)revents;

	while ((n = zt_udp_recv(&c->udp, L->buf, sizeof(L->buf), &from, &to)) >= 0) {
		L->pkts_rx++;
		L->bytes_rx += (uint64_t)n;
		if (L->chan && zt_relay_is_chan(L->buf, (size_t)n)) {
			c->dgrams_rx++; /* relay --channel: the connector counts them */
			continue;
		}
		if (c->conn)
			zt_quic_conn_recv(c->conn, now, &c->path, L->buf, (size_t)n);
	}
	lc_flush(c, now);
}

static void lc_on_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct lc *c = t->data;
	(void)loop;

	zt_quic_conn_on_timeout(c->conn, now);
	lc_flush(c, now);
}

static void lc_start(struct lc *c, uint64_t now)
{
	struct load *L = c->L;
	struct zt_quic_config qc = {
		.tls = c->connector ? L->ctls : L->tls,
		.rng = &L->rng,
		.cb = &client_cb,
		/* node/peer.c's outer connection */
		.max_udp_payload = ZT_QUIC_OUTER_UDP_PAYLOAD,
		.idle_timeout = IDLE_TIMEOUT,
		/* the programs' (src/quic/conn.c): a login storm on shared CPUs took over 5 s */
		.handshake_timeout = 10 * ZT_SEC,
		.keepalive = KEEPALIVE,
		.dgram_queue = 512,
		.stream_window = 64 * 1024,
		.stream_window_max = 256 * 1024,
		.conn_window = 128 * 1024,
		.conn_window_max = 512 * 1024,
		.max_streams_bidi = 4,
		.stream_sndbuf = 128 * 1024,
	};
	int rc;

	if ((rc = zt_udp_open(&c->udp, &L->bind)) < 0) {
		printf("error what=socket err=\"%s\"\n", strerror(-rc));
		finish(L, 1);
		return;
	}
	c->path = (struct zt_quic_path){ .local = c->udp.local,
					 .remote = c->connector && L->cto.family ? L->cto : L->to };
	c->w = (struct zt_watch){ .fd = c->udp.fd, .events = EPOLLIN, .cb = lc_on_read, .data = c };
	zt_timer_init(&c->t, lc_on_timer, c);
	if ((rc = zt_loop_add(L->loop, &c->w)) < 0 ||
	    (rc = zt_quic_conn_connect(&c->conn, &qc, ZT_PKI_INTERMEDIATE_DNS, &c->path, c, now)) < 0) {
		printf("error what=connect err=\"%s\"\n", zt_strerror(rc));
		c->conn = NULL;
		finish(L, 1);
		return;
	}
	zt_ctrlchan_init(&c->ch, c->conn, -1);
	c->st = LC_HANDSHAKE;
	L->handshaking++;
	lc_flush(c, now);
}

static void lc_close(struct lc *c)
{
	struct load *L = c->L;
	uint64_t now = zt_loop_now(L->loop);
	struct zt_quic_path path;
	int n;

	if (!c->conn)
		return;
	/* One CONNECTION_CLOSE, so the Intermediate frees the client at once. */
	if (zt_quic_conn_state(c->conn) < ZT_QUIC_CLOSING &&
	    zt_quic_conn_close(c->conn, 0, "zt-load done") == 0 &&
	    (n = zt_quic_conn_poll_send(c->conn, now, L->buf, sizeof(L->buf), &path)) > 0)
		zt_udp_send(&c->udp, &path.remote, NULL, L->buf, (size_t)n);
	zt_timer_cancel(L->loop, &c->t);
	zt_loop_del(L->loop, &c->w);
	zt_ctrlchan_fini(&c->ch);
	zt_quic_conn_free(c->conn);
	zt_udp_close(&c->udp);
	c->conn = NULL;
}

static void on_phase(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct load *L = t->data;
	(void)loop;

	if (L->phase == 0) {
		printf("error what=timeout ready=%ld of=%ld\n", L->ready, L->nlcs);
		finish(L, 1);
	} else if (L->phase == 1) {
		L->phase = 2;
		phase_arm(L, now + ready_timeout(L));
		open_sessions(L);
	} else if (L->phase == 2) {
		printf("error what=timeout sessions=%ld of=%ld\n", L->sessions, L->count);
		finish(L, 1);
	} else if (L->mode == M_CLIENTS && L->phase == 3) {
		printf("idle seconds=%.1f clients=%ld pkts_tx=%" PRIu64 " pkts_rx=%" PRIu64
		       " bytes_tx=%" PRIu64 " bytes_rx=%" PRIu64 "\n",
		       L->hold, L->ready, L->pkts_tx, L->pkts_rx, L->bytes_tx, L->bytes_rx);
		finish(L, 0);
	} else if (L->mode == M_PAIRS && L->phase == 3) {
		printf("ready sessions=%ld relayed=%ld open_ms=%.1f", L->sessions, relayed_in(L),
		       L->open_ms);
		if (L->open_at)
			printf(" opens_unix_ms=%.1f done_unix_ms=%.1f late=%d", L->opens_wall,
			       L->done_wall, L->late);
		printf("\n");
		fflush(stdout);
		L->phase = 4;
		phase_arm(L, now + (uint64_t)(L->hold * ZT_SEC));
	} else if (L->mode == M_OPENS && L->phase == 3) {
		printf("opens seconds=%.1f clients=%ld sent=%" PRIu64 " sessions=%" PRIu64
		       " errors=%" PRIu64 " busy=%" PRIu64 " quota=%" PRIu64 " other=%" PRIu64
		       " closed=%" PRIu64 " close_code=%" PRIu64 "\n",
		       L->seconds, L->nlcs, L->opens_sent, L->op_sessions, L->op_errors, L->op_busy,
		       L->op_quota, L->op_other, L->op_closed, L->op_close_code);
		L->phase = 4;
		finish(L, 0);
	} else if (L->mode == M_RELAY && L->phase == 3) {
		double s = (double)(now - L->t0) / ZT_SEC;
		uint64_t got = L->lcs[L->nlcs - 1].dgrams_rx;
		printf("relay seconds=%.3f size=%zu sent=%" PRIu64 " received=%" PRIu64
		       " queue_full=%" PRIu64 " pps=%.0f\n",
		       s, L->size, L->relay_sent, got, L->relay_full, (double)got / s);
		L->phase = 4;
		finish(L, got ? 0 : 1);
	} else {
		finish(L, 0);
	}
	fflush(stdout);
}

/* Bare server. */

static void bconn_flush(struct bconn *b, uint64_t now)
{
	struct load *L = b->L;
	struct zt_quic_path path;
	int n;

	while ((n = zt_quic_conn_poll_send(b->conn, now, L->buf, sizeof(L->buf), &path)) > 0)
		if (zt_udp_send(&L->srv, &path.remote, NULL, L->buf, (size_t)n) < 0)
			break;
	zt_timer_set(L->loop, &b->t, zt_quic_conn_next_deadline(b->conn));
}

static void bconn_on_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct bconn *b = t->data;
	struct load *L = b->L;
	(void)loop;

	zt_quic_conn_on_timeout(b->conn, now);
	if (zt_quic_conn_state(b->conn) == ZT_QUIC_CLOSED) {
		struct bconn **p = &L->bconns;
		while (*p != b)
			p = &(*p)->next;
		*p = b->next;
		zt_timer_cancel(L->loop, &b->t);
		zt_quic_conn_free(b->conn);
		free(b);
		return;
	}
	bconn_flush(b, now);
}

static void srv_on_read(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct load *L = w->data;
	struct zt_addr from, to;
	int n;
	(void)loop;
	(void)revents;

	while ((n = zt_udp_recv(&L->srv, L->buf, sizeof(L->buf), &from, &to)) >= 0) {
		struct zt_quic_path path = { .local = L->srv.local, .remote = from };
		struct zt_quic_conn *conn = zt_quic_cidmap_lookup_pkt(L->map, L->buf, (size_t)n);
		struct bconn *b;

		if (conn) {
			b = zt_quic_conn_arg(conn);
			zt_quic_conn_recv(conn, now, &path, L->buf, (size_t)n);
			bconn_flush(b, now);
			continue;
		}
		if (!zt_quic_pkt_is_initial(L->buf, (size_t)n) || !(b = calloc(1, sizeof(*b))))
			continue;
		b->L = L;
		zt_timer_init(&b->t, bconn_on_timer, b);
		if (zt_quic_conn_accept(&b->conn, &L->sqc, &path, L->buf, (size_t)n, b, now) < 0) {
			free(b);
			continue;
		}
		b->next = L->bconns;
		L->bconns = b;
		L->accepted++;
		bconn_flush(b, now);
	}
}

static int bare_server(struct load *L, const char *pki)
{
	struct zt_tls_config tc = { .side = ZT_TLS_SERVER, .alpn = ZT_ALPN_OUTER,
				    .require_peer_cert = true };
	char ca[4096], cert[4096], key[4096];
	int rc;

	snprintf(ca, sizeof(ca), "%s/intermediate/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/intermediate/intermediate.pem", pki);
	snprintf(key, sizeof(key), "%s/intermediate/intermediate.key", pki);
	tc.ca_file = ca;
	tc.cert_file = cert;
	tc.key_file = key;
	if ((rc = zt_tls_ctx_new(&L->tls, &tc)) < 0 || (rc = zt_quic_cidmap_new(&L->map, &L->rng)) < 0) {
		fprintf(stderr, "zt-load: %s\n", zt_strerror(rc));
		return 1;
	}
	/* node/imd.c's outer connection settings */
	L->sqc = (struct zt_quic_config){
		.tls = L->tls,
		.rng = &L->rng,
		.cidmap = L->map,
		.max_udp_payload = ZT_QUIC_OUTER_UDP_PAYLOAD,
		.idle_timeout = IDLE_TIMEOUT,
		.dgram_queue = 512,
		.stream_window = 64 * 1024,
		.stream_window_max = 256 * 1024,
		.conn_window = 128 * 1024,
		.conn_window_max = 512 * 1024,
		.max_streams_bidi = 4,
		.stream_sndbuf = 128 * 1024,
	};
	if ((rc = zt_udp_open(&L->srv, &L->to)) < 0) {
		fprintf(stderr, "zt-load: bind: %s\n", strerror(-rc));
		return 1;
	}
	L->srv_w = (struct zt_watch){ .fd = L->srv.fd, .events = EPOLLIN, .cb = srv_on_read, .data = L };
	zt_loop_add(L->loop, &L->srv_w);
	L->phase = 5;
	phase_arm(L, zt_loop_now(L->loop) + (uint64_t)(L->seconds * ZT_SEC));
	printf("listening\n");
	fflush(stdout);
	rc = zt_loop_run(L->loop);
	printf("bare accepted=%" PRIu64 "\n", L->accepted);
	while (L->bconns) {
		struct bconn *b = L->bconns;
		L->bconns = b->next;
		zt_timer_cancel(L->loop, &b->t);
		zt_quic_conn_free(b->conn);
		free(b);
	}
	zt_loop_del(L->loop, &L->srv_w);
	zt_udp_close(&L->srv);
	zt_quic_cidmap_free(L->map);
	return rc < 0 ? 1 : 0;
}

/* Initial flood. */

static int client_tls(struct load *L, const char *pki, const char *kind, const char *name,
		      struct zt_tls_ctx **ret);

static void fconn_free(struct fconn *f)
{
	struct load *L = f->L;

	if (!f->conn)
		return;
	zt_timer_cancel(L->loop, &f->t);
	zt_quic_conn_free(f->conn);
	f->conn = NULL;
	L->live--;
}

static void fconn_flush(struct fconn *f, uint64_t now)
{
	struct load *L = f->L;
	struct zt_quic_path path;
	int n;

	while ((n = zt_quic_conn_poll_send(f->conn, now, L->buf, sizeof(L->buf), &path)) > 0)
		if (zt_udp_send(&L->fl, &path.remote, NULL, L->buf, (size_t)n) < 0)
			break;
	if (zt_quic_conn_state(f->conn) == ZT_QUIC_CLOSED)
		fconn_free(f);
	else
		zt_timer_set(L->loop, &f->t, zt_quic_conn_next_deadline(f->conn));
}

static void fconn_on_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct fconn *f = t->data;
	(void)loop;

	zt_quic_conn_on_timeout(f->conn, now);
	fconn_flush(f, now);
}

/* One new connection attempt: its first Initial goes out at once. */
static void flood_one(struct load *L, uint64_t now)
{
	struct fconn *f = &L->ring[L->seq++ % L->ring_cap];
	struct zt_quic_config qc = {
		.tls = L->tls,
		.rng = &L->rng,
		.cidmap = L->answer ? L->map : NULL,
		.max_udp_payload = ZT_QUIC_OUTER_UDP_PAYLOAD,
		.handshake_timeout = FLOOD_LIFE * ZT_SEC,
	};
	struct zt_quic_path path = { .local = L->fl.local, .remote = L->to };
	struct zt_quic_path out;
	int n;

	fconn_free(f); /* the oldest attempt: FLOOD_LIFE s old */
	if (zt_quic_conn_connect(&f->conn, &qc, ZT_PKI_INTERMEDIATE_DNS, &path, f, now) < 0) {
		f->conn = NULL;
		L->fl_failed++;
		return;
	}
	L->live++;
	if (L->live > L->live_max)
		L->live_max = L->live;
	n = zt_quic_conn_poll_send(f->conn, now, L->buf, sizeof(L->buf), &out);
	if (n > 0 && zt_udp_send(&L->fl, &out.remote, NULL, L->buf, (size_t)n) == 0)
		L->fl_sent++;
	else
		L->fl_failed++;
	if (L->answer)
		fconn_flush(f, now);
	else
		fconn_free(f);
}

static void flood_on_tick(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct load *L = t->data;
	(void)loop;

	if (now >= L->fl_end) {
		printf("initials sent=%" PRIu64 " rx=%" PRIu64 " retries=%" PRIu64
		       " failed=%" PRIu64 " live_max=%zu seconds=%.1f\n",
		       L->fl_sent, L->fl_rx, L->fl_retries, L->fl_failed, L->live_max,
		       (double)(now - L->fl_start) / ZT_SEC);
		finish(L, L->fl_sent ? 0 : 1);
		return;
	}
	/* The rate over the run, not per tick: a late tick catches up (at most 1 s). */
	L->credit += L->rate * (double)(now - L->fl_last) / ZT_SEC;
	if (L->credit > L->rate)
		L->credit = L->rate;
	L->fl_last = now;
	while (L->credit >= 1) {
		L->credit -= 1;
		flood_one(L, now);
	}
	zt_timer_set(L->loop, &L->tick_t, now + FLOOD_TICK);
}

static void flood_on_read(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct load *L = w->data;
	struct zt_addr from, to;
	int n;
	(void)loop;
	(void)revents;

	while ((n = zt_udp_recv(&L->fl, L->buf, sizeof(L->buf), &from, &to)) >= 0) {
		struct zt_quic_conn *conn;
		L->fl_rx++;
		/* RFC 9000 s17.2.5: long header, fixed bit, type 3 */
		if (n > 0 && (L->buf[0] & 0xf0) == 0xf0)
			L->fl_retries++;
		if (!L->answer || !(conn = zt_quic_cidmap_lookup_pkt(L->map, L->buf, (size_t)n)))
			continue;
		struct zt_quic_path path = { .local = L->fl.local, .remote = from };
		struct fconn *f = zt_quic_conn_arg(conn);
		zt_quic_conn_recv(conn, now, &path, L->buf, (size_t)n);
		fconn_flush(f, now);
	}
}

static int flood(struct load *L, const char *pki)
{
	struct zt_tls_config tc = { .side = ZT_TLS_CLIENT, .alpn = ZT_ALPN_OUTER };
	char ca[4096];
	int rc;

	snprintf(ca, sizeof(ca), "%s/ca/ca.pem", pki);
	tc.ca_file = ca;
	rc = L->name ? client_tls(L, pki, "agent", L->name, &L->tls) : zt_tls_ctx_new(&L->tls, &tc);
	if (rc < 0 || (rc = zt_quic_cidmap_new(&L->map, &L->rng)) < 0) {
		fprintf(stderr, "zt-load: %s\n", zt_strerror(rc));
		return 1;
	}
	L->ring_cap = (size_t)(L->rate * FLOOD_LIFE) + 16;
	L->ring = calloc(L->ring_cap, sizeof(*L->ring));
	if (!L->ring)
		return 1;
	for (size_t i = 0; i < L->ring_cap; i++) {
		L->ring[i].L = L;
		zt_timer_init(&L->ring[i].t, fconn_on_timer, &L->ring[i]);
	}
	if ((rc = zt_udp_open(&L->fl, &L->bind)) < 0) {
		fprintf(stderr, "zt-load: bind: %s\n", strerror(-rc));
		return 1;
	}
	L->fl_w = (struct zt_watch){ .fd = L->fl.fd, .events = EPOLLIN, .cb = flood_on_read, .data = L };
	zt_loop_add(L->loop, &L->fl_w);
	zt_timer_init(&L->tick_t, flood_on_tick, L);
	L->fl_start = L->fl_last = zt_loop_now(L->loop);
	L->fl_end = L->fl_start + (uint64_t)(L->seconds * ZT_SEC);
	zt_timer_set(L->loop, &L->tick_t, L->fl_start);
	rc = zt_loop_run(L->loop);
	zt_timer_cancel(L->loop, &L->tick_t);
	for (size_t i = 0; i < L->ring_cap; i++)
		fconn_free(&L->ring[i]);
	free(L->ring);
	zt_loop_del(L->loop, &L->fl_w);
	zt_udp_close(&L->fl);
	zt_quic_cidmap_free(L->map);
	return rc < 0 ? 1 : 0;
}

/* Main. */

static void on_signal(struct zt_loop *loop, int sig, void *arg)
{
	struct load *L = arg;
	(void)sig;

	printf("interrupted\n");
	L->rc = 130;
	zt_loop_stop(loop);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: zt-load clients --to IP:PORT --pki DIR --name NAME --token TOKEN --count N\n"
		"                       [--hold S] [--bind IP] [--bare]\n"
		"       zt-load pairs   (the same) --connector NAME --ctoken TOKEN --service SVC\n"
		"                       [--dgrams K] [--pause S] [--connector-to IP:PORT]\n"
		"                       [--open-at UNIX_MS]\n"
		"       zt-load relay   --to IP:PORT --pki DIR --name NAME --token TOKEN --connector NAME\n"
		"                       --ctoken TOKEN --service SVC [--seconds S] [--size B] [--bind IP]\n"
		"                       [--channel] [--count N]\n"
		"       zt-load opens   --to IP:PORT --pki DIR --name NAME --token TOKEN --service SVC\n"
		"                       [--count N] [--seconds S] [--bind IP]\n"
		"       zt-load bare-server --listen IP:PORT --pki DIR [--seconds S]\n"
		"       zt-load initials --to IP:PORT --pki DIR [--name NAME] [--rate R] [--seconds S]\n"
		"                        [--bind IP] [--answer]\n"
		"       (clients: --keep-going counts refused and lost connections instead of stopping)\n");
	return 2;
}

/* Loopback, or the networks a lab uses (RFC 1918, RFC 6598, RFC 5737): never elsewhere. */
static bool addr_ok(const struct zt_addr *a)
{
	const uint8_t *ip = a->ip;

	if (zt_addr_is_loopback(a))
		return true;
	if (a->family != AF_INET)
		return false;
	return ip[0] == 10 || (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
	       (ip[0] == 192 && ip[1] == 168) || (ip[0] == 100 && (ip[1] & 0xc0) == 64) ||
	       (ip[0] == 192 && ip[1] == 0 && ip[2] == 2) ||
	       (ip[0] == 198 && ip[1] == 51 && ip[2] == 100) ||
	       (ip[0] == 203 && ip[1] == 0 && ip[2] == 113);
}

static int client_tls(struct load *L, const char *pki, const char *kind, const char *name,
		      struct zt_tls_ctx **ret)
{
	struct zt_tls_config tc = { .side = ZT_TLS_CLIENT, .alpn = ZT_ALPN_OUTER };
	char ca[4096], cert[4096], key[4096];
	(void)L;

	/* zt-load plays several parties: it reads each one's bundle in the tree */
	snprintf(ca, sizeof(ca), "%s/%s-%s/ca.pem", pki, kind, name);
	snprintf(cert, sizeof(cert), "%s/%s-%s/%s-%s.pem", pki, kind, name, kind, name);
	snprintf(key, sizeof(key), "%s/%s-%s/%s-%s.key", pki, kind, name, kind, name);
	tc.ca_file = ca;
	tc.cert_file = cert;
	tc.key_file = key;
	return zt_tls_ctx_new(ret, &tc);
}

static int parse_mode(struct load *L, const char *m)
{
	if (!strcmp(m, "clients"))
		L->mode = M_CLIENTS;
	else if (!strcmp(m, "pairs"))
		L->mode = M_PAIRS;
	else if (!strcmp(m, "relay"))
		L->mode = M_RELAY;
	else if (!strcmp(m, "bare-server"))
		L->mode = M_BARE_SERVER;
	else if (!strcmp(m, "opens"))
		L->mode = M_OPENS;
	else if (!strcmp(m, "initials"))
		L->mode = M_INITIALS;
	else
		return -1;
	return 0;
}

/* The options after the mode, into L (defaults first) and ret_pki. Returns 0 or -1. */
static int parse_options(struct load *L, int argc, char **argv, const char **ret_pki)
{
	L->count = 1;
	L->hold = 0;
	L->seconds = 5;
	L->size = 1200;
	L->dgrams = 4;
	L->pause = 1;
	L->rate = 1500;
	L->bind.family = AF_INET;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--bare")) {
			L->bare = true;
			continue;
		}
		if (!strcmp(a, "--answer")) {
			L->answer = true;
			continue;
		}
		if (!strcmp(a, "--keep-going")) {
			L->keep_going = true;
			continue;
		}
		if (!strcmp(a, "--channel")) {
			L->chan = true;
			continue;
		}
		if (!v)
			return -1;
		i++;
		if (!strcmp(a, "--to") || !strcmp(a, "--listen")) {
			if (zt_addr_parse(&L->to, v, 0) < 0 || !L->to.port || !addr_ok(&L->to))
				return -1;
		} else if (!strcmp(a, "--connector-to")) {
			if (zt_addr_parse(&L->cto, v, 0) < 0 || !L->cto.port || !addr_ok(&L->cto))
				return -1;
		} else if (!strcmp(a, "--bind")) {
			if (zt_addr_parse(&L->bind, v, 0) < 0)
				return -1;
		} else if (!strcmp(a, "--pki")) {
			*ret_pki = v;
		} else if (!strcmp(a, "--name")) {
			L->name = v;
		} else if (!strcmp(a, "--token")) {
			L->token = v;
		} else if (!strcmp(a, "--connector")) {
			L->cname = v;
		} else if (!strcmp(a, "--ctoken")) {
			L->ctoken = v;
		} else if (!strcmp(a, "--service")) {
			L->service = v;
		} else if (!strcmp(a, "--count")) {
			if (bench_count(v, 1000000, &L->count) < 0)
				return -1;
		} else if (!strcmp(a, "--dgrams")) {
			if (bench_count(v, 1000000000, &L->dgrams) < 0)
				return -1;
		} else if (!strcmp(a, "--hold")) {
			if (bench_duration(v, ZT_SEC, &L->hold) < 0)
				return -1;
		} else if (!strcmp(a, "--pause")) {
			if (bench_duration(v, ZT_SEC, &L->pause) < 0)
				return -1;
		} else if (!strcmp(a, "--seconds")) {
			if (bench_duration(v, ZT_SEC, &L->seconds) < 0)
				return -1;
		} else if (!strcmp(a, "--size")) {
			long n;
			if (bench_count(v, 65507, &n) < 0)
				return -1;
			L->size = (size_t)n;
		} else if (!strcmp(a, "--rate")) {
			L->rate = strtod(v, NULL);
		} else if (!strcmp(a, "--open-at")) {
			char *end;
			L->open_at = strtod(v, &end);
			if (*end || !(L->open_at > 0))
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* The options' bounds and what each mode needs. */
static bool options_valid(const struct load *L, const char *pki)
{
	if (!pki || !L->to.family || L->count < 1 || L->count > MAX_COUNT || L->hold < 0 ||
	    L->hold > MAX_SECONDS || L->seconds <= 0 || L->seconds > MAX_SECONDS || L->pause < 0 ||
	    L->pause > MAX_SECONDS || L->dgrams < 0 || L->dgrams > 1000 || L->size < ZT_RELAY_HDR_LEN + 1 ||
	    L->size > ZT_QUIC_TUNNEL_MTU)
		return false;
	if (L->mode == M_INITIALS && (!(L->rate >= 1 && L->rate <= MAX_RATE) ||
				      L->seconds > MAX_FLOOD_SECONDS))
		return false;
	if (L->mode != M_BARE_SERVER && L->mode != M_INITIALS && (!L->name || !L->token))
		return false;
	if ((L->mode == M_PAIRS || L->mode == M_RELAY) && (!L->cname || !L->ctoken || !L->service || L->bare))
		return false;
	if (L->mode == M_OPENS && (!L->service || L->bare || L->cname))
		return false;
	if (L->open_at && (L->mode != M_PAIRS || L->open_at > wall_ms() + MAX_SECONDS * 1000))
		return false;
	return true;
}

/* One socket per connection: the open-files limit raised to its maximum if needed.
 * Returns 0, or -1 with the message printed. */
static int raise_fd_limit(const struct load *L)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)L->count + 64) {
		rl.rlim_cur = rl.rlim_max > (rlim_t)L->count + 64 ? (rlim_t)L->count + 64 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)L->count + 64) {
			fprintf(stderr, "zt-load: %ld sockets need a higher open-files limit (ulimit -n)\n",
				L->count);
			return -1;
		}
	}
	return 0;
}

/* The modes with logged-in clients (clients, pairs, relay, opens): the last of the
 * connections is the connector where there is one. Returns the exit status. */
static int run_clients(struct load *L, const char *pki)
{
	int rc;

	if ((rc = client_tls(L, pki, "agent", L->name, &L->tls)) < 0 ||
	    (L->cname && (rc = client_tls(L, pki, "connector", L->cname, &L->ctls)) < 0)) {
		fprintf(stderr, "zt-load: certificates in %s: %s\n", pki, zt_strerror(rc));
		return 1;
	}
	L->nlcs = L->count + (L->mode == M_CLIENTS || L->mode == M_OPENS ? 0 : 1);
	L->lcs = calloc((size_t)L->nlcs, sizeof(*L->lcs));
	if (!L->lcs)
		return 1;
	for (long i = 0; i < L->nlcs; i++)
		L->lcs[i].L = L;
	if (L->mode != M_CLIENTS && L->mode != M_OPENS)
		L->lcs[L->nlcs - 1].connector = true;
	L->t0 = zt_loop_now(L->loop);
	phase_arm(L, L->t0 + ready_timeout(L));
	start_more(L, L->t0);
	if (!L->rc)
		zt_loop_run(L->loop);
	L->phase = 5;
	for (long i = 0; i < L->nlcs; i++)
		lc_close(&L->lcs[i]);
	zt_timer_cancel(L->loop, &L->phase_t);
	free(L->lcs);
	zt_tls_ctx_free(L->tls);
	zt_tls_ctx_free(L->ctls);
	zt_loop_free(L->loop);
	fflush(stdout);
	return L->rc;
}

int main(int argc, char **argv)
{
	static struct load L;
	const char *pki = NULL;
	int rc;

	if (argc < 2 || parse_mode(&L, argv[1]) < 0 || parse_options(&L, argc, argv, &pki) < 0 ||
	    !options_valid(&L, pki))
		return usage();
	if (raise_fd_limit(&L) < 0)
		return 1;
	L.rng = zt_sysrng();
	if ((rc = zt_loop_new(&L.loop)) < 0 || (rc = zt_loop_catch_signals(L.loop, on_signal, &L)) < 0) {
		fprintf(stderr, "zt-load: event loop: %s\n", strerror(-rc));
		return 1;
	}
	zt_timer_init(&L.phase_t, on_phase, &L);
	if (L.mode == M_INITIALS) {
		rc = flood(&L, pki);
		zt_timer_cancel(L.loop, &L.phase_t);
		zt_tls_ctx_free(L.tls);
		zt_loop_free(L.loop);
		fflush(stdout);
		return rc ? rc : L.rc;
	}
	if (L.mode == M_BARE_SERVER) {
		rc = bare_server(&L, pki);
		zt_timer_cancel(L.loop, &L.phase_t);
		zt_tls_ctx_free(L.tls);
		zt_loop_free(L.loop);
		return rc ? rc : L.rc;
	}
	return run_clients(&L, pki);
}
