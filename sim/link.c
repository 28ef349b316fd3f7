#include "core/units.h"
#include "draw.h"
#include "link.h"

const char *zt_sim_link_verdict_name(enum zt_sim_link_verdict v)
{
	switch (v) {
	case ZT_SIM_LINK_OK: return "ok";
	case ZT_SIM_LINK_LOSS: return "loss";
	case ZT_SIM_LINK_MTU: return "mtu";
	case ZT_SIM_LINK_QUEUE: return "queue";
	case ZT_SIM_LINK_DOWN: return "down";
	}
	return "?";
}

enum zt_sim_link_verdict zt_sim_link_send(struct zt_sim_link_dir *d,
					  const struct zt_sim_link_cfg *cfg, uint64_t now,
					  size_t len, struct zt_prng *prng, uint64_t *ret_arrival)
{
	uint32_t mtu = cfg->mtu ? cfg->mtu : 1500;
	uint32_t queue = cfg->queue ? cfg->queue : 1000;
	uint64_t depart = now, arrival;

	if (d->down)
		return ZT_SIM_LINK_DOWN;
	if (len > mtu)
		return ZT_SIM_LINK_MTU;
	if (cfg->rate_bps) {
		uint64_t start = d->busy_until > now ? d->busy_until : now;
		uint64_t backlog = (start - now) * cfg->rate_bps / 8 / ZT_SEC; /* bytes */
		if (backlog + len > (uint64_t)queue * mtu)
			return ZT_SIM_LINK_QUEUE;
		depart = start + (uint64_t)len * 8 * ZT_SEC / cfg->rate_bps;
		d->busy_until = depart;
	}
	d->sent++;
	if (zt_sim_chance(prng, cfg->loss_ppm)) {
		d->lost++;
		return ZT_SIM_LINK_LOSS;
	}
	arrival = depart + cfg->delay;
	if (cfg->jitter) {
		uint64_t j = zt_sim_range(prng, 0, 2 * cfg->jitter);
		arrival = arrival + j >= cfg->jitter ? arrival + j - cfg->jitter : 0;
	}
	if (zt_sim_chance(prng, cfg->reorder_ppm)) {
		d->reordered++;
		arrival += cfg->reorder_extra ? cfg->reorder_extra
					      : cfg->delay + cfg->jitter + ZT_MS;
	} else {
		if (arrival < d->last_arrival)
			arrival = d->last_arrival;
		d->last_arrival = arrival;
	}
	*ret_arrival = arrival;
	return ZT_SIM_LINK_OK;
}
