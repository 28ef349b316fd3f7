#!/bin/bash
# The NAT matrix with the hard-NAT techniques, as a user runs it (sudo
# ./scenarios/nat-matrix.sh --hard, here --cells changed, --no-build, one run per cell
# and HARD_PROBE_RUNS runs of each birthday cell, default 6): for each variant
# (sequential symmetric NATs with prediction, random ones with birthday probing,
# miniupnpd on every NAT with --portmap auto, every NAT also routing IPv6 behind a
# stateful firewall) the cells the technique changes
# (port-restricted x symmetric, symmetric x port-restricted, symmetric x symmetric)
# and the control port-restricted x port-restricted must end on the path the
# variant's theory expects: direct everywhere (over IPv6 to the connector's own
# address in the dual-stack variant, the pings after the echo too) but symmetric x
# symmetric with probing (relay); a birthday cell with at least 4 of 6 runs direct
# (98.3 % a run: fewer has p < 0.001). One test per cell (16), one for the verdict (which also covers the
# classification), one for the cleanup. The output is kept in $BUILD/nat-matrix-hard.txt.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. tests/lib/matrix.sh
B=${BUILD:-build}
lab_require 18
tap_plan 18
out=$B/nat-matrix-hard.txt
BUILD=$B ./scenarios/nat-matrix.sh --no-build --hard all --cells changed --runs 1 \
	--probe-runs "${HARD_PROBE_RUNS:-6}" >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
matrix_tap "$out" "$rc" "$pid" "nat-matrix.sh --hard --cells changed" 16
tap_diag "$(grep -E '^(birthday cells|median time to direct)' "$out" | tr '\n' '|')"
