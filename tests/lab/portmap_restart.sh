#!/bin/bash
# The port-mapping router restarting under a transfer, as a user runs it (sudo
# ./scenarios/portmap-restart.sh, here with --no-build and one run, once with
# --portmap auto (PCP here) and once with --portmap upnp): alice (agent) behind a
# symmetric NAT running miniupnpd, bob (connector) behind a port-restricted NAT;
# direct through alice's mapping; `ztna-lab portmap-restart` in the middle of a 64 MiB
# transfer (mappings and conntrack gone, the daemon's epoch from 0). Per protocol one
# test per check of the scenario (8: mapped, direct, the restart done, the mapping gone,
# alice mapped again (PCP: the epoch showed the restart; UPnP: renewed at the
# fallback), direct again, 64 MiB intact, no TCP reset) and one for the verdict; one
# for the cleanup. The output is kept in $BUILD/portmap-restart-{auto,upnp}.txt.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh
B=${BUILD:-build}
CHECKS=8
N=$((2 * (CHECKS + 1) + 1))
lab_require $N
PATH=$PATH:/usr/sbin command -v miniupnpd >/dev/null ||
	skip_all "miniupnpd is not installed (sudo tools/deps.sh lab: miniupnpd-nftables)" $N
tap_plan $N
pids=()
for pm in auto upnp; do
	out=$B/portmap-restart-$pm.txt
	BUILD=$B ./scenarios/portmap-restart.sh --no-build --runs 1 --portmap $pm >"$out" 2>&1 &
	pid=$!
	pids+=($pid)
	wait $pid
	rc=$?
	n=0
	while IFS= read -r line; do
		[[ $line =~ ^\ \ (PASS|FAIL)\ (run\ 1:.*) ]] || continue
		[ $n -ge $CHECKS ] && break
		n=$((n + 1))
		if [ "${BASH_REMATCH[1]}" = PASS ]; then tap_ok "$pm: ${BASH_REMATCH[2]}"; else tap_fail "$pm: ${BASH_REMATCH[2]}"; fi
	done <"$out"
	for (( ; n < CHECKS; n++)); do tap_fail "$pm: check missing" "$(tail -n 5 "$out" | tr '\n' '|')"; done
	verdict=$(grep '^verdict:' "$out")
	[ "$rc" = 0 ] && [ "${verdict#verdict: PASS}" != "$verdict" ] && tap_ok "portmap-restart.sh --portmap $pm: $verdict" ||
		tap_fail "portmap-restart.sh --portmap $pm: exit $rc, ${verdict:-no verdict}"
	tap_diag "$pm: $(grep '^fallback after the restart' "$out")"
done
left=0
for pid in "${pids[@]}"; do
	left=$((left + $(ip netns list | grep -c "^ztlab-t$((pid % 100000))n")))
done
[ "$left" = 0 ] && tap_ok "no namespace left by the scenario" || tap_fail "namespaces left" "$left"
