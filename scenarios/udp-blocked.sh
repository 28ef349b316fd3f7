#!/bin/bash
# A network whose firewall drops all UDP: discovery must say so quickly, and no
# direct UDP path can exist (the full system would need a TCP fallback).
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10, .11              ztna stun-server (RFC 5780)
#     +-- nat office (port-restricted, UDP blocked)   +-- host alice
#     +-- nat home (full-cone)                        +-- host bob
#
# Builds what it needs, brings up scenarios/lab/udp-blocked-pair.lab, runs ztna
# discover on both hosts (alice: udp-blocked, exit status 1, within its documented
# time: 1 s with --timeout 1, about 3.5 s by default; bob: full-cone), punches alice
# to bob (expected: no direct path; alice's public address is guessed as her NAT's
# address with her port, since discovery cannot learn it), PASS/FAIL, exit status.
# Everything it creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/udp-blocked.sh [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
SC_NAME="UDP blocked"
sc_say "== $SC_NAME: a firewall that drops every UDP packet =="
sc_lab "$SC_ROOT/scenarios/lab/udp-blocked-pair.lab" || exit 2
sc_stun || exit 2
sc_say "expected: alice classified udp-blocked (ztna discover exits 1) within its"
sc_say "timeout, bob full-cone, no direct path between them. $SC_RUNS run(s)."
sc_say ""
sc_say "classification (ztna discover, RFC 5780, against ztna stun-server):"
sc_classify_all alice bob
sc_discover alice
sc_row "ztna discover on alice exits 1 (no answer)" 1 "$DISC_RC"
within=no
[ "$DISC_MS" -le 2000 ] && within=yes
sc_row "... within 2 s with --timeout $SC_DISCOVER_TIMEOUT" yes "$within" "${DISC_MS} ms"
t0=$(date +%s%N)
lab_x alice "$ZTNA" discover --server "$SC_STUN" >/dev/null 2>"$LAB_TMP/default.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
within=no
[ $rc = 1 ] && [ "$ms" -le 4500 ] && within=yes
sc_row "... and within 4.5 s by default (3.5 s)" yes "$within" "exit $rc, ${ms} ms: $(tail -n 1 "$LAB_TMP/default.err")"
sc_say ""
if [ "$SC_MODE" = system ]; then
	sc_say "the full system (alice cannot reach the Intermediate: QUIC needs UDP, and there"
	sc_say "is no TCP fallback; expected: no connection, said clearly):"
else
	sc_say "hole punching (ztna punch):"
fi
sc_pair alice bob
sc_report
