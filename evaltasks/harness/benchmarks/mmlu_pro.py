"""MMLU-Pro: 12,032 questions with 3 to 10 options in 14 categories (TIGER-Lab).

Options are lettered A–J after dropping "N/A" entries (older hub exports padded
every row to ten options with them), as the reference scripts do.

Prompts (one user message):
- ``num_fewshot: 0`` (default): zero-shot chain of thought ending in an
  ``Answer: $LETTER`` line (``choices.zero_shot_prompt``).
- ``num_fewshot: k`` (1–5): the TIGER-Lab chain-of-thought prompt of
  ``evaluate_from_api.py``: an instruction naming the category, the first k
  ``validation.json`` rows of the item's category with their worked answers, then
  the question, its answer opened with "Let's think step by step.".

Extraction, TIGER-Lab's cascade: the first ``answer is (X)``; else the last
``Answer: X``; else the last standalone letter A–J; else None (scored wrong: the
reference's seeded random guess is not reproduced). Markdown ``**`` is removed
first, as the reference does for API replies. Two small departures from the
reference's second step (``.*[aA]nswer:\\s*([A-J])``, which takes the last match
on the first line that has one): we take the last match in the reply, since the
zero-shot prompt asks for it on the last line, and accept ``Answer: (X)`` but not
a capital that starts a word (``Answer: Because`` is not B).

Metrics: ``accuracy`` (micro, over all samples), ``macro_accuracy`` (the mean of
the category accuracies; n is the number of categories and stderr is propagated
from theirs, sqrt(sum of squared stderrs) / categories) and ``accuracy/<category>``.
"""

import json
import os
import re

from .. import aggregate
from ..choices import LETTERS, group_metrics, letters, macro_metric, scores_by, zero_shot_prompt
from ..datasets import DatasetError

FEWSHOT_INSTRUCTION = (
    "The following are multiple choice questions (with answers) about {category}. Think step by"
    " step and then output the answer in the format of \"The answer is (X)\" at the end.\n\n"
)
COT_OPENING = "Let's think step by step."

_ANSWER_IS = re.compile(r"answer is \(?([A-J])\)?")
_ANSWER_LINE = re.compile(r"[aA]nswer:\s*\(?([A-J])\b")
_LETTER = re.compile(r"\b[A-J]\b")


def load(data_dir):
    """Test items, each carrying the exemplars of its category as a shared list
    (so the 5-shot prompt needs no second read and costs no memory per item)."""
    shots = {}
    val_path = os.path.join(data_dir, "validation.json")
    for row in _rows(val_path, with_cot=True):
        shots.setdefault(row["category"], []).append(_exemplar(row["question"], row["options"], row["cot"]))

    items, names = [], {}
    for row in _rows(os.path.join(data_dir, "test.json")):
        # One string object per category instead of 12,032 copies.
        category = names.setdefault(row["category"], row["category"])
        items.append({"question_id": row["question_id"], "question": row["question"],
                      "options": row["options"], "gold": row["gold"], "category": category,
                      "shots": shots.get(category, ())})
    return items


def _rows(path, with_cot=False):
    """The file's rows, checked and cut down to the fields used, one at a time."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except ValueError as e:
        raise DatasetError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{path}: expected a non-empty JSON array of questions")
    for i, row in enumerate(raw):
        raw[i] = None      # the parsed row goes as soon as its lean copy exists
        yield _check(path, i, row, with_cot)


def _check(path, i, row, with_cot):
    if not isinstance(row, dict):
        raise DatasetError(f"{path}: row {i}: not a JSON object")
    where = f"{path}: row {i} (question_id {row.get('question_id', '?')})"
    needed = ("question", "options", "answer", "category") + (("cot_content",) if with_cot else ())
    missing = [k for k in needed if k not in row]
    if missing:
        raise DatasetError(f"{where}: missing field(s) {', '.join(missing)}")
    options = row["options"]
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise DatasetError(f"{where}: options must be a list of strings")
    options = tuple(o for o in options if o != "N/A")
    if not 2 <= len(options) <= len(LETTERS):
        raise DatasetError(f"{where}: {len(options)} options after dropping N/A (need 2 to 10)")
    answer = row["answer"]
    if not (isinstance(answer, str) and len(answer) == 1 and answer in letters(len(options))):
        raise DatasetError(f"{where}: answer {row['answer']!r} is not one of {letters(len(options))}")
    for key in ("question", "category") + (("cot_content",) if with_cot else ()):
        if not isinstance(row[key], str):
            raise DatasetError(f"{where}: {key} must be a string")
    checked = {"question_id": row.get("question_id", i), "question": row["question"],
               "options": options, "gold": row["answer"], "category": row["category"]}
    if with_cot:
        checked["cot"] = row["cot_content"]
    return checked


def _exemplar(question, options, cot=""):
    """One question in the TIGER-Lab few-shot format. The validation answers start
    "A: Let's think step by step."; the "A: " goes so the text follows "Answer: "."""
    if cot.startswith("A: "):
        cot = cot[3:]
    listed = "".join(f"{letter}. {option}\n" for letter, option in zip(LETTERS, options))
    return f"Question: {question}\nOptions: {listed}Answer: {cot or COT_OPENING}\n\n"


def _num_fewshot(params):
    k = (params.get("extra") or {}).get("num_fewshot", 0)
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise ValueError(f"mmlu_pro: num_fewshot must be a whole number ≥ 0, not {k!r}")
    return k


def expand(items, params):
    """The items as they are, after checking that every category has
    ``num_fewshot`` exemplars, so a bad setting fails before any request."""
    k = _num_fewshot(params)
    short = sorted({item["category"] for item in items if len(item["shots"]) < k})
    if short:
        raise ValueError(f"mmlu_pro: num_fewshot {k}, but validation.json has fewer exemplars "
                         f"for: {', '.join(short)}")
    return items


def prompt(item, params):
    k = _num_fewshot(params)
    if k == 0:
        content = zero_shot_prompt(item["question"], item["options"])
    else:
        content = (FEWSHOT_INSTRUCTION.format(category=item["category"]) + "".join(item["shots"][:k])
                   + _exemplar(item["question"], item["options"]))
    return [{"role": "user", "content": content}]


def extract(text):
    text = (text or "").replace("**", "")
    match = _ANSWER_IS.search(text)
    if match:
        return match.group(1)
    answers = _ANSWER_LINE.findall(text)
    if answers:
        return answers[-1]
    standalone = _LETTER.findall(text)
    return standalone[-1] if standalone else None


def score(extracted, item):
    return {"score": float(extracted == item["gold"]), "category": item["category"],
            "question_id": item["question_id"]}


def metrics(samples, params):
    scores, groups = scores_by(samples, "category")
    per_category = group_metrics(groups["category"])
    return {"accuracy": aggregate.mean_metric(scores),
            "macro_accuracy": macro_metric(list(per_category.values())),
            **per_category}

