#!/bin/bash
# The relay channel (docs/relay-channel.md) with the real programs, on loopback,
# unprivileged. Each client's datagrams to the Intermediate pass a tap (zt-testkit
# tap) that counts channel datagrams (first byte 0x0C) each way, can rebind (a new
# upstream port: a NAT rebinding) and can send a channel datagram from the client's
# own address:
#
#   kit --> alice (auto)                --[tap A]--.
#           bob   (auto)                --[tap B]--+-- ztna-intermediate 1 --[tap C]-- c1 (auto) --> sink, source, uecho
#           carol (--relay-channel off) --[tap D]--+   (channel on; TCP port +1)
#           dave  (--transport tcp)     ------------'
#   kit --> erin  (auto) --[tap E]-- ztna-intermediate 2 (--relay-channel off) -- c2 --> sink
#
# Checks: with both ends and the Intermediate agreeing, 1 MiB each way through a TCP
# forward and 200 UDP datagrams go intact as channel data both ways (the taps' counts,
# the Intermediate's relay_chan_* counters); --relay-channel off at an agent or at the
# Intermediate falls back to DATAGRAMs (no channel datagram at that tap) and works;
# an agent on TLS/TCP works with a connector on the channel; a spoofed channel
# datagram (the right session id from another address; an agent's own address with
# another agent's session) is dropped and counted, the sessions unaffected; a
# rebinding in the middle of an 8 MiB transfer costs about a second, not the transfer.
# ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
KIT=$B/bench/zt-testkit
tap_plan 14
progs_init relay-channel

# (the Intermediates answer STUN on their port + 1)
P_IMD=$PORT P_TCP=$((PORT + 2)) P_IMD2=$((PORT + 4))
P_TAPA=$((PORT + 6)) P_TAPB=$((PORT + 7)) P_TAPC=$((PORT + 8)) P_TAPD=$((PORT + 9))
P_TAPE=$((PORT + 10))
P_SINK=$((PORT + 12)) P_SRC=$((PORT + 13)) P_UECHO=$((PORT + 14))
F_A_SINK=$((PORT + 20)) F_A_SRC=$((PORT + 21)) F_A_UECHO=$((PORT + 22)) F_B_UECHO=$((PORT + 23))
F_C_SINK=$((PORT + 24)) F_D_SINK=$((PORT + 25)) F_E_SINK=$((PORT + 26))
TOK=tok-$RANDOM

"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --connector c1=sink,source,uecho \
	--connector c2=sink --agent alice --agent bob --agent carol --agent dave --agent erin \
	>/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 1M /dev/urandom >"$T/one"
ONE="1048576 $(sha256sum "$T/one" | cut -c1-64)"
head -c 8M /dev/urandom >"$T/eight"
EIGHT="8388608 $(sha256sum "$T/eight" | cut -c1-64)"

progs_start sink "$KIT" tcp-sink "$L:$P_SINK"
progs_start source "$KIT" tcp-source "$L:$P_SRC" "$T/one"
progs_start uecho "$KIT" udp-echo "$L:$P_UECHO"
for t in a b c d; do
	port_var=P_TAP${t^^}
	progs_start "tap$t" "$KIT" tap "$L:${!port_var}" "$L:$P_IMD" none "$T/tap$t.stats"
done
progs_start tape "$KIT" tap "$L:$P_TAPE" "$L:$P_IMD2" none "$T/tape.stats"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --tcp-listen "$L:$P_TCP" \
	--pki "$T/pki/intermediate" --client "agent:alice:$TOK" --client "agent:bob:$TOK" \
	--client "agent:carol:$TOK" --client "agent:dave:$TOK" --client "connector:c1:$TOK" \
	--allow alice=sink,source,uecho --allow bob=uecho --allow carol=sink --allow dave=sink \
	--serve c1=sink,source,uecho
progs_start imd2 "$B/ztna-intermediate" --listen "$L:$P_IMD2" --tcp-listen off \
	--pki "$T/pki/intermediate" --client "agent:erin:$TOK" --client "connector:c2:$TOK" \
	--allow erin=sink --serve c2=sink --relay-channel off
wait_log "$T/imd.log" 'event=start ' 5
wait_log "$T/imd2.log" 'event=start ' 5
sleep 0.2 # the taps bind
COMMON=(--token "$TOK" --control none --direct off)
progs_start c1 "$B/ztna-connector" --intermediate "$L:$P_TAPC" --pki "$T/pki/connector-c1" \
	--name c1 "${COMMON[@]}" --transport udp --service "sink=tcp:$L:$P_SINK" \
	--service "source=tcp:$L:$P_SRC" --service "uecho=udp:$L:$P_UECHO"
progs_start c2 "$B/ztna-connector" --intermediate "$L:$P_IMD2" --pki "$T/pki/connector-c2" \
	--name c2 "${COMMON[@]}" --transport udp --service "sink=tcp:$L:$P_SINK"
# alice --keepalive 5s: a transfer that ends before the refresh rule fires (8 MiB on
# loopback can take 0.5 s) leaves her new address to her next keepalive (check 12
# waits 5 s; the default is 25 s)
progs_start alice "$B/ztna-agent" --intermediate "$L:$P_TAPA" --pki "$T/pki/agent-alice" \
	--name alice "${COMMON[@]}" --keepalive 5s --transport udp --forward "tcp:$L:$F_A_SINK=sink" \
	--forward "tcp:$L:$F_A_SRC=source" --forward "udp:$L:$F_A_UECHO=uecho"
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_TAPB" --pki "$T/pki/agent-bob" \
	--name bob "${COMMON[@]}" --transport udp --forward "udp:$L:$F_B_UECHO=uecho"
progs_start carol "$B/ztna-agent" --intermediate "$L:$P_TAPD" --pki "$T/pki/agent-carol" \
	--name carol "${COMMON[@]}" --transport udp --relay-channel off \
	--forward "tcp:$L:$F_C_SINK=sink"
progs_start dave "$B/ztna-agent" --intermediate "$L:$P_IMD" --intermediate-tcp "$L:$P_TCP" \
	--pki "$T/pki/agent-dave" --name dave "${COMMON[@]}" --transport tcp \
	--forward "tcp:$L:$F_D_SINK=sink"
progs_start erin "$B/ztna-agent" --intermediate "$L:$P_TAPE" --pki "$T/pki/agent-erin" \
	--name erin "${COMMON[@]}" --transport udp --forward "tcp:$L:$F_E_SINK=sink"

# 1. Everyone logs in.
up=0 down=
for n in c1 c2 alice bob carol dave erin; do
	if wait_log "$T/$n.log" 'event=connected' 20; then
		up=$((up + 1))
	else
		down="$down $n: $(tail -n 2 "$T/$n.log" | tr '\n' ' ');"
	fi
done
[ "$up" -eq 7 ] && tap_ok "five agents and two connectors log in" ||
	tap_fail "five agents and two connectors log in" "$down"

# tap_chan NAME: "TO_UPSTREAM TO_CLIENTS" channel datagrams of a tap, now.
tap_chan() {
	rm -f "$T/$1.stats"
	kill -USR1 "${PIDS[$1]}"
	for _ in $(seq 30); do
		[ -s "$T/$1.stats" ] && break
		sleep 0.1
	done
	awk '/^chan_to_upstream/ {u = $2} /^chan_to_clients/ {c = $2} END {print u + 0, c + 0}' \
		"$T/$1.stats"
}

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

# imd_stat KEY: the Intermediate's counter now (a fresh stats line).
imd_stat() {
	hup_stats imd
	stat_of imd "$1"
}

# session_of AGENT SERVICE: the session id (hex) the Intermediate opened for them.
session_of() {
	grep "event=session_open .*service=$2 agent=ztna:agent:$1 " "$T/imd.log" | tail -n 1 |
		sed -n 's/.*session=\([0-9a-f]*\).*/\1/p'
}

# 2-4. The channel both ways: alice's 1 MiB each way and 200 UDP datagrams.
out=$(timeout 30 "$KIT" tcp-send "$L:$F_A_SINK" "$T/one")
[ "$out" = "$ONE" ] && tap_ok "1 MiB agent -> connector intact (TCP forward)" ||
	tap_fail "1 MiB agent -> connector" "got '$out' want '$ONE'"
out=$(timeout 30 "$KIT" tcp-recv "$L:$F_A_SRC")
[ "$out" = "$ONE" ] && tap_ok "1 MiB connector -> agent intact (TCP forward)" ||
	tap_fail "1 MiB connector -> agent" "got '$out' want '$ONE'"
out=$(timeout 30 "$KIT" udp-ping "$L:$F_A_UECHO" 200 64 1)
case $out in
"sent 200 received 200 "*) tap_ok "200 UDP datagrams echoed (UDP forward)" ;;
*) tap_fail "200 UDP datagrams echoed" "$out" ;;
esac

# 5. They went as channel data: at alice's tap and c1's, both ways, and at the
# Intermediate (a DATAGRAM a second per end refreshes the outer path).
read -r au ac <<<"$(tap_chan tapa)"
read -r cu cc <<<"$(tap_chan tapc)"
pkts=$(imd_stat relay_chan_pkts) cout=$(imd_stat relay_chan_out) all=$(stat_of imd relay_pkts)
tap_diag "channel datagrams: alice->imd $au imd->alice $ac c1->imd $cu imd->c1 $cc;" \
	"imd relay_chan_pkts $pkts relay_chan_out $cout relay_pkts $all"
if [ "$au" -gt 700 ] && [ "$ac" -gt 700 ] && [ "$cu" -gt 700 ] && [ "$cc" -gt 700 ] &&
	[ "$pkts" -gt 1400 ] && [ "$cout" -gt 1400 ] && [ $((pkts * 10)) -gt $((all * 9)) ]; then
	tap_ok "relayed as channel data both ways ($au/$ac at alice's tap, $cu/$cc at c1's, $pkts of $all at the Intermediate)"
else
	tap_fail "relayed as channel data both ways" "alice $au/$ac c1 $cu/$cc imd $pkts/$cout of $all"
fi

# 6. --relay-channel off at an agent: carol's DATAGRAMs work, her tap sees no channel.
read -r cu0 cc0 <<<"$(tap_chan tapc)"
out=$(timeout 30 "$KIT" tcp-send "$L:$F_C_SINK" "$T/one")
read -r du dc <<<"$(tap_chan tapd)"
read -r cu1 cc1 <<<"$(tap_chan tapc)"
if [ "$out" = "$ONE" ] && [ "$du" -eq 0 ] && [ "$dc" -eq 0 ] && [ $((cc1 - cc0)) -gt 700 ]; then
	tap_ok "--relay-channel off at the agent: DATAGRAMs, 1 MiB intact (c1's end still on the channel: $((cc1 - cc0)))"
else
	tap_fail "--relay-channel off at the agent" "got '$out'; carol's tap $du/$dc; imd->c1 $((cc1 - cc0))"
fi

# 7. An agent on TLS/TCP with a connector on the channel. 1 MiB is some 780 packets to
# c1; a packet goes as an outer DATAGRAM instead when the channel queue is full (a
# loaded machine: 689 once), so most, not all, must be channel data.
read -r cu0 cc0 <<<"$(tap_chan tapc)"
out=$(timeout 30 "$KIT" tcp-send "$L:$F_D_SINK" "$T/one")
read -r cu1 cc1 <<<"$(tap_chan tapc)"
if [ "$out" = "$ONE" ] && grep -q 'event=connected.*transport=tcp' "$T/dave.log" &&
	[ $((cc1 - cc0)) -gt 400 ]; then
	tap_ok "an agent on TLS/TCP, the connector on the channel: 1 MiB intact ($((cc1 - cc0)) to c1)"
else
	tap_fail "an agent on TLS/TCP, the connector on the channel" "got '$out'; imd->c1 $((cc1 - cc0))"
fi

# 8. --relay-channel off at the Intermediate: erin's tap sees no channel datagram.
out=$(timeout 30 "$KIT" tcp-send "$L:$F_E_SINK" "$T/one")
read -r eu ec <<<"$(tap_chan tape)"
hup_stats imd2
if [ "$out" = "$ONE" ] && [ "$eu" -eq 0 ] && [ "$ec" -eq 0 ] &&
	[ "$(stat_of imd2 relay_chan_pkts)" = 0 ] && [ "$(stat_of imd2 relay_pkts)" -gt 700 ]; then
	tap_ok "--relay-channel off at the Intermediate: DATAGRAMs only, 1 MiB intact"
else
	tap_fail "--relay-channel off at the Intermediate" "got '$out'; erin's tap $eu/$ec"
fi

# 9-10. Spoofed channel data is dropped and counted.
SA=$(session_of alice uecho) SB=$(session_of bob uecho)
timeout 10 "$KIT" udp-ping "$L:$F_B_UECHO" 5 64 1 >/dev/null 2>&1 # bob's session
SB=$(session_of bob uecho)
d0=$(imd_stat relay_chan_dropped_addr)
if [ -n "$SA" ]; then
	# the right session id from another address (not a tap's)
	printf "\\x0c\\x${SA:0:2}\\x${SA:2:2}\\x${SA:4:2}\\x${SA:6:2}AAAAAAAAAAAAAAAAAAAA" \
		>"/dev/udp/$L/$P_IMD"
fi
# counted once the Intermediate has read it: a loaded machine may take a while
for _ in $(seq 20); do
	sleep 0.2
	d1=$(imd_stat relay_chan_dropped_addr)
	[ $((d1 - d0)) -ge 1 ] && break
done
out=$(timeout 30 "$KIT" udp-ping "$L:$F_A_UECHO" 50 64 1)
if [ -n "$SA" ] && [ $((d1 - d0)) -eq 1 ] && [[ $out == "sent 50 received 50 "* ]]; then
	tap_ok "a spoofed source with alice's session id: dropped and counted, her session unaffected"
else
	tap_fail "a spoofed source with alice's session id" "session '$SA' dropped $d0 -> $d1; $out"
fi
[ -n "$SB" ] && tap_do tapa "chan $SB"
sleep 0.3
d2=$(imd_stat relay_chan_dropped_addr)
out=$(timeout 30 "$KIT" udp-ping "$L:$F_B_UECHO" 50 64 1)
if [ -n "$SB" ] && [ $((d2 - d1)) -eq 1 ] && [[ $out == "sent 50 received 50 "* ]]; then
	tap_ok "alice's own address with bob's session id: dropped and counted, his session unaffected"
else
	tap_fail "alice's address with bob's session id" "session '$SB' dropped $d1 -> $d2; $out"
fi

# 11-12. A NAT rebinding in the middle of 8 MiB: the outer path is refreshed within
# about a second (an outer DATAGRAM when nothing ack-eliciting went for 1 s), the
# Intermediate moves to the new address, the transfer goes on.
obs0=$(count_log "$T/imd.log" 'event=observed_address identity=ztna:agent:alice')
t0=$(date +%s%N)
timeout 60 "$KIT" tcp-send "$L:$F_A_SINK" "$T/eight" >"$T/eight.out" 2>&1 &
send_pid=$!
sleep 0.5
tap_do tapa rebind
wait "$send_pid"
t1=$(date +%s%N)
out=$(cat "$T/eight.out")
[ "$out" = "$EIGHT" ] && tap_ok "8 MiB intact across a rebinding ($(((t1 - t0) / 1000000)) ms)" ||
	tap_fail "8 MiB across a rebinding" "got '$out' want '$EIGHT'"
if wait_log "$T/imd.log" 'event=observed_address identity=ztna:agent:alice' 5 $((obs0 + 1)); then
	tap_ok "the Intermediate follows alice to her new address ($(imd_stat relay_chan_dropped_addr) channel datagrams dropped in all)"
else
	tap_fail "the Intermediate follows alice to her new address" "$(grep -c observed_address "$T/imd.log")"
fi

# 13. After it: alice's relayed traffic is on the channel again.
read -r au0 ac0 <<<"$(tap_chan tapa)"
out=$(timeout 30 "$KIT" udp-ping "$L:$F_A_UECHO" 100 64 1)
read -r au1 ac1 <<<"$(tap_chan tapa)"
if [[ $out == "sent 100 received 100 "* ]] && [ $((au1 - au0)) -ge 90 ] && [ $((ac1 - ac0)) -ge 90 ]; then
	tap_ok "after the rebinding: on the channel again ($((au1 - au0))/$((ac1 - ac0)) for 100 round trips)"
else
	tap_fail "after the rebinding: on the channel again" "$out; $((au1 - au0))/$((ac1 - ac0))"
fi

# 14.
alive=1
for n in imd imd2 c1 c2 alice bob carol dave erin; do
	progs_alive "$n" || { alive=; tap_diag "$n exited: $(tail -n 2 "$T/$n.log")"; }
done
[ -n "$alive" ] && tap_ok "every program still runs" || tap_fail "every program still runs"
