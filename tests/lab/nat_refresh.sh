#!/bin/bash
# 'refresh outbound' (scenarios/lab/nat-refresh.lab): a mapping refreshed by outbound
# packets only expires timeout (3 s) after the inside host last sent, however much
# arrives; the default keeps it while packets flow either way.
#
#   peer 203.0.113.20 --(24 probes, 250 ms apart, inbound only)--> each host's mapping
#     nat nboth (full-cone, timeout 3)                    -- hboth  udp-echo :5000
#     nat nout  (full-cone, timeout 3, refresh outbound)  -- hout   udp-echo :5000
#
# Each host opens its mapping with one hello to the stun echo, then only receives: the
# peer's probes ask for an answer from an address the host does not have, so the host
# never answers (udp-echo counts them as refused). Checks: hboth got all 24 (6 s,
# twice the timeout); hout got those of the first 3 s only (12
# at 250 ms; at least 1, at most 18 with slack for a loaded machine); after a packet out, hout's
# mapping works again; ztna-lab rules shows the raw-hook drop.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

N=5
lab_require $N
tap_plan $N

S1=203.0.113.10
if ! lab_up scenarios/lab/nat-refresh.lab; then
	for ((i = 0; i < N; i++)); do tap_fail "lab up"; done
	exit 0
fi
lab_bg stun "$LAB_TMP/stun.out" "$ZTLAB" udp-echo --bind $S1:3478
lab_wait_for "$LAB_TMP/stun.out" "listening"
declare -A pid mapped
for h in hboth hout; do
	lab_bg $h "$LAB_TMP/$h.out" "$ZTLAB" udp-echo --bind 5000 --hello $S1:3478
	pid[$h]=$LAB_BG
done
for h in hboth hout; do
	lab_wait_for "$LAB_TMP/$h.out" "^mapped " 15 && mapped[$h]=$(sed -n 's/^mapped //p' "$LAB_TMP/$h.out")
done
# both at once: 24 probes each, every 250 ms (6 s), no answers wanted
for h in hboth hout; do
	lab_bg peer "$LAB_TMP/peer-$h.out" "$ZTLAB" udp-probe --to "${mapped[$h]:-0.0.0.0:1}" --local "$([ $h = hout ] && echo 7001 || echo 7000)" \
		--count 24 --interval 250 --wait 0 --reply-from 198.51.100.1:9 --quiet
	pid[peer-$h]=$LAB_BG
done
wait "${pid[peer-hboth]}" "${pid[peer-hout]}" 2>/dev/null
# the probes each host received (refused: it has no such reply address), printed by
# udp-echo as it exits; stopped and waited for here, not in a $(...) subshell, which
# cannot wait for them (the line could be read before it was written)
kill "${pid[hboth]}" "${pid[hout]}" 2>/dev/null
wait "${pid[hboth]}" "${pid[hout]}" 2>/dev/null
got() { sed -n 's/^served [0-9]* refused \([0-9]*\)$/\1/p' "$LAB_TMP/$1.out"; }
nb=$(got hboth) no=$(got hout)
tap_diag "mappings ${mapped[hboth]} ${mapped[hout]}; received hboth ${nb:-?} hout ${no:-?} of 24"
ok_if "default (both ways): inbound probes keep the mapping: all 24 arrive in 6 s (got ${nb:-none})" \
	test "${nb:-0}" -ge 23
ok_if "refresh outbound: only those of the first 3 s arrive (some, at most 18 of 24; got ${no:-none})" \
	eval 'test "${no:-0}" -ge 1 -a "${no:-0}" -le 18'

# after one packet out, the mapping works again (a new one, maybe another port)
lab_bg hout "$LAB_TMP/hout2.out" "$ZTLAB" udp-echo --bind 5000 --hello $S1:3478
pid[hout]=$LAB_BG
lab_wait_for "$LAB_TMP/hout2.out" "^mapped " 15 && m2=$(sed -n 's/^mapped //p' "$LAB_TMP/hout2.out")
r=$(lab_x peer "$ZTLAB" udp-probe --to "${m2:-0.0.0.0:1}" --local 7002 --count 3 --interval 100 --wait 0 \
	--reply-from 198.51.100.1:9 --quiet)
sleep 0.3
kill "${pid[hout]}" 2>/dev/null
wait "${pid[hout]}" 2>/dev/null
n2=$(sed -n 's/^served [0-9]* refused \([0-9]*\)$/\1/p' "$LAB_TMP/hout2.out")
ok_if "refresh outbound: after a packet out, inbound arrives again (${n2:-none} of 3 at $m2)" \
	test "${n2:-0}" -ge 2
rules=$("$ZTLAB" rules scenarios/lab/nat-refresh.lab nout 2>&1)
ok_if "ztna-lab rules nout: the raw-hook drop for ports not sent from lately" \
	grep -q 'udp dport != @alive drop' <<<"$rules"
rules=$("$ZTLAB" rules scenarios/lab/nat-refresh.lab nboth 2>&1)
ok_if "ztna-lab rules nboth: no such drop (the default)" eval '! grep -q "@alive" <<<"$rules"'
lab_down
