#!/bin/bash
# Double NAT (a home router behind a carrier-grade NAT): what counts is the combined
# behaviour of both NATs, not the home router's.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10, .11          ztna stun-server (RFC 5780)
#     +-- nat cgn (port-restricted)  wan .1, lan 100.64.0.0/24
#     |   +-- nat home (full-cone)   lan 192.168.1.0/24
#     |       +-- host alice         combined: port-restricted
#     +-- nat office (port-restricted)  +-- host bob
#     +-- nat cafe (symmetric)          +-- host carol
#
# Builds what it needs, brings up scenarios/lab/double-nat-pair.lab, classifies the
# hosts with ztna discover (alice must come out port-restricted: full cone behind a
# port-restricted CGN), punches alice to bob (port-restricted x port-restricted:
# direct) and to carol (port-restricted x symmetric: no direct path, although alice's
# own router is a full cone: the session stays on the relay), with the full system
# (or ztna punch only with --mode punch), compares with RFC 4787 theory, PASS/FAIL, exit status.
# Everything it creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/double-nat.sh [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
SC_NAME="double NAT"
sc_say "== $SC_NAME: full cone behind a port-restricted CGN =="
sc_lab "$SC_ROOT/scenarios/lab/double-nat-pair.lab" || exit 2
sc_stun || exit 2
sc_say "expected: alice classified port-restricted (the combined behaviour), a direct"
sc_say "path to bob (port-restricted) and none to carol (symmetric). $SC_RUNS run(s) per pair."
sc_say ""
sc_say "classification (ztna discover, RFC 5780, against ztna stun-server):"
sc_classify_all alice bob carol
refl=$(json_get "$(cat "$LAB_TMP/disc-alice.json")" reflexive)
sc_row "alice appears with the CGN's address" "$ZTLAB_WAN_cgn" "${refl%:*}"
sc_say ""
sc_pair_header
sc_pair alice bob
sc_pair alice carol
sc_report
