# shellcheck shell=bash
# The three programs for the benchmarks, in a lab made from bench/lab/bench*.lab:
#
#   relay  ztna-intermediate :4433 (+ udpfwd :9001 -> nc:7001, the relay baseline)
#   agent+conn udpfwd 127.0.0.1:6301 -> nc:7301 -> udpfwd -> 127.0.0.1:7002: two plain
#          userspace forwarders on the tunnel's two hosts and path (the floor of any
#          design that forwards in a process at each end)
#   agent  ztna-agent "alice"   forwards udp 127.0.0.1:6001=uecho, tcp :6002=bulk,
#                               tcp :6003=src, tcp :6004=echo
#   agentr ztna-agent "bob"     the same; its NAT drops everything to and from the
#                               connector's NAT, so its session stays on the relay;
#                               and a second "bob" (process agentt) on the same host
#                               with --transport tcp: the relay over TLS/TCP, its
#                               forwards on 6101..6104
#   conn   ztna-connector "c1"  uecho=udp:127.0.0.1:7002, bulk=tcp:127.0.0.1:5202,
#                               src=tcp:127.0.0.1:7100, echo=tcp:127.0.0.1:7003;
#                               udpping echo on its LAN address :7001 (raw baseline);
#                               and connector "ct" (process connt) with --transport tcp,
#                               serving the same as tuecho, tbulk, techo
#   agent  (process agentd) a second "alice" with --transport tcp, forwards 6201=tuecho,
#                               6202=tbulk, 6204=techo: both ends on TLS/TCP, their
#                               session on the TCP direct path (simultaneous open);
#                               ct and agentd only with TUNNEL_TCP_PAIR=1 (RTT, goodput)
#
# The connector's NAT forwards udp 7001 (udpping echo), udp 7301 (the pair's udpfwd),
# tcp+udp 5201 (iperf3) and udp 4443 (ngtcp2's example server) to conn: the baselines'
# way in (sec_tun.sh adds udp 51820 for wireguard-go).
#
#   tunnel_up PREFIX CPU      start them all (process names PREFIX-imd, ...), each
#                             pinned to CPU; wait until both agents are connected.
#                             TUNNEL_IMD_ARGS, TUNNEL_CONN_ARGS and TUNNEL_AGENT_ARGS
#                             (alice only): more options for the programs
#   tunnel_pin PREFIX CPU_AGENT_SIDE CPU_SERVER_SIDE   re-pin the running processes
#   tunnel_path PREFIX NAME [SERVICE]  direct, relay or unknown: the path of agent
#                             NAME's session (its first, or the one of SERVICE), from
#                             `ztna status` when the programs have it
#   tunnel_remote PREFIX NAME [SERVICE]  where that session's packets go (remote=)

TOK_A=tok-alice-$RANDOM$RANDOM
TOK_B=tok-bob-$RANDOM$RANDOM
TOK_C=tok-c1-$RANDOM$RANDOM
TOK_L=tok-load-$RANDOM$RANDOM
TOK_LC=tok-loadc-$RANDOM$RANDOM
TOK_CT=tok-ct-$RANDOM$RANDOM

# pki_init DIR INTERMEDIATE_IP: a development PKI for every bench identity (a bundle each:
# the programs get --pki DIR/KIND-NAME, zt-load the whole DIR).
pki_init() {
	[ -f "$1/ca/ca.pem" ] && return 0
	"$ZTNA" pki init "$1" --intermediate-ip "$2" --agent alice --agent bob --agent load \
		--connector c1=uecho,bulk,src,echo,tun --connector loadc=bulk \
		--connector ct=tuecho,tbulk,techo \
		>"$TMP/pki.log" 2>&1 || { cat "$TMP/pki.log" >&2; return 1; }
}

IMD_POLICY=()
imd_policy() {
	IMD_POLICY=(--client "agent:alice:$TOK_A" --client "agent:bob:$TOK_B" --client "connector:c1:$TOK_C"
		--client "agent:load:$TOK_L" --client "connector:loadc:$TOK_LC"
		--client "connector:ct:$TOK_CT" --serve ct=tuecho,tbulk,techo
		--allow 'alice=*' --allow 'bob=*' --allow 'load=*'
		--serve c1=uecho,bulk,src,echo,tun --serve loadc=bulk
		--logins-per-identity 10000 # zt-load's N agents share the identity "load"
		# ... and connect from one address at once: the admission limits for a flood
		# from one source (half-open-per-source 32, Retry from the 5th) are not what
		# the memory and idle rows measure.
		--half-open-per-source 100000 --retry-half-open-per-source 100000 --half-open-max 100000)
}

# Services at the connector, forwards at the agents.
SERVICES=(--service uecho=udp:127.0.0.1:7002 --service bulk=tcp:127.0.0.1:5202
	--service src=tcp:127.0.0.1:7100 --service echo=tcp:127.0.0.1:7003)
FORWARDS=(--forward udp:127.0.0.1:6001=uecho --forward tcp:127.0.0.1:6002=bulk
	--forward tcp:127.0.0.1:6003=src --forward tcp:127.0.0.1:6004=echo)
FORWARDS_TCP=(--forward udp:127.0.0.1:6101=uecho --forward tcp:127.0.0.1:6102=bulk
	--forward tcp:127.0.0.1:6103=src --forward tcp:127.0.0.1:6104=echo)
# both ends on TLS/TCP: connector ct and alice's second agent (the TCP direct path)
SERVICES_CT=(--service tuecho=udp:127.0.0.1:7002 --service tbulk=tcp:127.0.0.1:5202
	--service techo=tcp:127.0.0.1:7003)
FORWARDS_CT=(--forward udp:127.0.0.1:6201=tuecho --forward tcp:127.0.0.1:6202=tbulk
	--forward tcp:127.0.0.1:6204=techo)
# "tun" is the packet tunnel's route (bench/lib/sec_tun.sh): in c1's certificates and
# serve rule always, served only when that section passes --route.
TUNNEL_IMD_ARGS=()
TUNNEL_CONN_ARGS=()
TUNNEL_AGENT_ARGS=()

tunnel_up() {
	local p=$1 cpu=$2 relay pki
	relay=$ZTLAB_IP_relay
	pki=$TMP/pki-$relay
	pki_init "$pki" "$relay" || return 1
	imd_policy
	nat_fwd nc udp 7001 "$ZTLAB_IP_conn" && nat_fwd nc tcp 5201 "$ZTLAB_IP_conn" &&
		nat_fwd nc udp 5201 "$ZTLAB_IP_conn" && nat_fwd nc udp 4443 "$ZTLAB_IP_conn" &&
		nat_fwd nc udp 7301 "$ZTLAB_IP_conn" &&
		nat_cut nb "$ZTLAB_WAN_nc" on || { echo "bench: nftables setup failed" >&2; return 1; }
	lbg "$p-imd" "$cpu" relay "$B/ztna-intermediate" --listen "$relay:4433" --pki "$pki/intermediate" "${IMD_POLICY[@]}" \
		"${TUNNEL_IMD_ARGS[@]}"
	lbg "$p-fwd" "$cpu" relay "$K/udpfwd" --listen "$relay:9001" --to "$ZTLAB_WAN_nc:7001" \
		--idle 3600 --seconds 3600
	lbg "$p-pairc" "$cpu" conn "$K/udpfwd" --listen "$ZTLAB_IP_conn:7301" --to 127.0.0.1:7002 \
		--idle 3600 --seconds 3600
	lbg "$p-paira" "$cpu" agent "$K/udpfwd" --listen 127.0.0.1:6301 --to "$ZTLAB_WAN_nc:7301" \
		--idle 3600 --seconds 3600
	lbg "$p-echo" "$cpu" conn "$K/udpping" echo --bind "$ZTLAB_IP_conn:7001" --count 100000000
	lbg "$p-uecho" "$cpu" conn "$K/udpping" echo --bind 127.0.0.1:7002 --count 100000000
	lbg "$p-tcpecho" "$cpu" conn "$K/zt-testkit" tcp-echo 127.0.0.1:7003
	lbg "$p-conn" "$cpu" conn "$B/ztna-connector" --intermediate "$relay:4433" --pki "$pki/connector-c1" \
		--name c1 --token "$TOK_C" "${SERVICES[@]}" "${TUNNEL_CONN_ARGS[@]}" --control none
	lbg "$p-agent" "$cpu" agent "$B/ztna-agent" --intermediate "$relay:4433" --pki "$pki/agent-alice" \
		--name alice --token "$TOK_A" "${FORWARDS[@]}" "${TUNNEL_AGENT_ARGS[@]}" --control "$TMP/$p-agent.sock"
	lbg "$p-agentr" "$cpu" agentr "$B/ztna-agent" --intermediate "$relay:4433" --pki "$pki/agent-bob" \
		--name bob --token "$TOK_B" "${FORWARDS[@]}" --control "$TMP/$p-agentr.sock" --transport udp
	lbg "$p-agentt" "$cpu" agentr "$B/ztna-agent" --intermediate "$relay:4433" --pki "$pki/agent-bob" \
		--name bob --token "$TOK_B" "${FORWARDS_TCP[@]}" --control "$TMP/$p-agentt.sock" \
		--transport tcp --direct off
	local more=()
	if [ "${TUNNEL_TCP_PAIR:-0}" = 1 ]; then
		lbg "$p-connt" "$cpu" conn "$B/ztna-connector" --intermediate "$relay:4433" --pki "$pki/connector-ct" \
			--name ct --token "$TOK_CT" "${SERVICES_CT[@]}" --control none --transport tcp
		lbg "$p-agentd" "$cpu" agent "$B/ztna-agent" --intermediate "$relay:4433" --pki "$pki/agent-alice" \
			--name alice --token "$TOK_A" "${FORWARDS_CT[@]}" --control "$TMP/$p-agentd.sock" \
			--transport tcp
		more=(connt agentd)
	fi
	for n in conn agent agentr agentt "${more[@]}"; do
		if ! wait_for "$TMP/$p-$n.log" 'event=connected' 10; then
			echo "bench: $p-$n did not connect: $(tail -n 3 "$TMP/$p-$n.log")" >&2
			return 1
		fi
	done
}

tunnel_pin() {
	local p=$1 a=$2 s=$3 n
	for n in agent agentr agentt agentd paira; do
		[ -n "${PIDS[$p-$n]:-}" ] && taskset -a -p -c "$a" "${PIDS[$p-$n]}" >/dev/null 2>&1
	done
	for n in imd fwd echo uecho tcpecho conn connt pairc; do
		[ -n "${PIDS[$p-$n]:-}" ] && taskset -a -p -c "$s" "${PIDS[$p-$n]}" >/dev/null 2>&1
	done
}

# Does this build have the direct path (issue 5): `ztna status`?
have_direct() {
	"$ZTNA" status --help >/dev/null 2>&1
}

# tunnel_session PREFIX NODE [SERVICE]: the first session= line of NODE's `ztna
# status --raw` (of SERVICE's sessions).
tunnel_session() {
	"$ZTNA" status --control "$TMP/$1-$2.sock" --raw 2>/dev/null | grep '^session=' |
		grep -F -- "${3:+ service=$3 }" | head -n 1
}

tunnel_path() {
	local out
	have_direct || { echo unknown; return; }
	out=$(tunnel_session "$@")
	case $out in
	*" path=direct "*) echo direct ;;
	*" path=direct-tcp "*) echo direct-tcp ;;
	*" path=relay "*) echo relay ;;
	*) echo unknown ;;
	esac
}

tunnel_remote() {
	local r
	r=$(kv "$(tunnel_session "$@")" remote)
	echo "${r:-unknown}"
}

# tunnel_wait_direct PREFIX NODE [SERVICE]: wait up to 10 s for NODE's session (of
# SERVICE) to be on the direct path (TUNNEL_WANT_PATH: direct-tcp for the TCP one); 0
# when it is.
tunnel_wait_direct() {
	local i
	have_direct || return 1
	for ((i = 0; i < 100; i++)); do
		[ "$(tunnel_path "$@")" = "${TUNNEL_WANT_PATH:-direct}" ] && return 0
		sleep 0.1
	done
	return 1
}

# Why a direct-path measurement cannot be made.
direct_missing() {
	if have_direct; then
		echo "alice's session did not go direct"
	else
		echo "no direct path in this build (ztna status missing: issue 5)"
	fi
}
