"""The benchmark catalog: names, aliases, datasets and default parameters.

Plain data, so the launcher can validate task names and list the catalog without
importing any benchmark's code. Each benchmark's behaviour lives in its own
module with the same small protocol (see ``gsm8k.py``):

    load(data_dir) -> list[dict]           items, each with a ``gold`` answer;
                                           load(data_dir, subset) for a Benchmark with a subset
    prompt(item, params) -> list[dict]     chat messages
    extract(text) -> str | None            the model's final answer
    score(extracted, item) -> float | dict 1.0 right, 0.0 wrong; a dict holds ``score``
                                           and extra fields kept in samples.jsonl
    expand(items, params) -> list[dict]    optional: repeats/samples per item, after
                                           limit_samples; default: the items as they are
    metrics(samples, params) -> dict       optional: {name: {value, stderr, n}};
                                           default is ``accuracy`` (mean score)

``params`` is the task's ``config.params`` (with ``seed``) and ``params["extra"]``
the benchmark's own options, defaults from ``Benchmark.extra``.

``prompt``, ``extract`` and ``score`` run in ``parallelism`` threads at once. A
module imports and builds what they use (tokenizers, models, tables) when it is
imported, which the harness does once, before any thread starts; nothing is
imported or built lazily on first use.

A benchmark's code is its module plus any helper module named after it
(``<module>_*.py``, e.g. ``ifeval_instructions.py``): editing one of them reruns
that benchmark's tasks only (``owns``). Code shared by several benchmarks lives
outside this folder (``harness/``), where an edit reruns every task.

``Benchmark.version`` names the prompt template, answer extraction and scoring
of a benchmark, as lm-eval's ``metadata.version`` does. Bump it in the same
change as any edit that can change a score: a new prompt wording, an extraction
or scoring rule, a different default in ``defaults``/``extra``. It is part of
each task's fingerprint (a bump reruns the task) and of results.json's
``provenance``, so scores of two versions are never taken for one. Refactors
that change no sample's prompt, extraction or score keep the version.
"""

import difflib
import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DataFile:
    name: str            # file name inside the benchmark's data folder
    url: str             # canonical source, used when EVALTASKS_DATA_DIR is not set
    sha256: str = None   # of the file as stored; None when no fixed copy is known
    member: str = None   # the file's path inside ``url`` when that is a zip archive
    gated: str = None    # how to get access, when the source needs a login


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    description: str
    size: int                      # items in the full dataset
    files: tuple
    aliases: tuple = ()
    endpoint_type: str = "chat"
    defaults: dict = field(default_factory=dict)   # benchmark-specific config.params defaults
    extra: dict = field(default_factory=dict)      # config.params.extra options and defaults
    choices: dict = field(default_factory=dict)    # allowed values of string extra options
    ranges: dict = field(default_factory=dict)     # (min, max or None) of numeric extra options
    runs_model_code: bool = False                  # executes what the model wrote (sandbox.py)
    version: int = 1               # of prompt + extraction + scoring; the bump rule is above
    reference: str = None          # the implementation whose prompt, extraction and scoring it follows
    folder: str = None             # its data folder, when several benchmarks share one (aime)
    subset: str = None             # the part of a shared folder it reads, handed to ``load``

    @property
    def dataset(self):
        return self.folder or self.name

    def load_module(self):
        return importlib.import_module(f"{__name__}.{self.module}")


CATALOG = {
    b.name: b
    for b in [
        Benchmark(
            name="gsm8k",
            module="gsm8k",
            description="Grade-school math word problems; chain of thought, final numeric answer.",
            size=1319,
            aliases=("lm-evaluation-harness.gsm8k",),
            files=(
                DataFile(
                    "test.jsonl",
                    "https://raw.githubusercontent.com/openai/grade-school-math/"
                    "3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data/test.jsonl",
                    "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
                ),
            ),
            defaults={"max_new_tokens": 1024},
            extra={"prompt_style": "answer"},
            choices={"prompt_style": ("answer", "lm-eval")},
        ),
        Benchmark(
            name="mmlu_pro",
            module="mmlu_pro",
            description="MMLU-Pro: 12,032 ten-option multiple-choice questions in 14 subjects.",
            size=12032,
            aliases=("simple_evals.mmlu_pro",),
            files=tuple(
                DataFile(
                    name,
                    "https://github.com/TIGER-AI-Lab/MMLU-Pro/raw/"
                    "6a02be7dddd235d01fb275c7039110627303d3e9/local_data/local_250825.zip",
                    sha,
                    member=f"local_250825/{member}",
                )
                for name, member, sha in (
                    ("test.json", "mmlu_pro_test_data.json",
                     "0677be61d76c064d9fab83854560a80c5f158e4f2e27619da2c2dd1869315398"),
                    ("validation.json", "mmlu_pro_val_data.json",
                     "ed996ef5638822245d2c134bf901df1a3789548bb0fdfa9d36f60a904e07419c"),
                )
            ),
            defaults={"max_new_tokens": 4096},
            extra={"num_fewshot": 0},
            ranges={"num_fewshot": (0, 5)},
        ),
        *(
            Benchmark(
                name=f"gpqa_{subset}",
                module="gpqa",
                description=f"GPQA {subset.capitalize()}: {size} graduate-level science questions, "
                            "four shuffled choices.",
                size=size,
                aliases=(f"simple_evals.gpqa_{subset}",),
                reference="openai/simple-evals gpqa_eval.py",
                folder="gpqa",
                subset=subset,
                files=(
                    DataFile(
                        "dataset.zip",
                        "https://github.com/idavidrein/gpqa/raw/"
                        "56686c06f5e19865c153de0fdb11be3890014df7/dataset.zip",
                        "461ae7329f15a3e35f8184d2dac24b990f34fdf12f366ca4062d8e6638cd08dc",
                    ),
                ),
                defaults={"max_new_tokens": 4096},
                extra={"n_repeats": 1},
                ranges={"n_repeats": (1, None)},
                version=2,
            )
            for subset, size in (("main", 448), ("extended", 546), ("diamond", 198))
        ),
        Benchmark(
            name="ifeval",
            module="ifeval",
            description="IFEval: 541 prompts with verifiable instructions, strict and loose accuracy.",
            size=541,
            aliases=("lm-evaluation-harness.ifeval",),
            files=(
                DataFile(
                    "input_data.jsonl",
                    "https://raw.githubusercontent.com/google-research/google-research/"
                    "26d8ccdab6fec61b5c83ad6327ea8bda9e580288/instruction_following_eval/data/input_data.jsonl",
                    "67ffeee0fcb87c317c5b08a2de85557b4a7e96ada6178aa645b4954fe4b53d49",
                ),
            ),
            defaults={"max_new_tokens": 1280},
        ),
        Benchmark(
            name="humaneval",
            module="humaneval",
            description="HumanEval: 164 Python functions to complete, scored by running unit tests.",
            size=164,
            aliases=("simple_evals.humaneval",),
            files=(
                DataFile(
                    "HumanEval.jsonl.gz",
                    "https://github.com/openai/human-eval/raw/"
                    "6d43fb980f9fee3c892a914eda09951f772ad10d/data/HumanEval.jsonl.gz",
                    "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
                ),
            ),
            defaults={"max_new_tokens": 1024},
            extra={"n_samples": 1, "timeout": 3.0},
            ranges={"n_samples": (1, None), "timeout": (0.1, None)},
            runs_model_code=True,
        ),
        Benchmark(
            name="math500",
            module="math500",
            description="MATH-500: 500 competition math problems, LaTeX answers checked for equivalence.",
            size=500,
            aliases=("simple_evals.math_test_500",),
            files=(
                DataFile(
                    "test.jsonl",
                    "https://huggingface.co/datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl",
                ),
            ),
            defaults={"max_new_tokens": 4096},
        ),
    ]
}


def owns(module, name):
    """Whether the module ``name`` of this folder is part of benchmark ``module``'s code."""
    return name == module or name.startswith(f"{module}_")


# Tasks defined in a file (benchmarks/filetask.py): one entry for all of them,
# not in the catalog; config.resolve_task gives it to a task whose name is a file.
FILE_TASK = Benchmark(
    name="filetask",
    module="filetask",
    description="A task defined in a YAML file, in lm-evaluation-harness's format.",
    size=0,
    files=(),
)


class UnknownBenchmark(ValueError):
    pass


def _all_names():
    names = {}
    for bench in CATALOG.values():
        names[bench.name] = bench
        for alias in bench.aliases:
            names[alias] = bench
    return names


def executes_model_code(name):
    """Whether the benchmark ``name`` means runs model-written code: outside a
    container that happens on the user's own machine."""
    return resolve(name).runs_model_code


def resolve(name):
    """The benchmark a task name means: exact name or alias first, then a unique
    match on the unqualified part (``harness.name`` → ``name``)."""
    if name == FILE_TASK.name:
        return FILE_TASK
    names = _all_names()
    if name in names:
        return names[name]
    short = name.rsplit(".", 1)[-1]
    matches = {b.name: b for n, b in names.items() if n.rsplit(".", 1)[-1] == short}
    if len(matches) == 1:
        return next(iter(matches.values()))
    if len(matches) > 1:
        raise UnknownBenchmark(f"task name '{name}' is ambiguous: {', '.join(sorted(matches))}")
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownBenchmark(
        f"unknown task '{name}'{hint} (available: {', '.join(sorted(CATALOG))})")
