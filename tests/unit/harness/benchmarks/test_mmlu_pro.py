"""mmlu_pro: loading, option lettering, prompts, the extraction cascade (also on
TIGER-Lab's recorded Llama-3.1-8B outputs), scoring and metrics."""

import collections
import json
import math
import random
import zipfile

import pytest

from conftest import DATA_DIR, reference

from evaltasks.harness.benchmarks import mmlu_pro
from evaltasks.harness.datasets import DatasetError

DATA = DATA_DIR / "mmlu_pro"
ZERO = {"seed": None, "extra": {"num_fewshot": 0}}
FIVE = {"seed": None, "extra": {"num_fewshot": 5}}

TEST_ROWS_PER_CATEGORY = {
    "math": 1351, "physics": 1299, "chemistry": 1132, "law": 1101, "engineering": 969,
    "other": 924, "economics": 844, "health": 818, "psychology": 798, "business": 789,
    "biology": 717, "philosophy": 499, "computer science": 410, "history": 381,
}


@pytest.fixture(scope="module")
def items():
    return mmlu_pro.load(str(DATA))


def row(qid, category, question, options, answer, cot=""):
    return {"question_id": qid, "question": question, "options": options, "answer": answer,
            "answer_index": "ABCDEFGHIJ".index(answer), "cot_content": cot, "category": category,
            "src": "made-up"}


@pytest.fixture
def toy(tmp_path):
    """A made-up dataset: two categories, options padded with "N/A" as older exports were."""
    val = [
        row(0, "physics", "Q-phys-1?", ["a", "b", "N/A", "N/A"], "B",
            "A: Let's think step by step. Because b. The answer is (B)."),
        row(1, "physics", "Q-phys-2?", ["c", "d", "e"], "A",
            "A: Let's think step by step. It is c. The answer is (A)."),
        row(2, "law", "Q-law-1?", ["x", "y"], "A", "A: Let's think step by step. x. The answer is (A)."),
    ]
    test = [row(10, "physics", "Which is right?", ["one", "two", "three", "four", "N/A", "N/A"], "C"),
            row(11, "law", "Is it legal?", ["yes", "no"], "B")]
    (tmp_path / "validation.json").write_text(json.dumps(val))
    (tmp_path / "test.json").write_text(json.dumps(test))
    return tmp_path


def test_loads_all_test_questions_lean(items):
    assert len(items) == 12032
    assert collections.Counter(i["category"] for i in items) == TEST_ROWS_PER_CATEGORY
    assert set(items[0]) == {"question_id", "question", "options", "gold", "category", "shots"}
    assert items[0]["question_id"] == 70 and items[-1]["question_id"] == 12256
    assert all(i["gold"] in "ABCDEFGHIJ"[: len(i["options"])] for i in items)
    assert collections.Counter(len(i["options"]) for i in items)[10] == 9981
    # Five exemplars per category, one shared list per category.
    assert all(len(i["shots"]) == 5 for i in items)
    law = [i for i in items if i["category"] == "law"]
    assert all(i["shots"] is law[0]["shots"] for i in law)


def test_options_lettered_after_dropping_na(toy):
    physics, law = mmlu_pro.load(str(toy))
    assert physics["options"] == ("one", "two", "three", "four") and physics["gold"] == "C"
    assert law["options"] == ("yes", "no")
    text = mmlu_pro.prompt(physics, ZERO)[0]["content"]
    assert "where LETTER is one of ABCD." in text
    assert text.endswith("A) one\nB) two\nC) three\nD) four")
    assert "N/A" not in text and "E)" not in text
    assert "N/A" not in mmlu_pro.prompt(physics, {"extra": {"num_fewshot": 2}})[0]["content"]


def test_zero_shot_prompt(toy):
    physics, _ = mmlu_pro.load(str(toy))
    assert mmlu_pro.prompt(physics, ZERO) == [{"role": "user", "content": (
        "Answer the following multiple choice question. The last line of your response should be "
        "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
        "Think step by step before answering.\n\nWhich is right?\n\n"
        "A) one\nB) two\nC) three\nD) four")}]
    # num_fewshot defaults to 0 when extra does not set it
    assert mmlu_pro.prompt(physics, {"extra": {}}) == mmlu_pro.prompt(physics, ZERO)


def test_fewshot_prompt_uses_same_category_exemplars(toy):
    physics, law = mmlu_pro.load(str(toy))
    instruction = ("The following are multiple choice questions (with answers) about {}. Think step by "
                   "step and then output the answer in the format of \"The answer is (X)\" at the end."
                   "\n\n")
    assert mmlu_pro.prompt(physics, {"extra": {"num_fewshot": 2}})[0]["content"] == (
        instruction.format("physics")
        + "Question: Q-phys-1?\nOptions: A. a\nB. b\n"
          "Answer: Let's think step by step. Because b. The answer is (B).\n\n"
        + "Question: Q-phys-2?\nOptions: A. c\nB. d\nC. e\n"
          "Answer: Let's think step by step. It is c. The answer is (A).\n\n"
        + "Question: Which is right?\nOptions: A. one\nB. two\nC. three\nD. four\n"
          "Answer: Let's think step by step.\n\n")
    one_shot = mmlu_pro.prompt(physics, {"extra": {"num_fewshot": 1}})[0]["content"]
    assert "Q-phys-1?" in one_shot and "Q-phys-2?" not in one_shot
    law_prompt = mmlu_pro.prompt(law, {"extra": {"num_fewshot": 1}})[0]["content"]
    assert law_prompt.startswith(instruction.format("law") + "Question: Q-law-1?\n")
    assert "Q-phys" not in law_prompt


def test_expand_checks_num_fewshot(toy):
    items = mmlu_pro.load(str(toy))
    assert mmlu_pro.expand(items, {"extra": {"num_fewshot": 1}}) == items
    with pytest.raises(ValueError, match="law"):      # law has one exemplar
        mmlu_pro.expand(items, {"extra": {"num_fewshot": 2}})
    with pytest.raises(ValueError, match="num_fewshot"):
        mmlu_pro.expand(items, {"extra": {"num_fewshot": -1}})


def test_real_five_shot_prompt(items):
    validation = json.loads((DATA / "validation.json").read_text())
    item = next(i for i in items if i["category"] == "law")
    text = mmlu_pro.prompt(item, FIVE)[0]["content"]
    assert text.startswith("The following are multiple choice questions (with answers) about law.")
    assert text.count("\n\nQuestion: ") == 6       # 5 exemplars, then the item
    for v in validation:
        assert (v["question"] in text) == (v["category"] == "law")
    assert "A: Let's think step by step." not in text
    assert text.count("Answer: Let's think step by step.") == 6
    assert text.endswith(item["question"].join(["Question: ", "\nOptions: "]) +
                         "".join(f"{l}. {o}\n" for l, o in zip("ABCDEFGHIJ", item["options"])) +
                         "Answer: Let's think step by step.\n\n")


@pytest.mark.parametrize("response, expected", [
    ("Let's see... The answer is (C).", "C"),
    ("the answer is D", "D"),
    ("The answer is **(B)**.", "B"),                                  # markdown removed
    ("First the answer is (A). On reflection the answer is (B).", "A"),  # first "answer is", as upstream
    ("Reasoning.\nAnswer: E", "E"),
    ("Answer: A is tempting.\nFinal answer: (H)", "H"),                 # the last "Answer:"
    ("**Answer:** J", "J"),
    ("Answer: Because of that, it must be G", "G"),                   # "Because" is not B
    ("I think it is (F), not C.", "C"),                               # last standalone letter
    ("Options E and I remain; I pick E.", "E"),
    ("No idea at all.", None),
    ("", None),
    (None, None),
])
def test_extraction_cascade(response, expected):
    assert mmlu_pro.extract(response) == expected


def test_score_carries_category():
    item = {"gold": "C", "category": "law", "question_id": 7}
    assert mmlu_pro.score("C", item) == {"score": 1.0, "category": "law", "question_id": 7}
    assert mmlu_pro.score("D", item)["score"] == 0.0
    assert mmlu_pro.score(None, item)["score"] == 0.0


def test_metrics_micro_per_category_macro():
    samples = ([{"score": 1.0, "category": "law"}] * 3 + [{"score": 0.0, "category": "law"}]
               + [{"score": 1.0, "category": "math"}] + [{"score": 0.0, "category": "math"}] * 3)
    m = mmlu_pro.metrics(samples, ZERO)
    assert list(m) == ["accuracy", "macro_accuracy", "accuracy/law", "accuracy/math"]
    assert m["accuracy"]["value"] == pytest.approx(0.5) and m["accuracy"]["n"] == 8
    assert m["accuracy"]["stderr"] == pytest.approx(math.sqrt(0.25 * 8 / 7 / 8))
    assert m["accuracy/law"] == {"value": 0.75, "stderr": pytest.approx(0.25), "n": 4}
    assert m["accuracy/math"]["value"] == 0.25
    assert m["macro_accuracy"] == {"value": 0.5, "stderr": pytest.approx(math.sqrt(2 * 0.25**2) / 2), "n": 2}
    assert all(set(v) == {"value", "stderr", "n"} for v in m.values())


def test_macro_differs_from_micro_when_categories_differ_in_size():
    samples = [{"score": 1.0, "category": "a"}] * 3 + [{"score": 0.0, "category": "b"}]
    m = mmlu_pro.metrics(samples, ZERO)
    assert m["accuracy"]["value"] == 0.75 and m["macro_accuracy"]["value"] == 0.5
    assert mmlu_pro.metrics([], ZERO)["accuracy"] == {"value": 0.0, "stderr": 0.0, "n": 0}


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"a": 1}', "JSON array"),
    ("[]", "JSON array"),
    (json.dumps([{"question": "q", "options": ["a", "b"], "category": "law"}]), "missing field.*answer"),
    (json.dumps([row(5, "law", "q", ["a", "b"], "A") | {"options": "a,b"}]), "options must be a list"),
    (json.dumps([row(5, "law", "q", ["a", "N/A"], "A")]), "1 options"),
    (json.dumps([row(5, "law", "q", ["a", "b", "c"], "C") | {"answer": "D"}]), "question_id 5.*answer 'D'"),
])
def test_malformed_test_file_is_named(toy, content, message):
    (toy / "test.json").write_text(content)
    with pytest.raises(DatasetError, match=message) as e:
        mmlu_pro.load(str(toy))
    assert str(e.value).startswith(str(toy / "test.json") + ":")


def test_malformed_validation_file_is_named(toy):
    rows = json.loads((toy / "validation.json").read_text())
    del rows[1]["cot_content"]
    (toy / "validation.json").write_text(json.dumps(rows))
    with pytest.raises(DatasetError, match=r"validation\.json: row 1 .*cot_content"):
        mmlu_pro.load(str(toy))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        mmlu_pro.load(str(tmp_path))


@pytest.fixture(scope="module")
def recorded():
    zip_path = reference("mmlu_pro", "model_outputs_Meta-Llama-3_1-8B-Instruct_5shots.zip")
    with zipfile.ZipFile(zip_path) as z:
        rows = json.loads(z.read("model_outputs_Meta-Llama-3_1-8B-Instruct_5shots.json"))
    derived = json.loads(reference("mmlu_pro", "llama31_8b_instruct_accuracy_DERIVED.json").read_text())
    return rows, derived


def test_extraction_matches_reference_on_recorded_outputs(recorded):
    """The recorded ``pred`` is TIGER-Lab's cascade, with a seeded random letter
    where the cascade found none; we return None there instead of guessing."""
    rows, _ = recorded
    guess = random.Random(12345).choice("ABCDEFGHIJ")      # upstream: random.seed(12345)
    ours = [mmlu_pro.extract(r["generated_text"]) for r in rows]
    disagree = [(r["question_id"], p, r["pred"]) for r, p in zip(rows, ours)
                if p is not None and p != r["pred"]]
    assert disagree == []
    unextracted = [r for r, p in zip(rows, ours) if p is None]
    assert all(r["pred"] == guess for r in unextracted)
    assert len(unextracted) < 0.06 * len(rows)      # 694 of 12,032 are cut-off or letterless


def test_recorded_accuracy_matches_derived_per_category(recorded):
    """Our scores plus upstream's lucky random guesses give the DERIVED counts exactly."""
    rows, derived = recorded
    guess = random.Random(12345).choice("ABCDEFGHIJ")
    samples, lucky = [], collections.Counter()
    for r in rows:
        item = {"gold": r["answer"], "category": r["category"], "question_id": r["question_id"]}
        extracted = mmlu_pro.extract(r["generated_text"])
        samples.append(mmlu_pro.score(extracted, item))
        if extracted is None and r["answer"] == guess:
            lucky[r["category"]] += 1
    m = mmlu_pro.metrics(samples, FIVE)
    expected = derived["vs_embedded_answer"]
    assert m["accuracy"]["n"] == expected["overall"]["n"] == 12032
    assert round(m["accuracy"]["value"] * 12032) + sum(lucky.values()) == expected["overall"]["correct"]
    for category, want in expected["per_category"].items():
        got = m[f"accuracy/{category}"]
        assert got["n"] == want["n"]
        assert round(got["value"] * got["n"]) + lucky[category] == want["correct"], category
    assert m["accuracy"]["value"] == pytest.approx(expected["overall"]["acc"], abs=0.01)
