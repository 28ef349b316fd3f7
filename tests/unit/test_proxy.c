#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../netns/proxy.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define HAS(text, piece) \
	do { if (!strstr(text, piece)) fail_msg("missing '%s' in:\n%s", piece, text); } while (0)
#define LACKS(text, piece) assert_null(strstr(text, piece))

static struct zt_scn_node server(enum zt_scn_proxy mode, uint16_t port)
{
	struct zt_scn_node n = {
		.name = "webproxy", .kind = ZT_SCN_SERVER, .up = -1, .naddr = 1,
		.addr = { IP(203, 0, 113, 20) }, .proxy = mode, .proxy_port = port,
	};
	return n;
}

static void allow_tunnels_every_port(void **state)
{
	struct zt_scn_node n = server(ZT_SCN_PROXY_ALLOW, 3128);
	char buf[1024];
	int len;

	(void)state;
	len = zt_proxy_conf_render(&n, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal((size_t)len, strlen(buf));
	HAS(buf, "\nListen 203.0.113.20\n");
	HAS(buf, "\nPort 3128\n");
	HAS(buf, "\nUser nobody\nGroup nogroup\n");
	HAS(buf, "\nSyslog Off\n");
	HAS(buf, "\nAllow 0.0.0.0/0\n");
	/* no ConnectPort line at all: tinyproxy then allows CONNECT to every port */
	LACKS(buf, "\nConnectPort");
	/* standard output, which the harness points at the run directory */
	LACKS(buf, "LogFile");
	LACKS(buf, "PidFile");
}

static void deny_refuses_every_connect(void **state)
{
	struct zt_scn_node n = server(ZT_SCN_PROXY_DENY, 8080);
	char buf[1024], *cp;

	(void)state;
	assert_true(zt_proxy_conf_render(&n, buf, sizeof(buf)) > 0);
	HAS(buf, "\nPort 8080\n");
	cp = strstr(buf, "\nConnectPort ");
	assert_non_null(cp);
	/* one line only, naming port 0, which no CONNECT can reach */
	assert_string_equal(cp, "\nConnectPort 0\n");
}

static void refuses_what_is_no_proxy(void **state)
{
	struct zt_scn_node n = server(ZT_SCN_PROXY_NONE, 0);
	char buf[1024];
	int len;

	(void)state;
	assert_int_equal(zt_proxy_conf_render(&n, buf, sizeof(buf)), -EINVAL);
	n = server(ZT_SCN_PROXY_ALLOW, 3128);
	n.kind = ZT_SCN_HOST;
	assert_int_equal(zt_proxy_conf_render(&n, buf, sizeof(buf)), -EINVAL);
	n = server(ZT_SCN_PROXY_ALLOW, 0);
	assert_int_equal(zt_proxy_conf_render(&n, buf, sizeof(buf)), -EINVAL);
	n = server(ZT_SCN_PROXY_ALLOW, 3128);
	len = zt_proxy_conf_render(&n, buf, sizeof(buf));
	assert_int_equal(zt_proxy_conf_render(&n, buf, (size_t)len), -ENOBUFS);
	assert_int_equal(buf[0], 0);
	assert_int_equal(zt_proxy_conf_render(&n, buf, (size_t)len + 1), len);
}

/* /proc/PID/net/tcp as this kernel prints it (x86-64: the address word little-endian) */
static const char tcp_table[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 147100CB:0C38 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 2321295 1 0000000017a05f59 100 0 0 10 0\n"
	"   1: 147100CB:20FB 0A7100CB:01BB 01 00000000:00000000 00:00000000 00000000     0        0 0 3 00000000bcea37fe\n"
	"   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2321296 1 0000000017a05f5a 100 0 0 10 0\n";

static void finds_the_listening_socket(void **state)
{
	(void)state;
	if (htonl(1) == 1) /* a big-endian machine prints CB007114 */
		skip();
	assert_true(zt_proxy_tcp_listening(tcp_table, IP(203, 0, 113, 20), 3128));
	/* 8443 is only an established connection's source port, not a listener */
	assert_false(zt_proxy_tcp_listening(tcp_table, IP(203, 0, 113, 20), 8443));
	/* another address on the same port */
	assert_false(zt_proxy_tcp_listening(tcp_table, IP(203, 0, 113, 21), 3128));
	/* bound to every address (0.0.0.0:8080) counts for any */
	assert_true(zt_proxy_tcp_listening(tcp_table, IP(203, 0, 113, 21), 8080));
	assert_false(zt_proxy_tcp_listening("", IP(203, 0, 113, 20), 3128));
	assert_false(zt_proxy_tcp_listening("garbage\n\n   x: 1:2 3:4 0A\n", IP(0, 0, 0, 1), 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(allow_tunnels_every_port),
		cmocka_unit_test(deny_refuses_every_connect),
		cmocka_unit_test(refuses_what_is_no_proxy),
		cmocka_unit_test(finds_the_listening_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
