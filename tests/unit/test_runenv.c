#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../netns/runenv.h"

static const char text[] =
	"lab double\n"
	"public 203.0.113.0/24\n"
	"server stun addr 203.0.113.10 addr 203.0.113.11\n"
	"nat cgn type port-restricted lan 100.64.0.0/24 wan 203.0.113.1\n"
	"nat home type full-cone behind cgn lan 192.168.1.0/24 hairpin on timeout 30\n"
	"host alice behind home\n";

static void ids_and_names(void **state)
{
	char buf[ZT_RUN_NS_MAX];
	struct zt_scn_node nat = { .name = "abcdefghijkl", .kind = ZT_SCN_NAT };
	struct zt_scn_node host = { .name = "alice", .kind = ZT_SCN_HOST };

	(void)state;
	assert_true(zt_run_id_valid("a1"));
	assert_true(zt_run_id_valid("abcdefghijkl"));
	assert_false(zt_run_id_valid("abcdefghijklm"));
	assert_false(zt_run_id_valid(""));
	assert_false(zt_run_id_valid("a-b"));
	assert_false(zt_run_id_valid("A"));
	assert_false(zt_run_id_valid("../x"));
	assert_int_equal(zt_run_ns_name("x1", "alice", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ztlab-x1-alice");
	assert_int_equal(zt_run_ns_name("x1", "alice", buf, 10), -ENOBUFS);
	/* the longest id and node name fit */
	assert_int_equal(zt_run_ns_name("abcdefghijkl", "abcdefghijkl", buf, sizeof(buf)), 0);
	assert_string_equal(zt_run_uplink_name(&nat), "wan");
	assert_string_equal(zt_run_uplink_name(&host), "eth0");
	/* interface names are at most 15 characters */
	assert_int_equal(zt_run_port_name(&nat, buf, 16), 0);
	assert_string_equal(buf, "to-abcdefghijkl");
	assert_int_equal(zt_run_port_name(&nat, buf, 15), -ENOBUFS);
}

static char *env_of(const struct zt_scn *s, const char *path, const char *cap)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	assert_int_equal(zt_run_env_write(s, "r7", path, cap, f), 0);
	fclose(f);
	return out;
}

#define HAS(text, piece) \
	do { if (!strstr(text, piece)) fail_msg("missing '%s' in:\n%s", piece, text); } while (0)

static void env_file_lists_every_node(void **state)
{
	struct zt_scn s;
	struct zt_scn_error err;
	char *env;

	(void)state;
	assert_int_equal(zt_scn_parse(&s, text, strlen(text), "d.lab", &err), 0);
	env = env_of(&s, "/x/d.lab", NULL);
	HAS(env, "\nZTLAB_ID=r7\n");
	HAS(env, "\nZTLAB_NAME='double'\n");
	HAS(env, "\nZTLAB_RUNDIR=/run/ztna-lab/r7\n");
	HAS(env, "\nZTLAB_PREFIX=ztlab-r7-\n");
	HAS(env, "\nZTLAB_PUBLIC_NS=ztlab-r7-public\n");
	HAS(env, "\nZTLAB_NODES='stun cgn home alice'\n");
	HAS(env, "\nZTLAB_SERVERS='stun'\n");
	HAS(env, "\nZTLAB_NATS='cgn home'\n");
	HAS(env, "\nZTLAB_HOSTS='alice'\n");
	HAS(env, "\nZTLAB_NS_alice=ztlab-r7-alice\n");
	HAS(env, "\nZTLAB_IP_alice=192.168.1.2\n");
	HAS(env, "\nZTLAB_GW_alice=192.168.1.1\n");
	HAS(env, "\nZTLAB_BEHIND_alice=home\n");
	/* the outermost NAT's address, not home's */
	HAS(env, "\nZTLAB_PUBLIC_IP_alice=203.0.113.1\n");
	HAS(env, "\nZTLAB_IP_home=100.64.0.2\n");
	HAS(env, "\nZTLAB_IF_home=wan\n");
	HAS(env, "\nZTLAB_TYPE_home=full-cone\n");
	HAS(env, "\nZTLAB_HAIRPIN_home=on\n");
	HAS(env, "\nZTLAB_TIMEOUT_home=30\n");
	HAS(env, "\nZTLAB_PORTS_home=preserve\n");
	HAS(env, "\nZTLAB_PORTMAP_home=none\n");
	HAS(env, "\nZTLAB_PORTMAPS=''\n");
	HAS(env, "\nZTLAB_LAN_home=192.168.1.0/24\n");
	HAS(env, "\nZTLAB_LAN_IP_home=192.168.1.1\n");
	HAS(env, "\nZTLAB_UDP_cgn=allow\n");
	HAS(env, "\nZTLAB_IP_stun=203.0.113.10\n");
	HAS(env, "\nZTLAB_IP2_stun=203.0.113.11\n");
	HAS(env, "\nZTLAB_IPS_stun='203.0.113.10 203.0.113.11'\n");
	HAS(env, "\nZTLAB_PREFIXLEN_stun=24\n");
	assert_null(strstr(env, "ZTLAB_GW_stun"));
	assert_null(strstr(env, "ZTLAB_IP2_alice"));
	assert_null(strstr(env, "ZTLAB_CAPTURE"));
	free(env);
}

static void env_names_proxies_and_egress(void **state)
{
	static const char px[] =
		"public 203.0.113.0/24\n"
		"server stun\n"
		"server web addr 203.0.113.20 proxy allow\n"
		"server strict proxy deny port 8080\n"
		"nat office type port-restricted lan 10.10.0.0/24 egress proxy web\n"
		"nat home type port-restricted lan 10.2.1.0/24\n";
	struct zt_scn s;
	struct zt_scn_error err;
	char *env;

	(void)state;
	assert_int_equal(zt_scn_parse(&s, px, strlen(px), "p.lab", &err), 0);
	env = env_of(&s, "/x/p.lab", NULL);
	HAS(env, "\nZTLAB_PROXIES='web strict'\n");
	HAS(env, "\nZTLAB_PROXY_web=allow\nZTLAB_PROXY_PORT_web=3128\n");
	HAS(env, "\nZTLAB_PROXY_strict=deny\nZTLAB_PROXY_PORT_strict=8080\n");
	HAS(env, "\nZTLAB_EGRESS_office=proxy\nZTLAB_EGRESS_PROXY_office=web\n");
	HAS(env, "\nZTLAB_EGRESS_home=all\n");
	assert_null(strstr(env, "ZTLAB_PROXY_stun"));
	assert_null(strstr(env, "ZTLAB_EGRESS_PROXY_home"));
	free(env);

	assert_int_equal(zt_scn_parse(&s, text, strlen(text), "d.lab", &err), 0);
	env = env_of(&s, "/x/d.lab", NULL);
	HAS(env, "\nZTLAB_PROXIES=''\n");
	free(env);
}

static const char dual[] =
	"public 203.0.113.0/24\n"
	"public6 2001:db8:100::/48\n"
	"server stun addr 203.0.113.10\n"
	"nat home type symmetric lan 10.1.4.0/24 wan 203.0.113.4 lan6 2001:db8:1:4::/64\n"
	"nat v4 type full-cone lan 10.9.0.0/24\n"
	"host alice behind home\n"
	"host bob behind v4\n";

static void env_dual_stack(void **state)
{
	struct zt_scn s;
	struct zt_scn_error err;
	char *env;

	(void)state;
	assert_int_equal(zt_scn_parse(&s, dual, strlen(dual), "d.lab", &err), 0);
	env = env_of(&s, "/x/d.lab", NULL);
	HAS(env, "\nZTLAB_PUBLIC_NET6=2001:db8:100::/48\n");
	HAS(env, "\nZTLAB_IP6_stun=2001:db8:100::10\n");
	HAS(env, "\nZTLAB_IP6_home=2001:db8:100::4\n");
	HAS(env, "\nZTLAB_LAN6_home=2001:db8:1:4::/64\nZTLAB_LAN6_IP_home=2001:db8:1:4::1\n"
		 "ZTLAB_FW6_home=address-and-port\n");
	HAS(env, "\nZTLAB_IP6_alice=2001:db8:1:4::2\nZTLAB_GW6_alice=2001:db8:1:4::1\n");
	HAS(env, "\nZTLAB_IP6_v4=2001:db8:100::1\n");
	assert_null(strstr(env, "ZTLAB_LAN6_v4"));
	assert_null(strstr(env, "ZTLAB_IP6_bob"));
	assert_null(strstr(env, "ZTLAB_GW6_stun"));
	free(env);

	assert_int_equal(zt_scn_parse(&s, text, strlen(text), "d.lab", &err), 0);
	env = env_of(&s, "/x/d.lab", NULL);
	assert_null(strstr(env, "6"  "="));
	assert_null(strstr(env, "NET6"));
	assert_null(strstr(env, "IP6"));
	free(env);
}

static void env_quotes_paths(void **state)
{
	struct zt_scn s;
	struct zt_scn_error err;
	char *env;

	(void)state;
	assert_int_equal(zt_scn_parse(&s, text, strlen(text), "d.lab", &err), 0);
	env = env_of(&s, "/it's/d.lab", "/tmp/cap dir");
	HAS(env, "\nZTLAB_SCENARIO='/it'\\''s/d.lab'\n");
	HAS(env, "\nZTLAB_CAPTURE='/tmp/cap dir'\n");
	free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_and_names),
		cmocka_unit_test(env_file_lists_every_node),
		cmocka_unit_test(env_names_proxies_and_egress),
		cmocka_unit_test(env_quotes_paths),
		cmocka_unit_test(env_dual_stack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
