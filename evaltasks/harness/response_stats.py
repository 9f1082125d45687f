"""What the endpoint did during a task, for ``results.json``'s ``response_stats``.

``requests`` counts the samples sent to the endpoint (not answered by the
cache), ``retries`` the further attempts they took; status codes count every
attempt ("timeout" and "connection_error" when no response came), and latencies
are those of the attempts answered with 200. Finish reasons and token counts
cover every answer the task scored, cache hits included, so that a resumed run
reports what a clean run would. A token count that is not a whole number >= 0
(or a ``usage`` that is not an object) is left out of the totals and counted in
``invalid_token_counts``; ``cut_off`` counts the answers that stopped at the token
limit (finish_reason "length"), a usual reason for low scores, and
``empty_replies`` the answers with no text but whitespace (``""``), which score
as wrong without failing the sample (``warnings.py`` flags a task with many).
"""

import math
import threading
from collections import Counter

TOKENS = ("prompt", "completion", "reasoning")


class ResponseStats:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests = 0
        self.attempts = 0
        self.cache_hits = 0
        self.answers = 0
        self.empty = 0
        self.invalid_token_counts = 0
        self.status_codes = Counter()
        self.finish_reasons = Counter()
        self.latencies = []
        self.tokens = {name: [0, 0] for name in TOKENS}     # total, answers that reported it

    def request(self):
        with self._lock:
            self.requests += 1

    def attempt(self, outcome, seconds):
        with self._lock:
            self.attempts += 1
            self.status_codes[str(outcome)] += 1
            if outcome == 200:
                self.latencies.append(seconds)

    def answer(self, answer, cached):
        with self._lock:
            self.answers += 1
            self.cache_hits += int(cached)
            self.empty += int(not answer.text.strip())
            self.finish_reasons[str(answer.finish_reason)] += 1
            self.invalid_token_counts += int(answer.invalid_usage)
            for name in TOKENS:
                count = getattr(answer, f"{name}_tokens")
                if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                    self.tokens[name][0] += count
                    self.tokens[name][1] += 1
                elif count is not None:
                    self.invalid_token_counts += 1

    def summary(self):
        with self._lock:
            latencies = sorted(self.latencies)
            return {
                "requests": self.requests,
                "retries": self.attempts - self.requests,
                "cache_hits": self.cache_hits,
                "status_codes": dict(sorted(self.status_codes.items())),
                "finish_reasons": dict(sorted(self.finish_reasons.items())),
                "cut_off": self.finish_reasons["length"],
                "empty_replies": self.empty,
                "tokens": {name: {"total": total, "mean": round(total / n, 2) if n else None}
                           for name, (total, n) in self.tokens.items()},
                "invalid_token_counts": self.invalid_token_counts,
                "latency_ms": _latency(latencies),
            }


def _latency(sorted_seconds):
    if not sorted_seconds:
        return None
    ms = [s * 1000 for s in sorted_seconds]
    rank = lambda q: ms[max(0, math.ceil(q * len(ms)) - 1)]      # nearest-rank percentile
    return {"p50": round(rank(0.5), 1), "p90": round(rank(0.9), 1), "p99": round(rank(0.99), 1),
            "mean": round(sum(ms) / len(ms), 1), "max": round(ms[-1], 1)}
