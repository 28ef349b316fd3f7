#!/bin/bash
# Birthday probing in the lab, as a user runs it (sudo ./scenarios/birthday-probing.sh,
# here with --no-build and BDAY_RUNS runs per cell, default 8): port-restricted x
# symmetric with random ports, both ways round, direct in at least 6 of 8 runs of each
# cell (98.3 % a run: fewer has p < 0.001; the scenario alone asks 9 of 10) with --nat-mapping/--nat-ports set from ztna discover (the symmetric side sprays
# from 256 sockets, the other probes), relay in every run with --probe off; traffic
# echoed either way; and with nothing configured (each node detects its NAT: random
# behind the symmetric NATs, which then open their spray sockets (--spray-auto on),
# eim behind the
# port-restricted ones) direct in at least 2 of 3 runs of each cell (p = 0.001 to
# fail a cell at 98.3 % a run), every detection
# right. One test per cell and variant (6), one for the verdict (which also covers
# discover's classification), one for the cleanup. The whole output is
# kept in $BUILD/birthday-probing.txt.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. tests/lib/matrix.sh
B=${BUILD:-build}
lab_require 6
tap_plan 8
runs=${BDAY_RUNS:-8}
out=$B/birthday-probing.txt
BUILD=$B BDAY_MIN=${BDAY_MIN:-$((runs * 3 / 4))} BDAY_AUTO_RUNS=${BDAY_AUTO_RUNS:-3} BDAY_AUTO_MIN=${BDAY_AUTO_MIN:-2} ./scenarios/birthday-probing.sh --no-build --runs "$runs" >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
matrix_tap "$out" "$rc" "$pid" "birthday-probing.sh" 6
