"""Every result says how it was produced (issue 15): results.json's provenance,
data digests in the fingerprint, `evaltasks reproduce`, and the server's own
name for the model in the run's end table."""

import dataclasses
import hashlib
import json
import re
import shutil

import pytest

from conftest import DATA_DIR, answered, doit, evaltasks_cli, results, write_config
from support.endpoint import FakeEndpoint
from evaltasks.config import compose as config
from evaltasks.config.params import DEFAULT_PARAMS
from evaltasks.data import datasets
from evaltasks.pipeline import freshness
from evaltasks.pipeline import plan
from evaltasks.pipeline import actions as runner
from evaltasks.harness import benchmarks


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def local_copy(tmp_path):
    """A writable EVALTASKS_DATA_DIR with a copy of gsm8k's data."""
    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True)
    shutil.copy(DATA_DIR / "gsm8k" / "test.jsonl", data / "gsm8k" / "test.jsonl")
    return data


def change_gold_of_row_0(path, new):
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    row["answer"] = row["answer"].rsplit("####", 1)[0] + f"#### {new}"
    lines[0] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.docker
def test_a_changed_row_changes_the_digest_and_reruns_the_task(tmp_path, gsm8k_endpoint, state):
    data = local_copy(tmp_path)
    env = {"EVALTASKS_DATA_DIR": str(data)}
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out, tasks=[
        {"name": "gsm8k", "overrides": {"config.params.limit_samples": 3}}])
    first = doit(f"config={cfg}", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    before = results(out)
    # Row 0 (gold 18) is answered 19, rows 1 and 2 right.
    assert before["metrics"]["accuracy"]["value"] == pytest.approx(2 / 3)
    [entry] = before["provenance"]["datasets"]
    assert entry == {"file": "gsm8k/test.jsonl", "source": str(data / "gsm8k" / "test.jsonl"),
                     "sha256": sha256(data / "gsm8k" / "test.jsonl"), "rows": 3}
    assert "answered as" not in first.stdout          # the server named the model asked for

    again = doit(f"config={cfg}", env=env)
    assert again.returncode == 0 and "1 up to date: eval:gsm8k" in again.stdout

    change_gold_of_row_0(data / "gsm8k" / "test.jsonl", 19)
    dry = evaltasks_cli("run", "--config", str(cfg), "--dry-run", env=env)
    assert "eval:gsm8k: would run" in dry.stdout
    assert f"data changed: gsm8k/test.jsonl: sha256 {entry['sha256'][:12]} → " in dry.stdout
    repro = evaltasks_cli("reproduce", str(out / "gsm8k" / "results.json"), env=env)
    assert repro.returncode == 0, repro.stderr
    assert (f"cannot pin: data gsm8k/test.jsonl differs from the copy read then: sha256 "
            f"{sha256(data / 'gsm8k' / 'test.jsonl')[:12]} now, sha256 {entry['sha256'][:12]} then") in repro.stderr
    rerun = doit(f"config={cfg}", env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "done       eval:gsm8k" in rerun.stdout
    after = results(out)
    assert after["provenance"]["datasets"][0]["sha256"] == sha256(data / "gsm8k" / "test.jsonl") != entry["sha256"]
    assert after["metrics"]["accuracy"]["value"] == 1.0            # 19 is now right
    assert "1 up to date: eval:gsm8k" in doit(f"config={cfg}", env=env).stdout


def test_the_fingerprint_holds_the_data_digest_and_benchmark_version(tmp_path, monkeypatch):
    data = local_copy(tmp_path)
    monkeypatch.setenv("EVALTASKS_DATA_DIR", str(data))
    cfg = config.load(str(write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions",
                                       tmp_path / "out")))
    spec = plan.task_specs(cfg, "i")[0]
    first = freshness.fingerprint(spec)
    assert first["benchmark_version"] == benchmarks.resolve("gsm8k").version
    assert first["data"] == {"test.jsonl": sha256(data / "gsm8k" / "test.jsonl")}
    change_gold_of_row_0(data / "gsm8k" / "test.jsonl", 17)
    assert freshness.fingerprint(spec)["data"] != first["data"]


def test_data_not_downloaded_yet_is_fingerprinted_as_what_the_download_will_be(tmp_path, monkeypatch):
    """A first run downloads its data; the run after it must find the task up to date."""
    monkeypatch.delenv("EVALTASKS_DATA_DIR")
    monkeypatch.setenv("EVALTASKS_CACHE_DIR", str(tmp_path / "cache"))
    cfg = config.load(str(write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions",
                                       tmp_path / "out", tasks=[{"name": "gsm8k"}, {"name": "math500"}])))
    run = runner.Run(cfg)
    gsm8k, math500 = run.specs
    check = {t["name"]: t["uptodate"][0] for t in run.doit_tasks() if t["basename"] == "eval"}
    # gsm8k's catalog entry knows the file's sha256 (the download is checked against it); math500's does not.
    assert check["gsm8k"].inputs["data"] == {"test.jsonl": benchmarks.resolve("gsm8k").files[0].sha256}
    assert check["math500"].inputs["data"] == {"test.jsonl": None}
    for name in ("gsm8k", "math500"):       # what the task's run would download
        (tmp_path / "cache" / "datasets" / name).mkdir(parents=True)
        shutil.copy(DATA_DIR / name / "test.jsonl", tmp_path / "cache" / "datasets" / name / "test.jsonl")
    for spec in (gsm8k, math500):           # saved on success = what the next run computes
        saved = {freshness.InputsUnchanged.KEY: check[spec.id].saved()}
        assert freshness.InputsUnchanged(freshness.fingerprint(spec))(None, saved), spec.id
    assert check["math500"].saved()["data"] == {"test.jsonl": sha256(DATA_DIR / "math500" / "test.jsonl")}


def test_a_benchmark_version_bump_reruns_its_tasks_and_dry_run_says_so(tmp_path, monkeypatch):
    cfg = config.load(str(write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions",
                                       tmp_path / "out")))
    spec = plan.task_specs(cfg, "i")[0]
    saved = {"eval:gsm8k": freshness.fingerprint(spec)}
    (tmp_path / "out" / "gsm8k").mkdir(parents=True)
    (tmp_path / "out" / "gsm8k" / "results.json").write_text("{}")
    assert freshness.reasons(spec, saved) == ("up to date", [])
    bench = benchmarks.CATALOG["gsm8k"]
    monkeypatch.setitem(benchmarks.CATALOG, "gsm8k", dataclasses.replace(bench, version=bench.version + 1))
    assert not freshness.InputsUnchanged(freshness.fingerprint(spec))(None, {freshness.InputsUnchanged.KEY: saved["eval:gsm8k"]})
    assert freshness.reasons(spec, saved) == (
        "would run", [f"benchmark version changed: {bench.version} → {bench.version + 1}"])


def test_each_data_file_is_hashed_once_however_many_tasks_read_it(tmp_path, monkeypatch):
    data = local_copy(tmp_path)
    monkeypatch.setenv("EVALTASKS_DATA_DIR", str(data))
    hashed = []
    real = datasets.sha256_file
    monkeypatch.setattr(datasets, "sha256_file", lambda path: hashed.append(path) or real(path))
    tasks = [{"name": "gsm8k", "id": f"t{i}"} for i in range(200)]
    cfg = config.load(str(write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions",
                                       tmp_path / "out", tasks=tasks)))
    prints = {json.dumps(freshness.fingerprint(spec)["data"]) for spec in plan.task_specs(cfg, "i")}
    assert len(prints) == 1 and len(hashed) == 1


def job_id(stdout, task="gsm8k"):
    return re.search(rf"invocation \w+: .*?(\w+\.\d+) \({task}\)", stdout).group(1)


def sample_scores(task_dir):
    rows = [json.loads(l) for l in (task_dir / "samples.jsonl").read_text().splitlines()]
    return [(r["index"], r["extracted"], r["score"]) for r in rows]


@pytest.mark.docker
def test_reproduce_a_finished_job(tmp_path, gsm8k_endpoint, state):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out, tasks=[
        {"name": "gsm8k", "id": "math", "overrides": {"config.params.limit_samples": 5,
                                                     "config.params.extra.prompt_style": "lm-eval"}}],
        evaluation={"overrides": {"config.params.seed": 7,
                                  "target.api_endpoint.adapter_config.params_to_add": {"top_k": 3}}})
    run = doit(f"config={cfg}")
    assert run.returncode == 0, run.stdout + run.stderr
    before = sample_scores(out / "math")
    payload = lambda r: json.dumps(r.payload, sort_keys=True)
    original = sorted(map(payload, answered(gsm8k_endpoint)))
    assert (out / "math" / "run_config.yml").is_file()

    repro = tmp_path / "again.yaml"
    made = evaltasks_cli("reproduce", job_id(run.stdout, "math"), "-o", str(repro))
    assert made.returncode == 0, made.stderr
    assert "cannot pin: the model behind" in made.stderr and "test-model" in made.stderr
    assert "differs" not in made.stderr          # same code, same data
    # Printed without -o, from the results.json path: the same config.
    printed = evaltasks_cli("reproduce", str(out / "math" / "results.json"))
    assert printed.stdout.splitlines()[1:] == repro.read_text().splitlines()[1:]
    # It says what the rerun must match that no config key can hold: code and data.
    [data] = results(out, "math")["provenance"]["datasets"]
    assert f"# data gsm8k/test.jsonl: sha256 {data['sha256']}, 5 rows" in repro.read_text()

    up = evaltasks_cli("run", "--config", str(repro))
    assert up.returncode == 0 and "1 up to date: eval:math" in up.stdout, up.stdout + up.stderr
    sent = len(answered(gsm8k_endpoint))
    assert doit("forget", f"config={repro}").returncode == 0
    rerun = evaltasks_cli("run", "--config", str(repro), "--force")
    assert rerun.returncode == 0 and "done       eval:math" in rerun.stdout, rerun.stdout + rerun.stderr
    assert len(answered(gsm8k_endpoint)) == sent + 5           # asked the endpoint again
    assert sample_scores(out / "math") == before and len(before) == 5
    # The scripted model ignores seed, top_k and the prompt's wording, so equal scores
    # prove little: the requests themselves must be the original's, byte for byte.
    reproduced = sorted(map(payload, answered(gsm8k_endpoint)[sent:]))
    assert reproduced == original and len(original) == 5
    first = json.loads(original[0])
    assert first["seed"] == 7 and first["top_k"] == 3, first


def test_reproduce_refuses_what_is_not_a_result(tmp_path, state):
    missing = evaltasks_cli("reproduce", str(tmp_path / "nope" / "results.json"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no such file" in missing.stderr
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    bad = evaltasks_cli("reproduce", str(other))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not an evaltasks results.json" in bad.stderr
    unknown = evaltasks_cli("reproduce", "0123abcd")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "Traceback" not in unknown.stderr


def test_reproduce_results_made_before_provenance(tmp_path, state):
    """An older results.json still gives a config, and says what cannot be checked."""
    task_dir = tmp_path / "out" / "gsm8k"
    task_dir.mkdir(parents=True)
    params = dict(DEFAULT_PARAMS, limit_samples=3, max_new_tokens=1024, extra={"prompt_style": "answer"})
    (task_dir / "results.json").write_text(json.dumps({
        "task": "gsm8k", "benchmark": "gsm8k", "model_id": "m", "params": params,
        "endpoint": {"url": "http://model.example:8000/v1/chat/completions", "type": "chat", "api_key_name": "MY_KEY",
                     "adapter_config": {}}}))
    made = evaltasks_cli("reproduce", str(task_dir / "results.json"), "-o", str(tmp_path / "r.yaml"))
    assert made.returncode == 0, made.stderr
    assert "cannot pin: the results have no provenance" in made.stderr
    assert "cannot pin: no run_config.yml beside the results" in made.stderr
    cfg = config.load(str(tmp_path / "r.yaml"))          # a valid config, the same task
    [spec] = plan.task_specs(cfg, "i")
    assert spec.task_dir == str(task_dir) and spec.params["limit_samples"] == 3
    assert spec.endpoint["api_key_name"] == "MY_KEY"
    nowhere = evaltasks_cli("reproduce", str(task_dir / "results.json"), "-o", str(tmp_path / "no" / "r.yaml"))
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1 and "cannot write it" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr


@pytest.mark.docker
def test_a_server_answering_as_another_model_is_shown_in_the_end_table(tmp_path, state):
    out = tmp_path / "results"
    with FakeEndpoint(lambda payload: "Answer: 1", reply_model="llama-3.1-8b-instruct-q4",
                      system_fingerprint="fp_abc") as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=[
            {"name": "gsm8k", "overrides": {"config.params.limit_samples": 2}}])
        run = evaltasks_cli("run", "--config", str(cfg))
    assert run.returncode == 0, run.stdout + run.stderr
    table = run.stdout.split("\n\n")[-1]
    assert "! the server answered as model 'llama-3.1-8b-instruct-q4', not 'test-model'" in table
    server = results(out)["provenance"]["server"]
    assert server["models"] == ["llama-3.1-8b-instruct-q4"] and server["system_fingerprint"] == ["fp_abc"]
