#!/bin/bash
# make install into a DESTDIR, and the installed programs run from there: the files
# (programs, man pages, units, examples, docs), --version, man pages that list every
# option --help lists, systemd units that systemd-analyze verifies without a warning,
# READY=1 / STOPPING=1 to a NOTIFY_SOCKET (systemd's Type=notify), the three
# programs started with the installed example configs carrying a line through the
# tunnel, the .deb from tools/mkdeb.sh; and, where systemd is PID 1, the Intermediate
# as a transient Type=notify unit (skipped with the reason elsewhere).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
tap_plan 12

. tests/lib/progs.sh
progs_init sys-install
R=$T/root
# SAN= on the command line: the Makefile would otherwise add /san to a BUILD that has it
if make --no-print-directory SAN= BUILD="$B" install DESTDIR="$R" PREFIX=/usr >"$T/install.log" 2>&1; then
	tap_ok "make install DESTDIR=... PREFIX=/usr"
else
	tap_fail "make install" "$(tail -n 5 "$T/install.log")"
fi

# 2. the files
missing=()
for f in usr/bin/{ztna,ztna-agent,ztna-connector,ztna-intermediate} \
	usr/share/man/man1/{ztna,ztna-agent,ztna-connector,ztna-intermediate}.1 \
	usr/share/man/man1/ztna-{pki,stun-server,discover,punch,status,ping}.1 \
	lib/systemd/system/ztna-{agent,connector,intermediate}.service \
	usr/share/doc/ztna/examples/{agent,connector,intermediate}.conf \
	usr/share/doc/ztna/README.md usr/share/doc/ztna/docs/design.md; do
	[ -s "$R/$f" ] || missing+=("$f")
done
[ ${#missing[@]} = 0 ] && tap_ok "installed: 4 programs, 10 man pages, 3 units, 3 examples, docs" ||
	tap_fail "installed files" "missing: ${missing[*]}"

# 3. the installed programs answer --version
vers=$(for p in ztna ztna-agent ztna-connector ztna-intermediate; do "$R/usr/bin/$p" --version; done)
want=$(for p in ztna ztna-agent ztna-connector ztna-intermediate; do "$B/$p" --version; done)
[ -n "$want" ] && [ "$vers" = "$want" ] && tap_ok "the installed programs run: $(echo "$vers" | tr '\n' ',')" ||
	tap_fail "installed --version" "$vers"

# 4. man pages: every option of --help is in the page, the page renders
drift=()
for p in ztna-agent ztna-connector ztna-intermediate ztna-discover ztna-punch ztna-pki; do
	case $p in ztna-agent | ztna-connector | ztna-intermediate) help=$("$R/usr/bin/$p" --help 2>&1) ;;
	*) help=$("$R/usr/bin/ztna" "${p#ztna-}" --help 2>&1) ;; esac
	page=$(MANWIDTH=200 man -l "$R/usr/share/man/man1/$p.1" 2>/dev/null | col -b)
	[[ $page == *NAME* ]] || drift+=("$p: no NAME")
	for o in $(echo "$help" | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
		[[ $page == *"$o"* ]] || drift+=("$p: $o")
	done
done
[ ${#drift[@]} = 0 ] && tap_ok "man pages list every option their program's --help lists" ||
	tap_fail "man pages drift from --help" "${drift[*]:0:8}"

# 5. the units, with ExecStart pointed into DESTDIR: no error, no warning
for u in "$R"/lib/systemd/system/*.service; do
	sed "s#/usr/bin/#$R/usr/bin/#" "$u" >"$T/${u##*/}"
done
if out=$(cd "$T" && systemd-analyze verify --man=no ./ztna-*.service 2>&1) && [ -z "$out" ]; then
	tap_ok "systemd-analyze verify: the 3 units, no warning"
else
	tap_fail "systemd-analyze verify" "$out"
fi

# 6-7. NOTIFY_SOCKET: READY=1 once it listens, STOPPING=1 on SIGTERM
python3 - "$T/notify.sock" >"$T/notify.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
end = time.time() + 30
try:
    while time.time() < end:
        m = s.recv(4096).decode()
        print(m.replace("\n", "|"), flush=True)
        if "STOPPING=1" in m:
            break
except socket.timeout:
    pass
EOF
npid=$!
for i in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
"$R/usr/bin/ztna" pki init "$T/pki" --intermediate-ip "$L" --agent alice --connector c1=echo >/dev/null
(umask 077; printf 'agent:alice:ta\nconnector:c1:tc\n' >"$T/clients"
	echo tc >"$T/pki/connector-c1/token"; echo ta >"$T/pki/agent-alice/token")
P_IMD=$PORT P_ECHO=$((PORT + 2)) P_FWD=$((PORT + 3))
ex=$R/usr/share/doc/ztna/examples
sed -e "s#^listen = .*#listen = $L:$P_IMD#" -e "s#/etc/ztna/intermediate#$T/pki/intermediate#" \
	-e "s#/etc/ztna/clients#$T/clients#" "$ex/intermediate.conf" >"$T/intermediate.conf"
printf 'tcp-listen = off\nstun-port = off\n' >>"$T/intermediate.conf"
for r in connector agent; do
	sed -e "s#relay.example.net:4433#$L:$P_IMD#" -e "s#/etc/ztna/#$T/pki/#g" \
		-e "s#10.0.0.5:7#$L:$P_ECHO#" -e "s#127.0.0.1:8007#$L:$P_FWD#" "$ex/$r.conf" >"$T/$r.conf"
	printf 'control = none\ntransport = udp\n' >>"$T/$r.conf"
done
NOTIFY_SOCKET=$T/notify.sock progs_start imd "$R/usr/bin/ztna-intermediate" --config "$T/intermediate.conf"
wait_log "$T/notify.out" 'READY=1' 10 && wait_log "$T/imd.log" 'event=start' 5 &&
	tap_ok "NOTIFY_SOCKET: READY=1 after the start ($(grep -m1 READY "$T/notify.out"))" ||
	tap_fail "READY=1" "$(cat "$T/notify.out"; tail -n 3 "$T/imd.log")"

# 8. the installed programs with the example configs: a line through the tunnel
progs_start echo "$B/bench/zt-testkit" tcp-echo "$L:$P_ECHO"
progs_start conn "$R/usr/bin/ztna-connector" --config "$T/connector.conf"
progs_start agent "$R/usr/bin/ztna-agent" --config "$T/agent.conf"
out=
wait_log "$T/conn.log" 'event=connected' 20 && wait_log "$T/agent.log" 'event=connected' 20 &&
	out=$(echo "installed" | timeout 10 socat -t 5 - "TCP:$L:$P_FWD" 2>/dev/null)
[ "$out" = installed ] && tap_ok "the example configs, filled in: connector and agent connect, a line goes through" ||
	tap_fail "example configs" "'$out'; $(tail -n 2 "$T"/{imd,conn,agent}.log)"
progs_stop agent
progs_stop conn

progs_stop imd
wait "$npid" 2>/dev/null
grep -q 'STOPPING=1' "$T/notify.out" && tap_ok "NOTIFY_SOCKET: STOPPING=1 on SIGTERM" ||
	tap_fail "STOPPING=1" "$(cat "$T/notify.out")"

# 9-10. the .deb
if deb=$(BUILD=$B tools/mkdeb.sh "$T/deb" 2>"$T/mkdeb.err") && [ -s "$deb" ]; then
	tap_ok "tools/mkdeb.sh: ${deb##*/}"
else
	tap_fail "tools/mkdeb.sh" "$(cat "$T/mkdeb.err")"
	deb=/nonexistent
fi
list=$(dpkg-deb -c "$deb" 2>/dev/null | awk '{print $6}')
dep=$(dpkg-deb -f "$deb" Depends 2>/dev/null)
dpkg-deb -x "$deb" "$T/x" 2>/dev/null
[[ $list == *./usr/bin/ztna-agent* && $list == *./lib/systemd/system/ztna-intermediate.service* &&
	$list == *./usr/share/man/man1/ztna-agent.1* && $dep == *libngtcp2* && $dep == *libgnutls30* ]] &&
	"$T/x/usr/bin/ztna-agent" --version >/dev/null &&
	grep -q '^ExecStart=/usr/bin/ztna-agent ' "$T/x/lib/systemd/system/ztna-agent.service" &&
	tap_ok "the .deb holds programs, units (ExecStart=/usr/bin/...), man pages; Depends: ${dep:0:60}..." ||
	tap_fail "the .deb's contents" "Depends: $dep; $(echo "$list" | head -n 5 | tr '\n' ' ')"

# 11. under systemd itself, where it runs
if [ "$(id -u)" != 0 ] || [ ! -d /run/systemd/system ]; then
	tap_skip "a transient Type=notify unit" "systemd is not PID 1 here (or not root): no unit can run"
else
	u=ztna-test-$$
	if systemd-run --quiet --unit="$u" -p Type=notify "$R/usr/bin/ztna-intermediate" \
		--config "$T/intermediate.conf" 2>"$T/run.err" && systemctl is-active --quiet "$u"; then
		tap_ok "systemd-run -p Type=notify: $u active"
	else
		tap_fail "systemd-run Type=notify" "$(cat "$T/run.err")"
	fi
	systemctl stop "$u" 2>/dev/null
fi

# 12. make uninstall leaves nothing of ours
make --no-print-directory SAN= BUILD="$B" uninstall DESTDIR="$R" PREFIX=/usr >/dev/null 2>&1
left=$(find "$R" -type f | head -n 5)
[ -z "$left" ] && tap_ok "make uninstall removes every installed file" || tap_fail "make uninstall" "$left"
