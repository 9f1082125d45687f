"""An OpenAI-compatible server on 127.0.0.1 that answers the way real servers
misbehave, one ``way`` per server (see WAYS). Stdlib only.

Requests ``hostile(payload)`` says no to get a proper reply; by default that is
the launcher's preflight request (``max_tokens: 1``, "Hi"), so a run reaches its
tasks, and every sample's request is answered the hostile way::

    with HostileEndpoint("trickle", answer=model) as ep:
        ...  ep.chat_url ...
"""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support.endpoint import is_preflight

HOST = "127.0.0.1"


def completion(text, *, finish_reason="stop", usage=None, **message):
    """A chat completion whose message holds ``text`` as content (None: no key)."""
    message = {"role": "assistant", **({"content": text} if text is not None else {}), **message}
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15} if usage is None else usage}


def _json(body, status=200, content_type="application/json"):
    return status, content_type, body if isinstance(body, bytes) else json.dumps(body).encode()


# Each way: answer text → (status, content type, body bytes), or a name the handler acts out.
WAYS = {
    # Handled well before issue 14.
    "invalid_json": lambda a: _json(b'{"choices": [{"message": '),
    "html": lambda a: _json(b"<html><body><h1>502 Bad Gateway</h1></body></html>", 200, "text/html"),
    "no_choices": lambda a: _json({"choices": [], "usage": {}}),
    "deep": lambda a: _json(b"[" * 100_000 + b"]" * 100_000),
    "sse": lambda a: _json(b"data: " + json.dumps(completion(a)).encode() + b"\n\ndata: [DONE]\n\n",
                           200, "text/event-stream"),
    "http400": lambda a: _json({"error": {"message": "context length exceeded", "type": "invalid_request_error"}},
                               400),
    "http401": lambda a: _json({"error": {"message": "key revoked", "type": "invalid_request_error"}}, 401),
    "http503": lambda a: _json({"error": {"message": "overloaded", "type": "server_error"}}, 503),
    "huge": lambda a: _json(completion(a + " " + "x" * 20_000_000)),
    "slow": lambda a: "slow",
    # Issue 14.
    "trickle": lambda a: "trickle",
    "trickle_headers": lambda a: "trickle_headers",
    "stall": lambda a: "stall",
    "close": lambda a: "close",
    # The escape "\ud800" as the server sends it: JSON that decodes to a lone surrogate.
    "surrogate": lambda a: _json(json.dumps(completion(a + " \ud800")).encode()),
    "null_content": lambda a: _json(completion(None, content=None)),
    "tool_calls": lambda a: _json(completion(None, finish_reason="tool_calls", tool_calls=[
        {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": "{}"}}])),
    "parts": lambda a: _json(completion([{"type": "text", "text": a[:10]}, {"type": "image_url", "image_url": {}},
                                         {"type": "text", "text": a[10:]}])),
    "think_and_reasoning": lambda a: _json(completion(
        "<think>Maybe it is Answer: 99999</think>" + a, reasoning_content="Let me add it all up.")),
    "bad_usage": lambda a: _json(completion(a, usage="n/a")),
    "bad_tokens": lambda a: _json(completion(a, usage={"prompt_tokens": -5, "completion_tokens": "12"})),
    "length": lambda a: _json(completion(a, finish_reason="length")),
}


class HostileEndpoint:
    def __init__(self, way, answer=lambda payload: "Answer: 0", *, hostile=lambda p: not is_preflight(p),
                 seconds=1.0):
        if way not in WAYS:
            raise ValueError(f"unknown way {way!r}; one of {sorted(WAYS)}")
        self.way, self.answer, self.hostile, self.seconds = way, answer, hostile, seconds
        self.requests = []          # payloads, in arrival order
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections = set()
        self._server = None

    def __enter__(self):
        self._server = ThreadingHTTPServer((HOST, 0), _Handler)
        self._server.daemon_threads = True
        self._server.endpoint = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @property
    def chat_url(self):
        return f"http://{HOST}:{self._server.server_address[1]}/v1/chat/completions"

    def samples(self):
        """The payloads that were not the preflight's."""
        with self._lock:
            return [p for p in self.requests if not is_preflight(p)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.endpoint._lock:
            self.server.endpoint._connections.add(self.connection)

    def do_POST(self):
        ep = self.server.endpoint
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with ep._lock:
            ep.requests.append(payload)
        answer = ep.answer(payload)
        if not ep.hostile(payload):
            return self._send(*_json(completion(answer)))
        action = WAYS[ep.way](answer)
        if action == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif action == "slow":
            ep._stop.wait(ep.seconds)
            self._send(*_json(completion(answer)))
        elif action == "stall":
            self._send(200, "application/json", b"", length=100)
            ep._stop.wait()
        elif action in ("trickle", "trickle_headers"):
            body = json.dumps(completion(answer)).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            if action == "trickle":
                self.wfile.write(head.encode())
            else:
                body = head.encode() + body
            for i in range(len(body)):
                if ep._stop.wait(ep.seconds):
                    return
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
        else:
            self._send(*action)

    def _send(self, status, content_type, body, length=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
