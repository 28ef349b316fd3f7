#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diagram.h"

static void node_line(const struct zt_scn *s, unsigned i, FILE *f)
{
	const struct zt_scn_node *nd = &s->nodes[i];
	static const char *const kinds[] = {
		[ZT_SCN_SERVER] = "server", [ZT_SCN_NAT] = "nat", [ZT_SCN_HOST] = "host",
	};
	char ip[16], ip6[ZT_IP6_STR_MAX], link[160];

	fprintf(f, "%-6s %-*s", kinds[nd->kind], ZT_SCN_NAME_MAX, nd->name);
	if (nd->kind == ZT_SCN_NAT)
		fprintf(f, " wan %s", zt_ip4_str(nd->addr[0], ip));
	else
		for (unsigned j = 0; j < nd->naddr; j++)
			fprintf(f, "%s%s", j ? ", " : " ", zt_ip4_str(nd->addr[j], ip));
	if (nd->has6)
		fprintf(f, ", %s", zt_ip6_str(nd->addr6, ip6));
	if (nd->kind == ZT_SCN_NAT) {
		fprintf(f, "  [%s", zt_nat_type_name(nd->type));
		/* a symmetric NAT's pattern when it is not the default (random) */
		if (nd->type == ZT_NAT_SYMMETRIC && nd->ports != ZT_SCN_PORTS_RANDOM)
			fprintf(f, ", ports %s", zt_scn_ports_name(nd->ports));
		fprintf(f, ", hairpin %s, timeout %us%s%s", nd->hairpin ? "on" : "off", nd->timeout_s,
			nd->block_udp ? ", UDP blocked" : "", nd->drop_icmp ? ", ICMP dropped" : "");
		if (nd->egress_proxy)
			fprintf(f, ", egress only via proxy %s", s->nodes[nd->egress_node].name);
		if (nd->portmap != ZT_SCN_PORTMAP_NONE)
			fprintf(f, ", portmap %s", zt_scn_portmap_name(nd->portmap));
		fputc(']', f);
	}
	if (nd->kind == ZT_SCN_SERVER && nd->proxy != ZT_SCN_PROXY_NONE)
		fprintf(f, "  [HTTP proxy :%u, CONNECT %s]", nd->proxy_port,
			nd->proxy == ZT_SCN_PROXY_ALLOW ? "to any port" : "refused");
	if (zt_scn_link_str(&nd->link, link, sizeof(link)) > 0)
		fprintf(f, "  ~ %s%s", link, zt_scn_link_impaired(&nd->link) ? " (emulated)" : "");
	fputc('\n', f);
}

/* Draws the children of segment `up` (-1: public) below a line prefix. */
static void children(const struct zt_scn *s, int up, const char *prefix, FILE *f)
{
	unsigned last = 0, n = 0;

	for (unsigned i = 0; i < s->nnodes; i++)
		if (s->nodes[i].up == up) {
			last = i;
			n++;
		}
	if (n == 0) {
		fprintf(f, "%s(nothing attached)\n", prefix);
		return;
	}
	for (unsigned i = 0; i < s->nnodes; i++) {
		const struct zt_scn_node *nd = &s->nodes[i];
		char sub[128], ip[16], gw[16], ip6[ZT_IP6_STR_MAX], gw6[ZT_IP6_STR_MAX];

		if (nd->up != up)
			continue;
		fprintf(f, "%s+-- ", prefix);
		node_line(s, i, f);
		if (nd->kind != ZT_SCN_NAT) {
			if (i != last)
				fprintf(f, "%s|\n", prefix);
			continue;
		}
		snprintf(sub, sizeof(sub), "%s%s", prefix, i == last ? "    " : "|   ");
		fprintf(f, "%s|   lan %s/%u, gw %s\n", sub, zt_ip4_str(nd->lan_net, ip),
			nd->lan_prefix, zt_ip4_str(nd->lan_gw, gw));
		if (nd->lan6)
			fprintf(f, "%s|   lan6 %s/%u routed, gw %s  [IPv6 firewall %s]\n", sub,
				zt_ip6_str(nd->lan6_net, ip6), nd->lan6_prefix, zt_ip6_str(nd->lan6_gw, gw6),
				zt_scn_fw6_name(nd->fw6));
		children(s, (int)i, sub, f);
		if (i != last)
			fprintf(f, "%s|\n", prefix);
	}
}

int zt_scn_diagram(const struct zt_scn *s, FILE *f)
{
	char ip[16], ip6[ZT_IP6_STR_MAX];

	fprintf(f, "lab %s (seed %llu)\n\n", s->name, (unsigned long long)s->seed);
	if (s->has6)
		fprintf(f, "[ public segment %s/%u, %s/%u: an isolated bridge ]\n",
			zt_ip4_str(s->pub_net, ip), s->pub_prefix, zt_ip6_str(s->pub6_net, ip6),
			s->pub6_prefix);
	else
		fprintf(f, "[ public segment %s/%u: an isolated bridge ]\n", zt_ip4_str(s->pub_net, ip),
			s->pub_prefix);
	children(s, -1, "  ", f);
	return ferror(f) ? -EIO : 0;
}
