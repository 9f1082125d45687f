"""Every benchmark the catalog names satisfies the benchmark contract
(evaltasks/harness/contract.py): the functions the harness calls, with the
arguments it calls them with."""

import types

import pytest

from evaltasks.data import taskfiles
from evaltasks.harness import benchmarks, contract
from conftest import REPO

ENTRIES = sorted(benchmarks.CATALOG.values(), key=lambda b: b.name)


@pytest.mark.parametrize("bench", ENTRIES, ids=[b.name for b in ENTRIES])
def test_every_catalog_entry_satisfies_the_benchmark_contract(bench):
    module = bench.load_module()
    assert contract.problems(module, bench.subset) == []
    assert isinstance(module, contract.BenchmarkModule)


def test_a_file_task_binds_an_object_that_satisfies_the_contract():
    module = benchmarks.FILE_TASK.load_module()
    assert isinstance(module, contract.TaskBinding)
    task_file = taskfiles.harness_view(taskfiles.load(str(REPO / "examples" / "tasks" / "capitals.yaml")))
    bound = module.for_task({"task_file": task_file, "params": {}}, log=lambda line: None)
    assert contract.problems(bound) == [] and isinstance(bound, contract.BenchmarkModule)


def test_what_the_contract_finds_missing_or_wrong():
    broken = types.SimpleNamespace(load=lambda: [], prompt=lambda item, params: [], extract="not a function",
                                   metrics=lambda samples: {})
    assert contract.problems(broken) == ["load does not take 1 argument(s)", "extract is not callable", "no score",
                                         "metrics does not take 2 argument(s)"]
    assert not isinstance(broken, contract.BenchmarkModule)
