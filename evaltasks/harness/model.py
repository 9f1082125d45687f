"""The model under evaluation as a benchmark sees it: messages in, an answer out.

One ``ask`` shapes the request (``adapters``), answers it from the response
cache when it can, or sends it (``client``) and caches the reply, and counts
what happened (``response_stats``). With ``refresh``, every request is sent and
its reply replaces the cached one (``evaltasks run --force``)."""

from .adapters import Adapter, TrafficLog
from .cache import canonical
from .client import Client
from .provenance import ServerSeen
from .response_stats import ResponseStats


def generation(params):
    """The task's params that go into each request (the adapter names them for the API)."""
    return {k: params.get(k) for k in ("temperature", "top_p", "max_new_tokens", "seed")}


class Model:
    def __init__(self, endpoint, params, api_key=None, *, cache=None, refresh=False, log=print):
        self.model_id = endpoint["model_id"]
        self.cache = cache
        self.refresh = refresh
        self.stats = ResponseStats()
        self.server = ServerSeen()
        config = endpoint.get("adapter_config") or {}
        self.adapter = Adapter(self.model_id, endpoint.get("type", "chat"), generation(params), config)
        self.traffic = TrafficLog(config, log)
        self.client = Client(endpoint["url"], api_key, parallelism=params["parallelism"],
                             request_timeout=params["request_timeout"], max_retries=params["max_retries"],
                             log=log, observe=self.stats.attempt)

    def close(self):
        self.client.close()
        if self.cache:
            self.cache.close()

    def server_said(self):
        """What the server said about itself (provenance.ServerSeen.summary)."""
        return self.server.summary(self.client.server_headers)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def payload(self, messages, sample=0):
        return self.adapter.payload(messages, sample)

    def ask(self, payload, sample=0):
        """The Answer to ``payload`` (from ``payload()``); ``sample`` tells repeated
        copies of one prompt apart. Raises client.EndpointError. Blocks."""
        key, reply, body = self._cached(payload, sample)
        if reply is not None:
            return self._answer(key, reply, True)
        self._sending(payload)
        return self._answer(key, self.client.post(body), False)

    async def aask(self, payload, sample=0):
        """``ask`` on the running event loop (the harness's requests)."""
        key, reply, body = self._cached(payload, sample)
        if reply is not None:
            return self._answer(key, reply, True)
        self._sending(payload)
        return self._answer(key, await self.client.apost(body), False)

    def _cached(self, payload, sample):
        """(the cache key or None, the cached reply or None, what to send). With
        a cache, the payload's canonical JSON is both the key's and the body:
        encoded once."""
        if not self.cache:
            return None, None, payload
        text = canonical(payload)
        key = self.cache.key(self.model_id, text, sample)
        try:
            body = text.encode("utf-8")
        except UnicodeEncodeError:      # a lone surrogate: the client's JSON escapes it
            body = payload
        return key, None if self.refresh else self.cache.get(key), body

    def _sending(self, payload):
        self.stats.request()
        self.traffic.request(payload)

    def _answer(self, key, reply, cached):
        if not cached:
            self.traffic.response(reply)
        self.server.reply(reply)
        answer = self.adapter.read(reply)
        if key and not cached:
            self.cache.put(key, reply)
        self.stats.answer(answer, cached)
        return answer
