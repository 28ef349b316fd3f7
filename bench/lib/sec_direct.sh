# shellcheck shell=bash
# Direct-path measurements in the lab (root):
#   sec_fallback        scenarios/path-failure.sh, FALLBACK_RUNS runs: the direct path
#                       cut mid-transfer (64 MiB) by an nft rule in the agent's NAT;
#                       time from the rule to the agent's switch to the relay, stream
#                       bytes lost (SHA-256 of what arrived), TCP resets
#   sec_time_to_direct  bench/lab/bench-delay.lab (10 ms per access link, 25 ms to the
#                       relay) with each cone pair of NAT types (agent's x
#                       connector's: FC, ARC, PRC; quick: PRC x PRC only),
#                       DIRECT_RUNS fresh agents per pair: from `ztna ping`
#                       asking for the session (signaling start) to the agent's
#                       path_switch to=direct, against the protocol floor 2.5 relay
#                       RTT + 1 direct RTT, both RTTs measured with raw UDP in the
#                       same lab just before; then the last session idles on the
#                       direct path for DIRECT_IDLE seconds with one idle TCP
#                       connection open through the forward (an unused session ends
#                       after --inner-idle-timeout, 60 s): the bytes between the two
#                       NATs (nft counters, IP bytes: the inner connection's
#                       keepalive, and ICE consent checks if any) and whether it is
#                       still direct.
# (direct_idle_start/finish are kept for bench/run.sh's order; the idle measurement
# is part of sec_time_to_direct.)

DIRECT_RUNS=${DIRECT_RUNS:-20}
DIRECT_IDLE=${DIRECT_IDLE:-300}
FALLBACK_RUNS=${FALLBACK_RUNS:-3}
if [ -n "$QUICK_MODE" ]; then
	DIRECT_RUNS=5
	DIRECT_IDLE=${DIRECT_IDLE_QUICK:-20}
	FALLBACK_RUNS=1
fi

direct_idle_start() { :; }
direct_idle_finish() { :; }

# log line -> its ts=...Z in ms since the epoch
log_ms() { date -d "$(sed -n 's/^ts=\([^ ]*\).*/\1/p' <<<"$1")" +%s%3N; }

sec_fallback() {
	local out fb lost rc
	note "fallback: scenarios/path-failure.sh --runs $FALLBACK_RUNS"
	out=$(BUILD=$B ./scenarios/path-failure.sh --no-build --runs "$FALLBACK_RUNS" 2>&1)
	rc=$?
	printf '%s\n' "$out" >"$RAW/path-failure.txt"
	fb=$(sed -n 's/^fallback times (ms): \([0-9 ]*\);.*/\1/p' <<<"$out")
	lost=$(sed -n 's/.*bytes lost: \([0-9 ]*\)$/\1/p' <<<"$out")
	if [ -z "$fb" ] || [ -z "$lost" ]; then
		fail_row fallback-time "fallback: direct path cut to traffic on the relay" \
			"path-failure.sh exit $rc: $(grep -E 'FAIL|verdict' <<<"$out" | head -n 3 | tr '\n' ' ')"
		return
	fi
	# shellcheck disable=SC2086
	row fallback-time "fallback: direct path cut mid-transfer to the relay" "$(median $fb)" ms \
		"stall timeout (max)" 1500 "$(ratio "$(median $fb)" 1500)" "< 2 s" \
		"$(verdict_le "$(median $fb)" 1999)" "$(spread $fb) ms over $FALLBACK_RUNS run(s) of path-failure.sh (64 MiB, nft drop in the agent's NAT)"
	local sum=0 l
	for l in $lost; do sum=$((sum + l)); done
	row fallback-lost "fallback: stream bytes lost, TCP resets" "$sum" bytes - - - "0, no TCP reset" \
		"$([ "$sum" = 0 ] && [ $rc = 0 ] && echo meets || echo misses)" \
		"per run: $lost; path-failure.sh verdict: $(grep '^verdict' <<<"$out")"
}

# agent_session NAME LOG SOCK: start agent alice in the lab, ask for the session
# with `ztna ping`; sets TTD (ms from the ping to path_switch to=direct, or -).
direct_session() {
	local name=$1 pki=$2 t0 line
	spawn "$name" "$ZTLAB" exec "$LAB" agent -- "$B/ztna-agent" --intermediate "$ZTLAB_IP_relay:4433" \
		--pki "$pki/agent-alice" --name alice --token "$TOK_A" --forward tcp:127.0.0.1:6004=echo \
		--control "$TMP/$name.sock" "${TTD_AARGS[@]}"
	TTD=-
	wait_for "$TMP/$name.log" 'event=connected' 10 || return 1
	t0=$(date +%s%3N)
	"$ZTNA" ping echo -c 1 --timeout 5000 --control "$TMP/$name.sock" >/dev/null 2>&1
	wait_for "$TMP/$name.log" 'event=path_switch.*to=direct' "$TTD_WAIT" || return 1
	line=$(grep 'event=path_switch.*to=direct' "$TMP/$name.log" | head -n 1)
	TTD=$(($(log_ms "$line") - t0))
}

# What ttd_pair runs, set by a section before it calls ttd_pair (sec_hard.sh sets
# them for the hard-NAT cells and puts them back): more sed expressions for the lab
# file, the agent's and the connector's extra options, a suffix of the row id and
# label, the runs, the wait for the direct path after the ping (s), and the goal (a
# bound in ms over the floor, its text).
TTD_SED=()
TTD_AARGS=()
TTD_CARGS=()
TTD_SUFFIX=
TTD_LABEL=
TTD_RUNS=
TTD_WAIT=10
TTD_OVER=100
TTD_GOAL=

# ttd_lab TYPE_A TYPE_C: bench-delay.lab with the agent's NAT (na) of TYPE_A and the
# connector's (nc) of TYPE_C (and TTD_SED); prints the file's path.
ttd_lab() {
	local f=$TMP/ttd-$1-$2$TTD_SUFFIX.lab
	sed -e "s/^nat na type [a-z-]*/nat na type $1/" -e "s/^nat nc type [a-z-]*/nat nc type $2/" \
		"${TTD_SED[@]}" bench/lab/bench-delay.lab >"$f"
	echo "$f"
}

# Short names of the NAT types for the row ids and labels.
nat_short() {
	case $1 in
	full-cone) echo FC ;;
	address-restricted) echo ARC ;;
	port-restricted) echo PRC ;;
	symmetric) echo SYM ;;
	*) echo "$1" ;;
	esac
}

# ttd_pair TYPE_A TYPE_C: DIRECT_RUNS fresh agents in bench-delay.lab with these NAT
# types, a row time-to-direct-A-C; leaves the lab up and the last agent running
# (TTD_LAST names it) for the idle measurement; returns 1 when nothing could be run.
ttd_pair() {
	local a=$1 c=$2 p sa sc pki relay_rtt direct_rtt floor i out ttds=() n id what runs
	sa=$(nat_short "$a")
	sc=$(nat_short "$c")
	runs=${TTD_RUNS:-$DIRECT_RUNS}
	TTD_LAST_RUN=$runs
	id=time-to-direct-${sa,,}-${sc,,}$TTD_SUFFIX
	what="time from signaling start to the direct path, $sa x $sc$TTD_LABEL"
	p=ttd-${sa,,}${sc,,}$TTD_SUFFIX
	TTD_P=$p
	TTD_N=0
	if ! lab_up "$(ttd_lab "$a" "$c")"; then
		fail_row "$id" "$what" "lab up failed"
		return 1
	fi
	pki=$TMP/pki-$ZTLAB_IP_relay
	pki_init "$pki" "$ZTLAB_IP_relay" && imd_policy
	nat_fwd nc udp 7001 "$ZTLAB_IP_conn" || { fail_row "$id" "$what" "nft setup failed"; lab_down; return 1; }
	spawn $p-imd "$ZTLAB" exec "$LAB" relay -- "$B/ztna-intermediate" --listen "$ZTLAB_IP_relay:4433" \
		--pki "$pki/intermediate" "${IMD_POLICY[@]}"
	spawn $p-fwd "$ZTLAB" exec "$LAB" relay -- "$K/udpfwd" --listen "$ZTLAB_IP_relay:9001" \
		--to "$ZTLAB_WAN_nc:7001" --idle 600 --seconds 900
	spawn $p-echo "$ZTLAB" exec "$LAB" conn -- "$K/udpping" echo --bind "$ZTLAB_IP_conn:7001" --count 100000
	spawn $p-tcpecho "$ZTLAB" exec "$LAB" conn -- "$K/zt-testkit" tcp-echo 127.0.0.1:7003
	spawn $p-conn "$ZTLAB" exec "$LAB" conn -- "$B/ztna-connector" --intermediate "$ZTLAB_IP_relay:4433" \
		--pki "$pki/connector-c1" --name c1 --token "$TOK_C" --service echo=tcp:127.0.0.1:7003 --control none \
		"${TTD_CARGS[@]}"
	if ! wait_for "$TMP/$p-conn.log" 'event=connected' 10; then
		fail_row "$id" "$what" "connector did not connect"
		ttd_pair_down
		return 1
	fi
	# the two round trips of the floor, raw UDP over the same NATed paths
	out=$("$ZTLAB" exec "$LAB" agent -- "$K/udpping" ping --to "$ZTLAB_WAN_nc:7001" --count 20 --json 2>/dev/null)
	direct_rtt=$(calc "$(jnum "$out" p50_us) / 1000")
	out=$("$ZTLAB" exec "$LAB" agent -- "$K/udpping" ping --to "$ZTLAB_IP_relay:9001" --count 20 --json 2>/dev/null)
	relay_rtt=$(calc "$(jnum "$out" p50_us) / 1000")
	floor=$(FMT=%.1f calc "2.5 * $relay_rtt + $direct_rtt")
	note "time to direct, $sa x $sc$TTD_LABEL: $runs fresh agents; raw RTT direct $direct_rtt ms, via the relay host $relay_rtt ms, floor $floor ms"
	for ((i = 1; i <= runs; i++)); do
		direct_session $p-agent$i "$pki" && ttds+=("$TTD")
		[ "$i" -lt "$runs" ] && stop $p-agent$i
	done
	printf '%s\n' "${ttds[@]}" >"$RAW/$id.txt"
	n=${#ttds[@]}
	TTD_N=$n
	if [ "$n" -eq 0 ]; then
		fail_row "$id" "$what" "no session went direct: $(tail -n 3 "$TMP/$p-agent1.log" | tr '\n' ' ')"
	else
		local med
		med=$(median "${ttds[@]}")
		row "$id" "$what" "$med" ms \
			"floor 2.5 relay RTT + 1 direct RTT" "$floor" "$(ratio "$med" "$floor")" "${TTD_GOAL:-<= floor + $TTD_OVER ms}" \
			"$(verdict_le "$med" "$(calc "$floor + $TTD_OVER")")" \
			"$(spread "${ttds[@]}") ms, max $(printf '%s\n' "${ttds[@]}" | sort -n | tail -n 1) ms, $n of $runs sessions direct; links 10/10/10 ms + 25 ms to the relay; raw RTT direct $direct_rtt ms, relay host $relay_rtt ms"
		[ "$n" -lt "$runs" ] && note "time to direct, $sa x $sc$TTD_LABEL: $((runs - n)) session(s) did not go direct"
	fi
	return 0
}

ttd_pair_down() {
	local i
	for i in hold imd fwd echo tcpecho conn "agent${TTD_LAST_RUN:-$DIRECT_RUNS}"; do stop "$TTD_P-$i"; done
	lab_down
}

# Every cone pair (agent's NAT x connector's NAT; quick: port-restricted x
# port-restricted only); then the last session idles on the direct path.
sec_time_to_direct() {
	local pairs=("full-cone full-cone" "full-cone address-restricted" "full-cone port-restricted"
		"address-restricted address-restricted" "address-restricted port-restricted"
		"port-restricted port-restricted") pr k ns b0 b1 el st path t0 n
	[ -n "$QUICK_MODE" ] && pairs=("port-restricted port-restricted")
	for ((k = 0; k < ${#pairs[@]}; k++)); do
		read -r -a pr <<<"${pairs[$k]}"
		ttd_pair "${pr[0]}" "${pr[1]}" || continue
		[ "$k" -lt $((${#pairs[@]} - 1)) ] && ttd_pair_down
	done
	[ -n "$LAB" ] || return
	n=$TTD_N
	local p=$TTD_P
	# the last session, idle on the direct path: count what crosses between the NATs
	ns=$ZTLAB_NS_na
	ip netns exec "$ns" nft -f - <<NFT
table ip ztcount {
	chain c {
		type filter hook forward priority -20; policy accept;
		ip daddr $ZTLAB_WAN_nc counter
		ip saddr $ZTLAB_WAN_nc counter
	}
}
NFT
	# an idle TCP connection through the forward keeps the session (as a user's would)
	spawn $p-hold "$ZTLAB" exec "$LAB" agent -- socat -u "EXEC:sleep $((DIRECT_IDLE + 60))" TCP:127.0.0.1:6004
	sleep 3
	b0=$(ip netns exec "$ns" nft list table ip ztcount | awk '/counter/ {for (i = 1; i <= NF; i++) if ($i == "bytes") s += $(i + 1)} END {print s + 0}')
	t0=$(date +%s.%N)
	note "idle on the direct path for $DIRECT_IDLE s"
	sleep "$DIRECT_IDLE"
	b1=$(ip netns exec "$ns" nft list table ip ztcount | awk '/counter/ {for (i = 1; i <= NF; i++) if ($i == "bytes") s += $(i + 1)} END {print s + 0}')
	el=$(calc "$(date +%s.%N) - $t0")
	st=$("$ZTNA" status --control "$TMP/$p-agent$DIRECT_RUNS.sock" --raw 2>/dev/null | grep '^session=')
	path=$(sed -n 's/.* path=\([a-z]*\) .*/\1/p' <<<"$st")
	if [ "$n" -gt 0 ]; then
		row idle-direct "idle cost of a session on the direct path" "$(FMT=%.1f calc "($b1 - $b0) / $el")" B/s \
			- - - "<= 10 B/s" "$(verdict_le "$(calc "($b1 - $b0) / $el")" 10)" \
			"$((b1 - b0)) IP bytes both ways in $(FMT=%.0f calc "$el") s with one idle TCP connection open: the inner QUIC keepalive (--keepalive-direct 25 s), which counts as ICE consent"
		row idle-direct-alive "direct path alive after $DIRECT_IDLE s idle" "${path:-none}" - - - - alive \
			"$([ "$path" = direct ] && echo meets || echo misses)" "$(grep -o 'switches=[0-9]*' <<<"$st")"
	fi
	ttd_pair_down
}
