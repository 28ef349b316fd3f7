/* The node's NAT detection (core/natprobe.h, docs/hard-nat.md): one Binding request
 * from the main socket to the Intermediate's STUN port (WELCOME's STUN_PORT) after
 * each new observation over UDP; the result takes the place of --nat-ports auto (and
 * of an unset --nat-mapping) for port prediction and birthday probing. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "node/peer.h"
#include "node/peer_int.h"

/* What the sessions signal and use: the operator's settings, else the detection's.
 * Returns whether that changed. */
static bool apply(struct zt_peer *p)
{
	uint8_t old_map = p->addrs.nat_mapping, old_ports = p->addrs.nat_ports;
	const struct zt_portpred *old_pred = p->addrs.portpred;
	bool tcp = p->outer && zt_outer_tcp(p->outer);
	enum zt_natprobe_result r = p->cfg.nat_detect && !tcp ? zt_natprobe_result(&p->natprobe)
							       : ZT_NATPROBE_NONE;
	uint8_t map = p->cfg.nat_mapping, ports = p->cfg.nat_ports;

	if (r == ZT_NATPROBE_EIM && !map)
		map = ZT_CTRL_NAT_MAP_INDEPENDENT;
	if ((r == ZT_NATPROBE_SEQUENTIAL || r == ZT_NATPROBE_RANDOM) && !map)
		map = ZT_CTRL_NAT_MAP_ADDRESS_PORT;
	if (r == ZT_NATPROBE_SEQUENTIAL && !ports)
		ports = ZT_CTRL_NAT_PORTS_SEQUENTIAL;
	/* random ports without spray sockets: saying so would make an endpoint-independent
	 * peer probe for nothing (birthday probing needs both halves) */
	if (r == ZT_NATPROBE_RANDOM && !ports && p->cfg.nspray)
		ports = ZT_CTRL_NAT_PORTS_RANDOM;
	p->addrs.nat_mapping = map;
	p->addrs.nat_ports = ports;
	p->addrs.portpred = !tcp && ports == ZT_CTRL_NAT_PORTS_SEQUENTIAL ? &p->portpred : NULL;
	return old_map != map || old_ports != ports || old_pred != p->addrs.portpred;
}

static void report(struct zt_peer *p)
{
	const struct zt_natprobe *np = &p->natprobe;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];

	PLOG(p, ZT_NODE_INFO, "nat_detected",
	     "nat=%s observed=%s second=%s tries=%u ms=%" PRIu64 " prediction=%s probing=%s",
	     zt_natprobe_name(np->result), zt_addr_str(&np->observed, a),
	     np->second.family ? zt_addr_str(&np->second, b) : "-", np->sent, (uint64_t)(np->took / ZT_MS),
	     p->addrs.portpred && !p->cfg.predict_off ? "on" : "off",
	     p->cfg.probe_off ? "off"
	     : p->addrs.nat_mapping == ZT_CTRL_NAT_MAP_INDEPENDENT ? "probe"
	     : p->addrs.nat_ports == ZT_CTRL_NAT_PORTS_RANDOM ? "spray"
	     : np->result == ZT_NATPROBE_RANDOM ? "no-spray-sockets" : "off");
	if (p->cb.nat)
		p->cb.nat(p, p->cfg.arg, zt_natprobe_name(np->result));
}

int zt_peer_set_spray(struct zt_peer *p, const struct zt_addr *spray, size_t n)
{
	if (n && !spray)
		return -EINVAL;
	p->cfg.spray = p->addrs.spray = spray;
	p->cfg.nspray = p->addrs.nspray = n;
	/* a session that checked before the sockets were there checks again */
	if (apply(p))
		zt_psession_natchange(p, p->now);
	return 0;
}

void zt_pnat_observed(struct zt_peer *p, uint16_t stun_port)
{
	bool tcp = p->outer && zt_outer_tcp(p->outer);
	struct zt_addr server = p->cfg.intermediate;
	uint8_t tid[ZT_STUN_TID_LEN];

	server.port = stun_port;
	if (!p->cfg.nat_detect || tcp || !stun_port || !p->addrs.observed.family) {
		zt_natprobe_stop(&p->natprobe);
		apply(p);
		return;
	}
	zt_rng_fill(p->cfg.rng, tid, sizeof(tid));
	/* a new observation (or server) starts over; the result was its own */
	if (zt_natprobe_start(&p->natprobe, p->now, &p->addrs.observed, &server, tid) < 0)
		zt_natprobe_stop(&p->natprobe);
	apply(p);
}

bool zt_pnat_recv(struct zt_peer *p, uint64_t now, const struct zt_addr *from,
		  const uint8_t *pkt, size_t len)
{
	if (!zt_natprobe_running(&p->natprobe) ||
	    zt_natprobe_recv(&p->natprobe, now, from, pkt, len) != 1)
		return false;
	if (zt_natprobe_result(&p->natprobe)) {
		/* a session that started checking before the result checks again with it */
		if (apply(p))
			zt_psession_natchange(p, now);
		report(p);
	}
	return true;
}

int zt_pnat_poll_send(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
		      struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	int n = zt_natprobe_poll_send(&p->natprobe, now, buf, cap, ret_remote);

	if (n <= 0)
		return 0;
	*ret_local = p->outer_path.local; /* the outer connection's socket and family */
	/* one more new mapping on a sequential NAT: counted like a check's, so that the
	 * predicted ports start after it (docs/hard-nat.md) */
	zt_portpred_sent(&p->portpred, now, ret_remote);
	return n;
}

uint64_t zt_pnat_deadline(const struct zt_peer *p)
{
	return zt_natprobe_next_deadline(&p->natprobe);
}

void zt_pnat_timers(struct zt_peer *p, uint64_t now)
{
	if (!zt_natprobe_running(&p->natprobe))
		return;
	zt_natprobe_on_timeout(&p->natprobe, now);
	if (zt_natprobe_result(&p->natprobe))
		report(p); /* unknown: the settings stay the operator's */
}

const char *zt_peer_nat(const struct zt_peer *p)
{
	enum zt_natprobe_result r = zt_natprobe_result(&p->natprobe);

	if (p->cfg.nat_detect && r)
		return zt_natprobe_name(r);
	if (p->cfg.nat_ports == ZT_CTRL_NAT_PORTS_SEQUENTIAL)
		return "sequential";
	if (p->cfg.nat_ports == ZT_CTRL_NAT_PORTS_RANDOM)
		return "random";
	if (p->cfg.nat_mapping == ZT_CTRL_NAT_MAP_INDEPENDENT)
		return "eim";
	return "unknown";
}
