"""lm-evaluation-harness as released (the lm_eval 0.4.13 wheel, MIT), for the
fidelity tests to compare with: its bbh_cot_fewshot task files and its filter
classes, run as they are.

The wheel is imported from the zip without installing it: its filters
(``lm_eval.filters``) need only the standard library, while installing the
package would pull in its whole stack (datasets, evaluate, scikit-learn, …).
scripts/test.sh downloads it (``reference_wheels``); a missing wheel fails the tests
that compare with it, it does not skip them.
"""

import sys
import zipfile

import pytest
import yaml

from support import reference_wheels

WHEEL = "lm_eval-0.4.13-py3-none-any.whl"
BBH = "lm_eval/tasks/bbh/cot_fewshot"


def wheel_path():
    return reference_wheels.wheel_path(WHEEL, "lm_eval==0.4.13")


def bbh_config(task=None):
    """A bbh_cot_fewshot task file of the wheel as a mapping (the shared template without ``task``)."""
    name = f"{BBH}/{task}.yaml" if task else f"{BBH}/_cot_fewshot_template_yaml"
    with zipfile.ZipFile(wheel_path()) as wheel:
        return yaml.safe_load(wheel.read(name).decode("utf-8"))


def filters():
    """The ``lm_eval.filters`` package, imported from the wheel."""
    path = str(wheel_path())
    if path not in sys.path:
        sys.path.append(path)      # last: an installed lm_eval, if any, is not shadowed by accident
    import lm_eval.filters

    if not lm_eval.filters.__file__.startswith(path):
        pytest.fail(f"lm_eval.filters came from {lm_eval.filters.__file__}, not {path}")
    return lm_eval.filters
