#!/bin/sh
# Writes one man page with help2man from a program's --help, so that the page says
# what the program says (make man; make install).
#
#   tools/mkman.sh BUILD PAGE NAME VERSION OUT
#
# PAGE is a program (ztna-agent) or a ztna command (ztna-discover: 'ztna discover').
# help2man runs the program it is given; a command gets a two-line wrapper script.
set -eu
build=$1 page=$2 name=$3 version=$4 out=$5
command -v help2man >/dev/null || { echo "mkman: help2man is missing (tools/deps.sh)" >&2; exit 1; }
dir=$(dirname "$out")
mkdir -p "$dir/bin"
prog=$build/$page
if [ ! -x "$prog" ]; then
	cmd=${page#ztna-}
	prog=$dir/bin/$page
	printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$(cd "$build" && pwd)/ztna" "$cmd" >"$prog"
	chmod 0755 "$prog"
fi
help2man --no-info --no-discard-stderr --version-string="$version" --name="$name" \
	--section=1 --source="ztna $version" --output="$out.tmp" "$prog"
mv "$out.tmp" "$out"
