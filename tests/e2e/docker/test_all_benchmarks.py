"""All six benchmarks in one config, each in its own container, against an
endpoint whose scripted answers fix every score in advance."""

import gzip
import json
import re
from fractions import Fraction

import pytest

from conftest import DATA_DIR, doit, reference, results, write_config
from support.endpoint import FakeEndpoint
from support.gpqa_official import official_rows

pytestmark = pytest.mark.docker
N = 8
RIGHT = {0, 2, 3, 5, 7}          # items answered correctly in every benchmark: 5 of 8


def rows_jsonl(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def scripted():
    """(match, reply) pairs: a request whose last message contains ``match``
    gets ``reply``. Built from the raw data files, not from our modules."""
    pairs = []
    for i, row in enumerate(rows_jsonl(DATA_DIR / "gsm8k" / "test.jsonl")[:N]):
        gold = row["answer"].split("####")[-1].strip().replace(",", "")
        pairs.append((row["question"], f"Step by step.\nAnswer: {gold if i in RIGHT else int(gold) + 1}"))
    for i, row in enumerate(json.loads((DATA_DIR / "mmlu_pro" / "test.json").read_text())[:N]):
        wrong = "ABCDEFGHIJ"[(row["answer_index"] + 1) % len(row["options"])]
        pairs.append((row["question"], f"Thinking.\nAnswer: {row['answer'] if i in RIGHT else wrong}"))
    for i, row in enumerate(rows_jsonl(DATA_DIR / "math500" / "test.jsonl")[:N]):
        pairs.append((row["problem"], f"Work.\nAnswer: {row['answer'] if i in RIGHT else '98765'}"))
    for i, row in enumerate(rows_jsonl(DATA_DIR / "humaneval" / "HumanEval.jsonl.gz")[:N]):
        body = row["canonical_solution"] if i in RIGHT else "    return None\n"
        pairs.append((row["prompt"].strip(), f"```python\n{row['prompt']}{body}```"))
    for i, row in enumerate(official_rows("diamond")[:N]):
        pairs.append((f"\n\n{row['Question']}\n\nA) ", ("gpqa", row["Correct Answer"], i in RIGHT)))
    recorded = recorded_ifeval()
    for row in rows_jsonl(DATA_DIR / "ifeval" / "input_data.jsonl")[:N]:
        pairs.append((row["prompt"], recorded[row["prompt"]]))
    return pairs


def recorded_ifeval():
    """Google's recorded GPT-4 replies, by prompt."""
    return {r["prompt"]: r["response"] for r in
            rows_jsonl(reference("ifeval", "input_response_data_gpt4_20231107_145030.jsonl"))}


def make_responder(pairs):
    def respond(payload):
        text = payload["messages"][-1]["content"]
        for match, reply in pairs:
            if match in text:
                if isinstance(reply, tuple):       # gpqa: find the letter the shuffle gave the right answer
                    _, correct, right = reply
                    tail = text.split(match, 1)[1]
                    options = re.fullmatch(r"(.*)\nB\) (.*)\nC\) (.*)\nD\) (.*)", tail, re.S).groups()
                    letter = "ABCD"[options.index(correct)]
                    return f"Answer: {letter if right else 'ABCD'[('ABCD'.index(letter) + 1) % 4]}"
                return reply
        raise AssertionError(f"no scripted answer for {text[:80]!r}")
    return respond


def expected_ifeval():
    """IFEval scores of the recorded responses, from the reference-checked scorer."""
    from evaltasks.harness.benchmarks import ifeval

    items = ifeval.load(str(DATA_DIR / "ifeval"))[:N]
    recorded = recorded_ifeval()
    samples = []
    for item in items:
        text = recorded[item["prompt"]] if "prompt" in item else None
        samples.append(ifeval.score(ifeval.extract(text), item))
    return ifeval.metrics(samples, {})


def test_six_benchmarks_score_exactly_what_the_answers_imply(tmp_path, docker_client):
    out = tmp_path / "results"
    names = ["gsm8k", "mmlu_pro", "math500", "humaneval", "gpqa_diamond", "ifeval"]
    tasks = [{"name": n, "overrides": {"config.params.limit_samples": N, "config.params.parallelism": 4}}
             for n in names]
    with FakeEndpoint(make_responder(scripted())) as ep:
        cfg = write_config(tmp_path / "six.yaml", ep.chat_url, out, tasks=tasks)
        run = doit("-n", "3", f"config={cfg}", timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr

    five_of_eight = Fraction(5, 8)
    assert Fraction(results(out, "gsm8k")["metrics"]["accuracy"]["value"]).limit_denominator(100) == five_of_eight
    assert Fraction(results(out, "mmlu_pro")["metrics"]["accuracy"]["value"]).limit_denominator(100) == five_of_eight
    assert Fraction(results(out, "math500")["metrics"]["accuracy"]["value"]).limit_denominator(100) == five_of_eight
    assert Fraction(results(out, "humaneval")["metrics"]["pass@1"]["value"]).limit_denominator(100) == five_of_eight
    assert Fraction(results(out, "gpqa_diamond")["metrics"]["accuracy"]["value"]).limit_denominator(100) == five_of_eight
    ifeval = results(out, "ifeval")["metrics"]
    for name, metric in expected_ifeval().items():
        assert ifeval[name]["value"] == pytest.approx(metric["value"], abs=1e-12), name
    for name in names:
        r = results(out, name)
        assert all({"value", "stderr", "n"} <= set(m) for m in r["metrics"].values()), name
        lines = (out / name / "samples.jsonl").read_text().splitlines()
        assert len(lines) == r["samples"], name
        assert_provenance(r, name, out, rows=N)


def assert_provenance(r, name, out, rows):
    """results.json says what produced it: code, runtime, data as read, server."""
    import hashlib

    from evaltasks import __version__
    from evaltasks.executors import bundle
    from evaltasks.harness import benchmarks

    bench = benchmarks.resolve(name)
    p = r["provenance"]
    assert p["evaltasks_version"] == __version__
    assert p["harness_digest"] == bundle.task_code_digest(bench.module), name
    assert p["benchmark_version"] == bench.version, name
    assert p["runtime"]["executor"] == "docker" and p["runtime"]["image"].startswith("evaltasks-harness:")
    assert p["runtime"]["image_id"].startswith("sha256:") and re.fullmatch(r"3\.\d+\.\d+", p["runtime"]["python"])
    folder = DATA_DIR / bench.dataset
    assert [d["file"] for d in p["datasets"]] == [f"{bench.dataset}/{f.name}" for f in bench.files]
    for d, data_file in zip(p["datasets"], bench.files):
        assert d["sha256"] == hashlib.sha256((folder / data_file.name).read_bytes()).hexdigest(), d
        assert d["source"].endswith(f"/{bench.dataset}/{data_file.name}"), d     # the local copy's path
    assert p["datasets"][0]["rows"] == rows
    assert p["server"] == {"models": ["test-model"], "system_fingerprint": [],
                           "server_header": p["server"]["server_header"]}
    assert p["server"]["server_header"].startswith("FakeEndpoint/1.0"), p["server"]
    assert (out / name / "run_config.yml").is_file()
