/*
 * ztna-lab matrix: any peer-to-peer stack across a NAT matrix (docs/lab.md, "Any stack
 * in the matrix"). Brings a scenario up (by running this program's `up`), then for
 * every pair of a row host (names starting "a_") and a column host ("b_"), --runs
 * times: forgets the mappings of the NATs in front of both, runs the user's --a command
 * in the row host's namespace and --b in the column host's, both at once, under
 * `sh -c`, with the peer's addresses in the environment, waits for both (--timeout),
 * then runs --check (in the supervisor's namespace) if given. A run is a success when
 * --check exits 0, or without --check when both commands exit 0. Prints a line per
 * run and the table (successes per cell), writes every command's output under --out
 * and, with --json, the results as one JSON document; with --pcap the lab captures every
 * interface for the whole run into --out/pcap. Takes the lab down at the end,
 * also on Ctrl-C.
 *
 * The environment of each command: SIDE (a or b), SELF and PEER (node names), SELF_IP
 * and PEER_IP (addresses on their lans), SELF_PUBLIC and PEER_PUBLIC (the addresses
 * the public segment sees them at: their outermost NAT's), SERVER and SERVER2 (the
 * first server's first two addresses), PORT (a port number for this run, the same on
 * both sides), RUN and RUNS, CELL ("a_fc-b_prc"), OUT (this run's directory),
 * ZTLAB_ID and ZTLAB_NODE; --check also gets A_EXIT and B_EXIT (124: timed out).
 */
#ifndef ZT_NETNS_MATRIX_H
#define ZT_NETNS_MATRIX_H

/* The subcommand (argv[0] is "matrix"). Exit status: 0 every run was made (whatever
 * its outcome), 1 the lab or a command could not be started, 2 bad usage, 130 Ctrl-C. */
int zt_matrix_main(int argc, char **argv);

#endif
