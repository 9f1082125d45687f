"""HTTP transport to the endpoint: one connection pool, a deadline per request, and
retries with exponential backoff and jitter. It sends JSON payloads and returns
JSON replies; what goes in a payload and what a reply means is ``adapters``' business.

``request_timeout`` is a deadline for the whole attempt: connecting, the headers
and the body. urllib3's own timeout bounds each socket read, so a server that
trickles a byte a second would never time out; a watchdog shuts the attempt's
connection down when its deadline passes instead.

It speaks through urllib3 (which ``requests`` is built on and brings along), not
``requests``: the workers share one GIL, so the client's CPU time per request
bounds the throughput at high parallelism, and requests' layer (a prepared request
per call, cookie jars, case-insensitive dicts, proxy selection, hooks) was a third
of it; its import also cost every harness start ~0.1 s. What requests did that
the harness needs is done here once: the proxy variables are read when the client
is made, and certificates are checked against ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE`` or certifi's bundle, as requests would. Redirects are not
followed (an endpoint that redirects a POST fails with its HTTP 3xx)."""

import email.utils
import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

RETRY_STATUSES = {429, 500, 502, 503, 504}
BACKOFF = 0.5        # seconds before the first retry; doubles with each further one
MAX_BACKOFF = 60.0
TRANSIENT = ("timeout", "connection_error")     # NoReply kinds worth another attempt


class EndpointError(Exception):
    """A request that failed for good (non-retryable, or retries exhausted).
    ``kind`` is short enough to group failures by: "HTTP 404", "timeout", …"""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind


class NoReply(EndpointError):
    """One attempt that got no complete HTTP reply; the message says why."""


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict
    content: bytes

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        # ValueError (UnicodeDecodeError too) when it is not JSON, RecursionError
        # when it nests deeper than the parser goes: not JSON we can read, either way.
        try:
            return json.loads(self.content)
        except RecursionError:
            raise ValueError("nested too deeply") from None


def clean(text):
    """``(text, n)``: ``text`` with its n lone surrogates (JSON's "\\ud800", which no
    file or terminal can encode) replaced by U+FFFD."""
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if fixed == text:
        return text, 0
    return fixed, sum(a != b for a, b in zip(text, fixed))


class _Attempt:
    def __init__(self, deadline):
        self.deadline = deadline
        self.connection = None
        self.expired = False


class _Watchdog:
    """The attempts in flight, one per thread, and a daemon thread that shuts an
    attempt's connection down at its deadline: the blocked read then fails at once."""

    def __init__(self):
        self._cond = threading.Condition()
        self._attempts = {}         # thread id → _Attempt
        self._thread = None

    def start(self, seconds):
        attempt = _Attempt(time.monotonic() + seconds)
        with self._cond:
            self._attempts[threading.get_ident()] = attempt
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="request-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
        return attempt

    def stop(self):
        with self._cond:
            self._attempts.pop(threading.get_ident(), None)

    def attach(self, connection):
        """Called by the connection a thread's request goes out on."""
        with self._cond:
            attempt = self._attempts.get(threading.get_ident())
            if attempt is not None:
                attempt.connection = connection

    def _watch(self):
        while True:
            with self._cond:
                now = time.monotonic()
                due = [a for a in self._attempts.values() if not a.expired and a.deadline <= now]
                for a in due:
                    a.expired = True
                waiting = [a.deadline for a in self._attempts.values() if not a.expired]
                if not due:
                    self._cond.wait(min(waiting) - now if waiting else None)
            for a in due:
                sock = getattr(a.connection, "sock", None)
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


_WATCHDOG = _Watchdog()


class _Watched:
    def request(self, *args, **kwargs):
        _WATCHDOG.attach(self)
        return super().request(*args, **kwargs)


class _Connection(_Watched, HTTPConnection):
    pass


class _TLSConnection(_Watched, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


_POOLS = {"http": _Pool, "https": _TLSPool}


def _proxy_for(url):
    """The proxy the environment names for ``url`` (HTTP_PROXY, HTTPS_PROXY,
    ALL_PROXY, NO_PROXY, any case), or None."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def _tls_options():
    """How certificates are checked: requests' way (its variables, else certifi)."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if not bundle:
        import certifi
        bundle = certifi.where()
    return {"cert_reqs": "CERT_REQUIRED", ("ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"): bundle}


class Client:
    """``observe(outcome, seconds)`` hears of every attempt: the HTTP status, or
    "timeout" / "connection_error" when there was no response."""

    def __init__(self, url, api_key=None, *, parallelism=1, request_timeout=60, max_retries=5,
                 log=print, observe=None):
        self.url = url
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.log = log
        self.observe = observe or (lambda outcome, seconds: None)
        self.server_headers = set()     # the Server headers of its successful replies (provenance)
        self._headers = {"Content-Type": "application/json", "Accept": "*/*",
                         "Accept-Encoding": "gzip, deflate", "User-Agent": "evaltasks-harness"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = urllib3.Timeout(connect=request_timeout, read=request_timeout)
        # One pool for all workers: urllib3's pool is thread-safe, and sizing it to
        # the parallelism keeps one live connection per worker.
        options = {"num_pools": 1, "maxsize": max(1, parallelism)}
        if url.startswith("https:"):
            options.update(_tls_options())
        proxy = _proxy_for(url)
        self._pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        self._pool.pool_classes_by_scheme = _POOLS

    def close(self):
        self._pool.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def exchange(self, payload):
        """One attempt: the Reply, whatever its status, or NoReply."""
        body = json.dumps(payload).encode("utf-8")
        attempt = _WATCHDOG.start(self.request_timeout)
        r = content = None
        try:
            r = self._pool.urlopen("POST", self.url, body=body, headers=self._headers, timeout=self._timeout,
                                   retries=False, redirect=False, preload_content=False)
            content = r.read()
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as e:
            raise NoReply(*_no_reply(e, r is not None, attempt.expired, self.request_timeout)) from None
        finally:
            _WATCHDOG.stop()
            if r is not None:
                if content is None or attempt.expired:
                    r.close()           # a connection cut short carries no further request
                r.release_conn()
        if attempt.expired:
            # A body without Content-Length ends when the watchdog closes it: cut short.
            raise NoReply(*_no_reply(None, True, True, self.request_timeout))
        return Reply(r.status, r.reason, r.headers, content)

    def post(self, payload):
        """The endpoint's JSON reply to ``payload``, or EndpointError."""
        attempt = 0
        while True:
            wait = None
            started = time.perf_counter()
            try:
                r = self.exchange(payload)
            except NoReply as e:
                self.observe(e.kind, time.perf_counter() - started)
                if e.kind not in TRANSIENT:
                    raise
                kind, reason = e.kind, str(e)
            else:
                self.observe(r.status, time.perf_counter() - started)
                kind = f"HTTP {r.status}"
                if r.status == 200:
                    self.server_headers.add(r.headers.get("Server"))
                    try:
                        return r.json()
                    except ValueError:
                        raise EndpointError(f"reply from {self.url} is not JSON: {r.text[:200]!r}",
                                            "malformed reply") from None
                reason = f"{kind}: {error_message(r)}"
                if r.status not in RETRY_STATUSES:
                    raise EndpointError(reason, kind)
                wait = retry_after(r.headers.get("Retry-After"))
            if attempt >= self.max_retries:
                raise EndpointError(f"{reason} (gave up after {attempt + 1} attempts)", kind)
            if wait is None:
                wait = min(MAX_BACKOFF, BACKOFF * 2 ** attempt) * random.uniform(0.5, 1.5)
            self.log(f"retry {attempt + 1}/{self.max_retries} in {wait:.1f}s after {reason}")
            time.sleep(wait)
            attempt += 1


def _no_reply(error, had_headers, expired, seconds):
    """(message, kind) for an attempt that ended without a complete reply."""
    causes = _causes(error)
    # urllib3's NewConnectionError (refused, unknown host) is a subclass of its
    # ConnectTimeoutError, so it is asked about first.
    if not expired and any(isinstance(c, urllib3.exceptions.NewConnectionError) for c in causes):
        return "cannot connect; is the server running?", "connection_error"
    if expired or any(isinstance(c, (urllib3.exceptions.TimeoutError, TimeoutError)) for c in causes):
        # A read timeout in the body comes wrapped in a ProtocolError: look at the causes.
        return f"timed out after {seconds:g} s, {'the reply incomplete' if had_headers else 'no reply'}", "timeout"
    if isinstance(error, _CLOSED):
        if had_headers:
            return "closed the connection in the middle of the reply", "connection_error"
        return "closed the connection without a reply", "connection_error"
    return f"unreadable reply: {type(error).__name__}: {error}", "malformed reply"


# What requests called a ConnectionError: the connection broke, or never carried a reply.
_CLOSED = (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError, urllib3.exceptions.ProxyError,
           urllib3.exceptions.PoolError, http.client.HTTPException, OSError)


def _causes(error):
    """``error`` and what it wraps (urllib3 wraps the socket's and http.client's)."""
    seen, todo = [], [error]
    while todo:
        e = todo.pop()
        if isinstance(e, BaseException) and all(e is not s for s in seen):
            seen.append(e)
            todo += [*e.args, getattr(e, "reason", None), e.__cause__, e.__context__]
    return seen


def probe(url, payload, api_key, seconds):
    """One attempt, for the launcher's preflight (also run inside a container):
    ``{"status", "reason", "text"}``, or ``{"unreachable": why}``."""
    with Client(url, api_key, request_timeout=seconds) as c:
        try:
            r = c.exchange(payload)
        except NoReply as e:
            return {"unreachable": str(e)}
    return {"status": r.status, "reason": r.reason, "text": r.text}


def retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (seconds or an HTTP date),
    capped at MAX_BACKOFF; None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(MAX_BACKOFF, max(0.0, seconds))


def error_message(response):
    try:
        error = response.json().get("error")
        if isinstance(error, dict):
            return clean(str(error.get("message", error))[:300])[0]
        if error:
            return clean(str(error)[:300])[0]
    except (ValueError, AttributeError):
        pass
    return response.text[:300] or response.reason
