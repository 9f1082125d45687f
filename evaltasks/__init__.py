"""evaltasks: benchmark an OpenAI-compatible endpoint; each evaluation a doit task whose
harness runs in a Docker container, a plain process or a Slurm batch job.

Layers, top-down (README "How it is built"; tests/tooling/test_layers.py checks them):
``cli`` (parse, call, print) → ``pipeline`` (one run: session → plan → doit → actions →
console) → ``executors``, ``deploy``, ``report`` → ``state``, ``config``, ``data`` →
``harness`` (runs where the task runs; imports nothing from the launcher).
"""

__version__ = "0.1.0"
