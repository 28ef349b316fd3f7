# shellcheck shell=bash
# RTT in the lab (root): udpping ping-pong, 64 B and 1200 B, from the agent's host:
#   raw     to the connector's NAT, port-forwarded to udpping echo on conn (baseline)
#   direct  through agent alice's UDP forward: its session on the direct path
#   relay   through agent bob's UDP forward: its session on the relay path
#   fwd     to udpfwd on the Intermediate's host, on to the raw echo (relay baseline)
#   pair    to udpfwd on the agent's host, through the connector's NAT to udpfwd on
#           conn, on to the echo the tunnel's forward reaches: two plain userspace
#           forwarders where the tunnel has its two ends (the floor of such a design)
# Interleaved rounds (the variants' order rotates each round); per round p50 and p99
# of each; the rows give the median over rounds with min..max. Every process, the
# lab's link emulator included, is pinned to one CPU.
#
#   sec_rtt nodelay|delay

RTT_ROUNDS=5
RTT_COUNT=2000
RTT_DROUNDS=3
RTT_DCOUNT=200
if [ -n "$QUICK_MODE" ]; then
	RTT_ROUNDS=2
	RTT_COUNT=300
	RTT_DROUNDS=2
	RTT_DCOUNT=50
fi
# The delayed lab's configured round trips (bench/lab/bench-delay.lab), ms.
RTT_CFG_DIRECT=40
RTT_CFG_RELAY=140

# rtt_ping NODE TO SIZE FILE [udpping options]: one measurement; prints "p50 p99".
rtt_ping() {
	local node=$1 to=$2 size=$3 file=$4 out
	shift 4
	out=$(taskset -c "$CPU_ONE" "$ZTLAB" exec "$LAB" "$node" -- "$K/udpping" ping --to "$to" \
		--size "$size" --json --samples "$file" "$@" 2>/dev/null)
	if [ "$(jnum "$out" received)" = "" ] || [ "$(jnum "$out" received)" = 0 ]; then
		echo "- -"
		return 1
	fi
	echo "$(jnum "$out" p50_us) $(jnum "$out" p99_us)"
}

# rtt_warm NODE [TO]: wait until a ping from NODE to TO (default: NODE's UDP forward)
# is answered (the session is open).
rtt_warm() {
	local node=$1 to=${2:-127.0.0.1:6001} i
	for ((i = 0; i < 10; i++)); do
		taskset -c "$CPU_ONE" "$ZTLAB" exec "$LAB" "$node" -- "$K/udpping" ping --to "$to" \
			--count 5 --timeout 1000 >/dev/null 2>&1 && return 0
	done
	return 1
}

# rtt_rounds ROUNDS NAME PING VARIANTS...: interleaved rounds (the variants' order
# rotating), 64 B and 1200 B each; `PING VARIANT SIZE` measures one (rtt_ping's "p50
# p99", samples in $TMP/s). Fills the caller's P50 and P99 [SIZE-VARIANT] with the
# rounds' values; the samples go to $RAW/NAME-SIZE-VARIANT.txt.
rtt_rounds() {
	local rounds=$1 name=$2 ping=$3 r s i v out
	shift 3
	local variants=("$@") nv=$#
	for s in 64 1200; do
		for v in "${variants[@]}"; do : >"$RAW/$name-$s-$v.txt"; done
	done
	for ((r = 0; r < rounds; r++)); do
		for s in 64 1200; do
			for ((i = 0; i < nv; i++)); do
				v=${variants[$(((i + r) % nv))]}
				out=$("$ping" "$v" "$s")
				P50[$s-$v]+="${out% *} "
				P99[$s-$v]+="${out#* } "
				cat "$TMP/s" >>"$RAW/$name-$s-$v.txt" 2>/dev/null
			done
		done
	done
}

# rtt_variant VARIANT SIZE: one measurement of sec_rtt (its opts).
rtt_variant() {
	case $1 in
	raw) rtt_ping agent "$ZTLAB_WAN_nc:7001" "$2" "$TMP/s" "${opts[@]}" ;;
	direct) rtt_ping agent 127.0.0.1:6001 "$2" "$TMP/s" "${opts[@]}" ;;
	relay) rtt_ping agentr 127.0.0.1:6001 "$2" "$TMP/s" "${opts[@]}" ;;
	relay-tcp) rtt_ping agentr 127.0.0.1:6101 "$2" "$TMP/s" "${opts[@]}" ;;
	direct-tcp) rtt_ping agent 127.0.0.1:6201 "$2" "$TMP/s" "${opts[@]}" ;;
	fwd) rtt_ping agent "$ZTLAB_IP_relay:9001" "$2" "$TMP/s" "${opts[@]}" ;;
	pair) rtt_ping agent 127.0.0.1:6301 "$2" "$TMP/s" "${opts[@]}" ;;
	esac
}

sec_rtt() {
	local kind=$1 file=bench/lab/bench.lab p opts=() variants=() n rounds=$RTT_ROUNDS
	local -A P50 P99
	[ "$kind" = delay ] && file=bench/lab/bench-delay.lab
	p=rtt$kind
	note "RTT ($kind): lab $file"
	if ! lab_up "$file"; then
		fail_row "rtt-$kind" "RTT ($kind)" "the lab did not come up"
		return
	fi
	lab_pin "$CPU_ONE"
	if ! TUNNEL_TCP_PAIR=1 tunnel_up "$p" "$CPU_ONE"; then
		fail_row "rtt-$kind" "RTT ($kind)" "the tunnel did not come up"
		lab_down
		return
	fi
	if ! rtt_warm agent || ! rtt_warm agentr; then
		fail_row "rtt-$kind" "RTT ($kind)" "no answer through the tunnel's UDP forward"
		lab_down
		return
	fi
	variants=(raw relay fwd)
	tunnel_wait_direct "$p" agent && variants=(raw direct relay fwd)
	if rtt_warm agentr 127.0.0.1:6101; then
		variants+=(relay-tcp)
	else
		note "RTT ($kind): no answer through the TLS/TCP agent's forward"
	fi
	if rtt_warm agent 127.0.0.1:6201 && TUNNEL_WANT_PATH=direct-tcp tunnel_wait_direct "$p" agentd; then
		variants+=(direct-tcp)
	else
		note "RTT ($kind): the TLS/TCP pair's session is not on the TCP direct path ($(tunnel_path "$p" agentd))"
	fi
	[ "$(tunnel_path "$p" agentr)" = direct ] &&
		note "RTT ($kind): agent bob's session went direct despite its NAT's rule"
	if [ "$kind" = delay ]; then
		# a ping every 10 ms, up to 32 in flight: well below the tunnel's congestion
		# window, so no ping waits behind another
		n=$RTT_DCOUNT
		rounds=$RTT_DROUNDS
		opts=(--count "$n" --window 32 --interval 10000 --timeout 2000)
	else
		n=$RTT_COUNT
		opts=(--count "$n" --timeout 1000)
		if rtt_warm agent 127.0.0.1:6301; then
			variants+=(pair)
		else
			note "RTT ($kind): no answer through the two plain forwarders (udpfwd pair)"
		fi
	fi
	rtt_rounds "$rounds" "rtt-$kind" rtt_variant "${variants[@]}"
	if [ "$(tunnel_path "$p" agent)" != direct ] && have_direct; then
		note "RTT ($kind): alice's session left the direct path during the measurement"
	fi
	if [ "$kind" = nodelay ]; then
		rtt_rows_nodelay P50 P99
	else
		rtt_rows_delay P50
	fi
	lab_down
}

# m ARRAY KEY: median of the round values.
m() { local -n a=$1; median ${a[$2]:-}; }
sp() { local -n a=$1; spread ${a[$2]:-}; }

rtt_rows_nodelay() {
	local s q arr d raw rel fwd pen base pens bases i
	for s in 64 1200; do
		for q in p50 p99; do
			[ $q = p50 ] && arr=$1 || arr=$2
			local -n A=$arr
			raw=$(m "$arr" "$s-raw")
			fwd=$(m "$arr" "$s-fwd")
			rel=$(m "$arr" "$s-relay")
			row "rtt-raw-$s-$q" "RTT $s B $q, raw UDP (baseline)" "$raw" us - - - - info \
				"$(sp "$arr" "$s-raw") us over $RTT_ROUNDS rounds of $RTT_COUNT"
			if [ -n "${A[$s-direct]:-}" ]; then
				d=$(m "$arr" "$s-direct")
				if [ $q = p50 ]; then
					row "rtt-direct-$s-$q" "RTT $s B $q, tunnel direct" "$d" us "raw UDP, same path" "$raw" \
						"$(ratio "$d" "$raw")" "<= +30 us p50" "$(verdict_le "$(calc "$d - $raw")" 30)" \
						"direct $(sp "$arr" "$s-direct"), raw $(sp "$arr" "$s-raw") us over $RTT_ROUNDS rounds of $RTT_COUNT"
				else
					row "rtt-direct-$s-$q" "RTT $s B $q, tunnel direct" "$d" us "raw UDP, same path" "$raw" \
						"$(ratio "$d" "$raw")" "- (p50 goal only)" info \
						"direct $(sp "$arr" "$s-direct"), raw $(sp "$arr" "$s-raw") us"
				fi
			else
				skip_row "rtt-direct-$s-$q" "RTT $s B $q, tunnel direct" "$(direct_missing)" "<= +30 us p50"
			fi
			rtt_row_pair "$arr" "$s" "$q" "$raw"
			row "rtt-relay-$s-$q" "RTT $s B $q, tunnel relay" "$rel" us "udpfwd relay, same path" "$fwd" \
				"$(ratio "$rel" "$fwd")" "- (see relay penalty)" info \
				"relay $(sp "$arr" "$s-relay"), udpfwd $(sp "$arr" "$s-fwd") us"
			if [ -n "${A[$s-relay-tcp]:-}" ]; then
				row "rtt-relay-tcp-$s-$q" "RTT $s B $q, tunnel relay over TLS/TCP" \
					"$(m "$arr" "$s-relay-tcp")" us "the relay over QUIC, same path" "$rel" \
					"$(ratio "$(m "$arr" "$s-relay-tcp")" "$rel")" - info \
					"TLS/TCP $(sp "$arr" "$s-relay-tcp") us (agent bob --transport tcp)"
			else
				skip_row "rtt-relay-tcp-$s-$q" "RTT $s B $q, tunnel relay over TLS/TCP" \
					"the TLS/TCP agent's forward did not answer" -
			fi
			if [ -n "${A[$s-direct-tcp]:-}" ] && [ -n "${A[$s-direct]:-}" ]; then
				row "rtt-direct-tcp-$s-$q" "RTT $s B $q, tunnel direct over TCP" \
					"$(m "$arr" "$s-direct-tcp")" us "the direct path over UDP, same path" \
					"$(m "$arr" "$s-direct")" \
					"$(ratio "$(m "$arr" "$s-direct-tcp")" "$(m "$arr" "$s-direct")")" - info \
					"TCP $(sp "$arr" "$s-direct-tcp") us (both ends --transport tcp, simultaneous open)"
			else
				skip_row "rtt-direct-tcp-$s-$q" "RTT $s B $q, tunnel direct over TCP" \
					"no TCP direct path, or no UDP direct path to compare with" -
			fi
			if [ -n "${A[$s-direct]:-}" ]; then
				# per round: (relay - direct) against (udpfwd - raw)
				local -a R D W F
				read -ra R <<<"${A[$s-relay]}"
				read -ra D <<<"${A[$s-direct]}"
				read -ra W <<<"${A[$s-raw]}"
				read -ra F <<<"${A[$s-fwd]}"
				pens=() bases=()
				for ((i = 0; i < ${#R[@]}; i++)); do
					is_num "${R[$i]}" && is_num "${D[$i]:-}" && pens+=("$(calc "${R[$i]} - ${D[$i]}")")
					is_num "${F[$i]:-}" && is_num "${W[$i]:-}" && bases+=("$(calc "${F[$i]} - ${W[$i]}")")
				done
				pen=$(median "${pens[@]}")
				base=$(median "${bases[@]}")
				if [ $q = p50 ]; then
					row "relay-penalty-$s-$q" "relay penalty $s B $q (relay - direct)" "$pen" us \
						"udpfwd's added RTT" "$base" "$(ratio "$pen" "$base")" "<= 2x" \
						"$(verdict_le "$(ratio "$pen" "$base")" 2)" \
						"per round: penalty $(spread "${pens[@]}"), udpfwd $(spread "${bases[@]}") us"
				else
					row "relay-penalty-$s-$q" "relay penalty $s B $q (relay - direct)" "$pen" us \
						"udpfwd's added RTT" "$base" "$(ratio "$pen" "$base")" "- (p50 goal only)" info \
						"per round: penalty $(spread "${pens[@]}"), udpfwd $(spread "${bases[@]}") us"
				fi
			else
				skip_row "relay-penalty-$s-$q" "relay penalty $s B $q (relay - direct)" "$(direct_missing)" "<= 2x"
			fi
			unset -n A
		done
	done
}

# rtt_row_pair ARRAY SIZE Q RAW: the two plain forwarders' row, and (p50) the tunnel's
# direct path against them: what the tunnel adds over forwarding in a process at
# each end, where "raw + 30 us" meets that floor on this machine (docs/data-plane.md).
rtt_row_pair() {
	local arr=$1 s=$2 q=$3 raw=$4 pr d
	local -n B=$arr
	if [ -z "${B[$s-pair]:-}" ]; then
		skip_row "rtt-pair-$s-$q" "RTT $s B $q, two plain UDP forwarders" \
			"the udpfwd pair did not answer" -
		return
	fi
	pr=$(m "$arr" "$s-pair")
	row "rtt-pair-$s-$q" "RTT $s B $q, two plain UDP forwarders" "$pr" us "raw UDP, same path" "$raw" \
		"$(ratio "$pr" "$raw")" - info \
		"udpfwd at each end $(sp "$arr" "$s-pair") us; +$(FMT=%.1f calc "$pr - $raw") us over raw"
	[ "$q" = p50 ] && [ -n "${B[$s-direct]:-}" ] || return 0
	d=$(m "$arr" "$s-direct")
	row "rtt-direct-pair-$s-$q" "RTT $s B $q, tunnel direct vs two plain forwarders" "$d" us \
		"udpfwd pair, same path" "$pr" "$(ratio "$d" "$pr")" - info \
		"the tunnel adds $(FMT=%.1f calc "$d - $pr") us over the pair"
}

rtt_rows_delay() {
	local arr=$1 s raw rel d dev
	for s in 64 1200; do
		raw=$(FMT=%.2f calc "$(m "$arr" "$s-raw") / 1000")
		rel=$(FMT=%.2f calc "$(m "$arr" "$s-relay") / 1000")
		row "delay-raw-$s" "RTT $s B p50, raw UDP, delayed lab" "$raw" ms "configured direct path" \
			"$RTT_CFG_DIRECT" "$(ratio "$raw" "$RTT_CFG_DIRECT")" "- (the emulator's accuracy)" info \
			"$(sp "$arr" "$s-raw") us"
		dev=$(calc "($rel - $RTT_CFG_RELAY) / $RTT_CFG_RELAY * 100")
		row "delay-relay-$s" "RTT $s B p50, tunnel relay, delayed lab" "$rel" ms "configured relay path" \
			"$RTT_CFG_RELAY" "$(ratio "$rel" "$RTT_CFG_RELAY")" "within 5 %" \
			"$(verdict_le "${dev#-}" 5)" "$(sp "$arr" "$s-relay") us; off by $(FMT=%.1f calc "$dev") %"
		local -n A=$arr
		if [ -n "${A[$s-direct]:-}" ]; then
			d=$(FMT=%.2f calc "$(m "$arr" "$s-direct") / 1000")
			dev=$(calc "($d - $RTT_CFG_DIRECT) / $RTT_CFG_DIRECT * 100")
			row "delay-direct-$s" "RTT $s B p50, tunnel direct, delayed lab" "$d" ms "configured direct path" \
				"$RTT_CFG_DIRECT" "$(ratio "$d" "$RTT_CFG_DIRECT")" "within 5 %" \
				"$(verdict_le "${dev#-}" 5)" "$(sp "$arr" "$s-direct") us; off by $(FMT=%.1f calc "$dev") %"
			row "delay-direct-raw-$s" "RTT $s B p50, direct vs raw UDP, delayed lab" "$d" ms \
				"raw UDP, same path" "$raw" "$(ratio "$d" "$raw")" "ratio ~1.0 (<= 1.05)" \
				"$(verdict_le "$(ratio "$d" "$raw")" 1.05)" "-"
			row "delay-ratio-$s" "relay/direct RTT $s B p50, delayed lab" "$(ratio "$rel" "$d")" x \
				"configured paths" "$(ratio "$RTT_CFG_RELAY" "$RTT_CFG_DIRECT")" \
				"$(ratio "$(ratio "$rel" "$d")" "$(ratio "$RTT_CFG_RELAY" "$RTT_CFG_DIRECT")")" "within 5 %" \
				"$(verdict_le "$(absdev "$(ratio "$rel" "$d")" "$(ratio "$RTT_CFG_RELAY" "$RTT_CFG_DIRECT")")" 5)" "-"
		else
			skip_row "delay-direct-$s" "RTT $s B p50, tunnel direct, delayed lab" "$(direct_missing)" "within 5 %"
			skip_row "delay-ratio-$s" "relay/direct RTT $s B p50, delayed lab" "$(direct_missing)" "within 5 %"
		fi
		unset -n A
	done
}
