#!/bin/bash
# Shared presence on a three-node NATS cluster (docs/scale-out.md), on loopback:
#
#   ztna-connector c1 --> ztna-intermediate A --.   nats-server n1 --.
#                                                +-> nats-server n2 --+ cluster, JetStream,
#   ztna-agent alice ---> ztna-intermediate B --'   nats-server n3 --'  bucket with 3 copies
#
# Checks: the cluster forms; A and B (each given all three servers) share presence;
# the bucket has 3 replicas (--nats-replicas 3); the NATS node A is connected to killed:
# A and B are ready again through the others, and a connector logging in at A
# afterwards is seen at B; the killed node back: it rejoins and the presence is still
# shared.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
N=5
tap_plan $N

. tests/lib/progs.sh
progs_init nats-cluster
. tests/lib/nats.sh
nats_skip_all $N

P_A=$((PORT + 2)) P_B=$((PORT + 4)) P_ECHO=$((PORT + 10)) P_MON=$((PORT + 40))
# node i: client port PORT+20+i, cluster port PORT+30+i, monitor port PORT+40+i
SERVERS=nats://$L:$((PORT + 21)),nats://$L:$((PORT + 22)),nats://$L:$((PORT + 23))
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --service echo@c2 \
	--agent alice --connector c1 --connector c2 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 32 /dev/urandom | base64 >"$T/presence.key"
chmod 600 "$T/presence.key"

node_start() { # i
	local i=$1 routes=() j
	for j in 1 2 3; do
		[ "$j" = "$i" ] || routes+=("nats://$L:$((PORT + 30 + j))")
	done
	progs_start "n$i" nats-server -a "$L" -p $((PORT + 20 + i)) -js -sd "$T/js$i" -n "zt-n$i" \
		--cluster_name zt-test --cluster "nats://$L:$((PORT + 30 + i))" \
		--routes "$(IFS=,; echo "${routes[*]}")" -m $((P_MON + i))
}
imd() { # NAME PORT
	progs_start "imd-$1" "$B/ztna-intermediate" --listen "$L:$2" --tcp-listen off \
		--stun-port off --pki "$T/pki/intermediate" --client agent:alice:ta \
		--client connector:c1:tc --client connector:c2:tc2 --allow alice=echo \
		--serve c1=echo --serve c2=echo --control "$T/$1.sock" --nats "$SERVERS" \
		--nats-name "imd-$1" --presence-key "$T/presence.key" --nats-replicas 3
}
connector() { # NAME IMD-PORT TOKEN
	progs_start "conn-$1" "$B/ztna-connector" --intermediate "$L:$2" --transport udp \
		--pki "$T/pki/connector-$1" --name "$1" --token "$3" \
		--service "echo=tcp:$L:$P_ECHO" --control none
}

# 1. the cluster forms (JetStream has a meta leader)
for i in 1 2 3; do node_start "$i"; done
ok=0
for _ in $(seq 150); do
	cat "$T"/n[123].log 2>/dev/null | grep -q "JetStream cluster new metadata leader\|Self is new JetStream cluster metadata leader" && ok=1 && break
	sleep 0.1
done
[ $ok = 1 ] && tap_ok "three nats-servers form a JetStream cluster" ||
	tap_fail "cluster forms" "$(tail -n 3 "$T"/n1.log)"

# 2. A and B share presence through it
progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
imd a "$P_A"
imd b "$P_B"
connector c1 "$P_A" tc
progs_start agent "$B/ztna-agent" --intermediate "$L:$P_B" --transport udp \
	--pki "$T/pki/agent-alice" --name alice --token ta --control none \
	--forward "tcp:$L:$((PORT + 13))=echo"
wait_presence b "^presence=connector.c1 imd=imd-a" 30 && wait_presence a "^presence=agent.alice imd=imd-b" 10 &&
	tap_ok "A and B share presence through the cluster" ||
	tap_fail "presence shared" "A: $(presence a) B: $(presence b)"

# 3. the bucket has three copies
js=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
	"http://$L:$((P_MON + 1))/jsz?streams=true&config=true" 2>&1)
reps=$(python3 -c 'import json, sys
d = json.load(sys.stdin)
for a in d.get("account_details", []):
    for s in a.get("stream_detail", []):
        if s["name"] == "KV_ztna-presence":
            print(s["config"]["num_replicas"])' <<<"$js" 2>/dev/null)
[ "$reps" = 3 ] && tap_ok "bucket ztna-presence: 3 replicas" || tap_fail "replicas" "'$reps'"

# 4. the node A is connected to killed: both ready again through the others, a new
# login at A seen at B
victim=
for _ in $(seq 50); do
	for i in 1 2 3; do
		python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
			"http://$L:$((P_MON + i))/connz" 2>/dev/null | grep -q '"name": *"imd-a"' && victim=$i
	done
	[ -n "$victim" ] && break
	sleep 0.1
done
tap_diag "A is connected to n${victim:-?}"
progs_stop "n${victim:-1}" KILL
t0=$(date +%s.%N)
connector c2 "$P_A" tc2
ok=0
# JetStream elects new leaders for the bucket first (7-11 s seen); a loaded machine
# takes longer
wait_presence b "^presence=connector.c2 imd=imd-a" 60 && ok=1
el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
# both ready (a watcher may be rebuilt once more while the cluster settles)
for _ in $(seq 150); do
	pa=$(presence a) pb=$(presence b)
	[ "$(field "$pa" state)" = ready ] && [ "$(field "$pb" state)" = ready ] && break
	sleep 0.1
done
[ -n "$victim" ] && [ $ok = 1 ] && [ "$(field "$pa" state)" = ready ] && [ "$(field "$pb" state)" = ready ] &&
	tap_ok "n$victim (A's) killed: A and B ready through the others; c2's login at A seen at B after ${el}s" ||
	tap_fail "one node down" "victim n${victim:-?} ok=$ok after ${el}s A: $pa B: $pb $(grep 'event=nats' "$T/imd-a.log" | tail -4)"

# 5. the node back: it rejoins; presence still shared (alice, c1, c2 at B)
node_start "${victim:-1}"
sleep 2
progs_stop conn-c2
ok=0
for _ in $(seq 100); do
	pb=$(presence b)
	! grep -q "^presence=connector.c2 " <<<"$pb" && grep -q "^presence=connector.c1 imd=imd-a" <<<"$pb" &&
		grep -q "^presence=agent.alice imd=imd-b" <<<"$pb" && ok=1 && break
	sleep 0.1
done
[ $ok = 1 ] && progs_alive "n${victim:-1}" && tap_ok "n${victim:-1} back: running, c2's logout seen, c1 and alice still listed at B" ||
	tap_fail "node back" "alive: $(progs_alive "n${victim:-1}" && echo yes || echo no) B: $pb"
