"""One run, start to end: ``session.open`` (the one entry path of ``evaltasks run`` and dodo.py) → plan → doit → actions through an executor → console, history and summary."""
