/*
 * The UPnP IGD port-mapping client of the agent and the connector (--portmap upnp,
 * and auto after PCP and NAT-PMP got nothing; docs/portmap.md). Debian's libminiupnpc
 * does SSDP discovery, the device description and the SOAP calls with blocking calls,
 * so they run in a worker thread, one job at a time (map, renew, delete); the thread
 * writes a byte to a pipe the event loop watches, and the loop takes the result, checks
 * it (zt_upnp_check) and gives the mapping to the node (zt_peer_portmap_external), which
 * offers it like its own client's. The loop never waits for the worker, except at exit
 * (zt_upnp_close), and then for at most the time given.
 *
 * Jobs: map = discovery (if no IGD is known yet: upnpDiscover, 1 s), the IGD's
 * description (UPNP_GetValidIGD), GetExternalIPAddress, AddPortMapping (UDP, the
 * socket's port to the same external port, lease 7200 s; an IGD that takes only
 * permanent leases (error 725) gets lease 0; a taken port (718) gets AddAnyPortMapping),
 * then GetSpecificPortMappingEntry to read back the internal client, port and lease.
 * Renew = AddPortMapping again, at half the lease and at least every 60 s. Delete =
 * DeletePortMapping.
 */
#ifndef ZT_APP_UPNP_H
#define ZT_APP_UPNP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/addr.h"

struct zt_loop;
struct zt_peer;
struct zt_nodeio;

/* What the IGD said, as the library hands it over (strings, "" when not answered). */
struct zt_upnp_answer {
	char ext_ip[40];       /* GetExternalIPAddress */
	char ext_port[8];      /* the port mapped: ours, or AddAnyPortMapping's */
	char int_client[40];   /* GetSpecificPortMappingEntry */
	char int_port[8];
	char lease[16];
};

/*
 * Checks an answer: the external address must be an IPv4 address outside the private,
 * shared (100.64/10), loopback, link-local, multicast and reserved ranges; the port
 * 1..65535, and `asked` unless any_port; the internal client and port, when the IGD
 * gave them, ours (local); the lease decimal: 0 (permanent) and anything over
 * max_lease are taken as max_lease (*ret_clamped set), under 10 s is refused.
 * Returns 0 with *ret_ext and *ret_lease, or -EPROTO with *why (a static string).
 */
int zt_upnp_check(const struct zt_upnp_answer *a, const struct zt_addr *local, uint16_t asked,
		  bool any_port, uint32_t max_lease, struct zt_addr *ret_ext, uint32_t *ret_lease,
		  bool *ret_clamped, const char **why);

struct zt_upnp_stats {
	uint64_t jobs;          /* worker jobs started */
	uint64_t discoveries;   /* SSDP searches */
	uint64_t no_igd;        /* searches without a usable IGD */
	uint64_t mapped;        /* mappings taken (first ones and renewals) */
	uint64_t errors;        /* SOAP or HTTP errors */
	uint64_t bad_answers;   /* answers zt_upnp_check refused */
	uint64_t clamped;       /* leases taken as the maximum (0 or too long) */
	uint64_t lost;          /* expired unrenewed */
	uint64_t deleted;
	uint64_t refreshes;     /* zt_upnp_refresh calls with a mapping (a path fell back) */
};

struct zt_upnp_info {
	const char *state;      /* "idle", "waiting" (auto: PCP and NAT-PMP first), "busy" */
	bool mapped;
	struct zt_addr external;
	uint32_t lease;
	char last_error[96];
	struct zt_upnp_stats st;
};

struct zt_upnp;

/* Creates the client (nothing is asked before zt_upnp_route). after_ms: how long to
 * wait after a route for the node's own client (auto: 2500; upnp only: 0). io is
 * kicked after the node was given a mapping. Returns 0, -errno. */
int zt_upnp_new(struct zt_upnp **ret, struct zt_loop *loop, struct zt_peer *peer,
		struct zt_nodeio *io, uint64_t after_ms);
/* The route the node was given (zt_peer_portmap_route): the gateway (family 0: none)
 * and our address towards it. A mapping at another route is deleted first. */
void zt_upnp_route(struct zt_upnp *u, uint64_t now, const struct zt_addr *gw,
		   const struct zt_addr *local);
void zt_upnp_info(const struct zt_upnp *u, struct zt_upnp_info *ret);
/* A direct path fell back to the relay (the node's portmap_refresh callback): the IGD
 * may have lost the mapping (a restart), so renew it now (AddPortMapping again, which
 * makes it anew at an IGD that forgot it), no sooner than 5 s after the previous job.
 * Nothing without a mapping (the retry schedule stands). NULL is fine. */
void zt_upnp_refresh(struct zt_upnp *u, uint64_t now);
/* At exit, after the loop: waits for a running job and deletes the mapping, for at most
 * budget_ms in all, then frees the client (or leaves it to the thread still blocked in
 * the library: the program is exiting). NULL is fine. Returns 0, or -ETIMEDOUT. */
int zt_upnp_close(struct zt_upnp *u, uint64_t budget_ms);

#endif
