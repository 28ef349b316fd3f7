#!/bin/sh
# Builds a Debian package of the programs, man pages, systemd units, example configs
# and docs (make install with PREFIX=/usr), installable with `apt install ./FILE.deb`.
#
#   tools/mkdeb.sh [OUTDIR]     (default build/; prints the .deb's path)
#   BUILD=DIR                   the build to package (default build)
#
# Dependencies come from the binaries (dpkg-shlibdeps). The units are installed, not
# enabled: put the settings in /etc/ztna/ROLE.conf, then `systemctl enable --now
# ztna-ROLE` (docs/install.md).
set -eu
cd "$(dirname "$0")/.."
out=${1:-build}
version=$(sed -n 's/^#define ZT_VERSION "\(.*\)"/\1/p' src/core/version.h)
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
stage=$work/stage
make --no-print-directory SAN= BUILD="${BUILD:-build}" install DESTDIR="$stage" PREFIX=/usr >"$work/install.log" 2>&1 ||
	{ tail -n 20 "$work/install.log" >&2; exit 1; }
mkdir -p "$work/debian" "$stage/DEBIAN"
printf 'Source: ztna\nMaintainer: ztna <ztna@localhost>\n\nPackage: ztna\nArchitecture: any\n' \
	>"$work/debian/control"
deps=$(cd "$work" && dpkg-shlibdeps -O -e"$stage"/usr/bin/ztna -e"$stage"/usr/bin/ztna-agent \
	-e"$stage"/usr/bin/ztna-connector -e"$stage"/usr/bin/ztna-intermediate 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$deps" ] || { echo "mkdeb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk "$stage/usr" "$stage/lib" 2>/dev/null | awk '{s += $1} END {print s}')
cat >"$stage/DEBIAN/control" <<CTL
Package: ztna
Version: $version
Architecture: $arch
Maintainer: ztna <ztna@localhost>
Installed-Size: $size
Depends: $deps
Section: net
Priority: optional
Description: NAT traversal and zero-trust access (agent, connector, Intermediate)
 An agent on a user's machine reaches services behind a connector in a private
 network over end-to-end QUIC, hole-punched directly when the NATs allow and
 relayed by an Intermediate (which never sees the traffic) when they do not.
 Includes systemd units (not enabled), man pages and example configurations.
CTL
mkdir -p "$out"
deb=$out/ztna_${version}_$arch.deb
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
