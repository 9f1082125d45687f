"""One run, top-down: open a session from a config, plan doit tasks, run them through an executor, print and record what happened."""
