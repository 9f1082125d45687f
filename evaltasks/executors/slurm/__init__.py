"""execution: slurm: each task as a Slurm batch job."""
