r"""MATH: all 5,000 test problems of Hendrycks et al.'s MATH, as simple-evals'
``math_eval.py`` asks them (its ``math_test`` split, ``math_test.csv``:
``,Question,Answer``, the answer being the last ``\boxed{}`` of the MATH solution).

This copy of the data has no subject, level or solution column, so there are no
per-subject or per-level scores (MATH-500, ``math500``, has them for its 500).

Prompt: simple-evals' ``QUERY_TEMPLATE``, asking for the final answer on a last
line ``Answer: $ANSWER``. Extraction: simple-evals' ``ANSWER_PATTERN``, the rest
of the line after the first ``Answer:`` (case-insensitive; the text may start on
the next line); no ``Answer:`` reads as no answer.

Scoring (``extra.scoring``):
- ``rule`` (default): the rule-based LaTeX equivalence shared with math500 and
  aime (``harness/math_equiv.py``), after cutting markdown ``**`` from the
  extracted text. Deterministic, free, no second model; stricter than a judge
  (no algebra: ``\frac{1}{\sqrt3}`` is not ``\frac{\sqrt3}{3}``).
- ``judge``: what simple-evals does. Another chat model (``extra.judge_url``,
  ``judge_model_id``, and the NAME of the variable holding its key,
  ``judge_api_key_name``, which the launcher passes on like the model's) gets the
  reference's equality prompt for (gold, extracted) and the sample scores 1 when
  its whole reply, stripped and lower-cased, is "yes". The judge is asked at
  temperature 0 and its replies are cached like the model's; a sample with no
  extracted answer is not sent to it and scores 0, like any reply not "yes".
"""

import itertools
import os
import re

from .. import cache
from ..datasets import read_csv
from ..filetask.judge import Judge
from ..math_equiv import is_equiv

PROMPT = (
    "Solve the following math problem step by step. The last line of your response should be of "
    "the form Answer: $ANSWER (without quotes) where $ANSWER is the answer to the problem.\n\n"
    "{question}\n\n"
    "Remember to put your answer on its own line after \"Answer:\", and you do not need to use a "
    "\\boxed command."
)

_ANSWER = re.compile(r"(?i)Answer\s*:\s*([^\n]+)")

# simple-evals' EQUALITY_TEMPLATE, with the two expressions as template fields.
JUDGE_PROMPT = r"""Look at the following two expressions (answers to a math problem) and judge whether they are equivalent. Only perform trivial simplifications

Examples:

    Expression 1: $2x+3$
    Expression 2: $3+2x$

Yes

    Expression 1: 3/2
    Expression 2: 1.5

Yes

    Expression 1: $x^2+2x+1$
    Expression 2: $y^2+2y+1$

No

    Expression 1: $x^2+2x+1$
    Expression 2: $(x+1)^2$

Yes

    Expression 1: 3245/5
    Expression 2: 649

No
(these are actually equal, don't mark them equivalent if you need to do nontrivial simplifications)

    Expression 1: 2/(-3)
    Expression 2: -2/3

Yes
(trivial simplifications are allowed)

    Expression 1: 72 degrees
    Expression 2: 72

Yes
(give benefit of the doubt to units)

    Expression 1: 64
    Expression 2: 64 square feet

Yes
(give benefit of the doubt to units)

---

YOUR TASK


Respond with only "Yes" or "No" (without quotes). Do not include a rationale.

    Expression 1: {{ target }}
    Expression 2: {{ response }}"""
# The whole reply, stripped, is the verdict; only "yes" (any case) scores.
JUDGE_VERDICT = r"\A\s*(\S.*?)\s*\Z"


def load(data_dir):
    rows = itertools.count()

    def item(row):
        if not row["Question"].strip() or not row["Answer"].strip():
            raise ValueError("empty Question or Answer")
        return {"row": next(rows), "question": row["Question"], "gold": row["Answer"]}

    return read_csv(os.path.join(data_dir, "math_test.csv"), ("Question", "Answer"), item, "problems")


def scoring_waits(params):
    """With ``scoring: judge``, each score asks the judge model."""
    return (params.get("extra") or {}).get("scoring", "rule") == "judge"


def expand(items, params):
    """The items as they are; with ``scoring: judge``, each carries the judge
    (one client for the run), after checking its settings."""
    extra = params.get("extra") or {}
    if extra.get("scoring", "rule") != "judge":
        return items
    missing = [k for k in ("judge_url", "judge_model_id") if not extra.get(k)]
    if missing:
        raise ValueError(f"math: scoring: judge needs extra.{' and extra.'.join(missing)}")
    responses = cache.from_environment()
    judge = Judge({"url": extra["judge_url"], "model_id": extra["judge_model_id"],
                   "api_key_name": extra.get("judge_api_key_name") or None, "prompt": JUDGE_PROMPT,
                   "grade_pattern": JUDGE_VERDICT, "grades": {}, "max_tokens": 16},
                  params, responses, False)
    return [dict(item, judge=judge) for item in items]


def prompt(item, params):
    return [{"role": "user", "content": PROMPT.format(question=item["question"])}]


def extract(text):
    match = _ANSWER.search(text or "")
    return match.group(1) if match else None


def score(extracted, item):
    judge = item.get("judge")
    if extracted is None:
        return {"score": 0.0, "row": item["row"]}
    if judge is None:
        return {"score": float(is_equiv(extracted.replace("**", "").strip(), item["gold"])), "row": item["row"]}
    graded = judge.grade({}, "", extracted, [item["gold"]])
    verdict = graded["judge_verdict"]
    return {"score": float((verdict or "").lower() == "yes"), "row": item["row"],
            "judge_verdict": verdict, "judge_reasoning": graded["judge_reasoning"]}
