"""Tests of evaltasks.executors.docker."""
