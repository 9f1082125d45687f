"""gpqa_diamond on a synthetic CSV in the real 78-column layout (the real data is
gated and never stored here): loading, seeded shuffles, prompt, extraction,
scoring and metrics, end to end with a scripted model."""

import csv
import json
import random
import re
import statistics
from pathlib import Path

import pytest

from conftest import reference

from evaltasks.harness.benchmarks import gpqa_diamond
from evaltasks.harness.datasets import DatasetError

FIXTURE = Path(__file__).parent / "fixtures" / "gpqa_diamond"


def params(n_repeats=1, seed=None):
    return {"seed": seed, "extra": {"n_repeats": n_repeats}}


@pytest.fixture
def items():
    return gpqa_diamond.load(str(FIXTURE))


def fixture_rows():
    with open(FIXTURE / "gpqa_diamond.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_fixture_has_the_real_header():
    with open(FIXTURE / "gpqa_diamond.csv", newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert len(header) == 78
    assert header == json.loads(reference("gpqa", "gpqa_diamond_columns.json").read_text())
    assert {r["High-level domain"] for r in fixture_rows()} == {"Physics", "Chemistry", "Biology"}


def test_load(items):
    assert len(items) == 6
    first = items[0]
    assert first["row"] == 0 and first["record_id"] == "synthetic000" and first["domain"] == "Physics"
    assert first["answers"] == ("9 J", "6 J", "18 J", "3 J")      # correct first
    assert first["gold"] == "9 J"                                   # a letter only after expand
    assert items[3]["question"].count("\n") == 2                    # quoted newlines kept
    assert items[4]["answers"][0] == "3"                            # padding stripped


def test_shuffle_is_seeded_per_item_and_repeat(items):
    expanded = gpqa_diamond.expand(items, params(n_repeats=3, seed=7))
    assert len(expanded) == 18
    assert [(s["repeat"], s["row"]) for s in expanded] == [(r, i) for r in range(3) for i in range(6)]
    for s in expanded:
        assert s["permutation"] == random.Random(f"7-{s['row']}-{s['repeat']}").sample(range(4), 4)
        # The gold letter points at the correct answer, wherever it went.
        assert s["choices"][ord(s["gold"]) - ord("A")] == s["answers"][0]
        assert sorted(s["choices"]) == sorted(s["answers"])
    # Same seed, same order; also when fewer items are kept (limit_samples).
    assert gpqa_diamond.expand(items, params(3, seed=7)) == expanded
    assert gpqa_diamond.expand(items[:2], params(1, seed=7)) == expanded[:2]
    # Different repeats of one question get different orders, for most questions.
    same = sum(expanded[i]["permutation"] == expanded[6 + i]["permutation"] for i in range(6))
    assert same <= 1
    other_seed = gpqa_diamond.expand(items, params(3, seed=8))
    assert sum(a["permutation"] != b["permutation"] for a, b in zip(expanded, other_seed)) >= 12
    # No seed means seed 0.
    assert gpqa_diamond.expand(items, params(2)) == gpqa_diamond.expand(items, params(2, seed=0))
    # Correct answers do not all land on one letter.
    assert len({s["gold"] for s in expanded}) >= 3


def test_n_repeats_must_be_positive(items):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_repeats"):
            gpqa_diamond.expand(items, params(n_repeats=bad))
    assert len(gpqa_diamond.expand(items, {"extra": {}})) == 6


def test_prompt(items):
    item = gpqa_diamond.expand(items, params(seed=1))[0]
    a, b, c, d = item["choices"]
    assert gpqa_diamond.prompt(item, params(seed=1)) == [{"role": "user", "content": (
        "Answer the following multiple choice question. The last line of your response should be "
        "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
        "Think step by step before answering.\n\n"
        "A synthetic probe of mass 2 kg moves at 3 m/s. What is its kinetic energy?\n\n"
        f"A) {a}\nB) {b}\nC) {c}\nD) {d}")}]


@pytest.mark.parametrize("response, expected", [
    ("Working...\nAnswer: B", "B"),
    ("answer: c", "C"),
    ("Answer:$D$", "D"),
    ("**Answer:** A", "A"),
    ("**Answer: C**", "C"),
    ("Answer: A\nWait, that is wrong.\nAnswer: D", "D"),          # the last one
    ("The answer is (B).", None),                                  # no "Answer:" line
    ("Answer: E", None),
    ("", None),
    (None, None),
])
def test_extraction(response, expected):
    assert gpqa_diamond.extract(response) == expected


@pytest.mark.parametrize("content, message", [
    ("Question,Correct Answer\nq,a\n", "missing column.*Incorrect Answer 1.*High-level domain"),
    ("", "missing column"),
    ("Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3,High-level domain\n",
     "no questions"),
    ("Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3,High-level domain\n"
     "q,a,b,c,d,Physics\nq2,a,,c,d,Physics\n", r"gpqa_diamond\.csv:3: empty Incorrect Answer 1"),
    ("Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3,High-level domain\n"
     "q,a,b,c,d,Physics,extra\n", "more fields than columns"),
])
def test_malformed_csv_is_named(tmp_path, content, message):
    path = tmp_path / "gpqa_diamond.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message) as e:
        gpqa_diamond.load(str(tmp_path))
    assert str(e.value).startswith(str(path) + ":")


def test_undecodable_csv_is_named(tmp_path):
    (tmp_path / "gpqa_diamond.csv").write_bytes(b"Question,Correct Answer\n\xff\xfe\x00bad\n")
    with pytest.raises(DatasetError, match="gpqa_diamond.csv: not a readable CSV"):
        gpqa_diamond.load(str(tmp_path))


def test_failed_sample_scores_zero_with_its_fields(items):
    item = gpqa_diamond.expand(items, params(n_repeats=2))[7]
    scored = gpqa_diamond.score(gpqa_diamond.extract(""), item)
    assert scored == {"score": 0.0, "domain": "Chemistry", "repeat": 1,
                      "record_id": "synthetic001", "permutation": item["permutation"]}


class ScriptedModel:
    """Reads the options back from the prompt and answers with the correct letter,
    or a wrong one for the questions in ``wrong``, in a few reply styles."""

    def __init__(self):
        self.correct = {r["Question"].strip(): r["Correct Answer"].strip() for r in fixture_rows()}

    def __call__(self, content, right):
        question = next(q for q in self.correct if q in content)
        options = dict(re.findall(r"^([A-D])\) (.*)$", content, re.M))
        letter = next(k for k, v in options.items() if v == self.correct[question])
        if not right:
            letter = "ABCD"[("ABCD".index(letter) + 1) % 4]
        styles = [f"Step by step...\nAnswer: {letter}", f"Thinking.\n\n**Answer:** {letter}",
                  f"So it is {letter}.\nanswer: ${letter.lower()}$"]
        return styles[len(content) % 3]


def test_end_to_end_on_fixture(items):
    model = ScriptedModel()
    p = params(n_repeats=3, seed=11)
    samples = []
    for index, item in enumerate(gpqa_diamond.expand(items, p)):
        # Wrong: the first question every time; both Biology questions in repeat 1.
        right = not (item["row"] == 0 or (item["domain"] == "Biology" and item["repeat"] == 1))
        response = model(gpqa_diamond.prompt(item, p)[0]["content"], right)
        extracted = gpqa_diamond.extract(response)
        sample = {"index": index, "response": response, "extracted": extracted, "gold": item["gold"]}
        sample.update(gpqa_diamond.score(extracted, item))
        samples.append(json.loads(json.dumps(sample)))      # as read back from samples.jsonl
    assert all(s["extracted"] in "ABCD" for s in samples)

    m = gpqa_diamond.metrics(samples, p)
    assert list(m) == ["accuracy", "accuracy/Biology", "accuracy/Chemistry", "accuracy/Physics",
                       "accuracy_repeat_min", "accuracy_repeat_max", "accuracy_repeat_std"]
    assert m["accuracy"]["value"] == pytest.approx(13 / 18) and m["accuracy"]["n"] == 18
    assert m["accuracy/Physics"]["value"] == pytest.approx(3 / 6)
    assert m["accuracy/Chemistry"] == {"value": 1.0, "stderr": 0.0, "n": 6}
    assert m["accuracy/Biology"]["value"] == pytest.approx(4 / 6)
    assert m["accuracy_repeat_min"]["value"] == pytest.approx(3 / 6) and m["accuracy_repeat_min"]["n"] == 6
    assert m["accuracy_repeat_max"]["value"] == pytest.approx(5 / 6)
    assert m["accuracy_repeat_std"] == {"value": pytest.approx(statistics.stdev([5 / 6, 3 / 6, 5 / 6])),
                                        "stderr": 0.0, "n": 3}
    assert all(set(v) == {"value", "stderr", "n"} for v in m.values())


def test_metrics_with_one_repeat():
    samples = [{"score": 1.0, "domain": "Physics", "repeat": 0},
               {"score": 0.0, "domain": "Physics", "repeat": 0}]
    m = gpqa_diamond.metrics(samples, params())
    assert m["accuracy_repeat_min"] == m["accuracy_repeat_max"] == m["accuracy"]
    assert m["accuracy_repeat_std"] == {"value": 0.0, "stderr": 0.0, "n": 1}
