"""Preflight: before any container starts, one tiny request to each distinct
endpoint, so a wrong URL, key or model is one clear line instead of a run of
failed tasks."""

import os
import socket
from urllib.parse import urlparse

TIMEOUT = 60   # a cold server may take a while to answer its first request


class PreflightFailed(Exception):
    pass


def endpoints(specs):
    """Distinct (url, model, type, key name) among the tasks, in order."""
    seen = {}
    for spec in specs:
        e = spec["endpoint"]
        seen.setdefault((e["url"], e["model_id"], e["type"], e["api_key_name"]), spec)
    return seen


def check(url, model_id, endpoint_type, api_key_name, docker_network=None, environ=os.environ):
    """Send one tiny request; raise PreflightFailed naming url and model if the
    endpoint cannot serve this model. Returns a note when the check was skipped."""
    import requests

    host = urlparse(url).hostname
    if docker_network and docker_network not in ("host", "bridge", "default") and not _resolves(host):
        # A container name on a user-defined Docker network resolves only there.
        return f"preflight skipped for {url}: {host} resolves only inside Docker network {docker_network}"
    body = {"model": model_id, "max_tokens": 1, "temperature": 0.0}
    if endpoint_type == "completions":
        body["prompt"] = "Hi"
    else:
        body["messages"] = [{"role": "user", "content": "Hi"}]
    headers = {}
    if api_key_name:
        headers["Authorization"] = f"Bearer {environ.get(api_key_name, '')}"
    where = f"{url} (model {model_id})"
    try:
        reply = requests.post(url, json=body, headers=headers, timeout=TIMEOUT)
    except requests.ConnectionError:
        raise PreflightFailed(f"preflight: cannot connect to {where}; is the server running?") from None
    except requests.Timeout:
        raise PreflightFailed(f"preflight: {where} did not answer within {TIMEOUT}s") from None
    status = reply.status_code
    if status in (401, 403):
        key = f"the key in {api_key_name}" if api_key_name else "no API key (api_key_name is null)"
        raise PreflightFailed(f"preflight: {where} refused {key}: HTTP {status} {_message(reply)}")
    if status == 404:
        raise PreflightFailed(f"preflight: {where}: HTTP 404 {_message(reply)} "
                              "(wrong URL path, or a model this server does not serve)")
    if 400 <= status < 500 and status != 429:
        raise PreflightFailed(f"preflight: {where}: HTTP {status} {_message(reply)}")
    return None   # 200, or a busy/erroring server: the run's retries deal with those


def _resolves(host):
    try:
        socket.getaddrinfo(host, None)
        return True
    except (socket.gaierror, UnicodeError):
        return False


def _message(reply):
    try:
        error = reply.json().get("error")
        text = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        text = reply.text
    return str(text or reply.reason or "").strip()[:200]
