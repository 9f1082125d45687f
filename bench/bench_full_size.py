"""Whole benchmarks through doit and a real harness container at parallelism 32,
against the scripted endpoint of tests/e2e/docker/test_full_size.py (which asserts the exact
scores): wall time of the run and the launcher's peak resident memory.

    python bench/bench_full_size.py [mmlu math mgsm aime_2024 aime_2025]

The wall time includes starting the container (the harness image already
built); the peak is the largest resident set of the doit process (and anything
it waited for), from getrusage. Record the figures in bench/RESULTS.md with the
machine, its load and the date.
"""

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]       # this checkout, not an installed copy

from conftest import catalog_layout  # noqa: E402
from e2e.docker.test_full_size import CASES, run_full  # noqa: E402


def main():
    cases = sys.argv[1:] or list(CASES)
    with tempfile.TemporaryDirectory(prefix="bench-full-") as scratch:
        root = Path(scratch) / "datasets"
        root.mkdir()
        catalog_layout(root)
        os.environ["EVALTASKS_DATA_DIR"] = str(root)
        os.environ.setdefault("EVALTASKS_STATE_DIR", str(Path(scratch) / "state"))
        print(f"{'benchmark':<10} {'samples':>8} {'wall s':>7} {'launcher MiB':>13}  headline")
        for case in cases:
            folder = Path(scratch) / case
            folder.mkdir()
            results, _, expected, size, wall, peak = run_full(case, root, folder)
            name = "accuracy" if "accuracy" in expected else "pass@1"
            got = results["metrics"][name]["value"]
            assert abs(got - expected[name]) < 1e-12, (case, name, got, expected[name])
            print(f"{case:<10} {size:>8} {wall:>7.1f} {peak:>13.0f}  {name}={got:.4f} (as scripted)")


if __name__ == "__main__":
    main()
