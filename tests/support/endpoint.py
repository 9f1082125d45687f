"""A small fake OpenAI-compatible HTTP server for tests and benchmarks.

Speaks just enough of the OpenAI API (``/v1/chat/completions``,
``/v1/completions``, ``/v1/models``) to drive evaltasks end to end, with
optional latency, auth, and seeded fault injection. Stdlib only; binds to
127.0.0.1 unless told otherwise (a test that runs it inside its own container,
on its own Docker network, binds that container's interfaces).

Library use::

    with FakeEndpoint(lambda payload: "Answer: 42", latency=0.05) as ep:
        requests.post(ep.chat_url, json={"model": "test-model", "messages": [...]})

Standalone (demos, benchmarks)::

    python tests/support/endpoint.py --port 8000 [--latency 0.1] [--fault-rate 0.3]
        [--model-id test-model] [--answers FILE]
"""

from __future__ import annotations

import itertools
import json
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
DEFAULT_ANSWER = "Answer: 0"
COMPLETION_PATHS = ("/v1/chat/completions", "/v1/completions")


@dataclass
class RecordedRequest:
    """One request as the server saw it.

    ``status`` is the HTTP status sent, 0 for an injected connection reset,
    and -1 while the request is still being handled.
    """

    path: str
    payload: dict | None
    headers: dict
    status: int = -1
    time: float = field(default_factory=time.time)


def is_preflight(payload):
    """The launcher's one tiny check request per endpoint, shaped like the task's
    (see evaltasks/pipeline/preflight.py): "Hi" after the system prompt, if any."""
    messages = payload.get("messages") or [{}]
    return payload.get("max_tokens") == 1 and messages[-1] == {"role": "user", "content": "Hi"}


def _default_responder(payload):
    return DEFAULT_ANSWER


def _words(value) -> int:
    """Whitespace word count of a str, a list of str / content parts, or None."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        total = 0
        for item in value:
            if isinstance(item, dict):
                total += _words(item.get("text") or item.get("content"))
            else:
                total += _words(item)
        return total
    return _words(str(value))


def _error(message, type_, code=None):
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes 64+ simultaneous clients see refused
    # connections before the accept loop catches up.
    request_queue_size = 256

    def __init__(self, endpoint: "FakeEndpoint", host: str, port: int):
        self.endpoint = endpoint
        super().__init__((host, port), _Handler)

    def handle_error(self, request, client_address):
        # Clients hanging up mid-request is normal under fault injection and
        # benchmarks; only surface real bugs.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive is required: clients use a pooled requests.Session.
    protocol_version = "HTTP/1.1"
    server_version = "FakeEndpoint/1.0"
    # Headers and body go out as separate writes; with Nagle on, the client's
    # delayed ACK adds ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def setup(self):
        super().setup()
        self.server.endpoint._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.endpoint._track(self.connection, False)

    # -- plumbing -----------------------------------------------------------

    def _read_body(self) -> bytes | None:
        """Return the request body, or None if Content-Length is unusable."""
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            return None
        if length < 0:
            return None
        return self.rfile.read(length)

    def _send_json(self, record: RecordedRequest, status: int, body, extra_headers=None):
        data = json.dumps(body).encode("utf-8")
        # Set before sending so a client that has its reply never observes -1.
        record.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _reset(self, record: RecordedRequest):
        record.status = 0
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    # -- verbs --------------------------------------------------------------

    def do_GET(self):
        ep: FakeEndpoint = self.server.endpoint
        path = self.path.split("?", 1)[0]
        record = ep._record(path, None, self.headers)
        if ep.latency:
            time.sleep(ep.latency)
        if not self._authorized(ep):
            return self._send_json(record, 401, _unauthorized())
        if path == "/v1/models":
            body = {"object": "list", "data": [{"id": ep.model_id, "object": "model"}]}
            return self._send_json(record, 200, body)
        self._send_json(record, 404, _error(f"Unknown path {path}", "invalid_request_error"))

    def do_POST(self):
        ep: FakeEndpoint = self.server.endpoint
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        payload = None
        bad_body = body is None
        if not bad_body:
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                bad_body = True
            if not isinstance(payload, dict):
                bad_body, payload = True, None
        record = ep._record(path, payload, self.headers)
        if body is None:
            # Cannot find the end of this request, so the connection is unusable.
            self.close_connection = True
        if ep.latency:
            time.sleep(ep.latency)

        if path not in COMPLETION_PATHS:
            return self._send_json(
                record, 404, _error(f"Unknown path {path}", "invalid_request_error"))
        if not self._authorized(ep):
            return self._send_json(record, 401, _unauthorized())
        if bad_body:
            return self._send_json(
                record, 400, _error("Request body is not a JSON object.", "invalid_request_error"))

        fault = ep._draw_fault(path, payload)
        if fault == "reset":
            return self._reset(record)
        if fault == "429":
            return self._send_json(
                record, 429,
                _error("Rate limit reached (injected fault).", "requests", "rate_limit_exceeded"),
                {"Retry-After": str(ep.retry_after)})
        if fault is not None:
            return self._send_json(
                record, int(fault), _error(f"Injected fault {fault}.", "server_error"))

        model = payload.get("model")
        if model is None:
            return self._send_json(
                record, 400, _error("You must provide a model parameter.", "invalid_request_error"))
        if model != ep.model_id:
            return self._send_json(record, 404, _error(
                f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found"))

        try:
            answer = ep.responder(payload)
        except Exception as exc:  # noqa: BLE001 - any responder bug becomes a 500
            return self._send_json(record, 500, _error(
                f"Responder failed: {type(exc).__name__}: {exc}", "server_error"))

        if path == "/v1/chat/completions":
            self._send_json(record, 200, ep._chat_body(payload, answer))
        else:
            self._send_json(record, 200, ep._completion_body(payload, answer))

    def _authorized(self, ep: "FakeEndpoint") -> bool:
        return ep.api_key is None or self.headers.get("Authorization") == f"Bearer {ep.api_key}"


def _unauthorized():
    return _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")


class FakeEndpoint:
    """Fake OpenAI-compatible server on 127.0.0.1, served from a daemon thread.

    ``responder(payload) -> str | dict`` produces the reply; a dict is used as
    the chat ``message`` object verbatim (its "content" for /v1/completions).
    With ``fault_rate`` > 0, the first attempt of each distinct payload fails
    with that (seeded) probability using a kind from ``fault_kinds``; retries of
    the identical payload always succeed. Streaming is not supported.
    """

    def __init__(self, responder=None, *, latency=0.0, fault_rate=0.0,
                 fault_kinds=("500", "502", "503", "429", "reset"), retry_after=1,
                 seed=0, model_id="test-model", api_key=None, host=HOST, port=0,
                 reply_model=None, system_fingerprint=None):
        unknown = set(fault_kinds) - {"500", "502", "503", "429", "reset"}
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if fault_rate > 0 and not fault_kinds:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        self.responder = responder or _default_responder
        self.latency = latency
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.retry_after = retry_after
        self.model_id = model_id
        # A server serving model_id under another name says so in its replies' ``model``.
        self.reply_model = reply_model or model_id
        self.system_fingerprint = system_fingerprint
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.host = host
        self._port = port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._ids = itertools.count(1)
        self._connections: set = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> "FakeEndpoint":
        """Bind host:port and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeEndpoint already started")
        self._server = _Server(self, self.host, self._port)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"FakeEndpoint:{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        # Idle keep-alive handler threads would otherwise block on read forever.
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeEndpoint":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- public helpers -----------------------------------------------------

    @property
    def port(self) -> int:
        """Bound port (meaningful after start())."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>/v1``."""
        if self._server is None and self._port == 0:
            raise RuntimeError("FakeEndpoint not started; the port is not bound yet")
        return f"http://{self.host}:{self._port}/v1"

    @property
    def chat_url(self) -> str:
        return self.base_url + "/chat/completions"

    @property
    def completions_url(self) -> str:
        return self.base_url + "/completions"

    def completed(self, path=None) -> list:
        """Recorded requests answered with 200, optionally only for ``path``."""
        with self._lock:
            snapshot = list(self.requests)
        return [r for r in snapshot
                if r.status == 200 and (path is None or r.path == path)]

    def reset_log(self) -> None:
        """Forget recorded requests (fault-injection memory is kept)."""
        with self._lock:
            self.requests.clear()

    # -- internals used by the handler -------------------------------------

    def _track(self, conn, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record(self, path, payload, headers) -> RecordedRequest:
        record = RecordedRequest(
            path=path, payload=payload,
            headers={k.lower(): v for k, v in headers.items()})
        with self._lock:
            self.requests.append(record)
        return record

    def _draw_fault(self, path, payload) -> str | None:
        if self.fault_rate <= 0:
            return None
        key = path + " " + json.dumps(payload, sort_keys=True)
        with self._lock:
            if key in self._seen:
                return None
            self._seen.add(key)
            if self._rng.random() >= self.fault_rate:
                return None
            return self._rng.choice(self.fault_kinds)

    def _chat_body(self, payload, answer) -> dict:
        if isinstance(answer, dict):
            message = answer
        else:
            message = {"role": "assistant", "content": str(answer)}
        prompt_tokens = sum(_words(m.get("content")) for m in payload.get("messages") or []
                            if isinstance(m, dict))
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.reply_model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": _usage(prompt_tokens, _words(message.get("content"))),
            **({"system_fingerprint": self.system_fingerprint} if self.system_fingerprint else {}),
        }

    def _completion_body(self, payload, answer) -> dict:
        text = (answer.get("content") or "") if isinstance(answer, dict) else str(answer)
        return {
            "id": f"cmpl-{next(self._ids)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.reply_model,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            "usage": _usage(_words(payload.get("prompt")), _words(text)),
        }


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _answers_responder(answers: dict):
    """Responder replying answers[key] for the first key found in the last user text."""

    def respond(payload):
        text = ""
        messages = payload.get("messages")
        if isinstance(messages, list):
            for message in reversed(messages):
                if isinstance(message, dict) and message.get("role") == "user":
                    content = message.get("content")
                    if isinstance(content, list):
                        content = " ".join(str(p.get("text", "")) for p in content
                                           if isinstance(p, dict))
                    text = str(content or "")
                    break
        else:
            prompt = payload.get("prompt")
            text = " ".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt or "")
        for key, reply in answers.items():
            if key in text:
                return reply
        return DEFAULT_ANSWER

    return respond


class InFlight:
    """A responder that takes ``seconds`` to answer (``answer``) and counts how
    many requests it was answering at once: ``peak``, the most."""

    def __init__(self, seconds, answer=None):
        self.seconds, self.answer = seconds, answer or DEFAULT_ANSWER
        self.now = self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, payload):
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.seconds)
        with self._lock:
            self.now -= 1
        return self.answer


def main(argv=None) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible endpoint on 127.0.0.1.")
    parser.add_argument("--host", default=HOST,
                        help="address to bind; anything but 127.0.0.1 only inside a test's own container")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="probability that a payload's first attempt fails")
    parser.add_argument("--model-id", default="test-model")
    parser.add_argument("--answers", metavar="FILE",
                        help="JSON object: substring of last user message -> reply text")
    args = parser.parse_args(argv)

    responder = None
    if args.answers:
        with open(args.answers, encoding="utf-8") as fh:
            answers = json.load(fh)
        if not isinstance(answers, dict):
            parser.error("--answers must contain a JSON object")
        responder = _answers_responder({str(k): str(v) for k, v in answers.items()})

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    endpoint = FakeEndpoint(responder, latency=args.latency, fault_rate=args.fault_rate,
                            model_id=args.model_id, host=args.host, port=args.port).start()
    print(f"serving {endpoint.base_url} (model {args.model_id})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
