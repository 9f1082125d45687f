"""The defaults of every task's ``config.params``, apart from how they are
applied (config/tasks.py) because ``evaltasks ls tasks`` shows them too and
needs nothing else of the config machinery."""

# Applied under every task's config.params; a benchmark's own defaults and then
# evaluation/task overrides take precedence, in that order.
DEFAULT_PARAMS = {
    "limit_samples": None,
    "temperature": 0.0,
    "top_p": None,
    "max_new_tokens": None,
    "parallelism": 8,
    "request_timeout": 120,
    "max_retries": 5,
    "seed": None,        # sent to the endpoint when set; benchmarks that shuffle use it too
    "allowed_failure_rate": 0.0,   # fraction of samples that may fail for good without failing the task
}
