"""Aggregating per-sample scores into a benchmark's metrics, shared by the benchmarks
(inside the harness; report/stats.py is the statistics over finished runs)."""

import math


def mean_metric(values):
    """``{value, stderr, n}`` for a list of per-sample scores: the mean and the
    standard error of the mean (sample standard deviation / sqrt(n))."""
    n = len(values)
    if n == 0:
        return {"value": 0.0, "stderr": 0.0, "n": 0}
    mean = sum(values) / n
    if n == 1:
        return {"value": mean, "stderr": 0.0, "n": 1}
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return {"value": mean, "stderr": math.sqrt(variance / n), "n": n}


def accuracy(samples):
    return {"accuracy": mean_metric([s["score"] for s in samples])}
