"""The reports as a reader sees them: summary.html, compare.html and the
leaderboard of real runs (gsm8k, humaneval, mmlu_pro against scripted
endpoints, five models) opened in Debian's headless Chromium at 1280 and 600 px,
with assertions on the DOM — nothing wider than the window, no label cut, the
numbers there — plus tokens and cost at the configured price, and the W&B
export read back from its offline run file."""

import gzip
import json
import re
import shutil

import pytest
import yaml

from conftest import DATA_DIR, Gsm8kModel, doit, evaltasks_cli, open_page, write_config
from support.endpoint import FakeEndpoint
from evaltasks.report import compare, stats

pytestmark = pytest.mark.docker

GSM8K_N, HUMANEVAL_N, MMLU_N = 60, 6, 20
WIDTHS = (1280, 600)
# Far apart on gsm8k, so the paired test's p-value is tiny (a few e-12).
A_RIGHT = set(range(0, GSM8K_N, 6))
B_RIGHT = set(range(GSM8K_N)) - {7}
CODE_RIGHT = {0, 2, 4}
A_PRICE = {"prompt": 0.15, "completion": 0.6}                     # per million tokens
B_PRICE = {"prompt": 2.5, "completion": 10, "currency": "EUR"}


def spent(run, price):
    """Each task's (prompt tokens, completion tokens, cost) as its results.json counted them."""
    out = {}
    for task in ("gsm8k", "humaneval", "mmlu_pro"):
        tokens = json.loads((run / task / "results.json").read_text())["response_stats"]["tokens"]
        prompt, completion = tokens["prompt"]["total"], tokens["completion"]["total"]
        out[task] = (prompt, completion, (prompt * price["prompt"] + completion * price["completion"]) / 1e6)
    return out


def humaneval_rows():
    with gzip.open(DATA_DIR / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f][:HUMANEVAL_N]


class Model:
    """gsm8k right on ``right``; humaneval the canonical solution on CODE_RIGHT
    else a stub; mmlu_pro always (A)."""

    def __init__(self, right):
        self.gsm8k = Gsm8kModel(right)
        self.code = [(row["prompt"].strip(), row["prompt"] + (row["canonical_solution"] if i in CODE_RIGHT
                                                               else "    return None\n"))
                     for i, row in enumerate(humaneval_rows())]

    def __call__(self, payload):
        text = payload["messages"][-1]["content"]
        for prompt, program in self.code:
            if prompt in text:
                return f"```python\n{program}```"
        answer = self.gsm8k(payload)
        return "Answer: A" if answer == "I do not know." else answer


def run_pipeline(folder, model_id, right, gsm8k_n=GSM8K_N, api_endpoint=None):
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": gsm8k_n}},
             {"name": "humaneval", "overrides": {"config.params.limit_samples": HUMANEVAL_N}},
             {"name": "mmlu_pro", "overrides": {"config.params.limit_samples": MMLU_N}}]
    with FakeEndpoint(Model(right), model_id=model_id) as ep:
        cfg = write_config(folder.parent / f"{folder.name}.yaml", ep.chat_url, folder, tasks=tasks)
        data = yaml.safe_load(cfg.read_text())
        data["target"]["api_endpoint"].update(model_id=model_id, **(api_endpoint or {}))
        cfg.write_text(yaml.safe_dump(data, sort_keys=False))
        done = doit("-n", "3", f"config={cfg}")
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir, docker_client):
    # Deep folders: a page must call a run by its model, not by this path.
    deep = tmp_path_factory.mktemp("pages") / "nightly" / "2026-12-04" / "a-rather-long-folder-name-for-runs"
    deep.mkdir(parents=True)
    return {"A": run_pipeline(deep / "llama-run", "llama-3.1-8b-instruct", A_RIGHT, api_endpoint={"pricing": A_PRICE}),
            "B": run_pipeline(deep / "qwen-run", "qwen2.5-7b-instruct", B_RIGHT, api_endpoint={"pricing": B_PRICE})}


# Every element that sticks out of the window, unless it sits in something that
# scrolls on its own (a wide table in its .scroll box, a long line of code in its <pre>).
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = n => { const o = getComputedStyle(n).overflowX; return o === "auto" || o === "scroll"; };
  const out = [];
  for (const node of document.body.querySelectorAll("*")) {
    let inside = false;
    for (let p = node.parentElement; p && p !== document.body; p = p.parentElement) if (scrolls(p)) inside = true;
    const r = node.getBoundingClientRect();
    if (!inside && r.width > 0 && (r.right > width + 0.5 || r.left < -0.5))
      out.push(`${node.tagName}.${node.className.baseVal ?? node.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  if (document.documentElement.scrollWidth > width) out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
  return out;
}"""

# Every text of every chart that is not wholly inside its chart.
CLIPPED_CHART_TEXT = """() => {
  const out = [];
  for (const svg of document.querySelectorAll("svg.chart")) {
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll("text")) {
      const r = t.getBoundingClientRect();
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
        out.push(t.textContent);
    }
  }
  return out;
}"""


def assert_fits(page):
    assert page.evaluate(OVERFLOWING) == []
    assert page.evaluate(CLIPPED_CHART_TEXT) == []


def chart_texts(page, cls):
    return page.locator(f"svg.chart text.{cls}").all_text_contents()


@pytest.mark.parametrize("width", WIDTHS)
def test_summary_page_reads_at_a_glance(runs, browser, width):
    a = runs["A"]
    summary = json.loads((a / "summary.json").read_text())
    page, errors, requests = open_page(browser, (a / "summary.html").as_uri(), width)
    assert page.locator("h1").text_content() == "llama-3.1-8b-instruct"
    assert page.locator(".subtitle").text_content() == str(a)
    assert page.title().startswith("llama-3.1-8b-instruct")

    # The chart: a labelled axis with ticks, and each task's value and interval printed beside its bar.
    assert chart_texts(page, "label") == ["gsm8k accuracy", "humaneval pass@1", "mmlu_pro accuracy"]
    assert chart_texts(page, "tick") == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    assert chart_texts(page, "axis-title") == ["score (95% interval)"]
    low, high = stats.wilson(len(A_RIGHT), GSM8K_N)
    assert chart_texts(page, "value")[0] == f"{len(A_RIGHT) / GSM8K_N:.4f} [{low:.4f}, {high:.4f}]"
    assert f"{low:.4f} – {high:.4f}" in page.locator("#overview").text_content()

    # Tokens and cost per task, and in total, at the config's price.
    usage = spent(a, A_PRICE)
    for task, (prompt, completion, cost) in usage.items():
        row = page.locator("#overview tr", has=page.locator(f"a[href='#task-{task}']"))
        assert row.locator("td.tokens").text_content() == f"{prompt:,} / {completion:,}"
        assert row.locator("td.cost").text_content() == f"{cost:.4f} USD"
    total = page.locator("#overview tr.total")
    assert total.locator("td.cost").text_content() == f"{sum(c for _, _, c in usage.values()):.4f} USD"
    assert total.locator("td.tokens").text_content() == \
        f"{sum(p for p, _, _ in usage.values()):,} / {sum(c for _, c, _ in usage.values()):,}"

    # Provenance as a table; params as key: value.
    gsm8k = page.locator("#task-gsm8k")
    prov = next(t for t in summary["tasks"] if t["task"] == "gsm8k")["provenance"]
    table = gsm8k.locator("table.provenance")
    assert table.locator("tr", has_text="harness digest").locator("td").text_content() == prov["harness_digest"]
    assert table.locator("tr", has_text="benchmark version").locator("td").text_content() == str(prov["benchmark_version"])
    data = table.locator("table.datasets tr").nth(1).locator("td").all_text_contents()
    assert data == ["gsm8k/test.jsonl", str(GSM8K_N), prov["datasets"][0]["sha256"][:12]]
    assert "FakeEndpoint" in table.locator("tr", has_text="server").text_content()
    assert "{" not in gsm8k.text_content()                      # no JSON or Python dict anywhere
    params = gsm8k.locator("ul.params li").all_text_contents()
    assert f"limit_samples: {GSM8K_N}" in params and "extra.prompt_style: answer" in params

    # mmlu_pro's first 20 items are all one category: its per-category metrics would only repeat accuracy.
    mmlu = page.locator("#task-mmlu_pro")
    assert mmlu.locator("table.metrics tr").count() == 2
    assert "every item is in one category (business)" in mmlu.locator(".note").text_content()

    # humaneval's extracted program and gold in <pre> blocks, not in the one-line header.
    code = page.locator("#task-humaneval")
    code.locator("details.samples > summary").click()
    code.locator("details.sample").first.wait_for()
    first = code.locator("details.sample").first
    assert "lines, below" in first.locator("summary").text_content()
    first.locator("summary").click()
    extracted = first.locator("pre.code.extracted").text_content()
    assert extracted.startswith("from typing import List") and "def has_close_elements" in extracted
    assert "for idx, elem in enumerate(numbers)" in first.locator("pre.code.gold").text_content()
    assert_fits(page)
    assert errors == [] and requests == []

    # The markdown says the same: the model on top, provenance as a list, tokens and cost in total.
    md = evaltasks_cli("report", str(a)).stdout
    assert md.startswith("# llama-3.1-8b-instruct\n") and "{'" not in md
    assert f"- data `gsm8k/test.jsonl`: {GSM8K_N} rows, sha256 `{prov['datasets'][0]['sha256'][:12]}`" in md
    assert f"cost {sum(c for _, _, c in usage.values()):.4f} USD." in md


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_page_names_models_and_prints_small_p_values(runs, browser, tmp_path, width):
    a, b = runs["A"], runs["B"]
    page_file = tmp_path / "compare.html"
    done = evaltasks_cli("compare", str(a), str(b), "--format", "html", "-o", str(page_file))
    assert done.returncode == 0, done.stderr
    result = json.loads(evaltasks_cli("compare", str(a), str(b), "--format", "json").stdout)
    gsm8k = next(e for e in result["comparisons"][0]["tasks"] if e["task"] == "gsm8k")
    assert gsm8k["p_holm"] < 1e-9
    page, errors, requests = open_page(browser, page_file.as_uri(), width)
    labels = chart_texts(page, "label")
    assert labels == ["qwen2.5-7b-instruct: gsm8k", "qwen2.5-7b-instruct: humaneval", "qwen2.5-7b-instruct: mmlu_pro"]
    assert chart_texts(page, "centre-label") == ["no difference"]
    assert chart_texts(page, "axis-title") == ["B − A, llama-3.1-8b-instruct = A (95% interval)"]
    assert "0" in chart_texts(page, "tick")
    # The p-value as the markdown prints it (one rule), never 0.0000.
    p_cell = page.locator("tr[data-task=gsm8k] td.p").text_content()
    assert p_cell == compare.fmt(gsm8k["p_holm"]) and re.fullmatch(r"\d(\.\d+)?e-\d+", p_cell)
    markdown = evaltasks_cli("compare", str(a), str(b)).stdout
    assert f"| {p_cell} |" in markdown
    assert f"{gsm8k['diff']:+.4f} [{gsm8k['ci_low']:+.4f}, {gsm8k['ci_high']:+.4f}]" in chart_texts(page, "value")
    assert page.locator("h1").text_content() == "Compare with baseline llama-3.1-8b-instruct"
    for run, price, name in ((a, A_PRICE, "llama-3.1-8b-instruct"), (b, B_PRICE, "qwen2.5-7b-instruct")):
        usage, currency = spent(run, price), price.get("currency", "USD")
        for task, (prompt, completion, cost) in usage.items():
            row = page.locator(f"table.usage tr[data-run='{name}'][data-task={task}]")
            assert row.locator("td.num").all_text_contents() == [f"{prompt:,}", f"{completion:,}", f"{cost:.4f} {currency}"]
        total = page.locator(f"table.usage tr[data-run='{name}'][data-task=total] td.cost").text_content()
        assert total == f"{sum(c for _, _, c in usage.values()):.4f} {currency}"
        assert f"| {name} | total |" in markdown
    assert_fits(page)
    assert errors == [] and requests == []

    named = evaltasks_cli("compare", str(a), str(b), "--label", "base", "--label", "candidate",
                          "--format", "html", "-o", str(page_file))
    assert named.returncode == 0, named.stderr
    page.reload()
    assert chart_texts(page, "label")[0] == "candidate: gsm8k"
    one = evaltasks_cli("compare", str(a), str(b), "--label", "base")
    assert one.returncode == 2 and one.stderr.count("\n") == 1 and "--label" in one.stderr


# -- leaderboard ----------------------------------------------------------------
@pytest.fixture(scope="module")
def five(runs):
    """A and B, two more models, and a second llama run on only 30 gsm8k items."""
    root = runs["A"].parent
    return [runs["A"], runs["B"],
            run_pipeline(root / "mistral-run", "mistral-7b-instruct", set(range(0, GSM8K_N, 2))),
            run_pipeline(root / "gemma-run", "gemma-2-9b-it", set(range(0, GSM8K_N, 3))),
            run_pipeline(root / "llama-small", "llama-3.1-8b-instruct", A_RIGHT, gsm8k_n=30)]


def gsm8k_value(run):
    return json.loads((run / "gsm8k" / "results.json").read_text())["metrics"]["accuracy"]["value"]


@pytest.mark.parametrize("width", WIDTHS)
def test_leaderboard_page_sorts_and_links_to_each_summary(five, browser, tmp_path, width):
    page_file = tmp_path / "board" / "leaderboard.html"
    page_file.parent.mkdir()
    # A glob the shell did not expand, as from a script or quoted on the command line.
    done = evaltasks_cli("leaderboard", str(five[0].parent / "*-run"), str(five[4]),
                         "--format", "html", "-o", str(page_file))
    assert done.returncode == 0, done.stderr
    page, errors, requests = open_page(browser, page_file.as_uri(), width)
    models = lambda: page.locator("#leaderboard tbody td.model").all_text_contents()
    assert sorted(models()) == sorted(["llama-3.1-8b-instruct [llama-run]", "qwen2.5-7b-instruct",
                                       "mistral-7b-instruct", "gemma-2-9b-it", "llama-3.1-8b-instruct [llama-small]"])
    # Every cell: the value and its interval, as the run's own summary has them.
    for run in five:
        summary = json.loads((run / "summary.json").read_text())
        for t in summary["tasks"]:
            head = t["metrics"][0]
            cell = page.locator(f"#leaderboard tbody tr:has(td.model[title='{summary['output_dir']}']) "
                                f"td[data-task={t['task']}]")
            assert cell.locator("a").text_content() == f"{head['value']:.4f}"
            assert cell.locator(".ci").text_content() == f"[{head['ci_low']:.4f}, {head['ci_high']:.4f}]"
    # Tokens and cost: per cell and per run; runs made without a price show tokens only.
    a_cost = spent(five[0], A_PRICE)
    llama = page.locator("#leaderboard tbody tr", has_text="llama-run")
    assert llama.locator("td[data-task=gsm8k] .usage").text_content() == \
        f"{a_cost['gsm8k'][0]:,} / {a_cost['gsm8k'][1]:,} tokens · {a_cost['gsm8k'][2]:.4f} USD"
    assert llama.locator("td.cost").text_content() == f"{sum(c for _, _, c in a_cost.values()):.4f} USD"
    assert page.locator("#leaderboard tbody tr", has_text="mistral").locator("td.cost").text_content() == "–"

    # The 30-item gsm8k run is marked, and says why.
    small = page.locator("#leaderboard tbody tr", has_text="llama-small").locator("td[data-task=gsm8k]")
    assert "30 items (the others 60)" in small.locator(".mark").get_attribute("title")
    assert page.locator("#leaderboard tbody td.marked").count() == 1
    assert "gsm8k, llama-3.1-8b-instruct [llama-small]: 30 items (the others 60)" in page.locator("ul.notes").text_content()

    # Sort by gsm8k: high to low, a second click low to high.
    by_score = sorted(five, key=gsm8k_value)
    page.locator("button.sort[data-task=gsm8k]").click()
    values = [float(v) for v in page.locator("#leaderboard tbody td[data-task=gsm8k] a").all_text_contents()]
    assert values == sorted(values, reverse=True) and values[0] == float(f"{gsm8k_value(by_score[-1]):.4f}")
    assert models()[0] == "qwen2.5-7b-instruct"
    page.locator("button.sort[data-task=gsm8k]").click()
    assert models()[-1] == "qwen2.5-7b-instruct"
    assert [float(v) for v in page.locator("#leaderboard tbody td[data-task=gsm8k] a").all_text_contents()] == \
        sorted(values)
    assert_fits(page)

    # A cell's link opens that task in the run's own summary.
    page.locator("#leaderboard tbody tr", has_text="mistral").locator("td[data-task=humaneval] a").click()
    page.wait_for_url(re.compile(r".*/mistral-run/summary\.html#task=humaneval$"))
    page.locator("#task-humaneval details.sample").first.wait_for()
    assert page.locator("h1").text_content() == "mistral-7b-instruct"
    assert errors == [] and requests == []


def test_leaderboard_text_formats_mark_other_benchmark_versions(five, tmp_path):
    # A copy of the gemma run as if made with an older mmlu_pro: marked, not mixed in silently.
    old = tmp_path / "gemma-old"
    shutil.copytree(five[3], old)
    results = json.loads((old / "mmlu_pro" / "results.json").read_text())
    results["provenance"]["benchmark_version"] = 0
    (old / "mmlu_pro" / "results.json").write_text(json.dumps(results))
    refs = [str(r) for r in five[:4]] + [str(old)]
    board = json.loads(evaltasks_cli("leaderboard", *refs, "--format", "json").stdout)
    row = next(r for r in board["rows"] if r["output_dir"] == str(old))
    assert row["model"] == "gemma-2-9b-it [gemma-old]"
    current = json.loads((five[3] / "mmlu_pro" / "results.json").read_text())["provenance"]["benchmark_version"]
    assert row["cells"]["mmlu_pro"]["marks"] == [f"benchmark version 0 (the others {current})"]
    assert row["cells"]["gsm8k"]["marks"] == [] and row["mean_marked"]
    md = evaltasks_cli("leaderboard", *refs, "--label", "a", "--label", "b", "--label", "c", "--label", "d",
                       "--label", "old").stdout
    assert "| old | " in md and f"- † mmlu_pro, old: benchmark version 0 (the others {current})" in md
    low, high = stats.wilson(len(A_RIGHT), GSM8K_N)
    assert f"| a | {len(A_RIGHT) / GSM8K_N:.4f} [{low:.4f}, {high:.4f}] |" in md
    a_cost = spent(five[0], A_PRICE)
    assert f"| a | gsm8k | {a_cost['gsm8k'][0]:,} | {a_cost['gsm8k'][1]:,} | {a_cost['gsm8k'][2]:.4f} USD |" in md
    assert f"| a | total | {sum(p for p, _, _ in a_cost.values()):,} |" in md
    rows = evaltasks_cli("leaderboard", *refs, "--format", "csv").stdout.splitlines()
    assert rows[0] == ("model,output_dir,task,benchmark,metric,value,ci_low,ci_high,n,marks,"
                       "prompt_tokens,completion_tokens,cost,currency") and len(rows) == 1 + 5 * 3

    for bad in (["leaderboard", str(tmp_path / "nothing-*")], ["leaderboard", str(tmp_path / "absent")],
                ["leaderboard", *refs, "--label", "x"]):
        done = evaltasks_cli(*bad)
        assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, bad


# -- W&B export -----------------------------------------------------------------
def wandb_records(path):
    """Every record of an offline run's .wandb file, parsed with wandb's own protobuf
    (wandb.proto). The file is LevelDB's log format behind a 7-byte ':W&B' header:
    32 KiB blocks of chunks, each with a 7-byte header (crc, length, type: 1 full,
    2 first, 3 middle, 4 last); a block's tail shorter than a header is padding."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pos, pending, block = [], 7, b"", 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            break
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def test_wandb_export_offline_reads_back_from_the_run_file(runs, tmp_path):
    a = runs["A"]
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_API_KEY": "", "HOME": str(tmp_path)}
    done = evaltasks_cli("export", str(a), "--dest", "wandb", "--project", "evals", "--tag", "nightly", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    folders = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(folders) == 3                                  # one run per task
    assert done.stdout.count("upload with `wandb sync ") == 3
    summary = json.loads((a / "summary.json").read_text())
    by_task = {}
    for folder in folders:
        (file,) = folder.glob("run-*.wandb")
        records = wandb_records(file)
        run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
        key = lambda item: item.key or "/".join(item.nested_key)
        config = {key(item): json.loads(item.value_json) for item in run.config.update}
        final = {key(item): json.loads(item.value_json) for r in records if r.WhichOneof("record_type") == "summary"
                 for item in r.summary.update}
        artifacts = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
        by_task[config["task"]] = (run, config, final, artifacts)
    assert set(by_task) == {"gsm8k", "humaneval", "mmlu_pro"}
    run, config, final, artifacts = by_task["gsm8k"]
    assert run.project == "evals" and list(run.tags) == ["nightly"] and run.display_name.endswith("-gsm8k")
    gsm8k = next(t for t in summary["tasks"] if t["task"] == "gsm8k")
    assert config["model_id"] == "llama-3.1-8b-instruct" and config["params"]["limit_samples"] == GSM8K_N
    assert config["provenance"]["harness_digest"] == gsm8k["provenance"]["harness_digest"]
    assert config["cost"] == pytest.approx(spent(a, A_PRICE)["gsm8k"][2])
    low, high = stats.wilson(len(A_RIGHT), GSM8K_N)
    assert final["gsm8k/accuracy"] == len(A_RIGHT) / GSM8K_N
    assert (final["gsm8k/accuracy/ci_low"], final["gsm8k/accuracy/ci_high"]) == pytest.approx((low, high))
    (artifact,) = artifacts
    assert artifact.type == "evaluation-samples"
    assert {e.path for e in artifact.manifest.contents} >= {"samples.table.json", "results.json", "samples.jsonl"}
    # The samples table as staged for upload: one row per sample, as samples.jsonl has them.
    entry = next(e for e in artifact.manifest.contents if e.path == "samples.table.json")
    table = json.loads(open(entry.local_path).read())
    assert table["columns"][:3] == ["index", "prompt", "response"] and len(table["data"]) == GSM8K_N

    refused = evaltasks_cli("export", str(a), "--dest", "wandb", env={"WANDB_MODE": "", "WANDB_API_KEY": "",
                                                                      "HOME": str(tmp_path), "NETRC": ""})
    assert refused.returncode == 2 and "WANDB_MODE=offline" in refused.stderr and refused.stderr.count("\n") == 1


def test_auto_export_to_wandb_at_the_end_of_a_run(tmp_path, data_dir, docker_client):
    out = tmp_path / "results"
    auto = {"auto_export": {"destinations": ["wandb"],
                            "configs": {"wandb": {"project": "nightly", "tags": ["auto"], "log_metrics": ["accuracy"],
                                                  "extra_metadata": {"hardware": "laptop"}}}}}
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_API_KEY": "", "HOME": str(tmp_path)}
    with FakeEndpoint(Gsm8kModel(right=range(3))) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, execution=auto,
                           tasks=[{"name": "gsm8k", "overrides": {"config.params.limit_samples": 4}}])
        done = doit(f"config={cfg}", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    records = wandb_records(next(folder.glob("run-*.wandb")))
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.project == "nightly" and list(run.tags) == ["auto"]
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["hardware"] == "laptop" and config["task"] == "gsm8k"
    final = {item.key or "/".join(item.nested_key): json.loads(item.value_json)
             for r in records if r.WhichOneof("record_type") == "summary" for item in r.summary.update}
    assert final["gsm8k/accuracy"] == 0.75

    # A bad W&B setting is a config error: one line before anything runs.
    for wandb_config, problem in (({"log_mode": "multi_task"}, "log_mode: unallowed value multi_task"),
                                  ({"tags": "nightly"}, "tags: must be of list type"),
                                  ({"projekt": "x"}, "projekt: unknown key")):
        bad = write_config(tmp_path / "bad.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "other",
                           execution={"auto_export": {"destinations": ["wandb"], "configs": {"wandb": wandb_config}}})
        refused = doit(f"config={bad}", env=env)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stdout + refused.stderr
        assert f"execution.auto_export.configs.wandb.{problem}" in refused.stderr
        assert not (tmp_path / "other").exists()


def test_per_category_metrics_stay_when_there_are_several_categories(tmp_path, browser, docker_client, data_dir):
    # mmlu_pro's first 789 items are business, the next ones law: 800 items make two categories.
    out = tmp_path / "results"
    with FakeEndpoint(lambda payload: "Answer: A") as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=[
            {"name": "mmlu_pro", "overrides": {"config.params.limit_samples": 800, "config.params.parallelism": 16}}])
        done = doit(f"config={cfg}")
    assert done.returncode == 0, done.stdout + done.stderr
    page, errors, _ = open_page(browser, (out / "summary.html").as_uri())
    shown = page.locator("#task-mmlu_pro table.metrics tr td:first-child").all_text_contents()
    assert shown == ["accuracy", "macro_accuracy", "accuracy/business", "accuracy/law"]
    assert page.locator("#task-mmlu_pro .note").count() == 0 and errors == []
