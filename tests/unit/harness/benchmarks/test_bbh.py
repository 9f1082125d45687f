"""bbh on the real BIG-Bench-Hard files: rows, lm-eval's bbh_cot_fewshot prompts
and get-answer filter (compared with lm-eval's own task files and filter classes,
from its released wheel), subtask selection, and scores that follow exactly from
which questions a scripted model answered right."""

import hashlib
import json
import random
from collections import Counter

import pytest

from conftest import DATA_DIR, evaltasks_cli, write_config
from support import lm_eval_reference

from evaltasks.harness import benchmarks
from evaltasks.harness.benchmarks import bbh
from evaltasks.harness.datasets import DatasetError

FOLDER = DATA_DIR / "bbh"
SMALL = {"causal_judgement": 187, "penguins_in_a_table": 146, "snarks": 178}


@pytest.fixture(scope="module")
def items():
    return bbh.load(str(FOLDER))


def raw_rows():
    """(task, input, target) of every example, read here from the JSON files."""
    return [(task, row["input"], row["target"]) for task in sorted(benchmarks.BBH_TASKS)
            for row in json.loads((FOLDER / "bbh" / f"{task}.json").read_text())["examples"]]


def test_27_tasks_and_6511_questions_from_the_pinned_files(items):
    assert len(benchmarks.BBH_TASKS) == 27 and len(items) == 6511 == benchmarks.resolve("bbh").size
    counts = Counter(i["subtask"] for i in items)
    assert counts == {t: SMALL.get(t, 250) for t in benchmarks.BBH_TASKS}
    assert [(i["subtask"], i["input"], i["gold"]) for i in items] == raw_rows()
    for data_file in benchmarks.resolve("bbh").files:
        assert hashlib.sha256((FOLDER / data_file.name).read_bytes()).hexdigest() == data_file.sha256
        assert data_file.url.endswith(data_file.name) and benchmarks.BBH_COMMIT in data_file.url


def lm_eval_messages(task, question, multiturn=True):
    """The chat messages lm-eval builds for ``question`` from its own task file
    (description as the system turn, its three samples, the question)."""
    config = lm_eval_reference.bbh_config(task)
    text = lambda q: config["doc_to_text"].replace("{{input}}", q)
    turns = []
    for shot in config["fewshot_config"]["samples"]:
        turns += [{"role": "user", "content": text(shot["input"])},
                  {"role": "assistant", "content": shot["target"]}]
    turns.append({"role": "user", "content": text(question)})
    if not multiturn:      # lm-eval's single-turn rendering: each answer followed by the few-shot delimiter
        turns = [{"role": "user", "content": "".join(
            t["content"] + ("\n\n" if t["role"] == "assistant" else "") for t in turns)}]
    return [{"role": "system", "content": config["description"]}] + turns


@pytest.mark.parametrize("multiturn", [True, False])
def test_prompts_are_lm_evals_for_every_task(items, multiturn):
    params = {"extra": {"fewshot_as_multiturn": multiturn}}
    first = {}
    for item in items:
        first.setdefault(item["subtask"], item)
    for task, item in first.items():
        assert bbh.prompt(item, params) == lm_eval_messages(task, item["input"], multiturn), task
    assert lm_eval_reference.bbh_config()["num_fewshot"] == 3


def test_the_stop_sequences_and_filter_are_lm_evals():
    template = lm_eval_reference.bbh_config()
    assert tuple(template["generation_kwargs"]["until"]) == bbh.UNTIL
    (get_answer,) = template["filter_list"]
    assert get_answer["filter"] == [{"function": "regex", "regex_pattern": "(?<=the answer is )(.*)(?=.)"},
                                    {"function": "take_first"}]
    assert template["metric_list"][0]["metric"] == "exact_match" and "ignore_case" not in template["metric_list"][0]


def cut(text):
    """What a server honouring lm-eval's ``until`` returns: the text before the
    earliest stop sequence."""
    ends = [text.find(stop) for stop in ("</s>", "Q", "\n\n") if stop in text]
    return text[:min(ends)] if ends else text


def lm_eval_scores(replies, golds):
    """Per-sample exact match of lm-eval's own get-answer filter ensemble, built
    from its template's filter_list, on the replies as the server would cut them."""
    filters = lm_eval_reference.filters()
    (spec,) = lm_eval_reference.bbh_config()["filter_list"]
    ensemble = filters.build_filter_ensemble(
        spec["name"], [(f["function"], {k: v for k, v in f.items() if k != "function"} or None)
                       for f in spec["filter"]])
    responses = [[cut(r)] for r in replies]
    for f in ensemble.filters:
        responses = f().apply(responses, [None] * len(replies))
    return [float(p == g) for p, g in zip(list(responses), golds)]


def reply(kind, answer):
    """A reply in the reference's format (``So the answer is X.``), or one that
    misses it the ways models do."""
    return {
        "right": f"Let me work through the question.\nSo the answer is {answer}.",
        "wrong": f"Working it out.\nSo the answer is {answer}.",
        "capital": f"The answer is {answer}.",                    # lm-eval's pattern is lower-case
        "no period": f"Step by step, so the answer is {answer}",   # (?=.) drops the last character
        "blank line": f"Thinking.\n\nSo the answer is {answer}.",  # cut at the blank line
        "stop letter": f"Quickly: so the answer is {answer}.",     # cut at "Q"
    }[kind]


MALFORMED = ("capital", "no period", "blank line", "stop letter")


def script(rows, seed=19):
    """{input: (kind, answer, reply)} for the rows (no input is in two tasks), drawn with ``seed``: about half
    right, a quarter wrong (another target of the task), a quarter malformed.
    A question asked twice (two BBH inputs repeat with different targets) gets
    the reply drawn for its first row."""
    rng = random.Random(seed)
    targets = {}
    for task, _, target in rows:
        targets.setdefault(task, sorted(set(t for tk, _, t in rows if tk == task)))
    replies = {}
    for task, question, target in rows:
        kind = rng.choice(["right", "right", "wrong", rng.choice(MALFORMED)])
        answer = target if kind != "wrong" else rng.choice([t for t in targets[task] if t != target])
        replies.setdefault(question, (kind, answer, reply(kind, answer)))
    return replies


def expected_right(rows, replies):
    """Whether each row's reply is right: the right kind, for this row's target,
    and a target the stop sequences leave whole (``(Q)`` is cut at its Q)."""
    return [replies[q][0] == "right" and replies[q][1] == target
            and not any(stop in target for stop in bbh.UNTIL)
            for _, q, target in rows]


def test_scores_are_exactly_what_the_replies_imply_and_lm_evals(items):
    rows = raw_rows()
    replies = script(rows)
    right = expected_right(rows, replies)
    texts = [replies[q][2] for _, q, _ in rows]
    samples = [dict(bbh.score(bbh.extract(text), item)) for text, item in zip(texts, items)]
    ours = [s["score"] for s in samples]
    assert ours == [float(r) for r in right]
    assert ours == lm_eval_scores(texts, [g for _, _, g in rows])
    assert 0.4 < sum(right) / len(rows) < 0.6 and sum(g == "(Q)" for _, _, g in rows) > 0

    m = bbh.metrics(samples, {})
    assert m["exact_match"]["value"] == pytest.approx(sum(right) / len(rows)) and m["exact_match"]["n"] == 6511
    per_task = {}
    for (task, _, _), ok in zip(rows, right):
        per_task.setdefault(task, []).append(ok)
    for task, oks in per_task.items():
        assert m[f"exact_match/{task}"]["value"] == pytest.approx(sum(oks) / len(oks)), task
    macro = sum(sum(v) / len(v) for v in per_task.values()) / 27
    assert m["exact_match_macro"]["value"] == pytest.approx(macro) and m["exact_match_macro"]["n"] == 27
    assert list(m)[:2] == ["exact_match", "exact_match_macro"]


@pytest.mark.parametrize("text, expected", [
    ("So the answer is (B).", "(B)"),
    ("so the answer is True.\nLater: the answer is False.", "True"),        # the first match
    ("So the answer is ) ] }.", ") ] }"),
    ("So the answer is 24", "2"),                                           # the last character goes
    ("The answer is (B).", "[invalid]"),
    ("Step 1.\n\nSo the answer is (B).", "[invalid]"),
    ("So the answer is (Q).", ""),                     # cut at its "Q": "(" is the character (?=.) needs
    ("", "[invalid]"),
    (None, "[invalid]"),
])
def test_extraction(text, expected):
    assert bbh.extract(text) == expected


def test_subtasks_select_before_limit(items):
    picked = bbh.select(items, {"extra": {"subtasks": ["snarks", "navigate"]}})
    assert Counter(i["subtask"] for i in picked) == {"navigate": 250, "snarks": 178}
    assert bbh.select(items, {"extra": {"subtasks": []}}) == items
    with pytest.raises(ValueError, match="unknown subtask.*nope"):
        bbh.select(items, {"extra": {"subtasks": ["nope"]}})


def test_an_unknown_subtask_is_one_line_at_dry_run(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                       tasks=[{"name": "bbh", "overrides": {"config.params.extra.subtasks": ["snarks", "snark"]}}])
    done = evaltasks_cli("run", "--config", str(cfg), "--dry-run")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "evaluation.tasks[0].overrides.config.params.extra.subtasks" in line and "'snark'" in line
    assert not (tmp_path / "out").exists()
    ok = write_config(tmp_path / "ok.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                      tasks=[{"name": "bbh", "overrides": {"config.params.extra.subtasks": ["snarks"]}}])
    assert evaltasks_cli("run", "--config", str(ok), "--dry-run").returncode == 0


@pytest.mark.parametrize("content, message", [
    ("not json", "not a BBH task file"),
    ('{"examples": []}', "no examples"),
    ('{"examples": [{"input": "q"}]}', "example 0 is not an object"),
])
def test_malformed_task_file_is_named(tmp_path, content, message):
    (tmp_path / "bbh").mkdir()
    (tmp_path / "cot-prompts").symlink_to(FOLDER / "cot-prompts")
    for task in benchmarks.BBH_TASKS:
        (tmp_path / "bbh" / f"{task}.json").symlink_to(FOLDER / "bbh" / f"{task}.json")
    (tmp_path / "bbh" / "snarks.json").unlink()
    (tmp_path / "bbh" / "snarks.json").write_text(content)
    with pytest.raises(DatasetError, match=message) as e:
        bbh.load(str(tmp_path))
    assert str(e.value).startswith(str(tmp_path / "bbh" / "snarks.json"))


def test_a_prompt_file_without_three_exemplars_is_named(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("canary\n-----\nDescribe.\n\nQ: a\nA: Let's think step by step.\nSo the answer is b.")
    with pytest.raises(DatasetError, match="1 exemplars, not 3"):
        bbh.fewshot(str(path))
    path.write_text("Describe.\n\nQ: a")
    with pytest.raises(DatasetError, match="canary"):
        bbh.fewshot(str(path))
