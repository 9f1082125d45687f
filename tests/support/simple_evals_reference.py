"""NeMo Evaluator's simple-evals scoring code (the nvidia-simple-evals 26.3 wheel,
MIT), run as it is, for the fidelity tests to compare our per-sample scores with.

The wheel's modules import its whole stack (Hugging Face datasets, nemo-evaluator,
an async HTTP client) at the top; the scoring functions themselves need only
``re``. So this reads the named top-level constants and functions out of a
module's source and executes just those, unchanged, in a namespace with ``re``.
scripts/test.sh downloads the wheel (``reference_wheels``); a missing wheel
fails the tests that compare with it, it does not skip them.
"""

import ast
import re
import warnings
import zipfile

from support import reference_wheels

WHEEL = "nvidia_simple_evals-26.3-py3-none-any.whl"


def wheel_path():
    return reference_wheels.wheel_path(WHEEL, "nvidia-simple-evals==26.3")


def read(path):
    """The text of ``simple_evals/<path>`` in the wheel (a prompt template, say)."""
    with zipfile.ZipFile(wheel_path()) as wheel:
        return wheel.read(f"simple_evals/{path}").decode("utf-8")


def load(module, *names):
    """``{name: object}`` for the top-level constants and functions ``names`` of
    ``simple_evals/<module>.py`` in the wheel (e.g. ``evals/mgsm_eval``)."""
    source = read(f"{module}.py")
    wanted = set(names)
    with warnings.catch_warnings():      # its regexes are written as "\s" in plain strings
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        body = [node for node in ast.parse(source).body if _defines(node) & wanted]
        missing = wanted - set().union(*(_defines(node) for node in body))
        if missing:
            raise AssertionError(f"simple_evals/{module}.py has no {', '.join(sorted(missing))}")
        code = compile(ast.Module(body=body, type_ignores=[]), f"simple_evals/{module}.py", "exec")
    namespace = {"re": re}
    exec(code, namespace)
    return {name: namespace[name] for name in names}


def _defines(node):
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    return set()
