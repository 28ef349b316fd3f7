# bench section relay-workers (sourced by bench/run.sh; docs/workers.md):
#   sec_relay_workers  the Intermediate's relay rate with --workers 2 against --workers 1,
#                      interleaved rounds, each round a fresh Intermediate (not pinned)
#                      and zt-load relay with 8 agents sending 1200-byte relay channel
#                      datagrams. Per thread: the datagrams it forwarded (the main
#                      thread's relay_chan_out, the worker's forwarded) over its own CPU
#                      time (/proc/PID/task/TID/stat). The row's value is the sum of the
#                      threads' rates: what the Intermediate reaches with each thread on a
#                      core of its own. The wall-clock rates are in the details: on a
#                      2-CPU machine zt-load and its sinks share the two CPUs with the
#                      relay, so they bound the wall-clock gain, not the relay.

RW_AGENTS=8

# rw_round WORKERS: one round; prints "CAPACITY WALL_PPS SHARES", nothing on failure
# (the reason as a note).
rw_round() {
	local w=$1 port=$((LO_PORT + 10)) pid tid out exitl fwd ticks cap=0 wall shares=() i
	local -A t0
	spawn rw-imd "$B/ztna-intermediate" --listen "$LO:$port" --pki "$LO_PKI/intermediate" \
		--stun-port off --tcp-listen off --workers "$w" "${IMD_POLICY[@]}"
	if ! wait_for "$TMP/rw-imd.log" 'event=start ' 5; then
		note "relay workers: the Intermediate (--workers $w) did not start: $(tail -n 2 "$TMP/rw-imd.log")"
		stop rw-imd
		return
	fi
	pid=${PIDS[rw-imd]}
	for tid in /proc/"$pid"/task/*; do t0[${tid##*/}]=$(awk '{print $14 + $15}' "$tid/stat"); done
	out=$(timeout 60 "$K/zt-load" relay --to "$LO:$port" --pki "$LO_PKI" --bind "$LO" --name load \
		--token "$TOK_L" --connector loadc --ctoken "$TOK_LC" --service bulk --seconds "$RR_SECONDS" \
		--size 1200 --channel --count "$RW_AGENTS")
	declare -A ticks
	for tid in /proc/"$pid"/task/*; do
		ticks[${tid##*/}]=$(($(awk '{print $14 + $15}' "$tid/stat" 2>/dev/null || echo 0) - ${t0[${tid##*/}]:-0}))
	done
	stop rw-imd
	exitl=$(grep 'event=exit ' "$TMP/rw-imd.log" | tail -n 1)
	# thread i's forwarded count: the main thread's (TID = PID) from the exit line, the
	# workers' from their worker_exit lines in thread order (workers.h)
	fwd=("$(kv "$exitl" relay_chan_out)")
	while read -r i; do fwd+=("$i"); done < <(grep 'event=worker_exit ' "$TMP/rw-imd.log" |
		sed -n 's/.* forwarded=\([0-9]*\).*/\1/p')
	i=0
	for tid in $(printf '%s\n' "${!ticks[@]}" | sort -n); do
		if ! is_num "${fwd[$i]:-}" || [ "${ticks[$tid]}" -le 0 ]; then
			note "relay workers: thread $tid (--workers $w): forwarded '${fwd[$i]:-}', ${ticks[$tid]} ticks"
			return
		fi
		cap=$(calc "$cap + ${fwd[$i]} / (${ticks[$tid]} / $HZ)")
		shares+=("${fwd[$i]}")
		i=$((i + 1))
	done
	wall=$(FMT=%.0f calc "($(IFS=+; echo "${shares[*]}")) / $RR_SECONDS")
	echo "$(FMT=%.0f calc "$cap") $wall $(IFS=/; echo "${shares[*]}")"
}

sec_relay_workers() {
	local r v p s one=() two=() wone=() wtwo=() sh=()
	note "relay workers: $RR_ROUNDS rounds of $RR_SECONDS s each, --workers 1 and 2 in turn"
	lo_pki || { fail_row relay-workers "relay rate, 2 workers" "no PKI"; return; }
	imd_policy
	for ((r = 0; r < RR_ROUNDS; r++)); do
		read -r v p s <<<"$(rw_round 1)"
		[ -n "$v" ] && one+=("$v") && wone+=("$p")
		read -r v p s <<<"$(rw_round 2)"
		[ -n "$v" ] && two+=("$v") && wtwo+=("$p") && sh+=("$s")
		note "relay workers round $((r + 1)): 1 worker ${one[*]: -1} pkts/s per core, 2 workers ${two[*]: -1} (threads forwarded ${sh[*]: -1})"
	done
	if [ ${#one[@]} -eq 0 ] || [ ${#two[@]} -eq 0 ]; then
		fail_row relay-workers "relay rate, 2 workers" "no round completed (see the notes above)"
		return
	fi
	local v1 v2
	v1=$(median "${one[@]}")
	v2=$(median "${two[@]}")
	row relay-workers "relay rate, 1200 B, --workers 2 (pkts/s, each thread on a core)" "$v2" pps \
		"--workers 1 (pkts/s on one core)" "$v1" "$(ratio "$v2" "$v1")" ">= 1.7x" \
		"$(verdict_ge "$(ratio "$v2" "$v1")" 1.7)" \
		"sum of each thread's forwarded / its CPU time, $(spread "${two[@]}") vs $(spread "${one[@]}"); threads forwarded ${sh[*]} (main/worker); wall clock with zt-load on the same $NCPU CPUs: $(spread "${wtwo[@]}") vs $(spread "${wone[@]}") pkts/s ($(ratio "$(median "${wtwo[@]}")" "$(median "${wone[@]}")")x)"
}
