#!/bin/bash
# The lab's NATs classified by an outside implementation: coturn's turnserver (two
# addresses, RFC 5780 on) on the public segment and turnutils_natdiscovery on each
# private host must name the configured behaviour. The hosts run at the same time.
#
#   [ public 203.0.113.0/24 ]
#     +-- server stun 203.0.113.10, .11   turnserver (ports 3478 and 3479 on both)
#     +-- nat fc  (full-cone)             +-- host h1
#     +-- nat arc (address-restricted)    +-- host h2
#     +-- nat prc (port-restricted)       +-- host h3   (also: hairpin off)
#     +-- nat sym (symmetric)             +-- host h4
#     +-- nat cgn (port-restricted)       +-- nat home (full-cone) +-- host h5
#     +-- nat hp  (port-restricted, hairpin on) +-- host h6
#
# coturn 4.6.1 opens no RFC 5780 alternate-port listeners with --stun-only, so it runs
# as a full server with --no-auth here.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/lab.sh

lab_require 7
tap_plan 7
if ! command -v turnserver >/dev/null || ! command -v turnutils_natdiscovery >/dev/null; then
	for ((i = 0; i < 7; i++)); do tap_skip "coturn classification" "coturn is not installed (tools/deps.sh lab)"; done
	exit 0
fi

S1=203.0.113.10 S2=203.0.113.11
cat >"$LAB_TMP/coturn.lab" <<EOF
public 203.0.113.0/24
server stun addr $S1 addr $S2
nat fc type full-cone lan 192.168.1.0/24
host h1 behind fc
nat arc type address-restricted lan 192.168.2.0/24
host h2 behind arc
nat prc type port-restricted lan 192.168.3.0/24
host h3 behind prc
nat sym type symmetric lan 192.168.4.0/24
host h4 behind sym
nat cgn type port-restricted lan 100.64.0.0/24
nat home type full-cone behind cgn lan 192.168.5.0/24
host h5 behind home
nat hp type port-restricted lan 192.168.6.0/24 hairpin on
host h6 behind hp
EOF
if ! lab_up "$LAB_TMP/coturn.lab"; then
	for ((i = 0; i < 7; i++)); do tap_fail "lab up"; done
	exit 0
fi
lab_bg stun "$LAB_TMP/turn.out" turnserver --no-auth -L $S1 -L $S2 --no-cli --no-tls --no-dtls -n
for ((i = 0; i < 250; i++)); do
	[ "$(lab_x stun ss -Hlun | grep -c ':3479 ')" -ge 2 ] && break
	sleep 0.02
done

pids=()
for h in h1 h2 h3 h4 h5; do
	lab_x $h timeout 30 turnutils_natdiscovery -m -f $S1 >"$LAB_TMP/$h.mf" 2>&1 &
	pids+=($!)
done
for h in h3 h6; do
	lab_x $h timeout 30 turnutils_natdiscovery -H $S1 >"$LAB_TMP/$h.H" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
verdict() { grep -E "$2" "$LAB_TMP/$1" | sort -u | tr '\n' ' '; }

while IFS='|' read -r h nat mapping filtering; do
	got=$(verdict $h.mf 'NAT with|No NAT')
	want="NAT with $filtering Filtering! NAT with $mapping Mapping! "
	ok_if "$nat: coturn finds $mapping mapping, $filtering filtering ('$got')" test "$got" = "$want"
done <<'TYPES'
h1|full-cone|Endpoint Independent|Endpoint Independent
h2|address-restricted|Endpoint Independent|Address Dependent
h3|port-restricted|Endpoint Independent|Address and Port Dependent
h4|symmetric|Address and Port Dependent|Address and Port Dependent
h5|full-cone behind port-restricted|Endpoint Independent|Address and Port Dependent
TYPES
got=$(verdict h6.H 'hairpinning|receive timeout')
ok_if "hairpin on: coturn's hairpin request comes back ('$got')" \
	test "$got" = "Received a request (maybe a successful hairpinning) "
got=$(verdict h3.H 'hairpinning|receive timeout')
ok_if "hairpin off: it does not ('$got')" test "$got" = "STUN receive timeout.. "
