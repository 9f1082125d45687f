"""results.json's ``warnings``: things about a finished task that its score
alone hides, each ``{"code": <snake_case>, "message": <one line>}``; the list
is empty when there are none. The end-of-run table and the summary print every
entry, so a check added here reaches the user with no other change.

``CHECKS`` is the registry: each check takes the task's ``response_stats``
(``response_stats.py``) and its samples.jsonl rows and returns zero or more
``TaskWarning``.
"""

from dataclasses import asdict, dataclass

# Above this share of empty replies a task is flagged. One empty reply in a
# hundred can be the model's; more usually is the server (a chat template that
# ends the turn at once, every token spent on reasoning), and scores as wrong.
EMPTY_REPLIES_SHARE = 0.02


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


CHECKS = [empty_replies]


def collect(stats, samples):
    """Every check's warnings, as results.json holds them."""
    return [asdict(w) for check in CHECKS for w in check(stats, samples)]


def of(results):
    """The warnings of a results.json (a dict), as its readers show them: every
    entry that has a message; none from a results.json made before warnings."""
    found = results.get("warnings") if isinstance(results, dict) else None
    return [w for w in found if isinstance(w, dict) and w.get("message")] if isinstance(found, list) else []
