/*
 * How a lab run is named and described to scripts. A run has an id ([a-z0-9], at most
 * ZT_RUN_ID_MAX); every namespace it creates is "ztlab-ID-NODE" (the public segment's
 * "ztlab-ID-public"), its state lives in /run/ztna-lab/ID, and the env file (shell
 * syntax, for `. FILE`) lists the namespaces and addresses of every node.
 */
#ifndef ZT_NETNS_RUNENV_H
#define ZT_NETNS_RUNENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "scenario.h"

#define ZT_RUN_ID_MAX 12
#define ZT_RUN_NS_PREFIX "ztlab-"
#define ZT_RUN_ROOT "/run/ztna-lab"
#define ZT_RUN_PUBLIC "public"
#define ZT_RUN_NS_MAX (sizeof(ZT_RUN_NS_PREFIX) + ZT_RUN_ID_MAX + 1 + ZT_SCN_NAME_MAX + 1)

/* True when id is 1..ZT_RUN_ID_MAX characters of [a-z0-9]. */
bool zt_run_id_valid(const char *id);

/* Writes the namespace name of node (or ZT_RUN_PUBLIC) in run id. Returns 0 or -ENOBUFS. */
int zt_run_ns_name(const char *id, const char *node, char *buf, size_t cap);

/* The interface a node uses toward its upstream segment: "wan" for NATs, else "eth0". */
const char *zt_run_uplink_name(const struct zt_scn_node *n);

/* The name of node n's port on its upstream segment's bridge: "to-NAME" (<= 15 chars). */
int zt_run_port_name(const struct zt_scn_node *n, char *buf, size_t cap);

/*
 * Writes the env file for scenario s run as id (capture_dir may be NULL), from
 * scenario file path. Returns 0, or -EIO when writing failed.
 */
int zt_run_env_write(const struct zt_scn *s, const char *id, const char *path,
		     const char *capture_dir, FILE *f);

#endif
