"""A task defined in a file, end to end: config → doit → the harness container
(the task file's text and a copy of its data mounted read-only) → results.json,
with a judge; then up to date, and editing one row of data reruns it."""

import json
import shutil
import time

import pytest

from conftest import REPO, containers_created, doit, is_preflight, results, write_config
from support.endpoint import FakeEndpoint

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Kenya": "Nairobi", "Peru": "Lima",
            "Canada": "Ottawa", "Norway": "Oslo", "Egypt": "Cairo", "Vietnam": "Hanoi"}


def model(payload):
    """Right about every country but Peru and Egypt; always a line "Answer: CITY"."""
    text = payload["messages"][-1]["content"]
    country = next(c for c in CAPITALS if f"capital of {c}?" in text)
    city = CAPITALS[country] if country not in ("Peru", "Egypt") else "Springfield"
    return f"Let me recall.\nAnswer: {city}.\n\nAnything else?"


def judge(payload):
    text = payload["messages"][-1]["content"]
    right = text.split("Reference answer:\n", 1)[1].split("\n", 1)[0] in text.split("Answer to grade:", 1)[1]
    return f"Compared the city names.\nGRADE: {'CORRECT' if right else 'INCORRECT'}"


@pytest.mark.docker
def test_a_task_file_runs_in_its_container_then_reruns_only_for_new_data(tmp_path, docker_client):
    folder = tmp_path / "tasks"
    shutil.copytree(REPO / "examples" / "tasks", folder)
    task = folder / "capitals.yaml"
    with FakeEndpoint(model) as ep, FakeEndpoint(judge, model_id="judge-model", fault_rate=0.3, retry_after=0,
                                                    fault_kinds=("500", "503", "429")) as jd:
        task.write_text(task.read_text().replace("  - {metric: contains}\n", f"""  - {{metric: contains}}
  - metric: judge
    url: {jd.chat_url}
    model_id: judge-model
    api_key_name: null
"""))
        out = tmp_path / "out"
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=[{"name": str(task)}])

        first = doit(f"config={cfg}", env={"EVALTASKS_CACHE_DIR": str(tmp_path / "cache")})
        assert first.returncode == 0, first.stdout + first.stderr
        r = results(out, "capitals")
        assert r["benchmark"] == "filetask" and r["samples"] == 8
        for metric in ("exact_match/answer", "contains/answer", "judge/answer"):
            assert r["metrics"][metric]["value"] == 6 / 8, metric
        rows = [json.loads(l) for l in (out / "capitals" / "samples.jsonl").read_text().splitlines()]
        assert rows[0]["extracted"] == {"answer": "Paris."} and rows[0]["gold"] == ["Paris"]
        assert rows[3]["judge_verdict"] == "INCORRECT" and "Compared" in rows[3]["judge_reasoning"]
        assert any(is_preflight(r.payload) for r in jd.requests)     # the judge was checked first

        since = time.time()
        again = doit(f"config={cfg}", env={"EVALTASKS_CACHE_DIR": str(tmp_path / "cache")})
        assert again.returncode == 0 and "1 up to date: eval:capitals" in again.stdout, again.stdout
        assert containers_created(docker_client, str(out), since) == []

        data = folder / "capitals.jsonl"
        data.write_text(data.read_text().replace('"Lima"', '"Springfield"'))
        edited = doit(f"config={cfg}", env={"EVALTASKS_CACHE_DIR": str(tmp_path / "cache")})
        assert edited.returncode == 0, edited.stdout + edited.stderr
        assert results(out, "capitals")["metrics"]["exact_match/answer"]["value"] == 7 / 8
