"""Read and check a task file: every problem is one line naming the file and
the key (``TaskFileError``), found before anything starts.

The keys are lm-eval's, for tasks a chat or completions endpoint can serve
(``generate_until``); keys lm-eval uses only for its registry or for Hugging
Face loading (``tag``, ``dataset_name``, ``trust_remote_code``…) are accepted
and have no effect here; any other key is an error."""

import re

from . import judge, template
from .. import lm_filters as filters

TOP_KEYS = {
    "task", "task_alias", "tag", "group", "output_type", "dataset_path", "dataset_name", "dataset_kwargs",
    "test_split", "validation_split", "training_split", "fewshot_split", "num_fewshot", "fewshot_config",
    "doc_to_text", "doc_to_target", "doc_to_choice", "target_delimiter", "fewshot_delimiter", "description",
    "generation_kwargs", "filter_list", "metric_list", "repeats", "metadata", "should_decontaminate",
    "doc_to_decontamination_query",
}
FORMATS = ("json", "csv", "parquet")
LOGLIKELIHOOD = ("loglikelihood", "loglikelihood_rolling", "multiple_choice")
GENERATION_KEYS = {"until", "max_gen_toks", "temperature", "do_sample", "top_p"}
FILTERS = {
    "regex": {"regex_pattern", "group_select", "fallback", "ignore_case"},
    "take_first": set(), "lowercase": set(), "uppercase": set(), "remove_whitespace": set(),
    "map": {"mapping_dict", "default_value"},
}
METRIC_COMMON = {"metric", "aggregation", "higher_is_better"}
METRICS = {
    "exact_match": {"ignore_case", "ignore_punctuation", "ignore_numbers", "regexes_to_ignore"},
    "numeric_match": set(),
    "contains": {"ignore_case"},
    "f1": set(),
    "choice_accuracy": set(),
    "judge": {"url", "model_id", "api_key_name", "prompt", "grade_pattern", "grades", "max_tokens"},
}


class TaskFileError(ValueError):
    """One line: the file, the key, the problem."""


def parse(raw, source):
    """The checked task (a dict with every default filled in) from the file's
    mapping ``raw`` (the launcher reads the YAML: ``filetasks.read``); ``source``
    names the file in messages."""
    def fail(key, problem):
        raise TaskFileError(f"{source}: {key}: {problem}")

    if not isinstance(raw, dict):
        raise TaskFileError(f"{source}: the task file must be a YAML mapping (key: value)")
    for key in raw:
        if key not in TOP_KEYS:
            fail(key, "unknown key" + (" (include: is not supported; copy the keys in)" if key == "include" else ""))

    output_type = raw.get("output_type", "generate_until")
    if output_type in LOGLIKELIHOOD:
        fail("output_type", f"{output_type} needs log-probabilities of given text, which a chat API "
                            "does not return; use generate_until (with doc_to_choice and a filter that reads a letter)")
    if output_type != "generate_until":
        fail("output_type", f"unknown output type {output_type!r} (supported: generate_until)")

    task = {"task": _str(raw, "task", fail, required=True)}
    task.update(_dataset(raw, fail))
    for key in ("doc_to_text", "doc_to_target"):
        if raw.get(key) is None:
            fail(key, "missing (a Jinja template or a column name)")
        if not isinstance(raw[key], (str, int)) or isinstance(raw[key], bool):
            fail(key, f"must be a Jinja template or a column name, got {type(raw[key]).__name__}")
        task[key] = _template(raw[key], key, fail)
    choice = raw.get("doc_to_choice")
    if choice is not None and not isinstance(choice, (str, list, dict)):
        fail("doc_to_choice", "must be a list, a column name, or a template that renders a list")
    if isinstance(choice, str):
        _template(choice, "doc_to_choice", fail)
    task["doc_to_choice"] = [str(c) for c in choice.values()] if isinstance(choice, dict) else \
        [str(c) for c in choice] if isinstance(choice, list) else choice
    for key, default in (("target_delimiter", " "), ("fewshot_delimiter", "\n\n"), ("description", "")):
        task[key] = _str(raw, key, fail, default=default)
    _template(task["description"], "description", fail)
    task["num_fewshot"] = _int(raw, "num_fewshot", fail, default=0)
    task["repeats"] = _int(raw, "repeats", fail, default=1, low=1)
    fewshot_config = raw.get("fewshot_config") or {}
    if not isinstance(fewshot_config, dict) or set(fewshot_config) - {"sampler"}:
        fail("fewshot_config", "only `sampler: first_n` or `sampler: default` is supported")
    task["fewshot_sampler"] = fewshot_config.get("sampler", "default")
    if task["fewshot_sampler"] not in ("default", "first_n"):
        fail("fewshot_config.sampler", f"unknown sampler {task['fewshot_sampler']!r} (default, first_n)")
    if task["num_fewshot"] and not task["fewshot_split"]:
        fail("num_fewshot", "needs fewshot_split (or training_split/validation_split) to take examples from")
    task["generation"] = _generation(raw.get("generation_kwargs"), fail)
    task["filters"] = _filters(raw.get("filter_list"), fail)
    task["metrics"] = _metrics(raw.get("metric_list"), task, fail)
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        fail("metadata", "must be a mapping")
    task["version"] = metadata.get("version")
    return task


def _str(raw, key, fail, default=None, required=False):
    value = raw.get(key, default)
    if value is None and required:
        fail(key, "missing")
    if value is not None and not isinstance(value, str):
        fail(key, f"must be a string, got {value!r}")
    return value


def _int(raw, key, fail, default, low=0):
    value = raw.get(key)
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        fail(key, f"must be a whole number ≥ {low}, got {value!r}")
    return value


def _template(value, key, fail):
    try:
        template.check(str(value))
    except template.TemplateError as e:
        fail(key, str(e))
    return str(value)


def _dataset(raw, fail):
    """Where the rows come from: the format and the files of each split."""
    fmt = raw.get("dataset_path")
    if fmt is None:
        fail("dataset_path", "missing (json or csv, with dataset_kwargs.data_files)")
    if fmt not in FORMATS:
        fail("dataset_path", f"{fmt!r}: only named files are read here (json or csv with "
                             "dataset_kwargs.data_files); download a Hugging Face dataset's files and name them")
    if fmt == "parquet":
        fail("dataset_path", "parquet needs pyarrow, which the harness does not ship; convert the file to "
                             "JSON Lines (pandas.read_parquet(f).to_json(out, orient='records', lines=True))")
    kwargs = raw.get("dataset_kwargs") or {}
    if not isinstance(kwargs, dict):
        fail("dataset_kwargs", "must be a mapping")
    for key in kwargs:
        if key not in ("data_files", "trust_remote_code"):
            fail(f"dataset_kwargs.{key}", "unknown key (data_files is read; trust_remote_code is ignored)")
    files = kwargs.get("data_files")
    if files is None:
        fail("dataset_kwargs.data_files", "missing: the data file(s), e.g. {test: data.jsonl}")
    if not isinstance(files, dict):
        files = {"train": files}      # the split Hugging Face names files given without one
    splits = {}
    for split, entries in files.items():
        entries = entries if isinstance(entries, list) else [entries]
        if not entries:
            fail(f"dataset_kwargs.data_files.{split}", "no files")
        splits[str(split)] = [_data_file(e, f"dataset_kwargs.data_files.{split}", fail) for e in entries]
    test = raw.get("test_split") or raw.get("validation_split")
    if test is None:
        fail("test_split", "missing: the split to evaluate on")
    fewshot = raw.get("fewshot_split") or raw.get("training_split") or raw.get("validation_split")
    for key, split in (("test_split", test), ("fewshot_split", fewshot if raw.get("num_fewshot") else None)):
        if split is not None and str(split) not in splits:
            fail(key, f"split {split!r} has no data_files (splits: {', '.join(splits)})")
    return {"format": fmt, "splits": splits, "test_split": str(test),
            "fewshot_split": str(fewshot) if fewshot is not None else None}


def _data_file(entry, key, fail):
    """``{"source": path or URL, "sha256": hex or None}``."""
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict) or len({"path", "url"} & set(entry)) != 1 or set(entry) - {"path", "url", "sha256"}:
        fail(key, "each file is a path, a URL, or {path: or url:, sha256:}")
    source = str(entry.get("path") or entry.get("url"))
    sha = entry.get("sha256")
    if sha is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha)):
        fail(f"{key}.sha256", f"not a sha256 digest: {sha!r}")
    if is_url(source) and not sha:
        fail(key, f"{source}: a URL needs its sha256, so the data cannot change unseen")
    return {"source": source, "sha256": str(sha).lower() if sha else None}


def is_url(source):
    return bool(re.match(r"https?://", source))


def _generation(kwargs, fail):
    kwargs = kwargs or {}
    if not isinstance(kwargs, dict):
        fail("generation_kwargs", "must be a mapping")
    for key in kwargs:
        if key not in GENERATION_KEYS:
            fail(f"generation_kwargs.{key}", f"unknown key (known: {', '.join(sorted(GENERATION_KEYS))})")
    until = kwargs.get("until") or []
    until = [until] if isinstance(until, str) else until
    if not isinstance(until, list) or not all(isinstance(u, str) and u for u in until):
        fail("generation_kwargs.until", "must be a string or a list of non-empty strings")
    params = {}
    if kwargs.get("max_gen_toks") is not None:
        params["max_new_tokens"] = kwargs["max_gen_toks"]
    if kwargs.get("temperature") is not None:
        params["temperature"] = kwargs["temperature"]
    elif kwargs.get("do_sample") is False:
        params["temperature"] = 0.0
    if kwargs.get("top_p") is not None:
        params["top_p"] = kwargs["top_p"]
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            fail(f"generation_kwargs.{key}", f"must be a number ≥ 0, got {value!r}")
    return {"until": until, "params": params}


def _filters(filter_list, fail):
    """``[{name, steps}]``; without a filter_list, one pipeline that keeps the reply."""
    if filter_list is None:
        return [{"name": "none", "steps": [{"function": "take_first"}]}]
    if not isinstance(filter_list, list) or not filter_list:
        fail("filter_list", "must be a list of {name, filter: [...]}")
    pipelines = []
    for i, entry in enumerate(filter_list):
        where = f"filter_list[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"name", "filter"} or not isinstance(entry.get("filter"), list):
            fail(where, "must be {name: ..., filter: [{function: ...}, ...]}")
        for j, step in enumerate(entry["filter"]):
            key = f"{where}.filter[{j}]"
            function = _known(step, "function", "filter", FILTERS, key, fail)
            if function == "regex":
                _regex(step.get("regex_pattern", filters.DEFAULT_REGEX), f"{key}.regex_pattern", fail)
                group = step.get("group_select", 0)
                if isinstance(group, bool) or not isinstance(group, int):
                    fail(f"{key}.group_select", "must be a whole number (-1: the last match)")
            if function == "map" and not isinstance(step.get("mapping_dict"), dict):
                fail(f"{key}.mapping_dict", "must be a mapping")
        pipelines.append({"name": str(entry.get("name", f"filter{i}")), "steps": [dict(s) for s in entry["filter"]]})
    names = [p["name"] for p in pipelines]
    if len(set(names)) != len(names):
        fail("filter_list", "two filters have the same name")
    return pipelines


def _known(entry, field, kind, table, where, fail, common=()):
    """``entry[field]``, a name ``table`` knows, once ``entry`` is checked to be a
    mapping that holds it and only options ``table`` allows that name (or ``common``)."""
    if not isinstance(entry, dict) or field not in entry:
        fail(where, f"must be {{{field}: ..., ...}}")
    name = entry[field]
    if name not in table:
        fail(f"{where}.{field}", f"unknown {kind} {name!r} (supported: {', '.join(table)})")
    for option in sorted(set(entry) - {field} - set(common) - table[name]):
        fail(f"{where}.{option}", f"unknown option of {name}")
    return name


def _regex(pattern, key, fail):
    try:
        return re.compile(str(pattern))
    except re.error as e:
        fail(key, f"regular expression does not compile: {e}")


def _metrics(metric_list, task, fail):
    if metric_list is None:
        return [{"metric": "exact_match"}]
    if not isinstance(metric_list, list) or not metric_list:
        fail("metric_list", "must be a list of {metric: ...}")
    metrics = []
    for i, entry in enumerate(metric_list):
        where = f"metric_list[{i}]"
        name = _known(entry, "metric", "metric", METRICS, where, fail, common=METRIC_COMMON)
        if entry.get("aggregation", "mean") != "mean":
            fail(f"{where}.aggregation", "only mean is supported")
        for j, pattern in enumerate(entry.get("regexes_to_ignore") or []):
            _regex(pattern, f"{where}.regexes_to_ignore[{j}]", fail)
        if name == "choice_accuracy" and task["doc_to_choice"] is None:
            fail(f"{where}.metric", "choice_accuracy needs doc_to_choice")
        metrics.append(_judge(entry, where, fail) if name == "judge" else dict(entry))
    if len({m["metric"] for m in metrics}) != len(metrics):
        fail("metric_list", "a metric is listed twice")
    return metrics


def _judge(entry, where, fail):
    for key, what in (("url", "chat-completions URL"), ("model_id", "model")):
        if not isinstance(entry.get(key), str) or not entry[key]:
            fail(f"{where}.{key}", f"missing: the judge endpoint's {what}")
    if entry.get("api_key_name") is not None and not isinstance(entry["api_key_name"], str):
        fail(f"{where}.api_key_name", "must be the NAME of an environment variable, or null")
    prompt = entry.get("prompt", judge.DEFAULT_PROMPT)
    _template(prompt, f"{where}.prompt", fail)
    pattern = entry.get("grade_pattern", judge.DEFAULT_GRADE_PATTERN)
    if _regex(pattern, f"{where}.grade_pattern", fail).groups < 1:
        fail(f"{where}.grade_pattern", "needs a group ( ) around the grade")
    grades = entry.get("grades")
    if grades is not None and (not isinstance(grades, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in grades.values())):
        fail(f"{where}.grades", "must map each grade to a score, e.g. {CORRECT: 1, INCORRECT: 0}")
    max_tokens = entry.get("max_tokens", 1024)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        fail(f"{where}.max_tokens", f"must be a whole number ≥ 1, got {max_tokens!r}")
    return dict(entry, prompt=prompt, grade_pattern=pattern, max_tokens=max_tokens,
                api_key_name=entry.get("api_key_name"),
                grades={str(k): float(v) for k, v in grades.items()} if grades else None)
