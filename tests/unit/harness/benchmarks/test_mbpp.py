"""mbpp as bigcode-evaluation-harness runs it, on google-research's files: the
splits, bigcode's prompt, stop words and check program, the sandbox-only rule,
and whole runs through the sandbox container: canonical solutions pass and
hostile programs score 0 and reach neither the key nor the network (a seeded mix
of right, wrong and malformed replies runs whole in tests/e2e/docker/test_full_size.py)."""

import hashlib
import json
import random
import secrets
import threading

import pytest

from conftest import DATA_DIR, doit, evaltasks_cli, results, write_config
from support.endpoint import FakeEndpoint

from evaltasks.harness import benchmarks
from evaltasks.harness.benchmarks import mbpp
from evaltasks.harness.datasets import DatasetError

FOLDER = DATA_DIR / "mbpp"
BIGCODE_STOP_WORDS = ["\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```"]


def raw(split):
    """The split's test problems (task ids 11–510), read here from the files."""
    if split == "sanitized":
        rows = json.loads((FOLDER / "sanitized-mbpp.json").read_text())
    else:
        rows = [json.loads(line) for line in (FOLDER / "mbpp.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if 11 <= r["task_id"] <= 510]


@pytest.fixture(scope="module")
def items():
    return mbpp.load(str(FOLDER))


def test_splits_and_files(items):
    sanitized = mbpp.select(items, {"extra": {}})
    full = mbpp.select(items, {"extra": {"split": "full"}})
    assert len(sanitized) == 257 == benchmarks.resolve("mbpp").size and len(full) == 500
    assert [i["task_id"] for i in sanitized] == [r["task_id"] for r in raw("sanitized")]
    assert [i["task_id"] for i in full] == list(range(11, 511))
    assert [i["text"] for i in sanitized] == [r["prompt"] for r in raw("sanitized")]
    assert [i["text"] for i in full] == [r["text"] for r in raw("full")]
    for data_file in benchmarks.resolve("mbpp").files:
        assert hashlib.sha256((FOLDER / data_file.name).read_bytes()).hexdigest() == data_file.sha256
    with pytest.raises(ValueError, match="split"):
        mbpp.select(items, {"extra": {"split": "train"}})


def test_prompt_holds_bigcodes_docstring(items):
    item = mbpp.select(items, {"extra": {}})[0]
    row = raw("sanitized")[0]
    bigcode = f'"""\n{row["prompt"]}\n{row["test_list"][0]}\n"""\n'
    content = mbpp.prompt(item, {})[0]["content"]
    assert content == mbpp.INSTRUCTION + f"```python\n{bigcode}```"


def test_stop_words_are_bigcodes():
    assert list(mbpp.STOP_WORDS) == BIGCODE_STOP_WORDS


@pytest.mark.parametrize("reply, code", [
    ("```python\ndef f(x):\n    return x\n```", "def f(x):\n    return x"),
    ("Here:\n```python\ndef f(x):\n    if x:\n        return 1\n    return 0\n\nprint(f(2))\n```", "def f(x):\n    if x:\n        return 1\n    return 0\n"),
    ("```python\ndef f(x):\n    return x\nassert f(1) == 1\n```", "def f(x):\n    return x"),
    ("```python\ndef f(x):\n    return x\n\nif __name__ == '__main__':\n    f(1)\n```", "def f(x):\n    return x\n"),
    ("def f(x): return x", "def f(x): return x"),
    ("", ""),
])
def test_extraction_cuts_at_the_stop_words(reply, code):
    assert mbpp.extract(reply) == code


def test_program_is_bigcodes_check_program(items):
    item = next(i for i in mbpp.select(items, {"extra": {}}) if i["imports"])
    program = mbpp.program("def f(): pass", item)
    assert program == ("".join(f"{line}\n" for line in item["imports"]) + mbpp.docstring(item)
                       + "def f(): pass\n" + "\n".join(item["tests"]) + "\n")


def test_malformed_files_are_named(tmp_path):
    (tmp_path / "mbpp.jsonl").symlink_to(FOLDER / "mbpp.jsonl")
    (tmp_path / "sanitized-mbpp.json").write_text('{"not": "a list"}')
    with pytest.raises(DatasetError, match="sanitized-mbpp.json: not the sanitized MBPP file"):
        mbpp.load(str(tmp_path))
    (tmp_path / "sanitized-mbpp.json").write_text('[{"task_id": 11, "prompt": "p", "code": "c", "test_list": []}]')
    with pytest.raises(DatasetError, match="task 11: text, code"):
        mbpp.load(str(tmp_path))


def test_under_runtime_process_it_needs_the_opt_in(tmp_path, state):
    from e2e.process.test_process_runs import process_config

    out = tmp_path / "out"
    cfg = process_config(tmp_path / "m.yaml", "http://127.0.0.1:9/v1/chat/completions", out,
                         [{"name": "mbpp", "overrides": {"config.params.limit_samples": 1}}])
    refused = evaltasks_cli("run", "--config", str(cfg))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "task(s) mbpp run model-written code" in refused.stderr and not out.exists()


def test_a_bad_split_is_one_line_at_dry_run(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                       tasks=[{"name": "mbpp", "overrides": {"config.params.extra.split": "test"}}])
    done = evaltasks_cli("run", "--config", str(cfg), "--dry-run")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "config.params.extra.split" in line and "'test' is not one of sanitized, full" in line


# -- whole runs through the sandbox container -----------------------------------

def fenced(code):
    return f"Here is the function.\n```python\n{code}\n```\nIt passes the test."


def by_docstring(split, reply_for):
    """A responder: the problem is found by its text and first test in the prompt."""
    replies = {f'"""\n{r["prompt" if split == "sanitized" else "text"]}\n{r["test_list"][0]}\n"""\n': reply_for(r)
               for r in raw(split)}

    def respond(payload):
        content = payload["messages"][-1]["content"]
        return next(reply for key, reply in replies.items() if key in content)
    return respond


def survives_bigcode(row):
    """Whether the canonical code passes bigcode's own check once cut at its stop
    words (a top-level ``class`` or ``if`` ends a completion there) without the
    ``test_setup_code`` bigcode leaves out."""
    code = row["code"]
    return not any(word in code for word in BIGCODE_STOP_WORDS) and not row.get("test_setup_code")


def run_mbpp(tmp_path, respond, split, timeout=30.0, parallelism=32, **run_env):
    out = tmp_path / "out"
    with FakeEndpoint(respond, **run_env) as ep:
        # The machine is shared: a generous timeout keeps slow-but-correct programs (task 123) passing.
        cfg = write_config(tmp_path / "m.yaml", ep.chat_url, out, tasks=[{"name": "mbpp", "overrides": {
            "config.params.parallelism": parallelism, "config.params.extra.split": split,
            "config.params.extra.timeout": timeout}}])
        run = doit(f"config={cfg}", timeout=3000)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "mbpp" / "samples.jsonl").read_text().splitlines()]
    return results(out, "mbpp"), {r["task_id"]: r for r in rows}, out


@pytest.mark.docker
@pytest.mark.parametrize("split", ["sanitized", "full"])
def test_canonical_solutions_pass_through_the_sandbox(tmp_path, docker_client, split):
    r, rows, out = run_mbpp(tmp_path, by_docstring(split, lambda row: fenced(row["code"])), split)
    expected = {row["task_id"]: survives_bigcode(row) for row in raw(split)}
    assert {t: row["passed"] for t, row in rows.items()} == expected
    if split == "sanitized":
        assert all(expected.values())                 # every sanitized one survives bigcode's cut
    assert r["metrics"]["pass@1"]["value"] == pytest.approx(sum(expected.values()) / len(expected))
    assert "[launcher] sandbox container evaltasks-mbpp-" in (out / "mbpp" / "logs" / "stdout.log").read_text()


def seeded_reply(row, rng):
    kind = rng.choice(["right", "right", "wrong", "no code", "own tests"])
    code, name = row["code"], row["test_list"][0].split("(")[0].split()[-1]
    return kind, {
        "right": fenced(code),
        "wrong": fenced(f"def {name}(*args, **kwargs):\n    return None"),
        "no code": "I would need more details to write this.",
        # Right code, then a failing assert of its own: bigcode's stop words drop it, so it passes.
        "own tests": fenced(code + "\nassert False, 'my own test'"),
    }[kind]


def seeded_mix(seed=23):
    """A responder answering the sanitized split with a seeded mix of right, wrong,
    code-less and right-but-self-testing replies, and the task ids it got right
    (tests/e2e/docker/test_full_size.py runs it whole)."""
    rng = random.Random(seed)
    kinds = {}

    def reply_for(row):
        kinds[row["task_id"]], text = seeded_reply(row, rng)
        return text
    respond = by_docstring("sanitized", reply_for)
    return respond, {t for t, k in kinds.items() if k in ("right", "own tests")}


@pytest.mark.docker
def test_hostile_programs_score_0_and_reach_neither_key_nor_network(tmp_path, docker_client):
    from e2e.docker.test_hostile_code import ATTACKS, PRELUDE, watch_containers

    key = f"sk-hostile-key-{secrets.token_hex(8)}"
    out = tmp_path / "out"
    problems = raw("sanitized")[:len(ATTACKS)]
    seen, done = {}, threading.Event()
    with FakeEndpoint(api_key=key) as ep:
        attacks = {}
        for (name, attack), row in zip(ATTACKS.items(), problems):
            code = (PRELUDE.format(port=ep.port) + attack.replace("{out}", str(out)).replace("{data}", str(FOLDER))
                    + f"assert ok, {name!r}\n" + row["code"])
            # bigcode's stop words would cut an attack at its first top-level assert: keep it in one function.
            body = "\n".join("    " + line for line in code.splitlines())
            attacks[f'"""\n{row["prompt"]}\n{row["test_list"][0]}\n"""\n'] = fenced(
                f"def _attack():\n{body}\n\n\n_attack()\n{row['code']}")
        ep.responder = lambda payload: next(
            (reply for k, reply in attacks.items() if k in payload["messages"][-1]["content"]), "no idea")
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=[{"name": "mbpp", "overrides": {
            "config.params.limit_samples": len(ATTACKS), "config.params.parallelism": 3,
            "config.params.extra.timeout": 20.0}}],
            target={"api_endpoint": {"model_id": "test-model", "url": ep.chat_url, "api_key_name": "HOSTILE_KEY"}})
        watcher = threading.Thread(target=watch_containers, args=(docker_client, str(out), seen, done))
        watcher.start()
        try:
            run = doit(f"config={cfg}", env={"HOSTILE_KEY": key})
        finally:
            done.set()
            watcher.join()
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [json.loads(line) for line in (out / "mbpp" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == len(ATTACKS) and not any(row["passed"] for row in rows), [r["result"] for r in rows]
    assert results(out, "mbpp")["metrics"]["pass@1"]["value"] == 0.0
    assert {r.path for r in ep.requests} == {"/v1/chat/completions"}, [r.path for r in ep.requests]
    assert len(ep.requests) == len(ATTACKS) + 1          # + the preflight check
    assert len(seen) == 2 and all(key not in dump for dump in seen.values())
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not any(p.name == "pwn" for p in files)
    assert all(key.encode() not in p.read_bytes() for p in files)
