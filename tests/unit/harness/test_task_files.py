"""Tasks defined in files (lm-eval's task format): the launcher reads and stages
them, the harness runs them against FakeEndpoint on 127.0.0.1 (``run.run`` on the
host here; through a container in e2e/docker/test_task_file_in_container.py)."""

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import DATA_DIR, REPO, evaltasks_cli, gsm8k_golds, write_config
from support.endpoint import FakeEndpoint
from evaltasks.config import compose as config
from evaltasks.config.params import DEFAULT_PARAMS
from evaltasks.data import taskfiles as filetasks
from evaltasks.pipeline import freshness, plan
from evaltasks.pipeline import actions as runner
from evaltasks.harness import client, run

GSM8K_FILE = DATA_DIR / "gsm8k" / "test.jsonl"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Staged data and replies in the test's own folders; quick retries."""
    monkeypatch.setenv("EVALTASKS_CACHE_DIR", str(tmp_path / "evaltasks-cache"))
    monkeypatch.setenv("EVALTASKS_RESPONSE_CACHE", str(tmp_path / "responses"))
    monkeypatch.setattr(client, "BACKOFF", 0.001)


def write_task(folder, document, name="task.yaml"):
    path = Path(folder) / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return path


def run_task(tmp_path, monkeypatch, url, name, task_id=None, **params):
    """Load a config naming ``name``, stage its data and run the harness as the
    launcher would (task.json, data folder), on this host; (results, samples)."""
    overrides = {f"config.params.{k}": v for k, v in dict(parallelism=16, **params).items()}
    cfg_path = write_config(tmp_path / f"config-{task_id or 'x'}.yaml", url, tmp_path / "out",
                            tasks=[{"name": str(name), "overrides": overrides}])
    spec = plan.task_specs(config.load(str(cfg_path)), "0123456789ab")[0]
    monkeypatch.setenv("EVALTASKS_DATA_DIR", str(filetasks.stage(spec.task_file).parent))
    task_dir = Path(spec.task_dir)
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "task.json").write_text(json.dumps(runner.harness_task(spec)))
    run.run(str(task_dir))
    rows = [json.loads(line) for line in (task_dir / "samples.jsonl").read_text().splitlines()]
    return json.loads((task_dir / "results.json").read_text()), rows


def builtin_gsm8k(tmp_path, url):
    """The built-in gsm8k's samples on the same endpoint."""
    task_dir = tmp_path / "builtin"
    task_dir.mkdir()
    (task_dir / "task.json").write_text(json.dumps({
        "id": "gsm8k", "name": "gsm8k", "benchmark": "gsm8k",
        "params": dict(DEFAULT_PARAMS, parallelism=16, max_new_tokens=1024, extra={}),
        "endpoint": {"url": url, "model_id": "test-model", "type": "chat", "api_key_name": None,
                     "adapter_config": {}}}))
    run.run(str(task_dir))
    return [json.loads(line) for line in (task_dir / "samples.jsonl").read_text().splitlines()]


# -- the built-in gsm8k, as a task file --------------------------------------
GSM8K_AS_FILE = {
    "task": "gsm8k_file",
    "dataset_path": "json",
    "dataset_kwargs": {"data_files": {"test": str(GSM8K_FILE)}},
    "test_split": "test",
    "doc_to_text": (
        "Solve the following math problem step by step. The last line of your response "
        "should be of the form \"Answer: $ANSWER\" (without quotes) where $ANSWER is the "
        "final numeric answer.\n\n{{question}}\n\n"
        "Remember to put your final answer on its own line after \"Answer:\"."),
    "doc_to_target": "{{ answer.split('####')[-1].strip() }}",
    "generation_kwargs": {"max_gen_toks": 1024, "do_sample": False},
    # gsm8k.extract: the rest of the line after the last marker that has a number
    # on it; else, when no marker has one, the last number of the reply.
    "filter_list": [{"name": "answer", "filter": [
        {"function": "regex", "group_select": -1, "regex_pattern":
            r"(?i)(?:answer\s*:|the final answer is|####)([^\n]*\d[^\n]*)"
            r"|\A(?![\s\S]*(?:answer\s*:|the final answer is|####)[^\n]*\d)[\s\S]*?"
            r"(-?\d[\d,]*(?:\.\d+)?|-?\.\d+)(?![\s\S]*\d)"},
        {"function": "take_first"}]}],
    "metric_list": [{"metric": "numeric_match"}],
}


def varied_reply(index, question_gold):
    """Replies in the shapes models give: markers, `$` and commas, several
    markers, no marker at all, no number; right for two in three questions."""
    gold = int(question_gold)
    a = gold if index % 3 else gold + 1
    shapes = [
        f"Let me think step by step.\nSo the total is {a}.\nAnswer: {a}",
        f"Working it out gives 7 then 9.\nThe final answer is ${a:,}.",
        f"12 + 30 = 42\n#### {a}",
        f"First 3 apples, then 4 more, so {a} apples in the end.",
        f"Answer: {a + 5}\n\nWait, I made a mistake.\nAnswer: {a}",
        f"Answer: see above. The total is {a}",
        "I cannot solve this.",
        f"answer: {a}.00 dollars",
        f"The final answer is {a} and not answer: {a + 2}",
        f"{a} is what I get, give or take 1.5 or 2",
        f"Answer:\n{a}",
        f"Answer: -${a}",
    ]
    return shapes[index % len(shapes)]


def test_gsm8k_as_a_task_file_scores_every_sample_as_the_builtin(tmp_path, monkeypatch):
    golds = gsm8k_golds()
    by_question = {item["question"]: (i, item["gold"]) for i, item in enumerate(golds)}

    def reply(payload):
        text = payload["messages"][-1]["content"]
        question = text.split("\n\n")[1]
        index, gold = by_question[question]
        return varied_reply(index, gold)

    with FakeEndpoint(reply) as ep:
        builtin = builtin_gsm8k(tmp_path, ep.chat_url)
        path = write_task(tmp_path, GSM8K_AS_FILE)
        results, from_file = run_task(tmp_path, monkeypatch, ep.chat_url, path)
    assert len(builtin) == len(from_file) == 1319
    assert [s["prompt"] for s in from_file] == [s["prompt"] for s in builtin]
    assert [s["score"] for s in from_file] == [s["score"] for s in builtin]
    assert 0.3 < results["metrics"]["numeric_match/answer"]["value"] < 0.7
    assert results["metrics"]["numeric_match/answer"]["value"] == sum(s["score"] for s in builtin) / 1319


# -- lm-eval's own gsm8k task --------------------------------------------------
# lm-evaluation-harness's tasks/gsm8k/gsm8k.yaml (its v3 layout), with only the
# dataset pointed at the local file: lm-eval reads it from the Hugging Face hub.
LM_EVAL_GSM8K = r"""
tag:
  - math_word_problems
task: gsm8k
dataset_path: json
dataset_name: main
output_type: generate_until
training_split: train
fewshot_split: train
test_split: test
doc_to_text: "Question: {{question}}\nAnswer:"
doc_to_target: "{{answer}}" #" {{answer.split('### ')[-1].rstrip()}}"
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: false
    regexes_to_ignore:
      - ","
      - "\\$"
      - "(?s).*#### "
      - "\\.$"
generation_kwargs:
  until:
    - "Question:"
    - "</s>"
    - "<|im_end|>"
  do_sample: false
  temperature: 0.0
repeats: 1
num_fewshot: 5
filter_list:
  - name: "strict-match"
    filter:
      - function: "regex"
        regex_pattern: "#### (\\-?[0-9\\.\\,]+)"
      - function: "take_first"
  - name: "flexible-extract"
    filter:
      - function: "regex"
        group_select: -1
        regex_pattern: "(-?[$0-9.,]{2,})|(-?[0-9]+)"
      - function: "take_first"
metadata:
  version: 3.0
dataset_kwargs:
  trust_remote_code: true
  data_files:
    train: TRAIN
    test: TEST
"""


def by_hand(reply, gold):
    """lm-eval's two filters and exact_match, written out for this test."""
    reply = reply.split("Question:")[0].split("</s>")[0].split("<|im_end|>")[0]
    strict = re.findall(r"#### (\-?[0-9\.\,]+)", reply)
    strict = strict[0].strip() if strict else "[invalid]"
    flexible = re.findall(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", reply)
    flexible = ([g for g in flexible[-1] if g] or ["[invalid]"])[0].strip() if flexible else "[invalid]"

    def clean(text):
        for pattern in (",", "\\$", "(?s).*#### ", "\\.$"):
            text = re.sub(pattern, "", text)
        return text.lower()

    return float(clean(strict) == clean(gold)), float(clean(flexible) == clean(gold))


def test_lm_evals_gsm8k_task_runs_unchanged(tmp_path, monkeypatch):
    rows = [json.loads(line) for line in GSM8K_FILE.read_text().splitlines()]
    train = tmp_path / "train.jsonl"        # five solved problems as the few-shot pool
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[-5:]))
    golds = {r["question"]: r["answer"] for r in rows}
    shapes = ["{w}\n#### {a}", "The answer is ${a:,}.", "{w}\n#### {a}\n\nQuestion: what next? #### 7",
              "So it is {a}", "#### {a}.", "I have no idea."]

    def reply(payload):
        text = payload["messages"][-1]["content"]
        question = text.rsplit("Question: ", 1)[1][:-len("\nAnswer:")]
        answer = golds[question]
        n = int(answer.split("####")[-1].replace(",", ""))
        index = len(question) % len(shapes)
        return shapes[index].format(w=answer.split("####")[0].strip(), a=n if len(question) % 4 else n + 3)

    path = write_task(tmp_path, LM_EVAL_GSM8K.replace("TRAIN", str(train)).replace("TEST", str(GSM8K_FILE)))
    with FakeEndpoint(reply) as ep:
        results, samples = run_task(tmp_path, monkeypatch, ep.chat_url, path, limit_samples=300)

    first = samples[0]["prompt"][0]["content"]
    shots = first.split("\n\n")
    assert first.endswith(f"Question: {rows[0]['question']}\nAnswer:")
    assert first.count("Question: ") == 6 and all(s.startswith("Question: ") for s in shots[:5])
    hand = [by_hand(s["response"], golds[s["prompt"][0]["content"].rsplit("Question: ", 1)[1][:-8]])
            for s in samples]
    metrics = results["metrics"]
    assert metrics["exact_match/strict-match"]["value"] == sum(h[0] for h in hand) / 300
    assert metrics["exact_match/flexible-extract"]["value"] == sum(h[1] for h in hand) / 300
    assert 0 < metrics["exact_match/strict-match"]["value"] < metrics["exact_match/flexible-extract"]["value"] < 1


# -- multiple choice in CSV ----------------------------------------------------
def test_multiple_choice_csv_with_doc_to_choice(tmp_path, monkeypatch):
    questions = [(f"Which number is {n}?", [str(n + k) for k in range(4)], (n * 7) % 4) for n in range(40)]
    with open(tmp_path / "mc.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["question", "A", "B", "C", "D", "answer"])
        for question, options, right in questions:
            out.writerow([question, *options, right])
    path = write_task(tmp_path, {
        "task": "numbers_mc", "dataset_path": "csv", "dataset_kwargs": {"data_files": {"test": "mc.csv"}},
        "test_split": "test",
        "doc_to_text": "{{question}}\nA) {{A}}\nB) {{B}}\nC) {{C}}\nD) {{D}}\nEnd with 'Answer: LETTER'.",
        "doc_to_choice": ["A", "B", "C", "D"], "doc_to_target": "answer",
        "filter_list": [{"name": "letter", "filter": [
            {"function": "regex", "regex_pattern": r"Answer:\s*\(?([A-D])\)?", "group_select": -1},
            {"function": "take_first"}]}],
        "metric_list": [{"metric": "exact_match"}, {"metric": "choice_accuracy"}],
    })
    known = {q: ("ABCD"[right] if i % 4 else "ABCD"[(right + 1) % 4]) for i, (q, _, right) in enumerate(questions)}

    def reply(payload):
        question = payload["messages"][-1]["content"].split("\n")[0]
        return f"Thinking... Answer: A\nNo wait.\nAnswer: ({known[question]})"

    with FakeEndpoint(reply) as ep:
        results, samples = run_task(tmp_path, monkeypatch, ep.chat_url, path)
    assert results["metrics"]["exact_match/letter"]["value"] == 30 / 40
    assert results["metrics"]["choice_accuracy/letter"]["value"] == 30 / 40
    assert samples[1]["gold"] == ["ABCD"[7 % 4]] and samples[1]["extracted"] == {"letter": "D"}


# -- judge ---------------------------------------------------------------------
def judge_rule(payload):
    """A judge that grades CORRECT exactly when the answer names the reference."""
    text = payload["messages"][-1]["content"]
    reference = text.split("Reference:\n", 1)[1].split("\n", 1)[0]
    answer = text.split("Answer:\n", 1)[1]
    verdict = "CORRECT" if reference.lower() in answer.lower() else "INCORRECT"
    return f"The answer {'names' if verdict == 'CORRECT' else 'misses'} {reference}.\nGRADE: {verdict}"


def judged_task(folder, judge_url):
    rows = [{"q": f"Name the colour number {i}.", "ref": colour}
            for i, colour in enumerate(["red", "green", "blue", "amber", "violet"] * 6)]
    (Path(folder) / "colours.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return write_task(folder, {
        "task": "colours", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": "colours.jsonl"}},
        "test_split": "test", "doc_to_text": "{{q}}", "doc_to_target": "{{ref}}",
        "metric_list": [{"metric": "judge", "url": judge_url, "model_id": "judge-model", "api_key_name": None,
                         "prompt": "Question: {{q}}\nReference:\n{{target}}\nAnswer:\n{{response}}"}],
    }), rows


def colour_model(payload):
    question = payload["messages"][-1]["content"]
    i = int(question.split("number ")[1].rstrip("."))
    return "It is " + (["red", "green", "blue", "amber", "violet"][i % 5] if i % 4 else "grey") + "."


@pytest.mark.parametrize("fault_rate", [0.0, 0.6])
def test_judge_scores_follow_its_rule_and_survive_transient_failures(tmp_path, monkeypatch, fault_rate):
    with FakeEndpoint(colour_model) as model, \
            FakeEndpoint(judge_rule, fault_rate=fault_rate, retry_after=0, model_id="judge-model") as judge:
        path, rows = judged_task(tmp_path, judge.chat_url)
        results, samples = run_task(tmp_path, monkeypatch, model.chat_url, path)
        faults = [r for r in judge.requests if r.status != 200]
    expected = [float(i % 4 != 0) for i in range(len(rows))]
    assert [s["score"] for s in samples] == expected
    assert results["metrics"]["judge"]["value"] == sum(expected) / len(rows)
    assert samples[1]["judge_verdict"] == "CORRECT" and "GRADE: CORRECT" in samples[1]["judge_reasoning"]
    assert samples[0]["judge_verdict"] == "INCORRECT"
    assert (len(faults) > 0) == (fault_rate > 0)


LETTER_GRADES = {"A": 1, "B": 0.5, "C": 0}


def letter_judge(payload):
    """Grades A (the reference named), B (named, but hedged with "or"), C (missed),
    in a format of its own ("Verdict: <letter>")."""
    text = payload["messages"][-1]["content"]
    reference = text.split("Reference:\n", 1)[1].split("\n", 1)[0]
    answer = text.split("Answer:\n", 1)[1]
    grade = "C" if reference not in answer else "B" if " or " in answer else "A"
    return f"Verdict: X is not a grade.\nVerdict: {grade}"


def hedging_model(payload):
    i = int(payload["messages"][-1]["content"].split("number ")[1].rstrip("."))
    colour = ["red", "green", "blue", "amber", "violet"][i % 5]
    return ["It is grey.", f"It is {colour}.", f"It is {colour} or grey."][i % 3]


def judge_metric(tmp_path, url, **options):
    path, rows = judged_task(tmp_path, url)
    task = yaml.safe_load(path.read_text())
    task["metric_list"][0].update(options)
    return write_task(tmp_path, task), rows


def test_judge_grade_pattern_grades_map_max_tokens_and_its_own_key(tmp_path, monkeypatch):
    """A judge's grade_pattern (the last match counts), its grades map (B is
    worth 0.5), max_tokens, and api_key_name: the judge gets its key and the
    model under evaluation never sees it."""
    judge_key = "sk-judge-only-5e1f"
    monkeypatch.setenv("JUDGE_KEY", judge_key)
    with FakeEndpoint(hedging_model) as model, \
            FakeEndpoint(letter_judge, model_id="judge-model", api_key=judge_key) as judge:
        path, rows = judge_metric(tmp_path, judge.chat_url, grade_pattern=r"Verdict: ([A-C])\b",
                                  grades=LETTER_GRADES, max_tokens=64, api_key_name="JUDGE_KEY")
        results, samples = run_task(tmp_path, monkeypatch, model.chat_url, path)
    expected = [[0.0, 1.0, 0.5][i % 3] for i in range(len(rows))]
    assert [s["score"] for s in samples] == expected
    assert [s["judge_verdict"] for s in samples] == [["C", "A", "B"][i % 3] for i in range(len(rows))]
    assert results["metrics"]["judge"]["value"] == sum(expected) / len(rows) == 0.5
    assert {r.status for r in judge.requests} == {200} and len(judge.requests) == len(rows)
    assert {r.headers["authorization"] for r in judge.requests} == {f"Bearer {judge_key}"}
    assert {r.payload["max_tokens"] for r in judge.requests} == {64}
    assert all(judge_key not in json.dumps(dict(r.headers)) + json.dumps(r.payload) for r in model.requests)
    assert judge_key not in (tmp_path / "out" / "colours" / "results.json").read_text()


def test_a_judge_without_a_grades_map_gives_numeric_grades_as_scores(tmp_path, monkeypatch):
    def scoring_judge(payload):
        answer = payload["messages"][-1]["content"].split("Answer:\n", 1)[1]
        return f"Partly right.\nSCORE={0.25 if 'grey' in answer else 0.75}"

    with FakeEndpoint(hedging_model) as model, FakeEndpoint(scoring_judge, model_id="judge-model") as judge:
        path, rows = judge_metric(tmp_path, judge.chat_url, grade_pattern=r"SCORE=([0-9.]+)")
        results, samples = run_task(tmp_path, monkeypatch, model.chat_url, path)
    expected = [[0.25, 0.75, 0.25][i % 3] for i in range(len(rows))]
    assert [s["score"] for s in samples] == expected
    assert results["metrics"]["judge"]["value"] == pytest.approx(sum(expected) / len(rows))
    # Without max_tokens, the judge may write 1024 tokens.
    assert {r.payload["max_tokens"] for r in judge.requests} == {1024}


def test_judge_replies_are_cached_for_a_rerun(tmp_path, monkeypatch):
    with FakeEndpoint(colour_model) as model, FakeEndpoint(judge_rule, model_id="judge-model") as judge:
        path, rows = judged_task(tmp_path, judge.chat_url)
        run_task(tmp_path, monkeypatch, model.chat_url, path)
        assert len(judge.requests) == len(rows)
        (tmp_path / "out" / "colours" / "results.json").unlink()
        run_task(tmp_path, monkeypatch, model.chat_url, path)
    assert len(judge.requests) == len(rows)


def test_the_judge_endpoint_is_preflighted(tmp_path):
    from evaltasks.pipeline import preflight

    path, _ = judged_task(tmp_path, "http://127.0.0.1:9/v1/chat/completions")
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:8/v1/chat/completions", tmp_path / "out",
                       tasks=[{"name": str(path)}])
    urls = [key[0] for key in preflight.endpoints(plan.task_specs(config.load(str(cfg)), "0123456789ab"))]
    assert urls == ["http://127.0.0.1:8/v1/chat/completions", "http://127.0.0.1:9/v1/chat/completions"]


# -- incremental -----------------------------------------------------------------
def test_editing_a_template_or_one_row_changes_only_that_tasks_fingerprint(tmp_path):
    folder = tmp_path / "tasks"
    shutil.copytree(REPO / "examples" / "tasks", folder)
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:8/v1/chat/completions", tmp_path / "out",
                       tasks=[{"name": str(folder / "capitals.yaml")}, {"name": "gsm8k"}])

    def fingerprints():
        return [freshness.fingerprint(s) for s in plan.task_specs(config.load(str(cfg)), "0123456789ab")]

    before = fingerprints()
    assert fingerprints() == before
    data = folder / "capitals.jsonl"
    data.write_text(data.read_text().replace("Lima", "Cusco"))
    after_row = fingerprints()
    assert after_row[0] != before[0] and after_row[1] == before[1]
    task = folder / "capitals.yaml"
    task.write_text(task.read_text().replace("What is the capital", "Name the capital"))
    after_template = fingerprints()
    assert after_template[0] != after_row[0] and after_template[1] == before[1]


# -- bad task files ----------------------------------------------------------------
GOOD = {"task": "t", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": "rows.jsonl"}},
        "test_split": "test", "doc_to_text": "{{q}}", "doc_to_target": "{{a}}"}
BAD = [
    ("missing doc_to_text", {"doc_to_text": None}, "doc_to_text: missing"),
    ("jinja syntax", {"doc_to_text": "{{ q "}, "doc_to_text: Jinja syntax error at line 1"),
    ("unknown filter", {"filter_list": [{"name": "f", "filter": [{"function": "majority_vote"}]}]},
     "filter_list[0].filter[0].function: unknown filter 'majority_vote'"),
    ("bad regex", {"filter_list": [{"name": "f", "filter": [{"function": "regex", "regex_pattern": "(unclosed"}]}]},
     "filter_list[0].filter[0].regex_pattern: regular expression does not compile"),
    ("missing data", {"dataset_kwargs": {"data_files": {"test": "nowhere.jsonl"}}},
     "dataset_kwargs.data_files.test: data file"),
    ("checksum", {"dataset_kwargs": {"data_files": {"test": {"path": "rows.jsonl", "sha256": "0" * 64}}}},
     "dataset_kwargs.data_files.test: "),
    ("unknown key", {"doc_to_txt": "{{q}}"}, "doc_to_txt: unknown key"),
    ("loglikelihood", {"output_type": "multiple_choice"}, "output_type: multiple_choice needs log-probabilities"),
]


@pytest.mark.parametrize("case, change, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_task_file_is_one_line_naming_file_and_key(tmp_path, case, change, message):
    (tmp_path / "rows.jsonl").write_text('{"q": "1+1?", "a": "2"}\n')
    document = {k: v for k, v in dict(GOOD, **change).items() if v is not None}
    path = write_task(tmp_path, document)
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:8/v1/chat/completions", out,
                       tasks=[{"name": str(path)}])
    done = evaltasks_cli("run", "--config", str(cfg))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert str(path) in lines[0] and message in lines[0], lines[0]
    assert not out.exists()


def test_lm_eval_function_tags_are_refused(tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"q": "1+1?", "a": "2"}\n')
    path = write_task(tmp_path, yaml.safe_dump(GOOD) + "process_docs: !function utils.process_docs\n")
    with pytest.raises(filetasks.TaskFileProblem, match=r"task.yaml: process_docs: !function needs Python"):
        filetasks.load(str(path))


# -- filters, metrics, templates, one by one ----------------------------------------------
def test_filters_as_lm_eval_applies_them():
    from evaltasks.harness.lm_filters import pipeline

    steps = lambda *s: pipeline(list(s))
    assert steps({"function": "regex", "regex_pattern": r"(\d+)"})("a 1 b 22") == "1"
    assert steps({"function": "regex", "regex_pattern": r"(\d+)", "group_select": -1})("a 1 b 22") == "22"
    assert steps({"function": "regex", "regex_pattern": r"(x)|(\d)", "group_select": -1})("x 5") == "5"
    assert steps({"function": "regex", "regex_pattern": r"(\d+)", "fallback": "none"})("no digits") == "none"
    assert steps({"function": "remove_whitespace"}, {"function": "uppercase"})("  yes ") == "YES "
    assert steps({"function": "lowercase"}, {"function": "map", "mapping_dict": {"yes": "A"},
                                              "default_value": "?"})("YES") == "A"
    assert steps({"function": "map", "mapping_dict": {"yes": "A"}, "default_value": "?"})("maybe") == "?"


def test_metrics_as_documented():
    from evaltasks.harness.filetask import metrics

    score = lambda name, pred, golds, **o: metrics.score(dict(o, metric=name), pred, golds, ["a", "b"], 1)
    assert score("exact_match", "The $1,000.", ["the 1000."], ignore_case=True, regexes_to_ignore=[",", r"\$"]) == 1
    assert score("exact_match", "Paris!", ["paris"], ignore_case=True) == 0
    assert score("exact_match", "Paris!", ["paris"], ignore_case=True, ignore_punctuation=True) == 1
    assert score("exact_match", "no", ["yes", "no"]) == 1                       # any acceptable answer
    assert score("numeric_match", "about $1,234.50 total", ["1234.5"]) == 1
    assert score("contains", "It is PARIS, France", ["Paris"]) == 1
    assert score("f1", "the cat sat", ["a cat sat down"]) == pytest.approx(2 * (2 / 2) * (2 / 3) / (1 + 2 / 3))
    assert score("choice_accuracy", "(B)", None) == 1 and score("choice_accuracy", " b ", None) == 1
    assert score("choice_accuracy", "A", None) == 0


def test_prompt_with_description_fewshot_and_delimiters():
    from evaltasks.harness.filetask.template import Renderer

    shots = [{"q": f"q{i}", "a": i} for i in range(3)]
    task = {"doc_to_text": "Q: {{q}}", "doc_to_target": "{{a}}", "doc_to_choice": ["zero", "one", "two"],
            "target_delimiter": " -> ", "fewshot_delimiter": "\n##\n", "description": "Solve {{q}}.\n",
            "num_fewshot": 2, "fewshot_sampler": "first_n", "fewshot_split": "train", "test_split": "test"}
    renderer = Renderer(task, shots)
    doc = {"q": "qx", "a": 2}
    assert renderer.prompt(doc, 0) == "Solve qx.\nQ: q0 -> zero\n##\nQ: q1 -> one\n##\nQ: qx"
    assert renderer.golds(doc) == ["two"] and renderer.gold_index(doc) == 2
    drawn = dict(task, fewshot_sampler="default")
    assert Renderer(drawn, shots).prompt(doc, 5) == Renderer(drawn, shots).prompt(doc, 5)


def test_repeats_ask_each_row_that_many_times(tmp_path, monkeypatch):
    (tmp_path / "rows.jsonl").write_text('{"q": "1+1?", "a": "2"}\n{"q": "2+2?", "a": "4"}\n')
    path = write_task(tmp_path, dict(GOOD, repeats=3, generation_kwargs={"temperature": 0.7}))
    with FakeEndpoint(lambda payload: "2") as ep:
        results, samples = run_task(tmp_path, monkeypatch, ep.chat_url, path)
        seen = [r.payload for r in ep.requests]
    assert len(samples) == 6 and results["metrics"]["exact_match"]["value"] == 3 / 6
    assert results["params"]["temperature"] == 0.7 and all(p["temperature"] == 0.7 for p in seen)


# -- commands ------------------------------------------------------------------------
def test_check_task_renders_prompts_and_targets_without_an_endpoint(tmp_path):
    example = REPO / "examples" / "tasks" / "capitals.yaml"
    done = evaltasks_cli("check-task", str(example), "-n", "2", env={"EVALTASKS_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "capitals" in done.stdout and "8 rows in split test" in done.stdout
    assert "What is the capital of France?" in done.stdout and "\nParis\n" in done.stdout
    assert "Japan" in done.stdout and "Kenya" not in done.stdout


def test_ls_tasks_lists_task_files_and_where_they_came_from(tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(REPO / "examples" / "tasks", folder)
    done = evaltasks_cli("ls", "tasks", env={"EVALTASKS_TASKS_DIR": str(folder)})
    assert done.returncode == 0, done.stderr
    line = next(l for l in done.stdout.splitlines() if l.startswith("capitals"))
    assert str(folder / "capitals.yaml") in line and "EVALTASKS_TASKS_DIR" in line


def test_ls_tasks_with_config_lists_that_configs_task_dirs(tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(REPO / "examples" / "tasks", folder)
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:8/v1/chat/completions", tmp_path / "out")
    data = yaml.safe_load(cfg.read_text())
    data["evaluation"]["task_dirs"] = [str(folder)]
    cfg.write_text(yaml.safe_dump(data))
    alone = evaltasks_cli("ls", "tasks", env={"EVALTASKS_TASKS_DIR": ""})
    assert alone.returncode == 0 and not any(l.startswith("capitals") for l in alone.stdout.splitlines())
    done = evaltasks_cli("ls", "tasks", "--config", str(cfg), env={"EVALTASKS_TASKS_DIR": ""})
    assert done.returncode == 0, done.stderr
    line = next(l for l in done.stdout.splitlines() if l.startswith("capitals"))
    assert str(folder / "capitals.yaml") in line and "evaluation.task_dirs" in line, line
    listed = json.loads(evaltasks_cli("ls", "tasks", "--config", str(cfg), "--json",
                                      env={"EVALTASKS_TASKS_DIR": ""}).stdout)
    assert any(t["name"] == "capitals" for t in listed)
    assert not (tmp_path / "out").exists()


def test_a_task_name_from_a_task_folder_in_the_config(tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(REPO / "examples" / "tasks", folder)
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:8/v1/chat/completions", tmp_path / "out",
                       tasks=[{"name": "capitals"}, {"name": "gsm8k"}])
    data = yaml.safe_load(cfg.read_text())
    data["evaluation"]["task_dirs"] = [str(folder)]
    cfg.write_text(yaml.safe_dump(data))
    first, second = config.load(str(cfg)).tasks
    assert first["id"] == "capitals" and first["task_file"]["path"] == str(folder / "capitals.yaml")
    assert second["benchmark"] == "gsm8k" and "task_file" not in second


def test_a_judge_that_never_answers_fails_the_task_and_says_so(tmp_path, monkeypatch):
    with FakeEndpoint(colour_model) as model:
        path, rows = judged_task(tmp_path, "http://127.0.0.1:9/v1/chat/completions")
        with pytest.raises(run.TaskFailed, match=r"first: judge judge-model at http://127.0.0.1:9/\S+: "):
            run_task(tmp_path, monkeypatch, model.chat_url, path, max_retries=0)
    assert not (tmp_path / "out" / "colours" / "results.json").exists()
