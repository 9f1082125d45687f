"""Helpers shared by the multiple-choice benchmarks (mmlu, mmlu_pro, gpqa_diamond):
option lettering, the zero-shot ``Answer: $LETTER`` prompt, grouped and macro accuracy."""

import math

from . import aggregate

LETTERS = "ABCDEFGHIJ"

# The simple-evals multiple-choice template (gpqa, mmlu), with the letter list
# following the number of options so ten-option questions read "ABCDEFGHIJ".
ZERO_SHOT = (
    "Answer the following multiple choice question. The last line of your response "
    "should be of the following format: 'Answer: $LETTER' (without quotes) where LETTER "
    "is one of {letters}. Think step by step before answering.\n\n{question}\n\n{options}"
)


def letters(n):
    """The first ``n`` option letters: 4 → "ABCD"."""
    if not 1 <= n <= len(LETTERS):
        raise ValueError(f"{n} options; letters go up to {len(LETTERS)}")
    return LETTERS[:n]


def zero_shot_prompt(question, options):
    """The zero-shot chain-of-thought prompt: question, then "A) ..." lines."""
    lines = "\n".join(f"{letter}) {option}" for letter, option in zip(letters(len(options)), options))
    return ZERO_SHOT.format(letters=letters(len(options)), question=question, options=lines)


def scores_by(samples, *keys):
    """One pass over ``samples`` (it may be a spool that parses every row it hands
    out): (all scores, {key: {value: [scores]}}) for each of ``keys``."""
    scores, groups = [], {key: {} for key in keys}
    for s in samples:
        scores.append(s["score"])
        for key in keys:
            groups[key].setdefault(s[key], []).append(s["score"])
    return scores, groups


def group_metrics(groups, prefix="accuracy/"):
    """``{prefix + value: {value, stderr, n}}`` for each group, in sorted order."""
    return {f"{prefix}{name}": aggregate.mean_metric(groups[name]) for name in sorted(groups)}


def macro_metric(group_metrics_):
    """The unweighted mean of the groups' ``{value, stderr, n}``: n is the number
    of groups and stderr is propagated from theirs, sqrt(sum of squared stderrs)
    / groups (the groups are independent samples)."""
    if not group_metrics_:
        return aggregate.mean_metric([])
    c = len(group_metrics_)
    return {"value": sum(m["value"] for m in group_metrics_) / c,
            "stderr": math.sqrt(sum(m["stderr"] ** 2 for m in group_metrics_)) / c,
            "n": c}
