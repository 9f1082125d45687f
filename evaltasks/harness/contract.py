"""The benchmark contract: what the harness (``run.py``) asks of a benchmark's
module in ``harness/benchmarks/``, as typing Protocols, so that a new benchmark
has one place to read and a test (``every catalog entry satisfies it``) holds
each module to it. The prose, and the rule on ``Benchmark.version``, stay in
``benchmarks/__init__.py``.

A module is a ``BenchmarkModule``: ``load``, ``prompt``, ``extract``, ``score``.
It may also be ``Selecting``, ``Expanding``, ``Measuring`` or ``Waiting`` (the
harness asks with ``hasattr``, and falls back to: every row, the rows as they
are, mean ``score`` as ``accuracy``, scoring on the event loop). A task defined
in a file has one module for all such tasks, a ``TaskBinding``: ``for_task(task)``
gives the object that is the ``BenchmarkModule`` for that task.

Types, not checks at run time: ``problems(module)`` is what the test uses."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Protocol, runtime_checkable

Item = dict[str, Any]       # one dataset row as the benchmark loads it; ``gold`` is its answer
Messages = list[dict[str, str]]     # chat messages: [{"role": ..., "content": ...}]
Params = dict[str, Any]     # the task's config.params, with ``seed``; ``params["extra"]``: the benchmark's own
Metric = dict[str, Any]     # {"value", "stderr", "n"}


@runtime_checkable
class BenchmarkModule(Protocol):
    def load(self, data_dir: str, *subset: str) -> list[Item]:
        """Every item of the dataset in ``data_dir`` (the catalog entry's ``subset``
        of a shared folder, when it names one), each with a ``gold`` answer."""

    def prompt(self, item: Item, params: Params) -> Messages:
        """The chat messages that ask ``item``."""

    def extract(self, text: str) -> Any:
        """The model's final answer in the reply ``text`` ("" for a failed request), as
        ``score`` reads it (text; a file task's, one per filter); None when there is none."""

    def score(self, extracted: Any, item: Item) -> float | dict:
        """1.0 right, 0.0 wrong; or a dict with ``score`` and fields kept in samples.jsonl."""


@runtime_checkable
class Selecting(Protocol):
    def select(self, items: list[Item], params: Params) -> list[Item]:
        """The items the task covers (bbh's subtasks), before limit_samples."""


@runtime_checkable
class Expanding(Protocol):
    def expand(self, items: list[Item], params: Params) -> list[Item]:
        """Repeats or samples per item, after limit_samples."""


@runtime_checkable
class Measuring(Protocol):
    def metrics(self, samples: list[dict], params: Params) -> dict[str, Metric]:
        """``{name: {value, stderr, n}}`` over the task's samples: their samples.jsonl
        rows without the prompt's and the reply's text (``samples.TEXTS``), so
        what a metric needs is a field ``score`` returned."""


@runtime_checkable
class Waiting(Protocol):
    def scoring_waits(self, params: Params) -> bool:
        """True when ``score`` waits on something outside the harness's process (a
        judge model): the harness then scores in threads, off its event loop.
        A benchmark that ``runs_model_code`` (catalog) always does."""


@runtime_checkable
class TaskBinding(Protocol):
    def for_task(self, task: dict, log: Callable[[str], None] = print) -> BenchmarkModule:
        """The benchmark of one file task, from its task.json (``task_file``)."""


OPTIONAL = (Selecting, Expanding, Measuring, Waiting)


def _takes(function, *args):
    """Whether ``function`` can be called with these positional arguments."""
    try:
        inspect.signature(function).bind(*args)
        return True
    except TypeError:
        return False
    except ValueError:      # no signature to read (a builtin): assume it can
        return True


def _members(protocol):
    return [name for name, value in vars(protocol).items() if inspect.isfunction(value) and not name.startswith("_")]


def problems(module, subset=None):
    """What ``module`` (a benchmark's module, or what ``for_task`` gave) lacks of
    the contract: one line each; [] when it satisfies it. ``subset``: the catalog
    entry's, which ``load`` is then called with."""
    found = []
    arguments = {"load": ("data_dir",) + ((subset,) if subset else ()), "prompt": ({}, {}), "extract": ("",),
                 "score": (None, {}), "select": ([], {}), "expand": ([], {}), "metrics": ([], {}),
                 "scoring_waits": ({},)}
    required = _members(BenchmarkModule)
    optional = [name for protocol in OPTIONAL for name in _members(protocol)]
    for name in required + optional:
        if not hasattr(module, name):
            if name in required:
                found.append(f"no {name}")
            continue
        function = getattr(module, name)
        if not callable(function):
            found.append(f"{name} is not callable")
        elif not _takes(function, *arguments[name]):
            found.append(f"{name} does not take {len(arguments[name])} argument(s)")
    return found
