#!/bin/bash
# ztna-lab matrix with a stack that is not ztna (scenarios/peers/naive-punch.sh: both
# sides send to the peer's public address at their own inside port, with socat) across
# scenarios/lab/nat-matrix.lab. Theory for that stack, written before the run: it can
# only meet a peer whose NAT keeps the inside port and lets the peer's packets in once
# it has sent: every cell without a symmetric side (9) succeeds, the 7 with one fail.
# Also: --check sees A_EXIT/B_EXIT and the outputs; the JSON; bad usage; Ctrl-C takes
# the lab down; --pcap leaves captures.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

N=6
lab_require $N
tap_plan $N
command -v jq >/dev/null || { for ((i = 0; i < N; i++)); do tap_skip "matrix $i" "jq is not installed (tools/deps.sh lab)"; done; exit 0; }

OUT=$LAB_TMP/mx
"$ZTLAB" matrix scenarios/lab/nat-matrix.lab --a scenarios/peers/naive-punch.sh \
	--b scenarios/peers/naive-punch.sh --timeout 10 --out "$OUT" --json "$LAB_TMP/mx.json" \
	--check 'test "$A_EXIT" = 0 -a "$B_EXIT" = 0 && grep -q "hello from $PEER" "$OUT/a.got"' \
	>"$LAB_TMP/mx.out" 2>&1
rc=$?
tap_diag "$(sed -n '/^  *b_fc/,$p' "$LAB_TMP/mx.out" | tr '\n' '|')"
ok_if "matrix ran every cell (exit $rc), one line per run and the table" \
	eval '[ $rc = 0 ] && [ "$(grep -c " run 1/1: " "$LAB_TMP/mx.out")" = 16 ] && grep -q "^9 of 16 cells" "$LAB_TMP/mx.out"'
j=$(cat "$LAB_TMP/mx.json" 2>/dev/null)
bad=$(jq -r '.cells[] | select((.ok == 1) != ((.a | test("sym") | not) and (.b | test("sym") | not))) | "\(.a)x\(.b)"' <<<"$j" 2>&1 | tr '\n' ' ')
ok_if "the naive stack meets the theory: the 9 cells without a symmetric side succeed, the 7 with one fail${bad:+ (not: $bad)}" \
	eval '[ "$(jq ".cells | length" <<<"$j")" = 16 ] && [ -z "$bad" ]'
ok_if "the JSON has schema 1 and each run's exit statuses" \
	eval '[ "$(jq -r ".schema, .cells[0].results[0].a_exit, .cells[0].results[0].check_exit, (.cells[3].results[0].a_exit > 0)" <<<"$j" | tr "\n" " ")" = "1 0 0 true " ]'
ok_if "each run's outputs are kept: $OUT/a_fc-b_prc/run1/{a,b,check}.log, a.got" \
	test -f "$OUT/a_fc-b_prc/run1/a.log" -a -f "$OUT/a_fc-b_prc/run1/check.log" -a -s "$OUT/a_fc-b_prc/run1/a.got"

"$ZTLAB" matrix scenarios/lab/nat-matrix.lab --a true >/dev/null 2>"$LAB_TMP/usage.err"
rc=$?
ok_if "without --b: exit 2 and a usage line (exit $rc)" eval '[ $rc = 2 ] && grep -q "needs FILE, --a and --b" "$LAB_TMP/usage.err"'

# Ctrl-C in the middle of a run: the commands are killed, the lab goes down
"$ZTLAB" matrix scenarios/lab/nat-matrix.lab --a 'sleep 30' --b 'sleep 30' --out "$LAB_TMP/mx2" \
	--pcap >"$LAB_TMP/mx2.out" 2>&1 &
mp=$!
for _ in $(seq 100); do grep -q "run id" "$LAB_TMP/mx2.out" && [ -d "$LAB_TMP/mx2/a_fc-b_fc/run1" ] && break; sleep 0.1; done
id=$(sed -n 's/.*(run id \([a-z0-9]*\)).*/\1/p' "$LAB_TMP/mx2.out")
sleep 0.5
kill -INT $mp
wait $mp
rc=$?
left=$(ip netns list | grep -c "ztlab-$id-")
np=$(ls "$LAB_TMP/mx2/pcap"/*.pcap 2>/dev/null | wc -l)
ok_if "Ctrl-C: exit $rc (130), namespaces of run '$id' left: $left; --pcap wrote $np captures" \
	eval '[ $rc = 130 ] && [ -n "$id" ] && [ "$left" = 0 ] && [ "$np" -ge 9 ] && [ -s "$LAB_TMP/mx2/pcap/a_fc-eth0.pcap" ]'
