"""Per-sample metrics of a file task. Each compares a filtered reply with the
row's acceptable answers (``golds``) and scores the best of them.

- ``exact_match``: Hugging Face evaluate's rules, which lm-eval uses: each of
  ``regexes_to_ignore`` is removed (``re.sub``) from reply and answer, in order,
  then ``ignore_case``, ``ignore_punctuation``, ``ignore_numbers``; then equal.
- ``numeric_match``: the first number of each (``$`` and thousands commas
  dropped, as the built-in gsm8k reads them) is the same number.
- ``contains``: the answer appears in the reply (``ignore_case``, default true).
- ``f1``: SQuAD's token F1 (lowercased, punctuation and articles dropped).
- ``choice_accuracy``: the reply is the right choice's letter (A, B, … by
  position; ``(B)`` and ``B.`` count) or its text, case and outer spaces aside.
- ``judge``: another model grades the reply (``judge.py``).
"""

import re
import string
from collections import Counter

from ..benchmarks.gsm8k import normalize as first_number

LETTERS = string.ascii_uppercase
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_DIGITS = str.maketrans("", "", string.digits)


def exact_match(pred, gold, options):
    for pattern in options.get("regexes_to_ignore") or []:
        pred, gold = re.sub(pattern, "", pred), re.sub(pattern, "", gold)
    if options.get("ignore_case"):
        pred, gold = pred.lower(), gold.lower()
    if options.get("ignore_punctuation"):
        pred, gold = pred.translate(_PUNCTUATION), gold.translate(_PUNCTUATION)
    if options.get("ignore_numbers"):
        pred, gold = pred.translate(_DIGITS), gold.translate(_DIGITS)
    return float(pred == gold)


def numeric_match(pred, gold, options):
    a, b = first_number(pred), first_number(gold)
    if a is None or b is None:
        return 0.0
    return float(float(a) == float(b))


def contains(pred, gold, options):
    if options.get("ignore_case", True):
        pred, gold = pred.lower(), gold.lower()
    return float(gold.strip() in pred)


def _tokens(text):
    text = text.lower().translate(_PUNCTUATION)
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def f1(pred, gold, options):
    p, g = _tokens(pred), _tokens(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g:
        return float(p == g)
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def choice_accuracy(pred, choices, gold_index):
    if gold_index is None:
        return 0.0
    answer = pred.strip().strip("().:*").strip().lower()
    return float(answer in (LETTERS[gold_index].lower(), choices[gold_index].strip().lower()))


BY_NAME = {"exact_match": exact_match, "numeric_match": numeric_match, "contains": contains, "f1": f1}


def score(metric, pred, golds, choices, gold_index):
    """``metric``'s score (an entry of metric_list) for the filtered reply ``pred``."""
    if not isinstance(pred, str):
        pred = "" if pred is None else str(pred)
    name = metric["metric"]
    if name == "choice_accuracy":
        return choice_accuracy(pred, choices, gold_index)
    return max(BY_NAME[name](pred, gold, metric) for gold in golds)
