/* The packet tunnel's per-packet check (tunfilter.h). */
#include <sys/socket.h>

#include "core/tunfilter.h"

static enum zt_tun_drop judge(struct zt_tunfilter *f, const uint8_t *pkt, size_t len,
			      struct zt_ippkt *p)
{
	const struct zt_addr *self;
	bool in_route = false;

	if (zt_ippkt_parse(p, pkt, len) < 0)
		return ZT_TUN_DROP_MALFORMED;
	if (p->len > f->mtu)
		return ZT_TUN_DROP_TOO_BIG;
	self = p->family == AF_INET ? &f->self4 : &f->self6;
	if (!self->family || !zt_addr_ip_equal(&p->src, self))
		return ZT_TUN_DROP_SPOOFED;
	for (size_t i = 0; i < f->nroutes; i++) {
		if (!zt_route_contains(&f->routes[i], &p->dst))
			continue;
		in_route = true;
		if (zt_route_allows(&f->routes[i], p)) {
			f->matched = &f->routes[i];
			return ZT_TUN_PASS;
		}
	}
	return in_route ? ZT_TUN_DROP_RULE : ZT_TUN_DROP_NO_ROUTE;
}

enum zt_tun_drop zt_tunfilter_check(struct zt_tunfilter *f, const uint8_t *pkt, size_t len,
				    struct zt_ippkt *ret)
{
	enum zt_tun_drop r = judge(f, pkt, len, ret);

	if (r == ZT_TUN_PASS)
		f->passed++;
	else
		f->dropped[r]++;
	return r;
}

const char *zt_tun_drop_name(enum zt_tun_drop r)
{
	switch (r) {
	case ZT_TUN_PASS: return "pass";
	case ZT_TUN_DROP_MALFORMED: return "malformed";
	case ZT_TUN_DROP_TOO_BIG: return "too-big";
	case ZT_TUN_DROP_SPOOFED: return "spoofed";
	case ZT_TUN_DROP_NO_ROUTE: return "no-route";
	case ZT_TUN_DROP_RULE: return "rule";
	case ZT_TUN_DROP_REASONS: break;
	}
	return "?";
}
