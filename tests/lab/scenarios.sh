#!/bin/bash
# The scenario scripts themselves, as a user runs them (sudo ./scenarios/NAME.sh,
# here with --no-build: make test has built everything): each must end with exit 0
# and a PASS verdict, and leave no namespace of its own behind. They run the full
# system (their default mode). nat-matrix.sh is matrix_system.sh (and its punch-only
# cells matrix.sh); here: the four per-type scripts, double NAT, UDP blocked, proxy only,
# hairpinning on and off, the direct path cut and restored, NAT rebinding, three
# Intermediates on a NATS cluster with its faults. The light ones run two at a time.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

scripts=(full-cone address-restricted port-restricted symmetric-nat double-nat udp-blocked proxy-only hairpin
	path-failure nat-rebinding multi-intermediate)
# These run two at a time (each in labs of its own: ids from its pid); the others,
# which move more data or time more, alone. Results are reported in the list's order.
PAIRED=" full-cone address-restricted port-restricted symmetric-nat double-nat hairpin path-failure nat-rebinding "
lab_require ${#scripts[@]}
tap_plan ${#scripts[@]}

declare -A PID T0 RC T1
start() {
	T0[$1]=$(date +%s)
	./scenarios/$1.sh --no-build >"$LAB_TMP/$1.out" 2>&1 &
	PID[$1]=$!
	LAB_PIDS+=("$!") # killed (and its labs taken down by its own trap) on an interrupt
}
finish() {
	wait "${PID[$1]}"
	RC[$1]=$?
	T1[$1]=$(date +%s)
}
running=()
for s in "${scripts[@]}"; do
	if [[ $PAIRED == *" $s "* ]]; then
		if [ ${#running[@]} -ge 2 ]; then
			finish "${running[0]}"
			running=("${running[@]:1}")
		fi
		start "$s"
		running+=("$s")
		continue
	fi
	for r in "${running[@]}"; do finish "$r"; done
	running=()
	start "$s"
	finish "$s"
done
for r in "${running[@]}"; do finish "$r"; done

for s in "${scripts[@]}"; do
	out=$LAB_TMP/$s.out
	pid=${PID[$s]} rc=${RC[$s]}
	# its labs are named t<pid>n<N> (tests/lib/lab.sh)
	left=$(ip netns list | grep -c "^ztlab-t$((pid % 100000))n")
	verdict=$(grep '^verdict:' "$out")
	if [ "$rc" = 0 ] && [ "${verdict#verdict: PASS}" != "$verdict" ] && [ "$left" = 0 ]; then
		tap_ok "scenarios/$s.sh: $verdict ($((T1[$s] - T0[$s])) s)"
	else
		tap_fail "scenarios/$s.sh: exit $rc, ${verdict:-no verdict}, $left namespaces left"
		grep -E '^  FAIL|verdict|failed|error' "$out" | head -n 20 | sed 's/^/# /'
	fi
done
