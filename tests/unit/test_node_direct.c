/*
 * The direct path object (node/direct.h) on its own: an agent's and a connector's,
 * their signaling handed across by the test, their STUN datagrams carried between two
 * host addresses, the agent's inner connection played by the test (its state given,
 * its moves carried out or refused as each test says).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "node/direct.h"

#define MAXQ 64
#define DELAY (10 * ZT_MS)

struct pkt {
	uint64_t at;
	int to;                       /* 0 agent, 1 connector */
	struct zt_addr from, dst;
	size_t len;
	uint8_t buf[1280];
};

struct end {
	struct zt_direct *d;
	struct zt_direct_addrs addrs;
	struct zt_prng prng;
	struct zt_rng rng;
	struct {
		struct zt_direct_conn c;   /* the inner connection, as the test plays it */
	} conn;
	uint32_t cands_sent, reports;
	struct zt_ctrl_path_report last_report;
	struct zt_ctrl_candidates last_cands;
	struct zt_path_counts counts; /* the node's (node/pathcount.h) */
};

struct fx {
	struct end e[2];
	struct zt_path_config path;
	struct zt_check_budget budget;
	struct zt_node_log log;
	struct pkt q[MAXQ];
	int nq;
	uint64_t now;
	bool hold_signaling;          /* CANDIDATES are not handed across */
	int move_rc;                  /* what the next moves return */
	uint32_t moves;
	struct zt_direct_move last_move;
	char events[4096];            /* the log's event names, space-separated */
};

static struct zt_quic_path relay_path(void)
{
	struct zt_quic_path p;

	zt_quic_relay_addr(&p.local, AF_INET, 1);
	assert_int_equal(zt_addr_parse(&p.remote, "203.0.113.100:4433", 0), 0);
	return p;
}

static void log_fn(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	struct fx *f = arg;
	size_t n = strlen(f->events);
	(void)level;
	(void)kv;

	if (n + strlen(event) + 2 < sizeof(f->events))
		snprintf(f->events + n, sizeof(f->events) - n, "%s ", event);
}

static bool logged(const struct fx *f, const char *event)
{
	char w[64];

	snprintf(w, sizeof(w), "%s ", event);
	return strstr(f->events, w) != NULL;
}

static void end_init(struct fx *f, int i, const char *host)
{
	struct end *e = &f->e[i];
	struct zt_direct_config cfg;

	zt_prng_seed(&e->prng, 1000 + (uint64_t)i);
	e->rng = zt_prng_rng(&e->prng);
	assert_int_equal(zt_addr_parse(&e->addrs.hosts[0], host, 0), 0);
	e->addrs.nhosts = 1;
	e->addrs.local = e->addrs.hosts[0];
	assert_int_equal(zt_addr_parse(&e->addrs.intermediate, "203.0.113.100:4433", 0), 0);
	cfg = (struct zt_direct_config){
		.agent = i == 0,
		.session_id = 0x5e55,
		.service = "svc",
		.rng = &e->rng,
		.path = &f->path,
		.max_remote = 8,
		.budget = &f->budget,
		.addrs = &e->addrs,
		.log = &f->log,
		.counts = &e->counts,
	};
	assert_int_equal(zt_direct_new(&e->d, &cfg, f->now), 0);
	e->conn.c = (struct zt_direct_conn){ .exists = true, .path = relay_path(),
					     .srtt = 50 * ZT_MS };
}

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->now = ZT_SEC;
	f->log = (struct zt_node_log){ .fn = log_fn, .arg = f, .max_level = ZT_NODE_DEBUG };
	zt_check_budget_init(&f->budget, &(struct zt_check_budget_config){ 0 }, f->now);
	end_init(f, 0, "10.0.0.1:5000");
	end_init(f, 1, "10.0.0.2:6000");
}

static void fx_fini(struct fx *f)
{
	zt_direct_free(f->e[0].d);
	zt_direct_free(f->e[1].d);
}

static void sync(struct fx *f, int i)
{
	zt_direct_conn_state(f->e[i].d, &f->e[i].conn.c);
}

/* What the object asks for: control messages handed to the other end (CANDIDATES),
 * or kept (PATH_REPORT); moves carried out with move_rc. */
static void drain(struct fx *f, int i)
{
	struct end *e = &f->e[i];
	struct zt_ctrl_msg m;
	struct zt_direct_move mv;

	while (zt_direct_poll_move(e->d, f->now, &mv)) {
		struct zt_quic_path to = mv.kind == ZT_PATH_KIND_RELAY ? relay_path() : mv.to;
		f->moves++;
		f->last_move = mv;
		if (f->move_rc == 0)
			e->conn.c.path = to;
		sync(f, i);
		zt_direct_moved(e->d, f->now, f->move_rc, &to);
	}
	while (zt_direct_poll_ctrl(e->d, &m)) {
		if (m.type == ZT_CTRL_PATH_REPORT) {
			e->reports++;
			e->last_report = m.u.path;
			continue;
		}
		assert_int_equal(m.type, ZT_CTRL_CANDIDATES);
		assert_int_equal(m.u.cands.session_id, 0x5e55);
		e->cands_sent++;
		e->last_cands = m.u.cands;
		if (f->hold_signaling)
			continue;
		sync(f, !i);
		zt_direct_candidates(f->e[!i].d, f->now, &m.u.cands);
		drain(f, !i);
		if (i == 1) { /* the Intermediate's START_CHECKS, to both at once */
			zt_direct_start(f->e[0].d, f->now, f->now + 50 * ZT_MS, m.u.cands.generation);
			zt_direct_start(f->e[1].d, f->now, f->now + 50 * ZT_MS, m.u.cands.generation);
		}
	}
}

static void carry(struct fx *f, int i)
{
	struct pkt *p;
	struct zt_addr local, remote;
	uint8_t buf[1280];
	int n;

	while ((n = zt_direct_poll_send(f->e[i].d, f->now, buf, sizeof(buf), &local, &remote)) > 0) {
		assert_true(f->nq < MAXQ);
		assert_true(zt_addr_equal(&local, &f->e[i].addrs.hosts[0]));
		p = &f->q[f->nq++];
		*p = (struct pkt){ .at = f->now + DELAY, .to = !i, .from = local, .dst = remote,
				   .len = (size_t)n };
		memcpy(p->buf, buf, (size_t)n);
	}
}

static void deliver_due(struct fx *f)
{
	for (int k = 0; k < f->nq;) {
		struct pkt p = f->q[k];
		struct end *e;

		if (p.at > f->now) {
			k++;
			continue;
		}
		f->q[k] = f->q[--f->nq];
		e = &f->e[p.to];
		if (!zt_addr_equal(&p.dst, &e->addrs.hosts[0]))
			continue; /* e.g. to the relay candidate: nobody there */
		sync(f, p.to);
		if (zt_direct_owns(e->d, p.buf, p.len))
			assert_int_equal(zt_direct_stun(e->d, f->now, &p.dst, &p.from, p.buf, p.len), 1);
		drain(f, p.to);
	}
}

/* Runs both ends in 1 ms steps until done() or the time limit. */
static bool run(struct fx *f, uint64_t until, bool (*done)(struct fx *))
{
	for (; f->now < until; f->now += ZT_MS) {
		for (int i = 0; i < 2; i++) {
			if (zt_direct_next_deadline(f->e[i].d) <= f->now) {
				sync(f, i);
				zt_direct_on_timeout(f->e[i].d, f->now);
			}
			drain(f, i);
			carry(f, i);
		}
		deliver_due(f);
		if (done && done(f))
			return true;
	}
	return false;
}

/* A timer tick of end i's session. */
static void tick(struct fx *f, int i)
{
	sync(f, i);
	zt_direct_on_timeout(f->e[i].d, f->now);
	drain(f, i);
}

static bool on_direct(struct fx *f)
{
	return !zt_quic_is_relay_addr(&f->e[0].conn.c.path.local);
}

static void begin(struct fx *f, bool up)
{
	f->e[0].conn.c.up = up;
	sync(f, 0);
	zt_direct_ready(f->e[0].d, f->now);
	drain(f, 0);
}

/* The agent's first generation is offered at once: host, server-reflexive (none here:
 * the observed address is unknown) and relay candidates; the connector answers with
 * its own generation of the same number. */
static void ready_offers_candidates(void **state)
{
	struct fx f;
	struct zt_direct_info info;
	(void)state;

	fx_init(&f);
	f.hold_signaling = true;
	begin(&f, false);
	assert_int_equal(f.e[0].cands_sent, 1);
	assert_true(logged(&f, "path_decision"));
	zt_direct_info(f.e[0].d, &info);
	assert_int_equal(info.generation, 1);
	assert_string_equal(info.ice_state, "new"); /* no answer yet, no checks */
	assert_string_equal(info.manager, "checking");
	fx_fini(&f);
	fx_init(&f);
	begin(&f, false);
	assert_int_equal(f.e[0].cands_sent, 1);
	assert_int_equal(f.e[1].cands_sent, 1);
	zt_direct_info(f.e[1].d, &info);
	assert_int_equal(info.generation, 1);
	assert_string_equal(info.manager, "follows");
	fx_fini(&f);
}

/* The UDP candidates of type `type` in end i's last CANDIDATES, up to 4. */
static size_t cands_of(const struct fx *f, int i, unsigned type, struct zt_cand *out)
{
	const struct zt_ctrl_candidates *c = &f->e[i].last_cands;
	size_t n = 0;

	for (unsigned k = 0; k < c->n_cands && n < 4; k++)
		if (c->cands[k].type == type && c->cands[k].transport == ZT_CAND_UDP)
			out[n++] = c->cands[k];
	return n;
}

/* A port mapping at the gateway (docs/portmap.md) is offered as srflx with local
 * preference 65535, ahead of the observed address (65534), behind the host candidate;
 * its base is the socket's host address and its foundation differs (another server).
 * When both are the same address, it is offered once, as the mapping. */
static void mapped_candidate_ahead_of_observed(void **state)
{
	struct fx f;
	struct zt_cand srflx[4], host[4];
	char s[ZT_ADDR_STRLEN];
	(void)state;

	fx_init(&f);
	f.hold_signaling = true;
	assert_int_equal(zt_addr_parse(&f.e[0].addrs.observed, "198.51.100.1:40000", 0), 0);
	assert_int_equal(zt_addr_parse(&f.e[0].addrs.mapped, "198.51.100.1:61000", 0), 0);
	assert_int_equal(zt_addr_parse(&f.e[0].addrs.mapped_base, "10.0.0.1:5000", 0), 0);
	assert_int_equal(zt_addr_parse(&f.e[0].addrs.gateway, "10.0.0.254", 0), 0);
	begin(&f, false);
	assert_int_equal(cands_of(&f, 0, ZT_CAND_HOST, host), 1);
	assert_int_equal(cands_of(&f, 0, ZT_CAND_SRFLX, srflx), 2);
	assert_string_equal(zt_addr_str(&srflx[0].addr, s), "198.51.100.1:61000");
	assert_int_equal(srflx[0].priority, zt_cand_priority(ZT_CAND_SRFLX, 65535, 1));
	assert_string_equal(zt_addr_str(&srflx[0].related, s), "10.0.0.1:5000");
	assert_string_equal(zt_addr_str(&srflx[1].addr, s), "198.51.100.1:40000");
	assert_int_equal(srflx[1].priority, zt_cand_priority(ZT_CAND_SRFLX, 65534, 1));
	assert_string_equal(zt_addr_str(&srflx[1].related, s), "10.0.0.1:5000");
	assert_true(host[0].priority > srflx[0].priority);
	assert_string_not_equal(srflx[0].foundation, srflx[1].foundation);
	fx_fini(&f);

	fx_init(&f);
	f.hold_signaling = true;
	assert_int_equal(zt_addr_parse(&f.e[0].addrs.observed, "198.51.100.1:61000", 0), 0);
	f.e[0].addrs.mapped = f.e[0].addrs.observed;
	begin(&f, false);
	assert_int_equal(cands_of(&f, 0, ZT_CAND_SRFLX, srflx), 1);
	assert_int_equal(srflx[0].priority, zt_cand_priority(ZT_CAND_SRFLX, 65535, 1));
	fx_fini(&f);
}

/* ICE selects the host pair; the agent asks for a move only once its connection is
 * up, then reports the path. */
static void selected_pair_moves_once_the_connection_is_up(void **state)
{
	struct fx f;
	struct zt_direct_info info;
	(void)state;

	fx_init(&f);
	begin(&f, false);
	run(&f, f.now + 2 * ZT_SEC, NULL);
	assert_true(logged(&f, "ice_selected"));
	assert_int_equal(f.moves, 0); /* the handshake is not done */
	assert_false(on_direct(&f));
	f.e[0].conn.c.up = true;
	sync(&f, 0);
	zt_direct_ready(f.e[0].d, f.now);
	drain(&f, 0);
	assert_true(run(&f, f.now + ZT_SEC, on_direct));
	assert_int_equal(f.moves, 1);
	assert_int_equal(f.last_move.kind, ZT_PATH_KIND_DIRECT);
	assert_true(zt_addr_equal(&f.last_move.to.remote, &f.e[1].addrs.hosts[0]));
	assert_int_equal(f.e[0].reports, 1);
	assert_int_equal(f.e[0].last_report.path, ZT_CTRL_PATH_DIRECT);
	assert_string_equal(f.e[0].last_report.text, "nominated");
	zt_direct_info(f.e[0].d, &info);
	assert_string_equal(info.manager, "direct");
	assert_int_equal(info.switches, 1);
	assert_true(info.time_to_direct > 0);
	/* the node's counters: one attempt, one move, its time to direct in the buckets */
	assert_int_equal(f.e[0].counts.ice_started, 1);
	assert_int_equal(f.e[0].counts.ice_failed, 0);
	assert_int_equal(f.e[0].counts.to_direct, 1);
	assert_int_equal(f.e[0].counts.ttd_count, 1);
	assert_int_equal(f.e[0].counts.ttd_sum_ns, info.time_to_direct);
	for (int i = 0; i < ZT_PATH_TTD_BUCKETS; i++)
		assert_int_equal(f.e[0].counts.ttd_le[i],
				 (double)info.time_to_direct <= zt_path_ttd_le[i] * (double)ZT_SEC);
	fx_fini(&f);
}

static bool moved_twice(struct fx *f)
{
	return f->moves >= 2;
}

/* A move ngtcp2 cannot make yet (-EAGAIN) is asked for again 20 ms later; one refused
 * for good sends the path manager to its cooldown, on the relay. */
static void refused_moves_are_retried_then_given_up(void **state)
{
	struct fx f;
	struct zt_direct_info info;
	uint32_t before;
	(void)state;

	fx_init(&f);
	f.move_rc = -EAGAIN;
	begin(&f, true);
	assert_true(run(&f, f.now + 2 * ZT_SEC, moved_twice));
	assert_false(on_direct(&f));
	assert_int_equal(f.e[0].reports, 0);
	/* about every 20 ms while ngtcp2 says -EAGAIN */
	before = f.moves;
	run(&f, f.now + 200 * ZT_MS, NULL);
	assert_true(f.moves >= before + 8 && f.moves <= before + 11);
	f.move_rc = ZT_ESTATE;
	run(&f, f.now + 100 * ZT_MS, NULL);
	assert_true(logged(&f, "path_switch_refused"));
	zt_direct_info(f.e[0].d, &info);
	assert_string_equal(info.manager, "cooldown");
	before = f.moves;
	run(&f, f.now + ZT_SEC, NULL);
	assert_int_equal(f.moves, before); /* nothing more asked: the cooldown runs */
	assert_false(on_direct(&f));
	/* an attempt that ended on the relay, no move counted */
	assert_int_equal(f.e[0].counts.ice_failed, 1);
	assert_int_equal(f.e[0].counts.to_direct, 0);
	assert_int_equal(f.e[0].counts.ttd_count, 0);
	fx_fini(&f);
}

/* On the direct path, the connection says the peer answers elsewhere only and did not
 * follow three nudges: the agent moves back to the relay, reason peer-did-not-follow. */
static void peer_that_did_not_follow_sends_us_back(void **state)
{
	struct fx f;
	(void)state;

	fx_init(&f);
	begin(&f, true);
	assert_true(run(&f, f.now + 2 * ZT_SEC, on_direct));
	/* the connection's count comes with its timer ticks (node/session.c) */
	f.e[0].conn.c.nudges_unanswered = 2;
	tick(&f, 0);
	assert_true(on_direct(&f));
	f.e[0].conn.c.nudges_unanswered = 3;
	tick(&f, 0);
	assert_false(on_direct(&f));
	assert_int_equal(f.last_move.kind, ZT_PATH_KIND_RELAY);
	assert_string_equal(f.last_move.reason, "peer-did-not-follow");
	assert_int_equal(f.e[0].last_report.path, ZT_CTRL_PATH_RELAY);
	assert_string_equal(f.e[0].last_report.text, "peer-did-not-follow");
	assert_int_equal(f.e[0].counts.to_direct, 1);
	assert_int_equal(f.e[0].counts.to_relay[ZT_PATH_WHY_PEER_DID_NOT_FOLLOW], 1);
	for (int w = 0; w < ZT_PATH_WHY_MAX; w++)
		if (w != ZT_PATH_WHY_PEER_DID_NOT_FOLLOW)
			assert_int_equal(f.e[0].counts.to_relay[w], 0);
	fx_fini(&f);
}

/* The connector takes at most 16 CANDIDATES messages per generation and starts a
 * new generation at most every 200 ms. */
static void connector_bounds_candidates(void **state)
{
	struct fx f;
	struct zt_ctrl_msg m;
	struct zt_direct_info info;
	(void)state;

	fx_init(&f);
	f.hold_signaling = true;
	begin(&f, false);
	assert_int_equal(zt_direct_poll_ctrl(f.e[0].d, &m), 0); /* drained: held */
	/* an offer of one generation, sent 17 times */
	zt_ctrl_msg_init(&m, ZT_CTRL_CANDIDATES);
	m.u.cands.session_id = 0x5e55;
	m.u.cands.generation = 1;
	snprintf(m.u.cands.ufrag, sizeof(m.u.cands.ufrag), "abcd");
	snprintf(m.u.cands.pwd, sizeof(m.u.cands.pwd), "0123456789abcdef012345");
	m.u.cands.n_cands = 0;
	for (int i = 0; i < 17; i++)
		zt_direct_candidates(f.e[1].d, f.now, &m.u.cands);
	assert_true(logged(&f, "candidates_limited"));
	/* a new generation 10 ms later: refused; 200 ms later: taken */
	f.now += 10 * ZT_MS;
	m.u.cands.generation = 2;
	zt_direct_candidates(f.e[1].d, f.now, &m.u.cands);
	zt_direct_info(f.e[1].d, &info);
	assert_int_equal(info.generation, 1);
	f.now += 200 * ZT_MS;
	zt_direct_candidates(f.e[1].d, f.now, &m.u.cands);
	zt_direct_info(f.e[1].d, &info);
	assert_int_equal(info.generation, 2);
	fx_fini(&f);
}

/* Stopped (the session ends): nothing more to send, no deadline. */
static void stop_ends_checks(void **state)
{
	struct fx f;
	uint8_t buf[1280];
	struct zt_addr l, r;
	(void)state;

	fx_init(&f);
	begin(&f, false);
	run(&f, f.now + 60 * ZT_MS, NULL);
	zt_direct_stop(f.e[0].d);
	zt_direct_stop(f.e[1].d);
	assert_int_equal(zt_direct_poll_send(f.e[0].d, f.now, buf, sizeof(buf), &l, &r), 0);
	assert_int_equal(zt_direct_next_deadline(f.e[1].d), ZT_TIME_NEVER);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ready_offers_candidates),
		cmocka_unit_test(mapped_candidate_ahead_of_observed),
		cmocka_unit_test(selected_pair_moves_once_the_connection_is_up),
		cmocka_unit_test(refused_moves_are_retried_then_given_up),
		cmocka_unit_test(peer_that_did_not_follow_sends_us_back),
		cmocka_unit_test(connector_bounds_candidates),
		cmocka_unit_test(stop_ends_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
