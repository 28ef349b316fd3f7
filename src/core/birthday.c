#include <errno.h>

#include "core/birthday.h"
#include "core/units.h"

int zt_birthday_init(struct zt_birthday *p, const struct zt_birthday_config *cfg)
{
	struct zt_birthday_config c = *cfg;

	if (!c.role || !c.locals || !c.nlocals || !c.target.family || !c.rate)
		return -EINVAL;
	if (!c.port_lo && !c.port_hi) {
		c.port_lo = ZT_BIRTHDAY_PORT_LO;
		c.port_hi = ZT_BIRTHDAY_PORT_HI;
	}
	if (c.port_lo > c.port_hi || !c.port_lo)
		return -EINVAL;
	if (c.role == ZT_BIRTHDAY_PROBE && !c.rng.fill)
		return -EINVAL;
	if (c.role == ZT_BIRTHDAY_SPRAY && c.count > c.nlocals)
		c.count = (unsigned)c.nlocals;
	*p = (struct zt_birthday){ .cfg = c, .next = c.start };
	return 0;
}

bool zt_birthday_done(const struct zt_birthday *p)
{
	return p->stopped || p->st.sent >= p->cfg.count;
}

int zt_birthday_poll(struct zt_birthday *p, uint64_t now, struct zt_addr *ret_local,
		  struct zt_addr *ret_remote)
{
	size_t i = (size_t)p->st.sent;

	if (zt_birthday_done(p) || now < p->next)
		return 0;
	if (p->cfg.role == ZT_BIRTHDAY_SPRAY) {
		*ret_local = p->cfg.locals[i];
		*ret_remote = p->cfg.target;
	} else {
		uint32_t span = (uint32_t)p->cfg.port_hi - p->cfg.port_lo + 1;
		*ret_local = p->cfg.locals[0];
		*ret_remote = p->cfg.target;
		ret_remote->port = (uint16_t)(p->cfg.port_lo + zt_rng_below(&p->cfg.rng, span));
	}
	if (!p->st.sent)
		p->st.first_at = now;
	p->st.last_at = now;
	p->st.sent++;
	/* the next one an interval after this one: never faster than `rate` */
	p->next = (p->next > now ? p->next : now) + ZT_SEC / p->cfg.rate;
	return 1;
}

uint64_t zt_birthday_next_deadline(const struct zt_birthday *p)
{
	return zt_birthday_done(p) ? ZT_TIME_NEVER : p->next;
}

void zt_birthday_stop(struct zt_birthday *p)
{
	p->stopped = true;
}
