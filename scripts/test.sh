#!/usr/bin/env bash
# Set up (scripts/setup.sh) plus the mlflow extra the MLflow test needs, start a
# single-node Slurm cluster for the Slurm tests (scripts/slurm-cluster.sh; stopped
# again at exit, whatever happens), and run the whole test suite, Docker and Slurm tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Only the MLflow export's test needs the mlflow extra (about 850 MB): the tests
# install it, not set-up (tests/e2e/docker/test_reports.py fails without it under CI=true).
if ! python3 -c 'import mlflow' >/dev/null 2>&1; then
    echo "[test] installing the mlflow extra (pip install -e .[mlflow])"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[mlflow]'
fi
# The W&B export's test (tests/e2e/docker/test_report_pages.py) reads an offline run back; setup.sh leaves wandb out.
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[wandb]'
# Where every user can enter (munge's socket is in it): not under a private folder.
slurm_dir=$(mktemp -d /tmp/evaltasks-slurm-tests.XXXXXX)
chmod 755 "$slurm_dir"
trap 'bash scripts/slurm-cluster.sh stop "$slurm_dir" >/dev/null || true; rm -rf "$slurm_dir"' EXIT
bash scripts/slurm-cluster.sh start "$slurm_dir"
export SLURM_CONF="$slurm_dir/slurm.conf"
# A skip not allowed for a named reason fails the run (tests/support/skips.py); -rs lists them all.
export EVALTASKS_STRICT_SKIPS=1
python3 -m pytest -q tests
