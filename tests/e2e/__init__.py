"""Whole runs, config → doit → executor → harness → results, on real containers, processes, clusters and servers."""
