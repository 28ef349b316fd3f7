/*
 * The connector's side of the packet tunnel in the host (docs/tunnel.md, "Packet
 * tunnel"): the agents' packets, injected into the connector's TUN device with the
 * agent's tunnel address as source (e.g. 100.64.3.7), are forwarded to the LAN with
 * the connector's own address as source (masquerade), and the replies come back,
 * un-NATed by conntrack, into the TUN. Needs CAP_NET_ADMIN; acts on the network
 * namespace current at zt_tunnat_open (its sysctl files and nftables socket are
 * opened there and kept).
 *
 * The rules are one nftables table of its own, `inet ztna_IFNAME`, so nothing else in
 * the ruleset is touched and one `delete table` takes it all away:
 *
 *   chain forward     { type filter hook forward priority filter; policy accept;
 *                       iifname IF oifname != IF accept          (tun -> elsewhere)
 *                       oifname IF ct state established,related accept (replies)
 *                       oifname IF drop }     (anything else into the tunnel, also
 *                                              agent -> agent through the connector)
 *   chain postrouting { type nat hook postrouting priority srcnat; policy accept;
 *                       iifname IF oifname != IF masquerade }
 * and without want6, `meta nfproto ipv6 iifname IF drop` first in forward. For an
 * agent -> agent packet the kernel still sends an ICMP redirect back into the TUN
 * (ip_forward sends it before the forward hook runs); the packet itself is dropped.
 *
 * The policy accept leaves every other packet to the other tables; an accept here
 * cannot overrule their drop (each base chain on a hook judges on its own), so a host
 * firewall that drops forwarded packets must allow the tunnel itself.
 *
 * Why iifname in postrouting (not a mark set in forward): for a forwarded packet the
 * kernel runs the postrouting hook with the device it came in on (ip_output and
 * ip6_output pass skb->dev as the input device), so `iifname` matches there, IPv4 and
 * IPv6; test_tunnat checks it with real packets (the LAN side sees the connector's
 * address). A mark would take a bit of the packet mark, which policy routing, VPNs
 * and container runtimes also use. Locally made packets have no input device and are
 * never masqueraded here.
 *
 * Routing, which is the caller's: the replies, once un-NATed, are routed to the
 * agent's tunnel address, so the connector needs a route to the tunnel pool through
 * the TUN (zt_tun_route_add); that same route is what strict reverse-path filtering
 * (rp_filter=1) needs to accept the agents' packets from the TUN at all.
 *
 * Forwarding sysctls: the kernel ties side effects to them (IPv4: writing ip_forward
 * sets every interface's forwarding and turns accept_redirects off or on; IPv6:
 * all/forwarding makes the host a router, which ignores router advertisements unless
 * accept_ra is 2); restoring the old value undoes the switch, not every side effect.
 */
#ifndef ZT_IO_TUNNAT_H
#define ZT_IO_TUNNAT_H

#include <stdbool.h>
#include <stddef.h>

struct zt_tunnat;

/*
 * For the TUN device tun_ifname (1 to 15 of A-Z a-z 0-9 _ . -; it need not exist yet):
 * creates the table `inet ztna_<tun_ifname>` above in one nftables transaction that
 * first deletes a table of that name left by a killed run (replaced, never doubled),
 * then turns IPv4 forwarding on (/proc/sys/net/ipv4/ip_forward) and, with want6,
 * IPv6 forwarding (/proc/sys/net/ipv6/conf/all/forwarding), remembering the values
 * it found. The rules exist before forwarding starts, so no packet leaves unNATed.
 * Returns 0, -EINVAL (name), -EPERM (not allowed), -ENOENT (a sysctl file missing:
 * no IPv6 in this kernel), -ENOMEM, -EIO (nftables refused the rules; err says why),
 * or another -errno. err (errcap bytes, may be NULL with errcap 0) gets a one-line
 * reason on failure. *ret is untouched on failure, and nothing stays changed.
 */
int zt_tunnat_open(struct zt_tunnat **ret, const char *tun_ifname, bool want6, char *err,
		   size_t errcap);

/*
 * Puts back the forwarding sysctls this object turned on (only those it changed, and
 * only while they still read 1), deletes the table and frees n. NULL is ok. Objects
 * for two TUNs in one namespace share the sysctls: the first opened turned them on
 * and turns them off, so close them in reverse order. After a SIGKILL neither
 * happens and forwarding stays on until the next zt_tunnat_open for that name: the
 * table's comment ("ztna-fwd V4 V6", the values found before the killed run turned
 * them on, "-" for one it did not touch) gives it the values to put back at its close,
 * and it replaces the table.
 */
void zt_tunnat_close(struct zt_tunnat *n);

#endif
