#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../netns/diagram.h"

static char *draw(const char *text)
{
	struct zt_scn s;
	struct zt_scn_error err;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (zt_scn_parse(&s, text, strlen(text), "d.lab", &err) < 0)
		fail_msg("%s", err.msg);
	f = open_memstream(&out, &len);
	assert_non_null(f);
	assert_int_equal(zt_scn_diagram(&s, f), 0);
	fclose(f);
	return out;
}

static void draws_the_tree(void **state)
{
	char *d = draw("lab demo\npublic 203.0.113.0/24\n"
		       "server stun addr 203.0.113.10 addr 203.0.113.11\n"
		       "nat cgn type symmetric lan 100.64.0.0/24 wan 203.0.113.1\n"
		       "nat home type full-cone behind cgn lan 192.168.1.0/24 hairpin on\n"
		       "host alice behind home\n"
		       "link alice delay 10ms loss 1%\n"
		       "link cgn mtu 1400\n"
		       "nat fw type port-restricted lan 10.0.0.0/24 udp block\n"
		       "nat seq type symmetric lan 10.0.1.0/24 ports sequential portmap pcp\n");
	static const char want[] =
		"lab demo (seed 1)\n"
		"\n"
		"[ public segment 203.0.113.0/24: an isolated bridge ]\n"
		"  +-- server stun         203.0.113.10, 203.0.113.11\n"
		"  |\n"
		"  +-- nat    cgn          wan 203.0.113.1  [symmetric, hairpin off, timeout 120s]  ~ mtu 1400\n"
		"  |   |   lan 100.64.0.0/24, gw 100.64.0.1\n"
		"  |   +-- nat    home         wan 100.64.0.2  [full-cone, hairpin on, timeout 120s]\n"
		"  |       |   lan 192.168.1.0/24, gw 192.168.1.1\n"
		"  |       +-- host   alice        192.168.1.2  ~ delay 10ms loss 1% (emulated)\n"
		"  |\n"
		"  +-- nat    fw           wan 203.0.113.2  [port-restricted, hairpin off, timeout 120s, UDP blocked]\n"
		"  |   |   lan 10.0.0.0/24, gw 10.0.0.1\n"
		"  |   (nothing attached)\n"
		"  |\n"
		"  +-- nat    seq          wan 203.0.113.3  [symmetric, ports sequential, hairpin off, timeout 120s, portmap pcp]\n"
		"      |   lan 10.0.1.0/24, gw 10.0.1.1\n"
		"      (nothing attached)\n";

	(void)state;
	assert_string_equal(d, want);
	free(d);
}

static void draws_proxies_and_egress(void **state)
{
	char *d = draw("public 203.0.113.0/24\n"
		       "server web proxy allow\n"
		       "server strict proxy deny port 8080\n"
		       "nat office type port-restricted lan 10.10.0.0/24 egress proxy web\n");

	(void)state;
	if (!strstr(d, "  +-- server web          203.0.113.1  [HTTP proxy :3128, CONNECT to any port]\n") ||
	    !strstr(d, "  +-- server strict       203.0.113.2  [HTTP proxy :8080, CONNECT refused]\n") ||
	    !strstr(d, "[port-restricted, hairpin off, timeout 120s, egress only via proxy web]\n"))
		fail_msg("%s", d);
	free(d);
}

static void draws_ipv6(void **state)
{
	char *d = draw("public 203.0.113.0/24\n"
		       "public6 2001:db8:100::/48\n"
		       "server stun addr 203.0.113.10\n"
		       "nat home type symmetric lan 10.1.4.0/24 wan 203.0.113.4 lan6 2001:db8:1:4::/64 "
		       "fw6 open\n"
		       "host alice behind home\n");

	(void)state;
	if (!strstr(d, "[ public segment 203.0.113.0/24, 2001:db8:100::/48: an isolated bridge ]\n") ||
	    !strstr(d, "  +-- server stun         203.0.113.10, 2001:db8:100::10\n") ||
	    !strstr(d, "  +-- nat    home         wan 203.0.113.4, 2001:db8:100::4  [symmetric,") ||
	    !strstr(d, "      |   lan6 2001:db8:1:4::/64 routed, gw 2001:db8:1:4::1  [IPv6 firewall open]\n") ||
	    !strstr(d, "      +-- host   alice        10.1.4.2, 2001:db8:1:4::2\n"))
		fail_msg("%s", d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(draws_the_tree),
		cmocka_unit_test(draws_proxies_and_egress),
		cmocka_unit_test(draws_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
