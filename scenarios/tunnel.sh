#!/bin/bash
# The packet tunnel (issue 13; docs/tunnel.md, "Packet tunnel"): IP packets from an
# agent with no forward configured to the hosts of a connector's LAN.
#
#   [ public 203.0.113.0/24 ]  server stun 203.0.113.10   ztna-intermediate :4433
#     |                                                   (--tunnel-pool 100.64.0.0/10)
#     +-- nat home (port-restricted)
#     |   +-- host alice 192.168.1.2   ztna-agent --tun ztna0 (100.64.x.y/32, route to db)
#     +-- nat office (port-restricted)
#         +-- host conn  10.0.5.2      ztna-connector --tun ztc0 --route db=10.0.5.3/32
#         |                                                   --route hr=10.0.5.4/32
#         +-- host db    10.0.5.3      allowed to alice: zt-testkit tcp-source :8080
#         |                            (10 MiB), :8081 (64 MiB), udp-echo :7
#         +-- host hr    10.0.5.4      not allowed to alice
#
# Three labs, one after the other:
#  1. scenarios/lab/tunnel.lab (above): the direct path. From alice: ping, a 10 MiB
#     download (SHA-256), UDP echo (also MTU-sized and fragmented datagrams); the
#     kernel's PMTU error names the tunnel MTU (1362); TCP SYNs with MSS 1460 (db's
#     MTU 1500, and alice's route with advmss 1460) are lowered to 1322. hr by a
#     route added by hand, and a spoofed source address: dropped and counted by the
#     agent's own check, then (agent restarted with --tun-check off) by the
#     connector's, nothing arriving at hr or db (nft counters there). Lifecycle:
#     device and routes gone after SIGTERM and SIGKILL of the agent, one of each after
#     its restart; the connector's nftables table gone after SIGTERM, one after SIGKILL
#     and restart.
#  2. scenarios/lab/tunnel-relay.lab: both NATs symmetric, so the session stays on
#     the relay: ping, download, UDP echo, 1362-byte packets, and the connector's
#     check again.
#  3. scenarios/lab/tunnel-cut.lab: alice's link at 40 Mbit/s; an nft rule in her NAT
#     cuts the direct path 3 s into a 64 MiB download and is removed 3 s later (as
#     scenarios/path-failure.sh does, --cooldown 5s): both programs move to the relay
#     and back (their `ztna status` and logs), packets keep arriving on the relay, the
#     TCP connection inside the tunnel survives (no RST on ztna0, SHA-256 equal). Twice:
#     on a session that has just gone direct (cut), and on one that was idle 10 s first
#     (cut-idle).
# PASS/FAIL per check, exit status 0 only when all pass; everything it creates is
# removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/tunnel.sh [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
SC_NAME="packet tunnel"
MTU=1362
POOL=100.64.0.0/10
SPOOF=100.64.99.99
TESTKIT=$SC_ROOT/$BUILD/bench/zt-testkit
COOLDOWN=5

# A program started with lab_bg, stopped with SIG (default TERM) and waited for; its
# pid is forgotten, so that the cleanup never signals a pid the system gave away.
tun_stop() {
	local pid=$1 sig=${2:-TERM} i
	kill -"$sig" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	for i in "${!LAB_PIDS[@]}"; do
		[ "${LAB_PIDS[$i]}" = "$pid" ] && unset "LAB_PIDS[$i]"
	done
}

# KEY of the tunnel line of the program behind control socket SOCK.
tun_stat() { kv "$(sc_status_line "$1" tunnel)" "$2"; }
# tun_dropped of the connector's line for alice.
tun_agent_dropped() { kv "$(sc_status_line "$CCTL" "agent identity=ztna:agent:alice")" tun_dropped; }
# Packets counted by the named nft counter NAME in NODE's namespace (table inet ztsc).
nft_count() { lab_x "$1" nft list counter inet ztsc "$2" 2>/dev/null | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
# ping in NODE: PING_RX (answers), PING_RTT (average ms or -), PING_OUT.
tun_ping() {
	PING_OUT=$(lab_x "$1" ping "${@:2}" 2>&1)
	PING_RX=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$PING_OUT")
	PING_RX=${PING_RX:-0}
	PING_RTT=$(sed -n 's|^rtt [^=]*= [^/]*/\([^/]*\)/.*|\1|p' <<<"$PING_OUT")
	PING_RTT=${PING_RTT:--}
	sc_debug "ping ${*:2}: $(tail -n 2 <<<"$PING_OUT" | tr '\n' ' ')"
}
# The word after KEY in zt-testkit's output OUT ("sent 20 received 20 ...").
tun_word() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$1"; }
# Counts in alice's namespace: tunnel devices, addresses on ztna0, routes on ztna0.
tun_alice_counts() {
	local links addrs routes
	links=$(lab_x alice ip -o link show | grep -c ': ztna0[:@]')
	addrs=$(lab_x alice ip -o -4 addr show dev ztna0 2>/dev/null | grep -c ' inet ')
	routes=$(lab_x alice ip -4 route show dev ztna0 2>/dev/null | grep -c .)
	echo "$links $addrs $routes"
}
# ... none of them (the kernel unregisters a closed device a few ms after the close).
tun_alice_clear() { [ "$(tun_alice_counts)" = "0 0 0" ]; }
tun_conn_tables() { lab_x conn nft list tables | grep -c '^table inet ztna_ztc0$'; }
tun_no_ztc0() { ! lab_x conn test -e /sys/class/net/ztc0; }
# Waits up to TENTHS tenths of a second until COMMAND... succeeds.
tun_until() {
	local tenths=$1 i
	shift
	for ((i = 0; i < tenths; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
tun_has_route() { [ -n "$(lab_x alice ip -4 route show 10.0.5.3/32 dev ztna0 2>/dev/null)" ]; }
tun_no_route() { ! tun_has_route; }

# Once: the PKI, the data db serves.
tun_setup() {
	"$ZTNA" pki init "$LAB_TMP/pki" --intermediate-ip 203.0.113.10 --agent alice \
		--connector conn=db,hr >"$LAB_TMP/pki.out" 2>&1 || { cat "$LAB_TMP/pki.out" >&2; return 1; }
	head -c 10M /dev/urandom >"$LAB_TMP/d10"
	head -c 64M /dev/urandom >"$LAB_TMP/d64"
	SUM10=$(sha256sum "$LAB_TMP/d10" | cut -c1-64)
	SUM64=$(sha256sum "$LAB_TMP/d64" | cut -c1-64)
}

# A lab: the Intermediate, db's services, nft counters (db: echo requests and SYNs by
# MSS; hr: everything; alice: SYN-ACKs with a large MSS and RSTs on ztna0).
tun_lab() {
	sc_lab "$SC_ROOT/scenarios/lab/$1" || return 1
	lab_bg stun "$LAB_TMP/$LAB-imd.log" "$SC_ROOT/$BUILD/ztna-intermediate" --listen 203.0.113.10:4433 \
		--pki "$LAB_TMP/pki/intermediate" --client agent:alice:ta --client connector:conn:tc \
		--allow alice=db --serve conn=db,hr --tunnel-pool "$POOL"
	T_IMD=$LAB_BG
	lab_bg db "$LAB_TMP/$LAB-src10.log" "$TESTKIT" tcp-source 10.0.5.3:8080 "$LAB_TMP/d10"
	lab_bg db "$LAB_TMP/$LAB-src64.log" "$TESTKIT" tcp-source 10.0.5.3:8081 "$LAB_TMP/d64"
	lab_bg db "$LAB_TMP/$LAB-echo.log" "$TESTKIT" udp-echo 10.0.5.3:7
	lab_x db nft -f - <<'NFT' || return 1
table inet ztsc {
	counter echo_in { }
	counter syn_big { }
	counter syn_small { }
	chain in {
		type filter hook input priority 0; policy accept;
		icmp type echo-request counter name echo_in
		tcp flags & (syn | ack) == syn tcp option maxseg size 1323-65535 counter name syn_big
		tcp flags & (syn | ack) == syn tcp option maxseg size 0-1322 counter name syn_small
	}
}
NFT
	lab_x hr nft -f - <<'NFT' || return 1
table inet ztsc {
	counter hr_in { }
	chain in {
		type filter hook input priority 0; policy accept;
		meta l4proto { icmp, tcp, udp } counter name hr_in
	}
}
NFT
	lab_x alice nft -f - <<'NFT' || return 1
table inet ztsc {
	counter synack_big { }
	counter rst { }
	chain in {
		type filter hook input priority 0; policy accept;
		iifname "ztna0" tcp flags & (syn | ack) == syn | ack tcp option maxseg size 1323-65535 counter name synack_big
		iifname "ztna0" tcp flags rst counter name rst
	}
	chain out {
		type filter hook output priority 0; policy accept;
		oifname "ztna0" tcp flags rst counter name rst
	}
}
NFT
	lab_wait_for "$LAB_TMP/$LAB-imd.log" "event=start " 5 >/dev/null || return 1
	tun_until 50 tun_listening
}
# db's three services listen.
tun_listening() { [ "$(lab_x db ss -Hltun "sport = :8080 or sport = :8081 or sport = :7" | wc -l)" -ge 3 ]; }

# The connector, control socket CCTL; pid in T_CONN, log T_CONN_LOG.
tun_conn() {
	T_CONN_N=$((${T_CONN_N:-0} + 1))
	CCTL=$LAB_TMP/$LAB-conn.sock
	lab_bg conn "$LAB_TMP/$LAB-conn$T_CONN_N.log" "$SC_ROOT/$BUILD/ztna-connector" \
		--intermediate 203.0.113.10:4433 --pki "$LAB_TMP/pki/connector-conn" --name conn --token tc \
		--route db=10.0.5.3/32 --route hr=10.0.5.4/32 --tun ztc0 --control "$CCTL"
	T_CONN=$LAB_BG
	T_CONN_LOG=$LAB_TMP/$LAB-conn$T_CONN_N.log
}

# The agent (ARGS added), control socket ACTL; pid in T_AGENT; waits until it is
# logged in and its route to db is on ztna0 (returns 1 if not within 5 s).
tun_agent() {
	T_AGENT_N=$((${T_AGENT_N:-0} + 1))
	ACTL=$LAB_TMP/$LAB-agent.sock
	T_AGENT_LOG=$LAB_TMP/$LAB-agent$T_AGENT_N.log
	lab_bg alice "$T_AGENT_LOG" "$SC_ROOT/$BUILD/ztna-agent" --intermediate 203.0.113.10:4433 \
		--pki "$LAB_TMP/pki/agent-alice" --name alice --token ta --tun ztna0 --control "$ACTL" "$@"
	T_AGENT=$LAB_BG
	sc_wait_ready 50 "$ACTL" && tun_until 50 tun_has_route
	T4=$(kv "$(sc_status_line "$ACTL" node)" tunnel4)
}

# The session's line at the agent after the path settled: direct, or ICE gave up.
tun_session() {
	local i
	for ((i = 0; i < 80; i++)); do
		SESSION=$(sc_status_line "$ACTL" session=)
		[ "$(kv "$SESSION" path)" = direct ] || [ "$(kv "$SESSION" ice)" = failed ] && break
		sleep 0.1
	done
	sc_debug "$SESSION"
}

# The setup as the agent sees it: its address, routes and device MTUs.
tun_check_setup() {
	local in_pool=no routes
	[[ $T4 =~ ^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\. ]] && in_pool=yes
	sc_row "alice's tunnel address from $POOL" yes "$in_pool" "tunnel4=$T4"
	routes=$(lab_x alice ip -4 route show dev ztna0 | awk '{ for (i = 1; i < NF; i++) if ($i == "src") s = $(i + 1); print $1 "@" s }' | tr '\n' ' ')
	sc_row "routes on ztna0 (dest@src): db only" "10.0.5.3@$T4" "${routes% }"
	sc_row "MTU of ztna0 (alice) and ztc0 (conn)" "$MTU $MTU" \
		"$(lab_x alice cat /sys/class/net/ztna0/mtu) $(lab_x conn cat /sys/class/net/ztc0/mtu)"
}

# Traffic from alice to db: ping, 10 MiB, UDP echo, packets of the tunnel's MTU.
# TAG names the path in the rows and in the numbers kept for the summary.
tun_traffic() {
	local tag=$1 out ms t0 path
	tun_ping alice -c 5 -i 0.2 -W 2 10.0.5.3
	tun_session
	path=$(kv "$SESSION" path)
	sc_row "$tag: ping db" "5 of 5" "$PING_RX of 5" "rtt avg $PING_RTT ms"
	sc_row "$tag: the session's path" "$tag" "$path" \
		"remote $(kv "$SESSION" remote), ice=$(kv "$SESSION" ice), rtt_us=$(kv "$SESSION" rtt_us), switches=$(kv "$SESSION" switches)"
	tun_ping alice -c 20 -i 0.05 -W 2 10.0.5.3
	SUMMARY+=("$tag: ping rtt avg $PING_RTT ms (20 pings, $PING_RX answered)")
	t0=$(date +%s%N)
	out=$(lab_x alice "$TESTKIT" tcp-recv 10.0.5.3:8080 2>&1)
	ms=$((($(date +%s%N) - t0) / 1000000))
	sc_row "$tag: 10 MiB from db, SHA-256" "${SUM10:0:16}" "$(cut -c1-16 <<<"${out#* }")" \
		"${out%% *} bytes in $ms ms"
	SUMMARY+=("$tag: 10 MiB download in $ms ms")
	out=$(lab_x alice "$TESTKIT" udp-ping 10.0.5.3:7 200 1000 16 2>&1)
	sc_row "$tag: UDP echo at db, 200 x 1000 B" 200 "$(tun_word "$out" received)" "$out"
	out=$(lab_x alice "$TESTKIT" udp-ping 10.0.5.3:7 20 $((MTU - 28)) 4 2>&1)
	sc_row "$tag: UDP echo, 20 x $((MTU - 28)) B (1362 B packets)" 20 \
		"$(tun_word "$out" received)" "$out"
	# larger than the tunnel MTU: alice's kernel fragments them, the fragments cross
	out=$(lab_x alice "$TESTKIT" udp-ping 10.0.5.3:7 20 2000 4 2>&1)
	sc_row "$tag: UDP echo, 20 x 2000 B (fragmented)" 20 "$(tun_word "$out" received)" "$out"
	tun_ping alice -c 3 -i 0.2 -W 2 -M "do" -s $((MTU - 28)) 10.0.5.3
	sc_row "$tag: ping -M do -s $((MTU - 28)) (DF, 1362 B)" "3 of 3" "$PING_RX of 3" "rtt avg $PING_RTT ms"
}

# The disallowed host and a spoofed source, with the check of WHO (agent: its own
# courtesy check; connector: the agent runs with --tun-check off): nothing answers,
# nothing arrives at hr or db, WHO counts the drops (the connector also on its line
# for alice).
tun_policy() {
	local tag=$1 who=$2 sock=$ACTL h0 e0 d0 a0
	[ "$who" = connector ] && sock=$CCTL
	lab_x alice ip route add 10.0.5.4/32 dev ztna0
	lab_x alice ip addr add $SPOOF/32 dev ztna0
	d0=$(tun_stat "$sock" dropped_no_route) a0=$(tun_agent_dropped) h0=$(nft_count hr hr_in)
	tun_ping alice -c 3 -i 0.2 -W 1 10.0.5.4
	sc_row "$tag: to hr, $who checks: answers" 0 "$PING_RX"
	sc_row "$tag: ... dropped_no_route at the $who" "+3" "+$(($(tun_stat "$sock" dropped_no_route) - d0))" \
		"connector's line for alice: tun_dropped +$(($(tun_agent_dropped) - a0))"
	sc_row "$tag: ... packets arriving at hr" 0 "$(($(nft_count hr hr_in) - h0))"
	d0=$(tun_stat "$sock" dropped_spoofed) a0=$(tun_agent_dropped) e0=$(nft_count db echo_in)
	tun_ping alice -c 3 -i 0.2 -W 1 -I $SPOOF 10.0.5.3
	sc_row "$tag: spoofed src, $who checks: answers" 0 "$PING_RX"
	sc_row "$tag: ... dropped_spoofed at the $who" "+3" "+$(($(tun_stat "$sock" dropped_spoofed) - d0))" \
		"connector's line for alice: tun_dropped +$(($(tun_agent_dropped) - a0))"
	sc_row "$tag: ... echo requests arriving at db" 0 "$(($(nft_count db echo_in) - e0))"
	lab_x alice ip route del 10.0.5.4/32 dev ztna0
	lab_x alice ip addr del $SPOOF/32 dev ztna0
}

# PMTU and MSS (the agent with its check on).
tun_mtu() {
	local out c0 a0 n0 s0 before
	tun_ping alice -c 1 -W 1 -M "do" -s 1472 10.0.5.3
	out=$(grep -m 1 'local error' <<<"$PING_OUT")
	sc_row "ping -M do -s 1472: the kernel's PMTU error" "mtu=$MTU" "$(grep -o 'mtu=[0-9]*' <<<"$out" || echo none)" "$out"
	# db's MTU is 1500: its SYN-ACKs say MSS 1460, the connector lowers them to 1322
	c0=$(tun_stat "$CCTL" mss_clamped) n0=$(nft_count alice synack_big)
	out=$(lab_x alice "$TESTKIT" tcp-recv 10.0.5.3:8080 2>&1)
	sc_row "db's SYN-ACK MSS 1460 lowered (connector)" "yes 0" \
		"$([ "$(tun_stat "$CCTL" mss_clamped)" -gt "$c0" ] && echo yes || echo no) $(($(nft_count alice synack_big) - n0))" \
		"connector mss_clamped $c0 -> $(tun_stat "$CCTL" mss_clamped); 2nd field: SYN-ACKs with MSS > 1322 at alice"
	# alice's route with advmss 1460: her SYNs say 1460 too, the agent lowers them
	before=$(lab_x alice ip -4 route show 10.0.5.3/32 dev ztna0)
	lab_x alice ip route replace 10.0.5.3/32 dev ztna0 src "$T4" advmss 1460
	a0=$(tun_stat "$ACTL" mss_clamped) n0=$(nft_count db syn_big) s0=$(nft_count db syn_small)
	out=$(lab_x alice "$TESTKIT" tcp-recv 10.0.5.3:8080 2>&1)
	sc_row "MSS 1460 both ends: 10 MiB, SHA-256" "${SUM10:0:16}" "$(cut -c1-16 <<<"${out#* }")" \
		"${out%% *} bytes; route: $(lab_x alice ip -4 route show 10.0.5.3/32 dev ztna0)"
	sc_row "alice's SYN MSS 1460 lowered (agent)" "yes 0" \
		"$([ "$(tun_stat "$ACTL" mss_clamped)" -gt "$a0" ] && echo yes || echo no) $(($(nft_count db syn_big) - n0))" \
		"agent mss_clamped $a0 -> $(tun_stat "$ACTL" mss_clamped); 2nd field: SYNs with MSS > 1322 at db ($(($(nft_count db syn_small) - s0)) with less)"
	sc_debug "route before: $before"
	lab_x alice ip route replace 10.0.5.3/32 dev ztna0 proto static scope link src "$T4"
}

# Part 1: tunnel.lab, the direct path.
tun_part_direct() {
	local fwd0 t4 counts kept out
	sc_say "-- 1. the direct path (port-restricted x port-restricted) --"
	tun_lab tunnel.lab || return 1
	fwd0=$(lab_x conn cat /proc/sys/net/ipv4/ip_forward)
	tun_conn
	tun_agent
	tun_check_setup
	tun_traffic direct
	sc_row "hr: no route through the tunnel" "dev eth0" \
		"$(lab_x alice ip -4 route get 10.0.5.4 | grep -o 'dev [^ ]*')"
	tun_mtu
	tun_policy direct agent
	sc_debug "agent: $(sc_status_line "$ACTL" tunnel)"

	# SIGTERM: the device and its routes go; the restart (--tun-check off) gets the same address
	tun_stop "$T_AGENT" TERM
	tun_until 10 tun_alice_clear
	sc_row "agent SIGTERM: links, addresses, routes" "0 0 0" "$(tun_alice_counts)"
	t4=$T4
	tun_agent --tun-check off
	sc_row "restarted: the same tunnel address" "$t4" "$T4"
	tun_ping alice -c 1 -W 2 10.0.5.3
	tun_policy direct connector
	sc_debug "connector: $(sc_status_line "$CCTL" tunnel)"

	# SIGKILL: the kernel removes the device; the restart makes one of each
	tun_stop "$T_AGENT" KILL
	tun_until 10 tun_alice_clear
	counts=$(tun_alice_counts)
	tun_agent
	sc_row "agent SIGKILL + restart: links, addrs, routes" "1 1 1" "$(tun_alice_counts)" "after the kill: $counts"
	tun_ping alice -c 3 -i 0.2 -W 2 10.0.5.3
	sc_row "ping db after the agent's restart" "3 of 3" "$PING_RX of 3"

	# the connector: SIGTERM removes its table, puts ip_forward back; alice's route goes
	tun_stop "$T_CONN" TERM
	tun_until 50 tun_no_route
	sc_row "connector SIGTERM: ztna_ztc0 tables, ip_forward" "0 $fwd0" \
		"$(tun_conn_tables) $(lab_x conn cat /proc/sys/net/ipv4/ip_forward)"
	sc_row "connector gone: alice's routes on ztna0" 0 "$(lab_x alice ip -4 route show dev ztna0 | grep -c .)"
	tun_conn
	sc_wait_ready 50 "$CCTL"
	tun_until 50 tun_has_route
	sc_row "connector back: alice's routes on ztna0" 1 "$(lab_x alice ip -4 route show dev ztna0 | grep -c .)"
	tun_stop "$T_CONN" KILL
	tun_until 10 tun_no_ztc0
	kept=$(tun_conn_tables)
	tun_conn
	sc_wait_ready 50 "$CCTL"
	sc_row "connector SIGKILL + restart: ztna_ztc0 tables" 1 "$(tun_conn_tables)" \
		"after the kill: $kept table(s), ztc0 $(lab_x conn test -e /sys/class/net/ztc0 && echo present || echo gone)"
	tun_until 50 tun_has_route
	tun_ping alice -c 3 -i 0.2 -W 2 10.0.5.3
	sc_row "ping db after the connector's restart" "3 of 3" "$PING_RX of 3" "alice's routes: $(tun_alice_counts | cut -d' ' -f3)"
	tun_stop "$T_CONN" TERM
	sc_row "connector SIGTERM after a SIGKILL: ztna_ztc0 tables, ip_forward" "0 $fwd0" \
		"$(tun_conn_tables) $(lab_x conn cat /proc/sys/net/ipv4/ip_forward)" \
		"the killed run's value comes back from its table's comment"
	tun_stop "$T_AGENT" TERM
	tun_until 10 tun_alice_clear
	sc_row "agent SIGTERM: links, addresses, routes" "0 0 0" "$(tun_alice_counts)"
	tun_stop "$T_IMD" TERM
	lab_down
	sc_say ""
}

# Part 2: tunnel-relay.lab, the relay path.
tun_part_relay() {
	sc_say "-- 2a. the relay path (symmetric x symmetric) --"
	tun_lab tunnel-relay.lab || return 1
	tun_conn
	tun_agent
	tun_traffic relay
	tun_stop "$T_AGENT" TERM
	tun_agent --tun-check off
	tun_ping alice -c 1 -W 2 10.0.5.3
	tun_policy relay connector
	tun_stop "$T_AGENT" TERM
	tun_stop "$T_CONN" TERM
	tun_stop "$T_IMD" TERM
	lab_down
	sc_say ""
}

# Samples the agent's session path every 0.2 s for up to TENTHS/10 s or until
# COMMAND... succeeds; PATHS collects the changes ("direct relay direct").
tun_watch() {
	local tenths=$1 i line p
	shift
	for ((i = 0; i < tenths; i += 2)); do
		line=$(sc_status_line "$ACTL" session=)
		p=$(kv "$line" path)
		[ "$p" != - ] && [ "$p" != "${PATHS##* }" ] && PATHS="${PATHS:+$PATHS }$p"
		[ $# -gt 0 ] && "$@" && return 0
		sleep 0.2
	done
	return 1
}
tun_done() { ! kill -0 "$1" 2>/dev/null; }
# The agent's path_switch lines (its log): how many went to PATH.
tun_switched() { [ "$(grep -c "event=path_switch.* to=$1 " "$T_AGENT_LOG")" -ge "$2" ]; }
# The first path_switch to PATH after the N-1 th: its time after T (ms) and reason.
tun_switch_note() {
	local line
	line=$(grep "event=path_switch.* to=$1 " "$T_AGENT_LOG" | sed -n "${2}p")
	[ -n "$line" ] && echo "after $(($(sc_ts_ms "$line") - $3)) ms, $(grep -o 'reason=[a-z-]*' <<<"$line")"
}
# The path switches a program's log names: "direct(nominated) relay(data-stalled) ...".
tun_switches() {
	sed -n 's/.*event=path_switch .* to=\([a-z]*\) .*reason=\([a-z-]*\).*/\1(\2)/p' "$1" | tr '\n' ' ' | sed 's/ $//'
}

# One run on tunnel-cut.lab: a new connector and agent, the session opened and left
# idle IDLE seconds, then 64 MiB from db; 3 s in, the direct path is cut, 3 s later
# restored. TAG prefixes the rows.
tun_cut_run() {
	local tag=$1 idle=$2 t0 t_cut t_restore t_relay out ms r0 recv line seq in0 in1
	tun_conn
	tun_agent --cooldown ${COOLDOWN}s --interfaces eth0
	tun_ping alice -c 1 -W 2 10.0.5.3
	tun_session
	sc_row "$tag: the session goes direct first" direct "$(kv "$SESSION" path)"
	sleep "$idle"
	PATHS=""
	r0=$(nft_count alice rst)
	t0=$(date +%s%N)
	lab_bg alice "$LAB_TMP/$LAB-recv64-$T_AGENT_N.out" "$TESTKIT" tcp-recv 10.0.5.3:8081
	recv=$LAB_BG
	tun_watch 30
	sc_cut "$ZTLAB_NS_home" "$ZTLAB_WAN_office"
	t_cut=$(date +%s%3N)
	tun_watch 50 tun_switched relay 1
	sc_row "$tag: on the relay after the cut" yes "$(tun_switched relay 1 && echo yes || echo no)" \
		"$(tun_switch_note relay 1 "$t_cut")"
	# while only the relay is left, the connector must send there too
	in0=$(tun_stat "$ACTL" in) t_relay=$(date +%s%3N)
	tun_watch 30
	in1=$(tun_stat "$ACTL" in)
	line=$(sc_status_line "$CCTL" session=)
	sc_row "$tag: connector follows to the relay" relay "$(kv "$line" path)" \
		"connector: switches=$(kv "$line" switches) reason=$(kv "$line" reason); its log: $(tun_switches "$T_CONN_LOG")"
	sc_row "$tag: packets reach alice on the relay" yes "$([ $((in1 - in0)) -ge 1000 ] && echo yes || echo no)" \
		"$((in1 - in0)) packets out of the tunnel in $(($(date +%s%3N) - t_relay)) ms (>= 1000 expected at 40 Mbit/s)"
	sc_uncut "$ZTLAB_NS_home"
	t_restore=$(date +%s%3N)
	tun_watch $(((COOLDOWN * 2 + 5) * 10)) tun_switched direct 2
	sc_row "$tag: direct again after the restore" yes "$(tun_switched direct 2 && echo yes || echo no)" \
		"$(tun_switch_note direct 2 "$t_restore") (cooldown ${COOLDOWN} s)"
	tun_watch 600 tun_done "$recv"
	tun_stop "$recv"
	ms=$((($(date +%s%N) - t0) / 1000000))
	out=$(cat "$LAB_TMP/$LAB-recv64-$T_AGENT_N.out")
	sc_row "$tag: 64 MiB from db, SHA-256" "${SUM64:0:16}" "$(cut -c1-16 <<<"${out#* }")" \
		"${out%% *} bytes in $ms ms"
	SUMMARY+=("$tag: 64 MiB download in $ms ms at 40 Mbit/s (with the cut)")
	sc_row "$tag: TCP resets on ztna0 (nft at alice)" 0 "$(($(nft_count alice rst) - r0))"
	# the agent's log names every switch, the status samples (0.2 s apart) may miss one
	seq=$(tun_switches "$T_AGENT_LOG")
	tun_watch 1
	line=$(sc_status_line "$ACTL" session=)
	sc_row "$tag: agent at the end: path switches" "direct 3" "$(kv "$line" path) $(kv "$line" switches)" \
		"agent log: $seq; status samples: $PATHS"
	SUMMARY+=("$tag: switches=$(kv "$line" switches), path=$(kv "$line" path) at the end; agent log: $seq")
	line=$(sc_status_line "$CCTL" session=)
	seq=$(tun_switches "$T_CONN_LOG")
	sc_row "$tag: connector at the end: path switches" "direct 3" "$(kv "$line" path) $(kv "$line" switches)" \
		"connector log: $seq"
	SUMMARY+=("$tag: connector switches=$(kv "$line" switches), path=$(kv "$line" path) at the end; its log: $seq")
	tun_stop "$T_AGENT" TERM
	tun_stop "$T_CONN" TERM
}

# Part 2b: tunnel-cut.lab, the direct path cut and restored under a 64 MiB download:
# once 3 s after the session went direct (cut), once 13 s after (cut-idle).
tun_part_cut() {
	sc_say "-- 2b. the direct path cut and restored in the middle of 64 MiB --"
	tun_lab tunnel-cut.lab || return 1
	tun_cut_run cut 0
	tun_cut_run cut-idle 10
	tun_stop "$T_IMD" TERM
	lab_down
	sc_say ""
}

sc_say "== $SC_NAME: IP packets from an agent to a connector's LAN =="
sc_say "expected: ping, a 10 MiB download (SHA-256) and UDP echo from alice to db through"
sc_say "ztna0 on the direct and on the relay path; the PMTU error names mtu=$MTU; TCP SYNs"
sc_say "with MSS 1460 lowered to $((MTU - 40)); hr (not allowed) and a spoofed source get"
sc_say "nothing and are counted by the agent, or by the connector when the agent does not"
sc_say "check; devices, routes and the nftables table gone after SIGTERM, one of each"
sc_say "after SIGKILL and restart; when the direct path is cut under a 64 MiB download,"
sc_say "agent and connector move to the relay, packets keep arriving there, both move back"
sc_say "after the restore, and the download completes (no RST, SHA-256 equal)."
sc_say ""
SUMMARY=()
tun_setup || exit 2
tun_part_direct || exit 2
tun_part_relay || exit 2
tun_part_cut || exit 2
sc_say "numbers:"
printf '  %s\n' "${SUMMARY[@]}"
[ -n "${SC_KEEP:-}" ] && cp -r "$LAB_TMP" "$SC_KEEP"
sc_report
