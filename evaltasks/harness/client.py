"""HTTP transport to the endpoint: one pooled session, timeouts, and retries with
exponential backoff and jitter. It sends JSON payloads and returns JSON replies;
what goes in a payload and what a reply means is ``adapters``' business."""

import email.utils
import json
import os
import random
import time

import requests

RETRY_STATUSES = {429, 500, 502, 503, 504}
BACKOFF = 0.5        # seconds before the first retry; doubles with each further one
MAX_BACKOFF = 60.0
# A connection that breaks while the body is arriving raises ChunkedEncodingError,
# which is not a ConnectionError, though it is the same transient failure.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class EndpointError(Exception):
    """A request that failed for good (non-retryable, or retries exhausted).
    ``kind`` is short enough to group failures by: "HTTP 404", "timeout", …"""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind


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
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # One pooled session for all workers: urllib3's pool is thread-safe, and
        # sizing it to the parallelism keeps one live connection per worker.
        self._session = requests.Session()
        pool = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=max(1, parallelism))
        self._session.mount("http://", pool)
        self._session.mount("https://", pool)
        # The workers share one GIL, so requests' CPU time per request bounds the
        # throughput at high parallelism. Two of its costs are paid once here rather
        # than per request: reading the proxy variables from os.environ (trust_env),
        # and merging session settings into each request (a prepared template).
        self._session.trust_env = False
        self._session.proxies = requests.utils.get_environ_proxies(url)
        self._session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._template = requests.PreparedRequest()
        self._template.prepare(method="POST", url=url, headers=headers)

    def close(self):
        self._session.close()

    def post(self, payload):
        """The endpoint's JSON reply to ``payload``, or EndpointError."""
        attempt = 0
        while True:
            wait = None
            request = self._template.copy()
            request.prepare_body(data=json.dumps(payload).encode("utf-8"), files=None)
            started = time.perf_counter()
            try:
                r = self._session.send(request, timeout=self.request_timeout)
            except _TRANSIENT as e:
                kind = "timeout" if isinstance(e, requests.Timeout) else "connection_error"
                self.observe(kind, time.perf_counter() - started)
                reason = f"{type(e).__name__}: {e}"
            else:
                self.observe(r.status_code, time.perf_counter() - started)
                kind = f"HTTP {r.status_code}"
                if r.status_code == 200:
                    try:
                        return r.json()
                    except ValueError:
                        raise EndpointError(f"reply from {self.url} is not JSON: {r.text[:200]!r}",
                                            "malformed reply") from None
                reason = f"{kind}: {error_message(r)}"
                if r.status_code not in RETRY_STATUSES:
                    raise EndpointError(reason, kind)
                wait = retry_after(r.headers.get("Retry-After"))
            if attempt >= self.max_retries:
                raise EndpointError(f"{reason} (gave up after {attempt + 1} attempts)", kind)
            if wait is None:
                wait = min(MAX_BACKOFF, BACKOFF * 2 ** attempt) * random.uniform(0.5, 1.5)
            self.log(f"retry {attempt + 1}/{self.max_retries} in {wait:.1f}s after {reason}")
            time.sleep(wait)
            attempt += 1


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
            return str(error.get("message", error))[:300]
        if error:
            return str(error)[:300]
    except (ValueError, AttributeError):
        pass
    return response.text[:300] or response.reason
