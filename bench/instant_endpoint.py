"""An OpenAI-compatible chat endpoint that answers every request at once with the
same canned reply, built to cost far less CPU per request than the clients it
serves, so that a bench measures the client and not the server.

tests/support/endpoint.py (FakeEndpoint) is the test server: it parses every payload, records
it and runs a responder, in http.server's thread per connection, which is ~1 ms of
CPU per request — as much as the client being measured. This one is one asyncio
loop reading raw HTTP/1.1 keep-alive requests: it finds the end of the headers and
the Content-Length, skips the body without parsing it, and writes a prebuilt reply.

    python bench/instant_endpoint.py [--port 0] [--answer "Answer: 1"] [--latency 0.1]

``--latency`` holds each reply that long (a timer on the loop, no thread): a slow
model whose server costs no CPU, for end-to-end figures against an ideal.

prints ``serving http://127.0.0.1:PORT/v1`` once it listens, then serves until
killed; on SIGTERM it prints ``requests N cpu_seconds S`` (its own CPU time) so a
bench can say what the server cost per request.
"""

import argparse
import asyncio
import json
import resource
import signal
import sys


def reply_bytes(answer):
    body = json.dumps({
        "id": "instant", "object": "chat.completion", "created": 0, "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }).encode()
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Server: instant-endpoint\r\n\r\n").encode()
    return head + body


class _Protocol(asyncio.Protocol):
    reply = b""
    latency = 0.0
    count = 0

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length, at = 0, head.find(b"content-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15:stop if stop >= 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            _Protocol.count += 1
            if self.latency:
                # Same delay for every request, so pipelined replies keep their order.
                asyncio.get_running_loop().call_later(self.latency, self._send)
            else:
                self.transport.write(self.reply)

    def _send(self):
        if not self.transport.is_closing():
            self.transport.write(self.reply)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--answer", default="Answer: 1")
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    _Protocol.reply = reply_bytes(args.answer)
    _Protocol.latency = args.latency
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(_Protocol, "127.0.0.1", args.port, backlog=1024))
    port = server.sockets[0].getsockname()[1]
    print(f"serving http://127.0.0.1:{port}/v1", flush=True)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.run_forever()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"requests {_Protocol.count} cpu_seconds {usage.ru_utime + usage.ru_stime:.3f}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
