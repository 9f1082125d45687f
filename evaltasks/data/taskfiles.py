"""Tasks defined in files, on the launcher's side.

A task's ``name`` that ends in ``.yaml``/``.yml`` is a task file (relative to
where the command runs); any other name that is not a built-in benchmark is
looked up by the ``task:`` key of the YAML files in the task folders: the
config's ``evaluation.task_dirs`` and ``$EVALTASKS_TASKS_DIR`` (``:``-separated).

The file is read and checked when the config is loaded, with its data files:
present, and matching the ``sha256`` given. Before the task runs, ``stage``
puts a copy of each data file (downloading URLs) in a content-addressed folder
of the cache, the task's data folder, which the harness reads read-only; the
harness gets the YAML's text and the copies' names in task.json, no host path.
"""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from evaltasks.data import datasets
from evaltasks.harness.files import sha256_file
from evaltasks.harness.filetask import spec as task_spec

TASKS_DIR_ENV = "EVALTASKS_TASKS_DIR"


class TaskFileProblem(Exception):
    """One line naming the file and the key."""


class _Function(str):
    """lm-eval's ``!function module.name``: Python code that is not run here."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!function", lambda loader, node: _Function(loader.construct_scalar(node)))
# Dates stay text: the mapping goes to the harness as JSON.
_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def read(text, source):
    """The checked task from the file's ``text`` (``spec.parse``); TaskFileProblem if not."""
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        raise TaskFileProblem(f"{source}: {where}: malformed YAML: {getattr(e, 'problem', None) or e}") from None
    for key, value in (raw.items() if isinstance(raw, dict) else ()):
        if _has_function(value):
            raise TaskFileProblem(f"{source}: {key}: !function needs Python code from lm-eval's task folder, "
                                  "which is not run here")
    try:
        return raw, task_spec.parse(raw, source)
    except task_spec.TaskFileError as e:
        raise TaskFileProblem(str(e)) from None


def _has_function(value):
    if isinstance(value, _Function):
        return True
    if isinstance(value, dict):
        return any(_has_function(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_function(v) for v in value)
    return False


def is_path(name):
    return name.endswith((".yaml", ".yml"))


def folders(configured=(), cwd=None):
    """The task folders: the config's, then $EVALTASKS_TASKS_DIR's, as absolute paths."""
    cwd = cwd or os.getcwd()
    env = [p for p in os.environ.get(TASKS_DIR_ENV, "").split(os.pathsep) if p]
    return [(os.path.normpath(os.path.join(cwd, os.path.expanduser(p))), origin)
            for origin, paths in (("evaluation.task_dirs", configured or ()), (TASKS_DIR_ENV, env)) for p in paths]


def listing(configured=(), cwd=None):
    """``[{task, path, origin}]`` for every task file in the task folders; a
    file whose ``task:`` cannot be read is listed with its problem."""
    found = []
    for folder, origin in folders(configured, cwd):
        for path in sorted(Path(folder).rglob("*.y*ml")) if os.path.isdir(folder) else []:
            entry = {"path": str(path), "origin": f"{origin} ({folder})"}
            try:
                entry["task"] = read(path.read_text(encoding="utf-8"), str(path))[1]["task"]
            except (TaskFileProblem, OSError, UnicodeDecodeError) as e:
                entry["task"], entry["problem"] = None, str(e)
            found.append(entry)
    return found


def find(name, configured=(), cwd=None):
    """The path of the task file whose ``task:`` is ``name`` in the task folders, or None."""
    matches = [e["path"] for e in listing(configured, cwd) if e["task"] == name]
    if len(matches) > 1:
        raise TaskFileProblem(f"task '{name}' is defined by more than one file: {', '.join(matches)}")
    return matches[0] if matches else None


def load(path):
    """The task file at ``path``, checked, as a ``task_file`` dict: its text,
    the parsed task, and its data files (host source, digest, name in the data folder)."""
    path = os.path.abspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskFileProblem(f"task file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TaskFileProblem(f"{path}: cannot read it ({e})") from None
    document, task = read(text, path)
    used = [task["test_split"]] + ([task["fewshot_split"]] if task["num_fewshot"] else [])
    sources, files = [], {}
    for split in dict.fromkeys(used):
        for entry in task["splits"][split]:
            source = _source(entry, os.path.dirname(path), f"{path}: dataset_kwargs.data_files.{split}")
            sources.append(source)
            files.setdefault(split, []).append(source["name"])
    judges = [{"url": m["url"], "model_id": m["model_id"], "type": "chat", "api_key_name": m["api_key_name"]}
              for m in task["metrics"] if m["metric"] == "judge"]
    return {"path": path, "task": task["task"], "content": text, "document": document, "files": files, "sources": sources,
            "judges": judges, "generation": task["generation"]["params"],
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _source(entry, base, where):
    suffix = "".join(Path(entry["source"].split("?")[0]).suffixes[-2:]) or ".data"
    if task_spec.is_url(entry["source"]):
        return {"url": entry["source"], "sha256": entry["sha256"], "name": entry["sha256"] + suffix}
    host = os.path.normpath(os.path.join(base, os.path.expanduser(entry["source"])))
    if not os.path.isfile(host):
        raise TaskFileProblem(f"{where}: data file {host} does not exist")
    digest = datasets.file_digest(host)
    if entry["sha256"] and digest != entry["sha256"]:
        raise TaskFileProblem(f"{where}: {host} has sha256 {digest}, not the expected {entry['sha256']}")
    return {"path": host, "sha256": digest, "name": digest + suffix}


def harness_view(task_file):
    """What task.json carries: the file's text and mapping (the harness reads no
    YAML) and the copies' names; no host path but the file's, which names it in messages."""
    return {k: task_file[k] for k in ("path", "task", "content", "document", "files")}


def data_folder():
    """The task files' data folder (``datasets.staged_folder``)."""
    return datasets.staged_folder()


def stage(task_file, log=print):
    """The task's data folder, holding a checked copy of each of its data files."""
    folder = data_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for source in task_file["sources"]:
        target = folder / source["name"]
        if target.is_file():
            continue
        fd, part = tempfile.mkstemp(dir=folder, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                if "url" in source:
                    log(f"downloading {source['url']}")
                    datasets.fetch_into(source["url"], out)
                else:
                    with open(source["path"], "rb") as f:
                        shutil.copyfileobj(f, out)
            digest = sha256_file(part)
            if digest != source["sha256"]:
                what = source.get("url") or f"{source['path']} (changed since the run started)"
                raise TaskFileProblem(f"{task_file['path']}: {what}: sha256 {digest} is not the expected "
                                      f"{source['sha256']}")
            os.chmod(part, 0o444)
            os.replace(part, target)
        finally:
            Path(part).unlink(missing_ok=True)
    return folder

