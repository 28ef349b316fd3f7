#!/bin/bash
# --version and -V on every program (and `ztna version`): exit 0, one line "PROG X.Y"
# on stdout, the same version everywhere; nothing else is read or started (a bad
# option next to it does not matter).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}
tap_plan 9

want=
for prog in ztna ztna-agent ztna-connector ztna-intermediate; do
	for flag in --version -V; do
		out=$("$B/$prog" --bogus-option x "$flag" 2>&1)
		rc=$?
		[ "$prog" = ztna ] && out=$("$B/$prog" "$flag" 2>&1) && rc=$?
		if [ $rc = 0 ] && [[ $out =~ ^$prog\ [0-9]+\.[0-9]+[^$'\n']*$ ]]; then
			tap_ok "$prog $flag: '$out'"
			want=${want:-${out#* }}
		else
			tap_fail "$prog $flag prints '$prog VERSION' and exits 0" "exit $rc, '$out'"
		fi
	done
done
vers=$(for prog in ztna ztna-agent ztna-connector ztna-intermediate; do "$B/$prog" -V | cut -d' ' -f2; done | sort -u)
[ "$vers" = "$want" ] && [ "$("$B/ztna" version)" = "ztna $want" ] &&
	tap_ok "one version everywhere ($want), ztna version says the same" ||
	tap_fail "one version everywhere" "$(echo "$vers" | tr '\n' ' '); ztna version: $("$B/ztna" version)"
