"""State kept across runs: the run history (invocations and their jobs) in SQLite."""
