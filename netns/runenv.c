#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "natrules.h"
#include "runenv.h"

bool zt_run_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n < 1 || n > ZT_RUN_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9')))
			return false;
	return true;
}

int zt_run_ns_name(const char *id, const char *node, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, ZT_RUN_NS_PREFIX "%s-%s", id, node);

	return n < 0 || (size_t)n >= cap ? -ENOBUFS : 0;
}

const char *zt_run_uplink_name(const struct zt_scn_node *n)
{
	return n->kind == ZT_SCN_NAT ? ZT_NAT_IF_WAN : "eth0";
}

int zt_run_port_name(const struct zt_scn_node *n, char *buf, size_t cap)
{
	int k = snprintf(buf, cap, "to-%s", n->name);

	return k < 0 || (size_t)k >= cap ? -ENOBUFS : 0;
}

/* A value safe inside single quotes: the lab only has [a-z0-9_./-] and spaces, but a
 * path could hold anything. */
static void put_quoted(FILE *f, const char *key, const char *v)
{
	fprintf(f, "%s='", key);
	for (; *v; v++)
		if (*v == '\'')
			fputs("'\\''", f);
		else
			fputc(*v, f);
	fputs("'\n", f);
}

static void put_list(FILE *f, const struct zt_scn *s, const char *key, int kind)
{
	bool first = true;

	fprintf(f, "%s='", key);
	for (unsigned i = 0; i < s->nnodes; i++)
		if (kind < 0 || s->nodes[i].kind == (enum zt_scn_kind)kind) {
			fprintf(f, "%s%s", first ? "" : " ", s->nodes[i].name);
			first = false;
		}
	fputs("'\n", f);
}

/* ZTLAB_PROXIES: the servers running a proxy; ZTLAB_PORTMAPS: the NATs mapping ports. */
static void put_daemons(FILE *f, const struct zt_scn *s, bool portmap)
{
	bool first = true;

	fputs(portmap ? "ZTLAB_PORTMAPS='" : "ZTLAB_PROXIES='", f);
	for (unsigned i = 0; i < s->nnodes; i++) {
		const struct zt_scn_node *n = &s->nodes[i];

		if (portmap ? n->portmap == ZT_SCN_PORTMAP_NONE : n->proxy == ZT_SCN_PROXY_NONE)
			continue;
		fprintf(f, "%s%s", first ? "" : " ", n->name);
		first = false;
	}
	fputs("'\n", f);
}

int zt_run_env_write(const struct zt_scn *s, const char *id, const char *path,
		     const char *capture_dir, FILE *f)
{
	char ns[ZT_RUN_NS_MAX], ip[16], ip2[16], ip6[ZT_IP6_STR_MAX];
	static const char *const kinds[] = {
		[ZT_SCN_SERVER] = "server", [ZT_SCN_NAT] = "nat", [ZT_SCN_HOST] = "host",
	};

	fprintf(f, "# ztna-lab run %s of %s; source this file: . FILE\n", id, path);
	fprintf(f, "ZTLAB_ID=%s\n", id);
	put_quoted(f, "ZTLAB_NAME", s->name);
	put_quoted(f, "ZTLAB_SCENARIO", path);
	fprintf(f, "ZTLAB_RUNDIR=%s/%s\n", ZT_RUN_ROOT, id);
	fprintf(f, "ZTLAB_PREFIX=" ZT_RUN_NS_PREFIX "%s-\n", id);
	if (capture_dir)
		put_quoted(f, "ZTLAB_CAPTURE", capture_dir);
	zt_run_ns_name(id, ZT_RUN_PUBLIC, ns, sizeof(ns));
	fprintf(f, "ZTLAB_PUBLIC_NS=%s\n", ns);
	fprintf(f, "ZTLAB_PUBLIC_NET=%s/%u\n", zt_ip4_str(s->pub_net, ip), s->pub_prefix);
	if (s->has6)
		fprintf(f, "ZTLAB_PUBLIC_NET6=%s/%u\n", zt_ip6_str(s->pub6_net, ip6), s->pub6_prefix);
	put_list(f, s, "ZTLAB_NODES", -1);
	put_list(f, s, "ZTLAB_SERVERS", ZT_SCN_SERVER);
	put_list(f, s, "ZTLAB_NATS", ZT_SCN_NAT);
	put_list(f, s, "ZTLAB_HOSTS", ZT_SCN_HOST);
	put_daemons(f, s, false);
	put_daemons(f, s, true);
	for (unsigned i = 0; i < s->nnodes; i++) {
		const struct zt_scn_node *n = &s->nodes[i];
		const char *nm = n->name;

		fprintf(f, "\n# %s %s\n", kinds[n->kind], nm);
		zt_run_ns_name(id, nm, ns, sizeof(ns));
		fprintf(f, "ZTLAB_NS_%s=%s\n", nm, ns);
		fprintf(f, "ZTLAB_KIND_%s=%s\n", nm, kinds[n->kind]);
		fprintf(f, "ZTLAB_IF_%s=%s\n", nm, zt_run_uplink_name(n));
		fprintf(f, "ZTLAB_IP_%s=%s\n", nm, zt_ip4_str(n->addr[0], ip));
		if (n->naddr > 1)
			fprintf(f, "ZTLAB_IP2_%s=%s\n", nm, zt_ip4_str(n->addr[1], ip2));
		fprintf(f, "ZTLAB_IPS_%s='", nm);
		for (unsigned j = 0; j < n->naddr; j++)
			fprintf(f, "%s%s", j ? " " : "", zt_ip4_str(n->addr[j], ip));
		fputs("'\n", f);
		fprintf(f, "ZTLAB_PREFIXLEN_%s=%u\n", nm, zt_scn_up_prefix(s, i));
		fprintf(f, "ZTLAB_BEHIND_%s=%s\n", nm, n->up < 0 ? ZT_RUN_PUBLIC : s->nodes[n->up].name);
		if (n->up >= 0)
			fprintf(f, "ZTLAB_GW_%s=%s\n", nm, zt_ip4_str(s->nodes[n->up].lan_gw, ip));
		if (n->up2 >= 0) { /* a timed 'move': its second uplink */
			fprintf(f, "ZTLAB_MOVE_BEHIND_%s=%s\n", nm, s->nodes[n->up2].name);
			fprintf(f, "ZTLAB_MOVE_IP_%s=%s\n", nm, zt_ip4_str(n->addr2, ip));
			fprintf(f, "ZTLAB_MOVE_GW_%s=%s\n", nm, zt_ip4_str(s->nodes[n->up2].lan_gw, ip));
		}
		fprintf(f, "ZTLAB_PUBLIC_IP_%s=%s\n", nm, zt_ip4_str(zt_scn_public_addr(s, i), ip));
		if (n->has6) /* no NAT66: the address is seen as it is */
			fprintf(f, "ZTLAB_IP6_%s=%s\n", nm, zt_ip6_str(n->addr6, ip6));
		if (n->has6 && n->up >= 0)
			fprintf(f, "ZTLAB_GW6_%s=%s\n", nm, zt_ip6_str(s->nodes[n->up].lan6_gw, ip6));
		if (n->kind == ZT_SCN_SERVER && n->proxy != ZT_SCN_PROXY_NONE) {
			fprintf(f, "ZTLAB_PROXY_%s=%s\n", nm, zt_scn_proxy_name(n->proxy));
			fprintf(f, "ZTLAB_PROXY_PORT_%s=%u\n", nm, n->proxy_port);
		}
		if (n->kind != ZT_SCN_NAT)
			continue;
		fprintf(f, "ZTLAB_TYPE_%s=%s\n", nm, zt_nat_type_name(n->type));
		fprintf(f, "ZTLAB_WAN_%s=%s\n", nm, zt_ip4_str(n->addr[0], ip));
		fprintf(f, "ZTLAB_LAN_%s=%s/%u\n", nm, zt_ip4_str(n->lan_net, ip), n->lan_prefix);
		fprintf(f, "ZTLAB_LAN_IP_%s=%s\n", nm, zt_ip4_str(n->lan_gw, ip));
		fprintf(f, "ZTLAB_HAIRPIN_%s=%s\n", nm, n->hairpin ? "on" : "off");
		fprintf(f, "ZTLAB_TIMEOUT_%s=%u\n", nm, n->timeout_s);
		fprintf(f, "ZTLAB_PORTS_%s=%s\n", nm, zt_scn_ports_name(n->ports));
		fprintf(f, "ZTLAB_PORTMAP_%s=%s\n", nm, zt_scn_portmap_name(n->portmap));
		fprintf(f, "ZTLAB_UDP_%s=%s\n", nm, n->block_udp ? "block" : "allow");
		fprintf(f, "ZTLAB_EGRESS_%s=%s\n", nm, n->egress_proxy ? "proxy" : "all");
		if (n->egress_proxy)
			fprintf(f, "ZTLAB_EGRESS_PROXY_%s=%s\n", nm, s->nodes[n->egress_node].name);
		if (!n->lan6)
			continue;
		fprintf(f, "ZTLAB_LAN6_%s=%s/%u\n", nm, zt_ip6_str(n->lan6_net, ip6), n->lan6_prefix);
		fprintf(f, "ZTLAB_LAN6_IP_%s=%s\n", nm, zt_ip6_str(n->lan6_gw, ip6));
		fprintf(f, "ZTLAB_FW6_%s=%s\n", nm, zt_scn_fw6_name(n->fw6));
	}
	return ferror(f) ? -EIO : 0;
}
