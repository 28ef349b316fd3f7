#!/bin/bash
# A NAT forgets its mappings in the middle of a session (a router reboot, a conntrack
# flush): the agent's public address changes under a running transfer.
#
#   [ public 203.0.113.0/24 ]  server stun 203.0.113.10   ztna-intermediate :4433
#     +-- nat home (port-restricted)   +-- host alice  ztna-agent (40 Mbit/s link)
#     +-- nat office (port-restricted) +-- host bob    ztna-connector, zt-testkit tcp-sink
#
# alice sends 64 MiB through her TCP forward to bob's sink, on the direct path. 3 s in,
# her NAT "reboots": it drops her packets for a moment, `ztna-lab flush` empties it
# (learned mappings and conntrack), and carol, behind the same NAT, sends a packet
# from alice's public port number to each place alice talks to (the Intermediate,
# bob's public address) first, so that the NAT, which keeps a port when it can, must
# give alice another public port when her packets flow again. Expected: the Intermediate reports the new
# observed address; the transfer completes with an equal SHA-256 and no TCP reset
# (0 bytes lost), whichever path carries it meanwhile; pings are answered afterwards,
# and the session is on the direct path again at the end. PASS/FAIL, exit status;
# everything it creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/nat-rebinding.sh [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
SC_NAME="NAT rebinding"
COOLDOWN=5
sc_say "== $SC_NAME: alice's NAT flushed in the middle of a 64 MiB transfer =="
sc_lab "$SC_ROOT/scenarios/lab/path-failure.lab" || exit 2
sc_say "expected: a new public address for alice; the transfer completes intact, no reset;"
sc_say "the session answers pings and is direct again at the end. $SC_RUNS run(s)."
sc_say ""
sc_xfer_up || exit 2
# before the programs stop: pings answered, and direct again at the end
after_transfer() {
	local l=$1 run=$2 i p
	"$ZTNA" ping sink -c 3 -i 0.2 --control "$l.sock" >"$l.ping" 2>&1
	sc_row "run $run: pings answered after the rebinding" 3 "$(grep -c '^seq=.* via ' "$l.ping")" "$(tail -n 1 "$l.ping")"
	for ((i = 0; i < (COOLDOWN * 2 + 5) * 5; i++)); do
		p=$("$ZTNA" status --control "$l.sock" --raw | sed -n 's/^session=.* path=\([a-z]*\) .*/\1/p')
		[ "$p" = direct ] && break
		sleep 0.2
	done
	sc_row "run $run: direct at the end" direct "${p:-none}" \
		"$("$ZTNA" status --control "$l.sock" --raw | sed -n 's/^session=.* local=\([^ ]*\) remote=\([^ ]*\) .* switches=\([0-9]*\).*/local \1, remote \2, switches \3/p')"
}
XF_PRE_STOP=after_transfer

for ((run = 1; run <= SC_RUNS; run++)); do
	L=$LAB_TMP/run$run
	sc_xfer_start "$L" "$COOLDOWN"
	before=$(grep -o 'event=connected.* observed=[^ ]*' "$L-agent.log" | head -n 1 | sed 's/.*observed=//')
	sc_row "run $run: the session goes direct first" direct "$XF_PATH" "alice appears as $before"
	t_start=$(date +%s%N)
	sc_xfer_send "$L"
	sleep 3
	port=${before##*:}
	ip netns exec "$ZTLAB_NS_home" nft -f - <<NFT
table inet ztreboot {
	chain hold {
		type filter hook forward priority -10; policy accept;
		ip saddr $ZTLAB_IP_alice drop
		ip daddr $ZTLAB_IP_alice drop
	}
}
NFT
	"$ZTLAB" flush "$LAB" home
	# the NAT keeps a port unless the whole (public address, port, destination) is
	# taken: carol takes it towards both places alice talks to
	remote=$("$ZTNA" status --control "$L.sock" --raw | sed -n 's/^session=.* remote=\([^ ]*\) .*/\1/p')
	for dst in "$IMD:4433" "$remote"; do
		lab_x carol "$ZTLAB" udp-probe --quiet --local "$port" --to "$dst" -w 20 >/dev/null 2>&1
	done
	sleep 0.2
	ip netns exec "$ZTLAB_NS_home" nft delete table inet ztreboot
	sc_debug "home rebooted at $(date +%s%3N); carol took port $port"
	lab_wait_for "$L-agent.log" "event=observed_address" 10 >/dev/null
	after=$(grep -o 'event=observed_address old=[^ ]* new=[^ ]*' "$L-agent.log" | tail -n 1 | sed 's/.*new=//')
	changed=no
	[ -n "$after" ] && [ "$after" != "$before" ] && changed=yes
	sc_row "run $run: alice's public address changed" yes "$changed" "$before -> ${after:-?}"
	sc_xfer_check "$L" "$run" "$t_start" \
		"; path changes: $(grep -o 'event=path_switch.* to=[a-z]*' "$L-agent.log" | sed 's/.*to=//' | tr '\n' ' ')"
done
sc_say ""
sc_say "bytes lost: ${LOST[*]}"
[ -n "${SC_KEEP:-}" ] && cp -r "$LAB_TMP" "$SC_KEEP"
sc_report
