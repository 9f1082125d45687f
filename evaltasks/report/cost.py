"""Tokens and what they cost: each task's prompt and completion tokens (from
results.json's response_stats) priced at ``target.api_endpoint.pricing``
(price per million prompt / completion tokens) as the task ran with it.

The price rides in the task's task.json (the launcher writes the task's
endpoint there) and not in results.json or the task's fingerprint: a price
says what a run cost, not what it measured, so changing it reruns nothing.
A task run without a price shows its tokens and no cost; a total is only
given when every task has a price in one currency (else it would add unlike
things, or leave some tasks out without saying).
"""

import json
import os

from ..harness.layout import TASK

PER = 1_000_000
DEFAULT_CURRENCY = "USD"


def pricing(task):
    """The task's ``{prompt, completion, currency}`` per million tokens, or None."""
    try:
        with open(os.path.join(task.folder, TASK), encoding="utf-8") as f:
            price = (json.load(f).get("endpoint") or {}).get("pricing")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(price, dict) or not all(isinstance(price.get(k), (int, float)) for k in ("prompt", "completion")):
        return None
    return {"prompt": price["prompt"], "completion": price["completion"],
            "currency": price.get("currency") or DEFAULT_CURRENCY}


def usage(task):
    """``{prompt_tokens, completion_tokens, cost, currency}`` of one task (cost None without a price)."""
    tokens = (task.results.get("response_stats") or {}).get("tokens") or {}
    prompt = (tokens.get("prompt") or {}).get("total")
    completion = (tokens.get("completion") or {}).get("total")
    price = pricing(task)
    cost = None
    if price and prompt is not None and completion is not None:
        cost = (prompt * price["prompt"] + completion * price["completion"]) / PER
    return {"prompt_tokens": prompt, "completion_tokens": completion, "cost": cost,
            "currency": price["currency"] if price else None}


def total(usages):
    """The sum of some tasks' usage; its cost only when every one has a cost in one currency."""
    usages = list(usages)
    out = {}
    for key in ("prompt_tokens", "completion_tokens"):
        values = [u[key] for u in usages if u[key] is not None]
        out[key] = sum(values) if values else None
    currencies = {u["currency"] for u in usages}
    priced = usages and all(u["cost"] is not None for u in usages) and len(currencies) == 1
    out["cost"] = sum(u["cost"] for u in usages) if priced else None
    out["currency"] = currencies.pop() if priced else None
    return out


def money(value, currency):
    """``0.0123 USD``: enough digits for the cents of a small run."""
    if value is None:
        return "–"
    return f"{value:.4f} {currency}" if value < 100 else f"{value:,.2f} {currency}"


def tokens(value):
    return "–" if value is None else f"{value:,}"


def runs_usage(runs, names):
    """Per run (by its display name): each task's usage and the run's total."""
    out = []
    for name, run in zip(names, runs):
        tasks = {t.id: usage(t) for t in run.tasks.values()}
        out.append({"run": name, "tasks": tasks, "total": total(tasks.values())})
    return out


def markdown(table):
    """The runs' tokens and cost, one row per task and run, and a total per run."""
    out = ["## Tokens and cost", "", "| run | task | prompt tokens | completion tokens | cost |", "|---|---|---|---|---|"]
    for r in table:
        for task, u in list(r["tasks"].items()) + [("total", r["total"])]:
            out.append(f"| {r['run']} | {task} | {tokens(u['prompt_tokens'])} | {tokens(u['completion_tokens'])} | "
                       f"{money(u['cost'], u['currency'])} |")
    return "\n".join(out) + "\n"
