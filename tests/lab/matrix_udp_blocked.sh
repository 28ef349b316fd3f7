#!/bin/bash
# The NAT matrix with UDP blocked at every NAT, as a user runs it (sudo
# ./scenarios/nat-matrix.sh --udp-blocked, here with --no-build and one run per cell):
# every cell must connect over TLS/TCP at both ends and carry the traffic on the
# relay. One test per cell, one for the verdict, one for the cleanup; the output in
# $BUILD/nat-matrix-udp-blocked.txt.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. tests/lib/matrix.sh
B=${BUILD:-build}
lab_require 18
tap_plan 18
out=$B/nat-matrix-udp-blocked.txt
BUILD=$B ./scenarios/nat-matrix.sh --no-build --runs 1 --mode system --udp-blocked >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
matrix_tap "$out" "$rc" "$pid" "nat-matrix.sh --udp-blocked"
