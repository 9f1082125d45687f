"""report, compare and the summary target, on real runs: two runs of the
pipeline against test endpoints, B better than A on gsm8k by a known set of
flips and identical on mmlu_pro."""

import csv as csv_module
import json
import re
import shutil

import pytest

from conftest import REPO, Gsm8kModel, doit, evaltasks_cli, free_port, open_page, write_config
from support.endpoint import FakeEndpoint
from evaltasks.report import stats

pytestmark = pytest.mark.docker

GSM8K_N, MMLU_N = 40, 250
A_RIGHT = {i for i in range(GSM8K_N) if i % 3 != 0}
GAINED = {0, 3, 6, 9, 12, 15, 18, 21, 24, 27}       # right only in B
LOST = {1}                                          # right only in A
B_RIGHT = (A_RIGHT | GAINED) - LOST


class Model:
    """gsm8k: right on the chosen indices; mmlu_pro: always (A), in every run."""

    def __init__(self, right):
        self.gsm8k = Gsm8kModel(right)

    def __call__(self, payload):
        answer = self.gsm8k(payload)
        return "The answer is (A)" if answer == "I do not know." else answer


def run_pipeline(tmp, name, right):
    out = tmp / name
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": GSM8K_N}},
             {"name": "mmlu_pro", "overrides": {"config.params.limit_samples": MMLU_N,
                                                "config.params.parallelism": 16}}]
    with FakeEndpoint(Model(right)) as ep:
        cfg = write_config(tmp / f"{name}.yaml", ep.chat_url, out, tasks=tasks)
        done = doit("-n", "2", f"config={cfg}")
    assert done.returncode == 0, done.stdout + done.stderr
    invocation = re.search(r"invocation ([0-9a-f]{12})", done.stdout).group(1)
    return out, invocation, done.stdout, cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir, docker_client):
    tmp = tmp_path_factory.mktemp("report")
    return {"tmp": tmp, "A": run_pipeline(tmp, "A", A_RIGHT), "B": run_pipeline(tmp, "B", B_RIGHT)}


def compare_json(*refs, extra=()):
    done = evaltasks_cli("compare", *map(str, refs), "--format", "json", *extra)
    return done, (json.loads(done.stdout) if done.stdout.startswith("{") else None)


def by_task(result):
    return {e["task"]: e for e in result["comparisons"][0]["tasks"]}


def test_compare_reports_exactly_the_flips_and_a_verdict_per_task(runs):
    (a, _, _, _), (b, b_inv, _, _) = runs["A"], runs["B"]
    # B by its invocation id, as `evaltasks ls runs` shows it.
    done, result = compare_json(a, b_inv, extra=["--fail-on-regression"])
    assert done.returncode == 0, done.stderr
    gsm8k, mmlu = by_task(result)["gsm8k"], by_task(result)["mmlu_pro"]
    assert {f["a"]["index"] for f in gsm8k["flips"] if f["b"]["score"] == 1} == GAINED
    assert {f["a"]["index"] for f in gsm8k["flips"] if f["a"]["score"] == 1} == LOST
    assert (gsm8k["right_only_b"], gsm8k["right_only_a"]) == (len(GAINED), len(LOST))
    assert gsm8k["test"] == "exact McNemar" and gsm8k["n"] == GSM8K_N
    assert gsm8k["diff"] == pytest.approx((len(GAINED) - len(LOST)) / GSM8K_N)
    # 1 vs 10 discordant: p = 2·(1 + 11)/2¹¹; Holm over the two tasks (mmlu_pro's p is 1) doubles it.
    assert gsm8k["p"] == pytest.approx(24 / 2048, rel=1e-12)
    assert gsm8k["p_holm"] == pytest.approx(0.0234375, rel=1e-12)
    assert gsm8k["verdict"] == "better"
    assert mmlu["flips"] == [] and mmlu["diff"] == 0 and mmlu["n"] == MMLU_N
    assert mmlu["verdict"] == "no detectable difference"
    # No item differs: the floor (z₀.₉₇₅ + z₀.₈)²/250.
    assert mmlu["mde"] == pytest.approx(0.0313955, rel=1e-5)

    swapped, result = compare_json(b, a, extra=["--fail-on-regression"])
    assert swapped.returncode == 1
    assert by_task(result)["gsm8k"]["verdict"] == "worse"
    assert "regression: gsm8k worse in" in swapped.stderr

    md = evaltasks_cli("compare", str(a), str(b))
    assert md.returncode == 0 and "| gsm8k | accuracy |" in md.stdout and "**better**" in md.stdout
    assert f"gsm8k: {len(GAINED) + len(LOST)} flips" in md.stdout


def test_runs_on_other_items_are_compared_on_the_intersection(runs, tmp_path):
    a = runs["A"][0]
    small = tmp_path / "small"
    shutil.copytree(a / "gsm8k", small / "gsm8k")
    rows = (small / "gsm8k" / "samples.jsonl").read_text().splitlines()[:6]
    (small / "gsm8k" / "samples.jsonl").write_text("\n".join(rows) + "\n")
    done, result = compare_json(a, small)
    assert done.returncode == 0, done.stderr
    gsm8k = by_task(result)["gsm8k"]
    assert gsm8k["n"] == 6 and gsm8k["only_a"] == GSM8K_N - 6
    assert any("compared on the 6 items both scored" in n for n in gsm8k["notes"])
    assert any("not compared: mmlu_pro" in n for n in result["comparisons"][0]["notes"])

    # Nothing in common: one line, exit 2.
    for i, row in enumerate(rows):
        rows[i] = json.dumps(dict(json.loads(row), prompt=[{"role": "user", "content": f"another question {i}"}]))
    (small / "gsm8k" / "samples.jsonl").write_text("\n".join(rows) + "\n")
    nothing = evaltasks_cli("compare", str(a), str(small))
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr
    assert nothing.stderr.startswith("error: ") and "no samples in common" in nothing.stderr
    assert len(nothing.stderr.strip().splitlines()) == 1


def test_the_run_writes_a_summary_with_intervals(runs):
    a, invocation, stdout, _ = runs["A"]
    summary = json.loads((a / "summary.json").read_text())
    gsm8k = next(t for t in summary["tasks"] if t["task"] == "gsm8k")
    head = gsm8k["metrics"][0]
    assert (head["name"], head["value"], head["n"]) == ("accuracy", len(A_RIGHT) / GSM8K_N, GSM8K_N)
    assert (head["ci_low"], head["ci_high"]) == pytest.approx(stats.wilson(len(A_RIGHT), GSM8K_N))
    assert head["method"] == "Wilson"
    assert gsm8k["model_id"] == "test-model" and gsm8k["params"]["limit_samples"] == GSM8K_N
    assert "parallelism" not in gsm8k["params"]          # does not determine the result
    assert summary["overall"]["how"].startswith("unweighted mean")
    low, high = stats.wilson(len(A_RIGHT), GSM8K_N)
    # The same figures in the Markdown and CSV files the run wrote beside it.
    assert f"| gsm8k | gsm8k | accuracy | 0.6500 [{low:.4f}, {high:.4f}] | 40 | 0 |" in (a / "summary.md").read_text()
    rows = {(r["task"], r["metric"]): r for r in csv_module.DictReader(open(a / "summary.csv", newline=""))}
    row = rows[("gsm8k", "accuracy")]
    assert (float(row["value"]), row["n"], row["interval"], row["failed_samples"]) == (0.65, "40", "Wilson", "0")
    assert (float(row["ci_low"]), float(row["ci_high"])) == pytest.approx((low, high), abs=1e-12)
    assert f"gsm8k accuracy: 0.6500 [{low:.4f}, {high:.4f}]" in (a / "summary.html").read_text()
    # The end-of-run table shows value and 95% CI.
    assert f"accuracy=0.6500 [{low:.4f}, {high:.4f}] (n=40)" in stdout, stdout
    # `evaltasks report` renders the same on demand, by invocation id too.
    md = evaltasks_cli("report", invocation)
    assert md.returncode == 0 and f"0.6500 [{low:.4f}, {high:.4f}]" in md.stdout
    csv = evaltasks_cli("report", str(a), "--format", "csv")
    assert csv.stdout.splitlines()[0].startswith("task,benchmark,model_id,metric,value,ci_low,ci_high")


def test_summary_is_up_to_date_after_a_noop_run_and_rebuilt_when_a_task_reran(tmp_path, data_dir):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "id": "a", "overrides": {"config.params.limit_samples": 3}},
             {"name": "gsm8k", "id": "b", "overrides": {"config.params.limit_samples": 4}}]
    with FakeEndpoint(Gsm8kModel(right=range(10))) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=tasks)
        assert doit("-n", "2", f"config={cfg}").returncode == 0
        built = (out / "summary.html").stat().st_mtime_ns
        again = doit("-n", "2", f"config={cfg}")
        assert again.returncode == 0 and "2 up to date" in again.stdout
        assert (out / "summary.html").stat().st_mtime_ns == built
        status = doit("list", "--status", f"config={cfg}")
        assert re.search(r"^U\s+summary", status.stdout, re.M), status.stdout

        rerun = doit("-n", "2", f"config={cfg}", "evaluation.tasks.b.overrides.config.params.limit_samples=5")
    assert rerun.returncode == 0, rerun.stdout
    assert "1 up to date: eval:a" in rerun.stdout
    assert (out / "summary.html").stat().st_mtime_ns > built
    summary = json.loads((out / "summary.json").read_text())
    assert {t["task"]: t["metrics"][0]["n"] for t in summary["tasks"]} == {"a": 3, "b": 5}


def test_summary_html_in_a_browser(runs, browser):
    a = runs["A"][0]
    page, errors, requests = open_page(browser, (a / "summary.html").as_uri())
    assert page.locator("svg.chart g.bar").count() == 2               # one interval per task
    low, high = stats.wilson(len(A_RIGHT), GSM8K_N)
    bar = page.locator("svg.chart g.bar").first
    assert bar.locator("title").text_content() == f"gsm8k accuracy: 0.6500 [{low:.4f}, {high:.4f}]"
    # Drawn where the numbers say: the whisker's ends either side of the point, in proportion.
    x1, x2 = (float(bar.locator("line").first.get_attribute(k)) for k in ("x1", "x2"))
    cx = float(bar.locator("circle").get_attribute("cx"))
    assert x1 < cx < x2 and (cx - x1) / (x2 - x1) == pytest.approx((0.65 - low) / (high - low), abs=0.01)
    section = page.locator("#task-gsm8k")
    section.locator("details.samples > summary").click()
    samples = section.locator("details.sample")
    samples.first.wait_for()
    assert samples.count() == GSM8K_N
    section.locator("select.filter").select_option("wrong")
    page.wait_for_function("document.querySelectorAll('#task-gsm8k details.sample').length === 14")
    shown = [int(x) for x in samples.evaluate_all("ns => ns.map(n => n.dataset.index)")]
    assert set(shown) == set(range(GSM8K_N)) - A_RIGHT
    assert samples.evaluate_all("ns => ns.every(n => n.classList.contains('wrong'))")
    section.locator("input.search").fill("#3")
    page.wait_for_function("document.querySelectorAll('#task-gsm8k details.sample').length === 1")
    assert "Answer: " in section.locator("details.sample pre.response").text_content()
    # mmlu_pro: 250 samples, a page at a time.
    page.locator("#task-mmlu_pro details.samples > summary").click()
    page.locator("#task-mmlu_pro details.sample").first.wait_for()
    assert page.locator("#task-mmlu_pro details.sample").count() == 50
    assert "1–50 of 250" in page.locator("#task-mmlu_pro .count").text_content()
    assert errors == [] and requests == []


def test_compare_html_in_a_browser_links_flips_to_both_responses(runs, browser):
    (a, *_), (b, *_) = runs["A"], runs["B"]
    page_file = runs["tmp"] / "compare.html"
    done = evaltasks_cli("compare", str(a), str(b), "--format", "html", "-o", str(page_file))
    assert done.returncode == 0, done.stderr
    page, errors, requests = open_page(browser, page_file.as_uri())
    assert page.locator("svg.chart g.bar").count() == 2
    # The difference's bar carries the numbers of the JSON comparison: B − A = 9/40 and its interval.
    gsm8k = by_task(compare_json(a, b)[1])["gsm8k"]
    titles = page.locator("svg.chart g.bar title").all_text_contents()
    # Both runs are of one model, so each is called by it and its folder's name.
    assert f"test-model [{b.name}]: gsm8k: 0.2250 [{gsm8k['ci_low']:.4f}, {gsm8k['ci_high']:.4f}]" in titles, titles
    assert page.locator("tr[data-task=gsm8k] td.verdict").text_content() == "better"
    assert page.locator("tr[data-task=mmlu_pro] td.verdict").text_content() == "no detectable difference"
    flips = page.locator("details.flips[data-task=gsm8k]")
    flips.locator("summary").first.click()
    assert flips.locator("tr.flip").count() == len(GAINED) + len(LOST)
    # A flip's link opens B's summary at that sample's response.
    flips.locator("a", has_text="B #0").click()
    page.wait_for_url(re.compile(r".*/B/summary\.html#task=gsm8k&item=0$"))
    page.wait_for_function("document.querySelectorAll('#task-gsm8k details.sample').length === 1")
    assert page.locator("#task-gsm8k details.sample").get_attribute("data-index") == "0"
    assert page.locator("#task-gsm8k details.sample[open] pre.response").is_visible()
    assert errors == [] and requests == []


def test_local_export_writes_nemo_evaluators_processed_results(runs, tmp_path):
    (a, a_inv, _, _), (b, b_inv, _, _) = runs["A"], runs["B"]
    dest = tmp_path / "exported"
    for _ in range(2):          # exporting again replaces the entries, never duplicates them
        done = evaltasks_cli("export", str(a), b_inv, "--dest", "local", "--output-dir", str(dest))
        assert done.returncode == 0, done.stderr
    data = json.loads((dest / "processed_results.json").read_text())
    entries = data["benchmarks"]["gsm8k"]["models"]["test-model"]
    assert sorted(e["invocation_id"] for e in entries) == sorted([a_inv, b_inv])
    scores = {e["invocation_id"]: e["scores"]["accuracy"] for e in entries}
    assert scores == {a_inv: len(A_RIGHT) / GSM8K_N, b_inv: len(B_RIGHT) / GSM8K_N}
    entry = next(e for e in entries if e["invocation_id"] == a_inv)
    assert entry["job_id"].startswith(a_inv + ".") and entry["harness"] == "evaltasks"
    assert entry["intervals"]["accuracy"][:2] == pytest.approx(list(stats.wilson(len(A_RIGHT), GSM8K_N)))
    assert set(data["benchmarks"]) == {"gsm8k", "mmlu_pro"}
    rows = (dest / "processed_results.csv").read_text().splitlines()
    assert rows[0].startswith("Model Name,Harness,Task Name,Executor,Container,Invocation ID,Job ID,accuracy")
    assert len(rows) == 1 + 4                           # two runs × two tasks
    assert (dest / "A" / "gsm8k" / "samples.jsonl").read_bytes() == (a / "gsm8k" / "samples.jsonl").read_bytes()
    assert (dest / "A" / "summary.html").is_file()


def test_export_bad_input_is_one_line(runs, tmp_path):
    a = runs["A"][0]
    for args in (["export", str(tmp_path / "nothing"), "--dest", "local"],
                 ["export", str(a), "--dest", "mlflow", "--tracking-uri", ""],
                 ["compare", str(a)],
                 ["report", str(a), "--format", "pdf"]):
        done = evaltasks_cli(*args, env={"MLFLOW_TRACKING_URI": ""})
        assert done.returncode == 2, args
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (REPO / "evaltasks-results").exists()


@pytest.fixture
def mlflow_server(tmp_path):
    """A real MLflow tracking server on 127.0.0.1: sqlite backend, artifacts
    served from a local folder (--artifacts-destination), one worker.

    The mlflow extra is not part of set-up (only this export uses it):
    scripts/test.sh installs it, so under CI its absence is a failure; elsewhere
    the test says it skipped and how to run it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import requests

    try:
        import mlflow  # noqa: F401
    except ImportError:
        why = "the mlflow extra is not installed: pip install -e '.[mlflow]' (scripts/test.sh does)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)

    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    log = open(tmp_path / "mlflow.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path}/mlflow.db",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None and time.time() < deadline, (tmp_path / "mlflow.log").read_text()
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)      # the server and the workers it started
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_mlflow_export_reads_back_through_mlflows_client(runs, mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    a, a_inv, _, _ = runs["A"]
    done = evaltasks_cli("export", a_inv, "--dest", "mlflow", "--tracking-uri", mlflow_server,
                         "--experiment-name", "evaltasks-test", "--run-name", "run-a", "--tag", "team=eval",
                         "--description", "nightly gsm8k + mmlu_pro")
    assert done.returncode == 0, done.stdout + done.stderr
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("evaltasks-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "run-a" and run.data.tags["team"] == "eval"
    assert run.data.tags["mlflow.note.content"] == "nightly gsm8k + mmlu_pro"       # MLflow's description
    assert run.data.tags["evaltasks.output_dir"] == str(a)
    metrics = run.data.metrics
    low, high = stats.wilson(len(A_RIGHT), GSM8K_N)
    assert metrics["gsm8k/accuracy"] == len(A_RIGHT) / GSM8K_N
    assert (metrics["gsm8k/accuracy/ci_low"], metrics["gsm8k/accuracy/ci_high"]) == pytest.approx((low, high))
    mmlu = json.loads((a / "mmlu_pro" / "results.json").read_text())["metrics"]["accuracy"]["value"]
    assert metrics["mmlu_pro/accuracy"] == mmlu
    assert run.data.params["model_id"] == "test-model" and run.data.params["gsm8k.limit_samples"] == str(GSM8K_N)
    top = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"summary.md", "summary.csv", "summary.json", "summary.html", "gsm8k", "mmlu_pro"} <= top
    got = client.download_artifacts(run.info.run_id, "gsm8k/samples.jsonl", str(tmp_path))
    assert open(got, "rb").read() == (a / "gsm8k" / "samples.jsonl").read_bytes()


def mlflow_runs(uri, experiment):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    return client, (client.search_runs([found.experiment_id]) if found else [])


def test_mlflow_export_of_several_runs_again_and_without_artifacts(runs, mlflow_server):
    (a, *_), (b, *_) = runs["A"], runs["B"]
    args = ("--dest", "mlflow", "--tracking-uri", mlflow_server, "--experiment-name", "several")
    done = evaltasks_cli("export", str(a), str(b), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    client, logged = mlflow_runs(mlflow_server, "several")
    # One MLflow run per exported run, each with its own numbers, named <model>-<output dir name>.
    by_dir = {r.data.tags["evaltasks.output_dir"]: r for r in logged}
    assert set(by_dir) == {str(a), str(b)}
    assert by_dir[str(a)].data.metrics["gsm8k/accuracy"] == len(A_RIGHT) / GSM8K_N
    assert by_dir[str(b)].data.metrics["gsm8k/accuracy"] == len(B_RIGHT) / GSM8K_N
    assert {r.info.run_name for r in logged} == {"test-model-A", "test-model-B"}

    # Exported again: each export is a run of its own in MLflow (as a rerun exported would be).
    again = evaltasks_cli("export", str(a), *args, "--run-name", "again")
    assert again.returncode == 0, again.stderr
    _, logged = mlflow_runs(mlflow_server, "several")
    assert len(logged) == 3
    (second,) = [r for r in logged if r.info.run_name == "again"]
    assert second.data.metrics == by_dir[str(a)].data.metrics

    # log_artifacts: false (a config key only: through auto_export's mlflow config).
    from evaltasks.report import export

    export.export([str(a)], "mlflow", {"tracking_uri": mlflow_server, "experiment_name": "no-artifacts",
                                       "log_artifacts": False})
    _, (bare,) = mlflow_runs(mlflow_server, "no-artifacts")
    assert client.list_artifacts(bare.info.run_id) == []
    assert bare.data.metrics["gsm8k/accuracy"] == len(A_RIGHT) / GSM8K_N


def test_mlflow_export_to_an_unreachable_server_is_one_line(runs):

    url = f"http://127.0.0.1:{free_port()}"
    done = evaltasks_cli("export", str(runs["A"][0]), "--dest", "mlflow", "--tracking-uri", url)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: mlflow export: cannot reach the tracking server at {url}: ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_auto_export_to_mlflow_at_the_end_of_a_run(tmp_path, data_dir, mlflow_server):
    out = tmp_path / "results"
    auto = {"auto_export": {"destinations": ["mlflow"], "configs": {"mlflow": {
        "tracking_uri": mlflow_server, "experiment_name": "auto", "run_name": "nightly", "tags": {"team": "eval"},
        "description": "after every run", "log_artifacts": False}}}}
    with FakeEndpoint(Gsm8kModel(right=range(2))) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, execution=auto,
                           tasks=[{"name": "gsm8k", "overrides": {"config.params.limit_samples": 3}}])
        done = doit(f"config={cfg}")
    assert done.returncode == 0, done.stdout + done.stderr
    client, (run,) = mlflow_runs(mlflow_server, "auto")
    assert run.info.run_name == "nightly" and run.data.tags["team"] == "eval"
    assert run.data.tags["mlflow.note.content"] == "after every run"
    assert run.data.metrics["gsm8k/accuracy"] == pytest.approx(2 / 3, abs=1e-12)
    assert client.list_artifacts(run.info.run_id) == []


def test_auto_export_runs_at_the_end_of_a_run(tmp_path, data_dir):
    out, dest = tmp_path / "results", tmp_path / "exported"
    auto = {"auto_export": {"destinations": ["local"], "configs": {"local": {"output_dir": str(dest)}}}}
    with FakeEndpoint(Gsm8kModel(right=range(2))) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, execution=auto,
                           tasks=[{"name": "gsm8k", "overrides": {"config.params.limit_samples": 3}}])
        done = doit(f"config={cfg}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"summary    {out / 'summary.html'}" in done.stdout
    data = json.loads((dest / "processed_results.json").read_text())
    (entry,) = data["benchmarks"]["gsm8k"]["models"]["test-model"]
    assert entry["scores"]["accuracy"] == pytest.approx(2 / 3)

    bad = write_config(tmp_path / "bad.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "other",
                       execution={"auto_export": {"destinations": ["gsheets"]}})
    refused = doit(f"config={bad}")
    assert refused.returncode == 2 and "execution.auto_export.destinations" in refused.stderr
    assert not (tmp_path / "other").exists()


def test_no_summary_of_a_run_with_a_failed_task(tmp_path, data_dir):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "id": "good", "overrides": {"config.params.limit_samples": 3}},
             {"name": "gsm8k", "id": "bad", "overrides": {"config.params.limit_samples": 3,
                                                          "target.api_endpoint.model_id": "no-such-model"}}]
    with FakeEndpoint(Gsm8kModel(right=range(3))) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=tasks)
        done = doit("--continue", f"config={cfg}", "execution.preflight=false")
    assert done.returncode != 0 and "FAILED     eval:bad" in done.stdout
    assert f"no summary a task failed; `evaltasks report {out}` summarises" in done.stdout, done.stdout
    assert not (out / "summary.html").exists() and "Traceback" not in done.stdout + done.stderr
    partial = evaltasks_cli("report", str(out), "--format", "json")
    assert [t["task"] for t in json.loads(partial.stdout)["tasks"]] == ["good"]
