"""``-o KEY=VALUE`` paths: tasks by dotted name, ``[i]`` or ``.i``; and every path an
error message prints is one ``-o`` accepts."""

import pytest
import yaml

from evaltasks.config import compose as config
from evaltasks.config.errors import ConfigError

REFERENCE = {   # the reference document's shape: dotted task names
    "execution": {"output_dir": "results"},
    "target": {"api_endpoint": {"model_id": "m", "url": "http://127.0.0.1:9/v1/chat/completions"}},
    "evaluation": {"tasks": [{"name": "lm-evaluation-harness.gsm8k"},
                             {"name": "simple_evals.mmlu_pro",
                              "overrides": {"config.params.limit_samples": 20}}]},
}


def load(tmp_path, overrides, document=REFERENCE):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    return config.load(str(path), overrides, cwd=str(tmp_path))


def limits(cfg):
    return {t["id"]: t["params"]["limit_samples"] for t in cfg.tasks}


@pytest.mark.parametrize("path", [
    "evaluation.tasks.simple_evals.mmlu_pro.overrides.config.params.limit_samples",
    "evaluation.tasks[1].overrides.config.params.limit_samples",
    "evaluation.tasks.1.overrides.config.params.limit_samples",
])
def test_a_task_by_dotted_name_or_position(tmp_path, path):
    cfg = load(tmp_path, [f"{path}=5"])
    assert limits(cfg) == {"lm-evaluation-harness.gsm8k": None, "simple_evals.mmlu_pro": 5}


def test_a_whole_entry_by_position(tmp_path):
    cfg = load(tmp_path, ["evaluation.tasks[0].id=g"])
    assert [t["id"] for t in cfg.tasks] == ["g", "simple_evals.mmlu_pro"]


def test_an_unknown_entry_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"no entry 'simple_evals' in evaluation.tasks$"):
        load(tmp_path, ["evaluation.tasks.simple_evals.gpqa.overrides.config.params.limit_samples=5"])
    with pytest.raises(ConfigError, match=r"no entry '7' in evaluation.tasks$"):
        load(tmp_path, ["evaluation.tasks[7].overrides.config.params.limit_samples=5"])


@pytest.mark.parametrize("bad, fix", [
    ("evaluation.tasks[1].name=mmlu_pr", "mmlu_pro"),
    ("evaluation.tasks[1].overrides.config.params.parallelism=many", "4"),
    ("evaluation.overrides.config.params.temperature=-1", "0.5"),
    ("evaluation.tasks[0].overrides.config.params.extra.prompt_style=cot", "lm-eval"),
])
def test_the_path_an_error_prints_is_one_o_accepts(tmp_path, bad, fix):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, [bad])
    printed = str(e.value).split(": ", 1)[0]
    assert printed == bad.split("=")[0], str(e.value)
    load(tmp_path, [bad, f"{printed}={fix}"])        # the printed path fixes it


@pytest.mark.parametrize("key, value, expected", [
    # A task's overrides are validated as strictly as the whole config, whatever they replace.
    ("target.api_endpoint", {"model_id": "x"}, "evaluation.tasks[1].overrides.target.api_endpoint.url: "
                                               "missing (required) (task simple_evals.mmlu_pro)"),
    ("target.api_endpoint.url", None, "evaluation.tasks[1].overrides.target.api_endpoint.url: must not be empty"),
    ("target.api_endpoint.adapter_config", {"use_caching": "yes"},
     "evaluation.tasks[1].overrides.target.api_endpoint.adapter_config.use_caching: must be of boolean type"),
    ("config.params", {"parallelism": 0}, "evaluation.tasks[1].overrides.config.params.parallelism: min value is 1"),
])
def test_task_overrides_are_validated_strictly(tmp_path, key, value, expected):
    document = yaml.safe_load(yaml.safe_dump(REFERENCE))
    document["evaluation"]["tasks"][1]["overrides"] = {key: value}
    with pytest.raises(ConfigError) as e:
        load(tmp_path, [], document)
    assert str(e.value).startswith(expected), str(e.value)
