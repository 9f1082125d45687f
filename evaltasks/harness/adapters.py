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
  one; blocks in the content are removed all the same, added to the reasoning,
  and noted in the sample's row.
- ``use_request_logging`` / ``max_logged_requests``, ``use_response_logging`` /
  ``max_logged_responses``: the first N payloads / replies (N: 5 when unset) go
  to the task log. Bodies only: headers, and so the API key, are never logged.

Endpoint ``type: completions`` gets a plain ``prompt`` instead of ``messages``:
the texts of the messages (system first, then user, as the benchmark gives them)
joined by blank lines, and its reply is read from ``choices[0].text``.

A reply's text may be a list of content parts (the text parts are joined); one
with no text (``content: null``, only ``tool_calls``) is a failed sample, not an
empty answer. A ``usage`` that is not an object is ignored, and said so.
"""

import json
import re
import threading
from dataclasses import dataclass, field

from .client import EndpointError, clean

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
    invalid_usage: bool = False
    notes: list = field(default_factory=list)   # what was done to the reply to read it


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
        notes = []
        choice = _choice(reply)
        finish_reason = choice.get("finish_reason")
        if self.endpoint_type == "completions":
            text, reasoning = _text(choice.get("text"), "choices[0].text"), None
        else:
            message = choice.get("message")
            if not isinstance(message, dict):
                raise _malformed(f"choices[0].message is {_excerpt(message)}")
            text = _text(message.get("content"), "choices[0].message.content")
            reasoning = _text(message.get("reasoning_content"), "choices[0].message.reasoning_content")
        replaced = 0
        if isinstance(finish_reason, str):
            finish_reason, replaced = clean(finish_reason)
        if text is None:
            raise EndpointError(f"no content: finish_reason {finish_reason}", "no content")
        text, n = clean(text)
        replaced += n
        if reasoning is not None:
            reasoning, n = clean(reasoning)
            replaced += n
        if replaced:
            notes.append(f"replaced {replaced} lone surrogate(s), which no file can hold, with U+FFFD")
        if self.config.get("use_reasoning") or self.config.get("process_reasoning_traces"):
            removed, text = split_reasoning(text)
            if removed and reasoning:
                notes.append(f"removed a <think> block ({len(removed)} characters) from the content "
                             "beside reasoning_content; added to reasoning")
                reasoning = f"{reasoning}\n\n{removed}"
            elif removed:
                reasoning = removed
        usage = reply.get("usage")
        invalid_usage = usage is not None and not isinstance(usage, dict)
        if invalid_usage:
            notes.append(f"usage ignored: {_excerpt(usage)} is not an object")
        usage = usage if isinstance(usage, dict) else {}
        details = usage.get("completion_tokens_details")
        reasoning_tokens = details.get("reasoning_tokens") if isinstance(details, dict) else None
        if reasoning_tokens is None and reasoning:
            reasoning_tokens = len(reasoning.split())
        return Answer(text=text, reasoning=reasoning or None, finish_reason=finish_reason,
                      prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                      reasoning_tokens=reasoning_tokens, invalid_usage=invalid_usage, notes=notes)


def _choice(reply):
    if not isinstance(reply, dict):
        raise _malformed(f"the reply is {_excerpt(reply)}, not an object")
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _malformed(f"choices is {_excerpt(choices)} in {_excerpt(reply)}")
    if not isinstance(choices[0], dict):
        raise _malformed(f"choices[0] is {_excerpt(choices[0])}")
    return choices[0]


def _text(value, where):
    """A reply's text: a string, or the text parts of a list of content parts
    joined; None when there is none."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        texts = [p["text"] for p in value if p.get("type", "text") == "text" and isinstance(p.get("text"), str)]
        return "".join(texts) if texts else None
    raise _malformed(f"{where} is {_excerpt(value)}, not text")


def _malformed(problem):
    return EndpointError(f"malformed reply: {problem}", "malformed reply")


def _excerpt(value, limit=120):
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "…"


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
        self.log(f"{what}: {clean(json.dumps(body, ensure_ascii=False))[0]}")


def _limit(config, what):
    if not config.get(f"use_{what}_logging"):
        return 0
    limit = config.get(f"max_logged_{what}s")
    return DEFAULT_LOGGED if limit is None else limit
