"""The config's sections as frozen dataclasses, built once the whole document has
passed validation (schema.py), so the rest of the launcher reads
``cfg.execution.output_dir`` instead of digging through dicts: a typo is an
AttributeError at once, not a silent ``.get`` default, and each default lives here.

Plain data only: no I/O and no checks (schema.py did those), so building them is
cheap and every layer may import this module."""

from dataclasses import dataclass, field, fields


def _known(cls, section):
    """The section's keys this dataclass has a field for: the schema allows no others,
    but a key it adds later should not break loading before a field exists for it."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in (section or {}).items() if k in names}


@dataclass(frozen=True)
class AutoExport:
    """``execution.auto_export``: exports the ``summary`` task runs at the end of a run."""
    destinations: tuple = ()
    configs: dict = field(default_factory=dict)    # per destination, as written

    @classmethod
    def from_dict(cls, section):
        section = section or {}
        return cls(destinations=tuple(section.get("destinations") or ()), configs=dict(section.get("configs") or {}))


@dataclass(frozen=True)
class Execution:
    """``execution``: where and how tasks run. Defaults are those of the built-in
    groups (config/groups/execution/), for a config that names no group."""
    type: str = "local"
    runtime: str = "docker"
    output_dir: str = ""
    mode: str = "parallel"
    extra_docker_args: str = ""
    base_image: str = None
    preflight: bool = True
    confirm_run_unsafe_code: bool = False
    endpoint_readiness_timeout: float = None
    auto_export: AutoExport = None
    # execution: slurm
    account: str = None
    partition: str = None
    walltime: str = None
    gres: str = None
    gpus_per_node: int = None
    num_nodes: int = 1
    sbatch_extra_flags: tuple = ()
    shared_dir: str = None
    node_python: str = "python3"
    requeue: bool = False

    @classmethod
    def from_dict(cls, section):
        values = _known(cls, section)
        kind = values.get("type") or "local"
        # A Slurm job runs the harness as a process unless told otherwise; locally, Docker.
        values["runtime"] = values.get("runtime") or ("process" if kind == "slurm" else "docker")
        values["extra_docker_args"] = values.get("extra_docker_args") or ""
        values["node_python"] = values.get("node_python") or "python3"
        values["sbatch_extra_flags"] = tuple(values.get("sbatch_extra_flags") or ())
        values["auto_export"] = AutoExport.from_dict(values.get("auto_export")) if values.get("auto_export") else None
        if values.get("preflight") is None:     # absent or null: the field's default (on)
            values.pop("preflight", None)
        return cls(**values)

    @property
    def sequential(self):
        return self.mode == "sequential"


@dataclass(frozen=True)
class ApiEndpoint:
    """``target.api_endpoint``: the model the tasks ask (a task's overrides may change
    it per task: TaskSpec carries each task's own)."""
    model_id: str
    url: str
    api_key_name: str = None     # the NAME of an environment variable, never its value
    type: str = "chat"
    adapter_config: dict = field(default_factory=dict)
    pricing: dict = None

    @classmethod
    def from_dict(cls, section):
        values = _known(cls, section)
        values["adapter_config"] = dict(values.get("adapter_config") or {})
        values["type"] = values.get("type") or "chat"
        return cls(**values)


@dataclass(frozen=True)
class Target:
    """``target``: today only the endpoint."""
    api_endpoint: ApiEndpoint

    @classmethod
    def from_dict(cls, section):
        return cls(api_endpoint=ApiEndpoint.from_dict(section["api_endpoint"]))
