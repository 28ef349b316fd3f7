#!/bin/bash
# Finding (issue 11, "repeated log lines"): nothing bounded how many lines one repeated
# event wrote (8 s of an OPEN flood at the Intermediate: 303 MiB of info lines). The
# peer-driven flood and the escaping are tests/sec/test_sec_logs.c (the real core); this
# suite checks the running programs' wiring: --log-rate, the summary line written on
# time by the loop's timer (no later line needed), and --log-rate 0.
#
# The repeated event is the stats line SIGHUP asks for: 20 signals 30 ms apart.
# Commit 228d3a4 fails tests 1-3 (no --log-rate option: the programs refuse to start).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
tap_plan 5

progs_init sec-logs
base=$PORT # each Intermediate takes two UDP ports: its own and its STUN port (+1)
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --agent alice >/dev/null 2>"$T/pki.err" ||
	{ cat "$T/pki.err"; exit 1; }

# hup_flood NAME RATE: an Intermediate with --log-rate RATE, 20 SIGHUPs.
hup_flood() {
	local name=$1 port=$2 i
	shift 2
	progs_start "$name" "$B/ztna-intermediate" --listen "$L:$port" --pki "$T/pki/intermediate" \
		--client agent:alice "$@"
	wait_log "$T/$name.log" 'event=start' 5 || return 1
	for i in $(seq 20); do
		kill -HUP "${PIDS[$name]}"
		sleep 0.03
	done
}
stats_lines() { grep -c 'event=stats ' "$T/$1.log"; }
summarised() { # the sum of the counts of NAME's log_suppressed lines for stats
	grep 'event=log_suppressed of=stats ' "$T/$1.log" | sed 's/.* count=\([0-9]*\).*/\1/' |
		awk '{ s += $1 } END { print s + 0 }'
}

# 1-2. --log-rate 3: at most 3 stats lines a second, the rest summarised on time.
hup_flood limited "$base" --log-rate 3
if wait_log "$T/limited.log" 'event=log_suppressed of=stats ' 4; then
	n=$(stats_lines limited) s=$(summarised limited)
	[ "$n" -le 6 ] && [ "$n" -ge 3 ] && tap_ok "--log-rate 3: $n of 20 stats lines written" ||
		tap_fail "--log-rate 3 bounds the lines" "$n stats lines"
	[ $((n + s)) -eq 20 ] && grep -q 'level=info prog=intermediate event=log_suppressed of=stats count=' "$T/limited.log" &&
		tap_ok "the rest ($s) in summary lines written by the timer, nothing lost" ||
		tap_fail "summary counts" "$n written + $s summarised != 20: $(grep log_suppressed "$T/limited.log")"
else
	tap_fail "--log-rate 3 bounds the lines" "no summary in 4 s: $(tail -n 3 "$T/limited.log")"
	tap_fail "summary counts" "no summary"
fi

# 3. --log-rate 0: no limit.
hup_flood unlimited "$((base + 2))" --log-rate 0
sleep 0.5
n=$(stats_lines unlimited)
[ "$n" -eq 20 ] && ! grep -q "event=log_suppressed" "$T/unlimited.log" &&
	tap_ok "--log-rate 0: all 20 stats lines" || tap_fail "--log-rate 0" "$n stats lines"

# 4. The default (100 a second) lets 20 through.
hup_flood default "$((base + 4))"
sleep 0.5
n=$(stats_lines default)
[ "$n" -eq 20 ] && tap_ok "default: 20 stats lines (below 100 a second)" ||
	tap_fail "default rate" "$n stats lines"

# 5. A bad value.
out=$("$B/ztna-agent" --log-rate lots 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "bad value 'lots' for 'log-rate'" &&
	tap_ok "a bad --log-rate is refused" || tap_fail "bad --log-rate" "$out"
