"""Warnings about a task that its score alone would hide: results.json's
``warnings``, ``[{"code", "message"}]`` (empty when none), which the end table
and the summary print.

Each check in ``CHECKS`` takes the task's ``response_stats`` (response_stats.py's
summary) and its samples (the samples.jsonl rows) and returns zero or more
warnings. A check says what it saw and the likely cause in one line.
"""

# A prompt is tokenized into at least one token per ~4-5 characters of text in
# any tokenizer the models here use; one per 20 means most of it never reached the model.
MIN_TOKENS_PER_CHAR = 1 / 20
# Fewer counted prompts than this say too little to judge by.
MIN_PROMPTS = 3


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
    return [{"code": "prompt_tokens_implausible",
             "message": f"{seen} ({why}): the prompt likely did not reach the model; check the "
                        "server's chat template (e.g. llama.cpp's --chat-template)"}]


CHECKS = [prompt_tokens_implausible]


def collect(stats, samples):
    """Every check's warnings, in CHECKS order."""
    return [warning for check in CHECKS for warning in check(stats, samples)]
