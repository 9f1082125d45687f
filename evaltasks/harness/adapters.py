"""What the endpoint is sent and how its reply is read, per
``endpoint.adapter_config`` (NeMo Evaluator's key names):

- ``use_system_prompt`` + ``custom_system_prompt``: replace the benchmark's system
  message, if any, with this one.
- ``params_to_add`` (merged into the payload), ``params_to_remove`` (payload keys
  dropped), ``params_to_rename`` (old key → new key): applied in that order, after
  the model, the prompt and the generation params are set.
- ``use_reasoning`` / ``process_reasoning_traces``: the answer is the reply
  without its ``<think>…</think>`` blocks (an unterminated block runs to the end).
  A message's ``reasoning_content`` is the reasoning whenever the server sends
  one; the content is then the answer as it is.
- ``use_request_logging`` / ``max_logged_requests``, ``use_response_logging`` /
  ``max_logged_responses``: the first N payloads / replies (N: 5 when unset) go
  to the task log. Bodies only: headers, and so the API key, are never logged.

Endpoint ``type: completions`` gets a plain ``prompt`` instead of ``messages``:
the texts of the messages (system first, then user, as the benchmark gives them)
joined by blank lines, and its reply is read from ``choices[0].text``.
"""

import json
import re
import threading
from dataclasses import dataclass

from .client import EndpointError

DEFAULT_LOGGED = 5
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)


@dataclass
class Answer:
    text: str                  # the answer the benchmark scores
    reasoning: str = None      # reasoning stripped from the reply or sent beside it
    finish_reason: str = None
    prompt_tokens: int = None
    completion_tokens: int = None
    reasoning_tokens: int = None


def split_reasoning(text):
    """(reasoning, answer): ``<think>`` blocks and the text around them; reasoning
    is None when there is no block."""
    if "</think>" in text and "<think>" not in text:
        # Some servers put the opening tag in the prompt template.
        text = "<think>" + text
    blocks = [b.strip() for b in _THINK.findall(text)]
    if not blocks:
        return None, text.strip()
    return "\n\n".join(blocks), _THINK.sub("", text).strip()


def flatten(messages):
    return "\n\n".join(m["content"] for m in messages)


class Adapter:
    def __init__(self, model_id, endpoint_type="chat", generation=None, config=None):
        self.model_id = model_id
        self.endpoint_type = endpoint_type
        self.generation = {k: v for k, v in (generation or {}).items() if v is not None}
        if "max_new_tokens" in self.generation:
            self.generation["max_tokens"] = self.generation.pop("max_new_tokens")
        self.config = config or {}

    def messages(self, messages):
        """The messages as the endpoint will see them."""
        prompt = self.config.get("custom_system_prompt")
        if self.config.get("use_system_prompt") and prompt:
            return [{"role": "system", "content": prompt}] + [m for m in messages if m.get("role") != "system"]
        return messages

    def payload(self, messages, sample=0):
        """The request body; copy ``sample`` of a repeated prompt gets its own seed,
        or a server that honours seeds would answer every copy the same."""
        body = {"model": self.model_id}
        if self.endpoint_type == "completions":
            body["prompt"] = flatten(self.messages(messages))
        else:
            body["messages"] = self.messages(messages)
        body.update(self.generation)
        if sample and "seed" in body:
            body["seed"] += sample
        body.update(self.config.get("params_to_add") or {})
        for key in self.config.get("params_to_remove") or ():
            body.pop(key, None)
        for old, new in (self.config.get("params_to_rename") or {}).items():
            if old in body:
                body[new] = body.pop(old)
        return body

    def read(self, reply):
        """The Answer in a well-formed reply; EndpointError for any other."""
        try:
            choice = reply["choices"][0]
            if self.endpoint_type == "completions":
                text, reasoning = choice["text"], None
            else:
                message = choice["message"]
                text, reasoning = message.get("content"), message.get("reasoning_content")
            if not isinstance(text, (str, type(None))) or not isinstance(reasoning, (str, type(None))):
                raise TypeError("not text")
            usage = reply.get("usage") or {}
            reasoning_tokens = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        except (KeyError, IndexError, TypeError, AttributeError):
            where = "choices[0].text" if self.endpoint_type == "completions" else "choices[0].message.content"
            raise EndpointError(f"malformed reply: no text at {where} in {json.dumps(reply)[:200]}",
                                "malformed reply") from None
        text = text or ""
        if not reasoning and (self.config.get("use_reasoning") or self.config.get("process_reasoning_traces")):
            reasoning, text = split_reasoning(text)
        if reasoning_tokens is None and reasoning:
            reasoning_tokens = len(reasoning.split())
        return Answer(text=text, reasoning=reasoning or None, finish_reason=choice.get("finish_reason"),
                      prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                      reasoning_tokens=reasoning_tokens)


class TrafficLog:
    """Logs the first N request payloads and replies, when the config asks."""

    def __init__(self, config, log):
        self.log = log
        self._left = {"request": _limit(config, "request"), "response": _limit(config, "response")}
        self._lock = threading.Lock()

    def request(self, payload):
        self._write("request", payload)

    def response(self, reply):
        self._write("response", reply)

    def _write(self, what, body):
        with self._lock:
            if self._left[what] <= 0:
                return
            self._left[what] -= 1
        self.log(f"{what}: {json.dumps(body, ensure_ascii=False)}")


def _limit(config, what):
    if not config.get(f"use_{what}_logging"):
        return 0
    limit = config.get(f"max_logged_{what}s")
    return DEFAULT_LOGGED if limit is None else limit
