/*
 * ztna-agent: the user side. Keeps a QUIC connection to the Intermediate and serves
 * services locally: each --forward tcp:ADDR:PORT=SERVICE accepts TCP connections and
 * carries each in a stream of an end-to-end QUIC connection to the connector that
 * fronts SERVICE; --forward udp:ADDR:PORT=SERVICE carries datagrams in DATAGRAM frames.
 *
 *   ztna-agent --intermediate 127.0.0.1:4433 --pki DIR --name alice --token T \
 *              --forward tcp:127.0.0.1:8080=web
 */
#include "app/peerprog.h"

int main(int argc, char **argv)
{
	static struct zt_peerprog pp = { .d.prog = "ztna-agent", .role = ZT_CTRL_ROLE_AGENT };

	return zt_peerprog_main(&pp, argc, argv,
				"ztna-agent: reach services behind ztna connectors through local ports");
}
