"""The statistics behind report and compare, on per-unit values: a unit is an
item of the benchmark (a problem with all its repeats or samples is one unit, so
repeats of one question are never counted as independent evidence).

- a score's 95% interval: Wilson when every unit is 0 or 1 (one sample per
  item), else a percentile bootstrap of the mean over units (a clustered
  bootstrap, since a unit holds all its samples);
- a paired difference: per-unit differences B − A; exact McNemar (a two-sided
  binomial test on the discordant pairs) when both runs score 0/1, else a paired
  sign-flip permutation test; the difference's interval is a bootstrap of the
  mean difference over units;
- Holm's step-down correction across the tests of one comparison;
- the minimum detectable effect at 80% power and α = 0.05 (two-sided).

scipy does the tests and the bootstrap, imported only when one is needed: its
import takes ~1 s, which every run would pay for the interval in its last table
(Wilson, the usual case, is a closed form). numpy likewise (~0.2 s of CPU, a
fifth of a one-task run's launcher). Seeds are fixed so a report is the
same every time it is made from the same files.
"""

import math
from statistics import NormalDist

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.80
RESAMPLES = 2000
SEED = 20240611


def is_binary(values):
    return all(float(v) in (0.0, 1.0) for v in values)


def lazy_numpy():
    import numpy
    return numpy


def _scipy_stats():
    from scipy import stats
    return stats


def _z(quantile):
    return NormalDist().inv_cdf(quantile)


def wilson(successes, n):
    """The Wilson score interval (no continuity correction), as scipy's
    binomtest(...).proportion_ci(method="wilson") computes it."""
    if n == 0:
        return (math.nan, math.nan)
    z, p = _z(0.5 + CONFIDENCE / 2), successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_mean(values):
    """Percentile bootstrap interval of the mean of ``values`` (one per unit)."""
    np = lazy_numpy()
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return (math.nan, math.nan)
    if np.ptp(values) == 0:       # every resample has the same mean
        return (float(values[0]), float(values[0]))
    ci = _scipy_stats().bootstrap((values,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                                  method="percentile", batch=200, random_state=np.random.default_rng(SEED))
    return (float(ci.confidence_interval.low), float(ci.confidence_interval.high))


def interval(values):
    """``(low, high, method)``: the 95% interval of the mean of per-unit ``values``."""
    if is_binary(values):
        return (*wilson(sum(values), len(values)), "Wilson")
    return (*bootstrap_mean(values), "bootstrap over items")


def ratio_interval(right, total):
    """``(low, high, method)`` for a rate over items that hold several trials each
    (ifeval's instructions per prompt): a bootstrap over items of Σright/Σtotal,
    so the trials of one item move together; Wilson on the counts when all trials
    sit in one item or every item agrees."""
    np = lazy_numpy()
    right, total = np.asarray(right, dtype=float), np.asarray(total, dtype=float)
    rates = right / total
    if len(total) < 2 or np.ptp(rates) == 0:
        return (*wilson(right.sum(), total.sum()), "Wilson (counts)")
    ratio = lambda r, t, axis=-1: r.sum(axis=axis) / t.sum(axis=axis)
    ci = _scipy_stats().bootstrap((right, total), ratio, paired=True, confidence_level=CONFIDENCE,
                                  n_resamples=RESAMPLES, method="percentile", vectorized=True,
                                  random_state=np.random.default_rng(SEED))
    return (float(ci.confidence_interval.low), float(ci.confidence_interval.high), "bootstrap over items (ratio)")


def mcnemar_exact(a_only, b_only):
    """Two-sided exact McNemar p-value from the discordant counts: items right in
    A only and right in B only."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    return float(_scipy_stats().binomtest(b_only, discordant, 0.5).pvalue)


def sign_flip_test(differences):
    """Two-sided paired permutation test of mean(differences) = 0: every unit's
    difference keeps its size and takes either sign (every sign pattern for up to
    13 units, else 9,999 random ones)."""
    np = lazy_numpy()
    d = np.asarray(differences, dtype=float)
    if len(d) == 0 or not np.any(d):
        return 1.0
    result = _scipy_stats().permutation_test((d,), np.mean, permutation_type="samples", n_resamples=9999,
                                             vectorized=True, alternative="two-sided",
                                             random_state=np.random.default_rng(SEED))
    return float(result.pvalue)


def holm(pvalues):
    """Holm–Bonferroni adjusted p-values, in the order given."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def minimum_detectable_effect(differences):
    """The smallest true mean difference a two-sided test at α would detect with
    80% power on these units (normal approximation): (z₁₋α/₂ + z_power)·s/√n with s
    the spread of the per-unit differences. A difference δ on [0, 1] scores needs
    units that differ, at least δ·n of them, so s² ≥ δ and the bound never falls
    below (z₁₋α/₂ + z_power)²/n — that is the figure for two runs that agree on
    every item. Capped at 1, the largest difference scores on [0, 1] allow:
    above it, no difference would be detected."""
    np = lazy_numpy()
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n == 0:
        return math.nan
    z = _z(1 - ALPHA / 2) + _z(POWER)
    spread = float(np.std(d, ddof=1)) if n > 1 else 0.0
    return float(min(1.0, max(z * spread / math.sqrt(n), z * z / n)))
