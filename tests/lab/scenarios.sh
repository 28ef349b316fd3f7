#!/bin/bash
# The scenario scripts themselves, as a user runs them (sudo ./scenarios/NAME.sh,
# here with --no-build: make test has built everything): each must end with exit 0
# and a PASS verdict, and leave no namespace of its own behind. They run the full
# system (their default mode). nat-matrix.sh is matrix_system.sh (and its punch-only
# cells matrix.sh); here: the four per-type scripts, double NAT, UDP blocked, proxy only,
# hairpinning on and off, the direct path cut and restored, NAT rebinding, three
# Intermediates on a NATS cluster with its faults.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

scripts=(full-cone address-restricted port-restricted symmetric-nat double-nat udp-blocked proxy-only hairpin
	path-failure nat-rebinding multi-intermediate)
lab_require ${#scripts[@]}
tap_plan ${#scripts[@]}

for s in "${scripts[@]}"; do
	out=$LAB_TMP/$s.out
	t0=$(date +%s)
	./scenarios/$s.sh --no-build >"$out" 2>&1 &
	pid=$!
	wait $pid
	rc=$?
	# its labs are named t<pid>n<N> (tests/lib/lab.sh)
	left=$(ip netns list | grep -c "^ztlab-t$((pid % 100000))n")
	verdict=$(grep '^verdict:' "$out")
	if [ $rc = 0 ] && [ "${verdict#verdict: PASS}" != "$verdict" ] && [ "$left" = 0 ]; then
		tap_ok "scenarios/$s.sh: $verdict ($(($(date +%s) - t0)) s)"
	else
		tap_fail "scenarios/$s.sh: exit $rc, ${verdict:-no verdict}, $left namespaces left"
		grep -E '^  FAIL|verdict|failed|error' "$out" | head -n 20 | sed 's/^/# /'
	fi
done
