#!/bin/bash
# The full-system NAT matrix, as a user runs it (sudo ./scenarios/nat-matrix.sh, here
# with --no-build and MATRIX_RUNS runs per cell, default 3): for each of the 16 cells
# the Intermediate, a connector behind a_X and an agent behind b_Y must end on the
# path theory expects (direct, or the relay for symmetric x port-restricted/symmetric)
# in every run, with traffic echoed over it. One test per cell, one for the verdict
# and one for the cleanup. The whole output is kept in $BUILD/nat-matrix-system.txt
# (.ci/run prints its table).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. tests/lib/matrix.sh
B=${BUILD:-build}
lab_require 18
tap_plan 18
runs=${MATRIX_RUNS:-3}
out=$B/nat-matrix-system.txt
BUILD=$B ./scenarios/nat-matrix.sh --no-build --runs "$runs" --mode system >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
matrix_tap "$out" "$rc" "$pid" "nat-matrix.sh (system)"
tap_diag "$(grep '^median time to direct' "$out")"
