"""Tests of evaltasks.cli: the commands, their help and their messages."""
