# shellcheck shell=bash
# Time to direct where plain ICE stays on the relay (docs/hard-nat.md,
# docs/portmap.md), in bench-delay.lab like sec_time_to_direct and against the same
# protocol floor (2.5 relay RTT + 1 direct RTT, raw UDP in the same lab just before):
#   PRC x SYM, sequential   the connector's NAT symmetric with sequential ports; port
#                           prediction (connector --nat-ports sequential)
#   SYM x SYM, sequential   both symmetric and sequential; prediction on both sides
#   PRC x SYM, random       the connector's NAT symmetric with random ports; birthday
#                           probing (the connector sprays from 256 sockets, the agent
#                           probes: both told their NAT with --nat-mapping/--nat-ports,
#                           as an operator who ran ztna discover would)
#   SYM x SYM, port mapping both NATs symmetric running miniupnpd (portmap pcp), both
#                           nodes --portmap pcp; the public range is 100.21.0.0/24
#                           (miniupnpd refuses 203.0.113.0/24 as its external address)
# HARD_RUNS fresh agents per cell (quick: 3). Goals: prediction and port mapping
# within 1 s of the floor (they add at most a request to the gateway and the checks
# of the predicted ports, paced by the check budget); probing within 10 s (the
# issue's bound: 1024 probes at 200/s, docs/hard-nat.md).

HARD_RUNS=${HARD_RUNS:-10}
[ -n "$QUICK_MODE" ] && HARD_RUNS=3

# hard_cell TYPE_A TYPE_C SUFFIX LABEL OVER_MS WAIT_S: one ttd_pair with the TTD_*
# settings the caller put in TTD_SED/TTD_AARGS/TTD_CARGS, then everything put back.
hard_cell() {
	TTD_SUFFIX=$3 TTD_LABEL=", $4" TTD_OVER=$5 TTD_WAIT=$6 TTD_RUNS=$HARD_RUNS
	TTD_GOAL="<= floor + $(($5 / 1000)) s"
	ttd_pair "$1" "$2" && ttd_pair_down
	TTD_SED=() TTD_AARGS=() TTD_CARGS=() TTD_SUFFIX= TTD_LABEL= TTD_RUNS= TTD_WAIT=10 TTD_OVER=100 TTD_GOAL=
}

sec_time_to_direct_hard() {
	local seq=(-e '/^nat nc /s/$/ ports sequential/') seq2=(-e '/^nat n[ac] /s/$/ ports sequential/')
	local rnd=(-e '/^nat nc /s/$/ ports random/')
	local pm=(-e 's/203\.0\.113\./100.21.0./g' -e '/^nat n[ac] /s/$/ portmap pcp/')

	note "time to direct beyond plain ICE: $HARD_RUNS fresh agents per cell"
	TTD_SED=("${seq[@]}") TTD_CARGS=(--nat-ports sequential)
	hard_cell port-restricted symmetric -seq "sequential ports, prediction" 1000 10
	TTD_SED=("${seq2[@]}") TTD_AARGS=(--nat-ports sequential) TTD_CARGS=(--nat-ports sequential)
	hard_cell symmetric symmetric -seq "sequential ports, prediction" 1000 10
	TTD_SED=("${rnd[@]}")
	TTD_AARGS=(--nat-mapping endpoint-independent --nat-ports preserve)
	TTD_CARGS=(--nat-mapping address-and-port-dependent --nat-ports random)
	hard_cell port-restricted symmetric -probe "random ports, birthday probing" 10000 15
	TTD_SED=("${pm[@]}") TTD_AARGS=(--portmap pcp) TTD_CARGS=(--portmap pcp)
	hard_cell symmetric symmetric -pcp "port mapping (PCP, miniupnpd)" 1000 10
}
