"""MBPP: short Python programming tasks, each with three assert tests, as
bigcode-evaluation-harness's ``mbpp`` task builds, cuts and runs them.

Data: google-research's ``mbpp/sanitized-mbpp.json`` (the authors' hand-checked
rewrite) and ``mbpp/mbpp.jsonl`` (all 974). ``extra.split``: ``sanitized`` (default,
its test problems: task ids 11–510, 257 of them) or ``full`` (the 500 test
problems bigcode-evaluation-harness runs). Task ids 1–10 are the paper's few-shot
pool and 511 on validation and training; neither is used.

Prompt: bigcode's, the task text and the first test as a docstring
(``\"\"\"\\n<text>\\n<first assert>\\n\"\"\"\\n``). bigcode sends it to a completion model
to continue; a chat model gets it inside a ```python block under one line asking
for the code in such a block (the difference from the reference).

Extraction: the reply's code (``codegen.extract_code``), cut at the first of
bigcode's stop words (``\\nclass``, ``\\nassert``, ``\\n\"\"\"``, ``\\nprint``, ``\\nif``,
``\\n<|/``, ``\\n```\\``), which keep the definitions and drop top-level calls and
the model's own tests. The program run is bigcode's: the prompt, the code, a
newline and the problem's asserts; the sanitized split's ``test_imports`` go
first, as the asserts need them (bigcode's full split has none; it ignores
``test_setup_code`` too, as here). Programs run only in the sandbox (see
``sandbox.py``), ``extra.timeout`` seconds each (bigcode's 3.0 by default).

``extra.n_samples`` answers per problem give pass@k for every k ≤ n (``codegen``).
"""

import json
import os

from ..codegen import expand_samples, extract_code, pass_at_k_metrics, score_program
from ..datasets import DatasetError, read_jsonl

SPLITS = ("sanitized", "full")
TEST_IDS = range(11, 511)
STOP_WORDS = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```")
INSTRUCTION = ("Write the Python function the docstring below asks for; it must pass the test it shows. "
               "Put the whole code, with any imports it needs, in a single ```python code block.\n\n")


def load(data_dir):
    """The test problems of both splits, each tagged with its ``split``."""
    path = os.path.join(data_dir, "sanitized-mbpp.json")
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
        if not isinstance(rows, list):
            raise ValueError("not a JSON array")
        sanitized = [_item("sanitized", row["prompt"], row, row.get("test_imports") or [])
                     for row in rows if row["task_id"] in TEST_IDS]
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: not the sanitized MBPP file ({e})") from None
    full = [row for row in read_jsonl(os.path.join(data_dir, "mbpp.jsonl"),
                                      lambda row: _item("full", row["text"], row, []), "an MBPP row")
            if row["task_id"] in TEST_IDS]
    return sanitized + full


def _item(split, text, row, imports):
    tests = row["test_list"]
    if not (isinstance(text, str) and isinstance(row["code"], str) and isinstance(row["task_id"], int)
            and isinstance(tests, list) and tests and all(isinstance(t, str) for t in tests + list(imports))):
        raise ValueError(f"task {row.get('task_id')!r}: text, code, task_id or test_list missing or mistyped")
    return {"split": split, "task_id": row["task_id"], "text": text, "tests": tests,
            "imports": list(imports), "gold": row["code"]}


def select(items, params):
    split = (params.get("extra") or {}).get("split", "sanitized")
    if split not in SPLITS:
        raise ValueError(f"mbpp: split must be one of {', '.join(SPLITS)}, not {split!r}")
    return [item for item in items if item["split"] == split]


def expand(items, params):
    return expand_samples(items, params, "mbpp")


def docstring(item):
    """bigcode's prompt: the task and its first test in a module docstring."""
    return f'"""\n{item["text"]}\n{item["tests"][0]}\n"""\n'


def prompt(item, params):
    return [{"role": "user", "content": f"{INSTRUCTION}```python\n{docstring(item)}```"}]


def extract(text):
    code = extract_code(text)
    ends = [code.find(word) for word in STOP_WORDS if word in code]
    return code[:min(ends)] if ends else code


def program(code, item):
    """bigcode's check program: prompt, code, then the asserts (after the imports they need)."""
    imports = "".join(f"{line}\n" for line in item["imports"])
    return imports + docstring(item) + code + "\n" + "\n".join(item["tests"]) + "\n"


def score(extracted, item):
    return score_program(extracted, item, program)


def metrics(samples, params):
    return pass_at_k_metrics(samples)
