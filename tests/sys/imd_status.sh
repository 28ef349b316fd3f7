#!/bin/bash
# The Intermediate's control socket (docs/control-socket.md): ztna status
# --intermediate lists its clients and sessions with their relay counters.
#
#   echo <-- ztna-connector c1 ---.
#                                  +--> ztna-intermediate (--control $T/imd.sock)
#   bash --> ztna-agent alice -----'     (direct off for alice: the session is relayed)
#   bash --> ztna-agent bob ------'       (bob's session goes direct)
#
# Checks: exit 0 while it serves (text, --raw, --json); the JSON lists both clients
# with their identities, kinds, addresses and the connector's service, and the session
# with its ends and path; relayed bytes grow after traffic, and the rate over the
# last seconds is above 0; a second Intermediate with the same --control refuses to
# start and names the socket; bob's session shows path=direct once bob's path report
# said so, the first still answers; with nobody behind the socket
# status exits 2; a stale socket (the program killed) is replaced at the next start.
# Also: ztna ping's usage names DURATION for -i and --timeout.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
N=11
tap_plan $N

. tests/lib/progs.sh
progs_init imd-status
command -v jq >/dev/null || { for i in $(seq $N); do tap_skip "imd status $i" "jq is not installed (tools/deps.sh lab)"; done; exit 0; }

P_IMD=$PORT P_IMD2=$((PORT + 2)) P_ECHO=$((PORT + 10)) F_ECHO=$((PORT + 20)) F_BOB=$((PORT + 21))
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --agent alice \
	--agent bob --connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
IMD_ARGS=(--tcp-listen off --stun-port off --pki "$T/pki/intermediate"
	--client agent:alice:ta --client agent:bob:tb --client connector:c1:tc
	--allow alice=echo --allow bob=echo --serve c1=echo
	--limit agent:alice=direct:off)
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" "${IMD_ARGS[@]}" --control "$T/imd.sock"
progs_start conn "$B/ztna-connector" --intermediate "$L:$P_IMD" --transport udp \
	--pki "$T/pki/connector-c1" --name c1 --token tc --service "echo=tcp:$L:$P_ECHO" \
	--control none
progs_start agent "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport udp \
	--pki "$T/pki/agent-alice" --name alice --token ta --forward "tcp:$L:$F_ECHO=echo" \
	--control none

st() { "$B/ztna" status --intermediate --control "$T/imd.sock" "$@"; }
# 1. serving, both clients logged in
n=0
for _ in $(seq 150); do
	j=$(st --json 2>/dev/null) && n=$(jq -r '.clients | length' <<<"$j") && [ "$n" = 2 ] && break
	sleep 0.1
done
st >"$T/text" 2>&1; r1=$?
st --raw >"$T/raw" 2>&1; r2=$?
st --json >/dev/null 2>&1; r3=$?
[ "$n" = 2 ] && [ $r1 = 0 ] && [ $r2 = 0 ] && [ $r3 = 0 ] && grep -q '^node role=intermediate ' "$T/raw" &&
	tap_ok "serving: exit 0 (text, --raw, --json), both clients listed" ||
	tap_fail "serving: exit 0" "clients $n, exits $r1 $r2 $r3 $(head -c 600 "$T/raw") $(tail -n 3 "$T/imd.log")"

# 2. the clients
j=$(st --json)
tap_diag "$j"
[ "$(jq -r '.ready' <<<"$j")" = true ] && [ "$(jq -r '.node.role' <<<"$j")" = intermediate ] &&
	[ "$(jq -r '.node.clients' <<<"$j")" = 2 ] &&
	[ "$(jq -r '.clients[] | select(.kind == "agent") | .identity' <<<"$j")" = ztna:agent:alice ] &&
	[ "$(jq -r '.clients[] | select(.kind == "connector") | .identity' <<<"$j")" = ztna:connector:c1 ] &&
	[ "$(jq -r '.clients[] | select(.kind == "connector") | .services' <<<"$j")" = echo ] &&
	jq -re 'all(.clients[]; (.remote | test("^127\\.[0-9.]+:[0-9]+$")) and (.client | type == "string")
		and (.connected_ms | type == "number"))' <<<"$j" >/dev/null &&
	tap_ok "clients: alice (agent) and c1 (connector, serving echo), their addresses" ||
	tap_fail "clients in --json" "$j"

# 3. a session after traffic, relayed
out=$(echo "hello imd" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO")
j=$(st --json)
b1=$(jq -r '.sessions[0].relay_bytes' <<<"$j")
[ "$out" = "hello imd" ] && [ "$(jq -r '.sessions | length' <<<"$j")" = 1 ] &&
	[ "$(jq -r '.sessions[0].service' <<<"$j")" = echo ] &&
	[ "$(jq -r '.sessions[0].agent' <<<"$j")" = ztna:agent:alice ] &&
	[ "$(jq -r '.sessions[0].connector' <<<"$j")" = ztna:connector:c1 ] &&
	[ "$(jq -r '.sessions[0].path' <<<"$j")" = relay ] &&
	jq -re '.sessions[0].session | test("^[0-9a-f]{8}$")' <<<"$j" >/dev/null &&
	[ "${b1:-0}" -gt 0 ] 2>/dev/null &&
	tap_ok "the session: echo, alice to c1, relayed, $b1 bytes so far" ||
	tap_fail "the session in --json" "out '$out' $j"

# 4. the bytes grow with traffic; the rate follows
nb1=$(jq -r '.node.relay_bytes' <<<"$j")
head -c 300000 /dev/urandom >"$T/blob"
timeout 20 socat -t 5 - "TCP:$L:$F_ECHO" <"$T/blob" >"$T/blob.back"
j=$(st --json)
b2=$(jq -r '.sessions[0].relay_bytes' <<<"$j") nb2=$(jq -r '.node.relay_bytes' <<<"$j")
rate=$(jq -r '.node.relay_bytes_rate' <<<"$j") win=$(jq -r '.node.rate_window_ms' <<<"$j")
cmp -s "$T/blob" "$T/blob.back" && [ "$b2" -ge $((b1 + 600000)) ] && [ "$nb2" -ge $((nb1 + 600000)) ] &&
	[ "$rate" -gt 0 ] && [ "$win" -gt 0 ] &&
	tap_ok "relayed bytes grow with 300 kB each way: session $b1 -> $b2, node $nb1 -> $nb2, $rate B/s over $win ms" ||
	tap_fail "relayed bytes grow" "session $b1 -> $b2, node $nb1 -> $nb2, rate $rate window $win"

# 5. the text
grep -q '^intermediate: ready, udp ' "$T/text" && st | grep -q 'ztna:connector:c1 .* connector .* echo' &&
	st | grep -Eq '^echo +ztna:agent:alice +ztna:connector:c1 +relay ' &&
	tap_ok "the text: node, client and session tables" || tap_fail "the text" "$(st 2>&1)"

# 6. bob goes direct: the Intermediate shows it (the agent's path report)
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport udp \
	--pki "$T/pki/agent-bob" --name bob --token tb --forward "tcp:$L:$F_BOB=echo" --control none
wait_log "$T/bob.log" 'event=connected' 10
out=$(echo "hello direct" | timeout 10 socat -t 5 - "TCP:$L:$F_BOB")
p=
for _ in $(seq 200); do
	j=$(st --json)
	p=$(jq -r '.sessions[] | select(.agent == "ztna:agent:bob") | .path' <<<"$j")
	[ "$p" = direct ] && break
	sleep 0.1
done
[ "$out" = "hello direct" ] && [ "$p" = direct ] && [ "$(jq -r '.clients | length' <<<"$j")" = 3 ] &&
	[ "$(jq -r '.sessions[] | select(.agent == "ztna:agent:alice") | .path' <<<"$j")" = relay ] &&
	tap_ok "bob's session: path=direct at the Intermediate, alice's still relay; 3 clients" ||
	tap_fail "bob's session direct" "out '$out' path '$p' $(grep path_ "$T/bob.log" | tail -n 2) $j"

# 7. a second Intermediate with the same --control refuses, the first keeps it
timeout 10 "$B/ztna-intermediate" --listen "$L:$P_IMD2" "${IMD_ARGS[@]}" --control "$T/imd.sock" >/dev/null 2>"$T/imd2.log"; r=$?
[ $r != 0 ] && grep -q "control socket $T/imd.sock" "$T/imd2.log" && grep -q 'another program uses it' "$T/imd2.log" &&
	st >/dev/null 2>&1 &&
	tap_ok "a second Intermediate with the same --control refuses to start (exit $r), the first answers" ||
	tap_fail "second Intermediate, same --control" "exit $r: $(tail -n 2 "$T/imd2.log")"

# 8. nobody behind the socket: exit 2
progs_stop imd KILL
st >/dev/null 2>&1; r1=$?
st --json >/dev/null 2>&1; r2=$?
[ -S "$T/imd.sock" ] && [ $r1 = 2 ] && [ $r2 = 2 ] &&
	tap_ok "a stale socket with nobody behind it: exit 2" || tap_fail "nobody behind: exit 2" "$r1 $r2"

# 9. the stale socket is replaced at the next start (the path from a config file); a
# reload that changes it says a restart is needed and keeps the socket
echo "control = $T/imd.sock" >"$T/imd.conf"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" "${IMD_ARGS[@]}" --config "$T/imd.conf"
ok=
for _ in $(seq 100); do st >/dev/null 2>&1 && ok=1 && break; sleep 0.1; done
echo "control = $T/other.sock" >"$T/imd.conf"
kill -HUP "${PIDS[imd]}"
wait_log "$T/imd.log" 'event=reload result=ok' 5
[ -n "$ok" ] && grep -q 'event=reload restart_needed_for=control ' "$T/imd.log" && st >/dev/null 2>&1 &&
	tap_ok "the stale socket replaced (control from a config file); a reload changing it: restart_needed_for=control, the socket stays" ||
	tap_fail "stale socket replaced; reload" "$(tail -n 3 "$T/imd.log")"

# 10. stopped cleanly: the socket file goes, status exits 2
progs_stop imd
st >/dev/null 2>&1; r=$?
[ ! -e "$T/imd.sock" ] && [ $r = 2 ] && tap_ok "stopped: socket removed, exit 2" ||
	tap_fail "stopped: socket removed, exit 2" "rc $r $(ls -l "$T/imd.sock" 2>&1)"

# 11. ztna ping's usage
u=$("$B/ztna" ping --help 2>&1)
grep -q -- '-i DURATION' <<<"$u" && grep -q -- '--timeout DURATION' <<<"$u" && ! grep -q SECONDS <<<"$u" &&
	tap_ok "ztna ping's usage: -i DURATION, --timeout DURATION" || tap_fail "ping usage" "$u"
