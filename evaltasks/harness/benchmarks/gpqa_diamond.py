"""GPQA Diamond: 198 graduate-level biology, chemistry and physics questions with
one correct and three incorrect answers (``gpqa_diamond.csv``, gated on the HF hub).

``expand`` makes ``n_repeats`` copies of each question, each with its own order of
the four answers: ``random.Random(f"{seed}-{row}-{repeat}").sample(range(4), 4)``,
where ``row`` is the question's 0-based row in the CSV and ``seed`` is
``params["seed"]`` (0 when unset). A string seed is hashed with SHA-512, so the
order is the same on every machine and Python run, and does not depend on
``limit_samples`` or on the other questions. Each copy records its
``permutation`` (position → original answer, 0 being the correct one) and its
``gold`` letter; before ``expand``, an item's ``gold`` is the correct answer's text.

Prompt: the simple-evals multiple-choice template, asking for a last line
``Answer: $LETTER``. Extraction: the last match of simple-evals' pattern
``(?i)Answer[ \\t]*:[ \\t]*\\$?([A-D])\\$?`` after removing markdown ``**``, upper-cased
(simple-evals takes the first match, which misreads replies that write "Answer:"
before their final line).

Metrics: ``accuracy`` over all samples (stderr treats repeats as independent),
``accuracy/<High-level domain>``, and the spread over repeats: ``accuracy_repeat_min``
and ``accuracy_repeat_max`` (the worst and best repeat, with that repeat's stderr
and n) and ``accuracy_repeat_std`` (the sample standard deviation of the repeats'
accuracies; n is the number of repeats, stderr 0.0).
"""

import csv
import os
import random
import re
import statistics

from .. import stats
from ..choices import group_metrics, letters, scores_by, zero_shot_prompt
from ..datasets import DatasetError

ANSWERS = ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
REQUIRED = ("Question",) + ANSWERS + ("High-level domain",)

_ANSWER = re.compile(r"(?i)Answer[ \t]*:[ \t]*\$?([A-D])\$?")


def load(data_dir):
    path = os.path.join(data_dir, "gpqa_diamond.csv")
    items = []
    try:
        # utf-8-sig: a CSV saved by a spreadsheet may start with a byte-order mark.
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
            for row_no, row in enumerate(reader):
                items.append(_item(f"{path}:{reader.line_num}", row_no, row))
    except (csv.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not a readable CSV file ({e})") from None
    if not items:
        raise DatasetError(f"{path}: no questions in the file")
    return items


def _item(where, row_no, row):
    """``where``: file and line (the row's last line: answers may span several)."""
    if None in row:
        raise DatasetError(f"{where}: more fields than columns")
    empty = [c for c in ("Question",) + ANSWERS if not (row[c] or "").strip()]
    if empty:
        raise DatasetError(f"{where}: empty {', '.join(empty)}")
    return {"row": row_no, "record_id": row.get("Record ID") or "",
            "question": row["Question"].strip(),
            "answers": tuple(row[c].strip() for c in ANSWERS),      # the correct one first
            "domain": (row["High-level domain"] or "").strip() or "unknown",
            "gold": row["Correct Answer"].strip()}      # a letter once ``expand`` shuffles


def _seed(params):
    seed = params.get("seed")
    return 0 if seed is None else seed


def shuffled(item, seed, repeat):
    """A copy of ``item`` for one repeat, with its answers in a seeded order."""
    permutation = random.Random(f"{seed}-{item['row']}-{repeat}").sample(range(4), 4)
    return dict(item, repeat=repeat, permutation=permutation,
                choices=[item["answers"][i] for i in permutation],
                gold=letters(4)[permutation.index(0)])


def expand(items, params):
    """``n_repeats`` shuffled copies of every item, repeat by repeat."""
    n = (params.get("extra") or {}).get("n_repeats", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"gpqa_diamond: n_repeats must be a whole number ≥ 1, not {n!r}")
    seed = _seed(params)
    return [shuffled(item, seed, repeat) for repeat in range(n) for item in items]


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
    repeats = [stats.mean_metric(v) for _, v in sorted(groups["repeat"].items())]
    result = {"accuracy": stats.mean_metric(scores), **group_metrics(groups["domain"])}
    if repeats:
        result["accuracy_repeat_min"] = min(repeats, key=lambda m: m["value"])
        result["accuracy_repeat_max"] = max(repeats, key=lambda m: m["value"])
        values = [m["value"] for m in repeats]
        result["accuracy_repeat_std"] = {
            "value": statistics.stdev(values) if len(values) > 1 else 0.0,
            "stderr": 0.0, "n": len(values)}
    return result
