/*
 * The lab's port-mapping routers: miniupnpd (Debian package miniupnpd-nftables: the
 * program only, no system service) in the namespace of each NAT with 'portmap'
 * (docs/scenario-format.md), serving the NAT's lan:
 *
 *   upnp     UPnP IGD: SSDP on the lan (239.255.255.250:1900), HTTP/SOAP on
 *            lan_gw:ZT_PORTMAP_HTTP_PORT
 *   natpmp   NAT-PMP on lan_gw:5351 (PCP requests dropped by the NAT's input chain)
 *   pcp      PCP on lan_gw:5351 (NAT-PMP requests dropped likewise)
 *   all      the three
 *
 * miniupnpd adds its DNAT and forward rules to chains of its own in the table
 * ZT_PORTMAP_TABLE, which the NAT's ruleset creates with base chains jumping to them
 * (netns/natrules.h); the lab's forward chain accepts DNATed packets. It maps only to
 * the address asking (secure_mode), only ports 1024-65535 of the lan.
 *
 * The configuration is rendered here (pure, unit-tested); the harness (lab.c) writes
 * it into the run directory, starts `miniupnpd -d -f CONF -P PIDFILE` in the NAT's
 * namespace as a child of the supervisor (netns/child.h), waits until its sockets are
 * bound, records its pid, and stops it by that pid.
 */
#ifndef ZT_NETNS_PORTMAP_H
#define ZT_NETNS_PORTMAP_H

#include <stddef.h>

#include "child.h"
#include "scenario.h"

#define ZT_PORTMAP_PROG "miniupnpd"
#define ZT_PORTMAP_TABLE "ztlab_pm"     /* family inet */
#define ZT_PORTMAP_CHAIN_PRE "upnp_pre"      /* miniupnpd's DNAT rules */
#define ZT_PORTMAP_CHAIN_POST "upnp_post"    /* its SNAT rules (PCP PEER) */
#define ZT_PORTMAP_CHAIN_FWD "upnp_fwd"      /* its forward accepts */
#define ZT_PORTMAP_HTTP_PORT 2869            /* UPnP's HTTP (SOAP) port on lan_gw */
#define ZT_PORTMAP_PORT 5351                 /* NAT-PMP and PCP (RFC 6886, RFC 6887) */

/*
 * Writes miniupnpd's configuration for NAT node n into buf: external interface "wan"
 * with its address, listening on "lan", UPnP and NAT-PMP/PCP per n->portmap, the
 * chains above, secure mode, and the lan's ports 1024-65535 allowed, all else denied.
 * Returns the length without the NUL, -ENOBUFS when cap is too small, -EINVAL when n is
 * not a NAT with portmap.
 */
int zt_portmap_conf_render(const struct zt_scn_node *n, char *buf, size_t cap);

/*
 * The sockets miniupnpd of NAT n has once it serves: UDP lan_gw:5351 (NAT-PMP, PCP),
 * TCP lan_gw:ZT_PORTMAP_HTTP_PORT (UPnP). Writes at most 2 to out; returns how many.
 */
unsigned zt_portmap_ready_socks(const struct zt_scn_node *n, struct zt_child_sock out[2]);

/*
 * The nftables commands that empty miniupnpd's three chains (every mapping it made):
 * what a restart of the router loses. Returns the length, or -ENOBUFS.
 */
int zt_portmap_flush_render(char *buf, size_t cap);

#endif
