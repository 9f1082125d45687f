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
import sys

from evaltasks import __version__
from evaltasks.cli.check_task import cmd_check_task
from evaltasks.cli.jobs import cmd_kill, cmd_logs, cmd_status
from evaltasks.cli.ls import cmd_ls
from evaltasks.cli.results import (cmd_compare, cmd_export, cmd_leaderboard, cmd_report, cmd_reproduce,
                                   flips_shown)
from evaltasks.cli.run import cmd_run
from evaltasks.cli.usage import UsageError
from evaltasks.pipeline import shutdown

# The module docstring above is `evaltasks --help`'s text; each command lives in
# its own module (run, jobs, ls, results, check_task), this one parses and dispatches.


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line and exit 2, like every other usage error.
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def add_report_commands(sub):
    from evaltasks.report.options import FLIPS_SHOWN, FORMATS, MDE_THRESHOLD

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
    compare.add_argument("--flips", type=flips_shown, default=FLIPS_SHOWN, metavar="all|N",
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
    shutdown.collect_nothing_at_exit()      # the `evaltasks` command's process ends with it
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
