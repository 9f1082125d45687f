"""GSM8K: 1,319 grade-school math word problems (test split), scored on the final number.

Prompt: zero-shot chain of thought ending in an ``Answer:`` line. Extraction takes
the last ``Answer:`` / ``The final answer is`` / ``####`` marker (falling back to the
last number in the reply) and normalises commas, ``$`` and a trailing period.
"""

import json
import os
import re

from ..datasets import DatasetError

PROMPT = (
    "Solve the following math problem step by step. The last line of your response "
    "should be of the form \"Answer: $ANSWER\" (without quotes) where $ANSWER is the "
    "final numeric answer.\n\n{question}\n\n"
    "Remember to put your final answer on its own line after \"Answer:\"."
)

_MARKERS = re.compile(r"(?:answer\s*:|the final answer is|####)(.*)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def load(data_dir):
    path = os.path.join(data_dir, "test.jsonl")
    items = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                gold = row["answer"].split("####")[-1].strip()
                items.append({"question": row["question"], "gold": normalize(gold)})
            except (ValueError, KeyError, AttributeError) as e:
                raise DatasetError(f"{path}:{line_no}: not a gsm8k row ({e})") from None
    return items


def prompt(item, params):
    return [{"role": "user", "content": PROMPT.format(question=item["question"])}]


def normalize(answer):
    """'$1,000.' → '1000'; '18.00' → '18'; None when there is no number."""
    numbers = _NUMBER.findall(answer.replace("$", ""))
    if not numbers:
        return None
    number = numbers[0].replace(",", "")
    if "." in number:
        number = number.rstrip("0").rstrip(".") or "0"
    if number in ("-0", ""):
        number = "0"
    return number


def extract(text):
    markers = _MARKERS.findall(text)
    for tail in reversed(markers):
        answer = normalize(tail)
        if answer is not None:
            return answer
    numbers = _NUMBER.findall(text)
    return normalize(numbers[-1]) if numbers else None


def score(extracted, item):
    if extracted is None:
        return 0.0
    try:
        return float(float(extracted) == float(item["gold"]))
    except ValueError:
        return 0.0
