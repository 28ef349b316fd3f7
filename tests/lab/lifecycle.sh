#!/bin/bash
# Lab lifecycle: what `up` makes, that nothing touches the host, and that nothing is
# left behind: after `down`, after SIGINT in the middle of `up`, after SIGTERM to the
# supervisor, after a build that fails half way, and (through `sweep`) after SIGKILL
# to the supervisor. Also two runs side by side,
# captures, and the messages for a bad file, a busy id and a user who is not root.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun  203.0.113.10, .11
#     +-- server peer  203.0.113.20
#     +-- nat home (port-restricted) wan 203.0.113.1
#         +-- host alice 192.168.1.2
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

lab_require 29
tap_plan 29

FILE=scenarios/lab/port-restricted.lab
S1=203.0.113.10

# running PID: the process exists and is not a zombie
running() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}
netns_of() { ls /run/netns 2>/dev/null | grep -c "^ztlab-$1-"; }
gone() { # gone ID PID: no namespace, no run directory, no supervisor
	[ "$(netns_of "$1")" = 0 ] && [ ! -e "/run/ztna-lab/$1" ] && ! running "$2"
}
supervisor() { cut -d' ' -f1 "/run/ztna-lab/$1/pid"; }

host_links() { ip -o link show | awk -F': ' '{ print $2 }' | sort | tr '\n' ' '; }
before=$(host_links)

lab_up $FILE || { for ((i = 0; i < 29; i++)); do tap_fail "lab up"; done; exit 0; }
id1=$LAB pid1=$(supervisor "$LAB")
n=0 nns=1
for node in public $ZTLAB_NODES; do [ -e "/run/netns/ztlab-$LAB-$node" ] && n=$((n + 1)); done
for node in $ZTLAB_NODES; do nns=$((nns + 1)); done
ok_if "up made one namespace per node plus the public segment ($n)" test $n = $nns
ok_if "a person can use them: ip netns exec $ZTLAB_NS_alice" ip netns exec "$ZTLAB_NS_alice" true
ok_if "the host's own interfaces are unchanged ($before)" test "$(host_links)" = "$before"
bad=""
for node in $ZTLAB_NODES; do
	r=$(ip -n "ztlab-$LAB-$node" route show default)
	gw_var=ZTLAB_GW_$node
	route=${!gw_var:+default via ${!gw_var} dev }
	case "$r" in "$route"*) ;; *) bad="$bad $node:'$r'" ;; esac
	[ -z "${!gw_var}" ] && [ -n "$r" ] && bad="$bad $node:'$r'"
done
ok_if "no route leaves the lab: default routes only toward a NAT in front ($bad)" test -z "$bad"
out=$(lab_x alice sh -c 'echo "$ZTLAB_NODE $(cat /proc/sys/net/ipv4/ip_forward)"; ip -o -4 addr show dev eth0')
sysfs=$(lab_x alice ls /sys/class/net | tr '\n' ' ')
ok_if "exec runs in the node's namespace with ZTLAB_NODE set, /sys showing its links ($sysfs)" \
	test "${out%%$'\n'*}" = "alice 0" -a -n "$(echo "$out" | grep " $ZTLAB_IP_alice/24 ")" \
	-a "$sysfs" = "eth0 lo "
listed() { "$ZTLAB" list | grep -qE "^$1 +$2 "; }
ok_if "list shows the run as running" listed "$LAB" "running +$pid1"

# a second run of the same file, side by side
lab_up $FILE || true
id2=$LAB pid2=$(supervisor "$LAB")
for id in $id1 $id2; do
	LAB=$id
	lab_bg stun "$LAB_TMP/echo-$id.out" "$ZTLAB" udp-echo --bind $S1:3478
	lab_wait_for "$LAB_TMP/echo-$id.out" listening
done
r1=$(LAB=$id1 probe alice --to $S1:3478 -w 500)
r2=$(LAB=$id2 probe alice --to $S1:3478 -w 500)
ok_if "two runs of one file coexist and both carry traffic" \
	test "$(kv "$r1" received)" = 1 -a "$(kv "$r2" received)" = 1

# a process inside the lab is ended with it
LAB=$id1
lab_bg alice "$LAB_TMP/sleep.out" sleep 300
sleeper=$LAB_BG
sleep 0.2
"$ZTLAB" down "$id1" >"$LAB_TMP/down.out" 2>&1
rc=$?
ok_if "down exits 0 ($(cat "$LAB_TMP/down.out"))" test $rc = 0
ok_if "after down: no namespace, no run directory, no supervisor" gone "$id1" "$pid1"
dead() { ! kill -0 "$1" 2>/dev/null; }
ok_if "after down: the process started inside the lab is gone" dead "$sleeper"
ok_if "after down: the host's interfaces are as before" test "$(host_links)" = "$before"
r2=$(LAB=$id2 probe alice --to $S1:3478 -w 500)
ok_if "the other run is untouched" test "$(kv "$r2" received)" = 1

# SIGTERM to the supervisor
kill -TERM "$pid2"
for ((i = 0; i < 250; i++)); do gone "$id2" "$pid2" && break; sleep 0.02; done
ok_if "SIGTERM to the supervisor removes its lab" gone "$id2" "$pid2"

# SIGINT to `up` while it builds: the supervisor is told and cleans up before up returns
lab_newid
id3=$NEWID
ZTLAB_STEP_DELAY_MS=150 "$ZTLAB" up $FILE --id "$id3" >"$LAB_TMP/up3.out" 2>&1 &
up_pid=$!
for ((i = 0; i < 250; i++)); do
	[ "$( (wc -l <"/run/ztna-lab/$id3/netns") 2>/dev/null || echo 0)" -ge 2 ] && break
	sleep 0.02
done
pid3=$(supervisor "$id3" 2>/dev/null)
made=$(netns_of "$id3")
kill -INT "$up_pid"
wait "$up_pid"
rc=$?
tap_diag "SIGINT when $made namespace(s) existed; up said: $(tr '\n' ' ' <"$LAB_TMP/up3.out")"
ok_if "SIGINT in the middle of up: up exits 130 (got $rc, $made namespaces made)" \
	test $rc = 130 -a "$made" -ge 1
ok_if "SIGINT in the middle of up: nothing left (namespaces, run dir, supervisor $pid3)" \
	gone "$id3" "${pid3:-0}"
ok_if "SIGINT in the middle of up: up says it was interrupted" grep -q interrupted "$LAB_TMP/up3.out"

# SIGKILL to the supervisor leaves the lab; sweep removes it, and what runs inside
lab_up $FILE || true
id4=$LAB pid4=$(supervisor "$LAB")
lab_bg alice "$LAB_TMP/sleep4.out" sleep 300
sleeper=$LAB_BG
lab_up $FILE || true
id5=$LAB pid5=$(supervisor "$LAB")
sleep 0.2
kill -KILL "$pid4"
for ((i = 0; i < 100; i++)); do running "$pid4" || break; sleep 0.02; done
nsn=$(netns_of "$id4")
ok_if "after SIGKILL the namespaces remain ($nsn) and list calls the run dead" \
	eval '[ "$nsn" = "$nns" ] && listed "$id4" dead'

"$ZTLAB" sweep >"$LAB_TMP/sweep.out" 2>&1
tap_diag "sweep: $(tr '\n' ' ' <"$LAB_TMP/sweep.out")"
ok_if "sweep removes the killed run's namespaces and run directory" gone "$id4" "$pid4"
ok_if "sweep ends the process that ran inside it" dead "$sleeper"
ok_if "sweep leaves the live run alone" \
	eval '[ "$(netns_of "$id5")" = "$nns" ] && running "$pid5" && grep -q "run $id5 is alive" "$LAB_TMP/sweep.out"'


# refusals
out=$("$ZTLAB" up $FILE --id "$id5" 2>&1)
rc=$?
ok_if "an id in use is refused ($out)" eval '[ $rc = 1 ] && [[ $out == *"is in use"* ]]'

"$ZTLAB" down "$id5" >/dev/null
printf 'public 10.0.0.0/24\n\nhost h behind nowhere\n' >"$LAB_TMP/bad.lab"
out=$("$ZTLAB" up "$LAB_TMP/bad.lab" 2>&1)
rc=$?
ok_if "a bad file is refused with FILE:LINE and what is wrong ($out)" \
	eval '[ $rc = 1 ] && [[ $out == *"bad.lab:3: '"'h' is behind 'nowhere', which is not defined"'"* ]]'

out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$ZTLAB" up $FILE 2>&1)
rc=$?
ok_if "without root: a clear message and exit 1 ($out)" eval '[ $rc = 1 ] && [[ $out == *"needs root"* ]]'
out=$("$ZTLAB" down nosuchrun 2>&1)
rc=$?
ok_if "down of an unknown run says so ($out)" eval '[ $rc = 1 ] && [[ $out == *"no run"* ]]'


# a build that fails half way removes what it made, and only that: a file already
# sitting where the third node's namespace should go makes the build fail there
lab_newid
id7=$NEWID
mkdir -p /run/netns
: >"/run/netns/ztlab-$id7-home"
out=$("$ZTLAB" up $FILE --id "$id7" 2>&1)
rc=$?
ok_if "a failing build says which step failed ($out)" \
	eval '[ $rc = 1 ] && [[ $out == *"creating namespace ztlab-$id7-home: File exists"* ]]'
left=$(ls /run/netns | grep "^ztlab-$id7-" | tr '\n' ' ')
ok_if "a failing build removes the namespaces it made, not the one it did not ($left)" \
	eval '[ "$left" = "ztlab-$id7-home " ] && [ ! -e /run/ztna-lab/$id7 ]'
rm -f "/run/netns/ztlab-$id7-home"

# captures: one pcap per interface; they hold the probe
cap=$LAB_TMP/cap
lab_up $FILE --capture "$cap" || true
id6=$LAB
lab_bg stun "$LAB_TMP/echo6.out" "$ZTLAB" udp-echo --bind $S1:3478
lab_wait_for "$LAB_TMP/echo6.out" listening
probe alice --to $S1:3478 --count 5 --interval 10 -w 500 >/dev/null
"$ZTLAB" down "$id6" >/dev/null
files=$(cd "$cap" 2>/dev/null && ls | tr '\n' ' ')
ok_if "capture: a pcap per interface ($files)" \
	test "$files" = "alice-eth0.pcap home-lan.pcap home-wan.pcap peer-eth0.pcap public-br0.pcap stun-eth0.pcap "
magic=$(od -An -tx4 -N4 "$cap/alice-eth0.pcap" | tr -d ' ')
size=$(stat -c %s "$cap/home-wan.pcap" 2>/dev/null || echo 0)
ok_if "capture: pcap magic $magic, the NAT's wan capture holds the 10 probe packets ($size bytes)" \
	test "$magic" = a1b2c3d4 -a "$size" -ge $((24 + 10 * (16 + 42 + 32)))
ok_if "nothing of this suite is left in /run/netns" test "$(ls /run/netns 2>/dev/null | grep -c "^ztlab-$LAB_ID_PREFIX")" = 0
