#!/bin/bash
# Loss findings of the simulator's real-core mode (docs/simulator.md, "Findings"):
# every property case that once ended with a stream stuck or a session lost, replayed
# with `ztna-sim --case N --real --max-loss PPM`, must now hold every invariant. Each
# line names the cause that case found; a replay is deterministic (same outcome, same
# stream counts), so a case here fails again if its fix is undone.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
SIM=${BUILD:-build}/ztna-sim

# seed  max-loss-ppm  what it found (the fix)
cases=(
	"987837 50000 agent's inner stream stalled: the Intermediate's outer connection to the connector stuck with lost DATAGRAM-only packets (quic/conn.c probe)"
	"800 100000 relayed stream stalled twice for 5 s: agent's outer connection waited for its keep-alive after lost DATAGRAMs (quic/conn.c probe)"
	"844 100000 as 800 (quic/conn.c probe)"
	"847 100000 as 800 (quic/conn.c probe)"
	"870 200000 a loss cut the window below the DATAGRAM bytes in flight: no probe could go (quic/conn.c DATAGRAM window budget)"
)
tap_plan ${#cases[@]}
tmp=$(mktemp -d /tmp/zt-sim-loss.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

for c in "${cases[@]}"; do
	read -r seed ppm why <<<"$c"
	if "$SIM" --case "$seed" --real --max-loss "$ppm" >"$tmp/out" 2>&1 &&
		grep -q '^all invariants hold' "$tmp/out"; then
		tap_ok "case $seed at up to $((ppm / 10000)) % loss: $(grep -o 'sent [0-9]*, received [0-9]* in order' "$tmp/out") [$why]"
	else
		tap_fail "case $seed at up to $((ppm / 10000)) % loss [$why]" \
			"$(grep -E '^invariant|stream \(' "$tmp/out" | tr '\n' '|')"
	fi
done
