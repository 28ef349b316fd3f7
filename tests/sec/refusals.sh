#!/bin/bash
# Retry storms (issue 11, "a permanent refusal is retried every 50 ms forever": one
# `ztna ping -c 1` to a denied service made 61 OPENs and 122 log lines), on loopback:
#
#   ztna ping / socat --> ztna-agent alice --> ztna-intermediate <-- ztna-connector c1
#                         ztna-agent eve (alice's certificate, wrong token)    (echo, db)
#
# alice may reach echo and ghost (served by nobody), not db. Checks: one ping to db
# sends one OPEN and answers at once with the reason; more pings and a TCP connection
# to db within the hold send none; `ztna status` shows the refusal and when the next
# try is; after the hold one OPEN again and the hold doubles; a refused login (bad
# token) backs off for seconds, with an error line that names the fix, not a reconnect
# every 200 ms; two agents with one identity replace each other (ERROR 1508) every few
# seconds, not several times a second. ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
tap_plan 10
progs_init refusals

P_IMD=$PORT P_ECHO=$((PORT + 1)) F_ECHO=$((PORT + 2)) F_DB=$((PORT + 3)) F_GHOST=$((PORT + 4))
F_EVE=$((PORT + 5))
TOK_A=tok-a-$RANDOM TOK_C=tok-c-$RANDOM
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo --service db --agent alice \
	--connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
progs_start echo "$B/bench/zt-testkit" tcp-echo "$L:$P_ECHO"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --pki "$T/pki/intermediate" \
	--client "agent:alice:$TOK_A" --client "connector:c1:$TOK_C" --allow alice=echo,ghost \
	--serve c1=echo,db \
	--open-hold 1s
progs_start conn "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/pki/connector-c1" --name c1 \
	--token "$TOK_C" --service "echo=tcp:$L:$P_ECHO" --service "db=tcp:$L:$P_ECHO" \
	--direct off --control none
progs_start agent "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-alice" --name alice \
	--token "$TOK_A" --forward "tcp:$L:$F_ECHO=echo" --forward "tcp:$L:$F_DB=db" \
	--forward "tcp:$L:$F_GHOST=ghost" --direct off --control "$T/alice.sock"
CTL=(--control "$T/alice.sock")
refused_db() { count_log "$T/imd.log" 'event=open_refused .*service=db reason=policy'; }

if ! wait_log "$T/agent.log" 'event=connected' 5 || ! wait_log "$T/conn.log" 'event=connected' 5; then
	tap_diag "$(tail -n 3 "$T"/{imd,conn,agent}.log)"
	skip_all "the programs did not start" 10
fi

# 1. One ping to a denied service: one OPEN, answered at once with the reason.
t0=$(date +%s%N)
out=$("$B/ztna" ping db -c 1 "${CTL[@]}")
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
sleep 0.5
n=$(refused_db)
if [ "$n" = 1 ] && [ "$rc" = 1 ] && grep -q 'refused: refused by policy: agent alice may not reach service db' <<<"$out" &&
	[ "$ms" -lt 2000 ]; then
	tap_ok "ztna ping -c 1 to a denied service: 1 OPEN (was 61), answered in $ms ms with the reason"
else
	tap_fail "ztna ping -c 1 to a denied service" "OPENs refused=$n exit=$rc in ${ms} ms: $out"
fi
lines=$(grep -v 'event=forward' "$T/agent.log" | grep -c 'service=db')
[ "$lines" -le 2 ] && tap_ok "the agent logs the refusal once ($lines line(s); was 122)" ||
	tap_fail "the agent logs the refusal once" "$lines lines: $(grep service=db "$T/agent.log" | head -n 3)"

# 2. Within the hold: pings and connections fail at once, without an OPEN.
out=$("$B/ztna" ping db -c 1 "${CTL[@]}"; "$B/ztna" ping db -c 1 "${CTL[@]}")
echo x | timeout 5 socat -t 2 - "TCP:$L:$F_DB" >/dev/null 2>&1
sleep 0.2
n=$(refused_db)
[ "$n" = 1 ] && [ "$(grep -c 'refused: refused by policy' <<<"$out")" = 2 ] &&
	tap_ok "within the hold, two pings and a connection to db send no OPEN" ||
	tap_fail "within the hold, no OPEN" "OPENs refused=$n: $out"

# 3. ztna status names the refusal and the next try.
raw=$("$B/ztna" status --raw "${CTL[@]}")
pretty=$("$B/ztna" status "${CTL[@]}")
if grep -q '^refusal service=db code=1501 error="refused by policy" text="agent alice may not reach service db (policy)" count=1 ' <<<"$raw" &&
	grep -q 'retry_in_ms=' <<<"$raw" && grep -q '^db .*refused (1501).*may not reach service db' <<<"$pretty"; then
	tap_ok "ztna status: the refusal, its reason and the next try"
else
	tap_fail "ztna status shows the refusal" "$raw / $pretty"
fi

# 4. After the hold (1 s): one OPEN again, then the hold doubles (2 s).
sleep 1
out=$("$B/ztna" ping db -c 1 "${CTL[@]}")
sleep 0.3
n=$(refused_db)
retry=$("$B/ztna" status --raw "${CTL[@]}" | sed -n 's/^refusal service=db .*count=2 .*retry_in_ms=\([0-9]*\).*/\1/p')
if [ "$n" = 2 ] && [ -n "$retry" ] && [ "$retry" -gt 1000 ] && [ "$retry" -le 2000 ]; then
	tap_ok "after the hold: one more OPEN, next hold 2 s (retry in $retry ms)"
else
	tap_fail "after the hold: one OPEN, then 2 s" "OPENs refused=$n retry=$retry: $out"
fi

# 5. No such service: the same (1502), and the allowed service still works.
out=$("$B/ztna" ping ghost -c 1 "${CTL[@]}"; "$B/ztna" ping ghost -c 1 "${CTL[@]}")
sleep 0.2
n=$(count_log "$T/imd.log" 'event=open_refused .*service=ghost reason=no-service')
echo=$(echo hello | timeout 5 socat -t 3 - "TCP:$L:$F_ECHO")
[ "$n" = 1 ] && grep -q 'refused: no such service' <<<"$out" && [ "$echo" = hello ] &&
	tap_ok "no such service: one OPEN for two pings; echo still works" ||
	tap_fail "no such service" "OPENs=$n echo='$echo': $out"

# 6. A refused login: long backoff, an error naming the fix, waiting connections fail.
progs_start eve "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-alice" --name alice \
	--token wrong --forward "tcp:$L:$F_EVE=echo" --direct off --control "$T/eve.sock"
wait_log "$T/eve.log" 'event=login_refused' 5
t0=$(date +%s%N)
echo x | timeout 5 socat -t 3 - "TCP:$L:$F_EVE" >/dev/null 2>&1
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1000 ] && tap_ok "a connection while the login is refused fails at once ($ms ms)" ||
	tap_fail "a connection while the login is refused fails at once" "$ms ms"
raw=$("$B/ztna" status --raw --control "$T/eve.sock")
grep -q 'login_error=1500 login_text="authentication failed: bad credential for ztna:agent:alice"' <<<"$raw" &&
	tap_ok "ztna status shows the refused login and the next try" ||
	tap_fail "ztna status shows the refused login" "$raw"
sleep 7
tries=$(count_log "$T/imd.log" 'event=auth_failed identity=ztna:agent:alice .*reason=bad-credential')
grep -q 'event=login_refused err=1500 .*fix="check the token' "$T/eve.log" && [ "$tries" -ge 2 ] &&
	[ "$tries" -le 3 ] && tap_ok "a refused login: $tries tries in 8 s (was ~8), the error names the fix" ||
	tap_fail "a refused login backs off" "$tries tries; $(grep login_refused "$T/eve.log" | tail -n 2)"
progs_stop eve

# 7. Two agents with one identity (alice started twice): the newer login replaces the
# older (1508); each replaced one backs off 2.5..5 s, then longer, not 200 ms.
progs_start alice2 "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-alice" --name alice \
	--token "$TOK_A" --forward "tcp:$L:$F_EVE=echo" --direct off --control none
sleep 12
n=$(count_log "$T/imd.log" 'event=client_replaced identity=ztna:agent:alice')
grep -q 'event=login_refused err=1508 .*fix="another program logged in with this identity' \
	"$T/agent.log" "$T/alice2.log" && [ "$n" -ge 1 ] && [ "$n" -le 6 ] &&
	tap_ok "one identity twice: $n replacements in 12 s (with the 200 ms reconnect: ~55), with the fix logged" ||
	tap_fail "one identity twice does not flap" "$n replacements; $(grep -h login_refused "$T/agent.log" "$T/alice2.log" | tail -n 2)"
progs_stop alice2
