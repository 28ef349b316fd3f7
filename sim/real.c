#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/x509.h>

#include "app/nodeio.h"
#include "core/err.h"
#include "core/birthday.h"
#include "core/units.h"
#include "evq.h"
#include "node/imd.h"
#include "node/peer.h"
#include "node/policy.h"
#include "quic/conn.h"
#include "quic/pki.h"
#include "quic/tls.h"
#include "real.h"
#include "realdbg.h"

#define AGENT_BOOT (100 * ZT_MS)
#define CHAN_AT (1 * ZT_SEC)
#define REOPEN_AFTER (1 * ZT_SEC) /* a channel that never got READY is opened again */
#define SAMPLE (10 * ZT_MS)
#define STOP_BEFORE_END (15 * ZT_SEC) /* the stream ends then: time to deliver it all */
#define STREAM_RATE 50000     /* bytes per second the agent writes */
#define IMD_PORT 4433
#define AGENT_PORT 5000
#define CONNECTOR_PORT 6000

/* ---- the dev PKI and TLS contexts, made once per process ---- */

struct realpki {
	int rc;                       /* 1: not made yet */
	struct zt_tls_ctx *imd, *a_outer, *a_inner, *c_outer, *svc;
};

static struct realpki pki = { .rc = 1 };

static int tls_new(struct zt_tls_ctx **ret, enum zt_tls_side side, const char *alpn,
		   const char *ca, const struct zt_pki_pem *cred, bool require)
{
	struct zt_tls_config c = { .side = side, .alpn = alpn, .ca_pem = ca,
				   .cert_pem = cred ? cred->cert : NULL,
				   .key_pem = cred ? cred->key : NULL, .require_peer_cert = require };

	return zt_tls_ctx_new(ret, &c);
}

/*
 * Replays must give the same run, and a run depends on the sizes of the handshake
 * messages (congestion windows count bytes). An ECDSA signature's DER length varies
 * with its random nonce (70..72 bytes for P-256), so a certificate's size would vary
 * from process to process: each one is made again until its signature has the full
 * 72 bytes (both integers 33 bytes long; a try succeeds with p = 1/4).
 */
#define SIM_SIG_LEN 72
#define SIM_SIG_TRIES 200

static bool sig_full(const char *pem)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = { .data = (unsigned char *)pem, .size = (unsigned)strlen(pem) };
	uint8_t sig[256];
	size_t len = sizeof(sig);
	bool ok;

	if (gnutls_x509_crt_init(&crt) < 0)
		return false;
	ok = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0 &&
	     gnutls_x509_crt_get_signature(crt, (char *)sig, &len) >= 0 && len == SIM_SIG_LEN;
	gnutls_x509_crt_deinit(crt);
	return ok;
}

static int ca_fixed(time_t now, const struct zt_rng *rng, struct zt_pki_ca **ret,
		    struct zt_pki_pem *pem)
{
	int rc = ZT_ETLS;

	for (int i = 0; i < SIM_SIG_TRIES; i++) {
		if ((rc = zt_pki_ca_new(ret, "ztna-sim CA", 0, now, rng)) < 0)
			return rc;
		if ((rc = zt_pki_ca_pem(*ret, pem)) == 0 && sig_full(pem->cert))
			return 0;
		zt_pki_pem_fini(pem);
		zt_pki_ca_free(*ret);
		*ret = NULL;
	}
	return rc < 0 ? rc : ZT_ETLS;
}

static int issue_fixed(const struct zt_pki_ca *ca, enum zt_pki_kind kind, const char *name,
		       time_t now, const struct zt_rng *rng, struct zt_pki_pem *ret)
{
	struct zt_pki_subject subj = { .kind = kind, .name = name };
	int rc;

	for (int i = 0; i < SIM_SIG_TRIES; i++) {
		if ((rc = zt_pki_issue(ca, &subj, now, rng, ret)) < 0)
			return rc;
		if (sig_full(ret->cert))
			return 0;
		zt_pki_pem_fini(ret);
	}
	return ZT_ETLS;
}

static int pki_make(void)
{
	struct zt_prng prng;
	struct zt_rng rng;
	struct zt_pki_ca *ca = NULL;
	struct zt_pki_pem cap = { 0 }, imd = { 0 }, alice = { 0 }, c1 = { 0 }, svc = { 0 };
	time_t now = time(NULL);
	int rc;

	zt_prng_seed(&prng, 0x5eed);
	rng = zt_prng_rng(&prng);
	rc = ca_fixed(now, &rng, &ca, &cap);
	if (rc < 0)
		return rc;
	if ((rc = issue_fixed(ca, ZT_PKI_INTERMEDIATE, "intermediate", now, &rng, &imd)) < 0 ||
	    (rc = issue_fixed(ca, ZT_PKI_AGENT, "alice", now, &rng, &alice)) < 0 ||
	    (rc = issue_fixed(ca, ZT_PKI_CONNECTOR, "c1", now, &rng, &c1)) < 0 ||
	    (rc = issue_fixed(ca, ZT_PKI_SERVICE, "svc", now, &rng, &svc)) < 0)
		goto free_pems;
	if ((rc = tls_new(&pki.imd, ZT_TLS_SERVER, ZT_ALPN_OUTER, cap.cert, &imd, true)) < 0 ||
	    (rc = tls_new(&pki.a_outer, ZT_TLS_CLIENT, ZT_ALPN_OUTER, cap.cert, &alice, false)) < 0 ||
	    (rc = tls_new(&pki.a_inner, ZT_TLS_CLIENT, ZT_ALPN_INNER, cap.cert, &alice, false)) < 0 ||
	    (rc = tls_new(&pki.c_outer, ZT_TLS_CLIENT, ZT_ALPN_OUTER, cap.cert, &c1, false)) < 0 ||
	    (rc = tls_new(&pki.svc, ZT_TLS_SERVER, ZT_ALPN_INNER, cap.cert, &svc, true)) < 0)
		goto free_pems;
	rc = 0;
free_pems:
	zt_pki_pem_fini(&cap);
	zt_pki_pem_fini(&imd);
	zt_pki_pem_fini(&alice);
	zt_pki_pem_fini(&c1);
	zt_pki_pem_fini(&svc);
	zt_pki_ca_free(ca);
	return rc;
}

/* ---- endpoints: the cores through the ops app/nodeio.h drives them with ---- */

struct node {
	const struct zt_nodeio_ops *ops;
	void *core;
};

static void n_recv(void *ep, uint64_t now, const struct zt_addr *local, const struct zt_addr *from,
		   const uint8_t *buf, size_t len)
{
	struct node *n = ep;

	n->ops->recv(n->core, now, local, from, buf, len);
}

static size_t n_poll(void *ep, uint64_t now, uint8_t *buf, size_t cap, struct zt_addr *l,
		     struct zt_addr *r)
{
	struct node *n = ep;
	int k = n->ops->poll_send(n->core, now, buf, cap, l, r);

	return k > 0 ? (size_t)k : 0;
}

static uint64_t n_deadline(void *ep)
{
	struct node *n = ep;

	return n->ops->next_deadline(n->core);
}

static void n_timeout(void *ep, uint64_t now)
{
	struct node *n = ep;

	n->ops->on_timeout(n->core, now);
}

static const struct zt_sim_endpoint_ops node_ops = {
	.recv = n_recv, .poll_send = n_poll, .next_deadline = n_deadline, .on_timeout = n_timeout,
};

/* ---- the run ---- */

struct run {
	struct zt_sim_evq evq;
	struct zt_sim_net net;
	int map[ZT_SCN_MAX_NODES];
	struct zt_prng prng[3];
	struct zt_rng rng[3];
	struct zt_policy *policy;
	struct zt_imd *imd;
	struct zt_peer *agent, *conn;
	struct node nodes[3];
	struct zt_sim_ep eps[3];
	struct zt_peer_service service;
	struct zt_peer_chan *ach, *cch;
	uint64_t end, chan_opened_at, last_write;
	uint64_t reopen_at;          /* the application opens its channel again then */
	uint64_t last_progress, last_received;
	bool writable, ready;        /* ready: the agent's channel got READY */
	struct zt_sim_real_outcome *out;
	const struct zt_sim_session_cfg *cfg;
	uint64_t switch_times[64];
	unsigned nswitch_times;
	uint32_t last_switches;
	struct zt_sim_dbg dbg;       /* ZT_SIM_LOG, ZT_SIM_DBG, ZT_SIM_QLOG (realdbg.h) */
	struct zt_sim_dbg_who who[3]; /* imd, connector, agent */
	struct zt_addr *spray[2];    /* agent's, connector's spray sockets ('probe on') */
};

static struct zt_sim_dbg_view dbg_view(const struct run *r)
{
	return (struct zt_sim_dbg_view){ .stream_received = r->out->stream_received,
					 .stream_sent = r->out->stream_sent,
					 .agent = r->agent, .conn = r->conn };
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 131 + (off >> 9));
}

static void pump(struct run *r, uint64_t now)
{
	uint8_t buf[4096];
	uint64_t allowed;

	if (!r->ach || !r->writable || now + STOP_BEFORE_END > r->end)
		return;
	allowed = (now - r->chan_opened_at) * STREAM_RATE / ZT_SEC;
	while (r->out->stream_sent < allowed) {
		size_t n = allowed - r->out->stream_sent < sizeof(buf) ? allowed - r->out->stream_sent
								       : sizeof(buf);
		int k;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(r->out->stream_sent + i);
		k = zt_peer_chan_write(r->ach, buf, n);
		if (k <= 0) {
			if (k < 0)
				r->out->stream_reset = true;
			r->writable = k == 0 ? false : r->writable;
			return;
		}
		r->out->stream_sent += (uint64_t)k;
	}
}

static void drain(struct run *r)
{
	uint8_t buf[8192];
	bool fin = false;
	int k;

	while (r->cch && (k = zt_peer_chan_read(r->cch, buf, sizeof(buf), &fin)) > 0) {
		for (int i = 0; i < k; i++)
			if (buf[i] != pattern(r->out->stream_received + (uint64_t)i))
				r->out->stream_corrupt = true;
		r->out->stream_received += (uint64_t)k;
		zt_peer_chan_consumed(r->cch, (size_t)k); /* checked: the target took it */
	}
}

static void cb_chan_event(struct zt_peer *p, void *arg, struct zt_peer_chan *ch, void *carg,
			  enum zt_peer_chan_event ev, int code)
{
	struct run *r = arg;
	(void)p;
	(void)carg;
	(void)code;

	switch (ev) {
	case ZT_PEER_CHAN_READY:
		if (ch == r->ach && !r->ready) {
			r->ready = true;
			if (!r->out->first_ready_at)
				r->out->first_ready_at = r->evq.now;
		}
		/* fall through */
	case ZT_PEER_CHAN_WRITABLE:
		if (ch == r->ach)
			r->writable = true;
		break;
	case ZT_PEER_CHAN_READABLE:
		if (ch == r->cch)
			drain(r);
		break;
	case ZT_PEER_CHAN_RESET:
	case ZT_PEER_CHAN_FAILED:
		/* Failing before it was ever READY (the session did not come up) is what
		 * an application retries, as a client connecting again would: a second
		 * later. A channel that was READY and is reset or fails is a lost session. */
		if (r->ready)
			r->out->stream_reset = true;
		zt_peer_chan_release(ch, 0);
		if (ch == r->ach) {
			r->ach = NULL;
			r->writable = false;
			if (!r->ready) {
				r->out->open_failures++;
				r->reopen_at = r->evq.now + REOPEN_AFTER;
			}
		}
		if (ch == r->cch)
			r->cch = NULL;
		break;
	}
}

static void cb_chan_accept(struct zt_peer *p, void *arg, struct zt_peer_chan *ch,
			   const char *service)
{
	struct run *r = arg;
	(void)p;
	(void)service;

	if (r->cch && r->out->stream_received) {
		zt_peer_chan_release(ch, 0);
		return;
	}
	if (r->cch) /* left from a session that never came up at the agent */
		zt_peer_chan_release(r->cch, 0);
	r->cch = ch;
}

static const struct zt_peer_callbacks real_cb = {
	.chan_event = cb_chan_event,
	.chan_accept = cb_chan_accept,
};

/* The longest time the stream had bytes on their way and none arrived. */
static void stall_track(struct run *r, uint64_t now)
{
	struct zt_sim_real_outcome *out = r->out;

	if (out->stream_received != r->last_received || out->stream_sent == out->stream_received) {
		r->last_received = out->stream_received;
		r->last_progress = now;
		return;
	}
	if (now - r->last_progress > out->max_stall) {
		out->max_stall = now - r->last_progress;
		out->max_stall_end = now;
	}
}

/* Every SAMPLE: the agent's path, and the stream's pace. */
static void sample(void *ctx, void *arg, uint64_t now)
{
	struct run *r = ctx;
	struct zt_sim_outcome *o = &r->out->o;
	uint32_t id;
	struct zt_peer_path_info pi;
	(void)arg;

	if (!r->ach && !r->ready && ((!r->chan_opened_at && now >= CHAN_AT) ||
				     (r->reopen_at && now >= r->reopen_at))) {
		r->chan_opened_at = now;
		r->reopen_at = 0;
		r->out->chan_opens++;
		if (zt_peer_chan_open(r->agent, now, "svc", r, &r->ach) < 0)
			r->reopen_at = now + REOPEN_AFTER;
		zt_sim_ep_kick(&r->eps[2], now);
	}
	pump(r, now);
	zt_sim_ep_kick(&r->eps[2], now);
	drain(r);
	stall_track(r, now);
	zt_sim_ep_kick(&r->eps[1], now);
	if (zt_peer_session_ids(r->agent, &id, 1) >= 1 && zt_peer_session_path(r->agent, id, &pi) == 0) {
		struct zt_peer_session_info si;
		if (zt_peer_session_info(r->agent, id, &si) == 0 && si.state == ZT_PEER_S_READY &&
		    !o->session_up) {
			o->session_up = true;
			o->session_at = now;
		}
		if (pi.direct && !o->went_direct) {
			o->went_direct = true;
			o->first_direct_at = now;
			o->time_to_direct = pi.time_to_direct;
		}
		o->final_path = pi.direct ? ZT_SIM_PATH_DIRECT : ZT_SIM_PATH_RELAY;
		o->generations = pi.generation;
		if (pi.switches != r->last_switches) {
			for (uint32_t k = r->last_switches; k < pi.switches && r->nswitch_times < 64; k++)
				r->switch_times[r->nswitch_times++] = now;
			r->last_switches = pi.switches;
		}
		o->switches = pi.switches;
	}
	{
		struct zt_sim_dbg_view v = dbg_view(r);
		zt_sim_dbg_tick(&r->dbg, &v, now);
	}
	if (now + SAMPLE <= r->end)
		zt_sim_evq_push(&r->evq, now + SAMPLE, sample, r, NULL);
}

static uint32_t per_minute_max(const struct run *r)
{
	uint32_t best = 0;

	for (unsigned i = 0; i < r->nswitch_times; i++) {
		uint32_t n = 0;
		for (unsigned j = i; j < r->nswitch_times; j++)
			if (r->switch_times[j] < r->switch_times[i] + 60 * ZT_SEC)
				n++;
		if (n > best)
			best = n;
	}
	return best;
}

/* What a node is told of its NAT and given to spray from (docs/hard-nat.md). */
struct nodecfg {
	uint8_t mapping, ports;
	const struct zt_addr *spray;
	size_t nspray;
	struct zt_addr local, mapped, gateway; /* a port mapping (family 0: none) */
};

/* As an operator who ran `ztna discover` would configure the node on net node n:
 * ports sequential where they are predictable; with 'sim run probe on', its NAT's
 * mapping and ports, and sockets to spray from (host:40000 + i, the shell's part). */
static int node_cfg(struct run *r, int n, const struct zt_addr *host, int k, struct nodecfg *ret)
{
	const struct zt_sim_scn *scn = r->cfg->scn;
	size_t ns = scn->probe_sockets ? scn->probe_sockets : ZT_BIRTHDAY_SOCKETS;

	*ret = (struct nodecfg){ .ports = zt_sim_predictable(&r->net, n) ? ZT_CTRL_NAT_PORTS_SEQUENTIAL : 0,
				 .local = *host };
	if (r->net.nodes[n].portmapped) {
		ret->mapped = r->net.nodes[n].mapped;
		ret->gateway = r->net.nodes[r->net.nodes[n].up].nat.wan;
	}
	if (!scn->probe)
		return 0;
	zt_sim_nat_known(&r->net, n, scn->detect, &ret->mapping, &ret->ports);
	r->spray[k] = calloc(ns, sizeof(*r->spray[k]));
	if (!r->spray[k])
		return -ENOMEM;
	for (size_t i = 0; i < ns; i++) {
		r->spray[k][i] = *host;
		r->spray[k][i].port = (uint16_t)(40000 + i);
	}
	ret->spray = r->spray[k];
	ret->nspray = ns;
	return 0;
}

/* 'sim run portmap on' with a NAT that grants mappings: the mapping the NAT holds
 * (session.c) handed to the node as its shell's UPnP client hands one over
 * (zt_peer_portmap_external), so the node's own code makes the candidate. */
static int mapping_given(struct zt_peer *p, const struct nodecfg *nc, uint64_t now)
{
	int rc;

	if (!nc->mapped.family)
		return 0;
	rc = zt_peer_portmap_route(p, now, &nc->gateway, &nc->local);
	return rc < 0 ? rc : zt_peer_portmap_external(p, now, "upnp", &nc->mapped, 3600);
}

/* The Intermediate, the connector and the agent, with the policy that lets alice use
 * svc and c1 serve it. */
static int cores_new(struct run *r, const struct zt_addr *imd_addr, const struct zt_addr *a_addr,
		     const struct zt_addr *c_addr, const struct nodecfg nc[2])
{
	struct zt_imd_config ic;
	struct zt_peer_config pc;
	const char *why;
	void *(*qlog_open)(void *, const char *) = zt_sim_dbg_qlog_open(&r->dbg);
	int rc;

	rc = zt_policy_new(&r->policy);
	if (rc < 0 || (rc = zt_policy_add_client(r->policy, "agent:alice:tok-a", &why)) < 0 ||
	    (rc = zt_policy_add_client(r->policy, "connector:c1:tok-c", &why)) < 0 ||
	    (rc = zt_policy_add_allow(r->policy, "alice=svc", &why)) < 0 ||
	    (rc = zt_policy_add_serve(r->policy, "c1=svc", &why)) < 0)
		return rc;
	ic = (struct zt_imd_config){ .tls = pki.imd, .rng = &r->rng[0], .policy = r->policy,
				     .listen = *imd_addr, .open_hold = 5 * ZT_SEC,
				     .log = zt_sim_dbg_log(&r->who[0]), .qlog_open = qlog_open,
				     .qlog_write = zt_sim_dbg_qlog_write, .qlog_arg = &r->who[0] };
	rc = zt_imd_new(&r->imd, &ic, 0);
	if (rc < 0)
		return rc;
	r->service = (struct zt_peer_service){ .name = "svc", .tls = pki.svc };
	pc = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_CONNECTOR, .name = "c1", .token = (const uint8_t *)"tok-c",
		.token_len = 5, .intermediate = *imd_addr, .local = *c_addr, .outer_tls = pki.c_outer,
		.services = &r->service, .n_services = 1, .rng = &r->rng[1], .cb = &real_cb, .arg = r,
		.nat_mapping = nc[1].mapping, .nat_ports = nc[1].ports, .spray = nc[1].spray,
		.nspray = nc[1].nspray, .predict_off = r->cfg->scn->predict_off,
		.portmap = nc[1].mapped.family ? ZT_PEER_PORTMAP_UPNP : ZT_PEER_PORTMAP_OFF,
		.probe_count = r->cfg->scn->probe_count, .probe_rate = r->cfg->scn->probe_rate,
		.log = zt_sim_dbg_log(&r->who[1]), .qlog_open = qlog_open,
		.qlog_write = zt_sim_dbg_qlog_write, .qlog_arg = &r->who[1],
	};
	rc = zt_peer_new(&r->conn, &pc, 0);
	if (rc < 0 || (rc = mapping_given(r->conn, &nc[1], 0)) < 0)
		return rc;
	pc = (struct zt_peer_config){
		.role = ZT_CTRL_ROLE_AGENT, .name = "alice", .token = (const uint8_t *)"tok-a",
		.token_len = 5, .intermediate = *imd_addr, .local = *a_addr, .outer_tls = pki.a_outer,
		.inner_tls = pki.a_inner, .rng = &r->rng[2], .cb = &real_cb, .arg = r,
		.nat_mapping = nc[0].mapping, .nat_ports = nc[0].ports, .spray = nc[0].spray,
		.nspray = nc[0].nspray, .predict_off = r->cfg->scn->predict_off,
		.portmap = nc[0].mapped.family ? ZT_PEER_PORTMAP_UPNP : ZT_PEER_PORTMAP_OFF,
		.probe_count = r->cfg->scn->probe_count, .probe_rate = r->cfg->scn->probe_rate,
		.log = zt_sim_dbg_log(&r->who[2]), .qlog_open = qlog_open,
		.qlog_write = zt_sim_dbg_qlog_write, .qlog_arg = &r->who[2],
	};
	rc = zt_peer_new(&r->agent, &pc, AGENT_BOOT);
	return rc < 0 ? rc : mapping_given(r->agent, &nc[0], AGENT_BOOT);
}

int zt_sim_real_run(const struct zt_sim_session_cfg *cfg, struct zt_sim_real_outcome *ret)
{
	const struct zt_sim_scn *scn = cfg->scn;
	struct zt_sim_outcome *o = &ret->o;
	struct zt_scn_error err;
	struct zt_imd_stats is;
	struct zt_addr imd_addr, a_addr, c_addr;
	struct run *r;
	int rc, a, c, rl;

	rc = zt_sim_scn_check(scn, &err);
	if (rc < 0)
		return rc;
	if (pki.rc == 1)
		pki.rc = pki_make();
	if (pki.rc < 0)
		return pki.rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(ret, 0, sizeof(*ret));
	r->out = ret;
	r->cfg = cfg;
	zt_sim_dbg_init(&r->dbg, &r->evq.now);
	r->who[0] = (struct zt_sim_dbg_who){ &r->dbg, "imd" };
	r->who[1] = (struct zt_sim_dbg_who){ &r->dbg, "connector" };
	r->who[2] = (struct zt_sim_dbg_who){ &r->dbg, "agent" };
	r->end = scn->duration;
	rc = zt_sim_session_net(&r->net, &r->evq, cfg, r->map, &a, &c, &rl);
	if (rc < 0)
		goto out;
	for (int i = 0; i < 3; i++) {
		zt_prng_seed(&r->prng[i], cfg->seed * 3 + (uint64_t)i + 1);
		r->rng[i] = zt_prng_rng(&r->prng[i]);
	}
	imd_addr = r->net.nodes[rl].addrs[0];
	imd_addr.port = IMD_PORT;
	a_addr = r->net.nodes[a].addrs[0];
	a_addr.port = AGENT_PORT;
	c_addr = r->net.nodes[c].addrs[0];
	c_addr.port = CONNECTOR_PORT;
	{
		struct nodecfg nc[2];
		if ((rc = node_cfg(r, a, &a_addr, 0, &nc[0])) < 0 ||
		    (rc = node_cfg(r, c, &c_addr, 1, &nc[1])) < 0)
			goto out;
		rc = cores_new(r, &imd_addr, &a_addr, &c_addr, nc);
	}
	if (rc < 0)
		goto out;
	r->nodes[0] = (struct node){ &zt_nodeio_imd_ops, r->imd };
	r->nodes[1] = (struct node){ &zt_nodeio_peer_ops, r->conn };
	r->nodes[2] = (struct node){ &zt_nodeio_peer_ops, r->agent };
	zt_sim_ep_attach(&r->eps[0], &r->net, rl, &node_ops, &r->nodes[0], 0);
	zt_sim_ep_attach(&r->eps[1], &r->net, c, &node_ops, &r->nodes[1], 0);
	zt_sim_ep_attach(&r->eps[2], &r->net, a, &node_ops, &r->nodes[2], AGENT_BOOT);
	zt_sim_evq_push(&r->evq, SAMPLE, sample, r, NULL);

	zt_sim_evq_run(&r->evq, scn->duration);
	drain(r);

	zt_imd_stats(r->imd, &is);
	ret->relay_pkts = is.relay_pkts;
	{
		struct zt_sim_dbg_view v = dbg_view(r);
		zt_sim_dbg_final(&r->dbg, &v, &is);
	}
	o->theory = zt_sim_theory(&r->net, a, c, !scn->predict_off);
	o->birthday_cell = scn->probe && zt_sim_birthday_cell(&r->net, a, c, scn->detect);
	o->max_switches_per_min = per_minute_max(r);
	o->data_sent = ret->stream_sent;
	o->data_received = ret->stream_received;
	o->events = r->evq.popped;
	o->spun = r->evq.spun;
	o->spun_at = r->evq.spun_at;
	o->packets = r->net.sent;
	o->dropped = r->net.dropped;
	o->end = scn->duration;
	rc = 0;
out:
	zt_peer_free(r->agent);
	zt_peer_free(r->conn);
	zt_imd_free(r->imd);
	zt_policy_free(r->policy);
	zt_sim_evq_drain(&r->evq, zt_sim_drop_event);
	zt_sim_evq_fini(&r->evq);
	zt_sim_net_fini(&r->net);
	free(r->spray[0]);
	free(r->spray[1]);
	free(r);
	return rc;
}
