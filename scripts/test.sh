#!/usr/bin/env bash
# Set up (scripts/setup.sh), then install what only the tests use — the test
# extra, the MLflow and W&B extras, Debian's chromium, the reference wheels —,
# start a single-node Slurm cluster for the Slurm tests (scripts/slurm-cluster.sh;
# stopped again at exit, whatever happens), and run the whole test suite, Docker
# and Slurm tests included. It runs with the Python set-up installed evaltasks
# into (.venv in the checkout when python3 is externally managed), first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/setup.sh         # apt_install, pip_install, evaltasks_python
log() { echo "[test] $*"; }

test_tools() {
    # The test extra (pytest, the harness's requirements for the tests that run
    # harness code on the host, Playwright); MLflow (about 850 MB) for the MLflow
    # export's test (tests/e2e/docker/test_reports.py fails without it under CI=true); W&B for
    # the W&B export's test (tests/e2e/docker/test_report_pages.py reads an offline run back).
    log "installing the test, mlflow and wandb extras (pip install -e .[test,mlflow,wandb])"
    pip_install -e '.[test,mlflow,wandb]'
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
            "$(evaltasks_python)" -m pip download --quiet --disable-pip-version-check --no-deps --dest "$dir" "${spec%%:*}"
        fi
    done
}

test_tools
py=$(evaltasks_python)
# As `. .venv/bin/activate` would: the tests' own `python3`/`evaltasks` are this install's.
if [ "$py" != python3 ]; then export PATH="$(dirname "$py"):$PATH"; fi
# Where every user can enter (munge's socket is in it): not under a private folder.
slurm_dir=$(mktemp -d /tmp/evaltasks-slurm-tests.XXXXXX)
chmod 755 "$slurm_dir"
trap 'bash scripts/slurm-cluster.sh stop "$slurm_dir" >/dev/null || true; rm -rf "$slurm_dir"' EXIT
bash scripts/slurm-cluster.sh start "$slurm_dir"
export SLURM_CONF="$slurm_dir/slurm.conf"
# A skip not allowed for a named reason fails the run (tests/support/skips.py); -rs lists them all.
export EVALTASKS_STRICT_SKIPS=1
"$py" -m pytest -q tests
