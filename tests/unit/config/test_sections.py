"""Typed config sections (config/sections.py): what ``load`` returns for the
``execution`` and ``target`` sections, frozen, with the built-in groups' defaults."""

import dataclasses
from importlib import resources

import pytest
import yaml

from evaltasks.config import compose as config
from evaltasks.config.sections import ApiEndpoint, AutoExport, Execution, Target

URL = "http://127.0.0.1:9/v1/chat/completions"


def load(tmp_path, group="local", execution=None, defaults=None, overrides=(), **extra):
    doc = {"defaults": defaults or [{"execution": group}, {"deployment": "none"}, "_self_"],
           "execution": {"output_dir": "out", **(execution or {})},
           "target": {"api_endpoint": {"model_id": "m", "url": URL}},
           "evaluation": {"tasks": [{"name": "gsm8k"}]}, **extra}
    doc = {key: value for key, value in doc.items() if value is not None}    # target=None: none given
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    return config.load(str(path), overrides, cwd=str(tmp_path))


def group(name):
    text = (resources.files("evaltasks.config") / "groups" / "execution" / f"{name}.yaml").read_text()
    return yaml.safe_load(text)["execution"]


def test_a_local_config_loads_into_frozen_sections(tmp_path):
    cfg = load(tmp_path)
    assert cfg.execution == Execution(type="local", runtime="docker", output_dir=str(tmp_path / "out"),
                                      mode="parallel", extra_docker_args="", preflight=True,
                                      confirm_run_unsafe_code=False)
    assert cfg.output_dir == str(tmp_path / "out")
    assert not cfg.execution.sequential
    assert cfg.target == Target(api_endpoint=ApiEndpoint(model_id="m", url=URL, api_key_name=None, type="chat"))


def test_a_slurm_config_loads_into_frozen_sections(tmp_path):
    cfg = load(tmp_path, "slurm", {"account": "acct", "partition": "debug", "num_nodes": 2, "gres": "gpu:1",
                                   "sbatch_extra_flags": ["--qos=normal", "--mem=8G"],
                                   "shared_dir": "/shared/evaltasks", "mode": "sequential"})
    assert cfg.execution == Execution(
        type="slurm", runtime="process", output_dir=str(tmp_path / "out"), mode="sequential",
        extra_docker_args="", preflight=True, confirm_run_unsafe_code=False,
        account="acct", partition="debug", walltime="01:00:00", gres="gpu:1", gpus_per_node=None,
        num_nodes=2, sbatch_extra_flags=("--qos=normal", "--mem=8G"), shared_dir="/shared/evaltasks",
        node_python="python3", requeue=False)
    assert cfg.execution.sequential


def test_sections_cannot_be_assigned(tmp_path):
    cfg = load(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.execution.output_dir = "/elsewhere"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.target.api_endpoint.url = "http://127.0.0.1:1/"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.execution = Execution()


@pytest.mark.parametrize("name", ["local", "slurm"])
def test_every_key_a_group_sets_reads_the_same_typed(tmp_path, name):
    execution = load(tmp_path, name).execution
    for key, value in group(name).items():
        assert getattr(execution, key) == (tuple(value) if isinstance(value, list) else value), key


def test_a_config_naming_no_group_gets_the_local_groups_values(tmp_path):
    """The dataclass's own defaults are those of `execution: local`."""
    alone = load(tmp_path, defaults=["_self_"]).execution
    assert alone == load(tmp_path).execution
    assert Execution.from_dict({"type": "slurm"}).runtime == "process"


def test_overrides_and_auto_export_reach_the_typed_sections(tmp_path):
    cfg = load(tmp_path, execution={"auto_export": {"destinations": ["local"],
                                                    "configs": {"local": {"output_dir": "/exports"}}}},
               overrides=["execution.preflight=false", "target.api_endpoint.type=completions"])
    assert cfg.execution.preflight is False
    assert cfg.execution.auto_export == AutoExport(destinations=("local",),
                                                   configs={"local": {"output_dir": "/exports"}})
    assert cfg.target.api_endpoint.type == "completions"
    assert load(tmp_path).execution.auto_export is None


def test_a_deployments_target_is_its_server(tmp_path):
    cfg = load(tmp_path, defaults=[{"execution": "local"}, {"deployment": "generic"}, "_self_"],
               deployment={"command": "serve", "port": 8123, "served_model_name": "m1"}, target=None)
    assert cfg.target.api_endpoint == ApiEndpoint(model_id="m1", url="http://127.0.0.1:8123/v1/chat/completions")
    assert cfg.deployment.output_dir == cfg.execution.output_dir
