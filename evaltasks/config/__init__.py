"""The config: YAML composed, overridden, interpolated and validated into typed sections and one TaskSpec per task; imports nothing from pipeline, cli, executors, state or report."""
