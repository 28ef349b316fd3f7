#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "../../netns/scenario.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static const char example[] =
	"# every kind of line\n"
	"lab demo\n"
	"seed 42\n"
	"\n"
	"public 203.0.113.0/24\r\n"
	"server stun addr 203.0.113.10 addr 203.0.113.11   # two for RFC 5780\n"
	"server peer\n"
	"nat cgn type symmetric lan 100.64.0.0/24 wan 203.0.113.1 timeout 30\n"
	"nat home type full-cone behind cgn lan 192.168.1.0/24 hairpin on timeout 60s\n"
	"nat office type address-restricted lan 10.1.0.0/16 gw 10.1.255.254 udp block\n"
	"host alice behind home\n"
	"host bob behind home addr 192.168.1.2\n"
	"host carol behind office\n"
	"link alice delay 10ms jitter 1.5ms loss 0.25% rate 10mbit mtu 1400 queue 50\n"
	"link cgn delay 200us\n";

static struct zt_scn *parse_ok(const char *text)
{
	struct zt_scn *s = malloc(sizeof(*s));
	struct zt_scn_error err;
	int rc;

	assert_non_null(s);
	rc = zt_scn_parse(s, text, strlen(text), "t.lab", &err);
	if (rc != 0)
		fail_msg("unexpected error %d: %s", rc, err.msg);
	return s;
}

static const struct zt_scn_node *node(const struct zt_scn *s, const char *name)
{
	int i = zt_scn_find(s, name);

	assert_true(i >= 0);
	return &s->nodes[i];
}

static void parses_every_kind_of_line(void **state)
{
	struct zt_scn *s = parse_ok(example);
	const struct zt_scn_node *n;

	(void)state;
	assert_string_equal(s->name, "demo");
	assert_int_equal(s->seed, 42);
	assert_int_equal(s->pub_net, IP(203, 0, 113, 0));
	assert_int_equal(s->pub_prefix, 24);
	assert_int_equal(s->nnodes, 8);

	n = node(s, "stun");
	assert_int_equal(n->kind, ZT_SCN_SERVER);
	assert_int_equal(n->up, -1);
	assert_int_equal(n->naddr, 2);
	assert_int_equal(n->addr[0], IP(203, 0, 113, 10));
	assert_int_equal(n->addr[1], IP(203, 0, 113, 11));
	assert_int_equal(n->line, 6);

	n = node(s, "cgn");
	assert_int_equal(n->kind, ZT_SCN_NAT);
	assert_int_equal(n->type, ZT_NAT_SYMMETRIC);
	assert_int_equal(n->addr[0], IP(203, 0, 113, 1));
	assert_int_equal(n->lan_gw, IP(100, 64, 0, 1));
	assert_int_equal(n->timeout_s, 30);
	assert_false(n->hairpin);
	assert_false(n->block_udp);
	assert_true(n->link.set);
	assert_int_equal(n->link.delay_ns, 200 * ZT_US);

	n = node(s, "home");
	assert_int_equal(n->type, ZT_NAT_FULL_CONE);
	assert_int_equal(n->up, zt_scn_find(s, "cgn"));
	assert_true(n->hairpin);
	assert_int_equal(n->timeout_s, 60);
	assert_int_equal(n->lan_net, IP(192, 168, 1, 0));
	assert_int_equal(n->lan_prefix, 24);
	/* automatic: first free host address of cgn's lan after its gw */
	assert_int_equal(n->addr[0], IP(100, 64, 0, 2));

	n = node(s, "office");
	assert_int_equal(n->type, ZT_NAT_ADDR_RESTRICTED);
	assert_int_equal(n->lan_gw, IP(10, 1, 255, 254));
	assert_true(n->block_udp);
	assert_int_equal(n->timeout_s, 120);
	assert_int_equal(n->addr[0], IP(203, 0, 113, 3)); /* .1 is cgn's, .2 went to peer (earlier line) */

	n = node(s, "alice");
	assert_int_equal(n->kind, ZT_SCN_HOST);
	/* bob took .2 explicitly (defined later, but explicit addresses go first) */
	assert_int_equal(n->addr[0], IP(192, 168, 1, 3));
	assert_true(n->link.set);
	assert_int_equal(n->link.delay_ns, 10 * ZT_MS);
	assert_int_equal(n->link.jitter_ns, 1500 * ZT_US);
	assert_int_equal(n->link.loss_ppm, 2500);
	assert_int_equal(n->link.rate_bps, 10000000);
	assert_int_equal(n->link.mtu, 1400);
	assert_int_equal(n->link.queue, 50);
	assert_true(zt_scn_link_impaired(&n->link));

	assert_int_equal(node(s, "carol")->addr[0], IP(10, 1, 0, 1));
	assert_int_equal(node(s, "peer")->addr[0], IP(203, 0, 113, 2));
	assert_false(node(s, "bob")->link.set);
	free(s);
}

static void public_address_and_depth(void **state)
{
	struct zt_scn *s = parse_ok(example);

	(void)state;
	assert_int_equal(zt_scn_depth(s, (unsigned)zt_scn_find(s, "alice")), 2);
	assert_int_equal(zt_scn_depth(s, (unsigned)zt_scn_find(s, "home")), 1);
	assert_int_equal(zt_scn_depth(s, (unsigned)zt_scn_find(s, "stun")), 0);
	assert_int_equal(zt_scn_public_addr(s, (unsigned)zt_scn_find(s, "alice")), IP(203, 0, 113, 1));
	assert_int_equal(zt_scn_public_addr(s, (unsigned)zt_scn_find(s, "carol")), IP(203, 0, 113, 3));
	assert_int_equal(zt_scn_public_addr(s, (unsigned)zt_scn_find(s, "stun")), IP(203, 0, 113, 10));
	assert_int_equal(zt_scn_up_prefix(s, (unsigned)zt_scn_find(s, "carol")), 16);
	assert_int_equal(zt_scn_find(s, "nobody"), -1);
	free(s);
}

static void default_name_and_seed(void **state)
{
	struct zt_scn s;
	struct zt_scn_error err;
	const char *t = "public 10.0.0.0/8\nserver a\n";

	(void)state;
	assert_int_equal(zt_scn_parse(&s, t, strlen(t), "dir/sub/my-lab.v2.lab", &err), 0);
	assert_string_equal(s.name, "my-lab");
	assert_int_equal(s.seed, 1);
	assert_int_equal(s.nodes[0].addr[0], IP(10, 0, 0, 1));
}

struct bad {
	const char *text;
	int rc;
	int line;
	const char *says;  /* a piece of the message */
};

static const struct bad bad_files[] = {
	{ "public 10.0.0.0/24\nrouter r\n", ZT_ECONF_KEY, 2, "expected lab, seed, public" },
	{ "public 10.0.0.0/24\nnat n lan 192.168.0.0/24\n", ZT_ECONF_MISSING, 2, "needs 'type" },
	{ "public 10.0.0.0/24\nnat n type fullcone lan 192.168.0.0/24\n", ZT_ECONF_VALUE, 2,
	  "expected a NAT type (full-cone," },
	{ "public 10.0.0.0/24\nnat n type symmetric\n", ZT_ECONF_MISSING, 2, "needs 'lan CIDR'" },
	{ "public 10.0.0.0/24\n\nhost h behind nowhere\n", ZT_ECONF_REF, 3, "'nowhere', which is not defined" },
	{ "public 10.0.0.0/24\nserver s\nhost h behind s\n", ZT_ECONF_REF, 3, "which is not a nat" },
	{ "public 10.0.0.0/24\nhost h\n", ZT_ECONF_MISSING, 2, "needs 'behind NAT'" },
	{ "public 10.0.0.0/24\nserver s addr\n", ZT_ESYNTAX, 2, "expected a value after 'addr'" },
	{ "public 10.0.0.0/24\nserver s\nserver s\n", ZT_ECONF_VALUE, 3, "already defined at line 2" },
	{ "server s\n", ZT_ECONF_MISSING, 0, "no 'public CIDR' line" },
	{ "public 10.0.0.0/24\n", ZT_ECONF_MISSING, 0, "no server, nat or host" },
	{ "public 10.0.0.1/24\nserver s\n", ZT_ECONF_VALUE, 1, "did you mean 10.0.0.0/24?" },
	{ "public 10.0.0.0/31\nserver s\n", ZT_ERANGE, 1, "prefix length from 8 to 30" },
	{ "public 10.0.0.0\nserver s\n", ZT_ECONF_VALUE, 1, "expected a network like" },
	{ "public 10.0.0.0/24\npublic 10.0.1.0/24\n", ZT_ECONF_VALUE, 2, "already given at line 1" },
	{ "public 10.0.0.0/24\nserver s addr 10.0.1.5\n", ZT_ERANGE, 2, "not a host address of its segment" },
	{ "public 10.0.0.0/24\nserver s addr 10.0.0.255\n", ZT_ERANGE, 2, "not a host address" },
	{ "public 10.0.0.0/24\nserver s addr 10.0.0.5\nserver t addr 10.0.0.5\n", ZT_ECONF_VALUE, 3,
	  "10.0.0.5 of 't' is already used" },
	{ "public 10.0.0.0/24\nserver s addr 10.0.0.5 addr 10.0.0.5\n", ZT_ECONF_VALUE, 2, "already used" },
	{ "public 10.0.0.0/24\nserver s addr 10.0.0.300\n", ZT_ECONF_VALUE, 2, "expected an IPv4 address" },
	{ "public 10.0.0.0/16\nnat n type symmetric lan 10.0.5.0/24\n", ZT_ECONF_VALUE, 2,
	  "overlaps the public segment" },
	{ "public 10.0.0.0/24\nnat a type symmetric lan 100.64.0.0/16\n"
	  "nat b type symmetric behind a lan 100.64.3.0/24\n", ZT_ECONF_VALUE, 3, "overlaps lan 100.64.0.0/16 of 'a'" },
	{ "public 10.0.0.0/24\nnat a type symmetric behind b lan 192.168.1.0/24\n"
	  "nat b type symmetric behind a lan 192.168.2.0/24\n", ZT_ERANGE, 2, "loop" },
	{ "public 10.0.0.0/24\nnat a type symmetric behind a lan 192.168.1.0/24\n", ZT_ECONF_REF, 2,
	  "behind itself" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 gw 192.168.2.1\n", ZT_ERANGE, 2,
	  "is not a host address of lan" },
	{ "public 10.0.0.0/24\nserver s\nlink s loss 101%\n", ZT_ECONF_VALUE, 3, "expected a percentage" },
	{ "public 10.0.0.0/24\nserver s\nlink s loss 5\n", ZT_ECONF_VALUE, 3, "expected a percentage" },
	{ "public 10.0.0.0/24\nserver s\nlink s delay 10\n", ZT_ECONF_VALUE, 3, "expected a duration" },
	/* finer than 1 ns (core/units.h; "1.2345ms" is 1234500 ns, accepted since issue 12) */
	{ "public 10.0.0.0/24\nserver s\nlink s delay 1.2345us\n", ZT_ECONF_VALUE, 3, "expected a duration" },
	{ "public 10.0.0.0/24\nserver s\nlink s delay nan\n", ZT_ECONF_VALUE, 3, "expected a duration" },
	{ "public 10.0.0.0/24\nserver s\nlink s delay 1e3us\n", ZT_ECONF_VALUE, 3, "expected a duration" },
	{ "public 10.0.0.0/24\nserver s\nlink s loss nan%\n", ZT_ECONF_VALUE, 3, "expected a percentage" },
	{ "public 10.0.0.0/24\nserver s\nlink s loss -1%\n", ZT_ECONF_VALUE, 3, "expected a percentage" },
	{ "public 10.0.0.0/24\nserver s\nlink s delay 61s\n", ZT_ECONF_VALUE, 3, "at most 60s" },
	{ "public 10.0.0.0/24\nserver s\nlink s delay 1ms jitter 2ms\n", ZT_ECONF_VALUE, 3,
	  "jitter must not exceed delay" },
	{ "public 10.0.0.0/24\nserver s\nlink s rate 10mbps\n", ZT_ECONF_VALUE, 3, "expected a rate" },
	{ "public 10.0.0.0/24\nserver s\nlink s rate 999bit\n", ZT_ECONF_VALUE, 3, "expected a rate" },
	{ "public 10.0.0.0/24\nserver s\nlink s mtu 100\n", ZT_ERANGE, 3, "MTU from 576 to 9000" },
	{ "public 10.0.0.0/24\nserver s\nlink s queue 0\n", ZT_ERANGE, 3, "queue of 1 to 100000" },
	{ "public 10.0.0.0/24\nserver s\nlink s colour red\n", ZT_ECONF_KEY, 3, "unknown link key 'colour'" },
	{ "public 10.0.0.0/24\nserver s\nlink t delay 1ms\n", ZT_ECONF_REF, 3, "no node named 't'" },
	{ "public 10.0.0.0/24\nserver s\nlink s delay 1ms\nlink s loss 1%\n", ZT_ECONF_VALUE, 4,
	  "already described at line 3" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 timeout 0\n", ZT_ERANGE, 2,
	  "1 to 86400 seconds" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 timeout 1.5s\n", ZT_ERANGE, 2,
	  "1 to 86400 seconds" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 timeout 25h\n", ZT_ERANGE, 2,
	  "1 to 86400 seconds" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 hairpin yes\n", ZT_ECONF_VALUE, 2,
	  "expected 'on' or 'off'" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 udp drop\n", ZT_ECONF_VALUE, 2,
	  "'allow' or 'block'" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 type full-cone\n", ZT_ECONF_VALUE, 2,
	  "'type' given twice" },
	{ "public 10.0.0.0/24\nserver Alice\n", ZT_ECONF_VALUE, 2, "expected a server name" },
	{ "public 10.0.0.0/24\nserver public\n", ZT_ECONF_VALUE, 2, "not 'public'" },
	{ "public 10.0.0.0/24\nserver abcdefghijklm\n", ZT_ECONF_VALUE, 2, "at most 12" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24\n"
	  "host h behind n addr 192.168.1.5 addr 192.168.1.6\n", ZT_ECONF_VALUE, 3, "'addr' given twice" },
	{ "public 10.0.0.0/24\nserver s addr 10.0.0.1 addr 10.0.0.2 addr 10.0.0.3 addr 10.0.0.4 "
	  "addr 10.0.0.5\n", ZT_ERANGE, 2, "too many addresses" },
	{ "public 10.0.0.0/24\nserver s addr 10.0.0.5 addrs 2\n", ZT_ECONF_VALUE, 2, "either 'addr' or 'addrs'" },
	{ "public 10.0.0.0/24\nserver s addrs 5\n", ZT_ERANGE, 2, "expected 1 to 4" },
	{ "public 10.0.0.0/30\nserver s addrs 2\nserver t\n", ZT_ERANGE, 3, "no free address left for 't'" },
	{ "public 10.0.0.0/24\nseed -1\n", ZT_ESYNTAX, 2, "expected 'seed N'" },
	/* proxies and proxy-only NATs */
	{ "public 10.0.0.0/24\nserver p proxy yes\n", ZT_ECONF_VALUE, 2, "expected 'allow' (CONNECT" },
	{ "public 10.0.0.0/24\nserver p port 3128\n", ZT_ECONF_MISSING, 2,
	  "'port' is the port of the server's proxy: add 'proxy allow' or 'proxy deny'" },
	{ "public 10.0.0.0/24\nserver p proxy allow port 0\n", ZT_ERANGE, 2, "TCP port from 1 to 65535" },
	{ "public 10.0.0.0/24\nserver p proxy allow port 65536\n", ZT_ERANGE, 2, "TCP port from 1 to 65535" },
	{ "public 10.0.0.0/24\nserver p proxy allow proxy deny\n", ZT_ECONF_VALUE, 2, "'proxy' given twice" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 egress proxy webproxy\n",
	  ZT_ECONF_REF, 2, "'egress proxy webproxy' of nat 'n': no node named 'webproxy' is defined "
	  "(add 'server webproxy proxy allow')" },
	{ "public 10.0.0.0/24\nserver web proxy allow\nserver strict proxy deny\n"
	  "nat n type symmetric lan 192.168.1.0/24 egress proxy webb\n", ZT_ECONF_REF, 4,
	  "no node named 'webb' is defined (proxy servers: web, strict)" },
	{ "public 10.0.0.0/24\nserver stun\nnat n type symmetric lan 192.168.1.0/24 egress proxy stun\n",
	  ZT_ECONF_REF, 3, "server 'stun' runs no proxy (add 'proxy allow' or 'proxy deny' to its line 2)" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 egress proxy h\nhost h behind n\n",
	  ZT_ECONF_REF, 2, "'h' is a host, not a server" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 egress proxy n\n",
	  ZT_ECONF_REF, 2, "'n' is a nat, not a server" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 egress p\n", ZT_ESYNTAX, 2,
	  "expected 'proxy NODE' after 'egress' (egress proxy NODE: the lan reaches out only "
	  "through that proxy server), got 'p'" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 egress\n", ZT_ESYNTAX, 2,
	  "expected 'proxy NODE' after 'egress'" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 egress proxy\n", ZT_ECONF_VALUE, 2,
	  "expected the name of a proxy server after 'egress proxy', got ''" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 egress proxy P\n", ZT_ECONF_VALUE, 2,
	  "expected the name of a proxy server after 'egress proxy', got 'P'" },
	{ "public 10.0.0.0/24\nserver p proxy allow\nnat n type symmetric egress proxy p lan "
	  "192.168.1.0/24 egress proxy p\n", ZT_ECONF_VALUE, 3, "'egress' given twice" },
	{ "public 10.0.0.0/24\nserver p proxy allow\nnat n type symmetric egress proxy p lan\n",
	  ZT_ESYNTAX, 3, "expected a value after 'lan'" },
	{ "public 10.0.0.0/24\nlab two words\n", ZT_ESYNTAX, 2, "expected 'lab NAME'" },
	/* port allocation patterns */
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 ports linear\n", ZT_ECONF_VALUE, 2,
	  "expected 'random', 'sequential' or 'preserve' after 'ports', got 'linear'" },
	{ "public 10.0.0.0/24\nserver s\nnat n ports sequential type port-restricted lan 192.168.1.0/24\n",
	  ZT_ECONF_VALUE, 3, "'ports sequential' is for 'type symmetric' only: a port-restricted NAT "
	  "keeps one mapping per inside endpoint, on the inside port when it is free (remove 'ports')" },
	{ "public 10.0.0.0/24\nnat n type full-cone lan 192.168.1.0/24 ports preserve\n", ZT_ECONF_VALUE, 2,
	  "'ports preserve' is for 'type symmetric' only" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 ports random ports preserve\n",
	  ZT_ECONF_VALUE, 2, "'ports' given twice" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 ports\n", ZT_ESYNTAX, 2,
	  "expected a value after 'ports'" },
	/* CGNAT port blocks */
	{ "public 10.0.0.0/24\nnat n type port-restricted lan 192.168.1.0/24 block 8\n", ZT_ERANGE, 2,
	  "expected the ports of a subscriber's block after 'block', 16 to 32768, got '8'" },
	{ "public 10.0.0.0/24\nnat n type port-restricted lan 192.168.1.0/24 block 1k\n", ZT_ERANGE, 2,
	  "expected the ports of a subscriber's block after 'block', 16 to 32768, got '1k'" },
	{ "public 10.0.0.0/24\nnat n type symmetric ports sequential block 1024 lan 192.168.1.0/24\n",
	  ZT_ECONF_VALUE, 2, "'block' takes random ports in each block: 'ports sequential' cannot go "
	  "with it (remove one)" },
	{ "public 10.0.0.0/24\nnat n type port-restricted lan 192.168.1.0/24 block 32768\n"
	  "host a behind n\nhost b behind n\n", ZT_ERANGE, 2, "'block 32768' fits 1 subscribers below "
	  "port 65536; 'b' is one more (a smaller block, or fewer nodes behind 'n')" },
	/* host moves */
	{ "public 10.0.0.0/24\nnat a type full-cone lan 192.168.1.0/24\nhost h behind a\n"
	  "at 1s host h move a\n", ZT_ECONF_VALUE, 4, "'h' is already behind 'a' then" },
	{ "public 10.0.0.0/24\nnat a type full-cone lan 192.168.1.0/24\nhost h behind a\n"
	  "at 1s host h move public\n", ZT_ECONF_VALUE, 4, "expected a nat name after 'move', got 'public'" },
	{ "public 10.0.0.0/24\nnat a type full-cone lan 192.168.1.0/24\nhost h behind a\n"
	  "at 1s host h move nowhere\n", ZT_ECONF_REF, 4, "'nowhere' is not a nat (a host moves behind a nat)" },
	{ "public 10.0.0.0/24\nnat a type full-cone lan 192.168.1.0/24\nserver h\n"
	  "at 1s host h move a\n", ZT_ECONF_REF, 4, "'h' is not a host behind a nat (only such a host moves)" },
	{ "public 10.0.0.0/24\nnat a type full-cone lan 192.168.1.0/24\nnat b type full-cone lan "
	  "192.168.2.0/24\nnat c type full-cone lan 192.168.3.0/24\nhost h behind a\n"
	  "at 1s host h move b\nat 2s host h move c\n", ZT_ECONF_VALUE, 7,
	  "'h' already moves behind 'b': a host moves to one other nat (and back)" },
	{ "public 10.0.0.0/24\nat 1s host h go a\n", ZT_ESYNTAX, 2,
	  "expected 'at 1s host h move NAT' (the host's uplink moves behind that NAT)" },
	{ "public 10.0.0.0/24\nnat a type full-cone lan 192.168.1.0/24\nnat b type full-cone lan "
	  "192.168.2.0/30\nhost x behind b\nhost h behind a\nat 1s host h move b\n", ZT_ERANGE, 6,
	  "no free address left for 'h' on 192.168.2.0/30" },
	{ "public 10.0.0.0/24\nnat n type full-cone lan 192.168.1.0/24 refresh inbound\n", ZT_ECONF_VALUE, 2,
	  "expected 'outbound' or 'both' after 'refresh' (which packets keep a mapping alive), got 'inbound'" },
	{ "public 100.21.0.0/24\nnat n type full-cone lan 192.168.1.0/24 refresh outbound portmap pcp\n",
	  ZT_ECONF_VALUE, 2, "'refresh outbound' cannot go with 'portmap' (a port mapping receives "
	  "before it sends: remove one)" },
	/* port-mapping routers */
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 portmap igd\n", ZT_ECONF_VALUE, 2,
	  "expected 'upnp', 'natpmp', 'pcp' or 'all' after 'portmap', got 'igd'" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 portmap none\n", ZT_ECONF_VALUE, 2,
	  "after 'portmap', got 'none'" },
	{ "public 10.0.0.0/24\nnat n type full-cone lan 192.168.1.0/24 portmap pcp portmap all\n",
	  ZT_ECONF_VALUE, 2, "'portmap' given twice" },
	{ "public 10.0.0.0/24\nnat n type full-cone lan 192.168.1.0/24 colour red\n", ZT_ECONF_KEY, 2,
	  "(expected type, lan, behind, wan, gw, hairpin, timeout, udp, icmp, ports, portmap, block, refresh, egress, "
	  "lan6, wan6, gw6, fw6)" },
	/* dual-stack */
	{ "public 10.0.0.0/24\nserver s addr6 2001:db8::5\n", ZT_ECONF_MISSING, 2,
	  "'addr6' needs a 'public6 PREFIX' line" },
	{ "public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 lan6 2001:db8:1::/64\n",
	  ZT_ECONF_MISSING, 2, "'lan6' needs a 'public6 PREFIX' line" },
	{ "public 10.0.0.0/24\npublic6 2001:db9::/48\nserver s\n", ZT_ERANGE, 2,
	  "only the documentation prefix 2001:db8::/32" },
	{ "public 10.0.0.0/24\npublic6 2001:db8:1::1/48\nserver s\n", ZT_ECONF_VALUE, 2,
	  "did you mean 2001:db8:1::/48?" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/96\nserver s\n", ZT_ERANGE, 2,
	  "prefix length from 32 to 64" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\npublic6 2001:db8:1::/64\n", ZT_ECONF_VALUE, 3,
	  "'public6' is already given at line 2" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nserver s addr6 10.0.0.5\n", ZT_ECONF_VALUE, 3,
	  "expected an IPv6 address like" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nserver s addr6 2001:db8:1::5\n", ZT_ERANGE, 3,
	  "is not a host address of its segment 2001:db8::/64" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nserver s addr6 2001:db8::5 addr6 2001:db8::6\n",
	  ZT_ECONF_VALUE, 3, "'addr6' given twice" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nserver s addr 10.0.0.5\nserver t addr6 2001:db8::5\n",
	  ZT_ECONF_VALUE, 4, "2001:db8::5 of 't' is already used by 's'" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/48\nnat n type symmetric lan 192.168.1.0/24 "
	  "lan6 2001:db8:0:1::/64\n", ZT_ECONF_VALUE, 3, "overlaps public6 2001:db8::/48" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nnat n type symmetric lan 192.168.1.0/24 "
	  "lan6 2001:db8:1::/48\nnat m type symmetric lan 192.168.1.0/24 lan6 2001:db8:1:5::/64\n",
	  ZT_ECONF_VALUE, 4, "overlaps lan6 2001:db8:1::/48 of 'n'" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nnat n type symmetric lan 192.168.1.0/24 fw6 open\n",
	  ZT_ECONF_MISSING, 3, "add 'lan6 PREFIX'" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nnat n type symmetric lan 192.168.1.0/24 "
	  "lan6 2001:db8:1::/64 fw6 closed\n", ZT_ECONF_VALUE, 3, "after 'fw6', got 'closed'" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nnat n type symmetric lan 192.168.1.0/24 "
	  "lan6 2001:db8:1::/64 gw6 2001:db8:2::1\n", ZT_ERANGE, 3, "gw6 2001:db8:2::1 of 'n' is not a host" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nnat n type symmetric lan 192.168.1.0/24\n"
	  "nat m type symmetric behind n lan 10.9.0.0/24 lan6 2001:db8:1::/64\n", ZT_ECONF_VALUE, 4,
	  "only a NAT on the public segment gets IPv6 (remove 'lan6')" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nnat n type symmetric lan 192.168.1.0/24\n"
	  "host h behind n addr6 2001:db8:1::5\n", ZT_ECONF_VALUE, 4,
	  "nat 'n' in front of it has no IPv6 lan (add 'lan6 PREFIX' to its line 3)" },
	{ "public 10.0.0.0/24\npublic6 2001:db8::/64\nnat n type symmetric lan 192.168.1.0/24 "
	  "lan6 2001:db8:1::/64\nhost h behind n addr6 2001:db8:1::1\n", ZT_ECONF_VALUE, 4,
	  "2001:db8:1::1 of 'h' is already used by 'n'" },
	/* timed events */
	{ "public 10.0.0.0/24\nserver s\nat 10 link s loss 5%\n", ZT_ECONF_VALUE, 3,
	  "expected a time after the lab is ready like 10s" },
	{ "public 10.0.0.0/24\nserver s\nat 25h link s loss 5%\n", ZT_ECONF_VALUE, 3, "at most 24h" },
	{ "public 10.0.0.0/24\nserver s\nat 1s link s\n", ZT_ESYNTAX, 3, "expected what changes after 'at 1s link s'" },
	{ "public 10.0.0.0/24\nserver s\nat 1s link\n", ZT_ESYNTAX, 3, "expected 'at TIME link NODE" },
	{ "public 10.0.0.0/24\nserver s\nat 1s link s mtu 1200\n", ZT_ECONF_KEY, 3,
	  "unknown key 'mtu' for a timed link change" },
	{ "public 10.0.0.0/24\nserver s\nat 1s link s loss\n", ZT_ESYNTAX, 3, "expected a value after 'loss'" },
	{ "public 10.0.0.0/24\nserver s\nat 1s link s loss 5% loss 6%\n", ZT_ECONF_VALUE, 3,
	  "'loss' given twice" },
	{ "public 10.0.0.0/24\nserver s\nat 1s link s sideways\n", ZT_ESYNTAX, 3, "expected a value" },
	{ "public 10.0.0.0/24\nserver s\nat 1s wire s down\n", ZT_ECONF_KEY, 3,
	  "expected 'link', 'nat' or 'host' after 'at 1s', got 'wire'" },
	{ "public 10.0.0.0/24\nserver s\nat 1s link nobody down\n", ZT_ECONF_REF, 3,
	  "no node named 'nobody' is defined" },
	{ "public 10.0.0.0/24\nserver s\nat 1s nat s flush\n", ZT_ECONF_REF, 3, "'s' is not a nat" },
	{ "public 10.0.0.0/24\nnat n type full-cone lan 10.9.0.0/24\nat 1s nat n reboot\n", ZT_ESYNTAX, 3,
	  "expected 'at 1s nat n flush'" },
	{ "public 10.0.0.0/24\nserver s\nlink s delay 10ms\nat 2s link s delay 1ms\n"
	  "at 1s link s jitter 5ms\n", ZT_ECONF_VALUE, 4, "jitter over its delay from here" },
	{ "public 10.0.0.0/24\nserver s\nat 1s link s rate 10bit\n", ZT_ECONF_VALUE, 3,
	  "or 'off', after 'rate'" },
	{ "public 10.0.0.0/24\nnat n type full-cone lan 10.9.0.0/24 icmp block\n", ZT_ECONF_VALUE, 2,
	  "expected 'pass' or 'drop' after 'icmp', got 'block'" },
	{ "public 10.0.0.0/24\nserver s\nlink s blackhole 1500\n", ZT_ECONF_VALUE, 3,
	  "blackhole 1500 is not below the link's mtu 1500" },
	{ "public 10.0.0.0/24\nserver s\nlink s blackhole 60\n", ZT_ERANGE, 3,
	  "from 68 to 9000 bytes after 'blackhole'" },
	{ "public 10.0.0.0/24\nserver s\nlink s mtu 1400\nat 1s link s blackhole 1400\n",
	  ZT_ECONF_VALUE, 4, "blackhole 1400 is not below the mtu 1400 of the link of 's'" },
};

static void bad_files_say_where_and_what(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		const struct bad *b = &bad_files[i];
		struct zt_scn s;
		struct zt_scn_error err;
		char where[32];
		int rc = zt_scn_parse(&s, b->text, strlen(b->text), "x.lab", &err);

		if (rc != b->rc || err.line != b->line || !strstr(err.msg, b->says))
			fail_msg("case %zu: rc %d (want %d), line %d (want %d), msg '%s' (want '%s')", i,
				 rc, b->rc, err.line, b->line, err.msg, b->says);
		if (b->line)
			snprintf(where, sizeof(where), "x.lab:%d: ", b->line);
		else
			snprintf(where, sizeof(where), "x.lab: ");
		assert_memory_equal(err.msg, where, strlen(where));
	}
}

static void dual_stack(void **state)
{
	struct zt_scn *s = parse_ok("public 203.0.113.0/24\n"
				    "public6 2001:db8:100::/48\n"
				    "server stun addr 203.0.113.10 addr 203.0.113.11\n"
				    "server peer addr 203.0.113.254 addr6 2001:db8:100::beef\n"
				    "nat home type symmetric lan 10.1.0.0/16 wan 203.0.113.1 "
				    "lan6 2001:db8:1:1::/64 fw6 endpoint-independent\n"
				    "nat open type full-cone lan 10.2.0.0/24 lan6 2001:db8:2::/56 gw6 2001:db8:2::fe "
				    "fw6 open\n"
				    "nat v4 type port-restricted lan 10.3.0.0/24\n"
				    "nat inner type full-cone behind home lan 192.168.7.0/24\n"
				    "host alice behind home addr 10.1.2.3\n"
				    "host bob behind open addr6 2001:db8:2::42\n"
				    "host carol behind v4\n"
				    "host dave behind inner\n");
	const struct zt_scn_node *n;
	char b[ZT_IP6_STR_MAX];

	(void)state;
	assert_true(s->has6);
	assert_string_equal(zt_ip6_str(s->pub6_net, b), "2001:db8:100::");
	assert_int_equal(s->pub6_prefix, 48);
	/* automatic: the IPv4 host part's decimal digits as hex */
	n = node(s, "stun");
	assert_true(n->has6);
	assert_string_equal(zt_ip6_str(n->addr6, b), "2001:db8:100::10");
	assert_string_equal(zt_ip6_str(node(s, "peer")->addr6, b), "2001:db8:100::beef");
	n = node(s, "home");
	assert_true(n->has6 && n->lan6);
	assert_string_equal(zt_ip6_str(n->addr6, b), "2001:db8:100::1");
	assert_string_equal(zt_ip6_str(n->lan6_net, b), "2001:db8:1:1::");
	assert_int_equal(n->lan6_prefix, 64);
	assert_string_equal(zt_ip6_str(n->lan6_gw, b), "2001:db8:1:1::1");
	assert_int_equal(n->fw6, ZT_SCN_FW6_ENDPOINT);
	/* 10.1.2.3 in 10.1.0.0/16: host part 515 */
	assert_string_equal(zt_ip6_str(node(s, "alice")->addr6, b), "2001:db8:1:1::515");
	n = node(s, "open");
	assert_string_equal(zt_ip6_str(n->addr6, b), "2001:db8:100::2");
	assert_string_equal(zt_ip6_str(n->lan6_gw, b), "2001:db8:2::fe");
	assert_int_equal(n->lan6_prefix, 56);
	assert_int_equal(n->fw6, ZT_SCN_FW6_OPEN);
	assert_string_equal(zt_ip6_str(node(s, "bob")->addr6, b), "2001:db8:2::42");
	/* a NAT without lan6 has a wan address but its lan stays IPv4 */
	n = node(s, "v4");
	assert_true(n->has6 && !n->lan6);
	assert_int_equal(n->fw6, ZT_SCN_FW6_ADDR_PORT);
	assert_false(node(s, "carol")->has6);
	assert_false(zt_scn_node_v6(s, (unsigned)zt_scn_find(s, "carol")));
	assert_true(zt_scn_node_v6(s, (unsigned)zt_scn_find(s, "v4")));
	/* behind NAT behind NAT: no IPv6 */
	assert_false(node(s, "inner")->has6);
	assert_false(node(s, "dave")->has6);
	assert_string_equal(zt_scn_fw6_name(ZT_SCN_FW6_ADDR_PORT), "address-and-port");
	assert_string_equal(zt_scn_fw6_name(ZT_SCN_FW6_ENDPOINT), "endpoint-independent");
	assert_string_equal(zt_scn_fw6_name(ZT_SCN_FW6_OPEN), "open");
	free(s);

	/* without public6 nothing has IPv6 */
	s = parse_ok("public 10.0.0.0/24\nserver s\nnat n type symmetric lan 192.168.1.0/24\n"
		     "host h behind n\n");
	assert_false(s->has6);
	for (unsigned i = 0; i < s->nnodes; i++)
		assert_false(zt_scn_node_v6(s, i));
	free(s);
}

static void too_many_nodes(void **state)
{
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "public 10.0.0.0/16\n");
	struct zt_scn s;
	struct zt_scn_error err;

	(void)state;
	for (int i = 0; i <= ZT_SCN_MAX_NODES; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "server s%d\n", i);
	assert_int_equal(zt_scn_parse(&s, text, n, "x.lab", &err), ZT_ERANGE);
	assert_int_equal(err.line, ZT_SCN_MAX_NODES + 2);
	/* one fewer fits */
	n -= strlen("server s32\n");
	assert_int_equal(zt_scn_parse(&s, text, n, "x.lab", &err), 0);
	assert_int_equal(s.nnodes, ZT_SCN_MAX_NODES);
}

static void oversized_input(void **state)
{
	struct zt_scn s;
	struct zt_scn_error err;
	size_t big = ZT_SCN_MAX_BYTES + 1;
	char *text = malloc(big);
	char line[1100];

	(void)state;
	assert_non_null(text);
	memset(text, '#', big);
	assert_int_equal(zt_scn_parse(&s, text, big, "x.lab", &err), ZT_ETOOBIG);
	free(text);

	memset(line, 'a', sizeof(line));
	assert_int_equal(zt_scn_parse(&s, line, sizeof(line), "x.lab", &err), ZT_ETOOBIG);
	assert_int_equal(err.line, 1);
	assert_int_equal(zt_scn_parse(&s, "public 10.0.0.0/8\0x\n", 20, "x.lab", &err), ZT_ESYNTAX);
}

static void too_many_words(void **state)
{
	char text[512] = "public 10.0.0.0/24\nserver s";
	struct zt_scn s;
	struct zt_scn_error err;

	(void)state;
	for (int i = 0; i < 20; i++)
		strcat(text, " addr 10.0.0.9");
	strcat(text, "\n");
	assert_int_equal(zt_scn_parse(&s, text, strlen(text), "x.lab", &err), ZT_ETOOBIG);
	assert_int_equal(err.line, 2);
}

static void link_text_round_trips(void **state)
{
	static const struct { const char *in, *out; } links[] = {
		{ "delay 10ms jitter 1.5ms loss 0.25% rate 10mbit mtu 1400 queue 50", NULL },
		{ "delay 250us", NULL },
		{ "delay 1.001ms jitter 999us", NULL },
		{ "delay 2000ms", "delay 2000ms" },
		{ "delay 0.5s", "delay 500ms" },
		{ "delay 1.2345ms", "delay 1234.5us" },
		{ "delay 0.000001ms", "delay 0.001us" },
		{ "loss 17.75%", NULL },
		{ "loss 100%", NULL },
		{ "loss 0.0001%", NULL },
		{ "rate 1.5gbit", NULL },
		{ "rate 64kbit", NULL },
		{ "rate 64001bit", "rate 64.001kbit" },
		{ "rate 1000000bit", "rate 1mbit" },
		{ "mtu 9000", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char text[256], out[160];
		struct zt_scn *s;
		int n;

		const char *want = links[i].out ? links[i].out : links[i].in;

		snprintf(text, sizeof(text), "public 10.0.0.0/24\nserver s\nlink s %s\n", links[i].in);
		s = parse_ok(text);
		n = zt_scn_link_str(&s->nodes[0].link, out, sizeof(out));
		if (n != (int)strlen(want) || strcmp(out, want))
			fail_msg("'%s' came back as '%s'", links[i].in, out);
		assert_int_equal(zt_scn_link_str(&s->nodes[0].link, out, (size_t)n), -ENOBUFS);
		free(s);
	}
}

/* 'egress proxy NODE' anywhere among the pairs; the proxy's address and port resolved
 * (also when the server's line comes later and its address is automatic). */
static void proxy_servers_and_egress(void **state)
{
	struct zt_scn *s = parse_ok("public 203.0.113.0/24\n"
				    "nat office type port-restricted egress proxy web lan 10.10.0.0/24 "
				    "udp block\n"
				    "nat locked type symmetric lan 10.30.0.0/24 egress proxy strict\n"
				    "nat home type full-cone lan 10.2.1.0/24\n"
				    "server web proxy allow\n"
				    "server strict addr 203.0.113.21 port 8080 proxy deny\n"
				    "server stun\n");
	const struct zt_scn_node *n;

	(void)state;
	n = node(s, "web");
	assert_int_equal(n->proxy, ZT_SCN_PROXY_ALLOW);
	assert_int_equal(n->proxy_port, ZT_SCN_PROXY_PORT);
	assert_int_equal(n->addr[0], IP(203, 0, 113, 4)); /* after the three NATs */
	n = node(s, "strict");
	assert_int_equal(n->proxy, ZT_SCN_PROXY_DENY);
	assert_int_equal(n->proxy_port, 8080);
	n = node(s, "stun");
	assert_int_equal(n->proxy, ZT_SCN_PROXY_NONE);
	assert_int_equal(n->proxy_port, 0);

	n = node(s, "office");
	assert_true(n->egress_proxy);
	assert_int_equal(n->egress_node, zt_scn_find(s, "web"));
	assert_int_equal(n->egress_addr, IP(203, 0, 113, 4));
	assert_int_equal(n->egress_port, 3128);
	assert_true(n->block_udp);
	assert_int_equal(n->lan_net, IP(10, 10, 0, 0));
	n = node(s, "locked");
	assert_true(n->egress_proxy);
	assert_int_equal(n->egress_addr, IP(203, 0, 113, 21));
	assert_int_equal(n->egress_port, 8080);
	assert_false(node(s, "home")->egress_proxy);

	assert_string_equal(zt_scn_proxy_name(ZT_SCN_PROXY_NONE), "none");
	assert_string_equal(zt_scn_proxy_name(ZT_SCN_PROXY_ALLOW), "allow");
	assert_string_equal(zt_scn_proxy_name(ZT_SCN_PROXY_DENY), "deny");
	assert_string_equal(zt_scn_proxy_name((enum zt_scn_proxy)7), "?");
	free(s);
}

/* The lab file this feature is for parses, with its proxies where the test expects. */
static void proxy_only_lab_file(void **state)
{
	const char *root = getenv("ZT_ROOT");
	char path[512];
	struct zt_scn s;
	struct zt_scn_error err;
	int rc;

	(void)state;
	snprintf(path, sizeof(path), "%s/scenarios/lab/proxy-only.lab", root ? root : ".");
	rc = zt_scn_load(&s, path, &err);
	if (rc != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(s.nodes[zt_scn_find(&s, "office")].egress_addr, IP(203, 0, 113, 20));
	assert_int_equal(s.nodes[zt_scn_find(&s, "office")].egress_port, 3128);
	assert_false(s.nodes[zt_scn_find(&s, "home")].egress_proxy);
	assert_int_equal(s.nodes[zt_scn_find(&s, "strict")].proxy, ZT_SCN_PROXY_DENY);
}

/* A NAT's timeout is a duration in whole seconds; a bare number is seconds. */
static void nat_timeout_takes_units(void **state)
{
	struct zt_scn *s = parse_ok("public 10.0.0.0/24\nnat n type symmetric lan 192.168.1.0/24 "
				    "timeout 2m\n");

	(void)state;
	assert_int_equal(s->nodes[0].timeout_s, 120);
	free(s);
}

/* 'ports' on a symmetric NAT; the cone types preserve, and say so in the field. */
static void nat_port_patterns(void **state)
{
	struct zt_scn *s = parse_ok("public 10.0.0.0/24\n"
				    "nat a type symmetric lan 192.168.1.0/24\n"
				    "nat b type symmetric lan 192.168.1.0/24 ports sequential\n"
				    "nat c ports preserve type symmetric lan 192.168.1.0/24\n"
				    "nat d type symmetric lan 192.168.1.0/24 ports random\n"
				    "nat e type port-restricted lan 192.168.1.0/24\n"
				    "nat f type full-cone lan 192.168.1.0/24\n");

	(void)state;
	assert_int_equal(node(s, "a")->ports, ZT_SCN_PORTS_RANDOM);
	assert_int_equal(node(s, "b")->ports, ZT_SCN_PORTS_SEQUENTIAL);
	assert_int_equal(node(s, "c")->ports, ZT_SCN_PORTS_PRESERVE);
	assert_int_equal(node(s, "d")->ports, ZT_SCN_PORTS_RANDOM);
	assert_int_equal(node(s, "e")->ports, ZT_SCN_PORTS_PRESERVE);
	assert_int_equal(node(s, "f")->ports, ZT_SCN_PORTS_PRESERVE);
	assert_string_equal(zt_scn_ports_name(ZT_SCN_PORTS_RANDOM), "random");
	assert_string_equal(zt_scn_ports_name(ZT_SCN_PORTS_SEQUENTIAL), "sequential");
	assert_string_equal(zt_scn_ports_name(ZT_SCN_PORTS_PRESERVE), "preserve");
	assert_string_equal(zt_scn_ports_name((enum zt_scn_ports)7), "?");
	free(s);
}

/* 'block N': the nodes behind the NAT, in the file's order, get one block each. */
static void nat_port_blocks(void **state)
{
	struct zt_scn *s = parse_ok("public 10.0.0.0/24\n"
				    "host c behind cgn addr 100.64.0.9\n"
				    "nat cgn type port-restricted lan 100.64.0.0/24 block 1024\n"
				    "nat home type full-cone lan 192.168.1.0/24 behind cgn\n"
				    "host a behind cgn\n"
				    "host h behind home\n"
				    "nat plain type symmetric lan 192.168.2.0/24\n");
	const struct zt_scn_node *cgn;

	(void)state;
	cgn = node(s, "cgn");
	assert_int_equal(cgn->port_block, 1024);
	assert_int_equal(cgn->nblocks, 3); /* c, home, a; not h (behind home) */
	assert_int_equal(cgn->block_addr[0], node(s, "c")->addr[0]);
	assert_int_equal(cgn->block_addr[1], node(s, "home")->addr[0]);
	assert_int_equal(cgn->block_addr[2], node(s, "a")->addr[0]);
	assert_int_equal(node(s, "home")->nblocks, 0);
	assert_int_equal(node(s, "plain")->port_block, 0);
	assert_false(cgn->refresh_outbound);
	free(s);
	s = parse_ok("public 10.0.0.0/24\nnat a type full-cone lan 192.168.1.0/24 refresh outbound\n"
		     "nat b type symmetric lan 192.168.2.0/24 refresh both\n");
	assert_true(node(s, "a")->refresh_outbound);
	assert_false(node(s, "b")->refresh_outbound);
	free(s);
}

/* 'portmap' on any type; none by default. */
static void nat_portmap(void **state)
{
	struct zt_scn *s = parse_ok("public 100.21.0.0/24\n"
				    "nat a type symmetric lan 192.168.1.0/24 portmap all\n"
				    "nat b type full-cone lan 192.168.1.0/24 portmap upnp\n"
				    "nat c type port-restricted portmap natpmp lan 192.168.1.0/24\n"
				    "nat d type address-restricted lan 192.168.1.0/24 portmap pcp\n"
				    "nat e type symmetric lan 192.168.1.0/24\n");

	(void)state;
	assert_int_equal(node(s, "a")->portmap, ZT_SCN_PORTMAP_ALL);
	assert_int_equal(node(s, "b")->portmap, ZT_SCN_PORTMAP_UPNP);
	assert_int_equal(node(s, "c")->portmap, ZT_SCN_PORTMAP_NATPMP);
	assert_int_equal(node(s, "d")->portmap, ZT_SCN_PORTMAP_PCP);
	assert_int_equal(node(s, "e")->portmap, ZT_SCN_PORTMAP_NONE);
	assert_string_equal(zt_scn_portmap_name(ZT_SCN_PORTMAP_NONE), "none");
	assert_string_equal(zt_scn_portmap_name(ZT_SCN_PORTMAP_PCP), "pcp");
	assert_string_equal(zt_scn_portmap_name((enum zt_scn_portmap)9), "?");
	free(s);
}

static void plain_link_is_not_emulated(void **state)
{
	struct zt_scn *s = parse_ok("public 10.0.0.0/24\nserver s\nserver t\nserver u\n"
				    "link s mtu 1280\nlink u blackhole 1300\n");
	char out[64];

	(void)state;
	assert_true(s->nodes[0].link.set);
	assert_false(zt_scn_link_impaired(&s->nodes[0].link));
	/* a black hole needs the emulator: the interfaces keep their MTU */
	assert_true(zt_scn_link_impaired(&s->nodes[2].link));
	assert_int_equal(s->nodes[2].link.blackhole, 1300);
	assert_true(zt_scn_link_str(&s->nodes[2].link, out, sizeof(out)) > 0);
	assert_string_equal(out, "blackhole 1300");
	assert_false(zt_scn_link_impaired(&s->nodes[1].link));
	assert_int_equal(zt_scn_link_str(&s->nodes[1].link, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	free(s);
}

/* 'at TIME host H move NAT': the host gets a second uplink behind that NAT, an address
 * there nobody else has; a move back needs nothing more; the events read back. */
static void host_moves(void **state)
{
	struct zt_scn *s = parse_ok("public 10.0.0.0/24\n"
				    "at 20s host alice move home\n"
				    "at 10s host alice move cell\n"
				    "at 5s host bob move cell\n"
				    "nat home type port-restricted lan 192.168.1.0/24\n"
				    "nat cell type symmetric lan 100.64.0.0/24 gw 100.64.0.1\n"
				    "host alice behind home\nhost bob behind home\n"
				    "host c behind cell addr 100.64.0.2\n");
	const struct zt_scn_node *alice, *bob;
	char out[64];

	(void)state;
	alice = &s->nodes[zt_scn_find(s, "alice")];
	bob = &s->nodes[zt_scn_find(s, "bob")];
	assert_int_equal(s->nevents, 3);
	assert_int_equal(s->events[0].kind, ZT_SCN_EV_HOST_MOVE);
	assert_int_equal(s->events[0].to, (unsigned)zt_scn_find(s, "cell"));
	assert_int_equal(s->events[2].to, (unsigned)zt_scn_find(s, "home"));
	assert_true(zt_scn_event_str(s, &s->events[1], out, sizeof(out)) > 0);
	assert_string_equal(out, "host alice move cell");
	assert_int_equal(alice->up2, zt_scn_find(s, "cell"));
	assert_int_equal(bob->up2, zt_scn_find(s, "cell"));
	/* free addresses of cell's lan: .1 is its gw, .2 is c's; bob moves first */
	assert_int_equal(bob->addr2, 100u << 24 | 64 << 16 | 3);
	assert_int_equal(alice->addr2, 100u << 24 | 64 << 16 | 4);
	assert_int_equal(s->nodes[zt_scn_find(s, "c")].up2, -1);
	free(s);
}

static void timed_events(void **state)
{
	struct zt_scn *s = parse_ok("public 10.0.0.0/24\nnat home type symmetric lan 10.9.0.0/24\n"
				    "host alice behind home\nhost bob behind home\nserver srv\n"
				    "link bob delay 5ms\n"
				    "at 20s link alice up\n"
				    "at 10s link alice down\n"
				    "at 2m nat home flush\n"
				    "at 1.5s link alice delay 20ms jitter 2ms loss 30% rate 1mbit\n"
				    "at 10s link bob rate off loss 1%\n"
				    "at 30s link bob blackhole 1280\nat 40s link bob blackhole off\n");
	struct zt_scn_link cur, saved;
	char out[128];
	unsigned alice = (unsigned)zt_scn_find(s, "alice"), bob = (unsigned)zt_scn_find(s, "bob");

	(void)state;
	assert_int_equal(s->nevents, 7);
	/* in time order, equal times in file order */
	assert_int_equal(s->events[0].at_ns, 1500 * ZT_MS);
	assert_int_equal(s->events[0].line, 10);
	assert_int_equal(s->events[1].kind, ZT_SCN_EV_LINK_DOWN);
	assert_int_equal(s->events[1].node, alice);
	assert_int_equal(s->events[2].line, 11);
	assert_int_equal(s->events[2].node, bob);
	assert_int_equal(s->events[3].kind, ZT_SCN_EV_LINK_UP);
	assert_int_equal(s->events[6].kind, ZT_SCN_EV_NAT_FLUSH);
	assert_int_equal(s->events[6].at_ns, 120 * ZT_SEC);
	assert_true(zt_scn_event_str(s, &s->events[4], out, sizeof(out)) > 0);
	assert_string_equal(out, "link bob blackhole 1280");
	assert_true(zt_scn_event_str(s, &s->events[5], out, sizeof(out)) > 0);
	assert_string_equal(out, "link bob blackhole off");
	/* a link an 'at' line changes is emulated, also without its own 'link' line */
	assert_true(s->nodes[alice].link.set);
	assert_true(s->nodes[alice].link.timed);
	assert_true(zt_scn_link_impaired(&s->nodes[alice].link));
	assert_int_equal(s->nodes[alice].link.mtu, 1500);
	assert_false(s->nodes[(unsigned)zt_scn_find(s, "srv")].link.set);
	assert_true(zt_scn_event_str(s, &s->events[0], out, sizeof(out)) > 0);
	assert_string_equal(out, "link alice delay 20ms jitter 2ms loss 30% rate 1mbit");
	assert_true(zt_scn_event_str(s, &s->events[2], out, sizeof(out)) > 0);
	assert_string_equal(out, "link bob loss 1% rate off");
	assert_true(zt_scn_event_str(s, &s->events[6], out, sizeof(out)) > 0);
	assert_string_equal(out, "nat home flush");
	assert_int_equal(zt_scn_event_str(s, &s->events[0], out, 10), -ENOBUFS);

	/* applied in order: down keeps what up returns to */
	cur = saved = s->nodes[alice].link;
	assert_true(zt_scn_event_apply(&s->events[0], &cur, &saved));
	assert_int_equal(cur.delay_ns, 20 * ZT_MS);
	assert_int_equal(cur.loss_ppm, 300000);
	assert_true(zt_scn_event_apply(&s->events[1], &cur, &saved));
	assert_int_equal(cur.loss_ppm, 1000000);
	assert_int_equal(cur.delay_ns, 20 * ZT_MS);
	assert_true(zt_scn_event_apply(&s->events[3], &cur, &saved));
	assert_int_equal(cur.loss_ppm, 300000);
	assert_int_equal(cur.rate_bps, 1000000);
	assert_false(zt_scn_event_apply(&s->events[6], &cur, &saved));
	cur = saved = s->nodes[bob].link;
	assert_true(zt_scn_event_apply(&s->events[2], &cur, &saved));
	assert_int_equal(cur.delay_ns, 5 * ZT_MS); /* kept */
	assert_int_equal(cur.loss_ppm, 10000);
	assert_int_equal(cur.rate_bps, 0);
	assert_true(zt_scn_event_apply(&s->events[4], &cur, &saved));
	assert_int_equal(cur.blackhole, 1280);
	assert_true(zt_scn_event_apply(&s->events[5], &cur, &saved));
	assert_int_equal(cur.blackhole, 0);
	free(s);
}

static void load_reports_missing_file(void **state)
{
	struct zt_scn s;
	struct zt_scn_error err;

	(void)state;
	assert_int_equal(zt_scn_load(&s, "/nonexistent/x.lab", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/x.lab"));
}

static void nat_type_names(void **state)
{
	(void)state;
	assert_string_equal(zt_nat_type_name(ZT_NAT_FULL_CONE), "full-cone");
	assert_string_equal(zt_nat_type_name(ZT_NAT_ADDR_RESTRICTED), "address-restricted");
	assert_string_equal(zt_nat_type_name(ZT_NAT_PORT_RESTRICTED), "port-restricted");
	assert_string_equal(zt_nat_type_name(ZT_NAT_SYMMETRIC), "symmetric");
	assert_string_equal(zt_nat_type_name((enum zt_nat_type)9), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_every_kind_of_line),
		cmocka_unit_test(public_address_and_depth),
		cmocka_unit_test(default_name_and_seed),
		cmocka_unit_test(bad_files_say_where_and_what),
		cmocka_unit_test(too_many_nodes),
		cmocka_unit_test(oversized_input),
		cmocka_unit_test(too_many_words),
		cmocka_unit_test(link_text_round_trips),
		cmocka_unit_test(nat_timeout_takes_units),
		cmocka_unit_test(proxy_servers_and_egress),
		cmocka_unit_test(proxy_only_lab_file),
		cmocka_unit_test(nat_port_patterns),
		cmocka_unit_test(nat_port_blocks),
		cmocka_unit_test(nat_portmap),
		cmocka_unit_test(plain_link_is_not_emulated),
		cmocka_unit_test(host_moves),
		cmocka_unit_test(timed_events),
		cmocka_unit_test(load_reports_missing_file),
		cmocka_unit_test(nat_type_names),
		cmocka_unit_test(dual_stack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
