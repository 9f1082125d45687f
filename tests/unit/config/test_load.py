"""Config loading: defaults, overrides, validation messages."""

import pytest
import yaml

from evaltasks.config import compose as config
from evaltasks.config.errors import ConfigError
from evaltasks.config.params import DEFAULT_PARAMS
from evaltasks.config.tasks import blocker

BASE = {
    "defaults": [{"execution": "local"}, {"deployment": "none"}, "_self_"],
    "execution": {"output_dir": "results/x"},
    "target": {"api_endpoint": {"model_id": "m", "url": "http://127.0.0.1:9/v1/chat/completions"}},
    "evaluation": {"tasks": [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 10}}]},
}


def load(tmp_path, document=None, overrides=(), text=None):
    path = tmp_path / "c.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(document or BASE))
    return config.load(str(path), overrides, cwd=str(tmp_path))


def error(tmp_path, **kw):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, **kw)
    message = str(e.value)
    assert "\n" not in message
    return message


def with_(path, value, base=BASE):
    document = yaml.safe_load(yaml.safe_dump(base))
    node = document
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return document


def test_defaults_are_composed_and_paths_resolved(tmp_path):
    cfg = load(tmp_path)
    assert cfg.data["execution"]["mode"] == "parallel"          # from execution: local
    assert cfg.data["deployment"]["type"] == "none"
    assert cfg.output_dir == str(tmp_path / "results" / "x")
    task, = cfg.tasks
    assert task["id"] == "gsm8k" and task["benchmark"] == "gsm8k"
    assert task["params"]["limit_samples"] == 10
    assert task["params"]["max_new_tokens"] == 1024             # gsm8k's own default
    assert task["params"]["parallelism"] == DEFAULT_PARAMS["parallelism"]


def test_self_before_a_group_lets_the_group_win(tmp_path):
    document = with_("defaults", ["_self_", {"execution": "local"}])
    document["execution"]["mode"] = "sequential"
    assert load(tmp_path, document).data["execution"]["mode"] == "parallel"


def test_command_line_overrides_are_yaml_scalars(tmp_path):
    cfg = load(tmp_path, overrides=[
        "execution.mode=sequential",
        "target.api_endpoint.url=http://127.0.0.1:8000/v1/chat/completions",
        "evaluation.tasks.gsm8k.overrides.config.params.temperature=0.7",
        "evaluation.tasks.0.overrides.config.params.limit_samples=0.5",
    ])
    assert cfg.data["execution"]["mode"] == "sequential"
    params = cfg.tasks[0]["params"]
    assert params["temperature"] == 0.7 and params["limit_samples"] == 0.5
    assert cfg.tasks[0]["endpoint"]["url"] == "http://127.0.0.1:8000/v1/chat/completions"


def test_evaluation_overrides_apply_to_every_task_and_task_overrides_win(tmp_path):
    document = with_("evaluation", {
        "overrides": {"config.params.temperature": 0.6, "config.params.parallelism": 2,
                      "target.api_endpoint.adapter_config.use_system_prompt": True,
                      "target.api_endpoint.adapter_config.custom_system_prompt": "Think."},
        "tasks": [{"name": "gsm8k", "id": "a"},
                  {"name": "gsm8k", "id": "b", "overrides": {"config.params.temperature": 0.0}}],
    })
    a, b = load(tmp_path, document).tasks
    assert a["params"]["temperature"] == 0.6 and b["params"]["temperature"] == 0.0
    assert a["params"]["parallelism"] == b["params"]["parallelism"] == 2
    assert b["endpoint"]["adapter_config"] == {"use_system_prompt": True, "custom_system_prompt": "Think."}


def test_qualified_task_name_resolves(tmp_path):
    document = with_("evaluation.tasks.0.name", "lm-evaluation-harness.gsm8k")
    task, = load(tmp_path, document).tasks
    assert task["benchmark"] == "gsm8k" and task["id"] == "lm-evaluation-harness.gsm8k"


@pytest.mark.parametrize("path, value, expected", [
    ("target.api_endpoint.url", KeyError, "target.api_endpoint.url: missing (required)"),
    ("target.api_endpoint.model_id", KeyError, "target.api_endpoint.model_id: missing (required)"),
    ("execution.output_dir", KeyError, "execution.output_dir: missing (required)"),
    ("evaluation.tasks", [], "evaluation.tasks: empty values not allowed"),
    ("execution.mode", "fast", "execution.mode: unallowed value fast"),
    ("execution.outptu_dir", "x", "execution.outptu_dir: unknown key"),
    ("target.api_endpoint.url", "localhost:8000", "target.api_endpoint.url: must be a full URL with its scheme"),
    ("evaluation.tasks.0.name", "gsm8", "evaluation.tasks[0].name: unknown task 'gsm8'; did you mean 'gsm8k'"),
    ("evaluation.tasks.0.nmae", "x", "evaluation.tasks[0].nmae: unknown key"),
])
def test_bad_values_name_the_key(tmp_path, path, value, expected):
    assert error(tmp_path, document=with_(path, value)).startswith(expected)


@pytest.mark.parametrize("key, value, expected", [
    ("config.params.limit_samples", 0, "config.params.limit_samples: must be an integer > 0"),
    ("config.params.limit_samples", 1.5, "config.params.limit_samples: a fraction must be in (0, 1]"),
    ("config.params.limit_samples", "ten", "config.params.limit_samples: must be an integer > 0"),
    ("config.params.temperature", -0.1, "config.params.temperature: min value is 0"),
    ("config.params.top_p", 0, "config.params.top_p: must be in (0, 1]"),
    ("config.params.parallelism", 0, "config.params.parallelism: min value is 1"),
    ("config.params.parallelism", "many", "config.params.parallelism: must be of integer type"),
    ("config.params.limt_samples", 5, "config.params.limt_samples: unknown key"),
    ("target.api_endpoint.adapter_config.use_magic", True, "target.api_endpoint.adapter_config.use_magic: unknown key"),
    ("config.params.extra.num_fewshot", 5, "config.params.extra.num_fewshot: unknown option for gsm8k"),
    ("config.params.extra.prompt_style", "cot", "config.params.extra.prompt_style: 'cot' is not one of answer, lm-eval"),
    ("config.params.extra.prompt_style", 3, "config.params.extra.prompt_style: must be of type str"),
])
def test_bad_task_overrides_name_the_task_and_key(tmp_path, key, value, expected):
    message = error(tmp_path, document=with_("evaluation.tasks.0.overrides", {key: value}))
    # The path is one `-o` accepts, and the task is named.
    assert message.startswith("evaluation.tasks[0].overrides." + expected) and "(task gsm8k)" in message


@pytest.mark.parametrize("name, key, value, expected", [
    ("mmlu_pro", "num_fewshot", 6, "num_fewshot: must be between 0 and 5, got 6"),
    ("humaneval", "n_samples", 0, "n_samples: must be at least 1, got 0"),
    ("gpqa_diamond", "n_repeats", 2.5, "n_repeats: must be of type int, got 2.5"),
    ("humaneval", "timeout", 5, None),            # an int where a float is expected is fine
])
def test_benchmark_options_are_checked(tmp_path, name, key, value, expected):
    document = with_("evaluation.tasks", [{"name": name, "overrides": {f"config.params.extra.{key}": value}}])
    if expected is None:
        assert load(tmp_path, document).tasks[0]["params"]["extra"][key] == value
    else:
        assert expected in error(tmp_path, document=document)


def test_duplicate_task_needs_distinct_ids(tmp_path):
    document = with_("evaluation.tasks", [{"name": "gsm8k"}, {"name": "gsm8k"}])
    assert "task id 'gsm8k' is already used" in error(tmp_path, document=document)
    document = with_("evaluation.tasks", [{"name": "gsm8k", "id": "a"}, {"name": "gsm8k", "id": "b"}])
    assert [t["id"] for t in load(tmp_path, document).tasks] == ["a", "b"]


def test_api_key_variable_is_needed_only_to_run(tmp_path):
    document = with_("target.api_endpoint.api_key_name", "MY_KEY")
    task, = load(tmp_path, document).tasks               # loading (list, dry run) needs no secret
    assert blocker(task, {}) == ("target.api_endpoint.api_key_name: environment variable MY_KEY "
                                        "is not set (export it, or set api_key_name: null for no key)")
    assert blocker(task, {"MY_KEY": ""}) == \
        "target.api_endpoint.api_key_name: environment variable MY_KEY is empty"
    assert blocker(task, {"MY_KEY": "s3cret"}) is None


def test_a_task_overriding_the_key_variable_needs_that_one(tmp_path):
    document = with_("evaluation.tasks.0.overrides", {"target.api_endpoint.api_key_name": "OTHER_KEY"})
    document["target"]["api_endpoint"]["api_key_name"] = "MY_KEY"
    task, = load(tmp_path, document).tasks
    assert "environment variable OTHER_KEY is not set" in blocker(task, {"MY_KEY": "x"})


def test_env_vars_name_host_variables(tmp_path):
    document = with_("evaluation.tasks.0.env_vars", {"HF_TOKEN": "HF_TOKEN_FOR_GPQA"})
    task, = load(tmp_path, document).tasks
    assert task["env_vars"] == {"HF_TOKEN": "HF_TOKEN_FOR_GPQA"}
    assert blocker(task, {}) == "env_vars.HF_TOKEN: environment variable HF_TOKEN_FOR_GPQA is not set (export it)"
    assert blocker(task, {"HF_TOKEN_FOR_GPQA": ""}).endswith("HF_TOKEN_FOR_GPQA is empty")
    assert blocker(task, {"HF_TOKEN_FOR_GPQA": "x"}) is None


@pytest.mark.parametrize("text, expected", [
    ("execution: [unclosed", "malformed YAML at line"),
    ("- just\n- a list\n", "must be a YAML mapping"),
])
def test_unreadable_files(tmp_path, text, expected):
    assert expected in error(tmp_path, text=text)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("item, message", [
    ("novalue", "expected KEY.PATH=VALUE"),
    ("evaluation.tasks.mmlu.overrides.x=1", "no entry 'mmlu' in evaluation.tasks"),
    ("execution.output_dir.x=1", "execution.output_dir is not a mapping"),
])
def test_bad_overrides(tmp_path, item, message):
    assert message in error(tmp_path, overrides=[item])


def test_unknown_defaults_group_option(tmp_path):
    document = with_("defaults", [{"execution": "lepton"}, "_self_"])
    assert "execution 'lepton' is not available here (available: local, slurm)" in error(tmp_path, document=document)
