"""What one task's harness gets, whatever runs it: its folders (the task's own,
its data, the response cache), its environment and its secrets, as a frozen
``JobEnv``. Each runtime turns it into its own terms: Docker into mounts and
``-e`` variables at the container's paths (docker/containers.py), the process
runtime into a child's environment at the host's paths (process/children.py),
Slurm into a batch job's (slurm/executor.py).

Secrets are only named here (``secret_sources``): their values are read from
the launcher's environment when the job starts (``secret_values``) and go to the
harness over its stdin, never into an environment, a file or this object's repr."""

import os
from dataclasses import dataclass, field
from pathlib import Path

from evaltasks.data import datasets
# execution.extra_docker_args is Docker's syntax, but its -e flags are the user's
# variables for every runtime (README, "Without Docker"): read with Docker's parser
# (plain text, no Docker SDK), so both runtimes accept and refuse the same flags.
from evaltasks.executors.docker import args as docker_args

RESPONSE_CACHE = ".response_cache"   # in the output dir, unless adapter_config.caching_dir says where
DATA_ENV = "EVALTASKS_DATA_DIR"                 # the harness reads <it>/<dataset>/ (harness/datasets.py)
RESPONSE_CACHE_ENV = "EVALTASKS_RESPONSE_CACHE"  # harness/cache.py


@dataclass(frozen=True)
class Mount:
    """A host folder the harness works in: ``role`` says which ("task", "data",
    "cache"); a container mounts it at a path of its own."""
    role: str
    host: str
    writable: bool


@dataclass(frozen=True)
class JobEnv:
    """What a job's harness is given besides its task directory: its folders and variables."""
    task_dir: str
    data_folder: str            # the host folder of the task's data (datasets.data_folder)
    response_cache: str = None  # host folder of the cached replies; None when caching is off
    variables: dict = field(default_factory=dict)       # the user's (extra_docker_args -e); no secret
    secret_sources: dict = field(default_factory=dict)  # {name the harness knows: host variable}

    @staticmethod
    def check(execution):
        """Raise ConfigError now for ``extra_docker_args`` a job could not use, so a
        run (or a dry run, which describes each job) refuses with one line before
        anything starts, as the Docker runtime does when it is built."""
        docker_args.parse(execution.extra_docker_args)

    @classmethod
    def of(cls, spec, execution, data_folder=None):
        """The job of task ``spec`` under ``execution`` (a config's Execution)."""
        variables = docker_args.parse(execution.extra_docker_args).get("environment", {})
        return cls(task_dir=spec.task_dir,
                   data_folder=str(data_folder if data_folder is not None else datasets.data_folder(spec)),
                   response_cache=response_cache_dir(spec), variables=variables,
                   secret_sources=secret_sources(spec))

    def mounts(self):
        """The folders the harness reads and writes, task folder first."""
        mounts = [Mount("task", self.task_dir, True), Mount("data", self.data_folder, False)]
        if self.response_cache:
            mounts.append(Mount("cache", self.response_cache, True))
        return mounts

    def environment(self, data_dir=None, response_cache=None):
        """The harness's variables (no secret): the user's, then where its data and
        cache are, by default at the host's paths; a container passes its own.
        The harness reads ``<data_dir>/<data folder's name>``."""
        env = dict(self.variables)
        env[DATA_ENV] = data_dir or str(Path(self.data_folder).parent)
        if self.response_cache:
            env[RESPONSE_CACHE_ENV] = response_cache or self.response_cache
        return env

    def make_folders(self):
        """Create the response cache folder, which the harness expects to exist."""
        if self.response_cache:
            os.makedirs(self.response_cache, exist_ok=True)

    def secret_values(self, environ=None):
        """What the harness gets on its stdin (``harness/secrets.py``), by the name it
        knows it by, read from ``environ`` (default: this process's) now."""
        environ = os.environ if environ is None else environ
        return {inner: environ.get(outer, "") for inner, outer in self.secret_sources.items()}


def secret_sources(spec):
    """{name the harness knows: host variable it comes from}: the task's env_vars,
    then the API key. Never an environment variable of the harness (``docker
    inspect`` shows those, and code running beside the harness can read them)."""
    sources = dict(spec.env_vars)
    key_name = spec.endpoint["api_key_name"]
    if key_name:
        sources[key_name] = key_name
    return sources


def response_cache_dir(spec):
    """Where this task's cached responses live on the host, or None when caching is off."""
    adapter = spec.endpoint["adapter_config"]
    if not adapter.get("use_caching", True):
        return None
    folder = adapter.get("caching_dir") or os.path.join(spec.output_dir, RESPONSE_CACHE)
    if spec.deployment:
        # Replies are keyed by the served name, which stays when the model behind it
        # changes: each deployed model gets a cache of its own.
        from evaltasks.deploy import digest

        folder = os.path.join(folder, f"deployment-{digest(spec.deployment)}")
    return os.path.abspath(os.path.expanduser(folder))
