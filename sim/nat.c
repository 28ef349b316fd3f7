#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/units.h"
#include "draw.h"
#include "nat.h"

#define PORT_LO 1024
#define PORT_HI 65535
#define MAX_MAPS 16384

const char *zt_sim_dep_name(enum zt_sim_dep d)
{
	switch (d) {
	case ZT_SIM_EI: return "EI";
	case ZT_SIM_AD: return "AD";
	case ZT_SIM_APD: return "APD";
	}
	return "?";
}

const char *zt_sim_ports_name(enum zt_sim_ports p)
{
	switch (p) {
	case ZT_SIM_PORTS_PRESERVE: return "preserve";
	case ZT_SIM_PORTS_RANDOM: return "random";
	case ZT_SIM_PORTS_SEQUENTIAL: return "sequential";
	}
	return "?";
}

const char *zt_sim_nat_verdict_name(enum zt_sim_nat_verdict v)
{
	switch (v) {
	case ZT_SIM_NAT_PASS: return "pass";
	case ZT_SIM_NAT_NOMAP: return "no-mapping";
	case ZT_SIM_NAT_FILTERED: return "filtered";
	case ZT_SIM_NAT_BLOCKED: return "udp-blocked";
	case ZT_SIM_NAT_NOPORTS: return "no-ports";
	case ZT_SIM_NAT_NOHAIRPIN: return "no-hairpin";
	}
	return "?";
}

struct zt_sim_nat_cfg zt_sim_nat_cfg_of_type(int lab_type)
{
	/* netns/natrules.h: the cones are masquerade (port kept) plus a map refreshed by
	 * outbound packets; port-restricted is plain conntrack (refreshed both ways);
	 * symmetric is masquerade random. */
	switch (lab_type) {
	case 0:
		return (struct zt_sim_nat_cfg){ .mapping = ZT_SIM_EI, .filtering = ZT_SIM_EI };
	case 1:
		return (struct zt_sim_nat_cfg){ .mapping = ZT_SIM_EI, .filtering = ZT_SIM_AD };
	case 2:
		return (struct zt_sim_nat_cfg){ .mapping = ZT_SIM_EI, .filtering = ZT_SIM_APD,
						.refresh_inbound = true };
	default:
		return (struct zt_sim_nat_cfg){ .mapping = ZT_SIM_APD, .filtering = ZT_SIM_APD,
						.ports = ZT_SIM_PORTS_RANDOM,
						.refresh_inbound = true };
	}
}

void zt_sim_nat_init(struct zt_sim_nat *nat, const struct zt_sim_nat_cfg *cfg,
		     const struct zt_addr *wan)
{
	*nat = (struct zt_sim_nat){ .cfg = *cfg, .wan = *wan, .next_seq = 20000 };
	nat->wan.port = 0;
	if (!nat->cfg.timeout)
		nat->cfg.timeout = 120 * ZT_SEC;
}

void zt_sim_nat_fini(struct zt_sim_nat *nat)
{
	if (!nat)
		return;
	zt_sim_nat_flush(nat);
	free(nat->maps);
	nat->maps = NULL;
	nat->n = nat->cap = 0;
}

static uint64_t last_use(const struct zt_sim_nat *nat, const struct zt_sim_nat_map *m)
{
	if (nat->cfg.refresh_inbound && m->last_in > m->last_out)
		return m->last_in;
	return m->last_out;
}

size_t zt_sim_nat_expire(struct zt_sim_nat *nat, uint64_t now)
{
	size_t gone = 0;

	for (size_t i = 0; i < nat->n;) {
		struct zt_sim_nat_map *m = &nat->maps[i];
		if (!m->fixed && now - last_use(nat, m) >= nat->cfg.timeout) {
			if (nat->log)
				nat->log(nat->log_ctx, now, nat, ZT_SIM_NAT_EV_EXPIRE, m);
			free(m->perms);
			nat->maps[i] = nat->maps[--nat->n];
			nat->expired++;
			gone++;
		} else {
			i++;
		}
	}
	return gone;
}

void zt_sim_nat_flush(struct zt_sim_nat *nat)
{
	for (size_t i = 0; i < nat->n; i++)
		free(nat->maps[i].perms);
	nat->n = 0;
}

const struct zt_sim_nat_map *zt_sim_nat_lookup_port(const struct zt_sim_nat *nat, uint16_t port)
{
	for (size_t i = 0; i < nat->n; i++)
		if (nat->maps[i].port == port)
			return &nat->maps[i];
	return NULL;
}

static bool port_free(const struct zt_sim_nat *nat, uint16_t port)
{
	return port >= PORT_LO && !zt_sim_nat_lookup_port(nat, port);
}

static int pick_port(struct zt_sim_nat *nat, struct zt_prng *prng, uint16_t inside)
{
	if (nat->n >= PORT_HI - PORT_LO)
		return -1;
	if (nat->cfg.ports == ZT_SIM_PORTS_PRESERVE && port_free(nat, inside))
		return inside;
	if (nat->cfg.ports == ZT_SIM_PORTS_SEQUENTIAL) {
		for (;;) {
			uint16_t p = nat->next_seq++;
			if (nat->next_seq < PORT_LO)
				nat->next_seq = PORT_LO;
			if (port_free(nat, p))
				return p;
		}
	}
	for (;;) {
		uint16_t p = (uint16_t)zt_sim_range(prng, PORT_LO, PORT_HI);
		if (port_free(nat, p))
			return p;
	}
}

static bool key_matches(const struct zt_sim_nat *nat, const struct zt_sim_nat_map *m,
			const struct zt_addr *dst)
{
	switch (nat->cfg.mapping) {
	case ZT_SIM_EI: return true;
	case ZT_SIM_AD: return zt_addr_ip_equal(&m->key, dst);
	case ZT_SIM_APD: return zt_addr_equal(&m->key, dst);
	}
	return false;
}

/* Records dst as sent to at now; expired entries go, a full table loses its oldest. */
static void add_perm(const struct zt_sim_nat *nat, struct zt_sim_nat_map *m, uint64_t now,
		     const struct zt_addr *dst)
{
	unsigned oldest = 0, k = 0;

	for (unsigned i = 0; i < m->nperms; i++) {
		if (zt_addr_equal(&m->perms[i].addr, dst)) {
			m->perms[i].last = now;
			return;
		}
		if (now - m->perms[i].last < nat->cfg.timeout)
			m->perms[k++] = m->perms[i];
	}
	m->nperms = k;
	if (m->nperms == m->pcap && m->pcap < ZT_SIM_NAT_PERMS) {
		unsigned cap = m->pcap ? m->pcap * 4 : 4;
		struct zt_sim_nat_perm *p = realloc(m->perms, (cap > ZT_SIM_NAT_PERMS ? ZT_SIM_NAT_PERMS : cap) *
						    sizeof(*p));
		if (p) {
			m->perms = p;
			m->pcap = cap > ZT_SIM_NAT_PERMS ? ZT_SIM_NAT_PERMS : cap;
		}
	}
	if (m->nperms < m->pcap) {
		m->perms[m->nperms++] = (struct zt_sim_nat_perm){ .addr = *dst, .last = now };
		return;
	}
	for (unsigned i = 1; i < m->nperms; i++)
		if (m->perms[i].last < m->perms[oldest].last)
			oldest = i;
	if (m->nperms)
		m->perms[oldest] = (struct zt_sim_nat_perm){ .addr = *dst, .last = now };
}

/* Room for one more mapping. Returns false when the table is at its limit. */
static bool grow(struct zt_sim_nat *nat)
{
	size_t cap = nat->cap ? nat->cap * 2 : 8;
	struct zt_sim_nat_map *maps;

	if (nat->n < nat->cap)
		return true;
	if (cap > MAX_MAPS)
		return false;
	maps = realloc(nat->maps, cap * sizeof(*maps));
	if (!maps)
		return false;
	nat->maps = maps;
	nat->cap = cap;
	return true;
}

int zt_sim_nat_map_static(struct zt_sim_nat *nat, struct zt_prng *prng,
			  const struct zt_addr *inside, struct zt_addr *ret)
{
	struct zt_sim_nat_map *m;
	enum zt_sim_ports ports = nat->cfg.ports;
	int port;

	if (!nat->cfg.portmap || nat->cfg.udp_blocked)
		return -EINVAL;
	if (!grow(nat))
		return -ENOSPC;
	nat->cfg.ports = ZT_SIM_PORTS_PRESERVE;  /* the port asked for, if free */
	port = pick_port(nat, prng, inside->port);
	nat->cfg.ports = ports;
	if (port < 0)
		return -ENOSPC;
	m = &nat->maps[nat->n++];
	*m = (struct zt_sim_nat_map){ .inside = *inside, .port = (uint16_t)port, .fixed = true };
	nat->created++;
	*ret = nat->wan;
	ret->port = m->port;
	return 0;
}

enum zt_sim_nat_verdict zt_sim_nat_out(struct zt_sim_nat *nat, uint64_t now,
				       struct zt_prng *prng, const struct zt_addr *src,
				       const struct zt_addr *dst, struct zt_addr *ret_src)
{
	struct zt_sim_nat_map *m = NULL;
	int port;

	if (nat->cfg.udp_blocked)
		return ZT_SIM_NAT_BLOCKED;
	zt_sim_nat_expire(nat, now);
	for (size_t i = 0; i < nat->n; i++) {
		if (zt_addr_equal(&nat->maps[i].inside, src) &&
		    (nat->maps[i].fixed || key_matches(nat, &nat->maps[i], dst))) {
			m = &nat->maps[i];
			break;
		}
	}
	if (!m) {
		if (!grow(nat))
			return ZT_SIM_NAT_NOPORTS;
		port = pick_port(nat, prng, src->port);
		if (port < 0)
			return ZT_SIM_NAT_NOPORTS;
		m = &nat->maps[nat->n++];
		*m = (struct zt_sim_nat_map){ .inside = *src, .port = (uint16_t)port, .created = now };
		if (nat->cfg.mapping == ZT_SIM_AD) {
			m->key = *dst;
			m->key.port = 0;
		} else if (nat->cfg.mapping == ZT_SIM_APD) {
			m->key = *dst;
		}
		nat->created++;
		if (nat->log)
			nat->log(nat->log_ctx, now, nat, ZT_SIM_NAT_EV_CREATE, m);
	}
	m->last_out = now;
	add_perm(nat, m, now, dst);
	*ret_src = nat->wan;
	ret_src->port = m->port;
	return ZT_SIM_NAT_PASS;
}

/* The live entry letting src in (address- or address-and-port-dependent
 * filtering), or NULL. */
static struct zt_sim_nat_perm *permitted(const struct zt_sim_nat *nat, struct zt_sim_nat_map *m,
					 uint64_t now, const struct zt_addr *src)
{
	for (unsigned i = 0; i < m->nperms; i++) {
		struct zt_sim_nat_perm *p = &m->perms[i];
		if (now - p->last >= nat->cfg.timeout)
			continue;
		if (nat->cfg.filtering == ZT_SIM_AD ? zt_addr_ip_equal(&p->addr, src)
						    : zt_addr_equal(&p->addr, src))
			return p;
	}
	return NULL;
}

enum zt_sim_nat_verdict zt_sim_nat_in(struct zt_sim_nat *nat, uint64_t now,
				      const struct zt_addr *src, const struct zt_addr *dst,
				      struct zt_addr *ret_dst)
{
	struct zt_sim_nat_map *m;

	if (nat->cfg.udp_blocked)
		return ZT_SIM_NAT_BLOCKED;
	zt_sim_nat_expire(nat, now);
	m = (struct zt_sim_nat_map *)zt_sim_nat_lookup_port(nat, dst->port);
	if (!m || !zt_addr_ip_equal(dst, &nat->wan)) {
		nat->nomap++;
		return ZT_SIM_NAT_NOMAP;
	}
	if (nat->cfg.filtering != ZT_SIM_EI && !m->fixed) {
		struct zt_sim_nat_perm *p = permitted(nat, m, now, src);
		if (!p) {
			nat->filtered++;
			return ZT_SIM_NAT_FILTERED;
		}
		if (nat->cfg.refresh_inbound)
			p->last = now; /* conntrack: a reply refreshes its entry */
	}
	m->last_in = now;
	*ret_dst = m->inside;
	return ZT_SIM_NAT_PASS;
}

enum zt_sim_nat_verdict zt_sim_nat_hairpin_in(struct zt_sim_nat *nat, uint64_t now,
					      const struct zt_addr *dst, struct zt_addr *ret_dst)
{
	const struct zt_sim_nat_map *m;

	zt_sim_nat_expire(nat, now);
	m = zt_sim_nat_lookup_port(nat, dst->port);
	if (!m) {
		nat->nomap++;
		return ZT_SIM_NAT_NOMAP;
	}
	*ret_dst = m->inside;
	return ZT_SIM_NAT_PASS;
}
