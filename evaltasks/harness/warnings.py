"""results.json's ``warnings``: things about a finished task that its score
alone hides, each ``{"code": <snake_case>, "message": <one line>}``; the list
is empty when there are none. The end-of-run table and the summary print every
entry, so a check added here reaches the user with no other change.

``CHECKS`` is the registry: each check takes the task's ``response_stats``
(``response_stats.py``'s summary) and its samples.jsonl rows and returns zero or
more ``TaskWarning``. A check says what it saw and the likely cause in one line.
"""

from dataclasses import asdict, dataclass

# Above this share of empty replies a task is flagged. One empty reply in a
# hundred can be the model's; more usually is the server (a chat template that
# ends the turn at once, every token spent on reasoning), and scores as wrong.
EMPTY_REPLIES_SHARE = 0.02
# A prompt is tokenized into at least one token per ~4-5 characters of text in
# any tokenizer the models here use; one per 20 means most of it never reached the model.
MIN_TOKENS_PER_CHAR = 1 / 20
# Fewer counted prompts than this say too little to judge by.
MIN_PROMPTS = 3


@dataclass(frozen=True)
class TaskWarning:
    code: str
    message: str


def empty_replies(stats, samples):
    answers = sum((stats.get("finish_reasons") or {}).values())
    empty = stats.get("empty_replies") or 0
    if not answers or empty / answers <= EMPTY_REPLIES_SHARE:
        return []
    return [TaskWarning("empty_replies", f"{empty} of {answers} replies were empty ({empty / answers:.0%}), "
                                     f"each scored as wrong: look at `response` in samples.jsonl")]


def prompt_text(prompt):
    """The text of a sample's prompt: a completions prompt, or the messages' contents."""
    if isinstance(prompt, str):
        return prompt
    parts = []
    for message in prompt or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return "\n".join(parts)


def prompt_tokens_implausible(stats, samples):
    """The server's prompt token counts against the prompts sent: far fewer
    tokens than the text could make, or one count for every distinct prompt,
    means the server did not feed the prompt to the model (typically a chat
    template that drops the messages), and the scores measure noise."""
    counted = [(prompt_text(row.get("prompt")), row["prompt_tokens"]) for row in samples
               if isinstance(row.get("prompt_tokens"), int) and "error" not in row]
    if len(counted) < MIN_PROMPTS:
        return []
    chars = sum(len(text) for text, _ in counted)
    tokens = sum(n for _, n in counted)
    distinct = {text for text, _ in counted}
    mean_tokens, mean_chars = tokens / len(counted), chars / len(counted)
    seen = (f"the server counted {mean_tokens:.1f} prompt tokens on average for prompts of "
            f"{mean_chars:.0f} characters")
    if tokens < chars * MIN_TOKENS_PER_CHAR:
        why = "fewer than 1 token per 20 characters"
    elif len(distinct) >= MIN_PROMPTS and len({n for _, n in counted}) == 1:
        why = f"the same {counted[0][1]} tokens for each of {len(distinct)} different prompts"
    else:
        return []
    return [TaskWarning("prompt_tokens_implausible",
                        f"{seen} ({why}): the prompt likely did not reach the model; check the "
                        "server's chat template (e.g. llama.cpp's --chat-template)")]


CHECKS = [empty_replies, prompt_tokens_implausible]


def collect(stats, samples):
    """Every check's warnings, in CHECKS order, as results.json holds them."""
    return [asdict(w) for check in CHECKS for w in check(stats, samples)]


def of(results):
    """The warnings of a results.json (a dict), as its readers show them: every
    entry that has a message; none from a results.json made before warnings."""
    found = results.get("warnings") if isinstance(results, dict) else None
    return [w for w in found if isinstance(w, dict) and w.get("message")] if isinstance(found, list) else []
