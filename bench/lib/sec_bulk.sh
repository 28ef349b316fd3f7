# shellcheck shell=bash
# Bulk goodput in the lab (root), download direction (server on conn, client on the
# agent's host), interleaved rounds:
#   iperf-udp  iperf3 -u -b 0 -l 1200 -R to the connector's NAT (port-forwarded)
#   iperf-tcp  iperf3 -R, TCP, the same path
#   ngtcp2     ngtcp2's example client (gtlsclient) downloading from its server
#              (gtlsserver), the same path
#   direct     iperf3 -R through alice's TCP forward (session on the direct path)
#   relay      iperf3 -R through bob's TCP forward (session on the relay path)
#   relay-tcp  the same through the forward of bob's second agent, --transport tcp
#              (the relay over TLS/TCP)
# Client side (client tool, agent) on CPU_A; server side (server tool, connector,
# Intermediate) on CPU_B.

GP_ROUNDS=3
GP_SECONDS=5
GP_BYTES=$((256 << 20))
if [ -n "$QUICK_MODE" ]; then
	GP_ROUNDS=1
	GP_SECONDS=2
	GP_BYTES=$((64 << 20))
fi

# Received Mbit/s from iperf3's --json output (end.sum_received).
iperf_rx() {
	awk '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { gsub(/[^0-9.e+]/, "", $2); printf "%.1f\n", $2 / 1e6; exit }' "$1"
}

gp_iperf() {
	local node=$1 to=$2 port=$3
	shift 3
	taskset -c "$CPU_A" "$ZTLAB" exec "$LAB" "$node" -- timeout $((GP_SECONDS + 20)) iperf3 -c "$to" \
		-p "$port" -t "$GP_SECONDS" -R --json "$@" >"$TMP/iperf.json" 2>&1 || return 1
	iperf_rx "$TMP/iperf.json"
}

# gtls_get SIZE [ARGS]: ngtcp2's example client downloads SIZE bytes from its server.
gtls_get() {
	local size=$1
	shift
	taskset -c "$CPU_A" "$ZTLAB" exec "$LAB" agent -- timeout 60 gtlsclient -q \
		--exit-on-all-streams-close "$@" "$ZTLAB_WAN_nc" 4443 "https://$ZTLAB_WAN_nc:4443/$size" \
		>"$TMP/gtlsclient.out" 2>&1
}

# gtlsclient exits 0 when it never connected, so first a small download is saved (in
# memory) and its size checked: a failed baseline must not read as a slow one. The
# timed download then saves nothing, as in ngtcp2's own measurements.
gp_ngtcp2() {
	local t0 t1 dl size
	dl=$(mktemp -d /dev/shm/zt-bench-gtls.XXXXXX 2>/dev/null || mktemp -d "$TMP/gtls.XXXXXX")
	gtls_get 65536 --download="$dl"
	size=$(stat -c %s "$dl/65536" 2>/dev/null || echo 0)
	rm -rf "$dl"
	if [ "$size" != 65536 ]; then
		note "goodput: ngtcp2's example client got $size of 65536 bytes: $(tail -n 2 "$TMP/gtlsclient.out" | tr '\n' ' ')"
		return 1
	fi
	t0=$(date +%s.%N)
	gtls_get "$GP_BYTES" || return 1
	t1=$(date +%s.%N)
	FMT=%.1f calc "$GP_BYTES * 8 / ($t1 - $t0) / 1e6"
}

sec_goodput() {
	local p=gp variants=(iperf-udp iperf-tcp ngtcp2 relay relay-tcp) r i v out nv
	local -A G
	note "goodput: $GP_ROUNDS rounds, ${GP_SECONDS} s per run"
	if ! lab_up bench/lab/bench.lab; then
		fail_row goodput "goodput" "the lab did not come up"
		return
	fi
	if ! TUNNEL_TCP_PAIR=1 tunnel_up "$p" "$CPU_B"; then
		fail_row goodput "goodput" "the tunnel did not come up"
		lab_down
		return
	fi
	tunnel_pin "$p" "$CPU_A" "$CPU_B"
	lbg gp-iperf "$CPU_B" conn iperf3 -s -p 5201
	lbg gp-iperf-t "$CPU_B" conn iperf3 -s -p 5202 -B 127.0.0.1
	lbg gp-gtls "$CPU_B" conn gtlsserver -q --max-dyn-length=4G "$ZTLAB_IP_conn" 4443 \
		"$TMP/pki-$ZTLAB_IP_relay/intermediate/intermediate.key" \
		"$TMP/pki-$ZTLAB_IP_relay/intermediate/intermediate.pem"
	sleep 0.5
	# open both sessions (the echo service through each agent's TCP forward)
	for v in agent agentr; do
		lx "$v" "$K/zt-testkit" tcp-rtt 127.0.0.1:6004 5 64 >/dev/null 2>&1 ||
			note "goodput: no echo through $v's forward"
	done
	lx agentr "$K/zt-testkit" tcp-rtt 127.0.0.1:6104 5 64 >/dev/null 2>&1 ||
		note "goodput: no echo through the TLS/TCP agent's forward"
	lx agent "$K/zt-testkit" tcp-rtt 127.0.0.1:6204 5 64 >/dev/null 2>&1 ||
		note "goodput: no echo through the TLS/TCP pair's forward"
	# alice's session goes direct some ms after it opened: wait for it
	tunnel_wait_direct "$p" agent && variants=(iperf-udp iperf-tcp ngtcp2 direct relay relay-tcp)
	if TUNNEL_WANT_PATH=direct-tcp tunnel_wait_direct "$p" agentd; then
		variants+=(direct-tcp)
	else
		note "goodput: the TLS/TCP pair's session is not on the TCP direct path ($(tunnel_path "$p" agentd))"
	fi
	nv=${#variants[@]}
	for ((r = 0; r < GP_ROUNDS; r++)); do
		for ((i = 0; i < nv; i++)); do
			v=${variants[$(((i + r) % nv))]}
			case $v in
			iperf-udp) out=$(gp_iperf agent "$ZTLAB_WAN_nc" 5201 -u -b 0 -l 1200) ;;
			iperf-tcp) out=$(gp_iperf agent "$ZTLAB_WAN_nc" 5201) ;;
			ngtcp2) out=$(gp_ngtcp2) ;;
			direct)
				out=$(gp_iperf agent 127.0.0.1 6002)
				if [ "$(tunnel_path "$p" agent)" != direct ]; then
					note "goodput: alice's session left the direct path during the run: not counted"
					out=
				fi
				;;
			relay) out=$(gp_iperf agentr 127.0.0.1 6002) ;;
			relay-tcp) out=$(gp_iperf agentr 127.0.0.1 6102) ;;
			direct-tcp)
				out=$(gp_iperf agent 127.0.0.1 6202)
				if [ "$(tunnel_path "$p" agentd)" != direct-tcp ]; then
					note "goodput: the TLS/TCP pair left the TCP direct path during the run: not counted"
					out=
				fi
				;;
			esac
			if is_num "$out"; then
				G[$v]+="$out "
			else
				note "goodput: $v failed: $(tail -c 300 "$TMP/iperf.json" "$TMP/gtlsclient.out" 2>/dev/null | tr '\n' ' ')"
			fi
			note "goodput round $((r + 1)): $v ${out:-?} Mbit/s"
		done
	done
	gp_rows G
	lab_down
}

gp_rows() {
	local -n g=$1
	local u t n d rl
	u=$(median ${g[iperf-udp]:-})
	t=$(median ${g[iperf-tcp]:-})
	n=$(median ${g[ngtcp2]:-})
	if [ -z "${g[iperf-udp]:-}" ] || [ -z "${g[ngtcp2]:-}" ]; then
		fail_row goodput-base "goodput baselines (iperf3 UDP, ngtcp2 examples)" "a baseline did not run"
		return
	fi
	row goodput-iperf-tcp "goodput, iperf3 TCP (reference)" "$t" Mbit/s "iperf3 UDP -l 1200" "$u" \
		"$(ratio "$t" "$u")" - info "TCP $(spread ${g[iperf-tcp]:-}), UDP $(spread ${g[iperf-udp]}) Mbit/s over $GP_ROUNDS rounds"
	if [ -n "${g[direct]:-}" ]; then
		d=$(median ${g[direct]})
		row goodput-direct "goodput, TCP forward, direct" "$d" Mbit/s "iperf3 UDP -l 1200" "$u" \
			"$(ratio "$d" "$u")" ">= 0.6x" "$(verdict_ge "$(ratio "$d" "$u")" 0.6)" "$(spread ${g[direct]}) Mbit/s"
		row goodput-direct-ngtcp2 "goodput, TCP forward, direct vs ngtcp2" "$d" Mbit/s "ngtcp2 example client/server" \
			"$n" "$(ratio "$d" "$n")" ">= 1.0x" "$(verdict_ge "$(ratio "$d" "$n")" 1.0)" \
			"ngtcp2 $(spread ${g[ngtcp2]}) Mbit/s ($((GP_BYTES >> 20)) MiB downloads)"
	else
		skip_row goodput-direct "goodput, TCP forward, direct" "$(direct_missing)" ">= 0.6x iperf3 UDP"
		skip_row goodput-direct-ngtcp2 "goodput, TCP forward, direct vs ngtcp2" "$(direct_missing)" ">= 1.0x"
	fi
	if [ -n "${g[relay]:-}" ]; then
		rl=$(median ${g[relay]})
		row goodput-relay "goodput, TCP forward, relay" "$rl" Mbit/s "iperf3 UDP -l 1200" "$u" \
			"$(ratio "$rl" "$u")" - info "$(spread ${g[relay]}) Mbit/s; vs ngtcp2 examples $(ratio "$rl" "$n")x"
	else
		fail_row goodput-relay "goodput, TCP forward, relay" "iperf3 through bob's forward failed"
	fi
	if [ -n "${g[relay-tcp]:-}" ] && [ -n "${rl:-}" ]; then
		row goodput-relay-tcp "goodput, TCP forward, relay over TLS/TCP" "$(median ${g[relay-tcp]})" \
			Mbit/s "the relay over QUIC" "$rl" "$(ratio "$(median ${g[relay-tcp]})" "$rl")" - info \
			"$(spread ${g[relay-tcp]}) Mbit/s (agent bob --transport tcp)"
	else
		fail_row goodput-relay-tcp "goodput, TCP forward, relay over TLS/TCP" \
			"iperf3 through the TLS/TCP agent's forward failed"
	fi
	if [ -n "${g[direct-tcp]:-}" ] && [ -n "${g[direct]:-}" ]; then
		row goodput-direct-tcp "goodput, TCP forward, direct over TCP" "$(median ${g[direct-tcp]})" \
			Mbit/s "the direct path over UDP" "$d" "$(ratio "$(median ${g[direct-tcp]})" "$d")" - info \
			"$(spread ${g[direct-tcp]}) Mbit/s (both ends --transport tcp, simultaneous open); vs the relay over TLS/TCP $(ratio "$(median ${g[direct-tcp]})" "$(median ${g[relay-tcp]:-})")x"
	else
		skip_row goodput-direct-tcp "goodput, TCP forward, direct over TCP" \
			"no TCP direct path, or no UDP direct path to compare with" -
	fi
}
