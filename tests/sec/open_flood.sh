#!/bin/bash
# One authenticated agent sending OPENs nonstop at the real Intermediate (issue 11,
# state exhaustion): on the code before the fix, 8 s of it during --open-hold grew the
# Intermediate from 5 to 92 MiB RSS and wrote 303 MiB of log lines (one per held OPEN).
#
#   zt-load opens (alice) --.
#                            +-- ztna-intermediate --open-hold 8s   (phase 1: no connector)
#   ztna-agent bob ---------'          |
#   zt-testkit tcp-echo <-- ztna-connector c1 (echo)                (phase 2)
#
# Checks: the flood is answered and then closed (1510), the Intermediate's RSS and log
# stay small, held OPENs stay bounded; with a connector, the flood leaves the
# connector's connection and another agent's session working. ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
KIT=$B/bench
tap_plan 6

. tests/lib/progs.sh
progs_init open-flood

base=$((20000 + RANDOM % 12000))
L=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
P_IMD=$base P_ECHO=$((base + 1)) F_BOB=$((base + 2))

"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo --agent alice --agent bob \
	--connector c1 >/dev/null 2>"$T/pki.err" || {
	cat "$T/pki.err"
	exit 1
}
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --pki "$T/pki/intermediate" --client agent:alice:ta \
	--client agent:bob:tb --client connector:c1:tc --allow alice=echo --allow bob=echo \
	--serve c1=echo --open-hold 8s
wait_log "$T/imd.log" 'event=start ' 5 || tap_diag "imd: $(tail -n 3 "$T/imd.log")"
rss0=$(rss_kb "${PIDS[imd]}")

# 1. During --open-hold, nobody serves echo yet: every OPEN is held or refused.
out=$(timeout 30 "$KIT/zt-load" opens --to "$L:$P_IMD" --pki "$T/pki" --name alice --token ta \
	--service echo --seconds 8 --bind "$L")
tap_diag "$out"
sent=$(echo "$out" | sed -n 's/.* sent=\([0-9]*\).*/\1/p')
answers=$(echo "$out" | sed -n 's/.* errors=\([0-9]*\).*/\1/p')
case $out in *" closed=1 close_code=1510"*) closed=1 ;; *) closed=0 ;; esac
[ "${sent:-0}" -gt 3000 ] && [ "${answers:-0}" -gt 1000 ] && [ $closed = 1 ] &&
	tap_ok "an OPEN flood is answered (1510 over the limits), then closed for its control-message budget" ||
	tap_fail "an OPEN flood is answered, then closed" "$out"
rss1=$(rss_kb "${PIDS[imd]}")
logkb=$(($(stat -c %s "$T/imd.log") / 1024))
tap_diag "Intermediate RSS ${rss0} kB -> ${rss1} kB, log ${logkb} kB"
[ "$rss0" -gt 0 ] && [ "$rss1" -gt 0 ] && [ $((rss1 - rss0)) -lt 20480 ] && tap_ok "the Intermediate's RSS grew less than 20 MiB (${rss0} -> ${rss1} kB)" ||
	tap_fail "the Intermediate's RSS stays small" "${rss0} -> ${rss1} kB"
[ "$rss1" -gt 0 ] && [ "$logkb" -lt 512 ] && tap_ok "its log stayed under 512 KiB (${logkb} KiB)" ||
	tap_fail "its log stays small" "${logkb} KiB, $(awk '{print $4}' "$T/imd.log" | sort | uniq -c | sort -rn | head -n 5)"
hup_stats imd
held=$(stat_of imd held)
[ -n "$held" ] && [ "$held" -le 32 ] && tap_ok "at most max-held (32) OPENs were held (held=$held)" ||
	tap_fail "held OPENs bounded" "held=$held"

# 2. With a connector and another agent's session: the flood touches neither.
progs_start echo "$KIT/zt-testkit" tcp-echo "$L:$P_ECHO"
progs_start c1 "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/pki/connector-c1" --name c1 --token tc \
	--service "echo=tcp:$L:$P_ECHO" --direct off --control none
progs_start bob "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$T/pki/agent-bob" --name bob --token tb \
	--forward "tcp:$L:$F_BOB=echo" --direct off --control none
wait_log "$T/c1.log" 'event=connected' 5
wait_log "$T/bob.log" 'event=connected' 5
exec 3<> "/dev/tcp/$L/$F_BOB" || true
echo before >&3
read -r -t 5 got1 <&3
out=$(timeout 30 "$KIT/zt-load" opens --to "$L:$P_IMD" --pki "$T/pki" --name alice --token ta \
	--service echo --seconds 4 --bind "$L")
tap_diag "$out"
case $out in *" sessions="[1-9]*) tap_ok "with the connector registered some of the flood's OPENs get sessions" ;;
*) tap_fail "the flood gets sessions with a connector" "$out" ;; esac
echo after >&3
read -r -t 5 got2 <&3
exec 3<&-
if [ "${got1:-}" = before ] && [ "${got2:-}" = after ] && ! grep -q 'event=disconnected' "$T/c1.log"; then
	tap_ok "the connector kept its connection and bob's session (a TCP connection through it) kept working"
else
	tap_fail "the connector and bob's session are untouched" \
		"got '${got1:-}' '${got2:-}'; $(grep -E 'disconnected|login_refused' "$T/c1.log" | head -n 3)"
fi
