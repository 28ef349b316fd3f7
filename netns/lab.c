#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/file.h"
#include "capture.h"
#include "emu.h"
#include "lab.h"
#include "natrules.h"
#include "nft.h"
#include "nl.h"
#include "ns.h"
#include "portmap.h"
#include "proxy.h"

#define PUB ZT_SCN_MAX_NODES   /* slot of the public segment */
#define PUB_BRIDGE "br0"
#define KILL_WAIT_MS 1000
#define CHILD_READY_MS 5000

__attribute__((format(printf, 3, 4)))
static int fail(struct zt_lab *lab, int rc, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(lab->err, sizeof(lab->err), "%s: %s", what, strerror(rc < 0 ? -rc : rc));
	return rc;
}

static const char *slot_name(const struct zt_lab *lab, int slot)
{
	return slot == PUB ? ZT_RUN_PUBLIC : lab->scn->nodes[slot].name;
}

static void ns_name(const struct zt_lab *lab, int slot, char *buf, size_t cap)
{
	zt_run_ns_name(lab->id, slot_name(lab, slot), buf, cap);
}

static void step(struct zt_lab *lab, const char *what)
{
	if (lab->on_step)
		lab->on_step(lab->ctx, what);
}

static bool stopped(struct zt_lab *lab)
{
	return lab->should_stop && lab->should_stop(lab->ctx);
}

int zt_lab_init(struct zt_lab *lab, const struct zt_scn *s, const char *id, struct zt_loop *loop)
{
	*lab = (struct zt_lab){ .scn = s, .loop = loop };
	snprintf(lab->id, sizeof(lab->id), "%s", id);
	for (int i = 0; i < ZT_LAB_SLOTS; i++)
		lab->nsfd[i] = -1;
	lab->host_ns = zt_ns_self();
	return lab->host_ns < 0 ? lab->host_ns : 0;
}

/* Runs in slot's namespace from enter_slot() to leave(); leave() failing is fatal. */
static int enter_slot(struct zt_lab *lab, int slot)
{
	int rc = zt_ns_enter(lab->nsfd[slot]);

	if (rc < 0) {
		char ns[ZT_RUN_NS_MAX];

		ns_name(lab, slot, ns, sizeof(ns));
		return fail(lab, rc, "entering namespace %s", ns);
	}
	return 0;
}

static int leave(struct zt_lab *lab)
{
	int rc = zt_ns_enter(lab->host_ns);

	return rc < 0 ? fail(lab, rc, "returning to the supervisor's own namespace") : 0;
}

struct sysctl {
	const char *key, *value;
	bool optional; /* absent on some kernels */
};

static int apply_sysctls(struct zt_lab *lab, int slot, const struct sysctl *t, size_t n)
{
	char ns[ZT_RUN_NS_MAX];

	ns_name(lab, slot, ns, sizeof(ns));
	for (size_t i = 0; i < n; i++) {
		int rc = zt_ns_sysctl(t[i].key, t[i].value);

		if (rc < 0 && !(rc == -ENOENT && t[i].optional))
			return fail(lab, rc, "setting %s=%s in %s", t[i].key, t[i].value, ns);
	}
	return 0;
}

static int make_namespace(struct zt_lab *lab, int slot)
{
	static const struct sysctl base[] = {
		/* quiet links: no IPv6 (router solicitations, DAD) in the captures */
		{ "net/ipv6/conf/all/disable_ipv6", "1", true },
		{ "net/ipv6/conf/default/disable_ipv6", "1", true },
		/* bridged frames must not go through the NAT's IP filter (br_netfilter is built in) */
		{ "net/bridge/bridge-nf-call-iptables", "0", true },
		{ "net/bridge/bridge-nf-call-ip6tables", "0", true },
		{ "net/bridge/bridge-nf-call-arptables", "0", true },
		/* IPv4 settings are copied from the host's namespace: make them plain */
		{ "net/ipv4/ip_forward", "0", false },
		{ "net/ipv4/conf/all/rp_filter", "0", false },
		{ "net/ipv4/conf/default/rp_filter", "0", false },
	};
	/* dual-stack labs: IPv6 on where a node has an address or a lan6 (and on the public
	 * segment, whose bridge carries it), addresses usable at once (no DAD), no router
	 * advertisements or SLAAC (every address and route is static) */
	static const struct sysctl v6[] = {
		{ "net/ipv6/conf/all/disable_ipv6", "0", false },
		{ "net/ipv6/conf/default/disable_ipv6", "0", false },
		{ "net/ipv6/conf/all/accept_dad", "0", false },
		{ "net/ipv6/conf/default/accept_dad", "0", false },
		{ "net/ipv6/conf/all/accept_ra", "0", false },
		{ "net/ipv6/conf/default/accept_ra", "0", false },
		{ "net/ipv6/conf/all/autoconf", "0", false },
		{ "net/ipv6/conf/default/autoconf", "0", false },
	};
	bool use6 = slot == PUB ? lab->scn->has6 : zt_scn_node_v6(lab->scn, (unsigned)slot);
	char ns[ZT_RUN_NS_MAX];
	int rc;

	ns_name(lab, slot, ns, sizeof(ns));
	if (lab->on_namespace)
		lab->on_namespace(lab->ctx, ns);
	rc = zt_ns_create(ns);
	if (rc < 0)
		return fail(lab, rc, "creating namespace %s", ns);
	lab->nsfd[slot] = zt_ns_open(ns);
	if (lab->nsfd[slot] < 0) {
		rc = lab->nsfd[slot];
		lab->nsfd[slot] = -1;
		zt_ns_delete(ns);
		return fail(lab, rc, "opening namespace %s", ns);
	}
	if ((rc = enter_slot(lab, slot)) < 0)
		return rc;
	rc = apply_sysctls(lab, slot, base, sizeof(base) / sizeof(base[0]));
	if (rc == 0 && use6)
		rc = apply_sysctls(lab, slot, v6, sizeof(v6) / sizeof(v6[0]));
	if (rc == 0 && (rc = zt_nl_open(&lab->sk[slot])) < 0)
		fail(lab, rc, "opening netlink in %s", ns);
	if (leave(lab) < 0)
		return -EIO;
	if (rc < 0)
		return rc;
	rc = zt_nl_link_setup(lab->sk[slot], "lo", 0, 0, true);
	return rc < 0 ? fail(lab, rc, "bringing lo up in %s", ns) : 0;
}

static int nat_sysctls(struct zt_lab *lab, int slot)
{
	char t[16];
	const struct sysctl tab[] = {
		{ "net/ipv4/ip_forward", "1", false },
		{ "net/ipv4/conf/all/send_redirects", "0", false },
		{ "net/ipv4/conf/default/send_redirects", "0", false },
		/* the mapping timeout: unreplied and replied ("stream") UDP flows alike */
		{ "net/netfilter/nf_conntrack_udp_timeout", t, false },
		{ "net/netfilter/nf_conntrack_udp_timeout_stream", t, false },
	};
	static const struct sysctl tab6[] = {
		{ "net/ipv6/conf/all/forwarding", "1", false },
		{ "net/ipv6/conf/default/forwarding", "1", false },
	};
	int rc;

	snprintf(t, sizeof(t), "%u", lab->scn->nodes[slot].timeout_s);
	if ((rc = enter_slot(lab, slot)) < 0)
		return rc;
	rc = apply_sysctls(lab, slot, tab, sizeof(tab) / sizeof(tab[0]));
	if (rc == 0 && lab->scn->nodes[slot].lan6)
		rc = apply_sysctls(lab, slot, tab6, sizeof(tab6) / sizeof(tab6[0]));
	if (leave(lab) < 0)
		return -EIO;
	return rc;
}

static int make_bridge(struct zt_lab *lab, int slot, const char *name, uint32_t ip, unsigned prefix)
{
	char ns[ZT_RUN_NS_MAX];
	int rc, idx;

	ns_name(lab, slot, ns, sizeof(ns));
	if ((rc = zt_nl_bridge_add(lab->sk[slot], name)) < 0)
		return fail(lab, rc, "creating bridge %s in %s", name, ns);
	if ((rc = zt_nl_link_setup(lab->sk[slot], name, 0, 0, true)) < 0)
		return fail(lab, rc, "bringing bridge %s up in %s", name, ns);
	if (!ip)
		return 0;
	if ((idx = zt_nl_ifindex(lab->sk[slot], name)) < 0)
		return fail(lab, idx, "finding %s in %s", name, ns);
	if ((rc = zt_nl_addr_add(lab->sk[slot], idx, ip, prefix)) < 0)
		return fail(lab, rc, "adding the lan address to %s in %s", name, ns);
	if (slot != PUB && lab->scn->nodes[slot].lan6 &&
	    (rc = zt_nl_addr6_add(lab->sk[slot], idx, lab->scn->nodes[slot].lan6_gw,
				  lab->scn->nodes[slot].lan6_prefix)) < 0)
		return fail(lab, rc, "adding the lan6 address to %s in %s", name, ns);
	return 0;
}

/*
 * Node i's IPv6 address on its uplink idx, and its routes: behind a NAT, the default
 * route via the NAT's gw6; on the public segment, a route to every other NAT's lan6
 * via that NAT's wan address (no default route: nothing leads out of the lab).
 */
static int uplink6(struct zt_lab *lab, int i, int idx)
{
	const struct zt_scn *s = lab->scn;
	const struct zt_scn_node *n = &s->nodes[i];
	static const uint8_t any[16];
	int rc;

	if (!n->has6)
		return 0;
	if ((rc = zt_nl_addr6_add(lab->sk[i], idx, n->addr6,
				  n->up < 0 ? s->pub6_prefix : s->nodes[n->up].lan6_prefix)) < 0)
		return fail(lab, rc, "adding the IPv6 address of %s", n->name);
	if (n->up >= 0) {
		if ((rc = zt_nl_route6_add(lab->sk[i], idx, any, 0, s->nodes[n->up].lan6_gw)) < 0)
			return fail(lab, rc, "adding the IPv6 default route of %s", n->name);
		return 0;
	}
	for (unsigned k = 0; k < s->nnodes; k++) {
		const struct zt_scn_node *r = &s->nodes[k];

		if (k == (unsigned)i || !r->lan6)
			continue;
		if ((rc = zt_nl_route6_add(lab->sk[i], idx, r->lan6_net, r->lan6_prefix, r->addr6)) < 0)
			return fail(lab, rc, "adding the route of %s to the lan6 of %s", n->name, r->name);
	}
	return 0;
}

/* A TAP device named name in slot's namespace; returns its non-blocking fd. */
static int open_tap(struct zt_lab *lab, int slot, const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	char ns[ZT_RUN_NS_MAX];
	int fd, rc = 0;

	ns_name(lab, slot, ns, sizeof(ns));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if ((rc = enter_slot(lab, slot)) < 0)
		return rc;
	/* the device is created in the namespace current at TUNSETIFF */
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		rc = fail(lab, -errno, "opening /dev/net/tun in %s", ns);
	else if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		rc = fail(lab, -errno, "creating TAP %s in %s", name, ns);
	if (leave(lab) < 0)
		rc = -EIO;
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}

static int make_uplink(struct zt_lab *lab, int i)
{
	const struct zt_scn *s = lab->scn;
	const struct zt_scn_node *n = &s->nodes[i];
	int up = n->up < 0 ? PUB : n->up;
	const char *bridge = n->up < 0 ? PUB_BRIDGE : ZT_NAT_IF_LAN;
	const char *dev = zt_run_uplink_name(n);
	unsigned prefix = zt_scn_up_prefix(s, (unsigned)i);
	unsigned mtu = n->link.set ? n->link.mtu : 0;
	char port[IFNAMSIZ], ns[ZT_RUN_NS_MAX], upns[ZT_RUN_NS_MAX];
	int rc, br, idx;

	zt_run_port_name(n, port, sizeof(port));
	ns_name(lab, i, ns, sizeof(ns));
	ns_name(lab, up, upns, sizeof(upns));
	if (zt_scn_link_impaired(&n->link)) {
		int a, b;
		char name[64];

		if ((a = open_tap(lab, i, dev)) < 0)
			return a;
		if ((b = open_tap(lab, up, port)) < 0) {
			close(a);
			return b;
		}
		snprintf(name, sizeof(name), "%s", n->name);
		/* each link draws from its own stream: one link's traffic never shifts another's */
		rc = zt_emu_add(lab->emu, name, &n->link, s->seed * 1000003ULL + (uint64_t)i, a, b);
		if (rc < 0)
			return fail(lab, rc, "starting the emulator for the link of %s", n->name);
	} else if ((rc = zt_nl_veth_add(lab->sk[i], dev, port, lab->nsfd[up])) < 0) {
		return fail(lab, rc, "creating veth %s (%s) <-> %s (%s)", dev, ns, port, upns);
	}
	if ((br = zt_nl_ifindex(lab->sk[up], bridge)) < 0)
		return fail(lab, br, "finding bridge %s in %s", bridge, upns);
	if ((rc = zt_nl_link_setup(lab->sk[up], port, mtu, br, true)) < 0)
		return fail(lab, rc, "attaching %s to %s in %s", port, bridge, upns);
	if ((rc = zt_nl_link_setup(lab->sk[i], dev, mtu, 0, true)) < 0)
		return fail(lab, rc, "bringing %s up in %s", dev, ns);
	if ((idx = zt_nl_ifindex(lab->sk[i], dev)) < 0)
		return fail(lab, idx, "finding %s in %s", dev, ns);
	for (unsigned j = 0; j < n->naddr; j++)
		if ((rc = zt_nl_addr_add(lab->sk[i], idx, n->addr[j], prefix)) < 0)
			return fail(lab, rc, "adding address %u of %s", j + 1, n->name);
	if (n->up >= 0 && (rc = zt_nl_route_add_default(lab->sk[i], idx, s->nodes[n->up].lan_gw)) < 0)
		return fail(lab, rc, "adding the default route of %s", n->name);
	return uplink6(lab, i, idx);
}

/* A moving host's second uplink: eth1, a plain veth to its second NAT's lan bridge,
 * down and without an address until the move (zt_lab_move_host). */
static int make_uplink2(struct zt_lab *lab, int i)
{
	const struct zt_scn_node *n = &lab->scn->nodes[i];
	char port[IFNAMSIZ];
	int rc, br;

	if (n->up2 < 0)
		return 0;
	zt_run_port_name(n, port, sizeof(port));
	if ((rc = zt_nl_veth_add(lab->sk[i], ZT_LAB_IF2, port, lab->nsfd[n->up2])) < 0)
		return fail(lab, rc, "creating veth %s <-> %s (the second uplink of %s)", ZT_LAB_IF2,
			    port, n->name);
	if ((br = zt_nl_ifindex(lab->sk[n->up2], ZT_NAT_IF_LAN)) < 0)
		return fail(lab, br, "finding the lan bridge of %s", lab->scn->nodes[n->up2].name);
	if ((rc = zt_nl_link_setup(lab->sk[n->up2], port, 0, br, true)) < 0)
		return fail(lab, rc, "attaching %s to the lan of %s", port, lab->scn->nodes[n->up2].name);
	return 0;
}

/* In the host's namespace: one uplink off (its address removed, link down), the other
 * on (up, its address, the default route via its NAT). */
static int swap_uplinks(struct zt_lab *lab, struct nl_sock *sk, unsigned i, bool second)
{
	const struct zt_scn_node *n = &lab->scn->nodes[i], *from, *to;
	const char *off = second ? "eth0" : ZT_LAB_IF2, *on = second ? ZT_LAB_IF2 : "eth0";
	uint32_t off_ip = second ? n->addr[0] : n->addr2, on_ip = second ? n->addr2 : n->addr[0];
	int rc, idx;

	from = &lab->scn->nodes[second ? n->up : n->up2];
	to = &lab->scn->nodes[second ? n->up2 : n->up];
	if ((idx = zt_nl_ifindex(sk, off)) < 0)
		return fail(lab, idx, "finding %s of %s", off, n->name);
	if ((rc = zt_nl_addr_del(sk, idx, off_ip, from->lan_prefix)) < 0 && rc != -EADDRNOTAVAIL)
		return fail(lab, rc, "removing the address of %s from %s", n->name, off);
	if ((rc = zt_nl_link_down(sk, off)) < 0)
		return fail(lab, rc, "taking %s of %s down", off, n->name);
	if ((rc = zt_nl_link_setup(sk, on, 0, 0, true)) < 0)
		return fail(lab, rc, "bringing %s of %s up", on, n->name);
	if ((idx = zt_nl_ifindex(sk, on)) < 0)
		return fail(lab, idx, "finding %s of %s", on, n->name);
	if ((rc = zt_nl_addr_add(sk, idx, on_ip, to->lan_prefix)) < 0 && rc != -EEXIST)
		return fail(lab, rc, "adding the address of %s on %s", n->name, on);
	if ((rc = zt_nl_route_add_default(sk, idx, to->lan_gw)) < 0 && rc != -EEXIST)
		return fail(lab, rc, "the default route of %s via %s", n->name, to->name);
	return 0;
}

int zt_lab_move_host(struct zt_lab *lab, unsigned i, bool second)
{
	struct nl_sock *sk = NULL;
	int rc, left;

	if (i >= lab->scn->nnodes || lab->scn->nodes[i].up2 < 0)
		return fail(lab, -EINVAL, "node %u has no second uplink", i);
	if ((rc = enter_slot(lab, (int)i)) < 0)
		return rc;
	rc = zt_nl_open(&sk);
	if (rc < 0)
		fail(lab, rc, "netlink in the namespace of %s", lab->scn->nodes[i].name);
	else
		rc = swap_uplinks(lab, sk, i, second);
	zt_nl_close(sk);
	left = leave(lab);
	return rc < 0 ? rc : left;
}

static int load_rules(struct zt_lab *lab, int i)
{
	const struct zt_scn_node *n = &lab->scn->nodes[i];
	char *text, nfterr[400];
	size_t cap = ZT_NATRULES_MAX;
	int rc;

	text = malloc(cap);
	if (!text)
		return fail(lab, -ENOMEM, "rendering the ruleset of %s", n->name);
	if ((rc = zt_natrules_render(n, text, cap)) < 0) {
		free(text);
		return fail(lab, rc, "rendering the ruleset of %s", n->name);
	}
	if ((rc = enter_slot(lab, i)) < 0) {
		free(text);
		return rc;
	}
	rc = zt_nft_run(text, nfterr, sizeof(nfterr));
	if (rc < 0)
		snprintf(lab->err, sizeof(lab->err), "loading the ruleset of %s: %s", n->name, nfterr);
	/* entries made before the rules existed would bypass them */
	if (rc == 0 && (rc = zt_nl_ct_flush()) < 0)
		fail(lab, rc, "flushing conntrack of %s", n->name);
	if (rc == 0 && n->lan6 && (rc = zt_nl_ct_flush_family(AF_INET6)) < 0)
		fail(lab, rc, "flushing IPv6 conntrack of %s", n->name);
	free(text);
	if (leave(lab) < 0)
		return -EIO;
	return rc;
}

int zt_lab_build(struct zt_lab *lab)
{
	const struct zt_scn *s = lab->scn;
	char line[128];
	int rc;

	if ((rc = zt_emu_new(lab->loop, &lab->emu)) < 0)
		return fail(lab, rc, "creating the emulator");
	if ((rc = make_namespace(lab, PUB)) < 0)
		return rc;
	for (unsigned i = 0; i < s->nnodes; i++) {
		if (stopped(lab))
			return -EINTR;
		if ((rc = make_namespace(lab, (int)i)) < 0)
			return rc;
	}
	step(lab, "namespaces created");
	if ((rc = make_bridge(lab, PUB, PUB_BRIDGE, 0, 0)) < 0)
		return rc;
	for (unsigned i = 0; i < s->nnodes; i++) {
		const struct zt_scn_node *n = &s->nodes[i];

		if (n->kind != ZT_SCN_NAT)
			continue;
		if (stopped(lab))
			return -EINTR;
		if ((rc = nat_sysctls(lab, (int)i)) < 0 ||
		    (rc = make_bridge(lab, (int)i, ZT_NAT_IF_LAN, n->lan_gw, n->lan_prefix)) < 0)
			return rc;
	}
	step(lab, "bridges created");
	for (unsigned i = 0; i < s->nnodes; i++) {
		if (stopped(lab))
			return -EINTR;
		if ((rc = make_uplink(lab, (int)i)) < 0 || (rc = make_uplink2(lab, (int)i)) < 0)
			return rc;
		snprintf(line, sizeof(line), "link of %s up", s->nodes[i].name);
		step(lab, line);
	}
	for (unsigned i = 0; i < s->nnodes; i++) {
		if (s->nodes[i].kind != ZT_SCN_NAT)
			continue;
		if (stopped(lab))
			return -EINTR;
		if ((rc = load_rules(lab, (int)i)) < 0)
			return rc;
		snprintf(line, sizeof(line), "ruleset of %s loaded", s->nodes[i].name);
		step(lab, line);
	}
	for (int i = 0; i < ZT_LAB_SLOTS; i++) {
		zt_nl_close(lab->sk[i]);
		lab->sk[i] = NULL;
	}
	return stopped(lab) ? -EINTR : 0;
}

static int capture_one(struct zt_lab *lab, int slot, const char *ifname, const char *dir)
{
	char path[4096], ns[ZT_RUN_NS_MAX];
	struct nl_sock *sk = NULL;
	int rc, idx;

	if (lab->ncap == ZT_LAB_MAX_CAPTURES)
		return 0;
	ns_name(lab, slot, ns, sizeof(ns));
	snprintf(path, sizeof(path), "%s/%s-%s.pcap", dir, slot_name(lab, slot), ifname);
	if ((rc = enter_slot(lab, slot)) < 0)
		return rc;
	rc = zt_nl_open(&sk);
	idx = rc < 0 ? rc : zt_nl_ifindex(sk, ifname);
	zt_nl_close(sk);
	if (idx < 0)
		rc = fail(lab, idx, "finding %s in %s", ifname, ns);
	else if ((rc = zt_capture_open(lab->loop, idx, path, &lab->cap[lab->ncap])) < 0)
		fail(lab, rc, "capturing %s of %s into %s", ifname, ns, path);
	else
		lab->ncap++;
	if (leave(lab) < 0)
		return -EIO;
	return rc;
}

int zt_lab_capture(struct zt_lab *lab, const char *dir)
{
	const struct zt_scn *s = lab->scn;
	int rc;

	if ((rc = capture_one(lab, PUB, PUB_BRIDGE, dir)) < 0)
		return rc;
	for (unsigned i = 0; i < s->nnodes; i++) {
		if ((rc = capture_one(lab, (int)i, zt_run_uplink_name(&s->nodes[i]), dir)) < 0)
			return rc;
		if (s->nodes[i].kind == ZT_SCN_NAT &&
		    (rc = capture_one(lab, (int)i, ZT_NAT_IF_LAN, dir)) < 0)
			return rc;
	}
	return (int)lab->ncap;
}

static int write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc;

	if (fd < 0)
		return -errno;
	rc = zt_write_all(fd, text, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* The last line of file path (at most cap - 1 bytes of it), "" when there is none. */
static void last_line(const char *path, char *buf, size_t cap)
{
	char tail[512];
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t size;
	char *end, *start;

	buf[0] = 0;
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0)
		n = pread(fd, tail, sizeof(tail) - 1, size > (off_t)sizeof(tail) - 1 ?
			  size - (off_t)sizeof(tail) + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	tail[n] = 0;
	for (end = tail + n; end > tail && (end[-1] == '\n' || end[-1] == '\r'); end--)
		*(end - 1) = 0;
	start = strrchr(tail, '\n');
	start = start ? start + 1 : tail;
	n = (ssize_t)strlen(start);
	if ((size_t)n >= cap)
		n = (ssize_t)cap - 1;
	memcpy(buf, start, (size_t)n);
	buf[n] = 0;
}

/* A program the lab runs in node i's namespace: tinyproxy or miniupnpd. */
struct child_spec {
	const char *prog;        /* its name (argv[0]) */
	const char *kind;        /* "proxy" or "portmap": the files are KIND-NODE.{conf,log} */
	int (*render)(const struct zt_scn_node *n, char *buf, size_t cap);
	struct zt_child_sock socks[2];  /* ready when it has these */
	unsigned nsocks;
};

/*
 * Says how a child that exited during its start went, with the last line it wrote (the
 * log goes with the run directory when the build fails). Returns -ECHILD.
 */
static int child_exited(struct zt_lab *lab, const char *prog, const char *node, int status,
			const char *log)
{
	char why[200];

	last_line(log, why, sizeof(why));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		snprintf(lab->err, sizeof(lab->err), "could not run %s for %s (%s)", prog, node,
			 why[0] ? why : "exit 127; sudo tools/deps.sh lab installs it");
	else if (WIFEXITED(status))
		snprintf(lab->err, sizeof(lab->err), "%s of %s exited with status %d: %s", prog,
			 node, WEXITSTATUS(status), why);
	else
		snprintf(lab->err, sizeof(lab->err), "%s of %s died of signal %d: %s", prog, node,
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0, why);
	return -ECHILD;
}

/* argv of the child: tinyproxy -d -c CONF, miniupnpd -d -f CONF -P PIDFILE. */
static void child_argv(const struct child_spec *c, char *conf, char *pidfile, char **argv)
{
	unsigned k = 0;

	argv[k++] = (char *)c->prog;
	argv[k++] = "-d";
	argv[k++] = !strcmp(c->kind, "proxy") ? "-c" : "-f";
	argv[k++] = conf;
	if (strcmp(c->kind, "proxy")) {
		argv[k++] = "-P";
		argv[k++] = pidfile;
	}
	argv[k] = NULL;
}

/* Writes the configuration, starts the child, records it, waits until it is ready. */
static int start_child(struct zt_lab *lab, int i, const char *dir, const struct child_spec *c,
		       pid_t *ret_pid)
{
	const struct zt_scn_node *n = &lab->scn->nodes[i];
	char conf[160], log[160], pidf[160], text[2048], ip[16], *argv[8];
	int rc, fd, status = 0;
	pid_t pid;

	rc = snprintf(conf, sizeof(conf), "%s/%s-%s.conf", dir, c->kind, n->name);
	if (rc < 0 || (size_t)rc >= sizeof(conf) ||
	    snprintf(log, sizeof(log), "%s/%s-%s.log", dir, c->kind, n->name) >= (int)sizeof(log) ||
	    snprintf(pidf, sizeof(pidf), "%s/%s-%s.pid", dir, c->kind, n->name) >= (int)sizeof(pidf))
		return fail(lab, -ENAMETOOLONG, "the %s files of %s in %s", c->kind, n->name, dir);
	if ((rc = c->render(n, text, sizeof(text))) < 0)
		return fail(lab, rc, "rendering the %s configuration of %s", c->prog, n->name);
	if ((rc = write_file(conf, text, (size_t)rc)) < 0)
		return fail(lab, rc, "writing %s", conf);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(lab, -errno, "creating %s", log);
	child_argv(c, conf, pidf, argv);
	pid = zt_child_spawn(lab->nsfd[i], argv, fd);
	close(fd);
	if (pid < 0)
		return fail(lab, pid, "starting %s for %s", c->prog, n->name);
	*ret_pid = pid;
	if (lab->on_process)
		lab->on_process(lab->ctx, pid, n->name, c->prog);
	rc = zt_child_wait_ready(pid, c->socks, c->nsocks, CHILD_READY_MS, &status);
	if (rc == -ECHILD) {
		*ret_pid = 0;
		return child_exited(lab, c->prog, n->name, status, log);
	}
	if (rc < 0)
		return fail(lab, rc, "%s of %s has not bound %s %s:%u after %d ms", c->prog, n->name,
			    c->socks[status].udp ? "UDP" : "TCP", zt_ip4_str(c->socks[status].addr, ip),
			    c->socks[status].port, CHILD_READY_MS);
	return 0;
}

static int start_proxy(struct zt_lab *lab, int i, const char *dir)
{
	const struct zt_scn_node *n = &lab->scn->nodes[i];
	struct child_spec c = {
		.prog = ZT_PROXY_PROG, .kind = "proxy", .render = zt_proxy_conf_render,
		.socks = { { .addr = n->addr[0], .port = n->proxy_port } }, .nsocks = 1,
	};

	return start_child(lab, i, dir, &c, &lab->proxy_pid[i]);
}

int zt_lab_start_proxies(struct zt_lab *lab, const char *dir)
{
	const struct zt_scn *s = lab->scn;
	char line[128];
	int rc, started = 0;

	for (unsigned i = 0; i < s->nnodes; i++) {
		if (s->nodes[i].kind != ZT_SCN_SERVER || s->nodes[i].proxy == ZT_SCN_PROXY_NONE)
			continue;
		if (stopped(lab))
			return -EINTR;
		if ((rc = start_proxy(lab, (int)i, dir)) < 0)
			return rc;
		snprintf(line, sizeof(line), "proxy of %s listening (" ZT_PROXY_PROG " pid %d)",
			 s->nodes[i].name, (int)lab->proxy_pid[i]);
		step(lab, line);
		started++;
	}
	return started;
}

int zt_lab_start_portmaps(struct zt_lab *lab, const char *dir)
{
	const struct zt_scn *s = lab->scn;
	char line[128];
	int rc, started = 0;

	for (unsigned i = 0; i < s->nnodes; i++) {
		const struct zt_scn_node *n = &s->nodes[i];
		struct child_spec c = { .prog = ZT_PORTMAP_PROG, .kind = "portmap",
					.render = zt_portmap_conf_render };

		if (n->kind != ZT_SCN_NAT || n->portmap == ZT_SCN_PORTMAP_NONE)
			continue;
		if (stopped(lab))
			return -EINTR;
		c.nsocks = zt_portmap_ready_socks(n, c.socks);
		if ((rc = start_child(lab, (int)i, dir, &c, &lab->portmap_pid[i])) < 0)
			return rc;
		snprintf(line, sizeof(line), "port mapping (%s) of %s serving (" ZT_PORTMAP_PROG
			 " pid %d)", zt_scn_portmap_name(n->portmap), n->name,
			 (int)lab->portmap_pid[i]);
		step(lab, line);
		started++;
	}
	return started;
}

/* Empties miniupnpd's chains at NAT i and, unless keep_conntrack, forgets the NAT's state. */
static int forget_mappings(struct zt_lab *lab, int i, bool keep_conntrack)
{
	const struct zt_scn_node *n = &lab->scn->nodes[i];
	char text[512], nfterr[400];
	int rc;

	if ((rc = enter_slot(lab, i)) < 0)
		return rc;
	rc = zt_portmap_flush_render(text, sizeof(text));
	if (rc > 0 && (rc = zt_nft_run(text, nfterr, sizeof(nfterr))) < 0)
		snprintf(lab->err, sizeof(lab->err), "emptying the chains of %s at %s: %s",
			 ZT_PORTMAP_PROG, n->name, nfterr);
	if (rc >= 0 && !keep_conntrack) {
		rc = zt_natrules_render_flush(n, text, sizeof(text));
		if (rc > 0 && (rc = zt_nft_run(text, nfterr, sizeof(nfterr))) < 0)
			snprintf(lab->err, sizeof(lab->err), "flushing the maps of %s: %s", n->name,
				 nfterr);
		if (rc >= 0 && (rc = zt_nl_ct_flush()) < 0)
			fail(lab, rc, "flushing conntrack of %s", n->name);
	}
	if (leave(lab) < 0)
		return -EIO;
	return rc < 0 ? rc : 0;
}

int zt_lab_restart_portmap(struct zt_lab *lab, int i, const char *dir, bool keep_conntrack)
{
	const struct zt_scn_node *n;
	struct child_spec c = { .prog = ZT_PORTMAP_PROG, .kind = "portmap",
				.render = zt_portmap_conf_render };
	int rc;

	if (i < 0 || (unsigned)i >= lab->scn->nnodes)
		return fail(lab, -EINVAL, "no node %d", i);
	n = &lab->scn->nodes[i];
	if (n->kind != ZT_SCN_NAT || n->portmap == ZT_SCN_PORTMAP_NONE)
		return fail(lab, -EINVAL, "'%s' is not a nat with portmap", n->name);
	if (lab->portmap_pid[i] > 0) {
		kill(lab->portmap_pid[i], SIGKILL);
		waitpid(lab->portmap_pid[i], NULL, 0);
		lab->portmap_pid[i] = 0;
	}
	if ((rc = forget_mappings(lab, i, keep_conntrack)) < 0)
		return rc;
	c.nsocks = zt_portmap_ready_socks(n, c.socks);
	return start_child(lab, i, dir, &c, &lab->portmap_pid[i]);
}

void zt_lab_report(const struct zt_lab *lab, void (*fn)(void *ctx, const char *line), void *ctx)
{
	if (lab->emu)
		zt_emu_report(lab->emu, fn, ctx);
}

int zt_lab_teardown(struct zt_lab *lab)
{
	int deleted = 0;

	for (unsigned i = 0; i < ZT_SCN_MAX_NODES; i++) {
		zt_child_stop(lab->proxy_pid[i], KILL_WAIT_MS);
		zt_child_stop(lab->portmap_pid[i], KILL_WAIT_MS);
		lab->proxy_pid[i] = lab->portmap_pid[i] = 0;
	}
	for (unsigned i = 0; i < lab->ncap; i++)
		zt_capture_close(lab->cap[i]);
	lab->ncap = 0;
	zt_emu_free(lab->emu);
	lab->emu = NULL;
	for (int i = 0; i < ZT_LAB_SLOTS; i++) {
		zt_nl_close(lab->sk[i]);
		lab->sk[i] = NULL;
	}
	for (int i = 0; i < ZT_LAB_SLOTS; i++) {
		char ns[ZT_RUN_NS_MAX];

		if (lab->nsfd[i] < 0)
			continue;
		ns_name(lab, i, ns, sizeof(ns));
		zt_ns_kill_members(ns, KILL_WAIT_MS);
		close(lab->nsfd[i]);
		lab->nsfd[i] = -1;
		if (zt_ns_delete(ns) == 0)
			deleted++;
	}
	if (lab->host_ns >= 0) {
		close(lab->host_ns);
		lab->host_ns = -1;
	}
	return deleted;
}

struct name_list {
	char names[ZT_LAB_SLOTS * 4][ZT_RUN_NS_MAX];
	unsigned n;
};

static void collect(const char *name, void *ctx)
{
	struct name_list *l = ctx;

	if (l->n < sizeof(l->names) / sizeof(l->names[0]))
		snprintf(l->names[l->n++], ZT_RUN_NS_MAX, "%s", name);
}

int zt_lab_destroy_by_id(const char *id)
{
	char prefix[ZT_RUN_NS_MAX];
	struct name_list *l;
	int rc, deleted = 0;

	if (!zt_run_id_valid(id))
		return -EINVAL;
	snprintf(prefix, sizeof(prefix), ZT_RUN_NS_PREFIX "%s-", id);
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	rc = zt_ns_list(prefix, collect, l);
	for (unsigned i = 0; rc >= 0 && i < l->n; i++) {
		zt_ns_kill_members(l->names[i], KILL_WAIT_MS);
		if (zt_ns_delete(l->names[i]) == 0)
			deleted++;
	}
	free(l);
	return rc < 0 ? rc : deleted;
}

int zt_lab_set_link(struct zt_lab *lab, unsigned i, const struct zt_scn_link *l)
{
	if (!lab->emu || i >= lab->scn->nnodes)
		return -ENOENT;
	/* the emulator's link is named after the node (make_uplink) */
	return zt_emu_set(lab->emu, lab->scn->nodes[i].name, l);
}

int zt_lab_flush_nat(const char *id, const struct zt_scn_node *n, char *err, size_t errcap)
{
	char ns[ZT_RUN_NS_MAX], text[512], nfterr[400];
	int self, fd, rc;

	if (n->kind != ZT_SCN_NAT) {
		snprintf(err, errcap, "'%s' is not a nat", n->name);
		return -EINVAL;
	}
	zt_run_ns_name(id, n->name, ns, sizeof(ns));
	if ((fd = zt_ns_open(ns)) < 0) {
		snprintf(err, errcap, "namespace %s: %s", ns, strerror(-fd));
		return fd;
	}
	if ((self = zt_ns_self()) < 0) {
		close(fd);
		snprintf(err, errcap, "own namespace: %s", strerror(-self));
		return self;
	}
	rc = zt_ns_enter(fd);
	if (rc < 0) {
		snprintf(err, errcap, "entering %s: %s", ns, strerror(-rc));
		goto out_close;
	}
	rc = zt_natrules_render_flush(n, text, sizeof(text));
	if (rc > 0 && (rc = zt_nft_run(text, nfterr, sizeof(nfterr))) < 0)
		snprintf(err, errcap, "flushing the maps of %s: %s", n->name, nfterr);
	if (rc >= 0 && (rc = zt_nl_ct_flush()) < 0)
		snprintf(err, errcap, "flushing conntrack of %s: %s", n->name, strerror(-rc));
	if (rc >= 0 && n->lan6 && (rc = zt_nl_ct_flush_family(AF_INET6)) < 0)
		snprintf(err, errcap, "flushing IPv6 conntrack of %s: %s", n->name, strerror(-rc));
	if (zt_ns_enter(self) < 0 && rc >= 0) {
		rc = -errno;
		snprintf(err, errcap, "returning to the own namespace: %s", strerror(errno));
	}
out_close:
	close(self);
	close(fd);
	return rc < 0 ? rc : 0;
}
