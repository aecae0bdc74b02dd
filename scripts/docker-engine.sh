#!/bin/sh
# A Docker engine with Compose v2 for `make image` and the compose tests, installed from Debian's
# packages. Without systemd nothing starts dockerd, so this starts it (no bridge, no iptables: every
# SBC container uses host networking). Idempotent; prints nothing when all is there.
#   install-only   install the packages, start nothing
set -eu
export DEBIAN_FRONTEND=noninteractive
apt_updated=""
apt_install() {
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    apt-get install -y -qq --no-install-recommends "$@"
}

command -v dockerd >/dev/null 2>&1 || apt_install docker.io
# Debian 13 packages the client apart (docker-cli, only recommended by docker.io); Debian 12's has it.
command -v docker >/dev/null 2>&1 || apt_install docker-cli
if ! docker compose version >/dev/null 2>&1; then
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    if apt-cache show --no-all-versions docker-compose 2>/dev/null | grep -q '^Version: 2\.'; then
        apt_install docker-compose           # Debian 13: Compose v2, the docker CLI plugin
    else
        # Debian 12 packages Compose v1 (Python). Debian 13's v2 plugin is one Go binary needing only
        # libc >= 2.34, so it is taken from trixie through a private apt state; the host's sources stay.
        state=$(mktemp -d)
        trap 'rm -rf "$state"' EXIT
        mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
        mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
            >"$state/sources.list"
        opts="-o APT::Sandbox::User=root -o Dir::Etc::SourceList=$state/sources.list -o Dir::Etc::SourceParts=/nonexistent
              -o Dir::State::Lists=$state/lists -o Dir::Cache=$state/cache"
        # shellcheck disable=SC2086
        apt-get $opts update -qq
        # shellcheck disable=SC2086
        (cd "$state" && apt-get $opts download docker-compose >/dev/null)
        dpkg -i "$state"/docker-compose_2.*.deb >/dev/null
    fi
fi
[ "${1:-}" = "install-only" ] && exit 0

docker info >/dev/null 2>&1 && exit 0
echo "starting dockerd (log: /var/log/sbc-dockerd.log)"
nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/sbc-dockerd.log 2>&1 &
for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 0.5
done
echo "dockerd did not answer within 60 s; last lines of /var/log/sbc-dockerd.log:" >&2
tail -n 20 /var/log/sbc-dockerd.log >&2
exit 1
