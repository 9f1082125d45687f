"""gpqa_main / gpqa_extended / gpqa_diamond on the authors' official archive
(read in memory, never unpacked): the subsets' rows, simple-evals' seeded shuffle,
prompt, extraction, scoring and metrics, end to end with a scripted model whose
expected scores come from the real rows."""

import hashlib
import json
import random
import re
import statistics
import zipfile

import pytest

from conftest import DATA_DIR
from support.gpqa_official import ARCHIVE, official_rows

from evaltasks.harness import benchmarks
from evaltasks.harness.benchmarks import gpqa
from evaltasks.harness.datasets import DatasetError

SIZES = {"main": 448, "extended": 546, "diamond": 198}


def params(n_repeats=1, seed=None):
    return {"seed": seed, "extra": {"n_repeats": n_repeats}}


@pytest.fixture(scope="module")
def diamond():
    return gpqa.load(str(DATA_DIR / "gpqa"), "diamond")


def test_the_archive_is_the_official_one_the_catalog_names():
    for subset in SIZES:
        (data_file,) = benchmarks.resolve(f"gpqa_{subset}").files
        assert hashlib.sha256(ARCHIVE.read_bytes()).hexdigest() == data_file.sha256
        assert "idavidrein/gpqa" in data_file.url


@pytest.mark.parametrize("subset", SIZES)
def test_each_subset_has_its_official_rows(subset):
    items = gpqa.load(str(DATA_DIR / "gpqa"), subset)
    official = official_rows(subset)
    bench = benchmarks.resolve(f"gpqa_{subset}")
    assert len(items) == len(official) == SIZES[subset] == bench.size
    assert [i["record_id"] for i in items] == [r["Record ID"] for r in official]
    assert [i["question"] for i in items] == [r["Question"] for r in official]     # as written, not stripped
    assert [i["answers"][0] for i in items] == [r["Correct Answer"] for r in official]
    assert {i["domain"] for i in items} == {"Physics", "Chemistry", "Biology"}


def test_diamond_ids_are_a_subset_of_main_and_main_of_extended():
    ids = {s: {r["Record ID"] for r in official_rows(s)} for s in SIZES}
    assert len(ids["diamond"]) == 198 and ids["main"] <= ids["extended"]
    assert len(ids["diamond"] & ids["extended"]) == 198


def simple_evals_orders(rows, n_repeats, seed=0):
    """The answer orders simple-evals' GPQAEval draws: one Random(0), one draw per
    example of ``examples * n_repeats``, in that order."""
    rng = random.Random(seed)
    return [rng.sample(range(4), 4) for _ in range(rows * n_repeats)]


def test_shuffle_is_simple_evals(diamond):
    expanded = gpqa.expand(diamond, params(n_repeats=4))
    orders = simple_evals_orders(198, 4)
    assert [s["permutation"] for s in expanded] == orders
    for s in expanded:
        assert s["choices"] == [s["answers"][i] for i in s["permutation"]]
        assert s["choices"][ord(s["gold"]) - ord("A")] == s["answers"][0]
    # limit_samples keeps a question's order; another seed changes most of them.
    assert gpqa.expand(diamond[:5], params(n_repeats=2)) == expanded[:5] + expanded[198:203]
    other = gpqa.expand(diamond, params(n_repeats=1, seed=8))
    assert [s["permutation"] for s in other] == simple_evals_orders(198, 1, seed=8)
    assert sum(a["permutation"] != b["permutation"] for a, b in zip(expanded, other)) > 150
    assert len({s["gold"] for s in expanded}) == 4


def test_a_repeated_answer_text_gets_the_first_letter_holding_it():
    items = gpqa.load(str(DATA_DIR / "gpqa"), "extended")
    twins = [i for i in items if len(set(i["answers"])) < 4]
    assert twins                                    # four such questions in extended
    for s in gpqa.expand(twins, params(n_repeats=3)):
        assert s["gold"] == "ABCD"[s["choices"].index(s["answers"][0])]


def test_n_repeats_must_be_positive(diamond):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_repeats"):
            gpqa.expand(diamond, params(n_repeats=bad))
    assert len(gpqa.expand(diamond, {"extra": {}})) == 198


def test_prompt_is_simple_evals_template(diamond):
    item = gpqa.expand(diamond, params())[0]
    a, b, c, d = item["choices"]
    assert gpqa.prompt(item, params()) == [{"role": "user", "content": (
        "Answer the following multiple choice question. The last line of your response should be "
        "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
        f"Think step by step before answering.\n\n{item['question']}\n\n"
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
    assert gpqa.extract(response) == expected


def zipped(tmp_path, content, member="dataset/gpqa_diamond.csv"):
    with zipfile.ZipFile(tmp_path / "dataset.zip", "w") as z:
        z.writestr(member, content)
    return tmp_path / "dataset.zip"


HEADER = "Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3,High-level domain\n"


@pytest.mark.parametrize("content, message", [
    ("Question,Correct Answer\nq,a\n", "missing column.*Incorrect Answer 1.*High-level domain"),
    ("", "missing column"),
    (HEADER, "no questions"),
    (HEADER + "q,a,b,c,d,Physics\nq2,a,,c,d,Physics\n", r"gpqa_diamond\.csv:3: empty Incorrect Answer 1"),
    (HEADER + "q,a,b,c,d,Physics,extra\n", "more fields than columns"),
])
def test_malformed_csv_is_named(tmp_path, content, message):
    path = zipped(tmp_path, content)
    with pytest.raises(DatasetError, match=message) as e:
        gpqa.load(str(tmp_path), "diamond")
    assert str(e.value).startswith(f"{path}!dataset/gpqa_diamond.csv")


def test_unreadable_archives_are_named(tmp_path):
    zipped(tmp_path, HEADER + "q,a,b,c,d,Physics\n", member="dataset/gpqa_main.csv")
    with pytest.raises(DatasetError, match=r"dataset\.zip: has no dataset/gpqa_diamond\.csv"):
        gpqa.load(str(tmp_path), "diamond")
    (tmp_path / "dataset.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"dataset\.zip: not a readable zip archive"):
        gpqa.load(str(tmp_path), "main")
    zipped(tmp_path, b"Question,Correct Answer\n\xff\xfe\x00bad\n")
    with pytest.raises(DatasetError, match=r"gpqa_diamond\.csv: not a readable CSV"):
        gpqa.load(str(tmp_path), "diamond")


def test_a_folder_with_the_hugging_face_csv_is_read_from_it(tmp_path):
    """The gated hub's gpqa_<subset>.csv (fetched with a token) holds the same rows;
    here a copy of the official one, in a test's temporary folder."""
    with zipfile.ZipFile(ARCHIVE) as z:
        (tmp_path / "gpqa_diamond.csv").write_bytes(z.read("dataset/gpqa_diamond.csv", pwd=b"deserted-untie-orchid"))
    from_hub = gpqa.load(str(tmp_path), "diamond")
    assert from_hub[0]["record_id"] == "rec06pnAkLOr2t2mp"
    assert [dict(i) for i in from_hub] == gpqa.load(str(DATA_DIR / "gpqa"), "diamond")
    with pytest.raises(FileNotFoundError):
        gpqa.load(str(tmp_path), "main")


def test_loading_writes_nothing(tmp_path, monkeypatch):
    """The questions stay in memory: no file appears in the temp folder or the working folder."""
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.chdir(scratch)
    for subset in SIZES:
        gpqa.load(str(DATA_DIR / "gpqa"), subset)
    assert list(scratch.iterdir()) == []


class ScriptedModel:
    """Answers from the official rows: finds the question in the prompt, reads the
    four options back and gives the letter of the correct answer's text, in the
    reference's format (a last line ``Answer: X``); for questions in ``wrong`` the
    next letter, for those in ``malformed`` a reply with no ``Answer:`` line."""

    def __init__(self, subset, wrong=(), malformed=()):
        self.correct = {r["Question"]: (r["Record ID"], r["Correct Answer"]) for r in official_rows(subset)}
        self.wrong, self.malformed = set(wrong), set(malformed)

    def __call__(self, content):
        question = next(q for q in self.correct if f"\n\n{q}\n\nA) " in content)
        record_id, correct = self.correct[question]
        tail = content.split(f"\n\n{question}", 1)[1]
        options = re.fullmatch(r"\n\nA\) (.*)\nB\) (.*)\nC\) (.*)\nD\) (.*)", tail, re.S).groups()
        letter = "ABCD"[options.index(correct)]
        if record_id in self.malformed:
            return f"The options are close; I lean towards ({letter})."
        if record_id in self.wrong:
            letter = "ABCD"[("ABCD".index(letter) + 1) % 4]
        return f"Let me reason step by step.\n\nAnswer: {letter}"


def seeded_split(subset, seed=19):
    """Record IDs answered wrongly and malformed: a seeded quarter each."""
    ids = sorted(r["Record ID"] for r in official_rows(subset))
    picked = random.Random(f"{subset}-{seed}").sample(ids, len(ids) // 2)
    return set(picked[: len(picked) // 2]), set(picked[len(picked) // 2:])


@pytest.mark.parametrize("subset", SIZES)
def test_end_to_end_scores_what_the_answers_imply(subset):
    items = gpqa.load(str(DATA_DIR / "gpqa"), subset)
    wrong, malformed = seeded_split(subset)
    model = ScriptedModel(subset, wrong, malformed)
    p = params(n_repeats=2, seed=3)
    samples = []
    for index, item in enumerate(gpqa.expand(items, p)):
        response = model(gpqa.prompt(item, p)[0]["content"])
        extracted = gpqa.extract(response)
        sample = {"index": index, "response": response, "extracted": extracted, "gold": item["gold"]}
        sample.update(gpqa.score(extracted, item))
        samples.append(json.loads(json.dumps(sample)))      # as read back from samples.jsonl
    assert sum(s["extracted"] is None for s in samples) == 2 * len(malformed)

    rows = official_rows(subset)
    right = [r for r in rows if r["Record ID"] not in wrong | malformed]
    m = gpqa.metrics(samples, p)
    assert m["accuracy"]["value"] == pytest.approx(len(right) / len(rows)) and m["accuracy"]["n"] == 2 * len(rows)
    for domain in ("Physics", "Chemistry", "Biology"):
        of_domain = [r for r in rows if r["High-level domain"] == domain]
        expected = sum(r in right for r in of_domain) / len(of_domain)
        assert m[f"accuracy/{domain}"]["value"] == pytest.approx(expected), domain
    assert m["accuracy_repeat_min"]["value"] == m["accuracy_repeat_max"]["value"] == pytest.approx(
        len(right) / len(rows))
    assert m["accuracy_repeat_std"] == {"value": 0.0, "stderr": 0.0, "n": 2}


def test_metrics_spread_over_repeats():
    samples = [{"score": s, "domain": "Physics", "repeat": r}
               for r, scores in enumerate([(1, 1, 0), (1, 0, 0), (1, 1, 1)]) for s in scores]
    m = gpqa.metrics(samples, params(3))
    assert m["accuracy_repeat_min"]["value"] == pytest.approx(1 / 3)
    assert m["accuracy_repeat_max"]["value"] == 1.0
    assert m["accuracy_repeat_std"]["value"] == pytest.approx(statistics.stdev([2 / 3, 1 / 3, 1.0]))
