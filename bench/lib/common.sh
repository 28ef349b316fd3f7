# shellcheck shell=bash
# Shared by bench/run.sh and its sections (bench/lib/*.sh): processes and labs that
# are always cleaned up, CPU pinning, statistics, result rows and the report.
#
#   spawn NAME CMD...             CMD in its own session (pid in PIDS[NAME]), output in
#                             $TMP/NAME.out and $TMP/NAME.log
#   stop NAME                 SIGTERM to its process group, SIGKILL after 2 s
#   stop_all PREFIX           stop every process whose NAME starts with PREFIX
#   CLEANUP_FILES+=(PATH)     a file outside $TMP to remove at exit (a socket a
#                             killed program may leave)
#   lab_up FILE               a lab under a fresh id: LAB set, its env file sourced
#   lab_down                  the current lab down
#   lx NODE CMD...            CMD in NODE's namespace (foreground)
#   lbg NAME CPU NODE CMD...  spawn NAME, pinned to CPU, in NODE's namespace
#   nat_fwd NAT PROTO PORT IP a port forward through NAT to IP (DNAT + accept)
#   nat_cut NAT IP [on|off]   NAT drops (on) or passes again (off) forwarded traffic
#                             to and from IP
#   row ID METRIC VALUE UNIT BASELINE BASEVAL RATIO GOAL VERDICT DETAIL
#   skip_row ID METRIC WHY    not measured here (no root, feature missing)
#   fail_row ID METRIC WHY    could not measure (an error): the run exits non-zero
#   median/vmin/vmax X...     of numbers; pctl FILE P: P-th percentile of a file
#   calc EXPR                 awk arithmetic, printed with %.4g unless FMT is set

B=${BUILD:-build}
OUT=$B/bench
RAW=$OUT/raw
ZTLAB=$B/ztna-lab
ZTNA=$B/ztna
K=$B/bench
TMP=$(mktemp -d /tmp/ztbench.XXXXXX)
ROWS=$TMP/rows.tsv
: >"$ROWS"
declare -A PIDS=()
LABS=()
CLEANUP_FILES=()
LAB=
LAB_N=0
N_SKIPPED=0
N_FAILED=0

say() { printf '%s\n' "$*"; }
# Progress on stderr, so the table on stdout stays clean.
note() { printf '  .. %s\n' "$*" >&2; }

# ---- processes -------------------------------------------------------------

spawn() {
	local name=$1
	shift
	setsid "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" </dev/null &
	PIDS[$name]=$!
}

stop() {
	local name=$1 p i
	p=${PIDS[$name]:-}
	[ -n "$p" ] || return 0
	kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
	for ((i = 0; i < 40; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL -- "-$p" 2>/dev/null
	wait "$p" 2>/dev/null
	unset "PIDS[$name]"
}

stop_all() {
	local n
	for n in "${!PIDS[@]}"; do
		[[ $n == "$1"* ]] && stop "$n"
	done
	return 0
}

alive() { [ -n "${PIDS[$1]:-}" ] && kill -0 "${PIDS[$1]}" 2>/dev/null; }

# wait_for FILE REGEX SECONDS: until a line of FILE matches (grep -E).
wait_for() {
	local i n=$(($3 * 20))
	for ((i = 0; i < n; i++)); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

cleanup() {
	local n id
	for n in "${!PIDS[@]}"; do
		stop "$n"
	done
	for id in "${LABS[@]}"; do
		"$ZTLAB" down "$id" >/dev/null 2>&1
	done
	LABS=()
	[ ${#CLEANUP_FILES[@]} -gt 0 ] && rm -f -- "${CLEANUP_FILES[@]}"
	CLEANUP_FILES=()
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "bench: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}

on_interrupt() {
	echo >&2
	echo "bench: interrupted: stopping everything it started" >&2
	trap - EXIT INT TERM
	cleanup
	exit 130
}

trap cleanup EXIT
trap on_interrupt INT TERM

# ---- CPU pinning -------------------------------------------------------------

NCPU=$(nproc 2>/dev/null || echo 1)
# Latency: every process of a measurement on one CPU (no cross-CPU wake-ups).
CPU_ONE=$((NCPU > 1 ? 1 : 0))
# Throughput: the client side on one CPU, the server side on the other.
CPU_A=0
CPU_B=$CPU_ONE

# ---- labs ----------------------------------------------------------------------

lab_up() {
	local file=$1 id
	LAB_N=$((LAB_N + 1))
	id=b$(($$ % 1000000))x$LAB_N
	LABS+=("$id")
	if ! "$ZTLAB" up "$file" --id "$id" --quiet >"$TMP/lab-$id.up" 2>&1; then
		echo "bench: ztna-lab up $file failed: $(cat "$TMP/lab-$id.up")" >&2
		return 1
	fi
	LAB=$id
	# shellcheck disable=SC1090
	. "/run/ztna-lab/$id/env"
}

lab_down() {
	local id=$LAB keep=() x
	[ -n "$id" ] || return 0
	"$ZTLAB" down "$id" >/dev/null 2>&1
	for x in "${LABS[@]}"; do [ "$x" = "$id" ] || keep+=("$x"); done
	LABS=("${keep[@]}")
	LAB=
}

# The lab's supervisor (it runs the link emulator): pinned like the measurement.
lab_pin() {
	local pid
	pid=$(head -n 1 "/run/ztna-lab/$LAB/pid" 2>/dev/null | awk '{print $1}')
	[ -n "$pid" ] && taskset -a -p -c "$1" "$pid" >/dev/null 2>&1
}

lx() {
	local node=$1
	shift
	"$ZTLAB" exec "$LAB" "$node" -- "$@"
}

lbg() {
	local name=$1 cpu=$2 node=$3
	shift 3
	spawn "$name" taskset -c "$cpu" "$ZTLAB" exec "$LAB" "$node" -- "$@"
}

v() { eval "echo \"\${$1:-}\""; }

nat_fwd() {
	local nat=$1 proto=$2 port=$3 ip=$4 ns
	ns=$(v "ZTLAB_NS_$nat")
	ip netns exec "$ns" nft insert rule ip ztlab prerouting iifname wan "$proto" dport "$port" dnat to "$ip" &&
		ip netns exec "$ns" nft insert rule ip ztlab forward iifname wan ip daddr "$ip" "$proto" dport "$port" accept
}

nat_cut() {
	local nat=$1 ip=$2 how=${3:-on} ns
	ns=$(v "ZTLAB_NS_$nat")
	if [ "$how" = on ]; then
		ip netns exec "$ns" nft add table ip ztbench &&
			ip netns exec "$ns" nft add chain ip ztbench cut '{ type filter hook forward priority -10; policy accept; }' &&
			ip netns exec "$ns" nft add rule ip ztbench cut ip daddr "$ip" drop &&
			ip netns exec "$ns" nft add rule ip ztbench cut ip saddr "$ip" drop
	else
		ip netns exec "$ns" nft delete table ip ztbench 2>/dev/null
		return 0
	fi
}

# ---- statistics ----------------------------------------------------------------

median() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+(e[-+]?[0-9]+)?$' | sort -g |
		awk '{a[NR] = $1} END { if (!NR) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
vmin() { printf '%s\n' "$@" | grep -E '^-?[0-9.]' | sort -g | head -n 1; }
vmax() { printf '%s\n' "$@" | grep -E '^-?[0-9.]' | sort -g | tail -n 1; }
# pctl FILE P: the value at index floor(n * P / 100) of the sorted values (udpping's).
pctl() {
	sort -g "$1" | awk -v p="$2" '{a[NR] = $1} END { if (!NR) { print "nan"; exit } i = int(NR * p / 100) + 1; if (i > NR) i = NR; print a[i] }'
}
calc() { awk "BEGIN { v = $1; printf \"${FMT:-%.4g}\\n\", v }"; }
# is_num X: a finite number.
is_num() { [[ ${1:-} =~ ^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$ ]]; }
# kv LINE KEY: the value of KEY=VALUE in LINE.
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
# jnum JSON KEY: a number from a flat JSON object.
jnum() { printf '%s\n' "$1" | sed -n "s/.*\"$2\":\(-\{0,1\}[0-9.e+-]*\).*/\1/p" | head -n 1; }
# "median (min..max)" of numbers, for details.
spread() { echo "$(median "$@") ($(vmin "$@")..$(vmax "$@"))"; }

# ---- rows ----------------------------------------------------------------------

row() {
	local f
	for f in "$@"; do
		printf '%s\t' "${f//$'\t'/ }"
	done >>"$ROWS"
	printf '\n' >>"$ROWS"
}

skip_row() {
	N_SKIPPED=$((N_SKIPPED + 1))
	row "$1" "$2" - - - - - "${4:--}" skipped "$3"
	note "skipped: $2: $3"
}

fail_row() {
	N_FAILED=$((N_FAILED + 1))
	row "$1" "$2" - - - - - "${4:--}" failed "$3"
	echo "bench: could not measure $2: $3" >&2
}

# verdict_le VALUE LIMIT / verdict_ge VALUE LIMIT: meets or misses.
verdict_le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? "meets" : "misses" }'; }
verdict_ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? "meets" : "misses" }'; }
# absdev A B: |A / B - 1| in percent.
absdev() { awk -v a="$1" -v b="$2" 'BEGIN { r = (a / b - 1) * 100; printf "%.2f\n", r < 0 ? -r : r }'; }
ratio() { if is_num "$1" && is_num "$2" && [ "$(calc "$2 != 0")" = 1 ]; then FMT=%.2f calc "$1 / $2"; else echo -; fi; }
