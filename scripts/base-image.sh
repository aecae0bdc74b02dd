#!/bin/sh
# Builds the base image `debian:trixie-slim` locally with debootstrap when the Docker engine does not
# have it: for hosts that reach a Debian mirror but no image registry (air-gapped networks, CI here).
# With a registry, `docker pull debian:trixie-slim` does the same and this script is a no-op.
#   DEBIAN_MIRROR           Debian archive to bootstrap from (default http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR  security archive written into the image's apt sources (empty: none)
#   BASE_IMAGE              the tag to create (default debian:trixie-slim)
set -eu
image=${BASE_IMAGE:-debian:trixie-slim}
suite=trixie
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR-http://deb.debian.org/debian-security}

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image $image present"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
}
root=$(mktemp -d /var/tmp/sbc-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "bootstrapping $suite from $mirror into $root"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -n 20 "$root.log" >&2; rm -f "$root.log"; exit 1
}
rm -f "$root.log"
{
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    [ -n "$security" ] && echo "deb $security $suite-security main"
} >"$root/etc/apt/sources.list"
# As the official slim image: no daemon starts inside a build (policy-rc.d), packages installed later
# leave out manuals, docs (copyright files kept) and translations, no caches or package lists.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
SLIM
cat >"$root/etc/apt/apt.conf.d/docker-slim" <<'SLIM'
APT::Install-Recommends "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
SLIM
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
rm -f "$root"/var/log/*.log "$root"/var/log/apt/*
tar -C "$root" -c . | docker import --change 'CMD ["bash"]' - "$image" >/dev/null
echo "base image $image built ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
