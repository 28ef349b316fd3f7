#!/bin/bash
# Reloading the Intermediate (SIGHUP, systemctl reload; docs/install.md), on loopback:
#
#   socat --> ztna-agent alice --.
#                                 +--> ztna-intermediate --config imd.conf --> ztna-connector c1 --> echo
#   socat --> ztna-agent bob   --'     (clients file, allow and serve rules in files)
#
# Checks: alice removed from the clients file + SIGHUP: the Intermediate logs the
# reload, alice is told she is revoked within 3 s and cannot log in again, her
# forward stops working; bob's session goes on on the same connection (no second
# login in his log) and still echoes. A clients file with a bad line: the reload
# fails naming file and line, nothing changes, bob still works. bob's allow rule
# removed from the config file + SIGHUP: bob's session ends (policy), he stays logged
# in. A changed --listen in the file is named as needing a restart.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
tap_plan 7

. tests/lib/progs.sh
progs_init reload

P_IMD=$PORT P_ECHO=$((PORT + 10)) F_A=$((PORT + 20)) F_B=$((PORT + 21))
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --agent alice --agent bob \
	--connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
(umask 077; printf 'agent:alice:ta\nagent:bob:tb\nconnector:c1:tc\n' >"$T/clients")
conf() { # conf [LISTEN]: the Intermediate's config file
	cat >"$T/imd.conf" <<EOC
listen = ${1:-$L:$P_IMD}
tcp-listen = off
stun-port = off
pki = $T/pki/intermediate
clients-file = $T/clients
serve = c1=echo
allow = alice=echo
$2
EOC
}
conf "" "allow = bob=echo"
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start imd "$B/ztna-intermediate" --config "$T/imd.conf"
progs_start conn "$B/ztna-connector" --intermediate "$L:$P_IMD" --transport udp --direct off \
	--pki "$T/pki/connector-c1" --name c1 --token tc --service "echo=tcp:$L:$P_ECHO" --control none
progs_start alice "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport udp --direct off \
	--pki "$T/pki/agent-alice" --name alice --token ta --forward "tcp:$L:$F_A=echo" --control none
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport udp --direct off \
	--pki "$T/pki/agent-bob" --name bob --token tb --forward "tcp:$L:$F_B=echo" --control none
echo_via() { echo "$2" | timeout 5 socat -t 3 - "TCP:$L:$1" 2>/dev/null; }
for w in alice bob conn; do wait_log "$T/$w.log" 'event=connected' 10; done
a1=$(echo_via $F_A "alice 1") b1=$(echo_via $F_B "bob 1")
logins_b=$(count_log "$T/bob.log" 'event=connected')

# 1. alice out of the clients file
(umask 077; printf 'agent:bob:tb\nconnector:c1:tc\n' >"$T/clients")
sleep 3 # idle: no timer of the Intermediate's due soon (ACKs, losses), keepalives 25 s
t0=$(date +%s.%N)
kill -HUP "${PIDS[imd]}"
wait_log "$T/imd.log" 'event=reload result=ok' 5
grep -q 'event=reload result=ok .*clients_revoked=1 sessions_ended=1' "$T/imd.log" &&
	[ "$a1" = "alice 1" ] && [ "$b1" = "bob 1" ] &&
	tap_ok "SIGHUP: reloaded, alice revoked, her session ended" ||
	tap_fail "reload revokes alice" "echo '$a1' '$b1'; $(grep 'event=reload' "$T/imd.log")"
# at once: the reload's ERROR goes out with the reload (it used to wait for the
# Intermediate's next event: a keepalive, up to 25 s away when all are idle)
wait_log "$T/alice.log" 'revoked' 3
el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
grep -q 'revoked' "$T/alice.log" && awk -v e="$el" 'BEGIN { exit !(e < 1.0) }' && sleep 1 &&
	[ -z "$(echo_via $F_A "alice 2")" ] &&
	tap_ok "alice is told she is revoked (after ${el}s, < 1 s) and her forward stops" ||
	tap_fail "alice told at once" "after ${el}s: $(grep -m 3 -E 'revoked|login_refused|closed' "$T/alice.log")"
sleep 2
b2=$(echo_via $F_B "bob 2")
[ "$b2" = "bob 2" ] && [ "$(count_log "$T/bob.log" 'event=connected')" = "$logins_b" ] &&
	tap_ok "bob's session goes on, on the same connection (no new login)" ||
	tap_fail "bob untouched" "'$b2', logins $(count_log "$T/bob.log" 'event=connected') vs $logins_b"
grep -q 'auth_failed\|login_refused\|ZT_EAUTH\|authentication failed' "$T/alice.log" &&
	tap_ok "alice's next login is refused" ||
	tap_fail "alice cannot log in again" "$(tail -n 3 "$T/alice.log")"

# 2. a clients file with a bad line: nothing changes
(umask 077; printf 'agent:bob:tb\nconnector:c1:tc\nrobot:x:y\n' >"$T/clients")
kill -HUP "${PIDS[imd]}"
wait_log "$T/imd.log" 'event=reload result=failed' 5
b3=$(echo_via $F_B "bob 3")
grep -q "event=reload result=failed error=.*$T/clients:3" "$T/imd.log" && [ "$b3" = "bob 3" ] &&
	tap_ok "a bad clients file: reload fails naming file:line, bob still works" ||
	tap_fail "bad file on reload" "'$b3' $(grep 'event=reload' "$T/imd.log" | tail -n 1)"

# 3. bob's allow rule gone, and a listen change that needs a restart
(umask 077; printf 'agent:bob:tb\nconnector:c1:tc\n' >"$T/clients")
conf "$L:$((P_IMD + 40))" ""
kill -HUP "${PIDS[imd]}"
wait_log "$T/imd.log" 'event=reload result=ok' 5 2
grep -q 'event=reload result=ok .*clients_revoked=0 sessions_ended=1' "$T/imd.log" &&
	wait_log "$T/bob.log" 'event=session_closed .*reason=1501' 3 && [ -z "$(echo_via $F_B "bob 4")" ] &&
	[ "$(count_log "$T/bob.log" 'event=connected')" = "$logins_b" ] &&
	tap_ok "bob's allow rule removed: his session ends, he stays logged in" ||
	tap_fail "allow rule removed" "$(grep 'event=reload' "$T/imd.log" | tail -n 1)"
[ "$(count_log "$T/imd.log" 'event=reload restart_needed_for')" = 1 ] &&
	grep -q 'event=reload restart_needed_for=listen ' "$T/imd.log" &&
	tap_ok "a changed listen address is named as needing a restart" ||
	tap_fail "restart needed named" "$(grep 'event=reload' "$T/imd.log")"
