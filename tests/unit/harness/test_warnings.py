"""Warnings a score alone would hide (evaltasks/harness/warnings.py): a server
that reports far too few prompt tokens, or one count for every prompt, did not
feed the prompts to the model (a chat template that drops the messages). The
end table, the summary and results.json say so; a server that counts the
prompts it got says nothing."""

import json

import pytest

from conftest import Gsm8kModel, doit, write_config
from support.endpoint import FakeEndpoint
from evaltasks.harness import warnings


class DroppingTemplate(FakeEndpoint):
    """A scripted server whose chat template swallows the messages: it answers,
    and counts the same 3 prompt tokens whatever the prompt was."""

    def _chat_body(self, payload, answer):
        body = super()._chat_body(payload, answer)
        body["usage"]["prompt_tokens"] = 3
        return body


def rows(*prompts_and_tokens):
    return [{"index": i, "prompt": [{"role": "user", "content": text}], "prompt_tokens": tokens}
            for i, (text, tokens) in enumerate(prompts_and_tokens)]


QUESTIONS = [f"Question {n}: " + "Natalia sold clips to {n} of her friends in April. " * (n + 3) for n in range(6)]


def test_too_few_tokens_for_the_text_is_a_warning_naming_the_template():
    (found,) = warnings.collect({}, rows(*[(q, 3) for q in QUESTIONS]))
    assert found["code"] == "prompt_tokens_implausible"
    assert "fewer than 1 token per 20 characters" in found["message"]
    assert "chat template" in found["message"] and "\n" not in found["message"]


def test_one_count_for_every_different_prompt_is_a_warning():
    # Plausible in size, but prompts of different lengths cannot all be 120 tokens.
    (found,) = warnings.collect({}, rows(*[(q, 120) for q in QUESTIONS]))
    assert "the same 120 tokens for each of 6 different prompts" in found["message"]


def test_counts_that_follow_the_prompts_are_no_warning():
    assert warnings.collect({}, rows(*[(q, len(q) // 4) for q in QUESTIONS])) == []
    # The same prompt asked again (repeats) may well get the same count.
    assert warnings.collect({}, rows(*[(QUESTIONS[0], 40)] * 6)) == []
    # Too little to judge by: no counts, or fewer than three.
    assert warnings.collect({}, [{"index": 0, "prompt": "x" * 500}]) == []
    assert warnings.collect({}, rows((QUESTIONS[0], 3), (QUESTIONS[1], 3))) == []


@pytest.mark.docker
@pytest.mark.parametrize("server, expected", [(DroppingTemplate, True), (FakeEndpoint, False)])
def test_the_warning_reaches_the_end_table_summary_and_results(tmp_path, docker_client, server, expected):
    out = tmp_path / "results"
    with server(Gsm8kModel(right=range(0, 1319, 2))) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out)
        run = doit(f"config={cfg}")
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((out / "gsm8k" / "results.json").read_text())
    assert results["metrics"]["accuracy"]["value"] == 0.5       # scored as usual: only the warning tells
    summary = (out / "summary.md").read_text()
    if not expected:
        assert results["warnings"] == [] and "warning:" not in run.stdout + summary
        return
    (warning,) = results["warnings"]
    assert warning["code"] == "prompt_tokens_implausible"
    assert "the server counted 3.0 prompt tokens on average" in warning["message"]
    assert f"  ! warning: {warning['message']}" in run.stdout
    assert f"> warning: gsm8k: {warning['message']}" in summary
    assert json.loads((out / "summary.json").read_text())["tasks"][0]["warnings"] == [warning]
