# Helpers for the suites of several Intermediates sharing a NATS cluster (tests/sys/nats_*.sh).
# Source after tests/lib/progs.sh ($T, $B):
#   nats_skip_all N       when nats-server is missing: N skips and exit
#   presence NAME         the `presence` answer of the Intermediate whose control socket
#                         is $T/NAME.sock
#   field TEXT KEY        KEY's value in TEXT's first line that has it (key=value)
#   wait_presence NAME PATTERN SECONDS [absent]   until NAME's presence has a line
#                         matching PATTERN (or none, with absent); 1 on timeout
nats_skip_all() {
	command -v nats-server >/dev/null && return 0
	for i in $(seq "$1"); do tap_skip "nats $i" "nats-server is not installed (tools/deps.sh lab)"; done
	exit 0
}
presence() { echo presence | timeout 5 socat -t 3 - "UNIX-CONNECT:$T/$1.sock" 2>/dev/null; }
field() { sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p" <<<" $1" | head -1; }
wait_presence() {
	local n=$(($3 * 10))
	while [ "$n" -gt 0 ]; do
		if [ "${4:-}" = absent ]; then
			presence "$1" | grep -q -- "$2" || return 0
		else
			presence "$1" | grep -q -- "$2" && return 0
		fi
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
