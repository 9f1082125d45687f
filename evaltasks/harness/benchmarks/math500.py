r"""MATH-500: 500 competition problems (the PRM800K test subset of MATH), LaTeX answers.

Prompt: step-by-step solution ending in an ``Answer: $ANSWER`` line. Extraction:
the last ``Answer:`` line (markdown ``**`` allowed; if the line is empty, the next
non-empty one), taking the last ``\boxed{}`` inside it when there is one; with no
``Answer:`` line, the last ``\boxed{}``/``\fbox{}`` anywhere (nested braces allowed).

Answers are compared by the shared rule-based equivalence (``harness/math_equiv.py``).
"""

import os
import re

from ..datasets import read_jsonl
from ..math_equiv import is_equiv, last_boxed

PROMPT = (
    "Solve the following math problem step by step. The last line of your response "
    "should be of the form \"Answer: $ANSWER\" (without quotes) where $ANSWER is the "
    "final answer to the problem, in simplest form (LaTeX is fine).\n\n{problem}\n\n"
    "Remember to put your final answer on its own line after \"Answer:\"."
)

_ANSWER = re.compile(r"answer\s*\**\s*:(.*)", re.IGNORECASE)
_DELIMITER_LINES = {"$", "$$", "\\[", "\\]", "\\("}


def load(data_dir):
    def item(row):
        if not isinstance(row["problem"], str) or not isinstance(row["answer"], str):
            raise ValueError("problem and answer must be text")
        return {"problem": row["problem"], "gold": row["answer"], "subject": row.get("subject"),
                "level": row.get("level"), "unique_id": row.get("unique_id")}

    return read_jsonl(os.path.join(data_dir, "test.jsonl"), item, "a MATH-500 row")


def prompt(item, params):
    return [{"role": "user", "content": PROMPT.format(problem=item["problem"])}]


def extract(text):
    if not text:
        return None
    matches = list(_ANSWER.finditer(text))
    if matches:
        line = matches[-1].group(1).strip().strip("*").strip()
        if not line:
            following = (l.strip() for l in text[matches[-1].end():].splitlines())
            line = next((l for l in following if l and l not in _DELIMITER_LINES), "")
        if line:
            boxed = last_boxed(line)
            return (boxed if boxed is not None else line).strip()
    boxed = last_boxed(text)
    return boxed.strip() if boxed is not None else None


def score(extracted, item):
    return {"score": float(is_equiv(extracted, item["gold"])),
            "subject": item.get("subject"), "level": item.get("level")}
