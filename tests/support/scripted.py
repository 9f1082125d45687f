"""Scripted models for the benchmark fidelity tests: every prompt the benchmark
sends is known in advance (built from the raw data with the reference's own
template), and so is the reply to it; a seeded draw decides which items get a
right reply, a wrong one or a malformed one, so the expected score follows from
the draw, not from the code under test."""

import json
import random

from evaltasks.harness import run

KINDS = ("right", "wrong", "malformed")


def draw(n, seed, weights=(6, 3, 2)):
    """A seeded kind (right, wrong, malformed) for each of ``n`` items."""
    rng = random.Random(seed)
    return [rng.choices(KINDS, weights)[0] for _ in range(n)]


def script(prompts, golds, kinds, make_reply):
    """``({prompt: reply}, [answered right?])`` for items given by their prompts,
    golds and drawn kinds; ``make_reply(kind, gold, i)`` writes a reply. A prompt
    that several items share (MMLU repeats some questions) is answered once, as
    its first item is: a later copy is right only when that reply is right and
    its gold is the first copy's."""
    replies, first, right = {}, {}, []
    for i, (text, gold, kind) in enumerate(zip(prompts, golds, kinds)):
        if text not in replies:
            replies[text], first[text] = make_reply(kind, gold, i), (kind, gold)
        kind0, gold0 = first[text]
        right.append(kind0 == "right" and gold == gold0)
    return replies, right


class Replies:
    """A responder for FakeEndpoint: the reply scripted for the exact prompt
    (the last message's text). An unscripted prompt is a 500, which fails the
    sample, so a prompt that differs from the reference's fails the test."""

    def __init__(self, by_prompt):
        self.by_prompt = by_prompt

    def __call__(self, payload):
        text = payload["messages"][-1]["content"]
        reply = self.by_prompt.get(text)
        if reply is None:
            raise KeyError(f"no scripted reply for the prompt {text[:100]!r}")
        return reply(payload) if callable(reply) else reply


def run_task(folder, url, benchmark, **params):
    """Run the harness on the host (``run.run``) for one task of ``benchmark``;
    (results.json, samples.jsonl rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    task = {"id": benchmark, "name": benchmark, "benchmark": benchmark,
            "params": {"limit_samples": None, "temperature": 0.0, "top_p": None, "max_new_tokens": 256,
                       "parallelism": 8, "request_timeout": 30, "max_retries": 2, "seed": None,
                       "allowed_failure_rate": 0.0, "extra": {}, **params},
            "endpoint": {"url": url, "model_id": "test-model", "type": "chat", "api_key_name": None,
                         "adapter_config": {}}}
    (folder / "task.json").write_text(json.dumps(task))
    run.run(folder)
    results = json.loads((folder / "results.json").read_text())
    samples = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return results, samples
