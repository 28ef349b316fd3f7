#!/bin/bash
# --log-format json: every line the programs write is one JSON object (jq reads each),
# with ts, level, prog and event first and the same fields as the text form; counters
# are numbers; a bad value is refused with the choices. (A value that would forge a
# field or a line stays one string: tests/unit/test_logfmt.c json_of_a_line and
# tests/fuzz/fuzz_logfmt.c.)
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
B=${BUILD:-build}
tap_plan 5

progs_init sys-logjson
P_IMD=$PORT P_FWD=$((PORT + 2)) P_ECHO=$((PORT + 3))
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --agent alice --connector c1=echo >/dev/null 2>&1
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --pki "$T/pki/intermediate" --tcp-listen off \
	--stun-port off --client agent:alice:ta --client connector:c1:tc --allow alice=echo --serve c1=echo \
	--log-format json
progs_start echo "$B/bench/zt-testkit" tcp-echo "$L:$P_ECHO"
progs_start conn "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/pki/connector-c1" --name c1 \
	--token tc --service "echo=tcp:$L:$P_ECHO" --bind "$L" --control none --transport udp --log-format json
progs_start alice "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-alice" --name alice \
	--token ta --forward "tcp:$L:$P_FWD=echo" --bind "$L" --control none --transport udp \
	--log-format json
out=
wait_log "$T/alice.log" '"event":"connected"' 15 && wait_log "$T/conn.log" '"event":"connected"' 15 &&
	out=$(echo json | timeout 10 socat -t 5 - "TCP:$L:$P_FWD" 2>/dev/null)
[ "$out" = json ] && tap_ok "the three programs with --log-format json: a line through the tunnel" ||
	tap_fail "programs with --log-format json" "$(tail -n 2 "$T"/{imd,conn,alice}.log)"
kill -HUP "${PIDS[imd]}"
wait_log "$T/imd.log" '"event":"stats"' 5

bad=0 lines=0
for f in imd conn alice; do
	lines=$((lines + $(wc -l <"$T/$f.log")))
	jq -e 'type == "object" and (keys_unsorted[:4] == ["ts","level","prog","event"])' \
		<"$T/$f.log" >/dev/null 2>"$T/jq.err" || bad=$((bad + 1))
done
[ "$bad" = 0 ] && [ "$lines" -gt 10 ] &&
	tap_ok "every line ($lines) of the three logs is a JSON object starting ts, level, prog, event" ||
	tap_fail "JSON lines" "$bad logs failed: $(head -c 300 "$T/jq.err")"
st=$(grep '"event":"stats"' "$T/imd.log" | tail -n 1)
[ "$(echo "$st" | jq -r '(.clients | type) + " " + (.clients | tostring) + " " + (.relay_pkts | type)')" = "number 2 number" ] &&
	tap_ok "counters are numbers (stats: clients=2)" || tap_fail "numbers" "$st"
[ "$(grep -h '"event":"client_ready"' "$T/imd.log" | jq -r .identity | sort | tr '\n' ' ')" = \
	"ztna:agent:alice ztna:connector:c1 " ] && tap_ok "client_ready lines carry the identities as strings" ||
	tap_fail "client_ready" "$(grep -h client_ready "$T/imd.log")"

"$B/ztna-agent" --log-format xml --name a >/dev/null 2>"$T/bad.err"
rc=$?
[ "$rc" = 2 ] && grep -q "text or json" "$T/bad.err" && tap_ok "--log-format xml: exit 2, '$(head -n 1 "$T/bad.err")'" ||
	tap_fail "--log-format xml" "exit $rc: $(cat "$T/bad.err")"
