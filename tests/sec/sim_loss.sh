#!/bin/bash
# Loss findings of the simulator's real-core mode (docs/simulator.md, "Findings under
# loss"): property cases that once ended with a stream stuck or a session lost,
# replayed with `ztna-sim --case N --real --max-loss PPM`, must now hold every
# invariant. Each line names the cause its case found; each failed with that one fix
# undone (checked when it was added). A replay is deterministic (same outcome, same
# stream counts); a later change elsewhere may change a case's course, so these are
# regression cases, not proofs (the property runs in tests/sys/sim_real.sh are).
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
	"200162 200000 relay-only stream stood still 13 s in the inner connection's exponential PTO backoff (quic/conn.c PTO cap)"
	"200015 200000 relayed packets stood 31 s behind outer windows freed only by ever rarer probes (quic/conn.c: no probe backoff while DATAGRAMs wait)"
	"200013 200000 inner probes dropped with the stale DATAGRAMs behind a blocked outer window (quic/conn.c: the newest two wait up to a second)"
	"200604 200000 the stall rule took a lossy but working direct path for dead; the stream stood 13 s after the fallback (core/pathmgr.c: three unanswered PTOs)"
	"201350 200000 a direct path whose validation failed: ngtcp2 stayed on it, the agent believed it was back on the relay; 33 s without a byte (node/direct.c)"
	"100417 200000 the simulated application gave up after one refused OPEN (connector not registered yet): session never up (sim/real.c reopens)"
	"10225140 200000 session lost: ngtcp2 closed the connector's end with NO_VIABLE_PATH when the full-size re-check of a path validated by a small PATH_CHALLENGE failed (quic/conn.c full_size_challenges)"
	"30664058 300000 as 10225140, at up to 30 % loss (quic/conn.c full_size_challenges)"
	"10222337 200000 stream stuck 11.6 s: CUBIC at its two-packet minimum window in the inner and both outer connections, a probe timeout after each random loss (quic/conn.c: BBR2)"
	"10222350 200000 as 10222337, 22.9 s (quic/conn.c: BBR2)"
	"10222448 200000 as 10222337, 23.3 s (quic/conn.c: BBR2)"
	"10222489 200000 as 10222337, 41.1 s to the end of the run (quic/conn.c: BBR2)"
	"20451155 100000 as 10222337 at up to 10 % loss, 11.8 s (quic/conn.c: BBR2)"
	"40222461 200000 the Intermediate's connection to the connector wedged for good: DATAGRAM-only packets in flight, lost, no probe timer for them, BBR2's window cut below them (quic/conn.c dgram_companion)"
	"40223621 200000 as 40222461, the channel reset (quic/conn.c dgram_companion)"
	"40226907 200000 as 40222461, not one byte through in 55 s (quic/conn.c dgram_companion)"
	"50330761 200000 a direct path losing a third each way, RTT 0.8 s: rounds of lost probes doubled the backoff past the PTO cap, 23 s without a byte (quic/conn.c dup_probe)"
	"60441078 200000 as 50330761, 11.9 s (quic/conn.c dup_probe); since issue 16's consent change: the connector went back to the relay after it had been heard on the direct path, 44.6 s (quic/conn.c nudge_peer: heard counts for a PTO)"
	"70555344 200000 the agent back on the relay with nothing to send; the connector kept sending on the direct path, which the agent ignores: 14 s without a byte (quic/conn.c nudge_peer)"
	"80662858 200000 after a fallback to the relay the probe count climbed again while the hole in the stream waited, 12.4 s (quic/conn.c dup_probe from the first PTO)"
	"90111761 200000 the end-to-end handshake's first RTT sample 3.3 s (an ACK lost): the PTO cap waited 6.6 s, the first bytes stood still 13.7 s (quic/conn.c PTO_INTERVAL_CEIL)"
	"90114831 200000 the connector had none of the agent's connection IDs (NEW_CONNECTION_ID lost twice) and answered the move to direct on the relay: 10.8 s (core/pathmgr.c peer-did-not-follow)"
	"92335275 200000 after a fallback the connector missed the agent's non-probing packets and kept probing on the direct path; the idle agent took the PATH_RESPONSE on the relay for an answer: 11.8 s to the end of the run (quic/conn.c nudge_peer: what counts as heard)"
	"92332437 200000 as 92335275, 20.1 s (quic/conn.c nudge_peer: what counts as heard)"
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
