#!/bin/bash
# Service hijack (issue 11), with the real programs on loopback: a second, authenticated
# connector claims another connector's service.
#
#   zt-testkit tcp-echo <-- ztna-connector c1 (echo)         --.
#   zt-testkit tcp-echo <-- ztna-connector c2 (echo, echo2)  ---+-- ztna-intermediate
#                           ztna-agent alice (echo, echo2)   --'    --serve c1=echo
#                                                                   --serve c2=echo2
#
# On the code before the fix c2, registering last, took every new session of echo.
# Now c2 gets ERROR 1509 naming the fix, keeps its connection and echo2; alice's
# echo sessions go to c1. Also: an Intermediate without --serve warns at start.
# ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
tap_plan 6

. tests/lib/progs.sh
progs_init hijack

base=$((20000 + RANDOM % 12000))
L=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
P_IMD=$base P_E1=$((base + 1)) P_E2=$((base + 2)) P_E3=$((base + 3))
F_ECHO=$((base + 10)) F_ECHO2=$((base + 11)) P_IMD2=$((base + 20))

# c2 also holds a certificate for echo (as a misconfigured or compromised connector, or a
# misissued certificate, would): what stops it is the Intermediate's --serve policy.
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --agent alice --connector c1=echo \
	--connector c2=echo,echo2 >/dev/null 2>"$T/pki.err" || {
	cat "$T/pki.err"
	exit 1
}
progs_start e1 "$KIT" tcp-echo "$L:$P_E1"
progs_start e2 "$KIT" tcp-echo "$L:$P_E2"
progs_start e3 "$KIT" tcp-echo "$L:$P_E3"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --pki "$T/pki/intermediate" --client agent:alice:ta \
	--client connector:c1:t1 --client connector:c2:t2 --allow alice=echo,echo2 \
	--serve c1=echo --serve c2=echo2
wait_log "$T/imd.log" 'event=start ' 5 || { tap_diag "imd: $(tail -n 3 "$T/imd.log")"; }
progs_start c1 "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/pki/connector-c1" --name c1 --token t1 \
	--service "echo=tcp:$L:$P_E1" --direct off --control none
wait_log "$T/c1.log" 'event=connected' 5
progs_start c2 "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/pki/connector-c2" --name c2 --token t2 \
	--service "echo=tcp:$L:$P_E2" --service "echo2=tcp:$L:$P_E3" --direct off --control none

# 1. Both sides say what is wrong and how to fix it.
if wait_log "$T/c2.log" 'code=1509.*connector c2 may not serve echo: add --serve c2=echo to the Intermediate' 5 &&
	wait_log "$T/imd.log" 'event=register_refused identity=ztna:connector:c2 service=echo reason=not-bound' 2; then
	tap_ok "a connector claiming another's service: ERROR 1509 naming the fix, logged at the Intermediate"
else
	tap_fail "a connector claiming another's service is refused" \
		"$(tail -n 3 "$T/c2.log"; grep -E 'register|client_ready' "$T/imd.log")"
fi
grep -q 'event=client_ready .*identity=ztna:connector:c2 .*services=echo2 ' "$T/imd.log" &&
	tap_ok "the connector keeps its connection and the service it may serve" ||
	tap_fail "the connector keeps its allowed service" "$(grep client_ready "$T/imd.log")"

# 2. alice's sessions go to the owner of echo, and to c2 for echo2.
progs_start alice "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-alice" --name alice --token ta \
	--forward "tcp:$L:$F_ECHO=echo" --forward "tcp:$L:$F_ECHO2=echo2" --direct off --control none
wait_log "$T/alice.log" 'event=connected' 5
out=$(echo "to echo" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO")
out2=$(echo "to echo2" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO2")
if [ "$out" = "to echo" ] && grep -q 'event=session_open .*service=echo .*connector=ztna:connector:c1' "$T/imd.log" &&
	! grep -q 'event=session_open .*service=echo .*connector=ztna:connector:c2' "$T/imd.log"; then
	tap_ok "the agent's session to echo goes to c1, its owner"
else
	tap_fail "the agent's session to echo goes to c1" "got '$out'; $(grep -E 'session_(open|ready)' "$T/imd.log" "$T/alice.log")"
fi
[ "$out2" = "to echo2" ] && grep -q 'event=session_open .*service=echo2 .*connector=ztna:connector:c2' "$T/imd.log" &&
	tap_ok "and to echo2 goes to c2" || tap_fail "echo2 through c2" "got '$out2'; $(grep session_open "$T/imd.log")"

# 3. A permanent refusal is not repeated in a loop.
sleep 2
n=$(grep -c 'event=register_refused' "$T/imd.log")
[ "$n" -eq 1 ] && tap_ok "the refusal happened once (no reconnect loop)" ||
	tap_fail "the refusal happened once" "$n register_refused lines"
progs_stop alice
progs_stop c1
progs_stop c2
progs_stop imd

# 4. No --serve: the Intermediate says that no connector can register anything.
progs_start imd2 "$B/ztna-intermediate" --listen "$L:$P_IMD2" --pki "$T/pki/intermediate" --client agent:alice:ta \
	--client connector:c1:t1 --allow alice=echo
wait_log "$T/imd2.log" 'event=no_serve_rules' 5 && tap_ok "an Intermediate without --serve warns at start" ||
	tap_fail "no --serve warning" "$(tail -n 3 "$T/imd2.log")"
progs_stop imd2
