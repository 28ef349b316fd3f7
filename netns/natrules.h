/*
 * nftables rulesets that make a Linux namespace behave as one of the RFC 4787 NAT
 * types (docs/scenario-format.md, docs/lab.md "NAT pitfalls"). Pure text generation: the
 * harness loads the result with libnftables inside the NAT's namespace, where the
 * interface facing the upstream segment is named "wan" and the lan bridge "lan".
 *
 *   port-restricted  masquerade (Linux keeps one mapping per inside endpoint: EIM) and
 *                    a stateful forward filter (APDF)
 *   symmetric        a new public port per destination (EDM), chosen by 'ports':
 *                    random (masquerade random), sequential (a counter: numgen),
 *                    preserve (the inside port while no live mapping has it as its
 *                    public port, else random); see put_masquerade() in natrules.c
 *   full-cone        the above plus a map learned after SNAT, public port -> inside
 *                    endpoint, used to DNAT any remote's packet to that port (EIF)
 *   address-restricted  the map plus a set of (remote address, public port) the
 *                    inside endpoint has sent to; DNAT only for those (ADF)
 *   hairpin on       lan packets to the wan address are DNATed through the map and
 *                    SNATed to the sender's own public mapping (RFC 4787 REQ-9)
 *   portmap P        a second table (inet ztlab_pm, netns/portmap.h) whose base chains
 *                    jump to the chains miniupnpd fills; forward accepts DNATed
 *                    packets from wan to lan; 'natpmp' and 'pcp' drop the other
 *                    protocol's requests to port 5351 at input (first byte 2: PCP)
 *   udp block        every forwarded UDP packet is dropped
 *   block N          CGNAT port blocks: a snat rule per subscriber (the nodes on the lan),
 *                    to its own N ports, ahead of the masquerade ('random' if symmetric)
 *   refresh outbound a set of public UDP ports refreshed by outbound packets only (chain
 *                    learn); at priority raw, before conntrack, a UDP packet in for a
 *                    port not in it is dropped: inbound never keeps a mapping alive
 *   egress proxy P   the only new traffic forwarded from lan to wan is TCP to P's proxy
 *                    (its address and port); everything else the lan sends out (UDP,
 *                    TCP to anywhere else, ICMP echo) is dropped, silently and counted
 *                    (a counter rule). Replies and ICMP errors of allowed connections
 *                    pass (ct state). Only forwarded traffic is filtered: the NAT's own
 *                    output is not (nothing runs there but a test's tools), and its own
 *                    lan address still answers the lan.
 *   lan6 P           a second table (ip6 ztlab6): the lan's IPv6 prefix is routed, not
 *                    NATed; a stateful forward filter as RFC 6092 home routers have
 *                    (outbound from P passes; inbound only replies, by 'fw6':
 *                    address-and-port, endpoint-independent, open); see put_v6()
 * Every type drops unsolicited new packets arriving on wan at the input hook, so an
 * early packet from a peer never creates a conntrack entry that would later steal the
 * inside host's mapping. Learned entries expire after the mapping timeout; the
 * conntrack UDP timeouts of the namespace are set to the same value by the harness.
 */
#ifndef ZT_NETNS_NATRULES_H
#define ZT_NETNS_NATRULES_H

#include <stddef.h>

#include "scenario.h"

#define ZT_NAT_TABLE "ztlab"
#define ZT_NAT_TABLE6 "ztlab6"  /* 'lan6': the IPv6 firewall (table ip6) */
#define ZT_NAT_IF_WAN "wan"
#define ZT_NAT_IF_LAN "lan"
#define ZT_NATRULES_MAX 65536 /* a buffer this large holds any NAT's ruleset */

/*
 * Writes the ruleset (it starts with "flush ruleset": the namespace holds nothing
 * else) for NAT node nat into buf. Returns the length without the NUL, -ENOBUFS when
 * cap is too small, -EINVAL when nat is not a NAT node.
 */
int zt_natrules_render(const struct zt_scn_node *nat, char *buf, size_t cap);

/*
 * Writes the commands that forget the NAT's learned state (the dynamic maps and sets;
 * the caller also flushes conntrack). Returns the length, 0 when the type keeps no
 * such state, or -ENOBUFS.
 */
int zt_natrules_render_flush(const struct zt_scn_node *nat, char *buf, size_t cap);

#endif
