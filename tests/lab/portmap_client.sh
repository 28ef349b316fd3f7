#!/bin/bash
# Port mapping against a real router daemon, Debian's miniupnpd (docs/portmap.md):
#
#   [ public 100.21.0.0/24 ]
#     +-- server stun 100.21.0.10              ztna-intermediate
#     +-- nat pcp_n (symmetric, portmap all)    +-- host alice  agent --portmap pcp,
#     |                                                          then --portmap upnp
#     +-- nat pmp_n (symmetric, portmap natpmp: +-- host bob    agent --portmap auto
#     |              PCP requests dropped)
#     +-- nat upnp_n (symmetric, portmap upnp)  +-- host dave   agent --portmap auto
#     +-- nat prc_n (port-restricted)           +-- host carol  connector
#
# Symmetric x port-restricted stays on the relay with plain ICE (checked first: alice
# without --portmap). With --portmap the agent's router forwards a port to its socket
# (PCP at pcp_n; at pmp_n, which drops PCP, NAT-PMP after the client's 1 s without an
# answer; at upnp_n, which answers neither, UPnP IGD after PCP's and NAT-PMP's 2 s),
# the mapped address is offered as a srflx candidate, and the session goes direct; the
# agent's exit deletes the mapping at the router.
#
# miniupnpd is the lab's (scenario option 'portmap', netns/portmap.h): ztna-lab runs it
# in the NAT's namespace with its chains in the NAT's table ztlab_pm, its log in the
# run directory. scenarios/lab/portmap.lab says why its public range is not
# 203.0.113.0/24.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
. scenarios/lib.sh

N=18
lab_require $N
[ -x "$(PATH=$PATH:/usr/sbin command -v miniupnpd)" ] || skip_all "miniupnpd is not installed (./tools/deps.sh lab: miniupnpd-nftables)" $N
command -v upnpc >/dev/null || skip_all "upnpc is not installed (./tools/deps.sh lab: miniupnpc)" $N
tap_plan $N

if ! lab_up scenarios/lab/portmap.lab; then
	for ((i = 0; i < N; i++)); do tap_fail "lab up"; done
	exit 0
fi

# The DNAT rules miniupnpd holds at NAT.
mupnp_rules() {
	ip netns exec "$(eval echo "\$ZTLAB_NS_$1")" nft list chain inet ztlab_pm upnp_pre 2>&1
}

# Agent on host H with ARGS and --probe off (birthday probing, with --spray-auto on or
# --nat-ports random, would also open symmetric x port-restricted: this test is about
# the mapping), its session to carol's service opened; waits for the port
# mapping when asked for one, then until the session is direct or its ICE gave up.
# Sets AGENT (pid), SESSION and PORTMAP (its status lines), ECHOED (yes/no: 4 KB
# through the forward and back).
agent_run() {
	local h=$1 i out
	shift
	lab_bg "$h" "$LAB_TMP/$h.log" "$SC_ROOT/$BUILD/ztna-agent" --intermediate "$SC_IMD:4433" \
		--pki "$LAB_TMP/pki-$LAB/agent-$h" --name "$h" --token "tok-$h" \
		--forward "tcp:127.0.0.1:8000=svc-carol" --control "$LAB_TMP/$h.sock" --cooldown 60s -v \
		--probe off "$@"
	AGENT=$LAB_BG
	SESSION="" PORTMAP="" ECHOED=no
	sc_wait_ready 50 "$LAB_TMP/$h.sock" || { tap_diag "$h did not log in"; return 1; }
	# the mapping before the session: its first ICE generation offers it (WAIT_MAPPED=1:
	# until mapped, up to 8 s: UPnP after PCP and NAT-PMP got nothing)
	for ((i = 0; i < 80; i++)); do
		PORTMAP=$(sc_status_line "$LAB_TMP/$h.sock" portmap)
		if [ "${WAIT_MAPPED:-0}" = 1 ]; then
			[ "$(kv "$PORTMAP" state)" = mapped ] && break
		else
			[ -z "$PORTMAP" ] || [ "$(kv "$PORTMAP" state)" != probing ] && break
			[ $i -ge 30 ] && break
		fi
		sleep 0.1
	done
	"$ZTNA" ping svc-carol -c 1 --timeout 3000 --control "$LAB_TMP/$h.sock" >/dev/null 2>&1
	for ((i = 0; i < 80; i++)); do
		SESSION=$(sc_status_line "$LAB_TMP/$h.sock" session=)
		[ "$(kv "$SESSION" path)" = direct ] || [ "$(kv "$SESSION" ice)" = failed ] && break
		sleep 0.1
	done
	PORTMAP=$(sc_status_line "$LAB_TMP/$h.sock" portmap)
	out=$(lab_x "$h" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-send 127.0.0.1:8000 "$LAB_TMP/sys-data" 2>&1)
	[ "$out" = "$(cat "$LAB_TMP/sys-data")" ] && ECHOED=yes
	tap_diag "$h: $SESSION"
	tap_diag "$h: ${PORTMAP:-no portmap line}"
}

# Stops the agent (SIGTERM: it deletes its mapping on the way out) and waits up to 3 s
# until NAT holds no rule for PORT. Returns 1 if one is left.
agent_stop_unmapped() {
	local nat=$1 port=$2 i
	sc_stop "$AGENT"
	for ((i = 0; i < 30; i++)); do
		mupnp_rules "$nat" | grep -q "dport $port " || return 0
		sleep 0.1
	done
	tap_diag "still at $nat: $(mupnp_rules "$nat" | tr '\n' ' ')"
	return 1
}

if ! sc_system_up; then
	for ((i = 0; i < N; i++)); do tap_fail "the Intermediate did not start"; done
	exit 0
fi
lab_bg carol "$LAB_TMP/echo.log" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-echo "$ZTLAB_IP_carol:7000"
lab_bg carol "$LAB_TMP/carol.log" "$SC_ROOT/$BUILD/ztna-connector" --intermediate "$SC_IMD:4433" \
	--pki "$LAB_TMP/pki-$LAB/connector-carol" --name carol --token tok-carol \
	--service "svc-carol=tcp:$ZTLAB_IP_carol:7000" --control "$LAB_TMP/carol.sock" --cooldown 60s -v
sc_wait_ready 50 "$LAB_TMP/carol.sock" || tap_diag "carol did not log in: $(tail -3 "$LAB_TMP/carol.log")"

# 1. plain ICE: symmetric x port-restricted stays on the relay
agent_run alice --portmap off
ok_if "without --portmap (and probing): alice (symmetric) to carol (port-restricted) stays on the relay ($(kv "$SESSION" path), ice $(kv "$SESSION" ice))" \
	test "$(kv "$SESSION" path)" = relay -a "$(kv "$SESSION" ice)" = failed -a -z "$PORTMAP"
sc_stop "$AGENT"

# 2-6. alice with PCP
agent_run alice --portmap pcp
ext=$(kv "$PORTMAP" external)
port=${ext##*:}
ok_if "alice is mapped by PCP at pcp_n: $ext" \
	test "$(kv "$PORTMAP" state)/$(kv "$PORTMAP" protocol)/${ext%:*}" = "mapped/pcp/$ZTLAB_IP_pcp_n"
ok_if "miniupnpd at pcp_n forwards $ext to alice's socket" \
	grep -q "dport $port dnat ip to $ZTLAB_IP_alice:" <(mupnp_rules pcp_n)
ok_if "alice offers $ext as a srflx candidate at local preference 65535" \
	grep -q "udp 1694498815 ${ext%:*} $port typ srflx raddr $ZTLAB_IP_alice" "$LAB_TMP/alice.log"
ok_if "with the mapping: alice to carol direct in $(kv "$SESSION" time_to_direct_ms) ms, 4 KB echoed ($ECHOED), ztna status says so" \
	test "$(kv "$SESSION" path)" = direct -a "$ECHOED" = yes -a \
	-n "$("$ZTNA" status --control "$LAB_TMP/alice.sock" | grep "portmap: $ext via pcp")"
ok_if "alice's exit deletes her mapping at pcp_n" agent_stop_unmapped pcp_n "$port"

# 7-9. bob, auto, behind a router that answers NAT-PMP only
agent_run bob --portmap auto
ext=$(kv "$PORTMAP" external)
port=${ext##*:}
ok_if "bob is mapped by NAT-PMP at pmp_n after PCP got no answer: $ext (fallbacks $(kv "$PORTMAP" fallbacks), timeouts $(kv "$PORTMAP" timeouts))" \
	test "$(kv "$PORTMAP" state)/$(kv "$PORTMAP" protocol)/${ext%:*}/$(kv "$PORTMAP" fallbacks)" = \
	"mapped/natpmp/$ZTLAB_IP_pmp_n/1"
ok_if "with the mapping: bob to carol direct in $(kv "$SESSION" time_to_direct_ms) ms, 4 KB echoed ($ECHOED)" \
	test "$(kv "$SESSION" path)" = direct -a "$ECHOED" = yes
ok_if "bob's exit deletes his mapping at pmp_n" agent_stop_unmapped pmp_n "$port"

# 10. what miniupnpd said about both deletions
deletions_logged() {
	grep -q "PCP: UDP port .* mapping removed" "$ZTLAB_RUNDIR/portmap-pcp_n.log" &&
		grep -q "NAT-PMP UDP port .* mapping removed" "$ZTLAB_RUNDIR/portmap-pmp_n.log"
}
# (its log line follows the rule's removal by a moment: up to 2 s)
for ((i = 0; i < 20; i++)); do deletions_logged && break; sleep 0.1; done
ok_if "miniupnpd logged the PCP and the NAT-PMP deletions" deletions_logged ||
	tap_diag "$(grep -h -i 'remov\|delet' "$ZTLAB_RUNDIR"/portmap-p*_n.log | tr '\n' '|')"

# 11-15. alice with UPnP IGD only, at pcp_n
agent_run alice --portmap upnp
ext=$(kv "$PORTMAP" external)
port=${ext##*:}
ok_if "alice is mapped by UPnP IGD at pcp_n: $ext ($(sc_status_line "$LAB_TMP/alice.sock" upnp))" \
	test "$(kv "$PORTMAP" state)/$(kv "$PORTMAP" protocol)/${ext%:*}" = "mapped/upnp/$ZTLAB_IP_pcp_n"
# the start line to the mapping (log timestamps, ms)
log_ms() { sed -n "s/^ts=[^T]*T\([0-9:.]*\)Z.*event=$1 .*/\1/p" "$LAB_TMP/alice.log" | tail -n 1 |
	awk -F: '{ printf "%d", ($1 * 3600 + $2 * 60 + $3) * 1000 }'; }
tap_diag "alice: start to UPnP mapping $(($(log_ms portmap_upnp) - $(log_ms start))) ms"
upnp_list() { lab_x alice upnpc -l 2>&1; }
ok_if "upnpc -l at alice lists the mapping UDP $port -> alice's socket" \
	grep -Eq "UDP +$port->$ZTLAB_IP_alice:[0-9]+ +'ztna'" <(upnp_list)
ok_if "with the UPnP mapping: alice to carol direct in $(kv "$SESSION" time_to_direct_ms) ms, 4 KB echoed ($ECHOED), ztna status says upnp" \
	test "$(kv "$SESSION" path)" = direct -a "$ECHOED" = yes -a \
	-n "$("$ZTNA" status --control "$LAB_TMP/alice.sock" | grep "portmap: $ext via upnp")"
t0=$(date +%s%N)
ok_if "alice's exit deletes her UPnP mapping at pcp_n" agent_stop_unmapped pcp_n "$port"
tap_diag "exit to mapping gone: $((($(date +%s%N) - t0) / 1000000)) ms"
ok_if "upnpc -l no longer lists it; alice logged the delete" \
	eval '! grep -q "UDP *$port->" <(upnp_list) && grep -q "portmap_upnp.*deleted=$port" "$LAB_TMP/alice.log"'

# 16-18. dave, auto, behind a router that answers UPnP IGD only: PCP and NAT-PMP get
# nothing, the UPnP worker maps 2.5 s after the route
WAIT_MAPPED=1 agent_run dave --portmap auto
ext=$(kv "$PORTMAP" external)
port=${ext##*:}
ok_if "dave is mapped by UPnP IGD at upnp_n after PCP and NAT-PMP got no answer: $ext (timeouts $(kv "$PORTMAP" timeouts); $(sc_status_line "$LAB_TMP/dave.sock" upnp | cut -d' ' -f1-8))" \
	test "$(kv "$PORTMAP" state)/$(kv "$PORTMAP" protocol)/${ext%:*}" = "mapped/upnp/$ZTLAB_IP_upnp_n" -a \
	"$(grep -c 'event=portmap_upnp external=' "$LAB_TMP/dave.log")" -ge 1
ok_if "with the UPnP mapping: dave to carol direct in $(kv "$SESSION" time_to_direct_ms) ms, 4 KB echoed ($ECHOED)" \
	test "$(kv "$SESSION" path)" = direct -a "$ECHOED" = yes
ok_if "dave's exit deletes his UPnP mapping at upnp_n" agent_stop_unmapped upnp_n "$port"
