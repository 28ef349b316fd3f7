#!/bin/bash
# The port-mapping router restarts in the middle of a transfer (issue 15's proof: "a
# symmetric NAT behind miniupnpd that later restarts, mappings lost: the session falls
# back and recovers, no byte lost").
#
#   [ public 100.21.0.0/24 ]  server stun 100.21.0.10   ztna-intermediate :4433
#     +-- nat home (symmetric, miniupnpd)  +-- host alice  ztna-agent --portmap auto (40 Mbit/s link)
#     +-- nat office (port-restricted)     +-- host bob    ztna-connector, zt-testkit tcp-sink
#
# Symmetric x port-restricted has no direct path with plain ICE; with --portmap alice
# asks miniupnpd at home for a port (PCP), offers it as a candidate, and the session
# goes direct through it. alice sends 64 MiB through her TCP forward to bob's sink.
# 3 s in, `ztna-lab portmap-restart LAB home` restarts the router's daemon as a router
# restart would: miniupnpd killed, every mapping it made removed (its nftables chains
# emptied) and the NAT's conntrack flushed, miniupnpd started again (its epoch starts
# over). Expected: the direct path dies with the mapping, the session moves to the
# relay (or stays direct if the mapping is back in time), the agent asks the gateway
# again (its fallback rule; the answer's epoch shows the restart: RFC 6887 s8.5),
# gets its mapping again, and the session is direct again within the retry interval
# (--cooldown 5s here) plus the checks; the transfer completes with an equal SHA-256
# and no TCP reset (0 bytes lost). PASS/FAIL, exit status; everything it creates is
# removed on exit and on Ctrl-C.
#
# Both programs run with --probe off: birthday probing (with --spray-auto on or
# --nat-ports random) would reach this cell without the mapping.
#
# --portmap P: alice's --portmap (auto, the default, which maps by PCP here; pcp,
# natpmp, upnp).
#
#   sudo ./scenarios/portmap-restart.sh [--portmap auto|pcp|natpmp|upnp] [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
PORTMAP=auto
args=()
while [ $# -gt 0 ]; do
	if [ "$1" = --portmap ]; then
		[[ ${2:-} =~ ^(auto|pcp|natpmp|upnp)$ ]] || { echo "$0: --portmap is auto, pcp, natpmp or upnp" >&2; exit 2; }
		PORTMAP=$2
		shift
	else
		args+=("$1")
	fi
	shift
done
SC_USAGE_EXTRA="  --portmap P  alice's --portmap: auto (default: PCP here), pcp, natpmp or upnp"
sc_main_setup "${args[@]}"
SC_NAME="port-mapping router restart"
COOLDOWN=5
if [ "$SC_MODE" != system ]; then
	echo "$0: this scenario needs the full system (--mode system)" >&2
	exit 2
fi
sc_say "== $SC_NAME: miniupnpd at alice's symmetric NAT restarted in the middle of a 64 MiB transfer =="
sc_lab "$SC_ROOT/scenarios/lab/portmap-restart.lab" || exit 2
sc_say "expected: direct through alice's mapping (--portmap $PORTMAP) first; after the restart the relay (or"
sc_say "still direct); the agent sees the gateway's restart and maps again; direct again"
sc_say "within the retry interval (${COOLDOWN} s) + checks; the transfer intact, no reset. $SC_RUNS run(s)."
sc_say ""
sc_xfer_up || exit 2

# The connector and the agent (--portmap auto) for one run; the session opened once
# alice's mapping is there. Sets XF_CONN, XF_AGENT, XF_PATH, PM (alice's portmap line).
pr_start() {
	local l=$1 i
	lab_bg bob "$l-conn.log" "$SC_ROOT/$BUILD/ztna-connector" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/connector-bob" --name bob --token tb --service "sink=tcp:$ZTLAB_IP_bob:7001" \
		--control "$l-conn.sock" --cooldown "${COOLDOWN}s" --probe off
	XF_CONN=$LAB_BG
	lab_bg alice "$l-agent.log" "$SC_ROOT/$BUILD/ztna-agent" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/agent-alice" --name alice --token ta --forward tcp:127.0.0.1:8001=sink \
		--control "$l.sock" --cooldown "${COOLDOWN}s" --interfaces eth0 --portmap "$PORTMAP" --probe off -v
	XF_AGENT=$LAB_BG
	sc_wait_ready 50 "$l.sock" "$l-conn.sock"
	for ((i = 0; i < 30; i++)); do
		PM=$(sc_status_line "$l.sock" portmap)
		[ "$(kv "$PM" state)" = mapped ] && break
		sleep 0.1
	done
	"$ZTNA" ping sink -c 1 --control "$l.sock" >/dev/null 2>&1
	for ((i = 0; i < 60; i++)); do
		XF_PATH=$(kv "$(sc_status_line "$l.sock" session=)" path)
		[ "$XF_PATH" = direct ] && break
		sleep 0.1
	done
}

# The DNAT rules miniupnpd holds at home.
pr_rules() { ip netns exec "$ZTLAB_NS_home" nft list chain inet ztlab_pm upnp_pre 2>&1; }

# The first agent log line matching RE whose time is at or after T (ms), or nothing.
pr_line_after() {
	local re=$1 t=$2 line
	while IFS= read -r line; do
		[ "$(sc_ts_ms "$line")" -ge "$t" ] && { echo "$line"; return; }
	done < <(grep -E "$re" "$L-agent.log")
}

for ((run = 1; run <= SC_RUNS; run++)); do
	L=$LAB_TMP/run$run
	pr_start "$L"
	ext=$(kv "$PM" external)
	sc_row "run $run: alice mapped at home" "mapped/${ZTLAB_WAN_home}" "$(kv "$PM" state)/${ext%:*}" \
		"$ext by $(kv "$PM" protocol); miniupnpd: $(pr_rules | grep -c dnat) rule(s)"
	sc_row "run $run: the session goes direct first (symmetric x port-restricted)" direct "$XF_PATH" \
		"remote $(kv "$(sc_status_line "$L.sock" session=)" remote)"
	restarts0=$(kv "$(sc_status_line "$L.sock" portmap)" restarts)
	t_start=$(date +%s%N)
	sc_xfer_send "$L"
	sleep 3
	t_restart=$(date +%s%3N)
	out=$("$ZTLAB" portmap-restart "$LAB" home 2>&1)
	sc_row "run $run: ztna-lab portmap-restart $LAB home" ok "$([ $? = 0 ] && echo ok || echo failed)" "$out"
	sc_row "run $run: the mapping is gone at home" 0 "$(pr_rules | grep -c dnat)"
	# the relay (or still direct), then the mapping again, then direct again
	for ((i = 0; i < 50; i++)); do
		fb=$(pr_line_after 'event=path_switch.*to=relay' "$t_restart")
		[ -n "$fb" ] && break
		sleep 0.1
	done
	if [ -n "$fb" ]; then
		FALLBACK_MS+=("$(($(sc_ts_ms "$fb") - t_restart))")
		note="on the relay $(($(sc_ts_ms "$fb") - t_restart)) ms after the restart, $(grep -o 'reason=[a-z-]*' <<<"$fb")"
	else
		note="no fallback within 5 s: path $(kv "$(sc_status_line "$L.sock" session=)" path)"
	fi
	sc_say "  run $run: $note"
	for ((i = 0; i < (COOLDOWN * 2 + 10) * 10; i++)); do
		pm=$(sc_status_line "$L.sock" portmap)
		back=""
		[ -n "$fb" ] && back=$(pr_line_after 'event=path_switch.*to=direct' "$(sc_ts_ms "$fb")")
		[ -z "$fb" ] && [ "$(kv "$(sc_status_line "$L.sock" session=)" path)" = direct ] && back=still
		[ "$(kv "$pm" state)" = mapped ] && [ "$(pr_rules | grep -c dnat)" -ge 1 ] && [ -n "$back" ] && break
		sleep 0.1
	done
	rules=$(pr_rules | grep -c dnat)
	if [ "$PORTMAP" = upnp ]; then
		# no epoch in UPnP: the fallback renews the mapping at once (AddPortMapping again)
		up=$(sc_status_line "$L.sock" upnp)
		seen="not renewed"
		[ "$(kv "$up" refreshes)" -ge 1 ] 2>/dev/null && [ "$rules" -ge 1 ] && seen="renewed at the fallback"
		sc_row "run $run: alice renewed her UPnP mapping at the fallback" "mapped, renewed at the fallback" \
			"$(kv "$pm" state), $seen" \
			"$(kv "$pm" external), upnp: refreshes $(kv "$up" refreshes), jobs $(kv "$up" jobs), mapped $(kv "$up" mapped); miniupnpd: $rules rule(s)"
	else
		restarted=$(grep -c 'event=portmap_gateway_restarted' "$L-agent.log")
		sc_row "run $run: alice saw the gateway restart and mapped again" "mapped, restart seen" \
			"$(kv "$pm" state), restart $([ "$restarted" -ge 1 ] && echo seen || echo "not seen")" \
			"$(kv "$pm" external) by $(kv "$pm" protocol), restarts $restarts0 -> $(kv "$pm" restarts), requests $(kv "$pm" requests); miniupnpd: $rules rule(s)"
	fi
	if [ "$back" = still ]; then
		sc_row "run $run: direct again after the restart" yes yes "it never left the direct path"
	elif [ -n "$back" ]; then
		BACK_MS+=("$(($(sc_ts_ms "$back") - t_restart))")
		sc_row "run $run: direct again after the restart" yes yes \
			"$(($(sc_ts_ms "$back") - t_restart)) ms after the restart (cooldown ${COOLDOWN} s from the fallback)"
	else
		sc_row "run $run: direct again after the restart" yes no \
			"$(grep -E 'path_decision|ice_failed|path_switch' "$L-agent.log" | tail -n 3 | cut -c1-160 | tr '\n' ' ')"
	fi
	sc_xfer_check "$L" "$run" "$t_start"
done
sc_say ""
sc_say "fallback after the restart (ms): ${FALLBACK_MS[*]:-none}; direct again after (ms): ${BACK_MS[*]:-none}; bytes lost: ${LOST[*]}"
[ -n "${SC_KEEP:-}" ] && cp -r "$LAB_TMP" "$SC_KEEP"
sc_report
