/*
 * The real-core mode's debugging aids (docs/simulator.md), on stderr, configured from
 * the environment once per run:
 *   ZT_SIM_LOG=N   the cores' own log lines with the virtual time (0 error .. 3 debug;
 *                  empty: 2, info)
 *   ZT_SIM_DBG=1   at the end, the relay counters and the four QUIC connections;
 *   ZT_SIM_DBG=2   also every virtual second
 *   ZT_SIM_QLOG=D  a qlog file per connection, D/ROLE-LABEL.qlog
 */
#ifndef ZT_SIM_REALDBG_H
#define ZT_SIM_REALDBG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/imd.h"
#include "node/peer.h"

struct zt_sim_dbg {
	int log_max;                 /* -1: no log lines */
	int level;                   /* ZT_SIM_DBG */
	const char *qlog_dir;        /* NULL: no qlog */
	const uint64_t *now;         /* the run's virtual clock */
};

/* One core's name in log lines and qlog file names, with the run's settings. */
struct zt_sim_dbg_who {
	const struct zt_sim_dbg *dbg;
	const char *name;
};

void zt_sim_dbg_init(struct zt_sim_dbg *d, const uint64_t *now);

/* For a core's configuration: .log (arg: a struct zt_sim_dbg_who), .qlog_open (NULL
 * without ZT_SIM_QLOG; arg: the same) and .qlog_write. */
struct zt_node_log zt_sim_dbg_log(const struct zt_sim_dbg_who *who);
void *(*zt_sim_dbg_qlog_open(const struct zt_sim_dbg *d))(void *arg, const char *label);
void zt_sim_dbg_qlog_write(void *h, const void *data, size_t len, bool fin);

/* The stream's counts and the four connections: every second (level 2) or at the end
 * (level 1, with the relay counters; is may be NULL). */
struct zt_sim_dbg_view {
	uint64_t stream_received, stream_sent;
	struct zt_peer *agent, *conn;
};
void zt_sim_dbg_tick(const struct zt_sim_dbg *d, const struct zt_sim_dbg_view *v, uint64_t now);
void zt_sim_dbg_final(const struct zt_sim_dbg *d, const struct zt_sim_dbg_view *v,
		      const struct zt_imd_stats *is);

#endif
