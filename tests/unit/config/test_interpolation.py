"""``${...}`` interpolation in config values (OmegaConf, as NeMo Evaluator's Hydra
configs have it), and one config run against two models."""

import pytest
import yaml

from conftest import Gsm8kModel, doit, evaltasks_cli, results, write_config
from support.endpoint import FakeEndpoint
from evaltasks.config import compose as config
from evaltasks.config.errors import ConfigError

PER_MODEL = {
    "execution": {"output_dir": "results/${target.api_endpoint.model_id}"},
    "target": {"api_endpoint": {"model_id": "meta/llama-3.1-8b-instruct",
                                "url": "http://${oc.env:EVAL_TEST_HOST,127.0.0.1}:9/v1/chat/completions"}},
    "evaluation": {"tasks": [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 3}}]},
}


def load(tmp_path, overrides=(), document=PER_MODEL):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    return config.load(str(path), overrides, cwd=str(tmp_path))


def test_references_resolve_after_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv("EVAL_TEST_HOST", raising=False)
    cfg = load(tmp_path)
    assert cfg.output_dir == str(tmp_path / "results" / "meta" / "llama-3.1-8b-instruct")
    assert cfg.tasks[0]["endpoint"]["url"] == "http://127.0.0.1:9/v1/chat/completions"

    monkeypatch.setenv("EVAL_TEST_HOST", "10.1.2.3")
    cfg = load(tmp_path, ["target.api_endpoint.model_id=other"])
    assert cfg.output_dir == str(tmp_path / "results" / "other")
    assert cfg.tasks[0]["endpoint"]["url"] == "http://10.1.2.3:9/v1/chat/completions"


@pytest.mark.parametrize("path, value, expected", [
    ("execution.output_dir", "results/${target.api_endpoint.modelid}",
     "execution.output_dir: cannot resolve interpolation: Interpolation key 'target.api_endpoint.modelid' not found"),
    ("target.api_endpoint.url", "${oc.env:EVAL_TEST_UNSET_VAR}",
     "target.api_endpoint.url: cannot resolve interpolation: Environment variable 'EVAL_TEST_UNSET_VAR' not found"),
    ("execution.output_dir", "results/${target.api_endpoint", "execution.output_dir: cannot resolve interpolation"),
])
def test_an_unresolvable_reference_names_the_key(tmp_path, monkeypatch, path, value, expected):
    monkeypatch.delenv("EVAL_TEST_UNSET_VAR", raising=False)
    with pytest.raises(ConfigError) as e:
        load(tmp_path, [f"{path}={value}"])
    assert str(e.value).startswith(expected) and "\n" not in str(e.value), str(e.value)


def test_an_unresolvable_reference_is_exit_2_and_creates_nothing(tmp_path):
    document = yaml.safe_load(yaml.safe_dump(PER_MODEL))
    document["execution"]["output_dir"] = str(tmp_path / "out" / "${target.api_endpoint.modelid}")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    for done in (doit(f"config={path}"), evaltasks_cli("run", "--config", str(path))):
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            f"error: {path}: execution.output_dir: cannot resolve interpolation: "
            "Interpolation key 'target.api_endpoint.modelid' not found"]
    assert not (tmp_path / "out").exists()


@pytest.mark.docker
def test_two_models_one_config_keep_both_results(tmp_path):
    right = [i for i in range(3) if i != 1]
    with FakeEndpoint(Gsm8kModel(right), model_id="model-a") as a, \
            FakeEndpoint(Gsm8kModel(right), model_id="model-b") as b:
        cfg = write_config(tmp_path / "c.yaml", a.chat_url, tmp_path / "results/${target.api_endpoint.model_id}",
                           tasks=[{"name": "gsm8k", "overrides": {"config.params.limit_samples": 3}}])
        for ep in (a, b):
            done = evaltasks_cli("run", "--config", str(cfg), "-o", f"target.api_endpoint.model_id={ep.model_id}",
                                 "-o", f"target.api_endpoint.url={ep.chat_url}")
            assert done.returncode == 0, done.stdout + done.stderr
        for ep in (a, b):
            assert results(tmp_path / "results" / ep.model_id)["model_id"] == ep.model_id
            assert results(tmp_path / "results" / ep.model_id)["metrics"]["accuracy"]["value"] == 2 / 3

        # Without a per-model output_dir, the dry run says that a run would replace another model's results.
        into_a = ["--config", str(cfg), "--dry-run", "-o", f"execution.output_dir={tmp_path}/results/model-a"]
        same = evaltasks_cli("run", *into_a, "-o", "target.api_endpoint.model_id=model-a")
        assert "eval:gsm8k: up to date" in same.stdout and "would replace" not in same.stdout, same.stdout
        other = evaltasks_cli("run", *into_a, "-o", "target.api_endpoint.model_id=model-b",
                              "-o", f"target.api_endpoint.url={b.chat_url}")
        assert other.returncode == 0, other.stderr
        assert (f"  ! would replace the results of model 'model-a' at {a.chat_url} "
                f"with those of 'model-b' at {b.chat_url}") in other.stdout, other.stdout

        # "all samples" reads as such, not as null.
        everything = evaltasks_cli("run", *into_a, "-o", "target.api_endpoint.model_id=model-a",
                                   "-o", "evaluation.tasks.gsm8k.overrides.config.params.limit_samples=null")
        assert "  - config changed: config.params.limit_samples: 3 → all" in everything.stdout, everything.stdout
