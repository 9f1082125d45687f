"""What the code-writing benchmarks (humaneval, mbpp) share: reading the code out
of a chat reply, ``n_samples`` answers per problem, running a program in the
sandbox (``sandbox.py``), and the unbiased pass@k.

Extraction: the first fenced block tagged python/py/python3, else the first
untagged block, else the first block of any tag, else the whole reply.

``extra.n_samples`` answers per problem give the unbiased pass@k estimator of Chen
et al. (2021) for every k ≤ n: per problem 1 - C(n-c, k) / C(n, k) with c passing
samples, averaged over problems (stderr and n are over problems).
"""

import math
import re

from . import aggregate
from .sandbox import run_python

DEFAULT_TIMEOUT = 3.0

# A closing fence may end the last code line; an unclosed block runs to the end.
_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PYTHON_TAGS = {"python", "py", "python3"}


def extract_code(text):
    """The code in the reply (see the module docstring); "" for an empty reply."""
    text = text or ""
    blocks = [(tag.lower(), code) for tag, code in _FENCE.findall(text)]
    for wanted in (lambda t: t in _PYTHON_TAGS, lambda t: t == "", lambda t: True):
        for tag, code in blocks:
            if wanted(tag):
                return code.rstrip()
    return text.rstrip()


def expand_samples(items, params, benchmark):
    """``n_samples`` copies of each problem, numbered by ``sample``; the timeout
    rides along because ``score`` does not see ``params``."""
    extra = params.get("extra") or {}
    n = int(extra.get("n_samples", 1))
    if n < 1:
        raise ValueError(f"{benchmark}: n_samples must be at least 1, not {n}")
    timeout = float(extra.get("timeout", DEFAULT_TIMEOUT))
    return [dict(item, sample=i, timeout=timeout) for item in items for i in range(n)]


def score_program(extracted, item, program):
    """The sample's row fields: ``program(extracted, item)`` run in the sandbox with
    the item's timeout; no code at all fails without running anything."""
    fields = {"task_id": item["task_id"], "sample": item.get("sample", 0)}
    if not (extracted or "").strip():
        return {"score": 0.0, "passed": False, "result": "failed: no code", **fields}
    outcome = run_python(program(extracted, item), item.get("timeout", DEFAULT_TIMEOUT))
    return {"score": float(outcome["passed"]), **outcome, **fields}


def pass_at_k(n, c, k):
    """Unbiased probability that at least one of k samples drawn from n, of which c
    pass, passes: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_at_k_metrics(samples):
    """``pass@k`` for every k up to the samples per problem (``task_id``)."""
    per_problem = {}
    for s in samples:
        per_problem.setdefault(s.get("task_id", s["index"]), []).append(bool(s.get("passed")))
    if not per_problem:
        return {"pass@1": aggregate.mean_metric([])}
    # Every problem has n_samples answers; the smallest count guards a partial run.
    n = min(len(v) for v in per_problem.values())
    return {
        f"pass@{k}": aggregate.mean_metric([pass_at_k(len(v), sum(v), k) for v in per_problem.values()])
        for k in range(1, n + 1)
    }
