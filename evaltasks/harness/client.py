"""OpenAI chat-completions client: pooled session, timeouts, retries with backoff."""

import random
import re
import time

import requests

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_BACKOFF = 60.0
_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


class EndpointError(Exception):
    """A request that failed for good (non-retryable, or retries exhausted)."""


def strip_reasoning(text):
    """Drop ``<think>…</think>`` blocks; an unterminated block runs to the end."""
    if "</think>" in text and "<think>" not in text:
        # Some servers put the opening tag in the prompt template.
        text = "<think>" + text
    return _THINK.sub("", text).strip()


class ChatClient:
    def __init__(self, url, model_id, api_key=None, *, parallelism=1, request_timeout=60,
                 max_retries=5, generation=None, adapter=None, log=print):
        self.url = url
        self.model_id = model_id
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.generation = {k: v for k, v in (generation or {}).items() if v is not None}
        self.adapter = adapter or {}
        self.log = log
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        # One pooled session for all workers: urllib3's pool is thread-safe, and
        # sizing it to the parallelism keeps one live connection per worker.
        self._session = requests.Session()
        pool = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=max(1, parallelism))
        self._session.mount("http://", pool)
        self._session.mount("https://", pool)

    def close(self):
        self._session.close()

    def payload(self, messages):
        if self.adapter.get("use_system_prompt") and self.adapter.get("custom_system_prompt"):
            messages = [m for m in messages if m.get("role") != "system"]
            messages = [{"role": "system", "content": self.adapter["custom_system_prompt"]}] + messages
        body = {"model": self.model_id, "messages": messages}
        gen = dict(self.generation)
        if "max_new_tokens" in gen:
            gen["max_tokens"] = gen.pop("max_new_tokens")
        body.update(gen)
        return body

    def chat(self, messages):
        """Send one chat request; return the assistant's text (reasoning stripped
        when the adapter asks for it)."""
        body = self.payload(messages)
        reply = self._post(body)
        try:
            message = reply["choices"][0]["message"]
            text = message.get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise EndpointError(f"malformed reply from {self.url}: no choices[0].message "
                                f"in {str(reply)[:200]!r}")
        if self.adapter.get("use_reasoning") or self.adapter.get("process_reasoning_traces"):
            text = strip_reasoning(text)
        return body, text

    def _post(self, body):
        attempt = 0
        while True:
            wait = None
            try:
                r = self._session.post(self.url, json=body, headers=self._headers,
                                         timeout=self.request_timeout)
            except (requests.ConnectionError, requests.Timeout) as e:
                reason = f"{type(e).__name__}: {e}"
            else:
                if r.status_code == 200:
                    try:
                        return r.json()
                    except ValueError:
                        raise EndpointError(f"reply from {self.url} is not JSON: {r.text[:200]!r}")
                reason = f"HTTP {r.status_code}: {_error_message(r)}"
                if r.status_code not in RETRY_STATUSES:
                    raise EndpointError(reason)
                wait = _retry_after(r)
            if attempt >= self.max_retries:
                raise EndpointError(f"{reason} (gave up after {attempt + 1} attempts)")
            if wait is None:
                wait = min(MAX_BACKOFF, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.5)
            self.log(f"retry {attempt + 1}/{self.max_retries} in {wait:.1f}s after {reason}")
            time.sleep(wait)
            attempt += 1


def _retry_after(response):
    value = response.headers.get("Retry-After")
    try:
        return min(MAX_BACKOFF, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None


def _error_message(response):
    try:
        error = response.json().get("error")
        if isinstance(error, dict):
            return str(error.get("message", error))[:300]
        if error:
            return str(error)[:300]
    except (ValueError, AttributeError):
        pass
    return response.text[:300] or response.reason
