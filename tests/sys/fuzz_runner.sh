#!/bin/bash
# tests/fuzz/run.sh (what `make fuzz` and CI run): targets run FUZZ_JOBS at a time,
# every target's result line is printed, and one crashing target fails the whole run
# even when the targets after it pass. Fake targets stand in for libFuzzer binaries.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tap_plan 4

tmp=$(mktemp -d /tmp/zt-fuzzrun.XXXXXX)
trap 'rm -rf "$tmp" build/fuzz/corpus/fuzz_selftest_* build/fuzz/artifacts/fuzz_selftest_* build/fuzz/fuzz_selftest_*' EXIT
mkdir -p build/fuzz
# A fake target: sleeps 2 s (its "run"), then reports like libFuzzer, or crashes.
for n in a b c; do
	printf '#!/bin/sh\nsleep 2\necho "stat::number_of_executed_units: 42"\n' >"$tmp/fuzz_selftest_ok_$n"
done
printf '#!/bin/sh\nsleep 1\necho "==1==ERROR: AddressSanitizer: fake"\nexit 77\n' >"$tmp/fuzz_selftest_crash"
chmod +x "$tmp"/fuzz_selftest_*

t0=$(date +%s.%N)
out=$(FUZZ_SECONDS=1 FUZZ_JOBS=2 tests/fuzz/run.sh "$tmp/fuzz_selftest_ok_a" \
	"$tmp/fuzz_selftest_crash" "$tmp/fuzz_selftest_ok_b" "$tmp/fuzz_selftest_ok_c" 2>&1)
rc=$?
t1=$(date +%s.%N)
el=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

[ $rc -ne 0 ] && tap_ok "a crashing target fails the run (exit $rc)" ||
	tap_fail "a crashing target fails the run" "exit 0: $out"
n_ok=$(grep -c '^fuzz: fuzz_selftest_ok_[abc] ok: 42 execs' <<<"$out")
[ "$n_ok" = 3 ] && tap_ok "the three passing targets each report their exec count" ||
	tap_fail "three ok lines" "$n_ok: $out"
grep -q '^fuzz: fuzz_selftest_crash FAILED (exit 77)' <<<"$out" &&
	grep -q 'ERROR: AddressSanitizer: fake' <<<"$out" &&
	tap_ok "the crash is named with its exit code and its ERROR lines" ||
	tap_fail "crash reported" "$out"
# Serial: 2+1+2+2 = 7 s. Two at a time: ok_a with crash then ok_b, ok_c: about 4 s.
awk -v e="$el" 'BEGIN { exit !(e < 6.0) }' && tap_ok "two at a time: 4 targets in ${el}s (one at a time takes 7 s)" ||
	tap_fail "FUZZ_JOBS=2 runs two at a time" "${el}s"
