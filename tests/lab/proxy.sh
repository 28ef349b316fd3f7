#!/bin/bash
# A proxy-only network (scenarios/lab/proxy-only.lab): the office lets alice out only
# as TCP to the HTTP proxy on webproxy; bob's home NAT is ordinary (the control);
# carol's network may only use 'strict', a proxy that refuses every CONNECT.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun      203.0.113.10   TCP echo :443 (socat), udp-echo :3478
#     +-- server webproxy  203.0.113.20   tinyproxy :3128, CONNECT to any port
#     +-- server strict    203.0.113.21   tinyproxy :8080, every CONNECT refused (403)
#     +-- nat office  (egress proxy webproxy)  --  host alice
#     +-- nat home    (ordinary)               --  host bob
#     +-- nat locked  (egress proxy strict)    --  host carol
#
# Also: the proxies are the lab's own processes (recorded pid, the server's namespace,
# not root), gone after `down`, also after the supervisor was killed; a machine without
# tinyproxy gets a clear error and nothing left behind.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

N=17
lab_require $N
tap_plan $N

SCN=scenarios/lab/proxy-only.lab
S1=203.0.113.10
for tool in socat ss ping tinyproxy; do
	if ! command -v $tool >/dev/null; then
		skip_all "$tool is not installed (sudo tools/deps.sh lab)" $N
	fi
done

# pid_start_of RUNID: "PID START" pairs of its recorded processes, one line.
pid_start_of() { lab_procs "$1" | awk '{ printf "%s %s ", $1, $2 }'; }

# no_namespace_of PREFIX: no namespace named PREFIX... is left.
no_namespace_of() { [ "$(ip netns list | grep -c "^$1")" = 0 ]; }

# The status line a proxy answers a CONNECT to $S1:443 with, from node $1 to $2:$3.
connect_status() {
	printf 'CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n' $S1 $S1 |
		lab_x "$1" socat -T 3 - "TCP4:$2:$3,connect-timeout=2" 2>/dev/null | head -n 1 | tr -d '\r'
}

# A line sent from node $1 over socat address $2; prints what came back.
round_trip() {
	printf '%s\n' "$3" | lab_x "$1" socat -t 3 -T 3 - "$2,connect-timeout=2,shut-none" 2>"$LAB_TMP/rt.err"
}

if ! lab_up $SCN; then
	for ((i = 0; i < N; i++)); do tap_fail "lab up"; done
	exit 0
fi
PX=$ZTLAB_IP_webproxy PXPORT=$ZTLAB_PROXY_PORT_webproxy
STRICT=$ZTLAB_IP_strict STRICTPORT=$ZTLAB_PROXY_PORT_strict

# 1
ok_if "env: office goes out via webproxy ($ZTLAB_EGRESS_office $ZTLAB_EGRESS_PROXY_office), home to all ($ZTLAB_EGRESS_home), webproxy allow :$PXPORT, strict deny :$STRICTPORT" \
	test "$ZTLAB_EGRESS_office/$ZTLAB_EGRESS_PROXY_office/$ZTLAB_EGRESS_home/$ZTLAB_PROXY_webproxy/$PXPORT/$ZTLAB_PROXY_strict/$STRICTPORT" = \
	"proxy/webproxy/all/allow/3128/deny/8080"

# 2: the recorded tinyproxy of webproxy, in webproxy's namespace, as nobody, on one address
read -r ppid pstart pnode pprog < <(lab_procs "$LAB" | awk '$3 == "webproxy"')
ns_want=$(stat -L -c %i "/run/netns/$ZTLAB_NS_webproxy")
ns_got=$(stat -L -c %i "/proc/$ppid/ns/net" 2>/dev/null)
user=$(stat -c %U "/proc/$ppid" 2>/dev/null)
listen=$(lab_x webproxy ss -Hltn | awk '{ print $4 }' | tr '\n' ' ')
proc_running "$ppid" "$pstart" && [ "$pnode/$pprog" = webproxy/tinyproxy ] && [ "$ns_got" = "$ns_want" ] &&
	[ "$user" = nobody ] && [ "$listen" = "$PX:$PXPORT " ]
ok_rc $? "webproxy's $pprog (pid $ppid) runs in its namespace as $user, listening on '$listen'"

# 3: no system-wide tinyproxy (Debian's service listens on 8888 in the machine's namespace)
host_listen=$(ss -Hltnp 2>/dev/null | grep -c tinyproxy)
ok_if "no tinyproxy listens in the machine's own namespace ($host_listen)" test "$host_listen" = 0

# shellcheck disable=SC2016 # $l is the echo shell's
lab_bg stun "$LAB_TMP/echo.out" socat TCP4-LISTEN:443,bind=$S1,reuseaddr,fork SYSTEM:'read l; echo "echo $l"'
lab_bg stun "$LAB_TMP/udp.out" "$ZTLAB" udp-echo --bind $S1:3478
lab_wait_for "$LAB_TMP/udp.out" listening
for ((i = 0; i < 100; i++)); do
	lab_x stun ss -Hltn "sport = :443" | grep -q . && break
	sleep 0.05
done

# 4-5: the control: bob's ordinary NAT lets TCP and UDP out
got=$(round_trip bob "TCP4:$S1:443" "bob-$$")
ok_if "bob reaches stun's TCP echo directly (got '$got')" test "$got" = "echo bob-$$"
r=$(probe bob --to $S1:3478 --count 3 --interval 50 -w 300)
ok_if "bob's UDP probe to stun is answered (received $(kv "$r" received))" test "$(kv "$r" received)" -ge 1

# 6: alice's direct TCP is dropped at the office firewall (its counter rule counts it)
count() { lab_x office nft list chain ip ztlab forward | sed -n 's/.*counter packets \([0-9]*\) .*drop/\1/p'; }
before=$(count)
got=$(round_trip alice "TCP4:$S1:443" "alice-$$")
after=$(count)
[ -z "$got" ] && [ "${after:-0}" -gt "${before:-0}" ]
ok_rc $? "alice's direct TCP to stun:443 gets nowhere (got '$got': $(head -c 120 "$LAB_TMP/rt.err")); office dropped $before -> $after"

# 7: other TCP: alice to webproxy's own address on another port (a listener is there)
# shellcheck disable=SC2016 # $l is the echo shell's
lab_bg webproxy "$LAB_TMP/other.out" socat "TCP4-LISTEN:8443,bind=$PX,reuseaddr,fork" SYSTEM:'read l; echo "other $l"'
for ((i = 0; i < 100; i++)); do
	lab_x webproxy ss -Hltn "sport = :8443" | grep -q . && break
	sleep 0.05
done
got=$(round_trip alice "TCP4:$PX:8443" x)
ctl=$(round_trip bob "TCP4:$PX:8443" x)
[ -z "$got" ] && [ "$ctl" = "other x" ]
ok_rc $? "alice's TCP to the proxy's address on another port (8443) gets nowhere (got '$got'; bob got '$ctl')"

# 8: UDP
r=$(probe alice --local 5000 --to $S1:3478 --count 3 --interval 50 -w 300)
ok_if "alice's UDP probe to stun gets no answer (received $(kv "$r" received))" test "$(kv "$r" received)" = 0

# 9-10: ICMP echo
lab_x bob ping -c 1 -W 2 -q $S1 >/dev/null
ok_rc $? "bob's ping to stun is answered"
if lab_x alice ping -c 2 -i 0.2 -W 1 -q $S1 >/dev/null 2>&1; then
	tap_fail "alice's ping to stun gets no answer" "a reply came"
else
	tap_ok "alice's ping to stun gets no answer"
fi

# 11-13: through the proxy
st=$(connect_status alice "$PX" "$PXPORT")
[[ "$st" =~ ^HTTP/1\.[01]\ 2[0-9][0-9] ]]
ok_rc $? "webproxy answers alice's CONNECT $S1:443 with 2xx ('$st')"
got=$(round_trip alice "PROXY:$PX:$S1:443,proxyport=$PXPORT" "via-proxy-$$")
ok_if "a line makes the round trip alice -> webproxy -> stun:443 -> back (got '$got')" \
	test "$got" = "echo via-proxy-$$"
ok_if "webproxy's log shows the CONNECT from office's public address $ZTLAB_WAN_office" \
	grep -q "Connect (file descriptor [0-9]*): $ZTLAB_WAN_office\$" "$ZTLAB_RUNDIR/proxy-webproxy.log"

# 14: the refusing proxy
st=$(connect_status carol "$STRICT" "$STRICTPORT")
got=$(round_trip carol "PROXY:$STRICT:$S1:443,proxyport=$STRICTPORT" "strict-$$")
[[ "$st" =~ ^HTTP/1\.[01]\ [1345][0-9][0-9] ]] && [ -z "$got" ]
ok_rc $? "strict answers carol's CONNECT with a non-2xx status ('$st') and relays nothing (got '$got')"

# 15: down stops the proxies by pid and removes everything
recorded=$(pid_start_of "$LAB")
rundir=$ZTLAB_RUNDIR
lab_down
# shellcheck disable=SC2086 # pid start pairs
[ -n "$recorded" ] && procs_gone_within 2 $recorded && no_namespace_of "$ZTLAB_PREFIX" && [ ! -e "$rundir" ]
ok_rc $? "after down: no recorded tinyproxy runs ($recorded), no namespace, no run directory"

# 16: the supervisor killed (SIGKILL): down stops the proxies it left, by their recorded pids
if lab_up $SCN; then
	read -r sup supstart <"$ZTLAB_RUNDIR/pid"
	recorded=$(pid_start_of "$LAB")
	kill -9 "$sup"
	for ((i = 0; i < 100; i++)); do
		proc_running "$sup" "$supstart" || break
		sleep 0.02
	done
	# shellcheck disable=SC2086 # pid start pairs
	survived=$(set -- $recorded; proc_running "$1" "$2" && echo yes || echo no)
	"$ZTLAB" down "$LAB" >"$LAB_TMP/down.out" 2>&1
	# shellcheck disable=SC2086 # pid start pairs
	[ -n "$recorded" ] && procs_gone_within 2 $recorded && no_namespace_of "$ZTLAB_PREFIX"
	ok_rc $? "after the supervisor's SIGKILL (proxy survived it: $survived) down stops the proxies ($recorded) and removes the namespaces"
else
	tap_fail "the supervisor killed: lab up"
fi

# 17: without tinyproxy (not on PATH) up fails saying so, and leaves nothing
lab_newid
if PATH=/nonexistent "$ZTLAB" up "$SCN" --id "$NEWID" --quiet >"$LAB_TMP/nopx.out" 2>&1; then
	tap_fail "up without tinyproxy fails" "it succeeded: $(cat "$LAB_TMP/nopx.out")"
else
	msg=$(tr '\n' ' ' <"$LAB_TMP/nopx.out")
	[[ "$msg" == *"could not run tinyproxy for webproxy (cannot run tinyproxy: No such file"* ]] &&
		no_namespace_of "ztlab-$NEWID-" && [ ! -e "/run/ztna-lab/$NEWID" ]
	ok_rc $? "up without tinyproxy fails naming it ('$msg') and leaves no namespace or run directory"
fi
