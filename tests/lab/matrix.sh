#!/bin/bash
# The 4x4 NAT matrix (scenarios/lab/nat-matrix.lab, the code of scenarios/nat-matrix.sh
# through scenarios/lib.sh): ztna discover classifies each of the eight hosts as its
# NAT's type, and ztna punch between every A host and every B host agrees with RFC
# 4787 theory in every one of MATRIX_RUNS runs (default 3): a direct path everywhere
# except symmetric x port-restricted, port-restricted x symmetric, symmetric x
# symmetric.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. scenarios/lib.sh

lab_require 24
tap_plan 24
SC_RUNS=${MATRIX_RUNS:-3}
SC_ROW_QUIET=1

if ! QUIET=1 sc_lab scenarios/lab/nat-matrix.lab || ! sc_stun; then
	for ((i = 0; i < 24; i++)); do tap_fail "lab up, stun-server"; done
	exit 0
fi
hosts=(a_fc a_arc a_prc a_sym b_fc b_arc b_prc b_sym)
SC_ROW_FORCE=0 sc_classify_all "${hosts[@]}" >"$LAB_TMP/classify.out"
for r in "${SC_ROWS[@]}"; do
	IFS='|' read -r what want got verdict note <<<"$r"
	ok_if "$what: $got (configured $want; $note)" test "$verdict" = PASS
done

short=(fc arc prc sym)
types=(full-cone address-restricted port-restricted symmetric)
for i in 0 1 2 3; do
	for j in 0 1 2 3; do
		want=$(sc_theory "a_${short[$i]}" "b_${short[$j]}")
		n0=${#SC_ROWS[@]}
		sc_pair "a_${short[$i]}" "b_${short[$j]}" >/dev/null
		for r in "${SC_ROWS[@]:$n0}"; do
			IFS='|' read -r what w got verdict note <<<"$r"
			tap_diag "$what: $got ($note)"
		done
		ok_if "${types[$i]} x ${types[$j]}: $want expected, $PAIR_DIRECT/$SC_RUNS runs direct" \
			test "$PAIR_AGREE" = "$SC_RUNS"
	done
done
