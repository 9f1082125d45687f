"""HumanEval: loading, extraction, program assembly, sandboxed execution, pass@k."""

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import DATA_DIR, reference

from evaltasks.harness import codegen
from evaltasks.harness.benchmarks import humaneval
from evaltasks.harness.datasets import DatasetError

DATA = DATA_DIR / "humaneval"
PARAMS = {"extra": {"n_samples": 1, "timeout": 3.0}}


@pytest.fixture(scope="module")
def items():
    return humaneval.expand(humaneval.load(str(DATA)), PARAMS)


@pytest.fixture
def toy():
    """A one-line problem, so execution tests do not depend on the dataset."""
    return {"task_id": "toy/0", "prompt": 'def add(a, b):\n    """Add two numbers."""\n',
            "entry_point": "add", "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
            "gold": "    return a + b\n", "sample": 0, "timeout": 1.0}


def test_load_reads_all_problems(items):
    assert len(items) == 164
    assert items[0]["task_id"] == "HumanEval/0" and items[-1]["task_id"] == "HumanEval/163"
    assert {"prompt", "entry_point", "test", "gold", "sample", "timeout"} <= set(items[0])


def test_canonical_solutions_pass_as_body_and_as_full_function(items):
    def run(item):
        as_body = humaneval.score(item["gold"], item)
        reply = f"Here you go:\n```python\n{item['prompt']}{item['gold']}```\nDone."
        as_function = humaneval.score(humaneval.extract(reply), item)
        return item["task_id"], as_body, as_function

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, items))
    failures = [(t, a["result"], b["result"]) for t, a, b in results
                if a["score"] != 1.0 or b["score"] != 1.0]
    assert failures == []
    assert all(a["passed"] and a["result"] == "passed" for _, a, _ in results)


def test_empty_completion_fails(toy):
    assert humaneval.extract("") == ""
    result = humaneval.score(humaneval.extract(""), toy)
    assert result["score"] == 0.0 and result["passed"] is False
    assert humaneval.score(None, toy)["score"] == 0.0


def test_stub_and_wrong_answers_fail(toy):
    wrong = humaneval.score("    return a - b", toy)
    assert wrong["score"] == 0.0 and wrong["result"].startswith("failed: AssertionError")
    assert humaneval.score("    pass", toy)["score"] == 0.0


def test_infinite_loop_times_out_without_hanging(toy):
    # "timed out" is the sandbox's own timeout firing: a hang would never return.
    result = humaneval.score("    while True:\n        pass", toy)
    assert result == {"score": 0.0, "passed": False, "result": "timed out", "task_id": "toy/0", "sample": 0}


def alive(pid):
    """True while ``pid`` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def spawns_a_sleeper(pid_file, then):
    """A completion that starts ``sleep 600`` in the background, records its pid, then does ``then``."""
    return ("    import subprocess, time\n"
            "    child = subprocess.Popen(['sleep', '600'])\n"
            f"    open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            f"    {then}\n")


@pytest.mark.parametrize("then, result", [("time.sleep(30)", "timed out"), ("return a + b", "passed")])
def test_a_child_process_is_killed_with_the_group(toy, tmp_path, then, result):
    """Whether the program times out or passes, nothing it started outlives it."""
    pid_file = tmp_path / "child.pid"
    assert humaneval.score(spawns_a_sleeper(pid_file, then), toy)["result"] == result
    pid = int(pid_file.read_text())
    # Killed, not ended: it would sleep for 600 s.
    deadline = time.monotonic() + 120
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), f"the program's child {pid} outlived it"


def test_memory_bomb_fails(toy):
    result = humaneval.score("    x = bytearray(1 << 34)\n    return a + b", toy)
    assert result["score"] == 0.0 and "MemoryError" in result["result"]


def test_early_exit_does_not_count_as_a_pass(toy):
    result = humaneval.score("import sys\nsys.exit(0)\ndef add(a, b):\n    return a + b\n", toy)
    assert result["score"] == 0.0 and "SystemExit" in result["result"]


def test_reference_example_samples_give_half(toy):
    """openai/human-eval's own example: 3 of its 6 completions pass."""
    problem = json.loads(reference("humaneval", "example_problem.jsonl").read_text())
    item = {**problem, "gold": problem["canonical_solution"], "timeout": 1.0}
    completions = [json.loads(line)["completion"]
                   for line in reference("humaneval", "example_samples.jsonl").read_text().splitlines()]
    with ThreadPoolExecutor(max_workers=6) as pool:
        samples = list(pool.map(lambda c: dict(humaneval.score(c, item), index=0), completions))
    assert [s["passed"] for s in samples] == [False, False, False, True, True, True]
    metrics = humaneval.metrics(samples, PARAMS)
    assert metrics["pass@1"] == {"value": 0.5, "stderr": 0.0, "n": 1}
    assert metrics["pass@2"]["value"] == pytest.approx(1 - 3 / 15)      # 1 - C(3,2)/C(6,2)
    assert sorted(metrics) == [f"pass@{k}" for k in range(1, 7)]


@pytest.mark.parametrize("reply, code", [
    ("```python\ndef f():\n    return 1\n```", "def f():\n    return 1"),
    ("Sure.\n```py\ndef f():\n    return 1\n```\nThat's it.", "def f():\n    return 1"),
    ("```\ndef f():\n    return 1\n```", "def f():\n    return 1"),
    ("```Python3\nx = 1\n```", "x = 1"),
    ("Run:\n```bash\npython f.py\n```\n```\nbare\n```\n```python\nfirst\n```\n```python\nsecond\n```", "first"),
    ("```bash\nls\n```\n```\nbare\n```", "bare"),
    ("```python\ndef f():\n    return 1```", "def f():\n    return 1"),
    ("```python\ndef f():\n    return 1\n", "def f():\n    return 1"),     # truncated reply
    ("    return a + b\n", "    return a + b"),                              # no fence: raw text
])
def test_extract(reply, code):
    assert humaneval.extract(reply) == code


def test_redefinition_after_the_prompt_wins(toy):
    code = "def helper(x):\n    return x\n\ndef add(a, b):\n    return helper(a) + b\n"
    program = humaneval.program(code, toy)
    assert program.index("def add(a, b):\n    return helper") > program.index('"""Add two numbers."""')
    assert program.endswith("check(add)\n")
    assert humaneval.score(code, toy)["score"] == 1.0
    # An indented full function still counts as a full function.
    assert humaneval.score("    def add(a, b):\n        return a + b\n", toy)["score"] == 1.0


@pytest.mark.parametrize("body", ["    return a + b", "  return a + b", "\treturn a + b", "return a + b",
                                  "\n    total = a + b\n    return total\n"])
def test_body_only_completion_is_appended_to_the_prompt(toy, body):
    assert humaneval.score(body, toy)["score"] == 1.0


@pytest.mark.parametrize("n, c, k, expected", [
    (1, 1, 1, 1.0), (1, 0, 1, 0.0),
    (5, 2, 1, 0.4),                      # c / n
    (5, 2, 2, 0.7),                      # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (5, 2, 4, 1.0),                      # fewer than 4 failures: always a pass
    (10, 3, 5, 1 - 21 / 252),            # 1 - C(7,5)/C(10,5)
    (4, 0, 3, 0.0), (4, 4, 2, 1.0),
])
def test_pass_at_k(n, c, k, expected):
    assert codegen.pass_at_k(n, c, k) == pytest.approx(expected)


def test_metrics_report_pass_at_every_k_over_problems():
    outcomes = {"A": [True, False, False], "B": [False, False, False], "C": [True, True, True]}
    samples = [{"index": i, "task_id": t, "sample": j, "passed": p, "score": float(p)}
               for i, (t, j, p) in enumerate((t, j, p) for t, ps in outcomes.items() for j, p in enumerate(ps))]
    metrics = humaneval.metrics(samples, {"extra": {"n_samples": 3}})
    assert set(metrics) == {"pass@1", "pass@2", "pass@3"}
    # per problem: pass@1 = c/n; pass@2 = 1 - C(n-c,2)/C(3,2); pass@3 = [c > 0]
    assert metrics["pass@1"]["value"] == pytest.approx((1 / 3 + 0 + 1) / 3)
    assert metrics["pass@2"]["value"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert metrics["pass@3"] == {"value": pytest.approx(2 / 3), "stderr": pytest.approx(1 / 3), "n": 3}


def test_expand_numbers_samples_and_carries_the_timeout(toy):
    expanded = humaneval.expand([toy, dict(toy, task_id="toy/1")], {"extra": {"n_samples": 3, "timeout": 2.5}})
    assert [(e["task_id"], e["sample"]) for e in expanded] == [
        ("toy/0", 0), ("toy/0", 1), ("toy/0", 2), ("toy/1", 0), ("toy/1", 1), ("toy/1", 2)]
    assert {e["timeout"] for e in expanded} == {2.5}
    assert humaneval.expand([toy], {"extra": {}})[0]["timeout"] == codegen.DEFAULT_TIMEOUT


def test_prompt_asks_for_the_full_function(toy):
    [message] = humaneval.prompt(toy, PARAMS)
    assert message["role"] == "user"
    assert "whole function" in message["content"] and toy["prompt"].rstrip() in message["content"]


def _write_gz(path, text):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)


@pytest.mark.parametrize("content, where", [
    ("not json\n", ":1:"),
    (json.dumps({"task_id": "x", "prompt": "p", "entry_point": "f", "test": "t",
                 "canonical_solution": "c"}) + "\n" + json.dumps({"task_id": "y"}) + "\n", ":2:"),
    ("", ": no rows"),
])
def test_malformed_rows_name_the_file_and_line(tmp_path, content, where):
    _write_gz(tmp_path / "HumanEval.jsonl.gz", content)
    with pytest.raises(DatasetError) as e:
        humaneval.load(str(tmp_path))
    assert str(tmp_path / "HumanEval.jsonl.gz") + where in str(e.value)


def test_not_gzip_names_the_file(tmp_path):
    (tmp_path / "HumanEval.jsonl.gz").write_text('{"task_id": "x"}\n')
    with pytest.raises(DatasetError, match="HumanEval.jsonl.gz.*gzip"):
        humaneval.load(str(tmp_path))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        humaneval.load(str(tmp_path))
