"""The suite's skip policy, a pytest plugin (loaded by conftest.py).

A skipped test checked nothing, and a suite that skips is green without having
checked it: in CI (``CI`` or ``EVALTASKS_STRICT_SKIPS`` set to a true value, as
scripts/test.sh does) the session fails on any skip whose reason is not one
named in ``ALLOWED``. A test that may skip says why through ``allowed_skip``.
Every run lists its skips at the end (``-rs`` in pyproject's addopts), and
this plugin adds the unexpected ones under their own heading.
"""

import os

import pytest

# name → why a test may skip in CI for it. Empty: today no test may skip in CI
# (the real-model tests need llama-cpp-python, which the repo's scripts install).
ALLOWED = {}

_PREFIX = "allowed skip "


def allowed_skip(name, detail):
    """Skip the running test for the allowed reason ``name`` (a key of ALLOWED)."""
    if name not in ALLOWED:
        raise KeyError(f"{name!r} is not an allowed skip reason (tests/support/skips.py ALLOWED: {', '.join(ALLOWED)})")
    pytest.skip(f"{_PREFIX}[{name}]: {detail}")


def strict():
    return any(os.environ.get(var, "").lower() in ("1", "true", "yes") for var in ("CI", "EVALTASKS_STRICT_SKIPS"))


def _reason(report):
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def _is_allowed(reason):
    return any(reason.startswith(f"{_PREFIX}[{name}]:") for name in ALLOWED)


_unexpected = []


def _note(report):
    if report.skipped and not hasattr(report, "wasxfail") and not _is_allowed(_reason(report)):
        _unexpected.append((report.nodeid, _reason(report)))


def pytest_runtest_logreport(report):
    _note(report)


def pytest_collectreport(report):
    _note(report)


def pytest_terminal_summary(terminalreporter):
    if _unexpected:
        verdict = "these fail the run" if strict() else "CI would fail on these"
        terminalreporter.section(f"unexpected skips ({verdict}; allowed reasons: tests/support/skips.py)", red=True)
        for nodeid, reason in _unexpected:
            terminalreporter.line(f"{nodeid}: {reason}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if _unexpected and strict() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
