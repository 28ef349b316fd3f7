# Helpers for the lab suites (tests/lab/*.sh). Source tap.sh first, then this.
#
#   lab_require N          skip the whole suite (N tests) unless root; set up cleanup
#   lab_up FILE [ARGS]     bring a lab up under a fresh run id; sets LAB and sources
#                          its env file (ZTLAB_* variables, docs/lab.md)
#   lab_down               take the current lab down
#   lab_x NODE CMD...      run CMD in NODE's namespace (ztna-lab exec)
#   lab_bg NODE OUT CMD... the same in the background, output to OUT; pid in LAB_BG
#   lab_wait_for FILE RE [S]  wait up to S seconds (default 5) for a line matching RE
#   probe NODE ARGS...     ztna-lab udp-probe in NODE; prints its summary line
#   kv LINE KEY            the value of KEY=VALUE in LINE
#   ok_if NAME COND...     tap_ok when COND (a command) succeeds, tap_fail otherwise
#   ok_rc RC NAME          tap_ok when RC (pass $? of a condition) is 0
#   lab_procs ID           the processes run ID recorded: "PID START NODE PROG" lines
#   proc_running PID START that process still runs (not exited, not a zombie, not a
#                          recycled pid: START is /proc/PID/stat field 22)
#   procs_gone_within S PID START...   every listed process stops within S seconds
# Every lab this file brought up is taken down on exit, and every background process
# it started is killed.
ZTLAB=${ZTLAB:-${ZT_ROOT:-.}/${BUILD:-build}/ztna-lab}
LAB_TMP=            # made by lab_require, removed on exit
LAB_IDS=()
LAB_PIDS=()
LAB_N=0

lab_cleanup() {
	local id p
	for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for id in "${LAB_IDS[@]}"; do "$ZTLAB" down "$id" >/dev/null 2>&1; done
	[ -n "$LAB_TMP" ] && [ -z "${ZT_KEEP:-}" ] && rm -rf "$LAB_TMP"
	[ -n "${ZT_KEEP:-}" ] && [ -n "$LAB_TMP" ] && echo "# kept $LAB_TMP" >&2
}

lab_require() {
	if [ "$(id -u)" -ne 0 ]; then
		skip_all "needs root: the lab creates network namespaces (CI runs it as root)" "$1"
	fi
	if [ ! -x "$ZTLAB" ]; then
		echo "1..$1"
		echo "not ok 1 - $ZTLAB is not built"
		exit 1
	fi
	trap lab_cleanup EXIT
	LAB_TMP=$(mktemp -d /tmp/ztlab-test.XXXXXX)
}

# Sets NEWID to a run id unique to this process ([a-z0-9], at most 12 characters)
# and remembers it for the cleanup.
LAB_ID_PREFIX="t$(($$ % 100000))n"
lab_newid() {
	LAB_N=$((LAB_N + 1))
	NEWID=$LAB_ID_PREFIX$LAB_N
	LAB_IDS+=("$NEWID")
}

lab_up() {
	local file=$1 id
	shift
	lab_newid
	id=$NEWID
	if ! "$ZTLAB" up "$file" --id "$id" --quiet "$@" >"$LAB_TMP/up.out" 2>&1; then
		tap_diag "ztna-lab up $file failed: $(cat "$LAB_TMP/up.out")"
		return 1
	fi
	LAB=$id
	# shellcheck disable=SC1090
	. "/run/ztna-lab/$id/env"
}

lab_down() {
	"$ZTLAB" down "$LAB" >/dev/null
}

lab_x() {
	local node=$1
	shift
	"$ZTLAB" exec "$LAB" "$node" -- "$@"
}

lab_bg() {
	local node=$1 out=$2
	shift 2
	"$ZTLAB" exec "$LAB" "$node" -- "$@" >"$out" 2>&1 &
	LAB_BG=$!
	LAB_PIDS+=("$LAB_BG")
}

lab_wait_for() {
	local file=$1 re=$2 secs=${3:-5} i
	for ((i = 0; i < secs * 50; i++)); do
		grep -qE "$re" "$file" 2>/dev/null && return 0
		sleep 0.02
	done
	tap_diag "timed out waiting for '$re' in $file: $(tr '\n' '|' <"$file" 2>/dev/null)"
	return 1
}

probe() {
	local node=$1
	shift
	lab_x "$node" "$ZTLAB" udp-probe --quiet "$@" 2>&1 | grep '^summary' || echo "summary none"
}

kv() {
	local v
	v=$(printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1)
	echo "${v:--}"
}

ok_if() {
	local name=$1
	shift
	if "$@"; then tap_ok "$name"; else tap_fail "$name" "failed: $*"; fi
}

# The port of an IP:PORT.
port_of() { echo "${1##*:}"; }
ip_of() { echo "${1%:*}"; }

ok_rc() {
	if [ "$1" = 0 ]; then tap_ok "$2"; else tap_fail "$2" "the condition failed"; fi
}

lab_procs() { cat "/run/ztna-lab/$1/procs" 2>/dev/null; }

proc_running() {
	local stat rest
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) }
	# shellcheck disable=SC2086 # the fields, split
	set -- "$2" $rest
	[ "$2" != Z ] && [ "$2" != X ] && [ "${21}" = "$1" ]
}

procs_gone_within() {
	local secs=$1 i p left args
	shift
	args=("$@")
	for ((i = 0; i < secs * 20; i++)); do
		left=0
		for ((p = 0; p + 1 < ${#args[@]}; p += 2)); do
			proc_running "${args[p]}" "${args[p + 1]}" && left=$((left + 1))
		done
		[ $left = 0 ] && return 0
		sleep 0.05
	done
	return 1
}
