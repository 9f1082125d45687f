"""Config: read YAML, compose defaults groups, apply overrides, validate, and resolve each task. Knows nothing of the pipeline, executors or the command line."""
