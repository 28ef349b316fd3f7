#!/bin/bash
# Simulated hole-punch sessions per CPU-second (goal >= 1000), with the bare event
# queue as the in-run baseline; and the 60 s property cases (with a data flow) per
# CPU-second for comparison. Needs build/ztna-sim (make).
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
N=${SESSIONS:-20000}
[ -n "${QUICK:-}" ] && N=2000
"$BUILD/ztna-sim" --bench --sessions "$N" || exit 1
"$BUILD/ztna-sim" --prop --cases $((N / 4)) --seed 1 | tail -n 1
# the real cores (sim/real.c): property cases per CPU-second, TLS handshakes included
"$BUILD/ztna-sim" --prop --real --cases $((N / 40)) --seed 1 | tail -n 1
