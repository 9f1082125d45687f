"""The executors behind one interface (evaltasks/executors/base.py): each is
found by (execution.type, execution.runtime) in the registry its module fills
with @register, and the launcher imports only the one a run uses."""

import json
import subprocess
import sys

import pytest

from conftest import REPO
from evaltasks.config.sections import Execution
from evaltasks.executors import base


@pytest.mark.parametrize("key", sorted(base.MODULES))
def test_each_executor_module_registers_what_it_is_listed_for(key):
    kind, runtime = key
    executor = base.choose(Execution(type=kind, runtime=runtime))
    assert isinstance(executor, base.Executor) and type(executor).__module__ == base.MODULES[key]
    assert executor.execution == Execution(type=kind, runtime=runtime)
    # `status` and `kill` rebuild it from the name its handles carry.
    assert type(base.for_handle_kind(executor.name)) is type(executor)


def test_an_unknown_runtime_is_a_config_error():
    with pytest.raises(base.ConfigError, match="execution.runtime: 'podman' is not one of docker, process"):
        base.choose(Execution(runtime="podman"))


def imported_by(code):
    """The evaltasks modules (and whether the docker SDK) a fresh interpreter imports running ``code``."""
    out = subprocess.run([sys.executable, "-c", f"import sys\n{code}\nimport json\n"
                          "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('evaltasks', 'docker')))))"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_the_interface_imports_no_executor_and_a_run_only_its_own():
    assert not {m for m in imported_by("import evaltasks.executors.base") if ".executors." in m} - {
        "evaltasks.executors.base"}
    process = imported_by("from evaltasks.executors import base; from evaltasks.config.sections import Execution\n"
                          "base.choose(Execution(runtime='process'))")
    assert "evaltasks.executors.process.executor" in process
    others = lambda modules: {m for m in modules if m.startswith(("evaltasks.executors.docker.",
                                                                  "evaltasks.executors.slurm.", "docker"))}
    assert others(process) == set()
    # Of Docker's, only the parser of extra_docker_args, whose -e flags every runtime applies (job.py),
    # and only when the config has some.
    flags = imported_by("from evaltasks.executors import base; from evaltasks.config.sections import Execution\n"
                        "base.choose(Execution(runtime='process', extra_docker_args='-e A=1'))")
    assert others(flags) == {"evaltasks.executors.docker.args"}
    docker_run = imported_by("from evaltasks.executors import base; from evaltasks.config.sections import Execution\n"
                             "base.choose(Execution())")
    assert "docker" not in docker_run      # the SDK only once a container is made
