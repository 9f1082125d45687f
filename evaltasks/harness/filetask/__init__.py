"""Tasks defined in a YAML file, in lm-evaluation-harness's task format
(generative tasks), over the user's own data.

``spec`` reads and checks the file (the launcher runs it before anything
starts; the harness again on the copy in task.json); ``template`` renders
prompts and targets; ``data`` reads the rows; ``filters``, ``metrics`` and
``judge`` turn a reply into scores. ``benchmarks/filetask.py`` binds them to
the benchmark protocol."""
