"""HumanEval: 164 hand-written Python functions, scored by running their unit tests.

Prompt: the function's signature and docstring, asking for the complete function in
a ```python block. Extraction: the first fenced block tagged python/py/python3, else
the first untagged block, else the first block of any tag, else the whole reply.

The program run is the problem's prompt (for its imports and helper functions),
then the completion, then the tests and ``check(<entry_point>)``. A completion that
defines ``def <entry_point>`` comes after the prompt's stub, so it wins; one that
does not is taken as the function's body and appended to the prompt (re-indented to
four spaces when it is not already). Programs run in a separate, limited process
(``sandbox.py``) with ``extra.timeout`` seconds each.

``extra.n_samples`` answers per problem give the unbiased pass@k estimator of Chen
et al. (2021) for every k ≤ n: per problem 1 - C(n-c, k) / C(n, k) with c passing
samples, averaged over problems (stderr and n are over problems).
"""

import math
import os
import re
import textwrap

from .. import stats
from ..datasets import read_jsonl
from ..sandbox import run_python

DEFAULT_TIMEOUT = 3.0
FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")

PROMPT = (
    "Complete the following Python function. Write the whole function, including its "
    "signature and any imports it needs, in a single ```python code block.\n\n"
    "```python\n{prompt}\n```"
)

# A closing fence may end the last code line; an unclosed block runs to the end.
_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PYTHON_TAGS = {"python", "py", "python3"}


def load(data_dir):
    def item(row):
        missing = [k for k in FIELDS if not isinstance(row.get(k), str)]
        if missing:
            raise ValueError(f"missing or not text: {', '.join(missing)}")
        return {"task_id": row["task_id"], "prompt": row["prompt"], "entry_point": row["entry_point"],
                "test": row["test"], "gold": row["canonical_solution"]}

    return read_jsonl(os.path.join(data_dir, "HumanEval.jsonl.gz"), item, "a HumanEval row")


def expand(items, params):
    """``n_samples`` copies of each problem, numbered by ``sample``; the timeout
    rides along because ``score`` does not see ``params``."""
    extra = params.get("extra") or {}
    n = int(extra.get("n_samples", 1))
    if n < 1:
        raise ValueError(f"humaneval: n_samples must be at least 1, not {n}")
    timeout = float(extra.get("timeout", DEFAULT_TIMEOUT))
    return [dict(item, sample=i, timeout=timeout) for item in items for i in range(n)]


def prompt(item, params):
    return [{"role": "user", "content": PROMPT.format(prompt=item["prompt"].rstrip())}]


def extract(text):
    """The code in the reply (see the module docstring); "" for an empty reply."""
    text = text or ""
    blocks = [(tag.lower(), code) for tag, code in _FENCE.findall(text)]
    for wanted in (lambda t: t in _PYTHON_TAGS, lambda t: t == "", lambda t: True):
        for tag, code in blocks:
            if wanted(tag):
                return code.rstrip()
    return text.rstrip()


def program(code, item):
    """The full program that runs ``code`` against the problem's tests."""
    entry = item["entry_point"]
    dedented = textwrap.dedent(code)
    if re.search(rf"^(?:async\s+)?def\s+{re.escape(entry)}\s*\(", dedented, re.M):
        solution = item["prompt"] + "\n" + dedented
    else:
        solution = item["prompt"] + _as_body(code)
    return f"{solution}\n\n{item['test']}\n\ncheck({entry})\n"


def _as_body(code):
    code = code.lstrip("\n")
    first = next((line for line in code.splitlines() if line.strip()), "")
    # The prompts indent their docstrings by four spaces; a body indented any other
    # way (two spaces, a tab, none) would be a syntax error after them.
    if first[: len(first) - len(first.lstrip())] != "    ":
        code = textwrap.indent(textwrap.dedent(code), "    ")
    return code


def score(extracted, item):
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


def metrics(samples, params):
    per_problem = {}
    for s in samples:
        per_problem.setdefault(s.get("task_id", s["index"]), []).append(bool(s.get("passed")))
    if not per_problem:
        return {"pass@1": stats.mean_metric([])}
    # Every problem has n_samples answers; the smallest count guards a partial run.
    n = min(len(v) for v in per_problem.values())
    return {
        f"pass@{k}": stats.mean_metric([pass_at_k(len(v), sum(v), k) for v in per_problem.values()])
        for k in range(1, n + 1)
    }
