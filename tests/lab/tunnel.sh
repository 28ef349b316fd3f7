#!/bin/bash
# The packet tunnel in the lab (issue 13): runs scenarios/tunnel.sh as a user does
# (--no-build: make test has built everything) and turns each of its checks into a
# TAP line, then one more: the script exits 0 with a PASS verdict and leaves no
# namespace of its own. Its three labs (scenarios/lab/tunnel*.lab, topology at the top
# of the script): the direct path (ping, 10 MiB download, UDP echo, PMTU error, MSS
# clamping, the disallowed host and a spoofed source dropped by the agent's check and
# by the connector's, device/route/nftables lifecycle over SIGTERM and SIGKILL), the
# relay path (symmetric x symmetric), and the direct path cut and restored under a
# 64 MiB download, twice. About 75 s; bounded at 240 s (then SIGTERM, which cleans up).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. tests/lib/matrix.sh

lab_require 1
out=$LAB_TMP/tunnel.out
t0=$(date +%s)
timeout -k 10 240 ./scenarios/tunnel.sh --no-build >"$out" 2>&1
rc=$?
# the labs it brought up: none may be left
left=$(scenario_labs_left "$out")
scenario_rows_tap "$out"
n=$ROWS_N
verdict=$(grep '^verdict:' "$out")
if [ $rc = 0 ] && [ "${verdict#verdict: PASS}" != "$verdict" ] && [ "$left" = 0 ] && [ $n -gt 0 ]; then
	tap_ok "scenarios/tunnel.sh: $verdict, $n checks ($(($(date +%s) - t0)) s)"
else
	tap_fail "scenarios/tunnel.sh: exit $rc, ${verdict:-no verdict}, $n checks, $left namespaces left"
	grep -E '^verdict|failed|did not start|interrupted|: error' "$out" | grep -v '^  ' | tail -n 8 | sed 's/^/# /'
fi
# what it measured (ping RTTs, download times, path switches), for the log
sed -n '/^numbers:/,/^$/p' "$out" | sed '/^$/d; s/^/# /'
tap_plan $((n + 1))
