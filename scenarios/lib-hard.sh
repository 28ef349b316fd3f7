# shellcheck shell=bash
# The --hard variants of scenarios/nat-matrix.sh (its header states the theory of each):
# sourced by it after sc_main_setup, with HARD (the variants to run), HARD_CELLS
# (all | changed), HARD_PROBE_RUNS and SC_RUNS set. hard_main runs them and returns
# the exit status: 0 only when every cell run agrees with its variant's theory and
# every host is classified as configured.

HARD_SHORT=(fc arc prc sym)
HARD_TYPES=(full-cone address-restricted port-restricted symmetric)
# birthday probing's chance a run: 1 - (1 - 256/64512)^1024 (docs/hard-nat.md)
HARD_P=0.983

# The smallest direct count a birthday cell of N runs may show and still agree: the
# largest k with P(X < k) < 0.001 for X ~ Binomial(N, HARD_P) (10 runs: 8, 8: 6, 4: 2).
hard_kmin() {
	awk -v n="$1" -v p="$HARD_P" '
	function lcomb(n, k,   i, s) { s = 0; for (i = 1; i <= k; i++) s += log(n - k + i) - log(i); return s }
	BEGIN {
		cum = 0; k = 0
		for (x = 0; x < n; x++) {
			cum += exp(lcomb(n, x) + x * log(p) + (n - x) * log(1 - p))
			if (cum >= 0.001) break
			k = x + 1
		}
		print k
	}'
}

# The variant's lab file, made from scenarios/lab/nat-matrix.lab (dual-stack: from
# scenarios/lab/dual-stack.lab, the same matrix with a lan6 on every NAT): prints its path.
hard_lab_file() {
	local v=$1 f=$LAB_TMP/nat-matrix-$1.lab edit
	if [ "$v" = dual-stack ]; then
		# without the lab's 1280-byte link to a_arc (tests/lab/dual_stack.sh's path-MTU
		# check) unless HARD_DS_MTU=1: the inner connection's packets do not fit a
		# 1280-byte IPv6 path (docs/direct-path.md, IPv6: what does not work)
		edit=(-e '/^link a_arc mtu 1280$/d')
		[ "${HARD_DS_MTU:-0}" = 1 ] && edit=()
		sed -e "s/^lab dual_stack$/lab nat_matrix_ds/" "${edit[@]}" "$SC_ROOT/scenarios/lab/dual-stack.lab" >"$f"
		echo "$f"
		return
	fi
	case "$v" in
	sequential) edit=(-e '/type symmetric/s/$/ ports sequential/') ;;
	probing) edit=(-e '/type symmetric/s/$/ ports random/') ;;
	portmap) edit=(-e '/^nat /s/$/ portmap all/' -e 's/203\.0\.113\./100.21.0./g') ;;
	esac
	sed "${edit[@]}" -e "s/^lab nat_matrix\$/lab nat_matrix_$v/" \
		"$SC_ROOT/scenarios/lab/nat-matrix.lab" >"$f"
	echo "$f"
}

# The theory of variant V, for the output.
hard_theory_text() {
	case "$1" in
	sequential)
		sc_say "theory: the symmetric NATs allocate ports in sequence and the nodes behind them"
		sc_say "find out themselves after their login (--nat-ports auto, the default: one Binding"
		sc_say "request to the Intermediate's STUN port; checked per run: nat=sequential behind a"
		sc_say "symmetric NAT, eim behind the others); the sequential side predicts its next"
		sc_say "ports and signals 8 predicted candidates, both sides check them in a fixed order"
		sc_say "(docs/hard-nat.md). ztna-sim --theory on the lab file: an endpoint-independent or"
		sc_say "predictable side meets a predictable one: every cell direct, SYM x SYM included." ;;
	probing)
		sc_say "theory: the symmetric NATs allocate at random; the nodes detect it themselves"
		sc_say "(--spray-auto on; checked per run: nat=random behind a symmetric NAT, which then"
		sc_say "opens the spray sockets, eim behind the others: the probing side). RFC 4787's"
		sc_say "cells are unchanged;"
		sc_say "an endpoint-independent side against a symmetric one goes"
		sc_say "direct by birthday probing (256 sprayed sockets, 1024 probes at 200/s) with"
		sc_say "p = 1 - (1 - 256/64512)^1024 = 98.3 % a run within 10 s: such a cell (marked +)"
		sc_say "runs $HARD_PROBE_RUNS times and agrees with at least $(hard_kmin "$HARD_PROBE_RUNS") direct (the 0.1 % quantile"
		sc_say "of Binomial($HARD_PROBE_RUNS, 0.983)). Symmetric x symmetric stays on the relay: neither side has"
		sc_say "a fixed port to aim at (each datagram to a new port leaves from a new random"
		sc_say "mapping, and the other NAT admits only ports it sent to), a hit is ~ n m / P^2 = 6e-5." ;;
	portmap)
		sc_say "theory: every NAT runs miniupnpd (portmap all: UPnP IGD, NAT-PMP, PCP) and every"
		sc_say "node asks it (--portmap auto): each side has a public port forwarded to its socket"
		sc_say "with no filter, a full-cone mapping towards the peer, and full-cone meets every"
		sc_say "type (RFC 4787): every cell direct. Public segment 100.21.0.0/24 (miniupnpd"
		sc_say "refuses reserved ranges such as 203.0.113.0/24 as its external address)." ;;
	dual-stack)
		sc_say "theory: every NAT keeps its IPv4 type and routes an IPv6 /64 to its lan, no NAT66,"
		sc_say "behind a stateful firewall (scenarios/lab/dual-stack.lab: address-and-port-dependent"
		sc_say "filtering, endpoint-independent at fc_a, open at fc_b). Each host's global IPv6"
		sc_say "address is its own, the same towards every peer: an endpoint-independent mapping,"
		sc_say "filtered at worst like a port-restricted cone, and two such sides meet (RFC 4787)."
		sc_say "The nodes' IPv6 host candidates pair first (RFC 8421): every cell direct over"
		sc_say "IPv6, to the connector's own lan6 address (checked per run: the agent's last"
		sc_say "path_switch to=direct names it), whatever the IPv4 NATs are." ;;
	esac
}

# What variant V expects of A B (the RFC 4787 theory of ztna-sim on the variant's lab
# file, which knows prediction, plus the variant's rule): prints WANT TYPE_A TYPE_B
# BIRTHDAY (1: a birthday-probing cell).
hard_want() {
	local v=$1 w ta tb bday=0
	read -r w ta tb < <(sc_sim_theory "$2" "$3")
	[ "$w" = none ] && w=relay
	case "$v" in
	probing)
		if [ "$w" = relay ] && { { [ "$ta" = symmetric ] && [ "$tb" != symmetric ]; } ||
			{ [ "$tb" = symmetric ] && [ "$ta" != symmetric ]; }; }; then
			w=direct
			bday=1
		fi ;;
	portmap | dual-stack) w=direct ;;
	esac
	echo "$w $ta $tb $bday"
}

# The cells --cells changed runs: those the techniques change, and one control.
hard_selected() {
	[ "$HARD_CELLS" = all ] && return 0
	case "$1,$2" in 2,3 | 3,2 | 3,3 | 2,2) return 0 ;; esac
	return 1
}

# Classifies the eight hosts and sets what the variant's nodes are told. Returns the
# number of hosts classified wrongly.
hard_classify() {
	local v=$1 n0=$SC_FAILS h out mapping ports want
	local hosts=(a_fc a_arc a_prc a_sym b_fc b_arc b_prc b_sym)
	sc_classify_all "${hosts[@]}"
	declare -gA SC_HOST_ARGS=()
	SC_SYS_ARGS=""
	SC_SYS_PORTMAP_WAIT=0
	SC_SYS_WAIT=8
	for h in "${hosts[@]}"; do
		out=$(cat "$LAB_TMP/disc-$h.json")
		mapping=$(json_get "$out" mapping) ports=$(json_get "$out" ports)
		case "$v" in
		sequential)
			# the lab's NAT as configured; the programs are told nothing: they
			# detect it after their login (--nat-ports auto, hard_detected)
			[[ $h == *sym ]] || continue
			SC_ROW_FORCE=1 sc_row "ztna discover ports on $h" sequential "$ports" ;;
		probing)
			# likewise: the programs detect random ports (and open their spray
			# sockets) or an endpoint-independent mapping themselves
			[[ $h == *sym ]] || continue
			SC_ROW_FORCE=1 sc_row "ztna discover ports on $h" random "$ports" "mapping $mapping" ;;
		esac
	done
	case "$v" in
	# NAT detection opens the spray sockets only when asked to (--spray-auto on)
	probing) SC_SYS_WAIT=10 SC_SYS_ARGS="--spray-auto on" ;;
	# --probe off: birthday probing (on by default) would open PRC x SYM by itself
	portmap) SC_SYS_ARGS="--portmap auto --probe off" SC_SYS_PORTMAP_WAIT=1 ;;
	esac
	return $((SC_FAILS - n0))
}

# The nat_detected lines of the last RUNS runs of cell A B (the connector on A, the
# agent on B; their logs in LAB_TMP/sys-RUN-{conn,agent}.log) must say SYM (sequential
# or random) behind a symmetric NAT, eim behind the others. A row per program and run;
# returns 1 when one is wrong.
hard_detected() {
	local a=$1 b=$2 runs=$3 sym=$4 r h log want got bad=0
	for ((r = SC_SYS_RUN - runs + 1; r <= SC_SYS_RUN; r++)); do
		for h in "$a" "$b"; do
			log=$LAB_TMP/sys-$r-agent.log
			[ "$h" = "$a" ] && log=$LAB_TMP/sys-$r-conn.log
			want=eim
			[[ $h == *sym ]] && want=$sym
			got=$(grep -m 1 'event=nat_detected' "$log" 2>/dev/null | grep -o ' nat=[a-z]*' | cut -d= -f2)
			sc_row "nat detected by the program on $h, run $r" "$want" "${got:-none}" || bad=1
		done
	done
	return $bad
}

# The direct path of the last RUNS runs of cell A B (connector on A) must go to A's own
# IPv6 address (ZTLAB_IP6_A): the remote of the agent's last path_switch to=direct;
# and it must still carry the two pings sent after the 4 KB echo (a path that only
# small packets cross falls back to the relay under data). Two rows per run; returns
# 1 when one disagrees.
hard_over_v6() {
	local a=$1 runs=$2 r own got pings bad=0
	own=$(eval echo "\${ZTLAB_IP6_$a:-}")
	for ((r = SC_SYS_RUN - runs + 1; r <= SC_SYS_RUN; r++)); do
		got=$(grep 'event=path_switch.*to=direct' "$LAB_TMP/sys-$r-agent.log" 2>/dev/null | tail -n 1 |
			sed -n 's/.* remote=\([^ ]*\).*/\1/p')
		[[ -n $own && $got == "[$own]:"* ]] && got="[$own]:PORT"
		sc_row "direct path of run $r to $a's own IPv6 address" "[$own]:PORT" "${got:-none}" || bad=1
		pings=$(grep -c 'via direct' "$LAB_TMP/sys-$r-ping" 2>/dev/null)
		sc_row "pings of run $r after the echo via direct" 2 "${pings:-0}" || bad=1
	done
	return $bad
}

# One variant: its lab, the classification, the cells, its table. Adds to HARD_CELL_FAILS,
# HARD_CLASS_FAILS, HARD_RUN (cells run), HARD_SUMMARY.
hard_variant() {
	local v=$1 i j a b want ta tb bday runs kmin med mark cls fails=0 ran=0 t0 bd_direct=0 bd_runs=0 det
	local meds=() line
	declare -A CELL
	t0=$(date +%s)
	sc_say "== NAT matrix, hard NATs: $v (connector on a_X, agent on b_Y, $SC_RUNS run(s) per cell) =="
	hard_theory_text "$v"
	sc_say ""
	if ! sc_lab "$(hard_lab_file "$v")" || ! sc_stun; then
		sc_say "verdict of $v: setup failed"
		HARD_CELL_FAILS=$((HARD_CELL_FAILS + 1))
		HARD_SUMMARY+=("$v: setup failed")
		return
	fi
	sc_say "classification (ztna discover against ztna stun-server; must equal the configured type):"
	hard_classify "$v"
	cls=$?
	HARD_CLASS_FAILS=$((HARD_CLASS_FAILS + cls))
	sc_say ""
	sc_say "pairs (a line per cell run; -v shows every run):"
	for i in 0 1 2 3; do
		for j in 0 1 2 3; do
			CELL[$i,$j]="-"
			hard_selected $i $j || continue
			a=a_${HARD_SHORT[$i]} b=b_${HARD_SHORT[$j]}
			read -r want ta tb bday < <(hard_want "$v" "$a" "$b")
			runs=$SC_RUNS
			[ "$bday" = 1 ] && runs=$HARD_PROBE_RUNS
			SC_RUNS_SAVED=$SC_RUNS
			SC_RUNS=$runs
			sc_pair_expect "$a" "$b" "$want" "$(short_type "$ta")" "$(short_type "$tb")"
			SC_RUNS=$SC_RUNS_SAVED
			ran=$((ran + 1))
			det=""
			if [ "$v" = sequential ] && ! hard_detected "$a" "$b" "$runs" sequential; then
				det=", detection wrong"
				PAIR_AGREE=-1
			elif [ "$v" = probing ] && ! hard_detected "$a" "$b" "$runs" random; then
				det=", detection wrong"
				PAIR_AGREE=-1
			elif [ "$v" = dual-stack ] && ! hard_over_v6 "$a" "$runs"; then
				det=", not over IPv6"
				PAIR_AGREE=-1
			fi
			med=$(sc_median "${PAIR_MS_ALL[@]}")
			mark=""
			if [ "$bday" = 1 ]; then
				kmin=$(hard_kmin "$runs")
				within=0
				for ms in "${PAIR_MS_ALL[@]}"; do [ "$ms" -le 10000 ] && within=$((within + 1)); done
				bd_direct=$((bd_direct + within)) bd_runs=$((bd_runs + runs))
				[ "$within" -ge "$kmin" ] && [ -z "$det" ] || { mark=" !!"; fails=$((fails + 1)); }
				CELL[$i,$j]="$within/$runs direct ${med} ms+$det$mark"
			elif [ "$want" = relay ]; then
				[ "$PAIR_AGREE" = "$runs" ] || { mark=" !!"; fails=$((fails + 1)); }
				CELL[$i,$j]="$((runs - PAIR_DIRECT))/$runs relay*$det$mark"
			else
				[ "$PAIR_AGREE" = "$runs" ] || { mark=" !!"; fails=$((fails + 1)); }
				CELL[$i,$j]="$PAIR_DIRECT/$runs direct ${med} ms$det$mark"
			fi
			[ "$med" != - ] && meds+=("${HARD_SHORT[$i]}x${HARD_SHORT[$j]}=$med")
			printf '  %-26s %-8s %s\n' "$a <-> $b" "$want" "${CELL[$i,$j]}  (last run: $PAIR_NOTE)"
		done
	done
	sc_say ""
	sc_say "NAT matrix, hard NATs: $v - runs on the expected path and the median time to direct"
	sc_say "(rows: NAT of the connector, columns: NAT of the agent)"
	sc_say ""
	printf '  %-20s%-22s%-22s%-22s%s\n' "" "${HARD_TYPES[@]}"
	for i in 0 1 2 3; do
		printf '  %-20s%-22s%-22s%-22s%s\n' "${HARD_TYPES[$i]}" "${CELL[$i,0]}" "${CELL[$i,1]}" \
			"${CELL[$i,2]}" "${CELL[$i,3]}"
	done
	sc_say ""
	sc_say "  legend: N/M direct X ms = direct in N of M runs, median X ms from the first ICE"
	sc_say "  start; N/M relay* = stayed on the relay (theory: no direct path) and carried the"
	sc_say "  traffic; '-' = not run (--cells changed); '!!' marks a cell that disagrees."
	if [ "$v" = probing ]; then
		sc_say "  + = birthday cell: N/M runs direct within 10 s, agrees at >= $(hard_kmin "$HARD_PROBE_RUNS") of $HARD_PROBE_RUNS."
		if [ "$bd_runs" -gt 0 ]; then
			line="birthday cells: $bd_direct/$bd_runs runs direct within 10 s = $((bd_direct * 100 / bd_runs)) %"
			if [ $((bd_direct * 10)) -ge $((bd_runs * 9)) ]; then
				line="$line (the issue's goal, >= 90 %: met)"
			else
				line="$line (the issue's goal, >= 90 %: NOT met)"
			fi
			sc_say "$line"
			HARD_SUMMARY+=("$line")
		fi
	fi
	sc_say "median time to direct (ms): ${meds[*]:--}"
	sc_say "verdict of $v: $((ran - fails))/$ran cells agree with the theory, $((8 - cls))/8 hosts classified, $(($(date +%s) - t0)) s"
	sc_say ""
	HARD_CELL_FAILS=$((HARD_CELL_FAILS + fails))
	HARD_RUN=$((HARD_RUN + ran))
	HARD_SUMMARY+=("$v: $((ran - fails))/$ran cells agree")
	lab_down
}

hard_main() {
	local v t0
	if [ "$SC_MODE" != system ]; then
		echo "$0: --hard needs the full system (--mode system)" >&2
		return 2
	fi
	SC_NAME="NAT matrix, hard NATs"
	HARD_CELL_FAILS=0 HARD_CLASS_FAILS=0 HARD_RUN=0 HARD_SUMMARY=()
	t0=$(date +%s)
	for v in $HARD; do
		hard_variant "$v"
	done
	if [ "$HARD_CELL_FAILS" -gt 0 ] || [ "$HARD_CLASS_FAILS" -gt 0 ]; then
		sc_say "disagreements (per run; a birthday cell may lose a few runs and still agree):"
		for r in "${SC_ROWS[@]}"; do
			IFS='|' read -r what want got verdict note <<<"$r"
			[ "$verdict" = FAIL ] && printf '  %s: expected %s, saw %s (%s)\n' "$what" "$want" "$got" "$note"
		done
		sc_say "verdict: FAIL - $HARD_CELL_FAILS of $HARD_RUN cells disagree with theory, $HARD_CLASS_FAILS host(s) misclassified ($(hard_join "${HARD_SUMMARY[@]}"); $(($(date +%s) - t0)) s)"
		return 1
	fi
	sc_say "verdict: PASS - $HARD_RUN/$HARD_RUN cells (variants: $HARD) agree with their theory, every host classified as configured ($(hard_join "${HARD_SUMMARY[@]}"); $(($(date +%s) - t0)) s)"
	return 0
}

# The arguments joined by "; ".
hard_join() {
	local out=$1
	shift
	for s in "$@"; do out="$out; $s"; done
	echo "$out"
}
