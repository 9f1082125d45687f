"""The report commands' formats and defaults, in a module of their own: the CLI
builds its parser (for every command, `run` included) from them, and importing
the report code for that (statistics, fractions, decimal) cost every
`evaltasks run` ~15 ms."""

FORMATS = ("md", "csv", "json", "html")     # summary, `report` and `leaderboard`
MDE_THRESHOLD = 0.05    # `compare`: a task that could not detect this difference is "underpowered"
# Flips a terminal shows per task by default: enough to see what changed; a
# task with hundreds of flips would bury the table (--flips all shows them).
FLIPS_SHOWN = 3
