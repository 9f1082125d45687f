#!/usr/bin/env bash
# Set up a machine to run evaltasks: install the package, make sure a Docker
# daemon answers (installing Debian's docker.io and starting dockerd when none
# does), and make the base image when it is missing. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[setup] $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

log "installing evaltasks (pip install -e .[test])"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'

apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1; then
        log "no Docker engine: installing docker.io"
        apt_install docker.io
    fi
    if ! docker info >/dev/null 2>&1; then
        log "starting dockerd (log: /tmp/evaltasks-dockerd.log)"
        as_root sh -c 'nohup dockerd >/tmp/evaltasks-dockerd.log 2>&1 &'
        for _ in $(seq 1 60); do
            docker info >/dev/null 2>&1 && break
            sleep 1
        done
        docker info >/dev/null 2>&1 || {
            tail -n 20 /tmp/evaltasks-dockerd.log >&2
            echo "[setup] error: dockerd did not come up" >&2
            exit 1
        }
    fi
fi
log "Docker $(docker version --format '{{.Server.Version}}') answers"

base="${EVALTASKS_BASE_IMAGE:-evaltasks-base:bookworm}"
if ! docker image inspect "$base" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || { log "installing debootstrap"; apt_install debootstrap; }
    log "making base image $base (debootstrap + docker import, a few minutes)"
    as_root env EVALTASKS_BASE_IMAGE="$base" bash scripts/make-base-image.sh "$base"
fi
log "base image $base is ready"
