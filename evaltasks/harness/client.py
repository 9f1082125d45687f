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
followed (an endpoint that redirects a POST fails with its HTTP 3xx)."""

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
        # One pool for all workers; it keeps a connection per worker alive.
        self._pool = http1.Pool(url, self._headers, proxy=_proxy_for(url),
                                tls=_tls_context() if url.startswith("https:") else None)

    def close(self):
        self._pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def exchange(self, payload):
        """One attempt: the Reply, whatever its status, or NoReply."""
        body = json.dumps(payload).encode("utf-8")
        try:
            return Reply(*self._pool.post(body, self.request_timeout))
        except http1.Unsupported as e:
            raise NoReply(str(e), "unsupported proxy") from None
        except http1.CannotConnect:
            raise NoReply("cannot connect; is the server running?", "connection_error") from None
        except http1.Timeout as e:
            raise NoReply(f"timed out after {self.request_timeout:g} s, "
                          f"{'the reply incomplete' if e.partial else 'no reply'}", "timeout") from None
        except http1.Closed as e:
            raise NoReply("closed the connection in the middle of the reply" if e.partial else
                          "closed the connection without a reply", "connection_error") from None
        except http1.Unreadable as e:
            raise NoReply(f"unreadable reply: {e}", "malformed reply") from None

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
