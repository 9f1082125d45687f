"""Judge scoring: another model reads the question, the reference answer and the
reply, and its grade is the score.

The judge is asked through the same ``Model`` as the model under evaluation:
retried on 429/5xx/timeouts, its replies cached in the same response cache
(keyed by the judge's model and the exact request), so a rerun asks the judge
only about replies it has not graded. Its reply is the sample's
``judge_reasoning`` and the grade it gives ``judge_verdict``. A reply with no
grade the pattern can read scores 0, verdict null."""

import os
import re

from ..client import EndpointError
from ..model import Model
from . import template

DEFAULT_PROMPT = (
    "You are grading an answer to a question against the reference answer.\n\n"
    "Question:\n{{ prompt }}\n\nReference answer:\n{{ target }}\n\nAnswer to grade:\n{{ response }}\n\n"
    "Explain briefly whether the answer means the same as the reference, then end with a line "
    "\"GRADE: CORRECT\" or \"GRADE: INCORRECT\"."
)
DEFAULT_GRADE_PATTERN = r"GRADE:\s*(CORRECT|INCORRECT)"
DEFAULT_GRADES = {"CORRECT": 1.0, "INCORRECT": 0.0}


class Judge:
    def __init__(self, metric, params, cache=None, refresh=False, log=print):
        self.metric = metric
        self.pattern = re.compile(metric["grade_pattern"])
        self.grades = metric["grades"] or (DEFAULT_GRADES if metric["grade_pattern"] == DEFAULT_GRADE_PATTERN
                                           else None)
        endpoint = {"url": metric["url"], "model_id": metric["model_id"], "type": "chat"}
        key_name = metric.get("api_key_name")
        judge_params = {"temperature": 0.0, "top_p": None, "seed": None, "max_new_tokens": metric["max_tokens"],
                        "parallelism": params["parallelism"], "request_timeout": params["request_timeout"],
                        "max_retries": params["max_retries"]}
        self.model = Model(endpoint, judge_params, os.environ.get(key_name) if key_name else None,
                           cache=cache, refresh=refresh, log=log)

    def grade(self, doc, prompt, response, golds):
        """``{score, judge_verdict, judge_reasoning}``; raises client.EndpointError
        when the judge gives no reply after its retries."""
        text = template.render(self.metric["prompt"], dict(doc, prompt=prompt, response=response,
                                                           target=golds[0], targets=golds))
        payload = self.model.payload([{"role": "user", "content": text}])
        try:
            answer = self.model.ask(payload)
        except EndpointError as e:
            raise EndpointError(f"judge {self.metric['model_id']} at {self.metric['url']}: {e}",
                                f"judge {e.kind}") from None
        reasoning = answer.text if answer.reasoning is None else f"{answer.reasoning}\n\n{answer.text}"
        matches = self.pattern.findall(answer.text)
        verdict = matches[-1] if matches else None
        verdict = next((g for g in verdict if g), None) if isinstance(verdict, tuple) else verdict
        return {"score": self._score(verdict), "judge_verdict": verdict, "judge_reasoning": reasoning}

    def _score(self, verdict):
        if verdict is None:
            return 0.0
        if self.grades is not None:
            return self.grades.get(verdict.strip(), self.grades.get(verdict.strip().upper(), 0.0))
        try:
            return float(verdict)
        except ValueError:
            return 0.0

    def close(self):
        self.model.close()
