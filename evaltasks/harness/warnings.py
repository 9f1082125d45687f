"""results.json's ``warnings``: things about a finished task that its score
alone hides, each ``{"code": <snake_case>, "message": <one line>}``; the list
is empty when there are none. The end-of-run table and the summary print every
entry, so a check added here reaches the user with no other change.

``CHECKS`` is the registry: each check is a class whose ``add(row)`` is told of
each of the task's samples.jsonl rows and whose ``found(stats)`` then gives, with
the task's ``response_stats`` (``response_stats.py``'s summary), zero or more
``TaskWarning``. A check says what it saw and the likely cause in one line.
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


class EmptyReplies:
    """Many replies with no text: read off the response stats alone."""

    def add(self, row):
        pass

    def found(self, stats):
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


class PromptTokensImplausible:
    """The server's prompt token counts against the prompts sent: far fewer
    tokens than the text could make, or one count for every distinct prompt,
    means the server did not feed the prompt to the model (typically a chat
    template that drops the messages), and the scores measure noise."""

    def __init__(self):
        self.counted = self.chars = self.tokens = 0
        # Hashes, not the texts: the distinct prompts are counted, not kept (two
        # of a task's prompts sharing a 64-bit hash is too unlikely to matter).
        self.prompts, self.counts = set(), set()

    def add(self, row):
        tokens = row.get("prompt_tokens")
        if not isinstance(tokens, int) or "error" in row:
            return
        text = prompt_text(row.get("prompt"))
        self.counted += 1
        self.chars += len(text)
        self.tokens += tokens
        self.prompts.add(hash(text))
        self.counts.add(tokens)

    def found(self, stats):
        if self.counted < MIN_PROMPTS:
            return []
        mean_tokens, mean_chars = self.tokens / self.counted, self.chars / self.counted
        seen = (f"the server counted {mean_tokens:.1f} prompt tokens on average for prompts of "
                f"{mean_chars:.0f} characters")
        if self.tokens < self.chars * MIN_TOKENS_PER_CHAR:
            why = "fewer than 1 token per 20 characters"
        elif len(self.prompts) >= MIN_PROMPTS and len(self.counts) == 1:
            why = f"the same {next(iter(self.counts))} tokens for each of {len(self.prompts)} different prompts"
        else:
            return []
        return [TaskWarning("prompt_tokens_implausible",
                            f"{seen} ({why}): the prompt likely did not reach the model; check the "
                            "server's chat template (e.g. llama.cpp's --chat-template)")]


CHECKS = [EmptyReplies, PromptTokensImplausible]


class Tally:
    """Every check of ``CHECKS``, told of each samples.jsonl row as the harness
    makes it (in any order): no row is read back from disk to find warnings."""

    def __init__(self):
        self.checks = [check() for check in CHECKS]

    def add(self, row):
        for check in self.checks:
            check.add(row)

    def found(self, stats):
        """Every check's warnings, in CHECKS order, as results.json holds them."""
        return [asdict(w) for check in self.checks for w in check.found(stats)]


def collect(stats, rows):
    """The warnings of a task's ``response_stats`` and samples.jsonl ``rows``."""
    tally = Tally()
    for row in rows:
        tally.add(row)
    return tally.found(stats)


def of(results):
    """The warnings of a results.json (a dict), as its readers show them: every
    entry that has a message; none from a results.json made before warnings."""
    found = results.get("warnings") if isinstance(results, dict) else None
    return [w for w in found if isinstance(w, dict) and w.get("message")] if isinstance(found, list) else []
