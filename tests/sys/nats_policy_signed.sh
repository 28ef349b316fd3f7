#!/bin/bash
# Policies signed per operator (docs/scale-out.md, "Signed policies"): an Intermediate
# given --policy-signer takes from the cluster only a policy signed by one of those keys
# (ztna policy push --sign, keys from ztna policy keygen); the presence key alone, which
# every Intermediate holds, no longer suffices to change who may connect.
#
#   ztna policy push [--sign KEY] --> nats-server <-- ztna-intermediate A
#                                                     --nats-policy follow --policy-signer op.pub
#
# Checks: keygen writes a private key (0600) and its public key, and refuses to write
# over them; an unsigned push and one signed by another operator's key are refused at A
# (the policy in force stays: none), each reason logged; one signed by the operator is
# applied, status and `ztna policy show` name its signer; push --sign refuses a key file
# others can read; A refuses to start with a --policy-signer file that is not a public
# key, and with --policy-signer but no --nats-policy follow; SIGHUP reads the keys again
# (a key replaced: the policy it signed is withdrawn, the local one in force).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
N=7
tap_plan $N

. tests/lib/progs.sh
progs_init nats-policy-signed
. tests/lib/nats.sh
nats_skip_all $N

P_NATS=$PORT P_A=$((PORT + 2))
NATS=nats://$L:$P_NATS
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo@c1 --agent alice --agent bob \
	--connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
head -c 32 /dev/urandom | base64 >"$T/presence.key"
chmod 600 "$T/presence.key"
printf '%s\n' "client = agent:bob:tb" "client = connector:c1:tc" "allow = bob=echo" \
	"serve = c1=echo" >"$T/p1"
chmod 600 "$T/p1"
push() { "$B/ztna" policy push --nats "$NATS" --presence-key "$T/presence.key" --file "$T/p1" "$@"; }

# 1. keygen: the operator's pair and another's; no overwrite
k1=$("$B/ztna" policy keygen --out "$T/op" 2>&1); r1=$?
k2=$("$B/ztna" policy keygen --out "$T/other" 2>&1); r2=$?
k3=$("$B/ztna" policy keygen --out "$T/op" 2>&1); r3=$?
op_id=$(field "$k1" id)
[ $r1 = 0 ] && [ $r2 = 0 ] && [ $r3 = 1 ] && [ "$(stat -c %a "$T/op.key")" = 600 ] &&
	grep -q "BEGIN PUBLIC KEY" "$T/op.pub" && grep -q "not overwritten" <<<"$k3" &&
	[ ${#op_id} = 16 ] && [ "$op_id" != "$(field "$k2" id)" ] &&
	tap_ok "keygen: $k1 (key 0600); again: refused, not overwritten" ||
	tap_fail "keygen" "$r1 '$k1' / $r2 '$k2' / $r3 '$k3'"

progs_start nats nats-server -a "$L" -p "$P_NATS" -js -sd "$T/js"
cp "$T/op.pub" "$T/signer.pub" # A's --policy-signer: the operator's key, until check 7
wait_log "$T/nats.log" "Server is ready" 10
progs_start imd-a "$B/ztna-intermediate" --listen "$L:$P_A" --tcp-listen off --stun-port off \
	--pki "$T/pki/intermediate" --control "$T/a.sock" --nats "$NATS" --nats-name imd-a \
	--presence-key "$T/presence.key" --nats-policy follow --policy-signer "$T/signer.pub" \
	--client agent:alice:ta --allow alice=echo
for _ in $(seq 50); do [ "$(field "$(presence a)" state)" = ready ] && break; sleep 0.1; done

# 2. unsigned, and signed by a key A does not trust: refused, none in force
push >/dev/null 2>&1; r1=$?
wait_log "$T/imd-a.log" "event=policy_refused .*not signed" 5; w1=$?
out=$(push --sign "$T/other.key" 2>&1); r2=$?
wait_log "$T/imd-a.log" "event=policy_refused .*which is not a --policy-signer here" 5; w2=$?
pa=$(presence a)
[ $r1 = 0 ] && [ $r2 = 0 ] && [ $w1 = 0 ] && [ $w2 = 0 ] && [ "$(field "$pa" policy_seq)" = 0 ] &&
	[ "$(field "$pa" policy_refused)" = 2 ] && [ "$(field "$pa" signers)" = 1 ] &&
	grep -q "signer=$(field "$k2" id)" <<<"$out" &&
	tap_ok "an unsigned push and one signed by another key: refused at A (policy_refused 2, none in force)" ||
	tap_fail "unsigned and foreign" "$r1 $r2 $w1 $w2 '$out' $(head -1 <<<"$pa") $(grep policy_ "$T/imd-a.log" | tail -2)"

# 3. signed by the operator: applied, its signer named
out=$(push --sign "$T/op.key" 2>&1); rc=$?
seq1=$(field "$out" seq)
for _ in $(seq 50); do [ "$(field "$(presence a)" policy_seq)" = "$seq1" ] && break; sleep 0.1; done
pa=$(presence a)
[ $rc = 0 ] && [ "$(field "$pa" policy_seq)" = "$seq1" ] && [ "$(field "$pa" policy_signer)" = "$op_id" ] &&
	[ "$(field "$out" signer)" = "$op_id" ] &&
	tap_ok "signed by the operator ($op_id): seq $seq1 in force at A" ||
	tap_fail "signed" "rc $rc '$out' $(head -1 <<<"$pa")"

# 4. ztna policy show names the signer
out=$("$B/ztna" policy show --nats "$NATS" --presence-key "$T/presence.key" 2>&1); rc=$?
[ $rc = 0 ] && grep -q "^policy seq=$seq1 .* signer=$op_id$" <<<"$out" &&
	tap_ok "policy show: seq $seq1 signer=$op_id" || tap_fail "show" "rc $rc '$out'"

# 5. push --sign with a key others can read: exit 2, nothing pushed
chmod 644 "$T/op.key"
out=$(push --sign "$T/op.key" 2>&1); rc=$?
chmod 600 "$T/op.key"
sleep 0.5
[ $rc = 2 ] && grep -q "chmod 600 $T/op.key" <<<"$out" && [ "$(field "$(presence a)" policy_seq)" = "$seq1" ] &&
	tap_ok "push --sign with a key readable by others: exit 2, 'chmod 600' named" ||
	tap_fail "key mode" "rc $rc '$out'"

# 6. A's settings: a signer file that is no public key, a signer without follow
common=(--listen "$L:$((PORT + 4))" --tcp-listen off --stun-port off --pki "$T/pki/intermediate"
	--client agent:alice:ta --control none)
o1=$(timeout 10 "$B/ztna-intermediate" "${common[@]}" --nats "$NATS" --nats-name imd-x \
	--presence-key "$T/presence.key" --nats-policy follow --policy-signer "$T/op.key" 2>&1); r1=$?
o2=$(timeout 10 "$B/ztna-intermediate" "${common[@]}" --policy-signer "$T/op.pub" 2>&1); r2=$?
[ $r1 = 2 ] && grep -q "$T/op.key: not an Ed25519 public key" <<<"$o1" && [ $r2 = 2 ] &&
	grep -q "policy-signer goes with --nats and --nats-policy follow" <<<"$o2" &&
	tap_ok "refused settings: a private key as --policy-signer (exit 2, file named); a signer without --nats-policy follow" ||
	tap_fail "settings" "$r1 '$o1' / $r2 '$o2'"

# 7. SIGHUP reads the signer keys again: a file that is no key changes nothing; the
# operator's key replaced by another's revokes it: the policy it signed is withdrawn
# (the local one, alice's, in force), and one signed by the new key is taken
echo "not a key" >"$T/signer.pub"
kill -HUP "${PIDS[imd-a]}"
wait_log "$T/imd-a.log" "event=reload result=failed .*$T/signer.pub: not an Ed25519 public key" 5; w1=$?
pa1=$(presence a)
cp "$T/other.pub" "$T/signer.pub"
kill -HUP "${PIDS[imd-a]}"
wait_log "$T/imd-a.log" "event=policy_withdrawn seq=$seq1 signer=$op_id" 5; w2=$?
wait_log "$T/imd-a.log" "event=reload result=ok clients_configured=1 " 5; w3=$?
pa2=$(presence a)
out=$(push --sign "$T/other.key" 2>&1)
seq2=$(field "$out" seq)
for _ in $(seq 50); do [ "$(field "$(presence a)" policy_seq)" = "$seq2" ] && break; sleep 0.1; done
pa3=$(presence a)
[ $w1 = 0 ] && [ "$(field "$pa1" policy)" = follow ] && [ "$(field "$pa1" policy_signer)" = "$op_id" ] &&
	[ $w2 = 0 ] && [ $w3 = 0 ] && [ "$(field "$pa2" policy)" = withdrawn ] &&
	[ "$(field "$pa3" policy)" = follow ] && [ "$(field "$pa3" policy_signer)" = "$(field "$k2" id)" ] &&
	tap_ok "SIGHUP: a bad key file changes nothing; the operator's key replaced: its policy (seq $seq1) withdrawn, the local one in force; one signed by the new key taken (seq $seq2)" ||
	tap_fail "signers on reload" "$w1 $w2 $w3 / $(head -1 <<<"$pa1" | grep -o 'policy=[^ ]*') / $(head -1 <<<"$pa2" | grep -o 'policy=[^ ]*') / $(head -1 <<<"$pa3" | grep -o 'policy[a-z_]*=[^ ]*' | tr '\n' ' ') $(grep 'event=reload\|policy_withdrawn' "$T/imd-a.log" | tail -3)"
