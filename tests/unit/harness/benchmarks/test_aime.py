r"""aime_2024 / aime_2025 against NeMo Evaluator's ``simple_evals.aime_20XX_nemo``
(nvidia-simple-evals 26.3, read from its wheel: tests/support/simple_evals_reference.py).

Reference code that ran here: the ``nemo_math.template`` prompt (formatted as
``MathEval`` does: stripped, then ``.format(Question=...)``) and
``math_grading.nemo_grader.extract_answer`` (the boxed-answer extraction), per
reply. Its score without a judge is ``extracted == gold`` as strings; ours compares
values, so the per-sample comparison is made on replies that box the gold as
written, and ``073`` (right here, wrong there) is the one known difference.
"""

import json

import pytest

from support import simple_evals_reference
from conftest import evaltasks_cli, write_config
from support.endpoint import FakeEndpoint
from support.scripted import KINDS, run_task

from evaltasks.harness.benchmarks import aime
from evaltasks.harness.datasets import DatasetError

SEED = 1000        # repeat r of a problem is sent with seed SEED + r: the scripted model tells them apart
OFFICIAL_2025 = [70, 588, 16, 117, 279, 504, 821, 77, 62, 81, 259, 510, 204, 60, 735,
                 468, 49, 82, 106, 336, 293, 237, 610, 149, 907, 113, 19, 248, 104, 240]


def reference():
    template = simple_evals_reference.read("configs/templates/nemo_math.template").strip()
    return dict(simple_evals_reference.load("evals/math_grading/nemo_grader", "extract_answer"), template=template)


@pytest.fixture(scope="module")
def ref():
    return reference()


def rows(data_dir, name):
    return [json.loads(line) for line in (data_dir / name / "test.jsonl").read_text().splitlines() if line.strip()]


def plan(name, n, k, seed):
    """A seeded kind for each (problem, repeat)."""
    import random

    rng = random.Random(f"{seed}-{name}")
    return [[rng.choices(KINDS, (5, 3, 2))[0] for _ in range(k)] for _ in range(n)]


def reply(kind, gold, r):
    """Right: the gold boxed (zero-padded to 3 digits on every third repeat);
    wrong: one of two wrong values, boxed; malformed: no ``\boxed{}`` to read."""
    gold = int(gold)
    if kind == "right":
        return (f"Reasoning.\nSo the answer is $\\boxed{{{gold}}}$.", f"Thus \\boxed{{{gold}}}",
                f"Final: \\boxed{{{gold:03d}}}")[r % 3]
    if kind == "wrong":
        return f"I get \\boxed{{{(gold + 1 + r % 2) % 1000}}}."
    return (f"The answer is {gold}.", f"\\fbox{{{gold}}}")[r % 2]


def expected(kinds, golds):
    """pass@1 (avg@k), maj@k and pass@k from the kinds alone."""
    avg, maj, anyright = [], [], []
    for repeats, gold in zip(kinds, golds):
        avg.append(sum(k == "right" for k in repeats) / len(repeats))
        anyright.append(float("right" in repeats))
        votes = [int(gold) if k == "right" else (int(gold) + 1 + r % 2) % 1000 if k == "wrong" else None
                 for r, k in enumerate(repeats)]
        counted = [v for v in votes if v is not None]
        if counted:
            top = max(counted.count(v) for v in counted)
            winner = next(v for v in counted if counted.count(v) == top)
            maj.append(float(winner == int(gold)))
        else:
            maj.append(0.0)
    mean = lambda xs: sum(xs) / len(xs)
    k = len(kinds[0])
    return {"pass@1": mean(avg), f"maj@{k}": mean(maj), f"pass@{k}": mean(anyright)}


def responder(ref, raw, kinds):
    by_prompt = {ref["template"].format(Question=r["problem"]): i for i, r in enumerate(raw)}

    def respond(payload):
        i = by_prompt[payload["messages"][-1]["content"]]
        r = payload["seed"] - SEED
        return reply(kinds[i][r], raw[i]["expected_answer"], r)
    return respond


@pytest.mark.parametrize("name, first_id", [("aime_2024", "aime24-0"), ("aime_2025", "aime25-0")])
def test_loads_30_integer_answers(data_dir, name, first_id):
    items = aime.load(str(data_dir / name))
    assert len(items) == 30 and items[0]["id"] == first_id
    assert all(0 <= int(i["gold"]) <= 999 for i in items)
    if name == "aime_2025":
        assert [int(i["gold"]) for i in items] == OFFICIAL_2025


def test_every_prompt_is_the_reference_prompt(data_dir, ref):
    for name in ("aime_2024", "aime_2025"):
        for item, row in zip(aime.load(str(data_dir / name)), rows(data_dir, name)):
            assert aime.prompt(item, {}) == [{"role": "user", "content": ref["template"].format(Question=row["problem"])}]


TRICKY = ["\\boxed{204}", "$\\boxed{204}$.", "first \\boxed{5} then \\boxed{204}", "\\boxed{\\boxed{204}}",
          "\\boxed{204", "\\boxed{5} and \\boxed{204", "\\fbox{204}", "\\boxed 204", "\\boxed {204}",
          "\\boxed 5 and \\boxed{204}", "\\boxed{}", "\\boxed{\\text{204}}", "\\boxed{204}}", "no box", "",
          "\\boxed}{204}", "x \\boxed{2{0}4} y"]


@pytest.mark.parametrize("text", TRICKY)
def test_extraction_is_the_reference_extraction(ref, text):
    assert aime.extract(text) == ref["extract_answer"](text)


@pytest.mark.parametrize("name", ["aime_2024", "aime_2025"])
def test_scripted_repeats_score_exactly(tmp_path, data_dir, ref, name):
    raw = rows(data_dir, name)
    kinds = plan(name, len(raw), 4, "aime")
    with FakeEndpoint(responder(ref, raw, kinds)) as ep:
        results, samples = run_task(tmp_path / name, ep.chat_url, name, temperature=0.7, seed=SEED,
                                    extra={"n_samples": 4})
    assert results["samples"] == 120
    want = expected(kinds, [r["expected_answer"] for r in raw])
    for metric, value in want.items():
        assert results["metrics"][metric]["value"] == pytest.approx(value, abs=1e-12), metric
        assert results["metrics"][metric]["n"] == 30
    assert results["metrics"]["pass@1"]["stderr"] > 0
    for s in samples:
        i = next(j for j, r in enumerate(raw) if r["id"] == s["id"])
        assert s["score"] == float(kinds[i][s["sample"]] == "right")
        assert s["extracted"] == ref["extract_answer"](s["response"])
        if s["extracted"] == raw[i]["expected_answer"] or kinds[i][s["sample"]] != "right":
            assert s["score"] == float(ref["extract_answer"](s["response"]) == raw[i]["expected_answer"])


@pytest.mark.parametrize("row, problem", [
    ({"id": "x", "problem": "p", "expected_answer": "1000"}, "test.jsonl:2: not an AIME row (expected_answer '1000'"),
    ({"id": "x", "problem": "p", "expected_answer": 7}, "test.jsonl:2: not an AIME row (expected_answer 7"),
    ({"id": "x", "expected_answer": "7"}, "test.jsonl:2: not an AIME row ('problem')"),
])
def test_a_bad_row_names_the_file_and_line(tmp_path, row, problem):
    good = {"id": "y", "problem": "p", "expected_answer": "7"}
    (tmp_path / "test.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DatasetError) as e:
        aime.load(str(tmp_path))
    assert problem in str(e.value)


@pytest.mark.parametrize("value, problem", [
    (0, "n_samples: must be at least 1, got 0"),
    ("four", "n_samples: must be of type int, got 'four'"),
])
def test_bad_n_samples_is_one_line_at_dry_run(tmp_path, value, problem):
    cfg = write_config(tmp_path / "aime.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                       tasks=[{"name": "aime_2025", "overrides": {"config.params.extra.n_samples": value}}])
    run = evaltasks_cli("run", "--config", str(cfg), "--dry-run")
    assert run.returncode == 2
    assert problem in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()
