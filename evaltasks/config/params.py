"""The defaults of every task's ``config.params``, apart from how they are
applied (config/tasks.py) because ``evaltasks ls tasks`` shows them too and
needs nothing else of the config machinery; and which params change how a task
runs but not what it measures (the fingerprint and the reports leave them out)."""

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

# Params that change how a task runs but not what it measures: the fingerprint
# (pipeline/freshness.py) leaves them out, so editing them does not make a task
# out of date, and reports (report/summary.py) do not list them among a run's settings.
RUN_ONLY_PARAMS = ("parallelism", "request_timeout", "max_retries")
# Adapter settings of the same kind: logging and the response cache.
RUN_ONLY_ADAPTER = ("use_request_logging", "max_logged_requests", "use_response_logging",
                    "max_logged_responses", "use_caching", "caching_dir")
