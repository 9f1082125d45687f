"""doit entry point: ``doit -n 4 config=examples/my.yaml [key.path=value ...]``.

Every ``name=value`` on the command line besides ``config`` is a config override.
"""

from evaltasks.pipeline.doit_entry import from_doit_command_line

DOIT_CONFIG, task_eval_tasks = from_doit_command_line()
