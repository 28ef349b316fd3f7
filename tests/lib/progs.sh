# Helpers for shell suites that run the real programs on loopback (tests/sec, tests/sys).
# Source it after tests/lib/tap.sh, then:
#   progs_init NAME          a temp dir $T (removed at exit unless ZT_KEEP=1), a random
#                            loopback address $L and a random base port $PORT (+0..49 are
#                            ours); every program started is killed at exit
#   progs_start NAME CMD...  runs CMD in its own process group, stdout $T/NAME.out,
#                            stderr $T/NAME.log
#   progs_stop NAME [SIG]    stops it (TERM) and waits
#   progs_alive NAME         0 while it runs
#   wait_log FILE PATTERN SECONDS [COUNT]   until FILE has COUNT lines matching PATTERN
#   count_log FILE PATTERN   how many lines of FILE match PATTERN
#   rnd_ip                   another random loopback address
#   rss_kb PID / cpu_ticks PID   a process's resident memory (KiB) / user+system ticks
#   rss_check NAME KB MAX    a test: KB < MAX; skipped (with the reason) in an ASan build,
#                            whose allocator keeps freed memory in quarantine
#   rss_le KB MAX            0 when KB < MAX or the build is ASan's (for a test that
#                            checks more than RSS); rss_note: a suffix saying which
#   stat_of NAME KEY         KEY's value in NAME's last stats line (event=stats)
#   hup_stats NAME...        ask each for a stats line (SIGHUP) and wait for it
#   tap_dump NAME            a zt-testkit tap started as NAME writes its counters to
#                            $T/NAME.stats now (SIGUSR1); waits for the file (3 s)
# PIDS[NAME] is the pid (process group) of each program started.
B=${BUILD:-build}
declare -A PIDS
progs_cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM -- "-$p" 2>/dev/null
	done
	sleep 0.1
	for p in "${PIDS[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "${ZT_KEEP:-}" ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
}
progs_init() {
	T=$(mktemp -d "/tmp/zt-$1.XXXXXX")
	trap progs_cleanup EXIT
	trap 'exit 130' INT TERM
	# Our own loopback address and ports: other suites run at the same time on
	# 127.0.0.1 (and ports above 32767 are the kernel's ephemeral range).
	L=$(rnd_ip)
	PORT=$((20000 + RANDOM % 12000))
}
progs_start() {
	local name=$1
	shift
	setsid "$@" >"$T/$name.out" 2>"$T/$name.log" &
	PIDS[$name]=$!
}
progs_stop() {
	local name=$1 sig=${2:-TERM}
	[ -n "${PIDS[$name]:-}" ] || return 0
	kill -"$sig" -- "-${PIDS[$name]}" 2>/dev/null
	wait "${PIDS[$name]}" 2>/dev/null
	unset "PIDS[$name]"
}
progs_alive() { kill -0 "${PIDS[$1]}" 2>/dev/null; }
wait_log() {
	local n=$(($3 * 10)) want=${4:-1}
	while [ "$n" -gt 0 ]; do
		[ "$(count_log "$1" "$2")" -ge "$want" ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
count_log() {
	local n
	n=$(grep -c -- "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}
rnd_ip() { echo "127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
asan_build() { ldd "$B/ztna-intermediate" 2>/dev/null | grep -q libasan; }
RSS_WHY="ASan build: its allocator quarantines freed memory and never trims; the plain build checks RSS"
rss_check() {
	local name=$1 kb=$2 max=$3
	if asan_build; then
		tap_skip "$name" "$RSS_WHY (measured $((kb / 1024)) MiB)"
	elif [ "$kb" -gt 0 ] && [ "$kb" -lt "$max" ]; then
		tap_ok "$name: $((kb / 1024)) MiB (< $((max / 1024)))"
	else
		tap_fail "$name" "$kb KiB, limit $max KiB"
	fi
}
rss_le() { asan_build || { [ "$1" -gt 0 ] && [ "$1" -lt "$2" ]; }; }
rss_note() { asan_build && echo " (RSS not bounded: ASan build)"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
stat_of() {
	grep 'event=stats' "$T/$1.log" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}
tap_dump() {
	rm -f "$T/$1.stats"
	kill -USR1 "${PIDS[$1]}"
	for _ in $(seq 30); do
		[ -s "$T/$1.stats" ] && return 0
		sleep 0.1
	done
	return 1
}
hup_stats() {
	local n c
	for n in "$@"; do
		c=$(count_log "$T/$n.log" 'event=stats')
		kill -HUP "${PIDS[$n]}"
		wait_log "$T/$n.log" 'event=stats' 3 $((c + 1))
	done
}
