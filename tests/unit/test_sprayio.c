/* app/sprayio: the spray sockets beside a node's main socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "app/nodeio.h"
#include "app/sprayio.h"
#include "io/loop.h"

/* Beside a dual-stack main socket the spray sockets are dual-stack too, and the node
 * answers an IPv4 peer from the IPv4 address a datagram reached: that answer must
 * leave from the spray socket's port (matched by port, whatever the family), not
 * from the main socket's. Found by tests/lab/birthday_probing.sh (0/2 direct). */
static void dual_stack_spray_sends_ipv4_from_its_port(void **state)
{
	struct zt_loop *loop;
	struct zt_nodeio *io = calloc(1, sizeof(*io));
	struct zt_sprayio s;
	struct zt_udp peer;
	struct zt_addr any = { 0 }, lo, from, local;
	uint8_t buf[16];

	(void)state;
	assert_non_null(io);
	assert_int_equal(zt_loop_new(&loop), 0);
	assert_int_equal(zt_nodeio_open(io, loop, &any), 0);
	if (!io->udp.dual) {
		zt_nodeio_close(io);
		zt_loop_free(loop);
		free(io);
		skip(); /* no IPv6 here */
	}
	assert_int_equal(zt_sprayio_open(&s, io, &io->udp.local, 2), 0);
	assert_true(s.socks[0].udp.dual);
	assert_int_equal(zt_addr_parse(&lo, "127.0.0.1:0", 0), 0);
	assert_int_equal(zt_udp_open(&peer, &lo), 0);
	/* the local address the node names: the IPv4 address, the spray socket's port */
	local = lo;
	local.port = s.locals[1].port;
	assert_true(zt_sprayio_send(&s, &local, &peer.local, (const uint8_t *)"spray", 5));
	assert_int_equal(s.tx, 1);
	assert_int_equal(zt_udp_recv(&peer, buf, sizeof(buf), &from, NULL), 5);
	assert_int_equal(from.family, AF_INET);
	assert_int_equal(from.port, s.locals[1].port);
	/* the main socket's port is not theirs */
	local.port = io->udp.local.port;
	assert_false(zt_sprayio_send(&s, &local, &peer.local, (const uint8_t *)"x", 1));
	zt_udp_close(&peer);
	zt_sprayio_close(&s);
	zt_nodeio_close(io);
	zt_loop_free(loop);
	free(io);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dual_stack_spray_sends_ipv4_from_its_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
