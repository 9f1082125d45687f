"""`evaltasks check-task FILE`: the first prompts and targets a task file makes,
rendered by the harness as a run would, sending nothing."""

from evaltasks.cli.usage import UsageError


def cmd_check_task(args):
    """Render the first prompts and targets of a task file, sending nothing."""
    from evaltasks.data import taskfiles
    from evaltasks.harness.benchmarks.filetask import FileTask
    from evaltasks.harness.datasets import DatasetError

    try:
        task_file = taskfiles.load(args.file)
        folder = taskfiles.stage(task_file, log=lambda m: None)
        task = FileTask({"task_file": taskfiles.harness_view(task_file),
                         "params": {"parallelism": 1, "request_timeout": 1, "max_retries": 0}})
        rows = task.load(str(folder))
        items = task.expand(rows[:args.n], {})
    except (taskfiles.TaskFileProblem, DatasetError) as e:
        raise UsageError(str(e)) from None
    except Exception as e:      # a download that failed: one line all the same
        raise UsageError(f"{args.file}: {e}") from None
    spec = task.spec
    print(f"{spec['task']} ({task_file['path']}): {len(rows)} rows in split {spec['test_split']}, "
          f"{spec['num_fewshot']}-shot; metrics: {', '.join(key for _, _, key in task.keys)}")
    for n, item in enumerate(items[:args.n], 1):
        print(f"\n--- row {n}: prompt (one user message) ---\n{item['prompt_text']}")
        golds = item["gold"][0] if len(item["gold"]) == 1 else item["gold"]
        choices = f"  (choices: {item['choices']})" if item["choices"] else ""
        print(f"--- row {n}: target ---\n{golds}{choices}")
    return 0
