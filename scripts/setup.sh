#!/usr/bin/env bash
# Set up a machine to run the demo: install the package, make sure a Docker
# daemon answers (installing Debian's docker.io and starting dockerd when none
# does), make the base image when it is missing, and install the demo model and
# make the llama.cpp server image (scripts/setup-llama.sh; nothing is compiled).
# Only what the demo uses: what only the tests use (the test extra, chromium,
# the reference wheels, the MLflow and W&B extras) is installed by
# scripts/test.sh. Safe to run again.
#
# Where the package goes: into the Python that runs `python3`, unless that one is
# "externally managed" (PEP 668: Debian's and Ubuntu's python3, where pip refuses
# to install): then into a venv in the checkout, .venv, made here (`. .venv/bin/activate`
# puts `evaltasks` on PATH; demo.sh and test.sh run through it). Inside an active
# venv, that venv. `evaltasks_python` says which; the other scripts ask it.
#
# On a fresh machine another apt or dpkg (unattended-upgrades, a cloud init
# script) often holds apt's locks for a while: setup waits for them, up to
# EVALTASKS_APT_LOCK_WAIT seconds (default 600), instead of failing at once.
set -euo pipefail

log() { echo "[setup] $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_lock_wait="${EVALTASKS_APT_LOCK_WAIT:-600}"
# apt-get update takes the lists lock, apt-get install the dpkg ones.
apt_locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)

held_apt_lock() {
    # Prints the first of the lock files another process holds (apt and dpkg
    # take them with fcntl, as lockf does); fails when none is held.
    as_root python3 -c '
import fcntl, os, sys
for path in sys.argv[1:]:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        continue
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(path)
        sys.exit(0)
    finally:
        os.close(fd)
sys.exit(1)' "${apt_locks[@]}"
}

wait_for_apt_locks() {
    local holder waited=0
    while holder=$(held_apt_lock); do
        if [ "$waited" = 0 ]; then
            log "another apt/dpkg holds $holder: waiting for it (at most ${apt_lock_wait}s)"
        fi
        if [ "$waited" -ge "$apt_lock_wait" ]; then
            echo "[setup] error: $holder still held after ${apt_lock_wait}s; let the other apt/dpkg finish" \
                 "(or raise EVALTASKS_APT_LOCK_WAIT), then run this again" >&2
            return 1
        fi
        sleep 2
        waited=$((waited + 2))
    done
}

apt_updated=
apt_get() {
    wait_for_apt_locks
    # The timeout also covers a lock taken between our check and apt's own.
    DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout="$apt_lock_wait" "$@"
}
apt_install() {
    if [ -z "$apt_updated" ]; then apt_get update -qq; apt_updated=1; fi
    apt_get install -y -qq "$@" >/dev/null
}

checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The Python evaltasks is installed into and run with (see the top): always the
# same answer for the same python3, so every script finds the same install.
evaltasks_python() {
    if python3 -c '
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if not in_venv and os.path.exists(marker) else 1)'; then
        echo "$checkout/.venv/bin/python"
    else
        echo python3
    fi
}

# Makes the checkout's venv when evaltasks_python names it and it is not there yet.
ensure_python() {
    local py
    py=$(evaltasks_python)
    [ "$py" = python3 ] || [ -x "$py" ] && return 0
    log "python3 is externally managed (PEP 668): installing into a venv, $checkout/.venv"
    if ! python3 -m venv "$checkout/.venv" >/dev/null 2>&1; then
        # Debian's python3 makes venvs only with python3-venv (ensurepip).
        rm -rf "$checkout/.venv"
        log "installing python3-venv"
        apt_install python3-venv
        python3 -m venv "$checkout/.venv"
    fi
}

pip_install() {
    "$(evaltasks_python)" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"
}

main() {
    cd "$checkout"
    ensure_python
    log "installing evaltasks (pip install -e . into $(evaltasks_python))"
    pip_install -e .

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

    # The harness base image and the model server's image are both debootstrapped,
    # mostly waiting on the mirror and dpkg: made side by side, the demo model's
    # download alongside (scripts/setup-llama.sh).
    base="${EVALTASKS_BASE_IMAGE:-evaltasks-base:bookworm}"
    local base_pid="" base_rc=0 llama_rc=0
    if ! docker image inspect "$base" >/dev/null 2>&1 || [ "${EVALTASKS_SKIP_LLAMA:-0}" != 1 ]; then
        command -v debootstrap >/dev/null 2>&1 || { log "installing debootstrap"; apt_install debootstrap; }
    fi
    if ! docker image inspect "$base" >/dev/null 2>&1; then
        log "making base image $base (debootstrap + docker import, a few minutes)"
        as_root env EVALTASKS_BASE_IMAGE="$base" bash scripts/make-base-image.sh "$base" &
        base_pid=$!
    fi
    if [ "${EVALTASKS_SKIP_LLAMA:-0}" = 1 ]; then
        log "EVALTASKS_SKIP_LLAMA=1: no demo model, no llama.cpp server image (the first llama_cpp run makes it)"
    else
        bash scripts/setup-llama.sh || llama_rc=$?
    fi
    if [ -n "$base_pid" ]; then wait "$base_pid" || base_rc=$?; fi
    [ "$base_rc" = 0 ] || { echo "[setup] error: making the base image $base failed (above)" >&2; exit "$base_rc"; }
    log "base image $base is ready"
    [ "$llama_rc" = 0 ] || exit "$llama_rc"
}

# Sourced (the tests do), it only defines the functions above.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
