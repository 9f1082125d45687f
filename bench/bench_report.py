"""Page weight and load time of summary.html on full MMLU-Pro (12,032 samples).

Builds one mmlu_pro task folder with the harness's own code (load, prompt,
extract, score, metrics) and the real answers Llama-3.1-8B-Instruct gave
(TIGER-Lab's recorded outputs, ../shared/reference/mmlu_pro), so prompts and
responses have their real lengths; then times the summary task's action
(summary.md/.csv/.json/.html) and opens the page in headless Chromium
(Debian's chromium via Playwright) from file://: time to the load event, to
the first page of samples, to the wrong ones, and to a search.

    python bench/bench_report.py [--repeat 3]

Record the figures in bench/RESULTS.md with the machine and date.
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from conftest import DATA_DIR, REFERENCE_DIR  # noqa: E402
from evaltasks.harness.benchmarks import mmlu_pro  # noqa: E402
from evaltasks.report import summary  # noqa: E402


def build_task(folder):
    """results.json + samples.jsonl of a full mmlu_pro run, zero-shot prompts, recorded answers."""
    zip_path = REFERENCE_DIR / "mmlu_pro" / "model_outputs_Meta-Llama-3_1-8B-Instruct_5shots.zip"
    with zipfile.ZipFile(zip_path) as z:
        recorded = {r["question_id"]: r["generated_text"] for r in json.loads(z.read(z.namelist()[0]))}
    items = mmlu_pro.load(str(DATA_DIR / "mmlu_pro"))
    params = {"limit_samples": None, "temperature": 0.0, "extra": {}}
    rows = []
    for index, item in enumerate(items):
        response = recorded.get(item["question_id"], "")
        extracted = mmlu_pro.extract(response)
        rows.append(dict({"index": index, "prompt": mmlu_pro.prompt(item, params), "response": response,
                          "extracted": extracted, "gold": item["gold"]}, **mmlu_pro.score(extracted, item)))
    task = folder / "mmlu_pro"
    task.mkdir(parents=True)
    with open(task / "samples.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    results = {"task": "mmlu_pro", "benchmark": "mmlu_pro", "model_id": "meta/llama-3.1-8b-instruct",
               "endpoint": {"url": "http://127.0.0.1:8000/v1/chat/completions"}, "params": params,
               "samples": len(rows), "failed_samples": 0, "metrics": mmlu_pro.metrics(rows, params),
               "duration_s": 0.0}
    (task / "results.json").write_text(json.dumps(results))
    return len(rows), (task / "samples.jsonl").stat().st_size


def browse(page_path, repeat):
    from playwright.sync_api import sync_playwright

    timings = {"load event": [], "first page of samples": [], "filter to wrong": [], "search": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu"])
        for _ in range(repeat):
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            start = time.perf_counter()
            page.goto(page_path.as_uri(), wait_until="load")
            timings["load event"].append(time.perf_counter() - start)
            section = page.locator("#task-mmlu_pro")
            start = time.perf_counter()
            section.locator("details.samples > summary").click()
            section.locator("details.sample").first.wait_for()
            timings["first page of samples"].append(time.perf_counter() - start)
            start = time.perf_counter()
            section.locator("select.filter").select_option("wrong")
            page.wait_for_function("document.querySelector('#task-mmlu_pro .count').textContent.includes('of 6')")
            timings["filter to wrong"].append(time.perf_counter() - start)
            start = time.perf_counter()
            section.locator("input.search").fill("photosynthesis")
            page.wait_for_function("!document.querySelector('#task-mmlu_pro .count').textContent.includes('of 6')")
            timings["search"].append(time.perf_counter() - start - 0.15)    # less the input debounce
            assert not errors, errors
            page.close()
        browser.close()
    return timings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "results"
        n, samples_bytes = build_task(folder)
        made = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            summary.write_all(str(folder))
            made.append(time.perf_counter() - start)
        html = folder / "summary.html"
        print(f"samples: {n}; samples.jsonl {samples_bytes / 1e6:.1f} MB; "
              f"summary.html {html.stat().st_size / 1e6:.2f} MB")
        print(f"summary task (all four files): median {statistics.median(made):.2f} s "
              f"(min {min(made):.2f}, max {max(made):.2f})")
        for what, values in browse(html, args.repeat).items():
            print(f"{what}: median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
