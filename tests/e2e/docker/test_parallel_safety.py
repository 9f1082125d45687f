"""Every benchmark at parallelism 32, through real containers, with (near-)full
data: scoring runs in many threads at once from the first reply on, so anything
a benchmark imports or builds on first use is raced for (issue 8, item 1)."""

import gzip
import json
import subprocess
import sys

import pytest

from conftest import DATA_DIR, REPO, doit, results, write_config
from support.endpoint import FakeEndpoint

RECORDED = DATA_DIR.parent / "reference" / "ifeval" / "input_response_data_gpt4_20231107_145030.jsonl"
PARALLELISM = 32
# Sizes: IFEval whole (its scorer is the one that raced); the others whole or
# near-full where that stays cheap on two cores.
SIZES = {"ifeval": None, "gsm8k": None, "math500": None, "humaneval": None, "mmlu_pro": 1000}


def jsonl(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def responder():
    """GPT-4's recorded IFEval replies, HumanEval's canonical solutions (so every
    sandboxed test run happens), and a letter for everything else."""
    ifeval = {r["prompt"]: r["response"] for r in jsonl(RECORDED)}
    humaneval = [(r["prompt"].rstrip(), r["prompt"] + r["canonical_solution"])
                 for r in jsonl(DATA_DIR / "humaneval" / "HumanEval.jsonl.gz")]

    def respond(payload):
        text = payload["messages"][-1]["content"]
        if text in ifeval:
            return ifeval[text]
        if "```python" in text:
            return next(f"```python\n{code}```" for prompt, code in humaneval if prompt in text)
        return "Working.\nAnswer: A"
    return respond


def serial_ifeval_metrics(out):
    """IFEval's metrics recomputed here, one sample after another, from the
    replies the run recorded in samples.jsonl."""
    from evaltasks.harness.benchmarks import ifeval

    items = ifeval.load(str(DATA_DIR / "ifeval"))
    rows = jsonl(out / "ifeval" / "samples.jsonl")
    assert [r["index"] for r in rows] == list(range(len(items)))
    return ifeval.metrics([ifeval.score(ifeval.extract(r["response"]), item)
                           for r, item in zip(rows, items)], {})


# In a fresh interpreter, 32 threads released at once score IFEval replies that
# need every text tool (sentences, words, language), then compare with one thread.
FIRST_USE_FROM_THREADS = r"""
import sys, threading
from evaltasks.harness.benchmarks import ifeval
items = ifeval.load(sys.argv[1])
wanted = {"change_case:capital_word_frequency", "length_constraints:number_sentences",
          "language:response_language", "change_case:english_lowercase"}
items = [i for i in items if wanted & set(i["instruction_id_list"])][:32]
reply = "THIS IS IT. Really it is, Dr. Smith said so! Ein kurzer Satz auf Deutsch."
start, results, errors = threading.Barrier(len(items)), {}, []
def score(n):
    start.wait()
    try:
        results[n] = ifeval.score(reply, items[n])
    except BaseException as e:
        errors.append(repr(e))
threads = [threading.Thread(target=score, args=(n,)) for n in range(len(items))]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors[0]
assert [results[n] for n in range(len(items))] == [ifeval.score(reply, i) for i in items]
print(len(items))
"""


def test_ifeval_scores_from_many_threads_on_first_use():
    run = subprocess.run([sys.executable, "-c", FIRST_USE_FROM_THREADS, str(DATA_DIR / "ifeval")],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "32"


@pytest.mark.docker
def test_every_benchmark_is_safe_at_parallelism_32(tmp_path, docker_client):
    out = tmp_path / "results"
    params = {"config.params.parallelism": PARALLELISM}
    tasks = [{"name": name, "overrides": dict(params, **({"config.params.limit_samples": size} if size else {}))}
             for name, size in SIZES.items()]
    # 6 gpqa questions in 16 shuffled repeats make 96 samples.
    tasks.append({"name": "gpqa_diamond", "overrides": dict(params, **{"config.params.limit_samples": 6,
                                                                        "config.params.extra.n_repeats": 16})})
    with FakeEndpoint(responder()) as ep:
        cfg = write_config(tmp_path / "stress.yaml", ep.chat_url, out, tasks=tasks)
        run = doit("-n", "2", "--continue", f"config={cfg}", timeout=1500)
    logs = {t["name"]: (out / t["name"] / "logs" / "stdout.log") for t in tasks}
    failed = {name: log.read_text()[-2000:] for name, log in logs.items()
              if not (out / name / "results.json").exists()}
    assert not failed, failed
    assert run.returncode == 0, run.stdout + run.stderr

    expected = {"ifeval": 541, "gsm8k": 1319, "math500": 500, "humaneval": 164, "mmlu_pro": 1000,
                "gpqa_diamond": 96}
    for name, samples in expected.items():
        r = results(out, name)
        assert (r["samples"], r["failed_samples"]) == (samples, 0), name
        assert r["params"]["parallelism"] == PARALLELISM
    assert results(out, "humaneval")["metrics"]["pass@1"]["value"] == 1.0
    ifeval = results(out, "ifeval")["metrics"]
    for name, metric in serial_ifeval_metrics(out).items():
        assert ifeval[name]["value"] == pytest.approx(metric["value"], abs=1e-12), name
