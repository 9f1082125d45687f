"""IFEval: 541 prompts with verifiable instructions (Zhou et al. 2023), scored as
Google's reference ``instruction_following_eval`` scores them.

Each prompt is sent verbatim as the only user message and the whole reply is
checked against every instruction of the prompt (checkers in
``ifeval_instructions``). Strict: the reply as it is. Loose: an instruction passes
if any of eight variants passes: the reply, without its first line, without its
last line, without both, and each of those four with every ``*`` removed. A blank
reply follows nothing. A sample's ``score`` is prompt-level strict accuracy;
``metrics`` adds the loose and instruction-level figures and strict accuracy per
instruction id.
"""

import os
from collections import defaultdict

from .. import aggregate
from ..datasets import read_jsonl
from . import ifeval_instructions as instructions

DATA_FILE = "input_data.jsonl"


def load(data_dir):
    return read_jsonl(os.path.join(data_dir, DATA_FILE), _item, "an ifeval row")


def _item(row):
    ids, kwargs = row["instruction_id_list"], row["kwargs"]
    if not (isinstance(row["prompt"], str) and isinstance(ids, list) and isinstance(kwargs, list)):
        raise TypeError("prompt must be a string, instruction_id_list and kwargs lists")
    if len(ids) != len(kwargs):
        raise ValueError(f"{len(ids)} instruction ids but {len(kwargs)} kwargs")
    return {
        "key": row.get("key"),
        "prompt": row["prompt"],
        "instruction_id_list": ids,
        "kwargs": [instructions.validate(i, k) for i, k in zip(ids, kwargs)],
        "gold": ids,
    }


def prompt(item, params):
    return [{"role": "user", "content": item["prompt"]}]


def extract(text):
    return text


def loose_variants(response):
    """The eight texts the loose check tries, the reply itself first."""
    lines = response.split("\n")
    trimmed = [
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return trimmed + [t.replace("*", "") for t in trimmed]


def follows(instruction_id, kwargs, texts):
    """Whether any of ``texts`` follows the instruction; blank texts never do."""
    check = instructions.CHECKERS[instruction_id]
    return any(t.strip() and check(t, **kwargs) for t in texts)


def score(extracted, item):
    response = extracted or ""
    variants = loose_variants(response)
    strict, loose = [], []
    for instruction_id, kwargs in zip(item["instruction_id_list"], item["kwargs"]):
        strict.append(follows(instruction_id, kwargs, variants[:1]))
        loose.append(strict[-1] or follows(instruction_id, kwargs, variants[1:]))
    return {
        "score": float(all(strict)),
        "prompt_level_loose": float(all(loose)),
        "key": item.get("key"),
        "instruction_id_list": list(item["instruction_id_list"]),
        "inst_level_strict": strict,
        "inst_level_loose": loose,
    }


def metrics(samples, params):
    strict = [float(ok) for s in samples for ok in s["inst_level_strict"]]
    loose = [float(ok) for s in samples for ok in s["inst_level_loose"]]
    result = {
        "prompt_level_strict_acc": aggregate.mean_metric([s["score"] for s in samples]),
        "inst_level_strict_acc": aggregate.mean_metric(strict),
        "prompt_level_loose_acc": aggregate.mean_metric([s["prompt_level_loose"] for s in samples]),
        "inst_level_loose_acc": aggregate.mean_metric(loose),
    }
    by_id = defaultdict(list)
    for s in samples:
        for instruction_id, ok in zip(s["instruction_id_list"], s["inst_level_strict"]):
            by_id[instruction_id].append(float(ok))
    for instruction_id in sorted(by_id):
        result[f"inst_level_strict_acc/{instruction_id}"] = aggregate.mean_metric(by_id[instruction_id])
    return result
