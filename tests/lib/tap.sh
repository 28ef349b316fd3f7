# TAP helpers for shell test suites. Source it, then:
#   tap_plan N            print the plan (optional; lets the runner count a crash)
#   tap_ok NAME           a passed test
#   tap_fail NAME [WHY]   a failed test
#   tap_skip NAME WHY     a skipped test (never counted as passed)
#   tap_check NAME CMD... run CMD, ok if it exits 0
#   need_root             skip the whole suite (with its plan) unless root
# Diagnostics go to stdout as "# ..." lines, which the runner shows on failure.
TAP_N=0
tap_plan() { echo "1..$1"; TAP_PLAN=$1; }
tap_ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1"; }
tap_fail() {
	TAP_N=$((TAP_N + 1)); echo "not ok $TAP_N - $1"
	[ $# -gt 1 ] && echo "# $2"
	return 0
}
tap_skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1 # SKIP $2"; }
tap_check() {
	local name=$1; shift
	if "$@"; then tap_ok "$name"; else tap_fail "$name" "command failed: $*"; fi
}
tap_diag() { echo "# $*"; }
# skip_all WHY N: report N skipped tests and exit.
skip_all() {
	local why=$1 n=${2:-1} i
	for ((i = 0; i < n; i++)); do tap_skip "suite" "$why"; done
	exit 0
}
