"""What this machine must provide (data, key variables, a reachable endpoint) is
checked only for the tasks that will run: `-t` and `doit eval:X` are not blocked by
another task, looking (dry run, list, info, clean, forget, ls) needs no secret,
and a refused run creates nothing."""

import os

import pytest

from conftest import DATA_DIR, doit, evaltasks_cli, results, write_config

UNREACHABLE = "http://127.0.0.1:9/v1/chat/completions"


@pytest.fixture
def no_gpqa(tmp_path):
    """A data dir like the tests' own, without gpqa's data."""
    root = tmp_path / "data"
    root.mkdir()
    for folder in DATA_DIR.iterdir():
        if folder.is_dir() and folder.name != "gpqa":
            (root / folder.name).symlink_to(folder)
    return {"EVALTASKS_DATA_DIR": str(root)}


def two_tasks(tmp_path, url, out, **target):
    """gsm8k, and a gpqa_diamond that needs a token variable, its data and an endpoint of its own."""
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 3}},
             {"name": "gpqa_diamond", "env_vars": {"HF_TOKEN": "EVAL_SEL_HF"},
              "overrides": {"config.params.limit_samples": 2, "target.api_endpoint.url": UNREACHABLE}}]
    extra = {"target": {"api_endpoint": dict({"model_id": "test-model", "url": url, "api_key_name": None},
                                             **target)}}
    return write_config(tmp_path / "c.yaml", url, out, tasks=tasks, **extra)


def one_line(done):
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return lines[0]


@pytest.mark.parametrize("door", ["evaltasks", "doit"])
def test_a_run_that_includes_a_task_that_cannot_run_is_refused_and_creates_nothing(tmp_path, no_gpqa, door, monkeypatch):
    out = tmp_path / "out"
    cfg = two_tasks(tmp_path, UNREACHABLE, out)
    command = (lambda env: evaltasks_cli("run", "--config", str(cfg), env=env)) if door == "evaltasks" else \
        (lambda env: doit("-n", "2", f"config={cfg}", env=env))
    monkeypatch.delenv("EVAL_SEL_HF", raising=False)
    cases = [
        ({}, "env_vars.HF_TOKEN: environment variable EVAL_SEL_HF is not set (export it)"),
        ({"EVAL_SEL_HF": ""}, "env_vars.HF_TOKEN: environment variable EVAL_SEL_HF is empty"),
        ({"EVAL_SEL_HF": "x"}, f"EVALTASKS_DATA_DIR: gpqa_diamond needs {no_gpqa['EVALTASKS_DATA_DIR']}"
                               "/gpqa/dataset.zip (or gpqa_diamond.csv), which does not exist"),
    ]
    for env, why in cases:
        done = command(dict(no_gpqa, **env))
        assert done.returncode == 2
        assert one_line(done) == (f"error: {cfg}: eval:gpqa_diamond cannot run: {why}; "
                                  "--continue runs the other tasks, -t picks tasks")
    assert not out.exists()


def test_an_unknown_task_creates_nothing(tmp_path):
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.yaml", UNREACHABLE, out)
    done = evaltasks_cli("run", "--config", str(cfg), "-t", "nosuch")
    assert done.returncode == 2 and "-t nosuch: no such task in this config" in one_line(done)
    assert not out.exists()


def test_the_dry_run_says_which_tasks_cannot_run_and_goes_on(tmp_path, no_gpqa, monkeypatch):
    monkeypatch.delenv("EVAL_SEL_HF", raising=False)
    out = tmp_path / "out"
    cfg = two_tasks(tmp_path, UNREACHABLE, out)
    dry = evaltasks_cli("run", "--config", str(cfg), "--dry-run", env=no_gpqa)
    assert dry.returncode == 0, dry.stderr
    assert "\neval:gsm8k: would run\n" in dry.stdout
    assert ("\neval:gpqa_diamond: cannot run: env_vars.HF_TOKEN: environment variable EVAL_SEL_HF is not set "
            "(export it)\n") in dry.stdout
    assert not out.exists()


def test_looking_needs_no_secret(tmp_path, monkeypatch):
    """With the key variable and HF_TOKEN* unset, everything that only looks works."""
    for name in [n for n in os.environ if n.startswith("HF_TOKEN")] + ["EVAL_SEL_KEY", "EVAL_SEL_HF"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EVALTASKS_STATE_DIR", str(tmp_path / "state"))
    cfg = two_tasks(tmp_path, UNREACHABLE, tmp_path / "out", api_key_name="EVAL_SEL_KEY")
    looks = [
        evaltasks_cli("run", "--config", str(cfg), "--dry-run"),
        doit("list", "--status", f"config={cfg}"),
        doit("info", "eval:gsm8k", f"config={cfg}"),
        doit("clean", f"config={cfg}"),
        doit("forget", f"config={cfg}"),
        evaltasks_cli("ls", "tasks"),
        evaltasks_cli("ls", "runs"),
    ]
    for done in looks:
        # `doit info` exits 1 for a task that is not up to date, as doit documents.
        assert done.returncode == (1 if "info" in done.args else 0), done.args + [done.stdout, done.stderr]
        assert "error" not in done.stderr, done.args + [done.stderr]
    assert "eval:gsm8k: cannot run: target.api_endpoint.api_key_name: environment variable EVAL_SEL_KEY " \
           "is not set" in looks[0].stdout
    # Running is what needs it.
    done = evaltasks_cli("run", "--config", str(cfg), "-t", "gsm8k", env={"EVAL_SEL_KEY": ""})
    assert done.returncode == 2
    assert one_line(done).endswith("eval:gsm8k cannot run: target.api_endpoint.api_key_name: "
                                   "environment variable EVAL_SEL_KEY is empty; "
                                   "--continue runs the other tasks, -t picks tasks")


@pytest.mark.docker
def test_one_task_runs_although_another_cannot(tmp_path, no_gpqa, gsm8k_endpoint, monkeypatch):
    """gpqa_diamond's data, token and endpoint are all missing; gsm8k runs anyway,
    through both doors, and with --continue a full run does gsm8k and fails gpqa in one line."""
    monkeypatch.delenv("EVAL_SEL_HF", raising=False)
    out = tmp_path / "out"
    cfg = two_tasks(tmp_path, gsm8k_endpoint.chat_url, out)

    only = evaltasks_cli("run", "--config", str(cfg), "-t", "gsm8k", env=no_gpqa)
    assert only.returncode == 0, only.stdout + only.stderr
    assert results(out)["samples"] == 3 and not (out / "gpqa_diamond").exists()

    assert doit("forget", "eval:gsm8k", f"config={cfg}", env=no_gpqa).returncode == 0
    again = doit("eval:gsm8k", f"config={cfg}", env=no_gpqa)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "done       eval:gsm8k" in again.stdout
    # Only gsm8k's endpoint was checked: gpqa's unreachable one would have stopped the run.
    assert "preflight" not in again.stdout

    (out / "gsm8k" / "results.json").unlink()
    both = doit("--continue", f"config={cfg}", env=dict(no_gpqa, EVAL_SEL_HF="x"))
    assert both.returncode != 0
    assert "done       eval:gsm8k" in both.stdout, both.stdout
    assert ("FAILED     eval:gpqa_diamond  cannot run: EVALTASKS_DATA_DIR: gpqa_diamond needs "
            f"{no_gpqa['EVALTASKS_DATA_DIR']}/gpqa/dataset.zip (or gpqa_diamond.csv), which does not exist") in both.stdout
    assert (out / "gsm8k" / "results.json").exists() and not (out / "gpqa_diamond" / "results.json").exists()


@pytest.mark.parametrize("argv, runs, selected, flags", [
    (["-n", "4", "config=c.yaml"], True, [], (False, False)),
    (["eval:gsm8k", "config=c.yaml"], True, ["eval:gsm8k"], (False, False)),
    (["run", "-c", "eval", "config=c.yaml"], True, ["eval"], (False, True)),
    (["-f", "x/dodo.py", "list", "--status", "config=c.yaml"], False, [], (False, False)),
    (["info", "eval:gsm8k", "config=c.yaml"], False, ["eval:gsm8k"], (False, False)),
    (["--always-execute", "--continue", "config=c.yaml"], True, [], (True, True)),
    (["-ac", "config=c.yaml"], True, [], (True, True)),
])
def test_what_a_doit_command_line_runs(argv, runs, selected, flags):
    """dodo.py is loaded before doit parses its own options: which tasks will run
    (and are checked) is read from the command line the same way doit reads it."""
    from evaltasks.pipeline.doit_entry import _doit_command, _doit_flags

    assert _doit_command(argv) == (runs, selected)
    assert _doit_flags(argv) == flags
