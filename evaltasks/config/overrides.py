"""``key.path=value`` overrides (``-o`` on the command line, doit's ``key=value``,
a task's ``overrides:`` mapping): parsing one, finding the place it names in the
config (list entries by position or by a task's id or name), and how one is
recorded in the run history. One grammar, so the command line and the file's
``overrides:`` address keys the same way."""

import re

from evaltasks.config.errors import ConfigError, OverrideError


def parse_override(item: str) -> tuple[str, object]:
    """``"a.b=3"`` → ``("a.b", 3)``; the value is read as a YAML scalar."""
    import yaml     # here: a config loaded from remembered.py needs no YAML at all

    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise OverrideError(f"bad override {item!r}: expected KEY.PATH=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply(data: dict, items) -> None:
    """Apply the ``"a.b.c=value"`` strings ``items`` to the composed ``data``, in order;
    a problem one makes is an OverrideError, so the file is not blamed."""
    for item in items:
        key, value = parse_override(item)
        try:
            set_path(data, key, value, origin=f"override '{key}=…'")
        except ConfigError as e:
            raise OverrideError(str(e)) from None


def set_path(data, dotted: str, value, origin: str) -> None:
    """Set ``data[a][b][c] = value`` for ``a.b.c``, creating mappings on the way.

    A list entry is addressed by position (``tasks[0]`` or ``tasks.0``) or by a
    task's ``id``/``name``, which may itself hold dots
    (``evaluation.tasks.simple_evals.mmlu_pro.overrides...``); below an
    ``overrides`` mapping the rest of the path is one dotted key, as in the config file."""
    parts = split_path(dotted)
    node, i = data, 0
    while True:
        if isinstance(node, list):
            index, i = _list_entry(node, parts, i, origin)
            if i == len(parts):
                node[index] = value
                return
            node = node[index]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"{origin}: {'.'.join(parts[:i])} is not a mapping")
        part = parts[i]
        if i == len(parts) - 1:
            node[part] = value
            return
        if part == "overrides" and i > 0:
            if not isinstance(node.setdefault(part, {}), dict):
                raise ConfigError(f"{origin}: {'.'.join(parts[:i + 1])} is not a mapping")
            node[part][".".join(parts[i + 1:])] = value
            return
        if node.get(part) is None:
            node[part] = {}
        node, i = node[part], i + 1


def split_path(dotted: str) -> list[str]:
    """``evaluation.tasks[0].x`` → ``["evaluation", "tasks", "0", "x"]``."""
    return re.sub(r"\[(\d+)\]", r".\1", dotted).split(".")


def _list_entry(items, parts, i, origin):
    """``(index, next part)`` for the entry ``parts[i:]`` starts with: a position,
    else the longest run of parts that is an entry's id or name."""
    if parts[i].isdigit() and int(parts[i]) < len(items):
        return int(parts[i]), i + 1
    for j in range(len(parts), i, -1):
        key = ".".join(parts[i:j])
        for index, item in enumerate(items):
            if isinstance(item, dict) and key in (item.get("id"), item.get("name")):
                return index, j
    raise ConfigError(f"{origin}: no entry '{parts[i]}' in {'.'.join(parts[:i])}")


def looks_like_a_key(name: str) -> bool:
    """A value pasted where a variable's name belongs (``sktrialA123``), so never
    to be printed: mixed case with a digit, or long with no ``_``. Names are
    OPENAI_API_KEY, hf_token; a name this misjudges is only not echoed."""
    mixed = not (name.isupper() or name.islower())
    return (mixed and any(c.isdigit() for c in name)) or (len(name) >= 24 and "_" not in name)


def recorded_override(item: str) -> str:
    """``item`` as the run history keeps it: a key pasted as a variable's name
    (``api_key_name``, ``env_vars``) becomes ``…``, as no secret reaches a file."""
    key, sep, value = item.partition("=")
    named = key.strip().endswith("api_key_name") or ".env_vars." in f".{key.strip()}"
    return f"{key}=…" if sep and named and looks_like_a_key(value.strip()) else item
