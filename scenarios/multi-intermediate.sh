#!/bin/bash
# Several Intermediates on a three-node NATS cluster (docs/scale-out.md), in the
# namespace lab:
#
#   [ public 203.0.113.0/24 ]
#     +-- server n1, n2, n3  203.0.113.21-23   nats-server cluster (JetStream, 3 copies)
#     +-- server imda  203.0.113.10   ztna-intermediate imd-a  <-- c1 (full-cone NAT)
#     +-- server imdb  203.0.113.11   ztna-intermediate imd-b  <-- alice (port-restricted),
#     +-- server imdc  203.0.113.12   ztna-intermediate imd-c  <-- c2      bob (symmetric)
#                                                               (port-restricted)
#
# alice and bob are at B, their connectors at A and C: every session crosses
# Intermediates. Checks: the cluster forms and every Intermediate sees where everyone
# is; alice <-> c1 go direct and 64 MiB pass intact each way; bob <-> c2 cannot
# (symmetric x port-restricted) and 64 MiB pass each way relayed B <-> C over a link;
# one NATS node killed: a new session across Intermediates still opens; A killed during
# alice's download over the direct path: the download completes intact; the whole
# NATS cluster stopped: bob's relayed session keeps carrying data, a new session whose
# connector's record has expired is refused with a clear error, and works again once
# the cluster is back (time measured); C killed during bob's relayed download from c2:
# c2 leaves the silent C for B (its second Intermediate, default timeouts: 3 s probes
# while it relays, 15 s of silence), B takes the session up from its lost link to C,
# and the download goes on in the same session and arrives intact. Prints the setup, expected and seen, PASS/FAIL;
# exit 0 only when all agree. Everything it creates is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/multi-intermediate.sh [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
SC_NAME="multi-intermediate"
MB=${MI_MB:-64}
sc_say "== $SC_NAME: three Intermediates on a NATS cluster, sessions across them =="
if ! command -v nats-server >/dev/null; then
	echo "$0: nats-server is not installed (sudo tools/deps.sh lab)" >&2
	exit 2
fi
sc_lab "$SC_ROOT/scenarios/lab/multi-intermediate.lab" || exit 2
A=$ZTLAB_IP_imda B=$ZTLAB_IP_imdb C=$ZTLAB_IP_imdc
NATS="nats://$ZTLAB_IP_n1:4222,nats://$ZTLAB_IP_n2:4222,nats://$ZTLAB_IP_n3:4222"
sc_say "expected: alice (at B) reaches c1 (at A) directly; bob (at B) reaches c2 (at C)"
sc_say "through the relay, B <-> C over a link; ${MB} MiB intact each way for both; the"
sc_say "faults (a NATS node, Intermediate A, the whole cluster) as the header says."
sc_say ""

"$ZTNA" pki init "$LAB_TMP/pki" --intermediate-ip "$A" --intermediate-ip "$B" \
	--intermediate-ip "$C" --agent alice --agent bob --connector "c1=sink1,source1" \
	--connector "c2=sink2,source2,echo2" >"$LAB_TMP/pki.out" 2>&1 ||
	{ cat "$LAB_TMP/pki.out" >&2; exit 2; }
head -c 32 /dev/urandom | base64 >"$LAB_TMP/presence.key"
chmod 600 "$LAB_TMP/presence.key"
head -c "${MB}M" /dev/urandom >"$LAB_TMP/data"
SUM=$(sha256sum "$LAB_TMP/data" | cut -c1-64)
declare -A PID

nats_node() { # I: nats-server on nI, routes to the other two
	local i=$1 ip routes=() j
	ip=$(eval echo "\$ZTLAB_IP_n$i")
	for j in 1 2 3; do
		[ "$j" = "$i" ] || routes+=("nats://$(eval echo "\$ZTLAB_IP_n$j"):6222")
	done
	lab_bg "n$i" "$LAB_TMP/n$i.log" nats-server -a "$ip" -p 4222 -js -sd "$LAB_TMP/js$i" \
		-n "zt-n$i" --cluster_name zt-lab --cluster "nats://$ip:6222" \
		--routes "$(IFS=,; echo "${routes[*]}")"
	PID[n$i]=$LAB_BG
}
imd() { # NAME SERVER IP
	lab_bg "$2" "$LAB_TMP/imd-$1.log" "$SC_ROOT/$BUILD/ztna-intermediate" --listen "$3:4433" \
		--tcp-listen off --pki "$LAB_TMP/pki/intermediate" --control "$LAB_TMP/$1.sock" \
		--client agent:alice:ta --client agent:bob:tb --client connector:c1:t1 \
		--client connector:c2:t2 --allow alice=sink1,source1,source2 \
		--allow bob=sink2,source2,echo2 --serve c1=sink1,source1 --serve c2=sink2,source2,echo2 \
		--nats "$NATS" --nats-name "imd-$1" --presence-key "$LAB_TMP/presence.key" \
		--nats-replicas 3 --presence-ttl 6s
	PID[imd-$1]=$LAB_BG
}
connector() { # NAME IMD-IP[,IMD-IP] SERVICES...
	local n=$1 at=() ip svc=() i
	IFS=, read -ra i <<<"$2"
	for ip in "${i[@]}"; do at+=(--intermediate "$ip:4433"); done
	shift 2
	ip=$(eval echo "\$ZTLAB_IP_$n")
	for s in "$@"; do svc+=(--service "$s"); done
	lab_bg "$n" "$LAB_TMP/conn-$n.log" "$SC_ROOT/$BUILD/ztna-connector" "${at[@]}" \
		--pki "$LAB_TMP/pki/connector-$n" --name "$n" --token "t${n#c}" "${svc[@]}" \
		--control "$LAB_TMP/conn-$n.sock"
	PID[conn-$n]=$LAB_BG
}
agent() { # NAME TOKEN FORWARDS...
	local n=$1 tok=$2 fw=()
	shift 2
	for f in "$@"; do fw+=(--forward "$f"); done
	lab_bg "$n" "$LAB_TMP/agent-$n.log" "$SC_ROOT/$BUILD/ztna-agent" --intermediate "$B:4433" \
		--pki "$LAB_TMP/pki/agent-$n" --name "$n" --token "$tok" "${fw[@]}" \
		--control "$LAB_TMP/agent-$n.sock"
	PID[agent-$n]=$LAB_BG
}
presence() { echo presence | timeout 5 socat -t 3 - "UNIX-CONNECT:$LAB_TMP/$1.sock" 2>/dev/null; }
wait_presence() { # IMD PATTERN TENTHS: until IMD's presence has a line matching PATTERN
	local i
	for ((i = 0; i < $3; i++)); do
		presence "$1" | grep -q -- "$2" && return 0
		sleep 0.1
	done
	return 1
}
# send/recv HOST PORT: MB MiB to a sink / from a source through an agent's forward
send() { lab_x "$1" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-send "127.0.0.1:$2" "$LAB_TMP/data" 2>&1; }
recv() { lab_x "$1" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-recv "127.0.0.1:$2" 2>&1; }
sum16() { echo "${1%% *} $(cut -c1-16 <<<"${1#* }")"; }
WANT="$((MB * 1048576)) ${SUM:0:16}"
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
crash() { # NAME...: SIGKILL, no goodbye
	local n
	for n in "$@"; do kill -KILL "${PID[$n]}" 2>/dev/null; done
	for n in "$@"; do wait "${PID[$n]}" 2>/dev/null; done
}

for i in 1 2 3; do nats_node "$i"; done
for n in c1 c2; do
	ip=$(eval echo "\$ZTLAB_IP_$n")
	lab_bg "$n" "$LAB_TMP/sink-$n.log" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-sink "$ip:7001"
	lab_bg "$n" "$LAB_TMP/source-$n.log" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-source "$ip:7002" "$LAB_TMP/data"
	lab_bg "$n" "$LAB_TMP/echo-$n.log" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-echo "$ip:7003"
done
imd a imda "$A"
imd b imdb "$B"
imd c imdc "$C"
connector c1 "$A" "sink1=tcp:$ZTLAB_IP_c1:7001" "source1=tcp:$ZTLAB_IP_c1:7002"
connector c2 "$C,$B" "sink2=tcp:$ZTLAB_IP_c2:7001" "source2=tcp:$ZTLAB_IP_c2:7002" "echo2=tcp:$ZTLAB_IP_c2:7003"
agent alice ta "tcp:127.0.0.1:8001=sink1" "tcp:127.0.0.1:8002=source1" "tcp:127.0.0.1:8003=source2"
agent bob tb "tcp:127.0.0.1:8001=sink2" "tcp:127.0.0.1:8002=source2" "tcp:127.0.0.1:8003=echo2"

# 1. the cluster forms; every Intermediate sees every client where it is
ok=yes
for x in a b c; do
	wait_presence "$x" "^presence=connector.c1 imd=imd-a" 300 &&
		wait_presence "$x" "^presence=connector.c2 imd=imd-c" 100 &&
		wait_presence "$x" "^presence=agent.bob imd=imd-b" 100 || ok=no
done
sc_row "cluster up: A, B, C each see c1@A, c2@C, bob@B" yes "$ok"

# 2. alice <-> c1 (B, A): direct, MB MiB each way
t0=$(date +%s%N)
up=$(send alice 8001)
sc_row "alice -> c1: ${MB} MiB up, intact" "$WANT" "$(sum16 "$up")" "$(ms_since "$t0") ms"
t0=$(date +%s%N)
down=$(recv alice 8002)
sc_row "alice <- c1: ${MB} MiB down, intact" "$WANT" "$(sum16 "$down")" "$(ms_since "$t0") ms"
sc_row "... alice's session went direct" yes \
	"$(grep -q 'event=path_switch .*to=direct' "$LAB_TMP/agent-alice.log" && echo yes || echo no)"
sc_row "... B linked to A for it" yes \
	"$(grep -q 'event=session_open .*agent=ztna:agent:alice .*intermediate=imd-a' "$LAB_TMP/imd-b.log" && echo yes || echo no)"

# 3. bob <-> c2 (B, C): relayed B <-> C, MB MiB each way
t0=$(date +%s%N)
up=$(send bob 8001)
sc_row "bob -> c2: ${MB} MiB up, intact (relay)" "$WANT" "$(sum16 "$up")" "$(ms_since "$t0") ms"
t0=$(date +%s%N)
down=$(recv bob 8002)
sc_row "bob <- c2: ${MB} MiB down, intact (relay)" "$WANT" "$(sum16 "$down")" "$(ms_since "$t0") ms"
kill -HUP "${PID[imd-b]}" "${PID[imd-c]}"
sleep 0.5
rb=$(grep 'event=stats' "$LAB_TMP/imd-b.log" | tail -1 | sed -n 's/.* relay_bytes=\([0-9]*\).*/\1/p')
rc=$(grep 'event=stats' "$LAB_TMP/imd-c.log" | tail -1 | sed -n 's/.* relay_bytes=\([0-9]*\).*/\1/p')
sc_row "... relayed at B and at C (>= 2 x ${MB} MiB each)" yes \
	"$([ "${rb:-0}" -ge $((2 * MB * 1048576)) ] && [ "${rc:-0}" -ge $((2 * MB * 1048576)) ] && echo yes || echo no)" \
	"B ${rb:-?} B, C ${rc:-?} B"
sc_row "... bob's session stayed on the relay" no \
	"$(grep -q 'event=path_switch .*to=direct' "$LAB_TMP/agent-bob.log" && echo yes || echo no)"

# 4. one NATS node killed: a new session across Intermediates (alice -> c2) opens
crash n1
t0=$(date +%s%N)
down=$(recv alice 8003)
sc_row "n1 killed: alice <- c2 (a new session B -> C), intact" "$WANT" "$(sum16 "$down")" "$(ms_since "$t0") ms"

# 5. A killed while alice downloads from c1 over the direct path, read at 8 MiB/s for
# 5 s (A dies 2 s in); then another MB MiB over the same session, A still dead
lab_x alice "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-slow "127.0.0.1:8002" 8388608 5 >"$LAB_TMP/dl" 2>&1 &
dl=$!
sleep 2
t0=$(date +%s%N)
crash imd-a
wait $dl
got=$(grep -o '^[0-9]*' "$LAB_TMP/dl")
sc_row "A killed 2 s into a 5 s download at 8 MiB/s: 40 MiB read (>= 39)" yes \
	"$([ "${got:-0}" -ge $((39 * 1048576)) ] && echo yes || echo no)" "${got:-0} bytes"

down=$(recv alice 8002)
sc_row "... then alice <- c1 over the direct path, A dead: intact" "$WANT" "$(sum16 "$down")"
for ((i = 0; i < 200; i++)); do
	grep -q 'event=link_down intermediate=imd-a' "$LAB_TMP/imd-b.log" && break
	sleep 0.1
done
sc_row "... B notices: link to A down within 15 s" yes \
	"$(grep -q 'event=link_down intermediate=imd-a' "$LAB_TMP/imd-b.log" && echo yes || echo no)" \
	"$(ms_since "$t0") ms after the kill"

# 6. the whole NATS cluster stopped: bob's relayed session carries on; a session whose
# connector's record expired is refused clearly; back when the cluster is
crash n2 n3
t0=$(date +%s%N)
up=$(send bob 8001)
sc_row "NATS down: bob -> c2 on his relayed session, intact" "$WANT" "$(sum16 "$up")" "$(ms_since "$t0") ms"
sleep 7 # the records' 6 s
out=$(echo hi | lab_x bob timeout 10 socat -t 3 - TCP:127.0.0.1:8003 2>&1)
sleep 0.5
sc_row "NATS down, records expired: bob's new session (echo2) refused" "refused" \
	"$([ "$out" != hi ] && grep -q 'event=open_failed service=echo2 .*no connector serves echo2 .*NATS cluster is unreachable' "$LAB_TMP/agent-bob.log" && echo refused || echo "'$out'")" \
	"$(grep -m1 'event=open_failed service=echo2' "$LAB_TMP/agent-bob.log" | sed -n 's/.*\(text="[^"]*"\).*/\1/p')"
t0=$(date +%s%N)
for i in 1 2 3; do nats_node "$i"; done
back=no
for ((i = 0; i < 600; i++)); do
	out=$(echo hi | lab_x bob timeout 5 socat -t 2 - TCP:127.0.0.1:8003 2>&1)
	[ "$out" = hi ] && { back=yes; break; }
	sleep 0.5
done
sc_row "NATS back: bob's new session (echo2) works again" yes "$back" "$(ms_since "$t0") ms after the restart"
# 7. C killed 2 s into bob's download from c2 (relayed B <-> C), read at 4 MiB/s: c2
# moves to B, the session goes on there under its id, every byte arrives
lab_x bob "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-slow "127.0.0.1:8002" 4194304 90 "$LAB_TMP/dl7" \
	>"$LAB_TMP/dl7.n" 2>&1 &
dl=$!
sleep 2
t0=$(date +%s%N)
crash imd-c
moved=no
for ((i = 0; i < 300; i++)); do
	grep -q "event=connected .*intermediate=$B:4433" "$LAB_TMP/conn-c2.log" && { moved=yes; break; }
	sleep 0.1
done
sc_row "C killed: c2 logged in at B within 30 s (3 s probes, 15 s silence)" yes "$moved" \
	"$(ms_since "$t0") ms after the kill"
wait $dl
got=$(sha256sum "$LAB_TMP/dl7" | cut -c1-16)
sid=$(grep -o 'event=session_open session=[0-9a-f]* service=source2' "$LAB_TMP/agent-bob.log" | tail -1 |
	sed 's/.*session=\([0-9a-f]*\).*/\1/')
sc_row "... bob's download went on at B in the same session, intact" \
	"$WANT moved" "$(stat -c %s "$LAB_TMP/dl7") $got $(grep -Eq "event=(session_moved|cross_local) session=$sid .*connector=ztna:connector:c2" \
	"$LAB_TMP/imd-b.log" && echo moved || echo "not-moved($sid)")" "$(ms_since "$t0") ms after the kill"

sc_report
