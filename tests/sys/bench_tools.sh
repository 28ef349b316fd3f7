#!/bin/bash
# The benchmark tools work (loopback only): udpping against udpping echo, directly
# and through udpfwd, with a window and a samples file; udpblast through udpfwd;
# zt-load against a real ztna-intermediate (clients, pairs, relay) and against its
# own bare server.
. "$(dirname "$0")/../lib/tap.sh"
B=${BUILD:-build}
K=$B/bench
tap_plan 13
T=$(mktemp -d /tmp/zt-bench-tools.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
port=$((20000 + RANDOM % 12000))
L=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
"$K/udpping" echo --bind 127.0.0.1:$port --count 20000 & pids+=($!)
"$K/udpfwd" --listen 127.0.0.1:$((port + 1)) --to 127.0.0.1:$port --idle 5 --seconds 30 & pids+=($!)
sleep 0.2
out=$("$K/udpping" ping --to 127.0.0.1:$port --count 200 --json)
tap_diag "direct: $out"
case $out in *'"received":200,'*) tap_ok "udpping: 200/200 answered directly" ;;
*) tap_fail "udpping: 200/200 answered directly" "$out" ;; esac
out=$("$K/udpping" ping --to 127.0.0.1:$((port + 1)) --count 200 --size 1200 --json)
tap_diag "via udpfwd: $out"
case $out in *'"received":200,'*) tap_ok "udpping: 200/200 answered through udpfwd at 1200 B" ;;
*) tap_fail "udpping: 200/200 answered through udpfwd at 1200 B" "$out" ;; esac
if "$K/udpping" ping --to 127.0.0.1:$((port + 2)) --count 2 --timeout 100 >/dev/null 2>&1; then
	tap_fail "udpping: no peer is a failure"
else
	tap_ok "udpping: no peer is a failure"
fi
out=$("$K/udpping" ping --to 127.0.0.1:$port --count 300 --window 8 --interval 200 --json --samples "$T/s")
n=$(grep -c . "$T/s")
case $out in *'"received":300,'*) [ "$n" = 300 ] && tap_ok "udpping --window 8: 300/300, 300 samples written" ||
	tap_fail "udpping --samples" "$n lines" ;;
*) tap_fail "udpping --window 8: 300/300" "$out" ;; esac

# udpblast: what the sink counts went through udpfwd
"$K/udpblast" sink --bind 127.0.0.1:$((port + 3)) --seconds 10 --idle 1 >"$T/sink" & spid=$!
"$K/udpfwd" --listen 127.0.0.1:$((port + 4)) --to 127.0.0.1:$((port + 3)) --idle 3 --seconds 30 & pids+=($!)
sleep 0.2
sent=$("$K/udpblast" send --to 127.0.0.1:$((port + 4)) --seconds 0.3 | sed -n 's/^sent=\([0-9]*\).*/\1/p')
wait $spid
got=$(sed -n 's/^received=\([0-9]*\).*/\1/p' "$T/sink")
tap_diag "udpblast: sent $sent, received $got"
[ "${got:-0}" -gt 1000 ] && [ "$got" -le "$sent" ] && tap_ok "udpblast: datagrams go through udpfwd to the sink" ||
	tap_fail "udpblast through udpfwd" "sent=$sent received=$got"
# a sink that gets nothing gives up after its --seconds (it waited 600 s: a bench whose
# forwarder had not started hung there)
t0=$(date +%s)
timeout 20 "$K/udpblast" sink --bind 127.0.0.1:$((port + 5)) --seconds 2 --idle 1 >"$T/sink0"
rc=$? t1=$(date +%s)
[ "$rc" = 1 ] && [ $((t1 - t0)) -le 5 ] && grep -q '^received=0 ' "$T/sink0" &&
	tap_ok "udpblast sink: nothing in --seconds 2, gives up (exit 1) after $((t1 - t0)) s" ||
	tap_fail "udpblast sink with nothing to receive" "exit $rc after $((t1 - t0)) s: $(cat "$T/sink0")"

# zt-load against the real Intermediate
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service bulk --agent load --connector loadc >/dev/null
"$B/ztna-intermediate" --listen "$L:$port" --pki "$T/pki/intermediate" --client agent:load:tA \
	--client connector:loadc:tC --allow load=bulk --serve loadc=bulk \
	--logins-per-identity 100 2>"$T/imd.log" & ipid=$! # zt-load's agents share "load"
pids+=($ipid)
sleep 0.3
out=$(timeout 30 "$K/zt-load" clients --to "$L:$port" --pki "$T/pki" --name load --token tA --count 20 --hold 0.2 --bind "$L")
tap_diag "$(echo "$out" | tr '\n' ' ')"
case $out in *"ready clients=20 "*"idle seconds="*) tap_ok "zt-load clients: 20 agents welcomed" ;;
*) tap_fail "zt-load clients: 20 agents welcomed" "$out" ;; esac
out=$(timeout 30 "$K/zt-load" pairs --to "$L:$port" --pki "$T/pki" --name load --token tA --count 5 \
	--connector loadc --ctoken tC --service bulk --dgrams 3 --pause 0.1 --bind "$L")
tap_diag "$(echo "$out" | tr '\n' ' ')"
case $out in *"ready sessions=5 relayed=30"*) tap_ok "zt-load pairs: 5 sessions, 30 datagrams relayed" ;;
*) tap_fail "zt-load pairs: 5 sessions, 30 datagrams relayed" "$out" ;; esac
out=$(timeout 30 "$K/zt-load" relay --to "$L:$port" --pki "$T/pki" --name load --token tA \
	--connector loadc --ctoken tC --service bulk --seconds 0.5 --bind "$L")
tap_diag "$(echo "$out" | tr '\n' ' ')"
got=$(echo "$out" | sed -n 's/.* received=\([0-9]*\).*/\1/p')
[ "${got:-0}" -gt 100 ] && tap_ok "zt-load relay: datagrams relayed" || tap_fail "zt-load relay" "$out"
out=$(timeout 30 "$K/zt-load" clients --to "$L:$port" --pki "$T/pki" --name load --token wrong --count 1 --bind "$L")
rc=$?
[ $rc = 1 ] && case $out in *"error what=refused code=1500"*) true ;; *) false ;; esac &&
	tap_ok "zt-load: a refused HELLO is an error (exit 1)" || tap_fail "zt-load: refused HELLO" "rc=$rc $out"
kill $ipid; wait $ipid 2>/dev/null
"$K/zt-load" bare-server --listen "$L:$port" --pki "$T/pki" --seconds 20 >"$T/bare" & bpid=$!
pids+=($bpid)
sleep 0.3
out=$(timeout 30 "$K/zt-load" clients --to "$L:$port" --pki "$T/pki" --name load --token tA --count 10 --bare --bind "$L")
kill $bpid; wait $bpid 2>/dev/null
case "$out $(cat "$T/bare")" in *"ready clients=10 "*"bare accepted=10"*) tap_ok "zt-load bare: 10 handshakes with the bare server" ;;
*) tap_fail "zt-load bare" "$out $(cat "$T/bare")" ;; esac
if timeout 10 "$K/zt-load" clients --to 8.8.8.8:443 --pki "$T/pki" --name load --token tA >/dev/null 2>&1; then
	tap_fail "zt-load refuses addresses outside loopback and the lab's networks"
else
	tap_ok "zt-load refuses addresses outside loopback and the lab's networks"
fi
# the count bound: 10,000 agents (the memory bench's), not more
"$K/zt-load" clients --to "$L:$port" --pki "$T/pki" --name load --token tA --count 10001 >/dev/null 2>&1
rc1=$?
timeout 10 "$K/zt-load" clients --to "$L:1" --pki /nonexistent --name load --token tA --count 10000 >/dev/null 2>&1
rc2=$?
[ "$rc1" = 2 ] && [ "$rc2" != 2 ] && tap_ok "zt-load: --count up to 10000 (10001 is a usage error)" ||
	tap_fail "zt-load --count bound" "rc for 10001: $rc1 (want 2), for 10000: $rc2 (want not 2)"
