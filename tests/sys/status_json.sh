#!/bin/bash
# ztna status for scripts and health checks (docs/control-socket.md): the exit status
# says whether the program is ready (logged in to the Intermediate), and --json prints
# one JSON document (parsed here with jq).
#
#   ztna-agent alice (started first: no Intermediate yet) --> ztna-intermediate <-- ztna-connector c1
#
# Checks: before the Intermediate is up, status exits 1 (text, --raw and --json) and
# the JSON says ready=false with the agent's state; once logged in it exits 0; after a
# round trip through a forward the JSON lists the session (service, path, a numeric
# RTT, the hex session id as a string) and its forward; the connector's JSON has its
# role, the agent it serves and its service; an unreachable socket exits 2.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
tap_plan 8

. tests/lib/progs.sh
progs_init status-json
command -v jq >/dev/null || { for i in 1 2 3 4 5 6 7 8; do tap_skip "status --json $i" "jq is not installed (tools/deps.sh lab)"; done; exit 0; }

P_IMD=$PORT P_ECHO=$((PORT + 10)) F_ECHO=$((PORT + 20))
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --agent alice \
	--connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start agent "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport udp \
	--pki "$T/pki/agent-alice" --name alice --token ta --forward "tcp:$L:$F_ECHO=echo" \
	--control "$T/alice.sock"
for _ in $(seq 50); do [ -S "$T/alice.sock" ] && break; sleep 0.1; done

st() { "$B/ztna" status --control "$T/alice.sock" "$@"; }
st >/dev/null 2>&1; r1=$?
st --raw >/dev/null 2>&1; r2=$?
j=$(st --json 2>/dev/null); r3=$?
[ $r1 = 1 ] && [ $r2 = 1 ] && [ $r3 = 1 ] &&
	tap_ok "not logged in yet: status exits 1 (text, --raw, --json)" ||
	tap_fail "not logged in yet: exit 1" "text $r1, raw $r2, json $r3"
[ "$(jq -r '.ready' <<<"$j")" = false ] && [ "$(jq -r '.node.role' <<<"$j")" = agent ] &&
	[ "$(jq -r '.node.state' <<<"$j")" != ready ] && [ "$(jq -r '.sessions | length' <<<"$j")" = 0 ] &&
	tap_ok "--json while not ready: ready=false, node.state $(jq -r '.node.state' <<<"$j")" ||
	tap_fail "--json while not ready" "$j"

progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --tcp-listen off --stun-port off \
	--pki "$T/pki/intermediate" --client agent:alice:ta --client connector:c1:tc \
	--allow alice=echo --serve c1=echo
progs_start conn "$B/ztna-connector" --intermediate "$L:$P_IMD" --transport udp \
	--pki "$T/pki/connector-c1" --name c1 --token tc --service "echo=tcp:$L:$P_ECHO" \
	--control "$T/c1.sock"
ok=
for _ in $(seq 150); do st >/dev/null 2>&1 && ok=1 && break; sleep 0.1; done
[ -n "$ok" ] && tap_ok "logged in: status exits 0" ||
	tap_fail "logged in: status exits 0" "$(st 2>&1 | head -n 3) $(tail -n 2 "$T/agent.log")"

out=$(echo "hello json" | timeout 10 socat -t 5 - "TCP:$L:$F_ECHO")
j=$(st --json); r=$?
tap_diag "$j"
[ "$out" = "hello json" ] && [ $r = 0 ] && [ "$(jq -r '.ready' <<<"$j")" = true ] &&
	[ "$(jq -r '.node.state' <<<"$j")" = ready ] &&
	tap_ok "after a round trip: ready=true, exit 0" || tap_fail "after a round trip" "out '$out' rc $r $j"
[ "$(jq -r '.sessions[0].service' <<<"$j")" = echo ] &&
	[ "$(jq -r '.sessions[0].rtt_us | type' <<<"$j")" = number ] &&
	[ "$(jq -r '.sessions[0].session | type' <<<"$j")" = string ] &&
	jq -re '.sessions[0].session | test("^[0-9a-f]{8}$")' <<<"$j" >/dev/null &&
	jq -re '.sessions[0].path | test("^(relay|direct)")' <<<"$j" >/dev/null &&
	tap_ok "the session: service, path, numeric RTT, hex id as a string" ||
	tap_fail "the session in --json" "$j"
[ "$(jq -r '.node.sessions' <<<"$j")" = 1 ] && [ "$(jq -r '.node.name' <<<"$j")" = alice ] &&
	[ "$(jq -r '.forwards[0] | "\(.proto) \(.listen) \(.service)"' <<<"$j")" = "tcp $L:$F_ECHO echo" ] &&
	"$B/ztna" status --control "$T/alice.sock" | grep -q "^forward tcp $L:$F_ECHO -> echo" &&
	tap_ok "node: name and session count; its forward (JSON and text)" || tap_fail "node in --json" "$j"

jc=$("$B/ztna" status --control "$T/c1.sock" --json); rc=$?
[ $rc = 0 ] && [ "$(jq -r '.node.role' <<<"$jc")" = connector ] &&
	[ "$(jq -r '.agents[0].identity' <<<"$jc")" = ztna:agent:alice ] &&
	[ "$(jq -r '.services[0] | "\(.name) \(.proto) \(.target)"' <<<"$jc")" = "echo tcp $L:$P_ECHO" ] &&
	tap_ok "the connector's --json: role, the agent it serves, its service" || tap_fail "connector --json" "rc $rc $jc"

"$B/ztna" status --control "$T/none.sock" --json >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && tap_ok "an unreachable control socket: exit 2" || tap_fail "unreachable: exit 2" "rc $rc"
