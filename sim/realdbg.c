/* The real-core mode's debugging aids (realdbg.h). */
#include <stdio.h>
#include <stdlib.h>

#include "core/units.h"
#include "quic/conn.h"
#include "realdbg.h"

void zt_sim_dbg_init(struct zt_sim_dbg *d, const uint64_t *now)
{
	const char *v = getenv("ZT_SIM_LOG");

	*d = (struct zt_sim_dbg){ .log_max = v ? (*v ? atoi(v) : 2) : -1, .now = now,
				  .qlog_dir = getenv("ZT_SIM_QLOG") };
	v = getenv("ZT_SIM_DBG");
	d->level = v ? (*v ? atoi(v) : 1) : 0;
}

static void node_log(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	const struct zt_sim_dbg_who *w = arg;

	if ((int)level > w->dbg->log_max)
		return;
	fprintf(stderr, "%10.3f ms %-9s %s %s\n", (double)*w->dbg->now / 1e6, w->name, event, kv);
}

struct zt_node_log zt_sim_dbg_log(const struct zt_sim_dbg_who *who)
{
	return (struct zt_node_log){ .fn = who->dbg->log_max >= 0 ? node_log : NULL,
				     .arg = (void *)who, .max_level = ZT_NODE_DEBUG };
}

static void *qlog_open(void *arg, const char *label)
{
	const struct zt_sim_dbg_who *w = arg;
	char path[512];

	snprintf(path, sizeof(path), "%s/%s-%s.qlog", w->dbg->qlog_dir, w->name, label);
	return fopen(path, "w");
}

void *(*zt_sim_dbg_qlog_open(const struct zt_sim_dbg *d))(void *arg, const char *label)
{
	return d->qlog_dir ? qlog_open : NULL;
}

void zt_sim_dbg_qlog_write(void *h, const void *data, size_t len, bool fin)
{
	fwrite(data, 1, len, h);
	if (fin)
		fclose(h);
}

static void conn_line(const char *who, struct zt_quic_conn *c, uint64_t now)
{
	struct zt_quic_stats q;
	uint64_t dl;

	if (!c) {
		fprintf(stderr, " | %s -", who);
		return;
	}
	zt_quic_conn_stats(c, &q);
	dl = zt_quic_conn_next_deadline(c);
	fprintf(stderr, " | %s cwnd=%lu fl=%lu srtt=%.0f pto=%lu tx=%lu rx=%lu dg=%lu/%lu q=%zu",
		who, (unsigned long)q.cwnd, (unsigned long)q.bytes_in_flight, q.srtt_ns / 1e6,
		(unsigned long)q.pto_count, (unsigned long)q.pkts_sent, (unsigned long)q.pkts_recv,
		(unsigned long)q.dgrams_sent, (unsigned long)q.dgrams_recv, zt_quic_dgram_queued(c));
	fprintf(stderr, " dl=%+.3f st=%d",
		dl == ZT_TIME_NEVER ? 999.0 : ((double)dl - (double)now) / 1e9,
		(int)zt_quic_conn_state(c));
	if (q.ptos_capped)
		fprintf(stderr, " capped=%lu", (unsigned long)q.ptos_capped);
	if (q.challenges_withheld)
		fprintf(stderr, " withheld=%lu", (unsigned long)q.challenges_withheld);
	if (q.dgrams_dropped || q.probes_sent)
		fprintf(stderr, " drop=%lu exp=%lu probes=%lu", (unsigned long)q.dgrams_dropped,
			(unsigned long)q.dgrams_expired, (unsigned long)q.probes_sent);
}

static struct zt_quic_conn *inner_of(struct zt_peer *p)
{
	uint32_t id;
	struct zt_peer_session_info si;

	if (zt_peer_session_ids(p, &id, 1) >= 1 && zt_peer_session_info(p, id, &si) == 0)
		return si.conn;
	return NULL;
}

static void conns(const struct zt_sim_dbg_view *v, uint64_t now)
{
	conn_line("a.in", inner_of(v->agent), now);
	conn_line("c.in", inner_of(v->conn), now);
	conn_line("a.out", zt_peer_outer(v->agent), now);
	conn_line("c.out", zt_peer_outer(v->conn), now);
	fprintf(stderr, "\n");
}

void zt_sim_dbg_tick(const struct zt_sim_dbg *d, const struct zt_sim_dbg_view *v, uint64_t now)
{
	if (d->level < 2 || now % ZT_SEC)
		return;
	fprintf(stderr, "%10.3f ms DBG stream %llu/%llu", (double)now / 1e6,
		(unsigned long long)v->stream_received, (unsigned long long)v->stream_sent);
	conns(v, now);
}

void zt_sim_dbg_final(const struct zt_sim_dbg *d, const struct zt_sim_dbg_view *v,
		      const struct zt_imd_stats *is)
{
	struct zt_peer_stats as, cs;

	if (d->level < 1)
		return;
	zt_peer_stats(v->agent, &as);
	zt_peer_stats(v->conn, &cs);
	if (is)
		fprintf(stderr, "DBG imd relay=%lu unknown=%lu quota=%lu queue=%lu",
			(unsigned long)is->relay_pkts, (unsigned long)is->relay_dropped_unknown,
			(unsigned long)is->relay_dropped_quota, (unsigned long)is->relay_dropped_queue);
	fprintf(stderr, " | agent relay_out=%lu relay_in=%lu rq=%lu drop_unknown=%lu",
		(unsigned long)as.relay_out, (unsigned long)as.relay_in,
		(unsigned long)as.relay_dropped_queue, (unsigned long)as.dropped_unknown);
	fprintf(stderr, " | conn relay_in=%lu relay_out=%lu drop_session=%lu drop_unknown=%lu\n",
		(unsigned long)cs.relay_in, (unsigned long)cs.relay_out,
		(unsigned long)cs.relay_dropped_session, (unsigned long)cs.dropped_unknown);
	fprintf(stderr, "DBG stream %llu/%llu", (unsigned long long)v->stream_received,
		(unsigned long long)v->stream_sent);
	conns(v, *d->now);
}
