#!/bin/bash
# A address-restricted NAT (RFC 4787) against every NAT type, in the namespace lab.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10, .11     ztna stun-server (RFC 5780)
#     +-- nat home (address-restricted)      +-- host alice
#     +-- nat fc_n  (full-cone)          +-- host p_fc
#     +-- nat arc_n (address-restricted) +-- host p_arc
#     +-- nat prc_n (port-restricted)    +-- host p_prc
#     +-- nat sym_n (symmetric)          +-- host p_sym
#
# Builds what it needs, brings up scenarios/lab/vs-address-restricted.lab, classifies every host with
# ztna discover (must equal its NAT's type), then runs the full system between alice
# (connector) and every peer (agent) — or, with --mode punch, only ztna punch with
# reflexive addresses exchanged by the script — and compares with RFC 4787
# theory. Prints the setup, expected and seen, PASS/FAIL; exit 0 only when all agree.
# Everything it creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/address-restricted.sh [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
sc_scenario_vs address-restricted
