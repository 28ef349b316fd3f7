/*
 * The program around an agent or a connector (node/peer.h), in the daemons' shell
 * (app/daemon.h: settings from options and config files, logs, key log and qlog
 * files, the event loop and signals, the UDP socket): TLS contexts from PEM files (a
 * dev PKI directory gives the defaults), TCP and UDP forwarding (app/fwd_tcp.h,
 * app/fwd_udp.h). ztna-agent and ztna-connector are this plus their forwards or
 * services.
 *
 * Direct path: host candidates are the bound address, or, when bound to a wildcard,
 * the usable interface addresses (io/ifaddrs.h), kept current by a netlink monitor
 * (a change re-gathers every session: zt_peer_netchange()). With --portmap, the node
 * asks the gateway (--portmap-gateway, else the default route's next hop, looked up
 * again on the monitor's events) for a port mapping (docs/portmap.md).
 *
 * Control socket (app/peerctl.h): `ztna status` and `ztna ping` (default path
 * /run/ztna/ROLE.sock as root, $XDG_RUNTIME_DIR/ztna-ROLE.sock otherwise; a default
 * path in use by another program is skipped with a warning).
 *
 * Signals: SIGINT and SIGTERM stop the program (with a final stats line), SIGHUP logs
 * a stats line (counters of the node, the socket and the forwarding).
 */
#ifndef ZT_APP_PEERPROG_H
#define ZT_APP_PEERPROG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "app/sprayio.h"
#include "app/conf.h"
#include "app/daemon.h"
#include "app/fwd_tcp.h"
#include "app/fwd_udp.h"
#include "app/fwdctx.h"
#include "app/metrics.h"
#include "app/nodeio.h"
#include "app/outertcp.h"
#include "app/peerctl.h"
#include "app/tunshell.h"
#include "app/upnp.h"
#include "core/addr.h"
#include "core/ctrl.h"
#include "core/rng.h"
#include "io/ifaddrs.h"
#include "node/peer.h"

#define ZT_PEERPROG_SPECS 32

/* A forward (agent: where to listen) or a service (connector: what to reach). */
struct zt_fwdspec {
	bool udp;
	struct zt_addr addr;
	char service[64];
	char cert[PATH_MAX], key[PATH_MAX];   /* connector: the service's certificate */
	struct zt_tls_ctx *tls;
	bool route_only;                      /* connector: a routed service, no target */
};

struct zt_tcplisten;

struct zt_peerprog {
	struct zt_daemon d;                /* .prog = "ztna-agent"; files, logs, loop, socket */
	enum zt_ctrl_role role;

	/* Settings: the node's configuration, which most keys write straight into (the
	 * rest of it is filled at setup), and ours. */
	struct zt_peer_config pc;
	char intermediate_name[256];
	char name[64];
	uint8_t token[ZT_CTRL_TOKEN_MAX];  /* pc.token_len bytes */
	struct zt_addr bind;
	uint32_t fd_reserve;               /* connector; 0: the default */
	struct zt_fwdspec specs[ZT_PEERPROG_SPECS];
	size_t nspecs;
	char ifaces[256], ex_ifaces[256];  /* host-candidate interfaces ("eth0,wl*") */
	char control[108];                 /* control socket; "none": no socket */
	bool control_set;
	char tun_name[IFNAMSIZ];           /* --tun: the packet tunnel's device */
	bool transport_set;                /* --transport given (else auto) */
	char proxy[600];                   /* --proxy URL or "none" */
	char intermediate_host[256];       /* --intermediate's HOST as given (no_proxy) */
	bool proxy_set;
	bool tun_on;
	struct zt_route routes[ZT_CTRL_HELLO_ROUTES_MAX]; /* connector: --route */
	size_t nroutes;
	struct zt_addr portmap_gw;         /* --portmap-gateway (family 0: the default route's) */
	uint32_t spray_sockets;            /* --spray-sockets; 0: ZT_BIRTHDAY_SOCKETS */
	bool spray_set;
	bool spray_auto;                   /* --spray-auto on */
	struct zt_timer spray_t;           /* opens them after NAT detection found random */

	/* Running. */
	struct zt_peer *peer;
	struct zt_fwdctx fwd;
	struct zt_peer_service services[ZT_PEERPROG_SPECS];
	struct zt_tcplisten *tcp_listeners[ZT_PEERPROG_SPECS];
	struct zt_udplisten *udp_listeners[ZT_PEERPROG_SPECS];
	struct zt_if_opts ifopts;          /* parsed ifaces / ex_ifaces */
	bool watch_hosts;                  /* bound to a wildcard: host addresses by netlink */
	struct zt_netmon *netmon;
	struct zt_watch netmon_w;
	struct zt_timer netmon_t;          /* re-lists a moment after the last event */
	char hosts_str[512];               /* the host addresses in use, for change logs */
	bool ifaddrs_warned;
	struct zt_peerctl ctl;
	struct zt_addr metrics_at;         /* --metrics; family 0: off */
	struct zt_metrics *metrics;
	uint64_t started;
	struct zt_tunshell tun;            /* the packet tunnel, when on */
	struct zt_otcp_client otcp;        /* the outer connection's TCP socket */
	struct zt_addr pm_gw, pm_local;    /* port mapping: the route given to the node */
	int pm_err;                        /* ... or why there is none (logged once) */
	struct zt_upnp *upnp;              /* --portmap upnp|auto: the UPnP IGD client */
	struct zt_sprayio spray;           /* birthday probing's spray sockets, when opened */
};

/* The keys every peer program has (besides zt_daemon_keys); ctx is a struct
 * zt_peerprog, and most write into its pc. */
extern const struct zt_conf_key zt_peerprog_keys[];
extern const size_t zt_peerprog_nkeys;
/* The agent's "forward" key and the connector's "service", "service-cert" and
 * "service-key" keys. */
extern const struct zt_conf_key zt_peerprog_agent_keys[];
extern const size_t zt_peerprog_agent_nkeys;
extern const struct zt_conf_key zt_peerprog_connector_keys[];
extern const size_t zt_peerprog_connector_nkeys;

/*
 * The whole program: parse argv (with the role's keys; -v/-vv raise the log level,
 * --help prints usage), set up, run until a signal stops it. summary is the first
 * line of --help. Returns the exit status: 0, 1 (setup failed), 2 (bad usage).
 */
int zt_peerprog_main(struct zt_peerprog *pp, int argc, char **argv, const char *summary);

#endif
