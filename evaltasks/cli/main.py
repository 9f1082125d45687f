"""Run LLM benchmarks against an OpenAI-compatible endpoint, each in its own
Docker container (or a plain process, or a Slurm batch job), rerunning only what changed.
With `deployment: llama_cpp | vllm | sglang | nim | trtllm | generic` the run starts
that model server too: one per run, shared by its tasks, stopped when the run ends.

`evaltasks run --config-dir DIR --config-name NAME` (or `--config FILE`) runs a
config's evaluations; it is the same doit pipeline as `doit config=FILE` in the
clone (dodo.py), usable from any folder. `status`, `kill`, `logs` and `ls` read
and act on the run history; `reproduce` turns a result back into a config;
`check-task FILE` shows what a task file sends. `report`, `compare` and
`export` read finished runs (an output dir, or an invocation id from the history):

  evaltasks report RUN [--format md|csv|json|html] [-o FILE]
  evaltasks compare BASELINE OTHER [...] [--format md|json|html] [-o FILE] [--label NAME ...] [--fail-on-regression] [--flips all|N]
  evaltasks leaderboard RUN|GLOB [...] [--format md|csv|json|html] [-o FILE] [--label NAME ...]
  evaltasks export RUN [...] --dest local|mlflow|wandb [--output-dir DIR | --tracking-uri URI ...]
"""

import argparse
import json
import os
import re
import sys
import time

from evaltasks import __version__


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line and exit 2, like every other usage error.
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def config_path(args):
    if args.config:
        if args.config_dir or args.config_name:
            raise UsageError("give either --config FILE or --config-dir/--config-name, not both")
        return args.config
    if not args.config_name:
        raise UsageError("no config: give --config FILE, or --config-dir DIR --config-name NAME")
    folder = args.config_dir or "."
    candidates = [os.path.join(folder, args.config_name + ext) for ext in ("", ".yaml", ".yml")]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise UsageError(f"no config named '{args.config_name}' in {folder} "
                     f"(looked for {', '.join(os.path.basename(c) for c in candidates[1:])})")


# -- run ------------------------------------------------------------------
def cmd_run(args):
    from evaltasks.pipeline import session

    overrides = args.override + (["execution.preflight=false"] if args.skip_preflight else [])
    try:
        # --force reruns the selected tasks and, unlike `doit -a`, asks the endpoint
        # again instead of answering from the response cache.
        run = session.open(config_path(args), overrides, args.task, force=args.force, keep_going=args.continue_,
                           dry_run=args.dry_run, confirm_unsafe_code=args.confirm_run_unsafe_code,
                           refresh_cache=args.force)
    except session.SessionError as e:
        raise UsageError(str(e)) from None
    if args.dry_run:
        from evaltasks.pipeline.dryrun import report

        report(run, only=args.task, forced=args.force)
        return 0
    from evaltasks.pipeline.doit_entry import run_tasks

    return run_tasks(run, args.task, jobs=args.jobs, keep_going=args.continue_, force=args.force)


# -- status / kill / logs -------------------------------------------------
def _lookup(prefix):
    """``(history, kind, full id, jobs)`` for an invocation or job id prefix."""
    from evaltasks.state.history import History, UnknownId

    history = History()
    try:
        kind, ident = history.resolve(prefix)
    except UnknownId as e:
        raise UsageError(str(e)) from None
    jobs = history.jobs(ident) if kind == "invocation" else [history.job(ident)]
    return history, kind, ident, jobs


class Jobs:
    """What the executors an invocation ran on can see of its jobs now: their
    handles (container, process, Slurm job), or that an executor cannot be reached."""

    def __init__(self, history, invocation):
        from evaltasks.executors import base as executors

        names = {job["executor"] or "docker" for job in history.jobs(invocation)}    # older runs: Docker
        self.executors = {name: executors.for_handle_kind(name) for name in sorted(names)}
        self.output_dir = history.invocation(invocation)["output_dir"]
        self.invocation = invocation
        self._found = None

    def _look(self):
        """Ask each executor, once: Docker or Slurm may take a moment to answer."""
        from evaltasks.executors import base as executors

        if self._found is None:
            self._found, self._unreachable = {}, {}
            for name, executor in self.executors.items():
                try:
                    for handle in executor.find(self.output_dir, invocation=self.invocation):
                        self._found.setdefault(handle.job, []).append(handle)
                except executors.Unavailable as e:
                    self._unreachable[name] = e
        return self._found

    @property
    def unreachable(self):
        self._look()
        return self._unreachable

    def handles(self, job=None):
        return [h for j, hs in self._look().items() if job in (None, j) for h in hs]

    def running(self, job):
        """Whether ``job`` still runs; None when its executor cannot tell."""
        if self.handles(job):
            return any(h.running for h in self.handles(job))
        return None if self.unreachable else False

    def kind(self):
        return "/".join(sorted({e.kind for e in self.executors.values()})) or "job"


def refresh(history, invocation, jobs=None):
    """Let the history repair an invocation whose launcher is gone (history.refresh),
    asking its executors whether each job still runs. The Jobs it asked."""
    jobs = jobs or Jobs(history, invocation)
    history.refresh(invocation, jobs.running, kind=jobs.kind())
    return jobs


def job_view(history, job, jobs):
    from evaltasks.harness import layout
    from evaltasks.pipeline.live import describe, read_progress

    view = dict(job)
    # A later run may have written another results.json over this job's.
    view["results_state"], view["replaced_by"] = (history.results_state(job)
                                                  if job["status"] in ("success", "up-to-date") else (None, None))
    found = jobs.handles(job["id"])
    view["live"] = None
    if found:
        kind = jobs.executors[found[0].executor].kind
        view["live"] = {"executor": found[0].executor, "kind": kind, "id": found[0].id,
                          "label": found[0].label, "state": found[0].state}
    progress_file = layout.progress(os.path.dirname(job["results_path"]))
    progress = read_progress(progress_file) if job["status"] == "running" else None
    view["progress"] = progress
    view["progress_text"] = describe(progress) if progress else ""
    return view


def _when(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def cmd_status(args):
    history, kind, ident, jobs = _lookup(args.id)
    found = refresh(history, jobs[0]["invocation"])
    views = [job_view(history, history.job(j["id"]), found) for j in jobs]
    invocation = history.invocation(views[0]["invocation"])
    if args.json:
        print(json.dumps({"invocation": invocation, "jobs": views}, indent=2, default=str))
        return 0
    print(f"invocation {invocation['id']}  {invocation['status']}  started {_when(invocation['started'])}"
          f"  finished {_when(invocation['finished'])}")
    if invocation.get("reason"):
        print(f"  why: {invocation['reason']}")
    print(f"  config {invocation['config']}\n  output {invocation['output_dir']}")
    for name, executor in found.executors.items():
        if name in found.unreachable:
            print(f"  ({executor.backend} is not reachable: {executor.kind} states unknown)")
    for v in views:
        took = f"{v['duration']:.1f}s" if v["duration"] else ""
        box = f"{v['live']['kind']} {v['live']['label']} {v['live']['state']}" if v["live"] else ""
        detail = v["progress_text"] or v["headline"] or v["reason"] or ""
        print(f"  {v['id']:<16} {v['task']:<20} {v['status']:<10} {took:>8}  {detail}  {box}".rstrip())
        if v["results_state"]:
            print(f"  {'':<16} results: {v['results_path']}{_results_note(v)}")
        print(f"  {'':<16} log: {v['log_path']}")
    server_log = _server_log(invocation["output_dir"])
    if server_log:
        print(f"  model server log: {server_log}  (evaltasks logs {invocation['id']} --server)")
    return 0


def _server_log(output_dir):
    """The output dir's model server log, when a run there deployed one."""
    from evaltasks.deploy import SERVER_DIR

    path = os.path.join(output_dir, SERVER_DIR, "logs", "server.log")
    return path if os.path.exists(path) else None


def _results_note(view):
    if view["results_state"] == "missing":
        return " (since deleted)"
    if view["results_state"] == "replaced":
        by = f"by job {view['replaced_by']}" if view["replaced_by"] else "by a run not in this history"
        return f" (since replaced {by}; this job's numbers are the ones above)"
    return ""


def _ended(job):
    """How a job that is no longer running ended, e.g. ``success (accuracy=0.84 (n=200)) at …``."""
    detail = job["headline"] or job["reason"]
    return f"{job['status']}" + (f" ({detail})" if detail else "") + (
        f" at {_when(job['finished'])}" if job["finished"] else "")


def cmd_kill(args):
    import signal

    from evaltasks.state import history as history_module

    history, kind, ident, jobs = _lookup(args.id)
    found = refresh(history, jobs[0]["invocation"])
    jobs = [history.job(j["id"]) for j in jobs]
    live = [j for j in jobs if j["status"] in history_module.ACTIVE]
    if not live:
        if kind == "job":
            print(f"job {ident} already ended: {_ended(jobs[0])}; nothing to stop")
        else:
            inv = history.invocation(ident)
            ended = f"{inv['status']} at {_when(inv['finished'])}" if inv["finished"] else "its jobs have"
            print(f"invocation {ident} already ended: {ended} ({_counts(jobs)}); nothing to stop")
        return 0
    if found.unreachable:
        name, problem = next(iter(found.unreachable.items()))
        raise UsageError(f"{problem}: cannot stop {found.executors[name].kind}s")
    inv = history.invocation(jobs[0]["invocation"])
    history.mark_killed(ident if kind == "invocation" else None, [j["id"] for j in live],
                        reason=history_module.KILLED_BY_USER)
    # Killing an invocation stops its launcher too, or it would start the jobs still pending.
    if (kind == "invocation" and inv["finished"] is None and inv["pid"] != os.getpid()
            and history_module.launcher_alive(inv)):
        os.kill(inv["pid"], signal.SIGTERM)
    removed = found.handles(None if kind == "invocation" else ident)
    for handle in removed:
        found.executors[handle.executor].stop(handle)
    if kind == "invocation":    # its model server, should its launcher be gone already
        from evaltasks.deploy.server import stop_recorded

        stop_recorded(inv["output_dir"], invocation=ident)
    for job in live:     # a pending job wrote nothing: a results.json there is an earlier run's
        if job["status"] != "pending" and os.path.exists(job["results_path"]):
            os.unlink(job["results_path"])
    ended = [j for j in jobs if j not in live]
    also = f"; {len(ended)} had already ended ({_counts(ended)})" if ended else ""
    print(f"killed {kind} {ident}: stopped {len(live)} job(s), removed {len(removed)} {found.kind()}(s){also}")
    return 0


def _counts(jobs):
    counts = {}
    for job in jobs:
        counts[job["status"]] = counts.get(job["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def cmd_logs(args):
    history, kind, ident, jobs = _lookup(args.id)
    if args.server:
        path = _server_log(history.invocation(jobs[0]["invocation"])["output_dir"])
        if not path:
            raise UsageError(f"{kind} {ident}: its output dir has no model server log (no deployment)")
        with open(path, errors="replace") as f:
            sys.stdout.write(f.read())
        return 0
    if len(jobs) > 1:
        listing = ", ".join(f"{j['id']} ({j['task']})" for j in jobs)
        raise UsageError(f"invocation {ident} has {len(jobs)} jobs; pick one: {listing}")
    job = jobs[0]
    path = job["log_path"]
    position = 0
    while True:
        if os.path.exists(path):
            with open(path, "rb") as f:
                f.seek(position)
                chunk = f.read()
                position = f.tell()
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
        elif not args.follow:
            raise UsageError(f"job {job['id']} has no log yet ({path})")
        if not args.follow:
            return 0
        # Only a live launcher writes to the log: stop when the job ended or its launcher did.
        refresh(history, job["invocation"])
        if history.job(job["id"])["status"] not in ("pending", "running"):
            return 0
        time.sleep(0.5)


# -- reproduce ------------------------------------------------------------
def cmd_reproduce(args):
    from evaltasks.harness.files import write_atomic
    from evaltasks.pipeline.reproduce import ReproduceError, config_for, dump

    path = args.what
    if not os.path.isfile(path):
        if path.endswith(".json") or os.sep in path:
            raise UsageError(f"{path}: no such file")
        history, kind, ident, jobs = _lookup(path)
        if len(jobs) != 1:
            listing = ", ".join(f"{j['id']} ({j['task']})" for j in jobs)
            raise UsageError(f"invocation {ident} has {len(jobs)} jobs; pick one: {listing}")
        job = history.job(jobs[0]["id"])
        state, by = history.results_state(job)
        if state == "missing" or not os.path.isfile(job["results_path"]):
            raise UsageError(f"job {job['id']} has no results.json any more ({job['results_path']})")
        if state == "replaced":
            raise UsageError(f"job {job['id']}'s results.json was since replaced"
                             f"{f' by job {by}' if by else ''}: pass that results.json, or that job")
        path = job["results_path"]
    try:
        config, notes, comments = config_for(path)
    except ReproduceError as e:
        raise UsageError(str(e)) from None
    text = dump(config, comments)
    if args.output:
        try:
            write_atomic(args.output, text)
        except OSError as e:
            raise UsageError(f"{args.output}: cannot write it ({e.strerror})") from None
        print(f"wrote {args.output}: `evaltasks run --config {args.output}` reruns {config['evaluation']['tasks'][0]['id']} "
              "(up to date until something below differs; `doit forget` or --force runs it again)")
    else:
        sys.stdout.write(text)
    for note in notes:
        sys.stderr.write(f"cannot pin: {note}\n")
    return 0


# -- ls -------------------------------------------------------------------
def catalog_rows():
    from evaltasks.config.params import DEFAULT_PARAMS
    from evaltasks.harness.benchmarks import CATALOG

    rows = []
    for bench in CATALOG.values():
        params = dict(DEFAULT_PARAMS, **bench.defaults)
        rows.append({
            "name": bench.name, "aliases": list(bench.aliases), "endpoint_type": bench.endpoint_type,
            "dataset_size": bench.size,
            "default_params": {k: v for k, v in params.items() if v is not None},
            "extra": bench.extra, "description": bench.description, "reference": bench.reference,
        })
    return rows


def file_task_rows(config_file=None):
    """Tasks defined in files in the task folders: the config's
    ``evaluation.task_dirs`` (read without checking the rest) and $EVALTASKS_TASKS_DIR."""
    from evaltasks.data import taskfiles as filetasks

    configured = []
    if config_file:
        from evaltasks.config.compose import read_yaml
        from evaltasks.config.errors import ConfigError

        try:
            configured = (read_yaml(config_file).get("evaluation") or {}).get("task_dirs") or []
        except ConfigError as e:
            raise UsageError(f"{config_file}: {e}") from None
    return filetasks.listing(configured)


def cmd_ls(args):
    """``ls tasks``, ``ls runs``, or with neither both, one after the other."""
    if args.what:
        return LISTINGS[args.what](args)
    if args.json:
        print(json.dumps({what: listing(args, as_data=True) for what, listing in LISTINGS.items()},
                         indent=2, default=str))
        return 0
    for n, (what, listing) in enumerate(LISTINGS.items()):
        print(f"{'' if n == 0 else chr(10)}{what} (`evaltasks ls {what}`):")
        listing(args)
    return 0


def ls_tasks(args, as_data=False):
    rows, files = catalog_rows(), file_task_rows(args.config)
    if as_data or args.json:
        data = rows + [dict(f, name=f["task"]) for f in files]
        if as_data:
            return data
        print(json.dumps(data, indent=2))
        return 0
    for r in rows:
        aliases = f" (also {', '.join(r['aliases'])})" if r["aliases"] else ""
        reference = f" [as {r['reference']}]" if r["reference"] else ""
        print(f"{r['name']:<14} {r['endpoint_type']:<5} {r['dataset_size']:>6}  {r['description']}{aliases}"
              f"{reference}")
    for f in files:
        what = f"cannot be used: {f['problem']}" if f.get("problem") else f"from {f['origin']}"
        print(f"{f['task'] or '?':<14} file  {'':>6}  {f['path']} {what}")
    return 0


def ls_runs(args, as_data=False):
    from evaltasks.state.history import History

    history = History()
    since = time.time() - parse_age(args.since) if args.since else None
    invocations = history.invocations(limit=args.limit, since=since)
    for inv in invocations:
        if inv["status"] == "running":
            refresh(history, inv["id"])
    invocations = [dict(i, jobs=history.jobs(i["id"])) for i in history.invocations(limit=args.limit, since=since)]
    if as_data:
        return invocations
    if args.json:
        print(json.dumps(invocations, indent=2, default=str))
        return 0
    if not invocations:
        print("no runs recorded yet")
    for inv, reruns in _fold_reruns(invocations):
        folded = (f"  (+{len(reruns)} up-to-date re-run{'s' if len(reruns) > 1 else ''}, last "
                  f"{reruns[0]['id']} at {_when(reruns[0]['started'])})" if reruns else "")
        print(f"{inv['id']}  {_when(inv['started'])}  {inv['status']:<8}  {_counts(inv['jobs']):<20}  "
              f"{_models(inv['jobs'])}  {_scores(inv['jobs'])}  {inv['config']} → {inv['output_dir']}{folded}")
    return 0


LISTINGS = {"tasks": ls_tasks, "runs": ls_runs}
# Headline scores named in an `ls runs` line; beyond this, how many more.
NAMED_SCORES = 3


def _fold_reruns(invocations):
    """``[(invocation, [its up-to-date re-runs, newest first])]``: a run that
    ran nothing (every job up to date) is folded into the older listed run of
    the same output dir whose results it found, else listed on its own."""
    noop = lambda inv: inv["status"] == "success" and inv["jobs"] and all(
        j["status"] == "up-to-date" for j in inv["jobs"])
    listed, pending = [], {}
    for inv in invocations:                 # newest first
        if noop(inv):
            pending.setdefault(inv["output_dir"], []).append(inv)
            continue
        listed.append((inv, pending.pop(inv["output_dir"], [])))
    leftover = [(inv, []) for group in pending.values() for inv in group]
    return sorted(listed + leftover, key=lambda pair: pair[0]["started"] or 0, reverse=True)


def _models(jobs):
    models = sorted({j["model"] for j in jobs if j.get("model")})
    return ", ".join(models) if models else "-"


def _scores(jobs):
    """``gsm8k accuracy=0.8450, …``: each job's headline without its n."""
    scores = [f"{j['task']} {j['headline'].split(' (')[0]}" for j in jobs if j.get("headline")]
    more = f", +{len(scores) - NAMED_SCORES} more" if len(scores) > NAMED_SCORES else ""
    return (", ".join(scores[:NAMED_SCORES]) + more) if scores else "-"


def parse_age(text):
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match:
        raise UsageError(f"--since {text!r}: expected a number and a unit, like 30m, 12h, 1d or 2w")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]


# -- check-task -------------------------------------------------------------
def cmd_check_task(args):
    """Render the first prompts and targets of a task file, sending nothing."""
    from evaltasks.data import taskfiles as filetasks
    from evaltasks.harness.benchmarks.filetask import FileTask
    from evaltasks.harness.datasets import DatasetError

    try:
        task_file = filetasks.load(args.file)
        folder = filetasks.stage(task_file, log=lambda m: None)
        task = FileTask({"task_file": filetasks.harness_view(task_file),
                         "params": {"parallelism": 1, "request_timeout": 1, "max_retries": 0}})
        rows = task.load(str(folder))
        items = task.expand(rows[:args.n], {})
    except (filetasks.TaskFileProblem, DatasetError) as e:
        raise UsageError(str(e)) from None
    except Exception as e:      # a download that failed: one line all the same
        raise UsageError(f"{args.file}: {e}") from None
    spec = task.spec
    print(f"{spec['task']} ({task_file['path']}): {len(rows)} rows in split {spec['test_split']}, "
          f"{spec['num_fewshot']}-shot; metrics: {', '.join(key for _, _, key in task.keys)}")
    for n, item in enumerate(items[:args.n], 1):
        print(f"\n--- row {n}: prompt (one user message) ---\n{item['prompt_text']}")
        golds = item["gold"][0] if len(item["gold"]) == 1 else item["gold"]
        choices = f"  (choices: {item['choices']})" if item["choices"] else ""
        print(f"--- row {n}: target ---\n{golds}{choices}")
    return 0




# -- report / compare / export ---------------------------------------------
def _write_or_print(text, path):
    if path:
        from evaltasks.harness.files import write_atomic

        try:
            write_atomic(path, text)
        except OSError as e:
            raise UsageError(f"-o {path}: cannot write it: {e.strerror}") from None
        print(f"wrote {path}")
    else:
        sys.stdout.write(text)


def cmd_report(args):
    from evaltasks.report import load, summary

    try:
        run = load.load_run(args.run)
    except load.RunError as e:
        raise UsageError(str(e)) from None
    _write_or_print(summary.render(summary.build(run), run, args.format), args.output)
    return 0


def labelled(runs, labels):
    """--label NAME, once per run in order: what pages and tables call each run
    (default: its model)."""
    if labels and len(labels) != len(runs):
        raise UsageError(f"--label given {len(labels)} time(s) for {len(runs)} runs: give one per run, in order")
    if len(set(labels)) != len(labels):
        raise UsageError("--label: each run needs its own label")
    for run, label in zip(runs, labels):
        run.label = run.given_label = label
    return runs


def _flips_shown(value):
    """``--flips``: ``all`` (None) or a count ≥ 0."""
    if value == "all":
        return None
    if value.isdigit():
        return int(value)
    raise argparse.ArgumentTypeError(f"{value!r}: give 'all' or a number of flips per task")


def cmd_compare(args):
    from evaltasks.report import compare, load

    if len(args.runs) < 2:
        raise UsageError("compare needs at least two runs: the baseline, then the run(s) to compare with it")
    try:
        runs = labelled([load.load_run(ref) for ref in args.runs], args.label)
        result = compare.compare(runs, mde_threshold=args.mde_threshold)
    except load.RunError as e:
        raise UsageError(str(e)) from None
    from evaltasks.report import cost

    usage = cost.runs_usage(runs, load.display_names(runs))
    if args.format == "json":
        from evaltasks.report.summary import finite

        text = json.dumps(finite(dict(result, usage=usage)), indent=2, ensure_ascii=False) + "\n"
    elif args.format == "html":
        from evaltasks.report import html

        text = html.compare_page(result, runs, here=os.path.dirname(os.path.abspath(args.output or ".")))
    else:
        text = compare.markdown(result, flips=args.flips) + "\n" + cost.markdown(usage)
    _write_or_print(text, args.output)
    worse = compare.regressions(result)
    if args.fail_on_regression and worse:
        sys.stderr.write("regression: " + ", ".join(f"{task} worse in {run}" for run, task in worse) + "\n")
        return 1
    return 0


def cmd_leaderboard(args):
    from evaltasks.report import leaderboard, load

    here = os.path.dirname(os.path.abspath(args.output)) if args.output else os.getcwd()
    try:
        runs = labelled([load.load_run(ref) for ref in leaderboard.expand(args.runs)], args.label)
    except load.RunError as e:
        raise UsageError(str(e)) from None
    _write_or_print(leaderboard.render(leaderboard.build(runs, here), args.format), args.output)
    return 0


def cmd_export(args):
    from evaltasks.report import export

    if args.dest == "local":
        config = {"output_dir": args.output_dir}
    elif args.dest == "wandb":
        config = {"project": args.project, "entity": args.entity, "group": args.group, "name": args.run_name,
                  "tags": args.tag, "description": args.description}
    else:
        tags = {}
        for tag in args.tag:
            key, sep, value = tag.partition("=")
            if not sep or not key:
                raise UsageError(f"--tag {tag!r}: expected KEY=VALUE")
            tags[key] = value
        config = {"tracking_uri": args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"),
                  "experiment_name": args.experiment_name, "run_name": args.run_name, "tags": tags,
                  "description": args.description}
    try:
        for line in export.export(args.runs, args.dest, config):
            print(f"exported: {line}")
    except export.ExportError as e:
        raise UsageError(str(e)) from None
    return 0


def add_report_commands(sub):
    from evaltasks.report.compare import FLIPS_SHOWN, MDE_THRESHOLD
    from evaltasks.report.summary import FORMATS

    report = sub.add_parser("report", help="a finished run's summary: each metric with its 95%% interval")
    report.add_argument("run", help="an output dir, or an invocation (or job) id")
    report.add_argument("--format", choices=FORMATS, default="md")
    report.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser("compare", help="compare runs with the first (paired tests per task; flips)")
    compare.add_argument("runs", nargs="+", metavar="RUN",
                         help="output dirs or invocation ids; the first is the baseline (at least two)")
    compare.add_argument("--format", choices=("md", "json", "html"), default="md")
    compare.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    compare.add_argument("--label", action="append", default=[], metavar="NAME",
                         help="what to call each run, once per run in order (default: its model)")
    compare.add_argument("--fail-on-regression", action="store_true",
                         help="exit 1 when some task is significantly worse than in the baseline")
    compare.add_argument("--mde-threshold", type=float, default=MDE_THRESHOLD, metavar="D",
                         help="call a task 'underpowered' when it could not detect a difference of D "
                              f"with 80%% power (default {MDE_THRESHOLD})")
    compare.add_argument("--flips", type=_flips_shown, default=FLIPS_SHOWN, metavar="all|N",
                         help=f"flips listed per task in markdown (default {FLIPS_SHOWN}; "
                              "the counts are always given; json and html have every flip)")
    compare.set_defaults(func=cmd_compare)

    board = sub.add_parser("leaderboard", help="one table of models × tasks across runs, each score with its "
                                               "95%% interval; runs that measured something else are marked")
    board.add_argument("runs", nargs="+", metavar="RUN",
                       help="output dirs, invocation ids, or glob patterns such as 'results/*'")
    board.add_argument("--format", choices=FORMATS, default="md")
    board.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    board.add_argument("--label", action="append", default=[], metavar="NAME",
                       help="what to call each run, once per run in order (default: its model)")
    board.set_defaults(func=cmd_leaderboard)

    export = sub.add_parser("export", help="export runs: local (NeMo Evaluator's processed_results.json "
                                           "and CSV) or mlflow")
    export.add_argument("runs", nargs="+", metavar="RUN", help="output dirs or invocation ids")
    export.add_argument("--dest", required=True, choices=("local", "mlflow", "wandb"))
    export.add_argument("--output-dir", default="evaltasks-results", help="local: where to write")
    export.add_argument("--tracking-uri", help="mlflow: the tracking server (else $MLFLOW_TRACKING_URI)")
    export.add_argument("--experiment-name", default="evaltasks", help="mlflow: experiment (default evaltasks)")
    export.add_argument("--run-name", help="mlflow: run name (default <model>-<output dir name>); "
                                           "wandb: every run's name (default eval-<invocation>-<task>)")
    export.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                        help="mlflow: a tag KEY=VALUE; wandb: a tag (repeatable)")
    export.add_argument("--description", help="mlflow, wandb: the run's description")
    export.add_argument("--project", help="wandb: the project (default evaltasks)")
    export.add_argument("--entity", help="wandb: the team or user (default: the key's own)")
    export.add_argument("--group", help="wandb: the runs' group (default: the invocation id)")
    export.set_defaults(func=cmd_export)


# -- parser ---------------------------------------------------------------
def parser():
    # The whole module docstring is the help text, laid out as written.
    p = _Parser(prog="evaltasks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"evaltasks {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the evaluations of a config (only those not up to date)")
    run.add_argument("--config", help="config YAML file")
    run.add_argument("--config-dir", help="folder holding configs (with --config-name)")
    run.add_argument("--config-name", help="config name in --config-dir, without .yaml")
    run.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                     help="set a config value, e.g. -o target.api_endpoint.url=http://...")
    run.add_argument("--dry-run", action="store_true",
                     help="say what would run and why (or why a task cannot run here), with the command "
                          "(docker run, the process, or sbatch); start and write nothing, need no secret")
    run.add_argument("-n", "--jobs", type=int, metavar="N",
                     help="tasks to run at once (default: all, at most 16; 1 with execution.mode: sequential)")
    run.add_argument("-t", "--task", action="append", default=[], metavar="ID",
                     help="run only this task (repeatable)")
    run.add_argument("--continue", dest="continue_", action="store_true",
                     help="keep running other tasks after one fails, or when one cannot run here "
                          "(its data or key variable missing)")
    run.add_argument("--force", action="store_true",
                     help="rerun the selected tasks even if up to date, and send every request to the "
                          "endpoint again (new replies replace the cached ones); without it, a run "
                          "answers every request it has a cached reply for")
    run.add_argument("--confirm-run-unsafe-code", action="store_true",
                     help="let benchmarks that execute model-written code (humaneval) run outside a "
                          "container (runtime: process, Slurm); as execution.confirm_run_unsafe_code: true")
    run.add_argument("--skip-preflight", action="store_true",
                     help="do not send the one test request per endpoint before starting")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="state of an invocation or job (a unique id prefix will do)")
    status.add_argument("id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    kill = sub.add_parser("kill", help="stop an invocation's or job's containers, processes or Slurm jobs "
                               "(one that ended: say how it ended)")
    kill.add_argument("id")
    kill.set_defaults(func=cmd_kill)

    logs = sub.add_parser("logs", help="print a job's own log (<task>/logs/<job id>.log)")
    logs.add_argument("id")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    logs.add_argument("--server", action="store_true",
                      help="the run's model server log instead (<output_dir>/deployment/logs/server.log)")
    logs.set_defaults(func=cmd_logs)

    rep = sub.add_parser("reproduce", help="write a config that reruns exactly the task behind a results.json "
                                           "or job id, and say what it cannot pin",
                         description="Write a config that reruns exactly the task behind a results.json: its "
                                     "benchmark, id and output dir, params, endpoint and adapter settings. Its run "
                                     "is up to date at once (`doit forget` or --force runs it again). Comment lines "
                                     "name the code and data that produced the results; stderr says, one "
                                     "`cannot pin:` line each, what a config cannot fix (the model behind a name, "
                                     "a benchmark version, harness code or data that differs here now).")
    rep.add_argument("what", metavar="RESULTS_JSON|JOB_ID",
                     help="a task's results.json, or a job id (any unique prefix; an invocation id if it has one job)")
    rep.add_argument("-o", "--output", metavar="FILE", help="write the config here (default: print it)")
    rep.set_defaults(func=cmd_reproduce)

    ls = sub.add_parser("ls", help="list the benchmark catalog (tasks) or past runs (runs)")
    ls.add_argument("what", nargs="?", choices=["tasks", "runs"],
                    help="tasks (the catalog) or runs (the history); without it, both")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--config", help="tasks: also list the task files in this config's evaluation.task_dirs")
    ls.add_argument("--limit", type=int, default=20, help="runs: at most N (default 20)")
    ls.add_argument("--since", help="runs: only those started within, e.g. 1d, 12h, 30m")
    ls.set_defaults(func=cmd_ls)

    check = sub.add_parser("check-task", help="show the first prompts and targets of a task file, "
                                              "calling no endpoint")
    check.add_argument("file", help="a task YAML in lm-evaluation-harness's format")
    check.add_argument("-n", type=int, default=3, metavar="N", help="rows to show (default 3)")
    check.set_defaults(func=cmd_check_task)
    add_report_commands(sub)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:      # `evaltasks ls runs | head`
        sys.stderr.close()
        return 0
