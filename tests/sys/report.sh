#!/bin/bash
# ztna discover --report and ztna-lab from-report on loopback (no root): a report of
# loopback (type open, no NAT) that parses and rebuilds to a scenario `ztna-lab check`
# accepts; argument errors and bad reports: a clear message naming the file and the
# field, exit 2.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
ZTNA=${BUILD:-build}/ztna
ZTLAB=${BUILD:-build}/ztna-lab
tap_plan 12

tmp=$(mktemp -d /tmp/zt-report-sys.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

P=$((30000 + ($$ % 5000) * 4 + 2))
rget() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1" | head -n 1; }
okrc() { if [ "$1" = 0 ]; then tap_ok "$2"; else tap_fail "$2" "$3"; fi; }
# expect NAME RC-WANTED STDERR-PATTERN CMD...
expect() {
	local name=$1 want=$2 re=$3 rc
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc = "$want" ] && grep -qE -- "$re" "$tmp/err"; then
		tap_ok "$name: exit $rc, $(head -n 1 "$tmp/err")"
	else
		tap_fail "$name" "exit $rc (want $want), stderr: $(cat "$tmp/err")"
	fi
}

"$ZTNA" stun-server --primary 127.0.0.2:$P --alternate 127.0.0.3 2>"$tmp/srv.log" &
pids+=($!)
for ((i = 0; i < 150; i++)); do grep -q "event=listening" "$tmp/srv.log" && break; sleep 0.02; done

# 1-2: a report to a file (the text still on stdout), and to stdout
"$ZTNA" discover --server 127.0.0.2:$P --timeout 1 --report "$tmp/a.json" >"$tmp/a.txt" 2>&1
rc=$?
[ $rc = 0 ] && grep -q '^nat type      open' "$tmp/a.txt" && [ "$(rget "$tmp/a.json" type)" = open ] &&
	[ "$(rget "$tmp/a.json" schema)" = 1 ] && [ "$(rget "$tmp/a.json" ports)" = null ] &&
	[ "$(rget "$tmp/a.json" answers)" -ge 1 ] && [ -n "$(rget "$tmp/a.json" rtt_min_ms)" ]
okrc $? "--report FILE: schema 1, type open, ports null (no NAT), round trips; text on stdout" \
	"rc=$rc $(cat "$tmp/a.txt" "$tmp/a.json")"
"$ZTNA" discover --server 127.0.0.2:$P --timeout 1 --report - >"$tmp/b.json" 2>"$tmp/b.err"
[ $? = 0 ] && [ "$(head -c 1 "$tmp/b.json")" = "{" ] && [ "$(rget "$tmp/b.json" type)" = open ]
okrc $? "--report -: the report alone on stdout" "$(cat "$tmp/b.json" "$tmp/b.err")"

# 3: two loopback reports rebuild to a scenario the lab accepts (hosts on the public side)
"$ZTLAB" from-report "$tmp/a.json" "$tmp/b.json" >"$tmp/f.lab" 2>"$tmp/f.err" &&
	"$ZTLAB" check "$tmp/f.lab" >/dev/null 2>&1 && grep -q '^host host_a behind public' "$tmp/f.lab" &&
	grep -qF "# host_a from $tmp/a.json (no NAT):" "$tmp/f.lab"
okrc $? "from-report: two 'open' reports -> a scenario ztna-lab check accepts" \
	"$(cat "$tmp/f.lab" "$tmp/f.err")"

# 4: no server there: exit 1, and the report says udp_blocked with everything else null
"$ZTNA" discover --server 127.0.0.2:$((P + 2)) --timeout 1 --report "$tmp/blocked.json" >/dev/null 2>&1
rc=$?
f=$tmp/blocked.json
[ $rc = 1 ] && [ "$(rget "$f" udp_blocked)" = true ] && [ "$(rget "$f" type)" = udp-blocked ] &&
	[ "$(rget "$f" public)" = null ] && [ "$(rget "$f" mapping)" = null ] &&
	[ "$(rget "$f" rtt_median_ms)" = null ] && [ "$(rget "$f" loss)" = 1.0000 ]
okrc $? "no answer: exit $rc, the report says udp_blocked, loss 1, the rest null" "$(cat "$f")"

# 5-8: discover's argument errors
expect "--report with --basic" 2 "not with --basic" "$ZTNA" discover --server 127.0.0.2:$P --basic --report x
expect "--report - with --json" 2 "both print to stdout" "$ZTNA" discover --server 127.0.0.2:$P --json --report -
expect "--report ''" 2 "report" "$ZTNA" discover --server 127.0.0.2:$P --report ''
expect "--report into a missing directory" 2 "cannot write $tmp/no/such.json" \
	"$ZTNA" discover --server 127.0.0.2:$P --timeout 1 --report "$tmp/no/such.json"

# 9-12: from-report's errors name the file and the field
expect "from-report with one file" 2 "usage: ztna-lab from-report A.json B.json" "$ZTLAB" from-report "$tmp/a.json"
expect "from-report, a missing file" 2 "$tmp/none.json: No such file" "$ZTLAB" from-report "$tmp/a.json" "$tmp/none.json"
printf '{"schema": 1,' >"$tmp/cut.json"
expect "from-report, a cut report" 2 "$tmp/cut.json: not valid JSON" "$ZTLAB" from-report "$tmp/cut.json" "$tmp/a.json"
sed 's/"ports": null/"ports": "linear"/' "$tmp/a.json" >"$tmp/bad.json"
expect "from-report, a bad field" 2 "$tmp/bad.json: field ports: expected \"preserve\"" \
	"$ZTLAB" from-report "$tmp/a.json" "$tmp/bad.json"
