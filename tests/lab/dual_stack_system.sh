#!/bin/bash
# The full system on dual-stack.lab (sudo ./scenarios/dual-stack.sh, here with
# --no-build and DUAL_RUNS runs per cell, default 2): an agent and a connector behind
# symmetric x symmetric, port-restricted x symmetric and symmetric x port-restricted
# IPv4 NATs, each router also with a routed IPv6 /64 behind a stateful firewall, go
# direct over IPv6 in every run (the pair's remote the connector's own lan6 address:
# no NAT66), and a_sym <-> b_sym stays on the relay with --bind 0.0.0.0 (IPv4 only);
# traffic echoed every time. One test per cell, one for the verdict, one for the
# cleanup. The whole output is kept in $BUILD/dual-stack.txt. About 30 s.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. tests/lib/matrix.sh
B=${BUILD:-build}
lab_require 6
tap_plan 6
runs=${DUAL_RUNS:-2}
out=$B/dual-stack.txt
BUILD=$B ./scenarios/dual-stack.sh --no-build --runs "$runs" >"$out" 2>&1 &
pid=$!
wait $pid
rc=$?
matrix_tap "$out" "$rc" "$pid" "dual-stack.sh" 4
