#!/bin/bash
# Several Intermediates sharing presence through NATS (docs/scale-out.md), on loopback:
#
#   ztna-connector c1 --> ztna-intermediate A --.
#                                                +-- nats-server (JetStream, bucket
#   ztna-agent alice ---> ztna-intermediate B --'    ztna-presence)
#   ztna-connector c2 --> ztna-intermediate E (another presence key: a forger)
#
# Checks: A and B connect and each shows where both clients are (c1 at A with its
# address, alice at B; `ztna status --presence` too); alice opening echo at B is served
# by c1 at A over a link between the two (tests/sys/nats_cross.sh has the rest); B's metrics say so (promtool accepts them); the bucket keeps a value 6 s (its max age: --presence-ttl); E's records,
# signed with a key that is not the deployment's, and a value published straight to
# the bucket's subject, are refused and counted and change nothing; c1 leaving is seen
# at B within 3 s; c1 logged in at A and again at B: B's newer login keeps the record
# everywhere and A ends its own; A killed (no goodbye): B forgets c1 when its record expires (6 s);
# NATS stopped: B says so and keeps serving its clients, and puts alice's record again
# once NATS is back; an Intermediate whose NATS is unreachable from the start serves
# its clients; --nats without --nats-name or --presence-key, and a presence key file
# others can read, are refused with the fix.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
N=14
tap_plan $N

. tests/lib/progs.sh
progs_init nats-presence
. tests/lib/nats.sh
nats_skip_all $N

P_NATS=$PORT P_MON=$((PORT + 1)) P_A=$((PORT + 2)) P_B=$((PORT + 4)) P_E=$((PORT + 6))
P_F=$((PORT + 8)) P_ECHO=$((PORT + 10))
NATS=nats://$L:$P_NATS
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --service echo@c2 \
	--agent alice --connector c1 --connector c2 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 32 /dev/urandom | base64 >"$T/presence.key"
head -c 32 /dev/urandom | base64 >"$T/evil.key"
chmod 600 "$T/presence.key" "$T/evil.key"

nats_start() {
	progs_start nats nats-server -a "$L" -p "$P_NATS" -m "$P_MON" -js -sd "$T/js" -n zt-test
	wait_log "$T/nats.log" "Server is ready" 10
}
imd() { # NAME PORT [ARGS...]
	local name=$1 port=$2
	shift 2
	progs_start "imd-$name" "$B/ztna-intermediate" --listen "$L:$port" --tcp-listen off \
		--stun-port off --pki "$T/pki/intermediate" --client agent:alice:ta \
		--client connector:c1:tc --client connector:c2:tc2 --allow alice=echo \
		--serve c1=echo --serve c2=echo --control "$T/$name.sock" "$@"
}
connector() { # NAME IMD-PORT TOKEN
	progs_start "conn-$1" "$B/ztna-connector" --intermediate "$L:$2" --transport udp \
		--pki "$T/pki/connector-$1" --name "$1" --token "$3" \
		--service "echo=tcp:$L:$P_ECHO" --control none
}

nats_start || { tap_fail "nats-server starts" "$(tail -5 "$T/nats.log")"; exit 1; }
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
# Records live 6 s here (--presence-ttl; 30 s by default), refreshed every 2 s.
NATS_ARGS=(--nats "$NATS" --presence-key "$T/presence.key" --presence-ttl 6s)
imd a "$P_A" "${NATS_ARGS[@]}" --nats-name imd-a
imd b "$P_B" "${NATS_ARGS[@]}" --nats-name imd-b --metrics "$L:$((PORT + 14))"
connector c1 "$P_A" tc
progs_start agent "$B/ztna-agent" --intermediate "$L:$P_B" --transport udp \
	--pki "$T/pki/agent-alice" --name alice --token ta --control none \
	--forward "tcp:$L:$((PORT + 12))=echo"

# 1. both ready, each sees both clients where they are
ok=0
wait_presence b "^presence=connector.c1 imd=imd-a addr=127\.[0-9.]*:[0-9]" 15 &&
	wait_presence a "^presence=agent.alice imd=imd-b addr=127\.[0-9.]*:[0-9]" 5 && ok=1
pa=$(presence a) pb=$(presence b)
tap_diag "$pb"
[ $ok = 1 ] && [ "$(field "$pa" state)" = ready ] && [ "$(field "$pb" state)" = ready ] &&
	grep -q "^presence=connector.c1 imd=imd-a " <<<"$pa" &&
	grep -q "^presence=agent.alice imd=imd-b " <<<"$pb" &&
	tap_ok "A and B ready; each shows c1 at imd-a (with its address) and alice at imd-b" ||
	tap_fail "presence shared" "A: $pa B: $pb $(tail -3 "$T/imd-a.log")"

# 2. alice (at B) opens echo, whose connector c1 is at A: B links to A, which pairs them
out=$(echo hi | timeout 10 socat -t 3 - "TCP:$L:$((PORT + 12))" 2>&1)
[ "$out" = hi ] && grep -q "event=cross_open .*connector=ztna:connector:c1 intermediate=imd-a" "$T/imd-b.log" &&
	tap_ok "alice opens echo at B: served by c1 at A over a link from B to A" ||
	tap_fail "across A and B" "out '$out' $(grep -i 'refus\|error' "$T/agent.log" | tail -3)"

# 3. ztna status --presence: the same, as an operator reads it (text, JSON, exit 0)
out=$("$B/ztna" status --control "$T/b.sock" --presence 2>&1); r1=$?
js=$("$B/ztna" status --control "$T/b.sock" --presence --json 2>&1); r2=$?
tap_diag "$out"
[ $r1 = 0 ] && [ $r2 = 0 ] && grep -q "^cluster: ready, servers $NATS, bucket ztna-presence, as imd-b" <<<"$out" &&
	grep -Eq "^connector\.c1 +imd-a +127\." <<<"$out" &&
	[ "$(jq -r '.nats.state' <<<"$js" 2>/dev/null)" = ready ] &&
	[ "$(jq -r '.presence | length' <<<"$js" 2>/dev/null)" = 4 ] &&
	tap_ok "ztna status --presence: cluster ready, c1 at imd-a; --json: 4 records (2 clients, 2 Intermediates); exit 0" ||
	tap_fail "status --presence" "$r1 $r2 $out $js"

# 4. B's metrics: the cluster's state, both records, promtool accepts the text
m=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
	"http://$L:$((PORT + 14))/metrics" 2>&1)
pt=ok
command -v promtool >/dev/null && ! promtool check metrics <<<"$m" >"$T/promtool.out" 2>&1 && pt=bad
grep -q '^ztna_cluster_state{state="ready"} 1$' <<<"$m" && grep -q '^ztna_presence_records 4$' <<<"$m" &&
	grep -q '^ztna_presence_published 2$' <<<"$m" && grep -q '^ztna_presence_store_total{op="put"} [1-9]' <<<"$m" &&
	[ $pt = ok ] && tap_ok "B's metrics: cluster ready, 4 records held, 2 published (alice, B itself), puts; promtool accepts them" ||
	tap_fail "metrics" "promtool $pt $(cat "$T/promtool.out" 2>/dev/null) $(grep -E 'cluster|presence' <<<"$m")"

# 5. the bucket: one value per key, kept 6 s (--presence-ttl)
js=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
	"http://$L:$P_MON/jsz?streams=true&config=true" 2>&1)
age=$(python3 -c 'import json, sys
d = json.load(sys.stdin)
for a in d.get("account_details", []):
    for s in a.get("stream_detail", []):
        if s["name"] == "KV_ztna-presence":
            c = s["config"]
            print(c["max_age"], c["max_msgs_per_subject"])' <<<"$js" 2>/dev/null)
[ "$age" = "6000000000 1" ] && tap_ok "bucket ztna-presence: max age 6 s (--presence-ttl), one value per key" ||
	tap_fail "bucket settings" "max_age, max_msgs_per_subject: '$age'"

# 6. forgeries: E signs with another key; a value published to the subject directly
imd e "$P_E" --nats "$NATS" --presence-key "$T/evil.key" --nats-name imd-e
connector c2 "$P_E" tc2
wait_presence e "^presence=connector.c2 imd=imd-e" 15
exec 9<>"/dev/tcp/$L/$P_NATS" && {
	printf 'CONNECT {"verbose":false}\r\nPUB $KV.ztna-presence.connector.c1 5\r\nforge\r\nPING\r\n' >&9
	timeout 3 head -c 200 <&9 >/dev/null
	exec 9>&-
}
sleep 1.5
pb=$(presence b)
ref=$(field "$pb" refused)
! grep -q "connector.c2" <<<"$pb" && grep -q "^presence=connector.c1 imd=imd-a " <<<"$pb" &&
	[ "${ref:-0}" -ge 2 ] &&
	tap_ok "forged records refused ($ref): c2 signed with another key absent, c1 still at imd-a" ||
	tap_fail "forgeries refused" "$pb"
progs_stop conn-c2
progs_stop imd-e

# 7. c1 leaves: B forgets it within 3 s
t0=$(date +%s.%N)
progs_stop conn-c1
if wait_presence b "^presence=connector.c1 " 20 absent; then
	el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	# the Intermediate sees a clean close at once; the bound is its 1 s sync + NATS
	awk -v e="$el" 'BEGIN { exit !(e < 3.0) }' && tap_ok "c1 left: gone from B's table in ${el}s" ||
		tap_fail "c1 gone from B within 3 s" "${el}s"
else
	tap_fail "c1 gone from B" "$(presence b)"
fi

# 8. c1 at A, then c1 again (the same identity) at B, both alive: the newer login, B's,
# keeps the record, and A ends its older login saying where the newer one is (before:
# A and B each put their own record again within a second of the other's, as long as
# both lasted). A's c1 is then stopped (it would log in again after its backoff, newer
# in turn): both tables keep c1 at imd-b (sampled for 3 s), A deleting nothing.
connector c1 "$P_A" tc
wait_presence b "^presence=connector.c1 imd=imd-a" 15
progs_start conn-c1b "$B/ztna-connector" --intermediate "$L:$P_B" --transport udp \
	--pki "$T/pki/connector-c1" --name c1 --token tc --service "echo=tcp:$L:$P_ECHO" --control none
ok=0
wait_log "$T/conn-c1.log" "event=login_refused .*a newer login of c1 at Intermediate imd-b" 15 && ok=1
progs_stop conn-c1
flips=0
for _ in $(seq 12); do
	sleep 0.25
	presence a | grep -q "^presence=connector.c1 imd=imd-b" || flips=$((flips + 1))
	presence b | grep -q "^presence=connector.c1 imd=imd-b" || flips=$((flips + 1))
done
[ $ok = 1 ] && [ $flips = 0 ] &&
	grep -q "event=presence_newer_elsewhere role=connector name=c1 at=imd-b" "$T/imd-a.log" &&
	tap_ok "c1 at A, then at B: A ends its older login (\"a newer login of c1 at Intermediate imd-b\"); both tables keep B's (12 samples in 3 s)" ||
	tap_fail "the newer login keeps the record" "refused $ok, $flips samples elsewhere; A: $(grep -c 'presence_newer' "$T/imd-a.log") $(grep login_refused "$T/conn-c1.log" | tail -1)"
progs_stop conn-c1b
wait_presence b "^presence=connector.c1 " 15 absent

# 9. A killed with c1 on it: B forgets c1 when the record expires (6 s after its last
# put, which was at most 2 s before the kill), not before
connector c1 "$P_A" tc
wait_presence b "^presence=connector.c1 imd=imd-a" 15
progs_stop imd-a KILL
t0=$(date +%s.%N)
sleep 2
still=$(presence b | grep -c "^presence=connector.c1 imd=imd-a")
wait_presence b "^presence=connector.c1 " 15 absent; gone=$?
el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$still" = 1 ] && [ $gone = 0 ] && awk -v e="$el" 'BEGIN { exit !(e >= 3.5 && e <= 8) }' &&
	tap_ok "A killed: c1 still listed at 2 s, gone at ${el}s (its record's 6 s)" ||
	tap_fail "A's records expire" "listed at 2 s: $still, gone: $gone after ${el}s"
progs_stop conn-c1

# 10. NATS stops: B says so, keeps serving (alice still logged in)
puts0=$(field "$(presence b)" store_puts)
progs_stop nats
n=0
for _ in $(seq 100); do
	pb=$(presence b)
	[ "$(field "$pb" state)" = down ] && break
	sleep 0.1
done
st=$("$B/ztna" status --intermediate --control "$T/b.sock" --raw 2>&1)
"$B/ztna" status --control "$T/b.sock" --presence >/dev/null 2>&1; rp=$?
[ "$(field "$pb" state)" = down ] && grep -q "identity=ztna:agent:alice" <<<"$st" && [ $rp = 1 ] &&
	tap_ok "NATS stopped: B says state=down (status --presence exits 1; $(sed -n 's/.*error="\([^"]*\)".*/\1/p' <<<"$pb")), alice still served" ||
	tap_fail "NATS down seen" "$pb / $st"

# 11. NATS back: B ready again, alice's record put again
nats_start
n=0
for _ in $(seq 250); do
	pb=$(presence b)
	[ "$(field "$pb" state)" = ready ] && [ "$(field "$pb" store_puts)" -gt "${puts0:-0}" ] &&
		grep -q "^presence=agent.alice imd=imd-b" <<<"$pb" && break
	sleep 0.1
done
[ "$(field "$pb" state)" = ready ] && [ "$(field "$pb" readies)" -ge 2 ] &&
	[ "$(field "$pb" store_puts)" -gt "${puts0:-0}" ] && grep -q "^presence=agent.alice imd=imd-b" <<<"$pb" &&
	tap_ok "NATS back: B ready again (readies $(field "$pb" readies)), alice's record put again" ||
	tap_fail "NATS back" "$pb"

# 12. no NATS at all from the start: the Intermediate serves its clients
imd f "$P_F" --nats "nats://$L:1" --presence-key "$T/presence.key" --nats-name imd-f
connector c1 "$P_F" tc
ok=0
for _ in $(seq 150); do
	"$B/ztna" status --intermediate --control "$T/f.sock" --raw 2>/dev/null |
		grep -q "identity=ztna:connector:c1" && ok=1 && break
	sleep 0.1
done
pf=$(presence f)
[ $ok = 1 ] && [ "$(field "$pf" state)" = connecting ] && grep -q 'error="connect: ' <<<"$pf" &&
	tap_ok "NATS unreachable from the start: c1 served, state=connecting with the reason" ||
	tap_fail "serves without NATS" "ok=$ok $pf"
progs_stop conn-c1
progs_stop imd-f

# 13. --nats needs a name and a key; the fix is named
out1=$("$B/ztna-intermediate" --listen "$L:$P_F" --pki "$T/pki/intermediate" --client agent:alice:ta \
	--control none --nats "$NATS" --presence-key "$T/presence.key" 2>&1); r1=$?
out2=$("$B/ztna-intermediate" --listen "$L:$P_F" --pki "$T/pki/intermediate" --client agent:alice:ta \
	--control none --nats "$NATS" --nats-name x 2>&1); r2=$?
out3=$("$B/ztna-intermediate" --listen "$L:$P_F" --pki "$T/pki/intermediate" --client agent:alice:ta \
	--control none --nats "$NATS" --nats-name x --presence-key "$T/presence.key" --presence-ttl 1s 2>&1); r3=$?
[ $r1 != 0 ] && [ $r2 != 0 ] && [ $r3 != 0 ] && grep -q -- "--nats-name NAME" <<<"$out1" &&
	grep -q "a duration from 3s to 10m" <<<"$out3" &&
	grep -q -- "--presence-key FILE" <<<"$out2" && grep -q "head -c 32 /dev/urandom" <<<"$out2" &&
	tap_ok "--nats without --nats-name / --presence-key, --presence-ttl 1s: refused, the fix named" ||
	tap_fail "config errors" "$r1: $out1 / $r2: $out2 / $r3: $out3"

# 14. a presence key others can read is refused
chmod 644 "$T/evil.key"
out=$(timeout 10 "$B/ztna-intermediate" --listen "$L:$P_F" --tcp-listen off --stun-port off \
	--pki "$T/pki/intermediate" --client agent:alice:ta --control none --nats "$NATS" \
	--nats-name x --presence-key "$T/evil.key" 2>&1); r=$?
[ $r != 0 ] && grep -q "chmod 600 $T/evil.key" <<<"$out" &&
	tap_ok "a presence key readable by others: refused, 'chmod 600' named" ||
	tap_fail "key mode" "$r: $out"
