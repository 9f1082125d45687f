"""Where the fidelity tests find the references' released wheels, which
scripts/test.sh (``reference_wheels``) downloads without installing them. A
missing wheel fails the test that compares with it: a skip would leave the suite
green without having compared anything."""

import os
from pathlib import Path

import pytest


def wheel_path(wheel, requirement):
    """The wheel file ``wheel`` of ``requirement`` (``name==version``) in the cache."""
    root = os.environ.get("EVALTASKS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "evaltasks")
    path = Path(root) / "reference" / wheel
    if not path.is_file():
        pytest.fail(f"reference wheel {path} not found: these tests compare with it "
                    f"(bash scripts/test.sh downloads it, or: pip download --no-deps "
                    f"{requirement} -d {path.parent})")
    return path
