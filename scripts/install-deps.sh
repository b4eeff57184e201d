#!/bin/sh
# Install every Debian package mqe2e needs to build, test, benchmark and run
# its demo.  Idempotent and non-interactive; run as root on Debian 12.
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
      libssl-dev openssl libsqlite3-dev sqlite3 libpq-dev postgresql-15 libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev
      libpaho-mqtt-dev mosquitto mosquitto-dev libmosquitto-dev mosquitto-clients
      libcmocka-dev clang libclang-rt-14-dev valgrind mandoc curl python3
      gnuplot-nox iproute2 procps python3-cryptography tshark
      python3-pytest python3-venv libfaketime"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (apt-get); try: sudo $0" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps.sh: all packages already installed"
	exit 0
fi
echo "install-deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
# The Debian mosquitto package starts a system broker on port 1883; our tests
# use their own brokers on free ports and never need it.
# Likewise postgresql-15 may start a cluster on port 5432: the tests of the
# KMS's PostgreSQL backend run initdb/pg_ctl themselves in a temporary
# directory (as the unprivileged 'postgres' user the package creates, since
# initdb refuses root) on a free loopback port.
