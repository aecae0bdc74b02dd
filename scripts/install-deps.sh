#!/bin/sh
# Installs everything the SBC and its tests need, idempotently. Used by `make deps`, .ci/run and
# the Dockerfile, so the tested stack is the shipped one.
#   install-deps.sh           all of deps-debian.txt + the dev/test venv (.venv)
#   install-deps.sh --runtime the runtime part of deps-debian.txt only (the image)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
if [ "${1:-}" = "--runtime" ]; then
    packages=$(sed '/^## test/q' "$here/deps-debian.txt" | grep -v '^#' | tr '\n' ' ')
else
    packages=$(grep -v '^#' "$here/deps-debian.txt" | tr '\n' ' ')
fi

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
# Debian starts the packaged daemons; the SBC runs its own instances instead.
for svc in mariadb redis-server rtpengine-daemon kamailio; do
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done

[ "${1:-}" = "--runtime" ] && exit 0

# The venv sees Debian's pymysql/cachetools/phonenumbers: the very versions Kamailio's embedded
# Python (/usr/bin/python3) imports, so unit tests and production run the same libraries.
if [ ! -x "$repo/.venv/bin/python" ]; then
    /usr/bin/python3 -m venv --system-site-packages "$repo/.venv"
fi
pip="$repo/.venv/bin/pip"
"$pip" install -q --disable-pip-version-check -r "$here/requirements-dev.txt"
