"""Tests of evaltasks.executors.process: the harness venv and child processes."""
