# The TAP lines of a nat-matrix.sh run (tests/lab/matrix_system.sh,
# matrix_udp_blocked.sh): source after tests/lib/tap.sh and tests/lib/lab.sh, run the
# scenario into OUT in the background, wait for it, then
#   matrix_tap OUT RC PID LABEL [CELLS]
# one test per cell (CELLS lines '  A <-> B  WANT  RESULT', default 16: a '!!' cell
# fails), one for the verdict, one for the namespaces of the run (its labs are named
# t<PID>n<N>: none may be left).
matrix_tap() {
	local out=$1 rc=$2 pid=$3 label=$4 cells=${5:-16} n=0 line cell verdict left
	while IFS= read -r line; do
		[[ $line =~ ^\ \ ([ab]_[a-z]+)\ \<-\>\ ([ab]_[a-z]+)\ +([a-z-]+)\ +(.*)$ ]] || continue
		n=$((n + 1))
		cell="${BASH_REMATCH[1]} <-> ${BASH_REMATCH[2]}: ${BASH_REMATCH[3]} expected, ${BASH_REMATCH[4]%%  (*}"
		if [[ $line == *'!!'* ]]; then
			tap_fail "$cell" "$line"
		else
			tap_ok "$cell"
		fi
	done <"$out"
	for (( ; n < cells; n++)); do tap_fail "matrix cell missing" "$(tail -n 5 "$out" | tr '\n' '|')"; done
	verdict=$(grep '^verdict:' "$out")
	[ "$rc" = 0 ] && [ "${verdict#verdict: PASS}" != "$verdict" ] && tap_ok "$label: $verdict" ||
		tap_fail "$label: exit $rc, ${verdict:-no verdict}"
	left=$(ip netns list | grep -c "^ztlab-t$((pid % 100000))n")
	[ "$left" = 0 ] && tap_ok "no namespace left by the matrix run" || tap_fail "namespaces left" "$left"
}

# The rows of any scenario's output (sc_row: "  PASS what   expected X   saw Y   note"):
#   scenario_rows_tap OUT   one test per row; sets ROWS_N to how many
#   scenario_labs_left OUT  the namespaces still there of the labs it brought up (it
#                           prints "lab ID from FILE:" for each)
scenario_rows_tap() {
	local line what
	ROWS_N=0
	while IFS= read -r line; do
		what=$(sed -E 's/^  (PASS|FAIL) +//; s/ +expected .*//' <<<"$line")
		case "$line" in
		"  PASS "*) tap_ok "$what" ;;
		*) tap_fail "$what" "${line#  FAIL }" ;;
		esac
		ROWS_N=$((ROWS_N + 1))
	done < <(grep -E '^  (PASS|FAIL) ' "$1")
}

scenario_labs_left() {
	local id left=0
	for id in $(sed -n 's/^lab \([a-z0-9]*\) from .*/\1/p' "$1"); do
		left=$((left + $(ip netns list | grep -c "^ztlab-$id-")))
	done
	echo "$left"
}
