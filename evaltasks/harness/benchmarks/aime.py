r"""AIME 2024 and AIME 2025 (``aime_2024``, ``aime_2025``): 30 problems each (I and II),
integer answers 0–999; NeMo-Skills' copies of the problems (``test.jsonl``: ``id``,
``problem``, ``expected_answer``).

Prompt and extraction as NeMo Evaluator's ``simple_evals.aime_2024_nemo`` /
``aime_2025_nemo`` (nvidia-simple-evals 26.3): its NeMo math template (reason, then
the final answer in ``\boxed{}``; the template's doubled backslash reaches the
model as it does there), and its boxed-answer extraction (NeMo's
``extract_answer``): the content of every ``\boxed{...}`` (nested braces allowed),
joined by ", " when there are several (a reply that boxes two candidates has no
single answer); an unclosed box ends the search; ``\fbox`` or ``\boxed 5`` give
no answer.

Score: 1 when the extracted answer has the gold's integer value under the
rule-based equivalence shared with math and math500 (``harness/math_equiv.py``):
``073``, ``73.0`` and ``\text{73}`` all equal 73. (The reference compares the
strings exactly without a judge; NeMo-Skills' grader, and the data's own note,
compare values.)

``extra.n_samples`` asks each problem k times (set ``temperature`` > 0, or the
repeats are the same reply): repeat r of a problem is sample r in the response
cache and is sent with ``seed`` + r when a seed is set. Metrics, all over problems (stderr and n too): ``pass@1``, the mean over
repeats of each problem's score, averaged over problems (avg@k); ``maj@k``, 1 for
a problem when its most frequent extracted value (ties: the one reached first)
is right; ``pass@k``, 1 when any repeat is right.
"""

import os
from collections import Counter

from .. import aggregate
from ..datasets import read_jsonl
from ..math_equiv import is_equiv, normalize, number

PROMPT = (
    "Below is a math question. I want you to reason through the steps and then give a final answer. "
    "Your final answer should be in \\\\boxed{{}}.\nQuestion: {problem}"
)


def load(data_dir):
    def item(row):
        gold = row["expected_answer"]
        if not (isinstance(gold, str) and gold.isdigit() and 0 <= int(gold) <= 999):
            raise ValueError(f"expected_answer {gold!r} is not an integer 0-999")
        if not isinstance(row["problem"], str) or not row["problem"].strip():
            raise ValueError("problem must be text")
        return {"id": row["id"], "problem": row["problem"], "gold": str(int(gold))}

    return read_jsonl(os.path.join(data_dir, "test.jsonl"), item, "an AIME row")


def expand(items, params):
    n = (params.get("extra") or {}).get("n_samples", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"aime: n_samples must be a whole number ≥ 1, not {n!r}")
    return [dict(item, sample=s) for item in items for s in range(n)]


def prompt(item, params):
    return [{"role": "user", "content": PROMPT.format(problem=item["problem"])}]


def extract(text):
    text = text or ""
    answers, start = [], 0
    while start < len(text):
        at = _find(text.find, start)
        if at < 0:
            break
        end = _closing(text, at)
        if end is None:
            break
        if text.startswith("\\boxed{", at):
            answers.append(text[at + len("\\boxed{"):end])
        start = end + 1
    if answers:
        return ", ".join(answers)
    # None of them was written "\boxed{": the reference looks once more, at the last.
    at = _find(text.rfind)
    end = _closing(text, at) if at >= 0 else None
    return text[at + len("\\boxed{"):end] if end is not None and text.startswith("\\boxed{", at) else None


def _find(find, *start):
    """Where the next (or last) ``\\boxed`` is, else the next ``\\fbox``, else -1."""
    at = find("\\boxed", *start)
    return at if at >= 0 else find("\\fbox", *start)


def _closing(text, start):
    """The index of the first ``}`` from ``start`` that closes every ``{`` opened
    after ``start``, or None (a truncated reply)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def score(extracted, item):
    return {"score": float(is_equiv(extracted, item["gold"])), "id": item["id"],
            "sample": item.get("sample", 0), "vote": _vote(extracted)}


def _vote(extracted):
    """What majority voting counts as one answer: its exact value when numeric,
    else its normalised text; None for no answer."""
    if extracted is None:
        return None
    s = normalize(extracted)
    value = number(s)
    if value is None:
        return s or None
    return str(value.numerator) if value.denominator == 1 else str(value)


def metrics(samples, params):
    problems = {}
    for s in samples:
        problems.setdefault(s.get("id", s["index"]), []).append(s)
    if not problems:
        return {"pass@1": aggregate.mean_metric([])}
    k = min(len(v) for v in problems.values())
    avg, majority, any_right = [], [], []
    for repeats in problems.values():
        avg.append(sum(s["score"] for s in repeats) / len(repeats))
        any_right.append(float(any(s["score"] for s in repeats)))
        votes = Counter(s.get("vote") for s in repeats if s.get("vote") is not None)
        if votes:
            top = max(votes.values())
            winner = next(s["vote"] for s in repeats if votes.get(s.get("vote")) == top)
            majority.append(next(s["score"] for s in repeats if s.get("vote") == winner))
        else:
            majority.append(0.0)
    return {"pass@1": aggregate.mean_metric(avg), f"maj@{k}": aggregate.mean_metric(majority),
            f"pass@{k}": aggregate.mean_metric(any_right)}
