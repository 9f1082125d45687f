#!/usr/bin/env bash
# Set up (scripts/setup.sh), start a single-node Slurm cluster for the Slurm tests
# (scripts/slurm-cluster.sh; stopped again at exit, whatever happens), and run the
# whole test suite, Docker and Slurm tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The W&B export's test (tests/test_report_pages.py) reads an offline run back; setup.sh leaves wandb out.
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[wandb]'
# Where every user can enter (munge's socket is in it): not under a private folder.
slurm_dir=$(mktemp -d /tmp/evaltasks-slurm-tests.XXXXXX)
chmod 755 "$slurm_dir"
trap 'bash scripts/slurm-cluster.sh stop "$slurm_dir" >/dev/null || true; rm -rf "$slurm_dir"' EXIT
bash scripts/slurm-cluster.sh start "$slurm_dir"
export SLURM_CONF="$slurm_dir/slurm.conf"
# A skip not allowed for a named reason fails the run (tests/skips.py); -rs lists them all.
export EVALTASKS_STRICT_SKIPS=1
python3 -m pytest -q tests
