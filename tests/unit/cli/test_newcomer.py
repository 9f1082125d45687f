"""What a newcomer hit (issue 21) outside compare: the history of a run started
with ``doit -f``, help with override mistakes and pasted keys, and the small
things of the CLI."""

import json

import pytest

from conftest import REPO, doit, evaltasks_cli, write_config
from evaltasks.pipeline.lock import OutputDirLock


def invocation_of(stdout):
    return stdout.split()[1].rstrip(":")


def test_doit_f_from_another_folder_records_the_config_it_read(tmp_path, state):
    """Failed before the fix: the history said <clone>/cfg/a.yaml, a file that does not exist."""
    (tmp_path / "cfg").mkdir()
    out = tmp_path / "results"
    write_config(tmp_path / "cfg" / "a.yaml", "http://127.0.0.1:9/v1/chat/completions", out)
    out.mkdir()
    # The run stops at the output dir's lock (no endpoint or Docker needed) and is recorded.
    holder = OutputDirLock(str(out))
    holder.acquire("a test holding the lock")
    try:
        done = doit("-f", str(REPO / "dodo.py"), "config=cfg/a.yaml", cwd=tmp_path)
    finally:
        holder.release()
    assert done.returncode != 0 and "Traceback" not in done.stderr
    ident = invocation_of(done.stdout)
    status = evaltasks_cli("status", ident, "--json")
    assert json.loads(status.stdout)["invocation"]["config"] == str(tmp_path / "cfg" / "a.yaml")
    assert f"  config {tmp_path / 'cfg' / 'a.yaml'}" in evaltasks_cli("status", ident).stdout.splitlines()
    assert f"{tmp_path / 'cfg' / 'a.yaml'} → {out}" in evaltasks_cli("ls", "runs").stdout


def one_line_exit_2(done):
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr.strip()


OVERRIDE_MISTAKES = [
    # Before: "error: <file>: config: unknown key", no hint where config.params go.
    ("config.params.limit_samples=10",
     "error: override 'config.params.limit_samples=…': config: unknown key; per-task settings (config.params.*) "
     "go under evaluation.overrides (every task) or evaluation.tasks.<name>.overrides (one task)"),
    # Before: the file was blamed, and no "did you mean".
    ("evaluation.tasks.gsm8k.overrides.config.params.limit_sample=10",
     "error: override 'evaluation.tasks.gsm8k.overrides.config.params.limit_sample=…': "
     "evaluation.tasks[0].overrides.config.params.limit_sample: unknown key (did you mean limit_samples?) "
     "(task gsm8k)"),
    ("evaluation.overrides.config.params.paralelism=8",
     "error: override 'evaluation.overrides.config.params.paralelism=…': "
     "evaluation.overrides.config.params.paralelism: unknown key (did you mean parallelism?) (task gsm8k)"),
    ("execution.output_dri=x",
     "error: override 'execution.output_dri=…': execution.output_dri: unknown key (did you mean output_dir?)"),
]


def test_override_mistakes_name_the_override_and_the_nearest_key(tmp_path, state):
    cfg = write_config(tmp_path / "a.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out")
    for override, expected in OVERRIDE_MISTAKES:
        assert one_line_exit_2(evaltasks_cli("run", "--config", str(cfg), "--dry-run", "-o", override)) == expected
        # doit's key=value overrides are the same overrides.
        assert one_line_exit_2(doit("-f", str(REPO / "dodo.py"), f"config={cfg}", override, "list")) == expected
    assert not (tmp_path / "out").exists()


def test_a_mistake_in_the_file_blames_the_file_even_with_overrides(tmp_path, state):
    cfg = write_config(tmp_path / "a.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                       tasks=[{"name": "gsm8k", "overrides": {"config.params.limit_sample": 6}}])
    done = evaltasks_cli("run", "--config", str(cfg), "--dry-run", "-o", "config.params.x=1")
    assert one_line_exit_2(done) == (
        f"error: {cfg}: evaluation.tasks[0].overrides.config.params.limit_sample: unknown key "
        "(did you mean limit_samples?) (task gsm8k)")


PASTED = "sktrialA123xYz9"      # a key where the variable's name belongs


def test_a_key_pasted_as_api_key_name_is_never_printed(tmp_path, state, monkeypatch):
    """Failed before the fix: 'environment variable sktrialA123xYz9 is not set', and
    for a key with '-', cerberus's regex message."""
    monkeypatch.delenv(PASTED, raising=False)
    cfg = write_config(tmp_path / "a.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out")
    expected = {
        PASTED: "target.api_endpoint.api_key_name: no environment variable of that name is set; api_key_name "
                "takes the NAME of an environment variable, not the key itself",
        f"sk-{PASTED}": "target.api_endpoint.api_key_name: takes the NAME of an environment variable "
                        "(letters, digits, _), not the key itself",
    }
    for key, message in expected.items():
        for command in (("run", "--config", str(cfg)), ("run", "--config", str(cfg), "--dry-run")):
            done = evaltasks_cli(*command, "-o", f"target.api_endpoint.api_key_name={key}")
            assert PASTED not in done.stdout + done.stderr
            assert message in done.stdout + done.stderr
            if "--dry-run" not in command or "-" in key:
                assert done.returncode == 2 and "Traceback" not in done.stderr
        # In the file, the same.
        cfg_key = write_config(tmp_path / "k.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                               target={"api_endpoint": {"model_id": "m", "url": "http://127.0.0.1:9/v1",
                                                        "api_key_name": key}})
        done = evaltasks_cli("run", "--config", str(cfg_key))
        assert done.returncode == 2 and PASTED not in done.stdout + done.stderr
        assert message in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_url_without_a_scheme_is_a_sentence(tmp_path, state):
    """Failed before the fix: "value does not match regex '^https?://.+'"."""
    cfg = write_config(tmp_path / "a.yaml", "localhost:8000/v1/chat/completions", tmp_path / "out")
    assert one_line_exit_2(evaltasks_cli("run", "--config", str(cfg))) == (
        f"error: {cfg}: target.api_endpoint.url: must be a full URL with its scheme, "
        "e.g. http://localhost:8000/v1/chat/completions")


def test_a_reply_from_the_wrong_path_asks_about_the_path():
    """Failed before the fix: the line ended at 'choices[0].message is null'."""
    from support.endpoint import FakeEndpoint
    from evaltasks.pipeline import preflight

    with FakeEndpoint() as ep:
        # A chat model pointed at the text-completions route: a 200, but no message.
        wrong = f"http://127.0.0.1:{ep.port}/v1/completions"
        with pytest.raises(preflight.PreflightFailed) as e:
            preflight.check(wrong, "test-model", "chat", None)
        assert str(e.value) == (f"preflight: {wrong} (model test-model): HTTP 200 but not a completion: "
                                "malformed reply: choices[0].message is null; is the path /v1/chat/completions?")
        # The right path passes; a completions endpoint at its own path gets no hint.
        assert preflight.check(ep.chat_url, "test-model", "chat", None) is None
        assert preflight.check(ep.completions_url, "test-model", "completions", None) is None


def harness_run(folder, answer, limit=60):
    """A real harness run of gsm8k on ``folder`` against a server replying ``answer(index)``."""
    from conftest import Gsm8kModel
    from unit.report.test_compare import run_task

    right = Gsm8kModel(range(1319))
    index = {q: i for q, (i, _) in right.by_question.items()}

    def reply(payload):
        text = payload["messages"][-1]["content"]
        i = next(i for q, i in index.items() if q in text)
        return answer(i) if answer(i) is not None else right(payload)

    return run_task(folder, "gsm8k", reply, limit)


def test_empty_replies_are_counted_and_warned_about(tmp_path):
    """Failed before the fix: no count, no warning, a task of "" replies scored 0.0 in silence."""
    out = harness_run(tmp_path / "empty", lambda i: "" if i % 4 == 0 else None)     # 15 of 60
    results = json.loads((out / "gsm8k" / "results.json").read_text())
    assert results["response_stats"]["empty_replies"] == 15
    assert results["warnings"] == [{"code": "empty_replies", "message": "15 of 60 replies were empty (25%), "
                                    "each scored as wrong: look at `response` in samples.jsonl"}]
    rows = [json.loads(line) for line in (out / "gsm8k" / "samples.jsonl").read_text().splitlines()]
    # Built-in benchmarks record "found no answer" as null (task files' filters as "[invalid]").
    assert {r["extracted"] for r in rows if r["response"] == ""} == {None}
    report = evaltasks_cli("report", str(out))
    assert report.returncode == 0
    assert ("> warning: gsm8k: 15 of 60 replies were empty (25%), each scored as wrong: look at `response` "
            "in samples.jsonl") in report.stdout.splitlines()

    # One in sixty is the model's business: counted, not warned about.
    few = harness_run(tmp_path / "few", lambda i: "   " if i == 7 else None)
    results = json.loads((few / "gsm8k" / "results.json").read_text())
    assert results["response_stats"]["empty_replies"] == 1 and results["warnings"] == []
    assert "warning" not in evaltasks_cli("report", str(few)).stdout


@pytest.mark.docker
def test_the_end_table_has_a_header_the_model_and_every_warning(tmp_path, state, docker_client):
    """Failed before the fix: no header row, no model, no warning under an all-empty task."""
    from support.endpoint import FakeEndpoint

    out = tmp_path / "results"
    with FakeEndpoint(lambda payload: "") as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out)
        done = evaltasks_cli("run", "--config", str(cfg))
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.split("\n\n")[-1].splitlines()
    assert table[0].split() == ["task", "state", "model", "headline", "metric", "[95%", "CI]", "(n)",
                                "results", "/", "log"]
    assert table[1].split()[:4] == ["eval:gsm8k", "done", "test-model", "accuracy=0.0000"]
    assert table[1].endswith(str(out / "gsm8k" / "results.json"))
    assert table[2].strip() == ("! warning: 6 of 6 replies were empty (100%), each scored as wrong: "
                                "look at `response` in samples.jsonl")
    summary = (out / "summary.md").read_text().splitlines()
    assert ("> warning: gsm8k: 6 of 6 replies were empty (100%), each scored as wrong: look at `response` "
            "in samples.jsonl") in summary
    html = (out / "summary.html").read_text()
    assert ('<div class="note warning" data-code="empty_replies">warning: gsm8k: 6 of 6 replies were empty '
            '(100%), each scored as wrong: look at `response` in samples.jsonl</div>') in html


@pytest.mark.docker
def test_the_runs_own_terminal_says_evaltasks_kill_stopped_it(tmp_path, state, docker_client):
    """Failed before the fix: the launcher said only 'interrupted: …'."""
    import subprocess
    import sys

    from conftest import Gsm8kModel, wait_for_container
    from support.endpoint import FakeEndpoint

    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "id": "slow", "overrides": {"config.params.limit_samples": 30,
                                                           "config.params.parallelism": 1}}]
    with FakeEndpoint(Gsm8kModel(range(30)), latency=0.3) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=tasks)
        launcher = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        box = wait_for_container(docker_client, f"evaltasks.output_dir={out}")
        invocation = box.labels["evaltasks.job"].split(".")[0]
        assert evaltasks_cli("kill", invocation).returncode == 0
        stdout, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 130 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("killed by `evaltasks kill`: stopped")
    assert "interrupted" not in stderr


def test_ls_alone_lists_what_can_be_listed(state):
    """Failed before the fix: argparse's 'the following arguments are required: what', exit 2."""
    done = evaltasks_cli("ls")
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "tasks (`evaltasks ls tasks`):"
    assert any(line.startswith("gsm8k ") for line in lines)
    assert lines[-2:] == ["runs (`evaltasks ls runs`):", "no runs recorded yet"]
    data = json.loads(evaltasks_cli("ls", "--json").stdout)
    assert sorted(data) == ["runs", "tasks"] and data["runs"] == []
    assert "gsm8k" in [t["name"] for t in data["tasks"]]


@pytest.mark.docker
def test_ls_runs_shows_model_and_scores_and_folds_up_to_date_reruns(tmp_path, state, gsm8k_endpoint,
                                                                     docker_client):
    """Failed before the fix: no model, no scores, and one line per up-to-date re-run."""
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, tmp_path / "out")
    ids = []
    for _ in range(3):
        done = evaltasks_cli("run", "--config", str(cfg))
        assert done.returncode == 0, done.stdout + done.stderr
        ids.append(invocation_of(done.stdout))
    from conftest import Gsm8kModel
    from support.endpoint import FakeEndpoint

    with FakeEndpoint(Gsm8kModel(range(6)), model_id="model-b") as b:
        other = write_config(tmp_path / "d.yaml", b.chat_url, tmp_path / "other",
                             target={"api_endpoint": {"model_id": "model-b", "url": b.chat_url}})
        done = evaltasks_cli("run", "--config", str(other))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = evaltasks_cli("ls", "runs").stdout.splitlines()
    assert [line.split()[0] for line in lines] == [invocation_of(done.stdout), ids[0]]
    assert "  model-b  gsm8k accuracy=1.0000  " in lines[0]
    assert "  test-model  gsm8k accuracy=0.6667  " in lines[1]
    assert f"(+2 up-to-date re-runs, last {ids[2]} at " in lines[1]
    # --json keeps every invocation, each job with its model.
    data = json.loads(evaltasks_cli("ls", "runs", "--json").stdout)
    assert [i["id"] for i in data][1:] == ids[::-1]
    assert {j["model"] for i in data[1:] for j in i["jobs"]} == {"test-model"}


def test_a_key_pasted_in_an_override_is_not_recorded_in_the_history(tmp_path, state, monkeypatch):
    """Failed before the fix: `status --json` listed the override with the key in it."""
    monkeypatch.delenv(PASTED, raising=False)
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "a.yaml", "http://127.0.0.1:9/v1/chat/completions", out)
    out.mkdir()
    holder = OutputDirLock(str(out))
    holder.acquire("a test holding the lock")
    try:        # --continue: the refused task does not stop the run, which is recorded
        done = evaltasks_cli("run", "--config", str(cfg), "--continue",
                             "-o", f"target.api_endpoint.api_key_name={PASTED}", "-o", "execution.mode=sequential")
    finally:
        holder.release()
    assert PASTED not in done.stdout + done.stderr
    status = evaltasks_cli("status", invocation_of(done.stdout), "--json")
    assert status.returncode == 0, status.stderr
    overrides = json.loads(status.stdout)["invocation"]["overrides"]
    assert PASTED not in status.stdout
    assert json.loads(overrides) == ["target.api_endpoint.api_key_name=…", "execution.mode=sequential"]
