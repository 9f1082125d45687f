"""Resolving each configured evaluation into its effective settings: which
benchmark (built-in, or a task defined in a file), its params after the
benchmark's defaults and ``evaluation.overrides`` / the task's own
``overrides``, its endpoint and the variables it needs. The result is one plain
dict per task (``Config.tasks``), from which the pipeline builds a TaskSpec.

Also what cannot be known from the file alone: ``blocker`` says why a task
cannot run on this machine now, and is asked only for the tasks about to run."""

import json
import os
import sys

from evaltasks.config.errors import ConfigError
from evaltasks.config.overrides import looks_like_a_key, set_path, split_path
from evaltasks.config.params import DEFAULT_PARAMS
from evaltasks.harness import benchmarks


def resolve_task(data: dict, index: int, checked: dict | None = None, cwd: str | None = None) -> dict:
    """One task's effective settings: benchmark, params, endpoint, env vars.
    ``checked`` caches, per benchmark, the view with ``evaluation.overrides``
    applied and validated, which is the same for every task of that benchmark.
    A task defined in a file (data/taskfiles.py) also gets ``task_file``."""
    task = data["evaluation"]["tasks"][index]
    where = f"evaluation.tasks[{index}]"
    bench, task_file = _benchmark(task["name"], data["evaluation"].get("task_dirs"), where, cwd)
    defaults = task_file["generation"] if task_file else bench.defaults
    cache_key = task_file["path"] if task_file else bench.name

    checked = {} if checked is None else checked
    if cache_key not in checked:
        checked[cache_key] = _view("evaluation.overrides",
                                   data["evaluation"].get("overrides"), task["name"],
                                   {"config": {"params": dict(DEFAULT_PARAMS, **defaults,
                                                              extra=dict(bench.extra))},
                                    "target": data["target"]})
    view = _view(f"{where}.overrides", task.get("overrides"), task["name"], checked[cache_key])

    _check_extra(view["config"]["params"]["extra"], bench, f"{where}.overrides.config.params.extra",
                 f" (task {task['name']})")

    env_vars = dict(task.get("env_vars") or {})
    judges = list(task_file["judges"]) if task_file else []
    judge = benchmarks.judge_endpoint(view["config"]["params"]["extra"])
    if judge:
        for key in ("url", "model_id"):
            if not judge[key]:
                raise ConfigError(f"{where}.overrides.config.params.extra.judge_{key}: needed with "
                                  f"scoring: judge (task {task['name']})")
        judges.append(judge)
    for judge in judges:
        if judge["api_key_name"]:       # the judge's key reaches the harness as the model's does
            env_vars.setdefault(judge["api_key_name"], judge["api_key_name"])
    endpoint = view["target"]["api_endpoint"]
    extra = {"task_file": task_file} if task_file else {}
    return dict({
        "id": task.get("id", task_file["task"] if task_file else task["name"]),
        "name": task["name"],
        "benchmark": bench.name,
        "params": view["config"]["params"],
        "endpoint": {
            "url": endpoint["url"],
            "model_id": endpoint["model_id"],
            "type": endpoint.get("type", bench.endpoint_type),
            "api_key_name": endpoint.get("api_key_name"),
            "adapter_config": endpoint.get("adapter_config") or {},
            # Into task.json for the reports' cost; not part of the fingerprint (plan.fingerprint).
            **({"pricing": endpoint["pricing"]} if endpoint.get("pricing") else {}),
        },
        "env_vars": env_vars,
    }, **extra)


def _benchmark(name, task_dirs, where, cwd):
    """``(benchmark, task_file or None)`` for a task name: a task file's path, a
    built-in benchmark, or a task defined in a task folder."""
    if not name.endswith((".yaml", ".yml")) and name != benchmarks.FILE_TASK.name:
        try:
            return benchmarks.resolve(name), None
        except benchmarks.UnknownBenchmark:
            pass
    # Task files only from here: their machinery (templates, the judge's HTTP client)
    # costs a quarter of a second to import, which every `doit list` would pay.
    from evaltasks.data import taskfiles

    try:
        if taskfiles.is_path(name):
            return benchmarks.FILE_TASK, taskfiles.load(os.path.join(cwd or os.getcwd(), name))
        if name == benchmarks.FILE_TASK.name:
            raise benchmarks.UnknownBenchmark(f"unknown task '{name}'")
        try:
            return benchmarks.resolve(name), None
        except benchmarks.UnknownBenchmark:
            path = taskfiles.find(name, task_dirs, cwd)
            if path is None:
                raise ConfigError(f"{where}.name: {sys.exc_info()[1]}; or a task file: its path (….yaml), or its "
                                  f"task: in evaluation.task_dirs or ${taskfiles.TASKS_DIR_ENV}") from None
            return benchmarks.FILE_TASK, taskfiles.load(path)
    except benchmarks.UnknownBenchmark as e:
        raise ConfigError(f"{where}.name: {e}") from None
    except taskfiles.TaskFileProblem as e:
        raise ConfigError(str(e)) from None


# Documents already found valid in this process: a config of 200 tasks usually
# repeats a handful of override sets, and each validation costs ~1 ms.
_VALID = set()


def _view(label, overrides, task_name, base):
    """``base`` (copied) with ``overrides`` applied, validated."""
    view = _copy(base)
    if not overrides:
        return view
    for key, value in overrides.items():
        set_path(view, key, value, origin=f"{label}: {key}")
    document, update = _changed(view, overrides)
    key = (json.dumps(document, sort_keys=True, default=repr), update)
    if key in _VALID:
        return view
    from evaltasks.config import schema     # cerberus: only when a config is read anew (see compose)

    found = schema.problems(document, schema.TASK_VIEW, update=update)
    if found:
        raise ConfigError(schema.one_line(found, prefix=f"{label}.", suffix=f" (task {task_name})",
                                          rules=schema.TASK_VIEW))
    _VALID.add(key)
    return view


def _copy(data):
    """A deep copy of plain config data (dicts, lists, scalars): copy.deepcopy's
    generality costs ten times more, per task."""
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


def _changed(view, overrides):
    """``(document, update)`` to validate once ``overrides`` changed ``view``, whose
    base is valid: only the keys they set, as an update (their siblings' ``required``
    rules are met by the base). Replacing ``target`` or its ``api_endpoint`` whole
    could drop a required key, so that checks the whole view."""
    parts = [split_path(key) for key in overrides]
    if any(p[:2] in (["target"], ["target", "api_endpoint"]) for p in parts):
        return view, False
    sparse = {}
    for path in parts:      # set_path made every mapping on the way
        source, target = view, sparse
        for part in path[:-1]:
            source, target = source[part], target.setdefault(part, {})
        target[path[-1]] = source[path[-1]]
    return sparse, True


def _check_extra(extra, bench, where, suffix):
    """``config.params.extra`` holds only the benchmark's own options, each of the
    same type as its default."""
    for key, value in extra.items():
        problem = _extra_problem(key, value, bench)
        if problem:
            raise ConfigError(f"{where}.{key}: {problem}{suffix}")


def _extra_problem(key, value, bench):
    if key not in bench.extra:
        return f"unknown option for {bench.name} (options: {', '.join(sorted(bench.extra)) or 'none'})"
    default = bench.extra[key]
    expected = (int, float) if isinstance(default, float) else type(default)
    if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, expected):
        return f"must be of type {type(default).__name__}, got {value!r}"
    allowed = bench.choices.get(key)
    if allowed and isinstance(value, list):       # a selection: each entry one of the choices
        unknown = [v for v in value if v not in allowed]
        if unknown:
            return f"unknown {', '.join(map(repr, unknown))} (choose from {', '.join(allowed)})"
    elif allowed and value not in allowed:
        return f"{value!r} is not one of {', '.join(allowed)}"
    low, high = bench.ranges.get(key, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        return f"must be {f'between {low} and {high}' if high is not None else f'at least {low}'}, got {value!r}"
    return None


def check_unique_ids(tasks: list[dict]) -> None:
    """Each task's id names its folder and its doit task: no two may share one."""
    seen = {}
    for i, task in enumerate(tasks):
        if task["id"] in seen:
            raise ConfigError(
                f"evaluation.tasks[{i}]: task id '{task['id']}' is already used by "
                f"evaluation.tasks[{seen[task['id']]}]; give each an 'id' of its own")
        seen[task["id"]] = i


def blocker(task: dict, environ) -> str | None:
    """Why ``task`` (one of ``Config.tasks``, or a TaskSpec's fields) cannot run on
    this machine now, or None: a key or host variable it needs is unset or empty.
    Checked only for tasks about to run."""
    needed = [("target.api_endpoint.api_key_name", task["endpoint"]["api_key_name"])]
    needed += [(f"env_vars.{inner}", outer) for inner, outer in task["env_vars"].items()]
    for key, name in needed:
        if not name:
            continue
        if name not in environ and looks_like_a_key(name):
            return (f"{key}: no environment variable of that name is set; {key.split('.')[-1]} takes the "
                    f"NAME of an environment variable, not the key itself")
        if name not in environ:
            return f"{key}: environment variable {name} is not set (export it{_no_key_hint(key)})"
        if not environ[name]:
            return f"{key}: environment variable {name} is empty"
    return None


def _no_key_hint(key):
    return ", or set api_key_name: null for no key" if key.endswith("api_key_name") else ""
