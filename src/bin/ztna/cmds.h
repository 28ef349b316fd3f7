/* Subcommands of the ztna tool. Each is int NAME_main(int argc, char **argv), argv[0]
 * being the subcommand name; returns the process exit status. */
#ifndef ZT_BIN_ZTNA_CMDS_H
#define ZT_BIN_ZTNA_CMDS_H

int version_main(int argc, char **argv);
int pki_main(int argc, char **argv);
int pki_show_main(int argc, char **argv);
int pki_list_main(int argc, char **argv);
int pki_export_main(int argc, char **argv);
int stun_server_main(int argc, char **argv);
int discover_main(int argc, char **argv);
int punch_main(int argc, char **argv);
int status_main(int argc, char **argv);
int ping_main(int argc, char **argv);
int policy_main(int argc, char **argv);

#endif
