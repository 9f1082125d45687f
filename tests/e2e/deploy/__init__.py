"""Whole runs with a deployment: one model server per run, and the real llama.cpp default."""
