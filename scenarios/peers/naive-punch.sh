#!/bin/sh
# A naive UDP hole puncher that is not ztna: a second, independent implementation for
# `ztna-lab matrix` (docs/lab.md, "Any stack in the matrix"). Both sides send
# "hello from SELF" from local port $PORT to $PEER_PUBLIC:$PORT every 100 ms for 2 s
# (socat, one connected UDP socket) and print what arrives; success (exit 0) when the
# peer's hello arrived. It assumes the peer's NAT keeps the inside port (a cone NAT
# with the port free), so it can only work when neither side is symmetric.
#
#   sudo build/ztna-lab matrix scenarios/lab/nat-matrix.lab \
#       --a scenarios/peers/naive-punch.sh --b scenarios/peers/naive-punch.sh
got=$OUT/$SIDE.got
i=0
while [ $i -lt 20 ]; do
	echo "hello from $SELF"
	sleep 0.1
	i=$((i + 1))
done | socat -t 1 - "UDP:$PEER_PUBLIC:$PORT,sourceport=$PORT,reuseaddr" >"$got" 2>/dev/null
grep -q "^hello from $PEER\$" "$got"
