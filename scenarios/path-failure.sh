#!/bin/bash
# The direct path dies in the middle of a transfer and comes back.
#
#   [ public 203.0.113.0/24 ]  server stun 203.0.113.10   ztna-intermediate :4433
#     +-- nat home (port-restricted)   +-- host alice  ztna-agent (40 Mbit/s link)
#     +-- nat office (port-restricted) +-- host bob    ztna-connector, zt-testkit tcp-sink
#
# alice sends 64 MiB through her TCP forward to bob's sink (which answers with the
# byte count and SHA-256 of what it got). Once the session is on the direct path and
# the transfer is under way, an nftables rule in alice's NAT router drops everything
# between her and bob's public address (the direct path only: the relay through
# 203.0.113.10 stays up). Expected: the agent moves the connection to the relay in
# under 2 s (from the rule to its path_switch line), the transfer completes with an
# equal SHA-256 and no TCP reset (0 bytes lost); the rule is removed 3 s later, and
# the session is back on the direct path within the retry interval (--cooldown 5s
# here; 30 s by default) plus the checks. (alice's eth0 is the lab's emulated link,
# a TAP device, which host-candidate gathering skips as virtual unless told:
# --interfaces eth0.) PASS/FAIL, exit status; everything it
# creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/path-failure.sh [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
SC_NAME="path failure"
COOLDOWN=5
sc_say "== $SC_NAME: the direct path cut in the middle of a 64 MiB transfer, then restored =="
sc_lab "$SC_ROOT/scenarios/lab/path-failure.lab" || exit 2
sc_say "expected: direct path first; after the cut, the relay within 2 s; the transfer"
sc_say "completes with equal SHA-256 and no reset; after the restore, direct again within"
sc_say "the retry interval (${COOLDOWN} s) + checks. $SC_RUNS run(s)."
sc_say ""
sc_xfer_up || exit 2
NS=$ZTLAB_NS_home

for ((run = 1; run <= SC_RUNS; run++)); do
	L=$LAB_TMP/run$run
	sc_xfer_start "$L" "$COOLDOWN"
	sc_row "run $run: the session goes direct first" direct "$XF_PATH"
	# the transfer, in the background
	t_start=$(date +%s%N)
	sc_xfer_send "$L"
	sleep 3
	# the cut: alice's NAT drops what goes to or comes from bob's public address
	nft_rc=0
	sc_cut "$NS" "$ZTLAB_WAN_office" || nft_rc=$?
	t_cut=$(date +%s%3N)
	sc_debug "cut at $t_cut (nft exit $nft_rc)"
	lab_wait_for "$L-agent.log" "event=path_switch.*to=relay" 5 >/dev/null
	line=$(grep "event=path_switch.*to=relay" "$L-agent.log" | head -n 1)
	if [ -n "$line" ]; then
		fb=$(($(sc_ts_ms "$line") - t_cut))
		ok=no
		[ "$fb" -lt 2000 ] && ok=yes
		sc_row "run $run: on the relay within 2 s of the cut" yes "$ok" \
			"${fb} ms, $(grep -o 'reason=[a-z-]*' <<<"$line")"
		FALLBACK_MS+=("$fb")
	else
		sc_row "run $run: on the relay within 2 s of the cut" yes no "no path_switch to=relay"
	fi
	sleep 3
	sc_uncut "$NS"
	t_restore=$(date +%s%3N)
	lab_wait_for "$L-agent.log" "event=path_switch.*to=direct.*switches=3" $((COOLDOWN * 2 + 5)) >/dev/null
	line=$(grep "event=path_switch.*to=direct.*switches=3" "$L-agent.log" | head -n 1)
	if [ -n "$line" ]; then
		back=$(($(sc_ts_ms "$line") - t_restore))
		sc_row "run $run: direct again after the restore" yes yes "${back} ms after the restore (cooldown ${COOLDOWN} s from the fallback)"
	else
		sc_row "run $run: direct again after the restore" yes no "$(grep -E 'path_decision|ice_failed' "$L-agent.log" | tail -n 2 | cut -c1-160 | tr '\n' ' ')"
	fi
	sc_xfer_check "$L" "$run" "$t_start"
done
sc_say ""
sc_say "fallback times (ms): ${FALLBACK_MS[*]:-none}; bytes lost: ${LOST[*]}"
[ -n "${SC_KEEP:-}" ] && cp -r "$LAB_TMP" "$SC_KEEP"
sc_report
