#!/bin/bash
# A network whose only way out is an HTTP proxy: the agent reaches the Intermediate's
# TLS/TCP port through it (HTTP CONNECT; --proxy or the https_proxy environment
# variable), and a proxy that refuses CONNECT gives a clear error naming the proxy and
# its answer (docs/tcp-transport.md).
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun      203.0.113.10   ztna-intermediate (UDP 4433, TLS/TCP 443)
#     +-- server webproxy  203.0.113.20   tinyproxy :3128, CONNECT allowed
#     +-- server strict    203.0.113.21   tinyproxy :8080, every CONNECT refused (403)
#     +-- nat office (egress only via webproxy)   +-- host alice
#     +-- nat home   (port-restricted)            +-- host bob     (the connector)
#     +-- nat locked (egress only via strict)     +-- host carol
#
# Checks: alice without a proxy gets no connection (UDP and direct TCP dropped); with
# --proxy http://203.0.113.20:3128 she logs in over TCP, ztna ping goes via relay
# (tcp), 64 MiB reach bob's sink intact; the same with https_proxy in the environment
# instead; with no_proxy naming the Intermediate, https_proxy is left aside; carol
# behind 'strict' is refused, and her log names the proxy and its 403.
# Builds what it needs, brings up scenarios/lab/proxy-only.lab (whose tinyproxy
# processes the lab starts and stops), PASS/FAIL, exit status. Everything it creates
# is removed on exit and on Ctrl-C.
#
#   sudo ./scenarios/proxy-only.sh [--no-build] [-v]
. "$(dirname "$0")/lib.sh"
sc_main_setup "$@"
SC_NAME="proxy only"
sc_say "== $SC_NAME: the only way out is an HTTP proxy =="
sc_lab "$SC_ROOT/scenarios/lab/proxy-only.lab" || exit 2
IMD=$ZTLAB_IP_stun
PX="http://$ZTLAB_IP_webproxy:$ZTLAB_PROXY_PORT_webproxy"
STRICT="http://$ZTLAB_IP_strict:$ZTLAB_PROXY_PORT_strict"
sc_say "expected: alice and carol reach nothing directly; alice connects through $PX"
sc_say "(by --proxy and by https_proxy); carol's proxy refuses CONNECT, which her agent"
sc_say "reports with the proxy's address and answer."
sc_say ""

"$ZTNA" pki init "$LAB_TMP/pki" --intermediate-ip "$IMD" --agent alice --agent carol \
	--connector "bob=sink" >"$LAB_TMP/pki.out" 2>&1 || { cat "$LAB_TMP/pki.out" >&2; exit 2; }
lab_bg stun "$LAB_TMP/imd.log" "$SC_ROOT/$BUILD/ztna-intermediate" --listen "$IMD:4433" \
	--pki "$LAB_TMP/pki/intermediate" --client agent:alice:ta --client agent:carol:tc \
	--client connector:bob:tb --allow "alice=sink" --allow "carol=sink" --serve bob=sink
lab_wait_for "$LAB_TMP/imd.log" "event=start .*tcp_listen=$IMD:443" 5 >/dev/null ||
	{ echo "ztna-intermediate did not start: $(cat "$LAB_TMP/imd.log")" >&2; exit 2; }
lab_bg bob "$LAB_TMP/sink.log" "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-sink "$ZTLAB_IP_bob:7001"
lab_bg bob "$LAB_TMP/conn.log" "$SC_ROOT/$BUILD/ztna-connector" --intermediate "$IMD:4433" \
	--pki "$LAB_TMP/pki/connector-bob" --name bob --token tb \
	--service "sink=tcp:$ZTLAB_IP_bob:7001" --control "$LAB_TMP/conn.sock"
sc_wait_ready 100 "$LAB_TMP/conn.sock" || { echo "the connector did not log in" >&2; exit 2; }
head -c 64M /dev/urandom >"$LAB_TMP/data"
SUM=$(sha256sum "$LAB_TMP/data" | cut -c1-64)

# An agent on HOST named NAME (token TOK) with extra arguments; sets AG (pid) and
# AGL (log and socket prefix). ENV=... in front: environment variables for it.
agent_start() {
	local host=$1 name=$2 tok=$3 tag=$4
	shift 4
	AGL=$LAB_TMP/$tag
	lab_bg "$host" "$AGL.log" env ${AG_ENV:-} "$SC_ROOT/$BUILD/ztna-agent" --intermediate "$IMD:4433" \
		--pki "$LAB_TMP/pki/agent-$name" --name "$name" --token "$tok" \
		--forward "tcp:127.0.0.1:8001=sink" --control "$AGL.sock" "$@"
	AG=$LAB_BG
}

# 1. No proxy: nothing gets out.
agent_start alice alice ta none
sc_wait_ready 50 "$AGL.sock"
sc_row "alice without a proxy: not logged in after 5 s" no-login \
	"$([ "$(kv "$(sc_status_line "$AGL.sock" node)" state)" = ready ] && echo ready || echo no-login)"
sc_stop "$AG"

# 2. --proxy, and 3. https_proxy.
for how in option environment; do
	if [ $how = option ]; then
		agent_start alice alice ta "px-$how" --proxy "$PX"
	else
		AG_ENV="https_proxy=$PX" agent_start alice alice ta "px-$how"
	fi
	ok=no
	sc_wait_ready 100 "$AGL.sock" && ok=yes
	node=$(sc_status_line "$AGL.sock" node)
	sc_row "alice, proxy by $how: logged in over tcp" "yes tcp" "$ok $(kv "$node" transport)"
	sc_row "... the agent names its proxy (event=proxy)" yes \
		"$(grep -q "event=proxy .*address=$ZTLAB_IP_webproxy:$ZTLAB_PROXY_PORT_webproxy" "$AGL.log" && echo yes || echo no)"
	"$ZTNA" ping sink -c 3 -i 0.2 --control "$AGL.sock" >"$AGL.ping" 2>&1
	sc_row "... ztna ping via relay (tcp)" 3 "$(grep -c 'via relay (tcp) in' "$AGL.ping")" "$(head -n 1 "$AGL.ping")"
	if [ $how = option ]; then
		t0=$(date +%s%N)
		out=$(lab_x alice "$SC_ROOT/$BUILD/bench/zt-testkit" tcp-send 127.0.0.1:8001 "$LAB_TMP/data" 2>&1)
		sc_row "... 64 MiB through the proxy arrive intact" "67108864 ${SUM:0:16}" \
			"${out%% *} $(cut -c1-16 <<<"${out#* }")" "$((($(date +%s%N) - t0) / 1000000)) ms"
	fi
	sc_stop "$AG"
done

# 3b. no_proxy naming the Intermediate: https_proxy is not used for it. carol's
# identity on bob's host (an ordinary NAT), over TCP, with https_proxy pointing at
# 'strict' (which would refuse) and no_proxy=the Intermediate's address.
AG_ENV="https_proxy=$STRICT no_proxy=example.org,$IMD" agent_start bob carol tc noproxy --transport tcp
ok=no
sc_wait_ready 100 "$AGL.sock" && ok=yes
sc_row "no_proxy names the Intermediate: logged in over tcp, no proxy" "yes tcp" \
	"$ok $(kv "$(sc_status_line "$AGL.sock" node)" transport)"
sc_row "... the agent says it skipped https_proxy" yes \
	"$(grep -q 'event=proxy .*skipped=yes' "$AGL.log" && echo yes || echo no)"
sc_stop "$AG"

# 4. A proxy that refuses CONNECT.
agent_start carol carol tc strict --proxy "$STRICT"
for ((i = 0; i < 50; i++)); do
	grep -q 'refused CONNECT' "$AGL.log" && break
	sleep 0.1
done
line=$(grep -m 1 'refused CONNECT' "$AGL.log")
sc_row "carol: the refusal names the proxy and its 403" yes \
	"$(grep -q "the proxy $ZTLAB_IP_strict:$ZTLAB_PROXY_PORT_strict refused CONNECT to $IMD:443: HTTP 403" <<<"$line" && echo yes || echo no)" \
	"$(sed -n 's/.*\(reason="[^"]*"\).*/\1/p' <<<"$line")"
"$ZTNA" status --control "$AGL.sock" >"$AGL.status" 2>&1
sc_row "carol: ztna status says why" yes \
	"$(grep -q "not connected: tcp: the proxy $ZTLAB_IP_strict:$ZTLAB_PROXY_PORT_strict refused CONNECT" "$AGL.status" && echo yes || echo no)" \
	"$(grep -m 1 'not connected' "$AGL.status")"
sc_row "carol: not logged in" no-login \
	"$([ "$(kv "$(sc_status_line "$AGL.sock" node)" state)" = ready ] && echo ready || echo no-login)"
sc_stop "$AG"
sc_report
