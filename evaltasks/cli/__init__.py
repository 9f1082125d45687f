"""The command line: one module per command group; each parses, calls the pipeline or a report, and prints."""
