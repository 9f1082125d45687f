"""A task defined in a file (see ``harness/filetask``): the benchmark protocol
over task.json's ``task_file`` — the YAML's mapping, and the names its data files
have in the task's data folder — so the harness needs no path of the host.

Each filter of ``filter_list`` runs on the reply (cut at ``generation_kwargs.until``)
and each metric of ``metric_list`` scores each filter's result: the metrics
are ``<metric>/<filter>`` (just ``<metric>`` without a filter_list), each the
mean over samples. A sample's ``score`` is the first of them, ``scores`` has all,
``extracted`` each filter's result. An empty reply scores 0 without asking a judge.
"""

from .. import aggregate, cache
from ..datasets import DatasetError
from .. import lm_filters as filters
from ..filetask import data, metrics as metric_functions, spec as task_spec
from ..filetask.judge import Judge
from ..filetask.template import Renderer, TemplateError


def for_task(task, log=print):
    return FileTask(task, log)


class FileTask:
    def __init__(self, task, log=print):
        source = task["task_file"]
        self.spec = task_spec.parse(source["document"], source["path"])
        self.files = source["files"]
        self.pipelines = [(p["name"], filters.pipeline(p["steps"])) for p in self.spec["filters"]]
        plain = self.spec["filters"][0]["name"] == "none" and len(self.pipelines) == 1
        self.keys = [(m, name, m["metric"] if plain else f"{m['metric']}/{name}")
                     for name, _ in self.pipelines for m in self.spec["metrics"]]
        responses = cache.from_environment()
        refresh = bool(task.get("refresh_cache")) and responses is not None
        self.judges = {id(m): Judge(m, task["params"], responses, refresh, log)
                       for m in self.spec["metrics"] if m["metric"] == "judge"}
        self.renderer = None

    def scoring_waits(self, params):
        """A task with a ``judge`` metric asks the judge model in each score."""
        return bool(self.judges)

    def load(self, data_dir):
        split = lambda name: data.read_split(data_dir, self.files[name], self.spec["format"])
        docs = split(self.spec["test_split"])
        fewshot = split(self.spec["fewshot_split"]) if self.spec["num_fewshot"] else []
        self.renderer = Renderer(self.spec, fewshot)
        return [self._checked(index, lambda: {
            "row": index, "doc": doc, "gold": self.renderer.golds(doc), "choices": self.renderer.choices(doc),
            "gold_index": self.renderer.gold_index(doc)}) for index, doc in enumerate(docs)]

    def expand(self, items, params):
        """The prompts, rendered for the rows kept after limit_samples; the repeats."""
        items = [dict(item, prompt_text=self._checked(item["row"], lambda: self.renderer.prompt(item["doc"], item["row"])))
                 for item in items]
        if self.spec["repeats"] == 1:
            return items
        return [dict(item, repeat=n) for item in items for n in range(self.spec["repeats"])]

    def _checked(self, index, make):
        try:
            return make()
        except (TemplateError, KeyError, ValueError, SyntaxError, IndexError) as e:
            raise DatasetError(f"{self.spec['test_split']} row {index + 1}: {e}") from None

    def prompt(self, item, params):
        return [{"role": "user", "content": item["prompt_text"]}]

    def extract(self, text):
        if not text.strip():
            return None
        text = filters.cut_at(text, self.spec["generation"]["until"])
        return {name: apply(text) for name, apply in self.pipelines}

    def score(self, extracted, item):
        scores, fields = {}, {}
        for metric, name, key in self.keys:
            if extracted is None:
                scores[key] = 0.0
            elif metric["metric"] == "judge":
                graded = self.judges[id(metric)].grade(item["doc"], item["prompt_text"],
                                                       _text(extracted[name]), item["gold"])
                scores[key] = graded.pop("score")
                suffix = "" if len(self.pipelines) == 1 else f"/{name}"
                fields.update({k + suffix: v for k, v in graded.items()})
            else:
                scores[key] = metric_functions.score(metric, extracted[name], item["gold"],
                                                     item["choices"], item["gold_index"])
        return dict(fields, score=scores[self.keys[0][2]], scores=scores)

    def metrics(self, samples, params):
        values = {key: [] for _, _, key in self.keys}
        for sample in samples:
            for key in values:
                values[key].append(sample.get("scores", {}).get(key, 0.0))
        return {key: aggregate.mean_metric(v) for key, v in values.items()}


def _text(value):
    return "" if value is None else str(value)
