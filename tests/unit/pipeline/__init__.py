"""Tests of evaltasks.pipeline: preflight, task selection, provenance and reproduce."""
