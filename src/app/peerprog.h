/*
 * The program around an agent or a connector (node/peer.h): settings from a config
 * file and options (app/conf.h), TLS contexts from PEM files (a dev PKI directory
 * gives the defaults), one UDP socket and the event loop (app/nodeio.h), TCP and UDP
 * forwarding (app/fwd_tcp.h, app/fwd_udp.h), logs (app/log.h), optional qlog and TLS
 * key log files. ztna-agent and ztna-connector are this plus their forwards or
 * services.
 *
 * Direct path: host candidates are the bound address, or, when bound to a wildcard,
 * the usable interface addresses (io/ifaddrs.h), kept current by a netlink monitor
 * (a change re-gathers every session: zt_peer_netchange()).
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

#include "app/conf.h"
#include "app/fwd_tcp.h"
#include "app/fwd_udp.h"
#include "app/fwdctx.h"
#include "app/nodeio.h"
#include "app/peerctl.h"
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
};

struct zt_tcplisten;

struct zt_peerprog {
	const char *prog;                  /* "ztna-agent" */
	enum zt_ctrl_role role;

	/* Settings. */
	struct zt_addr intermediate;
	char intermediate_name[256];
	char pki[PATH_MAX], name[64], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	uint8_t token[ZT_CTRL_TOKEN_MAX];
	size_t token_len;
	struct zt_addr bind;
	uint64_t keepalive, idle_timeout, open_timeout, flow_idle, inner_idle, backoff_max;
	uint64_t refusal_backoff_max;
	uint32_t check_rate, check_rate_dest, check_rate_total, check_candidates; /* 0: defaults */
	uint32_t agent_max_sessions, agent_max_flows, agent_max_sockets, fd_reserve; /* connector */
	uint64_t agent_max_bytes;
	char qlog_dir[PATH_MAX], keylog[PATH_MAX];
	int verbose;
	struct zt_fwdspec specs[ZT_PEERPROG_SPECS];
	size_t nspecs;
	bool direct_off;                   /* direct off: relay only */
	char ifaces[256], ex_ifaces[256];  /* host-candidate interfaces ("eth0,wl*") */
	uint64_t cooldown, ka_direct;      /* 0: the path manager's defaults */
	char control[108];                 /* control socket; "none": no socket */
	bool control_set;

	/* Running. */
	struct zt_rng rng;
	struct zt_loop *loop;
	struct zt_nodeio io;
	struct zt_peer *peer;
	struct zt_fwdctx fwd;
	struct zt_tls_ctx *outer_tls, *inner_tls;
	struct zt_peer_service services[ZT_PEERPROG_SPECS];
	struct zt_tcplisten *tcp_listeners[ZT_PEERPROG_SPECS];
	struct zt_udplisten *udp_listeners[ZT_PEERPROG_SPECS];
	FILE *keylog_f;
	unsigned qlog_seq;
	struct zt_if_opts ifopts;          /* parsed ifaces / ex_ifaces */
	bool watch_hosts;                  /* bound to a wildcard: host addresses by netlink */
	struct zt_netmon *netmon;
	struct zt_watch netmon_w;
	struct zt_timer netmon_t;          /* re-lists a moment after the last event */
	char hosts_str[512];               /* the host addresses in use, for change logs */
	bool ifaddrs_warned;
	struct zt_peerctl ctl;
};

/* The keys every peer program has; *ctx is a struct zt_peerprog. */
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
