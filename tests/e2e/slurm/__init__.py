"""Whole runs under execution: slurm, on one node and on a cluster of containers."""
