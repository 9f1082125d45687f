"""HTTP transport to the endpoint: kept-alive connections, a deadline per request,
and retries with exponential backoff and jitter. It sends JSON payloads and returns
JSON replies; what goes in a payload and what a reply means is ``adapters``' business.

``request_timeout`` is a deadline for the whole attempt: connecting, the headers
and the body; a server that trickles a byte a second fails at it too (``http1``
gives each socket call the time that is left).

It speaks through ``http1``, a minimal HTTP/1.1 client, not urllib3 or requests:
the workers share one GIL, so the client's CPU time per request bounds the
throughput at high parallelism, and requests' layer and then urllib3 +
http.client were most of it (bench/RESULTS.md, issue 22). What those did that the
harness needs is done here once: the proxy variables are read when the client is
made, and certificates are checked against ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE`` or certifi's bundle, as requests would. Redirects are not
followed (an endpoint that redirects a POST fails with its HTTP 3xx).

Two ways to send, one behaviour: ``post`` blocks (the launcher's preflight, a
judge asked from a scoring thread); ``apost`` runs on an event loop, where the
harness keeps all of a task's requests in flight (``http1_loop``). Both follow
the one retry policy (``_retries``, which does no I/O) and read replies with
the one ``http1.Reader``."""

import json
import os
import random
import time
import urllib.parse
from dataclasses import dataclass

from . import http1

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
    if text.isascii():          # no surrogates, and a flag the string already holds: no copy per reply
        return text, 0
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if fixed == text:
        return text, 0
    return fixed, sum(a != b for a, b in zip(text, fixed))


def _proxy_for(url):
    """The proxy the environment names for ``url`` (HTTP_PROXY, HTTPS_PROXY,
    ALL_PROXY, NO_PROXY, any case), or None."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None             # the usual case, without importing urllib.request (http.client, ssl, email)
    import urllib.request
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def _tls_context():
    """How certificates are checked: requests' way (its variables, else certifi)."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if not bundle:
        import certifi
        bundle = certifi.where()
    import ssl      # here: most endpoints a harness meets are plain http on a local network
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


def import_ahead(urls):
    """Import now what a Client for any of ``urls`` imports when made (TLS
    support for https, urllib's proxy rules when a ``*_proxy`` variable is set),
    for a launcher about to import the docker SDK in another thread while it
    sends its preflight: two threads importing the same modules at once can
    deadlock on their import locks."""
    if any(url.startswith("https:") for url in urls):
        import certifi  # noqa: F401
        import ssl  # noqa: F401
    if any(name.lower().endswith("_proxy") for name in os.environ):
        import urllib.request  # noqa: F401


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
        self._route = http1.Route(url, self._headers, proxy=_proxy_for(url),
                                  tls=_tls_context() if url.startswith("https:") else None)
        # One pool for all blocking callers (a connection per thread kept alive),
        # and one for the coroutines of an event loop, made in that loop.
        self._pool = http1.Pool(self._route)
        self._loop_pool = None

    def close(self):
        """Closes the blocking connections; the event loop's close with the loop
        (``close_loop``), which must still be running."""
        self._pool.close()

    def close_loop(self):
        """Closes the connections of the event loop that ``apost`` ran on; called
        from that loop, before it ends."""
        if self._loop_pool is not None:
            self._loop_pool.close()
            self._loop_pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def exchange(self, payload):
        """One attempt: the Reply, whatever its status, or NoReply."""
        try:
            return Reply(*self._pool.post(_body(payload), self.request_timeout))
        except _TRANSPORT_ERRORS as e:
            raise self._no_reply(e) from None

    async def aexchange(self, payload):
        """``exchange`` on the running event loop."""
        if self._loop_pool is None:
            from . import http1_loop        # here: the launcher's preflight (exchange) never needs asyncio
            self._loop_pool = http1_loop.Pool(self._route)
        try:
            return Reply(*await self._loop_pool.post(_body(payload), self.request_timeout))
        except _TRANSPORT_ERRORS as e:
            raise self._no_reply(e) from None

    def _no_reply(self, e):
        if isinstance(e, http1.Unsupported):
            return NoReply(str(e), "unsupported proxy")
        if isinstance(e, http1.CannotConnect):
            return NoReply("cannot connect; is the server running?", "connection_error")
        if isinstance(e, http1.Timeout):
            return NoReply(f"timed out after {self.request_timeout:g} s, "
                           f"{'the reply incomplete' if e.partial else 'no reply'}", "timeout")
        if isinstance(e, http1.Closed):
            return NoReply("closed the connection in the middle of the reply" if e.partial else
                           "closed the connection without a reply", "connection_error")
        return NoReply(f"unreadable reply: {e}", "malformed reply")

    def post(self, payload):
        """The endpoint's JSON reply to ``payload`` (a dict, or its JSON as bytes),
        or EndpointError; blocks."""
        policy = self._retries()
        step = next(policy)
        while True:
            try:
                if step is None:
                    try:
                        outcome = self.exchange(payload)
                    except NoReply as e:
                        outcome = e
                    step = policy.send(outcome)
                else:
                    time.sleep(step)
                    step = next(policy)
            except StopIteration as done:
                return done.value

    async def apost(self, payload):
        """``post`` on the running event loop: the same attempts, retries and waits."""
        import asyncio

        policy = self._retries()
        step = next(policy)
        while True:
            try:
                if step is None:
                    try:
                        outcome = await self.aexchange(payload)
                    except NoReply as e:
                        outcome = e
                    step = policy.send(outcome)
                else:
                    await asyncio.sleep(step)
                    step = next(policy)
            except StopIteration as done:
                return done.value

    def _retries(self):
        """The retry policy, without I/O, for both ``post`` and ``apost``: yields
        None for an attempt (sent back: its Reply, or its NoReply) and a number of
        seconds for a wait before the next one; returns the reply's JSON, or
        raises EndpointError."""
        attempt = 0
        while True:
            wait = None
            started = time.perf_counter()
            outcome = yield None
            seconds = time.perf_counter() - started
            if isinstance(outcome, NoReply):
                self.observe(outcome.kind, seconds)
                if outcome.kind not in TRANSIENT:
                    raise outcome
                kind, reason = outcome.kind, str(outcome)
            else:
                r = outcome
                self.observe(r.status, seconds)
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
            yield wait
            attempt += 1


_TRANSPORT_ERRORS = (http1.Unsupported, http1.CannotConnect, http1.Timeout, http1.Closed, http1.Unreadable)


def _body(payload):
    """A payload's JSON, or the payload when it is already that (bytes: the
    harness's ``Model`` encodes it once for the cache key and the request)."""
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")


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
        import email.utils      # here: an HTTP date is rare, and email costs every harness start ~6 ms
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
