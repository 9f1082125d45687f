"""Whole runs under runtime: process, and the same config under both runtimes."""
