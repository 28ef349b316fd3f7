#!/bin/bash
# Finding (issue 11, "service hijack", the PKI part): `ztna pki init DIR` wrote every
# key, the CA's included, into one directory that every program read with --pki DIR:
# any party could act as the CA, as another agent or connector, or serve any service
# (service certificates also passed as TLS clients). Now: one bundle per party with
# only its own keys, the CA's key apart, service certificates server-only, and a
# program given a directory with keys not its own refuses to start.
#
#   ztna pki init --agent alice --connector c1=echo --connector c2=db
#   ztna-intermediate (intermediate bundle) --serve c1=echo,db (the policy would let c1
#   serve db: the certificate is what stops it)
#   ztna-agent alice --forward db   ztna-connector c1 (its bundle)
#
# Commit 228d3a4 fails 1-6 and 8 (flat directory, service certificates with the
# client purpose, no refusal, c1 holds db's key and serves it).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
tap_plan 10
progs_init sec-pki
P=$T/pki
P_IMD=$PORT P_ECHO=$((PORT + 1)) P_DB=$((PORT + 2)) F_DB=$((PORT + 3)) F_ECHO=$((PORT + 4))

"$B/ztna" pki init "$P" --intermediate-ip "$L" --agent alice --connector c1=echo \
	--connector c2=db >"$T/pki.out" 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }

# keys BUNDLE: the *.key files in a bundle, sorted, on one line.
keys() { (cd "$P/$1" 2>/dev/null && ls -- *.key 2>/dev/null | sort | tr '\n' ' '); }

# 1-4. Each bundle holds only its party's keys; the CA's key is apart.
[ "$(keys agent-alice)" = "agent-alice.key " ] &&
	tap_ok "agent bundle: only the agent's key" || tap_fail "agent bundle" "keys: $(keys agent-alice)"
[ "$(keys connector-c1)" = "connector-c1.key service-echo.key " ] &&
	tap_ok "connector bundle: its key and the keys of the services it serves, no other" ||
	tap_fail "connector bundle" "c1 keys: $(keys connector-c1)"
[ "$(keys intermediate)" = "intermediate.key " ] &&
	tap_ok "Intermediate bundle: only its key" || tap_fail "Intermediate bundle" "keys: $(keys intermediate)"
ca_keys=$(find "$P" -name ca.key | sed "s|^$P/||" | tr '\n' ' ')
[ "$ca_keys" = "ca/ca.key " ] && [ -s "$P/agent-alice/ca.pem" ] && [ -s "$P/connector-c1/ca.pem" ] &&
	tap_ok "the CA's key only in DIR/ca; every bundle has the CA's certificate" ||
	tap_fail "CA key apart" "ca.key at: $ca_keys; $(ls "$P" "$P/agent-alice" 2>&1 | tr '\n' ' ')"

# expect_refusal NAME REGEX CMD...: exits 1 at start-up with REGEX on stderr.
expect_refusal() {
	local name=$1 re=$2 rc
	shift 2
	timeout -k 5 20 "$@" >/dev/null 2>"$T/err" </dev/null
	rc=$?
	if [ "$rc" -eq 1 ] && grep -q -E -- "$re" "$T/err"; then
		tap_ok "$name"
	else
		tap_fail "$name" "exit $rc: $(grep -v '^ts=' "$T/err" | head -n 3 | tr '\n' '|')"
	fi
}

# 5. A program given the whole tree refuses, naming its bundle.
expect_refusal "an agent given the whole PKI tree refuses, naming its own bundle" \
	"holds private keys that are not agent alice's .*--pki $P/agent-alice\$" \
	"$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$P" --name alice --token x \
	--forward "tcp:$L:$F_DB=db" --control none
# 6. A bundle with another party's key in it (here: a connector's own bundle given the
# key of a service that is not its own does not count; the agent's key does).
cp -r "$P/connector-c1" "$T/c1-plus"
cp "$P/agent-alice/agent-alice.key" "$T/c1-plus/"
expect_refusal "a connector whose directory holds another party's key refuses" \
	"not connector c1's \\($T/c1-plus/agent-alice.key\\)" \
	"$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$T/c1-plus" --name c1 --token x \
	--service "echo=tcp:$L:$P_ECHO" --control none
# 7. The Intermediate given a directory with the CA's key.
cp -r "$P/intermediate" "$T/imd-plus"
cp "$P/ca/ca.key" "$T/imd-plus/"
expect_refusal "an Intermediate whose directory holds the CA's key refuses" \
	"not the Intermediate's \\($T/imd-plus/ca.key\\)" \
	"$B/ztna-intermediate" --listen "$L:$P_IMD" --pki "$T/imd-plus" --client agent:alice

# 8. c1 cannot serve db with its bundle: there is no db certificate in it.
expect_refusal "a connector cannot load another connector's service certificate" \
	"cannot read $P/connector-c1/service-db.pem" \
	"$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$P/connector-c1" --name c1 --token x \
	--service "db=tcp:$L:$P_DB" --control none

# 9. Presenting the certificate it has (echo's) for db: the agent's end-to-end TLS check
# refuses it, even though the Intermediate's policy lets c1 serve db.
progs_start db "$B/bench/zt-testkit" tcp-echo "$L:$P_DB"
progs_start imd "$B/ztna-intermediate" --listen "$L:$P_IMD" --pki "$P/intermediate" \
	--client agent:alice:ta --client connector:c1:tc --allow alice=db,echo --serve c1=echo,db
wait_log "$T/imd.log" 'event=start ' 5
progs_start c1 "$B/ztna-connector" --intermediate "$L:$P_IMD" --pki "$P/connector-c1" --name c1 \
	--token tc --service "db=tcp:$L:$P_DB" --service-cert "db=$P/connector-c1/service-echo.pem" \
	--service-key "db=$P/connector-c1/service-echo.key" --direct off --control none
progs_start alice "$B/ztna-agent" --intermediate "$L:$P_IMD" --pki "$P/agent-alice" --name alice \
	--token ta --forward "tcp:$L:$F_DB=db" --direct off --control none
wait_log "$T/c1.log" 'event=connected' 5 && wait_log "$T/alice.log" 'event=connected' 5
out=$(echo "secret for db" | timeout 10 socat -t 3 - "TCP:$L:$F_DB" 2>/dev/null)
if [ -z "$out" ] && ! grep -q 'event=session_ready' "$T/alice.log" &&
	grep -q 'event=session_open .*service=db' "$T/imd.log"; then
	tap_ok "a connector presenting another service's certificate gets no session (nothing through)"
else
	tap_fail "wrong service certificate refused by the agent" \
		"got '$out'; $(grep -E 'session_|tls|handshake' "$T/alice.log" "$T/c1.log" | tail -n 4)"
fi

# 10. Service certificates carry the TLS server purpose only.
if command -v openssl >/dev/null; then
	eku=$(openssl x509 -in "$P/connector-c1/service-echo.pem" -noout -ext extendedKeyUsage 2>&1 |
		tail -n +2 | tr -d ' ')
	[ "$eku" = "TLSWebServerAuthentication" ] &&
		tap_ok "a service certificate is for a TLS server only ($eku)" ||
		tap_fail "service certificate purpose" "extendedKeyUsage: $eku"
else
	tap_skip "service certificate purpose" "no openssl to read it (tests/unit/test_quic_pki checks it)"
fi
