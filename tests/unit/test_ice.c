#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/cand.h"
#include "core/err.h"
#include "core/ice.h"
#include "core/portpred.h"
#include "core/stun.h"
#include "core/units.h"

/*
 * A two-node test network on virtual time. Each side may sit behind a toy NAT:
 * mapping endpoint-independent (one public port) or endpoint-dependent (a new public
 * port per destination), filtering address-and-port-dependent (only from endpoints
 * the inside has sent to) or open. Every datagram takes one `delay`.
 */

#define MAXQ 512

struct pkt {
	uint64_t at;
	int to_side;
	struct zt_addr src, dst;
	size_t len;
	uint8_t buf[1500];
};

struct nat {
	bool on;
	bool edm;              /* endpoint-dependent mapping (symmetric) */
	bool open_filter;      /* endpoint-independent filtering (full cone) */
	bool addr_filter;      /* address-dependent filtering (address-restricted) */
	struct zt_addr pub_ip; /* port ignored */
	uint16_t next_port;
	/* mappings: inside -> (dest, public port) */
	struct { struct zt_addr dst; uint16_t port; } map[64];
	int nmap;
};

struct side {
	struct zt_ice *ice;
	bool budgeted;              /* set before setup_side: checks are paid for */
	struct zt_check_budget_config bcfg;
	size_t max_remote;
	bool predicting;            /* set before setup_side: cfg.predicting */
	uint16_t probes[ZT_ICE_MTU_PROBES]; /* set before setup_side: cfg.mtu_probe */
	int mtu_events;
	struct zt_check_budget budget;
	struct zt_tokens tokens;
	struct zt_addr host;
	struct nat nat;
	struct zt_prng prng;
	int selected_events, failed_events, consent_lost_events, prflx_events;
};

struct net {
	struct side s[2];
	struct pkt q[MAXQ];
	int nq;
	uint64_t now, delay;
	bool drop_all;
	size_t max_len;             /* datagrams longer are lost (a path MTU); 0: none */
	unsigned drop_next_over;    /* ... and this many more that are longer than 1300 */
	int sent[2];
	uint64_t first_tx_times[2][64];
	struct zt_addr first_dst[2][64];
	int nfirst[2];
};

static uint16_t nat_out(struct nat *n, const struct zt_addr *dst)
{
	uint16_t port = 0;

	for (int i = 0; i < n->nmap; i++) {
		if (zt_addr_equal(&n->map[i].dst, dst))
			return n->map[i].port;
		if (!n->edm)
			port = n->map[i].port; /* endpoint-independent: one public port */
	}
	/* a new destination: remembered for filtering, with a new port only if EDM */
	assert_true(n->nmap < 64);
	n->map[n->nmap].dst = *dst;
	n->map[n->nmap].port = port ? port : n->next_port++;
	return n->map[n->nmap++].port;
}

static bool nat_in_allowed(const struct nat *n, const struct zt_addr *src, uint16_t port)
{
	for (int i = 0; i < n->nmap; i++)
		if (n->map[i].port == port &&
		    (n->open_filter || zt_addr_equal(&n->map[i].dst, src) ||
		     (n->addr_filter && zt_addr_ip_equal(&n->map[i].dst, src))))
			return true;
	return false;
}

static void send_pkt(struct net *net, int from, const struct zt_addr *local,
		     const struct zt_addr *remote, const uint8_t *buf, size_t len)
{
	struct side *s = &net->s[from];
	struct pkt *p;

	assert_true(zt_addr_equal(local, &s->host)); /* always sent from the host address */
	net->sent[from]++;
	if (net->drop_all || (net->max_len && len > net->max_len))
		return;
	if (net->drop_next_over && len > 1300) {
		net->drop_next_over--;
		return;
	}
	assert_true(net->nq < MAXQ);
	p = &net->q[net->nq++];
	p->at = net->now + net->delay;
	p->to_side = !from;
	p->src = *local;
	if (s->nat.on) {
		p->src = s->nat.pub_ip;
		p->src.port = nat_out(&s->nat, remote);
	}
	p->dst = *remote;
	p->len = len;
	memcpy(p->buf, buf, len);
}

static void deliver(struct net *net, struct pkt *p)
{
	struct side *s = &net->s[p->to_side];
	struct zt_addr local = p->dst;

	if (s->nat.on) {
		if (!zt_addr_ip_equal(&p->dst, &s->nat.pub_ip))
			return;
		if (!nat_in_allowed(&s->nat, &p->src, p->dst.port))
			return; /* filtered */
		local = s->host;
	} else if (!zt_addr_equal(&p->dst, &s->host)) {
		return;
	}
	zt_ice_recv(s->ice, net->now, &local, &p->src, p->buf, p->len);
}

static void pump(struct net *net, int side)
{
	uint8_t buf[1500];
	struct zt_addr l, r;
	int n;

	while ((n = zt_ice_poll_send(net->s[side].ice, net->now, buf, sizeof(buf), &l, &r)) > 0) {
		struct zt_stun_msg m;
		assert_int_equal(zt_stun_decode(&m, buf, (size_t)n), 0);
		if (m.cls == ZT_STUN_REQUEST && net->nfirst[side] < 64) {
			/* record first transmissions (new transaction IDs) */
			bool seen = false;
			static uint8_t tids[2][64][12];
			for (int i = 0; i < net->nfirst[side]; i++)
				seen |= !memcmp(tids[side][i], m.tid, 12);
			if (!seen) {
				memcpy(tids[side][net->nfirst[side]], m.tid, 12);
				net->first_dst[side][net->nfirst[side]] = r;
				net->first_tx_times[side][net->nfirst[side]++] = net->now;
			}
		}
		send_pkt(net, side, &l, &r, buf, (size_t)n);
	}
	assert_true(n == 0);
}

static void drain_events(struct side *s)
{
	struct zt_ice_event ev;

	while (zt_ice_poll_event(s->ice, &ev)) {
		switch (ev.type) {
		case ZT_ICE_EV_SELECTED: s->selected_events++; break;
		case ZT_ICE_EV_FAILED: s->failed_events++; break;
		case ZT_ICE_EV_CONSENT_LOST: s->consent_lost_events++; break;
		case ZT_ICE_EV_PRFLX: s->prflx_events++; break;
		case ZT_ICE_EV_PATH_MTU: s->mtu_events++; break;
		default: break;
		}
	}
}

/* Runs the network until `until`, advancing virtual time event by event. */
static void run(struct net *net, uint64_t until)
{
	for (;;) {
		uint64_t next = until;
		for (int i = 0; i < 2; i++) {
			pump(net, i);
			drain_events(&net->s[i]);
		}
		for (int i = 0; i < net->nq; i++)
			if (net->q[i].at < next)
				next = net->q[i].at;
		for (int i = 0; i < 2; i++) {
			uint64_t d = zt_ice_next_deadline(net->s[i].ice);
			if (d < next)
				next = d;
		}
		if (next < net->now)
			next = net->now;
		if (next >= until && net->now >= until)
			break;
		net->now = next;
		for (int i = 0; i < net->nq;) {
			if (net->q[i].at <= net->now) {
				struct pkt p = net->q[i];
				net->q[i] = net->q[--net->nq];
				deliver(net, &p);
			} else {
				i++;
			}
		}
		for (int i = 0; i < 2; i++)
			zt_ice_on_timeout(net->s[i].ice, net->now);
		if (net->now >= until)
			break;
	}
}

static struct zt_cand mkcand(enum zt_cand_type type, const char *addr, const char *rel,
			     uint16_t local_pref)
{
	struct zt_cand c = { .type = (uint8_t)type, .component = 1 };

	assert_int_equal(zt_addr_parse(&c.addr, addr, 0), 0);
	if (rel)
		assert_int_equal(zt_addr_parse(&c.related, rel, 0), 0);
	c.priority = zt_cand_priority(type, local_pref, 1);
	assert_true(zt_cand_foundation(c.foundation, type, rel ? &c.related : &c.addr, NULL) > 0);
	return c;
}

static void setup_side(struct net *net, int i, bool controlling, uint64_t tb, const char *host)
{
	struct side *s = &net->s[i];
	struct zt_ice_config cfg = {
		.controlling = controlling,
		.tie_breaker = tb,
		.local_ufrag = i == 0 ? "agentUF" : "connUF",
		.local_pwd = i == 0 ? "agentpassword0123456789" : "connpassword0123456789x",
		.predicting = s->predicting,
		.mtu_probe = { s->probes[0], s->probes[1] },
	};
	struct zt_cand hc;

	zt_prng_seed(&s->prng, 100 + (uint64_t)i);
	cfg.rng = zt_prng_rng(&s->prng);
	if (s->budgeted) {
		zt_check_budget_init(&s->budget, &s->bcfg, net->now);
		zt_check_budget_session(&s->budget, &s->tokens, net->now);
		cfg.budget = &s->budget;
		cfg.session_budget = &s->tokens;
		cfg.max_remote = s->max_remote;
	}
	assert_int_equal(zt_ice_new(&s->ice, &cfg), 0);
	assert_int_equal(zt_addr_parse(&s->host, host, 0), 0);
	hc = mkcand(ZT_CAND_HOST, host, NULL, 65535);
	assert_int_equal(zt_ice_add_local(s->ice, &hc), 0);
}

static void set_nat(struct net *net, int i, const char *pub, bool edm, bool open_filter)
{
	struct nat *n = &net->s[i].nat;
	struct zt_cand c;
	char srflx[64];

	n->on = true;
	n->edm = edm;
	n->open_filter = open_filter;
	n->next_port = (uint16_t)(40000 + 1000 * i);
	assert_int_equal(zt_addr_parse(&n->pub_ip, pub, 0), 0);
	/* the srflx candidate is what a server at 198.51.100.1 saw */
	struct zt_addr server;
	zt_addr_parse(&server, "198.51.100.1:4433", 0);
	n->pub_ip.port = nat_out(n, &server);
	snprintf(srflx, sizeof(srflx), "%s:%u", pub, n->pub_ip.port);
	char hostbuf[ZT_ADDR_STRLEN];
	c = mkcand(ZT_CAND_SRFLX, srflx, zt_addr_str(&net->s[i].host, hostbuf), 65535);
	assert_int_equal(zt_ice_add_local(net->s[i].ice, &c), 0);
}

/* Signalling: credentials and every local candidate of each side to the other. */
static void exchange(struct net *net)
{
	const char *uf[2] = { "agentUF", "connUF" };
	const char *pw[2] = { "agentpassword0123456789", "connpassword0123456789x" };

	for (int i = 0; i < 2; i++) {
		struct zt_cand c[ZT_ICE_MAX_LOCAL];
		size_t n = zt_ice_local_cands(net->s[i].ice, c, ZT_ICE_MAX_LOCAL);
		assert_int_equal(zt_ice_set_remote_credentials(net->s[!i].ice, uf[i], pw[i]), 0);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(zt_ice_add_remote(net->s[!i].ice, &c[k]), 0);
		zt_ice_remote_done(net->s[!i].ice);
	}
}

static void teardown(struct net *net)
{
	zt_ice_free(net->s[0].ice);
	zt_ice_free(net->s[1].ice);
}

/*
 * Path MTU (ice.h): two sides on a LAN whose path carries datagrams of at most
 * max_len bytes (0: any), probing 1407 and 1352 once a pair is selected; the first
 * drop_over datagrams over 1300 bytes are lost too. Returns what each side found
 * (*ret_final: probing ended on both sides) after `run_for`.
 */
static void probe_path(struct net *net, size_t max_len, unsigned drop_over, uint64_t run_for,
		       size_t ret_mtu[2], bool *ret_final)
{
	bool f0, f1;

	memset(net, 0, sizeof(*net));
	net->delay = 1 * ZT_MS;
	net->max_len = max_len;
	net->drop_next_over = drop_over;
	for (int i = 0; i < 2; i++) {
		net->s[i].probes[0] = 1407;
		net->s[i].probes[1] = 1352;
	}
	setup_side(net, 0, true, 7, "10.0.0.1:1000");
	setup_side(net, 1, false, 9, "10.0.0.2:2000");
	exchange(net);
	assert_int_equal(zt_ice_path_mtu(net->s[0].ice, &f0), 0);
	assert_false(f0);
	zt_ice_start(net->s[0].ice, 0);
	zt_ice_start(net->s[1].ice, 0);
	run(net, run_for);
	assert_int_equal(zt_ice_state(net->s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_state(net->s[1].ice), ZT_ICE_CONNECTED);
	ret_mtu[0] = zt_ice_path_mtu(net->s[0].ice, &f0);
	ret_mtu[1] = zt_ice_path_mtu(net->s[1].ice, &f1);
	*ret_final = f0 && f1;
}

static void path_mtu_probes_find_what_the_path_carries(void **state)
{
	static struct net net;
	size_t mtu[2];
	bool final;

	(void)state;
	/* a 1500-byte path: the full size, one round trip after selection */
	probe_path(&net, 0, 0, 10 * ZT_MS, mtu, &final);
	assert_true(final);
	assert_int_equal(mtu[0], 1407);
	assert_int_equal(mtu[1], 1407);
	assert_int_equal(net.s[0].mtu_events, 1);
	assert_int_equal(net.s[1].mtu_events, 1);
	assert_int_equal(zt_ice_stats(net.s[0].ice)->mtu_probes_sent, 2);
	teardown(&net);

	/* 1400 bytes (a VPN): 1352 */
	probe_path(&net, 1400 - 48, 0, 10 * ZT_MS, mtu, &final);
	assert_false(final); /* the 1407 probe waits for its retransmissions */
	assert_int_equal(mtu[0], 1352);
	run(&net, 400 * ZT_MS);
	mtu[0] = zt_ice_path_mtu(net.s[0].ice, &final);
	assert_true(final);
	assert_int_equal(mtu[0], 1352);
	assert_int_equal(zt_ice_stats(net.s[0].ice)->mtu_probes_sent, 4); /* 3 x 1407, 1352 */
	assert_int_equal(net.s[0].mtu_events, 1);
	teardown(&net);

	/* 1280 bytes (IPv6's minimum): nothing confirmed, probing ends after 3 tries */
	probe_path(&net, 1280 - 48, 0, 250 * ZT_MS, mtu, &final);
	assert_false(final);
	run(&net, 400 * ZT_MS);
	mtu[0] = zt_ice_path_mtu(net.s[0].ice, &final);
	assert_true(final);
	assert_int_equal(mtu[0], 0);
	assert_int_equal(zt_ice_stats(net.s[0].ice)->mtu_probes_sent, 6);
	assert_int_equal(zt_ice_stats(net.s[0].ice)->mtu_probes_answered, 0);
	/* lost probes are not lost consent */
	run(&net, 60 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(net.s[0].consent_lost_events, 0);
	assert_int_equal(net.s[0].mtu_events, 1);
	teardown(&net);

	/* a lost first try is sent again */
	probe_path(&net, 0, 2, 400 * ZT_MS, mtu, &final);
	assert_true(final);
	assert_int_equal(mtu[0], 1407);
	assert_int_equal(mtu[1], 1407);
	teardown(&net);
}

static void same_lan_connects_in_one_round_trip(void **state)
{
	static struct net net;
	struct zt_cand_pair a, b;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	zt_ice_start(net.s[1].ice, 0);
	run(&net, 100 * ZT_MS);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
	assert_int_equal(net.s[0].selected_events, 1);
	assert_int_equal(net.s[1].selected_events, 1);
	assert_int_equal(zt_ice_selected(net.s[0].ice, &a), 0);
	assert_int_equal(zt_ice_selected(net.s[1].ice, &b), 0);
	assert_true(zt_addr_equal(&a.remote.addr, &net.s[1].host));
	assert_true(zt_addr_equal(&b.remote.addr, &net.s[0].host));
	/* controlling side: one check out, one response back = 2 ms */
	assert_int_equal(zt_ice_stats(net.s[0].ice)->selected_time, 2 * ZT_MS);
	teardown(&net);
}

static void port_restricted_both_sides_connects_via_srflx(void **state)
{
	static struct net net;
	struct zt_cand_pair a;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 5 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.1.2:2000");
	set_nat(&net, 0, "203.0.113.1", false, false);
	set_nat(&net, 1, "203.0.113.2", false, false);
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	zt_ice_start(net.s[1].ice, 0);
	run(&net, 2 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_selected(net.s[0].ice, &a), 0);
	assert_int_equal(a.remote.type, ZT_CAND_SRFLX);
	assert_true(zt_addr_ip_equal(&a.remote.addr, &net.s[1].nat.pub_ip));
	/* both NATs filter, so the first punches may be dropped; it still takes only a
	 * few retransmission intervals */
	assert_true(zt_ice_stats(net.s[0].ice)->selected_time < 500 * ZT_MS);
	teardown(&net);
}

static void symmetric_vs_full_cone_needs_peer_reflexive(void **state)
{
	static struct net net;
	struct zt_cand_pair b;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 5 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.1.2:2000");
	set_nat(&net, 0, "203.0.113.1", true, false);  /* symmetric */
	set_nat(&net, 1, "203.0.113.2", false, true);  /* full cone */
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	zt_ice_start(net.s[1].ice, 0);
	run(&net, 2 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
	/* the connector only reaches the agent at the port its checks came from */
	assert_true(net.s[1].prflx_events >= 1);
	assert_int_equal(zt_ice_selected(net.s[1].ice, &b), 0);
	assert_int_equal(b.remote.type, ZT_CAND_PRFLX);
	assert_true(zt_ice_stats(net.s[1].ice)->prflx_learned >= 1);
	teardown(&net);
}

static void symmetric_both_sides_fails_at_timeout(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 5 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.1.2:2000");
	set_nat(&net, 0, "203.0.113.1", true, false);
	set_nat(&net, 1, "203.0.113.2", true, false);
	exchange(&net);
	zt_ice_start(net.s[0].ice, 100 * ZT_MS);
	zt_ice_start(net.s[1].ice, 100 * ZT_MS);
	run(&net, 5 * ZT_SEC + 99 * ZT_MS);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CHECKING);
	run(&net, 5 * ZT_SEC + 101 * ZT_MS);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_FAILED);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_FAILED);
	assert_int_equal(net.s[0].failed_events, 1);
	assert_int_equal(net.s[1].failed_events, 1);
	/* nothing more is sent after failing */
	int sent = net.sent[0] + net.sent[1];
	run(&net, 20 * ZT_SEC);
	assert_int_equal(net.sent[0] + net.sent[1], sent);
	teardown(&net);
}

static void checks_are_paced_and_retransmitted_with_backoff(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	/* five more remote candidates nobody answers on */
	for (int i = 0; i < 5; i++) {
		char a[32];
		snprintf(a, sizeof(a), "192.0.2.%d:9", 10 + i);
		struct zt_cand c = mkcand(ZT_CAND_HOST, a, NULL, (uint16_t)(60000 - i));
		assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0);
	}
	exchange(&net);
	net.drop_all = true;
	zt_ice_start(net.s[0].ice, 0);
	run(&net, 1300 * ZT_MS);
	/* six first transmissions, at least Ta (20 ms) apart */
	assert_int_equal(net.nfirst[0], 6);
	for (int i = 1; i < net.nfirst[0]; i++)
		assert_true(net.first_tx_times[0][i] - net.first_tx_times[0][i - 1] >= 20 * ZT_MS);
	/* each pair: 0, +100, +300, +700, +1100 ms: 5 sends for the first pair by 1.3 s */
	assert_int_equal(zt_ice_stats(net.s[0].ice)->checks_sent, 6);
	assert_true(zt_ice_stats(net.s[0].ice)->retransmits >= 6 * 3);
	assert_true(zt_ice_stats(net.s[0].ice)->retransmits <= 6 * 4);
	teardown(&net);
}

static void bad_credentials_and_fingerprint_are_dropped(void **state)
{
	static struct net net;
	uint8_t buf[256];
	struct zt_stun_builder b;
	uint8_t tid[12] = { 1, 2, 3 };
	struct zt_addr from, to;
	int n;

	(void)state;
	memset(&net, 0, sizeof(net));
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	zt_addr_parse(&from, "10.0.0.66:666", 0);
	to = net.s[1].host;

	/* right username, wrong password */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, "connUF:evil");
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 12345);
	zt_stun_put_u64(&b, ZT_STUN_ATTR_ICE_CONTROLLING, 1);
	zt_stun_put_integrity(&b, (const uint8_t *)"wrongpassword", 13);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	assert_true(n > 0);
	assert_int_equal(zt_ice_recv(net.s[1].ice, 0, &to, &from, buf, (size_t)n), ZT_ESTUN_INTEGRITY);
	assert_int_equal(zt_ice_stats(net.s[1].ice)->dropped_auth, 1);

	/* wrong ufrag */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, "other:evil");
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 12345);
	zt_stun_put_u64(&b, ZT_STUN_ATTR_ICE_CONTROLLING, 1);
	zt_stun_put_integrity(&b, (const uint8_t *)"connpassword0123456789x", 23);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	assert_int_equal(zt_ice_recv(net.s[1].ice, 0, &to, &from, buf, (size_t)n), ZT_ESTUN_USERNAME);
	assert_int_equal(zt_ice_stats(net.s[1].ice)->dropped_auth, 2);

	/* right credentials, corrupted fingerprint */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, "connUF:agentUF");
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 12345);
	zt_stun_put_u64(&b, ZT_STUN_ATTR_ICE_CONTROLLING, 1);
	zt_stun_put_integrity(&b, (const uint8_t *)"connpassword0123456789x", 23);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	buf[n - 1] ^= 0xff;
	assert_int_equal(zt_ice_recv(net.s[1].ice, 0, &to, &from, buf, (size_t)n), ZT_ESTUN_FINGERPRINT);
	assert_int_equal(zt_ice_stats(net.s[1].ice)->dropped_fingerprint, 1);

	/* nothing was answered, nothing learned */
	assert_int_equal(zt_ice_poll_send(net.s[1].ice, 0, buf, sizeof(buf), &from, &to), 0);
	assert_int_equal(zt_ice_stats(net.s[1].ice)->prflx_learned, 0);

	/* a bad fingerprint makes it not STUN: nobody's */
	assert_false(zt_ice_match(net.s[1].ice, buf, (size_t)n));
	/* not STUN at all: not ours */
	memset(buf, 0x41, 40);
	assert_int_equal(zt_ice_recv(net.s[1].ice, 0, &to, &from, buf, 40), 0);
	assert_false(zt_ice_match(net.s[1].ice, buf, 40));

	/* right credentials from an unknown source: answered, and a peer-reflexive
	 * candidate (RFC 8445 s7.3.1.3) */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, "connUF:agentUF");
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 12345);
	zt_stun_put_u64(&b, ZT_STUN_ATTR_ICE_CONTROLLING, 1);
	zt_stun_put_integrity(&b, (const uint8_t *)"connpassword0123456789x", 23);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	assert_int_equal(zt_ice_recv(net.s[1].ice, 0, &to, &from, buf, (size_t)n), 1);
	assert_int_equal(zt_ice_stats(net.s[1].ice)->prflx_learned, 1);
	struct zt_addr l, r;
	n = zt_ice_poll_send(net.s[1].ice, 0, buf, sizeof(buf), &l, &r);
	assert_true(n > 0);
	assert_true(zt_addr_equal(&r, &from));
	struct zt_stun_msg m;
	struct zt_addr mapped;
	assert_int_equal(zt_stun_decode(&m, buf, (size_t)n), 0);
	assert_int_equal(m.cls, ZT_STUN_SUCCESS);
	assert_int_equal(zt_stun_get_addr(&m, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped), 0);
	assert_true(zt_addr_equal(&mapped, &from));
	zt_ice_free(net.s[1].ice);
}

static void role_conflict_resolves_by_tie_breaker(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	/* both think they are controlling; side 1 has the larger tie-breaker */
	setup_side(&net, 0, true, 5, "10.0.0.1:1000");
	setup_side(&net, 1, true, 500, "10.0.0.2:2000");
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	zt_ice_start(net.s[1].ice, 0);
	run(&net, 1 * ZT_SEC);
	assert_false(zt_ice_controlling(net.s[0].ice));
	assert_true(zt_ice_controlling(net.s[1].ice));
	assert_true(zt_ice_stats(net.s[0].ice)->role_conflicts + zt_ice_stats(net.s[1].ice)->role_conflicts >= 1);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
	teardown(&net);
}

static void consent_keeps_pair_and_detects_loss(void **state)
{
	static struct net net;
	uint64_t cut;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	zt_ice_start(net.s[1].ice, 0);
	run(&net, 100 * ZT_MS);
	zt_ice_set_keepalive(net.s[0].ice, net.now, 1 * ZT_SEC, 3 * ZT_SEC);
	zt_ice_set_keepalive(net.s[1].ice, net.now, 1 * ZT_SEC, 3 * ZT_SEC);
	/* a minute of idle: consent checks keep both sides connected */
	run(&net, 60 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
	assert_true(zt_ice_stats(net.s[0].ice)->keepalives_sent >= 55);
	/* cut the path: lost within timeout + one interval */
	net.drop_all = true;
	cut = net.now;
	run(&net, cut + 5 * ZT_SEC);
	assert_int_equal(net.s[0].consent_lost_events, 1);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_FAILED);
	teardown(&net);
}

static void note_alive_postpones_consent_loss(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	zt_ice_start(net.s[1].ice, 0);
	run(&net, 100 * ZT_MS);
	zt_ice_set_keepalive(net.s[0].ice, net.now, 1 * ZT_SEC, 3 * ZT_SEC);
	net.drop_all = true;
	/* other traffic (e.g. QUIC) proves the path every second */
	for (int i = 0; i < 10; i++) {
		run(&net, net.now + 1 * ZT_SEC);
		zt_ice_note_alive(net.s[0].ice, net.now);
	}
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	run(&net, net.now + 4 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_FAILED);
	teardown(&net);
}

/*
 * Issue 16 (idle cost): authenticated traffic from the peer on the selected pair
 * makes our consent checks unneeded. The peer's checks: only one end checks (before,
 * both did, 120 in a minute at 1 s). The connection's packets (note_alive on both
 * ends): no checks at all while they come; when they stop, checks resume and keep
 * consent.
 */
static void peer_traffic_makes_checks_unneeded(void **state)
{
	static struct net net;
	uint64_t k0, k1;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	zt_ice_start(net.s[1].ice, 0);
	run(&net, 100 * ZT_MS);
	for (int i = 0; i < 2; i++)
		zt_ice_set_keepalive(net.s[i].ice, net.now, 1 * ZT_SEC, 3 * ZT_SEC);
	k0 = zt_ice_stats(net.s[0].ice)->keepalives_sent + zt_ice_stats(net.s[1].ice)->keepalives_sent;
	run(&net, net.now + 60 * ZT_SEC);
	k1 = zt_ice_stats(net.s[0].ice)->keepalives_sent + zt_ice_stats(net.s[1].ice)->keepalives_sent;
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
	assert_true(k1 - k0 >= 55);
	assert_true(k1 - k0 <= 62); /* one end's checks, not both */
	/* the connection's packets every 500 ms, both ways: no checks */
	for (int i = 0; i < 40; i++) {
		run(&net, net.now + 500 * ZT_MS);
		zt_ice_note_alive(net.s[0].ice, net.now);
		zt_ice_note_alive(net.s[1].ice, net.now + net.delay);
	}
	k0 = zt_ice_stats(net.s[0].ice)->keepalives_sent + zt_ice_stats(net.s[1].ice)->keepalives_sent;
	assert_true(k0 - k1 <= 1); /* at most one in flight as they started */
	/* they stop: checks take over before consent (3 s) runs out */
	run(&net, net.now + 10 * ZT_SEC);
	k1 = zt_ice_stats(net.s[0].ice)->keepalives_sent + zt_ice_stats(net.s[1].ice)->keepalives_sent;
	assert_true(k1 - k0 >= 8);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
	assert_int_equal(net.s[0].consent_lost_events + net.s[1].consent_lost_events, 0);
	teardown(&net);
}

static void pair_limit_is_one_hundred(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	for (int i = 2; i <= ZT_ICE_MAX_LOCAL; i++) {
		char a[32];
		snprintf(a, sizeof(a), "10.0.%d.1:1000", i);
		struct zt_cand c = mkcand(ZT_CAND_HOST, a, NULL, (uint16_t)(65535 - i));
		assert_int_equal(zt_ice_add_local(net.s[0].ice, &c), 0);
	}
	for (int i = 0; i < ZT_ICE_MAX_REMOTE; i++) {
		char a[32];
		snprintf(a, sizeof(a), "192.0.2.%d:9", 1 + i);
		struct zt_cand c = mkcand(ZT_CAND_HOST, a, NULL, (uint16_t)(60000 - i));
		assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0);
	}
	struct zt_cand extra = mkcand(ZT_CAND_HOST, "192.0.2.200:9", NULL, 1);
	assert_int_equal(zt_ice_add_remote(net.s[0].ice, &extra), ZT_ECAND_LIMIT);
	assert_int_equal(zt_ice_pair_count(net.s[0].ice), ZT_ICE_MAX_PAIRS);
	zt_ice_free(net.s[0].ice);
}

static void check_before_candidates_is_answered_then_triggered(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	/* only the agent knows the connector's candidates and credentials */
	struct zt_cand c[ZT_ICE_MAX_LOCAL];
	size_t n = zt_ice_local_cands(net.s[1].ice, c, ZT_ICE_MAX_LOCAL);
	zt_ice_set_remote_credentials(net.s[0].ice, "connUF", "connpassword0123456789x");
	for (size_t k = 0; k < n; k++)
		zt_ice_add_remote(net.s[0].ice, &c[k]);
	zt_ice_start(net.s[0].ice, 0);
	run(&net, 50 * ZT_MS);
	/* the connector answered (the agent's check succeeded: selected on its side) */
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	/* but could not check back without the agent's password */
	assert_int_equal(zt_ice_stats(net.s[1].ice)->checks_sent, 0);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_NEW);
	/* the answer arrives late: the pending triggered check goes out and nominates */
	zt_ice_set_remote_credentials(net.s[1].ice, "agentUF", "agentpassword0123456789");
	run(&net, 100 * ZT_MS);
	assert_int_equal(zt_ice_stats(net.s[1].ice)->checks_sent, 1);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
	teardown(&net);
}

/*
 * A triggered check sent before zt_ice_start() (the connector answering the agent's
 * check before its own start) that is never answered expires fail_timeout after it
 * went, like any other: its deadline passes. Before, zt_ice_on_timeout expired checks
 * in flight only while checking, so the deadline stayed in the past: the event loop
 * spun at one instant (ztna-sim --case 107582471022589 hung at 54.03 s; a program
 * would have spun a core until the connector's own start).
 */
static void unanswered_triggered_check_before_start_expires(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	run(&net, 1500 * ZT_US); /* the agent's check reached the connector at 1 ms */
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_NEW);
	assert_int_equal(zt_ice_stats(net.s[1].ice)->checks_sent, 1); /* triggered */
	net.nq = 0; /* nothing more arrives: the path died */
	net.drop_all = true;
	for (net.now = 100 * ZT_MS; net.now <= 12 * ZT_SEC; net.now += 100 * ZT_MS) {
		for (int i = 0; i < 2; i++) {
			pump(&net, i);
			zt_ice_on_timeout(net.s[i].ice, net.now);
			drain_events(&net.s[i]);
		}
		/* each deadline is ahead once its time was handled */
		assert_true(zt_ice_next_deadline(net.s[1].ice) > net.now);
	}
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_NEW); /* not started: not failed */
	assert_true(zt_ice_next_deadline(net.s[1].ice) == ZT_TIME_NEVER);
	teardown(&net);
}

/* RFC 4787 theory (docs/design.md): direct except symmetric x symmetric and symmetric x
 * port-restricted. 0 full cone, 1 address-restricted, 2 port-restricted, 3 symmetric. */
static void nat_matrix_matches_theory(void **state)
{
	static struct net net;
	static const char *const names[] = { "full-cone", "addr-restricted", "port-restricted", "symmetric" };

	(void)state;
	for (int a = 0; a < 4; a++) {
		for (int b = 0; b < 4; b++) {
			bool expect = !((a == 3 && b == 3) || (a == 3 && b == 2) || (a == 2 && b == 3));
			memset(&net, 0, sizeof(net));
			net.delay = 10 * ZT_MS;
			setup_side(&net, 0, true, 7, "10.0.0.1:1000");
			setup_side(&net, 1, false, 9, "10.0.1.2:2000");
			set_nat(&net, 0, "203.0.113.1", a == 3, a == 0);
			set_nat(&net, 1, "203.0.113.2", b == 3, b == 0);
			net.s[0].nat.addr_filter = a == 1;
			net.s[1].nat.addr_filter = b == 1;
			exchange(&net);
			/* the connector starts 300 ms late: skew must not matter */
			zt_ice_start(net.s[0].ice, 0);
			zt_ice_start(net.s[1].ice, 300 * ZT_MS);
			run(&net, 6 * ZT_SEC);
			print_message("# %s x %s: %s\n", names[a], names[b],
				      zt_ice_state_name(zt_ice_state(net.s[0].ice)));
			assert_int_equal(zt_ice_state(net.s[0].ice), expect ? ZT_ICE_CONNECTED : ZT_ICE_FAILED);
			assert_int_equal(zt_ice_state(net.s[1].ice), expect ? ZT_ICE_CONNECTED : ZT_ICE_FAILED);
			teardown(&net);
		}
	}
}

/* The connector starts checking 5.5 s after the agent (skew + lost signaling): the
 * agent's generation has failed by then, comes back for the late peer's checks, and
 * both end connected without waiting for another generation. */
static void failed_generation_revives_for_late_peer(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 10 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.1.2:2000");
	set_nat(&net, 0, "203.0.113.1", false, false);
	set_nat(&net, 1, "203.0.113.2", false, false);
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	run(&net, 5500 * ZT_MS);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_FAILED);
	assert_int_equal(net.s[0].failed_events, 1);
	zt_ice_start(net.s[1].ice, 5500 * ZT_MS);
	run(&net, 7 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
	assert_int_equal(net.s[0].selected_events, 1);
	assert_int_equal(zt_ice_stats(net.s[0].ice)->revivals, 1);
	/* the late side's first check opened its NAT: a round trip or two */
	assert_true(zt_ice_stats(net.s[0].ice)->selected_time < 5500 * ZT_MS + 300 * ZT_MS);
	teardown(&net);
}

/* Consent loss is final: the dead pair's peer cannot revive the generation. */
static void consent_loss_is_final(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	zt_ice_start(net.s[1].ice, 0);
	run(&net, 100 * ZT_MS);
	zt_ice_set_keepalive(net.s[0].ice, net.now, 1 * ZT_SEC, 3 * ZT_SEC);
	zt_ice_set_keepalive(net.s[1].ice, net.now, 10 * ZT_SEC, 60 * ZT_SEC);
	net.drop_all = true;
	run(&net, 10 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_FAILED);
	net.drop_all = false;
	run(&net, 30 * ZT_SEC); /* the peer's consent checks arrive again */
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_FAILED);
	assert_int_equal(zt_ice_stats(net.s[0].ice)->revivals, 0);
	teardown(&net);
}

/* A program with one agent per session hands each datagram to the agent it matches. */
static void match_finds_the_owner(void **state)
{
	static struct net net;
	uint8_t buf[1280];
	struct zt_addr l, r;
	int n;

	(void)state;
	memset(&net, 0, sizeof(net));
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0);
	n = zt_ice_poll_send(net.s[0].ice, 0, buf, sizeof(buf), &l, &r);
	assert_true(n > 0);
	/* the request: the connector's (USERNAME connUF:agentUF), not the agent's own */
	assert_true(zt_ice_match(net.s[1].ice, buf, (size_t)n));
	assert_false(zt_ice_match(net.s[0].ice, buf, (size_t)n));
	assert_int_equal(zt_ice_recv(net.s[1].ice, 0, &r, &l, buf, (size_t)n), 1);
	n = zt_ice_poll_send(net.s[1].ice, 0, buf, sizeof(buf), &l, &r);
	assert_true(n > 0);
	/* the response: the agent's transaction */
	assert_true(zt_ice_match(net.s[0].ice, buf, (size_t)n));
	assert_false(zt_ice_match(net.s[1].ice, buf, (size_t)n));
	teardown(&net);
}

/* Sixteen candidates of one victim IP that never answers (RFC 8445 s19.5.1): with the
 * defaults (4/s per session, 2/s per destination, bursts of 8 s worth) the victim gets
 * the destination's burst and its rate, not 16 pairs' checks and retransmissions. */
static void unanswered_checks_are_paid_for(void **state)
{
	static struct net net;
	uint64_t unpaid;

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		memset(&net, 0, sizeof(net));
		net.delay = 1 * ZT_MS;
		net.s[0].budgeted = pass == 1;
		setup_side(&net, 0, true, 7, "10.0.0.1:1000");
		setup_side(&net, 1, false, 9, "10.0.0.2:2000");
		for (int i = 0; i < 16; i++) {
			char a[32];
			snprintf(a, sizeof(a), "192.0.2.10:%d", 7000 + i);
			struct zt_cand c = mkcand(ZT_CAND_HOST, a, NULL, (uint16_t)(60000 - i));
			assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0);
		}
		assert_int_equal(zt_ice_set_remote_credentials(net.s[0].ice, "connUF", "connpassword0123456789x"), 0);
		net.drop_all = true;
		zt_ice_start(net.s[0].ice, 0);
		run(&net, 5 * ZT_SEC);
		if (pass == 0) {
			unpaid = (uint64_t)net.sent[0];
			teardown(&net);
			continue;
		}
		/* 16 + 2/s for 5 s, against a few hundred unpaid */
		assert_true(unpaid > 150);
		assert_true(net.sent[0] >= 16 && net.sent[0] <= 16 + 2 * 5 + 1);
		assert_true(zt_ice_stats(net.s[0].ice)->checks_deferred > 0);
		assert_int_equal(net.s[0].budget.st.taken, (uint64_t)net.sent[0]);
		teardown(&net);
	}
}

/* The first checks of a session go out as fast as without a budget (Ta), and a pair
 * whose address answers is selected even with victims ahead of it in the checklist. */
static void budget_does_not_slow_punching(void **state)
{
	static struct net net;
	uint64_t times[2][64];
	int n[2];

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		memset(&net, 0, sizeof(net));
		net.delay = 5 * ZT_MS;
		net.s[0].budgeted = net.s[1].budgeted = pass == 1;
		setup_side(&net, 0, true, 7, "10.0.0.1:1000");
		setup_side(&net, 1, false, 9, "10.0.1.2:2000");
		set_nat(&net, 0, "203.0.113.1", false, false);
		set_nat(&net, 1, "203.0.113.2", false, false);
		for (int i = 0; i < 6; i++) { /* higher priority than any real one, never answer */
			char a[32];
			snprintf(a, sizeof(a), "192.0.2.%d:9", 10 + i);
			struct zt_cand c = mkcand(ZT_CAND_HOST, a, NULL, 65535);
			c.priority += 1000;
			assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0);
		}
		exchange(&net);
		zt_ice_start(net.s[0].ice, 0);
		zt_ice_start(net.s[1].ice, 0);
		run(&net, 2 * ZT_SEC);
		assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
		assert_int_equal(zt_ice_state(net.s[1].ice), ZT_ICE_CONNECTED);
		n[pass] = net.nfirst[0];
		memcpy(times[pass], net.first_tx_times[0], sizeof(times[pass]));
		if (pass == 1) {
			/* answered: the refund left the session's bucket where it was, less the
			 * checks to addresses that never answered */
			assert_true(zt_tokens_level(&net.s[0].tokens, net.now) >= 32 - 6 * 2);
			assert_int_equal(zt_ice_stats(net.s[0].ice)->checks_deferred, 0);
		}
		teardown(&net);
	}
	assert_int_equal(n[0], n[1]);
	for (int i = 0; i < n[0]; i++)
		assert_int_equal(times[0][i], times[1][i]);
}

/* A victim whose bucket is empty does not hold up the other pairs: the real pair,
 * behind twelve never-answering candidates of one IP in the checklist, is checked
 * and selected at once; the victim gets its destination's burst and rate. */
static void empty_bucket_does_not_block_other_pairs(void **state)
{
	static struct net net;
	uint64_t victims;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	net.s[0].budgeted = true;
	net.s[0].bcfg = (struct zt_check_budget_config){ .dest_rate = 1 }; /* burst 8 */
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.0.2:2000");
	for (int i = 0; i < 12; i++) {
		char a[32];
		snprintf(a, sizeof(a), "192.0.2.10:%d", 7000 + i);
		struct zt_cand c = mkcand(ZT_CAND_HOST, a, NULL, 65535);
		c.priority += 1000;
		assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0);
	}
	exchange(&net);
	zt_ice_start(net.s[0].ice, 0); /* the peer answers but sends no check of its own */
	run(&net, 5 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	/* eight victims at Ta, then the real pair: 8 x 20 ms and a round trip */
	assert_true(zt_ice_stats(net.s[0].ice)->selected_time <= 8 * 20 * ZT_MS + 2 * ZT_MS);
	victims = net.s[0].budget.st.taken - 1;
	assert_true(victims >= 8 && victims <= 8 + 1);
	teardown(&net);
}

/* RFC 8445 s19.5.1: "agents MAY limit the number of candidates they will accept". */
static void remote_candidates_are_bounded(void **state)
{
	static struct net net;
	struct zt_cand c;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.s[0].budgeted = true;
	net.s[0].max_remote = 4;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	for (int i = 0; i < 4; i++) {
		char a[32];
		snprintf(a, sizeof(a), "192.0.2.%d:9", 1 + i);
		c = mkcand(ZT_CAND_HOST, a, NULL, (uint16_t)(60000 - i));
		assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0);
	}
	assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0); /* a duplicate is fine */
	c = mkcand(ZT_CAND_HOST, "192.0.2.99:9", NULL, 1);
	assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), ZT_ECAND_LIMIT);
	assert_int_equal(zt_ice_stats(net.s[0].ice)->remote_limited, 1);
	assert_int_equal(zt_ice_pair_count(net.s[0].ice), 4);
	zt_ice_free(net.s[0].ice);
}

static void rejects_bad_config(void **state)
{
	struct zt_ice *ice;
	struct zt_prng p;
	struct zt_ice_config cfg = { .local_ufrag = "ab", .local_pwd = "agentpassword0123456789" };

	(void)state;
	zt_prng_seed(&p, 1);
	cfg.rng = zt_prng_rng(&p);
	assert_int_equal(zt_ice_new(&ice, &cfg), -EINVAL);
	cfg.local_ufrag = "abcd";
	cfg.local_pwd = "short";
	assert_int_equal(zt_ice_new(&ice, &cfg), -EINVAL);
	cfg.local_pwd = "agentpassword0123456789";
	cfg.mtu_probe[0] = 1352; /* path-MTU probes: largest first, 1200..1500 */
	cfg.mtu_probe[1] = 1407;
	assert_int_equal(zt_ice_new(&ice, &cfg), -EINVAL);
	cfg.mtu_probe[0] = 1501;
	cfg.mtu_probe[1] = 0;
	assert_int_equal(zt_ice_new(&ice, &cfg), -EINVAL);
	cfg.mtu_probe[0] = 0;
	cfg.mtu_probe[1] = 1300;
	assert_int_equal(zt_ice_new(&ice, &cfg), -EINVAL);
	cfg.mtu_probe[1] = 0;
	assert_int_equal(zt_ice_new(&ice, &cfg), 0);
	assert_int_equal(zt_ice_start(ice, 0), -EINVAL); /* no remote credentials yet */
	assert_int_equal(zt_ice_set_remote_credentials(ice, "a:b", "x"), -EINVAL);
	zt_ice_free(ice);
}

/* A TCP candidate (the TCP direct path's, RFC 6544 "so") is not paired: ICE checks
 * UDP only. */
static void tcp_candidates_are_not_paired(void **state)
{
	static struct net net;
	struct zt_cand c;

	(void)state;
	memset(&net, 0, sizeof(net));
	setup_side(&net, 0, true, 1, "10.0.0.1:5000");
	assert_int_equal(zt_ice_set_remote_credentials(net.s[0].ice, "connUF",
						       "connpassword0123456789x"), 0);
	c = mkcand(ZT_CAND_SRFLX, "203.0.113.9:443", "10.1.0.1", 65535);
	c.transport = ZT_CAND_TCP_SO;
	assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0);
	assert_int_equal(zt_ice_pair_count(net.s[0].ice), 0);
	c = mkcand(ZT_CAND_SRFLX, "203.0.113.9:4000", "10.1.0.1", 65535);
	assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0);
	assert_int_equal(zt_ice_pair_count(net.s[0].ice), 1);
	teardown(&net);
}

/* ---- predicted candidates (core/portpred.h, docs/hard-nat.md) ---- */

/* Side i's predicted candidates as its node would signal them: the ports its toy
 * NAT's next n new mappings get, after `stray` mappings the node did not count. */
static void give_predicted(struct net *net, int i, unsigned n, unsigned stray)
{
	struct nat *nat = &net->s[i].nat;
	struct zt_portpred pp;
	struct zt_addr server, pub = nat->pub_ip;
	struct zt_cand c[ZT_PORTPRED_WINDOW];
	size_t got;

	zt_addr_parse(&server, "198.51.100.1:4433", 0);
	zt_portpred_init(&pp);
	zt_portpred_observed(&pp, 0, &pub, &server);
	got = zt_portpred_cands(&pp, &net->s[i].host, &server, c, n);
	assert_int_equal(got, n);
	for (size_t k = 0; k < got; k++)
		assert_int_equal(zt_ice_add_remote(net->s[!i].ice, &c[k]), 0);
	for (unsigned k = 0; k < stray; k++) {
		struct zt_addr elsewhere;
		zt_addr_parse(&elsewhere, "192.0.2.99:1", 0);
		elsewhere.port = (uint16_t)(1 + k);
		nat_out(nat, &elsewhere); /* another program behind the NAT took a port */
	}
}

/* Predicted candidates k (ks[0..n)) at ip:base+k, added to ice as remote ones. */
static void add_predicted(struct zt_ice *ice, const char *ip, unsigned base, const unsigned *ks,
			  unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char a[48];
		struct zt_cand c;
		snprintf(a, sizeof(a), "%s:%u", ip, base + ks[i]);
		c = mkcand(ZT_CAND_SRFLX, a, NULL, (uint16_t)(ZT_PORTPRED_LOCAL_PREF - ks[i]));
		c.predicted = (uint8_t)ks[i];
		assert_int_equal(zt_ice_add_remote(ice, &c), 0);
	}
}

/* Side 0 learns side 1's credentials only (its candidates come separately); side 1
 * learns side 0's credentials and host candidate. */
static void half_exchange(struct net *net)
{
	struct zt_cand h = mkcand(ZT_CAND_HOST, "10.0.0.1:1000", NULL, 65535);

	assert_int_equal(zt_ice_set_remote_credentials(net->s[0].ice, "connUF", "connpassword0123456789x"), 0);
	assert_int_equal(zt_ice_set_remote_credentials(net->s[1].ice, "agentUF", "agentpassword0123456789"), 0);
	assert_int_equal(zt_ice_add_remote(net->s[1].ice, &h), 0);
}

/* Both sides behind NATs with endpoint-dependent mapping and filtering that give
 * ports in sequence (the toy NAT's next_port++): without predicted candidates no pair
 * can work (RFC 4787; each side's checks leave from fresh ports the other never sent
 * to); with them, the two sides' k-th checks meet, also when the guesses are low
 * (stray mappings) thanks to the unlike orders, and not with like orders. */
static void sequential_nats_meet_with_prediction(void **state)
{
	static struct net net;
	struct zt_cand_pair a;
	static const struct {
		unsigned n, stray0, stray1;
		bool predict, controlled_predicting;
		bool connects;
	} cases[] = {
		{ 8, 0, 0, false, true, false },  /* no predicted candidates: relay */
		{ 8, 0, 0, true, true, true },    /* exact guesses: the first checks meet */
		{ 8, 2, 1, true, true, true },    /* 3 stray mappings: the schedule absorbs them */
		{ 8, 0, 3, true, true, true },
		{ 8, 1, 0, true, false, false },  /* like orders: one stray mapping and none meet */
	};

	(void)state;
	for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
		memset(&net, 0, sizeof(net));
		net.delay = 5 * ZT_MS;
		net.s[0].predicting = cases[t].predict;
		net.s[1].predicting = cases[t].predict && cases[t].controlled_predicting;
		setup_side(&net, 0, true, 7, "10.0.0.1:1000");
		setup_side(&net, 1, false, 9, "10.0.1.2:2000");
		set_nat(&net, 0, "203.0.113.1", true, false);
		set_nat(&net, 1, "203.0.113.2", true, false);
		exchange(&net);
		if (cases[t].predict) {
			give_predicted(&net, 0, cases[t].n, cases[t].stray0);
			give_predicted(&net, 1, cases[t].n, cases[t].stray1);
		}
		zt_ice_start(net.s[0].ice, 0);
		zt_ice_start(net.s[1].ice, 0);
		run(&net, 6 * ZT_SEC);
		if (cases[t].connects != (zt_ice_state(net.s[0].ice) == ZT_ICE_CONNECTED))
			print_error("case %zu: state %s\n", t, zt_ice_state_name(zt_ice_state(net.s[0].ice)));
		assert_int_equal(zt_ice_state(net.s[0].ice), cases[t].connects ? ZT_ICE_CONNECTED : ZT_ICE_FAILED);
		assert_int_equal(zt_ice_state(net.s[1].ice), cases[t].connects ? ZT_ICE_CONNECTED : ZT_ICE_FAILED);
		if (cases[t].connects) {
			assert_int_equal(zt_ice_selected(net.s[0].ice, &a), 0);
			assert_true(a.remote.predicted > 0);
			/* the controlling side's i-th check met the controlled side's j-th:
			 * i = 1 + d0 + 2 d1 (core/portpred.h) */
			assert_int_equal(a.remote.predicted, 1 + cases[t].stray0 + 2 * cases[t].stray1);
			assert_true(zt_ice_stats(net.s[0].ice)->selected_time < 1 * ZT_SEC);
		}
		teardown(&net);
	}
}

/* Predicted pairs go first (after triggered checks), in the schedule's order: index
 * order on the controlling side; odd indexes first on a controlled side that
 * predicts too; the ordinary pairs after them. */
static void predicted_pairs_are_checked_first_in_schedule_order(void **state)
{
	static struct net net;
	static const uint16_t want[2][6] = {
		{ 7001, 7002, 7003, 7004, 0, 0 },
		{ 7001, 7003, 7002, 7004, 0, 0 },
	};

	(void)state;
	for (int side = 0; side < 2; side++) {
		memset(&net, 0, sizeof(net));
		net.delay = 1 * ZT_MS;
		net.drop_all = true;
		net.s[side].predicting = true;
		setup_side(&net, 0, true, 7, "10.0.0.1:1000");
		setup_side(&net, 1, false, 9, "10.0.1.2:2000");
		assert_int_equal(zt_ice_set_remote_credentials(net.s[side].ice, "xUF1", "xpassword0123456789012"), 0);
		/* added in a jumbled order, with the ordinary candidates between */
		static const unsigned order[] = { 3, 1, 4, 2 };
		struct zt_cand host = mkcand(ZT_CAND_HOST, "192.0.2.20:9", NULL, 65535);
		struct zt_cand srflx = mkcand(ZT_CAND_SRFLX, "192.0.2.10:7000", "192.0.2.20", 65535);
		assert_int_equal(zt_ice_add_remote(net.s[side].ice, &host), 0);
		add_predicted(net.s[side].ice, "192.0.2.10", 7000, order, 2);
		assert_int_equal(zt_ice_add_remote(net.s[side].ice, &srflx), 0);
		add_predicted(net.s[side].ice, "192.0.2.10", 7000, order + 2, 2);
		zt_ice_start(net.s[side].ice, 0);
		run(&net, 200 * ZT_MS);
		assert_int_equal(net.nfirst[side], 6);
		for (int k = 0; k < 4; k++)
			assert_int_equal(net.first_dst[side][k].port, want[side][k]);
		/* then the ordinary ones, in priority order: host, srflx */
		assert_int_equal(net.first_dst[side][4].port, 9);
		assert_int_equal(net.first_dst[side][5].port, 7000);
		teardown(&net);
	}
}

/* Predicted candidates pair with the first host candidate only: each other host's
 * check would be one more new mapping on our sequential NAT, out of the schedule. */
static void predicted_pairs_use_the_first_host_only(void **state)
{
	static struct net net;
	struct zt_cand h2 = mkcand(ZT_CAND_HOST, "10.9.0.1:1000", NULL, 65534);
	struct zt_cand p = mkcand(ZT_CAND_SRFLX, "192.0.2.10:7001", NULL, 100);
	struct zt_cand o = mkcand(ZT_CAND_SRFLX, "192.0.2.10:7000", NULL, 65535);

	(void)state;
	memset(&net, 0, sizeof(net));
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	assert_int_equal(zt_ice_add_local(net.s[0].ice, &h2), 0);
	p.predicted = 1;
	assert_int_equal(zt_ice_add_remote(net.s[0].ice, &p), 0);
	assert_int_equal(zt_ice_pair_count(net.s[0].ice), 1);
	assert_int_equal(zt_ice_add_remote(net.s[0].ice, &o), 0);
	assert_int_equal(zt_ice_pair_count(net.s[0].ice), 3); /* + both hosts x ordinary */
	zt_ice_free(net.s[0].ice);
}

/* A check from one predicted address says which port the peer's NAT gave: the other
 * predicted pairs stop (they spend that address's budget for nothing). */
static void a_heard_predicted_address_stops_the_others(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "192.0.2.10:7002");
	/* side 1 signals its predicted ports 7001..7004, of which its own address is the
	 * second */
	half_exchange(&net);
	add_predicted(net.s[0].ice, "192.0.2.10", 7000, (const unsigned[]){ 1, 2, 3, 4 }, 4);
	zt_ice_start(net.s[0].ice, 0);
	zt_ice_start(net.s[1].ice, 0);
	run(&net, 3 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	assert_int_equal(zt_ice_stats(net.s[0].ice)->predicted_pruned, 3);
	/* 7001 went out at 0 and was stopped at 1 ms; 7003 and 7004 never went */
	assert_int_equal(zt_ice_stats(net.s[0].ice)->checks_sent, 2);
	teardown(&net);
}

/* An authenticated request pays for the check back to its address: a late peer is
 * answered at once even when unanswered addresses of its IP spent the budget. */
static void a_request_pays_for_its_triggered_check(void **state)
{
	static struct net net;

	(void)state;
	memset(&net, 0, sizeof(net));
	net.delay = 1 * ZT_MS;
	net.s[0].budgeted = true;
	net.s[0].bcfg = (struct zt_check_budget_config){ .dest_rate = 1 }; /* burst 8 */
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "192.0.2.10:7012");
	half_exchange(&net);
	for (int i = 0; i < 12; i++) { /* ahead of the peer's address, never answering */
		char a[32];
		snprintf(a, sizeof(a), "192.0.2.10:%d", 6000 + i);
		struct zt_cand c = mkcand(ZT_CAND_HOST, a, NULL, 65535);
		assert_int_equal(zt_ice_add_remote(net.s[0].ice, &c), 0);
	}
	zt_ice_start(net.s[0].ice, 0);
	run(&net, 2500 * ZT_MS); /* the burst and more is spent */
	assert_true(zt_ice_stats(net.s[0].ice)->checks_deferred > 0);
	zt_ice_start(net.s[1].ice, net.now); /* the late peer's check arrives 1 ms later */
	run(&net, 4 * ZT_SEC);
	assert_int_equal(zt_ice_state(net.s[0].ice), ZT_ICE_CONNECTED);
	/* its triggered check went at once: a round trip after the request */
	assert_true(zt_ice_stats(net.s[0].ice)->selected_time <= 2500 * ZT_MS + 4 * ZT_MS);
	teardown(&net);
}

/* Birthday probing (core/birthday.h): a probe is an authenticated check that no
 * transaction tracks; arriving at a socket the agent never gathered (one of the
 * sprayed ones), it is answered from that socket and a triggered check goes back from
 * it, so the pair uses the port the spray opened. The answer to the probe is dropped
 * as unmatched. */
static void a_probe_at_a_sprayed_socket_is_answered_from_it(void **state)
{
	static struct net net;
	uint8_t buf[1280], out[1280];
	struct zt_addr aux, from, l, r;
	struct zt_stun_msg m;
	int n, k;

	(void)state;
	memset(&net, 0, sizeof(net));
	setup_side(&net, 0, true, 7, "10.0.0.1:1000");
	setup_side(&net, 1, false, 9, "10.0.1.2:2000");
	assert_int_equal(zt_ice_build_probe(net.s[0].ice, buf, sizeof(buf)), -EAGAIN);
	exchange(&net);
	assert_int_equal(zt_ice_build_probe(net.s[0].ice, buf, 20), -ENOBUFS);
	n = zt_ice_build_probe(net.s[0].ice, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(zt_stun_decode(&m, buf, (size_t)n), 0);
	assert_int_equal(m.cls, ZT_STUN_REQUEST);
	assert_true(zt_ice_match(net.s[1].ice, buf, (size_t)n));
	zt_addr_parse(&aux, "10.0.1.2:40007", 0);
	from = net.s[0].host;
	assert_int_equal(zt_ice_recv(net.s[1].ice, 0, &aux, &from, buf, (size_t)n), 1);
	assert_int_equal(zt_ice_stats(net.s[1].ice)->requests_received, 1);
	/* the answer, then the triggered check, both from the sprayed socket */
	k = zt_ice_poll_send(net.s[1].ice, 0, out, sizeof(out), &l, &r);
	assert_true(k > 0);
	assert_true(zt_addr_equal(&l, &aux) && zt_addr_equal(&r, &from));
	assert_int_equal(zt_stun_decode(&m, out, (size_t)k), 0);
	assert_int_equal(m.cls, ZT_STUN_SUCCESS);
	assert_int_equal(zt_ice_recv(net.s[0].ice, 1, &net.s[0].host, &aux, out, (size_t)k), 1);
	assert_int_equal(zt_ice_stats(net.s[0].ice)->dropped_unmatched, 1);
	k = zt_ice_poll_send(net.s[1].ice, 0, out, sizeof(out), &l, &r);
	assert_true(k > 0);
	assert_true(zt_addr_equal(&l, &aux) && zt_addr_equal(&r, &from));
	assert_int_equal(zt_stun_decode(&m, out, (size_t)k), 0);
	assert_int_equal(m.cls, ZT_STUN_REQUEST);
	teardown(&net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_lan_connects_in_one_round_trip),
		cmocka_unit_test(port_restricted_both_sides_connects_via_srflx),
		cmocka_unit_test(symmetric_vs_full_cone_needs_peer_reflexive),
		cmocka_unit_test(symmetric_both_sides_fails_at_timeout),
		cmocka_unit_test(checks_are_paced_and_retransmitted_with_backoff),
		cmocka_unit_test(bad_credentials_and_fingerprint_are_dropped),
		cmocka_unit_test(role_conflict_resolves_by_tie_breaker),
		cmocka_unit_test(consent_keeps_pair_and_detects_loss),
		cmocka_unit_test(note_alive_postpones_consent_loss),
		cmocka_unit_test(peer_traffic_makes_checks_unneeded),
		cmocka_unit_test(pair_limit_is_one_hundred),
		cmocka_unit_test(check_before_candidates_is_answered_then_triggered),
		cmocka_unit_test(unanswered_triggered_check_before_start_expires),
		cmocka_unit_test(nat_matrix_matches_theory),
		cmocka_unit_test(failed_generation_revives_for_late_peer),
		cmocka_unit_test(consent_loss_is_final),
		cmocka_unit_test(match_finds_the_owner),
		cmocka_unit_test(rejects_bad_config),
		cmocka_unit_test(unanswered_checks_are_paid_for),
		cmocka_unit_test(budget_does_not_slow_punching),
		cmocka_unit_test(empty_bucket_does_not_block_other_pairs),
		cmocka_unit_test(remote_candidates_are_bounded),
		cmocka_unit_test(tcp_candidates_are_not_paired),
		cmocka_unit_test(path_mtu_probes_find_what_the_path_carries),
		cmocka_unit_test(sequential_nats_meet_with_prediction),
		cmocka_unit_test(predicted_pairs_are_checked_first_in_schedule_order),
		cmocka_unit_test(predicted_pairs_use_the_first_host_only),
		cmocka_unit_test(a_heard_predicted_address_stops_the_others),
		cmocka_unit_test(a_request_pays_for_its_triggered_check),
		cmocka_unit_test(a_probe_at_a_sprayed_socket_is_answered_from_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
