#include <errno.h>
#include <stdio.h>

#include "child.h"
#include "proxy.h"

int zt_proxy_conf_render(const struct zt_scn_node *n, char *buf, size_t cap)
{
	char ip[16];
	int len;

	if (n->kind != ZT_SCN_SERVER || n->proxy == ZT_SCN_PROXY_NONE || !n->proxy_port)
		return -EINVAL;
	len = snprintf(buf, cap,
		       "# tinyproxy of lab server '%s' (proxy %s), written by ztna-lab\n"
		       "User " ZT_PROXY_USER "\n"
		       "Group " ZT_PROXY_GROUP "\n"
		       "Listen %s\n"
		       "Port %u\n"
		       "Timeout 600\n"
		       "MaxClients 100\n"
		       "# standard output only (a file in the run directory), never syslog\n"
		       "Syslog Off\n"
		       "LogLevel Info\n"
		       "# the lab is isolated: every client is a lab node\n"
		       "Allow 0.0.0.0/0\n"
		       "%s",
		       n->name, zt_scn_proxy_name(n->proxy), zt_ip4_str(n->addr[0], ip),
		       n->proxy_port,
		       n->proxy == ZT_SCN_PROXY_DENY ?
		       "# no real port is listed: every CONNECT gets 403\nConnectPort 0\n" :
		       "# no ConnectPort line: CONNECT to every port\n");
	if (len < 0 || (size_t)len >= cap) {
		if (cap)
			buf[0] = 0;
		return -ENOBUFS;
	}
	return len;
}

bool zt_proxy_tcp_listening(const char *text, uint32_t addr, uint16_t port)
{
	return zt_child_proc_net_has(text, addr, port, ZT_CHILD_TCP_LISTEN);
}
