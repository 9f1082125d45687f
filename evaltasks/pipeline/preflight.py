"""Preflight: before any task's container starts, one tiny request to each
distinct endpoint, shaped like the task's own (its system prompt, its params),
so a wrong URL, key or model, a server that does not answer like an
OpenAI-compatible one, or one that refuses a system role or a parameter the
task sends, is one clear line instead of a run of failed tasks. The request goes through the harness's own client, so TIMEOUT is a
deadline for the whole exchange, as ``request_timeout`` is for the tasks.

This module decides what to ask and what a reply means; a ``send`` carries the
request: from this host (``from_this_host``) or, for a name only a Docker
network resolves, from a container on it (executors/docker/probe.py)."""

import json
import os
import socket
from urllib.parse import urlparse

from evaltasks.harness.adapters import Adapter
from evaltasks.harness.client import EndpointError, import_ahead, probe
from evaltasks.harness.model import generation

TIMEOUT = 60   # a cold server may take a while to answer its first request


class PreflightFailed(Exception):
    pass


def endpoints(specs):
    """Distinct (url, model, type, key name, request) among the tasks, in order,
    each with the first task that sends it: the models under evaluation, asked
    as each task asks them (``request``), and the judges (of file tasks, or
    ``scoring: judge``)."""
    seen = {}
    for spec in specs:
        for e in [spec.endpoint] + spec.judges:
            body = request(e, spec.params if e is spec.endpoint else {})
            seen.setdefault((e["url"], e["model_id"], e["type"], e["api_key_name"], json.dumps(body)), spec)
    return seen


def imports_done(specs):
    """Import all a check of ``specs``' endpoints will (``client.import_ahead``)."""
    import_ahead([e["url"] for spec in specs for e in [spec.endpoint] + spec.judges])


def request(endpoint, params):
    """A one-token request shaped like the task's: its system prompt when the
    adapter sets one and its params (temperature, top_p, seed, params_to_add,
    renames), so a server that rejects either says so before the run."""
    shape = dict(generation(params), max_new_tokens=1)
    adapter = Adapter(endpoint["model_id"], endpoint.get("type", "chat"), shape, endpoint.get("adapter_config"))
    return adapter.payload([{"role": "user", "content": "Hi"}])


def _shape(body):
    """What the check request carried besides the prompt, for the error line."""
    parts = ["a system message"] if any(m.get("role") == "system" for m in body.get("messages") or []) else []
    parts += [f"{k}={json.dumps(v)}" for k, v in body.items() if k not in ("model", "messages", "prompt")]
    return ", ".join(parts)


def check(url, model_id, endpoint_type, api_key_name, environ=os.environ, send=None, body=None, task=None):
    """Send one tiny request (``body``, default: from ``request``; with ``send``,
    default: from this host); raise PreflightFailed naming url and model if the
    endpoint cannot serve this model as ``task`` asks it."""
    body = json.loads(body) if isinstance(body, str) else body
    body = body or request({"model_id": model_id, "type": endpoint_type}, {})
    where = f"{url} (model {model_id})"
    try:
        status, reason, text = _reply((send or from_this_host)(url, body, api_key_name, environ, TIMEOUT))
    except Unreachable as e:
        raise PreflightFailed(f"preflight: {where}: {e}") from None
    message = _message(text, reason)
    if status in (401, 403):
        key = f"the key in {api_key_name}" if api_key_name else "no API key (api_key_name is null)"
        raise PreflightFailed(f"preflight: {where} refused {key}: HTTP {status} {message}")
    if status == 404:
        raise PreflightFailed(f"preflight: {where}: HTTP 404 {message} "
                              "(wrong URL path, or a model this server does not serve)")
    if 400 <= status < 500 and status != 429:
        asked = f"{task}'s request ({_shape(body)})" if task else f"the request ({_shape(body)})"
        raise PreflightFailed(f"preflight: {where}: HTTP {status} {message}; it refused {asked}")
    if status == 200:
        problem = _not_a_completion(text, model_id, endpoint_type)
        if problem:
            raise PreflightFailed(f"preflight: {where}: HTTP 200 but not a completion: {problem}"
                                  f"{_path_hint(url, endpoint_type)}")
    # or a busy/erroring server: the run's retries deal with those


# The path each endpoint type is served at by OpenAI-compatible servers.
PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


def _path_hint(url, endpoint_type):
    """A reply that is not a completion most often comes from another route of the
    same server (``/v1/completion``, ``/v1/completions`` for a chat model, ``/``):
    ask about the path when the URL's does not end as its type's does."""
    path = urlparse(url).path.rstrip("/")
    chat = path.endswith("/chat/completions")
    fits = chat if endpoint_type == "chat" else path.endswith("/completions") and not chat
    return "" if fits else f"; is the path {PATHS.get(endpoint_type, PATHS['chat'])}?"


def _not_a_completion(text, model_id, endpoint_type):
    """Why a 200's body is not a completion the harness can read, or None. One
    max_tokens=1 reply may well have no text, so that alone is no problem."""
    reply = _parsed(text)
    if reply is None:
        return f"the reply is not JSON: {text[:100]!r}"
    try:
        Adapter(model_id, endpoint_type).read(reply)
    except EndpointError as e:
        return None if e.kind == "no content" else str(e)
    return None


class Unreachable(Exception):
    pass


def from_this_host(url, body, api_key_name, environ, timeout):
    """The answer to ``body`` (``client.probe``'s), sent from the launcher."""
    return probe(url, body, environ.get(api_key_name) if api_key_name else None, timeout)


def _reply(answer):
    if "unreachable" in answer:
        raise Unreachable(answer["unreachable"])
    return answer["status"], answer["reason"], answer["text"]


def only_inside(url, docker_network):
    """True when ``url``'s host is a name that resolves only on a user-defined
    Docker network (a container name there), so only a container on it can check."""
    return (bool(docker_network) and docker_network not in ("host", "bridge", "default")
            and not _resolves(urlparse(url).hostname))


def _resolves(host):
    try:
        socket.getaddrinfo(host, None)
        return True
    except (socket.gaierror, UnicodeError):
        return False


def _message(text, reason):
    """The endpoint's own error message, else its body or reason phrase."""
    try:
        error = _parsed(text).get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except AttributeError:
        message = text
    return str(message or reason or "").strip()[:200]


def _parsed(text):
    """``text`` as JSON, or None when it is not (or nests too deep to parse)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
