"""Whether a Docker daemon answers is asked with one raw ``/_ping`` before the
preflight (containers._pings), and the SDK is connected in a thread while the
preflight runs (containers.Connecting). Served here by a unix socket of the test's
own, answering as dockerd does or otherwise."""

import socket
import threading

import pytest

from evaltasks.executors.docker import containers


class Daemon:
    """A unix socket that answers each connection with ``reply`` and counts them."""

    def __init__(self, path, reply):
        self.path, self.reply, self.asked = path, reply, []
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.asked.append(conn.recv(1024))
                conn.sendall(self.reply)

    def close(self):
        self.sock.close()


@pytest.fixture
def daemon(tmp_path):
    made = []

    def make(reply):
        made.append(Daemon(str(tmp_path / f"d{len(made)}.sock"), reply))
        return made[-1]
    yield make
    for d in made:
        d.close()


def test_a_daemon_that_answers_its_ping(daemon):
    d = daemon(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK")
    assert containers._pings({"DOCKER_HOST": f"unix://{d.path}"})
    assert d.asked and d.asked[0].startswith(b"GET /_ping HTTP/1.0\r\n")


def test_no_socket_an_error_reply_or_another_kind_of_host_is_no_answer(daemon, tmp_path):
    refusing = daemon(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
    assert not containers._pings({"DOCKER_HOST": f"unix://{refusing.path}"})
    assert not containers._pings({"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    answering = daemon(b"HTTP/1.1 200 OK\r\n\r\nOK")
    # tcp, ssh or TLS: the SDK's own way, without the raw ping
    assert not containers._pings({"DOCKER_HOST": "tcp://127.0.0.1:2375"})
    assert not containers._pings({"DOCKER_HOST": f"unix://{answering.path}", "DOCKER_TLS_VERIFY": "1"})
    assert answering.asked == []


def test_no_daemon_is_said_at_once_in_connects_words(tmp_path, monkeypatch):
    # Before any preflight: Connecting() itself raises, as connect() would.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    with pytest.raises(containers.DockerUnavailable,
                       match=f"no Docker daemon answers at unix://{tmp_path}/no-such.sock .no socket there."):
        containers.Connecting()


def test_a_daemon_that_pings_but_fails_the_sdk_says_so_when_the_client_is_asked(daemon, monkeypatch):
    # It answers the ping, then the SDK's version query with the same non-JSON
    # body: the error comes from the thread, at client(), in connect()'s words.
    d = daemon(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{d.path}")
    connecting = containers.Connecting()
    with pytest.raises(containers.DockerUnavailable, match=f"no Docker daemon answers at unix://{d.path}"):
        connecting.client()
    assert len(d.asked) >= 2 and b"/_ping" in d.asked[0]


@pytest.mark.docker
def test_a_real_daemon_is_connected_in_the_background():
    connecting = containers.Connecting()
    assert connecting.client().ping()
