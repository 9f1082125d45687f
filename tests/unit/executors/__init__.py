"""Tests of evaltasks.executors, one folder per runtime."""
