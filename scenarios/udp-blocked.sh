#!/bin/bash
# A network whose firewall drops all UDP: discovery must say so quickly, no direct UDP
# path can exist, and the full system connects anyway, over TLS/TCP to the
# Intermediate (--transport auto: QUIC first, TLS/TCP after 300 ms without a QUIC
# handshake; docs/tcp-transport.md).
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10, .11              ztna stun-server (RFC 5780),
#     |                                               ztna-intermediate (UDP 4433, TCP 443)
#     +-- nat office (port-restricted, UDP blocked)   +-- host alice
#     +-- nat home (full-cone)                        +-- host bob
#     +-- nat hotel (port-restricted, UDP blocked)    +-- host carol
#     +-- nat home2 (full-cone)                       +-- host dave
#
# Builds what it needs, brings up scenarios/lab/udp-blocked-pair.lab, runs ztna
# discover (alice: udp-blocked, exit status 1, within its documented time: 1 s with
# --timeout 1, about 3.5 s by default; bob: full-cone). Then (default mode, system)
# with UDP blocked at the agent (agent alice, connector bob), at the connector (agent
# bob, connector alice) and at both (agent alice, connector carol): the agent logs in
# over TCP (ztna status: over tcp), ztna ping says "via relay (tcp)" - "via direct
# (tcp)" when both are on TCP: a TCP direct path by simultaneous open through the two
# port-restricted NATs -, 64 MiB go through the forward intact, and the time from the
# agent's start to the first byte echoed is at most 1 s more than with UDP open (agent
# bob, connector dave; measured and printed both). The TCP direct path lost mid-transfer
# (erin -> carol, a drop rule at carol's NAT): back on the relay (tcp) within 5 s, 64 MiB
# intact, no connection reset. --mode punch: ztna punch alice to bob (expected: no
# direct path).
# Everything it creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/udp-blocked.sh [--runs N] [--no-build] [--mode system|punch] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
SC_NAME="UDP blocked"
sc_say "== $SC_NAME: a firewall that drops every UDP packet =="
sc_lab "$SC_ROOT/scenarios/lab/udp-blocked-pair.lab" || exit 2
sc_stun || exit 2
sc_say "expected: alice classified udp-blocked (ztna discover exits 1) within its"
sc_say "timeout, bob full-cone, no direct path between them. $SC_RUNS run(s)."
sc_say ""
sc_say "classification (ztna discover, RFC 5780, against ztna stun-server):"
sc_classify_all alice bob
sc_discover alice
sc_row "ztna discover on alice exits 1 (no answer)" 1 "$DISC_RC"
within=no
[ "$DISC_MS" -le 2000 ] && within=yes
sc_row "... within 2 s with --timeout $SC_DISCOVER_TIMEOUT" yes "$within" "${DISC_MS} ms"
t0=$(date +%s%N)
lab_x alice "$ZTNA" discover --server "$SC_STUN" >/dev/null 2>"$LAB_TMP/default.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
within=no
[ $rc = 1 ] && [ "$ms" -le 4500 ] && within=yes
sc_row "... and within 4.5 s by default (3.5 s)" yes "$within" "exit $rc, ${ms} ms: $(tail -n 1 "$LAB_TMP/default.err")"
sc_say ""
if [ "$SC_MODE" != system ]; then
	sc_say "hole punching (ztna punch):"
	sc_pair alice bob
	sc_report
	exit
fi

# The full system: one Intermediate on 'stun', a connector and an agent per case.
ub_setup() {
	local h args=(pki init "$LAB_TMP/pki" --intermediate-ip "$ZTLAB_IP_stun")
	IMD=$ZTLAB_IP_stun
	for h in alice bob carol dave erin; do
		args+=(--agent "$h" --connector "$h=svc-$h,svc-$h-sink")
	done
	"$ZTNA" "${args[@]}" >"$LAB_TMP/pki.out" 2>&1 || { cat "$LAB_TMP/pki.out" >&2; return 1; }
	args=(--listen "$IMD:4433" --pki "$LAB_TMP/pki/intermediate" --open-hold 3s)
	for h in alice bob carol dave erin; do
		args+=(--client "agent:$h:tok-$h" --client "connector:$h:tok-$h"
			--allow "$h=*" --serve "$h=svc-$h,svc-$h-sink")
	done
	lab_bg stun "$LAB_TMP/imd.log" "$SC_ROOT/$BUILD/ztna-intermediate" "${args[@]}"
	lab_wait_for "$LAB_TMP/imd.log" "event=start .*tcp_listen=$IMD:443" 5 >/dev/null ||
		{ echo "ztna-intermediate did not start: $(cat "$LAB_TMP/imd.log")" >&2; return 1; }
	for h in alice bob carol dave; do
		ip=$(eval echo "\$ZTLAB_IP_$h")
		lab_bg "$h" "$LAB_TMP/echo-$h.log" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-echo "$ip:7000"
		lab_bg "$h" "$LAB_TMP/sink-$h.log" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-sink "$ip:7001"
	done
	head -c 64M /dev/urandom >"$LAB_TMP/data"
	SUM=$(sha256sum "$LAB_TMP/data" | cut -c1-64)
	printf 'first-byte\n' >"$LAB_TMP/hello"
}

# One case: CONNECTOR AGENT LABEL WANT_TRANSPORT. Sets UB_MS (agent start to the first
# byte echoed through the forward).
ub_case() {
	local c=$1 a=$2 label=$3 want=$4 l=$LAB_TMP/$1-$2 ipc t0 i got node out
	ipc=$(eval echo "\$ZTLAB_IP_$c")
	UB_MS=-
	lab_bg "$c" "$l-conn.log" "$SC_ROOT/$BUILD/ztna-connector" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/connector-$c" --name "$c" --token "tok-$c" \
		--service "svc-$c=tcp:$ipc:7000" --service "svc-$c-sink=tcp:$ipc:7001" \
		--control "$l-conn.sock" $UB_ARGS
	local conn=$LAB_BG
	sc_wait_ready 100 "$l-conn.sock" || sc_debug "connector $c not ready: $(tail -n 2 "$l-conn.log")"
	t0=$(date +%s%N)
	lab_bg "$a" "$l-agent.log" "$SC_ROOT/$BUILD/ztna-agent" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/agent-$a" --name "$a" --token "tok-$a" \
		--forward "tcp:127.0.0.1:8000=svc-$c" --forward "tcp:127.0.0.1:8001=svc-$c-sink" \
		--control "$l.sock" $UB_ARGS
	local agent=$LAB_BG
	for ((i = 0; i < 200; i++)); do
		got=$(lab_x "$a" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-send 127.0.0.1:8000 "$LAB_TMP/hello" 2>/dev/null)
		[ "$got" = first-byte ] && { UB_MS=$((($(date +%s%N) - t0) / 1000000)); break; }
		sleep 0.05
	done
	sc_row "$label: first byte echoed" yes "$([ "$UB_MS" != - ] && echo yes || echo no)" "${UB_MS} ms after the agent started"
	node=$(sc_status_line "$l.sock" node)
	sc_row "$label: agent over $want (ztna status)" "$want" "$(kv "$node" transport)" "$(kv "$node" intermediate)"
	node=$(sc_status_line "$l-conn.sock" node)
	sc_row "$label: connector over ${5:-udp}" "${5:-udp}" "$(kv "$node" transport)"
	if [ "$want" = tcp ] && [ "${5:-udp}" = tcp ]; then
		# both ends on TCP: a direct TCP path by simultaneous open (port-restricted
		# NATs), within 5 s of the agent's start
		for ((i = 0; i < 50; i++)); do
			[ "$(kv "$(sc_status_line "$l.sock" session=)" path)" = direct-tcp ] && break
			sleep 0.1
		done
		sc_row "$label: ztna status path direct-tcp within 5 s" direct-tcp \
			"$(kv "$(sc_status_line "$l.sock" session=)" path)" \
			"$((($(date +%s%N) - t0) / 1000000)) ms after the agent started"
		"$ZTNA" ping "svc-$c" -c 3 -i 0.2 --control "$l.sock" >"$l.ping" 2>&1
		sc_row "$label: ztna ping via direct (tcp)" 3 "$(grep -c 'via direct (tcp) ' "$l.ping")" "$(head -n 1 "$l.ping")"
	else
		"$ZTNA" ping "svc-$c" -c 3 -i 0.2 --control "$l.sock" >"$l.ping" 2>&1
	fi
	if [ "$want" = tcp ] && [ "${5:-udp}" = tcp ]; then
		:
	elif [ "$want" = tcp ]; then
		sc_row "$label: ztna ping via relay (tcp)" 3 "$(grep -c 'via relay (tcp) in' "$l.ping")" "$(head -n 1 "$l.ping")"
	elif [ "${5:-udp}" = tcp ]; then
		# the agent's own leg to the Intermediate is UDP: "via relay"
		sc_row "$label: ztna ping via relay" 3 "$(grep -c 'via relay in' "$l.ping")" "$(head -n 1 "$l.ping")"
	else
		sc_row "$label: ztna ping answered" 3 "$(grep -c ' via ' "$l.ping")" "$(head -n 1 "$l.ping")"
	fi
	if [ "${UB_BIG:-1}" = 1 ]; then
		t0=$(date +%s%N)
		out=$(lab_x "$a" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-send 127.0.0.1:8001 "$LAB_TMP/data" 2>&1)
		sc_row "$label: 64 MiB arrive intact" "67108864 ${SUM:0:16}" "${out%% *} $(cut -c1-16 <<<"${out#* }")" \
			"$((($(date +%s%N) - t0) / 1000000)) ms"
	fi
	sc_stop "$agent"
	sc_stop "$conn"
}

sc_say "the full system (Intermediate on 'stun': QUIC on UDP 4433, TLS/TCP on 443;"
sc_say "agents and connectors with --transport auto, the default):"
ub_setup || exit 2
UB_BIG=0 ub_case dave bob "UDP open (bob -> dave)" udp
OPEN_MS=$UB_MS
ub_case bob alice "UDP blocked at the agent (alice -> bob)" tcp
MS_A=$UB_MS
ub_case alice bob "UDP blocked at the connector (bob -> alice)" udp tcp
MS_C=$UB_MS
ub_case carol alice "UDP blocked at both (alice -> carol)" tcp tcp
MS_B=$UB_MS
# UDP comes back mid-session: the office firewall's drop rule goes while 64 MiB run
# over the TCP relay from erin (100 Mbit/s: 5 s); the agent's next UDP probe (2 s after
# its login over TCP, then --udp-probe 3s) moves it to QUIC.
ub_comeback() {
	local l=$LAB_TMP/comeback ipb=$ZTLAB_IP_bob t0 t1 out h line ms
	lab_bg bob "$l-conn.log" "$SC_ROOT/$BUILD/ztna-connector" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/connector-bob" --name bob --token tok-bob \
		--service "svc-bob-sink=tcp:$ipb:7001" --control "$l-conn.sock"
	local conn=$LAB_BG
	lab_bg erin "$l-agent.log" "$SC_ROOT/$BUILD/ztna-agent" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/agent-erin" --name erin --token tok-erin \
		--forward "tcp:127.0.0.1:8001=svc-bob-sink" --control "$l.sock" --udp-probe 3s
	local agent=$LAB_BG
	sc_wait_ready 100 "$l-conn.sock" "$l.sock"
	sc_row "UDP comes back: the agent starts over tcp" tcp "$(kv "$(sc_status_line "$l.sock" node)" transport)"
	lab_bg erin "$l-send.out" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-send 127.0.0.1:8001 "$LAB_TMP/data"
	local send=$LAB_BG
	sleep 0.5
	h=$(lab_x office nft -a list chain ip ztlab forward | sed -n 's/.*meta l4proto udp drop # handle \([0-9]*\).*/\1/p' | head -n 1)
	lab_x office nft delete rule ip ztlab forward handle "$h"
	t0=$(date +%s%N)
	for ((i = 0; i < 100; i++)); do
		grep -q 'event=transport_changed from=tcp to=udp' "$l-agent.log" && break
		sleep 0.1
	done
	t1=$(date +%s%N)
	local running=no
	kill -0 "$send" 2>/dev/null && running=yes
	ms=$(((t1 - t0) / 1000000))
	line=$(grep 'event=transport_changed' "$l-agent.log" | head -n 1)
	sc_row "UDP comes back: the login moves to udp within 5 s" yes \
		"$([ -n "$line" ] && [ "$ms" -le 5000 ] && echo yes || echo no)" "${ms} ms after the rule went"
	sc_row "UDP comes back: ... while the transfer ran" yes "$running"
	wait "$send"
	out=$(cat "$l-send.out")
	sc_row "UDP comes back: 64 MiB across the move intact" "67108864 ${SUM:0:16}" \
		"${out%% *} $(cut -c1-16 <<<"${out#* }")"
	sc_row "UDP comes back: the agent ends over udp" udp "$(kv "$(sc_status_line "$l.sock" node)" transport)"
	sc_stop "$agent"
	sc_stop "$conn"
	sc_row "UDP comes back: no forwarded connection reset (agent)" 0 \
		"$(kv "$(grep 'event=exit' "$l-agent.log" | tail -n 1)" tcp_reset)"
}

# The TCP direct path goes away mid-transfer: erin (office) to carol (hotel), both on
# TCP, 64 MiB at 100 Mbit/s (5 s); 1 s in, hotel drops everything from and to office's
# public address (the Intermediate is elsewhere: only the direct link dies). The agent
# sees its inner connection stall on the link and moves it back to the relay.
ub_tcp_lost() {
	local l=$LAB_TMP/tcplost ipc=$ZTLAB_IP_carol t0 t1 out i ms line h
	lab_bg carol "$l-conn.log" "$SC_ROOT/$BUILD/ztna-connector" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/connector-carol" --name carol --token tok-carol \
		--service "svc-carol-sink=tcp:$ipc:7001" --control "$l-conn.sock"
	local conn=$LAB_BG
	lab_bg erin "$l-agent.log" "$SC_ROOT/$BUILD/ztna-agent" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/agent-erin" --name erin --token tok-erin \
		--forward "tcp:127.0.0.1:8001=svc-carol-sink" --control "$l.sock"
	local agent=$LAB_BG
	sc_wait_ready 100 "$l-conn.sock" "$l.sock"
	"$ZTNA" ping svc-carol-sink -c 1 --control "$l.sock" >/dev/null 2>&1
	for ((i = 0; i < 50; i++)); do
		[ "$(kv "$(sc_status_line "$l.sock" session=)" path)" = direct-tcp ] && break
		sleep 0.1
	done
	sc_row "TCP direct path lost: erin -> carol goes direct (tcp)" direct-tcp \
		"$(kv "$(sc_status_line "$l.sock" session=)" path)"
	lab_bg erin "$l-send.out" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-send 127.0.0.1:8001 "$LAB_TMP/data"
	local send=$LAB_BG
	sleep 1
	lab_x hotel nft insert rule ip ztlab forward ip saddr "$ZTLAB_PUBLIC_IP_erin" drop
	lab_x hotel nft insert rule ip ztlab forward ip daddr "$ZTLAB_PUBLIC_IP_erin" drop
	t0=$(date +%s%N)
	for ((i = 0; i < 100; i++)); do
		grep -q 'event=path_switch .*to=relay' "$l-agent.log" && break
		sleep 0.1
	done
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	line=$(grep 'event=path_switch .*to=relay' "$l-agent.log" | head -n 1)
	sc_row "TCP direct path lost: back on the relay within 5 s" yes \
		"$([ -n "$line" ] && [ "$ms" -le 5000 ] && echo yes || echo no)" \
		"${ms} ms after the drop rules; $(kv "$line" reason)"
	sc_row "TCP direct path lost: ... while the transfer ran" yes "$(kill -0 "$send" 2>/dev/null && echo yes || echo no)"
	wait "$send"
	out=$(cat "$l-send.out")
	sc_row "TCP direct path lost: 64 MiB intact" "67108864 ${SUM:0:16}" "${out%% *} $(cut -c1-16 <<<"${out#* }")"
	"$ZTNA" ping svc-carol-sink -c 2 -i 0.2 --control "$l.sock" >"$l.ping" 2>&1
	sc_row "TCP direct path lost: ztna ping via relay (tcp) after" 2 "$(grep -c 'via relay (tcp) in' "$l.ping")" "$(head -n 1 "$l.ping")"
	sc_stop "$agent"
	sc_stop "$conn"
	sc_row "TCP direct path lost: no forwarded connection reset (agent)" 0 \
		"$(kv "$(grep 'event=exit' "$l-agent.log" | tail -n 1)" tcp_reset)"
	for h in $(lab_x hotel nft -a list chain ip ztlab forward |
		sed -n "s/.*ip [sd]addr $ZTLAB_PUBLIC_IP_erin drop # handle \([0-9]*\).*/\1/p"); do
		lab_x hotel nft delete rule ip ztlab forward handle "$h"
	done
}

for m in "agent:$MS_A" "connector:$MS_C" "both:$MS_B"; do
	v=${m#*:}
	ok=no
	[ "$v" != - ] && [ "$OPEN_MS" != - ] && [ "$v" -le $((OPEN_MS + 1000)) ] && ok=yes
	sc_row "first byte, UDP blocked at ${m%%:*}: <= open + 1 s" yes "$ok" "$v ms vs $OPEN_MS ms with UDP open"
done
ub_tcp_lost
ub_comeback
sc_report
