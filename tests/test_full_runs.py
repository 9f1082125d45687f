"""bbh, the three gpqa subsets and mbpp (sanitized) whole, at parallelism 32, through doit and a
real harness container, against a scripted endpoint that answers every question
in the reference's format, right, wrong or malformed as seeded by the benchmark's
own test: the scores are exactly what those draws imply.

Run with ``-s`` to see each run's wall time and the launcher's peak memory
(bench/RESULTS.md records them)."""

import json
import subprocess
import sys
import time

import pytest

from conftest import REPO, write_config
from endpoint import FakeEndpoint

pytestmark = pytest.mark.docker
PARALLELISM = 32
QUESTION = "Q: {}\nA: Let's think step by step.\n"


def bbh_case():
    import test_bbh

    rows = test_bbh.raw_rows()
    replies = test_bbh.script(rows)
    right = test_bbh.expected_right(rows, replies)

    def respond(payload):
        question = payload["messages"][-1]["content"]
        assert question.startswith("Q: ") and question.endswith(QUESTION.format("")[3:])
        return replies[question[3:-len(QUESTION.format("")[3:])]][2]

    per_task = {}
    for (task, _, _), ok in zip(rows, right):
        per_task.setdefault(task, []).append(ok)
    expected = {f"exact_match/{t}": sum(v) / len(v) for t, v in per_task.items()}
    expected["exact_match"] = sum(right) / len(rows)
    expected["exact_match_macro"] = sum(expected[f"exact_match/{t}"] for t in per_task) / len(per_task)
    return "bbh", respond, expected, len(rows), {}


def gpqa_case(subset):
    import test_gpqa

    wrong, malformed = test_gpqa.seeded_split(subset)
    model = test_gpqa.ScriptedModel(subset, wrong, malformed)
    rows = test_gpqa.official_rows(subset)
    right = [r for r in rows if r["Record ID"] not in wrong | malformed]
    expected = {"accuracy": len(right) / len(rows)}
    for domain in ("Physics", "Chemistry", "Biology"):
        of_domain = [r for r in rows if r["High-level domain"] == domain]
        expected[f"accuracy/{domain}"] = sum(r in right for r in of_domain) / len(of_domain)
    return f"gpqa_{subset}", lambda payload: model(payload["messages"][-1]["content"]), expected, len(rows), {}


def mbpp_case():
    import test_mbpp

    respond, right = test_mbpp.seeded_mix()
    assert 0.3 < len(right) / 257 < 0.8
    # The machine is shared: a generous timeout keeps slow-but-correct programs (task 123) passing.
    return "mbpp", respond, {"pass@1": len(right) / 257}, 257, {"config.params.extra.timeout": 30.0}


CASES = {"bbh": bbh_case, "mbpp": mbpp_case, **{f"gpqa_{s}": (lambda s=s: gpqa_case(s)) for s in ("main", "extended", "diamond")}}


def run_whole(case, tmp_path):
    """One whole benchmark through doit: (results.json, expected, size, wall
    seconds, peak resident memory of the launcher in MiB)."""
    task, respond, expected, size, overrides = CASES[case]()
    out = tmp_path / "out"
    with FakeEndpoint(respond) as ep:
        cfg = write_config(tmp_path / f"{case}.yaml", ep.chat_url, out, tasks=[
            {"name": task, "overrides": {"config.params.parallelism": PARALLELISM, **overrides}}])
        # A parent that runs doit and reports the peak RSS of the child it waited for.
        probe = ("import resource, subprocess, sys\n"
                 "rc = subprocess.run(sys.argv[1:]).returncode\n"
                 "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
                 "sys.exit(rc)\n")
        start = time.monotonic()
        run = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "doit", "-n", "1", f"config={cfg}"],
                             cwd=REPO, capture_output=True, text=True, timeout=3600)
        wall = time.monotonic() - start
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    peak_kb = int(run.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    results = json.loads((out / task / "results.json").read_text())
    assert not list(out.rglob("gpqa_*.csv")), "an unpacked gpqa file was left in the output"
    return results, expected, size, wall, peak_kb / 1024


@pytest.mark.parametrize("case", sorted(CASES))
def test_whole_benchmark_scores_exactly_what_the_replies_imply(case, tmp_path):
    results, expected, size, wall, peak = run_whole(case, tmp_path)
    assert results["samples"] == size and results["failed_samples"] == 0
    assert results["params"]["parallelism"] == PARALLELISM
    for name, value in expected.items():
        assert results["metrics"][name]["value"] == pytest.approx(value, abs=1e-12), name
    print(f"\n{case}: {size} samples in {wall:.1f} s, launcher peak {peak:.0f} MiB")
