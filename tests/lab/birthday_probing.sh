#!/bin/bash
# Birthday probing in the lab, as a user runs it (sudo ./scenarios/birthday-probing.sh,
# here with --no-build and BDAY_RUNS runs per cell, default 8): port-restricted x
# symmetric with random ports, both ways round, direct in at least 6 of 8 runs of each
# cell (98.3 % a run: fewer has p < 0.001; the scenario alone asks 9 of 10) with --nat-mapping/--nat-ports set from ztna discover (the symmetric side sprays
# from 256 sockets, the other probes), relay in every run with --probe off; traffic
# echoed either way. One test per cell and variant (4), one for the verdict (which
# also covers discover's classification), one for the cleanup. The whole output is
# kept in $BUILD/birthday-probing.txt.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. tests/lib/matrix.sh
B=${BUILD:-build}
lab_require 6
tap_plan 6
runs=${BDAY_RUNS:-8}
out=$B/birthday-probing.txt
BUILD=$B BDAY_MIN=${BDAY_MIN:-$((runs * 3 / 4))} ./scenarios/birthday-probing.sh --no-build --runs "$runs" >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
matrix_tap "$out" "$rc" "$pid" "birthday-probing.sh" 4
