"""Tests of evaltasks.harness, run on the host: client, cache, replies, sandbox, secrets, task files."""
