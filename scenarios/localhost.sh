#!/bin/bash
# The seed's layout on one machine, unprivileged, on loopback only:
#
#   ztna-intermediate 127.0.0.1        (relay, signaling, address discovery)
#   ztna-agent alice  127.0.0.2  --forward tcp:127.0.0.2:P=sink
#   ztna-agent bob    127.0.0.2  --direct off (relay only, for comparison)
#   ztna-connector c1 127.0.0.3  --service sink=tcp:127.0.0.3:Q (zt-testkit tcp-sink)
#
# There is no NAT between 127.0.0.2 and 127.0.0.3, so ICE's host candidates meet at
# once: alice's session must go direct. Checks: the session is on the direct path
# (ztna status, which also says nat=eim: NAT detection finds no NAT), every ztna ping
# goes via direct (bob's via relay), 16 MiB through
# the forward arrive with equal SHA-256, the time it took to go direct. Prints PASS
# or FAIL per check; exit 0 when all pass, 1 otherwise, 2 on a setup error. Run by
# `make test` (tests/sys/localhost.sh). ZT_KEEP=1 keeps the logs.
#
#   ./scenarios/localhost.sh [--no-build]
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-build}
if [ "${1:-}" != --no-build ]; then
	make -j2 BUILD="$B" >/dev/null || { echo "$0: the build failed (run make)" >&2; exit 2; }
fi
for f in "$B/ztna" "$B/ztna-intermediate" "$B/ztna-agent" "$B/ztna-connector" "$B/bench/zt-testkit"; do
	[ -x "$f" ] || { echo "$0: $f missing: run make" >&2; exit 2; }
done

T=$(mktemp -d /tmp/zt-localhost.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
	sleep 0.1
	for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "${ZT_KEEP:-}" ]; then echo "logs kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM
declare -A PID_OF
start() { # start NAME CMD...: own process group, log in $T/NAME.log (appended)
	local name=$1
	shift
	setsid "$@" >>"$T/$name.out" 2>>"$T/$name.log" &
	PIDS+=($!)
	PID_OF[$name]=$!
}
wait_log() { # wait_log FILE PATTERN SECONDS
	local n=$(($3 * 10))
	while [ "$n" -gt 0 ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
FAILS=0 PASSES=0
check() { # check NAME EXPECTED ACTUAL [NOTE]
	if [ "$2" = "$3" ]; then
		PASSES=$((PASSES + 1))
		printf 'PASS  %-52s expected %-8s got %-8s %s\n' "$1" "$2" "$3" "${4:-}"
	else
		FAILS=$((FAILS + 1))
		printf 'FAIL  %-52s expected %-8s got %-8s %s\n' "$1" "$2" "$3" "${4:-}"
	fi
}

check_sum() { # check_sum NAME "BYTES SHA256" [NOTE]: compares with $SUM, shows 16 hex digits
	local got=${2#* }
	[ "$got" = "$SUM" ] && got=${got:0:16} || got="${got:0:16}(${2%% *}B)"
	check "$1" "${SUM:0:16}" "$got" "${3:-}"
}

base=$((20000 + RANDOM % 12000))
P_IMD=$base P_SINK=$((base + 1)) F_A=$((base + 2)) F_B=$((base + 3))
echo "== localhost: Intermediate 127.0.0.1:$P_IMD, agent alice 127.0.0.2 (direct on),"
echo "   agent bob 127.0.0.2 (--direct off), connector c1 127.0.0.3 with service sink"
echo "   (zt-testkit tcp-sink on 127.0.0.3:$P_SINK); agent forwards 127.0.0.2:$F_A (alice), :$F_B (bob)"
echo "expected: alice's session direct (host candidates 127.0.0.2 <-> 127.0.0.3), bob's on"
echo "the relay; 16 MiB through each forward with equal SHA-256."
echo

"$B/ztna" pki init "$T/pki" --intermediate-ip 127.0.0.1 --service sink --agent alice \
	--agent bob --connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err" >&2; exit 2; }
head -c 16M /dev/urandom >"$T/data"
SUM=$(sha256sum "$T/data" | cut -c1-64)

start sink "$B/bench/zt-testkit" tcp-sink "127.0.0.3:$P_SINK"
start imd "$B/ztna-intermediate" --listen "127.0.0.1:$P_IMD" --pki "$T/pki/intermediate" \
	--client agent:alice:tok-a --client agent:bob:tok-b --client connector:c1:tok-c \
	--allow alice=sink --allow bob=sink --serve c1=sink
wait_log "$T/imd.log" 'event=start ' 5 || { echo "the Intermediate did not start: $(tail -n 3 "$T/imd.log")" >&2; exit 2; }
CONN=("$B/ztna-connector" --intermediate "127.0.0.1:$P_IMD" --bind 127.0.0.3 --pki "$T/pki/connector-c1"
	--name c1 --token tok-c --service "sink=tcp:127.0.0.3:$P_SINK" --control "$T/conn.sock")
start conn "${CONN[@]}"
start alice "$B/ztna-agent" --intermediate "127.0.0.1:$P_IMD" --bind 127.0.0.2 --pki "$T/pki/agent-alice" \
	--name alice --token tok-a --forward "tcp:127.0.0.2:$F_A=sink" --control "$T/alice.sock"
start bob "$B/ztna-agent" --intermediate "127.0.0.1:$P_IMD" --bind 127.0.0.2 --pki "$T/pki/agent-bob" \
	--name bob --token tok-b --forward "tcp:127.0.0.2:$F_B=sink" --control "$T/bob.sock" \
	--direct off
for n in conn alice bob; do
	wait_log "$T/$n.log" 'event=connected' 10 || { echo "$n did not connect: $(tail -n 3 "$T/$n.log")" >&2; exit 2; }
done

# The first connection opens the session; ICE runs beside the transfer.
out=$(timeout 60 "$B/bench/zt-testkit" tcp-send "127.0.0.2:$F_A" "$T/data" 2>&1)
check_sum "alice: 16 MiB through the forward, SHA-256 equal" "$out"
wait_log "$T/alice.log" 'event=path_switch.*to=direct' 5
st=$("$B/ztna" status --control "$T/alice.sock" --raw 2>&1)
line=$(grep '^session=' <<<"$st" | head -n 1)
path=$(sed -n 's/.* path=\([a-z]*\).*/\1/p' <<<"$line")
ttd=$(sed -n 's/.* time_to_direct_ms=\([0-9]*\).*/\1/p' <<<"$line")
check "alice: ztna status shows the session on" direct "${path:-none}" "time to direct ${ttd:-?} ms"
# NAT detection (--nat-ports auto) with the Intermediate's STUN port (its UDP port + 1):
# no NAT on loopback, the second destination sees the same port
nat=$(grep '^node' <<<"$st" | sed -n 's/.* nat=\([a-z]*\).*/\1/p')
check "alice: ztna status nat (loopback: one mapping)" eim "${nat:-none}" \
	"$(grep -o 'event=nat_detected.*' "$T/alice.log" | head -n 1)"
"$B/ztna" ping sink -c 3 -i 0.1 --control "$T/alice.sock" >"$T/alice.ping" 2>&1
echo "  $(tail -n 1 "$T/alice.ping")"
check "alice: ztna ping round trips via direct" 3 "$(grep -c 'via direct 127.0.0.3:' "$T/alice.ping")"
out=$(timeout 60 "$B/bench/zt-testkit" tcp-send "127.0.0.2:$F_A" "$T/data" 2>&1)
check_sum "alice: again 16 MiB, now on the direct path" "$out"

out=$(timeout 60 "$B/bench/zt-testkit" tcp-send "127.0.0.2:$F_B" "$T/data" 2>&1)
check_sum "bob (--direct off): 16 MiB through the relay" "$out"
"$B/ztna" ping sink -c 3 -i 0.1 --control "$T/bob.sock" >"$T/bob.ping" 2>&1
echo "  $(tail -n 1 "$T/bob.ping")"
check "bob: ztna ping round trips via relay" 3 "$(grep -c 'via relay in' "$T/bob.ping")"
check "bob: no path switch logged" 0 "$(grep -c 'event=path_switch' "$T/bob.log")"

# The connector dies on the direct path and comes back: once the Intermediate has
# told the agent (session_closed), the next use opens a new session, direct again.
# (A connection opened in between, on the dead session, is reset.)
{ kill -KILL -- "-${PID_OF[conn]}"; wait "${PID_OF[conn]}"; } 2>/dev/null
start conn "${CONN[@]}"
wait_log "$T/alice.log" 'event=session_closed' 10
t0=$(date +%s%N)
out=$(timeout 30 "$B/bench/zt-testkit" tcp-send "127.0.0.2:$F_A" "$T/data" 2>&1)
ms=$((($(date +%s%N) - t0) / 1000000))
check_sum "alice: after a connector restart, 16 MiB again" "$out" "(${ms} ms)"
wait_log "$T/alice.log" 'event=path_switch.*switches=1 ' 5
check "alice: sessions that went direct" 2 "$(grep -c 'event=path_switch.*to=direct.*switches=1 ' "$T/alice.log")"

echo
echo "alice's status:"
"$B/ztna" status --control "$T/alice.sock" | sed 's/^/  /'
echo
echo "localhost: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
