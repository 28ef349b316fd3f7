#!/bin/bash
# Port prediction in the lab, as a user runs it (sudo ./scenarios/sequential-nat.sh,
# here with --no-build and SEQ_RUNS runs per cell, default 2): behind symmetric NATs
# with sequential ports, PRC x SYM, SYM x PRC and SYM x SYM go direct in every run
# with --nat-ports sequential (set from ztna discover's ports=), stay on the relay
# with --predict off, and go direct with no --nat-ports, each node detecting its NAT
# (sequential behind the symmetric NATs, eim behind the port-restricted ones: a cell
# with a wrong detection fails); traffic echoed every time. One test per cell and
# variant (9), one for the verdict (which also covers discover's classification and
# every detection), one for the cleanup. The whole output is kept in $BUILD/sequential-nat.txt.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. tests/lib/matrix.sh
B=${BUILD:-build}
lab_require 8
tap_plan 11
runs=${SEQ_RUNS:-2}
out=$B/sequential-nat.txt
BUILD=$B ./scenarios/sequential-nat.sh --no-build --runs "$runs" >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
matrix_tap "$out" "$rc" "$pid" "sequential-nat.sh" 9
