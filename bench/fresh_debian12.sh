#!/usr/bin/env bash
# The README's demo on a fresh Debian 12 machine, timed (issue 20's acceptance:
# first run <= 6 min with no C++ compile, second run <= 2.5 min).
#
# The "machine" is a container with a Docker daemon of its own (see the run below),
# from an image made here as a Debian 12 cloud image starts: `debootstrap
# --variant=minbase bookworm` plus python3, python3-venv, python3-pip, git,
# ca-certificates and curl (Debian's python3 there is externally managed, PEP 668).
# Its /var/lib/docker is a fresh volume (a real disk, as on a machine, where
# overlayfs works). The checkout's HEAD is cloned inside; ../shared beside this
# checkout, when there, is mounted read-only beside the clone, as a user's data
# folder would be (demo.sh reads ../shared/datasets; without it the run
# downloads the datasets). Then `bash scripts/demo.sh` three times (first, second,
# and with --force), each timed, with the load average before and after. Logs go to OUT (default a new /tmp folder).
#
#   bash bench/fresh_debian12.sh [OUT]
# EXTRA_CA_CERTS: certificate files the fresh machine should trust besides
# Debian's (an HTTPS proxy's). KEEP=1 leaves the container and its volume.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
image=evaltasks-fresh-debian12:minbase
name=evaltasks-fresh-$$
out=${1:-$(mktemp -d /tmp/evaltasks-fresh.XXXXXX)}
mkdir -p "$out"
mirror=${EVALTASKS_DEBIAN_MIRROR:-http://deb.debian.org/debian}

make_image() {
    local rootfs cert
    rootfs=$(mktemp -d /tmp/evaltasks-fresh-rootfs.XXXXXX)
    echo "debootstrap bookworm (minbase + a cloud image's python3, git, curl) into $rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,git,ca-certificates,curl \
        bookworm "$rootfs" "$mirror" >"$out/debootstrap.log" 2>&1
    for cert in ${EXTRA_CA_CERTS:-}; do
        cp "$cert" "$rootfs/usr/local/share/ca-certificates/$(basename "${cert%.*}").crt"
    done
    [ -z "${EXTRA_CA_CERTS:-}" ] || chroot "$rootfs" update-ca-certificates >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["sleep", "infinity"]' - "$image" >/dev/null
    rm -rf "$rootfs"
}

docker image inspect "$image" >/dev/null 2>&1 || make_image
git -C "$repo" bundle create "$out/checkout.bundle" HEAD 2>/dev/null
shared=()
[ -d "$repo/../shared" ] && shared=(-v "$(cd "$repo/../shared" && pwd):/root/shared:ro")
if [ "${KEEP:-0}" != 1 ]; then
    trap 'docker rm -f "$name" >/dev/null 2>&1 || true; docker volume rm "$name-docker" >/dev/null 2>&1 || true' EXIT
fi
# As privileged as this host's Docker allows (--privileged needs CAP_SYS_RESOURCE,
# which some hosts cannot grant): every other capability, no seccomp/AppArmor
# filter, all devices, and a cgroup namespace of its own whose hierarchies are
# mounted read-write at "boot", as a machine's init would, for its dockerd.
docker run -d --name "$name" --cgroupns private --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    --device-cgroup-rule 'a *:* rwm' -v "$name-docker:/var/lib/docker" -v "$out:/out" "${shared[@]}" \
    "$image" >/dev/null
docker exec "$name" sh -c 'mount -o remount,rw /sys
for d in /sys/fs/cgroup/*; do
    s=$(basename "$d"); umount "$d"
    if [ "$s" = systemd ]; then mount -t cgroup -o none,name=systemd cgroup "$d"; else mount -t cgroup -o "$s" cgroup "$d"; fi
done'
docker exec "$name" git clone -q /out/checkout.bundle /root/evaltasks
echo "machine: container $name ($image), $(nproc) cores, commit $(git -C "$repo" rev-parse --short HEAD); logs in $out"

# CPU time (user + sys) of everything on the machine, its containers included
# (they sit in its cgroup): what the demo costs whatever the load around it.
cpu_seconds() {
    local id
    id=$(docker inspect -f '{{.Id}}' "$name")
    echo "scale=1; $(cat "/sys/fs/cgroup/cpuacct/docker/$id/cpuacct.usage" 2>/dev/null || echo 0) / 1000000000" | bc
}

# first: everything from nothing; second: as a user reruns it (all up to date);
# forced: the evaluation again (`--force`), the set-up and images already there.
# Each output line is prefixed with the seconds since the run started.
for run in first second forced; do
    args=()
    [ "$run" = forced ] && args=(--force)
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    cpu_before=$(cpu_seconds)
    started=$(date +%s.%N)
    SECONDS=0
    docker exec -w /root/evaltasks "$name" bash scripts/demo.sh "${args[@]}" 2>&1 \
        | while IFS= read -r line; do printf '%4ds %s\n' "$SECONDS" "$line"; done >"$out/demo-$run.log"
    rc=${PIPESTATUS[0]}
    wall=$(echo "$(date +%s.%N) - $started" | bc)
    cpu=$(echo "$(cpu_seconds) - $cpu_before" | bc)
    printf '%s run: %.0f s (%d min %02d s), exit %d, CPU time %.0f s, load average %s -> %s\n' "$run" "$wall" \
        "$(echo "$wall / 60" | bc)" "$(echo "$wall % 60 / 1" | bc)" "$rc" "$cpu" "$load_before" \
        "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/times.txt"
    [ "$rc" = 0 ] || { tail -n 30 "$out/demo-$run.log"; exit "$rc"; }
done
# Did anything compile? (a C++ compiler on the machine would be the first sign)
docker exec "$name" sh -c 'command -v c++ g++ cmake || echo "no C++ compiler on the machine"' | tee -a "$out/times.txt"
