"""The statistics of report/compare, each checked against an independent
implementation on the same counts: scipy's binomial test for exact McNemar, a
hand-written percentile bootstrap with the same seed, statsmodels-free Holm by
enumeration, and the normal-approximation power formula."""

import math
import random

import numpy as np
import pytest
from scipy import stats as sps

from evaltasks.report import stats


@pytest.mark.parametrize("a_only,b_only", [(0, 7), (3, 12), (10, 10), (1, 0), (40, 61)])
def test_exact_mcnemar_is_the_two_sided_binomial_test_on_discordant_pairs(a_only, b_only):
    expected = sps.binomtest(b_only, a_only + b_only, 0.5, alternative="two-sided").pvalue
    assert stats.mcnemar_exact(a_only, b_only) == pytest.approx(expected, rel=1e-12)
    # Symmetric in which run is A.
    assert stats.mcnemar_exact(b_only, a_only) == pytest.approx(expected, rel=1e-12)


def test_exact_mcnemar_small_counts_by_hand():
    # 0 vs 7 discordant: p = 2 · 0.5^7.
    assert stats.mcnemar_exact(0, 7) == pytest.approx(2 * 0.5 ** 7)
    assert stats.mcnemar_exact(0, 0) == 1.0


def test_wilson_matches_the_closed_form():
    for successes, n in [(8, 12), (0, 20), (20, 20), (5432, 12032)]:
        z = sps.norm.ppf(0.975)
        p = successes / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low, high = stats.wilson(successes, n)
        assert low == pytest.approx(max(0.0, centre - half), abs=1e-12)
        assert high == pytest.approx(min(1.0, centre + half), abs=1e-12)


def test_wilson_is_scipys_wilson():
    # Ours is a closed form (importing scipy costs every run ~1 s); scipy's is the reference.
    for n in (1, 2, 7, 20, 541, 12032):
        for successes in sorted({0, 1, n // 3, n // 2, n - 1, n} - {-1}):
            ci = sps.binomtest(successes, n).proportion_ci(0.95, method="wilson")
            assert stats.wilson(successes, n) == pytest.approx((ci.low, ci.high), abs=1e-12), (successes, n)


def reference_bootstrap(values, resamples, seed):
    """Percentile bootstrap of the mean, written out: draw n indices with
    replacement, ``resamples`` times, from numpy's default_rng(seed)."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=float)
    means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(resamples)]
    return np.percentile(means, 2.5), np.percentile(means, 97.5)


def test_bootstrap_interval_agrees_with_a_reference_bootstrap():
    rng = random.Random(7)
    # pass@k-like per-problem values in [0, 1].
    values = [rng.choice([0, 0.25, 0.5, 0.75, 1.0]) for _ in range(150)]
    low, high = stats.bootstrap_mean(values)
    ref_low, ref_high = reference_bootstrap(values, 20000, 1)
    # Two independent Monte-Carlo estimates of the same percentiles.
    assert low == pytest.approx(ref_low, abs=0.012)
    assert high == pytest.approx(ref_high, abs=0.012)
    assert low < np.mean(values) < high
    # Fixed seed: the same interval every time.
    assert stats.bootstrap_mean(values) == (low, high)


def test_sign_flip_test_is_exact_on_small_samples():
    d = [0.5, 0.25, 0.75, -0.25, 0.5]
    # Every one of the 2^5 sign patterns, by hand: the share whose |mean| ≥ observed.
    observed = abs(np.mean(d))
    patterns = [np.mean([s * x for s, x in zip(signs, d)])
                for signs in np.array(np.meshgrid(*[[-1, 1]] * len(d))).T.reshape(-1, len(d))]
    expected = np.mean([abs(m) >= observed - 1e-12 for m in patterns])
    assert stats.sign_flip_test(d) == pytest.approx(expected)
    assert stats.sign_flip_test([0, 0, 0]) == 1.0


def test_holm_by_definition():
    p = [0.01, 0.04, 0.03, 0.2]
    # sorted: 0.01·4, 0.03·3, 0.04·2, 0.2·1 → 0.04, 0.09, 0.09 (monotone), 0.2
    assert stats.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_minimum_detectable_effect_is_the_normal_power_formula():
    rng = np.random.default_rng(3)
    d = rng.choice([-1, 0, 1], size=400, p=[0.1, 0.8, 0.1])
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert stats.minimum_detectable_effect(d) == pytest.approx(z * d.std(ddof=1) / 20)
    # Two runs that agree everywhere: the floor (z²/n), not zero.
    assert stats.minimum_detectable_effect(np.zeros(100)) == pytest.approx(z * z / 100)
    # More items detect smaller effects.
    assert stats.minimum_detectable_effect(np.zeros(1000)) < stats.minimum_detectable_effect(np.zeros(100))
    # Six items can detect nothing: capped at the largest possible difference.
    assert stats.minimum_detectable_effect(np.zeros(6)) == 1.0


def test_compare_says_when_benchmark_version_or_data_differ():
    from evaltasks.report import compare, load

    def task(version, digest, scores):
        rows = [{"index": i, "question_id": i, "score": s} for i, s in enumerate(scores)]
        results = {"task": "t", "benchmark": "mmlu_pro", "metrics": {"accuracy": {"value": 0, "n": len(rows)}},
                   # results.json's shape (harness/provenance.py): a list of files (issue 21: a dict here hid a crash)
                   "provenance": {"version": version,
                                  "datasets": [{"file": "test.json", "sha256": digest, "rows": len(rows)}]}}
        return load.Task("t", "/nowhere", results, rows)

    a, b = task("1", "aaa", [1, 0, 1, 0]), task("2", "bbb", [1, 1, 1, 0])
    entry = compare.pair(a, b)
    assert "benchmark version differs: 1 vs 2" in entry["notes"]
    assert "dataset files differ: test.json" in entry["notes"]
    assert compare.pair(a, task("1", "aaa", [0, 0, 0, 0]))["notes"] == []
    # One run without provenance (made before it existed): nothing to say.
    a.results.pop("provenance")
    assert compare.provenance_notes(a, b) == []
    # Paired by question_id, not position: B's rows in another order pair the same items.
    shuffled = task("1", "aaa", [1, 1, 1, 0])
    shuffled.rows = [dict(row, index=i) for i, row in enumerate(reversed(shuffled.rows))]
    assert compare.pair(b, shuffled)["flips"] == []


def test_repeated_samples_are_clustered_by_problem():
    """humaneval with n_samples=4: the interval is over the 30 problems, not the 120 samples."""
    from evaltasks.harness.benchmarks.humaneval import metrics
    from evaltasks.harness.codegen import pass_at_k
    from evaltasks.report import load, summary

    rng = random.Random(5)
    rows = [{"index": 4 * p + s, "task_id": f"HumanEval/{p}", "sample": s,
             "score": float(rng.random() < p / 30), "passed": None} for p in range(30) for s in range(4)]
    for row in rows:
        row["passed"] = bool(row["score"])
    results = {"task": "he", "benchmark": "humaneval", "metrics": metrics(rows, {})}
    rows_by_metric = {m["name"]: m for m in summary.metric_rows(load.Task("he", "/nowhere", results, rows))}
    head = rows_by_metric["pass@1"]
    assert head["n"] == 30 and head["method"] == "bootstrap over items"
    per_problem = [sum(r["score"] for r in rows[4 * p:4 * p + 4]) / 4 for p in range(30)]
    assert (head["ci_low"], head["ci_high"]) == stats.bootstrap_mean(per_problem)
    ref_low, ref_high = reference_bootstrap(per_problem, 20000, 2)
    assert head["ci_low"] == pytest.approx(ref_low, abs=0.03) and head["ci_high"] == pytest.approx(ref_high, abs=0.03)
    pass2 = rows_by_metric["pass@2"]
    values = [pass_at_k(4, int(sum(r["score"] for r in rows[4 * p:4 * p + 4])), 2) for p in range(30)]
    assert pass2["n"] == 30 and pass2["value"] == pytest.approx(np.mean(values))
    assert (pass2["ci_low"], pass2["ci_high"]) == stats.bootstrap_mean(values)


def test_instruction_level_rates_bootstrap_whole_prompts():
    """ifeval's instruction-level accuracy: Σ followed / Σ instructions, resampling
    prompts (each with all its instructions), against a written-out reference."""
    rng = np.random.default_rng(11)
    total = rng.integers(1, 4, size=120)
    right = np.array([rng.integers(0, t + 1) for t in total])
    low, high, method = stats.ratio_interval(right, total)
    assert method == "bootstrap over items (ratio)"
    ref = np.random.default_rng(4)
    ratios = []
    for _ in range(20000):
        pick = ref.integers(0, len(total), len(total))
        ratios.append(right[pick].sum() / total[pick].sum())
    assert low == pytest.approx(np.percentile(ratios, 2.5), abs=0.012)
    assert high == pytest.approx(np.percentile(ratios, 97.5), abs=0.012)
    # All instructions in one prompt: nothing to resample; Wilson on the counts.
    assert stats.ratio_interval([2], [3])[:2] == stats.wilson(2, 3)
