#!/bin/bash
# Runs each libFuzzer target for FUZZ_SECONDS (default 60) on a corpus seeded from
# tests/fuzz/seeds/NAME/ (the unit-test vectors). Prints the exec count per target
# and exits non-zero if any target found a crash, leak or timeout.
#   tests/fuzz/run.sh build/fuzz/fuzz_stun [...]
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
status=0
for f in "$@"; do
	name=$(basename "$f")
	corpus=build/fuzz/corpus/$name
	artifacts=build/fuzz/artifacts/$name/
	mkdir -p "$corpus" "$artifacts"
	[ -d "tests/fuzz/seeds/$name" ] && cp -n tests/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null
	log=build/fuzz/$name.log
	echo "fuzz: $name for ${secs}s (corpus $corpus)"
	"$f" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$artifacts" \
		-timeout=10 -rss_limit_mb=2048 "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $rc -ne 0 ]; then
		echo "fuzz: $name FAILED (exit $rc), see $log and $artifacts"
		grep -A20 'ERROR:' "$log" | head -40
		status=1
	else
		echo "fuzz: $name ok: ${execs:-?} execs, ${cov:-?}, $(ls "$corpus" | wc -l) corpus files"
	fi
done
exit $status
