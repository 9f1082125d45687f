"""GSM8K: 1,319 grade-school math word problems (test split), scored on the final number.

Prompt (``extra.prompt_style``): ``answer`` (default), zero-shot chain of thought
ending in an ``Answer:`` line; or ``lm-eval``, the Llama-style chain of thought of
lm-evaluation-harness ending in "The final answer is N". Extraction takes
the last ``Answer:`` / ``The final answer is`` / ``####`` marker (falling back to the
last number in the reply) and normalises commas, ``$`` and a trailing period.
"""

import os
import re

from ..datasets import read_jsonl

PROMPT = (
    "Solve the following math problem step by step. The last line of your response "
    "should be of the form \"Answer: $ANSWER\" (without quotes) where $ANSWER is the "
    "final numeric answer.\n\n{question}\n\n"
    "Remember to put your final answer on its own line after \"Answer:\"."
)

PROMPT_LM_EVAL = (
    "Given the following problem, reason and give a final answer to the problem.\n"
    "Problem: {question}\n"
    "Your response should end with \"The final answer is [answer]\" where [answer] is "
    "the response to the problem."
)
PROMPTS = {"answer": PROMPT, "lm-eval": PROMPT_LM_EVAL}

_MARKERS = re.compile(r"(?:answer\s*:|the final answer is|####)(.*)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def load(data_dir):
    def item(row):
        return {"question": row["question"], "gold": normalize(row["answer"].split("####")[-1].strip())}

    return read_jsonl(os.path.join(data_dir, "test.jsonl"), item, "a gsm8k row")


def prompt(item, params):
    template = PROMPTS[params.get("extra", {}).get("prompt_style", "answer")]
    return [{"role": "user", "content": template.format(question=item["question"])}]


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
