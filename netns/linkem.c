#include "core/units.h"
#include "linkem.h"

void zt_linkem_init(struct zt_linkem_dir *d, const struct zt_scn_link *l)
{
	*d = (struct zt_linkem_dir){ .cfg = *l };
	if (!d->cfg.mtu)
		d->cfg.mtu = 1500;
	if (!d->cfg.queue)
		d->cfg.queue = 1000;
}

enum zt_linkem_verdict zt_linkem_admit(struct zt_linkem_dir *d, const struct zt_rng *rng,
				       uint64_t now, size_t frame_len, bool is_ip,
				       uint64_t *ret_due)
{
	const struct zt_scn_link *c = &d->cfg;
	uint64_t start, done, due, prop;

	if (frame_len > (size_t)c->mtu + ZT_LINKEM_ETH_HLEN) {
		d->too_big++;
		return ZT_LINKEM_DROP_MTU;
	}
	if (is_ip && c->blackhole && frame_len > (size_t)c->blackhole + ZT_LINKEM_ETH_HLEN) {
		d->blackholed++;
		return ZT_LINKEM_DROP_BLACKHOLE;
	}
	if (is_ip && c->loss_ppm && zt_rng_below(rng, 1000000) < c->loss_ppm) {
		d->lost++;
		return ZT_LINKEM_DROP_LOSS;
	}
	if (d->queued >= c->queue) {
		d->overflow++;
		return ZT_LINKEM_DROP_QUEUE;
	}
	start = now > d->busy_until ? now : d->busy_until;
	done = start;
	if (c->rate_bps)
		done += ((uint64_t)frame_len * 8 * ZT_SEC + c->rate_bps - 1) / c->rate_bps;
	d->busy_until = done;
	prop = c->delay_ns;
	if (c->jitter_ns) {
		/* uniform in [delay - jitter, delay + jitter]; jitter <= delay (parser) */
		uint64_t span = 2 * c->jitter_ns + 1;
		uint64_t r = span > UINT32_MAX ? zt_rng_u64(rng) % span : zt_rng_below(rng, (uint32_t)span);

		prop = c->delay_ns - c->jitter_ns + r;
	}
	due = done + prop;
	if (due < d->last_due)
		due = d->last_due;
	d->last_due = due;
	d->queued++;
	d->passed++;
	*ret_due = due;
	return ZT_LINKEM_PASS;
}

void zt_linkem_departed(struct zt_linkem_dir *d)
{
	if (d->queued)
		d->queued--;
}

bool zt_linkem_frame_is_ip(const uint8_t *frame, size_t len)
{
	uint16_t type;

	if (len < ZT_LINKEM_ETH_HLEN)
		return false;
	type = (uint16_t)(frame[12] << 8 | frame[13]);
	return type == 0x0800 || type == 0x86dd;
}
