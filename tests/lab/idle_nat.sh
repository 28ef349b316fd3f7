#!/bin/bash
# The default keepalives keep NATs with a 30 s UDP timeout open (issue 16, idle cost):
# both NATs forget an idle UDP mapping after 30 s (conntrack's UDP timeouts in their
# namespaces, and their learned mappings). The agent and the connector run with their
# defaults (--keepalive 25s, --keepalive-direct 25s), one TCP connection open through
# the forward, its session on the direct path; then nothing is sent for 65 s, more
# than twice the NAT timeout. After it: the held connection still echoes, the session
# is still direct (1 switch, no fallback, consent never lost), the agent never
# reconnected and the Intermediate still sees it at the address it logged in from
# (the outer mapping was never lost: a new mapping would be a migration). Meanwhile
# the home NAT's nftables counters measure the idle cost: agent <-> Intermediate and
# agent <-> connector, IP bytes, each at most 10 B/s.
#
#   [ public 203.0.113.0/24 ]  server imd 203.0.113.10 (ztna-intermediate)
#     +-- nat home   (port-restricted, timeout 30)  +-- host alice (agent)
#     +-- nat office (port-restricted, timeout 30)  +-- host c1 (connector, echo)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
B=${BUILD:-build}
IDLE=${IDLE_SECONDS:-65}
lab_require 8
tap_plan 8

cat >"$LAB_TMP/idle.lab" <<LAB
lab idle
public 203.0.113.0/24
server imd addr 203.0.113.10
nat home type port-restricted lan 192.168.1.0/24 wan 203.0.113.1 timeout 30
host alice behind home
nat office type port-restricted lan 192.168.2.0/24 wan 203.0.113.2 timeout 30
host c1 behind office
LAB
if ! lab_up "$LAB_TMP/idle.lab"; then
	for ((i = 0; i < 8; i++)); do tap_fail "lab up"; done
	exit 0
fi
IMD=$ZTLAB_IP_imd

v=$(lab_x home cat /proc/sys/net/netfilter/nf_conntrack_udp_timeout \
	/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream | tr '\n' ' ')
w=$(lab_x office cat /proc/sys/net/netfilter/nf_conntrack_udp_timeout \
	/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream | tr '\n' ' ')
ok_if "both NATs forget an idle UDP mapping after 30 s (conntrack: home $v, office $w)" \
	test "$v$w" = "30 30 30 30 "

"$B/ztna" pki init "$LAB_TMP/pki" --intermediate-ip "$IMD" --agent alice --connector c1=s1 \
	>/dev/null 2>&1
lab_bg imd "$LAB_TMP/imd.log" "$B/ztna-intermediate" --listen "$IMD:4433" \
	--pki "$LAB_TMP/pki/intermediate" --client agent:alice:ta --client connector:c1:t1 \
	--allow alice=s1 --serve c1=s1
lab_wait_for "$LAB_TMP/imd.log" "event=start " 5 >/dev/null
lab_bg c1 "$LAB_TMP/echo.log" "$B/bench/zt-testkit" tcp-echo "$ZTLAB_IP_c1:7000"
# no keepalive options: the defaults are what this is about
lab_bg c1 "$LAB_TMP/c1.log" "$B/ztna-connector" --intermediate "$IMD:4433" \
	--pki "$LAB_TMP/pki/connector-c1" --name c1 --token t1 --service "s1=tcp:$ZTLAB_IP_c1:7000" \
	--control none --transport udp
lab_bg alice "$LAB_TMP/alice.log" "$B/ztna-agent" --intermediate "$IMD:4433" \
	--pki "$LAB_TMP/pki/agent-alice" --name alice --token ta --forward "tcp:127.0.0.1:8000=s1" \
	--control "$LAB_TMP/alice.sock" --transport udp
for n in alice c1; do lab_wait_for "$LAB_TMP/$n.log" "event=connected" 10 >/dev/null; done

# count what crosses the home NAT: to and from the Intermediate, to and from office
ip netns exec "$ZTLAB_NS_home" nft -f - <<NFT
table ip ztidle {
	counter outer { }
	counter direct { }
	counter stun { }
	chain c {
		type filter hook forward priority -20; policy accept;
		ip daddr $ZTLAB_WAN_office udp length > 27 @th,96,32 0x2112a442 counter name stun
		ip saddr $ZTLAB_WAN_office udp length > 27 @th,96,32 0x2112a442 counter name stun
		ip daddr $IMD meta l4proto udp counter name outer
		ip saddr $IMD meta l4proto udp counter name outer
		ip daddr $ZTLAB_WAN_office meta l4proto udp counter name direct
		ip saddr $ZTLAB_WAN_office meta l4proto udp counter name direct
	}
}
NFT
# counter NAME: "PACKETS BYTES"
counter() {
	ip netns exec "$ZTLAB_NS_home" nft list counter ip ztidle "$1" |
		sed -n 's/.*packets \([0-9]*\) bytes \([0-9]*\).*/\1 \2/p'
}

# one TCP connection through the forward, held open: a line now, one after the idle
# time (echo.sh prints what came back)
cat >"$LAB_TMP/hold.sh" <<'SH'
exec 3<>/dev/tcp/127.0.0.1/8000 || exit 1
echo first >&3 && read -r -t 10 a <&3 && echo "got $a"
read -r -t 300 _ <"$1"
echo second >&3 && read -r -t 10 b <&3 && echo "got $b"
SH
mkfifo "$LAB_TMP/go"
lab_bg alice "$LAB_TMP/hold.out" bash "$LAB_TMP/hold.sh" "$LAB_TMP/go"
exec 4<>"$LAB_TMP/go"
if lab_wait_for "$LAB_TMP/hold.out" "got first" 10 &&
	lab_wait_for "$LAB_TMP/alice.log" "event=path_switch.*to=direct" 10; then
	tap_ok "a TCP connection through the forward echoes; its session goes direct through both NATs"
else
	tap_fail "the held connection echoes, direct" "$(grep -hE 'path_|ice_' "$LAB_TMP/alice.log" | tail -n 3)"
fi

sleep 3
read -r o0p o0b <<<"$(counter outer)"
read -r d0p d0b <<<"$(counter direct)"
read -r s0p s0b <<<"$(counter stun)"
t0=$(date +%s.%N)
tap_diag "idle for $IDLE s (NAT timeout 30 s)"
sleep "$IDLE"
read -r o1p o1b <<<"$(counter outer)"
read -r d1p d1b <<<"$(counter direct)"
read -r s1p s1b <<<"$(counter stun)"
el=$(echo "scale=1; ($(date +%s.%N) - $t0) / 1" | bc)

echo go >&4
lab_wait_for "$LAB_TMP/hold.out" "got second" 10 >/dev/null
ok_if "after $IDLE s idle the held connection still echoes" grep -q "got second" "$LAB_TMP/hold.out"
st=$("$B/ztna" status --control "$LAB_TMP/alice.sock" --raw | grep '^session=')
n=$(grep -c "event=path_switch" "$LAB_TMP/alice.log")
if grep -q " path=direct .*switches=1 " <<<"$st" && [ "$n" = 1 ]; then
	tap_ok "the session is still direct: 1 switch, never back to the relay"
else
	tap_fail "still direct, 1 switch" "$st; $(grep -h 'path_' "$LAB_TMP/alice.log" | tail -n 3 | tr '\n' ' ')"
fi
bad=$(grep -h "event=ice_consent_lost\|action=go-relay" "$LAB_TMP/alice.log" "$LAB_TMP/c1.log")
ok_if "consent never lost on either end" test -z "$bad"
"$B/ztna" ping s1 -c 2 -i 0.3 --control "$LAB_TMP/alice.sock" >"$LAB_TMP/ping" 2>&1
ok_if "ztna ping answered via direct ($(tail -n 1 "$LAB_TMP/ping"))" \
	test "$(grep -c 'via direct' "$LAB_TMP/ping")" = 2
# the outer mapping: one login each, and the Intermediate saw no other address
logins=$(grep -c "event=client_ready" "$LAB_TMP/imd.log")
moved=$(grep -c "event=observed_address" "$LAB_TMP/alice.log" "$LAB_TMP/c1.log" | awk -F: '{s += $2} END {print s + 0}')
ok_if "the outer connections kept their mappings: 2 logins, no new observed address ($logins, $moved)" \
	test "$logins" = 2 -a "$moved" = 0
tap_diag "of the direct path's $((d1p - d0p)) datagrams, $((s1p - s0p)) were STUN (consent checks)"
ro=$(echo "scale=1; ($o1b - $o0b) / $el" | bc)
rd=$(echo "scale=1; ($d1b - $d0b) / $el" | bc)
if [ "$(echo "$ro <= 10 && $rd <= 10" | bc)" = 1 ] && [ $((o1p - o0p)) -ge 2 ] && [ $((d1p - d0p)) -ge 2 ]; then
	tap_ok "idle cost at the home NAT, IP bytes: agent <-> Intermediate $ro B/s ($((o1p - o0p)) datagrams), agent <-> connector $rd B/s ($((d1p - d0p)) datagrams) in $el s"
else
	tap_fail "idle cost at most 10 B/s each, keepalives seen" \
		"outer $ro B/s ($((o1p - o0p)) datagrams), direct $rd B/s ($((d1p - d0p)) datagrams) in $el s"
fi
exec 4>&-
