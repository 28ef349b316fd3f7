#!/bin/bash
# Both address families on loopback (::1 and 127.0.0.0/8), unprivileged:
#
#   zt-testkit tcp-sink 127.x.y.z <-- ztna-connector c1 --(outer over IPv4)--.
#                                          |                                  +-- ztna-intermediate
#                                   direct over [::1]                         |   [::]:P, both
#                                          |                                  |   families
#   zt-testkit tcp-send ------------> ztna-agent alice --(outer over IPv6)---'
#                                     ztna-agent bob   --(IPv6 silent: IPv4)-'
#
# The agent and the connector run with their default dual-stack socket and take
# their loopback addresses as host candidates (--interfaces lo): 127.0.0.1 and ::1.
# alice is given the Intermediate's IPv4 address first and its IPv6 one second; bob
# an IPv6 address where nothing listens first and the IPv4 one second (Happy
# Eyeballs, RFC 8305). Checks: the Intermediate listens on both families on one
# socket; alice's outer connection goes over IPv6 (preferred, answers in time), the
# connector's over IPv4, bob's over IPv4 after the IPv6 attempt's 250 ms; the
# Intermediate observes each client in its own family (no ::ffff: form); the direct
# path goes over IPv6 (RFC 8421: IPv6 preferred) as status and ping show; data intact
# over it and through bob. ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
tap_plan 11

. tests/lib/progs.sh
progs_init ipv6-sys

if ! ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/'; then
	for i in $(seq 11); do tap_skip "ipv6 suite" "no ::1 on lo (IPv6 disabled)"; done
	exit 0
fi
"$B/ztna" pki init "$T/pki" --intermediate-ip 127.0.0.1 --service sink --agent alice \
	--agent bob --connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 8M /dev/urandom >"$T/data"
SUM=$(sha256sum "$T/data" | cut -c1-64)

# [::]:P takes the whole port on both families: try a few until one is free.
for try in 1 2 3 4 5; do
	P_IMD=$((PORT + try * 7))
	progs_start imd "$B/ztna-intermediate" --listen "[::]:$P_IMD" --pki "$T/pki/intermediate" \
		--client agent:alice:tok-a --client agent:bob:tok-b --client connector:c1:tok-c \
		--allow alice=sink --allow bob=sink \
		--serve c1=sink --tcp-listen off
	wait_log "$T/imd.log" 'event=start \|cannot bind' 5
	grep -q 'event=start ' "$T/imd.log" && break
	progs_stop imd
done
P_SINK=$((PORT + 40)) F_A=$((PORT + 41)) F_B=$((PORT + 42)) P_NONE=$((PORT + 43))

# 1. One socket, both families.
grep -q "event=start listen=\[::\]:$P_IMD " "$T/imd.log" &&
	ss -Hlun "sport = :$P_IMD" 2>/dev/null | grep -q '\[::\]\|\*' &&
	tap_ok "the Intermediate listens on [::]:$P_IMD (one socket, both families)" ||
	tap_fail "the Intermediate listens on both families" "$(tail -n 3 "$T/imd.log")"

progs_start sink "$KIT" tcp-sink "$L:$P_SINK"
progs_start conn "$B/ztna-connector" --intermediate "127.0.0.1:$P_IMD" --pki "$T/pki/connector-c1" \
	--name c1 --token tok-c --service "sink=tcp:$L:$P_SINK" --interfaces lo \
	--control "$T/conn.sock" --keepalive 1s
progs_start agent "$B/ztna-agent" --intermediate "127.0.0.1:$P_IMD" --intermediate "[::1]:$P_IMD" \
	--pki "$T/pki/agent-alice" \
	--name alice --token tok-a --forward "tcp:$L:$F_A=sink" --interfaces lo \
	--control "$T/agent.sock" --keepalive 1s

# 2-3. An outer connection over each family, each observed in its own family.
if wait_log "$T/conn.log" 'event=connected' 10 && wait_log "$T/agent.log" 'event=connected' 10; then
	tap_ok "connector (outer over IPv4) and agent (outer over IPv6) log in"
else
	tap_fail "both log in" "$(tail -n 3 "$T/conn.log" "$T/agent.log")"
fi
obs_c=$(sed -n 's/.*event=connected.* observed=\([^ ]*\).*/\1/p' "$T/conn.log" | head -n 1)
obs_a=$(sed -n 's/.*event=connected.* observed=\([^ ]*\).*/\1/p' "$T/agent.log" | head -n 1)
[[ $obs_c == 127.0.0.1:* ]] && [[ $obs_a == "[::1]:"* ]] && ! grep -q 'ffff:' "$T/imd.log" &&
	tap_ok "observed addresses: connector $obs_c, agent $obs_a (no ::ffff: form anywhere)" ||
	tap_fail "observed addresses in their own family" "connector '$obs_c' agent '$obs_a'; $(grep -m2 ffff: "$T/imd.log")"

# Happy Eyeballs: alice's IPv6 attempt answered at once (IPv4 never tried); bob's
# went unanswered and the IPv4 one, 250 ms later, won.
grep -q "event=connected .*intermediate=\[::1\]:$P_IMD" "$T/agent.log" &&
	! grep -q 'event=outer_family' "$T/agent.log" &&
	tap_ok "alice, given IPv4 then IPv6: the outer connection uses IPv6 (tried first, answered)" ||
	tap_fail "alice's outer connection over IPv6" "$(grep -m2 'event=connected\|outer_family' "$T/agent.log")"
progs_start bob "$B/ztna-agent" --intermediate "[::1]:$P_NONE" --intermediate "127.0.0.1:$P_IMD" \
	--pki "$T/pki/agent-bob" --name bob --token tok-b --forward "tcp:$L:$F_B=sink" \
	--direct off --control none
if wait_log "$T/bob.log" 'event=connected' 10 &&
	grep -q "event=connected .*intermediate=127.0.0.1:$P_IMD" "$T/bob.log" &&
	grep -q "event=outer_family intermediate=127.0.0.1:$P_IMD instead_of=\[::1\]:$P_NONE" "$T/bob.log"; then
	tap_ok "bob, IPv6 address silent: falls back to IPv4 and logs in"
else
	tap_fail "bob falls back to IPv4" "$(grep -m3 'connected\|outer_family\|connect' "$T/bob.log")"
fi
out=$(timeout 60 "$KIT" tcp-send "$L:$F_B" "$T/data" 2>&1)
[ "$out" = "8388608 $SUM" ] && tap_ok "8 MiB through bob (outer over IPv4, relay), SHA-256 equal" ||
	tap_fail "8 MiB through bob" "got '$out'"

# 4. Host candidates of both families, IPv6 first.
grep -q 'event=host_candidates count=2 addrs="::1(lo),127.0.0.1(lo)"' "$T/agent.log" &&
	tap_ok "host candidates: ::1 and 127.0.0.1, IPv6 first" ||
	tap_fail "host candidates of both families" "$(grep -m1 host_candidates "$T/agent.log")"

# 5. Data, then the direct path over IPv6.
out=$(timeout 60 "$KIT" tcp-send "$L:$F_A" "$T/data" 2>&1)
[ "$out" = "8388608 $SUM" ] && tap_ok "8 MiB agent -> connector, SHA-256 equal" ||
	tap_fail "8 MiB agent -> connector" "got '$out'"
wait_log "$T/agent.log" 'event=path_switch.*to=direct' 10
line=$("$B/ztna" status --control "$T/agent.sock" --raw 2>&1 | grep '^session=' | head -n 1)
path=$(sed -n 's/.* path=\([a-z-]*\) .*/\1/p' <<<"$line")
remote=$(sed -n 's/.* remote=\([^ ]*\) .*/\1/p' <<<"$line")
[ "$path" = direct ] && [[ $remote == "[::1]:"* ]] &&
	tap_ok "ztna status: path=direct remote=$remote (IPv6)" ||
	tap_fail "status shows the direct path over IPv6" "$line"
"$B/ztna" ping sink -c 3 -i 0.1 --control "$T/agent.sock" >"$T/ping.out" 2>&1
n=$(grep -c 'via direct \[::1\]:' "$T/ping.out")
[ "$n" = 3 ] && tap_ok "ztna ping: 3 round trips via direct [::1]" ||
	tap_fail "ztna ping via direct [::1]" "$(cat "$T/ping.out")"
out=$(timeout 60 "$KIT" tcp-send "$L:$F_A" "$T/data" 2>&1)
[ "$out" = "8388608 $SUM" ] && tap_ok "8 MiB again, now on the IPv6 direct path, SHA-256 equal" ||
	tap_fail "8 MiB on the direct path" "got '$out'"
