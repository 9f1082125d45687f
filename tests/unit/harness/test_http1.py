"""The harness's own HTTP/1.1 client (``http1``) against canned raw replies: the
ways a body can be framed and encoded, connection reuse, TLS with certificates
checked as requests would, and an https endpoint through a CONNECT proxy."""

import gzip
import json
import socket
import ssl
import subprocess
import threading
import zlib

import pytest

from evaltasks.harness import http1
from evaltasks.harness.client import Client, EndpointError
from support.drivers import both_drivers  # noqa: F401  (a fixture)

# Each transport test runs through both drivers (support/drivers.py).
pytestmark = pytest.mark.usefixtures("both_drivers")

BODY = json.dumps({"choices": [{"message": {"content": "ok"}}]}).encode()


class RawServer:
    """Answers each request on a connection with the next of ``replies`` (raw
    bytes), then, when ``close`` is set, closes the connection; counts connections."""

    def __init__(self, replies, close=False, tls=None):
        self.replies, self.close, self.tls = list(replies), close, tls
        self.connections = 0
        self.heads = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        try:
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            buffer = b""
            while self.replies:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                self.heads.append(head.decode())
                length = int(next((line.split(":")[1] for line in head.decode().split("\r\n")
                                   if line.lower().startswith("content-length:")), "0"))
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                conn.sendall(self.replies.pop(0))
                if self.close:
                    break
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def stop(self):
        self.sock.close()


def reply(body=BODY, *headers, status=b"200 OK"):
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def with_length(body, *headers):
    return reply(body, b"Content-Length: %d" % len(body), *headers)


def post(server, scheme="http", **kwargs):
    c = Client(f"{scheme}://127.0.0.1:{server.port}/v1/chat/completions", max_retries=0, log=lambda m: None,
               **kwargs)
    return c, c.post({"q": 1})


@pytest.mark.parametrize("raw", [
    with_length(BODY),
    reply(b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in (BODY[:10], BODY[10:])) + b"0\r\nX-Trailer: 1\r\n\r\n",
          b"Transfer-Encoding: chunked"),
    with_length(gzip.compress(BODY), b"Content-Encoding: gzip"),
    with_length(zlib.compress(BODY), b"Content-Encoding: deflate"),
    b"HTTP/1.1 100 Continue\r\n\r\n" + with_length(BODY),
])
def test_bodies_framed_and_encoded_every_way_are_read(raw):
    server = RawServer([raw])
    try:
        assert post(server)[1] == json.loads(BODY)
    finally:
        server.stop()


def test_a_body_without_length_ends_with_the_connection():
    server = RawServer([reply(BODY)], close=True)
    try:
        assert post(server)[1] == json.loads(BODY)
    finally:
        server.stop()


def test_connections_are_kept_alive_and_replaced_when_the_server_closes_them():
    server = RawServer([with_length(BODY)] * 3)
    closing = RawServer([with_length(BODY, b"Connection: close")] * 3, close=True)
    try:
        c, _ = post(server)
        c.post({"q": 2}), c.post({"q": 3})
        assert server.connections == 1
        h = server.heads[0].split("\r\n")
        assert h[0] == "POST /v1/chat/completions HTTP/1.1" and f"Host: 127.0.0.1:{server.port}" in h
        c, _ = post(closing)
        c.post({"q": 2}), c.post({"q": 3})
        assert closing.connections == 3
    finally:
        server.stop(), closing.stop()


@pytest.mark.parametrize("raw, message", [
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "unreadable reply: not an HTTP reply"),
    (reply(b"1", b"Content-Length: x"), "unreadable reply: Content-Length"),
    (reply(b"1", b"Content-Length: -1"), "unreadable reply: Content-Length"),
    (with_length(b"not gzip", b"Content-Encoding: gzip"), "unreadable reply: a gzip body that does not decompress"),
    (reply(BODY[:5], b"Content-Length: 50"), "closed the connection in the middle of the reply"),
])
def test_unreadable_and_cut_replies(raw, message):
    server = RawServer([raw], close=True)
    try:
        with pytest.raises(EndpointError) as failed:
            post(server)
        assert str(failed.value).startswith(message), str(failed.value)
    finally:
        server.stop()


def test_a_204_has_no_body_to_wait_for():
    server = RawServer([reply(b"", status=b"204 No Content")])         # the connection stays open
    try:
        with pytest.raises(EndpointError, match="^HTTP 204: No Content$"):
            post(server, request_timeout=5)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return str(folder / "cert.pem"), context


def test_tls_checks_the_certificate_against_requests_bundle_variables(certificate, monkeypatch):
    cert, context = certificate
    server = RawServer([with_length(BODY)] * 2, tls=context)
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
        assert post(server, "https")[1] == json.loads(BODY)
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        with pytest.raises(EndpointError, match="closed the connection without a reply"):
            post(server, "https")           # certifi's bundle does not vouch for it
    finally:
        server.stop()


def test_https_through_a_connect_proxy(certificate, monkeypatch):
    cert, context = certificate
    server = RawServer([with_length(BODY)], tls=context)
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen()
    asked = []

    def tunnel():
        conn, _ = proxy.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        asked.append(head.decode())
        upstream = socket.create_connection(("127.0.0.1", server.port))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=lambda a=a, b=b: [b.sendall(d) for d in iter(lambda: a.recv(65536), b"")],
                             daemon=True).start()

    threading.Thread(target=tunnel, daemon=True).start()
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
        monkeypatch.setenv("HTTPS_PROXY", f"http://user:p%40ss@127.0.0.1:{proxy.getsockname()[1]}")
        for name in ("NO_PROXY", "no_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        assert post(server, "https")[1] == json.loads(BODY)
        assert asked[0].startswith(f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n")
        assert "Proxy-Authorization: Basic dXNlcjpwQHNz" in asked[0]        # user:p@ss
    finally:
        server.stop(), proxy.close()


def test_a_proxy_it_cannot_speak_through_fails_each_request_at_once(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.invalid:3128")
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    c = Client("http://model.invalid/v1/chat/completions", max_retries=3, log=lambda m: None)
    with pytest.raises(EndpointError, match="^the proxy https://proxy.invalid is not supported") as failed:
        c.post({"q": 1})
    assert failed.value.kind == "unsupported proxy"


def test_headers_are_found_in_any_case():
    headers = http1.Headers({"retry-after": "3"})
    assert headers.get("Retry-After") == "3" and "RETRY-AFTER" in headers and headers.get("Server") is None
