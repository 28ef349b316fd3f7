#!/bin/bash
# One policy for several Intermediates (docs/scale-out.md): `ztna policy push` seals the
# deployment's clients and rules into the NATS cluster; Intermediates started with
# --nats-policy follow apply every push at once.
#
#   ztna-agent alice --> ztna-intermediate B --.
#   ztna-agent bob ----> ztna-intermediate A --+-- nats-server  <-- ztna policy push
#   ztna-connector c1 -> ztna-intermediate A --'
#
# Checks: a first push is in force at A and B; a push without alice ends her login at
# B within 2 s (bob at A untouched) and she cannot log in again; an older policy put
# back (a lower seq) and one sealed with another key are refused by both, the policy in
# force stays, `ztna policy show` shows that one (tokens masked), and B's metrics count
# them; SIGHUP does not bring back the local clients while a pushed policy is in
# force; an Intermediate started later with no clients of its own takes the current
# policy and lets bob in; push refuses a bad line (file:line) and a policy file others
# can read, pushing nothing.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
N=10
tap_plan $N

. tests/lib/progs.sh
progs_init nats-policy
. tests/lib/nats.sh
nats_skip_all $N

P_NATS=$PORT P_A=$((PORT + 2)) P_B=$((PORT + 4)) P_C=$((PORT + 6)) P_ECHO=$((PORT + 10))
NATS=nats://$L:$P_NATS
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --agent alice --agent bob \
	--connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 32 /dev/urandom | base64 >"$T/presence.key"
head -c 32 /dev/urandom | base64 >"$T/evil.key"
chmod 600 "$T/presence.key" "$T/evil.key"
policy() { # FILE LINES...
	local f=$1
	shift
	printf '%s\n' "$@" >"$f"
	chmod 600 "$f"
}
policy "$T/p1" "client = agent:alice:ta" "client = agent:bob:tb" "client = connector:c1:tc" \
	"allow = alice=echo" "allow = bob=echo" "serve = c1=echo"
policy "$T/p2" "client = agent:bob:tb" "client = connector:c1:tc" "allow = bob=echo" "serve = c1=echo"
push() { "$B/ztna" policy push --nats "$NATS" --presence-key "$T/presence.key" "$@"; }

progs_start nats nats-server -a "$L" -p "$P_NATS" -js -sd "$T/js"
wait_log "$T/nats.log" "Server is ready" 10
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
imd() { # NAME PORT [ARGS]
	local name=$1 port=$2
	shift 2
	progs_start "imd-$name" "$B/ztna-intermediate" --listen "$L:$port" --tcp-listen off \
		--stun-port off --pki "$T/pki/intermediate" --control "$T/$name.sock" --nats "$NATS" \
		--nats-name "imd-$name" --presence-key "$T/presence.key" --nats-policy follow "$@"
}
LOCAL=(--client agent:alice:ta --client agent:bob:tb --client connector:c1:tc
	--allow alice=echo --allow bob=echo --serve c1=echo)
imd a "$P_A" "${LOCAL[@]}"
imd b "$P_B" "${LOCAL[@]}" --metrics "$L:$((PORT + 16))"
agent() { # NAME IMD-PORT TOKEN FWD-PORT
	progs_start "agent-$1-$2" "$B/ztna-agent" --intermediate "$L:$2" --transport udp \
		--pki "$T/pki/agent-$1" --name "$1" --token "$3" --control none \
		--forward "tcp:$L:$4=echo"
}
progs_start conn "$B/ztna-connector" --intermediate "$L:$P_A" --transport udp \
	--pki "$T/pki/connector-c1" --name c1 --token tc --service "echo=tcp:$L:$P_ECHO" --control none
agent bob "$P_A" tb $((PORT + 12))
agent alice "$P_B" ta $((PORT + 13))
logged_in() { # IMD NAME
	"$B/ztna" status --intermediate --control "$T/$1.sock" --raw 2>/dev/null | grep -q "identity=ztna:agent:$2 "
}
wait_seq() { # SEQ: both A and B have it in force
	for _ in $(seq 50); do
		[ "$(field "$(presence a)" policy_seq)" = "$1" ] && [ "$(field "$(presence b)" policy_seq)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
for _ in $(seq 100); do logged_in b alice && logged_in a bob && break; sleep 0.1; done

# 1. the first push
out=$(push --file "$T/p1" 2>&1); rc=$?
seq1=$(field "$out" seq)
[ $rc = 0 ] && [ -n "$seq1" ] && wait_seq "$seq1" && grep -q "clients=3 rules=2" <<<"$out" &&
	tap_ok "push: '$out'; in force at A and B" ||
	tap_fail "first push" "rc $rc '$out' A: $(presence a | head -1) $(tail -n 3 "$T/imd-a.log")"

# 2. alice left out: her login at B ends within 2 s, and her session with c1 at A
# (across the link from B) ends at A too; bob at A stays
( sleep 20 | socat -t 20 - "TCP:$L:$((PORT + 13))" >/dev/null 2>&1 ) &
wait_log "$T/imd-a.log" "event=session_open .*agent=ztna:agent:alice connector=ztna:connector:c1" 10
logged_in b alice; before=$?
t0=$(date +%s.%N)
out=$(push --file "$T/p2" 2>&1); rc=$?
seq2=$(field "$out" seq)
gone=1
for _ in $(seq 50); do logged_in b alice || { gone=0; break; }; sleep 0.1; done
el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
wait_seq "$seq2"; ws=$?
wait_log "$T/imd-a.log" "event=session_close .*agent=ztna:agent:alice connector=ztna:connector:c1" 2; xs=$?
[ $before = 0 ] && [ $rc = 0 ] && [ $gone = 0 ] && [ $ws = 0 ] && [ $xs = 0 ] && logged_in a bob &&
	grep -q "event=policy_applied source=nats seq=$seq2 .*clients_revoked=1" "$T/imd-b.log" &&
	tap_ok "alice left out: her login at B ended ${el}s after the push began, her session at A too; bob at A stays" ||
	tap_fail "revocation" "before $before rc $rc gone $gone after ${el}s seq $ws across $xs $(grep policy "$T/imd-b.log" | tail -2) $(grep -E 'session_(open|close)' "$T/imd-a.log" | tail -2)"

# 3. she stays out
sleep 2
! logged_in b alice && tap_ok "alice does not log in again at B" ||
	tap_fail "alice stays out" "$("$B/ztna" status --intermediate --control "$T/b.sock" --raw | grep alice)"

# 4. an old policy put back, and one sealed with another key: refused by both
push --file "$T/p1" --seq 1 >/dev/null 2>&1; r1=$?
"$B/ztna" policy push --nats "$NATS" --presence-key "$T/evil.key" --file "$T/p1" >/dev/null 2>&1; r2=$?
sleep 1.5
pa=$(presence a) pb=$(presence b)
[ $r1 = 0 ] && [ $r2 = 0 ] && [ "$(field "$pa" policy_seq)" = "$seq2" ] &&
	[ "$(field "$pb" policy_seq)" = "$seq2" ] && [ "$(field "$pb" policy_stale)" -ge 1 ] &&
	[ "$(field "$pb" policy_refused)" -ge 1 ] && ! logged_in b alice &&
	tap_ok "seq 1 put back and a policy under another key: refused (stale $(field "$pb" policy_stale), refused $(field "$pb" policy_refused)), seq $seq2 stays" ||
	tap_fail "old and forged policies" "$r1 $r2 A: $(head -1 <<<"$pa") B: $(head -1 <<<"$pb")"

# 5. ztna policy show: the newest policy that opens (not the junk written last), tokens
# masked; with another key, none opens
out=$("$B/ztna" policy show --nats "$NATS" --presence-key "$T/presence.key" 2>&1); r1=$?
out2=$("$B/ztna" policy show --nats "$NATS" --presence-key "$T/evil.key" 2>&1); r2=$?
# (the evil key opens the record it sealed itself: it shows that one, seq above seq2,
# which no Intermediate of the deployment took)
tap_diag "$out"
[ $r1 = 0 ] && grep -q "^policy seq=$seq2 issued=.* clients=2 rules=1 serve_rules=1 limits=0" <<<"$out" &&
	grep -q '^client = agent:bob:\*\*\*$' <<<"$out" && ! grep -q ':tb$' <<<"$out" &&
	[ $r2 = 0 ] && ! grep -q "seq=$seq2 " <<<"$out2" &&
	tap_ok "policy show: seq $seq2 (the one in force), tokens as ***" ||
	tap_fail "policy show" "$r1: $out / $r2: $out2"

# 6. B's metrics say the same (promtool accepts them)
m=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
	"http://$L:$((PORT + 16))/metrics" 2>&1)
pt=ok
command -v promtool >/dev/null && ! promtool check metrics <<<"$m" >"$T/promtool.out" 2>&1 && pt=bad
grep -q "^ztna_policy_seq $seq2$" <<<"$m" && grep -q '^ztna_policy_records_total{result="applied"} 2$' <<<"$m" &&
	grep -q '^ztna_policy_records_total{result="stale"} 1$' <<<"$m" &&
	grep -q '^ztna_policy_records_total{result="refused"} 1$' <<<"$m" && [ $pt = ok ] &&
	tap_ok "B's metrics: policy seq $seq2, applied 2, stale 1, refused 1; promtool accepts them" ||
	tap_fail "policy metrics" "promtool $pt $(cat "$T/promtool.out" 2>/dev/null) $(grep policy <<<"$m")"

# 7. SIGHUP at B: the local lines (which allow alice) do not come back
kill -HUP "${PIDS[imd-b]}"
wait_log "$T/imd-b.log" "event=reload result=ok policy=kept" 5; rk=$?
sleep 2
[ $rk = 0 ] && ! logged_in b alice && ! grep -q "restart_needed_for=.*nats" "$T/imd-b.log" &&
	tap_ok "SIGHUP at B: the pushed policy stays in force, alice still out; no --nats setting seen as changed" ||
	tap_fail "reload keeps the pushed policy" "$(grep reload "$T/imd-b.log" | tail -2)"

# 8. C starts later with no clients of its own: takes the current policy, bob logs in
imd c "$P_C"
agent bob "$P_C" tb $((PORT + 14))
ok=1
for _ in $(seq 150); do logged_in c bob && { ok=0; break; }; sleep 0.1; done
[ $ok = 0 ] && [ "$(field "$(presence c)" policy_seq)" = "$seq2" ] &&
	tap_ok "C with no clients of its own: seq $seq2 in force at start, bob logged in" ||
	tap_fail "a new Intermediate takes the policy" "$(presence c | head -1) $(tail -n 3 "$T/imd-c.log")"

# 9. push refuses a bad line, naming it, and pushes nothing
policy "$T/bad" "client = agent:alice:ta" "allow = alice"
out=$(push --file "$T/bad" 2>&1); rc=$?
sleep 0.5
[ $rc = 2 ] && grep -q "$T/bad:2" <<<"$out" && [ "$(field "$(presence a)" policy_seq)" = "$seq2" ] &&
	tap_ok "a bad line: exit 2, '$T/bad:2' named, nothing pushed" ||
	tap_fail "bad policy file" "rc $rc: $out"

# 10. ... and a policy file others can read (it holds tokens)
chmod 644 "$T/p1"
out=$(push --file "$T/p1" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "chmod 600 $T/p1" <<<"$out" && tap_ok "a policy file readable by others: exit 2, 'chmod 600' named" ||
	tap_fail "policy file mode" "rc $rc: $out"
