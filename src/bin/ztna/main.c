/* ztna: the user tool. Subcommands as a table (like wireguard-tools' wg.c). */
#include <stdio.h>
#include <string.h>

#include "app/log.h"
#include "core/version.h"
#include "cmds.h"

struct subcommand {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ .name = "version", .main = version_main, .summary = "print the version" },
	{ .name = "pki", .main = pki_main, .summary = "create a development CA and certificates" },
	{ .name = "stun-server", .main = stun_server_main,
	  .summary = "STUN server (RFC 8489) with NAT behaviour discovery (RFC 5780)" },
	{ .name = "discover", .main = discover_main,
	  .summary = "reflexive address and NAT type (RFC 5780 tests against a STUN server)" },
	{ .name = "punch", .main = punch_main,
	  .summary = "manual UDP hole punch to a peer, with a PING/PONG round trip" },
	{ .name = "status", .main = status_main,
	  .summary = "a running agent's sessions: path (direct or relay), addresses, RTT" },
	{ .name = "ping", .main = ping_main,
	  .summary = "round trips to a service through a running agent, with the path taken" },
	{ .name = "policy", .main = policy_main,
	  .summary = "push the deployment's policy to Intermediates sharing a NATS cluster" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ztna COMMAND [ARGS...]\n       ztna --version | -V\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\n'ztna COMMAND --help' for a command's options.\n");
}

int version_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("ztna %s\n", ZT_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")))
		return version_main(argc - 1, argv + 1);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name)) {
			int rc = subcommands[i].main(argc - 1, argv + 1);
			zt_log_flush(true); /* what the rate limit left out, counted */
			return rc;
		}
	fprintf(stderr, "ztna: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
