/*
 * libFuzzer target: the lab scenario file parser (netns/scenario.c, zt_scn_parse).
 *
 * The input is the file text (an exact-size copy, not NUL-terminated, so ASan sees any
 * read past it). The parser must return 0 or one of its documented codes with an error
 * message naming the file; a scenario that parses must be consistent: node names
 * unique and findable, NATs in front of nodes, depth within ZT_SCN_MAX_DEPTH, each
 * link's settings printable, a port pattern other than 'preserve' only on symmetric
 * NATs, proxies only on servers (with a port), a NAT's
 * 'egress proxy' pointing at such a server's address and port, and IPv6 (public6,
 * lan6, addr6) only in a dual-stack lab, in 2001:db8::/32, lan6 only on top NATs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "../../netns/scenario.h"
#include "fuzzcheck.h"

static struct zt_scn scn;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_scn_error err;
	char *text = malloc(size ? size : 1);
	char buf[256];
	int rc;

	if (!text)
		return 0;
	if (size)
		memcpy(text, data, size);
	rc = zt_scn_parse(&scn, text, size, "f.lab", &err);
	if (rc < 0) {
		check(rc == ZT_ESYNTAX || rc == ZT_ECONF_KEY || rc == ZT_ECONF_VALUE ||
		      rc == ZT_ECONF_MISSING || rc == ZT_ECONF_REF || rc == ZT_ERANGE ||
		      rc == ZT_ETOOBIG);
		check(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		check(strncmp(err.msg, "f.lab", 5) == 0);
		goto out_free;
	}
	check(rc == 0);
	check(scn.nnodes <= ZT_SCN_MAX_NODES);
	for (unsigned i = 0; i < scn.nnodes; i++) {
		const struct zt_scn_node *n = &scn.nodes[i];
		size_t len = strnlen(n->name, sizeof(n->name));
		check(len > 0 && len <= ZT_SCN_NAME_MAX);
		check(zt_scn_find(&scn, n->name) == (int)i);
		check(n->naddr >= 1 && n->naddr <= ZT_SCN_MAX_ADDRS);
		check(n->up >= -1 && n->up < (int)scn.nnodes);
		if (n->up >= 0) /* ("host NAME behind public" has up == -1) */
			check(scn.nodes[n->up].kind == ZT_SCN_NAT && n->up != (int)i);
		check(zt_scn_depth(&scn, i) <= ZT_SCN_MAX_DEPTH);
		(void)zt_scn_public_addr(&scn, i);
		check(zt_scn_up_prefix(&scn, i) <= 32);
		if (n->kind == ZT_SCN_NAT) {
			check(n->lan_prefix <= 32 && zt_nat_type_name(n->type) != NULL);
			/* a pattern only symmetric NATs choose; the cones preserve */
			check(strcmp(zt_scn_ports_name(n->ports), "?") != 0);
			check(n->type == ZT_NAT_SYMMETRIC || n->ports == ZT_SCN_PORTS_PRESERVE);
			check(strcmp(zt_scn_portmap_name(n->portmap), "?") != 0);
		} else {
			check(n->portmap == ZT_SCN_PORTMAP_NONE);
		}
		if (n->kind != ZT_SCN_SERVER)
			check(n->proxy == ZT_SCN_PROXY_NONE && n->proxy_port == 0);
		else
			check((n->proxy == ZT_SCN_PROXY_NONE) == (n->proxy_port == 0));
		check(strcmp(zt_scn_proxy_name(n->proxy), "?") != 0);
		if (n->egress_proxy) {
			const struct zt_scn_node *px;

			check(n->kind == ZT_SCN_NAT && n->egress_node < scn.nnodes);
			px = &scn.nodes[n->egress_node];
			check(px->kind == ZT_SCN_SERVER && px->proxy != ZT_SCN_PROXY_NONE);
			check(n->egress_addr == px->addr[0] && n->egress_port == px->proxy_port);
		}
		/* IPv6 only in a dual-stack lab, only documentation addresses, a lan6 only
		 * on a NAT of the public segment, which then has a wan address too */
		if (n->has6)
			check(scn.has6 && n->addr6[0] == 0x20 && n->addr6[1] == 0x01 &&
			      n->addr6[2] == 0x0d && n->addr6[3] == 0xb8);
		if (n->lan6)
			check(n->kind == ZT_SCN_NAT && n->up < 0 && n->has6 &&
			      n->lan6_prefix >= ZT_SCN_V6_MIN_PREFIX &&
			      n->lan6_prefix <= ZT_SCN_V6_MAX_PREFIX &&
			      memcmp(n->lan6_gw, n->lan6_net, 16) != 0);
		check(strcmp(zt_scn_fw6_name(n->fw6), "?") != 0);
		check(zt_scn_node_v6(&scn, i) == (n->has6 || n->lan6));
		if (n->has6)
			check(zt_ip6_str(n->addr6, buf) == buf && strlen(buf) > 0);
		rc = zt_scn_link_str(&n->link, buf, sizeof(buf));
		check(rc >= 0 && (size_t)rc == strlen(buf));
		if (rc > 0)
			check(zt_scn_link_str(&n->link, buf, (size_t)rc) == -ENOBUFS);
	}
out_free:
	free(text);
	return 0;
}
