"""The benchmark catalog: names, aliases, datasets and default parameters.

Plain data, so the launcher can validate task names and list the catalog without
importing any benchmark's code. Each benchmark's behaviour lives in its own
module with the same small protocol (see ``gsm8k.py``; as typing Protocols,
checked for every entry by a test, in ``harness/contract.py``):

    load(data_dir) -> list[dict]           items, each with a ``gold`` answer;
                                           load(data_dir, subset) for a Benchmark with a subset
    prompt(item, params) -> list[dict]     chat messages
    extract(text) -> str | None            the model's final answer
    score(extracted, item) -> float | dict 1.0 right, 0.0 wrong; a dict holds ``score``
                                           and extra fields kept in samples.jsonl
    select(items, params) -> list[dict]    optional: the items the task covers (bbh's
                                           subtasks), before limit_samples
    expand(items, params) -> list[dict]    optional: repeats/samples per item, after
                                           limit_samples; default: the items as they are
    metrics(samples, params) -> dict       optional: {name: {value, stderr, n}} over the
                                           samples.jsonl rows without their texts (prompt,
                                           response, extracted, gold…: a metric reads the
                                           fields ``score`` returned); default is
                                           ``accuracy`` (mean score)
    scoring_waits(params) -> bool          optional: True when ``score`` waits on a model
                                           or program outside the process (a judge)

``params`` is the task's ``config.params`` (with ``seed``) and ``params["extra"]``
the benchmark's own options, defaults from ``Benchmark.extra``.

``prompt``, ``extract`` and ``score`` run on the harness's event loop, one at a
time between the requests in flight; a ``score`` that waits (``scoring_waits``,
or a benchmark that ``runs_model_code``) runs in ``parallelism`` threads at once
instead, so a module must still be safe to use from several threads. A module
imports and builds what they use (tokenizers, models, tables) when it is
imported, which the harness does once, before any sample starts; nothing is
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

import importlib
from dataclasses import dataclass, field


# eq=False (and for Benchmark): compared by identity; dataclass's generated __eq__ and
# __hash__ are two more exec()s at every launcher start.
@dataclass(frozen=True, eq=False)
class DataFile:
    """One file of a benchmark's data: where it comes from and what it must hash to."""
    name: str            # file name inside the benchmark's data folder
    url: str             # canonical source, used when EVALTASKS_DATA_DIR is not set
    sha256: str = None   # of the file as stored; None when no fixed copy is known
    member: str = None   # the file's path inside ``url`` when that is a zip archive
    gated: str = None    # how to get access, when the source needs a login
    hub: "DataFile" = None   # the same rows as a gated Hugging Face file: fetched instead
                             # when the user has a token, and read when it is the one there


@dataclass(frozen=True, eq=False)
class Benchmark:
    """One entry of the catalog: plain data, read without importing the benchmark's module."""
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


# BIG-Bench Hard's 27 tasks: {name: (sha256 of bbh/<name>.json, of cot-prompts/<name>.txt)}
# at the pinned commit of github.com/suzgunmirac/BIG-Bench-Hard.
BBH_COMMIT = "9ee07bd481feebf959a6b59d61ea57bdcf30964d"
BBH_TASKS = {
    "boolean_expressions": ("ea6c754ec005e2d3f2d085d349a740f593b5764f32ea4638ffed4cfc0061b12a",
                           "685affba97425cdf3549d5d313ba876caed2fa7c8a4cf1ea7549faf22179609d"),
    "causal_judgement": ("6e8bca44dd402008ed41c07a3d0a1d5e7b03db7001a7e002fcdf4c60985ea081",
                        "14377e36cccb084b7d0fe73988d08696f7675d712b02d3ae1f5f7f12c77028ea"),
    "date_understanding": ("0148d4ac5fca05b2f82373e5fef7208e15363b9c6079493034d77b3dab496bf5",
                          "a0a13c392f689a1828f5f6ffb9dee3d44483794490da5d92f0e2a723787b1cfb"),
    "disambiguation_qa": ("cf06df9ebf911b883671cb1b35d3fbd1a1c306b19b9e9a012407e596c85fe8c6",
                         "794fd259297972a4c963a5d13a84dc221edde460de27fa5d8fd64299a2001597"),
    "dyck_languages": ("3f9badedf15c2be1ce53d94fdf016299bb30ba231ef087ab9f51a7ed6d0bdc25",
                      "b0836603007ec659ed685458647fb6d7543543304e7aca909b995d0c3aff22b2"),
    "formal_fallacies": ("4c1adb664821157faade1d4153685403afcc02648f3c180a608a18f17f589629",
                        "10c06cc362520e9b8dddfc4861e263ff668d228a52d958dcc69f09f1d224935a"),
    "geometric_shapes": ("07be68a124420caa2ebc0b2c858ad79fc55c5c8806170e496e1e17ebfb11f31c",
                        "f36d9893507eb518d84f388fb677dc0226c74a98873700de0b556548d65d3f76"),
    "hyperbaton": ("b6d7f55c75f5d02f2987a4f3123802dfa093872089a56a334144aae8a7264fdc",
                  "19898af91c35cb26bbdf5fdb6f6fb17e138677250332e2994005625ffb50b261"),
    "logical_deduction_five_objects": ("d2df31394b903b7f0e085d42a69572a092987856eac076799017d70ef266fa8f",
                                      "4ed65246c0c1c4b0b4053d784181892b842bce19cf4358c976f34b1a434ef034"),
    "logical_deduction_seven_objects": ("2896c7e3482eea318dd37bcc370d24ec3cc91e8374c1784287b5dbd38a529e33",
                                       "4ed65246c0c1c4b0b4053d784181892b842bce19cf4358c976f34b1a434ef034"),
    "logical_deduction_three_objects": ("e590fae72e3a6041fbd23bd8ff6b74baf44ca563f6ba40a041c55e7b867c1681",
                                       "4ed65246c0c1c4b0b4053d784181892b842bce19cf4358c976f34b1a434ef034"),
    "movie_recommendation": ("a8b53a87ee21a865b7248e694f388a9b8f7cf6b839b11d44796a2dd3fc088983",
                            "cdf765634713b057091d541b4773dd2c998f81447b0bd8564ae70be4cdf3f5d0"),
    "multistep_arithmetic_two": ("c9d5a6433c9b78256422a15c78463949c8bec8d85607aa28b52d7234ad4a8595",
                                "a546e0b7cde09037bc144ae5c32c9cf78dafdfac929ae76e2051b2dd8f3671ce"),
    "navigate": ("b7944dfd3c81da5c4815bd75b00d6fa3c64140823498e78ed496f4c3d36f7f0d",
                "dc2fd733f1867b8c79685f15b83746064534a94bf73468341c2a9dd335be22fc"),
    "object_counting": ("8acef14dbbdd40d2326ef7755750b6b5fe919fef06276af1bab3f1c297f022ff",
                       "e51ffc03fd713a13a379a6c938a523dfc1c2f384f2a8447bd7a12d4458f18833"),
    "penguins_in_a_table": ("bb87ee449698eee51215e025a453b1bcb2f5e6589c2063b2c79e68b8f0655228",
                           "33be137e76c2a6af0bbacd17a8e7a92801886c0202a45e35ea9c2a88c1f26d51"),
    "reasoning_about_colored_objects": ("0a8850cf95166020fce7a78244026ceedd7ea839302471512b4f8744e85a6a49",
                                       "e4ea02d05b13e8ed9ccc3b0d878bc4df4c5a6fb76c65d39d48d6244f7ff0b9d5"),
    "ruin_names": ("b6f723aef2bafdd4c7bfc3c7e0329c7e8a8279391a609969c8ed76c9319f5f7f",
                  "731446c6c66bb5258677af1417b599a6a5539be6d74a5afc02cf7a716444ea54"),
    "salient_translation_error_detection": ("becf3eb8dd53c821a555ecd5c1334ecd93eb25f980e63be963c518e7138de5da",
                                           "2c8367f75092202cc507fdbfaaf037b1c1eed38e91289084439738367f0785f7"),
    "snarks": ("54a0661fe2de06167645a4965e6bcf963c4ba307e76262a7c750998b0e3d0d0e",
              "35084a2a0b86bc4008ab206b838c0b97dd425897dd72198137c3cefc499c0960"),
    "sports_understanding": ("63ca262858f6176864515cd8cf53cdaa40839ebecc155b726d77930855d167bf",
                            "2058a9bed717a6edb8ca2f815e88851436a4ee14c8b0d504ccf464865c6d0295"),
    "temporal_sequences": ("92a1189faaa84aacc4c405aaa13f13f48c2992eb884772eedb622505252baef5",
                          "3e7ebf1e20abe3e219dc6514dcb7474d82db1b2c66acc733cd30af2e9e0b64b0"),
    "tracking_shuffled_objects_five_objects": ("2063a46a4fb484236ed4310523606543a3e1dd4a4dc34eda65d407910ece25a5",
                                              "2ef54cb2a72052adc3484a76209cb6a6535f194d677e79bcec2e2e71cf3768af"),
    "tracking_shuffled_objects_seven_objects": ("b59fd05b850c37cf57cb514ae1e6975c00b1638ade2291722056b2af3c54084d",
                                               "2ef54cb2a72052adc3484a76209cb6a6535f194d677e79bcec2e2e71cf3768af"),
    "tracking_shuffled_objects_three_objects": ("546cc7bf10c6a01a6a4c17ae28a4966485f21f29fd5d111f37858ec78e354f6b",
                                               "2ef54cb2a72052adc3484a76209cb6a6535f194d677e79bcec2e2e71cf3768af"),
    "web_of_lies": ("3e60323f8514a107fdb4edf35f8832a9171c5a09c0eaa47823559de905e8ab8b",
                   "c8025ca65ab7f0897c243504c863bda043d04b6e873777536743e94023c929d0"),
    "word_sorting": ("2a6132d2c99f00d0d2eb1113ac6b4a918bd969d863c48749210d969713db8d43",
                    "a2cdbcfe23abaa97b9787f7c03dbf49b1cfd0ff9e63197b7884bb5cd5a096ca6"),
}


def aime_entry(year, sha256):
    """AIME <year> I and II (NeMo-Skills' copy at a pinned commit): one module, two catalog entries."""
    return Benchmark(
        name=f"aime_{year}",
        module="aime",
        description=f"AIME {year} I and II: 30 problems, integer answers 0-999 in \\boxed{{}}; n_samples repeats.",
        size=30,
        aliases=(f"simple_evals.aime_{year}_nemo", f"simple_evals.AIME_{year}"),
        reference=f"simple-evals aime_{year}_nemo (nvidia-simple-evals 26.3) prompt and boxed extraction",
        files=(DataFile("test.jsonl", "https://raw.githubusercontent.com/NVIDIA-NeMo/Skills/"
                        f"8b18f3992854bcb668095228a146e214c567b370/nemo_skills/dataset/aime{year % 100}/test.txt",
                        sha256),),
        defaults={"max_new_tokens": 16384},
        extra={"n_samples": 1},
        ranges={"n_samples": (1, None)},
    )


CATALOG = {
    b.name: b
    for b in [
        Benchmark(
            name="gsm8k",
            module="gsm8k",
            description="Grade-school math word problems; chain of thought, final numeric answer.",
            size=1319,
            aliases=("lm-evaluation-harness.gsm8k",),
            reference="lm-evaluation-harness gsm8k (flexible extract); prompt_style lm-eval: its Llama chat CoT",
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
            reference="TIGER-Lab MMLU-Pro evaluate_from_api.py (extraction cascade, k-shot CoT)",
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
                        hub=DataFile(
                            f"gpqa_{subset}.csv",
                            f"https://huggingface.co/datasets/Idavidrein/gpqa/resolve/main/gpqa_{subset}.csv",
                            gated="accept the terms at huggingface.co/datasets/Idavidrein/gpqa, then set HF_TOKEN",
                        ),
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
            name="bbh",
            module="bbh",
            description="BIG-Bench Hard: 6,511 questions in 27 tasks; 3-shot chain of thought.",
            size=6511,
            aliases=("lm-evaluation-harness.bbh_cot_fewshot",),
            reference="lm-evaluation-harness bbh_cot_fewshot",
            files=tuple(
                DataFile(f"{folder}/{task}.{ext}",
                         f"https://raw.githubusercontent.com/suzgunmirac/BIG-Bench-Hard/{BBH_COMMIT}/"
                         f"{folder}/{task}.{ext}", digests[i])
                for task, digests in BBH_TASKS.items()
                for i, (folder, ext) in enumerate((("bbh", "json"), ("cot-prompts", "txt")))
            ),
            defaults={"max_new_tokens": 1024},
            extra={"subtasks": [], "fewshot_as_multiturn": True},
            choices={"subtasks": tuple(BBH_TASKS)},
        ),
        Benchmark(
            name="ifeval",
            module="ifeval",
            description="IFEval: 541 prompts with verifiable instructions, strict and loose accuracy.",
            size=541,
            aliases=("lm-evaluation-harness.ifeval",),
            reference="google-research instruction_following_eval (strict and loose)",
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
            reference="openai/human-eval execution; simple-evals humaneval_eval.py prompt",
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
            name="mbpp",
            module="mbpp",
            description="MBPP: 257 sanitized test problems (or all 500), scored by running their asserts.",
            size=257,
            aliases=("bigcode-evaluation-harness.mbpp",),
            reference="bigcode-evaluation-harness mbpp",
            files=tuple(
                DataFile(name, "https://raw.githubusercontent.com/google-research/google-research/"
                               f"f82046ba5aabbbb427dbfd38a254d26bff08b533/mbpp/{name}", sha)
                for name, sha in (
                    ("sanitized-mbpp.json", "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9"),
                    ("mbpp.jsonl", "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f"),
                )
            ),
            defaults={"max_new_tokens": 2048},
            extra={"split": "sanitized", "n_samples": 1, "timeout": 3.0},
            choices={"split": ("sanitized", "full")},
            ranges={"n_samples": (1, None), "timeout": (0.1, None)},
            runs_model_code=True,
        ),
        Benchmark(
            name="math500",
            module="math500",
            description="MATH-500: 500 competition math problems, LaTeX answers checked for equivalence.",
            size=500,
            aliases=("simple_evals.math_test_500",),
            reference="simple-evals math_eval.py prompt; rule-based equivalence (harness/math_equiv.py)",
            files=(
                DataFile(
                    "test.jsonl",
                    "https://huggingface.co/datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl",
                ),
            ),
            defaults={"max_new_tokens": 4096},
        ),
        Benchmark(
            name="mmlu",
            module="mmlu_test",      # not "mmlu": that would own mmlu_pro.py (``owns``)
            description="MMLU: 14,042 four-option questions in 57 subjects; zero-shot chain of thought.",
            size=14042,
            aliases=("simple_evals.mmlu",),
            reference="simple-evals mmlu_eval.py (nvidia-simple-evals 26.3)",
            files=(DataFile("mmlu.csv", "https://openaipublic.blob.core.windows.net/simple-evals/mmlu.csv"),),
            defaults={"max_new_tokens": 4096},
        ),
        Benchmark(
            name="math",
            module="math_test",
            description="MATH: all 5,000 competition problems of the test set; final answer on an Answer: line.",
            size=5000,
            aliases=("simple_evals.math",),
            reference="simple-evals math_eval.py (split math_test), rule-based equivalence unless scoring: judge",
            files=(DataFile("math_test.csv", "https://openaipublic.blob.core.windows.net/simple-evals/math_test.csv"),),
            defaults={"max_new_tokens": 4096},
            extra={"scoring": "rule", "judge_url": "", "judge_model_id": "", "judge_api_key_name": ""},
            choices={"scoring": ("rule", "judge")},
        ),
        Benchmark(
            name="mgsm",
            module="mgsm",
            description="MGSM: 250 grade-school math problems in 11 languages (2,750); native-language prompts.",
            size=2750,
            aliases=("simple_evals.mgsm",),
            reference="simple-evals mgsm_eval.py (nvidia-simple-evals 26.3), all 11 languages",
            files=tuple(DataFile(f"mgsm_{lang}.tsv", f"https://openaipublic.blob.core.windows.net/simple-evals/mgsm_{lang}.tsv")
                        for lang in ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")),
            defaults={"max_new_tokens": 2048},
        ),
        aime_entry(2024, "e428f83ec735201c9db2a232727f4c20dbce87079ed386b6e3fb7f756d078756"),
        aime_entry(2025, "b672f9c6660b68dd42f5fc705b17405f24eaa9991c98991d63463c6b683468a8"),
    ]
}


def judge_endpoint(extra):
    """The judge model a built-in benchmark asks with ``scoring: judge`` (math),
    from its ``judge_url``, ``judge_model_id`` and ``judge_api_key_name`` options
    (the NAME of the key's variable), as an endpoint; None when it asks none."""
    if (extra or {}).get("scoring") != "judge":
        return None
    return {"url": extra.get("judge_url") or "", "model_id": extra.get("judge_model_id") or "",
            "type": "chat", "api_key_name": extra.get("judge_api_key_name") or None}


def owns(module, name):
    """Whether the module ``name`` of this folder is part of benchmark ``module``'s code."""
    return name == module or name.startswith(f"{module}_")


# Tasks defined in a file (benchmarks/filetask.py): one entry for all of them,
# not in the catalog; config/tasks.resolve_task gives it to a task whose name is a file.
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
    bench = CATALOG.get(name)
    if bench is not None and bench.name == name:     # the usual case, once per planned task
        return bench
    names = _all_names()
    if name in names:
        return names[name]
    short = name.rsplit(".", 1)[-1]
    matches = {b.name: b for n, b in names.items() if n.rsplit(".", 1)[-1] == short}
    if len(matches) == 1:
        return next(iter(matches.values()))
    if len(matches) > 1:
        raise UnknownBenchmark(f"task name '{name}' is ambiguous: {', '.join(sorted(matches))}")
    import difflib      # only for the hint: not on every harness start

    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownBenchmark(
        f"unknown task '{name}'{hint} (available: {', '.join(sorted(CATALOG))})")
