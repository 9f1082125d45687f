"""Load a launcher config: read YAML, compose ``defaults``, apply ``key.path=value``
overrides, resolve ``${...}`` interpolations, validate everything, and resolve each
task's effective settings.

Everything that can be wrong with a config file is found here, before anything
starts. What depends on this machine rather than on the file (data present, key
variables set) is checked only for the tasks that will run: see ``blocker``.
"""

import copy
import functools
import difflib
import json
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources

import yaml

from evaltasks.config import schema, sections
from evaltasks.harness import benchmarks

DEFAULT_DEFAULTS = [{"execution": "local"}, {"deployment": "none"}, "_self_"]

# Applied under every task's config.params; a benchmark's own defaults and then
# evaluation/task overrides take precedence, in that order.
DEFAULT_PARAMS = {
    "limit_samples": None,
    "temperature": 0.0,
    "top_p": None,
    "max_new_tokens": None,
    "parallelism": 8,
    "request_timeout": 120,
    "max_retries": 5,
    "seed": None,        # sent to the endpoint when set; benchmarks that shuffle use it too
    "allowed_failure_rate": 0.0,   # fraction of samples that may fail for good without failing the task
}


# libyaml's parser when PyYAML was built with it: ~10x faster on a config of 200 tasks.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(Exception):
    """A problem with the config or the command line; the message is one line."""


@dataclass
class Config:
    path: str        # the YAML file, as given
    data: dict       # composed, overridden and validated
    tasks: list      # one dict per configured evaluation (see resolve_task)
    deployment: object = None   # deploy.Deployment when the config deploys the model
    # The file read, absolute: ``path`` is relative to the caller's folder, which
    # is not the process's own under ``doit -f <clone>/dodo.py`` (doit changes
    # into dodo.py's folder), so the history records this one.
    file: str = None

    @functools.cached_property
    def execution(self):
        """``execution`` as a frozen ``sections.Execution``."""
        return sections.Execution.from_dict(self.data["execution"])

    @functools.cached_property
    def target(self):
        """``target`` as a frozen ``sections.Target`` (the config's; tasks may override it)."""
        return sections.Target.from_dict(self.data["target"])

    @property
    def output_dir(self):
        return self.execution.output_dir


class OverrideError(ConfigError):
    """A problem an override (``-o`` or doit's ``key=value``) made, not the file:
    ``override`` is that override when the message does not already name it."""

    def __init__(self, message, override=None):
        super().__init__(message)
        self.override = override

    def where(self):
        """The message with where it came from, for the user: the override's key,
        not its value, which may be a key pasted where a name belongs."""
        if not self.override:
            return str(self)
        return f"override '{self.override.partition('=')[0].strip()}=…': {self}"


def load(path, overrides=(), cwd=None):
    """Load, compose and validate ``path``; ``overrides`` are ``"a.b.c=value"`` strings,
    applied before interpolations are resolved. Relative paths (the file,
    ``output_dir``) are taken from ``cwd``. A problem that an override made
    raises OverrideError naming that override, so the file is not blamed."""
    cwd = cwd or os.getcwd()
    try:
        return _load(path, overrides, cwd)
    except OverrideError:
        raise
    except ConfigError as e:
        if not overrides:
            raise
        problem = e
    # Only on the way to an error: the first override whose addition breaks the config.
    for n, item in enumerate(overrides):
        try:
            _load(path, overrides[:n], cwd)
        except ConfigError as e:
            if n == 0:
                raise           # the file alone is wrong
            raise OverrideError(str(e), overrides[n - 1]) from None
    raise OverrideError(str(problem), overrides[-1]) from None


def _load(path, overrides, cwd):
    data = compose(read_yaml(os.path.join(cwd, path)))
    for item in overrides:
        key, value = parse_override(item)
        try:
            set_path(data, key, value, origin=f"override '{key}=…'")
        except ConfigError as e:
            raise OverrideError(str(e)) from None
    data = interpolate(data)
    deployed = _default_target(data)
    found = schema.problems(data, schema.CONFIG)
    if found:
        raise ConfigError(_one_line(found))
    data["execution"]["output_dir"] = os.path.normpath(
        os.path.join(cwd, os.path.expanduser(data["execution"]["output_dir"])))
    dep = _deployment(data)
    checked = {}     # benchmark → its view after evaluation.overrides, validated once
    tasks = [_served_by(resolve_task(data, i, checked, cwd), dep, deployed)
             for i in range(len(data["evaluation"]["tasks"]))]
    _check_unique_ids(tasks)
    if dep is not None:
        from evaltasks import deploy

        dep = deploy.sized(dep, [task for task in tasks if task["deployed"]])
    return Config(path=path, data=data, tasks=tasks, deployment=dep,
                  file=os.path.normpath(os.path.join(cwd, path)))


# Stands for "the deployment's url" until the task's endpoint type picks chat or completions.
_DEPLOYED_URL = "http://deployment.invalid/"


def _default_target(data):
    """With a deployment, ``target.api_endpoint.url`` and ``model_id`` default to
    its own; whether the url did (the user may still set one)."""
    section = data.get("deployment")
    if not isinstance(section, dict) or section.get("type", "none") == "none":
        return False
    target = data.setdefault("target", {}) if isinstance(data.get("target", {}), dict) else {}
    endpoint = target.setdefault("api_endpoint", {}) if isinstance(target.get("api_endpoint", {}), dict) else {}
    name = section.get("served_model_name") or section.get("hf_model_handle")
    if name and "model_id" not in endpoint:
        endpoint["model_id"] = name
    if "url" in endpoint:
        return False
    endpoint["url"] = _DEPLOYED_URL
    return True


def _deployment(data):
    from evaltasks import deploy

    try:
        return deploy.from_config(data)
    except deploy.DeploymentError as e:
        raise ConfigError(str(e)) from None


def _served_by(task, dep, deployed):
    """The task's endpoint and fingerprint as the deployment sets them."""
    task["deployment"] = None
    if dep is None:
        return task
    from evaltasks import deploy

    try:
        task["deployment"] = deploy.fingerprint(dep)
    except deploy.DeploymentError as e:
        raise ConfigError(str(e)) from None
    endpoint = task["endpoint"]
    # The url is the deployment's own unless this task set another: then its port
    # is part of what the task measures, else only the deployment's fingerprint is.
    task["deployed"] = deployed and endpoint["url"] == _DEPLOYED_URL
    if task["deployed"]:
        endpoint["url"] = dep.url(endpoint["type"])
    return task


def interpolate(data):
    """Resolve OmegaConf interpolations (``${target.api_endpoint.model_id}``,
    ``${oc.env:VAR}``), as NeMo Evaluator's Hydra configs use them. A resolved
    value is config like any other: it is written to task.json and results.json."""
    if not _has_interpolation(data):
        return data     # the common case; OmegaConf costs ~1 ms per task
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(OmegaConf.create(data), resolve=True)
    except OmegaConfBaseException as e:
        problem = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        problem = re.sub(r"^\w+ raised while resolving interpolation: ", "", problem).strip('"')
        raise ConfigError(f"{e.full_key or 'config'}: cannot resolve interpolation: {problem}") from None


def _has_interpolation(node):
    if isinstance(node, str):
        return "${" in node
    if isinstance(node, dict):
        return any(_has_interpolation(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_interpolation(v) for v in node)
    return False


def read_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_SAFE_LOADER)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, not a file: {path}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError("the config must be a YAML mapping (key: value) at the top level")
    return data


def compose(document):
    """Merge the built-in groups named in ``defaults`` with the file's own keys
    (``_self_``), in list order, later entries winning."""
    defaults = document.get("defaults", DEFAULT_DEFAULTS)
    if not isinstance(defaults, list):
        raise ConfigError("defaults: must be a list, e.g. [execution: local, deployment: none, _self_]")
    if "_self_" not in defaults:
        defaults = list(defaults) + ["_self_"]
    merged = {}
    for entry in defaults:
        if entry == "_self_":
            merge(merged, copy.deepcopy(document))
        elif isinstance(entry, dict) and len(entry) == 1:
            (group, option), = entry.items()
            merge(merged, _group(group, option))
        else:
            raise ConfigError(f"defaults: cannot understand entry {entry!r}; "
                              "use 'group: option' or _self_")
    return merged


def _group(group, option):
    folder = resources.files("evaltasks.config") / "groups"
    groups = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if group not in groups:
        raise ConfigError(f"defaults: unknown group '{group}' (available: {', '.join(groups)})")
    options = sorted(p.name[:-5] for p in (folder / group).iterdir() if p.name.endswith(".yaml"))
    if option not in options:
        raise ConfigError(f"defaults: {group} '{option}' is not available here "
                          f"(available: {', '.join(options)})")
    return yaml.safe_load((folder / group / f"{option}.yaml").read_text(encoding="utf-8"))


def merge(base, extra):
    """Deep-merge ``extra`` into ``base`` (dicts merge, everything else replaces)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def parse_override(item):
    """``"a.b=3"`` → ``("a.b", 3)``; the value is read as a YAML scalar."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise OverrideError(f"bad override {item!r}: expected KEY.PATH=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def set_path(data, dotted, value, origin):
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


def split_path(dotted):
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


def resolve_task(data, index, checked=None, cwd=None):
    """One task's effective settings: benchmark, params, endpoint, env vars.
    ``checked`` caches, per benchmark, the view with ``evaluation.overrides``
    applied and validated, which is the same for every task of that benchmark.
    A task defined in a file (filetasks.py) also gets ``task_file``."""
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
    from evaltasks.data import taskfiles as filetasks

    try:
        if filetasks.is_path(name):
            return benchmarks.FILE_TASK, filetasks.load(os.path.join(cwd or os.getcwd(), name))
        if name == benchmarks.FILE_TASK.name:
            raise benchmarks.UnknownBenchmark(f"unknown task '{name}'")
        try:
            return benchmarks.resolve(name), None
        except benchmarks.UnknownBenchmark:
            path = filetasks.find(name, task_dirs, cwd)
            if path is None:
                raise ConfigError(f"{where}.name: {sys.exc_info()[1]}; or a task file: its path (….yaml), or its "
                                  f"task: in evaluation.task_dirs or ${filetasks.TASKS_DIR_ENV}") from None
            return benchmarks.FILE_TASK, filetasks.load(path)
    except benchmarks.UnknownBenchmark as e:
        raise ConfigError(f"{where}.name: {e}") from None
    except filetasks.TaskFileProblem as e:
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
    found = schema.problems(document, schema.TASK_VIEW, update=update)
    if found:
        raise ConfigError(_one_line(found, prefix=f"{label}.", suffix=f" (task {task_name})",
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


def _check_unique_ids(tasks):
    seen = {}
    for i, task in enumerate(tasks):
        if task["id"] in seen:
            raise ConfigError(
                f"evaluation.tasks[{i}]: task id '{task['id']}' is already used by "
                f"evaluation.tasks[{seen[task['id']]}]; give each an 'id' of its own")
        seen[task["id"]] = i


def blocker(task, environ):
    """Why ``task`` cannot run on this machine now, or None: a key or host
    variable it needs is unset or empty. Checked only for tasks about to run."""
    needed = [("target.api_endpoint.api_key_name", task["endpoint"]["api_key_name"])]
    needed += [(f"env_vars.{inner}", outer) for inner, outer in task["env_vars"].items()]
    for key, name in needed:
        if not name:
            continue
        if name not in environ and _looks_like_a_key(name):
            return (f"{key}: no environment variable of that name is set; {key.split('.')[-1]} takes the "
                    f"NAME of an environment variable, not the key itself")
        if name not in environ:
            return f"{key}: environment variable {name} is not set (export it{_no_key_hint(key)})"
        if not environ[name]:
            return f"{key}: environment variable {name} is empty"
    return None


def _looks_like_a_key(name):
    """A value pasted where a variable's name belongs (``sktrialA123``), so never
    to be printed: mixed case with a digit, or long with no ``_``. Names are
    OPENAI_API_KEY, hf_token; a name this misjudges is only not echoed."""
    mixed = not (name.isupper() or name.islower())
    return (mixed and any(c.isdigit() for c in name)) or (len(name) >= 24 and "_" not in name)


def recorded_override(item):
    """``item`` as the run history keeps it: a key pasted as a variable's name
    (``api_key_name``, ``env_vars``) becomes ``…``, as no secret reaches a file."""
    key, sep, value = item.partition("=")
    named = key.strip().endswith("api_key_name") or ".env_vars." in f".{key.strip()}"
    return f"{key}=…" if sep and named and _looks_like_a_key(value.strip()) else item


def _no_key_hint(key):
    return ", or set api_key_name: null for no key" if key.endswith("api_key_name") else ""


def _one_line(found, prefix="", suffix="", rules=schema.CONFIG):
    """The first problem, its path as ``-o`` accepts it, the nearest valid key
    for an unknown one (``rules``: the schema ``found`` came from), and how many more."""
    (path, message), rest = found[0], found[1:]
    listed = ", ".join(prefix + p for p, _ in rest[:3]) + (", …" if len(rest) > 3 else "")
    more = f" (and {len(rest)} more: {listed})" if rest else ""
    return f"{prefix}{path}: {message}{_unknown_key_hint(path, message, rules)}{suffix}{more}"


def _unknown_key_hint(path, message, rules):
    if message != "unknown key":
        return ""
    if path == "config":
        return ("; per-task settings (config.params.*) go under evaluation.overrides (every task) "
                "or evaluation.tasks.<name>.overrides (one task)")
    name = re.split(r"[.\]]", path)[-1]
    near = difflib.get_close_matches(name, schema.keys_beside(rules, path), n=1, cutoff=0.6)
    return f" (did you mean {near[0]}?)" if near else ""
