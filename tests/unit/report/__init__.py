"""Tests of evaltasks.report: statistics and compare."""
