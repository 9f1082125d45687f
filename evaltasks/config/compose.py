"""Load a launcher config: read YAML, compose ``defaults`` groups, apply
``key.path=value`` overrides (overrides.py), resolve ``${...}`` interpolations,
validate the whole document (schema.py), then resolve each task (tasks.py) and
what a deployment sets (deployment.py). ``load`` is the one entry: it returns a
``Config`` whose known sections are typed (sections.py).

Everything that can be wrong with a config file is found here, before anything
starts. What depends on this machine rather than on the file (data present, key
variables set) is checked only for the tasks that will run: see ``tasks.blocker``.

What a load proved is kept for the next load of the unchanged file
(remembered.py), which then needs neither YAML nor cerberus: both are imported
only when a config is read for real.
"""

import copy
import io
import os
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from evaltasks.config import deployment, overrides as overriding, remembered, sections
from evaltasks.config.errors import ConfigError, OverrideError

if TYPE_CHECKING:       # deploy is imported only by a config that deploys a model
    from evaltasks.deploy import Deployment

DEFAULT_DEFAULTS = [{"execution": "local"}, {"deployment": "none"}, "_self_"]


def _safe_loader(yaml):
    # libyaml's parser when PyYAML was built with it: ~10x faster on a config of 200 tasks.
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Config:
    """A loaded config: what the pipeline plans from. Frozen, so no stage can
    change what a later one, or the recorded ``run_config.yml``, sees."""
    path: str                       # the YAML file, as given (relative to the caller's folder)
    # The file read, absolute: ``path`` is relative to the caller's folder, which
    # is not the process's own under ``doit -f <clone>/dodo.py`` (doit changes
    # into dodo.py's folder), so the history records this one.
    file: str
    data: dict                      # composed, overridden, validated: the document recorded as run
    execution: sections.Execution   # where and how tasks run
    target: sections.Target         # the config's endpoint (a task's overrides may change its own)
    tasks: list[dict]               # one per evaluation (tasks.resolve_task); TaskSpecs are built from them
    deployment: "Deployment | None" = None    # the model server the config deploys, if any

    @property
    def output_dir(self) -> str:
        return self.execution.output_dir


def load(path: str, overrides=(), cwd: str | None = None, code_signature: str | None = None) -> Config:
    """Load, compose and validate ``path``; ``overrides`` are ``"a.b.c=value"`` strings,
    applied before interpolations are resolved. Relative paths (the file,
    ``output_dir``) are taken from ``cwd``. A problem that an override made
    raises OverrideError naming that override, so the file is not blamed.
    ``code_signature``: remembered.code_signature(), when the caller took it."""
    cwd = cwd or os.getcwd()
    try:
        return _load(path, overrides, cwd, code_signature)
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


def _load(path, overrides, cwd, signature=None):
    file = os.path.normpath(os.path.join(cwd, path))
    try:
        with open(file, "rb") as f:
            text = f.read()
    except OSError:
        text = None     # read_yaml says what is wrong
    key = remembered.key(file, text, overrides, cwd, signature) if text is not None else None
    kept = key and remembered.recall(file, key)
    if kept:
        data, resolved = kept
        execution = sections.Execution.from_dict(data["execution"])
        return Config(path=path, file=file, data=data, execution=execution,
                      target=deployment.target(data, None, False), tasks=resolved)
    cfg, document = _load_anew(path, file, overrides, cwd, text)
    if key and remembered.keepable(document, cfg.tasks, cfg.deployment):
        remembered.keep(file, key, cfg.data, cfg.tasks)
    return cfg


def _load_anew(path, file, overrides, cwd, text=None):
    """``(Config, the document before interpolation)``, read (from ``text``, the
    file's bytes, when given), checked and resolved."""
    from evaltasks.config import schema, tasks as resolving

    document = compose(read_yaml(os.path.join(cwd, path), text))
    overriding.apply(document, overrides)
    data = interpolate(document)
    deployed = deployment.default_target(data)
    found = schema.problems(data, schema.CONFIG)
    if found:
        raise ConfigError(schema.one_line(found))
    data["execution"]["output_dir"] = os.path.normpath(
        os.path.join(cwd, os.path.expanduser(data["execution"]["output_dir"])))
    execution = sections.Execution.from_dict(data["execution"])
    dep = deployment.from_config(data, execution)
    checked = {}     # benchmark → its view after evaluation.overrides, validated once
    resolved = [deployment.served_by(resolving.resolve_task(data, i, checked, cwd), dep, deployed)
                for i in range(len(data["evaluation"]["tasks"]))]
    resolving.check_unique_ids(resolved)
    return Config(path=path, file=file, data=data, execution=execution,
                  target=deployment.target(data, dep, deployed), tasks=resolved,
                  deployment=deployment.sized(dep, resolved)), document


def interpolate(data: dict) -> dict:
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


def read_yaml(path: str, content: bytes | None = None) -> dict:
    """The file's top-level mapping; any problem reading it is one ConfigError line.
    ``content``: the file's bytes when the caller has read them (``--config <(…)``,
    a pipe, can be read only once), read as ``open`` would (UTF-8, newlines)."""
    import yaml

    try:
        with (open(path, encoding="utf-8") if content is None
              else io.TextIOWrapper(io.BytesIO(content), encoding="utf-8")) as f:
            data = yaml.load(f, Loader=_safe_loader(yaml))
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


def compose(document: dict) -> dict:
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
    import yaml

    folder = resources.files("evaltasks.config") / "groups"
    groups = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if group not in groups:
        raise ConfigError(f"defaults: unknown group '{group}' (available: {', '.join(groups)})")
    options = sorted(p.name[:-5] for p in (folder / group).iterdir() if p.name.endswith(".yaml"))
    if option not in options:
        raise ConfigError(f"defaults: {group} '{option}' is not available here "
                          f"(available: {', '.join(options)})")
    return yaml.safe_load((folder / group / f"{option}.yaml").read_text(encoding="utf-8"))


def merge(base: dict, extra: dict) -> dict:
    """Deep-merge ``extra`` into ``base`` (dicts merge, everything else replaces)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base
