"""HumanEval: 164 hand-written Python functions, scored by running their unit tests.

Prompt: the function's signature and docstring, asking for the complete function in
a ```python block. Extraction: the code of the reply (``codegen.extract_code``).

The program run is the problem's prompt (for its imports and helper functions),
then the completion, then the tests and ``check(<entry_point>)``. A completion that
defines ``def <entry_point>`` comes after the prompt's stub, so it wins; one that
does not is taken as the function's body and appended to the prompt (re-indented to
four spaces when it is not already). Programs run in a separate, limited process
(``sandbox.py``) with ``extra.timeout`` seconds each.

``extra.n_samples`` answers per problem give pass@k for every k ≤ n (``codegen``).
"""

import os
import re
import textwrap

from ..codegen import expand_samples, extract_code, pass_at_k_metrics, score_program
from ..datasets import read_jsonl

FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")

PROMPT = (
    "Complete the following Python function. Write the whole function, including its "
    "signature and any imports it needs, in a single ```python code block.\n\n"
    "```python\n{prompt}\n```"
)

extract = extract_code


def load(data_dir):
    def item(row):
        missing = [k for k in FIELDS if not isinstance(row.get(k), str)]
        if missing:
            raise ValueError(f"missing or not text: {', '.join(missing)}")
        return {"task_id": row["task_id"], "prompt": row["prompt"], "entry_point": row["entry_point"],
                "test": row["test"], "gold": row["canonical_solution"]}

    return read_jsonl(os.path.join(data_dir, "HumanEval.jsonl.gz"), item, "a HumanEval row")


def expand(items, params):
    return expand_samples(items, params, "humaneval")


def prompt(item, params):
    return [{"role": "user", "content": PROMPT.format(prompt=item["prompt"].rstrip())}]


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
    return score_program(extracted, item, program)


def metrics(samples, params):
    return pass_at_k_metrics(samples)
