"""Whole runs under runtime: docker (the default)."""
