"""BIG-Bench Hard: 27 tasks (6,511 questions) that language models found hard,
as lm-evaluation-harness's ``bbh_cot_fewshot`` group runs them (Suzgun et al.'s
3-shot chain-of-thought prompts).

Data: the BIG-Bench-Hard repository's ``bbh/<task>.json`` (``examples`` of
``input`` and ``target``) and ``cot-prompts/<task>.txt`` (a canary line and
``-----``, then a one-paragraph task description and three ``Q: … A: Let's think
step by step. … So the answer is X.`` exemplars), which are what lm-eval's task
files inline. lm-eval reads the same questions from the Hugging Face copy
``SaylorTwift/bbh``.

Prompt (lm-eval with ``--apply_chat_template``): the description, with its blank
line, as the system message; each exemplar a user turn ``Q: <input>\\nA: Let's
think step by step.\\n`` and an assistant turn with its reasoning and answer; the
question as the last user turn. With ``extra.fewshot_as_multiturn`` false the
exemplars and question form one user message instead, each answered exemplar
followed by a blank line (lm-eval's single-turn rendering). True is the default:
NeMo Evaluator passes ``--fewshot_as_multiturn`` for chat endpoints.

Extraction (lm-eval's ``get-answer`` filter): the reply is cut at the task's
stop sequences ``</s>``, ``Q`` and a blank line, as a server honouring lm-eval's
``until`` would stop it; then the first match of ``(?<=the answer is )(.*)(?=.)``
(the rest of that line minus its last character, the period), stripped;
``[invalid]`` when there is none. Scoring: exact match with the target, case and
punctuation included. lm-eval's cot_fewshot tasks use this one filter for every
answer format (letters ``(A)``, ``True``/``False``, ``Yes``/``No``, ``valid``,
numbers, bracket sequences, word lists); the per-format filters are its
zero-shot variants'.

``extra.subtasks`` (default: all) selects tasks by name; ``limit_samples``
applies to the selection, in task-name order.

Metrics: ``exact_match`` over all samples (lm-eval's group figure, which weighs
tasks by size), ``exact_match_macro`` (the unweighted mean over tasks, the BBH
paper's average; n is the number of tasks) and ``exact_match/<task>``.
"""

import json
import os
import re

from .. import aggregate
from ..choices import group_metrics, macro_metric, scores_by
from ..datasets import DatasetError
from ..lm_filters import cut_at, pipeline
from . import BBH_TASKS

UNTIL = ("</s>", "Q", "\n\n")
GET_ANSWER = pipeline([{"function": "regex", "regex_pattern": r"(?<=the answer is )(.*)(?=.)"},
                       {"function": "take_first"}])
QUESTION = "Q: {input}\nA: Let's think step by step.\n"

# An exemplar of a cot-prompts file; the reasoning follows on the same line in a few.
_EXEMPLAR = re.compile(r"Q: (.*?)\nA: Let's think step by step\.[ \n](.*)", re.S)


def load(data_dir):
    items = []
    for task in BBH_TASKS:
        description, shots = fewshot(os.path.join(data_dir, "cot-prompts", f"{task}.txt"))
        path = os.path.join(data_dir, "bbh", f"{task}.json")
        for n, row in enumerate(_examples(path)):
            if not (isinstance(row, dict) and isinstance(row.get("input"), str)
                    and isinstance(row.get("target"), str)):
                raise DatasetError(f"{path}: example {n} is not an object with text input and target")
            items.append({"subtask": task, "number": n, "input": row["input"], "gold": row["target"],
                          "description": description, "shots": shots})
    return items


def _examples(path):
    try:
        with open(path, encoding="utf-8") as f:
            examples = json.load(f).get("examples")
    except (ValueError, AttributeError) as e:
        raise DatasetError(f"{path}: not a BBH task file ({e})") from None
    if not isinstance(examples, list) or not examples:
        raise DatasetError(f"{path}: no examples")
    return examples


def fewshot(path):
    """(description, [(input, answer)]) of a cot-prompts file, in lm-eval's shape:
    the description ends in a blank line; an answer is the exemplar's reasoning."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n", 2)
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e})") from None
    if len(lines) < 3 or lines[1] != "-----":
        raise DatasetError(f"{path}: no canary and '-----' lines before the prompt")
    description, *exemplars = re.split(r"\n\n(?=Q: )", lines[2].strip())
    shots = []
    for text in exemplars:
        match = _EXEMPLAR.fullmatch(text)
        if not match:
            raise DatasetError(f"{path}: an exemplar is not 'Q: … A: Let's think step by step. …'")
        shots.append((match.group(1), match.group(2)))
    if len(shots) != 3:
        raise DatasetError(f"{path}: {len(shots)} exemplars, not 3")
    return description + "\n\n", shots


def _subtasks(params):
    return (params.get("extra") or {}).get("subtasks") or list(BBH_TASKS)


def select(items, params):
    wanted = _subtasks(params)
    unknown = sorted(set(wanted) - set(BBH_TASKS))
    if unknown:
        raise ValueError(f"bbh: unknown subtask(s) {', '.join(unknown)}")
    return [item for item in items if item["subtask"] in wanted]


def prompt(item, params):
    turns = []
    for question, answer in item["shots"]:
        turns += [{"role": "user", "content": QUESTION.format(input=question)},
                  {"role": "assistant", "content": answer}]
    turns.append({"role": "user", "content": QUESTION.format(input=item["input"])})
    if not (params.get("extra") or {}).get("fewshot_as_multiturn", True):
        text = "".join(t["content"] + ("\n\n" if t["role"] == "assistant" else "") for t in turns)
        turns = [{"role": "user", "content": text}]
    return [{"role": "system", "content": item["description"]}] + turns


def extract(text):
    return GET_ANSWER(cut_at(text or "", UNTIL))


def score(extracted, item):
    return {"score": float(extracted == item["gold"]), "subtask": item["subtask"], "number": item["number"]}


def metrics(samples, params):
    scores, groups = scores_by(samples, "subtask")
    per_task = group_metrics(groups["subtask"], prefix="exact_match/")
    return {"exact_match": aggregate.mean_metric(scores), "exact_match_macro": macro_metric(list(per_task.values())),
            **per_task}
