/*
 * Building and tearing down one lab run from a parsed scenario.
 *
 * Namespaces: one per node ("ztlab-ID-NODE") and one for the public segment
 * ("ztlab-ID-public") holding the bridge br0. A NAT's lan is a bridge "lan" in the
 * NAT's namespace carrying the NAT's gw address. Every node reaches its segment
 * through its uplink ("wan" on NATs, "eth0" elsewhere) whose other end is the port
 * "to-NODE" on the segment's bridge: a veth pair, or for an impaired link a TAP
 * device on each side joined by the emulator (netns/emu.h). Nodes behind a NAT get
 * a default route to it; nothing else has a default route, and nothing is attached
 * to the machine's own interfaces. IPv6 is off in every lab namespace except, in a
 * dual-stack lab (public6), where a node has an IPv6 address or routes a lan6. Servers with a
 * proxy get a tinyproxy (netns/proxy.h), NATs with a portmap a miniupnpd
 * (netns/portmap.h), children of the caller, stopped by teardown.
 */
#ifndef ZT_NETNS_LAB_H
#define ZT_NETNS_LAB_H

#include <stdbool.h>
#include <sys/types.h>

#include "io/loop.h"
#include "runenv.h"
#include "scenario.h"

#define ZT_LAB_SLOTS (ZT_SCN_MAX_NODES + 1) /* nodes, then the public segment */
#define ZT_LAB_MAX_CAPTURES (3 * ZT_SCN_MAX_NODES + 1)

struct zt_emu;
struct zt_capture;
struct nl_sock;

struct zt_lab {
	const struct zt_scn *scn;
	char id[ZT_RUN_ID_MAX + 1];
	struct zt_loop *loop;
	/* polled between steps: true stops the build with -EINTR */
	bool (*should_stop)(void *ctx);
	/* told each namespace name just before it is created (to record it) */
	void (*on_namespace)(void *ctx, const char *name);
	/* one line per step done, for the log */
	void (*on_step)(void *ctx, const char *what);
	/* told each process the lab starts, just after (to record it) */
	void (*on_process)(void *ctx, pid_t pid, const char *node, const char *prog);
	void *ctx;
	char err[512];                      /* what failed, after zt_lab_build() < 0 */

	/* private */
	int host_ns;
	int nsfd[ZT_LAB_SLOTS];
	struct nl_sock *sk[ZT_LAB_SLOTS];
	struct zt_emu *emu;
	struct zt_capture *cap[ZT_LAB_MAX_CAPTURES];
	unsigned ncap;
	pid_t proxy_pid[ZT_SCN_MAX_NODES];  /* 0: none */
	pid_t portmap_pid[ZT_SCN_MAX_NODES];
};

/* A moving host's second uplink (scenario 'at TIME host H move NAT'). */
#define ZT_LAB_IF2 "eth1"

/*
 * Moves host i's uplink: behind its second NAT (second: eth0's address removed and
 * eth0 down, eth1 up with its address there and the default route via that NAT) or
 * back behind its own. Returns 0 or -errno with lab->err set.
 */
int zt_lab_move_host(struct zt_lab *lab, unsigned i, bool second);

/* Sets the emulated link of node i to l's delay, jitter, loss and rate from now on.
 * Returns 0, or -ENOENT when that link is not emulated (zt_scn_link_impaired). */
int zt_lab_set_link(struct zt_lab *lab, unsigned i, const struct zt_scn_link *l);

/* Prepares lab (no system changes). Returns 0 or -errno (cannot open own namespace). */
int zt_lab_init(struct zt_lab *lab, const struct zt_scn *s, const char *id, struct zt_loop *loop);

/*
 * Creates everything. Returns 0, -EINTR when should_stop said so, or -errno with
 * lab->err saying which step failed. On failure, what was made is still there:
 * call zt_lab_teardown().
 */
int zt_lab_build(struct zt_lab *lab);

/*
 * Starts a capture on every interface of the lab except the bridge ports (each
 * node's uplink and lan, the public bridge) into dir/NODE-IFNAME.pcap. Returns the
 * number of files, or -errno with lab->err set.
 */
int zt_lab_capture(struct zt_lab *lab, const char *dir);

/*
 * Starts tinyproxy on every server with a proxy (after zt_lab_build), its configuration
 * and output in dir/proxy-NODE.conf and dir/proxy-NODE.log, and waits until each
 * listens. Returns the number started, or -errno with lab->err set (what was started
 * is stopped by zt_lab_teardown()).
 */
int zt_lab_start_proxies(struct zt_lab *lab, const char *dir);

/*
 * Starts miniupnpd on every NAT with a portmap (after zt_lab_build), its configuration,
 * output and pid file in dir/portmap-NODE.{conf,log,pid}, and waits until it has bound
 * its sockets (netns/portmap.h). Returns the number started, or -errno with lab->err
 * set (what was started is stopped by zt_lab_teardown()).
 */
int zt_lab_start_portmaps(struct zt_lab *lab, const char *dir);

/*
 * Restarts the miniupnpd of NAT node i the way a router restart loses its port
 * mappings: SIGKILL (it saves nothing) and reaped, its chains emptied (netns/portmap.h),
 * unless keep_conntrack also the NAT's conntrack table and learned maps (connections
 * through a mapping end with it), then started again as zt_lab_start_portmaps() does
 * (dir: the run directory) and waited for. Returns 0 with lab->portmap_pid[i] the new
 * daemon, or -errno with lab->err set (-EINVAL: node i has no portmap).
 */
int zt_lab_restart_portmap(struct zt_lab *lab, int i, const char *dir, bool keep_conntrack);

/* Writes the emulator's counters, one line per link direction, to fn. */
void zt_lab_report(const struct zt_lab *lab, void (*fn)(void *ctx, const char *line), void *ctx);

/*
 * Stops the proxies and port-mapping daemons (by pid), the emulator and captures, terminates every process
 * inside the lab's namespaces, and deletes the namespaces (their links go with them). Safe after a
 * partial build and twice. Returns the number of namespaces deleted.
 */
int zt_lab_teardown(struct zt_lab *lab);

/*
 * Deletes every namespace of run id found under /run/netns (after killing the
 * processes inside): for runs whose supervisor is gone. Returns the count or -errno.
 */
int zt_lab_destroy_by_id(const char *id);

/*
 * Forgets what NAT node n of run id has learned: its dynamic maps and sets and its
 * conntrack table. Returns 0 or -errno with err filled.
 */
int zt_lab_flush_nat(const char *id, const struct zt_scn_node *n, char *err, size_t errcap);

#endif
