#!/bin/bash
# Finding (issue 11, "State exhaustion at the Intermediate"): a burst of
# unauthenticated QUIC Initials from one address filled max-clients and grew
# ztna-intermediate to ~1.3 GiB RSS, never returned (commit 228d3a4: 5 MiB -> 985 MiB
# during a 20 s flood of 1,500 Initials/s, 1007 MiB 25 s after it with 0 clients).
#
#   zt-load initials (F) ----- 1,500 Initials/s, 20 s ----.
#   ztna-agent bob (F, any port) ---------- Retry --------+--> ztna-intermediate (L)
#   ztna-agent alice (A) / carol (C) ----------------------'        |
#   zt-testkit tcp-echo <-- ztna-connector c1 (A) ------------------'
#
# The real programs on random 127.x.y.z addresses, unprivileged. While the flood runs
# the Intermediate's RSS is sampled every 0.5 s; it must stay under RSS_MAX_KB (64 MiB)
# during and after; a connected agent's forward keeps working, an agent that starts
# during the flood connects and works, and so does one at the flooding address (it
# gets a Retry and follows it). Then a second flood that follows the Retries
# (zt-load --answer) is held to half-open-per-source. Last, a connector and an agent
# connect through a second Intermediate with --retry always and the tunnel works.
# ZT_IMD=PATH runs another ztna-intermediate (e.g. a build of 228d3a4, to see this
# fail); ZT_KEEP=1 keeps logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
LOAD=$B/bench/zt-load
IMD=${ZT_IMD:-$B/ztna-intermediate}
RSS_MAX_KB=$((64 * 1024))
RATE=1500 SECONDS_FLOOD=20
tap_plan 11

. tests/lib/progs.sh
progs_init sec-flood
# echo_ok PORT: a line through an agent's forward to the echo service and back.
echo_ok() {
	local out
	out=$(echo "through the tunnel $1" | timeout 10 socat -t 5 - "TCP:$A:$1" 2>/dev/null)
	[ "$out" = "through the tunnel $1" ]
}
# sample_rss SECONDS: the Intermediate's peak RSS (KiB) over that many seconds.
sample_rss() {
	local n=$(($1 * 2)) peak=0 r
	while [ "$n" -gt 0 ]; do
		r=$(rss_kb "${PIDS[imd]}")
		[ "$r" -gt "$peak" ] && peak=$r
		sleep 0.5
		n=$((n - 1))
	done
	echo "$peak"
}

base=$((20000 + RANDOM % 12000))
L=$(rnd_ip) A=$(rnd_ip) F=$(rnd_ip)
P_IMD=$base P_ECHO=$((base + 1)) F_ALICE=$((base + 2)) F_BOB=$((base + 3)) F_CAROL=$((base + 4))
P_IMD2=$((base + 5)) F_DAVE=$((base + 6))
TOK=tok-$RANDOM
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo --agent alice --agent bob \
	--agent carol --agent dave --connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }

AGENT=(--intermediate "$L:$P_IMD" --token "$TOK" --keepalive 1s --direct off
	--control none)
progs_start imd "$IMD" --listen "$L:$P_IMD" --pki "$T/pki/intermediate" --client "agent:alice:$TOK" \
	--client "agent:bob:$TOK" --client "agent:carol:$TOK" --client "connector:c1:$TOK" \
	--allow alice=echo --allow bob=echo --allow carol=echo --serve c1=echo
progs_start echo "$KIT" tcp-echo "$A:$P_ECHO"
progs_start conn "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/pki/connector-c1" --name c1 \
	--token "$TOK" --service "echo=tcp:$A:$P_ECHO" --bind "$A" --keepalive 1s --direct off \
	--control none
progs_start alice "$B/ztna-agent" "${AGENT[@]}" --pki "$T/pki/agent-alice" --name alice --bind "$A" --forward "tcp:$A:$F_ALICE=echo"

# 1. Before: everyone in, the tunnel works.
if wait_log "$T/alice.log" 'event=connected' 10 && wait_log "$T/conn.log" 'event=connected' 10 &&
	echo_ok "$F_ALICE"; then
	tap_ok "before the flood: agent and connector in, the tunnel works"
else
	tap_fail "before the flood" "$(tail -n 3 "$T"/{imd,conn,alice}.log)"
fi
sleep 1
rss0=$(rss_kb "${PIDS[imd]}")

# 2. The flood: 1,500 Initials/s for 20 s from F, nothing answered.
progs_start flood "$LOAD" initials --to "$L:$P_IMD" --pki "$T/pki" --bind "$F" --rate "$RATE" \
	--seconds "$SECONDS_FLOOD"
peak1=$(sample_rss 5)
ok_alice=no ok_carol=no ok_bob=no
echo_ok "$F_ALICE" && ok_alice=yes
progs_start carol "$B/ztna-agent" "${AGENT[@]}" --pki "$T/pki/agent-carol" --name carol --bind "$A" --forward "tcp:$A:$F_CAROL=echo"
progs_start bob "$B/ztna-agent" "${AGENT[@]}" --pki "$T/pki/agent-bob" --name bob --bind "$F" --forward "tcp:$A:$F_BOB=echo"
wait_log "$T/carol.log" 'event=connected' 10 && echo_ok "$F_CAROL" && ok_carol=yes
wait_log "$T/bob.log" 'event=connected' 10 && echo_ok "$F_BOB" && ok_bob=yes
peak2=$(sample_rss 5)
while progs_alive flood; do
	r=$(rss_kb "${PIDS[imd]}")
	[ "$r" -gt "$peak2" ] && peak2=$r
	sleep 0.5
done
peak=$((peak1 > peak2 ? peak1 : peak2))
sent=$(sed -n 's/.*initials sent=\([0-9]*\).*/\1/p' "$T/flood.out")
tap_diag "flood: $(cat "$T/flood.out")"
[ "${sent:-0}" -ge $((RATE * SECONDS_FLOOD / 2)) ] &&
	tap_ok "the flood ran: $sent Initials from one address in ${SECONDS_FLOOD} s" ||
	tap_fail "the flood ran" "$(cat "$T/flood.out" "$T/flood.log")"
[ "$ok_alice" = yes ] && tap_ok "during the flood: a connected agent's forward works" ||
	tap_fail "during the flood: a connected agent's forward works"
[ "$ok_carol" = yes ] && tap_ok "during the flood: a new agent connects and works" ||
	tap_fail "during the flood: a new agent connects and works" "$(tail -n 3 "$T/carol.log")"
[ "$ok_bob" = yes ] && tap_ok "during the flood: a new agent at the flooding address connects and works" ||
	tap_fail "during the flood: an agent at the flooding address" "$(tail -n 3 "$T/bob.log")"
rss_check "RSS during the flood ($((rss0 / 1024)) MiB before), peak" "$peak" "$RSS_MAX_KB"

# 3. After: the half-open connections are gone within the handshake timeout (10 s).
sleep 12
after=$(rss_kb "${PIDS[imd]}")
hup_stats imd
tap_diag "stats: clients=$(stat_of imd clients) half_open=$(stat_of imd half_open) accepted=$(stat_of imd accepted) retry_sent=$(stat_of imd retry_sent) retry_validated=$(stat_of imd retry_validated) refused_source=$(stat_of imd refused_source)"
rss_le "$after" "$RSS_MAX_KB" && [ "$(stat_of imd clients)" = 4 ] &&
	tap_ok "after the flood: RSS $((after / 1024)) MiB, the 4 legitimate clients only$(rss_note)" ||
	tap_fail "after the flood" "RSS $after KiB, clients=$(stat_of imd clients)"
[ "$(stat_of imd retry_sent)" -ge $((sent / 2)) ] 2>/dev/null &&
	tap_ok "the Initials were answered with Retry (stateless): retry_sent=$(stat_of imd retry_sent)" ||
	tap_fail "the Initials were answered with Retry" "retry_sent=$(stat_of imd retry_sent) of $sent"
[ "$(stat_of imd retry_validated)" -ge 1 ] 2>/dev/null && grep -q 'event=connected' "$T/bob.log" &&
	tap_ok "the agent at the flooding address followed a Retry (retry_validated=$(stat_of imd retry_validated))" ||
	tap_fail "the agent at the flooding address followed a Retry" "retry_validated=$(stat_of imd retry_validated)"

# 4. A flood that follows the Retries (a real source address): half-open-per-source.
progs_start flood2 "$LOAD" initials --to "$L:$P_IMD" --pki "$T/pki" --bind "$F" --rate "$RATE" \
	--seconds 8 --answer
peak3=$(sample_rss 4)
ok=no
echo_ok "$F_CAROL" && ok=yes
while progs_alive flood2; do
	r=$(rss_kb "${PIDS[imd]}")
	[ "$r" -gt "$peak3" ] && peak3=$r
	sleep 0.5
done
hup_stats imd
tap_diag "answering flood: $(cat "$T/flood2.out"); refused_source=$(stat_of imd refused_source) retry_validated=$(stat_of imd retry_validated) peak $((peak3 / 1024)) MiB"
[ "$ok" = yes ] && rss_le "$peak3" "$RSS_MAX_KB" && [ "$(stat_of imd refused_source)" -gt 0 ] &&
	tap_ok "a flood that follows the Retries is held to half-open-per-source: peak $((peak3 / 1024)) MiB, tunnel works$(rss_note)" ||
	tap_fail "a flood that follows the Retries" "peak $peak3 KiB, echo $ok, refused_source=$(stat_of imd refused_source)"
echo "# rss_kb before=$rss0 peak=$peak after=$after answering_peak=$peak3"

# 5. --retry always: every new client pays the round trip, and the real programs follow.
# Under ASan on a loaded CI machine (the failure of 9a9e6ec) a QUIC handshake with a
# Retry round trip can take longer than the 300 ms after which --transport auto races
# TLS/TCP to port 443 of the same address, where the first Intermediate listened and
# refused dave. So the first Intermediate and its clients stop first, and these two
# clients are held to QUIC (--transport udp): the Retry is what this step checks. The
# waits are generous for the same reason; they end as soon as the event is seen.
for p in bob carol alice conn imd; do progs_stop "$p"; done
progs_start imd2 "$IMD" --listen "$L:$P_IMD2" --pki "$T/pki/intermediate" --client "agent:dave:$TOK" \
	--client "connector:c1:$TOK" --allow dave=echo --serve c1=echo --retry always
progs_start conn2 "$B/ztna-connector" --intermediate "$L:$P_IMD2" --pki "$T/pki/connector-c1" --name c1 \
	--token "$TOK" --service "echo=tcp:$A:$P_ECHO" --bind "$A" --direct off --control none --transport udp
progs_start dave "$B/ztna-agent" --intermediate "$L:$P_IMD2" --pki "$T/pki/agent-dave" --token "$TOK" --name dave \
	--bind "$A" --forward "tcp:$A:$F_DAVE=echo" --direct off --control none --transport udp
ok=no
wait_log "$T/conn2.log" 'event=connected' 30 && wait_log "$T/dave.log" 'event=connected' 30 &&
	echo_ok "$F_DAVE" && ok=yes
kill -HUP "${PIDS[imd2]}"
wait_log "$T/imd2.log" 'event=stats' 10
r2=$(grep 'event=stats' "$T/imd2.log" | tail -n 1 | tr ' ' '\n' | sed -n 's/^retry_validated=//p')
[ "$ok" = yes ] && [ "${r2:-0}" -ge 2 ] &&
	tap_ok "--retry always: a connector and an agent connect through a Retry each, the tunnel works" ||
	tap_fail "--retry always" "echo $ok, retry_validated=$r2; $(tail -n 2 "$T"/{imd2,conn2,dave}.log)"

