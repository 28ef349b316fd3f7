#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "natrules.h"
#include "portmap.h"

static bool has_upnp(enum zt_scn_portmap p)
{
	return p == ZT_SCN_PORTMAP_UPNP || p == ZT_SCN_PORTMAP_ALL;
}

static bool has_5351(enum zt_scn_portmap p)
{
	return p == ZT_SCN_PORTMAP_NATPMP || p == ZT_SCN_PORTMAP_PCP || p == ZT_SCN_PORTMAP_ALL;
}

int zt_portmap_conf_render(const struct zt_scn_node *n, char *buf, size_t cap)
{
	char wan[16], lan[16];
	int len;

	if (n->kind != ZT_SCN_NAT || n->portmap == ZT_SCN_PORTMAP_NONE)
		return -EINVAL;
	len = snprintf(buf, cap,
		       "# miniupnpd of lab NAT '%s' (portmap %s), written by ztna-lab\n"
		       "ext_ifname=" ZT_NAT_IF_WAN "\n"
		       "ext_ip=%s\n"
		       "listening_ip=" ZT_NAT_IF_LAN "\n"
		       "http_port=%u\n"
		       "enable_upnp=%s\n"
		       "# NAT-PMP and PCP together (one port); the NAT's rules drop the other\n"
		       "enable_natpmp=%s\n"
		       "# map only to the address that asks\n"
		       "secure_mode=yes\n"
		       "# the epoch of PCP and NAT-PMP answers is the daemon's uptime: a restart\n"
		       "# (ztna-lab portmap-restart) shows as the epoch going back, as a reboot does\n"
		       "system_uptime=no\n"
		       "# the chains the NAT's ruleset made for it\n"
		       "upnp_table_name=" ZT_PORTMAP_TABLE "\n"
		       "upnp_nat_table_name=" ZT_PORTMAP_TABLE "\n"
		       "upnp_forward_chain=" ZT_PORTMAP_CHAIN_FWD "\n"
		       "upnp_nat_chain=" ZT_PORTMAP_CHAIN_PRE "\n"
		       "upnp_nat_postrouting_chain=" ZT_PORTMAP_CHAIN_POST "\n"
		       "allow 1024-65535 %s/%u 1024-65535\n"
		       "deny 0-65535 0.0.0.0/0 0-65535\n",
		       n->name, zt_scn_portmap_name(n->portmap), zt_ip4_str(n->addr[0], wan),
		       ZT_PORTMAP_HTTP_PORT, has_upnp(n->portmap) ? "yes" : "no",
		       has_5351(n->portmap) ? "yes" : "no", zt_ip4_str(n->lan_net, lan),
		       n->lan_prefix);
	if (len < 0 || (size_t)len >= cap) {
		if (cap)
			buf[0] = 0;
		return -ENOBUFS;
	}
	return len;
}

unsigned zt_portmap_ready_socks(const struct zt_scn_node *n, struct zt_child_sock out[2])
{
	unsigned k = 0;

	if (has_5351(n->portmap))
		out[k++] = (struct zt_child_sock){ .udp = true, .addr = n->lan_gw,
						   .port = ZT_PORTMAP_PORT };
	if (has_upnp(n->portmap))
		out[k++] = (struct zt_child_sock){ .addr = n->lan_gw, .port = ZT_PORTMAP_HTTP_PORT };
	return k;
}

int zt_portmap_flush_render(char *buf, size_t cap)
{
	int len = snprintf(buf, cap,
			   "flush chain inet " ZT_PORTMAP_TABLE " " ZT_PORTMAP_CHAIN_PRE "\n"
			   "flush chain inet " ZT_PORTMAP_TABLE " " ZT_PORTMAP_CHAIN_POST "\n"
			   "flush chain inet " ZT_PORTMAP_TABLE " " ZT_PORTMAP_CHAIN_FWD "\n");

	if (len < 0 || (size_t)len >= cap) {
		if (cap)
			buf[0] = 0;
		return -ENOBUFS;
	}
	return len;
}
