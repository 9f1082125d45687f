"""Tests of evaltasks.deploy: deployments, server command lines and a real server's lifecycle."""
