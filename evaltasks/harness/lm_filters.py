"""lm-eval's filters, applied to one reply (a repeat is a sample of its own, so
``take_first`` keeps the reply as it is). Shared by task files (``filetask/``) and
the built-ins that follow an lm-eval task (bbh), so an edit reruns both:

- ``regex``: every non-overlapping match (``re.findall``); ``group_select``
  picks one (0 the first, -1 the last); a pattern with several groups gives
  the first non-empty group of that match; stripped. No match, or no such
  match: ``fallback`` (default ``[invalid]``).
- ``lowercase`` / ``uppercase``; ``remove_whitespace`` (leading whitespace, as lm-eval);
  ``map``: ``mapping_dict[reply]``, else ``default_value``.
"""

import re

DEFAULT_REGEX = r"#### (\-?[0-9\.\,]+)"
FALLBACK = "[invalid]"


def _regex(step):
    pattern = re.compile(step.get("regex_pattern", DEFAULT_REGEX), re.IGNORECASE if step.get("ignore_case") else 0)
    group = step.get("group_select", 0)
    fallback = step.get("fallback", FALLBACK)

    def apply(text):
        matches = pattern.findall(text)
        try:
            match = matches[group]
        except IndexError:
            return fallback
        if isinstance(match, tuple):
            match = next((m for m in match if m), None)
            if match is None:
                return fallback
        return match.strip()

    return apply


def _map(step):
    mapping, default = step["mapping_dict"], step.get("default_value")
    return lambda text: mapping.get(text, default)


_STEPS = {
    "regex": _regex,
    "take_first": lambda step: lambda text: text,
    "lowercase": lambda step: lambda text: text.lower(),
    "uppercase": lambda step: lambda text: text.upper(),
    "remove_whitespace": lambda step: lambda text: text.lstrip(),
    "map": _map,
}


def pipeline(steps):
    """One function, reply → filtered reply, for a filter's list of steps."""
    functions = [_STEPS[step["function"]](step) for step in steps]

    def apply(text):
        for function in functions:
            text = function(text)
            if not isinstance(text, str):
                break      # a map to a non-string value ends the chain
        return text

    return apply


def cut_at(text, until):
    """The reply up to the first stop sequence, as lm-eval cuts a generation."""
    for stop in until:
        if stop in text:
            text = text.split(stop, 1)[0]
    return text
