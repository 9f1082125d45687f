"""Tests of evaltasks.data: dataset downloads into the cache."""
