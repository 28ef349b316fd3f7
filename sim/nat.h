/*
 * A NAT router's UDP translation table, in RFC 4787 terms.
 *
 * Mapping behaviour (s4.1), which inside endpoint + destination reuse a mapping:
 *   endpoint-independent (EIM): one public port per inside endpoint, any destination;
 *   address-dependent (ADM): a new public port per destination IP address;
 *   address-and-port-dependent (APDM): a new public port per destination address+port.
 * Filtering behaviour (s5), which outside sources may send to a mapping:
 *   endpoint-independent (EIF): anyone;
 *   address-dependent (ADF): addresses the inside endpoint has sent to via this mapping;
 *   address-and-port-dependent (APDF): those exact address+port pairs.
 * Port assignment (s4.2.1): preservation (the inside port when no live mapping holds
 * it, else a random one, as Linux does), random, or sequential.
 * Mapping refresh (s4.3): a mapping lives `timeout` after its last outbound packet
 * (REQ-6), and after its last inbound one too when refresh_inbound is set.
 * Hairpinning (s6) and UDP blocking are decided by the caller (sim/net), which asks
 * this table to translate both legs of a hairpinned packet.
 *
 * Filtering remembers each outside endpoint a mapping sent to as its own entry with
 * its own timeout (the lab's NATs are conntrack: one entry per flow), up to
 * ZT_SIM_NAT_PERMS per mapping.
 * Public ports are unique per NAT (no port overloading), so an inbound packet finds
 * its mapping by destination port alone. Unsolicited inbound packets create no state
 * (the lab's INPUT-hook drop, docs/lab.md pitfall 1).
 */
#ifndef ZT_SIM_NAT_H
#define ZT_SIM_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/rng.h"

enum zt_sim_dep {
	ZT_SIM_EI = 0,   /* endpoint-independent */
	ZT_SIM_AD = 1,   /* address-dependent */
	ZT_SIM_APD = 2,  /* address-and-port-dependent */
};

enum zt_sim_ports {
	ZT_SIM_PORTS_PRESERVE = 0,
	ZT_SIM_PORTS_RANDOM = 1,
	ZT_SIM_PORTS_SEQUENTIAL = 2,
};

struct zt_sim_nat_cfg {
	enum zt_sim_dep mapping;
	enum zt_sim_dep filtering;
	enum zt_sim_ports ports;
	bool hairpin;
	bool udp_blocked;       /* every UDP packet through the router is dropped */
	bool refresh_inbound;   /* inbound packets also keep a mapping alive */
	uint64_t timeout;       /* ns; 0: 120 s */
	bool portmap;           /* runs a port-mapping service (PCP, NAT-PMP, UPnP IGD) */
};

enum zt_sim_nat_verdict {
	ZT_SIM_NAT_PASS = 0,
	ZT_SIM_NAT_NOMAP = 1,     /* inbound to a port with no live mapping */
	ZT_SIM_NAT_FILTERED = 2,  /* inbound refused by the filtering behaviour */
	ZT_SIM_NAT_BLOCKED = 3,   /* UDP blocked */
	ZT_SIM_NAT_NOPORTS = 4,   /* no free public port */
	ZT_SIM_NAT_NOHAIRPIN = 5, /* set by sim/net for a hairpin the NAT refuses */
};

/* Outside endpoints one mapping remembers at most (the oldest goes first). */
#define ZT_SIM_NAT_PERMS 4096

/* An outside endpoint a mapping has sent to, as a conntrack entry: it lets that
 * endpoint in until `timeout` after its last packet out (or in, with refresh_inbound). */
struct zt_sim_nat_perm {
	struct zt_addr addr;
	uint64_t last;
};

struct zt_sim_nat_map {
	struct zt_addr inside;
	struct zt_addr key;       /* ADM: destination IP (port 0); APDM: destination; EIM: unset */
	uint16_t port;            /* public port */
	uint64_t created, last_out, last_in;
	/* outside endpoints this mapping has sent to (ADF compares IPs, APDF both);
	 * allocated, freed with the mapping */
	struct zt_sim_nat_perm *perms;
	unsigned nperms, pcap;
	bool fixed;               /* a port mapping (zt_sim_nat_map_static): never expires,
				     endpoint-independent both ways */
};

enum zt_sim_nat_event {
	ZT_SIM_NAT_EV_CREATE = 1,
	ZT_SIM_NAT_EV_EXPIRE = 2,
};

struct zt_sim_nat;
typedef void zt_sim_nat_log_fn(void *ctx, uint64_t now, const struct zt_sim_nat *nat,
			       enum zt_sim_nat_event ev, const struct zt_sim_nat_map *m);

struct zt_sim_nat {
	struct zt_sim_nat_cfg cfg;
	struct zt_addr wan;       /* public IP (port ignored) */
	struct zt_sim_nat_map *maps;
	size_t n, cap;
	uint16_t next_seq;
	zt_sim_nat_log_fn *log;
	void *log_ctx;
	const char *name;
	uint64_t created, expired, filtered, nomap;
};

/* Sets up an empty table for the router whose public address is wan. */
void zt_sim_nat_init(struct zt_sim_nat *nat, const struct zt_sim_nat_cfg *cfg,
		     const struct zt_addr *wan);
void zt_sim_nat_fini(struct zt_sim_nat *nat);

/*
 * Translates an outbound packet from inside endpoint src to dst: finds or creates the
 * mapping, records dst as a permission and refreshes the mapping. Returns
 * ZT_SIM_NAT_PASS with the public source in *ret_src, or ZT_SIM_NAT_BLOCKED,
 * ZT_SIM_NAT_NOPORTS (table or port space full; *ret_src untouched).
 */
enum zt_sim_nat_verdict zt_sim_nat_out(struct zt_sim_nat *nat, uint64_t now,
				       struct zt_prng *prng, const struct zt_addr *src,
				       const struct zt_addr *dst, struct zt_addr *ret_src);

/*
 * Translates an inbound packet from src to public endpoint dst. Returns
 * ZT_SIM_NAT_PASS with the inside endpoint in *ret_dst, or ZT_SIM_NAT_BLOCKED,
 * ZT_SIM_NAT_NOMAP, ZT_SIM_NAT_FILTERED.
 */
enum zt_sim_nat_verdict zt_sim_nat_in(struct zt_sim_nat *nat, uint64_t now,
				      const struct zt_addr *src, const struct zt_addr *dst,
				      struct zt_addr *ret_dst);

/*
 * The inbound half of a hairpinned packet (RFC 4787 s6): finds the mapping holding
 * dst's port without applying the filtering behaviour, as the lab's hairpin rules
 * do (they DNAT lan-side packets through the mapping table unconditionally).
 * Returns ZT_SIM_NAT_PASS with *ret_dst, or ZT_SIM_NAT_NOMAP.
 */
enum zt_sim_nat_verdict zt_sim_nat_hairpin_in(struct zt_sim_nat *nat, uint64_t now,
					      const struct zt_addr *dst, struct zt_addr *ret_dst);

/*
 * A port mapping granted to inside endpoint `inside` (what a PCP MAP, a NAT-PMP or a
 * UPnP AddPortMapping request gets, docs/portmap.md): the inside port if free, else a
 * random one; it never expires, every outbound packet from `inside` leaves through it
 * whatever the NAT's mapping behaviour (RFC 6887 s11: a MAP mapping is used for
 * outbound traffic too), and every inbound packet to it passes whatever the filtering.
 * Returns 0 with the public endpoint in *ret, -ENOSPC (no free port), or -EINVAL when
 * the NAT offers no port mapping (cfg.portmap) or blocks UDP.
 */
int zt_sim_nat_map_static(struct zt_sim_nat *nat, struct zt_prng *prng,
			  const struct zt_addr *inside, struct zt_addr *ret);

/* Expires mappings idle for the timeout (logging each). Returns how many. */
size_t zt_sim_nat_expire(struct zt_sim_nat *nat, uint64_t now);

/* Forgets every mapping (a router reboot / conntrack flush: the "rebinding" case). */
void zt_sim_nat_flush(struct zt_sim_nat *nat);

/* The live mapping holding public port `port`, or NULL. */
const struct zt_sim_nat_map *zt_sim_nat_lookup_port(const struct zt_sim_nat *nat,
						    uint16_t port);

/* Config of a lab NAT type: 0 full-cone, 1 address-restricted, 2 port-restricted,
 * 3 symmetric (enum zt_nat_type of netns/scenario.h), as the lab builds them:
 * the cones preserve ports, symmetric allocates at random (masquerade random). */
struct zt_sim_nat_cfg zt_sim_nat_cfg_of_type(int lab_type);

/* "EI", "AD", "APD"; "preserve", "random", "sequential"; verdict names. */
const char *zt_sim_dep_name(enum zt_sim_dep d);
const char *zt_sim_ports_name(enum zt_sim_ports p);
const char *zt_sim_nat_verdict_name(enum zt_sim_nat_verdict v);

#endif
