# shellcheck shell=bash
# Scale-out (docs/scale-out.md): the RTT of a session relayed across two Intermediates
# (agent at B, connector at A: agent -> B -> link -> A -> connector) against one
# relayed by A alone, in bench/lab/bench-multi.lab, udpping ping-pong through each
# agent's UDP forward to the connector's echo, 64 B and 1200 B, interleaved rounds as
# sec_rtt's; every process pinned to one CPU. The row is informational: the added
# round trip is one more relay hop (B) and the link.

MULTI_ROUNDS=$RTT_ROUNDS
MULTI_COUNT=$RTT_COUNT
# Session set-up: zt-load pairs, N agents opening a session each at once, with the
# connector at the same Intermediate (one) or at A while the agents are at B (cross).
MULTI_PAIRS=500
MULTI_PROUNDS=3
# The load (issue 19): MULTI_LOAD agents spread over three Intermediates, a third at
# each, opening one session each at once to a connector at the next Intermediate (A->B,
# B->C, C->A), against the same three zt-load processes with everything at A.
MULTI_LOAD=${MULTI_LOAD:-10000}
MULTI_LROUNDS=2
if [ -n "$QUICK_MODE" ]; then
	MULTI_PAIRS=100
	MULTI_PROUNDS=2
	MULTI_LOAD=1500
	MULTI_LROUNDS=1
fi

multi_variant() {
	case $1 in
	one) rtt_ping one 127.0.0.1:6001 "$2" "$TMP/s" --count "$MULTI_COUNT" --timeout 1000 ;;
	cross) rtt_ping cross 127.0.0.1:6001 "$2" "$TMP/s" --count "$MULTI_COUNT" --timeout 1000 ;;
	esac
}

multi_up() {
	local cpu=$1 pki=$TMP/pki-multi a=$ZTLAB_IP_relay b=$ZTLAB_IP_relay2 n
	"$ZTNA" pki init "$pki" --intermediate-ip "$a" --intermediate-ip "$b" \
		--intermediate-ip "$ZTLAB_IP_relay3" --agent alice \
		--agent bob --agent load --connector c1=uecho --connector loadc=bulk \
		--connector loadc1=bulk1 --connector loadc2=bulk2 --connector loadc3=bulk3 \
		>"$TMP/pki-multi.log" 2>&1 ||
		{ cat "$TMP/pki-multi.log" >&2; return 1; }
	head -c 32 /dev/urandom | base64 >"$TMP/presence.key"
	chmod 600 "$TMP/presence.key"
	local imd=(--pki "$pki/intermediate" --client "agent:alice:$TOK_A" --client "agent:bob:$TOK_B"
		--client "connector:c1:$TOK_C" --allow 'alice=*' --allow 'bob=*' --serve c1=uecho
		--nats "nats://$ZTLAB_IP_natsd:4222" --presence-key "$TMP/presence.key" --tcp-listen off
		--client "agent:load:$TOK_L" --client "connector:loadc:$TOK_LC" --serve loadc=bulk
		--allow 'load=*' --logins-per-identity 10000 --half-open-per-source 100000
		--retry-half-open-per-source 100000 --half-open-max 100000 --max-clients 10100)
	for n in 1 2 3; do
		imd+=(--client "connector:loadc$n:$TOK_LC" --serve "loadc$n=bulk$n")
	done
	MULTI_IMD=("${imd[@]}")
	lbg multi-nats "$cpu" natsd nats-server -a "$ZTLAB_IP_natsd" -p 4222 -js -sd "$TMP/js"
	wait_for "$TMP/multi-nats.log" "Server is ready" 10 || { echo "bench: nats-server did not start" >&2; return 1; }
	lbg multi-a "$cpu" relay "$B/ztna-intermediate" --listen "$a:4433" --nats-name imd-a "${imd[@]}"
	lbg multi-b "$cpu" relay2 "$B/ztna-intermediate" --listen "$b:4433" --nats-name imd-b "${imd[@]}"
	lbg multi-echo "$cpu" conn "$K/udpping" echo --bind 127.0.0.1:7002 --count 100000000
	lbg multi-conn "$cpu" conn "$B/ztna-connector" --intermediate "$a:4433" --pki "$pki/connector-c1" \
		--name c1 --token "$TOK_C" --service uecho=udp:127.0.0.1:7002 --control none
	lbg multi-one "$cpu" one "$B/ztna-agent" --intermediate "$a:4433" --pki "$pki/agent-alice" \
		--name alice --token "$TOK_A" --forward udp:127.0.0.1:6001=uecho --direct off --control none
	lbg multi-cross "$cpu" cross "$B/ztna-agent" --intermediate "$b:4433" --pki "$pki/agent-bob" \
		--name bob --token "$TOK_B" --forward udp:127.0.0.1:6001=uecho --direct off --control none
	for n in conn one cross; do
		wait_for "$TMP/multi-$n.log" 'event=connected' 10 ||
			{ echo "bench: multi-$n did not connect: $(tail -n 3 "$TMP/multi-$n.log")" >&2; return 1; }
	done
	# the connector's presence reaches B (its record, then B's table)
	for ((n = 0; n < 100; n++)); do
		rtt_warm cross && return 0
	done
	return 1
}

sec_multi() {
	local s q arr one cross
	local -A P50 P99
	note "RTT across Intermediates: lab bench/lab/bench-multi.lab"
	command -v nats-server >/dev/null ||
		{ skip_row multi-rtt "RTT relayed across two Intermediates" "no nats-server (tools/deps.sh lab)"; return; }
	if ! lab_up bench/lab/bench-multi.lab; then
		fail_row multi-rtt "RTT relayed across two Intermediates" "the lab did not come up"
		return
	fi
	lab_pin "$CPU_ONE"
	if ! multi_up "$CPU_ONE" || ! rtt_warm one; then
		fail_row multi-rtt "RTT relayed across two Intermediates" "no answer through the agents' forwards"
		stop_all multi-
		lab_down
		return
	fi
	grep -q 'event=session_open .*intermediate=imd-a' "$TMP/multi-b.log" ||
		note "RTT across: B's log shows no session over a link to A"
	rtt_rounds "$MULTI_ROUNDS" multi multi_variant one cross
	multi_setup_rows
	multi_load_rows
	for s in 64 1200; do
		for q in p50 p99; do
			[ $q = p50 ] && arr=P50 || arr=P99
			one=$(m "$arr" "$s-one")
			cross=$(m "$arr" "$s-cross")
			row "multi-rtt-$s-$q" "RTT $s B $q, relayed across two Intermediates" "$cross" us \
				"relayed by one Intermediate" "$one" "$(ratio "$cross" "$one")" "- (info)" info \
				"added $(calc "$cross - $one") us; across $(sp "$arr" "$s-cross"), one $(sp "$arr" "$s-one") us over $MULTI_ROUNDS rounds of $MULTI_COUNT"
		done
	done
	stop_all multi-
	lab_down
}

# One zt-load pairs run from the host 'cross': its agents at B (cross) or A (one), the
# connector at A; prints the sessions set up per second, or nothing.
multi_pairs() {
	local to=$ZTLAB_IP_relay out ms
	[ "$1" = cross ] && to=$ZTLAB_IP_relay2
	out=$(lx cross taskset -c "$CPU_A" "$K/zt-load" pairs --to "$to:4433" \
		--connector-to "$ZTLAB_IP_relay:4433" --pki "$TMP/pki-multi" --name load --token "$TOK_L" \
		--connector loadc --ctoken "$TOK_LC" --service bulk --count "$MULTI_PAIRS" --pause 3 \
		--hold 0 2>&1)
	ms=$(kv "$(grep '^ready sessions=' <<<"$out")" open_ms)
	if [ "$(kv "$(grep '^ready sessions=' <<<"$out")" sessions)" != "$MULTI_PAIRS" ] || ! is_num "$ms"; then
		note "zt-load pairs ($1): $(tail -n 2 <<<"$out" | tr '\n' ' ')"
		return 1
	fi
	FMT=%.0f calc "$MULTI_PAIRS * 1000 / $ms"
}

multi_setup_rows() {
	local r v one=() cross=() x
	for ((r = 0; r < MULTI_PROUNDS; r++)); do
		for v in one cross; do
			x=$(multi_pairs "$v") || continue
			[ $v = one ] && one+=("$x") || cross+=("$x")
		done
	done
	if [ ${#one[@]} = 0 ] || [ ${#cross[@]} = 0 ]; then
		fail_row multi-setup "sessions set up per second across two Intermediates" "zt-load pairs failed"
		return
	fi
	row multi-setup "sessions set up per second across two Intermediates" "$(median "${cross[@]}")" /s \
		"at one Intermediate" "$(median "${one[@]}")" "$(ratio "$(median "${cross[@]}")" "$(median "${one[@]}")")" \
		"- (info)" info "$MULTI_PAIRS agents opening one session each at once (zt-load pairs); across $(spread "${cross[@]}"), one $(spread "${one[@]}") over $MULTI_PROUNDS rounds"
}

# One round of the load: three zt-load pairs at once from the host 'cross', process k
# with its share of the agents at Intermediate AT[k] and connector loadc<k> at CT[k],
# opening together at a wall-clock time (--open-at) once all are likely welcomed.
# Prints "SESSIONS PER_S RELAYED" (all sessions / from the first OPEN to the last
# SESSION), or nothing (a note says why).
multi_load_run() {
	local v=$1 k n at ct out line first= last= sum=0 rel=0 t0
	local -a ip=("$ZTLAB_IP_relay" "$ZTLAB_IP_relay2" "$ZTLAB_IP_relay3") pids=()
	# logins: ~1.5 ms each on this machine's one CPU the Intermediates share, plus margin
	t0=$(date +%s%3N)
	local open_at=$((t0 + 8000 + MULTI_LOAD * 3))
	for k in 0 1 2; do
		n=$((MULTI_LOAD / 3 + (k < MULTI_LOAD % 3 ? 1 : 0)))
		at=${ip[0]} ct=${ip[0]}
		[ "$v" = across ] && at=${ip[$k]} ct=${ip[$(((k + 1) % 3))]}
		lx cross taskset -c "$CPU_A" "$K/zt-load" pairs --to "$at:4433" --connector-to "$ct:4433" \
			--pki "$TMP/pki-multi" --name load --token "$TOK_L" --connector "loadc$((k + 1))" \
			--ctoken "$TOK_LC" --service "bulk$((k + 1))" --count "$n" --open-at "$open_at" \
			--hold 0 >"$TMP/mload-$v-$k.out" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	for k in 0 1 2; do
		out=$(cat "$TMP/mload-$v-$k.out")
		line=$(grep '^ready sessions=' <<<"$out")
		n=$((MULTI_LOAD / 3 + (k < MULTI_LOAD % 3 ? 1 : 0)))
		if [ "$(kv "$line" sessions)" != "$n" ] || [ "$(kv "$line" late)" != 0 ]; then
			note "zt-load pairs ($v, process $k): $(tail -n 2 <<<"$out" | tr '\n' ' ')"
			return 1
		fi
		sum=$((sum + n))
		rel=$((rel + $(kv "$line" relayed)))
		first=$(printf '%s\n' $first "$(kv "$line" opens_unix_ms)" | sort -g | head -n 1)
		last=$(printf '%s\n' $last "$(kv "$line" done_unix_ms)" | sort -g | tail -n 1)
	done
	echo "$sum $(FMT=%.0f calc "$sum * 1000 / ($last - $first)") $rel"
}

multi_load_rows() {
	local r v x one=() across=() s_one= s_across=
	if ! lbg multi-c "$CPU_ONE" relay3 "$B/ztna-intermediate" --listen "$ZTLAB_IP_relay3:4433" \
		--nats-name imd-c "${MULTI_IMD[@]}" ||
		! wait_for "$TMP/multi-c.log" 'event=start ' 10; then
		fail_row multi-load "sessions set up per second, $MULTI_LOAD agents over three Intermediates" \
			"the third Intermediate did not start"
		return
	fi
	sleep 2 # its record reaches the others (the links need its address)
	for ((r = 0; r < MULTI_LROUNDS; r++)); do
		for v in one across; do
			x=$(multi_load_run "$v") || continue
			note "load $v: $x (sessions, per second, datagrams that arrived of the 4 each way per session sent at once)"
			[ $v = one ] && one+=("$(cut -d' ' -f2 <<<"$x")") || across+=("$(cut -d' ' -f2 <<<"$x")")
		done
	done
	stop multi-c
	if [ ${#one[@]} = 0 ] || [ ${#across[@]} = 0 ]; then
		fail_row multi-load "sessions set up per second, $MULTI_LOAD agents over three Intermediates" \
			"zt-load pairs failed (notes above)"
		return
	fi
	row multi-load "sessions set up per second, $MULTI_LOAD agents over three Intermediates" \
		"$(median "${across[@]}")" /s "all at one Intermediate" "$(median "${one[@]}")" \
		"$(ratio "$(median "${across[@]}")" "$(median "${one[@]}")")" "- (info)" info \
		"three zt-load pairs at once, a third of the agents each, opening together: at A, B, C with the connector at the next one (A->B, B->C, C->A), vs all at A; across $(spread "${across[@]}"), one $(spread "${one[@]}") over $MULTI_LROUNDS rounds"
}
