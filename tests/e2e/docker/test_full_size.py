"""Whole benchmarks (mmlu, math, mgsm, aime, bbh, gpqa ×3, mbpp) at parallelism 32, through doit and a real harness container,
against a scripted endpoint: every question gets a reply in the reference's
answer format, seeded right, wrong or malformed (the same scripts as each
benchmark's own test), and the scores are exactly what the draw implies.

bench/bench_full_size.py runs the same cases and records wall time and the
launcher's peak memory in bench/RESULTS.md."""

import json
import subprocess
import sys
import time

import pytest

from conftest import REPO, write_config
from support.endpoint import FakeEndpoint
from support.scripted import Replies, draw, script

pytestmark = pytest.mark.docker
PARALLELISM = 32


def mmlu_case(data_dir):
    """(task name, replies by prompt or a responder, {metric: expected value},
    samples[, task overrides]) for all 14,042."""
    from unit.harness.benchmarks import test_mmlu

    ref = test_mmlu.reference()
    raw = test_mmlu.rows(data_dir)
    replies, right = script([ref["format_multichoice_question"](r) for r in raw], [r["Answer"] for r in raw],
                            draw(len(raw), "mmlu"), test_mmlu.reply)
    expected = {"accuracy": sum(right) / len(raw)}
    for category in ("stem", "humanities", "social_sciences", "other"):
        picked = [ok for ok, r in zip(right, raw) if ref["subject2category"][r["Subject"]] == category]
        expected[f"accuracy/{category}"] = sum(picked) / len(picked)
    for subject in {r["Subject"] for r in raw}:
        picked = [ok for ok, r in zip(right, raw) if r["Subject"] == subject]
        expected[f"accuracy/{subject}"] = sum(picked) / len(picked)
    return "mmlu", replies, expected, len(raw)


def math_case(data_dir):
    from unit.harness.benchmarks import test_math

    ref, raw = test_math.reference(), test_math.rows(data_dir)
    replies, right = script([ref["QUERY_TEMPLATE"].format(**r) for r in raw], [r["Answer"] for r in raw],
                            draw(len(raw), "math"), test_math.reply)
    return "math", replies, {"accuracy": sum(right) / len(raw)}, len(raw)


def mgsm_case(data_dir):
    from unit.harness.benchmarks import test_mgsm

    ref, raw = test_mgsm.reference(), test_mgsm.rows(data_dir)
    prompts = [ref["LANG_TO_INSTRUCTIONS"][lang].format(input=q) for lang, q, _ in raw]
    replies, right = script(prompts, [g for _, _, g in raw], draw(len(raw), "mgsm"),
                            lambda kind, gold, i: test_mgsm.reply_for(ref, raw[i][0])(kind, gold, i))
    per_language = {lang: sum(r for r, (l, _, _) in zip(right, raw) if l == lang) / 250
                    for lang in ref["ALL_LANGUAGES"]}
    expected = {f"accuracy/{lang}": v for lang, v in per_language.items()}
    expected["accuracy"] = sum(per_language.values()) / len(per_language)
    expected["accuracy/non_en"] = sum(v for k, v in per_language.items() if k != "en") / (len(per_language) - 1)
    return "mgsm", replies, expected, len(raw)


def aime_case(name):
    """All 30 problems, each asked 8 times at temperature 0.7 (seeded repeats)."""
    def case(data_dir):
        from unit.harness.benchmarks import test_aime

        ref, raw = test_aime.reference(), test_aime.rows(data_dir, name)
        kinds = test_aime.plan(name, len(raw), 8, "aime-full")
        overrides = {"config.params.extra.n_samples": 8, "config.params.temperature": 0.7,
                     "config.params.seed": test_aime.SEED}
        return (name, test_aime.responder(ref, raw, kinds), test_aime.expected(kinds, [r["expected_answer"] for r in raw]),
                len(raw) * 8, overrides)
    return case


QUESTION = "Q: {}\nA: Let's think step by step.\n"


def bbh_case(data_dir):
    from unit.harness.benchmarks import test_bbh

    rows = test_bbh.raw_rows()
    replies = test_bbh.script(rows)
    right = test_bbh.expected_right(rows, replies)

    def respond(payload):
        question = payload["messages"][-1]["content"]
        assert question.startswith("Q: ") and question.endswith(QUESTION.format("")[3:])
        return replies[question[3:-len(QUESTION.format("")[3:])]][2]

    per_task = {}
    for (task, _, _), ok in zip(rows, right):
        per_task.setdefault(task, []).append(ok)
    expected = {f"exact_match/{t}": sum(v) / len(v) for t, v in per_task.items()}
    expected["exact_match"] = sum(right) / len(rows)
    expected["exact_match_macro"] = sum(expected[f"exact_match/{t}"] for t in per_task) / len(per_task)
    return "bbh", respond, expected, len(rows), {}


def gpqa_case(subset, data_dir):
    from unit.harness.benchmarks import test_gpqa

    wrong, malformed = test_gpqa.seeded_split(subset)
    model = test_gpqa.ScriptedModel(subset, wrong, malformed)
    rows = test_gpqa.official_rows(subset)
    right = [r for r in rows if r["Record ID"] not in wrong | malformed]
    expected = {"accuracy": len(right) / len(rows)}
    for domain in ("Physics", "Chemistry", "Biology"):
        of_domain = [r for r in rows if r["High-level domain"] == domain]
        expected[f"accuracy/{domain}"] = sum(r in right for r in of_domain) / len(of_domain)
    return f"gpqa_{subset}", lambda payload: model(payload["messages"][-1]["content"]), expected, len(rows), {}


def mbpp_case(data_dir):
    from unit.harness.benchmarks import test_mbpp

    respond, right = test_mbpp.seeded_mix()
    assert 0.3 < len(right) / 257 < 0.8
    # The machine is shared: a generous timeout keeps slow-but-correct programs (task 123) passing.
    return "mbpp", respond, {"pass@1": len(right) / 257}, 257, {"config.params.extra.timeout": 30.0}


CASES = {"mmlu": mmlu_case, "math": math_case, "mgsm": mgsm_case,
         "aime_2024": aime_case("aime_2024"), "aime_2025": aime_case("aime_2025"),
         "bbh": bbh_case, "mbpp": mbpp_case,
         **{f"gpqa_{s}": (lambda data_dir, s=s: gpqa_case(s, data_dir)) for s in ("main", "extended", "diamond")}}


def run_full(case, data_dir, tmp_path):
    """Run one whole benchmark through doit; (results.json, samples, wall seconds,
    the launcher's peak resident memory in MiB)."""
    task, replies, expected, size, *overrides = CASES[case](data_dir)
    out = tmp_path / "out"
    with FakeEndpoint(replies if callable(replies) else Replies(replies)) as ep:
        cfg = write_config(tmp_path / f"{case}.yaml", ep.chat_url, out, tasks=[
            {"name": task, "overrides": {"config.params.parallelism": PARALLELISM, **(overrides or [{}])[0]}}])
        # A child that runs doit and reports the peak RSS of what it waited for.
        probe = ("import resource, subprocess, sys\n"
                 "rc = subprocess.run(sys.argv[1:], cwd=%r).returncode\n"
                 "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
                 "sys.exit(rc)\n" % str(REPO))
        start = time.monotonic()
        run = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "doit", "-n", "1", f"config={cfg}"],
                             capture_output=True, text=True, timeout=3600)
        wall = time.monotonic() - start
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    peak_kb = int(run.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    results = json.loads((out / task / "results.json").read_text())
    samples = [json.loads(line) for line in (out / task / "samples.jsonl").read_text().splitlines()]
    assert not list(out.rglob("gpqa_*.csv")), "an unpacked gpqa file was left in the output"
    return results, samples, expected, size, wall, peak_kb / 1024


@pytest.mark.parametrize("case", sorted(CASES))
def test_whole_benchmark_scores_exactly_what_the_replies_imply(case, data_dir, tmp_path):
    results, samples, expected, size, wall, peak = run_full(case, data_dir, tmp_path)
    assert results["samples"] == size == len(samples) and results["failed_samples"] == 0
    assert results["params"]["parallelism"] == PARALLELISM
    for name, value in expected.items():
        assert results["metrics"][name]["value"] == pytest.approx(value, abs=1e-12), name
    print(f"{case}: {size} samples in {wall:.1f} s, launcher peak {peak:.0f} MiB")
