#!/bin/bash
# A direct path over IPv6 between hosts behind symmetric IPv4 NATs (issue 15 item 6):
# scenarios/lab/dual-stack.lab's NATs each route an IPv6 /64 to their lan (no NAT66)
# behind a stateful firewall with address-and-port-dependent filtering (RFC 6092),
# which the simultaneous checks open like a port-restricted cone NAT.
#
#   [ public 203.0.113.0/24, 2001:db8:100::/48 ]
#     +-- server stun 203.0.113.10: ztna-intermediate (IPv4, 203.0.113.10:4433)
#     +-- nat sym_a (symmetric, lan6 2001:db8:1:4::/64) +-- host a_sym: connector
#     +-- nat prc_a (port-restricted, 2001:db8:1:3::/64) +-- host a_prc: connector
#     +-- nat sym_b (symmetric, lan6 2001:db8:2:4::/64) +-- host b_sym: agent
#     +-- nat prc_b (port-restricted, 2001:db8:2:3::/64) +-- host b_prc: agent
#
# The full system (scenarios/lib.sh pair_run_system) --runs times (default 2) per
# cell: as installed (one dual-stack socket, host candidates of both families),
# a_sym <-> b_sym, a_prc <-> b_sym and a_sym <-> b_prc (no IPv4 direct path in any of
# them) go direct, over IPv6, to the connector's own lan6 address (the pair's remote
# in ztna status: no NAT66); with --bind 0.0.0.0 on both (IPv4 only) a_sym <-> b_sym
# stays on the relay (symmetric x symmetric with random ports has no IPv4 direct
# path), carrying the echo. Prints a table and a verdict; exit 0 only when every run
# agrees.
#
#   sudo ./scenarios/dual-stack.sh [--runs N] [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
SC_RUNS=2
sc_main_setup "$@"
if [ "$SC_MODE" != system ]; then
	echo "$0: needs the full system (--mode system)" >&2
	exit 2
fi

SC_NAME="IPv6 direct path behind symmetric IPv4 NATs"
sc_say "== $SC_NAME =="
t_start=$(date +%s)
sc_lab "$SC_ROOT/scenarios/lab/dual-stack.lab" || exit 2
sc_say "expected: direct over IPv6 to the connector's own address in every run as installed"
sc_say "(SYM x SYM, PRC x SYM, SYM x PRC); a_sym <-> b_sym on the relay with --bind 0.0.0.0"
sc_say "(IPv4 only). $SC_RUNS run(s) per cell."
sc_say ""

declare -A RESULT
for cell in "a_sym b_sym dual" "a_prc b_sym dual" "a_sym b_prc dual" "a_sym b_sym v4only"; do
	read -r a b variant <<<"$cell"
	own6=$(eval echo "\$ZTLAB_IP6_$a")
	SC_SYS_ARGS=""
	want=direct
	if [ $variant = v4only ]; then
		SC_SYS_ARGS="--bind 0.0.0.0"
		want=relay
	fi
	ok=0 ms_all=()
	for ((i = 1; i <= SC_RUNS; i++)); do
		pair_run_system "$a" "$b"
		remote=$(sed -n 's/^remote \([^ ,]*\).*/\1/p' <<<"$PAIR_NOTE")
		fam=-
		[[ $remote == "[$own6]:"* ]] && fam=ipv6
		[[ $remote =~ ^[0-9.]+: ]] && fam=ipv4
		got=$PAIR_PATH
		[ "$PAIR_PATH" = direct ] && got="direct-$fam"
		expect=$want
		[ $want = direct ] && expect=direct-ipv6
		ms=""
		[ "$PAIR_MS" != - ] && ms="${PAIR_MS} ms to direct; " && ms_all+=("$PAIR_MS")
		sc_row "$a <-> $b ($variant) run $i" "$expect" "$got" "$ms$PAIR_NOTE" && ok=$((ok + 1))
	done
	if [ $want = direct ]; then
		RESULT[$cell]="$ok/$SC_RUNS direct over IPv6, median $(sc_median "${ms_all[@]}") ms"
	else
		RESULT[$cell]="$ok/$SC_RUNS relay (--bind 0.0.0.0)"
	fi
	[ "$ok" -eq "$SC_RUNS" ] || RESULT[$cell]="${RESULT[$cell]} !!"
	printf '  %-24s %-8s %s  (last run: %s)\n' "$a <-> $b" "$want" "${RESULT[$cell]}" "$PAIR_NOTE"
	sc_say ""
done
t_end=$(date +%s)

if [ "$SC_FAILS" -eq 0 ]; then
	sc_say "verdict: PASS - $((4 * SC_RUNS)) runs agree (direct over IPv6 as installed, relay over IPv4 only), in $((t_end - t_start)) s"
	exit 0
fi
sc_say "disagreements:"
for r in "${SC_ROWS[@]}"; do
	IFS='|' read -r what want got verdict note <<<"$r"
	[ "$verdict" = FAIL ] && printf '  %s: expected %s, saw %s (%s)\n' "$what" "$want" "$got" "$note"
done
sc_say "verdict: FAIL - $SC_FAILS row(s) disagree ($((t_end - t_start)) s)"
exit 1
