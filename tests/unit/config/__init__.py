"""Tests of evaltasks.config: composing, overrides, interpolation, validation, the examples."""
