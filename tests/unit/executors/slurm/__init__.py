"""Tests of evaltasks.executors.slurm: the scheduler commands on a real cluster."""
