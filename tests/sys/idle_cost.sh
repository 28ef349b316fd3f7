#!/bin/bash
# Idle cost with the programs' default keepalives: an idle agent, an idle connector
# and an idle session on the direct path (one TCP connection open through the
# forward, nothing sent) each cost at most 10 B/s on the wire, IP and UDP headers
# included (28 bytes per datagram), and each still sends its keepalive (at least one
# round in the window). On loopback, unprivileged:
#
#   echo <-- connector c1 (127.d.e.f) --[tap C]--.
#                  ^                              +-- intermediate (127.a.b.c)
#                  | direct                       |
#   bash fd 3 --> agent alice (127.g.h.i) --[tap A]--'
#
# The outer connections are counted by the taps (zt-testkit tap); the direct path by
# the connector: its UDP socket's datagrams and bytes (rx=/tx=/rx_bytes=/tx_bytes= of
# its stats line, SIGHUP) less what tap C carried. Window: IDLE_WINDOW seconds (50),
# after 5 s of settling. Before this (keepalive 5 s to the Intermediate, consent checks
# every 15 s from both ends beside the end-to-end keepalive) an idle agent cost about
# 25 B/s and an idle direct session 50-60 B/s. ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
KIT=$B/bench/zt-testkit
W=${IDLE_WINDOW:-50}
MAX=10
tap_plan 7
progs_init idle-cost

LA=$(rnd_ip) LC=$(rnd_ip)
# (the Intermediate answers STUN on its port + 1)
P_IMD=$PORT P_TAPA=$((PORT + 3)) P_TAPC=$((PORT + 5)) P_ECHO=$((PORT + 10)) F_ECHO=$((PORT + 20))
TOK=tok-$RANDOM

"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo --agent alice --connector c1 \
	>/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start tapa "$KIT" tap "$L:$P_TAPA" "$L:$P_IMD" none "$T/tapa.stats"
progs_start tapc "$KIT" tap "$L:$P_TAPC" "$L:$P_IMD" none "$T/tapc.stats"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --pki "$T/pki/intermediate" \
	--client "agent:alice:$TOK" --client "connector:c1:$TOK" --allow alice=echo --serve c1=echo
wait_log "$T/imd.log" 'event=start ' 5
sleep 0.2 # the taps bind
# no keepalive option: the defaults are what this measures
progs_start c1 "$B/ztna-connector" --intermediate "$L:$P_TAPC" --bind "$LC" \
	--pki "$T/pki/connector-c1" --name c1 --token "$TOK" --transport udp --control none \
	--service "echo=tcp:$L:$P_ECHO"
progs_start alice "$B/ztna-agent" --intermediate "$L:$P_TAPA" --bind "$LA" \
	--pki "$T/pki/agent-alice" --name alice --token "$TOK" --transport udp \
	--control "$T/alice.sock" --forward "tcp:$L:$F_ECHO=echo"

if wait_log "$T/c1.log" 'event=connected' 20 && wait_log "$T/alice.log" 'event=connected' 20; then
	tap_ok "the agent and the connector connect through their taps"
else
	tap_fail "the agent and the connector connect" "$(tail -n 2 "$T/alice.log" "$T/c1.log")"
fi

# echo_line TEXT: TEXT through the held connection (fd 3) and back; 0 when it came back
echo_line() {
	local got
	printf '%s\n' "$1" >&3 || return 1
	IFS= read -r -t 10 got <&3 || return 1
	[ "$got" = "$1" ]
}
# ok_when RC NAME WHY: tap_ok when RC (pass $?) is 0
ok_when() {
	if [ "$1" = 0 ]; then tap_ok "$2"; else tap_fail "$2" "$(tr '\n' ' ' <<<"$3")"; fi
}
exec 3<>"/dev/tcp/$L/$F_ECHO" || exit 1
echo_line "first" && wait_log "$T/alice.log" 'event=path_switch.*to=direct' 10 && echo_line "on direct"
ok_when $? "a TCP connection through the forward echoes, and its session goes direct" \
	"$(grep -E 'path_|ice_' "$T/alice.log" | tail -n 3)"

# tap_snap NAME: "DATAGRAMS BYTES" the tap carried so far, both ways
tap_snap() {
	tap_dump "$1"
	awk '/^to_upstream|^to_clients/ {p += $2} /^bytes/ {b = $2} END {print p + 0, b + 0}' "$T/$1.stats"
}
# sock_snap NAME: "DATAGRAMS BYTES" of the program's UDP socket so far, both ways
sock_snap() {
	hup_stats "$1"
	echo "$(($(stat_of "$1" rx) + $(stat_of "$1" tx))) $(($(stat_of "$1" rx_bytes) + $(stat_of "$1" tx_bytes)))"
}
now_s() { date +%s.%N; }
# rate PKTS BYTES SECONDS: IP bytes per second (28 bytes of headers per datagram)
rate() { echo "scale=1; ($2 + 28 * $1) / $3" | bc; }
# idle_check NAME PKTS BYTES SECONDS
idle_check() {
	local r
	r=$(rate "$2" "$3" "$4")
	if [ "$2" -ge 2 ] && [ "$(echo "$r <= $MAX" | bc)" = 1 ]; then
		tap_ok "$1: $r B/s (<= $MAX B/s), $2 datagrams, $3 bytes of UDP payload in $4 s"
	else
		tap_fail "$1: at most $MAX B/s and at least one keepalive round" \
			"$r B/s: $2 datagrams, $3 bytes of UDP payload in $4 s"
	fi
}

sleep 5
read -r a0p a0b <<<"$(tap_snap tapa)"
read -r c0p c0b <<<"$(tap_snap tapc)"
read -r s0p s0b <<<"$(sock_snap c1)"
t0=$(now_s)
tap_diag "idle for $W s"
sleep "$W"
read -r a1p a1b <<<"$(tap_snap tapa)"
read -r c1p c1b <<<"$(tap_snap tapc)"
read -r s1p s1b <<<"$(sock_snap c1)"
el=$(echo "scale=1; ($(now_s) - $t0) / 1" | bc)
idle_check "idle agent <-> Intermediate" $((a1p - a0p)) $((a1b - a0b)) "$el"
idle_check "idle connector <-> Intermediate" $((c1p - c0p)) $((c1b - c0b)) "$el"
idle_check "idle session on the direct path (both ways)" $(((s1p - s0p) - (c1p - c0p))) \
	$(((s1b - s0b) - (c1b - c0b))) "$el"

st=$("$B/ztna" status --control "$T/alice.sock" --raw 2>&1 | grep '^session=')
echo_line "after $W s idle" && grep -q ' path=direct .*switches=1 ' <<<"$st"
ok_when $? "after the idle window the connection still echoes, on the direct path (1 switch)" "$st"
n=$(count_log "$T/alice.log" 'event=connected')
lost=$(grep -hc 'event=ice_consent_lost\|action=go-relay' "$T/alice.log" "$T/c1.log" | paste -sd+ | bc)
[ "$n" = 1 ] && [ "$lost" = 0 ]
ok_when $? "no reconnect to the Intermediate, no consent lost, no fallback" \
	"connected $n times; $(grep -h 'consent\|go-relay\|event=disconnected' "$T/alice.log" "$T/c1.log" | head -n 3)"
exec 3>&-
