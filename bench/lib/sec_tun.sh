# shellcheck shell=bash
# The packet tunnel (issue 13) against wireguard-go, in the lab (root), between the
# agent's host and the connector's host of bench/lab/bench.lab:
#
#   agent 192.168.1.x -- na ==== public 203.0.113.0/24 ==== nc (WAN) -- conn 10.9.0.x (CONN)
#
#   wg   wireguard-go on both hosts: zwaPID 10.77.0.1 (agent) and zwcPID 10.77.0.2
#        (conn, listening on 51820, which nc forwards to it); keys made for this run
#        (wg genkey); echo and iperf3 reached at 10.77.0.2
#   tun  ztna's packet tunnel: the Intermediate with --tunnel-pool 100.64.0.0/10,
#        agent alice with --tun ztna0, connector c1 with --route tun=CONN/32 --tun
#        ztnc0; echo and iperf3 reached at CONN through alice's TUN, her session on
#        the direct path (to nc's WAN address, checked)
#   fwd  alice's port forwards, their sessions (uecho, bulk) direct too: udp
#        127.0.0.1:6001 to the echo at conn's 127.0.0.1:7002, tcp :6002 to iperf3 at
#        conn's 127.0.0.1:5202
#   raw  no tunnel: to nc's WAN address, forwarded to CONN (context for wg's rows)
#
# RTT: udpping 64 B and 1200 B, p50 and p99, TUN_RTT_ROUNDS x RTT_COUNT (sec_rtt.sh),
# every process on CPU_ONE (the wireguard-go processes and the lab's supervisor too).
# Goodput: iperf3 -R over TCP, TUN_GP_ROUNDS x GP_SECONDS (sec_bulk.sh), the client
# side (iperf3 client, agent, the agent's wireguard-go) on CPU_A, the server side on
# CPU_B. The variants take turns, their order rotating each round. A build without
# the packet tunnel (ztna-agent --help shows no --tun) runs raw and wg only (the ztna
# programs run, idle, all the same) and its tun rows are skipped.
#
#   sec_tun                 (after sec_rtt.sh and sec_bulk.sh: their helpers, counts)

# The quick run takes 3 rounds here (sec_rtt and sec_goodput take 2 and 1): the
# goal rows compare two tunnels, each noisy on shared CPUs.
TUN_RTT_ROUNDS=$RTT_ROUNDS
TUN_GP_ROUNDS=$GP_ROUNDS
if [ -n "$QUICK_MODE" ]; then
	TUN_RTT_ROUNDS=3
	TUN_GP_ROUNDS=3
fi
WG_PORT=51820
WG_NET=10.77.0
# per run: wireguard-go's control sockets are /var/run/wireguard/NAME.sock, one
# directory for every namespace
WG_IF_A=zwa$$
WG_IF_C=zwc$$
WG_SOCK_DIR=/var/run/wireguard
TUN_POOL=100.64.0.0/10
TUN_IF_A=ztna0
TUN_IF_C=ztnc0

# Why the ztna rows cannot be measured with this build; nothing when they can.
tun_missing() {
	local opt='([^[:alnum:]-]|$)'
	if ! "$B/ztna-agent" --help 2>&1 | grep -qE -- "(^|[^[:alnum:]-])--tun$opt"; then
		echo "this build has no packet tunnel"
	elif ! "$B/ztna-connector" --help 2>&1 | grep -qE -- "--tun$opt" ||
		! "$B/ztna-connector" --help 2>&1 | grep -qE -- "--route$opt"; then
		echo "this build has no packet tunnel (ztna-connector has no --tun or --route)"
	elif ! "$B/ztna-intermediate" --help 2>&1 | grep -qE -- "--tunnel-pool$opt"; then
		echo "this build has no packet tunnel (ztna-intermediate has no --tunnel-pool)"
	fi
}

# tun_wg_dev NODE DEV HOST CPU [wg set options]: wireguard-go on NODE, address
# WG_NET.HOST/24, NODE's key from $TMP/wg.
tun_wg_dev() {
	local node=$1 dev=$2 host=$3 cpu=$4 i
	shift 4
	CLEANUP_FILES+=("$WG_SOCK_DIR/$dev.sock")
	lbg "tun-wg-$node" "$cpu" "$node" wireguard-go -f "$dev"
	for ((i = 0; i < 100; i++)); do
		[ -S "$WG_SOCK_DIR/$dev.sock" ] && break
		sleep 0.05
	done
	lx "$node" wg set "$dev" private-key "$TMP/wg/$node.key" "$@" &&
		lx "$node" ip address add "$WG_NET.$host/24" dev "$dev" &&
		lx "$node" ip link set "$dev" up
}

# tun_wg_up CPU: wireguard-go between agent and conn, an echo at WG_NET.2:7001; sets
# WG_WHY when it does not answer.
tun_wg_up() {
	local cpu=$1 n
	WG_WHY=
	mkdir -p "$TMP/wg" && chmod 700 "$TMP/wg" || { WG_WHY="no key directory"; return 1; }
	for n in agent conn; do
		(umask 077 && wg genkey >"$TMP/wg/$n.key") && wg pubkey <"$TMP/wg/$n.key" >"$TMP/wg/$n.pub" ||
			{ WG_WHY="wg genkey failed"; return 1; }
	done
	nat_fwd nc udp "$WG_PORT" "$ZTLAB_IP_conn" || { WG_WHY="the NAT's forward failed"; return 1; }
	if ! tun_wg_dev conn "$WG_IF_C" 2 "$cpu" listen-port "$WG_PORT" \
		peer "$(cat "$TMP/wg/agent.pub")" allowed-ips "$WG_NET.1/32" persistent-keepalive 25 ||
		! tun_wg_dev agent "$WG_IF_A" 1 "$cpu" \
			peer "$(cat "$TMP/wg/conn.pub")" endpoint "$ZTLAB_WAN_nc:$WG_PORT" \
			allowed-ips "$WG_NET.2/32" persistent-keepalive 25; then
		WG_WHY="wireguard-go did not come up: $(tail -qn 2 "$TMP/tun-wg-conn.log" "$TMP/tun-wg-agent.log" | tr '\n' ' ')"
		return 1
	fi
	lbg tun-wgecho "$cpu" conn "$K/udpping" echo --bind "$WG_NET.2:7001" --count 100000000
	rtt_warm agent "$WG_NET.2:7001" || { WG_WHY="no answer through wireguard-go"; return 1; }
}

# tun_ztna_up CPU: the ztna programs (tunnel_up), with the packet tunnel when
# TUN_WHY is empty; sets TUN_WHY (and TUN_FAIL=1 for an error) when the tun and fwd
# variants cannot run, else TUN_REMOTE (where alice's direct path goes).
tun_ztna_up() {
	local cpu=$1 rc=0
	TUN_REMOTE=
	if [ -z "$TUN_WHY" ]; then
		TUNNEL_IMD_ARGS=(--tunnel-pool "$TUN_POOL")
		TUNNEL_CONN_ARGS=(--route "tun=$ZTLAB_IP_conn/32" --tun "$TUN_IF_C")
		TUNNEL_AGENT_ARGS=(--tun "$TUN_IF_A")
	fi
	tunnel_up tun "$cpu" || rc=1
	TUNNEL_IMD_ARGS=() TUNNEL_CONN_ARGS=() TUNNEL_AGENT_ARGS=()
	[ -n "$TUN_WHY" ] && return 0
	TUN_FAIL=1
	if [ $rc != 0 ]; then
		TUN_WHY="the ztna programs did not come up with the packet tunnel"
	elif ! rtt_warm agent; then
		TUN_WHY="no answer through alice's UDP forward"
	elif ! rtt_warm agent "$ZTLAB_IP_conn:7001"; then
		TUN_WHY="no answer through the packet tunnel ($TUN_IF_A to $ZTLAB_IP_conn)"
	elif ! tunnel_wait_direct tun agent tun; then
		TUN_WHY="$(direct_missing) (the packet tunnel's session)"
		TUN_FAIL=0
	else
		# a direct path must go between the two NATs, not through a tunnel
		TUN_REMOTE=$(tunnel_remote tun agent tun)
		[ "${TUN_REMOTE%:*}" = "$ZTLAB_WAN_nc" ] ||
			TUN_WHY="alice's direct path goes to $TUN_REMOTE, not to the connector's NAT ($ZTLAB_WAN_nc)"
	fi
	[ -n "$TUN_WHY" ] && return 0
	TUN_FAIL=0
	tunnel_wait_direct tun agent uecho || note "tun: the UDP forward's session is not on the direct path"
}

# The MTUs of the tunnels' devices, for the details.
tun_mtus() {
	local m
	m="wireguard-go MTU $(lx agent cat "/sys/class/net/$WG_IF_A/mtu" 2>/dev/null || echo ?)"
	[ -z "$TUN_WHY" ] && m+=", $TUN_IF_A MTU $(lx agent cat "/sys/class/net/$TUN_IF_A/mtu" 2>/dev/null || echo ?)"
	echo "$m"
}

# tun_direct_still SERVICE: a measurement of the tun and fwd variants counts only with
# their session (SERVICE's: tun, uecho or bulk) on the direct path.
tun_direct_still() {
	[ "$(tunnel_path tun agent "$1")" = direct ] && return 0
	note "tun: alice's $1 session is not on the direct path: not counted"
	return 1
}

# tun_rtt_ping VARIANT SIZE: one RTT measurement (for rtt_rounds); the tun and fwd
# variants' only with their session on the direct path.
tun_rtt_ping() {
	local to out
	case $1 in
	raw) to=$ZTLAB_WAN_nc:7001 ;;
	wg) to=$WG_NET.2:7001 ;;
	tun) to=$ZTLAB_IP_conn:7001 ;;
	fwd) to=127.0.0.1:6001 ;;
	esac
	out=$(rtt_ping agent "$to" "$2" "$TMP/s" --count "$RTT_COUNT" --timeout 1000)
	case $1 in
	tun) tun_direct_still tun || out="- -" ;;
	fwd) tun_direct_still uecho || out="- -" ;;
	esac
	echo "$out"
}

# tun_gp_rounds VARIANTS...: fills G[VARIANT] (the caller's), Mbit/s per round.
tun_gp_rounds() {
	local variants=("$@") nv=$# r i v out
	for ((r = 0; r < TUN_GP_ROUNDS; r++)); do
		for ((i = 0; i < nv; i++)); do
			v=${variants[$(((i + r) % nv))]}
			case $v in
			raw) out=$(gp_iperf agent "$ZTLAB_WAN_nc" 5201) ;;
			wg) out=$(gp_iperf agent "$WG_NET.2" 5201) ;;
			tun) out=$(gp_iperf agent "$ZTLAB_IP_conn" 5201) ;;
			fwd) out=$(gp_iperf agent 127.0.0.1 6002) ;;
			esac
			case $v in
			tun) tun_direct_still tun || out= ;;
			fwd) tun_direct_still bulk || out= ;;
			esac
			if is_num "$out"; then
				G[$v]+="$out "
			else
				note "tun goodput: $v failed: $(tail -c 300 "$TMP/iperf.json" | tr '\n' ' ')"
			fi
			note "tun goodput round $((r + 1)): $v ${out:-?} Mbit/s"
		done
	done
}

# tun_pin_goodput VARIANTS...: re-pin for the goodput (client side on CPU_A, server
# side on CPU_B, the lab's supervisor unpinned, as in sec_goodput), start the iperf3
# servers, open the TCP forward's session (bulk) and let it go direct.
tun_pin_goodput() {
	local n
	tunnel_pin tun "$CPU_A" "$CPU_B"
	for n in tun-wg-agent tun-wg-conn tun-wgecho; do
		[ -n "${PIDS[$n]:-}" ] || continue
		taskset -a -p -c "$([ $n = tun-wg-agent ] && echo "$CPU_A" || echo "$CPU_B")" "${PIDS[$n]}" >/dev/null 2>&1
	done
	lab_pin "0-$((NCPU - 1))"
	lbg tun-iperf "$CPU_B" conn iperf3 -s -p 5201
	lbg tun-iperf-t "$CPU_B" conn iperf3 -s -p 5202 -B 127.0.0.1
	sleep 0.5
	if [[ " $* " == *" fwd "* ]]; then
		lx agent timeout 10 iperf3 -c 127.0.0.1 -p 6002 -t 1 -R >/dev/null 2>&1
		tunnel_wait_direct tun agent bulk || note "tun: the TCP forward's session is not on the direct path"
	fi
}

sec_tun() {
	local variants=(raw) mtus
	local -A P50 P99 G
	TUN_WHY=$(tun_missing)
	TUN_FAIL=0
	note "tun: packet tunnel vs wireguard-go${TUN_WHY:+ ($TUN_WHY: wireguard-go only)}"
	if ! lab_up bench/lab/bench.lab; then
		fail_row tun "tun: packet tunnel vs wireguard-go" "the lab did not come up"
		return
	fi
	lab_pin "$CPU_ONE"
	# wireguard-go first: its device is up when ztna gathers its candidates (it
	# must not offer addresses on it)
	tun_wg_up "$CPU_ONE" && variants+=(wg)
	tun_ztna_up "$CPU_ONE"
	[ -z "$TUN_WHY" ] && variants+=(tun fwd)
	mtus=$(tun_mtus)
	note "tun: variants ${variants[*]}; $mtus"
	rtt_rounds "$TUN_RTT_ROUNDS" tun-rtt tun_rtt_ping "${variants[@]}"
	tun_pin_goodput "${variants[@]}"
	tun_gp_rounds "${variants[@]}"
	tun_rows "$mtus"
	stop_all tun-
	lab_down
}

# ---- rows ------------------------------------------------------------------------

# has_num VALUES...: at least one number among them.
has_num() {
	local x
	for x in "$@"; do is_num "$x" && return 0; done
	return 1
}

# tun_base_row ID METRIC UNIT WHY VALS BASE_NAME BASE_VALS DETAIL: an info row of a
# baseline (wireguard-go); failed with WHY when it has no values.
# shellcheck disable=SC2086 # VALS are lists of numbers
tun_base_row() {
	local id=$1 metric=$2 unit=$3 why=$4 vals=$5 bname=$6 bvals=$7 detail=$8 x b=- bs=-
	if ! has_num $vals; then
		fail_row "$id" "$metric" "${why:-no measurement}"
		return
	fi
	x=$(median $vals)
	has_num $bvals && b=$(median $bvals) bs=$(spread $bvals)
	row "$id" "$metric" "$x" "$unit" "$bname" "$b" "$(ratio "$x" "$b")" - info \
		"$(spread $vals) $unit, $bname $bs $unit; $detail"
}

# tun_cmp_row ID METRIC UNIT VALS BASE_NAME BASE_VALS BASE_WHY GOAL TEST LIMIT DETAIL:
# ztna's VALS against a baseline; TEST le|ge|info. Skipped or failed with TUN_WHY
# when the tun variants did not run, failed when either side has no value.
# shellcheck disable=SC2086
tun_cmp_row() {
	local id=$1 metric=$2 unit=$3 vals=$4 bname=$5 bvals=$6 bwhy=$7 goal=$8 test=$9 limit=${10} detail=${11}
	local x b r verdict=info
	if [ -n "$TUN_WHY" ]; then
		if [ "$TUN_FAIL" = 1 ]; then
			fail_row "$id" "$metric" "$TUN_WHY" "$goal"
		else
			skip_row "$id" "$metric" "$TUN_WHY" "$goal"
		fi
		return
	fi
	if ! has_num $bvals; then
		fail_row "$id" "$metric" "$bname: ${bwhy:-no measurement}" "$goal"
		return
	elif ! has_num $vals; then
		fail_row "$id" "$metric" "no measurement through the packet tunnel on the direct path" "$goal"
		return
	fi
	x=$(median $vals) b=$(median $bvals)
	r=$(ratio "$x" "$b")
	case $test in
	le) verdict=$(verdict_le "$r" "$limit") ;;
	ge) verdict=$(verdict_ge "$r" "$limit") ;;
	esac
	row "$id" "$metric" "$x" "$unit" "$bname" "$b" "$r" "$goal" "$verdict" \
		"ztna $(spread $vals) $unit, $bname $(spread $bvals) $unit; $detail; direct path to $TUN_REMOTE"
}

# av ARRAY KEY: ${ARRAY[KEY]} (the arrays of sec_tun).
av() {
	local -n _a=$1
	echo "${_a[$2]:-}"
}

tun_rows() {
	local mtus=$1 s q a goal test rounds="$TUN_RTT_ROUNDS rounds of $RTT_COUNT"
	for s in 64 1200; do
		for q in p50 p99; do
			a=${q^^}
			tun_base_row "tun-wg-rtt-$s-$q" "tun RTT $q ${s}B (wireguard-go)" us "$WG_WHY" \
				"$(av "$a" "$s-wg")" "raw UDP, same path" "$(av "$a" "$s-raw")" "$rounds; $mtus"
		done
	done
	for s in 64 1200; do
		for q in p50 p99; do
			a=${q^^}
			[ $q = p50 ] && goal="<= 1.1x" test=le || goal="- (p50 goal only)" test=info
			tun_cmp_row "tun-rtt-$s-$q" "tun RTT $q ${s}B vs wireguard-go" us "$(av "$a" "$s-tun")" \
				"wireguard-go, same path" "$(av "$a" "$s-wg")" "$WG_WHY" "$goal" $test 1.1 "$rounds; $mtus"
		done
		tun_cmp_row "tun-fwd-rtt-$s-p50" "tun RTT p50 ${s}B vs port forward" us "$(av P50 "$s-tun")" \
			"UDP port forward, same path" "$(av P50 "$s-fwd")" "" - info 0 "$rounds"
	done
	tun_base_row tun-wg-goodput "tun goodput (wireguard-go)" Mbit/s "$WG_WHY" "$(av G wg)" \
		"iperf3 TCP, same NATed path" "$(av G raw)" "iperf3 -R, $TUN_GP_ROUNDS rounds of $GP_SECONDS s; $mtus"
	tun_cmp_row tun-goodput "tun goodput vs wireguard-go" Mbit/s "$(av G tun)" "wireguard-go, same path" \
		"$(av G wg)" "$WG_WHY" ">= 1.0x" ge 1.0 "iperf3 -R, $TUN_GP_ROUNDS rounds of $GP_SECONDS s; $mtus"
	tun_cmp_row tun-fwd-goodput "tun goodput vs port forward" Mbit/s "$(av G tun)" \
		"TCP port forward, same path" "$(av G fwd)" "" - info 0 "iperf3 -R, $TUN_GP_ROUNDS rounds of $GP_SECONDS s"
}
