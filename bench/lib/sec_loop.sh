# shellcheck shell=bash
# Loopback measurements (no root needed), on a 127.x.y.z address of this run's own:
#
#   sec_relay_rate   packets the Intermediate relays per CPU-second (zt-load: one
#                    session, 1200-byte payloads as relay channel datagrams, the
#                    programs' default, docs/relay-channel.md; and as outer DATAGRAMs,
#                    the relay-rate-dgram row), against udpfwd relaying 1200-byte
#                    datagrams from udpblast; interleaved rounds. Each relay alone on
#                    CPU_B, load and sink on CPU_A. Value = delivered / relay CPU time
#                    (utime + stime): the rate one fully busy core would reach.
#   sec_memory       Intermediate RSS per connected agent at N = 10, 100, 1000, 10000
#                    (zt-load clients) against a bare ngtcp2 + GnuTLS server
#                    (zt-load bare-server) with the same N; the Intermediate's whole RSS
#                    with 10,000 idle agents; extra RSS per relayed pair.
#   idle_start/idle_finish  keepalive bytes per second of an idle agent's and an idle
#                    connector's connection to the Intermediate (through zt-testkit
#                    taps that count bytes), and of zt-load's 1000 idle agents.

LO=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
LO_PORT=$((20000 + RANDOM % 10000))
HZ=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

lo_pki() {
	LO_PKI=$TMP/pki-lo
	pki_init "$LO_PKI" "$LO"
}

# lo_imd NAME [CPU]: a fresh Intermediate on $LO:$LO_PORT, no STUN port (its default,
# port + 1, is where the relay-rate section's udpfwd listens).
LO_IMD_EXTRA=()
lo_imd() {
	imd_policy
	if [ -n "${2:-}" ]; then
		spawn "$1" taskset -c "$2" "$B/ztna-intermediate" --listen "$LO:$LO_PORT" --pki "$LO_PKI/intermediate" --stun-port off "${IMD_POLICY[@]}"
	else
		spawn "$1" "$B/ztna-intermediate" --listen "$LO:$LO_PORT" --pki "$LO_PKI/intermediate" --stun-port off "${IMD_POLICY[@]}" \
			"${LO_IMD_EXTRA[@]}"
	fi
	wait_for "$TMP/$1.log" 'event=start' 5
}

zload() {
	"$K/zt-load" "$1" --to "$LO:$LO_PORT" --pki "$LO_PKI" --bind "$LO" --name load --token "$TOK_L" "${@:2}"
}

RR_ROUNDS=5
RR_SECONDS=3
[ -n "$QUICK_MODE" ] && RR_ROUNDS=2 && RR_SECONDS=2

# rr_zload [ARGS]: one zt-load relay round against rr-imd (its output in
# $TMP/rr-zload.out); prints "PKTS_PER_CPU_SECOND CPU_PERCENT", nothing when none came.
rr_zload() {
	local out t0 t1 got sec
	t0=$(cpu_ticks "${PIDS[rr-imd]}")
	out=$(taskset -c "$CPU_A" timeout 60 "$K/zt-load" relay --to "$LO:$LO_PORT" --pki "$LO_PKI" --bind "$LO" \
		--name load --token "$TOK_L" --connector loadc --ctoken "$TOK_LC" --service bulk \
		--seconds "$RR_SECONDS" --size 1200 "$@")
	t1=$(cpu_ticks "${PIDS[rr-imd]}")
	echo "$out" >"$TMP/rr-zload.out"
	got=$(kv "$out" received)
	sec=$(calc "($t1 - $t0) / $HZ")
	if is_num "$got" && [ "$got" -gt 0 ] && [ "$(calc "$sec > 0")" = 1 ]; then
		echo "$(FMT=%.0f calc "$got / $sec") $(FMT=%.0f calc "$sec / $RR_SECONDS * 100")"
	fi
}

sec_relay_rate() {
	local r out t0 t1 got sec imd=() fwd=() uimd=() ufwd=() sent dg=() udg=() v u
	note "relay rate: $RR_ROUNDS rounds of $RR_SECONDS s each"
	lo_pki || { fail_row relay-rate "relay rate" "no PKI"; return; }
	lo_imd rr-imd "$CPU_B" || { fail_row relay-rate "relay rate" "the Intermediate did not start"; return; }
	spawn rr-fwd taskset -c "$CPU_B" "$K/udpfwd" --listen "$LO:$((LO_PORT + 1))" --to "$LO:$((LO_PORT + 2))" \
		--idle 600 --seconds 3600
	sleep 0.2
	for ((r = 0; r < RR_ROUNDS; r++)); do
		read -r v u <<<"$(rr_zload --channel)"
		[ -n "$v" ] && imd+=("$v") && uimd+=("$u")
		out=$(cat "$TMP/rr-zload.out")
		read -r v u <<<"$(rr_zload)"
		[ -n "$v" ] && dg+=("$v") && udg+=("$u")
		spawn rr-sink taskset -c "$CPU_A" "$K/udpblast" sink --bind "$LO:$((LO_PORT + 2))" \
			--seconds $((RR_SECONDS + 5)) --idle 1
		wait_for "$TMP/rr-sink.out" listening 5
		t0=$(cpu_ticks "${PIDS[rr-fwd]}")
		sent=$(taskset -c "$CPU_A" "$K/udpblast" send --to "$LO:$((LO_PORT + 1))" --size 1200 --seconds "$RR_SECONDS")
		wait "${PIDS[rr-sink]}" 2>/dev/null
		unset "PIDS[rr-sink]"
		t1=$(cpu_ticks "${PIDS[rr-fwd]}")
		got=$(kv "$(grep received "$TMP/rr-sink.out")" received)
		sec=$(calc "($t1 - $t0) / $HZ")
		if is_num "$got" && [ "$got" -gt 0 ] && [ "$(calc "$sec > 0")" = 1 ]; then
			fwd+=("$(FMT=%.0f calc "$got / $sec")")
			ufwd+=("$(FMT=%.0f calc "$sec / $RR_SECONDS * 100")")
		fi
		note "relay rate round $((r + 1)): Intermediate ${imd[*]: -1} pkts/CPU-s (channel), ${dg[*]: -1} (DATAGRAMs), udpfwd ${fwd[*]: -1} (${sent})"
	done
	if [ ${#imd[@]} -eq 0 ] || [ ${#fwd[@]} -eq 0 ]; then
		fail_row relay-rate "relay rate, 1200 B (pkts/s per core)" "no packets relayed ($out)"
	else
		local vi vf
		vi=$(median "${imd[@]}")
		vf=$(median "${fwd[@]}")
		row relay-rate "relay rate, 1200 B (pkts/s per core)" "$vi" pps "udpfwd (recvmmsg/sendmmsg)" "$vf" \
			"$(ratio "$vi" "$vf")" ">= 0.8x" "$(verdict_ge "$(ratio "$vi" "$vf")" 0.8)" \
			"relay channel (docs/relay-channel.md); Intermediate $(spread "${imd[@]}") at $(median "${uimd[@]}") % CPU; udpfwd $(spread "${fwd[@]}") at $(median "${ufwd[@]}") % CPU"
		if [ ${#dg[@]} -gt 0 ]; then
			local vd
			vd=$(median "${dg[@]}")
			row relay-rate-dgram "relay rate, 1200 B, outer DATAGRAMs (--relay-channel off)" "$vd" pps \
				"udpfwd (recvmmsg/sendmmsg)" "$vf" "$(ratio "$vd" "$vf")" ">= 0.35x" \
				"$(verdict_ge "$(ratio "$vd" "$vf")" 0.35)" \
				"Intermediate $(spread "${dg[@]}") at $(median "${udg[@]}") % CPU"
		else
			fail_row relay-rate-dgram "relay rate, outer DATAGRAMs" "no packets relayed"
		fi
	fi
	# With 1000 idle agents connected as well (the per-event cost of many clients).
	if [ -z "$QUICK_MODE" ] && [ ${#fwd[@]} -gt 0 ]; then
		spawn rr-idle taskset -c "$CPU_A" "$K/zt-load" clients --to "$LO:$LO_PORT" --pki "$LO_PKI" --bind "$LO" \
			--name load --token "$TOK_L" --count 1000 --hold 120
		if wait_for "$TMP/rr-idle.out" '^ready' 60; then
			local many=()
			for ((r = 0; r < RR_ROUNDS; r++)); do
				read -r v u <<<"$(rr_zload --channel)"
				[ -n "$v" ] && many+=("$v")
			done
			if [ ${#many[@]} -gt 0 ]; then
				row relay-rate-1000 "relay rate, 1200 B, 1000 idle agents connected" "$(median "${many[@]}")" pps \
					"udpfwd (recvmmsg/sendmmsg)" "$(median "${fwd[@]}")" \
					"$(ratio "$(median "${many[@]}")" "$(median "${fwd[@]}")")" ">= 0.8x" \
					"$(verdict_ge "$(ratio "$(median "${many[@]}")" "$(median "${fwd[@]}")")" 0.8)" \
					"$(spread "${many[@]}") pkts per CPU-second"
			else
				fail_row relay-rate-1000 "relay rate, 1000 idle agents connected" "no packets relayed"
			fi
		else
			fail_row relay-rate-1000 "relay rate, 1000 idle agents connected" \
				"the 1000 agents did not connect: $(tail -n 2 "$TMP/rr-idle.out")"
		fi
		stop rr-idle
	fi
	stop rr-fwd
	stop rr-imd
}

# mem_one NAME N BARE: RSS growth (KiB) of a fresh server with N clients; prints
# "per_client_bytes rss0_kib rss1_kib".
mem_one() {
	local name=$1 n=$2 bare=$3 pid r0 r1 wait=$((60 + n / 100))
	if [ "$bare" = 1 ]; then
		spawn "$name" "$K/zt-load" bare-server --listen "$LO:$LO_PORT" --pki "$LO_PKI" --seconds 600
		wait_for "$TMP/$name.out" listening 5 || return 1
	else
		# max-clients (10,000) counts every connection: room for N and a few more
		LO_IMD_EXTRA=(--max-clients $((n + 1000)))
		lo_imd "$name" || { LO_IMD_EXTRA=(); return 1; }
		LO_IMD_EXTRA=()
	fi
	pid=${PIDS[$name]}
	sleep 0.3
	r0=$(rss_kib "$pid")
	spawn "$name-load" "$K/zt-load" clients --to "$LO:$LO_PORT" --pki "$LO_PKI" --bind "$LO" --name load \
		--token "$TOK_L" --count "$n" --hold 30 $([ "$bare" = 1 ] && echo --bare)
	if ! wait_for "$TMP/$name-load.out" '^ready' "$wait"; then
		echo "zt-load: $(tail -n 2 "$TMP/$name-load.out" "$TMP/$name-load.log" | tr '\n' ' ')" >"$TMP/mem.err"
		stop "$name-load"
		stop "$name"
		return 1
	fi
	sleep 1
	r1=$(rss_kib "$pid")
	grep '^ready' "$TMP/$name-load.out" | tr '\n' ' ' >"$TMP/$name.ready"
	stop "$name-load"
	stop "$name"
	echo "$(((r1 - r0) * 1024 / n)) $r0 $r1"
}

# fd_room N: the open-files limit allows zt-load's N sockets (it raises its soft limit
# itself; the hard limit is raised here when root). 1 with the reason in $TMP/mem.err.
fd_room() {
	local need=$(($1 + 64)) hard
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && return 0
	[ "$hard" -ge "$need" ] && return 0
	ulimit -Hn "$need" 2>/dev/null && return 0
	echo "open-files hard limit $hard < $need (ulimit -Hn; as root the bench raises it)" >"$TMP/mem.err"
	return 1
}

sec_memory() {
	local ns=(10 100 1000 10000) n a b per_a per_b pairs=1000
	[ -n "$QUICK_MODE" ] && ns=(10 100) && pairs=100
	lo_pki || { fail_row memory "memory" "no PKI"; return; }
	for n in "${ns[@]}"; do
		note "memory: $n agents"
		if ! fd_room "$n" || ! a=$(mem_one mem-imd "$n" 0) || ! b=$(mem_one mem-bare "$n" 1); then
			fail_row "memory-$n" "Intermediate memory per agent, N=$n" "$(cat "$TMP/mem.err" 2>/dev/null)"
			continue
		fi
		per_a=$(FMT=%.1f calc "${a%% *} / 1024")
		per_b=$(FMT=%.1f calc "${b%% *} / 1024")
		row "memory-$n" "Intermediate memory per agent, N=$n" "$per_a" KiB "bare ngtcp2+GnuTLS conn" "$per_b" \
			"$(ratio "$per_a" "$per_b")" "<= 1.1x" "$(verdict_le "$(ratio "$per_a" "$per_b")" 1.1)" \
			"RSS $(echo "$a" | awk '{print $2 " -> " $3}') KiB; bare server $(echo "$b" | awk '{print $2 " -> " $3}') KiB"
		if [ "$n" = 10000 ]; then
			local ra rb
			ra=$(FMT=%.0f calc "$(echo "$a" | awk '{print $3}') / 1024")
			rb=$(FMT=%.0f calc "$(echo "$b" | awk '{print $3}') / 1024")
			row memory-10000-rss "Intermediate RSS, 10,000 idle agents" "$ra" MiB "bare ngtcp2+GnuTLS server" "$rb" \
				"$(ratio "$ra" "$rb")" "<= 1024 MiB" "$(verdict_le "$ra" 1024)" \
				"whole RSS with 10,000 zt-load agents connected and idle ($(cat "$TMP/mem-imd.ready")); bare server: $(cat "$TMP/mem-bare.ready")"
		fi
	done
	# Per relayed pair: the same agents, before and after each opens a session and
	# relays a few datagrams both ways.
	note "memory: $pairs relayed pairs"
	lo_imd mem-pairs || { fail_row memory-pair "memory per relayed pair" "the Intermediate did not start"; return; }
	local pid=${PIDS[mem-pairs]} r0 r1 r2
	sleep 0.3
	r0=$(rss_kib "$pid")
	spawn mem-pairs-load "$K/zt-load" pairs --to "$LO:$LO_PORT" --pki "$LO_PKI" --bind "$LO" --name load \
		--token "$TOK_L" --connector loadc --ctoken "$TOK_LC" --service bulk --count "$pairs" --dgrams 4 \
		--pause 3 --hold 10
	if wait_for "$TMP/mem-pairs-load.out" '^welcomed' 60; then
		sleep 1.5
		r1=$(rss_kib "$pid")
		if wait_for "$TMP/mem-pairs-load.out" '^ready' 60; then
			sleep 1
			r2=$(rss_kib "$pid")
			per_a=$(((r2 - r1) * 1024 / pairs))
			row memory-pair "Intermediate memory per relayed pair" "$per_a" B - - - "<= 1 KiB more" \
				"$(verdict_le "$per_a" 1024)" \
				"$pairs agents + 1 connector: RSS $r0 -> $r1 KiB; with a session each and 8 datagrams relayed per session: $r2 KiB ($(grep '^ready' "$TMP/mem-pairs-load.out"))"
		else
			fail_row memory-pair "Intermediate memory per relayed pair" "$(tail -n 2 "$TMP/mem-pairs-load.out")"
		fi
	else
		fail_row memory-pair "Intermediate memory per relayed pair" "$(tail -n 2 "$TMP/mem-pairs-load.out")"
	fi
	stop mem-pairs-load
	stop mem-pairs
}

IDLE_SECONDS=60
[ -n "$QUICK_MODE" ] && IDLE_SECONDS=15

# Agent and connector through byte-counting taps, a fresh Intermediate on its own port.
idle_start() {
	local port=$((LO_PORT + 10))
	lo_pki || { fail_row idle "idle cost" "no PKI"; IDLE_OK=0; return; }
	imd_policy
	IDLE_OK=1
	spawn idle-imd "$B/ztna-intermediate" --listen "$LO:$port" --pki "$LO_PKI/intermediate" --stun-port off "${IMD_POLICY[@]}"
	spawn idle-tapa "$K/zt-testkit" tap "$LO:$((port + 1))" "$LO:$port" none "$TMP/idle-tapa.stats"
	spawn idle-tapc "$K/zt-testkit" tap "$LO:$((port + 2))" "$LO:$port" none "$TMP/idle-tapc.stats"
	# QUIC, as the taps count it: with --transport auto a handshake slower than 300 ms
	# (the machine busy) logged in over TLS/TCP, and the row counted its UDP probes
	spawn idle-conn "$B/ztna-connector" --intermediate "$LO:$((port + 2))" --pki "$LO_PKI/connector-c1" --name c1 \
		--token "$TOK_C" --service "echo=tcp:$LO:$((port + 3))" --intermediate-name intermediate.ztna \
		--transport udp
	spawn idle-agent "$B/ztna-agent" --intermediate "$LO:$((port + 1))" --pki "$LO_PKI/agent-alice" --name alice \
		--token "$TOK_A" --forward "tcp:$LO:$((port + 4))=echo" --transport udp
	if ! wait_for "$TMP/idle-agent.log" 'event=connected' 10 || ! wait_for "$TMP/idle-conn.log" 'event=connected' 10; then
		fail_row idle "idle cost" "agent or connector did not connect: $(tail -n 2 "$TMP/idle-agent.log")"
		IDLE_OK=0
		return
	fi
	sleep 2
	kill -USR1 "${PIDS[idle-tapa]}" "${PIDS[idle-tapc]}"
	sleep 0.3
	cp "$TMP/idle-tapa.stats" "$TMP/idle-tapa.0"
	cp "$TMP/idle-tapc.stats" "$TMP/idle-tapc.0"
	IDLE_T0=$(date +%s.%N)
	# zt-load's agents: 1000 idle outer connections (the Intermediate's side of it)
	spawn idle-many "$K/zt-load" clients --to "$LO:$port" --pki "$LO_PKI" --bind "$LO" --name load \
		--token "$TOK_L" --count 1000 --hold "$IDLE_SECONDS"
}

# IP bytes (UDP payload + 28 per datagram) per second from two tap stats files.
tap_rate() {
	awk -v s="$3" 'FNR == NR { a[$1] = $2; next } { b[$1] = $2 }
		END { pk = b["to_upstream"] + b["to_clients"] - a["to_upstream"] - a["to_clients"];
		      by = b["bytes"] - a["bytes"]; printf "%.1f %d\n", (by + 28 * pk) / s, pk }' "$1" "$2"
}

idle_finish() {
	local now el a c many
	[ "${IDLE_OK:-0}" = 1 ] || return
	now=$(date +%s.%N)
	el=$(calc "$now - $IDLE_T0")
	if [ "$(calc "$el < $IDLE_SECONDS")" = 1 ]; then
		sleep "$(calc "$IDLE_SECONDS - $el")"
	fi
	kill -USR1 "${PIDS[idle-tapa]}" "${PIDS[idle-tapc]}"
	sleep 0.3
	el=$(calc "$(date +%s.%N) - $IDLE_T0")
	a=$(tap_rate "$TMP/idle-tapa.0" "$TMP/idle-tapa.stats" "$el")
	c=$(tap_rate "$TMP/idle-tapc.0" "$TMP/idle-tapc.stats" "$el")
	row idle-agent "idle cost, agent <-> Intermediate" "${a% *}" B/s - - - "<= 10 B/s" \
		"$(verdict_le "${a% *}" 10)" "${a#* } datagrams in $(FMT=%.0f calc "$el") s (IP bytes: UDP payload + 28); default --keepalive 25s"
	row idle-conn "idle cost, connector <-> Intermediate" "${c% *}" B/s - - - "<= 10 B/s" \
		"$(verdict_le "${c% *}" 10)" "${c#* } datagrams in $(FMT=%.0f calc "$el") s"
	if wait_for "$TMP/idle-many.out" '^idle' $((IDLE_SECONDS + 70)); then
		many=$(grep '^idle' "$TMP/idle-many.out")
		local sec cl pk by
		sec=$(kv "$many" seconds)
		cl=$(kv "$many" clients)
		pk=$(($(kv "$many" pkts_tx) + $(kv "$many" pkts_rx)))
		by=$(($(kv "$many" bytes_tx) + $(kv "$many" bytes_rx) + 28 * pk))
		row idle-many "idle cost per connection, 1000 agents (zt-load)" "$(FMT=%.1f calc "$by / $sec / $cl")" B/s \
			- - - "<= 10 B/s" "$(verdict_le "$(calc "$by / $sec / $cl")" 10)" \
			"$pk datagrams in $sec s for $cl connections (keepalive 25 s, as the agent's default)"
	else
		fail_row idle-many "idle cost, 1000 zt-load agents" "$(tail -n 2 "$TMP/idle-many.out")"
	fi
	for a in idle-many idle-agent idle-conn idle-tapa idle-tapc idle-imd; do stop "$a"; done
}
