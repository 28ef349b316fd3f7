#!/bin/bash
# make bench (QUICK=1: make bench-quick): the performance numbers of docs/design.md, each
# next to a baseline measured in the same run with the same CPU pinning, as medians
# of interleaved repetitions with min..max. See bench/README.md.
#
#   ./bench/run.sh            (after make; as root for the lab measurements)
#   QUICK=1 ./bench/run.sh    fewer repetitions, shorter runs: under 2 minutes
#   BENCH_ONLY="rtt memory"   only these sections (relay-rate relay-workers memory idle rtt
#                             rtt-delay goodput tun direct hard); BENCH_KEEP=1 keeps
#                             the logs
#
# Output: the table on stdout (also $OUT/table.txt), $OUT/results.json, the RTT
# plot $OUT/rtt.png and .svg, the samples under $OUT/raw/. Exit status: 0 when
# everything was measured (a missed goal is reported, not a failure), 1 when a
# measurement failed, 2 when some were skipped (not root, or a feature this build
# lacks), 130 on Ctrl-C. Every process and lab it starts is stopped, also on Ctrl-C.
cd "$(dirname "$0")/.." || exit 1
QUICK_MODE=${QUICK:-}
[ "$QUICK_MODE" = 0 ] && QUICK_MODE=
T_START=$(date +%s)
. bench/lib/common.sh
. bench/lib/report.sh
. bench/lib/tunnel.sh
. bench/lib/sec_rtt.sh
. bench/lib/sec_loop.sh
. bench/lib/sec_workers.sh
. bench/lib/sec_bulk.sh
. bench/lib/sec_direct.sh
. bench/lib/sec_hard.sh
. bench/lib/sec_tun.sh
. bench/lib/sec_multi.sh

PINNING="RTT: every process of the measurement (lab link emulator and wireguard-go included) on \
CPU $CPU_ONE; goodput: client side (client tool, agent, the agent's wireguard-go) on CPU $CPU_A, \
server side (server tool, connector, Intermediate, the connector's wireguard-go) on CPU $CPU_B; \
relay rate: the relay under test alone on CPU $CPU_B, load generator and sink on CPU $CPU_A; \
relay workers, memory, idle and time to direct: not pinned"

want() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }

preflight() {
	local t missing=()
	for t in "$B/ztna-intermediate" "$B/ztna-agent" "$B/ztna-connector" "$ZTNA" "$ZTLAB" \
		"$K/udpping" "$K/udpfwd" "$K/udpblast" "$K/zt-load" "$K/zt-testkit"; do
		[ -x "$t" ] || missing+=("$t")
	done
	for t in taskset iperf3 gtlsclient gtlsserver gnuplot wireguard-go wg; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "bench: missing: ${missing[*]} (make; tools/deps.sh bench)" >&2
		exit 1
	fi
	mkdir -p "$RAW"
	rm -f "$RAW"/* "$OUT/results.json" "$OUT/table.txt" "$OUT/rtt.png" "$OUT/rtt.svg"
}

main() {
	local root=0 rc=0
	[ "$(id -u)" = 0 ] && root=1
	preflight
	say "ztna benchmarks ($([ -n "$QUICK_MODE" ] && echo quick || echo full)), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	say "machine: $NCPU CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
	say "pinning: $PINNING"
	[ $root = 1 ] || say "not root: the lab measurements (RTT, goodput, time to direct, fallback) are skipped; loopback ones run"
	have_direct || say "this build has no direct path yet (issue 5): the direct-path measurements are skipped"
	want tun && [ -n "$(tun_missing)" ] &&
		say "$(tun_missing): the packet-tunnel rows are skipped (wireguard-go, their baseline, is still measured)"
	say ""

	# Loopback: relay rate (CPU bound, alone), then memory with the idle cost
	# measured meanwhile (timer driven, not CPU bound).
	want relay-rate && sec_relay_rate
	want relay-workers && sec_relay_workers
	want idle && idle_start
	want memory && sec_memory
	want idle && idle_finish
	if [ $root = 1 ]; then
		want direct && direct_idle_start
		want rtt && sec_rtt nodelay
		want goodput && sec_goodput
		want tun && sec_tun
		want direct && sec_fallback
		want rtt-delay && sec_rtt delay
		want direct && sec_time_to_direct
		want direct && direct_idle_finish
		want hard && sec_time_to_direct_hard
		want multi && sec_multi
	else
		local id
		for id in rtt rtt-delay goodput tun direct hard multi; do
			want "$id" && skip_row "$id" "lab: $id" "needs root (network namespaces): run sudo make bench"
		done
	fi

	say ""
	report_table | tee "$OUT/table.txt"
	say ""
	say "details:"
	report_details | tee -a "$OUT/table.txt"
	report_json "$OUT/results.json"
	if report_plot; then
		say "plot: $OUT/rtt.png, $OUT/rtt.svg"
	elif ls "$RAW"/rtt-*.txt >/dev/null 2>&1; then
		N_FAILED=$((N_FAILED + 1))
		say "plot: could not be made"
	else
		say "plot: none (no RTT was measured)"
	fi
	say "json: $OUT/results.json; samples: $RAW/"
	say "$(awk -F'\t' '$9 == "meets"' "$ROWS" | wc -l) goals met, $(awk -F'\t' '$9 == "misses"' "$ROWS" | wc -l) missed, \
$N_SKIPPED skipped, $N_FAILED could not be measured; $(($(date +%s) - T_START)) s"
	if [ "$N_FAILED" -gt 0 ]; then
		rc=1
	elif [ "$N_SKIPPED" -gt 0 ]; then
		rc=2
	fi
	return $rc
}

main "$@"
