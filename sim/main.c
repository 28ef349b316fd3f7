/*
 * ztna-sim: the deterministic NAT traversal simulator (docs/simulator.md).
 *
 *   ztna-sim --scenario FILE [--seed N] [--timeline] [-v LEVEL]
 *   ztna-sim --prop [--cases N] [--seed N]       randomized property cases
 *   ztna-sim --case SEED [--timeline] [-v LEVEL] replay one property case
 *   ztna-sim --matrix [--runs N]                 the 4x4 NAT matrix vs theory
 *   --sequential, --predict on|off (with --prop, --case, --matrix): the variant of
 *   docs/hard-nat.md (symmetric NATs allocate ports sequentially; prediction off)
 *   ztna-sim --population [FILE] [--sessions N] [--seed N]
 *   ztna-sim --bench [--sessions N]              hole-punch sessions per CPU-second
 *   ztna-sim --birthday [--sessions N] [--sockets N] [--probes N] [--probe-rate N]
 *            [--probe off] [--real] [--seed N]   birthday probing vs 1 - (1 - n/P)^m
 *   --real (with --scenario, --case, --prop)     the real src/node cores (sim/real.h)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "birthday.h"
#include "core/rng.h"
#include "core/stun.h"
#include "core/units.h"
#include "pop.h"
#include "prop.h"
#include "evq.h"
#include "real.h"
#include "session.h"

struct tl {
	int level;
	const char *names[ZT_SIM_NET_MAX_NODES];
	int nnames;
	FILE *out;
};

static const char *node_name(const struct tl *t, int i)
{
	return i >= 0 && i < t->nnames ? t->names[i] : "?";
}

static void stamp(FILE *f, uint64_t now)
{
	fprintf(f, "%10.3f ms  ", (double)now / 1e6);
}

static const char *what(const uint8_t *b, size_t len)
{
	struct zt_stun_msg m;

	if (!len)
		return "empty";
	if (b[0] < 4 && zt_stun_decode_header(&m, b, len) == 0)
		return m.cls == ZT_STUN_REQUEST ? "STUN Binding request" :
		       m.cls == ZT_STUN_SUCCESS ? "STUN Binding success" :
		       m.cls == ZT_STUN_ERROR ? "STUN Binding error" : "STUN indication";
	switch (b[0]) {
	case 0xE1: return "control message";
	case 0xE2: return "control ack";
	case 0xE3: return len > 1 && b[1] == 0x41 ? "relayed DATA" : "relayed ACK";
	case 0x41: return "DATA";
	case 0x42: return "ACK";
	}
	return "?";
}

static void on_trace(void *ctx, uint64_t now, const struct zt_sim_trace *t)
{
	struct tl *tl = ctx;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN], c[ZT_ADDR_STRLEN];

	if (t->kind == ZT_SIM_TR_NAT_MAP || t->kind == ZT_SIM_TR_NAT_EXPIRE) {
		if (tl->level < 1)
			return;
		stamp(tl->out, now);
		fprintf(tl->out, "%-9s nat %s %s -> %s%s%s\n", node_name(tl, t->node),
			t->kind == ZT_SIM_TR_NAT_MAP ? "mapping" : "expired",
			zt_addr_str(&t->xsrc, a), zt_addr_str(&t->xdst, b),
			t->dst.family ? " for " : "", t->dst.family ? zt_addr_str(&t->dst, c) : "");
		return;
	}
	if (tl->level < 2)
		return;
	if (t->kind == ZT_SIM_TR_XLATE && tl->level < 3)
		return;
	stamp(tl->out, now);
	switch (t->kind) {
	case ZT_SIM_TR_SEND:
		fprintf(tl->out, "%-9s send #%llu %s -> %s %zu B %s\n", node_name(tl, t->node),
			(unsigned long long)t->pkt_id, zt_addr_str(&t->src, a), zt_addr_str(&t->dst, b),
			t->len, what(t->buf, t->len));
		break;
	case ZT_SIM_TR_DELIVER:
		fprintf(tl->out, "%-9s recv #%llu %s -> %s %s\n", node_name(tl, t->node),
			(unsigned long long)t->pkt_id, zt_addr_str(&t->src, a), zt_addr_str(&t->dst, b),
			what(t->buf, t->len));
		break;
	case ZT_SIM_TR_DROP:
		fprintf(tl->out, "%-9s drop #%llu %s -> %s (%s)\n", node_name(tl, t->node),
			(unsigned long long)t->pkt_id, zt_addr_str(&t->src, a), zt_addr_str(&t->dst, b),
			t->why);
		break;
	case ZT_SIM_TR_XLATE:
		fprintf(tl->out, "%-9s %s #%llu %s -> %s  =>  %s -> %s\n", node_name(tl, t->node),
			t->why, (unsigned long long)t->pkt_id, zt_addr_str(&t->src, a),
			zt_addr_str(&t->dst, b), zt_addr_str(&t->xsrc, c), zt_addr_str(&t->xdst, a));
		break;
	default:
		break;
	}
}

static void on_log(void *ctx, uint64_t now, int level, const char *who, const char *text)
{
	struct tl *tl = ctx;

	if (level > tl->level)
		return;
	stamp(tl->out, now);
	fprintf(tl->out, "%-9s %s\n", who, text);
}

/* " (agrees)" or " (DISAGREES)"; a birthday-probing cell is direct with a probability
 * (docs/hard-nat.md), so theory's relay there is no disagreement. */
static const char *agreement(const struct zt_sim_outcome *o)
{
	if (o->theory == ZT_SIM_EXPECT_NONE)
		return o->session_up ? " (DISAGREES)" : " (agrees)";
	if (o->birthday_cell && o->theory == ZT_SIM_EXPECT_RELAY)
		return o->went_direct ? " (birthday probing found a path)" : " (birthday probing found none)";
	return (o->theory == ZT_SIM_EXPECT_DIRECT) == o->went_direct ? " (agrees)" : " (DISAGREES)";
}

static void print_outcome(FILE *f, const struct zt_sim_outcome *o)
{
	printf("outcome: session %s, path %s, theory %s%s\n", o->session_up ? "up" : "never up",
	       zt_sim_path_name(o->final_path), zt_sim_expect_name(o->theory), agreement(o));
	fprintf(f, "  session at %.3f ms; coordinated start at %.3f ms; ", (double)o->session_at / 1e6,
		(double)o->ice_start_at / 1e6);
	if (o->went_direct)
		fprintf(f, "direct at %.3f ms (%.1f ms after the agent's start, %.1f ms after both started)\n",
			(double)o->first_direct_at / 1e6, (double)o->time_to_direct / 1e6,
			(double)o->time_from_both / 1e6);
	else
		fprintf(f, "never direct\n");
	fprintf(f, "  configured RTTs: agent-relay %.1f ms, connector-relay %.1f ms, direct %.1f ms\n",
		(double)o->rtt_agent_relay / 1e6, (double)o->rtt_connector_relay / 1e6,
		(double)o->rtt_direct / 1e6);
	fprintf(f, "  path switches %u (max %u in a minute), ICE generations %u, checks %llu + %llu retransmits\n",
		o->switches, o->max_switches_per_min, o->generations, (unsigned long long)o->checks,
		(unsigned long long)o->retransmits);
	fprintf(f, "  data (unreliable stand-in for the inner connection): sent %llu (%llu direct), "
		"delivered %llu (%llu direct), reordered %llu, longest gap %.1f ms\n",
		(unsigned long long)o->data_sent, (unsigned long long)o->data_sent_direct,
		(unsigned long long)o->data_received, (unsigned long long)o->data_received_direct,
		(unsigned long long)o->data_reordered, (double)o->max_gap / 1e6);
	fprintf(f, "  simulated %.1f s: %llu events, %llu packets, %llu dropped\n", (double)o->end / 1e9,
		(unsigned long long)o->events, (unsigned long long)o->packets,
		(unsigned long long)o->dropped);
}

/* --max-loss PPM: real-core cases with each link's loss capped (default: moderate) */
static uint32_t real_max_loss = ZT_SIM_PROP_MODERATE_PPM;
/* --sequential, --predict off */
static struct zt_sim_variant variant;

static void real_draw(uint64_t seed, struct zt_sim_prop_params *p)
{
	zt_sim_prop_draw(seed, p);
	p->v = variant;
	for (int i = 0; i < 2; i++)
		if (p->loss_ppm[i] > real_max_loss)
			p->loss_ppm[i] = real_max_loss;
}

static void print_real(const struct zt_sim_real_outcome *r)
{
	const struct zt_sim_outcome *o = &r->o;

	printf("outcome (real cores): session %s, path %s, theory %s%s\n",
	       o->session_up ? "up" : "never up", zt_sim_path_name(o->final_path),
	       zt_sim_expect_name(o->theory), agreement(o));
	printf("  session ready at %.3f ms; ", (double)o->session_at / 1e6);
	if (o->went_direct)
		printf("direct at %.3f ms (%.1f ms after the first ICE start)\n",
		       (double)o->first_direct_at / 1e6, (double)o->time_to_direct / 1e6);
	else
		printf("never direct\n");
	printf("  path switches %u (max %u in a minute), ICE generations %u\n", o->switches,
	       o->max_switches_per_min, o->generations);
	printf("  stream (a real channel, checked byte by byte): sent %llu, received %llu in order%s%s; "
	       "relayed packets %llu\n", (unsigned long long)r->stream_sent,
	       (unsigned long long)r->stream_received, r->stream_corrupt ? ", CORRUPT" : "",
	       r->stream_reset ? ", RESET" : "", (unsigned long long)r->relay_pkts);
	printf("  channel ready at %.3f s (%u opened, %u failed before ready); longest stall %.1f s\n",
	       (double)r->first_ready_at / 1e9, r->chan_opens, r->open_failures,
	       (double)r->max_stall / 1e9);
	printf("  simulated %.1f s: %llu events, %llu packets, %llu dropped\n", (double)o->end / 1e9,
	       (unsigned long long)o->events, (unsigned long long)o->packets,
	       (unsigned long long)o->dropped);
}

/*
 * The invariants for a run of the real cores (docs/simulator.md, "Property cases with
 * --real", defines each and why). "Stuck" applies to cases whose links all lose at
 * most ZT_SIM_REAL_STUCK_PPM; beyond that, up to the model's 30 %, slow and stalled
 * are allowed and only a lost session is a violation.
 */
#define ZT_SIM_REAL_STUCK_PPM 200000
#define ZT_SIM_REAL_STUCK (10 * ZT_SEC)

static int real_check(const struct zt_sim_prop_params *p, const struct zt_sim_real_outcome *r,
		      char *why, size_t cap)
{
	const struct zt_sim_outcome *o = &r->o;
	bool moderate = p->loss_ppm[0] <= ZT_SIM_PROP_MODERATE_PPM &&
			p->loss_ppm[1] <= ZT_SIM_PROP_MODERATE_PPM;
	bool bounded = p->loss_ppm[0] <= ZT_SIM_REAL_STUCK_PPM &&
		       p->loss_ppm[1] <= ZT_SIM_REAL_STUCK_PPM;

	if (o->spun)
		return snprintf(why, cap, "the event loop spun at %.3f s (a deadline that stays "
				"due: a busy loop)", (double)o->spun_at / 1e9), -1;
	if (o->theory == ZT_SIM_EXPECT_NONE) {
		if (o->session_up || r->first_ready_at)
			return snprintf(why, cap, "UDP blocked, yet a session came up"), -1;
		return 0;
	}
	if (!r->first_ready_at)
		return snprintf(why, cap, "session lost: the relay is reachable, yet no channel "
				"got ready in %u tries", r->chan_opens), -1;
	if (o->theory == ZT_SIM_EXPECT_DIRECT && moderate && !o->went_direct)
		return snprintf(why, cap, "theory says direct (moderate loss), never direct"), -1;
	if (o->theory == ZT_SIM_EXPECT_RELAY && o->went_direct)
		return snprintf(why, cap, "theory says relay only, yet direct"), -1;
	if (r->stream_corrupt)
		return snprintf(why, cap, "stream bytes corrupted or out of order"), -1;
	if (r->stream_reset)
		return snprintf(why, cap, "session lost: the stream was reset"), -1;
	if (bounded && r->max_stall >= ZT_SIM_REAL_STUCK)
		return snprintf(why, cap, "stream stuck: no byte for %.1f s (until %.1f s) while "
				"bytes were on their way; %llu sent, %llu received",
				(double)r->max_stall / 1e9, (double)r->max_stall_end / 1e9,
				(unsigned long long)r->stream_sent,
				(unsigned long long)r->stream_received), -1;
	if (o->max_switches_per_min > 6)
		return snprintf(why, cap, "%u path switches in a minute", o->max_switches_per_min), -1;
	return 0;
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_scenario(const char *path, uint64_t seed, int level, bool timeline, const char *session,
			bool real, bool theory_only)
{
	static struct zt_sim_scn scn;
	struct zt_scn_error err;
	struct zt_sim_outcome o;
	struct tl tl = { .level = timeline ? level : -1, .out = stdout };
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = seed };
	int rc = zt_sim_scn_load(&scn, path, &err);

	if (rc < 0) {
		fprintf(stderr, "ztna-sim: %s\n", err.msg);
		return 2;
	}
	if (variant.predict_off)
		scn.predict_off = true; /* --predict off: as 'sim run predict off' */
	if (session && sscanf(session, "%12[^,],%12[^,],%12s", scn.agent, scn.connector, scn.relay) != 3) {
		fprintf(stderr, "ztna-sim: --session takes AGENT,CONNECTOR,RELAY\n");
		return 2;
	}
	if (zt_sim_scn_check(&scn, &err) < 0) {
		fprintf(stderr, "ztna-sim: %s\n", err.msg);
		return 2;
	}
	if (theory_only) {
		enum zt_sim_expect e;
		const char *types[2];
		rc = zt_sim_session_theory(&cfg, &e, types);
		if (rc < 0) {
			fprintf(stderr, "ztna-sim: %s: cannot build its network (%d)\n", path, rc);
			return 2;
		}
		printf("%s %s %s\n", zt_sim_expect_name(e), types[0], types[1]);
		return 0;
	}
	tl.nnames = zt_sim_session_node_names(&scn, tl.names);
	if (timeline) {
		cfg.trace = on_trace;
		cfg.trace_ctx = &tl;
		cfg.log = on_log;
		cfg.log_ctx = &tl;
	}
	printf("scenario %s, seed %llu: agent %s, connector %s, relay %s%s\n", scn.lab.name,
	       (unsigned long long)seed, scn.agent, scn.connector, scn.relay,
	       real ? " (real cores)" : "");
	if (real) {
		static struct zt_sim_real_outcome ro;
		rc = zt_sim_real_run(&cfg, &ro);
		if (rc < 0) {
			fprintf(stderr, "ztna-sim: run failed: %d\n", rc);
			return 2;
		}
		print_real(&ro);
		o = ro.o;
	} else {
		rc = zt_sim_session_run(&cfg, &o);
	}
	if (rc < 0) {
		fprintf(stderr, "ztna-sim: run failed: %d\n", rc);
		return 2;
	}
	if (!real)
		print_outcome(stdout, &o);
	if (scn.expect >= 0) {
		bool ok = scn.expect == ZT_SIM_EXPECT_NONE ? !o.session_up :
			  scn.expect == ZT_SIM_EXPECT_DIRECT ? o.went_direct && o.final_path == ZT_SIM_PATH_DIRECT
							     : o.session_up && !o.went_direct;
		printf("expected %s: %s\n", zt_sim_expect_name((enum zt_sim_expect)scn.expect),
		       ok ? "PASS" : "FAIL");
		return ok ? 0 : 1;
	}
	return 0;
}

static int run_case(uint64_t seed, int level, bool timeline, bool real)
{
	struct zt_sim_prop_params p;
	static struct zt_sim_scn scn;
	struct zt_scn_error err;
	struct zt_sim_outcome o;
	struct tl tl = { .level = timeline ? level : -1, .out = stdout };
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = seed };
	char text[4096], why[256];
	int n;

	if (real)
		real_draw(seed, &p);
	else
		zt_sim_prop_draw(seed, &p);
	p.v = variant;
	n = zt_sim_prop_text(&p, seed, text, sizeof(text));
	if (n < 0 || zt_sim_scn_parse(&scn, text, (size_t)n, "case", &err) < 0) {
		fprintf(stderr, "ztna-sim: case %llu: bad scenario\n", (unsigned long long)seed);
		return 2;
	}
	printf("# property case %llu as a scenario file:\n%s\n", (unsigned long long)seed, text);
	tl.nnames = zt_sim_session_node_names(&scn, tl.names);
	if (timeline) {
		cfg.trace = on_trace;
		cfg.trace_ctx = &tl;
		cfg.log = on_log;
		cfg.log_ctx = &tl;
	}
	if (real) {
		static struct zt_sim_real_outcome ro;
		if (zt_sim_real_run(&cfg, &ro) < 0)
			return 2;
		print_real(&ro);
		if (real_check(&p, &ro, why, sizeof(why)) < 0) {
			printf("invariant violated: %s\n", why);
			return 1;
		}
		printf("all invariants hold\n");
		return 0;
	}
	if (zt_sim_session_run(&cfg, &o) < 0)
		return 2;
	print_outcome(stdout, &o);
	printf("direct bound for this case: %.3f s\n", (double)zt_sim_prop_direct_bound(&p, &o) / 1e9);
	if (zt_sim_prop_check(&p, &o, why, sizeof(why)) < 0) {
		printf("invariant violated: %s\n", why);
		return 1;
	}
	printf("all invariants hold\n");
	return 0;
}

/* Direct sessions per NAT pair of the cases with one NAT a side and UDP open (the
 * direct rate per cell of a randomized batch; docs/hard-nat.md). */
struct cells {
	unsigned ran[4][4], direct[4][4];
};

static void cells_add(struct cells *c, const struct zt_sim_prop_params *p, bool direct)
{
	if (p->outer[0] >= 0 || p->outer[1] >= 0 || p->blocked[0] || p->blocked[1] ||
	    p->type[0] < 0 || p->type[1] < 0)
		return;
	c->ran[p->type[0]][p->type[1]]++;
	c->direct[p->type[0]][p->type[1]] += direct;
}

static void cells_print(const struct cells *c)
{
	static const char *const names[] = { "FC", "ARC", "PRC", "SYM" };

	printf("cases with one NAT a side, UDP open: direct / cases (agent \\ connector; SYM %s, "
	       "prediction %s)\n        ", variant.sequential ? "sequential" : "random",
	       variant.predict_off ? "off" : "on");
	for (int b = 0; b < 4; b++)
		printf("%-10s", names[b]);
	printf("\n");
	for (int a = 0; a < 4; a++) {
		printf("%-8s", names[a]);
		for (int b = 0; b < 4; b++) {
			char cell[24];
			snprintf(cell, sizeof(cell), "%u/%u", c->direct[a][b], c->ran[a][b]);
			printf("%-10s", cell);
		}
		printf("\n");
	}
}

/* Property cases with the real cores: the same draws as the model's. */
static int run_prop_real(uint64_t first, unsigned cases)
{
	double t0 = cpu_seconds();
	unsigned bad = 0, direct = 0, ran = 0;
	static struct zt_sim_scn scn;
	static struct zt_sim_real_outcome ro;
	static struct cells cells;

	for (unsigned i = 0; i < cases; i++) {
		struct zt_sim_prop_params p;
		struct zt_scn_error err;
		struct zt_sim_session_cfg cfg = { .scn = &scn };
		uint64_t seed = first + i;
		char text[4096], why[256];
		int n, rc;

		real_draw(seed, &p);
		n = zt_sim_prop_text(&p, seed, text, sizeof(text));
		cfg.seed = seed;
		if (n < 0 || zt_sim_scn_parse(&scn, text, (size_t)n, "case", &err) < 0 ||
		    (rc = zt_sim_real_run(&cfg, &ro)) < 0) {
			bad++;
			printf("case %llu: could not run\n", (unsigned long long)seed);
			continue;
		}
		ran++;
		direct += ro.o.went_direct;
		cells_add(&cells, &p, ro.o.went_direct);
		if (real_check(&p, &ro, why, sizeof(why)) < 0) {
			bad++;
			printf("case %llu: %s (replay: ztna-sim --case %llu --real --max-loss %u%s%s)\n",
			       (unsigned long long)seed, why, (unsigned long long)seed,
			       (unsigned)real_max_loss, variant.sequential ? " --sequential" : "",
			       variant.predict_off ? " --predict off" : "");
		}
	}
	cells_print(&cells);
	printf("%u real-core cases from seed %llu, link loss up to %.1f %%: %u violated, %u went direct; %.2f CPU s (%.1f cases per CPU s)\n",
	       cases, (unsigned long long)first, real_max_loss / 1e4, bad, direct, cpu_seconds() - t0,
	       ran / (cpu_seconds() - t0 > 0 ? cpu_seconds() - t0 : 1));
	return bad ? 1 : 0;
}

static int run_prop(uint64_t first, unsigned cases)
{
	double t0 = cpu_seconds();
	unsigned bad = 0, direct = 0;
	char why[256];
	static struct cells cells;

	for (unsigned i = 0; i < cases; i++) {
		struct zt_sim_outcome o;
		struct zt_sim_prop_params p;
		uint64_t seed = first + i;
		int rc = zt_sim_prop_run(seed, &variant, &o, why, sizeof(why));
		if (rc != 0) {
			bad++;
			printf("case %llu: %s (replay: ztna-sim --case %llu --timeline%s%s)\n",
			       (unsigned long long)seed, rc < 0 ? "could not run" : why,
			       (unsigned long long)seed, variant.sequential ? " --sequential" : "",
			       variant.predict_off ? " --predict off" : "");
		}
		direct += o.went_direct;
		zt_sim_prop_draw(seed, &p);
		cells_add(&cells, &p, rc >= 0 && o.went_direct);
	}
	cells_print(&cells);
	printf("%u cases from seed %llu: %u violated, %u went direct; %.2f CPU s\n", cases,
	       (unsigned long long)first, bad, direct, cpu_seconds() - t0);
	return bad ? 1 : 0;
}

static int run_matrix(unsigned runs)
{
	/* docs/design.md: relay only for symmetric x symmetric and symmetric x port-restricted;
	 * with sequential symmetric NATs and prediction, direct everywhere (hard-nat.md) */
	static const char *const names[] = { "FC", "ARC", "PRC", "SYM" };
	bool predicted = variant.sequential && !variant.predict_off;
	unsigned agree = 0, total = 0;

	printf("symmetric NATs: %s ports; port prediction %s\n",
	       variant.sequential ? "sequential" : "random", variant.predict_off ? "off" : "on");
	printf("agent \\ connector: direct sessions / runs (theory)\n        ");
	for (int b = 0; b < 4; b++)
		printf("%-14s", names[b]);
	printf("\n");
	for (int a = 0; a < 4; a++) {
		printf("%-8s", names[a]);
		for (int b = 0; b < 4; b++) {
			unsigned direct = 0;
			bool expect = predicted || !((a == 3 && b >= 2) || (b == 3 && a >= 2));
			for (unsigned r = 0; r < runs; r++) {
				struct zt_sim_outcome o;
				if (zt_sim_pop_session(a, b, 1000 + r, &variant, &o) == 0 && o.went_direct)
					direct++;
			}
			agree += expect ? direct : runs - direct;
			total += runs;
			printf("%2u/%-2u (%-6s)  ", direct, runs, expect ? "direct" : "relay");
		}
		printf("\n");
	}
	printf("agreement with theory: %u/%u\n", agree, total);
	return agree == total ? 0 : 1;
}

static void nop_event(void *ctx, void *arg, uint64_t now)
{
	(void)arg;
	(void)now;
	++*(uint64_t *)ctx;
}

/* The baseline: the bare event queue moving as many events as the sessions did, each
 * event scheduling the next one a random 0..10 ms ahead with ~20 pending. */
static double bare_queue_seconds(uint64_t events)
{
	struct zt_sim_evq q;
	struct zt_prng g;
	struct zt_sim_ev ev;
	uint64_t ran = 0;
	double t0 = cpu_seconds();

	zt_sim_evq_init(&q);
	zt_prng_seed(&g, 1);
	for (int i = 0; i < 20; i++)
		zt_sim_evq_push(&q, zt_prng_next(&g) % 10000000, nop_event, &ran, NULL);
	while (ran < events && zt_sim_evq_pop(&q, UINT64_MAX, &ev)) {
		ev.fn(ev.ctx, ev.arg, ev.at);
		zt_sim_evq_push(&q, ev.at + zt_prng_next(&g) % 10000000, nop_event, &ran, NULL);
	}
	zt_sim_evq_fini(&q);
	return cpu_seconds() - t0;
}

static int run_bench(unsigned sessions)
{
	double t0, t1, bare;
	unsigned direct = 0;
	uint64_t events = 0;

	t0 = cpu_seconds();
	for (unsigned i = 0; i < sessions; i++) {
		struct zt_sim_outcome o;
		if (zt_sim_pop_session((int)(i % 4), (int)((i / 4) % 4), i, NULL, &o) == 0) {
			direct += o.went_direct;
			events += o.events;
		}
	}
	t1 = cpu_seconds();
	bare = bare_queue_seconds(events);
	printf("sim hole-punch sessions (4x4 NAT pairs in turn, 15 s simulated each, real ICE and "
	       "path manager): %u in %.3f CPU s = %.0f sessions/CPU-s (%u direct; %.0f events/session)\n",
	       sessions, t1 - t0, (double)sessions / (t1 - t0), direct, (double)events / sessions);
	printf("baseline, same run: the bare event queue moves those %llu events in %.3f CPU s; "
	       "the sessions cost %.1fx that (protocol code, NAT tables, packet copies)\n",
	       (unsigned long long)events, bare, bare > 0 ? (t1 - t0) / bare : 0.0);
	return 0;
}

/* --off LIST: turns techniques off. Returns 0 or -1 on an unknown name. */
static int pop_off(const char *list, struct zt_sim_pop_tech *t)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (!strcmp(w, "portmap"))
			t->portmap = false;
		else if (!strcmp(w, "predict"))
			t->predict = false;
		else if (!strcmp(w, "probe"))
			t->probe = false;
		else if (!strcmp(w, "ipv6"))
			t->ipv6 = false;
		else if (!strcmp(w, "all"))
			*t = (struct zt_sim_pop_tech){ 0 };
		else
			return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ztna-sim --scenario FILE [--seed N] [--timeline] [-v 0-3] [--session A,C,R]\n"
		"       ztna-sim --scenario FILE --session A,C,R --theory    what RFC 4787 says (direct,\n"
		"                relay, or none: UDP blocked) and the NAT type each of A and C sees\n"
		"       ztna-sim --prop [--cases N] [--seed N]\n"
		"       ztna-sim --case SEED [--timeline] [-v 0-3]\n"
		"       ztna-sim --matrix [--runs N]\n"
		"       --sequential, --predict on|off with --prop, --case, --matrix: symmetric NATs\n"
		"                allocate ports sequentially; port prediction off (docs/hard-nat.md);\n"
		"                --predict off with --scenario (and --theory) too\n"
		"       ztna-sim --population [FILE] [--sessions N] [--seed N] [--off LIST] [--discover]\n"
		"                LIST: techniques off, comma-separated: portmap, predict, probe,\n"
		"                ipv6, or all (plain ICE only); --discover: the nodes know their NAT as\n"
		"                ztna discover reports it, not as --nat-ports auto detects it\n"
		"       ztna-sim --bench [--sessions N]\n"
		"       ztna-sim --birthday [--sessions N] [--sockets N] [--probes N] [--probe-rate N]\n"
		"                [--probe off] [--real] [--seed N]   birthday probing against its formula\n"
		"       --real with --scenario, --case or --prop: the real src/node cores\n"
		"       --max-loss PPM (with --real): cap each link's drawn loss (default 50000, 5 %%)\n");
}

/* ztna-sim's options (usage() says what each does). */
static const struct option opts[] = {
	{ "scenario", required_argument, NULL, 's' },
	{ "seed", required_argument, NULL, 'S' },
	{ "timeline", no_argument, NULL, 't' },
	{ "session", required_argument, NULL, 'x' },
	{ "prop", no_argument, NULL, 'p' },
	{ "cases", required_argument, NULL, 'n' },
	{ "case", required_argument, NULL, 'c' },
	{ "matrix", no_argument, NULL, 'm' },
	{ "runs", required_argument, NULL, 'r' },
	{ "population", optional_argument, NULL, 'P' },
	{ "sessions", required_argument, NULL, 'N' },
	{ "bench", no_argument, NULL, 'b' },
	{ "real", no_argument, NULL, 'R' },
	{ "max-loss", required_argument, NULL, 'L' },
	{ "theory", no_argument, NULL, 'T' },
	{ "sequential", no_argument, NULL, 'Q' },
	{ "birthday", no_argument, NULL, 'B' },
	{ "sockets", required_argument, NULL, 'k' },
	{ "probes", required_argument, NULL, 'M' },
	{ "probe-rate", required_argument, NULL, 'q' },
	{ "probe", required_argument, NULL, 'o' },
	{ "predict", required_argument, NULL, 'D' },
	{ "off", required_argument, NULL, 'O' },
	{ "discover", no_argument, NULL, 'E' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

int main(int argc, char **argv)
{
	enum { SCEN = 1, PROP, CASE, MATRIX, POP, BENCH, BDAY } mode = 0;
	struct zt_sim_birthday_cfg bday = { 0 };
	struct zt_sim_pop_cfg pop = {
		.tech = { .predict = true, .probe = true, .detect = true, .portmap = true, .ipv6 = true },
	};
	const char *file = NULL, *session = NULL;
	uint64_t seed = 1;
	unsigned cases = 1000, runs = 5, sessions = 0;
	bool timeline = false, seed_given = false, real = false, theory_only = false;
	int level = 1, c;

	while ((c = getopt_long(argc, argv, "v:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': mode = SCEN; file = optarg; break;
		case 'S': seed = strtoull(optarg, NULL, 0); seed_given = true; break;
		case 't': timeline = true; break;
		case 'x': session = optarg; break;
		case 'p': mode = PROP; break;
		case 'n': cases = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'c': mode = CASE; seed = strtoull(optarg, NULL, 0); break;
		case 'm': mode = MATRIX; break;
		case 'r': runs = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'P': mode = POP; file = optarg; break;
		case 'N': sessions = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': mode = BENCH; break;
		case 'R': real = true; break;
		case 'T': theory_only = true; break;
		case 'L': real_max_loss = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'v': level = atoi(optarg); timeline = true; break;
		case 'Q': variant.sequential = true; break;
		case 'B': mode = BDAY; break;
		case 'k': bday.sockets = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'M': bday.probes = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'q': bday.rate = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'o': bday.probe_off = !strcmp(optarg, "off"); break;
		case 'D':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				usage();
				return 2;
			}
			variant.predict_off = !strcmp(optarg, "off");
			break;
		case 'O':
			if (pop_off(optarg, &pop.tech) < 0) {
				fprintf(stderr, "ztna-sim: --off %s: say portmap, predict, probe, ipv6 "
					"or all, comma-separated\n", optarg);
				return 2;
			}
			break;
		case 'E': pop.tech.detect = false; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (mode == POP && !file && optind < argc)
		file = argv[optind];
	switch (mode) {
	case SCEN: return run_scenario(file, seed, level, timeline, session, real, theory_only);
	case PROP: return real ? run_prop_real(seed, cases) : run_prop(seed, cases);
	case CASE: return run_case(seed, level, timeline, real);
	case MATRIX: return run_matrix(runs);
	case POP:
		pop.file = file;
		pop.sessions = sessions ? sessions : 2000;
		pop.seed = seed_given ? seed : 1;
		return zt_sim_pop_main(&pop, stdout);
	case BENCH: return run_bench(sessions ? sessions : 2000);
	case BDAY:
		bday.sessions = sessions ? sessions : 200;
		bday.seed = seed;
		bday.real = real;
		return zt_sim_birthday_main(&bday, stdout);
	}
	usage();
	return 2;
}
