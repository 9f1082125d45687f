"""Tests of one package at a time, in a mirror of evaltasks/ (a few run a container or a cluster to check that one piece)."""
