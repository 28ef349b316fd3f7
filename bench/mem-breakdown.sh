#!/bin/bash
# Where a connected idle agent's bytes go at the Intermediate: heap bytes live per
# agent by owner (ngtcp2, GnuTLS, ours by function), with N zt-load agents connected
# and idle. Not part of `make bench` (heaptrack slows the server; RSS rows are the
# memory section's). Loopback, unprivileged, about 20 s.
#
#   bench/mem-breakdown.sh [N] [bare]     (after make; N defaults to 1000)
#
# bare: the same against zt-load's bare ngtcp2 + GnuTLS server (the baseline).
# The server runs under heaptrack (apt install heaptrack); once all N are in and idle
# it is killed, so the allocations heaptrack reports as never freed are exactly what
# was live at that moment. Debian's libngtcp2 has no symbols: its allocations are
# attributed to ngtcp2 as a whole. NGTCP2_LIBDIR=DIR (a build of ngtcp2 with debug
# information, e.g. its v0.12.1 tag, holding libngtcp2.so.9 and
# libngtcp2_crypto_gnutls.so.2) names the ngtcp2 function behind each allocation.
# Output: RSS growth per agent, then heap bytes per agent by owner and by site.
set -u
cd "$(dirname "$0")/.." || exit 1
B=build
K=$B/bench
N=${1:-1000}
MODE=${2:-imd}
command -v heaptrack >/dev/null && command -v heaptrack_print >/dev/null ||
	{ echo "mem-breakdown: needs heaptrack (apt install heaptrack)" >&2; exit 1; }
[ -x "$B/ztna-intermediate" ] && [ -x "$K/zt-load" ] || { echo "mem-breakdown: run make first" >&2; exit 1; }
T=$(mktemp -d /tmp/zt-membreak.XXXXXX)
SP= LP=
cleanup() {
	[ -n "$LP" ] && kill "$LP" 2>/dev/null
	[ -n "$SP" ] && kill -KILL -- "-$SP" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
LO=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
PORT=$((20000 + RANDOM % 12000))
TOK=tok-load-$RANDOM
"$B/ztna" pki init "$T/pki" --intermediate-ip "$LO" --agent load >/dev/null 2>&1 ||
	{ echo "mem-breakdown: ztna pki init failed" >&2; exit 1; }
[ -n "${NGTCP2_LIBDIR:-}" ] && export LD_LIBRARY_PATH=$NGTCP2_LIBDIR

if [ "$MODE" = bare ]; then
	bin=$K/zt-load
	setsid heaptrack -o "$T/heap" "$bin" bare-server --listen "$LO:$PORT" --pki "$T/pki" --seconds 600 \
		>"$T/srv.out" 2>"$T/srv.log" &
else
	bin=$B/ztna-intermediate
	setsid heaptrack -o "$T/heap" "$bin" --listen "$LO:$PORT" --pki "$T/pki/intermediate" \
		--client "agent:load:$TOK" --allow 'load=*' --logins-per-identity 100000 \
		--half-open-per-source 100000 --retry-half-open-per-source 100000 --half-open-max 100000 \
		>"$T/srv.out" 2>"$T/srv.log" &
fi
SP=$!
# the server itself among heaptrack's processes
P=
for ((i = 0; i < 100; i++)); do
	[ -n "$P" ] && break
	sleep 0.1
	for p in $(pgrep -s "$SP"); do
		[ "$(readlink "/proc/$p/exe")" = "$(readlink -f "$bin")" ] && P=$p
	done
done
[ -n "$P" ] || { echo "mem-breakdown: the server did not start" >&2; exit 1; }
sleep 2
r0=$(awk '/^VmRSS/ {print $2}' "/proc/$P/status")
unset LD_LIBRARY_PATH
"$K/zt-load" clients --to "$LO:$PORT" --pki "$T/pki" --bind "$LO" --name load --token "$TOK" \
	--count "$N" --hold 120 $([ "$MODE" = bare ] && echo --bare) >"$T/load.out" 2>&1 &
LP=$!
for ((i = 0; i < 1200; i++)); do
	grep -q '^ready' "$T/load.out" 2>/dev/null && break
	kill -0 "$LP" 2>/dev/null || break
	sleep 0.1
done
grep -q '^ready' "$T/load.out" || { echo "mem-breakdown: $(tail -n 2 "$T/load.out")" >&2; exit 1; }
sleep 1
r1=$(awk '/^VmRSS/ {print $2}' "/proc/$P/status")
kill -KILL "$P"
wait "$SP" 2>/dev/null
SP=
kill "$LP" 2>/dev/null
wait "$LP" 2>/dev/null
LP=
heaptrack_print -f "$T"/heap.*zst --flamegraph-cost-type leaked -F "$T/stacks" >/dev/null 2>&1 ||
	{ echo "mem-breakdown: heaptrack_print failed" >&2; exit 1; }

echo "$MODE, N=$N: RSS $r0 -> $r1 KiB under heaptrack, $(((r1 - r0) * 1024 / N)) B per agent"
# Each line of $T/stacks: "root;...;leaf BYTES", a frame "function (file)" or an
# address. The owner is the first named frame from the leaf: GnuTLS's or ngtcp2's
# functions, else ours. The site: the first frame that is not an allocator helper.
awk -v n="$N" '
function owner_of(f) {
	if (f == "") return ""
	if (f ~ /^(gnutls_|_gnutls|nettle_|__gmp|asn1_)/) return "GnuTLS"
	if (f ~ /^ngtcp2_/ || f ~ /\(ngtcp2_/) return "ngtcp2"
	if (f ~ /^0x/ || f ~ /^(malloc|calloc|realloc|__libc|_dl_|call_init|__)/) return ""
	return "ours"
}
function helper(f) {
	return f ~ /^(0x|ngtcp2_mem_|default_(malloc|calloc|realloc)|ngtcp2_balloc|ngtcp2_objalloc|ksl_blk_objalloc|ngtcp2_ksl_insert|ksl_split|ngtcp2_pq_push|ngtcp2_map_insert|map_insert|map_resize|ngtcp2_gaptr_push|insert_new|malloc|calloc|realloc|__libc|zt_bufq_append)/
}
{
	bytes = $NF
	sub(/ [0-9]+$/, "")
	k = split($0, fr, ";")
	own = ""; site = ""
	for (i = k; i >= 1; i--) {
		name = fr[i]; sub(/ .*/, "", name)
		if (name == "") continue
		if (own == "") own = owner_of(fr[i])
		if (site == "" && !helper(name)) site = name
		if (own != "" && site != "") break
	}
	if (own == "") own = "other (startup, libc)"
	by_owner[own] += bytes
	by_site[own " " site] += bytes
	total += bytes
}
END {
	printf "heap live: %.0f B per agent\n", total / n
	for (o in by_owner) printf "  %-24s %8.0f\n", o, by_owner[o] / n | "sort -k2 -nr"
	close("sort -k2 -nr")
	print "by site (>= 64 B per agent):"
	for (s in by_site) if (by_site[s] / n >= 64) printf "%8.0f  %s\n", by_site[s] / n, s | "sort -nr"
}' "$T/stacks"
