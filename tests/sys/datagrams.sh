#!/bin/bash
# Datagrams per round trip: a ping-pong of N messages, one at a time (each waits for
# the previous reply), through a TCP and a UDP forward costs at most N + SLACK
# datagrams each way on every hop: ACKs ride on the replies (src/quic/conn.c, "Delayed
# ACKs"). On loopback, unprivileged:
#
#   relay path (--direct off), each hop counted by a tap (zt-testkit tap):
#     kit --> agent alice --[tap A]--> intermediate <--[tap C]-- connector c1 --> echo
#   direct path, counted by the programs (rx=/tx= of their stats lines, SIGHUP):
#     kit --> agent bob (127.a.b.c) <=== direct ===> connector c2 (127.d.e.f) --> echo
#
# A hop's count in one direction is N messages plus what the session needs besides
# (the TCP connection's open and FIN, their ACKs, the last reply's ACK, an ACK sent
# alone when a program stalls over 20 ms on a loaded machine): SLACK. Before the
# delayed ACKs, each hop carried 2N to 3.4N each way (ACK-only packets between the
# messages, each a wake-up). ZT_QLOG=DIR writes qlogs, ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
KIT=$B/bench/zt-testkit
N=200
SLACK=40
tap_plan 9
progs_init datagrams

LA=$(rnd_ip) LC=$(rnd_ip)
# (the Intermediate answers STUN on its port + 1)
P_IMD=$PORT P_TAPA=$((PORT + 3)) P_TAPC=$((PORT + 4))
P_ECHO=$((PORT + 10)) P_UECHO=$((PORT + 11))
F_ECHO=$((PORT + 20)) F_UECHO=$((PORT + 21)) F_DECHO=$((PORT + 22)) F_DUECHO=$((PORT + 23))
TOK=tok-$RANDOM

"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --service uecho@c1 \
	--service decho@c2 --service duecho@c2 --agent alice --agent bob --connector c1 --connector c2 \
	>/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }

# Keepalives every 20 s: none falls into a measurement, which takes about a second.
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start uecho "$KIT" udp-echo "$L:$P_UECHO"
progs_start tapa "$KIT" tap "$L:$P_TAPA" "$L:$P_IMD" none "$T/tapa.stats"
progs_start tapc "$KIT" tap "$L:$P_TAPC" "$L:$P_IMD" none "$T/tapc.stats"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --pki "$T/pki/intermediate" \
	--client "agent:alice:$TOK" --client "agent:bob:$TOK" --client "connector:c1:$TOK" \
	--client "connector:c2:$TOK" --allow alice=echo,uecho --allow bob=decho,duecho \
	--serve c1=echo,uecho --serve c2=decho,duecho
wait_log "$T/imd.log" 'event=start ' 5
sleep 0.2 # the taps bind
COMMON=(--token "$TOK" --keepalive 20s --control none --transport udp
	${ZT_QLOG:+--qlog-dir "$ZT_QLOG"})
progs_start c1 "$B/ztna-connector" --intermediate "$L:$P_TAPC" --pki "$T/pki/connector-c1" \
	--name c1 "${COMMON[@]}" --direct off --service "echo=tcp:$L:$P_ECHO" \
	--service "uecho=udp:$L:$P_UECHO"
progs_start alice "$B/ztna-agent" --intermediate "$L:$P_TAPA" --pki "$T/pki/agent-alice" \
	--name alice "${COMMON[@]}" --direct off --forward "tcp:$L:$F_ECHO=echo" \
	--forward "udp:$L:$F_UECHO=uecho"
progs_start c2 "$B/ztna-connector" --intermediate "$L:$P_IMD" --bind "$LC" \
	--pki "$T/pki/connector-c2" --name c2 "${COMMON[@]}" --keepalive-direct 20s \
	--service "decho=tcp:$L:$P_ECHO" --service "duecho=udp:$L:$P_UECHO"
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_IMD" --bind "$LA" --pki "$T/pki/agent-bob" \
	--name bob "${COMMON[@]}" --keepalive-direct 20s --forward "tcp:$L:$F_DECHO=decho" \
	--forward "udp:$L:$F_DUECHO=duecho"

up=0 down=
for n in c1 alice c2 bob; do
	if wait_log "$T/$n.log" 'event=connected' 20; then
		up=$((up + 1))
	else
		down="$down $n: $(tail -n 2 "$T/$n.log" | tr '\n' ' ');"
	fi
done
if [ "$up" -eq 4 ]; then
	tap_ok "two agents and two connectors connect"
else
	tap_fail "two agents and two connectors connect" "$down imd: $(tail -n 2 "$T/imd.log")"
fi

# tap_counts NAME: "TO_UPSTREAM TO_CLIENTS" of a tap, now.
tap_counts() {
	tap_dump "$1"
	awk '/^to_upstream/ {u = $2} /^to_clients/ {c = $2} END {print u + 0, c + 0}' "$T/$1.stats"
}

# node_counts NAME...: "TX RX" of each program's UDP socket, now (its stats line).
node_counts() {
	local n
	hup_stats "$@"
	for n in "$@"; do
		echo "$(stat_of "$n" tx) $(stat_of "$n" rx)"
	done
}

# within NAME COUNT...: ok when every COUNT is in [N, N + SLACK].
within() {
	local name=$1 c bad=
	shift
	for c in "$@"; do
		{ [ "$c" -ge "$N" ] && [ "$c" -le $((N + SLACK)) ]; } || bad=1
	done
	if [ -z "$bad" ]; then
		tap_ok "$name: $* datagrams for $N round trips (<= $N + $SLACK)"
	else
		tap_fail "$name" "datagrams $*: each should be $N..$((N + SLACK)) for $N round trips"
	fi
}

# relay_pingpong NAME CMD...: CMD's datagrams through the taps, each hop each way.
relay_pingpong() {
	local name=$1 a0u a0c c0u c0c a1u a1c c1u c1c out
	shift
	read -r a0u a0c <<<"$(tap_counts tapa)"
	read -r c0u c0c <<<"$(tap_counts tapc)"
	out=$(timeout 60 "$@" 2>&1)
	sleep 0.1
	read -r a1u a1c <<<"$(tap_counts tapa)"
	read -r c1u c1c <<<"$(tap_counts tapc)"
	tap_diag "$name: $out; agent->imd $((a1u - a0u)) imd->agent $((a1c - a0c))" \
		"connector->imd $((c1u - c0u)) imd->connector $((c1c - c0c))"
	within "$name" $((a1u - a0u)) $((a1c - a0c)) $((c1u - c0u)) $((c1c - c0c))
}

# direct_pingpong NAME CMD...: CMD's datagrams sent and received by agent and connector.
direct_pingpong() {
	local name=$1 b0tx b0rx c0tx c0rx b1tx b1rx c1tx c1rx out
	shift
	read -r -d '' b0tx b0rx c0tx c0rx < <(node_counts bob c2 | tr '\n' ' '; printf '\0')
	out=$(timeout 60 "$@" 2>&1)
	sleep 0.1
	read -r -d '' b1tx b1rx c1tx c1rx < <(node_counts bob c2 | tr '\n' ' '; printf '\0')
	tap_diag "$name: $out; agent sent $((b1tx - b0tx)) received $((b1rx - b0rx))," \
		"connector sent $((c1tx - c0tx)) received $((c1rx - c0rx))"
	within "$name" $((b1tx - b0tx)) $((b1rx - b0rx)) $((c1tx - c0tx)) $((c1rx - c0rx))
}

# The relay path: open the sessions first (their handshakes are not the point).
"$KIT" tcp-rtt "$L:$F_ECHO" 5 64 >/dev/null 2>&1
"$KIT" udp-ping "$L:$F_UECHO" 5 64 1 >/dev/null 2>&1
relay_pingpong "relay, TCP forward" "$KIT" tcp-rtt "$L:$F_ECHO" "$N" 64
relay_pingpong "relay, UDP forward" "$KIT" udp-ping "$L:$F_UECHO" "$N" 64 1
relay_pingpong "relay, TCP forward, 1200-byte messages" "$KIT" tcp-rtt "$L:$F_ECHO" "$N" 1200

# The direct path: the session goes direct (host candidates meet on loopback).
"$KIT" tcp-rtt "$L:$F_DECHO" 5 64 >/dev/null 2>&1
"$KIT" udp-ping "$L:$F_DUECHO" 5 64 1 >/dev/null 2>&1
if wait_log "$T/bob.log" 'event=path_switch.*to=direct' 10; then
	tap_ok "bob's session goes direct"
else
	tap_fail "bob's session goes direct" "$(grep -E 'path_switch|ice' "$T/bob.log" | tail -n 3)"
fi
sleep 0.5 # the relay path's last packets after the move
direct_pingpong "direct, TCP forward" "$KIT" tcp-rtt "$L:$F_DECHO" "$N" 64
direct_pingpong "direct, UDP forward" "$KIT" udp-ping "$L:$F_DUECHO" "$N" 64 1

# A bulk transfer: what arrives in one batch of packets goes to the socket in one
# write (src/app/fwd_tcp.h, zt_tcpfwd_flush_due). 16 MiB echoed through bob's direct
# TCP forward; bob writes the echo to the kit's socket in writes of at least
# MIN_WRITE bytes on average (one write per packet before, about 1.3 KB each).
MIN_WRITE=4096
head -c $((16 << 20)) /dev/urandom >"$T/bulk"
hup_stats bob
w0=$(stat_of bob tcp_writes) o0=$(stat_of bob tcp_bytes_out)
timeout 60 "$KIT" tcp-send "$L:$F_DECHO" "$T/bulk" >"$T/bulk.back" 2>"$T/bulk.err"
hup_stats bob
w1=$(stat_of bob tcp_writes) o1=$(stat_of bob tcp_bytes_out)
writes=$((w1 - w0)) bytes=$((o1 - o0))
tap_diag "16 MiB echoed: $bytes bytes to the socket in $writes writes"
if ! cmp -s "$T/bulk" "$T/bulk.back"; then
	tap_fail "a bulk echo through the direct TCP forward" \
		"$(stat -c %s "$T/bulk.back") bytes came back, not the 16 MiB sent: $(head -c 200 "$T/bulk.err")"
elif [ "$writes" -gt 0 ] && [ $((bytes / writes)) -ge $MIN_WRITE ]; then
	tap_ok "a bulk echo, intact, goes to the socket in writes of $((bytes / writes)) bytes on average (>= $MIN_WRITE)"
else
	tap_fail "bulk writes to the socket" "$bytes bytes in $writes writes: under $MIN_WRITE per write"
fi

if progs_alive imd && progs_alive alice && progs_alive bob && progs_alive c1 && progs_alive c2; then
	tap_ok "every program still runs"
else
	tap_fail "every program still runs"
fi
