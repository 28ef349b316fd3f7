#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "natrules.h"
#include "portmap.h"

struct out {
	char *buf;
	size_t cap, len;
	bool overflow;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	o->len += (size_t)n;
}

static int finish(struct out *o)
{
	if (o->overflow) {
		if (o->cap)
			o->buf[0] = 0;
		return -ENOBUFS;
	}
	return (int)o->len;
}

/* Which pieces a NAT needs. */
struct shape {
	bool map;       /* public port -> inside endpoint, learned after SNAT */
	bool filter_set; /* (remote address, public port) pairs: address-dependent filtering */
	bool eif;       /* DNAT through the map from wan */
	bool reverse;   /* inside endpoint -> public endpoint, for hairpin SNAT */
	bool inuse;     /* public UDP ports of live mappings ('ports preserve') */
	bool alive;     /* public UDP ports sent from lately ('refresh outbound') */
};

static struct shape shape_of(const struct zt_scn_node *n)
{
	struct shape s = { 0 };

	s.eif = n->type == ZT_NAT_FULL_CONE || n->type == ZT_NAT_ADDR_RESTRICTED;
	s.filter_set = n->type == ZT_NAT_ADDR_RESTRICTED;
	s.reverse = n->hairpin;
	s.map = s.eif || n->hairpin;
	s.inuse = n->type == ZT_NAT_SYMMETRIC && n->ports == ZT_SCN_PORTS_PRESERVE;
	s.alive = n->refresh_outbound;
	return s;
}

/*
 * The SNAT rules of the wan side. The cone types: masquerade, which keeps the inside
 * port when free and reuses one mapping per inside endpoint (EIM). Symmetric, by
 * 'ports' (UDP; TCP and the rest always get masquerade random):
 *   random      masquerade random: a random free port per new conntrack entry (EDM).
 *   sequential  snat to the port an incrementing counter picks: numgen counts new
 *               UDP conntrack entries (the nat chain sees only their first packet), and
 *               a map turns 0..ZT_SCN_SEQ_PORTS-1 into ZT_SCN_SEQ_BASE + n (nft 1.0.6
 *               puts a bare numgen value into the port in host byte order: +256 per
 *               step on x86). After ZT_SCN_SEQ_PORTS mappings it wraps; a new mapping
 *               whose port is still taken towards the same destination is dropped
 *               (the counter moves on, so the sender's next packet gets the next port).
 *   preserve    masquerade (the inside port) unless that port is the public port of a
 *               live mapping (set @inuse, filled after SNAT by chain learn), then
 *               masquerade random: an inside endpoint's first mapping keeps its port,
 *               its mappings to further destinations get random ones (still EDM).
 */
static void put_masquerade(struct out *o, const struct zt_scn_node *n, const char *wan)
{
	const char *out = "\t\toifname \"" ZT_NAT_IF_WAN "\"";
	char a[16];

	/* 'block N': each subscriber's mappings in its own ports (no flags: the cone
	 * types stay endpoint-independent; random for a symmetric NAT's new port per
	 * destination) */
	for (unsigned i = 0; i < n->nblocks; i++) {
		unsigned lo = ZT_SCN_BLOCK_BASE + i * n->port_block;

		put(o, "%s ip saddr %s meta l4proto { tcp, udp } snat ip to %s:%u-%u%s\n", out,
		    zt_ip4_str(n->block_addr[i], a),
		    wan, lo, lo + n->port_block - 1, n->type == ZT_NAT_SYMMETRIC ? " random" : "");
	}
	if (n->type != ZT_NAT_SYMMETRIC) {
		put(o, "%s masquerade\n", out);
		return;
	}
	if (n->ports == ZT_SCN_PORTS_SEQUENTIAL) {
		put(o, "%s meta l4proto udp snat ip to %s : numgen inc mod %u map {", out, wan,
		    ZT_SCN_SEQ_PORTS);
		for (unsigned i = 0; i < ZT_SCN_SEQ_PORTS; i++)
			put(o, "%s%u : %u", i % 10 ? ", " : i ? ",\n\t\t\t" : "\n\t\t\t", i,
			    ZT_SCN_SEQ_BASE + i);
		put(o, " }\n");
	} else if (n->ports == ZT_SCN_PORTS_PRESERVE) {
		put(o, "%s meta l4proto udp udp sport @inuse masquerade random\n", out);
		put(o, "%s meta l4proto udp masquerade\n", out);
	}
	put(o, "%s masquerade random\n", out);
}

static void put_sets(struct out *o, const struct zt_scn_node *n, const struct shape *s)
{
	if (s->map)
		put(o, "\tmap mapping {\n"
			"\t\ttype inet_service : ipv4_addr . inet_service\n"
			"\t\tflags dynamic,timeout\n\t\ttimeout %us\n\t\tsize 65535\n\t}\n",
		    n->timeout_s);
	if (s->filter_set)
		put(o, "\tset allowed {\n"
			"\t\ttype ipv4_addr . inet_service\n"
			"\t\tflags dynamic,timeout\n\t\ttimeout %us\n\t\tsize 65535\n\t}\n",
		    n->timeout_s);
	if (s->inuse)
		put(o, "\tset inuse {\n"
			"\t\ttype inet_service\n"
			"\t\tflags dynamic,timeout\n\t\ttimeout %us\n\t\tsize 65535\n\t}\n",
		    n->timeout_s);
	if (s->alive)
		put(o, "\tset alive {\n"
			"\t\ttype inet_service\n"
			"\t\tflags dynamic,timeout\n\t\ttimeout %us\n\t\tsize 65535\n\t}\n",
		    n->timeout_s);
	if (s->reverse)
		put(o, "\tmap reverse {\n"
			"\t\ttype ipv4_addr . inet_service : ipv4_addr . inet_service\n"
			"\t\tflags dynamic,timeout\n\t\ttimeout %us\n\t\tsize 65535\n\t}\n",
		    n->timeout_s);
}

/* The filter chain after SNAT (priority srcnat + 10), so udp sport is the public port. */
static void put_learn(struct out *o, const struct shape *s)
{
	const char *udp = "meta l4proto udp";
	const char *fresh = "oifname \"" ZT_NAT_IF_WAN "\" ct direction original ct status snat";
	const char *answer = "oifname \"" ZT_NAT_IF_WAN "\" ct direction reply ct status dnat";

	if (!s->map && !s->inuse && !s->alive)
		return;
	put(o, "\tchain learn {\n\t\ttype filter hook postrouting priority srcnat + 10; policy accept;\n");
	if (s->map) {
		put(o, "\t\t%s %s update @mapping { udp sport : ct original ip saddr . "
			"ct original proto-src }\n", fresh, udp);
		/* replies on a flow a remote opened keep the entry alive too */
		put(o, "\t\t%s %s update @mapping { udp sport : ct reply ip saddr . "
			"ct reply proto-src }\n", answer, udp);
	}
	if (s->filter_set) {
		put(o, "\t\t%s %s update @allowed { ip daddr . udp sport }\n", fresh, udp);
		put(o, "\t\t%s %s update @allowed { ip daddr . udp sport }\n", answer, udp);
	}
	if (s->reverse)
		put(o, "\t\t%s %s update @reverse { ct original ip saddr . ct original proto-src : "
			"ip saddr . udp sport }\n", fresh, udp);
	/* the public port of every packet of a mapping, both ways (conntrack keeps
	 * the mapping alive both ways too): the reply tuple's destination */
	if (s->inuse)
		put(o, "\t\t%s ct status snat update @inuse { ct reply proto-dst }\n", udp);
	/* 'refresh outbound': every packet out of the wan refreshes its public port */
	if (s->alive)
		put(o, "\t\toifname \"" ZT_NAT_IF_WAN "\" %s update @alive { udp sport }\n", udp);
	put(o, "\t}\n");
}

static void put_forward(struct out *o, const struct zt_scn_node *n, const struct shape *s)
{
	const char *udp = "meta l4proto udp";
	char px[16];

	put(o, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n");
	/* before 'related': ICMP errors about our own flows are dropped too */
	if (n->drop_icmp)
		put(o, "\t\tmeta l4proto icmp counter drop\n");
	if (n->block_udp)
		put(o, "\t\t%s drop\n", udp);
	put(o, "\t\tct state established,related accept\n");
	if (n->egress_proxy) {
		put(o, "\t\tiifname \"" ZT_NAT_IF_LAN "\" oifname \"" ZT_NAT_IF_WAN "\" ip daddr %s "
			"tcp dport %u accept\n", zt_ip4_str(n->egress_addr, px), n->egress_port);
		/* a rule of its own (not the policy) so the drops are counted */
		put(o, "\t\tiifname \"" ZT_NAT_IF_LAN "\" oifname \"" ZT_NAT_IF_WAN "\" counter drop\n");
	} else {
		put(o, "\t\tiifname \"" ZT_NAT_IF_LAN "\" oifname \"" ZT_NAT_IF_WAN "\" accept\n");
	}
	/* what the map (EIF) or miniupnpd's port mappings DNAT to the lan */
	if (s->eif || n->portmap != ZT_SCN_PORTMAP_NONE)
		put(o, "\t\tiifname \"" ZT_NAT_IF_WAN "\" oifname \"" ZT_NAT_IF_LAN "\" ct status dnat accept\n");
	if (n->hairpin)
		put(o, "\t\tiifname \"" ZT_NAT_IF_LAN "\" oifname \"" ZT_NAT_IF_LAN "\" ct status dnat accept\n");
	put(o, "\t}\n");
}

/*
 * For 'portmap': miniupnpd's own table, its rules in regular chains that base chains
 * jump to. Its DNAT goes first (dstnat - 1): an explicit port mapping wins over the
 * lab's EIF map.
 */
static void put_portmap(struct out *o, const struct zt_scn_node *n)
{
	if (n->portmap == ZT_SCN_PORTMAP_NONE)
		return;
	put(o, "# miniupnpd's (portmap %s): it fills the chains " ZT_PORTMAP_CHAIN_PRE ", "
	    ZT_PORTMAP_CHAIN_POST " and " ZT_PORTMAP_CHAIN_FWD "\n", zt_scn_portmap_name(n->portmap));
	put(o, "table inet " ZT_PORTMAP_TABLE " {\n");
	put(o, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat - 1; policy accept;\n"
	    "\t\tjump " ZT_PORTMAP_CHAIN_PRE "\n\t}\n");
	put(o, "\tchain " ZT_PORTMAP_CHAIN_PRE " {\n\t}\n");
	put(o, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat - 1; policy accept;\n"
	    "\t\tjump " ZT_PORTMAP_CHAIN_POST "\n\t}\n");
	put(o, "\tchain " ZT_PORTMAP_CHAIN_POST " {\n\t}\n");
	put(o, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
	    "\t\tjump " ZT_PORTMAP_CHAIN_FWD "\n\t}\n");
	put(o, "\tchain " ZT_PORTMAP_CHAIN_FWD " {\n\t}\n");
	put(o, "}\n");
}

/*
 * 'lan6': the IPv6 firewall of a RFC 6092 home router, no NAT66. Outbound passes when
 * its source is in the lan6 prefix (RFC 6092, BCP 38: no spoofed sources out).
 * Inbound, by 'fw6':
 *   address-and-port (default: the strictest, a plain conntrack firewall; RFC 6092
 *     REC-17 recommends endpoint-independent for unmanaged gateways): only conntrack's established and related packets: replies to a flow an
 *     inside address:port opened to that outside address:port, and ICMPv6 errors
 *     about such flows (Packet Too Big, so PMTU discovery works: RFC 4890 s4.3.1).
 *   endpoint-independent: also any UDP to an inside address:port that has sent UDP out
 *     within the mapping timeout (set eif6, learned from outbound packets).
 *   open: everything.
 * The rest coming in is dropped by a counter rule (nft list chain ip6 ztlab6 forward).
 * Neighbour discovery is link-local and never forwarded: input and output pass it.
 */
static void put_v6(struct out *o, const struct zt_scn_node *n)
{
	char net[ZT_IP6_STR_MAX];
	const char *out = "iifname \"" ZT_NAT_IF_LAN "\" oifname \"" ZT_NAT_IF_WAN "\"";
	const char *in = "iifname \"" ZT_NAT_IF_WAN "\" oifname \"" ZT_NAT_IF_LAN "\"";

	if (!n->lan6)
		return;
	zt_ip6_str(n->lan6_net, net);
	put(o, "# IPv6: lan6 %s/%u routed (no NAT66), inbound filter %s\n", net, n->lan6_prefix,
	    zt_scn_fw6_name(n->fw6));
	put(o, "table ip6 " ZT_NAT_TABLE6 " {\n");
	if (n->fw6 == ZT_SCN_FW6_ENDPOINT)
		put(o, "\tset eif6 {\n\t\ttype ipv6_addr . inet_service\n"
			"\t\tflags dynamic,timeout\n\t\ttimeout %us\n\t\tsize 65535\n\t}\n",
		    n->timeout_s);
	put(o, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n");
	if (n->drop_icmp)
		put(o, "\t\tmeta l4proto ipv6-icmp counter drop\n");
	if (n->fw6 == ZT_SCN_FW6_ENDPOINT)
		put(o, "\t\t%s ip6 saddr %s/%u meta l4proto udp update @eif6 { ip6 saddr . udp sport }\n",
		    out, net, n->lan6_prefix);
	put(o, "\t\tct state established,related accept\n");
	put(o, "\t\tct state invalid drop\n");
	put(o, "\t\t%s ip6 saddr %s/%u accept\n", out, net, n->lan6_prefix);
	if (n->fw6 == ZT_SCN_FW6_ENDPOINT)
		put(o, "\t\t%s meta l4proto udp ip6 daddr . udp dport @eif6 accept\n", in);
	else if (n->fw6 == ZT_SCN_FW6_OPEN)
		put(o, "\t\t%s accept\n", in);
	/* a rule of its own (not the policy) so the unsolicited ones are counted */
	put(o, "\t\t%s counter drop\n", in);
	put(o, "\t}\n}\n");
}

int zt_natrules_render(const struct zt_scn_node *n, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };
	struct shape s;
	char wan[16], lan[16], px[16];
	const char *udp = "meta l4proto udp";

	if (n->kind != ZT_SCN_NAT)
		return -EINVAL;
	if (cap == 0)
		return -ENOBUFS;
	s = shape_of(n);
	zt_ip4_str(n->addr[0], wan);
	zt_ip4_str(n->lan_net, lan);

	put(&o, "flush ruleset\n");
	put(&o, "# %s NAT '%s': wan %s, lan %s/%u, ports %s, hairpin %s, mapping timeout %us%s%s",
	    zt_nat_type_name(n->type), n->name, wan, lan, n->lan_prefix,
	    zt_scn_ports_name(n->ports), n->hairpin ? "on" : "off", n->timeout_s,
	    n->block_udp ? ", UDP blocked" : "", n->drop_icmp ? ", ICMP dropped" : "");
	if (n->port_block)
		put(&o, ", port blocks of %u", n->port_block);
	if (n->refresh_outbound)
		put(&o, ", refreshed by outbound packets only");
	if (n->egress_proxy)
		put(&o, ", egress only TCP to the proxy %s:%u", zt_ip4_str(n->egress_addr, px),
		    n->egress_port);
	put(&o, "\n");
	put(&o, "table ip " ZT_NAT_TABLE " {\n");
	put_sets(&o, n, &s);

	/* 'refresh outbound': a UDP packet in for a public port nothing went out of lately
	 * is dropped before conntrack sees it, so inbound packets never keep a mapping */
	if (s.alive)
		put(&o, "\tchain raw {\n\t\ttype filter hook prerouting priority raw; policy accept;\n"
			"\t\tiifname \"" ZT_NAT_IF_WAN "\" %s udp dport != @alive drop\n\t}\n", udp);
	put(&o, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
	if (s.eif && s.filter_set)
		put(&o, "\t\tiifname \"" ZT_NAT_IF_WAN "\" %s ip saddr . udp dport @allowed "
			"dnat ip to udp dport map @mapping\n", udp);
	else if (s.eif)
		put(&o, "\t\tiifname \"" ZT_NAT_IF_WAN "\" %s dnat ip to udp dport map @mapping\n", udp);
	if (n->hairpin)
		put(&o, "\t\tiifname \"" ZT_NAT_IF_LAN "\" ip daddr %s %s "
			"dnat ip to udp dport map @mapping\n", wan, udp);
	put(&o, "\t}\n");

	put(&o, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
	if (n->hairpin) {
		/* the hairpinned packet leaves with its sender's public mapping as source */
		put(&o, "\t\toifname \"" ZT_NAT_IF_LAN "\" ct status dnat ip saddr %s/%u %s "
			"snat ip to ip saddr . udp sport map @reverse\n", lan, n->lan_prefix, udp);
		put(&o, "\t\toifname \"" ZT_NAT_IF_LAN "\" ct status dnat ip saddr %s/%u snat ip to %s\n",
		    lan, n->lan_prefix, wan);
	}
	put_masquerade(&o, n, wan);
	put(&o, "\t}\n");

	put_learn(&o, &s);
	put_forward(&o, n, &s);

	/* docs/lab.md pitfall 1: an unsolicited packet must not create a conntrack entry */
	put(&o, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
	put(&o, "\t\tiifname \"" ZT_NAT_IF_WAN "\" ct state new drop\n");
	put(&o, "\t\tiifname \"" ZT_NAT_IF_LAN "\" ip daddr %s %s drop\n", wan, udp);
	/* miniupnpd answers both on one port: the first byte is the version (PCP 2) */
	if (n->portmap == ZT_SCN_PORTMAP_NATPMP || n->portmap == ZT_SCN_PORTMAP_PCP)
		put(&o, "\t\tiifname \"" ZT_NAT_IF_LAN "\" udp dport %u @th,64,8 %u counter drop\n",
		    ZT_PORTMAP_PORT, n->portmap == ZT_SCN_PORTMAP_NATPMP ? 2 : 0);
	put(&o, "\t}\n");
	put(&o, "}\n");
	put_portmap(&o, n);
	put_v6(&o, n);
	return finish(&o);
}

int zt_natrules_render_flush(const struct zt_scn_node *n, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };
	struct shape s;

	if (n->kind != ZT_SCN_NAT)
		return -EINVAL;
	if (cap == 0)
		return -ENOBUFS;
	buf[0] = 0;
	s = shape_of(n);
	if (s.map)
		put(&o, "flush map ip " ZT_NAT_TABLE " mapping\n");
	if (s.inuse)
		put(&o, "flush set ip " ZT_NAT_TABLE " inuse\n");
	if (s.filter_set)
		put(&o, "flush set ip " ZT_NAT_TABLE " allowed\n");
	if (s.reverse)
		put(&o, "flush map ip " ZT_NAT_TABLE " reverse\n");
	if (s.alive)
		put(&o, "flush set ip " ZT_NAT_TABLE " alive\n");
	if (n->lan6 && n->fw6 == ZT_SCN_FW6_ENDPOINT)
		put(&o, "flush set ip6 " ZT_NAT_TABLE6 " eif6\n");
	return finish(&o);
}
