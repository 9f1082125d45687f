"""`evaltasks compare` on runs a newcomer makes (issue 21): runs of different
sizes, of another benchmark version or of other data, and the terminal output
of many flips, code among them. The runs are real harness runs (``run.run`` on
task folders, as the launcher writes them) against scripted endpoints."""

import itertools
import json
import shutil

import pytest

from conftest import Gsm8kModel, evaltasks_cli
from support.endpoint import FakeEndpoint
from evaltasks.harness import client, run


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(client, "BACKOFF", 0.001)


def run_task(out, name, model, limit, **extra):
    """``out/<name>/results.json`` of a real run of benchmark ``name`` on its first
    ``limit`` items, answered by ``model``."""
    folder = out / name
    folder.mkdir(parents=True)
    with FakeEndpoint(model) as ep:
        task = {"id": name, "name": name, "benchmark": name,
                "params": {"limit_samples": limit, "temperature": 0.0, "top_p": None, "max_new_tokens": 256,
                           "parallelism": 8, "request_timeout": 10, "max_retries": 2, "seed": None,
                           "allowed_failure_rate": 0.0, "extra": extra},
                "endpoint": {"url": ep.chat_url, "model_id": "test-model", "type": "chat",
                             "api_key_name": None, "adapter_config": {}}}
        (folder / "task.json").write_text(json.dumps(task))
        run.run(str(folder))
    return out


def edit_results(folder, change):
    path = folder / "results.json"
    results = json.loads(path.read_text())
    change(results)
    path.write_text(json.dumps(results))


def compare(*dirs, extra=()):
    done = evaltasks_cli("compare", *map(str, dirs), *extra)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def compare_json(*dirs):
    done = compare(*dirs, extra=("--format", "json"))
    assert done.returncode == 0, done.stderr
    return done, json.loads(done.stdout)["comparisons"][0]["tasks"][0]


@pytest.fixture(scope="module")
def sizes(tmp_path_factory):
    """A 50-sample and a 10-sample gsm8k run of models that differ on some items."""
    tmp = tmp_path_factory.mktemp("sizes")
    big = run_task(tmp / "big", "gsm8k", Gsm8kModel(i for i in range(50) if i % 3), 50)
    small = run_task(tmp / "small", "gsm8k", Gsm8kModel(i for i in range(50) if i % 2), 10)
    return tmp, big, small


def test_runs_of_different_sizes_compare_on_the_items_both_scored(sizes):
    """Failed before the fix: TypeError: unhashable type: 'dict' from provenance_notes."""
    _, big, small = sizes
    for a, b in ((big, small), (small, big)):
        done = compare(a, b)
        assert done.returncode == 0, done.stderr
        assert "compared on the 10 items both scored" in done.stdout
        assert "dataset files differ" not in done.stdout and "benchmark version differs" not in done.stdout
    _, entry = compare_json(big, small)
    assert (entry["n"], entry["only_a"], entry["only_b"]) == (10, 40, 0)


def test_another_benchmark_version_is_noted(sizes, tmp_path):
    _, big, small = sizes
    other = tmp_path / "v2"
    shutil.copytree(small, other)
    edit_results(other / "gsm8k", lambda r: r["provenance"].update(benchmark_version=2))
    done = compare(big, other)
    assert done.returncode == 0, done.stderr
    assert "> gsm8k: benchmark version differs: 1 vs 2" in done.stdout.splitlines()


def test_other_data_digests_are_noted(sizes, tmp_path):
    _, big, small = sizes
    other = tmp_path / "data"
    shutil.copytree(small, other)

    def new_digest(results):
        results["provenance"]["datasets"][0]["sha256"] = "0" * 64
    edit_results(other / "gsm8k", new_digest)
    main_file = json.loads((big / "gsm8k" / "results.json").read_text())["provenance"]["datasets"][0]["file"]
    done = compare(big, other)
    assert done.returncode == 0, done.stderr
    assert f"> gsm8k: dataset files differ: {main_file}" in done.stdout.splitlines()

    # A results.json whose datasets are not a list of objects (written by hand, or
    # by another tool) is compared without the data note, never a traceback.
    edit_results(other / "gsm8k", lambda r: r["provenance"].update(datasets={"x": 1}))
    assert compare(big, other).returncode == 0


class HumanevalModel:
    """Answers a humaneval problem with its canonical solution when its index is
    in ``right``, else with a program that fails its tests."""

    def __init__(self, right):
        from conftest import DATA_DIR
        from evaltasks.harness.benchmarks import humaneval

        self.right = set(right)
        self.items = humaneval.load(str(DATA_DIR / "humaneval"))

    def __call__(self, payload):
        text = payload["messages"][-1]["content"]
        index, item = next((i, it) for i, it in enumerate(self.items) if it["prompt"] in text)
        body = item["gold"] if index in self.right else "    raise NotImplementedError('wrong')\n"
        return f"Here it is:\n```python\n{item['prompt']}{body}```\n"


@pytest.fixture(scope="module")
def many_flips(tmp_path_factory):
    """Two runs that differ on 30 gsm8k items and on 4 humaneval programs."""
    tmp = tmp_path_factory.mktemp("flips")
    runs = []
    for name, gsm8k_right, humaneval_right in (("A", range(0, 60, 2), range(0, 8, 2)),
                                                ("B", range(1, 60, 2), range(0, 8))):
        run_task(tmp / name, "gsm8k", Gsm8kModel(gsm8k_right), 60)
        run_task(tmp / name, "humaneval", HumanevalModel(humaneval_right), 8, n_samples=1, timeout=5.0)
        runs.append(tmp / name)
    return runs


def flip_lines(stdout):
    return [line for line in stdout.splitlines() if line.startswith("- `")]


def test_terminal_compare_shows_counts_and_a_few_flips(many_flips):
    """Failed before the fix: all 64 flips were listed as table rows, programs in the cells."""
    done = compare(*many_flips)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "### gsm8k: 60 flips (30 right only in B, 30 right only in A)" in out
    assert "### humaneval: 4 flips (4 right only in B, 0 right only in A)" in out
    assert out.count("3 of them shown, those right only in A first (`--flips all` or `--flips N` for more).") == 2
    assert len(flip_lines(out)) == 6
    # Losses first: gsm8k's first shown flips are items right only in A.
    gsm8k = out.split("### gsm8k")[1].split("###")[0]
    assert all(line.endswith("right in A:") for line in flip_lines(gsm8k))
    # Code is fenced, never in a table: every table row has the table's column count.
    humaneval = out.split("### humaneval")[1]
    assert "    ```" in humaneval and "raise NotImplementedError('wrong')" in humaneval
    # Each table (a run of consecutive '|' lines) keeps its header's column count.
    tables = [list(lines) for is_table, lines in
              itertools.groupby(out.splitlines(), key=lambda line: line.startswith("|")) if is_table]
    assert tables and all(line.count("|") == table[0].count("|") for table in tables for line in table)


def test_flips_all_or_n(many_flips):
    every = compare(*many_flips, extra=("--flips", "all"))
    assert every.returncode == 0 and len(flip_lines(every.stdout)) == 64
    assert "of them shown" not in every.stdout
    ten = compare(*many_flips, extra=("--flips", "10"))
    assert len(flip_lines(ten.stdout)) == 10 + 4
    assert "10 of them shown" in ten.stdout and "humaneval: 4 flips" in ten.stdout
    bad = compare(*many_flips, extra=("--flips", "some"))
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == ("error: argument --flips: 'some': give 'all' or a number of flips per task "
                                  "(see `evaltasks compare --help`)")
