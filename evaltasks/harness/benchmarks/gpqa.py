"""GPQA: graduate-level biology, chemistry and physics questions with one correct
and three incorrect answers, in three subsets of one official archive: main (448),
extended (546) and diamond (198, the hardest; simple-evals' default).

Data: the authors' ``dataset.zip`` (github.com/idavidrein/gpqa), which they lock
with a published password to keep the questions out of crawled training text.
``load`` reads ``dataset/gpqa_<subset>.csv`` from it in memory (the stdlib reads
its legacy ZipCrypto): the questions are never written to disk, so no unpacked
copy can outlive a run, a crash or Ctrl-C. With a Hugging Face token (``HF_TOKEN``,
or a task's ``env_vars``) the launcher fetches the subset's CSV from the gated
``Idavidrein/gpqa`` instead, which NeMo Evaluator's simple-evals reads; a folder
holding that file and no archive is read from it.

Choices are shuffled as simple-evals' ``gpqa_eval.py`` does: one
``random.Random(seed)`` (seed ``params["seed"]``, 0 when unset, simple-evals' own)
draws ``rng.sample(range(4), 4)`` for every row of the subset, repeat after
repeat (simple-evals' ``examples * n_repeats``), so at seed 0 each question shows
its answers in simple-evals' order. The draws cover the whole subset whatever
``limit_samples`` keeps, so a question's order does not depend on it. Each copy
records its ``permutation`` (position → original answer, 0 being the correct one)
and its ``gold`` letter: the first position holding the correct answer's text,
as simple-evals' ``choices.index`` finds it (four extended questions repeat an
answer's text). Texts are kept as the CSV has them (no stripping), as pandas
hands them to simple-evals.

Prompt: simple-evals' multiple-choice template, asking for a last line
``Answer: $LETTER``. Extraction: the last match of simple-evals' pattern
``(?i)Answer[ \\t]*:[ \\t]*\\$?([A-D])\\$?`` after removing markdown ``**``, upper-cased
(simple-evals takes the first match, which misreads replies that write "Answer:"
before their final line; on a reply with one answer line both agree).

Metrics: ``accuracy`` over all samples (stderr treats repeats as independent),
``accuracy/<High-level domain>``, and the spread over repeats: ``accuracy_repeat_min``
and ``accuracy_repeat_max`` (the worst and best repeat, with that repeat's stderr
and n) and ``accuracy_repeat_std`` (the sample standard deviation of the repeats'
accuracies; n is the number of repeats, stderr 0.0).
"""

import csv
import io
import os
import random
import re
import statistics
import zipfile

from .. import aggregate
from ..choices import group_metrics, letters, scores_by, zero_shot_prompt
from ..datasets import DatasetError

ARCHIVE = "dataset.zip"
# Published by the authors in the repository's README; it keeps crawlers out, not people.
PASSWORD = b"deserted-untie-orchid"
SUBSETS = ("main", "extended", "diamond")

ANSWERS = ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
REQUIRED = ("Question",) + ANSWERS + ("High-level domain",)

_ANSWER = re.compile(r"(?i)Answer[ \t]*:[ \t]*\$?([A-D])\$?")


def load(data_dir, subset="diamond"):
    if subset not in SUBSETS:
        raise ValueError(f"gpqa: unknown subset {subset!r} (one of {', '.join(SUBSETS)})")
    path = os.path.join(data_dir, ARCHIVE)
    plain = os.path.join(data_dir, f"gpqa_{subset}.csv")
    if not os.path.isfile(path) and os.path.isfile(plain):      # the Hugging Face copy
        with open(plain, "rb") as f:
            return _rows(plain, f.read())
    member = f"dataset/gpqa_{subset}.csv"
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(member, pwd=PASSWORD)
    except zipfile.BadZipFile as e:
        raise DatasetError(f"{path}: not a readable zip archive ({e})") from None
    except KeyError:
        raise DatasetError(f"{path}: has no {member}") from None
    except RuntimeError as e:      # a wrong password: not the authors' archive
        raise DatasetError(f"{path}: cannot read {member} ({e})") from None
    return _rows(f"{path}!{member}", data)


def _rows(where, data):
    """The questions of one subset's CSV (``data``: its bytes; ``where`` names it)."""
    items = []
    try:
        # utf-8-sig: a CSV saved by a spreadsheet may start with a byte-order mark.
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise DatasetError(f"{where}: missing column(s) {', '.join(missing)}")
        for row_no, row in enumerate(reader):
            items.append(_item(f"{where}:{reader.line_num}", row_no, row))
    except (csv.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"{where}: not a readable CSV file ({e})") from None
    if not items:
        raise DatasetError(f"{where}: no questions in the file")
    for item in items:
        item["of"] = len(items)
    return items


def _item(where, row_no, row):
    """``where``: file and line (the row's last line: answers may span several)."""
    if None in row:
        raise DatasetError(f"{where}: more fields than columns")
    empty = [c for c in ("Question",) + ANSWERS if not (row[c] or "").strip()]
    if empty:
        raise DatasetError(f"{where}: empty {', '.join(empty)}")
    return {"row": row_no, "record_id": row.get("Record ID") or "",
            "question": row["Question"],
            "answers": tuple(row[c] for c in ANSWERS),      # the correct one first
            "domain": (row["High-level domain"] or "").strip() or "unknown",
            "gold": row["Correct Answer"]}      # a letter once ``expand`` shuffles


def _seed(params):
    seed = params.get("seed")
    return 0 if seed is None else seed


def permutations(seed, rows, n_repeats):
    """simple-evals' draws: ``[repeat][row]`` → the order of the four answers."""
    rng = random.Random(seed)
    return [[rng.sample(range(4), 4) for _ in range(rows)] for _ in range(n_repeats)]


def shuffled(item, permutation, repeat):
    """A copy of ``item`` for one repeat, with its answers in ``permutation``'s order."""
    choices = [item["answers"][i] for i in permutation]
    return dict(item, repeat=repeat, permutation=permutation, choices=choices,
                gold=letters(4)[choices.index(item["answers"][0])])


def expand(items, params):
    """``n_repeats`` shuffled copies of every item, repeat by repeat."""
    n = (params.get("extra") or {}).get("n_repeats", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"gpqa: n_repeats must be a whole number ≥ 1, not {n!r}")
    if not items:
        return []
    draws = permutations(_seed(params), items[0]["of"], n)
    return [shuffled(item, draws[repeat][item["row"]], repeat) for repeat in range(n) for item in items]


def prompt(item, params):
    return [{"role": "user", "content": zero_shot_prompt(item["question"], item["choices"])}]


def extract(text):
    # "**Answer:** B" is common markdown; without the stars the pattern sees it.
    answers = _ANSWER.findall((text or "").replace("**", ""))
    return answers[-1].upper() if answers else None


def score(extracted, item):
    return {"score": float(extracted == item["gold"]), "domain": item["domain"],
            "repeat": item.get("repeat", 0), "record_id": item["record_id"],
            "permutation": item.get("permutation")}


def metrics(samples, params):
    scores, groups = scores_by(samples, "domain", "repeat")
    repeats = [aggregate.mean_metric(v) for _, v in sorted(groups["repeat"].items())]
    result = {"accuracy": aggregate.mean_metric(scores), **group_metrics(groups["domain"])}
    if repeats:
        result["accuracy_repeat_min"] = min(repeats, key=lambda m: m["value"])
        result["accuracy_repeat_max"] = max(repeats, key=lambda m: m["value"])
        values = [m["value"] for m in repeats]
        result["accuracy_repeat_std"] = {
            "value": statistics.stdev(values) if len(values) > 1 else 0.0,
            "stderr": 0.0, "n": len(values)}
    return result
