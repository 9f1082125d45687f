"""What loading an unchanged config proved, kept for the next load.

Reading, composing and validating a config of 200 tasks (PyYAML, cerberus, each
task resolved) is about half of what a `doit` run with nothing to do costs
beyond doit's own start-up. When nothing it depended on changed, the result is
the same, so ``compose.load`` keeps it here and a later load of the same file
takes it back without importing YAML or cerberus.

What it depends on is the key, compared whole on every load: the file's bytes,
the overrides, the folder paths are taken from (``cwd``) and ``~`` (an
``output_dir`` of ``~/…``), and evaltasks' own code — every file of the package,
by path, size and modification time: the built-in groups, the schema, the
benchmark catalog's defaults, and a new version. Only configs whose result
depends on nothing else are kept (``keepable``): no task defined in a file (its
file and data may change), no ``deployment`` (the model file's identity is
read from disk), no interpolation that reads the environment (``${oc.env:…}``:
its values may be secrets, and hashing one into a key would be deriving from
it). Failures are never kept: a config error is found and said again.

One entry per config file, in the user's cache folder (data/cache_dir), written
atomically; an entry that cannot be read, or was written for another key, is a
miss, never an error. Stored with ``marshal`` (plain data only: the loaded
document and the resolved tasks; the typed sections are rebuilt, which is cheap)."""

import hashlib
import marshal
import os
import re

import evaltasks
from evaltasks.data.cache_dir import cache_dir
from evaltasks.harness.files import atomic_file, tree, tree_signature

FOLDER = "configs"
PACKAGE = os.path.dirname(os.path.abspath(evaltasks.__file__))
# ``${name:…}``: a resolver (oc.env, oc.decode, …); ``${a.b}`` only refers to the document.
_RESOLVER = re.compile(r"\$\{[^}]*:")


def code_signature(root=None):
    """Path, size and modification time of every file of the evaltasks package
    (its bytecode caches aside), sorted: any edit, checkout or upgrade changes it."""
    return tree_signature(tree(root or PACKAGE, (".py", ".yaml", ".yml", ".json", ".txt")))


def code_digest(signature: str | None = None) -> str:
    """A short digest of ``code_signature`` (``signature``, when the caller took it
    already): the run history keys what it reuses of an up-to-date task's record
    by it (state/history.record_up_to_date)."""
    signature = code_signature() if signature is None else signature
    return hashlib.sha256(signature.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def key(file: str, text: bytes, overrides, cwd: str, signature: str | None = None) -> str:
    """The digest of everything a keepable config's loading reads; ``signature``:
    ``code_signature()``, when the caller took it already (a run takes it once:
    ~1 ms each time)."""
    h = hashlib.sha256()
    signature = code_signature() if signature is None else signature
    for part in (evaltasks.__version__, signature, file, cwd, os.path.expanduser("~"),
                 "\0".join(overrides)):
        h.update(part.encode("utf-8", "surrogateescape") + b"\1")
    h.update(text)
    return h.hexdigest()


def _entry_path(file):
    name = hashlib.sha256(file.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_dir() / FOLDER / f"{name}.marshal"


def recall(file: str, key_now: str):
    """``(data, tasks)`` kept for ``file`` under ``key_now``, or None."""
    try:
        with open(_entry_path(file), "rb") as f:
            # One read, then loads: marshal.load reads a file object in small pieces (~15x slower).
            kept, data, tasks = marshal.loads(f.read())
    except Exception:       # missing, partial, corrupt, another Python's format: a miss
        return None
    if kept != key_now or not isinstance(data, dict) or not isinstance(tasks, list):
        return None
    return data, tasks


def keepable(document: dict, tasks: list[dict], deployment) -> bool:
    """Whether a load's result depends on nothing but its key (see the module's docstring).
    ``document``: the config as composed and overridden, before interpolation."""
    return deployment is None and not any("task_file" in t for t in tasks) and not _reads_environment(document)


def _reads_environment(node):
    if isinstance(node, str):
        return bool(_RESOLVER.search(node))
    if isinstance(node, dict):
        return any(_reads_environment(k) or _reads_environment(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_reads_environment(v) for v in node)
    return False


def keep(file: str, key_now: str, data: dict, tasks: list[dict]) -> None:
    """Keep a successful load's result; one that cannot be written (a read-only
    cache, a value marshal cannot hold) is simply not kept."""
    try:
        blob = marshal.dumps((key_now, data, tasks))
        path = _entry_path(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(str(path), "wb") as f:
            f.write(blob)
    except (OSError, ValueError):
        pass
