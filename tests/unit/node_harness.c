#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/units.h"
#include "node/relay.h"
#include "node_harness.h"

int nh_fixture_setup(void **state)
{
	struct nh_fixture *f = calloc(1, sizeof(*f));
	struct zt_pki_ca *ca = NULL;
	time_t now = time(NULL);
	struct zt_pki_subject bob = { .kind = ZT_PKI_AGENT, .name = "bob" };
	struct zt_pki_subject c2 = { .kind = ZT_PKI_CONNECTOR, .name = "c2" };
	struct zt_pki_subject db = { .kind = ZT_PKI_SERVICE, .name = "db" };

	if (!f)
		return -1;
	zt_prng_seed(&f->prng, 0x6e6f6465);
	f->rng = zt_prng_rng(&f->prng);
	if (qh_pki_init(&f->pki.q, &f->rng) < 0 ||
	    zt_pki_ca_load(&ca, f->pki.q.ca.cert, f->pki.q.ca.key) < 0 ||
	    zt_pki_issue(ca, &bob, now, &f->rng, &f->pki.bob) < 0 ||
	    zt_pki_issue(ca, &c2, now, &f->rng, &f->pki.c2) < 0 ||
	    zt_pki_issue(ca, &db, now, &f->rng, &f->pki.db) < 0) {
		zt_pki_ca_free(ca);
		free(f);
		return -1;
	}
	zt_pki_ca_free(ca);
	*state = f;
	return 0;
}

int nh_fixture_teardown(void **state)
{
	struct nh_fixture *f = *state;

	qh_pki_fini(&f->pki.q);
	zt_pki_pem_fini(&f->pki.bob);
	zt_pki_pem_fini(&f->pki.c2);
	zt_pki_pem_fini(&f->pki.db);
	free(f);
	return 0;
}

struct zt_tls_ctx *nh_tls(const struct nh_fixture *f, enum zt_tls_side side, const char *alpn,
			  const struct zt_pki_pem *cred, bool require_peer_cert)
{
	struct zt_tls_config cfg = { .side = side, .alpn = alpn, .ca_pem = f->pki.q.ca.cert,
				     .cert_pem = cred ? cred->cert : NULL,
				     .key_pem = cred ? cred->key : NULL,
				     .require_peer_cert = require_peer_cert };
	struct zt_tls_ctx *ctx = NULL;

	assert_int_equal(zt_tls_ctx_new(&ctx, &cfg), 0);
	return ctx;
}

void nh_log(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	static const char *lv[] = { "error", "warn", "info", "debug", "trace" };
	fprintf(stderr, "# %s %s event=%s %s\n", (const char *)arg, lv[level], event, kv);
}

struct zt_node_log nh_node_log(const char *name)
{
	return (struct zt_node_log){ .fn = getenv("NH_LOG") ? nh_log : NULL, .arg = (void *)name,
				     .max_level = ZT_NODE_DEBUG };
}

void nh_net_init(struct nh_net *n)
{
	memset(n, 0, sizeof(*n));
	n->now = 1000 * ZT_SEC;
	n->wake = ZT_TIME_NEVER;
}

void nh_ep_kill(struct nh_ep *e)
{
	zt_imd_free(e->imd);
	e->imd = NULL;
	zt_peer_free(e->peer);
	e->peer = NULL;
	zt_quic_conn_free(e->raw.conn);
	e->raw.conn = NULL;
	zt_ctrlchan_fini(&e->raw.ch);
}

void nh_net_fini(struct nh_net *n)
{
	while (n->head) {
		struct nh_pkt *p = n->head;
		n->head = p->next;
		free(p);
	}
	for (size_t i = 0; i < n->neps; i++)
		nh_ep_kill(n->eps[i]);
}

void nh_ep_init(struct nh_ep *e, struct nh_net *n, enum nh_kind kind, const char *addr,
		uint64_t lat)
{
	memset(e, 0, sizeof(*e));
	e->net = n;
	e->kind = kind;
	e->addr = e->local = qh_addr(addr);
	e->lat = lat;
	zt_ctrlchan_init(&e->raw.ch, NULL, -1);
	if (n->neps < NH_MAX_EPS)
		n->eps[n->neps++] = e;
}

/* a is one of e's other ports: an Intermediate's STUN port, a mapping of its NAT. */
static bool other_port(const struct nh_ep *e, const struct zt_addr *a)
{
	if (!zt_addr_ip_equal(&e->addr, a))
		return false;
	if (e->kind == NH_IMD && e->stun_port && a->port == e->stun_port)
		return true;
	for (size_t i = 0; e->seq_nat && i < e->nnat; i++)
		if (e->natmap[i].port == a->port)
			return true;
	return false;
}

static struct nh_ep *ep_at(struct nh_net *n, const struct zt_addr *a)
{
	for (size_t i = 0; i < n->neps; i++)
		if (zt_addr_equal(&n->eps[i]->addr, a))
			return n->eps[i];
	for (size_t i = 0; i < n->neps; i++)
		if (other_port(n->eps[i], a))
			return n->eps[i];
	return NULL;
}

static struct nh_ep *ep_from_local(struct nh_net *n, const struct zt_addr *a)
{
	for (size_t i = 0; i < n->neps; i++)
		if (zt_addr_equal(&n->eps[i]->local, a) || zt_addr_equal(&n->eps[i]->addr, a))
			return n->eps[i];
	for (size_t i = 0; i < n->neps; i++)
		if (n->eps[i]->kind == NH_IMD && other_port(n->eps[i], a))
			return n->eps[i];
	return NULL;
}

/* The address the receiver sees a datagram of src's from (sent from `from` to `to`). */
static struct zt_addr public_from(struct nh_ep *src, const struct zt_addr *from,
				  const struct zt_addr *to)
{
	struct zt_addr a = src->addr;

	if (src->kind == NH_IMD && src->stun_port && from->port == src->stun_port) {
		a.port = src->stun_port;
		return a;
	}
	if (!src->seq_nat)
		return a;
	for (size_t i = 0; i < src->nnat; i++)
		if (zt_addr_equal(&src->natmap[i].dst, to)) {
			a.port = src->natmap[i].port;
			return a;
		}
	a.port = (uint16_t)(a.port + src->nnat * (src->nat_step ? src->nat_step : 1));
	if (src->nnat < NH_NAT_MAPS)
		src->natmap[src->nnat] = (struct nh_natmap){ .dst = *to, .port = a.port };
	if (src->nnat < NH_NAT_MAPS)
		src->nnat++;
	return a;
}

/* Into the wire's queue, in time order (after those of the same time). */
static void queue_pkt(struct nh_net *n, struct nh_pkt *p)
{
	struct nh_pkt **pp;

	for (pp = &n->head; *pp && (*pp)->at <= p->at; pp = &(*pp)->next)
		;
	p->next = *pp;
	*pp = p;
}

void nh_send(struct nh_net *n, const struct zt_addr *from, const struct zt_addr *to,
	     const uint8_t *data, size_t len)
{
	struct nh_ep *src = ep_from_local(n, from), *dst = ep_at(n, to);
	struct nh_pkt *p = malloc(sizeof(*p) + len);

	if (!p)
		return;
	p->next = NULL;
	p->tcp = 0;
	p->link = 0;
	p->fin = false;
	p->at = n->now + (src ? src->lat : 0) + (dst ? dst->lat : 0);
	/* The receiver sees the sender's public address. */
	p->from = src ? public_from(src, from, to) : *from;
	p->to = *to;
	p->len = len;
	memcpy(p->data, data, len);
	n->pkts++;
	n->bytes += len;
	if (src)
		src->tx++;
	if (n->tap && n->tap(n->tap_arg, p)) {
		n->dropped++;
		free(p);
		return;
	}
	queue_pkt(n, p);
}

/* Raw clients. */

void nh_raw_read(struct nh_ep *e)
{
	struct zt_ctrl_msg m;

	if (e->raw.no_read)
		return;
	while (zt_ctrlchan_next(&e->raw.ch, &m) == 1) {
		if (e->raw.nmsgs < NH_MAX_MSGS) {
			e->raw.msgs[e->raw.nmsgs] = m;
			e->raw.msg_at[e->raw.nmsgs] = e->net->now;
		}
		e->raw.nmsgs++;
		e->raw.by_type[m.type & 15]++;
		if (m.type == ZT_CTRL_ERROR)
			e->raw.last_error = m.u.error;
		if (e->raw.on_msg)
			e->raw.on_msg(e, &m, e->raw.on_msg_arg);
	}
}

static void raw_readable(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg)
{
	(void)c;
	(void)sid;
	(void)sarg;
	nh_raw_read(arg);
}

static void raw_writable(struct zt_quic_conn *c, void *arg, int64_t sid, void *sarg)
{
	struct nh_ep *e = arg;
	(void)c;
	(void)sid;
	(void)sarg;
	zt_ctrlchan_flush(&e->raw.ch);
}

static void raw_dgram(struct zt_quic_conn *c, void *arg, const uint8_t *data, size_t len)
{
	struct nh_ep *e = arg;
	(void)c;

	e->raw.ndgrams++;
	e->raw.last_dgram_len = len < sizeof(e->raw.last_dgram) ? len : sizeof(e->raw.last_dgram);
	memcpy(e->raw.last_dgram, data, e->raw.last_dgram_len);
}

static void raw_hs(struct zt_quic_conn *c, void *arg)
{
	struct nh_ep *e = arg;
	(void)c;
	e->raw.handshake = true;
}

static const struct zt_quic_callbacks raw_cb = {
	.handshake_done = raw_hs,
	.stream_readable = raw_readable,
	.stream_writable = raw_writable,
	.datagram = raw_dgram,
};

int nh_raw_connect(struct nh_ep *e, struct zt_tls_ctx *tls, const struct zt_addr *imd_addr)
{
	static uint64_t seq;
	struct zt_quic_config qc = { .tls = tls, .cb = &raw_cb };
	struct zt_quic_path path = { .local = e->local, .remote = *imd_addr };

	zt_quic_conn_free(e->raw.conn);
	zt_ctrlchan_fini(&e->raw.ch);
	memset(&e->raw, 0, sizeof(e->raw));
	zt_ctrlchan_init(&e->raw.ch, NULL, -1);
	zt_prng_seed(&e->raw.prng, 0x726177 + ++seq);
	e->raw.rng = zt_prng_rng(&e->raw.prng);
	qc.rng = &e->raw.rng;
	int rc = zt_quic_conn_connect(&e->raw.conn, &qc, ZT_PKI_INTERMEDIATE_DNS, &path, e, e->net->now);
	e->raw.ch.conn = e->raw.conn;
	return rc;
}

size_t nh_first_initial(struct zt_tls_ctx *tls, const struct zt_rng *rng,
			const struct zt_addr *from, const struct zt_addr *to, uint64_t now,
			uint8_t *buf, size_t cap)
{
	struct zt_quic_config qc = { .tls = tls, .rng = rng };
	struct zt_quic_path path = { .local = *from, .remote = *to }, out;
	struct zt_quic_conn *c;
	int n;

	assert_int_equal(zt_quic_conn_connect(&c, &qc, ZT_PKI_INTERMEDIATE_DNS, &path, NULL, now), 0);
	n = zt_quic_conn_poll_send(c, now, buf, cap, &out);
	zt_quic_conn_free(c);
	assert_true(n >= 1200);
	return (size_t)n;
}

int nh_raw_send(struct nh_ep *e, const struct zt_ctrl_msg *m)
{
	if (e->raw.ch.sid < 0) {
		int64_t sid;
		int rc = zt_quic_stream_open(e->raw.conn, &sid, NULL);
		if (rc < 0)
			return rc;
		zt_ctrlchan_attach(&e->raw.ch, sid);
	}
	return zt_ctrlchan_send(&e->raw.ch, m);
}

const struct zt_ctrl_msg *nh_raw_last(const struct nh_ep *e, uint8_t type)
{
	size_t n = e->raw.nmsgs < NH_MAX_MSGS ? e->raw.nmsgs : NH_MAX_MSGS;

	for (size_t i = n; i-- > 0;)
		if (e->raw.msgs[i].type == type)
			return &e->raw.msgs[i];
	return NULL;
}

size_t nh_raw_count(const struct nh_ep *e, uint8_t type)
{
	size_t n = e->raw.nmsgs < NH_MAX_MSGS ? e->raw.nmsgs : NH_MAX_MSGS, k = 0;

	for (size_t i = 0; i < n; i++)
		k += e->raw.msgs[i].type == type;
	return k;
}

size_t nh_raw_total(const struct nh_ep *e, uint8_t type)
{
	return e->raw.by_type[type & 15];
}

void nh_raw_hello(struct nh_ep *e, uint8_t role, const char *name, const char *token,
		  const char *services)
{
	struct zt_ctrl_msg m;
	const char *s = services ? services : "";

	zt_ctrl_msg_init(&m, ZT_CTRL_HELLO);
	m.u.hello.role = role;
	snprintf(m.u.hello.identity, sizeof(m.u.hello.identity), "%s", name);
	m.u.hello.relay_channel = e->raw_chan;
	m.u.hello.token_len = (uint16_t)strlen(token);
	memcpy(m.u.hello.token, token, m.u.hello.token_len);
	while (*s && m.u.hello.n_services < ZT_CTRL_SERVICES_MAX) {
		size_t len = strcspn(s, ",");

		snprintf(m.u.hello.services[m.u.hello.n_services++], sizeof(m.u.hello.services[0]),
			 "%.*s", (int)len, s);
		s += len + (s[len] == ',');
	}
	assert_int_equal(nh_raw_send(e, &m), 0);
}

int nh_raw_open(struct nh_ep *e, uint64_t request_id, const char *service, uint64_t resume)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_OPEN);
	m.u.open.request_id = request_id;
	m.u.open.resume_session = resume;
	snprintf(m.u.open.service, sizeof(m.u.open.service), "%s", service);
	return nh_raw_send(e, &m);
}

struct total_wait {
	struct nh_ep *e;
	uint8_t type;
	size_t count;
};

static bool total_reached(void *arg, uint64_t now)
{
	struct total_wait *tw = arg;
	(void)now;
	return nh_raw_total(tw->e, tw->type) >= tw->count;
}

bool nh_wait_total(struct nh_net *n, struct nh_ep *e, uint8_t type, size_t count, uint64_t d)
{
	struct total_wait tw = { .e = e, .type = type, .count = count };
	return nh_run(n, total_reached, &tw, n->now + d);
}

static bool count_reached(void *arg, uint64_t now)
{
	struct total_wait *tw = arg;
	(void)now;
	return nh_raw_count(tw->e, tw->type) >= tw->count;
}

bool nh_wait_count(struct nh_ep *e, uint8_t type, size_t count, uint64_t d)
{
	struct total_wait tw = { .e = e, .type = type, .count = count };
	return nh_run(e->net, count_reached, &tw, e->net->now + d);
}

static bool handshake_done(void *arg, uint64_t now)
{
	struct nh_ep *e = arg;
	(void)now;
	return e->raw.handshake;
}

bool nh_wait_handshake(struct nh_ep *e, uint64_t d)
{
	return nh_run(e->net, handshake_done, e, e->net->now + d);
}

void nh_raw_up(struct nh_ep *e, struct zt_tls_ctx *tls, const struct zt_addr *imd_addr)
{
	assert_int_equal(nh_raw_connect(e, tls, imd_addr), 0);
	assert_true(nh_wait_handshake(e, NH_LOGIN_WAIT));
}

void nh_raw_cands(struct nh_ep *e, uint32_t session, uint32_t gen, const char *ip)
{
	struct zt_ctrl_msg m;
	struct zt_cand *c;

	zt_ctrl_msg_init(&m, ZT_CTRL_CANDIDATES);
	m.u.cands.session_id = session;
	snprintf(m.u.cands.ufrag, sizeof(m.u.cands.ufrag), "uf%u", gen);
	snprintf(m.u.cands.pwd, sizeof(m.u.cands.pwd), "pwpwpwpwpwpwpwpwpwpwpw");
	m.u.cands.generation = gen;
	m.u.cands.end_of_candidates = true;
	m.u.cands.n_cands = 1;
	c = &m.u.cands.cands[0];
	c->type = ZT_CAND_HOST;
	c->component = 1;
	c->priority = 2130706431;
	snprintf(c->foundation, sizeof(c->foundation), "h1");
	c->addr = qh_addr(ip);
	assert_int_equal(nh_raw_send(e, &m), 0);
}

void nh_raw_login(struct nh_ep *e, struct zt_tls_ctx *tls, const struct zt_addr *imd_addr,
		  uint8_t role, const char *name, const char *token, const char *services)
{
	char pw[ZT_CTRL_TOKEN_MAX + 1];

	snprintf(pw, sizeof(pw), "pw-%s", name);
	nh_raw_up(e, tls, imd_addr);
	nh_raw_hello(e, role, name, token ? token : pw, services);
	assert_true(nh_wait_count(e, ZT_CTRL_WELCOME, 1, NH_LOGIN_WAIT));
}

void nh_run_alive(struct nh_net *n, uint64_t d)
{
	uint64_t end = n->now + d;
	struct zt_ctrl_msg m;

	while (n->now < end) {
		for (size_t i = 0; i < n->neps; i++) {
			struct nh_ep *e = n->eps[i];
			if (e->kind != NH_RAW || !e->raw.conn ||
			    zt_quic_conn_state(e->raw.conn) != ZT_QUIC_ESTABLISHED)
				continue;
			zt_ctrl_msg_init(&m, ZT_CTRL_PING);
			m.u.ping.nonce = n->now;
			m.u.ping.timestamp = n->now;
			(void)nh_raw_send(e, &m);
		}
		nh_run_for(n, end - n->now < ZT_SEC ? end - n->now : ZT_SEC);
	}
}

/* Worlds. */

const uint8_t nh_reset_key[32] = "ztna-test-stateless-reset-key!!";

struct zt_policy *nh_policy(const char *const *lines)
{
	static const struct {
		const char *key;
		int (*add)(struct zt_policy *p, const char *spec, const char **why);
	} keys[] = {
		{ "client ", zt_policy_add_client },
		{ "allow ", zt_policy_add_allow },
		{ "serve ", zt_policy_add_serve },
		{ "limit ", zt_policy_add_limit },
	};
	struct zt_policy *p = NULL;
	const char *why;

	assert_int_equal(zt_policy_new(&p), 0);
	for (; *lines; lines++) {
		size_t k = 0;

		while (k < sizeof(keys) / sizeof(keys[0]) &&
		       strncmp(*lines, keys[k].key, strlen(keys[k].key)))
			k++;
		assert_true(k < sizeof(keys) / sizeof(keys[0]));
		assert_int_equal(keys[k].add(p, *lines + strlen(keys[k].key), &why), 0);
	}
	return p;
}

void nh_world_init(struct nh_world *w, struct nh_fixture *f, const char *const *policy)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	nh_net_init(&w->net);
	w->policy = nh_policy(policy);
	w->imd_tls = nh_tls(f, ZT_TLS_SERVER, ZT_ALPN_OUTER, &f->pki.q.intermediate, true);
	w->alice_tls = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.q.alice, false);
	w->bob_tls = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.bob, false);
	w->c1_tls = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.q.c1, false);
	w->c2_tls = nh_tls(f, ZT_TLS_CLIENT, ZT_ALPN_OUTER, &f->pki.c2, false);
	nh_ep_init(&w->imd, &w->net, NH_IMD, "127.0.0.1:4433", 0);
	nh_ep_init(&w->alice, &w->net, NH_RAW, "127.0.0.2:5000", 5 * ZT_MS);
	nh_ep_init(&w->bob, &w->net, NH_RAW, "127.0.0.4:5000", 5 * ZT_MS);
	nh_ep_init(&w->c1, &w->net, NH_RAW, "127.0.0.3:6000", 20 * ZT_MS);
	nh_ep_init(&w->c2, &w->net, NH_RAW, "127.0.0.5:6000", 20 * ZT_MS);
	w->icfg = (struct zt_imd_config){
		.tls = w->imd_tls,
		.rng = &f->rng,
		.policy = w->policy,
		.listen = w->imd.addr,
		.log = nh_node_log("imd"),
	};
}

void nh_world_start(struct nh_world *w)
{
	assert_int_equal(zt_imd_new(&w->imd.imd, &w->icfg, w->net.now), 0);
}

void nh_pair_two(struct nh_world *w, uint32_t *ret_a, uint32_t *ret_b)
{
	nh_raw_login(&w->c1, w->c1_tls, &w->imd.addr, ZT_CTRL_ROLE_CONNECTOR, "c1", "pw-c1",
		     "web,db");
	nh_raw_login(&w->alice, w->alice_tls, &w->imd.addr, ZT_CTRL_ROLE_AGENT, "alice",
		     "pw-alice", NULL);
	nh_raw_login(&w->bob, w->bob_tls, &w->imd.addr, ZT_CTRL_ROLE_AGENT, "bob", "pw-bob", NULL);
	assert_int_equal(nh_raw_open(&w->alice, 7, "web", 0), 0);
	assert_int_equal(nh_raw_open(&w->bob, 9, "db", 0), 0);
	assert_true(nh_wait_count(&w->alice, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&w->bob, ZT_CTRL_SESSION, 1, 3 * ZT_SEC));
	assert_true(nh_wait_count(&w->c1, ZT_CTRL_SESSION, 2, 3 * ZT_SEC));
	*ret_a = (uint32_t)nh_raw_last(&w->alice, ZT_CTRL_SESSION)->u.session.session_id;
	*ret_b = (uint32_t)nh_raw_last(&w->bob, ZT_CTRL_SESSION)->u.session.session_id;
}

void nh_world_fini(struct nh_world *w)
{
	nh_net_fini(&w->net);
	zt_policy_free(w->policy);
	zt_tls_ctx_free(w->imd_tls);
	zt_tls_ctx_free(w->alice_tls);
	zt_tls_ctx_free(w->bob_tls);
	zt_tls_ctx_free(w->c1_tls);
	zt_tls_ctx_free(w->c2_tls);
}

/* TCP connections between a peer and the Intermediate. */

static void tcp_send(struct nh_net *n, struct nh_ep *from, struct nh_ep *to, uint64_t id,
		     const uint8_t *data, size_t len, bool fin)
{
	struct nh_pkt *p = malloc(sizeof(*p) + len);

	if (!p)
		return;
	*p = (struct nh_pkt){ .at = n->now + from->lat + to->lat, .tcp = id, .fin = fin,
			      .from = from->addr, .to = to->addr, .len = len };
	if (len)
		memcpy(p->data, data, len);
	n->pkts++;
	n->bytes += len;
	from->tx++;
	if (n->tap && n->tap(n->tap_arg, p)) {
		n->dropped++;
		free(p);
		return;
	}
	queue_pkt(n, p);
}

static struct nh_ep *imd_by_ip(struct nh_net *n, const struct zt_addr *a)
{
	for (size_t i = 0; i < n->neps; i++) {
		struct zt_addr x = n->eps[i]->addr;
		x.port = a->port;
		if (n->eps[i]->kind == NH_IMD && zt_addr_equal(&x, a))
			return n->eps[i];
	}
	return NULL;
}

static struct nh_ep *peer_by_tcp(struct nh_net *n, const struct nh_ep *imd, uint64_t id)
{
	for (size_t i = 0; i < n->neps; i++)
		if (n->eps[i]->tcp_imd == imd && n->eps[i]->tcp_id == id)
			return n->eps[i];
	return NULL;
}

static void peer_tcp_connect(struct nh_ep *e, uint64_t gen, const struct zt_addr *remote)
{
	struct nh_net *n = e->net;
	struct nh_ep *im = imd_by_ip(n, remote);
	struct zt_addr at = *remote;

	e->tcp_gen = gen;
	if (!im || im->down || !im->imd || e->tcp_refused ||
	    zt_imd_tcp_accept(im->imd, n->now, &at, &e->addr, &e->tcp_id) < 0) {
		e->tcp_id = 0;
		zt_peer_tcp_closed(e->peer, n->now, gen, -ECONNREFUSED, NULL);
		return;
	}
	e->tcp_imd = im;
	zt_peer_tcp_connected(e->peer, n->now, gen, &e->local);
}

static void peer_tcp_flush(struct nh_ep *e)
{
	struct nh_net *n = e->net;
	struct zt_addr remote;
	uint64_t gen = zt_peer_tcp_wanted(e->peer, &remote);
	const uint8_t *out;
	int len;

	if (gen != e->tcp_gen) {
		if (e->tcp_id)
			tcp_send(n, e, e->tcp_imd, e->tcp_id, NULL, 0, true);
		e->tcp_id = 0;
		e->tcp_imd = NULL;
		e->tcp_gen = 0;
		if (gen)
			peer_tcp_connect(e, gen, &remote);
	}
	if (!e->tcp_id)
		return;
	while ((len = zt_peer_tcp_output(e->peer, e->tcp_gen, &out)) > 0) {
		tcp_send(n, e, e->tcp_imd, e->tcp_id, out, (size_t)len, false);
		zt_peer_tcp_sent(e->peer, n->now, e->tcp_gen, (size_t)len);
	}
}

static void imd_tcp_flush(struct nh_ep *e)
{
	struct nh_net *n = e->net;
	const uint8_t *out;
	uint64_t id;
	int len;

	while (zt_imd_tcp_next(e->imd, &id)) {
		struct nh_ep *peer = peer_by_tcp(n, e, id);

		while ((len = zt_imd_tcp_output(e->imd, id, &out)) > 0) {
			if (peer)
				tcp_send(n, e, peer, id, out, (size_t)len, false);
			zt_imd_tcp_sent(e->imd, n->now, id, (size_t)len);
		}
		if (len == -ENOTCONN) {
			zt_imd_tcp_closed(e->imd, n->now, id, 0);
			if (peer)
				tcp_send(n, e, peer, id, NULL, 0, true);
		}
	}
}

static void tcp_deliver(struct nh_ep *e, const struct nh_pkt *p)
{
	struct nh_net *n = e->net;
	int took;

	if (e->kind == NH_IMD && e->imd) {
		if (p->fin) {
			zt_imd_tcp_closed(e->imd, n->now, p->tcp, 0);
			return;
		}
		took = zt_imd_tcp_recv(e->imd, n->now, p->tcp, p->data, p->len);
		if (took == -ENOENT) {
			/* a connection it does not have (e.g. from before a restart): reset */
			struct nh_ep *from = ep_at(n, &p->from);
			if (from && from->tcp_id == p->tcp)
				tcp_send(n, e, from, p->tcp, NULL, 0, true);
			return;
		}
	} else if (e->kind == NH_PEER && e->peer && e->tcp_id == p->tcp) {
		if (p->fin) {
			zt_peer_tcp_closed(e->peer, n->now, e->tcp_gen, 0, NULL);
			e->tcp_id = 0;
			e->tcp_imd = NULL;
			return;
		}
		took = zt_peer_tcp_recv(e->peer, n->now, e->tcp_gen, p->data, p->len);
	} else {
		return;
	}
	if (took >= 0 && (size_t)took < p->len) {
		/* not all taken (its input is full): the rest comes again a little later */
		struct nh_pkt *q = malloc(sizeof(*q) + p->len - (size_t)took);
		if (!q)
			return;
		*q = *p;
		q->at = n->now + ZT_MS;
		q->len = p->len - (size_t)took;
		memcpy(q->data, p->data + took, q->len);
		queue_pkt(n, q);
	}
}

/* The TCP direct path's links between peers. */

static struct nh_link *link_of(struct nh_ep *e, uint32_t id)
{
	for (size_t i = 0; i < sizeof(e->links) / sizeof(e->links[0]); i++)
		if (e->links[i].id == id)
			return &e->links[i];
	return NULL;
}

static void link_send(struct nh_ep *e, struct nh_link *l, const uint8_t *data, size_t len,
		      bool fin)
{
	struct nh_net *n = e->net;
	struct nh_pkt *p = malloc(sizeof(*p) + len);

	if (!p)
		return;
	*p = (struct nh_pkt){ .at = n->now + e->lat + l->to->lat, .link = l->to_id, .fin = fin,
			      .from = e->addr, .to = l->to->addr, .len = len };
	if (len)
		memcpy(p->data, data, len);
	n->pkts++;
	e->link_bytes += len;
	if (n->tap && n->tap(n->tap_arg, p)) {
		n->dropped++;
		free(p);
		return;
	}
	queue_pkt(n, p);
}

/* A CONNECT meets the other end's CONNECT to it (its address or its local one). */
static void link_connect(struct nh_ep *e, const struct zt_tcplink_req *req)
{
	struct nh_net *n = e->net;
	struct nh_link *l = link_of(e, 0), *o = NULL;
	struct nh_ep *to = ep_at(n, &req->remote);

	if (!l)
		return;
	*l = (struct nh_link){ .id = req->id, .remote = req->remote };
	if (!to || to->kind != NH_PEER || !to->peer || e->links_blocked || to->links_blocked)
		return;
	for (size_t i = 0; i < sizeof(to->links) / sizeof(to->links[0]) && !o; i++)
		if (to->links[i].id && !to->links[i].to &&
		    (zt_addr_equal(&to->links[i].remote, &e->addr) ||
		     zt_addr_equal(&to->links[i].remote, &e->local)))
			o = &to->links[i];
	if (!o)
		return;
	l->to = to;
	l->to_id = o->id;
	o->to = e;
	o->to_id = l->id;
	zt_peer_link_connected(e->peer, n->now, l->id);
	zt_peer_link_connected(to->peer, n->now, o->id);
}

static void peer_link_flush(struct nh_ep *e)
{
	struct nh_net *n = e->net;
	struct zt_tcplink_req req;
	const uint8_t *out;
	size_t len;

	while (zt_peer_link_poll(e->peer, n->now, &req)) {
		struct nh_link *l = link_of(e, req.id);

		if (req.op == ZT_TCPLINK_CONNECT) {
			link_connect(e, &req);
		} else if (l) {
			if (l->to)
				link_send(e, l, NULL, 0, true);
			*l = (struct nh_link){ 0 };
		}
	}
	for (size_t i = 0; i < sizeof(e->links) / sizeof(e->links[0]); i++) {
		struct nh_link *l = &e->links[i];

		while (l->id && l->to && (len = zt_peer_link_output(e->peer, l->id, &out)) > 0) {
			link_send(e, l, out, len, false);
			zt_peer_link_sent(e->peer, n->now, l->id, len);
		}
	}
}

static void link_deliver(struct nh_ep *e, const struct nh_pkt *p)
{
	struct nh_link *l = e->kind == NH_PEER && e->peer ? link_of(e, p->link) : NULL;

	if (!l || !l->to)
		return;
	if (p->fin) {
		*l = (struct nh_link){ 0 };
		zt_peer_link_closed(e->peer, e->net->now, p->link, 0);
		return;
	}
	zt_peer_link_recv(e->peer, e->net->now, p->link, p->data, p->len);
}

/* Driving. */

static void ep_flush(struct nh_ep *e)
{
	static uint8_t buf[65536];
	struct nh_net *n = e->net;
	struct zt_addr l, r;
	struct zt_quic_path path;
	int len;

	if (e->kind == NH_PEER && e->peer) {
		peer_tcp_flush(e);
		peer_link_flush(e);
	}
	if (e->kind == NH_IMD && e->imd)
		imd_tcp_flush(e);
	for (int guard = 0; guard < 100000; guard++) {
		switch (e->kind) {
		case NH_IMD:
			len = e->imd ? zt_imd_poll_send(e->imd, n->now, buf, sizeof(buf), &l, &r) : 0;
			break;
		case NH_PEER:
			len = e->peer ? zt_peer_poll_send(e->peer, n->now, buf, sizeof(buf), &l, &r) : 0;
			break;
		default:
			len = e->raw.conn ? zt_quic_conn_poll_send(e->raw.conn, n->now, buf, sizeof(buf), &path) : 0;
			l = path.local;
			r = path.remote;
			break;
		}
		if (len <= 0) {
			if (e->kind == NH_PEER && e->peer)
				peer_link_flush(e); /* what the inner connections put on links */
			return;
		}
		{
			struct zt_addr from = e->local;
			/* the Intermediate's STUN port answers from itself */
			if (e->kind == NH_IMD && e->stun_port && l.port == e->stun_port)
				from.port = e->stun_port;
			nh_send(n, &from, &r, buf, (size_t)len);
		}
	}
}

static uint64_t ep_deadline(const struct nh_ep *e)
{
	switch (e->kind) {
	case NH_IMD:
		return e->imd ? zt_imd_next_deadline(e->imd) : ZT_TIME_NEVER;
	case NH_PEER:
		return e->peer ? zt_peer_next_deadline(e->peer) : ZT_TIME_NEVER;
	default:
		return e->raw.conn ? zt_quic_conn_next_deadline(e->raw.conn) : ZT_TIME_NEVER;
	}
}

static void ep_timeout(struct nh_ep *e)
{
	uint64_t now = e->net->now;

	if (ep_deadline(e) > now)
		return;
	switch (e->kind) {
	case NH_IMD:
		zt_imd_on_timeout(e->imd, now);
		break;
	case NH_PEER:
		zt_peer_on_timeout(e->peer, now);
		break;
	default:
		zt_quic_conn_on_timeout(e->raw.conn, now);
		break;
	}
}

static void ep_deliver(struct nh_ep *e, const struct nh_pkt *p)
{
	struct nh_net *n = e->net;
	struct zt_quic_path path = { .local = e->local, .remote = p->from };

	e->rx++;
	if (p->tcp) {
		tcp_deliver(e, p);
		return;
	}
	if (p->link) {
		link_deliver(e, p);
		return;
	}
	switch (e->kind) {
	case NH_IMD:
		if (e->imd) {
			struct zt_addr local = e->local;
			if (e->stun_port && p->to.port == e->stun_port)
				local.port = e->stun_port;
			zt_imd_recv(e->imd, n->now, &local, &p->from, p->data, p->len);
		}
		break;
	case NH_PEER:
		if (e->peer)
			zt_peer_recv(e->peer, n->now, &e->local, &p->from, p->data, p->len);
		break;
	default:
		if (zt_relay_is_chan(p->data, p->len)) {
			e->raw.nchan++;
			e->raw.last_chan_len = p->len < sizeof(e->raw.last_chan) ? p->len
										  : sizeof(e->raw.last_chan);
			memcpy(e->raw.last_chan, p->data, e->raw.last_chan_len);
		} else if (e->raw.conn) {
			zt_quic_conn_recv(e->raw.conn, n->now, &path, p->data, p->len);
		}
		break;
	}
}

bool nh_run(struct nh_net *n, bool (*step)(void *arg, uint64_t now), void *arg, uint64_t until)
{
	uint64_t last = n->now;
	unsigned long still = 0;

	for (unsigned long iter = 0; iter < 50000000UL; iter++) {
		uint64_t next;

		/* a deadline that its timer never moves on: the loop spins at one instant
		 * (a daemon would burn a core); said at once, not after 50M turns */
		if (n->now != last) {
			last = n->now;
			still = 0;
		} else if (++still > NH_SPIN_MAX) {
			fprintf(stderr, "# nh_run: %u turns at t=%" PRIu64 " ns without time moving on: "
				"a deadline nothing services?\n", NH_SPIN_MAX, n->now);
			return false;
		}

		n->wake = ZT_TIME_NEVER;
		if (step && step(arg, n->now))
			return true;
		for (size_t i = 0; i < n->neps; i++)
			ep_flush(n->eps[i]);
		next = n->wake;
		if (n->head && n->head->at < next)
			next = n->head->at;
		for (size_t i = 0; i < n->neps; i++) {
			uint64_t d = ep_deadline(n->eps[i]);
			if (d < next)
				next = d;
		}
		if (next == ZT_TIME_NEVER || next > until) {
			if (until != ZT_TIME_NEVER && until > n->now)
				n->now = until;
			return false;
		}
		if (next > n->now)
			n->now = next;
		while (n->head && n->head->at <= n->now) {
			struct nh_pkt *p = n->head;
			struct nh_ep *e = ep_at(n, &p->to);
			n->head = p->next;
			if (e && !e->down)
				ep_deliver(e, p);
			else
				n->undeliverable++;
			free(p);
		}
		for (size_t i = 0; i < n->neps; i++)
			ep_timeout(n->eps[i]);
	}
	return false;
}

void nh_run_for(struct nh_net *n, uint64_t d)
{
	nh_run(n, NULL, NULL, n->now + d);
}
