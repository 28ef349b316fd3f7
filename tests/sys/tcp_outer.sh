#!/bin/bash
# The outer connection over TLS/TCP (docs/tcp-transport.md), on loopback, unprivileged:
#
#   zt-testkit echo/source <-- ztna-connector c1 (QUIC, UDP) --.
#                                                                +-- ztna-intermediate
#   clients --> ztna-agent alice (--transport tcp) ------------'    UDP L:P, TCP L:P+1
#               ztna-agent bob   (--transport tcp, both ends on TCP: connector c2)
#
# Checks: the agent logs in over TCP (status says so), a TCP forward carries 16 MiB
# each way intact through the relay between a TCP end and a UDP end, ztna ping says
# "via relay (tcp)", both ends on TCP work too, the Intermediate's stats count the
# TCP clients; bad input at the TCP listener (garbage, a half handshake, idle
# connections that never send: closed at the handshake timeout) leaves the clients
# working; an agent stopped with SIGTERM is gone from the Intermediate at once (its
# CLOSE record), not at the idle timeout. An Intermediate out of file descriptors
# (ulimit -n 48, 60 TCP connections) does not spin on accept(), says what to raise,
# and accepts again once descriptors are free. ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench/zt-testkit
tap_plan 14

. tests/lib/progs.sh
progs_init tcp-outer

P_IMD=$PORT P_TCP=$((PORT + 1)) P_ECHO=$((PORT + 10)) P_SRC=$((PORT + 11))
F_ECHO=$((PORT + 20)) F_SRC=$((PORT + 21)) F_BOB=$((PORT + 22))
TOK_A=tok-a-$RANDOM TOK_B=tok-b-$RANDOM TOK_C=tok-c-$RANDOM TOK_C2=tok-d-$RANDOM

"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --service source@c1 \
	--service echo2@c2 --agent alice --agent bob --connector c1 --connector c2 \
	>/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 16M /dev/urandom >"$T/big"
SUM=$(sha256sum "$T/big" | cut -c1-64)
head -c 1M "$T/big" >"$T/small"
SMALL=$(sha256sum "$T/small" | cut -c1-64)

progs_start echo "$KIT" tcp-echo "$L:$P_ECHO"
progs_start source "$KIT" tcp-source "$L:$P_SRC" "$T/big"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --tcp-listen "$L:$P_TCP" \
	--pki "$T/pki/intermediate" --client "agent:alice:$TOK_A" --client "agent:bob:$TOK_B" \
	--client "connector:c1:$TOK_C" --client "connector:c2:$TOK_C2" --allow alice=echo,source \
	--allow bob=echo2 --serve c1=echo,source --serve c2=echo2 --handshake-timeout 2s
progs_start conn "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/pki/connector-c1" \
	--name c1 --token "$TOK_C" --service "echo=tcp:$L:$P_ECHO" \
	--service "source=tcp:$L:$P_SRC" --direct off --control none
progs_start conn2 "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/pki/connector-c2" \
	--name c2 --token "$TOK_C2" --service "echo2=tcp:$L:$P_ECHO" --transport tcp \
	--intermediate-tcp "$L:$P_TCP" --direct off --control none
progs_start agent "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport tcp \
	--intermediate-tcp "$L:$P_TCP" --pki "$T/pki/agent-alice" --name alice --token "$TOK_A" \
	--forward "tcp:$L:$F_ECHO=echo" --forward "tcp:$L:$F_SRC=source" --direct off \
	--control "$T/alice.ctl"
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_IMD" --transport tcp \
	--intermediate-tcp "$L:$P_TCP" --pki "$T/pki/agent-bob" --name bob --token "$TOK_B" \
	--forward "tcp:$L:$F_BOB=echo2" --direct off --control none

# 1. Login over TCP.
if wait_log "$T/agent.log" 'event=connected' 5 && wait_log "$T/conn.log" 'event=connected' 5 &&
	grep -q 'event=start.*transport=tcp' "$T/agent.log"; then
	tap_ok "the agent logs in over TLS/TCP, the connector over QUIC"
else
	tap_fail "login over TCP" "$(tail -n 3 "$T/agent.log" "$T/imd.log" | tr '\n' '|')"
fi
"$B/ztna" status --control "$T/alice.ctl" >"$T/status" 2>&1
grep -q "over tcp" "$T/status" && tap_ok "ztna status: intermediate $L:$P_TCP over tcp" ||
	tap_fail "ztna status says tcp" "$(tr '\n' '|' <"$T/status")"

# 2. Data both ways between a TCP end and a UDP end.
got=$(timeout 60 "$KIT" tcp-send "$L:$F_ECHO" "$T/big" 2>"$T/echo.err" | sha256sum | cut -c1-64)
[ "$got" = "$SUM" ] && tap_ok "16 MiB to the echo service and back intact (agent on TCP)" ||
	tap_fail "16 MiB echo over TCP" "$(tail -n 2 "$T/echo.err")"
got=$(timeout 60 "$KIT" tcp-recv "$L:$F_SRC" 2>"$T/src.err")
[ "$got" = "16777216 $SUM" ] && tap_ok "16 MiB from the source service intact" ||
	tap_fail "16 MiB from source over TCP" "$(tail -n 2 "$T/src.err")"
"$B/ztna" ping echo -c 3 --control "$T/alice.ctl" >"$T/ping" 2>&1
[ "$(grep -c 'via relay (tcp) in' "$T/ping")" = 3 ] && tap_ok "ztna ping: 3 round trips via relay (tcp)" ||
	tap_fail "ping via relay (tcp)" "$(tr '\n' '|' <"$T/ping")"

# 3. Both ends on TCP.
wait_log "$T/conn2.log" 'event=connected' 5
wait_log "$T/bob.log" 'event=connected' 5
got=$(timeout 20 "$KIT" tcp-send "$L:$F_BOB" "$T/small" 2>"$T/bob.err" | sha256sum | cut -c1-64)
[ "$got" = "$SMALL" ] &&
	tap_ok "both ends on TCP: 1 MiB through the relay and back intact" ||
	tap_fail "both ends on TCP" "$(tail -n 2 "$T/bob.err" "$T/bob.log" | tr '\n' '|')"
hup_stats imd
[ "$(stat_of imd tcp_accepted)" -ge 3 ] 2>/dev/null &&
	tap_ok "the Intermediate counts its TCP clients (tcp_accepted=$(stat_of imd tcp_accepted))" ||
	tap_fail "tcp_accepted" "$(grep event=stats "$T/imd.log" | tail -n 1)"

# 4. Bad input at the TCP listener.
head -c 100000 /dev/urandom | timeout 5 socat -u - "TCP:$L:$P_TCP" 2>/dev/null
printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' | timeout 5 socat -u - "TCP:$L:$P_TCP" 2>/dev/null
for i in $(seq 50); do
	exec {fd}<>"/dev/tcp/$L/$P_TCP" && eval "idle_$i=$fd"
done
sleep 0.5
hup_stats imd
held=$(stat_of imd tcp_now) refused=$(stat_of imd refused_source)
sleep 3
hup_stats imd
after=$(stat_of imd tcp_now)
[ "${held:-0}" -ge 30 ] && [ "${refused:-0}" -ge 15 ] && [ "${after:-99}" -le 3 ] &&
	tap_ok "50 idle TCP connections from one source: $refused refused (half-open per source), the rest closed at the handshake timeout ($held -> $after open)" ||
	tap_fail "idle TCP connections limited and closed" "tcp_now $held -> $after, refused_source $refused"
for i in $(seq 50); do eval "exec {idle_$i}>&-" 2>/dev/null; done
got=$(timeout 20 "$KIT" tcp-send "$L:$F_ECHO" "$T/small" 2>/dev/null | sha256sum | cut -c1-64)
[ "$got" = "$SMALL" ] && progs_alive imd &&
	tap_ok "after garbage and idle connections, the agent on TCP still works" ||
	tap_fail "agent after bad input" "$(tail -n 3 "$T/imd.log" | tr '\n' '|')"

# 5. SIGTERM: the CLOSE record ends the login at once.
progs_stop bob
if wait_log "$T/imd.log" 'event=client_gone.*identity=ztna:agent:bob' 2; then
	tap_ok "an agent on TCP stopped with SIGTERM is gone from the Intermediate at once"
else
	tap_fail "agent on TCP gone at SIGTERM" "$(grep bob "$T/imd.log" | tail -n 2 | tr '\n' '|')"
fi
progs_alive imd && progs_alive agent && progs_alive conn &&
	tap_ok "every program still runs" || tap_fail "a program exited" "$(tail -n 2 "$T"/*.log | tr '\n' '|')"

# 6. Out of file descriptors: accept() fails with EMFILE; no busy loop, a clear line,
# and new clients get in once the others are gone.
P_TCP2=$((PORT + 30)) P_IMD2=$((PORT + 31))
progs_start imd2 bash -c 'ulimit -n 48 && exec "$0" "$@"' "$B/ztna-intermediate" \
	--listen "$L:$P_IMD2" --tcp-listen "$L:$P_TCP2" --pki "$T/pki/intermediate" \
	--client "agent:alice:$TOK_A" --allow alice=echo --half-open-per-source 1000
wait_log "$T/imd2.log" 'event=start' 5
pid2=$(pgrep -P "${PIDS[imd2]}" 2>/dev/null | head -n 1)
pid2=${pid2:-${PIDS[imd2]}}
fds=()
for i in $(seq 60); do
	exec {fd}<>"/dev/tcp/$L/$P_TCP2" && fds+=("$fd")
done
t0=$(cpu_ticks "$pid2")
sleep 2
t1=$(cpu_ticks "$pid2")
[ $((t1 - t0)) -le 40 ] && tap_ok "out of descriptors: no busy loop ($((t1 - t0)) CPU ticks in 2 s)" ||
	tap_fail "out of descriptors: no busy loop" "$((t1 - t0)) ticks in 2 s"
grep -q 'event=tcp_accept_failed .*Too many open files.*fix="raise the open files limit' "$T/imd2.log" &&
	tap_ok "... says so, with the fix" ||
	tap_fail "tcp_accept_failed line" "$(grep -E 'warn|error' "$T/imd2.log" | tail -n 3 | tr '\n' '|')"
for fd in "${fds[@]}"; do exec {fd}>&-; done
progs_start late "$B/ztna-agent" --intermediate "$L:$P_IMD2" --transport tcp \
	--intermediate-tcp "$L:$P_TCP2" --pki "$T/pki/agent-alice" --name alice --token "$TOK_A" \
	--forward "tcp:$L:$((PORT + 32))=echo" --direct off --control none
wait_log "$T/late.log" 'event=connected.*transport=tcp' 15 &&
	tap_ok "... and accepts a client over TCP once descriptors are free" ||
	tap_fail "a client after EMFILE" "$(tail -n 3 "$T/late.log" "$T/imd2.log" | tr '\n' '|')"
