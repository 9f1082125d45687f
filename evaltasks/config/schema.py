"""Cerberus schemas: the whole config file, and the per-task view that
``overrides`` apply to (``config.params.*``, ``target.api_endpoint.*``), and how
a problem they find is said in one line (``one_line``)."""

import difflib
import re

from cerberus import Validator

TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# sbatch --time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS
WALLTIME = re.compile(r"^(\d+-)?\d+(:\d+){0,2}$")


class _Checked(set):
    """Every schema counts as already checked against cerberus's own rules."""

    def __contains__(self, item):
        return True


class ConfigValidator(Validator):
    # Cerberus checks each schema it is given against its rules once per process:
    # ~30 ms of every `doit` run, up-to-date ones included. Ours are fixed in this
    # module, so ``check_definitions`` does that check once, in the tests.
    _valid_schemas = _Checked()

    # Cerberus calls these for null values too, and after a failed type check.
    def _check_with_limit_samples(self, field, value):
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._error(field, "must be an integer > 0 or a fraction in (0, 1]")
        elif isinstance(value, int) and value <= 0:
            self._error(field, "must be an integer > 0")
        elif isinstance(value, float) and not 0 < value <= 1:
            self._error(field, "a fraction must be in (0, 1]")

    def _check_with_unit_interval(self, field, value):
        if isinstance(value, (int, float)) and not 0 < value <= 1:
            self._error(field, "must be in (0, 1]")

    def _check_with_walltime(self, field, value):
        if isinstance(value, str) and not WALLTIME.match(value):
            self._error(field, "must be a Slurm time limit, e.g. 30 (minutes), 02:00:00 or 1-00:00:00")

    def _check_with_task_id(self, field, value):
        if isinstance(value, str) and not TASK_ID.match(value):
            self._error(field, "may hold only letters, digits, '_', '.' and '-'")


def _str(**extra):
    return {"type": "string", **extra}


PARAMS = {
    "limit_samples": {"nullable": True, "check_with": "limit_samples"},
    "temperature": {"type": "number", "min": 0, "nullable": True},
    "top_p": {"type": "number", "nullable": True, "check_with": "unit_interval"},
    "max_new_tokens": {"type": "integer", "min": 1, "nullable": True},
    "parallelism": {"type": "integer", "min": 1},
    "request_timeout": {"type": "number", "min": 1},
    "max_retries": {"type": "integer", "min": 0},
    "seed": {"type": "integer", "nullable": True},
    "allowed_failure_rate": {"type": "number", "min": 0, "max": 0.5},
    "extra": {"type": "dict", "keysrules": {"type": "string"}},
}

ADAPTER = {
    "use_system_prompt": {"type": "boolean"},
    "custom_system_prompt": _str(nullable=True),
    "use_reasoning": {"type": "boolean"},
    "process_reasoning_traces": {"type": "boolean"},
    "params_to_add": {"type": "dict", "keysrules": _str(empty=False)},
    "params_to_remove": {"type": "list", "schema": _str(empty=False)},
    "params_to_rename": {"type": "dict", "keysrules": _str(empty=False), "valuesrules": _str(empty=False)},
    "use_request_logging": {"type": "boolean"},
    "max_logged_requests": {"type": "integer", "min": 0, "nullable": True},
    "use_response_logging": {"type": "boolean"},
    "max_logged_responses": {"type": "integer", "min": 0, "nullable": True},
    "use_caching": {"type": "boolean"},
    "caching_dir": _str(nullable=True, empty=False),
}

# Price per million tokens (report/cost.py): what a run cost, never what it measures.
PRICING = {
    "prompt": {"type": "number", "min": 0, "required": True},
    "completion": {"type": "number", "min": 0, "required": True},
    "currency": _str(empty=False, regex=r"^[A-Za-z$€£¥]{1,8}$"),
}

# execution.auto_export.configs.wandb, with NeMo Evaluator's keys (report/export.py uses them).
WANDB_EXPORT = {
    **{key: _str(nullable=True, empty=False) for key in ("entity", "project", "name", "group", "job_type",
                                                          "description")},
    "tags": {"type": "list", "schema": _str(empty=False)},
    "log_metrics": {"type": "list", "schema": _str(empty=False)},
    "log_artifacts": {"type": "boolean"},
    "log_logs": {"type": "boolean"},
    "only_required": {"type": "boolean"},
    "extra_metadata": {"type": "dict", "keysrules": _str(empty=False)},
    # One W&B run per task; NeMo Evaluator's multi_task (one run for all) is not offered.
    "log_mode": _str(allowed=["per_task"]),
}

API_ENDPOINT = {
    "model_id": _str(required=True, empty=False),
    "url": _str(required=True, empty=False, regex=r"^https?://.+"),
    "api_key_name": _str(nullable=True, empty=False, regex=r"^[A-Za-z_][A-Za-z0-9_]*$"),
    "type": _str(allowed=["chat", "completions"]),
    "adapter_config": {"type": "dict", "schema": ADAPTER},
    "pricing": {"type": "dict", "nullable": True, "schema": PRICING},
}

TARGET = {"api_endpoint": {"type": "dict", "required": True, "schema": API_ENDPOINT}}

# Dotted keys in `overrides` are checked once applied to this per-task view.
OVERRIDES = {"type": "dict", "keysrules": _str(empty=False)}

TASK = {
    "name": _str(required=True, empty=False),
    "id": _str(empty=False, check_with="task_id"),
    "overrides": OVERRIDES,
    "env_vars": {
        "type": "dict",
        "keysrules": _str(regex=r"^[A-Za-z_][A-Za-z0-9_]*$"),
        "valuesrules": _str(regex=r"^[A-Za-z_][A-Za-z0-9_]*$"),
    },
}

ENV_NAME = _str(regex=r"^[A-Za-z_][A-Za-z0-9_]*$")

# NeMo Evaluator's deployment keys (evaltasks/deploy checks what depends on the type).
DEPLOYMENT = {
    "type": _str(allowed=["none", "llama_cpp", "vllm", "sglang", "nim", "trtllm", "generic"]),
    **{key: _str(nullable=True, empty=False) for key in
       ("image", "checkpoint_path", "hf_model_handle", "model_package", "served_model_name", "command",
        "network")},
    "port": {"type": "integer", "min": 1, "max": 65535},
    **{key: {"type": "integer", "min": 1} for key in
       ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size")},
    "gpu_memory_utilization": {"type": "number", "nullable": True, "check_with": "unit_interval"},
    "extra_args": _str(nullable=True),
    "shm_size": _str(regex=r"^\d+(\.\d+)?[bkmgBKMG]?$"),
    "env_vars": {"type": "dict", "keysrules": ENV_NAME, "valuesrules": ENV_NAME},
    "endpoints": {"type": "dict", "schema": {k: _str(nullable=True, regex=r"^/.*")
                                             for k in ("chat", "completions", "health")}},
}

SLURM_ONLY = {"type": ["slurm"]}

CONFIG = {
    "defaults": {"type": "list"},
    "execution": {
        "type": "dict",
        "required": True,
        "schema": {
            "type": _str(allowed=["local", "slurm"]),      # the `defaults: - execution:` group
            "runtime": _str(allowed=["docker", "process"]),
            "confirm_run_unsafe_code": {"type": "boolean"},
            "output_dir": _str(required=True, empty=False),
            "mode": _str(allowed=["parallel", "sequential"]),
            "extra_docker_args": _str(nullable=True),
            "base_image": _str(nullable=True, empty=False),
            "preflight": {"type": "boolean"},
            # execution: slurm (NeMo Evaluator's Slurm executor's keys where it has them)
            **{key: dict(rule, dependencies=SLURM_ONLY) for key, rule in {
                "account": _str(nullable=True, empty=False),
                "partition": _str(nullable=True, empty=False),
                "walltime": _str(nullable=True, check_with="walltime"),
                "gres": _str(nullable=True, empty=False),
                "gpus_per_node": {"type": "integer", "min": 0, "nullable": True},
                "num_nodes": {"type": "integer", "min": 1},
                "sbatch_extra_flags": {"type": "list", "schema": _str(empty=False)},
                "shared_dir": _str(nullable=True, regex=r"^[/~].*"),
                "node_python": _str(nullable=True, empty=False),
                "requeue": {"type": "boolean"},
            }.items()},
            # NeMo Evaluator's shape: exports run by the `summary` task at the end of a run.
            "auto_export": {"type": "dict", "schema": {
                "destinations": {"type": "list", "schema": _str(allowed=["local", "mlflow", "wandb"])},
                "configs": {"type": "dict", "schema": {"local": {"type": "dict"}, "mlflow": {"type": "dict"},
                                                       "wandb": {"type": "dict", "schema": WANDB_EXPORT}}},
            }},
            "endpoint_readiness_timeout": {"type": "number", "min": 1},
        },
    },
    "deployment": {"type": "dict", "schema": DEPLOYMENT},
    "target": {"type": "dict", "required": True, "schema": TARGET},
    "evaluation": {
        "type": "dict",
        "required": True,
        "schema": {
            "overrides": OVERRIDES,
            # folders of task files (filetasks.py), relative to where the command runs
            "task_dirs": {"type": "list", "schema": _str(empty=False)},
            "tasks": {
                "type": "list",
                "required": True,
                "empty": False,
                "schema": {"type": "dict", "schema": TASK},
            },
        },
    },
}

TASK_VIEW = {
    "config": {"type": "dict", "schema": {"params": {"type": "dict", "schema": PARAMS}}},
    "target": {"type": "dict", "schema": TARGET},
}


def check_definitions(schemas=None):
    """Check our schemas (or ``schemas``) against cerberus's rules, as cerberus
    would on first use without ``_Checked``; raise cerberus.SchemaError if one breaks them."""
    strict = type("StrictConfigValidator", (ConfigValidator,), {"_valid_schemas": set()})
    for definition in schemas or (CONFIG, TASK_VIEW):
        strict(definition)


_validators = {}   # id(schema) → its validator: building one costs more than validating


def problems(document, schema, update=False):
    """Validate; return the problems as ``(dotted.path, message)`` pairs, sorted.
    ``update``: the document holds only some keys (``required`` is not checked).
    Nothing here normalizes (no defaults, no coercion), so validation skips that pass."""
    validator = _validators.get(id(schema))
    if validator is None:
        validator = _validators[id(schema)] = ConfigValidator(schema)
    if validator.validate(document, update=update, normalize=False):
        return []
    return sorted(_flatten(validator.errors, ""))


def _flatten(tree, prefix):
    for key, entries in tree.items():
        path = f"{prefix}[{key}]" if isinstance(key, int) else (f"{prefix}.{key}" if prefix else str(key))
        for entry in entries:
            if isinstance(entry, dict):
                yield from _flatten(entry, path)
            else:
                yield path, _wording(entry)


# Cerberus's "value does not match regex '…'", said as a sentence for the patterns
# a newcomer meets (the value itself is never repeated: it may be a pasted key).
_REGEX_WORDING = {
    r"^https?://.+": "must be a full URL with its scheme, e.g. http://localhost:8000/v1/chat/completions",
    r"^[A-Za-z_][A-Za-z0-9_]*$": ("takes the NAME of an environment variable (letters, digits, _), "
                                  "not the key itself"),
}


def _wording(message):
    if message.startswith("depends on these values: {'type': ['slurm']}"):
        return "only with execution: slurm (defaults: - execution: slurm)"
    for pattern, wording in _REGEX_WORDING.items():
        if message == f"value does not match regex '{pattern}'":
            return wording
    return {"unknown field": "unknown key", "required field": "missing (required)",
            "null value not allowed": "must not be empty (null)"}.get(message, message)


def keys_beside(schema, path):
    """The keys ``schema`` allows next to the last part of ``path``
    (``a.b[0].c`` → the keys of ``b``'s entries), for a "did you mean"; []
    where the schema does not say (free-form mappings)."""
    parts = re.findall(r"[^.\[\]]+", path)[:-1]
    mapping, rule = schema, None
    for part in parts:
        if part.isdigit():          # an entry of a list: its rule is the list's "schema"
            rule = rule.get("schema") if isinstance(rule, dict) and rule.get("type") == "list" else None
        else:
            rule = mapping.get(part) if isinstance(mapping, dict) else None
        if not isinstance(rule, dict):
            return []
        mapping = rule.get("schema") if rule.get("type") == "dict" else None
    return sorted(mapping) if isinstance(mapping, dict) else []


def one_line(found, prefix="", suffix="", rules=CONFIG):
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
    near = difflib.get_close_matches(name, keys_beside(rules, path), n=1, cutoff=0.6)
    return f" (did you mean {near[0]}?)" if near else ""
