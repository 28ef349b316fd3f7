#!/bin/bash
# Sessions across Intermediates (docs/scale-out.md), on loopback:
#
#   ztna-connector c1 --> ztna-intermediate A <==link== ztna-intermediate B <-- ztna-agent alice
#                                 \________ nats-server (presence) ________/     ztna-agent bob
#                                                                                (direct off)
# Checks: alice (at B) reaches echo, whose connector c1 is at A: B opens a link to A
# (A's address from A's own presence record), A pairs alice with c1 and the two go
# direct; bob's identity has direct off (at B): 2 MiB through the relay both ways,
# intact, relayed A<->B over the link; A refuses carol, whom its policy does not let
# reach echo, and carol's agent says why (A's words); an Intermediate with links off
# (no --link-address, wildcard listen) is named in the refusal; A killed mid-session:
# bob's relayed session waits for its connector (B logs link_down) and a new OPEN fails with a
# clear error, and nothing crashes.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
N=7
tap_plan $N

. tests/lib/progs.sh
progs_init nats-cross
. tests/lib/nats.sh
nats_skip_all $N

P_NATS=$PORT P_MON=$((PORT + 1)) P_A=$((PORT + 2)) P_B=$((PORT + 4)) P_ECHO=$((PORT + 10))
F_ALICE=$((PORT + 12)) F_BOB=$((PORT + 13)) F_CAROL=$((PORT + 14))
NATS=nats://$L:$P_NATS
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 \
	--agent alice --agent bob --agent carol --connector c1 >/dev/null 2>"$T/pki.err" ||
	{ cat "$T/pki.err"; exit 1; }
head -c 32 /dev/urandom | base64 >"$T/presence.key"
chmod 600 "$T/presence.key"

progs_start nats nats-server -a "$L" -p "$P_NATS" -m "$P_MON" -js -sd "$T/js" -n zt-test
wait_log "$T/nats.log" "Server is ready" 10 || { tap_fail "nats-server starts" "$(tail -5 "$T/nats.log")"; exit 1; }
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
imd() { # NAME PORT [ARGS...]
	local name=$1 port=$2
	shift 2
	progs_start "imd-$name" "$B/ztna-intermediate" --listen "$L:$port" --tcp-listen off \
		--stun-port off --pki "$T/pki/intermediate" --client agent:alice:ta \
		--client agent:bob:tb --client agent:carol:tcar --client connector:c1:tc \
		--serve c1=echo --control "$T/$name.sock" --nats "$NATS" \
		--presence-key "$T/presence.key" --presence-ttl 6s --limit agent:bob=direct:off "$@"
}
agent() { # NAME TOKEN FORWARD-PORT
	progs_start "agent-$1" "$B/ztna-agent" --intermediate "$L:$P_B" --transport udp \
		--pki "$T/pki/agent-$1" --name "$1" --token "$2" --control none \
		--forward "tcp:$L:$3=echo"
}
# A lets alice and bob reach echo, not carol; B lets all three (B's policy is not A's)
imd a "$P_A" --nats-name imd-a --allow alice=echo --allow bob=echo
imd b "$P_B" --nats-name imd-b --allow alice=echo --allow bob=echo --allow carol=echo \
	--metrics "$L:$((PORT + 20))"
progs_start conn-c1 "$B/ztna-connector" --intermediate "$L:$P_A" --transport udp \
	--pki "$T/pki/connector-c1" --name c1 --token tc --service "echo=tcp:$L:$P_ECHO" --control none
agent alice ta "$F_ALICE"
agent bob tb "$F_BOB"
agent carol tcar "$F_CAROL"
wait_presence b "^presence=connector.c1 imd=imd-a" 15
wait_presence b "^presence=intermediate.imd-a imd=imd-a addr=$L:$P_A" 10

# 1. alice at B reaches echo at A, and goes direct
out=$(echo hi | timeout 10 socat -t 5 - "TCP:$L:$F_ALICE" 2>&1)
wait_log "$T/agent-alice.log" "path=direct\|event=path_direct\|direct" 10 >/dev/null
[ "$out" = hi ] && grep -q "event=link_up intermediate=imd-a" "$T/imd-b.log" &&
	grep -q "event=session_open .*agent=ztna:agent:alice .*intermediate=imd-a" "$T/imd-b.log" &&
	grep -q "event=session_open .*agent=ztna:agent:alice connector=ztna:connector:c1" "$T/imd-a.log" &&
	tap_ok "alice (at B) reaches echo (c1 at A): B opened a link to A, A paired them" ||
	tap_fail "cross session" "out '$out' B: $(grep -E 'link|cross|session' "$T/imd-b.log" | tail -5) A: $(grep -E 'link|session|auth' "$T/imd-a.log" | tail -5)"

# 2. alice's session went direct (the ends punched as with one Intermediate)
wait_log "$T/imd-a.log" "event=path_report .*identity=ztna:intermediate:[a-z-]* path=direct" 10 &&
	grep -q "event=path_report .*identity=ztna:agent:alice path=direct" "$T/imd-b.log" &&
	tap_ok "alice's session across Intermediates is direct (PATH_REPORT at B, forwarded to A)" ||
	tap_fail "direct across" "$(grep path_report "$T/imd-a.log" "$T/imd-b.log" | tail -4)"

# 3. bob (direct off): 2 MiB each way through the relay, A<->B over the link, intact
head -c 2097152 /dev/urandom >"$T/blob"
timeout 30 socat -t 10 -T 10 - "TCP:$L:$F_BOB" <"$T/blob" >"$T/blob.back" 2>"$T/socat.err"
hup_stats imd-a imd-b
ra=$(stat_of imd-a relay_bytes) rb=$(stat_of imd-b relay_bytes)
cmp -s "$T/blob" "$T/blob.back" && [ "${ra:-0}" -gt 4000000 ] && [ "${rb:-0}" -gt 4000000 ] &&
	tap_ok "bob (direct off): 2 MiB echoed intact through the relay; relayed at A ($ra B) and at B ($rb B)" ||
	tap_fail "relay across" "got $(stat -c %s "$T/blob.back" 2>/dev/null) relay A=$ra B=$rb $(cat "$T/socat.err")"

# 4. carol: B lets her, A's policy does not; the refusal is A's
out=$(echo hi | timeout 10 socat -t 3 - "TCP:$L:$F_CAROL" 2>&1)
wait_log "$T/agent-carol.log" "may not reach" 5
[ "$out" != hi ] && grep -q "agent carol may not reach service echo (policy)" "$T/agent-carol.log" &&
	grep -q "event=cross_refused .*agent=ztna:agent:carol" "$T/imd-b.log" &&
	tap_ok "carol refused by A's policy across the link; her agent logs A's reason" ||
	tap_fail "policy at A" "out '$out' $(grep -i 'refus\|error' "$T/agent-carol.log" | tail -3)"

# 5. the links' counters
hup_stats imd-a imd-b
grep "event=links_stats" "$T/imd-b.log" | tail -1 >"$T/lb"
grep "event=links_stats" "$T/imd-a.log" | tail -1 >"$T/la"
lb=$(cat "$T/lb") la=$(cat "$T/la")
m=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
	"http://$L:$((PORT + 20))/metrics" 2>&1)
pt=ok
command -v promtool >/dev/null && ! promtool check metrics <<<"$m" >"$T/promtool.out" 2>&1 && pt=bad
[ "$(field "$lb" links_opened)" = 1 ] && [ "$(field "$lb" cross_sessions)" -ge 2 ] &&
	[ "$(field "$lb" cross_refused)" -ge 1 ] && [ "$(field "$la" links_in)" = 1 ] &&
	[ "$(field "$la" link_opens)" -ge 3 ] && [ $pt = ok ] &&
	grep -q '^ztna_links_total{event="opened"} 1$' <<<"$m" &&
	grep -Eq '^ztna_cross_sessions_total\{event="answered"\} [2-9]' <<<"$m" &&
	grep -Eq '^ztna_cross_sessions_total\{event="refused"\} [1-9]' <<<"$m" &&
	tap_ok "B opened one link and got 2+ sessions over it, one refusal (stats line and metrics, promtool accepts them); A took one link" ||
	tap_fail "link counters" "B: $lb A: $la promtool $pt $(cat "$T/promtool.out" 2>/dev/null) $(grep -E 'links|cross' <<<"$m")"

# 6. an Intermediate that takes no links: its record has no address, the refusal says so
progs_start imd-c "$B/ztna-intermediate" --listen "0.0.0.0:$((PORT + 6))" --tcp-listen off \
	--stun-port off --pki "$T/pki/intermediate" --client connector:c1:tc --serve c1=echo \
	--control "$T/c.sock" --nats "$NATS" --presence-key "$T/presence.key" --presence-ttl 6s \
	--nats-name imd-c
wait_presence b "^presence=intermediate.imd-c" 5 && bad=1 || bad=0
progs_stop conn-c1
progs_start conn-c1b "$B/ztna-connector" --intermediate "$L:$((PORT + 6))" --transport udp \
	--pki "$T/pki/connector-c1" --name c1 --token tc --service "echo=tcp:$L:$P_ECHO" --control none
wait_presence b "^presence=connector.c1 imd=imd-c" 15
out=$(echo hi | timeout 10 socat -t 3 - "TCP:$L:$F_CAROL" 2>&1)
wait_log "$T/agent-carol.log" "link address is not known" 5
[ $bad = 0 ] && [ "$out" != hi ] && grep -q "connector c1 at Intermediate imd-c (its link address is not known" "$T/agent-carol.log" &&
	tap_ok "c1 at imd-c (wildcard listen, no --link-address): no record for imd-c; refused naming it" ||
	tap_fail "no link address" "bad=$bad out '$out' $(grep -i 'refus\|error' "$T/agent-carol.log" | tail -2)"
progs_stop conn-c1b
progs_stop imd-c

# 7. A killed while alice's direct session and bob's relayed one run: B notices within
# its links' idle time (10 s); bob's session waits for its connector to show up (c1 has
# no other Intermediate: it ends after 30 s, not waited for here); alice's is kept and
# still carries her traffic (the ends need no Intermediate on the direct path)
progs_start conn-c1 "$B/ztna-connector" --intermediate "$L:$P_A" --transport udp \
	--pki "$T/pki/connector-c1" --name c1 --token tc --service "echo=tcp:$L:$P_ECHO" --control none
wait_presence b "^presence=connector.c1 imd=imd-a" 15
( sleep 40 | socat -t 40 - "TCP:$L:$F_BOB" >/dev/null 2>&1 ) &
out=$(echo hi | timeout 10 socat -t 3 - "TCP:$L:$F_ALICE" 2>&1)
for _ in $(seq 100); do [ "$(count_log "$T/agent-alice.log" "event=path_switch .*to=direct")" -gt 0 ] && break; sleep 0.1; done
sleep 1
t0=$(date +%s.%N)
progs_stop imd-a KILL
wait_log "$T/imd-b.log" "event=link_down intermediate=imd-a" 20
el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
out2=$(echo again | timeout 10 socat -t 3 - "TCP:$L:$F_ALICE" 2>&1)
progs_alive imd-b && progs_alive agent-bob && [ "$out" = hi ] && [ "$out2" = again ] &&
	grep -q "event=link_down intermediate=imd-a" "$T/imd-b.log" &&
	grep -q "event=session_kept .*agent=ztna:agent:alice" "$T/imd-b.log" &&
	grep -q "event=session_rehoming .*agent=ztna:agent:bob .*the link to imd-a is gone" "$T/imd-b.log" &&
	awk -v e="$el" 'BEGIN { exit !(e <= 15) }' &&
	tap_ok "A killed: B's link down after ${el}s; bob's relayed session waits for c1 to show up, alice's direct one kept and still echoes" ||
	tap_fail "A killed" "after ${el}s out '$out' '$out2' $(grep -E 'link_down|session_(kept|close|rehoming)' "$T/imd-b.log" | tail -4)"
