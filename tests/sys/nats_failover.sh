#!/bin/bash
# Clients with several Intermediates (docs/scale-out.md), on loopback: c1, alice and bob
# each name A then B (--intermediate twice); A and B share presence through NATS.
#
#   ztna-connector c1 --.                               .-- nats-server
#   ztna-agent alice ----+--> A (home)   ...   B <-----'
#   ztna-agent bob ------'    (bob: direct off, relayed)
#
# Checks: all three at A; alice's session goes direct, bob's relayed; A killed: each
# moves to B (intermediate_failover) with the default timeouts (idle 75 s, keepalive
# 25 s): the silence of A (15 s) and, while relayed data flows, a probe every 3 s:
# all three logged in at B within 20 s; alice's direct session carried traffic all
# along (a transfer running across the kill completes intact); bob's relayed download
# goes on in the same session through B (resumed, not opened again) and arrives whole,
# byte for byte; presence shows all three at B; A back: all three go home
# (--home-retry 2s) and bob's echo works through A again.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
N=6
tap_plan $N

. tests/lib/progs.sh
progs_init nats-failover
. tests/lib/nats.sh
nats_skip_all $N

P_NATS=$PORT P_A=$((PORT + 2)) P_B=$((PORT + 4)) P_SINK=$((PORT + 10)) P_SRC=$((PORT + 11))
P_ECHO=$((PORT + 12)) F_ALICE=$((PORT + 14)) F_BOB=$((PORT + 16))
NATS=nats://$L:$P_NATS
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --service source@c1 \
	--agent alice --agent bob --connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 32 /dev/urandom | base64 >"$T/presence.key"
chmod 600 "$T/presence.key"
head -c 8388608 /dev/urandom >"$T/blob"
progs_start nats nats-server -a "$L" -p "$P_NATS" -js -sd "$T/js"
wait_log "$T/nats.log" "Server is ready" 10 || { tap_fail "nats-server starts" "$(tail -3 "$T/nats.log")"; exit 1; }
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start source "$KIT" tcp-source "$L:$P_SRC" "$T/blob"
imd() { # NAME PORT
	progs_start "imd-$1" "$B/ztna-intermediate" --listen "$L:$2" --tcp-listen off --stun-port off \
		--pki "$T/pki/intermediate" --client agent:alice:ta --client agent:bob:tb \
		--client connector:c1:tc --allow alice=echo,source --allow bob=echo,source --serve c1=echo,source \
		--limit agent:bob=direct:off --control "$T/$1.sock" --nats "$NATS" --nats-name "imd-$1" \
		--presence-key "$T/presence.key" --presence-ttl 6s
}
BOTH=(--intermediate "$L:$P_A" --intermediate "$L:$P_B" --home-retry 2s --transport udp
	--control none)
imd a "$P_A"
imd b "$P_B"
progs_start conn "$B/ztna-connector" "${BOTH[@]}" --pki "$T/pki/connector-c1" --name c1 \
	--token tc --service "echo=tcp:$L:$P_ECHO" --service "source=tcp:$L:$P_SRC"
progs_start alice "$B/ztna-agent" "${BOTH[@]}" --pki "$T/pki/agent-alice" --name alice \
	--token ta --forward "tcp:$L:$F_ALICE=echo" --forward "tcp:$L:$((F_ALICE + 1))=source"
progs_start bob "$B/ztna-agent" "${BOTH[@]}" --pki "$T/pki/agent-bob" --name bob --token tb \
	--forward "tcp:$L:$F_BOB=echo" --forward "tcp:$L:$((F_BOB + 1))=source"

# 1. all three at A (home); alice direct, bob relayed
wait_presence a "^presence=agent.bob imd=imd-a" 15
a1=$(echo hi | timeout 10 socat -t 3 - "TCP:$L:$F_ALICE" 2>&1)
b1=$(echo hi | timeout 10 socat -t 3 - "TCP:$L:$F_BOB" 2>&1)
wait_log "$T/alice.log" "event=path_switch .*to=direct" 10
[ "$a1" = hi ] && [ "$b1" = hi ] && grep -q "event=start .*failover=$L:$P_B" "$T/alice.log" &&
	grep -q "event=path_switch .*to=direct" "$T/alice.log" &&
	! grep -q "event=path_switch .*to=direct" "$T/bob.log" &&
	tap_ok "c1, alice, bob at A (B their failover); alice direct, bob relayed" ||
	tap_fail "home" "a '$a1' b '$b1' $(grep -E 'event=(start|path_switch)' "$T/alice.log" | tail -2)"

# 2. A killed while alice downloads 8 MiB at 1 MiB/s over her direct session, and bob
# the same 8 MiB at 512 KiB/s over his relayed one (kept whole, to compare)
timeout 30 "$KIT" tcp-slow "$L:$((F_ALICE + 1))" 1048576 8 >"$T/dl" 2>&1 &
dl=$!
timeout 60 "$KIT" tcp-slow "$L:$((F_BOB + 1))" 524288 50 "$T/dlb.data" >"$T/dlb" 2>&1 &
dlb=$!
sleep 2
t0=$(date +%s.%N)
progs_stop imd-a KILL
ok=1
for who in conn alice bob; do
	wait_log "$T/$who.log" "event=intermediate_failover .*to=$L:$P_B" 25 || ok=0
done
for who in conn alice bob; do
	wait_log "$T/$who.log" "event=connected .*intermediate=$L:$P_B" 5 || ok=0
done
el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ $ok = 1 ] && awk -v e="$el" 'BEGIN { exit !(e <= 20) }' &&
	tap_ok "A killed: c1, alice and bob moved to B, all logged in there after ${el}s (default timeouts)" ||
	tap_fail "failover" "after ${el}s $(grep -hE 'failover|connected' "$T/conn.log" "$T/alice.log" "$T/bob.log" | tail -4)"

# 3. alice's direct session carried her download across the kill
wait $dl
got=$(grep -o '^[0-9]*' "$T/dl")
[ "${got:-0}" -ge $((7 * 1048576)) ] &&
	tap_ok "alice's download over the direct path went on across the kill ($got bytes in 8 s at 1 MiB/s)" ||
	tap_fail "direct across the kill" "got '$got' $(cat "$T/dl")"

# 4. bob's relayed session resumed through B: the same session (cross_local or
# session_resumed at B, no session_closed), his download went on after the move and
# arrived whole (the relay stalls while the ends move); then 1 MiB echoed intact
wait $dlb
gotb=$(grep -o '^[0-9]*' "$T/dlb")
sid=$(grep -o 'event=session_open session=[0-9a-f]* service=source peer=ztna:connector:c1' "$T/bob.log" |
	head -1 | sed 's/.*session=\([0-9a-f]*\).*/\1/')
head -c 1048576 /dev/urandom >"$T/mb"
timeout 30 socat -t 10 -T 10 - "TCP:$L:$F_BOB" <"$T/mb" >"$T/mb.back" 2>/dev/null
[ "${gotb:-0}" = 8388608 ] && cmp -s "$T/blob" "$T/dlb.data" && cmp -s "$T/mb" "$T/mb.back" &&
	[ -n "$sid" ] && grep -q "event=session_resumed session=$sid .*agent=ztna:agent:bob" "$T/imd-b.log" &&
	! grep -q "event=session_closed session=$sid" "$T/bob.log" &&
	tap_ok "bob's relayed download went on in the same session through B ($sid resumed there): 8 MiB intact; then 1 MiB echoed intact" ||
	tap_fail "relay after failover" "download '$gotb' $(cat "$T/dlb") session '$sid' echo $(stat -c %s "$T/mb.back" 2>/dev/null) $(grep bob "$T/imd-b.log" | tail -3)"

# 5. presence: all three at B now
wait_presence b "^presence=connector.c1 imd=imd-b" 10 && wait_presence b "^presence=agent.alice imd=imd-b" 5 &&
	wait_presence b "^presence=agent.bob imd=imd-b" 5 &&
	tap_ok "presence: c1, alice and bob at imd-b" || tap_fail "presence at B" "$(presence b)"

# 6. A back: a handshake with the home every 2 s completes, and all three log in at A
# again (intermediate_home), each closing B with "moving" (1511), so that B keeps their
# sessions as for a lost connection; whoever comes first, bob's relayed sessions go on
# at A under their ids (resumed there: over a link to B, then local when c1 comes:
# cross_local), none ends; an echo of bob's goes through A in the one session
imd a "$P_A"
t0=$(date +%s.%N)
ok=1
for who in conn alice bob; do
	wait_log "$T/$who.log" "event=intermediate_home home=$L:$P_A" 15 || ok=0
done
for who in conn alice bob; do
	wait_log "$T/$who.log" "event=connected .*intermediate=$L:$P_A" 10 || ok=0
done
el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo_sid=$(grep -o 'event=session_open session=[0-9a-f]* service=echo peer=ztna:connector:c1' "$T/bob.log" |
	head -1 | sed 's/.*session=\([0-9a-f]*\).*/\1/')
wait_log "$T/bob.log" "event=session_resumed session=$echo_sid .*" 5 # (at B, then at A)
sleep 1
b6=$(echo home | timeout 10 socat -t 3 - "TCP:$L:$F_BOB" 2>&1)
resumed=$(grep -c "event=session_resumed session=$echo_sid" "$T/bob.log")
opened=$(grep -c "event=session_open .*service=echo" "$T/bob.log")
[ $ok = 1 ] && [ "$b6" = home ] && [ "$resumed" -ge 2 ] && [ "$opened" = 1 ] &&
	! grep -q "event=session_closed" "$T/bob.log" && wait_presence a "^presence=agent.bob imd=imd-a" 10 &&
	tap_ok "A back: c1, alice and bob at A again after ${el}s (home-retry 2s); bob's sessions went on (echo $echo_sid resumed $resumed times, none ended), his echo through A in it" ||
	tap_fail "back home" "after ${el}s echo '$b6' resumed '$resumed' opened '$opened' $(grep -hE 'home|connected|session_closed' "$T/conn.log" "$T/alice.log" "$T/bob.log" | tail -4) $(presence a)"
