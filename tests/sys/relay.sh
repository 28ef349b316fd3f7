#!/bin/bash
# The three programs on the relay path, on loopback (127.0.0.0/8), unprivileged:
#
#   zt-testkit targets <-- ztna-connector c1 --[tap C]--.
#                                                        +-- ztna-intermediate
#   zt-testkit clients --> ztna-agent alice  --[tap A]--'        ^
#                          ztna-agent bob (policy), eve (bad token) direct
#
# The direct path is off (--direct off): this suite is about the relay; the direct
# path on loopback is scenarios/localhost.sh (tests/sys/localhost.sh).
# Everything binds to a random 127.x.y.z address. The taps relay every datagram between a client and the Intermediate and scan it
# for a random marker the tests send through the tunnel; tap A also replays every
# 7th datagram it forwards to the Intermediate. Checks: registration and
# authorization (bad token, unknown service, policy), 64 MiB each way with equal
# SHA-256, 100 concurrent connections, half-close, a slow reader's memory,
# 10,000 UDP datagrams, confidentiality, garbage to every port, Intermediate and
# connector restarts, idle CPU, config errors. ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
tap_plan 30

. tests/lib/progs.sh
progs_init relay-sys

# A loopback address and ports of our own: other suites may run at the same time on
# 127.0.0.1 (and ports above 32767 are the kernel's ephemeral range).
base=$((20000 + RANDOM % 12000))
L=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
# (base + 1 is the Intermediate's STUN port: --stun-port's default)
P_IMD=$base P_TAPA=$((base + 2)) P_TAPC=$((base + 3))
P_ECHO=$((base + 10)) P_SINK=$((base + 11)) P_SRC=$((base + 12)) P_FLOOD=$((base + 13))
P_UECHO=$((base + 14))
F_ECHO=$((base + 20)) F_SINK=$((base + 21)) F_SRC=$((base + 22)) F_FLOOD=$((base + 23))
F_UECHO=$((base + 24)) F_GHOST=$((base + 25)) F_BOB=$((base + 26)) F_EVE=$((base + 27))
MARKER=ztna-marker-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
TOK_A=tok-alice-$RANDOM TOK_B=tok-bob-$RANDOM TOK_C=tok-c1-$RANDOM

"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo --service sink \
	--service source --service flood --service uecho --agent alice --agent bob \
	--connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 64M /dev/urandom >"$T/big"
SUM=$(sha256sum "$T/big" | cut -c1-64)
for i in $(seq 2000); do printf '%s ' "$MARKER"; done >"$T/marked"

IMD_ARGS=(--listen "$L:$P_IMD" --pki "$T/pki/intermediate" --client "agent:alice:$TOK_A"
	--client "agent:bob:$TOK_B" --client "connector:c1:$TOK_C"
	--allow alice=echo,sink,source,flood,uecho,ghost --allow bob=echo
	--serve c1=echo,sink,source,flood,uecho --open-hold 2s)
CONN_ARGS=(--intermediate "$L:$P_TAPC" --pki "$T/pki/connector-c1" --name c1 --token "$TOK_C"
	--service "echo=tcp:$L:$P_ECHO" --service "sink=tcp:$L:$P_SINK"
	--service "source=tcp:$L:$P_SRC" --service "flood=tcp:$L:$P_FLOOD"
	--service "uecho=udp:$L:$P_UECHO" --keepalive 1s --direct off --control none
	--transport udp)
AGENT_ARGS=(--intermediate "$L:$P_TAPA" --pki "$T/pki/agent-alice" --name alice --token "$TOK_A"
	--forward "tcp:$L:$F_ECHO=echo" --forward "tcp:$L:$F_SINK=sink"
	--forward "tcp:$L:$F_SRC=source" --forward "tcp:$L:$F_FLOOD=flood"
	--forward "udp:$L:$F_UECHO=uecho" --forward "tcp:$L:$F_GHOST=ghost" --keepalive 1s \
	--direct off --control none --transport udp)

progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start sink "$KIT" tcp-sink "$L:$P_SINK"
progs_start source "$KIT" tcp-source "$L:$P_SRC" "$T/big"
progs_start flood "$KIT" tcp-flood "$L:$P_FLOOD"
progs_start uecho "$KIT" udp-echo "$L:$P_UECHO"
progs_start tapa "$KIT" tap "$L:$P_TAPA" "$L:$P_IMD" "$MARKER" "$T/tapa.stats" 7
progs_start tapc "$KIT" tap "$L:$P_TAPC" "$L:$P_IMD" "$MARKER" "$T/tapc.stats"
progs_start imd "$B/ztna-intermediate" "${IMD_ARGS[@]}"
progs_start conn "$B/ztna-connector" "${CONN_ARGS[@]}"
progs_start agent "$B/ztna-agent" "${AGENT_ARGS[@]}"

# 1. Registration.
sleep 0.2
for n in imd conn agent tapa tapc echo sink source flood uecho; do
	progs_alive "$n" || { tap_diag "$n exited: $(tail -n 2 "$T/$n.log")"; }
done
if wait_log "$T/agent.log" 'event=connected' 5 && wait_log "$T/conn.log" 'event=connected' 5 &&
	grep -q 'event=client_ready.*identity=ztna:connector:c1.*services=echo,sink,source,flood,uecho' "$T/imd.log"; then
	tap_ok "agent and connector connect and register through the Intermediate"
else
	tap_fail "agent and connector connect and register" "$(tail -n 5 "$T"/{imd,conn,agent}.log)"
fi

# 2. The authorized agent reaches a service.
out=$(echo "hello through the tunnel" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO")
[ "$out" = "hello through the tunnel" ] && tap_ok "an authorized agent reaches its service" ||
	tap_fail "an authorized agent reaches its service" "got '$out'; $(tail -n 5 "$T/agent.log")"
grep -q 'event=session_ready.*peer=ztna:connector:c1' "$T/agent.log" &&
	grep -q 'event=session_ready.*peer=ztna:agent:alice' "$T/conn.log" &&
	tap_ok "end-to-end session authenticated both ways (agent sees the connector, connector the agent)" ||
	tap_fail "end-to-end session authenticated both ways"

# 3. Wrong credential: alice's certificate with a wrong token.
progs_start eve "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-alice" --name alice --token wrong \
	--forward "tcp:$L:$F_EVE=echo"
if wait_log "$T/eve.log" 'event=refused.*code=1500' 5 &&
	wait_log "$T/imd.log" 'event=auth_failed identity=ztna:agent:alice.*reason=bad-credential' 3; then
	tap_ok "a wrong credential: clear error at the agent, a log line at the Intermediate"
else
	tap_fail "a wrong credential is refused clearly" "$(tail -n 3 "$T/eve.log")"
fi
grep -q 'event=refused.*text="bad credential for ztna:agent:alice"' "$T/eve.log" && tap_ok "the agent's error names the cause" ||
	tap_fail "the agent's error names the cause" "$(grep refused "$T/eve.log" | head -n 2)"
progs_stop eve

# 4. Policy: bob may reach echo only.
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-bob" --name bob --token "$TOK_B" \
	--forward "tcp:$L:$F_BOB=sink" --keylog "$T/bob.keys" --qlog-dir "$T"
wait_log "$T/bob.log" 'event=connected' 5
echo x | timeout 10 socat -t 3 - "TCP:$L:$F_BOB" >/dev/null 2>&1
if wait_log "$T/bob.log" 'event=open_failed service=sink code=1501' 5 &&
	wait_log "$T/imd.log" 'event=open_refused identity=ztna:agent:bob service=sink reason=policy' 2; then
	tap_ok "policy refusal: clear error at the agent, a log line at the Intermediate"
else
	tap_fail "policy refusal" "$(tail -n 3 "$T/bob.log")"
fi
grep -q '^CLIENT_HANDSHAKE_TRAFFIC_SECRET ' "$T/bob.keys" 2>/dev/null && ls "$T"/agent-outer-*.sqlog >/dev/null 2>&1 &&
	tap_ok "--keylog and --qlog-dir write a TLS key log and qlog files" ||
	tap_fail "--keylog and --qlog-dir" "$(ls "$T")"
progs_stop bob

# 5. Bulk: 64 MiB each way, equal SHA-256.
t0=$(date +%s.%N)
out=$(timeout 60 "$KIT" tcp-send "$L:$F_SINK" "$T/big")
t1=$(date +%s.%N)
[ "$out" = "67108864 $SUM" ] && tap_ok "64 MiB agent -> connector, equal SHA-256 ($(echo "scale=1; 512 / ($t1 - $t0)" | bc) Mbit/s)" ||
	tap_fail "64 MiB agent -> connector" "got '$out' want '67108864 $SUM'"
t0=$(date +%s.%N)
out=$(timeout 60 "$KIT" tcp-recv "$L:$F_SRC")
t1=$(date +%s.%N)
[ "$out" = "67108864 $SUM" ] && tap_ok "64 MiB connector -> agent, equal SHA-256 ($(echo "scale=1; 512 / ($t1 - $t0)" | bc) Mbit/s)" ||
	tap_fail "64 MiB connector -> agent" "got '$out'"

# 6. Half-close: the client's FIN reaches the target, whose answer still comes back.
printf 'half' >"$T/half"
out=$(timeout 10 "$KIT" tcp-send "$L:$F_SINK" "$T/half")
[ "$out" = "4 $(sha256sum "$T/half" | cut -c1-64)" ] &&
	tap_ok "half-close: FIN crosses the tunnel and data flows back after it" ||
	tap_fail "half-close" "got '$out'"

# 7. 100 concurrent connections.
out=$(timeout 60 "$KIT" tcp-conc "$L:$F_ECHO" 100 65536)
[ "$out" = "ok 100 of 100" ] && tap_ok "100 concurrent TCP connections, each echoed intact" ||
	tap_fail "100 concurrent TCP connections" "$out"

# 8. A slow reader does not grow memory: the target floods, the client reads 200 KB/s.
rss0=$(( $(rss_kb "${PIDS[agent]}") + $(rss_kb "${PIDS[conn]}") + $(rss_kb "${PIDS[imd]}") ))
"$KIT" tcp-slow "$L:$F_FLOOD" 200000 6 >"$T/slow.out" &
slow=$!
peak=0
for i in $(seq 12); do
	sleep 0.5
	r=$(( $(rss_kb "${PIDS[agent]}") + $(rss_kb "${PIDS[conn]}") + $(rss_kb "${PIDS[imd]}") ))
	[ "$r" -gt "$peak" ] && peak=$r
done
wait $slow
got=$(cat "$T/slow.out")
growth=$((peak - rss0))
tap_diag "slow reader: read $got bytes; RSS of the three $rss0 -> peak $peak KiB"
[ "$growth" -lt 49152 ] && [ "${got:-0}" -gt 500000 ] &&
	tap_ok "a slow reader grows no process's memory without bound (+$((growth / 1024)) MiB for all three)" ||
	tap_fail "slow reader memory" "growth $growth KiB, read $got"

# 9. UDP: 10,000 datagrams echoed, loss counted.
out=$(timeout 60 "$KIT" udp-ping "$L:$F_UECHO" 10000 200 32 "$MARKER")
tap_diag "udp: $out"
[ "$(echo "$out" | awk '{print $6}')" = 0 ] && [ "$(echo "$out" | awk '{print $4}')" = 10000 ] &&
	tap_ok "10,000 UDP datagrams echoed through the tunnel, 0 lost" ||
	tap_fail "10,000 UDP datagrams" "$out"

# 10. Confidentiality: the marker went through TCP both ways and UDP both ways.
out=$(timeout 20 "$KIT" tcp-send "$L:$F_ECHO" "$T/marked")
[ "$out" = "$(cat "$T/marked")" ] && tap_ok "marked data echoed intact" || tap_fail "marked data echoed intact"
kill -USR1 "${PIDS[tapa]}" "${PIDS[tapc]}"
sleep 0.5
hits=$(awk '/^hits_/ {s += $2} END {print s + 0}' "$T/tapa.stats" "$T/tapc.stats")
seen=$(awk '/^to_/ {s += $2} END {print s + 0}' "$T/tapa.stats" "$T/tapc.stats")
tap_diag "taps saw $seen datagrams, marker found $hits times"
[ "$hits" = 0 ] && [ "$seen" -gt 50000 ] &&
	tap_ok "the marker never appears in any datagram to or from the Intermediate" ||
	tap_fail "confidentiality" "hits=$hits seen=$seen"
# Control: the same scanner finds a marker sent in the clear.
"$KIT" udp-ping "$L:$P_TAPA" 1 100 1 "$MARKER" >/dev/null 2>&1
kill -USR1 "${PIDS[tapa]}"
sleep 0.3
[ "$(awk '/^hits_to_upstream/ {print $2}' "$T/tapa.stats")" = 1 ] &&
	tap_ok "control: the scanner finds the marker in a plaintext datagram" ||
	tap_fail "control: the scanner finds a plaintext marker" "$(cat "$T/tapa.stats")"
replays=$(awk '/^replays/ {print $2}' "$T/tapa.stats")
[ "${replays:-0}" -gt 1000 ] && tap_ok "$replays replayed datagrams to the Intermediate disturbed nothing" ||
	tap_fail "replays" "replays=$replays"

# 11. Unknown service (after the Intermediate's 2 s open-hold).
echo x | timeout 10 socat -t 5 - "TCP:$L:$F_GHOST" >/dev/null 2>&1
if wait_log "$T/agent.log" 'event=open_failed service=ghost code=1502' 5 &&
	grep -q 'event=open_refused identity=ztna:agent:alice service=ghost reason=no-service' "$T/imd.log"; then
	tap_ok "unknown service: clear error at the agent, a log line at the Intermediate"
else
	tap_fail "unknown service" "$(grep ghost "$T/agent.log" | tail -n 2)"
fi

# 12. Garbage, truncated and replayed datagrams to every program's port.
P_AGENT=$(sed -n 's/.*event=start .*local=[^ ]*:\([0-9]*\).*/\1/p' "$T/agent.log" | head -n 1)
P_CONN=$(sed -n 's/.*event=start .*local=[^ ]*:\([0-9]*\).*/\1/p' "$T/conn.log" | head -n 1)
"$KIT" garbage "$L:$P_IMD" 600
"$KIT" garbage "$L:$P_AGENT" 600
"$KIT" garbage "$L:$P_CONN" 600
sleep 0.5
out=$(echo "still alive" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO")
progs_alive imd && progs_alive agent && progs_alive conn && [ "$out" = "still alive" ] &&
	tap_ok "garbage to every program's port: no crash, the session goes on" ||
	tap_fail "garbage: no crash, the session goes on" "got '$out'"
hup_stats imd agent conn
gi=$(( $(stat_of imd dropped_garbage) + $(stat_of imd dropped_unknown) + $(stat_of imd stun_answered) +
	$(stat_of imd stun_dropped) + $(stat_of imd accept_failed) + $(stat_of imd dropped_conn) +
	$(stat_of imd relay_chan_dropped_addr) + $(stat_of imd relay_chan_dropped_malformed) ))
# (a random first byte 0x0C is relay channel data: docs/relay-channel.md)
ga=$(( $(stat_of agent dropped_garbage) + $(stat_of agent dropped_unknown) + $(stat_of agent dropped_stun) +
	$(stat_of agent relay_chan_dropped) ))
gc=$(( $(stat_of conn dropped_garbage) + $(stat_of conn dropped_unknown) + $(stat_of conn dropped_stun) +
	$(stat_of conn relay_chan_dropped) ))
tap_diag "dropped and counted: intermediate $gi, agent $ga, connector $gc (of 600 each)"
[ "$gi" -ge 600 ] && [ "$ga" -ge 600 ] && [ "$gc" -ge 600 ] &&
	tap_ok "the drops are counted (Intermediate $gi, agent $ga, connector $gc of 600)" ||
	tap_fail "drops counted" "imd=$gi agent=$ga conn=$gc"

# 13. Intermediate crash and restart.
progs_stop imd KILL
progs_start imd "$B/ztna-intermediate" "${IMD_ARGS[@]}"
t0=$(date +%s.%N)
if wait_log "$T/agent.log" 'event=connected' 15 2 && wait_log "$T/conn.log" 'event=connected' 15 2; then
	t1=$(date +%s.%N)
	tap_ok "after an Intermediate restart both reconnect ($(echo "scale=1; ($t1 - $t0) / 1" | bc) s)"
else
	tap_fail "reconnect after an Intermediate restart" "$(tail -n 4 "$T/agent.log")"
fi
out=$(echo "after restart" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO")
[ "$out" = "after restart" ] && tap_ok "new connections work after the Intermediate restart" ||
	tap_fail "new connections after the Intermediate restart" "got '$out'"
grep -q 'event=disconnected.*retry_in_ms=' "$T/agent.log" &&
	tap_ok "the agent logged the loss and its backoff" || tap_fail "the agent logged the loss"

# 14. Connector crash and restart: the agent re-establishes the inner connection.
sessions_before=$(grep -c 'event=session_ready' "$T/agent.log")
progs_stop conn KILL
progs_start conn "$B/ztna-connector" "${CONN_ARGS[@]}"
wait_log "$T/conn.log" 'event=connected' 10
wait_log "$T/agent.log" 'event=session_closed' 5
sleep 0.3
out=$(echo "after connector restart" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO")
[ "$out" = "after connector restart" ] &&
	[ "$(grep -c 'event=session_ready' "$T/agent.log")" -gt "$sessions_before" ] &&
	tap_ok "after a connector restart the next use opens a new end-to-end session" ||
	tap_fail "connector restart" "got '$out'; $(tail -n 4 "$T/agent.log")"

# 15. Idle: ~0 CPU.
sleep 1
c0=$(( $(cpu_ticks "${PIDS[imd]}") + $(cpu_ticks "${PIDS[agent]}") + $(cpu_ticks "${PIDS[conn]}") ))
sleep 3
c1=$(( $(cpu_ticks "${PIDS[imd]}") + $(cpu_ticks "${PIDS[agent]}") + $(cpu_ticks "${PIDS[conn]}") ))
[ $((c1 - c0)) -le 3 ] && tap_ok "idle: the three use ~0 CPU ($((c1 - c0)) ticks in 3 s)" ||
	tap_fail "idle CPU" "$((c1 - c0)) ticks in 3 s"

# 16. Logs are key=value, one event per line.
bad=$(cat "$T"/{imd,agent,conn}.log | grep -vc '^ts=[^ ]* level=[a-z]* prog=[a-z]* event=[a-z_]*')
[ "$bad" = 0 ] && tap_ok "every log line is ts= level= prog= event= key=value" ||
	tap_fail "log format" "$bad lines: $(cat "$T"/{imd,agent,conn}.log | grep -v '^ts=' | head -n 3)"

# 17. Configuration errors name file, line and fix.
printf 'intermediate = 127.0.0.1:1\nforwrd = tcp:127.0.0.1:1=x\n' >"$T/bad.conf"
out=$("$B/ztna-agent" --config "$T/bad.conf" 2>&1)
rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "bad.conf:2: unknown key 'forwrd' (did you mean 'forward'?)" &&
	tap_ok "a config error names the file, line and fix" || tap_fail "config error" "rc=$rc $out"
out=$("$B/ztna-connector" --intermediate 127.0.0.1:1 --name c1 --service web 2>&1)
rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "expected NAME=tcp|udp:HOST:PORT" &&
	tap_ok "a bad option value says what is expected" || tap_fail "bad option value" "rc=$rc $out"

# 18. A clean stop tells the Intermediate at once.
progs_stop agent TERM
wait_log "$T/imd.log" 'event=client_gone.*identity=ztna:agent:alice' 3 &&
	grep -q 'event=exit' "$T/agent.log" &&
	tap_ok "a stopped agent says goodbye: the Intermediate drops it at once" ||
	tap_fail "clean stop" "$(tail -n 2 "$T/imd.log")"
progs_stop conn TERM
progs_stop imd TERM
grep -q 'event=exit' "$T/conn.log" && grep -q 'event=exit' "$T/imd.log" &&
	! grep -q -E 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$T"/*.log &&
	tap_ok "connector and Intermediate stop cleanly (no sanitizer report from any program)" ||
	tap_fail "clean stop of all" "$(grep -h -A5 -E 'Sanitizer|runtime error' "$T"/*.log | head -n 20)"
