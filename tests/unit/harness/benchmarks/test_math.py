r"""math (all 5,000 MATH test problems) against its reference, simple-evals'
``math_eval.py`` (NeMo Evaluator's build, nvidia-simple-evals 26.3, read from its
wheel: tests/support/simple_evals_reference.py).

Reference code that ran here: ``math_eval.QUERY_TEMPLATE`` (the prompt),
``common.ANSWER_PATTERN`` (the extraction) and ``common.EQUALITY_TEMPLATE`` (the
judge's prompt). The reference's scoring is a judge model (``check_equality``),
which cannot run here: the ``judge`` option is checked against a scripted judge
(the prompt it receives, and "yes" as the only passing verdict), and the default
rule-based scoring against the known right/wrong replies.
"""

import csv
import json
import re

import pytest

from support import simple_evals_reference
from conftest import evaltasks_cli, write_config
from support.endpoint import FakeEndpoint, InFlight
from support.scripted import Replies, draw, run_task, script

from evaltasks.harness.benchmarks import math_test
from evaltasks.harness.datasets import DatasetError


def reference():
    return dict(simple_evals_reference.load("evals/math_eval", "QUERY_TEMPLATE"),
                **simple_evals_reference.load("common", "ANSWER_PATTERN", "EQUALITY_TEMPLATE"))


@pytest.fixture(scope="module")
def ref():
    return reference()


def rows(data_dir):
    with open(data_dir / "math" / "math_test.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def reply(kind, gold, i):
    """Right: the gold on a last ``Answer:`` line (one line, as the prompt asks);
    wrong: another number; malformed: no ``Answer:`` line (a boxed answer only)."""
    line = " ".join(gold.split("\n"))
    if kind == "right":
        return (f"Let me work it out.\nAnswer: {line}", f"Work.\nAnswer: ${line}$",
                f"Step by step.\n**Answer:** {line}")[i % 3]
    if kind == "wrong":
        return "I computed it.\nAnswer: 98765"
    return f"So the result is $\\boxed{{{line}}}$."


def test_loads_all_5000_problems_and_every_math500_one(data_dir):
    items = math_test.load(str(data_dir / "math"))
    assert len(items) == 5000 and all(i["question"] and i["gold"] for i in items)
    questions = {i["question"] for i in items}
    with open(data_dir / "math500" / "test.jsonl", encoding="utf-8") as f:
        assert all(json.loads(line)["problem"] in questions for line in f)


def test_every_prompt_is_the_reference_prompt(data_dir, ref):
    for item, row in zip(math_test.load(str(data_dir / "math")), rows(data_dir)):
        assert math_test.prompt(item, {}) == [{"role": "user", "content": ref["QUERY_TEMPLATE"].format(**row)}]


@pytest.mark.parametrize("text", [
    "Answer: 5", "answer:5", "ANSWER :  \\frac{1}{2}  ", "Answer:\n42", "Answer: 1\nAnswer: 2",
    "**Answer:** 7", "no answer line \\boxed{3}", "Final Answer: x=3", "", "Answer: ",
])
def test_extraction_is_the_reference_pattern(ref, text):
    match = re.search(ref["ANSWER_PATTERN"], text)
    assert math_test.extract(text) == (match.group(1) if match else None)


def test_scripted_replies_score_exactly(tmp_path, data_dir, ref):
    raw = rows(data_dir)
    replies, right = script([ref["QUERY_TEMPLATE"].format(**r) for r in raw], [r["Answer"] for r in raw],
                            draw(len(raw), "math"), reply)
    with FakeEndpoint(Replies(replies)) as ep:
        results, samples = run_task(tmp_path / "math", ep.chat_url, "math", limit_samples=1000, parallelism=16)
    right = right[:1000]
    assert [s["score"] for s in samples] == [float(r) for r in right]
    assert results["metrics"]["accuracy"]["value"] == sum(right) / 1000
    assert all(s["extracted"] == (lambda m: m.group(1) if m else None)(re.search(ref["ANSWER_PATTERN"], s["response"]))
               for s in samples)


def test_judge_scoring_asks_the_reference_question_and_counts_only_yes(tmp_path, data_dir, ref):
    """The judge gets simple-evals' equality prompt for (gold, extracted); its
    verdicts, scripted per problem, are the scores: "Yes"/" yes " pass; "No",
    "Yes, they are" and a judge reply to an unasked question do not."""
    raw = rows(data_dir)[:60]
    replies = {ref["QUERY_TEMPLATE"].format(**r): f"Work.\nAnswer: candidate {i}" for i, r in enumerate(raw)}
    verdicts = ["Yes", " yes \n", "No", "Yes, they are"]
    expected = {ref["EQUALITY_TEMPLATE"] % {"expression1": r["Answer"], "expression2": f"candidate {i}"}:
                verdicts[i % 4] for i, r in enumerate(raw)}
    with FakeEndpoint(Replies(replies)) as model, FakeEndpoint(Replies(expected), model_id="judge") as judge:
        results, samples = run_task(tmp_path / "math", model.chat_url, "math", limit_samples=60, extra={
            "scoring": "judge", "judge_url": judge.chat_url, "judge_model_id": "judge"})
        asked = [r.payload for r in judge.completed()]
    assert len(asked) == 60 and all(p["temperature"] == 0.0 for p in asked)
    assert [s["score"] for s in samples] == [float(i % 4 in (0, 1)) for i in range(60)]
    assert results["metrics"]["accuracy"]["value"] == 30 / 60
    assert samples[2]["judge_verdict"] == "No"


def test_a_judge_is_asked_parallelism_at_a_time(tmp_path, data_dir):
    """Scores that ask a judge run in threads, not one by one on the harness's
    event loop: a slow judge is asked for as many samples at once as the
    task's parallelism."""
    judge_replies = InFlight(0.2, answer="Yes")
    with FakeEndpoint() as model, FakeEndpoint(judge_replies, model_id="judge") as judge:
        results, samples = run_task(tmp_path / "math", model.chat_url, "math", limit_samples=24, parallelism=6,
                                    extra={"scoring": "judge", "judge_url": judge.chat_url, "judge_model_id": "judge"})
    assert judge_replies.peak == 6
    assert [s["score"] for s in samples] == [1.0] * 24


def test_judge_scoring_without_a_judge_is_one_line_at_dry_run(tmp_path):
    cfg = write_config(tmp_path / "math.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                       tasks=[{"name": "math", "overrides": {"config.params.extra.scoring": "judge",
                                                             "config.params.extra.judge_model_id": "judge"}}])
    run = evaltasks_cli("run", "--config", str(cfg), "--dry-run")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        "error: " + str(cfg) + ": evaluation.tasks[0].overrides.config.params.extra.judge_url: "
        "needed with scoring: judge (task math)"]
    with pytest.raises(ValueError, match="scoring: judge needs extra.judge_url and extra.judge_model_id"):
        math_test.expand([{"row": 0, "question": "q", "gold": "1"}], {"extra": {"scoring": "judge"}})


def test_the_judge_is_checked_before_the_run_and_its_key_reaches_the_harness(tmp_path):
    """Like a task file's judge: preflighted with the model, its key variable
    passed by name (its value never written)."""
    from evaltasks.config import compose as config

    cfg = write_config(tmp_path / "math.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                       tasks=[{"name": "math", "overrides": {
                           "config.params.extra.scoring": "judge", "config.params.extra.judge_url": "http://j/v1/chat/completions",
                           "config.params.extra.judge_model_id": "judge", "config.params.extra.judge_api_key_name": "JUDGE_KEY"}}])
    [task] = config.load(str(cfg)).tasks
    assert task["env_vars"] == {"JUDGE_KEY": "JUDGE_KEY"}
    from evaltasks.pipeline.preflight import endpoints
    from evaltasks.config.task_spec import TaskSpec

    spec = TaskSpec.planned(task, "inv", 0, str(tmp_path / "out"))
    assert [key[:4] for key in endpoints([spec])] == [
        ("http://127.0.0.1:9/v1/chat/completions", "test-model", "chat", None),
        ("http://j/v1/chat/completions", "judge", "chat", "JUDGE_KEY")]


@pytest.mark.parametrize("content, problem", [
    (",Question\n0,q\n", "missing column(s) Answer"),
    (",Question,Answer\n0,q,\n", "math_test.csv:2: empty Question or Answer"),
    (",Question,Answer\n", "no problems"),
])
def test_a_malformed_file_is_named(tmp_path, content, problem):
    (tmp_path / "math_test.csv").write_text(content)
    with pytest.raises(DatasetError, match=re.escape(problem)):
        math_test.load(str(tmp_path))
