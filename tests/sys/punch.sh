#!/bin/bash
# ztna punch on loopback (127.0.0.0/8 only, no root): 127.0.0.2 <-> 127.0.0.3 both
# ways, a peer told the wrong address reached where its packets come from
# (peer-reflexive), a dead peer (exit 1, no-answer, after attempts x interval + 1 s),
# no initiator (no-ping), SIGINT (130), bad usage (2).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
ZTNA=${BUILD:-build}/ztna
tap_plan 14

tmp=$(mktemp -d /tmp/zt-punch-sys.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

P=$((40000 + ($$ % 5000) * 4))
jget() { printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" | head -n 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# pair NAME LOCAL_A PEER_A LOCAL_B PEER_B: B in the background (responder), A the
# initiator; sets ja jb rca rcb
pair() {
	"$ZTNA" punch --local "$4" --peer "$5" --json --timeout 5 >"$tmp/b.json" 2>"$tmp/b.err" &
	local b=$!
	pids+=("$b")
	ja=$("$ZTNA" punch --local "$2" --peer "$3" --initiator --json --timeout 5 2>"$tmp/a.err")
	rca=$?
	wait "$b"
	rcb=$?
	jb=$(cat "$tmp/b.json")
	tap_diag "$1 A: $ja $(cat "$tmp/a.err")"
	tap_diag "$1 B: $jb $(cat "$tmp/b.err")"
}

for dir in 1 2; do
	if [ $dir = 1 ]; then a=127.0.0.2:$P b=127.0.0.3:$((P + 1)); else a=127.0.0.3:$((P + 2)) b=127.0.0.2:$((P + 3)); fi
	pair "$a -> $b" "$a" "$b" "$b" "$a"
	[ $rca = 0 ] && [ $rcb = 0 ] && [ "$(jget "$ja" result)" = ok ] && [ "$(jget "$jb" result)" = ok ] &&
		tap_ok "$a (initiator) <-> $b: both exit 0" || tap_fail "$a (initiator) <-> $b: both exit 0" "rc $rca $rcb"
	[ "$(jget "$ja" reached)" = "$b" ] && [ "$(jget "$jb" reached)" = "$a" ] &&
		[ "$(jget "$ja" observed)" = "$a" ] && [ "$(jget "$ja" peer_reflexive)" = false ] &&
		tap_ok "... each reached the other at its address, and is seen at its own" ||
		tap_fail "... each reached the other at its address, and is seen at its own"
	rtt=$(jget "$ja" rtt_ms)
	[[ $rtt =~ ^[0-9]+\.[0-9]+$ ]] && [ "${rtt%.*}" -lt 50 ] && [ "$(jget "$ja" pings)" -ge 1 ] &&
		tap_ok "... the initiator's PING/PONG round trip: $rtt ms" ||
		tap_fail "... the initiator's PING/PONG round trip: $rtt ms"
done

# B is told A is at 127.0.0.9 (nothing there); A really is at 127.0.0.4. Only by
# answering where A's packets come from can B reach A (docs/lab.md pitfall 6).
a=127.0.0.4:$((P + 4)) b=127.0.0.3:$((P + 5))
pair "peer-reflexive" "$a" "$b" "$b" "127.0.0.9:$((P + 4))"
[ $rca = 0 ] && [ $rcb = 0 ] && [ "$(jget "$jb" reached)" = "$a" ] && [ "$(jget "$jb" peer_reflexive)" = true ] &&
	tap_ok "a peer told the wrong address is reached where its packets come from (peer-reflexive)" ||
	tap_fail "a peer told the wrong address is reached where its packets come from (peer-reflexive)"
[ "$(jget "$jb" peer_addrs)" = 2 ] && tap_ok "... it kept both addresses" || tap_fail "... it kept both addresses"

# a dead peer
t0=$(now_ms)
out=$("$ZTNA" punch --local 127.0.0.2:$((P + 6)) --peer 127.0.0.9:$((P + 7)) --attempts 5 --interval 50 --json 2>"$tmp/err")
rc=$?
ms=$(($(now_ms) - t0))
tap_diag "dead peer: exit $rc after $ms ms: $out"
[ $rc = 1 ] && [ "$(jget "$out" reason)" = no-answer ] && [ "$(jget "$out" punches)" = 5 ] &&
	tap_ok "a dead peer: exit 1, reason no-answer, 5 punches" ||
	tap_fail "a dead peer: exit 1, reason no-answer, 5 punches" "rc=$rc"
[ $ms -ge 1150 ] && [ $ms -le 1700 ] && tap_ok "... given up 1 s after the last punch (${ms} ms)" ||
	tap_fail "... given up 1 s after the last punch (${ms} ms)"
out=$("$ZTNA" punch --local 127.0.0.2:$((P + 6)) --peer 127.0.0.9:$((P + 7)) --attempts 2 --interval 10 2>&1)
echo "$out" | grep -q "^result        failed (no-answer): nothing arrived from the peer" &&
	tap_ok "... the text output says why" || tap_fail "... the text output says why" "$out"

# neither side initiates
"$ZTNA" punch --local 127.0.0.3:$((P + 9)) --peer 127.0.0.2:$((P + 8)) --timeout 1 --json >"$tmp/b.json" 2>&1 &
b=$!
pids+=("$b")
out=$("$ZTNA" punch --local 127.0.0.2:$((P + 8)) --peer 127.0.0.3:$((P + 9)) --timeout 1 --json 2>&1)
rc=$?
wait "$b"
[ $rc = 1 ] && [ "$(jget "$out" reason)" = no-ping ] && [ "$(jget "$(cat "$tmp/b.json")" reason)" = no-ping ] &&
	tap_ok "no initiator: both exit 1, no-ping" || tap_fail "no initiator: both exit 1, no-ping" "rc=$rc $out"

# SIGINT
"$ZTNA" punch --peer 127.0.0.9:$((P + 7)) --attempts 100 >/dev/null 2>"$tmp/err" &
p=$!
pids+=("$p")
sleep 0.3
kill -INT $p
wait $p
rc=$?
[ $rc = 130 ] && grep -q interrupted "$tmp/err" && tap_ok "SIGINT: exit 130" || tap_fail "SIGINT: exit 130" "rc=$rc"

# usage
"$ZTNA" punch --peer 127.0.0.2 2>"$tmp/err"
rc=$?
[ $rc = 2 ] && grep -q "the port is required" "$tmp/err" && tap_ok "--peer without a port: exit 2, why" ||
	tap_fail "--peer without a port: exit 2, why" "rc=$rc $(cat "$tmp/err")"
