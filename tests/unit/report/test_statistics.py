"""The statistics of report/compare, each checked against values worked out by
hand or an independent implementation on the same counts: exact McNemar and
exact sign-flip p-values from counting, a hand-written percentile bootstrap with
the same seed, Holm by definition, and the normal-approximation power formula;
then the same figures as ``evaltasks compare`` prints them for runs on disk."""

import json
import math
import random
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps

from conftest import evaltasks_cli
from evaltasks.report import stats


def exact_mcnemar_by_counting(a_only, b_only):
    """2·P(X ≤ min) for X ~ Binomial(a_only + b_only, ½), capped at 1: in exact fractions."""
    n = a_only + b_only
    tail = sum(Fraction(math.comb(n, k), 2 ** n) for k in range(min(a_only, b_only) + 1))
    return min(Fraction(1), 2 * tail)


@pytest.mark.parametrize("a_only,b_only,expected", [
    (1, 10, Fraction(24, 2048)),        # 2·(1 + 11)/2¹¹ = 0.01171875
    (0, 7, Fraction(2, 128)),
    (3, 12, Fraction(2 * 576, 32768)),  # 2·(1 + 15 + 105 + 455)/2¹⁵
    (10, 10, Fraction(1)),
    (1, 0, Fraction(1)),
    (0, 0, Fraction(1)),
])
def test_exact_mcnemar_has_the_values_counted_by_hand(a_only, b_only, expected):
    assert exact_mcnemar_by_counting(a_only, b_only) == expected
    assert stats.mcnemar_exact(a_only, b_only) == pytest.approx(float(expected), rel=1e-12)
    # Symmetric in which run is A.
    assert stats.mcnemar_exact(b_only, a_only) == pytest.approx(float(expected), rel=1e-12)


def test_exact_mcnemar_on_larger_counts_is_the_binomial_tail_summed_exactly():
    assert stats.mcnemar_exact(40, 61) == pytest.approx(float(exact_mcnemar_by_counting(40, 61)), rel=1e-9)


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
    # McNemar's 24/2048 next to a task with no discordant pair (p = 1): 2 · 0.01171875.
    assert stats.holm([24 / 2048, 1.0]) == [0.0234375, 1.0]
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


# ---- through `evaltasks compare`, on runs written to disk ----

def write_run(folder, scores, benchmark="gpqa_diamond", task="gpqa"):
    """An output dir with one task whose item i has the per-sample ``scores[i]``
    (several samples per item, as gpqa's repeats: the item's value is their mean)."""
    cells = [(item, r, s) for item, samples in enumerate(scores) for r, s in enumerate(samples)]
    rows = [{"index": i, "record_id": f"rec{item}", "repeat": r, "score": s} for i, (item, r, s) in enumerate(cells)]
    values = [sum(s) / len(s) for s in scores]
    results = {"task": task, "benchmark": benchmark,
               "metrics": {"accuracy": {"value": sum(values) / len(values), "n": len(values)}}}
    (folder / task).mkdir(parents=True)
    (folder / task / "results.json").write_text(json.dumps(results))
    (folder / task / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def compared(a, b, *extra):
    done = evaltasks_cli("compare", str(a), str(b), "--format", "json", *extra)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    return result, result["comparisons"][0]["tasks"][0]


def test_the_differences_interval_is_a_paired_bootstrap_of_b_minus_a(tmp_path, state):
    """200 items, B gains 20 of A's wrong ones: the interval of B − A is over the
    per-item differences (narrow: the runs agree elsewhere), not two separate means."""
    a_right = set(range(0, 200, 2))
    gained = set(range(1, 40, 2))
    a = write_run(tmp_path / "a", [[int(i in a_right)] for i in range(200)])
    b = write_run(tmp_path / "b", [[int(i in a_right | gained)] for i in range(200)])
    _, entry = compared(a, b)
    assert (entry["test"], entry["right_only_a"], entry["right_only_b"]) == ("exact McNemar", 0, 20)
    assert entry["diff"] == pytest.approx(0.1)
    d = [float(i in gained) for i in range(200)]
    ref_low, ref_high = reference_bootstrap(d, 20000, 3)
    assert entry["ci_low"] == pytest.approx(ref_low, abs=0.01) and entry["ci_high"] == pytest.approx(ref_high, abs=0.01)
    # The unpaired interval (A's and B's own Wilson intervals side by side) would be ~3x as wide.
    assert entry["ci_high"] - entry["ci_low"] < 0.1
    # p = 2/2²⁰: all 20 discordant pairs one way.
    assert entry["p"] == pytest.approx(2 / 2 ** 20, rel=1e-9) and entry["verdict"] == "better"


def test_few_items_are_underpowered_unless_the_threshold_allows_their_mde(tmp_path, state):
    """10 items, 1 flip: the detectable effect is the floor (z₀.₉₇₅ + z₀.₈)²/10 =
    0.78489; above the default 0.05 that is 'underpowered', under --mde-threshold
    0.8 'no detectable difference'."""
    a = write_run(tmp_path / "a", [[0]] * 10)
    b = write_run(tmp_path / "b", [[1]] + [[0]] * 9)
    result, entry = compared(a, b)
    assert result["mde_threshold"] == 0.05
    assert entry["mde"] == pytest.approx(0.784888, rel=1e-6)
    assert entry["p"] == 1.0 and entry["verdict"] == "underpowered"
    result, entry = compared(a, b, "--mde-threshold", "0.8")
    assert result["mde_threshold"] == 0.8 and entry["verdict"] == "no detectable difference"
    md = evaltasks_cli("compare", str(a), str(b), "--mde-threshold", "0.8")
    assert "'underpowered' when that exceeds 0.8" in md.stdout


@pytest.mark.parametrize("items", [8, 20])
def test_non_binary_scores_take_the_sign_flip_test_with_its_exact_p_value(tmp_path, state, items):
    """Four samples per item, so an item's value is a quarter step. B is ½ higher
    on 5 (of 8) or 6 (of 20) items, equal elsewhere: of the sign patterns, only
    those with every nonzero difference one way reach the observed |mean|, so p =
    2/2⁵ = 0.0625 (8 items, every pattern enumerated) or 2/2⁶ = 0.03125 (20 items,
    more than 13: 9,999 random patterns, so within Monte-Carlo error)."""
    moved = 5 if items == 8 else 6
    a = write_run(tmp_path / "a", [[1, 0, 0, 0]] * items)
    b = write_run(tmp_path / "b", [[1, 1, 1, 0]] * moved + [[1, 0, 0, 0]] * (items - moved))
    _, entry = compared(a, b)
    assert entry["test"] == "paired sign-flip permutation"
    assert (entry["a"], entry["b"]) == (0.25, pytest.approx(0.25 + 0.5 * moved / items))
    assert entry["diff"] == pytest.approx(0.5 * moved / items)
    assert "flips" not in entry and "right_only_a" not in entry
    if items == 8:
        assert entry["p"] == pytest.approx(0.0625, rel=1e-9) and entry["verdict"] == "underpowered"
    else:
        assert entry["p"] == pytest.approx(0.03125, abs=0.006) and entry["verdict"] == "better"
    # Every difference is 0 or +½: the interval's ends are means of resamples, inside [0, ½].
    assert 0 <= entry["ci_low"] < entry["diff"] < entry["ci_high"] <= 0.5
