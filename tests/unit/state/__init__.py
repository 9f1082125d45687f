"""Tests of evaltasks.state: the run history."""
