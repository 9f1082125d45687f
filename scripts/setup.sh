#!/usr/bin/env bash
# Set up a machine to run evaltasks: install the package, make sure a Docker
# daemon answers (installing Debian's docker.io and starting dockerd when none
# does), make the base image when it is missing, and install the demo model and
# make the llama.cpp server image (scripts/setup-llama.sh; nothing is compiled).
# Only what the demo and the tests use by default: the MLflow extra, which only
# `export --dest mlflow` needs, is installed by scripts/test.sh. Safe to run again.
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

main() {
    cd "$(dirname "$0")/.."
    log "installing evaltasks (pip install -e .[test])"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'

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

    # The model server's image and the demo model (the README's main command).
    if [ "${EVALTASKS_SKIP_LLAMA:-0}" = 1 ]; then
        log "EVALTASKS_SKIP_LLAMA=1: no demo model, no llama.cpp server image (the first llama_cpp run makes it)"
    else
        bash scripts/setup-llama.sh
    fi
    report_tools
    reference_wheels
}

# -- report/compare/export (issue 11) -------------------------------------
# The HTML report's tests open it in Debian's chromium (driven by Playwright,
# from the test extra).
report_tools() {
    if ! command -v chromium >/dev/null 2>&1; then
        log "installing chromium (headless browser for the HTML report tests, about a minute)"
        apt_install chromium
    fi
}

# -- benchmark fidelity (issue 19) ------------------------------------------
# The fidelity tests run the references' own code from their released wheels,
# read without installing them (their dependencies are not needed for it):
# NeMo Evaluator's simple-evals scorers (tests/support/simple_evals_reference.py) and
# lm-eval's filters and bbh task files (tests/support/lm_eval_reference.py).
reference_wheels() {
    local dir="${EVALTASKS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/evaltasks}/reference" spec file
    for spec in nvidia-simple-evals==26.3:nvidia_simple_evals-26.3 lm_eval==0.4.13:lm_eval-0.4.13; do
        file=${spec#*:}
        if ! ls "$dir/$file"-*.whl >/dev/null 2>&1; then
            log "downloading the ${spec%%:*} wheel (reference code for the tests) into $dir"
            python3 -m pip download --quiet --disable-pip-version-check --no-deps --dest "$dir" "${spec%%:*}"
        fi
    done
}

# Sourced (the tests do), it only defines the functions above.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
