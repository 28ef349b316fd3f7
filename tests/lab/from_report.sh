#!/bin/bash
# Field report -> scenario (docs/lab.md, "Reproduce a field failure from two reports"):
# `ztna discover --report` in six networks of scenarios/lab/report-sources.lab, then
# `ztna-lab from-report` on three pairs of those reports, each generated lab brought
# up, and discover run again in both of its hosts: the same type, port allocation
# and hairpinning as in the network the report came from.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun 203.0.113.10, .11   ztna stun-server (RFC 5780)
#     +-- nat fc   (full-cone)                 -- host hfc     \  pair 1
#     +-- nat ar   (address-restricted, hairpin on) -- host har (link delay 5ms)  /
#     +-- nat pr   (port-restricted)           -- host hpr     \  pair 2
#     +-- nat sym  (symmetric, ports random)   -- host hsym    /
#     +-- nat seq  (symmetric, sequential, timeout 5) -- hseq  \  pair 3
#     +-- nat pres (symmetric, ports preserve) -- host hpres   /
#
# Each generated lab: server stun (.10, .11), server imd, nat_a -- host_a, nat_b -- host_b.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
ZTNA=${ZTNA:-${BUILD:-build}/ztna}

N=22
lab_require $N
tap_plan $N

S1=203.0.113.10 S2=203.0.113.11
HOSTS=(hfc har hpr hsym hseq hpres)
WANT=("full-cone preserve false" "address-restricted preserve true" "port-restricted preserve false"
	"symmetric random false" "symmetric sequential false" "symmetric preserve false")

# rget FILE KEY: the value of "KEY" in a report (one member a line; strings unquoted)
rget() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1" | head -n 1; }
class() { echo "$(rget "$1" type) $(rget "$1" ports) $(rget "$1" hairpinning)"; }

PREFIXES=()
up() { lab_up "$1" && PREFIXES+=("$ZTLAB_PREFIX"); }

start_stun() {
	lab_bg stun "$LAB_TMP/stun-$LAB.log" "$ZTNA" stun-server --primary $S1 --alternate $S2
	lab_wait_for "$LAB_TMP/stun-$LAB.log" "event=listening"
}

# 1
if ! up scenarios/lab/report-sources.lab || ! start_stun; then
	for ((i = 0; i < N; i++)); do tap_fail "source lab up"; done
	exit 0
fi
tap_ok "source lab up, stun-server on $S1 and $S2"

# 2-7: the six reports, at once (hseq also measures the lifetime)
pids=()
for h in "${HOSTS[@]}"; do
	extra=()
	[ $h = hseq ] && extra=(--lifetime --lifetime-max 10s)
	lab_bg $h "$LAB_TMP/$h.out" "$ZTNA" discover --server $S1 --timeout 1 \
		--report "$LAB_TMP/$h.json" "${extra[@]}"
	pids+=($LAB_BG)
done
wait "${pids[@]}"
for i in "${!HOSTS[@]}"; do
	h=${HOSTS[i]} f=$LAB_TMP/${HOSTS[i]}.json
	got=$(class "$f")
	[ "$got" = "${WANT[i]}" ] || tap_diag "$h: $(cat "$f" "$LAB_TMP/$h.out" 2>&1)"
	ok_if "report of $h: $got (configured: ${WANT[i]})" test "$got" = "${WANT[i]}"
done
# 8-9
ok_if "hseq's report: lifetime $(rget "$LAB_TMP/hseq.json" lifetime), gone after $(rget "$LAB_TMP/hseq.json" lifetime_gone_ms) ms (timeout 5 s)" \
	test "$(rget "$LAB_TMP/hseq.json" lifetime)" = measured
rtt=$(rget "$LAB_TMP/har.json" rtt_median_ms)
ok_if "har's report: median round trip $rtt ms (5 ms each way)" \
	awk -v r="${rtt:-0}" 'BEGIN { exit !(r >= 9.5 && r < 40) }'
lab_down

# pair A B: from-report, check the file, up, discover in both hosts (3 tests + $@ checks)
pair() {
	local a=$1 b=$2 ia=$3 ib=$4 lab=$LAB_TMP/$1-$2.lab side h i got
	if ! "$ZTLAB" from-report "$LAB_TMP/$a.json" "$LAB_TMP/$b.json" >"$lab" 2>"$lab.err" ||
		! up "$lab" || ! start_stun; then
		tap_diag "$(cat "$lab" "$lab.err")"
		tap_fail "from-report $a $b: lab up"
		tap_fail "host_a as $a"
		tap_fail "host_b as $b"
		return 1
	fi
	tap_ok "from-report $a.json $b.json: ztna-lab up accepts it"
	lab_bg host_a "$LAB_TMP/$a-again.out" "$ZTNA" discover --server $S1 --timeout 1 \
		--report "$LAB_TMP/$a-again.json"
	p1=$LAB_BG
	lab_bg host_b "$LAB_TMP/$b-again.out" "$ZTNA" discover --server $S1 --timeout 1 \
		--report "$LAB_TMP/$b-again.json"
	wait $p1 $LAB_BG
	for side in a b; do
		[ $side = a ] && h=$a i=$ia || { h=$b; i=$ib; }
		got=$(class "$LAB_TMP/$h-again.json")
		[ "$got" = "${WANT[i]}" ] || tap_diag "$(cat "$lab" "$LAB_TMP/$h-again.json" "$LAB_TMP/$h-again.out")"
		ok_if "host_$side, rebuilt from $h: $got (there: ${WANT[i]})" test "$got" = "${WANT[i]}"
	done
}

# 10-13
pair hfc har 0 1
rtt=$(rget "$LAB_TMP/har-again.json" rtt_median_ms)
ok_if "host_b (har's link delay rebuilt: $(grep '^link host_b' "$LAB_TMP/hfc-har.lab")): median round trip $rtt ms" \
	awk -v r="${rtt:-0}" 'BEGIN { exit !(r >= 9.5 && r < 40) }'
lab_down
# 14-16
pair hpr hsym 2 3
lab_down
# 17-20
pair hseq hpres 4 5
ok_if "nat_a has hseq's measured lifetime as its timeout: $(grep '^nat nat_a' "$LAB_TMP/hseq-hpres.lab")" \
	grep -q '^nat nat_a .* timeout [56]\b' "$LAB_TMP/hseq-hpres.lab"
lab_down
# 21: a report that cannot be read: the file and the field, exit 2
sed 's/"schema": 1/"schema": 7/' "$LAB_TMP/hfc.json" >"$LAB_TMP/bad.json"
out=$("$ZTLAB" from-report "$LAB_TMP/hfc.json" "$LAB_TMP/bad.json" 2>&1 >/dev/null)
rc=$?
ok_if "a schema-7 report: exit $rc, '$out'" \
	test $rc = 2 -a "$out" = "ztna-lab from-report: $LAB_TMP/bad.json: field schema: this version reads schema 1 only"
# 22
left=0
for p in "${PREFIXES[@]}"; do left=$((left + $(ip netns list | grep -c "^$p"))); done
ok_if "after down no namespace of the ${#PREFIXES[@]} labs is left" test $left = 0 -a ${#PREFIXES[@]} = 4
