"""What a ``deployment:`` section does to the rest of the config: the target's url
and model id default to the deployed server's, each task served by it gets that
server's url and fingerprint, and llama.cpp's slots are sized to the tasks. The
server itself (types, commands, fingerprint, lifecycle) is evaltasks/deploy/'s;
this module is the config's side of it, imported lazily from there."""

from dataclasses import replace

from evaltasks.config import sections
from evaltasks.config.errors import ConfigError

# Stands for "the deployment's url" until the task's endpoint type picks chat or completions.
DEPLOYED_URL = "http://deployment.invalid/"


def default_target(data: dict) -> bool:
    """With a deployment, ``target.api_endpoint.url`` and ``model_id`` default to
    its own; whether the url did (the user may still set one). Runs before
    validation, so it tolerates sections of the wrong shape (the schema names them)."""
    section = data.get("deployment")
    if not isinstance(section, dict) or section.get("type", "none") == "none":
        return False
    target = data.setdefault("target", {}) if isinstance(data.get("target", {}), dict) else {}
    endpoint = target.setdefault("api_endpoint", {}) if isinstance(target.get("api_endpoint", {}), dict) else {}
    name = section.get("served_model_name") or section.get("hf_model_handle")
    if name and "model_id" not in endpoint:
        endpoint["model_id"] = name
    if "url" in endpoint:
        return False
    endpoint["url"] = DEPLOYED_URL
    return True


def from_config(data: dict, execution: sections.Execution):
    """The validated config's ``deploy.Deployment``, or None for ``deployment: none``."""
    from evaltasks import deploy

    try:
        return deploy.from_config(data.get("deployment"), execution)
    except deploy.DeploymentError as e:
        raise ConfigError(str(e)) from None


def served_by(task: dict, dep, deployed: bool) -> dict:
    """The task's endpoint and fingerprint as the deployment ``dep`` sets them
    (``deployed``: the target's url is the deployment's, see ``default_target``)."""
    task["deployment"] = None
    if dep is None:
        return task
    from evaltasks import deploy

    try:
        task["deployment"] = deploy.fingerprint(dep)
    except deploy.DeploymentError as e:
        raise ConfigError(str(e)) from None
    endpoint = task["endpoint"]
    # The url is the deployment's own unless this task set another: then its port
    # is part of what the task measures, else only the deployment's fingerprint is.
    task["deployed"] = deployed and endpoint["url"] == DEPLOYED_URL
    if task["deployed"]:
        endpoint["url"] = dep.url(endpoint["type"])
    return task


def sized(dep, tasks: list[dict]):
    """``dep`` fitted to the tasks it serves (llama.cpp's slots and context)."""
    if dep is None:
        return None
    from evaltasks import deploy

    return deploy.sized(dep, [task for task in tasks if task["deployed"]])


def target(data: dict, dep, deployed: bool) -> sections.Target:
    """The config's ``target``, typed; its url the deployment's own where ``default_target``
    set the placeholder (the composed document keeps the placeholder, as recorded)."""
    typed = sections.Target.from_dict(data["target"])
    if dep is None or not deployed:
        return typed
    endpoint = typed.api_endpoint
    return replace(typed, api_endpoint=replace(endpoint, url=dep.url(endpoint.type)))
