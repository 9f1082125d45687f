"""How one task's harness runs (a Docker container, a plain process, a Slurm batch job) behind one interface (``base``); imports nothing from cli or pipeline."""
