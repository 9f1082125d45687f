"""What a config can name as a task, for `evaltasks ls tasks`: the built-in
benchmarks with the params a task of each starts from, and the task files in
the task folders."""


def catalog_rows():
    """One row per built-in benchmark: its names, endpoint type, size, default
    params (the config's defaults with the benchmark's own) and description."""
    from evaltasks.config.params import DEFAULT_PARAMS
    from evaltasks.harness.benchmarks import CATALOG

    rows = []
    for bench in CATALOG.values():
        params = dict(DEFAULT_PARAMS, **bench.defaults)
        rows.append({
            "name": bench.name, "aliases": list(bench.aliases), "endpoint_type": bench.endpoint_type,
            "dataset_size": bench.size,
            "default_params": {k: v for k, v in params.items() if v is not None},
            "extra": bench.extra, "description": bench.description, "reference": bench.reference,
        })
    return rows


def file_task_rows(config_file=None):
    """Tasks defined in files in the task folders: the config's
    ``evaluation.task_dirs`` (read without checking the rest) and $EVALTASKS_TASKS_DIR.
    A config that cannot be read raises ConfigError."""
    from evaltasks.data import taskfiles

    configured = []
    if config_file:
        from evaltasks.config.compose import read_yaml

        configured = (read_yaml(config_file).get("evaluation") or {}).get("task_dirs") or []
    return taskfiles.listing(configured)
