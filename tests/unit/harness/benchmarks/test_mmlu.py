"""mmlu against its reference, NeMo Evaluator's simple-evals ``mmlu_eval.py``
(nvidia-simple-evals 26.3, run from its wheel: tests/support/simple_evals_reference.py).

Reference code that ran here: ``common.format_multichoice_question`` (the prompt),
``common.normalize_response``, ``MULTILINGUAL_ANSWER_REGEXES`` with
``MULTILINGUAL_ANSWER_PATTERN_TEMPLATE`` and ``normalize_extracted_answer`` (the
extraction) and ``mmlu_eval.subject2category``. The per-reply glue (normalize,
try each regex, compare with the gold letter) is the body of ``MMLUEval.__call__``'s
inner ``fn``, an async closure that cannot be called alone: ``reference_score``
below restates those five lines.
"""

import csv
import re

import pytest

from support import simple_evals_reference
from support.endpoint import FakeEndpoint
from support.scripted import Replies, draw, run_task, script

from evaltasks.harness.benchmarks import mmlu_test as mmlu
from evaltasks.harness.datasets import DatasetError


def reference():
    common = simple_evals_reference.load(
        "common", "QUERY_TEMPLATE_MULTICHOICE", "format_multichoice_question", "normalize_response",
        "normalize_extracted_answer", "MULTILINGUAL_ANSWER_PATTERN_TEMPLATE", "MULTILINGUAL_ANSWER_REGEXES")
    return dict(common, **simple_evals_reference.load("evals/mmlu_eval", "subject2category"))


@pytest.fixture(scope="module")
def ref():
    return reference()


def reference_score(ref, reply, gold):
    text = ref["normalize_response"](reply)
    for word in ref["MULTILINGUAL_ANSWER_REGEXES"]:
        match = re.search(ref["MULTILINGUAL_ANSWER_PATTERN_TEMPLATE"].format(word), text)
        if match:
            return float(ref["normalize_extracted_answer"](match.group(1)) == gold)
    return 0.0


def rows(data_dir):
    """The raw rows of mmlu.csv, as the reference's pandas frame gives them."""
    with open(data_dir / "mmlu" / "mmlu.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def reply(kind, gold, i):
    """A reply in the reference's answer format (right), naming another letter
    (wrong), or one the reference reads no letter from (malformed)."""
    other = "ABCD"[("ABCD".index(gold) + 1) % 4]
    if kind == "right":
        return (f"Let me think step by step.\nAnswer: {gold}", f"Reasoning.\n**Answer:** {gold}",
                f"So it must be that one.\nAnswer: $\\boxed{{{gold}}}$", f"推理过程。\n答案：{gold}")[i % 4]
    if kind == "wrong":
        return f"Step by step.\nAnswer: {other}"
    return (f"I think it is {gold}, but I am not sure.", f"Answer: ({gold})", f"Answer: {gold.lower()}")[i % 3]


def test_loads_all_14042_questions_in_57_subjects(data_dir, ref):
    items = mmlu.load(str(data_dir / "mmlu"))
    assert len(items) == 14042
    assert len({i["subject"] for i in items}) == 57
    assert [i["gold"] for i in items] == [r["Answer"] for r in rows(data_dir)]
    # The category table is the reference's, subject for subject.
    assert mmlu.CATEGORY == ref["subject2category"]
    counts = {c: sum(i["category"] == c for i in items) for c in ("stem", "humanities", "social_sciences", "other")}
    assert counts == {"stem": 3018, "humanities": 4705, "social_sciences": 3077, "other": 3242}


def test_every_prompt_is_the_reference_prompt(data_dir, ref):
    items = mmlu.load(str(data_dir / "mmlu"))
    for item, row in zip(items, rows(data_dir)):
        [message] = mmlu.prompt(item, {})
        assert message == {"role": "user", "content": ref["format_multichoice_question"](row)}


def test_answer_words_and_marks_are_the_reference_ones_in_its_order(ref):
    words = list(dict.fromkeys(ref["MULTILINGUAL_ANSWER_REGEXES"]))      # it lists one word twice
    assert list(mmlu._ANSWER_WORDS) == words
    assert [p.pattern for p in mmlu._PATTERNS] == [ref["MULTILINGUAL_ANSWER_PATTERN_TEMPLATE"].format(w) for w in words]


TRICKY = [
    "Answer: B", "answer: b", "ANSWER: C", "Answer:\nD", "Answer:   A", "Answer: (A)", "**Answer: C**",
    "Answer: $\\boxed{D}$", "Answer: \\text{B}", "Answer: Because of this", "The answer is B.",
    "Answer: B\nWait.\nAnswer: C", "Antwort: C\nAnswer: B", "Réponse : A", "答案：Ｃ", "答え: Ｂ",
    "الإجابة: ب", "উত্তর: অ", "Ответ: Б", "Answer: 2", "Answer:B", "", "Answer: E",
    "Answer: \u200b\u200b\u200b\u200b\u200b\u200bD", "Jibu: D", "Câu trả lời: A",
]


@pytest.mark.parametrize("text", TRICKY)
@pytest.mark.parametrize("gold", "ABCD")
def test_extraction_scores_as_the_reference_does(ref, text, gold):
    item = {"gold": gold, "subject": "anatomy", "category": "other"}
    assert mmlu.score(mmlu.extract(text), item)["score"] == reference_score(ref, text, gold)


def test_scripted_replies_score_exactly_and_as_the_reference(tmp_path, data_dir, ref):
    """1,500 questions (the first 14 subjects): a seeded mix of right, wrong and
    malformed replies; our score is the count of right ones, and every sample's
    score equals the reference's on the same reply."""
    raw = rows(data_dir)[:1500]
    replies, right = script([ref["format_multichoice_question"](r) for r in raw], [r["Answer"] for r in raw],
                            draw(len(raw), "mmlu"), reply)
    with FakeEndpoint(Replies(replies)) as ep:
        results, samples = run_task(tmp_path / "mmlu", ep.chat_url, "mmlu", limit_samples=len(raw),
                                    parallelism=16)
    assert results["metrics"]["accuracy"]["value"] == sum(right) / len(raw)
    assert [s["score"] for s in samples] == [float(r) for r in right]
    assert [s["score"] for s in samples] == [reference_score(ref, s["response"], s["gold"]) for s in samples]
    for category in ("stem", "humanities", "social_sciences", "other"):
        picked = [ok for ok, r in zip(right, raw) if ref["subject2category"][r["Subject"]] == category]
        if picked:
            assert results["metrics"][f"accuracy/{category}"] == pytest.approx(
                {"value": sum(picked) / len(picked), "n": len(picked)} | {
                    "stderr": results["metrics"][f"accuracy/{category}"]["stderr"]})
    subject = raw[0]["Subject"]
    picked = [ok for ok, r in zip(right, raw) if r["Subject"] == subject]
    assert results["metrics"][f"accuracy/{subject}"]["value"] == sum(picked) / len(picked)
    groups = [results["metrics"][f"accuracy/{c}"]["value"] for c in ("stem", "humanities", "social_sciences", "other")
              if f"accuracy/{c}" in results["metrics"]]
    assert results["metrics"]["macro_accuracy"]["value"] == pytest.approx(sum(groups) / len(groups))


@pytest.mark.parametrize("content, problem", [
    (",Question,A,B,C,D,Answer\n0,q,a,b,c,d,A\n", "missing column(s) Subject"),
    (",Question,A,B,C,D,Answer,Subject\n0,q,a,b,c,d,E,anatomy\n", "mmlu.csv:2: Answer 'E'"),
    (",Question,A,B,C,D,Answer,Subject\n0,q,a,b,c,d\n", "mmlu.csv:2: the row does not have"),
    (",Question,A,B,C,D,Answer,Subject\n", "no questions"),
])
def test_a_malformed_file_is_named(tmp_path, content, problem):
    (tmp_path / "mmlu.csv").write_text(content)
    with pytest.raises(DatasetError, match=re.escape(problem)):
        mmlu.load(str(tmp_path))
