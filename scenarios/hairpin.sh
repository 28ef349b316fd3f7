#!/bin/bash
# Hairpinning (RFC 4787 s6): two hosts behind the same NAT reaching each other at
# their public addresses, with hairpinning on and off.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10, .11                    ztna stun-server
#     +-- nat home (port-restricted, hairpin on)   +-- host alice, host bob
#     +-- nat office (port-restricted, hairpin off) +-- host carol, host dave
#
# Builds what it needs, brings up scenarios/lab/hairpin.lab, runs ztna discover on
# every host (port-restricted; its hairpinning test must say yes behind home, no
# behind office), punches alice to bob and carol to dave at the public (reflexive)
# addresses the script exchanges (--mode punch): direct through home's hairpin,
# nothing through office's; in the default mode the full system, whose host
# candidates find the neighbour on the LAN behind both NATs: direct.
# PASS/FAIL, exit status. Everything it creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/hairpin.sh [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
SC_NAME="hairpinning"
sc_say "== $SC_NAME on and off =="
sc_lab "$SC_ROOT/scenarios/lab/hairpin.lab" || exit 2
sc_stun || exit 2
sc_say "expected: every host port-restricted; hairpinning yes behind home, no behind"
if [ "$SC_MODE" = system ]; then
	sc_say "office; the full system direct between neighbours on both (host candidates)."
else
	sc_say "office; alice <-> bob direct at their public addresses, carol <-> dave not."
fi
sc_say ""
sc_say "classification (ztna discover, RFC 5780, against ztna stun-server):"
sc_classify_all alice bob carol dave
for h in alice bob carol dave; do
	nat=$(eval echo "\$ZTLAB_BEHIND_$h")
	want=no
	[ "$(eval echo "\$ZTLAB_HAIRPIN_$nat")" = on ] && want=yes
	hp=$(json_get "$(cat "$LAB_TMP/disc-$h.json")" hairpinning)
	sc_row "hairpinning seen by ztna discover on $h" "$want" "$hp"
done
sc_say ""
if [ "$SC_MODE" = system ]; then
	# ICE's host candidates meet on the shared LAN, hairpinning or not
	sc_say "the full system between neighbours (host candidates on their LAN):"
	sc_pair_expect alice bob direct "hairpin on" "hairpin on"
	sc_pair_expect carol dave direct "hairpin off" "hairpin off"
else
	sc_say "hole punching between neighbours, at their public addresses (ztna punch):"
	sc_pair_expect alice bob direct "hairpin on" "hairpin on"
	sc_pair_expect carol dave relay "hairpin off" "hairpin off"
fi
sc_report
