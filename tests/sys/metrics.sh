#!/bin/bash
# The Prometheus endpoints (--metrics, docs/metrics.md) of the Intermediate, an agent
# and a connector, on loopback:
#
#   socat --> ztna-agent alice --(relay)--> ztna-intermediate --metrics L:PM <-- ztna-connector c1 --> echo
#
# Checks: GET /metrics answers 200 with the exposition's content type; promtool
# (Debian's prometheus package) accepts it; after traffic through the relay the
# counters and gauges show it; other paths, methods and garbage get 404, 405, 400;
# 24 idle connections (the limit is 16) neither stop the relay nor the endpoint for
# long (they are closed after 5 s); a bad --metrics value and a port in use are clear
# errors. The agent's and the connector's: promtool accepts them, the agent shows its
# relayed session and packets, both say they are logged in. A second agent, bob, goes
# direct: his endpoint and the connector's count the move and the time to direct
# (a histogram), and his ICE attempt.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
tap_plan 13

. tests/lib/progs.sh
progs_init metrics

P_IMD=$PORT P_M=$((PORT + 1)) P_MA=$((PORT + 2)) P_MC=$((PORT + 3)) P_ECHO=$((PORT + 10)) F_ECHO=$((PORT + 20))
P_MB=$((PORT + 4)) F_BOB=$((PORT + 21))
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --agent alice \
	--agent bob --connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --tcp-listen off --stun-port off \
	--pki "$T/pki/intermediate" --client agent:alice:ta --client agent:bob:tb --client connector:c1:tc \
	--allow alice=echo --allow bob=echo --serve c1=echo --metrics "$L:$P_M"
progs_start conn "$B/ztna-connector" --intermediate "$L:$P_IMD" --transport udp \
	--pki "$T/pki/connector-c1" --name c1 --token tc --service "echo=tcp:$L:$P_ECHO" --control none --metrics "$L:$P_MC"
progs_start agent "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport udp --direct off \
	--pki "$T/pki/agent-alice" --name alice --token ta --forward "tcp:$L:$F_ECHO=echo" --control none --metrics "$L:$P_MA"
wait_log "$T/agent.log" 'event=connected' 10 && wait_log "$T/conn.log" 'event=connected' 10 ||
	tap_diag "not connected: $(tail -n 2 "$T/agent.log" "$T/imd.log")"

# req METHOD PATH [PORT]: the whole answer (headers and body)
req() {
	exec 3<>"/dev/tcp/$L/${3:-$P_M}" || return 1
	printf '%s %s HTTP/1.1\r\nHost: %s\r\n\r\n' "$1" "$2" "$L:$P_M" >&3
	timeout 5 cat <&3
	exec 3<&-
}
val() { sed -n "s/^$1 \([0-9.e+]*\)\r*$/\1/p" "$T/scrape" | head -n 1; }

for i in 1 2 3; do
	out=$(echo "hello metrics $i" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO")
done
req GET /metrics >"$T/answer"
head -n 1 "$T/answer" | grep -q "^HTTP/1.1 200 OK" &&
	grep -qi "^Content-Type: text/plain; version=0.0.4" "$T/answer" &&
	tap_ok "GET /metrics: 200, text/plain; version=0.0.4" ||
	tap_fail "GET /metrics: 200" "$(head -n 5 "$T/answer")"
sed '1,/^\r*$/d' "$T/answer" >"$T/scrape"

if command -v promtool >/dev/null; then
	promtool check metrics <"$T/scrape" >"$T/promtool.out" 2>&1 &&
		tap_ok "promtool check metrics accepts it" ||
		tap_fail "promtool check metrics" "$(head -n 5 "$T/promtool.out")"
else
	tap_skip "promtool check metrics" "promtool is not installed (Debian prometheus; tools/deps.sh lab)"
fi

[ "$out" = "hello metrics 3" ] && [ "$(val ztna_sessions)" = 1 ] &&
	[ "$(val ztna_clients_authenticated)" = 2 ] && [ "$(val ztna_relay_packets_total)" -ge 6 ] &&
	[ "$(val ztna_relay_bytes_total)" -gt 0 ] && [ "$(val ztna_sessions_opened_total)" = 1 ] &&
	grep -q '^ztna_logins_total{result="ok"} 2' "$T/scrape" &&
	tap_ok "after traffic: sessions 1, clients 2, relayed $(val ztna_relay_packets_total) packets" ||
	tap_fail "the counters after traffic" "echo '$out'; $(grep -E '^ztna_(sessions|clients|relay_packets|logins)' "$T/scrape" | tr '\n' ' ')"

c404=$(req GET /nothing | head -n 1) c405=$(req POST /metrics | head -n 1)
exec 3<>"/dev/tcp/$L/$P_M"; printf 'garbage\r\n\r\n' >&3; c400=$(timeout 5 head -n 1 <&3); exec 3<&-
[[ $c404 == "HTTP/1.1 404"* ]] && [[ $c405 == "HTTP/1.1 405"* ]] && [[ $c400 == "HTTP/1.1 400"* ]] &&
	tap_ok "404 for another path, 405 for POST, 400 for garbage" ||
	tap_fail "404/405/400" "$c404 / $c405 / $c400"

# 24 idle connections: the first 16 are held (5 s at most), the rest closed at once
for i in $(seq 24); do exec {fd}<>"/dev/tcp/$L/$P_M" && eval "idle_$i=$fd"; done
out=$(echo "still relaying" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO")
[ "$out" = "still relaying" ] && progs_alive imd &&
	tap_ok "24 idle scrapers: the relay still works" || tap_fail "relay with idle scrapers" "'$out'"
sleep 6
req GET /metrics >"$T/answer2"
head -n 1 "$T/answer2" | grep -q "^HTTP/1.1 200" &&
	tap_ok "the idle connections were closed after 5 s: the endpoint answers again" ||
	tap_fail "endpoint after idle connections" "$(head -n 2 "$T/answer2")"
for i in $(seq 24); do eval "exec {idle_$i}<&-" 2>/dev/null; done
grep -q '^ztna_metrics_scrapes_total 2' <(sed '1,/^\r*$/d' "$T/answer2") &&
	tap_ok "ztna_metrics_scrapes_total counts the 200 answers (2)" ||
	tap_fail "scrapes counted" "$(grep scrapes "$T/answer2")"

"$B/ztna-intermediate" --listen "$L:$((PORT + 30))" --pki "$T/pki/intermediate" \
	--client agent:alice:ta --metrics "$L" >/dev/null 2>"$T/bad.err"
rc=$?
[ $rc = 2 ] && grep -q "metrics.*ADDR:PORT" "$T/bad.err" &&
	tap_ok "--metrics without a port: exit 2, says ADDR:PORT" ||
	tap_fail "--metrics without a port" "rc $rc $(cat "$T/bad.err")"
timeout 10 "$B/ztna-intermediate" --listen "$L:$((PORT + 31))" --tcp-listen off --stun-port off \
	--pki "$T/pki/intermediate" --client agent:alice:ta --metrics "$L:$P_M" >/dev/null 2>"$T/busy.err"
rc=$?
[ $rc = 1 ] && grep -q "metrics $L:$P_M: Address already in use" "$T/busy.err" &&
	tap_ok "--metrics on a port in use: exit 1, names it" ||
	tap_fail "--metrics on a port in use" "rc $rc $(cat "$T/busy.err")"

# the agent's and the connector's endpoints
req GET /metrics "$P_MA" | sed '1,/^\r*$/d' >"$T/agent.scrape"
req GET /metrics "$P_MC" | sed '1,/^\r*$/d' >"$T/conn.scrape"
pt=ok
if command -v promtool >/dev/null; then
	promtool check metrics <"$T/agent.scrape" >"$T/pa.out" 2>&1 &&
		promtool check metrics <"$T/conn.scrape" >"$T/pc.out" 2>&1 || pt="promtool: $(head -n 3 "$T/pa.out" "$T/pc.out")"
fi
rout=$(sed -n 's/^ztna_relay_packets_total{direction="out"} \([0-9]*\)\r*$/\1/p' "$T/agent.scrape")
[ "$pt" = ok ] && grep -q '^ztna_outer_up 1' "$T/agent.scrape" &&
	grep -q '^ztna_sessions{path="relay"} 1' "$T/agent.scrape" && [ "${rout:-0}" -ge 4 ] &&
	tap_ok "the agent's endpoint: logged in, 1 session on the relay, $rout packets out (promtool: ok)" ||
	tap_fail "the agent's endpoint" "$pt $(grep -E '^ztna_(outer_up|sessions|relay_packets)' "$T/agent.scrape" | tr '\n' ' ')"
grep -q '^ztna_outer_up 1' "$T/conn.scrape" && grep -q '^ztna_sessions_total{result="opened"} 1' "$T/conn.scrape" &&
	tap_ok "the connector's endpoint: logged in, 1 session opened" ||
	tap_fail "the connector's endpoint" "$(grep -E '^ztna_(outer_up|sessions)' "$T/conn.scrape" | tr '\n' ' ')"

# bob goes direct (alice has --direct off); the counters of the move
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport udp \
	--pki "$T/pki/agent-bob" --name bob --token tb --forward "tcp:$L:$F_BOB=echo" --control none --metrics "$L:$P_MB"
wait_log "$T/bob.log" 'event=connected' 10
out=$(echo "hello direct" | timeout 10 socat -t 5 - "TCP:$L:$F_BOB")
wait_log "$T/bob.log" 'event=path_switch .*to=direct' 15 || tap_diag "bob: no direct path: $(grep path_ "$T/bob.log" | tail -n 3)"
wait_log "$T/conn.log" 'event=path_switch .*to=direct' 5
req GET /metrics "$P_MB" | sed '1,/^\r*$/d' >"$T/bob.scrape"
req GET /metrics "$P_MC" | sed '1,/^\r*$/d' >"$T/conn2.scrape"
req GET /metrics | sed '1,/^\r*$/d' >"$T/imd2.scrape"
nats=$(sed -n 's/^ztna_clients_nat_mapping{mapping="[a-z-]*"} \([0-9]*\)\r*$/\1/p' "$T/imd2.scrape" | awk '{ s += $1 } END { print s + 0 }')
bv() { sed -n "s/^$1 \([0-9.e+]*\)\r*$/\1/p" "$T/$2.scrape" | head -n 1; }
pt=ok
if command -v promtool >/dev/null; then
	promtool check metrics <"$T/bob.scrape" >"$T/pb.out" 2>&1 || pt="promtool: $(head -n 3 "$T/pb.out")"
fi
[ "$pt" = ok ] && [ "$out" = "hello direct" ] && [ "$(bv ztna_path_switches_direct_total bob)" -ge 1 ] &&
	[ "$(bv ztna_time_to_direct_seconds_count bob)" = 1 ] &&
	[ "$(bv 'ztna_time_to_direct_seconds_bucket{le="+Inf"}' bob)" = 1 ] &&
	[ "$(bv 'ztna_time_to_direct_seconds_bucket{le="30"}' bob)" = 1 ] &&
	awk -v v="$(bv ztna_time_to_direct_seconds_sum bob)" 'BEGIN { exit !(v > 0 && v < 30) }' &&
	[ "$(bv 'ztna_ice_total{outcome="started"}' bob)" -ge 1 ] && [ "${nats:-0}" = 3 ] &&
	tap_ok "bob went direct: 1 move, time to direct $(bv ztna_time_to_direct_seconds_sum bob) s in the histogram, ICE started (promtool: ok); the Intermediate's NAT types cover its 3 clients" ||
	tap_fail "bob's path counters" "$pt '$out' nats '$nats' $(grep -E '^ztna_(path_switches|time_to_direct|ice)' "$T/bob.scrape" | tr '\n' ' ')"
[ "$(bv ztna_path_switches_direct_total conn2)" -ge 1 ] && [ "$(bv ztna_time_to_direct_seconds_count conn2)" = 1 ] &&
	grep -q '^ztna_path_switches_relay_total{reason="consent-lost"} 0' "$T/conn2.scrape" &&
	tap_ok "the connector followed: 1 move to direct, its time to direct counted" ||
	tap_fail "the connector's path counters" "$(grep -E '^ztna_(path_switches|time_to_direct)' "$T/conn2.scrape" | tr '\n' ' ')"
