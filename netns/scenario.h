/*
 * Lab scenario files: the topology a NAT lab run builds (docs/scenario-format.md).
 *
 * One public segment (an isolated bridge), server hosts on it (some running an HTTP
 * proxy), NAT routers (behind the public segment or behind another NAT; a NAT may let
 * its lan out only through one proxy), private hosts behind NATs, and optional
 * impairments on any node's uplink. The parser is pure: it reads text (zt_scn_load
 * also reads the file) and fills a fixed-size struct, resolving names and assigning
 * the addresses the file leaves out. IPv4 addresses are in host byte order; IPv6 ones
 * (dual-stack labs: 'public6', 'lan6') are 16 bytes in network order.
 */
#ifndef ZT_NETNS_SCENARIO_H
#define ZT_NETNS_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_SCN_NAME_MAX 12   /* node name length: [a-z][a-z0-9_]* */
#define ZT_SCN_MAX_NODES 32
#define ZT_SCN_MAX_ADDRS 4   /* addresses of one server host */
#define ZT_SCN_MAX_DEPTH 4   /* NATs between a host and the public segment */
#define ZT_SCN_MAX_BYTES (256 * 1024)
#define ZT_SCN_PROXY_PORT 3128 /* a proxy server's default port (the customary one) */

enum zt_scn_kind {
	ZT_SCN_SERVER,  /* a host on the public segment */
	ZT_SCN_NAT,     /* a NAT router: wan on its upstream segment, lan behind */
	ZT_SCN_HOST,    /* a private host on a NAT's lan */
};

enum zt_nat_type {
	ZT_NAT_FULL_CONE,          /* EIM + endpoint-independent filtering */
	ZT_NAT_ADDR_RESTRICTED,    /* EIM + address-dependent filtering */
	ZT_NAT_PORT_RESTRICTED,    /* EIM + address-and-port-dependent filtering */
	ZT_NAT_SYMMETRIC,          /* EDM + address-and-port-dependent filtering */
};

/*
 * How a NAT picks the public port of a new UDP mapping (netns/natrules.h). Only a
 * symmetric NAT takes the 'ports' key; the cone types always preserve.
 */
enum zt_scn_ports {
	ZT_SCN_PORTS_RANDOM,      /* a random free port per mapping (symmetric default) */
	ZT_SCN_PORTS_SEQUENTIAL,  /* each new mapping the next port from ZT_SCN_SEQ_BASE */
	ZT_SCN_PORTS_PRESERVE,    /* the inside port when no mapping uses it, else random */
};

/*
 * A port-mapping service a NAT runs for its lan (miniupnpd, netns/portmap.h). miniupnpd
 * answers NAT-PMP and PCP on one port; 'natpmp' and 'pcp' drop the other's requests.
 */
enum zt_scn_portmap {
	ZT_SCN_PORTMAP_NONE,      /* default */
	ZT_SCN_PORTMAP_UPNP,      /* UPnP IGD only */
	ZT_SCN_PORTMAP_NATPMP,    /* NAT-PMP only */
	ZT_SCN_PORTMAP_PCP,       /* PCP only */
	ZT_SCN_PORTMAP_ALL,       /* all three */
};

#define ZT_SCN_SEQ_BASE 20000    /* first port of a sequential NAT */
#define ZT_SCN_SEQ_PORTS 1000    /* it counts through this many ports, then wraps */
#define ZT_SCN_BLOCK_BASE 1024   /* 'block N': the first block's first port */
#define ZT_SCN_BLOCK_MIN 16      /* ... N from this */
#define ZT_SCN_BLOCK_MAX 32768   /* ... to this */

/*
 * The inbound IPv6 filter of a NAT with 'lan6' (RFC 6092 simple security; no NAT66, the
 * lan's addresses are seen as they are). Outbound always passes.
 */
enum zt_scn_fw6 {
	ZT_SCN_FW6_ADDR_PORT,     /* default: only replies (ct established,related): a datagram
				   * reaches an inside address:port only from an outside
				   * address:port it has sent to */
	ZT_SCN_FW6_ENDPOINT,      /* 'endpoint-independent': from anywhere to an inside UDP
				   * address:port that has sent out (within the timeout) */
	ZT_SCN_FW6_OPEN,          /* 'open': everything inbound passes */
};

#define ZT_SCN_V6_MIN_PREFIX 32  /* public6/lan6 prefix lengths */
#define ZT_SCN_V6_MAX_PREFIX 64

/* An HTTP proxy the lab runs on a server (tinyproxy, netns/proxy.h). */
enum zt_scn_proxy {
	ZT_SCN_PROXY_NONE,     /* no proxy */
	ZT_SCN_PROXY_ALLOW,    /* 'proxy allow': tunnels CONNECT to any port */
	ZT_SCN_PROXY_DENY,     /* 'proxy deny': answers every CONNECT with 403 */
};

/* Impairments of one link, applied to each direction separately. */
struct zt_scn_link {
	bool set;            /* a 'link' line names this node */
	int line;            /* that line */
	uint64_t delay_ns;   /* one-way propagation delay */
	uint64_t jitter_ns;  /* per packet, uniform in [-jitter, +jitter] around delay */
	uint32_t loss_ppm;   /* Bernoulli loss, parts per million (IP frames only) */
	uint64_t rate_bps;   /* serialisation rate in bit/s; 0: unlimited */
	uint32_t mtu;        /* interface MTU on both ends; 1500 unless given */
	uint32_t queue;      /* packets held per direction before tail drop */
	uint32_t blackhole;  /* IP packets over this many bytes vanish, no ICMP (the
				interfaces keep mtu: a PMTU black hole); 0: none */
	bool timed;          /* an 'at' line changes it: emulated even if it starts plain */
};

/*
 * Timed events ('at TIME ...' lines), run by the lab's supervisor TIME after the lab
 * is ready, in time order (lines with the same time in file order):
 *   at TIME link NODE [delay D] [jitter D] [loss P%] [rate R] [blackhole N|off]
 *                                   change those settings
 *   at TIME link NODE down | up     all IP frames lost / the settings before 'down'
 *   at TIME nat NODE flush          the NAT forgets its mappings (as after a reboot)
 *   at TIME host NODE move NAT      the host's uplink moves behind NAT (a second uplink,
 *                                   eth1, made at the start and kept down; the old one
 *                                   goes down): a new address, a new gateway. A later
 *                                   move back to its own NAT undoes it. One other NAT
 *                                   per host.
 */
#define ZT_SCN_MAX_EVENTS 64
#define ZT_SCN_EVENT_MAX_NS (24ULL * 3600 * 1000000000) /* 24 h */

enum zt_scn_event_kind {
	ZT_SCN_EV_LINK = 1,       /* the keys in 'keys' take link's values */
	ZT_SCN_EV_LINK_DOWN,
	ZT_SCN_EV_LINK_UP,
	ZT_SCN_EV_NAT_FLUSH,
	ZT_SCN_EV_HOST_MOVE,      /* to: the NAT it goes behind (its own: back) */
};

/* zt_scn_event.keys: which settings a ZT_SCN_EV_LINK event sets. */
#define ZT_SCN_KEY_DELAY 1u
#define ZT_SCN_KEY_JITTER 2u
#define ZT_SCN_KEY_LOSS 4u
#define ZT_SCN_KEY_RATE 8u
#define ZT_SCN_KEY_BLACKHOLE 16u

struct zt_scn_event {
	uint64_t at_ns;                 /* after the lab is ready */
	int line;
	enum zt_scn_event_kind kind;
	unsigned node;                  /* index into nodes */
	unsigned keys;                  /* ZT_SCN_EV_LINK: ZT_SCN_KEY_* */
	struct zt_scn_link link;        /* ZT_SCN_EV_LINK: the values of those keys */
	unsigned to;                    /* ZT_SCN_EV_HOST_MOVE: index of the NAT */
};

struct zt_scn_node {
	char name[ZT_SCN_NAME_MAX + 1];
	enum zt_scn_kind kind;
	int line;                          /* where the node is defined */
	int up;                            /* index of the NAT in front; -1: public segment */
	uint32_t addr[ZT_SCN_MAX_ADDRS];   /* on the upstream segment; addr[0] is primary */
	unsigned naddr;
	struct zt_scn_link link;
	/* kind == ZT_SCN_HOST moved by an 'at ... move' line: its second uplink (eth1, a
	 * plain veth, down until the move) behind NAT up2 (-1: none), its address there */
	int up2;
	uint32_t addr2;
	/* kind == ZT_SCN_SERVER */
	enum zt_scn_proxy proxy;           /* default none */
	uint16_t proxy_port;               /* TCP, on addr[0]; ZT_SCN_PROXY_PORT unless given */
	/* kind == ZT_SCN_NAT */
	enum zt_nat_type type;
	uint32_t lan_net;                  /* network address of the lan */
	unsigned lan_prefix;
	uint32_t lan_gw;                   /* the NAT's own address on its lan */
	bool hairpin;                      /* default off */
	bool block_udp;                    /* a firewall dropping all forwarded UDP */
	bool drop_icmp;                    /* 'icmp drop': forwarded ICMP/ICMPv6 dropped
					    * both ways (errors too: PMTUD, unreachables) */
	unsigned timeout_s;                /* UDP mapping timeout; default 120 */
	enum zt_scn_ports ports;           /* 'ports': symmetric only (default random);
					    * always PRESERVE on the cone types */
	enum zt_scn_portmap portmap;       /* 'portmap'; default none */
	/* 'block N' (CGNAT port blocks): each node on the lan, in the file's order, maps
	 * only to its own N ports, from ZT_SCN_BLOCK_BASE; 0: off */
	uint16_t port_block;
	/* 'refresh outbound': a UDP mapping lives timeout_s after its last outbound packet;
	 * inbound ones do not keep it (default: both ways, as conntrack does) */
	bool refresh_outbound;
	uint32_t block_addr[ZT_SCN_MAX_NODES]; /* the subscribers: block i is theirs */
	unsigned nblocks;
	/* 'egress proxy NODE': the only traffic forwarded from the lan to the wan is TCP to
	 * that server's proxy (egress_addr:egress_port); the rest is dropped */
	bool egress_proxy;
	unsigned egress_node;              /* index of the proxy server */
	uint32_t egress_addr;              /* its addr[0] */
	uint16_t egress_port;              /* its proxy_port */
	/* IPv6 (only with 'public6'): servers, hosts and NATs on the public segment and
	 * hosts behind a NAT with 'lan6' have one global address on their segment */
	bool has6;
	uint8_t addr6[16];
	/* kind == ZT_SCN_NAT: 'lan6 PREFIX', a routed prefix on its lan (no NAT66) */
	bool lan6;
	uint8_t lan6_net[16];
	unsigned lan6_prefix;
	uint8_t lan6_gw[16];               /* its own address on the lan ('gw6') */
	enum zt_scn_fw6 fw6;               /* 'fw6'; default address-and-port */
};

struct zt_scn {
	char name[64];          /* 'lab NAME', else the file name without directory/suffix */
	uint64_t seed;          /* seeds the link emulator's randomness; default 1 */
	uint32_t pub_net;
	unsigned pub_prefix;
	bool has6;              /* 'public6': a dual-stack lab */
	uint8_t pub6_net[16];
	unsigned pub6_prefix;
	struct zt_scn_node nodes[ZT_SCN_MAX_NODES];
	unsigned nnodes;
	struct zt_scn_event events[ZT_SCN_MAX_EVENTS]; /* sorted by at_ns */
	unsigned nevents;
};

struct zt_scn_error {
	int line;               /* 0 when the error is not tied to a line */
	char msg[320];          /* "FILE:LINE: what was expected, what was found" */
};

/*
 * Parses len bytes of scenario text; filename is used in error messages and for the
 * default lab name. Returns 0 and fills *ret, or a negative code with err filled:
 * ZT_ESYNTAX (malformed line), ZT_ECONF_KEY (unknown keyword), ZT_ECONF_VALUE (bad
 * value), ZT_ECONF_MISSING (a required line or key is absent), ZT_ECONF_REF (a name
 * that is not defined, or of the wrong kind: 'behind' a non-NAT, 'egress proxy' a node
 * that is not a server with a proxy), ZT_ERANGE (a number or address outside
 * its range, or too many nodes/addresses), ZT_ETOOBIG (text over ZT_SCN_MAX_BYTES).
 * *ret is unspecified on failure.
 */
int zt_scn_parse(struct zt_scn *ret, const char *text, size_t len, const char *filename,
		 struct zt_scn_error *err);

/* Reads the file at path and parses it. Also returns -errno when it cannot be read. */
int zt_scn_load(struct zt_scn *ret, const char *path, struct zt_scn_error *err);

/* Index of the node named name, or -1. */
int zt_scn_find(const struct zt_scn *s, const char *name);

/* "full-cone", "address-restricted", "port-restricted", "symmetric". */
const char *zt_nat_type_name(enum zt_nat_type t);

/* "random", "sequential", "preserve". */
const char *zt_scn_ports_name(enum zt_scn_ports p);

/* "none", "upnp", "natpmp", "pcp", "all". */
const char *zt_scn_portmap_name(enum zt_scn_portmap p);

/* "address-and-port", "endpoint-independent", "open". */
const char *zt_scn_fw6_name(enum zt_scn_fw6 f);

/* "none", "allow", "deny". */
const char *zt_scn_proxy_name(enum zt_scn_proxy p);

/* Number of NATs between node i and the public segment (0 for servers and top NATs). */
unsigned zt_scn_depth(const struct zt_scn *s, unsigned i);

/*
 * The address node i appears with on the public segment: its own for servers,
 * the wan address of the outermost NAT in front of it otherwise.
 */
uint32_t zt_scn_public_addr(const struct zt_scn *s, unsigned i);

/* Prefix length of the segment node i is attached to. */
unsigned zt_scn_up_prefix(const struct zt_scn *s, unsigned i);

/*
 * Applies timed event ev to link l, the link's state after the events before it;
 * *saved is its state as if it had never been down (start both from the node's link):
 * a change while down also changes what 'up' returns to, and a 'loss' while down
 * takes effect at once. Returns false (nothing done) for an event not on a link.
 */
bool zt_scn_event_apply(const struct zt_scn_event *ev, struct zt_scn_link *l,
			struct zt_scn_link *saved);

/* Writes the event as its scenario line without 'at TIME' ("link alice loss 30%").
 * Returns the length, or -ENOBUFS. */
int zt_scn_event_str(const struct zt_scn *s, const struct zt_scn_event *ev, char *buf,
		     size_t cap);

/* True when the link needs the emulator (delay, jitter, loss, rate or blackhole set,
 * or an 'at' line changes it). */
bool zt_scn_link_impaired(const struct zt_scn_link *l);

/*
 * Writes the link's settings as scenario text ("delay 10ms jitter 1ms loss 0.5% rate
 * 10mbit mtu 1400"), leaving out what is at its default; "" for a plain link.
 * Returns the length, or -ENOBUFS when cap is too small.
 */
int zt_scn_link_str(const struct zt_scn_link *l, char *buf, size_t cap);

/* Formats an IPv4 address (host order) into buf (at least 16 bytes); returns buf. */
const char *zt_ip4_str(uint32_t ip, char buf[16]);

/* Formats an IPv6 address (RFC 5952 text, as inet_ntop) into buf; returns buf. */
#define ZT_IP6_STR_MAX 46
const char *zt_ip6_str(const uint8_t ip[16], char buf[ZT_IP6_STR_MAX]);

/* True when node i's namespace carries IPv6 (an address of its own, or a lan6). */
bool zt_scn_node_v6(const struct zt_scn *s, unsigned i);

#endif
