#!/usr/bin/env bash
# Make the harness base image without a registry: debootstrap a minimal Debian
# with python3 + pip, then `docker import` it.  Usage:
#   scripts/make-base-image.sh [IMAGE]        (default: $EVALTASKS_BASE_IMAGE or evaltasks-base:bookworm)
# The Debian mirror is the one this machine's apt already uses (override with
# EVALTASKS_DEBIAN_MIRROR), so it works wherever `apt-get install` works.
# EVALTASKS_EXTRA_PACKAGES (comma-separated) adds Debian packages: scripts/slurm-nodes.sh
# makes its node image this way, with slurm-wlm and munge.
set -euo pipefail

image="${1:-${EVALTASKS_BASE_IMAGE:-evaltasks-base:bookworm}}"
suite="${EVALTASKS_DEBIAN_SUITE:-bookworm}"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image $image already exists"
    exit 0
fi

mirror="${EVALTASKS_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    # First Debian archive URI from deb822 sources, else from one-line sources.
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
             | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' \
             | grep -v -- '-security' | grep '/debian/*$' | head -n 1 || true)
fi
if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
             | awk '$1 == "deb" {print $2}' | grep -v -- '-security' \
             | grep '/debian/*$' | head -n 1 || true)
fi
if [ -z "$mirror" ]; then
    echo "error: no Debian mirror found in apt sources; set EVALTASKS_DEBIAN_MIRROR" >&2
    exit 2
fi
command -v debootstrap >/dev/null || {
    echo "error: debootstrap is not installed (apt-get install debootstrap)" >&2
    exit 2
}

rootfs=$(mktemp -d /tmp/evaltasks-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
# Packages whose scripts run as their own user inside the chroot (munge's) must enter it.
chmod 0755 "$rootfs"

echo "debootstrap $suite from $mirror into $rootfs"
debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates${EVALTASKS_EXTRA_PACKAGES:+,$EVALTASKS_EXTRA_PACKAGES} \
    "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 20 "$rootfs.log" >&2
    echo "error: debootstrap failed (full log: $rootfs.log)" >&2
    exit 1
}
rm -f "$rootfs.log"
# Keep the image small: package caches and docs are not needed to run the harness.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale

tar -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$image" >/dev/null
echo "base image $image created"
