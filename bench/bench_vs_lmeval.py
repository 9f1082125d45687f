"""CPU per request, ours beside lm-eval's API client, against one instant endpoint
in one run: requests/s and CPU-seconds per 1,000 requests of each.

  ours:    ``doit config=…`` with ``execution.runtime: process`` — the launcher and
           the harness (their whole process tree: start-up, preflight, the response
           cache on as by default, samples, results, the summary task);
  lm-eval: its ``local-chat-completions`` model (``LocalChatCompletion``, aiohttp,
           ``num_concurrent``) asked ``generate_until`` on the same messages, in a
           process of its own (its import included, as ours includes ours).

With ``--bare``, a third client joins the same runs: a bare asyncio client
(``bare_worker``), standard library only, that does no more per request than
any client must (encode, send, frame the reply, decode). It is the floor of
CPU per request for a Python client on this machine and this endpoint.

With ``--harness``, our harness process alone joins them too (as
bench_harness_cpu.py runs it: ``python -m evaltasks.harness`` on a task
folder, the response cache on; no launcher, no summary): the issue's
deliverable names "our harness" beside lm-eval's client, its acceptance list
"launcher + harness", and this prints both.

All send the same mmlu_pro questions (zero-shot messages built by our harness
once, beforehand, outside the timing) to bench/instant_endpoint.py, whose own CPU
per request is printed beside them: it must be far below each client's, or the
bench measures the server. The runs are interleaved (ours, lm-eval, ours, …) because a
shared machine's speed moves; the medians are printed. CPU is user + sys of the
process tree (getrusage of the children); requests/s is wall time and moves with
the machine's load.

lm-eval is not a dependency of evaltasks. Install it by hand in a venv of its own
that sees this interpreter's packages (its API model needs aiohttp, tenacity, tqdm,
numpy, jinja2, yaml, requests — which the launcher's environment has — and not
torch; ``--no-deps`` keeps pip from pulling torch and transformers):

    python -m venv --system-site-packages /tmp/perf-lmeval
    /tmp/perf-lmeval/bin/pip install --no-deps lm_eval==0.4.13
    /tmp/perf-lmeval/bin/pip install tenacity

Run by hand on a machine set up with scripts/setup.sh:

    python bench/bench_vs_lmeval.py [--lm-eval-python /tmp/perf-lmeval/bin/python]
        [--requests 6000] [--parallelism 128] [--repeat 3] [--before /tmp/main-copy] [--whole] [--bare] [--harness]

``--before`` runs another checkout's launcher and harness too (ours, before,
lm-eval, ours, …), for a before/after figure in the same run. lm-eval's CPU for
the requests alone (its import and set-up excluded) is printed as well.

``--whole`` also runs lm-eval as a user would for the same work as ours, in the
same interleaved runs ("lm-eval whole"): its ``lm_eval`` command on its own
MMLU-Pro template (prompt, regex filter, exact_match), zero-shot, on the same
local test.json (its ``json`` dataset loader, ``--limit``), samples logged and
results written (``--log_samples --output_path``). The task file is written
here and ``include``s lm-eval's template from its install; its Hugging Face
cache is a folder of this run, warmed by a one-request run first, as ours is.
It needs lm-eval's other requirements in its venv (none of them torch):

    /tmp/perf-lmeval/bin/pip install datasets sacrebleu sqlitedict word2number \
        evaluate pytablewriter jsonlines more_itertools zstandard dill rouge-score

and record the figures in bench/RESULTS.md with the machine, load and date.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANSWER = "The answer is (A).\nAnswer: A"


def cpu_of_children():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def timed(cmd, **kwargs):
    """(wall s, CPU s of the process tree, stdout) of one command, which must succeed."""
    cpu, started = cpu_of_children(), time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return wall, cpu_of_children() - cpu, done.stdout


def start_endpoint():
    server = subprocess.Popen([sys.executable, str(REPO / "bench" / "instant_endpoint.py"), "--answer", ANSWER],
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line.startswith("serving "):
        server.kill()
        sys.exit(f"instant_endpoint did not start: {line!r}")
    return server, line.split()[1]


def stop_endpoint(server):
    server.terminate()
    words = server.stdout.read().split()
    server.wait(timeout=10)
    return int(words[1]), float(words[3])       # "requests N cpu_seconds S"


def prompts(count, path, benchmark="mmlu_pro"):
    """The first ``count`` questions of ``benchmark`` as our harness words them, to a JSON file."""
    sys.path.insert(0, str(REPO))
    from evaltasks.harness import benchmarks
    from evaltasks.harness.datasets import data_dir

    bench = benchmarks.resolve(benchmark)
    module = bench.load_module()
    items = module.load(data_dir(bench.dataset))[:count]
    params = {"limit_samples": count}
    Path(path).write_text(json.dumps([module.prompt(item, params) for item in items]))


def ours(url, count, parallelism, folder, run, code=REPO):
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import write_config

    cfg = write_config(Path(folder) / f"ours-{run}.yaml", url + "/chat/completions", Path(folder) / f"ours-{run}",
                       tasks=[{"name": "mmlu_pro", "overrides": {"config.params.limit_samples": count,
                                                                 "config.params.parallelism": parallelism}}],
                       execution={"runtime": "process"})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # cwd: ``-m doit`` imports evaltasks (and its dodo.py) from there, another checkout's with --before.
    result = timed([sys.executable, "-m", "doit", f"config={cfg}"], cwd=code, env=env)
    stats = json.loads((Path(folder) / f"ours-{run}" / "mmlu_pro" / "results.json").read_text())["response_stats"]
    assert stats["requests"] == count and stats["status_codes"] == {"200": count}, stats
    return result


def lm_eval(python, url, prompt_file, parallelism):
    return timed([python, __file__, "--lm-eval-worker", url, prompt_file, str(parallelism)])


def lm_eval_worker(url, prompt_file, parallelism):
    """Inside lm-eval's venv: its API model answers every prompt once."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.api_models import JsonChatStr
    from lm_eval.models.openai_completions import LocalChatCompletion

    messages = json.loads(Path(prompt_file).read_text())
    model = LocalChatCompletion(base_url=url + "/chat/completions", model="test-model", tokenizer_backend=None,
                                tokenized_requests=False, num_concurrent=parallelism, max_retries=3, timeout=30)
    requests = [Instance("generate_until", {}, (JsonChatStr(json.dumps(m)), {"until": [], "max_gen_toks": 64,
                                                                            "do_sample": False}), i)
                for i, m in enumerate(messages)]
    cpu = time.process_time()
    replies = model.generate_until(requests, disable_tqdm=True)
    # Its CPU for the requests alone (its import and set-up excluded), for the record.
    print(f"steady {time.process_time() - cpu}")
    assert len(replies) == len(messages) and all(r == ANSWER for r in replies), replies[:3]


def bare(url, prompt_file, parallelism, answer=ANSWER):
    return timed([sys.executable, __file__, "--bare-worker", url, prompt_file, str(parallelism), answer])


def bare_worker(url, prompt_file, parallelism, answer):
    """The least a Python client can do per request, for a floor under both:
    the standard library's asyncio on ``parallelism`` keep-alive connections,
    each request's JSON encoded and sent, each reply framed by its
    Content-Length and decoded; no dataset, retries, timeouts, cache, scores or
    files."""
    import asyncio

    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1] + "/chat/completions"
    messages = json.loads(Path(prompt_file).read_text())
    answers = []

    class Connection(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer, self.waiter = transport, b"", None

        def data_received(self, data):
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            at = self.buffer.lower().find(b"content-length:", 0, end)
            length = int(self.buffer[at + 15:self.buffer.find(b"\r\n", at)])
            if len(self.buffer) >= end + 4 + length:
                body, self.buffer = self.buffer[end + 4:end + 4 + length], self.buffer[end + 4 + length:]
                self.waiter.set_result(body)

        async def ask(self, message):
            body = json.dumps({"model": "test-model", "messages": message, "max_tokens": 64,
                               "temperature": 0.0}).encode()
            self.waiter = asyncio.get_running_loop().create_future()
            self.transport.write(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: "
                                 f"application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            return json.loads(await self.waiter)["choices"][0]["message"]["content"]

    async def main():
        loop = asyncio.get_running_loop()
        left = iter(messages)

        async def worker():
            _, conn = await loop.create_connection(Connection, host, int(port))
            for message in left:
                answers.append(await conn.ask(message))
            conn.transport.close()

        await asyncio.gather(*(worker() for _ in range(parallelism)))

    cpu = time.process_time()
    asyncio.run(main())
    print(f"steady {time.process_time() - cpu}")
    assert len(answers) == len(messages) and all(a == answer for a in answers), answers[:3]


def lm_eval_whole_setup(python, folder):
    """(task folder, environment) for ``lm_eval_whole``: a task file over lm-eval's
    own MMLU-Pro template, pointed at the local data, and an offline Hugging Face
    cache of this run's own."""
    template = subprocess.run(
        [python, "-c", "import lm_eval, os; print(os.path.join(os.path.dirname(lm_eval.__file__), "
                       "'tasks', 'mmlu_pro', '_default_template_yaml'))"],
        capture_output=True, text=True, check=True).stdout.strip()
    data = Path(os.environ["EVALTASKS_DATA_DIR"]).resolve() / "mmlu_pro"
    tasks = Path(folder) / "lm-eval-tasks"
    tasks.mkdir()
    # Zero-shot, as ours; 64 tokens, as ours asks (the instant endpoint ignores it).
    (tasks / "mmlu_pro_local.yaml").write_text(
        f"include: {template}\ntask: mmlu_pro_local\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data / 'test.json'}\n    validation: {data / 'validation.json'}\n"
        "num_fewshot: 0\ngeneration_kwargs:\n  until: ['Question:']\n  max_gen_toks: 64\n"
        "  do_sample: false\n  temperature: 0.0\n")
    env = dict(os.environ, HF_HOME=str(Path(folder) / "hf"), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    return tasks, env


def lm_eval_whole(python, url, count, parallelism, tasks, env, out):
    """lm-eval's ``lm_eval`` command, end to end, on ``count`` questions; its
    samples file must hold them all."""
    result = timed([python, "-m", "lm_eval", "--model", "local-chat-completions", "--model_args",
                    f"base_url={url}/chat/completions,model=test-model,num_concurrent={parallelism},max_retries=3,"
                    "tokenized_requests=False,tokenizer_backend=None",
                    "--tasks", "mmlu_pro_local", "--include_path", str(tasks), "--limit", str(count),
                    "--apply_chat_template", "--log_samples", "--output_path", str(out)], env=env)
    (samples,) = Path(out).glob("*/samples_mmlu_pro_local_*.jsonl")
    assert len(samples.read_text().splitlines()) == count, samples
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lm-eval-python", default="/tmp/perf-lmeval/bin/python")
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--parallelism", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", help="another checkout (e.g. a copy of main) to run as well, interleaved")
    parser.add_argument("--whole", action="store_true", help="lm-eval's own evaluation end to end, too")
    parser.add_argument("--bare", action="store_true", help="a bare asyncio client too: a floor under both")
    parser.add_argument("--harness", action="store_true", help="our harness process alone too, without the launcher")
    parser.add_argument("--lm-eval-worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--bare-worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.lm_eval_worker:
        url, prompt_file, parallelism = args.lm_eval_worker
        return lm_eval_worker(url, prompt_file, int(parallelism))
    if args.bare_worker:
        url, prompt_file, parallelism, answer = args.bare_worker
        return bare_worker(url, prompt_file, int(parallelism), answer)
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(REPO.parent / "shared" / "datasets"))

    server, url = start_endpoint()
    codes = {"ours": REPO, **({"before": Path(args.before).resolve()} if args.before else {})}
    runs = {**{name: [] for name in codes}, "lm-eval": [], **({"lm-eval whole": []} if args.whole else {}),
            **({"bare": []} if args.bare else {}), **({"harness alone": []} if args.harness else {})}
    loads = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            prompt_file = str(Path(folder) / "prompts.json")
            prompts(args.requests, prompt_file)
            for name, code in codes.items():    # builds the harness venv if this code has none yet
                ours(url, 1, 1, folder, f"warm-up-{name}", code)
            if args.whole:                      # builds the Hugging Face cache of the data
                whole = lm_eval_whole_setup(args.lm_eval_python, folder)
                lm_eval_whole(args.lm_eval_python, url, 1, 1, *whole, Path(folder) / "whole-warm-up")
            for run in range(args.repeat):      # interleaved: all see the machine as it is then
                for name, code in codes.items():
                    loads.append(os.getloadavg()[0])
                    runs[name].append(ours(url, args.requests, args.parallelism, folder, f"{name}-{run}", code))
                loads.append(os.getloadavg()[0])
                runs["lm-eval"].append(lm_eval(args.lm_eval_python, url, prompt_file, args.parallelism))
                if args.whole:
                    loads.append(os.getloadavg()[0])
                    runs["lm-eval whole"].append(lm_eval_whole(args.lm_eval_python, url, args.requests,
                                                               args.parallelism, *whole, Path(folder) / f"whole-{run}"))
                if args.bare:
                    loads.append(os.getloadavg()[0])
                    runs["bare"].append(bare(url, prompt_file, args.parallelism))
                if args.harness:
                    from bench_harness_cpu import one_run as harness_alone

                    loads.append(os.getloadavg()[0])
                    runs["harness alone"].append(harness_alone(REPO, url, folder, f"harness-{run}", args.requests,
                                                               args.parallelism, cache=True))
    finally:
        served, server_cpu = stop_endpoint(server)
    n = args.requests
    print(f"{n} mmlu_pro requests, parallelism {args.parallelism}, {args.repeat} interleaved runs, "
          f"{os.cpu_count()} CPUs, load average {min(loads):.1f}–{max(loads):.1f} "
          f"(median {statistics.median(loads):.1f})")
    report(runs, n)
    steady = [float(out.split()[1]) / n * 1000 for _, _, out in runs["lm-eval"]]
    print(f"lm-eval without its import and set-up: {statistics.median(steady):.3f} CPU s / 1,000 req "
          f"({min(steady):.3f}–{max(steady):.3f})")
    if args.bare:
        steady = [float(out.split()[1]) / n * 1000 for _, _, out in runs["bare"]]
        print(f"bare client without its start: {statistics.median(steady):.3f} CPU s / 1,000 req "
              f"({min(steady):.3f}–{max(steady):.3f})")
    print(f"endpoint: {served} requests (the warm-up's and preflights' among them), {server_cpu:.2f} CPU s in all = {server_cpu / served * 1000:.3f} "
          f"CPU s / 1,000 req (its start-up included)")


def report(runs, n):
    """Each run's wall-clock rate and CPU per 1,000 requests: medians, and the CPU's spread."""
    print(f"{'client':>13} {'req/s (median)':>15} {'CPU s / 1,000 req (median)':>27} {'min–max':>12}")
    for name, results in runs.items():
        per_k = [r[1] / n * 1000 for r in results]
        print(f"{name:>13} {statistics.median([n / r[0] for r in results]):>15.0f} "
              f"{statistics.median(per_k):>27.3f} {min(per_k):>5.3f}–{max(per_k):.3f}")

if __name__ == "__main__":
    main()
