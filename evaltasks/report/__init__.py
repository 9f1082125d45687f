"""Reports of finished runs (summary, compare, leaderboard, cost, exports); they never start a run and import nothing from cli or pipeline."""
