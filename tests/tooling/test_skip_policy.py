"""tests/support/skips.py, the skip policy, on a small suite of its own run by a real
pytest: with EVALTASKS_STRICT_SKIPS (as scripts/test.sh sets it), a skip not
allowed for a named reason fails the run; an allowed one does not; both are
listed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The plugin as the small suite imports it (``import skips``), on its own.
SUPPORT = Path(__file__).resolve().parents[1] / "support"

SUITE = {
    "conftest.py": "import skips\nskips.ALLOWED['no-gpu'] = 'this machine has no GPU'\npytest_plugins = ['skips']\n",
    "test_a.py": "def test_runs():\n    assert True\n",
    "test_allowed.py": "from skips import allowed_skip\n\n"
                       "def test_gpu():\n    allowed_skip('no-gpu', 'needs a GPU')\n",
}


def run_suite(folder, files, strict):
    for name, text in files.items():
        (folder / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "EVALTASKS_STRICT_SKIPS")}
    env.update(PYTHONPATH=str(SUPPORT), **({"EVALTASKS_STRICT_SKIPS": "1"} if strict else {}))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("where", ["test", "module"])
def test_an_unexpected_skip_fails_a_strict_run_and_is_named(tmp_path, where):
    skipping = ("import pytest\n\ndef test_server():\n    pytest.skip('llama_cpp.server is not installed')\n"
                if where == "test" else
                "import pytest\npytest.importorskip('no_such_module_here', reason='llama_cpp.server is not installed')\n"
                "\ndef test_server():\n    pass\n")
    files = dict(SUITE, **{"test_skipping.py": skipping})
    strict = run_suite(tmp_path, files, strict=True)
    assert strict.returncode == 1, strict.stdout
    assert "unexpected skips (these fail the run" in strict.stdout
    assert "test_skipping.py" in strict.stdout and "llama_cpp.server is not installed" in strict.stdout
    # -rs lists every skip, the allowed one too.
    assert "allowed skip [no-gpu]: needs a GPU" in strict.stdout
    lenient = run_suite(tmp_path, files, strict=False)
    assert lenient.returncode == 0 and "CI would fail on these" in lenient.stdout, lenient.stdout


def test_allowed_skips_pass_a_strict_run_and_unknown_reasons_are_an_error(tmp_path):
    allowed = run_suite(tmp_path, SUITE, strict=True)
    assert allowed.returncode == 0, allowed.stdout
    assert "1 passed, 1 skipped" in allowed.stdout and "unexpected skips" not in allowed.stdout
    typo = dict(SUITE, **{"test_allowed.py": "from skips import allowed_skip\n\n"
                                             "def test_gpu():\n    allowed_skip('no-gpus', 'needs a GPU')\n"})
    wrong = run_suite(tmp_path, typo, strict=True)
    assert wrong.returncode == 1 and "'no-gpus' is not an allowed skip reason" in wrong.stdout, wrong.stdout
