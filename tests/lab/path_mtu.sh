#!/bin/bash
# Direct paths below the relay's packet size (docs/direct-path.md, "Packet size"):
# runs scenarios/path-mtu.sh as a user does (--no-build: make test has built
# everything) and turns each of its checks into a TAP line, then one more: the script
# exits 0 with a PASS verdict and leaves no namespace of its own. Its lab is
# dual-stack.lab with a_arc's link at 1280 bytes and a_prc's at 1400: a 1280-byte
# IPv6 path (1232-byte packets), a 1400-byte IPv4 path (1352) and a 1500-byte control
# (1407), each carrying 1 MiB through a TCP forward and two pings, and staying direct.
# On the code before the fix the two small paths fell back to the relay (8 checks
# fail). About 10 s; bounded at 120 s (then SIGTERM, which cleans up).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. tests/lib/matrix.sh

lab_require 1
out=$LAB_TMP/path-mtu.out
t0=$(date +%s)
timeout -k 10 120 ./scenarios/path-mtu.sh --no-build >"$out" 2>&1
rc=$?
left=$(scenario_labs_left "$out")
scenario_rows_tap "$out"
n=$ROWS_N
verdict=$(grep '^verdict:' "$out")
if [ $rc = 0 ] && [ "${verdict#verdict: PASS}" != "$verdict" ] && [ "$left" = 0 ] && [ $n = 15 ]; then
	tap_ok "scenarios/path-mtu.sh: $verdict, $n checks ($(($(date +%s) - t0)) s)"
else
	tap_fail "scenarios/path-mtu.sh: exit $rc, ${verdict:-no verdict}, $n of 15 checks, $left namespaces left"
	grep -E '^verdict|failed|did not start|interrupted|: error' "$out" | grep -v '^  ' | tail -n 8 | sed 's/^/# /'
fi
tap_plan $((n + 1))
