/*
 * One simulated session: the scenario's network (sim/net), the Intermediate stand-in
 * on the relay server (sim/relay), an agent and a connector (sim/peer) running the
 * real ICE checklist and path manager, each endpoint driven through sim/endpoint.h on
 * the virtual clock. The connector boots at t = 0, the agent at 100 ms (services are
 * registered before users open them); the run ends at the scenario's duration.
 */
#ifndef ZT_SIM_SESSION_H
#define ZT_SIM_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "endpoint.h"
#include "net.h"
#include "peer.h"
#include "simscn.h"
#include "theory.h"

struct zt_sim_session_cfg {
	const struct zt_sim_scn *scn;
	uint64_t seed;
	zt_sim_trace_fn *trace;      /* network events, or NULL */
	void *trace_ctx;
	zt_sim_log_fn *log;          /* endpoint events, or NULL */
	void *log_ctx;
	const char *const *node_names; /* filled by the run for the trace's node indexes */
};

struct zt_sim_outcome {
	enum zt_sim_expect theory;
	bool spun;                   /* the run stopped: a busy loop at spun_at (evq.h) */
	uint64_t spun_at;
	bool birthday_cell;          /* 'probe on' and zt_sim_birthday_cell() */
	bool session_up;             /* both sides got SESSION */
	uint64_t session_at;         /* the agent's SESSION */
	uint64_t ice_start_at;       /* the agent's first coordinated start moment */
	uint64_t ice_start_connector; /* the connector's */
	bool went_direct;
	uint64_t first_direct_at;
	uint64_t time_to_direct;     /* first_direct_at - ice_start_at, 0 if never */
	uint64_t time_from_both;     /* first_direct_at - the later side's start, 0 if never */
	enum zt_sim_path final_path;
	uint32_t switches, max_switches_per_min, generations;
	uint64_t data_sent, data_sent_direct, data_received, data_received_direct;
	uint64_t data_reordered, first_data_rx, max_gap;
	uint64_t rtt_agent_relay, rtt_connector_relay, rtt_direct; /* configured delays */
	uint64_t checks, retransmits, stun_dropped;
	uint64_t events, packets, dropped;
	uint64_t end;
	int err;
};

/*
 * Runs the scenario once with this seed. Returns 0 with *ret filled, or a negative
 * code: the scenario's session check (ZT_ECONF_*), -ENOMEM, or -EINVAL when the
 * topology does not fit the simulator.
 */
int zt_sim_session_run(const struct zt_sim_session_cfg *cfg, struct zt_sim_outcome *ret);

/*
 * Adds the scenario's nodes to an empty net, NATs before what sits behind them;
 * map[i] gets the net index of scenario node i. Returns 0, or -EINVAL / -ENOSPC.
 */
int zt_sim_session_build(struct zt_sim_net *net, const struct zt_sim_scn *scn,
			 int map[ZT_SCN_MAX_NODES]);

/* An endpoint (sim/endpoint.h) on a net node, woken by its own deadlines. */
struct zt_sim_ep {
	const struct zt_sim_endpoint_ops *ops;
	void *obj;
	int node;
	uint64_t wake_at;
	struct zt_sim_net *net;
	uint64_t stuck;          /* wakes in a row its deadline was still due after */
};

/* Attaches obj to node (it receives what arrives there) and wakes it first at boot. */
void zt_sim_ep_attach(struct zt_sim_ep *e, struct zt_sim_net *net, int node,
		      const struct zt_sim_endpoint_ops *ops, void *obj, uint64_t boot);
/* Lets it send and re-arms its wake-up now (after a call into it from outside). */
void zt_sim_ep_kick(struct zt_sim_ep *e, uint64_t now);
/* zt_sim_evq_drain()'s callback for a run's leftover events. */
void zt_sim_drop_event(void *ctx, void *arg);

/*
 * A run's network for cfg's scenario: evq and net initialised (cfg's seed and trace),
 * the nodes added (zt_sim_session_build(), map filled), the `sim block` lines set;
 * the net nodes of the agent, the connector and the relay in ret_agent, ret_connector
 * and ret_relay. Returns 0 or zt_sim_session_build()'s error; evq and net are to be
 * finished either way.
 */
int zt_sim_session_net(struct zt_sim_net *net, struct zt_sim_evq *evq,
		       const struct zt_sim_session_cfg *cfg, int map[ZT_SCN_MAX_NODES],
		       int *ret_agent, int *ret_connector, int *ret_relay);

/* What RFC 4787 theory says the scenario's agent and connector end with (theory.h),
 * from the network the session would run on, and the NAT behaviour each of them sees
 * (zt_sim_effective_type). Returns 0 or a build error. */
int zt_sim_session_theory(const struct zt_sim_session_cfg *cfg, enum zt_sim_expect *ret,
			  const char *ret_types[2]);

/* The simulator's node names, by index, for a scenario (same order as the trace). */
int zt_sim_session_node_names(const struct zt_sim_scn *scn, const char *names[ZT_SIM_NET_MAX_NODES]);

#endif
