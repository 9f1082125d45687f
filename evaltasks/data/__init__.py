"""Data on the host: benchmark datasets (local copy or canonical download) and task files staged for a run."""
