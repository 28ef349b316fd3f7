#!/bin/bash
# A direct path whose MTU is below the relay's packets (docs/direct-path.md, "Packet
# size"): scenarios/lab/dual-stack.lab (IPv4 NATs, each routing an IPv6 /64 to its
# lan behind a stateful firewall) with a_arc's link at 1280 bytes (as in the lab file)
# and a_prc's at 1400.
#
#   [ public 203.0.113.0/24, 2001:db8:100::/48 ]
#     +-- server stun 203.0.113.10: ztna-intermediate (IPv4, 203.0.113.10:4433)
#     +-- nat arc_a (address-restricted, lan6 2001:db8:1:2::/64)
#     |     +== mtu 1280 ==+-- host a_arc: connector
#     +-- nat prc_a (port-restricted, lan6 2001:db8:1:3::/64)
#     |     +== mtu 1400 ==+-- host a_prc: connector
#     +-- nat fc_a (full-cone, lan6 2001:db8:1:1::/64) +-- host a_fc: connector
#     +-- nat fc_b (full-cone, lan6 2001:db8:2:1::/64) +-- host b_fc: agent
#
# The full system (scenarios/lib.sh pair_run_system), one run per cell, with 1 MiB
# echoed through the agent's TCP forward instead of 4 KB, then two `ztna ping`s:
#   a_arc <-> b_fc     as installed: direct over IPv6 on the 1280-byte path, both
#                      ends sending 1232-byte packets (their probes of 1407 and 1352
#                      unanswered)
#   a_prc <-> b_fc     --bind 0.0.0.0 (IPv4 only): direct over IPv4 on the 1400-byte
#                      path at 1352 (the 1352 probe answered, 1407 not)
#   a_fc <-> b_fc      control: a 1500-byte IPv6 path at 1407
# Every cell must go direct, carry the 1 MiB intact, answer the pings on the direct
# path, and stay there: one path_switch in the agent's log, none back to the relay
# (on the code before the fix, the two small cells fell back under the transfer).
# Prints one row per check and a verdict; exit 0 only when every row agrees.
#
#   sudo ./scenarios/path-mtu.sh [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
SC_RUNS=1
sc_main_setup "$@"

SC_NAME="direct paths below the relay's packet size"
sc_say "== $SC_NAME =="
t_start=$(date +%s)
lab=$LAB_TMP/path-mtu.lab
sed -e 's/^lab dual_stack$/lab path_mtu/' -e '$a link a_prc mtu 1400' \
	"$SC_ROOT/scenarios/lab/dual-stack.lab" >"$lab"
grep -q '^link a_arc mtu 1280$' "$lab" || { echo "$0: dual-stack.lab has no 1280-byte link to a_arc" >&2; exit 2; }
sc_lab "$lab" || exit 2
sc_system_up || exit 2
# 1 MiB of text for the echo (pair_run_system compares what comes back)
head -c 524288 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 1048576 >"$LAB_TMP/sys-data"

# The value of KEY in the first log line with event=EVENT in FILE, or -.
log_kv() {
	local v
	v=$(grep -m 1 "event=$2 " "$1" | grep -o " $3=[^ ]*" | cut -d= -f2)
	echo "${v:--}"
}

for cell in "a_arc b_fc dual ipv6 1232" "a_prc b_fc v4only ipv4 1352" "a_fc b_fc dual ipv6 1407"; do
	read -r a b variant fam size <<<"$cell"
	SC_SYS_ARGS=""
	[ $variant = v4only ] && SC_SYS_ARGS="--bind 0.0.0.0"
	pair_run_system "$a" "$b"
	log=$LAB_TMP/sys-$SC_SYS_RUN
	remote=$(sed -n 's/^remote \([^ ,]*\).*/\1/p' <<<"$PAIR_NOTE")
	got=$PAIR_PATH
	if [ "$PAIR_PATH" = direct ]; then
		got=direct-ipv4
		[[ $remote == "["* ]] && got=direct-ipv6
	fi
	what="$a <-> $b ($variant)"
	sc_row "$what: path, 1 MiB echoed" "direct-$fam" "$got" "${PAIR_NOTE/4 KB/1 MiB}"
	sc_row "$what: agent's packet size" "$size" "$(log_kv "$log-agent.log" path_mtu payload)" \
		"$(grep -m 1 'event=path_mtu ' "$log-agent.log" | grep -o 'confirmed=.*')"
	sc_row "$what: connector's packet size" "$size" "$(log_kv "$log-conn.log" path_mtu payload)"
	switches=$(grep -c 'event=path_switch ' "$log-agent.log")
	back=$(grep 'event=path_switch ' "$log-agent.log" | grep -c 'to=relay')
	sc_row "$what: stayed direct (path switches, back to the relay)" "1, 0" "$switches, $back" \
		"$(grep 'event=path_decision .*go-relay' "$log-agent.log" | grep -o 'reason=[^ ]*' | tr '\n' ' ')"
	pings=$(grep -c 'via direct' "$log-ping")
	sc_row "$what: pings after the transfer via direct" "2" "$pings"
done
t_end=$(date +%s)

if [ "$SC_FAILS" -eq 0 ]; then
	sc_say "verdict: PASS - $SC_PASSES checks agree (1280-byte IPv6 and 1400-byte IPv4 paths stay direct under 1 MiB), in $((t_end - t_start)) s"
	exit 0
fi
sc_say "verdict: FAIL - $SC_FAILS of $((SC_PASSES + SC_FAILS)) checks disagree ($((t_end - t_start)) s)"
exit 1
