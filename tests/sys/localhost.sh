#!/bin/bash
# scenarios/localhost.sh (the seed's layout on 127.0.0.1/.2/.3, unprivileged): each of
# its PASS/FAIL lines is a test; its setup failing is one failed test.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
out=$(BUILD=${BUILD:-build} ./scenarios/localhost.sh --no-build 2>&1)
rc=$?
n=0
while IFS= read -r line; do
	case "$line" in
	PASS*) tap_ok "localhost: $(sed "s/ *expected .*//" <<<"${line:6}")"; n=$((n + 1)) ;;
	FAIL*) tap_fail "localhost: $(sed "s/ *expected .*//" <<<"${line:6}")" "$line"; n=$((n + 1)) ;;
	esac
done <<<"$out"
if [ "$n" -eq 0 ]; then
	tap_fail "localhost scenario ran" "exit $rc: $(tail -n 5 <<<"$out" | tr '\n' ' ')"
elif [ "$rc" -ne 0 ] && ! grep -q '^FAIL' <<<"$out"; then
	tap_fail "localhost scenario exit status" "exit $rc: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
fi
tap_diag "$(grep -E '^  ---|^localhost:' <<<"$out" | tr '\n' ';')"
