/*
 * Randomized property cases: a generator that turns one 64-bit case seed into a
 * scenario (NAT types of both sides, double NAT, UDP blocked, delays, jitter, loss,
 * reordering, start skew, candidate order) as scenario text, and the invariants a run
 * of it must satisfy (docs/simulator.md states each bound and why).
 */
#ifndef ZT_SIM_PROP_H
#define ZT_SIM_PROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"
#include "simscn.h"

/*
 * A variant of the cases (docs/hard-nat.md): symmetric NATs (carrier-grade ones of
 * that type too) allocate ports sequentially instead of at random; the nodes run with
 * port prediction off. All false: the default draw.
 */
struct zt_sim_variant {
	bool sequential;
	bool predict_off;
	bool probe;               /* 'sim run probe on': birthday probing (hard-nat.md) */
	bool detect;              /* 'sim run detect on': ... the NAT as --nat-ports auto finds it */
	bool portmap;             /* 'sim run portmap on': the nodes ask for port mappings */
};

/* What a case is made of; zt_sim_prop_draw() fills it from a seed. */
struct zt_sim_prop_params {
	int type[2];              /* lab NAT type (0..3) of agent, connector */
	int outer[2];             /* -1, or the type of a carrier-grade NAT in front */
	int ports[2];             /* a symmetric NAT's allocation (enum zt_scn_ports; 0: random) */
	bool portmap[2];          /* the NAT in front grants port mappings ('portmap pcp') */
	bool blocked[2];          /* UDP blocked in front of that side */
	uint64_t delay[2];        /* one-way delay of each side's NAT uplink (ns) */
	uint64_t jitter[2];
	uint32_t loss_ppm[2];     /* on each side's NAT uplink, each direction */
	uint32_t reorder_ppm[2];
	uint64_t relay_delay;     /* the relay's uplink */
	uint64_t skew;            /* 0..3 s */
	bool skew_connector;
	uint64_t duration;
	uint64_t data_interval;   /* 0: no data flow */
	struct zt_sim_variant v;  /* zero from the draw */
};

/* The randomized draw for a case seed (property-test distributions). */
void zt_sim_prop_draw(uint64_t case_seed, struct zt_sim_prop_params *ret);

/* Writes the scenario text of p. Returns its length or -ENOBUFS (4096 suffices). */
int zt_sim_prop_text(const struct zt_sim_prop_params *p, uint64_t seed, char *buf, size_t cap);

/* Moderate loss, the limit under which direct must be reached: 5 % per link. */
#define ZT_SIM_PROP_MODERATE_PPM 50000

/*
 * The bound on time to direct for a case where theory says direct and loss is
 * moderate, counted from the moment both sides have started checking (the later
 * side's start: the coordinated moment plus any skew, or later when signaling was
 * slowed by loss): 2 x direct RTT + 2.5 s. Why: from then on each side's checks
 * reach a NAT that the other side has already opened, so the first check that
 * survives the loss succeeds within one direct RTT and its nomination within
 * another; a pair's check is retransmitted at 0, 0.1, 0.3, 0.7, 1.1, 1.5, 1.9, 2.3 s
 * (RTO 100 ms doubling, capped at 400 ms), and at <= 5 % loss per link a round trip
 * crossing four lossy link passages fails with p <= 0.19, so eight attempts all fail
 * with p < 2e-6. Signaling delay (CANDIDATES and START_CHECKS through the relay) is
 * checked separately: both sides must have started within skew + 10 s of the session
 * (the stand-in signaling channel backs off 0.5, 1, 2, 4 s after losses, like a
 * QUIC PTO: three losses of one message in a row already cost 7.5 s).
 */
uint64_t zt_sim_prop_direct_bound(const struct zt_sim_prop_params *p,
				  const struct zt_sim_outcome *o);

/*
 * Checks every invariant. Returns 0, or -1 with the first violated one described in
 * why (NUL-terminated).
 */
int zt_sim_prop_check(const struct zt_sim_prop_params *p, const struct zt_sim_outcome *o,
		      char *why, size_t cap);

/* Runs one case: draw, text, parse, simulate, check; v: a variant, or NULL. Returns 0
 * (held), 1 (violated: why filled), or a negative code (the case could not run). */
int zt_sim_prop_run(uint64_t case_seed, const struct zt_sim_variant *v,
		    struct zt_sim_outcome *ret_outcome, char *why, size_t cap);

#endif
