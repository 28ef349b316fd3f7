/* The node's port-mapping client (peer.h zt_peer_portmap_route, node/portmap.h,
 * docs/portmap.md): made for the gateway the shell names, fed the datagrams from the
 * gateway's port 5351, its mapped address handed to the direct path's gathering. */
#include <errno.h>
#include <string.h>

#include "node/peer.h"
#include "node/peer_int.h"

static enum zt_portmap_mode mode_of(enum zt_peer_portmap m)
{
	return m == ZT_PEER_PORTMAP_PCP ? ZT_PORTMAP_PCP
	     : m == ZT_PEER_PORTMAP_NATPMP ? ZT_PORTMAP_NATPMP : ZT_PORTMAP_AUTO;
}

/* The mapped address changed: the next ICE generations offer it, and sessions
 * re-gather after the path manager's debounce, as on an address change. */
static void take_change(struct zt_peer *p, uint64_t now)
{
	struct zt_addr ext;
	char a[ZT_ADDR_STRLEN];

	if (!p->pm || !zt_portmap_poll_change(p->pm, &ext))
		return;
	p->addrs.mapped = ext;
	PLOG(p, ZT_NODE_INFO, "portmap_candidate", "external=%s type=srflx",
	     ext.family ? zt_addr_str(&ext, a) : "none");
	zt_psession_netchange(p, now);
}

/* Stops the client; its delete waits in pm_bye for poll_send. */
void zt_ppm_stop(struct zt_peer *p, uint64_t now)
{
	struct zt_addr to;
	int n;

	if (!p->pm) {
		p->addrs.mapped = (struct zt_addr){ 0 };
		p->pm_ext_proto = NULL;
		return;
	}
	zt_portmap_stop(p->pm, now);
	n = zt_portmap_poll_send(p->pm, now, p->pm_bye, sizeof(p->pm_bye), &to);
	p->pm_bye_len = n > 0 ? (size_t)n : 0;
	p->pm_bye_to = to;
	zt_portmap_free(p->pm);
	p->pm = NULL;
	p->addrs.mapped = (struct zt_addr){ 0 };
	p->pm_ext_proto = NULL;
}

void zt_ppm_fini(struct zt_peer *p)
{
	zt_portmap_free(p->pm);
	p->pm = NULL;
}

int zt_peer_portmap_route(struct zt_peer *p, uint64_t now, const struct zt_addr *gateway,
			  const struct zt_addr *local)
{
	struct zt_portmap_config c = { .mode = mode_of(p->cfg.portmap), .gateway = *gateway,
				       .local = *local, .rng = p->cfg.rng, .log = &p->cfg.log };
	bool had = p->addrs.mapped.family != 0;
	int rc = 0;

	if (!p->cfg.portmap)
		return 0;
	if (p->pm && zt_addr_ip_equal(gateway, &p->pm_gw) && zt_addr_equal(local, &p->pm_local))
		return 0;
	p->now = now;
	zt_ppm_stop(p, now);
	p->pm_gw = *gateway;
	p->pm_local = *local;
	if (gateway->family) {
		if (p->cfg.portmap != ZT_PEER_PORTMAP_UPNP) /* UPnP: the shell's client only */
			rc = zt_portmap_new(&p->pm, &c, now);
		p->addrs.gateway = *gateway;
		p->addrs.mapped_base = *local;
		if (p->cfg.portmap == ZT_PEER_PORTMAP_UPNP) /* probing until the shell says */
			p->pm_ext_proto = "upnp";
	}
	if (had)
		zt_psession_netchange(p, now);
	return rc;
}

int zt_peer_portmap_external(struct zt_peer *p, uint64_t now, const char *proto,
			     const struct zt_addr *ext, uint32_t lifetime)
{
	bool changed;
	char a[ZT_ADDR_STRLEN];

	if (!p->cfg.portmap || !p->pm_gw.family)
		return -ENOENT;
	if (ext->family && (ext->family != p->pm_local.family || !ext->port))
		return -EINVAL;
	p->now = now;
	if (ext->family && p->pm)
		zt_ppm_stop(p, now); /* its delete, if one is due, leaves with the next flush */
	changed = !zt_addr_equal(ext, &p->addrs.mapped);
	p->addrs.mapped = *ext;
	p->addrs.gateway = p->pm_gw;
	p->addrs.mapped_base = p->pm_local;
	p->pm_ext_proto = proto;
	p->pm_ext_lifetime = ext->family ? lifetime : 0;
	p->pm_ext_at = now;
	if (!changed)
		return 0;
	PLOG(p, ZT_NODE_INFO, "portmap_candidate", "external=%s type=srflx protocol=%s",
	     ext->family ? zt_addr_str(ext, a) : "none", proto);
	zt_psession_netchange(p, now);
	return 0;
}

/* The shell's mapping as the client's info. */
static void external_info(const struct zt_peer *p, struct zt_portmap_info *ret)
{
	bool mapped = p->addrs.mapped.family != 0;

	*ret = (struct zt_portmap_info){
		.state = mapped ? ZT_PORTMAP_MAPPED : ZT_PORTMAP_PROBING,
		.protocol = p->pm_ext_proto, .gateway = p->pm_gw, .external = p->addrs.mapped,
		.lifetime = p->pm_ext_lifetime,
		.expires_at = mapped ? p->pm_ext_at + (uint64_t)p->pm_ext_lifetime * ZT_SEC : 0,
	};
	ret->gateway.port = 0;
}

int zt_peer_portmap_info(const struct zt_peer *p, struct zt_portmap_info *ret)
{
	if (!p->pm && p->pm_ext_proto) {
		external_info(p, ret);
		return 0;
	}
	if (!p->pm)
		return -ENOENT;
	zt_portmap_info(p->pm, ret);
	return 0;
}

bool zt_ppm_recv(struct zt_peer *p, uint64_t now, const struct zt_addr *from,
		 const uint8_t *pkt, size_t len)
{
	struct zt_addr gw = p->pm_gw;

	gw.port = ZT_PCP_PORT;
	if (!p->pm || !zt_addr_equal(from, &gw))
		return false;
	zt_portmap_recv(p->pm, now, from, pkt, len);
	take_change(p, now);
	return true;
}

int zt_ppm_poll_send(struct zt_peer *p, uint64_t now, uint8_t *buf, size_t cap,
		     struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	int n;

	if (p->pm_bye_len && cap >= p->pm_bye_len) {
		memcpy(buf, p->pm_bye, p->pm_bye_len);
		n = (int)p->pm_bye_len;
		p->pm_bye_len = 0;
		*ret_remote = p->pm_bye_to;
	} else if (!p->pm || (n = zt_portmap_poll_send(p->pm, now, buf, cap, ret_remote)) <= 0) {
		return 0;
	}
	*ret_local = p->cfg.local;
	return n;
}

void zt_ppm_refresh(struct zt_peer *p, uint64_t now)
{
	if (p->pm)
		zt_portmap_refresh(p->pm, now);
	if (p->cfg.portmap != ZT_PEER_PORTMAP_OFF && p->cb.portmap_refresh)
		p->cb.portmap_refresh(p, p->cfg.arg, now);
}

uint64_t zt_ppm_deadline(const struct zt_peer *p)
{
	return p->pm ? zt_portmap_next_deadline(p->pm) : ZT_TIME_NEVER;
}

void zt_ppm_timers(struct zt_peer *p, uint64_t now)
{
	if (p->pm && zt_portmap_next_deadline(p->pm) <= now)
		zt_portmap_on_timeout(p->pm, now);
	take_change(p, now);
}
