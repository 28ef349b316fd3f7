# shellcheck shell=bash
# Shared code for the lab scenario scripts (scenarios/*.sh) and the lab tests that
# reuse them (tests/lab/*.sh). It builds on the lab helpers of tests/lib/lab.sh
# (lab_up, lab_x, lab_bg, lab_wait_for, lab_cleanup: see docs/lab.md), which it
# sources. Sourcing it defines functions and a few variables, nothing else.
#
# A scenario script:
#   . "$(dirname "$0")/lib.sh"
#   sc_main_setup "$@"          root check, options, trap, tools/deps.sh lab, make
#   sc_lab FILE                 lab_up FILE (unique id in LAB, env sourced) + diagram
#   sc_stun                     ztna stun-server on the server 'stun' (both addresses)
#   sc_classify_all HOST...     ztna discover on each HOST vs its configured NAT -> rows
#   sc_pair A B                 pair_run A B, compared with theory -> a row per run
#   sc_report                   the results table and the verdict; returns 1 on any FAIL
#
# The per-pair step is pluggable: pair_run A B calls pair_run_$SC_MODE (default
# "punch": `ztna punch` between the hosts, reflexive addresses from `ztna discover
# --basic`). It sets
#   PAIR_PATH  direct | relay     (relay: no direct path; in punch mode nothing relays)
#   PAIR_MS    time to the direct path in ms, or -
#   PAIR_NOTE  one line for people (where the peer was reached, RTT, failure reasons)
# A later mode (the full system: Intermediate on the public segment, connector behind
# A's NAT, agent behind B's) only has to define pair_run_system.
#
# Cleanup: lab_cleanup (tests/lib/lab.sh) stops the background processes started
# through lab_bg, takes down every lab lab_up brought up, and removes LAB_TMP;
# sc_main_setup traps it on EXIT, INT and TERM.

SC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
ZT_ROOT=${ZT_ROOT:-$SC_ROOT}
ZTNA=${ZTNA:-$SC_ROOT/$BUILD/ztna}
ZTLAB=${ZTLAB:-$SC_ROOT/$BUILD/ztna-lab}
ZTSIM=${ZTSIM:-$SC_ROOT/$BUILD/ztna-sim}
declare -F tap_ok >/dev/null || . "$SC_ROOT/tests/lib/tap.sh"
declare -F lab_up >/dev/null || . "$SC_ROOT/tests/lib/lab.sh"
SC_MODE=${SC_MODE:-punch}
SC_SYS_ARGS=${SC_SYS_ARGS:-}
# more options for the program on one host (system mode): SC_HOST_ARGS[HOST]="..."
declare -gA SC_HOST_ARGS=()
SC_RUNS=${SC_RUNS:-1}
SC_VERBOSE=${SC_VERBOSE:-0}
SC_PUNCH_ARGS=${SC_PUNCH_ARGS:---interval 100 --attempts 20 --timeout 10}
SC_DISCOVER_TIMEOUT=${SC_DISCOVER_TIMEOUT:-1}
SC_ROWS=()
SC_FAILS=0
SC_PASSES=0
SC_PORT=20000

sc_say() { printf '%s\n' "$*"; }
sc_debug() { [ "$SC_VERBOSE" -gt 0 ] && printf '  | %s\n' "$*" >&2; return 0; }

sc_usage() {
	cat <<EOF
usage: sudo $0 [--runs N] [--mode system|punch] [--no-build] [-v]

  --runs N     run each pair N times (default $SC_RUNS)
  --mode M     system (default): the Intermediate, a connector and an agent, direct
               path or relay as the programs decide; punch: ztna punch only
  --no-build   do not run tools/deps.sh and make (use what is in $BUILD/)
  -v           show the tools' raw output
  (SC_KEEP=DIR in the environment: path-failure.sh, nat-rebinding.sh and tunnel.sh copy their
  logs there)
Exit status: 0 when everything agrees with what was configured and with RFC 4787
theory, 1 when anything disagrees, 2 on a setup error, 130 on Ctrl-C.
EOF
	# a script's own options (SC_USAGE_EXTRA, set before sc_main_setup)
	[ -n "${SC_USAGE_EXTRA:-}" ] && printf '\n%s\n' "$SC_USAGE_EXTRA"
	return 0
}

# Options, root, trap, build. Call once at the top of a scenario script.
sc_main_setup() {
	local build=1
	# first, so that every way out (--help, a bad option) removes LAB_TMP
	trap lab_cleanup EXIT
	SC_MODE=${SC_MODE_DEFAULT:-system}
	LAB_TMP=$(mktemp -d /tmp/ztlab-test.XXXXXX)
	while [ $# -gt 0 ]; do
		case "$1" in
		--runs)
			[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "$0: --runs needs a number >= 1" >&2; exit 2; }
			SC_RUNS=$2
			shift 2 ;;
		--no-build) build=0; shift ;;
		--mode)
			[[ ${2:-} =~ ^(system|punch)$ ]] || { echo "$0: --mode is system or punch" >&2; exit 2; }
			SC_MODE=$2
			shift 2 ;;
		-v) SC_VERBOSE=1; shift ;;
		-h|--help) sc_usage; exit 0 ;;
		*) echo "$0: unknown option '$1'" >&2; sc_usage >&2; exit 2 ;;
		esac
	done
	if [ "$(id -u)" -ne 0 ]; then
		echo "$0: needs root (it creates network namespaces): run it with sudo" >&2
		exit 2
	fi
	trap 'echo; echo "interrupted: cleaning up"; lab_cleanup; trap - EXIT; exit 130' INT TERM
	if [ "$build" = 1 ]; then
		sc_say "building (tools/deps.sh lab, make) ..."
		if ! (cd "$SC_ROOT" && ./tools/deps.sh lab && make -j2 BUILD="$BUILD") >"$LAB_TMP/build.log" 2>&1; then
			tail -n 30 "$LAB_TMP/build.log" >&2
			echo "$0: the build failed (log above)" >&2
			exit 2
		fi
	fi
	if [ ! -x "$ZTNA" ] || [ ! -x "$ZTLAB" ]; then
		echo "$0: $ZTNA or $ZTLAB missing: build first (make), or drop --no-build" >&2
		exit 2
	fi
}

# Brings FILE's lab up under a fresh id (lab_up: sets LAB, sources the env file) and
# prints its diagram (QUIET=1: not).
sc_lab() {
	local file=$1
	SC_LAB_FILE=$file
	if ! lab_up "$file" >"$LAB_TMP/up.diag"; then
		echo "ztna-lab up $file failed: $(cat "$LAB_TMP/up.diag")" >&2
		return 1
	fi
	if [ "${QUIET:-0}" != 1 ]; then
		sc_say "lab $LAB from ${file#"$SC_ROOT"/}:"
		"$ZTLAB" diagram "$file" | sed 's/^/    /'
		sc_say ""
	fi
}

# ztna stun-server on the server node (default 'stun') with its first two addresses.
sc_stun() {
	local node=${1:-stun} ip ip2
	ip=$(eval echo "\$ZTLAB_IP_$node")
	ip2=$(eval echo "\$ZTLAB_IP2_$node")
	SC_STUN=$ip
	lab_bg "$node" "$LAB_TMP/stun-$LAB.log" "$ZTNA" stun-server --primary "$ip" --alternate "$ip2"
	if ! lab_wait_for "$LAB_TMP/stun-$LAB.log" "event=listening" >/dev/null; then
		echo "ztna stun-server did not start: $(cat "$LAB_TMP/stun-$LAB.log")" >&2
		return 1
	fi
}

# The value of "KEY" in a flat JSON object (strings unquoted; null -> -).
json_get() {
	local v
	v=$(printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" | head -n 1)
	[ -z "$v" ] || [ "$v" = null ] && v=-
	echo "$v"
}

# A fresh local port for each use, so runs never share NAT state.
sc_next_port() {
	SC_PORT=$((SC_PORT + 1))
	PORT=$SC_PORT
}

# RFC 4787 theory, from the simulator (sim/theory.c) on the lab file itself, so that
# NAT chains, shared NATs and hairpinning count as they do there: ztna-sim --theory
# prints what A and B should end with and the NAT behaviour each sees.
sc_sim_theory() {
	"$ZTSIM" --scenario "$SC_LAB_FILE" --session "$1,$2,${3:-stun}" --theory
}

# The NAT behaviour HOST sees through every NAT between it and the public segment
# (endpoint-dependent mapping anywhere makes it symmetric; the strictest filter wins;
# UDP blocked anywhere blocks it): full-cone, ..., udp-blocked, or open when HOST is
# on the public segment.
sc_effective_type() {
	local w t _
	read -r w t _ < <(sc_sim_theory "$1" stun) && echo "$t"
}

# What theory says A and B end with: direct or relay. UDP blocked (the simulator's
# "none": no UDP at all) is relay too: the full system reaches the Intermediate over
# TLS/TCP and relays there (docs/tcp-transport.md); hole punching finds no path.
sc_theory() {
	local w _
	read -r w _ _ < <(sc_sim_theory "$1" "$2") || return 1
	[ "$w" = none ] && w=relay
	echo "$w"
}

short_type() {
	case "$1" in
	full-cone) echo FC ;;
	address-restricted) echo ARC ;;
	port-restricted) echo PRC ;;
	symmetric) echo SYM ;;
	*) echo "$1" ;;
	esac
}

# Records a result row: WHAT EXPECTED SAW [NOTE]; PASS when SAW equals EXPECTED.
sc_row() {
	local what=$1 want=$2 got=$3 note=${4:-} verdict=PASS
	if [ "$got" = "$want" ]; then
		SC_PASSES=$((SC_PASSES + 1))
	else
		verdict=FAIL
		SC_FAILS=$((SC_FAILS + 1))
	fi
	SC_ROWS+=("$what|$want|$got|$verdict|$note")
	# SC_ROW_QUIET=1 (the matrix): only classification rows and -v show each row
	if [ "${SC_ROW_QUIET:-0}" != 1 ] || [ "$SC_VERBOSE" -gt 0 ] || [ "${SC_ROW_FORCE:-0}" = 1 ]; then
		printf '  %-4s %-48s expected %-19s saw %-19s %s\n' "$verdict" "$what" "$want" "$got" "$note"
	fi
	[ $verdict = PASS ]
}

# Prints the results table and the verdict line; returns 1 when anything failed.
sc_report() {
	local r what want got verdict note
	sc_say ""
	sc_say "results ($SC_NAME):"
	printf '  %-50s %-19s %-19s %s\n' "check" "expected" "saw" "result"
	for r in "${SC_ROWS[@]}"; do
		IFS='|' read -r what want got verdict note <<<"$r"
		printf '  %-50s %-19s %-19s %s\n' "$what" "$want" "$got" "$verdict"
	done
	sc_say ""
	if [ "$SC_FAILS" -eq 0 ]; then
		sc_say "verdict: PASS ($SC_PASSES of $SC_PASSES checks agree)"
		return 0
	fi
	sc_say "verdict: FAIL ($SC_FAILS of $((SC_PASSES + SC_FAILS)) checks disagree)"
	return 1
}

# ztna discover on HOST: sets DISC_TYPE, DISC_HAIRPIN, DISC_REFLEXIVE, DISC_RC, DISC_MS.
sc_discover() {
	local host=$1 out t0 t1
	t0=$(date +%s%N)
	out=$(lab_x "$host" "$ZTNA" discover --server "$SC_STUN" --json --timeout "$SC_DISCOVER_TIMEOUT" 2>"$LAB_TMP/discover.err")
	DISC_RC=$?
	t1=$(date +%s%N)
	DISC_MS=$(((t1 - t0) / 1000000))
	sc_debug "discover $host (exit $DISC_RC): $out $(cat "$LAB_TMP/discover.err")"
	DISC_TYPE=$(json_get "$out" type)
	DISC_HAIRPIN=$(json_get "$out" hairpinning)
	DISC_REFLEXIVE=$(json_get "$out" reflexive)
}

# Classification of HOST by ztna discover against the configured NAT(s) -> a row.
sc_classify() {
	local host=$1 want
	want=$(sc_effective_type "$host")
	sc_discover "$host"
	sc_row "ztna discover on $host" "$want" "$DISC_TYPE" "reflexive $DISC_REFLEXIVE, hairpin $DISC_HAIRPIN, ${DISC_MS} ms"
}

# sc_classify for several hosts at once (the discoveries run in parallel; the rows
# are recorded in the order given).
sc_classify_all() {
	local h pids=() i=0 want out
	for h in "$@"; do
		( t0=$(date +%s%N)
		  lab_x "$h" "$ZTNA" discover --server "$SC_STUN" --json --timeout "$SC_DISCOVER_TIMEOUT" \
			>"$LAB_TMP/disc-$h.json" 2>"$LAB_TMP/disc-$h.err"
		  echo "$? $((($(date +%s%N) - t0) / 1000000))" >"$LAB_TMP/disc-$h.rc" ) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for h in "$@"; do
		want=$(sc_effective_type "$h")
		out=$(cat "$LAB_TMP/disc-$h.json")
		read -r DISC_RC DISC_MS <"$LAB_TMP/disc-$h.rc"
		sc_debug "discover $h (exit $DISC_RC): $out $(cat "$LAB_TMP/disc-$h.err")"
		DISC_TYPE=$(json_get "$out" type)
		DISC_HAIRPIN=$(json_get "$out" hairpinning)
		DISC_REFLEXIVE=$(json_get "$out" reflexive)
		SC_ROW_FORCE=1 sc_row "ztna discover on $h" "$want" "$DISC_TYPE" \
			"reflexive $DISC_REFLEXIVE, hairpin $DISC_HAIRPIN, ${DISC_MS} ms"
	done
}

# The per-type scenario (full-cone.sh, ...): alice behind a TYPE NAT, a peer behind
# each of the four types (scenarios/lab/vs-TYPE.lab). Every host classified, alice
# punched to every peer, each compared with theory.
sc_scenario_vs() {
	local type=$1 p
	SC_NAME="$type NAT against every NAT type"
	sc_say "== $SC_NAME =="
	sc_lab "$SC_ROOT/scenarios/lab/vs-$type.lab" || exit 2
	sc_stun || exit 2
	sc_say "expected: every host classified as its NAT's type; a direct path from alice"
	sc_say "to every peer except where theory (RFC 4787) says none exists: symmetric"
	sc_say "against port-restricted or symmetric (there the session stays on the relay)."
	sc_say "$SC_RUNS run(s) per pair, mode $SC_MODE."
	sc_say ""
	sc_say "classification (ztna discover, RFC 5780, against ztna stun-server):"
	sc_classify_all alice p_fc p_arc p_prc p_sym
	sc_say ""
	sc_pair_header
	for p in p_fc p_arc p_prc p_sym; do
		sc_pair alice "$p"
	done
	sc_report
}

# coturn's turnserver as a plain STUN server (RFC 5780: two listening IPs) on the
# server NODE's first two addresses, port PORT (default 3478) and PORT + 1: STUN only,
# UDP only, no CLI, not daemonised, log, pid and database files in LAB_TMP. Stopped
# by pid with the rest (and by the lab's teardown).
sc_coturn() {
	local node=${1:-stun} port=${2:-3478} ip ip2 d
	ip=$(eval echo "\$ZTLAB_IP_$node")
	ip2=$(eval echo "\$ZTLAB_IP2_$node")
	d=$LAB_TMP/coturn-$LAB-$port
	mkdir -p "$d"
	lab_bg "$node" "$d/stdout" turnserver -n --stun-only --no-tcp --no-tls --no-dtls --no-cli \
		-L "$ip" -L "$ip2" --listening-port "$port" --alt-listening-port $((port + 1)) \
		--log-file "$d/turn.log" --simple-log --no-stdout-log --pidfile "$d/turn.pid" \
		--userdb "$d/turndb" --no-software-attribute
	# ready when it has bound every listener (4 UDP sockets)
	local i
	for ((i = 0; i < 250; i++)); do
		[ "$(lab_x "$node" ss -Hlun "sport = :$port or sport = :$((port + 1))" 2>/dev/null | wc -l)" -ge 4 ] && return 0
		sleep 0.02
	done
	echo "turnserver did not start: $(tail -n 5 "$d/turn.log" 2>/dev/null)" >&2
	return 1
}

# coturn's turnutils_natdiscovery -m -f on HOST against SERVER:PORT: prints the type
# name its mapping and filtering answers make (or "unknown: ...").
sc_coturn_classify() {
	local host=$1 server=$2 port=$3 out m f
	out=$(lab_x "$host" timeout 30 turnutils_natdiscovery -m -f -p "$port" "$server" 2>&1)
	sc_debug "turnutils_natdiscovery on $host: $(echo "$out" | grep -E 'NAT|timeout' | tr '\n' '|')"
	m=$(echo "$out" | sed -n 's/^NAT with \(.*\) Mapping!$/\1/p' | head -n 1)
	f=$(echo "$out" | sed -n 's/^NAT with \(.*\) Filtering!$/\1/p' | head -n 1)
	if echo "$out" | grep -q "^No NAT"; then
		case "$f" in
		"Endpoint Independent") echo open ;;
		"") echo "unknown: no filtering answer" ;;
		*) echo firewall ;;
		esac
	elif [ -z "$m" ] || [ -z "$f" ]; then
		echo "unknown: $(echo "$out" | grep -iE 'error|timeout' | head -n 1)"
	elif [ "$m" != "Endpoint Independent" ]; then
		echo symmetric
	else
		case "$f" in
		"Endpoint Independent") echo full-cone ;;
		"Address Dependent") echo address-restricted ;;
		"Address and Port Dependent") echo port-restricted ;;
		*) echo "unknown: filtering '$f'" ;;
		esac
	fi
}

# HOST's public address for local PORT (one STUN Binding): sets REFL (or -).
sc_reflexive() {
	local out
	out=$(lab_x "$1" "$ZTNA" discover --server "$SC_STUN" --basic --json --timeout 1 \
		--local "$(eval echo "\$ZTLAB_IP_$1")":"$2" 2>/dev/null)
	REFL=$(json_get "$out" reflexive)
}

pair_run() {
	"pair_run_$SC_MODE" "$@"
}

# Punch mode: both hosts learn their public address for a fresh port, the script
# hands each the other's, B starts `ztna punch` (responder), then A (--initiator).
# Direct when both ends report success.
pair_run_punch() {
	local a=$1 b=$2 pa pb ra rb ja jb rca rcb
	sc_next_port; pa=$PORT
	sc_next_port; pb=$PORT
	sc_reflexive "$a" "$pa"; ra=$REFL
	sc_reflexive "$b" "$pb"; rb=$REFL
	# no reflexive address (UDP blocked): the NAT's public address, same port
	[ "$ra" = - ] && ra=$(eval echo "\$ZTLAB_PUBLIC_IP_$a"):$pa
	[ "$rb" = - ] && rb=$(eval echo "\$ZTLAB_PUBLIC_IP_$b"):$pb
	# shellcheck disable=SC2086
	lab_bg "$b" "$LAB_TMP/punch-b.json" "$ZTNA" punch --local-port "$pb" --peer "$ra" --json $SC_PUNCH_ARGS
	# shellcheck disable=SC2086
	ja=$(lab_x "$a" "$ZTNA" punch --local-port "$pa" --peer "$rb" --initiator --json $SC_PUNCH_ARGS 2>&1)
	rca=$?
	wait "$LAB_BG"
	rcb=$?
	jb=$(cat "$LAB_TMP/punch-b.json")
	sc_debug "punch $a -> $rb (exit $rca): $ja"
	sc_debug "punch $b -> $ra (exit $rcb): $jb"
	if [ $rca = 0 ] && [ $rcb = 0 ]; then
		PAIR_PATH=direct
		PAIR_MS=$(json_get "$ja" direct_ms)
		PAIR_NOTE="$a reached $b at $(json_get "$ja" reached)"
		[ "$(json_get "$ja" peer_reflexive)" = true ] && PAIR_NOTE="$PAIR_NOTE (peer-reflexive)"
		PAIR_NOTE="$PAIR_NOTE, $b reached $a at $(json_get "$jb" reached)"
		[ "$(json_get "$jb" peer_reflexive)" = true ] && PAIR_NOTE="$PAIR_NOTE (peer-reflexive)"
		PAIR_NOTE="$PAIR_NOTE, rtt $(json_get "$ja" rtt_ms) ms"
	else
		PAIR_PATH=relay
		PAIR_MS=-
		PAIR_NOTE="no direct path: $a $(json_get "$ja" reason) (exit $rca), $b $(json_get "$jb" reason) (exit $rcb)"
	fi
}

# System mode: the three programs. Once per lab (sc_system_up): a dev PKI with an
# agent and a connector identity for every host, the Intermediate on the server node
# 'stun' (port 4433, every agent allowed every host's service), a TCP echo service
# on each host as it is first used. Per run: ztna-connector on A fronting A's echo
# service (svc-A), ztna-agent on B forwarding 127.0.0.1:8000 to it, both bound to
# 0.0.0.0 (host candidates from netlink). `ztna ping` opens the session; the agent's
# path_switch / ice_failed lines and `ztna status` say what happened; 4 KB through
# the forward and two more pings check that it carries traffic. A side that cannot
# reach the Intermediate at all (UDP blocked) gives PAIR_PATH=none.
SC_SYS_LAB=
SC_SYS_WAIT=${SC_SYS_WAIT:-8}
sc_name_of() { echo "${1//_/-}"; }

sc_system_up() {
	local h n args=() allow="" ip
	[ "$SC_SYS_LAB" = "$LAB" ] && return 0
	SC_SYS_LAB=$LAB
	SC_IMD=$(eval echo "\$ZTLAB_IP_stun")
	args=(pki init "$LAB_TMP/pki-$LAB" --intermediate-ip "$SC_IMD")
	for h in $ZTLAB_HOSTS; do
		n=$(sc_name_of "$h")
		args+=(--agent "$n" --connector "$n=svc-$n")
		allow="${allow:+$allow,}svc-$n"
	done
	"$ZTNA" "${args[@]}" >"$LAB_TMP/pki-$LAB.out" 2>&1 || { cat "$LAB_TMP/pki-$LAB.out" >&2; return 1; }
	args=(--listen "$SC_IMD:4433" --pki "$LAB_TMP/pki-$LAB/intermediate" --open-hold 3s)
	for h in $ZTLAB_HOSTS; do
		n=$(sc_name_of "$h")
		args+=(--client "agent:$n:tok-$n" --client "connector:$n:tok-$n" --allow "$n=$allow"
			--serve "$n=svc-$n")
	done
	lab_bg stun "$LAB_TMP/imd-$LAB.log" "$SC_ROOT/$BUILD/ztna-intermediate" "${args[@]}"
	lab_wait_for "$LAB_TMP/imd-$LAB.log" "event=start " 5 >/dev/null ||
		{ echo "ztna-intermediate did not start: $(cat "$LAB_TMP/imd-$LAB.log")" >&2; return 1; }
	head -c 4096 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 4000 >"$LAB_TMP/sys-data"
	declare -gA SC_ECHO=()
}

# Kills a program started with lab_bg (its pid) and waits for it.
sc_stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# The first line of a running program's status (ztna status --raw on its control
# socket) that starts with PREFIX ("node", "session="), or nothing.
sc_status_line() {
	"$ZTNA" status --control "$1" --raw 2>/dev/null | grep -m 1 "^$2"
}

# Waits up to TENTHS tenths of a second until every control socket given reports its
# node ready (logged in at the Intermediate). Returns 1 if one did not.
sc_wait_ready() {
	local tenths=$1 i s ok
	shift
	for ((i = 0; i < tenths; i++)); do
		ok=1
		for s in "$@"; do
			[ "$(kv "$(sc_status_line "$s" node)" state)" = ready ] || ok=0
		done
		[ $ok = 1 ] && return 0
		sleep 0.1
	done
	return 1
}

pair_run_system() {
	local a=$1 b=$2 na nb ipa conn agent i line out via ctl cctl log ice t0 tcp_ms
	sc_system_up || { PAIR_PATH=setup-failed PAIR_MS=- PAIR_NOTE="system setup failed"; return; }
	na=$(sc_name_of "$a") nb=$(sc_name_of "$b")
	ipa=$(eval echo "\$ZTLAB_IP_$a")
	if [ -z "${SC_ECHO[$a]:-}" ]; then
		lab_bg "$a" "$LAB_TMP/echo-$a.log" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-echo "$ipa:7000"
		SC_ECHO[$a]=$LAB_BG
	fi
	SC_SYS_RUN=$((${SC_SYS_RUN:-0} + 1))
	log=$LAB_TMP/sys-$SC_SYS_RUN
	ctl=$LAB_TMP/agent-$SC_SYS_RUN.sock
	cctl=$LAB_TMP/conn-$SC_SYS_RUN.sock
	lab_bg "$a" "$log-conn.log" "$SC_ROOT/$BUILD/ztna-connector" --intermediate "$SC_IMD:4433" \
		--pki "$LAB_TMP/pki-$LAB/connector-$na" --name "$na" --token "tok-$na" --service "svc-$na=tcp:$ipa:7000" \
		--control "$cctl" --cooldown 60s $SC_SYS_ARGS ${SC_HOST_ARGS[$a]:-}
	conn=$LAB_BG
	lab_bg "$b" "$log-agent.log" "$SC_ROOT/$BUILD/ztna-agent" --intermediate "$SC_IMD:4433" \
		--pki "$LAB_TMP/pki-$LAB/agent-$nb" --name "$nb" --token "tok-$nb" --forward "tcp:127.0.0.1:8000=svc-$na" \
		--control "$ctl" --cooldown 60s $SC_SYS_ARGS ${SC_HOST_ARGS[$b]:-}
	agent=$LAB_BG
	PAIR_PATH=none PAIR_MS=- PAIR_NOTE=""
	if ! sc_wait_ready 50 "$cctl" "$ctl"; then
		PAIR_NOTE="no connection to the Intermediate in 5 s ($a: $(kv "$(sc_status_line "$cctl" node)" state), $b: $(kv "$(sc_status_line "$ctl" node)" state))"
		sc_stop "$agent"; sc_stop "$conn"
		return
	fi
	# SC_SYS_PORTMAP_WAIT=1 (--portmap): both ends mapped (up to 3 s) before the session
	# opens, so that its first ICE generation offers the mappings
	for ((i = 0; i < 30 && ${SC_SYS_PORTMAP_WAIT:-0} == 1; i++)); do
		[ "$(kv "$(sc_status_line "$cctl" portmap)" state)/$(kv "$(sc_status_line "$ctl" portmap)" state)" = \
			mapped/mapped ] && break
		sleep 0.1
	done
	"$ZTNA" ping "svc-$na" -c 1 --timeout 3000 --control "$ctl" >"$log-ping0" 2>&1
	t0=$(date +%s%N)
	# until the session is direct or its ICE generation failed (the agent's status);
	# over TCP (SC_SYS_TRANSPORT=tcp) until the TCP direct path is up or failed
	for ((i = 0; i < SC_SYS_WAIT * 10; i++)); do
		line=$(sc_status_line "$ctl" session=)
		case "$(kv "$line" path)" in direct | direct-tcp) break ;; esac
		if [ "${SC_SYS_TRANSPORT:-}" = tcp ]; then
			[ "$(kv "$line" tcp)" = failed ] && break
		else
			[ "$(kv "$line" ice)" = failed ] && break
		fi
		sleep 0.1
	done
	tcp_ms=$((($(date +%s%N) - t0) / 1000000))
	# a direct path found late would show up here too
	[ "$(kv "$line" ice)" = failed ] || sleep 0.3
	line=$(sc_status_line "$ctl" session=)
	PAIR_PATH=$(kv "$line" path)
	[ "$PAIR_PATH" = - ] && PAIR_PATH=none
	out=$(lab_x "$b" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-send 127.0.0.1:8000 "$LAB_TMP/sys-data" 2>&1)
	"$ZTNA" ping "svc-$na" -c 2 -i 0.1 --timeout 2000 --control "$ctl" >"$log-ping" 2>&1
	via=$(grep -o 'via [a-z]*' "$log-ping" | sort | uniq -c | tr -s ' ' | tr '\n' ',' | sed 's/,$//')
	if [ "$out" != "$(cat "$LAB_TMP/sys-data")" ]; then
		PAIR_PATH="$PAIR_PATH-but-no-data"
	fi
	# SC_SYS_TRANSPORT (tcp, udp): both ends must be logged in over it
	PAIR_TRANSPORT="$(kv "$(sc_status_line "$cctl" node)" transport)/$(kv "$(sc_status_line "$ctl" node)" transport)"
	if [ -n "${SC_SYS_TRANSPORT:-}" ] && [ "$PAIR_TRANSPORT" != "$SC_SYS_TRANSPORT/$SC_SYS_TRANSPORT" ]; then
		PAIR_PATH="$PAIR_PATH-but-$PAIR_TRANSPORT"
	fi
	if [ "$PAIR_PATH" = direct ]; then
		PAIR_MS=$(kv "$line" time_to_direct_ms)
		PAIR_NOTE="remote $(kv "$line" remote), 4 KB echoed, pings:${via:- none}"
	elif [ "$PAIR_PATH" = direct-tcp ]; then
		# from the first ping's answer to the status saying so (0.1 s polling)
		PAIR_MS=$tcp_ms
		PAIR_NOTE="remote $(kv "$line" remote) (tcp), 4 KB echoed, pings:${via:- none}"
	else
		ice="ICE gave up ($(kv "$line" ice_pairs) pairs, $(kv "$line" ice_checks) checks, $(kv "$line" ice_responses) answers)"
		[ "$(kv "$line" ice)" = failed ] || ice="ICE did not give up in ${SC_SYS_WAIT} s"
		[ "${SC_SYS_TRANSPORT:-}" = tcp ] && ice="TCP direct path $(kv "$line" tcp)"
		PAIR_NOTE="$ice; 4 KB echoed: $([ "$out" = "$(cat "$LAB_TMP/sys-data")" ] && echo yes || echo no), pings:${via:- none}, transport (connector/agent) $PAIR_TRANSPORT"
	fi
	if [ "${SC_SYS_PORTMAP_WAIT:-0}" = 1 ]; then
		local pma pmb
		pma=$(sc_status_line "$cctl" portmap) pmb=$(sc_status_line "$ctl" portmap)
		PAIR_NOTE="$PAIR_NOTE; mapped: $a $(kv "$pma" external) ($(kv "$pma" protocol)), $b $(kv "$pmb" external) ($(kv "$pmb" protocol))"
	fi
	sc_debug "system $a -> $b: $line"
	sc_stop "$agent"
	sc_stop "$conn"
}

# The transfer scenarios (path-failure.sh, nat-rebinding.sh) on
# scenarios/lab/path-failure.lab: agent alice (her lab link is a TAP device, hence
# --interfaces eth0), connector bob in front of zt-testkit's tcp-sink, the
# Intermediate on 'stun', 64 MiB of random data.
#   sc_xfer_up             PKI, Intermediate, sink, data: sets IMD, SUM, SIZE
#   sc_xfer_start L COOL   connector and agent for one run (logs L-conn.log,
#                          L-agent.log, control sockets L.sock and L-conn.sock,
#                          --cooldown COOL s),
#                          the session opened; sets XF_CONN, XF_AGENT, XF_PATH (its path)
#   sc_xfer_send L         64 MiB through alice's forward in the background (XF_SEND)
#   sc_xfer_check L RUN T0 the transfer's rows after it ended (bytes, SHA-256) and,
#                          after stopping both programs, their TCP reset counters
sc_xfer_up() {
	IMD=$ZTLAB_IP_stun
	"$ZTNA" pki init "$LAB_TMP/pki" --intermediate-ip "$IMD" --service sink --agent alice \
		--connector bob >/dev/null 2>&1 || { echo "pki init failed" >&2; return 1; }
	lab_bg stun "$LAB_TMP/imd.log" "$SC_ROOT/$BUILD/ztna-intermediate" --listen "$IMD:4433" \
		--pki "$LAB_TMP/pki/intermediate" --client agent:alice:ta --client connector:bob:tb --allow alice=sink \
		--serve bob=sink
	lab_wait_for "$LAB_TMP/imd.log" "event=start " 5 >/dev/null || return 1
	lab_bg bob "$LAB_TMP/sink.log" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-sink "$ZTLAB_IP_bob:7001"
	head -c 64M /dev/urandom >"$LAB_TMP/data"
	SUM=$(sha256sum "$LAB_TMP/data" | cut -c1-64)
	SIZE=$(stat -c %s "$LAB_TMP/data")
}

sc_xfer_start() {
	local l=$1 cool=$2
	lab_bg bob "$l-conn.log" "$SC_ROOT/$BUILD/ztna-connector" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/connector-bob" --name bob --token tb --service "sink=tcp:$ZTLAB_IP_bob:7001" \
		--control "$l-conn.sock"
	XF_CONN=$LAB_BG
	lab_bg alice "$l-agent.log" "$SC_ROOT/$BUILD/ztna-agent" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/agent-alice" --name alice --token ta --forward tcp:127.0.0.1:8001=sink \
		--control "$l.sock" --cooldown "${cool}s" --interfaces eth0
	XF_AGENT=$LAB_BG
	sc_wait_ready 50 "$l.sock" "$l-conn.sock"
	"$ZTNA" ping sink -c 1 --control "$l.sock" >/dev/null 2>&1
	local i
	for ((i = 0; i < 60; i++)); do
		XF_PATH=$(kv "$(sc_status_line "$l.sock" session=)" path)
		[ "$XF_PATH" = direct ] && break
		sleep 0.1
	done
}

sc_xfer_send() {
	lab_bg alice "$1-send.out" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-send 127.0.0.1:8001 "$LAB_TMP/data"
	XF_SEND=$LAB_BG
}

sc_xfer_check() {
	local l=$1 run=$2 t0=$3 out got ms ra rc_ note=${4:-}
	wait "$XF_SEND"
	out=$(cat "$l-send.out")
	ms=$((($(date +%s%N) - t0) / 1000000))
	got=${out%% *}
	[[ $got =~ ^[0-9]+$ ]] || got=0
	sc_row "run $run: 64 MiB arrived, SHA-256 equal" "${SUM:0:16}" "$(cut -c1-16 <<<"${out#* }")" \
		"$got of $SIZE bytes in $ms ms, lost $((SIZE - got))$note"
	LOST+=("$((SIZE - got))")
	[ -n "${XF_PRE_STOP:-}" ] && "$XF_PRE_STOP" "$l" "$run"
	sc_stop "$XF_AGENT"
	sc_stop "$XF_CONN"
	# each program's exit line counts the TCP connections reset (either way)
	ra=$(grep 'event=exit' "$l-agent.log" | grep -o ' tcp_reset=[0-9]*' | cut -d= -f2)
	rc_=$(grep 'event=exit' "$l-conn.log" | grep -o ' tcp_reset=[0-9]*' | cut -d= -f2)
	sc_row "run $run: no TCP connection reset (agent, connector)" "0 0" "${ra:-?} ${rc_:-?}"
}

# Cuts the direct path at the NAT whose namespace is NS: its forward hook drops
# everything to or from ADDR (the other side's public address), so only the relay
# through the Intermediate is left (table inet ztcut). sc_uncut NS removes it.
sc_cut() {
	ip netns exec "$1" nft -f - <<NFT
table inet ztcut {
	chain cut {
		type filter hook forward priority -10; policy accept;
		ip daddr $2 drop
		ip saddr $2 drop
	}
}
NFT
}
sc_uncut() { ip netns exec "$1" nft delete table inet ztcut; }

# A log line's time (ts=...Z) in ms since the epoch.
sc_ts_ms() { date -d "$(sed -n 's/^ts=\([^ ]*\).*/\1/p' <<<"$1")" +%s%3N; }

# The median of the numbers given (the lower middle one for an even count), or -.
sc_median() {
	[ $# -eq 0 ] && { echo -; return; }
	printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"
}

# The title of the per-pair section, for the mode in use.
sc_pair_header() {
	if [ "$SC_MODE" = system ]; then
		sc_say "the full system (Intermediate on 'stun', connector on the first host, agent on"
		sc_say "the second; the programs find the direct path or stay on the relay):"
	else
		sc_say "hole punching (ztna punch, reflexive addresses exchanged by this script):"
	fi
}

# One pair, SC_RUNS times, against theory -> one row per run. Sets PAIR_DIRECT (runs
# with a direct path) and PAIR_AGREE (runs agreeing with theory).
sc_pair() {
	local ta tb
	local want
	read -r want ta tb < <(sc_sim_theory "$1" "$2")
	[ "$want" = none ] && want=relay
	sc_pair_expect "$1" "$2" "$want" "$(short_type "$ta")" "$(short_type "$tb")"
}

# The same with the expected path given: A B WANT [LABEL_A LABEL_B].
sc_pair_expect() {
	local a=$1 b=$2 want=$3 la=${4:+ ($4)} lb=${5:+ ($5)} i ms
	PAIR_DIRECT=0
	PAIR_AGREE=0
	PAIR_MS_ALL=()
	for ((i = 1; i <= SC_RUNS; i++)); do
		pair_run "$a" "$b"
		[ "$PAIR_MS" != - ] && PAIR_MS_ALL+=("$PAIR_MS")
		case "$PAIR_PATH" in direct | direct-tcp) PAIR_DIRECT=$((PAIR_DIRECT + 1)) ;; esac
		[ "$PAIR_PATH" = "$want" ] && PAIR_AGREE=$((PAIR_AGREE + 1))
		ms=""
		[ "$PAIR_MS" != - ] && ms="${PAIR_MS} ms to direct; "
		sc_row "$a$la <-> $b$lb run $i" "$want" "$PAIR_PATH" "$ms$PAIR_NOTE"
	done
}
