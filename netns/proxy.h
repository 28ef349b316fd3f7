/*
 * The lab's HTTP proxies: tinyproxy (Debian package tinyproxy-bin: the executable only,
 * no system service) in the namespace of each server with 'proxy allow' or 'proxy deny'
 * (docs/scenario-format.md). The configuration is rendered here (pure, unit-tested);
 * the harness (lab.c) writes it into the run directory, starts tinyproxy in the
 * foreground as a child of the supervisor (netns/child.h), records its pid, and stops
 * it by that pid.
 */
#ifndef ZT_NETNS_PROXY_H
#define ZT_NETNS_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

#define ZT_PROXY_PROG "tinyproxy"
#define ZT_PROXY_USER "nobody"     /* tinyproxy drops root for these once it listens */
#define ZT_PROXY_GROUP "nogroup"

/*
 * Writes tinyproxy's configuration for server node n into buf: listen on
 * n->addr[0]:n->proxy_port; clients from any address (the lab is isolated, every client
 * is a lab node); log to standard output only, never to syslog; run as
 * ZT_PROXY_USER:ZT_PROXY_GROUP after binding. 'allow': no ConnectPort line, so
 * tinyproxy tunnels CONNECT to every port (connect-ports.c: an empty list allows all);
 * 'deny': 'ConnectPort 0' alone, so a CONNECT to any real port is answered 403.
 * Returns the length without the NUL, -ENOBUFS when cap is too small, -EINVAL when n is
 * not a server with a proxy.
 */
int zt_proxy_conf_render(const struct zt_scn_node *n, char *buf, size_t cap);

/*
 * True when the text of a /proc/PID/net/tcp file lists a socket in state LISTEN on
 * addr:port (addr in host byte order). Lines that do not parse are skipped.
 */
bool zt_proxy_tcp_listening(const char *text, uint32_t addr, uint16_t port);

#endif
