#!/bin/bash
# Every fuzz target on its seeds, without libFuzzer: $BUILD/fuzz-replay/NAME (the target
# and tests/fuzz/replay.c, built by `make`) reads tests/fuzz/seeds/NAME/*, each input
# whole and cut short. A target whose invariants no longer hold for a known input (a
# library change its target did not follow) fails here, in `make test` and its ASan
# pass, not first in CI's fuzz step. Every target must have seeds.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
BUILD=${BUILD:-build}

targets=()
for src in tests/fuzz/fuzz_*.c; do
	targets+=("$(basename "$src" .c)")
done
tap_plan "${#targets[@]}"
for n in "${targets[@]}"; do
	bin=$BUILD/fuzz-replay/$n
	seeds=(tests/fuzz/seeds/"$n"/*)
	if [ ! -x "$bin" ]; then
		tap_fail "$n: its seeds hold" "$bin is not built (make)"
		continue
	fi
	if [ ! -f "${seeds[0]}" ]; then
		tap_fail "$n: its seeds hold" "tests/fuzz/seeds/$n/ has no seeds: add the unit test's vectors"
		continue
	fi
	out=$("$bin" "${seeds[@]}" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		tap_ok "$n: its seeds hold ($(tail -n 1 <<<"$out" | sed 's/^replay: //'))"
	else
		tap_fail "$n: its seeds hold" "exit $rc: $(tail -n 3 <<<"$out")"
	fi
done
