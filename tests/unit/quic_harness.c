#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/units.h"
#include "quic_harness.h"

static int issue(struct zt_pki_ca *ca, enum zt_pki_kind kind, const char *name,
		 const struct zt_addr *ips, size_t n_ips, time_t now, struct zt_rng *rng,
		 struct zt_pki_pem *ret)
{
	struct zt_pki_subject s = { .kind = kind, .name = name, .ips = ips, .n_ips = n_ips };
	return zt_pki_issue(ca, &s, now, rng, ret);
}

int qh_pki_init(struct qh_pki *p, struct zt_rng *rng)
{
	struct zt_addr lo = qh_addr("127.0.0.1");
	struct zt_pki_ca *ca = NULL, *rogue = NULL;
	time_t now = time(NULL);
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = zt_pki_ca_new(&ca, "ztna test CA", 0, now, rng)) < 0 ||
	    (rc = zt_pki_ca_pem(ca, &p->ca)) < 0 ||
	    (rc = issue(ca, ZT_PKI_INTERMEDIATE, "relay", &lo, 1, now, rng, &p->intermediate)) < 0 ||
	    (rc = issue(ca, ZT_PKI_SERVICE, "web", NULL, 0, now, rng, &p->web)) < 0 ||
	    (rc = issue(ca, ZT_PKI_AGENT, "alice", NULL, 0, now, rng, &p->alice)) < 0 ||
	    (rc = issue(ca, ZT_PKI_CONNECTOR, "c1", NULL, 0, now, rng, &p->c1)) < 0 ||
	    (rc = zt_pki_ca_new(&rogue, "ztna test CA", 0, now, rng)) < 0 ||
	    (rc = zt_pki_ca_pem(rogue, &p->rogue_ca)) < 0 ||
	    (rc = issue(rogue, ZT_PKI_SERVICE, "web", NULL, 0, now, rng, &p->rogue_web)) < 0 ||
	    (rc = issue(rogue, ZT_PKI_AGENT, "mallory", NULL, 0, now, rng, &p->mallory)) < 0)
		qh_pki_fini(p);
	zt_pki_ca_free(ca);
	zt_pki_ca_free(rogue);
	return rc;
}

void qh_pki_fini(struct qh_pki *p)
{
	zt_pki_pem_fini(&p->ca);
	zt_pki_pem_fini(&p->intermediate);
	zt_pki_pem_fini(&p->web);
	zt_pki_pem_fini(&p->alice);
	zt_pki_pem_fini(&p->c1);
	zt_pki_pem_fini(&p->rogue_ca);
	zt_pki_pem_fini(&p->rogue_web);
	zt_pki_pem_fini(&p->mallory);
}

int qh_fixture_setup(void **state)
{
	struct qh_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	zt_prng_seed(&f->prng, 0x7a74);
	f->rng = zt_prng_rng(&f->prng);
	if (qh_pki_init(&f->pki, &f->rng) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int qh_fixture_teardown(void **state)
{
	struct qh_fixture *f = *state;

	qh_pki_fini(&f->pki);
	free(f);
	return 0;
}

struct zt_addr qh_addr(const char *text)
{
	struct zt_addr a;

	memset(&a, 0, sizeof(a));
	zt_addr_parse(&a, text, 0);
	return a;
}

void qh_log_line(void *arg, const char *line)
{
	fprintf(stderr, "%s: %s\n", (const char *)arg, line);
}

bool qh_contains(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
	if (nlen == 0)
		return true;
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (hay[i] == needle[0] && !memcmp(hay + i, needle, nlen))
			return true;
	return false;
}

void qh_net_init(struct qh_net *n, uint64_t latency)
{
	memset(n, 0, sizeof(*n));
	n->latency = latency;
	n->now = 1000 * ZT_SEC; /* not zero: catches code that treats 0 as unset */
	n->wake = ZT_TIME_NEVER;
}

void qh_net_fini(struct qh_net *n)
{
	while (n->head) {
		struct qh_pkt *p = n->head;
		n->head = p->next;
		free(p);
	}
	n->tail = NULL;
}

void qh_node_init(struct qh_node *nd, struct qh_net *n, const char *addr,
		  const struct zt_rng *rng)
{
	memset(nd, 0, sizeof(*nd));
	nd->net = n;
	nd->addr = qh_addr(addr);
	zt_quic_cidmap_new(&nd->map, rng);
	if (n->nnodes < QH_MAX_NODES)
		n->nodes[n->nnodes++] = nd;
}

void qh_node_fini(struct qh_node *nd)
{
	for (size_t i = 0; i < nd->nconns; i++)
		zt_quic_conn_free(nd->conns[i]);
	nd->nconns = 0;
	zt_quic_cidmap_free(nd->map);
	nd->map = NULL;
}

void qh_node_add(struct qh_node *nd, struct zt_quic_conn *c)
{
	if (nd->nconns < QH_MAX_CONNS)
		nd->conns[nd->nconns++] = c;
}

void qh_wire_send(struct qh_net *n, const struct zt_addr *from, const struct zt_addr *to,
		  const uint8_t *pkt, size_t len)
{
	struct qh_pkt *p = malloc(sizeof(*p) + len);

	if (!p)
		return;
	p->next = NULL;
	p->at = n->now + n->latency;
	p->from = *from;
	p->to = *to;
	p->len = len;
	memcpy(p->data, pkt, len);
	n->pkts++;
	n->bytes += len;
	if (n->tap && n->tap(n->tap_arg, p)) {
		n->dropped++;
		free(p);
		return;
	}
	/* Constant latency: arrival order is sending order. */
	if (n->tail)
		n->tail->next = p;
	else
		n->head = p;
	n->tail = p;
}

void qh_node_deliver(struct qh_node *nd, const struct zt_addr *from, const uint8_t *pkt,
		     size_t len)
{
	struct zt_quic_path path = { .local = nd->addr, .remote = *from };
	struct zt_quic_conn *c = zt_quic_cidmap_lookup_pkt(nd->map, pkt, len);

	if (c) {
		zt_quic_conn_recv(c, nd->net->now, &path, pkt, len);
		return;
	}
	if (nd->accept_cfg && zt_quic_pkt_is_initial(pkt, len) && nd->nconns < QH_MAX_CONNS) {
		if (zt_quic_conn_accept(&c, nd->accept_cfg, &path, pkt, len, nd->accept_arg,
					nd->net->now) == 0)
			qh_node_add(nd, c);
		return;
	}
	nd->unrouted++;
}

static size_t flush_conn(struct qh_node *nd, struct zt_quic_conn *c)
{
	uint8_t buf[65536];
	struct zt_quic_path p;
	size_t sent = 0;
	int n;

	size_t cap = nd->tx_cap ? nd->tx_cap : sizeof(buf);

	while ((n = zt_quic_conn_poll_send(c, nd->net->now, buf, cap, &p)) > 0) {
		sent++;
		if (zt_quic_is_relay_addr(&p.local)) {
			if (nd->virt_send)
				nd->virt_send(nd->virt_arg, c, &p, buf, (size_t)n);
		} else {
			qh_wire_send(nd->net, &p.local, &p.remote, buf, (size_t)n);
		}
	}
	return sent;
}

void qh_flush(struct qh_net *n)
{
	/* Sending can queue work for other connections (a relay): repeat until quiet. */
	for (int round = 0; round < 8; round++) {
		size_t sent = 0;
		for (size_t i = 0; i < n->nnodes; i++)
			for (size_t j = 0; j < n->nodes[i]->nconns; j++)
				sent += flush_conn(n->nodes[i], n->nodes[i]->conns[j]);
		if (!sent)
			break;
	}
}

static struct qh_node *node_at(struct qh_net *n, const struct zt_addr *a)
{
	for (size_t i = 0; i < n->nnodes; i++)
		if (zt_addr_equal(&n->nodes[i]->addr, a))
			return n->nodes[i];
	return NULL;
}

static uint64_t next_event(const struct qh_net *n)
{
	uint64_t t = n->wake;

	if (n->head && n->head->at < t)
		t = n->head->at;
	for (size_t i = 0; i < n->nnodes; i++)
		for (size_t j = 0; j < n->nodes[i]->nconns; j++) {
			uint64_t d = zt_quic_conn_next_deadline(n->nodes[i]->conns[j]);
			if (d < t)
				t = d;
		}
	return t;
}

bool qh_run(struct qh_net *n, bool (*step)(void *arg, uint64_t now), void *arg,
	    uint64_t until)
{
	for (unsigned long iter = 0; iter < 20000000UL; iter++) {
		uint64_t next;

		n->wake = ZT_TIME_NEVER;
		if (step && step(arg, n->now))
			return true;
		qh_flush(n);
		next = next_event(n);
		if (next == ZT_TIME_NEVER || next > until)
			return false;
		if (next > n->now)
			n->now = next;
		while (n->head && n->head->at <= n->now) {
			struct qh_pkt *p = n->head;
			struct qh_node *nd = node_at(n, &p->to);
			n->head = p->next;
			if (!n->head)
				n->tail = NULL;
			if (nd)
				qh_node_deliver(nd, &p->from, p->data, p->len);
			else
				n->undeliverable++;
			free(p);
		}
		for (size_t i = 0; i < n->nnodes; i++)
			for (size_t j = 0; j < n->nodes[i]->nconns; j++) {
				struct zt_quic_conn *c = n->nodes[i]->conns[j];
				if (zt_quic_conn_next_deadline(c) <= n->now)
					zt_quic_conn_on_timeout(c, n->now);
			}
	}
	return false;
}

int qh_pair_init(struct qh_pair *p, const struct qh_pki *pki, const struct zt_rng *rng,
		 const struct zt_quic_config *tmpl, const struct zt_quic_callbacks *cb,
		 void *arg)
{
	struct zt_tls_config st = { .side = ZT_TLS_SERVER, .alpn = ZT_ALPN_OUTER,
				    .ca_pem = pki->ca.cert, .cert_pem = pki->intermediate.cert,
				    .key_pem = pki->intermediate.key, .require_peer_cert = true };
	struct zt_tls_config ct = { .side = ZT_TLS_CLIENT, .alpn = ZT_ALPN_OUTER,
				    .ca_pem = pki->ca.cert, .cert_pem = pki->alice.cert,
				    .key_pem = pki->alice.key };
	struct zt_quic_path path;
	int rc;

	memset(p, 0, sizeof(*p));
	qh_net_init(&p->net, 5 * ZT_MS);
	qh_node_init(&p->srv, &p->net, "127.0.0.1:4433", rng);
	qh_node_init(&p->cli, &p->net, "127.0.0.2:5000", rng);
	if ((rc = zt_tls_ctx_new(&p->stls, &st)) < 0 || (rc = zt_tls_ctx_new(&p->ctls, &ct)) < 0)
		return rc;
	if (tmpl)
		p->scfg = p->ccfg = *tmpl;
	p->scfg.tls = p->stls;
	p->ccfg.tls = p->ctls;
	p->scfg.rng = p->ccfg.rng = rng;
	p->scfg.cb = p->ccfg.cb = cb;
	p->scfg.cidmap = p->srv.map;
	p->ccfg.cidmap = p->cli.map;
	if (getenv("QH_LOG")) {
		p->ccfg.log = p->scfg.log = qh_log_line;
		p->ccfg.log_arg = "cli";
		p->scfg.log_arg = "srv";
	}
	p->srv.accept_cfg = &p->scfg;
	p->srv.accept_arg = arg;
	path = (struct zt_quic_path){ .local = p->cli.addr, .remote = p->srv.addr };
	rc = zt_quic_conn_connect(&p->client, &p->ccfg, ZT_PKI_INTERMEDIATE_DNS, &path, arg,
				  p->net.now);
	if (rc < 0)
		return rc;
	qh_node_add(&p->cli, p->client);
	return 0;
}

struct zt_quic_conn *qh_pair_server(struct qh_pair *p)
{
	return p->srv.nconns ? p->srv.conns[0] : NULL;
}

static bool pair_up(void *arg, uint64_t now)
{
	struct qh_pair *p = arg;
	(void)now;
	return zt_quic_conn_state(p->client) == ZT_QUIC_ESTABLISHED && qh_pair_server(p) &&
	       zt_quic_conn_state(qh_pair_server(p)) == ZT_QUIC_ESTABLISHED;
}

bool qh_pair_connect(struct qh_pair *p)
{
	return qh_run(&p->net, pair_up, p, p->net.now + 5 * ZT_SEC);
}

void qh_pair_fini(struct qh_pair *p)
{
	qh_node_fini(&p->cli);
	qh_node_fini(&p->srv);
	qh_net_fini(&p->net);
	zt_tls_ctx_free(p->stls);
	zt_tls_ctx_free(p->ctls);
}

void qh_ep_init(struct qh_ep *e, uint64_t seed_out, uint64_t seed_in)
{
	memset(e, 0, sizeof(*e));
	e->sid = -1;
	e->seed_out = seed_out;
	e->seed_in = seed_in;
}

uint8_t qh_ep_byte(const struct qh_ep *e, uint64_t seed, uint64_t off)
{
	if (e->marker_len && off % 4096 < e->marker_len)
		return e->marker[off % 4096];
	return qh_pattern(seed, off);
}

void qh_ep_pump(struct qh_ep *e)
{
	uint8_t chunk[16384];

	if (e->sid < 0 || !e->c)
		return;
	while (e->sent < e->to_send) {
		size_t len = e->to_send - e->sent < sizeof(chunk) ? e->to_send - e->sent : sizeof(chunk);
		int n;
		for (size_t i = 0; i < len; i++)
			chunk[i] = qh_ep_byte(e, e->seed_out, e->sent + i);
		n = zt_quic_stream_write(e->c, e->sid, chunk, len);
		if (n < 0)
			return;
		e->sent += (uint64_t)n;
		if ((size_t)n < len) {
			e->short_writes++;
			return;
		}
	}
	if (e->send_fin && !e->fin_sent && zt_quic_stream_shutdown_write(e->c, e->sid) == 0)
		e->fin_sent = true;
}

void qh_ep_drain(struct qh_ep *e, size_t budget)
{
	uint8_t buf[16384];
	size_t got = 0;

	if (e->sid < 0 || !e->c || e->fin_recv)
		return;
	if (zt_quic_stream_readable(e->c, e->sid) > e->max_readable)
		e->max_readable = zt_quic_stream_readable(e->c, e->sid);
	while (!budget || got < budget) {
		size_t want = budget && budget - got < sizeof(buf) ? budget - got : sizeof(buf);
		bool fin = false;
		int n = zt_quic_stream_read(e->c, e->sid, buf, want, &fin);
		if (n < 0)
			return;
		for (int i = 0; i < n; i++) {
			uint64_t off = e->received + (uint64_t)i;
			if (buf[i] != qh_ep_byte(e, e->seed_in, off))
				e->corrupt = true;
			if (e->marker_len && off % 4096 == e->marker_len - 1)
				e->markers_in++;
		}
		e->received += (uint64_t)n;
		got += (size_t)n;
		if (fin) {
			e->fin_recv = true;
			return;
		}
		if (n == 0)
			return;
	}
}

void qh_ep_step(struct qh_net *n, struct qh_ep *e, uint64_t now)
{
	if (e->read_budget && !e->reading_off && !e->fin_recv) {
		if (now >= e->next_read) {
			qh_ep_drain(e, e->read_budget);
			e->next_read = now + e->read_every;
		}
		if (e->next_read < n->wake)
			n->wake = e->next_read;
	}
	qh_ep_pump(e);
}
