#!/bin/sh
# Install the Debian 12 packages this project needs, if any are missing.
# Idempotent: runs `apt-get update` only when something must be installed.
#
#   tools/deps.sh [build|lab|bench|all]    (default: build)
#
# As root it installs what is missing; otherwise it names the missing packages and
# the one command that installs them, and exits 1.
set -eu

BUILD_PKGS="gcc make pkg-config libngtcp2-dev libngtcp2-crypto-gnutls-dev \
libgnutls28-dev libnl-3-dev libnl-route-3-dev libnftables-dev libcmocka-dev zlib1g-dev libminiupnpc-dev libnats-dev \
libsystemd-dev help2man dpkg-dev clang libclang-rt-14-dev"
# tinyproxy-bin: the lab's HTTP proxy, the program only (Debian's "tinyproxy" package
# adds a system service listening on port 8888, which the lab neither needs nor wants).
# miniupnpd-nftables: the port-mapping daemon (UPnP IGD, NAT-PMP and PCP) the lab's
# routers run ('portmap'), the program only (no service is set up or started);
# miniupnpc (upnpc) and natpmpc: the outside clients the lab's tests ask it with.
# libsystemd-dev: sd_notify (Type=notify units); help2man and dpkg-dev: make man,
# make install, tools/mkdeb.sh; systemd (systemd-analyze verify), man-db and
# bsdextrautils (man -l, col): what tests/sys/install.sh checks them with.
# faketime: tests/sys/pki.sh issues certificates in the past (an expired one).
# jq: tests/sys/status_json.sh parses `ztna status --json`; prometheus: its promtool checks
# the metrics endpoint's text (tests/sys/metrics.sh).
# libnats-dev: the Intermediates' shared state in a NATS cluster (--nats, docs/scale-out.md);
# nats-server: the cluster tests/sys/nats_presence.sh runs on 127.0.0.1 (its Debian service
# is never started: policy-rc.d below).
LAB_PKGS="nftables iproute2 conntrack coturn socat procps bc iputils-ping tinyproxy-bin \
miniupnpd-nftables miniupnpc natpmpc python3 systemd man-db bsdextrautils faketime jq prometheus \
nats-server"
BENCH_PKGS="iperf3 gnuplot-nox ngtcp2-client ngtcp2-server linux-perf wireguard-go wireguard-tools"

what=${1:-build}
case "$what" in
	build) want="$BUILD_PKGS" ;;
	lab) want="$BUILD_PKGS $LAB_PKGS" ;;
	bench) want="$BUILD_PKGS $LAB_PKGS $BENCH_PKGS" ;;
	all) want="$BUILD_PKGS $LAB_PKGS $BENCH_PKGS" ;;
	*) echo "usage: $0 [build|lab|bench|all]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$st" in
		ii*) ;;
		*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: install them with: sudo apt-get install -y$missing" >&2
	exit 1
fi

echo "deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# coturn's package starts a service by default; we never want it running.
if ! [ -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done" >&2
