#!/bin/bash
# ztna-sim's command line: every scenario in scenarios/sim/ meets its 'sim expect'
# line, the timeline is the same for the same seed, a lab file runs with --session,
# a property case replays by its seed, and a bad file is refused with FILE:LINE.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
SIM=${BUILD:-build}/ztna-sim
files=(scenarios/sim/*.sim)
tap_plan $((${#files[@]} + 8))

tmp=$(mktemp -d /tmp/zt-sim-sys.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

for f in "${files[@]}"; do
	if "$SIM" --scenario "$f" >"$tmp/out" 2>&1 && grep -q ': PASS$' "$tmp/out"; then
		tap_ok "$f: $(grep '^outcome' "$tmp/out")"
	else
		tap_fail "$f" "$(tail -n 8 "$tmp/out")"
	fi
done

"$SIM" --scenario scenarios/sim/path-failure.sim --seed 9 --timeline -v 2 >"$tmp/a" 2>&1
"$SIM" --scenario scenarios/sim/path-failure.sim --seed 9 --timeline -v 2 >"$tmp/b" 2>&1
if cmp -s "$tmp/a" "$tmp/b" && [ "$(grep -c ' send #' "$tmp/a")" -gt 1000 ]; then
	tap_ok "the same seed gives the same packet-level timeline ($(wc -l <"$tmp/a") lines)"
else
	tap_fail "the same seed gives the same packet-level timeline"
fi
if grep -q 'path relay (data-stalled)' "$tmp/a" && grep -q 'nat mapping' "$tmp/a" &&
	grep -q 'drop #.*(blocked)' "$tmp/a" && grep -q 'ice_selected' "$tmp/a"; then
	tap_ok "the timeline shows mappings, drops with reasons, ICE and path switches"
else
	tap_fail "the timeline shows mappings, drops with reasons, ICE and path switches"
fi

if "$SIM" --scenario scenarios/lab/hairpin.lab --session alice,carol,stun >"$tmp/out" 2>&1 &&
	grep -q '^outcome: session up, path direct, theory direct (agrees)' "$tmp/out"; then
	tap_ok "a lab file runs with --session (hairpin.lab: alice and carol go direct)"
else
	tap_fail "a lab file runs with --session" "$(cat "$tmp/out")"
fi

if "$SIM" --case 1592591199 >"$tmp/out" 2>&1 && grep -q '^all invariants hold' "$tmp/out" &&
	grep -q '^lab prop' "$tmp/out"; then
	tap_ok "a property case replays from its seed, printed as a scenario file"
else
	tap_fail "a property case replays from its seed" "$(tail -n 5 "$tmp/out")"
fi

printf 'public 203.0.113.0/24\nserver relay\nsim nat relay mapping ei\n' >"$tmp/bad.sim"
"$SIM" --scenario "$tmp/bad.sim" >"$tmp/out" 2>&1
rc=$?
if [ $rc = 2 ] && grep -q "bad.sim:3: 'relay' is not a NAT" "$tmp/out"; then
	tap_ok "a bad scenario is refused with FILE:LINE (exit 2)"
else
	tap_fail "a bad scenario is refused with FILE:LINE" "exit $rc: $(cat "$tmp/out")"
fi

# Population mode with the techniques on (docs/simulator.md): a small run completes,
# every deterministic session agrees with the theory and the direct count lies within
# the theory's interval; the same draws with every technique off go direct less often.
if "$SIM" --population --sessions 300 --seed 4 >"$tmp/pop" 2>&1 &&
	grep -q '^sessions 300: direct .*: within$' "$tmp/pop" &&
	grep -q 'against theory: 0 of [0-9]* deterministic sessions differ; 0 direct without' "$tmp/pop" &&
	grep -q 'port mapping [1-9][0-9]*, port prediction [1-9][0-9]*, birthday probing [1-9]' "$tmp/pop"; then
	tap_ok "population with the techniques: $(grep '^sessions' "$tmp/pop")"
else
	tap_fail "population with the techniques" "$(cat "$tmp/pop")"
fi
"$SIM" --population --sessions 300 --seed 4 --off all >"$tmp/plain" 2>&1
on=$(sed -n 's/^sessions 300: direct \([0-9]*\) .*/\1/p' "$tmp/pop")
off=$(sed -n 's/^sessions 300: direct \([0-9]*\) .*: within$/\1/p' "$tmp/plain")
if [ -n "$on" ] && [ -n "$off" ] && [ "$off" -lt "$on" ] &&
	grep -q 'port mapping 0, port prediction 0, birthday probing 0, IPv6 (theory only) 0' "$tmp/plain"; then
	tap_ok "population with every technique off (--off all): $off direct against $on"
else
	tap_fail "population --off all" "$(cat "$tmp/plain")"
fi
"$SIM" --population --sessions 300 --seed 4 --discover >"$tmp/discover" 2>&1
dis=$(sed -n 's/^sessions 300: direct \([0-9]*\) .*: within$/\1/p' "$tmp/discover")
if [ -n "$dis" ] && [ -n "$on" ] && [ "$dis" -le "$on" ] &&
	grep -q 'reports it, --discover' "$tmp/discover"; then
	tap_ok "population with the NATs as ztna discover reports them (--discover): $dis direct against $on"
else
	tap_fail "population --discover" "$(cat "$tmp/discover")"
fi
