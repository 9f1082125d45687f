"""evaltasks: benchmark an OpenAI-compatible endpoint, one Docker container per task, driven by doit.

Layers, top-down: ``config`` (YAML → validated dict) → ``plan`` (doit task dicts)
→ ``container`` (one harness container per task) → ``harness`` (runs inside the
container: data, prompts, requests, scoring, results.json).
"""

__version__ = "0.1.0"
