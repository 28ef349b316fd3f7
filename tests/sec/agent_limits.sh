#!/bin/bash
# One agent must not take the connector's file descriptors from the others (issue 11:
# "UDP flows through one agent's forward (a socket each, up to 1,024 per session)
# exhaust the connector's file descriptors, so other agents' new connections fail").
# Real programs on loopback:
#
#   zt-testkit udp-flows / tcp-hold --> ztna-agent alice --.
#                                                          +-- ztna-intermediate -- ztna-connector c1
#   socat / udp-ping -----------------> ztna-agent bob ---'                        (ulimit -n 128)
#                                                                              echo (tcp), uecho (udp)
#
# The connector runs with 128 open files: 64 kept for itself, 64 for sockets to the
# targets, so an agent alone may hold 32. alice opens 400 UDP flows and 100 TCP
# connections; bob must still reach both services. Checks: bob's TCP echo and UDP
# echo work while alice holds her share; alice's extra flows and channels are refused
# (her connections reset with code limit, flows dropped and counted) with a log line
# per burst, not per packet; ztna status --connector shows it. ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
tap_plan 6
progs_init agent-limits
KIT=$B/bench/zt-testkit

P_IMD=$PORT P_ECHO=$((PORT + 1)) P_UECHO=$((PORT + 2))
FA_TCP=$((PORT + 3)) FA_UDP=$((PORT + 4)) FB_TCP=$((PORT + 5)) FB_UDP=$((PORT + 6))
FLOW_PORTS=$((PORT + 100))
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo --service uecho --agent alice \
	--agent bob --connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start uecho "$KIT" udp-echo "$L:$P_UECHO"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --pki "$T/pki/intermediate" \
	--client agent:alice:ta --client agent:bob:tb --client connector:c1:tc \
	--allow alice=echo,uecho --allow bob=echo,uecho --serve c1=echo,uecho
progs_start conn bash -c 'ulimit -n 128 && exec "$@"' sh "$B/ztna-connector" \
	--intermediate "$L:$P_IMD" --pki "$T/pki/connector-c1" --name c1 --token tc \
	--service "echo=tcp:$L:$P_ECHO" --service "uecho=udp:$L:$P_UECHO" --direct off \
	--control "$T/c1.sock"
for a in alice bob; do
	if [ $a = alice ]; then ft=$FA_TCP fu=$FA_UDP tok=ta; else ft=$FB_TCP fu=$FB_UDP tok=tb; fi
	progs_start $a "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-$a" --name $a \
		--token $tok --forward "tcp:$L:$ft=echo" --forward "udp:$L:$fu=uecho" --direct off \
		--control none
done
if ! wait_log "$T/conn.log" 'event=connected' 5 || ! wait_log "$T/alice.log" 'event=connected' 5 ||
	! wait_log "$T/bob.log" 'event=connected' 5; then
	tap_diag "$(tail -n 3 "$T"/{imd,conn,alice,bob}.log)"
	skip_all "the programs did not start" 6
fi

# alice: her UDP session up (one flow), then 400 more flows, then 100 TCP connections
# held open.
timeout 10 "$KIT" udp-ping "$L:$FA_UDP" 1 100 1 >/dev/null
"$KIT" udp-flows "$L:$FA_UDP" 400 "$L:$FLOW_PORTS" >"$T/flows.out"
sleep 1
"$KIT" tcp-hold "$L:$FA_TCP" 100 8 >"$T/hold.out" &
HOLD=$!
sleep 2

# bob, meanwhile: a new TCP connection and new UDP flows.
out=$(echo "hello from bob" | timeout 10 socat -t 5 - "TCP:$L:$FB_TCP")
[ "$out" = "hello from bob" ] && tap_ok "bob's new TCP connection works while alice holds her share" ||
	tap_fail "bob's new TCP connection works" "got '$out'; $(grep -E 'no_socket|tcp_connect_failed|limit' "$T/conn.log" | tail -n 3)"
out=$(timeout 10 "$KIT" udp-ping "$L:$FB_UDP" 20 100 4)
grep -q '^sent 20 received 20 ' <<<"$out" && tap_ok "bob's new UDP flow works ($out)" ||
	tap_fail "bob's new UDP flow works" "$out; $(grep -E 'no_socket|limit' "$T/conn.log" | tail -n 3)"
wait "$HOLD"

# alice got her share, not more; the rest was refused and counted, logged per burst.
kill -HUP "${PIDS[conn]}"
wait_log "$T/conn.log" 'event=stats' 3
stats=$(grep 'event=stats' "$T/conn.log" | tail -n 1)
lf=$(sed -n 's/.* limit_flow_dgrams=\([0-9]*\).*/\1/p' <<<"$stats")
lc=$(sed -n 's/.* limit_chans=\([0-9]*\).*/\1/p' <<<"$stats")
nosock=$(sed -n 's/.* udp_limited=\([0-9]*\).*/\1/p' <<<"$stats")
[ "${lf:-0}" -ge 300 ] && [ "${lc:-0}" -ge 60 ] && [ "${nosock:-1}" = 0 ] &&
	tap_ok "alice's extra flows ($lf datagrams) and connections ($lc) refused by her limit, no socket() failure" ||
	tap_fail "alice's extra flows and connections refused" "$stats"
lines=$(count_log "$T/conn.log" 'event=agent_limited peer=ztna:agent:alice')
[ "$lines" -ge 1 ] && [ "$lines" -le 2 ] && tap_ok "logged once per burst ($lines line(s) for $((lf + lc)) refusals)" ||
	tap_fail "logged once per burst" "$lines lines"
grep -q 'open 0 of 100' "$T/hold.out" || grep -q 'open [0-9]* of 100' "$T/hold.out"
held=$(sed -n 's/^open \([0-9]*\) of 100/\1/p' "$T/hold.out")
[ -n "$held" ] && [ "$held" -lt 40 ] && grep -q 'event=tcp_refused_by_connector code=limit' "$T/alice.log" &&
	tap_ok "alice's connections over her limit were reset ($held of 100 stayed open), and she was told why" ||
	tap_fail "alice's connections over her limit were reset" "held=$held; $(tail -n 2 "$T/alice.log")"
raw=$("$B/ztna" status --raw --control "$T/c1.sock")
grep -Eq '^agent identity=ztna:agent:alice .*refused=[1-9]' <<<"$raw" &&
	tap_ok "ztna status --connector shows alice's refusals" || tap_fail "status shows the agent" "$raw"
