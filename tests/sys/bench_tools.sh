#!/bin/bash
# The benchmark baselines work: udpping against udpping echo, directly and through
# udpfwd (loopback only).
. "$(dirname "$0")/../lib/tap.sh"
B=${BUILD:-build}/bench
tap_plan 3
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))
"$B/udpping" echo --bind 127.0.0.1:$port --count 2000 & pids+=($!)
"$B/udpfwd" --listen 127.0.0.1:$((port + 1)) --to 127.0.0.1:$port --idle 5 --seconds 30 & pids+=($!)
sleep 0.2
out=$("$B/udpping" ping --to 127.0.0.1:$port --count 200 --json)
tap_diag "direct: $out"
case $out in *'"received":200,'*) tap_ok "udpping: 200/200 answered directly" ;;
*) tap_fail "udpping: 200/200 answered directly" "$out" ;; esac
out=$("$B/udpping" ping --to 127.0.0.1:$((port + 1)) --count 200 --size 1200 --json)
tap_diag "via udpfwd: $out"
case $out in *'"received":200,'*) tap_ok "udpping: 200/200 answered through udpfwd at 1200 B" ;;
*) tap_fail "udpping: 200/200 answered through udpfwd at 1200 B" "$out" ;; esac
if "$B/udpping" ping --to 127.0.0.1:$((port + 2)) --count 2 --timeout 100 >/dev/null 2>&1; then
	tap_fail "udpping: no peer is a failure"
else
	tap_ok "udpping: no peer is a failure"
fi
