#!/bin/bash
# The Intermediate's workers (docs/workers.md) with the real programs, on loopback,
# unprivileged: --workers 2 is the main thread's socket and one worker's, both bound to
# the listen address (SO_REUSEPORT); the kernel spreads the clients over them by
# address hash. alice goes through a tap (zt-testkit tap: it can rebind, i.e. give
# her a new source port, and send a channel datagram from her address):
#
#   kit --> alice --[tap A]--.
#           bob   ------------+-- ztna-intermediate --workers 2 ---- c1 --> sink, source, uecho
#           carol ------------+   (main socket + worker socket)
#   zt-load relay: 16 agents -'                              `------ loadc (zt-load)
#   kit --> dave -------------- ztna-intermediate (--workers 1) ---- c2 --> sink
#
# Checks: several pairs' relay-channel traffic intact both ways through --workers 2
# (1 MiB each way, 1 MiB, 200 UDP datagrams); both sockets carried relay traffic (the
# worker's counters and the Intermediate's own); a session that ends (its agent
# revoked, SIGHUP reload) is no longer forwarded by the worker that carried it; a
# client's QUIC reaching the worker is handed to the main thread (logins, sessions
# work whichever socket a client hashes to); --workers 1 (the default) has one socket
# and no worker, and relays as before. ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
KIT=$B/bench/zt-testkit
tap_plan 11
progs_init workers

P_IMD=$PORT P_IMD1=$((PORT + 4)) P_TAPA=$((PORT + 8))
P_SINK=$((PORT + 12)) P_SRC=$((PORT + 13)) P_UECHO=$((PORT + 14)) P_MET=$((PORT + 15))
F_A_SINK=$((PORT + 20)) F_A_SRC=$((PORT + 21)) F_A_UECHO=$((PORT + 22))
F_B_SINK=$((PORT + 23)) F_C_UECHO=$((PORT + 24)) F_D_SINK=$((PORT + 25))
TOK=tok-$RANDOM

"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --connector c1=sink,source,uecho \
	--connector c2=sink --connector loadc=bulk --agent alice --agent bob --agent carol \
	--agent dave --agent load >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 1M /dev/urandom >"$T/one"
ONE="1048576 $(sha256sum "$T/one" | cut -c1-64)"
# the clients as a file: the reload (SIGHUP) reads it again
printf '%s\n' "agent:alice:$TOK" "agent:bob:$TOK" "agent:carol:$TOK" "agent:load:$TOK" \
	"connector:c1:$TOK" "connector:loadc:$TOK" >"$T/clients"
chmod 600 "$T/clients"

progs_start sink "$KIT" tcp-sink "$L:$P_SINK"
progs_start source "$KIT" tcp-source "$L:$P_SRC" "$T/one"
progs_start uecho "$KIT" udp-echo "$L:$P_UECHO"
progs_start tapa "$KIT" tap "$L:$P_TAPA" "$L:$P_IMD" none "$T/tapa.stats"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --tcp-listen off --stun-port off \
	--pki "$T/pki/intermediate" --clients-file "$T/clients" --workers 2 --metrics "$L:$P_MET" \
	--logins-per-identity 20 --allow alice=sink,source,uecho --allow bob=sink \
	--allow carol=uecho --allow load=bulk --serve c1=sink,source,uecho --serve loadc=bulk
progs_start imd1 "$B/ztna-intermediate" --listen "$L:$P_IMD1" --tcp-listen off --stun-port off \
	--pki "$T/pki/intermediate" --client "agent:dave:$TOK" --client "connector:c2:$TOK" \
	--allow dave=sink --serve c2=sink
wait_log "$T/imd.log" 'event=start ' 5
wait_log "$T/imd1.log" 'event=start ' 5
sleep 0.2 # the tap binds
COMMON=(--token "$TOK" --control none --direct off --transport udp)
progs_start c1 "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/pki/connector-c1" \
	--name c1 "${COMMON[@]}" --service "sink=tcp:$L:$P_SINK" \
	--service "source=tcp:$L:$P_SRC" --service "uecho=udp:$L:$P_UECHO"
progs_start c2 "$B/ztna-connector" --intermediate "$L:$P_IMD1" --pki "$T/pki/connector-c2" \
	--name c2 "${COMMON[@]}" --service "sink=tcp:$L:$P_SINK"
progs_start alice "$B/ztna-agent" --intermediate "$L:$P_TAPA" --pki "$T/pki/agent-alice" \
	--name alice "${COMMON[@]}" --keepalive 5s --forward "tcp:$L:$F_A_SINK=sink" \
	--forward "tcp:$L:$F_A_SRC=source" --forward "udp:$L:$F_A_UECHO=uecho"
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-bob" \
	--name bob "${COMMON[@]}" --forward "tcp:$L:$F_B_SINK=sink"
progs_start carol "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-carol" \
	--name carol "${COMMON[@]}" --forward "udp:$L:$F_C_UECHO=uecho"
progs_start dave "$B/ztna-agent" --intermediate "$L:$P_IMD1" --pki "$T/pki/agent-dave" \
	--name dave "${COMMON[@]}" --forward "tcp:$L:$F_D_SINK=sink"

# worker_stat KEY: worker 1's counter now (a fresh stats line); imd_stat KEY: the
# Intermediate's own.
worker_stat() {
	hup_stats imd
	grep 'event=worker_stats worker=1 ' "$T/imd.log" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}
imd_stat() { stat_of imd "$1"; }

# tap_do NAME COMMAND: the tap's SIGUSR2 command (a rebinding, a channel datagram).
tap_do() {
	rm -f "$T/$1.stats"
	echo "$2" >"$T/$1.stats.cmd"
	kill -USR2 "${PIDS[$1]}"
	for _ in $(seq 30); do
		[ -s "$T/$1.stats" ] && break
		sleep 0.1
	done
}

# session_of AGENT SERVICE: the session id (hex) the Intermediate opened for them.
session_of() {
	grep "event=session_open .*service=$2 agent=ztna:agent:$1 " "$T/imd.log" | tail -n 1 |
		sed -n 's/.*session=\([0-9a-f]*\).*/\1/p'
}

# 1. Everyone logs in, whichever socket their packets reach.
up=0 down=
for n in c1 c2 alice bob carol dave; do
	if wait_log "$T/$n.log" 'event=connected' 20; then
		up=$((up + 1))
	else
		down="$down $n: $(tail -n 2 "$T/$n.log" | tr '\n' ' ');"
	fi
done
if [ "$up" -eq 6 ] && grep -q 'event=workers threads=2' "$T/imd.log"; then
	tap_ok "--workers 2 starts; four agents and two connectors log in"
else
	tap_fail "--workers 2 starts; everyone logs in" "$down $(grep -c 'event=workers' "$T/imd.log")"
fi

# 2-4. Several pairs through --workers 2, intact both ways.
out=$(timeout 30 "$KIT" tcp-send "$L:$F_A_SINK" "$T/one")
out2=$(timeout 30 "$KIT" tcp-recv "$L:$F_A_SRC")
[ "$out" = "$ONE" ] && [ "$out2" = "$ONE" ] && tap_ok "alice: 1 MiB each way intact (TCP forwards)" ||
	tap_fail "alice: 1 MiB each way" "got '$out' and '$out2' want '$ONE'"
out=$(timeout 30 "$KIT" tcp-send "$L:$F_B_SINK" "$T/one")
[ "$out" = "$ONE" ] && tap_ok "bob: 1 MiB intact (TCP forward)" ||
	tap_fail "bob: 1 MiB" "got '$out' want '$ONE'"
out=$(timeout 30 "$KIT" udp-ping "$L:$F_C_UECHO" 200 64 1)
case $out in
"sent 200 received 200 "*) tap_ok "carol: 200 UDP datagrams echoed (UDP forward)" ;;
*) tap_fail "carol: 200 UDP datagrams echoed" "$out" ;;
esac

# 5. 16 more agents (zt-load relay --channel: 17 source addresses, so the kernel puts
# some on each socket): both the worker and the main thread forwarded channel data.
w0=$(worker_stat forwarded) m0=$(imd_stat relay_chan_pkts)
timeout 60 "$B/bench/zt-load" relay --to "$L:$P_IMD" --pki "$T/pki" --bind "$L" --name load \
	--token "$TOK" --connector loadc --ctoken "$TOK" --service bulk --count 16 --channel \
	--seconds 1 --size 200 >"$T/load.out" 2>&1
w1=$(worker_stat forwarded) m1=$(imd_stat relay_chan_pkts)
got=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' "$T/load.out")
tap_diag "zt-load: $(cat "$T/load.out"); worker forwarded $w0 -> $w1, main relay_chan_pkts $m0 -> $m1"
if [ "${got:-0}" -gt 0 ] && [ $((w1 - w0)) -gt 0 ] && [ $((m1 - m0)) -gt 0 ]; then
	tap_ok "both sockets carried relay traffic (worker $((w1 - w0)), main thread $((m1 - m0)); $got received)"
else
	tap_fail "both sockets carried relay traffic" "worker $((w1 - w0)) main $((m1 - m0)) received '${got:-}'"
fi

# 5b. the relay's totals count the worker's forwarding: the metrics endpoint's worker
# count is what the worker says it forwarded (quiet now), inside the total
exec 3<>"/dev/tcp/$L/$P_MET" && printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >&3 &&
	timeout 5 cat <&3 >"$T/metrics" 2>/dev/null
exec 3<&-
mv=$(sed -n 's/^ztna_relay_worker_packets_total \([0-9]*\)\r*$/\1/p' "$T/metrics")
mt=$(sed -n 's/^ztna_relay_packets_total \([0-9]*\)\r*$/\1/p' "$T/metrics")
w2=$(worker_stat forwarded)
if [ -n "$mv" ] && [ "$mv" -ge "$w1" ] && [ "$mv" -le "$w2" ] && [ "${mt:-0}" -ge $((mv + m1 - m0)) ]; then
	tap_ok "metrics: the worker's $mv forwarded are in ztna_relay_packets_total ($mt)"
else
	tap_fail "metrics count the worker's forwarding" "worker metric '$mv' (worker said $w1..$w2), total '$mt', main $((m1 - m0))"
fi

# 6. alice's session on the worker's socket: a channel datagram from her address is
# forwarded by the worker. Her tap rebinds (a new source port, a new hash) until her
# packets reach the worker's socket (each try: one in two; 12 tries).
on_worker= SA=
for try in $(seq 12); do
	timeout 30 "$KIT" udp-ping "$L:$F_A_UECHO" 20 64 1 >/dev/null 2>&1 # on the channel
	SA=$(session_of alice uecho)
	f0=$(worker_stat forwarded)
	for _ in 1 2 3 4 5; do tap_do tapa "chan $SA"; done
	f1=$(worker_stat forwarded)
	if [ $((f1 - f0)) -ge 5 ]; then
		on_worker=$try
		break
	fi
	tap_do tapa rebind
	sleep 1.2 # her refresh DATAGRAM (1 s) moves her outer connection
done
[ -n "$on_worker" ] && tap_ok "alice's channel datagrams forwarded by the worker (after $((on_worker - 1)) rebindings)" ||
	tap_fail "alice's channel datagrams forwarded by the worker" "12 rebindings, never on the worker's socket"

# 7. alice revoked (her line out of the clients file, SIGHUP): her session ends, and
# the worker no longer forwards a channel datagram from her address for it.
grep -v '^agent:alice:' "$T/clients" >"$T/clients.new" && chmod 600 "$T/clients.new" &&
	mv "$T/clients.new" "$T/clients"
hup_stats imd
wait_log "$T/imd.log" 'event=reload result=ok' 5
f0=$(worker_stat forwarded) d0=$(imd_stat relay_chan_dropped_addr)
for _ in 1 2 3 4 5; do tap_do tapa "chan $SA"; done
sleep 0.3
f1=$(worker_stat forwarded) d1=$(imd_stat relay_chan_dropped_addr)
if [ -n "$on_worker" ] && grep -q "event=session_close session=$SA " "$T/imd.log" &&
	[ "$f1" -eq "$f0" ] && [ $((d1 - d0)) -ge 5 ]; then
	tap_ok "an ended session is no longer forwarded: 5 of its channel datagrams handed over, dropped and counted"
else
	tap_fail "an ended session is no longer forwarded" "session '$SA' worker forwarded $f0 -> $f1, dropped_addr $d0 -> $d1"
fi

# 8. The others are unaffected.
out=$(timeout 30 "$KIT" udp-ping "$L:$F_C_UECHO" 50 64 1)
case $out in
"sent 50 received 50 "*) tap_ok "carol's session unaffected" ;;
*) tap_fail "carol's session unaffected" "$out" ;;
esac

# 9. --workers 1 (the default): one socket on its port, no worker, relays as before.
socks() { ss -Huan "sport = :$1" 2>/dev/null | grep -c "$L:$1"; }
out=$(timeout 30 "$KIT" tcp-send "$L:$F_D_SINK" "$T/one")
hup_stats imd1
n1=$(socks "$P_IMD1") n2=$(socks "$P_IMD")
if [ "$out" = "$ONE" ] && [ "$n1" = 1 ] && [ "$n2" = 2 ] &&
	[ "$(count_log "$T/imd1.log" 'event=worker')" = 0 ] &&
	[ "$(stat_of imd1 relay_chan_pkts)" -gt 700 ]; then
	tap_ok "--workers 1: one socket, no worker, 1 MiB intact on the channel"
else
	tap_fail "--workers 1" "got '$out'; sockets $n1 (workers 2: $n2); $(grep -c 'event=worker' "$T/imd1.log") worker lines"
fi

# 10.
alive=1
for n in imd imd1 c1 c2 bob carol dave; do
	progs_alive "$n" || { alive=; tap_diag "$n exited: $(tail -n 2 "$T/$n.log")"; }
done
[ -n "$alive" ] && tap_ok "every program still runs" || tap_fail "every program still runs"
