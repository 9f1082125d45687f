"""The launcher imports the report modules in a thread of their own while the
run prepares (pipeline/actions.py ``_warm_up``), beside other threads' imports,
so that neither a task's start nor the summary pays for them. Threads importing
modules at once only deadlock on an import cycle: the report modules must import
one another without one."""

import ast
from pathlib import Path

import evaltasks.report

REPORT = Path(evaltasks.report.__file__).parent


def module_level_imports(path):
    """The report modules ``path`` imports when it is imported (not in functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level == 1 and not source:
                found |= {a.name for a in node.names}
            elif node.level == 1 or source.startswith("evaltasks.report."):
                found.add(source.rsplit(".", 1)[-1])
            elif source == "evaltasks.report":
                found |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.rsplit(".", 1)[-1] for a in node.names if a.name.startswith("evaltasks.report.")}
    return found


def test_the_report_modules_import_one_another_without_a_cycle():
    graph = {p.stem: module_level_imports(p) & {q.stem for q in REPORT.glob("*.py")}
             for p in REPORT.glob("*.py")}
    assert graph["html"] >= {"compare", "load", "summary"}     # the reader sees them at all

    def cycle_from(name, path):
        if name in path:
            return path[path.index(name):] + [name]
        for child in sorted(graph.get(name, ())):
            found = cycle_from(child, path + [name])
            if found:
                return found
        return None

    cycles = [c for name in graph if (c := cycle_from(name, []))]
    assert not cycles, f"import cycle among the report modules: {' -> '.join(cycles[0])}"
