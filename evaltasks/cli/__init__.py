"""The command line, the top layer that nothing imports: one module per command group; each parses, calls the pipeline or a report, and prints."""
