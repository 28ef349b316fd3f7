/*
 * ztna-connector: next to the private services. Keeps a QUIC connection to the
 * Intermediate, registers its services, and is the end-to-end QUIC server for each
 * agent the Intermediate pairs with it, proving the service's identity with the
 * service certificate; connects each forwarded stream or flow to the service's
 * target.
 *
 *   ztna-connector --intermediate 127.0.0.1:4433 --pki DIR --name c1 --token T \
 *                  --service web=tcp:127.0.0.1:80
 */
#include "app/peerprog.h"

int main(int argc, char **argv)
{
	static struct zt_peerprog pp = { .d.prog = "ztna-connector",
					 .role = ZT_CTRL_ROLE_CONNECTOR };

	return zt_peerprog_main(&pp, argc, argv,
				"ztna-connector: front private services for ztna agents");
}
