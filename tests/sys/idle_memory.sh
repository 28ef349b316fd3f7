#!/bin/bash
# The Intermediate's memory per connected idle agent (issue 16 item 4), on loopback,
# unprivileged:
#
#   zt-load clients (N agents "load", one UDP socket each) --> ztna-intermediate
#   zt-load clients --bare (N, handshake only)             --> zt-load bare-server
#
# The same N outer connections, each its own handshake with a client certificate,
# against the Intermediate (HELLO/WELCOME on a control stream, then idle) and against
# a bare ngtcp2 + GnuTLS server with the Intermediate's transport settings (what the
# libraries cost, the baseline of bench/run.sh's memory rows). The Intermediate frees
# each connection's GnuTLS session once its handshake completed (quic/conn.h
# release_tls): its RSS growth per agent must stay within 1.1x the bare server's, the
# goal of docs/design.md (now 1.01-1.07x; before: 1.13-1.17x, 85 vs 75 KB at N=300). RSS is not bounded in an ASan build
# (its allocator quarantines freed memory): those checks are skipped there.
# ZT_IMD=PATH runs another ztna-intermediate (an older build, to see this fail);
# ZT_KEEP=1 keeps the logs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
LOAD=$B/bench/zt-load
IMD=${ZT_IMD:-$B/ztna-intermediate}
N=300
RATIO_MAX=1.10
tap_plan 4

. tests/lib/progs.sh
progs_init idle-memory
# (PORT + 1 is the Intermediate's STUN port: --stun-port's default)
P_IMD=$PORT P_BARE=$((PORT + 2))
TOK=tok-load-$RANDOM
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --agent load >/dev/null 2>"$T/pki.err" ||
	{ cat "$T/pki.err"; exit 1; }

# grow NAME LOADNAME [--bare]: N clients from zt-load against the running server NAME;
# prints its RSS growth per client in bytes once all are in (nothing on failure).
grow() {
	local name=$1 lname=$2 r0 r1 port
	shift 2
	port=$P_IMD
	[ "${1:-}" = --bare ] && port=$P_BARE
	sleep 0.3
	r0=$(rss_kb "${PIDS[$name]}")
	progs_start "$lname" "$LOAD" clients --to "$L:$port" --pki "$T/pki" --bind "$L" --name load \
		--token "$TOK" --count "$N" --hold 60 "$@"
	wait_log "$T/$lname.out" '^ready' 90 || return 1
	sleep 1
	r1=$(rss_kb "${PIDS[$name]}")
	progs_stop "$lname"
	echo $(((r1 - r0) * 1024 / N))
}

# 1. N agents connect and are welcomed (their identity read after the TLS session
#    was freed: HELLO is checked against the certificate's).
progs_start imd "$IMD" --listen "$L:$P_IMD" --pki "$T/pki/intermediate" --client "agent:load:$TOK" \
	--allow 'load=*' --logins-per-identity 10000 --half-open-per-source 100000 \
	--retry-half-open-per-source 100000 --half-open-max 100000
wait_log "$T/imd.log" 'event=start' 10
if imd=$(grow imd imd-load) && [ -n "$imd" ]; then
	tap_ok "$N idle agents connected and welcomed: $(grep '^ready' "$T/imd-load.out")"
else
	tap_fail "$N idle agents connected" "$(tail -n 3 "$T/imd-load.out" "$T/imd.log")"
	imd=
fi
hup_stats imd
auth=$(stat_of imd auth_ok)
if [ "${auth:-0}" -ge "$N" ]; then
	tap_ok "the Intermediate authenticated each by its certificate's identity (auth_ok=$auth)"
else
	tap_fail "certificate identities" "auth_ok=${auth:-?} of $N"
fi
progs_stop imd

# 2. The same against the bare server.
progs_start bare "$LOAD" bare-server --listen "$L:$P_BARE" --pki "$T/pki" --seconds 300
wait_log "$T/bare.out" listening 10
if bare=$(grow bare bare-load --bare) && [ -n "$bare" ]; then
	tap_ok "$N bare connections: $(grep '^ready' "$T/bare-load.out")"
else
	tap_fail "$N bare connections" "$(tail -n 3 "$T/bare-load.out" "$T/bare.log")"
	bare=
fi
progs_stop bare

# 3. The ratio.
if [ -z "$imd" ] || [ -z "$bare" ] || [ "$bare" -le 0 ]; then
	tap_fail "RSS per agent vs the bare server" "not measured (imd=${imd:-?} bare=${bare:-?})"
elif asan_build; then
	tap_skip "RSS per agent vs the bare server" "$RSS_WHY (measured $imd vs $bare B)"
else
	ratio=$(awk -v a="$imd" -v b="$bare" 'BEGIN { printf "%.3f", a / b }')
	if awk -v r="$ratio" -v m="$RATIO_MAX" 'BEGIN { exit !(r <= m) }'; then
		tap_ok "RSS per idle agent $imd B, bare server $bare B: ${ratio}x (<= ${RATIO_MAX}x)"
	else
		tap_fail "RSS per idle agent vs the bare server" "$imd B vs $bare B: ${ratio}x, limit ${RATIO_MAX}x"
	fi
fi
