"""mgsm against its reference, simple-evals' ``mgsm_eval.py`` (NeMo Evaluator's
build, nvidia-simple-evals 26.3, read from its wheel: tests/support/simple_evals_reference.py).

Reference code that ran here: ``LANG_TO_INSTRUCTIONS`` (the prompts),
``LANG_TO_ANSWER_PREFIX``, ``parse_answer`` and ``score_mgsm`` (extraction and
score, per sample), ``ALL_LANGUAGES`` and ``LATIN_LANGUAGES`` (the groups).
"""

import re

import pytest

from support import simple_evals_reference
from support.endpoint import FakeEndpoint
from support.scripted import Replies, draw, run_task, script

from evaltasks.harness.benchmarks import mgsm
from evaltasks.harness.datasets import DatasetError


def reference():
    return simple_evals_reference.load(
        "evals/mgsm_eval", "ALL_LANGUAGES", "LATIN_LANGUAGES", "LANG_TO_INSTRUCTIONS", "LANG_TO_ANSWER_PREFIX",
        "parse_answer", "score_mgsm")


@pytest.fixture(scope="module")
def ref():
    return reference()


def rows(data_dir):
    """(language, question, gold as written) for every line, problem by problem."""
    per_language = {}
    for lang in reference()["ALL_LANGUAGES"]:
        text = (data_dir / "mgsm" / f"mgsm_{lang}.tsv").read_text(encoding="utf-8")
        per_language[lang] = [line.split("\t") for line in text.splitlines()]
    return [(lang, *per_language[lang][i]) for i in range(250) for lang in per_language]


def reference_score(ref, reply, lang, gold):
    return float(ref["score_mgsm"](gold, ref["parse_answer"](reply, ref["LANG_TO_ANSWER_PREFIX"][lang])))


def reply_for(ref, lang):
    word = ref["LANG_TO_ANSWER_PREFIX"][lang]

    def reply(kind, gold, i):
        number = int(gold.replace(",", ""))
        if kind == "right":
            return (f"Step by step.\n{word}: {gold}", f"Reasoning.\n{word}: {number}.",
                    f"Reasoning.\n**{word}:** {number}.0", f"{word}: wrong first\n{word}: {number}")[i % 4]
        if kind == "wrong":
            return f"Step by step.\n{word}: {number + 1}"
        return (f"The final result is {number}.", f"{word}: {number} (or maybe {number + 3})")[i % 2]
    return reply


def test_loads_2750_problems_in_11_languages(data_dir, ref):
    items = mgsm.load(str(data_dir / "mgsm"))
    assert len(items) == 2750 and mgsm.LANGUAGES == tuple(ref["ALL_LANGUAGES"])
    assert [(i["language"], i["question"], i["gold"]) for i in items] == rows(data_dir)
    assert set(mgsm.LATIN) == set(ref["LATIN_LANGUAGES"])


def test_every_prompt_is_the_reference_prompt(data_dir, ref):
    for item in mgsm.load(str(data_dir / "mgsm")):
        expected = ref["LANG_TO_INSTRUCTIONS"][item["language"]].format(input=item["question"])
        assert mgsm.prompt(item, {}) == [{"role": "user", "content": expected}]


TRICKY = ["Answer: 18", "Answer: 1,800", "Answer: 18.0", "Answer: 18.50", "answer: 18", "Answer: -18",
          "Answer: 17\nAnswer: 18 dollars", "Answer: $18", "Antwort: 18", "Answer: 18 or 19", "Answer:", "",
          "答案：18", "答え: 18", "Ответ: 18", "Answer: 18.", "Answer: 0018"]


@pytest.mark.parametrize("text", TRICKY)
@pytest.mark.parametrize("lang, gold", [("en", "18"), ("en", "1,800"), ("de", "18"), ("zh", "18"), ("ja", "18"),
                                        ("ru", "18"), ("en", "18.5")])
def test_scores_as_the_reference_does(ref, text, lang, gold):
    item = {"language": lang, "gold": gold, "problem": 0}
    assert mgsm.score(mgsm.extract(text), item)["score"] == reference_score(ref, text, lang, gold)


def test_scripted_replies_score_exactly_and_as_the_reference(tmp_path, data_dir, ref):
    raw = rows(data_dir)
    prompts = [ref["LANG_TO_INSTRUCTIONS"][lang].format(input=q) for lang, q, _ in raw]
    kinds = draw(len(raw), "mgsm")
    replies, right = script(prompts, [g for _, _, g in raw], kinds,
                            lambda kind, gold, i: reply_for(ref, raw[i][0])(kind, gold, i))
    with FakeEndpoint(Replies(replies)) as ep:
        results, samples = run_task(tmp_path / "mgsm", ep.chat_url, "mgsm", parallelism=16)
    assert [s["score"] for s in samples] == [float(r) for r in right]
    assert [s["score"] for s in samples] == [reference_score(ref, s["response"], lang, g)
                                             for s, (lang, _, g) in zip(samples, raw)]
    m = results["metrics"]
    per_language = {lang: sum(r for r, (l, _, _) in zip(right, raw) if l == lang) / 250 for lang in mgsm.LANGUAGES}
    for lang, value in per_language.items():
        assert m[f"accuracy/{lang}"]["value"] == value
    assert m["accuracy"]["value"] == pytest.approx(sum(per_language.values()) / 11, abs=1e-12)
    assert m["accuracy/non_en"]["value"] == pytest.approx(
        sum(v for k, v in per_language.items() if k != "en") / 10, abs=1e-12)
    latin = [r for r, (l, _, _) in zip(right, raw) if l in ref["LATIN_LANGUAGES"]]
    assert m["accuracy/latin"]["value"] == pytest.approx(sum(latin) / len(latin), abs=1e-12)


def test_limit_samples_takes_whole_problems_in_every_language(data_dir):
    items = mgsm.load(str(data_dir / "mgsm"))[:22]
    assert {i["problem"] for i in items} == {0, 1} and len({i["language"] for i in items}) == 11


@pytest.mark.parametrize("content, problem", [
    ("q\t18\nno tab here\n", "mgsm_en.tsv:2: expected a question, a tab and a whole number"),
    ("q\t18.5\n", "mgsm_en.tsv:1: expected"),
    ("", "mgsm_en.tsv: no problems"),
])
def test_a_malformed_file_is_named(tmp_path, data_dir, content, problem):
    for lang in mgsm.LANGUAGES:
        (tmp_path / f"mgsm_{lang}.tsv").write_text((data_dir / "mgsm" / f"mgsm_{lang}.tsv").read_text())
    (tmp_path / "mgsm_en.tsv").write_text(content)
    with pytest.raises(DatasetError, match=re.escape(problem)):
        mgsm.load(str(tmp_path))
