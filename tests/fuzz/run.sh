#!/bin/bash
# Runs each libFuzzer target for FUZZ_SECONDS (default 60) on a corpus seeded from
# tests/fuzz/seeds/NAME/ (the unit-test vectors), FUZZ_JOBS targets at a time (default:
# the number of CPUs; each target is one process on one core). Prints the exec count
# per target and exits non-zero if any target found a crash, leak or timeout.
#   tests/fuzz/run.sh build/fuzz/fuzz_stun [...]
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1

# One target: its result goes to build/fuzz/NAME.result (ok / FAILED line) so that
# the parent prints whole lines, not interleaved ones.
fuzz_one() {
	local f=$1 name corpus artifacts log rc execs cov
	name=$(basename "$f")
	corpus=build/fuzz/corpus/$name
	artifacts=build/fuzz/artifacts/$name/
	log=build/fuzz/$name.log
	"$f" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$artifacts" \
		-timeout=10 -rss_limit_mb=2048 "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $rc -ne 0 ]; then
		{ echo "fuzz: $name FAILED (exit $rc), see $log and $artifacts"
		  grep -A20 'ERROR:' "$log" | head -40; } >"build/fuzz/$name.result"
		return 1
	fi
	echo "fuzz: $name ok: ${execs:-?} execs, ${cov:-?}, $(ls "$corpus" | wc -l) corpus files" \
		>"build/fuzz/$name.result"
}

echo "fuzz: $# targets, ${secs}s each, $jobs at a time"
status=0
declare -A running=()
finish_one() {
	local pid name
	wait -n -p pid "${!running[@]}"
	[ $? -eq 0 ] || status=1
	name=${running[$pid]}
	unset "running[$pid]"
	cat "build/fuzz/$name.result"
}
for f in "$@"; do
	name=$(basename "$f")
	mkdir -p "build/fuzz/corpus/$name" "build/fuzz/artifacts/$name/"
	[ -d "tests/fuzz/seeds/$name" ] && cp -n tests/fuzz/seeds/"$name"/* "build/fuzz/corpus/$name"/ 2>/dev/null
	while [ "${#running[@]}" -ge "$jobs" ]; do finish_one; done
	echo "fuzz: $name for ${secs}s (corpus build/fuzz/corpus/$name)"
	fuzz_one "$f" &
	running[$!]=$name
done
while [ "${#running[@]}" -gt 0 ]; do finish_one; done
exit $status
