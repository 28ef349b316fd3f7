#!/bin/bash
# Finding (issue 11, "secrets"): the --keylog file was created 0644 (TLS secrets
# readable by every local user) and tokens could only be given on the command line
# (visible in ps and /proc/PID/cmdline). Commit 228d3a4 fails tests 2-9.
#
# The three programs on loopback with their credentials in files:
#   ztna-intermediate --clients-file (0600) --keylog --qlog-dir
#   ztna-connector c1 --token-file       ztna-agent alice --token-file --keylog
# Checks: each logs in with the token from its file, no token in any /proc/PID/cmdline,
# key log and qlog files are 0600 (umask 022), an existing key log readable by others
# and a symbolic link are refused, token and clients files readable by others are
# refused with the fix, and a config file that sets a token must be 0600 too.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/progs.sh
tap_plan 12
umask 022
progs_init sec-secrets

base=$PORT
TOK_A=tok-alice-$RANDOM$RANDOM TOK_C=tok-c1-$RANDOM$RANDOM
"$B/ztna" pki init "$T/pki" --intermediate-ip "$L" --service echo --agent alice \
	--connector c1 >/dev/null 2>"$T/pki.err" || { cat "$T/pki.err"; exit 1; }
PKI=$T/pki
printf '# who may connect\nagent:alice:%s\nconnector:c1:%s  # the echo connector\n' \
	"$TOK_A" "$TOK_C" >"$T/clients"
printf '%s\n' "$TOK_A" >"$T/alice.tok"
printf '%s\r\n' "$TOK_C" >"$T/c1.tok"
chmod 600 "$T/clients" "$T/alice.tok" "$T/c1.tok"
mkdir "$T/q"

progs_start imd "$B/ztna-intermediate" --listen "$L:$base" --pki "$PKI/intermediate" --clients-file "$T/clients" \
	--allow alice=echo --keylog "$T/imd-keys.log" --qlog-dir "$T/q"
sleep 0.3
progs_start conn "$B/ztna-connector" --intermediate "$L:$base" --pki "$PKI/connector-c1" --name c1 \
	--token-file "$T/c1.tok" --service "echo=tcp:$L:7" --control none --direct off
progs_start agent "$B/ztna-agent" --intermediate "$L:$base" --pki "$PKI/agent-alice" --name alice \
	--token-file "$T/alice.tok" --forward "tcp:$L:$((base + 1))=echo" --control none \
	--direct off --keylog "$T/agent-keys.log"

# 1-2. Logins with the tokens from the files.
wait_log "$T/imd.log" 'event=client_ready.*identity=ztna:agent:alice' 10 &&
	wait_log "$T/agent.log" 'event=connected' 5 &&
	tap_ok "--token-file: the agent logs in with the token from its file" ||
	tap_fail "--token-file (agent)" "$(tail -n 3 "$T/imd.log" "$T/agent.log")"
wait_log "$T/imd.log" 'event=client_ready.*identity=ztna:connector:c1' 5 &&
	tap_ok "--token-file with CRLF and --clients-file: the connector logs in" ||
	tap_fail "--token-file (connector)" "$(tail -n 3 "$T/imd.log" "$T/conn.log")"

# 3. No token on any command line.
leak=
for n in imd conn agent; do
	cmd=$(tr '\0' ' ' <"/proc/${PIDS[$n]}/cmdline" 2>/dev/null)
	case "$cmd" in *ztna-*) ;; *) leak="$leak $n(not running: '$cmd')"; continue ;; esac
	if echo "$cmd" | grep -q -e "$TOK_A" -e "$TOK_C"; then
		leak="$leak $n"
	fi
done
[ -z "$leak" ] && tap_ok "no token in /proc/PID/cmdline of the three programs" ||
	tap_fail "tokens out of the command line" "found in:$leak"

# 4-5. Key logs 0600, with secrets in them.
modes=$(stat -c '%a' "$T/imd-keys.log" "$T/agent-keys.log" 2>&1 | tr '\n' ' ')
[ "$modes" = "600 600 " ] && tap_ok "key log files are created 0600 (umask 022)" ||
	tap_fail "key log mode" "modes: $modes"
grep -q '^CLIENT_HANDSHAKE_TRAFFIC_SECRET ' "$T/agent-keys.log" &&
	grep -q '^SERVER_HANDSHAKE_TRAFFIC_SECRET ' "$T/imd-keys.log" &&
	tap_ok "the key logs hold the TLS secrets (SSLKEYLOGFILE lines)" ||
	tap_fail "key log content" "$(head -c 200 "$T/agent-keys.log")"

# 6. qlog files 0600.
sleep 0.5
q=$(find "$T/q" -type f | head -n 1)
bad=$(find "$T/q" -type f ! -perm 600 | wc -l)
[ -n "$q" ] && [ "$bad" -eq 0 ] && tap_ok "qlog files are created 0600 ($(find "$T/q" -type f | wc -l) files)" ||
	tap_fail "qlog mode" "first: ${q:-none} $(stat -c '%a' "$T"/q/* 2>/dev/null | head -n 3 | tr '\n' ' ')"

# expect_refusal NAME REGEX CMD...: exits 1 or 2 at once with REGEX on stderr.
expect_refusal() {
	local name=$1 re=$2 rc
	shift 2
	timeout -k 5 20 "$@" >/dev/null 2>"$T/err" </dev/null
	rc=$?
	if [ "$rc" -ge 1 ] && [ "$rc" -le 2 ] && grep -q -E -- "$re" "$T/err"; then
		tap_ok "$name"
	else
		tap_fail "$name" "exit $rc: $(grep -v '^ts=' "$T/err" | head -n 3 | tr '\n' '|')"
	fi
}
AG=("$B/ztna-agent" --intermediate "$L:$base" --pki "$PKI/agent-alice" --name alice --control none
	--forward "tcp:$L:$((base + 2))=echo")

# 7. An existing key log readable by others is refused (not silently fixed: what it
# holds has leaked already), and its mode is left alone.
printf 'old\n' >"$T/open-keys.log" && chmod 644 "$T/open-keys.log"
expect_refusal "an existing key log readable by others is refused with the fix" \
	"key log $T/open-keys.log is readable or writable by group or others.*chmod 600" \
	"${AG[@]}" --token-file "$T/alice.tok" --keylog "$T/open-keys.log"

# 8. A symbolic link at the key log's path is not followed.
ln -s "$T/victim" "$T/link-keys.log"
expect_refusal "a symbolic link as the key log is refused" "key log $T/link-keys.log: a symbolic link" \
	"${AG[@]}" --token-file "$T/alice.tok" --keylog "$T/link-keys.log"
[ -e "$T/victim" ] && tap_diag "the symbolic link was followed: $T/victim exists"

# 9. A token file readable by others.
cp "$T/alice.tok" "$T/open.tok" && chmod 640 "$T/open.tok"
expect_refusal "a token file readable by group is refused with 'chmod 600 FILE'" \
	"chmod 600 $T/open.tok" "${AG[@]}" --token-file "$T/open.tok"

# 10. A clients file readable by others.
cp "$T/clients" "$T/open-clients" && chmod 604 "$T/open-clients"
expect_refusal "a clients file readable by others is refused with 'chmod 600 FILE'" \
	"chmod 600 $T/open-clients" \
	"$B/ztna-intermediate" --listen "$L:$((base + 3))" --pki "$PKI/intermediate" --clients-file "$T/open-clients"

# 11. A config file that sets a token must be private too.
printf 'token = %s\n' "$TOK_A" >"$T/agent.conf" && chmod 644 "$T/agent.conf"
expect_refusal "a config file with a token, readable by others, is refused" \
	"agent.conf: sets 'token', a secret, .*chmod 600 $T/agent.conf" \
	"${AG[@]}" --config "$T/agent.conf"

# 12. A bad clients file line names the file and line, and does not echo the token.
printf 'agent:alice:%s\nuser:bob:%s\n' "$TOK_A" "$TOK_C" >"$T/bad-clients" && chmod 600 "$T/bad-clients"
timeout 20 "$B/ztna-intermediate" --listen "$L:$((base + 3))" --pki "$PKI/intermediate" \
	--clients-file "$T/bad-clients" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "bad-clients:2: KIND must be 'agent' or 'connector'" "$T/err" &&
	! grep -q -e "$TOK_C" "$T/err" &&
	tap_ok "a bad clients file line names FILE:LINE and does not print the token" ||
	tap_fail "bad clients file line" "exit $rc: $(head -n 2 "$T/err")"
