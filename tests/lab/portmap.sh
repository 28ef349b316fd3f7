#!/bin/bash
# The lab's port-mapping routers (scenarios/lab/portmap-routers.lab): ztna-lab runs a
# real miniupnpd in each NAT with 'portmap'; real clients ask it for a UDP mapping and a
# public server's packets then reach the host, until the mapping is deleted.
#
#   [ public 100.21.0.0/24 ]
#     +-- server peer    100.21.0.20        sends to the mapped public ports
#     +-- nat all_n  (symmetric, portmap all)     --  host alice   udp-echo :6000
#     +-- nat upnp_n (symmetric, portmap upnp)    --  host ursula  udp-echo :6000
#     +-- nat pmp_n  (symmetric, portmap natpmp)  --  host nadia   udp-echo :6000
#     +-- nat pcp_n  (symmetric, portmap pcp)     --  host pia     udp-echo :6000
#
# Clients: upnpc (Debian miniupnpc: SSDP discovery, then SOAP AddPortMapping and
# DeletePortMapping), natpmpc (Debian natpmpc, NAT-PMP), zt-testkit pcp-map (PCP MAP
# with core/pcp.h: Debian has no PCP client). Also: 'natpmp' and 'pcp' answer only
# their protocol; the daemons are the lab's own processes (recorded pid, the NAT's
# namespace), gone after down, also after the supervisor's SIGKILL; without miniupnpd
# up fails saying so and leaves nothing; `ztna-lab portmap-restart` restarts one as a
# router restart would (mappings and conntrack gone, a new pid, its epoch from 0).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. scenarios/lib.sh

N=21
lab_require $N
tap_plan $N
for tool in miniupnpd upnpc natpmpc; do
	if ! PATH=$PATH:/usr/sbin command -v $tool >/dev/null; then
		skip_all "$tool is not installed (sudo tools/deps.sh lab)" $N
	fi
done
export PATH=$PATH:/usr/sbin
TESTKIT=$SC_ROOT/$BUILD/bench/zt-testkit
SCN=scenarios/lab/portmap-routers.lab

# reached WAN_IP PORT: how many of 3 probes from peer to WAN_IP:PORT the host behind
# echoes back (the echo answers from the same mapping)
reached() {
	kv "$(probe peer --to "$1:$2" --count 3 --interval 50 -w 300)" received
}

# natpmp HOST GW PUBLIC LIFETIME: natpmpc's mapping of HOST's UDP port 6000; prints its
# "Mapped public port" line (none within 3 s: nothing)
natpmp() {
	lab_x "$1" timeout 3 natpmpc -g "$2" -a "$3" 6000 udp "$4" 2>&1 | grep '^Mapped public port'
}

if ! lab_up $SCN; then
	for ((i = 0; i < N; i++)); do tap_fail "lab up"; done
	exit 0
fi
for h in alice ursula nadia pia; do
	lab_bg "$h" "$LAB_TMP/echo-$h.out" "$ZTLAB" udp-echo --bind 6000
	lab_wait_for "$LAB_TMP/echo-$h.out" listening
done
GW=$ZTLAB_GW_alice WAN=$ZTLAB_WAN_all_n

# 1
ok_if "env: ZTLAB_PORTMAPS '$ZTLAB_PORTMAPS', all_n $ZTLAB_PORTMAP_all_n, pmp_n $ZTLAB_PORTMAP_pmp_n" \
	test "$ZTLAB_PORTMAPS/$ZTLAB_PORTMAP_all_n/$ZTLAB_PORTMAP_upnp_n/$ZTLAB_PORTMAP_pmp_n/$ZTLAB_PORTMAP_pcp_n" = \
	"all_n upnp_n pmp_n pcp_n/all/upnp/natpmp/pcp"

# 2: one recorded miniupnpd per NAT, in that NAT's namespace, its files in the run dir
ok=0
while read -r pid start node prog; do
	ns_want=$(stat -L -c %i "/run/netns/$ZTLAB_PREFIX$node")
	ns_got=$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)
	proc_running "$pid" "$start" && [ "$prog" = miniupnpd ] && [ "$ns_got" = "$ns_want" ] &&
		[ -s "$ZTLAB_RUNDIR/portmap-$node.conf" ] && ok=$((ok + 1))
done < <(lab_procs "$LAB")
ok_if "4 recorded miniupnpd, each in its NAT's namespace with portmap-NODE.conf ($ok)" test $ok = 4

# 3-5: UPnP IGD at all_n: discovery, AddPortMapping, a packet in, DeletePortMapping
before=$(reached "$WAN" 16000)
add=$(lab_x alice timeout 10 upnpc -a "$ZTLAB_IP_alice" 6000 16000 UDP 2>&1 | grep 'is redirected')
ok_if "upnpc at all_n: '$add'" test -n "$add"
got=$(reached "$WAN" 16000)
ok_if "peer's probes to $WAN:16000 reach alice's echo: $got of 3 (before the mapping: $before)" \
	test "$got" -ge 1 -a "$before" = 0
lab_x alice timeout 10 upnpc -d 16000 UDP >/dev/null 2>&1
ok_if "after upnpc -d: $(reached "$WAN" 16000) of 3 reach alice" test "$(reached "$WAN" 16000)" = 0

# 6-7: NAT-PMP at all_n
m=$(natpmp alice "$GW" 17000 60)
got=$(reached "$WAN" 17000)
ok_if "natpmpc at all_n: '$m'; the peer reaches alice: $got of 3" test -n "$m" -a "$got" -ge 1
natpmp alice "$GW" 17000 0 >/dev/null
ok_if "after natpmpc's delete (lifetime 0): $(reached "$WAN" 17000) of 3" test "$(reached "$WAN" 17000)" = 0

# 8-9: PCP at all_n (the delete takes the mapping's nonce)
m=$(lab_x alice "$TESTKIT" pcp-map "$GW" 6000 18000 120)
got=$(reached "$WAN" 18000)
ok_if "zt-testkit pcp-map at all_n: '$m'; the peer reaches alice: $got of 3" \
	test "${m% nonce *}" = "mapped $WAN:18000 lifetime 120" -a "$got" -ge 1
d=$(lab_x alice "$TESTKIT" pcp-map "$GW" 6000 18000 0 "${m##* }")
ok_if "after PCP's delete ($d): $(reached "$WAN" 18000) of 3" test "$d/$(reached "$WAN" 18000)" = deleted/0

# 10-11: 'natpmp' answers NAT-PMP, drops PCP (and counts the drop)
m=$(natpmp nadia "$ZTLAB_GW_nadia" 17001 60)
p=$(lab_x nadia "$TESTKIT" pcp-map "$ZTLAB_GW_nadia" 6000 18001 60)
drops=$(lab_x pmp_n nft list chain ip ztlab input | sed -n 's/.*udp dport 5351 .*counter packets \([0-9]*\) .*/\1/p')
ok_if "pmp_n (natpmp): natpmpc '$m', reached $(reached "$ZTLAB_WAN_pmp_n" 17001) of 3" \
	test -n "$m" -a "$(reached "$ZTLAB_WAN_pmp_n" 17001)" -ge 1
ok_if "pmp_n (natpmp): PCP gets '$p', $drops requests dropped" test "$p" = "no answer" -a "${drops:-0}" -ge 3
# 12-13: 'pcp' the other way round; 'upnp' answers neither on 5351
p=$(lab_x pia "$TESTKIT" pcp-map "$ZTLAB_GW_pia" 6000 18002 120)
m=$(natpmp pia "$ZTLAB_GW_pia" 17002 60)
ok_if "pcp_n (pcp): PCP '${p% nonce *}', reached $(reached "$ZTLAB_WAN_pcp_n" 18002) of 3; NAT-PMP '$m'" \
	test "${p% nonce *}" = "mapped $ZTLAB_WAN_pcp_n:18002 lifetime 120" -a -z "$m" -a \
	"$(reached "$ZTLAB_WAN_pcp_n" 18002)" -ge 1
add=$(lab_x ursula timeout 10 upnpc -a "$ZTLAB_IP_ursula" 6000 16001 UDP 2>&1 | grep 'is redirected')
m=$(natpmp ursula "$ZTLAB_GW_ursula" 17003 60)
ok_if "upnp_n (upnp): upnpc '$add', reached $(reached "$ZTLAB_WAN_upnp_n" 16001) of 3; NAT-PMP '$m'" \
	test -n "$add" -a -z "$m" -a "$(reached "$ZTLAB_WAN_upnp_n" 16001)" -ge 1

# 14-17: ztna-lab portmap-restart: miniupnpd killed, its mappings gone with the NAT's
# conntrack, started again (a new recorded pid), its epoch started over
epoch() { lab_x alice timeout 3 natpmpc -g "$GW" 2>&1 | sed -n 's/^epoch = \([0-9]*\)$/\1/p' | head -n 1; }
m=$(natpmp alice "$GW" 17004 60)
sleep 2
e0=$(epoch) got0=$(reached "$WAN" 17004)
old=$(lab_procs "$LAB" | awk '$3 == "all_n" { print $1, $2 }' | tail -n 1)
out=$("$ZTLAB" portmap-restart "$LAB" all_n 2>&1)
rc=$?
new=$(lab_procs "$LAB" | awk '$3 == "all_n" { print $1, $2 }' | tail -n 1)
# shellcheck disable=SC2086 # pid start
[ $rc = 0 ] && [ -n "$old" ] && [ "$new" != "$old" ] && ! proc_running $old && proc_running $new &&
	grep -q "^${new%% *} .* all_n miniupnpd$" "/run/ztna-lab/$LAB/procs"
ok_rc $? "portmap-restart all_n: '$out' (exit $rc); miniupnpd ${old%% *} gone, ${new%% *} recorded and running"
ok_if "the mapping made before ('$m', reached $got0 of 3) is gone: reached $(reached "$WAN" 17004) of 3, chain: $(lab_x all_n nft list chain inet ztlab_pm upnp_pre | grep -c dnat) rule(s)" \
	test "$got0" -ge 1 -a "$(reached "$WAN" 17004)" = 0 -a "$(lab_x all_n nft list chain inet ztlab_pm upnp_pre | grep -c dnat)" = 0
e1=$(epoch)
m=$(natpmp alice "$GW" 17005 60)
ok_if "the restarted miniupnpd maps again ('$m', reached $(reached "$WAN" 17005) of 3), its epoch started over ($e0 s before, $e1 s after)" \
	test -n "$m" -a "$(reached "$WAN" 17005)" -ge 1 -a -n "$e0" -a -n "$e1" -a "${e0:-0}" -ge 2 -a "${e1:-9}" -lt "${e0:-0}"
natpmp alice "$GW" 17005 0 >/dev/null
o1=$("$ZTLAB" portmap-restart "$LAB" alice 2>&1)
r1=$?
o2=$("$ZTLAB" portmap-restart "${LAB}x" all_n 2>&1)
r2=$?
o3=$("$ZTLAB" portmap-restart "$LAB" 2>&1)
r3=$?
[ $r1 = 1 ] && [[ $o1 == *"has no nat 'alice' with a portmap"* ]] && [ $r2 = 1 ] && [[ $o2 == *"no run"* ]] &&
	[ $r3 = 2 ] && [[ $o3 == *usage* ]]
ok_rc $? "portmap-restart refuses a host ('$o1', exit $r1), an unknown run ('$o2', exit $r2), a missing NAT (exit $r3)"

# 18: down stops every miniupnpd by pid and removes everything
recorded=$(lab_procs "$LAB" | awk '{ printf "%s %s ", $1, $2 }')
rundir=$ZTLAB_RUNDIR prefix=$ZTLAB_PREFIX
lab_down
# shellcheck disable=SC2086 # pid start pairs
[ -n "$recorded" ] && procs_gone_within 2 $recorded && [ "$(ip netns list | grep -c "^$prefix")" = 0 ] &&
	[ ! -e "$rundir" ]
ok_rc $? "after down: no recorded miniupnpd runs ($recorded), no namespace, no run directory"

# 19: the supervisor killed (SIGKILL): down stops the miniupnpd it left, by pid
if lab_up $SCN; then
	read -r sup supstart <"$ZTLAB_RUNDIR/pid"
	recorded=$(lab_procs "$LAB" | awk '{ printf "%s %s ", $1, $2 }')
	kill -9 "$sup"
	for ((i = 0; i < 100; i++)); do
		proc_running "$sup" "$supstart" || break
		sleep 0.02
	done
	"$ZTLAB" down "$LAB" >/dev/null 2>&1
	# shellcheck disable=SC2086 # pid start pairs
	[ -n "$recorded" ] && procs_gone_within 2 $recorded &&
		[ "$(ip netns list | grep -c "^$ZTLAB_PREFIX")" = 0 ]
	ok_rc $? "after the supervisor's SIGKILL down stops the 4 miniupnpd ($recorded) and removes the namespaces"
else
	tap_fail "the supervisor killed: lab up"
fi

# 20: without miniupnpd on PATH up fails saying so, and leaves nothing
lab_newid
if PATH=/nonexistent "$ZTLAB" up "$SCN" --id "$NEWID" --quiet >"$LAB_TMP/nomu.out" 2>&1; then
	tap_fail "up without miniupnpd fails" "it succeeded: $(cat "$LAB_TMP/nomu.out")"
else
	msg=$(tr '\n' ' ' <"$LAB_TMP/nomu.out")
	[[ "$msg" == *"could not run miniupnpd for all_n (cannot run miniupnpd: No such file"* ]] &&
		[ "$(ip netns list | grep -c "^ztlab-$NEWID-")" = 0 ] && [ ! -e "/run/ztna-lab/$NEWID" ]
	ok_rc $? "up without miniupnpd fails naming it ('$msg') and leaves no namespace or run directory"
fi

# 21: a reserved public range: miniupnpd's own refusal is the error
sed 's/100\.21\.0\./203.0.113./g' "$SCN" >"$LAB_TMP/reserved.lab"
lab_newid
if "$ZTLAB" up "$LAB_TMP/reserved.lab" --id "$NEWID" --quiet >"$LAB_TMP/res.out" 2>&1; then
	tap_fail "up with a reserved public range fails" "it succeeded"
else
	msg=$(tr '\n' ' ' <"$LAB_TMP/res.out")
	[[ "$msg" == *"miniupnpd of all_n exited with status 1"*"reserved / private address 203.0.113.1"* ]] &&
		[ "$(ip netns list | grep -c "^ztlab-$NEWID-")" = 0 ]
	ok_rc $? "up on 203.0.113.0/24 fails with miniupnpd's reason ('$msg'), nothing left"
fi
